#!/bin/bash
# test_serve_cli.sh -- `lmd serve MODEL_DIR`: one model served without a
# configuration file (lmd-serve(1)).  Bad arguments exit 2 with a usage
# line and name the option at fault; a folder that is not a model exits
# 1.  On the demo model it answers /health, lists the folder's name in
# /v1/models (--name overrides it), protects the API with --api-key but
# not /health or /metrics, writes the access log to stdout, no pid file,
# and stops with status 0 on SIGTERM.  /metrics follows
# http.auth.protect_health in a configured daemon, and its text is
# Prometheus' (Content-Type text/plain; version=0.0.4).
. tests/integration/lib.sh
. tests/integration/lib_model.sh

# serve_rc NAME WANT_RC GREP ARGS...: runs `lmd serve ARGS` expecting an
# exit status and a line of stderr matching GREP.
serve_rc() {
    local what=$1 want=$2 pat=$3 rc
    shift 3
    "$LMD_BIN" serve "$@" >"$OUT/rc.out" 2>"$OUT/rc.err" </dev/null
    rc=$?
    cat "$OUT/rc.err" >> "$OUT/stderr.log"
    if [ "$rc" != "$want" ]; then
        fail "$what" "exit $rc, want $want: $(head -c 300 "$OUT/rc.err")"
    elif ! grep -q -- "$pat" "$OUT/rc.err"; then
        fail "$what" "stderr lacks '$pat': $(head -c 300 "$OUT/rc.err")"
    else
        ok "$what"
    fi
}

# serve_start ARGS...: `lmd serve ARGS` from $OUT in the background, then
# waits (20 s at most) for /health to be 200.
serve_start() {
    (cd "$OUT" && exec "$LMD_BIN" serve "$@" --listen "127.0.0.1:$PORT" \
        $MODOPT >>"$OUT/stdout.log" 2>>"$OUT/stderr.log" </dev/null) &
    LMD_PID=$!
    wait_http || return 1
    for i in $(seq 1 200); do
        [ "$(http_status /health)" = 200 ] && return 0
        sleep 0.1
    done
    fail "lmd serve $*: /health turns 200" "see $OUT/stderr.log"
    return 1
}

# ------------------------------------------------------- usage errors

if ! make_demo "$OUT/models/demo"; then
    finish
fi
mkdir -p "$OUT/empty"

"$LMD_BIN" serve --help >"$OUT/help.out" 2>>"$OUT/stderr.log"
expect_eq "serve --help: exit 0" "$?" 0
check "serve --help prints the usage" grep -q '^Usage: lmd serve MODEL_DIR' \
    "$OUT/help.out"
check "serve --help names every option" grep -q -- '--api-key KEY' \
    "$OUT/help.out"

serve_rc "no model folder: exit 2 with a usage line" 2 \
    '^Usage: lmd serve MODEL_DIR'
serve_rc "an unknown option: exit 2, named" 2 'unknown option "--bogus"' \
    "$OUT/models/demo" --bogus
serve_rc "... with a usage line" 2 '^Usage: lmd serve' \
    "$OUT/models/demo" --bogus
serve_rc "an option without its value: exit 2" 2 '\-\-listen needs a value' \
    "$OUT/models/demo" --listen
serve_rc "two model folders: exit 2" 2 'one model folder only' \
    "$OUT/models/demo" "$OUT/empty"
serve_rc "a bad --threads: exit 2, names --threads" 2 \
    '^lmd serve: --threads: expected an integer from 0 to 4096' \
    "$OUT/models/demo" --threads lots
serve_rc "a bad --listen: exit 2, names --listen" 2 \
    '^lmd serve: --listen: missing port in "8080"' \
    "$OUT/models/demo" --listen 8080
serve_rc "a bad --weights: exit 2, names --weights" 2 \
    '^lmd serve: --weights: expected one of: auto, f32' \
    "$OUT/models/demo" --weights f8
serve_rc "a bad --kv-cache: exit 2, names the codecs" 2 \
    'expected one of: auto, int8, int4' "$OUT/models/demo" --kv-cache int9
serve_rc "a bad --name: exit 2, names --name" 2 '^lmd serve: --name: ' \
    "$OUT/models/demo" --name "a b"
serve_rc "no such folder: exit 1" 1 'No such file or directory' \
    "$OUT/nowhere"
serve_rc "a folder without config.json: exit 1" 1 'is not a model folder' \
    "$OUT/empty"

# A folder whose name is no model id asks for --name.
mkdir -p "$OUT/odd"
cp -R "$OUT/models/demo" "$OUT/odd/my model"
serve_rc "a folder name that is no model id: exit 2, asks for --name" 2 \
    'give one with --name' "$OUT/odd/my model"

# ------------------------------------------------------------- serving

if ! have_cpu_engine; then
    skip "serving the demo" "$MODULES/lmd_engine_cpu.so is not built"
    finish
fi
# The modules are found next to the binary (objs/../modules); a binary
# elsewhere is told where they are.
MODOPT=
if [ ! -f "$(dirname "$LMD_BIN")/../modules/lmd_engine_cpu.so" ]; then
    MODOPT="--modules $MODULES"
fi

# A relative MODEL_DIR, from the current folder; the name is the folder's.
if serve_start models/demo; then
    curl -s --max-time 10 "$BASE/v1/models" > "$OUT/models.json"
    expect_eq "/v1/models lists the folder's name" \
        "$(jget "$OUT/models.json" data.0.id)" demo
    expect_eq "... and only that model" \
        "$(jget "$OUT/models.json" data | grep -o '"id"' | wc -l)" 1
    expect_eq "the chat page is served" "$(http_status /)" 200

    curl -s -D "$OUT/metrics.hdr" --max-time 10 "$BASE/metrics" \
        > "$OUT/metrics.txt"
    check "/metrics: Content-Type text/plain; version=0.0.4" \
        grep -qi '^content-type: text/plain; version=0.0.4' "$OUT/metrics.hdr"
    check "/metrics: a series for the model" \
        grep -q '^lmd_requests_running{model="demo"} 0$' "$OUT/metrics.txt"
    check "/metrics: histograms end with +Inf" grep -q \
        '^lmd_e2e_request_latency_seconds_bucket{model="demo",le="+Inf"} ' \
        "$OUT/metrics.txt"

    check "the access log goes to stdout" \
        grep -q '"GET /v1/models HTTP/1.1" 200' "$OUT/stdout.log"
    check "the error log goes to stderr" \
        grep -q 'model "demo" ready' "$OUT/stderr.log"
    check "no pid file in the current folder" \
        test ! -e "$OUT/logs/lmd.pid" -a ! -e "$OUT/off"
    lmd_stop
    expect_eq "SIGTERM: lmd serve exits 0" "$LMD_STATUS" 0
fi

# --name overrides the folder's name.
if serve_start "$OUT/models/demo" --name stories-test; then
    curl -s --max-time 10 "$BASE/v1/models" > "$OUT/models.json"
    expect_eq "--name: /v1/models lists the given name" \
        "$(jget "$OUT/models.json" data.0.id)" stories-test
    expect_eq "--name: /v1/models/stories-test is 200" \
        "$(http_status /v1/models/stories-test)" 200
    expect_eq "--name: the folder's name is unknown" \
        "$(http_status /v1/models/demo)" 404
    lmd_stop
fi

# --api-key protects the API, not /health or /metrics.
if serve_start models/demo --api-key sk-serve-1 --api-key sk-serve-2; then
    expect_eq "--api-key: /v1/models without the key is 401" \
        "$(http_status /v1/models)" 401
    expect_eq "--api-key: a wrong key is 401" \
        "$(http_status /v1/models -H 'Authorization: Bearer sk-nope')" 401
    expect_eq "--api-key: the key gives 200" \
        "$(http_status /v1/models -H 'Authorization: Bearer sk-serve-1')" 200
    expect_eq "--api-key given twice: both keys work" \
        "$(http_status /v1/models -H 'Authorization: Bearer sk-serve-2')" 200
    expect_eq "--api-key: /health needs no key" "$(http_status /health)" 200
    expect_eq "--api-key: /metrics needs no key" "$(http_status /metrics)" \
        200
    lmd_stop
fi

# --------------------------------------- /metrics and protect_health

# No models: every family is there, without samples.
lmd_config <<YAML
http:
  listen: ["127.0.0.1:$PORT"]
  html: html
  auth: { api_keys: [sk-m], protect_health: true }
YAML
if lmd_start; then
    expect_eq "protect_health: /metrics without a key is 401" \
        "$(http_status /metrics)" 401
    expect_eq "protect_health: /metrics with the key is 200" \
        "$(http_status /metrics -H 'Authorization: Bearer sk-m')" 200
    expect_eq "HEAD /metrics is 200" \
        "$(http_status /metrics -I -H 'Authorization: Bearer sk-m')" 200
    expect_eq "POST /metrics is 405" \
        "$(http_status /metrics -X POST -H 'Authorization: Bearer sk-m')" 405
    curl -s --max-time 10 -H 'Authorization: Bearer sk-m' "$BASE/metrics" \
        > "$OUT/metrics0.txt"
    expect_eq "no models: 16 families, each with a TYPE line" \
        "$(grep -c '^# TYPE lmd_' "$OUT/metrics0.txt")" 16
    expect_eq "no models: no samples" \
        "$(grep -vc '^#' "$OUT/metrics0.txt")" 0
    lmd_stop
fi

finish
