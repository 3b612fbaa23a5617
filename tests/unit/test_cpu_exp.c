/*
 * test_cpu_exp.c -- unit tests for the cpu engine's vector exp and the
 * ops on it (modules/cpu/cpu_exp_avx2.c, cpu_exp_avx512.c) and the
 * portable softmax and SwiGLU (cpu_ops.c), each set this CPU has.
 *
 * exp is measured against double exp() on every 2^-12 step over
 * [-104, 89], on random x in that range and on random bit patterns: at
 * most 2 ulp of the correctly rounded result (ulp of a subnormal: 2^-149),
 * inf exactly where the result rounds to inf, and the special values.
 * The measured maximum is printed.  Softmax and SwiGLU are checked
 * against double references, and the AVX2 and AVX-512 versions against
 * each other, bit for bit, whatever the length and a value's position.
 */

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmd_common.h"
#include "cpu_gemm.h"
#include "cpu_kernels.h"
#include "lmd_test.h"

#define EXP_MAX_ULP     2.0
#define CHUNK           4096

struct isa_fns {
    int              isa;
    void           (*exp)(float *x, uint32_t n);    /* NULL: portable */
    cpu_softmax_pt   softmax;
    cpu_swiglu_pt    swiglu;
};

static const struct isa_fns  all_isas[] = {
    { CPU_ISA_PORTABLE, NULL, cpu_softmax_portable, cpu_swiglu_portable },
    { CPU_ISA_AVX2, cpu_exp_avx2, cpu_softmax_avx2, cpu_swiglu_avx2 },
    { CPU_ISA_AVX512, cpu_exp_avx512, cpu_softmax_avx512, cpu_swiglu_avx512 }
};

#define N_ISAS  (sizeof(all_isas) / sizeof(all_isas[0]))

static uint64_t  rng_state = 0x2545f4914f6cdd1dull;


static uint64_t
rnd64(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}


/* Uniform in [lo, hi). */
static double
rnd_in(double lo, double hi)
{
    return lo + (double) (rnd64() >> 11) * 0x1p-53 * (hi - lo);
}


static float
from_bits(uint32_t u)
{
    float  f;

    memcpy(&f, &u, sizeof(f));
    return f;
}


static uint32_t
to_bits(float f)
{
    uint32_t  u;

    memcpy(&u, &f, sizeof(u));
    return u;
}


/* The error of got in ulps of the float nearest want (want > 0), or
 * 1e9 where got is inf or NaN and that float is not inf. */
static double
ulp_err(float got, double want)
{
    float  near = (float) want;
    int    e;

    if (isinf(near)) {
        return got == INFINITY ? 0.0 : 1e9;
    }
    if (!isfinite(got)) {
        return 1e9;
    }
    e = ilogb(want);
    if (e < FLT_MIN_EXP - 1) {
        e = FLT_MIN_EXP - 1;                /* subnormal: ulp 2^-149 */
    }
    return fabs((double) got - want) / ldexp(1.0, e - (FLT_MANT_DIG - 1));
}


/* Runs fn over x[0..n) in chunks and returns the worst ulp error. */
static double
exp_worst(void (*fn)(float *, uint32_t), const float *x, uint32_t n,
    float *worst_x)
{
    float     buf[CHUNK];
    uint32_t  i, j, m;
    double    err, worst;

    worst = 0.0;
    for (i = 0; i < n; i += m) {
        m = n - i < CHUNK ? n - i : CHUNK;
        memcpy(buf, x + i, m * sizeof(float));
        fn(buf, m);
        for (j = 0; j < m; j++) {
            err = ulp_err(buf[j], exp((double) x[i + j]));
            if (err > worst) {
                worst = err;
                *worst_x = x[i + j];
            }
        }
    }
    return worst;
}


/* 1 if any vector set is there to test, else skips with the reason. */
static int
have_vector_isa(void)
{
    if (!cpu_isa_supported(CPU_ISA_AVX2)) {
        lmd_test_skip("this CPU has neither AVX2 nor AVX-512: no vector exp");
        return 0;
    }
    return 1;
}


/* Assumption: exp is within 2 ulp over the whole range of finite
 * results, gradual underflow included, and inf past the top. */
LMD_TEST(exp_ulp_bound)
{
    const struct isa_fns  *f;
    float                 *x, wx;
    uint32_t               n, i, k;
    double                 worst;

    if (!have_vector_isa()) {
        return;
    }
    n = (89 + 104) * 4096 + 1;
    x = malloc(((size_t) n + (1u << 21)) * sizeof(float));
    fail_unless(x != NULL, "out of memory");
    if (x == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        x[i] = (float) (-104.0 + i * 0x1p-12);
    }
    /* 2^20 uniform in the range, 2^20 of any finite bit pattern. */
    for (k = 0; k < (1u << 20); k++) {
        x[n + k] = (float) rnd_in(-104.0, 89.0);
    }
    for (k = 0; k < (1u << 20); k++) {
        do {
            x[n + (1u << 20) + k] = from_bits((uint32_t) (rnd64() >> 32));
        } while (!isfinite(x[n + (1u << 20) + k]));
    }

    for (f = all_isas + 1; f < all_isas + N_ISAS; f++) {
        if (!cpu_isa_supported(f->isa)) {
            printf("# %s: not on this CPU, not measured\n",
                   cpu_isa_name(f->isa));
            continue;
        }
        wx = 0.0f;
        worst = exp_worst(f->exp, x, n, &wx);
        printf("# %s exp: max %.3f ulp on the 2^-12 sweep (at x = %a)\n",
               cpu_isa_name(f->isa), worst, wx);
        fail_unless(worst <= EXP_MAX_ULP, "%s: %.3f ulp at x = %a",
                    cpu_isa_name(f->isa), worst, wx);
        worst = exp_worst(f->exp, x + n, 1u << 21, &wx);
        printf("# %s exp: max %.3f ulp on random x (at x = %a)\n",
               cpu_isa_name(f->isa), worst, wx);
        fail_unless(worst <= EXP_MAX_ULP, "%s: %.3f ulp at x = %a",
                    cpu_isa_name(f->isa), worst, wx);
    }
    free(x);
}


/* Assumption: NaN -> NaN, -inf -> 0, +inf -> inf, +-0 -> 1 exactly, 0
 * below the subnormals, inf above FLT_MAX's log, and the extremes of
 * the finite range right. */
LMD_TEST(exp_special_values)
{
    static const float  in[] = {
        NAN, -NAN, -INFINITY, INFINITY, 0.0f, -0.0f, -1e30f, 1e30f,
        -FLT_MAX, FLT_MAX, -104.0f, -103.98f, 88.8f, 89.0f,
        0x1.62e42ep+6f, -88.0f, 1e-30f, -1e-30f
    };
    const struct isa_fns  *f;
    float                  y[sizeof(in) / sizeof(in[0])];
    uint32_t               n, i;

    if (!have_vector_isa()) {
        return;
    }
    n = sizeof(in) / sizeof(in[0]);
    for (f = all_isas + 1; f < all_isas + N_ISAS; f++) {
        if (!cpu_isa_supported(f->isa)) {
            continue;
        }
        memcpy(y, in, sizeof(in));
        f->exp(y, n);
        fail_unless(isnan(y[0]) && isnan(y[1]), "%s: exp(NaN) = %a, %a",
                    cpu_isa_name(f->isa), y[0], y[1]);
        fail_unless(y[2] == 0.0f && !signbit(y[2]), "%s: exp(-inf) = %a",
                    cpu_isa_name(f->isa), y[2]);
        fail_unless(y[3] == INFINITY, "%s: exp(inf) = %a",
                    cpu_isa_name(f->isa), y[3]);
        fail_unless(y[4] == 1.0f && y[5] == 1.0f, "%s: exp(+-0) = %a, %a",
                    cpu_isa_name(f->isa), y[4], y[5]);
        fail_unless(y[6] == 0.0f && y[8] == 0.0f && y[10] == 0.0f
                    && y[11] == 0.0f,
                    "%s: exp of large negatives: %a %a %a %a",
                    cpu_isa_name(f->isa), y[6], y[8], y[10], y[11]);
        fail_unless(y[7] == INFINITY && y[9] == INFINITY
                    && y[12] == INFINITY && y[13] == INFINITY,
                    "%s: exp of large positives: %a %a %a %a",
                    cpu_isa_name(f->isa), y[7], y[9], y[12], y[13]);
        /* The largest x with a finite exp, and a subnormal result. */
        for (i = 14; i < 16; i++) {
            fail_unless(ulp_err(y[i], exp((double) in[i])) <= EXP_MAX_ULP,
                        "%s: exp(%a) = %a, want %a", cpu_isa_name(f->isa),
                        in[i], y[i], exp((double) in[i]));
        }
        fail_unless(isfinite(y[14]) && y[15] > 0.0f && y[15] < FLT_MIN,
                    "%s: exp(%a) = %a, exp(%a) = %a", cpu_isa_name(f->isa),
                    in[14], y[14], in[15], y[15]);
        fail_unless(y[16] == 1.0f && y[17] == 1.0f, "%s: exp(tiny) %a %a",
                    cpu_isa_name(f->isa), y[16], y[17]);
    }
}


/* Assumption: a value's exp does not depend on the length of the call
 * or its place in it (tails are masked, not scalar), and the AVX2 and
 * AVX-512 versions agree bit for bit. */
LMD_TEST(exp_position_and_isa_independent)
{
    float     ref[40], a[40], b[40];
    uint32_t  n, i, bad;

    if (!have_vector_isa()) {
        return;
    }
    for (i = 0; i < 40; i++) {
        ref[i] = (float) rnd_in(-100.0, 88.0);
    }
    bad = 0;
    for (n = 1; n <= 40; n++) {
        for (i = 0; i < n; i++) {
            a[i] = ref[(i + n) % 40];
        }
        memcpy(b, a, sizeof(a));
        cpu_exp_avx2(a, n);
        for (i = 0; i < n; i++) {
            b[0] = ref[(i + n) % 40];
            cpu_exp_avx2(b, 1);
            bad += to_bits(a[i]) != to_bits(b[0]);
        }
        if (cpu_isa_supported(CPU_ISA_AVX512)) {
            for (i = 0; i < n; i++) {
                b[i] = ref[(i + n) % 40];
            }
            cpu_exp_avx512(b, n);
            bad += memcmp(a, b, n * sizeof(float)) != 0;
        }
    }
    fail_unless(bad == 0, "%u values differ by length, place or set", bad);
}


/* Assumption: softmax sums to 1 within 1e-6 and each value is within 4
 * float epsilons (relative) of the double softmax of the same inputs
 * (multiples of 2^-12, so x - max is exact in f32), -inf scores give 0,
 * and the AVX2 and AVX-512 versions agree bit for bit. */
LMD_TEST(softmax_against_double)
{
    static const uint32_t  lens[] = {
        1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 255, 256,
        257, 1000, 4099
    };
    const struct isa_fns  *f;
    float                 *in, *y, *y2;
    double                *ref, max, sum, tot, rel;
    uint32_t               li, n, i, bad;

    in = malloc(4099 * sizeof(float));
    y = malloc(4099 * sizeof(float));
    y2 = malloc(4099 * sizeof(float));
    ref = malloc(4099 * sizeof(double));
    fail_unless(in != NULL && y != NULL && y2 != NULL && ref != NULL,
                "out of memory");
    if (in == NULL || y == NULL || y2 == NULL || ref == NULL) {
        goto done;
    }

    for (li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
        n = lens[li];
        for (i = 0; i < n; i++) {
            in[i] = (float) (round(rnd_in(-20.0, 20.0) * 4096) / 4096);
        }
        if (n > 4) {
            in[n / 2] = -INFINITY;          /* a masked position */
        }
        max = -INFINITY;
        for (i = 0; i < n; i++) {
            max = in[i] > max ? in[i] : max;
        }
        sum = 0.0;
        for (i = 0; i < n; i++) {
            ref[i] = exp((double) in[i] - max);
            sum += ref[i];
        }
        for (i = 0; i < n; i++) {
            ref[i] /= sum;
        }

        for (f = all_isas; f < all_isas + N_ISAS; f++) {
            if (!cpu_isa_supported(f->isa)) {
                continue;
            }
            memcpy(y, in, n * sizeof(float));
            f->softmax(y, n);
            tot = 0.0;
            bad = 0;
            rel = 0.0;
            for (i = 0; i < n; i++) {
                tot += y[i];
                if (fabs(y[i] - ref[i]) > 4 * FLT_EPSILON * ref[i]) {
                    bad++;
                    rel = fabs(y[i] - ref[i]) / ref[i];
                }
            }
            fail_unless(fabs(tot - 1.0) <= 1e-6, "%s n %u: sum %.9g",
                        cpu_isa_name(f->isa), n, tot);
            fail_unless(bad == 0, "%s n %u: %u values off, one by %.3g",
                        cpu_isa_name(f->isa), n, bad, rel);
            fail_unless(n <= 4 || y[n / 2] == 0.0f, "%s n %u: -inf -> %a",
                        cpu_isa_name(f->isa), n, y[n / 2]);
            fail_unless(n != 1 || y[0] == 1.0f, "%s: n 1 gives %a",
                        cpu_isa_name(f->isa), y[0]);
        }

        if (cpu_isa_supported(CPU_ISA_AVX512)) {
            memcpy(y, in, n * sizeof(float));
            memcpy(y2, in, n * sizeof(float));
            cpu_softmax_avx2(y, n);
            cpu_softmax_avx512(y2, n);
            fail_unless(memcmp(y, y2, n * sizeof(float)) == 0,
                        "n %u: avx2 and avx512 softmax differ", n);
        }
    }

done:
    free(in);
    free(y);
    free(y2);
    free(ref);
}


/* Assumption: SwiGLU is within 6 float epsilons (relative) of g / (1 +
 * exp(-g)) * up in double, NaN stays NaN, a very negative g gives 0 and
 * a large one g * up; AVX2 and AVX-512 agree bit for bit. */
LMD_TEST(swiglu_against_double)
{
    enum { N = 1027 };
    const struct isa_fns  *f;
    float                  g[N], u[N], y[N], y2[N];
    double                 want;
    uint32_t               i, n, bad;

    for (i = 0; i < N; i++) {
        g[i] = (float) rnd_in(-30.0, 30.0);
        u[i] = (float) rnd_in(-4.0, 4.0);
    }
    g[0] = NAN;
    g[1] = -200.0f;
    g[2] = 200.0f;
    g[3] = 0.0f;

    for (f = all_isas; f < all_isas + N_ISAS; f++) {
        if (!cpu_isa_supported(f->isa)) {
            continue;
        }
        f->swiglu(y, g, u, N);
        fail_unless(isnan(y[0]), "%s: silu(NaN) = %a", cpu_isa_name(f->isa),
                    y[0]);
        fail_unless(y[1] == 0.0f && y[2] == 200.0f * u[2] && y[3] == 0.0f,
                    "%s: %a %a %a", cpu_isa_name(f->isa), y[1], y[2], y[3]);
        bad = 0;
        for (i = 4; i < N; i++) {
            want = (double) g[i] / (1.0 + exp(-(double) g[i])) * u[i];
            bad += fabs(y[i] - want) > 6 * FLT_EPSILON * fabs(want);
        }
        fail_unless(bad == 0, "%s: %u values off", cpu_isa_name(f->isa),
                    bad);
    }

    if (cpu_isa_supported(CPU_ISA_AVX512)) {
        for (n = 1; n <= 40; n++) {
            cpu_swiglu_avx2(y, g + 4, u + 4, n);
            cpu_swiglu_avx512(y2, g + 4, u + 4, n);
            fail_unless(memcmp(y, y2, n * sizeof(float)) == 0,
                        "n %u: avx2 and avx512 swiglu differ", n);
        }
        cpu_swiglu_avx2(y, g, u, N);
        cpu_swiglu_avx512(y2, g, u, N);
        fail_unless(memcmp(y + 1, y2 + 1, (N - 1) * sizeof(float)) == 0,
                    "avx2 and avx512 swiglu differ");
    }
}
