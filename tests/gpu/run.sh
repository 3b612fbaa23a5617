#!/bin/sh
# tests/gpu/run.sh -- builds the GPU kernel checks with nvcc and runs them
# on a machine with a GPU.
#
# Usage: sh tests/gpu/run.sh [-c] [-b|-n] [NAME...]
#   -c    check only, no timing (passed on to each check as -c)
#   -b    build only
#   -n    no build: run what an earlier -b left in GPU_OBJS (build on a
#         machine with nvcc and the libraries, run on the GPU machine)
#   NAME  run only these checks (tests/gpu/NAME_check.cu); default all
#
# Each tests/gpu/NAME_check.cu is one program.  A line
#     // sources: modules/cuda-awq/a.cu engine/lmd_awq.c ...
# in it names what it links besides itself (.c files are compiled with
# cc), and a line "// libs: -lfoo" the libraries.  Every check prints
# its own lines and exits 0 only if all its
# checks passed; this script prints a summary and fails if one failed.
# Objects go to ${GPU_OBJS:-/tmp/lmd-gpu}.
set -e
cd "$(dirname -- "$0")/../.."
o=${GPU_OBJS:-/tmp/lmd-gpu}
mkdir -p "$o"
arch=${CUDA_GENCODE:-"-gencode arch=compute_90a,code=sm_90a"}
copt=
build_only=0
no_build=0
while [ $# -gt 0 ]; do
    case $1 in
    -c) copt=-c ;;
    -b) build_only=1 ;;
    -n) no_build=1 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
    shift
done
if [ $# -eq 0 ]; then
    set --
    for f in tests/gpu/*_check.cu; do
        n=${f##*/}
        set -- "$@" "${n%_check.cu}"
    done
fi

build() {
    name=$1
    src=tests/gpu/${name}_check.cu
    [ -f "$src" ] || { echo "run.sh: no $src" >&2; return 1; }
    objs=
    for s in $(sed -n 's,^// sources: ,,p' "$src"); do
        b=$(echo "$s" | tr / _)
        case $s in
        *.c)
            cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Iengine \
                -Imodules/int8-kv -I/usr/include/cjson -c "$s" \
                -o "$o/$b.o" ;;
        *.cu)
            # shellcheck disable=SC2086
            nvcc -O3 -std=c++17 -lineinfo $arch -Xptxas -v -Iengine \
                -Imodules/cuda-awq -Imodules/int8-kv -c "$s" -o "$o/$b.o" \
                2>"$o/$b.ptxas" || { cat "$o/$b.ptxas"; return 1; }
            grep -E 'spill' "$o/$b.ptxas" | grep -v ' 0 bytes spill' \
                | sort | uniq -c | head -4 ;;
        esac
        objs="$objs $o/$b.o"
    done
    # shellcheck disable=SC2086
    nvcc -O3 -std=c++17 -lineinfo $arch -Xcompiler -fopenmp -Iengine \
        -Imodules/cuda-awq -Imodules/int8-kv "$src" $objs -lcublas \
        $(sed -n 's,^// libs: ,,p' "$src") -o "$o/$name" || return 1
}

failed=
for name in "$@"; do
    echo "== build $name"
    if [ $no_build = 0 ] && ! build "$name"; then
        failed="$failed $name(build)"
        continue
    fi
    [ $build_only = 1 ] && continue
    echo "== run $name $copt"
    if ! "$o/$name" $copt; then
        failed="$failed $name"
    fi
done
if [ -n "$failed" ]; then
    echo "== FAILED:$failed"
    exit 1
fi
echo "== all passed: $*"
