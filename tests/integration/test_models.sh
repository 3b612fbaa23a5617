#!/bin/bash
# test_models.sh -- models as the daemon sees them: /health says "loading"
# (503) until every model is loaded, then "ok"; /v1/models lists the
# configured models; a model that fails to load, an engine whose probe
# fails and a missing module each make the daemon exit non-zero with an
# error log line naming the model and the cause.

. tests/integration/lib.sh

# body PATH: the body of one GET.
body() {
    curl -s --max-time 10 "$BASE$1"
}

# start_failing NAME ENV...: starts lmd with ENV and waits (10 s at most)
# for it to exit on its own; sets LMD_STATUS ("running" if it did not).
start_failing() {
    local what=$1
    shift
    : > "$OUT/logs/error.log"
    env "$@" "$LMD_BIN" -p "$OUT" -c "$OUT/lmd.yaml" \
        >>"$OUT/stdout.log" 2>>"$OUT/stderr.log" &
    LMD_PID=$!
    lmd_wait 10
    if [ "$LMD_STATUS" = running ]; then
        fail "$what" "lmd was still running after 10 s (killed)"
        return 1
    fi
    return 0
}

# log_has NEEDLE...: the error log holds one line with every NEEDLE.
log_has() {
    local line n
    while IFS= read -r line; do
        for n in "$@"; do
            case $line in *"$n"*) ;; *) continue 2 ;; esac
        done
        return 0
    done < "$OUT/logs/error.log"
    return 1
}


# ------------------------------------------- loading, then ready, listed

lmd_config <<'YAML'
models:
  - {name: t1, path: /x/model, engine: test}
  - {name: t2, path: /x/other-model, engine: test}
YAML
export LMD_TEST_ENGINE_DELAY_MS=2000
T0=$(date +%s%N)
lmd_start
CODE=$(curl -s -o "$OUT/health1" -w '%{http_code}' --max-time 5 \
       "$BASE/health")
T1=$(date +%s%N)
expect_eq "/health while loading answers 503" "$CODE" 503
expect_eq "/health while loading says {\"status\":\"loading\"}" \
    "$(cat "$OUT/health1")" '{"status":"loading"}'
if [ $(((T1 - T0) / 1000000)) -lt 1500 ]; then
    ok "the first /health came before the 2 s load was over"
else
    fail "the first /health came before the 2 s load was over" \
         "took $(((T1 - T0) / 1000000)) ms"
fi

# Ready after about 2 s; wait 8 s at most.
CODE=
for i in $(seq 1 80); do
    CODE=$(curl -s -o "$OUT/health2" -w '%{http_code}' --max-time 5 \
           "$BASE/health")
    [ "$CODE" = 200 ] && break
    sleep 0.1
done
T2=$(date +%s%N)
expect_eq "/health once loaded answers 200" "$CODE" 200
expect_eq "/health once loaded says {\"status\":\"ok\"}" \
    "$(cat "$OUT/health2")" '{"status":"ok"}'
if [ $(((T2 - T0) / 1000000)) -ge 1900 ]; then
    ok "/health turned 200 only after the 2 s load"
else
    fail "/health turned 200 only after the 2 s load" \
         "after $(((T2 - T0) / 1000000)) ms"
fi
check "the error log says the model is ready" \
    log_has '[notice]' 'model "t2" ready on engine "test"'

MODELS=$(body /v1/models)
IDS=$(printf '%s' "$MODELS" | grep -o '"id":"[^"]*"' | cut -d'"' -f4 \
      | paste -sd' ')
expect_eq "/v1/models lists t1 and t2, in config order" "$IDS" "t1 t2"
case $MODELS in
    '{"object":"list","data":[{"id":"t1","object":"model",'*)
        ok "/v1/models is an OpenAI list of model objects" ;;
    *)  fail "/v1/models is an OpenAI list of model objects" "got $MODELS" ;;
esac
expect_eq "/v1/models/t2 answers 200" "$(http_status /v1/models/t2)" 200
expect_eq "/v1/models/nope answers 404" "$(http_status /v1/models/nope)" 404
lmd_stop
expect_eq "lmd stops with status 0" "$LMD_STATUS" 0
unset LMD_TEST_ENGINE_DELAY_MS


# ------------------------------------------------- a model fails to load

lmd_config <<'YAML'
models:
  - {name: good, path: /x/model, engine: test}
  - {name: broken, path: /x/fail-model, engine: test}
YAML
if start_failing "a model that fails to load stops lmd" \
       LMD_TEST_ENGINE_DELAY_MS=300; then
    check "a model that fails to load: lmd exits non-zero" \
        [ "$LMD_STATUS" != 0 ]
    check "the error log names the model, the file and the tensor" \
        log_has '[error]' 'model "broken"' \
        '/x/fail-model/model.safetensors' 'model.embed_tokens.weight'
fi


# --------------------------------------------------- the probe says no

lmd_config <<'YAML'
models:
  - {name: t1, path: /x/model, engine: test}
YAML
if start_failing "a failing probe stops lmd" LMD_TEST_ENGINE_NO_DEVICE=1
then
    check "engine probe fails: lmd exits non-zero" [ "$LMD_STATUS" != 0 ]
    check "the error log gives the model and the probe's reason" \
        log_has '[error]' 'model "t1"' 'engine "test" cannot run here' \
        'no test device on this machine'
fi


# ------------------------------------------------------ module missing

lmd_config <<'YAML'
models:
  - {name: t1, path: /x/model, engine: missing}
YAML
if start_failing "a missing module stops lmd"; then
    check "engine module missing: lmd exits non-zero" [ "$LMD_STATUS" != 0 ]
    check "the error log names the missing .so" \
        log_has '[error]' 'model "t1"' \
        "$LMD_OBJS/tests/modules/lmd_engine_missing.so\" not found"
fi

finish
