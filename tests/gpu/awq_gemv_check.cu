/*
 * awq_gemv_check.cu -- checks awq_gemv against a float64 CPU reference
 * built on lmd_awq_dequant_rows, then times it against the copy
 * bandwidth measured in the same run.  Built and run by tests/gpu/run.sh
 * on a GPU machine.
 *
 * Checks: llama-2-7b's linear shapes (in x out) with group 128, one with
 * group 64, m = 1, 2, 4, 8, 16, every ksteps variant; fresh random
 * nibbles, zeros, scales and x per case; y poisoned with NaN first; the
 * relative L2 error under 2e-3 and a second run bit-identical.
 * Timing: CUDA events around each of 200 launches after a warm-up,
 * median, weights rotated among sets larger than L2 together.
 */

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <algorithm>

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

static const int  ms[] = { 1, 2, 4, 8, 16 };
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


static float
urand(void)                             /* [0, 1) */
{
    return (float) (rng() >> 40) / (float) (1ull << 24);
}


struct dev_mat {
    int32_t   *qw, *qz;
    uint16_t  *sc;
};


/* Random weights on the GPU for the timing sets (no reference needed). */
__global__ void
fill_kernel(uint32_t *p, size_t n, uint32_t seed, int scales)
{
    size_t  i = blockIdx.x * (size_t) blockDim.x + threadIdx.x;

    for (; i < n; i += (size_t) gridDim.x * blockDim.x) {
        uint32_t  h = (uint32_t) i * 0x9e3779b1u ^ seed;

        h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u;
        h ^= h >> 16;
        if (scales) {
            /* two f16 in [2^-9, 2^-6) with random signs */
            uint32_t  lo = 0x1800u | (h & 0x8000u) | (h >> 1 & 0x0fffu);
            uint32_t  hi = 0x1800u | (h >> 16 & 0x8000u)
                           | (h >> 17 & 0x0fffu);
            h = lo | hi << 16;
        }
        p[i] = h;
    }
}


static int
run_gemv(struct awq_gemv_args *a, cudaStream_t st = 0)
{
    if (awq_gemv(a, st) != 0) {
        fprintf(stderr, "awq_gemv refused m=%d in=%d out=%d g=%d k=%d: "
                "%s\n", a->m, a->in, a->out, a->group, a->ksteps,
                cudaGetErrorString(cudaGetLastError()));
        exit(2);
    }
    CK(cudaGetLastError());
    return 0;
}


static void
check_shape(int in, int out, int group, void *work)
{
    size_t    nq = (size_t) in * out, ng = (size_t) (in / group) * out;
    std::vector<uint8_t>   q(nq), z(ng);
    std::vector<float>     s(ng), w((size_t) out * in);
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
        lmd_awq_dequant_rows(&mat, n, n + 64 < out ? n + 64 : out,
                             w.data() + (size_t) n * in);
    }
    CK(cudaMalloc(&d.qw, nq / 2));
    CK(cudaMalloc(&d.qz, ng / 2));
    CK(cudaMalloc(&d.sc, ng * 2));
    CK(cudaMemcpy(d.qw, qw.data(), nq / 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d.qz, qz.data(), ng / 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d.sc, sc.data(), ng * 2, cudaMemcpyHostToDevice));

    for (int mi = 0; mi < 5; mi++) {
        int                    m = ms[mi];
        std::vector<uint16_t>  x((size_t) m * in), y((size_t) m * out),
                               y2((size_t) m * out);
        std::vector<float>     xf((size_t) m * in);
        std::vector<double>    ref((size_t) m * out);
        uint16_t              *dx, *dy;

        for (size_t i = 0; i < x.size(); i++) {
            x[i] = lmd_f32_to_f16(2 * urand() - 1);
            xf[i] = lmd_f16_to_f32(x[i]);
        }
#pragma omp parallel for schedule(static)
        for (int n = 0; n < out; n++) {
            for (int r = 0; r < m; r++) {
                const float  *wr = w.data() + (size_t) n * in;
                const float  *xr = xf.data() + (size_t) r * in;
                double        acc = 0;

                for (int k = 0; k < in; k++) {
                    acc += (double) xr[k] * wr[k];
                }
                ref[(size_t) r * out + n] = acc;
            }
        }
        CK(cudaMalloc(&dx, x.size() * 2));
        CK(cudaMalloc(&dy, y.size() * 2));
        CK(cudaMemcpy(dx, x.data(), x.size() * 2, cudaMemcpyHostToDevice));

        for (int ks = 1; ks <= 4; ks *= 2) {
            struct awq_gemv_args  a;
            double                num = 0, den = 0;
            int                   bad = 0, same;

            if (group % (16 * ks) != 0) {
                continue;
            }
            a = { dx, d.qw, d.qz, d.sc, dy, work, m, in, out, group, ks };
            CK(cudaMemset(dy, 0xff, y.size() * 2));     /* f16 NaN */
            run_gemv(&a);
            CK(cudaDeviceSynchronize());
            CK(cudaMemcpy(y.data(), dy, y.size() * 2,
                          cudaMemcpyDeviceToHost));
            CK(cudaMemset(dy, 0xff, y.size() * 2));
            run_gemv(&a);
            CK(cudaDeviceSynchronize());
            CK(cudaMemcpy(y2.data(), dy, y.size() * 2,
                          cudaMemcpyDeviceToHost));
            for (size_t i = 0; i < y.size(); i++) {
                double  v = lmd_f16_to_f32(y[i]);

                if (!std::isfinite(v)) {
                    bad++;
                    continue;
                }
                num += (v - ref[i]) * (v - ref[i]);
                den += ref[i] * ref[i];
            }
            same = memcmp(y.data(), y2.data(), y.size() * 2) == 0;
            double  rel = den > 0 ? sqrt(num / den) : INFINITY;
            int     ok = bad == 0 && rel < 2e-3 && same;

            printf("check in=%5d out=%5d g=%3d m=%2d ksteps=%d: rel %.3e"
                   " unwritten/NaN %d repeat %s %s\n", in, out, group, m,
                   ks, rel, bad, same ? "identical" : "DIFFERS",
                   ok ? "ok" : "FAIL");
            failures += !ok;
        }
        CK(cudaFree(dx));
        CK(cudaFree(dy));
    }
    CK(cudaFree(d.qw));
    CK(cudaFree(d.qz));
    CK(cudaFree(d.sc));
}


static float
median(std::vector<float> &v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}


static double
copy_bandwidth(void)
{
    size_t              n = (size_t) 2 << 30;
    void               *a, *b;
    cudaEvent_t         e0, e1;
    std::vector<float>  t;

    CK(cudaMalloc(&a, n));
    CK(cudaMalloc(&b, n));
    CK(cudaMemset(a, 0x5a, n));
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int i = 0; i < 23; i++) {
        float  ms_;

        CK(cudaEventRecord(e0));
        CK(cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice));
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&ms_, e0, e1));
        if (i >= 3) {
            t.push_back(ms_);
        }
    }
    CK(cudaFree(a));
    CK(cudaFree(b));
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    return 2.0 * n / (median(t) * 1e-3) / 1e9;
}


struct row {
    int     in, out, m, ks;
    double  us, gbs, us1;
};


/* Median over 11 replays of a graph of 100 launches (weights rotating),
 * per launch: no host launch gaps, as decode steps run. */
static double
graph_us(struct awq_gemv_args a, std::vector<dev_mat> &sets,
         cudaStream_t st)
{
    cudaGraph_t         g;
    cudaGraphExec_t     ge;
    cudaEvent_t         e0, e1;
    std::vector<float>  t;

    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < 100; i++) {
        struct dev_mat  *d = &sets[i % sets.size()];

        a.qweight = d->qw;
        a.qzeros = d->qz;
        a.scales = d->sc;
        run_gemv(&a, st);
    }
    CK(cudaStreamEndCapture(st, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int r = 0; r < 13; r++) {
        float  ms_;

        CK(cudaEventRecord(e0, st));
        CK(cudaGraphLaunch(ge, st));
        CK(cudaEventRecord(e1, st));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&ms_, e0, e1));
        if (r >= 2) {
            t.push_back(ms_ * 10);      /* us per launch */
        }
    }
    CK(cudaGraphExecDestroy(ge));
    CK(cudaGraphDestroy(g));
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}


static void
time_shape(int in, int out, int group, void *work, double copy_gbs,
           std::vector<struct row> &rows)
{
    size_t                 nq = (size_t) in * out, ng =
                               (size_t) (in / group) * out;
    size_t                 wbytes = nq / 2 + ng / 2 + ng * 2;
    int                    nsets = (int) ((512u << 20) / wbytes) + 1;
    std::vector<dev_mat>   sets(nsets);
    uint16_t              *dx, *dy;
    cudaEvent_t            e0, e1;
    cudaStream_t           st;

    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    for (int i = 0; i < nsets; i++) {
        CK(cudaMalloc(&sets[i].qw, nq / 2));
        CK(cudaMalloc(&sets[i].qz, ng / 2));
        CK(cudaMalloc(&sets[i].sc, ng * 2));
        fill_kernel<<<1024, 256>>>((uint32_t *) sets[i].qw, nq / 8,
                                   3 * i + 1, 0);
        CK(cudaGetLastError());
        fill_kernel<<<1024, 256>>>((uint32_t *) sets[i].qz, ng / 8,
                                   3 * i + 2, 0);
        CK(cudaGetLastError());
        fill_kernel<<<1024, 256>>>((uint32_t *) sets[i].sc, ng / 2,
                                   3 * i + 3, 1);
        CK(cudaGetLastError());
    }
    CK(cudaMalloc(&dx, (size_t) 16 * in * 2));
    CK(cudaMalloc(&dy, (size_t) 16 * out * 2));
    fill_kernel<<<256, 256>>>((uint32_t *) dx, (size_t) 8 * in, 77, 1);
    CK(cudaGetLastError());
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    CK(cudaDeviceSynchronize());

    for (int mi = 0; mi < 5; mi++) {
        for (int ks = 1; ks <= 4; ks *= 2) {
            int                 m = ms[mi];
            std::vector<float>  t;

            for (int it = 0; it < 220; it++) {
                struct dev_mat        *d = &sets[it % nsets];
                struct awq_gemv_args   a = { dx, d->qw, d->qz, d->sc, dy,
                                             work, m, in, out, group, ks };
                float                  ms_;

                CK(cudaEventRecord(e0));
                run_gemv(&a);
                CK(cudaEventRecord(e1));
                CK(cudaEventSynchronize(e1));
                CK(cudaEventElapsedTime(&ms_, e0, e1));
                if (it >= 20) {
                    t.push_back(ms_);
                }
            }
            double  us1 = median(t) * 1e3;
            struct awq_gemv_args   a = { dx, NULL, NULL, NULL, dy,
                                         work, m, in, out, group, ks };
            double  us = graph_us(a, sets, st);
            double  bytes = (double) wbytes + 2.0 * m * (in + out);
            struct row  r = { in, out, m, ks, us, bytes / (us * 1e3),
                              us1 };

            rows.push_back(r);
            printf("time in=%5d out=%5d m=%2d ksteps=%d: graph %8.2f us "
                   "%7.0f GB/s  %.3f of copy  %.3f of 4276  floor "
                   "%.2f us; one launch between events %.2f us\n", in,
                   out, m, ks, us, r.gbs, r.gbs / copy_gbs, r.gbs / 4276,
                   bytes / copy_gbs / 1e3, us1);
        }
    }
    for (int i = 0; i < nsets; i++) {
        CK(cudaFree(sets[i].qw));
        CK(cudaFree(sets[i].qz));
        CK(cudaFree(sets[i].sc));
    }
    CK(cudaFree(dx));
    CK(cudaFree(dy));
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    CK(cudaStreamDestroy(st));
}


int
main(int argc, char **argv)
{
    static const int  shapes[4][2] = {
        { 4096, 4096 }, { 4096, 11008 }, { 11008, 4096 }, { 4096, 12288 }
    };
    std::vector<struct row>  rows;
    size_t                   wb = awq_gemv_work_bytes(16, 11008, 12288);
    void                    *work;
    cudaDeviceProp           prop;
    double                   copy_gbs;
    int                      do_time = argc < 2 || strcmp(argv[1], "-c");

    CK(cudaGetDeviceProperties(&prop, 0));
    printf("device %s, %d SMs, L2 %d MB\n", prop.name,
           prop.multiProcessorCount, prop.l2CacheSize >> 20);
    CK(cudaMalloc(&work, wb));
    CK(cudaMemset(work, 0, wb));

    for (int i = 0; i < 4; i++) {
        check_shape(shapes[i][0], shapes[i][1], 128, work);
    }
    check_shape(4096, 11008, 64, work);
    printf("checks: %d failed\n", failures);
    if (!do_time) {
        return failures ? 1 : 0;
    }

    copy_gbs = copy_bandwidth();
    printf("copy bandwidth (read + write): %.0f GB/s\n", copy_gbs);
    for (int i = 0; i < 4; i++) {
        time_shape(shapes[i][0], shapes[i][1], 128, work, copy_gbs, rows);
    }

    printf("\n(us: per launch in a graph of 100; us1: one launch "
           "between two events)\n");
    printf("  in x out     m  ks      us     GB/s  /copy  /4276     us1\n");
    for (size_t i = 0; i < rows.size(); i++) {
        printf("%5d x %5d %3d %3d %7.2f %8.0f %6.3f %6.3f %7.2f\n",
               rows[i].in, rows[i].out, rows[i].m, rows[i].ks, rows[i].us,
               rows[i].gbs, rows[i].gbs / copy_gbs, rows[i].gbs / 4276,
               rows[i].us1);
    }
    printf("copy %.0f GB/s; checks: %d failed\n", copy_gbs, failures);
    return failures ? 1 : 0;
}
