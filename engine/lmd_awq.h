/*
 * lmd_awq.h -- AutoAWQ's W4A16 "GEMM" packing: unpacking to float (the
 * plain-C reference the GPU kernels are checked against) and packing
 * (for tests and dummy weights).
 *
 * The format, for a linear layer of `in` inputs and `out` outputs with
 * group size g (all tensors row-major, [in][...] -- transposed with
 * respect to HF's [out][in] .weight):
 *   qweight  int32 [in][out/8]     q[k][n], 4 bits each
 *   qzeros   int32 [in/g][out/8]   z[k/g][n], packed the same way
 *   scales   f16   [in/g][out]     s[k/g][n]
 *   W[n][k] = (q[k][n] - z[k/g][n]) * s[k/g][n]
 * Word w of a packed row holds the 8 columns 8w..8w+7, interleaved:
 * nibble j (bits 4j..4j+3) holds column 8w + LMD_AWQ_NIBBLE_COL[j].
 */

#ifndef LMD_AWQ_H
#define LMD_AWQ_H

#include <stddef.h>
#include <stdint.h>

#include "lmd_model_weights.h"

/* AutoAWQ's pack order_map [0,2,4,6,1,3,5,7] (WQLinear_GEMM.from_linear:
 * nibble i |= column 8w + order_map[i]): nibble j -> column. */
extern const uint8_t  lmd_awq_nibble_col[8];
/* Its inverse, vLLM's AWQ_REVERSE_ORDER [0,4,1,5,2,6,3,7]: column
 * 8w + m -> nibble. */
extern const uint8_t  lmd_awq_col_nibble[8];

/* The 4-bit value of column n in row r of a packed [rows][cols/8]
 * tensor (qweight or qzeros). */
uint32_t lmd_awq_get(const int32_t *packed, uint32_t cols, uint32_t r,
    uint32_t n);

/* Output rows n0..n1-1 of the layer as float, in HF's orientation:
 * out[(n - n0) * in + k] = W[n][k].  n0 <= n1 <= m->out. */
void lmd_awq_dequant_rows(const struct lmd_awq_mat *m, uint32_t n0,
    uint32_t n1, float *out);

/* Packs q [in][out] and z [in/group][out] (values 0..15, one per byte)
 * into qweight [in][out/8] and qzeros [in/group][out/8], and converts s
 * [in/group][out] to f16 scales.  out must be a multiple of 8 and group
 * divide in. */
void lmd_awq_pack(uint32_t in, uint32_t out, uint32_t group,
    const uint8_t *q, const uint8_t *z, const float *s, int32_t *qweight,
    int32_t *qzeros, uint16_t *scales);

#endif /* LMD_AWQ_H */
