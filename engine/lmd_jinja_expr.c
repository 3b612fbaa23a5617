/*
 * lmd_jinja_expr.c -- the expression half of the parser, one function per
 * jinja2 3.1 parse_* method, so precedence and its quirks come out the
 * same: filters bind tighter than unary minus (-1|abs is 1), ** is
 * left-associative, "not" sits below comparisons, ~ sits between + and *,
 * and the test argument of "x is divisibleby 3" needs no parentheses.
 * Unknown filters and tests fail here, as they fail jinja2's compiler,
 * even in code that never runs.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmd_jinja_parse.h"

static struct lmd_jnode *lmd_jp_unary(struct lmd_jparser *p,
    int with_filter);


/* ------------------------------------------------------------------------
 * Expressions
 * ------------------------------------------------------------------------ */

static struct lmd_jnode *
lmd_jp_binop(struct lmd_jparser *p, int type, int op,
    const struct lmd_jtok *tok, struct lmd_jnode *a, struct lmd_jnode *b)
{
    struct lmd_jnode  *n;

    if (a == NULL || b == NULL) {
        return NULL;
    }
    n = lmd_jp_node(p, type, tok);
    if (n != NULL) {
        n->op = op;
        n->a = a;
        n->b = b;
    }
    return n;
}


/* call arguments "(a, b, k=v)": a chain, keywords as KWARG nodes */
int
lmd_jp_call_args(struct lmd_jparser *p, struct lmd_jchain *args)
{
    const struct lmd_jtok  *open, *tok;
    struct lmd_jnode       *arg, *kw;
    int                     seen_kw;

    open = lmd_jp_expect_op(p, LMD_JOP_LPAREN);
    if (open == NULL) {
        return LMD_ERROR;
    }
    seen_kw = 0;
    while (!lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_RPAREN)) {
        if (args->n > 0) {
            if (lmd_jp_expect_op(p, LMD_JOP_COMMA) == NULL) {
                return LMD_ERROR;
            }
            if (lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_RPAREN)) {
                break;
            }
        }
        tok = lmd_jp_cur(p);
        if (lmd_jp_is_op(tok, LMD_JOP_MUL) || lmd_jp_is_op(tok, LMD_JOP_POW))
        {
            lmd_jp_fail(p, tok, "*args and **kwargs in calls are not "
                        "supported");
            return LMD_ERROR;
        }
        if (args->n == LMD_JINJA_MAX_ARGS) {
            lmd_jp_fail(p, tok, "more than %d arguments",
                        LMD_JINJA_MAX_ARGS);
            return LMD_ERROR;
        }
        if (tok->type == LMD_JT_NAME
            && lmd_jp_is_op(lmd_jp_look(p), LMD_JOP_ASSIGN))
        {
            lmd_jp_next(p);
            lmd_jp_next(p);
            kw = lmd_jp_node(p, LMD_JN_KWARG, tok);
            arg = lmd_jp_expression(p, 1);
            if (kw == NULL || arg == NULL) {
                return LMD_ERROR;
            }
            kw->name = tok->name;
            kw->a = arg;
            lmd_jchain_add(args, kw);
            seen_kw = 1;
            continue;
        }
        if (seen_kw) {
            lmd_jp_fail(p, tok, "a positional argument follows a keyword "
                        "argument");
            return LMD_ERROR;
        }
        arg = lmd_jp_expression(p, 1);
        if (arg == NULL) {
            return LMD_ERROR;
        }
        lmd_jchain_add(args, arg);
    }
    return lmd_jp_expect_op(p, LMD_JOP_RPAREN) ? LMD_OK : LMD_ERROR;
}


static struct lmd_jnode *
lmd_jp_call(struct lmd_jparser *p, struct lmd_jnode *callee)
{
    struct lmd_jchain   args;
    struct lmd_jnode   *n;

    memset(&args, 0, sizeof(args));
    n = lmd_jp_node(p, LMD_JN_CALL, lmd_jp_cur(p));
    if (n == NULL || lmd_jp_call_args(p, &args) != LMD_OK) {
        return NULL;
    }
    lmd_jp_at(n, callee);
    n->a = callee;
    n->list = args.head;
    n->n = args.n;
    return n;
}


/* One subscript: an expression or a slice a:b:c. */
static struct lmd_jnode *
lmd_jp_subscribed(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;
    struct lmd_jnode       *n, *start, *stop, *step;

    tok = lmd_jp_cur(p);
    start = NULL;
    if (lmd_jp_is_op(tok, LMD_JOP_COLON)) {
        lmd_jp_next(p);
    } else {
        start = lmd_jp_expression(p, 1);
        if (start == NULL) {
            return NULL;
        }
        if (!lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_COLON)) {
            return start;
        }
        lmd_jp_next(p);
    }
    stop = NULL;
    if (!lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_COLON)
        && !lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_RBRACKET)
        && !lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_COMMA))
    {
        stop = lmd_jp_expression(p, 1);
        if (stop == NULL) {
            return NULL;
        }
    }
    step = NULL;
    if (lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_COLON)) {
        lmd_jp_next(p);
        if (!lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_RBRACKET)
            && !lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_COMMA))
        {
            step = lmd_jp_expression(p, 1);
            if (step == NULL) {
                return NULL;
            }
        }
    }
    n = lmd_jp_node(p, LMD_JN_SLICE, tok);
    if (n != NULL) {
        n->a = start;
        n->b = stop;
        n->c = step;
    }
    return n;
}


static struct lmd_jnode *
lmd_jp_subscript(struct lmd_jparser *p, struct lmd_jnode *node)
{
    const struct lmd_jtok  *tok, *attr;
    struct lmd_jchain       args;
    struct lmd_jnode       *n, *arg;

    tok = lmd_jp_next(p);
    if (lmd_jp_is_op(tok, LMD_JOP_DOT)) {
        attr = lmd_jp_next(p);
        if (attr->type == LMD_JT_NAME) {
            n = lmd_jp_node(p, LMD_JN_GETATTR, tok);
            if (n != NULL) {
                n->a = node;
                n->name = attr->name;
            }
            return n;
        }
        if (attr->type != LMD_JT_INT) {
            return lmd_jp_unexpected(p, attr, "a name or a number");
        }
        arg = lmd_jp_node(p, LMD_JN_CONST, attr);
        n = lmd_jp_node(p, LMD_JN_GETITEM, tok);
        if (arg == NULL || n == NULL) {
            return NULL;
        }
        arg->value = lmd_jv_int(attr->i);
        n->a = node;
        n->b = arg;
        return n;
    }

    memset(&args, 0, sizeof(args));
    while (!lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_RBRACKET)) {
        if (args.n > 0 && lmd_jp_expect_op(p, LMD_JOP_COMMA) == NULL) {
            return NULL;
        }
        arg = lmd_jp_subscribed(p);
        if (arg == NULL) {
            return NULL;
        }
        lmd_jchain_add(&args, arg);
    }
    if (lmd_jp_expect_op(p, LMD_JOP_RBRACKET) == NULL) {
        return NULL;
    }
    if (args.n == 1) {
        arg = args.head;
    } else {
        arg = lmd_jp_node(p, LMD_JN_TUPLE, tok);
        if (arg == NULL) {
            return NULL;
        }
        arg->list = args.head;
        arg->n = args.n;
    }
    n = lmd_jp_node(p, LMD_JN_GETITEM, tok);
    if (n != NULL) {
        n->a = node;
        n->b = arg;
    }
    return n;
}


struct lmd_jnode *
lmd_jp_postfix(struct lmd_jparser *p, struct lmd_jnode *node)
{
    const struct lmd_jtok  *tok;

    while (node != NULL) {
        tok = lmd_jp_cur(p);
        if (lmd_jp_is_op(tok, LMD_JOP_DOT)
            || lmd_jp_is_op(tok, LMD_JOP_LBRACKET))
        {
            node = lmd_jp_subscript(p, node);
        } else if (lmd_jp_is_op(tok, LMD_JOP_LPAREN)) {
            node = lmd_jp_call(p, node);
        } else {
            break;
        }
    }
    return node;
}


/* A filter or test name, jinja2 allowing dots in it ("a.b"). */
static const char *
lmd_jp_dotted_name(struct lmd_jparser *p, const struct lmd_jtok **at)
{
    const struct lmd_jtok  *tok, *part;
    char                    buf[256];
    size_t                  len;

    tok = lmd_jp_expect(p, LMD_JT_NAME, "a name");
    if (tok == NULL) {
        return NULL;
    }
    *at = tok;
    if (!lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_DOT)) {
        return tok->name;
    }
    len = (size_t) snprintf(buf, sizeof(buf), "%s", tok->name);
    while (lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_DOT)) {
        lmd_jp_next(p);
        part = lmd_jp_expect(p, LMD_JT_NAME, "a name");
        if (part == NULL) {
            return NULL;
        }
        len += (size_t) snprintf(buf + len, sizeof(buf) - len, ".%s",
                                 part->name);
        if (len >= sizeof(buf)) {
            return lmd_jp_fail(p, tok, "name too long");
        }
    }
    return lmd_jarena_strdup(p->arena, buf, len);
}


struct lmd_jnode *
lmd_jp_filter(struct lmd_jparser *p, struct lmd_jnode *node,
    int start_inline)
{
    const struct lmd_jtok  *tok;
    struct lmd_jchain       args;
    struct lmd_jnode       *n;
    const char             *name;
    int                     id;

    while (lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_PIPE) || start_inline) {
        if (!start_inline) {
            lmd_jp_next(p);
        }
        start_inline = 0;
        name = lmd_jp_dotted_name(p, &tok);
        if (name == NULL) {
            return NULL;
        }
        id = lmd_jinja_filter_find(name);
        if (id == -1) {
            return lmd_jp_fail(p, tok, "unknown filter '%.64s'", name);
        }
        if (id == -2) {
            return lmd_jp_fail(p, tok, "the filter '%.64s' is not "
                               "supported", name);
        }
        memset(&args, 0, sizeof(args));
        if (lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_LPAREN)
            && lmd_jp_call_args(p, &args) != LMD_OK)
        {
            return NULL;
        }
        n = lmd_jp_node(p, LMD_JN_FILTER, tok);
        if (n == NULL) {
            return NULL;
        }
        n->op = id;
        n->name = name;
        n->a = node;
        n->list = args.head;
        n->n = args.n;
        node = n;
    }
    return node;
}


static struct lmd_jnode *
lmd_jp_test(struct lmd_jparser *p, struct lmd_jnode *node)
{
    const struct lmd_jtok  *is, *tok, *cur;
    struct lmd_jchain       args;
    struct lmd_jnode       *n, *arg, *not_;
    const char             *name;
    int                     id, negated;

    is = lmd_jp_next(p);
    negated = 0;
    if (lmd_jp_is_name(lmd_jp_cur(p), "not")) {
        lmd_jp_next(p);
        negated = 1;
    }
    name = lmd_jp_dotted_name(p, &tok);
    if (name == NULL) {
        return NULL;
    }
    id = lmd_jinja_test_find(name);
    if (id == -1) {
        return lmd_jp_fail(p, tok, "unknown test '%.64s'", name);
    }
    if (id == -2) {
        return lmd_jp_fail(p, tok, "the test '%.64s' is not supported",
                           name);
    }

    memset(&args, 0, sizeof(args));
    cur = lmd_jp_cur(p);
    if (lmd_jp_is_op(cur, LMD_JOP_LPAREN)) {
        if (lmd_jp_call_args(p, &args) != LMD_OK) {
            return NULL;
        }
    } else if ((cur->type == LMD_JT_NAME || cur->type == LMD_JT_STRING
                || cur->type == LMD_JT_INT || cur->type == LMD_JT_FLOAT
                || lmd_jp_is_op(cur, LMD_JOP_LBRACKET)
                || lmd_jp_is_op(cur, LMD_JOP_LBRACE))
               && !lmd_jp_is_name(cur, "else") && !lmd_jp_is_name(cur, "or")
               && !lmd_jp_is_name(cur, "and"))
    {
        /* "x is divisibleby 3": one argument without parentheses */
        if (lmd_jp_is_name(cur, "is")) {
            return lmd_jp_fail(p, cur, "tests cannot be chained with 'is'");
        }
        arg = lmd_jp_postfix(p, lmd_jp_primary(p));
        if (arg == NULL) {
            return NULL;
        }
        lmd_jchain_add(&args, arg);
    }

    n = lmd_jp_node(p, LMD_JN_TEST, tok);
    if (n == NULL) {
        return NULL;
    }
    n->op = id;
    n->name = name;
    n->a = node;
    n->list = args.head;
    n->n = args.n;
    if (!negated) {
        return n;
    }
    not_ = lmd_jp_node(p, LMD_JN_UNARY, is);
    if (not_ != NULL) {
        not_->op = LMD_JOP_NOT;
        not_->a = n;
    }
    return not_;
}


static struct lmd_jnode *
lmd_jp_filter_expr(struct lmd_jparser *p, struct lmd_jnode *node)
{
    const struct lmd_jtok  *tok;

    while (node != NULL) {
        tok = lmd_jp_cur(p);
        if (lmd_jp_is_op(tok, LMD_JOP_PIPE)) {
            node = lmd_jp_filter(p, node, 0);
        } else if (lmd_jp_is_name(tok, "is")) {
            node = lmd_jp_test(p, node);
        } else if (lmd_jp_is_op(tok, LMD_JOP_LPAREN)) {
            node = lmd_jp_call(p, node);
        } else {
            break;
        }
    }
    return node;
}


/* [a, b] and {k: v} literals, trailing commas allowed. */
static struct lmd_jnode *
lmd_jp_list(struct lmd_jparser *p, int dict)
{
    const struct lmd_jtok  *open, *colon;
    struct lmd_jchain       items;
    struct lmd_jnode       *n, *item, *pair;
    int                     close;

    open = lmd_jp_next(p);
    close = dict ? LMD_JOP_RBRACE : LMD_JOP_RBRACKET;
    memset(&items, 0, sizeof(items));
    while (!lmd_jp_is_op(lmd_jp_cur(p), close)) {
        if (items.n > 0) {
            if (lmd_jp_expect_op(p, LMD_JOP_COMMA) == NULL) {
                return NULL;
            }
            if (lmd_jp_is_op(lmd_jp_cur(p), close)) {
                break;
            }
        }
        item = lmd_jp_expression(p, 1);
        if (item == NULL) {
            return NULL;
        }
        if (dict) {
            colon = lmd_jp_expect_op(p, LMD_JOP_COLON);
            pair = colon ? lmd_jp_node(p, LMD_JN_PAIR, colon) : NULL;
            if (pair == NULL) {
                return NULL;
            }
            pair->a = item;
            pair->b = lmd_jp_expression(p, 1);
            if (pair->b == NULL) {
                return NULL;
            }
            item = pair;
        }
        lmd_jchain_add(&items, item);
    }
    if (lmd_jp_expect_op(p, close) == NULL) {
        return NULL;
    }
    n = lmd_jp_node(p, dict ? LMD_JN_DICT : LMD_JN_LIST, open);
    if (n != NULL) {
        n->list = items.head;
        n->n = items.n;
    }
    return n;
}


struct lmd_jnode *
lmd_jp_primary(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;
    struct lmd_jnode       *n;
    struct lmd_jbuf         buf;
    struct lmd_jctx         ctx;
    const char             *name;

    tok = lmd_jp_cur(p);
    switch (tok->type) {

    case LMD_JT_NAME:
        lmd_jp_next(p);
        n = lmd_jp_node(p, LMD_JN_CONST, tok);
        if (n == NULL) {
            return NULL;
        }
        name = tok->name;
        if (strcmp(name, "true") == 0 || strcmp(name, "True") == 0) {
            n->value = lmd_jv_bool(1);
        } else if (strcmp(name, "false") == 0
                   || strcmp(name, "False") == 0)
        {
            n->value = lmd_jv_bool(0);
        } else if (strcmp(name, "none") == 0 || strcmp(name, "None") == 0) {
            n->value = lmd_jv_none();
        } else {
            if (p->macro > 0 && (strcmp(name, "varargs") == 0
                                 || strcmp(name, "kwargs") == 0))
            {
                return lmd_jp_fail(p, tok, "macro '%s' is not supported",
                                   name);
            }
            n->type = LMD_JN_NAME;
            n->name = name;
        }
        return n;

    case LMD_JT_STRING:
        lmd_jp_next(p);
        n = lmd_jp_node(p, LMD_JN_CONST, tok);
        if (n == NULL) {
            return NULL;
        }
        n->value.type = LMD_JV_STR;
        n->value.u.s = tok->str;
        if (lmd_jp_cur(p)->type != LMD_JT_STRING) {
            return n;
        }
        /* "a" "b" is "ab", as in Python */
        memset(&buf, 0, sizeof(buf));
        memset(&ctx, 0, sizeof(ctx));
        lmd_jbuf_add(&ctx, &buf, tok->str->data, tok->str->len);
        while (lmd_jp_cur(p)->type == LMD_JT_STRING) {
            tok = lmd_jp_next(p);
            lmd_jbuf_add(&ctx, &buf, tok->str->data, tok->str->len);
        }
        n->value.u.s = ctx.failed ? NULL
                       : lmd_jarena_str(p->arena, buf.data, buf.len);
        free(buf.data);
        if (n->value.u.s == NULL) {
            return lmd_jp_fail(p, tok, "out of memory");
        }
        return n;

    case LMD_JT_INT:
    case LMD_JT_FLOAT:
        lmd_jp_next(p);
        n = lmd_jp_node(p, LMD_JN_CONST, tok);
        if (n != NULL) {
            n->value = tok->type == LMD_JT_INT ? lmd_jv_int(tok->i)
                                               : lmd_jv_float(tok->f);
        }
        return n;

    case LMD_JT_OP:
        if (tok->op == LMD_JOP_LPAREN) {
            lmd_jp_next(p);
            n = lmd_jp_tuple(p, 0, 1, NULL, 1);
            if (n == NULL || lmd_jp_expect_op(p, LMD_JOP_RPAREN) == NULL) {
                return NULL;
            }
            return n;
        }
        if (tok->op == LMD_JOP_LBRACKET) {
            return lmd_jp_list(p, 0);
        }
        if (tok->op == LMD_JOP_LBRACE) {
            return lmd_jp_list(p, 1);
        }
        break;

    default:
        break;
    }
    return lmd_jp_unexpected(p, tok, NULL);
}


static struct lmd_jnode *
lmd_jp_unary(struct lmd_jparser *p, int with_filter)
{
    const struct lmd_jtok  *tok;
    struct lmd_jnode       *n, *operand;

    if (lmd_jp_enter(p) != LMD_OK) {
        return NULL;
    }
    tok = lmd_jp_cur(p);
    if (lmd_jp_is_op(tok, LMD_JOP_SUB) || lmd_jp_is_op(tok, LMD_JOP_ADD)) {
        lmd_jp_next(p);
        operand = lmd_jp_unary(p, 0);
        n = operand ? lmd_jp_node(p, LMD_JN_UNARY, tok) : NULL;
        if (n != NULL) {
            n->op = tok->op == LMD_JOP_SUB ? LMD_JOP_NEG : LMD_JOP_POS;
            n->a = operand;
        }
    } else {
        n = lmd_jp_primary(p);
    }
    n = lmd_jp_postfix(p, n);
    if (with_filter) {
        n = lmd_jp_filter_expr(p, n);
    }
    p->depth--;
    return n;
}


static struct lmd_jnode *
lmd_jp_pow(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;
    struct lmd_jnode       *left;

    left = lmd_jp_unary(p, 1);
    while (left != NULL && lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_POW)) {
        tok = lmd_jp_next(p);
        left = lmd_jp_binop(p, LMD_JN_BINOP, LMD_JOP_POW, tok, left,
                            lmd_jp_unary(p, 1));
    }
    return left;
}


static struct lmd_jnode *
lmd_jp_math2(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;
    struct lmd_jnode       *left;

    left = lmd_jp_pow(p);
    for (;;) {
        tok = lmd_jp_cur(p);
        if (left == NULL || tok->type != LMD_JT_OP
            || (tok->op != LMD_JOP_MUL && tok->op != LMD_JOP_DIV
                && tok->op != LMD_JOP_FLOORDIV && tok->op != LMD_JOP_MOD))
        {
            return left;
        }
        lmd_jp_next(p);
        left = lmd_jp_binop(p, LMD_JN_BINOP, tok->op, tok, left,
                            lmd_jp_pow(p));
    }
}


static struct lmd_jnode *
lmd_jp_concat(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;
    struct lmd_jchain       args;
    struct lmd_jnode       *first, *arg, *n;

    first = lmd_jp_math2(p);
    if (first == NULL || !lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_TILDE)) {
        return first;
    }
    tok = lmd_jp_cur(p);
    memset(&args, 0, sizeof(args));
    lmd_jchain_add(&args, first);
    while (lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_TILDE)) {
        lmd_jp_next(p);
        arg = lmd_jp_math2(p);
        if (arg == NULL) {
            return NULL;
        }
        lmd_jchain_add(&args, arg);
    }
    n = lmd_jp_node(p, LMD_JN_CONCAT, tok);
    if (n != NULL) {
        n->list = args.head;
        n->n = args.n;
    }
    return n;
}


static struct lmd_jnode *
lmd_jp_math1(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;
    struct lmd_jnode       *left;

    left = lmd_jp_concat(p);
    for (;;) {
        tok = lmd_jp_cur(p);
        if (left == NULL || tok->type != LMD_JT_OP
            || (tok->op != LMD_JOP_ADD && tok->op != LMD_JOP_SUB))
        {
            return left;
        }
        lmd_jp_next(p);
        left = lmd_jp_binop(p, LMD_JN_BINOP, tok->op, tok, left,
                            lmd_jp_concat(p));
    }
}


static struct lmd_jnode *
lmd_jp_compare(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;
    struct lmd_jchain       ops;
    struct lmd_jnode       *expr, *operand, *n;
    int                     op;

    expr = lmd_jp_math1(p);
    if (expr == NULL) {
        return NULL;
    }
    memset(&ops, 0, sizeof(ops));
    for (;;) {
        tok = lmd_jp_cur(p);
        if (tok->type == LMD_JT_OP
            && (tok->op == LMD_JOP_EQ || tok->op == LMD_JOP_NE
                || tok->op == LMD_JOP_LT || tok->op == LMD_JOP_LE
                || tok->op == LMD_JOP_GT || tok->op == LMD_JOP_GE))
        {
            lmd_jp_next(p);
            op = tok->op;
        } else if (lmd_jp_is_name(tok, "in")) {
            lmd_jp_next(p);
            op = LMD_JOP_IN;
        } else if (lmd_jp_is_name(tok, "not")
                   && lmd_jp_is_name(lmd_jp_look(p), "in"))
        {
            lmd_jp_next(p);
            lmd_jp_next(p);
            op = LMD_JOP_NOTIN;
        } else {
            break;
        }
        operand = lmd_jp_node(p, LMD_JN_OPERAND, tok);
        if (operand == NULL) {
            return NULL;
        }
        operand->op = op;
        operand->a = lmd_jp_math1(p);
        if (operand->a == NULL) {
            return NULL;
        }
        lmd_jchain_add(&ops, operand);
    }
    if (ops.n == 0) {
        return expr;
    }
    n = lmd_jp_node(p, LMD_JN_COMPARE, lmd_jp_cur(p));
    if (n != NULL) {
        lmd_jp_at(n, ops.head);
        n->a = expr;
        n->list = ops.head;
        n->n = ops.n;
    }
    return n;
}


static struct lmd_jnode *
lmd_jp_not(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;
    struct lmd_jnode       *n, *operand;

    tok = lmd_jp_cur(p);
    if (!lmd_jp_is_name(tok, "not")) {
        return lmd_jp_compare(p);
    }
    if (lmd_jp_enter(p) != LMD_OK) {
        return NULL;
    }
    lmd_jp_next(p);
    operand = lmd_jp_not(p);
    p->depth--;
    n = operand ? lmd_jp_node(p, LMD_JN_UNARY, tok) : NULL;
    if (n != NULL) {
        n->op = LMD_JOP_NOT;
        n->a = operand;
    }
    return n;
}


static struct lmd_jnode *
lmd_jp_and(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;
    struct lmd_jnode       *left;

    left = lmd_jp_not(p);
    while (left != NULL && lmd_jp_is_name(lmd_jp_cur(p), "and")) {
        tok = lmd_jp_next(p);
        left = lmd_jp_binop(p, LMD_JN_AND, 0, tok, left, lmd_jp_not(p));
    }
    return left;
}


static struct lmd_jnode *
lmd_jp_or(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;
    struct lmd_jnode       *left;

    left = lmd_jp_and(p);
    while (left != NULL && lmd_jp_is_name(lmd_jp_cur(p), "or")) {
        tok = lmd_jp_next(p);
        left = lmd_jp_binop(p, LMD_JN_OR, 0, tok, left, lmd_jp_and(p));
    }
    return left;
}


/* a if b else c; without "else" the false branch is undefined. */
static struct lmd_jnode *
lmd_jp_condexpr(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;
    struct lmd_jnode       *expr1, *expr2, *expr3, *n;

    expr1 = lmd_jp_or(p);
    while (expr1 != NULL && lmd_jp_is_name(lmd_jp_cur(p), "if")) {
        tok = lmd_jp_next(p);
        expr2 = lmd_jp_or(p);
        if (expr2 == NULL) {
            return NULL;
        }
        expr3 = NULL;
        if (lmd_jp_is_name(lmd_jp_cur(p), "else")) {
            lmd_jp_next(p);
            expr3 = lmd_jp_condexpr(p);
            if (expr3 == NULL) {
                return NULL;
            }
        }
        n = lmd_jp_node(p, LMD_JN_COND, tok);
        if (n == NULL) {
            return NULL;
        }
        n->a = expr1;
        n->b = expr2;
        n->c = expr3;
        expr1 = n;
    }
    return expr1;
}


struct lmd_jnode *
lmd_jp_expression(struct lmd_jparser *p, int with_condexpr)
{
    struct lmd_jnode  *n;

    if (lmd_jp_enter(p) != LMD_OK) {
        return NULL;
    }
    n = with_condexpr ? lmd_jp_condexpr(p) : lmd_jp_or(p);
    p->depth--;
    return n;
}


static int
lmd_jp_tuple_end(const struct lmd_jparser *p, const char *extra_end)
{
    const struct lmd_jtok  *tok;

    tok = lmd_jp_cur(p);
    if (tok->type == LMD_JT_VAR_END || tok->type == LMD_JT_BLOCK_END
        || lmd_jp_is_op(tok, LMD_JOP_RPAREN))
    {
        return 1;
    }
    return extra_end != NULL && lmd_jp_is_name(tok, extra_end);
}


/* An expression or a tuple "a, b": jinja2's parse_tuple. */
struct lmd_jnode *
lmd_jp_tuple(struct lmd_jparser *p, int simplified, int with_condexpr,
    const char *extra_end, int explicit_parens)
{
    const struct lmd_jtok  *start;
    struct lmd_jchain       args;
    struct lmd_jnode       *arg, *n;
    int                     is_tuple;

    start = lmd_jp_cur(p);
    memset(&args, 0, sizeof(args));
    is_tuple = 0;
    for (;;) {
        if (args.n > 0 && lmd_jp_expect_op(p, LMD_JOP_COMMA) == NULL) {
            return NULL;
        }
        if (lmd_jp_tuple_end(p, extra_end)) {
            break;
        }
        if (args.n == LMD_JINJA_MAX_ITEMS) {
            return lmd_jp_fail(p, lmd_jp_cur(p), "tuple too long");
        }
        arg = simplified ? lmd_jp_primary(p)
                         : lmd_jp_expression(p, with_condexpr);
        if (arg == NULL) {
            return NULL;
        }
        lmd_jchain_add(&args, arg);
        if (!lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_COMMA)) {
            break;
        }
        is_tuple = 1;
    }
    if (!is_tuple) {
        if (args.n > 0) {
            return args.head;
        }
        if (!explicit_parens) {
            return lmd_jp_unexpected(p, lmd_jp_cur(p), "an expression");
        }
    }
    n = lmd_jp_node(p, LMD_JN_TUPLE, start);
    if (n != NULL) {
        n->list = args.head;
        n->n = args.n;
    }
    return n;
}
