/*
 * cuda_kernels.h -- launch interface of the cuda-awq module's own kernels
 * (all but the W4A16 matrix products, which are in awq_kernels.h): the
 * elementwise passes, attention over the paged KV cache, and sampling.
 * Plain C, so the module's C files can call them; each group lives in
 * its own .cu file (named below).
 *
 * Conventions shared by every kernel here:
 *
 * - Activations that feed a matrix product, the KV cache and the weights
 *   are 16-bit floats of one type per engine, `act` (enum cuda_act):
 *   f16, or bf16 for models stored in bf16.  The residual stream x is
 *   f32, and so are norm weights, biases and logits.  Arithmetic is in
 *   f32; a 16-bit result is rounded once, to nearest even.
 * - Every launch goes on the stream it is given and returns 0, or -1 on
 *   bad arguments or a launch error (cudaGetLastError is left set).
 *   Nothing here synchronizes, allocates or copies to or from the host,
 *   so that a step can be captured in a CUDA graph.
 * - struct cuda_step describes the step; its pointers are device memory
 *   that the host fills before the launches.  A kernel may read the host
 *   values (n_tokens, ...) as launch parameters, but anything that varies
 *   between two decode steps of the same batch size (positions, context
 *   lengths, block tables, tokens) only through the device pointers:
 *   a captured decode graph is replayed with new contents at the same
 *   addresses.
 */

#ifndef CUDA_KERNELS_H
#define CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The 16-bit float type of an engine's activations, weights and cache. */
enum cuda_act {
    CUDA_ACT_F16  = 0,
    CUDA_ACT_BF16 = 1
};

/* A model's shapes, as the kernels need them. */
struct cuda_dims {
    uint32_t    hidden;         /* hidden_size */
    uint32_t    inter;          /* intermediate_size */
    uint32_t    n_heads;
    uint32_t    n_kv_heads;
    uint32_t    head_dim;       /* even, at most 256 */
    uint32_t    q_dim;          /* n_heads * head_dim */
    uint32_t    kv_dim;         /* n_kv_heads * head_dim */
    uint32_t    qkv_dim;        /* q_dim + 2 * kv_dim: one fused row */
    uint32_t    vocab;
    uint32_t    window;         /* sliding window (Mistral), 0: none */
    float       eps;            /* rms_norm_eps */
    float       att_scale;      /* 1 / sqrt(head_dim) */
};

/* The paged KV cache: n_blocks blocks, each holding block_size positions
 * of every layer, laid out as
 *
 *   data[block][layer][0][kv_head][slot][head_dim]   keys
 *   data[block][layer][1][kv_head][slot][head_dim]   values
 *
 * in the act type, so one head's keys of a block are one contiguous run
 * of block_size * head_dim elements. */
struct cuda_kv {
    void       *data;
    uint64_t    block_stride;   /* elements per block:
                                   n_layers * layer_stride */
    uint64_t    layer_stride;   /* 2 * n_kv_heads * block_size * head_dim */
    uint32_t    n_blocks;
    uint32_t    block_size;     /* a power of two, 16 .. 1024 */
    /* The same in bytes, for a KV codec's runs as for the act cache: a
     * block is n_layers * 2 * n_kv_heads runs of run_bytes (act:
     * block_size * head_dim * 2).  The kernels here read the act cache
     * only; a codec's cache goes to its own (lmd_kv_codec_cuda). */
    uint64_t    block_bytes;
    uint64_t    run_bytes;
};

/* One batched step: n_seqs sequences, n_tokens new tokens in all, the
 * tokens of sequence i at rows seq_start[i] .. seq_start[i + 1] - 1 of
 * every [T][...] activation.  Sequence i's first new token sits at
 * position seq_ctx[i] - (seq_start[i + 1] - seq_start[i]); position p of
 * sequence i is in block block_table[i * max_blocks + p / block_size],
 * slot p % block_size.  A token at position p attends to positions
 * 0 .. p (p - window + 1 .. p with a sliding window). */
struct cuda_step {
    /* Host values (launch parameters). */
    uint32_t        n_tokens;       /* T */
    uint32_t        n_seqs;         /* S */
    uint32_t        max_seq_tokens; /* the most new tokens of one sequence */
    uint32_t        max_ctx;        /* the largest seq_ctx */
    uint32_t        max_blocks;     /* row stride of block_table */
    uint32_t        decode;         /* 1: every sequence has one new token
                                       (max_seq_tokens == 1) */

    /* Device arrays. */
    const int32_t  *tokens;         /* [T] */
    const uint32_t *tok_seq;        /* [T]: the sequence of each token */
    const uint32_t *tok_pos;        /* [T]: the position of each token */
    const uint32_t *seq_start;      /* [S + 1]; seq_start[S] = T */
    const uint32_t *seq_ctx;        /* [S]: positions cached after the
                                       step (pos + new tokens) */
    const uint32_t *block_table;    /* [S][max_blocks] */
    const float    *inv_freq;       /* [S][head_dim / 2]: RoPE inverse
                                       frequencies (lmd_model_rope_freqs) */
    const float    *pos_scale;      /* [S]: positions are multiplied by it
                                       before the angle (linear scaling) */
};


/* ------------------------------------------- cuda_ops.cu: elementwise */

/* x[t] = table[tokens[t]] for t < n_tokens, as f32.  table: act
 * [vocab][hidden]. */
int cuda_embed(int act, const void *table, const struct cuda_step *st,
    float *x, uint32_t hidden, cudaStream_t s);

/* out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w, rounded to act, for
 * r < rows; x f32 [rows][n], w f32 [n], out act [rows][n]. */
int cuda_rmsnorm(int act, const float *x, const float *w, void *out,
    uint32_t rows, uint32_t n, float eps, cudaStream_t s);

/* After the fused q|k|v product: for every token, adds the bias (f32
 * [qkv_dim], or NULL), rotates q and k by RoPE in HF's rotate_half
 * layout at the token's position (angle = pos * pos_scale[seq] *
 * inv_freq[seq][i], cos and sin as cosf/sinf of that f32 angle), writes q
 * to q_out (act [T][q_dim]) and k, v into the cache at the token's
 * block and slot of `layer`.  qkv: act [T][qkv_dim], q | k | v. */
int cuda_qkv_rope(int act, const void *qkv, const float *bias,
    void *q_out, const struct cuda_kv *kv, uint32_t layer,
    const struct cuda_step *st, const struct cuda_dims *d, cudaStream_t s);

/* out[r][i] = silu(gu[r][i]) * gu[r][inter + i], silu(g) = g / (1 +
 * exp(-g)); gu act [rows][2 * inter], out act [rows][inter]. */
int cuda_silu_mul(int act, const void *gu, void *out, uint32_t rows,
    uint32_t inter, cudaStream_t s);

/* dst[r] = src[rows[r]] for r < n_rows, rows of `width` elements of
 * elem_bytes (2 or 4) each; dst and src must not overlap. */
int cuda_gather_rows(void *dst, const void *src, const uint32_t *rows,
    uint32_t n_rows, uint32_t width, uint32_t elem_bytes, cudaStream_t s);


/* ------------------------------------ cuda_gemv.cu: dense decode GEMV */

#define CUDA_GEMV_MAX_M     4

/* y = x W^T for m <= CUDA_GEMV_MAX_M rows: W act [rows][cols], x act
 * [m][cols] (cols a multiple of 8, W and x 16-byte aligned); mode 0: y
 * act [m][rows]; 1: y f32 [m][rows]; 2: y f32 += the product.  -1
 * without a launch for anything else (the caller takes cuBLAS). */
int cuda_gemv(int act, const void *w, const void *x, void *y, uint32_t m,
    uint32_t rows, uint32_t cols, int mode, cudaStream_t s);


/* ---------------------------------- cuda_attention.cu: paged attention */

/* out[t][h] = softmax(q[t][h] . K^T * att_scale) V over the positions
 * token t attends to (causal, window), K and V of KV head h / (n_heads /
 * n_kv_heads) of `layer` read through the block table, for every new
 * token t and query head h; q, out act [T][q_dim].  The cache already
 * holds the step's own keys and values (cuda_qkv_rope ran).  head_dim
 * 64 or 128 (-1 without a launch for others), any step: tiles of query
 * rows on tensor cores reading the cached prefix through the block
 * table; st->decode steps split the key range in a number of parts that
 * depends on n_seqs alone, so that the launch can be captured.  work:
 * device scratch of cuda_attention_work_bytes() (NULL: never split). */
int cuda_attention(int act, const void *q, const struct cuda_kv *kv,
    uint32_t layer, const struct cuda_step *st, const struct cuda_dims *d,
    void *out, void *work, cudaStream_t s);

/* Bytes of `work` for steps of at most max_tokens new tokens and
 * max_seqs sequences. */
size_t cuda_attention_work_bytes(uint32_t max_tokens, uint32_t max_seqs,
    const struct cuda_dims *d);

/* cuda_attn_decode.cu: decode steps (st->decode) for head_dim 64, 128,
 * 256 and at most 8 query heads per KV head (the engine takes it for
 * head_dim 256, which cuda_attention refuses), split along the context
 * in a number of parts that depends on n_seqs alone (capturable); -1
 * without a launch for anything else.  work: the bytes below. */
int cuda_attention_decode(int act, const void *q, const struct cuda_kv *kv,
    uint32_t layer, const struct cuda_step *st, const struct cuda_dims *d,
    void *out, void *work, cudaStream_t s);
size_t cuda_attention_decode_work_bytes(uint32_t max_seqs,
    const struct cuda_dims *d);

/* cuda_attn_generic.cu: the same attention for any even head_dim up to
 * 256, one warp per (new token, query head), no work buffer: for the
 * head dims cuda_attention does not take (it returns -1 for them) and
 * as an independent second implementation in the checks. */
int cuda_attention_generic(int act, const void *q, const struct cuda_kv *kv,
    uint32_t layer, const struct cuda_step *st, const struct cuda_dims *d,
    void *out, cudaStream_t s);


/* --------------------------------------- cuda_sample.cu: sampling */

/* One logits row's sampling settings (device array, one per row).  The
 * order is the host sampler's (engine/lmd_sampler.h): logit bias and
 * penalties, then greedy when temperature is 0, else temperature, top_k,
 * top_p, min_p and a draw. */
struct cuda_sample_row {
    float       temperature;        /* 0: greedy (lowest id on ties) */
    float       top_p;              /* 1: off */
    float       min_p;              /* 0: off */
    int32_t     top_k;              /* 0: off */
    float       repetition_penalty; /* 1: off; over prompt and output */
    float       frequency_penalty;  /* 0: off; over output */
    float       presence_penalty;   /* 0: off; over output */
    uint32_t    n_prompt;           /* hist[hist_start ..+ n_prompt):
                                       prompt ids, then n_output ids */
    uint32_t    n_output;
    uint32_t    hist_start;
    uint32_t    bias_start;         /* bias[bias_start ..+ n_bias) */
    uint32_t    n_bias;
    uint64_t    seed;               /* with `draw`: the random stream */
    uint64_t    draw;               /* the draw's number in the stream */
};

struct cuda_logit_bias {
    int32_t     id;
    float       bias;
};

/* For each of n_rows rows of logits (f32 [n_rows][vocab], overwritten as
 * scratch): picks a token into ids[r] and, when logprob is not NULL,
 * writes the log-probability of the chosen token under the model's raw
 * logits (log-softmax before any setting) to logprob[r].  The same seed,
 * draw, settings and logits give the same token on every run.  work:
 * cuda_sample_work_bytes(). */
int cuda_sample(float *logits, uint32_t n_rows, uint32_t vocab,
    const struct cuda_sample_row *rows, const int32_t *hist,
    const struct cuda_logit_bias *bias, int32_t *ids, float *logprob,
    void *work, cudaStream_t s);

size_t cuda_sample_work_bytes(uint32_t max_rows, uint32_t vocab);

#ifdef __cplusplus
}
#endif

#endif /* CUDA_KERNELS_H */
