/*
 * cpu_ops.c -- the cpu engine's elementwise operations: RMSNorm, RoPE,
 * SiLU gating and softmax (attention's dot and axpy are inline, in
 * cpu_engine.h).  Softmax and SiLU, which call exp, go to the
 * instruction set's versions (cpu_isa.c); the portable ones are here.
 *
 * Each works on one row, in f32, in the order Hugging Face's modeling
 * code does its tensor operations (one rounding per torch op), so that
 * the results stay within a few ulps of transformers'.  The build has
 * -std=c11, which keeps GCC from contracting a*b+c into an FMA: what a
 * row gets never depends on the instruction set these files run on.
 * Reductions use a fixed number of partial sums in a fixed order: wide
 * enough to vectorize, and the same for a row whatever the batch.
 */

#include "cpu_engine.h"
#include "cpu_gemm.h"

#include <math.h>


/* HF LlamaRMSNorm: x * rsqrt(mean(x^2) + eps), then times w.  The mean
 * of squares is summed in double, closer to torch's pairwise sum than an
 * f32 running sum; x may be out. */
void
cpu_rmsnorm(float *out, const float *x, const float *w, uint32_t n,
    float eps)
{
    double    acc[4] = { 0, 0, 0, 0 };
    uint32_t  i;
    float     var, r;

    for (i = 0; i + 4 <= n; i += 4) {
        acc[0] += (double) x[i] * x[i];
        acc[1] += (double) x[i + 1] * x[i + 1];
        acc[2] += (double) x[i + 2] * x[i + 2];
        acc[3] += (double) x[i + 3] * x[i + 3];
    }
    for (; i < n; i++) {
        acc[0] += (double) x[i] * x[i];
    }

    var = (float) (((acc[0] + acc[1]) + (acc[2] + acc[3])) / n);
    r = 1.0f / sqrtf(var + eps);

    for (i = 0; i < n; i++) {
        out[i] = w[i] * (x[i] * r);
    }
}


/* x += y: the residual connections and the biases. */
void
cpu_add(float *x, const float *y, uint32_t n)
{
    uint32_t  i;

    for (i = 0; i < n; i++) {
        x[i] += y[i];
    }
}


/* cos and sin of one position's angles pos * inv_freq[i], i < half.
 * The product is rounded to f32 first, as torch's outer product does. */
void
cpu_rope_angles(float *cosv, float *sinv, const float *inv_freq,
    uint32_t half, uint32_t pos, float pos_scale)
{
    float     p, a;
    uint32_t  i;

    p = (float) pos;
    if (pos_scale != 1.0f) {
        p *= pos_scale;
    }
    for (i = 0; i < half; i++) {
        a = p * inv_freq[i];
        cosv[i] = cosf(a);
        sinv[i] = sinf(a);
    }
}


/* RoPE in HF's rotate_half layout, in place on n_heads heads of v: the
 * pairs are (i, i + head_dim/2), and
 *   v' = v * cos + rotate_half(v) * sin,  rotate_half(v) = (-v2, v1). */
void
cpu_rope(float *v, uint32_t n_heads, uint32_t head_dim, const float *cosv,
    const float *sinv)
{
    uint32_t  h, i, half;
    float    *x1, *x2;                  /* [half] each */
    float     a, b;

    half = head_dim / 2;
    for (h = 0; h < n_heads; h++) {
        x1 = v + (size_t) h * head_dim;
        x2 = x1 + half;
        for (i = 0; i < half; i++) {
            a = x1[i];
            b = x2[i];
            x1[i] = a * cosv[i] - b * sinv[i];
            x2[i] = b * cosv[i] + a * sinv[i];
        }
    }
}


/* out = silu(gate) * up, silu(g) = g / (1 + exp(-g)) as torch has it;
 * on the vector exp of cpu_exp_*.c where the CPU has AVX2 (cpu_isa.c). */
void
cpu_swiglu(float *out, const float *gate, const float *up, uint32_t n)
{
    cpu_gemm_ops()->swiglu(out, gate, up, n);
}


/* The same on libm's expf: the portable instruction set's. */
void
cpu_swiglu_portable(float *out, const float *gate, const float *up,
    uint32_t n)
{
    uint32_t  i;
    float     g;

    for (i = 0; i < n; i++) {
        g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}


/* Softmax in place: x - max, exp, the sum in double, times 1 / sum.  The
 * AVX2 and AVX-512 versions (cpu_exp_*.c) sum in 16 fixed partial sums;
 * a row's result depends only on its n values either way. */
void
cpu_softmax(float *x, uint32_t n)
{
    cpu_gemm_ops()->softmax(x, n);
}


/* The same on libm's expf, one running sum: the portable instruction
 * set's. */
void
cpu_softmax_portable(float *x, uint32_t n)
{
    float     max, inv;
    double    sum;
    uint32_t  i;

    if (n == 0) {
        return;
    }
    max = x[0];
    for (i = 1; i < n; i++) {
        if (x[i] > max) {
            max = x[i];
        }
    }
    sum = 0.0;
    for (i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    inv = (float) (1.0 / sum);
    for (i = 0; i < n; i++) {
        x[i] *= inv;
    }
}
