#!/bin/bash
# tests/bench/tokenizer.sh -- `make bench-tokenizer`: lmd's tokenizer speed
# per model family, one thread, and (with --hf) its ratio to Hugging Face
# `tokenizers` on the same text.
#
#   bash tests/bench/tokenizer.sh [--hf HF.tsv] [lmd_bench_tokenizer ARGS]
#   make bench-tokenizer [HF=HF.tsv] [BENCH_ARGS='-r 5 gpt2 llama3']
#
# Runs objs/tests/tools/lmd_bench_tokenizer, which makes the ~10 MB mixed
# text objs/bench/mixed.txt and prints MB/s, tokens/s and token counts for
# encode (whole text), encode-lines and decode; the figures also go to
# objs/bench/lmd.tsv.  HF.tsv is what tests/bench/hf_tokenizers.py prints
# on a machine with `pip install tokenizers`, or tests/bench/
# hf_tokenizers.js with the npm package (run either on the same
# objs/bench/mixed.txt); then a second table shows lmd/HF for each figure
# (above 1: lmd is faster) and whether the token counts agree.
#
# The fixtures are LMD_SHARED/fixtures/tokenizers (LMD_SHARED defaults to
# ../shared).  This is a benchmark, not a test: it exits 0 whatever the
# numbers say, 1 when the tool is not built or no tokenizer loads.

if [ -z "${BASH_VERSION:-}" ]; then
    exec bash "$0" "$@"
fi
set -u
case $0 in */*) cd "${0%/*}/../.." || exit 1 ;; *) cd ../.. || exit 1 ;; esac

LMD_OBJS=${LMD_OBJS:-objs}
BENCH=$LMD_OBJS/tests/tools/lmd_bench_tokenizer
hf=
args=()
while [ $# -gt 0 ]; do
    case $1 in
        --hf)   hf=${2:-}; shift 2 || { echo "--hf needs a file" >&2; exit 2; } ;;
        --hf=*) hf=${1#--hf=}; shift ;;
        *)      args+=("$1"); shift ;;
    esac
done

if [ ! -x "$BENCH" ]; then
    echo "bench-tokenizer: $BENCH is not built (make build-tests)"
    exit 1
fi
if [ -n "$hf" ] && [ ! -r "$hf" ]; then
    echo "bench-tokenizer: cannot read $hf (the output of" \
         "tests/bench/hf_tokenizers.py)"
    exit 1
fi

mkdir -p "$LMD_OBJS/bench"
tsv=$LMD_OBJS/bench/lmd.tsv
"$BENCH" -o "$LMD_OBJS/bench/mixed.txt" -t "$tsv" "${args[@]}" || exit 1

if [ -z "$hf" ]; then
    echo
    echo "figures in $tsv; for lmd/HF ratios run, where tokenizers is" \
         "installed,"
    echo "  python3 tests/bench/hf_tokenizers.py > hf.tsv"
    echo "or, with npm install --prefix objs/bench/hf tokenizers,"
    echo "  NODE_PATH=objs/bench/hf/node_modules node" \
         "tests/bench/hf_tokenizers.js > hf.tsv"
    echo "(they read $LMD_OBJS/bench/mixed.txt), then: make bench-tokenizer" \
         "HF=hf.tsv"
    exit 0
fi

echo
echo "lmd / HF tokenizers (above 1: lmd is faster), same text:"
awk -F '\t' '
FNR == 1 { next }
FILENAME == ARGV[1] { hf[$2 "\t" $3] = $0; next }
{
    key = $2 "\t" $3
    if (!(key in hf)) {
        next
    }
    split(hf[key], h, "\t")
    if (!header++) {
        printf "%-10s %-13s %10s %10s %7s  %s\n", "family", "mode",
               "lmd MB/s", "HF MB/s", "ratio", "tokens"
    }
    same = ($5 == h[5]) ? "same (" $5 ")" : "DIFFER: lmd " $5 ", HF " h[5]
    printf "%-10s %-13s %10.2f %10.2f %7.2f  %s\n", $2, $3, $7, h[7],
           (h[7] > 0 ? $7 / h[7] : 0), same
}
END {
    if (!header) {
        print "  (no family and mode in both files)"
    }
}' "$hf" "$tsv"
