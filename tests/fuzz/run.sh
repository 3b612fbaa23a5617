#!/bin/bash
# tests/fuzz/run.sh -- `make fuzz`: runs each libFuzzer harness for
# FUZZ_SECONDS (default 60) and prints one line per harness.
#
#   FUZZ_SECONDS=600 bash tests/fuzz/run.sh objs/fuzz/fuzz_NAME...
#
# Harness fuzz_NAME starts from tests/fuzz/corpus/NAME and
# tests/fuzz/regression/NAME (less the open-* crashers of bugs not fixed
# yet, which `make test` reports as skips) and writes what it finds to
# objs/fuzz/corpus/NAME (kept between runs; copy the good ones to
# tests/fuzz/corpus/NAME by hand).  A crash, a sanitizer report, a leak,
# an input slower than 10 s (a hang) or memory past FUZZ_RSS_MB (3072) stops
# the harness and leaves the input in objs/fuzz/crashes/NAME-*; once the
# bug is fixed, move it to tests/fuzz/regression/NAME so that `make test`
# replays it.  The log of each run is objs/fuzz/NAME.log.  Exit status 1
# when any harness failed.
set -u
cd "$(dirname "$0")/../.." || exit 1

secs=${FUZZ_SECONDS:-60}
rss_mb=${FUZZ_RSS_MB:-3072}     # ASan with every fixture tokenizer: ~1.5 GB
failed=()
mkdir -p objs/fuzz/crashes

for bin in "$@"; do
    name=$(basename "$bin")
    name=${name#fuzz_}
    work=objs/fuzz/corpus/$name
    log=objs/fuzz/$name.log
    mkdir -p "$work"
    dirs=("$work")
    [ -d "tests/fuzz/corpus/$name" ] && dirs+=("tests/fuzz/corpus/$name")
    # Fixed crashers seed the run; open-* ones (bugs not fixed yet) would
    # stop it at once, so they stay out.
    for f in tests/fuzz/regression/"$name"/*; do
        case ${f##*/} in
            open-*) ;;
            *) [ -f "$f" ] && cp "$f" "$work/" ;;
        esac
    done

    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb="$rss_mb" \
        -print_final_stats=1 -artifact_prefix="objs/fuzz/crashes/$name-" \
        "${dirs[@]}" >"$log" 2>&1
    rc=$?

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    units=$(sed -n 's/^stat::new_units_added: *//p' "$log")
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
    if [ $rc -eq 0 ]; then
        echo "fuzz $name: ok, ${execs:-?} runs (${rate:-?}/s), ${units:-?}" \
             "new inputs, peak RSS ${rss:-?} MB"
        continue
    fi
    failed+=("$name")
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    echo "fuzz $name: FAILED (status $rc) after ${execs:-?} runs;" \
         "input: ${artifact:-none written}; log: $log"
    grep -m 3 -E 'ERROR: |check failed|runtime error|SUMMARY' "$log" \
        | sed 's/^/    /'
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} harness(es) failed: ${failed[*]}"
    exit 1
fi
echo "fuzz: every harness ran ${secs}s without a failure"
