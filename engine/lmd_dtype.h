/*
 * lmd_dtype.h -- element types of weights and activations, and the
 * scalar conversions every backend shares.
 */

#ifndef LMD_DTYPE_H
#define LMD_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum lmd_dtype {
    LMD_DTYPE_F32 = 0,
    LMD_DTYPE_F16,
    LMD_DTYPE_BF16,
    LMD_DTYPE_I8,               /* int8 with one f32 scale per row */
    LMD_DTYPE_I32,              /* AWQ packed nibbles, int32 tensors */
    LMD_DTYPE_COUNT
};

/* Bytes of one element. */
size_t      lmd_dtype_size(int dtype);

/* "f32", "f16", "bf16", "int8", "i32". */
const char *lmd_dtype_name(int dtype);

/* safetensors' names: "F32", "F16", "BF16", "I8", "I32"; -1 if unknown. */
int         lmd_dtype_from_safetensors(const char *name);

/* The config's `weights:` values: "f32", "f16", "bf16", "int8"; "auto"
 * gives -1 (keep as stored); -2 if unknown. */
int         lmd_dtype_from_weights(const char *name);

static inline float
lmd_bf16_to_f32(uint16_t h)
{
    uint32_t  u = (uint32_t) h << 16;
    float     f;

    memcpy(&f, &u, sizeof(f));
    return f;
}

/* Round to nearest even; NaN stays NaN. */
static inline uint16_t
lmd_f32_to_bf16(float f)
{
    uint32_t  u;

    memcpy(&u, &f, sizeof(u));
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return (uint16_t) ((u >> 16) | 0x40);
    }
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t) (u >> 16);
}

float       lmd_f16_to_f32(uint16_t h);
uint16_t    lmd_f32_to_f16(float f);   /* round to nearest even */

/* Converts n elements of dtype (F32, F16 or BF16) at src to f32. */
void        lmd_dtype_to_f32(int dtype, const void *src, float *dst,
                size_t n);

#endif /* LMD_DTYPE_H */
