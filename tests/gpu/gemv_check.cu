// sources: modules/cuda-awq/cuda_gemv.cu
// sources: engine/lmd_dtype.c
/*
 * gemv_check.cu -- the dense decode GEMV (cuda_gemv) against a float64
 * reference, and its time against the copy bandwidth.
 *
 * Checks: f16 and bf16, m = 1..4, every output mode (act, f32, f32 +=),
 * shapes of the model families and odd ones (rows not a multiple of the
 * block's 16, cols of 8 and 72), fresh random inputs, outputs poisoned
 * with NaN (added-to outputs start random), relative L2 against float64
 * with the bound of one 16-bit rounding of the output (act: 2e-3 f16,
 * 1e-2 bf16; f32: 1e-5) plus f32 sums.  Timing (without -c): per launch
 * in a CUDA graph of 20 launches over weight copies totalling > 256 MB
 * (so L2 does not serve them), median of 7; floor = bytes / copy
 * bandwidth measured in the same run.
 */

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cuda_kernels.h"
#include "gpu_check.h"

static int
check(int act, uint32_t m, uint32_t rows, uint32_t cols, int mode)
{
    std::vector<uint16_t>  w((size_t) rows * cols), x((size_t) m * cols);
    std::vector<float>     y0((size_t) m * rows), yf((size_t) m * rows);
    std::vector<uint16_t>  yh((size_t) m * rows);
    void                  *dw, *dx, *dy;
    double                 num = 0, den = 0, bound;
    size_t                 i, bad = 0;

    for (i = 0; i < w.size(); i++) {
        w[i] = to16(act, (float) (gpu_urand() / sqrt((double) cols) * 1.7));
    }
    for (i = 0; i < x.size(); i++) {
        x[i] = to16(act, (float) gpu_urand());
    }
    for (i = 0; i < y0.size(); i++) {
        y0[i] = mode == 2 ? (float) gpu_urand() : NAN;
    }
    CK(cudaMalloc(&dw, w.size() * 2));
    CK(cudaMalloc(&dx, x.size() * 2));
    CK(cudaMalloc(&dy, y0.size() * 4));
    CK(cudaMemcpy(dw, w.data(), w.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dx, x.data(), x.size() * 2, cudaMemcpyHostToDevice));
    if (mode == 0) {
        std::vector<uint16_t>  nan16(y0.size(), 0x7fff);
        CK(cudaMemcpy(dy, nan16.data(), nan16.size() * 2,
                      cudaMemcpyHostToDevice));
    } else {
        CK(cudaMemcpy(dy, y0.data(), y0.size() * 4, cudaMemcpyHostToDevice));
    }
    if (cuda_gemv(act, dw, dx, dy, m, rows, cols, mode, 0) != 0) {
        printf("FAIL gemv launch refused: m %u %ux%u mode %d\n", m, rows,
               cols, mode);
        return 1;
    }
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    if (mode == 0) {
        CK(cudaMemcpy(yh.data(), dy, yh.size() * 2, cudaMemcpyDeviceToHost));
    } else {
        CK(cudaMemcpy(yf.data(), dy, yf.size() * 4, cudaMemcpyDeviceToHost));
    }
    for (uint32_t k = 0; k < m; k++) {
        for (uint32_t n = 0; n < rows; n++) {
            double  ref = 0, got;

            for (uint32_t c = 0; c < cols; c++) {
                ref += from16(act, w[(size_t) n * cols + c])
                       * from16(act, x[(size_t) k * cols + c]);
            }
            if (mode == 2) {
                ref += y0[(size_t) k * rows + n];
            }
            got = mode == 0 ? from16(act, yh[(size_t) k * rows + n])
                            : (double) yf[(size_t) k * rows + n];
            if (std::isnan(got)) {
                bad++;
                continue;
            }
            num += (got - ref) * (got - ref);
            den += ref * ref;
        }
    }
    bound = mode != 0 ? 1e-5 : act == CUDA_ACT_F16 ? 2e-3 : 1e-2;
    double  rel = den > 0 ? sqrt(num / den) : INFINITY;
    int     ok = bad == 0 && rel <= bound;

    printf("%s gemv %s m %u %6u x %5u mode %d: rel %.2e (bound %.0e), "
           "NaN/unwritten %zu\n", ok ? "ok  " : "FAIL",
           act == CUDA_ACT_F16 ? "f16 " : "bf16", m, rows, cols, mode, rel,
           bound, bad);
    cudaFree(dw);
    cudaFree(dx);
    cudaFree(dy);
    return ok ? 0 : 1;
}


static void
timing(int act, uint32_t m, uint32_t rows, uint32_t cols, double bw)
{
    size_t              bytes = (size_t) rows * cols * 2;
    int                 sets = (int) std::max<size_t>(2, (256u << 20) / bytes
                                                          + 1);
    std::vector<void *> w(sets);
    void               *dx, *dy;
    cudaStream_t        s;
    cudaGraph_t         g;
    cudaGraphExec_t     ge;
    cudaEvent_t         e0, e1;
    std::vector<float>  t;
    float               ms;

    for (int i = 0; i < sets; i++) {
        CK(cudaMalloc(&w[i], bytes));
        CK(cudaMemset(w[i], 0x31, bytes));
    }
    CK(cudaMalloc(&dx, (size_t) m * cols * 2));
    CK(cudaMemset(dx, 0x31, (size_t) m * cols * 2));
    CK(cudaMalloc(&dy, (size_t) m * rows * 4));
    CK(cudaStreamCreate(&s));
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    for (int i = 0; i < 20; i++) {
        cuda_gemv(act, w[i % sets], dx, dy, m, rows, cols, 2, s);
    }
    CK(cudaStreamEndCapture(s, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    for (int r = 0; r < 8; r++) {
        cudaEventRecord(e0, s);
        cudaGraphLaunch(ge, s);
        cudaEventRecord(e1, s);
        cudaEventSynchronize(e1);
        cudaEventElapsedTime(&ms, e0, e1);
        if (r > 0) {
            t.push_back(ms * 1000 / 20);
        }
    }
    std::sort(t.begin(), t.end());
    double  us = t[t.size() / 2], floor_us = bytes / (bw * 1e3);

    printf("time gemv %s m %u %6u x %5u: %7.2f us, floor %6.2f us = %.2f "
           "of copy (%.0f GB/s)\n", act == CUDA_ACT_F16 ? "f16 " : "bf16",
           m, rows, cols, us, floor_us, floor_us / us, bw);
    for (int i = 0; i < sets; i++) {
        cudaFree(w[i]);
    }
    cudaFree(dx);
    cudaFree(dy);
    cudaGraphExecDestroy(ge);
    cudaGraphDestroy(g);
    cudaStreamDestroy(s);
}


int
main(int argc, char **argv)
{
    static const uint32_t  shapes[][2] = {
        { 12288, 4096 }, { 4096, 4096 }, { 4096, 11008 }, { 22016, 4096 },
        { 2048, 1536 }, { 17920, 1536 }, { 1536, 8960 }, { 151936, 1536 },
        { 32000, 4096 }, { 100, 72 }, { 33, 8 }, { 1, 4096 },
    };
    int       fails = 0, act, mode;
    uint32_t  m, i;
    double    bw;

    for (act = 0; act < 2; act++) {
        for (m = 1; m <= CUDA_GEMV_MAX_M; m++) {
            for (mode = 0; mode < 3; mode++) {
                fails += check(act, m, 4096, 4096, mode);
                fails += check(act, m, 100, 72, mode);
                fails += check(act, m, 33, 8, mode);
            }
            fails += check(act, m, 1536, 8960, 2);
            fails += check(act, m, 17920, 1536, 0);
        }
    }
    printf("checks: %d failed\n", fails);
    if (argc > 1 && strcmp(argv[1], "-c") == 0) {
        return fails != 0;
    }
    bw = copy_gbs();
    for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]) - 3; i++) {
        timing(CUDA_ACT_F16, 1, shapes[i][0], shapes[i][1], bw);
    }
    for (m = 2; m <= CUDA_GEMV_MAX_M; m++) {
        timing(CUDA_ACT_F16, m, 12288, 4096, bw);
    }
    timing(CUDA_ACT_BF16, 1, 12288, 4096, bw);
    return fails != 0;
}
