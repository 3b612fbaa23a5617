/*
 * cpu_gemm_i8_vnni.c -- the I8 kernel on AVX-512 VNNI (built with the
 * AVX-512 -m flags; cpu_isa.c calls it only where cpuid has avx512vnni).
 *
 * One zmm load is 16 rows x 4 columns of a panel as u8 (q + 128).  Per
 * token it meets x16's two signed bytes, broadcast from 32 bits each:
 * vpdpbusd into a "hi" and a "lo" i32 accumulator per (row, token), so
 * that over a block of CPU_XQ_BLOCK columns
 *     I_b = 256 * hi + lo - bias_b     (= sum q * x16, cpu_gemm.h)
 * exactly, then y = fma(float(I_b), xscale_b, y) and at the end
 * y *= scale[r].  No i32 sum can overflow: |256 * hi| <= 255 * 127 *
 * 256 * 256 < 2^31.
 *
 * A tile is one panel x T tokens (T <= 8: 2T i32 and T f32 accumulators
 * in registers).  The task's panels are walked in order, so decode reads
 * one contiguous stream of weights per thread, left to the hardware
 * prefetchers (a software prefetch 512 or 2048 bytes ahead made one
 * thread's qwen2.5-0.5b decode 10-20% slower, prefetcht1 4 or 8 KiB
 * ahead 20-30%).  Even for one token the two chains (hi, lo) of one
 * vpdpbusd per 64 bytes outrun memory several times over.  Prompts walk
 * tokens in blocks of CPU_VNNI_NC: each panel (at most a few hundred
 * KiB) is read from memory once per block and reused from L2 by its
 * tiles.
 */

#include <immintrin.h>

#include "cpu_gemm.h"

#define CPU_VNNI_TMAX   8
#define CPU_VNNI_NC     256     /* prompts: tokens per block */

struct cpu_vnni_tile {
    const uint8_t   *w;         /* the panel, column 0 */
    const int8_t    *hi;        /* first token's x16 high bytes */
    const int8_t    *lo;
    const float     *xscale;    /* first token's block scales */
    const int32_t   *bias;
    size_t           xs;        /* bytes from token to token (hi, lo) */
    uint32_t         nb;        /* blocks, and their scales per token */
    uint32_t         groups;    /* column groups of 4 (kp / 4) */
    const float     *scale;     /* the panel's row scales */
    float           *y;         /* first token, the panel's first row */
    size_t           ys;        /* floats from token to token */
    __mmask16        mask;      /* rows of the panel */
};


static inline __attribute__((always_inline)) __m512i
cpu_vnni_x(const int8_t *p)
{
    int32_t  v;

    __builtin_memcpy(&v, p, sizeof(v));
    return _mm512_set1_epi32(v);
}


/* One panel x T tokens over all columns. */
static inline __attribute__((always_inline)) void
cpu_vnni_tile(const int T, const struct cpu_vnni_tile *a)
{
    __m512          acc[CPU_VNNI_TMAX];
    __m512i         ih[CPU_VNNI_TMAX], il[CPU_VNNI_TMAX], wv, iv;
    const int8_t   *hp[CPU_VNNI_TMAX], *lp[CPU_VNNI_TMAX];
    uint32_t        b, g, g0, g1;
    int             t;

#pragma GCC unroll 8
    for (t = 0; t < T; t++) {
        acc[t] = _mm512_setzero_ps();
        hp[t] = a->hi + (size_t) t * a->xs;
        lp[t] = a->lo + (size_t) t * a->xs;
    }

    for (b = 0; b < a->nb; b++) {
        g0 = b * (CPU_XQ_BLOCK / 4);
        g1 = a->groups < g0 + CPU_XQ_BLOCK / 4 ? a->groups
                                               : g0 + CPU_XQ_BLOCK / 4;
#pragma GCC unroll 8
        for (t = 0; t < T; t++) {
            ih[t] = _mm512_setzero_si512();
            il[t] = _mm512_setzero_si512();
        }
        for (g = g0; g < g1; g++) {
            wv = _mm512_loadu_si512(a->w + (size_t) g * 64);
#pragma GCC unroll 8
            for (t = 0; t < T; t++) {
                ih[t] = _mm512_dpbusd_epi32(ih[t], wv,
                    cpu_vnni_x(hp[t] + (size_t) g * 4));
                il[t] = _mm512_dpbusd_epi32(il[t], wv,
                    cpu_vnni_x(lp[t] + (size_t) g * 4));
            }
        }
#pragma GCC unroll 8
        for (t = 0; t < T; t++) {
            iv = _mm512_add_epi32(_mm512_slli_epi32(ih[t], 8), il[t]);
            iv = _mm512_sub_epi32(iv, _mm512_set1_epi32(
                     a->bias[(size_t) t * a->nb + b]));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(iv),
                         _mm512_set1_ps(a->xscale[(size_t) t * a->nb + b]),
                         acc[t]);
        }
    }

#pragma GCC unroll 8
    for (t = 0; t < T; t++) {
        _mm512_mask_storeu_ps(a->y + (size_t) t * a->ys, a->mask,
            _mm512_mul_ps(acc[t], _mm512_maskz_loadu_ps(a->mask, a->scale)));
    }
}


typedef void (*cpu_vnni_tile_pt)(const struct cpu_vnni_tile *a);

#define CPU_VNNI_INST(T)                                                      \
    static void                                                               \
    cpu_vnni_tile_##T(const struct cpu_vnni_tile *a)                          \
    {                                                                         \
        cpu_vnni_tile(T, a);                                                  \
    }

CPU_VNNI_INST(1)
CPU_VNNI_INST(2)
CPU_VNNI_INST(3)
CPU_VNNI_INST(4)
CPU_VNNI_INST(5)
CPU_VNNI_INST(6)
CPU_VNNI_INST(7)
CPU_VNNI_INST(8)

static const cpu_vnni_tile_pt  cpu_vnni_tiles[CPU_VNNI_TMAX + 1] = {
    NULL, cpu_vnni_tile_1, cpu_vnni_tile_2, cpu_vnni_tile_3,
    cpu_vnni_tile_4, cpu_vnni_tile_5, cpu_vnni_tile_6, cpu_vnni_tile_7,
    cpu_vnni_tile_8
};


void
cpu_gemm_i8_vnni(const struct cpu_gemm_job *job, uint32_t p0, uint32_t p1)
{
    const struct cpu_weight  *w = job->w;
    const struct cpu_xq      *xq = job->xq;
    struct cpu_vnni_tile      a;
    uint32_t                  t0, t1, t, nt, p;
    int                       nv;

    a.xs = xq->kp;
    a.nb = xq->nb;
    a.groups = xq->kp / 4;
    a.ys = w->rows;

    for (t0 = 0; t0 < job->m; t0 = t1) {
        t1 = job->m - t0 > CPU_VNNI_NC ? t0 + CPU_VNNI_NC : job->m;
        for (p = p0; p < p1; p++) {
            nv = (int) w->rows - (int) p * CPU_PANEL;
            a.mask = nv >= 16 ? 0xffff : (__mmask16) ((1u << nv) - 1);
            a.w = (const uint8_t *) w->data
                  + (size_t) p * xq->kp * CPU_PANEL;
            a.scale = w->scale + (size_t) p * CPU_PANEL;
            for (t = t0; t < t1; t += nt) {
                nt = t1 - t > CPU_VNNI_TMAX ? CPU_VNNI_TMAX : t1 - t;
                a.hi = xq->hi + (size_t) t * xq->kp;
                a.lo = xq->lo + (size_t) t * xq->kp;
                a.xscale = xq->scale + (size_t) t * xq->nb;
                a.bias = xq->bias + (size_t) t * xq->nb;
                a.y = job->y + (size_t) t * w->rows
                      + (size_t) p * CPU_PANEL;
                cpu_vnni_tiles[nt](&a);
            }
        }
    }
}
