#!/bin/bash
# tests/integration/test_http_concurrency.sh -- many clients at once: 200
# connections opened together, each sending 5 keep-alive requests, and 200
# parallel curls fetching a 4 KB static file.  Every response must be
# complete and correct, and the daemon must stay healthy afterwards.

. tests/integration/lib.sh
. tests/integration/lib_http.sh

lmd_config <<'YAML'
models: [{name: t1, path: /x/model, engine: test}]
YAML
# 4 KB of printable bytes, so a short or mangled body shows in the size.
head -c 4096 /dev/urandom | base64 -w 0 | head -c 4096 > "$OUT/html/4k.txt"
lmd_start || finish

# ------------------------------------------- 200 connections x 5 requests

raw concurrent --connections 200 --requests-per-conn 5 --path /health \
    --timeout-ms 20000 > "$OUT/concurrent.txt" 2> "$OUT/concurrent.err"
rc=$?
expect_eq "200 connections x 5 keep-alive requests: every response 200" \
    "$(cat "$OUT/concurrent.txt")" \
    "connections=200 ok=200 failed=0 responses=1000"
expect_eq "200 connections x 5 keep-alive requests: lmd_rawhttp exits 0" \
    "$rc" 0

# ----------------------------------------------- 200 parallel static GETs

mkdir -p "$OUT/parallel"
for i in $(seq 1 200); do
    printf 'url = "%s/4k.txt?n=%d"\noutput = "%s/parallel/%d"\n' \
        "$BASE" "$i" "$OUT" "$i"
done > "$OUT/parallel.curl"
curl -s --no-progress-meter --parallel --parallel-immediate \
    --parallel-max 200 --max-time 30 -w '%{http_code} %{size_download}\n' \
    --config "$OUT/parallel.curl" > "$OUT/parallel.txt"
expect_eq "200 parallel curls of a 4 KB file: 200 responses" \
    "$(wc -l < "$OUT/parallel.txt" | tr -d ' ')" 200
expect_eq "200 parallel curls of a 4 KB file: all 200 with 4096 bytes" \
    "$(grep -c '^200 4096$' "$OUT/parallel.txt")" 200
same=0
for i in $(seq 1 200); do
    if cmp -s "$OUT/parallel/$i" "$OUT/html/4k.txt"; then
        same=$((same + 1))
    fi
done
expect_eq "200 parallel curls of a 4 KB file: every body is the file" \
    "$same" 200

expect_eq "lmd still answers /health after the load" \
    "$(http_status /health)" 200

lmd_stop
expect_eq "exits 0 after SIGTERM" "$LMD_STATUS" 0
finish
