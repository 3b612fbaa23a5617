#!/bin/bash
# tests/bench/cpu.sh -- `make bench-cpu`: the cpu engine's decode and
# prompt tokens/s with random (dummy) weights, next to the memory-
# bandwidth floor, and (with LLAMA_BENCH) its ratio to llama.cpp.
#
#   bash tests/bench/cpu.sh [OPTIONS]
#   make bench-cpu [BENCH_ARGS='--rounds 5 --shapes tinyllama-1.1b']
#
# Options:
#   --shapes "A B"     shape folders under LMD_SHARED/models/shapes
#                      (default: qwen2.5-0.5b tinyllama-1.1b)
#   --weights "W..."   lmd's weight dtypes (default: f32 bf16 int8)
#   -t, --threads N    threads for both programs (default 2)
#   -p, --prompt N     prompt tokens (default 128)
#   -n, --gen N        decoded tokens (default 64)
#   -r, --reps N       timed repetitions per run, best kept (default 3)
#   --rounds N         alternating lmd / llama.cpp rounds (default 3)
#   --no-peer          only lmd's own table
#   --peer-only        only the llama.cpp comparison
#
# Part 1 runs objs/tests/tools/lmd_bench_cpu once per shape and dtype
# with the shape's own vocabulary: decode tokens/s (64 tokens one at a
# time after the prompt), the floor (weight bytes read per decoded token
# / read bandwidth measured in the same process) and their ratio, prompt
# tokens/s (128 tokens in one forward).  The JSON lines go to
# objs/bench/cpu.jsonl.
#
# Part 2, when LLAMA_BENCH names a llama-bench binary and LLAMA_MODELS a
# folder of GGUF files named SHAPE-F16.gguf and SHAPE-Q8_0.gguf, runs lmd
# (with --vocab LLAMA_VOCAB, default 32000, the GGUF files' vocabulary)
# and `llama-bench -t T -p P -n N -r R` back to back, alternating which
# goes first, for lmd bf16 vs F16 and lmd int8 vs Q8_0.  This machine's
# memory bandwidth swings about 2x from one moment to the next, so only
# runs next to each other compare: each round prints lmd/llama.cpp for
# decode and prompt (above 1: lmd is faster), and the summary gives the
# median of the rounds' ratios and the ratio of the bests.  llama-bench's
# decode (tg) starts from an empty cache, lmd's after the prompt.
#
# The peer is not part of lmd and nothing here builds it.  The figures in
# issue 4's note came from llama.cpp c392e5094 (2025-02-20), built with
#   cmake -B build -DCMAKE_BUILD_TYPE=Release   (GGML_NATIVE: -march=native,
#   OpenMP) && cmake --build build -t llama-bench llama-quantize
# and GGUF files with random F16 weights in the shapes of the shapes'
# config.json (vocab 32000; qwen2.5-0.5b as arch "qwen2" with tied
# embeddings, tinyllama-1.1b as "llama"; a minimal SentencePiece vocab in
# the metadata) written by a small Python script, then
#   llama-quantize SHAPE-F16.gguf SHAPE-Q8_0.gguf Q8_0
#
# Environment: LMD_OBJS (objs), LMD_SHARED (../shared), LMD_MODULES
# (modules: where lmd_engine_cpu.so is), LLAMA_BENCH, LLAMA_MODELS,
# LLAMA_VOCAB.  This is a benchmark, not a test: it exits 0 whatever the
# numbers say, 1 when the tool is not built or no run works.

if [ -z "${BASH_VERSION:-}" ]; then
    exec bash "$0" "$@"
fi
set -u
case $0 in */*) cd "${0%/*}/../.." || exit 1 ;; *) cd ../.. || exit 1 ;; esac

LMD_OBJS=${LMD_OBJS:-objs}
LMD_SHARED=${LMD_SHARED:-../shared}
LMD_MODULES=${LMD_MODULES:-modules}
LLAMA_BENCH=${LLAMA_BENCH:-}
LLAMA_MODELS=${LLAMA_MODELS:-}
LLAMA_VOCAB=${LLAMA_VOCAB:-32000}
BENCH=$LMD_OBJS/tests/tools/lmd_bench_cpu

shapes="qwen2.5-0.5b tinyllama-1.1b"
weights="f32 bf16 int8"
threads=2
prompt=128
gen=64
reps=3
rounds=3
own=1
peer=1

usage() {
    sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
}

need() {
    if [ $# -lt 2 ] || [ -z "$2" ]; then
        echo "cpu.sh: $1 needs a value" >&2
        exit 2
    fi
}

while [ $# -gt 0 ]; do
    case $1 in
        --shapes)       need "$@"; shapes=$2; shift 2 ;;
        --weights)      need "$@"; weights=$2; shift 2 ;;
        -t|--threads)   need "$@"; threads=$2; shift 2 ;;
        -p|--prompt)    need "$@"; prompt=$2; shift 2 ;;
        -n|--gen)       need "$@"; gen=$2; shift 2 ;;
        -r|--reps)      need "$@"; reps=$2; shift 2 ;;
        --rounds)       need "$@"; rounds=$2; shift 2 ;;
        --no-peer)      peer=0; shift ;;
        --peer-only)    own=0; shift ;;
        -h|--help)      usage; exit 0 ;;
        *)              echo "cpu.sh: unknown option $1 (-h for help)" >&2
                        exit 2 ;;
    esac
done
for v in "$threads" "$prompt" "$gen" "$reps" "$rounds"; do
    case $v in
        ''|*[!0-9]*) echo "cpu.sh: not a number: $v" >&2; exit 2 ;;
    esac
done

if [ ! -x "$BENCH" ]; then
    echo "bench-cpu: $BENCH is not built (make build-tests)"
    exit 1
fi
if [ ! -r "$LMD_MODULES/lmd_engine_cpu.so" ]; then
    echo "bench-cpu: no $LMD_MODULES/lmd_engine_cpu.so (make modules)"
    exit 1
fi
mkdir -p "$LMD_OBJS/bench"
jsonl=$LMD_OBJS/bench/cpu.jsonl
: > "$jsonl"
worked=0

# jnum JSON KEY: the number after "KEY": in a one-line JSON object.
jnum() {
    printf '%s\n' "$1" |
        sed -n 's/.*"'"$2"'": *\([-0-9.eE+]*\).*/\1/p' | head -n 1
}

# lmd_run SHAPE WEIGHTS [TOOL ARGS]: sets LMD_JSON to the tool's JSON
# line and LMD_OUT to the rest of its output (stderr too), which it
# prints unless QUIET=1; 1 if it failed.
lmd_run() {
    local shape=$1 w=$2 out
    shift 2
    out=$("$BENCH" --model "$LMD_SHARED/models/shapes/$shape" \
              --weights "$w" --threads "$threads" --prompt "$prompt" \
              --gen "$gen" --reps "$reps" --modules "$LMD_MODULES" \
              --json "$@" 2>&1)
    LMD_JSON=$(printf '%s\n' "$out" | grep '^{' | tail -n 1)
    LMD_OUT=$(printf '%s\n' "$out" | grep -v '^{')
    if [ "${QUIET:-0}" != 1 ]; then
        printf '%s\n' "$LMD_OUT" | sed 's/^/  /'
    fi
    [ -n "$LMD_JSON" ] || return 1
    printf '%s\n' "$LMD_JSON" >> "$jsonl"
    return 0
}

# llama_run GGUF: sets LL_TG and LL_PP (best of llama-bench's samples,
# tokens/s); 1 if it failed.
llama_run() {
    local out
    out=$("$LLAMA_BENCH" -m "$1" -t "$threads" -p "$prompt" -n "$gen" \
              -r "$reps" -o jsonl 2>> "$LMD_OBJS/bench/llama-bench.log")
    LL_PP=$(printf '%s\n' "$out" | llama_best '"n_gen": 0,')
    LL_TG=$(printf '%s\n' "$out" | llama_best '"n_prompt": 0,')
    [ -n "$LL_PP" ] && [ -n "$LL_TG" ]
}

# llama_best PATTERN: the largest of samples_ts (else avg_ts) on the
# line of llama-bench's jsonl that contains PATTERN.
llama_best() {
    awk -v pat="$1" '
    index($0, pat) {
        s = $0
        if (match(s, /"samples_ts": *\[[^]]*\]/)) {
            s = substr(s, RSTART, RLENGTH)
            sub(/.*\[/, "", s)
            sub(/\].*/, "", s)
            n = split(s, v, /[ ,]+/)
            best = 0
            for (i = 1; i <= n; i++) {
                if (v[i] != "" && v[i] + 0 > best) {
                    best = v[i] + 0
                }
            }
            printf "%.2f\n", best
        } else if (match(s, /"avg_ts": *[0-9.]+/)) {
            s = substr(s, RSTART, RLENGTH)
            sub(/.*: */, "", s)
            printf "%.2f\n", s
        }
        exit
    }'
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
}

median() {
    tr ' ' '\n' | grep -v '^$' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
              if (NR % 2) { printf "%.2f", v[(NR + 1) / 2] }
              else { printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 } }'
}

echo "bench-cpu: $(grep -m 1 'model name' /proc/cpuinfo 2>/dev/null |
    sed 's/.*: //'), $(nproc) cores online; $threads threads, prompt" \
    "$prompt, decode $gen, best of $reps"

# ------------------------------------------------------- part 1: lmd alone

if [ "$own" = 1 ]; then
    echo
    echo "lmd, dummy weights, each shape's own vocabulary (floor: weight" \
         "bytes per decoded token / best read bandwidth in the same run;"
    echo "local: decode vs the bandwidth measured next to it):"
    for shape in $shapes; do
        if [ ! -r "$LMD_SHARED/models/shapes/$shape/config.json" ]; then
            echo "  $shape: skipped, no $LMD_SHARED/models/shapes/$shape"
            continue
        fi
        for w in $weights; do
            if lmd_run "$shape" "$w"; then
                worked=1
            fi
        done
    done
fi

# --------------------------------------------------- part 2: vs llama.cpp

if [ "$peer" = 1 ] && { [ -z "$LLAMA_BENCH" ] || [ -z "$LLAMA_MODELS" ]; }
then
    echo
    echo "no llama.cpp comparison: set LLAMA_BENCH=/path/to/llama-bench and" \
         "LLAMA_MODELS=DIR"
    echo "(DIR/SHAPE-F16.gguf, DIR/SHAPE-Q8_0.gguf; see bash" \
         "tests/bench/cpu.sh -h for how the peer was built)"
    peer=0
fi
if [ "$peer" = 1 ] && [ ! -x "$LLAMA_BENCH" ]; then
    echo
    echo "no llama.cpp comparison: $LLAMA_BENCH is not executable"
    peer=0
fi

summary=()
if [ "$peer" = 1 ]; then
    echo
    echo "lmd (vocab $LLAMA_VOCAB) vs llama.cpp, alternating, $rounds" \
         "rounds (ratio above 1: lmd is faster):"
    for shape in $shapes; do
        for pair in "bf16 F16" "int8 Q8_0"; do
            w=${pair% *}
            q=${pair#* }
            gguf=$LLAMA_MODELS/$shape-$q.gguf
            if [ ! -r "$gguf" ]; then
                echo "  $shape $w vs $q: skipped, no $gguf"
                continue
            fi
            echo "  $shape: lmd $w vs llama.cpp $q"
            dr=
            pr=
            best_ld=0 best_lp=0 best_cd=0 best_cp=0
            for ((i = 1; i <= rounds; i++)); do
                LMD_JSON=
                LMD_OUT=
                LL_TG=
                LL_PP=
                if ((i % 2)); then
                    QUIET=1 lmd_run "$shape" "$w" --vocab "$LLAMA_VOCAB"
                    llama_run "$gguf"
                else
                    llama_run "$gguf"
                    QUIET=1 lmd_run "$shape" "$w" --vocab "$LLAMA_VOCAB"
                fi
                ld=$(jnum "$LMD_JSON" decode_tps)
                lp=$(jnum "$LMD_JSON" prompt_tps)
                if [ -z "$ld" ] || [ -z "$LL_TG" ]; then
                    echo "    round $i: failed; lmd said:"
                    printf '%s\n' "${LMD_OUT:-}" | sed 's/^/      /'
                    [ -n "$LL_TG" ] ||
                        echo "      llama-bench: no figures, see" \
                             "$LMD_OBJS/bench/llama-bench.log"
                    continue
                fi
                worked=1
                rd=$(ratio "$ld" "$LL_TG")
                rp=$(ratio "$lp" "$LL_PP")
                dr="$dr $rd"
                pr="$pr $rp"
                printf '    round %d: lmd decode %6.1f prompt %6.1f |' \
                       "$i" "$ld" "$lp"
                printf ' llama.cpp decode %6.1f prompt %6.1f |' \
                       "$LL_TG" "$LL_PP"
                printf ' ratio decode %s prompt %s  (lmd floor %.2f,' \
                       "$rd" "$rp" "$(jnum "$LMD_JSON" floor_ratio)"
                printf ' bw %s GB/s)\n' \
                       "$(printf '%.1f' "$(jnum "$LMD_JSON" bw_gbs)")"
                best_ld=$(awk -v a="$best_ld" -v b="$ld" \
                              'BEGIN { print (b > a ? b : a) }')
                best_lp=$(awk -v a="$best_lp" -v b="$lp" \
                              'BEGIN { print (b > a ? b : a) }')
                best_cd=$(awk -v a="$best_cd" -v b="$LL_TG" \
                              'BEGIN { print (b > a ? b : a) }')
                best_cp=$(awk -v a="$best_cp" -v b="$LL_PP" \
                              'BEGIN { print (b > a ? b : a) }')
            done
            [ -n "$dr" ] || continue
            line=$(printf '%-15s %-4s %-5s %7.1f %7.1f %5s %5s' \
                "$shape" "$w" "$q" "$best_ld" "$best_cd" \
                "$(ratio "$best_ld" "$best_cd")" \
                "$(printf '%s' "$dr" | median)")
            line+=$(printf '   %7.1f %7.1f %5s %5s' \
                "$best_lp" "$best_cp" "$(ratio "$best_lp" "$best_cp")" \
                "$(printf '%s' "$pr" | median)")
            summary+=("$line")
        done
    done
    if [ ${#summary[@]} -gt 0 ]; then
        echo
        echo "summary (tokens/s, best of the rounds; ratio: of the bests;" \
             "median: of the rounds' ratios):"
        printf '%-15s %-4s %-5s %7s %7s %5s %5s   %7s %7s %5s %5s\n' \
            shape lmd peer "decode" "llama" ratio median \
            "prompt" "llama" ratio median
        printf '%s\n' "${summary[@]}"
    fi
fi

echo
echo "JSON lines: $jsonl"
if [ "$worked" = 0 ]; then
    echo "bench-cpu: no run worked"
    exit 1
fi
exit 0
