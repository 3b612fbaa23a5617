/*
 * cpu_gemm.h -- internal to modules/cpu: the packed weight layout, the
 * per-instruction-set matrix kernels, and how cpu_isa.c picks them.
 *
 * Packed layout (cpu_weight_prepare): rows are grouped in panels of
 * CPU_PANEL (16) rows, the last one padded with zero rows.  Inside a
 * panel the weights are k-major, so one vector load gives column k of 16
 * rows:
 *
 *     F32, F16, I8:  elem[(p * cols + k) * 16 + lane]
 *     BF16:          elem[(p * kp + (k & ~1)) * 16 + lane * 2 + (k & 1)]
 *                    (kp = cols rounded up to even, the pad column zero)
 *
 * so BF16 keeps the two columns of a pair side by side in each 32-bit
 * lane, as vdpbf16ps wants them.  I8 scales are one f32 per row, padded
 * to whole panels with zeros.
 *
 * Numerics: weights are widened exactly to f32 in registers (F16 by
 * F16C, BF16 by a shift, I8 by conversion of the integer) and x stays
 * f32; I8 is weight-only quantization, its row scale applied once at the
 * end.  BF16 on AVX512_BF16 is the exception: vdpbf16ps on x rounded to
 * bf16 once per product (cpu_isa.c says why).
 *
 * Accumulation order (the determinism contract of cpu_kernels.h): every
 * y[i][r] is one chain y = fma(W[r][k], x[i][k], y) over k = 0, 1, ...,
 * cols-1 from y = 0, in f32, then (I8) y *= scale[r].  The kernels keep a
 * register tile of 16-row panels x tokens, each lane one (r, i) chain, so
 * neither the tile shape, m, the row split nor the k blocking (partial
 * sums parked in y and reloaded) changes a bit.  With vdpbf16ps the chain
 * steps over column pairs instead.  The AVX2 and AVX-512 FMA kernels give
 * the same bits; the portable one rounds the product and the sum apart.
 * The set in use is fixed for the process.
 *
 * The kernels keep up to 64 KiB of scratch on the calling thread's stack.
 */

#ifndef CPU_GEMM_H
#define CPU_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "cpu_kernels.h"

#define CPU_PANEL       16

/* One product: y[m][rows] = x[m][cols] * W^T. */
struct cpu_gemm_job {
    const struct cpu_weight *w;
    const float             *x;     /* [m][cols] */
    const uint32_t          *xb;    /* BF16 by vdpbf16ps: x as bf16 pairs,
                                       [m][kp / 2], low half the even k */
    float                   *y;     /* [m][rows] */
    uint32_t                 m;
};

/* A kernel computes the rows of panels [p0, p1) for every token. */
typedef void (*cpu_gemm_pt)(const struct cpu_gemm_job *job, uint32_t p0,
    uint32_t p1);

/* Rounds x [m][cols] to bf16 pairs xb [m][kp / 2]. */
typedef void (*cpu_xbf16_pt)(const float *x, uint32_t m, uint32_t cols,
    uint32_t *xb);

struct cpu_gemm_ops {
    int              isa;
    cpu_gemm_pt      gemm;
    cpu_xbf16_pt     x_to_bf16;     /* non-NULL: BF16 runs on vdpbf16ps */
};

/* The kernels in use (cpu_isa() picks them on first use). */
const struct cpu_gemm_ops *cpu_gemm_ops(void);

/* 1 if this CPU can run isa. */
int  cpu_isa_supported(int isa);

/* Tests and benchmarks: switch to isa (LMD_OK, or LMD_ERROR if the CPU
 * lacks it) and choose how BF16 is computed where AVX512_BF16 exists
 * (bf16_dp 1: vdpbf16ps, 0: convert and FMA, -1: the default).  Not
 * for the engine: a change breaks the bit-for-bit batching guarantee. */
int  cpu_isa_set(int isa, int bf16_dp);

/* The kernels, one per instruction set (cpu_gemm_*.c).  Call the AVX
 * ones only where cpu_isa_supported says so. */
void cpu_gemm_portable(const struct cpu_gemm_job *job, uint32_t p0,
         uint32_t p1);
void cpu_gemm_avx2(const struct cpu_gemm_job *job, uint32_t p0,
         uint32_t p1);
void cpu_gemm_avx512(const struct cpu_gemm_job *job, uint32_t p0,
         uint32_t p1);
void cpu_x_to_bf16_avx512(const float *x, uint32_t m, uint32_t cols,
         uint32_t *xb);

/* Packed geometry. */
static inline uint32_t
cpu_weight_panels(const struct cpu_weight *w)
{
    return (w->rows + CPU_PANEL - 1) / CPU_PANEL;
}

/* Columns per panel as stored: cols, rounded up to even for BF16. */
static inline uint32_t
cpu_weight_kp(const struct cpu_weight *w)
{
    return w->dtype == LMD_DTYPE_BF16 ? (w->cols + 1) & ~1u : w->cols;
}

/* A buffer of the pool's, reused by every call (cpu_matmul's bf16 copy of
 * x): at least bytes, 64-byte aligned, valid until the next call; NULL
 * when out of memory.  Engine thread only. */
void *cpu_pool_scratch(struct cpu_pool *pool, size_t bytes);

#endif /* CPU_GEMM_H */
