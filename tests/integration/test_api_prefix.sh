#!/bin/bash
# test_api_prefix.sh -- the prefix cache through the API
# (node/prefix.mjs): in a two-turn chat with a long system prompt and
# kv_cache block_size 16, turn 2 reports cached_tokens (a non-zero
# multiple of 16), lmd_prefix_cache_hit_tokens_total grows by as much,
# and turn 2's time to first token is lower than turn 1's, from the
# stream and from /metrics' TTFT histogram.  The same model served with
# prefix_cache off is the control: cached_tokens 0, the same answers.
. tests/integration/lib.sh
. tests/integration/lib_model.sh
. tests/integration/lib_api.sh

need_node
need_stories

# entry NAME PREFIX_CACHE: stories260K with 16-token blocks.
entry() {
    printf '  - name: %s\n    path: %s\n    engine: cpu\n' "$1" "$STORIES"
    printf '    threads: 1\n    kv_cache: {block_size: 16, kv_blocks: 512}\n'
    printf '    prefix_cache: %s\n' "$2"
}

lmd_config <<YAML
models:
$(entry stories on)
$(entry stories_nocache off)
modules_path: $MODULES
YAML
lmd_start && wait_ready || finish

run_node prefix.mjs stories stories_nocache 16 7

lmd_stop
expect_eq "lmd stops with status 0" "$LMD_STATUS" 0
finish
