/*
 * lmd_kv_cache.h -- the paged KV cache's bookkeeping: which of the
 * engine's n_blocks blocks are free, which belong to running sequences,
 * and which hold a reusable prompt prefix (the prefix cache).
 *
 * The engine module owns the block memory (kv_init); this only hands out
 * block numbers.  A block is in one of three states:
 *
 *   free       on the free list, holds nothing useful;
 *   used       referenced by one or more sequences (refs > 0);
 *   cached     refs == 0 but registered in the prefix cache: its KV is
 *              that of a known token prefix, so a later request with the
 *              same prefix can reuse it.  Cached blocks are evicted, least
 *              recently used first, when the free list runs out.
 *
 * Prefix identity: a full block is keyed by a hash chain, h_i = H(h_{i-1},
 * the block's block_size token ids), so block i only matches when every
 * token before it matched too.  The ids and the parent key are stored and
 * compared on lookup, so a hash collision cannot hand out wrong KV for
 * the block itself; the hash is seeded at random per cache, so equal
 * keys for different earlier prefixes are a 2^-64 chance, not something
 * a client can craft.  Only full blocks are ever shared, and a shared
 * block is never written again (a sequence writes only blocks it
 * allocated itself), so no copy on write is needed.
 *
 * Engine thread only: no locking.
 */

#ifndef LMD_KV_CACHE_H
#define LMD_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define LMD_KVC_NONE    UINT32_MAX      /* no block */

struct lmd_kvc;

struct lmd_kvc_stats {
    uint32_t    n_blocks;
    uint32_t    block_size;
    uint32_t    free;           /* on the free list */
    uint32_t    used;           /* refs > 0 */
    uint32_t    cached;         /* refs == 0, holding a prefix */
    uint64_t    lookups;        /* lmd_kvc_match calls */
    uint64_t    query_tokens;   /* tokens asked about by lmd_kvc_match
                                   (its n, the whole prompt) */
    uint64_t    hit_tokens;     /* tokens it found cached */
    uint64_t    evictions;      /* cached blocks reclaimed */
    uint64_t    misuse;         /* caller bugs ignored: releasing or
                                   committing a block with refs 0, or a
                                   block number out of range */
};

/* n_blocks blocks of block_size tokens; prefix_cache 0 turns matching and
 * registration off (blocks go straight back to the free list).  NULL when
 * out of memory, or when n_blocks or block_size is 0 (or n_blocks is
 * LMD_KVC_NONE). */
struct lmd_kvc *lmd_kvc_create(uint32_t n_blocks, uint32_t block_size,
    int prefix_cache);
void lmd_kvc_free(struct lmd_kvc *c);

/* The longest cached prefix of tokens[0 .. n) in whole blocks, at most
 * max_tokens tokens long (callers pass n - 1 so that at least one token
 * is left to compute logits from).  Takes a reference on each matched
 * block (a cached one becomes used), writes their numbers to blocks[]
 * (room for max_tokens / block_size), their chain keys to keys[] (may be
 * NULL), and returns how many blocks matched. */
uint32_t lmd_kvc_match(struct lmd_kvc *c, const int32_t *tokens, uint32_t n,
    uint32_t max_tokens, uint32_t *blocks, uint64_t *keys);

/* A block for new tokens, with one reference: from the free list, else by
 * evicting the least recently used cached block.  LMD_KVC_NONE when every
 * block is used. */
uint32_t lmd_kvc_alloc(struct lmd_kvc *c);

/* How many lmd_kvc_alloc calls would succeed now (free + cached). */
uint32_t lmd_kvc_available(const struct lmd_kvc *c);

/* Block `block` (allocated by the caller, refs 1) now holds the KV of
 * tokens[0 .. block_size) following the prefix whose chain key is
 * parent (0 for the first block).  Registers it in the prefix cache
 * (unless an identical block is registered already, or the cache is
 * off) and returns its chain key, which the next block's commit takes
 * as parent. */
uint64_t lmd_kvc_commit(struct lmd_kvc *c, uint32_t block, uint64_t parent,
    const int32_t *tokens);

/* Drops one reference on each of blocks[0 .. n).  A block left with none
 * becomes cached (most recently used) if registered, else free.  A block
 * that has no reference is left alone and counted in stats.misuse. */
void lmd_kvc_release(struct lmd_kvc *c, const uint32_t *blocks, uint32_t n);

/* Forgets every cached prefix (the blocks become free); used blocks stay
 * used but are unregistered.  The stats counters keep counting.  For
 * kv_init again and for tests. */
void lmd_kvc_reset(struct lmd_kvc *c);

void lmd_kvc_stats(const struct lmd_kvc *c, struct lmd_kvc_stats *st);

#endif /* LMD_KV_CACHE_H */
