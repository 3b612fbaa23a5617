// sources: modules/cuda-awq/awq_gemm.cu modules/cuda-awq/awq_gemv.cu
// sources: engine/lmd_awq.c engine/lmd_dtype.c
/*
 * awq_gemm_check.cu -- checks awq_gemm against a float64 CPU reference
 * built on lmd_awq_dequant_rows, then times it against the floors
 * (FLOPs / 784 TFLOP/s, bytes / 4276 GB/s) and cuBLAS's dense f16
 * product of the same shape.  Built and run by tests/gpu/run.sh on a
 * GPU machine; -c checks only.
 *
 * The AutoAWQ matrix goes through awq_gemv_pack first, as the engine
 * does at load time (the GEMM reads the GEMV's layout).  Checks: shapes
 * 4096 x 4096, 4096 x 11008, 11008 x 4096 (group 128), 4096 x 4096
 * (group 64), 512 x 384 (group 64), 448 x 384 (group 32: two groups a
 * K tile), 256 x 384 (group 16: four) with m from 17 to 4096 (every row
 * compared,
 * except the 11008 shapes at m = 4096: 150 rows, first and last tiles
 * included; NaN looked for everywhere).  Each in both modes (f16 store
 * into NaN-poisoned y; f32 add into random y) and several K splits
 * (automatic, automatic without work, 1, 3, 8 where allowed), with
 * `work` poisoned with NaN too.  Pass: relative L2 error
 * ||y - ref|| / ||ref|| (ref: the product alone) under 2e-3, every
 * element within 1e-3 |ref| + 4e-3 rms(ref), no NaN, and a second run
 * bit-identical.  Bounds: x is exact f16; each weight is rounded once
 * to f16 (relative 2^-11 at most, ~2.8e-4 rms), so a sum of many terms
 * of random sign has relative error ~3e-4; the f16 output adds at most
 * 2^-11 |y|.  Bad arguments must be refused with no launch.
 */

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime.h>

extern "C" {
#include "lmd_awq.h"
#include "lmd_dtype.h"
}
#include "awq_kernels.h"

#define CK(call)                                                         \
    do {                                                                 \
        cudaError_t  e_ = (call);                                        \
        if (e_ != cudaSuccess) {                                         \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__,       \
                    #call, cudaGetErrorString(e_));                      \
            exit(2);                                                     \
        }                                                                \
    } while (0)

#define CB(call)                                                         \
    do {                                                                 \
        cublasStatus_t  s_ = (call);                                     \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                               \
            fprintf(stderr, "%s:%d: %s: cublas status %d\n", __FILE__,   \
                    __LINE__, #call, (int) s_);                          \
            exit(2);                                                     \
        }                                                                \
    } while (0)

#define PEAK_TFLOPS   784.0     /* bf16 cuBLAS measured on H200 */
#define PEAK_GBS      4276.0
#define REL_BOUND     2e-3

static int       failures;
static int       sm_count;
static void     *work;
static size_t    work_bytes;
static uint64_t  rng_state = 0x9e3779b97f4a7c15ull;


static uint64_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}


static float
urand(void)                             /* [0, 1) */
{
    return (float) (rng() >> 40) / (float) (1ull << 24);
}


/* The kernel's tiling rules, to know which forced splits it accepts and
 * which split it picks by itself (printed with the timings). */
static int
tiles_of(int m, int out)
{
    int  bm = m <= 32 ? 32 : m <= 64 ? 64 : 128;

    return (m + bm - 1) / bm * (out / 128);
}


static int
ktiles_of(int in, int group)
{
    (void) group;
    return in / 64;                     /* K tiles of one 64-input chunk */
}


static int
split_ok(int ns, int m, int in, int out, int group)
{
    return ns >= 1 && ns <= 8 && ns <= ktiles_of(in, group)
           && ns * tiles_of(m, out) <= 320;
}


static int
auto_split(int m, int in, int out, int group)
{
    int  slots = std::min(2 * sm_count, 320);
    int  ns = slots / tiles_of(m, out);

    ns = std::min(std::min(ns, 8), ktiles_of(in, group) / 4);
    return ns < 1 ? 1 : ns;
}


/*
 * ref[i][n] = sum over k, in order, of x[rows[i]][k] w[n][k], in
 * float64 (the float products are exact).  Blocked 32 x 32 outputs by
 * 256 k so a thread's operands stay in cache.
 */
static void
reference(const float *xf, const std::vector<int> &rows, const float *w,
          int in, int out, double *ref)
{
    const int  nr = (int) rows.size(), rb = (nr + 31) / 32, cb = out / 32;

#pragma omp parallel for schedule(dynamic, 1)
    for (int t = 0; t < rb * cb; t++) {
        const int            i0 = t / cb * 32, n0 = t % cb * 32;
        std::vector<double>  acc(32 * 32, 0.0);

        for (int k0 = 0; k0 < in; k0 += 256) {
            const int  k1 = std::min(in, k0 + 256);

            for (int i = 0; i < 32; i += 4) {
                const float  *xr[4];

                for (int q = 0; q < 4; q++) {
                    xr[q] = xf + (size_t) rows[std::min(i0 + i + q, nr - 1)]
                                 * in;
                }
                for (int j = 0; j < 32; j += 4) {
                    const float  *wr[4];
                    double        a[4][4];

                    for (int q = 0; q < 4; q++) {
                        wr[q] = w + (size_t) (n0 + j + q) * in;
                        for (int p = 0; p < 4; p++) {
                            a[q][p] = acc[(i + q) * 32 + j + p];
                        }
                    }
                    for (int k = k0; k < k1; k++) {
                        double  xv[4], wv[4];

                        for (int q = 0; q < 4; q++) {
                            xv[q] = xr[q][k];
                            wv[q] = wr[q][k];
                        }
                        for (int q = 0; q < 4; q++) {
                            for (int p = 0; p < 4; p++) {
                                a[q][p] += xv[q] * wv[p];
                            }
                        }
                    }
                    for (int q = 0; q < 4; q++) {
                        for (int p = 0; p < 4; p++) {
                            acc[(i + q) * 32 + j + p] = a[q][p];
                        }
                    }
                }
            }
        }
        for (int i = 0; i < 32 && i0 + i < nr; i++) {
            for (int j = 0; j < 32; j++) {
                ref[(size_t) (i0 + i) * out + n0 + j] = acc[i * 32 + j];
            }
        }
    }
}


static int
gemm(struct awq_args *a, cudaStream_t st = 0)
{
    if (awq_gemm(a, st) != 0) {
        fprintf(stderr, "awq_gemm refused m=%d in=%d out=%d g=%d split=%d"
                " work=%p: %s\n", a->m, a->in, a->out, a->group, a->ksteps,
                a->work, cudaGetErrorString(cudaGetLastError()));
        exit(2);
    }
    CK(cudaGetLastError());
    return 0;
}


/* struct dev_mat, pack, free_mat: awq_check.h */
#include "awq_check.h"


/* One (shape, m): x, reference, then every mode and split. */
static void
check_m(int in, int out, int group, int m, int full, const dev_mat &d,
        const float *w)
{
    static const int  splits[] = { 0, -1, 1, 3, 8 };   /* -1: no work */
    std::vector<uint16_t>  x((size_t) m * in);
    std::vector<float>     xf((size_t) m * in), y0((size_t) m * out),
                           yf((size_t) m * out), yf2((size_t) m * out);
    std::vector<uint16_t>  yh((size_t) m * out), yh2((size_t) m * out);
    std::vector<int>       rows;
    std::vector<double>    ref;
    uint16_t              *dx;
    void                  *dy;
    double                 rms = 0;

    for (size_t i = 0; i < x.size(); i++) {
        x[i] = lmd_f32_to_f16(2 * urand() - 1);
        xf[i] = lmd_f16_to_f32(x[i]);
    }
    for (size_t i = 0; i < y0.size(); i++) {
        y0[i] = 4 * urand() - 2;
    }
    for (int r = 0; r < m; r++) {
        if (full || r < 8 || r >= m - 8 || r % 29 == 0) {
            rows.push_back(r);
        }
    }
    ref.resize(rows.size() * (size_t) out);
    reference(xf.data(), rows, w, in, out, ref.data());
    for (size_t i = 0; i < ref.size(); i++) {
        rms += ref[i] * ref[i];
    }
    rms = sqrt(rms / ref.size());

    CK(cudaMalloc(&dx, x.size() * 2));
    CK(cudaMalloc(&dy, (size_t) m * out * 4));
    CK(cudaMemcpy(dx, x.data(), x.size() * 2, cudaMemcpyHostToDevice));

    for (int mode = 0; mode < 2; mode++) {
        for (int si = 0; si < 5; si++) {
            int              ns = splits[si];
            struct awq_args  a;
            double           num = 0, den = 0, maxerr = 0, maxratio = 0;
            size_t           bad = 0;
            int              same, ok;

            if (ns > 0 && !split_ok(ns, m, in, out, group)) {
                continue;
            }
            memset(&a, 0, sizeof(a));
            a.x = dx;
            a.gv_w = d.gw;
            a.gv_sz = d.gs;
            a.y = dy;
            a.y_add = mode;
            a.work = ns == -1 ? NULL : work;
            a.m = m;
            a.in = in;
            a.out = out;
            a.group = group;
            a.ksteps = ns < 0 ? 0 : ns;

            for (int run = 0; run < 2; run++) {
                CK(cudaMemset(work, 0xff, work_bytes));     /* f32 NaN */
                if (mode) {
                    CK(cudaMemcpy(dy, y0.data(), y0.size() * 4,
                                  cudaMemcpyHostToDevice));
                } else {
                    CK(cudaMemset(dy, 0xff, yh.size() * 2)); /* f16 NaN */
                }
                gemm(&a);
                CK(cudaDeviceSynchronize());
                if (mode) {
                    CK(cudaMemcpy(run ? yf2.data() : yf.data(), dy,
                                  yf.size() * 4, cudaMemcpyDeviceToHost));
                } else {
                    CK(cudaMemcpy(run ? yh2.data() : yh.data(), dy,
                                  yh.size() * 2, cudaMemcpyDeviceToHost));
                }
            }
            same = mode ? memcmp(yf.data(), yf2.data(), yf.size() * 4) == 0
                   : memcmp(yh.data(), yh2.data(), yh.size() * 2) == 0;
            for (size_t i = 0; i < yf.size(); i++) {
                double  v = mode ? yf[i] : lmd_f16_to_f32(yh[i]);

                bad += !std::isfinite(v);
            }
            for (size_t i = 0; i < rows.size(); i++) {
                for (int n = 0; n < out; n++) {
                    size_t  e = (size_t) rows[i] * out + n;
                    double  r = ref[i * out + n];
                    double  v = mode ? (double) yf[e] - y0[e]
                                : (double) lmd_f16_to_f32(yh[e]);
                    double  err = fabs(v - r);

                    if (!std::isfinite(v)) {
                        continue;
                    }
                    num += (v - r) * (v - r);
                    den += r * r;
                    maxerr = std::max(maxerr, err);
                    maxratio = std::max(maxratio,
                                        err / (1e-3 * fabs(r) + 4e-3 * rms));
                }
            }
            double  rel = den > 0 ? sqrt(num / den) : INFINITY;

            ok = bad == 0 && rel < REL_BOUND && maxratio <= 1 && same;
            printf("check in=%5d out=%5d g=%3d m=%4d %s split=%-6s: rel "
                   "%.2e (< %.0e) maxabs %.2e (%.2f of elem bound) rows "
                   "%zu/%d NaN %zu repeat %s %s\n", in, out, group, m,
                   mode ? "f32+=" : "f16  ",
                   ns == 0 ? "auto" : ns < 0 ? "nowork"
                   : ns == 1 ? "1" : ns == 3 ? "3" : "8",
                   rel, REL_BOUND, maxerr, maxratio, rows.size(), m, bad,
                   same ? "identical" : "DIFFERS", ok ? "ok" : "FAIL");
            fflush(stdout);
            failures += !ok;
        }
    }
    CK(cudaFree(dx));
    CK(cudaFree(dy));
}


/* m values up to full_max get every row compared; larger ones sampled. */
static void
check_shape(int in, int out, int group, const std::vector<int> &ms,
            int full_max)
{
    size_t                 nq = (size_t) in * out;
    size_t                 ng = (size_t) (in / group) * out;
    std::vector<uint8_t>   q(nq), z(ng);
    std::vector<float>     s(ng), w(nq);
    std::vector<int32_t>   qw(nq / 8), qz(ng / 8);
    std::vector<uint16_t>  sc(ng);
    struct lmd_awq_mat     mat;
    struct dev_mat         d;

    for (size_t i = 0; i < nq; i++) {
        q[i] = rng() & 15;
    }
    for (size_t i = 0; i < ng; i++) {
        z[i] = rng() & 15;
        s[i] = (0.002f + 0.018f * urand()) * ((rng() & 1) ? 1 : -1);
    }
    lmd_awq_pack(in, out, group, q.data(), z.data(), s.data(), qw.data(),
                 qz.data(), sc.data());
    memset(&mat, 0, sizeof(mat));
    mat.qweight = qw.data();
    mat.qzeros = qz.data();
    mat.scales = sc.data();
    mat.in = in;
    mat.out = out;
    mat.group = group;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < out; n += 64) {
        lmd_awq_dequant_rows(&mat, n, std::min(n + 64, out),
                             w.data() + (size_t) n * in);
    }
    CK(cudaMalloc(&d.qw, nq / 2));
    CK(cudaMalloc(&d.qz, ng / 2));
    CK(cudaMalloc(&d.sc, ng * 2));
    CK(cudaMemcpy(d.qw, qw.data(), nq / 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d.qz, qz.data(), ng / 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d.sc, sc.data(), ng * 2, cudaMemcpyHostToDevice));
    pack(&d, in, out, group);
    for (size_t i = 0; i < ms.size(); i++) {
        check_m(in, out, group, ms[i], ms[i] <= full_max, d, w.data());
    }
    free_mat(&d);
}


/* Arguments the interface does not allow: refused, nothing launched. */
static void
check_refusals(void)
{
    struct awq_args  a, b;
    int32_t         *qw;
    uint16_t        *xs;
    int              bad = 0;

    CK(cudaMalloc(&qw, 1 << 20));
    CK(cudaMalloc(&xs, 1 << 20));
    memset(&a, 0, sizeof(a));
    a.x = xs;
    a.gv_w = (const uint32_t *) qw;
    a.gv_sz = (const uint32_t *) qw;
    a.y = xs;
    a.work = work;
    a.m = 20;
    a.in = 256;
    a.out = 256;
    a.group = 64;

    struct { const char *what; int field, value; } cases[] = {
        { "m 0", 0, 0 }, { "in 96", 1, 96 }, { "out 192", 2, 192 },
        { "group 48", 3, 48 }, { "group 128 of in 192", 4, 0 },
        { "split 9", 5, 9 }, { "split 2 without work", 6, 0 },
        { "gv_w not 16-byte aligned", 7, 0 },
        { "split 8 x 128 tiles > 320", 8, 0 }, { "group 8", 3, 8 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        b = a;
        switch (cases[i].field) {
        case 0: b.m = cases[i].value; break;
        case 1: b.in = cases[i].value; break;
        case 2: b.out = cases[i].value; break;
        case 3: b.group = cases[i].value; break;
        case 4: b.in = 192; b.group = 128; break;
        case 5: b.ksteps = cases[i].value; break;
        case 6: b.ksteps = 2; b.work = NULL; break;
        case 7: b.gv_w = (const uint32_t *) (qw + 1); break;
        case 8: b.m = 512; b.in = 4096; b.out = 4096; b.ksteps = 8; break;
        }
        int  rc = awq_gemm(&b, 0);
        cudaError_t  e = cudaGetLastError();
        int  ok = rc == -1 && e == cudaSuccess;

        printf("refuse %-30s: rc %d, last error %s %s\n", cases[i].what,
               rc, cudaGetErrorString(e), ok ? "ok" : "FAIL");
        bad += !ok;
    }
    failures += bad;
    CK(cudaFree(qw));
    CK(cudaFree(xs));
}


/* Random bits on the GPU for the timing data: f16 in [2^-9, 2^-6) with
 * random signs (f16 = 1) or raw words. */
__global__ void
fill_kernel(uint32_t *p, size_t n, uint32_t seed, int f16)
{
    size_t  i = blockIdx.x * (size_t) blockDim.x + threadIdx.x;

    for (; i < n; i += (size_t) gridDim.x * blockDim.x) {
        uint32_t  h = (uint32_t) i * 0x9e3779b1u ^ seed;

        h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u;
        h ^= h >> 16;
        h ^= (uint32_t) (i >> 32) * 0x27d4eb2du;
        if (f16) {
            uint32_t  lo = 0x1800u | (h & 0x8000u) | (h >> 1 & 0x0fffu);
            uint32_t  hi = 0x1800u | (h >> 16 & 0x8000u)
                           | (h >> 17 & 0x0fffu);
            h = lo | hi << 16;
        }
        p[i] = h;
    }
}


static void
fill(void *p, size_t bytes, uint32_t seed, int f16)
{
    fill_kernel<<<2048, 256>>>((uint32_t *) p, bytes / 4, seed, f16);
    CK(cudaGetLastError());
}


static float
median(std::vector<float> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}


/* us per awq_gemm: median of 7 replays of a graph of `reps` launches
 * rotating among the weight sets. */
static double
time_awq(struct awq_args a, std::vector<dev_mat> &sets, int reps,
         cudaStream_t st)
{
    cudaGraph_t         g;
    cudaGraphExec_t     ge;
    cudaEvent_t         e0, e1;
    std::vector<float>  t;

    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < reps; i++) {
        const dev_mat  &d = sets[i % sets.size()];

        a.gv_w = d.gw;
        a.gv_sz = d.gs;
        gemm(&a, st);
    }
    CK(cudaStreamEndCapture(st, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int r = 0; r < 8; r++) {
        float  ms;

        CK(cudaEventRecord(e0, st));
        CK(cudaGraphLaunch(ge, st));
        CK(cudaEventRecord(e1, st));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&ms, e0, e1));
        if (r > 0) {
            t.push_back(ms * 1e3f / reps);
        }
    }
    CK(cudaGraphExecDestroy(ge));
    CK(cudaGraphDestroy(g));
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    return median(t);
}


/* us per cublasGemmEx (f16 in and out, f32 sums), y = x W^T with W
 * dense [out][in]: median of 7 timings of `reps` back-to-back calls. */
static double
time_cublas(cublasHandle_t h, const uint16_t *w, const uint16_t *x,
            uint16_t *y, int m, int in, int out, int reps, cudaStream_t st)
{
    const float         one = 1, zero = 0;
    cudaEvent_t         e0, e1;
    std::vector<float>  t;

    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int r = 0; r < 8; r++) {
        float  ms;

        CK(cudaEventRecord(e0, st));
        for (int i = 0; i < reps; i++) {
            CB(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, out, m, in, &one,
                            w, CUDA_R_16F, in, x, CUDA_R_16F, in, &zero, y,
                            CUDA_R_16F, out, CUBLAS_COMPUTE_32F,
                            CUBLAS_GEMM_DEFAULT));
        }
        CK(cudaEventRecord(e1, st));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&ms, e0, e1));
        if (r > 0) {
            t.push_back(ms * 1e3f / reps);
        }
    }
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    return median(t);
}


struct row {
    int     in, out, m, add, split;
    double  us, tflops, floor_us, cublas_us;
};


static void
time_shape(int in, int out, int group, const std::vector<int> &ms,
           cublasHandle_t cb, std::vector<struct row> &rows)
{
    const int              mmax = ms.back();
    size_t                 nq = (size_t) in * out;
    size_t                 ng = (size_t) (in / group) * out;
    size_t                 wbytes = nq / 2 + ng / 2 + ng * 2;
    int                    nsets = (int) ((160u << 20) / wbytes) + 1;
    std::vector<dev_mat>   sets(nsets);
    uint16_t              *dx, *dw;
    void                  *dy;
    cudaStream_t           st;

    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    CB(cublasSetStream(cb, st));
    for (int i = 0; i < nsets; i++) {
        CK(cudaMalloc(&sets[i].qw, nq / 2));
        CK(cudaMalloc(&sets[i].qz, ng / 2));
        CK(cudaMalloc(&sets[i].sc, ng * 2));
        fill(sets[i].qw, nq / 2, 3 * i + 1, 0);
        fill(sets[i].qz, ng / 2, 3 * i + 2, 0);
        fill(sets[i].sc, ng * 2, 3 * i + 3, 1);
        pack(&sets[i], in, out, group);
    }
    CK(cudaMalloc(&dx, (size_t) mmax * in * 2));
    CK(cudaMalloc(&dy, (size_t) mmax * out * 4));
    CK(cudaMalloc(&dw, nq * 2));
    fill(dx, (size_t) mmax * in * 2, 77, 1);
    fill(dy, (size_t) mmax * out * 4, 78, 1);
    fill(dw, nq * 2, 79, 1);
    CK(cudaDeviceSynchronize());

    for (size_t mi = 0; mi < ms.size(); mi++) {
        for (int add = 0; add < 2; add++) {
            int              m = ms[mi];
            struct awq_args  a;
            struct row       r;
            cudaEvent_t      e0, e1;
            float            ms1;

            if (add && m != 4096) {
                continue;
            }
            memset(&a, 0, sizeof(a));
            a.x = dx;
            a.y = dy;
            a.y_add = add;
            a.work = work;
            a.m = m;
            a.in = in;
            a.out = out;
            a.group = group;
            a.gv_w = sets[0].gw;
            a.gv_sz = sets[0].gs;
            /* one launch to size the graph: about 3 ms of work */
            CK(cudaEventCreate(&e0));
            CK(cudaEventCreate(&e1));
            gemm(&a, st);
            CK(cudaEventRecord(e0, st));
            gemm(&a, st);
            CK(cudaEventRecord(e1, st));
            CK(cudaEventSynchronize(e1));
            CK(cudaEventElapsedTime(&ms1, e0, e1));
            CK(cudaEventDestroy(e0));
            CK(cudaEventDestroy(e1));
            int  reps = std::max(3, std::min(100, (int) (3.0 / ms1)));

            r.in = in;
            r.out = out;
            r.m = m;
            r.add = add;
            r.split = auto_split(m, in, out, group);
            r.us = time_awq(a, sets, reps, st);
            r.tflops = 2.0 * m * in * out / (r.us * 1e6);
            double  bytes = (double) wbytes + 2.0 * m * in
                            + (add ? 8.0 : 2.0) * m * out;
            r.floor_us = std::max(2.0 * m * in * out / (PEAK_TFLOPS * 1e6),
                                  bytes / (PEAK_GBS * 1e3));
            r.cublas_us = add ? 0 : time_cublas(cb, dw, dx, (uint16_t *) dy,
                                                m, in, out, reps, st);
            printf("time in=%5d out=%5d m=%4d %s split %d: %9.2f us %6.1f "
                   "TFLOP/s %.3f of 784, floor %8.2f us (%.2f of it); "
                   "cuBLAS f16 dense %9.2f us\n", in, out, m,
                   add ? "f32+=" : "f16  ", r.split, r.us, r.tflops,
                   r.tflops / PEAK_TFLOPS, r.floor_us, r.floor_us / r.us,
                   r.cublas_us);
            fflush(stdout);
            rows.push_back(r);
        }
    }
    for (int i = 0; i < nsets; i++) {
        free_mat(&sets[i]);
    }
    CK(cudaFree(dx));
    CK(cudaFree(dy));
    CK(cudaFree(dw));
    CK(cudaStreamDestroy(st));
}


int
main(int argc, char **argv)
{
    int             do_time = argc < 2 || strcmp(argv[1], "-c") != 0;
    cudaDeviceProp  prop;

    CK(cudaGetDeviceProperties(&prop, 0));
    sm_count = prop.multiProcessorCount;
    printf("device %s, %d SMs, L2 %d MB\n", prop.name, sm_count,
           prop.l2CacheSize >> 20);
    work_bytes = awq_gemm_work_bytes(16384, 22016, 22016);
    CK(cudaMalloc(&work, work_bytes));

    check_refusals();
    check_shape(512, 384, 64, { 17, 33, 100, 128, 512, 1000, 4096 }, 4096);
    check_shape(448, 384, 32, { 17, 33, 64, 100, 128, 1000 }, 4096);
    check_shape(256, 384, 16, { 17, 100, 1000 }, 4096);
    check_shape(4096, 4096, 128, { 17, 33, 100, 128, 512, 1000, 4096 },
                4096);
    check_shape(4096, 4096, 64, { 33, 512 }, 4096);
    check_shape(4096, 11008, 128, { 17, 100, 1000, 4096 }, 1000);
    check_shape(11008, 4096, 128, { 33, 128, 1000, 4096 }, 1000);
    printf("checks: %d failed\n", failures);
    if (!do_time) {
        return failures ? 1 : 0;
    }

    static const int  shapes[4][2] = {
        { 4096, 12288 }, { 4096, 4096 }, { 4096, 22016 }, { 11008, 4096 }
    };
    std::vector<int>         ms = { 32, 64, 128, 512, 1024, 2048, 4096,
                                    8192 };
    std::vector<struct row>  rows;
    cublasHandle_t           cb;

    CB(cublasCreate(&cb));
    for (int i = 0; i < 4; i++) {
        time_shape(shapes[i][0], shapes[i][1], 128, ms, cb, rows);
    }
    CB(cublasDestroy(cb));

    printf("\n(us: per launch in a graph, median; floor: max of FLOPs / "
           "784 TFLOP/s and bytes / 4276 GB/s; cuBLAS: dense f16, f32 "
           "sums)\n");
    printf("  in x out      m  y     split       us  TFLOP/s  /784  "
           "floor/us  cuBLAS us\n");
    for (size_t i = 0; i < rows.size(); i++) {
        printf("%5d x %5d %5d %s %3d %10.2f %7.1f %5.3f %7.2f %10.2f\n",
               rows[i].in, rows[i].out, rows[i].m,
               rows[i].add ? "f32+" : "f16 ", rows[i].split, rows[i].us,
               rows[i].tflops, rows[i].tflops / PEAK_TFLOPS,
               rows[i].floor_us / rows[i].us, rows[i].cublas_us);
    }
    printf("checks: %d failed\n", failures);
    return failures ? 1 : 0;
}
