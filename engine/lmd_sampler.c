/*
 * lmd_sampler.c -- picks the next token from a row of logits: bias and
 * penalties, then greedy or a seeded draw through top_k, top_p and min_p,
 * with the model's log-probabilities on the side.
 *
 * Design: what a draw needs is allocated in create, so a sample never
 * allocates or fails.  The vocab-sized arrays cost nothing until touched
 * (malloc maps large blocks lazily), so greedy without logprobs or
 * penalties uses none of them.
 *
 *   - Penalties keep a count per id of generated tokens and a list of the
 *     distinct ids of prompt and output: their cost is that list's length.
 *   - top_k keeps the k best in a heap, one pass over the vocabulary.
 *   - top_p without top_k first gathers the tokens above a weight
 *     threshold, lowered until they hold top_p of the mass (one pass for a
 *     peaked distribution); then a quickselect on mass finds the nucleus
 *     and only its last few candidates get sorted.
 *   - Candidates compare by (value descending, id ascending), a total
 *     order: ties go to the lowest id and no step depends on sort
 *     stability.
 *
 * Determinism: xoshiro256** seeded by splitmix64, a 53-bit uniform double,
 * weights from expf summed in double in a fixed order.
 */

#include "lmd_sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>

/* At or below this temperature the sampler is greedy. */
#define LMD_SAMPLER_GREEDY_T   1e-5f

struct lmd_sampler_cand {
    int32_t                  id;
    float                    v;         /* scaled logit, then exp weight */
};

struct lmd_sampler {
    struct lmd_sampling      p;         /* p.logit_bias points at bias */
    struct lmd_logit_bias   *bias;      /* copy of the request's */
    uint32_t                 vocab;
    uint64_t                 rng[4];    /* xoshiro256** state */

    /* Penalty state, NULL when every penalty is off. */
    uint32_t                *gen;       /* [vocab] times generated */
    uint8_t                 *seen;      /* [vocab] 1: id is in list */
    int32_t                 *list;      /* [vocab] distinct ids seen */
    size_t                   n_list;

    struct lmd_sampler_cand *cand;      /* top_k/top_p scratch, or NULL */
    float                   *raw;       /* [vocab] logits as passed */
};


/* ------------------------------------------------------------------------
 * Random numbers: splitmix64 to seed, xoshiro256** to draw
 * ------------------------------------------------------------------------ */

static uint64_t
lmd_splitmix64(uint64_t *x)
{
    uint64_t  z;

    z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}


static uint64_t
lmd_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}


static uint64_t
lmd_rng_next(uint64_t *s)
{
    uint64_t  r = lmd_rotl(s[1] * 5, 7) * 9;
    uint64_t  t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = lmd_rotl(s[3], 45);
    return r;
}


/* A uniform double in [0, 1) from the top 53 bits. */
static double
lmd_rng_uniform(uint64_t *s)
{
    return (double) (lmd_rng_next(s) >> 11) * 0x1.0p-53;
}


static void
lmd_rng_seed(uint64_t *s, int has_seed, uint64_t seed, const void *salt)
{
    struct timespec  ts;
    int              i;

    if (!has_seed
        && getrandom(&seed, sizeof(seed), GRND_NONBLOCK)
           != (ssize_t) sizeof(seed))
    {
        /* No entropy yet (early boot): the clock and an address. */
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed ^= ((uint64_t) ts.tv_nsec << 32) ^ (uint64_t) (uintptr_t) salt;
    }
    /* Four consecutive splitmix64 outputs are distinct, so never all 0. */
    for (i = 0; i < 4; i++) {
        s[i] = lmd_splitmix64(&seed);
    }
}


/* ------------------------------------------------------------------------
 * Settings, create, free
 * ------------------------------------------------------------------------ */

void
lmd_sampling_defaults(struct lmd_sampling *p)
{
    memset(p, 0, sizeof(*p));
    p->temperature = 1.0f;
    p->top_p = 1.0f;
    p->repetition_penalty = 1.0f;
}


static int
lmd_sampler_greedy(const struct lmd_sampling *p)
{
    return !(p->temperature > LMD_SAMPLER_GREEDY_T);    /* NaN: greedy */
}


struct lmd_sampler *
lmd_sampler_create(const struct lmd_sampling *p, uint32_t vocab_size)
{
    struct lmd_sampler  *s;
    size_t               n_cand;

    if (vocab_size == 0 || vocab_size > INT32_MAX) {
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->p = *p;
    s->vocab = vocab_size;
    s->p.logit_bias = NULL;
    if (p->n_logit_bias > 0 && p->logit_bias != NULL) {
        s->bias = malloc(p->n_logit_bias * sizeof(*s->bias));
        if (s->bias == NULL) {
            goto failed;
        }
        memcpy(s->bias, p->logit_bias, p->n_logit_bias * sizeof(*s->bias));
        s->p.logit_bias = s->bias;
    } else {
        s->p.n_logit_bias = 0;
    }

    if ((p->repetition_penalty > 0.0f && p->repetition_penalty != 1.0f)
        || p->frequency_penalty != 0.0f || p->presence_penalty != 0.0f)
    {
        s->gen = calloc(vocab_size, sizeof(*s->gen));
        s->seen = calloc(vocab_size, sizeof(*s->seen));
        s->list = malloc(vocab_size * sizeof(*s->list));
        if (s->gen == NULL || s->seen == NULL || s->list == NULL) {
            goto failed;
        }
    }

    if (!lmd_sampler_greedy(p) && (p->top_k > 0 || p->top_p < 1.0f)) {
        /* top_k alone bounds the candidates; top_p alone may need all. */
        n_cand = p->top_k > 0 && (uint32_t) p->top_k < vocab_size
                 ? (size_t) p->top_k : vocab_size;
        s->cand = malloc(n_cand * sizeof(*s->cand));
        if (s->cand == NULL) {
            goto failed;
        }
    }

    s->raw = malloc(vocab_size * sizeof(*s->raw));
    if (s->raw == NULL) {
        goto failed;
    }
    lmd_rng_seed(s->rng, p->has_seed, p->seed, s);
    return s;

failed:
    lmd_sampler_free(s);
    return NULL;
}


void
lmd_sampler_free(struct lmd_sampler *s)
{
    if (s == NULL) {
        return;
    }
    free(s->bias);
    free(s->gen);
    free(s->seen);
    free(s->list);
    free(s->cand);
    free(s->raw);
    free(s);
}


/* ------------------------------------------------------------------------
 * Token history and penalties
 * ------------------------------------------------------------------------ */

static void
lmd_sampler_record(struct lmd_sampler *s, int32_t id, int generated)
{
    if (s->gen == NULL || id < 0 || (uint32_t) id >= s->vocab) {
        return;
    }
    if (generated && s->gen[id] < UINT32_MAX) {
        s->gen[id]++;
    }
    if (!s->seen[id]) {
        s->seen[id] = 1;
        s->list[s->n_list++] = id;
    }
}


void
lmd_sampler_set_prompt(struct lmd_sampler *s, const int32_t *ids, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        lmd_sampler_record(s, ids[i], 0);
    }
}


void
lmd_sampler_accept(struct lmd_sampler *s, int32_t id)
{
    lmd_sampler_record(s, id, 1);
}


const struct lmd_sampling *
lmd_sampler_params(const struct lmd_sampler *s)
{
    return &s->p;
}


uint64_t
lmd_sampler_next_key(struct lmd_sampler *s)
{
    return lmd_rng_next(s->rng);
}


void
lmd_sampler_apply_penalties(struct lmd_sampler *s, float *logits)
{
    const struct lmd_logit_bias  *b;
    float                         rp, fp, pp, x;
    uint32_t                      c;
    size_t                        i;
    int32_t                       id;

    for (i = 0; i < s->p.n_logit_bias; i++) {
        b = &s->bias[i];
        if (b->id >= 0 && (uint32_t) b->id < s->vocab) {
            logits[b->id] += b->bias;
        }
    }
    if (s->gen == NULL) {
        return;
    }
    rp = s->p.repetition_penalty;
    fp = s->p.frequency_penalty;
    pp = s->p.presence_penalty;
    for (i = 0; i < s->n_list; i++) {
        id = s->list[i];
        x = logits[id];
        if (rp > 0.0f && rp != 1.0f) {
            x = x > 0.0f ? x / rp : x * rp;
        }
        c = s->gen[id];
        if (c > 0) {
            x -= (float) c * fp + pp;
        }
        logits[id] = x;
    }
}


/* ------------------------------------------------------------------------
 * Selection helpers
 * ------------------------------------------------------------------------ */

/* The first id holding the largest value; NaN never wins, and all NaN or
 * all -inf gives id 0. */
static int32_t
lmd_argmax(const float *x, uint32_t n)
{
    float     best = -INFINITY;
    uint32_t  i, bi = 0;

    for (i = 0; i < n; i++) {
        if (x[i] > best) {
            best = x[i];
            bi = i;
        }
    }
    return (int32_t) bi;
}


/* Candidate order: value descending, then id ascending.  Negative when a
 * comes first (is the better). */
static int
lmd_cand_cmp(const void *pa, const void *pb)
{
    const struct lmd_sampler_cand  *a = pa, *b = pb;

    if (a->v != b->v) {
        return a->v > b->v ? -1 : 1;
    }
    return a->id < b->id ? -1 : a->id > b->id;
}


static void
lmd_cand_swap(struct lmd_sampler_cand *c, size_t i, size_t j)
{
    struct lmd_sampler_cand  t = c[i];

    c[i] = c[j];
    c[j] = t;
}


/* Restores the heap below slot i; the root is the worst kept. */
static void
lmd_heap_down(struct lmd_sampler_cand *h, size_t n, size_t i)
{
    size_t  c;

    for (;;) {
        c = 2 * i + 1;
        if (c >= n) {
            return;
        }
        if (c + 1 < n && lmd_cand_cmp(&h[c + 1], &h[c]) > 0) {
            c++;
        }
        if (lmd_cand_cmp(&h[c], &h[i]) <= 0) {
            return;
        }
        lmd_cand_swap(h, i, c);
        i = c;
    }
}


/* The k best of x into cand, in heap order.  Ids arrive in increasing
 * order, so a value equal to the root's loses the tie and is skipped. */
static size_t
lmd_top_k(struct lmd_sampler_cand *cand, const float *x, uint32_t n,
    size_t k)
{
    size_t    i;
    uint32_t  id;

    for (i = 0; i < k; i++) {
        cand[i].id = (int32_t) i;
        cand[i].v = x[i];
    }
    for (i = k / 2; i-- > 0; ) {
        lmd_heap_down(cand, k, i);
    }
    for (id = (uint32_t) k; id < n; id++) {
        if (x[id] > cand[0].v) {
            cand[0].id = (int32_t) id;
            cand[0].v = x[id];
            lmd_heap_down(cand, k, 0);
        }
    }
    return k;
}


/* The tokens of weights w (the best weighs 1) that surely hold the
 * nucleus, in id order: those at or above a threshold, once they hold
 * `want` of the mass (then every token left out is lighter than all of
 * them); at worst every token of nonzero weight. */
static size_t
lmd_nucleus_gather(struct lmd_sampler_cand *cand, const float *w,
    uint32_t n, double want)
{
    double    sum;
    float     t = 1e-2f;
    size_t    k;
    uint32_t  id;

    for (;;) {
        k = 0;
        sum = 0.0;
        for (id = 0; id < n; id++) {
            if (w[id] >= t && w[id] > 0.0f) {
                cand[k].id = (int32_t) id;
                cand[k++].v = w[id];
                sum += w[id];
            }
        }
        if (sum >= want || t == 0.0f) {
            return k;
        }
        t = t > 1e-30f ? t * 1e-4f : 0.0f;
    }
}


/* Moves the nucleus of c[0..n) to the front and returns its size: the
 * fewest best candidates whose weights sum to at least want, at least
 * one.  Each round splits the range in doubt around its middle element
 * and goes on in the side holding the boundary; the last few (or, past
 * 64 rounds, whatever a hostile order left) are sorted. */
static size_t
lmd_nucleus(struct lmd_sampler_cand *c, size_t n, double want)
{
    size_t                   lo = 0, hi = n, i, j, rounds = 0;
    struct lmd_sampler_cand  pivot, t;
    double                   mass;
    int                      b;

    while (hi - lo > 16 && rounds++ < 64) {
        lmd_cand_swap(c, lo + (hi - lo) / 2, hi - 1);
        pivot = c[hi - 1];
        mass = 0.0;
        for (i = j = lo; i < hi - 1; i++) {
            /* Branch-free: half the tests go each way, unpredictably. */
            t = c[i];
            b = (t.v > pivot.v) | ((t.v == pivot.v) & (t.id < pivot.id));
            c[i] = c[j];
            c[j] = t;
            j += (size_t) b;
            mass += (double) t.v * b;
        }
        lmd_cand_swap(c, j, hi - 1);    /* better | pivot | worse */
        if (mass >= want && j > lo) {
            hi = j;
        } else if (mass + pivot.v >= want) {
            return j + 1;
        } else {
            want -= mass + pivot.v;
            lo = j + 1;
        }
    }
    qsort(c + lo, hi - lo, sizeof(*c), lmd_cand_cmp);
    mass = 0.0;
    for (i = lo; i < hi; i++) {
        mass += c[i].v;
        if (mass >= want) {
            return i + 1;
        }
    }
    return hi > 0 ? hi : 1;
}


/* ------------------------------------------------------------------------
 * The draw
 * ------------------------------------------------------------------------ */

/* Picks a candidate of cand[0..k) by weight; k >= 1. */
static int32_t
lmd_draw_list(struct lmd_sampler *s, const struct lmd_sampler_cand *cand,
    size_t k)
{
    double  total = 0.0, cum = 0.0, u;
    size_t  i, last = 0;

    for (i = 0; i < k; i++) {
        total += cand[i].v;
    }
    u = lmd_rng_uniform(s->rng) * total;
    for (i = 0; i < k; i++) {
        if (cand[i].v > 0.0f) {
            last = i;
            cum += cand[i].v;
            if (cum > u) {
                return cand[i].id;
            }
        }
    }
    return cand[last].id;               /* u rounded up to the total */
}


/* Temperature, filters and a draw on x (bias and penalties applied). */
static int32_t
lmd_sampler_draw(struct lmd_sampler *s, float *x)
{
    struct lmd_sampler_cand  *cand = s->cand;
    uint32_t                  n = s->vocab, id, last = 0;
    size_t                    k, i, j;
    float                     t = s->p.temperature, m = -INFINITY, w;
    float                     min_p = s->p.min_p;
    double                    total = 0.0, cum, u;
    int                       use_k, use_p;

    use_k = s->p.top_k > 0 && (uint32_t) s->p.top_k < n;
    use_p = s->p.top_p < 1.0f;
    for (id = 0; id < n; id++) {
        w = x[id] / t;
        x[id] = w == w ? w : -INFINITY;
        if (x[id] > m) {
            m = x[id];
        }
    }
    if (isinf(m)) {
        return lmd_argmax(x, n);        /* all banned, or an infinity */
    }

    if (!use_k && !use_p) {
        /* The whole vocabulary, in id order; the best weighs 1. */
        for (id = 0; id < n; id++) {
            w = expf(x[id] - m);
            x[id] = w < min_p && w < 1.0f ? 0.0f : w;
            total += x[id];
        }
        u = lmd_rng_uniform(s->rng) * total;
        cum = 0.0;
        for (id = 0; id < n; id++) {
            if (x[id] > 0.0f) {
                last = id;
                cum += x[id];
                if (cum > u) {
                    return (int32_t) id;
                }
            }
        }
        return (int32_t) last;
    }

    if (use_k) {
        k = lmd_top_k(cand, x, n, (size_t) s->p.top_k);
        for (i = 0; i < k; i++) {
            cand[i].v = expf(cand[i].v - m);
            total += cand[i].v;
        }
    } else {
        for (id = 0; id < n; id++) {
            x[id] = expf(x[id] - m);
            total += x[id];
        }
        k = lmd_nucleus_gather(cand, x, n, s->p.top_p * total);
    }
    if (use_p) {
        k = lmd_nucleus(cand, k, s->p.top_p * total);
    }
    if (min_p > 0.0f) {
        for (i = j = 0; i < k; i++) {
            if (cand[i].v >= min_p || cand[i].v >= 1.0f) {
                cand[j++] = cand[i];
            }
        }
        k = j;
    }
    return lmd_draw_list(s, cand, k);
}


/* ------------------------------------------------------------------------
 * Log-probabilities of the raw logits
 * ------------------------------------------------------------------------ */

static float
lmd_logprob(float x, double m, double lse)
{
    if (!isfinite(lse)) {
        return (double) x == m ? 0.0f : -INFINITY;
    }
    return (float) ((double) x - lse);
}


static void
lmd_sampler_logprobs(struct lmd_sampler *s, int32_t chosen,
    struct lmd_sample_result *res)
{
    struct lmd_token_logprob  *top = res->top;
    const float               *r = s->raw;
    double                     m = -INFINITY, sum = 0.0, lse;
    float                      v;
    uint32_t                   id;
    int                        want, n = 0, j;

    for (id = 0; id < s->vocab; id++) {
        if (r[id] > m) {
            m = r[id];
        }
    }
    if (isfinite(m)) {
        for (id = 0; id < s->vocab; id++) {
            if (r[id] == r[id]) {       /* a NaN counts for nothing */
                sum += exp((double) r[id] - m);
            }
        }
        lse = m + log(sum);
    } else {
        lse = m;
    }
    res->id = chosen;
    res->logprob = lmd_logprob(r[chosen], m, lse);

    /* The best `want`, kept sorted by insertion: beating the last kept
     * is rare after the first few hundred ids. */
    want = s->p.top_logprobs;
    if (want > LMD_SAMPLER_MAX_TOP_LOGPROBS) {
        want = LMD_SAMPLER_MAX_TOP_LOGPROBS;
    }
    if (want > 0 && (uint32_t) want > s->vocab) {
        want = (int) s->vocab;
    }
    for (id = 0; want > 0 && id < s->vocab; id++) {
        v = r[id] == r[id] ? r[id] : -INFINITY;
        if (n == want && !(v > top[n - 1].logprob)) {
            continue;
        }
        j = n < want ? n++ : n - 1;
        while (j > 0 && v > top[j - 1].logprob) {
            top[j] = top[j - 1];
            j--;
        }
        top[j].id = (int32_t) id;
        top[j].logprob = v;
    }
    for (j = 0; j < n; j++) {
        top[j].logprob = lmd_logprob(top[j].logprob, m, lse);
    }
    res->n_top = n;
}


int32_t
lmd_sampler_sample(struct lmd_sampler *s, float *logits,
    struct lmd_sample_result *res)
{
    int32_t  id;

    if (res != NULL) {
        memcpy(s->raw, logits, s->vocab * sizeof(*logits));
    }
    lmd_sampler_apply_penalties(s, logits);
    if (lmd_sampler_greedy(&s->p)) {
        id = lmd_argmax(logits, s->vocab);
    } else {
        id = lmd_sampler_draw(s, logits);
    }
    lmd_sampler_record(s, id, 1);
    if (res != NULL) {
        lmd_sampler_logprobs(s, id, res);
    }
    return id;
}
