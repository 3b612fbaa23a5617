#!/bin/sh
# tests/gpu/all.sh -- what a GPU machine runs for the cuda-awq engine, in
# one call: the kernel checks against float64 references, the whole-model
# test against the cpu engine, and the benchmarks with their ratios.
#
# Usage: sh tests/gpu/all.sh [-p] [PART...]
#   -p    prebuilt: build nothing (the tree was built on a machine with
#         the libraries and nvcc; its objs/, modules/*.so and .devbin/
#         came along), and take libraries from .devlibs/ if present
#   PART  any of: build checks model daemon bench kv serve peer
#         (default: build checks model daemon bench)
#
# Environment: LMD_SHARED (default ../shared) for the model shapes,
# stories260K and the tokenizers; GPU_OBJS (default .devbin) for the
# kernel checks' programs; BENCH_SHAPES for the decode benchmark's
# shapes.  The parts print their own lines; the script fails if a check
# or the model test fails.
set -e
cd "$(dirname -- "$0")/../.."
prebuilt=0
if [ "$1" = "-p" ]; then
    prebuilt=1
    shift
fi
[ $# -gt 0 ] || set -- build checks model daemon bench
export GPU_OBJS=${GPU_OBJS:-$PWD/.devbin}
export LMD_SHARED=${LMD_SHARED:-../shared}
if [ -d .devlibs ]; then
    export LD_LIBRARY_PATH="$PWD/.devlibs:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
shapes=${BENCH_SHAPES:-"llama-2-7b llama-2-7b-awq qwen2.5-1.5b qwen2.5-7b internlm2-chat-1.8b"}
status=0

for part in "$@"; do
    case $part in
    build)
        [ $prebuilt = 1 ] && continue
        make -j"$(nproc)" objs/lmd modules build-tests
        sh tests/gpu/run.sh -b
        cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Iengine \
            -I/usr/local/cuda/include tests/gpu/bench_decode.c \
            -o "$GPU_OBJS/bench_decode" -L/usr/local/cuda/lib64 \
            -Wl,-rpath,/usr/local/cuda/lib64 -lcudart -ldl -lm ;;
    checks)
        echo "== kernel checks"
        sh tests/gpu/run.sh -n || status=1 ;;
    model)
        echo "== whole models (tests/unit/test_model_cuda.c)"
        LMD_MODULES=modules objs/tests/unit/test_model_cuda || status=1 ;;
    daemon)
        echo "== the daemon over HTTP (tests/gpu/serve_check.py)"
        python3 tests/gpu/serve_check.py || status=1 ;;
    bench)
        echo "== batch-1 decode against the bandwidth floor"
        for s in $shapes; do
            "$GPU_OBJS/bench_decode" --model "$LMD_SHARED/models/shapes/$s" \
                --prompt 128 --gen 256 --reps 2 || status=1
        done ;;
    kv)
        # llama-2-7b at 4k context (4032 prompt + 64 new), the 16-bit
        # cache against int8 and int4 (int8-kv); 64 sequences of 4k do
        # not fit a 16-bit cache next to the f16 weights on one H200, so
        # that cache runs 48 (as do the codecs, to compare)
        echo "== KV codecs: llama-2-7b decode at 4k context"
        kvout=$(mktemp)
        for kv in 16 int8 int4; do
            opt=
            [ $kv = 16 ] || opt="--kv-cache $kv"
            for b in 1 48 64; do
                [ $kv = 16 ] && [ $b = 64 ] && continue
                # shellcheck disable=SC2086
                "$GPU_OBJS/bench_decode" $opt --batch $b \
                    --model "$LMD_SHARED/models/shapes/llama-2-7b" \
                    --prompt 4032 --gen 64 --reps 1 --json >>"$kvout" \
                    || status=1
            done
        done
        grep -v '^{' "$kvout" || true
        python3 tests/gpu/kv_ratios.py <"$kvout" || status=1
        rm -f "$kvout" ;;
    serve)
        echo "== serving (lmd bench, 1000 requests at once)"
        sh tests/gpu/serve.sh llama-2-7b 1000 || status=1
        sh tests/gpu/serve.sh llama-2-7b-awq 1000 || status=1 ;;
    peer)
        echo "== peer: transformers eager, batch 128"
        python3 tests/gpu/hf_peer.py "$LMD_SHARED/models/shapes/llama-2-7b" \
            128 256 256 || status=1 ;;
    *)
        echo "all.sh: unknown part $part" >&2
        exit 2 ;;
    esac
done
exit $status
