/*
 * lmd_dtype.c -- element types by name and size, and the f16 <-> f32
 * conversions every backend shares (bf16's are inline in the header).
 *
 * IEEE half: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
 * Exponent 0 holds zero and the subnormals (mantissa * 2^-24), exponent
 * 31 infinity and NaN.  f32 -> f16 rounds to nearest, ties to even, as
 * numpy and PyTorch do, so weights converted here match theirs bit for
 * bit.
 */

#include "lmd_dtype.h"

#include <string.h>


static const struct {
    const char  *name;          /* ours, for messages and config values */
    const char  *st_name;       /* safetensors' */
    size_t       size;
} lmd_dtypes[LMD_DTYPE_COUNT] = {
    [LMD_DTYPE_F32]  = { "f32", "F32", 4 },
    [LMD_DTYPE_F16]  = { "f16", "F16", 2 },
    [LMD_DTYPE_BF16] = { "bf16", "BF16", 2 },
    [LMD_DTYPE_I8]   = { "int8", "I8", 1 },
    [LMD_DTYPE_I32]  = { "i32", "I32", 4 },
};


size_t
lmd_dtype_size(int dtype)
{
    if (dtype < 0 || dtype >= LMD_DTYPE_COUNT) {
        return 0;
    }
    return lmd_dtypes[dtype].size;
}


const char *
lmd_dtype_name(int dtype)
{
    if (dtype < 0 || dtype >= LMD_DTYPE_COUNT) {
        return "unknown";
    }
    return lmd_dtypes[dtype].name;
}


int
lmd_dtype_from_safetensors(const char *name)
{
    int  i;

    if (name == NULL) {
        return -1;
    }
    for (i = 0; i < LMD_DTYPE_COUNT; i++) {
        if (strcmp(name, lmd_dtypes[i].st_name) == 0) {
            return i;
        }
    }
    return -1;
}


int
lmd_dtype_from_weights(const char *name)
{
    if (name == NULL) {
        return -2;
    }
    if (strcmp(name, "auto") == 0) {
        return -1;
    }
    if (strcmp(name, "f32") == 0) {
        return LMD_DTYPE_F32;
    }
    if (strcmp(name, "f16") == 0) {
        return LMD_DTYPE_F16;
    }
    if (strcmp(name, "bf16") == 0) {
        return LMD_DTYPE_BF16;
    }
    if (strcmp(name, "int8") == 0) {
        return LMD_DTYPE_I8;
    }
    return -2;
}


float
lmd_f16_to_f32(uint16_t h)
{
    uint32_t  sign = (uint32_t) (h & 0x8000u) << 16;
    uint32_t  exp = (h >> 10) & 0x1fu;
    uint32_t  mant = h & 0x3ffu;
    uint32_t  u;
    float     f;

    if (exp == 0x1f) {
        /* Infinity, or NaN with its payload (the quiet bit included). */
        u = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) {
        u = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        u = sign;
    } else {
        /* Subnormal: shift the mantissa up until its leading 1 is the
         * implicit bit, lowering the exponent by one per shift. */
        exp = 113;
        while ((mant & 0x400u) == 0) {
            mant <<= 1;
            exp--;
        }
        u = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
    }
    memcpy(&f, &u, sizeof(f));
    return f;
}


uint16_t
lmd_f32_to_f16(float f)
{
    uint32_t  u, sign, e, mant, shift, r, rem, half;

    memcpy(&u, &f, sizeof(u));
    sign = (u >> 16) & 0x8000u;
    u &= 0x7fffffffu;

    if (u > 0x7f800000u) {
        /* NaN: keep the top of the payload and make sure it stays NaN. */
        return (uint16_t) (sign | 0x7e00u | ((u >> 13) & 0x3ffu));
    }
    if (u >= 0x477ff000u) {
        /* 65520 and up (infinity included) round past 65504, the largest
         * half: the tie at 65520 goes to the even neighbour, infinity. */
        return (uint16_t) (sign | 0x7c00u);
    }
    if (u >= 0x38800000u) {
        /* Normal in half: rebias the exponent, drop 13 mantissa bits,
         * round; a carry out of the mantissa bumps the exponent, which
         * is what rounding up to the next binade needs. */
        r = (u - 0x38000000u) >> 13;
        rem = u & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (r & 1))) {
            r++;
        }
        return (uint16_t) (sign | r);
    }

    /* Below 2^-14: a half subnormal, counted in units of 2^-24. */
    e = u >> 23;
    if (e < 102) {
        /* Less than 2^-25, half of the smallest subnormal: zero. */
        return (uint16_t) sign;
    }
    mant = (u & 0x7fffffu) | 0x800000u;
    shift = 126 - e;            /* 14 .. 24 */
    r = mant >> shift;
    rem = mant & ((1u << shift) - 1);
    half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1))) {
        r++;                    /* may become 0x400, the smallest normal */
    }
    return (uint16_t) (sign | r);
}


void
lmd_dtype_to_f32(int dtype, const void *src, float *dst, size_t n)
{
    const uint16_t  *h = src;
    size_t           i;
    uint16_t         v;

    switch (dtype) {
    case LMD_DTYPE_F32:
        memcpy(dst, src, n * sizeof(float));
        break;
    case LMD_DTYPE_F16:
        for (i = 0; i < n; i++) {
            memcpy(&v, h + i, sizeof(v));
            dst[i] = lmd_f16_to_f32(v);
        }
        break;
    case LMD_DTYPE_BF16:
        for (i = 0; i < n; i++) {
            memcpy(&v, h + i, sizeof(v));
            dst[i] = lmd_bf16_to_f32(v);
        }
        break;
    default:
        /* Not a float type: callers check first; zeros, not garbage. */
        memset(dst, 0, n * sizeof(float));
        break;
    }
}
