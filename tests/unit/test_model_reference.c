/*
 * test_model_reference.c -- the cpu engine's f32 forward against a plain
 * double-precision forward written here, on small random models of every
 * architecture and RoPE variant lmd supports.
 *
 * Each case draws a model (model_ref.c), writes config.json and
 * model.safetensors with this test's own writer into a fresh folder,
 * opens it with lmd_engine_cpu.so (weights "f32", one thread) and
 * compares the logits of every position of a 16-20 token sequence:
 * once as one prefill step, once token by token through the KV cache
 * (but dynamic NTK, whose frequencies depend on the sequence length:
 * there only the one prefill, as transformers runs it).  The error is
 * |engine - reference| / max(1, |reference|); the bound is 1e-4, and
 * the f32 engine is expected near 1e-6 (each case prints its figure).
 * Three more cases open a Qwen2 with weights bf16, f16 and int8 and
 * compare with the reference on the weights rounded the same way
 * (mref_round_weights), within the same bound (int8: REF_TOL_INT8, as
 * x is quantized too); this program sets
 * LMD_CPU_BF16=fma so that bf16 keeps its activations in f32.
 * Where a case exists for a feature (RoPE scaling, a sliding window) it
 * also checks that the reference without that feature differs by more
 * than 1e-2 on the same tokens, so the case can tell them apart.
 *
 * The first case checks the reference itself against transformers'
 * top-5 logits for stories260K (../shared, LMD_SHARED overrides;
 * skipped when absent).
 */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lmd_test.h"
#include "model_ref.c"

#define REF_TOL     1e-4        /* max |a - b| / max(1, |b|) */
/* int8: the engine's int8 products quantize x to 16 bits per block
 * (modules/cpu/cpu_gemm.h) and the reference does the same to its own
 * double x, but the two round a value differently wherever their x
 * differ across a rounding boundary, one step being 2^-15 of the
 * block's largest |x|: about 2e-4 here. */
#define REF_TOL_INT8 1e-3
#define FEATURE_MIN 1e-2        /* a feature must move the logits this much */


/* BF16 weights by conversion and FMA, not vdpbf16ps (which rounds the
 * activations to bf16 as well: no reference can follow that closely).
 * The engine reads it once, at its first use in the process. */
__attribute__((constructor)) static void
set_bf16_fma(void)
{
    setenv("LMD_CPU_BF16", "fma", 1);
}


/* max |got - want| / max(1, |want|); infinity for a NaN. */
static double
max_rel(const float *got, const double *want, size_t n)
{
    double  worst = 0, r;
    size_t  i;

    for (i = 0; i < n; i++) {
        r = fabs(got[i] - want[i]) / fmax(1.0, fabs(want[i]));
        if (isnan(r)) {
            return INFINITY;
        }
        worst = fmax(worst, r);
    }
    return worst;
}


static double
max_diff(const double *a, const double *b, size_t n)
{
    double  worst = 0;
    size_t  i;

    for (i = 0; i < n; i++) {
        worst = fmax(worst, fabs(a[i] - b[i]));
    }
    return worst;
}


/* ------------------------------------------------------------------------
 * The reference against transformers
 * ------------------------------------------------------------------------ */

static char *
read_text(const char *path)
{
    size_t  n;

    return mref_slurp(path, &n);
}


/* The indices of v's 5 largest values, largest first (the first on ties,
 * as torch.topk). */
static void
top5(const double *v, uint32_t n, uint32_t *idx)
{
    uint32_t  k, i, p;
    int       taken;

    for (k = 0; k < 5; k++) {
        idx[k] = UINT32_MAX;
        for (i = 0; i < n; i++) {
            taken = 0;
            for (p = 0; p < k; p++) {
                taken |= idx[p] == i;
            }
            if (!taken && (idx[k] == UINT32_MAX || v[i] > v[idx[k]])) {
                idx[k] = i;
            }
        }
    }
}


/* Assumption: stories260K is a plain Llama (GQA 8/4, head_dim 8, tied);
 * our double-precision forward must give transformers' float32 top-5
 * within 1e-4 relative, or the rest of this file proves nothing. */
LMD_TEST(reference_matches_transformers)
{
    const char         *shared = getenv("LMD_SHARED");
    static char         reason[700];
    char                dir[512], path[600], err[512];
    char               *text;
    cJSON              *exp, *cs, *c, *ids, *top, *e;
    struct mref_model   m;
    int32_t             tok[64];
    double             *logits, *last, want;
    uint32_t            n, k, best[5];
    int                 want_id, cases = 0;

    snprintf(dir, sizeof(dir), "%s/models/stories260K",
             shared != NULL && shared[0] ? shared : "../shared");
    snprintf(path, sizeof(path), "%s/expected.json", dir);
    text = read_text(path);
    if (text == NULL) {
        snprintf(reason, sizeof(reason), "%s is absent (set LMD_SHARED "
                 "to the folder holding models/)", path);
        lmd_test_skip(reason);
        return;
    }
    exp = cJSON_Parse(text);
    free(text);
    fail_unless(exp != NULL, "%s: not JSON", path);
    if (exp == NULL) {
        return;
    }
    if (mref_model_read_llama(&m, dir, err, sizeof(err)) != 0) {
        fail_unless(0, "%s", err);
        mref_model_free(&m);
        cJSON_Delete(exp);
        return;
    }
    cs = cJSON_GetObjectItemCaseSensitive(exp, "cases");
    cJSON_ArrayForEach(c, cs) {
        ids = cJSON_GetObjectItemCaseSensitive(c, "input_ids");
        top = cJSON_GetObjectItemCaseSensitive(c, "top5_last_logits");
        n = 0;
        cJSON_ArrayForEach(e, ids) {
            if (n < 64) {
                tok[n++] = (int32_t) e->valuedouble;
            }
        }
        logits = malloc((size_t) n * m.vocab * sizeof(double));
        fail_unless(logits != NULL && mref_forward(&m, tok, n, logits) == 0,
                    "reference forward failed");
        if (logits == NULL) {
            continue;
        }
        last = logits + (size_t) (n - 1) * m.vocab;
        top5(last, m.vocab, best);
        for (k = 0; k < 5; k++) {
            e = cJSON_GetArrayItem(top, (int) k);
            want_id = (int) cJSON_GetArrayItem(e, 0)->valuedouble;
            want = cJSON_GetArrayItem(e, 1)->valuedouble;
            fail_unless((int) best[k] == want_id, "%s: top-%u id %u, "
                        "want %d", cJSON_GetObjectItemCaseSensitive(c,
                        "prompt")->valuestring, k + 1, best[k], want_id);
            fail_unless(fabs(last[best[k]] - want)
                        <= 1e-4 * fmax(1, fabs(want)),
                        "top-%u logit %.7f, want %.7f", k + 1,
                        last[best[k]], want);
        }
        free(logits);
        cases++;
    }
    printf("# reference vs transformers: %d cases\n", cases);
    fail_unless(cases > 0, "no cases in %s", path);
    mref_model_free(&m);
    cJSON_Delete(exp);
}


/* ------------------------------------------------------------------------
 * Random models against the engine
 * ------------------------------------------------------------------------ */

/* A 2-layer Llama, MHA, head_dim 8; every case starts from it. */
static void
base(struct mref_model *m, const char *name, uint64_t seed)
{
    memset(m, 0, sizeof(*m));
    m->name = name;
    m->arch = MREF_LLAMA;
    m->dtype = MREF_F32;
    m->vocab = 80;
    m->hidden = 32;
    m->inter = 44;
    m->n_layers = 2;
    m->n_heads = 4;
    m->n_kv_heads = 4;
    m->max_position = 256;
    m->rope_theta = 10000;
    m->rms_eps = 1e-5;
    m->rope_factor = 1;
    m->seed = seed;
}


/* The writer against the reader: a Llama written in each dtype reads
 * back with the same values and shapes (biases aside, which the reader
 * skips). */
LMD_TEST(writer_round_trip)
{
    static const int    dtypes[] = { MREF_F32, MREF_BF16, MREF_F16 };
    struct mref_model   m, r;
    char                dir[4096], err[512];
    size_t              i, k;
    uint32_t            l;
    double              d;

    for (i = 0; i < 3; i++) {
        base(&m, "round_trip", 30 + i);
        m.dtype = dtypes[i];
        m.n_kv_heads = 2;
        m.head_dim = 16;
        memset(&r, 0, sizeof(r));
        if (mref_model_init(&m) != 0 || mref_tmpdir(dir, sizeof(dir)) != 0)
        {
            fail_unless(0, "out of memory or no temporary folder");
            mref_model_free(&m);
            return;
        }
        if (mref_model_write(&m, dir, err, sizeof(err)) != 0
            || mref_model_read_llama(&r, dir, err, sizeof(err)) != 0)
        {
            fail_unless(0, "dtype %d: %s", m.dtype, err);
        } else {
            fail_unless(r.vocab == m.vocab && r.hidden == m.hidden
                        && r.inter == m.inter && r.n_layers == m.n_layers
                        && r.n_heads == m.n_heads
                        && r.n_kv_heads == m.n_kv_heads
                        && r.head_dim == m.head_dim && !r.tied,
                        "dtype %d: shapes differ", m.dtype);
            d = max_diff(r.embed, m.embed, (size_t) m.vocab * m.hidden);
            d = fmax(d, max_diff(r.lm_head, m.lm_head,
                                 (size_t) m.vocab * m.hidden));
            for (l = 0; l < m.n_layers; l++) {
                k = (size_t) m.n_heads * 16 * m.hidden;
                d = fmax(d, max_diff(r.layers[l].wq, m.layers[l].wq, k));
                d = fmax(d, max_diff(r.layers[l].wo, m.layers[l].wo, k));
                k = (size_t) m.inter * m.hidden;
                d = fmax(d, max_diff(r.layers[l].w_down,
                                     m.layers[l].w_down, k));
                d = fmax(d, max_diff(r.layers[l].ffn_norm,
                                     m.layers[l].ffn_norm, m.hidden));
            }
            fail_unless(d == 0, "dtype %d: values differ by %g", m.dtype,
                        d);
        }
        mref_rmdir(dir);
        mref_model_free(&m);
        mref_model_free(&r);
    }
}


/* The reference with its RoPE scaling and its window taken away: must
 * differ from the real one, or the case would not see those features. */
static void
check_features_matter(const struct mref_model *m, const int32_t *tok,
    uint32_t n, const double *want)
{
    struct mref_model   plain = *m;
    double             *other;
    double              d;

    if ((m->rope == MREF_ROPE_DEFAULT
         || (m->rope == MREF_ROPE_DYNAMIC && n <= m->max_position))
        && (m->sliding_window == 0 || n <= m->sliding_window))
    {
        return;                 /* nothing to tell apart */
    }
    plain.rope = MREF_ROPE_DEFAULT;
    plain.sliding_window = 0;
    other = malloc((size_t) n * m->vocab * sizeof(double));
    if (other == NULL || mref_forward(&plain, tok, n, other) != 0) {
        fail_unless(0, "%s: out of memory", m->name);
        free(other);
        return;
    }
    d = max_diff(want, other, (size_t) n * m->vocab);
    fail_unless(d > FEATURE_MIN, "%s: its RoPE scaling/window changes the "
                "reference logits by only %.3g", m->name, d);
    free(other);
}


/* Writes m, runs the engine with `weights` and the reference (on the
 * weights rounded as the engine rounds them) over n random tokens. */
static void
check_model_as(struct mref_model *m, uint32_t n, int decode,
    const char *weights)
{
    char                 dir[4096], err[LMD_MODULE_ERR_LEN];
    int32_t             *tok;
    double              *want;
    float               *got;
    double               r;
    double               tol = strcmp(weights, "int8") == 0 ? REF_TOL_INT8
                                                            : REF_TOL;
    void                *handle = NULL;
    const struct lmd_module  *mod;
    struct mref_engine   e;
    size_t               count = (size_t) n * m->vocab;

    err[0] = '\0';
    tok = malloc(n * sizeof(int32_t));
    want = malloc(count * sizeof(double));
    got = malloc(count * sizeof(float));
    if (tok == NULL || want == NULL || got == NULL
        || mref_model_init(m) != 0)
    {
        fail_unless(0, "%s: out of memory", m->name);
        goto free;
    }
    if (mref_tmpdir(dir, sizeof(dir)) != 0) {
        fail_unless(0, "%s: mkdtemp failed", m->name);
        goto free;
    }
    if (mref_model_write(m, dir, err, sizeof(err)) != 0) {
        fail_unless(0, "%s: %s", m->name, err);
        goto rm;
    }
    mref_tokens(m->seed * 7 + 1, m->vocab, tok, n);
    if (strcmp(weights, "f32") != 0) {
        mref_round_weights(m, weights);     /* the file keeps them */
    }
    if (mref_forward(m, tok, n, want) != 0) {
        fail_unless(0, "%s: out of memory", m->name);
        goto rm;
    }
    check_features_matter(m, tok, n, want);

    mod = mref_module_open(&handle, err, sizeof(err));
    if (mod == NULL) {
        fail_unless(0, "%s", err);
        goto rm;
    }
    if (mref_engine_open(&e, mod, dir, weights, 1, err, sizeof(err)) != 0)
    {
        fail_unless(0, "%s: open: %s", m->name, err);
        goto close;
    }
    fail_unless(e.mem.vocab_size == m->vocab, "%s: vocab_size %u, want %u",
                m->name, e.mem.vocab_size, m->vocab);
    if (e.mem.vocab_size != m->vocab) {
        goto engine;
    }

    memset(got, 0, count * sizeof(float));
    if (mref_engine_run(&e, tok, n, 0, 16, got, err, sizeof(err)) != 0) {
        fail_unless(0, "%s: prefill: %s", m->name, err);
    } else {
        r = max_rel(got, want, count);
        printf("# %s, %s: prefill of %u, max rel err %.2e\n", m->name,
               weights, n, r);
        fail_unless(r <= tol, "%s: prefill of %u tokens: max rel err "
                    "%.3g > %g", m->name, n, r, tol);
    }
    if (decode) {
        memset(got, 0, count * sizeof(float));
        if (mref_engine_run(&e, tok, n, 1, 8, got, err, sizeof(err)) != 0) {
            fail_unless(0, "%s: decode: %s", m->name, err);
        } else {
            r = max_rel(got, want, count);
            printf("# %s, %s: decode of %u, max rel err %.2e\n", m->name,
                   weights, n, r);
            fail_unless(r <= tol, "%s: decode of %u tokens: max rel "
                        "err %.3g > %g", m->name, n, r, tol);
        }
    }
engine:
    mref_engine_close(&e);
close:
    mref_module_close(handle);
rm:
    mref_rmdir(dir);
free:
    mref_model_free(m);
    free(tok);
    free(want);
    free(got);
}


static void
check_model(struct mref_model *m, uint32_t n, int decode)
{
    check_model_as(m, n, decode, "f32");
}


LMD_TEST(llama_mha)
{
    struct mref_model  m;

    base(&m, "llama_mha", 11);
    check_model(&m, 16, 1);
}


/* GQA: 4 query heads share 2 KV heads, head_dim 16. */
LMD_TEST(llama_gqa)
{
    struct mref_model  m;

    base(&m, "llama_gqa", 12);
    m.hidden = 64;
    m.inter = 72;
    m.vocab = 96;
    m.n_kv_heads = 2;
    check_model(&m, 16, 1);
}


/* config.json's head_dim (16) is not hidden/heads (8): q is wider than
 * the hidden state and o_proj narrows it back. */
LMD_TEST(llama_explicit_head_dim)
{
    struct mref_model  m;

    base(&m, "llama_head_dim", 13);
    m.head_dim = 16;
    m.n_kv_heads = 2;
    check_model(&m, 16, 1);
}


/* Qwen2: q/k/v biases, tied embeddings, and a sliding_window key that
 * use_sliding_window false turns off (as Qwen2.5's configs have it). */
LMD_TEST(qwen2_bias_tied)
{
    struct mref_model  m;

    base(&m, "qwen2", 14);
    m.arch = MREF_QWEN2;
    m.n_kv_heads = 2;
    m.qkv_bias = 1;
    m.tied = 1;
    m.rms_eps = 1e-6;
    m.rope_theta = 1000000;
    m.unused_window = 4;
    check_model(&m, 16, 1);
}


/* InternLM2: wqkv grouped per KV head, 3 query heads per group, and its
 * own names; rope_scaling {"type": "dynamic"} as the real configs have
 * it, inert below max_position_embeddings. */
LMD_TEST(internlm2_wqkv)
{
    struct mref_model  m;

    base(&m, "internlm2", 15);
    m.arch = MREF_INTERNLM2;
    m.hidden = 48;
    m.inter = 56;
    m.n_heads = 6;
    m.n_kv_heads = 2;
    m.rope = MREF_ROPE_DYNAMIC;
    m.rope_old_key = 1;
    m.rope_factor = 2;
    m.max_position = 32768;
    check_model(&m, 16, 1);
}


/* Mistral: a window of 4 over 20 tokens. */
LMD_TEST(mistral_sliding_window)
{
    struct mref_model  m;

    base(&m, "mistral", 16);
    m.arch = MREF_MISTRAL;
    m.n_kv_heads = 2;
    m.sliding_window = 4;
    check_model(&m, 20, 1);
}


LMD_TEST(rope_linear)
{
    struct mref_model  m;

    base(&m, "rope_linear", 17);
    m.n_kv_heads = 2;
    m.rope = MREF_ROPE_LINEAR;
    m.rope_factor = 2;
    check_model(&m, 16, 1);
}


/* Llama 3.1's bands with an original context of 8: with head_dim 16 and
 * theta 10000 the first frequency is blended, the others slowed. */
LMD_TEST(rope_llama3)
{
    struct mref_model  m;

    base(&m, "rope_llama3", 18);
    m.hidden = 64;
    m.n_kv_heads = 2;
    m.rope = MREF_ROPE_LLAMA3;
    m.rope_factor = 8;
    m.rope_low = 1;
    m.rope_high = 4;
    m.rope_orig_max = 8;
    check_model(&m, 16, 1);
}


/* Dynamic NTK past max_position_embeddings 8: a 16-token prefill runs
 * with the base stretched for seq_len 16 at every position. */
LMD_TEST(rope_dynamic)
{
    struct mref_model  m;

    base(&m, "rope_dynamic", 19);
    m.n_kv_heads = 2;
    m.rope = MREF_ROPE_DYNAMIC;
    m.rope_factor = 2;
    m.max_position = 8;
    check_model(&m, 16, 0);
}


/* Stored as BF16 and as F16, computed in f32: the reference uses the
 * rounded values. */
LMD_TEST(stored_bf16)
{
    struct mref_model  m;

    base(&m, "stored_bf16", 20);
    m.dtype = MREF_BF16;
    m.n_kv_heads = 2;
    check_model(&m, 16, 1);
}


LMD_TEST(stored_f16)
{
    struct mref_model  m;

    base(&m, "stored_f16", 21);
    m.dtype = MREF_F16;
    m.arch = MREF_QWEN2;
    m.qkv_bias = 1;
    check_model(&m, 16, 1);
}


/* The engine's reduced-precision weights against the reference on the
 * same rounded values: a Qwen2 with GQA and biases, stored F32, opened
 * with weights bf16, f16 and int8.  The activations stay f32 in all three
 * (LMD_CPU_BF16=fma, set before the module loads: see set_bf16_fma), so
 * only the f32 arithmetic differs from the reference. */
static void
check_rounded(const char *name, const char *weights, uint64_t seed)
{
    struct mref_model  m;

    base(&m, name, seed);
    m.arch = MREF_QWEN2;
    m.hidden = 64;
    m.inter = 72;
    m.n_kv_heads = 2;
    m.qkv_bias = 1;
    check_model_as(&m, 16, 1, weights);
}


LMD_TEST(weights_bf16)
{
    check_rounded("qwen2_bf16", "bf16", 22);
}


LMD_TEST(weights_f16)
{
    check_rounded("qwen2_f16", "f16", 23);
}


LMD_TEST(weights_int8)
{
    check_rounded("qwen2_int8", "int8", 24);
}
