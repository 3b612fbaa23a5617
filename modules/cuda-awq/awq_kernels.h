/*
 * awq_kernels.h -- launch interface of the W4A16 CUDA kernels of the
 * cuda-awq module.  Plain C, so the module's C files can call it; the
 * kernels live in the .cu files beside it.
 *
 * Checkpoints come in AutoAWQ's layout (see engine/lmd_awq.h): qweight
 * int32 [in][out/8], qzeros int32 [in/group][out/8], scales f16
 * [in/group][out]; nibble j of a word holds column 8w +
 * [0,2,4,6,1,3,5,7][j]; W[n][k] = (q[k][n] - z[k/g][n]) * s[k/g][n].
 * awq_gemv_pack rewrites that once, at load time, into the kernels' own
 * layout (gv_w, gv_sz: runs of 512 bytes in the order the lanes use
 * them, awq_gemv.cu), which is all the engine keeps on the GPU; the
 * GEMV, the GEMM and the f16 unpack read only that.
 */

#ifndef AWQ_KERNELS_H
#define AWQ_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The arguments: y = x W^T, W[out][in] as above; x f16 [m][in].  y_add
 * 0: y is f16 [m][out] and is overwritten; y_add 1: y is f32 [m][out]
 * and the product is added to it (the residual stream).  f32
 * accumulation; deterministic (the same inputs give the same bits
 * whatever the timing).  All pointers 16-byte aligned; in a multiple of
 * 64, group a power of two from 16 dividing in, out a multiple of 16
 * (128 for the GEMM).
 */
struct awq_args {
    const uint16_t *x;          /* f16 [m][in] */
    const int32_t  *qweight;    /* AutoAWQ [in][out/8]: awq_gemv_pack */
    const int32_t  *qzeros;     /* [in/group][out/8]: awq_gemv_pack */
    const uint16_t *scales;     /* f16 [in/group][out]: awq_gemv_pack */
    const uint32_t *gv_w;       /* the kernels' layout */
    const uint32_t *gv_sz;
    void           *y;          /* f16 or (y_add) f32 [m][out] */
    int             y_add;
    void           *work;       /* the GEMM's scratch */
    int             m;
    int             in;
    int             out;
    int             group;
    int             ksteps;     /* tuning knob, see each; 0 picks one */
};

/*
 * awq_gemv.cu: awq_gemv_pack writes the kernels' layout of (qweight,
 * qzeros, scales) to w and sz, of the sizes awq_gemv_packed_bytes
 * gives.  awq_gemv: decode batches, m = 1..16, bound by reading the
 * weights; ksteps 0 picks how many warps split K, 1, 2, 4 or 8 forces
 * it (tuning); work unused.
 */
/* log2 of a group (a power of two, checked by each function). */
static inline int
awq_group_shift(int group)
{
    int  s = 0;

    while ((1 << s) < group) {
        s++;
    }
    return s;
}

void awq_gemv_packed_bytes(int in, int out, int group, size_t *w,
                           size_t *sz);
int awq_gemv_pack(const struct awq_args *a, uint32_t *w, uint32_t *sz,
                  cudaStream_t s);
int awq_gemv(const struct awq_args *a, cudaStream_t s);

/*
 * awq_gemm.cu: prefill and large batches, any m >= 1 (meant for m > 16),
 * on tensor cores with the weights dequantized on chip.  `work`: a
 * device buffer of awq_gemm_work_bytes() bytes (may be 0 bytes, then
 * work may be NULL): the f32 partials of a K split (nothing to zero),
 * 16-byte aligned; awq_gemm_work_bytes(m, in, out) also
 * serves every call with smaller m and out; work NULL: K is not split.
 * ksteps: 0 picks the K split, n > 0 forces n (at most 8; -1 if work
 * would not hold it).
 */
size_t awq_gemm_work_bytes(int m, int in, int out);
int awq_gemm(const struct awq_args *a, cudaStream_t s);

/*
 * awq_dequant.cu: the weights of a (gv_w, gv_sz, in, out, group; the
 * rest unused) unpacked to f16 dst [out][in] (16-byte aligned),
 * (q - z) * s rounded once, as lmd_awq_dequant_rows.  -1 without a
 * launch for shapes outside the rules above.
 */
int awq_dequant(const struct awq_args *a, void *dst, cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif /* AWQ_KERNELS_H */
