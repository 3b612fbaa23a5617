/*
 * test_awq.c -- unit tests for engine/lmd_awq.c and the AWQ paths of
 * engine/lmd_model_config.c, lmd_model_weights.c and lmd_model_dummy.c:
 * pack/unpack round trips, the nibble interleave pinned one nibble at a
 * time, a tiny AWQ Llama written here and loaded, every malformed input
 * named in its error, and seeded dummy AWQ weights.
 *
 * The format is restated here from AutoAWQ's WQLinear_GEMM packing loop
 * (for nibble i of word w: word |= column 8w + order_map[i] << 4i, with
 * order_map [0,2,4,6,1,3,5,7]), not taken from lmd_awq.c: nibble i holds
 * column 8w + AUTOAWQ_ORDER[i].  W[n][k] = (q[k][n] - z[k/g][n]) *
 * s[k/g][n], with qweight [in][out/8], qzeros [in/g][out/8] and f16
 * scales [in/g][out].
 */

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmd_awq.h"
#include "lmd_common.h"
#include "lmd_dtype.h"
#include "lmd_model_weights.h"
#include "lmd_safetensors.h"
#include "lmd_test.h"

#define MAX_T  64

static const unsigned  AUTOAWQ_ORDER[8] = { 0, 2, 4, 6, 1, 3, 5, 7 };

static char  tmp[64];
static char  err[LMD_ERR_LEN];

/* The tiny AWQ Llama: 4 heads of 8 over 2 KV heads, group 16. */
enum { VOCAB = 32, HIDDEN = 32, INTER = 64, LAYERS = 2, HEADS = 4, KV = 2,
       HD = 8, GROUP = 16 };

/* One linear as the test packed it: the nibbles and scales it chose. */
struct lin {
    char        name[64];               /* "model.layers.0.mlp.up_proj" */
    uint32_t    in, out;
    uint8_t    *q, *z;
    float      *s;
};

/* A model being written. */
struct tb {
    struct lmd_tensor   t[MAX_T];
    char                names[MAX_T][96];
    void               *data[MAX_T];
    size_t              n;
    struct lin          lins[LAYERS * 7];
    size_t              nlins;
};

static uint64_t  rng_state;


static uint32_t
rnd(void)
{
    uint64_t  z;

    rng_state += 0x9e3779b97f4a7c15ull;
    z = rng_state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t) ((z ^ (z >> 31)) >> 32);
}


/* Small positive scales, exact in f16 (multiples of 1/1024). */
static float
rnd_scale(void)
{
    return (float) (1 + rnd() % 64) / 1024.0f;
}


/* The test's own packing, straight from the AutoAWQ loop. */
static void
ref_pack(uint32_t rows, uint32_t cols, const uint8_t *v, int32_t *out)
{
    uint32_t  r, w, i, word;

    for (r = 0; r < rows; r++) {
        for (w = 0; w < cols / 8; w++) {
            word = 0;
            for (i = 0; i < 8; i++) {
                word |= (uint32_t) v[r * cols + 8 * w + AUTOAWQ_ORDER[i]]
                        << (4 * i);
            }
            memcpy(&out[r * (cols / 8) + w], &word, 4);
        }
    }
}


/* ------------------------------------------------------------------------
 * Pack and unpack
 * ------------------------------------------------------------------------ */

// Assumption: for group sizes 32/64/128 and non-square shapes, packing
// random nibbles and unpacking gives them back, lmd_awq_pack agrees with
// the AutoAWQ loop restated above, and dequantization is (q - z) * s.
LMD_TEST(pack_round_trip)
{
    static const uint32_t  shapes[][3] = {
        { 32, 32, 8 }, { 64, 128, 24 }, { 128, 256, 40 }, { 32, 96, 16 },
    };
    uint32_t   g, in, out, k, n, i, bad;
    uint8_t   *q, *z;
    float     *s, *wt;
    int32_t   *qw, *qz, *rqw, *rqz;
    uint16_t  *sc;
    struct lmd_awq_mat  m;

    rng_state = 1;
    for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        g = shapes[i][0];
        in = shapes[i][1];
        out = shapes[i][2];
        q = malloc((size_t) in * out);
        z = malloc((size_t) in / g * out);
        s = malloc((size_t) in / g * out * sizeof(float));
        qw = malloc((size_t) in * out / 8 * 4);
        rqw = malloc((size_t) in * out / 8 * 4);
        qz = malloc((size_t) in / g * out / 8 * 4);
        rqz = malloc((size_t) in / g * out / 8 * 4);
        sc = malloc((size_t) in / g * out * 2);
        wt = malloc((size_t) in * out * sizeof(float));
        if (!fail_unless(q && z && s && qw && rqw && qz && rqz && sc && wt,
                         "out of memory"))
        {
            return;
        }
        for (k = 0; k < in * out; k++) {
            q[k] = (uint8_t) (rnd() & 15);
        }
        for (k = 0; k < in / g * out; k++) {
            z[k] = (uint8_t) (rnd() & 15);
            s[k] = rnd_scale();
        }
        lmd_awq_pack(in, out, g, q, z, s, qw, qz, sc);
        ref_pack(in, out, q, rqw);
        ref_pack(in / g, out, z, rqz);
        fail_unless(memcmp(qw, rqw, (size_t) in * out / 2) == 0
                    && memcmp(qz, rqz, (size_t) in / g * out / 2) == 0,
                    "g %u %ux%u: packing differs from AutoAWQ's", g, in,
                    out);

        bad = 0;
        for (k = 0; k < in; k++) {
            for (n = 0; n < out; n++) {
                bad += lmd_awq_get(qw, out, k, n) != q[k * out + n];
            }
        }
        for (k = 0; k < in / g; k++) {
            for (n = 0; n < out; n++) {
                bad += lmd_awq_get(qz, out, k, n) != z[k * out + n];
            }
        }
        fail_unless(bad == 0, "g %u %ux%u: %u nibbles differ", g, in, out,
                    bad);

        memset(&m, 0, sizeof(m));
        m.qweight = qw;
        m.qzeros = qz;
        m.scales = sc;
        m.in = in;
        m.out = out;
        m.group = g;
        /* All rows, then a middle slice, which must land at out[0]. */
        lmd_awq_dequant_rows(&m, 0, out, wt);
        bad = 0;
        for (n = 0; n < out; n++) {
            for (k = 0; k < in; k++) {
                bad += wt[n * in + k]
                       != ((float) q[k * out + n]
                           - (float) z[k / g * out + n])
                          * s[k / g * out + n];
            }
        }
        lmd_awq_dequant_rows(&m, 3, 7, wt);
        for (k = 0; k < in; k++) {
            bad += wt[k] != ((float) q[k * out + 3]
                             - (float) z[k / g * out + 3])
                            * s[k / g * out + 3];
        }
        fail_unless(bad == 0, "g %u %ux%u: %u weights differ", g, in, out,
                    bad);
        free(q);
        free(z);
        free(s);
        free(qw);
        free(rqw);
        free(qz);
        free(rqz);
        free(sc);
        free(wt);
    }
}


// Assumption: in a one-input, 8-output layer, nibble i of the weight word
// (bits 4i..4i+3) is output column AUTOAWQ_ORDER[i] -- nibble 1 column 2,
// nibble 4 column 1 -- and nibble i of the zero word is that column's
// zero; scales s[n] = n + 1 show which column a value landed in.
LMD_TEST(interleave_one_nibble)
{
    struct lmd_awq_mat  m;
    int32_t             qw, qz;
    uint32_t            i, v, n, word;
    uint16_t            sc[8];
    float               wt[8], want;
    int                 ok;

    for (n = 0; n < 8; n++) {
        sc[n] = lmd_f32_to_f16((float) (n + 1));
    }
    memset(&m, 0, sizeof(m));
    m.qweight = &qw;
    m.qzeros = &qz;
    m.scales = sc;
    m.in = 1;
    m.out = 8;
    m.group = 1;
    for (i = 0; i < 8; i++) {
        for (v = 1; v < 16; v += 7) {
            word = v << (4 * i);
            memcpy(&qw, &word, 4);
            qz = 0;
            lmd_awq_dequant_rows(&m, 0, 8, wt);
            ok = 1;
            for (n = 0; n < 8; n++) {
                want = n == AUTOAWQ_ORDER[i] ? (float) (v * (n + 1)) : 0;
                ok &= wt[n] == want;
            }
            fail_unless(ok, "weight nibble %u = %u: want column %u = %u, "
                        "got %g %g %g %g %g %g %g %g", i, v,
                        AUTOAWQ_ORDER[i], v * (AUTOAWQ_ORDER[i] + 1),
                        wt[0], wt[1], wt[2], wt[3], wt[4], wt[5], wt[6],
                        wt[7]);
            fail_unless(lmd_awq_get(&qw, 8, 0, AUTOAWQ_ORDER[i]) == v,
                        "lmd_awq_get: nibble %u is column %u", i,
                        AUTOAWQ_ORDER[i]);

            /* The same nibble as a zero point: -v * s in that column. */
            qw = 0;
            memcpy(&qz, &word, 4);
            lmd_awq_dequant_rows(&m, 0, 8, wt);
            ok = 1;
            for (n = 0; n < 8; n++) {
                want = n == AUTOAWQ_ORDER[i] ? -(float) (v * (n + 1)) : 0;
                ok &= wt[n] == want;
            }
            fail_unless(ok, "zero nibble %u = %u: want column %u", i, v,
                        AUTOAWQ_ORDER[i]);
        }
    }
    /* The two tables are inverses, in the stated directions. */
    for (i = 0; i < 8; i++) {
        fail_unless(lmd_awq_nibble_col[i] == AUTOAWQ_ORDER[i]
                    && lmd_awq_col_nibble[AUTOAWQ_ORDER[i]] == i,
                    "order tables at %u", i);
    }
}


/* ------------------------------------------------------------------------
 * A tiny AWQ Llama on disk
 * ------------------------------------------------------------------------ */

static int
tmp_make(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/lmd_test_awq_XXXXXX");
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


static void
tb_free(struct tb *b)
{
    size_t  i;

    for (i = 0; i < b->n; i++) {
        free(b->data[i]);
    }
    for (i = 0; i < b->nlins; i++) {
        free(b->lins[i].q);
        free(b->lins[i].z);
        free(b->lins[i].s);
    }
    b->n = 0;
    b->nlins = 0;
}


/* Adds a tensor of dtype and 1 or 2 dims; returns its buffer. */
static void *
tb_add(struct tb *b, const char *name, int dtype, int64_t d0, int64_t d1)
{
    struct lmd_tensor  *t = &b->t[b->n];
    size_t              count;

    snprintf(b->names[b->n], sizeof(b->names[0]), "%s", name);
    t->name = b->names[b->n];
    t->dtype = dtype;
    t->n_dims = d1 > 0 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    count = (size_t) d0 * (size_t) (d1 > 0 ? d1 : 1);
    b->data[b->n] = calloc(count ? count : 1, lmd_dtype_size(dtype));
    t->data = b->data[b->n];
    b->n++;
    return b->data[b->n - 1];
}


/* A float16 tensor of small values. */
static void
tb_f16(struct tb *b, const char *name, int64_t d0, int64_t d1, int one)
{
    uint16_t  *h;
    size_t     i, count;

    h = tb_add(b, name, LMD_DTYPE_F16, d0, d1);
    count = (size_t) d0 * (size_t) (d1 > 0 ? d1 : 1);
    for (i = 0; i < count; i++) {
        h[i] = lmd_f32_to_f16(one ? 1.0f : (float) (i % 7) / 64.0f);
    }
}


/* An AWQ linear named base (.qweight/.qzeros/.scales) of in x out. */
static void
tb_awq(struct tb *b, const char *base, uint32_t in, uint32_t out)
{
    struct lin  *l = &b->lins[b->nlins++];
    char         name[80];
    int32_t     *qw, *qz;
    uint16_t    *sc;
    size_t       i;

    snprintf(l->name, sizeof(l->name), "%.*s", (int) sizeof(l->name) - 1,
             base);
    l->in = in;
    l->out = out;
    l->q = malloc((size_t) in * out);
    l->z = malloc((size_t) in / GROUP * out);
    l->s = malloc((size_t) in / GROUP * out * sizeof(float));
    for (i = 0; i < (size_t) in * out; i++) {
        l->q[i] = (uint8_t) (rnd() & 15);
    }
    for (i = 0; i < (size_t) in / GROUP * out; i++) {
        l->z[i] = (uint8_t) (rnd() & 15);
        l->s[i] = rnd_scale();
    }
    snprintf(name, sizeof(name), "%s.qweight", base);
    qw = tb_add(b, name, LMD_DTYPE_I32, in, out / 8);
    snprintf(name, sizeof(name), "%s.qzeros", base);
    qz = tb_add(b, name, LMD_DTYPE_I32, in / GROUP, out / 8);
    snprintf(name, sizeof(name), "%s.scales", base);
    sc = tb_add(b, name, LMD_DTYPE_F16, in / GROUP, out);
    ref_pack(in, out, l->q, qw);
    ref_pack(in / GROUP, out, l->z, qz);
    for (i = 0; i < (size_t) in / GROUP * out; i++) {
        sc[i] = lmd_f32_to_f16(l->s[i]);
    }
}


static void
tb_llama(struct tb *b)
{
    static const struct {
        const char  *name;
        uint32_t     in, out;
    } lins[] = {
        { "self_attn.q_proj", HIDDEN, HEADS * HD },
        { "self_attn.k_proj", HIDDEN, KV * HD },
        { "self_attn.v_proj", HIDDEN, KV * HD },
        { "self_attn.o_proj", HEADS * HD, HIDDEN },
        { "mlp.gate_proj", HIDDEN, INTER },
        { "mlp.up_proj", HIDDEN, INTER },
        { "mlp.down_proj", INTER, HIDDEN },
    };
    char      name[64];
    uint32_t  l;
    size_t    i;

    memset(b, 0, sizeof(*b));
    rng_state = 42;
    tb_f16(b, "model.embed_tokens.weight", VOCAB, HIDDEN, 0);
    tb_f16(b, "lm_head.weight", VOCAB, HIDDEN, 0);
    tb_f16(b, "model.norm.weight", HIDDEN, 0, 1);
    for (l = 0; l < LAYERS; l++) {
        snprintf(name, sizeof(name), "model.layers.%u.input_layernorm."
                 "weight", l);
        tb_f16(b, name, HIDDEN, 0, 1);
        snprintf(name, sizeof(name), "model.layers.%u.post_attention_"
                 "layernorm.weight", l);
        tb_f16(b, name, HIDDEN, 0, 1);
        for (i = 0; i < sizeof(lins) / sizeof(lins[0]); i++) {
            snprintf(name, sizeof(name), "model.layers.%u.%s", l,
                     lins[i].name);
            tb_awq(b, name, lins[i].in, lins[i].out);
        }
    }
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


/* config.json for the tiny model; quant is the quantization_config
 * object's inside. */
static int
write_config(const char *quant)
{
    char   path[256], text[2048];
    FILE  *f;
    int    ok;

    snprintf(text, sizeof(text),
             "{\"architectures\": [\"LlamaForCausalLM\"], "
             "\"vocab_size\": %d, \"hidden_size\": %d, "
             "\"intermediate_size\": %d, \"num_hidden_layers\": %d, "
             "\"num_attention_heads\": %d, \"num_key_value_heads\": %d, "
             "\"torch_dtype\": \"float16\", "
             "\"quantization_config\": {%s}}\n",
             VOCAB, HIDDEN, INTER, LAYERS, HEADS, KV, quant);
    snprintf(path, sizeof(path), "%s/config.json", tmp);
    f = fopen(path, "w");
    if (f == NULL) {
        return 0;
    }
    ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

#define GOOD_QUANT  "\"quant_method\": \"awq\", \"bits\": 4, " \
                    "\"group_size\": 16, \"zero_point\": true, " \
                    "\"version\": \"GEMM\""


static int
write_model(const char *quant, struct tb *b)
{
    char  path[256];

    snprintf(path, sizeof(path), "%s/model.safetensors", tmp);
    return write_config(quant)
           && lmd_safetensors_write(path, b->t, b->n, err, sizeof(err))
              == LMD_OK;
}


/* The AWQ matrix of layer l that the test called base. */
static const struct lmd_wmat *
role(const struct lmd_model_weights *w, const char *base)
{
    const struct lmd_layer_weights  *lw;
    unsigned                         l;
    const char                      *tail;

    l = (unsigned) strtoul(base + strlen("model.layers."), NULL, 10);
    lw = &w->layers[l];
    tail = strchr(base + strlen("model.layers."), '.') + 1;
    return strcmp(tail, "self_attn.q_proj") == 0 ? &lw->wq
           : strcmp(tail, "self_attn.k_proj") == 0 ? &lw->wk
           : strcmp(tail, "self_attn.v_proj") == 0 ? &lw->wv
           : strcmp(tail, "self_attn.o_proj") == 0 ? &lw->wo
           : strcmp(tail, "mlp.gate_proj") == 0 ? &lw->w_gate
           : strcmp(tail, "mlp.up_proj") == 0 ? &lw->w_up
           : &lw->w_down;
}


// Assumption: an AWQ Llama folder (config.json with quantization_config,
// qweight/qzeros/scales per linear, float embeddings and norms) loads,
// each linear is I32 in HF orientation [out][in], and its dequantized
// rows equal (q - z) * s of the nibbles and scales the test packed.
LMD_TEST(tiny_llama_loads)
{
    struct lmd_model_weights  *w;
    const struct lmd_wmat     *m;
    const struct lin          *l;
    struct tb                  b;
    float                     *wt, want;
    uint32_t                   n, k, bad;
    size_t                     i;

    if (!tmp_make()) {
        return;
    }
    tb_llama(&b);
    if (!fail_unless(write_model(GOOD_QUANT, &b), "write: %s", err)) {
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
    fail_unless(w->cfg.quant == LMD_QUANT_AWQ && w->cfg.group_size == GROUP,
                "config: quant %d group %u", w->cfg.quant,
                w->cfg.group_size);
    fail_unless(w->embed.dtype == LMD_DTYPE_F16
                && w->layers[0].attn_norm.dtype == LMD_DTYPE_F16,
                "embeddings and norms stay f16");
    wt = malloc((size_t) INTER * INTER * sizeof(float));
    for (i = 0; wt != NULL && i < b.nlins; i++) {
        l = &b.lins[i];
        m = role(w, l->name);
        if (!fail_unless(m->dtype == LMD_DTYPE_I32 && m->rows == l->out
                         && m->cols == l->in && m->awq.in == l->in
                         && m->awq.out == l->out && m->awq.group == GROUP
                         && m->awq.qweight != NULL
                         && m->data == m->awq.qweight,
                         "%s: dtype %d [%u][%u]", l->name, m->dtype,
                         m->rows, m->cols))
        {
            continue;
        }
        fail_unless(strstr(m->awq.scales_name, l->name) != NULL
                    && strstr(m->awq.scales_name, ".scales") != NULL,
                    "%s: scales name %s", l->name, m->awq.scales_name);
        lmd_awq_dequant_rows(&m->awq, 0, l->out, wt);
        bad = 0;
        for (n = 0; n < l->out; n++) {
            for (k = 0; k < l->in; k++) {
                want = ((float) l->q[k * l->out + n]
                        - (float) l->z[k / GROUP * l->out + n])
                       * l->s[k / GROUP * l->out + n];
                bad += wt[n * l->in + k] != want;
            }
        }
        fail_unless(bad == 0, "%s: %u weights differ", l->name, bad);
    }
    free(wt);
    lmd_model_weights_free(w);
    tb_free(&b);
    tmp_remove();
}


/* Loading fails with an error that names file and says what. */
static int
fails_with(const char *file, const char *what)
{
    struct lmd_model_weights  *w;

    err[0] = '\0';
    w = lmd_model_weights_load(tmp, "auto", 0, err, sizeof(err));
    lmd_model_weights_free(w);
    return w == NULL && strstr(err, file) != NULL
           && strstr(err, what) != NULL;
}


// Assumption: each malformed AWQ input is refused with one line naming
// the file and the tensor or config field at fault.
LMD_TEST(malformed)
{
    static const struct {
        const char  *quant;
        const char  *what;
    } configs[] = {
        { "\"quant_method\": \"awq\", \"bits\": 8, \"group_size\": 16, "
          "\"zero_point\": true, \"version\": \"gemm\"",
          "quantization_config.bits must be 4" },
        { "\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 16, "
          "\"zero_point\": true, \"version\": \"gemv\"",
          "quantization_config.version \"gemv\" is not supported" },
        { "\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 24, "
          "\"zero_point\": true, \"version\": \"gemm\"",
          "quantization_config.group_size 24 does not divide "
          "hidden_size 32" },
        { "\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 16, "
          "\"zero_point\": false, \"version\": \"gemm\"",
          "quantization_config.zero_point false" },
        { "\"quant_method\": \"awq\", \"bits\": 4, "
          "\"zero_point\": true, \"version\": \"gemm\"",
          "quantization_config.group_size must be" },
        { "\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 16",
          "quantization_config.quant_method \"gptq\" is not supported "
          "(awq only)" },
    };
    struct lmd_tensor  *t;
    struct tb           b;
    size_t              i;

    if (!tmp_make()) {
        return;
    }
    tb_llama(&b);
    for (i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
        fail_unless(write_model(configs[i].quant, &b), "write: %s", err);
        fail_unless(fails_with("config.json", configs[i].what),
                    "config %zu: got \"%s\", want \"%s\"", i, err,
                    configs[i].what);
    }

    /* Wrong qweight shape (same element count: the writer reads the
     * buffer by shape). */
    t = tb_find(&b, "model.layers.1.self_attn.k_proj.qweight");
    t->shape[0] = 16;
    t->shape[1] = 4;
    fail_unless(write_model(GOOD_QUANT, &b), "write: %s", err);
    fail_unless(fails_with("model.safetensors", "tensor "
                           "model.layers.1.self_attn.k_proj.qweight: shape "
                           "[16, 4] but config.json says [32, 2]"),
                "qweight shape: %s", err);
    t->shape[0] = 32;
    t->shape[1] = 2;

    /* qzeros stored as F16: same bytes per row pair, wrong dtype. */
    t = tb_find(&b, "model.layers.0.mlp.down_proj.qzeros");
    t->dtype = LMD_DTYPE_F16;
    t->shape[1] *= 2;
    fail_unless(write_model(GOOD_QUANT, &b), "write: %s", err);
    fail_unless(fails_with("model.safetensors", "tensor "
                           "model.layers.0.mlp.down_proj.qzeros: dtype "
                           "f16 but AWQ needs i32"),
                "qzeros dtype: %s", err);
    t->dtype = LMD_DTYPE_I32;
    t->shape[1] /= 2;

    /* Missing scales: write every tensor but that one. */
    t = tb_find(&b, "model.layers.1.mlp.gate_proj.scales");
    i = (size_t) (t - b.t);
    memmove(&b.t[i], &b.t[i + 1], (b.n - i - 1) * sizeof(b.t[0]));
    b.n--;
    fail_unless(write_model(GOOD_QUANT, &b), "write: %s", err);
    fail_unless(fails_with("model.safetensors", "tensor "
                           "model.layers.1.mlp.gate_proj.scales is "
                           "missing"), "missing scales: %s", err);
    /* Put the descriptor back so tb_free frees the right buffers. */
    b.n++;
    memmove(&b.t[i + 1], &b.t[i], (b.n - i - 1) * sizeof(b.t[0]));
    tb_free(&b);
    tmp_remove();
}


/* ------------------------------------------------------------------------
 * Dummy AWQ weights
 * ------------------------------------------------------------------------ */

static uint64_t
awq_hash(const struct lmd_model_weights *w)
{
    const struct lmd_awq_mat  *a;
    const unsigned char       *p;
    uint64_t                   h = 1469598103934665603ull;
    size_t                     len, i, t;
    uint32_t                   l;

    for (l = 0; l < w->cfg.n_layers; l++) {
        const struct lmd_wmat  *ms[] = {
            &w->layers[l].wq, &w->layers[l].wk, &w->layers[l].wv,
            &w->layers[l].wo, &w->layers[l].w_gate, &w->layers[l].w_up,
            &w->layers[l].w_down,
        };
        for (t = 0; t < 7; t++) {
            a = &ms[t]->awq;
            p = (const unsigned char *) a->qweight;
            len = (size_t) a->in * a->out / 2;
            for (i = 0; i < len; i++) {
                h = (h ^ p[i]) * 1099511628211ull;
            }
            p = (const unsigned char *) a->scales;
            len = (size_t) a->in / a->group * a->out * 2;
            for (i = 0; i < len; i++) {
                h = (h ^ p[i]) * 1099511628211ull;
            }
        }
    }
    return h;
}


// Assumption: load_format dummy with a quantization_config lays out
// qweight/qzeros/scales of the config's shapes; the same seed gives the
// same bytes, another seed others; zeros are 8, scales positive, and the
// weights spread over all 16 nibble values.
LMD_TEST(dummy_seeded)
{
    struct lmd_model_weights  *w1, *w2, *w3;
    const struct lmd_awq_mat  *a;
    uint32_t                   k, n, seen, zbad, sbad;
    float                      s;

    if (!tmp_make()) {
        return;
    }
    /* Nothing but config.json is read. */
    fail_unless(write_config(GOOD_QUANT), "write config");
    w1 = lmd_model_weights_load(tmp, "dummy", 7, err, sizeof(err));
    w2 = lmd_model_weights_load(tmp, "dummy", 7, err, sizeof(err));
    w3 = lmd_model_weights_load(tmp, "dummy", 8, err, sizeof(err));
    if (fail_unless(w1 != NULL && w2 != NULL && w3 != NULL, "dummy: %s",
                    err))
    {
        a = &w1->layers[1].w_down.awq;
        fail_unless(w1->layers[1].w_down.dtype == LMD_DTYPE_I32
                    && a->in == INTER && a->out == HIDDEN
                    && a->group == GROUP && a->qweight != NULL
                    && strcmp(a->qzeros_name,
                              "model.layers.1.mlp.down_proj.qzeros") == 0,
                    "down_proj: in %u out %u group %u %s", a->in, a->out,
                    a->group, a->qzeros_name);
        fail_unless(awq_hash(w1) == awq_hash(w2), "same seed differs");
        fail_unless(awq_hash(w1) != awq_hash(w3), "seeds 7 and 8 agree");
        seen = 0;
        zbad = 0;
        sbad = 0;
        for (k = 0; k < a->in; k++) {
            for (n = 0; n < a->out; n++) {
                seen |= 1u << lmd_awq_get(a->qweight, a->out, k, n);
            }
        }
        for (k = 0; k < a->in / a->group; k++) {
            for (n = 0; n < a->out; n++) {
                zbad += lmd_awq_get(a->qzeros, a->out, k, n) != 8;
                s = lmd_f16_to_f32(a->scales[k * a->out + n]);
                sbad += !(s > 0 && s < 1);
            }
        }
        fail_unless(seen == 0xffff && zbad == 0 && sbad == 0,
                    "nibbles seen %#x, zeros off %u, scales off %u", seen,
                    zbad, sbad);
        fail_unless(w1->embed.dtype == LMD_DTYPE_F16
                    && w1->layers[0].ffn_norm.dtype == LMD_DTYPE_F16,
                    "float tensors in torch_dtype");
    }
    lmd_model_weights_free(w1);
    lmd_model_weights_free(w2);
    lmd_model_weights_free(w3);
    tmp_remove();
}
