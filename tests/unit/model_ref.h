/*
 * model_ref.h -- what the model tests share: small random models written
 * from scratch, a plain double-precision forward pass to check engines
 * against, and a thin driver for an engine module's hooks.
 *
 * Everything here is the tests' own: the safetensors file is written (and
 * read) by hand, the forward pass follows the transformers formulas
 * (LlamaModel, MistralModel, Qwen2Model, InternLM2Model), and nothing of
 * lmd's model loader is used, so a bug shared with the engine cannot hide.
 *
 * There is no rule for it in the Makefile: each tests/unit/test_model_*.c
 * includes model_ref.c.
 */

#ifndef MODEL_REF_H
#define MODEL_REF_H

#include <stddef.h>
#include <stdint.h>

#include "lmd_module.h"

enum mref_arch {
    MREF_LLAMA = 0,
    MREF_MISTRAL,               /* Llama with a sliding window */
    MREF_QWEN2,                 /* q/k/v biases */
    MREF_INTERNLM2              /* fused grouped wqkv, its own names */
};

enum mref_rope {
    MREF_ROPE_DEFAULT = 0,
    MREF_ROPE_LINEAR,
    MREF_ROPE_DYNAMIC,
    MREF_ROPE_LLAMA3
};

enum mref_dtype {              /* how the weights are stored on disk */
    MREF_F32 = 0,
    MREF_BF16,
    MREF_F16
};

struct mref_layer {
    double     *attn_norm;      /* [hidden] */
    double     *wq;             /* [n_heads*head_dim][hidden] */
    double     *wk;             /* [n_kv_heads*head_dim][hidden] */
    double     *wv;             /* [n_kv_heads*head_dim][hidden] */
    double     *bq, *bk, *bv;   /* [rows of wq/wk/wv], NULL: no bias */
    double     *wo;             /* [hidden][n_heads*head_dim] */
    double     *ffn_norm;       /* [hidden] */
    double     *w_gate;         /* [inter][hidden] */
    double     *w_up;           /* [inter][hidden] */
    double     *w_down;         /* [hidden][inter] */
};

struct mref_model {
    /* Set by the caller before mref_model_init(). */
    const char *name;           /* for messages */
    int         arch;           /* enum mref_arch */
    int         dtype;          /* enum mref_dtype */
    uint32_t    vocab, hidden, inter, n_layers, n_heads, n_kv_heads;
    uint32_t    head_dim;       /* 0: hidden / n_heads (not written) */
    uint32_t    max_position;
    double      rope_theta;
    double      rms_eps;
    int         rope;           /* enum mref_rope */
    int         rope_old_key;   /* rope_scaling "type" not "rope_type" */
    double      rope_factor;
    double      rope_low, rope_high;        /* llama3 */
    uint32_t    rope_orig_max;              /* llama3 */
    uint32_t    sliding_window; /* applied: Mistral; 0 none */
    uint32_t    unused_window;  /* Qwen2: written with use_sliding_window
                                   false, so not applied */
    int         qkv_bias;
    int         tied;
    uint64_t    seed;
    int         x16;            /* set by mref_round_weights "int8": x of
                                   every matrix product quantized to 16
                                   bits as the cpu engine's int8 kernels
                                   do (modules/cpu/cpu_gemm.h) */

    /* Filled by mref_model_init(): the values as stored (rounded to the
     * disk dtype). */
    double             *embed;          /* [vocab][hidden] */
    double             *final_norm;     /* [hidden] */
    double             *lm_head;        /* [vocab][hidden]; embed if tied */
    struct mref_layer  *layers;
};

/* Draws m's weights (norms near 1, matrices uniform with variance about
 * 1/cols, embeddings uniform in [-1, 1)) from m->seed, rounded to
 * m->dtype.  0 or -1 (out of memory). */
int  mref_model_init(struct mref_model *m);
void mref_model_free(struct mref_model *m);

/* Writes dir/config.json and dir/model.safetensors.  0 or -1 with err. */
int  mref_model_write(const struct mref_model *m, const char *dir,
    char *err, size_t len);

/* Rounds m's matrices (not its norms and biases, which engines keep in
 * f32) as lmd_engine_cpu.so stores them for weights "bf16", "f16" or
 * "int8" (modules/cpu/cpu_weight.c): bf16 and f16 to nearest even; int8
 * per row, scale = max|w| / 127 in f32, q = round(w / scale), and then
 * the products' x as well (m->x16). */
void mref_round_weights(struct mref_model *m, const char *weights);

/* Reads a Llama folder's config.json and model.safetensors (F32, BF16 or
 * F16; no biases) into m, for checking this reference against
 * transformers and the writer against the reader.  0 or -1 with err; free
 * m either way. */
int  mref_model_read_llama(struct mref_model *m, const char *dir,
    char *err, size_t len);

/* The head_dim/2 RoPE inverse frequencies for a sequence seq_len long,
 * linear scaling folded in. */
void mref_inv_freq(const struct mref_model *m, uint32_t seq_len,
    double *inv_freq);

/* One forward over tokens[0..n-1] at positions 0..n-1, as transformers
 * runs a whole prompt: logits[n][vocab].  0 or -1 (out of memory). */
int  mref_forward(const struct mref_model *m, const int32_t *tokens,
    uint32_t n, double *logits);

/* A fresh folder under TMPDIR (or /tmp), and its removal with the two
 * files mref_model_write() puts there. */
int  mref_tmpdir(char *buf, size_t len);
void mref_rmdir(const char *dir);

/* Draws n token ids below vocab. */
void mref_tokens(uint64_t seed, uint32_t vocab, int32_t *ids, uint32_t n);

/* ---------------------------------------------------------------- engine */

/* A host that logs to stderr. */
const struct lmd_host *mref_host(void);

/* Loads lmd_engine_cpu.so from $LMD_MODULES or "modules"; NULL with err.
 * The handle is a struct lmd_module_handle, closed with
 * mref_module_close(). */
const struct lmd_module *mref_module_open(void **handle, char *err,
    size_t len);
void mref_module_close(void *handle);
/* The same for another engine's file ("lmd_engine_cuda_awq.so"). */
const struct lmd_module *mref_module_open_file(const char *file,
    void **handle, char *err, size_t len);

struct mref_engine {
    const struct lmd_module    *mod;
    void                       *eng;
    struct lmd_engine_memory    mem;
};

/* Opens dir with weights ("f32", "int8", ...) and threads.  0 or -1. */
int  mref_engine_open(struct mref_engine *e, const struct lmd_module *mod,
    const char *dir, const char *weights, int threads, char *err,
    size_t len);
/* The same with its KV cache in a codec (NULL: the engine's own). */
int  mref_engine_open_kv(struct mref_engine *e,
    const struct lmd_module *mod, const char *dir, const char *weights,
    int threads, const struct lmd_kv_codec *codec, char *err, size_t len);
void mref_engine_close(struct mref_engine *e);

/* A fresh KV pool, then tokens[0..n-1] fed chunk at a time (0: all at
 * once) as one sequence in blocks 0, 1, ... of block_size: logits of
 * every position into logits[n][vocab].  0 or -1 with err. */
int  mref_engine_run(struct mref_engine *e, const int32_t *tokens,
    uint32_t n, uint32_t chunk, uint32_t block_size, float *logits,
    char *err, size_t len);

#endif /* MODEL_REF_H */
