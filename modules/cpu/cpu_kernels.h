/*
 * cpu_kernels.h -- the cpu engine's matrix products, in the weight
 * formats it computes with, for each instruction set.
 *
 * Weights are prepared once at load (converted to the configured dtype,
 * repacked as the kernels like); activations are f32.  The instruction
 * set is chosen at run time (AVX-512 with BF16/VNNI where present, else
 * AVX2+FMA, else portable C); LMD_CPU_ISA=portable|avx2|avx512 forces
 * one (tests).
 *
 * Determinism: y[i][r] depends only on row r of W and row i of x, never
 * on m, the row range or the thread count, so a batched step equals the
 * same sequences run one by one, bit for bit.
 */

#ifndef CPU_KERNELS_H
#define CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "lmd_dtype.h"
#include "lmd_model_weights.h"
#include "cpu_pool.h"

struct cpu_weight {
    int             dtype;          /* F32, F16, BF16 or I8 */
    uint32_t        rows;           /* output features */
    uint32_t        cols;           /* input features */
    const void     *data;           /* the kernels' layout */
    const float    *scale;          /* I8: one per row */
    void           *owned;          /* freed by cpu_weight_free */
    uint64_t        bytes;          /* resident bytes (data + scale) */
};

enum cpu_isa {
    CPU_ISA_PORTABLE = 0,
    CPU_ISA_AVX2,                   /* AVX2 + FMA + F16C */
    CPU_ISA_AVX512                  /* F, BW, VL (+ BF16, VNNI if there) */
};

/* The instruction set in use (after LMD_CPU_ISA), and its name. */
int         cpu_isa(void);
const char *cpu_isa_name(int isa);

/* Makes w from src in dtype (-1: src's own dtype).  The data may point
 * into src's mapping when no conversion or repacking is needed.
 * 0, or -1 with err naming src->name. */
int  cpu_weight_prepare(const struct lmd_wmat *src, int dtype,
         struct cpu_weight *w, char *err, size_t errlen);
void cpu_weight_free(struct cpu_weight *w);

/* y[i*rows + r] = sum_k x[i*cols + k] * W[r][k] for i < m, over the
 * pool's threads. */
void cpu_matmul(struct cpu_pool *pool, const struct cpu_weight *w,
         const float *x, uint32_t m, float *y);

/* Gathers row `row` of w as f32 (the embedding lookup). */
void cpu_weight_row(const struct cpu_weight *w, uint32_t row, float *out);

#endif /* CPU_KERNELS_H */
