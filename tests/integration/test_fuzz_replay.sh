#!/bin/bash
# test_fuzz_replay.sh -- replays the fuzz seeds and the fixed crashers:
# each harness tests/fuzz/fuzz_NAME.c, built without libFuzzer as
# objs/tests/fuzz/fuzz_NAME (tests/fuzz/replay.c), runs every file of
# tests/fuzz/regression/NAME and tests/fuzz/corpus/NAME once.  The
# binary prints "ok fuzz_NAME: FILE" per file; a crash or a failed check
# is reported here with the file it happened on.
. tests/integration/lib.sh

for src in tests/fuzz/fuzz_*.c; do
    [ -f "$src" ] || continue
    name=$(basename "$src" .c)
    bin=$LMD_OBJS/tests/fuzz/$name
    if [ ! -x "$bin" ]; then
        fail "$name" "$bin is not built (make build-tests)"
        continue
    fi
    timeout 300 "$bin" "tests/fuzz/regression/${name#fuzz_}" \
        "tests/fuzz/corpus/${name#fuzz_}" 2>"$OUT/$name.err"
    rc=$?
    if [ $rc -ne 0 ]; then
        fail "$name" "exit status $rc on $(sed -n 's/^# //p' \
            "$OUT/$name.err" | tail -1): $(grep -m 1 -E \
            'ERROR|check failed|runtime error' "$OUT/$name.err")"
    fi
done

finish
