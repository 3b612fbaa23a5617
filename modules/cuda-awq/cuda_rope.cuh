/*
 * cuda_rope.cuh -- RoPE's arithmetic, shared by the kernels that rotate
 * q and k on their way to the cache: the engine's qkv_rope (cuda_ops.cu)
 * and the int8-kv module's quantizing write (kv_cuda_write.cu), so that
 * both give the same q and k bit for bit.
 *
 * f32 in the cpu engine's order (modules/cpu/cpu_ops.c); the products
 * and sums use __fmul_rn / __fadd_rn so that nvcc does not contract them
 * into FMAs the cpu does not do.
 */

#ifndef CUDA_ROPE_CUH
#define CUDA_ROPE_CUH

#include <stdint.h>

#include <cuda_runtime.h>


/* cs[i], sn[i] = cos, sin of the angle of pair i < half at position pos
 * (angle = pos * pos_scale * inv_freq[i], as cpu_rope_angles makes it),
 * the block's threads taking pairs in turn; the caller synchronizes. */
static __device__ __forceinline__ void
rope_angles(uint32_t pos, float pos_scale, const float *inv_freq,
    uint32_t half, float *cs, float *sn)
{
    float     p = (float) pos;
    uint32_t  i;

    if (pos_scale != 1.0f) {
        p = __fmul_rn(p, pos_scale);
    }
    for (i = threadIdx.x; i < half; i += blockDim.x) {
        float  c, sv;

        sincosf(__fmul_rn(p, inv_freq[i]), &sv, &c);
        cs[i] = c;
        sn[i] = sv;
    }
}


/* The pair (x1, x2) = (v[i], v[i + half]) rotated: v' = v cos +
 * rotate_half(v) sin, rotate_half = (-x2, x1). */
static __device__ __forceinline__ void
rope_rotate(float x1, float x2, float c, float s, float *y1, float *y2)
{
    *y1 = __fsub_rn(__fmul_rn(x1, c), __fmul_rn(x2, s));
    *y2 = __fadd_rn(__fmul_rn(x2, c), __fmul_rn(x1, s));
}

#endif /* CUDA_ROPE_CUH */
