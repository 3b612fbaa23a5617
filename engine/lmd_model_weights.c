/*
 * lmd_model_weights.c -- a model's tensors by role: each architecture's
 * names mapped to struct lmd_model_weights, every shape checked against
 * config.json.
 *
 *   role         Llama, Mistral, Qwen2          InternLM2
 *   embed        model.embed_tokens.weight      model.tok_embeddings.weight
 *   final_norm   model.norm.weight              model.norm.weight
 *   lm_head      lm_head.weight                 output.weight
 * and per layer N (model.layers.N.):
 *   attn_norm    input_layernorm.weight         attention_norm.weight
 *   wq, wk, wv   self_attn.{q,k,v}_proj.weight  attention.wqkv.weight
 *   bq, bk, bv   self_attn.{q,k,v}_proj.bias    attention.wqkv.bias
 *                (Qwen2)                        ("bias": true)
 *   wo           self_attn.o_proj.weight        attention.wo.weight
 *   ffn_norm     post_attention_layernorm.weight ffn_norm.weight
 *   w_gate       mlp.gate_proj.weight           feed_forward.w1.weight
 *   w_up         mlp.up_proj.weight             feed_forward.w3.weight
 *   w_down       mlp.down_proj.weight           feed_forward.w2.weight
 *
 * InternLM2 fuses q, k and v into one matrix grouped by KV head: for each
 * of the n_kv_heads groups, q_per_kv query heads, then one key head, then
 * one value head, head_dim rows each.  The loader copies those rows out
 * into three owned matrices (and the bias the same way), so every engine
 * sees one layout.  Tied embeddings make lm_head the embedding itself.
 *
 * Design: with load_format "auto" the matrices point into the
 * safetensors mappings, which stay open (priv) until free; only the
 * InternLM2 splits are copies.  With "dummy" one anonymous mapping holds
 * every tensor in config's torch_dtype and lmd_model_dummy.c fills it.
 *
 * AWQ checkpoints: the seven linears of each layer are bound to their
 * qweight/qzeros/scales (I32, I32, F16, shapes from config.json and
 * group_size) instead of .weight; dummy AWQ models lay out the same
 * three tensors.
 */

#include "lmd_model_weights.h"
#include "lmd_common.h"
#include "lmd_safetensors.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Every dummy tensor starts on a cache line. */
#define LMD_W_ALIGN     64
/* Room for the longest name, "model.layers.65535.post_attention_..." */
#define LMD_W_NAME_LEN  64

/* What loading owns, released by lmd_model_weights_free. */
struct lmd_w_priv {
    struct lmd_safetensors  *st;
    void                   **copies;    /* the InternLM2 splits */
    size_t                   ncopies;
    void                    *arena;     /* the dummy tensors */
    size_t                   arena_len;
    char                    *names;     /* the dummy tensors' names */
};

/* The expected shape of a role, from the config. */
enum {
    LMD_W_HIDDEN_VEC,       /* [hidden] */
    LMD_W_Q,                /* [heads*head_dim][hidden] */
    LMD_W_KV,               /* [kv_heads*head_dim][hidden] */
    LMD_W_Q_VEC,            /* [heads*head_dim] */
    LMD_W_KV_VEC,           /* [kv_heads*head_dim] */
    LMD_W_O,                /* [hidden][heads*head_dim] */
    LMD_W_FF_IN,            /* [intermediate][hidden] */
    LMD_W_FF_OUT,           /* [hidden][intermediate] */
    LMD_W_VOCAB             /* [vocab][hidden] */
};

/* One role of a layer: where it goes, its shape, its two names (after
 * "model.layers.N."); a NULL InternLM2 name is a part of wqkv. */
struct lmd_w_role {
    size_t       off;
    int          shape;
    int          bias;
    const char  *name;
    const char  *internlm2;
};

static const struct lmd_w_role  lmd_w_roles[] = {
    { offsetof(struct lmd_layer_weights, attn_norm), LMD_W_HIDDEN_VEC, 0,
      "input_layernorm.weight", "attention_norm.weight" },
    { offsetof(struct lmd_layer_weights, wq), LMD_W_Q, 0,
      "self_attn.q_proj.weight", NULL },
    { offsetof(struct lmd_layer_weights, wk), LMD_W_KV, 0,
      "self_attn.k_proj.weight", NULL },
    { offsetof(struct lmd_layer_weights, wv), LMD_W_KV, 0,
      "self_attn.v_proj.weight", NULL },
    { offsetof(struct lmd_layer_weights, bq), LMD_W_Q_VEC, 1,
      "self_attn.q_proj.bias", NULL },
    { offsetof(struct lmd_layer_weights, bk), LMD_W_KV_VEC, 1,
      "self_attn.k_proj.bias", NULL },
    { offsetof(struct lmd_layer_weights, bv), LMD_W_KV_VEC, 1,
      "self_attn.v_proj.bias", NULL },
    { offsetof(struct lmd_layer_weights, wo), LMD_W_O, 0,
      "self_attn.o_proj.weight", "attention.wo.weight" },
    { offsetof(struct lmd_layer_weights, ffn_norm), LMD_W_HIDDEN_VEC, 0,
      "post_attention_layernorm.weight", "ffn_norm.weight" },
    { offsetof(struct lmd_layer_weights, w_gate), LMD_W_FF_IN, 0,
      "mlp.gate_proj.weight", "feed_forward.w1.weight" },
    { offsetof(struct lmd_layer_weights, w_up), LMD_W_FF_IN, 0,
      "mlp.up_proj.weight", "feed_forward.w3.weight" },
    { offsetof(struct lmd_layer_weights, w_down), LMD_W_FF_OUT, 0,
      "mlp.down_proj.weight", "feed_forward.w2.weight" },
};

#define LMD_W_NROLES  (sizeof(lmd_w_roles) / sizeof(lmd_w_roles[0]))


static void
lmd_w_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
lmd_w_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}


/* rows, cols and whether it is a vector (rows 1, one dimension). */
static int
lmd_w_shape(const struct lmd_model_config *c, int shape, uint32_t *rows,
    uint32_t *cols)
{
    uint32_t  q = c->n_heads * c->head_dim;
    uint32_t  kv = c->n_kv_heads * c->head_dim;

    *rows = 1;
    switch (shape) {
    case LMD_W_HIDDEN_VEC:
        *cols = c->hidden_size;
        return 1;
    case LMD_W_Q_VEC:
        *cols = q;
        return 1;
    case LMD_W_KV_VEC:
        *cols = kv;
        return 1;
    case LMD_W_Q:
        *rows = q;
        *cols = c->hidden_size;
        return 0;
    case LMD_W_KV:
        *rows = kv;
        *cols = c->hidden_size;
        return 0;
    case LMD_W_O:
        *rows = c->hidden_size;
        *cols = q;
        return 0;
    case LMD_W_FF_IN:
        *rows = c->intermediate_size;
        *cols = c->hidden_size;
        return 0;
    case LMD_W_FF_OUT:
        *rows = c->hidden_size;
        *cols = c->intermediate_size;
        return 0;
    default:
        *rows = c->vocab_size;
        *cols = c->hidden_size;
        return 0;
    }
}


static size_t
lmd_wmat_bytes(const struct lmd_wmat *m)
{
    return (size_t) m->rows * m->cols * lmd_dtype_size(m->dtype);
}


/* The role's full tensor name for layer l; NULL for an absent bias. */
static const char *
lmd_w_role_name(const struct lmd_model_config *c, const struct lmd_w_role *r,
    uint32_t l, char *buf, size_t size)
{
    const char  *tail;

    if (r->bias && !c->qkv_bias) {
        return NULL;
    }
    if (c->arch != LMD_ARCH_INTERNLM2) {
        tail = r->name;
    } else if (r->internlm2 != NULL) {
        tail = r->internlm2;
    } else {
        tail = r->bias ? "attention.wqkv.bias" : "attention.wqkv.weight";
    }
    snprintf(buf, size, "model.layers.%u.%s", l, tail);
    return buf;
}


/* ------------------------------------------------------------------------
 * Reading ("auto")
 * ------------------------------------------------------------------------ */

static void
lmd_w_shape_str(char *buf, size_t size, int vec, uint64_t rows,
    uint64_t cols)
{
    if (vec) {
        snprintf(buf, size, "[%llu]", (unsigned long long) cols);
    } else {
        snprintf(buf, size, "[%llu, %llu]", (unsigned long long) rows,
                 (unsigned long long) cols);
    }
}


/* Finds name, checks its dtype and shape and points m at it. */
static int
lmd_w_bind(struct lmd_model_weights *w, struct lmd_wmat *m,
    const char *name, int vec, uint32_t rows, uint32_t cols, char *err,
    size_t errlen)
{
    struct lmd_w_priv        *p = w->priv;
    const struct lmd_tensor  *t;
    char                      got[128], want[64];
    size_t                    len;
    int                       i, ok;

    t = lmd_safetensors_find(p->st, name);
    if (t == NULL) {
        lmd_w_err(err, errlen, "%s: tensor %s is missing",
                  lmd_safetensors_path(p->st), name);
        return LMD_ERROR;
    }
    if (t->dtype != LMD_DTYPE_F32 && t->dtype != LMD_DTYPE_F16
        && t->dtype != LMD_DTYPE_BF16)
    {
        lmd_w_err(err, errlen, "%s: tensor %s: dtype %s is not a float "
                  "type (F32, F16, BF16)", t->file, name,
                  lmd_dtype_name(t->dtype));
        return LMD_ERROR;
    }
    ok = vec ? t->n_dims == 1 && (uint64_t) t->shape[0] == cols
             : t->n_dims == 2 && (uint64_t) t->shape[0] == rows
               && (uint64_t) t->shape[1] == cols;
    if (!ok) {
        len = 0;
        got[len++] = '[';
        for (i = 0; i < t->n_dims; i++) {
            len += (size_t) snprintf(got + len, sizeof(got) - len, "%s%lld",
                                     i ? ", " : "",
                                     (long long) t->shape[i]);
        }
        snprintf(got + len, sizeof(got) - len, "]");
        lmd_w_shape_str(want, sizeof(want), vec, rows, cols);
        lmd_w_err(err, errlen, "%s: tensor %s: shape %s but config.json "
                  "says %s", t->file, name, got, want);
        return LMD_ERROR;
    }
    m->dtype = t->dtype;
    m->rows = vec ? 1 : rows;
    m->cols = cols;
    m->data = t->data;
    m->name = t->name;
    w->bytes += t->nbytes;
    return LMD_OK;
}


/* Finds an AWQ tensor: exactly dtype and the 2-D shape [d0, d1]. */
static const struct lmd_tensor *
lmd_w_awq_tensor(struct lmd_model_weights *w, const char *name, int dtype,
    uint64_t d0, uint64_t d1, char *err, size_t errlen)
{
    struct lmd_w_priv        *p = w->priv;
    const struct lmd_tensor  *t;
    char                      got[128];
    size_t                    len;
    int                       i;

    t = lmd_safetensors_find(p->st, name);
    if (t == NULL) {
        lmd_w_err(err, errlen, "%s: tensor %s is missing",
                  lmd_safetensors_path(p->st), name);
        return NULL;
    }
    if (t->dtype != dtype) {
        lmd_w_err(err, errlen, "%s: tensor %s: dtype %s but AWQ needs %s",
                  t->file, name, lmd_dtype_name(t->dtype),
                  lmd_dtype_name(dtype));
        return NULL;
    }
    if (t->n_dims != 2 || (uint64_t) t->shape[0] != d0
        || (uint64_t) t->shape[1] != d1)
    {
        len = 0;
        got[len++] = '[';
        for (i = 0; i < t->n_dims; i++) {
            len += (size_t) snprintf(got + len, sizeof(got) - len, "%s%lld",
                                     i ? ", " : "",
                                     (long long) t->shape[i]);
        }
        snprintf(got + len, sizeof(got) - len, "]");
        lmd_w_err(err, errlen, "%s: tensor %s: shape %s but config.json "
                  "says [%llu, %llu] (AWQ, group_size %u)", t->file, name,
                  got, (unsigned long long) d0, (unsigned long long) d1,
                  w->cfg.group_size);
        return NULL;
    }
    w->bytes += t->nbytes;
    return t;
}


/* Binds the AWQ linear whose HF name is NAME.weight (out rows, in cols)
 * to its NAME.qweight, NAME.qzeros and NAME.scales. */
static int
lmd_w_bind_awq(struct lmd_model_weights *w, struct lmd_wmat *m,
    const char *weight_name, uint32_t out, uint32_t in, char *err,
    size_t errlen)
{
    const struct lmd_tensor  *qw, *qz, *sc;
    uint32_t                  g = w->cfg.group_size;
    size_t                    base;
    char                      name[LMD_W_NAME_LEN + 8];

    base = strlen(weight_name) - strlen(".weight");
    snprintf(name, sizeof(name), "%.*s.qweight", (int) base, weight_name);
    qw = lmd_w_awq_tensor(w, name, LMD_DTYPE_I32, in, out / 8, err, errlen);
    if (qw == NULL) {
        return LMD_ERROR;
    }
    snprintf(name, sizeof(name), "%.*s.qzeros", (int) base, weight_name);
    qz = lmd_w_awq_tensor(w, name, LMD_DTYPE_I32, in / g, out / 8, err,
                          errlen);
    if (qz == NULL) {
        return LMD_ERROR;
    }
    snprintf(name, sizeof(name), "%.*s.scales", (int) base, weight_name);
    sc = lmd_w_awq_tensor(w, name, LMD_DTYPE_F16, in / g, out, err,
                          errlen);
    if (sc == NULL) {
        return LMD_ERROR;
    }
    m->dtype = LMD_DTYPE_I32;
    m->rows = out;
    m->cols = in;
    m->data = qw->data;
    m->name = qw->name;
    m->awq.qweight = qw->data;
    m->awq.qzeros = qz->data;
    m->awq.scales = sc->data;
    m->awq.in = in;
    m->awq.out = out;
    m->awq.group = g;
    m->awq.qweight_name = qw->name;
    m->awq.qzeros_name = qz->name;
    m->awq.scales_name = sc->name;
    return LMD_OK;
}


static void *
lmd_w_copy_alloc(struct lmd_model_weights *w, size_t size)
{
    struct lmd_w_priv  *p = w->priv;
    void              **c, *buf;

    c = realloc(p->copies, (p->ncopies + 1) * sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    p->copies = c;
    buf = malloc(size ? size : 1);
    if (buf != NULL) {
        p->copies[p->ncopies++] = buf;
    }
    return buf;
}


/* Splits InternLM2's grouped wqkv (or its bias, vec) of layer l into
 * q, k and v. */
static int
lmd_w_split(struct lmd_model_weights *w, struct lmd_layer_weights *lw,
    uint32_t l, int vec, char *err, size_t errlen)
{
    const struct lmd_model_config  *c = &w->cfg;
    struct lmd_wmat                 fused, *part[3];
    const uint8_t                  *src;
    uint8_t                        *dst[3];
    uint32_t                        qpk, rows, cols, g;
    size_t                          row, hd, i;
    char                            name[LMD_W_NAME_LEN];

    qpk = c->n_heads / c->n_kv_heads;
    rows = c->n_kv_heads * (qpk + 2) * c->head_dim;
    cols = vec ? rows : c->hidden_size;
    snprintf(name, sizeof(name), "model.layers.%u.attention.wqkv.%s", l,
             vec ? "bias" : "weight");
    memset(&fused, 0, sizeof(fused));
    if (lmd_w_bind(w, &fused, name, vec, rows, cols, err, errlen)
        != LMD_OK)
    {
        return LMD_ERROR;
    }
    /* Counted below as the three parts. */
    w->bytes -= lmd_wmat_bytes(&fused);

    part[0] = vec ? &lw->bq : &lw->wq;
    part[1] = vec ? &lw->bk : &lw->wk;
    part[2] = vec ? &lw->bv : &lw->wv;
    for (i = 0; i < 3; i++) {
        part[i]->dtype = fused.dtype;
        part[i]->rows = vec ? 1 : (i == 0 ? c->n_heads : c->n_kv_heads)
                                  * c->head_dim;
        part[i]->cols = vec ? (i == 0 ? c->n_heads : c->n_kv_heads)
                              * c->head_dim : c->hidden_size;
        part[i]->name = fused.name;
        dst[i] = lmd_w_copy_alloc(w, lmd_wmat_bytes(part[i]));
        if (dst[i] == NULL) {
            lmd_w_err(err, errlen, "%s: out of memory", name);
            return LMD_ERROR;
        }
        part[i]->data = dst[i];
        w->bytes += lmd_wmat_bytes(part[i]);
    }

    /* One "row" of the fused tensor: a row of the matrix, or one value
     * of the bias. */
    row = (vec ? 1 : (size_t) c->hidden_size) * lmd_dtype_size(fused.dtype);
    hd = (size_t) c->head_dim * row;
    src = fused.data;
    for (g = 0; g < c->n_kv_heads; g++) {
        memcpy(dst[0], src, qpk * hd);
        dst[0] += qpk * hd;
        src += qpk * hd;
        memcpy(dst[1], src, hd);
        dst[1] += hd;
        src += hd;
        memcpy(dst[2], src, hd);
        dst[2] += hd;
        src += hd;
    }
    return LMD_OK;
}


/* InternLM2's "bias": true gives wo a bias too, which the roles have no
 * slot for: accepted only when it is all zeros. */
static int
lmd_w_wo_bias(struct lmd_model_weights *w, uint32_t l, char *err,
    size_t errlen)
{
    struct lmd_w_priv        *p = w->priv;
    const struct lmd_tensor  *t;
    const uint8_t            *b;
    size_t                    i, k, esize;
    char                      name[LMD_W_NAME_LEN];

    snprintf(name, sizeof(name), "model.layers.%u.attention.wo.bias", l);
    t = lmd_safetensors_find(p->st, name);
    if (t == NULL) {
        return LMD_OK;
    }
    esize = lmd_dtype_size(t->dtype);
    b = t->data;
    for (i = 0; i < t->nbytes; i += esize) {
        /* Zero is all bits clear but for the sign, in every float. */
        for (k = 0; k < esize; k++) {
            if ((b[i + k] & (k == esize - 1 ? 0x7f : 0xff)) != 0) {
                lmd_w_err(err, errlen, "%s: tensor %s: an output "
                          "projection bias is not supported", t->file,
                          name);
                return LMD_ERROR;
            }
        }
    }
    return LMD_OK;
}


static int
lmd_w_read(struct lmd_model_weights *w, const char *dir, char *err,
    size_t errlen)
{
    const struct lmd_model_config  *c = &w->cfg;
    struct lmd_w_priv              *p = w->priv;
    const struct lmd_w_role        *r;
    struct lmd_layer_weights       *lw;
    struct lmd_wmat                *m;
    const char                     *name;
    uint32_t                        l, rows, cols;
    size_t                          i;
    char                            buf[LMD_W_NAME_LEN];
    int                             vec, intern;

    p->st = lmd_safetensors_open(dir, err, errlen);
    if (p->st == NULL) {
        return LMD_ERROR;
    }
    intern = c->arch == LMD_ARCH_INTERNLM2;

    vec = lmd_w_shape(c, LMD_W_VOCAB, &rows, &cols);
    if (lmd_w_bind(w, &w->embed, intern ? "model.tok_embeddings.weight"
                                        : "model.embed_tokens.weight",
                   vec, rows, cols, err, errlen) != LMD_OK)
    {
        return LMD_ERROR;
    }
    if (c->tie_word_embeddings) {
        w->lm_head = w->embed;
    } else if (lmd_w_bind(w, &w->lm_head,
                          intern ? "output.weight" : "lm_head.weight",
                          vec, rows, cols, err, errlen) != LMD_OK)
    {
        return LMD_ERROR;
    }
    vec = lmd_w_shape(c, LMD_W_HIDDEN_VEC, &rows, &cols);
    if (lmd_w_bind(w, &w->final_norm, "model.norm.weight", vec, rows, cols,
                   err, errlen) != LMD_OK)
    {
        return LMD_ERROR;
    }

    for (l = 0; l < c->n_layers; l++) {
        lw = &w->layers[l];
        for (i = 0; i < LMD_W_NROLES; i++) {
            r = &lmd_w_roles[i];
            m = (struct lmd_wmat *) ((char *) lw + r->off);
            name = lmd_w_role_name(c, r, l, buf, sizeof(buf));
            if (name == NULL) {
                continue;               /* no biases */
            }
            if (intern && r->internlm2 == NULL) {
                /* q, k and v (or their biases) come out of wqkv at once,
                 * when the loop meets q. */
                if ((r->off == offsetof(struct lmd_layer_weights, wq)
                     || r->off == offsetof(struct lmd_layer_weights, bq))
                    && lmd_w_split(w, lw, l, r->bias, err, errlen) != LMD_OK)
                {
                    return LMD_ERROR;
                }
                continue;
            }
            vec = lmd_w_shape(c, r->shape, &rows, &cols);
            if (c->quant == LMD_QUANT_AWQ && !vec) {
                if (lmd_w_bind_awq(w, m, name, rows, cols, err, errlen)
                    != LMD_OK)
                {
                    return LMD_ERROR;
                }
                continue;
            }
            if (lmd_w_bind(w, m, name, vec, rows, cols, err, errlen)
                != LMD_OK)
            {
                return LMD_ERROR;
            }
        }
        if (intern && c->qkv_bias
            && lmd_w_wo_bias(w, l, err, errlen) != LMD_OK)
        {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


/* ------------------------------------------------------------------------
 * Dummy weights
 * ------------------------------------------------------------------------ */

/* Gives m its shape, dtype, name and place in the arena; with arena NULL
 * only adds up the size. */
static void
lmd_w_place(struct lmd_model_weights *w, struct lmd_wmat *m, int shape,
    const char *name, uint8_t *arena, size_t *off, char **names)
{
    size_t  size;

    lmd_w_shape(&w->cfg, shape, &m->rows, &m->cols);
    m->dtype = w->cfg.torch_dtype;
    size = lmd_wmat_bytes(m);
    if (arena != NULL) {
        m->data = arena + *off;
        snprintf(*names, LMD_W_NAME_LEN, "%s", name);
        m->name = *names;
        *names += LMD_W_NAME_LEN;
        w->bytes += size;
    }
    *off += (size + LMD_W_ALIGN - 1) & ~(size_t) (LMD_W_ALIGN - 1);
}


/* One AWQ tensor of size bytes in the arena, named NAME.suffix. */
static const void *
lmd_w_place_one(struct lmd_model_weights *w, size_t size,
    const char *weight_name, const char *suffix, uint8_t *arena,
    size_t *off, char **names, const char **name)
{
    const void  *data = NULL;
    size_t       base;

    if (arena != NULL) {
        data = arena + *off;
        base = strlen(weight_name) - strlen(".weight");
        snprintf(*names, LMD_W_NAME_LEN, "%.*s.%s", (int) base,
                 weight_name, suffix);
        *name = *names;
        *names += LMD_W_NAME_LEN;
        w->bytes += size;
    }
    *off += (size + LMD_W_ALIGN - 1) & ~(size_t) (LMD_W_ALIGN - 1);
    return data;
}


/* An AWQ linear's three tensors (lmd_w_place for a quantized matrix). */
static void
lmd_w_place_awq(struct lmd_model_weights *w, struct lmd_wmat *m, int shape,
    const char *name, uint8_t *arena, size_t *off, char **names)
{
    struct lmd_awq_mat  *a = &m->awq;
    uint32_t             g = w->cfg.group_size;

    lmd_w_shape(&w->cfg, shape, &m->rows, &m->cols);
    m->dtype = LMD_DTYPE_I32;
    a->out = m->rows;
    a->in = m->cols;
    a->group = g;
    a->qweight = lmd_w_place_one(w, (size_t) a->in * (a->out / 8) * 4,
                                 name, "qweight", arena, off, names,
                                 &a->qweight_name);
    a->qzeros = lmd_w_place_one(w, (size_t) (a->in / g) * (a->out / 8) * 4,
                                name, "qzeros", arena, off, names,
                                &a->qzeros_name);
    a->scales = lmd_w_place_one(w, (size_t) (a->in / g) * a->out * 2, name,
                                "scales", arena, off, names,
                                &a->scales_name);
    m->data = a->qweight;
    m->name = a->qweight_name;
}


/* Lays every tensor out in arena (or, with arena NULL, sizes it);
 * returns the bytes needed and the number of tensors in *count. */
static size_t
lmd_w_layout(struct lmd_model_weights *w, uint8_t *arena, char *names,
    size_t *count)
{
    const struct lmd_model_config  *c = &w->cfg;
    const struct lmd_w_role        *r;
    struct lmd_wmat                *m;
    const char                     *name;
    uint32_t                        l;
    size_t                          off, i;
    char                            buf[LMD_W_NAME_LEN];
    int                             intern;

    intern = c->arch == LMD_ARCH_INTERNLM2;
    off = 0;
    *count = 0;
    lmd_w_place(w, &w->embed, LMD_W_VOCAB,
                intern ? "model.tok_embeddings.weight"
                       : "model.embed_tokens.weight", arena, &off, &names);
    (*count)++;
    if (c->tie_word_embeddings) {
        w->lm_head = w->embed;
    } else {
        lmd_w_place(w, &w->lm_head, LMD_W_VOCAB,
                    intern ? "output.weight" : "lm_head.weight", arena,
                    &off, &names);
        (*count)++;
    }
    lmd_w_place(w, &w->final_norm, LMD_W_HIDDEN_VEC, "model.norm.weight",
                arena, &off, &names);
    (*count)++;
    for (l = 0; l < c->n_layers; l++) {
        for (i = 0; i < LMD_W_NROLES; i++) {
            r = &lmd_w_roles[i];
            m = (struct lmd_wmat *) ((char *) &w->layers[l] + r->off);
            name = lmd_w_role_name(c, r, l, buf, sizeof(buf));
            if (name == NULL) {
                continue;
            }
            if (c->quant == LMD_QUANT_AWQ && r->shape != LMD_W_HIDDEN_VEC
                && !r->bias)
            {
                lmd_w_place_awq(w, m, r->shape, name, arena, &off, &names);
                *count += 3;
                continue;
            }
            lmd_w_place(w, m, r->shape, name, arena, &off, &names);
            (*count)++;
        }
    }
    return off;
}


static int
lmd_w_dummy(struct lmd_model_weights *w, uint64_t seed, char *err,
    size_t errlen)
{
    struct lmd_w_priv  *p = w->priv;
    size_t              size, count;
    void               *arena;

    size = lmd_w_layout(w, NULL, NULL, &count);
    p->names = malloc(count * LMD_W_NAME_LEN);
    if (p->names == NULL) {
        lmd_w_err(err, errlen, "dummy weights: out of memory");
        return LMD_ERROR;
    }
    arena = mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (arena == MAP_FAILED) {
        lmd_w_err(err, errlen, "dummy weights: cannot allocate %zu bytes",
                  size);
        return LMD_ERROR;
    }
    p->arena = arena;
    p->arena_len = size ? size : 1;
#ifdef MADV_HUGEPAGE
    (void) madvise(arena, p->arena_len, MADV_HUGEPAGE);
#endif
    lmd_w_layout(w, arena, p->names, &count);
    return lmd_model_dummy_fill(w, seed, err, errlen);
}


/* ------------------------------------------------------------------------
 * Loading and freeing
 * ------------------------------------------------------------------------ */

struct lmd_model_weights *
lmd_model_weights_load(const char *dir, const char *load_format,
    uint64_t seed, char *err, size_t errlen)
{
    struct lmd_model_weights  *w;
    int                        dummy, rc;

    if (load_format == NULL || strcmp(load_format, "auto") == 0) {
        dummy = 0;
    } else if (strcmp(load_format, "dummy") == 0) {
        dummy = 1;
    } else {
        lmd_w_err(err, errlen, "%s: load_format %s is not supported (auto, "
                  "dummy)", dir, load_format);
        return NULL;
    }

    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        lmd_w_err(err, errlen, "%s: out of memory", dir);
        return NULL;
    }
    w->priv = calloc(1, sizeof(struct lmd_w_priv));
    if (w->priv == NULL
        || lmd_model_config_load(dir, &w->cfg, err, errlen) != LMD_OK)
    {
        if (w->priv == NULL) {
            lmd_w_err(err, errlen, "%s: out of memory", dir);
        }
        lmd_model_weights_free(w);
        return NULL;
    }
    w->layers = calloc(w->cfg.n_layers, sizeof(*w->layers));
    if (w->layers == NULL) {
        lmd_w_err(err, errlen, "%s: out of memory", dir);
        lmd_model_weights_free(w);
        return NULL;
    }

    rc = dummy ? lmd_w_dummy(w, seed, err, errlen)
               : lmd_w_read(w, dir, err, errlen);
    if (rc != LMD_OK) {
        lmd_model_weights_free(w);
        return NULL;
    }
    return w;
}


void
lmd_model_weights_free(struct lmd_model_weights *w)
{
    struct lmd_w_priv  *p;
    size_t              i;

    if (w == NULL) {
        return;
    }
    p = w->priv;
    if (p != NULL) {
        lmd_safetensors_close(p->st);
        for (i = 0; i < p->ncopies; i++) {
            free(p->copies[i]);
        }
        free(p->copies);
        if (p->arena != NULL) {
            munmap(p->arena, p->arena_len);
        }
        free(p->names);
        free(p);
    }
    free(w->layers);
    free(w);
}
