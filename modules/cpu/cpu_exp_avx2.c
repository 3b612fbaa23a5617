/*
 * cpu_exp_avx2.c -- exp over f32 vectors for AVX2 + FMA, and the softmax
 * and SwiGLU built on it.  Built with the AVX2 -m flags: cpu_isa.c calls
 * into it only where cpuid has them.
 *
 * The method, its range and special values, and its error (at most 1
 * ulp, 0.90 measured) are cpu_exp_avx512.c's: the same operations in the
 * same order on 8 lanes instead of 16, so the two give the same bits.
 * Tails are masked (vmaskmov), never left to a scalar exp.
 *
 * Softmax sums the exps in double in 16 partial sums, element i into sum
 * i % 16 (two ymm of floats per step, four ymm of doubles), added up in
 * the same tree as cpu_exp_avx512.c.
 */

#include <immintrin.h>
#include <math.h>

#include "cpu_gemm.h"

#define CPU_EXP_LO      -110.0f     /* exp() is 0 below -103.98 */
#define CPU_EXP_HI      100.0f      /* and inf above 88.73 */
#define CPU_LOG2E       0x1.715476p+0f
#define CPU_LN2_HI      0x1.62e430p-1f      /* float nearest ln 2 */
#define CPU_LN2_LO      -0x1.05c610p-29f    /* ln 2 - CPU_LN2_HI */


static inline __m256
cpu_exp8(__m256 x)
{
    __m256   k, r, p;
    __m256i  ki, k1, k2, bias;

    /* min(hi, x) returns x if x is NaN, so NaN goes through. */
    x = _mm256_max_ps(_mm256_set1_ps(CPU_EXP_LO),
                      _mm256_min_ps(_mm256_set1_ps(CPU_EXP_HI), x));

    k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(CPU_LOG2E)),
                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(CPU_LN2_HI), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(CPU_LN2_LO), r);

    p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));

    /* 2^k as 2^k1 * 2^k2, both normal for k in [-159, 145]. */
    ki = _mm256_cvtps_epi32(k);
    k1 = _mm256_srai_epi32(ki, 1);
    k2 = _mm256_sub_epi32(ki, k1);
    bias = _mm256_set1_epi32(127);
    k1 = _mm256_slli_epi32(_mm256_add_epi32(k1, bias), 23);
    k2 = _mm256_slli_epi32(_mm256_add_epi32(k2, bias), 23);

    p = _mm256_mul_ps(p, _mm256_castsi256_ps(k1));
    return _mm256_mul_ps(p, _mm256_castsi256_ps(k2));
}


/* Lanes [0, rest) of a vector whose first lane is number first. */
static inline __m256i
cpu_tail8(uint32_t rest, int first)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int) rest),
                              _mm256_setr_epi32(first, first + 1,
                                                first + 2, first + 3,
                                                first + 4, first + 5,
                                                first + 6, first + 7));
}


void
cpu_exp_avx2(float *x, uint32_t n)
{
    __m256i   t;
    uint32_t  i;

    for (i = 0; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(x + i, cpu_exp8(_mm256_loadu_ps(x + i)));
    }
    if (i < n) {
        t = cpu_tail8(n - i, 0);
        _mm256_maskstore_ps(x + i, t, cpu_exp8(_mm256_maskload_ps(x + i, t)));
    }
}


/* Adds partial sums part[0..15] in a fixed tree (as cpu_exp_avx512.c). */
static double
cpu_sum16(double *part)
{
    uint32_t  w, j;

    for (w = 8; w > 0; w >>= 1) {
        for (j = 0; j < w; j++) {
            part[j] += part[j + w];
        }
    }
    return part[0];
}


/* exp(v - max) of 8 elements, added to partial sums lo (the first 4) and
 * hi; the masked-out lanes of t give 0. */
static inline __m256
cpu_exp_sum8(__m256 v, __m256 vmax, __m256i t, __m256d *lo, __m256d *hi)
{
    __m256  e;

    e = _mm256_and_ps(cpu_exp8(_mm256_sub_ps(v, vmax)),
                      _mm256_castsi256_ps(t));
    *lo = _mm256_add_pd(*lo, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    *hi = _mm256_add_pd(*hi, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    return e;
}


void
cpu_softmax_avx2(float *x, uint32_t n)
{
    __m256    m, e, vmax;
    __m256d   s[4];
    __m256i   all, t0, t1;
    uint32_t  i, j, rest;
    float     lanes[8], max, inv;
    double    part[16];

    if (n == 0) {
        return;
    }
    all = _mm256_set1_epi32(-1);

    m = _mm256_set1_ps(-INFINITY);
    for (i = 0; i + 8 <= n; i += 8) {
        m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    }
    if (i < n) {
        t0 = cpu_tail8(n - i, 0);
        m = _mm256_blendv_ps(m, _mm256_max_ps(m, _mm256_maskload_ps(x + i,
                                                                    t0)),
                             _mm256_castsi256_ps(t0));
    }
    _mm256_storeu_ps(lanes, m);
    max = lanes[0];
    for (j = 1; j < 8; j++) {
        max = lanes[j] > max ? lanes[j] : max;
    }

    /* exp(x - max) and its sum, 16 elements a step: element i goes to
     * part[i % 16], s[0] holding parts 0-3, s[1] 4-7 and so on. */
    vmax = _mm256_set1_ps(max);
    for (j = 0; j < 4; j++) {
        s[j] = _mm256_setzero_pd();
    }
    for (i = 0; i + 16 <= n; i += 16) {
        e = cpu_exp_sum8(_mm256_loadu_ps(x + i), vmax, all, &s[0], &s[1]);
        _mm256_storeu_ps(x + i, e);
        e = cpu_exp_sum8(_mm256_loadu_ps(x + i + 8), vmax, all, &s[2],
                         &s[3]);
        _mm256_storeu_ps(x + i + 8, e);
    }
    rest = n - i;
    if (rest > 0) {
        t0 = cpu_tail8(rest, 0);
        t1 = cpu_tail8(rest, 8);
        e = cpu_exp_sum8(_mm256_maskload_ps(x + i, t0), vmax, t0, &s[0],
                         &s[1]);
        _mm256_maskstore_ps(x + i, t0, e);
        e = cpu_exp_sum8(_mm256_maskload_ps(x + i + 8, t1), vmax, t1,
                         &s[2], &s[3]);
        _mm256_maskstore_ps(x + i + 8, t1, e);
    }
    for (j = 0; j < 4; j++) {
        _mm256_storeu_pd(part + 4 * j, s[j]);
    }

    inv = (float) (1.0 / cpu_sum16(part));
    e = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), e));
    }
    if (i < n) {
        t0 = cpu_tail8(n - i, 0);
        _mm256_maskstore_ps(x + i, t0,
            _mm256_mul_ps(_mm256_maskload_ps(x + i, t0), e));
    }
}


/* out = g / (1 + exp(-g)) * up, as cpu_swiglu_portable rounds it. */
static inline __m256
cpu_swiglu8(__m256 g, __m256 u)
{
    __m256  d;

    d = cpu_exp8(_mm256_xor_ps(g, _mm256_set1_ps(-0.0f)));
    d = _mm256_add_ps(_mm256_set1_ps(1.0f), d);
    return _mm256_mul_ps(_mm256_div_ps(g, d), u);
}


void
cpu_swiglu_avx2(float *out, const float *gate, const float *up,
    uint32_t n)
{
    __m256i   t;
    uint32_t  i;

    for (i = 0; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(out + i, cpu_swiglu8(_mm256_loadu_ps(gate + i),
                                              _mm256_loadu_ps(up + i)));
    }
    if (i < n) {
        t = cpu_tail8(n - i, 0);
        _mm256_maskstore_ps(out + i, t,
            cpu_swiglu8(_mm256_maskload_ps(gate + i, t),
                        _mm256_maskload_ps(up + i, t)));
    }
}
