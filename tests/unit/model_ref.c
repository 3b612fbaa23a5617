/*
 * model_ref.c -- random models, their safetensors files, a reference
 * forward pass in double precision and an engine driver, for the model
 * tests (see model_ref.h).  Included by each test, not compiled alone.
 */

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lmd_module.h"
#include "lmd_module_load.h"
#include "model_ref.h"


/* ------------------------------------------------------------------------
 * Random values, rounded as stored
 * ------------------------------------------------------------------------ */

static uint64_t
mref_next(uint64_t *s)
{
    uint64_t  z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}


/* Uniform in [-1, 1). */
static double
mref_uniform(uint64_t *s)
{
    return (double) (mref_next(s) >> 11) * 0x1p-52 - 1.0;
}


void
mref_tokens(uint64_t seed, uint32_t vocab, int32_t *ids, uint32_t n)
{
    uint32_t  i;

    for (i = 0; i < n; i++) {
        ids[i] = (int32_t) (mref_next(&seed) % vocab);
    }
}


/* The nearest f16 value (ties to even): 11 significant bits, subnormal
 * below 2^-14.  Our values stay far below f16's largest. */
static double
mref_f16_round(double v)
{
    double  step;
    int     e;

    if (fabs(v) < 0x1p-14) {
        step = 0x1p-24;
    } else {
        frexp(fabs(v), &e);
        step = ldexp(1.0, e - 11);
    }
    return nearbyint(v / step) * step;
}


static double
mref_round(int dtype, double v)
{
    float     f = (float) v;
    uint32_t  u;

    switch (dtype) {
    case MREF_BF16:
        memcpy(&u, &f, sizeof(u));
        u += 0x7fffu + ((u >> 16) & 1u);
        u &= 0xffff0000u;
        memcpy(&f, &u, sizeof(f));
        return f;
    case MREF_F16:
        return mref_f16_round(v);
    default:
        return f;
    }
}


/* The bits of a value already rounded to f16. */
static uint16_t
mref_f16_bits(double v)
{
    uint16_t  sign = v < 0 ? 0x8000 : 0;
    double    a = fabs(v), m;
    int       e;

    if (a == 0) {
        return sign;
    }
    if (a < 0x1p-14) {
        return (uint16_t) (sign | (uint16_t) (a * 0x1p24));
    }
    m = frexp(a, &e);                   /* a = m * 2^e, m in [0.5, 1) */
    return (uint16_t) (sign | (uint16_t) ((e + 14) << 10)
                       | (uint16_t) (m * 2048 - 1024));
}


/* ------------------------------------------------------------------------
 * The model
 * ------------------------------------------------------------------------ */

static uint32_t
mref_head_dim(const struct mref_model *m)
{
    return m->head_dim ? m->head_dim : m->hidden / m->n_heads;
}


static double *
mref_fill(const struct mref_model *m, uint64_t *s, size_t n, double center,
    double scale)
{
    double  *p = malloc(n * sizeof(double));
    size_t   i;

    if (p == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        p[i] = mref_round(m->dtype, center + scale * mref_uniform(s));
    }
    return p;
}


/* Uniform in +-sqrt(3/cols): variance 1/cols. */
static double *
mref_matrix(const struct mref_model *m, uint64_t *s, uint32_t rows,
    uint32_t cols)
{
    return mref_fill(m, s, (size_t) rows * cols, 0, sqrt(3.0 / cols));
}


int
mref_model_init(struct mref_model *m)
{
    uint64_t            s = m->seed;
    uint32_t            hd = mref_head_dim(m), l;
    uint32_t            qd = m->n_heads * hd, kvd = m->n_kv_heads * hd;
    struct mref_layer  *ly;

    m->layers = calloc(m->n_layers, sizeof(struct mref_layer));
    m->embed = mref_fill(m, &s, (size_t) m->vocab * m->hidden, 0, 1);
    m->final_norm = mref_fill(m, &s, m->hidden, 1, 0.2);
    m->lm_head = m->tied ? m->embed
                         : mref_matrix(m, &s, m->vocab, m->hidden);
    if (m->layers == NULL || m->embed == NULL || m->final_norm == NULL
        || m->lm_head == NULL)
    {
        return -1;
    }
    for (l = 0; l < m->n_layers; l++) {
        ly = &m->layers[l];
        ly->attn_norm = mref_fill(m, &s, m->hidden, 1, 0.2);
        ly->wq = mref_matrix(m, &s, qd, m->hidden);
        ly->wk = mref_matrix(m, &s, kvd, m->hidden);
        ly->wv = mref_matrix(m, &s, kvd, m->hidden);
        ly->wo = mref_matrix(m, &s, m->hidden, qd);
        ly->ffn_norm = mref_fill(m, &s, m->hidden, 1, 0.2);
        ly->w_gate = mref_matrix(m, &s, m->inter, m->hidden);
        ly->w_up = mref_matrix(m, &s, m->inter, m->hidden);
        ly->w_down = mref_matrix(m, &s, m->hidden, m->inter);
        if (ly->attn_norm == NULL || ly->wq == NULL || ly->wk == NULL
            || ly->wv == NULL || ly->wo == NULL || ly->ffn_norm == NULL
            || ly->w_gate == NULL || ly->w_up == NULL || ly->w_down == NULL)
        {
            return -1;
        }
        if (m->qkv_bias) {
            ly->bq = mref_fill(m, &s, qd, 0, 0.5);
            ly->bk = mref_fill(m, &s, kvd, 0, 0.5);
            ly->bv = mref_fill(m, &s, kvd, 0, 0.5);
            if (ly->bq == NULL || ly->bk == NULL || ly->bv == NULL) {
                return -1;
            }
        }
    }
    return 0;
}


void
mref_model_free(struct mref_model *m)
{
    struct mref_layer  *ly;
    uint32_t            l;

    if (m->layers != NULL) {
        for (l = 0; l < m->n_layers; l++) {
            ly = &m->layers[l];
            free(ly->attn_norm);
            free(ly->wq);
            free(ly->wk);
            free(ly->wv);
            free(ly->bq);
            free(ly->bk);
            free(ly->bv);
            free(ly->wo);
            free(ly->ffn_norm);
            free(ly->w_gate);
            free(ly->w_up);
            free(ly->w_down);
        }
        free(m->layers);
    }
    if (m->lm_head != m->embed) {
        free(m->lm_head);
    }
    free(m->embed);
    free(m->final_norm);
    m->layers = NULL;
    m->embed = m->lm_head = m->final_norm = NULL;
}


static void
mref_round_row(double *row, uint32_t n, const char *weights)
{
    uint32_t  k;
    float     amax = 0, s;
    double    q;

    if (strcmp(weights, "int8") != 0) {
        for (k = 0; k < n; k++) {
            row[k] = mref_round(strcmp(weights, "bf16") == 0 ? MREF_BF16
                                                             : MREF_F16,
                                row[k]);
        }
        return;
    }
    for (k = 0; k < n; k++) {
        amax = fmaxf(amax, fabsf((float) row[k]));
    }
    s = amax / 127.0f;
    for (k = 0; k < n; k++) {
        q = s == 0 ? 0 : nearbyint(row[k] / s);
        row[k] = fmax(-127, fmin(127, q)) * s;
    }
}


static void
mref_round_matrix(double *w, uint32_t rows, uint32_t cols,
    const char *weights)
{
    uint32_t  r;

    for (r = 0; r < rows; r++) {
        mref_round_row(w + (size_t) r * cols, cols, weights);
    }
}


void
mref_round_weights(struct mref_model *m, const char *weights)
{
    uint32_t            hd = mref_head_dim(m), l;
    uint32_t            qd = m->n_heads * hd, kvd = m->n_kv_heads * hd;
    struct mref_layer  *ly;

    m->x16 = strcmp(weights, "int8") == 0;
    mref_round_matrix(m->embed, m->vocab, m->hidden, weights);
    if (m->lm_head != m->embed) {
        mref_round_matrix(m->lm_head, m->vocab, m->hidden, weights);
    }
    for (l = 0; l < m->n_layers; l++) {
        ly = &m->layers[l];
        mref_round_matrix(ly->wq, qd, m->hidden, weights);
        mref_round_matrix(ly->wk, kvd, m->hidden, weights);
        mref_round_matrix(ly->wv, kvd, m->hidden, weights);
        mref_round_matrix(ly->wo, m->hidden, qd, weights);
        mref_round_matrix(ly->w_gate, m->inter, m->hidden, weights);
        mref_round_matrix(ly->w_up, m->inter, m->hidden, weights);
        mref_round_matrix(ly->w_down, m->hidden, m->inter, weights);
    }
}


/* ------------------------------------------------------------------------
 * Writing: config.json and a safetensors file, by hand
 * ------------------------------------------------------------------------ */

struct mref_tensor {
    char            name[96];
    uint32_t        rows, cols;     /* rows 0: a vector of cols */
    const double   *data;
};

struct mref_buf {
    char           *p;
    size_t          n, cap;
};


static int
mref_bprintf(struct mref_buf *b, const char *fmt, ...)
{
    va_list  ap;
    int      k;
    char    *p;

    for ( ;; ) {
        va_start(ap, fmt);
        k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) {
            return -1;
        }
        if (b->n + (size_t) k < b->cap) {
            b->n += (size_t) k;
            return 0;
        }
        p = realloc(b->p, b->cap * 2 + (size_t) k + 64);
        if (p == NULL) {
            return -1;
        }
        b->p = p;
        b->cap = b->cap * 2 + (size_t) k + 64;
    }
}


static void
mref_put_le(unsigned char *p, uint64_t v, int bytes)
{
    int  i;

    for (i = 0; i < bytes; i++) {
        p[i] = (unsigned char) (v >> (8 * i));
    }
}


static uint64_t
mref_elem_bits(int dtype, double v)
{
    float     f = (float) v;
    uint32_t  u;

    memcpy(&u, &f, sizeof(u));
    switch (dtype) {
    case MREF_BF16:
        return u >> 16;                 /* exact: rounded at init */
    case MREF_F16:
        return mref_f16_bits(v);
    default:
        return u;
    }
}


static int
mref_st_write(const char *path, const struct mref_tensor *t, size_t nt,
    int dtype, char *err, size_t len)
{
    static const char  *names[] = { "F32", "BF16", "F16" };
    struct mref_buf     h = { NULL, 0, 0 };
    unsigned char       le[8];
    size_t              i, j, count, esz = dtype == MREF_F32 ? 4 : 2;
    uint64_t            off = 0;
    FILE               *f;
    int                 rc = -1;

    if (mref_bprintf(&h, "{\"__metadata__\":{\"format\":\"pt\"}") != 0) {
        goto done;
    }
    for (i = 0; i < nt; i++) {
        count = (size_t) (t[i].rows ? t[i].rows : 1) * t[i].cols;
        if ((t[i].rows
             ? mref_bprintf(&h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":"
                            "[%u,%u],", t[i].name, names[dtype],
                            t[i].rows, t[i].cols)
             : mref_bprintf(&h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":"
                            "[%u],", t[i].name, names[dtype], t[i].cols))
            != 0
            || mref_bprintf(&h, "\"data_offsets\":[%llu,%llu]}",
                            (unsigned long long) off,
                            (unsigned long long) (off + count * esz)) != 0)
        {
            goto done;
        }
        off += count * esz;
    }
    if (mref_bprintf(&h, "}") != 0) {
        goto done;
    }
    while (h.n % 8 != 0) {              /* as the Python writer pads */
        if (mref_bprintf(&h, " ") != 0) {
            goto done;
        }
    }
    f = fopen(path, "wb");
    if (f == NULL) {
        snprintf(err, len, "%s: %s", path, strerror(errno));
        free(h.p);
        return -1;
    }
    mref_put_le(le, h.n, 8);
    fwrite(le, 1, 8, f);
    fwrite(h.p, 1, h.n, f);
    for (i = 0; i < nt; i++) {
        count = (size_t) (t[i].rows ? t[i].rows : 1) * t[i].cols;
        for (j = 0; j < count; j++) {
            mref_put_le(le, mref_elem_bits(dtype, t[i].data[j]), (int) esz);
            fwrite(le, 1, esz, f);
        }
    }
    rc = fclose(f) == 0 ? 0 : -1;
    if (rc != 0) {
        snprintf(err, len, "%s: write failed", path);
    }
done:
    if (rc != 0 && err[0] == '\0') {
        snprintf(err, len, "%s: out of memory", path);
    }
    free(h.p);
    return rc;
}


static void
mref_add(struct mref_tensor *t, size_t *n, const char *name, uint32_t rows,
    uint32_t cols, const double *data)
{
    snprintf(t[*n].name, sizeof(t[*n].name), "%s", name);
    t[*n].rows = rows;
    t[*n].cols = cols;
    t[*n].data = data;
    (*n)++;
}


/* InternLM2's wqkv: per KV head, its q_per_kv query heads, then its K
 * head, then its V head, head_dim rows each. */
static double *
mref_fuse_wqkv(const struct mref_model *m, const struct mref_layer *ly)
{
    uint32_t   hd = mref_head_dim(m), g = m->n_heads / m->n_kv_heads;
    uint32_t   h, i;
    size_t     row = (size_t) hd * m->hidden;
    double    *w, *p;

    w = malloc((size_t) m->n_kv_heads * (g + 2) * row * sizeof(double));
    if (w == NULL) {
        return NULL;
    }
    p = w;
    for (h = 0; h < m->n_kv_heads; h++) {
        for (i = 0; i < g; i++) {
            memcpy(p, ly->wq + (size_t) (h * g + i) * row,
                   row * sizeof(double));
            p += row;
        }
        memcpy(p, ly->wk + (size_t) h * row, row * sizeof(double));
        p += row;
        memcpy(p, ly->wv + (size_t) h * row, row * sizeof(double));
        p += row;
    }
    return w;
}


static int
mref_write_tensors(const struct mref_model *m, const char *path,
    char *err, size_t len)
{
    struct mref_tensor  *t;
    double             **fused;
    uint32_t             hd = mref_head_dim(m), l;
    uint32_t             qd = m->n_heads * hd, kvd = m->n_kv_heads * hd;
    const char          *p;
    char                 name[96];
    size_t               n = 0;
    int                  rc = -1, il = m->arch == MREF_INTERNLM2;
    const struct mref_layer  *ly;

    t = calloc(4 + (size_t) m->n_layers * 12, sizeof(*t));
    fused = calloc(m->n_layers, sizeof(double *));
    if (t == NULL || fused == NULL) {
        snprintf(err, len, "%s: out of memory", path);
        goto done;
    }
    mref_add(t, &n, il ? "model.tok_embeddings.weight"
                       : "model.embed_tokens.weight",
             m->vocab, m->hidden, m->embed);
    for (l = 0; l < m->n_layers; l++) {
        ly = &m->layers[l];

#define MREF_T(suffix, r, c, d)                                               \
        snprintf(name, sizeof(name), "model.layers.%u.%s", l, suffix);        \
        mref_add(t, &n, name, r, c, d)

        if (il) {
            fused[l] = mref_fuse_wqkv(m, ly);
            if (fused[l] == NULL) {
                snprintf(err, len, "%s: out of memory", path);
                goto done;
            }
            MREF_T("attention_norm.weight", 0, m->hidden, ly->attn_norm);
            MREF_T("attention.wqkv.weight", qd + 2 * kvd, m->hidden,
                   fused[l]);
            MREF_T("attention.wo.weight", m->hidden, qd, ly->wo);
            MREF_T("ffn_norm.weight", 0, m->hidden, ly->ffn_norm);
            MREF_T("feed_forward.w1.weight", m->inter, m->hidden,
                   ly->w_gate);
            MREF_T("feed_forward.w3.weight", m->inter, m->hidden,
                   ly->w_up);
            MREF_T("feed_forward.w2.weight", m->hidden, m->inter,
                   ly->w_down);
            continue;
        }
        MREF_T("input_layernorm.weight", 0, m->hidden, ly->attn_norm);
        MREF_T("self_attn.q_proj.weight", qd, m->hidden, ly->wq);
        MREF_T("self_attn.k_proj.weight", kvd, m->hidden, ly->wk);
        MREF_T("self_attn.v_proj.weight", kvd, m->hidden, ly->wv);
        if (ly->bq != NULL) {
            MREF_T("self_attn.q_proj.bias", 0, qd, ly->bq);
            MREF_T("self_attn.k_proj.bias", 0, kvd, ly->bk);
            MREF_T("self_attn.v_proj.bias", 0, kvd, ly->bv);
        }
        MREF_T("self_attn.o_proj.weight", m->hidden, qd, ly->wo);
        MREF_T("post_attention_layernorm.weight", 0, m->hidden,
               ly->ffn_norm);
        MREF_T("mlp.gate_proj.weight", m->inter, m->hidden, ly->w_gate);
        MREF_T("mlp.up_proj.weight", m->inter, m->hidden, ly->w_up);
        MREF_T("mlp.down_proj.weight", m->hidden, m->inter, ly->w_down);
#undef MREF_T
    }
    mref_add(t, &n, "model.norm.weight", 0, m->hidden, m->final_norm);
    if (!m->tied) {
        p = il ? "output.weight" : "lm_head.weight";
        mref_add(t, &n, p, m->vocab, m->hidden, m->lm_head);
    }
    rc = mref_st_write(path, t, n, m->dtype, err, len);
done:
    if (fused != NULL) {
        for (l = 0; l < m->n_layers; l++) {
            free(fused[l]);
        }
    }
    free(fused);
    free(t);
    return rc;
}


static cJSON *
mref_rope_json(const struct mref_model *m)
{
    static const char  *types[] = { "default", "linear", "dynamic",
                                    "llama3" };
    cJSON              *r;

    if (m->rope == MREF_ROPE_DEFAULT) {
        return cJSON_CreateNull();
    }
    r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, m->rope_old_key ? "type" : "rope_type",
                            types[m->rope]);
    cJSON_AddNumberToObject(r, "factor", m->rope_factor);
    if (m->rope == MREF_ROPE_LLAMA3) {
        cJSON_AddNumberToObject(r, "low_freq_factor", m->rope_low);
        cJSON_AddNumberToObject(r, "high_freq_factor", m->rope_high);
        cJSON_AddNumberToObject(r, "original_max_position_embeddings",
                                m->rope_orig_max);
    }
    return r;
}


static int
mref_write_config(const struct mref_model *m, const char *path,
    char *err, size_t len)
{
    static const char  *archs[] = { "LlamaForCausalLM",
                                    "MistralForCausalLM",
                                    "Qwen2ForCausalLM",
                                    "InternLM2ForCausalLM" };
    static const char  *types[] = { "llama", "mistral", "qwen2",
                                    "internlm2" };
    static const char  *dtypes[] = { "float32", "bfloat16", "float16" };
    cJSON              *c = cJSON_CreateObject(), *a;
    char               *text;
    FILE               *f;
    int                 rc = -1;

    a = cJSON_AddArrayToObject(c, "architectures");
    cJSON_AddItemToArray(a, cJSON_CreateString(archs[m->arch]));
    cJSON_AddStringToObject(c, "model_type", types[m->arch]);
    cJSON_AddStringToObject(c, "hidden_act", "silu");
    cJSON_AddNumberToObject(c, "hidden_size", m->hidden);
    cJSON_AddNumberToObject(c, "intermediate_size", m->inter);
    cJSON_AddNumberToObject(c, "num_hidden_layers", m->n_layers);
    cJSON_AddNumberToObject(c, "num_attention_heads", m->n_heads);
    cJSON_AddNumberToObject(c, "num_key_value_heads", m->n_kv_heads);
    if (m->head_dim) {
        cJSON_AddNumberToObject(c, "head_dim", m->head_dim);
    }
    cJSON_AddNumberToObject(c, "vocab_size", m->vocab);
    cJSON_AddNumberToObject(c, "max_position_embeddings",
                            m->max_position);
    cJSON_AddNumberToObject(c, "rms_norm_eps", m->rms_eps);
    cJSON_AddNumberToObject(c, "rope_theta", m->rope_theta);
    cJSON_AddItemToObject(c, "rope_scaling", mref_rope_json(m));
    if (m->arch == MREF_MISTRAL) {
        cJSON_AddNumberToObject(c, "sliding_window", m->sliding_window);
    }
    if (m->arch == MREF_QWEN2) {
        cJSON_AddBoolToObject(c, "use_sliding_window", 0);
        if (m->unused_window) {
            cJSON_AddNumberToObject(c, "sliding_window", m->unused_window);
            cJSON_AddNumberToObject(c, "max_window_layers", m->n_layers);
        }
    } else if (m->arch == MREF_INTERNLM2) {
        cJSON_AddBoolToObject(c, "bias", m->qkv_bias);
    } else {
        cJSON_AddBoolToObject(c, "attention_bias", m->qkv_bias);
    }
    cJSON_AddBoolToObject(c, "tie_word_embeddings", m->tied);
    cJSON_AddNumberToObject(c, "bos_token_id", 1);
    cJSON_AddNumberToObject(c, "eos_token_id", 2);
    cJSON_AddStringToObject(c, "torch_dtype", dtypes[m->dtype]);
    text = cJSON_Print(c);
    cJSON_Delete(c);
    if (text == NULL) {
        snprintf(err, len, "%s: out of memory", path);
        return -1;
    }
    f = fopen(path, "w");
    if (f == NULL) {
        snprintf(err, len, "%s: %s", path, strerror(errno));
    } else {
        fputs(text, f);
        rc = fclose(f) == 0 ? 0 : -1;
        if (rc != 0) {
            snprintf(err, len, "%s: write failed", path);
        }
    }
    free(text);
    return rc;
}


int
mref_model_write(const struct mref_model *m, const char *dir, char *err,
    size_t len)
{
    char  path[4200];

    err[0] = '\0';
    snprintf(path, sizeof(path), "%s/config.json", dir);
    if (mref_write_config(m, path, err, len) != 0) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    return mref_write_tensors(m, path, err, len);
}


int
mref_tmpdir(char *buf, size_t len)
{
    const char  *tmp = getenv("TMPDIR");

    snprintf(buf, len, "%s/lmd-model-XXXXXX",
             tmp != NULL && tmp[0] ? tmp : "/tmp");
    return mkdtemp(buf) != NULL ? 0 : -1;
}


void
mref_rmdir(const char *dir)
{
    char  path[4200];

    snprintf(path, sizeof(path), "%s/config.json", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
}


/* ------------------------------------------------------------------------
 * Reading a real Llama folder (F32, BF16, F16)
 * ------------------------------------------------------------------------ */

static char *
mref_slurp(const char *path, size_t *n)
{
    FILE  *f = fopen(path, "rb");
    char  *buf = NULL;
    long   sz;

    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) >= 0
        && fseek(f, 0, SEEK_SET) == 0)
    {
        buf = malloc((size_t) sz + 1);
        if (buf != NULL && fread(buf, 1, (size_t) sz, f) != (size_t) sz) {
            free(buf);
            buf = NULL;
        } else if (buf != NULL) {
            buf[sz] = '\0';
            *n = (size_t) sz;
        }
    }
    fclose(f);
    return buf;
}


static double
mref_num(const cJSON *c, const char *key, double dflt)
{
    const cJSON  *v = cJSON_GetObjectItemCaseSensitive(c, key);

    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}


static double
mref_f16_value(uint32_t b)
{
    uint32_t  e = (b >> 10) & 31, f = b & 1023;
    double    v = e == 0 ? ldexp(f, -24) : ldexp(1024 + f, (int) e - 25);

    return b & 0x8000 ? -v : v;
}


/* The tensor `name` (F32, BF16 or F16) of count elements as doubles, or
 * NULL. */
static double *
mref_get(const cJSON *hdr, const unsigned char *data, size_t data_len,
    const char *name, size_t count)
{
    const cJSON  *t = cJSON_GetObjectItemCaseSensitive(hdr, name);
    const cJSON  *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
    const cJSON  *off = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    double       *p;
    size_t        i, b, e, esz;
    uint32_t      u;
    float         f;
    const unsigned char  *q;

    if (!cJSON_IsString(dt) || cJSON_GetArraySize(off) != 2) {
        return NULL;
    }
    esz = strcmp(dt->valuestring, "F32") == 0 ? 4
          : strcmp(dt->valuestring, "BF16") == 0
            || strcmp(dt->valuestring, "F16") == 0 ? 2 : 0;
    b = (size_t) cJSON_GetArrayItem(off, 0)->valuedouble;
    e = (size_t) cJSON_GetArrayItem(off, 1)->valuedouble;
    if (esz == 0 || e > data_len || e < b || e - b != count * esz) {
        return NULL;
    }
    p = malloc(count * sizeof(double));
    if (p == NULL) {
        return NULL;
    }
    for (i = 0; i < count; i++) {
        q = data + b + esz * i;
        u = (uint32_t) q[0] | (uint32_t) q[1] << 8;
        if (esz == 4) {
            u |= (uint32_t) q[2] << 16 | (uint32_t) q[3] << 24;
        } else if (dt->valuestring[0] == 'B') {
            u <<= 16;
        } else {
            p[i] = mref_f16_value(u);
            continue;
        }
        memcpy(&f, &u, sizeof(f));
        p[i] = f;
    }
    return p;
}


int
mref_model_read_llama(struct mref_model *m, const char *dir, char *err,
    size_t len)
{
    char                  path[4096], name[96];
    char                 *text, *st;
    size_t                n, st_len, hlen;
    cJSON                *c, *hdr;
    uint32_t              hd, qd, kvd, l;
    const unsigned char  *data;
    struct mref_layer    *ly;
    int                   rc = -1;

    memset(m, 0, sizeof(*m));
    snprintf(path, sizeof(path), "%s/config.json", dir);
    text = mref_slurp(path, &n);
    c = text != NULL ? cJSON_Parse(text) : NULL;
    free(text);
    if (c == NULL) {
        snprintf(err, len, "%s: unreadable", path);
        return -1;
    }
    m->name = "read";
    m->arch = MREF_LLAMA;
    m->vocab = (uint32_t) mref_num(c, "vocab_size", 0);
    m->hidden = (uint32_t) mref_num(c, "hidden_size", 0);
    m->inter = (uint32_t) mref_num(c, "intermediate_size", 0);
    m->n_layers = (uint32_t) mref_num(c, "num_hidden_layers", 0);
    m->n_heads = (uint32_t) mref_num(c, "num_attention_heads", 0);
    m->n_kv_heads = (uint32_t) mref_num(c, "num_key_value_heads",
                                        m->n_heads);
    m->head_dim = (uint32_t) mref_num(c, "head_dim", 0);
    m->max_position = (uint32_t) mref_num(c, "max_position_embeddings", 0);
    m->rms_eps = mref_num(c, "rms_norm_eps", 1e-6);
    m->rope_theta = mref_num(c, "rope_theta", 10000);
    m->tied = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c,
                               "tie_word_embeddings"));
    cJSON_Delete(c);

    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    st = mref_slurp(path, &st_len);
    if (st == NULL || st_len < 8) {
        snprintf(err, len, "%s: unreadable", path);
        free(st);
        return -1;
    }
    data = (const unsigned char *) st;
    hlen = 0;
    for (n = 0; n < 8; n++) {
        hlen |= (size_t) data[n] << (8 * n);
    }
    hdr = hlen <= st_len - 8 ? cJSON_ParseWithLength(st + 8, hlen) : NULL;
    if (hdr == NULL) {
        snprintf(err, len, "%s: bad header", path);
        free(st);
        return -1;
    }
    data += 8 + hlen;
    st_len -= 8 + hlen;

    hd = mref_head_dim(m);
    qd = m->n_heads * hd;
    kvd = m->n_kv_heads * hd;
    m->layers = calloc(m->n_layers, sizeof(struct mref_layer));
    if (m->layers == NULL) {
        goto done;
    }

#define MREF_GET(dst, nm, count)                                              \
    do {                                                                      \
        (dst) = mref_get(hdr, data, st_len, nm, count);                       \
        if ((dst) == NULL) {                                                  \
            snprintf(err, len, "%s: %s missing or malformed", path, nm);      \
            goto done;                                                        \
        }                                                                     \
    } while (0)
#define MREF_GET_L(dst, suffix, count)                                        \
    snprintf(name, sizeof(name), "model.layers.%u.%s", l, suffix);            \
    MREF_GET(dst, name, count)

    MREF_GET(m->embed, "model.embed_tokens.weight",
             (size_t) m->vocab * m->hidden);
    MREF_GET(m->final_norm, "model.norm.weight", m->hidden);
    if (m->tied) {
        m->lm_head = m->embed;
    } else {
        MREF_GET(m->lm_head, "lm_head.weight",
                 (size_t) m->vocab * m->hidden);
    }
    for (l = 0; l < m->n_layers; l++) {
        ly = &m->layers[l];
        MREF_GET_L(ly->attn_norm, "input_layernorm.weight", m->hidden);
        MREF_GET_L(ly->wq, "self_attn.q_proj.weight",
                   (size_t) qd * m->hidden);
        MREF_GET_L(ly->wk, "self_attn.k_proj.weight",
                   (size_t) kvd * m->hidden);
        MREF_GET_L(ly->wv, "self_attn.v_proj.weight",
                   (size_t) kvd * m->hidden);
        MREF_GET_L(ly->wo, "self_attn.o_proj.weight",
                   (size_t) qd * m->hidden);
        MREF_GET_L(ly->ffn_norm, "post_attention_layernorm.weight",
                   m->hidden);
        MREF_GET_L(ly->w_gate, "mlp.gate_proj.weight",
                   (size_t) m->inter * m->hidden);
        MREF_GET_L(ly->w_up, "mlp.up_proj.weight",
                   (size_t) m->inter * m->hidden);
        MREF_GET_L(ly->w_down, "mlp.down_proj.weight",
                   (size_t) m->inter * m->hidden);
    }
#undef MREF_GET_L
#undef MREF_GET
    rc = 0;
done:
    if (rc != 0 && m->layers == NULL) {
        snprintf(err, len, "%s: out of memory", path);
    }
    cJSON_Delete(hdr);
    free(st);
    return rc;
}


/* ------------------------------------------------------------------------
 * The reference forward pass
 * ------------------------------------------------------------------------ */

void
mref_inv_freq(const struct mref_model *m, uint32_t seq_len,
    double *inv_freq)
{
    uint32_t  hd = mref_head_dim(m), i;
    double    base = m->rope_theta, f = m->rope_factor, wl, lo, hi, s;

    if (m->rope == MREF_ROPE_DYNAMIC && seq_len > m->max_position) {
        /* NTK: transformers' _compute_dynamic_ntk_parameters */
        base *= pow(f * seq_len / m->max_position - (f - 1),
                    hd / (hd - 2.0));
    }
    for (i = 0; i < hd / 2; i++) {
        inv_freq[i] = 1.0 / pow(base, 2.0 * i / hd);
        if (m->rope == MREF_ROPE_LINEAR) {
            inv_freq[i] /= f;
        } else if (m->rope == MREF_ROPE_LLAMA3) {
            /* _compute_llama3_parameters: long wavelengths slowed by
             * factor, short ones kept, a blend between */
            wl = 2 * M_PI / inv_freq[i];
            lo = m->rope_orig_max / m->rope_low;
            hi = m->rope_orig_max / m->rope_high;
            if (wl > lo) {
                inv_freq[i] /= f;
            } else if (wl >= hi) {
                s = (m->rope_orig_max / wl - m->rope_low)
                    / (m->rope_high - m->rope_low);
                inv_freq[i] = (1 - s) * inv_freq[i] / f + s * inv_freq[i];
            }
        }
    }
}


static void
mref_rmsnorm(const double *x, const double *w, double eps, uint32_t n,
    double *out)
{
    double    ss = 0;
    uint32_t  i;

    for (i = 0; i < n; i++) {
        ss += x[i] * x[i];
    }
    ss = 1.0 / sqrt(ss / n + eps);
    for (i = 0; i < n; i++) {
        out[i] = x[i] * ss * w[i];
    }
}


/* x as the cpu engine's int8 kernels see it: per block of 256 columns,
 * scale = max|x| / 32512 in f32, x16 = round(x / scale). */
static void
mref_x16(const double *x, uint32_t cols, double *out)
{
    uint32_t  c, c0, c1;
    float     amax, s;

    for (c0 = 0; c0 < cols; c0 = c1) {
        c1 = cols - c0 > 256 ? c0 + 256 : cols;
        amax = 0;
        for (c = c0; c < c1; c++) {
            amax = fmaxf(amax, fabsf((float) x[c]));
        }
        s = amax / 32512.0f;
        for (c = c0; c < c1; c++) {
            out[c] = s > 0 ? nearbyint(x[c] / s) * s : 0;
        }
    }
}


/* out[rows] = w[rows][cols] x (+ b); add: out += instead; x16: x
 * quantized first (mref_x16). */
static void
mref_matvec(const double *w, const double *b, const double *x,
    uint32_t rows, uint32_t cols, double *out, int add, int x16)
{
    uint32_t  r, c;
    double    s, *xq = NULL;

    if (x16) {
        xq = malloc(cols * sizeof(double));
        if (xq == NULL) {
            abort();
        }
        mref_x16(x, cols, xq);
        x = xq;
    }
    for (r = 0; r < rows; r++) {
        s = b != NULL ? b[r] : 0;
        for (c = 0; c < cols; c++) {
            s += w[(size_t) r * cols + c] * x[c];
        }
        out[r] = add ? out[r] + s : s;
    }
    free(xq);
}


/* HF's rotate_half layout: element i pairs with i + half. */
static void
mref_rope(double *v, uint32_t hd, const double *inv_freq, uint32_t pos)
{
    uint32_t  i, half = hd / 2;
    double    a, b, c, s;

    for (i = 0; i < half; i++) {
        c = cos(pos * inv_freq[i]);
        s = sin(pos * inv_freq[i]);
        a = v[i];
        b = v[i + half];
        v[i] = a * c - b * s;
        v[i + half] = b * c + a * s;
    }
}


int
mref_forward(const struct mref_model *m, const int32_t *tok, uint32_t n,
    double *logits)
{
    uint32_t   H = m->hidden, I = m->inter, hd = mref_head_dim(m);
    uint32_t   qd = m->n_heads * hd, kvd = m->n_kv_heads * hd;
    uint32_t   g = m->n_heads / m->n_kv_heads;
    uint32_t   i, j, l, a, d, lo;
    double    *x, *h, *q, *k, *v, *att, *gt, *up, *sc, *inv, mx, sum;
    const struct mref_layer  *ly;

    x = malloc((size_t) n * H * sizeof(double));
    h = malloc((size_t) H * sizeof(double));
    q = malloc((size_t) n * qd * sizeof(double));
    k = malloc((size_t) n * kvd * sizeof(double));
    v = malloc((size_t) n * kvd * sizeof(double));
    att = malloc((size_t) qd * sizeof(double));
    gt = malloc((size_t) I * sizeof(double));
    up = malloc((size_t) I * sizeof(double));
    sc = malloc((size_t) n * sizeof(double));
    inv = malloc((size_t) hd * sizeof(double));
    if (x == NULL || h == NULL || q == NULL || k == NULL || v == NULL
        || att == NULL || gt == NULL || up == NULL || sc == NULL
        || inv == NULL)
    {
        n = 0;
        logits = NULL;
    } else {
        mref_inv_freq(m, n, inv);
    }

    for (i = 0; i < n; i++) {
        memcpy(x + (size_t) i * H, m->embed + (size_t) tok[i] * H,
               H * sizeof(double));
    }
    for (l = 0; l < m->n_layers && n > 0; l++) {
        ly = &m->layers[l];
        for (i = 0; i < n; i++) {
            mref_rmsnorm(x + (size_t) i * H, ly->attn_norm, m->rms_eps, H,
                         h);
            mref_matvec(ly->wq, ly->bq, h, qd, H, q + (size_t) i * qd,
                        0, m->x16);
            mref_matvec(ly->wk, ly->bk, h, kvd, H,
                        k + (size_t) i * kvd, 0, m->x16);
            mref_matvec(ly->wv, ly->bv, h, kvd, H,
                        v + (size_t) i * kvd, 0, m->x16);
            for (a = 0; a < m->n_heads; a++) {
                mref_rope(q + (size_t) i * qd + a * hd, hd, inv, i);
            }
            for (a = 0; a < m->n_kv_heads; a++) {
                mref_rope(k + (size_t) i * kvd + a * hd, hd, inv, i);
            }
        }
        for (i = 0; i < n; i++) {
            /* causal; a window W keeps key j only when j > i - W */
            lo = m->sliding_window && i + 1 > m->sliding_window
                 ? i + 1 - m->sliding_window : 0;
            for (a = 0; a < m->n_heads; a++) {
                const double  *qa = q + (size_t) i * qd + a * hd;
                size_t         ko = (size_t) (a / g) * hd;

                mx = -INFINITY;
                for (j = lo; j <= i; j++) {
                    sum = 0;
                    for (d = 0; d < hd; d++) {
                        sum += qa[d] * k[(size_t) j * kvd + ko + d];
                    }
                    sc[j] = sum / sqrt((double) hd);
                    mx = fmax(mx, sc[j]);
                }
                sum = 0;
                for (j = lo; j <= i; j++) {
                    sc[j] = exp(sc[j] - mx);
                    sum += sc[j];
                }
                for (d = 0; d < hd; d++) {
                    double  o = 0;

                    for (j = lo; j <= i; j++) {
                        o += sc[j] * v[(size_t) j * kvd + ko + d];
                    }
                    att[a * hd + d] = o / sum;
                }
            }
            mref_matvec(ly->wo, NULL, att, H, qd, x + (size_t) i * H,
                        1, m->x16);
        }
        for (i = 0; i < n; i++) {
            mref_rmsnorm(x + (size_t) i * H, ly->ffn_norm, m->rms_eps, H, h);
            mref_matvec(ly->w_gate, NULL, h, I, H, gt, 0, m->x16);
            mref_matvec(ly->w_up, NULL, h, I, H, up, 0, m->x16);
            for (j = 0; j < I; j++) {
                gt[j] = gt[j] / (1 + exp(-gt[j])) * up[j];
            }
            mref_matvec(ly->w_down, NULL, gt, H, I,
                        x + (size_t) i * H, 1, m->x16);
        }
    }
    for (i = 0; i < n; i++) {
        mref_rmsnorm(x + (size_t) i * H, m->final_norm, m->rms_eps, H, h);
        mref_matvec(m->lm_head, NULL, h, m->vocab, H,
                    logits + (size_t) i * m->vocab, 0, m->x16);
    }
    free(x);
    free(h);
    free(q);
    free(k);
    free(v);
    free(att);
    free(gt);
    free(up);
    free(sc);
    free(inv);
    return logits != NULL ? 0 : -1;
}


/* ------------------------------------------------------------------------
 * Driving an engine module
 * ------------------------------------------------------------------------ */

static void mref_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
mref_log(int level, const char *fmt, ...)
{
    va_list  ap;

    if (level > LMD_HOST_LOG_WARN) {
        return;                 /* the load notices: noise here */
    }
    fprintf(stderr, "# engine log %d: ", level);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}


static uint64_t
mref_now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}


const struct lmd_host *
mref_host(void)
{
    static const struct lmd_host  host = {
        LMD_MODULE_ABI_VERSION, mref_log, mref_now_ns, { NULL }
    };

    return &host;
}


const struct lmd_module *
mref_module_open_file(const char *file, void **handle, char *err,
    size_t len)
{
    const char                *dir = getenv("LMD_MODULES");
    struct lmd_module_handle  *h;

    h = lmd_module_open(dir != NULL && dir[0] ? dir : "modules", file,
                        LMD_MODULE_ENGINE, err, len);
    *handle = h;
    return h != NULL ? h->module : NULL;
}


const struct lmd_module *
mref_module_open(void **handle, char *err, size_t len)
{
    return mref_module_open_file("lmd_engine_cpu.so", handle, err, len);
}


void
mref_module_close(void *handle)
{
    if (handle != NULL) {
        lmd_module_close(handle);
    }
}


int
mref_engine_open(struct mref_engine *e, const struct lmd_module *mod,
    const char *dir, const char *weights, int threads, char *err,
    size_t len)
{
    return mref_engine_open_kv(e, mod, dir, weights, threads, NULL, err,
                               len);
}


int
mref_engine_open_kv(struct mref_engine *e, const struct lmd_module *mod,
    const char *dir, const char *weights, int threads,
    const struct lmd_kv_codec *codec, char *err, size_t len)
{
    struct lmd_engine_params  p;

    memset(e, 0, sizeof(*e));
    memset(&p, 0, sizeof(p));
    p.name = "test";
    p.path = dir;
    p.load_format = "auto";
    p.weights = weights;
    p.threads = threads;
    p.kv_codec = codec;
    e->mod = mod;
    err[0] = '\0';
    if (mod->ops.engine.open(mref_host(), &p, &e->eng, err, len)
        != LMD_MODULE_OK)
    {
        e->eng = NULL;
        return -1;
    }
    if (mod->ops.engine.memory(e->eng, &e->mem) != LMD_MODULE_OK) {
        snprintf(err, len, "%s: memory() failed", dir);
        mref_engine_close(e);
        return -1;
    }
    return 0;
}


void
mref_engine_close(struct mref_engine *e)
{
    if (e->eng != NULL) {
        e->mod->ops.engine.close(e->eng);
        e->eng = NULL;
    }
}


int
mref_engine_run(struct mref_engine *e, const int32_t *tokens, uint32_t n,
    uint32_t chunk, uint32_t block_size, float *logits, char *err,
    size_t len)
{
    struct lmd_kv_params   kv;
    struct lmd_seq_input   seq;
    struct lmd_batch       b;
    uint32_t              *blocks, i, pos, c;
    int                    rc = 0;

    memset(&kv, 0, sizeof(kv));
    kv.block_size = block_size;
    kv.n_blocks = (n + block_size - 1) / block_size;
    blocks = malloc(kv.n_blocks * sizeof(uint32_t));
    if (blocks == NULL) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    for (i = 0; i < kv.n_blocks; i++) {
        blocks[i] = i;
    }
    err[0] = '\0';
    if (e->mod->ops.engine.kv_init(e->eng, &kv, err, len)
        != LMD_MODULE_OK)
    {
        free(blocks);
        return -1;
    }
    for (pos = 0; pos < n && rc == 0; pos += c) {
        c = chunk == 0 || chunk > n - pos ? n - pos : chunk;
        memset(&seq, 0, sizeof(seq));
        seq.tokens = tokens + pos;
        seq.n_tokens = c;
        seq.pos = pos;
        seq.blocks = blocks;
        seq.n_blocks = (pos + c + block_size - 1) / block_size;
        seq.n_logits = c;
        memset(&b, 0, sizeof(b));
        b.seqs = &seq;
        b.n_seqs = 1;
        b.logits = logits + (size_t) pos * e->mem.vocab_size;
        if (e->mod->ops.engine.forward(e->eng, &b, err, len)
            != LMD_MODULE_OK)
        {
            rc = -1;
        }
    }
    free(blocks);
    return rc;
}
