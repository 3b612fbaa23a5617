/*
 * cuda_engine.h -- the cuda-awq engine's state, shared by its own C files
 * only (the kernels' interfaces are cuda_kernels.h and awq_kernels.h).
 *
 * The engine owns one device, one stream and one cuBLAS handle.  Device
 * memory comes in two allocations, each carved by a bump allocator
 * (struct cuda_arena): the weights, sized exactly before the upload, and
 * at kv_init the KV pool together with everything a step needs (the
 * activations for max_step_tokens, the step's plan, the kernels' work
 * buffers), so a step allocates nothing.
 *
 * A step (cuda_forward.c) writes its plan (tokens, positions, block
 * tables, RoPE frequencies) into pinned host memory, copies it to the
 * device in one transfer, runs the layers on the stream and copies the
 * logits back.  Decode steps (one new token and one logit row per
 * sequence) run as a CUDA graph captured once per batch size: the plan
 * lives at fixed device addresses and the kernels read everything that
 * changes between steps from there.
 */

#ifndef CUDA_ENGINE_H
#define CUDA_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>
#include <cublas_v2.h>

#include "lmd_module.h"
#include "lmd_model_weights.h"
#include "cuda_kernels.h"
#include "awq_kernels.h"

/* Decode graphs are kept for batch sizes up to this. */
#define CUDA_GRAPH_MAX_SEQS     256
#define CUDA_AWQ_DEQ_MIN        512     /* rows: AWQ products via f16 */
/* The most sequences in one step. */
#define CUDA_MAX_SEQS           1024
/* cuBLAS workspace (fixed, so that GEMMs can be captured). */
#define CUDA_BLAS_WORKSPACE     (32u << 20)


/* One bump-allocated device allocation. */
struct cuda_arena {
    char       *base;
    size_t      size;
    size_t      used;
};

/* A linear layer on the device: y[m][rows] = x[m][cols] W^T. */
enum cuda_mat_kind {
    CUDA_MAT_DENSE = 0,         /* w: act [rows][cols] */
    CUDA_MAT_AWQ                /* AutoAWQ W4A16 (awq_kernels.h) */
};

struct cuda_mat {
    int         kind;
    uint32_t    rows;           /* out-features */
    uint32_t    cols;           /* in-features */
    void       *w;              /* dense */
    uint32_t   *gv_w;           /* AWQ: the kernels' layout */
    uint32_t   *gv_sz;          /*      (awq_kernels.h) */
    uint32_t    group;
};

struct cuda_layer {
    float          *attn_norm;  /* [hidden] */
    struct cuda_mat wqkv;       /* wq | wk | wv */
    float          *bqkv;       /* [qkv_dim] or NULL */
    struct cuda_mat wo;
    float          *ffn_norm;   /* [hidden] */
    struct cuda_mat w_gate_up;  /* w_gate | w_up */
    struct cuda_mat w_down;
};

struct cuda_weights {
    struct cuda_layer  *layers;     /* host array of [n_layers] */
    float              *final_norm; /* [hidden] */
    struct cuda_mat     lm_head;    /* dense [vocab][hidden] */
    void               *embed;      /* act [vocab][hidden]; lm_head's
                                       when tied */
    uint64_t            bytes;
};

/* The step's plan: the device arrays of struct cuda_step, in one block
 * of `plan_bytes` at the same offsets in pinned host memory (filled by
 * the host) and on the device (read by the kernels). */
struct cuda_plan {
    char       *host;           /* pinned */
    char       *dev;
    size_t      bytes;
    uint32_t    cap_tokens;
    uint32_t    cap_seqs;
    uint32_t    max_blocks;     /* block table row stride */
    /* offsets of the arrays in both copies */
    size_t      o_tokens, o_tok_seq, o_tok_pos, o_seq_start, o_seq_ctx,
                o_blocks, o_inv_freq, o_pos_scale, o_rows;
};

/* A step's activations on the device, for cap_tokens new tokens. */
struct cuda_acts {
    uint32_t    cap_tokens;
    uint32_t    cap_logits;
    float      *x;              /* f32 [T][hidden]: the residual stream */
    float      *x_rows;         /* f32 [L][hidden]: x of the logit rows */
    void       *xn;             /* act [T][hidden]: normed */
    void       *qkv;            /* act [T][qkv_dim] */
    void       *q;              /* act [T][q_dim]: q after RoPE */
    void       *att;            /* act [T][q_dim]: attention out */
    void       *att_rows;       /* act [L][q_dim] */
    void       *gu;             /* act [T][2 * inter]: gate | up */
    void       *h;              /* act [T][inter]: silu(gate) * up */
    float      *logits;         /* f32 [L][vocab] */
    float      *logits_host;    /* pinned [L][vocab] */
    void       *att_work;       /* cuda_attention_work_bytes */
    void       *codec_work;     /* the KV codec's work_bytes (or NULL) */
    void       *dec_work;       /* cuda_attention_decode_work_bytes */
    void       *gemm_work;      /* awq_gemm_work_bytes */
    void       *blas_work;      /* CUDA_BLAS_WORKSPACE */
    void       *sample_work;    /* cuda_sample_work_bytes */
    void       *deq;            /* f16 [out][in] of the largest AWQ
                                   matrix, for products of awq_deq_min
                                   rows or more (NULL: none) */
};

/* On-device sampling's buffers: the rows' settings, the logit biases and
 * the penalties' token ids go up, the chosen ids and log-probabilities
 * come back, all at the same offsets in one pinned and one device
 * block. */
struct cuda_sampling {
    char       *host;           /* pinned */
    char       *dev;
    size_t      bytes;
    size_t      o_rows, o_bias, o_hist, o_ids, o_lps;
    uint32_t    bias_cap;       /* entries */
    uint32_t    hist_cap;       /* token ids */
    void       *work;           /* cuda_sample_work_bytes */
};

/* One captured decode step per batch size. */
struct cuda_graphs {
    cudaGraphExec_t exec[CUDA_GRAPH_MAX_SEQS + 1];
    uint8_t         seen[CUDA_GRAPH_MAX_SEQS + 1];  /* eager runs so far */
    int             enabled;    /* 0: LMD_CUDA_GRAPHS=0 */
};

/* LMD_CUDA_PROFILE=1: every step runs eagerly with an event after each
 * launch, and close logs the time per kind of launch, decode steps and
 * the others (prompt chunks, mixed steps) apart. */
enum cuda_prof_op {
    CUDA_PROF_EMBED = 0, CUDA_PROF_NORM, CUDA_PROF_QKV, CUDA_PROF_ROPE,
    CUDA_PROF_ATTN, CUDA_PROF_WO, CUDA_PROF_GATE_UP, CUDA_PROF_SILU,
    CUDA_PROF_DOWN, CUDA_PROF_GATHER, CUDA_PROF_LOGITS, CUDA_PROF_N
};

struct cuda_prof {
    int             on;
    cudaEvent_t     ev[2];
    int             kind;       /* of the step running: 1 decode */
    double          ms[2][CUDA_PROF_N];
    uint64_t        steps[2];
};

struct cuda_engine {
    const struct lmd_host      *host;
    struct lmd_model_config     cfg;
    struct cuda_dims            d;
    uint32_t                    n_layers;
    int                         act;        /* enum cuda_act */
    int                         device;
    int                         sm_count;
    char                        gpu_name[256];
    cudaStream_t                stream;
    cublasHandle_t              blas;

    struct cuda_arena           warena;     /* weights */
    struct cuda_weights         w;

    struct cuda_arena           sarena;     /* KV pool, plan, acts */
    struct cuda_kv              kv;
    const struct lmd_kv_codec_cuda *codec;  /* the pool's KV codec
                                               (int8-kv), or NULL: act */
    const char                 *codec_name;
    struct cuda_plan            plan;
    struct cuda_acts            a;
    struct cuda_sampling        smp;
    struct cuda_graphs          graphs;
    int                         attn_generic;   /* cuda_attn_generic.cu:
                                                   1 for prefill, 2 for
                                                   every step */
    struct cuda_prof            prof;
    int                         blas_only;  /* LMD_CUDA_BLAS_ONLY=1 */
    uint32_t                    awq_deq_min;    /* LMD_CUDA_AWQ_DEQ_MIN:
                                                   AWQ products of this
                                                   many rows or more go
                                                   f16 through cuBLAS;
                                                   0: never */
    float                      *inv_freq_tmp;  /* host [head_dim / 2] */
};


/* cuda_arena.c */
int   cuda_arena_init(struct cuda_arena *a, size_t size, char *err,
          size_t errlen);
void *cuda_arena_take(struct cuda_arena *a, size_t bytes);
void  cuda_arena_free(struct cuda_arena *a);
/* "CUDA call: message" into err; always -1. */
int   cuda_fail(char *err, size_t errlen, const char *what, int code);

/* cuda_model.c: loads the model and uploads its weights (fills cfg, d,
 * n_layers, act, w, warena). */
int   cuda_model_load(struct cuda_engine *e,
          const struct lmd_engine_params *p, char *err, size_t errlen);
void  cuda_model_free(struct cuda_engine *e);

/* cuda_matmul.c: y = x W^T for m rows.  add 0: y act [m][rows]; add 1:
 * y f32 [m][rows] += the product. */
int   cuda_matmul(struct cuda_engine *e, const struct cuda_mat *w,
          const void *x, uint32_t m, void *y, int add);
/* logits f32 [m][vocab] = x lm_head^T, x act [m][hidden]. */
int   cuda_matmul_logits(struct cuda_engine *e, const void *x, uint32_t m,
          float *logits);

/* cuda_step.c: the KV pool, plan and activations (kv_init), and the
 * device bytes a step of the default size needs besides the pool. */
int   cuda_step_init(struct cuda_engine *e, const struct lmd_kv_params *kv,
          char *err, size_t errlen);
void  cuda_step_free(struct cuda_engine *e);
size_t cuda_step_bytes(const struct cuda_engine *e, uint32_t tokens,
          uint32_t seqs, uint32_t max_blocks);

/* cuda_forward.c: one batched step. */
int   cuda_forward(struct cuda_engine *e, const struct lmd_batch *batch,
          char *err, size_t errlen);
void  cuda_graphs_free(struct cuda_engine *e);
/* Logs and frees the profile (LMD_CUDA_PROFILE). */
void  cuda_prof_report(struct cuda_engine *e);

#endif /* CUDA_ENGINE_H */
