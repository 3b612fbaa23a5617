/*
 * lmd_strings.c -- parsing and formatting of the small textual values the
 * config, HTTP and CLI code share: byte sizes, durations, integers, HTTP
 * dates and request paths.
 *
 * Every function here is pure (no globals, no locale, no allocation), so any
 * thread may call them.  Parsers are strict: they accept exactly the forms
 * documented in lmd_strings.h and refuse everything else, including leading
 * or trailing blanks, signs where none make sense, and values that would
 * overflow.  Formatters produce text the matching parser accepts again.
 */

#include "lmd_core.h"

#include <limits.h>


/* ------------------------------------------------------------------------
 * Sizes, durations and integers
 * ------------------------------------------------------------------------ */

#define LMD_KB  ((uint64_t) 1024)
#define LMD_MB  (LMD_KB * 1024)
#define LMD_GB  (LMD_MB * 1024)

/* Duration units, largest first: the parser insists on this order and the
 * formatter emits it. */
static const struct {
    const char  *name;
    uint64_t     ms;
} lmd_duration_units[] = {
    { "d",  86400000 },
    { "h",  3600000 },
    { "m",  60000 },
    { "s",  1000 },
    { "ms", 1 },
};


/* Reads a run of decimal digits at *p into *out, advancing *p.  Returns -1
 * when there is no digit or the value overflows 64 bits. */
static int
lmd_parse_digits(const char **p, uint64_t *out)
{
    const char  *s;
    uint64_t     v;
    unsigned     d;

    s = *p;
    if (*s < '0' || *s > '9') {
        return -1;
    }

    v = 0;
    while (*s >= '0' && *s <= '9') {
        d = (unsigned) (*s - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
        s++;
    }

    *p = s;
    *out = v;
    return 0;
}


int
lmd_parse_size(const char *s, uint64_t *out)
{
    uint64_t  v, mult;

    if (lmd_parse_digits(&s, &v) != 0) {
        return -1;
    }

    switch (*s) {
    case '\0':
        mult = 1;
        break;
    case 'k':
    case 'K':
        mult = LMD_KB;
        s++;
        break;
    case 'm':
    case 'M':
        mult = LMD_MB;
        s++;
        break;
    case 'g':
    case 'G':
        mult = LMD_GB;
        s++;
        break;
    default:
        return -1;
    }

    if (*s != '\0' || v > UINT64_MAX / mult) {
        return -1;
    }

    *out = v * mult;
    return 0;
}


int
lmd_parse_duration(const char *s, uint64_t *out_ms)
{
    uint64_t  v, total;
    size_t    i, next, len;

    if (lmd_parse_digits(&s, &v) != 0) {
        return -1;
    }

    /* A bare number is seconds, but only as the whole string: "1m30" is
     * refused rather than guessed at. */
    if (*s == '\0') {
        if (v > UINT64_MAX / 1000) {
            return -1;
        }
        *out_ms = v * 1000;
        return 0;
    }

    total = 0;
    next = 0;                       /* first unit still allowed */

    for ( ;; ) {
        /* Find the unit; "ms" must win over "m", so try longer names of
         * equal prefix first by checking the exact unit length. */
        for (i = next; i < lmd_nelems(lmd_duration_units); i++) {
            len = strlen(lmd_duration_units[i].name);
            if (strncmp(s, lmd_duration_units[i].name, len) == 0
                && (s[len] == '\0' || (s[len] >= '0' && s[len] <= '9')))
            {
                break;
            }
        }
        if (i == lmd_nelems(lmd_duration_units)) {
            return -1;              /* unknown, repeated or out of order */
        }

        if (v > (UINT64_MAX - total) / lmd_duration_units[i].ms) {
            return -1;
        }
        total += v * lmd_duration_units[i].ms;
        s += strlen(lmd_duration_units[i].name);
        next = i + 1;

        if (*s == '\0') {
            break;
        }
        if (lmd_parse_digits(&s, &v) != 0 || *s == '\0') {
            return -1;              /* junk, or a trailing bare number */
        }
    }

    *out_ms = total;
    return 0;
}


int
lmd_parse_int(const char *s, long long min, long long max, long long *out)
{
    uint64_t   mag, limit;
    long long  v;
    int        neg;

    neg = 0;
    if (*s == '-' || *s == '+') {
        neg = (*s == '-');
        s++;
    }

    if (lmd_parse_digits(&s, &mag) != 0 || *s != '\0') {
        return -1;
    }

    /* Compare magnitudes as unsigned so that LLONG_MIN stays reachable. */
    if (neg) {
        limit = (uint64_t) LLONG_MAX + 1;
        if (mag > limit) {
            return -1;
        }
        v = (mag == limit) ? LLONG_MIN : -(long long) mag;
    } else {
        if (mag > (uint64_t) LLONG_MAX) {
            return -1;
        }
        v = (long long) mag;
    }

    if (v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}


void
lmd_format_size(uint64_t bytes, char *buf, size_t len)
{
    if (bytes != 0 && bytes % LMD_GB == 0) {
        snprintf(buf, len, "%llug", (unsigned long long) (bytes / LMD_GB));

    } else if (bytes != 0 && bytes % LMD_MB == 0) {
        snprintf(buf, len, "%llum", (unsigned long long) (bytes / LMD_MB));

    } else if (bytes != 0 && bytes % LMD_KB == 0) {
        snprintf(buf, len, "%lluk", (unsigned long long) (bytes / LMD_KB));

    } else {
        snprintf(buf, len, "%llu", (unsigned long long) bytes);
    }
}


/*
 * Two exact spellings compete: the whole value in the largest unit that
 * divides it ("90s"), and the mixed form with every unit ("1m30s").  The
 * shorter wins, the single unit on a tie; zero is "0".
 */
void
lmd_format_duration(uint64_t ms, char *buf, size_t len)
{
    char      single[32], mixed[64];
    size_t    i, n;
    uint64_t  rest, q;
    int       r;

    if (ms == 0) {
        snprintf(buf, len, "0");
        return;
    }

    single[0] = '\0';
    for (i = 0; i < lmd_nelems(lmd_duration_units); i++) {
        if (ms % lmd_duration_units[i].ms == 0) {
            snprintf(single, sizeof(single), "%llu%s",
                     (unsigned long long) (ms / lmd_duration_units[i].ms),
                     lmd_duration_units[i].name);
            break;
        }
    }

    n = 0;
    rest = ms;
    for (i = 0; i < lmd_nelems(lmd_duration_units); i++) {
        q = rest / lmd_duration_units[i].ms;
        rest %= lmd_duration_units[i].ms;
        if (q == 0) {
            continue;
        }
        r = snprintf(mixed + n, sizeof(mixed) - n, "%llu%s",
                     (unsigned long long) q, lmd_duration_units[i].name);
        n += (size_t) lmd_max(r, 0);
    }

    snprintf(buf, len, "%s",
             strlen(mixed) < strlen(single) ? mixed : single);
}


/* ------------------------------------------------------------------------
 * HTTP dates (RFC 7231 section 7.1.1.1)
 * ------------------------------------------------------------------------ */

static const char  *lmd_wdays[] = {
    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};

static const char  *lmd_wdays_long[] = {
    "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
    "Saturday"
};

static const char  *lmd_months[] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};


/* Writes v as exactly `width` decimal digits (zero padded). */
static char *
lmd_put_digits(char *p, unsigned v, int width)
{
    int  i;

    for (i = width - 1; i >= 0; i--) {
        p[i] = (char) ('0' + v % 10);
        v /= 10;
    }
    return p + width;
}


/*
 * Formats with fixed English names, so the locale never leaks into a
 * header.  Years outside 0..9999 cannot be written in IMF-fixdate; such a
 * time is clamped to the nearest representable second.
 */
void
lmd_format_http_date(time_t t, char *buf)
{
    struct tm  tm;
    char      *p;

    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999) {
        memcpy(buf, "Fri, 31 Dec 9999 23:59:59 GMT", LMD_HTTP_DATE_LEN);
        return;
    }
    if (tm.tm_year + 1900 < 0) {
        memcpy(buf, "Sat, 01 Jan 0000 00:00:00 GMT", LMD_HTTP_DATE_LEN);
        return;
    }

    p = buf;
    memcpy(p, lmd_wdays[tm.tm_wday], 3);
    p += 3;
    *p++ = ',';
    *p++ = ' ';
    p = lmd_put_digits(p, (unsigned) tm.tm_mday, 2);
    *p++ = ' ';
    memcpy(p, lmd_months[tm.tm_mon], 3);
    p += 3;
    *p++ = ' ';
    p = lmd_put_digits(p, (unsigned) (tm.tm_year + 1900), 4);
    *p++ = ' ';
    p = lmd_put_digits(p, (unsigned) tm.tm_hour, 2);
    *p++ = ':';
    p = lmd_put_digits(p, (unsigned) tm.tm_min, 2);
    *p++ = ':';
    p = lmd_put_digits(p, (unsigned) tm.tm_sec, 2);
    memcpy(p, " GMT", 5);
}


/* A cursor over a counted, not NUL-terminated string. */
struct lmd_scan {
    const char  *p;
    const char  *end;
};


/* Consumes the literal lit; returns 0, or -1 leaving the cursor alone. */
static int
lmd_scan_lit(struct lmd_scan *sc, const char *lit)
{
    size_t  n;

    n = strlen(lit);
    if ((size_t) (sc->end - sc->p) < n || memcmp(sc->p, lit, n) != 0) {
        return -1;
    }
    sc->p += n;
    return 0;
}


/* Consumes exactly `width` digits; a width of -2 means one or two digits,
 * the first of which may be a space (asctime's "Nov  6"). */
static int
lmd_scan_num(struct lmd_scan *sc, int width, int *out)
{
    int  v, i;

    if (width == -2) {
        if (sc->p < sc->end && *sc->p == ' ') {
            sc->p++;
            width = 1;
        } else {
            width = 2;
        }
    }
    if (sc->end - sc->p < width) {
        return -1;
    }

    v = 0;
    for (i = 0; i < width; i++) {
        if (sc->p[i] < '0' || sc->p[i] > '9') {
            return -1;
        }
        v = v * 10 + (sc->p[i] - '0');
    }
    sc->p += width;
    *out = v;
    return 0;
}


/* Consumes one of the names in list; returns its index or -1. */
static int
lmd_scan_name(struct lmd_scan *sc, const char **list, int n)
{
    int  i;

    for (i = 0; i < n; i++) {
        if (lmd_scan_lit(sc, list[i]) == 0) {
            return i;
        }
    }
    return -1;
}


/* "08:49:37" */
static int
lmd_scan_clock(struct lmd_scan *sc, int *h, int *m, int *s)
{
    if (lmd_scan_num(sc, 2, h) != 0 || lmd_scan_lit(sc, ":") != 0
        || lmd_scan_num(sc, 2, m) != 0 || lmd_scan_lit(sc, ":") != 0
        || lmd_scan_num(sc, 2, s) != 0)
    {
        return -1;
    }
    return 0;
}


/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12); the
 * usual era arithmetic, so no timezone or libc quirk is involved. */
static long long
lmd_days_from_civil(long long y, int m, int d)
{
    long long  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}


/* RFC 7231: a two-digit year that looks more than 50 years in the future
 * is the most recent past year with those digits. */
static int
lmd_rfc850_year(int yy)
{
    struct tm  tm;
    time_t     now;
    int        cur, year;

    now = time(NULL);
    if (gmtime_r(&now, &tm) == NULL) {
        return 1900 + yy;
    }
    cur = tm.tm_year + 1900;
    year = cur - cur % 100 + yy;
    if (year > cur + 50) {
        year -= 100;
    }
    return year;
}


time_t
lmd_parse_http_date(const char *s, size_t len)
{
    static const int  mdays[] = {
        31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };
    struct lmd_scan   sc;
    int               year, mon, day, h, m, sec, leap;
    long long         t;

    sc.p = s;
    sc.end = s + len;

    if (lmd_scan_name(&sc, lmd_wdays_long, 7) >= 0) {
        /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
        if (lmd_scan_lit(&sc, ", ") != 0 || lmd_scan_num(&sc, 2, &day) != 0
            || lmd_scan_lit(&sc, "-") != 0
            || (mon = lmd_scan_name(&sc, lmd_months, 12)) < 0
            || lmd_scan_lit(&sc, "-") != 0 || lmd_scan_num(&sc, 2, &year) != 0
            || lmd_scan_lit(&sc, " ") != 0
            || lmd_scan_clock(&sc, &h, &m, &sec) != 0
            || lmd_scan_lit(&sc, " GMT") != 0)
        {
            return (time_t) -1;
        }
        year = lmd_rfc850_year(year);

    } else if (lmd_scan_name(&sc, lmd_wdays, 7) < 0) {
        return (time_t) -1;

    } else if (lmd_scan_lit(&sc, ", ") == 0) {
        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        if (lmd_scan_num(&sc, 2, &day) != 0 || lmd_scan_lit(&sc, " ") != 0
            || (mon = lmd_scan_name(&sc, lmd_months, 12)) < 0
            || lmd_scan_lit(&sc, " ") != 0 || lmd_scan_num(&sc, 4, &year) != 0
            || lmd_scan_lit(&sc, " ") != 0
            || lmd_scan_clock(&sc, &h, &m, &sec) != 0
            || lmd_scan_lit(&sc, " GMT") != 0)
        {
            return (time_t) -1;
        }

    } else {
        /* asctime: "Sun Nov  6 08:49:37 1994" */
        if (lmd_scan_lit(&sc, " ") != 0
            || (mon = lmd_scan_name(&sc, lmd_months, 12)) < 0
            || lmd_scan_lit(&sc, " ") != 0 || lmd_scan_num(&sc, -2, &day) != 0
            || lmd_scan_lit(&sc, " ") != 0
            || lmd_scan_clock(&sc, &h, &m, &sec) != 0
            || lmd_scan_lit(&sc, " ") != 0 || lmd_scan_num(&sc, 4, &year) != 0)
        {
            return (time_t) -1;
        }
    }

    if (sc.p != sc.end) {
        return (time_t) -1;
    }

    /* The weekday name is not checked against the date (RFC 7231 does not
     * ask recipients to); the fields themselves must be in range.  A leap
     * second (:60) is accepted and folds into the next minute. */
    leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day < 1 || day > mdays[mon] || (mon == 1 && day == 29 && !leap)
        || h > 23 || m > 59 || sec > 60)
    {
        return (time_t) -1;
    }

    t = lmd_days_from_civil(year, mon + 1, day) * 86400
        + h * 3600 + m * 60 + sec;

    if (sizeof(time_t) < sizeof(long long)
        && (t > (long long) INT32_MAX || t < (long long) INT32_MIN))
    {
        return (time_t) -1;
    }
    return (time_t) t;
}


/* ------------------------------------------------------------------------
 * Request paths
 * ------------------------------------------------------------------------ */

int
lmd_hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}


/*
 * Two passes over out.  First the whole path is percent-decoded, so that an
 * encoded slash or dot ("%2f", "%2e%2e") is judged exactly like the plain
 * byte; only then are segments examined.  The second pass compacts the
 * segments in place (the write position never passes the read position).
 * A trailing "." segment counts as a trailing slash, as RFC 3986's
 * remove_dot_segments would leave one, and the empty result (the root) is
 * always a directory.
 */
int
lmd_sanitize_path(const char *path, size_t len, char *out, int *dir)
{
    size_t  i, n, r, w, seg;
    int     hi, lo;

    n = 0;
    for (i = 0; i < len; i++) {
        if (path[i] == '%') {
            if (len - i < 3) {
                return -1;
            }
            hi = lmd_hexval(path[i + 1]);
            lo = lmd_hexval(path[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            out[n] = (char) (hi * 16 + lo);
            i += 2;
        } else {
            out[n] = path[i];
        }
        if (out[n] == '\0') {
            return -1;
        }
        n++;
    }

    *dir = (n > 0 && out[n - 1] == '/');

    w = 0;
    r = 0;
    while (r < n) {
        if (out[r] == '/') {
            r++;
            continue;
        }

        seg = r;
        while (r < n && out[r] != '/') {
            r++;
        }

        if (r - seg == 1 && out[seg] == '.') {
            if (r == n) {
                *dir = 1;
            }
            continue;
        }
        if (r - seg == 2 && out[seg] == '.' && out[seg + 1] == '.') {
            return -1;
        }

        if (w > 0) {
            out[w++] = '/';
        }
        memmove(out + w, out + seg, r - seg);
        w += r - seg;
    }

    out[w] = '\0';
    if (w == 0) {
        *dir = 1;
    }
    return 0;
}


/* ------------------------------------------------------------------------
 * Comparisons
 * ------------------------------------------------------------------------ */

/*
 * Every byte of a is compared with a byte of b (b repeats when shorter, a
 * zero stands in for an empty b), and the length difference is folded into
 * the result, so the loop runs alen times whatever the contents.  Pass the
 * secret as b: the time then reveals only the length of the guess.
 */
int
lmd_consttime_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    const unsigned char  *pa, *pb;
    volatile unsigned     diff;
    unsigned char         cb;
    size_t                i;

    pa = a;
    pb = b;
    diff = (alen != blen);

    for (i = 0; i < alen; i++) {
        cb = blen ? pb[i % blen] : 0;
        diff |= (unsigned) (pa[i] ^ cb);
    }

    return diff == 0;
}


static unsigned char
lmd_tolower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char) (c | 0x20) : c;
}


int
lmd_strieq(const char *a, size_t alen, const char *b)
{
    size_t  i;

    for (i = 0; i < alen; i++) {
        if (b[i] == '\0'
            || lmd_tolower((unsigned char) a[i])
               != lmd_tolower((unsigned char) b[i]))
        {
            return 0;
        }
    }
    return b[alen] == '\0';
}
