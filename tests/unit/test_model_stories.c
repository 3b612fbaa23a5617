/*
 * test_model_stories.c -- the cpu engine on stories260K (a real 260K
 * parameter Llama) against transformers' outputs in expected.json.
 *
 * ../shared/models/stories260K (LMD_SHARED overrides ../shared; every
 * case skips when it is absent) holds the model and, for six prompts,
 * what transformers 5.17 computed in float32: the prompt's ids, the top-5
 * logits of its last position and 64 greedy tokens with their text.
 * The engine runs through lmd_session (engine/lmd_session.h) with
 * lmd_engine_cpu.so loaded from $LMD_MODULES or modules/.
 *
 *   f32    the tokenizer's ids, the top-5 (ids in order, values within
 *          1e-4 relative), 64 greedy steps one token at a time through
 *          the KV cache (the same ids), and their text.
 *   chunks the same tokens fed at once, in chunks of 3 and one by one
 *          give the same logits bit for bit, for f32, bf16 and int8.
 *   bf16, f16, int8
 *          teacher-forced (prompt + the reference's generated ids, the
 *          logits of every position) against the f32 engine: the max and
 *          mean |dlogit| are printed and bounded (the bounds below), and
 *          the argmax is f32's wherever f32's top-1/top-2 gap exceeds
 *          0.05.
 *   kv     the int8 and int4 KV caches of lmd_kv_int8.so against the f32
 *          cache (stories_kv_codecs, bounds there).
 */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lmd_module.h"
#include "lmd_module_load.h"
#include "lmd_session.h"
#include "lmd_tokenizer.h"
#include "lmd_test.h"
#include "model_ref.c"

#define TOP5_TOL    1e-4        /* |a - b| <= TOP5_TOL * max(1, |b|) */
#define GAP_MIN     0.05        /* the argmax must hold past this gap */

/* int8 (per-row, weight-only) changes stories260K's argmax at 3 of 424
 * positions with gaps of 0.059, 0.071 and 0.089, and the double reference
 * on the same int8 weights changes it at the very same ones (the engine
 * is 1.6e-5 from that reference): the quantization's doing, not the
 * engine's.  So int8 holds the argmax past 0.1 only; the printed line
 * still counts the flips past 0.05. */
#define GAP_MIN_INT8  0.1
#define MAX_TOKENS  128         /* the session's capacity */

/*
 * Bounds on |dlogit| against the f32 engine, teacher-forced over the six
 * cases (434 positions, logits spanning about -15..18).  Measured on an
 * AVX-512 machine: bf16 max 0.129 mean 0.020 (vdpbf16ps: activations in
 * bf16 too; 0.102 / 0.015 with LMD_CPU_BF16=fma), f16 max 0.0124 mean
 * 0.0017, int8 max 0.385 mean 0.054.  Each bound is about twice that.
 */
#define TOL_BF16_MAX    0.25
#define TOL_BF16_MEAN   0.04
#define TOL_F16_MAX     0.025
#define TOL_F16_MEAN    0.004
#define TOL_INT8_MAX    0.75
#define TOL_INT8_MEAN   0.1
#define TOL_INT8_EXACT  1e-2

struct stories {
    char                       dir[512];
    cJSON                     *expected;
    cJSON                     *cases;
    void                      *handle;  /* struct lmd_module_handle */
    const struct lmd_module   *mod;
};


static void
ids_of(const cJSON *arr, struct lmd_tokens *out)
{
    const cJSON  *e;

    cJSON_ArrayForEach(e, arr) {
        lmd_tokens_push(out, (int32_t) e->valuedouble);
    }
}


/* Loads expected.json and the module; 0, or -1 with the case skipped or
 * failed. */
static int
stories_open(struct stories *st)
{
    const char                *shared = getenv("LMD_SHARED");
    const char                *mods = getenv("LMD_MODULES");
    static char                reason[700];
    char                       path[600], err[LMD_MODULE_ERR_LEN];
    char                      *text;
    FILE                      *f;
    long                       n;
    struct lmd_module_handle  *h;

    memset(st, 0, sizeof(*st));
    snprintf(st->dir, sizeof(st->dir), "%s/models/stories260K",
             shared != NULL && shared[0] ? shared : "../shared");
    snprintf(path, sizeof(path), "%s/expected.json", st->dir);
    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(reason, sizeof(reason), "%s is absent (set LMD_SHARED "
                 "to the folder holding models/)", path);
        lmd_test_skip(reason);
        return -1;
    }
    text = NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0
        && fseek(f, 0, SEEK_SET) == 0 && (text = malloc(n + 1)) != NULL)
    {
        text[fread(text, 1, (size_t) n, f)] = '\0';
    }
    fclose(f);
    st->expected = text != NULL ? cJSON_Parse(text) : NULL;
    free(text);
    st->cases = cJSON_GetObjectItemCaseSensitive(st->expected, "cases");
    if (cJSON_GetArraySize(st->cases) == 0) {
        fail_unless(0, "%s: no cases", path);
        cJSON_Delete(st->expected);
        return -1;
    }
    h = lmd_module_open(mods != NULL && mods[0] ? mods : "modules",
                        "lmd_engine_cpu.so", LMD_MODULE_ENGINE, err,
                        sizeof(err));
    if (h == NULL) {
        fail_unless(0, "%s", err);
        cJSON_Delete(st->expected);
        return -1;
    }
    st->handle = h;
    st->mod = h->module;
    return 0;
}


static void
stories_close(struct stories *st)
{
    lmd_module_close(st->handle);
    cJSON_Delete(st->expected);
}


static struct lmd_session *
session(const struct stories *st, const char *weights, int threads)
{
    struct lmd_engine_params   p;
    struct lmd_session        *s;
    char                       err[LMD_MODULE_ERR_LEN];

    memset(&p, 0, sizeof(p));
    p.name = "stories260K";
    p.path = st->dir;
    p.load_format = "auto";
    p.weights = weights;
    p.threads = threads;
    err[0] = '\0';
    s = lmd_session_open(st->mod, NULL, &p, MAX_TOKENS, err, sizeof(err));
    fail_unless(s != NULL, "weights %s: %s", weights, err);
    if (s != NULL) {
        fail_unless(lmd_session_memory(s)->vocab_size == 512,
                    "vocab_size %u", lmd_session_memory(s)->vocab_size);
    }
    return s;
}


static uint32_t
argmax(const float *v, uint32_t n)
{
    uint32_t  i, best = 0;

    for (i = 1; i < n; i++) {
        if (v[i] > v[best]) {
            best = i;
        }
    }
    return best;
}


/* The case's prompt ids followed by its generated ids. */
static void
forced_ids(const cJSON *c, struct lmd_tokens *ids, size_t *n_prompt)
{
    ids_of(cJSON_GetObjectItemCaseSensitive(c, "input_ids"), ids);
    *n_prompt = ids->n;
    ids_of(cJSON_GetObjectItemCaseSensitive(c, "generated_ids"), ids);
}


/* The logits of every one of ids' positions from a fresh sequence, fed
 * chunk tokens a step (0: at once); malloc'd, or NULL after a failed
 * check. */
static float *
forced_logits(struct lmd_session *s, const struct lmd_tokens *ids,
    uint32_t chunk, const char *what)
{
    char          err[LMD_MODULE_ERR_LEN];
    const float  *l;
    float        *copy;
    size_t        bytes;

    lmd_session_truncate(s, 0);
    err[0] = '\0';
    l = lmd_session_feed(s, ids->ids, ids->n, (uint32_t) ids->n, chunk,
                         err, sizeof(err));
    fail_unless(l != NULL, "%s: feed of %zu in chunks of %u: %s", what,
                ids->n, chunk, err);
    if (l == NULL) {
        return NULL;
    }
    bytes = ids->n * lmd_session_memory(s)->vocab_size * sizeof(float);
    copy = malloc(bytes);
    if (copy != NULL) {
        memcpy(copy, l, bytes);
    }
    return copy;
}


/* ------------------------------------------------------------------------
 * f32 against transformers
 * ------------------------------------------------------------------------ */

static void
check_top5(const cJSON *c, const float *last)
{
    const cJSON  *top = cJSON_GetObjectItemCaseSensitive(c, "top5_last_logits");
    const char   *prompt;
    float         v[512];
    uint32_t      k, id;
    int           want_id;
    double        want;

    prompt = cJSON_GetObjectItemCaseSensitive(c, "prompt")->valuestring;
    memcpy(v, last, sizeof(v));
    for (k = 0; k < 5; k++) {
        const cJSON  *e = cJSON_GetArrayItem(top, (int) k);

        want_id = (int) cJSON_GetArrayItem(e, 0)->valuedouble;
        want = cJSON_GetArrayItem(e, 1)->valuedouble;
        id = argmax(v, 512);
        fail_unless((int) id == want_id, "\"%s\": top-%u is %u, want %d",
                    prompt, k + 1, id, want_id);
        fail_unless(fabs(last[want_id] - want)
                    <= TOP5_TOL * fmax(1, fabs(want)),
                    "\"%s\": top-%u logit %.7f, want %.7f", prompt, k + 1,
                    last[want_id], want);
        v[id] = -INFINITY;
    }
}


/* decode(prompt + generated, skip_special) minus decode(prompt), as
 * expected.json's generated_text was made. */
static void
check_text(const struct lmd_tokenizer *tok, const cJSON *c,
    const struct lmd_tokens *all, size_t n_prompt)
{
    const char  *want;
    char        *full = NULL, *head = NULL;
    size_t       full_len, head_len;

    want = cJSON_GetObjectItemCaseSensitive(c, "generated_text")
               ->valuestring;
    if (lmd_tokenizer_decode(tok, all->ids, all->n, 1, &full, &full_len)
            != LMD_OK
        || lmd_tokenizer_decode(tok, all->ids, n_prompt, 1, &head,
                                &head_len) != LMD_OK)
    {
        fail_unless(0, "decode failed");
    } else if (full_len < head_len || memcmp(full, head, head_len) != 0) {
        fail_unless(0, "the prompt's text \"%s\" does not start \"%s\"",
                    head, full);
    } else {
        fail_unless_streq(full + head_len, want);
    }
    free(full);
    free(head);
}


LMD_TEST(stories_f32_expected)
{
    struct stories          st;
    struct lmd_session     *s;
    struct lmd_tokenizer   *tok;
    struct lmd_tokens       want_in = { 0 }, got_in = { 0 }, want_gen = { 0 };
    struct lmd_tokens       all = { 0 };
    char                    err[LMD_MODULE_ERR_LEN];
    const cJSON            *c;
    const char             *prompt;
    const float            *l;
    int32_t                 next;
    size_t                  i, n_prompt;
    int                     cases = 0, same;

    if (stories_open(&st) != 0) {
        return;
    }
    tok = lmd_tokenizer_load(st.dir, err, sizeof(err));
    fail_unless(tok != NULL, "%s", err);
    s = session(&st, "f32", 1);
    if (tok == NULL || s == NULL) {
        goto done;
    }
    cJSON_ArrayForEach(c, st.cases) {
        prompt = cJSON_GetObjectItemCaseSensitive(c, "prompt")->valuestring;
        want_in.n = got_in.n = want_gen.n = all.n = 0;
        ids_of(cJSON_GetObjectItemCaseSensitive(c, "input_ids"), &want_in);
        ids_of(cJSON_GetObjectItemCaseSensitive(c, "generated_ids"),
               &want_gen);

        /* the tokenizer gives input_ids exactly */
        fail_unless(lmd_tokenizer_encode(tok, prompt, strlen(prompt), 1,
                                         &got_in, err, sizeof(err))
                    == LMD_OK, "\"%s\": %s", prompt, err);
        fail_unless(got_in.n == want_in.n
                    && memcmp(got_in.ids, want_in.ids,
                              want_in.n * sizeof(int32_t)) == 0,
                    "\"%s\": the tokenizer's ids differ (%zu, want %zu)",
                    prompt, got_in.n, want_in.n);

        /* prefill: the last position's top-5 */
        lmd_session_truncate(s, 0);
        l = lmd_session_feed(s, want_in.ids, want_in.n, 1, 0, err,
                             sizeof(err));
        fail_unless(l != NULL, "\"%s\": prefill: %s", prompt, err);
        if (l == NULL) {
            continue;
        }
        check_top5(c, l);

        /* greedy, one token a step through the KV cache */
        for (i = 0; i < want_in.n; i++) {
            lmd_tokens_push(&all, want_in.ids[i]);
        }
        n_prompt = all.n;
        same = 1;
        for (i = 0; i < want_gen.n && l != NULL; i++) {
            next = (int32_t) argmax(l, 512);
            lmd_tokens_push(&all, next);
            if (same && next != want_gen.ids[i]) {
                fail_unless(0, "\"%s\": generated token %zu is %d, want %d",
                            prompt, i, next, want_gen.ids[i]);
                same = 0;
            }
            if (i + 1 < want_gen.n) {
                l = lmd_session_feed(s, &next, 1, 1, 0, err, sizeof(err));
                fail_unless(l != NULL, "\"%s\": decode step %zu: %s",
                            prompt, i, err);
            }
        }
        fail_unless(lmd_session_length(s) == want_in.n + want_gen.n - 1,
                    "\"%s\": session length %u", prompt,
                    lmd_session_length(s));
        if (same && l != NULL) {
            check_text(tok, c, &all, n_prompt);
        }
        cases++;
    }
    printf("# f32: %d cases, %d greedy tokens each\n", cases,
           (int) want_gen.n);
done:
    lmd_tokens_free(&want_in);
    lmd_tokens_free(&got_in);
    lmd_tokens_free(&want_gen);
    lmd_tokens_free(&all);
    if (s != NULL) {
        lmd_session_close(s);
    }
    lmd_tokenizer_free(tok);
    stories_close(&st);
}


/* ------------------------------------------------------------------------
 * Chunked prefill
 * ------------------------------------------------------------------------ */

LMD_TEST(stories_chunking)
{
    static const char  *weights[] = { "f32", "bf16", "int8" };
    static const uint32_t  chunks[] = { 3, 1, 64 };
    struct stories      st;
    struct lmd_session *s;
    struct lmd_tokens   ids = { 0 };
    const cJSON        *c;
    float              *whole, *part;
    size_t              n_prompt, w, k;
    char                what[64];

    if (stories_open(&st) != 0) {
        return;
    }
    for (w = 0; w < 3; w++) {
        s = session(&st, weights[w], 1);
        if (s == NULL) {
            continue;
        }
        cJSON_ArrayForEach(c, st.cases) {
            ids.n = 0;
            forced_ids(c, &ids, &n_prompt);
            snprintf(what, sizeof(what), "%s", weights[w]);
            whole = forced_logits(s, &ids, 0, what);
            for (k = 0; k < 3 && whole != NULL; k++) {
                part = forced_logits(s, &ids, chunks[k], what);
                fail_unless(part != NULL
                            && memcmp(part, whole, ids.n * 512
                                      * sizeof(float)) == 0,
                            "%s, \"%s\": chunks of %u give other logits "
                            "than one step", weights[w],
                            cJSON_GetObjectItemCaseSensitive(c, "prompt")
                                ->valuestring, chunks[k]);
                free(part);
            }
            free(whole);
        }
        lmd_session_close(s);
    }
    lmd_tokens_free(&ids);
    stories_close(&st);
}


/* ------------------------------------------------------------------------
 * Reduced precision against f32
 * ------------------------------------------------------------------------ */

/* The top-1 minus top-2 of a row, and the top-1's index. */
static float
gap_of(const float *row, uint32_t n, uint32_t *top)
{
    uint32_t  i, a = argmax(row, n), b = a == 0 ? 1 : 0;

    for (i = 0; i < n; i++) {
        if (i != a && row[i] > row[b]) {
            b = i;
        }
    }
    *top = a;
    return row[a] - row[b];
}


/* Teacher-forced logits of `weights` against the f32 engine's (the bounds
 * and the argmax rule past gap_min) and against the double reference on
 * the same rounded weights (within exact_tol relative; 0: not checked). */
static void
check_against_f32(const char *weights, double max_tol, double mean_tol,
    double gap_min, double exact_tol)
{
    struct stories      st;
    struct mref_model   m;
    struct lmd_session *ref, *s;
    struct lmd_tokens   ids = { 0 };
    const cJSON        *c;
    const char         *prompt;
    char                err[512];
    float              *want, *got, *row, gap, dq[512];
    double             *dref = NULL, d, worst = 0, sum = 0, rel = 0;
    size_t              n_prompt, i, j, count = 0, checked = 0, flips = 0;
    size_t              ref_flips = 0, small = 0;
    uint32_t            a, b;

    if (stories_open(&st) != 0) {
        return;
    }
    ref = session(&st, "f32", 1);
    s = session(&st, weights, 1);
    if (mref_model_read_llama(&m, st.dir, err, sizeof(err)) != 0) {
        fail_unless(0, "%s", err);
        goto done;
    }
    mref_round_weights(&m, weights);
    dref = malloc((size_t) MAX_TOKENS * 512 * sizeof(double));
    if (ref == NULL || s == NULL || dref == NULL) {
        goto done;
    }
    cJSON_ArrayForEach(c, st.cases) {
        prompt = cJSON_GetObjectItemCaseSensitive(c, "prompt")->valuestring;
        ids.n = 0;
        forced_ids(c, &ids, &n_prompt);
        want = forced_logits(ref, &ids, 0, "f32");
        got = forced_logits(s, &ids, 0, weights);
        fail_unless(mref_forward(&m, ids.ids, (uint32_t) ids.n, dref) == 0,
                    "out of memory");
        for (i = 0; want != NULL && got != NULL && i < ids.n; i++) {
            row = want + i * 512;
            for (j = 0; j < 512; j++) {
                d = fabs((double) got[i * 512 + j] - row[j]);
                worst = fmax(worst, isnan(d) ? INFINITY : d);
                sum += d;
                count++;
                d = fabs(got[i * 512 + j] - dref[i * 512 + j])
                    / fmax(1, fabs(dref[i * 512 + j]));
                rel = fmax(rel, isnan(d) ? INFINITY : d);
                dq[j] = (float) dref[i * 512 + j];
            }
            b = argmax(got + i * 512, 512);
            gap = gap_of(row, 512, &a);
            if (gap > GAP_MIN) {
                checked++;
                ref_flips += argmax(dq, 512) != a;
                small += b != a && gap <= gap_min;
            }
            if (gap > gap_min && b != a) {
                flips++;
                fail_unless(0, "%s, \"%s\", position %zu: argmax %u, f32's "
                            "%u (gap %.3f; the reference on the same %s "
                            "weights: %u)", weights, prompt, i, b, a, gap,
                            weights, argmax(dq, 512));
            }
        }
        fail_unless(want != NULL && got != NULL, "%s: no logits", weights);
        free(want);
        free(got);
    }
    printf("# %s: max |dlogit| %.4f mean %.5f over %zu positions; argmax "
           "differs from f32's at %zu of the %zu with a gap > %g (%zu "
           "past %g)\n", weights, worst, count ? sum / count : 0.0,
           count / 512, small + flips, checked, GAP_MIN, flips, gap_min);
    printf("# %s: against the double reference on the same %s weights: "
           "max rel err %.2e%s; that reference's argmax differs from "
           "f32's at %zu\n", weights, weights, rel,
           exact_tol > 0 ? "" : " (not checked)", ref_flips);
    fail_unless(exact_tol == 0 || rel <= exact_tol, "%s: the engine is "
                "%.3g (relative) from the reference on its own rounded "
                "weights, more than %g", weights, rel, exact_tol);
    fail_unless(count > 0 && worst <= max_tol, "%s: max |dlogit| %.4f > %g",
                weights, worst, max_tol);
    fail_unless(count > 0 && sum / count <= mean_tol,
                "%s: mean |dlogit| %.5f > %g", weights,
                count ? sum / count : 0.0, mean_tol);
done:
    free(dref);
    mref_model_free(&m);
    if (ref != NULL) {
        lmd_session_close(ref);
    }
    if (s != NULL) {
        lmd_session_close(s);
    }
    lmd_tokens_free(&ids);
    stories_close(&st);
}


/* bf16: on AVX512_BF16 the engine rounds the activations to bf16 too
 * (vdpbf16ps, modules/cpu/cpu_isa.c), and then no reference can match it
 * closely: moving the input by 1e-7 relative moves a bf16-activation
 * forward of stories260K by up to 0.03.  The exact check runs only with
 * LMD_CPU_BF16=fma (test_model_reference.c always does it). */
LMD_TEST(stories_bf16)
{
    const char  *mode = getenv("LMD_CPU_BF16");

    check_against_f32("bf16", TOL_BF16_MAX, TOL_BF16_MEAN, GAP_MIN,
                      mode != NULL && strcmp(mode, "fma") == 0 ? TOP5_TOL
                                                               : 0);
}


LMD_TEST(stories_f16)
{
    check_against_f32("f16", TOL_F16_MAX, TOL_F16_MEAN, GAP_MIN, TOP5_TOL);
}


/* int8: the engine quantizes the products' x to 16 bits per block of 256
 * (modules/cpu/cpu_gemm.h), as the reference then does to its own
 * double x; where the two x straddle a rounding boundary they round
 * apart by a step of 2^-15 of the block's largest |x|; on stories260K
 * that moved the logits by 2.4e-3 relative (measured; 1.7e-3 against a
 * reference that keeps x exact), against 1e-2 allowed. */
LMD_TEST(stories_int8)
{
    check_against_f32("int8", TOL_INT8_MAX, TOL_INT8_MEAN, GAP_MIN_INT8,
                      TOL_INT8_EXACT);
}


/* ------------------------------------------------------------------------
 * Quantized KV cache (modules/int8-kv)
 * ------------------------------------------------------------------------ */

/* An f32-weight session whose KV cache is codec's (NULL: f32). */
static struct lmd_session *
session_kv(const struct stories *st, const struct lmd_kv_codec *codec)
{
    struct lmd_engine_params   p;
    struct lmd_session        *s;
    char                       err[LMD_MODULE_ERR_LEN];

    memset(&p, 0, sizeof(p));
    p.name = "stories260K";
    p.path = st->dir;
    p.load_format = "auto";
    p.weights = "f32";
    p.threads = 1;
    p.kv_codec = codec;
    err[0] = '\0';
    s = lmd_session_open(st->mod, NULL, &p, MAX_TOKENS, err, sizeof(err));
    fail_unless(s != NULL, "KV %s: %s", codec ? codec->name : "f32", err);
    return s;
}


/* Greedy from the case's prompt, n tokens one step at a time. */
static void
greedy(struct lmd_session *s, const struct lmd_tokens *prompt, size_t n,
    struct lmd_tokens *out)
{
    char          err[LMD_MODULE_ERR_LEN];
    const float  *l;
    int32_t       next;
    size_t        i;

    out->n = 0;
    lmd_session_truncate(s, 0);
    l = lmd_session_feed(s, prompt->ids, prompt->n, 1, 0, err, sizeof(err));
    for (i = 0; i < n && l != NULL; i++) {
        next = (int32_t) argmax(l, 512);
        lmd_tokens_push(out, next);
        l = i + 1 < n ? lmd_session_feed(s, &next, 1, 1, 0, err, sizeof(err))
                      : l;
    }
    fail_unless(l != NULL, "greedy: %s", err);
}


/*
 * int8 and int4 KV (per token and KV head, lmd_kv_int8.so) against the
 * f32 KV cache, both on f32 weights, teacher-forced over the six cases:
 * the argmax must be f32-KV's wherever its top-1/top-2 gap exceeds the
 * codec's gap, and the mean |dlogit| stays under the codec's bound;
 * free-running greedy from each prompt must give f32-KV's first 16
 * tokens on at least 5 of the 6 prompts with int8 (int4: printed).
 *
 * Measured (AVX-512 machine): int8 max |dlogit| 0.59, mean 0.054, no
 * argmax move past a gap of 0.079, greedy 6 of 6; int4 max 10.5, mean
 * 0.98, argmax moved at gaps up to 4.4, greedy 1 of 6.  stories260K is
 * the worst case for per-token quantization: its head_dim is 8, so each
 * position's 8 numbers share one (lo, step) and an outlier among them
 * costs the other seven most of int4's 16 levels (real models have
 * head_dim 64-128).  The bounds are about twice the measurements: int4's
 * only say that it is still the model's attention, not noise.
 */
#define KV_INT8_GAP       0.1
#define KV_INT8_MEAN      0.1
#define KV_INT4_GAP       8.0
#define KV_INT4_MEAN      2.0

LMD_TEST(stories_kv_codecs)
{
    static const char           *names[] = { "int8", "int4" };
    static const double          gaps[] = { KV_INT8_GAP, KV_INT4_GAP };
    static const double          means[] = { KV_INT8_MEAN, KV_INT4_MEAN };
    const char                  *mods = getenv("LMD_MODULES");
    struct stories               st;
    struct lmd_module_handle    *h;
    struct lmd_session          *ref = NULL, *s;
    struct lmd_tokens            ids = { 0 }, prompt = { 0 };
    struct lmd_tokens            g_ref = { 0 }, g_kv = { 0 };
    const struct lmd_kv_codec   *codec;
    const cJSON                 *c;
    char                         err[LMD_MODULE_ERR_LEN];
    float                       *lr, *lk;
    size_t                       n_prompt, k, p, i;

    if (stories_open(&st) != 0) {
        return;
    }
    h = lmd_module_open(mods != NULL && mods[0] ? mods : "modules",
                        "lmd_kv_int8.so", LMD_MODULE_KV_CODEC, err,
                        sizeof(err));
    fail_unless(h != NULL, "%s", err);
    if (h == NULL || (ref = session_kv(&st, NULL)) == NULL) {
        goto done;
    }
    for (k = 0; k < 2; k++) {
        double  sum = 0, worst = 0, flip_gap = 0;
        size_t  count = 0, checked = 0, flips = 0, same16 = 0, cases = 0;

        codec = h->module->ops.kv_codec.find(names[k]);
        fail_unless(codec != NULL, "%s not found", names[k]);
        if (codec == NULL || (s = session_kv(&st, codec)) == NULL) {
            continue;
        }
        cJSON_ArrayForEach(c, st.cases) {
            ids.n = 0;
            forced_ids(c, &ids, &n_prompt);
            lr = forced_logits(ref, &ids, 0, "f32 KV");
            lk = forced_logits(s, &ids, 0, names[k]);
            for (p = 0; lr != NULL && lk != NULL && p < ids.n; p++) {
                const float  *a = lr + p * 512, *b = lk + p * 512;
                uint32_t      top = argmax(a, 512);
                float         second = -INFINITY;

                for (i = 0; i < 512; i++) {
                    double  d = fabs((double) a[i] - b[i]);

                    sum += d;
                    worst = fmax(worst, d);
                    count++;
                    if (i != top && a[i] > second) {
                        second = a[i];
                    }
                }
                if (argmax(b, 512) != top) {
                    flip_gap = fmax(flip_gap, a[top] - second);
                }
                if (a[top] - second > gaps[k]) {
                    checked++;
                    flips += argmax(b, 512) != top;
                }
            }
            free(lr);
            free(lk);

            prompt.n = 0;
            for (i = 0; i < n_prompt; i++) {
                lmd_tokens_push(&prompt, ids.ids[i]);
            }
            greedy(ref, &prompt, 16, &g_ref);
            greedy(s, &prompt, 16, &g_kv);
            same16 += g_ref.n == 16 && g_kv.n == 16
                      && memcmp(g_ref.ids, g_kv.ids, 16 * sizeof(int32_t))
                         == 0;
            cases++;
        }
        printf("# KV %s against f32 KV (teacher-forced, %zu positions): "
               "max |dlogit| %.4f, mean %.5f (bound %g); argmax differs at "
               "%zu of %zu with a gap > %g (the widest gap it moved at: "
               "%.3f); greedy: the first 16 tokens equal on %zu of %zu "
               "prompts\n", names[k], count / 512, worst,
               count ? sum / count : 0.0, means[k], flips, checked, gaps[k],
               flip_gap, same16, cases);
        fail_unless(count > 0 && sum / count <= means[k],
                    "KV %s: mean |dlogit| %.5f > %g", names[k],
                    count ? sum / count : 0.0, means[k]);
        fail_unless(flips == 0, "KV %s: the argmax moved at %zu positions "
                    "with a gap > %g", names[k], flips, gaps[k]);
        if (k == 0) {
            fail_unless(cases > 0 && same16 + 1 >= cases,
                        "KV int8: greedy's first 16 tokens equal f32 KV's "
                        "on %zu of %zu prompts", same16, cases);
        }
        lmd_session_close(s);
    }
done:
    if (ref != NULL) {
        lmd_session_close(ref);
    }
    lmd_module_close(h);
    lmd_tokens_free(&ids);
    lmd_tokens_free(&prompt);
    lmd_tokens_free(&g_ref);
    lmd_tokens_free(&g_kv);
    stories_close(&st);
}
