/*
 * cuda_attn_generic.cu -- paged attention for any even head_dim up to
 * 256: the model shapes the fast kernels of cuda_attention.cu do not
 * take (stories260K's head_dim 8, test models), and a second, plainly
 * written implementation to check those against.
 *
 * Plan: one warp per (new token, query head).  The warp walks the
 * token's positions 32 at a time: lane j scores position base + j (the
 * whole q . k dot product, q from shared memory), the warp takes the
 * chunk's max and rescales its running sum and output (online softmax,
 * f32), then the lanes split head_dim (lane d holds dims d, d + 32, ...)
 * and add the 32 weighted value rows, each read coalesced.  Keys are
 * read 32 rows at a time, one row per lane, which wastes bandwidth on
 * big heads: this kernel is for correctness and small models.
 */

#include "cuda_kernels.h"
#include "cuda_act.cuh"
#include "cuda_att_warp.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>

#define GEN_WARPS       4
#define GEN_MAX_DIMS    8           /* head_dim / 32, rounded up */


template <typename T>
static __global__ void
gen_attention_kernel(const T *q, const T *cache, struct cuda_kv kv,
    uint32_t layer, const uint32_t *tok_seq, const uint32_t *tok_pos,
    const uint32_t *block_table, uint32_t max_blocks, uint32_t n_heads,
    uint32_t n_kv_heads, uint32_t hd, uint32_t window, float scale, T *out)
{
    extern __shared__ float  gen_q[];           /* [GEN_WARPS][hd] */
    uint32_t                 warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    uint32_t                 t = blockIdx.x;
    uint32_t                 h = blockIdx.y * GEN_WARPS + warp;
    uint32_t                 seq, pos, lo, kvh, base, p, j, d, i, bs;
    float                   *qs = gen_q + warp * hd;
    float                    acc[GEN_MAX_DIMS], m = -INFINITY, l = 0.0f;
    float                    s, w, wj;
    const T                 *row, *krow;
    size_t                   vrow = 0, head_off, v_off;

    if (h >= n_heads) {
        return;
    }
    seq = tok_seq[t];
    pos = tok_pos[t];
    kvh = h / (n_heads / n_kv_heads);
    bs = kv.block_size;
    lo = window > 0 && pos + 1 > window ? pos + 1 - window : 0;
    head_off = (size_t) layer * kv.layer_stride + (size_t) kvh * bs * hd;
    v_off = (size_t) n_kv_heads * bs * hd;

    row = q + (size_t) t * n_heads * hd + (size_t) h * hd;
    for (d = lane; d < hd; d += 32) {
        qs[d] = act_f32(row[d]) * scale;
    }
    for (i = 0; i < GEN_MAX_DIMS; i++) {
        acc[i] = 0.0f;
    }
    __syncwarp();

    for (base = lo; base <= pos; base += 32) {
        p = base + lane;
        s = -INFINITY;
        if (p <= pos) {
            vrow = (size_t) block_table[(size_t) seq * max_blocks + p / bs]
                   * kv.block_stride + head_off + (size_t) (p % bs) * hd;
            krow = cache + vrow;
            s = 0.0f;
            for (d = 0; d < hd; d++) {
                s = fmaf(qs[d], act_f32(krow[d]), s);
            }
        }
        w = att_warp_softmax(s, p <= pos, &m, &l, acc);
        for (j = 0; j < 32 && base + j <= pos; j++) {
            wj = __shfl_sync(0xffffffffu, w, j);
            row = cache + __shfl_sync(0xffffffffu, vrow, j) + v_off;
            for (i = 0, d = lane; d < hd; i++, d += 32) {
                acc[i] = fmaf(wj, act_f32(row[d]), acc[i]);
            }
        }
    }

    for (i = 0, d = lane; d < hd; i++, d += 32) {
        out[((size_t) t * n_heads + h) * hd + d] = act_round<T>(acc[i] / l);
    }
}


template <typename T>
static int
gen_launch(const void *q, const struct cuda_kv *kv, uint32_t layer,
    const struct cuda_step *st, const struct cuda_dims *d, void *out,
    cudaStream_t s)
{
    dim3    grid(st->n_tokens, (d->n_heads + GEN_WARPS - 1) / GEN_WARPS);
    size_t  smem = (size_t) GEN_WARPS * d->head_dim * sizeof(float);

    gen_attention_kernel<T><<<grid, GEN_WARPS * 32, smem, s>>>(
        (const T *) q, (const T *) kv->data, *kv, layer, st->tok_seq,
        st->tok_pos, st->block_table, st->max_blocks, d->n_heads,
        d->n_kv_heads, d->head_dim, d->window, d->att_scale, (T *) out);
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}


extern "C" int
cuda_attention_generic(int act, const void *q, const struct cuda_kv *kv,
    uint32_t layer, const struct cuda_step *st, const struct cuda_dims *d,
    void *out, cudaStream_t s)
{
    if (d->head_dim == 0 || d->head_dim % 2 != 0
        || d->head_dim > 32 * GEN_MAX_DIMS || d->n_kv_heads == 0
        || d->n_heads % d->n_kv_heads != 0 || q == NULL || out == NULL
        || kv == NULL || kv->data == NULL || st == NULL)
    {
        return -1;
    }
    if (st->n_tokens == 0) {
        return 0;
    }
    if (act == CUDA_ACT_F16) {
        return gen_launch<__half>(q, kv, layer, st, d, out, s);
    }
    if (act == CUDA_ACT_BF16) {
        return gen_launch<__nv_bfloat16>(q, kv, layer, st, d, out, s);
    }
    return -1;
}
