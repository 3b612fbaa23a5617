#!/bin/bash
# test_fuzz_replay.sh -- replays the fuzz seeds and the fixed crashers:
# each harness tests/fuzz/fuzz_NAME.c, built without libFuzzer as
# objs/tests/fuzz/fuzz_NAME (tests/fuzz/replay.c), runs every file of
# tests/fuzz/regression/NAME and tests/fuzz/corpus/NAME once, each in a
# child process, and prints "ok", "not ok" or (for a crasher named open-*,
# a bug not fixed yet) "skip" per file.  Here only a replay that could not
# run at all is reported.
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
    if [ $rc -gt 1 ]; then
        fail "$name" "the replay itself failed (status $rc) after $(sed \
            -n 's/^# //p' "$OUT/$name.err" | tail -1); see $OUT/$name.err"
    fi
done

finish
