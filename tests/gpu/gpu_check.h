/*
 * gpu_check.h -- what the kernel checks in tests/gpu/ share: the CUDA
 * call check, 16-bit values through the project's own conversions
 * (engine/lmd_dtype.h: name engine/lmd_dtype.c on the check's
 * "// sources:" line), and the copy bandwidth the timings are measured
 * against.
 */

#ifndef GPU_CHECK_H
#define GPU_CHECK_H

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <cuda_runtime.h>

#include "cuda_kernels.h"

extern "C" {
#include "lmd_dtype.h"          /* plain C, no guards of its own */
}

/* A CUDA call that must succeed: the check ends (status 2) otherwise. */
#define CK(call)                                                         \
    do {                                                                 \
        cudaError_t  e_ = (call);                                        \
        if (e_ != cudaSuccess) {                                         \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__,       \
                    #call, cudaGetErrorString(e_));                      \
            exit(2);                                                     \
        }                                                                \
    } while (0)


/* The checks' random inputs: xorshift64 from a seed a check may set
 * (GPU_RNG_SEED, defined before this header), so each check's inputs
 * are the same on every run.  gpu_urand: a double in [-1, 1);
 * gpu_irand: an integer in [0, n). */
#ifndef GPU_RNG_SEED
#define GPU_RNG_SEED    0x9e3779b97f4a7c15ull
#endif

static inline double
gpu_urand(void)
{
    static uint64_t  rng = GPU_RNG_SEED;

    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double) (rng >> 11) * 0x1.0p-53 * 2.0 - 1.0;
}


static inline uint32_t
gpu_irand(uint32_t n)
{
    return (uint32_t) ((gpu_urand() + 1.0) * 0.5 * n) % n;
}


/* v rounded to the act type (nearest even), as the bits the GPU reads. */
static inline uint16_t
to16(int act, double v)
{
    return act == CUDA_ACT_F16 ? lmd_f32_to_f16((float) v)
                               : lmd_f32_to_bf16((float) v);
}


static inline double
from16(int act, uint16_t h)
{
    return act == CUDA_ACT_F16 ? lmd_f16_to_f32(h) : lmd_bf16_to_f32(h);
}


/* Device-to-device copy bandwidth, GB/s counting read and write: the
 * best of 5 copies of 1 GiB after a warm-up. */
static inline double
copy_gbs(void)
{
    size_t       n = (size_t) 1 << 30;
    void        *a, *b;
    cudaEvent_t  e0, e1;
    float        ms, best = 1e9f;

    CK(cudaMalloc(&a, n));
    CK(cudaMalloc(&b, n));
    CK(cudaMemset(a, 1, n));
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int i = 0; i < 6; i++) {
        CK(cudaEventRecord(e0));
        CK(cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice));
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&ms, e0, e1));
        if (i > 0) {
            best = std::min(best, ms);
        }
    }
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    CK(cudaFree(a));
    CK(cudaFree(b));
    return 2.0 * n / (best * 1e-3) / 1e9;
}

#endif /* GPU_CHECK_H */
