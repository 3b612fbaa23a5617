#!/bin/bash
# test_api_concurrency.sh -- 64 simultaneous streaming chat clients
# against lmd serving stories260K (node/concurrency.mjs): each stream
# complete and well-formed, each text the same when the request later
# runs alone (batching must not change greedy results), and /metrics
# back at 0 running requests and 0 KV blocks in use afterwards.
. tests/integration/lib.sh
. tests/integration/lib_model.sh
. tests/integration/lib_api.sh

need_node
need_stories

# 64 sequences of at most ~90 tokens: 6,000 token slots, well inside the
# pool; the default scheduler (128 sequences) takes them all at once.
lmd_config <<YAML
models:
  - name: stories
    path: $STORIES
    engine: cpu
    threads: 2
    kv_cache: {block_size: 16, kv_blocks: 1024}
modules_path: $MODULES
YAML
lmd_start && wait_ready || finish

run_node concurrency.mjs stories

lmd_stop
expect_eq "lmd stops with status 0" "$LMD_STATUS" 0
finish
