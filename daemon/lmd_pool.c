/*
 * lmd_pool.c -- region allocator with cleanup handlers.
 *
 * Small allocations are carved from a chain of blocks; anything larger than
 * a quarter block gets its own malloc, kept on a list so that destroy frees
 * it.  Nothing is freed individually: a pool lives exactly as long as its
 * owner (connection, request, configuration).
 */

#include "lmd_core.h"

#define LMD_POOL_ALIGN        16
#define LMD_POOL_DEFAULT      4096

struct lmd_pool_block {
    struct lmd_pool_block   *next;
    size_t                   size;      /* usable bytes after the header */
    size_t                   used;
    /* data follows, aligned */
};

struct lmd_pool_large {
    struct lmd_pool_large   *next;
    /* data follows, aligned */
};

struct lmd_pool_cleanup {
    struct lmd_pool_cleanup *next;
    lmd_cleanup_pt           handler;
    void                    *data;
};

struct lmd_pool {
    struct lmd_pool_block   *current;   /* the block we carve from */
    struct lmd_pool_large   *large;
    struct lmd_pool_cleanup *cleanups;
    size_t                   block_size;
    size_t                   used;
};

#define LMD_ALIGN_UP(n)                                                       \
    (((n) + LMD_POOL_ALIGN - 1) & ~((size_t) LMD_POOL_ALIGN - 1))
#define LMD_BLOCK_HDR    LMD_ALIGN_UP(sizeof(struct lmd_pool_block))
#define LMD_LARGE_HDR    LMD_ALIGN_UP(sizeof(struct lmd_pool_large))


struct lmd_pool *
lmd_pool_create(size_t block_size)
{
    struct lmd_pool  *pool;

    pool = calloc(1, sizeof(struct lmd_pool));
    if (pool == NULL) {
        return NULL;
    }
    pool->block_size = block_size ? LMD_ALIGN_UP(block_size)
                                  : LMD_POOL_DEFAULT;
    return pool;
}


void
lmd_pool_destroy(struct lmd_pool *pool)
{
    struct lmd_pool_cleanup  *c;
    struct lmd_pool_large    *l, *ln;
    struct lmd_pool_block    *b, *bn;

    if (pool == NULL) {
        return;
    }

    /* Cleanups first: they may still read pool memory. */
    while (pool->cleanups != NULL) {
        c = pool->cleanups;
        pool->cleanups = c->next;
        c->handler(c->data);
    }

    for (l = pool->large; l != NULL; l = ln) {
        ln = l->next;
        free(l);
    }
    for (b = pool->current; b != NULL; b = bn) {
        bn = b->next;
        free(b);
    }
    free(pool);
}


static void *
lmd_palloc_large(struct lmd_pool *pool, size_t size)
{
    struct lmd_pool_large  *l;

    l = malloc(LMD_LARGE_HDR + size);
    if (l == NULL) {
        return NULL;
    }
    l->next = pool->large;
    pool->large = l;
    return (char *) l + LMD_LARGE_HDR;
}


void *
lmd_palloc(struct lmd_pool *pool, size_t size)
{
    struct lmd_pool_block  *b;
    void                   *p;

    size = LMD_ALIGN_UP(size ? size : 1);
    pool->used += size;

    if (size > pool->block_size / 4) {
        return lmd_palloc_large(pool, size);
    }

    b = pool->current;
    if (b == NULL || b->size - b->used < size) {
        b = malloc(LMD_BLOCK_HDR + pool->block_size);
        if (b == NULL) {
            return NULL;
        }
        b->size = pool->block_size;
        b->used = 0;
        b->next = pool->current;
        pool->current = b;
    }

    p = (char *) b + LMD_BLOCK_HDR + b->used;
    b->used += size;
    return p;
}


void *
lmd_pcalloc(struct lmd_pool *pool, size_t size)
{
    void  *p;

    p = lmd_palloc(pool, size);
    if (p != NULL) {
        memset(p, 0, size);
    }
    return p;
}


char *
lmd_pstrndup(struct lmd_pool *pool, const char *s, size_t len)
{
    char  *p;

    p = lmd_palloc(pool, len + 1);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}


char *
lmd_pstrdup(struct lmd_pool *pool, const char *s)
{
    return lmd_pstrndup(pool, s, strlen(s));
}


char *
lmd_psprintf(struct lmd_pool *pool, const char *fmt, ...)
{
    va_list  ap;
    int      n;
    char    *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return NULL;
    }

    p = lmd_palloc(pool, (size_t) n + 1);
    if (p == NULL) {
        return NULL;
    }

    va_start(ap, fmt);
    vsnprintf(p, (size_t) n + 1, fmt, ap);
    va_end(ap);
    return p;
}


int
lmd_pool_cleanup_add(struct lmd_pool *pool, lmd_cleanup_pt fn, void *data)
{
    struct lmd_pool_cleanup  *c;

    c = lmd_palloc(pool, sizeof(struct lmd_pool_cleanup));
    if (c == NULL) {
        return LMD_ERROR;
    }
    c->handler = fn;
    c->data = data;
    c->next = pool->cleanups;
    pool->cleanups = c;
    return LMD_OK;
}


size_t
lmd_pool_used(const struct lmd_pool *pool)
{
    return pool->used;
}
