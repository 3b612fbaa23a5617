/*
 * test_kv_cache.c -- unit tests for engine/lmd_kv_cache.c, the KV block
 * manager and prefix cache.
 *
 * The small cases work out by hand which blocks must be free, used or
 * cached, what a match must find and which block an eviction must take.
 * The stress case drives the cache with thousands of random operations
 * and checks every answer against a model written here without keys or
 * lists: per block its references, whether it is registered, the whole
 * token prefix it holds and when it was last released.  The model finds
 * a prefix by comparing tokens, so a block handed out by a match is
 * checked to hold exactly the tokens asked about.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmd_kv_cache.h"
#include "lmd_test.h"


/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* The test's own generator (xorshift64). */
static uint64_t
test_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}


static struct lmd_kvc_stats
stats(const struct lmd_kvc *c)
{
    struct lmd_kvc_stats  st;

    lmd_kvc_stats(c, &st);
    return st;
}


/* True when the counts are free, used and cached, and available() agrees
 * with free + cached. */
static int
counts_are(const struct lmd_kvc *c, uint32_t f, uint32_t u, uint32_t k)
{
    struct lmd_kvc_stats  st = stats(c);

    return st.free == f && st.used == u && st.cached == k
           && lmd_kvc_available(c) == f + k
           && st.free + st.used + st.cached == st.n_blocks;
}


/* Allocates n blocks and commits them as the chain of tokens[0 ..
 * n * bs), writing their numbers and keys; returns how many it got. */
static uint32_t
fill(struct lmd_kvc *c, uint32_t bs, const int32_t *tokens, uint32_t n,
    uint32_t *blocks, uint64_t *keys)
{
    uint64_t  parent = 0;
    uint32_t  i;

    for (i = 0; i < n; i++) {
        blocks[i] = lmd_kvc_alloc(c);
        if (blocks[i] == LMD_KVC_NONE) {
            return i;
        }
        parent = lmd_kvc_commit(c, blocks[i], parent, tokens + i * bs);
        if (keys != NULL) {
            keys[i] = parent;
        }
    }
    return n;
}


/* ------------------------------------------------------------------------
 * Alloc and release
 * ------------------------------------------------------------------------ */

// Assumption: sizes of 0 are refused rather than making a cache that
// can never hand out a block.
LMD_TEST(create_refuses_zero)
{
    struct lmd_kvc  *c;

    fail_unless(lmd_kvc_create(0, 16, 1) == NULL, "0 blocks");
    fail_unless(lmd_kvc_create(8, 0, 1) == NULL, "block size 0");
    c = lmd_kvc_create(1, 1, 1);
    fail_unless(c != NULL && counts_are(c, 1, 0, 0), "1 x 1 works");
    lmd_kvc_free(c);
    lmd_kvc_free(NULL);
}


// Assumption: n_blocks allocs succeed with distinct numbers below
// n_blocks while available() counts down, then LMD_KVC_NONE.
LMD_TEST(alloc_until_exhausted)
{
    struct lmd_kvc  *c = lmd_kvc_create(8, 4, 1);
    uint8_t          seen[8] = { 0 };
    uint32_t         i, b;

    fail_unless(c != NULL, "create");
    if (c == NULL) {
        return;
    }
    fail_unless(counts_are(c, 8, 0, 0), "fresh: all free");
    for (i = 0; i < 8; i++) {
        fail_unless(lmd_kvc_available(c) == 8 - i, "available %u at %u",
                    lmd_kvc_available(c), i);
        b = lmd_kvc_alloc(c);
        fail_unless(b < 8 && !seen[b], "alloc %u gave %u", i, b);
        if (b < 8) {
            seen[b] = 1;
        }
    }
    fail_unless(lmd_kvc_available(c) == 0, "none left");
    fail_unless(lmd_kvc_alloc(c) == LMD_KVC_NONE, "exhausted");
    fail_unless(lmd_kvc_alloc(c) == LMD_KVC_NONE, "still exhausted");
    fail_unless(counts_are(c, 0, 8, 0), "all used");
    fail_unless(stats(c).evictions == 0, "nothing to evict");
    lmd_kvc_free(c);
}


// Assumption: an uncommitted block goes straight back to the free list,
// and the freed blocks can be allocated again.
LMD_TEST(release_returns_blocks)
{
    struct lmd_kvc  *c = lmd_kvc_create(4, 2, 1);
    uint32_t         b[4], again[4];
    uint32_t         i;

    if (c == NULL) {
        fail_unless(0, "create");
        return;
    }
    for (i = 0; i < 4; i++) {
        b[i] = lmd_kvc_alloc(c);
    }
    lmd_kvc_release(c, b + 1, 2);
    fail_unless(counts_are(c, 2, 2, 0), "two back");
    again[0] = lmd_kvc_alloc(c);
    again[1] = lmd_kvc_alloc(c);
    fail_unless((again[0] == b[1] || again[0] == b[2])
                && (again[1] == b[1] || again[1] == b[2])
                && again[0] != again[1], "the freed ones come back");
    fail_unless(lmd_kvc_alloc(c) == LMD_KVC_NONE, "and no more");
    lmd_kvc_release(c, again, 2);
    lmd_kvc_release(c, b, 1);
    lmd_kvc_release(c, b + 3, 1);
    fail_unless(counts_are(c, 4, 0, 0), "all free");
    fail_unless(stats(c).misuse == 0, "no misuse");
    lmd_kvc_free(c);
}


// Assumption: a committed block released by its only holder is cached,
// and cached blocks still count as available: alloc evicts them.
LMD_TEST(commit_release_caches)
{
    static const int32_t  t[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
    struct lmd_kvc       *c = lmd_kvc_create(5, 4, 1);
    uint32_t              b[5], i;
    uint64_t              k[3] = { 0 };

    if (c == NULL) {
        fail_unless(0, "create");
        return;
    }
    fail_unless(fill(c, 4, t, 3, b, k) == 3, "three blocks");
    fail_unless(k[0] != 0 && k[1] != 0 && k[2] != 0 && k[0] != k[1]
                && k[1] != k[2], "keys nonzero and distinct");
    fail_unless(counts_are(c, 2, 3, 0), "committed but held: used");
    lmd_kvc_release(c, b, 3);
    fail_unless(counts_are(c, 2, 0, 3), "released: cached");
    fail_unless(lmd_kvc_available(c) == 5, "cached count as available");
    for (i = 0; i < 5; i++) {
        fail_unless(lmd_kvc_alloc(c) != LMD_KVC_NONE, "alloc %u", i);
    }
    fail_unless(counts_are(c, 0, 5, 0), "all used");
    fail_unless(stats(c).evictions == 3, "3 evicted, got %llu",
                (unsigned long long) stats(c).evictions);
    lmd_kvc_free(c);
}


/* ------------------------------------------------------------------------
 * Match
 * ------------------------------------------------------------------------ */

// Assumption: a match takes whole blocks only, at most max_tokens (and
// n) tokens' worth, and returns the committed blocks and keys in order.
LMD_TEST(match_longest_prefix)
{
    static const int32_t  t[13] = { 5, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9 };
    struct lmd_kvc       *c = lmd_kvc_create(8, 4, 1);
    uint32_t              b[3], m[3], n, i;
    uint64_t              k[3] = { 0 }, mk[3] = { 0 };

    if (c == NULL) {
        fail_unless(0, "create");
        return;
    }
    fill(c, 4, t, 3, b, k);
    lmd_kvc_release(c, b, 3);

    n = lmd_kvc_match(c, t, 13, 12, m, mk);
    fail_unless(n == 3, "13 tokens, max 12: 3 blocks, got %u", n);
    for (i = 0; i < n && i < 3; i++) {
        fail_unless(m[i] == b[i] && mk[i] == k[i], "block %u", i);
    }
    fail_unless(counts_are(c, 5, 3, 0), "matched blocks are used");
    lmd_kvc_release(c, m, n);

    n = lmd_kvc_match(c, t, 12, 11, m, NULL);
    fail_unless(n == 2 && m[0] == b[0] && m[1] == b[1],
                "12 tokens, max 11: 2 blocks, got %u", n);
    lmd_kvc_release(c, m, n);
    n = lmd_kvc_match(c, t, 7, 100, m, NULL);
    fail_unless(n == 1 && m[0] == b[0], "7 tokens: 1 block, got %u", n);
    lmd_kvc_release(c, m, n);
    n = lmd_kvc_match(c, t, 13, 3, m, NULL);
    fail_unless(n == 0, "max 3 < a block: nothing, got %u", n);
    n = lmd_kvc_match(c, t, 0, 0, m, NULL);
    fail_unless(n == 0, "empty prompt");
    fail_unless(counts_are(c, 5, 0, 3), "all cached again");
    lmd_kvc_free(c);
}


// Assumption: a different token anywhere in block i ends the match at
// i, and a different earlier block hides the equal blocks after it.
LMD_TEST(match_stops_at_difference)
{
    static const int32_t  t[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
    struct lmd_kvc       *c = lmd_kvc_create(8, 4, 1);
    int32_t               q[12];
    uint32_t              b[3], m[3], n, pos;

    if (c == NULL) {
        fail_unless(0, "create");
        return;
    }
    fill(c, 4, t, 3, b, NULL);
    lmd_kvc_release(c, b, 3);

    for (pos = 0; pos < 12; pos++) {
        memcpy(q, t, sizeof(q));
        q[pos] = 1000 + (int32_t) pos;
        n = lmd_kvc_match(c, q, 12, 12, m, NULL);
        fail_unless(n == pos / 4, "token %u differs: %u blocks, got %u",
                    pos, pos / 4, n);
        lmd_kvc_release(c, m, n);
    }

    /* The last id of a block is compared too (the only difference in
     * the block, so only a full comparison or the key can see it). */
    memcpy(q, t, sizeof(q));
    q[7] = 0;
    n = lmd_kvc_match(c, q, 12, 12, m, NULL);
    fail_unless(n == 1, "last id of block 1 differs: 1 block, got %u", n);
    lmd_kvc_release(c, m, n);

    /* Blocks 1 and 2 equal, block 0 not: nothing. */
    memcpy(q, t, sizeof(q));
    q[0] = 99;
    fail_unless(lmd_kvc_match(c, q, 12, 12, m, NULL) == 0, "block 0 off");
    fail_unless(counts_are(c, 5, 0, 3), "nothing held");
    lmd_kvc_free(c);
}


// Assumption: a block is keyed by what came before it: the same tokens
// after a different prefix do not match, and the same tokens committed
// under another parent get another key.
LMD_TEST(match_needs_same_parent)
{
    static const int32_t  a[8] = { 1, 1, 1, 1, 2, 2, 2, 2 };
    static const int32_t  d[8] = { 3, 3, 3, 3, 2, 2, 2, 2 };
    struct lmd_kvc       *c = lmd_kvc_create(8, 4, 1);
    uint32_t              b[2], m[2];
    uint64_t              ka[2] = { 0 }, kd[2] = { 0 };

    if (c == NULL) {
        fail_unless(0, "create");
        return;
    }
    fill(c, 4, a, 2, b, ka);
    lmd_kvc_release(c, b, 2);
    fill(c, 4, d, 1, b, kd);
    fail_unless(lmd_kvc_match(c, d, 8, 8, m, NULL) == 1, "only d's 1st");
    lmd_kvc_release(c, m, 1);
    kd[1] = lmd_kvc_commit(c, lmd_kvc_alloc(c), kd[0], d + 4);
    fail_unless(kd[1] != ka[1], "same tokens, other parent: other key");
    fail_unless(lmd_kvc_commit(c, b[0], 0, d) == kd[0],
                "the key is a function of parent and tokens");
    lmd_kvc_free(c);
}


// Assumption: committing a block again with the same tokens changes
// nothing; with other tokens (its KV rewritten) it answers for the new
// tokens only.
LMD_TEST(commit_again)
{
    static const int32_t  a[2] = { 1, 2 }, d[2] = { 3, 4 };
    struct lmd_kvc       *c = lmd_kvc_create(2, 2, 1);
    uint32_t              b, m[1];
    uint64_t              k;

    if (c == NULL) {
        fail_unless(0, "create");
        return;
    }
    b = lmd_kvc_alloc(c);
    k = lmd_kvc_commit(c, b, 0, a);
    fail_unless(lmd_kvc_commit(c, b, 0, a) == k, "same key");
    lmd_kvc_commit(c, b, 0, d);
    lmd_kvc_release(c, &b, 1);
    fail_unless(counts_are(c, 1, 0, 1), "one cached");
    fail_unless(lmd_kvc_match(c, a, 2, 2, m, NULL) == 0, "old gone");
    fail_unless(lmd_kvc_match(c, d, 2, 2, m, NULL) == 1 && m[0] == b,
                "new found");
    lmd_kvc_free(c);
}


// Assumption: block sizes of 1 and odd sizes hash every token.
LMD_TEST(odd_block_sizes)
{
    static const int32_t  t[9] = { 7, 8, 9, 10, 11, 12, 13, 14, 15 };
    int32_t               q[9];
    uint32_t              sizes[3] = { 1, 3, 9 };
    uint32_t              b[9], m[9], n, s, bs, pos;
    struct lmd_kvc       *c;

    for (s = 0; s < 3; s++) {
        bs = sizes[s];
        c = lmd_kvc_create(20, bs, 1);
        if (c == NULL) {
            fail_unless(0, "create");
            return;
        }
        fill(c, bs, t, 9 / bs, b, NULL);
        lmd_kvc_release(c, b, 9 / bs);
        n = lmd_kvc_match(c, t, 9, 9, m, NULL);
        fail_unless(n == 9 / bs, "bs %u: all %u blocks, got %u", bs,
                    9 / bs, n);
        lmd_kvc_release(c, m, n);
        for (pos = 0; pos < 9; pos++) {
            memcpy(q, t, sizeof(q));
            q[pos] = -1;
            n = lmd_kvc_match(c, q, 9, 9, m, NULL);
            fail_unless(n == pos / bs, "bs %u, token %u differs: got %u",
                        bs, pos, n);
            lmd_kvc_release(c, m, n);
        }
        lmd_kvc_free(c);
    }
}


/* ------------------------------------------------------------------------
 * Sharing and eviction
 * ------------------------------------------------------------------------ */

// Assumption: a matched block is used while referenced, so an alloc
// never evicts it: with every other block taken, alloc fails.
LMD_TEST(matched_blocks_not_evicted)
{
    static const int32_t  t[4] = { 1, 2, 3, 4 };
    struct lmd_kvc       *c = lmd_kvc_create(4, 2, 1);
    uint32_t              b[2], m[2], x[2];

    if (c == NULL) {
        fail_unless(0, "create");
        return;
    }
    fill(c, 2, t, 2, b, NULL);
    lmd_kvc_release(c, b, 2);
    fail_unless(lmd_kvc_match(c, t, 4, 4, m, NULL) == 2, "match both");
    x[0] = lmd_kvc_alloc(c);
    x[1] = lmd_kvc_alloc(c);
    fail_unless(x[0] != b[0] && x[0] != b[1] && x[1] != b[0]
                && x[1] != b[1], "the free ones");
    fail_unless(lmd_kvc_alloc(c) == LMD_KVC_NONE, "matched ones kept");
    fail_unless(stats(c).evictions == 0, "no eviction");
    lmd_kvc_release(c, m, 2);
    fail_unless(counts_are(c, 0, 2, 2), "cached again");
    fail_unless(lmd_kvc_match(c, t, 4, 4, m, NULL) == 2, "still there");
    lmd_kvc_free(c);
}


// Assumption: the least recently released block is evicted first, and a
// match plus release makes a block the youngest.
LMD_TEST(eviction_is_lru)
{
    static const int32_t  t[4][2] = { { 1, 1 }, { 2, 2 }, { 3, 3 },
                                      { 4, 4 } };
    struct lmd_kvc       *c = lmd_kvc_create(4, 2, 1);
    uint32_t              b[4], m[1], want[4], got, i, n;

    if (c == NULL) {
        fail_unless(0, "create");
        return;
    }
    for (i = 0; i < 4; i++) {
        fill(c, 2, t[i], 1, &b[i], NULL);
    }
    for (i = 0; i < 4; i++) {
        lmd_kvc_release(c, &b[i], 1);       /* oldest: t[0] */
    }
    fail_unless(lmd_kvc_match(c, t[1], 2, 2, m, NULL) == 1, "touch t1");
    lmd_kvc_release(c, m, 1);               /* now: 0, 2, 3, 1 */

    want[0] = b[0];
    want[1] = b[2];
    want[2] = b[3];
    want[3] = b[1];
    for (i = 0; i < 4; i++) {
        got = lmd_kvc_alloc(c);
        fail_unless(got == want[i], "eviction %u took %u, not %u", i, got,
                    want[i]);
        fail_unless(stats(c).evictions == i + 1, "counted");
        /* The evicted prefix no longer matches; the younger ones do. */
        n = lmd_kvc_match(c, t[i == 3 ? 1 : (i == 0 ? 0 : i + 1)], 2, 2,
                          m, NULL);
        fail_unless(n == 0, "evicted prefix %u gone", i);
    }
    lmd_kvc_free(c);
}


// Assumption: two sequences on one prefix count two references; the
// block is cached only when both let go.  A second commit of the same
// prefix is left unregistered and goes free.
LMD_TEST(shared_prefix)
{
    static const int32_t  t[6] = { 9, 8, 7, 6, 5, 4 };
    struct lmd_kvc       *c = lmd_kvc_create(6, 3, 1);
    uint32_t              s1[2], s2[2], dup[2], n;

    if (c == NULL) {
        fail_unless(0, "create");
        return;
    }
    fill(c, 3, t, 2, s1, NULL);
    n = lmd_kvc_match(c, t, 6, 5, s2, NULL);
    fail_unless(n == 1 && s2[0] == s1[0], "s2 shares block 0 of s1");
    fail_unless(counts_are(c, 4, 2, 0), "2 used");
    lmd_kvc_release(c, s1, 2);
    fail_unless(counts_are(c, 4, 1, 1), "s1 gone: its 2nd cached, 1st "
                "still used");
    lmd_kvc_release(c, s2, 1);
    fail_unless(counts_are(c, 4, 0, 2), "both gone: cached");

    /* Two sequences computing the same prefix without matching. */
    lmd_kvc_reset(c);
    fill(c, 3, t, 2, s1, NULL);
    fill(c, 3, t, 2, dup, NULL);
    fail_unless(counts_are(c, 2, 4, 0), "4 used");
    lmd_kvc_release(c, dup, 2);
    lmd_kvc_release(c, s1, 2);
    fail_unless(counts_are(c, 4, 0, 2), "one copy cached, one free");
    fail_unless(lmd_kvc_match(c, t, 6, 6, s2, NULL) == 2
                && s2[0] == s1[0] && s2[1] == s1[1], "the first copy");
    lmd_kvc_free(c);
}


/* ------------------------------------------------------------------------
 * Cache off, reset, stats, misuse
 * ------------------------------------------------------------------------ */

// Assumption: with the prefix cache off nothing matches or is cached,
// but commit still returns the chain key.
LMD_TEST(prefix_cache_off)
{
    static const int32_t  t[4] = { 1, 2, 3, 4 };
    struct lmd_kvc       *c = lmd_kvc_create(4, 2, 0);
    uint32_t              b[2], m[2];
    uint64_t              k[2] = { 0 };

    if (c == NULL) {
        fail_unless(0, "create");
        return;
    }
    fill(c, 2, t, 2, b, k);
    fail_unless(k[0] != 0 && k[1] != 0 && k[0] != k[1], "keys");
    lmd_kvc_release(c, b, 2);
    fail_unless(counts_are(c, 4, 0, 0), "released: free");
    fail_unless(lmd_kvc_match(c, t, 4, 4, m, NULL) == 0, "no match");
    fail_unless(stats(c).lookups == 1 && stats(c).query_tokens == 4
                && stats(c).hit_tokens == 0, "counted as a miss");
    lmd_kvc_free(c);
}


// Assumption: reset frees cached blocks and unregisters used ones (they
// go free on release); the counters survive.
LMD_TEST(reset)
{
    static const int32_t  t[6] = { 1, 2, 3, 4, 5, 6 };
    struct lmd_kvc       *c = lmd_kvc_create(6, 2, 1);
    uint32_t              b[3], u[3], m[3];

    if (c == NULL) {
        fail_unless(0, "create");
        return;
    }
    fill(c, 2, t, 3, b, NULL);
    lmd_kvc_release(c, b, 2);                  /* 2 cached, 1 used */
    fail_unless(lmd_kvc_match(c, t, 6, 6, m, NULL) == 3, "all 3");
    lmd_kvc_release(c, m, 3);
    fail_unless(counts_are(c, 3, 1, 2), "before");
    lmd_kvc_reset(c);
    fail_unless(counts_are(c, 5, 1, 0), "cached freed, used kept");
    fail_unless(lmd_kvc_match(c, t, 6, 6, m, NULL) == 0, "forgotten");
    lmd_kvc_release(c, b + 2, 1);
    fail_unless(counts_are(c, 6, 0, 0), "unregistered: free");
    fail_unless(stats(c).lookups == 2 && stats(c).hit_tokens == 6,
                "counters kept");

    /* The cache works as new after a reset. */
    fill(c, 2, t, 3, u, NULL);
    lmd_kvc_release(c, u, 3);
    fail_unless(lmd_kvc_match(c, t, 6, 6, m, NULL) == 3, "works again");
    lmd_kvc_free(c);
}


// Assumption: lookups, query tokens (the n passed), hit tokens and
// evictions are counted as documented in lmd_kv_cache.h.
LMD_TEST(stats_counters)
{
    static const int32_t  t[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    struct lmd_kvc       *c = lmd_kvc_create(3, 2, 1);
    struct lmd_kvc_stats  st;
    uint32_t              b[3], m[3], n;

    if (c == NULL) {
        fail_unless(0, "create");
        return;
    }
    st = stats(c);
    fail_unless(st.n_blocks == 3 && st.block_size == 2 && st.lookups == 0
                && st.evictions == 0, "fresh");
    fill(c, 2, t, 3, b, NULL);
    lmd_kvc_release(c, b, 3);
    n = lmd_kvc_match(c, t, 8, 7, m, NULL);     /* 3 blocks */
    lmd_kvc_release(c, m, n);
    n = lmd_kvc_match(c, t, 3, 2, m, NULL);     /* 1 block */
    lmd_kvc_release(c, m, n);
    m[0] = lmd_kvc_alloc(c);                    /* evicts */
    st = stats(c);
    fail_unless(st.lookups == 2 && st.query_tokens == 11
                && st.hit_tokens == 8 && st.evictions == 1,
                "lookups %llu query %llu hit %llu evictions %llu",
                (unsigned long long) st.lookups,
                (unsigned long long) st.query_tokens,
                (unsigned long long) st.hit_tokens,
                (unsigned long long) st.evictions);
    lmd_kvc_free(c);
}


// Assumption: releasing a block with no reference, or a number out of
// range, is ignored and counted; nothing is handed out twice after it.
LMD_TEST(misuse_is_harmless)
{
    static const int32_t  t[2] = { 1, 2 };
    struct lmd_kvc       *c = lmd_kvc_create(3, 2, 1);
    uint32_t              b[3], bad[2] = { 3, LMD_KVC_NONE };

    if (c == NULL) {
        fail_unless(0, "create");
        return;
    }
    fill(c, 2, t, 1, b, NULL);
    lmd_kvc_release(c, b, 1);
    lmd_kvc_release(c, b, 1);                   /* twice: cached block */
    b[1] = lmd_kvc_alloc(c);
    lmd_kvc_release(c, &b[1], 1);
    lmd_kvc_release(c, &b[1], 1);               /* twice: free block */
    lmd_kvc_release(c, bad, 2);
    lmd_kvc_commit(c, b[1], 0, t);              /* not held */
    fail_unless(stats(c).misuse == 5, "5 counted, got %llu",
                (unsigned long long) stats(c).misuse);
    fail_unless(counts_are(c, 2, 0, 1), "lists intact");
    b[0] = lmd_kvc_alloc(c);
    b[1] = lmd_kvc_alloc(c);
    b[2] = lmd_kvc_alloc(c);
    fail_unless(b[0] < 3 && b[1] < 3 && b[2] < 3 && b[0] != b[1]
                && b[1] != b[2] && b[0] != b[2], "3 distinct blocks");
    fail_unless(lmd_kvc_alloc(c) == LMD_KVC_NONE, "then none");
    lmd_kvc_free(c);
}


/* ------------------------------------------------------------------------
 * Randomized, against a model
 * ------------------------------------------------------------------------ */

#define ST_MAX_BLOCKS   512
#define ST_MAX_BS       4
#define ST_SEQ_BLOCKS   8           /* blocks per sequence at most */
#define ST_MAXT         (ST_SEQ_BLOCKS * ST_MAX_BS)
#define ST_SEQS         6

struct model_block {
    uint32_t     refs;
    int          registered;
    uint64_t     released;          /* clock of the last release */
    uint32_t     len;               /* tokens of the prefix it holds */
    int32_t      prefix[ST_MAXT];
};

struct model_seq {
    int          live;
    uint32_t     n_blocks;
    uint32_t     blocks[ST_SEQ_BLOCKS];
};

struct model {
    uint32_t            n_blocks;
    uint32_t            bs;
    uint32_t            vocab;
    struct model_block  b[ST_MAX_BLOCKS];
    struct model_seq    s[ST_SEQS];
    uint64_t            clock;
    uint64_t            evictions;
    uint64_t            hit_tokens;
    int                 bad;        /* a check failed: stop early */
};


/* The registered block holding exactly tokens[0 .. len), or NONE. */
static uint32_t
model_find(const struct model *m, const int32_t *tokens, uint32_t len)
{
    uint32_t  b;

    for (b = 0; b < m->n_blocks; b++) {
        if (m->b[b].registered && m->b[b].len == len
            && memcmp(m->b[b].prefix, tokens, len * sizeof(*tokens)) == 0)
        {
            return b;
        }
    }
    return LMD_KVC_NONE;
}


/* Checks an alloc against the model: a free block if there is one, else
 * the oldest cached one (evicted), else none. */
static uint32_t
model_alloc(struct model *m, struct lmd_kvc *c)
{
    uint32_t  got = lmd_kvc_alloc(c), b, oldest = LMD_KVC_NONE;
    int       any_free = 0;

    for (b = 0; b < m->n_blocks; b++) {
        if (m->b[b].refs == 0 && !m->b[b].registered) {
            any_free = 1;
        } else if (m->b[b].refs == 0
                   && (oldest == LMD_KVC_NONE
                       || m->b[b].released < m->b[oldest].released))
        {
            oldest = b;
        }
    }
    if (any_free) {
        if (!fail_unless(got < m->n_blocks && m->b[got].refs == 0
                         && !m->b[got].registered,
                         "alloc gave %u, not a free block", got))
        {
            m->bad = 1;
            return LMD_KVC_NONE;
        }
    } else if (!fail_unless(got == oldest, "alloc gave %u, not the "
                            "oldest cached %u", got, oldest))
    {
        m->bad = 1;
        return LMD_KVC_NONE;
    }
    if (got == LMD_KVC_NONE) {
        return got;
    }
    if (m->b[got].registered) {
        m->evictions++;
    }
    m->b[got].registered = 0;
    m->b[got].refs = 1;
    m->b[got].len = 0;
    return got;
}


static void
model_release(struct model *m, struct lmd_kvc *c, struct model_seq *s)
{
    uint32_t  i, b;

    lmd_kvc_release(c, s->blocks, s->n_blocks);
    for (i = 0; i < s->n_blocks; i++) {
        b = s->blocks[i];
        if (--m->b[b].refs == 0) {
            m->b[b].released = m->clock++;
        }
    }
    s->live = 0;
    s->n_blocks = 0;
}


/* A prompt near one of three bases, so that prefixes are often shared
 * and often differ a few blocks in. */
static uint32_t
model_prompt(const struct model *m, uint64_t *rng, int32_t *t)
{
    uint32_t  n, i, base;

    n = 1 + (uint32_t) (test_rand(rng) % (ST_SEQ_BLOCKS * m->bs));
    base = (uint32_t) (test_rand(rng) % 3);
    for (i = 0; i < n; i++) {
        t[i] = (int32_t) (test_rand(rng) % 10 == 0
                          ? test_rand(rng) % m->vocab
                          : (base * 7 + i) % m->vocab);
    }
    return n;
}


/* Starts a sequence: match, then alloc and commit its remaining full
 * blocks, and one more for a partial tail.  Returns how many matched. */
static uint32_t
model_start(struct model *m, struct lmd_kvc *c, struct model_seq *s,
    uint64_t *rng)
{
    int32_t   t[ST_MAXT];
    uint64_t  keys[ST_SEQ_BLOCKS], parent;
    uint32_t  n, max, k, want, i, b, bs = m->bs;

    n = model_prompt(m, rng, t);
    max = test_rand(rng) % 4 == 0 ? (uint32_t) (test_rand(rng) % (n + 1))
          : n - 1;
    k = lmd_kvc_match(c, t, n, max, s->blocks, keys);
    s->live = 1;
    s->n_blocks = k;
    for (want = 0; want < (max < n ? max : n) / bs; want++) {
        b = model_find(m, t, (want + 1) * bs);
        if (b == LMD_KVC_NONE) {
            break;
        }
        if (want < k && !fail_unless(s->blocks[want] == b, "match block "
                                     "%u: %u, not %u", want,
                                     s->blocks[want], b))
        {
            m->bad = 1;
        }
    }
    if (!fail_unless(k == want, "matched %u blocks, not %u", k, want)) {
        m->bad = 1;
        s->n_blocks = 0;
        return 0;
    }
    for (i = 0; i < k; i++) {
        m->b[s->blocks[i]].refs++;
    }
    m->hit_tokens += (uint64_t) k * bs;

    parent = k > 0 ? keys[k - 1] : 0;
    for (i = k; i < (n + bs - 1) / bs; i++) {
        b = model_alloc(m, c);
        if (b == LMD_KVC_NONE) {
            model_release(m, c, s);     /* out of blocks: give up */
            return k;
        }
        s->blocks[s->n_blocks++] = b;
        if ((i + 1) * bs > n) {
            break;                      /* partial: never committed */
        }
        parent = lmd_kvc_commit(c, b, parent, t + i * bs);
        if (model_find(m, t, (i + 1) * bs) == LMD_KVC_NONE) {
            m->b[b].registered = 1;
            m->b[b].len = (i + 1) * bs;
            memcpy(m->b[b].prefix, t, m->b[b].len * sizeof(*t));
        }
    }
    return k;
}


static void
model_check(struct model *m, const struct lmd_kvc *c, int op)
{
    struct lmd_kvc_stats  st = stats(c);
    uint32_t              b, f = 0, u = 0, k = 0;

    for (b = 0; b < m->n_blocks; b++) {
        if (m->b[b].refs > 0) {
            u++;
        } else if (m->b[b].registered) {
            k++;
        } else {
            f++;
        }
    }
    if (!fail_unless(st.free == f && st.used == u && st.cached == k
                     && f + u + k == m->n_blocks
                     && lmd_kvc_available(c) == f + k
                     && st.evictions == m->evictions
                     && st.hit_tokens == m->hit_tokens && st.misuse == 0,
                     "op %d: free %u/%u used %u/%u cached %u/%u "
                     "evictions %llu/%llu", op, st.free, f, st.used, u,
                     st.cached, k, (unsigned long long) st.evictions,
                     (unsigned long long) m->evictions))
    {
        m->bad = 1;
    }
}


/* ops random starts (a match, allocs and commits), ends (a release) and,
 * one time in 1000, resets, each checked against the model. */
static void
stress(uint32_t n_blocks, uint32_t bs, uint32_t vocab, int ops,
    uint64_t seed)
{
    static struct model  m;
    struct lmd_kvc      *c = lmd_kvc_create(n_blocks, bs, 1);
    uint64_t             rng = seed;
    uint32_t             i, r, b;
    int                  op, matched = 0;

    if (c == NULL) {
        fail_unless(0, "create");
        return;
    }
    memset(&m, 0, sizeof(m));
    m.n_blocks = n_blocks;
    m.bs = bs;
    m.vocab = vocab;
    for (op = 0; op < ops && !m.bad; op++) {
        r = (uint32_t) (test_rand(&rng) % 1000);
        i = (uint32_t) (test_rand(&rng) % ST_SEQS);
        if (r == 0) {
            lmd_kvc_reset(c);
            for (b = 0; b < n_blocks; b++) {
                m.b[b].registered = 0;
            }
        } else if (!m.s[i].live) {
            matched += model_start(&m, c, &m.s[i], &rng) > 0;
        } else {
            model_release(&m, c, &m.s[i]);
        }
        model_check(&m, c, op);
    }
    fail_unless(m.evictions > 100 && m.hit_tokens > 1000 && matched > 100,
                "the run exercised eviction (%llu) and matching (%llu "
                "tokens, %d starts)", (unsigned long long) m.evictions,
                (unsigned long long) m.hit_tokens, matched);
    for (i = 0; i < ST_SEQS; i++) {
        if (m.s[i].live) {
            model_release(&m, c, &m.s[i]);
        }
    }
    fail_unless(stats(c).used == 0 && stats(c).misuse == 0, "all back");
    lmd_kvc_free(c);
}


// Assumption: over 10000 random operations on a small cache (few
// blocks, three token values: much sharing, constant eviction), every
// alloc, match and count agrees with the model, and no block is handed
// out while something holds it.
LMD_TEST(stress_small_cache)
{
    stress(24, 2, 3, 10000, 0x2545f4914f6cdd1dull);
}


// Assumption: the same holds with blocks of one token and of an odd
// size, and with hundreds of blocks churning through the key table.
LMD_TEST(stress_key_table)
{
    stress(300, 1, 40, 10000, 0x9e3779b97f4a7c15ull);
    stress(64, 3, 5, 10000, 0xd1b54a32d192ed03ull);
}
