#!/bin/bash
# tests/integration/test_http_static.sh -- files under http.html: index,
# MIME types, validators and conditional requests (RFC 9110 13), directory
# redirects, 404 pages, and every way out of the root being refused:
# dot-dot segments in any encoding, NUL, symlinks that lead outside.
#
# A marker string sits in files outside html/ (secret.txt and lmd.yaml);
# no response may ever contain it.

. tests/integration/lib.sh
. tests/integration/lib_http.sh

# ------------------------------------------------------------------ helpers
MARKER=LMD-SECRET-6d1f0c
HTML=$OUT/html

# ---------------------------------------------------------------- the tree

printf '<!DOCTYPE html><title>lmd index</title>\n' > "$HTML/index.html"
printf 'body { color: black; }\n' > "$HTML/style.css"
printf 'console.log("lmd");\n' > "$HTML/app.js"
printf '\211PNG\r\n\032\n\000\000\000\rIHDR' > "$HTML/logo.png"
printf 'opaque bytes\n' > "$HTML/blob.xyz"
mkdir -p "$HTML/sub" "$HTML/noindex"
printf '<!DOCTYPE html><title>sub index</title>\n' > "$HTML/sub/index.html"
printf 'listed-file-name\n' > "$HTML/noindex/listed-file-name.txt"
printf '%s\n' "$MARKER" > "$OUT/secret.txt"
ln -s ../secret.txt "$HTML/evil"
ln -s index.html "$HTML/inside-link"
printf 'not for you\n' > "$HTML/noread.txt"
chmod 000 "$HTML/noread.txt"

lmd_config <<YAML
# $MARKER: this file must never be served
models: [{name: t1, path: /x/model, engine: test}]
YAML
lmd_start || finish

# no_marker FILE: FILE holds neither secret.txt nor lmd.yaml.
no_marker() { ! grep -q "$MARKER" "$1"; }

# mime PATH: the Content-Type of a GET of PATH (the body in $OUT/mime.b).
mime() { get mime "$1" >/dev/null; hval "$OUT/mime.h" Content-Type; }

# ------------------------------------------------------------- index, MIME

expect_eq "GET / answers 200" "$(get root /)" 200
check "GET / serves html/index.html" cmp -s "$OUT/root.b" "$HTML/index.html"
expect_match "GET / is text/html" "$(hval "$OUT/root.h" Content-Type)" \
    '^text/html(;|$)'

expect_match "a .css file is text/css" "$(mime /style.css)" '^text/css(;|$)'
expect_match "a .js file is text/javascript (RFC 9239)" "$(mime /app.js)" \
    '^(text|application)/javascript(;|$)'
expect_eq "a .png file is image/png" "$(mime /logo.png)" image/png
check "a .png file is served byte for byte" \
    cmp -s "$OUT/mime.b" "$HTML/logo.png"
expect_eq "an unknown extension is application/octet-stream" \
    "$(mime /blob.xyz)" application/octet-stream

# --------------------------------------------------------------- validators

touch -d '2020-01-02 03:04:05 UTC' "$HTML/style.css"
expect_eq "GET /style.css answers 200" "$(get css /style.css)" 200
etag=$(hval "$OUT/css.h" ETag)
lastmod=$(hval "$OUT/css.h" Last-Modified)
expect_match "200 for a file carries an ETag" "$etag" '^(W/)?"[^"]*"$'
expect_eq "Last-Modified is the file's mtime as an IMF-fixdate" \
    "$lastmod" "Thu, 02 Jan 2020 03:04:05 GMT"

expect_eq "If-None-Match with the current ETag answers 304" \
    "$(get inm /style.css -H "If-None-Match: $etag")" 304
check "304 has no body" test ! -s "$OUT/inm.b"
expect_eq "304 repeats the ETag (RFC 9110 15.4.5)" \
    "$(hval "$OUT/inm.h" ETag)" "$etag"
expect_eq "If-None-Match with a list holding the ETag answers 304" \
    "$(get inm_list /style.css -H "If-None-Match: \"x\", $etag")" 304
expect_eq "If-None-Match: * answers 304 for an existing file" \
    "$(get inm_star /style.css -H 'If-None-Match: *')" 304
expect_eq "If-None-Match with another ETag answers 200" \
    "$(get inm_other /style.css -H 'If-None-Match: "other"')" 200
expect_eq "If-Modified-Since equal to Last-Modified answers 304" \
    "$(get ims /style.css -H "If-Modified-Since: $lastmod")" 304
check "304 for If-Modified-Since has no body" test ! -s "$OUT/ims.b"
expect_eq "If-Modified-Since before the mtime answers 200" \
    "$(get ims_old /style.css \
        -H 'If-Modified-Since: Wed, 01 Jan 2020 00:00:00 GMT')" 200
expect_eq "If-None-Match wins over If-Modified-Since (RFC 9110 13.1.3)" \
    "$(get both /style.css -H 'If-None-Match: "other"' \
        -H "If-Modified-Since: $lastmod")" 200

touch -d '2021-06-07 08:09:10 UTC' "$HTML/style.css"
expect_eq \
    "after the file changes, If-None-Match with the old ETag answers 200" \
    "$(get changed /style.css -H "If-None-Match: $etag")" 200
check "after the file changes, its ETag is different" \
    test "$(hval "$OUT/changed.h" ETag)" != "$etag"
expect_eq "after the file changes, the old If-Modified-Since answers 200" \
    "$(get changed_ims /style.css -H "If-Modified-Since: $lastmod")" 200
expect_eq "after the file changes, Last-Modified follows it" \
    "$(hval "$OUT/changed.h" Last-Modified)" "Mon, 07 Jun 2021 08:09:10 GMT"

# -------------------------------------------------------------- directories

expect_eq "a directory without the slash answers 301" "$(get sub /sub)" 301
expect_match "the 301 Location is the directory with a slash" \
    "$(hval "$OUT/sub.h" Location)" '^(https?://[^/]*)?/sub/$'
get sub_q '/sub?x=1' >/dev/null
expect_match "the 301 Location keeps the query" \
    "$(hval "$OUT/sub_q.h" Location)" '^(https?://[^/]*)?/sub/\?x=1$'
expect_eq "a directory with the slash serves its index.html" \
    "$(get sub_slash /sub/)" 200
check "the directory's index.html is what is sent" \
    cmp -s "$OUT/sub_slash.b" "$HTML/sub/index.html"
expect_eq "a directory without index.html answers 404" \
    "$(get noindex /noindex/)" 404
check "a directory without index.html is never listed" \
    not_grep listed-file-name "$OUT/noindex.b"

# --------------------------------------------------------------- 404 pages

expect_eq "a missing file answers 404" "$(get missing /missing.html)" 404
expect_match "the built-in 404 page is HTML" \
    "$(hval "$OUT/missing.h" Content-Type)" '^text/html(;|$)'
printf '<!DOCTYPE html><title>custom 404 page</title>\n' > "$HTML/404.html"
expect_eq "with html/404.html, a missing file still answers 404" \
    "$(get missing2 /missing.html)" 404
check "with html/404.html, that page is the body of the 404" \
    cmp -s "$OUT/missing2.b" "$HTML/404.html"
rm -f "$HTML/404.html"

# --------------------------------------------------------------- traversal

for target in /../lmd.yaml /%2e%2e/lmd.yaml /a/%2E%2E/%2e%2e/lmd.yaml \
              /..%2flmd.yaml /%2e%2e%2fsecret.txt /sub/..%2f..%2fsecret.txt \
              /%00 /index.html%00.txt /..
do
    expect_match "traversal $target is refused with 400 or 404" \
        "$(get trav "$target" --path-as-is)" '^(400|404)$'
    check "traversal $target never shows a file outside html/" \
        no_marker "$OUT/trav.b"
done
raw send "$REQS/target_without_slash.req" --timeout-ms 3000 \
    > "$OUT/noslash.raw"
expect_eq "a target without the leading slash (../lmd.yaml) is a 400" \
    "$(head -n 1 "$OUT/noslash.raw" | cut -d ' ' -f 2)" 400
check "a target without the leading slash never shows lmd.yaml" \
    no_marker "$OUT/noslash.raw"

# ---------------------------------------------------------------- symlinks

expect_match "a symlink leading out of html/ is refused with 403 or 404" \
    "$(get evil /evil)" '^(403|404)$'
check "a symlink leading out of html/ never shows its target" \
    no_marker "$OUT/evil.b"
expect_eq "a symlink that stays inside html/ is served" \
    "$(get inside /inside-link)" 200
check "a symlink inside html/ sends its target's bytes" \
    cmp -s "$OUT/inside.b" "$HTML/index.html"

# ---------------------------------------------------------- permissions

if [ "$(id -u)" = 0 ]; then
    skip "a file without read permission is refused" \
         "running as root, which can read any file"
else
    expect_match "a file without read permission is refused, 403 or 404" \
        "$(get noread /noread.txt)" '^(403|404)$'
    check "a file without read permission is not sent" \
        not_grep 'not for you' "$OUT/noread.b"
fi
chmod 644 "$HTML/noread.txt"

lmd_stop
expect_eq "exits 0 after SIGTERM" "$LMD_STATUS" 0
finish
