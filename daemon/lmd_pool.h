/*
 * lmd_pool.h -- memory pools: every allocation has an owner.
 *
 * A pool hands out memory that lives until the pool is destroyed: one pool
 * per connection, one per request, one per loaded configuration.  Cleanup
 * handlers registered on a pool run (last registered first) when it is
 * destroyed, which is how file descriptors and foreign objects (cJSON trees,
 * SSL contexts) are tied to a lifetime.  Pools are not thread-safe: each
 * belongs to one thread.
 */

#ifndef LMD_POOL_H
#define LMD_POOL_H

#include <stddef.h>

struct lmd_pool;

typedef void (*lmd_cleanup_pt)(void *data);

/* Returns NULL when out of memory.  block_size is the size of the chunks
 * small allocations are carved from (0 picks 4 KiB). */
struct lmd_pool *lmd_pool_create(size_t block_size);
void             lmd_pool_destroy(struct lmd_pool *pool);

/* Memory aligned for any type; NULL when out of memory.  Large requests get
 * their own malloc and are still freed with the pool. */
void *lmd_palloc(struct lmd_pool *pool, size_t size);
void *lmd_pcalloc(struct lmd_pool *pool, size_t size);
char *lmd_pstrndup(struct lmd_pool *pool, const char *s, size_t len);
char *lmd_pstrdup(struct lmd_pool *pool, const char *s);
char *lmd_psprintf(struct lmd_pool *pool, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Registers fn(data) to run when the pool is destroyed.  Returns LMD_OK or
 * LMD_ERROR (out of memory, and then fn has NOT been registered). */
int lmd_pool_cleanup_add(struct lmd_pool *pool, lmd_cleanup_pt fn,
    void *data);

/* Bytes handed out so far (for tests and statistics). */
size_t lmd_pool_used(const struct lmd_pool *pool);

#endif /* LMD_POOL_H */
