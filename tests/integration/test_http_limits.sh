#!/bin/bash
# tests/integration/test_http_limits.sh -- http.limits at work: oversized
# headers (431) and bodies (413, Content-Length or chunked), header, body
# and idle timeouts, Expect: 100-continue (RFC 9110 10.1.1), malformed
# request lines (400), and max_connections holding a connection back
# until another one closes.
#
# Timings are checked with margins (a timeout of 1 s must close between
# 0.8 and 3 s) and every client has its own time limit, so a daemon that
# never closes makes checks fail, not the script hang.

. tests/integration/lib.sh
. tests/integration/lib_http.sh

# ------------------------------------------------------------------ helpers
# expect_range NAME VALUE MIN MAX: MIN <= VALUE <= MAX (integers).
expect_range() {
    if [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ]; then
        ok "$1"
    else
        fail "$1" "got '$2', want $3 to $4"
    fi
}

# stat_of FILE KEY: a value from lmd_rawhttp --stats output.
stat_of() { sed -n "s/.*\\<$2=\\([^ ]*\\).*/\\1/p" "$1"; }

# status_of FILE: the status code of the first response in raw bytes.
status_of() { head -n 1 "$1" | cut -d ' ' -f 2; }


lmd_config <<YAML
http:
  listen: ["127.0.0.1:$PORT"]
  html: html
  limits:
    max_header_size: 1k
    max_body: 1k
    header_timeout: 1s
    body_timeout: 1s
    idle_timeout: 2s
models: [{name: t1, path: /x/model, engine: test}]
YAML
printf '<!DOCTYPE html><title>lmd</title>\n' > "$OUT/html/index.html"
lmd_start || finish

# ------------------------------------------------------------ header size

filler=$(head -c 2000 /dev/zero | tr '\0' x)
expect_eq "a 2000-byte header on /v1/models answers 431" \
    "$(get h431_api /v1/models -H "X-Filler: $filler")" 431
check_error_json "431 on an API path is an OpenAI error object" \
    "$OUT/h431_api.b"
expect_eq "a 2000-byte header on / answers 431" \
    "$(get h431_page / -H "X-Filler: $filler")" 431
expect_match "431 on the page is HTML" \
    "$(hval "$OUT/h431_page.h" Content-Type)" '^text/html(;|$)'
expect_eq "a 600-byte header, within max_header_size, is accepted" \
    "$(get h600 /health -H "X-Filler: ${filler:0:600}")" 200

# -------------------------------------------------------------- body size

{
    printf 'POST /v1/models HTTP/1.1\r\nHost: lmd.test\r\n'
    printf 'Content-Type: application/json\r\nContent-Length: 2000\r\n\r\n'
    head -c 2000 /dev/zero | tr '\0' ' '
} > "$OUT/cl2000.req"
raw send "$OUT/cl2000.req" --timeout-ms 3000 > "$OUT/cl2000.raw"
rc=$?
expect_eq "Content-Length 2000 over max_body 1k: the server closes" "$rc" 0
expect_eq "Content-Length 2000 over max_body 1k answers 413" \
    "$(status_of "$OUT/cl2000.raw")" 413
body_of "$OUT/cl2000.raw" > "$OUT/cl2000.json"
check_error_json "413 on POST /v1/models is an OpenAI error object" \
    "$OUT/cl2000.json"
expect_eq "413 says Connection: close" \
    "$(hval "$OUT/cl2000.raw" Connection | lower)" close

{
    printf 'POST /v1/nope HTTP/1.1\r\nHost: lmd.test\r\n'
    printf 'Transfer-Encoding: chunked\r\n\r\n'
    for _ in 1 2 3; do
        printf '200\r\n'
        head -c 512 /dev/zero | tr '\0' y
        printf '\r\n'
    done
    printf '0\r\n\r\n'
} > "$OUT/chunked1536.req"
raw send "$OUT/chunked1536.req" --timeout-ms 3000 > "$OUT/chunked1536.raw"
rc=$?
expect_eq "a chunked body of 1536 bytes over max_body: the server closes" \
    "$rc" 0
expect_eq "a chunked body of 1536 bytes over max_body answers 413" \
    "$(status_of "$OUT/chunked1536.raw")" 413

head -c 500 /dev/zero | tr '\0' z > "$OUT/body500"
expect_eq "POST /v1/x with a 500-byte body is 404 (unknown URL), not 413" \
    "$(get post500 /v1/x -X POST --data-binary "@$OUT/body500" \
        -H 'Content-Type: text/plain')" 404
check_error_json "404 for POST /v1/x is an OpenAI error object" \
    "$OUT/post500.b"
head -c 1024 /dev/zero | tr '\0' z > "$OUT/body1024"
expect_eq "a body of exactly max_body bytes is not too large" \
    "$(get post1024 /v1/x -X POST --data-binary "@$OUT/body1024" \
        -H 'Content-Type: text/plain')" 404

# ----------------------------------------------------------------- timeouts

# One byte every 300 ms: the request would take 11 s; header_timeout is 1 s.
raw send "$REQS/health.req" --chunk 1 --delay-ms 300 --stats \
    --expect-close-within-ms 5000 > "$OUT/slowhead.raw" 2> "$OUT/slowhead.st"
expect_eq "slow header client (a byte every 300 ms): the server closes" \
    "$(stat_of "$OUT/slowhead.st" closed)" yes
expect_range "slow header client is cut off after header_timeout (0.8-3 s)" \
    "$(stat_of "$OUT/slowhead.st" elapsed_ms)" 800 3000
check "slow header client gets no 200" not_grep ' 200 ' "$OUT/slowhead.raw"

# Headers, 2 of 10 body bytes, then silence longer than body_timeout.
raw send "$REQS/post_len10_head.req" "$REQS/body_ab.req" \
    "$REQS/body_ab.req" --delay-ms 2500 --stats \
    --expect-close-within-ms 5000 > "$OUT/slowbody.raw" 2> "$OUT/slowbody.st"
expect_eq "body paused longer than body_timeout: the server closes" \
    "$(stat_of "$OUT/slowbody.st" closed)" yes
expect_range "body paused longer than body_timeout is cut off in 0.8-2.4 s" \
    "$(stat_of "$OUT/slowbody.st" elapsed_ms)" 800 2400

# Five 2-byte pieces 600 ms apart: 3 s in all, each gap under body_timeout.
raw send "$REQS/post_len10_head.req" "$REQS/body_ab.req" \
    "$REQS/body_ab.req" "$REQS/body_ab.req" "$REQS/body_ab.req" \
    "$REQS/body_ab.req" --delay-ms 600 --parse --timeout-ms 3000 \
    > "$OUT/trickle.txt"
expect_match "a body trickling in faster than body_timeout is read whole" \
    "$(cat "$OUT/trickle.txt")" '^404 [0-9]+$'

raw send "$REQS/health.req" --stats --timeout-ms 6000 \
    > "$OUT/idle.raw" 2> "$OUT/idle.st"
expect_eq "a keep-alive request is answered before the idle wait" \
    "$(status_of "$OUT/idle.raw")" 200
expect_eq "an idle keep-alive connection is closed by the server" \
    "$(stat_of "$OUT/idle.st" closed)" yes
expect_range "an idle keep-alive connection is closed after ~2 s (1.6-4 s)" \
    "$(stat_of "$OUT/idle.st" elapsed_ms)" 1600 4000

# The idle wait starts once a response is sent: a download that takes
# longer than idle_timeout arrives whole.  The client reads 16 KiB every
# 5 ms (about 3 MB/s) through a small receive buffer, so 16 MB take about
# 5 s and most of the file waits in lmd while the idle timer would run.
# The connection stays open after it (keep-alive) until idle_timeout.
truncate -s 16M "$OUT/html/16m.bin"
printf 'GET /16m.bin HTTP/1.1\r\nHost: lmd.test\r\n\r\n' > "$OUT/16m.req"
expect_eq "a download slower than idle_timeout is not cut short" \
    "$(raw send "$OUT/16m.req" --rcvbuf 65536 --read-delay-ms 5 --parse \
        --timeout-ms 5000 --expect-close-within-ms 20000)" "200 16777216"

# ------------------------------------------------------------------- Expect

raw send "$REQS/expect_continue_head.req" --timeout-ms 3000 \
    > "$OUT/expect_head.raw"
expect_eq "Expect: 100-continue gets 100 Continue before any body is sent" \
    "$(head -n 1 "$OUT/expect_head.raw" | tr -d '\r')" \
    "HTTP/1.1 100 Continue"

raw send "$REQS/expect_continue_head.req" "$REQS/body_hello.req" \
    --delay-ms 300 --parse --timeout-ms 3000 > "$OUT/expect_full.txt"
expect_match "Expect: 100-continue: 100 first, then the final response" \
    "$(tr '\n' '|' < "$OUT/expect_full.txt")" '^100 0\|404 [0-9]+\|$'

raw send "$REQS/expect_too_large.req" --parse --stats --timeout-ms 3000 \
    > "$OUT/expect_413.txt" 2> "$OUT/expect_413.st"
expect_match "Expect with Content-Length over max_body: 413, no 100 Continue" \
    "$(tr '\n' '|' < "$OUT/expect_413.txt")" '^413 [0-9]+\|$'
expect_range "Expect with a too large body is refused without waiting for it" \
    "$(stat_of "$OUT/expect_413.st" elapsed_ms)" 0 800

raw send "$REQS/expect_unknown.req" --parse --timeout-ms 3000 \
    > "$OUT/expect_417.txt"
expect_match "Expect: something-else answers 417" \
    "$(cat "$OUT/expect_417.txt")" '^417 [0-9]+$'

# -------------------------------------------------------------- malformed

raw send "$REQS/bad_request_line.req" --parse --timeout-ms 3000 \
    > "$OUT/badline.txt"
rc=$?
expect_eq "a malformed request line: the server closes" "$rc" 0
expect_match "a malformed request line answers 400" \
    "$(cat "$OUT/badline.txt")" '^400 [0-9]+$'

lmd_stop
expect_eq "exits 0 after SIGTERM (small limits)" "$LMD_STATUS" 0

# ---------------------------------------------------------- max_connections

# Four connections that send nothing hold every slot (header_timeout is
# long now); a fifth must wait in the backlog until one of them closes.
lmd_config <<YAML
http:
  listen: ["127.0.0.1:$PORT"]
  html: html
  limits:
    max_connections: 4
    header_timeout: 20s
models: [{name: t1, path: /x/model, engine: test}]
YAML
lmd_start || finish
sleep 0.3       # lmd_start's own probe connection is gone by now

held=0
for fd in 3 4 5 6; do
    if eval "exec $fd<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; then
        held=$((held + 1))
    fi
done
expect_eq "four idle connections are open" "$held" 4
sleep 0.3

# The background curl must not inherit the held descriptors.
curl -s --max-time 8 -o "$OUT/fifth.b" -w '%{http_code}' "$BASE/health" \
    > "$OUT/fifth.code" 3>&- 4>&- 5>&- 6>&- &
fifth=$!
sleep 1
# curl writes the -w status only when it is done.
check "a fifth connection is not served while max_connections are open" \
    test ! -s "$OUT/fifth.code"
t0=$(date +%s%N)
exec 3>&-
wait "$fifth"
t1=$(date +%s%N)
expect_eq "the fifth connection is served once one of the four closes" \
    "$(cat "$OUT/fifth.code")" 200
expect_range "the fifth connection is served at once after the close (ms)" \
    $(( (t1 - t0) / 1000000 )) 0 3000
exec 4>&- 5>&- 6>&-

lmd_stop
expect_eq "exits 0 after SIGTERM" "$LMD_STATUS" 0
finish
