/*
 * cpu_weight.c -- prepares a model matrix for the cpu kernels: converts it
 * to the dtype the engine computes in and repacks it into 16-row panels
 * (the layout is described in cpu_gemm.h), and reads single rows back
 * (the embedding lookup).
 *
 * Conversions: F32, F16 and BF16 sources are read exactly as f32; to F16
 * and BF16 they round to nearest even (too large for F16: infinity, as
 * torch's .half() does).  I8 is symmetric per row (per output channel):
 * scale = max|w| / 127, q = round(w / scale), so |w - q * scale| <=
 * scale / 2; a row of zeros has scale 0.  It is stored as q + 128, the
 * unsigned operand of vpdpbusd (cpu_gemm.h).
 */

#include <math.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>

#include "lmd_common.h"
#include "cpu_gemm.h"


/* IEEE half to float, exact (subnormals included). */
static float
cpu_f16_to_f32(uint16_t h)
{
    uint32_t  sign, exp, man, u;
    float     f;

    sign = (uint32_t) (h & 0x8000) << 16;
    exp = (h >> 10) & 0x1f;
    man = h & 0x3ff;

    if (exp == 0x1f) {
        u = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        u = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        u = sign;
    } else {
        /* Subnormal: man * 2^-24, exact in f32. */
        f = (float) man * 0x1p-24f;
        memcpy(&u, &f, sizeof(u));
        u |= sign;
    }
    memcpy(&f, &u, sizeof(f));
    return f;
}


/* Float to IEEE half, round to nearest even; overflow gives infinity. */
static uint16_t
cpu_f32_to_f16(float f)
{
    uint32_t  u, sign, exp, man, h, rest, half;
    int       e;

    memcpy(&u, &f, sizeof(u));
    sign = (u >> 16) & 0x8000;
    exp = (u >> 23) & 0xff;
    man = u & 0x7fffff;

    if (exp == 0xff) {
        return (uint16_t) (sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
    }
    e = (int) exp - 127 + 15;
    if (e >= 31) {
        return (uint16_t) (sign | 0x7c00);
    }
    if (e <= 0) {
        /* Subnormal half (or zero): shift the full mantissa down. */
        if (e < -10) {
            return (uint16_t) sign;
        }
        man |= 0x800000;
        rest = man & ((1u << (14 - e)) - 1);
        half = 1u << (13 - e);
        h = man >> (14 - e);
        if (rest > half || (rest == half && (h & 1))) {
            h++;
        }
        return (uint16_t) (sign | h);
    }
    h = ((uint32_t) e << 10) | (man >> 13);
    rest = man & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) {
        h++;                    /* may carry into the exponent: fine */
    }
    return (uint16_t) (sign | h);
}


/* Row r of src as f32. */
static void
cpu_src_row(const struct lmd_wmat *src, uint32_t r, float *out)
{
    size_t           k, n = src->cols;
    const uint16_t  *h;

    switch (src->dtype) {
    case LMD_DTYPE_F32:
        memcpy(out, (const float *) src->data + (size_t) r * n,
               n * sizeof(float));
        break;
    case LMD_DTYPE_F16:
        h = (const uint16_t *) src->data + (size_t) r * n;
        for (k = 0; k < n; k++) {
            out[k] = cpu_f16_to_f32(h[k]);
        }
        break;
    default:
        h = (const uint16_t *) src->data + (size_t) r * n;
        for (k = 0; k < n; k++) {
            out[k] = lmd_bf16_to_f32(h[k]);
        }
        break;
    }
}


/* Stores f32 row r (already in out's dtype range) into the panels. */
static void
cpu_pack_row(struct cpu_weight *w, uint32_t r, const float *row,
    const int8_t *q)
{
    size_t     k, lane, base, kp;
    float     *f32;
    uint16_t  *u16;
    uint8_t   *u8;

    kp = cpu_weight_kp(w);
    lane = r % CPU_PANEL;
    base = (size_t) (r / CPU_PANEL) * kp * CPU_PANEL;

    switch (w->dtype) {
    case LMD_DTYPE_F32:
        f32 = (float *) w->owned + base + lane;
        for (k = 0; k < w->cols; k++) {
            f32[k * CPU_PANEL] = row[k];
        }
        break;
    case LMD_DTYPE_F16:
        u16 = (uint16_t *) w->owned + base + lane;
        for (k = 0; k < w->cols; k++) {
            u16[k * CPU_PANEL] = cpu_f32_to_f16(row[k]);
        }
        break;
    case LMD_DTYPE_BF16:
        u16 = (uint16_t *) w->owned + base + lane * 2;
        for (k = 0; k < w->cols; k++) {
            u16[(k & ~(size_t) 1) * CPU_PANEL + (k & 1)] =
                lmd_f32_to_bf16(row[k]);
        }
        break;
    default:
        /* Four columns side by side in each lane, as q + 128. */
        u8 = (uint8_t *) w->owned + base + lane * 4;
        for (k = 0; k < w->cols; k++) {
            u8[(k & ~(size_t) 3) * CPU_PANEL + (k & 3)] =
                (uint8_t) (q[k] + 128);
        }
        break;
    }
}


/* Stores row r of src, already in w's dtype, into the panels. */
static void
cpu_pack_raw(struct cpu_weight *w, uint32_t r, const struct lmd_wmat *src)
{
    size_t           k, n, lane, base, kp;
    const uint16_t  *s16;
    const float     *s32;
    uint16_t        *u16;
    float           *f32;

    n = w->cols;
    kp = cpu_weight_kp(w);
    lane = r % CPU_PANEL;
    base = (size_t) (r / CPU_PANEL) * kp * CPU_PANEL;

    switch (w->dtype) {
    case LMD_DTYPE_F32:
        s32 = (const float *) src->data + (size_t) r * n;
        f32 = (float *) w->owned + base + lane;
        for (k = 0; k < n; k++) {
            f32[k * CPU_PANEL] = s32[k];
        }
        break;
    case LMD_DTYPE_F16:
        s16 = (const uint16_t *) src->data + (size_t) r * n;
        u16 = (uint16_t *) w->owned + base + lane;
        for (k = 0; k < n; k++) {
            u16[k * CPU_PANEL] = s16[k];
        }
        break;
    default:
        /* BF16: pairs of columns side by side in each lane. */
        s16 = (const uint16_t *) src->data + (size_t) r * n;
        u16 = (uint16_t *) w->owned + base + lane * 2;
        for (k = 0; k + 1 < n; k += 2) {
            u16[k * CPU_PANEL] = s16[k];
            u16[k * CPU_PANEL + 1] = s16[k + 1];
        }
        if (k < n) {
            u16[k * CPU_PANEL] = s16[k];
        }
        break;
    }
}


/* Quantizes a row to int8; returns its scale. */
static float
cpu_quantize_row(const float *row, size_t n, int8_t *q)
{
    size_t  k;
    float   amax, s;
    double  v;

    amax = 0.0f;
    for (k = 0; k < n; k++) {
        if (isfinite(row[k]) && fabsf(row[k]) > amax) {
            amax = fabsf(row[k]);
        }
    }
    s = amax / 127.0f;
    for (k = 0; k < n; k++) {
        if (s == 0.0f || !isfinite(row[k])) {
            q[k] = 0;
            continue;
        }
        v = nearbyint((double) row[k] / (double) s);
        v = v > 127.0 ? 127.0 : (v < -127.0 ? -127.0 : v);
        q[k] = (int8_t) v;
    }
    return s;
}



/* Room for a packed matrix.  Decode streams every matrix once per token,
 * so a large one goes on transparent huge pages where the kernel allows
 * them (2 MiB aligned, advised before the first write): on 4 KiB pages
 * tinyllama's BF16 decode was 5-15% slower, I8 0-5%. */
static void *
cpu_weight_alloc(size_t total)
{
    size_t  huge = (size_t) 2 << 20;
    void   *p;

    if (total < huge) {
        return aligned_alloc(64, total);
    }
    total = (total + huge - 1) & ~(huge - 1);
    p = aligned_alloc(huge, total);
#ifdef MADV_HUGEPAGE
    if (p != NULL) {
        (void) madvise(p, total, MADV_HUGEPAGE);
    }
#endif
    return p;
}

int
cpu_weight_prepare(const struct lmd_wmat *src, int dtype,
    struct cpu_weight *w, char *err, size_t errlen)
{
    size_t    panels, kp, esize, data_bytes, scale_bytes, total;
    uint32_t  r;
    float    *row, *scale;
    int8_t   *q;

    memset(w, 0, sizeof(*w));
    if (dtype < 0) {
        dtype = src->dtype;
    }
    if (src->data == NULL || src->rows == 0 || src->cols == 0) {
        snprintf(err, errlen, "%s: empty matrix", src->name);
        return LMD_ERROR;
    }
    if (src->dtype != LMD_DTYPE_F32 && src->dtype != LMD_DTYPE_F16
        && src->dtype != LMD_DTYPE_BF16)
    {
        snprintf(err, errlen, "%s: dtype %s is not f32, f16 or bf16",
                 src->name, lmd_dtype_name(src->dtype));
        return LMD_ERROR;
    }
    if (dtype != LMD_DTYPE_F32 && dtype != LMD_DTYPE_F16
        && dtype != LMD_DTYPE_BF16 && dtype != LMD_DTYPE_I8)
    {
        snprintf(err, errlen, "%s: the cpu engine cannot compute in %s",
                 src->name, lmd_dtype_name(dtype));
        return LMD_ERROR;
    }

    w->dtype = dtype;
    w->rows = src->rows;
    w->cols = src->cols;

    esize = dtype == LMD_DTYPE_F32 ? 4 : (dtype == LMD_DTYPE_I8 ? 1 : 2);
    panels = cpu_weight_panels(w);
    kp = cpu_weight_kp(w);
    data_bytes = (panels * kp * CPU_PANEL * esize + 63) & ~(size_t) 63;
    scale_bytes = dtype == LMD_DTYPE_I8 ? panels * CPU_PANEL * 4 : 0;
    total = data_bytes + scale_bytes;

    w->owned = cpu_weight_alloc(total);
    row = malloc(src->cols * sizeof(float));
    q = malloc(src->cols);
    if (w->owned == NULL || row == NULL || q == NULL) {
        free(w->owned);
        free(row);
        free(q);
        memset(w, 0, sizeof(*w));
        snprintf(err, errlen, "%s: out of memory for %zu bytes", src->name,
                 total);
        return LMD_ERROR;
    }
    /* Zero padding: rows past the end, BF16's and I8's pad columns, zero
     * scales (I8's zero is stored as 128). */
    memset(w->owned, 0, total);
    if (dtype == LMD_DTYPE_I8) {
        memset(w->owned, 128, panels * kp * CPU_PANEL);
    }
    scale = (float *) ((char *) w->owned + data_bytes);

    for (r = 0; r < src->rows; r++) {
        if (dtype == src->dtype) {
            cpu_pack_raw(w, r, src);
            continue;
        }
        cpu_src_row(src, r, row);
        if (dtype == LMD_DTYPE_I8) {
            scale[r] = cpu_quantize_row(row, src->cols, q);
        }
        cpu_pack_row(w, r, row, q);
    }

    free(row);
    free(q);
    w->data = w->owned;
    w->scale = dtype == LMD_DTYPE_I8 ? scale : NULL;
    w->bytes = total;
    return LMD_OK;
}


void
cpu_weight_free(struct cpu_weight *w)
{
    free(w->owned);
    memset(w, 0, sizeof(*w));
}


void
cpu_weight_row(const struct cpu_weight *w, uint32_t row, float *out)
{
    size_t           k, lane, base;
    const uint16_t  *u16;
    const uint8_t   *u8;
    const float     *f32;
    float            s;

    lane = row % CPU_PANEL;
    base = (size_t) (row / CPU_PANEL) * cpu_weight_kp(w) * CPU_PANEL;

    switch (w->dtype) {
    case LMD_DTYPE_F32:
        f32 = (const float *) w->data + base + lane;
        for (k = 0; k < w->cols; k++) {
            out[k] = f32[k * CPU_PANEL];
        }
        break;
    case LMD_DTYPE_F16:
        u16 = (const uint16_t *) w->data + base + lane;
        for (k = 0; k < w->cols; k++) {
            out[k] = cpu_f16_to_f32(u16[k * CPU_PANEL]);
        }
        break;
    case LMD_DTYPE_BF16:
        u16 = (const uint16_t *) w->data + base + lane * 2;
        for (k = 0; k < w->cols; k++) {
            out[k] = lmd_bf16_to_f32(
                u16[(k & ~(size_t) 1) * CPU_PANEL + (k & 1)]);
        }
        break;
    default:
        u8 = (const uint8_t *) w->data + base + lane * 4;
        s = w->scale[row];
        for (k = 0; k < w->cols; k++) {
            out[k] = (float) ((int) u8[(k & ~(size_t) 3) * CPU_PANEL
                                       + (k & 3)] - 128) * s;
        }
        break;
    }
}
