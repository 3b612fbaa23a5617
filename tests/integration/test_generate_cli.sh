#!/bin/bash
# test_generate_cli.sh -- `lmd generate` on the cpu engine.
#
# stories260K against transformers (expected.json, ../shared): for each
# case, greedy --max-tokens 64 --json gives exactly the reference prompt
# ids, generated ids and generated text, and the streamed text of one case
# is that text and a newline.  Sampling is reproducible for a seed.  The
# demo model (written here by lmd demo-model) and a bare config.json with
# dummy weights and --prompt-tokens generate too (a real Qwen2.5-0.5B shape
# as well, but not in a debug build).  Errors: usage (exit 2), a missing
# folder, a bad --weights, an unknown engine and a KV codec module that is
# not built (exit 1 and a message naming the thing).
. tests/integration/lib.sh
. tests/integration/lib_model.sh

# gen ARGS...: lmd generate; RC, $OUT/gen.out and $OUT/gen.err.
gen() {
    "$LMD_BIN" generate "$@" >"$OUT/gen.out" 2>"$OUT/gen.err"
    RC=$?
    cat "$OUT/gen.err" >> "$OUT/stderr.log"     # finish looks for ASan
}

# expect_fail NAME RC NEEDLE: the last gen exited RC and its stderr holds
# NEEDLE, on one line.
expect_fail() {
    if [ "$RC" != "$2" ]; then
        fail "$1" "exit $RC, want $2; stderr: $(cat "$OUT/gen.err")"
    elif ! grep -qF -- "$3" "$OUT/gen.err"; then
        fail "$1" "no '$3' in: $(cat "$OUT/gen.err")"
    elif [ "$(wc -l < "$OUT/gen.err")" != 1 ]; then
        fail "$1" "not one line: $(cat "$OUT/gen.err")"
    else
        ok "$1"
    fi
}

# ------------------------------------------------------------ usage errors

gen
expect_fail "no arguments: exit 2" 2 "no model folder"
gen "$OUT/x" --prompt a --bogus
expect_fail "unknown option: exit 2, named" 2 '"--bogus"'
gen "$OUT/x"
expect_fail "no prompt: exit 2" 2 "--prompt"
gen "$OUT/x" --prompt a --prompt-tokens 3
expect_fail "--prompt and --prompt-tokens: exit 2" 2 "one of them"
gen "$OUT/x" --prompt
expect_fail "--prompt without its value: exit 2" 2 "--prompt needs a value"
gen --help
check "--help: exit 0 and usage on stdout" \
    [ "$RC" = 0 -a "$(head -c 19 "$OUT/gen.out")" = "Usage: lmd generate" ]

# -------------------------------------------------------- bad values, exit 1

gen "$OUT/no-such-model" --prompt hi
expect_fail "missing folder: exit 1, named" 1 "no-such-model"
gen "$OUT/x" --prompt hi --weights f8
expect_fail "bad --weights: exit 1, named" 1 "--weights"
gen "$OUT/x" --prompt hi --temperature -1
expect_fail "negative --temperature: exit 1, named" 1 "--temperature"
gen "$OUT/x" --prompt hi --top-p 0
expect_fail "--top-p 0: exit 1, named" 1 "--top-p"
gen "$OUT/x" --prompt hi --max-tokens lots
expect_fail "bad --max-tokens: exit 1, named" 1 "--max-tokens"
mkdir -p "$OUT/empty"
gen "$OUT/empty" --prompt hi
expect_fail "a folder without config.json: exit 1, named" 1 "config.json"

if ! have_cpu_engine; then
    skip "model runs" "$MODULES/lmd_engine_cpu.so is not built (make modules)"
    finish
fi

if ! make_demo "$OUT/demo"; then
    finish
fi
gen "$OUT/demo" --prompt hi --engine nope
expect_fail "unknown engine: exit 1, the missing module named" 1 \
    "lmd_engine_nope.so not found"
# a modules folder with the engine but not the int8-kv module
mkdir -p "$OUT/mods"
ln -sf "$(cd "$MODULES" && pwd)/lmd_engine_cpu.so" "$OUT/mods/"
gen "$OUT/demo" --prompt hi --kv-cache int8 --modules "$OUT/mods"
expect_fail "--kv-cache int8 without its module: exit 1, the file named" \
    1 "kv-cache int8: $OUT/mods/lmd_kv_int8.so not found (the int8-kv"
if [ -f "$MODULES/lmd_kv_int8.so" ]; then
    for codec in int8 int4; do
        gen "$OUT/demo" --prompt hi --max-tokens 8 --kv-cache $codec
        check "--kv-cache $codec: exit 0" [ "$RC" = 0 ]
        check "--kv-cache $codec: the engine says its KV is $codec" \
            grep -q "KV $codec" "$OUT/gen.err"
    done
else
    skip "--kv-cache int8 and int4" "$MODULES/lmd_kv_int8.so is not built"
fi
gen "$OUT/demo" --prompt hi --modules "$OUT/empty"
expect_fail "--modules without the engine: exit 1, the folder named" 1 \
    "$OUT/empty/lmd_engine_cpu.so not found"

# ------------------------------------------------------------ the demo model

gen "$OUT/demo" --prompt "Hello there" --max-tokens 16 --json
check "demo model: exit 0" [ "$RC" = 0 ]
N=$(count_ids "$OUT/gen.out" ids)
check "demo model: 1 to 16 ids" [ "$N" -ge 1 -a "$N" -le 16 ]
jget "$OUT/gen.out" prompt_ids > "$OUT/demo.pids"
"$LMD_BIN" tokenize "$OUT/demo" --json "Hello there" | tr -d ' \n' \
    > "$OUT/demo.want"
same_file "demo model: prompt_ids are the tokenizer's" "$OUT/demo.pids" \
    "$OUT/demo.want"
cp "$OUT/gen.out" "$OUT/demo.1"
gen "$OUT/demo" --prompt "Hello there" --max-tokens 16 --json
jget "$OUT/demo.1" ids > "$OUT/demo.ids1"
jget "$OUT/gen.out" ids > "$OUT/demo.ids2"
same_file "demo model: greedy runs agree" "$OUT/demo.ids1" "$OUT/demo.ids2"
gen "$OUT/demo" --prompt "Hello there" --max-tokens 5 --ignore-eos
LAST=$(tail -c 1 "$OUT/gen.out" | od -An -c | tr -d ' ')
check "demo model: text, one newline at the end" [ "$RC" = 0 -a "$LAST" = '\n' ]

# ------------------------------------------------ dummy weights, no tokenizer

mkdir -p "$OUT/qwen-tiny"
cat > "$OUT/qwen-tiny/config.json" <<'EOF'
{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
 "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
 "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000,
 "max_position_embeddings": 256, "rms_norm_eps": 1e-6,
 "rope_theta": 1000000.0, "tie_word_embeddings": true,
 "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"}
EOF
gen "$OUT/qwen-tiny" --load-format dummy --prompt-tokens 8 --max-tokens 4 \
    --ignore-eos --json
check "dummy weights, --prompt-tokens: exit 0" [ "$RC" = 0 ]
check "dummy weights: 8 prompt ids, 4 ids, empty text" \
    [ "$(count_ids "$OUT/gen.out" prompt_ids)" = 8 \
      -a "$(count_ids "$OUT/gen.out" ids)" = 4 \
      -a "$(jget "$OUT/gen.out" text)" = "" ]
cp "$OUT/gen.out" "$OUT/tiny.1"
gen "$OUT/qwen-tiny" --load-format dummy --prompt-tokens 8 --max-tokens 4 \
    --ignore-eos --json --seed 0
jget "$OUT/tiny.1" ids > "$OUT/tiny.ids1"
jget "$OUT/gen.out" ids > "$OUT/tiny.ids2"
same_file "dummy weights: the same seed, the same ids" "$OUT/tiny.ids1" \
    "$OUT/tiny.ids2"
gen "$OUT/qwen-tiny" --load-format dummy --prompt hi
expect_fail "--prompt on a folder without a tokenizer: exit 1" 1 \
    "no tokenizer.json or tokenizer.model"

if is_debug_build; then
    skip "dummy qwen2.5-0.5b" "too slow under ASan (a debug build)"
elif [ ! -f "$SHARED/models/shapes/qwen2.5-0.5b/config.json" ]; then
    skip "dummy qwen2.5-0.5b" "$SHARED/models/shapes is absent"
else
    gen "$SHARED/models/shapes/qwen2.5-0.5b" --load-format dummy \
        --prompt-tokens 8 --max-tokens 2 --ignore-eos --json
    check "dummy qwen2.5-0.5b shape: exit 0, 2 ids" \
        [ "$RC" = 0 -a "$(count_ids "$OUT/gen.out" ids)" = 2 ]
fi

# ------------------------------------------ stories260K against transformers

if [ ! -f "$STORIES/expected.json" ]; then
    skip "stories260K cases" "$STORIES is absent (set LMD_SHARED to the" \
        "folder holding models/)"
    finish
fi
if [ -z "$JSON" ]; then
    skip "stories260K cases" "neither python3 nor node reads expected.json"
    finish
fi

EXP=$STORIES/expected.json
for k in 0 1 2 3 4 5; do
    prompt=$(jget "$EXP" "cases.$k.prompt") || break
    gen "$STORIES" --prompt "$prompt" --max-tokens 64 --json
    if [ "$RC" != 0 ]; then
        fail "case $k ($prompt): exit 0" "$(cat "$OUT/gen.err")"
        continue
    fi
    jget "$EXP" "cases.$k.input_ids" > "$OUT/want.pids"
    jget "$OUT/gen.out" prompt_ids > "$OUT/got.pids"
    same_file "case $k ($prompt): prompt ids" "$OUT/got.pids" "$OUT/want.pids"
    jget "$EXP" "cases.$k.generated_ids" > "$OUT/want.ids"
    jget "$OUT/gen.out" ids > "$OUT/got.ids"
    same_file "case $k: 64 greedy ids" "$OUT/got.ids" "$OUT/want.ids"
    jget "$EXP" "cases.$k.generated_text" > "$OUT/want.text"
    jget "$OUT/gen.out" text > "$OUT/got.text"
    same_file "case $k: generated text" "$OUT/got.text" "$OUT/want.text"
done

# The streamed text: the generated text and one newline.
jget "$EXP" cases.0.prompt > "$OUT/p0"
gen "$STORIES" --prompt "$(cat "$OUT/p0")" --max-tokens 64
{ jget "$EXP" cases.0.generated_text; echo; } > "$OUT/want.stream"
same_file "streamed text = generated_text + newline" "$OUT/gen.out" \
    "$OUT/want.stream"

# Sampling: the same seed gives the same ids, another seed others.
gen "$STORIES" --prompt "The dog" --max-tokens 48 --temperature 1 \
    --top-p 0.95 --seed 7 --json
jget "$OUT/gen.out" ids > "$OUT/s7a"
gen "$STORIES" --prompt "The dog" --max-tokens 48 --temperature 1 \
    --top-p 0.95 --seed 7 --json
jget "$OUT/gen.out" ids > "$OUT/s7b"
same_file "sampling: seed 7 twice, the same ids" "$OUT/s7a" "$OUT/s7b"
gen "$STORIES" --prompt "The dog" --max-tokens 48 --temperature 1 \
    --top-p 0.95 --seed 8 --json
jget "$OUT/gen.out" ids > "$OUT/s8"
check "sampling: seed 8 gives other ids" differ "$OUT/s7a" "$OUT/s8"

# Weights converted at load still run (values are the engine tests' job).
for w in f32 bf16 int8; do
    gen "$STORIES" --prompt "The dog" --max-tokens 8 --weights "$w" --json
    check "--weights $w: exit 0" [ "$RC" = 0 ]
done

finish
