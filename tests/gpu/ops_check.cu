// sources: modules/cuda-awq/cuda_ops.cu engine/lmd_dtype.c
/*
 * ops_check.cu -- checks the elementwise kernels of cuda_ops.cu (embed,
 * rmsnorm, qkv_rope, silu_mul, gather_rows) against float64 references
 * written here, for f16 and bf16, then times the big cases against the
 * bandwidth floor.  Built and run by tests/gpu/run.sh on a GPU machine;
 * -c: checks only.
 *
 * Every output is poisoned (NaN, or a guard pattern) before the launch,
 * so an unwritten element fails.  Per case: the relative L2 error and
 * the largest absolute error, and every element against its own
 * tolerance tol = u |ref| + 64 2^-24 mag + floor, where u is the 16-bit
 * type's unit roundoff (2^-11 f16, 2^-8 bf16: the output is rounded
 * once), mag the size of the f32 terms that made the value (f32
 * arithmetic before the rounding: a few ulps of them), floor the f16
 * subnormal step.  Relative L2 bounds: 1e-3 (f16) and 1e-2 (bf16), about
 * 3.5x and 4x the expected u / sqrt(3) of one rounding.  Embed and
 * gather copy, so they must be bit-exact.  qkv_rope also checks that
 * every cache element the step does not own keeps its sentinel.
 */

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cuda_kernels.h"
#include "gpu_check.h"

/* A launcher call: refused or failed launches end the check. */
#define LAUNCH(call)                                                     \
    do {                                                                 \
        if ((call) != 0) {                                               \
            fprintf(stderr, "%s:%d: %s returned -1: %s\n", __FILE__,     \
                    __LINE__, #call,                                     \
                    cudaGetErrorString(cudaGetLastError()));             \
            exit(2);                                                     \
        }                                                                \
        CK(cudaGetLastError());                                          \
    } while (0)

static int          failures;
static const char  *act_name[2] = { "f16 ", "bf16" };


static uint64_t     rng_state = 0x2545f4914f6cdd1dull;

static uint64_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}


static double
uni(double a, double b)                 /* [a, b) */
{
    return a + (b - a) * (double) (rng() >> 11) / (double) (1ull << 53);
}


/* A random 16-bit value in [a, b). */
static uint16_t
rand16(int act, double a, double b)
{
    return to16(act, uni(a, b));
}


/* Tolerance of one element: see the file's comment. */
static double
tol(int act, double ref, double mag)
{
    double  u = act == CUDA_ACT_F16 ? ldexp(1, -11) : ldexp(1, -8);
    double  fl = act == CUDA_ACT_F16 ? ldexp(1, -24) : 1e-37;

    return u * fabs(ref) + 64 * ldexp(1, -24) * mag + fl;
}


/* Errors of one case. */
struct errs {
    double  num, den, maxabs, worst;
    long    n, bad;                     /* bad: NaN, inf, unwritten */

    errs() : num(0), den(0), maxabs(0), worst(0), n(0), bad(0) {}

    void add(double got, double ref, double t)
    {
        double  e;

        n++;
        if (!std::isfinite(got)) {
            bad++;
            return;
        }
        e = fabs(got - ref);
        num += e * e;
        den += ref * ref;
        maxabs = std::max(maxabs, e);
        if (t > 0) {
            worst = std::max(worst, e / t);
        } else if (e > 0) {
            worst = INFINITY;
        }
    }

    double rel() const
    {
        return den > 0 ? sqrt(num / den) : (num > 0 ? INFINITY : 0);
    }

    int ok(double relb) const
    {
        return n > 0 && bad == 0 && rel() <= relb && worst <= 1.0;
    }
};


static double
rel_bound(int act)
{
    return act == CUDA_ACT_F16 ? 1e-3 : 1e-2;
}


/* One line per case; extra_ok and extra add a case-specific condition. */
static void
report(const char *what, const errs &e, double relb, int extra_ok = 1,
       const char *extra = "")
{
    int  ok = e.ok(relb) && extra_ok;

    printf("%s %s: rel %.3e (bound %.0e) max abs %.3e worst err/tol "
           "%.3f NaN/unwritten %ld of %ld%s\n", ok ? "ok  " : "FAIL", what,
           e.rel(), relb, e.maxabs, e.worst, e.bad, e.n, extra);
    failures += !ok;
}


/* ------------------------------------------------------------ embed */

static void
check_embed(int act, uint32_t vocab, uint32_t hidden, uint32_t n_tok)
{
    std::vector<int32_t>       tok(n_tok);
    std::map<int32_t, size_t>  rowof;
    std::vector<uint16_t>      rows;   /* the used rows, in first-use order */
    std::vector<float>         x((size_t) n_tok * hidden);
    uint16_t                  *dtable;
    int32_t                   *dtok;
    float                     *dx;
    struct cuda_step           st;
    errs                       e;
    char                       what[128];

    for (uint32_t t = 0; t < n_tok; t++) {
        if (t == 0) {
            tok[t] = 0;
        } else if (t == 1) {
            tok[t] = (int32_t) vocab - 1;
        } else if (t % 7 == 3) {
            tok[t] = tok[rng() % t];            /* a repeat */
        } else {
            tok[t] = (int32_t) (rng() % vocab);
        }
    }
    CK(cudaMalloc(&dtable, (size_t) vocab * hidden * 2));
    CK(cudaMemset(dtable, 0x3c, (size_t) vocab * hidden * 2));
    for (uint32_t t = 0; t < n_tok; t++) {
        if (rowof.count(tok[t])) {
            continue;
        }
        rowof[tok[t]] = rows.size() / hidden;
        for (uint32_t c = 0; c < hidden; c++) {
            rows.push_back(rand16(act, -2, 2));
        }
        CK(cudaMemcpy(dtable + (size_t) tok[t] * hidden,
                      rows.data() + rows.size() - hidden, hidden * 2,
                      cudaMemcpyHostToDevice));
    }
    CK(cudaMalloc(&dtok, n_tok * 4));
    CK(cudaMemcpy(dtok, tok.data(), n_tok * 4, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&dx, x.size() * 4));
    CK(cudaMemset(dx, 0xff, x.size() * 4));         /* NaN */

    memset(&st, 0, sizeof(st));
    st.n_tokens = n_tok;
    st.n_seqs = 1;
    st.tokens = dtok;
    LAUNCH(cuda_embed(act, dtable, &st, dx, hidden, 0));
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(x.data(), dx, x.size() * 4, cudaMemcpyDeviceToHost));

    for (uint32_t t = 0; t < n_tok; t++) {
        const uint16_t  *r = rows.data() + rowof[tok[t]] * hidden;

        for (uint32_t c = 0; c < hidden; c++) {
            e.add(x[(size_t) t * hidden + c], from16(act, r[c]), 0);
        }
    }
    snprintf(what, sizeof(what), "embed    %s vocab %u hidden %u tokens %u"
             " (exact)", act_name[act], vocab, hidden, n_tok);
    report(what, e, 0);
    CK(cudaFree(dtable));
    CK(cudaFree(dtok));
    CK(cudaFree(dx));
}


/* ---------------------------------------------------------- rmsnorm */

/* xoff: x starts that many floats into its buffer (1: unaligned, the
 * scalar path even when n % 4 == 0). */
static void
check_rmsnorm(int act, uint32_t rows, uint32_t n, float eps, uint32_t xoff)
{
    size_t                 len = (size_t) rows * n;
    std::vector<float>     x(len), w(n);
    std::vector<uint16_t>  out(len), out2(len), one(n);
    float                 *dx, *dw;
    uint16_t              *dout;
    errs                   e;
    int                    same, alone;
    char                   what[160];

    for (uint32_t r = 0; r < rows; r++) {
        /* some rows tiny, so that eps matters */
        double  sc = r % 5 == 4 ? 1e-3 : uni(0.5, 3);

        for (uint32_t i = 0; i < n; i++) {
            x[(size_t) r * n + i] = (float) (uni(-1, 1) * sc);
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        w[i] = (float) (uni(0.2, 1.8) * (rng() & 1 ? 1 : -1));
    }
    CK(cudaMalloc(&dx, (len + xoff) * 4));
    CK(cudaMalloc(&dw, n * 4));
    CK(cudaMalloc(&dout, len * 2));
    CK(cudaMemcpy(dx + xoff, x.data(), len * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dw, w.data(), n * 4, cudaMemcpyHostToDevice));

    CK(cudaMemset(dout, 0xff, len * 2));
    LAUNCH(cuda_rmsnorm(act, dx + xoff, dw, dout, rows, n, eps, 0));
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(out.data(), dout, len * 2, cudaMemcpyDeviceToHost));

    /* again: the same bits; and row 0 alone: the same bits too */
    CK(cudaMemset(dout, 0xff, len * 2));
    LAUNCH(cuda_rmsnorm(act, dx + xoff, dw, dout, rows, n, eps, 0));
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(out2.data(), dout, len * 2, cudaMemcpyDeviceToHost));
    same = memcmp(out.data(), out2.data(), len * 2) == 0;
    CK(cudaMemset(dout, 0xff, len * 2));
    LAUNCH(cuda_rmsnorm(act, dx + xoff, dw, dout, 1, n, eps, 0));
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(one.data(), dout, n * 2, cudaMemcpyDeviceToHost));
    alone = memcmp(out.data(), one.data(), n * 2) == 0;

    std::vector<errs>  pe(rows);
#pragma omp parallel for schedule(dynamic, 16)
    for (uint32_t r = 0; r < rows; r++) {
        const float  *xr = x.data() + (size_t) r * n;
        double        ss = 0, rs;

        for (uint32_t i = 0; i < n; i++) {
            ss += (double) xr[i] * xr[i];
        }
        rs = 1 / sqrt(ss / n + (double) eps);
        for (uint32_t i = 0; i < n; i++) {
            double  ref = (double) w[i] * xr[i] * rs;

            pe[r].add(from16(act, out[(size_t) r * n + i]), ref,
                      tol(act, ref, fabs(ref)));
        }
    }
    for (uint32_t r = 0; r < rows; r++) {
        e.num += pe[r].num;
        e.den += pe[r].den;
        e.maxabs = std::max(e.maxabs, pe[r].maxabs);
        e.worst = std::max(e.worst, pe[r].worst);
        e.n += pe[r].n;
        e.bad += pe[r].bad;
    }
    snprintf(what, sizeof(what), "rmsnorm  %s rows %4u n %5u eps %.0e%s",
             act_name[act], rows, n, eps, xoff ? " x unaligned" : "");
    report(what, e, rel_bound(act), same && alone,
           same ? (alone ? ", repeat and alone identical"
                         : ", row 0 alone DIFFERS")
                : ", repeat DIFFERS");
    CK(cudaFree(dx));
    CK(cudaFree(dw));
    CK(cudaFree(dout));
}


/* --------------------------------------------------------- silu_mul */

static void
check_silu(int act, uint32_t rows, uint32_t inter)
{
    size_t                 len = (size_t) rows * inter;
    std::vector<uint16_t>  gu(2 * len), out(len);
    uint16_t              *dgu, *dout;
    errs                   e;
    char                   what[128];

    for (uint32_t r = 0; r < rows; r++) {
        for (uint32_t i = 0; i < inter; i++) {
            gu[(size_t) r * 2 * inter + i] = rand16(act, -8, 8);
            gu[(size_t) r * 2 * inter + inter + i] = rand16(act, -2, 2);
        }
    }
    CK(cudaMalloc(&dgu, 2 * len * 2));
    CK(cudaMalloc(&dout, len * 2));
    CK(cudaMemcpy(dgu, gu.data(), 2 * len * 2, cudaMemcpyHostToDevice));
    CK(cudaMemset(dout, 0xff, len * 2));
    LAUNCH(cuda_silu_mul(act, dgu, dout, rows, inter, 0));
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(out.data(), dout, len * 2, cudaMemcpyDeviceToHost));

    for (uint32_t r = 0; r < rows; r++) {
        for (uint32_t i = 0; i < inter; i++) {
            double  g = from16(act, gu[(size_t) r * 2 * inter + i]);
            double  u = from16(act, gu[(size_t) r * 2 * inter + inter + i]);
            double  ref = g / (1 + exp(-g)) * u;

            e.add(from16(act, out[(size_t) r * inter + i]), ref,
                  tol(act, ref, fabs(ref)));
        }
    }
    snprintf(what, sizeof(what), "silu_mul %s rows %4u inter %5u",
             act_name[act], rows, inter);
    report(what, e, rel_bound(act));
    CK(cudaFree(dgu));
    CK(cudaFree(dout));
}


/* ------------------------------------------------------ gather_rows */

static void
check_gather(uint32_t n_rows, uint32_t width, uint32_t eb)
{
    const uint32_t         n_src = 300;
    size_t                 rb = (size_t) width * eb;
    std::vector<uint8_t>   src(n_src * rb), dst((n_rows + 1) * rb);
    std::vector<uint32_t>  idx(n_rows);
    uint8_t               *dsrc, *ddst;
    uint32_t              *didx;
    long                   wrong = 0;
    int                    guard;

    for (size_t i = 0; i < src.size(); i++) {
        src[i] = (uint8_t) rng();
    }
    for (uint32_t r = 0; r < n_rows; r++) {
        idx[r] = r == 0 ? n_src - 1
                 : r % 4 == 1 ? idx[rng() % r] : (uint32_t) (rng() % n_src);
    }
    CK(cudaMalloc(&dsrc, src.size()));
    CK(cudaMalloc(&ddst, dst.size()));
    CK(cudaMalloc(&didx, n_rows * 4));
    CK(cudaMemcpy(dsrc, src.data(), src.size(), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(didx, idx.data(), n_rows * 4, cudaMemcpyHostToDevice));
    CK(cudaMemset(ddst, 0xa5, dst.size()));
    LAUNCH(cuda_gather_rows(ddst, dsrc, didx, n_rows, width, eb, 0));
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(dst.data(), ddst, dst.size(), cudaMemcpyDeviceToHost));

    for (uint32_t r = 0; r < n_rows; r++) {
        for (size_t b = 0; b < rb; b += eb) {
            wrong += memcmp(&dst[r * rb + b], &src[idx[r] * rb + b], eb)
                     != 0;
        }
    }
    guard = 1;
    for (size_t b = n_rows * rb; b < dst.size(); b++) {
        guard &= dst[b] == 0xa5;
    }
    printf("%s gather   rows %3u width %5u x %u bytes: wrong elements %ld "
           "of %zu (exact), guard row %s\n",
           wrong == 0 && guard ? "ok  " : "FAIL", n_rows, width, eb, wrong,
           n_rows * rb / eb, guard ? "intact" : "WRITTEN");
    failures += !(wrong == 0 && guard);
    CK(cudaFree(dsrc));
    CK(cudaFree(ddst));
    CK(cudaFree(didx));
}


/* --------------------------------------------------------- qkv_rope */

struct seq_desc {
    uint32_t    start;          /* position of the first new token */
    uint32_t    n_new;
    double      theta;          /* rope_theta of this sequence's freqs */
    float       scale;          /* pos_scale */
};


/* The step's device arrays, built from seq_desc. */
struct dev_step {
    std::vector<uint32_t>  tok_seq, tok_pos, seq_start, seq_ctx, table;
    std::vector<int32_t>   tokens;
    std::vector<float>     inv_freq, pos_scale;
    struct cuda_step       st;
    void                  *mem[8];
};


static void *
upload(const void *p, size_t n)
{
    void  *d;

    CK(cudaMalloc(&d, n ? n : 4));
    CK(cudaMemcpy(d, p, n, cudaMemcpyHostToDevice));
    return d;
}


/* Touched (sequence, logical block) pairs get distinct blocks of a
 * shuffled permutation; the table's other entries are random. */
static void
make_step(struct dev_step *ds, const std::vector<seq_desc> &seqs,
          uint32_t head_dim, uint32_t bs, uint32_t n_blocks)
{
    uint32_t               S = (uint32_t) seqs.size(), half = head_dim / 2;
    uint32_t               max_ctx = 0, max_new = 0, mb, next = 0;
    std::vector<uint32_t>  perm(n_blocks);

    for (uint32_t i = 0; i < n_blocks; i++) {
        perm[i] = i;
    }
    for (uint32_t i = n_blocks - 1; i > 0; i--) {
        std::swap(perm[i], perm[rng() % (i + 1)]);
    }
    for (uint32_t s = 0; s < S; s++) {
        max_ctx = std::max(max_ctx, seqs[s].start + seqs[s].n_new);
        max_new = std::max(max_new, seqs[s].n_new);
    }
    mb = (max_ctx + bs - 1) / bs;
    ds->table.assign((size_t) S * mb, 0);
    for (size_t i = 0; i < ds->table.size(); i++) {
        ds->table[i] = (uint32_t) (rng() % n_blocks);
    }
    ds->seq_start.push_back(0);
    for (uint32_t s = 0; s < S; s++) {
        const seq_desc  &q = seqs[s];

        for (uint32_t p = q.start; p < q.start + q.n_new; p++) {
            ds->tok_seq.push_back(s);
            ds->tok_pos.push_back(p);
            ds->tokens.push_back((int32_t) (rng() % 32000));
        }
        for (uint32_t b = q.start / bs; b <= (q.start + q.n_new - 1) / bs;
             b++)
        {
            if (next == n_blocks) {
                fprintf(stderr, "ops_check: too few blocks\n");
                exit(2);
            }
            ds->table[(size_t) s * mb + b] = perm[next++];
        }
        ds->seq_start.push_back((uint32_t) ds->tok_seq.size());
        ds->seq_ctx.push_back(q.start + q.n_new);
        ds->pos_scale.push_back(q.scale);
        for (uint32_t i = 0; i < half; i++) {
            ds->inv_freq.push_back(
                (float) (1.0 / pow(q.theta, 2.0 * i / head_dim)));
        }
    }

    memset(&ds->st, 0, sizeof(ds->st));
    ds->st.n_tokens = (uint32_t) ds->tok_seq.size();
    ds->st.n_seqs = S;
    ds->st.max_seq_tokens = max_new;
    ds->st.max_ctx = max_ctx;
    ds->st.max_blocks = mb;
    ds->st.decode = max_new == 1;
    ds->mem[0] = upload(ds->tokens.data(), ds->tokens.size() * 4);
    ds->mem[1] = upload(ds->tok_seq.data(), ds->tok_seq.size() * 4);
    ds->mem[2] = upload(ds->tok_pos.data(), ds->tok_pos.size() * 4);
    ds->mem[3] = upload(ds->seq_start.data(), ds->seq_start.size() * 4);
    ds->mem[4] = upload(ds->seq_ctx.data(), ds->seq_ctx.size() * 4);
    ds->mem[5] = upload(ds->table.data(), ds->table.size() * 4);
    ds->mem[6] = upload(ds->inv_freq.data(), ds->inv_freq.size() * 4);
    ds->mem[7] = upload(ds->pos_scale.data(), ds->pos_scale.size() * 4);
    ds->st.tokens = (const int32_t *) ds->mem[0];
    ds->st.tok_seq = (const uint32_t *) ds->mem[1];
    ds->st.tok_pos = (const uint32_t *) ds->mem[2];
    ds->st.seq_start = (const uint32_t *) ds->mem[3];
    ds->st.seq_ctx = (const uint32_t *) ds->mem[4];
    ds->st.block_table = (const uint32_t *) ds->mem[5];
    ds->st.inv_freq = (const float *) ds->mem[6];
    ds->st.pos_scale = (const float *) ds->mem[7];
}


static void
free_step(struct dev_step *ds)
{
    for (int i = 0; i < 8; i++) {
        CK(cudaFree(ds->mem[i]));
    }
}


static void
make_dims(struct cuda_dims *d, uint32_t head_dim, uint32_t nh,
          uint32_t nkv)
{
    memset(d, 0, sizeof(*d));
    d->head_dim = head_dim;
    d->n_heads = nh;
    d->n_kv_heads = nkv;
    d->q_dim = nh * head_dim;
    d->kv_dim = nkv * head_dim;
    d->qkv_dim = d->q_dim + 2 * d->kv_dim;
    d->hidden = d->q_dim;
    d->att_scale = (float) (1 / sqrt((double) head_dim));
}


/* The sentinel of cache element i: any bits, compared as bits. */
static uint16_t
sentinel(size_t i)
{
    return (uint16_t) ((uint64_t) i * 0x9e3779b97f4a7c15ull >> 48);
}


static void
check_rope(int act, uint32_t hd, uint32_t nh, uint32_t nkv, uint32_t bs,
           int with_bias, uint32_t layer, const std::vector<seq_desc> &seqs,
           const char *step_name)
{
    const uint32_t         n_layers = 2, n_blocks = 40;
    struct cuda_dims       d;
    struct cuda_kv         kv;
    struct dev_step        ds;
    uint32_t               T, half = hd / 2;
    std::vector<uint16_t>  qkv, q, cache;
    std::vector<float>     bias;
    uint16_t              *dqkv, *dq, *dcache;
    float                 *dbias = NULL;
    size_t                 cache_len, stray = 0;
    errs                   eq, ekv;
    char                   what[200], extra[64];

    make_dims(&d, hd, nh, nkv);
    make_step(&ds, seqs, hd, bs, n_blocks);
    T = ds.st.n_tokens;
    kv.block_size = bs;
    kv.n_blocks = n_blocks;
    kv.layer_stride = (uint64_t) 2 * nkv * bs * hd;
    kv.block_stride = n_layers * kv.layer_stride;
    cache_len = (size_t) n_blocks * kv.block_stride;

    qkv.resize((size_t) T * d.qkv_dim);
    for (size_t i = 0; i < qkv.size(); i++) {
        qkv[i] = rand16(act, -3, 3);
    }
    if (with_bias) {
        bias.resize(d.qkv_dim);
        for (size_t i = 0; i < bias.size(); i++) {
            bias[i] = (float) uni(-1, 1);
        }
        dbias = (float *) upload(bias.data(), bias.size() * 4);
    }
    cache.resize(cache_len);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < cache_len; i++) {
        cache[i] = sentinel(i);
    }
    dqkv = (uint16_t *) upload(qkv.data(), qkv.size() * 2);
    dcache = (uint16_t *) upload(cache.data(), cache_len * 2);
    kv.data = dcache;
    q.resize((size_t) T * d.q_dim);
    CK(cudaMalloc(&dq, q.size() * 2));
    CK(cudaMemset(dq, 0xff, q.size() * 2));

    LAUNCH(cuda_qkv_rope(act, dqkv, dbias, dq, &kv, layer, &ds.st, &d, 0));
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(q.data(), dq, q.size() * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(cache.data(), dcache, cache_len * 2,
                  cudaMemcpyDeviceToHost));

    for (uint32_t t = 0; t < T; t++) {
        uint32_t             s = ds.tok_seq[t], p = ds.tok_pos[t];
        uint32_t             blk, slot;
        std::vector<double>  c(half), sn(half);
        float                pf = (float) p;

        /* the angle is defined in f32: pos (* scale) * inv_freq */
        if (ds.pos_scale[s] != 1.0f) {
            pf *= ds.pos_scale[s];
        }
        for (uint32_t i = 0; i < half; i++) {
            float  a = pf * ds.inv_freq[(size_t) s * half + i];

            c[i] = cos((double) a);
            sn[i] = sin((double) a);
        }
        blk = ds.table[(size_t) s * ds.st.max_blocks + p / bs];
        slot = p % bs;
        for (uint32_t hh = 0; hh < nh + 2 * nkv; hh++) {
            for (uint32_t i = 0; i < half; i++) {
                size_t  o1 = (size_t) hh * hd + i, o2 = o1 + half;
                double  x1 = from16(act, qkv[(size_t) t * d.qkv_dim + o1]);
                double  x2 = from16(act, qkv[(size_t) t * d.qkv_dim + o2]);
                double  y1, y2, m1, m2;

                if (with_bias) {
                    x1 += bias[o1];
                    x2 += bias[o2];
                }
                if (hh < nh + nkv) {
                    y1 = x1 * c[i] - x2 * sn[i];
                    y2 = x2 * c[i] + x1 * sn[i];
                    m1 = fabs(x1 * c[i]) + fabs(x2 * sn[i]) + fabs(x1);
                    m2 = fabs(x2 * c[i]) + fabs(x1 * sn[i]) + fabs(x2);
                } else {
                    y1 = x1;
                    y2 = x2;
                    m1 = fabs(x1);
                    m2 = fabs(x2);
                }
                if (hh < nh) {
                    size_t  qo = (size_t) t * d.q_dim + o1;

                    eq.add(from16(act, q[qo]), y1, tol(act, y1, m1));
                    eq.add(from16(act, q[qo + half]), y2, tol(act, y2, m2));
                } else {
                    size_t  co = blk * kv.block_stride
                                 + layer * kv.layer_stride
                                 + (size_t) (hh - nh) * bs * hd
                                 + (size_t) slot * hd + i;

                    ekv.add(from16(act, cache[co]), y1, tol(act, y1, m1));
                    ekv.add(from16(act, cache[co + half]), y2,
                            tol(act, y2, m2));
                    /* checked: back to the sentinel for the scan below */
                    cache[co] = sentinel(co);
                    cache[co + half] = sentinel(co + half);
                }
            }
        }
    }
#pragma omp parallel for schedule(static) reduction(+ : stray)
    for (size_t i = 0; i < cache_len; i++) {
        stray += cache[i] != sentinel(i);
    }

    snprintf(what, sizeof(what), "qkv_rope %s hd %3u heads %2u/%2u bs %2u "
             "layer %u%s %s (%u tokens): q", act_name[act], hd, nh, nkv, bs,
             layer, with_bias ? " bias" : "", step_name, T);
    report(what, eq, rel_bound(act));
    snprintf(what, sizeof(what), "qkv_rope %s hd %3u heads %2u/%2u bs %2u "
             "layer %u%s %s (%u tokens): k,v in cache", act_name[act], hd,
             nh, nkv, bs, layer, with_bias ? " bias" : "", step_name, T);
    snprintf(extra, sizeof(extra), ", other cache elements changed %zu",
             stray);
    report(what, ekv, rel_bound(act), stray == 0, extra);

    free_step(&ds);
    CK(cudaFree(dqkv));
    CK(cudaFree(dq));
    CK(cudaFree(dcache));
    if (dbias != NULL) {
        CK(cudaFree(dbias));
    }
}


/* ----------------------------------------------------------- timing */

static __global__ void
fill_kernel(uint16_t *p16, float *p32, size_t n, uint32_t seed, int act)
{
    size_t  i = blockIdx.x * (size_t) blockDim.x + threadIdx.x;

    for (; i < n; i += (size_t) gridDim.x * blockDim.x) {
        uint32_t  h = (uint32_t) i * 0x9e3779b1u ^ seed;
        float     v;

        h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u;
        h ^= h >> 16;
        v = (float) (h >> 8) * (4.0f / 16777216.0f) - 2.0f;
        if (p32 != NULL) {
            p32[i] = v;
        } else if (act == CUDA_ACT_F16) {
            p16[i] = __half_as_ushort(__float2half_rn(v));
        } else {
            p16[i] = __bfloat16_as_ushort(__float2bfloat16_rn(v));
        }
    }
}


static void
fill16(void *p, size_t n, uint32_t seed, int act)
{
    fill_kernel<<<1024, 256>>>((uint16_t *) p, NULL, n, seed, act);
    CK(cudaGetLastError());
}


static void
fill32(float *p, size_t n, uint32_t seed)
{
    fill_kernel<<<1024, 256>>>(NULL, p, n, seed, 0);
    CK(cudaGetLastError());
}


/* Microseconds per launch: a graph of 20 launches, median of 9 replays
 * after 2 warm-ups. */
template <typename F>
static double
time_us(F launch)
{
    cudaStream_t        st;
    cudaGraph_t         g;
    cudaGraphExec_t     ge;
    cudaEvent_t         e0, e1;
    std::vector<float>  t;

    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < 20; i++) {
        LAUNCH(launch(st));
    }
    CK(cudaStreamEndCapture(st, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int r = 0; r < 11; r++) {
        float  ms;

        CK(cudaEventRecord(e0, st));
        CK(cudaGraphLaunch(ge, st));
        CK(cudaEventRecord(e1, st));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&ms, e0, e1));
        if (r >= 2) {
            t.push_back(ms * 1e3f / 20);
        }
    }
    CK(cudaGraphExecDestroy(ge));
    CK(cudaGraphDestroy(g));
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    CK(cudaStreamDestroy(st));
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}


static void
print_time(const char *what, double us, double bytes)
{
    double  floor_us = bytes / 4276e9 * 1e6;

    printf("time %-44s %9.2f us %6.0f GB/s, floor %8.2f us (%3.0f%% of "
           "4276 GB/s)\n", what, us, bytes / (us * 1e-6) / 1e9, floor_us,
           100 * floor_us / us);
}


static void
time_rmsnorm(int act, uint32_t rows, uint32_t n)
{
    size_t   len = (size_t) rows * n;
    float   *dx, *dw;
    void    *dout;
    char     what[64];

    CK(cudaMalloc(&dx, len * 4));
    CK(cudaMalloc(&dw, n * 4));
    CK(cudaMalloc(&dout, len * 2));
    fill32(dx, len, 1);
    fill32(dw, n, 2);
    CK(cudaDeviceSynchronize());
    double  us = time_us([&](cudaStream_t s) {
        return cuda_rmsnorm(act, dx, dw, dout, rows, n, 1e-5f, s);
    });
    snprintf(what, sizeof(what), "rmsnorm  %s rows %5u n %5u",
             act_name[act], rows, n);
    print_time(what, us, len * 6.0 + n * 4.0);
    CK(cudaFree(dx));
    CK(cudaFree(dw));
    CK(cudaFree(dout));
}


static void
time_silu(int act, uint32_t rows, uint32_t inter)
{
    size_t   len = (size_t) rows * inter;
    void    *dgu, *dout;
    char     what[64];

    CK(cudaMalloc(&dgu, 2 * len * 2));
    CK(cudaMalloc(&dout, len * 2));
    fill16(dgu, 2 * len, 3, act);
    CK(cudaDeviceSynchronize());
    double  us = time_us([&](cudaStream_t s) {
        return cuda_silu_mul(act, dgu, dout, rows, inter, s);
    });
    snprintf(what, sizeof(what), "silu_mul %s rows %5u inter %5u",
             act_name[act], rows, inter);
    print_time(what, us, len * 6.0);
    CK(cudaFree(dgu));
    CK(cudaFree(dout));
}


/* n_seqs sequences of `each` new tokens at positions 1000..; the cache
 * has every touched block. */
static void
time_rope(int act, uint32_t n_seqs, uint32_t each)
{
    const uint32_t         hd = 128, nh = 32, nkv = 8, bs = 16;
    std::vector<seq_desc>  seqs;
    struct cuda_dims       d;
    struct cuda_kv         kv;
    struct dev_step        ds;
    uint32_t               n_blocks;
    void                  *dqkv, *dq;
    float                 *dbias;
    char                   what[64];

    for (uint32_t s = 0; s < n_seqs; s++) {
        seq_desc  q = { 1000 + 37 * s, each, 10000.0, 1.0f };

        seqs.push_back(q);
    }
    n_blocks = n_seqs * ((each + bs - 1) / bs + 1);
    make_dims(&d, hd, nh, nkv);
    make_step(&ds, seqs, hd, bs, n_blocks);
    kv.block_size = bs;
    kv.n_blocks = n_blocks;
    kv.layer_stride = (uint64_t) 2 * nkv * bs * hd;
    kv.block_stride = kv.layer_stride;
    CK(cudaMalloc(&kv.data, n_blocks * kv.block_stride * 2));
    CK(cudaMalloc(&dqkv, (size_t) ds.st.n_tokens * d.qkv_dim * 2));
    CK(cudaMalloc(&dq, (size_t) ds.st.n_tokens * d.q_dim * 2));
    CK(cudaMalloc(&dbias, d.qkv_dim * 4));
    fill16(dqkv, (size_t) ds.st.n_tokens * d.qkv_dim, 4, act);
    fill32(dbias, d.qkv_dim, 5);
    CK(cudaDeviceSynchronize());
    double  us = time_us([&](cudaStream_t s) {
        return cuda_qkv_rope(act, dqkv, dbias, dq, &kv, 0, &ds.st, &d, s);
    });
    snprintf(what, sizeof(what), "qkv_rope %s tokens %5u hd 128 32/8",
             act_name[act], ds.st.n_tokens);
    print_time(what, us, (double) ds.st.n_tokens * d.qkv_dim * 4.0);
    free_step(&ds);
    CK(cudaFree(kv.data));
    CK(cudaFree(dqkv));
    CK(cudaFree(dq));
    CK(cudaFree(dbias));
}


static void
time_embed(int act, uint32_t n_tok, uint32_t hidden)
{
    const uint32_t         vocab = 32000;
    std::vector<int32_t>   tok(n_tok);
    struct cuda_step       st;
    void                  *dtable;
    int32_t               *dtok;
    float                 *dx;
    char                   what[64];

    for (uint32_t t = 0; t < n_tok; t++) {
        tok[t] = (int32_t) (rng() % vocab);
    }
    CK(cudaMalloc(&dtable, (size_t) vocab * hidden * 2));
    CK(cudaMalloc(&dx, (size_t) n_tok * hidden * 4));
    fill16(dtable, (size_t) vocab * hidden, 6, act);
    dtok = (int32_t *) upload(tok.data(), n_tok * 4);
    CK(cudaDeviceSynchronize());
    memset(&st, 0, sizeof(st));
    st.n_tokens = n_tok;
    st.tokens = dtok;
    double  us = time_us([&](cudaStream_t s) {
        return cuda_embed(act, dtable, &st, dx, hidden, s);
    });
    snprintf(what, sizeof(what), "embed    %s tokens %5u hidden %5u",
             act_name[act], n_tok, hidden);
    print_time(what, us, (double) n_tok * hidden * 6.0);
    CK(cudaFree(dtable));
    CK(cudaFree(dx));
    CK(cudaFree(dtok));
}


/* ------------------------------------------------------------- main */

int
main(int argc, char **argv)
{
    static const uint32_t  rms[][2] = {         /* rows, n */
        { 1, 64 }, { 7, 64 }, { 4096, 64 }, { 1, 100 }, { 7, 100 },
        { 4096, 100 }, { 7, 288 }, { 4096, 288 }, { 1, 2048 }, { 7, 2048 },
        { 1, 4096 }, { 7, 4096 }, { 4096, 4096 }, { 7, 5120 },
        { 300, 5120 }, { 1, 8192 }, { 7, 8192 }, { 300, 8192 },
        { 7, 16384 }, { 3, 12289 }, { 2, 40000 }
    };
    static const uint32_t  silu[][2] = {        /* rows, inter */
        { 1, 11008 }, { 5, 11008 }, { 512, 11008 }, { 1, 8960 },
        { 5, 8960 }, { 512, 8960 }, { 1, 100 }, { 5, 100 }, { 512, 100 },
        { 5, 77 }, { 3, 14336 }, { 70000, 16 }
    };
    static const uint32_t  gather[][3] = {      /* rows, width, bytes */
        { 1, 4096, 2 }, { 5, 4096, 2 }, { 100, 4096, 2 }, { 5, 4095, 2 },
        { 7, 3, 2 }, { 1, 32000, 4 }, { 9, 32000, 4 }, { 9, 1001, 4 },
        { 100, 4096, 4 }, { 70000, 8, 2 }
    };
    static const uint32_t  rope[][6] = {  /* hd, heads, kv, bs, bias, layer */
        { 128, 32, 8, 16, 0, 1 }, { 128, 32, 32, 64, 1, 0 },
        { 64, 32, 8, 16, 1, 1 }, { 64, 16, 16, 64, 0, 1 },
        { 256, 8, 2, 16, 1, 1 }, { 80, 10, 2, 32, 1, 0 },
        { 100, 4, 2, 16, 1, 1 }, { 72, 6, 3, 16, 0, 1 },
        { 30, 4, 1, 16, 1, 1 }
    };
    /* a prefill of 40, a decode past the first blocks with scaled
     * positions, a chunk of 5 after a cached prefix; then a decode batch
     * with a block boundary and a far position */
    const std::vector<seq_desc>  mixed = {
        { 0, 40, 10000.0, 1.0f }, { 150, 1, 10000.0, 0.25f },
        { 77, 5, 1000000.0, 1.0f }
    };
    const std::vector<seq_desc>  decode = {
        { 17, 1, 10000.0, 1.0f }, { 200, 1, 10000.0, 0.25f },
        { 64, 1, 500000.0, 1.0f }, { 70000, 1, 500000.0, 1.0f }
    };
    cudaDeviceProp  prop;
    int             do_time = argc < 2 || strcmp(argv[1], "-c") != 0;

    CK(cudaGetDeviceProperties(&prop, 0));
    printf("device %s, %d SMs, L2 %d MB\n", prop.name,
           prop.multiProcessorCount, prop.l2CacheSize >> 20);

    for (int act = 0; act < 2; act++) {
        check_embed(act, 32000, 4096, 300);
        check_embed(act, 1000, 77, 33);
        for (size_t i = 0; i < sizeof(rms) / sizeof(rms[0]); i++) {
            check_rmsnorm(act, rms[i][0], rms[i][1], i % 2 ? 1e-6f : 1e-5f,
                          0);
        }
        check_rmsnorm(act, 7, 4096, 1e-5f, 1);
        check_rmsnorm(act, 5, 300, 1e-5f, 1);
        for (size_t i = 0; i < sizeof(silu) / sizeof(silu[0]); i++) {
            check_silu(act, silu[i][0], silu[i][1]);
        }
        for (size_t i = 0; i < sizeof(rope) / sizeof(rope[0]); i++) {
            const uint32_t  *c = rope[i];

            check_rope(act, c[0], c[1], c[2], c[3], c[4], c[5], mixed,
                       "mixed ");
            check_rope(act, c[0], c[1], c[2], c[3], c[4], c[5], decode,
                       "decode");
        }
    }
    for (size_t i = 0; i < sizeof(gather) / sizeof(gather[0]); i++) {
        check_gather(gather[i][0], gather[i][1], gather[i][2]);
    }
    printf("checks: %d failed\n", failures);
    if (!do_time) {
        return failures ? 1 : 0;
    }

    time_rmsnorm(CUDA_ACT_F16, 16384, 4096);
    time_rmsnorm(CUDA_ACT_BF16, 8192, 8192);
    time_rmsnorm(CUDA_ACT_F16, 4096, 5120);
    time_rmsnorm(CUDA_ACT_F16, 1, 4096);
    time_rmsnorm(CUDA_ACT_F16, 16, 8192);
    time_silu(CUDA_ACT_F16, 4096, 14336);
    time_silu(CUDA_ACT_BF16, 8192, 11008);
    time_silu(CUDA_ACT_F16, 1, 11008);
    time_silu(CUDA_ACT_F16, 16, 14336);
    time_rope(CUDA_ACT_F16, 4, 2048);
    time_rope(CUDA_ACT_F16, 16, 1);
    time_embed(CUDA_ACT_F16, 4096, 4096);
    time_embed(CUDA_ACT_F16, 16, 4096);
    printf("checks: %d failed\n", failures);
    return failures ? 1 : 0;
}
