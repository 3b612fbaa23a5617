/*
 * lmd_jinja_seq.c -- the filters that walk sequences: first, last, list,
 * join, reverse, items, map, select/reject(attr), sort, unique, min, max,
 * sum, dictsort.
 *
 * jinja2 returns generators from map, select, reject, selectattr,
 * rejectattr, unique and items, and an iterator from reverse: those
 * results carry LMD_JV_GEN, so they are always true, have no length and
 * cannot be printed (jinja2 would print an object address), exactly the
 * places where a template would notice.  "attribute" arguments follow
 * jinja2's make_attrgetter: "a.b.0" walks items, digits index lists.
 */

#include <stdlib.h>
#include <string.h>

#include "lmd_jinja.h"


/* ------------------------------------------------------------------------
 * Attribute getters
 * ------------------------------------------------------------------------ */

/* item looked up along attr ("a.b.0", an int, or none: the item itself);
 * def (when not NULL) replaces an undefined; lower lowercases a string
 * result (case-insensitive sorting). */
static int
lmd_jseq_get(struct lmd_jctx *ctx, struct lmd_jv item, struct lmd_jv attr,
    const struct lmd_jv *def, int lower, struct lmd_jv *out)
{
    struct lmd_jv   cur, next, key;
    const char     *p, *dot, *end;
    size_t          k;
    int             rc, digits;

    cur = lmd_jv_ref(item);
    if (attr.type == LMD_JV_STR) {
        p = attr.u.s->data;
        end = p + attr.u.s->len;
        for (;;) {
            dot = memchr(p, '.', (size_t) (end - p));
            if (dot == NULL) {
                dot = end;
            }
            digits = dot > p;
            for (k = 0; k < (size_t) (dot - p); k++) {
                digits &= p[k] >= '0' && p[k] <= '9';
            }
            if (digits) {
                int64_t  v = 0;

                for (k = 0; k < (size_t) (dot - p) && v < INT64_MAX / 10;
                     k++)
                {
                    v = v * 10 + (p[k] - '0');
                }
                key = lmd_jv_int(v);
            } else if (lmd_jv_str(ctx, p, (size_t) (dot - p), &key)
                       != LMD_OK)
            {
                lmd_jv_unref(cur);
                return LMD_ERROR;
            }
            rc = lmd_jinja_getitem(ctx, cur, key, NULL, &next);
            lmd_jv_unref(key);
            lmd_jv_unref(cur);
            if (rc != LMD_OK) {
                return LMD_ERROR;
            }
            cur = next;
            if (def != NULL && cur.type == LMD_JV_UNDEF) {
                cur = lmd_jv_ref(*def);
            }
            if (dot == end) {
                break;
            }
            p = dot + 1;
        }
    } else if (attr.type == LMD_JV_INT) {
        rc = lmd_jinja_getitem(ctx, cur, attr, NULL, &next);
        lmd_jv_unref(cur);
        if (rc != LMD_OK) {
            return LMD_ERROR;
        }
        cur = next;
        if (def != NULL && cur.type == LMD_JV_UNDEF) {
            cur = lmd_jv_ref(*def);
        }
    } else if (!lmd_jv_missing(attr) && attr.type != LMD_JV_NONE) {
        lmd_jv_unref(cur);
        return lmd_jerr(ctx, "an attribute must be a string or an int");
    }
    if (lower && cur.type == LMD_JV_STR) {
        rc = lmd_jinja_case(ctx, cur, LMD_JCASE_LOWER, &next);
        lmd_jv_unref(cur);
        if (rc != LMD_OK) {
            return LMD_ERROR;
        }
        cur = next;
    }
    *out = cur;
    return LMD_OK;
}


/* sort()'s getter: "a,b" gives a list of both attributes. */
static int
lmd_jseq_multi_get(struct lmd_jctx *ctx, struct lmd_jv item,
    struct lmd_jv attr, int lower, struct lmd_jv *out)
{
    struct lmd_jv   part, v;
    const char     *p, *comma, *end;

    if (attr.type != LMD_JV_STR
        || memchr(attr.u.s->data, ',', attr.u.s->len) == NULL)
    {
        return lmd_jseq_get(ctx, item, attr, NULL, lower, out);
    }
    if (lmd_jv_list(ctx, 0, out) != LMD_OK) {
        return LMD_ERROR;
    }
    p = attr.u.s->data;
    end = p + attr.u.s->len;
    for (;;) {
        comma = memchr(p, ',', (size_t) (end - p));
        if (comma == NULL) {
            comma = end;
        }
        if (lmd_jv_str(ctx, p, (size_t) (comma - p), &part) != LMD_OK) {
            break;
        }
        if (lmd_jseq_get(ctx, item, part, NULL, lower, &v) != LMD_OK) {
            lmd_jv_unref(part);
            break;
        }
        lmd_jv_unref(part);
        if (lmd_jlist_push(ctx, out->u.l, v) != LMD_OK) {
            break;
        }
        if (comma == end) {
            return LMD_OK;
        }
        p = comma + 1;
    }
    lmd_jv_unref(*out);
    return LMD_ERROR;
}


/* ------------------------------------------------------------------------
 * Sorting
 * ------------------------------------------------------------------------ */

/* A stable merge sort of idx[] by keys[idx[i]]; reverse keeps equal keys
 * in their order, as Python's sorted(reverse=True) does. */
static int
lmd_jseq_sort_idx(struct lmd_jctx *ctx, const struct lmd_jv *keys,
    size_t *idx, size_t n, int reverse)
{
    size_t  *tmp, width, lo, mid, hi, i, j, k;
    int      r;

    if (n < 2) {
        return LMD_OK;
    }
    tmp = malloc(n * sizeof(size_t));
    if (tmp == NULL) {
        return lmd_jerr_oom(ctx);
    }
    for (width = 1; width < n; width *= 2) {
        for (lo = 0; lo < n; lo += 2 * width) {
            mid = lo + width < n ? lo + width : n;
            hi = lo + 2 * width < n ? lo + 2 * width : n;
            i = lo;
            j = mid;
            k = lo;
            while (i < mid && j < hi) {
                /* take the right one only when it is strictly first */
                if (reverse) {
                    r = 0;
                    if (lmd_jv_compare(ctx, keys[idx[i]], keys[idx[j]], &r)
                        != LMD_OK)
                    {
                        free(tmp);
                        return LMD_ERROR;
                    }
                    r = r < 0;
                } else {
                    r = 0;
                    if (lmd_jv_compare(ctx, keys[idx[j]], keys[idx[i]], &r)
                        != LMD_OK)
                    {
                        free(tmp);
                        return LMD_ERROR;
                    }
                    r = r < 0;
                }
                tmp[k++] = r ? idx[j++] : idx[i++];
            }
            while (i < mid) {
                tmp[k++] = idx[i++];
            }
            while (j < hi) {
                tmp[k++] = idx[j++];
            }
        }
        memcpy(idx, tmp, n * sizeof(size_t));
    }
    free(tmp);
    return LMD_OK;
}


static void
lmd_jseq_free_keys(struct lmd_jv *keys, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        lmd_jv_unref(keys[i]);
    }
    free(keys);
}


/* Sorts items by getter keys (attr, lower); out is a plain list, or the
 * original positions in *order when it is not NULL. */
static int
lmd_jseq_sorted(struct lmd_jctx *ctx, struct lmd_jlist *items,
    struct lmd_jv attr, int lower, int reverse, int multi,
    struct lmd_jv *out)
{
    struct lmd_jv  *keys;
    size_t         *idx, i, n;
    int             rc;

    n = items->n;
    keys = calloc(n ? n : 1, sizeof(*keys));
    idx = malloc((n ? n : 1) * sizeof(size_t));
    if (keys == NULL || idx == NULL) {
        free(keys);
        free(idx);
        return lmd_jerr_oom(ctx);
    }
    rc = LMD_OK;
    for (i = 0; rc == LMD_OK && i < n; i++) {
        idx[i] = i;
        rc = multi ? lmd_jseq_multi_get(ctx, items->v[i], attr, lower,
                                        &keys[i])
                   : lmd_jseq_get(ctx, items->v[i], attr, NULL, lower,
                                  &keys[i]);
    }
    if (rc == LMD_OK) {
        rc = lmd_jseq_sort_idx(ctx, keys, idx, n, reverse);
    }
    if (rc == LMD_OK) {
        rc = lmd_jv_list(ctx, n, out);
    }
    if (rc == LMD_OK) {
        for (i = 0; i < n; i++) {
            out->u.l->v[i] = lmd_jv_ref(items->v[idx[i]]);
        }
        out->u.l->n = n;
    }
    lmd_jseq_free_keys(keys, n);
    free(idx);
    return rc;
}


/* ------------------------------------------------------------------------
 * The filters
 * ------------------------------------------------------------------------ */

static int
lmd_jseq_gen(struct lmd_jctx *ctx, struct lmd_jv *out)
{
    if (lmd_jv_list(ctx, 0, out) != LMD_OK) {
        return LMD_ERROR;
    }
    out->flags = LMD_JV_GEN;
    return LMD_OK;
}


/* map, select, reject, selectattr, rejectattr. */
static int
lmd_jseq_map_select(struct lmd_jctx *ctx, int id, struct lmd_jv in,
    const struct lmd_jargs *args, struct lmd_jv *out)
{
    struct lmd_jargs        sub;
    struct lmd_jv           items, val, attr, name, def, *defp, res;
    size_t                  i, k, off;
    int                     rc, keep, has_test, lookup, select;

    if (lmd_jseq_gen(ctx, out) != LMD_OK) {
        return LMD_ERROR;
    }
    if (!lmd_jv_truthy(in)) {
        return LMD_OK;
    }
    memset(&sub, 0, sizeof(sub));
    attr = lmd_jv_none();
    name = lmd_jv_none();
    defp = NULL;
    lookup = id == LMD_JFL_SELECTATTR || id == LMD_JFL_REJECTATTR;
    select = id == LMD_JFL_SELECT || id == LMD_JFL_SELECTATTR;
    has_test = 0;
    rc = LMD_OK;

    if (id == LMD_JFL_MAP && args->n == 0) {
        for (k = 0; k < args->nkw; k++) {
            if (strcmp(args->kwname[k], "attribute") == 0) {
                attr = args->kw[k];
            } else if (strcmp(args->kwname[k], "default") == 0) {
                def = args->kw[k];
                defp = def.type == LMD_JV_NONE ? NULL : &def;
            } else {
                rc = lmd_jerr(ctx, "map(): unexpected keyword argument "
                              "'%s'", args->kwname[k]);
            }
        }
        if (rc == LMD_OK && attr.type == LMD_JV_NONE) {
            rc = lmd_jerr(ctx, "map requires a filter argument");
        }
    } else {
        off = 0;
        if (lookup) {
            if (args->n < 1) {
                rc = lmd_jerr(ctx, "Missing parameter for attribute name");
            } else {
                attr = args->v[0];
                off = 1;
            }
        }
        if (rc == LMD_OK && args->n > off) {
            name = args->v[off];
            has_test = 1;
            for (k = off + 1; k < args->n; k++) {
                sub.v[sub.n++] = args->v[k];
            }
            for (k = 0; k < args->nkw; k++) {
                sub.kwname[sub.nkw] = args->kwname[k];
                sub.kw[sub.nkw++] = args->kw[k];
            }
        }
    }
    if (rc != LMD_OK || lmd_jv_iterate(ctx, in, &items) != LMD_OK) {
        lmd_jv_unref(*out);
        return LMD_ERROR;
    }

    for (i = 0; rc == LMD_OK && i < items.u.l->n; i++) {
        if (lookup || (id == LMD_JFL_MAP && args->n == 0)) {
            rc = lmd_jseq_get(ctx, items.u.l->v[i], attr, defp, 0, &val);
        } else {
            val = lmd_jv_ref(items.u.l->v[i]);
        }
        if (rc != LMD_OK) {
            break;
        }
        if (id == LMD_JFL_MAP) {
            if (args->n > 0) {
                rc = lmd_jinja_filter_named(ctx, name, val, &sub, &res);
                lmd_jv_unref(val);
                val = res;
            }
            if (rc == LMD_OK) {
                rc = lmd_jlist_push(ctx, out->u.l, val);
            }
            continue;
        }
        if (has_test) {
            rc = lmd_jinja_test_named(ctx, name, val, &sub, &keep);
        } else {
            keep = lmd_jv_truthy(val);
        }
        lmd_jv_unref(val);
        if (rc == LMD_OK && keep == select) {
            rc = lmd_jlist_push(ctx, out->u.l,
                                lmd_jv_ref(items.u.l->v[i]));
        }
    }
    lmd_jv_unref(items);
    if (rc != LMD_OK) {
        lmd_jv_unref(*out);
        return LMD_ERROR;
    }
    return LMD_OK;
}


static int
lmd_jseq_reverse(struct lmd_jctx *ctx, struct lmd_jv in, struct lmd_jv *out)
{
    struct lmd_jv  items, chars;
    struct lmd_jbuf  b;
    size_t         i, n;
    int            rc;

    if (in.type == LMD_JV_STR) {
        if (lmd_jv_iterate(ctx, in, &chars) != LMD_OK) {
            return LMD_ERROR;
        }
        memset(&b, 0, sizeof(b));
        rc = lmd_jbuf_add(ctx, &b, "", 0);
        for (i = chars.u.l->n; rc == LMD_OK && i > 0; i--) {
            rc = lmd_jbuf_add(ctx, &b, chars.u.l->v[i - 1].u.s->data,
                              chars.u.l->v[i - 1].u.s->len);
        }
        lmd_jv_unref(chars);
        if (rc != LMD_OK) {
            free(b.data);
            return LMD_ERROR;
        }
        return lmd_jbuf_take(ctx, &b, out);
    }
    if (in.type != LMD_JV_LIST && in.type != LMD_JV_DICT
        && in.type != LMD_JV_UNDEF)
    {
        return lmd_jerr(ctx, "argument must be iterable");
    }
    if (lmd_jv_iterate(ctx, in, &items) != LMD_OK) {
        return LMD_ERROR;
    }
    n = items.u.l->n;
    if (lmd_jv_list(ctx, n, out) != LMD_OK) {
        lmd_jv_unref(items);
        return LMD_ERROR;
    }
    for (i = 0; i < n; i++) {
        out->u.l->v[i] = lmd_jv_ref(items.u.l->v[n - 1 - i]);
    }
    out->u.l->n = n;
    /* reversed() gives an iterator; a generator is not reversible, so
     * jinja2 falls back to a reversed list */
    out->flags = (in.type == LMD_JV_LIST && (in.flags & LMD_JV_GEN))
                 ? 0 : LMD_JV_GEN;
    lmd_jv_unref(items);
    return LMD_OK;
}


static int
lmd_jseq_pairs(struct lmd_jctx *ctx, const struct lmd_jdict *d,
    struct lmd_jv *out)
{
    struct lmd_jv  pair;
    size_t         i;

    if (lmd_jv_list(ctx, d->n, out) != LMD_OK) {
        return LMD_ERROR;
    }
    for (i = 0; i < d->n; i++) {
        if (lmd_jv_list(ctx, 2, &pair) != LMD_OK) {
            lmd_jv_unref(*out);
            return LMD_ERROR;
        }
        pair.flags = LMD_JV_TUPLE;
        pair.u.l->v[0] = lmd_jv_ref(d->k[i]);
        pair.u.l->v[1] = lmd_jv_ref(d->v[i]);
        pair.u.l->n = 2;
        out->u.l->v[out->u.l->n++] = pair;
    }
    return LMD_OK;
}


/* min, max: the first least (greatest) item by key. */
static int
lmd_jseq_minmax(struct lmd_jctx *ctx, int id, struct lmd_jlist *items,
    struct lmd_jv attr, int lower, struct lmd_jv *out)
{
    struct lmd_jv  best, key;
    size_t         i, at;
    int            r;

    if (items->n == 0) {
        *out = lmd_jv_hint("No aggregated item, sequence was empty.");
        return LMD_OK;
    }
    if (lmd_jseq_get(ctx, items->v[0], attr, NULL, lower, &best) != LMD_OK) {
        return LMD_ERROR;
    }
    at = 0;
    for (i = 1; i < items->n; i++) {
        if (lmd_jseq_get(ctx, items->v[i], attr, NULL, lower, &key)
            != LMD_OK)
        {
            lmd_jv_unref(best);
            return LMD_ERROR;
        }
        if (id == LMD_JFL_MIN) {
            if (lmd_jv_compare(ctx, key, best, &r) != LMD_OK) {
                goto failed;
            }
        } else if (lmd_jv_compare(ctx, best, key, &r) != LMD_OK) {
            goto failed;
        }
        if (r < 0) {
            lmd_jv_unref(best);
            best = key;
            at = i;
        } else {
            lmd_jv_unref(key);
        }
    }
    lmd_jv_unref(best);
    *out = lmd_jv_ref(items->v[at]);
    return LMD_OK;

failed:
    lmd_jv_unref(key);
    lmd_jv_unref(best);
    return LMD_ERROR;
}


int
lmd_jinja_seq_filter(struct lmd_jctx *ctx, int id, struct lmd_jv in,
    const struct lmd_jargs *args, struct lmd_jv *out)
{
    static const char *const  p_join[] = { "d", "attribute" };
    static const char *const  p_sort[] = { "reverse", "case_sensitive",
                                           "attribute" };
    static const char *const  p_uniq[] = { "case_sensitive", "attribute" };
    static const char *const  p_sum[] = { "attribute", "start" };
    static const char *const  p_dsort[] = { "case_sensitive", "by",
                                            "reverse" };
    struct lmd_jv             a[3], items, v, acc, sep, key, seen, tmp;
    struct lmd_jbuf           b;
    size_t                    i, k;
    int                       rc, lower, found, pos;

    for (i = 0; i < 3; i++) {
        a[i] = lmd_jv_undef(NULL, NULL);
        a[i].flags = LMD_JV_MISSING;
    }
    switch (id) {
    case LMD_JFL_MAP:
    case LMD_JFL_SELECT:
    case LMD_JFL_REJECT:
    case LMD_JFL_SELECTATTR:
    case LMD_JFL_REJECTATTR:
        return lmd_jseq_map_select(ctx, id, in, args, out);
    case LMD_JFL_REVERSE:
    case LMD_JFL_FIRST:
    case LMD_JFL_LAST:
    case LMD_JFL_LIST:
    case LMD_JFL_ITEMS:
        rc = LMD_OK;
        if (args->n > 0 || args->nkw > 0) {
            rc = lmd_jerr(ctx, "this filter takes no arguments");
        }
        break;
    case LMD_JFL_JOIN:
        rc = lmd_jargs_bind(ctx, "join", args, p_join, 2, 0, a);
        break;
    case LMD_JFL_SORT:
        rc = lmd_jargs_bind(ctx, "sort", args, p_sort, 3, 0, a);
        break;
    case LMD_JFL_UNIQUE:
    case LMD_JFL_MIN:
    case LMD_JFL_MAX:
        rc = lmd_jargs_bind(ctx, id == LMD_JFL_UNIQUE ? "unique"
                            : id == LMD_JFL_MIN ? "min" : "max", args,
                            p_uniq, 2, 0, a);
        break;
    case LMD_JFL_SUM:
        rc = lmd_jargs_bind(ctx, "sum", args, p_sum, 2, 0, a);
        break;
    default:
        rc = lmd_jargs_bind(ctx, "dictsort", args, p_dsort, 3, 0, a);
        break;
    }
    if (rc != LMD_OK) {
        return LMD_ERROR;
    }

    switch (id) {
    case LMD_JFL_REVERSE:
        return lmd_jseq_reverse(ctx, in, out);

    case LMD_JFL_ITEMS:
        if (in.type == LMD_JV_UNDEF) {
            return lmd_jseq_gen(ctx, out);
        }
        if (in.type != LMD_JV_DICT) {
            return lmd_jerr(ctx, "You can only get the items from "
                            "mappings.");
        }
        if (lmd_jseq_pairs(ctx, in.u.d, out) != LMD_OK) {
            return LMD_ERROR;
        }
        out->flags = LMD_JV_GEN;
        return LMD_OK;

    case LMD_JFL_DICTSORT:
        if (in.type != LMD_JV_DICT) {
            return lmd_jerr(ctx, "'%s' object has no attribute 'items'",
                            lmd_jv_type_name(in));
        }
        pos = 0;
        if (!lmd_jv_missing(a[1])) {
            if (a[1].type == LMD_JV_STR
                && strcmp(a[1].u.s->data, "value") == 0)
            {
                pos = 1;
            } else if (a[1].type != LMD_JV_STR
                       || strcmp(a[1].u.s->data, "key") != 0)
            {
                return lmd_jerr(ctx, "You can only sort by either 'key' "
                                "or 'value'");
            }
        }
        if (lmd_jseq_pairs(ctx, in.u.d, &items) != LMD_OK) {
            return LMD_ERROR;
        }
        key = lmd_jv_int(pos);
        rc = lmd_jseq_sorted(ctx, items.u.l, key,
                             !(lmd_jv_missing(a[0]) ? 0
                               : lmd_jv_truthy(a[0])),
                             !lmd_jv_missing(a[2]) && lmd_jv_truthy(a[2]), 0,
                             out);
        lmd_jv_unref(items);
        return rc;

    case LMD_JFL_LAST:
        if (in.type == LMD_JV_LIST && (in.flags & LMD_JV_GEN)) {
            return lmd_jerr(ctx, "'generator' object is not reversible");
        }
        break;

    default:
        break;
    }

    if (lmd_jv_iterate(ctx, in, &items) != LMD_OK) {
        return LMD_ERROR;
    }
    rc = LMD_OK;
    lower = !(lmd_jv_missing(a[0]) ? 0 : lmd_jv_truthy(a[0]));

    switch (id) {

    case LMD_JFL_FIRST:
        *out = items.u.l->n > 0
               ? lmd_jv_ref(items.u.l->v[0])
               : lmd_jv_hint("No first item, sequence was empty.");
        break;

    case LMD_JFL_LAST:
        *out = items.u.l->n > 0
               ? lmd_jv_ref(items.u.l->v[items.u.l->n - 1])
               : lmd_jv_hint("No last item, sequence was empty.");
        break;

    case LMD_JFL_LIST:
        if (items.flags == 0 && in.type == LMD_JV_LIST) {
            *out = lmd_jv_ref(items);
            break;
        }
        rc = lmd_jv_list(ctx, items.u.l->n, out);
        for (i = 0; rc == LMD_OK && i < items.u.l->n; i++) {
            out->u.l->v[out->u.l->n++] = lmd_jv_ref(items.u.l->v[i]);
        }
        break;

    case LMD_JFL_JOIN:
        memset(&b, 0, sizeof(b));
        sep = lmd_jv_none();
        rc = lmd_jbuf_add(ctx, &b, "", 0);
        if (rc == LMD_OK && !lmd_jv_missing(a[0])) {
            rc = lmd_jv_to_str(ctx, a[0], &sep);
        }
        for (i = 0; rc == LMD_OK && i < items.u.l->n; i++) {
            if (i > 0 && sep.type == LMD_JV_STR) {
                rc = lmd_jbuf_add(ctx, &b, sep.u.s->data, sep.u.s->len);
            }
            if (rc != LMD_OK) {
                break;
            }
            if (!lmd_jv_missing(a[1]) && a[1].type != LMD_JV_NONE) {
                rc = lmd_jseq_get(ctx, items.u.l->v[i], a[1], NULL, 0, &v);
                if (rc == LMD_OK) {
                    rc = lmd_jv_write(ctx, &b, v);
                    lmd_jv_unref(v);
                }
            } else {
                rc = lmd_jv_write(ctx, &b, items.u.l->v[i]);
            }
        }
        lmd_jv_unref(sep);
        if (rc == LMD_OK) {
            rc = lmd_jbuf_take(ctx, &b, out);
        } else {
            free(b.data);
        }
        break;

    case LMD_JFL_SORT:
        /* sort(reverse, case_sensitive, attribute) */
        lower = !(lmd_jv_missing(a[1]) ? 0 : lmd_jv_truthy(a[1]));
        rc = lmd_jseq_sorted(ctx, items.u.l, a[2], lower,
                             !lmd_jv_missing(a[0]) && lmd_jv_truthy(a[0]),
                             1, out);
        break;

    case LMD_JFL_MIN:
    case LMD_JFL_MAX:
        rc = lmd_jseq_minmax(ctx, id, items.u.l, a[1], lower, out);
        break;

    case LMD_JFL_UNIQUE:
        rc = lmd_jseq_gen(ctx, out);
        if (rc == LMD_OK) {
            rc = lmd_jv_list(ctx, 0, &seen);
            if (rc != LMD_OK) {
                lmd_jv_unref(*out);
            }
        }
        if (rc != LMD_OK) {
            break;
        }
        for (i = 0; rc == LMD_OK && i < items.u.l->n; i++) {
            rc = lmd_jseq_get(ctx, items.u.l->v[i], a[1], NULL, lower,
                              &key);
            if (rc != LMD_OK) {
                break;
            }
            if (!lmd_jv_hashable(key)) {
                rc = lmd_jerr(ctx, "unhashable type: '%s'",
                              lmd_jv_type_name(key));
                lmd_jv_unref(key);
                break;
            }
            found = 0;
            for (k = 0; k < seen.u.l->n && !found; k++) {
                found = lmd_jv_equal(seen.u.l->v[k], key);
            }
            if (found) {
                lmd_jv_unref(key);
                continue;
            }
            rc = lmd_jlist_push(ctx, seen.u.l, key);
            if (rc == LMD_OK) {
                rc = lmd_jlist_push(ctx, out->u.l,
                                    lmd_jv_ref(items.u.l->v[i]));
            }
        }
        lmd_jv_unref(seen);
        if (rc != LMD_OK) {
            lmd_jv_unref(*out);
        }
        break;

    case LMD_JFL_SUM:
        acc = lmd_jv_missing(a[1]) ? lmd_jv_int(0) : lmd_jv_ref(a[1]);
        if (acc.type == LMD_JV_STR) {
            lmd_jv_unref(acc);
            rc = lmd_jerr(ctx, "sum() can't sum strings [use "
                          "''.join(seq) instead]");
            break;
        }
        for (i = 0; rc == LMD_OK && i < items.u.l->n; i++) {
            rc = lmd_jseq_get(ctx, items.u.l->v[i], a[0], NULL, 0, &v);
            if (rc != LMD_OK) {
                break;
            }
            rc = lmd_jinja_binop(ctx, LMD_JOP_ADD, acc, v, &tmp);
            lmd_jv_unref(v);
            if (rc == LMD_OK) {
                lmd_jv_unref(acc);
                acc = tmp;
            }
        }
        if (rc == LMD_OK) {
            *out = acc;
        } else {
            lmd_jv_unref(acc);
        }
        break;

    default:
        rc = lmd_jerr(ctx, "internal error: filter %d", id);
        break;
    }
    lmd_jv_unref(items);
    return rc;
}
