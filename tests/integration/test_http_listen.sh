#!/bin/bash
# Several listeners at once, IPv4 and IPv6 (RFC 3986 bracketed literal in
# the config and the URL): every configured address serves, nothing else.
. tests/integration/lib.sh

PORT6=$(free_port)
lmd_config <<YAML
http:
  listen:
    - "127.0.0.1:$PORT"
    - "[::1]:$PORT6"
  html: html
YAML
echo '<p>hello</p>' > "$OUT/html/index.html"

if ! grep -q '00000000000000000000000000000001 .* lo' /proc/net/if_inet6 \
     2>/dev/null; then
    lmd_start
    skip "IPv6 listener serves" "this machine has no IPv6 loopback (::1)"
    lmd_stop
    finish
fi

lmd_start
expect_eq "IPv4 listener serves /health" "$(http_status /health)" 200
expect_eq "IPv6 listener serves /health" \
    "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -g \
       "http://[::1]:$PORT6/health")" 200
expect_eq "IPv6 listener serves the page" \
    "$(curl -s --max-time 5 -g "http://[::1]:$PORT6/")" "<p>hello</p>"
check "the IPv4 port is not bound on IPv6 (IPV6_V6ONLY, exact addresses)" \
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -g \
         "http://[::1]:$PORT/health")" = 000 ]
check "the error log names both listeners" \
    grep -q "listening on \[::1\]:$PORT6" "$OUT/logs/error.log"
lmd_stop
expect_eq "exits 0 after SIGTERM" "$LMD_STATUS" 0
finish
