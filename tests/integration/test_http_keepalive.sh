#!/bin/bash
# tests/integration/test_http_keepalive.sh -- persistent connections and
# pipelining (RFC 9112 9.3): 1000 requests over one connection, pipelined
# requests answered in order (HEAD among them), a bad request in a
# pipeline ending the connection after the good ones before it, chunked
# request bodies with extensions, and http.limits.keepalive_requests.

. tests/integration/lib.sh

# ------------------------------------------------------------------ helpers
# The test_http_* scripts share these lines (lib.sh stays protocol-blind).

# lib.sh's free_port only checks that nothing listens on the port, but
# bind() also fails on a port that a closed client connection still holds
# in TIME_WAIT (these tests leave hundreds): pick again until no TCP socket
# uses it at all.
while grep -q "$(printf ':%04X ' "$PORT")" /proc/net/tcp /proc/net/tcp6 \
        2>/dev/null; do
    PORT=$(free_port)
done
BASE=http://127.0.0.1:$PORT

REQS=$TOP/tests/integration/http        # raw requests, CRLF as sent
RAWHTTP=$LMD_OBJS/tests/tools/lmd_rawhttp
if [ ! -x "$RAWHTTP" ]; then            # not built by make: build it here
    RAWHTTP=$OUT/lmd_rawhttp
    if ! "${CC:-cc}" -std=c11 -O1 -o "$RAWHTTP" \
            "$TOP/tests/tools/lmd_rawhttp.c" 2>"$OUT/rawhttp.log"; then
        fail "lmd_rawhttp builds" "see $OUT/rawhttp.log"
        finish
    fi
fi

# raw ARGS...: tests/tools/lmd_rawhttp against this script's lmd.
raw() { "$RAWHTTP" --port "$PORT" "$@"; }

# expect_match NAME GOT REGEX: GOT matches the extended regular expression.
expect_match() {
    if [[ $2 =~ $3 ]]; then ok "$1"; else fail "$1" "got '$2', want /$3/"; fi
}
# lower: stdin in lower case (header names and tokens are caseless).
lower() { tr '[:upper:]' '[:lower:]'; }

# hval FILE NAME: the value of header NAME (any case) in the first header
# block of FILE (curl -D output or raw bytes), trimmed; empty if absent.
hval() {
    awk -v want="$2" '
        { sub(/\r$/, "") }
        NR > 1 && $0 == "" { exit }
        NR > 1 && (i = index($0, ":")) > 0 \
            && tolower(substr($0, 1, i - 1)) == tolower(want) {
            v = substr($0, i + 1)
            gsub(/^[ \t]+|[ \t]+$/, "", v)
            print v
            exit
        }' "$1"
}

# body_of FILE: the bytes after the first header block of a raw response.
body_of() { awk 'f { print } /^\r?$/ { f = 1 }' "$1"; }

# json_get FILE PATH: the member at PATH ("error.code", "data.0.id") of the
# JSON in FILE: a string as it is, anything else as JSON ("null", "12"),
# MISSING when absent, INVALID when FILE is not JSON.  python3 or node;
# without either, a rough grep for string, number and null members by
# their last name only.
json_get() {
    local v
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import json, sys
try:
    v = json.load(open(sys.argv[1], encoding="utf-8"))
    for k in sys.argv[2].split("."):
        try:
            v = v[int(k)] if isinstance(v, list) else v[k]
        except (KeyError, IndexError, TypeError, ValueError):
            v = KeyError
            break
except ValueError:
    v = ValueError
print("MISSING" if v is KeyError else "INVALID" if v is ValueError
      else v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
    elif command -v node >/dev/null 2>&1; then
        node -e 'let v;
try { v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); }
catch (e) { console.log("INVALID"); process.exit(0); }
for (const k of process.argv[2].split(".")) {
    if (v === null || typeof v !== "object" || !(k in v)) {
        console.log("MISSING");
        process.exit(0);
    }
    v = v[k];
}
console.log(typeof v === "string" ? v : JSON.stringify(v));' "$1" "$2"
    else
        v=$(grep -o "\"${2##*.}\": *\(\"[^\"]*\"\|null\|[0-9.-]*\)" "$1" \
            | head -n 1 \
            | sed 's/^[^:]*: *//; s/^"\(.*\)"$/\1/')
        echo "${v:-MISSING}"
    fi
}

# check_error_json NAME FILE [CODE]: FILE holds OpenAI's error object,
# {"error":{"message":...,"type":...,"param":...,"code":...}}: message and
# type are set, param and code are present (null allowed), and code is
# CODE when one is given.
check_error_json() {
    local what=$1 file=$2 code=${3:-} m t p c
    m=$(json_get "$file" error.message)
    t=$(json_get "$file" error.type)
    p=$(json_get "$file" error.param)
    c=$(json_get "$file" error.code)
    if [ "$m" = INVALID ]; then
        fail "$what" "not JSON: $(head -c 200 "$file")"
    elif [ -z "$m" ] || [ "$m" = MISSING ] || [ "$m" = null ]; then
        fail "$what" "no error.message in $(head -c 200 "$file")"
    elif [ -z "$t" ] || [ "$t" = MISSING ] || [ "$t" = null ]; then
        fail "$what" "no error.type in $(head -c 200 "$file")"
    elif [ "$p" = MISSING ] || [ "$c" = MISSING ]; then
        fail "$what" "no error.param or error.code in $(head -c 200 "$file")"
    elif [ -n "$code" ] && [ "$c" != "$code" ]; then
        fail "$what" "error.code is '$c', want '$code'"
    else
        ok "$what"
    fi
}

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
