/*
 * cpu_attention.c -- causal self-attention over the paged KV cache.
 *
 * A step first writes every new token's K and V rows into its sequence's
 * blocks (cpu_kv_write), then attends: each query row (one head of one
 * new token) scores the keys at positions 0 .. its own (the last
 * sliding_window of them for Mistral), scaled by 1/sqrt(head_dim),
 * softmaxes them in f32 and sums the values with those weights.  A
 * query head h reads KV head h / group (grouped-query attention).
 *
 * Design: the work is cut into tasks (struct cpu_att_task), each a few
 * query heads of one KV head times a few consecutive tokens of one
 * sequence: at most CPU_ATT_ROWS rows that walk the same keys, so every
 * K or V row streamed from a block serves all of them while it is in L1.
 * Tasks are cut finer (fewer heads each) when there would be too few to
 * keep the threads busy.  How rows are grouped never changes what a row
 * computes: its dot products, softmax and weighted sum run in the same
 * order whatever task it lands in, so results do not depend on the
 * batch or the thread count.
 */

#include "cpu_engine.h"

#include <stdlib.h>
#include <string.h>


/* The task is compiled for AVX-512 and AVX2 as well, and the best the
 * cpu has is picked at load (an ifunc): its dot products and sums are
 * written lane by lane, so every clone computes the same bits. */
#if defined(__x86_64__) && defined(__GNUC__)
#define CPU_ATT_CLONES  __attribute__((target_clones("avx512f", "avx2",    \
                                                     "default")))
#else
#define CPU_ATT_CLONES
#endif

struct cpu_att_ctx {
    struct cpu_engine          *e;
    const struct lmd_batch     *b;
    uint32_t                    layer;
};


/* One KV head's run of block_size rows (K: which 0, V: which 1) in a
 * block of the cache. */
static inline float *
cpu_kv_run(const struct cpu_engine *e, uint32_t block, uint32_t layer,
    uint32_t which, uint32_t kv_head)
{
    const struct cpu_kv  *kv = &e->kv;
    size_t                run;

    run = ((size_t) layer * 2 + which) * e->d.n_kv_heads + kv_head;
    return kv->data + block * kv->block_floats + run * kv->head_floats;
}


void
cpu_kv_write(struct cpu_engine *e, const struct lmd_batch *b,
    uint32_t layer, uint32_t tok0, uint32_t tok1)
{
    const struct cpu_dims       *d = &e->d;
    const struct cpu_scratch    *s = &e->s;
    const struct lmd_seq_input  *q;
    const float                 *k, *v;     /* [n_kv_heads][head_dim] */
    uint32_t                     i, h, pos, block, off;
    size_t                       bytes;

    bytes = d->head_dim * sizeof(float);
    for (i = tok0; i < tok1; i++) {
        q = &b->seqs[s->tok_seq[i]];
        pos = s->tok_pos[i];
        block = q->blocks[pos / e->kv.block_size];
        off = (pos % e->kv.block_size) * d->head_dim;
        k = s->qkv + (size_t) i * d->qkv_dim + d->q_dim;
        v = k + d->kv_dim;
        for (h = 0; h < d->n_kv_heads; h++) {
            memcpy(cpu_kv_run(e, block, layer, 0, h) + off,
                   k + (size_t) h * d->head_dim, bytes);
            memcpy(cpu_kv_run(e, block, layer, 1, h) + off,
                   v + (size_t) h * d->head_dim, bytes);
        }
    }
}


/* ------------------------------------------------------------- planning */

/* The tasks for heads_per_task heads; n_tasks only when tasks is NULL. */
static uint32_t
cpu_att_cut(struct cpu_engine *e, const struct lmd_batch *b,
    uint32_t last_layer, uint32_t hpt, struct cpu_att_task *tasks)
{
    const struct cpu_dims       *d = &e->d;
    const struct lmd_seq_input  *q;
    uint32_t                     n, i, kvh, h0, t0, first, tpt;

    tpt = CPU_ATT_ROWS / hpt > 0 ? CPU_ATT_ROWS / hpt : 1;
    n = 0;
    for (i = 0; i < b->n_seqs; i++) {
        q = &b->seqs[i];
        /* The last layer's attention matters for the logit rows only. */
        first = last_layer ? q->n_tokens - q->n_logits : 0;
        if (first == q->n_tokens) {
            continue;
        }
        if (tasks == NULL) {
            n += d->n_kv_heads * ((d->group + hpt - 1) / hpt)
                 * ((q->n_tokens - first + tpt - 1) / tpt);
            continue;
        }
        for (t0 = first; t0 < q->n_tokens; t0 += tpt) {
            for (kvh = 0; kvh < d->n_kv_heads; kvh++) {
                for (h0 = 0; h0 < d->group; h0 += hpt) {
                    tasks[n].seq = i;
                    tasks[n].kv_head = kvh;
                    tasks[n].head0 = h0;
                    tasks[n].n_heads = d->group - h0 < hpt ? d->group - h0
                                                           : hpt;
                    tasks[n].tok0 = t0;
                    tasks[n].tok1 = q->n_tokens - t0 < tpt ? q->n_tokens
                                                           : t0 + tpt;
                    n++;
                }
            }
        }
    }
    return n;
}


/* Plans one layer's attention into e->s.tasks (last_layer: the logit
 * rows only); returns the number of tasks, or UINT32_MAX out of
 * memory. */
uint32_t
cpu_attention_plan(struct cpu_engine *e, const struct lmd_batch *b,
    uint32_t last_layer)
{
    struct cpu_scratch   *s = &e->s;
    struct cpu_att_task  *t;
    uint32_t              hpt, n;

    /* Whole groups share their keys best; halve them while there are
     * fewer than two tasks per thread. */
    hpt = e->d.group > CPU_ATT_ROWS ? CPU_ATT_ROWS : e->d.group;
    n = cpu_att_cut(e, b, last_layer, hpt, NULL);
    while (hpt > 1 && n < 2 * e->threads) {
        hpt = (hpt + 1) / 2;
        n = cpu_att_cut(e, b, last_layer, hpt, NULL);
    }

    if (n > s->cap_tasks) {
        t = realloc(s->tasks, (size_t) n * sizeof(struct cpu_att_task));
        if (t == NULL) {
            return UINT32_MAX;
        }
        s->tasks = t;
        s->cap_tasks = n;
    }
    return cpu_att_cut(e, b, last_layer, hpt, s->tasks);
}


/* ------------------------------------------------------------ attention */

CPU_ATT_CLONES static void
cpu_att_task_run(void *arg, uint32_t task, uint32_t thread)
{
    struct cpu_att_ctx          *c = arg;
    struct cpu_engine           *e = c->e;
    const struct cpu_dims       *d = &e->d;
    const struct cpu_scratch    *s = &e->s;
    const struct cpu_att_task   *t = &s->tasks[task];
    const struct lmd_seq_input  *q = &c->b->seqs[t->seq];
    const float                 *qr[CPU_ATT_ROWS];  /* [head_dim] each */
    float                       *out[CPU_ATT_ROWS]; /* [head_dim] each */
    float                       *sc[CPU_ATT_ROWS];  /* scores, from lo */
    uint32_t                     lo[CPU_ATT_ROWS], hi[CPU_ATT_ROWS];
    const float                 *k, *v;     /* [block_size][head_dim] */
    uint32_t                     nr, r, i, j, h, tok, p, end, bs, t_lo;
    uint32_t                     t_hi;
    float                       *scores;    /* [CPU_ATT_ROWS][cap_ctx] */

    bs = e->kv.block_size;
    scores = s->scores + (size_t) thread * CPU_ATT_ROWS * s->cap_ctx;

    /* Row r is head head0 + r % n_heads of token tok0 + r / n_heads; it
     * attends to positions [lo, hi). */
    nr = 0;
    for (i = t->tok0; i < t->tok1; i++) {
        tok = s->seq_base[t->seq] + i;
        for (j = 0; j < t->n_heads; j++) {
            h = t->kv_head * d->group + t->head0 + j;
            qr[nr] = s->qkv + (size_t) tok * d->qkv_dim
                     + (size_t) h * d->head_dim;
            out[nr] = s->att + (size_t) tok * d->q_dim
                      + (size_t) h * d->head_dim;
            hi[nr] = q->pos + i + 1;
            lo[nr] = d->window > 0 && hi[nr] > d->window
                     ? hi[nr] - d->window : 0;
            sc[nr] = scores + (size_t) nr * s->cap_ctx;
            nr++;
        }
    }
    if (nr == 0) {
        return;
    }
    t_lo = lo[0];
    t_hi = hi[nr - 1];

    /* Scores: one block's keys at a time, each key against every row
     * whose window holds it (hot loop). */
    for (p = t_lo; p < t_hi; ) {
        k = cpu_kv_run(e, q->blocks[p / bs], c->layer, 0, t->kv_head)
            + (size_t) (p % bs) * d->head_dim;
        end = (p / bs + 1) * bs;
        end = end < t_hi ? end : t_hi;
        for (; p < end; p++, k += d->head_dim) {
            for (r = 0; r < nr; r++) {
                if (p >= lo[r] && p < hi[r]) {
                    sc[r][p - t_lo] = cpu_dot(qr[r], k, d->head_dim)
                                      * d->att_scale;
                }
            }
        }
    }

    for (r = 0; r < nr; r++) {
        cpu_softmax(sc[r] + (lo[r] - t_lo), hi[r] - lo[r]);
        memset(out[r], 0, d->head_dim * sizeof(float));
    }

    /* The weighted sum of values, positions ascending (hot loop). */
    for (p = t_lo; p < t_hi; ) {
        v = cpu_kv_run(e, q->blocks[p / bs], c->layer, 1, t->kv_head)
            + (size_t) (p % bs) * d->head_dim;
        end = (p / bs + 1) * bs;
        end = end < t_hi ? end : t_hi;
        for (; p < end; p++, v += d->head_dim) {
            for (r = 0; r < nr; r++) {
                if (p >= lo[r] && p < hi[r]) {
                    cpu_axpy(out[r], sc[r][p - t_lo], v, d->head_dim);
                }
            }
        }
    }
}


/* Runs the n_tasks tasks of cpu_attention_plan for layer over the pool:
 * att[token][head] for every planned row. */
void
cpu_attention(struct cpu_engine *e, const struct lmd_batch *b,
    uint32_t layer, uint32_t n_tasks)
{
    struct cpu_att_ctx  c;

    c.e = e;
    c.b = b;
    c.layer = layer;
    cpu_pool_run(e->pool, n_tasks, cpu_att_task_run, &c);
}
