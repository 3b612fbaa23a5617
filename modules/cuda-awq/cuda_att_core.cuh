/*
 * cuda_att_core.cuh -- the flash attention over a paged KV cache that
 * every step takes (cuda_attention.cu has the plan), written once for
 * any way of storing the cache: a KV source class (below) says how a
 * tile of 64 positions' keys and values gets into shared memory as
 * act-type rows.  cuda_attention.cu instantiates it for the engine's
 * 16-bit cache; the int8-kv module (modules/int8-kv/kv_cuda_attention.cu)
 * for its int8 and int4 runs, which it dequantizes in shared memory
 * after they land, so that no 16-bit copy of the cache is ever made.
 *
 * A KV source KV<...> provides
 *
 *   STAGES  tiles in flight + 1 (the one in use)
 *   STAGE   bytes of one tile in flight (its keys and values)
 *   FIXED   bytes of shared memory it needs besides the stages
 *   load(a, p, base, stage)
 *           issues the cp.async copies of tile `base` (positions base ..
 *           base + ATT_BN - 1; those outside p.lo .. p.hi zero, their
 *           blocks never looked up) into the stage at shared address
 *           `stage`, every thread of the CTA taking part;
 *   tiles(stage, fixed, ks, vs)
 *           called by every thread once the stage has landed and the
 *           CTA is past its previous tile: sets ks and vs to the tile's
 *           keys and values as ATT_BN swizzled act rows of HD (att_off),
 *           converting them into `fixed` first if they are not that
 *           already (and then synchronizing the CTA).  A source that
 *           only serves its own decode kernel (which reads the stage
 *           itself) returns the stage's addresses.
 *
 * Run addresses: the run of (block b, layer l, keys 0 / values 1 w, KV
 * head h) starts at cache + b * block_bytes + ((l * 2 + w) * n_kv_heads
 * + h) * run_bytes; a source knows where a slot's numbers sit in a run.
 */

#ifndef CUDA_ATT_CORE_CUH
#define CUDA_ATT_CORE_CUH

#include "cuda_kernels.h"
#include "cuda_pdl.cuh"
#include "cuda_ptx.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>

#define ATT_BM          64          /* query rows per CTA */
#define ATT_BN          64          /* positions per key tile */
#define ATT_WARPS       4
#define ATT_THREADS     (ATT_WARPS * 32)
#define ATT_STAGES      3           /* 16-bit tiles in flight + 1 */
#define ATT_LOG2E       1.4426950408889634f
#define ATT_MAX_PARTS   32
#define ATT_MAX_SMS     256         /* work is sized for this many */


/* The act type's pieces: mma on 16-bit operands with f32 accumulation,
 * packing two f32 into one operand register, storing two outputs. */
template <typename T> struct att_t;

template <> struct att_t<__half> {
    static __device__ __forceinline__ void
    mma(float *c, const uint32_t *a, uint32_t b0, uint32_t b1) {
        ptx_mma_f16(c, a, b0, b1);
    }
    static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
        __half2  h = __floats2half2_rn(lo, hi);
        return *reinterpret_cast<uint32_t *>(&h);
    }
    static __device__ __forceinline__ __half one(float v) {
        return __float2half_rn(v);
    }
};

template <> struct att_t<__nv_bfloat16> {
    static __device__ __forceinline__ void
    mma(float *c, const uint32_t *a, uint32_t b0, uint32_t b1) {
        ptx_mma_bf16(c, a, b0, b1);
    }
    static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
        __nv_bfloat162  h = __floats2bfloat162_rn(lo, hi);
        return *reinterpret_cast<uint32_t *>(&h);
    }
    static __device__ __forceinline__ __nv_bfloat16 one(float v) {
        return __float2bfloat16_rn(v);
    }
};


/* Byte offset of (row, 16-byte chunk) in a swizzled tile of rows of
 * HD elements. */
template <int HD>
static __device__ __forceinline__ uint32_t
att_off(uint32_t row, uint32_t chunk)
{
    return row * (HD * 2) + ((chunk ^ (row & 7)) << 4);
}


struct att_args {
    const void      *q;
    const char      *cache;
    void            *out;
    uint64_t         block_bytes;
    uint64_t         run_bytes;
    uint32_t         block_size;
    uint32_t         layer;
    const uint32_t  *seq_start;
    const uint32_t  *seq_ctx;
    const uint32_t  *block_table;
    uint32_t         max_blocks;
    uint32_t         n_heads;
    uint32_t         group;         /* query heads per KV head */
    uint32_t         n_kv_heads;
    uint32_t         window;
    float            scale_log2;    /* att_scale * log2(e) */
    uint32_t         parts;         /* key-range parts; 1: no split */
    uint32_t         row_tiles;     /* gridDim.x / parts */
    float           *part_o;        /* parts > 1: [slot][HD] unscaled */
    float           *part_ml;       /* [slot][2]: running max, sum */
};


/* A CTA's key/value pipeline over its tiles t0 .. t1 - 1 (tile t at
 * positions tlo + ATT_BN t), KV::STAGES stages of KV::STAGE bytes from
 * st0, then the source's KV::FIXED bytes at fixed.  head_k: the layer's
 * keys run of the CTA's KV head in block 0 (values: + v_off). */
struct att_pipe {
    const char  *head_k;
    uint64_t     v_off;
    uint32_t     seq, tlo, lo, hi, t0, t1, st0, fixed;
};


/* The keys run of position pos's block (values: + p.v_off), and pos's
 * slot in it; pos must be in p.lo .. p.hi. */
static __device__ __forceinline__ const char *
att_run(const struct att_args &a, const struct att_pipe &p, uint32_t pos,
    uint32_t *slot)
{
    const uint32_t  *bt = a.block_table + (size_t) p.seq * a.max_blocks;

    *slot = pos % a.block_size;
    return p.head_k + (size_t) bt[pos / a.block_size] * a.block_bytes;
}


/* The query rows r0 .. r0 + n_rows - 1 into the first `rows` rows of qs
 * (row r: new token r / G, query head kvh * G + r % G); rows past
 * n_rows are zero. */
template <int HD>
static __device__ __forceinline__ void
att_load_q(const struct att_args &a, uint32_t qs, uint32_t rows,
    uint32_t row0, uint32_t r0, uint32_t n_rows, uint32_t kvh)
{
    constexpr uint32_t  CH = HD / 8;
    uint32_t            i, row, ch, j, G = a.group;
    const char         *src;

    for (i = threadIdx.x; i < rows * CH; i += ATT_THREADS) {
        row = i / CH;
        ch = i % CH;
        j = r0 + min(row, n_rows - 1);
        src = (const char *) a.q
              + (((size_t) row0 + j / G) * a.n_heads + kvh * G + j % G)
                * HD * 2 + ch * 16;
        ptx_cp16(qs + att_off<HD>(row, ch), src, row < n_rows ? 16 : 0);
    }
}


/* The pipeline of part `part` (of a.parts) of the positions that query
 * positions q_lo .. q_hi attend to (from the window's start, tiles
 * aligned down), its stages after qbytes of queries at qs. */
template <class KV>
static __device__ __forceinline__ struct att_pipe
att_pipe_init(const struct att_args &a, uint32_t seq, uint32_t kvh,
    uint32_t part, uint32_t q_lo, uint32_t q_hi, uint32_t qs,
    uint32_t qbytes)
{
    struct att_pipe  p;
    uint32_t         n_tiles, per;

    p.seq = seq;
    p.lo = a.window > 0 && q_lo + 1 > a.window ? q_lo + 1 - a.window : 0;
    p.hi = q_hi;
    p.tlo = p.lo & ~(uint32_t) (ATT_BN - 1);
    n_tiles = (p.hi - p.tlo) / ATT_BN + 1;
    per = (n_tiles + a.parts - 1) / a.parts;
    p.t0 = min(part * per, n_tiles);
    p.t1 = min(p.t0 + per, n_tiles);
    p.st0 = qs + qbytes;
    p.fixed = p.st0 + KV::STAGES * KV::STAGE;
    p.head_k = a.cache + ((size_t) a.layer * 2 * a.n_kv_heads + kvh)
                         * a.run_bytes;
    p.v_off = (uint64_t) a.n_kv_heads * a.run_bytes;
    return p;
}


/* The first KV::STAGES - 1 tiles, one copy group each (the first also
 * holds the queries issued before); a group is committed even where
 * there is no tile, so that group counts stay uniform. */
template <class KV>
static __device__ __forceinline__ void
att_kv_start(const struct att_args &a, const struct att_pipe &p)
{
    uint32_t  i;

    for (i = 0; i < KV::STAGES - 1; i++) {
        if (p.t0 + i < p.t1) {
            KV::load(a, p, p.tlo + (p.t0 + i) * ATT_BN,
                     p.st0 + i * KV::STAGE);
        }
        ptx_commit();
    }
}


/* The top of tile it, in every thread: waits for it to land and for
 * every warp to be done with tile it - 1, then issues tile
 * it + KV::STAGES - 1 into that stage, and has the source make the
 * tile's act rows (ks, vs). */
template <class KV>
static __device__ __forceinline__ void
att_kv_next(const struct att_args &a, const struct att_pipe &p,
    uint32_t it, uint32_t *ks, uint32_t *vs)
{
    uint32_t  j = (it - p.t0 + KV::STAGES - 1) % KV::STAGES;

    ptx_wait<KV::STAGES - 2>();
    __syncthreads();
    if (it + KV::STAGES - 1 < p.t1) {
        KV::load(a, p, p.tlo + (it + KV::STAGES - 1) * ATT_BN,
                 p.st0 + j * KV::STAGE);
    }
    ptx_commit();
    KV::tiles(p.st0 + ((it - p.t0) % KV::STAGES) * KV::STAGE, p.fixed, ks,
              vs);
}


/* The mask (causal, window) and online softmax of a thread's two rows
 * (at positions rp[0], rp[1]) over the S registers of NJ * 8 keys from
 * key k0 of the tile at position base, in the mma accumulator layout
 * (row g, keys 2c, 2c + 1 of each 8): S becomes the weights (base-2
 * exponent of S * scale_log2 less the running max), and the running
 * max m, sum l and output o are updated for them. */
template <int HD, int NJ>
static __device__ __forceinline__ void
att_softmax(const struct att_args &a, float (&s)[NJ][4], uint32_t k0,
    uint32_t base, const uint32_t *rp, float (&o)[HD / 8][4], float *m,
    float *l)
{
    uint32_t  c = threadIdx.x % 4, i, j;

#pragma unroll
    for (int r = 0; r < 2; r++) {
        float     mx = -INFINITY, mu, corr, sum = 0.0f;
        uint32_t  wlo = a.window > 0 && rp[r] + 1 > a.window
                        ? rp[r] + 1 - a.window : 0;

#pragma unroll
        for (j = 0; j < NJ; j++) {
#pragma unroll
            for (int e = 0; e < 2; e++) {
                uint32_t  p = base + k0 + j * 8 + c * 2 + e;
                float     v = s[j][r * 2 + e] * a.scale_log2;

                v = p <= rp[r] && p >= wlo ? v : -INFINITY;
                s[j][r * 2 + e] = v;
                mx = fmaxf(mx, v);
            }
        }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        mx = fmaxf(mx, m[r]);
        mu = mx == -INFINITY ? 0.0f : mx;   /* all masked so far */
        corr = exp2f(m[r] - mu);            /* 0 when m was -inf */
        m[r] = mx;
#pragma unroll
        for (j = 0; j < NJ; j++) {
#pragma unroll
            for (int e = 0; e < 2; e++) {
                float  w = exp2f(s[j][r * 2 + e] - mu);

                s[j][r * 2 + e] = w;
                sum += w;
            }
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        l[r] = l[r] * corr + sum;
        /* once the rows' maxima settle (most tiles of a long context),
         * corr is 1 in the whole warp and the rescale is skipped */
        if (__any_sync(0xffffffffu, corr != 1.0f)) {
#pragma unroll
            for (i = 0; i < HD / 8; i++) {
                o[i][r * 2] *= corr;
                o[i][r * 2 + 1] *= corr;
            }
        }
    }

}


/* One key tile for a warp's 16 query rows (from shared row qrow) against
 * the NJ * 8 keys of the tile from key k0 (positions base + k0 ..):
 * S = Q K^T (mma, f32), the mask (causal, window) and online softmax of
 * the thread's two rows (at positions rp[0], rp[1]; base-2 exponent),
 * then O += P V with P rounded to the act type straight from the S
 * registers (the accumulator layout of S is the operand layout of P). */
template <typename T, int HD, int NJ, bool QREG>
static __device__ __forceinline__ void
att_tile(const struct att_args &a, uint32_t qs, const uint32_t *qf,
    uint32_t ks, uint32_t vs, uint32_t qrow, uint32_t k0, uint32_t base,
    const uint32_t *rp, float (&o)[HD / 8][4], float *m, float *l)
{
    uint32_t  lane = threadIdx.x % 32, j, kk;
    float     s[NJ][4];

#pragma unroll
    for (j = 0; j < NJ; j++) {
        s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
    }
#pragma unroll
    for (kk = 0; kk < HD / 16; kk++) {
        uint32_t  qa[4];

        if (QREG) {
            qa[0] = qf[kk * 4];
            qa[1] = qf[kk * 4 + 1];
            qa[2] = qf[kk * 4 + 2];
            qa[3] = qf[kk * 4 + 3];
        } else {
            ptx_ldsm4(qa, qs + att_off<HD>(qrow + lane % 16,
                                           kk * 2 + lane / 16));
        }
#pragma unroll
        for (j = 0; j < NJ; j += 2) {
            uint32_t  kb[4];

            ptx_ldsm4(kb, ks + att_off<HD>(k0 + j * 8 + (lane / 16) * 8
                                           + lane % 8,
                                           kk * 2 + (lane / 8) % 2));
            att_t<T>::mma(s[j], qa, kb[0], kb[1]);
            att_t<T>::mma(s[j + 1], qa, kb[2], kb[3]);
        }
    }

    att_softmax<HD, NJ>(a, s, k0, base, rp, o, m, l);

#pragma unroll
    for (kk = 0; kk < NJ / 2; kk++) {
        uint32_t  pa[4];

        pa[0] = att_t<T>::pack(s[2 * kk][0], s[2 * kk][1]);
        pa[1] = att_t<T>::pack(s[2 * kk][2], s[2 * kk][3]);
        pa[2] = att_t<T>::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]);
        pa[3] = att_t<T>::pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
        for (j = 0; j < HD / 8; j += 2) {
            uint32_t  vb[4];

            ptx_ldsm4_t(vb, vs + att_off<HD>(k0 + kk * 16
                                             + ((lane / 8) % 2) * 8
                                             + lane % 8, j + lane / 16));
            att_t<T>::mma(o[j], pa, vb[0], vb[1]);
            att_t<T>::mma(o[j + 1], pa, vb[2], vb[3]);
        }
    }
}


/* Row r of a tile is (new token r / group, query head kv_head * group +
 * r % group): the query heads sharing a KV head share its key and value
 * tiles, so a decode step of a GQA model fills group rows of one tile
 * and reads each cached position once per KV head. */
template <typename T, int HD, class KV>
static __global__ void __launch_bounds__(ATT_THREADS)
att_kernel(const struct att_args a)
{
    pdl_wait();                 /* cuda_pdl.cuh */
    pdl_trigger();

    extern __shared__ __align__(128) char att_sm[];     /* Q|stages|fixed */
    uint32_t            seq = blockIdx.z, kvh = blockIdx.y;
    uint32_t            rt = blockIdx.x / a.parts, part = blockIdx.x % a.parts;
    uint32_t            warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    uint32_t            g = lane / 4, c = lane % 4, G = a.group;
    uint32_t            row0, n_new, first, n_rows, r0, it, i, j;
    uint32_t            qs, rp[2], ks, vs;
    struct att_pipe     pipe;
    float               o[HD / 8][4];
    float               m[2] = { -INFINITY, -INFINITY }, l[2] = { 0, 0 };
    bool                busy;

    row0 = a.seq_start[seq];
    n_new = a.seq_start[seq + 1] - row0;
    r0 = rt * ATT_BM;                       /* the tile's first row */
    if (r0 >= n_new * G) {
        return;
    }
    first = a.seq_ctx[seq] - n_new;         /* position of new token 0 */
    n_rows = min(n_new * G - r0, (uint32_t) ATT_BM);
    busy = warp * 16 < n_rows;
    qs = ptx_smem(att_sm);
    pipe = att_pipe_init<KV>(a, seq, kvh, part, first + r0 / G,
                             first + (r0 + n_rows - 1) / G, qs,
                             ATT_BM * HD * 2);

    att_load_q<HD>(a, qs, ATT_BM, row0, r0, n_rows, kvh);
    att_kv_start<KV>(a, pipe);
    for (i = 0; i < HD / 8; i++) {
        o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    }
    /* This thread's two rows' positions (rows g and g + 8 of the warp);
     * rows past the tokens take the last valid one (never stored). */
    rp[0] = first + (r0 + min(warp * 16 + g, n_rows - 1)) / G;
    rp[1] = first + (r0 + min(warp * 16 + g + 8, n_rows - 1)) / G;

    for (it = pipe.t0; it < pipe.t1; it++) {
        att_kv_next<KV>(a, pipe, it, &ks, &vs);
        if (busy) {
            att_tile<T, HD, ATT_BN / 8, false>(a, qs, NULL, ks, vs,
                                               warp * 16, 0,
                                               pipe.tlo + it * ATT_BN, rp,
                                               o, m, l);
        }
    }

    ptx_wait<0>();                          /* an empty part's queries */
    if (!busy) {
        return;
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        uint32_t  t = warp * 16 + g + r * 8;
        float     inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
        size_t    slot;
        T        *dst;

        if (t >= n_rows) {
            continue;
        }
        if (a.parts > 1) {
            /* This part's unscaled output, max and sum, for the combine */
            slot = ((((size_t) seq * a.n_kv_heads + kvh) * a.row_tiles + rt)
                    * a.parts + part) * ATT_BM + t;
            float  *po = a.part_o + slot * HD;
#pragma unroll
            for (j = 0; j < HD / 8; j++) {
                *reinterpret_cast<float2 *>(po + j * 8 + c * 2) =
                    make_float2(o[j][r * 2], o[j][r * 2 + 1]);
            }
            if (c == 0) {
                *reinterpret_cast<float2 *>(a.part_ml + slot * 2) =
                    make_float2(m[r], l[r]);
            }
            continue;
        }
        dst = (T *) a.out + (((size_t) row0 + (r0 + t) / G) * a.n_heads
                             + kvh * G + (r0 + t) % G) * HD;
#pragma unroll
        for (j = 0; j < HD / 8; j++) {
            *reinterpret_cast<uint32_t *>(dst + j * 8 + c * 2) =
                att_t<T>::pack(o[j][r * 2] * inv, o[j][r * 2 + 1] * inv);
        }
    }
}


/* Column n of output tile j (mma accumulator layout) is dimension
 * j * 8 + n, or with DPERM the dimension the int8-kv decode kernel's
 * value loads put there: 4 n + j % 4 + 32 (j / 4), so that one 4-byte
 * load of a value row serves four tiles. */
template <bool DPERM>
static __device__ __forceinline__ uint32_t
att_dim(uint32_t j, uint32_t n)
{
    return DPERM ? 4 * n + j % 4 + 32 * (j / 4) : j * 8 + n;
}


/* The end of a decode CTA whose four warps each hold (max, sum,
 * unscaled output) of the same n_rows rows over a quarter of the keys:
 * merged through shared memory mo ([4][16][HD + 2] floats, free now:
 * the caller has waited for every copy and synchronized), then stored
 * as the output, or as part `part`'s partials for att_combine. */
template <typename T, int HD, bool DPERM>
static __device__ __forceinline__ void
att_dec_merge(const struct att_args &a, float *mo, float (&o)[HD / 8][4],
    const float *m, const float *l, uint32_t seq, uint32_t kvh,
    uint32_t part, uint32_t row0, uint32_t n_rows)
{
    uint32_t  warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    uint32_t  g = lane / 4, c = lane % 4, G = a.group, i, j;

#pragma unroll
    for (int r = 0; r < 2; r++) {
        float  *rowp = mo + ((size_t) warp * 16 + g + r * 8) * (HD + 2);

#pragma unroll
        for (j = 0; j < HD / 8; j++) {
            rowp[att_dim<DPERM>(j, c * 2)] = o[j][r * 2];
            rowp[att_dim<DPERM>(j, c * 2 + 1)] = o[j][r * 2 + 1];
        }
        if (c == 0) {
            rowp[HD] = m[r];
            rowp[HD + 1] = l[r];
        }
    }
    __syncthreads();
    for (i = threadIdx.x; i < n_rows * HD; i += ATT_THREADS) {
        uint32_t  r = i / HD, d = i % HD, w;
        float     mx = -INFINITY, sum = 0.0f, acc = 0.0f, f;

        for (w = 0; w < ATT_WARPS; w++) {
            mx = fmaxf(mx, mo[(w * 16 + r) * (HD + 2) + HD]);
        }
        for (w = 0; w < ATT_WARPS; w++) {
            const float  *rowp = mo + (w * 16 + r) * (HD + 2);

            if (rowp[HD + 1] == 0.0f) {
                continue;                   /* no key of this warp */
            }
            f = exp2f(rowp[HD] - mx);
            sum += rowp[HD + 1] * f;
            acc += rowp[d] * f;
        }
        if (a.parts > 1) {
            size_t  slot = (((size_t) seq * a.n_kv_heads + kvh) * a.parts
                            + part) * 16 + r;

            a.part_o[slot * HD + d] = acc;
            if (d == 0) {
                a.part_ml[slot * 2] = mx;
                a.part_ml[slot * 2 + 1] = sum;
            }
        } else {
            T  *dst = (T *) a.out + (((size_t) row0 + r / G) * a.n_heads
                                     + kvh * G + r % G) * HD;

            dst[d] = att_t<T>::one(sum > 0.0f ? acc / sum : 0.0f);
        }
    }
}


/* A decode CTA (one sequence's new token, KV head blockIdx.y, part
 * blockIdx.x of the key range; its G <= 16 query rows in one tile):
 * the rows, the queries at qs, this thread's rows' positions and the
 * key/value pipeline. */
struct att_dec {
    uint32_t         row0;          /* the token's row of q and out */
    uint32_t         n_rows;        /* n_new * G */
    uint32_t         qs;
    uint32_t         rp[2];
    struct att_pipe  pipe;
};


/* The start of a decode CTA: its rows, the queries' copy and the first
 * tiles' in flight (one group), o zeroed. */
template <class KV, int HD>
static __device__ __forceinline__ void
att_dec_begin(const struct att_args &a, char *sm, struct att_dec *d,
    float (&o)[HD / 8][4])
{
    uint32_t  seq = blockIdx.z, kvh = blockIdx.y, G = a.group;
    uint32_t  g = threadIdx.x % 32 / 4, n_new, first, i;

    d->row0 = a.seq_start[seq];
    n_new = a.seq_start[seq + 1] - d->row0;
    d->n_rows = n_new * G;                  /* <= 16 */
    first = a.seq_ctx[seq] - n_new;
    d->qs = ptx_smem(sm);
    d->pipe = att_pipe_init<KV>(a, seq, kvh, blockIdx.x, first,
                                first + (d->n_rows - 1) / G, d->qs,
                                16 * HD * 2);
    att_load_q<HD>(a, d->qs, 16, d->row0, 0, d->n_rows, kvh);
    att_kv_start<KV>(a, d->pipe);
    for (i = 0; i < HD / 8; i++) {
        o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    }
    d->rp[0] = first + min(g, d->n_rows - 1) / G;
    d->rp[1] = first + min(g + 8, d->n_rows - 1) / G;
}


/* The end of a decode CTA: once every copy has landed and every warp is
 * done, the warps' rows merged (att_dec_merge) over the stages. */
template <typename T, int HD, bool DPERM>
static __device__ __forceinline__ void
att_dec_end(const struct att_args &a, char *sm, const struct att_dec *d,
    float (&o)[HD / 8][4], const float *m, const float *l)
{
    ptx_wait<0>();
    __syncthreads();
    att_dec_merge<T, HD, DPERM>(a, reinterpret_cast<float *>(sm
                                                             + 16 * HD * 2),
                                o, m, l, blockIdx.z, blockIdx.y, blockIdx.x,
                                d->row0, d->n_rows);
}


/* Decode steps (one new token a sequence, G <= 16 query heads a KV
 * head): the G rows fit one warp's 16, so the four warps split each key
 * tile instead -- warp w scores positions 16 w .. 16 w + 15 of every
 * tile and keeps its own running max, sum and output for them -- and
 * merge the four at the end through shared memory.  All four compute,
 * where the row-tiled kernel would leave three idle. */
template <typename T, int HD, class KV>
static __global__ void __launch_bounds__(ATT_THREADS)
att_dec_kernel(const struct att_args a)
{
    pdl_wait();                 /* cuda_pdl.cuh */
    pdl_trigger();

    extern __shared__ __align__(128) char att_sm[];     /* Q|stages|fixed */
    uint32_t            warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    uint32_t            it, i, ks, vs;
    struct att_dec      d;
    uint32_t            qf[HD / 16 * 4];
    float               o[HD / 8][4];
    float               m[2] = { -INFINITY, -INFINITY }, l[2] = { 0, 0 };

    att_dec_begin<KV, HD>(a, att_sm, &d, o);
    for (it = d.pipe.t0; it < d.pipe.t1; it++) {
        att_kv_next<KV>(a, d.pipe, it, &ks, &vs);
        if (it == d.pipe.t0) {
            /* the queries landed with the first tile: into registers,
             * where every tile's S = Q K^T takes them from */
            for (i = 0; i < HD / 16; i++) {
                ptx_ldsm4(qf + i * 4, d.qs + att_off<HD>(lane % 16,
                                                         i * 2 + lane / 16));
            }
        }
        att_tile<T, HD, 2, true>(a, d.qs, qf, ks, vs, 0, warp * 16,
                                 d.pipe.tlo + it * ATT_BN, d.rp, o, m, l);
    }
    att_dec_end<T, HD, false>(a, att_sm, &d, o, m, l);
}


/* Combines the parts of a split step in part order (deterministic): one
 * warp per row, lanes over head_dim; BM: the splitting kernel's rows per
 * CTA (the partials' row stride). */
template <typename T, int HD, int BM>
static __global__ void __launch_bounds__(128)
att_combine(const struct att_args a)
{
    pdl_wait();                 /* cuda_pdl.cuh */
    pdl_trigger();

    uint32_t  seq = blockIdx.z, kvh = blockIdx.y, G = a.group;
    uint32_t  rg = blockIdx.x * 4 + threadIdx.x / 32, lane = threadIdx.x % 32;
    uint32_t  row0, n_new, rt, t, p, i;
    size_t    slot;
    float     mx = -INFINITY, sum = 0.0f, w, acc[HD / 32];
    T        *dst;

    row0 = a.seq_start[seq];
    n_new = a.seq_start[seq + 1] - row0;
    if (rg >= n_new * G) {
        return;
    }
    rt = rg / BM;
    t = rg % BM;
    slot = (((size_t) seq * a.n_kv_heads + kvh) * a.row_tiles + rt)
           * a.parts * BM + t;
    for (p = 0; p < a.parts; p++) {
        mx = fmaxf(mx, a.part_ml[(slot + (size_t) p * BM) * 2]);
    }
    for (i = 0; i < HD / 32; i++) {
        acc[i] = 0.0f;
    }
    for (p = 0; p < a.parts; p++) {
        const float  *ml = a.part_ml + (slot + (size_t) p * BM) * 2;
        const float  *po = a.part_o + (slot + (size_t) p * BM) * HD;

        if (ml[1] == 0.0f) {
            continue;                       /* an empty part */
        }
        w = exp2f(ml[0] - mx);
        sum += ml[1] * w;
        for (i = 0; i < HD / 32; i++) {
            acc[i] += po[i * 32 + lane] * w;
        }
    }
    dst = (T *) a.out + (((size_t) row0 + rg / G) * a.n_heads + kvh * G
                         + rg % G) * HD;
    for (i = 0; i < HD / 32; i++) {
        dst[i * 32 + lane] = att_t<T>::one(acc[i] / sum);
    }
}


static int
att_sms(void)
{
    static int  sms;
    int         dev;

    if (sms == 0) {
        if (cudaGetDevice(&dev) != cudaSuccess
            || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount,
                                      dev) != cudaSuccess)
        {
            sms = 108;
        }
        sms = sms < ATT_MAX_SMS ? sms : ATT_MAX_SMS;
    }
    return sms;
}


/* Parts of the key range: enough CTAs for one wave of two per SM.  For
 * decode steps this depends on n_seqs alone (a captured graph keeps it
 * while the contexts grow; any number of parts gives the same result).
 * parts > 1 only where ctas * parts <= 2 * ATT_MAX_SMS, which bounds the
 * partials cuda_attention_work_bytes() holds. */
static uint32_t
att_parts(const struct cuda_step *st, uint32_t ctas)
{
    uint32_t  p = 2u * (uint32_t) att_sms() / ctas, cap;

    if (!st->decode) {
        cap = (st->max_ctx + 2 * ATT_BN - 1) / (2 * ATT_BN);
        p = p < cap ? p : cap;      /* two key tiles a part at least */
    }
    return p < 1 ? 1 : p > ATT_MAX_PARTS ? ATT_MAX_PARTS : p;
}


/* Lets kernel take smem bytes of dynamic shared memory, once: *done
 * (a static of the caller's, one per kernel) remembers what was set. */
static int
att_smem_opt_in(void (*kernel)(const struct att_args), size_t smem,
    size_t *done)
{
    if (*done < smem) {
        if (cudaFuncSetAttribute(kernel,
                                 cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int) smem) != cudaSuccess)
        {
            return -1;
        }
        *done = smem;
    }
    return 0;
}


/* Launches a step: att_kernel over KV, or for decode steps (G <= 16)
 * dec_kernel over the source DKV (NULL: att_dec_kernel), then
 * att_combine where the key range is split. */
template <typename T, int HD, class KV, class DKV = KV>
static int
att_launch(struct att_args &a, const struct cuda_step *st, float *work,
    cudaStream_t s, void (*dec_kernel)(const struct att_args) = NULL)
{
    static size_t  tile_set, dec_set;      /* att_smem_opt_in's */
    size_t         kv = (size_t) KV::STAGES * KV::STAGE + KV::FIXED;
    size_t         dkv = (size_t) DKV::STAGES * DKV::STAGE + DKV::FIXED;
    size_t         smem = (size_t) ATT_BM * HD * 2 + kv;
    dim3           grid(1, a.n_kv_heads, st->n_seqs);
    bool           dec = st->decode && a.group <= 16;
    int            bm = dec ? 16 : ATT_BM;

    a.row_tiles = dec ? 1 : (st->max_seq_tokens * a.group + ATT_BM - 1)
                            / ATT_BM;
    a.parts = work != NULL ? att_parts(st, a.row_tiles * a.n_kv_heads
                                           * st->n_seqs) : 1;
    a.part_o = work;
    a.part_ml = work + (size_t) 2 * ATT_MAX_SMS * ATT_BM * HD;
    grid.x = a.row_tiles * a.parts;
    if (dec) {
        smem = (size_t) 16 * HD * 2 + dkv;
        static_assert(ATT_WARPS * 16 * (HD + 2) * 4
                      <= DKV::STAGES * DKV::STAGE + DKV::FIXED,
                      "the merge fits the stages");
        if (dec_kernel == NULL) {
            dec_kernel = att_dec_kernel<T, HD, DKV>;
        }
        if (att_smem_opt_in(dec_kernel, smem, &dec_set) != 0) {
            return -1;
        }
        pdl_launch(dec_kernel, grid, ATT_THREADS, smem, s, a);
    } else {
        if (att_smem_opt_in(att_kernel<T, HD, KV>, smem, &tile_set) != 0) {
            return -1;
        }
        pdl_launch(att_kernel<T, HD, KV>, grid, ATT_THREADS, smem, s, a);
    }
    if (a.parts > 1) {
        grid.x = (a.row_tiles * bm + 3) / 4;
        if (dec) {
            pdl_launch(att_combine<T, HD, 16>, grid, 128, 0, s, a);
        } else {
            pdl_launch(att_combine<T, HD, ATT_BM>, grid, 128, 0, s, a);
        }
    }
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}


/* The partials of a split launch: at most 2 * ATT_MAX_SMS CTAs of
 * ATT_BM rows, each an f32 output row and its max and sum. */
static size_t
att_work_bytes(uint32_t head_dim)
{
    return (size_t) 2 * ATT_MAX_SMS * ATT_BM * (head_dim + 2)
           * sizeof(float);
}

#endif /* CUDA_ATT_CORE_CUH */
