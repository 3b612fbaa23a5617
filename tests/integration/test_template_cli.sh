#!/bin/bash
# test_template_cli.sh -- `lmd template` on the tokenizer fixtures: the
# printed prompt must equal transformers' "rendered" text of every line of
# FAMILY/chat_cases.jsonl byte for byte, with and without
# --add-generation-prompt, reading the messages from a file or stdin; a
# broken --template must fail with status 1 and a line:column message;
# usage mistakes give status 2.
#
# The expected bytes are written by node (or python3) from the jsonl, so
# no shell quoting touches them.  Fixtures: ../shared/fixtures/tokenizers
# ($LMD_SHARED overrides ../shared).

. tests/integration/lib.sh

FIX=${LMD_SHARED:-$TOP/../shared}/fixtures/tokenizers
FAMILIES="llama2 qwen2 llama3 internlm2 mistral"

if [ ! -d "$FIX" ]; then
    skip "fixture families" "no tokenizer fixtures at $FIX (set LMD_SHARED)"
    finish
fi

# split_cases JSONL DIR: DIR/N.messages.json, DIR/N.agp (0 or 1) and
# DIR/N.want (the exact expected bytes) for each line N of JSONL.
if command -v node >/dev/null 2>&1; then
    split_cases() {
        node -e '
            const fs = require("fs");
            const [file, dir] = process.argv.slice(1);
            fs.readFileSync(file, "utf8").split("\n").filter(Boolean)
              .forEach((line, i) => {
                const c = JSON.parse(line);
                fs.writeFileSync(`${dir}/${i}.messages.json`,
                                 JSON.stringify(c.messages));
                fs.writeFileSync(`${dir}/${i}.agp`,
                                 c.add_generation_prompt ? "1" : "0");
                fs.writeFileSync(`${dir}/${i}.want`, c.rendered);
              });' "$1" "$2"
    }
elif command -v python3 >/dev/null 2>&1; then
    split_cases() {
        python3 -c '
import json, sys
file, d = sys.argv[1:]
lines = [l for l in open(file, encoding="utf-8").read().split("\n") if l]
for i, line in enumerate(lines):
    c = json.loads(line)
    open(f"{d}/{i}.messages.json", "w", encoding="utf-8").write(
        json.dumps(c["messages"], ensure_ascii=False))
    open(f"{d}/{i}.agp", "w").write("1" if c["add_generation_prompt"]
                                    else "0")
    open(f"{d}/{i}.want", "wb").write(c["rendered"].encode("utf-8"))
' "$1" "$2"
    }
else
    skip "fixture families" "neither node nor python3 to read the jsonl"
    finish
fi

# Every line of every family: file input, and stdin input.
for fam in $FAMILIES; do
    dir=$OUT/$fam
    mkdir -p "$dir"
    if ! split_cases "$FIX/$fam/chat_cases.jsonl" "$dir"; then
        fail "$fam: reading chat_cases.jsonl"
        continue
    fi
    n=0 good=0 good_stdin=0
    for m in "$dir"/*.messages.json; do
        i=${m##*/}
        i=${i%%.*}
        n=$((n + 1))
        agp=()
        [ "$(cat "$dir/$i.agp")" = 1 ] && agp=(--add-generation-prompt)
        if "$LMD_BIN" template "$FIX/$fam" --messages "$m" "${agp[@]}" \
               > "$dir/$i.got" 2>> "$OUT/stderr.log" \
           && cmp -s "$dir/$i.got" "$dir/$i.want"
        then
            good=$((good + 1))
        fi
        if "$LMD_BIN" template "$FIX/$fam" "${agp[@]}" --messages - \
               < "$m" > "$dir/$i.stdin" 2>> "$OUT/stderr.log" \
           && cmp -s "$dir/$i.stdin" "$dir/$i.want"
        then
            good_stdin=$((good_stdin + 1))
        fi
    done
    expect_eq "$fam: $n chat cases byte-exact (file)" "$good/$n" "$n/$n"
    expect_eq "$fam: $n chat cases byte-exact (stdin)" "$good_stdin/$n" \
        "$n/$n"
done

# --add-generation-prompt changes the output: qwen2 ends with the
# assistant header only with it.
m=$OUT/qwen2/0.messages.json
"$LMD_BIN" template "$FIX/qwen2" --messages "$m" > "$OUT/plain.txt"
"$LMD_BIN" template "$FIX/qwen2" --messages "$m" --add-generation-prompt \
    > "$OUT/agp.txt"
check "--add-generation-prompt appends the assistant header" \
    cmp -s <(cat "$OUT/plain.txt"; printf '<|im_start|>assistant\n') \
    "$OUT/agp.txt"

# A --template of our own, with tools, and the model's bos/eos.
printf '%s' '{{ bos_token }}{% for t in tools %}{{ t.name }};{% endfor %}{{ messages|length }}{{ eos_token }}' \
    > "$OUT/own.jinja"
printf '[{"name": "a"}, {"name": "b"}]' > "$OUT/tools.json"
got=$("$LMD_BIN" template "$FIX/llama2" --messages "$m" \
      --template "$OUT/own.jinja" --tools "$OUT/tools.json")
expect_eq "--template and --tools" "$got" "<s>a;b;2</s>"

# Errors: a template error is status 1 with line:column; usage is 2.
printf '{%% for m in messages %%}\n{{ m | frobnicate }}{%% endfor %%}' \
    > "$OUT/bad.jinja"
"$LMD_BIN" template "$FIX/qwen2" --messages "$m" --template "$OUT/bad.jinja" \
    > "$OUT/bad.out" 2> "$OUT/bad.err"
expect_eq "template error exits 1" "$?" 1
expect_eq "template error names line and column" "$(cat "$OUT/bad.err")" \
    "lmd template: $OUT/bad.jinja: line 2, column 8: unknown filter \
'frobnicate'"
check "template error prints no prompt" test ! -s "$OUT/bad.out"

printf '[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]' \
    > "$OUT/twice.json"
"$LMD_BIN" template "$FIX/llama2" --messages "$OUT/twice.json" \
    > /dev/null 2> "$OUT/raise.err"
expect_eq "raise_exception exits 1" "$?" 1
check "raise_exception message shown" grep -q \
    "line 1, column .*: Conversation roles must alternate user/assistant" \
    "$OUT/raise.err"

printf '{"messages": 1}' > "$OUT/notlist.json"
"$LMD_BIN" template "$FIX/qwen2" --messages "$OUT/notlist.json" \
    > /dev/null 2>&1
expect_eq "messages that are not a list exit 1" "$?" 1

"$LMD_BIN" template "$FIX/qwen2" > /dev/null 2>&1
expect_eq "missing --messages exits 2" "$?" 2
"$LMD_BIN" template --messages "$m" > /dev/null 2>&1
expect_eq "missing MODEL_DIR exits 2" "$?" 2
"$LMD_BIN" template "$FIX/qwen2" --messages "$m" --bogus > /dev/null 2>&1
expect_eq "unknown option exits 2" "$?" 2
"$LMD_BIN" template --help > "$OUT/help.txt"
expect_eq "--help exits 0" "$?" 0
check "--help shows the usage" grep -q "^Usage: lmd template" "$OUT/help.txt"

if grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error:' \
       "$OUT/stderr.log" "$OUT"/*.err 2>/dev/null
then
    fail "no sanitizer reports" "see $OUT"
fi
finish
