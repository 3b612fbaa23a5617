// sources: modules/cuda-awq/awq_gemv.cu engine/lmd_awq.c engine/lmd_dtype.c
/*
 * awq_gemv_check.cu -- checks awq_gemv against a float64 CPU reference
 * built on lmd_awq_dequant_rows, then times it against the copy
 * bandwidth measured in the same run.  Built and run by tests/gpu/run.sh
 * on a GPU machine; -c: checks only.
 *
 * The AutoAWQ matrix goes through awq_gemv_pack (the kernel's own
 * layout) as the engine does at load time, so the repack is checked
 * with the kernel.  Shapes: llama-2-7b's linear shapes (in x out) with
 * group 128 and one with group 64 at m = 1, 2, 4, 8, 16, and edge
 * shapes (one 16-column tile and one 64-input chunk, groups 16 and 32
 * that split a chunk between lanes, a K that does not split evenly, K
 * much longer than out) at m = 1, 3, 8, 9, 16; each with the knob's
 * variants (ksteps 0: automatic; 1, 2, 4, 8: warps along K), y_add 0
 * (f16 y, poisoned with NaN first) and 1 (f32 y += x W^T over random y).
 * Fresh random nibbles, zeros, scales, x and y per case.
 *
 * Bounds.  For groups under 64 the kernel rounds each weight (q - z) s
 * once to f16 (x is f16 already); from 64 it sums x (q - z) exactly and
 * scales in f32, which is closer.  It sums in f32 and rounds y once to
 * f16 (y_add 0) or adds it to f32 y.  So every element must satisfy
 * |y - ref| <= tol =
 * 2^-11 mag + (in / 16 + 16) 2^-22 mag + [2^-11 (|ref| + 2^-10 mag) +
 * 2^-25 for f16 y | 2^-23 (|y0| + |ref|) for f32 y], mag = sum |x w|:
 * the weight roundings, one f32 rounding per mma and per partial sum,
 * and the output's rounding.  The relative L2 error must stay under 1e-3
 * (one f16 rounding of each weight gives about 2^-11 / sqrt(3) = 2.8e-4;
 * v1 measured 2.8e-4 to 3.0e-4).  Every run is done twice and must give
 * the same bits, and bad arguments must be refused.
 *
 * Timing: per launch inside a CUDA graph of 100 launches (weights
 * rotated among sets larger than 512 MB together, so L2 does not hold
 * them), median of 11 replays; "us1": one launch between two events.
 */

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

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

/* The knob's variants checked, and those timed. */
static const int  check_ks[] = { 0, 1, 2, 4, 8 };
#define N_CHECK_KS  5
static const int  time_ks[] = { 0, 1, 2, 4, 8 };
#define N_TIME_KS   5

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


/* struct dev_mat, pack, free_mat: awq_check.h */
#include "awq_check.h"


static void
set_args(struct awq_args *a, const void *x, const struct dev_mat *d,
    void *y, int y_add, void *work, int m, int in, int out, int group,
    int ks)
{
    memset(a, 0, sizeof(*a));
    a->x = (const uint16_t *) x;
    a->qweight = d->qw;
    a->qzeros = d->qz;
    a->scales = d->sc;
    a->gv_w = d->gw;
    a->gv_sz = d->gs;
    a->y = y;
    a->y_add = y_add;
    a->work = work;
    a->m = m;
    a->in = in;
    a->out = out;
    a->group = group;
    a->ksteps = ks;
}


static void
run_gemv(struct awq_args *a, cudaStream_t st = 0)
{
    if (awq_gemv(a, st) != 0) {
        fprintf(stderr, "awq_gemv refused m=%d in=%d out=%d g=%d ks=%d "
                "add=%d: %s\n", a->m, a->in, a->out, a->group, a->ksteps,
                a->y_add, cudaGetErrorString(cudaGetLastError()));
        exit(2);
    }
    CK(cudaGetLastError());
}


/* Worst numbers of one (shape, m, y_add) over the knob's variants. */
struct worst {
    double  rel, maxabs, ratio;         /* ratio: max |err| / tol */
    int     bad, differs;
};


/* Runs variant ks twice from the same y (NaN, or y0 for y_add) and
 * compares with the reference; returns the first run's y bytes. */
static std::vector<uint8_t>
check_run(struct awq_args a, const std::vector<double> &ref,
    const std::vector<double> &mag, const std::vector<float> &y0,
    struct worst *wst, const char *what)
{
    size_t                n = ref.size(), es = a.y_add ? 4 : 2;
    std::vector<uint8_t>  y1(n * es), y2(n * es);
    double                num = 0, den = 0, mx = 0, ratio = 0;
    int                   bad = 0, same;

    for (int r = 0; r < 2; r++) {
        if (a.y_add) {
            CK(cudaMemcpy(a.y, y0.data(), n * 4, cudaMemcpyHostToDevice));
        } else {
            CK(cudaMemset(a.y, 0xff, n * 2));           /* f16 NaN */
        }
        run_gemv(&a);
        CK(cudaDeviceSynchronize());
        CK(cudaMemcpy(r ? y2.data() : y1.data(), a.y, n * es,
                      cudaMemcpyDeviceToHost));
    }
    for (size_t i = 0; i < n; i++) {
        double  v, tol;

        if (a.y_add) {
            v = (double) ((const float *) y1.data())[i] - y0[i];
            tol = ldexp(fabs(y0[i]) + fabs(ref[i]), -23);
        } else {
            v = lmd_f16_to_f32(((const uint16_t *) y1.data())[i]);
            tol = ldexp(fabs(ref[i]) + ldexp(mag[i], -10), -11)
                  + ldexp(1.0, -25);
        }
        tol += ldexp(mag[i], -11)
               + (a.in / 16 + 16) * ldexp(mag[i], -22);
        if (!std::isfinite(v)) {
            bad++;
            continue;
        }
        num += (v - ref[i]) * (v - ref[i]);
        den += ref[i] * ref[i];
        mx = std::max(mx, fabs(v - ref[i]));
        ratio = std::max(ratio, fabs(v - ref[i]) / tol);
    }
    same = y1 == y2;
    double  rel = den > 0 ? sqrt(num / den) : INFINITY;
    int     ok = bad == 0 && rel < 1e-3 && ratio <= 1 && same;

    if (!ok) {
        printf("check %s ks=%d: rel %.3e max %.3e err/tol %.3f "
               "unwritten/NaN %d repeat %s FAIL\n", what, a.ksteps, rel,
               mx, ratio, bad, same ? "identical" : "DIFFERS");
        failures++;
    }
    wst->rel = std::max(wst->rel, rel);
    wst->maxabs = std::max(wst->maxabs, mx);
    wst->ratio = std::max(wst->ratio, ratio);
    wst->bad += bad;
    wst->differs += !same;
    return y1;
}


static void
check_shape(int in, int out, int group, const int *ms, int nm, void *work)
{
    size_t                 nq = (size_t) in * out, ng =
                               (size_t) (in / group) * out;
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
    pack(&d, in, out, group);

    for (int mi = 0; mi < nm; mi++) {
        int                    m = ms[mi];
        size_t                 ny = (size_t) m * out;
        std::vector<uint16_t>  x((size_t) m * in);
        std::vector<float>     xf((size_t) m * in), y0(ny);
        std::vector<double>    ref(ny), mag(ny);
        uint16_t              *dx;
        void                  *dy;

        for (size_t i = 0; i < x.size(); i++) {
            x[i] = lmd_f32_to_f16(2 * urand() - 1);
            xf[i] = lmd_f16_to_f32(x[i]);
        }
        for (size_t i = 0; i < ny; i++) {
            y0[i] = 4 * urand() - 2;
        }
#pragma omp parallel for schedule(static)
        for (int n = 0; n < out; n++) {
            for (int r = 0; r < m; r++) {
                const float  *wr = w.data() + (size_t) n * in;
                const float  *xr = xf.data() + (size_t) r * in;
                double        acc = 0, ab = 0;

                for (int k = 0; k < in; k++) {
                    acc += (double) xr[k] * wr[k];
                    ab += fabs((double) xr[k] * wr[k]);
                }
                ref[(size_t) r * out + n] = acc;
                mag[(size_t) r * out + n] = ab;
            }
        }
        CK(cudaMalloc(&dx, x.size() * 2));
        CK(cudaMalloc(&dy, ny * 4));
        CK(cudaMemcpy(dx, x.data(), x.size() * 2, cudaMemcpyHostToDevice));

        for (int add = 0; add < 2; add++) {
            struct worst          wst = { 0, 0, 0, 0, 0 };
            char                  what[96];

            snprintf(what, sizeof(what), "in=%5d out=%5d g=%3d m=%2d "
                     "add=%d", in, out, group, m, add);
            for (int v = 0; v < N_CHECK_KS; v++) {
                struct awq_args  a;

                set_args(&a, dx, &d, dy, add, work, m, in, out, group,
                         check_ks[v]);
                check_run(a, ref, mag, y0, &wst, what);
            }
            int  ok = wst.bad == 0 && wst.rel < 1e-3 && wst.ratio <= 1
                      && wst.differs == 0;

            printf("check %s, ks 0,1,2,4,8 worst: rel %.3e (bound "
                   "1e-3) max %.2e err/tol %.3f (bound 1) NaN %d repeat "
                   "%s  %s\n", what, wst.rel, wst.maxabs, wst.ratio,
                   wst.bad, wst.differs ? "DIFFERS" : "same",
                   ok ? "ok" : "FAIL");
        }
        CK(cudaFree(dx));
        CK(cudaFree(dy));
    }
    free_mat(&d);
}


/* Arguments the launcher must refuse (returning -1, launching nothing). */
static void
check_refusals(void *work)
{
    struct dev_mat   d;
    struct awq_args  good, a;
    void            *buf;
    int              bad = 0;

    CK(cudaMalloc(&buf, 1 << 20));
    d.qw = (int32_t *) buf;
    d.qz = (int32_t *) ((char *) buf + (256 << 10));
    d.sc = (uint16_t *) ((char *) buf + (512 << 10));
    d.gw = (uint32_t *) ((char *) buf + (576 << 10));
    d.gs = (uint32_t *) ((char *) buf + (704 << 10));
    set_args(&good, (char *) buf + (768 << 10), &d,
             (char *) buf + (896 << 10), 0, work, 1, 256, 256, 128, 0);
    if (awq_gemv(&good, 0) != 0) {
        printf("check refusals: a good call was refused FAIL\n");
        failures++;
    }
    CK(cudaDeviceSynchronize());
    CK(cudaGetLastError());

    for (int t = 0; t < 13; t++) {
        a = good;
        switch (t) {
        case 0: a.m = 0; break;
        case 1: a.m = 17; break;
        case 2: a.out = 248; break;             /* not a multiple of 16 */
        case 3: a.in = 96; a.group = 32; break; /* in not a multiple of 64 */
        case 4: a.group = 96; break;            /* does not divide in */
        case 5: a.x = a.x + 1; break;           /* misaligned */
        case 6: a.gv_w = a.gv_w + 1; break;
        case 7: a.ksteps = 3; break;
        case 8: a.ksteps = 16; break;
        case 9: a.y = NULL; break;
        case 10: a.y_add = 2; break;
        case 11: a.gv_sz = NULL; break;
        case 12: a.group = 8; a.in = 256; break;        /* group < 16 */
        }
        if (awq_gemv(&a, 0) != -1) {
            printf("check refusals: case %d accepted FAIL\n", t);
            bad++;
        }
    }
    CK(cudaDeviceSynchronize());
    CK(cudaGetLastError());
    CK(cudaFree(buf));
    printf("check refusals: 13 bad argument sets refused %s\n",
           bad ? "FAIL" : "ok");
    failures += bad;
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


/* Median over 11 replays of a graph of 100 launches (weights rotating),
 * per launch: no host launch gaps, as decode steps run. */
static double
graph_us(struct awq_args a, std::vector<dev_mat> &sets, cudaStream_t st)
{
    cudaGraph_t         g;
    cudaGraphExec_t     ge;
    cudaEvent_t         e0, e1;
    std::vector<float>  t;

    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < 100; i++) {
        struct dev_mat  *d = &sets[i % sets.size()];

        a.gv_w = d->gw;
        a.gv_sz = d->gs;
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
    return median(t);
}


/* One launch between two events, median of 200 after a warm-up. */
static double
single_us(struct awq_args a, std::vector<dev_mat> &sets)
{
    cudaEvent_t         e0, e1;
    std::vector<float>  t;

    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int it = 0; it < 220; it++) {
        struct dev_mat  *d = &sets[it % sets.size()];
        float            ms_;

        a.gv_w = d->gw;
        a.gv_sz = d->gs;
        CK(cudaEventRecord(e0));
        run_gemv(&a);
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&ms_, e0, e1));
        if (it >= 20) {
            t.push_back(ms_ * 1e3f);
        }
    }
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    return median(t);
}


struct row {
    int     in, out, m;
    double  us[N_TIME_KS], us_add, us1, floor_us;
};


static void
time_shape(int in, int out, int group, void *work, double copy_gbs,
    std::vector<struct row> &rows)
{
    static const int       tms[] = { 1, 2, 4, 8, 16 };
    size_t                 nq = (size_t) in * out, ng =
                               (size_t) (in / group) * out;
    size_t                 wbytes = nq / 2 + ng / 2 + ng * 2;
    int                    nsets = (int) ((512u << 20) / wbytes) + 1;
    std::vector<dev_mat>   sets(nsets);
    uint16_t              *dx;
    void                  *dy, *dyf;
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
        pack(&sets[i], in, out, group);
    }
    CK(cudaMalloc(&dx, (size_t) 16 * in * 2));
    CK(cudaMalloc(&dy, (size_t) 16 * out * 2));
    CK(cudaMalloc(&dyf, (size_t) 16 * out * 4));
    fill_kernel<<<256, 256>>>((uint32_t *) dx, (size_t) 8 * in, 77, 1);
    CK(cudaGetLastError());
    CK(cudaMemset(dyf, 0, (size_t) 16 * out * 4));
    CK(cudaDeviceSynchronize());

    for (int mi = 0; mi < 5; mi++) {
        int              m = tms[mi];
        double           bytes = (double) wbytes + 2.0 * m * (in + out);
        struct row       r;
        struct awq_args  a;

        r.in = in;
        r.out = out;
        r.m = m;
        r.floor_us = bytes / copy_gbs / 1e3;
        for (int v = 0; v < N_TIME_KS; v++) {
            set_args(&a, dx, &sets[0], dy, 0, work, m, in, out, group,
                     time_ks[v]);
            r.us[v] = graph_us(a, sets, st);
            printf("time in=%5d out=%5d m=%2d ksteps=%2d: %7.2f us, "
                   "%.3f of copy (floor %.2f us)\n", in, out, m,
                   time_ks[v], r.us[v], r.floor_us / r.us[v], r.floor_us);
        }
        set_args(&a, dx, &sets[0], dyf, 1, work, m, in, out, group, 0);
        r.us_add = graph_us(a, sets, st);
        set_args(&a, dx, &sets[0], dy, 0, work, m, in, out, group, 0);
        r.us1 = single_us(a, sets);
        printf("time in=%5d out=%5d m=%2d ksteps= 0 y_add=1: %7.2f us, "
               "%.3f of copy; y_add=0 one launch between events %.2f "
               "us\n", in, out, m, r.us_add, r.floor_us / r.us_add, r.us1);
        rows.push_back(r);
    }
    for (int i = 0; i < nsets; i++) {
        free_mat(&sets[i]);
    }
    CK(cudaFree(dx));
    CK(cudaFree(dy));
    CK(cudaFree(dyf));
    CK(cudaStreamDestroy(st));
}


int
main(int argc, char **argv)
{
    static const int  shapes[4][2] = {
        { 4096, 4096 }, { 4096, 11008 }, { 11008, 4096 }, { 4096, 12288 }
    };
    /* in, out, group: one tile and one chunk; group 16 (4 groups a
     * chunk); group 32 and 3 tiles; 65 chunks (slices of unequal
     * length); K >> out; 40 tiles with group 64 */
    static const int  edges[6][3] = {
        { 64, 16, 64 }, { 128, 32, 16 }, { 192, 48, 32 },
        { 4160, 256, 32 }, { 11008, 128, 128 }, { 256, 640, 64 }
    };
    static const int  ms_main[] = { 1, 2, 4, 8, 16 };
    static const int  ms_edge[] = { 1, 3, 8, 9, 16 };
    std::vector<struct row>  rows;
    void                    *work = NULL;   /* the GEMV uses none */
    cudaDeviceProp           prop;
    double                   copy_gbs;
    int                      do_time = argc < 2 || strcmp(argv[1], "-c");

    CK(cudaGetDeviceProperties(&prop, 0));
    printf("device %s, %d SMs, L2 %d MB\n", prop.name,
           prop.multiProcessorCount, prop.l2CacheSize >> 20);

    if (argc == 5 && strcmp(argv[1], "-p") == 0) {
        /* -p IN OUT M: five launches of one shape, for a profiler */
        int              in = atoi(argv[2]), out = atoi(argv[3]);
        int              m = atoi(argv[4]);
        struct dev_mat   d;
        struct awq_args  a;
        void            *dx, *dy;

        CK(cudaMalloc(&d.qw, (size_t) in * out / 2));
        CK(cudaMalloc(&d.qz, (size_t) in / 128 * out / 2));
        CK(cudaMalloc(&d.sc, (size_t) in / 128 * out * 2));
        CK(cudaMemset(d.qw, 0x35, (size_t) in * out / 2));
        CK(cudaMemset(d.qz, 0x77, (size_t) in / 128 * out / 2));
        CK(cudaMemset(d.sc, 0x11, (size_t) in / 128 * out * 2));
        pack(&d, in, out, 128);
        CK(cudaMalloc(&dx, (size_t) m * in * 2));
        CK(cudaMalloc(&dy, (size_t) m * out * 2));
        CK(cudaMemset(dx, 0x11, (size_t) m * in * 2));
        set_args(&a, dx, &d, dy, 0, NULL, m, in, out, 128, 0);
        for (int i = 0; i < 5; i++) {
            run_gemv(&a);
        }
        CK(cudaDeviceSynchronize());
        return 0;
    }
    check_refusals(work);
    for (int i = 0; i < 6; i++) {
        check_shape(edges[i][0], edges[i][1], edges[i][2], ms_edge, 5,
                    work);
    }
    for (int i = 0; i < 4; i++) {
        check_shape(shapes[i][0], shapes[i][1], 128, ms_main, 5, work);
    }
    check_shape(4096, 11008, 64, ms_main, 5, work);

    printf("checks: %d failed\n", failures);
    if (!do_time) {
        return failures ? 1 : 0;
    }

    copy_gbs = copy_bandwidth();
    printf("copy bandwidth (read + write): %.0f GB/s\n", copy_gbs);
    for (int i = 0; i < 4; i++) {
        time_shape(shapes[i][0], shapes[i][1], 128, work, copy_gbs, rows);
    }

    printf("\nus per launch in a graph of 100 (weights > L2), by ksteps "
           "(0: auto, k: k warps along K);\n+=: auto with y_add 1; "
           "us1: auto, one launch between events; /copy: floor (bytes "
           "/ copy bandwidth) over time\n");
    printf("  in x out     m  floor     0     1     2     4     8"
           "    +=    us1  0/copy best/copy\n");
    for (size_t i = 0; i < rows.size(); i++) {
        const struct row  *r = &rows[i];
        double             best = r->us[0];

        for (int v = 1; v < N_TIME_KS; v++) {
            best = std::min(best, r->us[v]);
        }
        printf("%5d x %5d %3d %6.2f", r->in, r->out, r->m, r->floor_us);
        for (int v = 0; v < N_TIME_KS; v++) {
            printf(" %5.1f", r->us[v]);
        }
        printf(" %5.1f %6.2f  %6.3f %6.3f\n", r->us_add, r->us1,
               r->floor_us / r->us[0], r->floor_us / best);
    }
    printf("copy %.0f GB/s; checks: %d failed\n", copy_gbs, failures);
    return failures ? 1 : 0;
}
