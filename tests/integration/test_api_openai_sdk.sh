#!/bin/bash
# test_api_openai_sdk.sh -- lmd with the official openai SDK as the client
# (openai 6.30.1 from tests/node; node/openai_sdk.mjs): models.list, chat
# and text completions streamed and not (the same text at temperature 0,
# role first, finish_reason last, the usage chunk), n: 2, logprobs, stop
# strings, and the SDK's typed errors for lmd's 404, 400 and 401.  The
# server is lmd serving stories260K on the cpu engine with an API key.
. tests/integration/lib.sh
. tests/integration/lib_model.sh
. tests/integration/lib_api.sh

need_node sdk
need_stories

API_KEY=sk-lmd-sdk-test
lmd_config <<YAML
http:
  listen: ["127.0.0.1:$PORT"]
  html: html
  auth:
    api_keys: ["$API_KEY"]
models:
  - name: stories
    path: $STORIES
    engine: cpu
    threads: 1
modules_path: $MODULES
YAML
lmd_start && wait_ready || finish

run_node openai_sdk.mjs stories

lmd_stop
expect_eq "lmd stops with status 0" "$LMD_STATUS" 0
finish
