/*
 * lmd_jinja_parse.c -- tokens to a tree, by recursive descent that mirrors
 * jinja2 3.1's parser function by function (the expressions are in
 * lmd_jinja_expr.c).  This half holds the token cursor, the errors and
 * the statements.
 *
 * Tags: if/elif/else, for (with "if" filter and else), set (also
 * namespace attributes and block form), macro, call, filter, with, print,
 * break/continue (transformers loads jinja2.ext.loopcontrols), raw (in the
 * lexer) and transformers' generation block.  Every node records where it
 * was written; runtime errors use it.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lmd_jinja_parse.h"

static int lmd_jp_subparse(struct lmd_jparser *p, const char *const *ends,
    const struct lmd_jtok *opener, struct lmd_jchain *body);


/* ------------------------------------------------------------------------
 * Tokens, nodes, errors
 * ------------------------------------------------------------------------ */

const struct lmd_jtok *
lmd_jp_cur(const struct lmd_jparser *p)
{
    return &p->t[p->pos];
}


const struct lmd_jtok *
lmd_jp_look(const struct lmd_jparser *p)
{
    return &p->t[p->pos + 1 < p->n ? p->pos + 1 : p->n - 1];
}


const struct lmd_jtok *
lmd_jp_next(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;

    tok = &p->t[p->pos];
    if (tok->type != LMD_JT_EOF) {
        p->pos++;
    }
    return tok;
}


int
lmd_jp_is_name(const struct lmd_jtok *tok, const char *name)
{
    return tok->type == LMD_JT_NAME && strcmp(tok->name, name) == 0;
}


int
lmd_jp_is_op(const struct lmd_jtok *tok, int op)
{
    return tok->type == LMD_JT_OP && tok->op == op;
}


/* How a token reads in messages. */
void
lmd_jp_describe(const struct lmd_jtok *tok, char *buf, size_t size)
{
    switch (tok->type) {
    case LMD_JT_EOF:
        snprintf(buf, size, "end of template");
        break;
    case LMD_JT_DATA:
        snprintf(buf, size, "template data");
        break;
    case LMD_JT_VAR_BEGIN:
        snprintf(buf, size, "'{{'");
        break;
    case LMD_JT_VAR_END:
        snprintf(buf, size, "'}}'");
        break;
    case LMD_JT_BLOCK_BEGIN:
        snprintf(buf, size, "'{%%'");
        break;
    case LMD_JT_BLOCK_END:
        snprintf(buf, size, "'%%}'");
        break;
    case LMD_JT_NAME:
        snprintf(buf, size, "'%.64s'", tok->name);
        break;
    case LMD_JT_STRING:
        snprintf(buf, size, "a string");
        break;
    case LMD_JT_INT:
    case LMD_JT_FLOAT:
        snprintf(buf, size, "a number");
        break;
    default:
        snprintf(buf, size, "'%s'", lmd_jop_text(tok->op));
        break;
    }
}


void *
lmd_jp_fail(struct lmd_jparser *p, const struct lmd_jtok *tok,
    const char *fmt, ...)
{
    va_list  ap;
    char     msg[LMD_ERR_LEN];

    if (p->failed) {
        return NULL;
    }
    p->failed = 1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "line %d, column %d: %s", tok->line,
             tok->col, msg);
    return NULL;
}


void *
lmd_jp_unexpected(struct lmd_jparser *p, const struct lmd_jtok *tok,
    const char *expected)
{
    char  got[96];

    lmd_jp_describe(tok, got, sizeof(got));
    if (expected == NULL) {
        return lmd_jp_fail(p, tok, "unexpected %s", got);
    }
    return lmd_jp_fail(p, tok, "expected %s, got %s", expected, got);
}


const struct lmd_jtok *
lmd_jp_expect_op(struct lmd_jparser *p, int op)
{
    char  want[16];

    if (!lmd_jp_is_op(lmd_jp_cur(p), op)) {
        snprintf(want, sizeof(want), "'%s'", lmd_jop_text(op));
        return lmd_jp_unexpected(p, lmd_jp_cur(p), want);
    }
    return lmd_jp_next(p);
}


const struct lmd_jtok *
lmd_jp_expect(struct lmd_jparser *p, int type, const char *what)
{
    if (lmd_jp_cur(p)->type != type) {
        return lmd_jp_unexpected(p, lmd_jp_cur(p), what);
    }
    return lmd_jp_next(p);
}


struct lmd_jnode *
lmd_jp_node(struct lmd_jparser *p, int type, const struct lmd_jtok *tok)
{
    struct lmd_jnode  *n;

    n = lmd_jarena_alloc(p->arena, sizeof(*n));
    if (n == NULL) {
        return lmd_jp_fail(p, tok, "out of memory");
    }
    n->type = type;
    n->line = tok->line;
    n->col = tok->col;
    return n;
}


void
lmd_jp_at(struct lmd_jnode *n, const struct lmd_jnode *from)
{
    n->line = from->line;
    n->col = from->col;
}


void
lmd_jchain_add(struct lmd_jchain *c, struct lmd_jnode *n)
{
    n->next = NULL;
    if (c->tail == NULL) {
        c->head = n;
    } else {
        c->tail->next = n;
    }
    c->tail = n;
    c->n++;
}


/* Guards the C stack against "((((((..." and "not not not ...". */
int
lmd_jp_enter(struct lmd_jparser *p)
{
    if (++p->depth > LMD_JINJA_MAX_NEST) {
        lmd_jp_fail(p, lmd_jp_cur(p), "nested deeper than %d levels",
                    LMD_JINJA_MAX_NEST);
        return LMD_ERROR;
    }
    return LMD_OK;
}


/* ------------------------------------------------------------------------
 * Statements
 * ------------------------------------------------------------------------ */

static int
lmd_jp_assignable(struct lmd_jparser *p, const struct lmd_jnode *n)
{
    const struct lmd_jnode  *item;

    if (n->type == LMD_JN_NAME || n->type == LMD_JN_NSREF) {
        return 1;
    }
    if (n->type == LMD_JN_TUPLE) {
        for (item = n->list; item != NULL; item = item->next) {
            if (!lmd_jp_assignable(p, item)) {
                return 0;
            }
        }
        return 1;
    }
    return 0;
}


static struct lmd_jnode *
lmd_jp_assign_target(struct lmd_jparser *p, int name_only,
    const char *extra_end, int with_namespace)
{
    const struct lmd_jtok  *tok, *attr;
    struct lmd_jnode       *n;

    tok = lmd_jp_cur(p);
    if (name_only) {
        if (lmd_jp_expect(p, LMD_JT_NAME, "a name") == NULL) {
            return NULL;
        }
        n = lmd_jp_node(p, LMD_JN_NAME, tok);
        if (n != NULL) {
            n->name = tok->name;
        }
    } else if (with_namespace && tok->type == LMD_JT_NAME
               && lmd_jp_is_op(lmd_jp_look(p), LMD_JOP_DOT))
    {
        lmd_jp_next(p);
        lmd_jp_next(p);
        attr = lmd_jp_expect(p, LMD_JT_NAME, "a name");
        n = attr ? lmd_jp_node(p, LMD_JN_NSREF, tok) : NULL;
        if (n != NULL) {
            n->name = tok->name;
            n->name2 = attr->name;
        }
    } else {
        n = lmd_jp_tuple(p, 1, 1, extra_end, 0);
    }
    if (n == NULL) {
        return NULL;
    }
    if (!lmd_jp_assignable(p, n)
        || (n->type == LMD_JN_NAME
            && (strcmp(n->name, "true") == 0 || strcmp(n->name, "false") == 0
                || strcmp(n->name, "none") == 0)))
    {
        return lmd_jp_fail(p, tok, "cannot assign to this expression");
    }
    return n;
}


static const char *const  lmd_jp_endfor[] = { "endfor", "else", NULL };
static const char *const  lmd_jp_endfor2[] = { "endfor", NULL };
static const char *const  lmd_jp_endif[] = { "endif", "elif", "else", NULL };
static const char *const  lmd_jp_endif2[] = { "endif", NULL };
static const char *const  lmd_jp_endset[] = { "endset", NULL };
static const char *const  lmd_jp_endmacro[] = { "endmacro", NULL };
static const char *const  lmd_jp_endcall[] = { "endcall", NULL };
static const char *const  lmd_jp_endfilter[] = { "endfilter", NULL };
static const char *const  lmd_jp_endwith[] = { "endwith", NULL };
static const char *const  lmd_jp_endgen[] = { "endgeneration", NULL };


/* "%}" then the body up to one of ends (ends[0] is the closing tag);
 * drop_needle consumes the end tag's name.  opener names the block in
 * "unclosed" messages. */
static int
lmd_jp_statements(struct lmd_jparser *p, const char *const *ends,
    const struct lmd_jtok *opener, int drop_needle, struct lmd_jnode **list,
    size_t *n)
{
    struct lmd_jchain  body;

    if (lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_COLON)) {
        lmd_jp_next(p);
    }
    if (lmd_jp_expect(p, LMD_JT_BLOCK_END, "'%}'") == NULL) {
        return LMD_ERROR;
    }
    memset(&body, 0, sizeof(body));
    if (lmd_jp_subparse(p, ends, opener, &body) != LMD_OK) {
        return LMD_ERROR;
    }
    if (drop_needle) {
        lmd_jp_next(p);
    }
    *list = body.head;
    *n = body.n;
    return LMD_OK;
}


static struct lmd_jnode *
lmd_jp_for(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok, *end;
    struct lmd_jnode       *n;
    int                     rc;

    tok = lmd_jp_next(p);
    n = lmd_jp_node(p, LMD_JN_FOR, tok);
    if (n == NULL) {
        return NULL;
    }
    n->a = lmd_jp_assign_target(p, 0, "in", 0);
    if (n->a == NULL) {
        return NULL;
    }
    if (!lmd_jp_is_name(lmd_jp_cur(p), "in")) {
        return lmd_jp_unexpected(p, lmd_jp_cur(p), "'in'");
    }
    lmd_jp_next(p);
    n->b = lmd_jp_tuple(p, 0, 0, "recursive", 0);
    if (n->b == NULL) {
        return NULL;
    }
    if (lmd_jp_is_name(lmd_jp_cur(p), "if")) {
        lmd_jp_next(p);
        n->c = lmd_jp_expression(p, 1);
        if (n->c == NULL) {
            return NULL;
        }
    }
    if (lmd_jp_is_name(lmd_jp_cur(p), "recursive")) {
        return lmd_jp_fail(p, lmd_jp_cur(p), "recursive loops are not "
                           "supported");
    }
    p->loops++;
    rc = lmd_jp_statements(p, lmd_jp_endfor, tok, 0, &n->list, &n->n);
    p->loops--;
    if (rc != LMD_OK) {
        return NULL;
    }
    end = lmd_jp_next(p);
    if (lmd_jp_is_name(end, "else")
        && lmd_jp_statements(p, lmd_jp_endfor2, tok, 1, &n->list2, &n->n2)
           != LMD_OK)
    {
        return NULL;
    }
    return n;
}


static struct lmd_jnode *
lmd_jp_if(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok, *end;
    struct lmd_jnode       *result, *n, *elif;

    tok = lmd_jp_next(p);
    result = n = lmd_jp_node(p, LMD_JN_IF, tok);
    while (n != NULL) {
        n->a = lmd_jp_tuple(p, 0, 0, NULL, 0);
        if (n->a == NULL
            || lmd_jp_statements(p, lmd_jp_endif, tok, 0, &n->list, &n->n)
               != LMD_OK)
        {
            return NULL;
        }
        end = lmd_jp_next(p);
        if (lmd_jp_is_name(end, "elif")) {
            /* elif is an if in the else branch */
            elif = lmd_jp_node(p, LMD_JN_IF, end);
            if (elif == NULL) {
                return NULL;
            }
            n->list2 = elif;
            n->n2 = 1;
            n = elif;
            continue;
        }
        if (lmd_jp_is_name(end, "else")
            && lmd_jp_statements(p, lmd_jp_endif2, tok, 1, &n->list2,
                                 &n->n2) != LMD_OK)
        {
            return NULL;
        }
        break;
    }
    return result;
}


static struct lmd_jnode *
lmd_jp_set(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;
    struct lmd_jnode       *n, *target;

    tok = lmd_jp_next(p);
    target = lmd_jp_assign_target(p, 0, NULL, 1);
    if (target == NULL) {
        return NULL;
    }
    if (lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_ASSIGN)) {
        lmd_jp_next(p);
        n = lmd_jp_node(p, LMD_JN_SET, tok);
        if (n == NULL) {
            return NULL;
        }
        n->a = target;
        n->b = lmd_jp_tuple(p, 0, 1, NULL, 0);
        return n->b ? n : NULL;
    }
    if (target->type == LMD_JN_TUPLE) {
        return lmd_jp_fail(p, tok, "a set block assigns one name");
    }
    n = lmd_jp_node(p, LMD_JN_SETBLOCK, tok);
    if (n == NULL) {
        return NULL;
    }
    n->a = target;
    if (lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_PIPE)) {
        n->b = lmd_jp_filter(p, NULL, 0);
        if (n->b == NULL) {
            return NULL;
        }
    }
    if (lmd_jp_statements(p, lmd_jp_endset, tok, 1, &n->list, &n->n)
        != LMD_OK)
    {
        return NULL;
    }
    return n;
}


/* "(a, b=default)": NAME and KWARG nodes. */
static int
lmd_jp_signature(struct lmd_jparser *p, struct lmd_jnode *n)
{
    const struct lmd_jtok  *tok;
    struct lmd_jchain       params;
    struct lmd_jnode       *param, *kw;
    int                     defaults;

    if (lmd_jp_expect_op(p, LMD_JOP_LPAREN) == NULL) {
        return LMD_ERROR;
    }
    memset(&params, 0, sizeof(params));
    defaults = 0;
    while (!lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_RPAREN)) {
        if (params.n > 0 && lmd_jp_expect_op(p, LMD_JOP_COMMA) == NULL) {
            return LMD_ERROR;
        }
        if (params.n == LMD_JINJA_MAX_ARGS) {
            lmd_jp_fail(p, lmd_jp_cur(p), "more than %d parameters",
                        LMD_JINJA_MAX_ARGS);
            return LMD_ERROR;
        }
        tok = lmd_jp_cur(p);
        param = lmd_jp_assign_target(p, 1, NULL, 0);
        if (param == NULL) {
            return LMD_ERROR;
        }
        if (lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_ASSIGN)) {
            lmd_jp_next(p);
            kw = lmd_jp_node(p, LMD_JN_KWARG, tok);
            if (kw == NULL) {
                return LMD_ERROR;
            }
            kw->name = param->name;
            kw->a = lmd_jp_expression(p, 1);
            if (kw->a == NULL) {
                return LMD_ERROR;
            }
            param = kw;
            defaults = 1;
        } else if (defaults) {
            lmd_jp_fail(p, tok, "a parameter without a default follows "
                        "one with a default");
            return LMD_ERROR;
        }
        lmd_jchain_add(&params, param);
    }
    lmd_jp_next(p);
    n->list2 = params.head;
    n->n2 = params.n;
    return LMD_OK;
}


/* The body of a macro, call block or generation block: loops outside do
 * not reach into it (break there is an error, as in jinja2). */
static int
lmd_jp_macro_body(struct lmd_jparser *p, const char *const *ends,
    const struct lmd_jtok *opener, struct lmd_jnode *n)
{
    int  loops, rc;

    loops = p->loops;
    p->loops = 0;
    p->macro++;
    rc = lmd_jp_statements(p, ends, opener, 1, &n->list, &n->n);
    p->macro--;
    p->loops = loops;
    return rc;
}


static struct lmd_jnode *
lmd_jp_macro(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;
    struct lmd_jnode       *n, *name;

    tok = lmd_jp_next(p);
    n = lmd_jp_node(p, LMD_JN_MACRO, tok);
    name = n ? lmd_jp_assign_target(p, 1, NULL, 0) : NULL;
    if (name == NULL) {
        return NULL;
    }
    n->name = name->name;
    if (lmd_jp_signature(p, n) != LMD_OK
        || lmd_jp_macro_body(p, lmd_jp_endmacro, tok, n) != LMD_OK)
    {
        return NULL;
    }
    return n;
}


static struct lmd_jnode *
lmd_jp_call_block(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;
    struct lmd_jnode       *n;

    tok = lmd_jp_next(p);
    n = lmd_jp_node(p, LMD_JN_CALLBLOCK, tok);
    if (n == NULL) {
        return NULL;
    }
    if (lmd_jp_is_op(lmd_jp_cur(p), LMD_JOP_LPAREN)
        && lmd_jp_signature(p, n) != LMD_OK)
    {
        return NULL;
    }
    n->a = lmd_jp_expression(p, 1);
    if (n->a == NULL) {
        return NULL;
    }
    if (n->a->type != LMD_JN_CALL) {
        return lmd_jp_fail(p, tok, "expected a call after 'call'");
    }
    if (lmd_jp_macro_body(p, lmd_jp_endcall, tok, n) != LMD_OK) {
        return NULL;
    }
    return n;
}


static struct lmd_jnode *
lmd_jp_filter_block(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;
    struct lmd_jnode       *n;

    tok = lmd_jp_next(p);
    n = lmd_jp_node(p, LMD_JN_FILTERBLOCK, tok);
    if (n == NULL) {
        return NULL;
    }
    n->b = lmd_jp_filter(p, NULL, 1);
    if (n->b == NULL
        || lmd_jp_statements(p, lmd_jp_endfilter, tok, 1, &n->list, &n->n)
           != LMD_OK)
    {
        return NULL;
    }
    return n;
}


static struct lmd_jnode *
lmd_jp_with(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok, *name;
    struct lmd_jchain       assigns;
    struct lmd_jnode       *n, *kw;

    tok = lmd_jp_next(p);
    n = lmd_jp_node(p, LMD_JN_WITH, tok);
    if (n == NULL) {
        return NULL;
    }
    memset(&assigns, 0, sizeof(assigns));
    while (lmd_jp_cur(p)->type != LMD_JT_BLOCK_END) {
        if (assigns.n > 0 && lmd_jp_expect_op(p, LMD_JOP_COMMA) == NULL) {
            return NULL;
        }
        name = lmd_jp_expect(p, LMD_JT_NAME, "a name");
        if (name == NULL || lmd_jp_expect_op(p, LMD_JOP_ASSIGN) == NULL) {
            return NULL;
        }
        kw = lmd_jp_node(p, LMD_JN_KWARG, name);
        if (kw == NULL) {
            return NULL;
        }
        kw->name = name->name;
        kw->a = lmd_jp_expression(p, 1);
        if (kw->a == NULL) {
            return NULL;
        }
        lmd_jchain_add(&assigns, kw);
    }
    n->list2 = assigns.head;
    n->n2 = assigns.n;
    if (lmd_jp_statements(p, lmd_jp_endwith, tok, 1, &n->list, &n->n)
        != LMD_OK)
    {
        return NULL;
    }
    return n;
}


static struct lmd_jnode *
lmd_jp_print(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;
    struct lmd_jchain       exprs;
    struct lmd_jnode       *n, *e;

    tok = lmd_jp_next(p);
    memset(&exprs, 0, sizeof(exprs));
    while (lmd_jp_cur(p)->type != LMD_JT_BLOCK_END) {
        if (exprs.n > 0 && lmd_jp_expect_op(p, LMD_JOP_COMMA) == NULL) {
            return NULL;
        }
        e = lmd_jp_expression(p, 1);
        if (e == NULL) {
            return NULL;
        }
        lmd_jchain_add(&exprs, e);
    }
    n = lmd_jp_node(p, LMD_JN_OUTPUT, tok);
    if (n != NULL) {
        n->list = exprs.head;
        n->n = exprs.n;
    }
    return n;
}


static const char *const  lmd_jp_unsupported_tags[] = {
    "block", "extends", "include", "import", "from", "autoescape", NULL
};

static const char *const  lmd_jp_end_tags[] = {
    "endfor", "endif", "elif", "else", "endset", "endmacro", "endcall",
    "endfilter", "endwith", "endraw", "endgeneration", "endblock",
    "endautoescape", NULL
};


static struct lmd_jnode *
lmd_jp_statement(struct lmd_jparser *p)
{
    const struct lmd_jtok  *tok;
    struct lmd_jnode       *n;
    const char             *name;
    size_t                  i;

    tok = lmd_jp_cur(p);
    if (tok->type != LMD_JT_NAME) {
        return lmd_jp_unexpected(p, tok, "a tag name");
    }
    name = tok->name;
    if (lmd_jp_enter(p) != LMD_OK) {
        return NULL;
    }
    n = NULL;
    if (strcmp(name, "for") == 0) {
        n = lmd_jp_for(p);
    } else if (strcmp(name, "if") == 0) {
        n = lmd_jp_if(p);
    } else if (strcmp(name, "set") == 0) {
        n = lmd_jp_set(p);
    } else if (strcmp(name, "macro") == 0) {
        n = lmd_jp_macro(p);
    } else if (strcmp(name, "call") == 0) {
        n = lmd_jp_call_block(p);
    } else if (strcmp(name, "filter") == 0) {
        n = lmd_jp_filter_block(p);
    } else if (strcmp(name, "with") == 0) {
        n = lmd_jp_with(p);
    } else if (strcmp(name, "print") == 0) {
        n = lmd_jp_print(p);
    } else if (strcmp(name, "generation") == 0) {
        lmd_jp_next(p);
        n = lmd_jp_node(p, LMD_JN_SCOPE, tok);
        if (n != NULL && lmd_jp_macro_body(p, lmd_jp_endgen, tok, n)
                         != LMD_OK)
        {
            n = NULL;
        }
    } else if (strcmp(name, "break") == 0
               || strcmp(name, "continue") == 0)
    {
        if (p->loops == 0) {
            return lmd_jp_fail(p, tok, "'%s' outside a loop", name);
        }
        lmd_jp_next(p);
        n = lmd_jp_node(p, name[0] == 'b' ? LMD_JN_BREAK : LMD_JN_CONTINUE,
                        tok);
    } else {
        for (i = 0; lmd_jp_unsupported_tags[i] != NULL; i++) {
            if (strcmp(name, lmd_jp_unsupported_tags[i]) == 0) {
                return lmd_jp_fail(p, tok, "the tag '%s' is not supported",
                                   name);
            }
        }
        for (i = 0; lmd_jp_end_tags[i] != NULL; i++) {
            if (strcmp(name, lmd_jp_end_tags[i]) == 0) {
                return lmd_jp_fail(p, tok, "unexpected '%s'", name);
            }
        }
        return lmd_jp_fail(p, tok, "unknown tag '%.64s'", name);
    }
    p->depth--;
    return n;
}


static int
lmd_jp_is_end(const struct lmd_jtok *tok, const char *const *ends)
{
    size_t  i;

    if (ends == NULL || tok->type != LMD_JT_NAME) {
        return 0;
    }
    for (i = 0; ends[i] != NULL; i++) {
        if (strcmp(tok->name, ends[i]) == 0) {
            return 1;
        }
    }
    return 0;
}


/* Statements until a block tag whose name is in ends (left current, its
 * "{%" consumed) or the end of the template (an error when ends is
 * given: the block opened at opener is never closed). */
static int
lmd_jp_subparse(struct lmd_jparser *p, const char *const *ends,
    const struct lmd_jtok *opener, struct lmd_jchain *body)
{
    const struct lmd_jtok  *tok;
    struct lmd_jnode       *n;

    for (;;) {
        tok = lmd_jp_cur(p);
        switch (tok->type) {

        case LMD_JT_EOF:
            if (ends != NULL) {
                lmd_jp_fail(p, opener, "unclosed '%s': no '%s' before the "
                            "end of the template", opener->name, ends[0]);
                return LMD_ERROR;
            }
            return LMD_OK;

        case LMD_JT_DATA:
            lmd_jp_next(p);
            n = lmd_jp_node(p, LMD_JN_TEXT, tok);
            if (n == NULL) {
                return LMD_ERROR;
            }
            n->value.type = LMD_JV_STR;
            n->value.u.s = tok->str;
            lmd_jchain_add(body, n);
            break;

        case LMD_JT_VAR_BEGIN:
            lmd_jp_next(p);
            n = lmd_jp_node(p, LMD_JN_OUTPUT, tok);
            if (n == NULL) {
                return LMD_ERROR;
            }
            n->list = lmd_jp_tuple(p, 0, 1, NULL, 0);
            if (n->list == NULL
                || lmd_jp_expect(p, LMD_JT_VAR_END, "'}}'") == NULL)
            {
                return LMD_ERROR;
            }
            lmd_jp_at(n, n->list);
            n->n = 1;
            lmd_jchain_add(body, n);
            break;

        case LMD_JT_BLOCK_BEGIN:
            lmd_jp_next(p);
            if (lmd_jp_is_end(lmd_jp_cur(p), ends)) {
                return LMD_OK;
            }
            n = lmd_jp_statement(p);
            if (n == NULL
                || lmd_jp_expect(p, LMD_JT_BLOCK_END, "'%}'") == NULL)
            {
                return LMD_ERROR;
            }
            lmd_jchain_add(body, n);
            break;

        default:
            lmd_jp_unexpected(p, tok, NULL);
            return LMD_ERROR;
        }
    }
}


struct lmd_jnode *
lmd_jinja_parse(struct lmd_jarena *a, const struct lmd_jtoks *toks,
    char *err, size_t errlen)
{
    struct lmd_jparser  p;
    struct lmd_jchain   body;
    struct lmd_jnode   *root;

    memset(&p, 0, sizeof(p));
    p.t = toks->v;
    p.n = toks->n;
    p.arena = a;
    p.err = err;
    p.errlen = errlen;
    memset(&body, 0, sizeof(body));
    if (lmd_jp_subparse(&p, NULL, NULL, &body) != LMD_OK) {
        return NULL;
    }
    /* the chain of statements hangs off one SCOPE node: the empty
     * template has a root too */
    root = lmd_jp_node(&p, LMD_JN_SCOPE, &toks->v[0]);
    if (root == NULL) {
        return NULL;
    }
    root->list = body.head;
    root->n = body.n;
    return root;
}
