/*
 * awq_kernels.h -- launch interface of the W4A16 (AutoAWQ layout) CUDA
 * kernels of the cuda-awq module.  Plain C, so the module's C files can
 * call it; the kernels live in the .cu files beside it.
 *
 * AWQ layout (see engine/lmd_awq.h): qweight int32 [in][out/8], qzeros
 * int32 [in/group][out/8], scales f16 [in/group][out]; nibble j of a
 * word holds column 8w + [0,2,4,6,1,3,5,7][j];
 * W[n][k] = (q[k][n] - z[k/g][n]) * s[k/g][n].
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
 * The arguments of both products: y = x W^T, W[out][in] as above; x f16
 * [m][in].  y_add 0: y is f16 [m][out] and is overwritten; y_add 1: y is
 * f32 [m][out] and the product is added to it (the residual stream).
 * f32 accumulation; deterministic (the same inputs give the same bits
 * whatever the timing).  x, y, qweight, qzeros and scales 16-byte
 * aligned; in and group multiples of 32, group dividing in; out a
 * multiple of 128.
 */
struct awq_args {
    const uint16_t *x;          /* f16 [m][in] */
    const int32_t  *qweight;    /* [in][out/8] */
    const int32_t  *qzeros;     /* [in/group][out/8] */
    const uint16_t *scales;     /* f16 [in/group][out] */
    const uint32_t *gv_w;       /* the GEMV's repack (awq_gemv_pack) */
    const uint32_t *gv_sz;
    void           *y;          /* f16 or (y_add) f32 [m][out] */
    int             y_add;
    void           *work;       /* scratch, see each function */
    int             m;
    int             in;
    int             out;
    int             group;
    int             ksteps;     /* GEMV tuning knob; 0 picks one */
};

/*
 * awq_gemv.cu: decode batches, m = 1..16, bound by reading the weights.
 * It reads its own copy of the matrix, repacked once by awq_gemv_pack
 * (qweight, qzeros, scales -> gv_w and gv_sz of awq_gemv_packed_bytes,
 * 16-byte aligned); the other fields of awq_args as above, work unused.
 * in a multiple of 64, group of 16, out of 16.  ksteps: 0 picks how
 * many warps split K; 1, 2, 4 or 8 forces it (tuning).
 */
void awq_gemv_packed_bytes(int in, int out, int group, size_t *w,
                           size_t *sz);
int awq_gemv_pack(const struct awq_args *a, uint32_t *w, uint32_t *sz,
                  cudaStream_t s);
int awq_gemv(const struct awq_args *a, cudaStream_t s);

/*
 * awq_gemm.cu: prefill and large batches, any m >= 1 (meant for m > 16),
 * on tensor cores with the weights dequantized on chip.  `work`: a
 * device buffer of awq_gemm_work_bytes() bytes (may be 0 bytes, then
 * work may be NULL), with the same rules as the GEMV's.  For the GEMM,
 * work holds the f32 partials of a K split (no counters, nothing to
 * zero), is 16-byte aligned, and awq_gemm_work_bytes(m, in, out) also
 * serves every call with smaller m and out; work NULL: K is not split.
 * ksteps: 0 picks the K split, n > 0 forces n (at most 8; -1 if work
 * would not hold it).
 */
size_t awq_gemm_work_bytes(int m, int in, int out);
int awq_gemm(const struct awq_args *a, cudaStream_t s);

/*
 * awq_dequant.cu: the weights of a (qweight, qzeros, scales, in, out,
 * group; the rest unused) unpacked to f16 dst [out][in] (16-byte
 * aligned), (q - z) * s rounded once, as lmd_awq_dequant_rows.  in and
 * group multiples of 16.  -1 without a launch for anything else.
 */
int awq_dequant(const struct awq_args *a, void *dst, cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif /* AWQ_KERNELS_H */
