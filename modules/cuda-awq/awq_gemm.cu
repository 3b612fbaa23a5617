/*
 * awq_gemm.cu -- W4A16 matrix product for larger batches and prompt
 * chunks: y = x W^T, x f16 [m][in], W in the kernels' repacked layout
 * (awq_gemv.cu: per 16 output columns and 64 inputs one 512-byte run),
 * on tensor cores (mma.sync m16n8k16, f32 sums).
 *
 * Plan.  A block of 4 warps owns a BM x 128 tile of y (BM = 32, 64 or
 * 128 by m); the warps stand 2 (m) x 2 (n), each on (BM / 2) x 64.  K
 * goes by tiles of 64 inputs, one chunk of the layout.  A ring of ST
 * stages in shared memory is filled with cp.async (16-byte copies, no
 * register staging): per stage the x tile (BM x 64 f16, rows past m
 * zero-filled), the 8 packed runs of the block's 128 columns (4 KB, as
 * they lie in memory) and their scale / zero pairs (one group, or up to
 * 4 for groups under 64).  While stage t is used, the copies of stage
 * t + ST - 1 are in flight.
 *
 * Each K tile, the block first unpacks the stage's 4 KB of weights into
 * one f16 tile [128 columns][64 inputs] in shared memory (awq_unpack:
 * every weight once per block, (q - z) * s rounded once as
 * lmd_awq_dequant_rows does, the layout's k order undone), then the
 * warps run ldmatrix + mma over it as over a dense f16 matrix.  Two
 * barriers a K tile; in exchange no weight is unpacked twice and the
 * fragments come by ldmatrix (v1 unpacked in registers per warp: 2x the
 * unpacking, 8-byte fragment reads; see tests/gpu/NOTES.md).
 *
 * Shared memory: the x tile and the f16 weight tile are XOR-swizzled in
 * 16-byte chunks (chunk u of row r at u ^ (r % 8)), so that cp.async
 * writes, the unpack's 16-byte stores and ldmatrix's 8-row reads each
 * touch distinct banks.
 *
 * Few tiles (small m) leave SMs idle, so K is split over gridDim.z
 * blocks (at most 8, while the blocks fit in about one wave); each
 * writes its f32 partial tile to `work`, and a second kernel adds the
 * partials in split order.  Every sum is in a fixed order: the results
 * do not depend on timing.
 */

#include "awq_kernels.h"
#include "cuda_ptx.cuh"

#include <atomic>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define AWQ_GEMM_THREADS    128         /* 4 warps: 2 (m) x 2 (n) */
#define AWQ_GEMM_BN         128         /* output columns per block */
#define AWQ_GEMM_BK         64          /* inputs per K tile: a chunk */
#define AWQ_GEMM_MAGIC      0x64006400u /* half2 (1024, 1024) */
#define AWQ_GEMM_SPLIT_MAX  8           /* K splits at most */
/* Blocks of a split launch at most: 2 per SM of a 160-SM GPU.  Also
 * bounds the partials, so awq_gemm_work_bytes needs no device. */
#define AWQ_GEMM_SLOTS_MAX  320
#define AWQ_GEMM_DEVS       64


template <int BM, int ST>
struct awq_cfg {
    static constexpr int  MT = BM / 32;             /* m16 tiles a warp */
    static constexpr int  A_BYTES = BM * AWQ_GEMM_BK * 2;   /* x tile */
    static constexpr int  B_BYTES = AWQ_GEMM_BN / 16 * 512; /* 8 runs */
    static constexpr int  S_BYTES = 4 * AWQ_GEMM_BN / 16 * 64;
    static constexpr int  STAGE = A_BYTES + B_BYTES + S_BYTES;
    static constexpr int  W_BYTES = AWQ_GEMM_BN * AWQ_GEMM_BK * 2;
    static constexpr int  SMEM = ST * STAGE + W_BYTES;
    static constexpr int  A_CP = BM * AWQ_GEMM_BK / 8 / AWQ_GEMM_THREADS;
    static constexpr int  B_CP = B_BYTES / 16 / AWQ_GEMM_THREADS;
};




/*
 * Byte offset of 16-byte chunk ch of row r of the x or the f16 weight
 * tile: one 128-byte line a row (BK 64), chunk u of line L at u ^ (L %
 * 8).  ldmatrix's 8 rows at one chunk, and a phase of the unpack's
 * 16-byte stores (rows 2i and 2i + 1, chunks 2c + p for c = 0..3), then
 * cover the 8 positions once.
 */
template <int BK>
static __device__ __forceinline__ uint32_t
awq_a_off(int r, int ch)
{
    const int  l = r * (BK / 8) + ch, line = l >> 3;

    return (uint32_t) (((line << 3) | ((l & 7) ^ (line & 7))) << 4);
}


/*
 * Stage kt: the x tile, the block's 8 weight runs of chunk kt, and the
 * scale / zero pairs of the groups the chunk touches (gk of them: 1 for
 * groups of 64 or more), 64 bytes per (group, run).
 */
template <int BM, int ST>
static __device__ __forceinline__ void
awq_load_stage(const struct awq_args &a, uint32_t st, int kt, int m0,
    int n0, int gshift)
{
    typedef awq_cfg<BM, ST>  C;
    const int  tid = threadIdx.x, k0 = kt * AWQ_GEMM_BK;
    const int  nchunks = a.in / AWQ_GEMM_BK, ngroups = a.in >> gshift;
    const int  t0 = n0 / 16, grp = k0 >> gshift;
    const int  gk = gshift >= 6 ? 1 : AWQ_GEMM_BK >> gshift;

#pragma unroll
    for (int j = 0; j < C::A_CP; j++) {
        const int  i = tid + j * AWQ_GEMM_THREADS;
        const int  r = i / (AWQ_GEMM_BK / 8), ch = i % (AWQ_GEMM_BK / 8);
        const int  row = m0 + r;
        const bool ok = row < a.m;

        ptx_cp16(st + awq_a_off<AWQ_GEMM_BK>(r, ch),
                 a.x + (size_t) (ok ? row : 0) * a.in + k0 + ch * 8,
                 ok ? 16 : 0);
    }
#pragma unroll
    for (int j = 0; j < C::B_CP; j++) {
        const int  i = tid + j * AWQ_GEMM_THREADS;
        const int  run = i / 32, part = i % 32;

        ptx_cp16(st + C::A_BYTES + i * 16,
                 (const char *) a.gv_w
                 + ((size_t) (t0 + run) * nchunks + kt) * 512 + part * 16,
                 16);
    }
    for (int i = tid; i < gk * 32; i += AWQ_GEMM_THREADS) {
        const int  gi = i / 32, run = i / 4 % 8, part = i % 4;

        ptx_cp16(st + C::A_BYTES + C::B_BYTES + (gi * 8 + run) * 64
                 + part * 16,
                 (const char *) a.gv_sz
                 + ((size_t) (t0 + run) * ngroups + grp + gi) * 64
                 + part * 16, 16);
    }
}


/* Register n (0..3) of word u: nibbles n and n + 4 as half2 (1024 + q,
 * 1024 + q'), minus zl (1024 + z), times s: the weights in f16. */
static __device__ __forceinline__ uint32_t
awq_weight2(uint32_t u, int n, uint32_t zl, uint32_t s)
{
    uint32_t  r;

    asm("lop3.b32 %0, %1, %2, %3, 0xea;"
        : "=r"(r) : "r"(u >> (4 * n)), "n"(0x000f000fu),
          "n"(AWQ_GEMM_MAGIC));
    return ptx_hmul2(ptx_hsub2(r, zl), s);
}


/*
 * The stage's weights into the f16 tile wt ([128 columns][64 inputs],
 * rows swizzled like the x tile): thread i unpacks lane i % 32's 16
 * bytes of runs i / 32 and 4 + i / 32 -- columns g and g + 8 of the
 * run, inputs 16 c .. 16 c + 15 -- and stores each column's 16 values
 * as two 16-byte chunks.  Word 2p + h, nibble pair n (n + 4) holds
 * column g + 8 (n / 2) at inputs 8 p + 2 h + 4 (n % 2) (+ 1) of the 16
 * (awq_gemv.cu), so chunk p of column half ch is, in input order, the
 * pairs (h, n % 2) = (0, 0), (1, 0), (0, 1), (1, 1).
 */
template <int BM, int ST>
static __device__ __forceinline__ void
awq_unpack(uint32_t sb, uint32_t ss, uint32_t wt, int gshift)
{
    const int  tid = threadIdx.x, lane = tid & 31;
    const int  g = lane >> 2, c = lane & 3;
    const int  gi = gshift >= 6 ? 0 : (16 * c) >> gshift;

#pragma unroll
    for (int j = 0; j < 2; j++) {
        const int  run = tid / 32 + 4 * j;
        uint32_t   w[4], sz[2];

        asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];"
            : "=r"(w[0]), "=r"(w[1]), "=r"(w[2]), "=r"(w[3])
            : "r"(sb + run * 512 + lane * 16));
        asm volatile("ld.shared.v2.u32 {%0, %1}, [%2];"
            : "=r"(sz[0]), "=r"(sz[1])
            : "r"(ss + (gi * 8 + run) * 64 + g * 8));
#pragma unroll
        for (int ch = 0; ch < 2; ch++) {
            const int       col = 16 * run + g + 8 * ch;
            const uint32_t  sc = __byte_perm(sz[0], 0, ch ? 0x3232 : 0x1010);
            const uint32_t  zc = __byte_perm(sz[1], 0, ch ? 0x3232 : 0x1010);

#pragma unroll
            for (int p = 0; p < 2; p++) {
                uint32_t  v[4];

                v[0] = awq_weight2(w[2 * p], 2 * ch, zc, sc);
                v[1] = awq_weight2(w[2 * p + 1], 2 * ch, zc, sc);
                v[2] = awq_weight2(w[2 * p], 2 * ch + 1, zc, sc);
                v[3] = awq_weight2(w[2 * p + 1], 2 * ch + 1, zc, sc);
                asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};"
                    :: "r"(wt + awq_a_off<AWQ_GEMM_BK>(col, 2 * c + p)),
                       "r"(v[0]), "r"(v[1]), "r"(v[2]), "r"(v[3])
                    : "memory");
            }
        }
    }
}


/*
 * Grid: (out / 128, ceil(m / BM), splits).  part NULL: the block's
 * result goes to y (f16 store or f32 add); else its f32 partial goes to
 * part[split][m][out].
 */
template <int BM, int ST>
static __global__ void __launch_bounds__(AWQ_GEMM_THREADS, 2)
awq_gemm_kernel(const struct awq_args a, float *part, int gshift)
{
    typedef awq_cfg<BM, ST>  C;
    constexpr int  MT = C::MT;
    extern __shared__ __align__(128) unsigned char  smem[];

    const int  lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int  g = lane >> 2, c = lane & 3;
    const int  wm = warp >> 1, wn = warp & 1;
    const int  n0 = blockIdx.x * AWQ_GEMM_BN, m0 = blockIdx.y * BM;
    const int  nk = a.in / AWQ_GEMM_BK, ns = gridDim.z;
    const int  kb = (int) blockIdx.z * nk / ns;
    const int  nkt = ((int) blockIdx.z + 1) * nk / ns - kb;
    const uint32_t  sbase = (uint32_t) __cvta_generic_to_shared(smem);
    const uint32_t  wt = sbase + ST * C::STAGE;     /* f16 weight tile */
    float      acc[MT][8][4];

#pragma unroll
    for (int mi = 0; mi < MT; mi++) {
#pragma unroll
        for (int t = 0; t < 8; t++) {
            acc[mi][t][0] = acc[mi][t][1] = acc[mi][t][2] = 0;
            acc[mi][t][3] = 0;
        }
    }

#pragma unroll
    for (int s = 0; s < ST - 1; s++) {
        if (s < nkt) {
            awq_load_stage<BM, ST>(a, sbase + s * C::STAGE, kb + s, m0, n0,
                                   gshift);
        }
        ptx_commit();
    }

    for (int it = 0; it < nkt; it++) {
        ptx_wait<ST - 2>();
        __syncthreads();                /* stage it % ST is in; the
                                           stage refilled below and the
                                           f16 tile are free */
        {
            const int  nx = it + ST - 1;

            if (nx < nkt) {
                awq_load_stage<BM, ST>(a, sbase + (nx % ST) * C::STAGE,
                                       kb + nx, m0, n0, gshift);
            }
            ptx_commit();
        }

        const uint32_t  sa = sbase + (it % ST) * C::STAGE;

        awq_unpack<BM, ST>(sa + C::A_BYTES, sa + C::A_BYTES + C::B_BYTES,
                           wt, gshift);
        __syncthreads();                /* the f16 tile is written */

#pragma unroll
        for (int b = 0; b < AWQ_GEMM_BK / 16; b++) {
            uint32_t  af[MT][4];

#pragma unroll
            for (int mi = 0; mi < MT; mi++) {
                ptx_ldsm4(af[mi], sa + awq_a_off<AWQ_GEMM_BK>(
                    wm * (BM / 2) + mi * 16 + (lane & 15),
                    2 * b + (lane >> 4)));
            }
#pragma unroll
            for (int jj = 0; jj < 4; jj++) {
                uint32_t  bf[4];

                /* n8 tiles 2 jj, 2 jj + 1 of the warp's 8: matrices
                 * (tile, k 0-7), (tile, k 8-15) for each */
                ptx_ldsm4(bf, wt + awq_a_off<AWQ_GEMM_BK>(
                    wn * 64 + 16 * jj + (lane & 7) + 8 * (lane >> 4),
                    2 * b + ((lane >> 3) & 1)));
#pragma unroll
                for (int mi = 0; mi < MT; mi++) {
                    ptx_mma_f16(acc[mi][2 * jj], af[mi], bf[0], bf[1]);
                    ptx_mma_f16(acc[mi][2 * jj + 1], af[mi], bf[2], bf[3]);
                }
            }
        }
    }
    ptx_wait<0>();

    /* acc[mi][j][e]: row g (e < 2) or g + 8 of m16 tile mi, column
     * 8 j + 2 c + e % 2 of the warp's 64 */
#pragma unroll
    for (int mi = 0; mi < MT; mi++) {
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            const int  row = m0 + wm * (BM / 2) + mi * 16 + g + 8 * hr;

            if (row >= a.m) {
                continue;
            }
#pragma unroll
            for (int j = 0; j < 8; j++) {
                const int     col = n0 + wn * 64 + 8 * j + 2 * c;
                const float2  v = make_float2(acc[mi][j][2 * hr],
                                              acc[mi][j][2 * hr + 1]);

                if (part != NULL) {
                    *(float2 *) (part + ((size_t) blockIdx.z * a.m + row)
                                 * a.out + col) = v;
                } else if (a.y_add) {
                    float2  *p = (float2 *) ((float *) a.y
                                             + (size_t) row * a.out + col);
                    float2   o = *p;

                    o.x += v.x;
                    o.y += v.y;
                    *p = o;
                } else {
                    *(__half2 *) ((uint16_t *) a.y + (size_t) row * a.out
                                  + col) = __floats2half2_rn(v.x, v.y);
                }
            }
        }
    }
}


/* y[i] (=, or += for y_add) the sum of the ns partials, in split order;
 * 4 columns a thread. */
static __global__ void
awq_gemm_reduce(const float *part, void *y, int y_add, size_t n4, int ns)
{
    const float4  *p4 = (const float4 *) part;

    for (size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x; i < n4;
         i += (size_t) gridDim.x * blockDim.x)
    {
        float4  s = __ldcg(p4 + i);

        for (int z = 1; z < ns; z++) {
            float4  t = __ldcg(p4 + (size_t) z * n4 + i);

            s.x += t.x;
            s.y += t.y;
            s.z += t.z;
            s.w += t.w;
        }
        if (y_add) {
            float4  o = ((float4 *) y)[i];

            o.x += s.x;
            o.y += s.y;
            o.z += s.z;
            o.w += s.w;
            ((float4 *) y)[i] = o;
        } else {
            __half2  lo = __floats2half2_rn(s.x, s.y);
            __half2  hi = __floats2half2_rn(s.z, s.w);

            ((uint2 *) y)[i] = make_uint2(*(uint32_t *) &lo,
                                          *(uint32_t *) &hi);
        }
    }
}


/* Rows of a block tile: the smallest of 32, 64, 128 holding m, and 128
 * beyond.  Nondecreasing in m, as is round_up(m, awq_gemm_bm(m)). */
static int
awq_gemm_bm(int m)
{
    return m <= 32 ? 32 : m <= 64 ? 64 : 128;
}


/* The dynamic shared memory limit, set once per kernel and device (the
 * attribute is per device; setting it twice is harmless). */
static int
awq_smem_attr(const void *fn, int bytes, unsigned bit)
{
    static std::atomic<unsigned>  done[AWQ_GEMM_DEVS];
    int                           dev;

    if (cudaGetDevice(&dev) != cudaSuccess) {
        return -1;
    }
    if (dev >= 0 && dev < AWQ_GEMM_DEVS && (done[dev].load() & bit)) {
        return 0;
    }
    if (cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             bytes) != cudaSuccess
        || cudaFuncSetAttribute(fn,
               cudaFuncAttributePreferredSharedMemoryCarveout,
               cudaSharedmemCarveoutMaxShared) != cudaSuccess)
    {
        return -1;
    }
    if (dev >= 0 && dev < AWQ_GEMM_DEVS) {
        done[dev].fetch_or(bit);
    }
    return 0;
}


template <int BM>
static int
awq_gemm_launch(const struct awq_args *a, float *part, int ns, int gshift,
    unsigned bit, cudaStream_t s)
{
    /* more stages for small tiles: they stream weights, so want more
     * bytes in flight, and their stages are small */
    constexpr int  ST = BM == 128 ? 4 : 6;
    typedef awq_cfg<BM, ST>  C;
    dim3           grid(a->out / AWQ_GEMM_BN, (a->m + BM - 1) / BM, ns);

    if (awq_smem_attr((const void *) awq_gemm_kernel<BM, ST>, C::SMEM,
                      bit) != 0)
    {
        return -1;
    }
    awq_gemm_kernel<BM, ST><<<grid, AWQ_GEMM_THREADS, C::SMEM, s>>>(
        *a, part, gshift);
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}


/* Streaming multiprocessors of the current device, 0 if unknown. */
static int
awq_sm_count(void)
{
    int  dev, n;

    if (cudaGetDevice(&dev) != cudaSuccess
        || cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev)
           != cudaSuccess)
    {
        return 0;
    }
    return n;
}


extern "C" size_t
awq_gemm_work_bytes(int m, int in, int out)
{
    size_t  bm, a, b;

    (void) in;
    if (m <= 0 || out <= 0) {
        return 0;
    }
    /* A split launch has ns * tiles <= SLOTS_MAX blocks of bm x 128
     * partials and ns <= SPLIT_MAX; both bounds grow with m and out, so
     * the size serves every call with smaller m and out too. */
    bm = (size_t) awq_gemm_bm(m);
    a = (size_t) AWQ_GEMM_SLOTS_MAX * bm * AWQ_GEMM_BN;
    b = (size_t) AWQ_GEMM_SPLIT_MAX * ((m + bm - 1) / bm * bm) * out;
    return (a < b ? a : b) * sizeof(float);
}


extern "C" int
awq_gemm(const struct awq_args *a, cudaStream_t s)
{
    int        bm, nk, tiles, ns, rc, gshift;
    uintptr_t  al;

    if (a->m < 1 || a->in <= 0 || a->in % AWQ_GEMM_BK != 0
        || a->group < 16 || (a->group & (a->group - 1)) != 0
        || a->in % a->group != 0 || a->out <= 0
        || a->out % AWQ_GEMM_BN != 0 || a->ksteps < 0
        || a->x == NULL || a->gv_w == NULL || a->gv_sz == NULL
        || a->y == NULL)
    {
        return -1;
    }
    /* cp.async moves 16 bytes at a time, the epilogue 8 */
    al = (uintptr_t) a->x | (uintptr_t) a->gv_w | (uintptr_t) a->gv_sz
         | (uintptr_t) a->y | (uintptr_t) a->work;
    if (al % 16 != 0) {
        return -1;
    }
    gshift = awq_group_shift(a->group);
    bm = awq_gemm_bm(a->m);
    if ((a->m + bm - 1) / bm > 65535) {
        return -1;
    }
    nk = a->in / AWQ_GEMM_BK;
    tiles = (a->m + bm - 1) / bm * (a->out / AWQ_GEMM_BN);

    if (a->ksteps > 0) {
        /* forced (tests, tuning): within what work_bytes promised */
        ns = a->ksteps;
        if (ns > 1 && (a->work == NULL || ns > AWQ_GEMM_SPLIT_MAX
                       || ns > nk || (long) ns * tiles > AWQ_GEMM_SLOTS_MAX))
        {
            return -1;
        }
    } else {
        /* Split only to fill one wave of 2 blocks per SM, keeping >= 4
         * K tiles per block for the pipeline. */
        int  slots = 2 * awq_sm_count();

        if (slots > AWQ_GEMM_SLOTS_MAX) {
            slots = AWQ_GEMM_SLOTS_MAX;
        }
        ns = slots / tiles;
        ns = ns < AWQ_GEMM_SPLIT_MAX ? ns : AWQ_GEMM_SPLIT_MAX;
        ns = ns < nk / 4 ? ns : nk / 4;
        if (ns < 1 || a->work == NULL) {
            ns = 1;
        }
    }

    float  *part = ns > 1 ? (float *) a->work : NULL;

    if (bm == 32) {
        rc = awq_gemm_launch<32>(a, part, ns, gshift, 1u, s);
    } else if (bm == 64) {
        rc = awq_gemm_launch<64>(a, part, ns, gshift, 2u, s);
    } else {
        rc = awq_gemm_launch<128>(a, part, ns, gshift, 4u, s);
    }
    if (rc != 0 || ns == 1) {
        return rc;
    }

    size_t  n4 = (size_t) a->m * a->out / 4;
    size_t  nb = (n4 + 255) / 256;

    awq_gemm_reduce<<<(unsigned) (nb < 4096 ? nb : 4096), 256, 0, s>>>(
        part, a->y, a->y_add, n4, ns);
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}
