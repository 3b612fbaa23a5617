/*
 * awq_gemv.cu -- W4A16 GEMV for decode batches (m = 1..16 rows), bound
 * by reading the weights once (v5; v1-v4 and their numbers are in
 * tests/gpu/NOTES.md).
 *
 * Layout.  The AutoAWQ matrix is repacked once at load time
 * (awq_gemv_pack) into the order in which the kernel's lanes consume
 * it, so that every warp streams whole 512-byte runs, as the dense GEMV
 * does.  Output columns go by tiles of 16 (mma's A rows), K by chunks of
 * 64.  The 16 x 64 nibbles of (tile t, chunk kc) are 512 contiguous
 * bytes: lane (g, c) = (lane / 4, lane % 4) holds one 16-byte vector of
 * 4 words, for columns g and g + 8 and the 16 inputs k0 = 64 kc + 16 c
 * .. k0 + 15, so that its x values are two 16-byte loads.  Word 2p + h
 * holds in nibbles n and n + 4 column g + 8 (n / 2) at inputs k0 + 8p +
 * 2h + 4 (n % 2) and the one after.  The order of k inside a chunk is
 * the kernel's choice: mma sums over k, and A (weights) and B (x)
 * fragments follow the same order.  Scales and zeros: per (tile, group)
 * 8 pairs of 8 bytes, f16 (s_g, s_g+8) and (1024 + z_g, 1024 + z_g+8).
 *
 * Arithmetic.  An and/or with 0x6400 (f16 1024) turns nibbles 0 and 4
 * of a word into half2 (1024 + q, 1024 + q') and nibbles 1 and 5 into
 * (1024 + 16 q, ...), both exact; nibbles 2, 3, 6, 7 the same after one
 * shift by 8.  These "low" and "high" registers feed two mmas (l, h).
 * Where a chunk lies in one group (group a multiple of 64) nothing else
 * is done per weight: two more mmas with A all ones sum the x of the
 * low and of the high inputs, and the chunk adds s (l - (1024 + z) xl +
 * (h - (1024 + 16 z) xh) / 16) to the f32 sums -- the offsets and the
 * zero come off once per output, and no weight is rounded (closer than
 * the reference's f16 weights).  For groups of 16 and 32 each register
 * is made exact q - z or 16 (q - z) by HSUB2 and scaled in f16 first,
 * rounded once as lmd_awq_dequant_rows does.  Per 8 weights (m <= 8):
 * 1 shift, 4 LOP3 and two mmas; ~2.5 instructions a chunk-lane weight
 * with loads, addressing and the per-chunk scaling.
 *
 * Work split.  A CTA is 8 warps: 8 / ks tiles side by side times ks
 * slices of K (contiguous chunk ranges); ks is picked so that the grid
 * gives about 16 warps an SM.  A lane keeps the weights of the next 3
 * chunks in flight (16 bytes each, no L1 allocation; the first ones
 * issued before the wait for the previous kernel, cuda_pdl.cuh); x and
 * the scales go through L1 (every warp reads them), one chunk ahead.
 * The slices' sums meet in shared memory and are added in slice order,
 * so results do not depend on timing.
 */

#include "awq_kernels.h"
#include "cuda_pdl.cuh"
#include "cuda_ptx.cuh"

#include <stdlib.h>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define GV_WARPS        8
#define GV_TILE         16              /* output columns a tile */
#define GV_CHUNK        64              /* inputs a chunk */
#define GV_MAGIC        0x64006400u     /* half2 (1024, 1024) */
#define GV_KS_MAX       8
#ifndef GV_MINB                         /* CTAs an SM the registers allow */
#define GV_MINB         3
#endif
#ifndef GV_MINB2                        /* the same for m > 8 */
#define GV_MINB2        2
#endif



/* half2 (1024 + z, 1024 + z') -> (1024 + 16 z, 1024 + 16 z'), exactly:
 * (1024 + z) 16 - 15360. */
static __device__ __forceinline__ uint32_t
gv_zero16(uint32_t zl)
{
    uint32_t  r;

    asm("fma.rn.f16x2 %0, %1, %2, %3;"
        : "=r"(r) : "r"(zl), "r"(0x4c004c00u), "r"(0xf380f380u));
    return r;
}



/* (w & mask) | 0x64006400 in one LOP3: mask 0x000f000f gives half2
 * (1024 + q, 1024 + q') of nibbles 0 and 4, 0x00f000f0 (1024 + 16 q,
 * 1024 + 16 q') of nibbles 1 and 5; both exact. */
template <uint32_t MASK>
static __device__ __forceinline__ uint32_t
gv_nib2(uint32_t w)
{
    uint32_t  r;

    asm("lop3.b32 %0, %1, %2, %3, 0xea;"
        : "=r"(r) : "r"(w), "n"(MASK), "n"(GV_MAGIC));
    return r;
}



/* What a lane needs of one chunk besides its weights: the scale and
 * zero pair of its columns g and g + 8, and its x words (inputs 16 c ..
 * 16 c + 15 of rows g and 8 + g). */
template <int NB>
struct gv_side {
    uint2     sz;               /* half2 (s_g, s_g8), (1024 + z_g, .._g8) */
    uint32_t  x[NB][8];
};


template <int NB>
static __device__ __forceinline__ void
gv_load_side(struct gv_side<NB> *d, const struct awq_args &a,
    const uint2 *sp, int gshift, int g, int k)
{
    d->sz = __ldg(sp + (size_t) (k >> gshift) * 8);
#pragma unroll
    for (int nb = 0; nb < NB; nb++) {
        int  row = 8 * nb + g;

        if (row < a.m) {
            const uint4  *p = reinterpret_cast<const uint4 *>(
                                  a.x + (size_t) row * a.in + k);
            uint4         v0 = __ldg(p), v1 = __ldg(p + 1);

            d->x[nb][0] = v0.x; d->x[nb][1] = v0.y;
            d->x[nb][2] = v0.z; d->x[nb][3] = v0.w;
            d->x[nb][4] = v1.x; d->x[nb][5] = v1.y;
            d->x[nb][6] = v1.z; d->x[nb][7] = v1.w;
        } else {
#pragma unroll
            for (int i = 0; i < 8; i++) {
                d->x[nb][i] = 0;
            }
        }
    }
}


/*
 * One chunk: 4 words, each giving two "low" A registers (1024 + q) and
 * two "high" ones (1024 + 16 q), for the l and h mmas.
 *
 * FOLD (the chunk lies in one group): no per-weight work beyond the
 * LOP3.  Two more mmas with A all ones sum the x of the low and of the
 * high inputs (xl, xh), and the chunk adds s (l - (1024 + z) xl + (h -
 * (1024 + 16 z) xh) / 16) to acc in f32: the 1024s and the zero come off
 * once per output, not per weight.  Otherwise
 * (groups of 16 and 32: each lane's 16 inputs lie in one group) every
 * weight is made exact q - z by HSUB2 and scaled in f16, and l and h run
 * on over all chunks.
 */
template <int NB, bool FOLD>
static __device__ __forceinline__ void
gv_chunk(float (*acc)[4], float (*l)[4], float (*h)[4], uint4 w,
    const struct gv_side<NB> &d)
{
    const uint32_t  words[4] = { w.x, w.y, w.z, w.w };
    const uint32_t  ones[4] = { 0x3c003c00u, 0x3c003c00u, 0x3c003c00u,
                                0x3c003c00u };
    float           xl[NB][4], xh[NB][4];

    if (FOLD) {
#pragma unroll
        for (int nb = 0; nb < NB; nb++) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                l[nb][r] = 0.0f;
                h[nb][r] = 0.0f;
                xl[nb][r] = 0.0f;
                xh[nb][r] = 0.0f;
            }
        }
    }
#pragma unroll
    for (int p = 0; p < 2; p++) {
        uint32_t  u0 = words[2 * p], u1 = words[2 * p + 1];
        uint32_t  v0 = u0 >> 8, v1 = u1 >> 8;
        uint32_t  al[4], ah[4];

        al[0] = gv_nib2<0x000f000fu>(u0);
        al[1] = gv_nib2<0x000f000fu>(v0);
        al[2] = gv_nib2<0x000f000fu>(u1);
        al[3] = gv_nib2<0x000f000fu>(v1);
        ah[0] = gv_nib2<0x00f000f0u>(u0);
        ah[1] = gv_nib2<0x00f000f0u>(v0);
        ah[2] = gv_nib2<0x00f000f0u>(u1);
        ah[3] = gv_nib2<0x00f000f0u>(v1);
        if (!FOLD) {
            const uint32_t  zl = d.sz.y, zh = gv_zero16(zl);
            const uint32_t  zlg = __byte_perm(zl, 0, 0x1010);
            const uint32_t  zlh = __byte_perm(zl, 0, 0x3232);
            const uint32_t  zhg = __byte_perm(zh, 0, 0x1010);
            const uint32_t  zhh = __byte_perm(zh, 0, 0x3232);
            const uint32_t  sg = __byte_perm(d.sz.x, 0, 0x1010);
            const uint32_t  sh = __byte_perm(d.sz.x, 0, 0x3232);

            al[0] = ptx_hmul2(ptx_hsub2(al[0], zlg), sg);
            al[1] = ptx_hmul2(ptx_hsub2(al[1], zlh), sh);
            al[2] = ptx_hmul2(ptx_hsub2(al[2], zlg), sg);
            al[3] = ptx_hmul2(ptx_hsub2(al[3], zlh), sh);
            ah[0] = ptx_hmul2(ptx_hsub2(ah[0], zhg), sg);
            ah[1] = ptx_hmul2(ptx_hsub2(ah[1], zhh), sh);
            ah[2] = ptx_hmul2(ptx_hsub2(ah[2], zhg), sg);
            ah[3] = ptx_hmul2(ptx_hsub2(ah[3], zhh), sh);
        }
#pragma unroll
        for (int nb = 0; nb < NB; nb++) {
            ptx_mma_f16(l[nb], al, d.x[nb][4 * p], d.x[nb][4 * p + 1]);
            ptx_mma_f16(h[nb], ah, d.x[nb][4 * p + 2], d.x[nb][4 * p + 3]);
            if (FOLD) {
                ptx_mma_f16(xl[nb], ones, d.x[nb][4 * p],
                            d.x[nb][4 * p + 1]);
                ptx_mma_f16(xh[nb], ones, d.x[nb][4 * p + 2],
                            d.x[nb][4 * p + 3]);
            }
        }
    }
    if (FOLD) {
        const float2  s = __half22float2(
                              *reinterpret_cast<const __half2 *>(&d.sz.x));
        const float2  z = __half22float2(
                              *reinterpret_cast<const __half2 *>(&d.sz.y));

        /* z: 1024 + z of columns g and g + 8; (1024 + 16 z) / 16 is
         * z - 960 */
#pragma unroll
        for (int nb = 0; nb < NB; nb++) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                float  zl = r < 2 ? z.x : z.y;
                float  t = fmaf(h[nb][r], 0.0625f, l[nb][r]);

                t = fmaf(-zl, xl[nb][r], t);
                t = fmaf(960.0f - zl, xh[nb][r], t);
                acc[nb][r] = fmaf(r < 2 ? s.x : s.y, t, acc[nb][r]);
            }
        }
    }
}


/* NB row blocks of 8 (m <= 8: 1); each lane keeps the weights of the
 * next 3 chunks in flight in a ring of 4 register sets (unrolled by 4,
 * so no copies), x and scales one chunk ahead. */
template <int NB, bool FOLD>
static __global__ void
__launch_bounds__(GV_WARPS * 32, NB == 1 ? GV_MINB : GV_MINB2)
gv4_kernel(struct awq_args a, int ks, int gshift)
{
    __shared__ float  part[GV_WARPS][NB][4][32];
    const int         warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int         g = lane / 4, c = lane % 4;
    const int         slice = warp % ks;
    const int         t = blockIdx.x * (GV_WARPS / ks) + warp / ks;
    const int         ntiles = a.out / GV_TILE, nchunks = a.in / GV_CHUNK;
    const int         ngroups = a.in >> gshift;
    const int         per = (nchunks + ks - 1) / ks;
    const int         i0 = slice * per;
    const int         i1 = i0 + per < nchunks ? i0 + per : nchunks;
    float             acc[NB][4], l[NB][4], h[NB][4];

#pragma unroll
    for (int nb = 0; nb < NB; nb++) {
#pragma unroll
        for (int r = 0; r < 4; r++) {
            acc[nb][r] = 0.0f;
            l[nb][r] = 0.0f;
            h[nb][r] = 0.0f;
        }
    }

    const int           n = t < ntiles && i0 < i1 ? i1 - i0 : 0;
    const uint4        *wp = reinterpret_cast<const uint4 *>(a.gv_w)
                             + ((size_t) t * nchunks + i0) * 32 + lane;
    uint4               w[4];

    /* The weights are no kernel's output: the first loads go out before
     * waiting for the previous kernel (cuda_pdl.cuh), x after. */
#pragma unroll
    for (int u = 0; u < 3; u++) {
        if (u < n) {
            w[u] = ptx_ld_stream(wp + u * 32);
        }
    }
    pdl_wait();
    pdl_trigger();

    if (n > 0) {
        const uint2       *sp = reinterpret_cast<const uint2 *>(a.gv_sz)
                                + (size_t) t * ngroups * 8 + g;
        struct gv_side<NB> d[2];

        gv_load_side<NB>(&d[0], a, sp, gshift, g, i0 * GV_CHUNK + 16 * c);
        for (int j = 0; j < n; j += 4) {
#pragma unroll
            for (int u = 0; u < 4; u++) {
                if (j + u < n) {
                    if (j + u + 3 < n) {
                        w[(u + 3) & 3] = ptx_ld_stream(wp + (j + u + 3) * 32);
                    }
                    if (j + u + 1 < n) {
                        gv_load_side<NB>(&d[(u + 1) & 1], a, sp, gshift, g,
                                         (i0 + j + u + 1) * GV_CHUNK
                                         + 16 * c);
                    }
                    gv_chunk<NB, FOLD>(acc, l, h, w[u], d[u & 1]);
                }
            }
        }
    }
    if (!FOLD) {
#pragma unroll
        for (int nb = 0; nb < NB; nb++) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                acc[nb][r] = fmaf(h[nb][r], 0.0625f, l[nb][r]);
            }
        }
    }

    if (ks > 1) {
#pragma unroll
        for (int nb = 0; nb < NB; nb++) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                part[warp][nb][r][lane] = acc[nb][r];
            }
        }
        __syncthreads();
        if (slice != 0) {
            return;
        }
        for (int s = 1; s < ks; s++) {
#pragma unroll
            for (int nb = 0; nb < NB; nb++) {
#pragma unroll
                for (int r = 0; r < 4; r++) {
                    acc[nb][r] += part[warp + s][nb][r][lane];
                }
            }
        }
    }
    if (t >= ntiles) {
        return;
    }

    /* acc[nb][r]: column 16 t + g + 8 (r / 2), x row 8 nb + 2 c + r % 2 */
#pragma unroll
    for (int nb = 0; nb < NB; nb++) {
#pragma unroll
        for (int r = 0; r < 4; r++) {
            int     row = 8 * nb + 2 * c + (r & 1);
            int     col = GV_TILE * t + g + 8 * (r >> 1);
            size_t  o = (size_t) row * a.out + col;

            if (row < a.m) {
                if (a.y_add) {
                    ((float *) a.y)[o] += acc[nb][r];
                } else {
                    ((__half *) a.y)[o] = __float2half_rn(acc[nb][r]);
                }
            }
        }
    }
}


/*
 * The repack (one thread a word, one thread a scale pair; at load time
 * only).  Nibble of column n in an AutoAWQ word: AutoAWQ's order
 * [0,2,4,6,1,3,5,7] puts column 2i at nibble i and 2i + 1 at 4 + i.
 */
static __device__ __forceinline__ uint32_t
gv_q(const int32_t *q, int cols8, int row, int n)
{
    int  pos = (n & 1) ? 4 + (n & 7) / 2 : (n & 7) / 2;

    return ((uint32_t) q[(size_t) row * cols8 + n / 8] >> (4 * pos)) & 15;
}


static __global__ void
gv_pack_w(const int32_t *qw, int in, int out, uint32_t *dst)
{
    const size_t  nw = (size_t) in * out / 8;
    const int     nchunks = in / GV_CHUNK;

    for (size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x; i < nw;
         i += (size_t) gridDim.x * blockDim.x)
    {
        int       j = (int) (i % 4), lane = (int) (i / 4 % 32);
        int       kc = (int) (i / 128 % nchunks);
        int       t = (int) (i / 128 / nchunks);
        int       g = lane / 4, c = lane % 4;
        int       k = kc * GV_CHUNK + 16 * c + 8 * (j / 2) + 2 * (j % 2);
        uint32_t  v = 0;

        /* nibbles n and n + 4: column g + 8 (n / 2), inputs k + 4 (n % 2)
         * and the one after (module comment) */
        for (int n = 0; n < 4; n++) {
            int  col = GV_TILE * t + g + 8 * (n / 2), kk = k + 4 * (n % 2);

            v |= gv_q(qw, out / 8, kk, col) << (4 * n);
            v |= gv_q(qw, out / 8, kk + 1, col) << (4 * n + 16);
        }
        dst[i] = v;
    }
}


/* Per (tile, group, g): half2 (s_g, s_g+8) and (1024 + z_g, 1024 +
 * z_g+8), one thread a (group, column). */
static __global__ void
gv_pack_sz(const int32_t *qz, const uint16_t *sc, int in, int out,
    int group, uint16_t *dst)
{
    const int  ng = in / group;
    const int  n = ng * out;

    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += gridDim.x * blockDim.x)
    {
        int     col = i % out, grp = i / out;
        int     t = col / GV_TILE, g = col % 8, hi = col % GV_TILE / 8;
        size_t  o = ((size_t) (t * ng + grp) * 8 + g) * 4 + hi;

        dst[o] = sc[(size_t) grp * out + col];
        dst[o + 2] = __half_as_ushort(__float2half_rn(
                         1024.0f + gv_q(qz, out / 8, grp, col)));
    }
}


extern "C" void
awq_gemv_packed_bytes(int in, int out, int group, size_t *w, size_t *sz)
{
    *w = (size_t) in * out / 2;
    *sz = group > 0 ? (size_t) in / group * out * 4 : 0;
}


static int
gv_shape_ok(const struct awq_args *a)
{
    return a->in > 0 && a->in % GV_CHUNK == 0 && a->group >= 16
           && (a->group & (a->group - 1)) == 0 && a->in % a->group == 0
           && a->out > 0 && a->out % GV_TILE == 0;
}


extern "C" int
awq_gemv_pack(const struct awq_args *a, uint32_t *w, uint32_t *sz,
    cudaStream_t s)
{
    size_t  nw = (size_t) a->in * a->out / 8;
    int     blocks;

    if (!gv_shape_ok(a) || a->qweight == NULL || a->qzeros == NULL
        || a->scales == NULL || w == NULL || sz == NULL
        || ((uintptr_t) w | (uintptr_t) sz) % 16 != 0)
    {
        return -1;
    }
    blocks = (int) ((nw + 255) / 256 < 65536 ? (nw + 255) / 256 : 65536);
    gv_pack_w<<<blocks, 256, 0, s>>>(a->qweight, a->in, a->out, w);
    gv_pack_sz<<<(a->in / a->group * a->out + 255) / 256, 256, 0, s>>>(
        a->qzeros, a->scales, a->in, a->out, a->group, (uint16_t *) sz);
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}


template <int NB, bool FOLD>
static int
gv_launch(const struct awq_args *a, int ks, cudaStream_t s)
{
    int  tiles = a->out / GV_TILE, per = GV_WARPS / ks;
    int  gshift = awq_group_shift(a->group);

    pdl_launch(gv4_kernel<NB, FOLD>, (tiles + per - 1) / per,
        GV_WARPS * 32, 0, s, *a, ks, gshift);
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}


/* Slices of K: the fewest that give about 16 warps an SM (2112 on an
 * H200's 132 SMs; 32 for m > 8), at least 4 chunks a slice.  ksteps 1,
 * 2, 4 or 8 forces it (tuning); LMD_CUDA_AWQ_KS does the same for the
 * engine. */
static int
gv_ks(const struct awq_args *a)
{
    static int  force = -1;
    const char *env;
    int         ks, tiles = a->out / GV_TILE, nchunks = a->in / GV_CHUNK;

    if (a->ksteps > 0) {
        return a->ksteps;
    }
    if (force < 0) {
        env = getenv("LMD_CUDA_AWQ_KS");
        force = env != NULL ? atoi(env) : 0;
    }
    if (force == 1 || force == 2 || force == 4 || force == 8) {
        return force;
    }
    /* m > 8: 2 CTAs an SM rather than 3, so twice the slices (measured:
     * 4096 x 12288, m 16: 19.7 -> 17.3 us) */
    for (ks = 1; ks < GV_KS_MAX && tiles * ks < (a->m > 8 ? 4096 : 2048)
                 && nchunks / (2 * ks) >= 4; ks *= 2)
    {
    }
    return ks;
}


extern "C" int
awq_gemv(const struct awq_args *a, cudaStream_t s)
{
    int  ks;

    if (a->m < 1 || a->m > 16 || !gv_shape_ok(a)
        || (a->y_add != 0 && a->y_add != 1)
        || (a->ksteps != 0 && a->ksteps != 1 && a->ksteps != 2
            && a->ksteps != 4 && a->ksteps != 8)
        || a->x == NULL || a->gv_w == NULL || a->gv_sz == NULL
        || a->y == NULL
        || ((uintptr_t) a->x | (uintptr_t) a->gv_w
            | (uintptr_t) a->gv_sz) % 16 != 0)
    {
        return -1;
    }
    ks = gv_ks(a);
    if (a->group % GV_CHUNK == 0) {     /* a chunk in one group */
        return a->m <= 8 ? gv_launch<1, true>(a, ks, s)
                         : gv_launch<2, true>(a, ks, s);
    }
    return a->m <= 8 ? gv_launch<1, false>(a, ks, s)
                     : gv_launch<2, false>(a, ks, s);
}
