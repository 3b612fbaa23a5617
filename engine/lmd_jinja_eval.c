/*
 * lmd_jinja_eval.c -- one render: statements write into ctx->out,
 * expressions compute values.
 *
 * Scoping follows jinja2: a for-loop iteration, a macro call, a with, set
 * or filter block and transformers' generation block each get a scope of
 * their own, whose parent is the scope around them; "if" gets none.  So a
 * set inside a loop is gone after the loop (namespace() is the way out)
 * and a read falls back to the enclosing scopes, then to the globals
 * (range, namespace, dict, raise_exception, strftime_now).
 *
 * break and continue set ctx->ctl; every statement list returns as soon
 * as it is set, up to the loop that clears it.
 */

#include <stdlib.h>
#include <string.h>

#include "lmd_jinja.h"

static int lmd_jeval_filter(struct lmd_jctx *ctx, const struct lmd_jnode *n,
    const struct lmd_jv *input, struct lmd_jv *out);


/* ------------------------------------------------------------------------
 * Scopes
 * ------------------------------------------------------------------------ */

struct lmd_jscope *
lmd_jscope_new(struct lmd_jctx *ctx, struct lmd_jscope *parent)
{
    struct lmd_jscope  *s;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        lmd_jerr_oom(ctx);
        return NULL;
    }
    s->refs = 1;
    s->parent = parent;
    if (parent != NULL) {
        parent->refs++;
    }
    return s;
}


void
lmd_jscope_clear(struct lmd_jscope *s)
{
    size_t  i;

    for (i = 0; i < s->n; i++) {
        lmd_jv_unref(s->vals[i]);
    }
    s->n = 0;
}


void
lmd_jscope_unref(struct lmd_jscope *s)
{
    struct lmd_jscope  *parent;

    while (s != NULL && --s->refs == 0) {
        lmd_jscope_clear(s);
        free(s->names);
        free(s->vals);
        parent = s->parent;
        free(s);
        s = parent;
    }
}


int
lmd_jscope_set(struct lmd_jctx *ctx, struct lmd_jscope *s, const char *name,
    struct lmd_jv v)
{
    const char    **names;
    struct lmd_jv  *vals;
    size_t          i, cap;

    for (i = 0; i < s->n; i++) {
        if (strcmp(s->names[i], name) == 0) {
            lmd_jv_unref(s->vals[i]);
            s->vals[i] = v;
            return LMD_OK;
        }
    }
    if (s->n == s->cap) {
        cap = s->cap ? s->cap * 2 : 8;
        names = realloc(s->names, cap * sizeof(*names));
        if (names == NULL) {
            lmd_jv_unref(v);
            return lmd_jerr_oom(ctx);
        }
        s->names = names;
        vals = realloc(s->vals, cap * sizeof(*vals));
        if (vals == NULL) {
            lmd_jv_unref(v);
            return lmd_jerr_oom(ctx);
        }
        s->vals = vals;
        s->cap = cap;
    }
    s->names[s->n] = name;
    s->vals[s->n] = v;
    s->n++;
    return LMD_OK;
}


const struct lmd_jv *
lmd_jscope_get(const struct lmd_jscope *s, const char *name)
{
    size_t  i;

    for (; s != NULL; s = s->parent) {
        for (i = 0; i < s->n; i++) {
            if (strcmp(s->names[i], name) == 0) {
                return &s->vals[i];
            }
        }
    }
    return NULL;
}


/* Runs body in a new scope under the current one; out (when not NULL)
 * catches the output instead of ctx->out. */
static int
lmd_jexec_scoped(struct lmd_jctx *ctx, const struct lmd_jnode *body,
    struct lmd_jscope *parent, struct lmd_jbuf *out)
{
    struct lmd_jscope  *scope, *saved;
    struct lmd_jbuf    *saved_out;
    int                 rc;

    scope = lmd_jscope_new(ctx, parent);
    if (scope == NULL) {
        return LMD_ERROR;
    }
    saved = ctx->scope;
    saved_out = ctx->out;
    ctx->scope = scope;
    if (out != NULL) {
        ctx->out = out;
    }
    rc = lmd_jinja_exec(ctx, body);
    ctx->scope = saved;
    ctx->out = saved_out;
    lmd_jscope_clear(scope);
    lmd_jscope_unref(scope);
    return rc;
}


int
lmd_jinja_tick(struct lmd_jctx *ctx)
{
    if (++ctx->loops > LMD_JINJA_MAX_LOOPS) {
        return lmd_jerr(ctx, "more than %d loop iterations in one render",
                        LMD_JINJA_MAX_LOOPS);
    }
    return LMD_OK;
}


/* ------------------------------------------------------------------------
 * Expressions
 * ------------------------------------------------------------------------ */

void
lmd_jargs_free(struct lmd_jargs *args)
{
    size_t  i;

    for (i = 0; i < args->n; i++) {
        lmd_jv_unref(args->v[i]);
    }
    for (i = 0; i < args->nkw; i++) {
        lmd_jv_unref(args->kw[i]);
    }
    args->n = 0;
    args->nkw = 0;
}


static int
lmd_jeval_args(struct lmd_jctx *ctx, const struct lmd_jnode *list,
    struct lmd_jargs *args)
{
    const struct lmd_jnode  *a;

    args->n = 0;
    args->nkw = 0;
    for (a = list; a != NULL; a = a->next) {
        if (a->type == LMD_JN_KWARG) {
            if (lmd_jinja_eval(ctx, a->a, &args->kw[args->nkw]) != LMD_OK) {
                lmd_jargs_free(args);
                return LMD_ERROR;
            }
            args->kwname[args->nkw++] = a->name;
        } else {
            if (lmd_jinja_eval(ctx, a, &args->v[args->n]) != LMD_OK) {
                lmd_jargs_free(args);
                return LMD_ERROR;
            }
            args->n++;
        }
    }
    return LMD_OK;
}


static int
lmd_jeval_name(struct lmd_jctx *ctx, const struct lmd_jnode *n,
    struct lmd_jv *out)
{
    const struct lmd_jv  *v;

    (void) ctx;
    v = lmd_jscope_get(ctx->scope, n->name);
    if (v != NULL) {
        *out = lmd_jv_ref(*v);
        return LMD_OK;
    }
    if (lmd_jinja_global(n->name, out)) {
        return LMD_OK;
    }
    *out = lmd_jv_undef(n->name, NULL);
    return LMD_OK;
}


static int
lmd_jeval_items(struct lmd_jctx *ctx, const struct lmd_jnode *n,
    struct lmd_jv *out)
{
    const struct lmd_jnode  *item;
    struct lmd_jv            k, v;

    if (n->type == LMD_JN_DICT) {
        if (lmd_jv_dict(ctx, n->n, out) != LMD_OK) {
            return LMD_ERROR;
        }
        for (item = n->list; item != NULL; item = item->next) {
            if (lmd_jinja_eval(ctx, item->a, &k) != LMD_OK) {
                goto failed;
            }
            if (lmd_jinja_eval(ctx, item->b, &v) != LMD_OK) {
                lmd_jv_unref(k);
                goto failed;
            }
            if (lmd_jdict_set(ctx, out->u.d, k, v) != LMD_OK) {
                lmd_jerr_at(ctx, item);
                goto failed;
            }
        }
        return LMD_OK;
    }

    if (lmd_jv_list(ctx, n->n, out) != LMD_OK) {
        return LMD_ERROR;
    }
    if (n->type == LMD_JN_TUPLE) {
        out->flags = LMD_JV_TUPLE;
    }
    for (item = n->list; item != NULL; item = item->next) {
        if (lmd_jinja_eval(ctx, item, &v) != LMD_OK) {
            goto failed;
        }
        out->u.l->v[out->u.l->n++] = v;
    }
    return LMD_OK;

failed:
    lmd_jv_unref(*out);
    return LMD_ERROR;
}


/* obj[...]: an item or a slice. */
static int
lmd_jeval_getitem(struct lmd_jctx *ctx, const struct lmd_jnode *n,
    struct lmd_jv *out)
{
    const struct lmd_jnode  *sub, *part[3];
    struct lmd_jv            obj, key, bounds[3];
    const char              *hint;
    int                      rc, i;

    if (lmd_jinja_eval(ctx, n->a, &obj) != LMD_OK) {
        return LMD_ERROR;
    }
    sub = n->b;
    if (sub->type == LMD_JN_SLICE) {
        part[0] = sub->a;
        part[1] = sub->b;
        part[2] = sub->c;
        rc = LMD_OK;
        for (i = 0; i < 3; i++) {
            bounds[i] = lmd_jv_none();
            if (rc == LMD_OK && part[i] != NULL) {
                rc = lmd_jinja_eval(ctx, part[i], &bounds[i]);
            }
        }
        if (rc == LMD_OK) {
            rc = lmd_jinja_slice(ctx, obj, bounds, out);
            if (rc != LMD_OK) {
                lmd_jerr_at(ctx, n);
            }
        }
        for (i = 0; i < 3; i++) {
            lmd_jv_unref(bounds[i]);
        }
        lmd_jv_unref(obj);
        return rc;
    }

    if (lmd_jinja_eval(ctx, sub, &key) != LMD_OK) {
        lmd_jv_unref(obj);
        return LMD_ERROR;
    }
    hint = NULL;
    if (sub->type == LMD_JN_CONST && sub->value.type == LMD_JV_STR) {
        hint = sub->value.u.s->data;
    }
    rc = lmd_jinja_getitem(ctx, obj, key, hint, out);
    lmd_jv_unref(obj);
    lmd_jv_unref(key);
    return rc == LMD_OK ? LMD_OK : lmd_jerr_at(ctx, n);
}


/* callee(args), with caller= added for a call block. */
static int
lmd_jeval_call(struct lmd_jctx *ctx, const struct lmd_jnode *n,
    const struct lmd_jv *caller, struct lmd_jv *out)
{
    struct lmd_jargs  args;
    struct lmd_jv     fn;
    int               rc;

    if (lmd_jinja_eval(ctx, n->a, &fn) != LMD_OK) {
        return LMD_ERROR;
    }
    if (lmd_jeval_args(ctx, n->list, &args) != LMD_OK) {
        lmd_jv_unref(fn);
        return LMD_ERROR;
    }
    if (caller != NULL) {
        args.kwname[args.nkw] = "caller";
        args.kw[args.nkw++] = lmd_jv_ref(*caller);
    }
    rc = lmd_jinja_call(ctx, fn, &args, out);
    lmd_jargs_free(&args);
    lmd_jv_unref(fn);
    return rc == LMD_OK ? LMD_OK : lmd_jerr_at(ctx, n);
}


/* a == b < c: each pair compared, stopping at the first false. */
static int
lmd_jeval_compare(struct lmd_jctx *ctx, const struct lmd_jnode *n,
    struct lmd_jv *out)
{
    const struct lmd_jnode  *op;
    struct lmd_jv            left, right, res;

    if (lmd_jinja_eval(ctx, n->a, &left) != LMD_OK) {
        return LMD_ERROR;
    }
    res = lmd_jv_bool(1);
    for (op = n->list; op != NULL; op = op->next) {
        if (lmd_jinja_eval(ctx, op->a, &right) != LMD_OK) {
            lmd_jv_unref(left);
            return LMD_ERROR;
        }
        if (lmd_jinja_binop(ctx, op->op, left, right, &res) != LMD_OK) {
            lmd_jv_unref(left);
            lmd_jv_unref(right);
            return lmd_jerr_at(ctx, op);
        }
        lmd_jv_unref(left);
        left = right;
        if (!lmd_jv_truthy(res)) {
            break;
        }
    }
    lmd_jv_unref(left);
    *out = res;
    return LMD_OK;
}


/* a ~ b ~ c: str() of each, joined. */
static int
lmd_jeval_concat(struct lmd_jctx *ctx, const struct lmd_jnode *n,
    struct lmd_jv *out)
{
    const struct lmd_jnode  *item;
    struct lmd_jbuf          b;
    struct lmd_jv            v;
    int                      rc;

    memset(&b, 0, sizeof(b));
    rc = lmd_jbuf_add(ctx, &b, "", 0);
    for (item = n->list; rc == LMD_OK && item != NULL; item = item->next) {
        if (lmd_jinja_eval(ctx, item, &v) != LMD_OK) {
            free(b.data);
            return LMD_ERROR;
        }
        rc = lmd_jv_write(ctx, &b, v);
        lmd_jv_unref(v);
    }
    if (rc != LMD_OK) {
        free(b.data);
        return lmd_jerr_at(ctx, n);
    }
    return lmd_jbuf_take(ctx, &b, out);
}


static int
lmd_jeval_test(struct lmd_jctx *ctx, const struct lmd_jnode *n,
    struct lmd_jv *out)
{
    struct lmd_jargs  args;
    struct lmd_jv     in;
    int               rc, r;

    if (lmd_jinja_eval(ctx, n->a, &in) != LMD_OK) {
        return LMD_ERROR;
    }
    if (lmd_jeval_args(ctx, n->list, &args) != LMD_OK) {
        lmd_jv_unref(in);
        return LMD_ERROR;
    }
    rc = lmd_jinja_test(ctx, n->op, in, &args, &r);
    lmd_jargs_free(&args);
    lmd_jv_unref(in);
    if (rc != LMD_OK) {
        return lmd_jerr_at(ctx, n);
    }
    *out = lmd_jv_bool(r);
    return LMD_OK;
}


static int
lmd_jeval_binary(struct lmd_jctx *ctx, const struct lmd_jnode *n,
    struct lmd_jv *out)
{
    struct lmd_jv  a, b;
    int            rc;

    if (lmd_jinja_eval(ctx, n->a, &a) != LMD_OK) {
        return LMD_ERROR;
    }
    if (n->type == LMD_JN_AND || n->type == LMD_JN_OR) {
        /* Python returns the deciding operand itself */
        if (lmd_jv_truthy(a) == (n->type == LMD_JN_OR)) {
            *out = a;
            return LMD_OK;
        }
        lmd_jv_unref(a);
        return lmd_jinja_eval(ctx, n->b, out);
    }
    if (lmd_jinja_eval(ctx, n->b, &b) != LMD_OK) {
        lmd_jv_unref(a);
        return LMD_ERROR;
    }
    rc = lmd_jinja_binop(ctx, n->op, a, b, out);
    lmd_jv_unref(a);
    lmd_jv_unref(b);
    return rc == LMD_OK ? LMD_OK : lmd_jerr_at(ctx, n);
}


int
lmd_jinja_eval(struct lmd_jctx *ctx, const struct lmd_jnode *n,
    struct lmd_jv *out)
{
    struct lmd_jv  a;
    int            rc;

    switch (n->type) {

    case LMD_JN_CONST:
        *out = n->value;            /* immortal or immediate */
        return LMD_OK;

    case LMD_JN_NAME:
        return lmd_jeval_name(ctx, n, out);

    case LMD_JN_LIST:
    case LMD_JN_TUPLE:
    case LMD_JN_DICT:
        return lmd_jeval_items(ctx, n, out);

    case LMD_JN_GETATTR:
        if (lmd_jinja_eval(ctx, n->a, &a) != LMD_OK) {
            return LMD_ERROR;
        }
        rc = lmd_jinja_getattr(ctx, a, n->name, out);
        lmd_jv_unref(a);
        return rc == LMD_OK ? LMD_OK : lmd_jerr_at(ctx, n);

    case LMD_JN_GETITEM:
        return lmd_jeval_getitem(ctx, n, out);

    case LMD_JN_CALL:
        return lmd_jeval_call(ctx, n, NULL, out);

    case LMD_JN_FILTER:
        return lmd_jeval_filter(ctx, n, NULL, out);

    case LMD_JN_TEST:
        return lmd_jeval_test(ctx, n, out);

    case LMD_JN_BINOP:
    case LMD_JN_AND:
    case LMD_JN_OR:
        return lmd_jeval_binary(ctx, n, out);

    case LMD_JN_UNARY:
        if (lmd_jinja_eval(ctx, n->a, &a) != LMD_OK) {
            return LMD_ERROR;
        }
        rc = lmd_jinja_unop(ctx, n->op, a, out);
        lmd_jv_unref(a);
        return rc == LMD_OK ? LMD_OK : lmd_jerr_at(ctx, n);

    case LMD_JN_COMPARE:
        return lmd_jeval_compare(ctx, n, out);

    case LMD_JN_CONCAT:
        return lmd_jeval_concat(ctx, n, out);

    case LMD_JN_COND:
        if (lmd_jinja_eval(ctx, n->b, &a) != LMD_OK) {
            return LMD_ERROR;
        }
        rc = lmd_jv_truthy(a);
        lmd_jv_unref(a);
        if (rc) {
            return lmd_jinja_eval(ctx, n->a, out);
        }
        if (n->c != NULL) {
            return lmd_jinja_eval(ctx, n->c, out);
        }
        *out = lmd_jv_hint("the inline if-expression evaluated to false "
                           "and has no else section");
        return LMD_OK;

    default:
        lmd_jerr(ctx, "internal error: node %d is not an expression",
                 n->type);
        return lmd_jerr_at(ctx, n);
    }
}


/* A filter chain; a NULL innermost input (filter and set blocks) is
 * *input. */
static int
lmd_jeval_filter(struct lmd_jctx *ctx, const struct lmd_jnode *n,
    const struct lmd_jv *input, struct lmd_jv *out)
{
    struct lmd_jargs  args;
    struct lmd_jv     in;
    int               rc;

    if (n->a == NULL) {
        in = lmd_jv_ref(*input);
    } else if (n->a->type == LMD_JN_FILTER && input != NULL) {
        rc = lmd_jeval_filter(ctx, n->a, input, &in);
        if (rc != LMD_OK) {
            return LMD_ERROR;
        }
    } else if (lmd_jinja_eval(ctx, n->a, &in) != LMD_OK) {
        return LMD_ERROR;
    }
    if (lmd_jeval_args(ctx, n->list, &args) != LMD_OK) {
        lmd_jv_unref(in);
        return LMD_ERROR;
    }
    rc = lmd_jinja_filter(ctx, n->op, in, &args, out);
    lmd_jargs_free(&args);
    lmd_jv_unref(in);
    return rc == LMD_OK ? LMD_OK : lmd_jerr_at(ctx, n);
}


/* ------------------------------------------------------------------------
 * Calls
 * ------------------------------------------------------------------------ */

/* A macro (or a call block's caller): arguments bound to the parameters,
 * defaults evaluated in the new scope, the body's output returned. */
static int
lmd_jcall_macro(struct lmd_jctx *ctx, const struct lmd_jfunc *f,
    const struct lmd_jargs *args, struct lmd_jv *out)
{
    const struct lmd_jnode  *def, *param;
    struct lmd_jscope       *scope, *saved;
    struct lmd_jbuf          buf, *saved_out;
    struct lmd_jv            v;
    const char              *name;
    size_t                   i, k;
    int                      rc, found;

    def = f->node;
    name = f->kind == LMD_JF_MACRO ? def->name : "caller";
    if (ctx->calls >= LMD_JINJA_MAX_CALLS) {
        return lmd_jerr(ctx, "macro calls nested deeper than %d",
                        LMD_JINJA_MAX_CALLS);
    }
    if (args->n > def->n2) {
        return lmd_jerr(ctx, "macro '%s' takes not more than %zu "
                        "argument(s)", name, def->n2);
    }
    scope = lmd_jscope_new(ctx, f->scope);
    if (scope == NULL) {
        return LMD_ERROR;
    }
    saved = ctx->scope;
    saved_out = ctx->out;
    ctx->scope = scope;
    rc = LMD_OK;

    for (i = 0, param = def->list2; rc == LMD_OK && param != NULL;
         i++, param = param->next)
    {
        found = 0;
        if (i < args->n) {
            v = lmd_jv_ref(args->v[i]);
            found = 1;
        }
        for (k = 0; k < args->nkw; k++) {
            if (strcmp(args->kwname[k], param->name) == 0) {
                if (found) {
                    lmd_jv_unref(v);
                    rc = lmd_jerr(ctx, "macro '%s' got multiple values for "
                                  "argument '%s'", name, param->name);
                    break;
                }
                v = lmd_jv_ref(args->kw[k]);
                found = 1;
            }
        }
        if (rc != LMD_OK) {
            break;
        }
        if (!found) {
            if (param->type == LMD_JN_KWARG) {
                rc = lmd_jinja_eval(ctx, param->a, &v);
                if (rc != LMD_OK) {
                    break;
                }
            } else {
                v = lmd_jv_undef(param->name, NULL);
            }
        }
        rc = lmd_jscope_set(ctx, scope, param->name, v);
    }

    /* keywords that name no parameter: only caller= is known */
    for (k = 0; rc == LMD_OK && k < args->nkw; k++) {
        for (param = def->list2; param != NULL; param = param->next) {
            if (strcmp(args->kwname[k], param->name) == 0) {
                break;
            }
        }
        if (param != NULL) {
            continue;
        }
        if (strcmp(args->kwname[k], "caller") == 0) {
            rc = lmd_jscope_set(ctx, scope, "caller",
                                lmd_jv_ref(args->kw[k]));
            continue;
        }
        rc = lmd_jerr(ctx, "macro '%s' takes no keyword argument '%s'",
                      name, args->kwname[k]);
    }

    memset(&buf, 0, sizeof(buf));
    if (rc == LMD_OK) {
        rc = lmd_jbuf_add(ctx, &buf, "", 0);
    }
    if (rc == LMD_OK) {
        ctx->out = &buf;
        ctx->calls++;
        rc = lmd_jinja_exec(ctx, def->list);
        ctx->calls--;
    }
    ctx->scope = saved;
    ctx->out = saved_out;
    lmd_jscope_clear(scope);
    lmd_jscope_unref(scope);
    if (rc != LMD_OK) {
        free(buf.data);
        return LMD_ERROR;
    }
    return lmd_jbuf_take(ctx, &buf, out);
}


int
lmd_jinja_call(struct lmd_jctx *ctx, struct lmd_jv fn,
    const struct lmd_jargs *args, struct lmd_jv *out)
{
    const struct lmd_jloop  *lp;
    char                     msg[LMD_ERR_LEN];

    if (fn.type == LMD_JV_UNDEF) {
        lmd_jv_undef_message(fn, msg, sizeof(msg));
        return lmd_jerr(ctx, "%s", msg);
    }
    if (fn.type != LMD_JV_FUNC) {
        return lmd_jerr(ctx, "'%s' object is not callable",
                        lmd_jv_type_name(fn));
    }
    switch (fn.u.fn->kind) {
    case LMD_JF_GLOBAL:
        return lmd_jinja_global_call(ctx, fn.u.fn, args, out);
    case LMD_JF_METHOD:
        return lmd_jinja_method_call(ctx, fn.u.fn, args, out);
    case LMD_JF_MACRO:
    case LMD_JF_CALLER:
        return lmd_jcall_macro(ctx, fn.u.fn, args, out);
    case LMD_JF_CYCLE:
        if (args->nkw > 0 || args->n == 0) {
            return lmd_jerr(ctx, "loop.cycle() needs one or more positional "
                            "arguments");
        }
        lp = fn.u.fn->self.u.loop;
        *out = lmd_jv_ref(args->v[lp->i % args->n]);
        return LMD_OK;
    default:
        return lmd_jerr(ctx, "internal error: bad function");
    }
}


/* ------------------------------------------------------------------------
 * Statements
 * ------------------------------------------------------------------------ */

/* Binds value to a target: a name, a namespace attribute, or a tuple of
 * targets unpacking an iterable.  Takes the value's reference. */
static int
lmd_jassign(struct lmd_jctx *ctx, const struct lmd_jnode *target,
    struct lmd_jv value)
{
    const struct lmd_jnode  *t;
    const struct lmd_jv     *ns;
    struct lmd_jv            items, key;
    size_t                   i;
    int                      rc;

    switch (target->type) {

    case LMD_JN_NAME:
        return lmd_jscope_set(ctx, ctx->scope, target->name, value);

    case LMD_JN_NSREF:
        ns = lmd_jscope_get(ctx->scope, target->name);
        if (ns == NULL || ns->type != LMD_JV_NS) {
            lmd_jv_unref(value);
            lmd_jerr(ctx, "cannot assign attribute on non-namespace object");
            return lmd_jerr_at(ctx, target);
        }
        if (lmd_jv_str(ctx, target->name2, strlen(target->name2), &key)
            != LMD_OK)
        {
            lmd_jv_unref(value);
            return LMD_ERROR;
        }
        return lmd_jdict_set(ctx, ns->u.d, key, value);

    default:
        break;
    }

    rc = lmd_jv_iterate(ctx, value, &items);
    lmd_jv_unref(value);
    if (rc != LMD_OK) {
        return lmd_jerr_at(ctx, target);
    }
    if (items.u.l->n != target->n) {
        if (items.u.l->n > target->n) {
            lmd_jerr(ctx, "too many values to unpack (expected %zu)",
                     target->n);
        } else {
            lmd_jerr(ctx, "not enough values to unpack (expected %zu, got "
                     "%zu)", target->n, items.u.l->n);
        }
        lmd_jv_unref(items);
        return lmd_jerr_at(ctx, target);
    }
    rc = LMD_OK;
    for (i = 0, t = target->list; rc == LMD_OK && t != NULL;
         i++, t = t->next)
    {
        rc = lmd_jassign(ctx, t, lmd_jv_ref(items.u.l->v[i]));
    }
    lmd_jv_unref(items);
    return rc;
}


static int
lmd_jexec_for(struct lmd_jctx *ctx, const struct lmd_jnode *n)
{
    struct lmd_jscope  *outer, *scope;
    struct lmd_jloop   *lp;
    struct lmd_jv       it, items, kept, loopv, test;
    size_t              i;
    int                 rc, ok;

    if (lmd_jinja_eval(ctx, n->b, &it) != LMD_OK) {
        return LMD_ERROR;
    }
    rc = lmd_jv_iterate(ctx, it, &items);
    lmd_jv_unref(it);
    if (rc != LMD_OK) {
        return lmd_jerr_at(ctx, n->b);
    }
    outer = ctx->scope;

    /* the loop filter ("for x in xs if x.ok") runs before the loop, so
     * loop.length and loop.last count only what it keeps */
    if (n->c != NULL) {
        if (lmd_jv_list(ctx, 0, &kept) != LMD_OK) {
            lmd_jv_unref(items);
            return LMD_ERROR;
        }
        for (i = 0; i < items.u.l->n; i++) {
            scope = lmd_jscope_new(ctx, outer);
            rc = scope ? lmd_jinja_tick(ctx) : LMD_ERROR;
            if (rc == LMD_OK) {
                ctx->scope = scope;
                rc = lmd_jassign(ctx, n->a, lmd_jv_ref(items.u.l->v[i]));
                if (rc == LMD_OK) {
                    rc = lmd_jinja_eval(ctx, n->c, &test);
                }
                ctx->scope = outer;
                lmd_jscope_clear(scope);
                lmd_jscope_unref(scope);
            }
            if (rc != LMD_OK) {
                lmd_jv_unref(kept);
                lmd_jv_unref(items);
                return lmd_jerr_at(ctx, n);
            }
            ok = lmd_jv_truthy(test);
            lmd_jv_unref(test);
            if (ok && lmd_jlist_push(ctx, kept.u.l,
                                     lmd_jv_ref(items.u.l->v[i])) != LMD_OK)
            {
                lmd_jv_unref(kept);
                lmd_jv_unref(items);
                return lmd_jerr_at(ctx, n);
            }
        }
        lmd_jv_unref(items);
        items = kept;
    }

    if (items.u.l->n == 0) {
        lmd_jv_unref(items);
        return n->list2 ? lmd_jexec_scoped(ctx, n->list2, outer, NULL)
                        : LMD_OK;
    }

    lp = calloc(1, sizeof(*lp));
    if (lp == NULL) {
        lmd_jv_unref(items);
        lmd_jerr_oom(ctx);
        return lmd_jerr_at(ctx, n);
    }
    lp->hdr.refs = 1;
    lp->items = items;                  /* the loop owns it now */
    items.flags = 0;
    lp->items.flags = 0;
    memset(&loopv, 0, sizeof(loopv));
    loopv.type = LMD_JV_LOOP;
    loopv.u.loop = lp;

    rc = LMD_OK;
    for (i = 0; rc == LMD_OK && i < lp->items.u.l->n; i++) {
        if (lmd_jinja_tick(ctx) != LMD_OK) {
            rc = lmd_jerr_at(ctx, n);
            break;
        }
        lp->i = i;
        scope = lmd_jscope_new(ctx, outer);
        if (scope == NULL) {
            rc = lmd_jerr_at(ctx, n);
            break;
        }
        ctx->scope = scope;
        rc = lmd_jscope_set(ctx, scope, "loop", lmd_jv_ref(loopv));
        if (rc == LMD_OK) {
            rc = lmd_jassign(ctx, n->a, lmd_jv_ref(lp->items.u.l->v[i]));
        }
        if (rc == LMD_OK) {
            rc = lmd_jinja_exec(ctx, n->list);
        }
        ctx->scope = outer;
        lmd_jscope_clear(scope);
        lmd_jscope_unref(scope);
        if (ctx->ctl == LMD_JCTL_BREAK) {
            ctx->ctl = 0;
            break;
        }
        ctx->ctl = 0;
    }
    lmd_jv_unref(loopv);
    return rc;
}


static int
lmd_jexec_output(struct lmd_jctx *ctx, const struct lmd_jnode *n)
{
    const struct lmd_jnode  *e;
    struct lmd_jv            v;
    int                      rc;

    for (e = n->list; e != NULL; e = e->next) {
        if (lmd_jinja_eval(ctx, e, &v) != LMD_OK) {
            return LMD_ERROR;
        }
        rc = lmd_jv_write(ctx, ctx->out, v);
        lmd_jv_unref(v);
        if (rc != LMD_OK) {
            return lmd_jerr_at(ctx, e);
        }
    }
    return LMD_OK;
}


/* set and filter blocks: the body rendered in its own scope, then run
 * through the filter chain (if any). */
static int
lmd_jexec_capture(struct lmd_jctx *ctx, const struct lmd_jnode *n,
    struct lmd_jv *out)
{
    struct lmd_jbuf  buf;
    struct lmd_jv    body;
    int              rc;

    memset(&buf, 0, sizeof(buf));
    if (lmd_jbuf_add(ctx, &buf, "", 0) != LMD_OK
        || lmd_jexec_scoped(ctx, n->list, ctx->scope, &buf) != LMD_OK
        || lmd_jbuf_take(ctx, &buf, &body) != LMD_OK)
    {
        free(buf.data);
        return lmd_jerr_at(ctx, n);
    }
    if (n->b == NULL) {
        *out = body;
        return LMD_OK;
    }
    rc = lmd_jeval_filter(ctx, n->b, &body, out);
    lmd_jv_unref(body);
    return rc;
}


static int
lmd_jexec_def(struct lmd_jctx *ctx, const struct lmd_jnode *n)
{
    struct lmd_jfunc  *f;
    struct lmd_jv      v, res;
    int                rc;

    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        lmd_jerr_oom(ctx);
        return lmd_jerr_at(ctx, n);
    }
    f->hdr.refs = 1;
    f->kind = n->type == LMD_JN_MACRO ? LMD_JF_MACRO : LMD_JF_CALLER;
    f->name = n->type == LMD_JN_MACRO ? n->name : "caller";
    f->node = n;
    f->scope = ctx->scope;
    ctx->scope->refs++;
    memset(&v, 0, sizeof(v));
    v.type = LMD_JV_FUNC;
    v.u.fn = f;
    if (n->type == LMD_JN_MACRO) {
        return lmd_jscope_set(ctx, ctx->scope, n->name, v);
    }
    rc = lmd_jeval_call(ctx, n->a, &v, &res);
    lmd_jv_unref(v);
    if (rc != LMD_OK) {
        return LMD_ERROR;
    }
    rc = lmd_jv_write(ctx, ctx->out, res);
    lmd_jv_unref(res);
    return rc == LMD_OK ? LMD_OK : lmd_jerr_at(ctx, n);
}


static int
lmd_jexec_with(struct lmd_jctx *ctx, const struct lmd_jnode *n)
{
    const struct lmd_jnode  *kw;
    struct lmd_jscope       *scope, *saved;
    struct lmd_jv            v;
    int                      rc;

    scope = lmd_jscope_new(ctx, ctx->scope);
    if (scope == NULL) {
        return lmd_jerr_at(ctx, n);
    }
    rc = LMD_OK;
    /* the values are computed outside, as jinja2 does */
    for (kw = n->list2; rc == LMD_OK && kw != NULL; kw = kw->next) {
        rc = lmd_jinja_eval(ctx, kw->a, &v);
        if (rc == LMD_OK) {
            rc = lmd_jscope_set(ctx, scope, kw->name, v);
        }
    }
    if (rc == LMD_OK) {
        saved = ctx->scope;
        ctx->scope = scope;
        rc = lmd_jinja_exec(ctx, n->list);
        ctx->scope = saved;
    }
    lmd_jscope_clear(scope);
    lmd_jscope_unref(scope);
    return rc;
}


int
lmd_jinja_exec(struct lmd_jctx *ctx, const struct lmd_jnode *body)
{
    const struct lmd_jnode  *n;
    struct lmd_jv            v, res;
    int                      rc;

    for (n = body; n != NULL && ctx->ctl == 0; n = n->next) {
        switch (n->type) {

        case LMD_JN_TEXT:
            rc = lmd_jbuf_add(ctx, ctx->out, n->value.u.s->data,
                              n->value.u.s->len);
            if (rc != LMD_OK) {
                return lmd_jerr_at(ctx, n);
            }
            break;

        case LMD_JN_OUTPUT:
            rc = lmd_jexec_output(ctx, n);
            break;

        case LMD_JN_IF:
            if (lmd_jinja_eval(ctx, n->a, &v) != LMD_OK) {
                return LMD_ERROR;
            }
            rc = lmd_jv_truthy(v);
            lmd_jv_unref(v);
            rc = lmd_jinja_exec(ctx, rc ? n->list : n->list2);
            break;

        case LMD_JN_FOR:
            rc = lmd_jexec_for(ctx, n);
            break;

        case LMD_JN_SET:
            rc = lmd_jinja_eval(ctx, n->b, &v);
            if (rc == LMD_OK) {
                rc = lmd_jassign(ctx, n->a, v);
            }
            break;

        case LMD_JN_SETBLOCK:
            rc = lmd_jexec_capture(ctx, n, &v);
            if (rc == LMD_OK) {
                rc = lmd_jassign(ctx, n->a, v);
            }
            break;

        case LMD_JN_FILTERBLOCK:
            rc = lmd_jexec_capture(ctx, n, &res);
            if (rc == LMD_OK) {
                rc = lmd_jv_write(ctx, ctx->out, res);
                lmd_jv_unref(res);
                if (rc != LMD_OK) {
                    lmd_jerr_at(ctx, n);
                }
            }
            break;

        case LMD_JN_MACRO:
        case LMD_JN_CALLBLOCK:
            rc = lmd_jexec_def(ctx, n);
            break;

        case LMD_JN_WITH:
            rc = lmd_jexec_with(ctx, n);
            break;

        case LMD_JN_SCOPE:
            rc = lmd_jexec_scoped(ctx, n->list, ctx->scope, NULL);
            break;

        case LMD_JN_BREAK:
            ctx->ctl = LMD_JCTL_BREAK;
            return LMD_OK;

        case LMD_JN_CONTINUE:
            ctx->ctl = LMD_JCTL_CONTINUE;
            return LMD_OK;

        default:
            lmd_jerr(ctx, "internal error: node %d is not a statement",
                     n->type);
            return lmd_jerr_at(ctx, n);
        }
        if (rc != LMD_OK) {
            return lmd_jerr_at(ctx, n);
        }
    }
    return LMD_OK;
}


/* ------------------------------------------------------------------------
 * The render's namespaces
 * ------------------------------------------------------------------------ */

int
lmd_jctx_track_ns(struct lmd_jctx *ctx, struct lmd_jdict *d)
{
    struct lmd_jdict  **v;
    size_t              cap;

    if (ctx->nns == ctx->capns) {
        cap = ctx->capns ? ctx->capns * 2 : 8;
        v = realloc(ctx->nss, cap * sizeof(*v));
        if (v == NULL) {
            return lmd_jerr_oom(ctx);
        }
        ctx->nss = v;
        ctx->capns = cap;
    }
    d->hdr.refs++;
    ctx->nss[ctx->nns++] = d;
    return LMD_OK;
}


/* Ends a render: empties every namespace it made (breaking any cycle
 * through them), then drops the render's references. */
void
lmd_jctx_release(struct lmd_jctx *ctx)
{
    struct lmd_jv  v;
    size_t         i, k;

    for (i = 0; i < ctx->nns; i++) {
        for (k = 0; k < ctx->nss[i]->n; k++) {
            lmd_jv_unref(ctx->nss[i]->k[k]);
            lmd_jv_unref(ctx->nss[i]->v[k]);
        }
        ctx->nss[i]->n = 0;
    }
    for (i = 0; i < ctx->nns; i++) {
        memset(&v, 0, sizeof(v));
        v.type = LMD_JV_NS;
        v.u.d = ctx->nss[i];
        lmd_jv_unref(v);
    }
    free(ctx->nss);
    ctx->nss = NULL;
    ctx->nns = 0;
    ctx->capns = 0;
}
