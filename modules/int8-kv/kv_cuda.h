/*
 * kv_cuda.h -- the int8-kv module's CUDA backend (built where configure
 * found CUDA; the module's .so then carries these kernels): the run
 * format on the GPU, the hook tables kv_module.c points the codecs at,
 * and the launchers behind them, which tests/gpu/kv_int8_check.cu calls
 * one by one.
 *
 * A run on the GPU is P positions (the block size) of one KV head, keys
 * and values alike, D = head_dim numbers each, per position quantized
 * as the cpu format is (kv_quant.h): x ~ lo + q step, every number within
 * step / 2 of its stored value, with lo and step found by the same f32
 * arithmetic.  Layout (128-byte aligned):
 *
 *     f32 (lo, step)[P]        8 P bytes, the pair together so that a
 *                              tile row's pair is one 8-byte copy
 *     codes[P][D bits / 8]     row-major, as attention reads them
 *
 * int8 stores one code a byte; int4 keeps codes j and j + D/2 in the low
 * and high nibble of byte j of a row (as RoPE pairs them: the thread
 * that rotates the pair writes the byte).
 */

#ifndef KV_CUDA_H
#define KV_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "lmd_module.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const struct lmd_kv_codec_cuda  kv_cuda_int8;
extern const struct lmd_kv_codec_cuda  kv_cuda_int4;

#ifdef __CUDACC__
#define KV_CUDA_HD  __host__ __device__
#else
#define KV_CUDA_HD
#endif

/* Bytes of the (lo, step) pairs of a run of P positions, and of a run. */
static inline KV_CUDA_HD size_t
kv_cuda_params_bytes(uint32_t positions)
{
    return ((size_t) positions * 8 + 127) & ~(size_t) 127;
}


static inline KV_CUDA_HD size_t
kv_cuda_run_bytes(uint32_t positions, uint32_t head_dim, unsigned bits)
{
    return kv_cuda_params_bytes(positions)
           + (((size_t) positions * head_dim * bits / 8 + 127)
              & ~(size_t) 127);
}

/* kv_cuda_write.cu: the hooks' qkv_rope_write for `bits`. */
int kv_cuda_write(const struct lmd_kv_cuda_args *a, unsigned bits,
    const void *qkv, const float *bias, void *q_out);

/* kv_cuda_attention.cu: attention on tensor cores (head_dim 64 or 128;
 * -1 without a launch for others), and a plain one-warp-per-row version
 * for any even head_dim up to 256 (and to check the first against);
 * the hooks' attention takes the first where it can. */
int kv_cuda_attention_tc(const struct lmd_kv_cuda_args *a, unsigned bits,
    const void *q, void *out, void *work);
int kv_cuda_attention_generic(const struct lmd_kv_cuda_args *a,
    unsigned bits, const void *q, void *out);
size_t kv_cuda_work_bytes(uint32_t max_tokens, uint32_t max_seqs,
    uint32_t head_dim);

#ifdef __cplusplus
}
#endif

#endif /* KV_CUDA_H */
