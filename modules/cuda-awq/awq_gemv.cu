/*
 * awq_gemv.cu -- W4A16 GEMV for decode batches (m = 1..16 rows) on the
 * AutoAWQ layout, as fast as reading the weights allows.  Two versions:
 * v3, the default, and v2, kept for comparison (the knob selects it);
 * v1 and v2's designs and numbers are in tests/gpu/NOTES.md.
 *
 * v3 plan.  v2 measured 0.22-0.37 of the copy bandwidth with ~100 KB of
 * cp.async bytes in flight per SM, so neither the bytes in flight nor
 * the instruction count was its limit; what it did differently from the
 * dense GEMV (0.75-0.97) is how it read: a CTA took only 64 bytes of
 * each 6 KB qweight row (4 warps on one 128-column tile, splitting K)
 * and every weight went global -> shared -> registers.  v3:
 * - A CTA is 8 warps: tw tiles of 128 output columns side by side
 *   (tw = 8, 4, 2 or 1) times 8 / tw warps along K, so the CTA reads
 *   64 tw contiguous bytes of each row at once, all its warps in step;
 *   the loads ask L2 for the aligned 256 bytes around them (.L2::256B),
 *   whose rest the neighbouring CTAs read at about the same time.
 * - Registers, not shared memory: each lane loads its own mma fragments
 *   (8 bytes = 16 columns of 4 rows per k16 block: rows 16 b + 4 c + r,
 *   words 2 g, 2 g + 1 of the tile, lane = 4 g + c) straight from global
 *   memory with ld.global.nc, AWQ3_DEPTH blocks ahead in a ring of
 *   registers (4 x 1 KB a warp in flight; 64 KB an SM at 2 CTAs/SM),
 *   like the dense GEMV; x (8 bytes per block and row) the same way
 *   through L1.  Scales and zeros (320 bytes a group and tile) go by
 *   cp.async into a per-warp slot one group ahead.
 * - Arithmetic as v2 (byte permute + lop3 with 0x6400, exact q - z,
 *   times the scale, the weight rounded once to f16, mma.m16n8k16 with
 *   the output columns as A rows and x as B, f32 sums): per lane and k16
 *   block 16 PRMT, 32 LOP3, 32 HSUB2, 32 HMUL2, 8 HMMA (16 at m > 8) for
 *   64 weights, ~1.9 instructions a weight against ~3.5 available at
 *   full bandwidth.
 * - Grid: one wave; the widest tw whose grid of ceil(tiles / tw) x kb
 *   CTAs (kb <= 8 along K) fills >= 45% of the resident slots (see
 *   awq3_pick).  Reduction in a fixed order: the 8 / tw warps of a tile
 *   through shared memory in K order, then the kb CTAs in rank order
 *   over a cluster's distributed shared memory (sm_90) or through f32
 *   partials in `work` and an arrival counter (the last CTA adds).
 *
 * v2 (ksteps AWQ_V2 + k): 4 warps on one 128-column tile splitting K,
 * each with a 4-stage cp.async ring in shared memory (swizzled for the
 * 8-byte fragment reads), kb CTAs along K with the same two reductions.
 *
 * ksteps, the knob of struct awq_args (0 picks everything):
 *   v3: bits 0-3 kb (1..8), bit 4 (16) the counter reduction instead of
 *   the cluster, bits 5-7 (32 t) tw = 1, 2, 4, 8 for t = 1..4, bit 8
 *   (256) no .L2::256B hint; v2: AWQ_V2 (1024) + kb + 16 (counter).
 * Only the counter reductions use `work`.
 */

#include "awq_kernels.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define AWQ_WARPS       4               /* v2: per CTA, splitting K */
#define AWQ_THREADS     (AWQ_WARPS * 32)
#define AWQ_TILE        128             /* output columns per warp tile */
#define AWQ_STEP        32              /* v2: K rows per warp step */
#define AWQ_STAGES      4               /* v2: cp.async ring per warp */
#define AWQ_KB_MAX      8               /* CTAs along K (portable cluster) */
#define AWQ_WBYTES      (AWQ_STEP * 64) /* v2: qweight bytes of a stage */
#define AWQ_ZSBYTES     (256 + 64)      /* 128 scales, 16 zero words */
#define AWQ_MAX_TILES   4096
#define AWQ_CNT_BYTES   (AWQ_MAX_TILES * sizeof(unsigned))
#define AWQ_COUNTER     16              /* ksteps flag */
#define AWQ_MAGIC       0x64006400u     /* half2 (1024, 1024) */
#define AWQ_MAX_DEV     16
#define AWQ_V2          1024            /* ksteps base of v2 */

#define AWQ3_WARPS      8               /* per CTA: tw tiles x 8/tw in K */
#define AWQ3_THREADS    (AWQ3_WARPS * 32)
#define AWQ3_DEPTH      4               /* k16 blocks in flight a warp */
#define AWQ3_NOHINT     256             /* ksteps flag */


/* v2: bytes of one stage: qweight, x (8 or 16 rows of 32), zeros and
 * scales. */
#define AWQ_SB(nb)      (AWQ_WBYTES + 64 * 8 * (nb) + AWQ_ZSBYTES)
#define AWQ_SMEM(nb)    (AWQ_WARPS * AWQ_STAGES * AWQ_SB(nb))

/* v3: the warps' zeros/scales slots, then their accumulators. */
#define AWQ3_SMEM(nb)   (AWQ3_WARPS * (AWQ_ZSBYTES + 8 * (nb) * 4 * 32 * 4))


static __device__ __forceinline__ uint32_t
awq_hsub2(uint32_t a, uint32_t b)
{
    uint32_t  r;

    asm("sub.rn.f16x2 %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b));
    return r;
}


static __device__ __forceinline__ uint32_t
awq_hmul2(uint32_t a, uint32_t b)
{
    uint32_t  r;

    asm("mul.rn.f16x2 %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b));
    return r;
}


/* a - (h, h) and a * (h, h), h half H of b: ptxas folds the broadcast
 * into the operand (no extra instruction), so pairs of columns' zeros or
 * scales share a register. */
template <int H>
static __device__ __forceinline__ uint32_t
awq_hsub2_bc(uint32_t a, uint32_t b)
{
    uint32_t  r;

    if (H) {
        asm("{.reg .b16 l, h; .reg .b32 t; mov.b32 {l, h}, %2;"
            " mov.b32 t, {h, h}; sub.rn.f16x2 %0, %1, t;}"
            : "=r"(r) : "r"(a), "r"(b));
    } else {
        asm("{.reg .b16 l, h; .reg .b32 t; mov.b32 {l, h}, %2;"
            " mov.b32 t, {l, l}; sub.rn.f16x2 %0, %1, t;}"
            : "=r"(r) : "r"(a), "r"(b));
    }
    return r;
}


template <int H>
static __device__ __forceinline__ uint32_t
awq_hmul2_bc(uint32_t a, uint32_t b)
{
    uint32_t  r;

    if (H) {
        asm("{.reg .b16 l, h; .reg .b32 t; mov.b32 {l, h}, %2;"
            " mov.b32 t, {h, h}; mul.rn.f16x2 %0, %1, t;}"
            : "=r"(r) : "r"(a), "r"(b));
    } else {
        asm("{.reg .b16 l, h; .reg .b32 t; mov.b32 {l, h}, %2;"
            " mov.b32 t, {l, l}; mul.rn.f16x2 %0, %1, t;}"
            : "=r"(r) : "r"(a), "r"(b));
    }
    return r;
}


static __device__ __forceinline__ void
awq_mma(float *d, const uint32_t *a, uint32_t b0, uint32_t b1)
{
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}


/* Streamed weights: 16 bytes, cached in L2 only. */
static __device__ __forceinline__ void
awq_cp_cg(uint32_t dst, const void *src)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;"
                 :: "r"(dst), "l"(src) : "memory");
}


/* Reused data (x, scales, zeros): 16 bytes, n of them read (16 or 0,
 * the rest zero-filled). */
static __device__ __forceinline__ void
awq_cp_ca(uint32_t dst, const void *src, int n)
{
    asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;"
                 :: "r"(dst), "l"(src), "r"(n) : "memory");
}


static __device__ __forceinline__ void
awq_cp_commit(void)
{
    asm volatile("cp.async.commit_group;" ::: "memory");
}


template <int N>
static __device__ __forceinline__ void
awq_cp_wait(void)
{
    asm volatile("cp.async.wait_group %0;" :: "n"(N) : "memory");
}


/*
 * Where 16-byte chunk ch (0..3) of step row `row` (0..31) sits in a
 * stage: rows of 64 bytes, row bit 2 flips the row's parity and row bit
 * 3 flips chunk bit 1, so that one 8-byte read of 4 rows 16b + 4c + r
 * (c = 0..3) by the warp touches all 32 banks once per half-warp.
 */
static __device__ __forceinline__ int
awq_swz(int row, int ch)
{
    return (row ^ (row >> 2 & 1)) * 64 + (ch ^ (row >> 3 & 1) << 1) * 16;
}


/* Column in the lane's 8 (the word's nibble order) of tile t = 2i + h:
 * nibble 2i + h of a word holds column [0,2,4,6,1,3,5,7][2i + h]. */
static __device__ __forceinline__ int
awq_tcol(int t)
{
    return (t >> 2) + 4 * (t >> 1 & 1) + 2 * (t & 1);
}


/* Element e of the fragment-order accumulators: output row and column
 * in the tile. */
template <int NB>
static __device__ __forceinline__ void
awq_frag_pos(int e, int *row, int *col)
{
    const int  lane = e & 31, r = e >> 5 & 3, tn = e >> 7;
    const int  nb = tn % NB, t = tn / NB;

    *col = 16 * (lane >> 2) + awq_tcol(t) + 8 * (r >> 1);
    *row = 8 * nb + 2 * (lane & 3) + (r & 1);
}


static __device__ __forceinline__ void
awq_put(const struct awq_args &a, int row, int col, float v)
{
    size_t  i = (size_t) row * a.out + col;

    if (a.y_add) {
        ((float *) a.y)[i] += v;
    } else {
        ((__half *) a.y)[i] = __float2half_rn(v);
    }
}


static __device__ __forceinline__ void
awq_cluster_sync(void)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.arrive.release.aligned;\n\t"
                 "barrier.cluster.wait.acquire.aligned;" ::: "memory");
#else
    __trap();
#endif
}


/* The float at shared address sa in the CTA of cluster rank `rank`. */
static __device__ __forceinline__ float
awq_ld_cluster(uint32_t sa, int rank)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    uint32_t  ra;
    float     v;

    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;"
                 : "=r"(ra) : "r"(sa), "r"(rank));
    asm volatile("ld.shared::cluster.f32 %0, [%1];"
                 : "=f"(v) : "r"(ra) : "memory");
    return v;
#else
    (void) sa;
    (void) rank;
    __trap();
    return 0;
#endif
}


template <int NB>
static __global__ void __launch_bounds__(AWQ_THREADS, NB == 1 ? 4 : 3)
awq_gemv_kernel(const struct awq_args a, unsigned *cnt, float *part,
    int cluster)
{
    constexpr int  R = 8 * NB;              /* x rows staged (m padded) */
    constexpr int  XB = 64 * R;             /* x bytes of a stage */
    constexpr int  SB = AWQ_SB(NB);
    constexpr int  E = 8 * NB * 4 * 32;     /* accumulators of a warp */
    extern __shared__ __align__(16) unsigned char  smem[];
    __shared__ int                                 last;

    const int       lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int       g = lane >> 2, c = lane & 3;
    const int       m = a.m, in = a.in, out = a.out, ow = out / 8;
    const int       tile = blockIdx.x, kb = gridDim.y, rank = blockIdx.y;
    const int       ns = in / AWQ_STEP, gs = a.group / AWQ_STEP;
    const int       wk = rank * AWQ_WARPS + warp, nw = kb * AWQ_WARPS;
    const int       s0 = (int) ((long long) ns * wk / nw);
    const int       n = (int) ((long long) ns * (wk + 1) / nw) - s0;
    unsigned char  *ws = smem + warp * AWQ_STAGES * SB;
    const uint32_t  ws_sa = (uint32_t) __cvta_generic_to_shared(ws);
    float           acc[8][NB][4];
    uint32_t        zhx[8], zhy[8], sx[8], sy[8];
    int             ro0, ro1;

    /* Issue side: the step to copy next, its group and place in it. */
    int  is = s0, ig = s0 / gs, ir = s0 - s0 / gs * gs;
    /* Compute side: the next step's place in its group. */
    int  cr = ir;

#pragma unroll
    for (int t = 0; t < 8; t++) {
#pragma unroll
        for (int nb = 0; nb < NB; nb++) {
            acc[t][nb][0] = acc[t][nb][1] = acc[t][nb][2] = 0;
            acc[t][nb][3] = 0;
        }
        zhx[t] = zhy[t] = sx[t] = sy[t] = 0;
    }
    /* The lane's 8 bytes of row 16b + 4c + r sit at awq_swz(that row,
     * g / 2) + 8 (g & 1) = 1024 b + 64 (r ^ (c & 1)) + (the rest), since
     * bits 2 and 3 of the row are those of c: ro0 for even r, ro1 odd. */
    ro0 = awq_swz(4 * c, g >> 1) + (g & 1) * 8;
    ro1 = ro0 + ((c & 1) ? -64 : 64);

    /* Copies step `is` into ring slot `slot`. */
    auto issue = [&](int slot) {
        const int       k0 = is * AWQ_STEP;
        const uint32_t  sb = ws_sa + slot * SB;
        const int32_t  *qw = a.qweight + (size_t) k0 * ow + tile * 16;

#pragma unroll
        for (int it = 0; it < 4; it++) {
            const int  row = it * 8 + (lane >> 2), ch = lane & 3;

            awq_cp_cg(sb + awq_swz(row, ch), qw + (size_t) row * ow + ch * 4);
        }
#pragma unroll
        for (int it = 0; it < NB; it++) {
            /* x chunk (row, b, j): halves 16b + 8j.. of the step's row */
            const int  q = it * 32 + lane, row = q >> 2;
            const int  b = q >> 1 & 1, j = q & 1;

            awq_cp_ca(sb + AWQ_WBYTES + ((b * R + row) * 16 + 8 * j) * 2,
                      a.x + (size_t) (row < m ? row : 0) * in + k0 + 16 * b
                      + 8 * j, row < m ? 16 : 0);
        }
        if (is == s0 || ir == 0) {
            const uint32_t  zs = sb + AWQ_WBYTES + XB;

            if (lane < 16) {
                awq_cp_ca(zs + lane * 16, a.scales + (size_t) ig * out
                          + tile * AWQ_TILE + lane * 8, 16);
            } else if (lane < 20) {
                awq_cp_ca(zs + 256 + (lane - 16) * 16, a.qzeros
                          + (size_t) ig * ow + tile * 16 + (lane - 16) * 4,
                          16);
            }
        }
        is++;
        if (++ir == gs) {
            ir = 0;
            ig++;
        }
    };

    /* Multiplies the step in ring slot `slot` into acc. */
    auto compute = [&](int slot, int first) {
        const unsigned char  *st = ws + slot * SB;

        if (first || cr == 0) {
            /* A new group: (1024 + z) pairs and scale pairs per tile. */
            const unsigned char  *zs = st + AWQ_WBYTES + XB;
            const uint2           zz = *(const uint2 *) (zs + 256 + g * 8);
            const uint4           s4 = *(const uint4 *) (zs + g * 32);
            const uint4           t4 = *(const uint4 *) (zs + g * 32 + 16);
            const uint32_t        sc[8] = { s4.x, s4.y, s4.z, s4.w,
                                            t4.x, t4.y, t4.z, t4.w };

#pragma unroll
            for (int t = 0; t < 8; t++) {
                const int       i = t >> 1, cm = awq_tcol(t);
                const uint32_t  mk = (t & 1) ? 0x00f000f0u : 0x000f000fu;
                const uint32_t  hs = (cm & 1) ? 0x3232 : 0x1010;

                zhx[t] = (__byte_perm(zz.x, 0, i * 0x1111) & mk) | AWQ_MAGIC;
                zhy[t] = (__byte_perm(zz.y, 0, i * 0x1111) & mk) | AWQ_MAGIC;
                sx[t] = __byte_perm(sc[cm >> 1], 0, hs);
                sy[t] = __byte_perm(sc[4 + (cm >> 1)], 0, hs);
            }
        }
        if (++cr == gs) {
            cr = 0;
        }

#pragma unroll
        for (int b = 0; b < 2; b++) {
            uint2  q[4], xf[NB];

#pragma unroll
            for (int r = 0; r < 4; r++) {
                q[r] = *(const uint2 *) (st + 1024 * b + 128 * (r >> 1)
                                         + ((r & 1) ? ro1 : ro0));
            }
#pragma unroll
            for (int nb = 0; nb < NB; nb++) {
                xf[nb] = *(const uint2 *) (st + AWQ_WBYTES
                                           + ((b * R + g + 8 * nb) * 16
                                              + 4 * c) * 2);
            }
#pragma unroll
            for (int i = 0; i < 4; i++) {
                /* bytes [i of row r, i of row r, i of r + 1, ...] */
                const uint32_t  sel = i | i << 4 | (i + 4) << 8
                                      | (i + 4) << 12;
                const uint32_t  px01 = __byte_perm(q[0].x, q[1].x, sel);
                const uint32_t  py01 = __byte_perm(q[0].y, q[1].y, sel);
                const uint32_t  px23 = __byte_perm(q[2].x, q[3].x, sel);
                const uint32_t  py23 = __byte_perm(q[2].y, q[3].y, sel);

#pragma unroll
                for (int h = 0; h < 2; h++) {
                    const int       t = 2 * i + h;
                    const uint32_t  mk = h ? 0x00f000f0u : 0x000f000fu;
                    uint32_t        af[4];

                    af[0] = awq_hmul2(awq_hsub2((px01 & mk) | AWQ_MAGIC,
                                                zhx[t]), sx[t]);
                    af[1] = awq_hmul2(awq_hsub2((py01 & mk) | AWQ_MAGIC,
                                                zhy[t]), sy[t]);
                    af[2] = awq_hmul2(awq_hsub2((px23 & mk) | AWQ_MAGIC,
                                                zhx[t]), sx[t]);
                    af[3] = awq_hmul2(awq_hsub2((py23 & mk) | AWQ_MAGIC,
                                                zhy[t]), sy[t]);
#pragma unroll
                    for (int nb = 0; nb < NB; nb++) {
                        awq_mma(acc[t][nb], af, xf[nb].x, xf[nb].y);
                    }
                }
            }
        }
    };

    /* The ring: step i + 3 is copied while step i is multiplied.  Every
     * iteration commits one group (maybe empty), so "all but the newest
     * 3 groups done" means step i has landed. */
#pragma unroll
    for (int i = 0; i < AWQ_STAGES - 1; i++) {
        if (i < n) {
            issue(i);
        }
        awq_cp_commit();
    }
    for (int i = 0; i < n; i++) {
        if (i + AWQ_STAGES - 1 < n) {
            issue((i + AWQ_STAGES - 1) % AWQ_STAGES);
        }
        awq_cp_commit();
        awq_cp_wait<AWQ_STAGES - 1>();
        __syncwarp();                   /* the other lanes' copies too */
        compute(i % AWQ_STAGES, i == 0);
        __syncwarp();                   /* slot read before its refill */
    }
    awq_cp_wait<0>();
    __syncthreads();

    /* The warps' sums in fragment order, high-nibble tiles scaled back. */
    float  *red = (float *) smem;

#pragma unroll
    for (int t = 0; t < 8; t++) {
#pragma unroll
        for (int nb = 0; nb < NB; nb++) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                red[warp * E + ((t * NB + nb) * 4 + r) * 32 + lane] =
                    acc[t][nb][r] * ((t & 1) ? 0.0625f : 1.0f);
            }
        }
    }
    __syncthreads();

    /* The CTA's partial, warps in order, into red[0 .. E). */
    for (int e = threadIdx.x; e < E; e += AWQ_THREADS) {
        float  v = red[e];
        int    row, col;

#pragma unroll
        for (int w = 1; w < AWQ_WARPS; w++) {
            v += red[w * E + e];
        }
        awq_frag_pos<NB>(e, &row, &col);
        if (row >= m) {
            continue;
        }
        if (kb == 1) {
            awq_put(a, row, tile * AWQ_TILE + col, v);
        } else if (cluster) {
            red[e] = v;
        } else {
            part[((size_t) rank * m + row) * out + tile * AWQ_TILE + col] = v;
        }
    }
    if (kb == 1) {
        return;
    }

    if (cluster) {
        /* Rank r adds elements [r E / kb, (r + 1) E / kb) over the ranks
         * in order, then waits until nobody reads its partial. */
        const uint32_t  red_sa = (uint32_t) __cvta_generic_to_shared(red);
        const int       e0 = rank * E / kb, e1 = (rank + 1) * E / kb;

        awq_cluster_sync();
        for (int e = e0 + threadIdx.x; e < e1; e += AWQ_THREADS) {
            float  v = 0;
            int    row, col;

            awq_frag_pos<NB>(e, &row, &col);
            if (row >= m) {
                continue;
            }
            for (int q = 0; q < kb; q++) {
                v += awq_ld_cluster(red_sa + e * 4, q);
            }
            awq_put(a, row, tile * AWQ_TILE + col, v);
        }
        awq_cluster_sync();
        return;
    }

    /* Make the partial visible, then count this CTA in; the last one
     * adds all partials in rank order. */
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        last = atomicAdd(&cnt[tile], 1u) == (unsigned) kb - 1;
    }
    __syncthreads();
    if (!last) {
        return;
    }
    __threadfence();
    for (int e = threadIdx.x; e < E; e += AWQ_THREADS) {
        float  v = 0;
        int    row, col;

        awq_frag_pos<NB>(e, &row, &col);
        if (row >= m) {
            continue;
        }
        for (int q = 0; q < kb; q++) {
            v += __ldcg(part + ((size_t) q * m + row) * out
                        + tile * AWQ_TILE + col);
        }
        awq_put(a, row, tile * AWQ_TILE + col, v);
    }
    if (threadIdx.x == 0) {
        cnt[tile] = 0;                  /* ready for the next call */
    }
}


/* Streamed qweight: 8 bytes, not kept in L1; HINT asks L2 to fetch the
 * aligned 256 bytes around them from DRAM (the neighbouring warps and
 * CTAs read the rest of those bytes at about the same time). */
template <int HINT>
static __device__ __forceinline__ uint2
awq3_ldw(const int32_t *p)
{
    uint2  r;

    if (HINT) {
        asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v2.u32 "
                     "{%0, %1}, [%2];" : "=r"(r.x), "=r"(r.y) : "l"(p));
    } else {
        asm volatile("ld.global.nc.L1::no_allocate.v2.u32 {%0, %1}, [%2];"
                     : "=r"(r.x), "=r"(r.y) : "l"(p));
    }
    return r;
}


/* Shared memory reads by 32-bit address (the per-warp slot). */
static __device__ __forceinline__ uint2
awq3_lds64(uint32_t sa)
{
    uint2  r;

    asm volatile("ld.shared.v2.u32 {%0, %1}, [%2];"
                 : "=r"(r.x), "=r"(r.y) : "r"(sa) : "memory");
    return r;
}


static __device__ __forceinline__ uint4
awq3_lds128(uint32_t sa)
{
    uint4  r;

    asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "r"(sa)
                 : "memory");
    return r;
}


/* x: 8 bytes through L1 (every warp of the CTA reads the same x). */
static __device__ __forceinline__ uint2
awq3_ldx(const uint16_t *p)
{
    uint2  r;

    asm volatile("ld.global.nc.v2.u32 {%0, %1}, [%2];"
                 : "=r"(r.x), "=r"(r.y) : "l"(p));
    return r;
}


/*
 * Byte I of the lane's words in a k16 block: two mma tiles, t = 2I (low
 * nibbles, column tcol(t) of each word) and 2I + 1 (high nibbles, as
 * 16 q, scaled back at the end).  A byte permute pairs byte I of rows
 * (0, 1) and of rows (2, 3) of the lane's 4; and/or with 0x6400 makes
 * (1024 + q) halves, minus the zero halves (zx, zy: H selects the
 * nibble's), times the scales (sc[tcol(t) / 2], half tcol(t) & 1).
 */
template <int NB, int I>
static __device__ __forceinline__ void
awq3_byte(float (&acc)[8][NB][4], const uint2 (&q)[4], uint32_t zx,
    uint32_t zy, const uint32_t (&sc)[8], const uint2 (&xf)[NB])
{
    constexpr uint32_t  sel = I | I << 4 | (I + 4) << 8 | (I + 4) << 12;
    constexpr int       SH = I >> 1 & 1;        /* tcol(2I) & 1 */
    constexpr int       SJ = 2 * (I & 1);       /* tcol(2I) >> 1 */
    const uint32_t      p[4] = {
        __byte_perm(q[0].x, q[1].x, sel), __byte_perm(q[0].y, q[1].y, sel),
        __byte_perm(q[2].x, q[3].x, sel), __byte_perm(q[2].y, q[3].y, sel)
    };
    uint32_t            af[4];

    /* t = 2I: low nibbles; columns tcol(2I) = 2 SJ + SH */
#pragma unroll
    for (int r = 0; r < 4; r++) {
        af[r] = awq_hsub2_bc<0>((p[r] & 0x000f000fu) | AWQ_MAGIC,
                                (r & 1) ? zy : zx);
        af[r] = awq_hmul2_bc<SH>(af[r], sc[((r & 1) ? 4 : 0) + SJ]);
    }
#pragma unroll
    for (int nb = 0; nb < NB; nb++) {
        awq_mma(acc[2 * I][nb], af, xf[nb].x, xf[nb].y);
    }
    /* t = 2I + 1: high nibbles; columns tcol(2I) + 2 */
#pragma unroll
    for (int r = 0; r < 4; r++) {
        af[r] = awq_hsub2_bc<1>((p[r] & 0x00f000f0u) | AWQ_MAGIC,
                                (r & 1) ? zy : zx);
        af[r] = awq_hmul2_bc<SH>(af[r], sc[((r & 1) ? 4 : 0) + SJ + 1]);
    }
#pragma unroll
    for (int nb = 0; nb < NB; nb++) {
        awq_mma(acc[2 * I + 1][nb], af, xf[nb].x, xf[nb].y);
    }
}


template <int NB, int HINT>
static __global__ void __launch_bounds__(AWQ3_THREADS, NB == 1 ? 2 : 1)
awq3_kernel(const struct awq_args a, unsigned *cnt, float *part, int tw_n,
    int cluster)
{
    constexpr int  E = 8 * NB * 4 * 32;     /* accumulators of a warp */
    constexpr int  D = AWQ3_DEPTH;
    extern __shared__ __align__(16) unsigned char  smem[];
    __shared__ int                                 last;

    const int       lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int       g = lane >> 2, c = lane & 3;
    const int       m = a.m, in = a.in, out = a.out, ow = out / 8;
    const int       ntiles = out / AWQ_TILE, tw_k = AWQ3_WARPS / tw_n;
    const int       tw = warp % tw_n, kw = warp / tw_n;
    const int       tile = blockIdx.x * tw_n + tw;
    const int       kb = gridDim.y, rank = blockIdx.y;
    const int       nbk = in / 16, gb = a.group / 16;
    const int       pi = rank * tw_k + kw, np = kb * tw_k;
    const int       b0 = (int) ((long long) nbk * pi / np);
    const int       n = tile < ntiles
                        ? (int) ((long long) nbk * (pi + 1) / np) - b0 : 0;
    const uint32_t  zs_sa = (uint32_t) __cvta_generic_to_shared(smem)
                            + warp * AWQ_ZSBYTES;
    float           acc[8][NB][4];
    uint32_t        zx[4], zy[4], sc[8];
    uint2           wq[D][4], xq[D][NB];
    uint32_t        qn = 0, xn[NB];     /* element offsets, see awq_gemv */
    int             xok[NB];

#pragma unroll
    for (int t = 0; t < 8; t++) {
#pragma unroll
        for (int nb = 0; nb < NB; nb++) {
            acc[t][nb][0] = acc[t][nb][1] = acc[t][nb][2] = 0;
            acc[t][nb][3] = 0;
        }
        sc[t] = 0;
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        zx[i] = zy[i] = 0;
    }
    /* Lane (g, c) reads, in k16 block b, rows 16 b + 4 c + r (r = 0..3)
     * of its 16 columns (words 2g, 2g + 1 of the tile) and the same rows
     * of x row g + 8 nb: the mma's k order permuted the same way on both
     * sides, so the sum is unchanged. */
    if (n > 0) {
        qn = (uint32_t) (16 * b0 + 4 * c) * ow + tile * 16 + 2 * g;
    }
#pragma unroll
    for (int nb = 0; nb < NB; nb++) {
        const int  row = g + 8 * nb;

        xok[nb] = row < m;
        xn[nb] = (uint32_t) (row < m ? row : 0) * in + 16 * b0 + 4 * c;
    }

    /* Group G's 128 scales and 16 zero words of the tile into the warp's
     * slot (one cp.async group per lane). */
    auto issue_zs = [&](int G) {
        if (lane < 16) {
            awq_cp_ca(zs_sa + lane * 16, a.scales + (size_t) G * out
                      + tile * AWQ_TILE + lane * 8, 16);
        } else if (lane < 20) {
            awq_cp_ca(zs_sa + 256 + (lane - 16) * 16, a.qzeros
                      + (size_t) G * ow + tile * 16 + (lane - 16) * 4, 16);
        }
        awq_cp_commit();
    };

    /* The next block's weights and x into ring slot j. */
    auto load = [&](uint2 (&w)[4], uint2 (&xv)[NB]) {
#pragma unroll
        for (int r = 0; r < 4; r++) {
            w[r] = awq3_ldw<HINT>(a.qweight + (qn + r * ow));
        }
        qn += 16 * ow;
#pragma unroll
        for (int nb = 0; nb < NB; nb++) {
            xv[nb] = xok[nb] ? awq3_ldx(a.x + xn[nb]) : make_uint2(0, 0);
            xn[nb] += 16;
        }
    };

    /* The group's zeros and scales of the lane's 16 columns, from the
     * slot: zx[i] (zy[i]) holds 1024 + z of column tcol(2i) and 1024 +
     * 16 z of column tcol(2i + 1) of word 2g (2g + 1), as halves; sc[j]
     * the scales of columns 2j, 2j + 1 of the lane's 16. */
    auto build = [&]() {
        const uint2  zz = awq3_lds64(zs_sa + 256 + g * 8);
        const uint4  s0 = awq3_lds128(zs_sa + g * 32);
        const uint4  s1 = awq3_lds128(zs_sa + g * 32 + 16);

        sc[0] = s0.x; sc[1] = s0.y; sc[2] = s0.z; sc[3] = s0.w;
        sc[4] = s1.x; sc[5] = s1.y; sc[6] = s1.z; sc[7] = s1.w;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            zx[i] = (__byte_perm(zz.x, 0, i * 0x1111) & 0x00f0000fu)
                    | AWQ_MAGIC;
            zy[i] = (__byte_perm(zz.y, 0, i * 0x1111) & 0x00f0000fu)
                    | AWQ_MAGIC;
        }
    };

    /* One k16 block into acc: q[r] the lane's words of row 4c + r. */
    auto compute = [&](const uint2 (&q)[4], const uint2 (&xf)[NB]) {
        awq3_byte<NB, 0>(acc, q, zx[0], zy[0], sc, xf);
        awq3_byte<NB, 1>(acc, q, zx[1], zy[1], sc, xf);
        awq3_byte<NB, 2>(acc, q, zx[2], zy[2], sc, xf);
        awq3_byte<NB, 3>(acc, q, zx[3], zy[3], sc, xf);
    };

    /* The ring: D blocks in flight; slot j is refilled right after it is
     * multiplied.  cr: the next block's place in its group; G: the group
     * whose scales and zeros the slot holds or will hold. */
    int  cr = b0 % gb, G = b0 / gb;

    if (n > 0) {
        issue_zs(G);
    }
#pragma unroll
    for (int j = 0; j < D; j++) {
        if (j < n) {
            load(wq[j], xq[j]);
        }
    }
    for (int i = 0; i < n; i += D) {
#pragma unroll
        for (int j = 0; j < D; j++) {
            if (i + j >= n) {
                break;
            }
            if (i + j == 0 || cr == 0) {
                awq_cp_wait<0>();
                __syncwarp();           /* the other lanes' copies too */
                build();
                __syncwarp();           /* slot read before its refill */
                if ((G + 1) * gb < b0 + n) {
                    issue_zs(G + 1);
                }
                G++;
            }
            if (++cr == gb) {
                cr = 0;
            }
            compute(wq[j], xq[j]);
            if (i + j + D < n) {
                load(wq[j], xq[j]);
            }
        }
    }
    awq_cp_wait<0>();

    /* The warps' sums in fragment order, high-nibble tiles scaled back. */
    float      *red = (float *) (smem + AWQ3_WARPS * AWQ_ZSBYTES);
    const int   F = tw_n * E;           /* the CTA's partial */

#pragma unroll
    for (int t = 0; t < 8; t++) {
#pragma unroll
        for (int nb = 0; nb < NB; nb++) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                red[warp * E + ((t * NB + nb) * 4 + r) * 32 + lane] =
                    acc[t][nb][r] * ((t & 1) ? 0.0625f : 1.0f);
            }
        }
    }
    __syncthreads();

    /* Element f = tw E + e of the CTA's partial: the tw_k warps of tile
     * column tw (warps tw, tw + tw_n, ...) added in K order, into red[f]
     * (only thread f reads or writes red[f] here). */
    for (int f = threadIdx.x; f < F; f += AWQ3_THREADS) {
        const int  ft = f / E, e = f - ft * E, col0 = (blockIdx.x * tw_n
                                                       + ft) * AWQ_TILE;
        float      v = red[f];
        int        row, col;

        for (int k = 1; k < tw_k; k++) {
            v += red[(k * tw_n + ft) * E + e];
        }
        awq_frag_pos<NB>(e, &row, &col);
        if (row >= m || col0 >= out) {
            continue;
        }
        if (kb == 1) {
            awq_put(a, row, col0 + col, v);
        } else if (cluster) {
            red[f] = v;
        } else {
            part[((size_t) rank * m + row) * out + col0 + col] = v;
        }
    }
    if (kb == 1) {
        return;
    }

    if (cluster) {
        /* Rank r adds elements [r F / kb, (r + 1) F / kb) over the ranks
         * in order (all loads first), then waits until nobody reads its
         * partial. */
        const uint32_t  red_sa = (uint32_t) __cvta_generic_to_shared(red);
        const int       f0 = rank * F / kb, f1 = (rank + 1) * F / kb;

        awq_cluster_sync();
        for (int f = f0 + threadIdx.x; f < f1; f += AWQ3_THREADS) {
            const int  ft = f / E, col0 = (blockIdx.x * tw_n + ft)
                                          * AWQ_TILE;
            float      pv[AWQ_KB_MAX], v;
            int        row, col;

            awq_frag_pos<NB>(f - ft * E, &row, &col);
            if (row >= m || col0 >= out) {
                continue;
            }
#pragma unroll
            for (int q = 0; q < AWQ_KB_MAX; q++) {
                pv[q] = q < kb ? awq_ld_cluster(red_sa + f * 4, q) : 0.0f;
            }
            v = pv[0];
#pragma unroll
            for (int q = 1; q < AWQ_KB_MAX; q++) {
                if (q < kb) {
                    v += pv[q];
                }
            }
            awq_put(a, row, col0 + col, v);
        }
        awq_cluster_sync();
        return;
    }

    /* Make the partial visible, then count this CTA in; the last one
     * adds all partials in rank order. */
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        last = atomicAdd(&cnt[blockIdx.x], 1u) == (unsigned) kb - 1;
    }
    __syncthreads();
    if (!last) {
        return;
    }
    __threadfence();
    for (int f = threadIdx.x; f < F; f += AWQ3_THREADS) {
        const int  ft = f / E, col0 = (blockIdx.x * tw_n + ft) * AWQ_TILE;
        float      pv[AWQ_KB_MAX], v;
        int        row, col;
        size_t     o;

        awq_frag_pos<NB>(f - ft * E, &row, &col);
        if (row >= m || col0 >= out) {
            continue;
        }
        o = (size_t) row * out + col0 + col;
#pragma unroll
        for (int q = 0; q < AWQ_KB_MAX; q++) {
            pv[q] = q < kb ? __ldcg(part + (size_t) q * m * out + o) : 0.0f;
        }
        v = pv[0];
#pragma unroll
        for (int q = 1; q < AWQ_KB_MAX; q++) {
            if (q < kb) {
                v += pv[q];
            }
        }
        awq_put(a, row, col0 + col, v);
    }
    if (threadIdx.x == 0) {
        cnt[blockIdx.x] = 0;            /* ready for the next call */
    }
}


extern "C" size_t
awq_gemv_work_bytes(int m, int in, int out)
{
    /* The counters (a fixed size, so that calls of any shape can share
     * them), then up to AWQ_KB_MAX f32 partials of m x out. */
    (void) in;
    if (m <= 0 || out <= 0) {
        return AWQ_CNT_BYTES;
    }
    return AWQ_CNT_BYTES + (size_t) AWQ_KB_MAX * m * out * sizeof(float);
}


/* Per device: SMs, compute capability; v2's resident CTAs per SM (NB 1,
 * 2); v3's resident CTAs per SM and, on sm_90, how many clusters of kb
 * CTAs fit at once (0: not known), per NB and hint. */
struct awq_dev {
    int  sms;
    int  major;
    int  occ[2];
    int  occ3[2][2];
    int  clu3[2][2][AWQ_KB_MAX + 1];
};

static struct awq_dev  awq_devs[AWQ_MAX_DEV];


template <int NB>
static int
awq_setup(int dev)
{
    struct awq_dev  *d = &awq_devs[dev];
    int              occ = 0;

    if (d->occ[NB - 1] > 0) {
        return 0;
    }
    if (cudaFuncSetAttribute(awq_gemv_kernel<NB>,
            cudaFuncAttributeMaxDynamicSharedMemorySize, AWQ_SMEM(NB))
        != cudaSuccess
        || cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ,
            awq_gemv_kernel<NB>, AWQ_THREADS, AWQ_SMEM(NB)) != cudaSuccess
        || occ < 1)
    {
        return -1;
    }
    d->occ[NB - 1] = occ;
    return 0;
}


template <int NB>
static int
awq_launch(const struct awq_args *a, int dev, int knob, cudaStream_t s)
{
    struct awq_dev  *d = &awq_devs[dev];
    int              ntiles = a->out / AWQ_TILE, ns = a->in / AWQ_STEP;
    int              kb = knob & 15, cluster;
    unsigned        *cnt = (unsigned *) a->work;
    float           *part = (float *) ((char *) a->work + AWQ_CNT_BYTES);
    cudaError_t      rc;

    if (awq_setup<NB>(dev) != 0) {
        return -1;
    }
    cluster = d->major >= 9 && !(knob & AWQ_COUNTER);
    if (kb == 0) {
        /* One wave over the resident slots, >= 2 steps per warp. */
        kb = d->sms * d->occ[NB - 1] / ntiles;
        kb = kb < ns / (2 * AWQ_WARPS) ? kb : ns / (2 * AWQ_WARPS);
        kb = kb < AWQ_KB_MAX ? kb : AWQ_KB_MAX;
        kb = kb > 1 ? kb : 1;
        if (!cluster && a->work == NULL) {
            kb = 1;
        }
    }
    if (kb > 1 && !cluster && a->work == NULL) {
        return -1;
    }

    dim3  grid(ntiles, kb);

    if (kb == 1 || !cluster) {
        awq_gemv_kernel<NB><<<grid, AWQ_THREADS, AWQ_SMEM(NB), s>>>(*a, cnt,
                                                                  part, 0);
        return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
    }

    cudaLaunchConfig_t   cfg = {};
    cudaLaunchAttribute  at[1];

    at[0].id = cudaLaunchAttributeClusterDimension;
    at[0].val.clusterDim.x = 1;
    at[0].val.clusterDim.y = kb;
    at[0].val.clusterDim.z = 1;
    cfg.gridDim = grid;
    cfg.blockDim = dim3(AWQ_THREADS);
    cfg.dynamicSmemBytes = AWQ_SMEM(NB);
    cfg.stream = s;
    cfg.attrs = at;
    cfg.numAttrs = 1;
    rc = cudaLaunchKernelEx(&cfg, awq_gemv_kernel<NB>, *a, cnt, part, 1);
    return rc == cudaSuccess ? 0 : -1;
}


/* A launch of v3 with kb CTAs along K: a cluster (1, kb) when `cluster`,
 * or just the grid; with `query`, no launch: how many such clusters fit
 * on the GPU at once. */
template <int NB, int HINT>
static int
awq3_go(const struct awq_args *a, int ntg, int kb, int tw, int cluster,
    int query, cudaStream_t s)
{
    unsigned             *cnt = (unsigned *) a->work;
    float                *part = (float *) ((char *) a->work
                                            + AWQ_CNT_BYTES);
    cudaLaunchConfig_t    cfg = {};
    cudaLaunchAttribute   at[1];
    int                   n = 0;

    cfg.gridDim = dim3(ntg, kb);
    cfg.blockDim = dim3(AWQ3_THREADS);
    cfg.dynamicSmemBytes = AWQ3_SMEM(NB);
    cfg.stream = s;
    if (cluster) {
        at[0].id = cudaLaunchAttributeClusterDimension;
        at[0].val.clusterDim.x = 1;
        at[0].val.clusterDim.y = kb;
        at[0].val.clusterDim.z = 1;
        cfg.attrs = at;
        cfg.numAttrs = 1;
    }
    if (query) {
        if (cudaOccupancyMaxActiveClusters(&n, awq3_kernel<NB, HINT>, &cfg)
            != cudaSuccess)
        {
            (void) cudaGetLastError();  /* not known: no limit */
            return 0;
        }
        return n;
    }
    if (cudaLaunchKernelEx(&cfg, awq3_kernel<NB, HINT>, *a, cnt, part, tw,
                           cluster) != cudaSuccess)
    {
        return -1;
    }
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}


/* Once per device, NB and hint: the shared memory limit, resident CTAs
 * per SM, and on sm_90 the clusters of each size that fit. */
template <int NB, int HINT>
static int
awq3_setup(struct awq_dev *d, const struct awq_args *a)
{
    int  occ = 0;

    if (d->occ3[NB - 1][HINT] > 0) {
        return 0;
    }
    if (cudaFuncSetAttribute(awq3_kernel<NB, HINT>,
            cudaFuncAttributeMaxDynamicSharedMemorySize, AWQ3_SMEM(NB))
        != cudaSuccess
        || cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ,
            awq3_kernel<NB, HINT>, AWQ3_THREADS, AWQ3_SMEM(NB))
           != cudaSuccess
        || occ < 1)
    {
        return -1;
    }
    if (d->major >= 9) {
        for (int kb = 2; kb <= AWQ_KB_MAX; kb++) {
            d->clu3[NB - 1][HINT][kb] = awq3_go<NB, HINT>(a, 1, kb, 1, 1, 1,
                                                          0);
        }
    }
    d->occ3[NB - 1][HINT] = occ;
    return 0;
}


/*
 * v3's split: tiles per CTA (tw = 8, 4, 2 or 1: wider reads longer runs
 * of each qweight row at once) and CTAs along K (kb <= 8).  For each tw,
 * kb as large as one wave of resident CTAs allows (and, for clusters, as
 * all the clusters fit at once) with >= 2 blocks a warp; then the widest
 * tw whose ceil(tiles / tw) x kb CTAs reach 90% of min(SMs, the most any
 * tw reaches).  Forced values (non-zero tw or kb) are taken as they are.
 */
static void
awq3_pick(const struct awq_dev *d, const struct awq_args *a, int nbi,
    int hint, int cluster, int *tw, int *kb)
{
    const int  ntiles = a->out / AWQ_TILE, nbk = a->in / 16;
    const int  slots = d->sms * d->occ3[nbi][hint];
    int        t, i, k, ntg, cnt[4], kbs[4], best = 0;

    for (i = 0, t = AWQ3_WARPS; t >= 1; i++, t /= 2) {
        ntg = (ntiles + t - 1) / t;
        k = *kb;
        if (k == 0) {
            k = slots / ntg;
            k = k < AWQ_KB_MAX ? k : AWQ_KB_MAX;
            k = k < nbk / (2 * (AWQ3_WARPS / t))
                ? k : nbk / (2 * (AWQ3_WARPS / t));
            while (cluster && k > 1 && d->clu3[nbi][hint][k] > 0
                   && d->clu3[nbi][hint][k] < ntg)
            {
                k--;
            }
            k = k > 1 ? k : 1;
        }
        kbs[i] = k;
        cnt[i] = ntg <= slots ? ntg * k : 0;
        best = best > cnt[i] ? best : cnt[i];
    }
    best = best < d->sms ? best : d->sms;
    for (i = 0, t = AWQ3_WARPS; t >= 1; i++, t /= 2) {
        if (*tw != 0 ? t == *tw
            : best == 0 ? t == AWQ3_WARPS : 10 * cnt[i] >= 9 * best)
        {
            *tw = t;
            *kb = kbs[i];
            return;
        }
    }
}


template <int NB, int HINT>
static int
awq3_launch(const struct awq_args *a, struct awq_dev *d, int knob,
    cudaStream_t s)
{
    int  cluster, tw, kb;

    if (awq3_setup<NB, HINT>(d, a) != 0) {
        return -1;
    }
    cluster = d->major >= 9 && !(knob & AWQ_COUNTER);
    tw = (knob >> 5 & 7) ? 1 << ((knob >> 5 & 7) - 1) : 0;
    kb = knob & 15;
    awq3_pick(d, a, NB - 1, HINT, cluster, &tw, &kb);
    if (kb > 1 && !cluster && a->work == NULL) {
        if ((knob & 15) != 0) {
            return -1;
        }
        kb = 1;
    }
    return awq3_go<NB, HINT>(a, (a->out / AWQ_TILE + tw - 1) / tw, kb, tw,
                             cluster && kb > 1, 0, s);
}


static int
awq_aligned(const void *p)
{
    return ((uintptr_t) p & 15) == 0;
}


/* The knob: v3 (ksteps < 512) or v2 (AWQ_V2 + v2's knob). */
static int
awq_knob_ok(int ks)
{
    if (ks >= 0 && ks < 512) {
        return (ks & 15) <= AWQ_KB_MAX && (ks >> 5 & 7) <= 4;
    }
    return ks >= AWQ_V2 && ks <= AWQ_V2 + AWQ_COUNTER + AWQ_KB_MAX
           && ((ks - AWQ_V2) & 15) <= AWQ_KB_MAX;
}


extern "C" int
awq_gemv(const struct awq_args *a, cudaStream_t s)
{
    struct awq_dev  *d;
    int              dev, ks = a->ksteps;

    if (a->m < 1 || a->m > 16 || a->in <= 0 || a->in % AWQ_STEP != 0
        || a->group <= 0 || a->group % AWQ_STEP != 0
        || a->in % a->group != 0
        || a->out <= 0 || a->out % AWQ_TILE != 0
        || a->out / AWQ_TILE > AWQ_MAX_TILES
        || (size_t) a->in * (a->out / 8) > 0xffffffffu  /* 32-bit offsets */
        || (a->y_add != 0 && a->y_add != 1) || !awq_knob_ok(ks)
        || a->x == NULL || a->qweight == NULL || a->qzeros == NULL
        || a->scales == NULL || a->y == NULL
        || !awq_aligned(a->x) || !awq_aligned(a->qweight)
        || !awq_aligned(a->qzeros) || !awq_aligned(a->scales))
    {
        return -1;
    }
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0
        || dev >= AWQ_MAX_DEV)
    {
        return -1;
    }
    d = &awq_devs[dev];
    if (d->sms == 0) {
        int  sms, major;

        if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount,
                                   dev) != cudaSuccess
            || cudaDeviceGetAttribute(&major,
                   cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
        {
            return -1;
        }
        d->major = major;
        d->sms = sms;
    }
    if (ks >= AWQ_V2) {
        return a->m <= 8 ? awq_launch<1>(a, dev, ks - AWQ_V2, s)
                         : awq_launch<2>(a, dev, ks - AWQ_V2, s);
    }
    if (ks & AWQ3_NOHINT) {
        return a->m <= 8 ? awq3_launch<1, 0>(a, d, ks, s)
                         : awq3_launch<2, 0>(a, d, ks, s);
    }
    return a->m <= 8 ? awq3_launch<1, 1>(a, d, ks, s)
                     : awq3_launch<2, 1>(a, d, ks, s);
}
