/*
 * test_sampler.c -- unit tests for engine/lmd_sampler.c, the token
 * picker.
 *
 * Expectations come from the definitions, not from the sampler: penalty
 * values are worked out by hand, distributions are softmaxes computed here
 * in double, the nucleus and the top-k set come from a full sort done
 * here, and frequencies are checked against them within 3 sigma or a
 * chi-square bound.  The nucleus cases build distributions whose
 * boundaries sit half a token away from any rounding question, so the
 * kept set is exact: every kept token is drawn, no other ever is.  The
 * draws are seeded, so every run is the same.
 */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmd_sampler.h"
#include "lmd_test.h"


/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* The test's own generator (xorshift64), independent of the sampler's. */
static uint64_t
test_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}


/* A roughly normal value (sum of four uniforms), scaled. */
static float
test_normal(uint64_t *x, float scale)
{
    double  u = 0.0;
    int     i;

    for (i = 0; i < 4; i++) {
        u += (double) (test_rand(x) >> 11) / 9007199254740992.0;
    }
    return (float) ((u - 2.0) * 1.7320508 * scale);
}


static struct lmd_sampler *
make(float temperature, int top_k, float top_p, float min_p, uint64_t seed,
    uint32_t vocab)
{
    struct lmd_sampling  p;

    lmd_sampling_defaults(&p);
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.seed = seed;
    p.has_seed = 1;
    return lmd_sampler_create(&p, vocab);
}


/* Draws n tokens from (a fresh copy of) logits, counting each id. */
static void
draw_counts(struct lmd_sampler *s, const float *logits, uint32_t vocab,
    int n, long *counts)
{
    float    *buf = malloc(vocab * sizeof(*buf));
    int32_t   id;
    int       i;

    memset(counts, 0, vocab * sizeof(*counts));
    for (i = 0; buf != NULL && i < n; i++) {
        memcpy(buf, logits, vocab * sizeof(*buf));
        id = lmd_sampler_sample(s, buf, NULL);
        if (id >= 0 && (uint32_t) id < vocab) {
            counts[id]++;
        }
    }
    free(buf);
}


/* True when count/n is within k sigma of p. */
static int
near(long count, int n, double p, double k)
{
    double  sigma = sqrt(p * (1.0 - p) / n);

    return fabs((double) count / n - p) <= k * sigma + 1e-12;
}


static const float  *sort_keys;

/* Ids by logit descending, then id ascending. */
static int
by_logit(const void *pa, const void *pb)
{
    int32_t  a = *(const int32_t *) pa, b = *(const int32_t *) pb;

    if (sort_keys[a] != sort_keys[b]) {
        return sort_keys[a] > sort_keys[b] ? -1 : 1;
    }
    return a < b ? -1 : 1;
}


static int32_t *
sorted_ids(const float *logits, uint32_t vocab)
{
    int32_t   *ids = malloc(vocab * sizeof(*ids));
    uint32_t   i;

    if (ids == NULL) {
        return NULL;
    }
    for (i = 0; i < vocab; i++) {
        ids[i] = (int32_t) i;
    }
    sort_keys = logits;
    qsort(ids, vocab, sizeof(*ids), by_logit);
    return ids;
}


/* The nucleus size of the first `among` sorted ids at temperature t. */
static size_t
nucleus_size(const float *logits, const int32_t *order, size_t among,
    float t, double top_p)
{
    double  total = 0.0, cum = 0.0, m = logits[order[0]];
    size_t  i;

    for (i = 0; i < among; i++) {
        total += exp(((double) logits[order[i]] - m) / t);
    }
    for (i = 0; i < among; i++) {
        cum += exp(((double) logits[order[i]] - m) / t);
        if (cum >= top_p * total) {
            return i + 1;
        }
    }
    return among;
}


/* Probabilities 0.5, 0.3, 0.15, 0.05 as logits. */
static void
four_logits(float *x)
{
    x[0] = logf(0.5f);
    x[1] = logf(0.3f);
    x[2] = logf(0.15f);
    x[3] = logf(0.05f);
}


/* ------------------------------------------------------------------------
 * Settings, greedy, bias and penalties
 * ------------------------------------------------------------------------ */

// Assumption: the defaults change nothing (no filter, no penalty).
LMD_TEST(defaults)
{
    struct lmd_sampling  p;

    memset(&p, 0x5a, sizeof(p));
    lmd_sampling_defaults(&p);
    fail_unless(p.temperature == 1.0f && p.top_p == 1.0f && p.top_k == 0
                && p.min_p == 0.0f && p.repetition_penalty == 1.0f
                && p.frequency_penalty == 0.0f
                && p.presence_penalty == 0.0f && p.has_seed == 0
                && p.top_logprobs == 0 && p.logit_bias == NULL
                && p.n_logit_bias == 0, "defaults are off");
}


// Assumption: temperature 0 (or at most 1e-5) takes the argmax, and of
// equal maxima the lowest id.
LMD_TEST(greedy)
{
    static const float  in[6] = { 0.1f, 3.0f, -2.0f, 3.0f, 1.0f, 2.9f };
    float               x[6];
    struct lmd_sampler *s;
    int                 i;

    s = make(0.0f, 0, 1.0f, 0.0f, 1, 6);
    for (i = 0; i < 5; i++) {
        memcpy(x, in, sizeof(x));
        fail_unless(lmd_sampler_sample(s, x, NULL) == 1, "argmax 1");
    }
    lmd_sampler_free(s);
    s = make(1e-6f, 40, 0.5f, 0.0f, 1, 6);
    memcpy(x, in, sizeof(x));
    fail_unless(lmd_sampler_sample(s, x, NULL) == 1, "1e-6 is greedy");
    lmd_sampler_free(s);
}


// Assumption: bias -100 bans a token, +100 forces one, ids outside the
// vocabulary are ignored.
LMD_TEST(logit_bias)
{
    struct lmd_logit_bias  b[3] = { { 1, -100.0f }, { 99, 5.0f },
                                    { -1, 5.0f } };
    struct lmd_sampling    p;
    struct lmd_sampler    *s;
    float                  x[4] = { 0.0f, 2.0f, 1.0f, -3.0f }, flat[4];
    long                   counts[4];

    lmd_sampling_defaults(&p);
    p.temperature = 0.0f;
    p.logit_bias = b;
    p.n_logit_bias = 3;
    s = lmd_sampler_create(&p, 4);
    b[0].bias = 0.0f;                   /* the sampler keeps its copy */
    fail_unless(lmd_sampler_sample(s, x, NULL) == 2, "1 banned: 2 next");
    lmd_sampler_free(s);

    memset(flat, 0, sizeof(flat));
    b[0].bias = -100.0f;
    p.temperature = 1.0f;
    p.has_seed = 1;
    s = lmd_sampler_create(&p, 4);
    draw_counts(s, flat, 4, 4000, counts);
    fail_unless(counts[1] == 0, "banned token drawn %ld times", counts[1]);
    fail_unless(counts[0] > 1000 && counts[2] > 1000 && counts[3] > 1000,
                "the others share: %ld %ld %ld", counts[0], counts[2],
                counts[3]);
    lmd_sampler_free(s);

    b[0].id = 3;
    b[0].bias = 100.0f;
    p.n_logit_bias = 1;
    s = lmd_sampler_create(&p, 4);
    x[0] = 0.0f, x[1] = 2.0f, x[2] = 1.0f, x[3] = -3.0f;
    draw_counts(s, x, 4, 2000, counts);
    fail_unless(counts[3] == 2000, "+100 forces 3: %ld", counts[3]);
    lmd_sampler_free(s);
}


// Assumption (HF): every distinct token of prompt and output is
// penalized once, positive logits divided and negative multiplied, after
// the bias.
LMD_TEST(repetition_penalty)
{
    struct lmd_logit_bias  b = { 4, 1.0f };
    struct lmd_sampling    p;
    struct lmd_sampler    *s;
    int32_t                prompt[4] = { 0, 0, 1, 77 };
    float                  x[6] = { 2.0f, -1.0f, 1.5f, -1.2f, 0.5f, 0.0f };
    float                  want[6] = { 1.0f, -2.0f, 1.5f, -2.4f, 0.75f,
                                       0.0f };
    int                    i;

    lmd_sampling_defaults(&p);
    p.temperature = 0.0f;
    p.repetition_penalty = 2.0f;
    p.logit_bias = &b;
    p.n_logit_bias = 1;
    s = lmd_sampler_create(&p, 6);
    lmd_sampler_set_prompt(s, prompt, 4);
    lmd_sampler_accept(s, 3);
    lmd_sampler_accept(s, 3);
    lmd_sampler_accept(s, 4);
    lmd_sampler_accept(s, 5);
    lmd_sampler_apply_penalties(s, x);
    for (i = 0; i < 6; i++) {
        fail_unless(fabsf(x[i] - want[i]) < 1e-6f, "id %d: %g, want %g",
                    i, x[i], want[i]);
    }
    lmd_sampler_free(s);
}


// Assumption (OpenAI): over output tokens only, logit -= count * freq +
// (count > 0) * presence; a sampled token counts like an accepted one.
LMD_TEST(frequency_presence)
{
    struct lmd_sampling  p;
    struct lmd_sampler  *s;
    int32_t              prompt[2] = { 2, 2 };
    float                x[4] = { 1.0f, 1.0f, 1.0f, 1.0f };
    float                want[4] = { 1.0f, 0.25f, 1.0f, -0.25f };
    float                y[2];
    int32_t              seq[6];
    int                  i;

    lmd_sampling_defaults(&p);
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    s = lmd_sampler_create(&p, 4);
    lmd_sampler_set_prompt(s, prompt, 2);
    lmd_sampler_accept(s, 3);
    lmd_sampler_accept(s, 1);
    lmd_sampler_accept(s, 3);
    lmd_sampler_apply_penalties(s, x);
    for (i = 0; i < 4; i++) {
        fail_unless(fabsf(x[i] - want[i]) < 1e-6f, "id %d: %g, want %g",
                    i, x[i], want[i]);
    }
    lmd_sampler_free(s);

    /* Greedy on (1.0, 0.9) with frequency 0.5 alternates. */
    p.temperature = 0.0f;
    p.presence_penalty = 0.0f;
    s = lmd_sampler_create(&p, 2);
    for (i = 0; i < 6; i++) {
        y[0] = 1.0f;
        y[1] = 0.9f;
        seq[i] = lmd_sampler_sample(s, y, NULL);
        fail_unless(seq[i] == i % 2, "step %d: %d", i, seq[i]);
    }
    lmd_sampler_free(s);
}


/* ------------------------------------------------------------------------
 * Filters and temperature
 * ------------------------------------------------------------------------ */

// Assumption: top_k 1 is greedy whatever the temperature, ties included.
LMD_TEST(top_k_one_is_greedy)
{
    static const float   temps[3] = { 0.3f, 1.0f, 5.0f };
    struct lmd_sampler  *s;
    uint64_t             r = 7;
    float                x[1000], y[1000];
    int32_t              want = 0;
    int                  i, t, bad = 0;

    for (i = 0; i < 1000; i++) {
        x[i] = test_normal(&r, 1.0f);
        want = x[i] > x[want] ? i : want;
    }
    x[700] = x[want] + 1.0f;
    x[300] = x[want] + 1.0f;
    for (t = 0; t < 3; t++) {
        s = make(temps[t], 1, 1.0f, 0.0f, 99, 1000);
        for (i = 0; i < 300; i++) {
            memcpy(y, x, sizeof(y));
            bad += lmd_sampler_sample(s, y, NULL) != 300;
        }
        lmd_sampler_free(s);
    }
    fail_unless(bad == 0, "%d draws were not id 300", bad);
}


// Assumption: top_p 0.7 over 0.5/0.3/0.15/0.05 keeps the first two,
// renormalized to 0.625/0.375; with top_k 3 first, top_p 0.9 keeps three.
LMD_TEST(top_p)
{
    struct lmd_sampler  *s;
    float                x[4];
    long                 c[4];

    four_logits(x);
    s = make(1.0f, 0, 0.7f, 0.0f, 5, 4);
    draw_counts(s, x, 4, 10000, c);
    fail_unless(c[2] == 0 && c[3] == 0, "outside: %ld %ld", c[2], c[3]);
    fail_unless(near(c[0], 10000, 0.625, 3.0), "id 0: %ld/10000", c[0]);
    lmd_sampler_free(s);

    s = make(1.0f, 0, 0.01f, 0.0f, 5, 4);
    draw_counts(s, x, 4, 1000, c);
    fail_unless(c[0] == 1000, "tiny top_p keeps one: %ld", c[0]);
    lmd_sampler_free(s);

    s = make(1.0f, 3, 0.9f, 0.0f, 5, 4);
    draw_counts(s, x, 4, 10000, c);
    fail_unless(c[3] == 0, "top_k 3 dropped id 3: %ld", c[3]);
    fail_unless(near(c[2], 10000, 0.15 / 0.95, 3.0), "id 2: %ld", c[2]);
    lmd_sampler_free(s);
}


// Assumption: min_p drops tokens whose probability is below min_p times
// the largest, the rest renormalized.
LMD_TEST(min_p)
{
    struct lmd_sampler  *s;
    float                x[4];
    long                 c[4];

    four_logits(x);
    s = make(1.0f, 0, 1.0f, 0.2f, 11, 4);
    draw_counts(s, x, 4, 10000, c);
    fail_unless(c[3] == 0, "0.05 < 0.1: drawn %ld times", c[3]);
    fail_unless(near(c[2], 10000, 0.15 / 0.95, 3.0), "id 2: %ld", c[2]);
    lmd_sampler_free(s);

    s = make(1.0f, 0, 1.0f, 0.5f, 11, 4);
    draw_counts(s, x, 4, 10000, c);
    fail_unless(c[2] == 0 && c[3] == 0, "below 0.25: %ld %ld", c[2], c[3]);
    fail_unless(near(c[1], 10000, 0.375, 3.0), "id 1: %ld", c[1]);
    lmd_sampler_free(s);

    /* min_p above 1 still keeps the best. */
    s = make(1.0f, 2, 1.0f, 2.0f, 11, 4);
    draw_counts(s, x, 4, 100, c);
    fail_unless(c[0] == 100, "only the best: %ld", c[0]);
    lmd_sampler_free(s);
}


// Assumption: draws follow softmax(logits / T): a chi-square over three
// tokens (2 degrees of freedom) stays under 20, and the top token's share
// falls as T rises.
LMD_TEST(temperature)
{
    static const float   temps[3] = { 0.5f, 1.0f, 2.0f };
    static const float   x[3] = { 0.0f, 1.0f, 2.0f };
    struct lmd_sampler  *s;
    double               e[3], z, chi, prev = 1.0;
    long                 c[3];
    int                  t, i, n = 20000;

    for (t = 0; t < 3; t++) {
        z = 0.0;
        for (i = 0; i < 3; i++) {
            e[i] = exp(x[i] / temps[t]);
            z += e[i];
        }
        s = make(temps[t], 0, 1.0f, 0.0f, 1234, 3);
        draw_counts(s, x, 3, n, c);
        chi = 0.0;
        for (i = 0; i < 3; i++) {
            e[i] = e[i] / z * n;
            chi += (c[i] - e[i]) * (c[i] - e[i]) / e[i];
        }
        fail_unless(chi < 20.0, "T %g: chi-square %g (%ld %ld %ld)",
                    temps[t], chi, c[0], c[1], c[2]);
        fail_unless((double) c[2] / n < prev, "T %g: top share %g",
                    temps[t], (double) c[2] / n);
        prev = (double) c[2] / n;
        lmd_sampler_free(s);
    }
}


/* The nucleus cases: 300 heavy tokens at ids permuted by `mult`, in tied
 * pairs of weight 1 - 0.003 q (q = 0..149), and 20 banned ones. */
#define NUC_V  320

static void
nuc_logits(float *x, int32_t *order, int mult)
{
    int32_t  a, b;
    int      j;

    for (j = 0; j < 300; j++) {
        x[(j * mult) % 300] = logf(1.0f - 0.003f * (float) (j / 2));
    }
    for (j = 300; j < NUC_V; j++) {
        x[j] = -INFINITY;
    }
    for (j = 0; j < 150; j++) {         /* best first, ties by id */
        a = (2 * j * mult) % 300;
        b = ((2 * j + 1) * mult) % 300;
        order[2 * j] = a < b ? a : b;
        order[2 * j + 1] = a < b ? b : a;
    }
}


/* top_p putting the boundary half-way through the keep-th best. */
static float
nuc_top_p(const float *x, const int32_t *order, int keep)
{
    double  total = 0.0, before = 0.0;
    int     j;

    for (j = 0; j < 300; j++) {
        total += exp(x[j]);
    }
    for (j = 0; j < keep - 1; j++) {
        before += exp(x[order[j]]);
    }
    return (float) ((before + 0.5 * exp(x[order[keep - 1]])) / total);
}


/* Draws 25 * keep times; true when exactly the keep best were drawn. */
static int
nuc_drawn(struct lmd_sampler *s, const float *x, const int32_t *order,
    int keep)
{
    long  c[NUC_V], n = 0;
    int   j;

    draw_counts(s, x, NUC_V, 25 * keep, c);
    for (j = 0; j < keep; j++) {
        if (c[order[j]] == 0) {
            return 0;
        }
        n += c[order[j]];
    }
    return n == 25 * keep;
}


// Assumption: the nucleus is exactly the shortest best prefix, ties
// broken by id, for any boundary and candidate order, with top_k before
// it and min_p after it.  A kept token has at least 0.55/0.8/keep of the
// draws, so 25 * keep draws show every one.
LMD_TEST(nucleus_exact)
{
    static const int     mults[6] = { 7, 11, 13, 17, 49, 293 };
    static const int     keeps[12] = { 1, 2, 3, 16, 17, 33, 64, 101, 150,
                                       151, 251, 300 };
    struct lmd_sampler  *s;
    float                x[NUC_V];
    int32_t              order[300];
    int                  m, k, top_k;

    for (m = 0; m < 6; m++) {
        nuc_logits(x, order, mults[m]);
        for (k = 0; k < 12; k++) {
            top_k = (m + k) % 2 ? 300 : 0;      /* 300 < NUC_V: a heap */
            s = make(1.0f, top_k, nuc_top_p(x, order, keeps[k]), 0.0f,
                     (uint64_t) (m * 12 + k), NUC_V);
            fail_unless(nuc_drawn(s, x, order, keeps[k]), "mult %d, "
                        "top_k %d: not the %d best", mults[m], top_k,
                        keeps[k]);
            lmd_sampler_free(s);
        }
    }

    /* top_k 251 splits pair 125. */
    s = make(1.0f, 251, 1.0f, 0.0f, 8, NUC_V);
    fail_unless(nuc_drawn(s, x, order, 251), "top_k: not the 251 best");
    lmd_sampler_free(s);
    /* min_p 0.8 keeps weights 1 .. 0.802 (q <= 66): 134 tokens. */
    s = make(1.0f, 0, nuc_top_p(x, order, 151), 0.8f, 8, NUC_V);
    fail_unless(nuc_drawn(s, x, order, 134), "min_p: not the 134 best");
    lmd_sampler_free(s);
}


/* ------------------------------------------------------------------------
 * Seeds, logprobs, a real vocabulary
 * ------------------------------------------------------------------------ */

static void
draw_seq(uint64_t seed, int has_seed, const float *x, int32_t *out)
{
    struct lmd_sampling  p;
    struct lmd_sampler  *s;
    float                y[50];
    int                  i;

    lmd_sampling_defaults(&p);
    p.top_k = 30;
    p.top_p = 0.95f;
    p.seed = seed;
    p.has_seed = has_seed;
    s = lmd_sampler_create(&p, 50);
    for (i = 0; i < 1000; i++) {
        memcpy(y, x, sizeof(y));
        out[i] = s != NULL ? lmd_sampler_sample(s, y, NULL) : -1;
    }
    lmd_sampler_free(s);
}


// Assumption: one seed gives one sequence; another seed, or none, differs.
LMD_TEST(seed)
{
    static int32_t  a[1000], b[1000], c[1000], d[1000], e[1000];
    uint64_t        r = 3;
    float           x[50];
    int             i;

    for (i = 0; i < 50; i++) {
        x[i] = test_normal(&r, 1.0f);
    }
    draw_seq(42, 1, x, a);
    draw_seq(42, 1, x, b);
    draw_seq(43, 1, x, c);
    draw_seq(0, 0, x, d);
    draw_seq(0, 0, x, e);
    fail_unless(memcmp(a, b, sizeof(a)) == 0, "seed 42 twice differs");
    fail_unless(memcmp(a, c, sizeof(a)) != 0, "seeds 42 and 43 agree");
    fail_unless(memcmp(d, e, sizeof(d)) != 0, "two unseeded runs agree");
}


// Assumption: logprobs are the double log-softmax of the logits as passed
// (bias, penalties and temperature aside); top lists the best, sorted,
// ties by id.
LMD_TEST(logprobs)
{
    struct lmd_logit_bias     b = { 5, 100.0f };
    struct lmd_sampling       p;
    struct lmd_sample_result  res;
    struct lmd_sampler       *s;
    static float              x[1000], y[1000];
    int32_t                  *order;
    double                    m = -INFINITY, z = 0.0, lse;
    uint64_t                  r = 11;
    int32_t                   id;
    int                       i;

    for (i = 0; i < 1000; i++) {
        x[i] = test_normal(&r, 2.0f);
    }
    x[5] = -30.0f;
    x[10] = x[400] = x[999] = 9.0f;     /* a three-way tie at the top */
    for (i = 0; i < 1000; i++) {
        m = x[i] > m ? x[i] : m;
    }
    for (i = 0; i < 1000; i++) {
        z += exp((double) x[i] - m);
    }
    lse = m + log(z);
    order = sorted_ids(x, 1000);

    lmd_sampling_defaults(&p);
    p.temperature = 0.7f;
    p.repetition_penalty = 1.3f;
    p.logit_bias = &b;
    p.n_logit_bias = 1;
    p.top_logprobs = 5;
    p.has_seed = 1;
    s = lmd_sampler_create(&p, 1000);
    memcpy(y, x, sizeof(y));
    id = lmd_sampler_sample(s, y, &res);
    fail_unless(id == 5 && res.id == 5, "bias forces 5: %d", id);
    fail_unless(fabs(res.logprob - ((double) x[5] - lse)) < 1e-4,
                "logprob %g, want %g", res.logprob, (double) x[5] - lse);
    fail_unless(res.n_top == 5, "n_top %d", res.n_top);
    for (i = 0; order != NULL && i < res.n_top; i++) {
        fail_unless(res.top[i].id == order[i], "top[%d] %d, want %d", i,
                    res.top[i].id, order[i]);
        fail_unless(fabs(res.top[i].logprob - ((double) x[order[i]] - lse))
                    < 1e-5, "top[%d] logprob %g", i, res.top[i].logprob);
    }
    fail_unless(res.top[0].id == 10 && res.top[1].id == 400
                && res.top[2].id == 999, "ties by id");
    lmd_sampler_free(s);
    free(order);

    /* No top asked: none given; more asked than the vocabulary: all. */
    p.top_logprobs = 0;
    p.n_logit_bias = 0;
    s = lmd_sampler_create(&p, 3);
    memcpy(y, x, 3 * sizeof(float));
    lmd_sampler_sample(s, y, &res);
    fail_unless(res.n_top == 0, "n_top %d", res.n_top);
    lmd_sampler_free(s);
    p.top_logprobs = 20;
    s = lmd_sampler_create(&p, 3);
    memcpy(y, x, 3 * sizeof(float));
    lmd_sampler_sample(s, y, &res);
    fail_unless(res.n_top == 3, "n_top %d", res.n_top);
    z = exp(res.top[0].logprob) + exp(res.top[1].logprob)
        + exp(res.top[2].logprob);
    fail_unless(fabs(z - 1.0) < 1e-5, "three probabilities sum to %g", z);
    lmd_sampler_free(s);
}


// Assumption: odd inputs give an id in range, never a crash: NaN and
// infinite logits, everything banned, one-token vocabularies, filters
// past their ranges, out-of-range history.
LMD_TEST(edges)
{
    static const float   temps[3] = { -1.0f, 0.0f, 1.0f };
    struct lmd_sample_result  res;
    struct lmd_sampling  p;
    struct lmd_sampler  *s;
    int32_t              hist[3] = { -5, 2, 1 << 30 };
    float                x[4];
    int32_t              id;
    int                  t, c;

    for (c = 0; c < 4 * 3; c++) {
        lmd_sampling_defaults(&p);
        p.temperature = temps[c % 3];
        p.top_k = c % 2 ? 99 : 0;
        p.top_p = c % 4 < 2 ? 0.0f : 1.0f;
        p.min_p = 1.5f;
        p.repetition_penalty = 1.5f;
        p.frequency_penalty = 1.0f;
        p.top_logprobs = 99;
        s = lmd_sampler_create(&p, 4);
        lmd_sampler_set_prompt(s, hist, 3);
        lmd_sampler_set_prompt(s, NULL, 0);
        lmd_sampler_accept(s, -1);
        for (t = 0; t < 4; t++) {
            x[0] = NAN, x[1] = 1.0f, x[2] = NAN, x[3] = 0.5f;
            if (t == 1) {
                x[1] = x[3] = -INFINITY;
            } else if (t == 2) {
                x[3] = INFINITY;
            } else if (t == 3) {
                x[0] = x[1] = x[2] = x[3] = -INFINITY;
            }
            id = lmd_sampler_sample(s, x, &res);
            fail_unless(id >= 0 && id < 4 && res.id == id && res.n_top == 4,
                        "case %d/%d: id %d, n_top %d", c, t, id, res.n_top);
            fail_unless(t != 0 || id == 1, "case %d: NaN beat 1: %d", c, id);
            fail_unless(t != 2 || id == 3, "case %d: +inf lost: %d", c, id);
        }
        lmd_sampler_free(s);
    }
    fail_unless(lmd_sampler_create(&p, 0) == NULL, "vocabulary 0");
    lmd_sampler_free(NULL);
    s = make(1.0f, 5, 0.5f, 0.5f, 1, 1);
    x[0] = 3.0f;
    fail_unless(lmd_sampler_sample(s, x, NULL) == 0, "one token");
    lmd_sampler_free(s);
}


/* Draws n times from x (vocab v) and checks each id's rank against
 * limit (ranks from order); returns the draws past it. */
static int
draws_past(struct lmd_sampler *s, const float *x, uint32_t v,
    const int32_t *order, size_t limit, int n)
{
    int32_t  *rank = malloc(v * sizeof(*rank));
    float    *y = malloc(v * sizeof(*y));
    int32_t   id;
    int       i, bad = 0;
    uint32_t  j;

    if (rank == NULL || y == NULL) {
        free(rank);
        free(y);
        return n;
    }
    for (j = 0; j < v; j++) {
        rank[order[j]] = (int32_t) j;
    }
    for (i = 0; i < n; i++) {
        memcpy(y, x, v * sizeof(*y));
        id = lmd_sampler_sample(s, y, NULL);
        bad += id < 0 || (uint32_t) id >= v || (size_t) rank[id] >= limit;
    }
    free(rank);
    free(y);
    return bad;
}


// Assumption: on a Qwen-sized vocabulary (151936) draws stay inside the
// top 40 and its 0.9 nucleus, or inside the full-vocabulary nucleus when
// top_k is off, peaked or flat (the nucleus then holds most tokens).
// The nucleus bound allows one token of rounding slack.
LMD_TEST(large_vocab)
{
    const uint32_t       v = 151936;
    struct lmd_sampler  *s;
    float               *x = malloc(v * sizeof(*x));
    int32_t             *order;
    uint64_t             r = 2024;
    size_t               cut;
    uint32_t             i;
    int                  bad;

    if (x == NULL) {
        fail_unless(0, "out of memory");
        return;
    }
    for (i = 0; i < v; i++) {
        x[i] = test_normal(&r, 3.0f);
    }
    order = sorted_ids(x, v);
    fail_unless(order != NULL, "out of memory");
    if (order == NULL) {
        free(x);
        return;
    }

    s = make(0.8f, 40, 0.9f, 0.0f, 1, v);
    cut = nucleus_size(x, order, 40, 0.8f, 0.9);
    bad = draws_past(s, x, v, order, cut + 1, 300);
    fail_unless(cut > 1 && cut <= 40 && bad == 0,
                "top_k 40/top_p 0.9: %d of 300 past rank %zu", bad, cut);
    lmd_sampler_free(s);

    s = make(0.8f, 0, 0.9f, 0.0f, 2, v);
    cut = nucleus_size(x, order, v, 0.8f, 0.9);
    bad = draws_past(s, x, v, order, cut + 1, 100);
    fail_unless(bad == 0, "top_p 0.9: %d of 100 past rank %zu", bad, cut);
    lmd_sampler_free(s);

    s = make(0.0f, 0, 1.0f, 0.0f, 3, v);
    bad = draws_past(s, x, v, order, 1, 10);
    fail_unless(bad == 0, "greedy: %d of 10 not the argmax", bad);
    lmd_sampler_free(s);
    free(order);

    /* Flat: the nucleus is tens of thousands of tokens. */
    for (i = 0; i < v; i++) {
        x[i] = test_normal(&r, 0.05f);
    }
    order = sorted_ids(x, v);
    s = make(1.0f, 0, 0.5f, 0.0f, 4, v);
    cut = order != NULL ? nucleus_size(x, order, v, 1.0f, 0.5) : 0;
    bad = order != NULL ? draws_past(s, x, v, order, cut + 1, 50) : 50;
    fail_unless(cut > 50000 && bad == 0, "flat top_p 0.5: %d of 50 past "
                "rank %zu", bad, cut);
    lmd_sampler_free(s);
    free(order);
    free(x);
}
