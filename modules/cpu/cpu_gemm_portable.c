/*
 * cpu_gemm_portable.c -- the matrix kernel in plain C, for CPUs without
 * AVX2 (and as the simplest statement of what the others compute).
 *
 * For each 16-row panel, a block of CPU_PORT_KC columns is widened to f32
 * once (F16, BF16: exact) and then applied to every token: 16 running
 * sums, one per row, each added to in k order (a*b+c, no FMA), parked in
 * y between blocks.  I8 is in cpu_gemm_i8.c.
 * The compiler vectorizes the 16 lanes with whatever the base target has.
 */

#include <string.h>

#include "cpu_gemm.h"

#define CPU_PORT_KC     256


static float
cpu_port_f16(uint16_t h)
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
    } else {
        f = (float) man * 0x1p-24f;
        memcpy(&u, &f, sizeof(u));
        u |= sign;
    }
    memcpy(&f, &u, sizeof(f));
    return f;
}


/* Columns [k0, k1) of panel p as f32 [k1 - k0][16]. */
static void
cpu_port_widen(const struct cpu_weight *w, uint32_t p, uint32_t k0,
    uint32_t k1, float *out)
{
    size_t           i, n, base;
    const uint16_t  *u16;

    n = (size_t) (k1 - k0) * CPU_PANEL;
    base = (size_t) p * cpu_weight_kp(w) * CPU_PANEL
           + (size_t) k0 * CPU_PANEL;

    switch (w->dtype) {
    case LMD_DTYPE_F32:
        memcpy(out, (const float *) w->data + base, n * sizeof(float));
        break;
    case LMD_DTYPE_F16:
        u16 = (const uint16_t *) w->data + base;
        for (i = 0; i < n; i++) {
            out[i] = cpu_port_f16(u16[i]);
        }
        break;
    default:
        /* BF16 pairs: element (k, lane) at (k & ~1) * 16 + lane * 2 + (k & 1);
         * k0 is even. */
        u16 = (const uint16_t *) w->data + base;
        for (i = 0; i < n; i++) {
            size_t  k = i / CPU_PANEL, lane = i % CPU_PANEL;

            out[i] = lmd_bf16_to_f32(
                u16[(k & ~(size_t) 1) * CPU_PANEL + lane * 2 + (k & 1)]);
        }
        break;
    }
}


void
cpu_gemm_portable(const struct cpu_gemm_job *job, uint32_t p0, uint32_t p1)
{
    const struct cpu_weight  *w = job->w;
    float                     wf[CPU_PORT_KC * CPU_PANEL];
    float                     acc[CPU_PANEL];
    const float              *xi, *wk;
    float                    *yi;
    uint32_t                  p, k0, k1, k, i, l, nv;

    for (p = p0; p < p1; p++) {
        nv = w->rows - p * CPU_PANEL;
        nv = nv > CPU_PANEL ? CPU_PANEL : nv;

        for (k0 = 0; k0 < w->cols; k0 = k1) {
            k1 = k0 + CPU_PORT_KC < w->cols ? k0 + CPU_PORT_KC : w->cols;
            cpu_port_widen(w, p, k0, k1, wf);

            for (i = 0; i < job->m; i++) {
                xi = job->x + (size_t) i * w->cols;
                yi = job->y + (size_t) i * w->rows + (size_t) p * CPU_PANEL;

                for (l = 0; l < CPU_PANEL; l++) {
                    acc[l] = (k0 == 0 || l >= nv) ? 0.0f : yi[l];
                }
                for (k = k0; k < k1; k++) {
                    wk = wf + (size_t) (k - k0) * CPU_PANEL;
                    for (l = 0; l < CPU_PANEL; l++) {
                        acc[l] = acc[l] + wk[l] * xi[k];
                    }
                }
                memcpy(yi, acc, nv * sizeof(float));
            }
        }
    }
}
