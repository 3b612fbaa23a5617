#!/bin/bash
# test_web_chat.sh -- the web chat page of html/ in a real browser:
# headless Chromium (Debian's chromium) driven by playwright-core from
# tests/node (node/web_chat.mjs) against lmd serving stories260K and a
# slow dummy model on the cpu engine behind an API key: the key asked
# for, a streamed answer equal to the API's at temperature 0, multi-turn
# history, Stop halfway (and /metrics idle after), regenerate, edit,
# copy, past chats and settings across a reload, Markdown rendered with
# HTML in answers and messages kept as text, 429 / 503 / lost connection
# as readable messages, keyboard and labels, a 375 px phone in light
# and dark.  Screenshots land in this test's output folder.
. tests/integration/lib.sh
. tests/integration/lib_model.sh
. tests/integration/lib_api.sh

need_node
need_browser
need_stories
slow_model "$OUT/slow"

API_KEY=sk-lmd-web-test
lmd_config <<YAML
http:
  listen: ["127.0.0.1:$PORT"]
  html: $TOP/html
  auth:
    api_keys: ["$API_KEY"]
models:
  - name: stories
    path: $STORIES
    engine: cpu
    threads: 1
  - name: slow
    path: $OUT/slow
    engine: cpu
    load_format: dummy
    threads: 1
    kv_cache: {kv_blocks: 128}
modules_path: $MODULES
YAML
lmd_start && wait_ready || finish

# the page's headers: its own scripts only, no sniffing
curl -sS -D "$OUT/page.h" -o /dev/null "http://127.0.0.1:$PORT/"
check "the page comes with a Content-Security-Policy of 'self'" \
    grep -qF "Content-Security-Policy: default-src 'self'; script-src 'self';" \
    "$OUT/page.h"
check "and with X-Content-Type-Options: nosniff" \
    grep -qiF "X-Content-Type-Options: nosniff" "$OUT/page.h"

export LMD_SHOTS=$OUT/screenshots
run_node web_chat.mjs
echo "# screenshots: $OUT/screenshots"

lmd_stop
expect_eq "lmd stops with status 0" "$LMD_STATUS" 0
finish
