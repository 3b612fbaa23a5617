#!/bin/sh
# tests/gpu/run.sh -- builds the GPU kernel checks with nvcc and runs them
# (on a machine with a GPU).  Usage: sh tests/gpu/run.sh [-c]  (-c: check
# only, no timing).  Objects go to ${GPU_OBJS:-/tmp/lmd-gpu}.
set -e
cd "$(dirname -- "$0")/../.."
o=${GPU_OBJS:-/tmp/lmd-gpu}
mkdir -p "$o"
arch=${CUDA_GENCODE:-"-gencode arch=compute_90a,code=sm_90a
    -gencode arch=compute_80,code=sm_80"}
for f in lmd_awq lmd_dtype; do
    cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Iengine \
        -c engine/$f.c -o "$o/$f.o"
done
# shellcheck disable=SC2086
nvcc -O3 -std=c++17 -lineinfo $arch -Xptxas -v -Xcompiler -fopenmp \
    -Iengine -Imodules/cuda-awq \
    tests/gpu/awq_gemv_check.cu modules/cuda-awq/awq_gemv.cu \
    "$o/lmd_awq.o" "$o/lmd_dtype.o" -o "$o/awq_gemv_check" \
    2>"$o/ptxas.txt" || { cat "$o/ptxas.txt"; exit 1; }
grep -E 'registers|spill' "$o/ptxas.txt" | sort | uniq -c | head -8
"$o/awq_gemv_check" "$@"
