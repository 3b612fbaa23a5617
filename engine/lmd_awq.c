/*
 * lmd_awq.c -- AutoAWQ W4A16 GEMM packing and unpacking in plain C.
 *
 * Written to be obviously right rather than fast: it is the reference
 * the CUDA kernels are checked against.  Words are read with memcpy, so
 * a tensor at any offset of a safetensors mapping is fine.
 *
 * Direction of the interleave, checked against AutoAWQ's
 * WQLinear_GEMM.from_linear (packing: for i in 0..7, word |= column
 * 8w + order_map[i] << 4i, order_map = [0,2,4,6,1,3,5,7]) and vLLM's
 * awq unpacking (AWQ_REVERSE_ORDER = [0,4,1,5,2,6,3,7] gathers column m
 * from nibble REVERSE[m]): [0,2,4,6,1,3,5,7] maps nibble -> column and
 * [0,4,1,5,2,6,3,7] maps column -> nibble.  So nibble 1 holds column 2
 * and column 1 sits in nibble 4.
 */

#include "lmd_awq.h"
#include "lmd_dtype.h"

#include <string.h>

const uint8_t  lmd_awq_nibble_col[8] = { 0, 2, 4, 6, 1, 3, 5, 7 };
const uint8_t  lmd_awq_col_nibble[8] = { 0, 4, 1, 5, 2, 6, 3, 7 };


uint32_t
lmd_awq_get(const int32_t *packed, uint32_t cols, uint32_t r, uint32_t n)
{
    uint32_t  word;

    memcpy(&word, packed + (size_t) r * (cols / 8) + n / 8, sizeof(word));
    return (word >> (4 * lmd_awq_col_nibble[n % 8])) & 0xf;
}


void
lmd_awq_dequant_rows(const struct lmd_awq_mat *m, uint32_t n0, uint32_t n1,
    float *out)
{
    uint32_t  n, k, g, q, z;
    uint16_t  s;
    float    *row;

    for (n = n0; n < n1; n++) {
        row = out + (size_t) (n - n0) * m->in;
        for (k = 0; k < m->in; k++) {
            g = k / m->group;
            q = lmd_awq_get(m->qweight, m->out, k, n);
            z = lmd_awq_get(m->qzeros, m->out, g, n);
            memcpy(&s, m->scales + (size_t) g * m->out + n, sizeof(s));
            row[k] = ((float) q - (float) z) * lmd_f16_to_f32(s);
        }
    }
}


/* Packs one [rows][cols] array of nibbles into [rows][cols/8] words. */
static void
lmd_awq_pack_nibbles(uint32_t rows, uint32_t cols, const uint8_t *v,
    int32_t *packed)
{
    uint32_t  r, w, j, word;
    int32_t   s;

    for (r = 0; r < rows; r++) {
        for (w = 0; w < cols / 8; w++) {
            word = 0;
            for (j = 0; j < 8; j++) {
                word |= (uint32_t) (v[(size_t) r * cols + 8 * w
                                      + lmd_awq_nibble_col[j]] & 0xf)
                        << (4 * j);
            }
            memcpy(&s, &word, sizeof(s));
            packed[(size_t) r * (cols / 8) + w] = s;
        }
    }
}


void
lmd_awq_pack(uint32_t in, uint32_t out, uint32_t group, const uint8_t *q,
    const uint8_t *z, const float *s, int32_t *qweight, int32_t *qzeros,
    uint16_t *scales)
{
    size_t  i, n;

    lmd_awq_pack_nibbles(in, out, q, qweight);
    lmd_awq_pack_nibbles(in / group, out, z, qzeros);
    n = (size_t) (in / group) * out;
    for (i = 0; i < n; i++) {
        scales[i] = lmd_f32_to_f16(s[i]);
    }
}
