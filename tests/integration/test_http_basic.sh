#!/bin/bash
# tests/integration/test_http_basic.sh -- the small JSON endpoints and the
# framing every response carries: /health, the OpenAI models list, error
# objects, 405 with Allow, HEAD, Date and Server, and HTTP/1.0 closing.
#
# Expectations come from RFC 9110/9112 and OpenAI's API shapes:
#   GET /v1/models -> {"object":"list","data":[{"id",...,"object":"model"}]}
#   errors         -> {"error":{"message","type","param","code"}}

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

# get NAME PATH [CURL ARGS...]: one request with curl; its header block
# goes to $OUT/NAME.h and its body to $OUT/NAME.b; prints the status.
get() {
    local name=$1 path=$2
    shift 2
    curl -s --max-time 10 -D "$OUT/$name.h" -o "$OUT/$name.b" \
        -w '%{http_code}' "$@" "$BASE$path"
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

# is_json_type VALUE: a Content-Type of application/json (parameters ok).
is_json_type() {
    [ "$(printf '%s' "${1%%;*}" | lower)" = application/json ]
}

# body_size FILE: its size in bytes.
body_size() { wc -c < "$1" | tr -d ' '; }


lmd_config <<'YAML'
models: [{name: t1, path: /x/model, engine: test}]
YAML
lmd_start || finish

# ------------------------------------------------------------------ /health

expect_eq "GET /health answers 200" "$(get health /health)" 200
expect_eq "GET /health says {\"status\":\"ok\"}" \
    "$(json_get "$OUT/health.b" status)" ok
check "GET /health is Content-Type application/json" \
    is_json_type "$(hval "$OUT/health.h" Content-Type)"
expect_eq "GET /health Content-Length matches the body" \
    "$(hval "$OUT/health.h" Content-Length)" "$(body_size "$OUT/health.b")"

# ---------------------------------------------------------------- models

expect_eq "GET /v1/models answers 200" "$(get models /v1/models)" 200
check "GET /v1/models is Content-Type application/json" \
    is_json_type "$(hval "$OUT/models.h" Content-Type)"
expect_eq "models list has object \"list\"" \
    "$(json_get "$OUT/models.b" object)" list
expect_eq "models list data[0].id is the configured model t1" \
    "$(json_get "$OUT/models.b" data.0.id)" t1
expect_eq "models list data[0].object is \"model\"" \
    "$(json_get "$OUT/models.b" data.0.object)" model
expect_eq "models list holds exactly the one configured model" \
    "$(json_get "$OUT/models.b" data.1)" MISSING
expect_match "models list data[0].created is a Unix time" \
    "$(json_get "$OUT/models.b" data.0.created)" '^[0-9]+$'
check "models list data[0].owned_by is present" \
    test "$(json_get "$OUT/models.b" data.0.owned_by)" != MISSING

expect_eq "GET /v1/models/t1 answers 200" "$(get model_t1 /v1/models/t1)" 200
expect_eq "GET /v1/models/t1 is the model object of t1" \
    "$(json_get "$OUT/model_t1.b" id) $(json_get "$OUT/model_t1.b" object)" \
    "t1 model"

expect_eq "GET /v1/models/nope answers 404" \
    "$(get model_nope /v1/models/nope)" 404
check "GET /v1/models/nope is Content-Type application/json" \
    is_json_type "$(hval "$OUT/model_nope.h" Content-Type)"
check_error_json \
    "GET /v1/models/nope is an error object with code model_not_found" \
    "$OUT/model_nope.b" model_not_found

# ----------------------------------------------------- unknown API paths

expect_eq "GET /v1/x (no such endpoint) answers 404" "$(get v1x /v1/x)" 404
check "404 for /v1/x is Content-Type application/json" \
    is_json_type "$(hval "$OUT/v1x.h" Content-Type)"
check_error_json "404 for /v1/x is an OpenAI error object" "$OUT/v1x.b"

# --------------------------------------------------------------- methods

expect_eq "POST /health answers 405" \
    "$(get post_health /health -X POST -d '')" 405
allow=$(hval "$OUT/post_health.h" Allow)
expect_match "Allow of /health lists GET" "$allow" '(^|[ ,])GET([ ,]|$)'
expect_match "Allow of /health lists HEAD" "$allow" '(^|[ ,])HEAD([ ,]|$)'
check "Allow of /health does not list POST" \
    test -z "$(grep -Eo '(^|[ ,])POST([ ,]|$)' <<<"$allow")"
expect_eq "DELETE /v1/models answers 405" \
    "$(get delete_models /v1/models -X DELETE)" 405
check "405 on an API path has an Allow header" \
    test -n "$(hval "$OUT/delete_models.h" Allow)"
check_error_json "405 on an API path is an OpenAI error object" \
    "$OUT/delete_models.b"

# ------------------------------------------------------------------ HEAD

expect_eq "HEAD /health answers 200" "$(get head_health /health -I)" 200
grep -iv '^date:' "$OUT/health.h" | tr -d '\r' | sort > "$OUT/get.sorted"
grep -iv '^date:' "$OUT/head_health.h" | tr -d '\r' | sort > "$OUT/head.sorted"
check "HEAD /health sends the same header fields as GET (Date aside)" \
    cmp -s "$OUT/get.sorted" "$OUT/head.sorted"
# lmd_rawhttp reads to the close: bytes after the header block would show
# as "malformed"; the line is STATUS BODY_LENGTH CONTENT_LENGTH.
expect_eq "HEAD /health has GET's Content-Length and no body bytes at all" \
    "$(raw send "$REQS/head_health_close.req" --parse \
        --show-header Content-Length --timeout-ms 3000)" \
    "200 0 $(body_size "$OUT/health.b")"

# -------------------------------------------------------- Date and Server

date=$(hval "$OUT/health.h" Date)
days='(Mon|Tue|Wed|Thu|Fri|Sat|Sun)'
months='(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)'
expect_match "Date is an IMF-fixdate (RFC 9110 5.6.7)" "$date" \
    "^$days, [0-9]{2} $months [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT\$"
when=$(date -u -d "$date" +%s 2>/dev/null || echo 0)
expect_eq "Date names the right weekday for its day" \
    "$(LC_ALL=C date -u -d "@$when" '+%a, %d %b %Y %H:%M:%S GMT')" "$date"
check "Date is within a minute of the local clock" \
    test $(( $(date +%s) - when )) -lt 60 -a $(( when - $(date +%s) )) -lt 60
check "Server header is present" test -n "$(hval "$OUT/health.h" Server)"

# --------------------------------------------------------------- HTTP/1.0

raw send "$REQS/http10_health.req" --timeout-ms 3000 > "$OUT/http10.raw"
rc=$?
expect_eq "HTTP/1.0 request without keep-alive: the server closes" "$rc" 0
expect_eq "HTTP/1.0 request without keep-alive gets a 200" \
    "$(head -n 1 "$OUT/http10.raw" | cut -d ' ' -f 2)" 200
expect_eq "HTTP/1.0 request without keep-alive gets Connection: close" \
    "$(hval "$OUT/http10.raw" Connection | lower)" close

lmd_stop
expect_eq "exits 0 after SIGTERM" "$LMD_STATUS" 0
finish
