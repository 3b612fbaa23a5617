/*
 * cpu_gemm_i8.c -- int8 weights: the quantization of x that every
 * instruction set shares, and the I8 kernel in plain C (the simplest
 * statement of what cpu_gemm_i8_avx2.c and cpu_gemm_i8_vnni.c compute).
 *
 * Why integers: decode with int8 weights widened to f32 was bound by the
 * widening (three instructions per 16 weights), at about half of the
 * memory bandwidth.  With x quantized to 16 bits, vpdpbusd takes 64
 * weights per two instructions, and the sums are exact, so they can be
 * split and reordered freely (cpu_gemm.h has the contract).
 */

#include <math.h>
#include <string.h>

#include "cpu_gemm.h"


static uint32_t
cpu_xq_kp(uint32_t cols)
{
    return (cols + 3) & ~3u;
}


static uint32_t
cpu_xq_nb(uint32_t cols)
{
    return (cols + CPU_XQ_BLOCK - 1) / CPU_XQ_BLOCK;
}


/* The arrays of cpu_xq in mem: v, hi, lo, scale, bias, each 64-byte
 * aligned. */
static size_t
cpu_xq_layout(uint32_t m, uint32_t cols, size_t off[5])
{
    size_t  n, nb, at;

    n = (size_t) m * cpu_xq_kp(cols);
    nb = (size_t) m * cpu_xq_nb(cols);
    at = 0;
    off[0] = at;
    at += (n * sizeof(int16_t) + 63) & ~(size_t) 63;
    off[1] = at;
    at += (n + 63) & ~(size_t) 63;
    off[2] = at;
    at += (n + 63) & ~(size_t) 63;
    off[3] = at;
    at += (nb * sizeof(float) + 63) & ~(size_t) 63;
    off[4] = at;
    at += (nb * sizeof(int32_t) + 63) & ~(size_t) 63;
    return at;
}


size_t
cpu_xq_bytes(uint32_t m, uint32_t cols)
{
    size_t  off[5];

    return cpu_xq_layout(m, cols, off);
}


void
cpu_xq_quantize(const float *x, uint32_t m, uint32_t cols, void *mem,
    struct cpu_xq *q)
{
    size_t    off[5];
    uint32_t  kp, nb, i, b, k, k0, k1;
    int16_t  *v;
    int8_t   *hi, *lo;
    float    *scale, amax, a, s;
    int32_t  *bias, sum, x16, h;
    const float  *xi;

    kp = cpu_xq_kp(cols);
    nb = cpu_xq_nb(cols);
    (void) cpu_xq_layout(m, cols, off);
    v = (int16_t *) ((char *) mem + off[0]);
    hi = (int8_t *) ((char *) mem + off[1]);
    lo = (int8_t *) ((char *) mem + off[2]);
    scale = (float *) ((char *) mem + off[3]);
    bias = (int32_t *) ((char *) mem + off[4]);

    for (i = 0; i < m; i++) {
        xi = x + (size_t) i * cols;
        for (b = 0; b < nb; b++) {
            k0 = b * CPU_XQ_BLOCK;
            k1 = k0 + CPU_XQ_BLOCK < cols ? k0 + CPU_XQ_BLOCK : cols;

            /* NaN compares false, so it wins the maximum too. */
            amax = 0.0f;
            for (k = k0; k < k1; k++) {
                a = fabsf(xi[k]);
                amax = a <= amax ? amax : a;
            }
            s = amax / (float) CPU_XQ_MAX;
            sum = 0;
            for (k = k0; k < k1; k++) {
                if (s > 0.0f && isfinite(s)) {
                    /* Round to nearest even as nearbyintf would (|x / s|
                     * < 2^22), without a call into libm per element. */
                    x16 = (int32_t) ((xi[k] / s + 0x1.8p23f) - 0x1.8p23f);
                    x16 = x16 > CPU_XQ_MAX ? CPU_XQ_MAX
                                           : (x16 < -CPU_XQ_MAX ? -CPU_XQ_MAX
                                                                : x16);
                } else {
                    x16 = 0;
                }
                /* lo = x16 - 256 * hi in [-128, 127]. */
                h = (x16 + 128) >> 8;
                v[(size_t) i * kp + k] = (int16_t) x16;
                hi[(size_t) i * kp + k] = (int8_t) h;
                lo[(size_t) i * kp + k] = (int8_t) (x16 - h * 256);
                sum += x16;
            }
            scale[(size_t) i * nb + b] = isfinite(s) ? s : NAN;
            bias[(size_t) i * nb + b] = sum * 128;
        }
        for (k = cols; k < kp; k++) {
            v[(size_t) i * kp + k] = 0;
            hi[(size_t) i * kp + k] = 0;
            lo[(size_t) i * kp + k] = 0;
        }
    }

    q->v = v;
    q->hi = hi;
    q->lo = lo;
    q->scale = scale;
    q->bias = bias;
    q->kp = kp;
    q->nb = nb;
}


void
cpu_gemm_i8_portable(const struct cpu_gemm_job *job, uint32_t p0,
    uint32_t p1)
{
    const struct cpu_weight  *w = job->w;
    const struct cpu_xq      *xq = job->xq;
    const uint8_t            *wp, *wk;
    const int16_t            *xv;
    float                     acc[CPU_PANEL];
    int32_t                   isum[CPU_PANEL];
    uint32_t                  p, i, b, g, g0, g1, l, j, nv;
    size_t                    kp = xq->kp;

    for (p = p0; p < p1; p++) {
        nv = w->rows - p * CPU_PANEL;
        nv = nv > CPU_PANEL ? CPU_PANEL : nv;
        wp = (const uint8_t *) w->data + (size_t) p * kp * CPU_PANEL;

        for (i = 0; i < job->m; i++) {
            xv = xq->v + (size_t) i * kp;
            for (l = 0; l < CPU_PANEL; l++) {
                acc[l] = 0.0f;
            }
            for (b = 0; b < xq->nb; b++) {
                g0 = b * (CPU_XQ_BLOCK / 4);
                g1 = (uint32_t) (kp / 4) < g0 + CPU_XQ_BLOCK / 4
                     ? (uint32_t) (kp / 4) : g0 + CPU_XQ_BLOCK / 4;
                for (l = 0; l < CPU_PANEL; l++) {
                    isum[l] = 0;
                }
                for (g = g0; g < g1; g++) {
                    wk = wp + (size_t) g * 4 * CPU_PANEL;
                    for (l = 0; l < CPU_PANEL; l++) {
                        for (j = 0; j < 4; j++) {
                            isum[l] += ((int32_t) wk[l * 4 + j] - 128)
                                       * xv[g * 4 + j];
                        }
                    }
                }
                for (l = 0; l < CPU_PANEL; l++) {
                    acc[l] = fmaf((float) isum[l],
                                  xq->scale[(size_t) i * xq->nb + b], acc[l]);
                }
            }
            for (l = 0; l < nv; l++) {
                job->y[(size_t) i * w->rows + (size_t) p * CPU_PANEL + l] =
                    acc[l] * w->scale[(size_t) p * CPU_PANEL + l];
            }
        }
    }
}
