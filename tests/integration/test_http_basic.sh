#!/bin/bash
# tests/integration/test_http_basic.sh -- the small JSON endpoints and the
# framing every response carries: /health, the OpenAI models list, error
# objects, 405 with Allow, HEAD, Date and Server, and HTTP/1.0 closing.
#
# Expectations come from RFC 9110/9112 and OpenAI's API shapes:
#   GET /v1/models -> {"object":"list","data":[{"id",...,"object":"model"}]}
#   errors         -> {"error":{"message","type","param","code"}}

. tests/integration/lib.sh
. tests/integration/lib_http.sh

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

# ------------------------------------------------------------------- Host

# RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request without a
# Host header, or with more than one.
printf 'GET /v1/models HTTP/1.1\r\n\r\n' > "$OUT/nohost.req"
raw send "$OUT/nohost.req" --timeout-ms 3000 > "$OUT/nohost.raw"
expect_eq "HTTP/1.1 request without Host gets 400" \
    "$(head -n 1 "$OUT/nohost.raw" | cut -d ' ' -f 2)" 400
body_of "$OUT/nohost.raw" > "$OUT/nohost.b"
check_error_json "400 for a missing Host on /v1 is an OpenAI error object" \
    "$OUT/nohost.b"
printf 'GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n' \
    > "$OUT/twohost.req"
expect_eq "HTTP/1.1 request with two Host headers gets 400" \
    "$(raw send "$OUT/twohost.req" --timeout-ms 3000 | head -n 1 \
       | cut -d ' ' -f 2)" 400

lmd_stop
expect_eq "exits 0 after SIGTERM" "$LMD_STATUS" 0
finish
