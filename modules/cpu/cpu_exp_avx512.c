/*
 * cpu_exp_avx512.c -- exp over f32 vectors for AVX-512 (F), and the
 * softmax and SwiGLU built on it.  Built with the AVX-512 -m flags:
 * cpu_isa.c calls into it only where cpuid has them.
 *
 * exp(x), 16 lanes:
 *   x is clamped to [-110, 100] (NaN passes: the clamp returns it), then
 *   x = k ln2 + r with k = round(x / ln2) and r = x - k ln2_hi - k ln2_lo
 *   (ln2_hi the float nearest ln2, so the first FMA is exact), |r| <=
 *   ln2 / 2 + a little;  exp(r) by its Taylor polynomial of degree 7 in
 *   Horner form (truncation below 0.07 ulp);  then times 2^k1 and 2^k2,
 *   k1 = floor(k / 2), k2 = k - k1, two normal powers of two built in the
 *   exponent bits: the first product is exact, the second rounds once,
 *   so results that overflow give inf and those below FLT_MIN are the
 *   correctly rounded subnormal of the polynomial's value (gradual
 *   underflow, 0 below about -103.97).  Specials: NaN -> NaN, -inf -> 0,
 *   +inf -> inf, +-0 -> 1.
 *   Measured (tests/unit/test_cpu_exp.c, against double exp(), every
 *   2^-12 over [-104, 89], 2^20 random x there and 2^20 random finite
 *   bit patterns): at most 1 ulp (0.90).
 *
 * Every step is one IEEE operation or FMA per lane, the same ones as
 * cpu_exp_avx2.c's in the same order, so the two give the same bits,
 * and a lane's result never depends on its neighbours: tails are masked,
 * not left to a scalar exp.
 *
 * Softmax sums the exps in double in 16 partial sums (element i into sum
 * i % 16, as cpu_exp_avx2.c does with four ymm of doubles) added up in a
 * fixed tree: the same n values always give the same bits.
 */

#include <immintrin.h>
#include <math.h>

#include "cpu_gemm.h"

#define CPU_EXP_LO      -110.0f     /* exp() is 0 below -103.98 */
#define CPU_EXP_HI      100.0f      /* and inf above 88.73 */
#define CPU_LOG2E       0x1.715476p+0f
#define CPU_LN2_HI      0x1.62e430p-1f      /* float nearest ln 2 */
#define CPU_LN2_LO      -0x1.05c610p-29f    /* ln 2 - CPU_LN2_HI */


static inline __m512
cpu_exp16(__m512 x)
{
    __m512   k, r, p;
    __m512i  ki, k1, k2, bias;

    /* min(hi, x) returns x if x is NaN, so NaN goes through. */
    x = _mm512_max_ps(_mm512_set1_ps(CPU_EXP_LO),
                      _mm512_min_ps(_mm512_set1_ps(CPU_EXP_HI), x));

    k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(CPU_LOG2E)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(CPU_LN2_HI), x);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(CPU_LN2_LO), r);

    p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));

    /* 2^k as 2^k1 * 2^k2, both normal for k in [-159, 145]. */
    ki = _mm512_cvtps_epi32(k);
    k1 = _mm512_srai_epi32(ki, 1);
    k2 = _mm512_sub_epi32(ki, k1);
    bias = _mm512_set1_epi32(127);
    k1 = _mm512_slli_epi32(_mm512_add_epi32(k1, bias), 23);
    k2 = _mm512_slli_epi32(_mm512_add_epi32(k2, bias), 23);

    p = _mm512_mul_ps(p, _mm512_castsi512_ps(k1));
    return _mm512_mul_ps(p, _mm512_castsi512_ps(k2));
}


static inline __mmask16
cpu_tail16(uint32_t rest)
{
    return (__mmask16) ((1u << rest) - 1);
}


void
cpu_exp_avx512(float *x, uint32_t n)
{
    __mmask16  t;
    uint32_t   i;

    for (i = 0; i + 16 <= n; i += 16) {
        _mm512_storeu_ps(x + i, cpu_exp16(_mm512_loadu_ps(x + i)));
    }
    if (i < n) {
        t = cpu_tail16(n - i);
        _mm512_mask_storeu_ps(x + i, t,
                              cpu_exp16(_mm512_maskz_loadu_ps(t, x + i)));
    }
}


/* Adds partial sums part[0..15] in a fixed tree (as cpu_exp_avx2.c). */
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


void
cpu_softmax_avx512(float *x, uint32_t n)
{
    __m512     m, e, vmax;
    __m512d    s0, s1;
    __mmask16  t;
    uint32_t   i, j;
    float      lanes[16], max, inv;
    double     part[16];

    if (n == 0) {
        return;
    }
    t = cpu_tail16(n % 16);

    m = _mm512_set1_ps(-INFINITY);
    for (i = 0; i + 16 <= n; i += 16) {
        m = _mm512_max_ps(m, _mm512_loadu_ps(x + i));
    }
    if (i < n) {
        m = _mm512_max_ps(m, _mm512_mask_loadu_ps(m, t, x + i));
    }
    _mm512_storeu_ps(lanes, m);
    max = lanes[0];
    for (j = 1; j < 16; j++) {
        max = lanes[j] > max ? lanes[j] : max;
    }

    /* exp(x - max) and its sum: lanes 0-7 into s0, 8-15 into s1. */
    vmax = _mm512_set1_ps(max);
    s0 = _mm512_setzero_pd();
    s1 = _mm512_setzero_pd();
    for (i = 0; i + 16 <= n; i += 16) {
        e = cpu_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), vmax));
        _mm512_storeu_ps(x + i, e);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(
                 _mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    if (i < n) {
        e = cpu_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(t, x + i), vmax));
        e = _mm512_maskz_mov_ps(t, e);
        _mm512_mask_storeu_ps(x + i, t, e);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(
                 _mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    _mm512_storeu_pd(part, s0);
    _mm512_storeu_pd(part + 8, s1);

    inv = (float) (1.0 / cpu_sum16(part));
    e = _mm512_set1_ps(inv);
    for (i = 0; i + 16 <= n; i += 16) {
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), e));
    }
    if (i < n) {
        _mm512_mask_storeu_ps(x + i, t,
            _mm512_mul_ps(_mm512_maskz_loadu_ps(t, x + i), e));
    }
}


/* out = g / (1 + exp(-g)) * up, as cpu_swiglu_portable rounds it. */
static inline __m512
cpu_swiglu16(__m512 g, __m512 u)
{
    __m512  d;

    d = cpu_exp16(_mm512_xor_ps(g, _mm512_set1_ps(-0.0f)));
    d = _mm512_add_ps(_mm512_set1_ps(1.0f), d);
    return _mm512_mul_ps(_mm512_div_ps(g, d), u);
}


void
cpu_swiglu_avx512(float *out, const float *gate, const float *up,
    uint32_t n)
{
    __mmask16  t;
    uint32_t   i;

    for (i = 0; i + 16 <= n; i += 16) {
        _mm512_storeu_ps(out + i, cpu_swiglu16(_mm512_loadu_ps(gate + i),
                                               _mm512_loadu_ps(up + i)));
    }
    if (i < n) {
        t = cpu_tail16(n - i);
        _mm512_mask_storeu_ps(out + i, t,
            cpu_swiglu16(_mm512_maskz_loadu_ps(t, gate + i),
                         _mm512_maskz_loadu_ps(t, up + i)));
    }
}
