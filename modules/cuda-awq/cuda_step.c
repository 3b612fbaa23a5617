/*
 * cuda_step.c -- kv_init's one allocation: the paged KV pool and every
 * buffer a step uses (the plan's device copy, the activations, the
 * kernels' work buffers), sized for the largest step the core will send
 * (struct lmd_kv_params max_step_tokens and max_step_seqs).
 *
 * One layout function serves both the sizing and the carving, so the
 * two cannot disagree.  A step larger than these capacities is split by
 * cuda_forward.c, never refused.
 */

#include "cuda_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Capacities when the core does not say (lmd_session: one sequence). */
#define CUDA_DEFAULT_TOKENS     4096
#define CUDA_DEFAULT_SEQS       256
/* Logit rows per step: at least this many (echo and teacher forcing ask
 * for many rows of one sequence; more are done in several passes). */
#define CUDA_MIN_LOGITS         64
/* Sampling: logit_bias entries per row (OpenAI's limit), and the most
 * penalty token ids of one step. */
#define CUDA_MAX_BIAS           300
#define CUDA_MAX_HIST           (16u << 20)


static size_t
cuda_r256(size_t n)
{
    return (n + 255) & ~(size_t) 255;
}


/* The widest AWQ matrix (for the GEMV's and GEMM's work buffers) and
 * the elements of the largest one (awq_dequant's scratch); all 0 where
 * the model has none. */
static void
cuda_awq_extent(const struct cuda_engine *e, int *in, int *out,
    size_t *elems)
{
    const struct cuda_mat  *m[4];
    uint32_t                i, j;
    size_t                  n;

    *in = 0;
    *out = 0;
    *elems = 0;
    for (i = 0; i < e->n_layers; i++) {
        m[0] = &e->w.layers[i].wqkv;
        m[1] = &e->w.layers[i].wo;
        m[2] = &e->w.layers[i].w_gate_up;
        m[3] = &e->w.layers[i].w_down;
        for (j = 0; j < 4; j++) {
            if (m[j]->kind != CUDA_MAT_AWQ) {
                continue;
            }
            if ((int) m[j]->cols > *in) {
                *in = (int) m[j]->cols;
            }
            if ((int) m[j]->rows > *out) {
                *out = (int) m[j]->rows;
            }
            n = (size_t) m[j]->rows * m[j]->cols;
            if (n > *elems) {
                *elems = n;
            }
        }
    }
}


/* Lays the activations and work buffers out from base (NULL: sizes
 * only); returns the bytes. */
static size_t
cuda_acts_layout(const struct cuda_engine *e, struct cuda_acts *a,
    char *base, uint32_t t, uint32_t l, uint32_t n_seqs)
{
    const struct cuda_dims  *d = &e->d;
    size_t                   off = 0, elems;
    int                      in, out;

#define CUDA_CARVE(field, bytes)                                             \
    do {                                                                     \
        if (base != NULL) {                                                  \
            a->field = (void *) (base + off);                                \
        }                                                                    \
        off += cuda_r256(bytes);                                             \
    } while (0)

    CUDA_CARVE(x, (size_t) t * d->hidden * 4);
    CUDA_CARVE(x_rows, (size_t) l * d->hidden * 4);
    CUDA_CARVE(xn, (size_t) t * d->hidden * 2);
    CUDA_CARVE(qkv, (size_t) t * d->qkv_dim * 2);
    CUDA_CARVE(q, (size_t) t * d->q_dim * 2);
    CUDA_CARVE(att, (size_t) t * d->q_dim * 2);
    CUDA_CARVE(att_rows, (size_t) l * d->q_dim * 2);
    CUDA_CARVE(gu, (size_t) t * 2 * d->inter * 2);
    CUDA_CARVE(h, (size_t) t * d->inter * 2);
    CUDA_CARVE(logits, (size_t) l * d->vocab * 4);
    CUDA_CARVE(att_work, cuda_attention_work_bytes(t, n_seqs, d));
    if (e->codec != NULL) {
        CUDA_CARVE(codec_work, e->codec->work_bytes(t, n_seqs,
                                                    d->head_dim));
    }
    CUDA_CARVE(dec_work, cuda_attention_decode_work_bytes(n_seqs, d));
    cuda_awq_extent(e, &in, &out, &elems);
    CUDA_CARVE(gemm_work, in > 0 ? awq_gemm_work_bytes((int) t, in, out)
                                 : 0);
    CUDA_CARVE(blas_work, CUDA_BLAS_WORKSPACE);
    CUDA_CARVE(sample_work, cuda_sample_work_bytes(l, d->vocab));
    if (e->awq_deq_min > 0 && t >= e->awq_deq_min) {
        CUDA_CARVE(deq, elems * 2);
    }

#undef CUDA_CARVE

    if (base != NULL) {
        a->cap_tokens = t;
        a->cap_logits = l;
    }
    return off;
}


/* The plan's arrays at fixed offsets for the capacities (the decode
 * graphs read them at the same addresses every step). */
static size_t
cuda_plan_layout(struct cuda_plan *p, uint32_t t, uint32_t n_seqs,
    uint32_t l, uint32_t max_blocks, uint32_t half)
{
    size_t  off = 0;

#define CUDA_PLAN(field, bytes)                                              \
    do {                                                                     \
        p->field = off;                                                      \
        off += cuda_r256(bytes);                                             \
    } while (0)

    CUDA_PLAN(o_tokens, (size_t) t * 4);
    CUDA_PLAN(o_tok_seq, (size_t) t * 4);
    CUDA_PLAN(o_tok_pos, (size_t) t * 4);
    CUDA_PLAN(o_seq_start, ((size_t) n_seqs + 1) * 4);
    CUDA_PLAN(o_seq_ctx, (size_t) n_seqs * 4);
    CUDA_PLAN(o_inv_freq, (size_t) n_seqs * half * 4);
    CUDA_PLAN(o_pos_scale, (size_t) n_seqs * 4);
    CUDA_PLAN(o_rows, (size_t) l * 4);
    CUDA_PLAN(o_blocks, (size_t) n_seqs * max_blocks * 4);

#undef CUDA_PLAN

    p->bytes = off;
    p->cap_tokens = t;
    p->cap_seqs = n_seqs;
    p->max_blocks = max_blocks;
    return off;
}


/* The sampling block for l rows of up to max_ctx positions each. */
static size_t
cuda_sampling_layout(struct cuda_sampling *m, uint32_t l, uint64_t max_ctx)
{
    size_t  off = 0;
    uint64_t hist = (uint64_t) l * max_ctx;

    m->bias_cap = l * CUDA_MAX_BIAS;
    m->hist_cap = (uint32_t) (hist < CUDA_MAX_HIST ? hist : CUDA_MAX_HIST);
    m->o_rows = off;
    off += cuda_r256((size_t) l * sizeof(struct cuda_sample_row));
    m->o_bias = off;
    off += cuda_r256((size_t) m->bias_cap * sizeof(struct cuda_logit_bias));
    m->o_hist = off;
    off += cuda_r256((size_t) m->hist_cap * sizeof(int32_t));
    m->o_ids = off;
    off += cuda_r256((size_t) l * sizeof(int32_t));
    m->o_lps = off;
    off += cuda_r256((size_t) l * sizeof(float));
    m->bytes = off;
    return off;
}


/* Block table width: the longest sequence the pool and the model allow. */
static uint32_t
cuda_max_blocks(const struct cuda_engine *e, uint32_t n_blocks,
    uint32_t block_size)
{
    uint64_t  mb = n_blocks;

    if (e->cfg.rope_scaling.type != LMD_ROPE_DYNAMIC) {
        mb = ((uint64_t) e->cfg.max_position + block_size - 1) / block_size;
        mb = mb < n_blocks ? mb : n_blocks;
    }
    return (uint32_t) (mb > 0 ? mb : 1);
}


static void
cuda_caps(const struct cuda_engine *e, uint32_t tokens, uint32_t seqs,
    uint32_t *t, uint32_t *s, uint32_t *l)
{
    (void) e;
    *t = tokens > 0 ? tokens : CUDA_DEFAULT_TOKENS;
    *s = seqs > 0 ? seqs : CUDA_DEFAULT_SEQS;
    *s = *s < CUDA_MAX_SEQS ? *s : CUDA_MAX_SEQS;
    *s = *s < *t ? *s : *t;
    *l = *s > CUDA_MIN_LOGITS ? *s : CUDA_MIN_LOGITS;
    *l = *l < *t ? *l : *t;
}


size_t
cuda_step_bytes(const struct cuda_engine *e, uint32_t tokens, uint32_t seqs,
    uint32_t max_blocks)
{
    struct cuda_plan  p;
    struct cuda_acts  a;
    uint32_t          t, s, l;

    struct cuda_sampling  m;

    cuda_caps(e, tokens, seqs, &t, &s, &l);
    return cuda_plan_layout(&p, t, s, l, max_blocks, e->d.head_dim / 2)
           + cuda_acts_layout(e, &a, NULL, t, l, s)
           + cuda_sampling_layout(&m, l, (uint64_t) max_blocks * 16);
}


void
cuda_step_free(struct cuda_engine *e)
{
    cuda_graphs_free(e);
    if (e->plan.host != NULL) {
        cudaFreeHost(e->plan.host);
    }
    if (e->a.logits_host != NULL) {
        cudaFreeHost(e->a.logits_host);
    }
    if (e->smp.host != NULL) {
        cudaFreeHost(e->smp.host);
    }
    memset(&e->smp, 0, sizeof(e->smp));
    cuda_arena_free(&e->sarena);
    memset(&e->kv, 0, sizeof(e->kv));
    memset(&e->plan, 0, sizeof(e->plan));
    memset(&e->a, 0, sizeof(e->a));
}


int
cuda_step_init(struct cuda_engine *e, const struct lmd_kv_params *kvp,
    char *err, size_t errlen)
{
    const struct cuda_dims  *d = &e->d;
    struct cuda_plan         plan;
    uint64_t                 block_elems, block_bytes, run_bytes, kv_bytes;
    uint32_t                 t, s, l, mb, bs = kvp->block_size;
    size_t                   plan_bytes, acts_bytes, smp_bytes;
    cudaError_t              rc;
    char                    *base;

    if (kvp->n_blocks == 0 || bs < 16 || bs > 1024 || (bs & (bs - 1)) != 0
        || (uint64_t) kvp->n_blocks * bs > UINT32_MAX)
    {
        snprintf(err, errlen, "cuda-awq: kv_init: %u blocks of %u tokens: "
                 "need at least one block, a power-of-two block size from "
                 "16 to 1024, and fewer than 2^32 tokens", kvp->n_blocks,
                 bs);
        return -1;
    }
    block_elems = (uint64_t) e->n_layers * 2 * d->kv_dim * bs;
    run_bytes = e->codec != NULL
                ? e->codec->run_bytes(bs, d->head_dim)
                : (uint64_t) bs * d->head_dim * 2;
    block_bytes = (uint64_t) e->n_layers * 2 * d->n_kv_heads * run_bytes;
    kv_bytes = block_bytes * kvp->n_blocks;
    if (kv_bytes / kvp->n_blocks != block_bytes) {
        snprintf(err, errlen, "cuda-awq: kv_init: %u blocks of %u tokens "
                 "is too much", kvp->n_blocks, bs);
        return -1;
    }

    cuda_step_free(e);
    cuda_caps(e, kvp->max_step_tokens, kvp->max_step_seqs, &t, &s, &l);
    mb = cuda_max_blocks(e, kvp->n_blocks, bs);
    plan_bytes = cuda_plan_layout(&plan, t, s, l, mb, d->head_dim / 2);
    acts_bytes = cuda_acts_layout(e, &e->a, NULL, t, l, s);
    smp_bytes = cuda_sampling_layout(&e->smp, l, (uint64_t) mb * bs);

    if (cuda_arena_init(&e->sarena, cuda_r256(kv_bytes) + plan_bytes
                        + acts_bytes + smp_bytes, err, errlen) != 0)
    {
        return -1;
    }
    base = cuda_arena_take(&e->sarena, kv_bytes);
    e->kv.data = base;
    e->kv.block_stride = block_elems;   /* 16-bit cache: elements */
    e->kv.layer_stride = (uint64_t) 2 * d->kv_dim * bs;
    e->kv.block_bytes = block_bytes;
    e->kv.run_bytes = run_bytes;
    e->kv.n_blocks = kvp->n_blocks;
    e->kv.block_size = bs;

    e->plan = plan;
    e->plan.dev = cuda_arena_take(&e->sarena, plan_bytes);
    base = cuda_arena_take(&e->sarena, acts_bytes);
    e->smp.dev = cuda_arena_take(&e->sarena, smp_bytes);
    if (e->plan.dev == NULL || base == NULL || e->smp.dev == NULL) {
        snprintf(err, errlen, "cuda-awq: kv_init: step arena too small");
        cuda_step_free(e);
        return -1;
    }
    cuda_acts_layout(e, &e->a, base, t, l, s);

    rc = cudaMallocHost((void **) &e->plan.host, plan_bytes);
    if (rc == cudaSuccess) {
        rc = cudaMallocHost((void **) &e->a.logits_host,
                            (size_t) l * d->vocab * 4);
    }
    if (rc == cudaSuccess) {
        rc = cudaMallocHost((void **) &e->smp.host, smp_bytes);
    }
    e->smp.work = e->a.sample_work;
    if (rc == cudaSuccess) {
        /* The KV pool starts at zero, so that a block read before it is
         * written holds numbers. */
        rc = cudaMemset(e->kv.data, 0, kv_bytes);
    }
    if (rc == cudaSuccess && cublasSetWorkspace(e->blas, e->a.blas_work,
            CUDA_BLAS_WORKSPACE) != CUBLAS_STATUS_SUCCESS)
    {
        snprintf(err, errlen, "cuda-awq: kv_init: cublasSetWorkspace failed");
        cuda_step_free(e);
        return -1;
    }
    if (rc != cudaSuccess) {
        cuda_fail(err, errlen, "kv_init", rc);
        cuda_step_free(e);
        return -1;
    }
    return 0;
}
