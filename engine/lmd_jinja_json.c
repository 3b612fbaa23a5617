/*
 * lmd_jinja_json.c -- JSON in and out: cJSON trees become template values,
 * and values become text the way transformers' tojson filter writes them:
 * json.dumps(x, ensure_ascii=False, indent=..., separators=...,
 * sort_keys=...).
 *
 * json.dumps details kept: ", " and ": " separators by default, "," when
 * an indent is given; an indent is a number of spaces or a string, and
 * each level starts a new line; empty containers stay "[]" and "{}";
 * floats print as Python's repr (NaN, Infinity); non-string keys become
 * strings ("1", "true", "null"); with ensure_ascii, non-ASCII text is
 * \uXXXX with surrogate pairs; without it, only '"', '\\' and controls
 * are escaped.
 */

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmd_jinja.h"


/* ------------------------------------------------------------------------
 * cJSON -> values
 * ------------------------------------------------------------------------ */

int
lmd_jv_from_cjson(struct lmd_jctx *ctx, const cJSON *j, struct lmd_jv *out)
{
    const cJSON    *c;
    struct lmd_jv   k, v;
    double          d;
    size_t          n;

    if (cJSON_IsNull(j)) {
        *out = lmd_jv_none();
        return LMD_OK;
    }
    if (cJSON_IsBool(j)) {
        *out = lmd_jv_bool(cJSON_IsTrue(j));
        return LMD_OK;
    }
    if (cJSON_IsNumber(j)) {
        d = j->valuedouble;
        if (d == floor(d) && d >= -9223372036854775808.0
            && d < 9223372036854775808.0)
        {
            *out = lmd_jv_int((int64_t) d);
        } else {
            *out = lmd_jv_float(d);
        }
        return LMD_OK;
    }
    if (cJSON_IsString(j)) {
        return lmd_jv_str(ctx, j->valuestring, strlen(j->valuestring), out);
    }
    if (cJSON_IsArray(j)) {
        n = (size_t) cJSON_GetArraySize(j);
        if (lmd_jv_list(ctx, n, out) != LMD_OK) {
            return LMD_ERROR;
        }
        for (c = j->child; c != NULL; c = c->next) {
            if (lmd_jv_from_cjson(ctx, c, &v) != LMD_OK
                || lmd_jlist_push(ctx, out->u.l, v) != LMD_OK)
            {
                lmd_jv_unref(*out);
                return LMD_ERROR;
            }
        }
        return LMD_OK;
    }
    if (cJSON_IsObject(j)) {
        n = (size_t) cJSON_GetArraySize(j);
        if (lmd_jv_dict(ctx, n, out) != LMD_OK) {
            return LMD_ERROR;
        }
        for (c = j->child; c != NULL; c = c->next) {
            /* a repeated key keeps its first place and its last value,
             * as json.loads does */
            if (lmd_jv_str(ctx, c->string ? c->string : "",
                           c->string ? strlen(c->string) : 0, &k) != LMD_OK)
            {
                lmd_jv_unref(*out);
                return LMD_ERROR;
            }
            if (lmd_jv_from_cjson(ctx, c, &v) != LMD_OK) {
                lmd_jv_unref(k);
                lmd_jv_unref(*out);
                return LMD_ERROR;
            }
            if (lmd_jdict_set(ctx, out->u.d, k, v) != LMD_OK) {
                lmd_jv_unref(*out);
                return LMD_ERROR;
            }
        }
        return LMD_OK;
    }
    return lmd_jerr(ctx, "unsupported JSON value");
}


/* ------------------------------------------------------------------------
 * values -> JSON text
 * ------------------------------------------------------------------------ */

static int
lmd_jjson_string(struct lmd_jctx *ctx, struct lmd_jbuf *b, const char *s,
    size_t len, int ensure_ascii)
{
    size_t    i, n, run;
    uint32_t  cp, hi, lo;
    int       rc;

    rc = lmd_jbuf_addc(ctx, b, '"');
    for (i = 0; rc == LMD_OK && i < len; i += n) {
        /* copy runs that need no escape in one go */
        for (run = 0; i + run < len; run++) {
            unsigned char  c = (unsigned char) s[i + run];

            if (c < 0x20 || c == '"' || c == '\\'
                || (ensure_ascii && c >= 0x7f))
            {
                break;
            }
        }
        if (run > 0) {
            rc = lmd_jbuf_add(ctx, b, s + i, run);
            n = run;
            continue;
        }
        n = lmd_utf8_next(s + i, len - i, &cp);
        switch (cp) {
        case '"':
            rc = lmd_jbuf_add(ctx, b, "\\\"", 2);
            break;
        case '\\':
            rc = lmd_jbuf_add(ctx, b, "\\\\", 2);
            break;
        case '\n':
            rc = lmd_jbuf_add(ctx, b, "\\n", 2);
            break;
        case '\r':
            rc = lmd_jbuf_add(ctx, b, "\\r", 2);
            break;
        case '\t':
            rc = lmd_jbuf_add(ctx, b, "\\t", 2);
            break;
        case '\b':
            rc = lmd_jbuf_add(ctx, b, "\\b", 2);
            break;
        case '\f':
            rc = lmd_jbuf_add(ctx, b, "\\f", 2);
            break;
        default:
            if (cp >= 0x10000) {
                hi = 0xd800 + ((cp - 0x10000) >> 10);
                lo = 0xdc00 + ((cp - 0x10000) & 0x3ff);
                rc = lmd_jbuf_printf(ctx, b, "\\u%04x\\u%04x", (unsigned) hi,
                                     (unsigned) lo);
            } else {
                rc = lmd_jbuf_printf(ctx, b, "\\u%04x", (unsigned) cp);
            }
            break;
        }
    }
    if (rc == LMD_OK) {
        rc = lmd_jbuf_addc(ctx, b, '"');
    }
    return rc;
}


static int
lmd_jjson_newline(struct lmd_jctx *ctx, struct lmd_jbuf *b,
    const struct lmd_jjson *how, int level)
{
    int  i;

    if (lmd_jbuf_addc(ctx, b, '\n') != LMD_OK) {
        return LMD_ERROR;
    }
    for (i = 0; i < level; i++) {
        if (lmd_jbuf_add(ctx, b, how->indent, how->indent_len) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


/* A key as json.dumps converts it; LMD_DECLINED for keys it refuses. */
static int
lmd_jjson_key(struct lmd_jctx *ctx, struct lmd_jbuf *b, struct lmd_jv k,
    const struct lmd_jjson *how)
{
    char  num[40];

    switch (k.type) {
    case LMD_JV_STR:
        return lmd_jjson_string(ctx, b, k.u.s->data, k.u.s->len,
                                how->ensure_ascii);
    case LMD_JV_INT:
        snprintf(num, sizeof(num), "\"%" PRId64 "\"", k.u.i);
        return lmd_jbuf_add(ctx, b, num, strlen(num));
    case LMD_JV_BOOL:
        return k.u.i ? lmd_jbuf_add(ctx, b, "\"true\"", 6)
                     : lmd_jbuf_add(ctx, b, "\"false\"", 7);
    case LMD_JV_NONE:
        return lmd_jbuf_add(ctx, b, "\"null\"", 6);
    case LMD_JV_FLOAT:
        if (isnan(k.u.f)) {
            return lmd_jbuf_add(ctx, b, "\"NaN\"", 5);
        }
        if (isinf(k.u.f)) {
            return k.u.f > 0 ? lmd_jbuf_add(ctx, b, "\"Infinity\"", 10)
                             : lmd_jbuf_add(ctx, b, "\"-Infinity\"", 11);
        }
        num[0] = '"';
        lmd_jinja_float_repr(k.u.f, num + 1, sizeof(num) - 2);
        strcat(num, "\"");
        return lmd_jbuf_add(ctx, b, num, strlen(num));
    default:
        return lmd_jerr(ctx, "keys must be str, int, float, bool or None, "
                        "not %s", lmd_jv_type_name(k));
    }
}


/* The order sort_keys gives: indexes of d's items sorted by key (a stable
 * insertion sort; dicts in templates are small). */
static int
lmd_jjson_sorted(struct lmd_jctx *ctx, const struct lmd_jdict *d,
    size_t **order)
{
    size_t  *o, i, j, t;
    int      r;

    o = malloc((d->n ? d->n : 1) * sizeof(size_t));
    if (o == NULL) {
        return lmd_jerr_oom(ctx);
    }
    for (i = 0; i < d->n; i++) {
        o[i] = i;
        for (j = i; j > 0; j--) {
            if (lmd_jv_compare(ctx, d->k[o[j - 1]], d->k[o[j]], &r)
                != LMD_OK)
            {
                free(o);
                return LMD_ERROR;
            }
            if (r <= 0) {
                break;
            }
            t = o[j - 1];
            o[j - 1] = o[j];
            o[j] = t;
        }
    }
    *order = o;
    return LMD_OK;
}


static int
lmd_jjson_value(struct lmd_jctx *ctx, struct lmd_jbuf *b, struct lmd_jv v,
    const struct lmd_jjson *how, int level)
{
    const struct lmd_jdict  *d;
    size_t                   i, k, n, *order;
    char                     num[40];
    int                      rc;

    if (level > LMD_JINJA_MAX_DEPTH) {
        return lmd_jerr(ctx, "a value nested deeper than %d levels",
                        LMD_JINJA_MAX_DEPTH);
    }

    switch (v.type) {

    case LMD_JV_NONE:
        return lmd_jbuf_add(ctx, b, "null", 4);

    case LMD_JV_BOOL:
        return v.u.i ? lmd_jbuf_add(ctx, b, "true", 4)
                     : lmd_jbuf_add(ctx, b, "false", 5);

    case LMD_JV_INT:
        return lmd_jbuf_printf(ctx, b, "%" PRId64, v.u.i);

    case LMD_JV_FLOAT:
        if (isnan(v.u.f)) {
            return lmd_jbuf_add(ctx, b, "NaN", 3);
        }
        if (isinf(v.u.f)) {
            return v.u.f > 0 ? lmd_jbuf_add(ctx, b, "Infinity", 8)
                             : lmd_jbuf_add(ctx, b, "-Infinity", 9);
        }
        lmd_jinja_float_repr(v.u.f, num, sizeof(num));
        return lmd_jbuf_add(ctx, b, num, strlen(num));

    case LMD_JV_STR:
        return lmd_jjson_string(ctx, b, v.u.s->data, v.u.s->len,
                                how->ensure_ascii);

    case LMD_JV_LIST:
        if (v.flags & (LMD_JV_GEN | LMD_JV_VIEW | LMD_JV_RANGE)) {
            break;
        }
        if (v.u.l->n == 0) {
            return lmd_jbuf_add(ctx, b, "[]", 2);
        }
        rc = lmd_jbuf_addc(ctx, b, '[');
        for (i = 0; rc == LMD_OK && i < v.u.l->n; i++) {
            if (i > 0) {
                rc = lmd_jbuf_add(ctx, b, how->item_sep,
                                  strlen(how->item_sep));
            }
            if (rc == LMD_OK && how->indent != NULL) {
                rc = lmd_jjson_newline(ctx, b, how, level + 1);
            }
            if (rc == LMD_OK) {
                rc = lmd_jjson_value(ctx, b, v.u.l->v[i], how, level + 1);
            }
        }
        if (rc == LMD_OK && how->indent != NULL) {
            rc = lmd_jjson_newline(ctx, b, how, level);
        }
        return rc == LMD_OK ? lmd_jbuf_addc(ctx, b, ']') : LMD_ERROR;

    case LMD_JV_DICT:
        d = v.u.d;
        if (d->n == 0) {
            return lmd_jbuf_add(ctx, b, "{}", 2);
        }
        order = NULL;
        if (how->sort_keys && lmd_jjson_sorted(ctx, d, &order) != LMD_OK) {
            return LMD_ERROR;
        }
        rc = lmd_jbuf_addc(ctx, b, '{');
        n = d->n;
        for (i = 0; rc == LMD_OK && i < n; i++) {
            k = order ? order[i] : i;
            if (i > 0) {
                rc = lmd_jbuf_add(ctx, b, how->item_sep,
                                  strlen(how->item_sep));
            }
            if (rc == LMD_OK && how->indent != NULL) {
                rc = lmd_jjson_newline(ctx, b, how, level + 1);
            }
            if (rc == LMD_OK) {
                rc = lmd_jjson_key(ctx, b, d->k[k], how);
            }
            if (rc == LMD_OK) {
                rc = lmd_jbuf_add(ctx, b, how->key_sep,
                                  strlen(how->key_sep));
            }
            if (rc == LMD_OK) {
                rc = lmd_jjson_value(ctx, b, d->v[k], how, level + 1);
            }
        }
        free(order);
        if (rc == LMD_OK && how->indent != NULL) {
            rc = lmd_jjson_newline(ctx, b, how, level);
        }
        return rc == LMD_OK ? lmd_jbuf_addc(ctx, b, '}') : LMD_ERROR;

    default:
        break;
    }
    return lmd_jerr(ctx, "Object of type %s is not JSON serializable",
                    lmd_jv_type_name(v));
}


int
lmd_jinja_tojson(struct lmd_jctx *ctx, struct lmd_jbuf *b, struct lmd_jv v,
    const struct lmd_jjson *how)
{
    return lmd_jjson_value(ctx, b, v, how, 0);
}
