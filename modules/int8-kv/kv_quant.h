/*
 * kv_quant.h -- the int8-kv module's cpu run format and hooks (kv_cpu.c),
 * shared with its module table (kv_module.c).
 *
 * A run is `positions` positions (P) of one KV head, head_dim (D) numbers
 * each, quantized per position -- per token and KV head, as LMDeploy's
 * quant_policy 4 and 8 do -- asymmetrically:
 *
 *     x ~ lo + q * step,   q = 0 .. 2^bits - 1,
 *
 * with lo at or below the position's smallest number and step such that
 * lo + (2^bits - 1) step is at or above its largest, so every number is
 * within step / 2 of its stored value.  Layout (64-byte aligned):
 *
 *     f32 lo[P], f32 step[P]                    (8 P bytes, padded to 64)
 *     keys:   q[D][P]  transposed, as the cpu engine keeps f32 keys, so
 *                      that scores come 8 positions to a vector
 *     values: q[P][D]
 *
 * int8 stores one q a byte; int4 two: byte j of a row of n codes holds
 * code j in its low nibble and code j + n/2 in its high one (keys: n =
 * P positions, values: n = D dims), so unpacking is two plain loops.
 */

#ifndef KV_QUANT_H
#define KV_QUANT_H

#include "lmd_module.h"

extern const struct lmd_kv_codec_cpu  kv_cpu_int8;
extern const struct lmd_kv_codec_cpu  kv_cpu_int4;

#endif /* KV_QUANT_H */
