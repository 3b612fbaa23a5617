/*
 * lmd_jinja_ops.c -- what operators do to values, with Python's rules:
 * bool counts as int, int arithmetic is exact (overflow is an error where
 * Python would grow the int), / always gives a float, // and % round
 * toward minus infinity, + joins strings and lists, * repeats them.
 *
 * Also the two ways of looking into a value, with jinja2's sandboxed
 * fallbacks: obj.name tries the attribute (a method) and then the item,
 * obj[key] the item and then the attribute; a miss is undefined, and
 * methods that would mutate (list.append, dict.update...) are undefined
 * too, as in transformers' ImmutableSandboxedEnvironment.
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lmd_jinja.h"


const char *
lmd_jop_text(int op)
{
    static const char *const  text[] = {
        "?", "+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<",
        "<=", ">", ">=", "in", "not in", "-", "+", "not", "[", "]", "(",
        ")", "{", "}", "=", ".", ":", "|", ",", ";"
    };

    if (op < 0 || (size_t) op >= sizeof(text) / sizeof(text[0])) {
        return "?";
    }
    return text[op];
}


static int
lmd_jv_isnum(struct lmd_jv v)
{
    return v.type == LMD_JV_BOOL || v.type == LMD_JV_INT
           || v.type == LMD_JV_FLOAT;
}


static double
lmd_jv_asdouble(struct lmd_jv v)
{
    return v.type == LMD_JV_FLOAT ? v.u.f : (double) v.u.i;
}


static int
lmd_jop_undefined(struct lmd_jctx *ctx, struct lmd_jv v)
{
    char  msg[LMD_ERR_LEN];

    lmd_jv_undef_message(v, msg, sizeof(msg));
    return lmd_jerr(ctx, "%s", msg);
}


static int
lmd_jop_unsupported(struct lmd_jctx *ctx, int op, struct lmd_jv a,
    struct lmd_jv b)
{
    if (a.type == LMD_JV_UNDEF) {
        return lmd_jop_undefined(ctx, a);
    }
    if (b.type == LMD_JV_UNDEF) {
        return lmd_jop_undefined(ctx, b);
    }
    if (op == LMD_JOP_ADD && a.type == LMD_JV_STR) {
        return lmd_jerr(ctx, "can only concatenate str (not \"%s\") to str",
                        lmd_jv_type_name(b));
    }
    if (op == LMD_JOP_ADD && a.type == LMD_JV_LIST
        && !(a.flags & (LMD_JV_GEN | LMD_JV_VIEW | LMD_JV_RANGE)))
    {
        return lmd_jerr(ctx, "can only concatenate %s (not \"%s\") to %s",
                        lmd_jv_type_name(a), lmd_jv_type_name(b),
                        lmd_jv_type_name(a));
    }
    if (op >= LMD_JOP_LT && op <= LMD_JOP_GE) {
        return lmd_jerr(ctx, "'%s' not supported between instances of '%s' "
                        "and '%s'", lmd_jop_text(op), lmd_jv_type_name(a),
                        lmd_jv_type_name(b));
    }
    return lmd_jerr(ctx, "unsupported operand type(s) for %s: '%s' and "
                    "'%s'", lmd_jop_text(op), lmd_jv_type_name(a),
                    lmd_jv_type_name(b));
}


/* Python's float divmod: the floor quotient and the modulo with the
 * divisor's sign. */
static void
lmd_jop_fdivmod(double x, double y, double *floordiv, double *mod)
{
    double  m, div, fd;

    m = fmod(x, y);
    div = (x - m) / y;
    if (m != 0.0) {
        if ((y < 0) != (m < 0)) {
            m += y;
            div -= 1.0;
        }
    } else {
        m = copysign(0.0, y);
    }
    if (div != 0.0) {
        fd = floor(div);
        if (div - fd > 0.5) {
            fd += 1.0;
        }
    } else {
        fd = copysign(0.0, x / y);
    }
    *floordiv = fd;
    *mod = m;
}


static int
lmd_jop_int(struct lmd_jctx *ctx, int op, int64_t x, int64_t y,
    struct lmd_jv *out)
{
    int64_t  r, q, m, base, e;

    switch (op) {
    case LMD_JOP_ADD:
        if (__builtin_add_overflow(x, y, &r)) {
            goto overflow;
        }
        break;
    case LMD_JOP_SUB:
        if (__builtin_sub_overflow(x, y, &r)) {
            goto overflow;
        }
        break;
    case LMD_JOP_MUL:
        if (__builtin_mul_overflow(x, y, &r)) {
            goto overflow;
        }
        break;
    case LMD_JOP_DIV:
        if (y == 0) {
            return lmd_jerr(ctx, "division by zero");
        }
        *out = lmd_jv_float((double) x / (double) y);
        return LMD_OK;
    case LMD_JOP_FLOORDIV:
    case LMD_JOP_MOD:
        if (y == 0) {
            return lmd_jerr(ctx, "integer division or modulo by zero");
        }
        if (x == INT64_MIN && y == -1) {
            if (op == LMD_JOP_MOD) {
                r = 0;
                break;
            }
            goto overflow;
        }
        q = x / y;
        m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {
            q--;
            m += y;
        }
        r = op == LMD_JOP_MOD ? m : q;
        break;
    case LMD_JOP_POW:
        if (y < 0) {
            if (x == 0) {
                return lmd_jerr(ctx, "0.0 cannot be raised to a negative "
                                "power");
            }
            *out = lmd_jv_float(pow((double) x, (double) y));
            return LMD_OK;
        }
        r = 1;
        base = x;
        for (e = y; e > 0; e >>= 1) {
            if ((e & 1) && __builtin_mul_overflow(r, base, &r)) {
                goto overflow;
            }
            if (e > 1 && __builtin_mul_overflow(base, base, &base)) {
                goto overflow;
            }
        }
        break;
    default:
        return LMD_DECLINED;
    }
    *out = lmd_jv_int(r);
    return LMD_OK;

overflow:
    return lmd_jerr(ctx, "integer overflow: the result of '%s' does not fit "
                    "in 64 bits", lmd_jop_text(op));
}


static int
lmd_jop_float(struct lmd_jctx *ctx, int op, double x, double y,
    struct lmd_jv *out)
{
    double  fd, m, r;

    switch (op) {
    case LMD_JOP_ADD:
        r = x + y;
        break;
    case LMD_JOP_SUB:
        r = x - y;
        break;
    case LMD_JOP_MUL:
        r = x * y;
        break;
    case LMD_JOP_DIV:
        if (y == 0.0) {
            return lmd_jerr(ctx, "float division by zero");
        }
        r = x / y;
        break;
    case LMD_JOP_FLOORDIV:
    case LMD_JOP_MOD:
        if (y == 0.0) {
            return lmd_jerr(ctx, op == LMD_JOP_MOD ? "float modulo"
                            : "float floor division by zero");
        }
        lmd_jop_fdivmod(x, y, &fd, &m);
        r = op == LMD_JOP_MOD ? m : fd;
        break;
    case LMD_JOP_POW:
        if (x == 0.0 && y < 0) {
            return lmd_jerr(ctx, "0.0 cannot be raised to a negative power");
        }
        if (x < 0 && y != floor(y)) {
            return lmd_jerr(ctx, "a negative number to a fractional power "
                            "is complex, which is not supported");
        }
        r = pow(x, y);
        break;
    default:
        return LMD_DECLINED;
    }
    *out = lmd_jv_float(r);
    return LMD_OK;
}


/* s * n and l * n. */
static int
lmd_jop_repeat(struct lmd_jctx *ctx, struct lmd_jv seq, int64_t n,
    struct lmd_jv *out)
{
    struct lmd_jbuf  b;
    size_t           total, i, k;

    if (n < 0) {
        n = 0;
    }
    if (seq.type == LMD_JV_STR) {
        if (seq.u.s->len > 0 && (uint64_t) n > LMD_JINJA_MAX_OUTPUT) {
            return lmd_jerr(ctx, "a string would exceed %u MiB",
                            LMD_JINJA_MAX_OUTPUT >> 20);
        }
        memset(&b, 0, sizeof(b));
        if (lmd_jbuf_add(ctx, &b, "", 0) != LMD_OK) {
            return LMD_ERROR;
        }
        for (i = 0; i < (size_t) n && seq.u.s->len > 0; i++) {
            if (lmd_jbuf_add(ctx, &b, seq.u.s->data, seq.u.s->len)
                != LMD_OK)
            {
                free(b.data);
                return LMD_ERROR;
            }
        }
        return lmd_jbuf_take(ctx, &b, out);
    }
    if ((uint64_t) n > LMD_JINJA_MAX_ITEMS
        || (seq.u.l->n > 0 && (uint64_t) n * seq.u.l->n
                              > LMD_JINJA_MAX_ITEMS))
    {
        return lmd_jerr(ctx, "a list would exceed %u items",
                        LMD_JINJA_MAX_ITEMS);
    }
    total = (size_t) n * seq.u.l->n;
    if (lmd_jv_list(ctx, total, out) != LMD_OK) {
        return LMD_ERROR;
    }
    out->flags = seq.flags & LMD_JV_TUPLE;
    for (i = 0; i < (size_t) n; i++) {
        for (k = 0; k < seq.u.l->n; k++) {
            out->u.l->v[out->u.l->n++] = lmd_jv_ref(seq.u.l->v[k]);
        }
    }
    return LMD_OK;
}


static int
lmd_jop_plain_list(struct lmd_jv v)
{
    return v.type == LMD_JV_LIST
           && !(v.flags & (LMD_JV_GEN | LMD_JV_VIEW | LMD_JV_RANGE));
}


static int
lmd_jop_add(struct lmd_jctx *ctx, struct lmd_jv a, struct lmd_jv b,
    struct lmd_jv *out)
{
    struct lmd_jbuf  buf;
    size_t           i;

    if (a.type == LMD_JV_STR && b.type == LMD_JV_STR) {
        if ((a.flags | b.flags) & LMD_JV_MARKUP) {
            return lmd_jerr(ctx, "'+' with a string from |safe or |escape "
                            "(jinja2 escapes the other side) is not "
                            "supported");
        }
        memset(&buf, 0, sizeof(buf));
        if (lmd_jbuf_add(ctx, &buf, a.u.s->data, a.u.s->len) != LMD_OK
            || lmd_jbuf_add(ctx, &buf, b.u.s->data, b.u.s->len) != LMD_OK)
        {
            free(buf.data);
            return LMD_ERROR;
        }
        return lmd_jbuf_take(ctx, &buf, out);
    }
    if (lmd_jop_plain_list(a) && lmd_jop_plain_list(b)
        && (a.flags & LMD_JV_TUPLE) == (b.flags & LMD_JV_TUPLE))
    {
        if (lmd_jv_list(ctx, a.u.l->n + b.u.l->n, out) != LMD_OK) {
            return LMD_ERROR;
        }
        out->flags = a.flags & LMD_JV_TUPLE;
        for (i = 0; i < a.u.l->n; i++) {
            out->u.l->v[out->u.l->n++] = lmd_jv_ref(a.u.l->v[i]);
        }
        for (i = 0; i < b.u.l->n; i++) {
            out->u.l->v[out->u.l->n++] = lmd_jv_ref(b.u.l->v[i]);
        }
        return LMD_OK;
    }
    return lmd_jop_unsupported(ctx, LMD_JOP_ADD, a, b);
}


int
lmd_jinja_binop(struct lmd_jctx *ctx, int op, struct lmd_jv a,
    struct lmd_jv b, struct lmd_jv *out)
{
    int  rc, r;

    switch (op) {

    case LMD_JOP_EQ:
    case LMD_JOP_NE:
        r = lmd_jv_equal(a, b);
        *out = lmd_jv_bool(op == LMD_JOP_EQ ? r : !r);
        return LMD_OK;

    case LMD_JOP_LT:
    case LMD_JOP_LE:
    case LMD_JOP_GT:
    case LMD_JOP_GE:
        if (lmd_jv_isnum(a) && lmd_jv_isnum(b)) {
            r = lmd_jv_numcmp(a, b);
            if (r == 2) {
                *out = lmd_jv_bool(0);      /* NaN: unordered */
                return LMD_OK;
            }
        } else if ((a.type == LMD_JV_STR && b.type == LMD_JV_STR)
                   || (lmd_jop_plain_list(a) && lmd_jop_plain_list(b)
                       && a.flags == b.flags))
        {
            if (lmd_jv_compare(ctx, a, b, &r) != LMD_OK) {
                return LMD_ERROR;
            }
        } else {
            return lmd_jop_unsupported(ctx, op, a, b);
        }
        r = op == LMD_JOP_LT ? r < 0 : op == LMD_JOP_LE ? r <= 0
            : op == LMD_JOP_GT ? r > 0 : r >= 0;
        *out = lmd_jv_bool(r);
        return LMD_OK;

    case LMD_JOP_IN:
    case LMD_JOP_NOTIN:
        if (lmd_jinja_contains(ctx, b, a, &r) != LMD_OK) {
            return LMD_ERROR;
        }
        *out = lmd_jv_bool(op == LMD_JOP_IN ? r : !r);
        return LMD_OK;

    case LMD_JOP_ADD:
        if (!(lmd_jv_isnum(a) && lmd_jv_isnum(b))) {
            return lmd_jop_add(ctx, a, b, out);
        }
        break;

    case LMD_JOP_MUL:
        if ((a.type == LMD_JV_STR || lmd_jop_plain_list(a))
            && (b.type == LMD_JV_INT || b.type == LMD_JV_BOOL))
        {
            return lmd_jop_repeat(ctx, a, b.u.i, out);
        }
        if ((b.type == LMD_JV_STR || lmd_jop_plain_list(b))
            && (a.type == LMD_JV_INT || a.type == LMD_JV_BOOL))
        {
            return lmd_jop_repeat(ctx, b, a.u.i, out);
        }
        break;

    case LMD_JOP_MOD:
        if (a.type == LMD_JV_STR) {
            return lmd_jerr(ctx, "string formatting with '%%' is not "
                            "supported; use ~ or |format-free "
                            "concatenation");
        }
        break;

    default:
        break;
    }

    if (!(lmd_jv_isnum(a) && lmd_jv_isnum(b))) {
        return lmd_jop_unsupported(ctx, op, a, b);
    }
    if (a.type != LMD_JV_FLOAT && b.type != LMD_JV_FLOAT) {
        rc = lmd_jop_int(ctx, op, a.u.i, b.u.i, out);
    } else {
        rc = lmd_jop_float(ctx, op, lmd_jv_asdouble(a), lmd_jv_asdouble(b),
                           out);
    }
    if (rc == LMD_DECLINED) {
        return lmd_jop_unsupported(ctx, op, a, b);
    }
    return rc;
}


int
lmd_jinja_unop(struct lmd_jctx *ctx, int op, struct lmd_jv a,
    struct lmd_jv *out)
{
    if (op == LMD_JOP_NOT) {
        *out = lmd_jv_bool(!lmd_jv_truthy(a));
        return LMD_OK;
    }
    if (a.type == LMD_JV_UNDEF) {
        return lmd_jop_undefined(ctx, a);
    }
    if (a.type == LMD_JV_FLOAT) {
        *out = lmd_jv_float(op == LMD_JOP_NEG ? -a.u.f : a.u.f);
        return LMD_OK;
    }
    if (a.type == LMD_JV_INT || a.type == LMD_JV_BOOL) {
        if (op == LMD_JOP_NEG && a.u.i == INT64_MIN) {
            return lmd_jerr(ctx, "integer overflow: the result of '-' does "
                            "not fit in 64 bits");
        }
        *out = lmd_jv_int(op == LMD_JOP_NEG ? -a.u.i : a.u.i);
        return LMD_OK;
    }
    return lmd_jerr(ctx, "bad operand type for unary %s: '%s'",
                    lmd_jop_text(op), lmd_jv_type_name(a));
}


/* item in seq, Python's way: substring for strings, a key for dicts, an
 * equal item for lists; nothing is in undefined. */
int
lmd_jinja_contains(struct lmd_jctx *ctx, struct lmd_jv seq,
    struct lmd_jv item, int *result)
{
    size_t  i;
    long    k;

    *result = 0;
    switch (seq.type) {

    case LMD_JV_UNDEF:
        return LMD_OK;

    case LMD_JV_STR:
        if (item.type != LMD_JV_STR) {
            return lmd_jerr(ctx, "'in <string>' requires string as left "
                            "operand, not %s", lmd_jv_type_name(item));
        }
        *result = item.u.s->len == 0
                  || memmem(seq.u.s->data, seq.u.s->len, item.u.s->data,
                            item.u.s->len) != NULL;
        return LMD_OK;

    case LMD_JV_DICT:
        if (lmd_jdict_find(ctx, seq.u.d, item, &k) != LMD_OK) {
            return LMD_ERROR;
        }
        *result = k >= 0;
        return LMD_OK;

    case LMD_JV_LIST:
        for (i = 0; i < seq.u.l->n; i++) {
            if (lmd_jv_equal(seq.u.l->v[i], item)) {
                *result = 1;
                break;
            }
        }
        return LMD_OK;

    default:
        return lmd_jerr(ctx, "argument of type '%s' is not iterable",
                        lmd_jv_type_name(seq));
    }
}


/* ------------------------------------------------------------------------
 * Attributes and items
 * ------------------------------------------------------------------------ */

static int
lmd_jop_loop_attr(struct lmd_jctx *ctx, struct lmd_jv obj, const char *name,
    struct lmd_jv *out)
{
    const struct lmd_jloop  *lp;
    struct lmd_jfunc        *f;
    size_t                   n, i;

    lp = obj.u.loop;
    n = lp->items.u.l->n;
    i = lp->i;
    if (strcmp(name, "index") == 0) {
        *out = lmd_jv_int((int64_t) i + 1);
    } else if (strcmp(name, "index0") == 0) {
        *out = lmd_jv_int((int64_t) i);
    } else if (strcmp(name, "revindex") == 0) {
        *out = lmd_jv_int((int64_t) (n - i));
    } else if (strcmp(name, "revindex0") == 0) {
        *out = lmd_jv_int((int64_t) (n - i - 1));
    } else if (strcmp(name, "first") == 0) {
        *out = lmd_jv_bool(i == 0);
    } else if (strcmp(name, "last") == 0) {
        *out = lmd_jv_bool(i + 1 == n);
    } else if (strcmp(name, "length") == 0) {
        *out = lmd_jv_int((int64_t) n);
    } else if (strcmp(name, "depth") == 0) {
        *out = lmd_jv_int(1);
    } else if (strcmp(name, "depth0") == 0) {
        *out = lmd_jv_int(0);
    } else if (strcmp(name, "previtem") == 0) {
        *out = i > 0 ? lmd_jv_ref(lp->items.u.l->v[i - 1])
                     : lmd_jv_hint("there is no previous item");
    } else if (strcmp(name, "nextitem") == 0) {
        *out = i + 1 < n ? lmd_jv_ref(lp->items.u.l->v[i + 1])
                         : lmd_jv_hint("there is no next item");
    } else if (strcmp(name, "cycle") == 0) {
        f = calloc(1, sizeof(*f));
        if (f == NULL) {
            return lmd_jerr_oom(ctx);
        }
        f->hdr.refs = 1;
        f->kind = LMD_JF_CYCLE;
        f->name = "loop.cycle";
        f->self = lmd_jv_ref(obj);
        memset(out, 0, sizeof(*out));
        out->type = LMD_JV_FUNC;
        out->u.fn = f;
    } else if (strcmp(name, "changed") == 0) {
        return lmd_jerr(ctx, "loop.changed() is not supported");
    } else {
        *out = lmd_jv_undef(name, "jinja2.runtime.LoopContext object");
    }
    return LMD_OK;
}


int
lmd_jinja_getattr(struct lmd_jctx *ctx, struct lmd_jv obj, const char *name,
    struct lmd_jv *out)
{
    struct lmd_jv  *v;
    int             rc;

    switch (obj.type) {

    case LMD_JV_UNDEF:
        return lmd_jop_undefined(ctx, obj);

    case LMD_JV_LOOP:
        return lmd_jop_loop_attr(ctx, obj, name, out);

    case LMD_JV_NS:
        v = lmd_jdict_get_str(obj.u.d, name);
        *out = v ? lmd_jv_ref(*v) : lmd_jv_undef(name, lmd_jv_object_name(obj));
        return LMD_OK;

    default:
        break;
    }

    /* the attribute first: methods of str, dict and list */
    rc = lmd_jinja_method_find(ctx, obj, name, out);
    if (rc != LMD_DECLINED) {
        return rc;
    }
    if (obj.type == LMD_JV_DICT) {
        v = lmd_jdict_get_str(obj.u.d, name);
        if (v != NULL) {
            *out = lmd_jv_ref(*v);
            return LMD_OK;
        }
    }
    *out = lmd_jv_undef(name, lmd_jv_object_name(obj));
    return LMD_OK;
}


/* Python's index adjustment: i in [-n, n) -> [0, n), else -1. */
static long
lmd_jop_index(int64_t i, size_t n)
{
    if (i < 0) {
        i += (int64_t) n;
    }
    if (i < 0 || (uint64_t) i >= n) {
        return -1;
    }
    return (long) i;
}


int
lmd_jinja_getitem(struct lmd_jctx *ctx, struct lmd_jv obj, struct lmd_jv key,
    const char *hint, struct lmd_jv *out)
{
    size_t    off, n;
    uint32_t  cp;
    long      i;
    int       rc;

    switch (obj.type) {

    case LMD_JV_UNDEF:
        return lmd_jop_undefined(ctx, obj);

    case LMD_JV_DICT:
        /* an unhashable key is a TypeError: jinja2 says undefined */
        if (lmd_jv_hashable(key)
            && lmd_jdict_find(ctx, obj.u.d, key, &i) == LMD_OK && i >= 0)
        {
            *out = lmd_jv_ref(obj.u.d->v[i]);
            return LMD_OK;
        }
        break;

    case LMD_JV_LIST:
        if ((key.type == LMD_JV_INT || key.type == LMD_JV_BOOL)
            && !(obj.flags & (LMD_JV_GEN | LMD_JV_VIEW)))
        {
            i = lmd_jop_index(key.u.i, obj.u.l->n);
            if (i >= 0) {
                *out = lmd_jv_ref(obj.u.l->v[i]);
                return LMD_OK;
            }
            *out = lmd_jv_hint("the list index is out of range");
            return LMD_OK;
        }
        break;

    case LMD_JV_STR:
        if (key.type == LMD_JV_INT || key.type == LMD_JV_BOOL) {
            i = lmd_jop_index(key.u.i, obj.u.s->ncp);
            if (i >= 0) {
                off = lmd_jstr_offset(obj.u.s, (size_t) i);
                n = lmd_utf8_next(obj.u.s->data + off, obj.u.s->len - off,
                                  &cp);
                return lmd_jv_str(ctx, obj.u.s->data + off, n, out);
            }
            *out = lmd_jv_hint("the string index is out of range");
            return LMD_OK;
        }
        break;

    case LMD_JV_NS:
    case LMD_JV_LOOP:
        if (key.type == LMD_JV_STR) {
            return lmd_jinja_getattr(ctx, obj, key.u.s->data, out);
        }
        break;

    default:
        break;
    }

    /* a string key falls back to the attribute (a method) */
    if (key.type == LMD_JV_STR) {
        rc = lmd_jinja_method_find(ctx, obj, key.u.s->data, out);
        if (rc != LMD_DECLINED) {
            return rc;
        }
    }
    if (hint != NULL) {
        *out = lmd_jv_undef(hint, lmd_jv_object_name(obj));
    } else {
        *out = lmd_jv_hint("no such item");
    }
    return LMD_OK;
}


/* Python's slice index adjustment (PySlice_AdjustIndices). */
static size_t
lmd_jop_slice_indices(int64_t len, const struct lmd_jv *bounds,
    int64_t *start, int64_t *step)
{
    int64_t  b, e, st;

    st = bounds[2].type == LMD_JV_NONE ? 1 : bounds[2].u.i;
    if (bounds[0].type == LMD_JV_NONE) {
        b = st < 0 ? len - 1 : 0;
    } else {
        b = bounds[0].u.i;
        if (b < 0) {
            b += len;
            if (b < 0) {
                b = st < 0 ? -1 : 0;
            }
        } else if (b >= len) {
            b = st < 0 ? len - 1 : len;
        }
    }
    if (bounds[1].type == LMD_JV_NONE) {
        e = st < 0 ? -1 : len;
    } else {
        e = bounds[1].u.i;
        if (e < 0) {
            e += len;
            if (e < 0) {
                e = st < 0 ? -1 : 0;
            }
        } else if (e >= len) {
            e = st < 0 ? len - 1 : len;
        }
    }
    *start = b;
    *step = st;
    if (st < 0) {
        return e < b ? (size_t) ((b - e - 1) / (-st) + 1) : 0;
    }
    return b < e ? (size_t) ((e - b - 1) / st + 1) : 0;
}


/* obj[a:b:c]; bounds are NONE or ints (missing ones NONE). */
int
lmd_jinja_slice(struct lmd_jctx *ctx, struct lmd_jv obj,
    const struct lmd_jv *bounds, struct lmd_jv *out)
{
    struct lmd_jbuf   b;
    struct lmd_jv     bd[3];
    size_t            count, i, *offs, n, k;
    int64_t           start, step, pos;
    uint32_t          cp;
    int               rc;

    for (i = 0; i < 3; i++) {
        bd[i] = bounds[i];
        if (bd[i].type == LMD_JV_BOOL) {
            bd[i].type = LMD_JV_INT;
        }
        if (bd[i].type != LMD_JV_NONE && bd[i].type != LMD_JV_INT) {
            /* a TypeError: jinja2's getitem gives undefined */
            *out = lmd_jv_hint("slice indices must be integers or None");
            return LMD_OK;
        }
    }
    if (bd[2].type == LMD_JV_INT && bd[2].u.i == 0) {
        return lmd_jerr(ctx, "slice step cannot be zero");
    }
    if (bd[2].type == LMD_JV_INT && bd[2].u.i == INT64_MIN) {
        bd[2].u.i = -INT64_MAX;
    }

    if (obj.type == LMD_JV_LIST && !(obj.flags & (LMD_JV_GEN | LMD_JV_VIEW)))
    {
        count = lmd_jop_slice_indices((int64_t) obj.u.l->n, bd, &start,
                                      &step);
        if (lmd_jv_list(ctx, count, out) != LMD_OK) {
            return LMD_ERROR;
        }
        out->flags = obj.flags;
        for (i = 0, pos = start; i < count; i++, pos += step) {
            out->u.l->v[out->u.l->n++] = lmd_jv_ref(obj.u.l->v[pos]);
        }
        return LMD_OK;
    }

    if (obj.type != LMD_JV_STR) {
        if (obj.type == LMD_JV_UNDEF) {
            return lmd_jop_undefined(ctx, obj);
        }
        *out = lmd_jv_hint("the value cannot be sliced");
        return LMD_OK;
    }

    count = lmd_jop_slice_indices((int64_t) obj.u.s->ncp, bd, &start, &step);
    memset(&b, 0, sizeof(b));
    if (obj.u.s->ncp == obj.u.s->len) {
        rc = lmd_jbuf_add(ctx, &b, "", 0);
        for (i = 0, pos = start; rc == LMD_OK && i < count;
             i++, pos += step)
        {
            rc = lmd_jbuf_add(ctx, &b, obj.u.s->data + pos, 1);
        }
    } else {
        /* code point offsets, then the chosen ones */
        offs = malloc((obj.u.s->ncp + 1) * sizeof(size_t));
        if (offs == NULL) {
            return lmd_jerr_oom(ctx);
        }
        for (k = 0, n = 0; k < obj.u.s->len; n++) {
            offs[n] = k;
            k += lmd_utf8_next(obj.u.s->data + k, obj.u.s->len - k, &cp);
        }
        offs[n] = obj.u.s->len;
        rc = lmd_jbuf_add(ctx, &b, "", 0);
        for (i = 0, pos = start; rc == LMD_OK && i < count;
             i++, pos += step)
        {
            rc = lmd_jbuf_add(ctx, &b, obj.u.s->data + offs[pos],
                              offs[pos + 1] - offs[pos]);
        }
        free(offs);
    }
    if (rc != LMD_OK) {
        free(b.data);
        return LMD_ERROR;
    }
    return lmd_jbuf_take(ctx, &b, out);
}
