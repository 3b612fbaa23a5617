/*
 * cpu_forward.c -- one batched step of the cpu engine: every sequence's
 * new tokens through the transformer, logits for the rows asked for.
 *
 * The new tokens of all sequences are gathered into one activation
 * matrix x[T][hidden], so each weight matrix is streamed once per step
 * (cpu_matmul with m = T), whatever the mix of prefill and decode.  Only
 * attention and RoPE look at which sequence a row belongs to.  The last
 * layer's attention and MLP, the final norm and lm_head run on the rows
 * whose logits are requested only.
 *
 * Design: the elementwise passes run over rows, split over the pool when
 * a pass is big enough to pay for waking it (cpu_rows).  Each row is
 * computed by the same code whatever the split, and the kernels promise
 * the same for matmuls, so the step is deterministic: a sequence's
 * logits do not depend on the batch around it or the thread count.
 * Scratch buffers grow to the largest step seen and stay; a step
 * allocates nothing once they are big enough.
 */

#include "cpu_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A pass smaller than this many elements runs on the engine thread
 * (a test build may set 0 to split every pass). */
#ifndef CPU_ROWS_SERIAL
#define CPU_ROWS_SERIAL     (32u * 1024)
#endif
/* The most new tokens in one step (sizes stay far from overflow). */
#define CPU_MAX_STEP_TOKENS (1u << 22)
#define CPU_ALIGN           64
/* Columns of silu(gate) * up per unit of work. */
#define CPU_SWIGLU_PART     1024

struct cpu_step;

typedef void (*cpu_rows_pt)(struct cpu_step *st, uint32_t r0, uint32_t r1);

/* What the passes of one step share. */
struct cpu_step {
    struct cpu_engine          *e;
    const struct lmd_batch     *b;
    uint32_t                    n_tokens;   /* T */
    uint32_t                    n_logits;   /* L */
    uint32_t                    max_ctx;    /* longest pos + n_tokens */
    uint32_t                    layer;
    const float                *norm;       /* [hidden]: the next norm */
    cpu_rows_pt                 fn;         /* cpu_rows' pass */
    uint32_t                    n_rows;
    uint32_t                    chunk;
};


/* ------------------------------------------------------------ the checks */

/* Validates the batch and sizes the step; -1 with err on bad input. */
static int
cpu_batch_check(struct cpu_engine *e, const struct lmd_batch *b,
    struct cpu_step *st, char *err, size_t errlen)
{
    const struct lmd_seq_input  *q;
    uint64_t                     t, l, end, need;
    uint32_t                     i, j, bs;

    if (e->kv.data == NULL) {
        snprintf(err, errlen, "cpu: forward before kv_init");
        return -1;
    }
    if (b->n_seqs > 0 && b->seqs == NULL) {
        snprintf(err, errlen, "cpu: batch of %u sequences without them",
                 b->n_seqs);
        return -1;
    }

    bs = e->kv.block_size;
    t = 0;
    l = 0;
    st->max_ctx = 0;
    for (i = 0; i < b->n_seqs; i++) {
        q = &b->seqs[i];
        if (q->n_tokens == 0 || q->tokens == NULL) {
            snprintf(err, errlen, "cpu: sequence %u: no tokens", i);
            return -1;
        }
        if (q->n_logits > q->n_tokens) {
            snprintf(err, errlen, "cpu: sequence %u: %u logits asked for "
                     "%u new tokens", i, q->n_logits, q->n_tokens);
            return -1;
        }
        end = (uint64_t) q->pos + q->n_tokens;
        need = (end + bs - 1) / bs;
        if (q->blocks == NULL || need > q->n_blocks) {
            snprintf(err, errlen, "cpu: sequence %u: positions up to %llu "
                     "need %llu blocks of %u, %u given", i,
                     (unsigned long long) end, (unsigned long long) need,
                     bs, q->blocks == NULL ? 0 : q->n_blocks);
            return -1;
        }
        if (end > (uint64_t) e->kv.n_blocks * bs) {
            snprintf(err, errlen, "cpu: sequence %u: %llu positions, more "
                     "than the KV pool holds (%llu)", i,
                     (unsigned long long) end,
                     (unsigned long long) e->kv.n_blocks * bs);
            return -1;
        }
        if (end > e->cfg.max_position
            && e->cfg.rope_scaling.type != LMD_ROPE_DYNAMIC)
        {
            snprintf(err, errlen, "cpu: sequence %u: position %llu past "
                     "max_position_embeddings (%u)", i,
                     (unsigned long long) end - 1, e->cfg.max_position);
            return -1;
        }
        for (j = 0; j < need; j++) {
            if (q->blocks[j] >= e->kv.n_blocks) {
                snprintf(err, errlen, "cpu: sequence %u: block %u is not "
                         "in the pool of %u", i, q->blocks[j],
                         e->kv.n_blocks);
                return -1;
            }
        }
        for (j = 0; j < q->n_tokens; j++) {
            if (q->tokens[j] < 0 || (uint32_t) q->tokens[j] >= e->d.vocab) {
                snprintf(err, errlen, "cpu: sequence %u: token %d (at %u) "
                         "is not in the vocabulary of %u", i, q->tokens[j],
                         q->pos + j, e->d.vocab);
                return -1;
            }
        }
        t += q->n_tokens;
        l += q->n_logits;
        if (end > st->max_ctx) {
            st->max_ctx = (uint32_t) end;
        }
    }

    if (t > CPU_MAX_STEP_TOKENS) {
        snprintf(err, errlen, "cpu: %llu tokens in one step (at most %u)",
                 (unsigned long long) t, CPU_MAX_STEP_TOKENS);
        return -1;
    }
    if (l > 0 && b->logits == NULL) {
        snprintf(err, errlen, "cpu: %llu logits asked for, no buffer",
                 (unsigned long long) l);
        return -1;
    }
    st->n_tokens = (uint32_t) t;
    st->n_logits = (uint32_t) l;
    return 0;
}


/* --------------------------------------------------------------- scratch */

static size_t
cpu_round(size_t n)
{
    return (n + CPU_ALIGN - 1) & ~(size_t) (CPU_ALIGN - 1);
}


/* Lays the per-step buffers out in one arena (arena NULL: just sizes). */
static size_t
cpu_scratch_layout(struct cpu_scratch *s, const struct cpu_dims *d,
    char *arena, size_t t, size_t l, size_t n)
{
    size_t  off = 0, half = d->head_dim / 2;

#define CPU_CARVE(field, type, count)                                         \
    do {                                                                      \
        if (arena != NULL) {                                                  \
            s->field = (type *) (void *) (arena + off);                       \
        }                                                                     \
        off += cpu_round((count) * sizeof(type));                             \
    } while (0)

    CPU_CARVE(x, float, t * d->hidden);
    CPU_CARVE(xb, float, t * d->hidden);
    CPU_CARVE(qkv, float, t * d->qkv_dim);
    CPU_CARVE(att, float, t * d->q_dim);
    CPU_CARVE(hb, float, t * 2 * d->inter);
    CPU_CARVE(hb2, float, t * d->inter);
    CPU_CARVE(rope_cos, float, t * half);
    CPU_CARVE(rope_sin, float, t * half);
    CPU_CARVE(tok_seq, uint32_t, t);
    CPU_CARVE(tok_pos, uint32_t, t);
    CPU_CARVE(rows, uint32_t, l);
    CPU_CARVE(seq_base, uint32_t, n);
    CPU_CARVE(inv_freq, float, n * half);
    CPU_CARVE(pos_scale, float, n);

#undef CPU_CARVE

    return off;
}


/* Grows the scratch to hold the step; -1 with err out of memory. */
static int
cpu_scratch_reserve(struct cpu_engine *e, const struct cpu_step *st,
    char *err, size_t errlen)
{
    struct cpu_scratch  *s = &e->s;
    uint32_t             t, l, n;
    uint64_t             ctx, limit;
    size_t               size;
    void                *p;

    t = st->n_tokens > s->cap_tokens ? st->n_tokens : s->cap_tokens;
    l = st->n_logits > s->cap_logits ? st->n_logits : s->cap_logits;
    n = st->b->n_seqs > s->cap_seqs ? st->b->n_seqs : s->cap_seqs;
    if (t != s->cap_tokens || l != s->cap_logits || n != s->cap_seqs
        || s->arena == NULL)
    {
        size = cpu_scratch_layout(s, &e->d, NULL, t, l, n);
        p = aligned_alloc(CPU_ALIGN, size > 0 ? size : CPU_ALIGN);
        if (p == NULL) {
            snprintf(err, errlen, "cpu: out of memory for a step of %u "
                     "tokens (%zu MB)", st->n_tokens, size >> 20);
            return -1;
        }
        free(s->arena);
        s->arena = p;
        s->arena_bytes = size;
        s->cap_tokens = t;
        s->cap_logits = l;
        s->cap_seqs = n;
        cpu_scratch_layout(s, &e->d, p, t, l, n);
    }

    /* Attention scores: a context grows one token per decode step, so
     * grow them by doubling, up to what the KV pool can hold. */
    if (st->max_ctx > s->cap_ctx) {
        limit = (uint64_t) e->kv.n_blocks * e->kv.block_size;
        ctx = (uint64_t) s->cap_ctx * 2;
        ctx = ctx > st->max_ctx ? ctx : st->max_ctx;
        ctx = (ctx + 255) & ~(uint64_t) 255;
        ctx = ctx < limit ? ctx : limit;
        ctx = ctx > st->max_ctx ? ctx : st->max_ctx;
        size = cpu_round((size_t) e->threads * CPU_ATT_ROWS * ctx
                         * sizeof(float));
        p = aligned_alloc(CPU_ALIGN, size);
        if (p == NULL) {
            snprintf(err, errlen, "cpu: out of memory for attention over "
                     "%u positions", st->max_ctx);
            return -1;
        }
        free(s->scores);
        s->scores = p;
        s->cap_ctx = (uint32_t) ctx;
    }

    /* With a KV codec, each thread unpacks one run at a time here. */
    if (e->kv.codec != NULL
        && s->kv_tile_floats != (size_t) e->kv.block_size * e->d.head_dim)
    {
        size = cpu_round((size_t) e->threads * e->kv.block_size
                         * e->d.head_dim * sizeof(float));
        p = aligned_alloc(CPU_ALIGN, size);
        if (p == NULL) {
            snprintf(err, errlen, "cpu: out of memory for the KV tiles");
            return -1;
        }
        free(s->kv_tile);
        s->kv_tile = p;
        s->kv_tile_floats = (size_t) e->kv.block_size * e->d.head_dim;
    }
    return 0;
}


void
cpu_scratch_free(struct cpu_scratch *s)
{
    free(s->arena);
    free(s->scores);
    free(s->kv_tile);
    free(s->tasks);
    memset(s, 0, sizeof(*s));
}


/* ---------------------------------------------------------------- passes */

static void
cpu_rows_task(void *arg, uint32_t task, uint32_t thread)
{
    struct cpu_step  *st = arg;
    uint32_t          r0, r1;

    (void) thread;
    r0 = task * st->chunk;
    r1 = r0 + st->chunk < st->n_rows ? r0 + st->chunk : st->n_rows;
    st->fn(st, r0, r1);
}


/* Runs fn over rows [0, n_rows) of about width elements each: here when
 * that is little work, else in chunks over the pool. */
static void
cpu_rows(struct cpu_step *st, uint32_t n_rows, uint32_t width,
    cpu_rows_pt fn)
{
    uint32_t  threads = st->e->threads, n_tasks;

    if (threads <= 1 || n_rows < 2
        || (uint64_t) n_rows * width < CPU_ROWS_SERIAL)
    {
        fn(st, 0, n_rows);
        return;
    }
    n_tasks = n_rows < threads * 4 ? n_rows : threads * 4;
    st->fn = fn;
    st->n_rows = n_rows;
    st->chunk = (n_rows + n_tasks - 1) / n_tasks;
    n_tasks = (n_rows + st->chunk - 1) / st->chunk;
    cpu_pool_run(st->e->pool, n_tasks, cpu_rows_task, st);
}


/* Which sequence and position every token is, where each sequence's
 * rows start, which rows get logits, and each sequence's RoPE
 * frequencies (dynamic scaling depends on its length). */
static void
cpu_step_plan(struct cpu_step *st)
{
    struct cpu_engine           *e = st->e;
    struct cpu_scratch          *s = &e->s;
    const struct lmd_seq_input  *q;
    uint32_t                     i, j, t, l, half;

    half = e->d.head_dim / 2;
    t = 0;
    l = 0;
    for (i = 0; i < st->b->n_seqs; i++) {
        q = &st->b->seqs[i];
        s->seq_base[i] = t;
        for (j = 0; j < q->n_tokens; j++, t++) {
            s->tok_seq[t] = i;
            s->tok_pos[t] = q->pos + j;
        }
        for (j = q->n_tokens - q->n_logits; j < q->n_tokens; j++) {
            s->rows[l++] = s->seq_base[i] + j;
        }
        lmd_model_rope_freqs(&e->cfg, q->pos + q->n_tokens,
                             s->inv_freq + (size_t) i * half,
                             &s->pos_scale[i]);
    }
}


/* cos and sin of every token's RoPE angles. */
static void
cpu_rope_rows(struct cpu_step *st, uint32_t r0, uint32_t r1)
{
    struct cpu_scratch  *s = &st->e->s;
    uint32_t             i, half = st->e->d.head_dim / 2;

    for (i = r0; i < r1; i++) {
        cpu_rope_angles(s->rope_cos + (size_t) i * half,
                        s->rope_sin + (size_t) i * half,
                        s->inv_freq + (size_t) s->tok_seq[i] * half, half,
                        s->tok_pos[i], s->pos_scale[s->tok_seq[i]]);
    }
}


/* x = the tokens' embeddings; xb = the first layer's attention norm. */
static void
cpu_embed_rows(struct cpu_step *st, uint32_t r0, uint32_t r1)
{
    struct cpu_engine           *e = st->e;
    struct cpu_scratch          *s = &e->s;
    const struct lmd_seq_input  *q;
    uint32_t                     i, n = e->d.hidden;
    float                       *x;     /* [hidden] */

    for (i = r0; i < r1; i++) {
        q = &st->b->seqs[s->tok_seq[i]];
        x = s->x + (size_t) i * n;
        cpu_weight_row(e->w.lookup,
                       (uint32_t) q->tokens[s->tok_pos[i] - q->pos], x);
        cpu_rmsnorm(s->xb + (size_t) i * n, x, st->norm, n, e->d.eps);
    }
}


/* After the qkv matmul: biases, RoPE on q and k at each token's own
 * position, and k, v into the cache. */
static void
cpu_qkv_rows(struct cpu_step *st, uint32_t r0, uint32_t r1)
{
    struct cpu_engine       *e = st->e;
    struct cpu_scratch      *s = &e->s;
    const struct cpu_dims   *d = &e->d;
    const float             *bias = e->w.layers[st->layer].bqkv;
    uint32_t                 i, half = d->head_dim / 2;
    float                   *row;   /* [qkv_dim]: q | k | v */

    for (i = r0; i < r1; i++) {
        row = s->qkv + (size_t) i * d->qkv_dim;
        if (bias != NULL) {
            cpu_add(row, bias, d->qkv_dim);
        }
        cpu_rope(row, d->n_heads, d->head_dim,
                 s->rope_cos + (size_t) i * half,
                 s->rope_sin + (size_t) i * half);
        cpu_rope(row + d->q_dim, d->n_kv_heads, d->head_dim,
                 s->rope_cos + (size_t) i * half,
                 s->rope_sin + (size_t) i * half);
    }
    cpu_kv_write(e, st->b, st->layer, r0, r1);
}


/* The residual connection and the next norm: x += xb; xb = norm(x). */
static void
cpu_residual_norm_rows(struct cpu_step *st, uint32_t r0, uint32_t r1)
{
    struct cpu_engine   *e = st->e;
    struct cpu_scratch  *s = &e->s;
    uint32_t             i, n = e->d.hidden;
    float               *x, *xb;    /* [hidden] each */

    for (i = r0; i < r1; i++) {
        x = s->x + (size_t) i * n;
        xb = s->xb + (size_t) i * n;
        cpu_add(x, xb, n);
        cpu_rmsnorm(xb, x, st->norm, n, e->d.eps);
    }
}


/* hb2 = silu(gate) * up, from hb's gate | up halves.  A unit is a part
 * of CPU_SWIGLU_PART columns of one row, so that even one token's
 * exponentials are spread over the threads. */
static void
cpu_swiglu_parts(struct cpu_step *st, uint32_t u0, uint32_t u1)
{
    struct cpu_scratch  *s = &st->e->s;
    uint32_t             u, i, c, w, n = st->e->d.inter;
    uint32_t             parts = (n + CPU_SWIGLU_PART - 1) / CPU_SWIGLU_PART;
    const float         *gate;  /* [inter], then up [inter] */

    for (u = u0; u < u1; u++) {
        i = u / parts;
        c = (u % parts) * CPU_SWIGLU_PART;
        w = n - c < CPU_SWIGLU_PART ? n - c : CPU_SWIGLU_PART;
        gate = s->hb + (size_t) i * 2 * n;
        cpu_swiglu(s->hb2 + (size_t) i * n + c, gate + c, gate + n + c, w);
    }
}


/* Moves the logit rows of att and x to the front, in order (rows
 * ascend, so row j never comes from below j). */
static void
cpu_gather_logit_rows(struct cpu_step *st)
{
    struct cpu_scratch     *s = &st->e->s;
    const struct cpu_dims  *d = &st->e->d;
    uint32_t                j, r;

    for (j = 0; j < st->n_logits; j++) {
        r = s->rows[j];
        if (r == j) {
            continue;
        }
        memmove(s->att + (size_t) j * d->q_dim, s->att + (size_t) r
                * d->q_dim, d->q_dim * sizeof(float));
        memmove(s->x + (size_t) j * d->hidden, s->x + (size_t) r
                * d->hidden, d->hidden * sizeof(float));
    }
}


/* --------------------------------------------------------------- forward */

int
cpu_forward(struct cpu_engine *e, const struct lmd_batch *batch, char *err,
    size_t errlen)
{
    const struct cpu_dims   *d = &e->d;
    struct cpu_scratch      *s = &e->s;
    struct cpu_layer        *l;
    struct cpu_step          st;
    uint32_t                 layer, last, n, n_tasks = 0;

    memset(&st, 0, sizeof(st));
    st.e = e;
    st.b = batch;
    if (cpu_batch_check(e, batch, &st, err, errlen) != 0) {
        return -1;
    }
    if (st.n_tokens == 0) {
        return 0;
    }
    if (cpu_scratch_reserve(e, &st, err, errlen) != 0) {
        return -1;
    }

    cpu_step_plan(&st);
    cpu_rows(&st, st.n_tokens, d->head_dim * 8, cpu_rope_rows);
    st.norm = e->w.layers[0].attn_norm;
    cpu_rows(&st, st.n_tokens, d->hidden, cpu_embed_rows);

    n = st.n_tokens;                        /* rows of x, xb */
    for (layer = 0; layer < d->n_layers; layer++) {
        l = &e->w.layers[layer];
        last = layer + 1 == d->n_layers;
        st.layer = layer;

        /* Attention: xb (normed) -> qkv -> att -> xb */
        cpu_matmul(e->pool, &l->wqkv, s->xb, n, s->qkv);
        cpu_rows(&st, n, d->qkv_dim, cpu_qkv_rows);
        if (layer == 0 || last) {
            n_tasks = cpu_attention_plan(e, batch, last);
            if (n_tasks == UINT32_MAX) {
                snprintf(err, errlen, "cpu: out of memory");
                return -1;
            }
        }
        if (last && st.n_logits == 0) {
            return 0;                       /* the cache is written */
        }
        cpu_attention(e, batch, layer, n_tasks);
        if (last) {
            cpu_gather_logit_rows(&st);
            n = st.n_logits;
        }
        cpu_matmul(e->pool, &l->wo, s->att, n, s->xb);
        st.norm = l->ffn_norm;
        cpu_rows(&st, n, d->hidden, cpu_residual_norm_rows);

        /* MLP: xb (normed) -> gate | up -> silu(gate) * up -> xb */
        cpu_matmul(e->pool, &l->w_gate_up, s->xb, n, s->hb);
        cpu_rows(&st, n * ((d->inter + CPU_SWIGLU_PART - 1)
                           / CPU_SWIGLU_PART),
                 CPU_SWIGLU_PART * 8, cpu_swiglu_parts);
        cpu_matmul(e->pool, &l->w_down, s->hb2, n, s->xb);
        st.norm = last ? e->w.final_norm : e->w.layers[layer + 1].attn_norm;
        cpu_rows(&st, n, d->hidden, cpu_residual_norm_rows);
    }

    /* xb holds the final norm of the logit rows. */
    cpu_matmul(e->pool, &e->w.lm_head, s->xb, n, batch->logits);
    return 0;
}
