/*
 * lmd_tok_cache.c -- the word cache: short words and their BPE ids, shared
 * by every thread that encodes with one tokenizer.
 *
 * Design: a direct-mapped table of fixed-size slots, each guarded by a
 * sequence counter (a seqlock).  A writer takes a slot by moving its
 * counter from even to odd with a compare-and-swap (a busy slot is simply
 * not written), stores, and makes it even again; a reader copies the slot
 * and keeps the copy only if the counter was even and unchanged around
 * the copy.  Every field is an atomic read and written with relaxed
 * order, fenced as a seqlock needs, so there is no data race and no lock:
 * readers never wait and never block a writer.  A collision evicts; a
 * miss costs one BPE run.  Words over LMD_TOK_CACHE_KEY bytes or with
 * more than LMD_TOK_CACHE_IDS ids are not cached.
 */

#include "lmd_tok_internal.h"

#include <stdlib.h>

#define LMD_CACHE_KEY_WORDS  (LMD_TOK_CACHE_KEY / 8)
#define LMD_CACHE_ID_WORDS   (LMD_TOK_CACHE_IDS / 2)

struct lmd_tok_cache_slot {
    _Atomic uint32_t    seq;
    _Atomic uint32_t    meta;       /* key length | ids << 8 */
    _Atomic uint64_t    hash;
    _Atomic uint64_t    key[LMD_CACHE_KEY_WORDS];
    _Atomic uint64_t    ids[LMD_CACHE_ID_WORDS];
};

struct lmd_tok_cache {
    struct lmd_tok_cache_slot  *slots;
    size_t                      mask;
};


struct lmd_tok_cache *
lmd_tok_cache_new(size_t nslots)
{
    struct lmd_tok_cache  *c;
    size_t                 size = 1;

    while (size < nslots) {
        size *= 2;
    }
    c = malloc(sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    /* zeroed memory is a valid empty slot (seq 0, length 0, hash 0 never
     * matches a word: meta 0 means "no word") */
    c->slots = calloc(size, sizeof(*c->slots));
    if (c->slots == NULL) {
        free(c);
        return NULL;
    }
    c->mask = size - 1;
    return c;
}


void
lmd_tok_cache_free(struct lmd_tok_cache *c)
{
    if (c != NULL) {
        free(c->slots);
        free(c);
    }
}


static void
lmd_cache_key(const char *w, size_t len, uint64_t *key)
{
    memset(key, 0, LMD_TOK_CACHE_KEY);
    memcpy(key, w, len);
}


int
lmd_tok_cache_get(struct lmd_tok_cache *c, const char *w, size_t len,
    uint64_t hash, int32_t *ids, size_t max)
{
    struct lmd_tok_cache_slot  *s;
    uint64_t                    key[LMD_CACHE_KEY_WORDS];
    uint64_t                    got[LMD_CACHE_ID_WORDS];
    uint32_t                    seq, meta;
    size_t                      i, n;

    if (c == NULL || len == 0 || len > LMD_TOK_CACHE_KEY) {
        return -1;
    }
    s = &c->slots[hash & c->mask];
    seq = atomic_load_explicit(&s->seq, memory_order_acquire);
    if (seq & 1) {
        return -1;
    }
    meta = atomic_load_explicit(&s->meta, memory_order_relaxed);
    if ((meta & 0xFF) != len
        || atomic_load_explicit(&s->hash, memory_order_relaxed) != hash)
    {
        return -1;
    }
    lmd_cache_key(w, len, key);
    for (i = 0; i < LMD_CACHE_KEY_WORDS; i++) {
        if (atomic_load_explicit(&s->key[i], memory_order_relaxed)
            != key[i])
        {
            return -1;
        }
    }
    n = meta >> 8;
    for (i = 0; i < (n + 1) / 2; i++) {
        got[i] = atomic_load_explicit(&s->ids[i], memory_order_relaxed);
    }
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&s->seq, memory_order_relaxed) != seq
        || n > max)
    {
        return -1;
    }
    memcpy(ids, got, n * sizeof(int32_t));
    return (int) n;
}


void
lmd_tok_cache_put(struct lmd_tok_cache *c, const char *w, size_t len,
    uint64_t hash, const int32_t *ids, size_t n)
{
    struct lmd_tok_cache_slot  *s;
    uint64_t                    key[LMD_CACHE_KEY_WORDS];
    uint64_t                    val[LMD_CACHE_ID_WORDS];
    uint32_t                    seq;
    size_t                      i;

    if (c == NULL || len == 0 || len > LMD_TOK_CACHE_KEY || n == 0
        || n > LMD_TOK_CACHE_IDS)
    {
        return;
    }
    s = &c->slots[hash & c->mask];
    seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
    if ((seq & 1)
        || !atomic_compare_exchange_strong_explicit(&s->seq, &seq, seq + 1,
                                                    memory_order_acquire,
                                                    memory_order_relaxed))
    {
        return;
    }
    atomic_thread_fence(memory_order_release);
    lmd_cache_key(w, len, key);
    memset(val, 0, sizeof(val));
    memcpy(val, ids, n * sizeof(int32_t));
    atomic_store_explicit(&s->meta, (uint32_t) (len | n << 8),
                          memory_order_relaxed);
    atomic_store_explicit(&s->hash, hash, memory_order_relaxed);
    for (i = 0; i < LMD_CACHE_KEY_WORDS; i++) {
        atomic_store_explicit(&s->key[i], key[i], memory_order_relaxed);
    }
    for (i = 0; i < LMD_CACHE_ID_WORDS; i++) {
        atomic_store_explicit(&s->ids[i], val[i], memory_order_relaxed);
    }
    atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}
