/*
 * lmd_model_config.c -- reads a model folder's config.json and
 * generation_config.json into struct lmd_model_config, and computes the
 * RoPE frequencies the config asks for.
 *
 * Keys and defaults follow transformers' LlamaConfig, MistralConfig,
 * Qwen2Config and InternLM2's own InternLM2Config: a key that is absent or
 * null takes the class default (tie_word_embeddings is false for all
 * four, InternLM2's "bias" is true), and a key of the wrong JSON type is
 * an error naming the file and the key.  Newer transformers writes
 * "dtype" for "torch_dtype" and may put rope_theta and the scaling into
 * one "rope_parameters" object; both spellings are read.
 *
 * The frequencies are transformers' inv_freq (modeling_rope_utils.py),
 * computed in double and stored as float.
 */

#include "lmd_file.h"
#include "lmd_model_config.h"
#include "lmd_common.h"
#include "lmd_dtype.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

/* A config.json is a few kilobytes; this bounds what is read. */
#define LMD_CFG_MAX_FILE    (16u << 20)
/* Sizes beyond these are typos, and would overflow products later. */
#define LMD_CFG_MAX_SIZE    (1u << 24)
#define LMD_CFG_MAX_VOCAB   (1u << 24)

#define LMD_CFG_SUPPORTED   "LlamaForCausalLM, MistralForCausalLM, " \
                            "Qwen2ForCausalLM, InternLM2ForCausalLM"


static void
lmd_cfg_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
lmd_cfg_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}


/* ------------------------------------------------------------------------
 * JSON helpers
 * ------------------------------------------------------------------------ */

/* Parses path into *root.  A missing optional file gives LMD_OK with
 * *root NULL. */
static int
lmd_cfg_read(const char *path, int optional, cJSON **root, char *err,
    size_t errlen)
{
    const char   *end;
    size_t        len;
    char         *buf;

    *root = NULL;
    buf = lmd_file_read(path, LMD_CFG_MAX_FILE, &len, err, errlen);
    if (buf == NULL) {
        return (optional && errno == ENOENT) ? LMD_OK : LMD_ERROR;
    }

    end = NULL;
    *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (*root == NULL) {
        lmd_cfg_err(err, errlen, "%s: invalid JSON near byte %zu", path,
                    end != NULL ? (size_t) (end - buf) : 0);
        free(buf);
        return LMD_ERROR;
    }
    free(buf);
    if (!cJSON_IsObject(*root)) {
        lmd_cfg_err(err, errlen, "%s: not a JSON object", path);
        cJSON_Delete(*root);
        *root = NULL;
        return LMD_ERROR;
    }
    return LMD_OK;
}


/* obj[key], or NULL when absent or null. */
static const cJSON *
lmd_cfg_get(const cJSON *obj, const char *key)
{
    const cJSON  *v;

    v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return v == NULL || cJSON_IsNull(v) ? NULL : v;
}


/* A whole number in [lo, hi]. */
static int
lmd_cfg_is_int(const cJSON *v, double lo, double hi)
{
    return cJSON_IsNumber(v) && v->valuedouble >= lo
           && v->valuedouble <= hi
           && v->valuedouble == floor(v->valuedouble);
}


/* obj[key] as a positive size; def when absent (0: required). */
static int
lmd_cfg_size(const char *path, const cJSON *obj, const char *key,
    uint32_t def, uint32_t max, uint32_t *out, char *err, size_t errlen)
{
    const cJSON  *v;

    v = lmd_cfg_get(obj, key);
    if (v == NULL) {
        if (def == 0) {
            lmd_cfg_err(err, errlen, "%s: \"%s\" is missing", path, key);
            return LMD_ERROR;
        }
        *out = def;
        return LMD_OK;
    }
    if (!lmd_cfg_is_int(v, 1, max)) {
        lmd_cfg_err(err, errlen, "%s: \"%s\" must be an integer from 1 to "
                    "%u", path, key, max);
        return LMD_ERROR;
    }
    *out = (uint32_t) v->valuedouble;
    return LMD_OK;
}


/* obj[key] as a number greater than zero; def when absent. */
static int
lmd_cfg_positive(const char *path, const cJSON *obj, const char *key,
    double def, double *out, char *err, size_t errlen)
{
    const cJSON  *v;

    v = lmd_cfg_get(obj, key);
    if (v == NULL) {
        if (def <= 0) {
            lmd_cfg_err(err, errlen, "%s: \"%s\" is missing", path, key);
            return LMD_ERROR;
        }
        *out = def;
        return LMD_OK;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0)
        || !isfinite(v->valuedouble))
    {
        lmd_cfg_err(err, errlen, "%s: \"%s\" must be a number greater than "
                    "0", path, key);
        return LMD_ERROR;
    }
    *out = v->valuedouble;
    return LMD_OK;
}


/* obj[key] as a flag; def when absent. */
static int
lmd_cfg_bool(const char *path, const cJSON *obj, const char *key, int def,
    int *out, char *err, size_t errlen)
{
    const cJSON  *v;

    v = lmd_cfg_get(obj, key);
    if (v == NULL) {
        *out = def;
        return LMD_OK;
    }
    if (!cJSON_IsBool(v)) {
        lmd_cfg_err(err, errlen, "%s: \"%s\" must be true or false", path,
                    key);
        return LMD_ERROR;
    }
    *out = cJSON_IsTrue(v);
    return LMD_OK;
}


/* ------------------------------------------------------------------------
 * Parts of config.json
 * ------------------------------------------------------------------------ */

static int
lmd_cfg_arch(const char *path, const cJSON *root, struct lmd_model_config *c,
    char *err, size_t errlen)
{
    static const struct {
        const char  *name;
        const char  *model_type;
        int          arch;
    } archs[] = {
        { "LlamaForCausalLM", "llama", LMD_ARCH_LLAMA },
        { "MistralForCausalLM", "mistral", LMD_ARCH_LLAMA },
        { "Qwen2ForCausalLM", "qwen2", LMD_ARCH_QWEN2 },
        { "InternLM2ForCausalLM", "internlm2", LMD_ARCH_INTERNLM2 },
    };
    const cJSON  *list, *first, *mt;
    const char   *name;
    size_t        i;

    list = lmd_cfg_get(root, "architectures");
    if (list != NULL) {
        first = cJSON_GetArrayItem(list, 0);
        if (!cJSON_IsArray(list) || !cJSON_IsString(first)) {
            lmd_cfg_err(err, errlen, "%s: \"architectures\" must be a list "
                        "of names", path);
            return LMD_ERROR;
        }
        name = first->valuestring;
        for (i = 0; i < sizeof(archs) / sizeof(archs[0]); i++) {
            if (strcmp(name, archs[i].name) == 0) {
                break;
            }
        }
    } else {
        /* Some hand-written configs carry only model_type. */
        mt = lmd_cfg_get(root, "model_type");
        if (!cJSON_IsString(mt)) {
            lmd_cfg_err(err, errlen, "%s: no \"architectures\" (nor "
                        "\"model_type\")", path);
            return LMD_ERROR;
        }
        name = mt->valuestring;
        for (i = 0; i < sizeof(archs) / sizeof(archs[0]); i++) {
            if (strcmp(name, archs[i].model_type) == 0) {
                break;
            }
        }
    }
    if (i == sizeof(archs) / sizeof(archs[0])) {
        lmd_cfg_err(err, errlen, "%s: architecture %s is not supported "
                    "(supported: %s)", path, name, LMD_CFG_SUPPORTED);
        return LMD_ERROR;
    }
    c->arch = archs[i].arch;
    snprintf(c->arch_name, sizeof(c->arch_name), "%s", archs[i].name);
    return LMD_OK;
}


static int
lmd_cfg_sizes(const char *path, const cJSON *root,
    struct lmd_model_config *c, char *err, size_t errlen)
{
    const cJSON  *v;

    if (lmd_cfg_size(path, root, "vocab_size", 0, LMD_CFG_MAX_VOCAB,
                     &c->vocab_size, err, errlen) != LMD_OK
        || lmd_cfg_size(path, root, "hidden_size", 0, LMD_CFG_MAX_SIZE,
                        &c->hidden_size, err, errlen) != LMD_OK
        || lmd_cfg_size(path, root, "intermediate_size", 0,
                        LMD_CFG_MAX_SIZE, &c->intermediate_size, err,
                        errlen) != LMD_OK
        || lmd_cfg_size(path, root, "num_hidden_layers", 0, 65536,
                        &c->n_layers, err, errlen) != LMD_OK
        || lmd_cfg_size(path, root, "num_attention_heads", 0, 65536,
                        &c->n_heads, err, errlen) != LMD_OK
        || lmd_cfg_size(path, root, "num_key_value_heads", c->n_heads,
                        65536, &c->n_kv_heads, err, errlen) != LMD_OK)
    {
        return LMD_ERROR;
    }

    /* transformers: head_dim if given (and not null), else hidden//heads. */
    v = lmd_cfg_get(root, "head_dim");
    if (v != NULL) {
        if (lmd_cfg_size(path, root, "head_dim", 0, LMD_CFG_MAX_SIZE,
                         &c->head_dim, err, errlen) != LMD_OK)
        {
            return LMD_ERROR;
        }
    } else {
        c->head_dim = c->hidden_size / c->n_heads;
    }

    if (c->n_heads % c->n_kv_heads != 0) {
        lmd_cfg_err(err, errlen, "%s: num_attention_heads %u is not a "
                    "multiple of num_key_value_heads %u", path, c->n_heads,
                    c->n_kv_heads);
        return LMD_ERROR;
    }
    if (c->head_dim == 0 || c->head_dim % 2 != 0) {
        lmd_cfg_err(err, errlen, "%s: head_dim %u must be even and above 0 "
                    "(hidden_size %u / num_attention_heads %u unless "
                    "given)", path, c->head_dim, c->hidden_size, c->n_heads);
        return LMD_ERROR;
    }
    if ((uint64_t) c->n_heads * c->head_dim > LMD_CFG_MAX_SIZE) {
        lmd_cfg_err(err, errlen, "%s: num_attention_heads x head_dim is too "
                    "large", path);
        return LMD_ERROR;
    }
    return LMD_OK;
}


static int
lmd_cfg_rope(const char *path, const cJSON *root, struct lmd_model_config *c,
    char *err, size_t errlen)
{
    const cJSON  *rs, *type, *params;
    const char   *key, *name;
    double        theta, factor, low, high;
    char          where[1024];

    /* Newer transformers: "rope_parameters": {"rope_type", "rope_theta",
     * ...} in place of rope_theta and rope_scaling. */
    params = lmd_cfg_get(root, "rope_parameters");
    if (params != NULL && !cJSON_IsObject(params)) {
        lmd_cfg_err(err, errlen, "%s: \"rope_parameters\" must be an "
                    "object", path);
        return LMD_ERROR;
    }
    if (lmd_cfg_get(root, "rope_theta") == NULL && params != NULL) {
        if (lmd_cfg_positive(path, params, "rope_theta", 10000.0, &theta,
                             err, errlen) != LMD_OK)
        {
            return LMD_ERROR;
        }
    } else if (lmd_cfg_positive(path, root, "rope_theta", 10000.0, &theta,
                                err, errlen) != LMD_OK)
    {
        return LMD_ERROR;
    }
    c->rope_theta = (float) theta;

    c->rope_scaling.type = LMD_ROPE_DEFAULT;
    c->rope_scaling.factor = 1.0f;
    c->rope_scaling.original_max_position = c->max_position;
    key = "rope_scaling";
    rs = lmd_cfg_get(root, key);
    if (rs == NULL && params != NULL) {
        key = "rope_parameters";
        rs = params;
    }
    if (rs == NULL) {
        return LMD_OK;
    }
    if (!cJSON_IsObject(rs)) {
        lmd_cfg_err(err, errlen, "%s: \"%s\" must be null or an object",
                    path, key);
        return LMD_ERROR;
    }
    type = lmd_cfg_get(rs, "rope_type");
    if (type == NULL) {
        type = lmd_cfg_get(rs, "type");
    }
    if (!cJSON_IsString(type)) {
        lmd_cfg_err(err, errlen, "%s: %s has no \"rope_type\" (or "
                    "\"type\") name", path, key);
        return LMD_ERROR;
    }
    name = type->valuestring;
    if (strcmp(name, "default") == 0) {
        return LMD_OK;
    }
    if (strcmp(name, "linear") == 0) {
        c->rope_scaling.type = LMD_ROPE_LINEAR;
    } else if (strcmp(name, "dynamic") == 0) {
        c->rope_scaling.type = LMD_ROPE_DYNAMIC;
    } else if (strcmp(name, "llama3") == 0) {
        c->rope_scaling.type = LMD_ROPE_LLAMA3;
    } else {
        lmd_cfg_err(err, errlen, "%s: %s type %s is not supported "
                    "(supported: default, linear, dynamic, llama3)", path,
                    key, name);
        return LMD_ERROR;
    }
    /* Messages about the object's keys say whose keys they are. */
    snprintf(where, sizeof(where), "%s: %s", path, key);
    if (lmd_cfg_positive(where, rs, "factor", 0, &factor, err, errlen)
        != LMD_OK)
    {
        return LMD_ERROR;
    }
    c->rope_scaling.factor = (float) factor;
    if (c->rope_scaling.type != LMD_ROPE_LLAMA3) {
        return LMD_OK;
    }

    if (lmd_cfg_positive(where, rs, "low_freq_factor", 0, &low, err,
                         errlen) != LMD_OK
        || lmd_cfg_positive(where, rs, "high_freq_factor", 0, &high, err,
                            errlen) != LMD_OK
        || lmd_cfg_size(where, rs, "original_max_position_embeddings", 0,
                        UINT32_MAX, &c->rope_scaling.original_max_position,
                        err, errlen) != LMD_OK)
    {
        return LMD_ERROR;
    }
    if (!(high > low)) {
        lmd_cfg_err(err, errlen, "%s: high_freq_factor %g must be above "
                    "low_freq_factor %g", where, high, low);
        return LMD_ERROR;
    }
    c->rope_scaling.low_freq_factor = (float) low;
    c->rope_scaling.high_freq_factor = (float) high;
    return LMD_OK;
}


static int
lmd_cfg_dtype(const char *path, const cJSON *root,
    struct lmd_model_config *c, char *err, size_t errlen)
{
    const cJSON  *v;
    const char   *key;

    key = "torch_dtype";
    v = lmd_cfg_get(root, key);
    if (v == NULL) {
        key = "dtype";
        v = lmd_cfg_get(root, key);
    }
    c->torch_dtype = LMD_DTYPE_F32;
    if (v == NULL) {
        return LMD_OK;
    }
    if (cJSON_IsString(v) && strcmp(v->valuestring, "float32") == 0) {
        return LMD_OK;
    }
    if (cJSON_IsString(v) && strcmp(v->valuestring, "float16") == 0) {
        c->torch_dtype = LMD_DTYPE_F16;
        return LMD_OK;
    }
    if (cJSON_IsString(v) && strcmp(v->valuestring, "bfloat16") == 0) {
        c->torch_dtype = LMD_DTYPE_BF16;
        return LMD_OK;
    }
    lmd_cfg_err(err, errlen, "%s: %s %s is not supported (float32, float16, "
                "bfloat16)", path, key,
                cJSON_IsString(v) ? v->valuestring : "(not a string)");
    return LMD_ERROR;
}


/* The sliding window: Mistral's whenever set, Qwen2's only when
 * use_sliding_window is true; 0 (none) otherwise.  Both config classes
 * default to 4096 when the key is absent; null means none. */
static int
lmd_cfg_window(const char *path, const cJSON *root,
    struct lmd_model_config *c, char *err, size_t errlen)
{
    const cJSON  *v;
    int           use;

    c->sliding_window = 0;
    if (strcmp(c->arch_name, "MistralForCausalLM") == 0) {
        use = 1;
    } else if (c->arch == LMD_ARCH_QWEN2) {
        if (lmd_cfg_bool(path, root, "use_sliding_window", 0, &use, err,
                         errlen) != LMD_OK)
        {
            return LMD_ERROR;
        }
    } else {
        use = 0;
    }
    if (!use) {
        return LMD_OK;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "sliding_window");
    if (v == NULL) {
        c->sliding_window = 4096;
        return LMD_OK;
    }
    if (cJSON_IsNull(v)) {
        return LMD_OK;
    }
    return lmd_cfg_size(path, root, "sliding_window", 0, UINT32_MAX,
                        &c->sliding_window, err, errlen);
}


/* Biases and ties by architecture. */
static int
lmd_cfg_flags(const char *path, const cJSON *root,
    struct lmd_model_config *c, char *err, size_t errlen)
{
    int  flag;

    if (lmd_cfg_bool(path, root, "tie_word_embeddings", 0,
                     &c->tie_word_embeddings, err, errlen) != LMD_OK)
    {
        return LMD_ERROR;
    }
    switch (c->arch) {
    case LMD_ARCH_QWEN2:
        c->qkv_bias = 1;
        break;
    case LMD_ARCH_INTERNLM2:
        /* InternLM2Config's default is bias=True. */
        if (lmd_cfg_bool(path, root, "bias", 1, &c->qkv_bias, err, errlen)
            != LMD_OK)
        {
            return LMD_ERROR;
        }
        break;
    default:
        /* Llama's attention_bias would add an o_proj bias too, and
         * mlp_bias three more: no checkpoint of these families has them
         * and the weights have no slot for them. */
        if (lmd_cfg_bool(path, root, "attention_bias", 0, &flag, err,
                         errlen) != LMD_OK)
        {
            return LMD_ERROR;
        }
        if (flag) {
            lmd_cfg_err(err, errlen, "%s: attention_bias true is not "
                        "supported", path);
            return LMD_ERROR;
        }
        if (lmd_cfg_bool(path, root, "mlp_bias", 0, &flag, err, errlen)
            != LMD_OK)
        {
            return LMD_ERROR;
        }
        if (flag) {
            lmd_cfg_err(err, errlen, "%s: mlp_bias true is not supported",
                        path);
            return LMD_ERROR;
        }
        c->qkv_bias = 0;
        break;
    }
    return lmd_cfg_bool(path, root, "lmd_demo", 0, &c->demo, err, errlen);
}


/* ------------------------------------------------------------------------
 * Token ids and generation defaults
 * ------------------------------------------------------------------------ */

static int
lmd_cfg_add_eos(const char *path, struct lmd_model_config *c,
    const cJSON *v, char *err, size_t errlen)
{
    int32_t  id;
    uint32_t i;

    if (!lmd_cfg_is_int(v, 0, INT32_MAX)) {
        lmd_cfg_err(err, errlen, "%s: \"eos_token_id\" must be a token id "
                    "or a list of them", path);
        return LMD_ERROR;
    }
    id = (int32_t) v->valuedouble;
    for (i = 0; i < c->n_eos; i++) {
        if (c->eos_ids[i] == id) {
            return LMD_OK;
        }
    }
    if (c->n_eos == LMD_MODEL_MAX_EOS) {
        lmd_cfg_err(err, errlen, "%s: more than %d distinct eos_token_id "
                    "values", path, LMD_MODEL_MAX_EOS);
        return LMD_ERROR;
    }
    c->eos_ids[c->n_eos++] = id;
    return LMD_OK;
}


/* bos_token_id (a later file's wins) and eos_token_id (merged). */
static int
lmd_cfg_ids(const char *path, const cJSON *root, struct lmd_model_config *c,
    char *err, size_t errlen)
{
    const cJSON  *v, *e;

    v = lmd_cfg_get(root, "bos_token_id");
    if (v != NULL) {
        if (!lmd_cfg_is_int(v, 0, INT32_MAX)) {
            lmd_cfg_err(err, errlen, "%s: \"bos_token_id\" must be a token "
                        "id", path);
            return LMD_ERROR;
        }
        c->bos_id = (int32_t) v->valuedouble;
    }
    v = lmd_cfg_get(root, "eos_token_id");
    if (v == NULL) {
        return LMD_OK;
    }
    if (!cJSON_IsArray(v)) {
        return lmd_cfg_add_eos(path, c, v, err, errlen);
    }
    cJSON_ArrayForEach(e, v) {
        if (lmd_cfg_add_eos(path, c, e, err, errlen) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


static int
lmd_cfg_generation(const char *path, const cJSON *root,
    struct lmd_model_config *c, char *err, size_t errlen)
{
    const cJSON  *v;

    if (lmd_cfg_ids(path, root, c, err, errlen) != LMD_OK) {
        return LMD_ERROR;
    }
    v = lmd_cfg_get(root, "temperature");
    if (v != NULL) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0)) {
            lmd_cfg_err(err, errlen, "%s: \"temperature\" must be a number "
                        "of at least 0", path);
            return LMD_ERROR;
        }
        c->has_temperature = 1;
        c->temperature = (float) v->valuedouble;
    }
    v = lmd_cfg_get(root, "top_p");
    if (v != NULL) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0)
            || v->valuedouble > 1)
        {
            lmd_cfg_err(err, errlen, "%s: \"top_p\" must be a number above 0 "
                        "and at most 1", path);
            return LMD_ERROR;
        }
        c->has_top_p = 1;
        c->top_p = (float) v->valuedouble;
    }
    v = lmd_cfg_get(root, "top_k");
    if (v != NULL) {
        if (!lmd_cfg_is_int(v, 0, INT32_MAX)) {
            lmd_cfg_err(err, errlen, "%s: \"top_k\" must be an integer of at "
                        "least 0", path);
            return LMD_ERROR;
        }
        c->has_top_k = 1;
        c->top_k = (int) v->valuedouble;
    }
    v = lmd_cfg_get(root, "repetition_penalty");
    if (v != NULL) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0)) {
            lmd_cfg_err(err, errlen, "%s: \"repetition_penalty\" must be a "
                        "number above 0", path);
            return LMD_ERROR;
        }
        c->has_repetition_penalty = 1;
        c->repetition_penalty = (float) v->valuedouble;
    }
    return LMD_OK;
}


/* One AWQ size check: group_size must divide what, the in-features of
 * the named linear layers. */
static int
lmd_cfg_awq_divides(const char *path, uint32_t g, uint32_t in,
    const char *what, const char *linears, char *err, size_t errlen)
{
    if (in % g != 0) {
        lmd_cfg_err(err, errlen, "%s: quantization_config.group_size %u "
                    "does not divide %s %u (the in-features of %s)", path,
                    g, what, in, linears);
        return LMD_ERROR;
    }
    return LMD_OK;
}


/* quantization_config: absent, or AutoAWQ's W4A16 GEMM format.  AutoAWQ
 * writes quant_method, bits, group_size, zero_point and version; a
 * missing zero_point or version takes transformers' AwqConfig default
 * (true, "gemm"). */
static int
lmd_cfg_quant(const char *path, const cJSON *root,
    struct lmd_model_config *c, char *err, size_t errlen)
{
    const cJSON  *q, *v;
    uint32_t      g, qdim, kvdim;
    int           zp;

    c->quant = LMD_QUANT_NONE;
    c->group_size = 0;
    q = lmd_cfg_get(root, "quantization_config");
    if (q == NULL) {
        return LMD_OK;
    }
    if (!cJSON_IsObject(q)) {
        lmd_cfg_err(err, errlen, "%s: quantization_config must be an "
                    "object", path);
        return LMD_ERROR;
    }
    v = lmd_cfg_get(q, "quant_method");
    if (!cJSON_IsString(v)) {
        lmd_cfg_err(err, errlen, "%s: quantization_config.quant_method is "
                    "missing or not a string", path);
        return LMD_ERROR;
    }
    if (strcasecmp(v->valuestring, "awq") != 0) {
        lmd_cfg_err(err, errlen, "%s: quantization_config.quant_method "
                    "\"%s\" is not supported (awq only)", path,
                    v->valuestring);
        return LMD_ERROR;
    }
    v = lmd_cfg_get(q, "bits");
    if (v == NULL || !lmd_cfg_is_int(v, 4, 4)) {
        lmd_cfg_err(err, errlen, "%s: quantization_config.bits must be 4 "
                    "(AWQ W4A16)", path);
        return LMD_ERROR;
    }
    v = lmd_cfg_get(q, "version");
    if (v != NULL && (!cJSON_IsString(v)
                      || strcasecmp(v->valuestring, "gemm") != 0))
    {
        lmd_cfg_err(err, errlen, "%s: quantization_config.version %s%s%s "
                    "is not supported (gemm only)", path,
                    cJSON_IsString(v) ? "\"" : "",
                    cJSON_IsString(v) ? v->valuestring : "(not a string)",
                    cJSON_IsString(v) ? "\"" : "");
        return LMD_ERROR;
    }
    if (lmd_cfg_bool(path, q, "zero_point", 1, &zp, err, errlen)
        != LMD_OK)
    {
        return LMD_ERROR;
    }
    if (!zp) {
        lmd_cfg_err(err, errlen, "%s: quantization_config.zero_point "
                    "false is not supported (true only)", path);
        return LMD_ERROR;
    }
    v = lmd_cfg_get(q, "group_size");
    if (v == NULL || !lmd_cfg_is_int(v, 1, LMD_CFG_MAX_SIZE)) {
        lmd_cfg_err(err, errlen, "%s: quantization_config.group_size must "
                    "be a positive integer", path);
        return LMD_ERROR;
    }
    g = (uint32_t) v->valuedouble;
    if (c->arch == LMD_ARCH_INTERNLM2) {
        /* Its fused wqkv would need the packed columns split by head. */
        lmd_cfg_err(err, errlen, "%s: quantization_config: AWQ is not "
                    "supported for InternLM2ForCausalLM yet", path);
        return LMD_ERROR;
    }

    qdim = c->n_heads * c->head_dim;
    kvdim = c->n_kv_heads * c->head_dim;
    if (lmd_cfg_awq_divides(path, g, c->hidden_size, "hidden_size",
                            "q/k/v/gate/up_proj", err, errlen) != LMD_OK
        || lmd_cfg_awq_divides(path, g, qdim, "num_attention_heads * "
                               "head_dim", "o_proj", err, errlen) != LMD_OK
        || lmd_cfg_awq_divides(path, g, c->intermediate_size,
                               "intermediate_size", "down_proj", err,
                               errlen) != LMD_OK)
    {
        return LMD_ERROR;
    }
    /* 8 output columns share an int32 word. */
    if (qdim % 8 != 0 || kvdim % 8 != 0 || c->hidden_size % 8 != 0
        || c->intermediate_size % 8 != 0)
    {
        lmd_cfg_err(err, errlen, "%s: quantization_config: AWQ needs the "
                    "out-features of every linear (%u, %u, %u, %u) to be "
                    "multiples of 8", path, qdim, kvdim, c->hidden_size,
                    c->intermediate_size);
        return LMD_ERROR;
    }
    c->quant = LMD_QUANT_AWQ;
    c->group_size = g;
    return LMD_OK;
}


/* ------------------------------------------------------------------------
 * Loading
 * ------------------------------------------------------------------------ */

static int
lmd_cfg_main(const char *path, const cJSON *root, struct lmd_model_config *c,
    char *err, size_t errlen)
{
    double    eps;
    uint32_t  def_max;

    if (lmd_cfg_arch(path, root, c, err, errlen) != LMD_OK
        || lmd_cfg_sizes(path, root, c, err, errlen) != LMD_OK)
    {
        return LMD_ERROR;
    }
    /* The config classes' defaults. */
    def_max = c->arch == LMD_ARCH_QWEN2 ? 32768 : 2048;
    if (strcmp(c->arch_name, "MistralForCausalLM") == 0) {
        def_max = 4096 * 32;
    }
    if (lmd_cfg_size(path, root, "max_position_embeddings", def_max,
                     UINT32_MAX, &c->max_position, err, errlen) != LMD_OK
        || lmd_cfg_positive(path, root, "rms_norm_eps", 1e-6, &eps, err,
                            errlen) != LMD_OK)
    {
        return LMD_ERROR;
    }
    c->rms_norm_eps = (float) eps;
    if (lmd_cfg_rope(path, root, c, err, errlen) != LMD_OK
        || lmd_cfg_window(path, root, c, err, errlen) != LMD_OK
        || lmd_cfg_flags(path, root, c, err, errlen) != LMD_OK
        || lmd_cfg_dtype(path, root, c, err, errlen) != LMD_OK
        || lmd_cfg_ids(path, root, c, err, errlen) != LMD_OK
        || lmd_cfg_quant(path, root, c, err, errlen) != LMD_OK)
    {
        return LMD_ERROR;
    }
    return LMD_OK;
}


int
lmd_model_config_load(const char *dir, struct lmd_model_config *c,
    char *err, size_t errlen)
{
    cJSON  *root;
    char   *path;
    int     rc;

    memset(c, 0, sizeof(*c));
    c->bos_id = -1;

    if (asprintf(&path, "%s/config.json", dir) < 0) {
        lmd_cfg_err(err, errlen, "%s: out of memory", dir);
        return LMD_ERROR;
    }
    rc = lmd_cfg_read(path, 0, &root, err, errlen);
    if (rc == LMD_OK) {
        rc = lmd_cfg_main(path, root, c, err, errlen);
        cJSON_Delete(root);
    }
    free(path);
    if (rc != LMD_OK) {
        return LMD_ERROR;
    }

    if (asprintf(&path, "%s/generation_config.json", dir) < 0) {
        lmd_cfg_err(err, errlen, "%s: out of memory", dir);
        return LMD_ERROR;
    }
    rc = lmd_cfg_read(path, 1, &root, err, errlen);
    if (rc == LMD_OK && root != NULL) {
        rc = lmd_cfg_generation(path, root, c, err, errlen);
        cJSON_Delete(root);
    }
    free(path);
    return rc;
}


/* ------------------------------------------------------------------------
 * RoPE
 * ------------------------------------------------------------------------ */

void
lmd_model_rope_freqs(const struct lmd_model_config *c, uint32_t seq_len,
    float *inv_freq, float *pos_scale)
{
    double    d, base, factor, inv, wavelen, low_wl, high_wl, smooth;
    double    orig, low, high;
    uint32_t  i, half;

    d = (double) c->head_dim;
    half = c->head_dim / 2;
    base = (double) c->rope_theta;
    factor = (double) c->rope_scaling.factor;

    /* Dynamic NTK: past the trained context the base grows with the
     * sequence; up to it, the plain frequencies. */
    if (c->rope_scaling.type == LMD_ROPE_DYNAMIC
        && seq_len > c->max_position && c->head_dim > 2)
    {
        base *= pow(factor * seq_len / (double) c->max_position
                    - (factor - 1.0), d / (d - 2.0));
    }

    orig = (double) c->rope_scaling.original_max_position;
    low = (double) c->rope_scaling.low_freq_factor;
    high = (double) c->rope_scaling.high_freq_factor;
    for (i = 0; i < half; i++) {
        inv = 1.0 / pow(base, (2.0 * i) / d);
        if (c->rope_scaling.type == LMD_ROPE_LLAMA3) {
            /* Long wavelengths are slowed by factor, short ones kept,
             * the band between blended smoothly. */
            wavelen = 2.0 * M_PI / inv;
            low_wl = orig / low;
            high_wl = orig / high;
            if (wavelen > low_wl) {
                inv /= factor;
            } else if (wavelen >= high_wl) {
                smooth = (orig / wavelen - low) / (high - low);
                inv = (1.0 - smooth) * inv / factor + smooth * inv;
            }
        }
        inv_freq[i] = (float) inv;
    }
    *pos_scale = c->rope_scaling.type == LMD_ROPE_LINEAR
                 ? (float) (1.0 / factor) : 1.0f;
}
