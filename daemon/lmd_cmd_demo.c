/*
 * lmd_cmd_demo.c -- `lmd demo-model DIR [--seed S]`: writes the demo
 * model that `make` builds into models/demo and the default lmd.yaml
 * serves, so that a fresh checkout answers requests with no download.
 *
 * It is a real Hugging Face folder that any Llama loader reads: a tiny
 * LlamaForCausalLM (hidden 128, 4 layers, 4 heads, 2 KV heads,
 * intermediate 352, context 2048) with seeded random f32 weights, a
 * byte-level BPE tokenizer (the 256 GPT-2 byte characters, 61 merges of
 * common English pairs, and <|endoftext|>, <|im_start|>, <|im_end|>), a
 * ChatML chat template, and config.json marked "lmd_demo": true so that
 * the daemon labels it.  The weights are untrained: it talks gibberish.
 *
 * Random, but shaped so that the gibberish is printable: every printable
 * token's embedding and output row share one direction u, which the
 * residual stream then carries, so the printable tokens (and <|im_end|>,
 * which ends answers now and then) outrank control bytes and stray UTF-8
 * bytes by several logits.  The output rows are untied from the
 * embeddings so that the next token depends on the context, not on
 * repeating the last one.
 *
 * The files go to a temporary folder next to DIR, which then replaces
 * DIR (an older demo model, or an empty folder; anything else is left
 * alone).  The same seed writes the same bytes.
 */

#include "lmd_core.h"
#include "lmd_cmd.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "lmd_chat_template.h"
#include "lmd_safetensors.h"

#define LMD_DEMO_HIDDEN        128
#define LMD_DEMO_LAYERS        4
#define LMD_DEMO_HEADS         4
#define LMD_DEMO_KV_HEADS      2
#define LMD_DEMO_HEAD_DIM      (LMD_DEMO_HIDDEN / LMD_DEMO_HEADS)
#define LMD_DEMO_FFN           352
#define LMD_DEMO_CONTEXT       2048
#define LMD_DEMO_BYTES         256
#define LMD_DEMO_MERGES        61
#define LMD_DEMO_ENDOFTEXT     (LMD_DEMO_BYTES + LMD_DEMO_MERGES)
#define LMD_DEMO_IM_START      (LMD_DEMO_ENDOFTEXT + 1)
#define LMD_DEMO_IM_END        (LMD_DEMO_ENDOFTEXT + 2)
#define LMD_DEMO_VOCAB         (LMD_DEMO_ENDOFTEXT + 3)     /* 320 */

/* The weights' shape (see the file's top): */
#define LMD_DEMO_EMBED_NOISE   0.09f    /* uniform amplitude: norm ~1 */
#define LMD_DEMO_OUT_NOISE     0.09f
#define LMD_DEMO_RESIDUAL      0.05f    /* o_proj, down_proj scale */

#define LMD_DEMO_N_TENSORS     (3 + 9 * LMD_DEMO_LAYERS)

/* The merges, in rank order, as pairs of plain strings (a space is the
 * byte-level "Ġ"). */
static const char *const  lmd_demo_merges[LMD_DEMO_MERGES][2] = {
    { " ", "t" }, { "h", "e" }, { " ", "a" }, { "i", "n" },
    { " t", "he" }, { "e", "r" }, { "o", "n" }, { " ", "s" },
    { " ", "w" }, { " ", "o" }, { "r", "e" }, { "a", "t" },
    { "e", "n" }, { "n", "d" }, { " ", "b" }, { "o", "u" },
    { "i", "s" }, { " ", "c" }, { "i", "t" }, { "e", "s" },
    { "in", "g" }, { " ", "f" }, { " ", "m" }, { "a", "n" },
    { " ", "h" }, { "o", "r" }, { " ", "d" }, { " ", "p" },
    { "e", "d" }, { "a", "r" }, { " ", "l" }, { "l", "l" },
    { " a", "nd" }, { " ", "i" }, { "o", "m" }, { "l", "e" },
    { " o", "f" }, { " ", "n" }, { " t", "o" }, { " ", "e" },
    { "a", "l" }, { "i", "c" }, { " ", "g" }, { " ", "y" },
    { " ", "r" }, { "o", "w" }, { " i", "n" }, { " ", "I" },
    { "a", "s" }, { " w", "h" }, { " ", "T" }, { "l", "y" },
    { " ", "u" }, { " ", "is" }, { " t", "h" }, { "o", "t" },
    { "v", "e" }, { " ", "it" }, { " ", "A" }, { "c", "h" },
    { " ", "S" }
};

static const char *const  lmd_demo_specials[3] = {
    "<|endoftext|>", "<|im_start|>", "<|im_end|>"
};

static const char  lmd_demo_readme[] =
    "# lmd demo model\n"
    "\n"
    "A random demo model written by `lmd demo-model` (`make` builds it\n"
    "here, and the default `conf/lmd.yaml` serves it), so that a fresh\n"
    "lmd answers requests without downloading anything.\n"
    "\n"
    "**Its weights are random and untrained: its output is gibberish.**\n"
    "It exists to show the daemon, the API, the web page and `lmd chat`\n"
    "working end to end, not to say anything.\n"
    "\n"
    "It is a genuine Hugging Face folder: a LlamaForCausalLM with\n"
    "hidden size 128, 4 layers, 4 attention heads, 2 KV heads,\n"
    "intermediate size 352 and a 2048-token context (about 0.8 M f32\n"
    "parameters), a byte-level BPE tokenizer (256 byte tokens, 61\n"
    "merges, `<|endoftext|>`, `<|im_start|>`, `<|im_end|>`) and a ChatML\n"
    "chat template.  `config.json` carries `\"lmd_demo\": true`, so lmd\n"
    "labels it as a demo in `/v1/models` and in its log.\n"
    "\n"
    "To serve a real model, point a `models:` entry of `conf/lmd.yaml` at\n"
    "a Hugging Face folder (see README.md at the top of the lmd tree).\n"
    "`lmd demo-model DIR --seed S` writes another one; the same seed\n"
    "gives the same files.\n";


/* ---------------------------------------------------------------- random */

/* splitmix64: one stream per tensor, so that each tensor depends only on
 * the seed and its index. */
struct lmd_demo_rng {
    uint64_t    x;
};


static float
lmd_demo_uniform(struct lmd_demo_rng *r)
{
    uint64_t  z;

    r->x += 0x9e3779b97f4a7c15ull;
    z = r->x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float) ((double) (z >> 40) / (double) (1u << 24)) * 2.0f
           - 1.0f;                                  /* [-1, 1) */
}


static void
lmd_demo_rng_init(struct lmd_demo_rng *r, uint64_t seed, uint64_t stream)
{
    r->x = seed * 0xd1342543de82ef95ull + stream * 0x9e3779b97f4a7c15ull
           + 1;
}


/* ------------------------------------------------------------- tokenizer */

/* GPT-2's byte-level alphabet: the printable Latin-1 bytes stand for
 * themselves, the other 68 bytes for U+0100 onwards.  ids[b] is byte b's
 * token id (the printable ones first, as GPT-2 numbers them), cps[b] its
 * character. */
static void
lmd_demo_bytes(int *ids, uint32_t *cps)
{
    int  b, id = 0, extra = 0;

    for (b = 0; b < 256; b++) {
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) {
            ids[b] = id++;
            cps[b] = (uint32_t) b;
        }
    }
    for (b = 0; b < 256; b++) {
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174))
        {
            ids[b] = id++;
            cps[b] = 256 + (uint32_t) extra++;
        }
    }
}


/* The byte-level spelling of plain bytes s into out (UTF-8). */
static void
lmd_demo_spell(const uint32_t *cps, const char *s, char *out, size_t len)
{
    size_t    n = 0;
    uint32_t  c;

    for (; *s != '\0' && n + 3 < len; s++) {
        c = cps[(unsigned char) *s];
        if (c < 0x80) {
            out[n++] = (char) c;
        } else {
            out[n++] = (char) (0xc0 | (c >> 6));
            out[n++] = (char) (0x80 | (c & 0x3f));
        }
    }
    out[n] = '\0';
}


static cJSON *
lmd_demo_added_token(int id, const char *content, int with_id)
{
    cJSON  *t;

    t = cJSON_CreateObject();
    if (with_id) {
        cJSON_AddNumberToObject(t, "id", id);
    }
    cJSON_AddStringToObject(t, "content", content);
    cJSON_AddBoolToObject(t, "single_word", 0);
    cJSON_AddBoolToObject(t, "lstrip", 0);
    cJSON_AddBoolToObject(t, "rstrip", 0);
    cJSON_AddBoolToObject(t, "normalized", 0);
    cJSON_AddBoolToObject(t, "special", 1);
    return t;
}


static cJSON *
lmd_demo_byte_level(void)
{
    cJSON  *bl;

    bl = cJSON_CreateObject();
    cJSON_AddStringToObject(bl, "type", "ByteLevel");
    cJSON_AddBoolToObject(bl, "add_prefix_space", 0);
    cJSON_AddBoolToObject(bl, "trim_offsets", 0);
    cJSON_AddBoolToObject(bl, "use_regex", 1);
    return bl;
}


static cJSON *
lmd_demo_tokenizer_json(void)
{
    cJSON     *root, *added, *model, *vocab, *merges;
    char       a[16], b[16], ab[48], pair[48], piece[8];
    uint32_t   cps[256];
    int        ids[256], byte_of[256], i, k;

    lmd_demo_bytes(ids, cps);
    for (i = 0; i < 256; i++) {
        byte_of[ids[i]] = i;
    }

    root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    added = cJSON_AddArrayToObject(root, "added_tokens");
    for (k = 0; k < 3; k++) {
        cJSON_AddItemToArray(added,
            lmd_demo_added_token(LMD_DEMO_ENDOFTEXT + k,
                                 lmd_demo_specials[k], 1));
    }
    cJSON_AddNullToObject(root, "normalizer");
    cJSON_AddItemToObject(root, "pre_tokenizer", lmd_demo_byte_level());
    cJSON_AddItemToObject(root, "post_processor", lmd_demo_byte_level());
    cJSON_AddItemToObject(root, "decoder", lmd_demo_byte_level());

    model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", 0);
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON_AddBoolToObject(model, "ignore_merges", 0);
    vocab = cJSON_AddObjectToObject(model, "vocab");
    for (i = 0; i < 256; i++) {
        piece[0] = (char) byte_of[i];
        piece[1] = '\0';
        lmd_demo_spell(cps, piece, ab, sizeof(ab));
        cJSON_AddNumberToObject(vocab, ab, i);
    }
    merges = cJSON_AddArrayToObject(model, "merges");
    for (k = 0; k < LMD_DEMO_MERGES; k++) {
        lmd_demo_spell(cps, lmd_demo_merges[k][0], a, sizeof(a));
        lmd_demo_spell(cps, lmd_demo_merges[k][1], b, sizeof(b));
        snprintf(pair, sizeof(pair), "%s %s", a, b);
        snprintf(ab, sizeof(ab), "%s%s", a, b);
        cJSON_AddNumberToObject(vocab, ab, LMD_DEMO_BYTES + k);
        cJSON_AddItemToArray(merges, cJSON_CreateString(pair));
    }
    return root;
}


static cJSON *
lmd_demo_tokenizer_config(void)
{
    cJSON  *root, *dec;
    char    id[16];
    int     k;

    root = cJSON_CreateObject();
    cJSON_AddBoolToObject(root, "add_bos_token", 0);
    cJSON_AddBoolToObject(root, "add_eos_token", 0);
    cJSON_AddBoolToObject(root, "add_prefix_space", 0);
    dec = cJSON_AddObjectToObject(root, "added_tokens_decoder");
    for (k = 0; k < 3; k++) {
        snprintf(id, sizeof(id), "%d", LMD_DEMO_ENDOFTEXT + k);
        cJSON_AddItemToObject(dec, id,
            lmd_demo_added_token(0, lmd_demo_specials[k], 0));
    }
    cJSON_AddNullToObject(root, "bos_token");
    cJSON_AddStringToObject(root, "eos_token", "<|im_end|>");
    cJSON_AddStringToObject(root, "pad_token", "<|endoftext|>");
    cJSON_AddNullToObject(root, "unk_token");
    cJSON_AddStringToObject(root, "chat_template", lmd_chat_template_default);
    cJSON_AddBoolToObject(root, "clean_up_tokenization_spaces", 0);
    cJSON_AddNumberToObject(root, "model_max_length", LMD_DEMO_CONTEXT);
    cJSON_AddStringToObject(root, "tokenizer_class",
                            "PreTrainedTokenizerFast");
    return root;
}


/* ----------------------------------------------------------- the configs */

static cJSON *
lmd_demo_config(uint64_t seed)
{
    static const char  *arch[1] = { "LlamaForCausalLM" };
    cJSON              *root;
    char                comment[256];

    snprintf(comment, sizeof(comment), "lmd's random demo model (lmd "
             "demo-model, seed %llu): untrained weights, gibberish output",
             (unsigned long long) seed);
    root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "_comment", comment);
    cJSON_AddBoolToObject(root, "lmd_demo", 1);
    cJSON_AddItemToObject(root, "architectures",
                          cJSON_CreateStringArray(arch, 1));
    cJSON_AddStringToObject(root, "model_type", "llama");
    cJSON_AddNumberToObject(root, "hidden_size", LMD_DEMO_HIDDEN);
    cJSON_AddNumberToObject(root, "intermediate_size", LMD_DEMO_FFN);
    cJSON_AddNumberToObject(root, "num_hidden_layers", LMD_DEMO_LAYERS);
    cJSON_AddNumberToObject(root, "num_attention_heads", LMD_DEMO_HEADS);
    cJSON_AddNumberToObject(root, "num_key_value_heads", LMD_DEMO_KV_HEADS);
    cJSON_AddNumberToObject(root, "head_dim", LMD_DEMO_HEAD_DIM);
    cJSON_AddNumberToObject(root, "vocab_size", LMD_DEMO_VOCAB);
    cJSON_AddNumberToObject(root, "max_position_embeddings",
                            LMD_DEMO_CONTEXT);
    cJSON_AddStringToObject(root, "hidden_act", "silu");
    cJSON_AddNumberToObject(root, "rms_norm_eps", 1e-5);
    cJSON_AddNumberToObject(root, "rope_theta", 10000.0);
    cJSON_AddNullToObject(root, "rope_scaling");
    cJSON_AddBoolToObject(root, "attention_bias", 0);
    cJSON_AddBoolToObject(root, "mlp_bias", 0);
    cJSON_AddBoolToObject(root, "tie_word_embeddings", 0);
    cJSON_AddNumberToObject(root, "bos_token_id", LMD_DEMO_ENDOFTEXT);
    cJSON_AddNumberToObject(root, "eos_token_id", LMD_DEMO_IM_END);
    cJSON_AddStringToObject(root, "torch_dtype", "float32");
    return root;
}


static cJSON *
lmd_demo_generation_config(void)
{
    cJSON  *root;
    int     eos[2] = { LMD_DEMO_IM_END, LMD_DEMO_ENDOFTEXT };

    root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "bos_token_id", LMD_DEMO_ENDOFTEXT);
    cJSON_AddItemToObject(root, "eos_token_id", cJSON_CreateIntArray(eos, 2));
    cJSON_AddBoolToObject(root, "do_sample", 1);
    cJSON_AddNumberToObject(root, "temperature", 0.8);
    cJSON_AddNumberToObject(root, "top_p", 0.95);
    return root;
}


/* ---------------------------------------------------------------- weights */

/* 1 for the tokens the gibberish is made of: printable ASCII, the
 * merges, a bit less for the newline, a bit more for <|im_end|>. */
static float
lmd_demo_printable(int id, const int *byte_of)
{
    int  b;

    if (id < LMD_DEMO_BYTES) {
        b = byte_of[id];
        return b == '\n' ? 0.9f : (b >= 0x20 && b < 0x7f) ? 1.0f : 0.0f;
    }
    if (id < LMD_DEMO_ENDOFTEXT) {
        return 1.0f;
    }
    return id == LMD_DEMO_IM_END ? 1.0f : 0.0f;
}


/* A [rows][cols] matrix uniform with variance scale^2 / cols. */
static void
lmd_demo_matrix(float *w, size_t rows, size_t cols, float scale,
    struct lmd_demo_rng *r)
{
    size_t  i;
    float   a = scale * sqrtf(3.0f / (float) cols);

    for (i = 0; i < rows * cols; i++) {
        w[i] = a * lmd_demo_uniform(r);
    }
}


static void
lmd_demo_vocab_rows(float *w, const float *u, float noise, const int *byte_of,
    struct lmd_demo_rng *r)
{
    size_t  v, j;
    float   c;

    for (v = 0; v < LMD_DEMO_VOCAB; v++) {
        c = lmd_demo_printable((int) v, byte_of);
        for (j = 0; j < LMD_DEMO_HIDDEN; j++) {
            w[v * LMD_DEMO_HIDDEN + j] = c * u[j]
                                         + noise * lmd_demo_uniform(r);
        }
    }
}


static void
lmd_demo_tensor(struct lmd_tensor *t, char *name, size_t namelen,
    const char *fmt, int layer, int64_t rows, int64_t cols, float *data)
{
    snprintf(name, namelen, fmt, layer);
    t->name = name;
    t->dtype = LMD_DTYPE_F32;
    t->n_dims = cols > 0 ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->data = data;
}


static int
lmd_demo_weights(const char *path, uint64_t seed, char *err, size_t errlen)
{
    static const struct {
        const char  *fmt;
        int          rows, cols;        /* cols 0: a vector */
        float        scale;             /* 0: ones (a norm) */
    } layer[9] = {
        { "model.layers.%d.input_layernorm.weight", LMD_DEMO_HIDDEN, 0, 0 },
        { "model.layers.%d.self_attn.q_proj.weight",
          LMD_DEMO_HEADS * LMD_DEMO_HEAD_DIM, LMD_DEMO_HIDDEN, 1 },
        { "model.layers.%d.self_attn.k_proj.weight",
          LMD_DEMO_KV_HEADS * LMD_DEMO_HEAD_DIM, LMD_DEMO_HIDDEN, 1 },
        { "model.layers.%d.self_attn.v_proj.weight",
          LMD_DEMO_KV_HEADS * LMD_DEMO_HEAD_DIM, LMD_DEMO_HIDDEN, 1 },
        { "model.layers.%d.self_attn.o_proj.weight", LMD_DEMO_HIDDEN,
          LMD_DEMO_HEADS * LMD_DEMO_HEAD_DIM, LMD_DEMO_RESIDUAL },
        { "model.layers.%d.post_attention_layernorm.weight",
          LMD_DEMO_HIDDEN, 0, 0 },
        { "model.layers.%d.mlp.gate_proj.weight", LMD_DEMO_FFN,
          LMD_DEMO_HIDDEN, 1 },
        { "model.layers.%d.mlp.up_proj.weight", LMD_DEMO_FFN,
          LMD_DEMO_HIDDEN, 1 },
        { "model.layers.%d.mlp.down_proj.weight", LMD_DEMO_HIDDEN,
          LMD_DEMO_FFN, LMD_DEMO_RESIDUAL },
    };
    struct lmd_tensor    t[LMD_DEMO_N_TENSORS];
    struct lmd_demo_rng  r;
    char                 names[LMD_DEMO_N_TENSORS][64];
    float               *data[LMD_DEMO_N_TENSORS], u[LMD_DEMO_HIDDEN], n2;
    uint32_t             cps[256];
    int                  ids[256], byte_of[256], i, l, k, rc = LMD_ERROR;
    size_t               rows, cols, j;

    memset(t, 0, sizeof(t));
    memset(data, 0, sizeof(data));
    lmd_demo_bytes(ids, cps);
    for (i = 0; i < 256; i++) {
        byte_of[ids[i]] = i;
    }

    /* the printable direction: a random unit vector */
    lmd_demo_rng_init(&r, seed, 0);
    n2 = 0;
    for (j = 0; j < LMD_DEMO_HIDDEN; j++) {
        u[j] = lmd_demo_uniform(&r);
        n2 += u[j] * u[j];
    }
    for (j = 0; j < LMD_DEMO_HIDDEN; j++) {
        u[j] /= sqrtf(n2);
    }

    data[0] = malloc(LMD_DEMO_VOCAB * LMD_DEMO_HIDDEN * sizeof(float));
    data[1] = malloc(LMD_DEMO_VOCAB * LMD_DEMO_HIDDEN * sizeof(float));
    data[2] = malloc(LMD_DEMO_HIDDEN * sizeof(float));
    if (data[0] == NULL || data[1] == NULL || data[2] == NULL) {
        goto nomem;
    }
    lmd_demo_rng_init(&r, seed, 1);
    lmd_demo_vocab_rows(data[0], u, LMD_DEMO_EMBED_NOISE, byte_of, &r);
    lmd_demo_tensor(&t[0], names[0], sizeof(names[0]),
                    "model.embed_tokens.weight", 0, LMD_DEMO_VOCAB,
                    LMD_DEMO_HIDDEN, data[0]);
    lmd_demo_rng_init(&r, seed, 2);
    lmd_demo_vocab_rows(data[1], u, LMD_DEMO_OUT_NOISE, byte_of, &r);
    lmd_demo_tensor(&t[1], names[1], sizeof(names[1]), "lm_head.weight", 0,
                    LMD_DEMO_VOCAB, LMD_DEMO_HIDDEN, data[1]);
    for (j = 0; j < LMD_DEMO_HIDDEN; j++) {
        data[2][j] = 1.0f;
    }
    lmd_demo_tensor(&t[2], names[2], sizeof(names[2]), "model.norm.weight",
                    0, LMD_DEMO_HIDDEN, 0, data[2]);

    for (l = 0; l < LMD_DEMO_LAYERS; l++) {
        for (k = 0; k < 9; k++) {
            i = 3 + l * 9 + k;
            rows = (size_t) layer[k].rows;
            cols = layer[k].cols ? (size_t) layer[k].cols : 1;
            data[i] = malloc(rows * cols * sizeof(float));
            if (data[i] == NULL) {
                goto nomem;
            }
            if (layer[k].scale == 0) {
                for (j = 0; j < rows; j++) {
                    data[i][j] = 1.0f;
                }
            } else {
                lmd_demo_rng_init(&r, seed, (uint64_t) i + 1);
                lmd_demo_matrix(data[i], rows, cols, layer[k].scale, &r);
            }
            lmd_demo_tensor(&t[i], names[i], sizeof(names[i]),
                            layer[k].fmt, l, layer[k].rows, layer[k].cols,
                            data[i]);
        }
    }

    rc = lmd_safetensors_write(path, t, LMD_DEMO_N_TENSORS, err, errlen);
    goto done;

nomem:
    snprintf(err, errlen, "out of memory");

done:
    for (i = 0; i < LMD_DEMO_N_TENSORS; i++) {
        free(data[i]);
    }
    return rc;
}


/* ------------------------------------------------------------------ files */

/* "PATH: WHAT: strerror(errno)" (what may be ""). */
static void
lmd_demo_syserr(char *err, size_t errlen, const char *path,
    const char *what)
{
    int  n = (int) lmd_min(strlen(path), 300);

    snprintf(err, errlen, "%.*s: %s%s", n, path, what, strerror(errno));
}


static int
lmd_demo_write_file(const char *dir, const char *name, const char *text,
    char *err, size_t errlen)
{
    char    path[PATH_MAX];
    FILE   *f;
    size_t  len = strlen(text);

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f == NULL) {
        lmd_demo_syserr(err, errlen, path, "");
        return LMD_ERROR;
    }
    if (fwrite(text, 1, len, f) != len) {
        lmd_demo_syserr(err, errlen, path, "writing: ");
        fclose(f);
        return LMD_ERROR;
    }
    if (fclose(f) != 0) {
        lmd_demo_syserr(err, errlen, path, "writing: ");
        return LMD_ERROR;
    }
    return LMD_OK;
}


/* Writes json (and frees it) as indented text with a final newline, in
 * the look of Hugging Face's files: cJSON indents with tabs and puts one
 * after each colon; two spaces and one space instead (a tab inside a
 * string is always escaped, so every raw tab is layout). */
static int
lmd_demo_write_json(const char *dir, const char *name, cJSON *json,
    char *err, size_t errlen)
{
    char    *text, *full, *p, *q;
    size_t   len;
    int      rc;

    text = json != NULL ? cJSON_Print(json) : NULL;
    cJSON_Delete(json);
    if (text == NULL) {
        snprintf(err, errlen, "%s: out of memory", name);
        return LMD_ERROR;
    }
    len = strlen(text);
    full = malloc(2 * len + 2);
    if (full == NULL) {
        cJSON_free(text);
        snprintf(err, errlen, "%s: out of memory", name);
        return LMD_ERROR;
    }
    for (p = text, q = full; *p != '\0'; p++) {
        if (*p != '\t') {
            *q++ = *p;
        } else if (p > text && p[-1] == ':') {
            *q++ = ' ';
        } else {
            *q++ = ' ';
            *q++ = ' ';
        }
    }
    *q++ = '\n';
    *q = '\0';
    cJSON_free(text);
    rc = lmd_demo_write_file(dir, name, full, err, errlen);
    free(full);
    return rc;
}


/* Removes a flat folder and the files in it. */
static void
lmd_demo_remove(const char *dir)
{
    struct dirent  *de;
    char            path[PATH_MAX];
    DIR            *d;

    d = opendir(dir);
    if (d != NULL) {
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0
                || strcmp(de->d_name, "..") == 0)
            {
                continue;
            }
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}


/* 1 when dir may be replaced: an empty folder or an earlier demo model. */
static int
lmd_demo_replaceable(const char *dir)
{
    struct dirent  *de;
    cJSON          *json, *flag;
    char            path[PATH_MAX], buf[8192];
    size_t          n;
    FILE           *f;
    DIR            *d;
    int             empty = 1;

    d = opendir(dir);
    if (d == NULL) {
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            empty = 0;
            break;
        }
    }
    closedir(d);
    if (empty) {
        return 1;
    }

    snprintf(path, sizeof(path), "%s/config.json", dir);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    json = cJSON_Parse(buf);
    flag = cJSON_GetObjectItemCaseSensitive(json, "lmd_demo");
    empty = cJSON_IsTrue(flag);
    cJSON_Delete(json);
    return empty;
}


/* mkdir -p of dir's parent. */
static int
lmd_demo_mkparents(const char *dir, char *err, size_t errlen)
{
    char    path[PATH_MAX];
    size_t  i;

    snprintf(path, sizeof(path), "%s", dir);
    for (i = 1; path[i] != '\0'; i++) {
        if (path[i] != '/') {
            continue;
        }
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            lmd_demo_syserr(err, errlen, path, "");
            return LMD_ERROR;
        }
        path[i] = '/';
    }
    return LMD_OK;
}


static int
lmd_demo_write(const char *dir, uint64_t seed, char *err, size_t errlen)
{
    struct stat  st;
    char         tmp[PATH_MAX], old[PATH_MAX], path[PATH_MAX];
    size_t       len;
    int          exists;

    len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') {
        len--;
    }
    if (len + 16 >= sizeof(tmp)) {
        snprintf(err, errlen, "%s: path too long", dir);
        return LMD_ERROR;
    }

    exists = stat(dir, &st) == 0;
    if (exists && (!S_ISDIR(st.st_mode) || !lmd_demo_replaceable(dir))) {
        snprintf(err, errlen, "%s exists and is not an lmd demo model: "
                 "remove it first, or choose another folder", dir);
        return LMD_ERROR;
    }
    if (lmd_demo_mkparents(dir, err, errlen) != LMD_OK) {
        return LMD_ERROR;
    }

    snprintf(tmp, sizeof(tmp), "%.*s.tmp.XXXXXX", (int) len, dir);
    if (mkdtemp(tmp) == NULL) {
        lmd_demo_syserr(err, errlen, tmp, "");
        return LMD_ERROR;
    }
    chmod(tmp, 0755);

    if (snprintf(path, sizeof(path), "%s/model.safetensors", tmp)
        >= (int) sizeof(path))
    {
        snprintf(err, errlen, "%.300s: path too long", tmp);
        goto failed;
    }
    if (lmd_demo_weights(path, seed, err, errlen) != LMD_OK
        || lmd_demo_write_json(tmp, "config.json", lmd_demo_config(seed),
                               err, errlen) != LMD_OK
        || lmd_demo_write_json(tmp, "generation_config.json",
                               lmd_demo_generation_config(), err, errlen)
           != LMD_OK
        || lmd_demo_write_json(tmp, "tokenizer.json",
                               lmd_demo_tokenizer_json(), err, errlen)
           != LMD_OK
        || lmd_demo_write_json(tmp, "tokenizer_config.json",
                               lmd_demo_tokenizer_config(), err, errlen)
           != LMD_OK
        || lmd_demo_write_file(tmp, "README.md", lmd_demo_readme, err,
                               errlen) != LMD_OK)
    {
        goto failed;
    }

    /* swap: the old one aside, the new one in, the old one away */
    if (exists) {
        snprintf(old, sizeof(old), "%.*s.old.XXXXXX", (int) len, dir);
        if (mkdtemp(old) == NULL) {
            lmd_demo_syserr(err, errlen, old, "");
            goto failed;
        }
        if (rename(dir, old) != 0) {     /* an empty dir old is replaced */
            lmd_demo_syserr(err, errlen, dir, "cannot move it aside: ");
            rmdir(old);
            goto failed;
        }
    }
    if (rename(tmp, dir) != 0) {
        lmd_demo_syserr(err, errlen, dir, "");
        if (exists) {
            rename(old, dir);
        }
        goto failed;
    }
    if (exists) {
        lmd_demo_remove(old);
    }
    return LMD_OK;

failed:
    lmd_demo_remove(tmp);
    return LMD_ERROR;
}


int
lmd_cmd_demo(int argc, char **argv)
{
    const char  *dir = NULL;
    uint64_t     seed = 0;
    char        *end, err[LMD_ERR_LEN];
    int          i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("Usage: lmd demo-model DIR [--seed S]\n"
                   "\n"
                   "Writes lmd's random demo model into DIR (a tiny Llama "
                   "with a byte-level\n"
                   "tokenizer and a ChatML template; untrained weights, "
                   "gibberish output).\n"
                   "DIR is replaced if it holds an earlier demo model.  "
                   "The same seed\n"
                   "(default 0) writes the same files.\n");
            return 0;
        }
        if (strcmp(argv[i], "--seed") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "lmd demo-model: --seed needs a value\n");
                return 2;
            }
            i++;
            errno = 0;
            seed = strtoull(argv[i], &end, 10);
            if (end == argv[i] || *end != '\0' || errno != 0
                || argv[i][0] == '-')
            {
                fprintf(stderr, "lmd demo-model: --seed: expected an "
                        "integer from 0 to %llu, not \"%s\"\n",
                        (unsigned long long) UINT64_MAX, argv[i]);
                return 1;
            }
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "lmd demo-model: unknown option \"%s\"\n",
                    argv[i]);
            return 2;
        } else if (dir == NULL) {
            dir = argv[i];
        } else {
            fprintf(stderr, "lmd demo-model: unexpected argument \"%s\"\n",
                    argv[i]);
            return 2;
        }
    }
    if (dir == NULL) {
        fprintf(stderr, "lmd demo-model: no folder given (usage: lmd "
                "demo-model DIR [--seed S])\n");
        return 2;
    }

    err[0] = '\0';
    if (lmd_demo_write(dir, seed, err, sizeof(err)) != LMD_OK) {
        fprintf(stderr, "lmd demo-model: %s\n", err);
        return 1;
    }
    return 0;
}
