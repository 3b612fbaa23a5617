/*
 * awq_dequant.cu -- AutoAWQ W4A16 weights unpacked to f16 [out][in] on
 * the GPU, so that large products (big decode batches, prompt chunks)
 * run on cuBLAS: from m of a few hundred rows the f16 GEMM's speed pays
 * for writing and reading the f16 copy of one matrix, which lives in a
 * scratch buffer only for that product (cuda_matmul.c).
 *
 * Plan.  A lane takes one packed word column (8 output columns) and 16
 * consecutive K rows: 16 coalesced word loads across the warp, the
 * group's zero word and 8 scales (one 16-byte load), then for each of
 * its 8 columns one 32-byte run of 16 f16 values, (q - z) * s computed
 * in f32 and rounded once -- the same arithmetic as lmd_awq_dequant_rows.
 */

#include "awq_kernels.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define DQ_K        16          /* K rows per lane */
#define DQ_WARPS    8


/* Column m of a word sits in nibble col_nibble[m] (engine/lmd_awq.c). */
__constant__ uint8_t  dq_col_nibble[8] = { 0, 4, 1, 5, 2, 6, 3, 7 };


static __global__ void __launch_bounds__(DQ_WARPS * 32)
dq_kernel(const int32_t *qweight, const int32_t *qzeros,
    const __half *scales, int in, int out, int group, __half *dst)
{
    const int   ow = out / 8, lane = threadIdx.x % 32;
    const int   n8 = blockIdx.x * 32 + lane;
    const int   k0 = (blockIdx.y * DQ_WARPS + threadIdx.x / 32) * DQ_K;
    const int   g = k0 / group;
    uint32_t    q[DQ_K], z;
    uint4       s4;
    const __half  *s;
    int         i, j, nib;

    if (n8 >= ow || k0 >= in) {
        return;
    }
#pragma unroll
    for (i = 0; i < DQ_K; i++) {
        q[i] = (uint32_t) qweight[(size_t) (k0 + i) * ow + n8];
    }
    z = (uint32_t) qzeros[(size_t) g * ow + n8];
    s4 = *reinterpret_cast<const uint4 *>(scales + (size_t) g * out
                                          + (size_t) n8 * 8);
    s = reinterpret_cast<const __half *>(&s4);
#pragma unroll
    for (j = 0; j < 8; j++) {
        __align__(16) __half  v[DQ_K];
        float                 zf, sf;

        nib = 4 * dq_col_nibble[j];
        zf = (float) ((z >> nib) & 15u);
        sf = __half2float(s[j]);
#pragma unroll
        for (i = 0; i < DQ_K; i++) {
            v[i] = __float2half_rn(((float) ((q[i] >> nib) & 15u) - zf) * sf);
        }
        uint4  *o = reinterpret_cast<uint4 *>(dst + ((size_t) n8 * 8 + j)
                                              * in + k0);
        o[0] = reinterpret_cast<const uint4 *>(v)[0];
        o[1] = reinterpret_cast<const uint4 *>(v)[1];
    }
}


extern "C" int
awq_dequant(const struct awq_args *a, void *dst, cudaStream_t s)
{
    dim3  grid, block(DQ_WARPS * 32);

    if (a == NULL || dst == NULL || a->in <= 0 || a->out <= 0
        || a->in % DQ_K != 0 || a->out % 8 != 0 || a->group <= 0
        || a->group % DQ_K != 0 || a->in % a->group != 0
        || ((uintptr_t) dst & 15) != 0 || ((uintptr_t) a->scales & 15) != 0)
    {
        return -1;
    }
    grid.x = (unsigned) ((a->out / 8 + 31) / 32);
    grid.y = (unsigned) ((a->in / DQ_K + DQ_WARPS - 1) / DQ_WARPS);
    dq_kernel<<<grid, block, 0, s>>>(a->qweight, a->qzeros,
                                     (const __half *) a->scales, a->in,
                                     a->out, a->group, (__half *) dst);
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}
