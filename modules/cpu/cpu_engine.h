/*
 * cpu_engine.h -- the cpu engine's state, shared by its own files only.
 *
 * The split follows llama2.c's run.c: the config (immutable after open,
 * with the sizes derived from it once), the weights (prepared once for
 * the kernels), the paged KV pool (kv_init) and the scratch of a step
 * (grown to the largest step seen, never freed between steps).
 *
 * Design: everything runs on the engine thread; the pool's workers only
 * run the tasks a step hands them, each writing rows no other task
 * touches.  Every value a sequence gets is computed by the same code in
 * the same order whatever else is in the batch and whatever the thread
 * count, so a batched step equals each sequence run alone, bit for bit.
 */

#ifndef CPU_ENGINE_H
#define CPU_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "lmd_module.h"
#include "lmd_model_weights.h"
#include "cpu_kernels.h"
#include "cpu_pool.h"

/* Query rows (head, token) one attention task computes together, so
 * that a K or V row read from memory serves several of them. */
#define CPU_ATT_ROWS    16


/* ---------------------------------------------------------------- config */

/* The model's shapes, and the sizes every step derives from them. */
struct cpu_dims {
    uint32_t    hidden;         /* hidden_size */
    uint32_t    inter;          /* intermediate_size */
    uint32_t    n_layers;
    uint32_t    n_heads;
    uint32_t    n_kv_heads;
    uint32_t    head_dim;
    uint32_t    group;          /* query heads per KV head */
    uint32_t    q_dim;          /* n_heads * head_dim */
    uint32_t    kv_dim;         /* n_kv_heads * head_dim */
    uint32_t    qkv_dim;        /* q_dim + 2 * kv_dim: one fused row */
    uint32_t    vocab;
    uint32_t    window;         /* sliding window, 0: none */
    float       eps;            /* rms_norm_eps */
    float       att_scale;      /* 1 / sqrt(head_dim) */
};


/* --------------------------------------------------------------- weights */

struct cpu_layer {
    float              *attn_norm;  /* [hidden] */
    struct cpu_weight   wqkv;       /* [qkv_dim][hidden]: wq | wk | wv */
    float              *bqkv;       /* [qkv_dim] or NULL (Qwen2) */
    struct cpu_weight   wo;         /* [hidden][q_dim] */
    float              *ffn_norm;   /* [hidden] */
    struct cpu_weight   w_gate_up;  /* [2 * inter][hidden]: gate | up */
    struct cpu_weight   w_down;     /* [hidden][inter] */
};

struct cpu_weights {
    struct cpu_layer   *layers;     /* [n_layers] */
    float              *final_norm; /* [hidden] */
    struct cpu_weight   lm_head;    /* [vocab][hidden] */
    struct cpu_weight   embed;      /* [vocab][hidden]; unused when tied */
    const struct cpu_weight *lookup;    /* the table rows are read from:
                                           &embed, or &lm_head when tied */
    void              **keep;       /* buffers a weight may point into */
    uint32_t            n_keep;
    uint64_t            bytes;      /* resident: matrices, norms, biases */
};


/* -------------------------------------------------------------- KV cache */

/* Block b holds block_size positions of every layer and KV head:
 *
 *   kv[b][layer][0][kv_head][head_dim][position in block]   keys
 *   kv[b][layer][1][kv_head][position in block][head_dim]   values
 *
 * so one head's keys (or values) within a block are one contiguous run
 * that attention streams through; keys are transposed so that scores
 * come eight positions to a vector (cpu_attention.c).  With a KV codec
 * (kv_cache.codec int8 or int4, modules/int8-kv) each run is the
 * codec's instead, written and read only through its hooks. */
struct cpu_kv {
    char       *data;           /* [n_blocks][block_bytes]; mmap'ed */
    size_t      map_bytes;
    uint32_t    n_blocks;
    uint32_t    block_size;     /* positions per block */
    size_t      block_bytes;    /* n_layers * 2 * n_kv_heads * run_bytes */
    size_t      run_bytes;      /* one head's keys or values in a block:
                                   block_size * head_dim floats, or the
                                   codec's run */
    const struct lmd_kv_codec_cpu *codec;   /* NULL: f32 runs as above;
                                               else runs in the codec's
                                               format (lmd_module.h) */
};


/* --------------------------------------------------------------- scratch */

/* One attention task: query heads [head0, head0 + n_heads) of KV head
 * kv_head (heads numbered within its group), for the new tokens
 * [tok0, tok1) of sequence seq. */
struct cpu_att_task {
    uint32_t    seq;
    uint32_t    kv_head;
    uint32_t    head0;
    uint32_t    n_heads;
    uint32_t    tok0;
    uint32_t    tok1;
};

/* A step's buffers, sized for cap_tokens new tokens (T), cap_logits
 * logit rows (L), cap_seqs sequences; one arena, 64-byte aligned. */
struct cpu_scratch {
    void       *arena;
    size_t      arena_bytes;
    uint32_t    cap_tokens;
    uint32_t    cap_logits;
    uint32_t    cap_seqs;

    float      *x;              /* [T][hidden]: the residual stream */
    float      *xb;             /* [T][hidden]: normed, or a matmul out */
    float      *qkv;            /* [T][qkv_dim]: q | k | v per token */
    float      *att;            /* [T][q_dim]: attention out per head */
    float      *hb;             /* [T][2 * inter]: gate | up */
    float      *hb2;            /* [T][inter]: silu(gate) * up */
    float      *rope_cos;       /* [T][head_dim / 2] */
    float      *rope_sin;       /* [T][head_dim / 2] */
    uint32_t   *tok_seq;        /* [T]: the sequence of each token */
    uint32_t   *tok_pos;        /* [T]: its position in the sequence */
    uint32_t   *rows;           /* [L]: the token of each logit row */
    uint32_t   *seq_base;       /* [n_seqs]: a sequence's first token */
    float      *inv_freq;       /* [n_seqs][head_dim / 2] */
    float      *pos_scale;      /* [n_seqs] */

    struct cpu_att_task *tasks; /* attention tasks of one layer */
    uint32_t    cap_tasks;

    float      *scores;         /* [threads][CPU_ATT_ROWS][cap_ctx] */
    uint32_t    cap_ctx;

    float      *kv_tile;        /* [threads][block_size * head_dim]: a
                                   codec's run dequantized (KV codec only) */
    size_t      kv_tile_floats; /* per thread */
};


/* ---------------------------------------------------------------- engine */

struct cpu_engine {
    const struct lmd_host      *host;
    struct lmd_model_config     cfg;
    struct cpu_dims             d;
    struct cpu_weights          w;
    struct lmd_model_weights   *src;    /* the loader's, while weights
                                           point into it; else NULL */
    struct cpu_pool            *pool;
    uint32_t                    threads;
    struct cpu_kv               kv;
    struct cpu_scratch          s;
    char                        dtype_name[16];     /* of the matrices */
    const struct lmd_kv_codec  *kv_codec;   /* open's; NULL: f32 KV */
};


/* cpu_model.c: loads and prepares the weights (fills cfg, d, w, src). */
int  cpu_model_load(struct cpu_engine *e, const struct lmd_engine_params *p,
         char *err, size_t errlen);
void cpu_model_free(struct cpu_engine *e);

/* cpu_forward.c: one batched step; frees the scratch. */
int  cpu_forward(struct cpu_engine *e, const struct lmd_batch *batch,
         char *err, size_t errlen);
void cpu_scratch_free(struct cpu_scratch *s);

/* cpu_attention.c: writes the new K/V rows of one layer into the cache,
 * and runs the attention tasks planned by cpu_attention_plan. */
void     cpu_kv_write(struct cpu_engine *e, const struct lmd_batch *b,
             uint32_t layer, uint32_t tok0, uint32_t tok1);
uint32_t cpu_attention_plan(struct cpu_engine *e, const struct lmd_batch *b,
             uint32_t last_layer);
void     cpu_attention(struct cpu_engine *e, const struct lmd_batch *b,
             uint32_t layer, uint32_t n_tasks);

/* cpu_ops.c: the elementwise operations, one row at a time. */
void  cpu_rmsnorm(float *out, const float *x, const float *w, uint32_t n,
          float eps);
void  cpu_add(float *x, const float *y, uint32_t n);
void  cpu_rope(float *v, uint32_t n_heads, uint32_t head_dim,
          const float *cosv, const float *sinv);
void  cpu_rope_angles(float *cosv, float *sinv, const float *inv_freq,
          uint32_t half, uint32_t pos, float pos_scale);
void  cpu_swiglu(float *out, const float *gate, const float *up,
          uint32_t n);
void  cpu_softmax(float *x, uint32_t n);


/* y += a * x: attention's weighted sum of values.  Inline, so that
 * attention's cloned loops get the vector width of their clone. */
static inline void
cpu_axpy(float *y, float a, const float *x, uint32_t n)
{
    uint32_t  i;

    for (i = 0; i < n; i++) {
        y[i] += a * x[i];
    }
}

#endif /* CPU_ENGINE_H */
