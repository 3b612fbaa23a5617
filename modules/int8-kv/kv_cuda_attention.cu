/*
 * kv_cuda_attention.cu -- attention over the int8-kv module's runs on
 * the GPU (format in kv_cuda.h), and the CUDA hook tables.
 *
 * The tensor-core path is the engine's own flash attention
 * (modules/cuda-awq/cuda_att_core.cuh: tiles of 64 positions in flight
 * by cp.async, S = Q K^T and O += P V on mma, online softmax) given a KV
 * source that copies a tile's codes and (lo, step) pairs -- 0.53 (int8)
 * or 0.28 (int4) of the 16-bit tile's bytes at head_dim 128 -- and, once
 * they have landed, dequantizes them into act rows in shared memory
 * (kvr_p: bf16 in f32, f16 in half2 arithmetic), for prompt chunks and
 * mixed steps.  Decode steps take kvr_dec_kernel, which builds its mma
 * operands from the codes in registers (below, "decode, in registers").
 * No 16-bit copy of the cache exists outside a CTA's one tile.
 *
 * The generic path (any even head_dim up to 256: stories260K's 8) is one
 * warp per (new token, query head), as the engine's cuda_attn_generic.cu,
 * reading codes directly: f32 throughout.
 */

#include "kv_cuda.h"
#include "cuda_act.cuh"
#include "cuda_att_warp.cuh"
#include "cuda_att_core.cuh"

#include <type_traits>

#ifndef KVA_STAGES
#define KVA_STAGES      3           /* tiles in flight + 1 */
#endif
#define KVA_GEN_WARPS   4
#define KVA_GEN_DIMS    8           /* head_dim / 32, rounded up */


/* --------------------------------------------------- tensor-core path */

/* Codes to numbers, two at a time.  A byte permutation makes the f16
 * pair (1024 + q0, 1024 + q1) from two codes (0x6400 | q is 1024 + q);
 * kvr_p<T>::num turns it into the act pair lo + q step of the two
 * positions' (lo, step): f16 in half2 arithmetic (minus 1024, one fma
 * with (lo, step) rounded to f16: 2^-12 of 255 steps (int8) more error
 * than one rounding), bf16 in f32 with one rounding. */
#define KVA_1024        0x64646464u

template <typename T>
struct kvr_p {
    float  lo0, st0, lo1, st1;

    __device__ __forceinline__ void
    set(uint2 a, uint2 b)
    {
        lo0 = __uint_as_float(a.x);
        st0 = __uint_as_float(a.y);
        lo1 = __uint_as_float(b.x);
        st1 = __uint_as_float(b.y);
    }

    __device__ __forceinline__ uint32_t
    num(uint32_t w) const
    {
        return att_t<T>::pack(fmaf((float) (w & 0xffu), st0, lo0),
                              fmaf((float) ((w >> 16) & 0xffu), st1, lo1));
    }
};

template <>
struct kvr_p<__half> {
    __half2  lo, st;

    __device__ __forceinline__ void
    set(uint2 a, uint2 b)
    {
        lo = __floats2half2_rn(__uint_as_float(a.x), __uint_as_float(b.x));
        st = __floats2half2_rn(__uint_as_float(a.y), __uint_as_float(b.y));
    }

    __device__ __forceinline__ uint32_t
    num(uint32_t w) const
    {
        __half2  h = __hfma2(__hsub2(*reinterpret_cast<__half2 *>(&w),
                                     __float2half2_rn(1024.0f)), st, lo);

        return *reinterpret_cast<uint32_t *>(&h);
    }
};


/* Codes s0 and s1 of the eight bytes of (w0, w1) (0..3 w0's, 4..7
 * w1's) as the f16 pair (1024 + q0, 1024 + q1). */
static __device__ __forceinline__ uint32_t
kvr_pair(uint32_t w0, uint32_t w1, uint32_t s0, uint32_t s1)
{
    return __byte_perm(__byte_perm(w0, w1, s0 | (s1 << 4)), KVA_1024,
                       0x4140u);
}


/* Eight codes (the bytes of w0 then w1) of one position as one 16-byte
 * chunk of act at shared dst. */
template <typename T>
static __device__ __forceinline__ void
kva_chunk(uint32_t dst, uint32_t w0, uint32_t w1, const kvr_p<T> &p)
{
    ptx_sts128(dst, p.num(__byte_perm(w0, KVA_1024, 0x4140u)),
               p.num(__byte_perm(w0, KVA_1024, 0x4342u)),
               p.num(__byte_perm(w1, KVA_1024, 0x4140u)),
               p.num(__byte_perm(w1, KVA_1024, 0x4342u)));
}


/* The int8 / int4 runs as a KV source (cuda_att_core.cuh).  A stage is
 * keys then values, each the tile's (lo, step) pairs then its rows of
 * codes; `fixed` holds the dequantized act tiles, keys then values. */
template <typename T, int HD, int BITS>
struct att_kvq {
    static constexpr uint32_t  RB = HD * BITS / 8;      /* code bytes */
    static constexpr uint32_t  CH = RB / 16;            /* 16-B chunks */
    static constexpr uint32_t  PB = ATT_BN * 8;         /* pairs */
    static constexpr uint32_t  HALF = PB + ATT_BN * RB;
    static constexpr uint32_t  STAGES = KVA_STAGES;
    static constexpr uint32_t  STAGE = 2 * HALF;
    static constexpr uint32_t  TILE = ATT_BN * HD * 2;
    static constexpr uint32_t  FIXED = 2 * TILE;

    static __device__ __forceinline__ void
    load(const struct att_args &a, const struct att_pipe &p, uint32_t base,
        uint32_t stage)
    {
        size_t      pbytes = kv_cuda_params_bytes(a.block_size);
        uint32_t    i, row, ch, pos, slot = 0;
        bool        in;
        const char *run;

        for (i = threadIdx.x; i < ATT_BN * (CH + 1); i += ATT_THREADS) {
            row = i / (CH + 1);
            ch = i % (CH + 1);
            pos = base + row;
            in = pos >= p.lo && pos <= p.hi;
            run = in ? att_run(a, p, pos, &slot) : p.head_k;
            if (ch == CH) {
                const char  *src = run + (size_t) slot * 8;

                ptx_cp8(stage + row * 8, src, in ? 8 : 0);
                ptx_cp8(stage + HALF + row * 8, src + p.v_off, in ? 8 : 0);
            } else {
                const char  *src = run + pbytes + (size_t) slot * RB
                                   + ch * 16;
                uint32_t     dst = stage + PB + row * RB + ch * 16;

                ptx_cp16(dst, src, in ? 16 : 0);
                ptx_cp16(dst + HALF, src + p.v_off, in ? 16 : 0);
            }
        }
    }

    static __device__ __forceinline__ void
    tiles(uint32_t stage, uint32_t fixed, uint32_t *ks, uint32_t *vs)
    {
        /* a thread takes 16 code bytes of a row: int8 two chunks of act,
         * int4 four (dims j.. from the low nibbles, j + HD/2.. from the
         * high ones) */
        constexpr uint32_t  PER_ROW = RB / 16;
        uint32_t            i, w, j, row, c, src, dst;
        uint2               ls;
        uint4               b;

#pragma unroll 2
        for (i = threadIdx.x; i < 2 * ATT_BN * PER_ROW; i += ATT_THREADS) {
            w = i / (ATT_BN * PER_ROW);
            j = i % (ATT_BN * PER_ROW);
            row = j / PER_ROW;
            c = j % PER_ROW;
            src = stage + w * HALF;
            dst = fixed + w * TILE;
            ls = ptx_lds64(src + row * 8);
            b = ptx_lds128(src + PB + row * RB + c * 16);

            kvr_p<T>    dq;

            dq.set(ls, ls);
            if (BITS == 8) {
                /* 8 items a row (head_dim 128): the upper four store
                 * their odd chunk first, so that a quarter warp's stores
                 * hit 8 distinct 16-byte bank groups */
                uint32_t  f = PER_ROW == 8 ? c >> 2 : 0;

                kva_chunk<T>(dst + att_off<HD>(row, c * 2 + f),
                             f ? b.z : b.x, f ? b.w : b.y, dq);
                kva_chunk<T>(dst + att_off<HD>(row, c * 2 + 1 - f),
                             f ? b.x : b.z, f ? b.y : b.w, dq);
            } else {
                const uint32_t  m = 0x0f0f0f0fu;

                kva_chunk<T>(dst + att_off<HD>(row, c * 2), b.x & m,
                             b.y & m, dq);
                kva_chunk<T>(dst + att_off<HD>(row, c * 2 + 1), b.z & m,
                             b.w & m, dq);
                kva_chunk<T>(dst + att_off<HD>(row, c * 2 + HD / 16),
                             (b.x >> 4) & m, (b.y >> 4) & m, dq);
                kva_chunk<T>(dst + att_off<HD>(row, c * 2 + 1 + HD / 16),
                             (b.z >> 4) & m, (b.w >> 4) & m, dq);
            }
        }
        __syncthreads();
        *ks = fixed;
        *vs = fixed + TILE;
    }
};


/* ------------------------------------------------ decode, in registers */

/* Decode steps take another source and kernel: the raw tile stays in
 * shared memory as it landed (rows padded by 16 bytes, so that the
 * loads below hit distinct banks) and each warp builds its mma operands
 * from it in registers -- no act tile, no second pass through shared
 * memory, which bounded the converting source at about half the
 * bandwidth floor.
 *
 *   S = Q K^T   The operand of key n holds head dims 4c .. 4c + 3 of
 *               each 16 (one 4-byte load), where mma's k order wants
 *               2c, 2c + 1, 2c + 8, 2c + 9: the queries are loaded in
 *               the same order, and the dot product does not care.
 *   O += P V    P comes as in att_tile; the value operand of output
 *               column n of tile j is head dim 4n + j % 4 + 32 (j / 4)
 *               (att_dim), so one 4-byte load of a value row serves four
 *               output tiles; the merge puts the dims back in order.
 *
 * Codes go into the operands two at a time, permuted into the f16 pair
 * (1024 + q0, 1024 + q1): f16 (kvr_tile_f16) takes that pair as it is
 * and applies the scales outside the mma; bf16 (kvr_tile) turns it into
 * lo + q step in f32 first (kvr_p). */
template <int HD, int BITS>
struct att_kvr {
    static constexpr uint32_t  RB = HD * BITS / 8;
    static constexpr uint32_t  RS = RB + 16;            /* row stride */
    static constexpr uint32_t  CH = RB / 16;
    static constexpr uint32_t  PB = ATT_BN * 8;
    static constexpr uint32_t  HALF = PB + ATT_BN * RS;
    static constexpr uint32_t  STAGES = 3;
    static constexpr uint32_t  STAGE = 2 * HALF;
    static constexpr uint32_t  FIXED = 0;

    /* two threads a row: the row's block looked up once, its chunks
     * (codes, then the (lo, step) pair as chunk CH) split between the
     * two */
    static __device__ __forceinline__ void
    load(const struct att_args &a, const struct att_pipe &p, uint32_t base,
        uint32_t stage)
    {
        static_assert(ATT_THREADS == 2 * ATT_BN, "two threads a row");
        size_t      pbytes = kv_cuda_params_bytes(a.block_size);
        uint32_t    row = threadIdx.x / 2, k, ch, pos = base + row, slot = 0;
        bool        in = pos >= p.lo && pos <= p.hi;
        const char *run = in ? att_run(a, p, pos, &slot) : p.head_k;
        const char *src = run + pbytes + (size_t) slot * RB;
        uint32_t    dst = stage + PB + row * RS;

#pragma unroll
        for (k = 0; k <= CH / 2; k++) {
            ch = 2 * k + threadIdx.x % 2;
            if (ch > CH) {
                break;
            }
            if (ch == CH) {
                ptx_cp8(stage + row * 8, run + (size_t) slot * 8,
                        in ? 8 : 0);
                ptx_cp8(stage + HALF + row * 8,
                        run + (size_t) slot * 8 + p.v_off, in ? 8 : 0);
            } else {
                ptx_cp16(dst + ch * 16, src + ch * 16, in ? 16 : 0);
                ptx_cp16(dst + HALF + ch * 16, src + ch * 16 + p.v_off,
                         in ? 16 : 0);
            }
        }
    }

    static __device__ __forceinline__ void
    tiles(uint32_t stage, uint32_t fixed, uint32_t *ks, uint32_t *vs)
    {
        (void) fixed;
        *ks = stage;
        *vs = stage + HALF;
    }
};


/* One warp's 16 keys (from k0) of a tile in registers: S, the softmax,
 * then O += P V (see above). */
template <typename T, int HD, int BITS>
static __device__ __forceinline__ void
kvr_tile(const struct att_args &a, const uint32_t *qf, uint32_t ks,
    uint32_t vs, uint32_t k0, uint32_t base, const uint32_t *rp,
    float (&o)[HD / 8][4], float *m, float *l)
{
    typedef att_kvr<HD, BITS>  R;
    constexpr uint32_t  KW = BITS == 8 ? HD / 16 : HD / 32; /* K words */
    constexpr uint32_t  VW = BITS == 8 ? HD / 32 : HD / 64; /* V words */
    uint32_t            lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
    uint32_t            j, kk, q, e, key;
    float               s[2][4];
    kvr_p<T>            pk;

#pragma unroll
    for (j = 0; j < 2; j++) {
        s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
        key = k0 + j * 8 + g;
        uint2  ls = ptx_lds64(ks + key * 8);

        pk.set(ls, ls);
#pragma unroll
        for (kk = 0; kk < KW; kk++) {
            uint32_t  w = ptx_lds32(ks + R::PB + key * R::RS + kk * 16
                                    + c * 4);
#pragma unroll
            for (uint32_t h = 0; h < (BITS == 8 ? 1u : 2u); h++) {
                uint32_t  wh = BITS == 8 ? w : (w >> (4 * h)) & 0x0f0f0f0fu;
                uint32_t  b0 = pk.num(__byte_perm(wh, KVA_1024, 0x4140u));
                uint32_t  b1 = pk.num(__byte_perm(wh, KVA_1024, 0x4342u));

                att_t<T>::mma(s[j], qf + (kk + h * KW) * 4, b0, b1);
            }
        }
    }

    att_softmax<HD, 2>(a, s, k0, base, rp, o, m, l);

    uint32_t  pa[4];

    pa[0] = att_t<T>::pack(s[0][0], s[0][1]);
    pa[1] = att_t<T>::pack(s[0][2], s[0][3]);
    pa[2] = att_t<T>::pack(s[1][0], s[1][1]);
    pa[3] = att_t<T>::pack(s[1][2], s[1][3]);

    /* keys k0 + 2c, + 1 (operand register 0) and k0 + 8 + 2c, + 1 (1) */
    kvr_p<T>  pv[2];

#pragma unroll
    for (e = 0; e < 2; e++) {
        key = k0 + e * 8 + c * 2;
        pv[e].set(ptx_lds64(vs + key * 8), ptx_lds64(vs + key * 8 + 8));
    }
#pragma unroll
    for (q = 0; q < VW; q++) {
        uint32_t  w[4];

#pragma unroll
        for (e = 0; e < 4; e++) {
            key = k0 + (e / 2) * 8 + c * 2 + e % 2;
            w[e] = ptx_lds32(vs + R::PB + key * R::RS + q * 32 + g * 4);
        }
#pragma unroll
        for (uint32_t h = 0; h < (BITS == 8 ? 1u : 2u); h++) {
            uint32_t  x[4];

#pragma unroll
            for (e = 0; e < 4; e++) {
                x[e] = BITS == 8 ? w[e] : (w[e] >> (4 * h)) & 0x0f0f0f0fu;
            }
#pragma unroll
            for (e = 0; e < 4; e++) {
                /* output tile 4 (q + h VW) + e: byte e of each row */
                uint32_t  b0 = pv[0].num(kvr_pair(x[0], x[1], e, 4 + e));
                uint32_t  b1 = pv[1].num(kvr_pair(x[2], x[3], e, 4 + e));

                att_t<T>::mma(o[4 * (q + h * VW) + e], pa, b0, b1);
            }
        }
    }
}


/* sum(Q) of the thread's rows g and g + 8 from its query registers
 * (n k-steps of 4), the quad's four shares added. */
static __device__ __forceinline__ void
kvr_qsum(const uint32_t *qf, uint32_t n, float *qsum)
{
    uint32_t  i;

    qsum[0] = qsum[1] = 0.0f;
    for (i = 0; i < n; i++) {
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float2  a = __half22float2(*reinterpret_cast<const __half2 *>(
                                           &qf[i * 4 + r]));
            float2  b = __half22float2(*reinterpret_cast<const __half2 *>(
                                           &qf[i * 4 + 2 + r]));

            qsum[r] += (a.x + a.y) + (b.x + b.y);
        }
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        qsum[r] += __shfl_xor_sync(0xffffffffu, qsum[r], 1);
        qsum[r] += __shfl_xor_sync(0xffffffffu, qsum[r], 2);
    }
}


/* kvr_tile for f16, with the scales folded out of the operands: the
 * codes go into the mma as the exact f16 numbers 1024 + q (one byte
 * permutation a pair, nothing else), and
 *
 *   S_p  = step_p (Q . (1024 + q_p)) + (lo_p - 1024 step_p) sum(Q)
 *   O   += sum_p P'_p (1024 + q_p) + sum_p (P_p lo_p - 1024 P'_p)
 *
 * with P'_p = P_p step_p rounded to f16 for the mma (the second sum, a
 * number per row, uses that same rounded P', so the two agree to f32
 * rounding: O = sum_p P_p lo_p + P'_p q_p).  The f32 accumulators lose
 * about 10 bits to the 1024s, far below the codes' own error.  qsum:
 * sum(Q) of the thread's rows g, g + 8; ob: the rows' second sums,
 * this thread's share (rescaled with o; the caller adds them up). */
template <int HD, int BITS>
static __device__ __forceinline__ void
kvr_tile_f16(const struct att_args &a, const uint32_t *qf, const float *qsum,
    uint32_t ks, uint32_t vs, uint32_t k0, uint32_t base, const uint32_t *rp,
    float (&o)[HD / 8][4], float *m, float *l, float *ob)
{
    typedef att_kvr<HD, BITS>  R;
    constexpr uint32_t  KW = BITS == 8 ? HD / 16 : HD / 32;
    constexpr uint32_t  VW = BITS == 8 ? HD / 32 : HD / 64;
    constexpr uint32_t  H = BITS == 8 ? 1 : 2;
    uint32_t            lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
    uint32_t            j, kk, q, e, h, key, pa[4];
    float               s[2][4], mold[2] = { m[0], m[1] };

#pragma unroll
    for (j = 0; j < 2; j++) {
        s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
        key = k0 + j * 8 + g;
#pragma unroll
        for (kk = 0; kk < KW; kk++) {
            uint32_t  w = ptx_lds32(ks + R::PB + key * R::RS + kk * 16
                                    + c * 4);
#pragma unroll
            for (h = 0; h < H; h++) {
                uint32_t  wh = BITS == 8 ? w : (w >> (4 * h)) & 0x0f0f0f0fu;

                ptx_mma_f16(s[j], qf + (kk + h * KW) * 4,
                            __byte_perm(wh, KVA_1024, 0x4140u),
                            __byte_perm(wh, KVA_1024, 0x4342u));
            }
        }
    }
    /* the scales of columns 2c, 2c + 1 of each 8 keys */
#pragma unroll
    for (j = 0; j < 2; j++) {
#pragma unroll
        for (e = 0; e < 2; e++) {
            uint2  ls = ptx_lds64(ks + (k0 + j * 8 + c * 2 + e) * 8);
            float  lo = __uint_as_float(ls.x), st = __uint_as_float(ls.y);
            float  b = fmaf(-1024.0f, st, lo);

            s[j][e] = fmaf(st, s[j][e], b * qsum[0]);
            s[j][2 + e] = fmaf(st, s[j][2 + e], b * qsum[1]);
        }
    }

    att_softmax<HD, 2>(a, s, k0, base, rp, o, m, l);
#pragma unroll
    for (int r = 0; r < 2; r++) {
        /* att_softmax rescaled o by exp2(m_old - m_new); ob likewise */
        float  mu = m[r] == -INFINITY ? 0.0f : m[r];

        ob[r] *= exp2f(mold[r] - mu);
    }

    /* P' = P step (rounded to f16), and the rows' second sums */
#pragma unroll
    for (j = 0; j < 2; j++) {
        uint2   l0 = ptx_lds64(vs + (k0 + j * 8 + c * 2) * 8);
        uint2   l1 = ptx_lds64(vs + (k0 + j * 8 + c * 2 + 1) * 8);
        float   lo0 = __uint_as_float(l0.x), st0 = __uint_as_float(l0.y);
        float   lo1 = __uint_as_float(l1.x), st1 = __uint_as_float(l1.y);

#pragma unroll
        for (int r = 0; r < 2; r++) {
            __half2  pp = __floats2half2_rn(s[j][r * 2] * st0,
                                            s[j][r * 2 + 1] * st1);
            float2   pf = __half22float2(pp);

            ob[r] += fmaf(s[j][r * 2], lo0, fmaf(s[j][r * 2 + 1], lo1,
                          -1024.0f * (pf.x + pf.y)));
            pa[j * 2 + r] = *reinterpret_cast<uint32_t *>(&pp);
        }
    }

#pragma unroll
    for (q = 0; q < VW; q++) {
        uint32_t  w[4];

#pragma unroll
        for (e = 0; e < 4; e++) {
            key = k0 + (e / 2) * 8 + c * 2 + e % 2;
            w[e] = ptx_lds32(vs + R::PB + key * R::RS + q * 32 + g * 4);
        }
#pragma unroll
        for (h = 0; h < H; h++) {
            uint32_t  x[4], i01, i23, j01, j23;

#pragma unroll
            for (e = 0; e < 4; e++) {
                x[e] = BITS == 8 ? w[e] : (w[e] >> (4 * h)) & 0x0f0f0f0fu;
            }
            /* bytes e of the rows 2c, 2c + 1 (and 8 + ...) side by side */
            i01 = __byte_perm(x[0], x[1], 0x5140u);
            i23 = __byte_perm(x[0], x[1], 0x7362u);
            j01 = __byte_perm(x[2], x[3], 0x5140u);
            j23 = __byte_perm(x[2], x[3], 0x7362u);
#pragma unroll
            for (e = 0; e < 4; e++) {
                uint32_t  sel = e % 2 == 0 ? 0x4140u : 0x4342u;

                ptx_mma_f16(o[4 * (q + h * VW) + e], pa,
                            __byte_perm(e < 2 ? i01 : i23, KVA_1024, sel),
                            __byte_perm(e < 2 ? j01 : j23, KVA_1024, sel));
            }
        }
    }
}


/* Decode steps over int8 / int4 runs: att_dec_kernel with kvr_tile. */
template <typename T, int HD, int BITS>
static __global__ void __launch_bounds__(ATT_THREADS, 3)
kvr_dec_kernel(const struct att_args a)
{
    pdl_wait();                 /* cuda_pdl.cuh */
    pdl_trigger();

    typedef att_kvr<HD, BITS>  KV;
    extern __shared__ __align__(128) char att_sm[];     /* Q | stages */
    uint32_t            warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    uint32_t            g = lane / 4, c = lane % 4;
    uint32_t            it, i, ks, vs;
    struct att_dec      d;
    uint32_t            qf[HD / 16 * 4];
    float               o[HD / 8][4];
    float               m[2] = { -INFINITY, -INFINITY }, l[2] = { 0, 0 };
    float               qsum[2] = { 0, 0 }, ob[2] = { 0, 0 };

    att_dec_begin<KV, HD>(a, att_sm, &d, o);
    for (it = d.pipe.t0; it < d.pipe.t1; it++) {
        att_kv_next<KV>(a, d.pipe, it, &ks, &vs);
        if (it == d.pipe.t0) {
            /* the queries, in the k order of kvr_tile: dims 16 kk + 4c
             * .. + 3 of rows g and g + 8 */
            for (i = 0; i < HD / 16; i++) {
                uint32_t  ch = i * 2 + c / 2, in = (c % 2) * 8;
                uint2     r0 = ptx_lds64(d.qs + att_off<HD>(g, ch) + in);
                uint2     r8 = ptx_lds64(d.qs + att_off<HD>(g + 8, ch) + in);

                qf[i * 4] = r0.x;
                qf[i * 4 + 1] = r8.x;
                qf[i * 4 + 2] = r0.y;
                qf[i * 4 + 3] = r8.y;
            }
            kvr_qsum(qf, HD / 16, qsum);
        }
        if (std::is_same<T, __half>::value) {
            kvr_tile_f16<HD, BITS>(a, qf, qsum, ks, vs, warp * 16,
                                   d.pipe.tlo + it * ATT_BN, d.rp, o, m, l,
                                   ob);
        } else {
            kvr_tile<T, HD, BITS>(a, qf, ks, vs, warp * 16,
                                  d.pipe.tlo + it * ATT_BN, d.rp, o, m, l);
        }
    }
    if (std::is_same<T, __half>::value) {
        /* the rows' second sums (kvr_tile_f16), added to every column */
#pragma unroll
        for (int r = 0; r < 2; r++) {
            ob[r] += __shfl_xor_sync(0xffffffffu, ob[r], 1);
            ob[r] += __shfl_xor_sync(0xffffffffu, ob[r], 2);
#pragma unroll
            for (i = 0; i < HD / 8; i++) {
                o[i][r * 2] += ob[r];
                o[i][r * 2 + 1] += ob[r];
            }
        }
    }
    att_dec_end<T, HD, true>(a, att_sm, &d, o, m, l);
}


static void
kva_args(struct att_args *t, const struct lmd_kv_cuda_args *a,
    const void *q, void *out)
{
    t->q = q;
    t->cache = (const char *) a->cache;
    t->out = out;
    t->block_bytes = a->block_bytes;
    t->run_bytes = a->run_bytes;
    t->block_size = a->block_size;
    t->layer = a->layer;
    t->seq_start = a->seq_start;
    t->seq_ctx = a->seq_ctx;
    t->block_table = a->block_table;
    t->max_blocks = a->max_blocks;
    t->n_heads = a->n_heads;
    t->group = a->n_heads / a->n_kv_heads;
    t->n_kv_heads = a->n_kv_heads;
    t->window = a->window;
    t->scale_log2 = a->att_scale * ATT_LOG2E;
}


template <typename T, int HD>
static int
kva_tc(struct att_args &t, const struct lmd_kv_cuda_args *a, unsigned bits,
    void *work)
{
    struct cuda_step  st;

    /* att_launch reads the step's host values only */
    st.n_tokens = a->n_tokens;
    st.n_seqs = a->n_seqs;
    st.max_seq_tokens = a->max_seq_tokens;
    st.max_ctx = a->max_ctx;
    st.max_blocks = a->max_blocks;
    st.decode = a->decode;
    if (bits == 8) {
        return att_launch<T, HD, att_kvq<T, HD, 8>, att_kvr<HD, 8> >(
                   t, &st, (float *) work, (cudaStream_t) a->stream,
                   kvr_dec_kernel<T, HD, 8>);
    }
    return att_launch<T, HD, att_kvq<T, HD, 4>, att_kvr<HD, 4> >(
               t, &st, (float *) work, (cudaStream_t) a->stream,
               kvr_dec_kernel<T, HD, 4>);
}


extern "C" int
kv_cuda_attention_tc(const struct lmd_kv_cuda_args *a, unsigned bits,
    const void *q, void *out, void *work)
{
    struct att_args  t;

    if (a == NULL || q == NULL || out == NULL || a->cache == NULL
        || a->n_kv_heads == 0 || a->n_heads % a->n_kv_heads != 0
        || (a->head_dim != 64 && a->head_dim != 128)
        || (a->act != 0 && a->act != 1) || (bits != 8 && bits != 4)
        || a->n_seqs > 65535 || a->n_kv_heads > 65535)
    {
        return -1;
    }
    if (a->n_tokens == 0) {
        return 0;
    }
    kva_args(&t, a, q, out);
    if (a->act == 0) {
        return a->head_dim == 64 ? kva_tc<__half, 64>(t, a, bits, work)
                                 : kva_tc<__half, 128>(t, a, bits, work);
    }
    return a->head_dim == 64 ? kva_tc<__nv_bfloat16, 64>(t, a, bits, work)
                             : kva_tc<__nv_bfloat16, 128>(t, a, bits, work);
}


/* ------------------------------------------------------- generic path */

/* Number d of a stored row of hd: lo + q step. */
template <int BITS>
static __device__ __forceinline__ float
kva_num(const uint8_t *codes, uint32_t d, uint32_t hd, float2 ls)
{
    unsigned  q = BITS == 8 ? codes[d]
                  : d < hd / 2 ? codes[d] & 15u : codes[d - hd / 2] >> 4;

    return fmaf((float) q, ls.y, ls.x);
}


template <typename T, int BITS>
static __global__ void
kva_gen_kernel(const struct lmd_kv_cuda_args a, const T *q, T *out)
{
    pdl_wait();                 /* cuda_pdl.cuh */
    pdl_trigger();

    extern __shared__ float  kva_q[];           /* [KVA_GEN_WARPS][hd] */
    uint32_t                 warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    uint32_t                 t = blockIdx.x, hd = a.head_dim;
    uint32_t                 h = blockIdx.y * KVA_GEN_WARPS + warp;
    uint32_t                 seq, pos, lo, kvh, base, p, j, d, i, bs;
    uint32_t                 blk = 0;
    float                   *qs = kva_q + warp * hd;
    float                    acc[KVA_GEN_DIMS], m = -INFINITY, l = 0.0f;
    float                    s, w, wj;
    size_t                   pbytes, rb, v_off;
    const char              *head_k;

    if (h >= a.n_heads) {
        return;
    }
    seq = a.tok_seq[t];
    pos = a.tok_pos[t];
    kvh = h / (a.n_heads / a.n_kv_heads);
    bs = a.block_size;
    lo = a.window > 0 && pos + 1 > a.window ? pos + 1 - a.window : 0;
    pbytes = kv_cuda_params_bytes(bs);
    rb = (size_t) hd * BITS / 8;
    head_k = (const char *) a.cache
             + ((size_t) a.layer * 2 * a.n_kv_heads + kvh) * a.run_bytes;
    v_off = (size_t) a.n_kv_heads * a.run_bytes;

    for (d = lane; d < hd; d += 32) {
        qs[d] = act_f32(q[((size_t) t * a.n_heads + h) * hd + d])
                * a.att_scale;
    }
    for (i = 0; i < KVA_GEN_DIMS; i++) {
        acc[i] = 0.0f;
    }
    __syncwarp();

    for (base = lo; base <= pos; base += 32) {
        p = base + lane;
        s = -INFINITY;
        if (p <= pos) {
            const char  *run;
            float2       ls;

            blk = a.block_table[(size_t) seq * a.max_blocks + p / bs];
            run = head_k + (size_t) blk * a.block_bytes;
            ls = reinterpret_cast<const float2 *>(run)[p % bs];
            run += pbytes + (p % bs) * rb;
            s = 0.0f;
            for (d = 0; d < hd; d++) {
                s = fmaf(qs[d], kva_num<BITS>((const uint8_t *) run, d, hd,
                                              ls), s);
            }
        }
        w = att_warp_softmax(s, p <= pos, &m, &l, acc);
        for (j = 0; j < 32 && base + j <= pos; j++) {
            uint32_t     sl = (base + j) % bs;
            const char  *vrun = head_k + v_off
                                + (size_t) __shfl_sync(0xffffffffu, blk, j)
                                  * a.block_bytes;
            float2       ls = reinterpret_cast<const float2 *>(vrun)[sl];
            const uint8_t *codes = (const uint8_t *) vrun + pbytes + sl * rb;

            wj = __shfl_sync(0xffffffffu, w, j);
            for (i = 0, d = lane; d < hd; i++, d += 32) {
                acc[i] = fmaf(wj, kva_num<BITS>(codes, d, hd, ls), acc[i]);
            }
        }
    }

    for (i = 0, d = lane; d < hd; i++, d += 32) {
        out[((size_t) t * a.n_heads + h) * hd + d] = act_round<T>(acc[i] / l);
    }
}


template <typename T>
static int
kva_gen(const struct lmd_kv_cuda_args *a, unsigned bits, const void *q,
    void *out)
{
    dim3    grid(a->n_tokens, (a->n_heads + KVA_GEN_WARPS - 1)
                              / KVA_GEN_WARPS);
    size_t  smem = (size_t) KVA_GEN_WARPS * a->head_dim * sizeof(float);

    if (bits == 8) {
        pdl_launch(kva_gen_kernel<T, 8>, grid, KVA_GEN_WARPS * 32, smem,
                   (cudaStream_t) a->stream, *a, (const T *) q, (T *) out);
    } else {
        pdl_launch(kva_gen_kernel<T, 4>, grid, KVA_GEN_WARPS * 32, smem,
                   (cudaStream_t) a->stream, *a, (const T *) q, (T *) out);
    }
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}


extern "C" int
kv_cuda_attention_generic(const struct lmd_kv_cuda_args *a, unsigned bits,
    const void *q, void *out)
{
    if (a == NULL || q == NULL || out == NULL || a->cache == NULL
        || a->head_dim == 0 || a->head_dim % 2 != 0
        || a->head_dim > 32 * KVA_GEN_DIMS || a->n_kv_heads == 0
        || a->n_heads % a->n_kv_heads != 0 || (bits != 8 && bits != 4)
        || a->n_tokens > 2147483647u)
    {
        return -1;
    }
    if (a->n_tokens == 0) {
        return 0;
    }
    if (a->act == 0) {
        return kva_gen<__half>(a, bits, q, out);
    }
    if (a->act == 1) {
        return kva_gen<__nv_bfloat16>(a, bits, q, out);
    }
    return -1;
}


/* ------------------------------------------------------------- hooks */

extern "C" size_t
kv_cuda_work_bytes(uint32_t max_tokens, uint32_t max_seqs,
    uint32_t head_dim)
{
    (void) max_tokens;
    (void) max_seqs;
    return att_work_bytes(head_dim);
}


static size_t
kva_run_bytes8(uint32_t positions, uint32_t head_dim)
{
    return kv_cuda_run_bytes(positions, head_dim, 8);
}


static size_t
kva_run_bytes4(uint32_t positions, uint32_t head_dim)
{
    return kv_cuda_run_bytes(positions, head_dim, 4);
}


static int
kva_write8(const struct lmd_kv_cuda_args *a, const void *qkv,
    const float *bias, void *q_out)
{
    return kv_cuda_write(a, 8, qkv, bias, q_out);
}


static int
kva_write4(const struct lmd_kv_cuda_args *a, const void *qkv,
    const float *bias, void *q_out)
{
    return kv_cuda_write(a, 4, qkv, bias, q_out);
}


/* The tensor cores where they take the shape, else the generic path. */
static int
kva_attend(const struct lmd_kv_cuda_args *a, unsigned bits, const void *q,
    void *out, void *work)
{
    if (a != NULL && (a->head_dim == 64 || a->head_dim == 128)) {
        return kv_cuda_attention_tc(a, bits, q, out, work);
    }
    return kv_cuda_attention_generic(a, bits, q, out);
}


static int
kva_attend8(const struct lmd_kv_cuda_args *a, const void *q, void *out,
    void *work)
{
    return kva_attend(a, 8, q, out, work);
}


static int
kva_attend4(const struct lmd_kv_cuda_args *a, const void *q, void *out,
    void *work)
{
    return kva_attend(a, 4, q, out, work);
}


extern "C" const struct lmd_kv_codec_cuda  kv_cuda_int8 = {
    kva_run_bytes8, kv_cuda_work_bytes, kva_write8, kva_attend8, { NULL }
};

extern "C" const struct lmd_kv_codec_cuda  kv_cuda_int4 = {
    kva_run_bytes4, kv_cuda_work_bytes, kva_write4, kva_attend4, { NULL }
};
