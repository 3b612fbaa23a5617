// sources: modules/cuda-awq/cuda_sample.cu engine/lmd_sampler.c
/*
 * sample_check.cu -- checks cuda_sample against the host sampler
 * (engine/lmd_sampler.c) and a float64 reference of the surviving token
 * sets, then times it.  Built and run by tests/gpu/run.sh on a GPU
 * machine.
 *
 * Checks:
 *   - greedy (temperature 0 or <= 1e-5) on random logits, vocab 32000
 *     and 151936, with bias (repeats, out-of-range ids), penalties over
 *     prompt and output (repeats), exact ties planted at the maximum and
 *     made by a penalty, -0/+0, NaN, all -inf, all NaN, +inf in a
 *     sampling row: the id equals the host sampler's exactly;
 *   - sampling: the exact surviving set and its probabilities in float64
 *     (top_k by (value desc, id asc), nucleus by (weight desc, id asc)
 *     reaching top_p of the mass, min_p, over the logits the host's
 *     lmd_sampler_apply_penalties gives); thousands of draws (rows with
 *     draw = 0, 1, 2, ...): every id in the set, a chi-square of the
 *     frequencies under a loose bound (df + 6 sqrt(2 df) + 10, about 6
 *     sigma), the same ids again for the same seeds and draws; cases
 *     that reach the slow path (more than 8192 candidates) included;
 *     cases whose set a 1e-4 change of top_p's mass or min_p would
 *     change are refused as borderline (a failure: change the data);
 *   - logprob of every chosen id against float64 log-softmax of the raw
 *     logits, |err| < 1e-4 (f32 sums of exp over up to 152k terms);
 *   - ids poisoned (-1) and logprobs poisoned (NaN) before each launch;
 *     the first launch is captured in a CUDA graph; bad arguments give
 *     -1.
 * Timing (no -c): vocab 152064, 1 and 64 rows: greedy; temperature 0.7 +
 * top_k 50 + top_p 0.9 (the fast path); a flat top_p 0.95 (the slow
 * path); per launch inside a CUDA graph of at least 20 launches that
 * reads every one of logits sets holding 160 MB (more than L2), median
 * of 7 replays.
 */

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include <cuda_runtime.h>

extern "C" {
#include "lmd_sampler.h"
}
#include "cuda_kernels.h"

#define CK(call)                                                         \
    do {                                                                 \
        cudaError_t  e_ = (call);                                        \
        if (e_ != cudaSuccess) {                                         \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__,       \
                    #call, cudaGetErrorString(e_));                      \
            exit(2);                                                     \
        }                                                                \
    } while (0)

#define MAX_ROWS   256
#define MAX_VOCAB  152064
#define MAX_HIST   (1 << 20)   /* 256 rows of 3000 prompt ids and more */
#define MAX_BIAS   4096

static int        failures;
static uint64_t   rng_state = 0x9e3779b97f4a7c15ull;


static uint64_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}


static double
urand(void)                             /* [0, 1) */
{
    return (double) (rng() >> 11) * 0x1.0p-53;
}


static double
nrand(void)
{
    double  u = urand() + 1e-300, v = urand();

    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}


static std::vector<float>
normal_logits(uint32_t vocab, double sd)
{
    std::vector<float>  x(vocab);

    for (auto &v : x) {
        v = (float) (sd * nrand());
    }
    return x;
}


/* Values rounded to multiples of step: many exact ties. */
static std::vector<float>
quantized(std::vector<float> x, float step)
{
    for (auto &v : x) {
        v = step * roundf(v / step);
    }
    return x;
}


/* ------------------------------------------------------------------------
 * Device buffers and one launch
 * ------------------------------------------------------------------------ */

struct dev {
    float                   *logits;
    struct cuda_sample_row  *rows;
    int32_t                 *hist;
    struct cuda_logit_bias  *bias;
    int32_t                 *ids;
    float                   *lp;
    void                    *work;
};

static struct dev  d;


/* One row's request, as both samplers take it. */
struct req {
    float                        t = 1.0f, top_p = 1.0f, min_p = 0.0f;
    float                        rp = 1.0f, fp = 0.0f, pp = 0.0f;
    int                          top_k = 0;
    std::vector<int32_t>         prompt, output;
    std::vector<cuda_logit_bias> bias;
    uint64_t                     seed = 7, draw = 0;
};


/* Uploads the rows' settings and lists, the logits (n rows, row r from
 * xs[r % xs.size()]), poisons the outputs, launches, downloads. */
static void
launch(const std::vector<req> &qs, const std::vector<const float *> &xs,
       uint32_t vocab, std::vector<int32_t> &ids, std::vector<float> *lp,
       cudaStream_t st = 0, bool capture = false)
{
    std::vector<cuda_sample_row>  rows;
    std::vector<int32_t>          hist;
    std::vector<cuda_logit_bias>  bias;
    uint32_t                      n = (uint32_t) qs.size(), r;

    for (const req &q : qs) {
        cuda_sample_row  w;

        memset(&w, 0, sizeof(w));
        w.temperature = q.t;
        w.top_p = q.top_p;
        w.min_p = q.min_p;
        w.top_k = q.top_k;
        w.repetition_penalty = q.rp;
        w.frequency_penalty = q.fp;
        w.presence_penalty = q.pp;
        w.hist_start = (uint32_t) hist.size();
        w.n_prompt = (uint32_t) q.prompt.size();
        w.n_output = (uint32_t) q.output.size();
        hist.insert(hist.end(), q.prompt.begin(), q.prompt.end());
        hist.insert(hist.end(), q.output.begin(), q.output.end());
        w.bias_start = (uint32_t) bias.size();
        w.n_bias = (uint32_t) q.bias.size();
        bias.insert(bias.end(), q.bias.begin(), q.bias.end());
        w.seed = q.seed;
        w.draw = q.draw;
        rows.push_back(w);
    }
    if (n > MAX_ROWS || hist.size() > MAX_HIST || bias.size() > MAX_BIAS
        || vocab > MAX_VOCAB)
    {
        fprintf(stderr, "sample_check: test too large\n");
        exit(2);
    }
    CK(cudaMemcpy(d.rows, rows.data(), n * sizeof(rows[0]),
                  cudaMemcpyHostToDevice));
    if (!hist.empty()) {
        CK(cudaMemcpy(d.hist, hist.data(), hist.size() * 4,
                      cudaMemcpyHostToDevice));
    }
    if (!bias.empty()) {
        CK(cudaMemcpy(d.bias, bias.data(), bias.size() * sizeof(bias[0]),
                      cudaMemcpyHostToDevice));
    }
    for (r = 0; r < n; r++) {
        CK(cudaMemcpy(d.logits + (size_t) r * vocab, xs[r % xs.size()],
                      (size_t) vocab * 4, cudaMemcpyHostToDevice));
    }
    CK(cudaMemset(d.ids, 0xff, n * 4));
    CK(cudaMemset(d.lp, 0xff, n * 4));              /* NaN */
    CK(cudaDeviceSynchronize());

    if (capture) {
        cudaGraph_t      g;
        cudaGraphExec_t  ge;

        CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
        if (cuda_sample(d.logits, n, vocab, d.rows, d.hist, d.bias, d.ids,
                        lp ? d.lp : NULL, d.work, st) != 0)
        {
            fprintf(stderr, "cuda_sample refused (captured): %s\n",
                    cudaGetErrorString(cudaGetLastError()));
            exit(2);
        }
        CK(cudaStreamEndCapture(st, &g));
        CK(cudaGraphInstantiate(&ge, g, 0));
        CK(cudaGraphLaunch(ge, st));
        CK(cudaStreamSynchronize(st));
        CK(cudaGraphExecDestroy(ge));
        CK(cudaGraphDestroy(g));
    } else {
        if (cuda_sample(d.logits, n, vocab, d.rows, d.hist, d.bias, d.ids,
                        lp ? d.lp : NULL, d.work, st) != 0)
        {
            fprintf(stderr, "cuda_sample refused: %s\n",
                    cudaGetErrorString(cudaGetLastError()));
            exit(2);
        }
    }
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    ids.resize(n);
    CK(cudaMemcpy(ids.data(), d.ids, n * 4, cudaMemcpyDeviceToHost));
    if (lp != NULL) {
        lp->resize(n);
        CK(cudaMemcpy(lp->data(), d.lp, n * 4, cudaMemcpyDeviceToHost));
    }
}


/* ------------------------------------------------------------------------
 * References
 * ------------------------------------------------------------------------ */

/* Max and log-sum-exp of raw logits, float64, NaN counting nothing. */
static double
ref_lse(const float *x, uint32_t n, double *mo)
{
    double    m = -INFINITY, s = 0.0;
    uint32_t  i;

    for (i = 0; i < n; i++) {
        if (x[i] > m) {
            m = x[i];
        }
    }
    *mo = m;
    if (!std::isfinite(m)) {
        return m;
    }
    for (i = 0; i < n; i++) {
        if (x[i] == x[i]) {
            s += exp((double) x[i] - m);
        }
    }
    return m + log(s);
}


/* log-softmax of x at id, given ref_lse's results. */
static double
ref_lp(const float *x, int32_t id, double m, double lse)
{
    if (!std::isfinite(lse)) {
        return (double) x[id] == m ? 0.0 : -INFINITY;
    }
    return (double) x[id] - lse;
}


static double
ref_logprob(const float *x, uint32_t n, int32_t id)
{
    double  m, lse = ref_lse(x, n, &m);

    return ref_lp(x, id, m, lse);
}


static bool
logprob_ok(float got, double ref)
{
    if (std::isinf(ref)) {
        return got == ref;
    }
    return std::isfinite(got) && fabs(got - ref) < 1e-4;
}


/* The host sampler on these logits with q's settings and history; pen
 * (if not NULL) gets the logits after bias and penalties. */
static int32_t
host_pick(const req &q, std::vector<float> x, uint32_t vocab,
          std::vector<float> *pen)
{
    struct lmd_sampling   p;
    struct lmd_sampler   *s;
    int32_t               id;

    lmd_sampling_defaults(&p);
    p.temperature = q.t;
    p.top_p = q.top_p;
    p.top_k = q.top_k;
    p.min_p = q.min_p;
    p.repetition_penalty = q.rp;
    p.frequency_penalty = q.fp;
    p.presence_penalty = q.pp;
    p.seed = 1;
    p.has_seed = 1;
    p.logit_bias = (const struct lmd_logit_bias *) (const void *)
                   q.bias.data();
    p.n_logit_bias = q.bias.size();
    s = lmd_sampler_create(&p, vocab);
    if (s == NULL) {
        fprintf(stderr, "lmd_sampler_create failed\n");
        exit(2);
    }
    lmd_sampler_set_prompt(s, q.prompt.data(), q.prompt.size());
    for (int32_t o : q.output) {
        lmd_sampler_accept(s, o);
    }
    if (pen != NULL) {
        *pen = x;
        lmd_sampler_apply_penalties(s, pen->data());
    }
    id = lmd_sampler_sample(s, x.data(), NULL);
    lmd_sampler_free(s);
    return id;
}


/* The surviving ids and their probabilities, float64. */
struct ref_set {
    std::vector<int32_t>  ids;
    std::vector<double>   prob;
    bool                  borderline = false;
};


static ref_set
reference_set(const float *xm, uint32_t vocab, const req &q)
{
    ref_set               rs;
    std::vector<float>    y(vocab);
    std::vector<double>   w(vocab);
    std::vector<int32_t>  ord(vocab), cand;
    double                m = -INFINITY, total = 0.0, s = 0.0, want;
    bool                  use_k, use_p;
    size_t                n0, n1, n2;
    uint32_t              i;

    for (i = 0; i < vocab; i++) {
        float  v = xm[i] / q.t;                 /* f32, as both do */

        y[i] = v == v ? v : -INFINITY;
        m = y[i] > m ? y[i] : m;
    }
    for (i = 0; i < vocab; i++) {
        w[i] = exp((double) y[i] - m);
        ord[i] = (int32_t) i;
    }
    std::sort(ord.begin(), ord.end(), [&](int32_t a, int32_t b) {
        return y[a] != y[b] ? y[a] > y[b] : a < b;
    });
    use_k = q.top_k > 0 && (uint32_t) q.top_k < vocab;
    use_p = q.top_p < 1.0f;
    if (use_k) {
        cand.assign(ord.begin(), ord.begin() + q.top_k);
    } else {
        cand = ord;
    }
    if (use_p) {
        for (int32_t c : cand) {
            total += w[c];
        }
        std::sort(cand.begin(), cand.end(), [&](int32_t a, int32_t b) {
            return w[a] != w[b] ? w[a] > w[b] : a < b;
        });
        auto cut = [&](double wa) {
            double  c = 0.0;

            for (size_t j = 0; j < cand.size(); j++) {
                c += w[cand[j]];
                if (c >= wa) {
                    return j + 1;
                }
            }
            return cand.size();
        };
        want = (double) q.top_p * total;
        n0 = cut(want);
        n1 = cut(want * (1 - 1e-4));
        n2 = cut(want * (1 + 1e-4));
        rs.borderline = n0 != n1 || n0 != n2;
        cand.resize(n0);
    }
    for (int32_t c : cand) {
        if (q.min_p > 0.0f && fabs(w[c] - q.min_p) < 1e-4 * q.min_p) {
            rs.borderline = true;
        }
        if (q.min_p > 0.0f && !(w[c] >= q.min_p || w[c] >= 1.0)) {
            continue;
        }
        if (w[c] < 0x1p-40) {
            continue;                   /* the kernel's fixed point */
        }
        rs.ids.push_back(c);
        rs.prob.push_back(w[c]);
        s += w[c];
    }
    for (auto &p : rs.prob) {
        p /= s;
    }
    return rs;
}


/* ------------------------------------------------------------------------
 * Greedy against the host sampler
 * ------------------------------------------------------------------------ */

static void
check_greedy(uint32_t vocab, cudaStream_t st, bool capture)
{
    std::vector<req>                 qs;
    std::vector<std::vector<float>>  xs;
    std::vector<const float *>       ptr;
    std::vector<int32_t>             ids;
    std::vector<float>               lp;
    int32_t                          a, h;
    uint32_t                         r;

    auto amax = [&](const std::vector<float> &x) {
        return (int32_t) (std::max_element(x.begin(), x.end())
                          - x.begin());
    };
    auto add = [&](const req &q, std::vector<float> x) {
        qs.push_back(q);
        xs.push_back(x);
    };

    {   /* plain */
        req  q;

        q.t = 0.0f;
        add(q, normal_logits(vocab, 3));
    }
    {   /* a planted tie at the maximum: the lower id wins */
        req                 q;
        std::vector<float>  x = normal_logits(vocab, 3);

        q.t = 0.0f;
        a = amax(x);
        x[vocab - 3] = x[a];
        x[17] = x[a];
        add(q, x);
    }
    {   /* bias with repeats and out-of-range ids makes a new maximum */
        req                 q;
        std::vector<float>  x = normal_logits(vocab, 3);

        q.t = 0.0f;
        a = amax(x);
        q.bias = { { 5, 3.0f }, { (int32_t) vocab, 50.0f }, { -1, 50.0f },
                   { 5, 1.0f }, { a, -2.5f }, { 9, 0.25f } };
        x[5] = x[a] - 3.9f;
        add(q, x);
    }
    {   /* penalties: the maximum generated twice, ids out of range */
        req                 q;
        std::vector<float>  x = normal_logits(vocab, 3);

        q.t = 0.0f;
        a = amax(x);
        q.rp = 1.3f;
        q.fp = 0.4f;
        q.pp = 0.3f;
        for (int i = 0; i < 500; i++) {
            q.prompt.push_back((int32_t) (rng() % vocab));
        }
        for (int i = 0; i < 200; i++) {
            q.output.push_back((int32_t) (rng() % 300));
        }
        q.output.push_back(a);
        q.output.push_back(a);
        q.output.push_back((int32_t) vocab + 4);
        q.prompt.push_back(-3);
        add(q, x);
    }
    for (int k = 0; k < 2; k++) {
        /* a penalty makes an exact tie: 2.0 / 2 == 1.0 */
        req                 q;
        std::vector<float>  x = normal_logits(vocab, 0.1);
        int32_t             pa = k ? 40 : 900, pb = k ? 900 : 40;

        q.t = 0.0f;
        q.rp = 2.0f;
        x[pa] = 2.0f;
        x[pb] = 1.0f;
        q.prompt = { pa, pa, 3 };
        add(q, x);
    }
    {   /* NaN never wins */
        req                 q;
        std::vector<float>  x = normal_logits(vocab, 2);

        q.t = 0.0f;
        for (int i = 0; i < 50; i++) {
            x[rng() % vocab] = NAN;
        }
        x[0] = NAN;
        x[1] = -INFINITY;
        add(q, x);
    }
    {   /* all -inf, all NaN: id 0 */
        req  q;

        q.t = 0.0f;
        add(q, std::vector<float>(vocab, -INFINITY));
        add(q, std::vector<float>(vocab, NAN));
    }
    {   /* +inf in a sampling row: the first infinity */
        req                 q;
        std::vector<float>  x = normal_logits(vocab, 2);

        q.t = 0.8f;
        q.top_k = 5;
        x[vocab - 1] = INFINITY;
        x[77] = INFINITY;
        add(q, x);
    }
    {   /* temperature 1e-6 is greedy; negative frequency penalty */
        req  q;

        q.t = 1e-6f;
        q.top_p = 0.5f;
        q.fp = -0.5f;
        q.output = { 1, 2, 3, 1 };
        add(q, normal_logits(vocab, 1));
    }
    {   /* -0 ties +0 */
        req                 q;
        std::vector<float>  x(vocab, -1.0f);

        q.t = 0.0f;
        x[300] = -0.0f;
        x[200] = 0.0f;
        add(q, x);
    }
    {   /* the best logit is negative and in the prompt: multiplied */
        req                 q;
        std::vector<float>  x = normal_logits(vocab, 1);

        q.t = 0.0f;
        q.rp = 1.2f;
        for (auto &v : x) {
            v = -fabsf(v) - 1.0f;
        }
        a = amax(x);
        q.prompt = { a };
        add(q, x);
    }

    for (auto &x : xs) {
        ptr.push_back(x.data());
    }
    launch(qs, ptr, vocab, ids, &lp, st, capture);
    for (r = 0; r < qs.size(); r++) {
        h = host_pick(qs[r], xs[r], vocab, NULL);
        bool    in = ids[r] >= 0 && (uint32_t) ids[r] < vocab;
        double  ref = in ? ref_logprob(xs[r].data(), vocab, ids[r]) : 0;
        bool    ok = in && ids[r] == h && logprob_ok(lp[r], ref);

        printf("greedy vocab %6u row %2u: id %6d host %6d logprob %.6f "
               "ref %.6f%s %s\n", vocab, r, ids[r], h, lp[r], ref,
               capture ? " (graph)" : "", ok ? "ok" : "FAIL");
        failures += !ok;
    }
}


/* ------------------------------------------------------------------------
 * Distributions
 * ------------------------------------------------------------------------ */

template <class G>
static void
check_dist(const char *name, G gen, uint32_t vocab, req q, int n)
{
    std::vector<float>       x;
    std::vector<float>       pen;
    std::vector<int32_t>     ids, ids2, all;
    std::vector<float>       lp;
    std::vector<req>         qs;
    std::vector<double>      cnt;
    std::map<int32_t, size_t> pos;
    ref_set                  rf;
    double                   stat = 0, oe = 0, oo = 0, lperr = 0, e, bound;
    double                   m, lse;
    int                      outside = 0, df = -1, bad = 0, i, b;
    bool                     same = true, ok;

    for (i = 0; i < 10; i++) {
        x = gen();                      /* new data if too close to call */
        host_pick(q, x, vocab, &pen);
        rf = reference_set(pen.data(), vocab, q);
        if (!rf.borderline) {
            break;
        }
    }
    if (rf.borderline) {
        printf("dist %-34s borderline data ten times (a 1e-4 change of "
               "top_p or min_p changes the set): FAIL\n", name);
        failures++;
        return;
    }
    lse = ref_lse(x.data(), vocab, &m);
    for (size_t j = 0; j < rf.ids.size(); j++) {
        pos[rf.ids[j]] = j;
    }
    cnt.assign(rf.ids.size(), 0);
    for (b = 0; b < n; b += MAX_ROWS) {
        int  m = std::min(MAX_ROWS, n - b);

        qs.assign(m, q);
        for (i = 0; i < m; i++) {
            qs[i].draw = (uint64_t) (b + i);
        }
        launch(qs, { x.data() }, vocab, ids, &lp);
        if (b == 0) {
            launch(qs, { x.data() }, vocab, ids2, NULL);
            same = ids == ids2;
        }
        for (i = 0; i < m; i++) {
            if (ids[i] < 0 || (uint32_t) ids[i] >= vocab) {
                bad++;
                continue;
            }
            auto it = pos.find(ids[i]);

            if (it == pos.end()) {
                if (outside++ < 3) {
                    printf("  %s: drawn id %d is not in the set\n", name,
                           ids[i]);
                }
                continue;
            }
            cnt[it->second]++;
            e = fabs(lp[i] - ref_lp(x.data(), ids[i], m, lse));
            if (!(e <= lperr)) {
                lperr = std::isnan(e) ? INFINITY : e;   /* NaN fails */
            }
        }
    }
    /* chi-square: cells expecting >= 5 draws; the rest merged */
    for (size_t j = 0; j < cnt.size(); j++) {
        e = n * rf.prob[j];
        if (e >= 5) {
            stat += (cnt[j] - e) * (cnt[j] - e) / e;
            df++;
        } else {
            oe += e;
            oo += cnt[j];
        }
    }
    if (oe > 0) {
        stat += (oo - oe) * (oo - oe) / std::max(oe, 1e-9);
        df++;
    }
    bound = df + 6 * sqrt(2.0 * std::max(df, 1)) + 10;
    ok = bad == 0 && outside == 0 && stat < bound && same && lperr < 1e-4;
    printf("dist %-34s set %5zu ids, %6d draws: outside %d, unwritten %d, "
           "chi2 %8.1f df %5d (bound %8.1f), repeat %s, logprob err "
           "%.1e %s\n", name, rf.ids.size(), n, outside, bad, stat, df,
           bound, same ? "same" : "DIFFERS", lperr, ok ? "ok" : "FAIL");
    failures += !ok;
}


static void
check_dists(void)
{
    req  q;
    int  n = 20000;

    auto normal = [](uint32_t v, double sd) {
        return [=]() { return normal_logits(v, sd); };
    };
    auto steps = [](uint32_t v, double sd, float step) {
        return [=]() { return quantized(normal_logits(v, sd), step); };
    };

    q = req();
    q.t = 0.8f;
    check_dist("v50 T0.8, no filter", normal(50, 2), 50, q, n);

    q = req();
    q.top_k = 10;
    check_dist("v50 top_k 10", normal(50, 2), 50, q, n);

    q = req();
    q.t = 0.7f;
    q.top_p = 0.8f;
    check_dist("v50 T0.7 top_p 0.8", normal(50, 2), 50, q, n);

    q = req();
    q.t = 1.2f;
    q.top_k = 20;
    q.top_p = 0.9f;
    q.min_p = 0.05f;
    check_dist("v50 T1.2 k20 p0.9 min_p 0.05", normal(50, 2), 50, q, n);

    q = req();
    q.min_p = 0.1f;
    check_dist("v50 min_p 0.1", normal(50, 2), 50, q, n);

    q = req();
    q.top_k = 7;
    check_dist("v50 ties at the k-th", steps(50, 1, 0.5f), 50, q, n);

    q = req();
    q.top_p = 0.55f;
    check_dist("v50 ties at the nucleus edge", steps(50, 1, 0.5f), 50, q,
               n);

    q = req();
    q.t = 0.9f;
    q.top_p = 0.9f;
    q.rp = 1.5f;
    q.fp = 0.3f;
    q.pp = 0.2f;
    q.prompt = { 1, 2, 3, 3, 40 };
    q.output = { 2, 2, 5, 49, 7 };
    q.bias = { { 10, 2.0f }, { 11, -5.0f }, { 10, 0.5f } };
    check_dist("v50 penalties, bias, p0.9", normal(50, 2), 50, q, n);

    q = req();
    q.top_k = 20;
    check_dist("v50 fewer weighted than top_k", []() {
        std::vector<float>  x(50, -200.0f);

        for (int i = 0; i < 5; i++) {
            x[3 * i + 1] = 0.3f * i;
        }
        return x;
    }, 50, q, n);

    q = req();
    q.top_k = 40;
    q.top_p = 0.97f;
    check_dist("v50 flat k40 p0.97", normal(50, 0.3), 50, q, n);

    q = req();
    q.top_p = 0.5f;
    check_dist("v2000 flat p0.5", normal(2000, 0.5), 2000, q, n);

    /* Slow path: more than 8192 candidates. */
    q = req();
    q.top_p = 0.3f;
    check_dist("v32000 slow p0.3", []() {
        std::vector<float>  x(32000, -30.0f);

        for (int i = 0; i < 14000; i++) {      /* ~9700 above 0.25 */
            x[(7 * i) % 32000] = (float) (2.0 * urand());
        }
        return x;
    }, 32000, q, 51200);

    q = req();
    q.top_k = 9000;
    q.top_p = 0.1f;
    check_dist("v32000 slow ties k9000 p0.1", steps(32000, 1, 0.125f),
               32000, q, 51200);

    q = req();
    q.top_k = 12000;
    q.min_p = 0.3f;
    check_dist("v32000 slow ties k12000 min_p0.3", steps(32000, 0.5,
               0.0625f), 32000, q, 51200);

    q = req();
    check_dist("v32000 peaked, no filter", []() {
        std::vector<float>  x = normal_logits(32000, 1);

        for (int i = 0; i < 40; i++) {
            x[rng() % 32000] += 9.0f;
        }
        return x;
    }, 32000, q, n);

    /* LLM-sized rows on the fast path. */
    q = req();
    q.t = 0.7f;
    q.top_k = 50;
    q.top_p = 0.9f;
    check_dist("v151936 T0.7 k50 p0.9", normal(151936, 2.5), 151936, q, n);

    q = req();
    q.top_p = 0.95f;
    q.rp = 1.1f;
    for (int i = 0; i < 3000; i++) {
        q.prompt.push_back((int32_t) (rng() % 151936));
    }
    check_dist("v151936 p0.95 penalties", []() {
        std::vector<float>  x = normal_logits(151936, 1.5);

        for (int i = 0; i < 100; i++) {
            x[rng() % 151936] += 6.0f + 4.0f * (float) urand();
        }
        return x;
    }, 151936, q, n);
}


static void
check_args(void)
{
    bool  ok;

    ok = cuda_sample(d.logits, 0, 50, d.rows, d.hist, d.bias, d.ids, NULL,
                     d.work, 0) == 0
         && cuda_sample(NULL, 1, 50, d.rows, d.hist, d.bias, d.ids, NULL,
                        d.work, 0) == -1
         && cuda_sample(d.logits, 1, 0, d.rows, d.hist, d.bias, d.ids,
                        NULL, d.work, 0) == -1
         && cuda_sample(d.logits, 1, 50, d.rows, d.hist, d.bias, d.ids,
                        NULL, NULL, 0) == -1;
    CK(cudaGetLastError());
    printf("arguments: n_rows 0 is a no-op, NULL logits/work and vocab 0 "
           "refused %s\n", ok ? "ok" : "FAIL");
    failures += !ok;
}


/* ------------------------------------------------------------------------
 * Timing
 * ------------------------------------------------------------------------ */

/* Roughly normal logits (sum of 4 uniforms) times sd, on the GPU. */
__global__ void
fill_logits(float *p, size_t n, uint32_t seed, float sd, float flat)
{
    size_t  i = blockIdx.x * (size_t) blockDim.x + threadIdx.x;

    for (; i < n; i += (size_t) gridDim.x * blockDim.x) {
        uint32_t  h = (uint32_t) i * 0x9e3779b1u ^ seed;
        float     s = 0.0f;

        for (int k = 0; k < 4; k++) {
            h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u;
            h ^= h >> 16;
            s += (float) (h >> 8) * (1.0f / 16777216.0f);
        }
        p[i] = flat > 0.0f ? flat * s : sd * 1.7320508f * (s - 2.0f);
    }
}


static double
time_case(const char *name, uint32_t rows, uint32_t vocab, const req &q,
          float sd, float flat)
{
    size_t                           row_bytes = (size_t) rows * vocab * 4;
    int                              nsets = (int) ((160u << 20)
                                                    / row_bytes) + 1;
    std::vector<float *>             sets(nsets);
    std::vector<cuda_sample_row>     rw(rows);
    std::vector<float>               t;
    cudaStream_t                     st;
    cudaGraph_t                      g;
    cudaGraphExec_t                  ge;
    cudaEvent_t                      e0, e1;
    double                           us;
    int                              nl = nsets > 20 ? nsets : 20;

    for (int i = 0; i < nsets; i++) {
        CK(cudaMalloc(&sets[i], row_bytes));
        fill_logits<<<1024, 256>>>(sets[i], (size_t) rows * vocab,
                                   77 + i, sd, flat);
        CK(cudaGetLastError());
    }
    for (uint32_t r = 0; r < rows; r++) {
        memset(&rw[r], 0, sizeof(rw[r]));
        rw[r].temperature = q.t;
        rw[r].top_p = q.top_p;
        rw[r].top_k = q.top_k;
        rw[r].min_p = q.min_p;
        rw[r].repetition_penalty = 1.0f;
        rw[r].seed = 5;
        rw[r].draw = r;
    }
    CK(cudaMemcpy(d.rows, rw.data(), rows * sizeof(rw[0]),
                  cudaMemcpyHostToDevice));
    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    CK(cudaDeviceSynchronize());
    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < nl; i++) {
        /* no penalties: the logits are only read, so sets can repeat */
        if (cuda_sample(sets[i % nsets], rows, vocab, d.rows, d.hist,
                        d.bias, d.ids, d.lp, d.work, st) != 0)
        {
            fprintf(stderr, "cuda_sample refused in capture\n");
            exit(2);
        }
    }
    CK(cudaStreamEndCapture(st, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int r = 0; r < 9; r++) {
        float  ms;

        CK(cudaEventRecord(e0, st));
        CK(cudaGraphLaunch(ge, st));
        CK(cudaEventRecord(e1, st));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&ms, e0, e1));
        if (r >= 2) {
            t.push_back(ms * 1e3f / nl);
        }
    }
    CK(cudaGetLastError());
    std::sort(t.begin(), t.end());
    us = t[t.size() / 2];
    printf("time %-26s rows %3u vocab %u: %8.2f us per launch (median of "
           "7, spread %.2f-%.2f); floor (read the logits once at 4276 "
           "GB/s) %.2f us\n", name, rows, vocab, us, t.front(), t.back(),
           row_bytes / 4276e3);
    CK(cudaGraphExecDestroy(ge));
    CK(cudaGraphDestroy(g));
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    CK(cudaStreamDestroy(st));
    for (int i = 0; i < nsets; i++) {
        CK(cudaFree(sets[i]));
    }
    return us;
}


static void
timing(void)
{
    req  g, f, s;

    g.t = 0.0f;
    f.t = 0.7f;
    f.top_k = 50;
    f.top_p = 0.9f;
    s.top_p = 0.95f;
    for (uint32_t rows : { 1u, 64u }) {
        time_case("greedy", rows, 152064, g, 2.5f, 0.0f);
        time_case("T0.7 k50 p0.9 (fast path)", rows, 152064, f, 2.5f, 0.0f);
        time_case("flat p0.95 (slow path)", rows, 152064, s, 0.0f, 0.5f);
    }
}


int
main(int argc, char **argv)
{
    bool          check_only = argc > 1 && strcmp(argv[1], "-c") == 0;

    cudaStream_t  st;

    CK(cudaMalloc(&d.logits, (size_t) MAX_ROWS * MAX_VOCAB * 4));
    CK(cudaMalloc(&d.rows, MAX_ROWS * sizeof(cuda_sample_row)));
    CK(cudaMalloc(&d.hist, MAX_HIST * 4));
    CK(cudaMalloc(&d.bias, MAX_BIAS * sizeof(cuda_logit_bias)));
    CK(cudaMalloc(&d.ids, MAX_ROWS * 4));
    CK(cudaMalloc(&d.lp, MAX_ROWS * 4));
    CK(cudaMalloc(&d.work, cuda_sample_work_bytes(MAX_ROWS, MAX_VOCAB)));
    /* garbage in work, as the engine's arena may leave */
    CK(cudaMemset(d.work, 0xa5, cuda_sample_work_bytes(MAX_ROWS,
                                                       MAX_VOCAB)));
    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));

    check_greedy(32000, st, true);      /* the first call, in a graph */
    check_greedy(151936, st, false);
    check_args();
    check_dists();
    if (!check_only) {
        timing();
    }
    CK(cudaStreamDestroy(st));
    printf("%s\n", failures ? "sample_check: FAILED" : "sample_check: all "
           "passed");
    return failures ? 1 : 0;
}
