/*
 * cpu_model.c -- loads a model folder and prepares its weights for the
 * cpu kernels.
 *
 * The loader (engine/lmd_model_weights.c) gives every tensor by role;
 * here each matrix becomes a struct cpu_weight in the configured dtype,
 * and norms and biases become f32 arrays.  The projections that read the
 * same input are fused, rows concatenated, so that a step makes one pass
 * over its activations where the model has two or three:
 *
 *   wqkv      = wq | wk | wv        [q_dim + 2 * kv_dim][hidden]
 *   w_gate_up = w_gate | w_up       [2 * inter][hidden]
 *
 * Ownership: cpu_weight_prepare may leave a weight pointing into its
 * source when nothing needs converting.  A fused source is our own
 * buffer, kept in w.keep when that happens; the loader (its mapping) is
 * kept in e->src while any weight points into it, else freed at once.
 */

#include "cpu_engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Does w's data lie inside the size bytes at base? */
static int
cpu_points_into(const struct cpu_weight *w, const void *base, size_t size)
{
    const char  *p = w->data, *b = base;

    return base != NULL && p >= b && p < b + size;
}


static size_t
cpu_wmat_bytes(const struct lmd_wmat *m)
{
    return (size_t) m->rows * m->cols * lmd_dtype_size(m->dtype);
}


/* A vector (norm weight, bias) as n f32 values, or NULL on error. */
static float *
cpu_vec_load(struct cpu_engine *e, const struct lmd_wmat *m, uint32_t n,
    char *err, size_t errlen)
{
    float  *v;

    if (m->data == NULL || (uint64_t) m->rows * m->cols != n) {
        snprintf(err, errlen, "%s: expected %u values", m->name, n);
        return NULL;
    }
    v = malloc((size_t) n * sizeof(float));
    if (v == NULL) {
        snprintf(err, errlen, "%s: out of memory", m->name);
        return NULL;
    }
    lmd_dtype_to_f32(m->dtype, m->data, v, n);
    e->w.bytes += (uint64_t) n * sizeof(float);
    return v;
}


/* Remembers a buffer a weight points into, freed by cpu_model_free. */
static int
cpu_keep(struct cpu_engine *e, void *buf, char *err, size_t errlen)
{
    void  **k;

    k = realloc(e->w.keep, (e->w.n_keep + 1) * sizeof(void *));
    if (k == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    k[e->w.n_keep++] = buf;
    e->w.keep = k;
    return 0;
}


static int
cpu_prepare(struct cpu_engine *e, const struct lmd_wmat *m, int dtype,
    struct cpu_weight *w, char *err, size_t errlen)
{
    if (cpu_weight_prepare(m, dtype, w, err, errlen) != 0) {
        return -1;
    }
    e->w.bytes += w->bytes;
    return 0;
}


/* Prepares the row concatenation of n matrices with the same dtype and
 * columns (e.g. wq | wk | wv) as one weight named after the first. */
static int
cpu_prepare_fused(struct cpu_engine *e, const struct lmd_wmat **m,
    uint32_t n, int dtype, struct cpu_weight *w, char *err, size_t errlen)
{
    struct lmd_wmat  cat;
    size_t           size, off;
    uint32_t         i;
    char            *buf;

    cat = *m[0];
    cat.rows = 0;
    size = 0;
    for (i = 0; i < n; i++) {
        if (m[i]->data == NULL || m[i]->dtype != m[0]->dtype
            || m[i]->cols != m[0]->cols)
        {
            snprintf(err, errlen, "%s: cannot be fused with %s (dtype or "
                     "columns differ)", m[i]->name, m[0]->name);
            return -1;
        }
        cat.rows += m[i]->rows;
        size += cpu_wmat_bytes(m[i]);
    }

    buf = malloc(size);
    if (buf == NULL) {
        snprintf(err, errlen, "%s: out of memory", m[0]->name);
        return -1;
    }
    for (off = 0, i = 0; i < n; i++) {
        memcpy(buf + off, m[i]->data, cpu_wmat_bytes(m[i]));
        off += cpu_wmat_bytes(m[i]);
    }
    cat.data = buf;

    if (cpu_prepare(e, &cat, dtype, w, err, errlen) != 0) {
        free(buf);
        return -1;
    }
    if (!cpu_points_into(w, buf, size)) {
        free(buf);
        return 0;
    }
    if (cpu_keep(e, buf, err, errlen) != 0) {
        free(buf);
        return -1;
    }
    return 0;
}


static int
cpu_layer_load(struct cpu_engine *e, const struct lmd_layer_weights *lw,
    struct cpu_layer *l, int dtype, char *err, size_t errlen)
{
    const struct lmd_wmat  *qkv[3] = { &lw->wq, &lw->wk, &lw->wv };
    const struct lmd_wmat  *gate_up[2] = { &lw->w_gate, &lw->w_up };
    const struct cpu_dims  *d = &e->d;
    uint32_t                i;

    l->attn_norm = cpu_vec_load(e, &lw->attn_norm, d->hidden, err, errlen);
    if (l->attn_norm == NULL) {
        return -1;
    }
    if (cpu_prepare_fused(e, qkv, 3, dtype, &l->wqkv, err, errlen) != 0) {
        return -1;
    }

    /* Biases come in threes (Qwen2) or not at all; an absent one adds
     * zeros. */
    if (lw->bq.data != NULL || lw->bk.data != NULL || lw->bv.data != NULL) {
        l->bqkv = calloc(d->qkv_dim, sizeof(float));
        if (l->bqkv == NULL) {
            snprintf(err, errlen, "%s: out of memory", lw->bq.name);
            return -1;
        }
        e->w.bytes += (uint64_t) d->qkv_dim * sizeof(float);
        for (i = 0; i < 3; i++) {
            const struct lmd_wmat  *b = i == 0 ? &lw->bq
                                      : i == 1 ? &lw->bk : &lw->bv;
            uint32_t                off = i == 0 ? 0
                                      : i == 1 ? d->q_dim
                                               : d->q_dim + d->kv_dim;
            uint32_t                n = i == 0 ? d->q_dim : d->kv_dim;

            if (b->data == NULL) {
                continue;
            }
            if ((uint64_t) b->rows * b->cols != n) {
                snprintf(err, errlen, "%s: expected %u values", b->name, n);
                return -1;
            }
            lmd_dtype_to_f32(b->dtype, b->data, l->bqkv + off, n);
        }
    }

    if (cpu_prepare(e, &lw->wo, dtype, &l->wo, err, errlen) != 0) {
        return -1;
    }
    l->ffn_norm = cpu_vec_load(e, &lw->ffn_norm, d->hidden, err, errlen);
    if (l->ffn_norm == NULL) {
        return -1;
    }
    if (cpu_prepare_fused(e, gate_up, 2, dtype, &l->w_gate_up, err, errlen)
        != 0)
    {
        return -1;
    }
    return cpu_prepare(e, &lw->w_down, dtype, &l->w_down, err, errlen);
}


/* Sizes derived once from the config; 0 or -1 if they make no sense
 * (the loader checked the tensors against them). */
static int
cpu_dims_init(struct cpu_engine *e, const char *dir, char *err,
    size_t errlen)
{
    const struct lmd_model_config  *c = &e->cfg;
    struct cpu_dims                *d = &e->d;

    if (c->n_heads == 0 || c->n_kv_heads == 0 || c->head_dim == 0
        || c->head_dim % 2 != 0 || c->n_heads % c->n_kv_heads != 0
        || c->hidden_size == 0 || c->vocab_size == 0 || c->n_layers == 0)
    {
        snprintf(err, errlen, "%s/config.json: unsupported shape (heads "
                 "%u, kv heads %u, head_dim %u)", dir, c->n_heads,
                 c->n_kv_heads, c->head_dim);
        return -1;
    }
    d->hidden = c->hidden_size;
    d->inter = c->intermediate_size;
    d->n_layers = c->n_layers;
    d->n_heads = c->n_heads;
    d->n_kv_heads = c->n_kv_heads;
    d->head_dim = c->head_dim;
    d->group = c->n_heads / c->n_kv_heads;
    d->q_dim = c->n_heads * c->head_dim;
    d->kv_dim = c->n_kv_heads * c->head_dim;
    d->qkv_dim = d->q_dim + 2 * d->kv_dim;
    d->vocab = c->vocab_size;
    d->window = c->sliding_window;
    d->eps = c->rms_norm_eps;
    d->att_scale = 1.0f / sqrtf((float) c->head_dim);
    return 0;
}


/* Does any prepared matrix still point into the loader's tensors? */
static int
cpu_uses_source(const struct cpu_engine *e, const struct lmd_model_weights
    *src)
{
    const struct cpu_layer          *l;
    const struct lmd_layer_weights  *lw;
    uint32_t                         i;

    if (cpu_points_into(&e->w.lm_head, src->lm_head.data,
                        cpu_wmat_bytes(&src->lm_head))
        || cpu_points_into(&e->w.embed, src->embed.data,
                           cpu_wmat_bytes(&src->embed)))
    {
        return 1;
    }
    for (i = 0; i < e->d.n_layers; i++) {
        l = &e->w.layers[i];
        lw = &src->layers[i];
        if (cpu_points_into(&l->wo, lw->wo.data, cpu_wmat_bytes(&lw->wo))
            || cpu_points_into(&l->w_down, lw->w_down.data,
                               cpu_wmat_bytes(&lw->w_down)))
        {
            return 1;
        }
    }
    return 0;
}


int
cpu_model_load(struct cpu_engine *e, const struct lmd_engine_params *p,
    char *err, size_t errlen)
{
    struct lmd_model_weights  *src;
    const char                *wname;
    int                        dtype;
    uint32_t                   i;

    wname = p->weights != NULL ? p->weights : "auto";
    dtype = lmd_dtype_from_weights(wname);
    if (dtype == -2) {
        snprintf(err, errlen, "%s: weights: unknown dtype \"%s\" (auto, "
                 "f32, f16, bf16 or int8)", p->path, wname);
        return -1;
    }

    src = lmd_model_weights_load(p->path,
              p->load_format != NULL ? p->load_format : "auto", p->seed,
              err, errlen);
    if (src == NULL) {
        return -1;
    }
    e->src = src;
    e->cfg = src->cfg;
    if (src->cfg.quant == LMD_QUANT_AWQ) {
        snprintf(err, errlen, "%s: cpu engine: AWQ checkpoints need the "
                 "cuda-awq engine", p->path);
        return -1;
    }
    if (cpu_dims_init(e, p->path, err, errlen) != 0) {
        return -1;
    }

    e->w.layers = calloc(e->d.n_layers, sizeof(struct cpu_layer));
    if (e->w.layers == NULL) {
        snprintf(err, errlen, "%s: out of memory", p->path);
        return -1;
    }
    for (i = 0; i < e->d.n_layers; i++) {
        if (cpu_layer_load(e, &src->layers[i], &e->w.layers[i], dtype, err,
                           errlen) != 0)
        {
            return -1;
        }
    }

    e->w.final_norm = cpu_vec_load(e, &src->final_norm, e->d.hidden, err,
                                   errlen);
    if (e->w.final_norm == NULL) {
        return -1;
    }
    if (cpu_prepare(e, &src->lm_head, dtype, &e->w.lm_head, err, errlen)
        != 0)
    {
        return -1;
    }

    /* Tied embeddings: the lookup reads rows of the prepared lm_head. */
    if (src->embed.data == src->lm_head.data) {
        e->w.lookup = &e->w.lm_head;
    } else {
        if (cpu_prepare(e, &src->embed, dtype, &e->w.embed, err, errlen)
            != 0)
        {
            return -1;
        }
        e->w.lookup = &e->w.embed;
    }

    snprintf(e->dtype_name, sizeof(e->dtype_name), "%s",
             lmd_dtype_name(e->w.layers[0].wqkv.dtype));

    if (!cpu_uses_source(e, src)) {
        lmd_model_weights_free(src);
        e->src = NULL;
    }
    return 0;
}


void
cpu_model_free(struct cpu_engine *e)
{
    struct cpu_layer  *l;
    uint32_t           i;

    if (e->w.layers != NULL) {
        for (i = 0; i < e->d.n_layers; i++) {
            l = &e->w.layers[i];
            free(l->attn_norm);
            free(l->bqkv);
            free(l->ffn_norm);
            cpu_weight_free(&l->wqkv);
            cpu_weight_free(&l->wo);
            cpu_weight_free(&l->w_gate_up);
            cpu_weight_free(&l->w_down);
        }
        free(e->w.layers);
    }
    free(e->w.final_norm);
    cpu_weight_free(&e->w.lm_head);
    cpu_weight_free(&e->w.embed);
    for (i = 0; i < e->w.n_keep; i++) {
        free(e->w.keep[i]);
    }
    free(e->w.keep);
    if (e->src != NULL) {
        lmd_model_weights_free(e->src);
    }
    memset(&e->w, 0, sizeof(e->w));
    e->src = NULL;
}
