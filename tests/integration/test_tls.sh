#!/bin/bash
# test_tls.sh -- a TLS listener next to a plain one: certificate checks,
# protocol versions (1.2 and 1.3 only), ALPN (HTTP/1.1 even when h2 is
# offered), keep-alive over TLS, and certificates renewed by SIGHUP: a new
# one is served to new connections, a broken one leaves the old one in use.

. tests/integration/lib.sh

if ! command -v openssl >/dev/null 2>&1; then
    skip "TLS tests" "openssl is not installed"
    finish
fi

TPORT=$(free_port)
while [ "$TPORT" = "$PORT" ]; do
    TPORT=$(free_port)
done
TBASE=https://localhost:$TPORT

# make_cert NAME CN: a self-signed certificate NAME.pem with key NAME.key.
make_cert() {
    openssl req -x509 -newkey rsa:2048 -nodes -subj "/CN=$2" -days 1 \
        -addext "subjectAltName=DNS:localhost" \
        -keyout "$OUT/$1.key" -out "$OUT/$1.pem" 2>"$OUT/openssl.err"
}

# serial_of FILE: the serial of a certificate file.
serial_of() {
    openssl x509 -noout -serial -in "$1"
}

# served_serial: the serial of the certificate a new connection gets.
served_serial() {
    openssl s_client -connect "127.0.0.1:$TPORT" -servername localhost \
        </dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null
}

# tls_status [CURL ARGS...]: the status of GET /health over TLS.
tls_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
        --cacert "$OUT/cert.pem" "$@" "$TBASE/health"
}

# write_config CERT KEY: the config with a TLS listener using them.
write_config() {
    lmd_config <<YAML
http:
  listen:
    - "127.0.0.1:$PORT"
    - addr: "127.0.0.1:$TPORT"
      tls:
        cert: $1
        key: $2
  html: html
YAML
}

# reloaded N: waits (5 s at most) for the Nth "reload" result line of the
# error log ("configuration reloaded" or "reload failed").
reloaded() {
    local i
    for i in $(seq 1 50); do
        if [ "$(grep -c 'configuration reloaded\|reload failed' \
                "$OUT/logs/error.log")" -ge "$1" ]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

if ! make_cert cert localhost || ! make_cert cert2 localhost-renewed; then
    fail "openssl makes test certificates" "$(cat "$OUT/openssl.err")"
    finish
fi
cp "$OUT/cert.pem" "$OUT/live.pem"
cp "$OUT/cert.key" "$OUT/live.key"
write_config "$OUT/live.pem" "$OUT/live.key"
lmd_start || finish

expect_eq "plain listener still answers /health" "$(http_status /health)" 200
expect_eq "https://localhost:TPORT/health with --cacert answers 200" \
    "$(tls_status)" 200
expect_eq "plain HTTP on the TLS port gets no HTTP answer" \
    "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
       "http://127.0.0.1:$TPORT/health")" 000
check "the error log says the TLS listener is up" \
    grep -q "listening on 127.0.0.1:$TPORT (TLS)" "$OUT/logs/error.log"
expect_eq "the served certificate is the configured one" \
    "$(served_serial)" "$(serial_of "$OUT/cert.pem")"

# ------------------------------------------------------------ versions

expect_eq "TLS 1.2 is accepted" "$(tls_status --tlsv1.2 --tls-max 1.2)" 200
expect_eq "TLS 1.3 is accepted" "$(tls_status --tlsv1.3 --tls-max 1.3)" 200
# A client offering at most 1.1 must fail the handshake.  OpenSSL 3 may
# refuse to offer 1.1 at its own security level; either way no 200.
expect_eq "TLS 1.1 is refused (curl --tlsv1.1 --tls-max 1.1)" \
    "$(tls_status --tlsv1.1 --tls-max 1.1 --ciphers 'DEFAULT:@SECLEVEL=0')" \
    000
if openssl s_client -help 2>&1 | grep -q -- '-tls1_1'; then
    # The server itself must say no: a "protocol version" alert.
    if openssl s_client -connect "127.0.0.1:$TPORT" -tls1_1 \
           -cipher 'DEFAULT:@SECLEVEL=0' </dev/null >"$OUT/s11.out" 2>&1
    then
        fail "TLS 1.1 is refused with a protocol version alert" \
             "the handshake succeeded"
    elif grep -q 'alert protocol version' "$OUT/s11.out"; then
        ok "TLS 1.1 is refused with a protocol version alert"
    else
        fail "TLS 1.1 is refused with a protocol version alert" \
             "$(head -2 "$OUT/s11.out")"
    fi
else
    skip "TLS 1.1 is refused with a protocol version alert" \
         "this openssl has no -tls1_1"
fi

# ------------------------------------------------------ ALPN, keep-alive

if curl --version | grep -q HTTP2; then
    V=$(curl -s -o /dev/null -w '%{http_version} %{http_code}' \
        --max-time 10 --cacert "$OUT/cert.pem" --http2 "$TBASE/health")
    expect_eq "ALPN: curl --http2 still gets HTTP/1.1" "$V" "1.1 200"
else
    skip "ALPN: curl --http2 still gets HTTP/1.1" "curl lacks HTTP/2"
fi
ALPN=$(openssl s_client -connect "127.0.0.1:$TPORT" -alpn h2,http/1.1 \
       </dev/null 2>/dev/null | grep -i '^ALPN protocol')
expect_eq "ALPN: offered h2,http/1.1 the server picks http/1.1" "$ALPN" \
    "ALPN protocol: http/1.1"

N=$(curl -s -w '%{num_connects}\n' --max-time 10 --cacert "$OUT/cert.pem" \
    -o /dev/null "$TBASE/health" -o /dev/null "$TBASE/v1/models" \
    -o /dev/null "$TBASE/health" | paste -sd' ')
expect_eq "keep-alive over TLS: 3 requests, one connection" "$N" "1 0 0"

# --------------------------------------------------------------- reload

OLD_SERIAL=$(serial_of "$OUT/cert.pem")
NEW_SERIAL=$(serial_of "$OUT/cert2.pem")
check "the two test certificates have different serials" \
    [ "$OLD_SERIAL" != "$NEW_SERIAL" ]

# Renewal in place: same file names, new contents, then SIGHUP.
cp "$OUT/cert2.pem" "$OUT/live.pem"
cp "$OUT/cert2.key" "$OUT/live.key"
kill -HUP "$LMD_PID"
reloaded 1
expect_eq "after SIGHUP new connections get the new certificate" \
    "$(served_serial)" "$NEW_SERIAL"
SUBJ=$(openssl s_client -connect "127.0.0.1:$TPORT" </dev/null 2>/dev/null \
       | openssl x509 -noout -subject 2>/dev/null)
expect_eq "the new certificate's CN is served" "$SUBJ" \
    "subject=CN = localhost-renewed"
expect_eq "after SIGHUP the new certificate passes curl --cacert cert2.pem" \
    "$(tls_status --cacert "$OUT/cert2.pem")" 200
check "lmd is still running after the certificate reload" \
    kill -0 "$LMD_PID"

# A broken certificate: the reload fails, the current one stays.
echo "not a certificate" > "$OUT/live.pem"
kill -HUP "$LMD_PID"
reloaded 2
check "a broken certificate on reload is logged as reload failed" \
    grep -q "reload failed.*live.pem" "$OUT/logs/error.log"
expect_eq "after the failed reload the previous certificate is still served" \
    "$(served_serial)" "$NEW_SERIAL"
expect_eq "after the failed reload TLS still answers 200" \
    "$(tls_status --cacert "$OUT/cert2.pem")" 200
expect_eq "after the failed reload the plain listener answers 200" \
    "$(http_status /health)" 200

# A key that does not match the certificate is refused the same way.
cp "$OUT/cert.pem" "$OUT/live.pem"
cp "$OUT/cert2.key" "$OUT/live.key"
kill -HUP "$LMD_PID"
reloaded 3
check "a key that does not match the certificate fails the reload" \
    grep -q "reload failed.*live.key.*mismatch" "$OUT/logs/error.log"
expect_eq "after the mismatched key the previous certificate is served" \
    "$(served_serial)" "$NEW_SERIAL"

lmd_stop
expect_eq "lmd stops with status 0" "$LMD_STATUS" 0

finish
