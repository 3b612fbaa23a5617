# tests/integration/lib_api.sh -- what the serving suites (test_api_*.sh)
# share, sourced after lib.sh and lib_model.sh: the skips for a missing
# node, openai SDK or stories260K, waiting for the models to load, a slow
# model, and running a Node program whose check lines count as this
# script's.
#
#   need_node [sdk]          # skip (and finish) without node or the SDK
#   need_browser             # ... without Chromium or playwright-core
#   need_stories             # skip without ../shared or the cpu engine
#   slow_model DIR           # a dummy-weight Llama with stories' tokenizer
#   lmd_config <<YAML ... YAML; lmd_start && wait_ready
#   run_node PROGRAM.mjs ARGS...

NODE_DIR=$TOP/tests/node                # package.json + node_modules
API_NODE=$TOP/tests/integration/node    # the programs

# need_node [sdk]: node, and with "sdk" the openai package of tests/node.
need_node() {
    if ! command -v node >/dev/null 2>&1; then
        skip "$NAME" "node is not installed"
        finish
    fi
    if [ "${1:-}" = sdk ] \
        && [ ! -f "$NODE_DIR/node_modules/openai/package.json" ]; then
        skip "$NAME" "the openai SDK is not in $NODE_DIR/node_modules\
 (./configure --install-deps, or npm ci there)"
        finish
    fi
}

# need_browser: Chromium (LMD_CHROMIUM, default /usr/bin/chromium) and the
# playwright-core package of tests/node that drives it.
need_browser() {
    LMD_CHROMIUM=${LMD_CHROMIUM:-/usr/bin/chromium}
    export LMD_CHROMIUM
    if [ ! -x "$LMD_CHROMIUM" ]; then
        skip "$NAME" "$LMD_CHROMIUM is not installed (Debian's chromium;\
 ./configure --install-deps)"
        finish
    fi
    if [ ! -f "$NODE_DIR/node_modules/playwright-core/package.json" ]; then
        skip "$NAME" "playwright-core is not in $NODE_DIR/node_modules\
 (./configure --install-deps, or npm ci there)"
        finish
    fi
}

# need_stories: stories260K under $SHARED and the cpu engine module.
need_stories() {
    if [ ! -f "$STORIES/config.json" ]; then
        skip "$NAME" "$STORIES is absent (set LMD_SHARED to the folder\
 holding models/)"
        finish
    fi
    if ! have_cpu_engine; then
        skip "$NAME" "$MODULES/lmd_engine_cpu.so is not built (make modules)"
        finish
    fi
}

# wait_ready [SECONDS]: /health is 200 (every model loaded), 30 s at most.
wait_ready() {
    local i
    for i in $(seq 1 $((${1:-30} * 10))); do
        [ "$(http_status /health)" = 200 ] && return 0
        kill -0 "$LMD_PID" 2>/dev/null || break
        sleep 0.1
    done
    fail "the models load (/health 200)" \
        "$(tail -n 3 "$OUT/logs/error.log" 2>/dev/null | tr '\n' ' ')"
    return 1
}

# slow_model DIR: stories260K's tokenizer and chat template on a larger
# Llama (hidden 512, 4 layers, 2048 positions) that the config loads with
# load_format: dummy.  stories260K itself runs some 10,000 tokens/s here,
# so its requests end before a test can queue, time out or stop behind
# them; this one runs a few hundred a second, and a request of 1,500
# tokens holds the batch for seconds.
slow_model() {
    local f
    mkdir -p "$1"
    for f in tokenizer.json tokenizer_config.json special_tokens_map.json \
             generation_config.json; do
        cp "$STORIES/$f" "$1/" 2>/dev/null
    done
    cat > "$1/config.json" <<'EOF'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
 "hidden_size": 512, "intermediate_size": 1408, "num_hidden_layers": 4,
 "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 512,
 "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
 "rope_theta": 10000.0, "tie_word_embeddings": true,
 "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"}
EOF
}

# run_node PROGRAM ARGS...: runs tests/integration/node/PROGRAM against
# this script's lmd (2 minutes at most); its "not ok" lines count as
# failures here, and so does a non-zero exit without one.
run_node() {
    local prog=$1 rc n
    shift
    LMD_PORT=$PORT LMD_TEST_NAME=$NAME LMD_PID=${LMD_PID:-} \
    LMD_API_KEY=${API_KEY:-} LMD_NODE_DIR=$NODE_DIR \
        timeout 120 node "$API_NODE/$prog" "$@" \
        >"$OUT/node.out" 2>"$OUT/node.err"
    rc=$?
    cat "$OUT/node.out"
    cat "$OUT/node.out" >> "$OUT/node.log"
    cat "$OUT/node.err" >> "$OUT/node.log"
    n=$(grep -c '^not ok ' "$OUT/node.out")
    FAILS=$((FAILS + n))
    if [ "$rc" -ne 0 ] && [ "$n" -eq 0 ]; then
        fail "node $prog $*: exit 0" \
            "status $rc: $(tail -n 3 "$OUT/node.err" | tr '\n' ' ')"
    fi
}
