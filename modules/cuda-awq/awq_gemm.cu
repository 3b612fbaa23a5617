/*
 * awq_gemm.cu -- W4A16 matrix product for prefill and large batches:
 * y = x W^T, x f16 [m][in], W in the AutoAWQ layout (awq_kernels.h), on
 * tensor cores (mma.sync m16n8k16, f32 sums), the 4-bit weights turned
 * into f16 in registers just before each mma.
 *
 * Plan.  A block of 4 warps owns a BM x 128 tile of y (BM = 32, 64 or
 * 128 by m); the warps stand 2 (m) x 2 (n), each on (BM / 2) x 64.
 * K goes by tiles of BK = 64 inputs (32 when in or group is not a
 * multiple of 64), so a K tile lies in one quantization group and needs
 * one row of scales and zeros.  A ring of ST stages in shared memory is
 * filled with cp.async (16-byte copies, no register staging): per stage
 * the x tile (BM x BK f16, rows past m zero-filled), the packed weight
 * tile (BK x 16 words), 128 scales and 16 zero words.  While stage t is
 * used, the copies of stage t + ST - 1 are in flight.
 *
 * The weights stay packed in shared memory (a quarter of the f16
 * bytes) and each warp dequantizes its own 64 columns: only the two
 * warps along m repeat that work, and no f16 tile has to be written and
 * read back.  mma's B fragment wants, per lane (g, c) = (lane / 4,
 * lane % 4), the pairs (k = 2c, 2c + 1) and (2c + 8, 2c + 9) of one
 * column.  Lane g takes packed word g of its warp's 8 (8 columns) and
 * reads it in those 4 k rows; a byte permute pairs byte i of two rows,
 * and an and/or with 0x6400 (f16 1024) gives half2 (1024 + q, 1024 + q')
 * from the low nibbles or (1024 + 16 q, ...) from the high ones.
 * Subtracting the zero made the same way is exact, and one multiply by
 * the scale rounds the weight once to f16.  Nibble t of the 8 in a word
 * feeds mma tile t, so the n8 tile t holds column 8 w_g + col(t) at
 * position g: a permutation of n undone in the epilogue, where each lane
 * ends up owning 16 contiguous columns per row (stored as 16-byte
 * vectors).  High-nibble tiles summed 16 (q - z) s and are scaled by
 * 1/16 there (exact).  x fragments come by ldmatrix.x4.
 *
 * Shared memory is XOR-swizzled in 16-byte chunks so that cp.async
 * writes, ldmatrix reads (8 rows, one chunk) and the lanes' word reads
 * (4 k rows x 8 words) each touch 32 distinct banks.
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
#define AWQ_GEMM_MAGIC      0x64006400u /* half2 (1024, 1024) */
#define AWQ_GEMM_SPLIT_MAX  8           /* K splits at most */
/* Blocks of a split launch at most: 2 per SM of a 160-SM GPU.  Also
 * bounds the partials, so awq_gemm_work_bytes needs no device. */
#define AWQ_GEMM_SLOTS_MAX  320
#define AWQ_GEMM_DEVS       64

/* Column of a word's nibble t: AutoAWQ's order [0,2,4,6,1,3,5,7]. */
#define AWQ_COL(t)          (2 * ((t) & 3) + ((t) >> 2))


template <int BM, int BK, int ST>
struct awq_cfg {
    static constexpr int  MT = BM / 32;             /* m16 tiles a warp */
    static constexpr int  A_BYTES = BM * BK * 2;    /* x tile */
    static constexpr int  B_BYTES = BK * AWQ_GEMM_BN / 2;
    static constexpr int  S_BYTES = AWQ_GEMM_BN * 2;
    static constexpr int  Z_BYTES = AWQ_GEMM_BN / 2;
    static constexpr int  STAGE = A_BYTES + B_BYTES + S_BYTES + Z_BYTES;
    static constexpr int  SMEM = ST * STAGE;
    static constexpr int  A_CP = BM * BK / 8 / AWQ_GEMM_THREADS;
    static constexpr int  B_CP = BK * 4 / AWQ_GEMM_THREADS;
};


static __device__ __forceinline__ uint32_t
awq_lds32(uint32_t p)
{
    uint32_t  v;

    asm volatile("ld.shared.u32 %0, [%1];" : "=r"(v) : "r"(p));
    return v;
}


static __device__ __forceinline__ void
awq_lds128(uint32_t *v, uint32_t p)
{
    asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(v[0]), "=r"(v[1]), "=r"(v[2]), "=r"(v[3]) : "r"(p));
}


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
 * Byte offset of 16-byte chunk ch of row r of the x tile.  Chunks are
 * numbered row-major and grouped 8 to a 128-byte line (1 row at BK 64,
 * 2 at BK 32); within line L, chunk u sits at u ^ (L % 8).  8 rows at
 * one chunk (an ldmatrix phase) then land on 8 distinct positions.
 */
template <int BK>
static __device__ __forceinline__ uint32_t
awq_a_off(int r, int ch)
{
    const int  l = r * (BK / 8) + ch, line = l >> 3;

    return (uint32_t) (((line << 3) | ((l & 7) ^ (line & 7))) << 4);
}


/*
 * Byte offset of chunk ch (words 4 ch .. 4 ch + 3) of k row r of the
 * packed weight tile: two rows of 16 words per 128-byte line L, chunk
 * u = 4 (r % 2) + ch at u ^ 2 (L % 4).  A lane read takes rows
 * 2c + o (c = 0..3, o fixed) and words 8 wn + g: lines L..L+3 of one
 * row parity, 2 chunks each, which that xor spreads over all 8.
 */
static __device__ __forceinline__ uint32_t
awq_b_off(int r, int ch)
{
    const int  line = r >> 1, u = ((r & 1) << 2) | ch;

    return (uint32_t) ((line << 7) | ((u ^ ((line & 3) << 1)) << 4));
}


template <int BM, int BK, int ST>
static __device__ __forceinline__ void
awq_load_stage(const struct awq_args &a, uint32_t st, int kt, int m0,
    int n0)
{
    typedef awq_cfg<BM, BK, ST>  C;
    const int  tid = threadIdx.x, k0 = kt * BK, ow = a.out / 8;
    const int  grp = k0 / a.group;

#pragma unroll
    for (int j = 0; j < C::A_CP; j++) {
        const int  i = tid + j * AWQ_GEMM_THREADS;
        const int  r = i / (BK / 8), ch = i % (BK / 8);
        const int  row = m0 + r;
        const bool ok = row < a.m;

        ptx_cp16(st + awq_a_off<BK>(r, ch),
                 a.x + (size_t) (ok ? row : 0) * a.in + k0 + ch * 8,
                 ok ? 16 : 0);
    }
#pragma unroll
    for (int j = 0; j < C::B_CP; j++) {
        const int  i = tid + j * AWQ_GEMM_THREADS;
        const int  r = i >> 2, ch = i & 3;

        ptx_cp16(st + C::A_BYTES + awq_b_off(r, ch),
                 a.qweight + (size_t) (k0 + r) * ow + n0 / 8 + ch * 4, 16);
    }
    if (tid < 16) {
        ptx_cp16(st + C::A_BYTES + C::B_BYTES + tid * 16,
                 a.scales + (size_t) grp * a.out + n0 + tid * 8, 16);
    } else if (tid < 20) {
        ptx_cp16(st + C::A_BYTES + C::B_BYTES + C::S_BYTES
                 + (tid - 16) * 16,
                 a.qzeros + (size_t) grp * ow + n0 / 8 + (tid - 16) * 4,
                 16);
    }
}


/*
 * Grid: (out / 128, ceil(m / BM), splits).  part NULL: the block's
 * result goes to y (f16 store or f32 add); else its f32 partial goes to
 * part[split][m][out].
 */
template <int BM, int BK, int ST>
static __global__ void __launch_bounds__(AWQ_GEMM_THREADS, 2)
awq_gemm_kernel(const struct awq_args a, float *part)
{
    typedef awq_cfg<BM, BK, ST>  C;
    constexpr int  MT = C::MT;
    extern __shared__ __align__(128) unsigned char  smem[];

    const int  lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int  g = lane >> 2, c = lane & 3;
    const int  wm = warp >> 1, wn = warp & 1;
    const int  n0 = blockIdx.x * AWQ_GEMM_BN, m0 = blockIdx.y * BM;
    const int  nk = a.in / BK, ns = gridDim.z;
    const int  kb = (int) blockIdx.z * nk / ns;
    const int  nkt = ((int) blockIdx.z + 1) * nk / ns - kb;
    const int  wcol = wn * 8 + g;        /* lane's word in a tile row */
    const uint32_t  sbase = (uint32_t) __cvta_generic_to_shared(smem);
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
            awq_load_stage<BM, BK, ST>(a, sbase + s * C::STAGE, kb + s,
                                       m0, n0);
        }
        ptx_commit();
    }

    for (int it = 0; it < nkt; it++) {
        ptx_wait<ST - 2>();
        __syncthreads();                /* stage it % ST is in; the
                                           stage refilled below is free */
        {
            const int  nx = it + ST - 1;

            if (nx < nkt) {
                awq_load_stage<BM, BK, ST>(a, sbase + (nx % ST) * C::STAGE,
                                           kb + nx, m0, n0);
            }
            ptx_commit();
        }

        const uint32_t  sa = sbase + (it % ST) * C::STAGE;
        const uint32_t  sb = sa + C::A_BYTES;
        const uint32_t  ss = sb + C::B_BYTES;
        const uint32_t  sz = ss + C::S_BYTES;
        uint32_t        sc[4], sh[8], zh[8];
        const uint32_t  zw = awq_lds32(sz + wcol * 4);

        /* per column of the lane's word: half2 (s, s), half2 of the
         * zero as the weights' nibbles will be made (1024 + z or
         * 1024 + 16 z) */
        awq_lds128(sc, ss + wcol * 16);
#pragma unroll
        for (int t = 0; t < 8; t++) {
            const int  cm = AWQ_COL(t);

            sh[t] = __byte_perm(sc[cm >> 1], 0, (cm & 1) ? 0x3232 : 0x1010);
            zh[t] = ((zw >> (8 * (t >> 1)) & ((t & 1) ? 0xf0u : 0x0fu))
                     * 0x10001u) | AWQ_GEMM_MAGIC;
        }

#pragma unroll
        for (int s = 0; s < BK / 16; s++) {
            uint32_t   af[MT][4], q[4];
            const int  r = 16 * s + 2 * c;
            const uint32_t  wo = (wcol & 3) * 4;

#pragma unroll
            for (int mi = 0; mi < MT; mi++) {
                ptx_ldsm4(af[mi], sa + awq_a_off<BK>(
                    wm * (BM / 2) + mi * 16 + (lane & 15),
                    2 * s + (lane >> 4)));
            }
            q[0] = awq_lds32(sb + awq_b_off(r, wcol >> 2) + wo);
            q[1] = awq_lds32(sb + awq_b_off(r + 1, wcol >> 2) + wo);
            q[2] = awq_lds32(sb + awq_b_off(r + 8, wcol >> 2) + wo);
            q[3] = awq_lds32(sb + awq_b_off(r + 9, wcol >> 2) + wo);

#pragma unroll
            for (int i = 0; i < 4; i++) {
                /* bytes: [i of row k, again, i of row k + 1, again] */
                const uint32_t  sel = i | i << 4 | (i + 4) << 8
                                      | (i + 4) << 12;
                const uint32_t  p01 = __byte_perm(q[0], q[1], sel);
                const uint32_t  p23 = __byte_perm(q[2], q[3], sel);

#pragma unroll
                for (int h = 0; h < 2; h++) {
                    const int       t = 2 * i + h;
                    const uint32_t  mk = h ? 0x00f000f0u : 0x000f000fu;
                    const uint32_t  b0 = awq_hmul2(awq_hsub2(
                        (p01 & mk) | AWQ_GEMM_MAGIC, zh[t]), sh[t]);
                    const uint32_t  b1 = awq_hmul2(awq_hsub2(
                        (p23 & mk) | AWQ_GEMM_MAGIC, zh[t]), sh[t]);

#pragma unroll
                    for (int mi = 0; mi < MT; mi++) {
                        ptx_mma_f16(acc[mi][t], af[mi], b0, b1);
                    }
                }
            }
        }
    }
    ptx_wait<0>();

    /*
     * acc[mi][t][e]: row g (e < 2) or g + 8 of m16 tile mi; e even:
     * word 2c of the warp's 8, e odd: word 2c + 1; column col(t) of the
     * word.  So the lane owns columns 16c .. 16c + 15 of the warp's 64.
     */
    const int  col0 = n0 + wn * 64 + 16 * c;

#pragma unroll
    for (int mi = 0; mi < MT; mi++) {
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            const int  row = m0 + wm * (BM / 2) + mi * 16 + g + 8 * hr;
            float      v[16];

#pragma unroll
            for (int t = 0; t < 8; t++) {
                const float  f = (t & 1) ? 0.0625f : 1.0f;

                v[AWQ_COL(t)] = acc[mi][t][2 * hr] * f;
                v[8 + AWQ_COL(t)] = acc[mi][t][2 * hr + 1] * f;
            }
            if (row >= a.m) {
                continue;
            }
            if (part != NULL) {
                float4  *p = (float4 *) (part + ((size_t) blockIdx.z * a.m
                                                 + row) * a.out + col0);

#pragma unroll
                for (int j = 0; j < 4; j++) {
                    p[j] = make_float4(v[4 * j], v[4 * j + 1],
                                       v[4 * j + 2], v[4 * j + 3]);
                }
            } else if (a.y_add) {
                float4  *p = (float4 *) ((float *) a.y
                                         + (size_t) row * a.out + col0);

#pragma unroll
                for (int j = 0; j < 4; j++) {
                    float4  o = p[j];

                    o.x += v[4 * j];
                    o.y += v[4 * j + 1];
                    o.z += v[4 * j + 2];
                    o.w += v[4 * j + 3];
                    p[j] = o;
                }
            } else {
                uint32_t  h[8];
                uint4    *p = (uint4 *) ((uint16_t *) a.y
                                         + (size_t) row * a.out + col0);

#pragma unroll
                for (int j = 0; j < 8; j++) {
                    __half2  hv = __floats2half2_rn(v[2 * j], v[2 * j + 1]);

                    h[j] = *(uint32_t *) &hv;
                }
                p[0] = make_uint4(h[0], h[1], h[2], h[3]);
                p[1] = make_uint4(h[4], h[5], h[6], h[7]);
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


template <int BM, int BK>
static int
awq_gemm_launch(const struct awq_args *a, float *part, int ns, unsigned bit,
    cudaStream_t s)
{
    /* more stages for small tiles: they stream weights, so want more
     * bytes in flight, and their stages are small */
    constexpr int  ST = BM == 128 ? 4 : 6;
    typedef awq_cfg<BM, BK, ST>  C;
    dim3           grid(a->out / AWQ_GEMM_BN, (a->m + BM - 1) / BM, ns);

    if (awq_smem_attr((const void *) awq_gemm_kernel<BM, BK, ST>, C::SMEM,
                      bit) != 0)
    {
        return -1;
    }
    awq_gemm_kernel<BM, BK, ST><<<grid, AWQ_GEMM_THREADS, C::SMEM, s>>>(
        *a, part);
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
    int        bm, bk, nk, tiles, ns, rc;
    uintptr_t  al;

    if (a->m < 1 || a->in <= 0 || a->in % 32 != 0 || a->group <= 0
        || a->group % 32 != 0 || a->in % a->group != 0 || a->out <= 0
        || a->out % AWQ_GEMM_BN != 0 || a->ksteps < 0
        || a->x == NULL || a->qweight == NULL || a->qzeros == NULL
        || a->scales == NULL || a->y == NULL)
    {
        return -1;
    }
    /* cp.async and the epilogue move 16 bytes at a time */
    al = (uintptr_t) a->x | (uintptr_t) a->qweight | (uintptr_t) a->qzeros
         | (uintptr_t) a->scales | (uintptr_t) a->y | (uintptr_t) a->work;
    if (al % 16 != 0) {
        return -1;
    }
    bm = awq_gemm_bm(a->m);
    if ((a->m + bm - 1) / bm > 65535) {
        return -1;
    }
    bk = a->in % 64 == 0 && a->group % 64 == 0 ? 64 : 32;
    nk = a->in / bk;
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
        rc = bk == 64 ? awq_gemm_launch<32, 64>(a, part, ns, 1u, s)
             : awq_gemm_launch<32, 32>(a, part, ns, 2u, s);
    } else if (bm == 64) {
        rc = bk == 64 ? awq_gemm_launch<64, 64>(a, part, ns, 4u, s)
             : awq_gemm_launch<64, 32>(a, part, ns, 8u, s);
    } else {
        rc = bk == 64 ? awq_gemm_launch<128, 64>(a, part, ns, 16u, s)
             : awq_gemm_launch<128, 32>(a, part, ns, 32u, s);
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
