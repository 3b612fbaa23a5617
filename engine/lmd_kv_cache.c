/*
 * lmd_kv_cache.c -- the paged KV cache's bookkeeping (lmd_kv_cache.h):
 * hands out block numbers, counts references, and keeps released blocks
 * that hold a known token prefix for reuse (the prefix cache).
 *
 * Design: everything is allocated in create, so no call but create can
 * fail or allocate.  Per block: its refs, its state, and while registered
 * its chain key, its parent's key and its block_size token ids.
 *
 *   - Free blocks sit on a stack, so a freed block is reused first (its
 *     memory is likely still warm).
 *   - Cached blocks sit on a doubly linked LRU list, oldest at the head;
 *     alloc evicts from the head, release appends at the tail.
 *   - Registered blocks (cached, or used and committed) are found by
 *     chain key in an open-addressing table with linear probing, at most
 *     half full (2 * n_blocks slots or more, a power of two), so it never
 *     grows.  Deletion shifts the following entries back instead of
 *     leaving tombstones, so probes stay short however long it runs.
 *   - A key is registered at most once: committing a block whose prefix
 *     is registered already leaves the newcomer unregistered (it goes free
 *     on release), so a lookup by key finds one block, whose parent key
 *     and token ids are then compared.
 *
 * Keys: a 64-bit hash of (parent key, token ids), seeded at random per
 * cache, so a client cannot craft two prompts with equal keys; 0 means
 * "no parent" and is never returned.  Every call is O(1) per block
 * except reset (O(n_blocks)).
 */

#include "lmd_kv_cache.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>

#include "lmd_common.h"

enum lmd_kvc_state {
    LMD_KVC_FREE = 0,           /* on the free stack */
    LMD_KVC_USED,               /* refs > 0 */
    LMD_KVC_CACHED              /* refs 0, registered, on the LRU list */
};

struct lmd_kvc_block {
    uint64_t             key;       /* chain key, while registered */
    uint64_t             parent;    /* the previous block's chain key */
    uint32_t             refs;
    uint32_t             prev;      /* LRU neighbours while cached */
    uint32_t             next;
    uint8_t              state;     /* enum lmd_kvc_state */
    uint8_t              registered;
};

struct lmd_kvc_slot {
    uint64_t             key;
    uint32_t             block;     /* LMD_KVC_NONE: empty slot */
};

struct lmd_kvc {
    uint32_t             n_blocks;
    uint32_t             block_size;
    int                  prefix_cache;
    uint64_t             seed;

    struct lmd_kvc_block *blocks;   /* [n_blocks] */
    int32_t             *tokens;    /* [n_blocks][block_size], or NULL
                                       when prefix_cache is off */
    uint32_t            *free_stack;    /* [n_blocks] */
    uint32_t             n_free;
    uint32_t             n_used;
    uint32_t             n_cached;
    uint32_t             lru_head;  /* oldest cached block */
    uint32_t             lru_tail;  /* newest cached block */

    struct lmd_kvc_slot *table;     /* [table_mask + 1], or NULL */
    size_t               table_mask;

    uint64_t             lookups;
    uint64_t             query_tokens;
    uint64_t             hit_tokens;
    uint64_t             evictions;
    uint64_t             misuse;
};


/* ------------------------------------------------------------------------
 * Chain keys
 * ------------------------------------------------------------------------ */

/* The splitmix64 finalizer: a bijection on 64 bits whose every output bit
 * depends on every input bit. */
static uint64_t
lmd_kvc_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}


/* H(parent, tokens): two token ids per round, each round a bijection of
 * the state, so two blocks differing in one id differ in the state from
 * that round on.  The odd constant keeps a zero word from being a no-op. */
static uint64_t
lmd_kvc_hash(const struct lmd_kvc *c, uint64_t parent, const int32_t *tokens)
{
    uint64_t  h, w;
    uint32_t  i, n = c->block_size;

    h = lmd_kvc_mix(parent ^ c->seed);
    for (i = 0; i + 1 < n; i += 2) {
        w = (uint64_t) (uint32_t) tokens[i]
            | (uint64_t) (uint32_t) tokens[i + 1] << 32;
        h = lmd_kvc_mix(h ^ w) + 0x9e3779b97f4a7c15ull;
    }
    if (i < n) {
        h = lmd_kvc_mix(h ^ (uint32_t) tokens[i]) + 0x9e3779b97f4a7c15ull;
    }
    h = lmd_kvc_mix(h ^ n);
    return h != 0 ? h : 1;          /* 0 is "no parent" */
}


static uint64_t
lmd_kvc_seed(const void *salt)
{
    struct timespec  ts;
    uint64_t         seed;

    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK)
        != (ssize_t) sizeof(seed))
    {
        /* No entropy yet (early boot): the clock and an address. */
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
        seed ^= (uint64_t) (uintptr_t) salt;
    }
    return seed;
}


/* ------------------------------------------------------------------------
 * The key table
 * ------------------------------------------------------------------------ */

static size_t
lmd_kvc_home(const struct lmd_kvc *c, uint64_t key)
{
    /* Keys are mixed already: fold the halves, keep the low bits. */
    return (size_t) (key ^ (key >> 32)) & c->table_mask;
}


/* The slot holding key, or the empty slot where it would go. */
static size_t
lmd_kvc_find(const struct lmd_kvc *c, uint64_t key)
{
    size_t  i = lmd_kvc_home(c, key);

    while (c->table[i].block != LMD_KVC_NONE && c->table[i].key != key) {
        i = (i + 1) & c->table_mask;
    }
    return i;
}


/* The registered block under key, or LMD_KVC_NONE. */
static uint32_t
lmd_kvc_lookup(const struct lmd_kvc *c, uint64_t key)
{
    return c->table[lmd_kvc_find(c, key)].block;
}


static void
lmd_kvc_register(struct lmd_kvc *c, uint32_t b, size_t slot)
{
    c->table[slot].key = c->blocks[b].key;
    c->table[slot].block = b;
    c->blocks[b].registered = 1;
}


/* Takes block b out of the table, shifting back the entries after it
 * that probed past its slot so that no lookup meets a hole early. */
static void
lmd_kvc_unregister(struct lmd_kvc *c, uint32_t b)
{
    size_t  i, j, h;

    i = lmd_kvc_find(c, c->blocks[b].key);
    c->blocks[b].registered = 0;
    if (c->table[i].block != b) {
        return;                     /* not there: cannot happen */
    }
    j = i;
    for ( ;; ) {
        j = (j + 1) & c->table_mask;
        if (c->table[j].block == LMD_KVC_NONE) {
            break;
        }
        h = lmd_kvc_home(c, c->table[j].key);
        /* Entry j may move to hole i when its home is not in (i, j]
         * (cyclically): then its probe passes over i. */
        if (i <= j ? (h <= i || h > j) : (h <= i && h > j)) {
            c->table[i] = c->table[j];
            i = j;
        }
    }
    c->table[i].block = LMD_KVC_NONE;
    c->table[i].key = 0;
}


/* ------------------------------------------------------------------------
 * The LRU list of cached blocks
 * ------------------------------------------------------------------------ */

static void
lmd_kvc_lru_append(struct lmd_kvc *c, uint32_t b)
{
    struct lmd_kvc_block  *blk = &c->blocks[b];

    blk->prev = c->lru_tail;
    blk->next = LMD_KVC_NONE;
    if (c->lru_tail != LMD_KVC_NONE) {
        c->blocks[c->lru_tail].next = b;
    } else {
        c->lru_head = b;
    }
    c->lru_tail = b;
}


static void
lmd_kvc_lru_unlink(struct lmd_kvc *c, uint32_t b)
{
    struct lmd_kvc_block  *blk = &c->blocks[b];

    if (blk->prev != LMD_KVC_NONE) {
        c->blocks[blk->prev].next = blk->next;
    } else {
        c->lru_head = blk->next;
    }
    if (blk->next != LMD_KVC_NONE) {
        c->blocks[blk->next].prev = blk->prev;
    } else {
        c->lru_tail = blk->prev;
    }
    blk->prev = LMD_KVC_NONE;
    blk->next = LMD_KVC_NONE;
}


/* ------------------------------------------------------------------------
 * Create, free, reset
 * ------------------------------------------------------------------------ */

/* Every block free, the lowest numbers on top of the stack. */
static void
lmd_kvc_init_blocks(struct lmd_kvc *c)
{
    uint32_t  b;

    for (b = 0; b < c->n_blocks; b++) {
        c->blocks[b].refs = 0;
        c->blocks[b].state = LMD_KVC_FREE;
        c->blocks[b].registered = 0;
        c->blocks[b].prev = LMD_KVC_NONE;
        c->blocks[b].next = LMD_KVC_NONE;
        c->free_stack[b] = c->n_blocks - 1 - b;
    }
    c->n_free = c->n_blocks;
    c->n_used = 0;
    c->n_cached = 0;
    c->lru_head = LMD_KVC_NONE;
    c->lru_tail = LMD_KVC_NONE;
}


static void
lmd_kvc_clear_table(struct lmd_kvc *c)
{
    size_t  i;

    if (c->table == NULL) {
        return;
    }
    for (i = 0; i <= c->table_mask; i++) {
        c->table[i].key = 0;
        c->table[i].block = LMD_KVC_NONE;
    }
}


struct lmd_kvc *
lmd_kvc_create(uint32_t n_blocks, uint32_t block_size, int prefix_cache)
{
    struct lmd_kvc  *c;
    size_t           n_slots;

    /* LMD_KVC_NONE must never be a block number. */
    if (n_blocks == 0 || n_blocks >= LMD_KVC_NONE || block_size == 0) {
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->n_blocks = n_blocks;
    c->block_size = block_size;
    c->prefix_cache = prefix_cache != 0;
    c->seed = lmd_kvc_seed(c);

    c->blocks = calloc(n_blocks, sizeof(*c->blocks));
    c->free_stack = malloc(n_blocks * sizeof(*c->free_stack));
    if (c->blocks == NULL || c->free_stack == NULL) {
        goto failed;
    }

    if (c->prefix_cache) {
        if ((size_t) n_blocks > SIZE_MAX / sizeof(int32_t) / block_size) {
            goto failed;
        }
        c->tokens = malloc((size_t) n_blocks * block_size
                           * sizeof(*c->tokens));
        /* At most half full, so probes stay short. */
        for (n_slots = 16; n_slots < 2 * (size_t) n_blocks; n_slots *= 2) {
            /* void */
        }
        c->table = malloc(n_slots * sizeof(*c->table));
        if (c->tokens == NULL || c->table == NULL) {
            goto failed;
        }
        c->table_mask = n_slots - 1;
        lmd_kvc_clear_table(c);
    }

    lmd_kvc_init_blocks(c);
    return c;

failed:

    lmd_kvc_free(c);
    return NULL;
}


void
lmd_kvc_free(struct lmd_kvc *c)
{
    if (c == NULL) {
        return;
    }
    free(c->table);
    free(c->tokens);
    free(c->free_stack);
    free(c->blocks);
    free(c);
}


void
lmd_kvc_reset(struct lmd_kvc *c)
{
    struct lmd_kvc_block  *blk;
    uint32_t               b;

    /* Rebuild the free stack from scratch, lowest numbers on top, as in
     * create; used blocks keep their refs but lose their registration. */
    c->n_free = 0;
    for (b = c->n_blocks; b-- > 0; ) {
        blk = &c->blocks[b];
        blk->registered = 0;
        blk->prev = LMD_KVC_NONE;
        blk->next = LMD_KVC_NONE;
        if (blk->refs == 0) {
            blk->state = LMD_KVC_FREE;
            c->free_stack[c->n_free++] = b;
        }
    }
    c->n_cached = 0;
    c->lru_head = LMD_KVC_NONE;
    c->lru_tail = LMD_KVC_NONE;
    lmd_kvc_clear_table(c);
}


/* ------------------------------------------------------------------------
 * Match, alloc, commit, release
 * ------------------------------------------------------------------------ */

/* One more reference on block b; a cached block leaves the LRU list. */
static void
lmd_kvc_ref(struct lmd_kvc *c, uint32_t b)
{
    struct lmd_kvc_block  *blk = &c->blocks[b];

    if (blk->state == LMD_KVC_CACHED) {
        lmd_kvc_lru_unlink(c, b);
        blk->state = LMD_KVC_USED;
        c->n_cached--;
        c->n_used++;
    }
    blk->refs++;
}


uint32_t
lmd_kvc_match(struct lmd_kvc *c, const int32_t *tokens, uint32_t n,
    uint32_t max_tokens, uint32_t *blocks, uint64_t *keys)
{
    const int32_t  *t;
    uint64_t        parent, key;
    uint32_t        i, b, max_blocks, bs = c->block_size;

    c->lookups++;
    c->query_tokens += n;
    if (!c->prefix_cache) {
        return 0;
    }
    max_blocks = (max_tokens < n ? max_tokens : n) / bs;

    parent = 0;
    for (i = 0; i < max_blocks; i++) {
        t = tokens + (size_t) i * bs;
        key = lmd_kvc_hash(c, parent, t);
        b = lmd_kvc_lookup(c, key);
        /* Equal keys are not proof: compare what the block was made of. */
        if (b == LMD_KVC_NONE || c->blocks[b].parent != parent
            || memcmp(c->tokens + (size_t) b * bs, t, bs * sizeof(*t)) != 0)
        {
            break;
        }
        lmd_kvc_ref(c, b);
        blocks[i] = b;
        if (keys != NULL) {
            keys[i] = key;
        }
        parent = key;
    }
    c->hit_tokens += (uint64_t) i * bs;
    return i;
}


uint32_t
lmd_kvc_alloc(struct lmd_kvc *c)
{
    struct lmd_kvc_block  *blk;
    uint32_t               b;

    if (c->n_free > 0) {
        b = c->free_stack[--c->n_free];
    } else if (c->lru_head != LMD_KVC_NONE) {
        /* Evict the oldest cached prefix.  Blocks chained after it stay
         * registered: no match reaches them until the same prefix is
         * registered again, and till then they age out like any other. */
        b = c->lru_head;
        lmd_kvc_lru_unlink(c, b);
        lmd_kvc_unregister(c, b);
        c->n_cached--;
        c->evictions++;
    } else {
        return LMD_KVC_NONE;
    }
    blk = &c->blocks[b];
    blk->state = LMD_KVC_USED;
    blk->refs = 1;
    c->n_used++;
    return b;
}


uint32_t
lmd_kvc_available(const struct lmd_kvc *c)
{
    return c->n_free + c->n_cached;
}


uint64_t
lmd_kvc_commit(struct lmd_kvc *c, uint32_t block, uint64_t parent,
    const int32_t *tokens)
{
    struct lmd_kvc_block  *blk;
    uint64_t               key;
    size_t                 slot;

    key = lmd_kvc_hash(c, parent, tokens);
    if (block >= c->n_blocks || c->blocks[block].refs == 0) {
        c->misuse++;                /* only a held block holds new KV */
        return key;
    }
    if (!c->prefix_cache) {
        return key;
    }
    blk = &c->blocks[block];
    if (blk->registered) {
        if (blk->key == key) {
            return key;             /* committed twice: nothing new */
        }
        lmd_kvc_unregister(c, block);   /* rewritten: forget the old */
    }
    slot = lmd_kvc_find(c, key);
    if (c->table[slot].block != LMD_KVC_NONE) {
        return key;     /* the same prefix (or a collision) is cached */
    }
    blk->key = key;
    blk->parent = parent;
    memcpy(c->tokens + (size_t) block * c->block_size, tokens,
           c->block_size * sizeof(*tokens));
    lmd_kvc_register(c, block, slot);
    return key;
}


void
lmd_kvc_release(struct lmd_kvc *c, const uint32_t *blocks, uint32_t n)
{
    struct lmd_kvc_block  *blk;
    uint32_t               i, b;

    for (i = 0; i < n; i++) {
        b = blocks[i];
        /* A caller bug (a double release): counted and ignored, so the
         * lists stay sound.  Not an assert: lmd builds without NDEBUG,
         * and one bad request must not stop the daemon. */
        if (b >= c->n_blocks || c->blocks[b].refs == 0) {
            c->misuse++;
            continue;
        }
        blk = &c->blocks[b];
        if (--blk->refs > 0) {
            continue;
        }
        c->n_used--;
        if (blk->registered) {
            blk->state = LMD_KVC_CACHED;
            lmd_kvc_lru_append(c, b);
            c->n_cached++;
        } else {
            blk->state = LMD_KVC_FREE;
            c->free_stack[c->n_free++] = b;
        }
    }
}


void
lmd_kvc_stats(const struct lmd_kvc *c, struct lmd_kvc_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->n_blocks = c->n_blocks;
    st->block_size = c->block_size;
    st->free = c->n_free;
    st->used = c->n_used;
    st->cached = c->n_cached;
    st->lookups = c->lookups;
    st->query_tokens = c->query_tokens;
    st->hit_tokens = c->hit_tokens;
    st->evictions = c->evictions;
    st->misuse = c->misuse;
}
