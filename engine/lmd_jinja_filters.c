/*
 * lmd_jinja_filters.c -- the filter table and the filters on single
 * values: default, trim, upper/lower/capitalize/title, replace, string,
 * int, float, abs, round, length/count, tojson, indent, center, escape,
 * safe, attr.  The filters that walk sequences are in lmd_jinja_seq.c.
 *
 * Each follows jinja2 3.1's definition (argument names included, so
 * keywords work), except tojson, which is transformers' replacement:
 * json.dumps(x, ensure_ascii=False, indent=None, separators=None,
 * sort_keys=False) with the arguments in that order, so tojson(2) sets
 * ensure_ascii, not the indent, exactly as it does in Python.
 *
 * |safe and |escape mark their result as markup; jinja2 would then escape
 * whatever is added to it with "+", which is refused here (see
 * lmd_jinja_ops.c) rather than silently done differently.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmd_jinja.h"

/* Parameter names after the input, for keyword arguments. */
static const struct {
    const char          *name;
    const char *const    params[5];
} lmd_jfilters[LMD_JFL_COUNT_OF] = {
    [LMD_JFL_ABS] = { "abs", { NULL } },
    [LMD_JFL_ATTR] = { "attr", { "name" } },
    [LMD_JFL_CAPITALIZE] = { "capitalize", { NULL } },
    [LMD_JFL_CENTER] = { "center", { "width" } },
    [LMD_JFL_COUNT] = { "count", { NULL } },
    [LMD_JFL_D] = { "d", { "default_value", "boolean" } },
    [LMD_JFL_DEFAULT] = { "default", { "default_value", "boolean" } },
    [LMD_JFL_DICTSORT] = { "dictsort", { "case_sensitive", "by",
                                         "reverse" } },
    [LMD_JFL_E] = { "e", { NULL } },
    [LMD_JFL_ESCAPE] = { "escape", { NULL } },
    [LMD_JFL_FIRST] = { "first", { NULL } },
    [LMD_JFL_FLOAT] = { "float", { "default" } },
    [LMD_JFL_INDENT] = { "indent", { "width", "first", "blank" } },
    [LMD_JFL_INT] = { "int", { "default", "base" } },
    [LMD_JFL_ITEMS] = { "items", { NULL } },
    [LMD_JFL_JOIN] = { "join", { "d", "attribute" } },
    [LMD_JFL_LAST] = { "last", { NULL } },
    [LMD_JFL_LENGTH] = { "length", { NULL } },
    [LMD_JFL_LIST] = { "list", { NULL } },
    [LMD_JFL_LOWER] = { "lower", { NULL } },
    [LMD_JFL_MAP] = { "map", { NULL } },
    [LMD_JFL_MAX] = { "max", { "case_sensitive", "attribute" } },
    [LMD_JFL_MIN] = { "min", { "case_sensitive", "attribute" } },
    [LMD_JFL_REJECT] = { "reject", { NULL } },
    [LMD_JFL_REJECTATTR] = { "rejectattr", { NULL } },
    [LMD_JFL_REPLACE] = { "replace", { "old", "new", "count" } },
    [LMD_JFL_REVERSE] = { "reverse", { NULL } },
    [LMD_JFL_ROUND] = { "round", { "precision", "method" } },
    [LMD_JFL_SAFE] = { "safe", { NULL } },
    [LMD_JFL_SELECT] = { "select", { NULL } },
    [LMD_JFL_SELECTATTR] = { "selectattr", { NULL } },
    [LMD_JFL_SORT] = { "sort", { "reverse", "case_sensitive",
                                 "attribute" } },
    [LMD_JFL_STRING] = { "string", { NULL } },
    [LMD_JFL_SUM] = { "sum", { "attribute", "start" } },
    [LMD_JFL_TITLE] = { "title", { NULL } },
    [LMD_JFL_TOJSON] = { "tojson", { "ensure_ascii", "indent",
                                     "separators", "sort_keys" } },
    [LMD_JFL_TRIM] = { "trim", { "chars" } },
    [LMD_JFL_UNIQUE] = { "unique", { "case_sensitive", "attribute" } },
    [LMD_JFL_UPPER] = { "upper", { NULL } }
};

/* jinja2's other builtin filters: known, refused at parse time. */
static const char *const  lmd_jfilters_unsupported[] = {
    "batch", "filesizeformat", "forceescape", "format", "groupby", "pprint",
    "random", "slice", "striptags", "truncate", "urlencode", "urlize",
    "wordcount", "wordwrap", "xmlattr", NULL
};


int
lmd_jinja_filter_find(const char *name)
{
    size_t  i;

    for (i = 0; i < LMD_JFL_COUNT_OF; i++) {
        if (strcmp(lmd_jfilters[i].name, name) == 0) {
            return (int) i;
        }
    }
    for (i = 0; lmd_jfilters_unsupported[i] != NULL; i++) {
        if (strcmp(lmd_jfilters_unsupported[i], name) == 0) {
            return -2;
        }
    }
    return -1;
}


int
lmd_jinja_filter_named(struct lmd_jctx *ctx, struct lmd_jv name,
    struct lmd_jv in, const struct lmd_jargs *args, struct lmd_jv *out)
{
    int  id;

    if (name.type != LMD_JV_STR) {
        return lmd_jerr(ctx, "a filter name must be a string");
    }
    id = lmd_jinja_filter_find(name.u.s->data);
    if (id < 0) {
        return lmd_jerr(ctx, "%s filter '%.64s'",
                        id == -1 ? "unknown" : "unsupported",
                        name.u.s->data);
    }
    return lmd_jinja_filter(ctx, id, in, args, out);
}


/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static int
lmd_jf_undefined(struct lmd_jctx *ctx, struct lmd_jv v)
{
    char  msg[LMD_ERR_LEN];

    lmd_jv_undef_message(v, msg, sizeof(msg));
    return lmd_jerr(ctx, "%s", msg);
}


/* An int argument (bools count), or def when it is missing. */
static int
lmd_jf_int_arg(struct lmd_jctx *ctx, const char *filter, struct lmd_jv v,
    int64_t def, int64_t *out)
{
    *out = def;
    if (lmd_jv_missing(v)) {
        return LMD_OK;
    }
    if (v.type != LMD_JV_INT && v.type != LMD_JV_BOOL) {
        return lmd_jerr(ctx, "%s(): expected an integer, got '%s'", filter,
                        lmd_jv_type_name(v));
    }
    *out = v.u.i;
    return LMD_OK;
}


static int
lmd_jf_flag(struct lmd_jv v)
{
    return !lmd_jv_missing(v) && lmd_jv_truthy(v);
}


/* round(x, ndigits) for floats, correctly rounded like Python's: glibc's
 * printf rounds the exact binary value half to even. */
static double
lmd_jf_round_float(double x, int64_t ndigits)
{
    char    buf[512];
    double  p;

    if (isnan(x) || isinf(x) || ndigits > 323) {
        return x;
    }
    if (ndigits >= 0) {
        snprintf(buf, sizeof(buf), "%.*f", (int) ndigits, x);
        return strtod(buf, NULL);
    }
    if (ndigits < -308) {
        return copysign(0.0, x);
    }
    p = pow(10.0, (double) -ndigits);
    return nearbyint(x / p) * p;
}


static int
lmd_jf_round(struct lmd_jctx *ctx, struct lmd_jv v, const struct lmd_jv *a,
    struct lmd_jv *out)
{
    int64_t      prec, m, q, r;
    const char  *method;
    double       p, x;
    int          k;

    if (lmd_jf_int_arg(ctx, "round", a[0], 0, &prec) != LMD_OK) {
        return LMD_ERROR;
    }
    method = "common";
    if (!lmd_jv_missing(a[1])) {
        if (a[1].type != LMD_JV_STR) {
            return lmd_jerr(ctx, "method must be common, ceil or floor");
        }
        method = a[1].u.s->data;
    }
    if (strcmp(method, "common") != 0 && strcmp(method, "ceil") != 0
        && strcmp(method, "floor") != 0)
    {
        return lmd_jerr(ctx, "method must be common, ceil or floor");
    }
    if (v.type == LMD_JV_UNDEF) {
        return lmd_jf_undefined(ctx, v);
    }
    if (v.type != LMD_JV_INT && v.type != LMD_JV_BOOL
        && v.type != LMD_JV_FLOAT)
    {
        return lmd_jerr(ctx, "type %s doesn't define __round__ method",
                        lmd_jv_type_name(v));
    }

    if (strcmp(method, "common") != 0) {
        /* func(value * 10**p) / 10**p: always a float */
        p = pow(10.0, (double) prec);
        x = v.type == LMD_JV_FLOAT ? v.u.f : (double) v.u.i;
        x = method[0] == 'c' ? ceil(x * p) : floor(x * p);
        *out = lmd_jv_float(x / p);
        return LMD_OK;
    }
    if (v.type == LMD_JV_FLOAT) {
        *out = lmd_jv_float(lmd_jf_round_float(v.u.f, prec));
        return LMD_OK;
    }
    /* round(int, n) stays an int: only n < 0 changes it, half to even */
    if (prec >= 0) {
        *out = lmd_jv_int(v.u.i);
        return LMD_OK;
    }
    if (prec < -18) {
        *out = lmd_jv_int(0);
        return LMD_OK;
    }
    m = 1;
    for (k = 0; k < -prec; k++) {
        m *= 10;
    }
    q = v.u.i / m;
    r = v.u.i % m;
    if (r < 0) {
        q--;
        r += m;
    }
    if (2 * r > m || (2 * r == m && (q & 1))) {
        q++;
    }
    if (__builtin_mul_overflow(q, m, &r)) {
        return lmd_jerr(ctx, "integer overflow in round()");
    }
    *out = lmd_jv_int(r);
    return LMD_OK;
}


static int
lmd_jf_tojson(struct lmd_jctx *ctx, struct lmd_jv v, const struct lmd_jv *a,
    struct lmd_jv *out)
{
    struct lmd_jjson  how;
    struct lmd_jbuf   b;
    char              spaces[256];
    int64_t           n;
    struct lmd_jv     sep;

    memset(&how, 0, sizeof(how));
    how.ensure_ascii = lmd_jf_flag(a[0]);
    how.item_sep = ", ";
    how.key_sep = ": ";
    if (!lmd_jv_missing(a[1]) && a[1].type != LMD_JV_NONE) {
        if (a[1].type == LMD_JV_STR) {
            how.indent = a[1].u.s->data;
            how.indent_len = a[1].u.s->len;
        } else if (a[1].type == LMD_JV_INT || a[1].type == LMD_JV_BOOL) {
            n = a[1].u.i < 0 ? 0 : a[1].u.i;
            if (n >= (int64_t) sizeof(spaces)) {
                return lmd_jerr(ctx, "tojson(): indent too large");
            }
            memset(spaces, ' ', (size_t) n);
            how.indent = spaces;
            how.indent_len = (size_t) n;
        } else {
            return lmd_jerr(ctx, "tojson(): indent must be an int or a "
                            "string");
        }
        how.item_sep = ",";
    }
    sep = a[2];
    if (!lmd_jv_missing(sep) && sep.type != LMD_JV_NONE) {
        if (sep.type != LMD_JV_LIST || sep.u.l->n != 2
            || (sep.flags & LMD_JV_GEN)
            || sep.u.l->v[0].type != LMD_JV_STR
            || sep.u.l->v[1].type != LMD_JV_STR)
        {
            return lmd_jerr(ctx, "tojson(): separators must be a pair of "
                            "strings");
        }
        how.item_sep = sep.u.l->v[0].u.s->data;
        how.key_sep = sep.u.l->v[1].u.s->data;
    }
    how.sort_keys = lmd_jf_flag(a[3]);
    memset(&b, 0, sizeof(b));
    if (lmd_jbuf_add(ctx, &b, "", 0) != LMD_OK
        || lmd_jinja_tojson(ctx, &b, v, &how) != LMD_OK)
    {
        free(b.data);
        return LMD_ERROR;
    }
    return lmd_jbuf_take(ctx, &b, out);
}


static int
lmd_jf_escape(struct lmd_jctx *ctx, struct lmd_jv v, struct lmd_jv *out)
{
    struct lmd_jbuf  b;
    struct lmd_jv    s;
    size_t           i;
    const char      *rep;
    int              rc;

    if (v.type == LMD_JV_STR && (v.flags & LMD_JV_MARKUP)) {
        *out = lmd_jv_ref(v);
        return LMD_OK;
    }
    if (lmd_jv_to_str(ctx, v, &s) != LMD_OK) {
        return LMD_ERROR;
    }
    memset(&b, 0, sizeof(b));
    rc = lmd_jbuf_add(ctx, &b, "", 0);
    for (i = 0; rc == LMD_OK && i < s.u.s->len; i++) {
        switch (s.u.s->data[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&#34;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            rep = NULL;
            break;
        }
        rc = rep ? lmd_jbuf_add(ctx, &b, rep, strlen(rep))
                 : lmd_jbuf_addc(ctx, &b, s.u.s->data[i]);
    }
    lmd_jv_unref(s);
    if (rc != LMD_OK || lmd_jbuf_take(ctx, &b, out) != LMD_OK) {
        free(b.data);
        return LMD_ERROR;
    }
    out->flags = LMD_JV_MARKUP;
    return LMD_OK;
}


/* jinja2's do_indent: the text gets a newline added first (so a last empty
 * line counts), every line but the first is indented unless empty. */
static int
lmd_jf_indent(struct lmd_jctx *ctx, struct lmd_jv v, const struct lmd_jv *a,
    struct lmd_jv *out)
{
    struct lmd_jbuf   b, tmp;
    struct lmd_jv     s, lines, line;
    const char       *ind;
    size_t            indlen, i;
    char              spaces[256];
    int64_t           w;
    int               rc, blank;

    if (v.type != LMD_JV_STR) {
        if (v.type == LMD_JV_UNDEF) {
            return lmd_jf_undefined(ctx, v);
        }
        return lmd_jerr(ctx, "indent(): unsupported operand type(s) for +: "
                        "'%s' and 'str'", lmd_jv_type_name(v));
    }
    if (!lmd_jv_missing(a[0]) && a[0].type == LMD_JV_STR) {
        ind = a[0].u.s->data;
        indlen = a[0].u.s->len;
    } else {
        if (lmd_jf_int_arg(ctx, "indent", a[0], 4, &w) != LMD_OK) {
            return LMD_ERROR;
        }
        w = w < 0 ? 0 : w;
        if (w >= (int64_t) sizeof(spaces)) {
            return lmd_jerr(ctx, "indent(): width too large");
        }
        memset(spaces, ' ', (size_t) w);
        ind = spaces;
        indlen = (size_t) w;
    }
    blank = lmd_jf_flag(a[2]);

    memset(&tmp, 0, sizeof(tmp));
    if (lmd_jbuf_add(ctx, &tmp, v.u.s->data, v.u.s->len) != LMD_OK
        || lmd_jbuf_addc(ctx, &tmp, '\n') != LMD_OK
        || lmd_jbuf_take(ctx, &tmp, &s) != LMD_OK)
    {
        free(tmp.data);
        return LMD_ERROR;
    }
    rc = lmd_jinja_splitlines(ctx, s, 0, &lines);
    lmd_jv_unref(s);
    if (rc != LMD_OK) {
        return LMD_ERROR;
    }
    memset(&b, 0, sizeof(b));
    rc = lmd_jbuf_add(ctx, &b, "", 0);
    if (rc == LMD_OK && lmd_jf_flag(a[1])) {
        rc = lmd_jbuf_add(ctx, &b, ind, indlen);
    }
    for (i = 0; rc == LMD_OK && i < lines.u.l->n; i++) {
        line = lines.u.l->v[i];
        if (i > 0) {
            rc = lmd_jbuf_addc(ctx, &b, '\n');
            if (rc == LMD_OK && (blank || line.u.s->len > 0)) {
                rc = lmd_jbuf_add(ctx, &b, ind, indlen);
            }
        }
        if (rc == LMD_OK) {
            rc = lmd_jbuf_add(ctx, &b, line.u.s->data, line.u.s->len);
        }
    }
    lmd_jv_unref(lines);
    if (rc != LMD_OK) {
        free(b.data);
        return LMD_ERROR;
    }
    return lmd_jbuf_take(ctx, &b, out);
}


/* Python's int(x) and float(x) as jinja2's |int and |float use them. */
static int
lmd_jf_number(struct lmd_jctx *ctx, int id, struct lmd_jv v,
    const struct lmd_jv *a, struct lmd_jv *out)
{
    int64_t  i, base;
    double   d;
    int      rc;

    if (v.type == LMD_JV_UNDEF) {
        return lmd_jf_undefined(ctx, v);
    }
    if (id == LMD_JFL_FLOAT) {
        if (v.type == LMD_JV_FLOAT) {
            *out = v;
            return LMD_OK;
        }
        if (v.type == LMD_JV_INT || v.type == LMD_JV_BOOL) {
            *out = lmd_jv_float((double) v.u.i);
            return LMD_OK;
        }
        if (v.type == LMD_JV_STR
            && lmd_jinja_parse_float(v.u.s->data, v.u.s->len, &d) == LMD_OK)
        {
            *out = lmd_jv_float(d);
            return LMD_OK;
        }
        *out = lmd_jv_missing(a[0]) ? lmd_jv_float(0.0) : lmd_jv_ref(a[0]);
        return LMD_OK;
    }

    if (lmd_jf_int_arg(ctx, "int", a[1], 10, &base) != LMD_OK) {
        return LMD_ERROR;
    }
    if (v.type == LMD_JV_INT || v.type == LMD_JV_BOOL) {
        *out = lmd_jv_int(v.u.i);
        return LMD_OK;
    }
    if (v.type == LMD_JV_FLOAT) {
        if (isinf(v.u.f)) {
            return lmd_jerr(ctx, "cannot convert float infinity to "
                            "integer");
        }
        if (!isnan(v.u.f)) {
            if (fabs(v.u.f) >= 9223372036854775808.0) {
                return lmd_jerr(ctx, "integer overflow in int()");
            }
            *out = lmd_jv_int((int64_t) v.u.f);
            return LMD_OK;
        }
    } else if (v.type == LMD_JV_STR) {
        if (base < 2 || base > 36) {
            return lmd_jerr(ctx, "int() base must be >= 2 and <= 36");
        }
        rc = lmd_jinja_parse_int(v.u.s->data, v.u.s->len, (int) base, &i);
        if (rc == LMD_OK) {
            *out = lmd_jv_int(i);
            return LMD_OK;
        }
        if (rc == LMD_ERROR) {
            return lmd_jerr(ctx, "integer overflow in int()");
        }
        /* "42.23"|int is 42: through float */
        if (lmd_jinja_parse_float(v.u.s->data, v.u.s->len, &d) == LMD_OK) {
            if (isinf(d)) {
                return lmd_jerr(ctx, "cannot convert float infinity to "
                                "integer");
            }
            if (!isnan(d) && fabs(d) < 9223372036854775808.0) {
                *out = lmd_jv_int((int64_t) d);
                return LMD_OK;
            }
        }
    }
    *out = lmd_jv_missing(a[0]) ? lmd_jv_int(0) : lmd_jv_ref(a[0]);
    return LMD_OK;
}


/* ------------------------------------------------------------------------
 * Dispatch
 * ------------------------------------------------------------------------ */

int
lmd_jinja_filter(struct lmd_jctx *ctx, int id, struct lmd_jv in,
    const struct lmd_jargs *args, struct lmd_jv *out)
{
    const char *const  *names;
    struct lmd_jv       a[5], s, tmp, none;
    size_t              np, len;
    int64_t             n;
    int                 rc, how;

    if (id < 0 || id >= LMD_JFL_COUNT_OF) {
        return lmd_jerr(ctx, "internal error: filter %d", id);
    }
    switch (id) {
    case LMD_JFL_MAP:
    case LMD_JFL_SELECT:
    case LMD_JFL_REJECT:
    case LMD_JFL_SELECTATTR:
    case LMD_JFL_REJECTATTR:
    case LMD_JFL_FIRST:
    case LMD_JFL_LAST:
    case LMD_JFL_LIST:
    case LMD_JFL_JOIN:
    case LMD_JFL_REVERSE:
    case LMD_JFL_ITEMS:
    case LMD_JFL_SORT:
    case LMD_JFL_UNIQUE:
    case LMD_JFL_MIN:
    case LMD_JFL_MAX:
    case LMD_JFL_SUM:
    case LMD_JFL_DICTSORT:
        return lmd_jinja_seq_filter(ctx, id, in, args, out);
    default:
        break;
    }

    names = lmd_jfilters[id].params;
    for (np = 0; np < 5 && names[np] != NULL; np++) {
        /* count the parameters */
    }
    if (lmd_jargs_bind(ctx, lmd_jfilters[id].name, args, names, np, 0, a)
        != LMD_OK)
    {
        return LMD_ERROR;
    }
    none = lmd_jv_none();

    switch (id) {

    case LMD_JFL_D:
    case LMD_JFL_DEFAULT:
        if (in.type == LMD_JV_UNDEF
            || (lmd_jf_flag(a[1]) && !lmd_jv_truthy(in)))
        {
            if (lmd_jv_missing(a[0])) {
                return lmd_jv_str(ctx, "", 0, out);
            }
            *out = lmd_jv_ref(a[0]);
            return LMD_OK;
        }
        *out = lmd_jv_ref(in);
        return LMD_OK;

    case LMD_JFL_LENGTH:
    case LMD_JFL_COUNT:
        if (lmd_jv_length(ctx, in, &len) != LMD_OK) {
            return LMD_ERROR;
        }
        *out = lmd_jv_int((int64_t) len);
        return LMD_OK;

    case LMD_JFL_STRING:
        return lmd_jv_to_str(ctx, in, out);

    case LMD_JFL_SAFE:
        if (lmd_jv_to_str(ctx, in, out) != LMD_OK) {
            return LMD_ERROR;
        }
        out->flags = LMD_JV_MARKUP;
        return LMD_OK;

    case LMD_JFL_E:
    case LMD_JFL_ESCAPE:
        return lmd_jf_escape(ctx, in, out);

    case LMD_JFL_TOJSON:
        return lmd_jf_tojson(ctx, in, a, out);

    case LMD_JFL_INDENT:
        return lmd_jf_indent(ctx, in, a, out);

    case LMD_JFL_INT:
    case LMD_JFL_FLOAT:
        return lmd_jf_number(ctx, id, in, a, out);

    case LMD_JFL_ROUND:
        return lmd_jf_round(ctx, in, a, out);

    case LMD_JFL_ABS:
        if (in.type == LMD_JV_FLOAT) {
            *out = lmd_jv_float(fabs(in.u.f));
            return LMD_OK;
        }
        if (in.type == LMD_JV_INT || in.type == LMD_JV_BOOL) {
            if (in.u.i == INT64_MIN) {
                return lmd_jerr(ctx, "integer overflow in abs()");
            }
            *out = lmd_jv_int(in.u.i < 0 ? -in.u.i : in.u.i);
            return LMD_OK;
        }
        if (in.type == LMD_JV_UNDEF) {
            return lmd_jf_undefined(ctx, in);
        }
        return lmd_jerr(ctx, "bad operand type for abs(): '%s'",
                        lmd_jv_type_name(in));

    case LMD_JFL_ATTR:
        if (a[0].type != LMD_JV_STR) {
            return lmd_jerr(ctx, "attr(): the name must be a string");
        }
        if (in.type == LMD_JV_NS || in.type == LMD_JV_LOOP) {
            return lmd_jinja_getattr(ctx, in, a[0].u.s->data, out);
        }
        if (in.type == LMD_JV_UNDEF) {
            *out = lmd_jv_undef(NULL, NULL);
            return LMD_OK;
        }
        /* getattr() only: items are not attributes here */
        rc = lmd_jinja_method_find(ctx, in, a[0].u.s->data, out);
        if (rc == LMD_DECLINED) {
            *out = lmd_jv_undef(NULL, NULL);
            return LMD_OK;
        }
        return rc;

    default:
        break;
    }

    /* the rest work on str(value) */
    if (lmd_jv_to_str(ctx, in, &s) != LMD_OK) {
        return LMD_ERROR;
    }
    rc = LMD_OK;
    switch (id) {

    case LMD_JFL_TRIM:
        rc = lmd_jinja_strip(ctx, s, lmd_jv_missing(a[0]) ? none : a[0], 1,
                             1, out);
        break;

    case LMD_JFL_UPPER:
    case LMD_JFL_LOWER:
    case LMD_JFL_CAPITALIZE:
    case LMD_JFL_TITLE:
        how = id == LMD_JFL_UPPER ? LMD_JCASE_UPPER
              : id == LMD_JFL_LOWER ? LMD_JCASE_LOWER
              : id == LMD_JFL_CAPITALIZE ? LMD_JCASE_CAPITALIZE
              : LMD_JCASE_JTITLE;
        rc = lmd_jinja_case(ctx, s, how, out);
        break;

    case LMD_JFL_REPLACE:
        if (lmd_jv_missing(a[0]) || lmd_jv_missing(a[1])) {
            rc = lmd_jerr(ctx, "replace() needs old and new");
            break;
        }
        n = -1;
        if (!lmd_jv_missing(a[2]) && a[2].type != LMD_JV_NONE
            && lmd_jf_int_arg(ctx, "replace", a[2], -1, &n) != LMD_OK)
        {
            rc = LMD_ERROR;
            break;
        }
        {
            struct lmd_jv  o, w;

            if (lmd_jv_to_str(ctx, a[0], &o) != LMD_OK) {
                rc = LMD_ERROR;
                break;
            }
            if (lmd_jv_to_str(ctx, a[1], &w) != LMD_OK) {
                lmd_jv_unref(o);
                rc = LMD_ERROR;
                break;
            }
            rc = lmd_jinja_replace(ctx, s, o, w, n, out);
            lmd_jv_unref(o);
            lmd_jv_unref(w);
        }
        break;

    case LMD_JFL_CENTER:
        if (lmd_jf_int_arg(ctx, "center", a[0], 80, &n) != LMD_OK) {
            rc = LMD_ERROR;
            break;
        }
        {
            struct lmd_jargs  cargs;
            struct lmd_jv     m;

            /* str.center(width) */
            memset(&cargs, 0, sizeof(cargs));
            cargs.n = 1;
            cargs.v[0] = lmd_jv_int(n);
            rc = lmd_jinja_method_find(ctx, s, "center", &m);
            if (rc == LMD_OK) {
                rc = lmd_jinja_call(ctx, m, &cargs, out);
                lmd_jv_unref(m);
            }
        }
        break;

    default:
        rc = lmd_jerr(ctx, "internal error: filter %d", id);
        break;
    }
    tmp = s;
    lmd_jv_unref(tmp);
    return rc;
}
