/*
 * awq_gemv.cu -- W4A16 GEMV for decode batches (m = 1..16 rows) on the
 * AutoAWQ layout, as fast as reading the weights allows (v2; v1's
 * design and numbers are in tests/gpu/NOTES.md).
 *
 * Work split.  A CTA is 4 warps on one tile of 128 output columns; the
 * kb CTAs of a column tile (gridDim.y, a thread block cluster on sm_90)
 * and their warps split K into 4 kb contiguous ranges of 32-row steps.
 * kb is picked so that the grid fills the resident slots of the GPU in
 * one wave (ntiles * kb <= SMs * CTAs per SM, kb <= 8): every CTA
 * streams the same number of bytes and all start at once.
 *
 * Memory.  Each warp runs its own ring of 4 stages in shared memory fed
 * by cp.async, so 3 steps (6 KB of weights) per warp are in flight while
 * it computes one, with no registers held for them.  A stage is one step:
 * 32 rows x 64 bytes of qweight (the tile's 16 words per row, 16-byte
 * copies, L2 only), the step's x rows (rows >= m zero-filled), and, when
 * the step starts a group (or the warp's range), the group's 128 scales
 * and 16 zero words.
 *
 * Arithmetic (mma.m16n8k16, output columns as A rows, x as B).  Lane
 * (g, c) = (lane / 4, lane % 4) owns columns 16g..16g+15 (zero words 2g
 * and 2g+1) and, in the k16 block b of a step, rows 16b + 4c .. +3; x is
 * read with the same row permutation, so the sum is unchanged.  A byte
 * permute pairs byte i of two rows' words; and/or with 0x6400 (f16 1024)
 * gives (1024 + q) or (1024 + 16 q) for two rows of one column; minus the
 * zero made the same way it is exactly (q - z) or 16 (q - z); times the
 * scale, the weight rounded once to f16 (tiles of high nibbles are
 * scaled back by 1/16 in f32 at the end, exactly).  The zero and scale
 * pairs are built once per group into 32 registers.  About 2 instructions
 * per weight against ~3.5 available per weight at full bandwidth.
 *
 * Reduction, in a fixed order.  The warps store their accumulators in
 * fragment order (conflict-free) to shared memory; thread e adds element
 * e over the 4 warps in warp order.  With kb > 1 the CTAs of a column
 * tile then add their partials in rank order: on sm_90 through
 * distributed shared memory of the cluster (a cluster barrier before
 * and after, no global round trip), elsewhere (or with the knob) via f32
 * partials in `work` and an arrival counter, the last CTA adding them.
 * Both orders are the same, so the two paths give the same bits.
 *
 * ksteps (the tuning knob of struct awq_args): 0 picks kb; 1..8 sets kb;
 * 16 + k (16: kb picked) does the same with the counter reduction
 * instead of the cluster.  Only the counter path uses `work`.
 */

#include "awq_kernels.h"
#include "cuda_pdl.cuh"
#include "cuda_ptx.cuh"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define AWQ_WARPS       4               /* per CTA, splitting K */
#define AWQ_THREADS     (AWQ_WARPS * 32)
#define AWQ_TILE        128             /* output columns per CTA */
#define AWQ_STEP        32              /* K rows per warp step */
#define AWQ_STAGES      4               /* cp.async ring per warp */
#define AWQ_KB_MAX      8               /* CTAs along K (portable cluster) */
#define AWQ_WBYTES      (AWQ_STEP * 64) /* qweight bytes of a stage */
#define AWQ_ZSBYTES     (256 + 64)      /* 128 scales, 16 zero words */
#define AWQ_MAX_TILES   4096
#define AWQ_CNT_BYTES   (AWQ_MAX_TILES * sizeof(unsigned))
#define AWQ_COUNTER     16              /* ksteps flag */
#define AWQ_MAGIC       0x64006400u     /* half2 (1024, 1024) */
#define AWQ_MAX_DEV     16


/* Bytes of one stage: qweight, x (8 or 16 rows of 32), zeros/scales. */
#define AWQ_SB(nb)      (AWQ_WBYTES + 64 * 8 * (nb) + AWQ_ZSBYTES)
#define AWQ_SMEM(nb)    (AWQ_WARPS * AWQ_STAGES * AWQ_SB(nb))


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
    pdl_wait();                 /* cuda_pdl.cuh */
    pdl_trigger();

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

            ptx_cp16(sb + awq_swz(row, ch), qw + (size_t) row * ow + ch * 4,
                     16);
        }
#pragma unroll
        for (int it = 0; it < NB; it++) {
            /* x chunk (row, b, j): halves 16b + 8j.. of the step's row */
            const int  q = it * 32 + lane, row = q >> 2;
            const int  b = q >> 1 & 1, j = q & 1;

            ptx_cp16_ca(sb + AWQ_WBYTES + ((b * R + row) * 16 + 8 * j) * 2,
                      a.x + (size_t) (row < m ? row : 0) * in + k0 + 16 * b
                      + 8 * j, row < m ? 16 : 0);
        }
        if (is == s0 || ir == 0) {
            const uint32_t  zs = sb + AWQ_WBYTES + XB;

            if (lane < 16) {
                ptx_cp16_ca(zs + lane * 16, a.scales + (size_t) ig * out
                          + tile * AWQ_TILE + lane * 8, 16);
            } else if (lane < 20) {
                ptx_cp16_ca(zs + 256 + (lane - 16) * 16, a.qzeros
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
                        ptx_mma_f16(acc[t][nb], af, xf[nb].x, xf[nb].y);
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
        ptx_commit();
    }
    for (int i = 0; i < n; i++) {
        if (i + AWQ_STAGES - 1 < n) {
            issue((i + AWQ_STAGES - 1) % AWQ_STAGES);
        }
        ptx_commit();
        ptx_wait<AWQ_STAGES - 1>();
        __syncwarp();                   /* the other lanes' copies too */
        compute(i % AWQ_STAGES, i == 0);
        __syncwarp();                   /* slot read before its refill */
    }
    ptx_wait<0>();
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


/* Per device: SMs, compute capability, resident CTAs per SM (NB 1, 2). */
struct awq_dev {
    int  sms;
    int  major;
    int  occ[2];
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
        pdl_launch(awq_gemv_kernel<NB>, grid, AWQ_THREADS, AWQ_SMEM(NB), s, *a,
            cnt, part, 0);
        return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
    }

    cudaLaunchConfig_t   cfg = {};
    cudaLaunchAttribute  at[2];

    at[0].id = cudaLaunchAttributeClusterDimension;
    at[0].val.clusterDim.x = 1;
    at[0].val.clusterDim.y = kb;
    at[0].val.clusterDim.z = 1;
    at[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[1].val.programmaticStreamSerializationAllowed = 1;
    cfg.gridDim = grid;
    cfg.blockDim = dim3(AWQ_THREADS);
    cfg.dynamicSmemBytes = AWQ_SMEM(NB);
    cfg.stream = s;
    cfg.attrs = at;
    cfg.numAttrs = pdl_on() ? 2 : 1;
    rc = cudaLaunchKernelEx(&cfg, awq_gemv_kernel<NB>, *a, cnt, part, 1);
    return rc == cudaSuccess ? 0 : -1;
}


static int
awq_aligned(const void *p)
{
    return ((uintptr_t) p & 15) == 0;
}


extern "C" int
awq_gemv(const struct awq_args *a, cudaStream_t s)
{
    struct awq_dev  *d;
    int              dev;

    if (a->m < 1 || a->m > 16 || a->in <= 0 || a->in % AWQ_STEP != 0
        || a->group <= 0 || a->group % AWQ_STEP != 0
        || a->in % a->group != 0
        || a->out <= 0 || a->out % AWQ_TILE != 0
        || a->out / AWQ_TILE > AWQ_MAX_TILES
        || (a->y_add != 0 && a->y_add != 1)
        || a->ksteps < 0 || a->ksteps > AWQ_COUNTER + AWQ_KB_MAX
        || (a->ksteps & 15) > AWQ_KB_MAX
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
    return a->m <= 8 ? awq_launch<1>(a, dev, a->ksteps, s)
                     : awq_launch<2>(a, dev, a->ksteps, s);
}
