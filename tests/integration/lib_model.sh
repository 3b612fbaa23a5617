# tests/integration/lib_model.sh -- what the tests that run models share,
# sourced after lib.sh: where the shared models are, a JSON reader, the
# demo model written into $OUT, and whether this lmd is a debug build.
#
#   . tests/integration/lib.sh
#   . tests/integration/lib_model.sh
#   jget FILE PATH > OUT       # a member of FILE's JSON (see below)
#   make_demo DIR              # lmd demo-model DIR, or fail

SHARED=${LMD_SHARED:-../shared}
case $SHARED in /*) ;; *) SHARED=$TOP/$SHARED ;; esac
STORIES=$SHARED/models/stories260K
MODULES=$TOP/modules                    # the real engine modules

# The JSON reader: python3, else node; JSON= when there is neither.
if command -v python3 >/dev/null 2>&1; then
    JSON=python3
elif command -v node >/dev/null 2>&1; then
    JSON=node
else
    JSON=
fi

# jget FILE PATH: writes the member at PATH ("cases.0.input_ids", "" for
# the whole document) of the JSON in FILE to stdout: a string as its raw
# bytes, anything else as compact JSON ([1,2,3]).  Exit 1 when FILE is not
# JSON or PATH is absent.
jget() {
    if [ "$JSON" = python3 ]; then
        python3 -c 'import json, sys
v = json.load(open(sys.argv[1], encoding="utf-8"))
for k in sys.argv[2].split(".") if sys.argv[2] else []:
    v = v[int(k)] if isinstance(v, list) else v[k]
sys.stdout.write(v if isinstance(v, str)
                 else json.dumps(v, separators=(",", ":")))' "$1" "$2" \
            2>/dev/null
    else
        node -e 'const fs = require("fs");
let v = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const p = process.argv[2];
if (p) for (const k of p.split("."))
    v = v !== null && typeof v === "object"
        ? v[Array.isArray(v) ? +k : k] : undefined;
if (v === undefined) process.exit(1);
process.stdout.write(typeof v === "string" ? v : JSON.stringify(v));' \
            "$1" "$2" 2>/dev/null
    fi
}

# count_ids FILE KEY: how many numbers the array KEY of FILE's JSON holds.
count_ids() {
    jget "$1" "$2" | tr ',' '\n' | grep -c '[0-9]'
}

# same_file NAME A B: ok when files A and B hold the same bytes.
same_file() {
    if cmp -s "$2" "$3"; then
        ok "$1"
    else
        fail "$1" "$(printf 'got %q, want %q' "$(head -c 300 "$2")" \
                     "$(head -c 300 "$3")")"
    fi
}

# differ A B: files A and B differ (for check).
differ() {
    ! cmp -s "$1" "$2"
}

# make_demo DIR [ARGS...]: writes the demo model into DIR; 1 on failure.
make_demo() {
    local dir=$1
    shift
    if "$LMD_BIN" demo-model "$dir" "$@" 2>"$OUT/demo.err"; then
        cat "$OUT/demo.err" >> "$OUT/stderr.log"
        return 0
    fi
    cat "$OUT/demo.err" >> "$OUT/stderr.log"
    fail "lmd demo-model $dir writes the demo model" "$(cat "$OUT/demo.err")"
    return 1
}

# The cpu engine module is built (make modules), or the model runs skip.
have_cpu_engine() {
    [ -f "$MODULES/lmd_engine_cpu.so" ]
}

# 1 (true) for an ASan/UBSan build, where big models are too slow.
is_debug_build() {
    "$LMD_BIN" -v 2>/dev/null | grep -q 'debug build'
}
