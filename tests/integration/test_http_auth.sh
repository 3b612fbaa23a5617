#!/bin/bash
# tests/integration/test_http_auth.sh -- API keys and CORS.  Keys come
# from http.auth.api_keys and api_keys_file; requests carry them as
# "Authorization: Bearer KEY" (RFC 6750 2.1; the scheme is caseless, RFC
# 9110 11.1).  A 401 names the scheme in WWW-Authenticate (RFC 9110
# 11.6.1) and is OpenAI's error object with code invalid_api_key.  CORS
# follows the Fetch standard: preflights are answered without a key.

. tests/integration/lib.sh
. tests/integration/lib_http.sh

# ------------------------------------------------------------------ helpers
printf '<!DOCTYPE html><title>lmd</title>\n' > "$OUT/html/index.html"
printf '# keys for the tests\n#sk-test-commented\n\nsk-test-3\n' \
    > "$OUT/api_keys"

# conf PROTECT CORS: writes lmd.yaml with the three keys; PROTECT sets
# protect_health and protect_static, CORS turns CORS on.
conf() {
    lmd_config <<YAML
http:
  listen: ["127.0.0.1:$PORT"]
  html: html
  auth:
    api_keys: ["sk-test-1", "sk-test-2"]
    api_keys_file: api_keys
    protect_health: $1
    protect_static: $1
  cors:
    enabled: $2
    allow_origins: ["https://app.example"]
    max_age: 10m
models: [{name: t1, path: /x/model, engine: test}]
YAML
}

conf false false
lmd_start || finish

# ------------------------------------------------------------------- keys

expect_eq "/v1/models without a key answers 401" "$(get nokey /v1/models)" 401
check_error_json "401 is an OpenAI error object with code invalid_api_key" \
    "$OUT/nokey.b" invalid_api_key
expect_match "401 carries WWW-Authenticate: Bearer" \
    "$(hval "$OUT/nokey.h" WWW-Authenticate)" '^Bearer( |,|$)'
expect_eq "/v1/models with a wrong key answers 401" \
    "$(get wrong /v1/models -H 'Authorization: Bearer sk-test-9')" 401
expect_eq "a key with an extra character answers 401" \
    "$(get longer /v1/models -H 'Authorization: Bearer sk-test-1x')" 401
expect_eq "a prefix of a key answers 401" \
    "$(get shorter /v1/models -H 'Authorization: Bearer sk-test-')" 401
expect_eq "Bearer with no key answers 401" \
    "$(get empty /v1/models -H 'Authorization: Bearer')" 401
expect_eq "api_keys[0] (sk-test-1) answers 200" \
    "$(get k1 /v1/models -H 'Authorization: Bearer sk-test-1')" 200
expect_eq "api_keys[1] (sk-test-2) answers 200" \
    "$(get k2 /v1/models -H 'Authorization: Bearer sk-test-2')" 200
expect_eq "the key from api_keys_file (sk-test-3) answers 200" \
    "$(get k3 /v1/models -H 'Authorization: Bearer sk-test-3')" 200
expect_eq "a \"#\" comment line of api_keys_file is not a key" \
    "$(get comment /v1/models -H 'Authorization: Bearer #sk-test-commented')" \
    401
expect_eq "the scheme is caseless: \"bearer sk-test-1\" answers 200" \
    "$(get lower /v1/models -H 'Authorization: bearer sk-test-1')" 200
expect_eq "\"BEARER sk-test-1\" answers 200" \
    "$(get upper /v1/models -H 'Authorization: BEARER sk-test-1')" 200
# "user:sk-test-1" in Base64: the right secret in the wrong scheme.
expect_eq "Basic credentials answer 401" \
    "$(get basic /v1/models -H 'Authorization: Basic dXNlcjpzay10ZXN0LTE=')" \
    401
expect_eq "an unknown /v1/ path without a key answers 401, not 404" \
    "$(get nokey_nope /v1/nope)" 401
expect_eq "GET /health stays open without a key by default" \
    "$(get open_health /health)" 200
expect_eq "GET / (the page) stays open without a key by default" \
    "$(get open_page /)" 200
lmd_stop
expect_eq "exits 0 after SIGTERM (keys only)" "$LMD_STATUS" 0

# ------------------------------------------- protect_health, protect_static

conf true false
lmd_start || finish
expect_eq "protect_health: GET /health without a key answers 401" \
    "$(get p_health /health)" 401
expect_match "protect_health: 401 carries WWW-Authenticate: Bearer" \
    "$(hval "$OUT/p_health.h" WWW-Authenticate)" '^Bearer( |,|$)'
expect_eq "protect_health: GET /health with a key answers 200" \
    "$(get p_health_key /health -H 'Authorization: Bearer sk-test-2')" 200
expect_eq "protect_static: GET / without a key answers 401" \
    "$(get p_page /)" 401
expect_eq "protect_static: GET / with a key answers 200" \
    "$(get p_page_key / -H 'Authorization: Bearer sk-test-3')" 200
lmd_stop
expect_eq "exits 0 after SIGTERM (protected)" "$LMD_STATUS" 0

# --------------------------------------------------------------------- CORS

ORIGIN=https://app.example
conf false true
lmd_start || finish

expect_eq "CORS preflight for /v1/models answers 204 without an API key" \
    "$(get pre /v1/models -X OPTIONS -H "Origin: $ORIGIN" \
        -H 'Access-Control-Request-Method: POST' \
        -H 'Access-Control-Request-Headers: authorization, content-type')" \
    204
expect_eq "preflight: Access-Control-Allow-Origin is the allowed origin" \
    "$(hval "$OUT/pre.h" Access-Control-Allow-Origin)" "$ORIGIN"
expect_match "preflight: Access-Control-Allow-Methods includes POST" \
    "$(hval "$OUT/pre.h" Access-Control-Allow-Methods)" '(^|[ ,])POST([ ,]|$)'
expect_match "preflight: Access-Control-Allow-Headers includes Authorization" \
    "$(hval "$OUT/pre.h" Access-Control-Allow-Headers | lower)" \
    '(^|[ ,])authorization([ ,]|$)'
expect_match "preflight: Access-Control-Allow-Headers includes Content-Type" \
    "$(hval "$OUT/pre.h" Access-Control-Allow-Headers | lower)" \
    '(^|[ ,])content-type([ ,]|$)'
expect_eq "preflight: Access-Control-Max-Age is max_age (10m) in seconds" \
    "$(hval "$OUT/pre.h" Access-Control-Max-Age)" 600
check "preflight: 204 has no body" test ! -s "$OUT/pre.b"

expect_eq "CORS GET from the allowed origin answers 200" \
    "$(get cors_ok /v1/models -H "Origin: $ORIGIN" \
        -H 'Authorization: Bearer sk-test-1')" 200
expect_eq "CORS GET from the allowed origin gets Access-Control-Allow-Origin" \
    "$(hval "$OUT/cors_ok.h" Access-Control-Allow-Origin)" "$ORIGIN"
expect_match "CORS answer naming one origin says Vary: Origin" \
    "$(hval "$OUT/cors_ok.h" Vary)" '(^|[ ,])Origin([ ,]|$)'
expect_eq "CORS 401 from the allowed origin still names it (readable error)" \
    "$(get cors_401 /v1/models -H "Origin: $ORIGIN" >/dev/null
       hval "$OUT/cors_401.h" Access-Control-Allow-Origin)" "$ORIGIN"
expect_eq "CORS GET from another origin answers 200" \
    "$(get cors_other /v1/models -H 'Origin: https://evil.example' \
        -H 'Authorization: Bearer sk-test-1')" 200
expect_eq "CORS GET from another origin gets no Access-Control-Allow-Origin" \
    "$(hval "$OUT/cors_other.h" Access-Control-Allow-Origin)" ""
get pre_other /v1/models -X OPTIONS -H 'Origin: https://evil.example' \
    -H 'Access-Control-Request-Method: POST' >/dev/null
expect_eq "preflight from another origin gets no Access-Control-Allow-Origin" \
    "$(hval "$OUT/pre_other.h" Access-Control-Allow-Origin)" ""
expect_eq "a GET without Origin gets no Access-Control-Allow-Origin" \
    "$(get no_origin /health >/dev/null
       hval "$OUT/no_origin.h" Access-Control-Allow-Origin)" ""

lmd_stop
expect_eq "exits 0 after SIGTERM" "$LMD_STATUS" 0
finish
