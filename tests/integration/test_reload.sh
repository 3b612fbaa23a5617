#!/bin/bash
# test_reload.sh -- SIGHUP and `lmd -s reload` apply a changed config to
# the running daemon: an API key added, a listener added and one removed,
# a smaller max_body; a keep-alive connection from before the reload
# keeps working; a broken config leaves the old one running.  Also the
# log files: the access log line format, error log levels and reopening
# the logs after they were moved away (SIGUSR1, `lmd -s reopen`).

. tests/integration/lib.sh

P2=$(free_port)
P3=$(free_port)
while [ "$P2" = "$PORT" ] || [ "$P3" = "$PORT" ] || [ "$P3" = "$P2" ]; do
    P2=$(free_port)
    P3=$(free_port)
done
KEY=sk-reload-test-key

# reloaded N: waits (5 s at most) until the error log holds N reload
# results ("configuration reloaded" or "reload failed").
reloaded() {
    local i
    for i in $(seq 1 50); do
        if [ "$(grep -c 'configuration reloaded\|reload failed' \
                "$OUT/logs/error.log")" -ge "$1" ]; then
            return 0
        fi
        sleep 0.1
    done
    fail "reload number $1 finished within 5 s" "see $OUT/logs/error.log"
    return 1
}

# status_on PORT PATH [CURL ARGS...]: the status of one GET on that port.
status_on() {
    local port=$1 path=$2
    shift 2
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" \
        "http://127.0.0.1:$port$path"
}

# post_status SIZE: the status of a POST /health with a SIZE-byte body.
post_status() {
    head -c "$1" /dev/zero | tr '\0' x > "$OUT/body"
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
        -H 'Content-Type: text/plain' --data-binary @"$OUT/body" \
        "$BASE/health"
}

# ka_get PATH [HEADER]: one GET on the connection held open on fd 3; sets
# KA_STATUS and KA_BODY.
ka_get() {
    local line len=0
    KA_STATUS=''
    KA_BODY=''
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n' "$1" \
        "${2:+$2$'\r\n'}" >&3 || return 1
    IFS= read -r -t 5 line <&3 || return 1
    line=${line%$'\r'}
    KA_STATUS=${line#HTTP/1.1 }
    KA_STATUS=${KA_STATUS%% *}
    while IFS= read -r -t 5 line <&3; do
        line=${line%$'\r'}
        [ -z "$line" ] && break
        case ${line,,} in
            content-length:*) len=${line#*:}; len=${len// /} ;;
        esac
    done
    if [ "$len" -gt 0 ]; then
        IFS= read -r -t 5 -N "$len" KA_BODY <&3 || return 1
    fi
    return 0
}

lmd_config <<YAML
http:
  listen: ["127.0.0.1:$PORT", "127.0.0.1:$P2"]
  html: html
YAML
cp "$OUT/lmd.yaml" "$OUT/lmd.yaml.first"
lmd_start || finish

# -------------------------------------------------------- before reload

expect_eq "before reload: /v1/models is open (200, no key)" \
    "$(http_status /v1/models)" 200
expect_eq "before reload: the second listener answers" \
    "$(status_on "$P2" /health)" 200
expect_eq "before reload: nothing listens on the port to be added" \
    "$(status_on "$P3" /health)" 000
CODE=$(post_status 2048)
check "before reload: a 2k body is within max_body (not 413)" \
    [ "$CODE" != 413 ] && [ "$CODE" != 000 ]

# A keep-alive connection opened before the reload.
if exec 3<>"/dev/tcp/127.0.0.1/$PORT"; then
    ka_get /health
    expect_eq "keep-alive connection: first request answers 200" \
        "$KA_STATUS $KA_BODY" '200 {"status":"ok"}'
else
    fail "keep-alive connection: connect" "no connection to $PORT"
fi

# --------------------------------------------------------------- reload

lmd_config <<YAML
http:
  listen: ["127.0.0.1:$PORT", "127.0.0.1:$P3"]
  html: html
  limits:
    max_body: 1k
  auth:
    api_keys: [$KEY]
YAML
kill -HUP "$LMD_PID"
reloaded 1

check "lmd is still running after SIGHUP" kill -0 "$LMD_PID"
check "the error log says configuration reloaded" \
    grep -q '\[notice\] [0-9]*: configuration reloaded' \
    "$OUT/logs/error.log"
expect_eq "API key added: /v1/models without a key answers 401" \
    "$(http_status /v1/models)" 401
expect_eq "API key added: /v1/models with the key answers 200" \
    "$(http_status /v1/models -H "Authorization: Bearer $KEY")" 200
expect_eq "API key added: a wrong key answers 401" \
    "$(http_status /v1/models -H 'Authorization: Bearer sk-wrong')" 401
expect_eq "listener added: the new port answers 200" \
    "$(status_on "$P3" /health)" 200
expect_eq "listener removed: its port refuses connections" \
    "$(status_on "$P2" /health)" 000
check "the error log says the removed port is no longer listened on" \
    grep -q "no longer listening on 127.0.0.1:$P2" "$OUT/logs/error.log"
expect_eq "max_body lowered to 1k: a 2k body now answers 413" \
    "$(post_status 2048)" 413

ka_get /health
expect_eq "keep-alive connection from before the reload still answers" \
    "$KA_STATUS $KA_BODY" '200 {"status":"ok"}'
ka_get /v1/models
expect_eq "that connection's next request follows the new auth (401)" \
    "$KA_STATUS" 401
ka_get /v1/models "Authorization: Bearer $KEY"
expect_eq "and with the new key it answers 200 on the same connection" \
    "$KA_STATUS" 200
exec 3<&-

# -------------------------------------------------------- broken config

cp "$OUT/lmd.yaml" "$OUT/lmd.yaml.good"
# Line 3, column 1: the flow sequence is never closed.
printf 'http:\n  listen: ["127.0.0.1:%s"\n' "$PORT" > "$OUT/lmd.yaml"
kill -HUP "$LMD_PID"
reloaded 2
check "broken YAML on SIGHUP: lmd keeps running" kill -0 "$LMD_PID"
check "broken YAML: error log says reload failed with FILE:3:1:" \
    grep -q "\[error\] [0-9]*: reload failed.*$OUT/lmd.yaml:3:1: " \
    "$OUT/logs/error.log"
expect_eq "broken YAML: the old config still applies (key needed: 401)" \
    "$(http_status /v1/models)" 401
expect_eq "broken YAML: the old listeners still answer" \
    "$(status_on "$P3" /health)" 200

# ----------------------------------------------------- lmd -s reload

cp "$OUT/lmd.yaml.first" "$OUT/lmd.yaml"
"$LMD_BIN" -p "$OUT" -c "$OUT/lmd.yaml" -s reload 2>"$OUT/s.err"
expect_eq "lmd -s reload exits 0" "$?" 0
reloaded 3
expect_eq "lmd -s reload applied the first config (no key: 200)" \
    "$(http_status /v1/models)" 200
expect_eq "lmd -s reload: the second listener is back" \
    "$(status_on "$P2" /health)" 200
expect_eq "lmd -s reload: the third listener is gone" \
    "$(status_on "$P3" /health)" 000

# ----------------------------------------------------------- the logs

: > "$OUT/logs/access.log"
curl -s -o /dev/null --max-time 5 "$BASE/health"
LINE=$(tail -n 1 "$OUT/logs/access.log")
RE='^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:'
RE+='[0-9]{2} [+-][0-9]{4}\] "GET /health HTTP/1\.1" 200 15 "-" '
RE+='"curl/[^"]+" [0-9]+\.[0-9]{3}$'
if [[ $LINE =~ $RE ]]; then
    ok "access log line: combined format plus request time"
else
    fail "access log line: combined format plus request time" "got: $LINE"
fi
curl -s -o /dev/null --max-time 5 -A 'a "quoted" agent' -e 'http://ref/' \
    "$BASE/nope?x=1"
LINE=$(tail -n 1 "$OUT/logs/access.log")
W1='"GET /nope?x=1 HTTP/1.1" 404 '
W2=' "http://ref/" "a \x22quoted\x22 agent" '
case $LINE in
    *"$W1"*"$W2"*)
        ok "access log: referer, query and escaped quotes in user agent" ;;
    *)  fail "access log: referer, query and escaped quotes in user agent" \
             "got: $LINE" ;;
esac

RE='^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} '
RE+='\[(error|warn|notice|info|debug)\] [0-9]+: .'
BAD=0
while IFS= read -r line; do
    [[ $line =~ $RE ]] || BAD=$((BAD + 1))
done < "$OUT/logs/error.log"
expect_eq "every error log line reads 'DATE TIME [level] PID: text'" \
    "$BAD" 0
check "the error log has [notice] lines (starting, listening)" \
    grep -q "\[notice\] $LMD_PID: listening on 127.0.0.1:$PORT" \
    "$OUT/logs/error.log"

# Reopen by SIGUSR1: both logs were moved away (logrotate does this).
mv "$OUT/logs/access.log" "$OUT/logs/access.log.1"
mv "$OUT/logs/error.log" "$OUT/logs/error.log.1"
kill -USR1 "$LMD_PID"
for i in $(seq 1 50); do
    [ -f "$OUT/logs/error.log" ] && break
    sleep 0.1
done
check "SIGUSR1: a fresh error.log says log files reopened" \
    grep -q '\[notice\] [0-9]*: log files reopened' "$OUT/logs/error.log"
curl -s -o /dev/null --max-time 5 "$BASE/health?after-usr1"
check "SIGUSR1: new requests land in a fresh access.log" \
    grep -q 'GET /health?after-usr1 ' "$OUT/logs/access.log"
check "SIGUSR1: the moved access.log gets no new lines" \
    bash -c "! grep -q after-usr1 '$OUT/logs/access.log.1'"

mv "$OUT/logs/access.log" "$OUT/logs/access.log.2"
"$LMD_BIN" -p "$OUT" -c "$OUT/lmd.yaml" -s reopen 2>"$OUT/s.err"
expect_eq "lmd -s reopen exits 0" "$?" 0
for i in $(seq 1 50); do
    [ -f "$OUT/logs/access.log" ] && break
    sleep 0.1
done
curl -s -o /dev/null --max-time 5 "$BASE/health?after-reopen"
check "lmd -s reopen: new requests land in a fresh access.log" \
    grep -q 'GET /health?after-reopen ' "$OUT/logs/access.log"
check "lmd -s reopen: the moved access.log gets no new lines" \
    bash -c "! grep -q after-reopen '$OUT/logs/access.log.2'"

lmd_stop
expect_eq "lmd stops with status 0" "$LMD_STATUS" 0

finish
