/*
 * lmd_jinja_methods.c -- the Python methods templates call on values:
 * str (strip, split, startswith, replace, format, ...), dict (get, items,
 * keys, values, copy) and list/tuple (count, index, copy).
 *
 * The table below lists every method name of those Python types.  A name
 * marked unsafe is one transformers' ImmutableSandboxedEnvironment hides
 * (list.append, dict.update...): it reads as undefined, so
 * "x.append is defined" is false and calling it fails.  A name marked
 * unsupported is a real method this interpreter lacks: looking it up is an
 * error, never a silently different result.
 *
 * Known differences: isalpha/isdigit/isalnum know ASCII and a few common
 * Unicode ranges only; format() takes no format specs ("{:>8}").
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmd_jinja.h"

enum {
    LMD_JM_UNSAFE = -2,
    LMD_JM_UNSUPPORTED = -1,

    LMD_JM_STRIP = 0, LMD_JM_LSTRIP, LMD_JM_RSTRIP, LMD_JM_UPPER,
    LMD_JM_LOWER, LMD_JM_TITLE, LMD_JM_CAPITALIZE, LMD_JM_CASEFOLD,
    LMD_JM_STARTSWITH, LMD_JM_ENDSWITH, LMD_JM_SPLIT, LMD_JM_RSPLIT,
    LMD_JM_SPLITLINES, LMD_JM_REPLACE, LMD_JM_FIND, LMD_JM_RFIND,
    LMD_JM_INDEX, LMD_JM_RINDEX, LMD_JM_COUNT, LMD_JM_JOIN, LMD_JM_FORMAT,
    LMD_JM_ISDIGIT, LMD_JM_ISALPHA, LMD_JM_ISALNUM, LMD_JM_ISSPACE,
    LMD_JM_ISLOWER, LMD_JM_ISUPPER, LMD_JM_ISASCII, LMD_JM_REMOVEPREFIX,
    LMD_JM_REMOVESUFFIX, LMD_JM_CENTER, LMD_JM_LJUST, LMD_JM_RJUST,
    LMD_JM_ZFILL, LMD_JM_PARTITION, LMD_JM_RPARTITION,

    LMD_JM_GET, LMD_JM_ITEMS, LMD_JM_KEYS, LMD_JM_VALUES, LMD_JM_DCOPY,

    LMD_JM_LCOUNT, LMD_JM_LINDEX, LMD_JM_LCOPY
};

#define LMD_JM_STR    1
#define LMD_JM_DICT   2
#define LMD_JM_LIST   4
#define LMD_JM_TUPLE  8
#define LMD_JM_NUM    16

static const struct {
    int          types;
    const char  *name;
    int          id;
} lmd_jmethods[] = {
    { LMD_JM_STR, "strip", LMD_JM_STRIP },
    { LMD_JM_STR, "lstrip", LMD_JM_LSTRIP },
    { LMD_JM_STR, "rstrip", LMD_JM_RSTRIP },
    { LMD_JM_STR, "upper", LMD_JM_UPPER },
    { LMD_JM_STR, "lower", LMD_JM_LOWER },
    { LMD_JM_STR, "title", LMD_JM_TITLE },
    { LMD_JM_STR, "capitalize", LMD_JM_CAPITALIZE },
    { LMD_JM_STR, "casefold", LMD_JM_CASEFOLD },
    { LMD_JM_STR, "startswith", LMD_JM_STARTSWITH },
    { LMD_JM_STR, "endswith", LMD_JM_ENDSWITH },
    { LMD_JM_STR, "split", LMD_JM_SPLIT },
    { LMD_JM_STR, "rsplit", LMD_JM_RSPLIT },
    { LMD_JM_STR, "splitlines", LMD_JM_SPLITLINES },
    { LMD_JM_STR, "replace", LMD_JM_REPLACE },
    { LMD_JM_STR, "find", LMD_JM_FIND },
    { LMD_JM_STR, "rfind", LMD_JM_RFIND },
    { LMD_JM_STR, "index", LMD_JM_INDEX },
    { LMD_JM_STR, "rindex", LMD_JM_RINDEX },
    { LMD_JM_STR, "count", LMD_JM_COUNT },
    { LMD_JM_STR, "join", LMD_JM_JOIN },
    { LMD_JM_STR, "format", LMD_JM_FORMAT },
    { LMD_JM_STR, "isdigit", LMD_JM_ISDIGIT },
    { LMD_JM_STR, "isalpha", LMD_JM_ISALPHA },
    { LMD_JM_STR, "isalnum", LMD_JM_ISALNUM },
    { LMD_JM_STR, "isspace", LMD_JM_ISSPACE },
    { LMD_JM_STR, "islower", LMD_JM_ISLOWER },
    { LMD_JM_STR, "isupper", LMD_JM_ISUPPER },
    { LMD_JM_STR, "isascii", LMD_JM_ISASCII },
    { LMD_JM_STR, "removeprefix", LMD_JM_REMOVEPREFIX },
    { LMD_JM_STR, "removesuffix", LMD_JM_REMOVESUFFIX },
    { LMD_JM_STR, "center", LMD_JM_CENTER },
    { LMD_JM_STR, "ljust", LMD_JM_LJUST },
    { LMD_JM_STR, "rjust", LMD_JM_RJUST },
    { LMD_JM_STR, "zfill", LMD_JM_ZFILL },
    { LMD_JM_STR, "partition", LMD_JM_PARTITION },
    { LMD_JM_STR, "rpartition", LMD_JM_RPARTITION },
    { LMD_JM_STR, "encode", LMD_JM_UNSUPPORTED },
    { LMD_JM_STR, "expandtabs", LMD_JM_UNSUPPORTED },
    { LMD_JM_STR, "format_map", LMD_JM_UNSUPPORTED },
    { LMD_JM_STR, "isdecimal", LMD_JM_UNSUPPORTED },
    { LMD_JM_STR, "isidentifier", LMD_JM_UNSUPPORTED },
    { LMD_JM_STR, "isnumeric", LMD_JM_UNSUPPORTED },
    { LMD_JM_STR, "isprintable", LMD_JM_UNSUPPORTED },
    { LMD_JM_STR, "istitle", LMD_JM_UNSUPPORTED },
    { LMD_JM_STR, "maketrans", LMD_JM_UNSUPPORTED },
    { LMD_JM_STR, "swapcase", LMD_JM_UNSUPPORTED },
    { LMD_JM_STR, "translate", LMD_JM_UNSUPPORTED },

    { LMD_JM_DICT, "get", LMD_JM_GET },
    { LMD_JM_DICT, "items", LMD_JM_ITEMS },
    { LMD_JM_DICT, "keys", LMD_JM_KEYS },
    { LMD_JM_DICT, "values", LMD_JM_VALUES },
    { LMD_JM_DICT, "copy", LMD_JM_DCOPY },
    { LMD_JM_DICT, "fromkeys", LMD_JM_UNSUPPORTED },
    { LMD_JM_DICT, "clear", LMD_JM_UNSAFE },
    { LMD_JM_DICT, "pop", LMD_JM_UNSAFE },
    { LMD_JM_DICT, "popitem", LMD_JM_UNSAFE },
    { LMD_JM_DICT, "setdefault", LMD_JM_UNSAFE },
    { LMD_JM_DICT, "update", LMD_JM_UNSAFE },

    { LMD_JM_LIST | LMD_JM_TUPLE, "count", LMD_JM_LCOUNT },
    { LMD_JM_LIST | LMD_JM_TUPLE, "index", LMD_JM_LINDEX },
    { LMD_JM_LIST, "copy", LMD_JM_LCOPY },
    { LMD_JM_LIST, "append", LMD_JM_UNSAFE },
    { LMD_JM_LIST, "clear", LMD_JM_UNSAFE },
    { LMD_JM_LIST, "extend", LMD_JM_UNSAFE },
    { LMD_JM_LIST, "insert", LMD_JM_UNSAFE },
    { LMD_JM_LIST, "pop", LMD_JM_UNSAFE },
    { LMD_JM_LIST, "remove", LMD_JM_UNSAFE },
    { LMD_JM_LIST, "reverse", LMD_JM_UNSAFE },
    { LMD_JM_LIST, "sort", LMD_JM_UNSAFE },

    { LMD_JM_NUM, "real", LMD_JM_UNSUPPORTED },
    { LMD_JM_NUM, "imag", LMD_JM_UNSUPPORTED },
    { LMD_JM_NUM, "conjugate", LMD_JM_UNSUPPORTED },
    { LMD_JM_NUM, "numerator", LMD_JM_UNSUPPORTED },
    { LMD_JM_NUM, "denominator", LMD_JM_UNSUPPORTED },
    { LMD_JM_NUM, "bit_length", LMD_JM_UNSUPPORTED },
    { LMD_JM_NUM, "bit_count", LMD_JM_UNSUPPORTED },
    { LMD_JM_NUM, "is_integer", LMD_JM_UNSUPPORTED },
    { LMD_JM_NUM, "as_integer_ratio", LMD_JM_UNSUPPORTED },
    { LMD_JM_NUM, "hex", LMD_JM_UNSUPPORTED },
    { LMD_JM_NUM, "to_bytes", LMD_JM_UNSUPPORTED },
    { LMD_JM_NUM, "from_bytes", LMD_JM_UNSUPPORTED }
};


static int
lmd_jm_types(struct lmd_jv v)
{
    switch (v.type) {
    case LMD_JV_STR:
        return LMD_JM_STR;
    case LMD_JV_DICT:
        return LMD_JM_DICT;
    case LMD_JV_LIST:
        if (v.flags & (LMD_JV_GEN | LMD_JV_VIEW | LMD_JV_RANGE)) {
            return 0;
        }
        return (v.flags & LMD_JV_TUPLE) ? LMD_JM_TUPLE : LMD_JM_LIST;
    case LMD_JV_BOOL:
    case LMD_JV_INT:
    case LMD_JV_FLOAT:
        return LMD_JM_NUM;
    default:
        return 0;
    }
}


int
lmd_jinja_method_find(struct lmd_jctx *ctx, struct lmd_jv obj,
    const char *name, struct lmd_jv *out)
{
    struct lmd_jfunc  *f;
    size_t             i, len;
    int                types;

    len = strlen(name);
    if (len > 4 && name[0] == '_' && name[1] == '_'
        && name[len - 1] == '_' && name[len - 2] == '_')
    {
        /* Python's dunder attributes: the sandbox refuses them all */
        *out = lmd_jv_hint("access to a dunder attribute is unsafe");
        return LMD_OK;
    }
    types = lmd_jm_types(obj);
    for (i = 0; i < sizeof(lmd_jmethods) / sizeof(lmd_jmethods[0]); i++) {
        if ((lmd_jmethods[i].types & types)
            && strcmp(lmd_jmethods[i].name, name) == 0)
        {
            break;
        }
    }
    if (i == sizeof(lmd_jmethods) / sizeof(lmd_jmethods[0])) {
        return LMD_DECLINED;
    }
    if (lmd_jmethods[i].id == LMD_JM_UNSAFE) {
        *out = lmd_jv_hint("access to a mutating method is unsafe: the "
                           "sandbox of transformers refuses it");
        return LMD_OK;
    }
    if (lmd_jmethods[i].id == LMD_JM_UNSUPPORTED) {
        return lmd_jerr(ctx, "%s.%s is not supported",
                        lmd_jv_type_name(obj), name);
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return lmd_jerr_oom(ctx);
    }
    f->hdr.refs = 1;
    f->kind = LMD_JF_METHOD;
    f->id = lmd_jmethods[i].id;
    f->name = lmd_jmethods[i].name;
    f->self = lmd_jv_ref(obj);
    memset(out, 0, sizeof(*out));
    out->type = LMD_JV_FUNC;
    out->u.fn = f;
    return LMD_OK;
}


/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* A code point range [start:end] of s (Python slice rules, step 1) as
 * byte offsets; start/end NONE or missing for the ends. */
static int
lmd_jm_span(struct lmd_jctx *ctx, const struct lmd_jstr *s, struct lmd_jv a,
    struct lmd_jv b, size_t *bs, size_t *be, size_t *cs)
{
    int64_t  n, st, en;

    n = (int64_t) s->ncp;
    st = 0;
    en = n;
    if (!lmd_jv_missing(a) && a.type != LMD_JV_NONE) {
        if (a.type != LMD_JV_INT && a.type != LMD_JV_BOOL) {
            return lmd_jerr(ctx, "slice indices must be integers or None");
        }
        st = a.u.i < 0 ? a.u.i + n : a.u.i;
        st = st < 0 ? 0 : st > n ? n : st;
    }
    if (!lmd_jv_missing(b) && b.type != LMD_JV_NONE) {
        if (b.type != LMD_JV_INT && b.type != LMD_JV_BOOL) {
            return lmd_jerr(ctx, "slice indices must be integers or None");
        }
        en = b.u.i < 0 ? b.u.i + n : b.u.i;
        en = en < 0 ? 0 : en > n ? n : en;
    }
    if (en < st) {
        en = st;
    }
    *bs = lmd_jstr_offset(s, (size_t) st);
    *be = lmd_jstr_offset(s, (size_t) en);
    *cs = (size_t) st;
    return LMD_OK;
}


static int
lmd_jm_need_str(struct lmd_jctx *ctx, const char *m, struct lmd_jv v)
{
    if (v.type != LMD_JV_STR) {
        return lmd_jerr(ctx, "str.%s() needs a string argument, not '%s'",
                        m, lmd_jv_type_name(v));
    }
    return LMD_OK;
}


static int
lmd_jm_need_int(struct lmd_jctx *ctx, const char *m, struct lmd_jv v)
{
    if (v.type != LMD_JV_INT && v.type != LMD_JV_BOOL) {
        return lmd_jerr(ctx, "%s() needs an integer argument, not '%s'", m,
                        lmd_jv_type_name(v));
    }
    return LMD_OK;
}


static int
lmd_jm_push_str(struct lmd_jctx *ctx, struct lmd_jlist *l, const char *s,
    size_t n)
{
    struct lmd_jv  v;

    if (lmd_jv_str(ctx, s, n, &v) != LMD_OK) {
        return LMD_ERROR;
    }
    return lmd_jlist_push(ctx, l, v);
}


/* str.split() and rsplit(): sep None splits at runs of white space and
 * drops empty ends; maxsplit < 0 for no limit. */
static int
lmd_jm_split(struct lmd_jctx *ctx, const struct lmd_jstr *s,
    struct lmd_jv sep, int64_t maxsplit, int right, struct lmd_jv *out)
{
    struct lmd_jlist  *l;
    struct lmd_jv      tmp, *v;
    const char        *p, *hit, *end;
    size_t             i, k, n, ws, we, m;
    uint32_t           cp;
    int                rc;

    if (sep.type == LMD_JV_STR && sep.u.s->len == 0) {
        return lmd_jerr(ctx, "empty separator");
    }
    if (lmd_jv_list(ctx, 0, out) != LMD_OK) {
        return LMD_ERROR;
    }
    l = out->u.l;
    rc = LMD_OK;
    p = s->data;
    end = s->data + s->len;

    if (sep.type == LMD_JV_STR && !right) {
        m = sep.u.s->len;
        while (rc == LMD_OK && maxsplit != 0
               && (hit = memmem(p, (size_t) (end - p), sep.u.s->data, m)))
        {
            rc = lmd_jm_push_str(ctx, l, p, (size_t) (hit - p));
            p = hit + m;
            maxsplit--;
        }
        if (rc == LMD_OK) {
            rc = lmd_jm_push_str(ctx, l, p, (size_t) (end - p));
        }
    } else if (sep.type == LMD_JV_STR) {
        /* from the right: find the last separators, then reverse */
        m = sep.u.s->len;
        k = s->len;
        while (rc == LMD_OK && maxsplit != 0 && k >= m) {
            for (i = k - m + 1; i > 0; i--) {
                if (memcmp(s->data + i - 1, sep.u.s->data, m) == 0) {
                    break;
                }
            }
            if (i == 0) {
                break;
            }
            rc = lmd_jm_push_str(ctx, l, s->data + i - 1 + m,
                                 k - (i - 1 + m));
            k = i - 1;
            maxsplit--;
        }
        if (rc == LMD_OK) {
            rc = lmd_jm_push_str(ctx, l, s->data, k);
        }
    } else if (!right) {
        i = 0;
        while (rc == LMD_OK) {
            while (i < s->len && (n = lmd_jinja_space_at(s->data + i,
                                                         s->len - i)) > 0)
            {
                i += n;
            }
            if (i >= s->len) {
                break;
            }
            if (maxsplit == 0) {
                /* the rest, without its trailing white space */
                for (we = i, k = i; k < s->len; k += n) {
                    n = lmd_utf8_next(s->data + k, s->len - k, &cp);
                    if (!lmd_jinja_isspace(cp)) {
                        we = k + n;
                    }
                }
                rc = lmd_jm_push_str(ctx, l, s->data + i, we - i);
                break;
            }
            ws = i;
            while (i < s->len && lmd_jinja_space_at(s->data + i,
                                                    s->len - i) == 0)
            {
                i += lmd_utf8_next(s->data + i, s->len - i, &cp);
            }
            rc = lmd_jm_push_str(ctx, l, s->data + ws, i - ws);
            maxsplit--;
        }
    } else {
        /* rsplit(None): words from the right */
        k = s->len;
        while (rc == LMD_OK) {
            /* step back over white space, then over a word */
            we = k;
            for (;;) {
                for (i = 0, n = 0; i < we; i += n) {
                    n = lmd_utf8_next(s->data + i, we - i, &cp);
                    if (i + n == we) {
                        break;
                    }
                }
                if (we == 0 || !lmd_jinja_isspace(cp)) {
                    break;
                }
                we = i;
            }
            if (we == 0) {
                break;
            }
            if (maxsplit == 0) {
                for (i = 0; i < we && (n = lmd_jinja_space_at(s->data + i,
                                                              we - i)) > 0;
                     i += n)
                {
                    /* leading white space */
                }
                rc = lmd_jm_push_str(ctx, l, s->data + i, we - i);
                break;
            }
            ws = we;
            for (;;) {
                for (i = 0, n = 0; i < ws; i += n) {
                    n = lmd_utf8_next(s->data + i, ws - i, &cp);
                    if (i + n == ws) {
                        break;
                    }
                }
                if (ws == 0 || lmd_jinja_isspace(cp)) {
                    break;
                }
                ws = i;
            }
            rc = lmd_jm_push_str(ctx, l, s->data + ws, we - ws);
            k = ws;
            maxsplit--;
        }
    }
    if (rc != LMD_OK) {
        lmd_jv_unref(*out);
        return LMD_ERROR;
    }
    if (right) {
        for (i = 0; i < l->n / 2; i++) {
            v = &l->v[l->n - 1 - i];
            tmp = l->v[i];
            l->v[i] = *v;
            *v = tmp;
        }
    }
    return LMD_OK;
}


static int
lmd_jm_isdigit(uint32_t cp)
{
    return (cp >= '0' && cp <= '9') || (cp >= 0x660 && cp <= 0x669)
           || (cp >= 0x6f0 && cp <= 0x6f9) || (cp >= 0x966 && cp <= 0x96f)
           || (cp >= 0xff10 && cp <= 0xff19) || cp == 0xb2 || cp == 0xb3
           || cp == 0xb9;
}


static int
lmd_jm_isalpha(uint32_t cp)
{
    if (cp < 0x80) {
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    }
    if (lmd_jinja_upper(cp) != cp || lmd_jinja_lower(cp) != cp) {
        return 1;
    }
    return cp == 0xaa || cp == 0xba || cp == 0xdf
           || (cp >= 0x5d0 && cp <= 0x5ea) || (cp >= 0x620 && cp <= 0x64a)
           || (cp >= 0x904 && cp <= 0x939) || (cp >= 0xe01 && cp <= 0xe30)
           || (cp >= 0x3041 && cp <= 0x3096) || (cp >= 0x30a1 && cp <= 0x30fa)
           || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x4e00 && cp <= 0x9fff)
           || (cp >= 0xac00 && cp <= 0xd7a3);
}


static int
lmd_jm_predicate(const struct lmd_jstr *s, int id)
{
    size_t    i, n;
    uint32_t  cp;
    int       cased, ok;

    if (s->len == 0) {
        return id == LMD_JM_ISASCII;
    }
    cased = 0;
    for (i = 0; i < s->len; i += n) {
        n = lmd_utf8_next(s->data + i, s->len - i, &cp);
        switch (id) {
        case LMD_JM_ISDIGIT:
            ok = lmd_jm_isdigit(cp);
            break;
        case LMD_JM_ISALPHA:
            ok = lmd_jm_isalpha(cp);
            break;
        case LMD_JM_ISALNUM:
            ok = lmd_jm_isalpha(cp) || lmd_jm_isdigit(cp);
            break;
        case LMD_JM_ISSPACE:
            ok = lmd_jinja_isspace(cp);
            break;
        case LMD_JM_ISASCII:
            ok = cp < 0x80 && n == 1;
            break;
        case LMD_JM_ISLOWER:
            if (lmd_jinja_lower(cp) != cp) {
                return 0;
            }
            cased |= lmd_jinja_upper(cp) != cp;
            ok = 1;
            break;
        default:
            if (lmd_jinja_upper(cp) != cp) {
                return 0;
            }
            cased |= lmd_jinja_lower(cp) != cp;
            ok = 1;
            break;
        }
        if (!ok) {
            return 0;
        }
    }
    return (id == LMD_JM_ISLOWER || id == LMD_JM_ISUPPER) ? cased : 1;
}


/* str.format(): "{}", "{0}", "{name}", "!s"/"!r" conversions, "{{" and
 * "}}"; format specs and field attributes are refused. */
static int
lmd_jm_format(struct lmd_jctx *ctx, const struct lmd_jstr *fmt,
    const struct lmd_jargs *args, struct lmd_jv *out)
{
    struct lmd_jbuf   b;
    const char       *s, *e, *name_end, *conv;
    struct lmd_jv     v;
    size_t            i, k, auto_index, len;
    int               rc, manual, automatic;
    int64_t           idx;

    memset(&b, 0, sizeof(b));
    s = fmt->data;
    len = fmt->len;
    auto_index = 0;
    manual = automatic = 0;
    rc = lmd_jbuf_add(ctx, &b, "", 0);
    for (i = 0; rc == LMD_OK && i < len; i++) {
        if (s[i] == '}') {
            if (i + 1 < len && s[i + 1] == '}') {
                rc = lmd_jbuf_addc(ctx, &b, '}');
                i++;
                continue;
            }
            rc = lmd_jerr(ctx, "Single '}' encountered in format string");
            break;
        }
        if (s[i] != '{') {
            rc = lmd_jbuf_addc(ctx, &b, s[i]);
            continue;
        }
        if (i + 1 < len && s[i + 1] == '{') {
            rc = lmd_jbuf_addc(ctx, &b, '{');
            i++;
            continue;
        }
        e = memchr(s + i + 1, '}', len - i - 1);
        if (e == NULL) {
            rc = lmd_jerr(ctx, "Single '{' encountered in format string");
            break;
        }
        name_end = s + i + 1;
        while (name_end < e && *name_end != '!' && *name_end != ':'
               && *name_end != '.' && *name_end != '[')
        {
            name_end++;
        }
        conv = NULL;
        if (name_end < e && *name_end == '!' && name_end + 2 == e) {
            conv = name_end + 1;
        } else if (name_end < e) {
            rc = lmd_jerr(ctx, "format(): format specs, attributes and "
                          "conversions other than !s and !r are not "
                          "supported");
            break;
        }
        k = (size_t) (name_end - (s + i + 1));
        if (k == 0) {
            automatic = 1;
            idx = (int64_t) auto_index++;
        } else if (s[i + 1] >= '0' && s[i + 1] <= '9') {
            manual = 1;
            idx = 0;
            for (const char *d = s + i + 1; d < name_end; d++) {
                if (*d < '0' || *d > '9' || idx > 1000) {
                    idx = -2;
                    break;
                }
                idx = idx * 10 + (*d - '0');
            }
        } else {
            idx = -1;
        }
        if (manual && automatic) {
            rc = lmd_jerr(ctx, "cannot switch between automatic and manual "
                          "field numbering");
            break;
        }
        if (idx >= 0) {
            if ((size_t) idx >= args->n) {
                rc = lmd_jerr(ctx, "Replacement index %d out of range for "
                              "positional args tuple", (int) idx);
                break;
            }
            v = args->v[idx];
        } else {
            for (k = 0; k < args->nkw; k++) {
                if (strlen(args->kwname[k]) == (size_t) (name_end - s - i - 1)
                    && memcmp(args->kwname[k], s + i + 1,
                              (size_t) (name_end - s - i - 1)) == 0)
                {
                    break;
                }
            }
            if (k == args->nkw) {
                rc = lmd_jerr(ctx, "format(): no argument '%.*s'",
                              (int) (name_end - s - i - 1), s + i + 1);
                break;
            }
            v = args->kw[k];
        }
        if (conv != NULL && *conv == 'r') {
            rc = lmd_jv_repr(ctx, &b, v);
        } else if (conv != NULL && *conv != 's') {
            rc = lmd_jerr(ctx, "format(): unknown conversion '!%c'", *conv);
        } else {
            rc = lmd_jv_write(ctx, &b, v);
        }
        i = (size_t) (e - s);
    }
    if (rc != LMD_OK) {
        free(b.data);
        return LMD_ERROR;
    }
    return lmd_jbuf_take(ctx, &b, out);
}


/* center/ljust/rjust/zfill to width code points. */
static int
lmd_jm_pad(struct lmd_jctx *ctx, struct lmd_jv self, int id, int64_t width,
    struct lmd_jv fill, struct lmd_jv *out)
{
    const struct lmd_jstr  *s;
    struct lmd_jbuf         b;
    const char             *f;
    size_t                  flen, pad, left, i;
    int                     rc;

    s = self.u.s;
    f = " ";
    flen = 1;
    if (id == LMD_JM_ZFILL) {
        f = "0";
    } else if (!lmd_jv_missing(fill)) {
        if (fill.type != LMD_JV_STR || fill.u.s->ncp != 1) {
            return lmd_jerr(ctx, "The fill character must be exactly one "
                            "character long");
        }
        f = fill.u.s->data;
        flen = fill.u.s->len;
    }
    if (width <= (int64_t) s->ncp) {
        *out = lmd_jv_ref(self);
        return LMD_OK;
    }
    if (width > LMD_JINJA_MAX_OUTPUT) {
        return lmd_jerr(ctx, "a string would exceed %u MiB",
                        LMD_JINJA_MAX_OUTPUT >> 20);
    }
    pad = (size_t) width - s->ncp;
    left = id == LMD_JM_RJUST || id == LMD_JM_ZFILL ? pad
           : id == LMD_JM_LJUST ? 0
           : pad / 2 + (pad & (size_t) width & 1);
    memset(&b, 0, sizeof(b));
    rc = lmd_jbuf_add(ctx, &b, "", 0);
    i = 0;
    if (id == LMD_JM_ZFILL && s->len > 0
        && (s->data[0] == '-' || s->data[0] == '+'))
    {
        rc = lmd_jbuf_addc(ctx, &b, s->data[0]);
        i = 1;
    }
    for (size_t k = 0; rc == LMD_OK && k < left; k++) {
        rc = lmd_jbuf_add(ctx, &b, f, flen);
    }
    if (rc == LMD_OK) {
        rc = lmd_jbuf_add(ctx, &b, s->data + i, s->len - i);
    }
    for (size_t k = left; rc == LMD_OK && k < pad; k++) {
        rc = lmd_jbuf_add(ctx, &b, f, flen);
    }
    if (rc != LMD_OK) {
        free(b.data);
        return LMD_ERROR;
    }
    return lmd_jbuf_take(ctx, &b, out);
}


/* ------------------------------------------------------------------------
 * Calls
 * ------------------------------------------------------------------------ */

static int lmd_jm_str_call(struct lmd_jctx *ctx, const struct lmd_jfunc *f,
    const struct lmd_jargs *args, const struct lmd_jv *a, struct lmd_jv *out);


int
lmd_jinja_method_call(struct lmd_jctx *ctx, const struct lmd_jfunc *f,
    const struct lmd_jargs *args, struct lmd_jv *out)
{
    static const char *const  p3[] = { "a", "b", "c" };
    static const char *const  psplit[] = { "sep", "maxsplit" };
    static const char *const  plines[] = { "keepends" };
    struct lmd_jv             a[3], self, item, pair;
    struct lmd_jdict         *d;
    size_t                    i;
    int                       rc, flag;
    char                      what[64];

    self = f->self;
    snprintf(what, sizeof(what), "%s.%s", lmd_jv_type_name(self), f->name);
    if (f->id == LMD_JM_SPLIT || f->id == LMD_JM_RSPLIT) {
        rc = lmd_jargs_bind(ctx, what, args, psplit, 2, 0, a);
    } else if (f->id == LMD_JM_SPLITLINES) {
        rc = lmd_jargs_bind(ctx, what, args, plines, 1, 0, a);
    } else if (f->id == LMD_JM_FORMAT) {
        return lmd_jm_format(ctx, self.u.s, args, out);
    } else if (args->nkw > 0) {
        return lmd_jerr(ctx, "%s() takes no keyword arguments", what);
    } else {
        rc = lmd_jargs_bind(ctx, what, args, p3, 3, 0, a);
    }
    if (rc != LMD_OK) {
        return LMD_ERROR;
    }

    switch (f->id) {

    case LMD_JM_GET:
        if (lmd_jv_missing(a[0]) || !lmd_jv_missing(a[2])) {
            return lmd_jerr(ctx, "dict.get() takes 1 or 2 arguments");
        }
        d = self.u.d;
        if (!lmd_jv_hashable(a[0])) {
            return lmd_jerr(ctx, "unhashable type: '%s'",
                            lmd_jv_type_name(a[0]));
        }
        for (i = 0; i < d->n; i++) {
            if (lmd_jv_equal(d->k[i], a[0])) {
                *out = lmd_jv_ref(d->v[i]);
                return LMD_OK;
            }
        }
        *out = lmd_jv_missing(a[1]) ? lmd_jv_none() : lmd_jv_ref(a[1]);
        return LMD_OK;

    case LMD_JM_ITEMS:
    case LMD_JM_KEYS:
    case LMD_JM_VALUES:
    case LMD_JM_DCOPY:
        if (args->n > 0) {
            return lmd_jerr(ctx, "%s() takes no arguments", what);
        }
        d = self.u.d;
        if (f->id == LMD_JM_DCOPY) {
            if (lmd_jv_dict(ctx, d->n, out) != LMD_OK) {
                return LMD_ERROR;
            }
            for (i = 0; i < d->n; i++) {
                out->u.d->k[i] = lmd_jv_ref(d->k[i]);
                out->u.d->v[i] = lmd_jv_ref(d->v[i]);
            }
            out->u.d->n = d->n;
            return LMD_OK;
        }
        if (lmd_jv_list(ctx, d->n, out) != LMD_OK) {
            return LMD_ERROR;
        }
        out->flags = f->id == LMD_JM_ITEMS ? LMD_JV_ITEMS
                     : f->id == LMD_JM_KEYS ? LMD_JV_KEYS : LMD_JV_VALUES;
        for (i = 0; i < d->n; i++) {
            if (f->id == LMD_JM_KEYS) {
                item = lmd_jv_ref(d->k[i]);
            } else if (f->id == LMD_JM_VALUES) {
                item = lmd_jv_ref(d->v[i]);
            } else {
                if (lmd_jv_list(ctx, 2, &pair) != LMD_OK) {
                    lmd_jv_unref(*out);
                    return LMD_ERROR;
                }
                pair.flags = LMD_JV_TUPLE;
                pair.u.l->v[0] = lmd_jv_ref(d->k[i]);
                pair.u.l->v[1] = lmd_jv_ref(d->v[i]);
                pair.u.l->n = 2;
                item = pair;
            }
            out->u.l->v[out->u.l->n++] = item;
        }
        return LMD_OK;

    case LMD_JM_LCOUNT:
    case LMD_JM_LINDEX:
        if (lmd_jv_missing(a[0])) {
            return lmd_jerr(ctx, "%s() takes at least 1 argument", what);
        }
        flag = 0;
        for (i = 0; i < self.u.l->n; i++) {
            if (lmd_jv_equal(self.u.l->v[i], a[0])) {
                if (f->id == LMD_JM_LINDEX) {
                    *out = lmd_jv_int((int64_t) i);
                    return LMD_OK;
                }
                flag++;
            }
        }
        if (f->id == LMD_JM_LINDEX) {
            return lmd_jerr(ctx, "the value is not in the %s",
                            lmd_jv_type_name(self));
        }
        *out = lmd_jv_int(flag);
        return LMD_OK;

    case LMD_JM_LCOPY:
        if (lmd_jv_list(ctx, self.u.l->n, out) != LMD_OK) {
            return LMD_ERROR;
        }
        for (i = 0; i < self.u.l->n; i++) {
            out->u.l->v[i] = lmd_jv_ref(self.u.l->v[i]);
        }
        out->u.l->n = self.u.l->n;
        return LMD_OK;

    default:
        return lmd_jm_str_call(ctx, f, args, a, out);
    }
}


static int
lmd_jm_str_call(struct lmd_jctx *ctx, const struct lmd_jfunc *f,
    const struct lmd_jargs *args, const struct lmd_jv *a, struct lmd_jv *out)
{
    const struct lmd_jstr  *s, *sub;
    struct lmd_jv           self, none, items, v, list;
    struct lmd_jbuf         b;
    size_t                  bs, be, cs, i, count, k;
    const char             *hit, *p;
    int64_t                 maxsplit, n;
    int                     rc, found, id;

    self = f->self;
    s = self.u.s;
    id = f->id;
    none = lmd_jv_none();

    switch (id) {

    case LMD_JM_STRIP:
    case LMD_JM_LSTRIP:
    case LMD_JM_RSTRIP:
        return lmd_jinja_strip(ctx, self, a[0], id != LMD_JM_RSTRIP,
                               id != LMD_JM_LSTRIP, out);

    case LMD_JM_UPPER:
        return lmd_jinja_case(ctx, self, LMD_JCASE_UPPER, out);
    case LMD_JM_LOWER:
    case LMD_JM_CASEFOLD:
        return lmd_jinja_case(ctx, self, LMD_JCASE_LOWER, out);
    case LMD_JM_TITLE:
        return lmd_jinja_case(ctx, self, LMD_JCASE_TITLE, out);
    case LMD_JM_CAPITALIZE:
        return lmd_jinja_case(ctx, self, LMD_JCASE_CAPITALIZE, out);

    case LMD_JM_STARTSWITH:
    case LMD_JM_ENDSWITH:
        if (lmd_jm_span(ctx, s, a[1], a[2], &bs, &be, &cs) != LMD_OK) {
            return LMD_ERROR;
        }
        if (a[0].type == LMD_JV_STR) {
            items = a[0];
            count = 1;
        } else if (a[0].type == LMD_JV_LIST && (a[0].flags & LMD_JV_TUPLE)) {
            items = a[0];
            count = a[0].u.l->n;
        } else {
            return lmd_jerr(ctx, "%s first arg must be str or a tuple of "
                            "str, not %s", f->name,
                            lmd_jv_type_name(a[0]));
        }
        found = 0;
        for (i = 0; i < count && !found; i++) {
            v = count == 1 && items.type == LMD_JV_STR ? items
                                                       : items.u.l->v[i];
            if (v.type != LMD_JV_STR) {
                return lmd_jerr(ctx, "a tuple for %s must contain only "
                                "strings", f->name);
            }
            sub = v.u.s;
            if (sub->len <= be - bs) {
                p = id == LMD_JM_STARTSWITH ? s->data + bs
                                            : s->data + be - sub->len;
                found = memcmp(p, sub->data, sub->len) == 0;
            }
        }
        *out = lmd_jv_bool(found);
        return LMD_OK;

    case LMD_JM_SPLIT:
    case LMD_JM_RSPLIT:
        v = lmd_jv_missing(a[0]) ? none : a[0];
        if (v.type != LMD_JV_NONE
            && lmd_jm_need_str(ctx, f->name, v) != LMD_OK)
        {
            return LMD_ERROR;
        }
        maxsplit = -1;
        if (!lmd_jv_missing(a[1])) {
            if (lmd_jm_need_int(ctx, f->name, a[1]) != LMD_OK) {
                return LMD_ERROR;
            }
            maxsplit = a[1].u.i;
        }
        return lmd_jm_split(ctx, s, v, maxsplit, id == LMD_JM_RSPLIT, out);

    case LMD_JM_SPLITLINES:
        return lmd_jinja_splitlines(ctx, self, !lmd_jv_missing(a[0])
                                               && lmd_jv_truthy(a[0]), out);

    case LMD_JM_REPLACE:
        if (lmd_jv_missing(a[1])
            || lmd_jm_need_str(ctx, f->name, a[0]) != LMD_OK
            || lmd_jm_need_str(ctx, f->name, a[1]) != LMD_OK)
        {
            return ctx->failed ? LMD_ERROR
                   : lmd_jerr(ctx, "replace() takes 2 or 3 arguments");
        }
        n = -1;
        if (!lmd_jv_missing(a[2])) {
            if (lmd_jm_need_int(ctx, f->name, a[2]) != LMD_OK) {
                return LMD_ERROR;
            }
            n = a[2].u.i;
        }
        return lmd_jinja_replace(ctx, self, a[0], a[1], n, out);

    case LMD_JM_FIND:
    case LMD_JM_RFIND:
    case LMD_JM_INDEX:
    case LMD_JM_RINDEX:
    case LMD_JM_COUNT:
        if (lmd_jm_need_str(ctx, f->name, a[0]) != LMD_OK
            || lmd_jm_span(ctx, s, a[1], a[2], &bs, &be, &cs) != LMD_OK)
        {
            return LMD_ERROR;
        }
        sub = a[0].u.s;
        if (id == LMD_JM_COUNT) {
            count = 0;
            if (sub->len == 0) {
                count = lmd_utf8_count(s->data + bs, be - bs) + 1;
            } else {
                for (p = s->data + bs;
                     (hit = memmem(p, (size_t) (s->data + be - p), sub->data,
                                   sub->len)) != NULL;
                     p = hit + sub->len)
                {
                    count++;
                }
            }
            *out = lmd_jv_int((int64_t) count);
            return LMD_OK;
        }
        hit = NULL;
        if (id == LMD_JM_FIND || id == LMD_JM_INDEX) {
            hit = memmem(s->data + bs, be - bs, sub->data, sub->len);
        } else if (sub->len <= be - bs) {
            for (k = be - sub->len + 1; k > bs; k--) {
                if (memcmp(s->data + k - 1, sub->data, sub->len) == 0) {
                    hit = s->data + k - 1;
                    break;
                }
            }
        }
        if (hit == NULL) {
            if (id == LMD_JM_INDEX || id == LMD_JM_RINDEX) {
                return lmd_jerr(ctx, "substring not found");
            }
            *out = lmd_jv_int(-1);
            return LMD_OK;
        }
        *out = lmd_jv_int((int64_t) (cs + lmd_utf8_count(s->data + bs,
                                                 (size_t) (hit - s->data)
                                                 - bs)));
        return LMD_OK;

    case LMD_JM_JOIN:
        if (lmd_jv_missing(a[0])) {
            return lmd_jerr(ctx, "str.join() takes exactly one argument");
        }
        if (lmd_jv_iterate(ctx, a[0], &list) != LMD_OK) {
            return LMD_ERROR;
        }
        memset(&b, 0, sizeof(b));
        rc = lmd_jbuf_add(ctx, &b, "", 0);
        for (i = 0; rc == LMD_OK && i < list.u.l->n; i++) {
            v = list.u.l->v[i];
            if (v.type != LMD_JV_STR) {
                rc = lmd_jerr(ctx, "sequence item %zu: expected str "
                              "instance, %s found", i, lmd_jv_type_name(v));
                break;
            }
            if (i > 0) {
                rc = lmd_jbuf_add(ctx, &b, s->data, s->len);
            }
            if (rc == LMD_OK) {
                rc = lmd_jbuf_add(ctx, &b, v.u.s->data, v.u.s->len);
            }
        }
        lmd_jv_unref(list);
        if (rc != LMD_OK) {
            free(b.data);
            return LMD_ERROR;
        }
        return lmd_jbuf_take(ctx, &b, out);

    case LMD_JM_ISDIGIT:
    case LMD_JM_ISALPHA:
    case LMD_JM_ISALNUM:
    case LMD_JM_ISSPACE:
    case LMD_JM_ISLOWER:
    case LMD_JM_ISUPPER:
    case LMD_JM_ISASCII:
        if (args->n > 0) {
            return lmd_jerr(ctx, "str.%s() takes no arguments", f->name);
        }
        *out = lmd_jv_bool(lmd_jm_predicate(s, id));
        return LMD_OK;

    case LMD_JM_REMOVEPREFIX:
    case LMD_JM_REMOVESUFFIX:
        if (lmd_jm_need_str(ctx, f->name, a[0]) != LMD_OK) {
            return LMD_ERROR;
        }
        sub = a[0].u.s;
        if (sub->len <= s->len && sub->len > 0
            && memcmp(id == LMD_JM_REMOVEPREFIX ? s->data
                      : s->data + s->len - sub->len, sub->data, sub->len)
               == 0)
        {
            return lmd_jv_str(ctx, id == LMD_JM_REMOVEPREFIX
                                   ? s->data + sub->len : s->data,
                              s->len - sub->len, out);
        }
        *out = lmd_jv_ref(self);
        return LMD_OK;

    case LMD_JM_CENTER:
    case LMD_JM_LJUST:
    case LMD_JM_RJUST:
    case LMD_JM_ZFILL:
        if (lmd_jm_need_int(ctx, f->name, a[0]) != LMD_OK) {
            return LMD_ERROR;
        }
        return lmd_jm_pad(ctx, self, id, a[0].u.i, a[1], out);

    case LMD_JM_PARTITION:
    case LMD_JM_RPARTITION:
        if (lmd_jm_need_str(ctx, f->name, a[0]) != LMD_OK) {
            return LMD_ERROR;
        }
        sub = a[0].u.s;
        if (sub->len == 0) {
            return lmd_jerr(ctx, "empty separator");
        }
        hit = NULL;
        if (id == LMD_JM_PARTITION) {
            hit = memmem(s->data, s->len, sub->data, sub->len);
        } else {
            for (k = s->len >= sub->len ? s->len - sub->len + 1 : 0; k > 0;
                 k--)
            {
                if (memcmp(s->data + k - 1, sub->data, sub->len) == 0) {
                    hit = s->data + k - 1;
                    break;
                }
            }
        }
        if (lmd_jv_list(ctx, 3, out) != LMD_OK) {
            return LMD_ERROR;
        }
        out->flags = LMD_JV_TUPLE;
        if (hit == NULL) {
            bs = id == LMD_JM_PARTITION ? s->len : 0;
            rc = lmd_jm_push_str(ctx, out->u.l, s->data, bs);
            if (rc == LMD_OK) {
                rc = lmd_jm_push_str(ctx, out->u.l, "", 0);
            }
            if (rc == LMD_OK) {
                rc = lmd_jm_push_str(ctx, out->u.l, s->data + bs,
                                     s->len - bs);
            }
        } else {
            rc = lmd_jm_push_str(ctx, out->u.l, s->data,
                                 (size_t) (hit - s->data));
            if (rc == LMD_OK) {
                rc = lmd_jm_push_str(ctx, out->u.l, sub->data, sub->len);
            }
            if (rc == LMD_OK) {
                p = hit + sub->len;
                rc = lmd_jm_push_str(ctx, out->u.l, p,
                                     (size_t) (s->data + s->len - p));
            }
        }
        if (rc != LMD_OK) {
            lmd_jv_unref(*out);
            return LMD_ERROR;
        }
        return LMD_OK;

    default:
        return lmd_jerr(ctx, "internal error: method %d", id);
    }
}
