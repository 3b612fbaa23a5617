/*
 * kv_cuda_write.cu -- the int8-kv module's CUDA write: the engine's
 * RoPE and KV-write step with quantization at its end (format in
 * kv_cuda.h), so that keys and values go from the q|k|v product to the
 * cache in one kernel and never exist in 16 bits in memory.
 *
 * Plan: a CTA per new token and KVW_WARPS heads of its fused row, a
 * warp per head (so that a decode step of one token still spreads over
 * the GPU).  Lane l holds the RoPE pairs (i, i + D/2) for i = l, l +
 * 32, ...; q heads are rotated and stored as act, k heads rotated and v
 * heads taken as they are, then the warp finds the head's min and max
 * (shuffles), lane 0 stores (lo, step) and every lane its codes.  The
 * arithmetic is the cpu codec's (kv_cpu.c): lo = min, step = (max -
 * min) / levels nudged up until lo + levels step reaches max, q =
 * rint((x - lo) / step) clamped, so the same f32 numbers get the same
 * codes on both.  RoPE is cuda_rope.cuh's, as the engine's own write.
 */

#include "kv_cuda.h"
#include "cuda_act.cuh"
#include "cuda_pdl.cuh"
#include "cuda_rope.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>

#define KVW_WARPS       4
#define KVW_MAX_PAIRS   4           /* head_dim <= 256 */


static __device__ __forceinline__ unsigned
kvw_code(float x, float lo, float inv, unsigned levels)
{
    float  f = rintf(__fmul_rn(__fsub_rn(x, lo), inv));

    return f <= 0.0f ? 0u : f >= (float) levels ? levels : (unsigned) f;
}


template <typename T, int BITS>
static __global__ void __launch_bounds__(KVW_WARPS * 32)
kvw_kernel(const struct lmd_kv_cuda_args a, const T *qkv, const float *bias,
    T *q_out)
{
    pdl_wait();                 /* cuda_pdl.cuh */
    pdl_trigger();

    constexpr unsigned  LEVELS = (1u << BITS) - 1;
    __shared__ float    cs[KVW_MAX_PAIRS * 32], sn[KVW_MAX_PAIRS * 32];
    uint32_t            t = blockIdx.x, warp = threadIdx.x / 32;
    uint32_t            lane = threadIdx.x % 32, hd = a.head_dim;
    uint32_t            half = hd / 2, seq = a.tok_seq[t];
    uint32_t            pos = a.tok_pos[t], rot = a.n_heads + a.n_kv_heads;
    uint32_t            items = rot + a.n_kv_heads, blk, slot, item, k, i;
    size_t              pbytes = kv_cuda_params_bytes(a.block_size);
    const T            *row;

    rope_angles(pos, a.pos_scale[seq], a.inv_freq + (size_t) seq * half,
                half, cs, sn);
    blk = a.block_table[(size_t) seq * a.max_blocks + pos / a.block_size];
    slot = pos % a.block_size;
    __syncthreads();

    item = blockIdx.y * KVW_WARPS + warp;
    if (item < items) {
        float     y1[KVW_MAX_PAIRS], y2[KVW_MAX_PAIRS];
        float     mn = INFINITY, mx = -INFINITY, lo, step, inv;
        uint32_t  w, h;
        char     *run;

        row = qkv + (size_t) t * (rot + a.n_kv_heads) * hd
              + (size_t) item * hd;
#pragma unroll
        for (k = 0; k < KVW_MAX_PAIRS; k++) {
            float  x1, x2;

            i = lane + 32 * k;
            if (i >= half) {
                break;
            }
            x1 = act_f32(row[i]);
            x2 = act_f32(row[i + half]);
            if (bias != NULL) {
                x1 = __fadd_rn(x1, bias[(size_t) item * hd + i]);
                x2 = __fadd_rn(x2, bias[(size_t) item * hd + i + half]);
            }
            if (item < rot) {
                rope_rotate(x1, x2, cs[i], sn[i], &y1[k], &y2[k]);
            } else {
                y1[k] = x1;
                y2[k] = x2;
            }
            mn = fminf(mn, fminf(y1[k], y2[k]));
            mx = fmaxf(mx, fmaxf(y1[k], y2[k]));
        }

        if (item < a.n_heads) {
            T  *dst = q_out + ((size_t) t * a.n_heads + item) * hd;

            for (k = 0; k < KVW_MAX_PAIRS && lane + 32 * k < half; k++) {
                dst[lane + 32 * k] = act_round<T>(y1[k]);
                dst[lane + 32 * k + half] = act_round<T>(y2[k]);
            }
            return;
        }
        /* a bad table entry must not write outside the cache: the
         * token's k and v are dropped instead (the host checks tables) */
        if (blk >= a.n_blocks) {
            return;
        }
        for (k = 16; k > 0; k /= 2) {
            mn = fminf(mn, __shfl_xor_sync(0xffffffffu, mn, k));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, k));
        }
        lo = mn;
        step = __fdiv_rn(__fsub_rn(mx, mn), (float) LEVELS);
        while (__fadd_rn(mn, __fmul_rn((float) LEVELS, step)) < mx) {
            step = nextafterf(step, INFINITY);
        }
        inv = step > 0.0f ? __fdiv_rn(1.0f, step) : 0.0f;

        w = item >= rot;                    /* 0 keys, 1 values */
        h = item - a.n_heads - w * a.n_kv_heads;
        run = (char *) a.cache + (size_t) blk * a.block_bytes
              + (((size_t) a.layer * 2 + w) * a.n_kv_heads + h)
                * a.run_bytes;
        if (lane == 0) {
            *reinterpret_cast<float2 *>(run + (size_t) slot * 8) =
                make_float2(lo, step);
        }
        run += pbytes + (size_t) slot * hd * BITS / 8;
        for (k = 0; k < KVW_MAX_PAIRS && lane + 32 * k < half; k++) {
            unsigned  c1 = kvw_code(y1[k], lo, inv, LEVELS);
            unsigned  c2 = kvw_code(y2[k], lo, inv, LEVELS);

            i = lane + 32 * k;
            if (BITS == 8) {
                run[i] = (char) c1;
                run[i + half] = (char) c2;
            } else {
                run[i] = (char) (c1 | c2 << 4);
            }
        }
    }
}


template <typename T, int BITS>
static int
kvw_launch(const struct lmd_kv_cuda_args *a, const void *qkv,
    const float *bias, void *q_out)
{
    dim3  grid(a->n_tokens, (a->n_heads + 2 * a->n_kv_heads + KVW_WARPS - 1)
                            / KVW_WARPS);

    pdl_launch(kvw_kernel<T, BITS>, grid, KVW_WARPS * 32, 0,
               (cudaStream_t) a->stream, *a, (const T *) qkv, bias,
               (T *) q_out);
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}


extern "C" int
kv_cuda_write(const struct lmd_kv_cuda_args *a, unsigned bits,
    const void *qkv, const float *bias, void *q_out)
{
    if (a == NULL || qkv == NULL || q_out == NULL || a->cache == NULL
        || a->head_dim == 0 || a->head_dim % 2 != 0
        || a->head_dim > 64 * KVW_MAX_PAIRS || a->n_kv_heads == 0
        || a->tok_seq == NULL || a->tok_pos == NULL
        || a->block_table == NULL || a->inv_freq == NULL
        || a->pos_scale == NULL || (bits != 8 && bits != 4))
    {
        return -1;
    }
    if (a->n_tokens == 0) {
        return 0;
    }
    if (a->act == 0) {
        return bits == 8 ? kvw_launch<__half, 8>(a, qkv, bias, q_out)
                         : kvw_launch<__half, 4>(a, qkv, bias, q_out);
    }
    if (a->act == 1) {
        return bits == 8
               ? kvw_launch<__nv_bfloat16, 8>(a, qkv, bias, q_out)
               : kvw_launch<__nv_bfloat16, 4>(a, qkv, bias, q_out);
    }
    return -1;
}
