/*
 * lmd_jinja_tests.c -- the tests of "x is name(args)", as jinja2 3.1
 * defines them: defined, undefined, none, boolean, true, false, integer,
 * float, number, string, mapping, iterable, sequence, callable, odd, even,
 * divisibleby, eq/equalto/==, ne/!=, lt/lessthan/<, le/<=, gt/greaterthan/>,
 * ge/>=, in, lower, upper, escaped, sameas, filter, test.
 *
 * Python's quirks are kept: booleans are numbers (True is number) but not
 * integers; an undefined is iterable, a sequence and callable; a dict is
 * a sequence.  sameas works on none, booleans and objects; on numbers and
 * strings it would depend on CPython's object cache, so it is refused.
 */

#include <string.h>

#include "lmd_jinja.h"

enum {
    LMD_JTS_DEFINED, LMD_JTS_UNDEFINED, LMD_JTS_NONE, LMD_JTS_BOOLEAN,
    LMD_JTS_TRUE, LMD_JTS_FALSE, LMD_JTS_INTEGER, LMD_JTS_FLOAT,
    LMD_JTS_NUMBER, LMD_JTS_STRING, LMD_JTS_MAPPING, LMD_JTS_ITERABLE,
    LMD_JTS_SEQUENCE, LMD_JTS_CALLABLE, LMD_JTS_ODD, LMD_JTS_EVEN,
    LMD_JTS_DIVISIBLEBY, LMD_JTS_EQ, LMD_JTS_NE, LMD_JTS_LT, LMD_JTS_LE,
    LMD_JTS_GT, LMD_JTS_GE, LMD_JTS_IN, LMD_JTS_LOWER, LMD_JTS_UPPER,
    LMD_JTS_ESCAPED, LMD_JTS_SAMEAS, LMD_JTS_FILTER, LMD_JTS_TEST
};

static const struct {
    const char  *name;
    int          id;
    const char  *param;         /* the one argument's name, or NULL */
} lmd_jtests[] = {
    { "defined", LMD_JTS_DEFINED, NULL },
    { "undefined", LMD_JTS_UNDEFINED, NULL },
    { "none", LMD_JTS_NONE, NULL },
    { "boolean", LMD_JTS_BOOLEAN, NULL },
    { "true", LMD_JTS_TRUE, NULL },
    { "false", LMD_JTS_FALSE, NULL },
    { "integer", LMD_JTS_INTEGER, NULL },
    { "float", LMD_JTS_FLOAT, NULL },
    { "number", LMD_JTS_NUMBER, NULL },
    { "string", LMD_JTS_STRING, NULL },
    { "mapping", LMD_JTS_MAPPING, NULL },
    { "iterable", LMD_JTS_ITERABLE, NULL },
    { "sequence", LMD_JTS_SEQUENCE, NULL },
    { "callable", LMD_JTS_CALLABLE, NULL },
    { "odd", LMD_JTS_ODD, NULL },
    { "even", LMD_JTS_EVEN, NULL },
    { "divisibleby", LMD_JTS_DIVISIBLEBY, "num" },
    { "eq", LMD_JTS_EQ, "other" },
    { "equalto", LMD_JTS_EQ, "other" },
    { "==", LMD_JTS_EQ, "other" },
    { "ne", LMD_JTS_NE, "other" },
    { "!=", LMD_JTS_NE, "other" },
    { "lt", LMD_JTS_LT, "other" },
    { "lessthan", LMD_JTS_LT, "other" },
    { "<", LMD_JTS_LT, "other" },
    { "le", LMD_JTS_LE, "other" },
    { "<=", LMD_JTS_LE, "other" },
    { "gt", LMD_JTS_GT, "other" },
    { "greaterthan", LMD_JTS_GT, "other" },
    { ">", LMD_JTS_GT, "other" },
    { "ge", LMD_JTS_GE, "other" },
    { ">=", LMD_JTS_GE, "other" },
    { "in", LMD_JTS_IN, "seq" },
    { "lower", LMD_JTS_LOWER, NULL },
    { "upper", LMD_JTS_UPPER, NULL },
    { "escaped", LMD_JTS_ESCAPED, NULL },
    { "sameas", LMD_JTS_SAMEAS, "other" },
    { "filter", LMD_JTS_FILTER, NULL },
    { "test", LMD_JTS_TEST, NULL }
};

#define LMD_JTESTS_N  (sizeof(lmd_jtests) / sizeof(lmd_jtests[0]))


int
lmd_jinja_test_find(const char *name)
{
    size_t  i;

    for (i = 0; i < LMD_JTESTS_N; i++) {
        if (strcmp(lmd_jtests[i].name, name) == 0) {
            return (int) i;
        }
    }
    return -1;
}


int
lmd_jinja_test_named(struct lmd_jctx *ctx, struct lmd_jv name,
    struct lmd_jv in, const struct lmd_jargs *args, int *result)
{
    int  id;

    if (name.type != LMD_JV_STR) {
        return lmd_jerr(ctx, "a test name must be a string");
    }
    id = lmd_jinja_test_find(name.u.s->data);
    if (id < 0) {
        return lmd_jerr(ctx, "No test named '%.64s'", name.u.s->data);
    }
    return lmd_jinja_test(ctx, id, in, args, result);
}


/* value % 2 or value % num == 0, with Python's modulo on numbers. */
static int
lmd_jtest_mod(struct lmd_jctx *ctx, struct lmd_jv v, struct lmd_jv num,
    int64_t want, int *result)
{
    struct lmd_jv  m;

    if (lmd_jinja_binop(ctx, LMD_JOP_MOD, v, num, &m) != LMD_OK) {
        return LMD_ERROR;
    }
    *result = lmd_jv_equal(m, lmd_jv_int(want));
    lmd_jv_unref(m);
    return LMD_OK;
}


/* str(value).islower() / isupper(): a cased character and no other
 * case. */
static int
lmd_jtest_case(struct lmd_jctx *ctx, struct lmd_jv v, int lower,
    int *result)
{
    struct lmd_jv  s;
    size_t         i, n;
    uint32_t       cp;
    int            cased;

    if (lmd_jv_to_str(ctx, v, &s) != LMD_OK) {
        return LMD_ERROR;
    }
    cased = 0;
    *result = 1;
    for (i = 0; i < s.u.s->len; i += n) {
        n = lmd_utf8_next(s.u.s->data + i, s.u.s->len - i, &cp);
        if ((lower ? lmd_jinja_lower(cp) : lmd_jinja_upper(cp)) != cp) {
            *result = 0;
            break;
        }
        cased |= (lower ? lmd_jinja_upper(cp) : lmd_jinja_lower(cp)) != cp;
    }
    *result = *result && cased;
    lmd_jv_unref(s);
    return LMD_OK;
}


int
lmd_jinja_test(struct lmd_jctx *ctx, int id, struct lmd_jv in,
    const struct lmd_jargs *args, int *result)
{
    const char *const  *names;
    struct lmd_jv       a[1], cmp;
    int                 op, t;

    if (id < 0 || (size_t) id >= LMD_JTESTS_N) {
        return lmd_jerr(ctx, "internal error: test %d", id);
    }
    names = &lmd_jtests[id].param;
    if (lmd_jargs_bind(ctx, lmd_jtests[id].name, args, names,
                       lmd_jtests[id].param ? 1 : 0, 0, a) != LMD_OK)
    {
        return LMD_ERROR;
    }
    if (lmd_jtests[id].param != NULL && lmd_jv_missing(a[0])) {
        return lmd_jerr(ctx, "the test '%s' needs an argument",
                        lmd_jtests[id].name);
    }

    t = in.type;
    switch (lmd_jtests[id].id) {
    case LMD_JTS_DEFINED:
        *result = t != LMD_JV_UNDEF;
        return LMD_OK;
    case LMD_JTS_UNDEFINED:
        *result = t == LMD_JV_UNDEF;
        return LMD_OK;
    case LMD_JTS_NONE:
        *result = t == LMD_JV_NONE;
        return LMD_OK;
    case LMD_JTS_BOOLEAN:
        *result = t == LMD_JV_BOOL;
        return LMD_OK;
    case LMD_JTS_TRUE:
    case LMD_JTS_FALSE:
        *result = t == LMD_JV_BOOL
                  && in.u.i == (lmd_jtests[id].id == LMD_JTS_TRUE);
        return LMD_OK;
    case LMD_JTS_INTEGER:
        *result = t == LMD_JV_INT;
        return LMD_OK;
    case LMD_JTS_FLOAT:
        *result = t == LMD_JV_FLOAT;
        return LMD_OK;
    case LMD_JTS_NUMBER:
        *result = t == LMD_JV_INT || t == LMD_JV_FLOAT || t == LMD_JV_BOOL;
        return LMD_OK;
    case LMD_JTS_STRING:
        *result = t == LMD_JV_STR;
        return LMD_OK;
    case LMD_JTS_MAPPING:
        *result = t == LMD_JV_DICT;
        return LMD_OK;
    case LMD_JTS_ITERABLE:
        *result = t == LMD_JV_STR || t == LMD_JV_LIST || t == LMD_JV_DICT
                  || t == LMD_JV_UNDEF || t == LMD_JV_LOOP;
        return LMD_OK;
    case LMD_JTS_SEQUENCE:
        /* len() and __getitem__: not iterators or dict views */
        *result = t == LMD_JV_STR || t == LMD_JV_DICT || t == LMD_JV_UNDEF
                  || (t == LMD_JV_LIST
                      && !(in.flags & (LMD_JV_GEN | LMD_JV_VIEW)));
        return LMD_OK;
    case LMD_JTS_CALLABLE:
        *result = t == LMD_JV_FUNC || t == LMD_JV_UNDEF || t == LMD_JV_LOOP;
        return LMD_OK;
    case LMD_JTS_ODD:
        return lmd_jtest_mod(ctx, in, lmd_jv_int(2), 1, result);
    case LMD_JTS_EVEN:
        return lmd_jtest_mod(ctx, in, lmd_jv_int(2), 0, result);
    case LMD_JTS_DIVISIBLEBY:
        return lmd_jtest_mod(ctx, in, a[0], 0, result);
    case LMD_JTS_IN:
        return lmd_jinja_contains(ctx, a[0], in, result);
    case LMD_JTS_LOWER:
    case LMD_JTS_UPPER:
        return lmd_jtest_case(ctx, in, lmd_jtests[id].id == LMD_JTS_LOWER,
                              result);
    case LMD_JTS_ESCAPED:
        *result = t == LMD_JV_STR && (in.flags & LMD_JV_MARKUP);
        return LMD_OK;
    case LMD_JTS_SAMEAS:
        if (t == LMD_JV_NONE || t == LMD_JV_BOOL) {
            *result = a[0].type == t && (t == LMD_JV_NONE
                                         || a[0].u.i == in.u.i);
            return LMD_OK;
        }
        if (t >= LMD_JV_LIST && a[0].type == t) {
            *result = in.u.obj == a[0].u.obj;
            return LMD_OK;
        }
        if (t >= LMD_JV_LIST || t == LMD_JV_UNDEF) {
            *result = 0;
            return LMD_OK;
        }
        return lmd_jerr(ctx, "'sameas' on numbers and strings depends on "
                        "CPython's object identity; it is not supported");
    case LMD_JTS_FILTER:
    case LMD_JTS_TEST:
        *result = t == LMD_JV_STR
                  && (lmd_jtests[id].id == LMD_JTS_FILTER
                      ? lmd_jinja_filter_find(in.u.s->data) != -1
                      : lmd_jinja_test_find(in.u.s->data) >= 0);
        return LMD_OK;
    default:
        break;
    }

    /* the comparisons */
    switch (lmd_jtests[id].id) {
    case LMD_JTS_EQ:
        op = LMD_JOP_EQ;
        break;
    case LMD_JTS_NE:
        op = LMD_JOP_NE;
        break;
    case LMD_JTS_LT:
        op = LMD_JOP_LT;
        break;
    case LMD_JTS_LE:
        op = LMD_JOP_LE;
        break;
    case LMD_JTS_GT:
        op = LMD_JOP_GT;
        break;
    default:
        op = LMD_JOP_GE;
        break;
    }
    if (lmd_jinja_binop(ctx, op, in, a[0], &cmp) != LMD_OK) {
        return LMD_ERROR;
    }
    *result = lmd_jv_truthy(cmp);
    lmd_jv_unref(cmp);
    return LMD_OK;
}
