/*
 * awq_dequant.cu -- W4A16 weights unpacked to f16 [out][in] on the GPU,
 * so that large products (prompt chunks) run on cuBLAS: from m of a few
 * hundred rows the f16 GEMM's speed pays for writing and reading the
 * f16 copy of one matrix, which lives in a scratch buffer only for that
 * product (cuda_matmul.c).
 *
 * It reads the GEMV's repacked layout (awq_gemv.cu): a thread takes
 * one lane's 16 bytes of one run (columns g and g + 8 of 16, inputs
 * 16 c .. 16 c + 15 of a 64-input chunk), its scale and zero pair, and
 * writes the two columns' 16 values as 32-byte runs; (q - z) * s in
 * f32, rounded once -- the arithmetic of lmd_awq_dequant_rows.
 */

#include "awq_kernels.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define DQ_THREADS  256


static __global__ void __launch_bounds__(DQ_THREADS)
dq_kernel(const uint4 *w, const uint2 *sz, int in, int out, int gshift,
    __half *dst)
{
    const int     nchunks = in / 64, ngroups = in >> gshift;
    const size_t  n = (size_t) out / 16 * nchunks * 32;

    for (size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x; i < n;
         i += (size_t) gridDim.x * blockDim.x)
    {
        const int     lane = (int) (i % 32), g = lane / 4, c = lane % 4;
        const int     kc = (int) (i / 32 % nchunks);
        const int     t = (int) (i / 32 / nchunks);
        const int     k0 = kc * 64 + 16 * c;
        const uint4   v = w[i];
        const uint32_t  words[4] = { v.x, v.y, v.z, v.w };
        const uint2   p = sz[((size_t) t * ngroups + (k0 >> gshift)) * 8 + g];
        __align__(16) __half  o[2][16];

#pragma unroll
        for (int col = 0; col < 2; col++) {
            const float  s = __half2float(__ushort_as_half(
                                 (unsigned short) (col ? p.x >> 16 : p.x)));
            const float  z = __half2float(__ushort_as_half(
                                 (unsigned short) (col ? p.y >> 16 : p.y)))
                             - 1024.0f;

            /* word 2q + h, nibble n (+ 4): column g + 8 (n / 2), input
             * 8 q + 2 h + 4 (n % 2) (+ 1) of the lane's 16 */
#pragma unroll
            for (int j = 0; j < 4; j++) {
#pragma unroll
                for (int nn = 0; nn < 2; nn++) {
                    const int  nib = 2 * col + nn;
                    const int  k = 8 * (j / 2) + 2 * (j % 2) + 4 * nn;
                    const float  q0 = (float) (words[j] >> (4 * nib) & 15);
                    const float  q1 = (float) (words[j] >> (4 * nib + 16)
                                               & 15);

                    o[col][k] = __float2half_rn((q0 - z) * s);
                    o[col][k + 1] = __float2half_rn((q1 - z) * s);
                }
            }
        }
#pragma unroll
        for (int col = 0; col < 2; col++) {
            uint4  *d = reinterpret_cast<uint4 *>(
                            dst + (size_t) (16 * t + g + 8 * col) * in + k0);

            d[0] = reinterpret_cast<const uint4 *>(o[col])[0];
            d[1] = reinterpret_cast<const uint4 *>(o[col])[1];
        }
    }
}


extern "C" int
awq_dequant(const struct awq_args *a, void *dst, cudaStream_t s)
{
    size_t  n;
    int     gshift, blocks;

    if (a == NULL || dst == NULL || a->in <= 0 || a->in % 64 != 0
        || a->out <= 0 || a->out % 16 != 0 || a->group < 16
        || (a->group & (a->group - 1)) != 0 || a->in % a->group != 0
        || a->gv_w == NULL || a->gv_sz == NULL
        || ((uintptr_t) dst | (uintptr_t) a->gv_w
            | (uintptr_t) a->gv_sz) % 16 != 0)
    {
        return -1;
    }
    gshift = awq_group_shift(a->group);
    n = (size_t) a->out / 16 * (a->in / 64) * 32;
    blocks = (int) ((n + DQ_THREADS - 1) / DQ_THREADS < 65536
                    ? (n + DQ_THREADS - 1) / DQ_THREADS : 65536);
    dq_kernel<<<blocks, DQ_THREADS, 0, s>>>(
        reinterpret_cast<const uint4 *>(a->gv_w),
        reinterpret_cast<const uint2 *>(a->gv_sz), a->in, a->out, gshift,
        (__half *) dst);
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}
