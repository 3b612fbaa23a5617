#!/bin/bash
# test_kv_codec.sh -- kv_cache.codec int8 and int4 through the daemon
# (modules/int8-kv on the cpu engine): three copies of stories260K with
# the same kv_memory, f32, int8 and int4 KV; the start-up log names each
# cache and its block count, and the quantized ones hold more blocks
# (stories260K's head_dim is 8, so each token and head spends 8 bytes on
# its minimum and step next to 8 (int8) or 4 (int4) bytes of numbers:
# 2x and 2.67x the f32 blocks); /metrics reports those counts; greedy
# answers from the int8 cache equal the f32 cache's; a codec whose module
# is missing stops the daemon with the config's file:line:column.
. tests/integration/lib.sh
. tests/integration/lib_model.sh
. tests/integration/lib_api.sh

need_stories
if [ ! -f "$MODULES/lmd_kv_int8.so" ]; then
    skip "$NAME" "$MODULES/lmd_kv_int8.so is not built (make modules)"
    finish
fi

# model NAME CODEC: a models[] entry of stories260K with 4 MB of KV
model() {
    printf '  - name: %s\n    path: %s\n    engine: cpu\n    threads: 1\n' \
        "$1" "$STORIES"
    printf '    kv_cache: {codec: %s, kv_memory: 4m}\n' "$2"
}

lmd_config <<YAML
http:
  listen: ["127.0.0.1:$PORT"]
models:
$(model f32 auto)
$(model q8 int8)
$(model q4 int4)
modules_path: $MODULES
YAML
lmd_start && wait_ready || finish

# blocks NAME: the block count the start-up log gives the model
blocks() {
    sed -n 's/.*model "'"$1"'": weights .*; \([0-9]*\) blocks = .*/\1/p' \
        "$OUT/logs/error.log" 2>/dev/null | head -n 1
}
grep -h "KV\|blocks" "$OUT/logs/error.log" | sed 's/^/# /' | head -n 12
b32=$(blocks f32)
b8=$(blocks q8)
b4=$(blocks q4)
check "the start-up log gives each model's blocks" \
    [ -n "$b32" -a -n "$b8" -a -n "$b4" ]
check "int8 holds 2x the f32 blocks in the same memory ($b8 / $b32)" \
    [ "$((b8 * 10 / b32))" -ge 19 -a "$((b8 * 10 / b32))" -le 21 ]
check "int4 holds about 2.67x ($b4 / $b32)" \
    [ "$((b4 * 100 / b32))" -ge 250 -a "$((b4 * 100 / b32))" -le 280 ]
check "the engine log names the int8 cache" \
    grep -q 'KV int8' "$OUT/logs/error.log"
metrics=$(curl -s "http://127.0.0.1:$PORT/metrics")
expect_eq "/metrics: lmd_kv_blocks_total of the int8 model" \
    "$(printf '%s\n' "$metrics" \
       | sed -n 's/^lmd_kv_blocks_total{model="q8"} \([0-9]*\).*/\1/p')" \
    "$b8"

# greedy answers: the int8 cache answers as the f32 one
ask() {
    curl -s "http://127.0.0.1:$PORT/v1/completions" \
        -H 'Content-Type: application/json' \
        -d "{\"model\": \"$1\", \"prompt\": \"$2\", \"max_tokens\": 16,
             \"temperature\": 0}" \
        | sed -n 's/.*"text":"\([^"]*\)".*/\1/p'
}
for p in "Once upon a time" "Lily and Tom went to the park. They"; do
    a=$(ask f32 "$p")
    b=$(ask q8 "$p")
    check "greedy 16 tokens of \"$p\": int8 KV as f32 KV" \
        [ -n "$a" -a "$a" = "$b" ]
done
lmd_stop
expect_eq "lmd stops with status 0" "$LMD_STATUS" 0

# a codec whose module is not in modules_path
mkdir -p "$OUT/mods"
ln -sf "$(cd "$MODULES" && pwd)/lmd_engine_cpu.so" "$OUT/mods/"
lmd_config <<YAML
models:
$(model q8 int8)
modules_path: $OUT/mods
YAML
"$LMD_BIN" -p "$OUT" -c "$OUT/lmd.yaml" >"$OUT/missing.out" 2>&1
rc=$?
check "a missing int8-kv module: exit 1" [ "$rc" = 1 ]
check "and the error names the config line and the file" \
    grep -q 'lmd.yaml:[0-9]*:[0-9]*: model "q8": kv_cache codec "int8": .*lmd_kv_int8.so' \
    "$OUT/missing.out" "$OUT/logs/error.log"
finish
