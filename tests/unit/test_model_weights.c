/*
 * test_model_weights.c -- unit tests for engine/lmd_model_weights.c and
 * engine/lmd_model_dummy.c: tensors by role, shapes checked against
 * config.json, InternLM2's wqkv split, Qwen2's biases, tied embeddings,
 * errors naming the file and tensor, and the dummy load_format.
 *
 * The tiny models are written by the test (config.json plus tensors
 * through lmd_safetensors_write) into mkdtemp folders under /tmp, removed
 * at the end of each case; their values count up element by element, so
 * a row copied from the wrong place shows.  The InternLM2 layout (per KV
 * head: q_per_kv query heads, one key head, one value head) is the one
 * of InternLM2's modeling_internlm2.py, restated here.  stories260K and
 * the qwen2.5-0.5b shape come from ../shared (LMD_SHARED); those cases
 * skip when it is absent.
 */

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmd_common.h"
#include "lmd_dtype.h"
#include "lmd_model_weights.h"
#include "lmd_safetensors.h"
#include "lmd_test.h"

#define MAX_T  64

static char  tmp[64];
static char  err[LMD_ERR_LEN];

/* A model being written: its tensors and their buffers. */
struct tb {
    struct lmd_tensor   t[MAX_T];
    char                names[MAX_T][80];
    void               *data[MAX_T];
    size_t              n;
};

/* The tiny models' sizes: 4 heads of 4 over 2 KV heads. */
enum { VOCAB = 32, HIDDEN = 16, INTER = 24, LAYERS = 2, HEADS = 4, KV = 2,
       HD = 4 };


/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static int
tmp_make(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/lmd_test_w_XXXXXX");
    return fail_unless(mkdtemp(tmp) != NULL, "mkdtemp failed");
}


static void
tmp_remove(void)
{
    struct dirent  *e;
    DIR            *d;
    char            path[512];

    d = opendir(tmp);
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", tmp, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    rmdir(tmp);
}


static int
put(const char *name, const char *text)
{
    char   path[256];
    FILE  *f;
    int    ok;

    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    f = fopen(path, "w");
    if (f == NULL) {
        return 0;
    }
    ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}


/* The shared folder's model dir, or NULL (case skipped) if absent. */
static const char *
shared_model(char *buf, size_t size, const char *rel)
{
    const char   *shared = getenv("LMD_SHARED");
    static char   reason[700];
    char          path[600];

    snprintf(buf, size, "%s/models/%s",
             shared != NULL && shared[0] ? shared : "../shared", rel);
    snprintf(path, sizeof(path), "%s/config.json", buf);
    if (access(path, F_OK) != 0) {
        snprintf(reason, sizeof(reason), "%s is absent (set LMD_SHARED to "
                 "the folder holding models/)", path);
        lmd_test_skip(reason);
        return NULL;
    }
    return buf;
}


static void
tb_free(struct tb *b)
{
    size_t  i;

    for (i = 0; i < b->n; i++) {
        free(b->data[i]);
    }
    b->n = 0;
}


/* Adds a tensor [rows][cols] (cols 0: a vector of rows) whose elements
 * count up from start: exact in every float type for these sizes. */
static void
tb_add(struct tb *b, const char *name, int dtype, int rows, int cols,
    int start)
{
    struct lmd_tensor  *t;
    size_t              n, i;
    float               v;
    uint16_t           *h;
    float              *f;

    if (b->n == MAX_T) {
        return;
    }
    t = &b->t[b->n];
    memset(t, 0, sizeof(*t));
    snprintf(b->names[b->n], sizeof(b->names[b->n]), "%s", name);
    t->name = b->names[b->n];
    t->dtype = dtype;
    t->n_dims = cols > 0 ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols;
    n = (size_t) rows * (cols > 0 ? cols : 1);
    b->data[b->n] = malloc(n * lmd_dtype_size(dtype) + 1);
    h = b->data[b->n];
    f = b->data[b->n];
    for (i = 0; i < n; i++) {
        /* bf16 holds 8 significant bits: count modulo 256 there. */
        v = (float) (dtype == LMD_DTYPE_BF16 ? (start + i) % 256
                                             : (start + i) % 2048);
        if (dtype == LMD_DTYPE_F32) {
            f[i] = v;
        } else if (dtype == LMD_DTYPE_F16) {
            h[i] = lmd_f32_to_f16(v);
        } else if (dtype == LMD_DTYPE_BF16) {
            h[i] = lmd_f32_to_bf16(v);
        } else {
            ((uint8_t *) b->data[b->n])[i] = (uint8_t) i;
        }
    }
    t->data = b->data[b->n];
    b->n++;
}


static struct lmd_tensor *
tb_find(struct tb *b, const char *name)
{
    size_t  i;

    for (i = 0; i < b->n; i++) {
        if (strcmp(b->t[i].name, name) == 0) {
            return &b->t[i];
        }
    }
    return NULL;
}


/* Replaces a tensor by one of another shape or dtype. */
static void
tb_redo(struct tb *b, const char *name, int dtype, int rows, int cols)
{
    struct lmd_tensor  *t = tb_find(b, name);
    size_t              i;
    char                keep[80];

    if (t == NULL) {
        return;
    }
    i = (size_t) (t - b->t);
    snprintf(keep, sizeof(keep), "%s", name);
    free(b->data[i]);
    b->data[i] = b->data[b->n - 1];
    b->t[i] = b->t[b->n - 1];
    memcpy(b->names[i], b->names[b->n - 1], sizeof(b->names[i]));
    b->t[i].name = b->names[i];
    b->n--;
    tb_add(b, keep, dtype, rows, cols, 7);
}


static void
tb_drop(struct tb *b, const char *name)
{
    struct lmd_tensor  *t = tb_find(b, name);
    size_t              i;

    if (t == NULL) {
        return;
    }
    i = (size_t) (t - b->t);
    free(b->data[i]);
    b->data[i] = b->data[b->n - 1];
    b->t[i] = b->t[b->n - 1];
    memcpy(b->names[i], b->names[b->n - 1], sizeof(b->names[i]));
    b->t[i].name = b->names[i];
    b->n--;
}


/* A tiny Llama (or, qwen2, with q/k/v biases) of the sizes above; the
 * lm_head only when untied.  Norms f32, matrices bf16, biases f16. */
static void
tb_llama(struct tb *b, int qwen2, int tied)
{
    static const struct {
        const char  *name;
        int          rows, cols, bias;
    } roles[] = {
        { "input_layernorm.weight", HIDDEN, 0, 0 },
        { "self_attn.q_proj.weight", HEADS * HD, HIDDEN, 0 },
        { "self_attn.k_proj.weight", KV * HD, HIDDEN, 0 },
        { "self_attn.v_proj.weight", KV * HD, HIDDEN, 0 },
        { "self_attn.q_proj.bias", HEADS * HD, 0, 1 },
        { "self_attn.k_proj.bias", KV * HD, 0, 1 },
        { "self_attn.v_proj.bias", KV * HD, 0, 1 },
        { "self_attn.o_proj.weight", HIDDEN, HEADS * HD, 0 },
        { "post_attention_layernorm.weight", HIDDEN, 0, 0 },
        { "mlp.gate_proj.weight", INTER, HIDDEN, 0 },
        { "mlp.up_proj.weight", INTER, HIDDEN, 0 },
        { "mlp.down_proj.weight", HIDDEN, INTER, 0 },
    };
    char    name[80];
    size_t  i;
    int     l;

    memset(b, 0, sizeof(*b));
    tb_add(b, "model.embed_tokens.weight", LMD_DTYPE_BF16, VOCAB, HIDDEN,
           1);
    tb_add(b, "model.norm.weight", LMD_DTYPE_F32, HIDDEN, 0, 2);
    if (!tied) {
        tb_add(b, "lm_head.weight", LMD_DTYPE_F32, VOCAB, HIDDEN, 3);
    }
    for (l = 0; l < LAYERS; l++) {
        for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
            if (roles[i].bias && !qwen2) {
                continue;
            }
            snprintf(name, sizeof(name), "model.layers.%d.%s", l,
                     roles[i].name);
            tb_add(b, name, roles[i].cols == 0
                            ? (roles[i].bias ? LMD_DTYPE_F16
                                             : LMD_DTYPE_F32)
                            : LMD_DTYPE_BF16,
                   roles[i].rows, roles[i].cols, (int) (l * 100 + i));
        }
    }
}


static const char *
llama_config(int qwen2, int tied)
{
    static char  buf[1024];

    snprintf(buf, sizeof(buf), "{\"architectures\": [\"%s\"], "
             "\"vocab_size\": %d, \"hidden_size\": %d, "
             "\"intermediate_size\": %d, \"num_hidden_layers\": %d, "
             "\"num_attention_heads\": %d, \"num_key_value_heads\": %d, "
             "\"tie_word_embeddings\": %s, \"torch_dtype\": \"bfloat16\"}",
             qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM", VOCAB, HIDDEN,
             INTER, LAYERS, HEADS, KV, tied ? "true" : "false");
    return buf;
}


/* Writes config.json and model.safetensors into tmp. */
static int
write_model(const char *config, struct tb *b)
{
    char  path[256];

    snprintf(path, sizeof(path), "%s/model.safetensors", tmp);
    return put("config.json", config)
           && lmd_safetensors_write(path, b->t, b->n, err, sizeof(err))
              == LMD_OK;
}


/* Loading tmp fails with exactly "DIR/FILE: rest". */
static int
fails_exactly(const char *file, const char *rest)
{
    struct lmd_model_weights  *w;
    char                       want[LMD_ERR_LEN];

    err[0] = '\0';
    w = lmd_model_weights_load(tmp, "auto", 0, err, sizeof(err));
    lmd_model_weights_free(w);
    snprintf(want, sizeof(want), "%s/%s: %s", tmp, file, rest);
    return w == NULL && strcmp(err, want) == 0;
}


static int
wmat_is(const struct lmd_wmat *m, int dtype, uint32_t rows, uint32_t cols)
{
    return m->data != NULL && m->dtype == dtype && m->rows == rows
           && m->cols == cols;
}


/* ------------------------------------------------------------------------
 * Real weights
 * ------------------------------------------------------------------------ */

// Assumption: stories260K is a tied f32 Llama of 5 layers, 8 heads of 8
// over 4 KV heads, 64 wide, 172 in the MLP; every tensor in its file is
// used once (1,040,128 bytes).
LMD_TEST(stories260K)
{
    struct lmd_model_weights   *w;
    struct lmd_safetensors     *st;
    const struct lmd_tensor    *t;
    const struct lmd_layer_weights *l;
    char                        dir[512];
    uint32_t                    i;
    int                         bad;

    if (shared_model(dir, sizeof(dir), "stories260K") == NULL) {
        return;
    }
    w = lmd_model_weights_load(dir, NULL, 0, err, sizeof(err));
    if (!fail_unless(w != NULL, "load: %s", err)) {
        return;
    }
    fail_unless(w->cfg.n_layers == 5 && w->cfg.tie_word_embeddings == 1,
                "config");
    fail_unless(wmat_is(&w->embed, LMD_DTYPE_F32, 512, 64), "embed");
    fail_unless(w->lm_head.data == w->embed.data
                && wmat_is(&w->lm_head, LMD_DTYPE_F32, 512, 64),
                "tied lm_head");
    fail_unless(wmat_is(&w->final_norm, LMD_DTYPE_F32, 1, 64), "norm");
    bad = 0;
    for (i = 0; i < 5; i++) {
        l = &w->layers[i];
        bad += !wmat_is(&l->attn_norm, LMD_DTYPE_F32, 1, 64);
        bad += !wmat_is(&l->wq, LMD_DTYPE_F32, 64, 64);
        bad += !wmat_is(&l->wk, LMD_DTYPE_F32, 32, 64);
        bad += !wmat_is(&l->wv, LMD_DTYPE_F32, 32, 64);
        bad += !wmat_is(&l->wo, LMD_DTYPE_F32, 64, 64);
        bad += !wmat_is(&l->ffn_norm, LMD_DTYPE_F32, 1, 64);
        bad += !wmat_is(&l->w_gate, LMD_DTYPE_F32, 172, 64);
        bad += !wmat_is(&l->w_up, LMD_DTYPE_F32, 172, 64);
        bad += !wmat_is(&l->w_down, LMD_DTYPE_F32, 64, 172);
        bad += l->bq.data != NULL || l->bk.data != NULL
               || l->bv.data != NULL;
    }
    fail_unless(bad == 0, "%d layer tensors wrong", bad);
    fail_unless(w->bytes == 1040128, "bytes %llu",
                (unsigned long long) w->bytes);
    fail_unless_streq(w->layers[3].w_up.name,
                      "model.layers.3.mlp.up_proj.weight");

    /* The roles point at the right tensors of the file. */
    st = lmd_safetensors_open(dir, err, sizeof(err));
    if (fail_unless(st != NULL, "%s", err)) {
        t = lmd_safetensors_find(st, "model.layers.4.self_attn.k_proj.weight");
        fail_unless(t != NULL && memcmp(t->data, w->layers[4].wk.data,
                                         t->nbytes) == 0, "layer 4 wk");
        t = lmd_safetensors_find(st, "model.layers.0.mlp.down_proj.weight");
        fail_unless(t != NULL && memcmp(t->data, w->layers[0].w_down.data,
                                         t->nbytes) == 0, "layer 0 w_down");
        lmd_safetensors_close(st);
    }
    lmd_model_weights_free(w);
}


/* ------------------------------------------------------------------------
 * InternLM2
 * ------------------------------------------------------------------------ */

/* A tiny InternLM2 with biases: wqkv f16, its bias f32, the rest bf16
 * and f32; wo.bias zeros (or not). */
static void
tb_internlm2(struct tb *b, int wo_bias_zero)
{
    char   name[80];
    int    l, qkv = KV * (HEADS / KV + 2) * HD;
    float *zb;

    memset(b, 0, sizeof(*b));
    tb_add(b, "model.tok_embeddings.weight", LMD_DTYPE_BF16, VOCAB, HIDDEN,
           1);
    tb_add(b, "model.norm.weight", LMD_DTYPE_F32, HIDDEN, 0, 2);
    tb_add(b, "output.weight", LMD_DTYPE_F32, VOCAB, HIDDEN, 3);
    for (l = 0; l < LAYERS; l++) {
#define ADD(tail, dt, r, c) \
        snprintf(name, sizeof(name), "model.layers.%d." tail, l); \
        tb_add(b, name, dt, r, c, l * 1000 + 11)
        ADD("attention_norm.weight", LMD_DTYPE_F32, HIDDEN, 0);
        ADD("attention.wqkv.weight", LMD_DTYPE_F16, qkv, HIDDEN);
        ADD("attention.wqkv.bias", LMD_DTYPE_F32, qkv, 0);
        ADD("attention.wo.weight", LMD_DTYPE_BF16, HIDDEN, HEADS * HD);
        ADD("attention.wo.bias", LMD_DTYPE_F32, HIDDEN, 0);
        zb = b->data[b->n - 1];
        memset(zb, 0, HIDDEN * sizeof(float));
        if (!wo_bias_zero && l == 1) {
            zb[3] = 0.5f;
        }
        ADD("ffn_norm.weight", LMD_DTYPE_F32, HIDDEN, 0);
        ADD("feed_forward.w1.weight", LMD_DTYPE_BF16, INTER, HIDDEN);
        ADD("feed_forward.w3.weight", LMD_DTYPE_F32, INTER, HIDDEN);
        ADD("feed_forward.w2.weight", LMD_DTYPE_BF16, HIDDEN, INTER);
#undef ADD
    }
}


static const char  internlm2_config[] =
    "{\"architectures\": [\"InternLM2ForCausalLM\"], "
    "\"vocab_size\": 32, \"hidden_size\": 16, \"intermediate_size\": 24, "
    "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
    "\"num_key_value_heads\": 2, \"bias\": true, "
    "\"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\"}";


/* Rows [from, from+n) of fused (row bytes rb) equal rows [to, to+n) of
 * part. */
static int
rows_equal(const void *part, size_t to, const void *fused, size_t from,
    size_t n, size_t rb)
{
    return memcmp((const uint8_t *) part + to * rb,
                  (const uint8_t *) fused + from * rb, n * rb) == 0;
}


// Assumption: wqkv holds, per KV head g, 2 query heads, 1 key head and 1
// value head of 4 rows each (16 rows per group): wq's rows 8g..8g+7 are
// wqkv's 16g..16g+7, wk's 4g.. are 16g+8.., wv's 4g.. are 16g+12..; the
// bias splits the same way; other names map by role; lm_head is
// output.weight.
LMD_TEST(internlm2_split)
{
    struct lmd_model_weights        *w;
    const struct lmd_layer_weights  *lw;
    const struct lmd_tensor         *f, *fb;
    struct tb                        b;
    char                             name[80];
    size_t                           rb, g;
    uint64_t                         bytes;
    int                              l, bad;

    if (!tmp_make()) {
        return;
    }
    tb_internlm2(&b, 1);
    if (!fail_unless(write_model(internlm2_config, &b), "write: %s", err)) {
        tb_free(&b);
        tmp_remove();
        return;
    }
    w = lmd_model_weights_load(tmp, "auto", 0, err, sizeof(err));
    if (!fail_unless(w != NULL, "load: %s", err)) {
        tb_free(&b);
        tmp_remove();
        return;
    }
    fail_unless(w->cfg.arch == LMD_ARCH_INTERNLM2 && w->cfg.qkv_bias,
                "config");
    fail_unless(wmat_is(&w->embed, LMD_DTYPE_BF16, VOCAB, HIDDEN)
                && memcmp(w->embed.data, tb_find(&b,
                          "model.tok_embeddings.weight")->data,
                          VOCAB * HIDDEN * 2) == 0, "embed");
    fail_unless(wmat_is(&w->lm_head, LMD_DTYPE_F32, VOCAB, HIDDEN)
                && memcmp(w->lm_head.data, tb_find(&b,
                          "output.weight")->data, VOCAB * HIDDEN * 4) == 0,
                "lm_head is output.weight");

    bad = 0;
    bytes = 0;
    for (l = 0; l < LAYERS; l++) {
        lw = &w->layers[l];
        snprintf(name, sizeof(name), "model.layers.%d.attention.wqkv.weight",
                 l);
        f = tb_find(&b, name);
        snprintf(name, sizeof(name), "model.layers.%d.attention.wqkv.bias",
                 l);
        fb = tb_find(&b, name);
        bad += !wmat_is(&lw->wq, LMD_DTYPE_F16, HEADS * HD, HIDDEN);
        bad += !wmat_is(&lw->wk, LMD_DTYPE_F16, KV * HD, HIDDEN);
        bad += !wmat_is(&lw->wv, LMD_DTYPE_F16, KV * HD, HIDDEN);
        bad += !wmat_is(&lw->bq, LMD_DTYPE_F32, 1, HEADS * HD);
        bad += !wmat_is(&lw->bk, LMD_DTYPE_F32, 1, KV * HD);
        bad += !wmat_is(&lw->bv, LMD_DTYPE_F32, 1, KV * HD);
        rb = HIDDEN * 2;
        for (g = 0; g < KV; g++) {
            bad += !rows_equal(lw->wq.data, g * 8, f->data, g * 16, 8, rb);
            bad += !rows_equal(lw->wk.data, g * 4, f->data, g * 16 + 8, 4,
                               rb);
            bad += !rows_equal(lw->wv.data, g * 4, f->data, g * 16 + 12, 4,
                               rb);
            bad += !rows_equal(lw->bq.data, g * 8, fb->data, g * 16, 8, 4);
            bad += !rows_equal(lw->bk.data, g * 4, fb->data, g * 16 + 8, 4,
                               4);
            bad += !rows_equal(lw->bv.data, g * 4, fb->data, g * 16 + 12, 4,
                               4);
        }
        bad += strcmp(lw->wk.name, f->name) != 0;
        bad += !wmat_is(&lw->wo, LMD_DTYPE_BF16, HIDDEN, HEADS * HD);
        bad += !wmat_is(&lw->w_gate, LMD_DTYPE_BF16, INTER, HIDDEN);
        bad += !wmat_is(&lw->w_up, LMD_DTYPE_F32, INTER, HIDDEN);
        bad += !wmat_is(&lw->w_down, LMD_DTYPE_BF16, HIDDEN, INTER);
        bad += !wmat_is(&lw->attn_norm, LMD_DTYPE_F32, 1, HIDDEN);
        bad += !wmat_is(&lw->ffn_norm, LMD_DTYPE_F32, 1, HIDDEN);
        snprintf(name, sizeof(name), "model.layers.%d.feed_forward.w3.weight",
                 l);
        bad += memcmp(lw->w_up.data, tb_find(&b, name)->data,
                      INTER * HIDDEN * 4) != 0;
        /* Everything but wo.bias counts. */
        bytes += (uint64_t) HIDDEN * 4 * 2 + f->shape[0] * HIDDEN * 2
                 + fb->shape[0] * 4 + HIDDEN * HEADS * HD * 2
                 + INTER * HIDDEN * (2 + 4 + 2);
    }
    bytes += VOCAB * HIDDEN * (2 + 4) + HIDDEN * 4;
    fail_unless(bad == 0, "%d checks failed", bad);
    fail_unless(w->bytes == bytes, "bytes %llu, want %llu",
                (unsigned long long) w->bytes, (unsigned long long) bytes);
    lmd_model_weights_free(w);
    tb_free(&b);

    /* A wo bias that is not zero cannot be dropped silently. */
    tb_internlm2(&b, 0);
    fail_unless(write_model(internlm2_config, &b), "write: %s", err);
    fail_unless(fails_exactly("model.safetensors", "tensor "
                              "model.layers.1.attention.wo.bias: an output "
                              "projection bias is not supported"),
                "%s", err);
    tb_free(&b);
    tmp_remove();
}


/* ------------------------------------------------------------------------
 * Qwen2 and Llama
 * ------------------------------------------------------------------------ */

// Assumption: Qwen2's q/k/v biases load as [1][rows of wq/wk/wv]; tied
// embeddings need no lm_head tensor; each tensor keeps its own dtype.
LMD_TEST(qwen2_biases)
{
    struct lmd_model_weights  *w;
    struct tb                  b;
    int                        l, bad;

    if (!tmp_make()) {
        return;
    }
    tb_llama(&b, 1, 1);
    if (fail_unless(write_model(llama_config(1, 1), &b), "write: %s", err)) {
        w = lmd_model_weights_load(tmp, "auto", 0, err, sizeof(err));
        if (fail_unless(w != NULL, "load: %s", err)) {
            fail_unless(w->lm_head.data == w->embed.data, "tied");
            bad = 0;
            for (l = 0; l < LAYERS; l++) {
                bad += !wmat_is(&w->layers[l].bq, LMD_DTYPE_F16, 1,
                                HEADS * HD);
                bad += !wmat_is(&w->layers[l].bk, LMD_DTYPE_F16, 1, KV * HD);
                bad += !wmat_is(&w->layers[l].bv, LMD_DTYPE_F16, 1, KV * HD);
                bad += !wmat_is(&w->layers[l].wq, LMD_DTYPE_BF16,
                                HEADS * HD, HIDDEN);
                bad += !wmat_is(&w->layers[l].attn_norm, LMD_DTYPE_F32, 1,
                                HIDDEN);
            }
            fail_unless(bad == 0, "%d shapes wrong", bad);
            fail_unless(memcmp(w->layers[1].bk.data,
                               tb_find(&b, "model.layers.1.self_attn."
                                       "k_proj.bias")->data, KV * HD * 2)
                        == 0, "bk data");
            fail_unless_streq(w->layers[1].bv.name,
                              "model.layers.1.self_attn.v_proj.bias");
            lmd_model_weights_free(w);
        }
    }
    tb_drop(&b, "model.layers.1.self_attn.k_proj.bias");
    fail_unless(write_model(llama_config(1, 1), &b), "write: %s", err);
    fail_unless(fails_exactly("model.safetensors", "tensor "
                              "model.layers.1.self_attn.k_proj.bias is "
                              "missing"), "%s", err);
    tb_free(&b);
    tmp_remove();
}


// Assumption: a missing tensor, a wrong shape or a non-float dtype is
// an error naming the file and the tensor; an untied model needs
// lm_head.weight.
LMD_TEST(llama_errors)
{
    struct lmd_model_weights  *w;
    struct tb                  b;

    if (!tmp_make()) {
        return;
    }
    tb_llama(&b, 0, 0);
    fail_unless(write_model(llama_config(0, 0), &b), "write: %s", err);
    w = lmd_model_weights_load(tmp, "auto", 0, err, sizeof(err));
    fail_unless(w != NULL && w->lm_head.data != w->embed.data
                && wmat_is(&w->lm_head, LMD_DTYPE_F32, VOCAB, HIDDEN),
                "good model: %s", err);
    lmd_model_weights_free(w);

    tb_drop(&b, "model.layers.0.mlp.up_proj.weight");
    fail_unless(write_model(llama_config(0, 0), &b), "write: %s", err);
    fail_unless(fails_exactly("model.safetensors", "tensor "
                              "model.layers.0.mlp.up_proj.weight is "
                              "missing"), "missing: %s", err);
    tb_free(&b);

    tb_llama(&b, 0, 0);
    tb_redo(&b, "model.layers.1.self_attn.k_proj.weight", LMD_DTYPE_BF16,
            KV * HD + 1, HIDDEN);
    fail_unless(write_model(llama_config(0, 0), &b), "write: %s", err);
    fail_unless(fails_exactly("model.safetensors", "tensor "
                              "model.layers.1.self_attn.k_proj.weight: "
                              "shape [9, 16] but config.json says [8, 16]"),
                "shape: %s", err);

    tb_redo(&b, "model.layers.1.self_attn.k_proj.weight", LMD_DTYPE_BF16,
            KV * HD, HIDDEN);
    tb_redo(&b, "model.norm.weight", LMD_DTYPE_F32, 1, HIDDEN);
    fail_unless(write_model(llama_config(0, 0), &b), "write: %s", err);
    fail_unless(fails_exactly("model.safetensors", "tensor "
                              "model.norm.weight: shape [1, 16] but "
                              "config.json says [16]"), "norm: %s", err);

    tb_redo(&b, "model.norm.weight", LMD_DTYPE_F32, HIDDEN, 0);
    tb_redo(&b, "model.layers.0.mlp.down_proj.weight", LMD_DTYPE_I8,
            HIDDEN, INTER);
    fail_unless(write_model(llama_config(0, 0), &b), "write: %s", err);
    fail_unless(fails_exactly("model.safetensors", "tensor "
                              "model.layers.0.mlp.down_proj.weight: dtype "
                              "int8 is not a float type (F32, F16, BF16)"),
                "dtype: %s", err);
    tb_free(&b);

    /* Untied, but no lm_head. */
    tb_llama(&b, 0, 1);
    fail_unless(write_model(llama_config(0, 0), &b), "write: %s", err);
    fail_unless(fails_exactly("model.safetensors", "tensor lm_head.weight "
                              "is missing"), "lm_head: %s", err);
    tb_free(&b);

    /* Other load formats, and no config at all. */
    w = lmd_model_weights_load(tmp, "gguf", 0, err, sizeof(err));
    fail_unless(w == NULL && strstr(err, "load_format gguf") != NULL,
                "format: %s", err);
    tmp_remove();
    w = lmd_model_weights_load(tmp, "auto", 0, err, sizeof(err));
    fail_unless(w == NULL && strstr(err, "config.json") != NULL,
                "no folder: %s", err);
}


// Assumption: weights split over shards by model.safetensors.index.json
// load the same; a bad tensor in the second shard is blamed on it.
LMD_TEST(sharded_model)
{
    struct lmd_model_weights  *w;
    struct tb                  b;
    char                       path[256], index[4096];
    size_t                     half, i, len;

    if (!tmp_make()) {
        return;
    }
    tb_llama(&b, 0, 0);
    half = b.n / 2;
    len = (size_t) snprintf(index, sizeof(index), "{\"weight_map\": {");
    for (i = 0; i < b.n; i++) {
        len += (size_t) snprintf(index + len, sizeof(index) - len,
                                 "%s\"%s\": \"part-%d.safetensors\"",
                                 i ? ", " : "", b.t[i].name, i >= half);
    }
    snprintf(index + len, sizeof(index) - len, "}}");
    snprintf(path, sizeof(path), "%s/part-0.safetensors", tmp);
    fail_unless(put("config.json", llama_config(0, 0))
                && put("model.safetensors.index.json", index)
                && lmd_safetensors_write(path, b.t, half, err, sizeof(err))
                   == LMD_OK, "write");
    snprintf(path, sizeof(path), "%s/part-1.safetensors", tmp);
    fail_unless(lmd_safetensors_write(path, b.t + half, b.n - half, err,
                                      sizeof(err)) == LMD_OK, "write");
    w = lmd_model_weights_load(tmp, "auto", 0, err, sizeof(err));
    fail_unless(w != NULL && wmat_is(&w->layers[1].w_down, LMD_DTYPE_BF16,
                                     HIDDEN, INTER), "load: %s", err);
    lmd_model_weights_free(w);

    /* The last tensor is in part-1: give it a wrong shape there. */
    snprintf(index, sizeof(index), "%s", b.t[b.n - 1].name);
    tb_redo(&b, index, b.t[b.n - 1].dtype, 3, 5);
    fail_unless(lmd_safetensors_write(path, b.t + half, b.n - half, err,
                                      sizeof(err)) == LMD_OK, "write");
    w = lmd_model_weights_load(tmp, "auto", 0, err, sizeof(err));
    lmd_model_weights_free(w);
    fail_unless(w == NULL && strstr(err, path) == err
                && strstr(err, index) != NULL
                && strstr(err, "shape [3, 5]") != NULL, "%s", err);
    tb_free(&b);
    tmp_remove();
}


/* ------------------------------------------------------------------------
 * Dummy weights
 * ------------------------------------------------------------------------ */

static uint64_t
hash_bytes(uint64_t h, const void *p, size_t n)
{
    const uint8_t  *b = p;
    uint64_t        v;
    size_t          i;

    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&v, b + i, 8);
        h = (h ^ v) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ull;
    }
    return h;
}


static uint64_t
hash_wmat(uint64_t h, const struct lmd_wmat *m)
{
    return hash_bytes(h, m->data,
                      (size_t) m->rows * m->cols * lmd_dtype_size(m->dtype));
}


/* The mean square of m's values and their largest magnitude. */
static void
wmat_stats(const struct lmd_wmat *m, double *ms, double *max)
{
    size_t  n = (size_t) m->rows * m->cols, i;
    double  s = 0, v;
    float   f;

    *max = 0;
    for (i = 0; i < n; i++) {
        lmd_dtype_to_f32(m->dtype,
                         (const uint8_t *) m->data
                         + i * lmd_dtype_size(m->dtype), &f, 1);
        v = f;
        s += v * v;
        if (fabs(v) > *max) {
            *max = fabs(v);
        }
    }
    *ms = s / (double) n;
}


/* Every element of the vector m is 1. */
static int
all_ones(const struct lmd_wmat *m)
{
    float   f;
    size_t  i;

    for (i = 0; i < m->cols; i++) {
        lmd_dtype_to_f32(m->dtype, (const uint8_t *) m->data
                                   + i * lmd_dtype_size(m->dtype), &f, 1);
        if (f != 1.0f) {
            return 0;
        }
    }
    return m->rows == 1;
}


// Assumption: dummy weights of qwen2.5-0.5b (shapes/README.md: 24
// layers, 896 wide, 14 heads of 64 over 2 KV heads, 4864 in the MLP,
// 151936 tokens, q/k/v biases, tied, bf16) have its shapes; norms are 1,
// matrices uniform with variance 1/cols; a seed always gives the same
// values and another seed others.
LMD_TEST(dummy_qwen2_0_5b)
{
    struct lmd_model_weights        *w;
    const struct lmd_layer_weights  *l;
    char                             dir[512];
    uint64_t                         h[3];
    double                           ms, max, a;
    int                              run, i, bad;
    uint64_t                         seeds[3] = { 1, 1, 2 };

    if (shared_model(dir, sizeof(dir), "shapes/qwen2.5-0.5b") == NULL) {
        return;
    }
    for (run = 0; run < 3; run++) {
        w = lmd_model_weights_load(dir, "dummy", seeds[run], err,
                                   sizeof(err));
        if (!fail_unless(w != NULL, "load: %s", err)) {
            return;
        }
        h[run] = hash_wmat(0, &w->layers[0].wq);
        h[run] = hash_wmat(h[run], &w->layers[23].w_down);
        h[run] = hash_wmat(h[run], &w->layers[5].bk);
        h[run] = hash_bytes(h[run], w->embed.data, 1 << 20);
        if (run > 0) {
            lmd_model_weights_free(w);
            continue;
        }
        fail_unless(w->cfg.arch == LMD_ARCH_QWEN2 && w->cfg.n_layers == 24,
                    "config");
        fail_unless(wmat_is(&w->embed, LMD_DTYPE_BF16, 151936, 896),
                    "embed");
        fail_unless(w->lm_head.data == w->embed.data, "tied");
        fail_unless(all_ones(&w->final_norm), "final norm");
        bad = 0;
        for (i = 0; i < 24; i++) {
            l = &w->layers[i];
            bad += !wmat_is(&l->wq, LMD_DTYPE_BF16, 896, 896);
            bad += !wmat_is(&l->wk, LMD_DTYPE_BF16, 128, 896);
            bad += !wmat_is(&l->wv, LMD_DTYPE_BF16, 128, 896);
            bad += !wmat_is(&l->bq, LMD_DTYPE_BF16, 1, 896);
            bad += !wmat_is(&l->bk, LMD_DTYPE_BF16, 1, 128);
            bad += !wmat_is(&l->bv, LMD_DTYPE_BF16, 1, 128);
            bad += !wmat_is(&l->wo, LMD_DTYPE_BF16, 896, 896);
            bad += !wmat_is(&l->w_gate, LMD_DTYPE_BF16, 4864, 896);
            bad += !wmat_is(&l->w_up, LMD_DTYPE_BF16, 4864, 896);
            bad += !wmat_is(&l->w_down, LMD_DTYPE_BF16, 896, 4864);
            bad += !all_ones(&l->attn_norm) || !all_ones(&l->ffn_norm);
        }
        fail_unless(bad == 0, "%d layer checks failed", bad);
        fail_unless(w->bytes == 2ull * 494032768, "bytes %llu",
                    (unsigned long long) w->bytes);
        fail_unless_streq(w->layers[7].wo.name,
                          "model.layers.7.self_attn.o_proj.weight");

        /* Uniform on [-a, a], a = sqrt(3/cols): variance 1/cols. */
        wmat_stats(&w->layers[0].wq, &ms, &max);
        a = sqrt(3.0 / 896);
        fail_unless(max <= a * 1.004 && max > a * 0.99, "max %g vs %g", max,
                    a);
        fail_unless(fabs(ms * 896 - 1) < 0.02, "variance x cols %g",
                    ms * 896);
        wmat_stats(&w->layers[9].w_down, &ms, &max);
        fail_unless(fabs(ms * 4864 - 1) < 0.02, "w_down variance x cols %g",
                    ms * 4864);
        wmat_stats(&w->layers[3].bq, &ms, &max);
        fail_unless(max < 0.05 && ms > 0, "biases small but not zero");
        lmd_model_weights_free(w);
    }
    fail_unless(h[0] == h[1], "seed 1 twice gave different weights");
    fail_unless(h[0] != h[2], "seeds 1 and 2 gave the same weights");
}


// Assumption: the dummy format reads config.json alone (no weights in
// the folder) and makes tensors in its torch_dtype: f32 when absent,
// f16 when it says float16; InternLM2 gets separate q, k, v (and bias)
// tensors; a bad load_format is an error.
LMD_TEST(dummy_small)
{
    struct lmd_model_weights  *w;
    double                     ms, max;
    char                       cfg[1024];

    if (!tmp_make()) {
        return;
    }
    snprintf(cfg, sizeof(cfg), "%s", llama_config(0, 0));
    memcpy(strstr(cfg, "\"torch_dtype\""), "\"torch_dtyp_\"", 13);
    fail_unless(put("config.json", cfg), "write");
    w = lmd_model_weights_load(tmp, "dummy", 5, err, sizeof(err));
    if (fail_unless(w != NULL, "f32: %s", err)) {
        fail_unless(wmat_is(&w->lm_head, LMD_DTYPE_F32, VOCAB, HIDDEN)
                    && w->lm_head.data != w->embed.data, "lm_head");
        fail_unless(w->layers[0].bq.data == NULL, "no biases");
        fail_unless(all_ones(&w->layers[1].ffn_norm), "norm");
        wmat_stats(&w->layers[1].w_down, &ms, &max);
        fail_unless(max <= sqrt(3.0 / INTER) && ms > 0.5 / INTER
                    && ms < 1.5 / INTER, "f32 values: %g %g", ms, max);
        fail_unless(w->bytes == 4ull * (2 * VOCAB * HIDDEN + HIDDEN
                                        + LAYERS * (2 * HIDDEN
                                        + 2 * HEADS * HD * HIDDEN
                                        + 2 * KV * HD * HIDDEN
                                        + 3 * INTER * HIDDEN)),
                    "bytes %llu", (unsigned long long) w->bytes);
        lmd_model_weights_free(w);
    }

    snprintf(cfg, sizeof(cfg), "%s", llama_config(0, 1));
    memcpy(strstr(cfg, "\"bfloat16\""), "\"float16\" ", 10);
    fail_unless(put("config.json", cfg), "write");
    w = lmd_model_weights_load(tmp, "dummy", 5, err, sizeof(err));
    if (fail_unless(w != NULL, "f16: %s", err)) {
        fail_unless(wmat_is(&w->layers[0].wq, LMD_DTYPE_F16, HEADS * HD,
                            HIDDEN)
                    && w->lm_head.data == w->embed.data, "f16 shapes");
        fail_unless(all_ones(&w->final_norm), "f16 norm");
        wmat_stats(&w->layers[0].wq, &ms, &max);
        fail_unless(max <= sqrt(3.0 / HIDDEN) * 1.001 && ms > 0,
                    "f16 values");
        lmd_model_weights_free(w);
    }

    fail_unless(put("config.json", internlm2_config), "write");
    w = lmd_model_weights_load(tmp, "dummy", 5, err, sizeof(err));
    if (fail_unless(w != NULL, "internlm2: %s", err)) {
        fail_unless(wmat_is(&w->layers[1].wk, LMD_DTYPE_BF16, KV * HD,
                            HIDDEN)
                    && wmat_is(&w->layers[1].bv, LMD_DTYPE_BF16, 1, KV * HD)
                    && wmat_is(&w->layers[1].wq, LMD_DTYPE_BF16, HEADS * HD,
                               HIDDEN), "internlm2 shapes");
        fail_unless_streq(w->embed.name, "model.tok_embeddings.weight");
        fail_unless_streq(w->layers[1].w_gate.name,
                          "model.layers.1.feed_forward.w1.weight");
        lmd_model_weights_free(w);
    }
    w = lmd_model_weights_load(tmp, "dumb", 5, err, sizeof(err));
    fail_unless(w == NULL && strstr(err, "load_format dumb") != NULL,
                "%s", err);
    tmp_remove();
}
