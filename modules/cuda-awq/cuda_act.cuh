/*
 * cuda_act.cuh -- one act number (f16 or bf16) to and from f32, for
 * the kernels that handle activations a number at a time (cuda_ops.cu,
 * cuda_attn_generic.cu, and the int8-kv module's write and generic
 * attention): f32 exactly, and back rounded to nearest even.
 */

#ifndef CUDA_ACT_CUH
#define CUDA_ACT_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>


static __device__ __forceinline__ float
act_f32(__half h)
{
    return __half2float(h);
}


static __device__ __forceinline__ float
act_f32(__nv_bfloat16 h)
{
    return __bfloat162float(h);
}


template <typename T>
static __device__ __forceinline__ T act_round(float f);

template <>
__device__ __forceinline__ __half
act_round<__half>(float f)
{
    return __float2half_rn(f);
}

template <>
__device__ __forceinline__ __nv_bfloat16
act_round<__nv_bfloat16>(float f)
{
    return __float2bfloat16_rn(f);
}

#endif /* CUDA_ACT_CUH */
