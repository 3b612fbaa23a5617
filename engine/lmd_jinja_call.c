/*
 * lmd_jinja_call.c -- the global functions a template can call (range,
 * namespace, dict, and transformers' raise_exception and strftime_now),
 * the binding of call arguments to parameter names, and Python's int()
 * and float() of strings.
 *
 * range() stops at 100000 items as jinja2's sandbox does.  strftime_now()
 * formats the local time like Python's datetime.now().strftime(): %f is
 * the microseconds, and %z and %Z are empty (a naive datetime).
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "lmd_jinja.h"

enum {
    LMD_JG_RANGE,
    LMD_JG_NAMESPACE,
    LMD_JG_DICT,
    LMD_JG_RAISE,
    LMD_JG_STRFTIME
};

/* Immortal (refs -1): never written, shared by every render. */
static struct lmd_jfunc  lmd_jglobals[] = {
    { { -1 }, LMD_JF_GLOBAL, LMD_JG_RANGE, "range", { 0 }, NULL, NULL },
    { { -1 }, LMD_JF_GLOBAL, LMD_JG_NAMESPACE, "namespace", { 0 }, NULL,
      NULL },
    { { -1 }, LMD_JF_GLOBAL, LMD_JG_DICT, "dict", { 0 }, NULL, NULL },
    { { -1 }, LMD_JF_GLOBAL, LMD_JG_RAISE, "raise_exception", { 0 }, NULL,
      NULL },
    { { -1 }, LMD_JF_GLOBAL, LMD_JG_STRFTIME, "strftime_now", { 0 }, NULL,
      NULL }
};


int
lmd_jinja_global(const char *name, struct lmd_jv *out)
{
    size_t  i;

    for (i = 0; i < sizeof(lmd_jglobals) / sizeof(lmd_jglobals[0]); i++) {
        if (strcmp(lmd_jglobals[i].name, name) == 0) {
            memset(out, 0, sizeof(*out));
            out->type = LMD_JV_FUNC;
            out->u.fn = &lmd_jglobals[i];
            return 1;
        }
    }
    return 0;
}


int
lmd_jargs_bind(struct lmd_jctx *ctx, const char *what,
    const struct lmd_jargs *args, const char *const *params, size_t n,
    size_t first, struct lmd_jv *out)
{
    size_t  i, k;

    for (i = first; i < n; i++) {
        out[i] = lmd_jv_undef(NULL, NULL);
        out[i].flags = LMD_JV_MISSING;
    }
    if (first + args->n > n) {
        return lmd_jerr(ctx, "%s() takes at most %zu argument(s) (%zu "
                        "given)", what, n - first, args->n);
    }
    for (i = 0; i < args->n; i++) {
        out[first + i] = args->v[i];
    }
    for (k = 0; k < args->nkw; k++) {
        for (i = first; i < n; i++) {
            if (strcmp(params[i], args->kwname[k]) == 0) {
                break;
            }
        }
        if (i == n) {
            return lmd_jerr(ctx, "%s() got an unexpected keyword argument "
                            "'%s'", what, args->kwname[k]);
        }
        if (!lmd_jv_missing(out[i])) {
            return lmd_jerr(ctx, "%s() got multiple values for argument "
                            "'%s'", what, args->kwname[k]);
        }
        out[i] = args->kw[k];
    }
    return LMD_OK;
}


/* ------------------------------------------------------------------------
 * Python's int() and float() of text
 * ------------------------------------------------------------------------ */

/* The text without Python's leading and trailing white space. */
static void
lmd_jnum_trim(const char **s, size_t *len)
{
    size_t  n, k, last;

    while ((n = lmd_jinja_space_at(*s, *len)) > 0) {
        *s += n;
        *len -= n;
    }
    last = 0;
    for (k = 0; k < *len; k += n) {
        n = lmd_jinja_space_at(*s + k, *len - k);
        if (n == 0) {
            n = 1;
            while (k + n < *len
                   && ((unsigned char) (*s)[k + n] & 0xc0) == 0x80)
            {
                n++;
            }
            last = k + n;
        }
    }
    *len = last;
}


static int
lmd_jnum_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'Z') {
        return c - 'A' + 10;
    }
    return 99;
}


int
lmd_jinja_parse_int(const char *s, size_t len, int base, int64_t *v)
{
    uint64_t  acc, limit;
    size_t    i;
    int       neg, d, digits, prev_us;

    lmd_jnum_trim(&s, &len);
    neg = 0;
    i = 0;
    if (i < len && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    if (i + 1 < len && s[i] == '0') {
        d = s[i + 1] | 0x20;
        if ((d == 'x' && base == 16) || (d == 'o' && base == 8)
            || (d == 'b' && base == 2))
        {
            i += 2;
            if (i < len && s[i] == '_') {
                i++;
            }
        }
    }
    acc = 0;
    digits = 0;
    prev_us = 0;
    limit = neg ? UINT64_C(0x8000000000000000) : INT64_MAX;
    for (; i < len; i++) {
        if (s[i] == '_') {
            if (prev_us || digits == 0) {
                return LMD_DECLINED;
            }
            prev_us = 1;
            continue;
        }
        d = lmd_jnum_digit(s[i]);
        if (d >= base) {
            return LMD_DECLINED;
        }
        if (acc > (limit - (uint64_t) d) / (uint64_t) base) {
            return LMD_ERROR;               /* too big for 64 bits */
        }
        acc = acc * (uint64_t) base + (uint64_t) d;
        digits++;
        prev_us = 0;
    }
    if (digits == 0 || prev_us) {
        return LMD_DECLINED;
    }
    *v = neg ? (int64_t) (0 - acc) : (int64_t) acc;
    return LMD_OK;
}


int
lmd_jinja_parse_float(const char *s, size_t len, double *v)
{
    char     buf[128], *end;
    size_t   i, o;
    int      digits, prev_digit;

    lmd_jnum_trim(&s, &len);
    if (len == 0 || len >= sizeof(buf)) {
        return LMD_DECLINED;
    }
    i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
    if (len - i == 3 || len - i == 8) {
        if (strncasecmp(s + i, "inf", 3) == 0
            && (len - i == 3 || strncasecmp(s + i, "infinity", 8) == 0))
        {
            *v = s[0] == '-' ? -INFINITY : INFINITY;
            return LMD_OK;
        }
        if (len - i == 3 && strncasecmp(s + i, "nan", 3) == 0) {
            *v = NAN;
            return LMD_OK;
        }
    }
    /* digits, one ".", one exponent; "_" only between digits */
    o = 0;
    digits = 0;
    prev_digit = 0;
    for (i = 0; i < len; i++) {
        if (s[i] == '_') {
            if (!prev_digit || i + 1 >= len || s[i + 1] < '0'
                || s[i + 1] > '9')
            {
                return LMD_DECLINED;
            }
            continue;
        }
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == 'e'
              || s[i] == 'E' || s[i] == '+' || s[i] == '-'))
        {
            return LMD_DECLINED;
        }
        prev_digit = s[i] >= '0' && s[i] <= '9';
        digits += prev_digit;
        buf[o++] = s[i];
    }
    buf[o] = '\0';
    if (digits == 0) {
        return LMD_DECLINED;
    }
    *v = strtod(buf, &end);
    return *end == '\0' ? LMD_OK : LMD_DECLINED;
}


/* ------------------------------------------------------------------------
 * The globals
 * ------------------------------------------------------------------------ */

static int
lmd_jg_range(struct lmd_jctx *ctx, const struct lmd_jargs *args,
    struct lmd_jv *out)
{
    int64_t  a[3], start, stop, step, v;
    size_t   i, count;

    if (args->nkw > 0) {
        return lmd_jerr(ctx, "range() takes no keyword arguments");
    }
    if (args->n < 1 || args->n > 3) {
        return lmd_jerr(ctx, "range expected 1 to 3 arguments, got %zu",
                        args->n);
    }
    for (i = 0; i < args->n; i++) {
        if (args->v[i].type != LMD_JV_INT && args->v[i].type != LMD_JV_BOOL)
        {
            return lmd_jerr(ctx, "'%s' object cannot be interpreted as an "
                            "integer", lmd_jv_type_name(args->v[i]));
        }
        a[i] = args->v[i].u.i;
    }
    start = args->n == 1 ? 0 : a[0];
    stop = args->n == 1 ? a[0] : a[1];
    step = args->n == 3 ? a[2] : 1;
    if (step == 0) {
        return lmd_jerr(ctx, "range() arg 3 must not be zero");
    }
    /* unsigned arithmetic: the differences may not fit in int64 */
    if (step > 0) {
        count = start < stop ? (size_t) (((uint64_t) stop - (uint64_t) start
                                          - 1) / (uint64_t) step + 1) : 0;
    } else {
        count = start > stop ? (size_t) (((uint64_t) start - (uint64_t) stop
                                          - 1) / (0 - (uint64_t) step) + 1)
                             : 0;
    }
    if (count > LMD_JINJA_MAX_RANGE) {
        return lmd_jerr(ctx, "Range too big. The sandbox blocks ranges "
                        "larger than MAX_RANGE (%d).", LMD_JINJA_MAX_RANGE);
    }
    if (lmd_jv_list(ctx, count, out) != LMD_OK) {
        return LMD_ERROR;
    }
    out->flags = LMD_JV_RANGE;
    for (i = 0; i < count; i++) {
        v = (int64_t) ((uint64_t) start + (uint64_t) i * (uint64_t) step);
        out->u.l->v[out->u.l->n++] = lmd_jv_int(v);
    }
    return LMD_OK;
}


/* dict(mapping or pairs, **kwargs): also what namespace() starts from. */
static int
lmd_jg_dict(struct lmd_jctx *ctx, const struct lmd_jargs *args,
    struct lmd_jdict *d, const char *what)
{
    struct lmd_jv  src, items, pair;
    size_t         i;

    if (args->n > 1) {
        return lmd_jerr(ctx, "%s expected at most 1 argument, got %zu",
                        what, args->n);
    }
    if (args->n == 1) {
        src = args->v[0];
        if (src.type == LMD_JV_DICT || src.type == LMD_JV_NS) {
            for (i = 0; i < src.u.d->n; i++) {
                if (lmd_jdict_set(ctx, d, lmd_jv_ref(src.u.d->k[i]),
                                  lmd_jv_ref(src.u.d->v[i])) != LMD_OK)
                {
                    return LMD_ERROR;
                }
            }
        } else {
            if (lmd_jv_iterate(ctx, src, &items) != LMD_OK) {
                return LMD_ERROR;
            }
            for (i = 0; i < items.u.l->n; i++) {
                pair = items.u.l->v[i];
                if (pair.type != LMD_JV_LIST || pair.u.l->n != 2
                    || (pair.flags & LMD_JV_GEN))
                {
                    lmd_jv_unref(items);
                    return lmd_jerr(ctx, "%s: sequence element #%zu is not "
                                    "a pair", what, i);
                }
                if (lmd_jdict_set(ctx, d, lmd_jv_ref(pair.u.l->v[0]),
                                  lmd_jv_ref(pair.u.l->v[1])) != LMD_OK)
                {
                    lmd_jv_unref(items);
                    return LMD_ERROR;
                }
            }
            lmd_jv_unref(items);
        }
    }
    for (i = 0; i < args->nkw; i++) {
        struct lmd_jv  key;

        if (lmd_jv_str(ctx, args->kwname[i], strlen(args->kwname[i]), &key)
            != LMD_OK
            || lmd_jdict_set(ctx, d, key, lmd_jv_ref(args->kw[i])) != LMD_OK)
        {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


static int
lmd_jg_strftime(struct lmd_jctx *ctx, const struct lmd_jargs *args,
    struct lmd_jv *out)
{
    struct lmd_jbuf   b;
    struct timeval    tv;
    struct tm         tm;
    const char       *f;
    char              piece[3], tmp[256];
    time_t            t;
    size_t            i, n;
    int               rc;

    if (args->n != 1 || args->nkw > 0 || args->v[0].type != LMD_JV_STR) {
        return lmd_jerr(ctx, "strftime_now() takes one format string");
    }
    gettimeofday(&tv, NULL);
    t = tv.tv_sec;
    if (localtime_r(&t, &tm) == NULL) {
        return lmd_jerr(ctx, "strftime_now(): no local time");
    }
    f = args->v[0].u.s->data;
    n = args->v[0].u.s->len;
    memset(&b, 0, sizeof(b));
    rc = lmd_jbuf_add(ctx, &b, "", 0);
    for (i = 0; rc == LMD_OK && i < n; i++) {
        if (f[i] != '%' || i + 1 == n) {
            rc = lmd_jbuf_addc(ctx, &b, f[i]);
            continue;
        }
        i++;
        if (f[i] == 'f') {
            rc = lmd_jbuf_printf(ctx, &b, "%06ld", (long) tv.tv_usec);
            continue;
        }
        if (f[i] == 'z' || f[i] == 'Z') {
            continue;
        }
        piece[0] = '%';
        piece[1] = f[i];
        piece[2] = '\0';
        tmp[0] = '\0';
        rc = lmd_jbuf_add(ctx, &b, tmp, strftime(tmp, sizeof(tmp), piece,
                                                 &tm));
    }
    if (rc != LMD_OK) {
        free(b.data);
        return LMD_ERROR;
    }
    return lmd_jbuf_take(ctx, &b, out);
}


int
lmd_jinja_global_call(struct lmd_jctx *ctx, const struct lmd_jfunc *f,
    const struct lmd_jargs *args, struct lmd_jv *out)
{
    struct lmd_jv  msg;

    switch (f->id) {

    case LMD_JG_RANGE:
        return lmd_jg_range(ctx, args, out);

    case LMD_JG_NAMESPACE:
        if (lmd_jv_ns(ctx, out) != LMD_OK) {
            return LMD_ERROR;
        }
        if (lmd_jg_dict(ctx, args, out->u.d, "namespace") != LMD_OK) {
            lmd_jv_unref(*out);
            return LMD_ERROR;
        }
        return LMD_OK;

    case LMD_JG_DICT:
        if (lmd_jv_dict(ctx, 0, out) != LMD_OK) {
            return LMD_ERROR;
        }
        if (lmd_jg_dict(ctx, args, out->u.d, "dict") != LMD_OK) {
            lmd_jv_unref(*out);
            return LMD_ERROR;
        }
        return LMD_OK;

    case LMD_JG_RAISE:
        if (args->n != 1 || args->nkw > 0) {
            return lmd_jerr(ctx, "raise_exception() takes one argument");
        }
        if (lmd_jv_to_str(ctx, args->v[0], &msg) != LMD_OK) {
            return LMD_ERROR;
        }
        lmd_jerr(ctx, "%s", msg.u.s->data);
        lmd_jv_unref(msg);
        return LMD_ERROR;

    case LMD_JG_STRFTIME:
        return lmd_jg_strftime(ctx, args, out);

    default:
        return lmd_jerr(ctx, "internal error: global %d", f->id);
    }
}
