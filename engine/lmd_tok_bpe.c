/*
 * lmd_tok_bpe.c -- the BPE model: one word in, its token ids out.
 *
 * Two ways of choosing the next merge, one symbol list:
 *
 *   RANKS   tokenizers' BPE (Word::merge_all): the adjacent pair with the
 *           lowest merge rank, leftmost on ties.  A word starts as one
 *           symbol per character (byte-fallback <0xNN> pieces or unk for
 *           characters not in the vocabulary), with continuing_subword_
 *           prefix and end_of_word_suffix applied when set; ignore_merges
 *           returns a word that is in the vocabulary as one token.
 *   SCORES  sentencepiece's bpe_model.cc: the adjacent pair whose
 *           concatenation is a piece with the highest score, leftmost on
 *           ties; user-defined pieces are never merged, an UNUSED piece is
 *           split back into the two it was made of, and unknown pieces
 *           become bytes (byte_fallback) or unk.
 *
 * Design: symbols are a doubly linked list in one array; candidate merges
 * sit in a binary min-heap keyed by (rank or inverted score, left index),
 * so a word of n symbols costs O(n log n).  A heap entry whose pair has
 * changed since it was pushed is skipped when popped (tokenizers checks
 * the pair's new id, sentencepiece the symbols' sizes; both are what is
 * checked here).  The arrays live in the call's struct lmd_tok_enc and
 * grow, so nothing is allocated per word.  RANKS words of up to
 * LMD_TOK_CACHE_KEY bytes go through the shared word cache.
 */

#include "lmd_tok_internal.h"

#include <stdio.h>
#include <stdlib.h>

/* The pair cache of one call: 2^LMD_BPE_PC_BITS slots (256 KiB), made
 * for the first word of more than LMD_BPE_PC_MIN symbols in a text of at
 * least lmd_bpe_pc_text bytes (for short texts, setting it up costs more
 * than it saves). */
#define LMD_BPE_PC_BITS  14
#define LMD_BPE_PC_MIN   32

size_t  lmd_bpe_pc_text = 64 << 10;

struct lmd_bpe_sym {
    int32_t     id;
    int32_t     prev;
    int32_t     next;
    uint32_t    off;            /* SCORES: first byte in the word */
    uint32_t    len;            /* bytes of the word; 0: merged away */
    uint32_t    frozen;         /* SCORES: a user-defined piece */
};

struct lmd_bpe_cand {
    uint64_t    key;            /* rank or score << 32 | left */
    int32_t     right;          /* RANKS: the right id; SCORES: index */
    uint32_t    size;           /* SCORES: bytes of the pair */
    int32_t     left;           /* RANKS: the left id */
    int32_t     merged;         /* RANKS: the id they merge into */
};

/* SCORES: an UNUSED piece and the two symbols it was made of. */
struct lmd_bpe_rev {
    uint32_t    off, len, loff, llen, roff, rlen;
};


/* ------------------------------------------------------------ the model */

int
lmd_bpe_set_piece(struct lmd_bpe *m, int32_t id, const char *s, size_t len)
{
    size_t  i;

    if (id < 0 || id >= LMD_TOK_MAX_ID || len >= UINT32_MAX
        || m->pool.len > UINT32_MAX - len - 1)
    {
        return LMD_ERROR;
    }
    if ((size_t) id >= m->pieces_cap) {
        size_t                  n = (size_t) id + 1;
        struct lmd_tok_span    *p;

        if (n < m->pieces_cap * 2) {
            n = m->pieces_cap * 2;
        }
        if (n > SIZE_MAX / sizeof(*p)) {
            return LMD_ERROR;
        }
        p = realloc(m->pieces, n * sizeof(*p));
        if (p == NULL) {
            return LMD_ERROR;
        }
        for (i = m->pieces_cap; i < n; i++) {
            p[i].off = 0;
            p[i].len = UINT32_MAX;
        }
        m->pieces = p;
        m->pieces_cap = n;
    }
    if ((size_t) id >= m->nids) {
        m->nids = (size_t) id + 1;
    }
    m->pieces[id].off = (uint32_t) m->pool.len;
    m->pieces[id].len = (uint32_t) len;
    if (lmd_tok_buf_put(&m->pool, s, len) != LMD_OK
        || lmd_tok_buf_put(&m->pool, "", 1) != LMD_OK)
    {
        return LMD_ERROR;
    }
    return LMD_OK;
}


int
lmd_bpe_finish(struct lmd_bpe *m, char *err, size_t errlen)
{
    size_t  i, n;
    char    name[8];

    for (i = 0, n = 0; i < m->nids; i++) {
        n += m->pieces[i].len != UINT32_MAX;
    }
    if (lmd_tok_strmap_init(&m->map, n) != LMD_OK) {
        lmd_tok_err(err, errlen, "out of memory");
        return LMD_ERROR;
    }
    for (i = 0; i < m->nids; i++) {
        if (m->pieces[i].len == UINT32_MAX) {
            continue;
        }
        if (lmd_tok_strmap_put(&m->map, m->pool.p + m->pieces[i].off,
                               m->pieces[i].len, (int32_t) i) != LMD_OK)
        {
            lmd_tok_err(err, errlen, "out of memory");
            return LMD_ERROR;
        }
    }
    m->vocab_size = m->map.n;
    /* one-character pieces of the BMP: a table instead of a lookup */
    m->char_sym = malloc(0x10000 * sizeof(int32_t));
    if (m->char_sym == NULL) {
        lmd_tok_err(err, errlen, "out of memory");
        return LMD_ERROR;
    }
    for (i = 0; i < 0x10000; i++) {
        m->char_sym[i] = -1;
    }
    for (i = 0; i < m->nids; i++) {
        const char  *s = m->pool.p + m->pieces[i].off;
        size_t       len = m->pieces[i].len, k = 0;
        uint32_t     cp;

        if (len == UINT32_MAX || len == 0 || len > 3
            || lmd_tok_utf8_valid(s, len) != len)
        {
            continue;
        }
        cp = lmd_tok_utf8_next(s, &k);
        if (k == len && cp < 0x10000
            && lmd_tok_strmap_get(&m->map, s, len) == (int32_t) i)
        {
            m->char_sym[cp] = (int32_t) i;
        }
    }
    for (i = 0; i < 256; i++) {
        snprintf(name, sizeof(name), "<0x%02X>", (unsigned) i);
        m->byte_fb[i] = lmd_tok_strmap_get(&m->map, name, 6);
    }
    return LMD_OK;
}


/* Raw-byte mode: a map from each piece's bytes (its byte-level characters
 * mapped back) to its id, and byte_sym[b].  Only when every byte's
 * character is a piece; otherwise the model keeps taking characters. */
int
lmd_bpe_enable_raw(struct lmd_bpe *m)
{
    int32_t   rev[512];
    char      u[4];
    size_t    i, j, k;
    uint32_t  cp;

    if (m->prefix != NULL || m->suffix != NULL || m->kind != LMD_BPE_RANKS) {
        return LMD_OK;
    }
    for (i = 0; i < 512; i++) {
        rev[i] = -1;
    }
    for (i = 0; i < 256; i++) {
        cp = lmd_tok_byte_char((uint8_t) i);
        rev[cp] = (int32_t) i;
        k = lmd_tok_utf8_put(u, cp);
        m->byte_sym[i] = lmd_tok_strmap_get(&m->map, u, k);
        if (m->byte_sym[i] < 0) {
            return LMD_OK;
        }
    }
    if (lmd_tok_strmap_init(&m->raw_map, m->map.n) != LMD_OK
        || lmd_tok_buf_grow(&m->raw_pool, m->pool.len) != LMD_OK)
    {
        return LMD_ERROR;
    }
    /* the raw pool is sized up front: keys point into it */
    for (i = 0; i < m->nids; i++) {
        const char  *s = m->pool.p + m->pieces[i].off;
        size_t       n = m->pieces[i].len, start = m->raw_pool.len;

        if (n == UINT32_MAX) {
            continue;
        }
        for (j = 0; j < n; ) {
            cp = lmd_tok_utf8_next(s, &j);
            if (cp >= 512 || rev[cp] < 0) {
                break;
            }
            m->raw_pool.p[m->raw_pool.len++] = (char) rev[cp];
        }
        if (j < n) {
            m->raw_pool.len = start;    /* not a byte-level piece */
            continue;
        }
        if (lmd_tok_strmap_put(&m->raw_map, m->raw_pool.p + start,
                               m->raw_pool.len - start, (int32_t) i)
            != LMD_OK)
        {
            return LMD_ERROR;
        }
    }
    m->raw_bytes = 1;
    return LMD_OK;
}


void
lmd_bpe_free(struct lmd_bpe *m)
{
    lmd_tok_buf_free(&m->pool);
    free(m->pieces);
    lmd_tok_strmap_free(&m->map);
    lmd_tok_pairmap_free(&m->merges);
    free(m->scores);
    free(m->mergeable);
    free(m->unused);
    free(m->control);
    lmd_tok_strmap_free(&m->raw_map);
    lmd_tok_buf_free(&m->raw_pool);
    free(m->prefix);
    free(m->suffix);
    if (m->frozen != NULL) {
        lmd_tok_trie_free(m->frozen);
        free(m->frozen);
    }
    lmd_tok_cache_free(m->cache);
    free(m->chunk_bad);
    free(m->char_sym);
    memset(m, 0, sizeof(*m));
}


/* ------------------------------------------------------------ scratch */

static int
lmd_bpe_reserve(struct lmd_tok_enc *e, size_t nsym)
{
    void  *p;

    if (nsym > INT32_MAX) {
        lmd_tok_err(e->err, e->errlen, "a word of more than 2^31 "
                    "characters");
        return LMD_ERROR;
    }
    if (nsym > e->sym_cap) {
        size_t  cap = nsym > e->sym_cap * 2 ? nsym : e->sym_cap * 2;

        p = realloc(e->sym, cap * sizeof(struct lmd_bpe_sym));
        if (p == NULL) {
            goto nomem;
        }
        e->sym = p;
        e->sym_cap = cap;
    }
    /* at most one pending candidate per symbol plus two per merge */
    if (e->sym_cap * 3 > e->heap_cap) {
        p = realloc(e->heap, e->sym_cap * 3 * sizeof(struct lmd_bpe_cand));
        if (p == NULL) {
            goto nomem;
        }
        e->heap = p;
        e->heap_cap = e->sym_cap * 3;
    }
    return LMD_OK;

nomem:
    lmd_tok_err(e->err, e->errlen, "out of memory");
    return LMD_ERROR;
}


static inline void
lmd_heap_push(struct lmd_bpe_cand *h, size_t *n, struct lmd_bpe_cand c)
{
    size_t  i = (*n)++, parent;

    while (i > 0) {
        parent = (i - 1) / 2;
        if (h[parent].key <= c.key) {
            break;
        }
        h[i] = h[parent];
        i = parent;
    }
    h[i] = c;
}


static inline struct lmd_bpe_cand
lmd_heap_pop(struct lmd_bpe_cand *h, size_t *n)
{
    struct lmd_bpe_cand  top = h[0], last = h[--(*n)];
    size_t               i = 0, child;

    for ( ;; ) {
        child = 2 * i + 1;
        if (child >= *n) {
            break;
        }
        if (child + 1 < *n && h[child + 1].key < h[child].key) {
            child++;
        }
        if (last.key <= h[child].key) {
            break;
        }
        h[i] = h[child];
        i = child;
    }
    if (*n > 0) {
        h[i] = last;
    }
    return top;
}


/* ------------------------------------------------------------ RANKS */

static int
lmd_bpe_push_id(struct lmd_tok_enc *e, int32_t id)
{
    if (lmd_tokens_push(e->out, id) != LMD_OK) {
        lmd_tok_err(e->err, e->errlen, "out of memory");
        return LMD_ERROR;
    }
    return LMD_OK;
}


static inline void
lmd_bpe_sym_add(struct lmd_bpe_sym *sym, size_t *n, int32_t id,
    uint32_t len)
{
    struct lmd_bpe_sym  *s = &sym[*n];

    s->id = id;
    s->prev = (int32_t) *n - 1;
    s->next = -1;
    s->len = len;
    if (*n > 0) {
        sym[*n - 1].next = (int32_t) *n;
    }
    (*n)++;
}


/* The initial symbols of a word in character mode (see merge_word). */
static int
lmd_bpe_chars(struct lmd_tok_enc *e, const struct lmd_bpe *m, const char *w,
    size_t len, size_t *nsym)
{
    struct lmd_bpe_sym  *sym = e->sym;
    struct lmd_tok_buf  *b = &e->pt[LMD_TOK_PT_MAX - 1][1];
    size_t               i = 0, j, k, n = 0;
    int32_t              id, unk = -1;
    uint32_t             unk_len = 0;
    const char          *s;
    size_t               slen;

    while (i < len) {
        j = i + lmd_tok_utf8_len((uint8_t) w[i]);
        if (j > len) {
            j = len;
        }
        if (m->prefix == NULL && m->suffix == NULL) {
            s = w + i;
            slen = j - i;
            if (slen <= 3) {
                /* words are valid UTF-8: one character */
                size_t  q = 0;

                id = m->char_sym[lmd_tok_utf8_next(s, &q)];
            } else {
                id = lmd_tok_strmap_get(&m->map, s, slen);
            }
        } else {
            b->len = 0;
            if ((i > 0 && m->prefix != NULL
                 && lmd_tok_buf_put(b, m->prefix, m->prefix_len) != LMD_OK)
                || lmd_tok_buf_put(b, w + i, j - i) != LMD_OK
                || (j == len && m->suffix != NULL
                    && lmd_tok_buf_put(b, m->suffix, m->suffix_len)
                       != LMD_OK))
            {
                lmd_tok_err(e->err, e->errlen, "out of memory");
                return LMD_ERROR;
            }
            s = b->p;
            slen = b->len;
            id = lmd_tok_strmap_get(&m->map, s, slen);
        }
        if (id >= 0) {
            if (unk >= 0) {
                lmd_bpe_sym_add(sym, &n, unk, unk_len);
                unk = -1;
            }
            lmd_bpe_sym_add(sym, &n, id, (uint32_t) (j - i));
            i = j;
            continue;
        }
        if (m->byte_fallback) {
            for (k = 0; k < slen && m->byte_fb[(uint8_t) s[k]] >= 0; k++) {
                /* every byte needs its <0xNN> piece */
            }
            if (k == slen) {
                /* (a pending unk stays pending, as in tokenizers) */
                if (lmd_bpe_reserve(e, n + slen + (len - j) + 2)
                    != LMD_OK)
                {
                    return LMD_ERROR;
                }
                sym = e->sym;
                for (k = 0; k < slen; k++) {
                    lmd_bpe_sym_add(sym, &n, m->byte_fb[(uint8_t) s[k]], 1);
                }
                i = j;
                continue;
            }
        }
        if (m->unk_id >= 0) {
            if (unk >= 0 && m->fuse_unk) {
                unk_len += (uint32_t) (j - i);
            } else {
                if (unk >= 0) {
                    lmd_bpe_sym_add(sym, &n, unk, unk_len);
                }
                unk = m->unk_id;
                unk_len = (uint32_t) (j - i);
            }
        }
        i = j;
    }
    if (unk >= 0) {
        lmd_bpe_sym_add(sym, &n, unk, unk_len);
    }
    *nsym = n;
    return LMD_OK;
}


/* The merge of (a, b), through the call's pair cache when it has one:
 * long words look up the same few thousand pairs again and again, and
 * the cache keeps them in L2 instead of all over the merge table. */
static inline int
lmd_bpe_pair(struct lmd_tok_enc *e, const struct lmd_bpe *m, int32_t a,
    int32_t b, uint32_t *rank, int32_t *val)
{
    const struct lmd_tok_pairmap_slot  *ps;
    struct lmd_tok_pairmap_slot        *pc;
    uint64_t                            key;

    key = (uint64_t) (uint32_t) a << 32 | (uint32_t) b;
    if (e->pc != NULL) {
        pc = &((struct lmd_tok_pairmap_slot *) e->pc)
                 [(key * 0xC2B2AE3D27D4EB4FULL) >> (64 - LMD_BPE_PC_BITS)];
        if (pc->key == key) {
            *rank = pc->rank;
            *val = pc->val;
            return pc->val >= 0;
        }
        ps = lmd_tok_pairmap_get(&m->merges, a, b);
        pc->key = key;
        pc->rank = ps != NULL ? ps->rank : 0;
        pc->val = ps != NULL ? ps->val : -1;
    } else {
        ps = lmd_tok_pairmap_get(&m->merges, a, b);
    }
    if (ps == NULL) {
        return 0;
    }
    *rank = ps->rank;
    *val = ps->val;
    return 1;
}


/* A candidate for the pair (sym[pos], its next), or 0. */
static inline int
lmd_bpe_rank_cand(struct lmd_tok_enc *e, const struct lmd_bpe *m,
    const struct lmd_bpe_sym *sym, int32_t pos, int32_t next,
    struct lmd_bpe_cand *c)
{
    uint32_t  rank;
    int32_t   val;

    if (!lmd_bpe_pair(e, m, sym[pos].id, sym[next].id, &rank, &val)) {
        return 0;
    }
    c->key = (uint64_t) rank << 32 | (uint32_t) pos;
    c->left = sym[pos].id;
    c->right = sym[next].id;
    c->merged = val;
    return 1;
}


/* Word::merge_all.  A popped candidate is stale when its pair is no
 * longer there: the ids it was made from are compared, which is what
 * tokenizers' check of the merged id amounts to (pieces only grow, so a
 * changed symbol never has its old id again), without a lookup. */
static void
lmd_bpe_merge_ranks(struct lmd_tok_enc *e, const struct lmd_bpe *m,
    size_t nsym)
{
    struct lmd_bpe_sym   *sym = e->sym;
    struct lmd_bpe_cand  *heap = e->heap, c;
    size_t                nheap = 0, i;
    int32_t               pos, next, prev;

    if (e->pc == NULL && nsym > LMD_BPE_PC_MIN
        && e->text_len >= lmd_bpe_pc_text)
    {
        size_t  k;

        e->pc = malloc(sizeof(struct lmd_tok_pairmap_slot)
                       << LMD_BPE_PC_BITS);
        for (k = 0; e->pc != NULL && k < (1u << LMD_BPE_PC_BITS); k++) {
            ((struct lmd_tok_pairmap_slot *) e->pc)[k].key =
                LMD_TOK_PAIR_EMPTY;
        }
    }
    for (i = 0; i + 1 < nsym; i++) {
        if (e->pc == NULL && i + 8 < nsym) {
            lmd_tok_pairmap_prefetch(&m->merges, sym[i + 8].id,
                                     sym[i + 9 < nsym ? i + 9 : i + 8].id);
        }
        if (lmd_bpe_rank_cand(e, m, sym, (int32_t) i, (int32_t) i + 1, &c)) {
            lmd_heap_push(heap, &nheap, c);
        }
    }
    while (nheap > 0) {
        c = lmd_heap_pop(heap, &nheap);
        pos = (int32_t) (uint32_t) c.key;
        next = sym[pos].next;
        if (sym[pos].len == 0 || next < 0 || sym[pos].id != c.left
            || sym[next].id != c.right)
        {
            continue;           /* stale: the pair has changed */
        }
        sym[pos].id = c.merged;
        sym[pos].len += sym[next].len;
        sym[pos].next = sym[next].next;
        sym[next].len = 0;
        if (sym[pos].next >= 0) {
            sym[sym[pos].next].prev = pos;
        }
        prev = sym[pos].prev;
        if (prev >= 0 && lmd_bpe_rank_cand(e, m, sym, prev, pos, &c)) {
            lmd_heap_push(heap, &nheap, c);
        }
        next = sym[pos].next;
        if (next >= 0 && lmd_bpe_rank_cand(e, m, sym, pos, next, &c)) {
            lmd_heap_push(heap, &nheap, c);
        }
    }
}


static int
lmd_bpe_encode_ranks(struct lmd_tok_enc *e, const struct lmd_bpe *m,
    const char *w, size_t len)
{
    struct lmd_bpe_sym  *sym;
    size_t               nsym = 0, i;

    if (lmd_bpe_reserve(e, len + 2) != LMD_OK) {
        return LMD_ERROR;
    }
    if (m->raw_bytes) {
        sym = e->sym;
        for (i = 0; i < len; i++) {
            lmd_bpe_sym_add(sym, &nsym, m->byte_sym[(uint8_t) w[i]], 1);
        }
    } else if (lmd_bpe_chars(e, m, w, len, &nsym) != LMD_OK) {
        return LMD_ERROR;
    }
    lmd_bpe_merge_ranks(e, m, nsym);
    sym = e->sym;
    for (i = 0; i < nsym; i++) {
        if (sym[i].len != 0 && lmd_bpe_push_id(e, sym[i].id) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


/* ------------------------------------------------------------ SCORES */

/* A float's order as an unsigned key (bigger score: smaller key). */
static inline uint32_t
lmd_bpe_score_key(float f)
{
    uint32_t  u;

    if (f == 0.0f) {
        f = 0.0f;               /* -0 ties with +0, as == says */
    }
    memcpy(&u, &f, 4);
    u = (u & 0x80000000u) ? ~u : u | 0x80000000u;
    return ~u;
}


/* The mergeable piece spelled by w[off, off + len), or -1. */
static inline int32_t
lmd_bpe_piece(const struct lmd_bpe *m, const char *w, size_t off, size_t len)
{
    int32_t  id = lmd_tok_strmap_get(&m->map, w + off, len);

    return id >= 0 && m->mergeable[id] ? id : -1;
}


static int
lmd_bpe_scores_pair(struct lmd_tok_enc *e, const struct lmd_bpe *m,
    const char *w, int32_t l, int32_t r, size_t *nheap)
{
    struct lmd_bpe_sym   *sym = e->sym;
    struct lmd_bpe_cand   c;
    struct lmd_bpe_rev    rv, *rvp;
    size_t                size, i, nrev;
    int32_t               id;

    if (l < 0 || r < 0 || sym[l].frozen || sym[r].frozen) {
        return LMD_OK;
    }
    size = sym[l].len + sym[r].len;
    id = lmd_bpe_piece(m, w, sym[l].off, size);
    if (id < 0) {
        return LMD_OK;
    }
    c.key = (uint64_t) lmd_bpe_score_key(m->scores[id]) << 32 | (uint32_t) l;
    c.right = r;
    c.size = (uint32_t) size;
    c.left = -1;
    c.merged = -1;
    lmd_heap_push(e->heap, nheap, c);
    if (!m->unused[id]) {
        return LMD_OK;
    }
    /* rev_merge[piece] = (left, right), the last one pushed winning */
    rv.off = sym[l].off;
    rv.len = (uint32_t) size;
    rv.loff = sym[l].off;
    rv.llen = sym[l].len;
    rv.roff = sym[r].off;
    rv.rlen = sym[r].len;
    rvp = (struct lmd_bpe_rev *) e->rev.p;
    nrev = e->rev.len / sizeof(rv);
    for (i = 0; i < nrev; i++) {
        if (rvp[i].len == rv.len
            && memcmp(w + rvp[i].off, w + rv.off, rv.len) == 0)
        {
            rvp[i] = rv;
            return LMD_OK;
        }
    }
    if (lmd_tok_buf_put(&e->rev, &rv, sizeof(rv)) != LMD_OK) {
        lmd_tok_err(e->err, e->errlen, "out of memory");
        return LMD_ERROR;
    }
    return LMD_OK;
}


/* sentencepiece's resegment, then the byte fallback of
 * PopulateSentencePieceText. */
static int
lmd_bpe_scores_emit(struct lmd_tok_enc *e, const struct lmd_bpe *m,
    const char *w, size_t off, size_t len, int depth)
{
    const struct lmd_bpe_rev  *rvp = (const struct lmd_bpe_rev *) e->rev.p;
    size_t                     i, nrev = e->rev.len / sizeof(*rvp);
    int32_t                    id;

    id = lmd_tok_strmap_get(&m->map, w + off, len);
    if (id >= 0 && m->unused[id] && depth < 64) {
        for (i = 0; i < nrev; i++) {
            if (rvp[i].len == len
                && memcmp(w + rvp[i].off, w + off, len) == 0)
            {
                struct lmd_bpe_rev  rv = rvp[i];

                if (lmd_bpe_scores_emit(e, m, w, rv.loff, rv.llen,
                                        depth + 1) != LMD_OK)
                {
                    return LMD_ERROR;
                }
                return lmd_bpe_scores_emit(e, m, w, rv.roff, rv.rlen,
                                           depth + 1);
            }
        }
    }
    if (id >= 0) {
        return lmd_bpe_push_id(e, id);
    }
    if (m->byte_fallback) {
        for (i = 0; i < len; i++) {
            if (lmd_bpe_push_id(e, m->byte_fb[(uint8_t) w[off + i]])
                != LMD_OK)
            {
                return LMD_ERROR;
            }
        }
        return LMD_OK;
    }
    return lmd_bpe_push_id(e, m->unk_id);
}


static int
lmd_bpe_encode_scores(struct lmd_tok_enc *e, const struct lmd_bpe *m,
    const char *w, size_t len)
{
    struct lmd_bpe_sym   *sym;
    struct lmd_bpe_cand   c;
    size_t                nsym = 0, nheap = 0, i = 0, ulen;
    int32_t               l, r;

    if (lmd_bpe_reserve(e, len + 2) != LMD_OK) {
        return LMD_ERROR;
    }
    e->rev.len = 0;
    sym = e->sym;
    while (i < len) {
        int  frozen = 0;

        if (m->frozen != NULL
            && lmd_tok_trie_longest(m->frozen, w + i, len - i, &ulen) >= 0)
        {
            frozen = 1;
        } else {
            ulen = lmd_tok_utf8_len((uint8_t) w[i]);
            if (ulen > len - i) {
                ulen = len - i;
            }
        }
        lmd_bpe_sym_add(sym, &nsym, -1, (uint32_t) ulen);
        sym[nsym - 1].off = (uint32_t) i;
        sym[nsym - 1].frozen = (uint32_t) frozen;
        i += ulen;
    }
    for (i = 1; i < nsym; i++) {
        if (lmd_bpe_scores_pair(e, m, w, (int32_t) i - 1, (int32_t) i,
                                &nheap) != LMD_OK)
        {
            return LMD_ERROR;
        }
    }
    while (nheap > 0) {
        c = lmd_heap_pop(e->heap, &nheap);
        l = (int32_t) (uint32_t) c.key;
        r = c.right;
        if (sym[l].len == 0 || sym[r].len == 0
            || sym[l].len + sym[r].len != c.size)
        {
            continue;
        }
        sym[l].len += sym[r].len;
        sym[l].next = sym[r].next;
        if (sym[r].next >= 0) {
            sym[sym[r].next].prev = l;
        }
        sym[r].len = 0;
        if (lmd_bpe_scores_pair(e, m, w, sym[l].prev, l, &nheap) != LMD_OK
            || lmd_bpe_scores_pair(e, m, w, l, sym[l].next, &nheap)
               != LMD_OK)
        {
            return LMD_ERROR;
        }
    }
    for (i = 0; i < nsym; i++) {
        if (sym[i].len != 0
            && lmd_bpe_scores_emit(e, m, w, sym[i].off, sym[i].len, 0)
               != LMD_OK)
        {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


/* ------------------------------------------------------------ driver */

/* One piece of a word: the cache, else the merges. */
static int
lmd_bpe_encode_piece(struct lmd_tok_enc *e, const struct lmd_bpe *m,
    const char *w, size_t len)
{
    size_t    i, n0 = e->out->n;
    uint64_t  hash = 0;
    int32_t   ids[LMD_TOK_CACHE_IDS], id;
    int       hit, rc;

    if (m->cache != NULL && len <= LMD_TOK_CACHE_KEY) {
        hash = lmd_tok_hash(w, len);
        hit = lmd_tok_cache_get(m->cache, w, len, hash, ids,
                                LMD_TOK_CACHE_IDS);
        if (hit >= 0) {
            for (i = 0; i < (size_t) hit; i++) {
                if (lmd_bpe_push_id(e, ids[i]) != LMD_OK) {
                    return LMD_ERROR;
                }
            }
            return LMD_OK;
        }
    }
    /* ignore_merges: a word in the vocabulary is one token (chunking is
     * off with ignore_merges, so every piece here is a whole word) */
    id = -1;
    if (m->ignore_merges && m->kind == LMD_BPE_RANKS) {
        id = m->raw_bytes ? lmd_tok_strmap_get(&m->raw_map, w, len)
                          : lmd_tok_strmap_get(&m->map, w, len);
    }
    if (id >= 0) {
        rc = lmd_bpe_push_id(e, id);
    } else if (m->kind == LMD_BPE_SCORES) {
        rc = lmd_bpe_encode_scores(e, m, w, len);
    } else {
        rc = lmd_bpe_encode_ranks(e, m, w, len);
    }
    if (rc == LMD_OK && m->cache != NULL && len <= LMD_TOK_CACHE_KEY
        && e->out->n > n0)
    {
        lmd_tok_cache_put(m->cache, w, len, hash, e->out->ids + n0,
                          e->out->n - n0);
    }
    return rc;
}


/* Chunking: a boundary before U+2581 is one no merge can cross when no
 * piece holds the character before it followed by U+2581 (see
 * lmd_bpe_chunk_setup).  The merges of one chunk never depend on another
 * chunk, so BPE of the chunks one by one is BPE of the whole word. */
static int
lmd_bpe_chunk_ok(const struct lmd_bpe *m, const char *w, size_t at)
{
    size_t    k = at - 1, lo = 0, hi = m->nchunk_bad;
    uint32_t  cp;

    while (k > 0 && ((uint8_t) w[k] & 0xC0) == 0x80) {
        k--;
    }
    cp = lmd_tok_utf8_next(w, &k);
    while (lo < hi) {
        size_t  mid = (lo + hi) / 2;

        if (m->chunk_bad[mid] == cp) {
            return 0;
        }
        if (m->chunk_bad[mid] < cp) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return 1;
}


int
lmd_bpe_encode(struct lmd_tok_enc *e, const char *w, size_t len)
{
    const struct lmd_bpe  *m = &e->t->model;
    const char            *hit;
    size_t                 start = 0, at;

    if (len == 0) {
        return LMD_OK;
    }
    if (!m->chunk || len <= LMD_TOK_CACHE_KEY) {
        return lmd_bpe_encode_piece(e, m, w, len);
    }
    for (at = 1; at + 3 <= len; at = (size_t) (hit - w) + 1) {
        hit = memmem(w + at, len - at, "\xE2\x96\x81", 3);
        if (hit == NULL) {
            break;
        }
        if (lmd_bpe_chunk_ok(m, w, (size_t) (hit - w))) {
            if (lmd_bpe_encode_piece(e, m, w + start,
                                     (size_t) (hit - w) - start) != LMD_OK)
            {
                return LMD_ERROR;
            }
            start = (size_t) (hit - w);
        }
    }
    return lmd_bpe_encode_piece(e, m, w + start, len - start);
}


static int
lmd_bpe_cmp_cp(const void *a, const void *b)
{
    uint32_t  x = *(const uint32_t *) a, y = *(const uint32_t *) b;

    return x < y ? -1 : x > y;
}


/* Whether words may be cut before U+2581, and the characters that must
 * not come before such a cut: every character that some mergeable piece
 * holds right before a U+2581.  Off when U+2581 is not a piece. */
int
lmd_bpe_chunk_setup(struct lmd_bpe *m)
{
    size_t     i, j, k, n = 0, cap = 0;
    uint32_t  *bad = NULL, *p, cp;

    if (lmd_tok_strmap_get(&m->map, "\xE2\x96\x81", 3) < 0
        || m->raw_bytes || m->prefix != NULL || m->suffix != NULL
        || m->ignore_merges)
    {
        return LMD_OK;
    }
    for (i = 0; i < m->nids; i++) {
        const char  *s = m->pool.p + m->pieces[i].off;
        size_t       len = m->pieces[i].len;

        if (len == UINT32_MAX || (m->mergeable != NULL && !m->mergeable[i])) {
            continue;
        }
        for (j = 0; j + 3 <= len; j++) {
            if (j == 0 || memcmp(s + j, "\xE2\x96\x81", 3) != 0) {
                continue;
            }
            k = j - 1;
            while (k > 0 && ((uint8_t) s[k] & 0xC0) == 0x80) {
                k--;
            }
            cp = lmd_tok_utf8_next(s, &k);
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                p = realloc(bad, cap * sizeof(*p));
                if (p == NULL) {
                    free(bad);
                    return LMD_ERROR;
                }
                bad = p;
            }
            bad[n++] = cp;
        }
    }
    if (n > 0) {
        qsort(bad, n, sizeof(*bad), lmd_bpe_cmp_cp);
    }
    m->chunk_bad = bad;
    m->nchunk_bad = n;
    m->chunk = 1;
    return LMD_OK;
}
