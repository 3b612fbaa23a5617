/*
 * cpu_gemm.h -- internal to modules/cpu: the packed weight layout, the
 * per-instruction-set matrix kernels (and the exp-based softmax and
 * SwiGLU), and how cpu_isa.c picks them.
 *
 * Packed layout (cpu_weight_prepare): rows are grouped in panels of
 * CPU_PANEL (16) rows, the last one padded with zero rows.  Inside a
 * panel the weights are k-major, so one vector load gives column k of 16
 * rows:
 *
 *     F32, F16:  elem[(p * cols + k) * 16 + lane]
 *     BF16:      elem[(p * kp + (k & ~1)) * 16 + lane * 2 + (k & 1)]
 *                (kp = cols rounded up to even, the pad column zero)
 *     I8:        elem[(p * kp + (k & ~3)) * 16 + lane * 4 + (k & 3)]
 *                (kp = cols rounded up to 4), stored as q + 128 (u8)
 *
 * so BF16 keeps the two columns of a pair side by side in each 32-bit
 * lane, as vdpbf16ps wants them, and I8 four columns, as vpdpbusd (u8 x
 * s8, four products to one i32) wants them.  I8 scales are one f32 per
 * row, padded to whole panels with zeros.
 *
 * Numerics of F32, F16, BF16: weights are widened exactly to f32 in
 * registers (F16 by F16C, BF16 by a shift) and x stays f32.  BF16 on
 * AVX512_BF16 is the exception: vdpbf16ps on x rounded to bf16 once per
 * product (cpu_isa.c says why).
 *
 * Accumulation order (the determinism contract of cpu_kernels.h): every
 * y[i][r] is one chain y = fma(W[r][k], x[i][k], y) over k = 0, 1, ...,
 * cols-1 from y = 0, in f32.  The kernels keep a register tile of 16-row
 * panels x tokens, each lane one (r, i) chain, so neither the tile
 * shape, m, the row split nor the k blocking (partial sums parked in y
 * and reloaded) changes a bit.  With vdpbf16ps the chain steps over
 * column pairs instead.  The AVX2 and AVX-512 FMA kernels give the same
 * bits; the portable one rounds the product and the sum apart.  The set
 * in use is fixed for the process.
 *
 * I8 (cpu_gemm_i8*.c) computes in integers: x is quantized per token to
 * 16 bits in blocks of CPU_XQ_BLOCK columns (struct cpu_xq), each block
 * b gives the exact integer I_b = sum q[r][k] * x16[i][k], and
 *     y = fma(float(I_b), xscale_b, y) over b in order, then y *= scale[r].
 * The integer part is exact whatever the order, so every instruction set
 * gives the same bits, and the x quantization (one relative error of
 * 2^-16 of the block's largest |x|) is far below the weights' own.
 *
 * The kernels keep up to 64 KiB of scratch on the calling thread's stack.
 */

#ifndef CPU_GEMM_H
#define CPU_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "cpu_kernels.h"

#define CPU_PANEL       16
#define CPU_XQ_BLOCK    256     /* I8: columns per x scale (multiple of 4) */
#define CPU_XQ_MAX      32512   /* I8: |x16| <= this = 127 * 256 */

/* x for I8 weights, quantized by cpu_xq_quantize: per token i and block
 * b of CPU_XQ_BLOCK columns, scale = max |x| / CPU_XQ_MAX and x16 =
 * round(x / scale) (float division, ties to even); columns past cols
 * are 0.  hi/lo split x16 = 256 * hi + lo with lo in [-128, 127], the
 * two signed bytes vpdpbusd multiplies by the u8 weights; bias = 128 *
 * the block's sum of x16, which takes the weights' +128 back out. */
struct cpu_xq {
    const int16_t   *v;         /* [m][kp] x16 */
    const int8_t    *hi;        /* [m][kp] */
    const int8_t    *lo;        /* [m][kp] */
    const float     *scale;     /* [m][nb] */
    const int32_t   *bias;      /* [m][nb] */
    uint32_t         kp;        /* cols rounded up to 4 */
    uint32_t         nb;        /* blocks: cols / CPU_XQ_BLOCK, rounded up */
};

/* One product: y[m][rows] = x[m][cols] * W^T. */
struct cpu_gemm_job {
    const struct cpu_weight *w;
    const float             *x;     /* [m][cols] */
    const uint32_t          *xb;    /* BF16 by vdpbf16ps: x as bf16 pairs,
                                       [m][kp / 2], low half the even k */
    const struct cpu_xq     *xq;    /* I8: x quantized */
    float                   *y;     /* [m][rows] */
    uint32_t                 m;
};

/* A kernel computes the rows of panels [p0, p1) for every token. */
typedef void (*cpu_gemm_pt)(const struct cpu_gemm_job *job, uint32_t p0,
    uint32_t p1);

/* Rounds x [m][cols] to bf16 pairs xb [m][kp / 2]. */
typedef void (*cpu_xbf16_pt)(const float *x, uint32_t m, uint32_t cols,
    uint32_t *xb);

/* The elementwise ops that call exp (cpu_ops.c says what they compute). */
typedef void (*cpu_softmax_pt)(float *x, uint32_t n);
typedef void (*cpu_swiglu_pt)(float *out, const float *gate,
    const float *up, uint32_t n);

struct cpu_gemm_ops {
    int              isa;
    cpu_gemm_pt      gemm;          /* F32, F16, BF16 */
    cpu_xbf16_pt     x_to_bf16;     /* non-NULL: BF16 runs on vdpbf16ps */
    cpu_gemm_pt      gemm_i8;       /* I8, on job->xq */
    cpu_softmax_pt   softmax;
    cpu_swiglu_pt    swiglu;
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
void cpu_gemm_i8_portable(const struct cpu_gemm_job *job, uint32_t p0,
         uint32_t p1);
void cpu_gemm_i8_avx2(const struct cpu_gemm_job *job, uint32_t p0,
         uint32_t p1);
void cpu_gemm_i8_vnni(const struct cpu_gemm_job *job, uint32_t p0,
         uint32_t p1);

/* exp over n floats in place, and the ops built on it (cpu_exp_*.c;
 * the portable ones, on libm's expf, in cpu_ops.c).  The AVX2 and
 * AVX-512 versions give the same bits. */
void cpu_exp_avx2(float *x, uint32_t n);
void cpu_exp_avx512(float *x, uint32_t n);
void cpu_softmax_portable(float *x, uint32_t n);
void cpu_softmax_avx2(float *x, uint32_t n);
void cpu_softmax_avx512(float *x, uint32_t n);
void cpu_swiglu_portable(float *out, const float *gate, const float *up,
         uint32_t n);
void cpu_swiglu_avx2(float *out, const float *gate, const float *up,
         uint32_t n);
void cpu_swiglu_avx512(float *out, const float *gate, const float *up,
         uint32_t n);

/* I8: bytes of scratch cpu_xq_quantize needs for m tokens of cols. */
size_t cpu_xq_bytes(uint32_t m, uint32_t cols);

/* Quantizes x [m][cols] into mem (cpu_xq_bytes, 64-byte aligned), and
 * points q at it.  A block with a non-finite x gets x16 = 0 and scale
 * NaN, so its outputs are NaN as an f32 product's would be. */
void cpu_xq_quantize(const float *x, uint32_t m, uint32_t cols, void *mem,
         struct cpu_xq *q);

/* Packed geometry. */
static inline uint32_t
cpu_weight_panels(const struct cpu_weight *w)
{
    return (w->rows + CPU_PANEL - 1) / CPU_PANEL;
}

/* Columns per panel as stored: cols, rounded up to even for BF16, to a
 * multiple of 4 for I8. */
static inline uint32_t
cpu_weight_kp(const struct cpu_weight *w)
{
    switch (w->dtype) {
    case LMD_DTYPE_BF16:
        return (w->cols + 1) & ~1u;
    case LMD_DTYPE_I8:
        return (w->cols + 3) & ~3u;
    default:
        return w->cols;
    }
}

/* A buffer of the pool's, reused by every call (cpu_matmul's bf16 copy of
 * x): at least bytes, 64-byte aligned, valid until the next call; NULL
 * when out of memory.  Engine thread only. */
void *cpu_pool_scratch(struct cpu_pool *pool, size_t bytes);

#endif /* CPU_GEMM_H */
