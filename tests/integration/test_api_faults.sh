#!/bin/bash
# test_api_faults.sh -- lmd's serving path when clients and the process
# misbehave (node/faults.mjs, raw sockets):
#   (a) a client that disconnects mid-stream, and one that leaves while
#       waiting for a non-streamed answer, free their sequence and KV
#       blocks within a second (/metrics);
#   (b) with max_batch_size 1, a client that leaves while its request is
#       still queued behind a long one: it leaves the queue at once, and
#       the one in front streams on;
#   (c) max_queue 1: the third concurrent request gets 429, Retry-After
#       and OpenAI's error object;
#   (d) queue_timeout 1s behind a long request: 503 with Retry-After;
#   (d') a stream queued behind two long requests gets ": keep-alive"
#       comments until it starts, then streams to its end;
#   (e) SIGTERM with 20 streams running: new connections are refused,
#       every stream still ends with its finish_reason and [DONE], and lmd
#       exits 0.
# The long requests need a model slower than stories260K (lib_api.sh
# slow_model: its tokenizer on a dummy-weight Llama of 12M parameters).
. tests/integration/lib.sh
. tests/integration/lib_model.sh
. tests/integration/lib_api.sh

need_node
need_stories
slow_model "$OUT/slow"

# model NAME SCHEDULER: one models[] entry of the slow model.
model() {
    printf '  - name: %s\n    path: %s/slow\n    engine: cpu\n' "$1" "$OUT"
    printf '    load_format: dummy\n    threads: 1\n'
    printf '    kv_cache: {kv_blocks: 128}\n    scheduler: %s\n' "$2"
}

# ------------------------------------------------- (a) to (d): one daemon

lmd_config <<YAML
models:
$(model slow '{max_batch_size: 1}')
$(model slowq '{max_batch_size: 1, max_queue: 1}')
$(model slowt '{max_batch_size: 1, queue_timeout: 1s}')
modules_path: $MODULES
YAML
lmd_start && wait_ready || finish

run_node faults.mjs cancel slow
run_node faults.mjs queue slowq
run_node faults.mjs timeout slowt
run_node faults.mjs keepalive slow

lmd_stop
expect_eq "lmd stops with status 0" "$LMD_STATUS" 0

# ------------------------------------------------------------ (e) SIGTERM

lmd_config <<YAML
daemon:
  pid: logs/lmd.pid
  error_log: logs/error.log
  log_level: info
  shutdown_timeout: 60s
models:
$(model slow '{max_batch_size: 32}')
modules_path: $MODULES
YAML
lmd_start && wait_ready || finish

run_node faults.mjs sigterm slow
lmd_wait 60
expect_eq "after SIGTERM and its 20 streams lmd exits with status 0" \
    "$LMD_STATUS" 0
finish
