/*
 * cpu_gemm_i8_avx2.c -- the I8 kernel on AVX2 (built with the AVX2 -m
 * flags; cpu_isa.c calls it where cpuid has them but not AVX-512 VNNI).
 *
 * A 16-byte load is 4 rows x 4 columns of a panel as u8 (q + 128);
 * widened to 16 bits, vpmaddwd multiplies it by the 4 columns' x16
 * (broadcast as 64 bits) and adds pairs: 8 i32, two per row.  Over a
 * block of CPU_XQ_BLOCK columns the pairs are added (vphaddd) and
 *     I_b = sum (q + 128) * x16 - bias_b     (= sum q * x16, cpu_gemm.h)
 * exactly, then y = fma(float(I_b), xscale_b, y), at the end y *=
 * scale[r]: the same bits as cpu_gemm_i8_vnni.c and the portable kernel.
 * No i32 sum can overflow: 2 * 255 * 32512 * 64 < 2^31.
 *
 * A tile is one panel x T tokens (T <= 2: 4T i32 and 2T f32
 * accumulators, within the 16 ymm registers); the task's panels are
 * walked in order, one stream of weights per thread, left to the
 * hardware prefetchers as in cpu_gemm_i8_vnni.c.
 */

#include <immintrin.h>
#include <string.h>

#include "cpu_gemm.h"

#define CPU_AVX2_I8_TMAX    2
#define CPU_AVX2_I8_NC      256     /* prompts: tokens per block */

struct cpu_avx2_i8_tile {
    const uint8_t   *w;         /* the panel, column 0 */
    const int16_t   *v;         /* first token's x16 */
    const float     *xscale;    /* first token's block scales */
    const int32_t   *bias;
    size_t           xs;        /* x16 from token to token */
    uint32_t         nb;
    uint32_t         groups;    /* column groups of 4 */
    const float     *scale;     /* the panel's row scales (16, padded) */
    float           *y;         /* first token, the panel's first row */
    size_t           ys;
    uint32_t         nv;        /* rows of the panel */
};


/* 16 i32 lanes of two accumulators (rows 4j.. of a and 4j + 4.. of b,
 * two lanes per row) as 8 row sums in order. */
static inline __attribute__((always_inline)) __m256i
cpu_avx2_i8_rows(__m256i a, __m256i b)
{
    return _mm256_permute4x64_epi64(_mm256_hadd_epi32(a, b),
                                    _MM_SHUFFLE(3, 1, 2, 0));
}


static inline __attribute__((always_inline)) void
cpu_avx2_i8_tile(const int T, const struct cpu_avx2_i8_tile *a)
{
    __m256          acc[2][CPU_AVX2_I8_TMAX];
    __m256i         is[4][CPU_AVX2_I8_TMAX], xv[CPU_AVX2_I8_TMAX], wv, iv;
    __m256          sx;
    float           out[CPU_PANEL];
    uint32_t        b, g, g0, g1, l;
    int64_t         x4;
    int             t, j;

#pragma GCC unroll 2
    for (t = 0; t < T; t++) {
        acc[0][t] = _mm256_setzero_ps();
        acc[1][t] = _mm256_setzero_ps();
    }

    for (b = 0; b < a->nb; b++) {
        g0 = b * (CPU_XQ_BLOCK / 4);
        g1 = a->groups < g0 + CPU_XQ_BLOCK / 4 ? a->groups
                                               : g0 + CPU_XQ_BLOCK / 4;
#pragma GCC unroll 2
        for (t = 0; t < T; t++) {
#pragma GCC unroll 4
            for (j = 0; j < 4; j++) {
                is[j][t] = _mm256_setzero_si256();
            }
        }
        for (g = g0; g < g1; g++) {
#pragma GCC unroll 2
            for (t = 0; t < T; t++) {
                memcpy(&x4, a->v + (size_t) t * a->xs + (size_t) g * 4,
                       sizeof(x4));
                xv[t] = _mm256_set1_epi64x(x4);
            }
#pragma GCC unroll 4
            for (j = 0; j < 4; j++) {
                wv = _mm256_cvtepu8_epi16(_mm_loadu_si128(
                         (const __m128i *) (a->w + (size_t) g * 64 + j * 16)));
#pragma GCC unroll 2
                for (t = 0; t < T; t++) {
                    is[j][t] = _mm256_add_epi32(is[j][t],
                                   _mm256_madd_epi16(wv, xv[t]));
                }
            }
        }
#pragma GCC unroll 2
        for (t = 0; t < T; t++) {
            sx = _mm256_set1_ps(a->xscale[(size_t) t * a->nb + b]);
            iv = _mm256_set1_epi32(a->bias[(size_t) t * a->nb + b]);
            acc[0][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(
                            cpu_avx2_i8_rows(is[0][t], is[1][t]), iv)),
                            sx, acc[0][t]);
            acc[1][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(
                            cpu_avx2_i8_rows(is[2][t], is[3][t]), iv)),
                            sx, acc[1][t]);
        }
    }

#pragma GCC unroll 2
    for (t = 0; t < T; t++) {
        _mm256_storeu_ps(out, _mm256_mul_ps(acc[0][t],
                                            _mm256_loadu_ps(a->scale)));
        _mm256_storeu_ps(out + 8, _mm256_mul_ps(acc[1][t],
                                                _mm256_loadu_ps(a->scale + 8)));
        for (l = 0; l < a->nv; l++) {
            a->y[(size_t) t * a->ys + l] = out[l];
        }
    }
}


static void
cpu_avx2_i8_tile_1(const struct cpu_avx2_i8_tile *a)
{
    cpu_avx2_i8_tile(1, a);
}


static void
cpu_avx2_i8_tile_2(const struct cpu_avx2_i8_tile *a)
{
    cpu_avx2_i8_tile(2, a);
}


void
cpu_gemm_i8_avx2(const struct cpu_gemm_job *job, uint32_t p0, uint32_t p1)
{
    const struct cpu_weight  *w = job->w;
    const struct cpu_xq      *xq = job->xq;
    struct cpu_avx2_i8_tile   a;
    uint32_t                  t0, t1, t, nt, p, nv;

    a.xs = xq->kp;
    a.nb = xq->nb;
    a.groups = xq->kp / 4;
    a.ys = w->rows;

    for (t0 = 0; t0 < job->m; t0 = t1) {
        t1 = job->m - t0 > CPU_AVX2_I8_NC ? t0 + CPU_AVX2_I8_NC : job->m;
        for (p = p0; p < p1; p++) {
            nv = w->rows - p * CPU_PANEL;
            a.nv = nv > CPU_PANEL ? CPU_PANEL : nv;
            a.w = (const uint8_t *) w->data
                  + (size_t) p * xq->kp * CPU_PANEL;
            a.scale = w->scale + (size_t) p * CPU_PANEL;
            for (t = t0; t < t1; t += nt) {
                nt = t1 - t > CPU_AVX2_I8_TMAX ? CPU_AVX2_I8_TMAX : t1 - t;
                a.v = xq->v + (size_t) t * xq->kp;
                a.xscale = xq->scale + (size_t) t * xq->nb;
                a.bias = xq->bias + (size_t) t * xq->nb;
                a.y = job->y + (size_t) t * w->rows
                      + (size_t) p * CPU_PANEL;
                if (nt == 2) {
                    cpu_avx2_i8_tile_2(&a);
                } else {
                    cpu_avx2_i8_tile_1(&a);
                }
            }
        }
    }
}
