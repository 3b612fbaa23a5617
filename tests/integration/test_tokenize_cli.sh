#!/bin/bash
# test_tokenize_cli.sh -- `lmd tokenize` against the Hugging Face reference
# values in the shared tokenizer fixtures (cases.jsonl of each family).
#
# For six cases of each family (plain English; blanks, tabs and newlines,
# the text ending in one; mixed CJK; C0 controls; a combining umlaut;
# punctuation runs): the ids of the text read from stdin,
# the ids with --special, and --decode of the ids, byte for byte.  Then,
# once per family, the text given as an argument, --json, --tokens --json,
# ids as a JSON array and as comma-separated arguments, --skip-special;
# and the errors: a missing folder, an id past the vocabulary, usage.
#
# The expected values are read from the JSONL with node (configure
# --install-deps installs it) or python3; the cases skip with a reason when
# the fixtures (LMD_SHARED, default ../shared) or both tools are absent.
. tests/integration/lib.sh

SHARED=${LMD_SHARED:-../shared}
FIX=$SHARED/fixtures/tokenizers
FAMILIES="gpt2 llama2 qwen2 llama3 internlm2 mistral"
CASES="0 16 48 64 80 112"           # line numbers (from 0) in cases.jsonl

tok() {
    "$LMD_BIN" tokenize "$@" 2>>"$OUT/stderr.log"
}

# ------------------------------------------------------------ usage errors
# (no fixture needed)

"$LMD_BIN" tokenize >/dev/null 2>"$OUT/err"
expect_eq "no arguments: exit 2" "$?" 2
"$LMD_BIN" tokenize /nonexistent --bogus x >/dev/null 2>"$OUT/err"
expect_eq "unknown option: exit 2" "$?" 2
check "unknown option: named" grep -q -- '--bogus' "$OUT/err"
"$LMD_BIN" tokenize /nonexistent >/dev/null 2>"$OUT/err"
expect_eq "no TEXT: exit 2" "$?" 2
"$LMD_BIN" tokenize /nonexistent a b >/dev/null 2>"$OUT/err"
expect_eq "two TEXTs: exit 2" "$?" 2
"$LMD_BIN" tokenize /nonexistent --decode --special 1 >/dev/null 2>"$OUT/err"
expect_eq "--special with --decode: exit 2" "$?" 2
"$LMD_BIN" tokenize /nonexistent --skip-special x >/dev/null 2>"$OUT/err"
expect_eq "--skip-special without --decode: exit 2" "$?" 2
"$LMD_BIN" tokenize --help >"$OUT/help" 2>&1
expect_eq "--help: exit 0" "$?" 0
check "--help: usage printed" grep -q '^Usage: lmd tokenize' "$OUT/help"
"$LMD_BIN" tokenize "$OUT/no-such-model" hello >/dev/null 2>"$OUT/err"
expect_eq "missing folder: exit 1" "$?" 1
check "missing folder: named in the message" \
    grep -q "no-such-model" "$OUT/err"

if [ ! -d "$FIX/gpt2" ]; then
    skip "fixture cases" "$FIX is absent (set LMD_SHARED to the folder" \
        "holding fixtures/)"
    finish
fi

if command -v node >/dev/null 2>&1; then
    JSON=node
elif command -v python3 >/dev/null 2>&1; then
    JSON=python3
else
    skip "fixture cases" "neither node nor python3 is installed to read" \
        "cases.jsonl (./configure --install-deps installs nodejs)"
    finish
fi

# extract FAMILY DIR: writes DIR/K.{text,ids,ids_special,decoded,
# decoded_skip,tokens} for each case K in CASES of FAMILY/cases.jsonl;
# texts and decodes raw UTF-8, id lists space-separated, tokens as JSON.
extract() {
    mkdir -p "$2"
    if [ "$JSON" = node ]; then
        node - "$FIX/$1/cases.jsonl" "$2" $CASES <<'JS'
const fs = require('fs');
const [file, dir, ...cases] = process.argv.slice(2);
const lines = fs.readFileSync(file, 'utf8').split('\n').filter(l => l);
for (const k of cases.map(Number).filter(k => k < lines.length)) {
    const c = JSON.parse(lines[k]);
    const w = (ext, s) => fs.writeFileSync(`${dir}/${k}.${ext}`, s);
    w('text', Buffer.from(c.text, 'utf8'));
    w('ids', c.ids.join(' ') + '\n');
    w('ids_special', c.ids_with_special.join(' ') + '\n');
    w('decoded', Buffer.from(c.decoded, 'utf8'));
    w('decoded_skip', Buffer.from(c.decoded_skip_special, 'utf8'));
    w('tokens', JSON.stringify(c.tokens));
}
JS
    else
        python3 - "$FIX/$1/cases.jsonl" "$2" $CASES <<'PY'
import json, sys
path, d = sys.argv[1], sys.argv[2]
lines = [l for l in open(path, encoding='utf-8').read().split('\n') if l]
for k in [int(a) for a in sys.argv[3:] if int(a) < len(lines)]:
    c = json.loads(lines[k])
    def w(ext, b):
        with open('%s/%d.%s' % (d, k, ext), 'wb') as f:
            f.write(b)
    w('text', c['text'].encode('utf-8', 'surrogatepass'))
    w('ids', (' '.join(map(str, c['ids'])) + '\n').encode())
    w('ids_special',
      (' '.join(map(str, c['ids_with_special'])) + '\n').encode())
    w('decoded', c['decoded'].encode('utf-8', 'surrogatepass'))
    w('decoded_skip',
      c['decoded_skip_special'].encode('utf-8', 'surrogatepass'))
    w('tokens', json.dumps(c['tokens'], ensure_ascii=False).encode())
PY
    fi
}

# json_same FILE1 FILE2: both parse as JSON and hold the same value.
json_same() {
    if [ "$JSON" = node ]; then
        node -e '
const fs = require("fs");
const a = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const b = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
process.exit(JSON.stringify(a) === JSON.stringify(b) ? 0 : 1);' "$1" "$2"
    else
        python3 -c '
import json, sys
a = json.load(open(sys.argv[1], encoding="utf-8"))
b = json.load(open(sys.argv[2], encoding="utf-8"))
sys.exit(0 if a == b else 1)' "$1" "$2"
    fi
}

# json_string FILE: the UTF-8 text of FILE as a JSON string.
json_string() {
    if [ "$JSON" = node ]; then
        node -e 'process.stdout.write(JSON.stringify(
            require("fs").readFileSync(process.argv[1], "utf8")))' "$1"
    else
        python3 -c 'import json, sys
print(json.dumps(open(sys.argv[1], encoding="utf-8").read()))' "$1"
    fi
}

for fam in $FAMILIES; do
    dir=$FIX/$fam
    if [ ! -f "$dir/cases.jsonl" ]; then
        skip "$fam" "$dir/cases.jsonl is absent"
        continue
    fi
    ex=$OUT/$fam
    if ! extract "$fam" "$ex" 2>>"$OUT/stderr.log"; then
        fail "$fam: reading cases.jsonl with $JSON" "see $OUT/stderr.log"
        continue
    fi

    for t in "$ex"/*.text; do
        k=$(basename "$t" .text)
        tok "$dir" - <"$t" >"$ex/$k.got"
        expect_eq "$fam case $k: ids" "$(cat "$ex/$k.got")" \
            "$(cat "$ex/$k.ids")"
        tok "$dir" --special - <"$t" >"$ex/$k.got_special"
        expect_eq "$fam case $k: ids with --special" \
            "$(cat "$ex/$k.got_special")" "$(cat "$ex/$k.ids_special")"
        tok "$dir" --decode - <"$ex/$k.ids" >"$ex/$k.got_decoded"
        check "$fam case $k: --decode gives the reference text" \
            cmp -s "$ex/$k.got_decoded" "$ex/$k.decoded"
    done

    # One case with some text in it (case 0 of every family), for the
    # other forms.
    k=0
    text=$(cat "$ex/$k.text")
    expect_eq "$fam: TEXT argument equals stdin" "$(tok "$dir" "$text")" \
        "$(cat "$ex/$k.ids")"
    tok "$dir" --json - <"$ex/$k.text" >"$ex/json"
    check "$fam: --json is the reference ids as a JSON array" \
        json_same "$ex/json" <(tr ' ' ',' <"$ex/$k.ids" | sed 's/.*/[&]/')
    tok "$dir" --tokens --json - <"$ex/$k.text" >"$ex/tokens"
    check "$fam: --tokens --json is the reference tokens" \
        json_same "$ex/tokens" "$ex/$k.tokens"
    sed 's/ /, /g; s/.*/[&]/' "$ex/$k.ids" \
        | tok "$dir" --decode >"$ex/decoded_array"
    check "$fam: --decode reads a JSON array from stdin" \
        cmp -s "$ex/decoded_array" "$ex/$k.decoded"
    # shellcheck disable=SC2046
    tok "$dir" --decode $(tr ' ' ',' <"$ex/$k.ids") >"$ex/decoded_args"
    check "$fam: --decode takes comma-separated ids as arguments" \
        cmp -s "$ex/decoded_args" "$ex/$k.decoded"
    tok "$dir" --decode --skip-special - <"$ex/$k.ids_special" \
        >"$ex/decoded_skip"
    check "$fam: --decode --skip-special drops the special tokens" \
        cmp -s "$ex/decoded_skip" "$ex/$k.decoded_skip"
    tok "$dir" --decode --json - <"$ex/$k.ids" >"$ex/decoded_json"
    json_string "$ex/$k.decoded" >"$ex/decoded_want"
    check "$fam: --decode --json is the text as a JSON string" \
        json_same "$ex/decoded_json" "$ex/decoded_want"
done

if [ -d "$FIX/internlm2" ]; then
    expect_eq "internlm2: the NUL piece 354 in --tokens --json" \
        "$(tok "$FIX/internlm2" --decode --tokens --json 354)" '["\u0000"]'
    expect_eq "internlm2: the NUL piece 354 in --tokens" \
        "$(tok "$FIX/internlm2" --decode --tokens 354 13)" '\x00 <0x0A>'
fi

# Errors with a real tokenizer.
dir=$FIX/gpt2
"$LMD_BIN" tokenize "$dir" --decode 15496 99999999 >/dev/null 2>"$OUT/err"
expect_eq "id past the vocabulary: exit 1" "$?" 1
check "id past the vocabulary: named" grep -q 99999999 "$OUT/err"
"$LMD_BIN" tokenize "$dir" --decode 15496 abc >/dev/null 2>"$OUT/err"
expect_eq "an id that is not a number: exit 1" "$?" 1
"$LMD_BIN" tokenize "$dir" --decode '[1, 2' >/dev/null 2>"$OUT/err"
expect_eq "an unclosed JSON array: exit 1" "$?" 1
expect_eq "empty text: an empty line" "$(tok "$dir" '' | od -c | head -1)" \
    "0000000  \\n"
expect_eq "text after --" "$(tok "$dir" -- -x)" "$(printf '%s' -x \
    | tok "$dir" -)"

finish
