/*
 * lmd_jinja_value.c -- the values a template computes with: making,
 * counting and freeing them, and the Python rules templates rely on:
 * truth values, ==, ordering, len(), iteration, and str()/repr() down to
 * the byte (True/None capitalized, lists as ['a', 'b'], floats in
 * Python's shortest round-trip form).
 */

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmd_jinja.h"


/* ------------------------------------------------------------------------
 * Making and freeing
 * ------------------------------------------------------------------------ */

struct lmd_jv
lmd_jv_undef(const char *name, const char *of)
{
    struct lmd_jv  v;

    memset(&v, 0, sizeof(v));
    v.type = LMD_JV_UNDEF;
    v.u.undef.name = name;
    v.u.undef.of = of;
    return v;
}


/* An undefined whose message is given whole ("No first item..."). */
struct lmd_jv
lmd_jv_hint(const char *message)
{
    struct lmd_jv  v;

    v = lmd_jv_undef(message, NULL);
    v.flags = LMD_JV_HINT;
    return v;
}


struct lmd_jv
lmd_jv_none(void)
{
    struct lmd_jv  v;

    memset(&v, 0, sizeof(v));
    v.type = LMD_JV_NONE;
    return v;
}


struct lmd_jv
lmd_jv_bool(int b)
{
    struct lmd_jv  v;

    memset(&v, 0, sizeof(v));
    v.type = LMD_JV_BOOL;
    v.u.i = b ? 1 : 0;
    return v;
}


struct lmd_jv
lmd_jv_int(int64_t i)
{
    struct lmd_jv  v;

    memset(&v, 0, sizeof(v));
    v.type = LMD_JV_INT;
    v.u.i = i;
    return v;
}


struct lmd_jv
lmd_jv_float(double f)
{
    struct lmd_jv  v;

    memset(&v, 0, sizeof(v));
    v.type = LMD_JV_FLOAT;
    v.u.f = f;
    return v;
}


static struct lmd_jstr *
lmd_jstr_alloc(const char *s, size_t len)
{
    struct lmd_jstr  *str;

    str = malloc(sizeof(struct lmd_jstr) + len + 1);
    if (str == NULL) {
        return NULL;
    }
    str->hdr.refs = 1;
    str->len = len;
    if (len > 0) {
        memcpy(str->data, s, len);
    }
    str->data[len] = '\0';
    str->ncp = lmd_utf8_count(str->data, len);
    return str;
}


int
lmd_jv_str(struct lmd_jctx *ctx, const char *s, size_t len,
    struct lmd_jv *out)
{
    struct lmd_jstr  *str;

    if (len > LMD_JINJA_MAX_OUTPUT) {
        return lmd_jerr(ctx, "a string would exceed %u MiB",
                        LMD_JINJA_MAX_OUTPUT >> 20);
    }
    str = lmd_jstr_alloc(s, len);
    if (str == NULL) {
        return lmd_jerr_oom(ctx);
    }
    memset(out, 0, sizeof(*out));
    out->type = LMD_JV_STR;
    out->u.s = str;
    return LMD_OK;
}


struct lmd_jstr *
lmd_jstr_static(const char *s, size_t len)
{
    struct lmd_jstr  *str;

    str = lmd_jstr_alloc(s, len);
    if (str != NULL) {
        str->hdr.refs = -1;
    }
    return str;
}


int
lmd_jv_list(struct lmd_jctx *ctx, size_t n, struct lmd_jv *out)
{
    struct lmd_jlist  *l;

    if (n > LMD_JINJA_MAX_ITEMS) {
        return lmd_jerr(ctx, "a list would exceed %u items",
                        LMD_JINJA_MAX_ITEMS);
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return lmd_jerr_oom(ctx);
    }
    if (n > 0) {
        l->v = malloc(n * sizeof(struct lmd_jv));
        if (l->v == NULL) {
            free(l);
            return lmd_jerr_oom(ctx);
        }
        l->cap = n;
    }
    l->hdr.refs = 1;
    memset(out, 0, sizeof(*out));
    out->type = LMD_JV_LIST;
    out->u.l = l;
    return LMD_OK;
}


int
lmd_jv_dict(struct lmd_jctx *ctx, size_t n, struct lmd_jv *out)
{
    struct lmd_jdict  *d;

    if (n > LMD_JINJA_MAX_ITEMS) {
        return lmd_jerr(ctx, "a dict would exceed %u items",
                        LMD_JINJA_MAX_ITEMS);
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return lmd_jerr_oom(ctx);
    }
    if (n > 0) {
        d->k = malloc(n * sizeof(struct lmd_jv));
        d->v = malloc(n * sizeof(struct lmd_jv));
        if (d->k == NULL || d->v == NULL) {
            free(d->k);
            free(d->v);
            free(d);
            return lmd_jerr_oom(ctx);
        }
        d->cap = n;
    }
    d->hdr.refs = 1;
    memset(out, 0, sizeof(*out));
    out->type = LMD_JV_DICT;
    out->u.d = d;
    return LMD_OK;
}


/* A namespace is a dict of attributes that `set ns.x = ...` may change;
 * the render tracks it (see lmd_jinja.h, Design). */
int
lmd_jv_ns(struct lmd_jctx *ctx, struct lmd_jv *out)
{
    if (lmd_jv_dict(ctx, 0, out) != LMD_OK) {
        return LMD_ERROR;
    }
    out->type = LMD_JV_NS;
    if (lmd_jctx_track_ns(ctx, out->u.d) != LMD_OK) {
        lmd_jv_unref(*out);
        return LMD_ERROR;
    }
    return LMD_OK;
}


static void
lmd_jdict_free(struct lmd_jdict *d)
{
    size_t  i;

    for (i = 0; i < d->n; i++) {
        lmd_jv_unref(d->k[i]);
        lmd_jv_unref(d->v[i]);
    }
    free(d->k);
    free(d->v);
    free(d);
}


void
lmd_jv_unref(struct lmd_jv v)
{
    size_t  i;

    if (v.type < LMD_JV_STR || v.u.obj->refs < 0) {
        return;
    }
    if (--v.u.obj->refs > 0) {
        return;
    }
    switch (v.type) {

    case LMD_JV_STR:
        free(v.u.s);
        break;

    case LMD_JV_LIST:
        for (i = 0; i < v.u.l->n; i++) {
            lmd_jv_unref(v.u.l->v[i]);
        }
        free(v.u.l->v);
        free(v.u.l);
        break;

    case LMD_JV_DICT:
    case LMD_JV_NS:
        lmd_jdict_free(v.u.d);
        break;

    case LMD_JV_FUNC:
        lmd_jv_unref(v.u.fn->self);
        if (v.u.fn->scope != NULL) {
            lmd_jscope_unref(v.u.fn->scope);
        }
        free(v.u.fn);
        break;

    case LMD_JV_LOOP:
        lmd_jv_unref(v.u.loop->items);
        free(v.u.loop);
        break;

    default:
        break;
    }
}


int
lmd_jlist_push(struct lmd_jctx *ctx, struct lmd_jlist *l, struct lmd_jv v)
{
    struct lmd_jv  *nv;
    size_t          cap;

    if (l->n == l->cap) {
        if (l->n >= LMD_JINJA_MAX_ITEMS) {
            lmd_jv_unref(v);
            return lmd_jerr(ctx, "a list would exceed %u items",
                            LMD_JINJA_MAX_ITEMS);
        }
        cap = l->cap ? l->cap * 2 : 8;
        nv = realloc(l->v, cap * sizeof(struct lmd_jv));
        if (nv == NULL) {
            lmd_jv_unref(v);
            return lmd_jerr_oom(ctx);
        }
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return LMD_OK;
}


/* ------------------------------------------------------------------------
 * Dicts
 * ------------------------------------------------------------------------ */

int
lmd_jv_hashable(struct lmd_jv v)
{
    size_t  i;

    switch (v.type) {
    case LMD_JV_LIST:
        if (!(v.flags & LMD_JV_TUPLE)) {
            return v.flags & (LMD_JV_GEN | LMD_JV_RANGE);
        }
        for (i = 0; i < v.u.l->n; i++) {
            if (!lmd_jv_hashable(v.u.l->v[i])) {
                return 0;
            }
        }
        return 1;
    case LMD_JV_DICT:
    case LMD_JV_NS:
        return 0;
    default:
        return 1;
    }
}


int
lmd_jdict_find(struct lmd_jctx *ctx, const struct lmd_jdict *d,
    struct lmd_jv key, long *index)
{
    size_t  i;

    *index = -1;
    if (!lmd_jv_hashable(key)) {
        return lmd_jerr(ctx, "unhashable type: '%s'", lmd_jv_type_name(key));
    }
    for (i = 0; i < d->n; i++) {
        if (lmd_jv_equal(d->k[i], key)) {
            *index = (long) i;
            break;
        }
    }
    return LMD_OK;
}


struct lmd_jv *
lmd_jdict_get_str(const struct lmd_jdict *d, const char *key)
{
    size_t  i, len;

    len = strlen(key);
    for (i = 0; i < d->n; i++) {
        if (d->k[i].type == LMD_JV_STR && d->k[i].u.s->len == len
            && memcmp(d->k[i].u.s->data, key, len) == 0)
        {
            return &d->v[i];
        }
    }
    return NULL;
}


int
lmd_jdict_set(struct lmd_jctx *ctx, struct lmd_jdict *d, struct lmd_jv key,
    struct lmd_jv v)
{
    struct lmd_jv  *nk, *nv;
    size_t          cap;
    long            i;

    if (lmd_jdict_find(ctx, d, key, &i) != LMD_OK) {
        goto failed;
    }
    if (i >= 0) {
        lmd_jv_unref(key);
        lmd_jv_unref(d->v[i]);
        d->v[i] = v;
        return LMD_OK;
    }
    if (d->n == d->cap) {
        if (d->n >= LMD_JINJA_MAX_ITEMS) {
            lmd_jerr(ctx, "a dict would exceed %u items",
                     LMD_JINJA_MAX_ITEMS);
            goto failed;
        }
        cap = d->cap ? d->cap * 2 : 8;
        nk = realloc(d->k, cap * sizeof(struct lmd_jv));
        if (nk == NULL) {
            lmd_jerr_oom(ctx);
            goto failed;
        }
        d->k = nk;
        nv = realloc(d->v, cap * sizeof(struct lmd_jv));
        if (nv == NULL) {
            lmd_jerr_oom(ctx);
            goto failed;
        }
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = key;
    d->v[d->n] = v;
    d->n++;
    return LMD_OK;

failed:
    lmd_jv_unref(key);
    lmd_jv_unref(v);
    return LMD_ERROR;
}


/* ------------------------------------------------------------------------
 * Truth, equality, order
 * ------------------------------------------------------------------------ */

int
lmd_jv_truthy(struct lmd_jv v)
{
    switch (v.type) {
    case LMD_JV_UNDEF:
    case LMD_JV_NONE:
        return 0;
    case LMD_JV_BOOL:
    case LMD_JV_INT:
        return v.u.i != 0;
    case LMD_JV_FLOAT:
        return v.u.f != 0.0;
    case LMD_JV_STR:
        return v.u.s->len > 0;
    case LMD_JV_LIST:
        /* an iterator is an object: always true, even when empty */
        return (v.flags & LMD_JV_GEN) || v.u.l->n > 0;
    case LMD_JV_DICT:
        return v.u.d->n > 0;
    default:
        return 1;
    }
}


static int
lmd_jv_numeric(struct lmd_jv v)
{
    return v.type == LMD_JV_BOOL || v.type == LMD_JV_INT
           || v.type == LMD_JV_FLOAT;
}


/* Exact three-way comparison of an int with a float (Python compares the
 * values, not their double roundings); 2 when f is NaN. */
static int
lmd_jcmp_int_float(int64_t i, double f)
{
    double  fi;

    if (isnan(f)) {
        return 2;
    }
    if (f >= 9223372036854775808.0) {
        return -1;
    }
    if (f < -9223372036854775808.0) {
        return 1;
    }
    fi = (double) i;
    if (fi < f) {
        return -1;
    }
    if (fi > f) {
        return 1;
    }
    /* f is integral and in range */
    return i < (int64_t) f ? -1 : i > (int64_t) f ? 1 : 0;
}


/* Three-way numeric comparison; 2 for unordered (NaN). */
int
lmd_jv_numcmp(struct lmd_jv a, struct lmd_jv b)
{
    int  r;

    if (a.type != LMD_JV_FLOAT && b.type != LMD_JV_FLOAT) {
        return a.u.i < b.u.i ? -1 : a.u.i > b.u.i ? 1 : 0;
    }
    if (a.type == LMD_JV_FLOAT && b.type == LMD_JV_FLOAT) {
        if (isnan(a.u.f) || isnan(b.u.f)) {
            return 2;
        }
        return a.u.f < b.u.f ? -1 : a.u.f > b.u.f ? 1 : 0;
    }
    if (a.type == LMD_JV_FLOAT) {
        r = lmd_jcmp_int_float(b.u.i, a.u.f);
        return r == 2 ? 2 : -r;
    }
    return lmd_jcmp_int_float(a.u.i, b.u.f);
}


static int
lmd_jstr_cmp(const struct lmd_jstr *a, const struct lmd_jstr *b)
{
    int  r;

    /* UTF-8 byte order is code point order, Python's str order */
    r = memcmp(a->data, b->data, a->len < b->len ? a->len : b->len);
    if (r != 0) {
        return r < 0 ? -1 : 1;
    }
    return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}


int
lmd_jv_equal(struct lmd_jv a, struct lmd_jv b)
{
    size_t  i;
    long    j;

    if (lmd_jv_numeric(a) && lmd_jv_numeric(b)) {
        return lmd_jv_numcmp(a, b) == 0;
    }
    if (a.type != b.type) {
        return 0;
    }
    switch (a.type) {
    case LMD_JV_UNDEF:
    case LMD_JV_NONE:
        return 1;
    case LMD_JV_STR:
        return a.u.s->len == b.u.s->len
               && memcmp(a.u.s->data, b.u.s->data, a.u.s->len) == 0;
    case LMD_JV_LIST:
        if (a.u.l == b.u.l) {
            return 1;
        }
        /* lists equal lists, tuples tuples; iterators only themselves */
        if (a.flags != b.flags
            || (a.flags & (LMD_JV_GEN | LMD_JV_VIEW)))
        {
            return 0;
        }
        if (a.u.l->n != b.u.l->n) {
            return 0;
        }
        for (i = 0; i < a.u.l->n; i++) {
            if (!lmd_jv_equal(a.u.l->v[i], b.u.l->v[i])) {
                return 0;
            }
        }
        return 1;
    case LMD_JV_DICT:
        if (a.u.d->n != b.u.d->n) {
            return 0;
        }
        for (i = 0; i < a.u.d->n; i++) {
            for (j = 0; j < (long) b.u.d->n; j++) {
                if (lmd_jv_equal(a.u.d->k[i], b.u.d->k[j])) {
                    break;
                }
            }
            if (j == (long) b.u.d->n
                || !lmd_jv_equal(a.u.d->v[i], b.u.d->v[j]))
            {
                return 0;
            }
        }
        return 1;
    default:
        return a.u.obj == b.u.obj;
    }
}


/* Python's ordering for sort() and <: numbers with numbers, strings with
 * strings, lists with lists (tuples with tuples) item by item; anything
 * else is a TypeError naming op. */
int
lmd_jv_compare(struct lmd_jctx *ctx, struct lmd_jv a, struct lmd_jv b,
    int *result)
{
    size_t  i, n;
    int     r;

    if (lmd_jv_numeric(a) && lmd_jv_numeric(b)) {
        r = lmd_jv_numcmp(a, b);
        *result = r == 2 ? 0 : r;
        return LMD_OK;
    }
    if (a.type == LMD_JV_STR && b.type == LMD_JV_STR) {
        *result = lmd_jstr_cmp(a.u.s, b.u.s);
        return LMD_OK;
    }
    if (a.type == LMD_JV_LIST && b.type == LMD_JV_LIST
        && (a.flags & ~LMD_JV_RANGE) == (b.flags & ~LMD_JV_RANGE)
        && !(a.flags & (LMD_JV_GEN | LMD_JV_VIEW | LMD_JV_RANGE)))
    {
        n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (i = 0; i < n; i++) {
            if (!lmd_jv_equal(a.u.l->v[i], b.u.l->v[i])) {
                return lmd_jv_compare(ctx, a.u.l->v[i], b.u.l->v[i],
                                      result);
            }
        }
        *result = a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n ? 1 : 0;
        return LMD_OK;
    }
    if (a.type == LMD_JV_UNDEF || b.type == LMD_JV_UNDEF) {
        char  msg[LMD_ERR_LEN];

        lmd_jv_undef_message(a.type == LMD_JV_UNDEF ? a : b, msg,
                             sizeof(msg));
        return lmd_jerr(ctx, "%s", msg);
    }
    return lmd_jerr(ctx, "'<' not supported between instances of '%s' and "
                    "'%s'", lmd_jv_type_name(a), lmd_jv_type_name(b));
}


/* ------------------------------------------------------------------------
 * Names, lengths, iteration
 * ------------------------------------------------------------------------ */

const char *
lmd_jv_type_name(struct lmd_jv v)
{
    switch (v.type) {
    case LMD_JV_UNDEF:
        return "Undefined";
    case LMD_JV_NONE:
        return "NoneType";
    case LMD_JV_BOOL:
        return "bool";
    case LMD_JV_INT:
        return "int";
    case LMD_JV_FLOAT:
        return "float";
    case LMD_JV_STR:
        return "str";
    case LMD_JV_LIST:
        if (v.flags & LMD_JV_TUPLE) {
            return "tuple";
        }
        if (v.flags & LMD_JV_GEN) {
            return "generator";
        }
        if (v.flags & LMD_JV_RANGE) {
            return "range";
        }
        if (v.flags & LMD_JV_KEYS) {
            return "dict_keys";
        }
        if (v.flags & LMD_JV_VALUES) {
            return "dict_values";
        }
        if (v.flags & LMD_JV_ITEMS) {
            return "dict_items";
        }
        return "list";
    case LMD_JV_DICT:
        return "dict";
    case LMD_JV_NS:
        return "Namespace";
    case LMD_JV_FUNC:
        if (v.u.fn->kind == LMD_JF_MACRO || v.u.fn->kind == LMD_JF_CALLER) {
            return "Macro";
        }
        if (v.u.fn->kind == LMD_JF_GLOBAL) {
            return "function";
        }
        return "builtin_function_or_method";
    case LMD_JV_LOOP:
        return "LoopContext";
    default:
        return "object";
    }
}


/* jinja2's object_type_repr(): "dict object", "None", ... */
const char *
lmd_jv_object_name(struct lmd_jv v)
{
    switch (v.type) {
    case LMD_JV_NONE:
        return "None";
    case LMD_JV_UNDEF:
        return "jinja2.runtime.Undefined object";
    case LMD_JV_BOOL:
        return "bool object";
    case LMD_JV_INT:
        return "int object";
    case LMD_JV_FLOAT:
        return "float object";
    case LMD_JV_STR:
        return "str object";
    case LMD_JV_LIST:
        if (v.flags & LMD_JV_TUPLE) {
            return "tuple object";
        }
        if (v.flags & LMD_JV_GEN) {
            return "generator object";
        }
        if (v.flags & LMD_JV_RANGE) {
            return "range object";
        }
        if (v.flags & LMD_JV_VIEW) {
            return "dict view object";
        }
        return "list object";
    case LMD_JV_DICT:
        return "dict object";
    case LMD_JV_NS:
        return "jinja2.utils.Namespace object";
    case LMD_JV_LOOP:
        return "jinja2.runtime.LoopContext object";
    case LMD_JV_FUNC:
        if (v.u.fn->kind == LMD_JF_MACRO || v.u.fn->kind == LMD_JF_CALLER) {
            return "jinja2.runtime.Macro object";
        }
        return "builtin_function_or_method object";
    default:
        return "object";
    }
}


void
lmd_jv_undef_message(struct lmd_jv v, char *buf, size_t size)
{
    if (v.flags & LMD_JV_HINT) {
        snprintf(buf, size, "%s", v.u.undef.name);
    } else if (v.u.undef.name == NULL) {
        snprintf(buf, size, "the value is undefined");
    } else if (v.u.undef.of != NULL) {
        snprintf(buf, size, "'%s' has no attribute '%s'", v.u.undef.of,
                 v.u.undef.name);
    } else {
        snprintf(buf, size, "'%s' is undefined", v.u.undef.name);
    }
}


int
lmd_jv_length(struct lmd_jctx *ctx, struct lmd_jv v, size_t *len)
{
    switch (v.type) {
    case LMD_JV_UNDEF:
        *len = 0;
        return LMD_OK;
    case LMD_JV_STR:
        *len = v.u.s->ncp;
        return LMD_OK;
    case LMD_JV_LIST:
        if (v.flags & LMD_JV_GEN) {
            break;
        }
        *len = v.u.l->n;
        return LMD_OK;
    case LMD_JV_DICT:
        *len = v.u.d->n;
        return LMD_OK;
    case LMD_JV_LOOP:
        *len = v.u.loop->items.u.l->n;
        return LMD_OK;
    default:
        break;
    }
    return lmd_jerr(ctx, "object of type '%s' has no len()",
                    lmd_jv_type_name(v));
}


int
lmd_jv_iterate(struct lmd_jctx *ctx, struct lmd_jv v, struct lmd_jv *out)
{
    struct lmd_jv  item;
    size_t         i, n;
    uint32_t       cp;

    switch (v.type) {

    case LMD_JV_UNDEF:
        return lmd_jv_list(ctx, 0, out);

    case LMD_JV_LIST:
        *out = lmd_jv_ref(v);
        return LMD_OK;

    case LMD_JV_DICT:
        if (lmd_jv_list(ctx, v.u.d->n, out) != LMD_OK) {
            return LMD_ERROR;
        }
        for (i = 0; i < v.u.d->n; i++) {
            out->u.l->v[i] = lmd_jv_ref(v.u.d->k[i]);
        }
        out->u.l->n = v.u.d->n;
        return LMD_OK;

    case LMD_JV_STR:
        if (lmd_jv_list(ctx, v.u.s->ncp, out) != LMD_OK) {
            return LMD_ERROR;
        }
        for (i = 0; i < v.u.s->len; i += n) {
            n = lmd_utf8_next(v.u.s->data + i, v.u.s->len - i, &cp);
            if (lmd_jv_str(ctx, v.u.s->data + i, n, &item) != LMD_OK
                || lmd_jlist_push(ctx, out->u.l, item) != LMD_OK)
            {
                lmd_jv_unref(*out);
                return LMD_ERROR;
            }
        }
        return LMD_OK;

    default:
        return lmd_jerr(ctx, "'%s' object is not iterable",
                        lmd_jv_type_name(v));
    }
}


/* ------------------------------------------------------------------------
 * str() and repr()
 * ------------------------------------------------------------------------ */

void
lmd_jinja_float_repr(double d, char *buf, size_t size)
{
    char    tmp[40], digits[24], *p, *e;
    int     prec, nd, decpt, exp10, i;
    size_t  o;

    if (isnan(d)) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(d)) {
        snprintf(buf, size, d < 0 ? "-inf" : "inf");
        return;
    }
    if (d == 0.0) {
        snprintf(buf, size, signbit(d) ? "-0.0" : "0.0");
        return;
    }

    /* the shortest digits that read back as d, as Python's repr */
    for (prec = 1; prec < 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d) {
            break;
        }
    }
    if (prec == 17) {
        snprintf(tmp, sizeof(tmp), "%.16e", d);
    }

    p = tmp;
    o = 0;
    if (*p == '-') {
        buf[o++] = '-';
        p++;
    }
    nd = 0;
    for (; *p != 'e' && *p != '\0'; p++) {
        if (*p >= '0' && *p <= '9') {
            digits[nd++] = *p;
        }
    }
    exp10 = (int) strtol(p + 1, &e, 10);
    while (nd > 1 && digits[nd - 1] == '0') {
        nd--;
    }
    decpt = exp10 + 1;

    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            buf[o++] = '0';
            buf[o++] = '.';
            for (i = 0; i < -decpt; i++) {
                buf[o++] = '0';
            }
            for (i = 0; i < nd; i++) {
                buf[o++] = digits[i];
            }
        } else if (decpt >= nd) {
            for (i = 0; i < nd; i++) {
                buf[o++] = digits[i];
            }
            for (i = nd; i < decpt; i++) {
                buf[o++] = '0';
            }
            buf[o++] = '.';
            buf[o++] = '0';
        } else {
            for (i = 0; i < nd; i++) {
                if (i == decpt) {
                    buf[o++] = '.';
                }
                buf[o++] = digits[i];
            }
        }
        buf[o] = '\0';
        return;
    }

    buf[o++] = digits[0];
    if (nd > 1) {
        buf[o++] = '.';
        for (i = 1; i < nd; i++) {
            buf[o++] = digits[i];
        }
    }
    snprintf(buf + o, size - o, "e%c%02d", exp10 < 0 ? '-' : '+',
             exp10 < 0 ? -exp10 : exp10);
}


/* Python's repr() of a string: single quotes unless the text has a single
 * quote and no double one; escapes for what is not printable. */
static int
lmd_jstr_repr(struct lmd_jctx *ctx, struct lmd_jbuf *b,
    const struct lmd_jstr *s)
{
    size_t    i, n;
    uint32_t  cp;
    char      q, esc[16];
    int       rc;

    q = '\'';
    if (memchr(s->data, '\'', s->len) != NULL
        && memchr(s->data, '"', s->len) == NULL)
    {
        q = '"';
    }
    rc = lmd_jbuf_addc(ctx, b, q);
    for (i = 0; rc == LMD_OK && i < s->len; i += n) {
        n = lmd_utf8_next(s->data + i, s->len - i, &cp);
        if (cp == (uint32_t) q || cp == '\\') {
            esc[0] = '\\';
            esc[1] = (char) cp;
            rc = lmd_jbuf_add(ctx, b, esc, 2);
        } else if (cp == '\n') {
            rc = lmd_jbuf_add(ctx, b, "\\n", 2);
        } else if (cp == '\r') {
            rc = lmd_jbuf_add(ctx, b, "\\r", 2);
        } else if (cp == '\t') {
            rc = lmd_jbuf_add(ctx, b, "\\t", 2);
        } else if (lmd_jinja_isprintable(cp)) {
            rc = lmd_jbuf_add(ctx, b, s->data + i, n);
        } else if (cp < 0x100) {
            rc = lmd_jbuf_printf(ctx, b, "\\x%02x", (unsigned) cp);
        } else if (cp < 0x10000) {
            rc = lmd_jbuf_printf(ctx, b, "\\u%04x", (unsigned) cp);
        } else {
            rc = lmd_jbuf_printf(ctx, b, "\\U%08x", (unsigned) cp);
        }
    }
    if (rc == LMD_OK) {
        rc = lmd_jbuf_addc(ctx, b, q);
    }
    return rc;
}


static int lmd_jv_out(struct lmd_jctx *ctx, struct lmd_jbuf *b,
    struct lmd_jv v, int repr, int depth);


static int
lmd_jlist_out(struct lmd_jctx *ctx, struct lmd_jbuf *b, struct lmd_jv v,
    int depth)
{
    const char  *open, *close;
    size_t       i;

    open = "[";
    close = "]";
    if (v.flags & LMD_JV_TUPLE) {
        open = "(";
        close = v.u.l->n == 1 ? ",)" : ")";
    } else if (v.flags & LMD_JV_KEYS) {
        open = "dict_keys([";
        close = "])";
    } else if (v.flags & LMD_JV_VALUES) {
        open = "dict_values([";
        close = "])";
    } else if (v.flags & LMD_JV_ITEMS) {
        open = "dict_items([";
        close = "])";
    }
    if (lmd_jbuf_add(ctx, b, open, strlen(open)) != LMD_OK) {
        return LMD_ERROR;
    }
    for (i = 0; i < v.u.l->n; i++) {
        if ((i > 0 && lmd_jbuf_add(ctx, b, ", ", 2) != LMD_OK)
            || lmd_jv_out(ctx, b, v.u.l->v[i], 1, depth + 1) != LMD_OK)
        {
            return LMD_ERROR;
        }
    }
    return lmd_jbuf_add(ctx, b, close, strlen(close));
}


static int
lmd_jdict_out(struct lmd_jctx *ctx, struct lmd_jbuf *b,
    const struct lmd_jdict *d, int depth)
{
    size_t  i;

    if (lmd_jbuf_addc(ctx, b, '{') != LMD_OK) {
        return LMD_ERROR;
    }
    for (i = 0; i < d->n; i++) {
        if ((i > 0 && lmd_jbuf_add(ctx, b, ", ", 2) != LMD_OK)
            || lmd_jv_out(ctx, b, d->k[i], 1, depth + 1) != LMD_OK
            || lmd_jbuf_add(ctx, b, ": ", 2) != LMD_OK
            || lmd_jv_out(ctx, b, d->v[i], 1, depth + 1) != LMD_OK)
        {
            return LMD_ERROR;
        }
    }
    return lmd_jbuf_addc(ctx, b, '}');
}


static int
lmd_jv_out(struct lmd_jctx *ctx, struct lmd_jbuf *b, struct lmd_jv v,
    int repr, int depth)
{
    char  num[40];

    if (depth > LMD_JINJA_MAX_DEPTH) {
        return lmd_jerr(ctx, "a value nested deeper than %d levels",
                        LMD_JINJA_MAX_DEPTH);
    }

    switch (v.type) {

    case LMD_JV_UNDEF:
        return repr ? lmd_jbuf_add(ctx, b, "Undefined", 9) : LMD_OK;

    case LMD_JV_NONE:
        return lmd_jbuf_add(ctx, b, "None", 4);

    case LMD_JV_BOOL:
        return v.u.i ? lmd_jbuf_add(ctx, b, "True", 4)
                     : lmd_jbuf_add(ctx, b, "False", 5);

    case LMD_JV_INT:
        return lmd_jbuf_printf(ctx, b, "%" PRId64, v.u.i);

    case LMD_JV_FLOAT:
        lmd_jinja_float_repr(v.u.f, num, sizeof(num));
        return lmd_jbuf_add(ctx, b, num, strlen(num));

    case LMD_JV_STR:
        if (repr) {
            return lmd_jstr_repr(ctx, b, v.u.s);
        }
        return lmd_jbuf_add(ctx, b, v.u.s->data, v.u.s->len);

    case LMD_JV_LIST:
        if (v.flags & LMD_JV_GEN) {
            return lmd_jerr(ctx, "cannot print a generator (jinja2 prints "
                            "its address); convert it with |list");
        }
        if (v.flags & LMD_JV_RANGE) {
            return lmd_jerr(ctx, "cannot print a range(); convert it "
                            "with |list");
        }
        return lmd_jlist_out(ctx, b, v, depth);

    case LMD_JV_DICT:
        return lmd_jdict_out(ctx, b, v.u.d, depth);

    case LMD_JV_NS:
        if (lmd_jbuf_add(ctx, b, "<Namespace ", 11) != LMD_OK
            || lmd_jdict_out(ctx, b, v.u.d, depth) != LMD_OK)
        {
            return LMD_ERROR;
        }
        return lmd_jbuf_addc(ctx, b, '>');

    case LMD_JV_LOOP:
        return lmd_jbuf_printf(ctx, b, "<LoopContext %zu/%zu>",
                               v.u.loop->i + 1, v.u.loop->items.u.l->n);

    case LMD_JV_FUNC:
        if (v.u.fn->kind == LMD_JF_MACRO) {
            return lmd_jbuf_printf(ctx, b, "<Macro '%.64s'>",
                                   v.u.fn->name);
        }
        if (v.u.fn->kind == LMD_JF_CALLER) {
            return lmd_jbuf_add(ctx, b, "<Macro 'caller'>", 16);
        }
        return lmd_jerr(ctx, "cannot print the function '%s' (jinja2 "
                        "prints its address)", v.u.fn->name);

    default:
        return lmd_jerr(ctx, "internal error: bad value type %d", v.type);
    }
}


int
lmd_jv_write(struct lmd_jctx *ctx, struct lmd_jbuf *b, struct lmd_jv v)
{
    return lmd_jv_out(ctx, b, v, 0, 0);
}


int
lmd_jv_repr(struct lmd_jctx *ctx, struct lmd_jbuf *b, struct lmd_jv v)
{
    return lmd_jv_out(ctx, b, v, 1, 0);
}


int
lmd_jv_to_str(struct lmd_jctx *ctx, struct lmd_jv v, struct lmd_jv *out)
{
    struct lmd_jbuf  b;

    if (v.type == LMD_JV_STR) {
        *out = lmd_jv_ref(v);
        out->flags = 0;
        return LMD_OK;
    }
    memset(&b, 0, sizeof(b));
    if (lmd_jv_write(ctx, &b, v) != LMD_OK) {
        free(b.data);
        return LMD_ERROR;
    }
    return lmd_jbuf_take(ctx, &b, out);
}
