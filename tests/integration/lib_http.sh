# tests/integration/lib_http.sh -- helpers the HTTP protocol tests share,
# sourced after lib.sh (which stays protocol-blind): the raw client, header
# and JSON readers, and the OpenAI error-object check.

REQS=$TOP/tests/integration/http        # raw requests, CRLF as sent
RAWHTTP=$LMD_OBJS/tests/tools/lmd_rawhttp
if [ ! -x "$RAWHTTP" ]; then            # not built by make: build it here
    RAWHTTP=$OUT/lmd_rawhttp
    if ! "${CC:-cc}" -std=c11 -O1 -o "$RAWHTTP" \
            "$TOP/tests/tools/lmd_rawhttp.c" 2>"$OUT/rawhttp.log"; then
        fail "lmd_rawhttp builds" "see $OUT/rawhttp.log"
        finish
    fi
fi

# raw ARGS...: tests/tools/lmd_rawhttp against this script's lmd.
raw() { "$RAWHTTP" --port "$PORT" "$@"; }

# expect_match NAME GOT REGEX: GOT matches the extended regular expression.
expect_match() {
    if [[ $2 =~ $3 ]]; then ok "$1"; else fail "$1" "got '$2', want /$3/"; fi
}

# get NAME PATH [CURL ARGS...]: one request with curl; its header block
# goes to $OUT/NAME.h and its body to $OUT/NAME.b; prints the status.
get() {
    local name=$1 path=$2
    shift 2
    curl -s --max-time 10 -D "$OUT/$name.h" -o "$OUT/$name.b" \
        -w '%{http_code}' "$@" "$BASE$path"
}

# lower: stdin in lower case (header names and tokens are caseless).
lower() { tr '[:upper:]' '[:lower:]'; }

# hval FILE NAME: the value of header NAME (any case) in the first header
# block of FILE (curl -D output or raw bytes), trimmed; empty if absent.
hval() {
    awk -v want="$2" '
        { sub(/\r$/, "") }
        NR > 1 && $0 == "" { exit }
        NR > 1 && (i = index($0, ":")) > 0 \
            && tolower(substr($0, 1, i - 1)) == tolower(want) {
            v = substr($0, i + 1)
            gsub(/^[ \t]+|[ \t]+$/, "", v)
            print v
            exit
        }' "$1"
}

# json_get FILE PATH: the member at PATH ("error.code", "data.0.id") of the
# JSON in FILE: a string as it is, anything else as JSON ("null", "12"),
# MISSING when absent, INVALID when FILE is not JSON.  python3 or node;
# without either, a rough grep for string, number and null members by
# their last name only.
json_get() {
    local v
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import json, sys
try:
    v = json.load(open(sys.argv[1], encoding="utf-8"))
    for k in sys.argv[2].split("."):
        try:
            v = v[int(k)] if isinstance(v, list) else v[k]
        except (KeyError, IndexError, TypeError, ValueError):
            v = KeyError
            break
except ValueError:
    v = ValueError
print("MISSING" if v is KeyError else "INVALID" if v is ValueError
      else v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
    elif command -v node >/dev/null 2>&1; then
        node -e 'let v;
try { v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); }
catch (e) { console.log("INVALID"); process.exit(0); }
for (const k of process.argv[2].split(".")) {
    if (v === null || typeof v !== "object" || !(k in v)) {
        console.log("MISSING");
        process.exit(0);
    }
    v = v[k];
}
console.log(typeof v === "string" ? v : JSON.stringify(v));' "$1" "$2"
    else
        v=$(grep -o "\"${2##*.}\": *\(\"[^\"]*\"\|null\|[0-9.-]*\)" "$1" \
            | head -n 1 \
            | sed 's/^[^:]*: *//; s/^"\(.*\)"$/\1/')
        echo "${v:-MISSING}"
    fi
}

# check_error_json NAME FILE [CODE]: FILE holds OpenAI's error object,
# {"error":{"message":...,"type":...,"param":...,"code":...}}: message and
# type are set, param and code are present (null allowed), and code is
# CODE when one is given.
check_error_json() {
    local what=$1 file=$2 code=${3:-} m t p c
    m=$(json_get "$file" error.message)
    t=$(json_get "$file" error.type)
    p=$(json_get "$file" error.param)
    c=$(json_get "$file" error.code)
    if [ "$m" = INVALID ]; then
        fail "$what" "not JSON: $(head -c 200 "$file")"
    elif [ -z "$m" ] || [ "$m" = MISSING ] || [ "$m" = null ]; then
        fail "$what" "no error.message in $(head -c 200 "$file")"
    elif [ -z "$t" ] || [ "$t" = MISSING ] || [ "$t" = null ]; then
        fail "$what" "no error.type in $(head -c 200 "$file")"
    elif [ "$p" = MISSING ] || [ "$c" = MISSING ]; then
        fail "$what" "no error.param or error.code in $(head -c 200 "$file")"
    elif [ -n "$code" ] && [ "$c" != "$code" ]; then
        fail "$what" "error.code is '$c', want '$code'"
    else
        ok "$what"
    fi
}

# is_json_type VALUE: a Content-Type of application/json (parameters ok).
is_json_type() {
    [ "$(printf '%s' "${1%%;*}" | lower)" = application/json ]
}

# body_size FILE: its size in bytes.
body_size() { wc -c < "$1" | tr -d ' '; }

# body_of FILE: the bytes after the first header block of a raw response.
body_of() { awk 'f { print } /^\r?$/ { f = 1 }' "$1"; }

# not_grep TEXT FILE: FILE does not contain TEXT.
not_grep() { ! grep -qF -- "$1" "$2"; }
