#!/bin/bash
# tests/integration/test_http_keepalive.sh -- persistent connections and
# pipelining (RFC 9112 9.3): 1000 requests over one connection, pipelined
# requests answered in order (HEAD among them), a bad request in a
# pipeline ending the connection after the good ones before it, chunked
# request bodies with extensions, and http.limits.keepalive_requests.

. tests/integration/lib.sh
. tests/integration/lib_http.sh

# ------------------------------------------------------------------ helpers
# lines FILE: FILE's lines joined with "|" (one string to compare).
lines() { tr '\n' '|' < "$1"; }

# in_order FIRST SECOND FILE: both strings occur in FILE, FIRST earlier.
in_order() {
    local a b
    a=$(grep -aobF -- "$1" "$3" | head -n 1 | cut -d: -f1)
    b=$(grep -aobF -- "$2" "$3" | head -n 1 | cut -d: -f1)
    [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]
}

# A /health body is {"status":"ok"}: 15 bytes.
HEALTH_LEN=15

lmd_config <<'YAML'
models: [{name: t1, path: /x/model, engine: test}]
YAML
lmd_start || finish

# ----------------------------------------------- 1000 requests, 1 connect

for _ in $(seq 1 1000); do
    printf 'url = "%s/health"\noutput = "/dev/null"\n' "$BASE"
done > "$OUT/ka1000.curl"
curl -s --max-time 50 -w '%{http_code} %{num_connects}\n' \
    --config "$OUT/ka1000.curl" > "$OUT/ka1000.txt"
expect_eq "1000 keep-alive requests on one curl: all answer 200" \
    "$(grep -c '^200 ' "$OUT/ka1000.txt")" 1000
expect_eq "1000 keep-alive requests share one TCP connection" \
    "$(awk '{ n += $2 } END { print n + 0 }' "$OUT/ka1000.txt")" 1

# -------------------------------------------------------------- pipelining

raw send "$REQS/pipeline_three.req" --timeout-ms 3000 > "$OUT/three.raw"
rc=$?
expect_eq "three pipelined requests (last: Connection: close): server closes" \
    "$rc" 0
"$RAWHTTP" parse --requests "$REQS/pipeline_three.req" \
    --show-header Content-Length < "$OUT/three.raw" > "$OUT/three.txt"
expect_eq "pipelined GET /health is answered first, whole" \
    "$(sed -n 1p "$OUT/three.txt")" "200 $HEALTH_LEN $HEALTH_LEN"
expect_match "pipelined GET /v1/models is answered second, whole" \
    "$(sed -n 2p "$OUT/three.txt")" '^200 ([1-9][0-9]*) \1$'
expect_eq "pipelined HEAD /health is answered third: GET's length, no body" \
    "$(sed -n 3p "$OUT/three.txt")" "200 0 $HEALTH_LEN"
expect_eq "three pipelined requests get exactly three responses" \
    "$(wc -l < "$OUT/three.txt" | tr -d ' ')" 3
check "pipelined responses come in request order (health, then models)" \
    in_order '{"status":"ok"}' '"object":"list"' "$OUT/three.raw"

raw send "$REQS/pipeline_bad_second.req" --parse --timeout-ms 3000 \
    > "$OUT/bad2.txt"
rc=$?
expect_eq "a bad request in a pipeline: the server closes after its 400" \
    "$rc" 0
expect_match \
    "a bad request in a pipeline: the one before is answered, then 400" \
    "$(lines "$OUT/bad2.txt")" "^200 $HEALTH_LEN\\|400 [0-9]+\\|\$"

# ---------------------------------------------------------- chunked bodies

raw send "$REQS/chunked_extensions.req" --timeout-ms 3000 \
    > "$OUT/chunked.raw"
rc=$?
expect_eq "chunked POST then GET on one connection: the server closes after" \
    "$rc" 0
"$RAWHTTP" parse --requests "$REQS/chunked_extensions.req" \
    < "$OUT/chunked.raw" > "$OUT/chunked.txt"
expect_match "a chunked body with chunk extensions is read: 404 for /v1/nope" \
    "$(sed -n 1p "$OUT/chunked.txt")" '^404 [0-9]+$'
body_of "$OUT/chunked.raw" \
    | head -c "$(hval "$OUT/chunked.raw" Content-Length)" > "$OUT/chunked.json"
check_error_json "404 after a chunked body is an OpenAI error object" \
    "$OUT/chunked.json"
expect_eq \
    "the request after a chunked body is answered on the same connection" \
    "$(sed -n 2p "$OUT/chunked.txt")" "200 $HEALTH_LEN"

lmd_stop
expect_eq "exits 0 after SIGTERM (default limits)" "$LMD_STATUS" 0

# ------------------------------------------------------ keepalive_requests

lmd_config <<YAML
http:
  listen: ["127.0.0.1:$PORT"]
  html: html
  limits:
    keepalive_requests: 5
models: [{name: t1, path: /x/model, engine: test}]
YAML
lmd_start || finish

raw send "$REQS/keepalive_six.req" --parse --show-header Connection \
    --timeout-ms 3000 > "$OUT/six.txt"
rc=$?
expect_eq "keepalive_requests 5: the server closes after the 5th response" \
    "$rc" 0
expect_eq "keepalive_requests 5: six pipelined requests get five responses" \
    "$(wc -l < "$OUT/six.txt" | tr -d ' ')" 5
expect_eq "keepalive_requests 5: responses 1-4 keep the connection" \
    "$(head -n 4 "$OUT/six.txt" | grep -vic ' close$')" 4
expect_eq "keepalive_requests 5: the 5th response says Connection: close" \
    "$(sed -n 5p "$OUT/six.txt" | lower)" "200 $HEALTH_LEN close"

for _ in 1 2 3 4 5 6; do
    printf 'url = "%s/health"\noutput = "/dev/null"\n' "$BASE"
done > "$OUT/ka6.curl"
curl -s --max-time 20 -w '%{http_code} %{num_connects}\n' \
    --config "$OUT/ka6.curl" > "$OUT/ka6.txt"
expect_eq "keepalive_requests 5: six sequential requests all answer 200" \
    "$(grep -c '^200 ' "$OUT/ka6.txt")" 6
expect_eq "keepalive_requests 5: six sequential requests need two connections" \
    "$(awk '{ n += $2 } END { print n + 0 }' "$OUT/ka6.txt")" 2

lmd_stop
expect_eq "exits 0 after SIGTERM" "$LMD_STATUS" 0
finish
