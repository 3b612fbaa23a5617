/*
 * cuda_attention.cu -- paged attention on tensor cores for every step:
 * prompt chunks, mixed prefill+decode steps and decode steps (flash
 * style: tiles of query rows against tiles of cached positions, online
 * softmax), head_dim 64 or 128.
 *
 * Plan.  A CTA of 4 warps takes one (sequence, KV head, tile of 64 rows);
 * row r is (new token r / G, query head r % G of the G sharing the KV
 * head), so those heads share every key and value tile, and each warp
 * owns 16 rows.  The rows' queries sit in shared memory; the positions
 * they attend to (the cached prefix and the new tokens up to the tile's
 * last one, or the sliding window) stream through in tiles of 64 keys
 * and values, ATT_STAGES - 1 tiles in flight by cp.async while one is
 * used, gathered row by row through the block table, so a block size
 * below 64 costs nothing more than a table read per row.  Per key tile a
 * warp computes S = Q K^T (mma.m16n8k16, f32), masks it (causal,
 * window), updates its rows' running max and sum (f32, base-2 exponent)
 * and adds P V, P rounded to the act type straight from the S registers
 * (att_tile).  The output is rounded once at the end.  Where the grid
 * would not fill the GPU the key range is split in parts, combined by a
 * second kernel in part order.
 *
 * A warp with no valid rows (a sequence of fewer new tokens than the
 * tile, e.g. the one-token sequences of a mixed prefill+decode step)
 * only helps to load; rows past the sequence's tokens are computed on
 * zeros and never stored.  Decode steps of up to 16 rows a KV head take
 * att_dec_kernel instead, whose four warps split each key tile.
 *
 * Shared memory rows are XOR-swizzled in 16-byte chunks (chunk ^ row % 8)
 * so that ldmatrix's 8 rows of one chunk hit 8 distinct bank groups.
 *
 * cuda_forward.c takes this file's kernels first for every step; the
 * split-K decode kernel (cuda_attn_decode.cu) only serves head_dim 256.
 *
 * The kernels themselves are in cuda_att_core.cuh, written for any KV
 * source; this file gives them the engine's own 16-bit cache, whose
 * tiles are copied into shared memory as they are.
 */

#include "cuda_kernels.h"
#include "cuda_att_core.cuh"


/* The engine's 16-bit cache: a run is block_size rows of head_dim act
 * numbers, so a tile's rows are copied into the stage as they are, keys
 * then values, and used there. */
template <int HD>
struct att_kv16 {
    static constexpr uint32_t  TILE = ATT_BN * HD * 2;
    static constexpr uint32_t  STAGES = ATT_STAGES;
    static constexpr uint32_t  STAGE = 2 * TILE;
    static constexpr uint32_t  FIXED = 0;

    static __device__ __forceinline__ void
    load(const struct att_args &a, const struct att_pipe &p, uint32_t base,
        uint32_t stage)
    {
        constexpr uint32_t  CH = HD / 8;        /* chunks per row */
        uint32_t            i, row, ch, pos, slot;
        bool                in;
        const char         *src;

        for (i = threadIdx.x; i < ATT_BN * CH; i += ATT_THREADS) {
            row = i / CH;
            ch = i % CH;
            pos = base + row;
            in = pos >= p.lo && pos <= p.hi;
            src = p.head_k;
            if (in) {
                src = att_run(a, p, pos, &slot) + (size_t) slot * HD * 2
                      + ch * 16;
            }
            ptx_cp16(stage + att_off<HD>(row, ch), src, in ? 16 : 0);
            ptx_cp16(stage + TILE + att_off<HD>(row, ch), src + p.v_off,
                     in ? 16 : 0);
        }
    }

    static __device__ __forceinline__ void
    tiles(uint32_t stage, uint32_t fixed, uint32_t *ks, uint32_t *vs)
    {
        (void) fixed;
        *ks = stage;
        *vs = stage + TILE;
    }
};


extern "C" int
cuda_attention(int act, const void *q, const struct cuda_kv *kv,
    uint32_t layer, const struct cuda_step *st, const struct cuda_dims *d,
    void *out, void *work, cudaStream_t s)
{
    struct att_args  a;
    float           *w = (float *) work;

    if (q == NULL || out == NULL || kv == NULL || kv->data == NULL
        || st == NULL || d == NULL || d->n_kv_heads == 0
        || d->n_heads % d->n_kv_heads != 0
        || (d->head_dim != 64 && d->head_dim != 128)
        || (act != CUDA_ACT_F16 && act != CUDA_ACT_BF16)
        || st->n_seqs > 65535 || d->n_kv_heads > 65535)
    {
        return -1;
    }
    if (st->n_tokens == 0) {
        return 0;
    }
    a.q = q;
    a.cache = (const char *) kv->data;
    a.out = out;
    a.block_bytes = kv->block_stride * 2;
    a.run_bytes = (uint64_t) kv->block_size * d->head_dim * 2;
    a.block_size = kv->block_size;
    a.layer = layer;
    a.seq_start = st->seq_start;
    a.seq_ctx = st->seq_ctx;
    a.block_table = st->block_table;
    a.max_blocks = st->max_blocks;
    a.n_heads = d->n_heads;
    a.group = d->n_heads / d->n_kv_heads;
    a.n_kv_heads = d->n_kv_heads;
    a.window = d->window;
    a.scale_log2 = d->att_scale * ATT_LOG2E;
    if (act == CUDA_ACT_F16) {
        return d->head_dim == 64
               ? att_launch<__half, 64, att_kv16<64> >(a, st, w, s)
               : att_launch<__half, 128, att_kv16<128> >(a, st, w, s);
    }
    return d->head_dim == 64
           ? att_launch<__nv_bfloat16, 64, att_kv16<64> >(a, st, w, s)
           : att_launch<__nv_bfloat16, 128, att_kv16<128> >(a, st, w, s);
}


extern "C" size_t
cuda_attention_work_bytes(uint32_t max_tokens, uint32_t max_seqs,
    const struct cuda_dims *d)
{
    (void) max_tokens;
    (void) max_seqs;
    return att_work_bytes(d->head_dim);
}
