#!/bin/sh
# tests/gpu/serve.sh -- serving throughput of the cuda-awq engine: lmd
# with a load_format dummy model of a shape from ../shared/models/shapes
# and the Llama 2 tokenizer, loaded by `lmd bench` with REQUESTS requests
# sent at once (input lengths around 256, 256 output tokens, ignore_eos).
#
# Usage: sh tests/gpu/serve.sh SHAPE [REQUESTS]   (e.g. llama-2-7b 1000)
# Needs objs/lmd and modules/lmd_engine_cuda_awq.so built; LMD_SHARED
# (default ../shared) holds models/shapes and fixtures/tokenizers;
# LMD_MAX_BATCH (default 256) is the scheduler's max_batch_size and
# LMD_KV_CODEC (default auto) the KV cache's codec (int8, int4).
# Prints lmd bench's JSON report.
set -e
cd "$(dirname -- "$0")/../.."
shape=${1:?usage: serve.sh SHAPE [REQUESTS]}
requests=${2:-1000}
shared=${LMD_SHARED:-../shared}
port=${LMD_PORT:-8199}
dir=/tmp/lmd-serve-$shape
rm -rf "$dir"
mkdir -p "$dir"
cp "$shared/models/shapes/$shape/config.json" "$dir/"
for f in tokenizer.json tokenizer.model tokenizer_config.json; do
    cp "$shared/fixtures/tokenizers/llama2/$f" "$dir/"
done
cat > /tmp/lmd-serve.yaml <<EOC
daemon:
  pid: "off"
  error_log: stderr
  log_level: notice
http:
  listen: [ "127.0.0.1:$port" ]
modules_path: $PWD/modules
models:
  - name: $shape
    path: $dir
    engine: cuda-awq
    load_format: dummy
    kv_cache:
      cache_max_entry_count: 0.9
      codec: ${LMD_KV_CODEC:-auto}
    scheduler:
      max_batch_size: ${LMD_MAX_BATCH:-256}
      max_batched_tokens: 8192
      max_queue: 4096
      queue_timeout: 600s
EOC
objs/lmd -c /tmp/lmd-serve.yaml -p "$PWD" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
i=0
until objs/lmd bench "http://127.0.0.1:$port" --requests 1 \
        --input-len 8 --output-len 2 --quiet >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 240 ] || ! kill -0 $pid 2>/dev/null; then
        echo "serve.sh: the daemon did not come up" >&2
        exit 1
    fi
    sleep 1
done
objs/lmd bench "http://127.0.0.1:$port" --requests "$requests" \
    --concurrency "$requests" --input-len 200:312 --output-len 256 \
    --tokenizer "$dir" --quiet --json
kill $pid
wait $pid 2>/dev/null || true
