#!/bin/bash
# tests/run.sh -- runs every test tier and prints one summary line.
#
#   LMD_BIN=objs/lmd LMD_OBJS=objs sh tests/run.sh [PATTERN]
#
# Unit test programs (objs/tests/unit/test_*) end with "N passed, N failed,
# N skipped" counting their cases.  Integration scripts (tests/integration/test_*.sh)
# print one line per check: "ok NAME", "not ok NAME: why" or
# "skip NAME: why".  PATTERN, when given, runs only tests whose file name
# contains it.  The last line is the runner's summary,
# "N passed, N failed, N skipped", and the exit status is 1 on any failure.
set -u
cd "$(dirname "$0")/.." || exit 1

export LMD_BIN=${LMD_BIN:-objs/lmd}
export LMD_OBJS=${LMD_OBJS:-objs}
pattern=${1:-}
passed=0 failed=0 skipped=0
failures=()

run_unit() {
    local t=$1 out last p f s=0
    out=$("$t" 2>&1)
    local rc=$?
    last=$(printf '%s\n' "$out" | tail -n 1)
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)? ]]
    then
        p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]} s=${BASH_REMATCH[4]:-0}
    else
        p=0 f=1
    fi
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1     # crashed (a sanitizer report, say) after its summary
    fi
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    printf '%s\n' "$out" | grep '^skip ' | sed 's/^/       /'
    if [ "$f" -ne 0 ]; then
        printf '%s\n' "$out" | grep -v '^ok ' | tail -n 40
        failures+=("$t")
    fi
    echo "unit   $(basename "$t"): $p passed, $f failed, $s skipped"
}

run_integration() {
    local t=$1 out p f s rc
    out=$(timeout 600 bash "$t" 2>&1)
    rc=$?
    p=$(printf '%s\n' "$out" | grep -c '^ok ')
    f=$(printf '%s\n' "$out" | grep -c '^not ok ')
    s=$(printf '%s\n' "$out" | grep -c '^skip ')
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        out="$out"$'\n'"not ok $(basename "$t"): exited with status $rc"
    fi
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    printf '%s\n' "$out" | grep -E '^(not ok|skip) ' | sed 's/^/       /'
    [ "$f" -ne 0 ] && failures+=("$t")
    echo "integ  $(basename "$t" .sh): $p passed, $f failed, $s skipped"
}

for t in "$LMD_OBJS"/tests/unit/test_*; do
    [ -x "$t" ] || continue
    case $(basename "$t") in *"$pattern"*) run_unit "$t" ;; esac
done
for t in tests/integration/test_*.sh; do
    [ -f "$t" ] || continue
    case $(basename "$t") in *"$pattern"*) run_integration "$t" ;; esac
done

if [ ${#failures[@]} -gt 0 ]; then
    echo "failing: ${failures[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
