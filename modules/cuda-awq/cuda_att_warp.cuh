/*
 * cuda_att_warp.cuh -- the online softmax of the one-warp-per-row
 * attention kernels (cuda_attn_generic.cu, and the int8-kv module's
 * generic path), which score 32 positions at a time, one a lane.
 */

#ifndef CUDA_ATT_WARP_CUH
#define CUDA_ATT_WARP_CUH

#include <math.h>

#include <cuda_runtime.h>


/* One chunk of 32 scores, s in each lane (valid: the lane's position is
 * attended to): updates the row's running max m and sum l, rescales the
 * N accumulators acc by the change of the max, and returns the lane's
 * weight exp(s - m) (0 where not valid). */
template <int N>
static __device__ __forceinline__ float
att_warp_softmax(float s, bool valid, float *m, float *l, float (&acc)[N])
{
    float  cm = s, corr, w, sum;
    int    j;

    for (j = 16; j > 0; j /= 2) {
        cm = fmaxf(cm, __shfl_xor_sync(0xffffffffu, cm, j));
    }
    cm = fmaxf(cm, *m);                     /* the new running max */
    corr = *m == -INFINITY ? 0.0f : expf(*m - cm);
    w = valid ? expf(s - cm) : 0.0f;
    sum = w;
    for (j = 16; j > 0; j /= 2) {
        sum += __shfl_xor_sync(0xffffffffu, sum, j);
    }
    *l = *l * corr + sum;
    *m = cm;
    for (j = 0; j < N; j++) {
        acc[j] *= corr;
    }
    return w;
}

#endif /* CUDA_ATT_WARP_CUH */
