/*
 * cuda_model.c -- loads a model folder and uploads its weights to the
 * device, in the engine's 16-bit type.
 *
 * The loader (engine/lmd_model_weights.c) gives every tensor by role.
 * Matrices become act [rows][cols] (converted on the host where the
 * checkpoint's dtype differs), AWQ linears stay packed as AutoAWQ wrote
 * them, norms and biases become f32.  As in the cpu engine, projections
 * that read the same input are fused, so a step reads its activations
 * once where the model has two or three products:
 *
 *   wqkv      = wq | wk | wv      dense: rows concatenated; AWQ: the
 *   w_gate_up = w_gate | w_up     out-columns of every packed row
 *
 * Everything is uploaded in two passes over the same code: the first
 * only adds up the bytes, so that the weights take one exact device
 * allocation; the second takes the pieces and copies.
 */

#include "cuda_engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Host staging for conversions, reused for every tensor. */
#define CUDA_STAGE_BYTES    (64u << 20)

struct cuda_upload {
    struct cuda_engine *e;
    int                 sizing;     /* 1: count bytes only */
    size_t              need;       /* bytes counted */
    void               *stage;      /* CUDA_STAGE_BYTES, pinned */
    char               *err;
    size_t              errlen;
};


static size_t
cuda_round256(size_t n)
{
    return (n + 255) & ~(size_t) 255;
}


/* A device piece of n bytes, or NULL (sizing pass, or out of room with
 * err set: the sizing pass and this one disagree, a bug). */
static int
cuda_take(struct cuda_upload *u, size_t n, void **p, const char *name)
{
    *p = NULL;
    if (u->sizing) {
        u->need += cuda_round256(n);
        return 0;
    }
    *p = cuda_arena_take(&u->e->warena, n);
    if (*p == NULL) {
        snprintf(u->err, u->errlen, "cuda-awq: %s: weight arena too small "
                 "(%zu bytes wanted)", name, n);
        return -1;
    }
    return 0;
}


/* Copies n elements of dtype at src to dst on the device, converted to
 * the engine's act type (or to f32 when f32 is set). */
static int
cuda_put(struct cuda_upload *u, void *dst, const void *src, int dtype,
    size_t n, int f32, const char *name)
{
    size_t        chunk, i, k, esz = f32 ? 4 : 2;
    cudaError_t   rc;
    const char   *s = src;
    char         *d = dst;
    float        *tmp;
    uint16_t     *h;
    float         one;
    int           act_dt;

    act_dt = u->e->act == CUDA_ACT_F16 ? LMD_DTYPE_F16 : LMD_DTYPE_BF16;
    if ((f32 && dtype == LMD_DTYPE_F32) || (!f32 && dtype == act_dt)) {
        rc = cudaMemcpy(dst, src, n * esz, cudaMemcpyHostToDevice);
        if (rc != cudaSuccess) {
            return cuda_fail(u->err, u->errlen, name, rc);
        }
        return 0;
    }

    chunk = CUDA_STAGE_BYTES / 4;           /* elements per round */
    tmp = u->stage;
    for (i = 0; i < n; i += chunk) {
        k = n - i < chunk ? n - i : chunk;
        lmd_dtype_to_f32(dtype, s + i * lmd_dtype_size(dtype), tmp, k);
        if (!f32) {
            h = (uint16_t *) tmp;           /* narrowing in place: the
                                               write stays behind the read */
            for (size_t j = 0; j < k; j++) {
                one = tmp[j];
                h[j] = u->e->act == CUDA_ACT_F16 ? lmd_f32_to_f16(one)
                                                 : lmd_f32_to_bf16(one);
            }
        }
        rc = cudaMemcpy(d + i * esz, tmp, k * esz, cudaMemcpyHostToDevice);
        if (rc != cudaSuccess) {
            return cuda_fail(u->err, u->errlen, name, rc);
        }
    }
    return 0;
}


/* A norm weight as f32 [n]. */
static int
cuda_vec(struct cuda_upload *u, const struct lmd_wmat *m, uint32_t n,
    float **out)
{
    void  *p;

    if (m->data == NULL || (uint64_t) m->rows * m->cols != n) {
        snprintf(u->err, u->errlen, "%s: expected %u values", m->name, n);
        return -1;
    }
    if (cuda_take(u, (size_t) n * 4, &p, m->name) != 0) {
        return -1;
    }
    *out = p;
    if (u->sizing) {
        return 0;
    }
    u->e->w.bytes += (uint64_t) n * 4;
    return cuda_put(u, p, m->data, m->dtype, n, 1, m->name);
}


/*
 * The n AWQ linears m (their out-columns side by side) into w's
 * kernel layout: the checkpoint's qweight [in][out/8], qzeros and
 * scales go to a scratch allocation (2-D copies of every piece's
 * columns into place), awq_gemv_pack rewrites them into w->gv_w and
 * w->gv_sz, and the scratch is freed.
 */
static int
cuda_awq_upload(struct cuda_upload *u, const struct lmd_wmat **m,
    uint32_t n, struct cuda_mat *w)
{
    const struct lmd_awq_mat  *a;
    struct awq_args            args;
    const uint32_t             rows = w->rows, ng = w->cols / w->group;
    const size_t               qwb = (size_t) w->cols * rows / 2;
    const size_t               qzb = (size_t) ng * rows / 2;
    char                      *tmp = NULL;
    cudaError_t                rc;
    uint32_t                   i, off;

    /* sizes rounded to 16 bytes keep the three pieces aligned */
    rc = cudaMalloc((void **) &tmp, qwb + ((qzb + 15) & ~(size_t) 15)
                                    + (size_t) ng * rows * 2);
    for (off = 0, i = 0; rc == cudaSuccess && i < n; i++) {
        a = &m[i]->awq;
        rc = cudaMemcpy2D(tmp + off / 2, rows / 2, a->qweight, a->out / 2,
                          a->out / 2, a->in, cudaMemcpyHostToDevice);
        if (rc == cudaSuccess) {
            rc = cudaMemcpy2D(tmp + qwb + off / 2, rows / 2, a->qzeros,
                              a->out / 2, a->out / 2, ng,
                              cudaMemcpyHostToDevice);
        }
        if (rc == cudaSuccess) {
            rc = cudaMemcpy2D(tmp + qwb + ((qzb + 15) & ~(size_t) 15)
                              + (size_t) off * 2, (size_t) rows * 2,
                              a->scales, (size_t) a->out * 2,
                              (size_t) a->out * 2, ng,
                              cudaMemcpyHostToDevice);
        }
        off += a->out;
    }
    if (rc == cudaSuccess) {
        memset(&args, 0, sizeof(args));
        args.qweight = (const int32_t *) tmp;
        args.qzeros = (const int32_t *) (tmp + qwb);
        args.scales = (const uint16_t *) (tmp + qwb
                                          + ((qzb + 15) & ~(size_t) 15));
        args.in = (int) w->cols;
        args.out = (int) rows;
        args.group = (int) w->group;
        if (awq_gemv_pack(&args, w->gv_w, w->gv_sz, 0) != 0) {
            rc = cudaGetLastError();
            rc = rc != cudaSuccess ? rc : cudaErrorInvalidValue;
        } else {
            rc = cudaDeviceSynchronize();
        }
    }
    if (tmp != NULL) {
        cudaFree(tmp);
    }
    if (rc != cudaSuccess) {
        return cuda_fail(u->err, u->errlen, m[0]->awq.qweight_name, rc);
    }
    return 0;
}


/* The row concatenation of n dense matrices (or AWQ linears: their
 * out-columns) as one struct cuda_mat. */
static int
cuda_fused(struct cuda_upload *u, const struct lmd_wmat **m, uint32_t n,
    struct cuda_mat *w)
{
    uint32_t                   i, rows = 0, off;
    size_t                     bytes;
    int                        awq = m[0]->dtype == LMD_DTYPE_I32;
    void                      *gw, *gs;
    size_t                     gv_w, gv_sz;

    for (i = 0; i < n; i++) {
        if (m[i]->data == NULL || m[i]->cols != m[0]->cols
            || (m[i]->dtype == LMD_DTYPE_I32) != awq
            || (awq && m[i]->awq.group != m[0]->awq.group))
        {
            snprintf(u->err, u->errlen, "%s: cannot be fused with %s (dtype, "
                     "columns or group differ)", m[i]->name, m[0]->name);
            return -1;
        }
        rows += m[i]->rows;
    }
    memset(w, 0, sizeof(*w));
    w->rows = rows;
    w->cols = m[0]->cols;

    if (!awq) {
        w->kind = CUDA_MAT_DENSE;
        bytes = (size_t) rows * w->cols * 2;
        if (cuda_take(u, bytes, &w->w, m[0]->name) != 0) {
            return -1;
        }
        if (u->sizing) {
            return 0;
        }
        u->e->w.bytes += bytes;
        for (off = 0, i = 0; i < n; i++) {
            if (cuda_put(u, (char *) w->w + (size_t) off * w->cols * 2,
                         m[i]->data, m[i]->dtype,
                         (size_t) m[i]->rows * m[i]->cols, 0, m[i]->name)
                != 0)
            {
                return -1;
            }
            off += m[i]->rows;
        }
        return 0;
    }

    /* AWQ: kept only in the kernels' layout (awq_gemv.cu), made from
     * the checkpoint's on the GPU by cuda_awq_upload. */
    w->kind = CUDA_MAT_AWQ;
    w->group = m[0]->awq.group;
    if (rows % 128 != 0) {
        snprintf(u->err, u->errlen, "%s: %u out-features: the AWQ kernels "
                 "need a multiple of 128", m[0]->awq.qweight_name, rows);
        return -1;
    }
    if (w->cols % 64 != 0 || w->group < 16
        || (w->group & (w->group - 1)) != 0)
    {
        snprintf(u->err, u->errlen, "%s: %u in-features, group %u: the AWQ "
                 "kernels need in-features a multiple of 64 and a group of "
                 "16, 32, 64, ... (a power of two)", m[0]->awq.qweight_name,
                 w->cols, w->group);
        return -1;
    }
    awq_gemv_packed_bytes((int) w->cols, (int) rows, (int) w->group,
                          &gv_w, &gv_sz);
    if (cuda_take(u, gv_w, &gw, m[0]->name) != 0
        || cuda_take(u, gv_sz, &gs, m[0]->name) != 0)
    {
        return -1;
    }
    if (u->sizing) {
        return 0;
    }
    w->gv_w = gw;
    w->gv_sz = gs;
    u->e->w.bytes += gv_w + gv_sz;
    return cuda_awq_upload(u, m, n, w);
    return 0;
}


static int
cuda_single(struct cuda_upload *u, const struct lmd_wmat *m,
    struct cuda_mat *w)
{
    return cuda_fused(u, &m, 1, w);
}


static int
cuda_layer_upload(struct cuda_upload *u, const struct lmd_layer_weights *lw,
    struct cuda_layer *l)
{
    const struct lmd_wmat   *qkv[3] = { &lw->wq, &lw->wk, &lw->wv };
    const struct lmd_wmat   *gate_up[2] = { &lw->w_gate, &lw->w_up };
    const struct lmd_wmat   *b;
    const struct cuda_dims  *d = &u->e->d;
    float                   *bias;
    void                    *p;
    uint32_t                 i, off, n;
    cudaError_t              rc;

    if (cuda_vec(u, &lw->attn_norm, d->hidden, &l->attn_norm) != 0
        || cuda_fused(u, qkv, 3, &l->wqkv) != 0)
    {
        return -1;
    }

    /* Biases come in threes (Qwen2) or not at all; an absent one adds
     * zeros. */
    l->bqkv = NULL;
    if (lw->bq.data != NULL || lw->bk.data != NULL || lw->bv.data != NULL) {
        if (cuda_take(u, (size_t) d->qkv_dim * 4, &p, lw->bq.name) != 0) {
            return -1;
        }
        l->bqkv = p;
        if (!u->sizing) {
            bias = calloc(d->qkv_dim, sizeof(float));
            if (bias == NULL) {
                snprintf(u->err, u->errlen, "%s: out of memory",
                         lw->bq.name);
                return -1;
            }
            for (i = 0; i < 3; i++) {
                b = i == 0 ? &lw->bq : i == 1 ? &lw->bk : &lw->bv;
                off = i == 0 ? 0 : i == 1 ? d->q_dim : d->q_dim + d->kv_dim;
                n = i == 0 ? d->q_dim : d->kv_dim;
                if (b->data == NULL) {
                    continue;
                }
                if ((uint64_t) b->rows * b->cols != n) {
                    snprintf(u->err, u->errlen, "%s: expected %u values",
                             b->name, n);
                    free(bias);
                    return -1;
                }
                lmd_dtype_to_f32(b->dtype, b->data, bias + off, n);
            }
            rc = cudaMemcpy(p, bias, (size_t) d->qkv_dim * 4,
                            cudaMemcpyHostToDevice);
            free(bias);
            if (rc != cudaSuccess) {
                return cuda_fail(u->err, u->errlen, lw->bq.name, rc);
            }
            u->e->w.bytes += (uint64_t) d->qkv_dim * 4;
        }
    }

    if (cuda_single(u, &lw->wo, &l->wo) != 0
        || cuda_vec(u, &lw->ffn_norm, d->hidden, &l->ffn_norm) != 0
        || cuda_fused(u, gate_up, 2, &l->w_gate_up) != 0
        || cuda_single(u, &lw->w_down, &l->w_down) != 0)
    {
        return -1;
    }
    return 0;
}


/* Every tensor, through cuda_take and cuda_put. */
static int
cuda_upload_all(struct cuda_upload *u, const struct lmd_model_weights *src)
{
    struct cuda_engine  *e = u->e;
    uint32_t             i;

    for (i = 0; i < e->n_layers; i++) {
        if (cuda_layer_upload(u, &src->layers[i], &e->w.layers[i]) != 0) {
            return -1;
        }
    }
    if (cuda_vec(u, &src->final_norm, e->d.hidden, &e->w.final_norm) != 0
        || cuda_single(u, &src->lm_head, &e->w.lm_head) != 0)
    {
        return -1;
    }
    if (e->w.lm_head.kind != CUDA_MAT_DENSE) {
        snprintf(u->err, u->errlen, "%s: a quantized lm_head is not "
                 "supported", src->lm_head.name);
        return -1;
    }
    if (src->embed.data == src->lm_head.data) {
        e->w.embed = e->w.lm_head.w;        /* tied */
        return 0;
    }
    if (src->embed.dtype == LMD_DTYPE_I32) {
        snprintf(u->err, u->errlen, "%s: a quantized embedding is not "
                 "supported", src->embed.name);
        return -1;
    }
    if (cuda_take(u, (size_t) e->d.vocab * e->d.hidden * 2, &e->w.embed,
                  src->embed.name) != 0)
    {
        return -1;
    }
    if (u->sizing) {
        return 0;
    }
    e->w.bytes += (uint64_t) e->d.vocab * e->d.hidden * 2;
    return cuda_put(u, e->w.embed, src->embed.data, src->embed.dtype,
                    (size_t) e->d.vocab * e->d.hidden, 0, src->embed.name);
}


/* Sizes derived once from the config, and what the kernels support. */
static int
cuda_dims_init(struct cuda_engine *e, const char *dir, char *err,
    size_t errlen)
{
    const struct lmd_model_config  *c = &e->cfg;
    struct cuda_dims               *d = &e->d;

    if (c->n_heads == 0 || c->n_kv_heads == 0 || c->head_dim == 0
        || c->head_dim % 2 != 0 || c->n_heads % c->n_kv_heads != 0
        || c->hidden_size == 0 || c->vocab_size == 0 || c->n_layers == 0)
    {
        snprintf(err, errlen, "%s/config.json: unsupported shape (heads "
                 "%u, kv heads %u, head_dim %u)", dir, c->n_heads,
                 c->n_kv_heads, c->head_dim);
        return -1;
    }
    if (c->head_dim > 256) {
        snprintf(err, errlen, "%s/config.json: cuda-awq supports head_dim "
                 "up to 256 (not %u)", dir, c->head_dim);
        return -1;
    }
    memset(d, 0, sizeof(*d));
    d->hidden = c->hidden_size;
    d->inter = c->intermediate_size;
    d->n_heads = c->n_heads;
    d->n_kv_heads = c->n_kv_heads;
    d->head_dim = c->head_dim;
    d->q_dim = c->n_heads * c->head_dim;
    d->kv_dim = c->n_kv_heads * c->head_dim;
    d->qkv_dim = d->q_dim + 2 * d->kv_dim;
    d->vocab = c->vocab_size;
    d->window = c->sliding_window;
    d->eps = c->rms_norm_eps;
    d->att_scale = 1.0f / sqrtf((float) c->head_dim);
    e->n_layers = c->n_layers;
    return 0;
}


/* The act type: "auto" keeps f16 and bf16 checkpoints as they are and
 * takes f16 for f32 ones (more mantissa; the activations of such small
 * models stay in f16's range); AWQ is f16 (its scales are). */
static int
cuda_pick_act(struct cuda_engine *e, const struct lmd_engine_params *p,
    char *err, size_t errlen)
{
    const char  *wname = p->weights != NULL ? p->weights : "auto";
    int          dt = lmd_dtype_from_weights(wname);

    if (dt == -1) {
        dt = e->cfg.torch_dtype == LMD_DTYPE_BF16 ? LMD_DTYPE_BF16
                                                   : LMD_DTYPE_F16;
    }
    if (dt != LMD_DTYPE_F16 && dt != LMD_DTYPE_BF16) {
        snprintf(err, errlen, "%s: weights \"%s\": the cuda-awq engine runs "
                 "f16 or bf16 (or AWQ checkpoints as they are); use auto, "
                 "f16 or bf16", p->path, wname);
        return -1;
    }
    if (e->cfg.quant == LMD_QUANT_AWQ && dt != LMD_DTYPE_F16) {
        if (strcmp(wname, "auto") != 0) {
            snprintf(err, errlen, "%s: weights \"%s\": AWQ checkpoints run "
                     "in f16 (their scales are f16)", p->path, wname);
            return -1;
        }
        dt = LMD_DTYPE_F16;
    }
    e->act = dt == LMD_DTYPE_F16 ? CUDA_ACT_F16 : CUDA_ACT_BF16;
    return 0;
}


int
cuda_model_load(struct cuda_engine *e, const struct lmd_engine_params *p,
    char *err, size_t errlen)
{
    struct lmd_model_weights  *src;
    struct cuda_upload         u;
    cudaError_t                rc;
    int                        ret = -1;

    if (p->weights != NULL && lmd_dtype_from_weights(p->weights) == -2) {
        snprintf(err, errlen, "%s: weights: unknown dtype \"%s\" (auto, f16 "
                 "or bf16)", p->path, p->weights);
        return -1;
    }
    src = lmd_model_weights_load(p->path,
              p->load_format != NULL ? p->load_format : "auto", p->seed,
              err, errlen);
    if (src == NULL) {
        return -1;
    }
    e->cfg = src->cfg;
    if (cuda_dims_init(e, p->path, err, errlen) != 0
        || cuda_pick_act(e, p, err, errlen) != 0)
    {
        goto done;
    }
    e->w.layers = calloc(e->n_layers, sizeof(struct cuda_layer));
    if (e->w.layers == NULL) {
        snprintf(err, errlen, "%s: out of memory", p->path);
        goto done;
    }

    memset(&u, 0, sizeof(u));
    u.e = e;
    u.err = err;
    u.errlen = errlen;
    u.sizing = 1;
    if (cuda_upload_all(&u, src) != 0) {
        goto done;
    }
    if (cuda_arena_init(&e->warena, u.need, err, errlen) != 0) {
        goto done;
    }
    rc = cudaMallocHost(&u.stage, CUDA_STAGE_BYTES);
    if (rc != cudaSuccess) {
        cuda_fail(err, errlen, "pinned staging buffer", rc);
        u.stage = NULL;
        goto done;
    }
    u.sizing = 0;
    e->w.bytes = 0;
    ret = cuda_upload_all(&u, src);
    cudaFreeHost(u.stage);

done:
    lmd_model_weights_free(src);
    return ret;
}


void
cuda_model_free(struct cuda_engine *e)
{
    cuda_arena_free(&e->warena);
    free(e->w.layers);
    memset(&e->w, 0, sizeof(e->w));
}
