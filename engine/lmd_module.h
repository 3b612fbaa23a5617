/*
 * lmd_module.h -- THE module ABI: the only header a module sees.
 *
 * Every module is a shared object exporting exactly one symbol,
 *
 *     const struct lmd_module lmd_module;
 *
 * a const struct with a fixed head (ABI version, build signature, name,
 * kind), then the vtable of its kind, then reserved slots so that hooks can
 * be added without moving anything.  The daemon's loader (daemon/
 * lmd_module_load.c) refuses a module whose abi_version or signature differs
 * from its own, or whose kind is not what the config asked for.
 *
 * Modules never link against the daemon: host services (logging, clock)
 * come in through struct lmd_host.  Build them with -fvisibility=hidden and
 * mark only `lmd_module` with LMD_MODULE_EXPORT.
 *
 * Threads: probe() runs on the loop thread at start-up; every engine hook
 * runs on that model's engine thread; the host's hooks may be called from
 * any thread.
 */

#ifndef LMD_MODULE_H
#define LMD_MODULE_H

#include <stddef.h>
#include <stdint.h>

#define LMD_MODULE_ABI_VERSION  2

/* Facts both sides must agree on; compared as a string by the loader. */
#define LMD_MODULE_STR2(x)      #x
#define LMD_MODULE_STR(x)       LMD_MODULE_STR2(x)
#define LMD_MODULE_SIGNATURE                                                  \
    "abi=" LMD_MODULE_STR(LMD_MODULE_ABI_VERSION)                             \
    " ptr=" LMD_MODULE_STR(__SIZEOF_POINTER__)                                \
    " long=" LMD_MODULE_STR(__SIZEOF_LONG__)                                  \
    " size_t=" LMD_MODULE_STR(__SIZEOF_SIZE_T__)

#define LMD_MODULE_EXPORT       __attribute__((visibility("default")))

/* Return codes, the same closed set as the daemon's (lmd_core.h). */
#define LMD_MODULE_OK           0
#define LMD_MODULE_ERROR       -1

#define LMD_MODULE_ERR_LEN      512

enum lmd_module_kind {
    LMD_MODULE_ENGINE   = 1,    /* runs a model: modules/cpu, cuda-awq */
    LMD_MODULE_KV_CODEC = 2     /* stores the KV cache: modules/int8-kv */
};

enum lmd_host_log_level {      /* the same numbers as enum lmd_log_level */
    LMD_HOST_LOG_ERR = 0,
    LMD_HOST_LOG_WARN,
    LMD_HOST_LOG_NOTICE,
    LMD_HOST_LOG_INFO,
    LMD_HOST_LOG_DEBUG
};

/* Services the daemon lends a module.  Valid until the module's close. */
struct lmd_host {
    unsigned    abi_version;
    /* Writes one line to the error log; any thread. */
    void      (*log)(int level, const char *fmt, ...)
                  __attribute__((format(printf, 2, 3)));
    /* Monotonic clock in nanoseconds; any thread. */
    uint64_t  (*now_ns)(void);
    void       *reserved[6];
};

struct lmd_kv_codec;

/* What an engine is asked to open: one configured model. */
struct lmd_engine_params {
    const char *name;           /* the model's API id */
    const char *path;           /* model folder */
    const char *load_format;    /* "auto" or "dummy" (random weights from
                                   config.json alone, seeded by seed) */
    const char *weights;        /* compute dtype of the weights: "auto"
                                   (as stored), "f32", "f16", "bf16",
                                   "int8" (per-row, quantized at load) */
    uint64_t    seed;           /* dummy weights */
    int         threads;        /* 0: every online core */
    int         pad;
    const struct lmd_kv_codec *kv_codec;    /* NULL: the engine's own KV
                                               cache; else store it in
                                               this codec (or refuse) */
    void       *reserved[5];
};

/* What an engine can do besides the required hooks (memory's caps). */
#define LMD_ENGINE_CAP_SAMPLE   0x1u    /* forward picks tokens itself when
                                           lmd_batch.sample is set */

/* Sizes and shapes an engine reports after open. */
struct lmd_engine_memory {
    uint64_t    weight_bytes;   /* resident weights */
    uint64_t    free_bytes;     /* device memory left after weights */
    uint64_t    kv_bytes_per_token; /* K and V of every layer, one token */
    uint32_t    vocab_size;     /* length of one logits row */
    uint32_t    max_context;    /* max_position_embeddings */
    uint64_t    caps;           /* LMD_ENGINE_CAP_* */
    uint64_t    reserved[3];
};

/* The paged KV cache the core asks for: n_blocks blocks of block_size
 * tokens each.  The engine allocates and lays them out as it likes; the
 * core only hands out block numbers. */
struct lmd_kv_params {
    uint32_t    n_blocks;
    uint32_t    block_size;     /* tokens per block */
    uint32_t    max_step_tokens;    /* the most new tokens of one forward
                                       (0: unknown), so that an engine can
                                       size its step buffers once */
    uint32_t    max_step_seqs;      /* the most sequences of one forward
                                       (0: unknown) */
    void       *reserved[3];
};

/* One sequence's part of a batched step.  Its tokens[0] sits at position
 * pos (pos tokens of this sequence are already in the cache); the step
 * writes the K/V of positions pos .. pos+n_tokens-1 and attends over
 * 0 .. its own position.  blocks[i] holds positions
 * [i*block_size, (i+1)*block_size); n_blocks covers pos + n_tokens. */
struct lmd_seq_input {
    const int32_t  *tokens;
    uint32_t        n_tokens;   /* >= 1 */
    uint32_t        pos;
    const uint32_t *blocks;
    uint32_t        n_blocks;
    uint32_t        n_logits;   /* logits for the last n_logits of the new
                                   tokens: 0, 1 (sampling), or up to
                                   n_tokens (teacher forcing, echo) */
};

/* A logit_bias entry: bias is added to token id's logit. */
struct lmd_logit_bias {
    int32_t         id;
    float           bias;               /* -100 .. 100 */
};

/* How to pick the token of one logit row, for an engine that samples on
 * its own device (LMD_ENGINE_CAP_SAMPLE).  The settings and their order
 * are engine/lmd_sampler.h's: logit bias, repetition penalty (over
 * prompt and output), frequency and presence penalties (over output),
 * then greedy when temperature is 0 (lowest id on ties), else
 * temperature, top_k, top_p, min_p and a draw keyed by `key`. */
struct lmd_sample_req {
    float           temperature;        /* 0: greedy */
    float           top_p;              /* 1: off */
    float           min_p;              /* 0: off */
    int32_t         top_k;              /* 0: off */
    float           repetition_penalty; /* 1: off */
    float           frequency_penalty;  /* 0: off */
    float           presence_penalty;   /* 0: off */
    uint32_t        n_bias;
    const struct lmd_logit_bias *bias;
    const int32_t  *prompt;             /* read when a penalty is on */
    const int32_t  *output;
    uint32_t        n_prompt;
    uint32_t        n_output;
    uint64_t        key;                /* the draw's random key: the same
                                           key and logits, the same token */
};

/* A batched step: every sequence's new tokens in one forward. */
struct lmd_batch {
    const struct lmd_seq_input *seqs;
    uint32_t        n_seqs;
    uint32_t        pad;
    float          *logits;     /* out: one row of vocab_size floats per
                                   requested logit, sequences in order,
                                   positions ascending; host memory.
                                   NULL when sample is set */
    /* Set only for an engine with LMD_ENGINE_CAP_SAMPLE: one request per
     * logit row; the engine writes the chosen ids (host memory, one per
     * row) and, when logprobs is not NULL, each chosen token's
     * log-probability under the raw logits. */
    const struct lmd_sample_req *sample;
    int32_t        *ids;
    float          *logprobs;
    void           *reserved[1];
};

struct lmd_engine_ops {
    /* (optional) Is the hardware this engine needs present?  Returns 1 if
     * usable, 0 if not (err says why: "no CUDA device"), so the daemon can
     * log it and carry on with other models.  Loop thread. */
    int       (*probe)(const struct lmd_host *host, char *err, size_t len);

    /* Loads a model; on success *engine is the engine's own state, owned
     * by it until close.  LMD_MODULE_OK or LMD_MODULE_ERROR with err set
     * naming the file and tensor at fault.  Engine thread. */
    int       (*open)(const struct lmd_host *host,
                  const struct lmd_engine_params *params, void **engine,
                  char *err, size_t len);

    /* Fills *mem.  Engine thread. */
    int       (*memory)(void *engine, struct lmd_engine_memory *mem);

    /* Frees everything open made.  Engine thread. */
    void      (*close)(void *engine);

    /* Allocates the KV pool (again: a second call replaces the first and
     * forgets every cached token).  Engine thread. */
    int       (*kv_init)(void *engine, const struct lmd_kv_params *kv,
                  char *err, size_t len);

    /* Runs one batched step (see struct lmd_batch).  Block numbers must be
     * below kv_init's n_blocks; the core guarantees that no two running
     * sequences write the same block.  Engine thread. */
    int       (*forward)(void *engine, const struct lmd_batch *batch,
                  char *err, size_t len);

    /* Slots for later hooks (on-device sampling, block copies). */
    void       *reserved[10];
};

/*
 * KV codecs (modules/int8-kv): how an engine's KV cache stores keys and
 * values in fewer bits.  An engine that is given a codec keeps its own
 * block layout but stores each "run" -- `positions` consecutive positions
 * of one KV head's keys (or values) in a block, head_dim numbers each --
 * in the codec's format, and reads it back only through the codec's
 * hooks, inside attention: one block's run at a time into a tile in fast
 * memory (unpack; the cpu engine), or within the loops themselves
 * (scores, accumulate).  No copy of the cache is made.  Each backend has
 * its own hooks and its own run format.
 */

/* The cpu backend.  `which` is 0 for a keys run, 1 for a values run;
 * positions is a multiple of 8 and head_dim of 8.  Runs are 64-byte
 * aligned.  Any thread; the hooks keep no state. */
struct lmd_kv_codec_cpu {
    /* Bytes of one run: a multiple of 64. */
    size_t    (*run_bytes)(uint32_t positions, uint32_t head_dim);

    /* Stores x[head_dim] as position pos of the run. */
    void      (*put)(void *run, int which, uint32_t positions,
                  uint32_t head_dim, uint32_t pos, const float *x);

    /* The stored (dequantized) numbers of positions [p0, p1):
     * out[(p1 - p0) * head_dim]. */
    void      (*get)(const void *run, int which, uint32_t positions,
                  uint32_t head_dim, uint32_t p0, uint32_t p1, float *out);

    /* Keys run: s[p - p0] = sum_i q[i] k_p[i] for p in [p0, p1). */
    void      (*scores)(const void *run, uint32_t positions,
                  uint32_t head_dim, uint32_t p0, uint32_t p1,
                  const float *q, float *s);

    /* Values run: out[i] += sum_p w[p - p0] v_p[i] over [p0, p1). */
    void      (*accumulate)(const void *run, uint32_t positions,
                  uint32_t head_dim, uint32_t p0, uint32_t p1,
                  const float *w, float *out);

    /* The whole run dequantized into a tile laid out as the cpu engine
     * lays out f32 runs: keys out[head_dim][positions] (transposed),
     * values out[positions][head_dim].  The same numbers as get. */
    void      (*unpack)(const void *run, int which, uint32_t positions,
                  uint32_t head_dim, float *out);

    void       *reserved[2];
};

/* The CUDA backend.  The engine keeps its pool as blocks of every
 * layer's runs: the run of (block b, layer l, keys 0 / values 1 w, KV
 * head h) starts at
 *
 *     cache + b * block_bytes + ((l * 2 + w) * n_kv_heads + h) * run_bytes
 *
 * with run_bytes = run_bytes(block_size, head_dim).  The hooks launch on
 * the engine's stream and neither synchronize, allocate nor copy to or
 * from the host, so that the engine can capture them in a CUDA graph;
 * what changes between two decode steps of one batch size is read only
 * through the device arrays.  They return 0, or -1 on arguments they do
 * not take or a launch error. */
struct lmd_kv_cuda_args {
    /* The model. */
    int             act;            /* 0: f16, 1: bf16 activations */
    uint32_t        n_heads;
    uint32_t        n_kv_heads;
    uint32_t        head_dim;       /* even, at most 256 */
    uint32_t        window;         /* sliding window, 0: none */
    float           att_scale;

    /* The cache and the layer of this call. */
    void           *cache;
    uint64_t        block_bytes;
    uint64_t        run_bytes;
    uint32_t        n_blocks;
    uint32_t        block_size;     /* a power of two, 16 .. 1024 */
    uint32_t        layer;

    /* The step: host values ... */
    uint32_t        n_tokens;       /* T new tokens in all */
    uint32_t        n_seqs;         /* S sequences */
    uint32_t        max_seq_tokens; /* the most new tokens of one */
    uint32_t        max_ctx;        /* the largest seq_ctx */
    uint32_t        max_blocks;     /* row stride of block_table */
    uint32_t        decode;         /* 1: one new token a sequence */
    /* ... and device arrays: token t is of sequence tok_seq[t] at
     * position tok_pos[t]; sequence i's tokens are rows seq_start[i] ..
     * seq_start[i + 1] - 1, and it holds seq_ctx[i] positions after the
     * step; position p of it is in block block_table[i * max_blocks + p
     * / block_size].  RoPE: angle = p * pos_scale[i] * inv_freq[i][j],
     * HF's rotate_half layout. */
    const uint32_t *tok_seq;
    const uint32_t *tok_pos;
    const uint32_t *seq_start;
    const uint32_t *seq_ctx;
    const uint32_t *block_table;
    const float    *inv_freq;       /* [S][head_dim / 2] */
    const float    *pos_scale;      /* [S] */

    void           *stream;         /* cudaStream_t */
    void           *reserved[4];
};

struct lmd_kv_codec_cuda {
    /* Bytes of one run: a multiple of 128. */
    size_t    (*run_bytes)(uint32_t positions, uint32_t head_dim);

    /* Bytes of the device scratch `attention` needs for steps of at most
     * max_tokens new tokens and max_seqs sequences. */
    size_t    (*work_bytes)(uint32_t max_tokens, uint32_t max_seqs,
                  uint32_t head_dim);

    /* After the fused q|k|v product (qkv: act [T][(n_heads + 2
     * n_kv_heads) head_dim]): adds bias (f32, or NULL), rotates q and k
     * by RoPE, writes q to q_out (act [T][n_heads head_dim]) and stores
     * k and v at each token's block and slot of the layer. */
    int       (*qkv_rope_write)(const struct lmd_kv_cuda_args *a,
                  const void *qkv, const float *bias, void *q_out);

    /* out[t][h] = softmax(q[t][h] . K^T att_scale) V over the positions
     * token t attends to (causal, window), for every new token and query
     * head; q, out act [T][n_heads head_dim].  The cache already holds
     * the step's keys and values.  work: work_bytes of scratch. */
    int       (*attention)(const struct lmd_kv_cuda_args *a,
                  const void *q, void *out, void *work);

    void       *reserved[4];
};

/* One codec of a KV_CODEC module. */
struct lmd_kv_codec {
    const char                      *name;      /* "int8", "int4" */
    unsigned                         bits;      /* per stored number */
    const char                      *description;
    const struct lmd_kv_codec_cpu   *cpu;       /* NULL: no cpu backend */
    const struct lmd_kv_codec_cuda  *cuda;      /* NULL: no CUDA backend
                                                   (built without CUDA) */
    void                            *reserved[3];
};

struct lmd_kv_codec_ops {
    /* The codec called name (the config's kv_cache.codec), or NULL. */
    const struct lmd_kv_codec *(*find)(const char *name);

    void       *reserved[15];
};

struct lmd_module {
    /* Fixed head: never moves. */
    unsigned                     abi_version;   /* LMD_MODULE_ABI_VERSION */
    const char                  *signature;     /* LMD_MODULE_SIGNATURE */
    const char                  *name;          /* "cpu", "int8-kv", ... */
    int                          kind;          /* enum lmd_module_kind */
    const char                  *description;   /* one line, for logs */

    union {
        struct lmd_engine_ops    engine;        /* kind ENGINE */
        struct lmd_kv_codec_ops  kv_codec;      /* kind KV_CODEC */
    } ops;

    void                        *reserved[8];
};

#endif /* LMD_MODULE_H */
