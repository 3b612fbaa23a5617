/*
 * test_kv_int8.c -- the int8-kv module's codecs (lmd_kv_int8.so, loaded
 * from $LMD_MODULES or modules/ through the daemon's strict loader), cpu
 * backend:
 *
 *   - the module table: "int8" and "int4" found, anything else not;
 *     runs take about half (int8) and a quarter (int4) of an f16 run;
 *   - round trip on random data with outliers (one number per position
 *     50x the rest): every number within half a step of what it was,
 *     the step computed here from the position's own min and max
 *     ((max - min) / (2^bits - 1)), positions written in random order
 *     (int4 packs two to a byte: no write may clobber its neighbour);
 *     unpack gives get's numbers bit for bit in the cpu engine's layout
 *     (keys transposed);
 *   - attention's two loops against float64 sums over the dequantized
 *     numbers (what the codec stores, read back with get): scores and
 *     weighted value sums equal up to float rounding; the same whether
 *     the positions come in one call or two;
 *   - whole attention (softmax of scaled scores, then values) over the
 *     quantized cache against f64 attention over the original numbers,
 *     N(0, 1) data and data with 10x outliers: relative L2 error printed
 *     and bounded (int8 2e-2 / 3e-2, int4 2.5e-1 / 6e-1).  Per-token
 *     quantization spends an outlier's range on its whole position: the
 *     int4 figures are why LMDeploy's quant_policy 4 is the lossy one.
 */

#include "lmd_test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "lmd_module.h"
#include "lmd_module_load.h"

#ifndef P
#define P       64              /* positions in a run (a block) */
#endif
#ifndef D
#define D       128             /* head_dim */
#endif

static uint64_t  rng_state = 0x2545f4914f6cdd1dull;


static double
urand(void)                     /* [0, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double) (rng_state >> 11) / 9007199254740992.0;
}


static double
nrand(void)                     /* ~N(0, 1) */
{
    double  u = urand() + 1e-12, v = urand();

    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}


static struct lmd_module_handle *
kv_open(const struct lmd_kv_codec **c8, const struct lmd_kv_codec **c4)
{
    const char                *mods = getenv("LMD_MODULES");
    char                       err[LMD_MODULE_ERR_LEN];
    struct lmd_module_handle  *h;

    h = lmd_module_open(mods != NULL && mods[0] ? mods : "modules",
                        "lmd_kv_int8.so", LMD_MODULE_KV_CODEC, err,
                        sizeof(err));
    fail_unless(h != NULL, "%s", err);
    if (h == NULL) {
        return NULL;
    }
    *c8 = h->module->ops.kv_codec.find("int8");
    *c4 = h->module->ops.kv_codec.find("int4");
    fail_unless(*c8 != NULL && (*c8)->bits == 8 && (*c8)->cpu != NULL,
                "int8 not found");
    fail_unless(*c4 != NULL && (*c4)->bits == 4 && (*c4)->cpu != NULL,
                "int4 not found");
    if (*c8 == NULL || *c4 == NULL) {
        lmd_module_close(h);
        return NULL;
    }
    return h;
}


/* Positions of N(0, 1) numbers, each with one outlier `out` times the
 * rest (1: none). */
static void
fill_out(float *x, uint32_t n, float out)
{
    uint32_t  p, i;

    for (p = 0; p < n; p++) {
        for (i = 0; i < D; i++) {
            x[p * D + i] = (float) nrand();
        }
        x[p * D + (uint32_t) (urand() * D)] *= out;
    }
}


static void
fill(float *x, uint32_t n)
{
    fill_out(x, n, 50.0f);
}


/* A run of P positions filled from x in random order. */
static void *
make_run(const struct lmd_kv_codec_cpu *c, int which, const float *x)
{
    uint32_t  order[P], p, j, t;
    void     *run;

    run = aligned_alloc(64, c->run_bytes(P, D));
    if (run == NULL) {
        return NULL;
    }
    memset(run, 0xa5, c->run_bytes(P, D));
    for (p = 0; p < P; p++) {
        order[p] = p;
    }
    for (p = P - 1; p > 0; p--) {
        j = (uint32_t) (urand() * (p + 1));
        t = order[p];
        order[p] = order[j];
        order[j] = t;
    }
    for (p = 0; p < P; p++) {
        c->put(run, which, P, D, order[p], x + (size_t) order[p] * D);
    }
    return run;
}


LMD_TEST(codec_table)
{
    const struct lmd_kv_codec  *c8, *c4;
    struct lmd_module_handle   *h = kv_open(&c8, &c4);
    size_t                      f16 = (size_t) P * D * 2;

    if (h == NULL) {
        return;
    }
    fail_unless(h->module->ops.kv_codec.find("fp8") == NULL
                && h->module->ops.kv_codec.find("") == NULL
                && h->module->ops.kv_codec.find(NULL) == NULL,
                "unknown codec names must not be found");
    fail_unless(c8->cpu->run_bytes(P, D) % 64 == 0
                && c4->cpu->run_bytes(P, D) % 64 == 0, "runs 64-aligned");
    fail_unless(c8->cpu->run_bytes(P, D) <= f16 * 55 / 100,
                "int8 run %zu bytes, f16 %zu", c8->cpu->run_bytes(P, D), f16);
    fail_unless(c4->cpu->run_bytes(P, D) <= f16 * 30 / 100,
                "int4 run %zu bytes, f16 %zu", c4->cpu->run_bytes(P, D), f16);
    printf("# run of %u positions x %u: f16 %zu bytes, int8 %zu (%.3f), "
           "int4 %zu (%.3f)\n", P, D, f16, c8->cpu->run_bytes(P, D),
           (double) c8->cpu->run_bytes(P, D) / f16, c4->cpu->run_bytes(P, D),
           (double) c4->cpu->run_bytes(P, D) / f16);
    lmd_module_close(h);
}


static void
round_trip(const struct lmd_kv_codec *c)
{
    const double  levels = (double) ((1u << c->bits) - 1);
    static float  x[P * D], y[P * D];
    double        worst = 0;
    int           which, bad = 0;
    uint32_t      p, i;

    for (which = 0; which < 2; which++) {
        void  *run;

        fill(x, P);
        run = make_run(c->cpu, which, x);
        fail_unless(run != NULL, "out of memory");
        if (run == NULL) {
            return;
        }
        c->cpu->get(run, which, P, D, 0, P, y);
        {
            static float  t[P * D];
            int           diff = 0;

            /* unpack: the same numbers, in the cpu engine's layout */
            c->cpu->unpack(run, which, P, D, t);
            for (p = 0; p < P; p++) {
                for (i = 0; i < D; i++) {
                    float  u = which == 0 ? t[i * P + p] : t[p * D + i];

                    diff += memcmp(&u, &y[p * D + i], sizeof(u)) != 0;
                }
            }
            fail_unless(diff == 0, "%s: unpack differs from get at %d "
                        "numbers (%s)", c->name, diff,
                        which ? "values" : "keys");
        }
        for (p = 0; p < P; p++) {
            double  mn = x[p * D], mx = x[p * D], half;

            for (i = 1; i < D; i++) {
                mn = fmin(mn, x[p * D + i]);
                mx = fmax(mx, x[p * D + i]);
            }
            half = (mx - mn) / levels / 2;
            for (i = 0; i < D; i++) {
                double  e = fabs((double) y[p * D + i] - x[p * D + i]);

                worst = fmax(worst, e / half);
                bad += e > half * (1 + 1e-5) + 1e-6 * fabs(mx);
            }
        }
        free(run);
    }
    fail_unless(bad == 0, "%s: %d numbers off by more than half a step",
                c->name, bad);
    printf("# %s round trip: worst error %.4f of half a step\n", c->name,
           worst);
}


LMD_TEST(round_trip_with_outliers)
{
    const struct lmd_kv_codec  *c8, *c4;
    struct lmd_module_handle   *h = kv_open(&c8, &c4);

    if (h == NULL) {
        return;
    }
    round_trip(c8);
    round_trip(c4);
    lmd_module_close(h);
}


/* Attention's loops against f64 sums over the dequantized numbers. */
static void
loops(const struct lmd_kv_codec *c)
{
    static float  xk[P * D], xv[P * D], kd[P * D], vd[P * D];
    float         q[D], s[P], s2[P], w[P], out[D];
    double        worst_s = 0, worst_o = 0;
    void         *kr, *vr;
    uint32_t      p, i, t;

    fill(xk, P);
    fill(xv, P);
    kr = make_run(c->cpu, 0, xk);
    vr = make_run(c->cpu, 1, xv);
    fail_unless(kr != NULL && vr != NULL, "out of memory");
    if (kr == NULL || vr == NULL) {
        free(kr);
        free(vr);
        return;
    }
    c->cpu->get(kr, 0, P, D, 0, P, kd);
    c->cpu->get(vr, 1, P, D, 0, P, vd);

    for (t = 0; t < 4; t++) {
        uint32_t  p0 = t == 0 ? 0 : (uint32_t) (urand() * 8);
        uint32_t  p1 = t == 0 ? P : P - (uint32_t) (urand() * 8);
        uint32_t  mid = p0 + (p1 - p0) / 3;

        for (i = 0; i < D; i++) {
            q[i] = (float) nrand();
        }
        c->cpu->scores(kr, P, D, p0, p1, q, s);
        c->cpu->scores(kr, P, D, p0, mid, q, s2);
        c->cpu->scores(kr, P, D, mid, p1, q, s2 + (mid - p0));
        fail_unless(memcmp(s, s2, (p1 - p0) * sizeof(float)) == 0,
                    "%s: scores differ when [%u, %u) comes in two calls",
                    c->name, p0, p1);
        for (p = p0; p < p1; p++) {
            double  ref = 0, mag = 0, lo = kd[p * D], e;

            /* the codec sums q (lo + code step) as step (sum q code) +
             * lo (sum q): f32 rounding of D terms of size |q| (|lo| +
             * code step) each; lo is the smallest stored number */
            for (i = 1; i < D; i++) {
                lo = fmin(lo, kd[p * D + i]);
            }
            for (i = 0; i < D; i++) {
                ref += (double) q[i] * kd[p * D + i];
                mag += fabs(q[i]) * (fabs(lo) + kd[p * D + i] - lo);
            }
            e = fabs(s[p - p0] - ref) / mag;
            worst_s = fmax(worst_s, e);
            fail_unless(e <= 2.0 * D / 16777216.0, "%s: score of position "
                        "%u: %g, f64 %g (%.2e of the terms' sizes)", c->name,
                        p, s[p - p0], ref, e);
        }

        for (p = p0; p < p1; p++) {
            w[p - p0] = (float) urand();
        }
        for (i = 0; i < D; i++) {
            out[i] = (float) (i % 3);
        }
        c->cpu->accumulate(vr, P, D, p0, p1, w, out);
        for (i = 0; i < D; i++) {
            double  ref = (double) (i % 3), mag = fabs(ref) + 1e-30, e;

            for (p = p0; p < p1; p++) {
                double  lo = vd[p * D];
                uint32_t  j;

                for (j = 1; j < D; j++) {
                    lo = fmin(lo, vd[p * D + j]);
                }
                ref += (double) w[p - p0] * vd[p * D + i];
                mag += w[p - p0] * (fabs(lo) + vd[p * D + i] - lo);
            }
            e = fabs(out[i] - ref) / mag;
            worst_o = fmax(worst_o, e);
            fail_unless(e <= 2.0 * P / 16777216.0, "%s: value sum, dim %u: "
                        "%g, f64 %g (%.2e of the terms' sizes)", c->name, i,
                        out[i], ref, e);
        }
    }
    printf("# %s against f64 on the dequantized numbers: scores %.2e, "
           "value sums %.2e (of the terms' sizes; bounds %.1e, %.1e)\n",
           c->name, worst_s, worst_o, 2.0 * D / 16777216.0,
           2.0 * P / 16777216.0);
    free(kr);
    free(vr);
}


LMD_TEST(attention_loops_exact_on_dequantized)
{
    const struct lmd_kv_codec  *c8, *c4;
    struct lmd_module_handle   *h = kv_open(&c8, &c4);

    if (h == NULL) {
        return;
    }
    loops(c8);
    loops(c4);
    lmd_module_close(h);
}


/* softmax(q k / sqrt(D)) v over P positions, in f64 on f32 inputs. */
static void
attend_ref(const float *q, const float *k, const float *v, double *o)
{
    double  s[P], mx = -INFINITY, sum = 0;
    uint32_t  p, i;

    for (p = 0; p < P; p++) {
        s[p] = 0;
        for (i = 0; i < D; i++) {
            s[p] += (double) q[i] * k[p * D + i];
        }
        s[p] /= sqrt((double) D);
        mx = fmax(mx, s[p]);
    }
    for (p = 0; p < P; p++) {
        s[p] = exp(s[p] - mx);
        sum += s[p];
    }
    for (i = 0; i < D; i++) {
        o[i] = 0;
        for (p = 0; p < P; p++) {
            o[i] += s[p] / sum * v[p * D + i];
        }
    }
}


static void
whole(const struct lmd_kv_codec *c, float outlier, double bound)
{
    static float  xk[P * D], xv[P * D];
    float         q[D], s[P], w[P], out[D], mx, sum;
    double        ref[D], num = 0, den = 0;
    void         *kr, *vr;
    uint32_t      p, i, t;

    fill_out(xk, P, outlier);
    fill_out(xv, P, outlier);
    kr = make_run(c->cpu, 0, xk);
    vr = make_run(c->cpu, 1, xv);
    fail_unless(kr != NULL && vr != NULL, "out of memory");
    if (kr == NULL || vr == NULL) {
        free(kr);
        free(vr);
        return;
    }
    for (t = 0; t < 16; t++) {
        for (i = 0; i < D; i++) {
            q[i] = (float) nrand();
        }
        c->cpu->scores(kr, P, D, 0, P, q, s);
        mx = -INFINITY;
        for (p = 0; p < P; p++) {
            s[p] /= sqrtf((float) D);
            mx = fmaxf(mx, s[p]);
        }
        sum = 0;
        for (p = 0; p < P; p++) {
            w[p] = expf(s[p] - mx);
            sum += w[p];
        }
        for (p = 0; p < P; p++) {
            w[p] /= sum;
        }
        memset(out, 0, sizeof(out));
        c->cpu->accumulate(vr, P, D, 0, P, w, out);
        attend_ref(q, xk, xv, ref);
        for (i = 0; i < D; i++) {
            num += (out[i] - ref[i]) * (out[i] - ref[i]);
            den += ref[i] * ref[i];
        }
    }
    fail_unless(sqrt(num / den) <= bound, "%s, outliers %gx: attention "
                "rel L2 %.3e against the unquantized cache (bound %.1e)",
                c->name, outlier, sqrt(num / den), bound);
    printf("# %s attention against the unquantized f64, outliers %gx: "
           "rel L2 %.3e (bound %.1e)\n", c->name, outlier, sqrt(num / den),
           bound);
    free(kr);
    free(vr);
}


LMD_TEST(attention_against_unquantized)
{
    const struct lmd_kv_codec  *c8, *c4;
    struct lmd_module_handle   *h = kv_open(&c8, &c4);

    if (h == NULL) {
        return;
    }
    /* measured 8.0e-3, 1.4e-1, 1.4e-2, 3.2e-1: bounds at about 2x */
    whole(c8, 1.0f, 2e-2);
    whole(c4, 1.0f, 2.5e-1);
    whole(c8, 10.0f, 3e-2);
    whole(c4, 10.0f, 6e-1);
    lmd_module_close(h);
}
