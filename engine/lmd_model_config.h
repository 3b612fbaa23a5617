/*
 * lmd_model_config.h -- a model folder's config.json and
 * generation_config.json, as one struct every engine reads.
 *
 * Architectures: LlamaForCausalLM (also Mistral's MistralForCausalLM),
 * Qwen2ForCausalLM, InternLM2ForCausalLM.  RoPE scaling: none, linear,
 * dynamic (NTK), llama3.  Quantization: none, or AutoAWQ's W4A16 GEMM
 * checkpoints (quantization_config quant_method "awq", bits 4, zero_point,
 * version "gemm").  Anything else is an error naming the file and the
 * key.
 */

#ifndef LMD_MODEL_CONFIG_H
#define LMD_MODEL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum lmd_arch {
    LMD_ARCH_LLAMA = 0,         /* Llama, Mistral */
    LMD_ARCH_QWEN2,             /* q/k/v biases, tied embeddings often */
    LMD_ARCH_INTERNLM2          /* fused grouped wqkv, other names */
};

enum lmd_rope_type {
    LMD_ROPE_DEFAULT = 0,
    LMD_ROPE_LINEAR,            /* positions divided by factor */
    LMD_ROPE_DYNAMIC,           /* NTK base stretch past the trained
                                   context, per sequence length */
    LMD_ROPE_LLAMA3             /* Llama 3.1's per-band frequencies */
};

enum lmd_quant {
    LMD_QUANT_NONE = 0,
    LMD_QUANT_AWQ               /* AutoAWQ W4A16, GEMM packing */
};

#define LMD_MODEL_MAX_EOS  8

struct lmd_model_config {
    int             arch;               /* enum lmd_arch */
    char            arch_name[64];      /* "LlamaForCausalLM" */
    uint32_t        vocab_size;
    uint32_t        hidden_size;
    uint32_t        intermediate_size;
    uint32_t        n_layers;
    uint32_t        n_heads;
    uint32_t        n_kv_heads;
    uint32_t        head_dim;           /* hidden/n_heads unless given */
    uint32_t        max_position;       /* max_position_embeddings */
    float           rms_norm_eps;
    float           rope_theta;

    struct {
        int         type;               /* enum lmd_rope_type */
        float       factor;
        float       low_freq_factor;    /* llama3 */
        float       high_freq_factor;   /* llama3 */
        uint32_t    original_max_position;  /* llama3 */
    } rope_scaling;

    uint32_t        sliding_window;     /* Mistral: attend to the last N
                                           positions only; 0 = all */
    int             tie_word_embeddings;
    int             qkv_bias;           /* Qwen2: q/k/v projections have
                                           biases; InternLM2 "bias" */
    int             torch_dtype;        /* enum lmd_dtype, F32 if absent */

    int32_t         bos_id;             /* -1 if none */
    int32_t         eos_ids[LMD_MODEL_MAX_EOS];
    uint32_t        n_eos;              /* config's and generation's,
                                           merged, no duplicates */

    /* generation_config.json's sampling defaults; has_* 0 if absent. */
    int             has_temperature, has_top_p, has_top_k;
    int             has_repetition_penalty;
    float           temperature, top_p, repetition_penalty;
    int             top_k;

    int             demo;               /* "lmd_demo": true (the build's
                                           random demo model) */

    int             quant;              /* enum lmd_quant */
    uint32_t        group_size;         /* AWQ: input rows per scale and
                                           zero; divides every linear's
                                           in-features; 0 if none */
};

/* Reads dir/config.json (required) and dir/generation_config.json
 * (optional).  LMD_OK, or LMD_ERROR with err "FILE: message". */
int lmd_model_config_load(const char *dir, struct lmd_model_config *c,
    char *err, size_t errlen);

/* The RoPE inverse frequencies (head_dim/2 of them) for a sequence that
 * is seq_len tokens long (dynamic scaling depends on it), and the
 * factor positions are multiplied by (1/factor for linear, else 1). */
void lmd_model_rope_freqs(const struct lmd_model_config *c,
    uint32_t seq_len, float *inv_freq, float *pos_scale);

#endif /* LMD_MODEL_CONFIG_H */
