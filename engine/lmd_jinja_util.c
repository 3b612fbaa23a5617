/*
 * lmd_jinja_util.c -- the interpreter's plumbing: error messages with
 * positions, output buffers under the size limit, and the arena that holds
 * a parsed template's nodes and constants.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmd_jinja.h"

#define LMD_JARENA_CHUNK  (16u << 10)

struct lmd_jchunk {
    struct lmd_jchunk   *next;
    size_t               used;
    size_t               size;
    max_align_t          data[];
};


/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

/* Records the message of the first failure; later ones are consequences
 * of it.  Returns LMD_ERROR. */
int
lmd_jerr(struct lmd_jctx *ctx, const char *fmt, ...)
{
    va_list  ap;

    if (ctx->failed) {
        return LMD_ERROR;
    }
    ctx->failed = 1;
    va_start(ap, fmt);
    vsnprintf(ctx->msg, sizeof(ctx->msg), fmt, ap);
    va_end(ap);
    return LMD_ERROR;
}


/* Stamps the node's position on the failure unless an inner node did. */
int
lmd_jerr_at(struct lmd_jctx *ctx, const struct lmd_jnode *n)
{
    if (!ctx->failed) {
        lmd_jerr(ctx, "internal error: failure without a message");
    }
    if (ctx->line == 0 && n != NULL) {
        ctx->line = n->line;
        ctx->col = n->col;
    }
    return LMD_ERROR;
}


int
lmd_jerr_oom(struct lmd_jctx *ctx)
{
    return lmd_jerr(ctx, "out of memory");
}


/* ------------------------------------------------------------------------
 * Buffers
 * ------------------------------------------------------------------------ */

int
lmd_jbuf_add(struct lmd_jctx *ctx, struct lmd_jbuf *b, const char *s,
    size_t n)
{
    size_t  cap;
    char   *p;

    if (n > LMD_JINJA_MAX_OUTPUT || b->len + n > LMD_JINJA_MAX_OUTPUT) {
        return lmd_jerr(ctx, "the output would exceed %u MiB",
                        LMD_JINJA_MAX_OUTPUT >> 20);
    }
    if (b->len + n + 1 > b->cap) {
        cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        p = realloc(b->data, cap);
        if (p == NULL) {
            return lmd_jerr_oom(ctx);
        }
        b->data = p;
        b->cap = cap;
    }
    if (n > 0) {
        memcpy(b->data + b->len, s, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return LMD_OK;
}


int
lmd_jbuf_addc(struct lmd_jctx *ctx, struct lmd_jbuf *b, char c)
{
    return lmd_jbuf_add(ctx, b, &c, 1);
}


int
lmd_jbuf_printf(struct lmd_jctx *ctx, struct lmd_jbuf *b, const char *fmt,
    ...)
{
    va_list  ap;
    char     tmp[128];
    int      n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= sizeof(tmp)) {
        return lmd_jerr(ctx, "internal error: formatted text too long");
    }
    return lmd_jbuf_add(ctx, b, tmp, (size_t) n);
}


int
lmd_jbuf_take(struct lmd_jctx *ctx, struct lmd_jbuf *b, struct lmd_jv *out)
{
    int  rc;

    rc = lmd_jv_str(ctx, b->data ? b->data : "", b->len, out);
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return rc;
}


/* ------------------------------------------------------------------------
 * Arena
 * ------------------------------------------------------------------------ */

void *
lmd_jarena_alloc(struct lmd_jarena *a, size_t size)
{
    struct lmd_jchunk  *c;
    size_t              want, align;
    void               *p;

    align = sizeof(max_align_t);
    size = (size + align - 1) / align * align;
    c = a->chunks;
    if (c == NULL || c->size - c->used < size) {
        want = size > LMD_JARENA_CHUNK ? size : LMD_JARENA_CHUNK;
        c = malloc(sizeof(struct lmd_jchunk) + want);
        if (c == NULL) {
            return NULL;
        }
        c->size = want;
        c->used = 0;
        c->next = a->chunks;
        a->chunks = c;
    }
    p = (char *) c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}


char *
lmd_jarena_strdup(struct lmd_jarena *a, const char *s, size_t len)
{
    char  *p;

    p = lmd_jarena_alloc(a, len + 1);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}


/* An immortal string the template owns (kept in a->strs for freeing:
 * strings may be large, so they are not carved from the chunks). */
struct lmd_jstr *
lmd_jarena_str(struct lmd_jarena *a, const char *s, size_t len)
{
    struct lmd_jstr   *str, **v;
    size_t             cap;

    if (a->nstrs == a->capstrs) {
        cap = a->capstrs ? a->capstrs * 2 : 32;
        v = realloc(a->strs, cap * sizeof(*v));
        if (v == NULL) {
            return NULL;
        }
        a->strs = v;
        a->capstrs = cap;
    }
    str = lmd_jstr_static(s, len);
    if (str == NULL) {
        return NULL;
    }
    a->strs[a->nstrs++] = str;
    return str;
}


void
lmd_jarena_free(struct lmd_jarena *a)
{
    struct lmd_jchunk  *c, *next;
    size_t              i;

    for (c = a->chunks; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    for (i = 0; i < a->nstrs; i++) {
        free(a->strs[i]);
    }
    free(a->strs);
    a->chunks = NULL;
    a->strs = NULL;
    a->nstrs = 0;
    a->capstrs = 0;
}
