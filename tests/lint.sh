#!/bin/sh
#
# tests/lint.sh -- the look checker of STYLE.md #21 (`make lint`).
#
# Checks every *.c and *.h under daemon/, engine/, modules/ and tests/
# (objs/, third-party llhttp sources and the tests' output in tests/out/,
# where *.h are saved HTTP headers, excluded) for:
#   - lines longer than 80 columns (UTF-8 characters count one each),
#   - tab characters,
#   - banned calls: sprintf, vsprintf, strcpy, atoi, strtok, gets
#     (snprintf, vsnprintf, strtok_r, fgets are fine).  Comments, string
#     and character literals are skipped for this check.
# Prints file:line: problem for each, then a one-line summary; exits 1 if
# anything was found.  Usage: sh tests/lint.sh [FILE...]

LC_ALL=C
export LC_ALL

if [ $# -gt 0 ]; then
    files=$(printf '%s\n' "$@")
else
    cd "$(dirname -- "$0")/.." || exit 1
    files=$(find daemon engine modules tests -type f \
                \( -name '*.c' -o -name '*.h' \) \
                ! -path '*/objs/*' ! -path '*llhttp*' \
                ! -path '*/node_modules/*' ! -path 'tests/out/*' \
                2>/dev/null | sort)
fi

if [ -z "$files" ]; then
    echo "lint: no C files to check"
    exit 0
fi

# The names hold no blanks: split them as words, without globbing.
set -f
# shellcheck disable=SC2086
awk '
function report(what) {
    printf "%s:%d: %s\n", FILENAME, FNR, what
}

# code(line): the line with comments and literals blanked out; in_comment
# carries a /* comment over to the next lines of the same file.
function code(s,    out, i, n, c, d, q) {
    out = ""
    n = length(s)
    i = 1
    while (i <= n) {
        c = substr(s, i, 1)
        d = substr(s, i, 2)
        if (in_comment) {
            if (d == "*/") {
                in_comment = 0
                i += 2
            } else {
                i++
            }
            continue
        }
        if (d == "/*") {
            in_comment = 1
            out = out " "
            i += 2
            continue
        }
        if (d == "//") {
            break
        }
        if (c == "\"" || c == "\047") {
            q = c
            i++
            while (i <= n && substr(s, i, 1) != q) {
                if (substr(s, i, 1) == "\\") {
                    i++
                }
                i++
            }
            out = out q q
            i++
            continue
        }
        out = out c
        i++
    }
    return out
}

FNR == 1 {
    in_comment = 0
    files++
}

{
    t = $0
    cols = length($0) - gsub(/[\200-\277]/, "", t)
    if (cols > 80) {
        report("line is " cols " columns (max 80)")
        long++
    }

    if (index($0, "\t") > 0) {
        report("tab character (indent with spaces)")
        tabs++
    }

    s = code($0)
    while (match(s, banned_re)) {
        call = substr(s, RSTART, RLENGTH)
        sub(/^[^A-Za-z]/, "", call)
        sub(/[ ]*\($/, "", call)
        report("banned call " call "() (use " better[call] ")")
        banned++
        s = substr(s, RSTART + RLENGTH)
    }
}

BEGIN {
    banned_re = "(^|[^A-Za-z0-9_])(v?sprintf|strcpy|atoi|strtok|gets)[ ]*[(]"
    better["sprintf"] = "snprintf"
    better["vsprintf"] = "vsnprintf"
    better["strcpy"] = "a copy with a length"
    better["atoi"] = "strtol with checks"
    better["strtok"] = "strtok_r or a hand-written scan"
    better["gets"] = "fgets"
}

END {
    bad = long + tabs + banned
    printf "lint: %d files, %d long lines, %d tabs, %d banned calls: %s\n",
        files, long, tabs, banned, (bad ? "FAILED" : "ok")
    exit bad ? 1 : 0
}' $files
