/*
 * lmd_jinja_str.c -- strings the way Python sees them: code points over
 * UTF-8, str.isspace(), str.isprintable(), upper/lower case, and the
 * helpers behind strip, replace, split, splitlines, title and capitalize
 * that both filters and str methods use.
 *
 * Indexes and lengths count code points, as Python's do.  Case mapping
 * covers ASCII, Latin-1, Latin Extended-A and Additional, Greek, Cyrillic,
 * Armenian and the fullwidth forms (one code point to one, plus "ß" ->
 * "SS"); other scripts keep their case, and Greek final sigma is not
 * special.  isprintable() knows the controls, separators, format
 * characters and private use areas, not the unassigned code points.
 */

#include <stdlib.h>
#include <string.h>

#include "lmd_jinja.h"


/* ------------------------------------------------------------------------
 * UTF-8
 * ------------------------------------------------------------------------ */

size_t
lmd_utf8_next(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char  *p;
    uint32_t              v, min;
    size_t                len, i;

    p = (const unsigned char *) s;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if ((p[0] & 0xe0) == 0xc0) {
        len = 2;
        v = p[0] & 0x1f;
        min = 0x80;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3;
        v = p[0] & 0x0f;
        min = 0x800;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4;
        v = p[0] & 0x07;
        min = 0x10000;
    } else {
        *cp = p[0];
        return 1;
    }
    if (len > n) {
        *cp = p[0];
        return 1;
    }
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            *cp = p[0];
            return 1;
        }
        v = (v << 6) | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff) {
        *cp = p[0];
        return 1;
    }
    *cp = v;
    return len;
}


size_t
lmd_utf8_put(uint32_t cp, char *out)
{
    unsigned char  *p;

    p = (unsigned char *) out;
    if (cp < 0x80) {
        p[0] = (unsigned char) cp;
        return 1;
    }
    if (cp < 0x800) {
        p[0] = (unsigned char) (0xc0 | (cp >> 6));
        p[1] = (unsigned char) (0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        p[0] = (unsigned char) (0xe0 | (cp >> 12));
        p[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        p[2] = (unsigned char) (0x80 | (cp & 0x3f));
        return 3;
    }
    p[0] = (unsigned char) (0xf0 | (cp >> 18));
    p[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
    p[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
    p[3] = (unsigned char) (0x80 | (cp & 0x3f));
    return 4;
}


size_t
lmd_utf8_count(const char *s, size_t n)
{
    size_t    i, count;
    uint32_t  cp;

    count = 0;
    for (i = 0; i < n; count++) {
        if ((unsigned char) s[i] < 0x80) {
            i++;
            continue;
        }
        i += lmd_utf8_next(s + i, n - i, &cp);
    }
    return count;
}


size_t
lmd_jstr_offset(const struct lmd_jstr *s, size_t i)
{
    size_t    off, k;
    uint32_t  cp;

    if (s->ncp == s->len || i == 0) {
        return i;
    }
    if (i >= s->ncp) {
        return s->len;
    }
    off = 0;
    for (k = 0; k < i; k++) {
        off += lmd_utf8_next(s->data + off, s->len - off, &cp);
    }
    return off;
}


/* ------------------------------------------------------------------------
 * Character classes
 * ------------------------------------------------------------------------ */

int
lmd_jinja_isspace(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20)
           || cp == 0x85 || cp == 0xa0 || cp == 0x1680
           || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028
           || cp == 0x2029 || cp == 0x202f || cp == 0x205f
           || cp == 0x3000;
}


size_t
lmd_jinja_space_at(const char *s, size_t n)
{
    uint32_t  cp;
    size_t    len;

    if (n == 0) {
        return 0;
    }
    len = lmd_utf8_next(s, n, &cp);
    return lmd_jinja_isspace(cp) ? len : 0;
}


int
lmd_jinja_isprintable(uint32_t cp)
{
    if (cp == ' ') {
        return 1;
    }
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0xad) {
        return 0;
    }
    if (lmd_jinja_isspace(cp)) {
        return 0;
    }
    return !((cp >= 0x600 && cp <= 0x605) || cp == 0x61c || cp == 0x6dd
             || cp == 0x70f || cp == 0x180e
             || (cp >= 0x200b && cp <= 0x200f)
             || (cp >= 0x202a && cp <= 0x202e)
             || (cp >= 0x2060 && cp <= 0x206f)
             || (cp >= 0xd800 && cp <= 0xf8ff) || cp == 0xfeff
             || (cp >= 0xfff9 && cp <= 0xfffb) || cp == 0xfffe
             || cp == 0xffff || cp == 0x110bd
             || (cp >= 0x1bca0 && cp <= 0x1bca3)
             || (cp >= 0x1d173 && cp <= 0x1d17a)
             || (cp >= 0xe0000 && cp <= 0xe007f) || cp >= 0xf0000);
}


/* Ranges where upper and lower case alternate: even upper, odd lower
 * (or the other way round when odd_upper). */
static const struct {
    uint32_t  first;
    uint32_t  last;
    int       odd_upper;
} lmd_jcase_pairs[] = {
    { 0x100, 0x12f, 0 }, { 0x132, 0x137, 0 }, { 0x139, 0x148, 1 },
    { 0x14a, 0x177, 0 }, { 0x179, 0x17e, 1 }, { 0x1cd, 0x1dc, 1 },
    { 0x1de, 0x1ef, 0 }, { 0x1f8, 0x21f, 0 }, { 0x222, 0x233, 0 },
    { 0x246, 0x24f, 0 }, { 0x3d8, 0x3ef, 0 }, { 0x460, 0x481, 0 },
    { 0x48a, 0x4bf, 0 }, { 0x4c1, 0x4ce, 1 }, { 0x4d0, 0x52f, 0 },
    { 0x1e00, 0x1e95, 0 }, { 0x1ea0, 0x1eff, 0 }
};


/* Ranges where lower = upper + delta. */
static const struct {
    uint32_t  first;                /* upper case */
    uint32_t  last;
    uint32_t  delta;
} lmd_jcase_blocks[] = {
    { 0x41, 0x5a, 32 }, { 0xc0, 0xd6, 32 }, { 0xd8, 0xde, 32 },
    { 0x391, 0x3a1, 32 }, { 0x3a3, 0x3ab, 32 }, { 0x388, 0x38a, 37 },
    { 0x38e, 0x38f, 63 }, { 0x410, 0x42f, 32 }, { 0x400, 0x40f, 80 },
    { 0x531, 0x556, 48 }, { 0xff21, 0xff3a, 32 }
};


uint32_t
lmd_jinja_upper(uint32_t cp)
{
    size_t  i;

    if (cp < 0x80) {
        return (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
    }
    for (i = 0; i < sizeof(lmd_jcase_blocks) / sizeof(lmd_jcase_blocks[0]);
         i++)
    {
        if (cp >= lmd_jcase_blocks[i].first + lmd_jcase_blocks[i].delta
            && cp <= lmd_jcase_blocks[i].last + lmd_jcase_blocks[i].delta)
        {
            return cp - lmd_jcase_blocks[i].delta;
        }
    }
    for (i = 0; i < sizeof(lmd_jcase_pairs) / sizeof(lmd_jcase_pairs[0]);
         i++)
    {
        if (cp >= lmd_jcase_pairs[i].first && cp <= lmd_jcase_pairs[i].last
            && (int) (cp & 1) != lmd_jcase_pairs[i].odd_upper)
        {
            return cp - 1;      /* the upper case is the lower address */
        }
    }
    switch (cp) {
    case 0x1c5: case 0x1c6:
        return 0x1c4;
    case 0x1c8: case 0x1c9:
        return 0x1c7;
    case 0x1cb: case 0x1cc:
        return 0x1ca;
    case 0x1f2: case 0x1f3:
        return 0x1f1;
    case 0xb5:
        return 0x39c;
    case 0xff:
        return 0x178;
    case 0x131:
        return 'I';
    case 0x17f:
        return 'S';
    case 0x3c2:
        return 0x3a3;
    case 0x3ac:
        return 0x386;
    case 0x3cc:
        return 0x38c;
    default:
        return cp;
    }
}


uint32_t
lmd_jinja_lower(uint32_t cp)
{
    size_t  i;

    if (cp < 0x80) {
        return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    }
    for (i = 0; i < sizeof(lmd_jcase_blocks) / sizeof(lmd_jcase_blocks[0]);
         i++)
    {
        if (cp >= lmd_jcase_blocks[i].first
            && cp <= lmd_jcase_blocks[i].last)
        {
            return cp + lmd_jcase_blocks[i].delta;
        }
    }
    for (i = 0; i < sizeof(lmd_jcase_pairs) / sizeof(lmd_jcase_pairs[0]);
         i++)
    {
        if (cp >= lmd_jcase_pairs[i].first && cp <= lmd_jcase_pairs[i].last
            && (int) (cp & 1) == lmd_jcase_pairs[i].odd_upper)
        {
            return cp + 1;
        }
    }
    switch (cp) {
    case 0x1c4: case 0x1c5:
        return 0x1c6;
    case 0x1c7: case 0x1c8:
        return 0x1c9;
    case 0x1ca: case 0x1cb:
        return 0x1cc;
    case 0x1f1: case 0x1f2:
        return 0x1f3;
    case 0x178:
        return 0xff;
    case 0x130:
        return 'i';
    case 0x386:
        return 0x3ac;
    case 0x38c:
        return 0x3cc;
    default:
        return cp;
    }
}


static int
lmd_jinja_cased(uint32_t cp)
{
    return lmd_jinja_upper(cp) != cp || lmd_jinja_lower(cp) != cp
           || cp == 0xdf;
}


/* ------------------------------------------------------------------------
 * Helpers of filters and methods
 * ------------------------------------------------------------------------ */

/* Is cp one of the code points of set (a UTF-8 string)? */
static int
lmd_jinja_in_set(uint32_t cp, const struct lmd_jstr *set)
{
    size_t    i, n;
    uint32_t  c;

    for (i = 0; i < set->len; i += n) {
        n = lmd_utf8_next(set->data + i, set->len - i, &c);
        if (c == cp) {
            return 1;
        }
    }
    return 0;
}


/* str.strip/lstrip/rstrip(chars): chars None or missing for white space.
 * s must be a STR. */
int
lmd_jinja_strip(struct lmd_jctx *ctx, struct lmd_jv s, struct lmd_jv chars,
    int left, int right, struct lmd_jv *out)
{
    const struct lmd_jstr  *str, *set;
    size_t                  b, e, n, k;
    uint32_t                cp;
    int                     in;

    str = s.u.s;
    set = NULL;
    if (chars.type == LMD_JV_STR) {
        set = chars.u.s;
    } else if (chars.type != LMD_JV_NONE && !lmd_jv_missing(chars)) {
        return lmd_jerr(ctx, "strip arg must be None or str");
    }

    b = 0;
    e = str->len;
    while (left && b < e) {
        n = lmd_utf8_next(str->data + b, e - b, &cp);
        in = set ? lmd_jinja_in_set(cp, set) : lmd_jinja_isspace(cp);
        if (!in) {
            break;
        }
        b += n;
    }
    if (right) {
        /* the end of the last code point that is kept */
        e = b;
        for (k = b; k < str->len; k += n) {
            n = lmd_utf8_next(str->data + k, str->len - k, &cp);
            in = set ? lmd_jinja_in_set(cp, set) : lmd_jinja_isspace(cp);
            if (!in) {
                e = k + n;
            }
        }
    }
    if (b == 0 && e == str->len) {
        *out = lmd_jv_ref(s);
        out->flags = 0;
        return LMD_OK;
    }
    return lmd_jv_str(ctx, str->data + b, e - b, out);
}


/* jinja2's |title splits at runs of "-", white space, "(", "{", "[" and
 * "<", and capitalizes what follows each. */
static int
lmd_jinja_title_sep(uint32_t cp)
{
    return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<'
           || lmd_jinja_isspace(cp);
}


static int
lmd_jinja_put_upper(struct lmd_jctx *ctx, struct lmd_jbuf *b, uint32_t cp)
{
    char  tmp[4];

    if (cp == 0xdf) {
        return lmd_jbuf_add(ctx, b, "SS", 2);
    }
    return lmd_jbuf_add(ctx, b, tmp, lmd_utf8_put(lmd_jinja_upper(cp), tmp));
}


static int
lmd_jinja_put_lower(struct lmd_jctx *ctx, struct lmd_jbuf *b, uint32_t cp)
{
    char  tmp[8];

    if (cp == 0x130) {
        /* Python: "İ".lower() is "i" + COMBINING DOT ABOVE */
        return lmd_jbuf_add(ctx, b, "i\xcc\x87", 3);
    }
    return lmd_jbuf_add(ctx, b, tmp, lmd_utf8_put(lmd_jinja_lower(cp), tmp));
}


/* upper(), lower(), capitalize(), str.title() and jinja2's |title. */
int
lmd_jinja_case(struct lmd_jctx *ctx, struct lmd_jv s, int how,
    struct lmd_jv *out)
{
    const struct lmd_jstr  *str;
    struct lmd_jbuf         b;
    size_t                  i, n;
    uint32_t                cp;
    int                     rc, up, prev_cased, first, prev_sep;

    str = s.u.s;
    memset(&b, 0, sizeof(b));
    rc = lmd_jbuf_add(ctx, &b, "", 0);
    prev_cased = 0;
    prev_sep = 1;
    first = 1;
    for (i = 0; rc == LMD_OK && i < str->len; i += n) {
        n = lmd_utf8_next(str->data + i, str->len - i, &cp);
        switch (how) {
        case LMD_JCASE_UPPER:
            up = 1;
            break;
        case LMD_JCASE_LOWER:
            up = 0;
            break;
        case LMD_JCASE_CAPITALIZE:
            up = first;
            break;
        case LMD_JCASE_TITLE:
            up = !prev_cased;
            prev_cased = lmd_jinja_cased(cp);
            break;
        default:
            /* after a separator run (or at the start) a word begins:
             * its first character upper, the rest lower */
            up = prev_sep;
            prev_sep = lmd_jinja_title_sep(cp);
            break;
        }
        first = 0;
        if (up) {
            rc = lmd_jinja_put_upper(ctx, &b, cp);
        } else {
            rc = lmd_jinja_put_lower(ctx, &b, cp);
        }
    }
    if (rc != LMD_OK) {
        free(b.data);
        return LMD_ERROR;
    }
    return lmd_jbuf_take(ctx, &b, out);
}


/* str.replace(old, new, count): count < 0 for all.  An empty old inserts
 * new before every code point and at the end, as Python does. */
int
lmd_jinja_replace(struct lmd_jctx *ctx, struct lmd_jv s, struct lmd_jv old,
    struct lmd_jv new_, int64_t count, struct lmd_jv *out)
{
    const struct lmd_jstr  *str, *o, *nw;
    struct lmd_jbuf         b;
    const char             *p, *hit, *end;
    size_t                  n;
    uint32_t                cp;
    int                     rc;

    str = s.u.s;
    o = old.u.s;
    nw = new_.u.s;
    memset(&b, 0, sizeof(b));
    rc = lmd_jbuf_add(ctx, &b, "", 0);
    p = str->data;
    end = str->data + str->len;

    if (o->len == 0) {
        while (rc == LMD_OK && count != 0) {
            rc = lmd_jbuf_add(ctx, &b, nw->data, nw->len);
            count--;
            if (p == end) {
                break;
            }
            n = lmd_utf8_next(p, (size_t) (end - p), &cp);
            if (rc == LMD_OK) {
                rc = lmd_jbuf_add(ctx, &b, p, n);
            }
            p += n;
        }
    } else {
        while (rc == LMD_OK && count != 0) {
            hit = memmem(p, (size_t) (end - p), o->data, o->len);
            if (hit == NULL) {
                break;
            }
            rc = lmd_jbuf_add(ctx, &b, p, (size_t) (hit - p));
            if (rc == LMD_OK) {
                rc = lmd_jbuf_add(ctx, &b, nw->data, nw->len);
            }
            p = hit + o->len;
            count--;
        }
    }
    if (rc == LMD_OK) {
        rc = lmd_jbuf_add(ctx, &b, p, (size_t) (end - p));
    }
    if (rc != LMD_OK) {
        free(b.data);
        return LMD_ERROR;
    }
    return lmd_jbuf_take(ctx, &b, out);
}


/* The length of the line break at p, or 0: Python's str.splitlines()
 * breaks at \n, \r, \r\n, \v, \f, \x1c-\x1e, U+0085, U+2028, U+2029. */
static size_t
lmd_jinja_linebreak(const char *p, size_t n)
{
    uint32_t  cp;
    size_t    len;

    len = lmd_utf8_next(p, n, &cp);
    if (cp == '\r') {
        return (n > 1 && p[1] == '\n') ? 2 : 1;
    }
    if (cp == '\n' || cp == 0x0b || cp == 0x0c || (cp >= 0x1c && cp <= 0x1e)
        || cp == 0x85 || cp == 0x2028 || cp == 0x2029)
    {
        return len;
    }
    return 0;
}


int
lmd_jinja_splitlines(struct lmd_jctx *ctx, struct lmd_jv s, int keepends,
    struct lmd_jv *out)
{
    const struct lmd_jstr  *str;
    struct lmd_jv           line;
    size_t                  i, start, br, n;
    uint32_t                cp;

    str = s.u.s;
    if (lmd_jv_list(ctx, 0, out) != LMD_OK) {
        return LMD_ERROR;
    }
    start = 0;
    for (i = 0; i < str->len; ) {
        br = lmd_jinja_linebreak(str->data + i, str->len - i);
        if (br == 0) {
            i += lmd_utf8_next(str->data + i, str->len - i, &cp);
            continue;
        }
        n = (keepends ? i + br : i) - start;
        if (lmd_jv_str(ctx, str->data + start, n, &line) != LMD_OK
            || lmd_jlist_push(ctx, out->u.l, line) != LMD_OK)
        {
            lmd_jv_unref(*out);
            return LMD_ERROR;
        }
        i += br;
        start = i;
    }
    if (start < str->len) {
        if (lmd_jv_str(ctx, str->data + start, str->len - start, &line)
            != LMD_OK
            || lmd_jlist_push(ctx, out->u.l, line) != LMD_OK)
        {
            lmd_jv_unref(*out);
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}
