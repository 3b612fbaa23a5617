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
 * y[m][out] = x[m][in] * W^T for decode batches, m = 1..16; f16 in and
 * out, f32 accumulation.  Deterministic: the split-K partial sums are
 * added in a fixed order whatever the timing.
 *
 * Limits: in a multiple of 32, group a multiple of 32 dividing in, out a
 * multiple of 256 (m <= 8) or 128 (m > 8); x, y, scales 16-byte aligned.
 * `work` is a device buffer of awq_gemv_work_bytes() bytes whose first
 * awq_gemv_work_bytes(0, 0, 0) bytes (the arrival counters, a fixed
 * size) are zero before the first call; every call leaves them zero
 * again.  Calls that
 * share a work buffer must be on one stream.
 */
struct awq_gemv_args {
    const uint16_t *x;          /* f16 [m][in] */
    const int32_t  *qweight;    /* [in][out/8] */
    const int32_t  *qzeros;     /* [in/group][out/8] */
    const uint16_t *scales;     /* f16 [in/group][out] */
    uint16_t       *y;          /* f16 [m][out] */
    void           *work;       /* split-K scratch, see above */
    int             m;
    int             in;
    int             out;
    int             group;
    int             ksteps;     /* 16-row k steps per warp: 1, 2, 4;
                                   0 picks one (for tuning runs) */
};

/* Bytes of `work` for any call with at most m rows of this shape; with
 * m = in = 0, the bytes of the counters alone (the same for any out). */
size_t awq_gemv_work_bytes(int m, int in, int out);

/* 0 on success, -1 on bad arguments or a launch error (the CUDA error
 * stays readable with cudaGetLastError only for launch errors). */
int awq_gemv(const struct awq_gemv_args *a, cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif /* AWQ_KERNELS_H */
