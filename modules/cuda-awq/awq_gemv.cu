/*
 * awq_gemv.cu -- W4A16 GEMV for decode batches (m = 1..16 rows) on the
 * AutoAWQ layout, as fast as memory allows.
 *
 * Plan.  A block is 8 warps over one column tile of 256 (m <= 8) or 128
 * (m > 8) outputs; each warp takes a slice of 16 * P input rows and the
 * blocks along gridDim.y split K further.  In a warp, lane (g, c) =
 * (lane / 4, lane % 4) reads CW words (CW * 8 columns) of 4 consecutive
 * rows per 16-row step with one 16-byte (CW = 4) or 8-byte (CW = 2) load
 * each: the 8 lanes of one row read 128 contiguous bytes.  All P steps
 * are loaded before any arithmetic, so 64 * P bytes per lane are in
 * flight.
 *
 * Dequantization is in f16 registers: a byte permute pairs byte i of two
 * rows' words, and an and/or with 0x6400 (the f16 1024) makes half2
 * (1024 + q[k][n], 1024 + q[k+1][n]) from the low nibbles, or
 * (1024 + 16 q, ...) from the high ones.  Subtracting the zero made the
 * same way gives (q - z) (or 16 (q - z)) exactly; times the scale it is
 * the weight rounded once to f16.  Those pairs run along k for one
 * column, which is the register layout of mma.m16n8k16's A operand with
 * the 16 A rows taken as output columns and x as the B operand (8 rows
 * of m per mma), so the products and the f32 sums go to tensor cores.
 * The k order within a step is permuted (lane c holds rows 4c..4c+3),
 * and x is read with the same permutation.
 *
 * Reduction: the 8 warps' partials meet in shared memory and are added
 * in warp order; with several blocks along K each writes its f32 partial
 * to `work`, and the last to arrive (an atomic counter per column tile)
 * adds all partials in block order.  The order never depends on timing.
 */

#include "awq_kernels.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define AWQ_WARPS     8
#define AWQ_THREADS   (AWQ_WARPS * 32)
#define AWQ_MAGIC     0x64006400u       /* half2 (1024, 1024) */
#define AWQ_SMEM_MAX  (AWQ_WARPS * 8 * 256 * 4)
#define AWQ_MAX_TILES 4096              /* column tiles of 128 or more */


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


static __device__ __forceinline__ void
awq_mma(float *d, const uint32_t *a, uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}


/* Streamed weights: read once, so keep them out of L1. */
template <int CW>
static __device__ __forceinline__ void
awq_ld_stream(uint32_t *d, const int32_t *p)
{
    if (CW == 4) {
        asm volatile("ld.global.nc.L1::no_allocate.v4.u32 "
            "{%0, %1, %2, %3}, [%4];"
            : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3]) : "l"(p));
    } else {
        asm volatile("ld.global.nc.L1::no_allocate.v2.u32 {%0, %1}, [%2];"
            : "=r"(d[0]), "=r"(d[1]) : "l"(p));
    }
}


template <int CW>
static __device__ __forceinline__ void
awq_ld_words(uint32_t *d, const void *p)
{
    if (CW == 4) {
        uint4  v = __ldg((const uint4 *) p);

        d[0] = v.x; d[1] = v.y; d[2] = v.z; d[3] = v.w;
    } else {
        uint2  v = __ldg((const uint2 *) p);

        d[0] = v.x; d[1] = v.y;
    }
}


template <int MT, int CW, int P>
__global__ void __launch_bounds__(AWQ_THREADS)
awq_gemv_kernel(const struct awq_gemv_args a, unsigned *cnt, float *part)
{
    constexpr int  WC = 64 * CW;        /* columns of the block tile */
    constexpr int  NT = 4 * CW;         /* mma tiles per lane per step */
    constexpr int  NB = MT / 8;         /* mmas per tile (8 rows each) */
    extern __shared__ float  red[];     /* [AWQ_WARPS][m][WC] */
    __shared__ int  last;

    const int  lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int  g = lane >> 2, c = lane & 3;
    const int  m = a.m, in = a.in, out = a.out, ow = a.out / 8;
    const int  lc0 = g * CW * 8;        /* lane's first column in tile */
    const int  n0 = blockIdx.x * WC + lc0;
    const int  k0 = (blockIdx.y * AWQ_WARPS + warp) * 16 * P;
    float      acc[NT][NB][4];

#pragma unroll
    for (int t = 0; t < NT; t++) {
#pragma unroll
        for (int b = 0; b < NB; b++) {
            acc[t][b][0] = acc[t][b][1] = acc[t][b][2] = acc[t][b][3] = 0;
        }
    }

    if (k0 < in) {
        uint32_t  q[P][4][CW], zw[CW], sc[CW * 4], xb[P][NB][2];
        const int grp = k0 / a.group;

#pragma unroll
        for (int s = 0; s < P; s++) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                awq_ld_stream<CW>(q[s][r], a.qweight
                    + (size_t) (k0 + 16 * s + 4 * c + r) * ow + n0 / 8);
            }
        }
        awq_ld_words<CW>(zw, a.qzeros + (size_t) grp * ow + n0 / 8);
#pragma unroll
        for (int v = 0; v < CW; v++) {
            awq_ld_words<4>(sc + 4 * v,
                a.scales + (size_t) grp * out + n0 + 8 * v);
        }
#pragma unroll
        for (int s = 0; s < P; s++) {
#pragma unroll
            for (int b = 0; b < NB; b++) {
                int  row = g + 8 * b;

                xb[s][b][0] = xb[s][b][1] = 0;
                if (row < m) {
                    awq_ld_words<2>(xb[s][b],
                        a.x + (size_t) row * in + k0 + 16 * s + 4 * c);
                }
            }
        }

#pragma unroll
        for (int s = 0; s < P; s++) {
#pragma unroll
            for (int wp = 0; wp < CW / 2; wp++) {
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    /* bytes: [i of row r, i of row r, i of r+1, ...] */
                    const uint32_t  sel = i | i << 4 | (i + 4) << 8
                                          | (i + 4) << 12;
                    const int       wx = 2 * wp, wy = 2 * wp + 1;
                    uint32_t        px01, py01, px23, py23, zx, zy;

                    px01 = __byte_perm(q[s][0][wx], q[s][1][wx], sel);
                    py01 = __byte_perm(q[s][0][wy], q[s][1][wy], sel);
                    px23 = __byte_perm(q[s][2][wx], q[s][3][wx], sel);
                    py23 = __byte_perm(q[s][2][wy], q[s][3][wy], sel);
                    zx = __byte_perm(zw[wx], zw[wx], sel);
                    zy = __byte_perm(zw[wy], zw[wy], sel);
#pragma unroll
                    for (int h = 0; h < 2; h++) {
                        const uint32_t  mk = h ? 0x00f000f0u : 0x000f000fu;
                        /* nibble 2i + h holds column cm of the word */
                        const int       cm = (i >> 1) + 4 * (i & 1) + 2 * h;
                        const int       cx = 8 * wx + cm, cy = 8 * wy + cm;
                        const uint32_t  sx = __byte_perm(sc[cx / 2], 0,
                                             (cx & 1) ? 0x3232 : 0x1010);
                        const uint32_t  sy = __byte_perm(sc[cy / 2], 0,
                                             (cy & 1) ? 0x3232 : 0x1010);
                        const uint32_t  zhx = (zx & mk) | AWQ_MAGIC;
                        const uint32_t  zhy = (zy & mk) | AWQ_MAGIC;
                        uint32_t        af[4];

                        af[0] = awq_hmul2(awq_hsub2((px01 & mk) | AWQ_MAGIC,
                                                    zhx), sx);
                        af[1] = awq_hmul2(awq_hsub2((py01 & mk) | AWQ_MAGIC,
                                                    zhy), sy);
                        af[2] = awq_hmul2(awq_hsub2((px23 & mk) | AWQ_MAGIC,
                                                    zhx), sx);
                        af[3] = awq_hmul2(awq_hsub2((py23 & mk) | AWQ_MAGIC,
                                                    zhy), sy);
#pragma unroll
                        for (int b = 0; b < NB; b++) {
                            awq_mma(acc[(wp * 4 + i) * 2 + h][b], af,
                                    xb[s][b][0], xb[s][b][1]);
                        }
                    }
                }
            }
        }
    }

    /* Tiles from high nibbles summed 16 (q - z) s: exact rescale. */
#pragma unroll
    for (int wp = 0; wp < CW / 2; wp++) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int  t = (wp * 4 + i) * 2 + h;
                const int  cm = (i >> 1) + 4 * (i & 1) + 2 * h;
                const int  cx = lc0 + 16 * wp + cm, cy = cx + 8;
                const float  f = h ? 0.0625f : 1.0f;

#pragma unroll
                for (int b = 0; b < NB; b++) {
                    const int  r0 = 8 * b + 2 * c;
                    float     *w = red + (size_t) warp * m * WC;

                    if (r0 < m) {
                        w[r0 * WC + cx] = acc[t][b][0] * f;
                        w[r0 * WC + cy] = acc[t][b][2] * f;
                    }
                    if (r0 + 1 < m) {
                        w[(r0 + 1) * WC + cx] = acc[t][b][1] * f;
                        w[(r0 + 1) * WC + cy] = acc[t][b][3] * f;
                    }
                }
            }
        }
    }
    __syncthreads();

    const int  nout = m * WC;
    const int  kb = gridDim.y;

    for (int e = threadIdx.x; e < nout; e += AWQ_THREADS) {
        float  v = 0;
        int    row = e / WC, col = blockIdx.x * WC + e % WC;

        for (int w = 0; w < AWQ_WARPS; w++) {
            v += red[w * nout + e];
        }
        if (kb == 1) {
            __half  hv = __float2half_rn(v);

            a.y[(size_t) row * out + col] = *(uint16_t *) &hv;
        } else {
            part[((size_t) blockIdx.y * m + row) * out + col] = v;
        }
    }
    if (kb == 1) {
        return;
    }

    /* Make the partial visible, then count this block in. */
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
    for (int e = threadIdx.x; e < nout; e += AWQ_THREADS) {
        float  v = 0;
        int    row = e / WC, col = blockIdx.x * WC + e % WC;

        for (int b = 0; b < kb; b++) {
            v += __ldcg(part + ((size_t) b * m + row) * out + col);
        }
        __half  hv = __float2half_rn(v);

        a.y[(size_t) row * out + col] = *(uint16_t *) &hv;
    }
    if (threadIdx.x == 0) {
        cnt[blockIdx.x] = 0;            /* ready for the next call */
    }
}


/* The counters sit at a fixed size, so calls of any shape can share one
 * work buffer without one's partials landing on another's counters. */
static size_t
awq_counter_bytes(int out)
{
    (void) out;
    return AWQ_MAX_TILES * sizeof(unsigned);
}


extern "C" size_t
awq_gemv_work_bytes(int m, int in, int out)
{
    /* ksteps 1 splits K the most: 16 * 8 rows per block. */
    return awq_counter_bytes(out)
           + (size_t) ((in + 127) / 128) * m * out * sizeof(float);
}


template <int MT, int CW, int P>
static int
awq_launch(const struct awq_gemv_args *a, cudaStream_t s)
{
    static int  smem_set;
    int         kb = (a->in + 16 * P * AWQ_WARPS - 1) / (16 * P * AWQ_WARPS);
    size_t      smem = (size_t) AWQ_WARPS * a->m * 64 * CW * sizeof(float);
    dim3        grid(a->out / (64 * CW), kb);
    unsigned   *cnt = (unsigned *) a->work;
    float      *part = (float *) ((char *) a->work
                                  + awq_counter_bytes(a->out));

    if (kb > 1 && a->work == NULL) {
        return -1;
    }
    if (!smem_set) {
        if (cudaFuncSetAttribute(awq_gemv_kernel<MT, CW, P>,
                cudaFuncAttributeMaxDynamicSharedMemorySize, AWQ_SMEM_MAX)
            != cudaSuccess)
        {
            return -1;
        }
        smem_set = 1;
    }
    awq_gemv_kernel<MT, CW, P><<<grid, AWQ_THREADS, smem, s>>>(*a, cnt,
                                                               part);
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}


extern "C" int
awq_gemv(const struct awq_gemv_args *a, cudaStream_t s)
{
    int  p = a->ksteps;

    if (a->m < 1 || a->m > 16 || a->in <= 0 || a->in % 32 != 0
        || a->group <= 0 || a->group % 32 != 0 || a->in % a->group != 0
        || a->out <= 0 || a->out % (a->m <= 8 ? 256 : 128) != 0
        || a->out / 128 > AWQ_MAX_TILES
        || a->x == NULL || a->qweight == NULL || a->qzeros == NULL
        || a->scales == NULL || a->y == NULL)
    {
        return -1;
    }
    if (p == 0) {
        /* measured (NOTES.md): 4 rows-steps per warp beat 2 and 1 */
        p = a->group % 64 == 0 && a->in % 64 == 0 ? 4 : 2;
    }
    /* A warp's rows must lie in one group (one zero and scale load). */
    if ((p != 1 && p != 2 && p != 4) || a->group % (16 * p) != 0
        || a->in % (16 * p) != 0)
    {
        return -1;
    }
    if (a->m <= 8) {
        return p == 1 ? awq_launch<8, 4, 1>(a, s)
               : p == 2 ? awq_launch<8, 4, 2>(a, s)
               : awq_launch<8, 4, 4>(a, s);
    }
    return p == 1 ? awq_launch<16, 2, 1>(a, s)
           : p == 2 ? awq_launch<16, 2, 2>(a, s)
           : awq_launch<16, 2, 4>(a, s);
}
