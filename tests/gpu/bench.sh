#!/bin/sh
# tests/gpu/bench.sh -- issue 6's benchmarks of the cuda-awq engine on a
# GPU machine, each printed as a ratio:
#
#   decode  batch-1 decode of each shape (tests/gpu/bench_decode.c):
#           tokens/s over the bandwidth floor (weights + KV bytes a token
#           over the copy bandwidth measured there and over 4276 GB/s);
#   serve   llama-2-7b f16 and AWQ behind the daemon (tests/gpu/serve.sh,
#           1000 requests at once): generated tokens/s, and the run's
#           compute floor (every prefill and decode FLOP over 784 TFLOP/s)
#           over its duration;
#   peer    transformers eager on the same GPU and lengths
#           (tests/gpu/hf_peer.py): lmd's f16 serving over it (run after
#           serve in the same call).
#
# Usage: sh tests/gpu/bench.sh [decode] [serve] [peer]   (default: all)
# Needs objs/lmd, modules/*.so and $GPU_OBJS/bench_decode built (make;
# tests/gpu/all.sh build); LMD_SHARED (default ../shared).  Serving
# reports land in ${BENCH_OUT:-/tmp/lmd-bench}.
set -e
cd "$(dirname -- "$0")/../.."
[ $# -gt 0 ] || set -- decode serve peer
export LMD_SHARED=${LMD_SHARED:-../shared}
obj=${GPU_OBJS:-$PWD/.devbin}
out=${BENCH_OUT:-/tmp/lmd-bench}
shapes=${BENCH_SHAPES:-"llama-2-7b llama-2-7b-awq qwen2.5-1.5b qwen2.5-7b internlm2-chat-1.8b"}
mkdir -p "$out"

for part in "$@"; do
    case $part in
    decode)
        echo "== batch-1 decode (prompt 128, 256 new), share of the floor"
        for s in $shapes; do
            "$obj/bench_decode" --model "$LMD_SHARED/models/shapes/$s" \
                --batch 1 --prompt 128 --gen 256 --reps 3
        done ;;
    serve)
        echo "== serving, 1000 requests at once (inputs 200-312, 256 out)"
        for s in llama-2-7b llama-2-7b-awq; do
            sh tests/gpu/serve.sh "$s" 1000 > "$out/serve-$s.json"
            python3 - "$LMD_SHARED/models/shapes/$s/config.json" \
                "$out/serve-$s.json" "$s" <<'EOP'
import json, sys
cfg, rep = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
h, i, L = cfg["hidden_size"], cfg["intermediate_size"], \
    cfg["num_hidden_layers"]
heads = cfg["num_attention_heads"]
kv = cfg.get("num_key_value_heads", heads) * (h // heads)
# matrix FLOPs a token: q, o (h x h), k, v (h x kv), gate, up, down,
# lm_head; attention 4 h FLOPs a layer per attended position
mat = 2 * (L * (2 * h * h + 2 * h * kv + 3 * h * i)
           + cfg["vocab_size"] * h)
n = rep["num_requests"]
lin = rep["total_input_tokens"] / n
lout = rep["total_output_tokens"] / n
tokens = rep["total_input_tokens"] + rep["total_output_tokens"]
# mean attended positions: prompt tokens ~lin / 2, output ~lin + lout / 2
att = 4 * L * h * n * (lin * lin / 2 + lout * (lin + lout / 2))
floor = (mat * tokens + att) / 784e12
print("%s: %d of %d done, %.1f s, %.0f generated tok/s, TTFT median "
      "%.0f ms, TPOT median %.1f ms; compute floor %.1f s = %.3f of it"
      % (sys.argv[3], rep["completed"], n, rep["duration"],
         rep["output_throughput"], rep["median_ttft_ms"],
         rep["median_tpot_ms"], floor, floor / rep["duration"]))
EOP
        done ;;
    peer)
        echo "== peer: transformers eager, batch 128, 256 in / 256 out"
        python3 tests/gpu/hf_peer.py "$LMD_SHARED/models/shapes/llama-2-7b" \
            128 256 256 | tee "$out/peer.json"
        if [ -f "$out/serve-llama-2-7b.json" ]; then
            python3 -c "
import json, sys
p = json.load(open(sys.argv[1]))
s = json.load(open(sys.argv[2]))
print('lmd f16 serving %.0f tok/s = %.2fx transformers eager (%.0f)'
      % (s['output_throughput'], s['output_throughput']
         / p['generated_tok_s'], p['generated_tok_s']))
" "$out/peer.json" "$out/serve-llama-2-7b.json"
        fi ;;
    *)
        echo "bench.sh: unknown part $part" >&2
        exit 2 ;;
    esac
done
