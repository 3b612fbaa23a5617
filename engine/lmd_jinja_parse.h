/*
 * lmd_jinja_parse.h -- what the two halves of the parser share:
 * lmd_jinja_parse.c (tokens, errors, statements) and lmd_jinja_expr.c
 * (expressions).  Nothing else includes it.
 */

#ifndef LMD_JINJA_PARSE_H
#define LMD_JINJA_PARSE_H

#include "lmd_jinja.h"

struct lmd_jparser {
    const struct lmd_jtok   *t;
    size_t                   n;
    size_t                   pos;
    struct lmd_jarena       *arena;
    char                    *err;
    size_t                   errlen;
    int                      failed;
    int                      depth;     /* recursion, < MAX_NEST */
    int                      loops;     /* enclosing for bodies */
    int                      macro;     /* inside a macro body */
};

/* A list of nodes being built, linked by next. */
struct lmd_jchain {
    struct lmd_jnode        *head;
    struct lmd_jnode        *tail;
    size_t                   n;
};

/* Tokens (lmd_jinja_parse.c): the current one, the one after, advancing
 * (never past EOF) and testing. */
const struct lmd_jtok *lmd_jp_cur(const struct lmd_jparser *p);
const struct lmd_jtok *lmd_jp_look(const struct lmd_jparser *p);
const struct lmd_jtok *lmd_jp_next(struct lmd_jparser *p);
int lmd_jp_is_name(const struct lmd_jtok *tok, const char *name);
int lmd_jp_is_op(const struct lmd_jtok *tok, int op);

/* Errors: the first one is kept as "line L, column C: message"; these
 * return NULL so that parse functions can return them. */
void *lmd_jp_fail(struct lmd_jparser *p, const struct lmd_jtok *tok,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void *lmd_jp_unexpected(struct lmd_jparser *p, const struct lmd_jtok *tok,
    const char *expected);
const struct lmd_jtok *lmd_jp_expect_op(struct lmd_jparser *p, int op);
const struct lmd_jtok *lmd_jp_expect(struct lmd_jparser *p, int type,
    const char *what);

/* Nodes: a new one positioned at tok, or at another node. */
struct lmd_jnode *lmd_jp_node(struct lmd_jparser *p, int type,
    const struct lmd_jtok *tok);
void lmd_jp_at(struct lmd_jnode *n, const struct lmd_jnode *from);
void lmd_jchain_add(struct lmd_jchain *c, struct lmd_jnode *n);
int lmd_jp_enter(struct lmd_jparser *p);

/* Expressions (lmd_jinja_expr.c), named after jinja2's parse_* methods. */
struct lmd_jnode *lmd_jp_expression(struct lmd_jparser *p,
    int with_condexpr);
struct lmd_jnode *lmd_jp_tuple(struct lmd_jparser *p, int simplified,
    int with_condexpr, const char *extra_end, int explicit_parens);
struct lmd_jnode *lmd_jp_primary(struct lmd_jparser *p);
struct lmd_jnode *lmd_jp_postfix(struct lmd_jparser *p,
    struct lmd_jnode *node);
struct lmd_jnode *lmd_jp_filter(struct lmd_jparser *p,
    struct lmd_jnode *node, int start_inline);

#endif /* LMD_JINJA_PARSE_H */
