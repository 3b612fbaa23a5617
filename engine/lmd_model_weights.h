/*
 * lmd_model_weights.h -- a model's tensors by role, whatever the
 * architecture calls them.
 *
 * Maps each architecture's names (model.layers.N.self_attn.q_proj.weight,
 * InternLM2's model.layers.N.attention.wqkv.weight, ...) to one layout
 * every engine uses, checks every shape against config.json, splits
 * InternLM2's grouped wqkv into q, k and v, and resolves tied embeddings.
 * Matrices are row-major [rows][cols] (PyTorch's [out_features,
 * in_features]); vectors have rows == 1.  With load_format "dummy" the
 * tensors are seeded random values in config's torch_dtype (norms 1,
 * matrices uniform with variance 1/cols) and nothing is read but
 * config.json.
 *
 * AWQ checkpoints (config quant LMD_QUANT_AWQ): each linear layer
 * (q/k/v/o/gate/up/down) is three tensors, NAME.qweight, NAME.qzeros and
 * NAME.scales, in AutoAWQ's [in][out] orientation (lmd_awq.h has the
 * format); such a struct lmd_wmat has dtype LMD_DTYPE_I32, rows/cols in
 * the HF orientation [out][in], data the qweight, and its awq member
 * filled.  Embeddings, norms, biases and lm_head stay float.
 */

#ifndef LMD_MODEL_WEIGHTS_H
#define LMD_MODEL_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "lmd_model_config.h"
#include "lmd_dtype.h"

/* One AWQ linear layer: W[n][k] = (q[k][n] - z[k/group][n]) *
 * s[k/group][n] for output n, input k (see lmd_awq.h). */
struct lmd_awq_mat {
    const int32_t  *qweight;            /* [in][out/8] packed nibbles;
                                           NULL: not an AWQ matrix */
    const int32_t  *qzeros;             /* [in/group][out/8] */
    const uint16_t *scales;             /* f16 [in/group][out] */
    uint32_t        in;                 /* in-features */
    uint32_t        out;                /* out-features */
    uint32_t        group;              /* group_size */
    const char     *qweight_name;       /* tensor names, for messages */
    const char     *qzeros_name;
    const char     *scales_name;
};

struct lmd_wmat {
    int             dtype;              /* F32, F16 or BF16; I32: AWQ */
    uint32_t        rows;
    uint32_t        cols;
    const void     *data;               /* NULL: absent (biases) */
    const char     *name;               /* tensor name, for messages */
    struct lmd_awq_mat  awq;            /* dtype I32 only */
};

struct lmd_layer_weights {
    struct lmd_wmat attn_norm;          /* [1][hidden] */
    struct lmd_wmat wq;                 /* [n_heads*head_dim][hidden] */
    struct lmd_wmat wk;                 /* [n_kv_heads*head_dim][hidden] */
    struct lmd_wmat wv;                 /* [n_kv_heads*head_dim][hidden] */
    struct lmd_wmat bq, bk, bv;         /* [1][rows of wq/wk/wv] or absent */
    struct lmd_wmat wo;                 /* [hidden][n_heads*head_dim] */
    struct lmd_wmat ffn_norm;           /* [1][hidden] */
    struct lmd_wmat w_gate;             /* [intermediate][hidden] */
    struct lmd_wmat w_up;               /* [intermediate][hidden] */
    struct lmd_wmat w_down;             /* [hidden][intermediate] */
};

struct lmd_model_weights {
    struct lmd_model_config     cfg;
    struct lmd_wmat             embed;          /* [vocab][hidden] */
    struct lmd_wmat             final_norm;     /* [1][hidden] */
    struct lmd_wmat             lm_head;        /* [vocab][hidden]; the
                                                   embedding when tied */
    struct lmd_layer_weights   *layers;         /* cfg.n_layers */
    uint64_t                    bytes;          /* all tensors' bytes */
    void                       *priv;           /* mappings, copies */
};

/* Loads dir's config and weights ("auto" or "dummy" load_format; seed for
 * dummy).  NULL with err naming the file and tensor at fault. */
struct lmd_model_weights *lmd_model_weights_load(const char *dir,
    const char *load_format, uint64_t seed, char *err, size_t errlen);

void lmd_model_weights_free(struct lmd_model_weights *w);

/* Internal to model loading (lmd_model_weights_load calls it for
 * "dummy"; lmd_model_dummy.c): fills the tensors of w, already given
 * their dtype, shape and writable memory, with seeded random values.
 * The same seed gives the same values whatever the number of threads.
 * LMD_OK, or LMD_ERROR with err. */
int lmd_model_dummy_fill(struct lmd_model_weights *w, uint64_t seed,
    char *err, size_t errlen);

#endif /* LMD_MODEL_WEIGHTS_H */
