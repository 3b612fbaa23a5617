/*
 * cuda_gemv.cu -- y = x W^T for dense f16/bf16 weights and a few rows of
 * x (decode), bound by reading W once at the copy bandwidth.
 *
 * Plan.  W is row-major [rows][cols] (PyTorch's [out][in]), so one output
 * is one contiguous row of W: a warp takes R rows (2) and walks along
 * one of KS slices (2) of them -- twice the warps of whole rows, which
 * keeps more loads in flight and evens out the last wave -- each lane
 * reading 16 bytes (8 weights) of every row per step, GEMV_U steps
 * unrolled, so that R * GEMV_U 16-byte loads are in flight per lane.  x
 * is small and read through L1 by every warp (the same 16 bytes of x
 * serve the R rows).  Sums are f32, reduced over the warp by shuffles
 * in a fixed order; y is written in the act type, or as f32 (set or
 * added to: the residual stream, the logits).  Blocks of 8 warps;
 * gv_shape picks R and KS (LMD_CUDA_GEMV_KS=1|2|4 forces KS, for
 * tuning).
 */

#include "cuda_kernels.h"
#include "cuda_pdl.cuh"
#include "cuda_ptx.cuh"

#include <stdlib.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define GEMV_WARPS      8
#define GEMV_U          4


template <typename T> struct gv_t;

template <> struct gv_t<__half> {
    static __device__ __forceinline__ float2 f2(uint32_t u) {
        return __half22float2(*reinterpret_cast<__half2 *>(&u));
    }
    static __device__ __forceinline__ void st(__half *p, float v) {
        *p = __float2half_rn(v);
    }
};

template <> struct gv_t<__nv_bfloat16> {
    static __device__ __forceinline__ float2 f2(uint32_t u) {
        return __bfloat1622float2(*reinterpret_cast<__nv_bfloat162 *>(&u));
    }
    static __device__ __forceinline__ void st(__nv_bfloat16 *p, float v) {
        *p = __float2bfloat16_rn(v);
    }
};


/* acc += dot of 8 weights and 8 x values, both as 16-byte words. */
template <typename T>
static __device__ __forceinline__ float
gv_dot8(uint4 w, uint4 x, float acc)
{
    float2  a, b;

    a = gv_t<T>::f2(w.x); b = gv_t<T>::f2(x.x);
    acc = fmaf(a.x, b.x, acc); acc = fmaf(a.y, b.y, acc);
    a = gv_t<T>::f2(w.y); b = gv_t<T>::f2(x.y);
    acc = fmaf(a.x, b.x, acc); acc = fmaf(a.y, b.y, acc);
    a = gv_t<T>::f2(w.z); b = gv_t<T>::f2(x.z);
    acc = fmaf(a.x, b.x, acc); acc = fmaf(a.y, b.y, acc);
    a = gv_t<T>::f2(w.w); b = gv_t<T>::f2(x.w);
    acc = fmaf(a.x, b.x, acc); acc = fmaf(a.y, b.y, acc);
    return acc;
}



/* mode 0: y act = sum; 1: y f32 = sum; 2: y f32 += sum.  The block's 8
 * warps are 8 / KS row groups of R rows times KS slices of the columns;
 * the slices' sums meet in shared memory in slice order. */
template <typename T, int M, int R, int KS>
static __global__ void __launch_bounds__(GEMV_WARPS * 32)
gv_kernel(const T *w, const T *x, void *y, uint32_t rows, uint32_t cols,
    int mode)
{
    pdl_wait();                 /* cuda_pdl.cuh */
    pdl_trigger();

    __shared__ float  part[GEMV_WARPS][R][M];
    uint32_t          warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    uint32_t          slice = warp % KS, grp = warp / KS;
    uint32_t          r0 = (blockIdx.x * (GEMV_WARPS / KS) + grp) * R;
    uint32_t          n8 = cols / 8, per, i0, i1, i, j, k, r;
    const uint4      *wr[R];
    float             acc[R][M];

    per = (n8 + KS - 1) / KS;
    i0 = slice * per;
    i1 = i0 + per < n8 ? i0 + per : n8;
#pragma unroll
    for (r = 0; r < R; r++) {
        wr[r] = reinterpret_cast<const uint4 *>(
                    w + (size_t) (r0 + r < rows ? r0 + r
                                  : (rows > 0 ? rows - 1 : 0)) * cols);
#pragma unroll
        for (k = 0; k < M; k++) {
            acc[r][k] = 0.0f;
        }
    }

    for (i = i0 + lane; i < i1; i += 32 * GEMV_U) {
        uint4  wv[GEMV_U][R];

#pragma unroll
        for (j = 0; j < GEMV_U; j++) {
#pragma unroll
            for (r = 0; r < R; r++) {
                wv[j][r] = i + j * 32 < i1 ? ptx_ld_stream(wr[r] + i + j * 32)
                                           : make_uint4(0, 0, 0, 0);
            }
        }
#pragma unroll
        for (j = 0; j < GEMV_U; j++) {
            if (i + j * 32 < i1) {
#pragma unroll
                for (k = 0; k < M; k++) {
                    uint4  xv = reinterpret_cast<const uint4 *>(
                                    x + (size_t) k * cols)[i + j * 32];

#pragma unroll
                    for (r = 0; r < R; r++) {
                        acc[r][k] = gv_dot8<T>(wv[j][r], xv, acc[r][k]);
                    }
                }
            }
        }
    }

#pragma unroll
    for (r = 0; r < R; r++) {
#pragma unroll
        for (k = 0; k < M; k++) {
            float  s = acc[r][k];

#pragma unroll
            for (j = 16; j > 0; j /= 2) {
                s += __shfl_xor_sync(0xffffffffu, s, j);
            }
            acc[r][k] = s;
        }
    }
    if (KS > 1) {
        if (lane == 0) {
#pragma unroll
            for (r = 0; r < R; r++) {
#pragma unroll
                for (k = 0; k < M; k++) {
                    part[warp][r][k] = acc[r][k];
                }
            }
        }
        __syncthreads();
        if (slice != 0) {
            return;
        }
        if (lane == 0) {
#pragma unroll
            for (r = 0; r < R; r++) {
#pragma unroll
                for (k = 0; k < M; k++) {
                    float  s = part[warp][r][k];

                    for (j = 1; j < KS; j++) {
                        s += part[warp + j][r][k];
                    }
                    acc[r][k] = s;
                }
            }
        }
    }
    if (lane == 0) {
#pragma unroll
        for (r = 0; r < R; r++) {
            if (r0 + r >= rows) {
                break;
            }
#pragma unroll
            for (k = 0; k < M; k++) {
                size_t  o = (size_t) k * rows + r0 + r;

                if (mode == 0) {
                    gv_t<T>::st((T *) y + o, acc[r][k]);
                } else if (mode == 1) {
                    ((float *) y)[o] = acc[r][k];
                } else {
                    ((float *) y)[o] += acc[r][k];
                }
            }
        }
    }
}


template <typename T, int M, int R, int KS>
static int
gv_launch(const void *w, const void *x, void *y, uint32_t rows,
    uint32_t cols, int mode, cudaStream_t s)
{
    uint32_t  per = GEMV_WARPS / KS * R;

    pdl_launch(gv_kernel<T, M, R, KS>, (rows + per - 1) / per, GEMV_WARPS * 32,
        0, s, (const T *) w, (const T *) x, y, rows, cols, mode);
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}


/* Rows per warp and column slices: 2 rows a warp (4 measured slower on
 * every tall shape: fewer warps in flight), the columns split in 2 or 4
 * when the rows alone give too few warps (1536 x 8960: 0.48 -> 0.70 of
 * copy). */
template <typename T, int M>
static int
gv_shape(const void *w, const void *x, void *y, uint32_t rows,
    uint32_t cols, int mode, cudaStream_t s)
{
    static int   force = -1;
    const char  *env;

    if (force < 0) {
        /* LMD_CUDA_GEMV_KS=1|2|4: every shape takes that split (tuning) */
        env = getenv("LMD_CUDA_GEMV_KS");
        force = env != NULL ? atoi(env) : 0;
    }
    if (force == 1 || force == 2 || force == 4) {
        return force == 1 ? gv_launch<T, M, 2, 1>(w, x, y, rows, cols, mode, s)
               : force == 2 ? gv_launch<T, M, 2, 2>(w, x, y, rows, cols,
                                                    mode, s)
               : gv_launch<T, M, 2, 4>(w, x, y, rows, cols, mode, s);
    }
    /* Two slices everywhere: measured on an H200 (tests/gpu/NOTES.md,
     * "Dense GEMV v2") against one and four on the model shapes, it is
     * the fastest or tied on each, m = 1..4. */
    return gv_launch<T, M, 2, 2>(w, x, y, rows, cols, mode, s);
}


template <typename T>
static int
gv_pick(const void *w, const void *x, void *y, uint32_t m, uint32_t rows,
    uint32_t cols, int mode, cudaStream_t s)
{
    switch (m) {
    case 1: return gv_shape<T, 1>(w, x, y, rows, cols, mode, s);
    case 2: return gv_shape<T, 2>(w, x, y, rows, cols, mode, s);
    case 3: return gv_shape<T, 3>(w, x, y, rows, cols, mode, s);
    case 4: return gv_shape<T, 4>(w, x, y, rows, cols, mode, s);
    default: return -1;
    }
}


extern "C" int
cuda_gemv(int act, const void *w, const void *x, void *y, uint32_t m,
    uint32_t rows, uint32_t cols, int mode, cudaStream_t s)
{
    if (m == 0 || m > CUDA_GEMV_MAX_M || rows == 0 || cols % 8 != 0
        || mode < 0 || mode > 2 || ((uintptr_t) w | (uintptr_t) x) % 16 != 0)
    {
        return -1;
    }
    return act == CUDA_ACT_F16
        ? gv_pick<__half>(w, x, y, m, rows, cols, mode, s)
        : act == CUDA_ACT_BF16
        ? gv_pick<__nv_bfloat16>(w, x, y, m, rows, cols, mode, s) : -1;
}
