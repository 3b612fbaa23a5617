/*
 * cuda_forward.c -- one batched step of the cuda-awq engine.
 *
 * As in the cpu engine, the new tokens of every sequence form one
 * activation matrix, so each weight matrix is read once per step; only
 * RoPE, the KV write and attention look at which sequence a row is.  The
 * last layer's attention output and residual are gathered to the rows
 * whose logits are asked for before its MLP, the final norm and lm_head.
 *
 * A step: check the batch (the same checks and messages as the cpu
 * engine), split it where it exceeds the capacities kv_init sized the
 * buffers for (a sequence's tokens may be split too: attention reads
 * everything from the cache, so chunks in order give the same result),
 * write the plan into pinned memory and copy it over, run the layers,
 * copy the logits back and wait.  Decode steps run from a CUDA graph
 * captured per batch size the second time that size is seen (the first
 * run warms cuBLAS up outside a capture).
 */

#include "cuda_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One sub-step of a split batch. */
struct cuda_run {
    struct lmd_seq_input   *seqs;
    uint32_t                n_seqs;
    uint32_t                n_tokens;
    uint32_t                n_logits;
};


/* ------------------------------------------------------------ the checks */

static int
cuda_batch_check(struct cuda_engine *e, const struct lmd_batch *b,
    uint32_t *n_logits, char *err, size_t errlen)
{
    const struct lmd_seq_input  *q;
    uint64_t                     l = 0, end, need, limit;
    uint32_t                     i, j, bs;

    if (e->kv.data == NULL) {
        snprintf(err, errlen, "cuda-awq: forward before kv_init");
        return -1;
    }
    if (b->n_seqs > 0 && b->seqs == NULL) {
        snprintf(err, errlen, "cuda-awq: batch of %u sequences without "
                 "them", b->n_seqs);
        return -1;
    }
    bs = e->kv.block_size;
    limit = (uint64_t) e->plan.max_blocks * bs;
    for (i = 0; i < b->n_seqs; i++) {
        q = &b->seqs[i];
        if (q->n_tokens == 0 || q->tokens == NULL) {
            snprintf(err, errlen, "cuda-awq: sequence %u: no tokens", i);
            return -1;
        }
        if (q->n_logits > q->n_tokens) {
            snprintf(err, errlen, "cuda-awq: sequence %u: %u logits asked "
                     "for %u new tokens", i, q->n_logits, q->n_tokens);
            return -1;
        }
        end = (uint64_t) q->pos + q->n_tokens;
        need = (end + bs - 1) / bs;
        if (q->blocks == NULL || need > q->n_blocks) {
            snprintf(err, errlen, "cuda-awq: sequence %u: positions up to "
                     "%llu need %llu blocks of %u, %u given", i,
                     (unsigned long long) end, (unsigned long long) need,
                     bs, q->blocks == NULL ? 0 : q->n_blocks);
            return -1;
        }
        if (end > limit) {
            snprintf(err, errlen, "cuda-awq: sequence %u: %llu positions, "
                     "more than the KV pool or the model allows (%llu)", i,
                     (unsigned long long) end, (unsigned long long) limit);
            return -1;
        }
        if (end > e->cfg.max_position
            && e->cfg.rope_scaling.type != LMD_ROPE_DYNAMIC)
        {
            snprintf(err, errlen, "cuda-awq: sequence %u: position %llu "
                     "past max_position_embeddings (%u)", i,
                     (unsigned long long) end - 1, e->cfg.max_position);
            return -1;
        }
        for (j = 0; j < need; j++) {
            if (q->blocks[j] >= e->kv.n_blocks) {
                snprintf(err, errlen, "cuda-awq: sequence %u: block %u is "
                         "not in the pool of %u", i, q->blocks[j],
                         e->kv.n_blocks);
                return -1;
            }
        }
        for (j = 0; j < q->n_tokens; j++) {
            if (q->tokens[j] < 0 || (uint32_t) q->tokens[j] >= e->d.vocab) {
                snprintf(err, errlen, "cuda-awq: sequence %u: token %d (at "
                         "%u) is not in the vocabulary of %u", i,
                         q->tokens[j], q->pos + j, e->d.vocab);
                return -1;
            }
        }
        l += q->n_logits;
    }
    if (l > 0 && b->sample != NULL ? b->ids == NULL : l > 0
        && b->logits == NULL)
    {
        snprintf(err, errlen, "cuda-awq: %llu logit rows asked for, no "
                 "buffer for them", (unsigned long long) l);
        return -1;
    }
    *n_logits = (uint32_t) l;
    return 0;
}


/* ------------------------------------------------------------- the plan */

/* Writes the plan of r into pinned memory, copies it to the device and
 * fills st. */
static int
cuda_plan_step(struct cuda_engine *e, const struct cuda_run *r,
    struct cuda_step *st)
{
    struct cuda_plan            *p = &e->plan;
    const struct lmd_seq_input  *q;
    int32_t                     *tokens;
    uint32_t                    *tok_seq, *tok_pos, *seq_start, *seq_ctx;
    uint32_t                    *blocks, *rows;
    float                       *inv_freq, *pos_scale;
    uint32_t                     i, j, t = 0, l = 0, half, need, bs;
    uint32_t                     max_new = 0, max_ctx = 0;

    half = e->d.head_dim / 2;
    bs = e->kv.block_size;
    tokens = (int32_t *) (void *) (p->host + p->o_tokens);
    tok_seq = (uint32_t *) (void *) (p->host + p->o_tok_seq);
    tok_pos = (uint32_t *) (void *) (p->host + p->o_tok_pos);
    seq_start = (uint32_t *) (void *) (p->host + p->o_seq_start);
    seq_ctx = (uint32_t *) (void *) (p->host + p->o_seq_ctx);
    blocks = (uint32_t *) (void *) (p->host + p->o_blocks);
    inv_freq = (float *) (void *) (p->host + p->o_inv_freq);
    pos_scale = (float *) (void *) (p->host + p->o_pos_scale);
    rows = (uint32_t *) (void *) (p->host + p->o_rows);

    for (i = 0; i < r->n_seqs; i++) {
        q = &r->seqs[i];
        seq_start[i] = t;
        for (j = 0; j < q->n_tokens; j++, t++) {
            tokens[t] = q->tokens[j];
            tok_seq[t] = i;
            tok_pos[t] = q->pos + j;
        }
        for (j = q->n_tokens - q->n_logits; j < q->n_tokens; j++) {
            rows[l++] = seq_start[i] + j;
        }
        seq_ctx[i] = q->pos + q->n_tokens;
        need = (seq_ctx[i] + bs - 1) / bs;
        memcpy(blocks + (size_t) i * p->max_blocks, q->blocks,
               need * sizeof(uint32_t));
        lmd_model_rope_freqs(&e->cfg, seq_ctx[i], inv_freq + (size_t) i
                             * half, &pos_scale[i]);
        max_new = q->n_tokens > max_new ? q->n_tokens : max_new;
        max_ctx = seq_ctx[i] > max_ctx ? seq_ctx[i] : max_ctx;
    }
    seq_start[r->n_seqs] = t;

    memset(st, 0, sizeof(*st));
    st->n_tokens = t;
    st->n_seqs = r->n_seqs;
    st->max_seq_tokens = max_new;
    st->max_ctx = max_ctx;
    st->max_blocks = p->max_blocks;
    st->decode = max_new == 1;
    st->tokens = (const int32_t *) (void *) (p->dev + p->o_tokens);
    st->tok_seq = (const uint32_t *) (void *) (p->dev + p->o_tok_seq);
    st->tok_pos = (const uint32_t *) (void *) (p->dev + p->o_tok_pos);
    st->seq_start = (const uint32_t *) (void *) (p->dev + p->o_seq_start);
    st->seq_ctx = (const uint32_t *) (void *) (p->dev + p->o_seq_ctx);
    st->block_table = (const uint32_t *) (void *) (p->dev + p->o_blocks);
    st->inv_freq = (const float *) (void *) (p->dev + p->o_inv_freq);
    st->pos_scale = (const float *) (void *) (p->dev + p->o_pos_scale);

    /* The block table is last: copy the rows in use only. */
    return cudaMemcpyAsync(p->dev, p->host, p->o_blocks + (size_t) r->n_seqs
                           * p->max_blocks * sizeof(uint32_t),
                           cudaMemcpyHostToDevice, e->stream)
           == cudaSuccess ? 0 : -1;
}


/* ------------------------------------------------------------ profiling */

static const char  *cuda_prof_names[CUDA_PROF_N] = {
    "embed", "rmsnorm", "qkv", "rope+kv", "attention", "wo", "gate_up",
    "silu_mul", "down", "gather", "lm_head"
};


/* Times the launches since the last mark as op (profiling only). */
static void
cuda_prof_mark(struct cuda_engine *e, int op)
{
    float  ms = 0.0f;

    if (!e->prof.on) {
        return;
    }
    cudaEventRecord(e->prof.ev[1], e->stream);
    cudaEventSynchronize(e->prof.ev[1]);
    cudaEventElapsedTime(&ms, e->prof.ev[0], e->prof.ev[1]);
    e->prof.ms[e->prof.kind][op] += ms;
    cudaEventRecord(e->prof.ev[0], e->stream);
}


void
cuda_prof_report(struct cuda_engine *e)
{
    static const char  *kinds[2] = { "prompt/mixed", "decode" };
    char                line[1024];
    size_t              n;
    double              total, steps;
    int                 i, k;

    if (!e->prof.on) {
        return;
    }
    for (k = 0; k < 2; k++) {
        steps = (double) e->prof.steps[k];
        if (steps == 0 || e->host == NULL || e->host->log == NULL) {
            continue;
        }
        total = 0;
        n = 0;
        for (i = 0; i < CUDA_PROF_N; i++) {
            total += e->prof.ms[k][i];
            if (n < sizeof(line)) {
                n += (size_t) snprintf(line + n, sizeof(line) - n,
                                       " %s %.3f", cuda_prof_names[i],
                                       e->prof.ms[k][i] / steps);
            }
        }
        e->host->log(LMD_HOST_LOG_NOTICE, "cuda-awq: profile: %.0f %s "
                     "steps, %.3f ms a step:%s (ms a step)", steps,
                     kinds[k], total / steps, line);
    }
    cudaEventDestroy(e->prof.ev[0]);
    cudaEventDestroy(e->prof.ev[1]);
    e->prof.on = 0;
}


/* ------------------------------------------------------------ the layers */

/* A KV codec's view of the step (lmd_kv_cuda_args), made once a step;
 * each layer sets its own a->layer. */
static void
cuda_codec_args(const struct cuda_engine *e, const struct cuda_step *st,
    struct lmd_kv_cuda_args *a)
{
    memset(a, 0, sizeof(*a));
    a->act = e->act;
    a->n_heads = e->d.n_heads;
    a->n_kv_heads = e->d.n_kv_heads;
    a->head_dim = e->d.head_dim;
    a->window = e->d.window;
    a->att_scale = e->d.att_scale;
    a->cache = e->kv.data;
    a->block_bytes = e->kv.block_bytes;
    a->run_bytes = e->kv.run_bytes;
    a->n_blocks = e->kv.n_blocks;
    a->block_size = e->kv.block_size;
    a->n_tokens = st->n_tokens;
    a->n_seqs = st->n_seqs;
    a->max_seq_tokens = st->max_seq_tokens;
    a->max_ctx = st->max_ctx;
    a->max_blocks = st->max_blocks;
    a->decode = st->decode;
    a->tok_seq = st->tok_seq;
    a->tok_pos = st->tok_pos;
    a->seq_start = st->seq_start;
    a->seq_ctx = st->seq_ctx;
    a->block_table = st->block_table;
    a->inv_freq = st->inv_freq;
    a->pos_scale = st->pos_scale;
    a->stream = e->stream;
}


/* RoPE and the KV write of one layer: the engine's kernel, or with a
 * KV codec the codec's (ca: the step's args at this layer), which
 * quantizes as it writes. */
static int
cuda_rope_write(struct cuda_engine *e, const struct cuda_step *st,
    const struct lmd_kv_cuda_args *ca, uint32_t layer, const float *bias)
{
    if (e->codec != NULL) {
        return e->codec->qkv_rope_write(ca, e->a.qkv, bias, e->a.q);
    }
    return cuda_qkv_rope(e->act, e->a.qkv, bias, e->a.q, &e->kv, layer, st,
                         &e->d, e->stream);
}


/* Attention of one layer: the tensor-core kernel (cuda_attention.cu)
 * for every step it takes, the decode kernel for the decode steps of the
 * head dims it does not (256), the generic one for the rest
 * (attn_generic 1: the fast kernels refused at the first call, without a
 * launch error; 2: LMD_CUDA_ATTENTION=generic, for every step); with
 * a KV codec, the codec's (it picks its kernel by shape). */
static int
cuda_attend(struct cuda_engine *e, const struct cuda_step *st,
    const struct lmd_kv_cuda_args *ca, uint32_t layer)
{
    if (e->codec != NULL) {
        return e->codec->attention(ca, e->a.q, e->a.att, e->a.codec_work);
    }
    if (e->attn_generic == 0) {
        if (cuda_attention(e->act, e->a.q, &e->kv, layer, st, &e->d,
                           e->a.att, e->a.att_work, e->stream) == 0)
        {
            return 0;
        }
        if (cudaPeekAtLastError() != cudaSuccess) {
            return -1;
        }
    }
    if (e->attn_generic != 2 && st->decode
        && cuda_attention_decode(e->act, e->a.q, &e->kv, layer, st, &e->d,
                                 e->a.att, e->a.dec_work, e->stream) == 0)
    {
        return 0;
    }
    if (cudaPeekAtLastError() != cudaSuccess) {
        return -1;
    }
    if (e->attn_generic == 0) {
        e->attn_generic = 1;
    }
    return cuda_attention_generic(e->act, e->a.q, &e->kv, layer, st, &e->d,
                                  e->a.att, e->stream);
}


/* Every launch of a step with t tokens and l logit rows (rows: the plan's
 * logit rows on the device); -1 at the first failure. */
static int
cuda_layers(struct cuda_engine *e, const struct cuda_step *st, uint32_t l,
    const uint32_t *rows)
{
    const struct cuda_dims  *d = &e->d;
    struct cuda_acts        *a = &e->a;
    struct cuda_layer       *w;
    cudaStream_t             s = e->stream;
    uint32_t                 layer, n = st->n_tokens, last;
    float                   *x = a->x;
    void                    *att = a->att;
    int                      act = e->act;
    struct lmd_kv_cuda_args  ca;

#define CUDA_RUN(call, op)                                                   \
    do {                                                                     \
        if ((call) != 0) {                                                   \
            return -1;                                                       \
        }                                                                    \
        cuda_prof_mark(e, op);                                               \
    } while (0)

    if (e->prof.on) {
        e->prof.kind = st->decode ? 1 : 0;
        e->prof.steps[e->prof.kind]++;
        cudaEventRecord(e->prof.ev[0], s);
    }
    if (e->codec != NULL) {
        cuda_codec_args(e, st, &ca);
    }
    CUDA_RUN(cuda_embed(act, e->w.embed, st, a->x, d->hidden, s),
             CUDA_PROF_EMBED);
    for (layer = 0; layer < e->n_layers; layer++) {
        w = &e->w.layers[layer];
        last = layer + 1 == e->n_layers;
        ca.layer = layer;

        CUDA_RUN(cuda_rmsnorm(act, x, w->attn_norm, a->xn, n, d->hidden,
                              d->eps, s), CUDA_PROF_NORM);
        CUDA_RUN(cuda_matmul(e, &w->wqkv, a->xn, n, a->qkv, 0),
                 CUDA_PROF_QKV);
        CUDA_RUN(cuda_rope_write(e, st, &ca, layer, w->bqkv),
                 CUDA_PROF_ROPE);
        if (last && l == 0) {
            return 0;                       /* the cache is written */
        }
        CUDA_RUN(cuda_attend(e, st, &ca, layer), CUDA_PROF_ATTN);
        if (last && l < n) {
            CUDA_RUN(cuda_gather_rows(a->att_rows, a->att, rows, l,
                                      d->q_dim, 2, s), CUDA_PROF_GATHER);
            CUDA_RUN(cuda_gather_rows(a->x_rows, x, rows, l, d->hidden, 4,
                                      s), CUDA_PROF_GATHER);
            x = a->x_rows;
            att = a->att_rows;
            n = l;
        }
        CUDA_RUN(cuda_matmul(e, &w->wo, att, n, x, 1), CUDA_PROF_WO);
        CUDA_RUN(cuda_rmsnorm(act, x, w->ffn_norm, a->xn, n, d->hidden,
                              d->eps, s), CUDA_PROF_NORM);
        CUDA_RUN(cuda_matmul(e, &w->w_gate_up, a->xn, n, a->gu, 0),
                 CUDA_PROF_GATE_UP);
        CUDA_RUN(cuda_silu_mul(act, a->gu, a->h, n, d->inter, s),
                 CUDA_PROF_SILU);
        CUDA_RUN(cuda_matmul(e, &w->w_down, a->h, n, x, 1), CUDA_PROF_DOWN);
    }
    CUDA_RUN(cuda_rmsnorm(act, x, e->w.final_norm, a->xn, n, d->hidden,
                          d->eps, s), CUDA_PROF_NORM);
    CUDA_RUN(cuda_matmul_logits(e, a->xn, n, a->logits), CUDA_PROF_LOGITS);
    return 0;

#undef CUDA_RUN
}


/* ------------------------------------------------------------ the graphs */

void
cuda_graphs_free(struct cuda_engine *e)
{
    uint32_t  i;

    for (i = 0; i <= CUDA_GRAPH_MAX_SEQS; i++) {
        if (e->graphs.exec[i] != NULL) {
            cudaGraphExecDestroy(e->graphs.exec[i]);
            e->graphs.exec[i] = NULL;
        }
        e->graphs.seen[i] = 0;
    }
}


/* Runs the layers of a decode step of st->n_seqs sequences: from the
 * graph of that size, capturing it on its second sighting. */
static int
cuda_layers_decode(struct cuda_engine *e, const struct cuda_step *st,
    const uint32_t *rows, char *err, size_t errlen)
{
    uint32_t         n = st->n_seqs;
    cudaGraph_t      g = NULL;
    cudaGraphExec_t  x = NULL;
    cudaError_t      rc;

    if (!e->graphs.enabled || e->prof.on || n > CUDA_GRAPH_MAX_SEQS
        || e->graphs.seen[n] == 0)
    {
        if (n <= CUDA_GRAPH_MAX_SEQS) {
            e->graphs.seen[n] = 1;
        }
        return cuda_layers(e, st, n, rows);
    }
    if (e->graphs.exec[n] == NULL) {
        rc = cudaStreamBeginCapture(e->stream,
                                    cudaStreamCaptureModeThreadLocal);
        if (rc != cudaSuccess) {
            return cuda_fail(err, errlen, "cudaStreamBeginCapture", rc);
        }
        if (cuda_layers(e, st, n, rows) != 0) {
            (void) cudaStreamEndCapture(e->stream, &g);
            if (g != NULL) {
                cudaGraphDestroy(g);
            }
            return -1;
        }
        rc = cudaStreamEndCapture(e->stream, &g);
        if (rc != cudaSuccess) {
            return cuda_fail(err, errlen, "cudaStreamEndCapture", rc);
        }
        rc = cudaGraphInstantiate(&x, g, 0);
        cudaGraphDestroy(g);
        if (rc != cudaSuccess) {
            return cuda_fail(err, errlen, "cudaGraphInstantiate", rc);
        }
        e->graphs.exec[n] = x;
    }
    rc = cudaGraphLaunch(e->graphs.exec[n], e->stream);
    if (rc != cudaSuccess) {
        return cuda_fail(err, errlen, "cudaGraphLaunch", rc);
    }
    return 0;
}


/* ------------------------------------------------------------ sampling */

static int
cuda_penalized(const struct lmd_sample_req *q)
{
    return q->repetition_penalty != 1.0f || q->frequency_penalty != 0.0f
           || q->presence_penalty != 0.0f;
}


/* Uploads the n rows' settings (with their biases and penalty ids) and
 * launches the sampler over the logits; the ids and log-probabilities
 * come back with the step's copy. */
static int
cuda_sample_launch(struct cuda_engine *e, const struct lmd_sample_req *req,
    uint32_t n, int want_lps, char *err, size_t errlen)
{
    struct cuda_sampling     *m = &e->smp;
    struct cuda_sample_row   *row;
    struct cuda_logit_bias   *bias;
    const struct lmd_sample_req *q;
    int32_t                  *hist;
    uint32_t                  i, nb = 0, nh = 0;
    cudaError_t               rc;

    row = (struct cuda_sample_row *) (void *) (m->host + m->o_rows);
    bias = (struct cuda_logit_bias *) (void *) (m->host + m->o_bias);
    hist = (int32_t *) (void *) (m->host + m->o_hist);
    for (i = 0; i < n; i++) {
        q = &req[i];
        memset(&row[i], 0, sizeof(row[i]));
        row[i].temperature = q->temperature;
        row[i].top_p = q->top_p;
        row[i].min_p = q->min_p;
        row[i].top_k = q->top_k;
        row[i].repetition_penalty = q->repetition_penalty;
        row[i].frequency_penalty = q->frequency_penalty;
        row[i].presence_penalty = q->presence_penalty;
        row[i].seed = q->key;
        row[i].draw = 0;
        if (q->n_bias > 0) {
            if (q->n_bias > m->bias_cap - nb || q->bias == NULL) {
                snprintf(err, errlen, "cuda-awq: more logit_bias entries "
                         "in one step than %u", m->bias_cap);
                return -1;
            }
            memcpy(bias + nb, q->bias, q->n_bias * sizeof(*bias));
            row[i].bias_start = nb;
            row[i].n_bias = q->n_bias;
            nb += q->n_bias;
        }
        if (cuda_penalized(q)) {
            if ((uint64_t) q->n_prompt + q->n_output > m->hist_cap - nh) {
                snprintf(err, errlen, "cuda-awq: more penalty token ids in "
                         "one step than %u", m->hist_cap);
                return -1;
            }
            row[i].hist_start = nh;
            row[i].n_prompt = q->n_prompt;
            row[i].n_output = q->n_output;
            memcpy(hist + nh, q->prompt, q->n_prompt * sizeof(int32_t));
            nh += q->n_prompt;
            memcpy(hist + nh, q->output, q->n_output * sizeof(int32_t));
            nh += q->n_output;
        }
    }
    rc = cudaMemcpyAsync(m->dev + m->o_rows, row, n * sizeof(*row),
                         cudaMemcpyHostToDevice, e->stream);
    if (rc == cudaSuccess && nb > 0) {
        rc = cudaMemcpyAsync(m->dev + m->o_bias, bias, nb * sizeof(*bias),
                             cudaMemcpyHostToDevice, e->stream);
    }
    if (rc == cudaSuccess && nh > 0) {
        rc = cudaMemcpyAsync(m->dev + m->o_hist, hist, nh * sizeof(*hist),
                             cudaMemcpyHostToDevice, e->stream);
    }
    if (rc != cudaSuccess) {
        return cuda_fail(err, errlen, "copying the sampling settings", rc);
    }
    if (cuda_sample(e->a.logits, n, e->d.vocab,
            (const struct cuda_sample_row *) (void *) (m->dev + m->o_rows),
            (const int32_t *) (void *) (m->dev + m->o_hist),
            (const struct cuda_logit_bias *) (void *) (m->dev + m->o_bias),
            (int32_t *) (void *) (m->dev + m->o_ids),
            want_lps ? (float *) (void *) (m->dev + m->o_lps) : NULL,
            m->work, e->stream) != 0)
    {
        return cuda_fail(err, errlen, "the sampling kernels",
                         cudaGetLastError());
    }
    rc = cudaMemcpyAsync(m->host + m->o_ids, m->dev + m->o_ids,
                         m->o_lps - m->o_ids + n * sizeof(float),
                         cudaMemcpyDeviceToHost, e->stream);
    return rc == cudaSuccess ? 0 : cuda_fail(err, errlen, "copying the "
                                             "sampled ids", rc);
}


/* ------------------------------------------------------------- one run */

/* A run within the capacities: its logit rows are the batch's rows
 * row0 .. row0 + r->n_logits - 1 (logits, or sampled ids). */
static int
cuda_run_step(struct cuda_engine *e, const struct cuda_run *r,
    const struct lmd_batch *b, uint32_t row0, char *err, size_t errlen)
{
    struct cuda_step   st;
    const uint32_t    *rows;
    cudaError_t        rc;
    size_t             bytes;
    int                ret;
    float             *out = b->logits != NULL
                             ? b->logits + (size_t) row0 * e->d.vocab : NULL;

    if (cuda_plan_step(e, r, &st) != 0) {
        return cuda_fail(err, errlen, "copying the step's plan",
                         cudaGetLastError());
    }
    rows = (const uint32_t *) (void *) (e->plan.dev + e->plan.o_rows);
    if (st.decode && r->n_logits == r->n_seqs) {
        ret = cuda_layers_decode(e, &st, rows, err, errlen);
        if (ret != 0 && err[0] != '\0') {
            return -1;
        }
    } else {
        ret = cuda_layers(e, &st, r->n_logits, rows);
    }
    if (ret != 0) {
        rc = cudaGetLastError();
        snprintf(err, errlen, "cuda-awq: a kernel launch failed in a step "
                 "of %u tokens: %s", r->n_tokens, rc != cudaSuccess
                 ? cudaGetErrorString(rc) : "bad arguments");
        return -1;
    }
    if (r->n_logits > 0 && b->sample != NULL) {
        if (cuda_sample_launch(e, b->sample + row0, r->n_logits,
                               b->logprobs != NULL, err, errlen) != 0)
        {
            return -1;
        }
    } else if (r->n_logits > 0) {
        bytes = (size_t) r->n_logits * e->d.vocab * sizeof(float);
        rc = cudaMemcpyAsync(e->a.logits_host, e->a.logits, bytes,
                             cudaMemcpyDeviceToHost, e->stream);
        if (rc != cudaSuccess) {
            return cuda_fail(err, errlen, "copying the logits", rc);
        }
    }
    rc = cudaStreamSynchronize(e->stream);
    if (rc != cudaSuccess) {
        return cuda_fail(err, errlen, "the step", rc);
    }
    if (r->n_logits > 0 && b->sample != NULL) {
        memcpy(b->ids + row0, e->smp.host + e->smp.o_ids,
               r->n_logits * sizeof(int32_t));
        if (b->logprobs != NULL) {
            memcpy(b->logprobs + row0, e->smp.host + e->smp.o_lps,
                   r->n_logits * sizeof(float));
        }
    } else if (r->n_logits > 0) {
        memcpy(out, e->a.logits_host,
               (size_t) r->n_logits * e->d.vocab * sizeof(float));
    }
    return 0;
}


/* ------------------------------------------------------------- forward */

int
cuda_forward(struct cuda_engine *e, const struct lmd_batch *b, char *err,
    size_t errlen)
{
    const struct lmd_seq_input  *q;
    struct lmd_seq_input        *sub;
    struct cuda_run              r;
    uint32_t                     total_logits, i, j, c, k, first_logit;
    uint32_t                     cap_t, cap_s, cap_l, row0 = 0;
    int                          ret = 0;

    err[0] = '\0';
    if (cuda_batch_check(e, b, &total_logits, err, errlen) != 0) {
        return -1;
    }
    if (b->n_seqs == 0) {
        return 0;
    }
    cap_t = e->a.cap_tokens;
    cap_s = e->plan.cap_seqs;
    cap_l = e->a.cap_logits;

    sub = malloc((b->n_seqs < cap_s ? b->n_seqs : cap_s) * sizeof(*sub));
    if (sub == NULL) {
        snprintf(err, errlen, "cuda-awq: out of memory");
        return -1;
    }
    memset(&r, 0, sizeof(r));
    r.seqs = sub;

    /* Chunks of each sequence in order, packed into runs that fit. */
    for (i = 0; i < b->n_seqs && ret == 0; i++) {
        q = &b->seqs[i];
        first_logit = q->n_tokens - q->n_logits;
        for (j = 0; j < q->n_tokens && ret == 0; j += c) {
            c = q->n_tokens - j;
            c = c < cap_t - r.n_tokens ? c : cap_t - r.n_tokens;
            /* logits in [j, j + c) are its last ones: trim to fit */
            k = j + c > first_logit ? j + c - (j > first_logit ? j
                                               : first_logit) : 0;
            if (k > cap_l - r.n_logits) {
                c -= k - (cap_l - r.n_logits);
                k = cap_l - r.n_logits;
            }
            if (c > 0) {
                sub[r.n_seqs].tokens = q->tokens + j;
                sub[r.n_seqs].n_tokens = c;
                sub[r.n_seqs].pos = q->pos + j;
                sub[r.n_seqs].blocks = q->blocks;
                sub[r.n_seqs].n_blocks = q->n_blocks;
                sub[r.n_seqs].n_logits = k;
                r.n_seqs++;
                r.n_tokens += c;
                r.n_logits += k;
            }
            if (r.n_tokens == cap_t || r.n_logits == cap_l
                || r.n_seqs == cap_s || (c == 0 && r.n_seqs > 0))
            {
                ret = cuda_run_step(e, &r, b, row0, err, errlen);
                row0 += r.n_logits;
                r.n_seqs = r.n_tokens = r.n_logits = 0;
            }
        }
    }
    if (ret == 0 && r.n_seqs > 0) {
        ret = cuda_run_step(e, &r, b, row0, err, errlen);
    }
    free(sub);
    return ret;
}
