/*
 * test_strings.c -- unit tests for daemon/lmd_strings.c: sizes, durations,
 * integers, their formatting round trips, HTTP dates, request path
 * sanitising and the constant-time comparison.
 *
 * Each case states the assumption it checks.  Link with lmd_test.c and
 * lmd_strings.c only: the functions under test are pure.
 */

#include "lmd_core.h"

#include <limits.h>

#include "lmd_test.h"


/* ------------------------------------------------------------------------
 * Sizes
 * ------------------------------------------------------------------------ */

/* Assumption: sizes are digits with an optional k/m/g suffix in either
 * case, each a power of 1024. */
LMD_TEST(size_good)
{
    static const struct {
        const char  *in;
        uint64_t     want;
    } cases[] = {
        { "0", 0 },
        { "512", 512 },
        { "4k", 4096 },
        { "4K", 4096 },
        { "8k", 8192 },
        { "4m", 4194304 },
        { "1G", 1073741824 },
        { "16g", 17179869184ULL },
        { "007", 7 },
        { "18446744073709551615", UINT64_MAX },
    };
    uint64_t  v;
    size_t    i;

    for (i = 0; i < lmd_nelems(cases); i++) {
        v = 1;
        fail_unless(lmd_parse_size(cases[i].in, &v) == 0, "\"%s\" refused",
                    cases[i].in);
        fail_unless(v == cases[i].want, "\"%s\" gave %llu", cases[i].in,
                    (unsigned long long) v);
    }
}


/* Assumption: anything but digits plus one suffix is refused, including
 * "4mb", blanks, signs, fractions and values past 64 bits. */
LMD_TEST(size_bad)
{
    static const char  *bad[] = {
        "", "k", "4mb", "4 m", " 4m", "4m ", "-1", "+1", "1.5k", "4t",
        "18446744073709551616", "17179869184g", "0x10", "4kk",
    };
    uint64_t  v;
    size_t    i;

    for (i = 0; i < lmd_nelems(bad); i++) {
        fail_unless(lmd_parse_size(bad[i], &v) == -1, "\"%s\" accepted",
                    bad[i]);
    }
}


/* Assumption: a size is formatted in the largest unit dividing it, and
 * that text parses back to the same value. */
LMD_TEST(size_format)
{
    static const struct {
        uint64_t     in;
        const char  *want;
    } cases[] = {
        { 0, "0" },
        { 1, "1" },
        { 1000, "1000" },
        { 1536, "1536" },
        { 8192, "8k" },
        { 4194304, "4m" },
        { 3 * 1048576 + 1024, "3073k" },
        { 1073741824, "1g" },
    };
    char      buf[32];
    uint64_t  v;
    size_t    i;

    for (i = 0; i < lmd_nelems(cases); i++) {
        lmd_format_size(cases[i].in, buf, sizeof(buf));
        fail_unless_streq(buf, cases[i].want);
        fail_unless(lmd_parse_size(buf, &v) == 0 && v == cases[i].in,
                    "\"%s\" does not parse back", buf);
    }
}


/* ------------------------------------------------------------------------
 * Durations
 * ------------------------------------------------------------------------ */

/* Assumption: durations are number+unit terms in falling unit order
 * (d, h, m, s, ms), and a bare number alone means seconds. */
LMD_TEST(duration_good)
{
    static const struct {
        const char  *in;
        uint64_t     want;
    } cases[] = {
        { "0", 0 },
        { "2", 2000 },
        { "10s", 10000 },
        { "500ms", 500 },
        { "1m30s", 90000 },
        { "1m", 60000 },
        { "1h", 3600000 },
        { "1d", 86400000 },
        { "1d2h3m4s5ms", 93784005 },
        { "90m", 5400000 },
        { "0s", 0 },
        { "1s500ms", 1500 },
    };
    uint64_t  v;
    size_t    i;

    for (i = 0; i < lmd_nelems(cases); i++) {
        v = 1;
        fail_unless(lmd_parse_duration(cases[i].in, &v) == 0,
                    "\"%s\" refused", cases[i].in);
        fail_unless(v == cases[i].want, "\"%s\" gave %llu", cases[i].in,
                    (unsigned long long) v);
    }
}


/* Assumption: blanks, unknown units, repeated or rising units, a trailing
 * bare number and overflow are all refused. */
LMD_TEST(duration_bad)
{
    static const char  *bad[] = {
        "", "s", "10 sec", "10sec", "10 s", " 10s", "10s ", "-1s", "1.5s",
        "30s1m", "1m1m", "1m30", "1w", "1ms1s", "1S", "10msx",
        "18446744073709551615", "99999999999999999999d", "213503982335d",
    };
    uint64_t  v;
    size_t    i;

    for (i = 0; i < lmd_nelems(bad); i++) {
        fail_unless(lmd_parse_duration(bad[i], &v) == -1, "\"%s\" accepted",
                    bad[i]);
    }
}


/* Assumption: the formatter picks the shorter of "whole value in the
 * largest dividing unit" and the mixed form, and its text parses back. */
LMD_TEST(duration_format)
{
    static const struct {
        uint64_t     in;
        const char  *want;
    } cases[] = {
        { 0, "0" },
        { 1, "1ms" },
        { 1500, "1500ms" },
        { 10000, "10s" },
        { 30000, "30s" },
        { 60000, "1m" },
        { 90000, "90s" },
        { 240000, "4m" },
        { 5400000, "90m" },
        { 86400000, "1d" },
        { 86401000, "1d1s" },
        { 93784005, "93784005ms" },
        { 93784000, "93784s" },
        { 90000000, "25h" },
        { 90061000, "90061s" },
        { 172801000, "2d1s" },
    };
    char      buf[32];
    uint64_t  v;
    size_t    i;

    for (i = 0; i < lmd_nelems(cases); i++) {
        lmd_format_duration(cases[i].in, buf, sizeof(buf));
        fail_unless_streq(buf, cases[i].want);
        fail_unless(lmd_parse_duration(buf, &v) == 0 && v == cases[i].in,
                    "\"%s\" does not parse back", buf);
    }
}


/* ------------------------------------------------------------------------
 * Integers
 * ------------------------------------------------------------------------ */

/* Assumption: whole decimal integers with an optional sign parse inside
 * [min, max], including the extremes of long long. */
LMD_TEST(int_good)
{
    long long  v;

    fail_unless(lmd_parse_int("4096", 1, 1000000, &v) == 0 && v == 4096,
                "4096");
    fail_unless(lmd_parse_int("1", 1, 1, &v) == 0 && v == 1, "1");
    fail_unless(lmd_parse_int("-5", -10, 10, &v) == 0 && v == -5, "-5");
    fail_unless(lmd_parse_int("+5", -10, 10, &v) == 0 && v == 5, "+5");
    fail_unless(lmd_parse_int("9223372036854775807", LLONG_MIN, LLONG_MAX,
                              &v) == 0 && v == LLONG_MAX, "LLONG_MAX");
    fail_unless(lmd_parse_int("-9223372036854775808", LLONG_MIN, LLONG_MAX,
                              &v) == 0 && v == LLONG_MIN, "LLONG_MIN");
}


/* Assumption: out of range, junk, blanks, empty and overflow are refused
 * (atoi's silent 0 is exactly what this replaces). */
LMD_TEST(int_bad)
{
    static const char  *bad[] = {
        "", "-", "+", "abc", "12a", " 1", "1 ", "1.0", "0x10", "1e3",
        "9223372036854775808", "-9223372036854775809",
    };
    long long  v;
    size_t     i;

    for (i = 0; i < lmd_nelems(bad); i++) {
        fail_unless(lmd_parse_int(bad[i], LLONG_MIN, LLONG_MAX, &v) == -1,
                    "\"%s\" accepted", bad[i]);
    }
    fail_unless(lmd_parse_int("0", 1, 10, &v) == -1, "0 below 1");
    fail_unless(lmd_parse_int("1000001", 1, 1000000, &v) == -1, "above");
}


/* ------------------------------------------------------------------------
 * HTTP dates
 * ------------------------------------------------------------------------ */

/* Assumption: the three example dates of RFC 7231 7.1.1.1 all mean
 * 1994-11-06 08:49:37 UTC, which is 784111777. */
LMD_TEST(http_date_rfc_examples)
{
    static const char  *forms[] = {
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    };
    size_t  i;
    time_t  t;

    for (i = 0; i < lmd_nelems(forms); i++) {
        t = lmd_parse_http_date(forms[i], strlen(forms[i]));
        fail_unless(t == 784111777, "\"%s\" gave %lld", forms[i],
                    (long long) t);
    }
}


/* Assumption: formatting writes IMF-fixdate with English names whatever
 * the locale, in exactly LMD_HTTP_DATE_LEN - 1 characters, and parses
 * back to the same second. */
LMD_TEST(http_date_format)
{
    static const struct {
        time_t       t;
        const char  *want;
    } cases[] = {
        { 784111777, "Sun, 06 Nov 1994 08:49:37 GMT" },
        { 0, "Thu, 01 Jan 1970 00:00:00 GMT" },
        { 951782400, "Tue, 29 Feb 2000 00:00:00 GMT" },
        { 1767225599, "Wed, 31 Dec 2025 23:59:59 GMT" },
    };
    char    buf[LMD_HTTP_DATE_LEN];
    size_t  i;

    for (i = 0; i < lmd_nelems(cases); i++) {
        memset(buf, 'x', sizeof(buf));
        lmd_format_http_date(cases[i].t, buf);
        fail_unless_streq(buf, cases[i].want);
        fail_unless(strlen(buf) == LMD_HTTP_DATE_LEN - 1, "length");
        fail_unless(lmd_parse_http_date(buf, strlen(buf)) == cases[i].t,
                    "\"%s\" does not parse back", buf);
    }
}


/* Assumption: near misses of each form are refused: wrong case, missing
 * GMT, bad day of month, 29 Feb of a common year, trailing bytes, and the
 * counted length is honoured (no reading past len). */
LMD_TEST(http_date_bad)
{
    static const char  *bad[] = {
        "",
        "sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 32 Oct 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT ",
        "Sun, 06 Nox 1994 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "1994-11-06T08:49:37Z",
    };
    const char  *full;
    size_t       i;

    for (i = 0; i < lmd_nelems(bad); i++) {
        fail_unless(lmd_parse_http_date(bad[i], strlen(bad[i]))
                    == (time_t) -1, "\"%s\" accepted", bad[i]);
    }

    full = "Sun, 06 Nov 1994 08:49:37 GMT";
    fail_unless(lmd_parse_http_date(full, strlen(full) - 1) == (time_t) -1,
                "a truncated length was read past");
}


/* ------------------------------------------------------------------------
 * Request paths
 * ------------------------------------------------------------------------ */

/* Runs lmd_sanitize_path on a C string; returns its result and fills out. */
static int
sanitize(const char *in, char *out, int *dir)
{
    *dir = -1;
    return lmd_sanitize_path(in, strlen(in), out, dir);
}


/* Assumption: dot segments and duplicate slashes vanish, escapes decode
 * (an encoded slash acts as a slash), and the result never starts with
 * '/'; dir reports a trailing slash (or "."), and the root. */
LMD_TEST(sanitize_good)
{
    static const struct {
        const char  *in;
        const char  *want;
        int          dir;
    } cases[] = {
        { "/", "", 1 },
        { "", "", 1 },
        { "/index.html", "index.html", 0 },
        { "/a/./b//c", "a/b/c", 0 },
        { "/a/b/", "a/b", 1 },
        { "//a///b//", "a/b", 1 },
        { "/a/.", "a", 1 },
        { "/./.", "", 1 },
        { "/a%2fb", "a/b", 0 },
        { "/a%2Fb%2f", "a/b", 1 },
        { "/hello%20world.txt", "hello world.txt", 0 },
        { "/%41%62c", "Abc", 0 },
        { "/a\\b", "a\\b", 0 },
        { "/...", "...", 0 },
        { "/..a/b..", "..a/b..", 0 },
        { "/.hidden", ".hidden", 0 },
        { "/%2e", "", 1 },
        { "/caf%C3%A9", "caf\xc3\xa9", 0 },
    };
    char    out[64];
    size_t  i;
    int     dir;

    for (i = 0; i < lmd_nelems(cases); i++) {
        fail_unless(sanitize(cases[i].in, out, &dir) == 0, "\"%s\" refused",
                    cases[i].in);
        fail_unless_streq(out, cases[i].want);
        fail_unless(dir == cases[i].dir, "\"%s\" dir %d", cases[i].in, dir);
    }
}


/* Assumption: any ".." segment, plain or encoded in any case, is refused
 * anywhere in the path, as are NUL bytes and invalid escapes. */
LMD_TEST(sanitize_refused)
{
    static const char  *bad[] = {
        "/../etc/passwd",
        "/%2e%2e/x",
        "/a/%2E%2e/b",
        "/a/.%2e",
        "/a/..",
        "/a/../b",
        "..",
        "/..",
        "/../",
        "/a/..%2fb",
        "/a%2f..%2fb",
        "/%00",
        "/a%00.html",
        "/%zz",
        "/%2",
        "/%",
        "/a%g0",
    };
    char    out[64];
    size_t  i;
    int     dir;

    for (i = 0; i < lmd_nelems(bad); i++) {
        fail_unless(sanitize(bad[i], out, &dir) == -1, "\"%s\" accepted",
                    bad[i]);
    }

    /* A raw NUL inside the counted string. */
    fail_unless(lmd_sanitize_path("/a\0b", 4, out, &dir) == -1, "raw NUL");
}


/* Assumption: "%2f" decodes like any byte, so "/%2f" is just the root and
 * "%2f%2f" collapses like "//". */
LMD_TEST(sanitize_encoded_slash)
{
    char  out[16];
    int   dir;

    fail_unless(sanitize("/%2f", out, &dir) == 0, "refused");
    fail_unless_streq(out, "");
    fail_unless(sanitize("%2f%2fa", out, &dir) == 0, "refused");
    fail_unless_streq(out, "a");
    fail_unless(dir == 0, "dir");
}


/* ------------------------------------------------------------------------
 * Comparisons
 * ------------------------------------------------------------------------ */

/* Assumption: consttime_equal is plain equality in its result, for equal
 * and unequal lengths, prefixes and empty strings. */
LMD_TEST(consttime)
{
    fail_unless(lmd_consttime_equal("secret", 6, "secret", 6) == 1, "eq");
    fail_unless(lmd_consttime_equal("secret", 6, "secreT", 6) == 0, "last");
    fail_unless(lmd_consttime_equal("Secret", 6, "secret", 6) == 0, "first");
    fail_unless(lmd_consttime_equal("secret", 6, "secrets", 7) == 0, "pfx");
    fail_unless(lmd_consttime_equal("secrets", 7, "secret", 6) == 0, "pfx2");
    fail_unless(lmd_consttime_equal("abcabc", 6, "abc", 3) == 0, "repeat");
    fail_unless(lmd_consttime_equal("", 0, "", 0) == 1, "empty");
    fail_unless(lmd_consttime_equal("", 0, "x", 1) == 0, "empty a");
    fail_unless(lmd_consttime_equal("x", 1, "", 0) == 0, "empty b");
    fail_unless(lmd_consttime_equal("\0", 1, "", 0) == 0, "NUL vs empty");
}


/* Assumption: strieq folds ASCII case only and needs equal lengths; the
 * counted string need not be NUL-terminated. */
LMD_TEST(strieq)
{
    fail_unless(lmd_strieq("Content-Length", 14, "content-length"), "eq");
    fail_unless(lmd_strieq("HOSTX", 4, "host"), "counted");
    fail_unless(!lmd_strieq("Host", 4, "hosts"), "shorter a");
    fail_unless(!lmd_strieq("Hosts", 5, "host"), "longer a");
    fail_unless(!lmd_strieq("Hast", 4, "host"), "differs");
    fail_unless(lmd_strieq("", 0, ""), "empty");
    fail_unless(!lmd_strieq("\xc3\x89", 2, "\xc3\xa9"), "non-ASCII");
    fail_unless(!lmd_strieq("[", 1, "{"), "not letters");
}
