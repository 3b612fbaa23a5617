/*
 * test_cpu_kernels.c -- unit tests for the cpu engine's matrix products:
 * modules/cpu/cpu_weight.c (conversion, int8 quantization, packing, row
 * lookup), cpu_matmul.c with every instruction-set kernel this CPU has
 * (cpu_gemm_*.c, chosen by cpu_isa_set) and cpu_pool.c.
 *
 * References are computed here, independently: weights converted with
 * _Float16 / lmd_f32_to_bf16 / a double-precision int8 quantizer, sums in
 * double.  A kernel's result must lie within the bound of an f32 chain of
 * cols additions: |y - ref| <= (cols + 2) * 2^-24 * sum |w x| (x rounded
 * to bf16 first where BF16 runs on vdpbf16ps, quantized to 16 bits per
 * block of 256 columns for I8 weights).  Determinism is checked
 * bit for bit: a batch of m tokens against each token alone, and one
 * thread against two.
 */

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lmd_common.h"
#include "cpu_gemm.h"
#include "cpu_kernels.h"
#include "cpu_pool.h"
#include "lmd_test.h"


/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static uint64_t  rng_state = 0x9e3779b97f4a7c15ull;

static float
rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    /* Uniform in [-1, 1). */
    return (float) ((double) (rng_state >> 11) * 0x1p-52 - 1.0);
}


static float
as_f16(float f)
{
    return (float) (_Float16) f;
}


static float
as_bf16(float f)
{
    return lmd_bf16_to_f32(lmd_f32_to_bf16(f));
}


/* The weights the kernels should compute with, [rows][cols], and for I8
 * the scales; src is f32. */
static void
reference_weights(const float *src, uint32_t rows, uint32_t cols,
    int dtype, float *out, float *scale)
{
    uint32_t  r, k;
    double    amax, s;
    int       q;

    for (r = 0; r < rows; r++) {
        const float  *row = src + (size_t) r * cols;
        float        *o = out + (size_t) r * cols;

        switch (dtype) {
        case LMD_DTYPE_F32:
            memcpy(o, row, cols * sizeof(float));
            break;
        case LMD_DTYPE_F16:
            for (k = 0; k < cols; k++) {
                o[k] = as_f16(row[k]);
            }
            break;
        case LMD_DTYPE_BF16:
            for (k = 0; k < cols; k++) {
                o[k] = as_bf16(row[k]);
            }
            break;
        default:
            amax = 0;
            for (k = 0; k < cols; k++) {
                amax = fabs(row[k]) > amax ? fabs(row[k]) : amax;
            }
            s = (float) (amax / 127.0);
            scale[r] = (float) s;
            for (k = 0; k < cols; k++) {
                q = s > 0 ? (int) nearbyint(row[k] / s) : 0;
                o[k] = (float) (q * (float) s);
            }
            break;
        }
    }
}


/* x as I8 weights see it (cpu_gemm.h): per token, per block of 256
 * columns, scale = max|x| / 32512 in f32 and x16 = round(x / scale) to
 * nearest even, computed in f32 as documented; out = x16 * scale. */
static void
reference_x16(const float *x, uint32_t m, uint32_t cols, float *out)
{
    uint32_t  i, k, k0, k1;
    float     amax, s, q;

    for (i = 0; i < m; i++) {
        for (k0 = 0; k0 < cols; k0 = k1) {
            k1 = cols - k0 > 256 ? k0 + 256 : cols;
            amax = 0.0f;
            for (k = k0; k < k1; k++) {
                amax = fmaxf(amax, fabsf(x[(size_t) i * cols + k]));
            }
            s = amax / 32512.0f;
            for (k = k0; k < k1; k++) {
                q = s > 0.0f ? nearbyintf(x[(size_t) i * cols + k] / s)
                             : 0.0f;
                out[(size_t) i * cols + k] = (float) ((double) q * s);
            }
        }
    }
}


static const char *
dtype_name(int dtype)
{
    static const char  *names[] = { "f32", "f16", "bf16", "int8" };

    return dtype >= 0 && dtype < 4 ? names[dtype] : "?";
}


/* The instruction-set configurations to run: isa, bf16_dp, name. */
struct isa_conf {
    int          isa;
    int          bf16_dp;
    const char  *name;
};

static const struct isa_conf  isa_confs[] = {
    { CPU_ISA_PORTABLE, 0, "portable" },
    { CPU_ISA_AVX2, 0, "avx2" },
    { CPU_ISA_AVX512, 0, "avx512 (bf16 by fma)" },
    { CPU_ISA_AVX512, 1, "avx512 (bf16 by vdpbf16ps)" },
};


static int
isa_select(const struct isa_conf *c)
{
    if (cpu_isa_set(c->isa, c->bf16_dp) != LMD_OK) {
        return 0;
    }
    /* vdpbf16ps asked for but absent: the same as the fma conf. */
    if (c->bf16_dp && cpu_gemm_ops()->x_to_bf16 == NULL) {
        return 0;
    }
    return 1;
}


static void
isa_restore(void)
{
    int  isa = CPU_ISA_PORTABLE;

    if (cpu_isa_supported(CPU_ISA_AVX512)) {
        isa = CPU_ISA_AVX512;
    } else if (cpu_isa_supported(CPU_ISA_AVX2)) {
        isa = CPU_ISA_AVX2;
    }
    cpu_isa_set(isa, -1);
}


/* ------------------------------------------------------------------------
 * One shape
 * ------------------------------------------------------------------------ */

/* Checks cpu_matmul for one configuration and shape: accuracy against
 * the double reference, batch == single tokens, 1 thread == 2 threads.
 * Returns the number of failed checks (each reported once). */
static int
check_shape(const struct isa_conf *c, struct cpu_pool *pool1,
    struct cpu_pool *pool2, int src_dtype, int dtype, uint32_t rows,
    uint32_t cols, uint32_t m)
{
    struct lmd_wmat    src;
    struct cpu_weight  w;
    char               err[LMD_ERR_LEN];
    float             *wf, *srcf, *wref, *scale, *x, *xr, *y, *y1, *ys;
    uint16_t          *src16;
    uint32_t           r, k, i;
    double             sum, mag, tol, d, worst;
    int                bad, dp;
    size_t             n;

    bad = 0;
    n = (size_t) rows * cols;
    srcf = malloc(n * sizeof(float));
    wf = malloc(n * sizeof(float));
    wref = malloc(n * sizeof(float));
    src16 = malloc(n * sizeof(uint16_t));
    scale = calloc(rows, sizeof(float));
    x = malloc((size_t) m * cols * sizeof(float));
    xr = malloc((size_t) m * cols * sizeof(float));
    y = malloc((size_t) m * rows * sizeof(float));
    y1 = malloc((size_t) m * rows * sizeof(float));
    ys = malloc((size_t) m * rows * sizeof(float));
    if (!srcf || !wf || !wref || !src16 || !scale || !x || !xr || !y
        || !y1 || !ys)
    {
        fail_unless(0, "out of memory");
        bad = 1;
        goto done;
    }

    /* The source in its dtype; srcf is its exact f32 value. */
    for (k = 0; k < n; k++) {
        srcf[k] = rnd();
        if (src_dtype == LMD_DTYPE_F16) {
            _Float16  h = (_Float16) srcf[k];

            memcpy(&src16[k], &h, sizeof(h));
            srcf[k] = (float) h;
        } else if (src_dtype == LMD_DTYPE_BF16) {
            src16[k] = lmd_f32_to_bf16(srcf[k]);
            srcf[k] = as_bf16(srcf[k]);
        }
    }
    for (k = 0; k < (size_t) m * cols; k++) {
        x[k] = rnd() * 4.0f;
    }
    src.dtype = src_dtype;
    src.rows = rows;
    src.cols = cols;
    src.data = src_dtype == LMD_DTYPE_F32 ? (const void *) srcf
                                          : (const void *) src16;
    src.name = "test.weight";

    if (cpu_weight_prepare(&src, dtype, &w, err, sizeof(err)) != LMD_OK) {
        fail_unless(0, "prepare %s -> %s: %s", dtype_name(src_dtype),
                    dtype_name(dtype), err);
        bad = 1;
        goto done;
    }
    reference_weights(srcf, rows, cols, dtype, wref, scale);

    /* cpu_weight_row gives the converted weights exactly. */
    for (r = 0; r < rows && !bad; r++) {
        cpu_weight_row(&w, r, wf + (size_t) r * cols);
        for (k = 0; k < cols && memcmp(&wf[(size_t) r * cols + k],
                                        &wref[(size_t) r * cols + k],
                                        sizeof(float)) == 0; k++)
        {
        }
        if (k < cols) {
            fail_unless(0, "%s -> %s %ux%u: row %u differs from the "
                        "reference conversion at %u: %.9g, want %.9g",
                        dtype_name(src_dtype), dtype_name(dtype), rows,
                        cols, r, k, wf[(size_t) r * cols + k],
                        wref[(size_t) r * cols + k]);
            bad++;
        }
        if (dtype == LMD_DTYPE_I8 && w.scale[r] != scale[r]) {
            fail_unless(0, "row %u: scale %g, want %g", r, w.scale[r],
                        scale[r]);
            bad++;
        }
    }

    /* x as the kernel sees it. */
    dp = dtype == LMD_DTYPE_BF16 && cpu_gemm_ops()->x_to_bf16 != NULL;
    for (k = 0; k < (size_t) m * cols; k++) {
        xr[k] = dp ? as_bf16(x[k]) : x[k];
    }
    if (dtype == LMD_DTYPE_I8) {
        reference_x16(x, m, cols, xr);
    }

    cpu_matmul(pool2, &w, x, m, y);

    worst = 0;
    for (i = 0; i < m && !bad; i++) {
        for (r = 0; r < rows; r++) {
            sum = 0;
            mag = 0;
            for (k = 0; k < cols; k++) {
                double  t = (double) wref[(size_t) r * cols + k]
                            * xr[(size_t) i * cols + k];

                sum += t;
                mag += fabs(t);
            }
            tol = (cols + 2) * 0x1p-24 * mag + 1e-30;
            d = fabs(y[(size_t) i * rows + r] - sum);
            if (d / tol > worst) {
                worst = d / tol;
            }
            if (!(d <= tol)) {
                fail_unless(0, "%s %s->%s %ux%u m=%u: y[%u][%u] = %.9g, "
                            "want %.9g (tolerance %.3g)", c->name,
                            dtype_name(src_dtype), dtype_name(dtype),
                            rows, cols, m, i, r, y[(size_t) i * rows + r],
                            sum, tol);
                bad++;
                break;
            }
        }
    }

    /* Each token alone gives the same bits as the batch. */
    for (i = 0; i < m && !bad; i++) {
        cpu_matmul(pool2, &w, x + (size_t) i * cols, 1,
                   ys + (size_t) i * rows);
    }
    if (!bad && memcmp(ys, y, (size_t) m * rows * sizeof(float)) != 0) {
        fail_unless(0, "%s %s %ux%u m=%u: the batch differs from single "
                    "tokens", c->name, dtype_name(dtype), rows, cols, m);
        bad++;
    }

    /* One thread gives the same bits as two. */
    if (!bad) {
        cpu_matmul(pool1, &w, x, m, y1);
        if (memcmp(y1, y, (size_t) m * rows * sizeof(float)) != 0) {
            fail_unless(0, "%s %s %ux%u m=%u: 1 thread differs from 2",
                        c->name, dtype_name(dtype), rows, cols, m);
            bad++;
        }
    }

    cpu_weight_free(&w);

done:
    free(srcf);
    free(wf);
    free(wref);
    free(src16);
    free(scale);
    free(x);
    free(xr);
    free(y);
    free(y1);
    free(ys);
    return bad;
}


/* ------------------------------------------------------------------------
 * Matrix products
 * ------------------------------------------------------------------------ */

/* Assumption: every kernel this CPU can run, in every weight dtype,
 * computes y = x W^T within f32 rounding for shapes with tails in rows
 * (not a multiple of 16), columns (odd, not a multiple of anything) and
 * tokens (not a multiple of the tile), and its bits depend neither on
 * the batch nor on the thread count. */
LMD_TEST(matmul_small_shapes)
{
    static const uint32_t  colss[] = { 1, 7, 64, 172, 300 };
    static const uint32_t  rowss[] = { 1, 5, 33 };
    static const uint32_t  ms[] = { 1, 3, 17 };
    static const int       dtypes[] = {
        LMD_DTYPE_F32, LMD_DTYPE_F16, LMD_DTYPE_BF16, LMD_DTYPE_I8
    };
    struct cpu_pool       *pool1, *pool2;
    size_t                 ci, d, a, b, e;
    int                    bad, ran;

    pool1 = cpu_pool_create(1);
    pool2 = cpu_pool_create(2);
    fail_unless(pool1 != NULL && pool2 != NULL, "cpu_pool_create failed");
    if (pool1 == NULL || pool2 == NULL) {
        cpu_pool_destroy(pool1);
        cpu_pool_destroy(pool2);
        return;
    }

    ran = 0;
    for (ci = 0; ci < sizeof(isa_confs) / sizeof(isa_confs[0]); ci++) {
        if (!isa_select(&isa_confs[ci])) {
            printf("# %s: not on this CPU\n", isa_confs[ci].name);
            continue;
        }
        ran++;
        bad = 0;
        for (d = 0; d < 4 && bad < 3; d++) {
            for (a = 0; a < 5; a++) {
                for (b = 0; b < 3; b++) {
                    for (e = 0; e < 3; e++) {
                        bad += check_shape(&isa_confs[ci], pool1, pool2,
                                           LMD_DTYPE_F32, dtypes[d],
                                           rowss[b], colss[a], ms[e]);
                    }
                }
            }
        }
        printf("# %s: %s\n", isa_confs[ci].name, bad ? "FAILED" : "ok");
    }
    isa_restore();
    fail_unless(ran >= 1, "no instruction set ran");

    cpu_pool_destroy(pool1);
    cpu_pool_destroy(pool2);
}


/* Assumption: shapes past the kernels' blocks (columns past 256 and 512,
 * tokens past 192, more panels than one task) and the real models' odd
 * sizes keep the same guarantees, with more threads than cores too. */
LMD_TEST(matmul_blocked_shapes)
{
    static const struct {
        uint32_t  rows, cols, m;
    } shapes[] = {
        { 70, 600, 200 },
        { 200, 172, 130 },
        { 130, 896, 7 },
        { 300, 513, 2 },
        { 24, 4864, 9 },
        { 100, 1000, 20 },
    };
    static const int       dtypes[] = {
        LMD_DTYPE_F32, LMD_DTYPE_F16, LMD_DTYPE_BF16, LMD_DTYPE_I8
    };
    struct cpu_pool       *pool1, *pool3;
    size_t                 ci, d, s;
    int                    bad;

    pool1 = cpu_pool_create(1);
    pool3 = cpu_pool_create(3);
    fail_unless(pool1 != NULL && pool3 != NULL, "cpu_pool_create failed");
    if (pool1 == NULL || pool3 == NULL) {
        cpu_pool_destroy(pool1);
        cpu_pool_destroy(pool3);
        return;
    }

    for (ci = 0; ci < sizeof(isa_confs) / sizeof(isa_confs[0]); ci++) {
        if (!isa_select(&isa_confs[ci])) {
            continue;
        }
        bad = 0;
        for (d = 0; d < 4 && !bad; d++) {
            for (s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
                bad += check_shape(&isa_confs[ci], pool1, pool3,
                                   LMD_DTYPE_F32, dtypes[d], shapes[s].rows,
                                   shapes[s].cols, shapes[s].m);
            }
        }
    }
    isa_restore();

    cpu_pool_destroy(pool1);
    cpu_pool_destroy(pool3);
}


/* Assumption: F16 and BF16 sources convert exactly to f32 and round to
 * nearest even into the other 16-bit format and int8. */
LMD_TEST(matmul_sources)
{
    static const int   srcs[] = { LMD_DTYPE_F16, LMD_DTYPE_BF16 };
    static const int   dtypes[] = {
        LMD_DTYPE_F32, LMD_DTYPE_F16, LMD_DTYPE_BF16, LMD_DTYPE_I8
    };
    struct cpu_pool   *pool1, *pool2;
    size_t             s, d;

    pool1 = cpu_pool_create(1);
    pool2 = cpu_pool_create(2);
    fail_unless(pool1 != NULL && pool2 != NULL, "cpu_pool_create failed");
    if (pool1 != NULL && pool2 != NULL) {
        for (s = 0; s < 2; s++) {
            for (d = 0; d < 4; d++) {
                (void) check_shape(&isa_confs[0], pool1, pool2, srcs[s],
                                   dtypes[d], 21, 37, 3);
            }
        }
    }
    cpu_pool_destroy(pool1);
    cpu_pool_destroy(pool2);
}


/* ------------------------------------------------------------------------
 * Weights
 * ------------------------------------------------------------------------ */

/* Assumption: int8 quantization is symmetric per row with scale =
 * max|w| / 127 and rounds to nearest: |w - q * scale| <= scale / 2, the
 * largest |w| maps to +-127, and a zero row has scale 0. */
LMD_TEST(int8_quantization)
{
    enum { ROWS = 19, COLS = 45 };
    struct lmd_wmat    src;
    struct cpu_weight  w;
    char               err[LMD_ERR_LEN];
    float              wsrc[ROWS * COLS], amax, s;
    const uint8_t     *q;
    uint32_t           r, k;
    int                qv, bad, seen127;
    double             d;

    for (k = 0; k < ROWS * COLS; k++) {
        wsrc[k] = rnd() * (float) (k % 7 + 1);
    }
    for (k = 0; k < COLS; k++) {
        wsrc[3 * COLS + k] = 0.0f;          /* row 3: all zero */
    }
    src.dtype = LMD_DTYPE_F32;
    src.rows = ROWS;
    src.cols = COLS;
    src.data = wsrc;
    src.name = "q.weight";

    fail_unless(cpu_weight_prepare(&src, LMD_DTYPE_I8, &w, err, sizeof(err))
                == LMD_OK, "prepare: %s", err);
    if (w.data == NULL) {
        return;
    }
    fail_unless(w.dtype == LMD_DTYPE_I8 && w.scale != NULL, "not int8");

    bad = 0;
    q = w.data;
    for (r = 0; r < ROWS; r++) {
        amax = 0;
        for (k = 0; k < COLS; k++) {
            amax = fmaxf(amax, fabsf(wsrc[r * COLS + k]));
        }
        s = w.scale[r];
        if (s != amax / 127.0f) {
            bad++;
            fail_unless(0, "row %u: scale %g, want %g", r, s, amax / 127.0f);
        }
        seen127 = 0;
        for (k = 0; k < COLS; k++) {
            /* The packed layout of cpu_gemm.h: 4 columns per lane,
             * q + 128, the columns padded to a multiple of 4. */
            qv = (int) q[((size_t) (r / CPU_PANEL) * ((COLS + 3) & ~3)
                          + (k & ~3u)) * CPU_PANEL + (r % CPU_PANEL) * 4
                         + (k & 3)] - 128;
            d = fabs((double) wsrc[r * COLS + k] - (double) qv * s);
            if (!(d <= s / 2 * (1 + 1e-6)) || qv < -127 || qv > 127) {
                bad++;
            }
            seen127 |= qv == 127 || qv == -127;
        }
        if (amax > 0 && !seen127) {
            bad++;
            fail_unless(0, "row %u: max|w| does not map to 127", r);
        }
    }
    fail_unless(bad == 0, "%d quantization errors", bad);
    fail_unless(w.scale[3] == 0.0f, "zero row: scale %g", w.scale[3]);
    cpu_weight_free(&w);
}


/* Assumption: cpu_weight_row returns each row in f32 for every dtype,
 * the last partial panel included; prepare refuses what it cannot
 * compute with, naming the tensor. */
LMD_TEST(weight_row_and_errors)
{
    struct lmd_wmat    src;
    struct cpu_weight  w;
    char               err[LMD_ERR_LEN];
    float              wsrc[35 * 9], row[9];
    uint32_t           k, r;
    int                ok;

    for (k = 0; k < 35 * 9; k++) {
        wsrc[k] = (float) k - 100.0f;       /* exact in every format */
    }
    src.dtype = LMD_DTYPE_F32;
    src.rows = 35;
    src.cols = 9;
    src.data = wsrc;
    src.name = "model.embed_tokens.weight";

    fail_unless(cpu_weight_prepare(&src, LMD_DTYPE_BF16, &w, err,
                sizeof(err)) == LMD_OK, "prepare: %s", err);
    ok = 1;
    for (r = 0; r < 35; r++) {
        cpu_weight_row(&w, r, row);
        ok &= memcmp(row, wsrc + r * 9, sizeof(row)) == 0;
    }
    fail_unless(ok, "bf16 rows differ");
    fail_unless(w.bytes >= 48 * 10 * 2, "bytes %llu",
                (unsigned long long) w.bytes);
    cpu_weight_free(&w);
    fail_unless(w.owned == NULL && w.data == NULL, "not cleared");

    /* Same source, own dtype. */
    fail_unless(cpu_weight_prepare(&src, -1, &w, err, sizeof(err))
                == LMD_OK && w.dtype == LMD_DTYPE_F32, "prepare -1");
    cpu_weight_free(&w);

    src.dtype = LMD_DTYPE_I32;
    err[0] = '\0';
    fail_unless(cpu_weight_prepare(&src, LMD_DTYPE_F32, &w, err,
                sizeof(err)) == LMD_ERROR, "an i32 source was accepted");
    fail_unless(strstr(err, "model.embed_tokens.weight") != NULL,
                "error \"%s\" does not name the tensor", err);

    src.dtype = LMD_DTYPE_F32;
    fail_unless(cpu_weight_prepare(&src, LMD_DTYPE_I32, &w, err,
                sizeof(err)) == LMD_ERROR, "an i32 target was accepted");
}


/* Assumption: LMD_CPU_ISA's names are the ones cpu_isa_name gives and
 * the default is the best set the CPU has. */
LMD_TEST(isa_names)
{
    fail_unless_streq(cpu_isa_name(CPU_ISA_PORTABLE), "portable");
    fail_unless_streq(cpu_isa_name(CPU_ISA_AVX2), "avx2");
    fail_unless_streq(cpu_isa_name(CPU_ISA_AVX512), "avx512");
    fail_unless(cpu_isa_supported(CPU_ISA_PORTABLE), "portable");
    fail_unless(cpu_isa_set(99, -1) == LMD_ERROR, "isa 99 accepted");
    if (getenv("LMD_CPU_ISA") == NULL) {
        isa_restore();
        fail_unless(!cpu_isa_supported(cpu_isa() + 1),
                    "%s chosen, a better set is there",
                    cpu_isa_name(cpu_isa()));
    }
    printf("# isa: %s\n", cpu_isa_name(cpu_isa()));
}


/* ------------------------------------------------------------------------
 * Pool
 * ------------------------------------------------------------------------ */

struct count_ctx {
    _Atomic uint32_t  runs[64];
    _Atomic uint32_t  bad_thread;
    uint32_t          threads;
};


static void
count_task(void *arg, uint32_t task, uint32_t thread)
{
    struct count_ctx  *c = arg;

    atomic_fetch_add(&c->runs[task], 1);
    if (thread >= c->threads) {
        atomic_fetch_add(&c->bad_thread, 1);
    }
}


/* Assumption: every task runs exactly once per cpu_pool_run, on a
 * thread index below the pool's count, however many runs follow each
 * other, and also after the workers have gone to sleep. */
LMD_TEST(pool_runs_each_task_once)
{
    static struct count_ctx  c;
    struct cpu_pool         *pool;
    uint32_t                 threads[] = { 1, 2, 4 };
    uint32_t                 ti, run, n, t, bad;
    struct timespec          nap = { 0, 2000000 };

    for (ti = 0; ti < 3; ti++) {
        pool = cpu_pool_create(threads[ti]);
        fail_unless(pool != NULL, "create %u", threads[ti]);
        if (pool == NULL) {
            continue;
        }
        fail_unless(cpu_pool_threads(pool) == threads[ti], "threads %u",
                    cpu_pool_threads(pool));
        bad = 0;
        for (run = 0; run < 3000; run++) {
            memset(&c, 0, sizeof(c));
            c.threads = threads[ti];
            n = run % 64 + 1;
            if (run % 1000 == 999) {
                nanosleep(&nap, NULL);      /* past the spin */
            }
            cpu_pool_run(pool, n, count_task, &c);
            for (t = 0; t < 64; t++) {
                bad += c.runs[t] != (t < n);
            }
            bad += c.bad_thread;
        }
        fail_unless(bad == 0, "%u threads: %u wrong task counts",
                    threads[ti], bad);
        cpu_pool_destroy(pool);
    }
    cpu_pool_destroy(NULL);
}


static void
empty_task(void *arg, uint32_t task, uint32_t thread)
{
    (void) arg;
    (void) task;
    (void) thread;
}


/* Assumption: a section costs a few microseconds at most while the
 * workers spin (the bound here is loose: the machine may be busy). */
LMD_TEST(pool_overhead)
{
    struct cpu_pool  *pool;
    struct timespec   t0, t1;
    double            us;
    int               i, n = 20000;

    pool = cpu_pool_create(2);
    fail_unless(pool != NULL, "create");
    if (pool == NULL) {
        return;
    }
    for (i = 0; i < 1000; i++) {
        cpu_pool_run(pool, 2, empty_task, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < n; i++) {
        cpu_pool_run(pool, 2, empty_task, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    us = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec))
         / 1e3 / n;
    printf("# empty section, 2 threads: %.2f us\n", us);
    fail_unless(us < 200, "an empty section took %.1f us", us);
    cpu_pool_destroy(pool);
}
