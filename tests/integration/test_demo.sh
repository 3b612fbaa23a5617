#!/bin/bash
# test_demo.sh -- the demo model: `lmd demo-model` writes a loadable
# Hugging Face folder, the same bytes for the same seed, other weights for
# another; it replaces an earlier demo but never another folder; its
# tokenizer round-trips text with special tokens.  Served by the daemon on
# the cpu engine, it loads (/health turns 200), /v1/models labels it with
# a description (the OpenAI object otherwise unchanged) and the error log
# says at start-up that it is a random demo model.  The shipped
# conf/lmd.yaml passes -t from the source tree.
. tests/integration/lib.sh
. tests/integration/lib_model.sh

FILES="config.json generation_config.json model.safetensors tokenizer.json
       tokenizer_config.json README.md"

# ------------------------------------------------------------- the writer

if ! make_demo "$OUT/models/demo"; then
    finish
fi
for f in $FILES; do
    check "demo-model writes $f" [ -s "$OUT/models/demo/$f" ]
done
check "config.json says \"lmd_demo\": true" \
    grep -q '"lmd_demo":[[:space:]]*true' "$OUT/models/demo/config.json"
check "no temporary folder is left" \
    [ -z "$(ls -d "$OUT"/models/demo.* 2>/dev/null)" ]

make_demo "$OUT/again"
for f in $FILES; do
    check "seed 0 twice: the same $f" cmp -s "$OUT/models/demo/$f" \
        "$OUT/again/$f"
done
make_demo "$OUT/seed1" --seed 1
check "seed 1: other weights" differ "$OUT/models/demo/model.safetensors" \
    "$OUT/seed1/model.safetensors"

# An earlier demo is replaced; any other folder is left alone.
make_demo "$OUT/again" --seed 1
check "an earlier demo model is replaced" cmp -s \
    "$OUT/seed1/model.safetensors" "$OUT/again/model.safetensors"
mkdir -p "$OUT/mine"
echo precious > "$OUT/mine/notes.txt"
"$LMD_BIN" demo-model "$OUT/mine" >/dev/null 2>"$OUT/mine.err"
RC=$?
cat "$OUT/mine.err" >> "$OUT/stderr.log"
check "a folder that is not a demo: exit 1" [ "$RC" = 1 ]
check "... the message says why" grep -q 'is not an lmd demo model' \
    "$OUT/mine.err"
expect_eq "... and its file is untouched" "$(cat "$OUT/mine/notes.txt")" \
    precious
"$LMD_BIN" demo-model >/dev/null 2>&1
expect_eq "no folder: exit 2" "$?" 2

# The tokenizer: text with special tokens round-trips.
TEXT=$(printf '<|im_start|>user\nHello, the world! caf\xc3\xa9 \xe6\x97\xa5<|im_end|>\n')
IDS=$("$LMD_BIN" tokenize "$OUT/models/demo" "$TEXT" 2>>"$OUT/stderr.log")
BACK=$("$LMD_BIN" tokenize "$OUT/models/demo" --decode $IDS \
       2>>"$OUT/stderr.log")
expect_eq "the tokenizer round-trips text and special tokens" "$BACK" "$TEXT"
case " $IDS " in
    *" 318 "*" 319 "*) ok "<|im_start|> and <|im_end|> are single tokens" ;;
    *) fail "<|im_start|> and <|im_end|> are single tokens" "ids: $IDS" ;;
esac
IDS=$("$LMD_BIN" tokenize "$OUT/models/demo" " the" 2>>"$OUT/stderr.log")
expect_eq "merges: \" the\" is one token" "$IDS" 260

# ------------------------------------------------------------- the daemon

if ! have_cpu_engine; then
    skip "serving the demo" "$MODULES/lmd_engine_cpu.so is not built"
    finish
fi

lmd_config <<YAML
models:
  - {name: demo, path: models/demo, engine: cpu}
modules_path: $MODULES
YAML
lmd_start
CODE=
for i in $(seq 1 100); do
    CODE=$(curl -s -o "$OUT/health" -w '%{http_code}' --max-time 5 \
           "$BASE/health")
    [ "$CODE" = 200 ] && break
    sleep 0.1
done
expect_eq "/health is 200 once the demo is loaded" "$CODE" 200

curl -s --max-time 10 "$BASE/v1/models" > "$OUT/models.json"
expect_eq "/v1/models: the demo's id" "$(jget "$OUT/models.json" data.0.id)" \
    demo
expect_eq "/v1/models: the demo's description" \
    "$(jget "$OUT/models.json" data.0.description)" \
    "random demo model: untrained weights, gibberish output"
expect_eq "/v1/models: still an OpenAI model object" \
    "$(jget "$OUT/models.json" data.0.object) \
$(jget "$OUT/models.json" data.0.owned_by)" "model lmd"
curl -s --max-time 10 "$BASE/v1/models/demo" > "$OUT/model.json"
expect_eq "/v1/models/demo has the description too" \
    "$(jget "$OUT/model.json" description)" \
    "random demo model: untrained weights, gibberish output"
check "the error log has a notice that it is a random demo model" \
    grep -q '\[notice\].*model "demo" is lmd.s random demo model' \
    "$OUT/logs/error.log"
lmd_stop
expect_eq "lmd stops with status 0" "$LMD_STATUS" 0

# The shipped config from the source tree (-p TOP): -t loads its module.
"$LMD_BIN" -t -p "$TOP" -c "$TOP/conf/lmd.yaml" >/dev/null 2>"$OUT/t.err"
expect_eq "lmd -t on the shipped conf/lmd.yaml: exit 0" "$?" 0
cat "$OUT/t.err" >> "$OUT/stderr.log"

finish
