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
 * Keys are stored transposed within a block ([head_dim][block_size] per
 * KV head), values as rows ([block_size][head_dim]).  A query row's
 * scores for eight consecutive positions are then one vector:
 *
 *   s[p .. p+7] += q[i] * Kt[i][p .. p+7]    for i = 0 .. head_dim-1
 *
 * with no horizontal sums; each lane adds its products in order of i, the
 * same whether it runs in a vector or in the scalar tail, so a score
 * never depends on where its position falls.  Values are summed the
 * natural way, out[.] += p_t * V[t][.], positions ascending.
 *
 * With a KV codec (modules/int8-kv) the blocks hold quantized runs: a
 * task unpacks each block's run once into its thread's tile (f32, in
 * the layout above, a few KB in L1/L2) and the same loops read it, so
 * the numbers are exactly f32 attention on the dequantized cache.
 *
 * Design: the work is cut into tasks (struct cpu_att_task), each a few
 * query heads of one KV head times a few consecutive tokens of one
 * sequence: at most CPU_ATT_ROWS rows that walk the same keys, so every
 * K or V element streamed from a block serves all of them while it is in
 * L1.  Tasks are cut finer (fewer heads each) when there would be too few
 * to keep the threads busy.  How rows are grouped never changes what a
 * row computes: its scores, softmax and weighted sum run in the same
 * order whatever task it lands in, so results do not depend on the
 * batch or the thread count.
 */

#include "cpu_engine.h"

#include <stdlib.h>
#include <string.h>


/* The task is compiled for AVX-512 and AVX2 as well, and the best the
 * cpu has is picked at load (an ifunc): its vectors are GCC's generic
 * eight-lane ones, so every clone computes the same bits. */
#if defined(__x86_64__) && defined(__GNUC__)
#define CPU_ATT_CLONES  __attribute__((target_clones("avx512f", "avx2",    \
                                                     "default")))
#else
#define CPU_ATT_CLONES
#endif

typedef float cpu_v8 __attribute__((vector_size(32)));

struct cpu_att_ctx {
    struct cpu_engine          *e;
    const struct lmd_batch     *b;
    uint32_t                    layer;
};


/* One KV head's run in a block of the cache: K transposed
 * ([head_dim][block_size], which 0) or V ([block_size][head_dim],
 * which 1). */
static inline void *
cpu_kv_run(const struct cpu_engine *e, uint32_t block, uint32_t layer,
    uint32_t which, uint32_t kv_head)
{
    const struct cpu_kv  *kv = &e->kv;
    size_t                run;

    run = ((size_t) layer * 2 + which) * e->d.n_kv_heads + kv_head;
    return kv->data + block * kv->block_bytes + run * kv->run_bytes;
}


void
cpu_kv_write(struct cpu_engine *e, const struct lmd_batch *b,
    uint32_t layer, uint32_t tok0, uint32_t tok1)
{
    const struct cpu_dims       *d = &e->d;
    const struct cpu_scratch    *s = &e->s;
    const struct lmd_seq_input  *q;
    const float                 *k, *v;     /* [n_kv_heads][head_dim] */
    float                       *kt;        /* [head_dim][block_size] */
    uint32_t                     i, h, j, pos, block, off, bs;

    bs = e->kv.block_size;
    for (i = tok0; i < tok1; i++) {
        q = &b->seqs[s->tok_seq[i]];
        pos = s->tok_pos[i];
        block = q->blocks[pos / bs];
        off = pos % bs;
        k = s->qkv + (size_t) i * d->qkv_dim + d->q_dim;
        v = k + d->kv_dim;
        for (h = 0; h < d->n_kv_heads; h++) {
            if (e->kv.codec != NULL) {
                /* quantized on write (modules/int8-kv) */
                e->kv.codec->put(cpu_kv_run(e, block, layer, 0, h), 0, bs,
                                 d->head_dim, off,
                                 k + (size_t) h * d->head_dim);
                e->kv.codec->put(cpu_kv_run(e, block, layer, 1, h), 1, bs,
                                 d->head_dim, off,
                                 v + (size_t) h * d->head_dim);
                continue;
            }
            kt = (float *) cpu_kv_run(e, block, layer, 0, h) + off;
            for (j = 0; j < d->head_dim; j++) {
                kt[(size_t) j * bs] = k[(size_t) h * d->head_dim + j];
            }
            memcpy((float *) cpu_kv_run(e, block, layer, 1, h)
                   + (size_t) off * d->head_dim,
                   v + (size_t) h * d->head_dim,
                   d->head_dim * sizeof(float));
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

/* Scores of one query row for positions [c0, c1) of a block: lane p sums
 * q[i] * Kt[i][p] over i in order, then scales.  Four vectors at a time
 * keep four independent sums in flight; every path computes a position
 * the same way. */
static inline void
cpu_att_scores(const float *kt, uint32_t bs, uint32_t c0, uint32_t c1,
    const float *q, uint32_t head_dim, float scale, float *out)
{
    cpu_v8        a0, a1, a2, a3, k0, k1, k2, k3;
    const float  *kp;
    uint32_t      c, i;
    float         a;

    for (c = c0; c + 32 <= c1; c += 32) {
        a0 = a1 = a2 = a3 = (cpu_v8) { 0, 0, 0, 0, 0, 0, 0, 0 };
        for (i = 0; i < head_dim; i++) {
            kp = kt + (size_t) i * bs + c;
            memcpy(&k0, kp, sizeof(k0));
            memcpy(&k1, kp + 8, sizeof(k1));
            memcpy(&k2, kp + 16, sizeof(k2));
            memcpy(&k3, kp + 24, sizeof(k3));
            a0 += q[i] * k0;
            a1 += q[i] * k1;
            a2 += q[i] * k2;
            a3 += q[i] * k3;
        }
        a0 *= scale;
        a1 *= scale;
        a2 *= scale;
        a3 *= scale;
        memcpy(out + (c - c0), &a0, sizeof(a0));
        memcpy(out + (c - c0) + 8, &a1, sizeof(a1));
        memcpy(out + (c - c0) + 16, &a2, sizeof(a2));
        memcpy(out + (c - c0) + 24, &a3, sizeof(a3));
    }
    for (; c + 8 <= c1; c += 8) {
        a0 = (cpu_v8) { 0, 0, 0, 0, 0, 0, 0, 0 };
        for (i = 0; i < head_dim; i++) {
            memcpy(&k0, kt + (size_t) i * bs + c, sizeof(k0));
            a0 += q[i] * k0;
        }
        a0 *= scale;
        memcpy(out + (c - c0), &a0, sizeof(a0));
    }
    for (; c < c1; c++) {
        a = 0.0f;
        for (i = 0; i < head_dim; i++) {
            a += q[i] * kt[(size_t) i * bs + c];
        }
        out[c - c0] = a * scale;
    }
}


/* out += sum of w[p] * V[p] for the n rows of v ([n][head_dim]), p
 * ascending: 32 columns at a time held in registers across the rows.
 * Each element adds its terms in the same order on every path. */
static inline void
cpu_att_values(const float *v, uint32_t n, const float *w,
    uint32_t head_dim, float *out)
{
    cpu_v8        a0, a1, a2, a3, v0, v1, v2, v3;
    const float  *vp;
    uint32_t      c, p;
    float         a;

    for (c = 0; c + 32 <= head_dim; c += 32) {
        memcpy(&a0, out + c, sizeof(a0));
        memcpy(&a1, out + c + 8, sizeof(a1));
        memcpy(&a2, out + c + 16, sizeof(a2));
        memcpy(&a3, out + c + 24, sizeof(a3));
        for (p = 0; p < n; p++) {
            vp = v + (size_t) p * head_dim + c;
            memcpy(&v0, vp, sizeof(v0));
            memcpy(&v1, vp + 8, sizeof(v1));
            memcpy(&v2, vp + 16, sizeof(v2));
            memcpy(&v3, vp + 24, sizeof(v3));
            a0 += w[p] * v0;
            a1 += w[p] * v1;
            a2 += w[p] * v2;
            a3 += w[p] * v3;
        }
        memcpy(out + c, &a0, sizeof(a0));
        memcpy(out + c + 8, &a1, sizeof(a1));
        memcpy(out + c + 16, &a2, sizeof(a2));
        memcpy(out + c + 24, &a3, sizeof(a3));
    }
    for (; c + 8 <= head_dim; c += 8) {
        memcpy(&a0, out + c, sizeof(a0));
        for (p = 0; p < n; p++) {
            memcpy(&v0, v + (size_t) p * head_dim + c, sizeof(v0));
            a0 += w[p] * v0;
        }
        memcpy(out + c, &a0, sizeof(a0));
    }
    for (; c < head_dim; c++) {
        a = out[c];
        for (p = 0; p < n; p++) {
            a += w[p] * v[(size_t) p * head_dim + c];
        }
        out[c] = a;
    }
}


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
    const float                 *kt;    /* [head_dim][block_size] */
    const float                 *v;     /* [block_size][head_dim] */
    uint32_t                     nr, r, i, j, h, tok, p, end, bs, t_lo;
    uint32_t                     t_hi, base, r0, r1;
    float                       *scores;    /* [CPU_ATT_ROWS][cap_ctx] */
    float                       *tile;      /* a codec's run, unpacked */

    bs = e->kv.block_size;
    scores = s->scores + (size_t) thread * CPU_ATT_ROWS * s->cap_ctx;
    tile = e->kv.codec != NULL ? s->kv_tile + thread * s->kv_tile_floats
                               : NULL;

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

    /* Scores: a block's keys at a time, each row over the part of the
     * block its window holds (hot loop). */
    for (p = t_lo; p < t_hi; p = end) {
        kt = cpu_kv_run(e, q->blocks[p / bs], c->layer, 0, t->kv_head);
        if (tile != NULL) {
            /* a codec's run: dequantized once for all the rows */
            e->kv.codec->unpack(kt, 0, bs, d->head_dim, tile);
            kt = tile;
        }
        base = p - p % bs;                  /* the block's first position */
        end = base + bs < t_hi ? base + bs : t_hi;
        for (r = 0; r < nr; r++) {
            r0 = lo[r] > p ? lo[r] : p;
            r1 = hi[r] < end ? hi[r] : end;
            if (r0 < r1) {
                cpu_att_scores(kt, bs, r0 - base, r1 - base, qr[r],
                               d->head_dim, d->att_scale,
                               sc[r] + (r0 - t_lo));
            }
        }
    }

    for (r = 0; r < nr; r++) {
        cpu_softmax(sc[r] + (lo[r] - t_lo), hi[r] - lo[r]);
        memset(out[r], 0, d->head_dim * sizeof(float));
    }

    /* The weighted sum of values, positions ascending (hot loop). */
    for (p = t_lo; p < t_hi; p = end) {
        v = cpu_kv_run(e, q->blocks[p / bs], c->layer, 1, t->kv_head);
        if (tile != NULL) {
            e->kv.codec->unpack(v, 1, bs, d->head_dim, tile);
            v = tile;
        }
        base = p - p % bs;
        end = base + bs < t_hi ? base + bs : t_hi;
        for (r = 0; r < nr; r++) {
            r0 = lo[r] > p ? lo[r] : p;
            r1 = hi[r] < end ? hi[r] : end;
            if (r0 < r1) {
                cpu_att_values(v + (size_t) (r0 - base) * d->head_dim,
                               r1 - r0, sc[r] + (r0 - t_lo), d->head_dim,
                               out[r]);
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
