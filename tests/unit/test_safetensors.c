/*
 * test_safetensors.c -- unit tests for engine/lmd_dtype.c,
 * engine/lmd_safetensors.c and engine/lmd_safetensors_write.c.
 *
 * The f16 expectations are IEEE 754 binary16 facts worked out by hand
 * (the largest half, the subnormal step 2^-24, ties to even).  The files
 * are either written by lmd_safetensors_write and read back, or built
 * byte by byte here from the format's description (8-byte little-endian
 * header length, JSON header, data section), so that every broken file
 * is broken in exactly one way.  Everything lives in a mkdtemp folder
 * under /tmp, removed at the end of each case.
 */

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmd_common.h"
#include "lmd_dtype.h"
#include "lmd_safetensors.h"
#include "lmd_test.h"


/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static char  tmp[64];


static int
tmp_make(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/lmd_test_st_XXXXXX");
    return fail_unless(mkdtemp(tmp) != NULL, "mkdtemp failed");
}


/* Removes the files in tmp (it holds no folders), then tmp. */
static void
tmp_remove(void)
{
    struct dirent  *e;
    DIR            *d;
    char            path[512];

    d = opendir(tmp);
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", tmp, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    rmdir(tmp);
}


static const char *
tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmp, name);
    return buf;
}


static int
write_bytes(const char *path, const void *p, size_t n)
{
    FILE  *f;
    int    ok;

    f = fopen(path, "wb");
    if (f == NULL) {
        return 0;
    }
    ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}


/* A safetensors file by hand: header length hlen (normally the JSON's
 * length), the JSON, then data_len bytes counting up from 0. */
static int
write_raw(const char *path, uint64_t hlen, const char *json,
    size_t data_len)
{
    uint8_t  *buf;
    size_t    jl, i, n;
    int       ok;

    jl = strlen(json);
    n = 8 + jl + data_len;
    buf = malloc(n);
    if (buf == NULL) {
        return 0;
    }
    for (i = 0; i < 8; i++) {
        buf[i] = (uint8_t) (hlen >> (8 * i));
    }
    memcpy(buf + 8, json, jl);
    for (i = 0; i < data_len; i++) {
        buf[8 + jl + i] = (uint8_t) i;
    }
    ok = write_bytes(path, buf, n);
    free(buf);
    return ok;
}


static int
write_st(const char *path, const char *json, size_t data_len)
{
    return write_raw(path, strlen(json), json, data_len);
}


/* Does err hold every one of the (NULL-ended) strings? */
static int
has_all(const char *err, const char *a, const char *b, const char *c)
{
    return strstr(err, a) != NULL && (b == NULL || strstr(err, b) != NULL)
           && (c == NULL || strstr(err, c) != NULL);
}


/* ------------------------------------------------------------------------
 * dtypes
 * ------------------------------------------------------------------------ */

// Assumption: sizes and names follow lmd_dtype.h's table; safetensors
// names are upper case and F64 is not one of ours.
LMD_TEST(dtype_names)
{
    fail_unless(lmd_dtype_size(LMD_DTYPE_F32) == 4, "f32 size");
    fail_unless(lmd_dtype_size(LMD_DTYPE_F16) == 2, "f16 size");
    fail_unless(lmd_dtype_size(LMD_DTYPE_BF16) == 2, "bf16 size");
    fail_unless(lmd_dtype_size(LMD_DTYPE_I8) == 1, "i8 size");
    fail_unless(lmd_dtype_size(LMD_DTYPE_I32) == 4, "i32 size");
    fail_unless(lmd_dtype_size(-1) == 0 && lmd_dtype_size(99) == 0,
                "unknown size");
    fail_unless_streq(lmd_dtype_name(LMD_DTYPE_BF16), "bf16");
    fail_unless_streq(lmd_dtype_name(LMD_DTYPE_I8), "int8");
    fail_unless(lmd_dtype_from_safetensors("BF16") == LMD_DTYPE_BF16,
                "BF16");
    fail_unless(lmd_dtype_from_safetensors("I32") == LMD_DTYPE_I32, "I32");
    fail_unless(lmd_dtype_from_safetensors("F64") == -1, "F64");
    fail_unless(lmd_dtype_from_safetensors("f32") == -1, "lower case");
    fail_unless(lmd_dtype_from_weights("auto") == -1, "auto");
    fail_unless(lmd_dtype_from_weights("int8") == LMD_DTYPE_I8, "int8");
    fail_unless(lmd_dtype_from_weights("f16") == LMD_DTYPE_F16, "f16");
    fail_unless(lmd_dtype_from_weights("fp16") == -2, "fp16");
}


static uint16_t
h_of(float f)
{
    return lmd_f32_to_f16(f);
}


// Assumption: binary16 has 10 mantissa bits, bias 15, subnormal step
// 2^-24, largest finite 65504; rounding is to nearest, ties to even.
LMD_TEST(f16_from_f32)
{
    fail_unless(h_of(0.0f) == 0x0000, "0");
    fail_unless(h_of(-0.0f) == 0x8000, "-0");
    fail_unless(h_of(1.0f) == 0x3c00, "1");
    fail_unless(h_of(-2.0f) == 0xc000, "-2");
    fail_unless(h_of(0.5f) == 0x3800, "0.5");
    fail_unless(h_of(65504.0f) == 0x7bff, "65504");
    fail_unless(h_of(65519.0f) == 0x7bff, "65519 rounds down");
    fail_unless(h_of(65520.0f) == 0x7c00, "65520 ties to inf");
    fail_unless(h_of(1e6f) == 0x7c00, "overflow");
    fail_unless(h_of(-INFINITY) == 0xfc00, "-inf");
    fail_unless((h_of(NAN) & 0x7c00) == 0x7c00 && (h_of(NAN) & 0x3ff),
                "NaN stays NaN: %04x", h_of(NAN));
    /* 1 + 2^-11 is halfway between 1 and 1 + 2^-10: even wins. */
    fail_unless(h_of(1.0f + ldexpf(1, -11)) == 0x3c00, "tie down");
    fail_unless(h_of(1.0f + 3 * ldexpf(1, -11)) == 0x3c02, "tie up");
    fail_unless(h_of(1.0f + ldexpf(1, -11) + ldexpf(1, -20)) == 0x3c01,
                "above the tie");
    /* Subnormals. */
    fail_unless(h_of(ldexpf(1, -24)) == 0x0001, "2^-24");
    fail_unless(h_of(ldexpf(1, -25)) == 0x0000, "2^-25 ties to 0");
    fail_unless(h_of(ldexpf(3, -26)) == 0x0001, "0.75 step rounds up");
    fail_unless(h_of(ldexpf(3, -25)) == 0x0002, "1.5 steps tie to 2");
    fail_unless(h_of(ldexpf(5, -25)) == 0x0002, "2.5 steps tie to 2");
    fail_unless(h_of(ldexpf(1023, -24)) == 0x03ff, "largest subnormal");
    fail_unless(h_of(ldexpf(1, -14)) == 0x0400, "smallest normal");
    fail_unless(h_of(ldexpf(2047, -25)) == 0x0400,
                "rounds up into the normals");
    fail_unless(h_of(ldexpf(1, -30)) == 0x0000, "underflow");
    fail_unless(h_of(-ldexpf(1, -24)) == 0x8001, "negative subnormal");
}


// Assumption: every finite half converts to f32 exactly and back to
// itself; infinities keep their sign; NaN stays NaN.
LMD_TEST(f16_round_trip)
{
    uint32_t  h, bad;
    float     f;

    fail_unless(lmd_f16_to_f32(0x3c00) == 1.0f, "1");
    fail_unless(lmd_f16_to_f32(0x7bff) == 65504.0f, "65504");
    fail_unless(lmd_f16_to_f32(0x0001) == ldexpf(1, -24), "2^-24");
    fail_unless(lmd_f16_to_f32(0x03ff) == ldexpf(1023, -24),
                "largest subnormal");
    fail_unless(lmd_f16_to_f32(0x8000) == 0.0f
                && signbit(lmd_f16_to_f32(0x8000)), "-0");
    fail_unless(isinf(lmd_f16_to_f32(0xfc00))
                && lmd_f16_to_f32(0xfc00) < 0, "-inf");
    fail_unless(isnan(lmd_f16_to_f32(0x7e00)), "NaN");
    bad = 0;
    for (h = 0; h < 65536; h++) {
        f = lmd_f16_to_f32((uint16_t) h);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            bad += !isnan(f) || !isnan(lmd_f16_to_f32(lmd_f32_to_f16(f)));
        } else {
            bad += lmd_f32_to_f16(f) != h;
        }
    }
    fail_unless(bad == 0, "%u halves do not round-trip", bad);
}


// Assumption: bf16 is the top half of an f32; conversion to f32 of an
// array of each float type matches the scalar conversions.
LMD_TEST(dtype_to_f32)
{
    uint16_t  h[4] = { 0x3c00, 0xc000, 0x0001, 0x7c00 };
    uint16_t  b[3] = { 0x3f80, 0xc040, 0x0000 };
    float     f[3] = { 1.5f, -2.25f, 3.0f }, out[4];

    lmd_dtype_to_f32(LMD_DTYPE_F16, h, out, 4);
    fail_unless(out[0] == 1.0f && out[1] == -2.0f
                && out[2] == ldexpf(1, -24) && isinf(out[3]), "f16 array");
    lmd_dtype_to_f32(LMD_DTYPE_BF16, b, out, 3);
    fail_unless(out[0] == 1.0f && out[1] == -3.0f && out[2] == 0.0f,
                "bf16 array");
    lmd_dtype_to_f32(LMD_DTYPE_F32, f, out, 3);
    fail_unless(memcmp(f, out, sizeof(f)) == 0, "f32 array");
    fail_unless(lmd_f32_to_bf16(1.0f) == 0x3f80, "bf16 1");
    fail_unless(lmd_f32_to_bf16(1.0f + ldexpf(1, -8)) == 0x3f80,
                "bf16 tie to even");
    fail_unless(lmd_bf16_to_f32(0x4049) == 3.140625f, "bf16 pi");
}


/* ------------------------------------------------------------------------
 * Writing and reading back
 * ------------------------------------------------------------------------ */

// Assumption: what the writer writes reads back with the same names,
// dtypes, shapes and bytes; the header is padded with spaces to a
// multiple of 8; the tensors sit back to back, larger elements first,
// each aligned to its element size.
LMD_TEST(write_read_round_trip)
{
    float                     a[6] = { 1, 2, 3, 4, 5, 6 }, s = 7.5f;
    uint16_t                  h[4] = { 0x3c00, 0x4000, 0x4200, 0x4400 };
    uint16_t                  b[4] = { 0x3f80, 0x4000, 0x4040, 0x4080 };
    int8_t                    q[3] = { -1, 0, 127 };
    int32_t                   p[2] = { 0x12345678, -2 };
    size_t                    nbytes[7] = { 8, 24, 8, 3, 8, 4, 0 };
    struct lmd_tensor         t[7];
    struct lmd_safetensors   *st;
    const struct lmd_tensor  *r;
    char                      path[256], err[LMD_ERR_LEN];
    uint8_t                   head[8];
    uint64_t                  hlen;
    FILE                     *f;
    size_t                    i;
    int                       k;

    if (!tmp_make()) {
        return;
    }
    memset(t, 0, sizeof(t));
    t[0] = (struct lmd_tensor) { "b.half", LMD_DTYPE_F16, 1, { 4 }, h, 0,
                                 NULL };
    t[1] = (struct lmd_tensor) { "a.f32", LMD_DTYPE_F32, 2, { 2, 3 }, a, 0,
                                 NULL };
    t[2] = (struct lmd_tensor) { "c.bf16", LMD_DTYPE_BF16, 2, { 2, 2 }, b,
                                 0, NULL };
    t[3] = (struct lmd_tensor) { "d.i8", LMD_DTYPE_I8, 1, { 3 }, q, 0,
                                 NULL };
    t[4] = (struct lmd_tensor) { "e.i32", LMD_DTYPE_I32, 2, { 2, 1 }, p, 0,
                                 NULL };
    t[5] = (struct lmd_tensor) { "f.scalar", LMD_DTYPE_F32, 0, { 0 }, &s,
                                 0, NULL };
    t[6] = (struct lmd_tensor) { "g.empty \"quoted\"", LMD_DTYPE_F32, 2,
                                 { 0, 5 }, NULL, 0, NULL };
    tmp_path(path, sizeof(path), "model.safetensors");
    fail_unless(lmd_safetensors_write(path, t, 7, err, sizeof(err))
                == LMD_OK, "write: %s", err);

    f = fopen(path, "rb");
    if (fail_unless(f != NULL, "reopen")) {
        fail_unless(fread(head, 1, 8, f) == 8, "read length");
        hlen = 0;
        for (k = 7; k >= 0; k--) {
            hlen = hlen << 8 | head[k];
        }
        fail_unless(hlen % 8 == 0, "header length %llu",
                    (unsigned long long) hlen);
        fclose(f);
    }

    st = lmd_safetensors_open(tmp, err, sizeof(err));
    if (fail_unless(st != NULL, "open: %s", err)) {
        fail_unless(lmd_safetensors_count(st) == 7, "count %zu",
                    lmd_safetensors_count(st));
        fail_unless_streq(lmd_safetensors_path(st), path);
        for (i = 0; i < 7; i++) {
            r = lmd_safetensors_find(st, t[i].name);
            if (!fail_unless(r != NULL, "%s missing", t[i].name)) {
                continue;
            }
            fail_unless(r->dtype == t[i].dtype && r->n_dims == t[i].n_dims,
                        "%s: dtype %d dims %d", r->name, r->dtype,
                        r->n_dims);
            for (k = 0; k < t[i].n_dims; k++) {
                fail_unless(r->shape[k] == t[i].shape[k], "%s dim %d",
                            r->name, k);
            }
            fail_unless(r->nbytes == nbytes[i], "%s: %zu bytes", r->name,
                        r->nbytes);
            fail_unless(r->nbytes == 0
                        || memcmp(r->data, t[i].data, r->nbytes) == 0,
                        "%s: data differs", r->name);
            fail_unless((uintptr_t) r->data % lmd_dtype_size(r->dtype) == 0,
                        "%s misaligned", r->name);
            fail_unless_streq(r->file, path);
        }
        /* at() walks the tensors in name order. */
        for (i = 1; i < 7; i++) {
            fail_unless(strcmp(lmd_safetensors_at(st, i - 1)->name,
                               lmd_safetensors_at(st, i)->name) < 0,
                        "order at %zu", i);
        }
        fail_unless(lmd_safetensors_at(st, 7) == NULL, "at past the end");
        fail_unless(lmd_safetensors_find(st, "nope") == NULL, "nope");
        lmd_safetensors_close(st);
    }
    tmp_remove();
}


// Assumption: the header the writer makes is ASCII JSON, padded with
// spaces only; the data follows it at once (f32 first).
LMD_TEST(write_layout)
{
    float               a[2] = { 1, 2 };
    uint16_t            h[1] = { 0x3c00 };
    struct lmd_tensor   t[2];
    char                path[256], err[LMD_ERR_LEN], buf[512];
    size_t              n, hlen, i;
    FILE               *f;

    if (!tmp_make()) {
        return;
    }
    memset(t, 0, sizeof(t));
    t[0] = (struct lmd_tensor) { "h", LMD_DTYPE_F16, 1, { 1 }, h, 0, NULL };
    t[1] = (struct lmd_tensor) { "a", LMD_DTYPE_F32, 1, { 2 }, a, 0, NULL };
    tmp_path(path, sizeof(path), "x.safetensors");
    fail_unless(lmd_safetensors_write(path, t, 2, err, sizeof(err))
                == LMD_OK, "write: %s", err);
    f = fopen(path, "rb");
    if (!fail_unless(f != NULL, "reopen")) {
        tmp_remove();
        return;
    }
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    hlen = (uint8_t) buf[0] | (size_t) (uint8_t) buf[1] << 8;
    fail_unless(n == 8 + hlen + 10, "file size %zu, header %zu", n, hlen);
    fail_unless(buf[8] == '{', "header starts with {");
    for (i = hlen + 7; buf[i] == ' '; i--) {
        continue;
    }
    fail_unless(buf[i] == '}' && hlen + 7 - i < 8, "padding");
    fail_unless(memcmp(buf + 8 + hlen, a, 8) == 0
                && memcmp(buf + 16 + hlen, h, 2) == 0, "data order");
    buf[8 + hlen] = '\0';
    fail_unless(strstr(buf + 8, "\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                       "\"data_offsets\":[0,8]}") != NULL, "header: %s",
                buf + 8);
    fail_unless(strstr(buf + 8, "\"data_offsets\":[8,10]") != NULL,
                "h offsets");
    tmp_remove();
}


// Assumption: the writer refuses what it could not write correctly.
LMD_TEST(write_errors)
{
    float               a[2] = { 1, 2 };
    struct lmd_tensor   t[2];
    char                path[256], err[LMD_ERR_LEN];

    if (!tmp_make()) {
        return;
    }
    memset(t, 0, sizeof(t));
    t[0] = (struct lmd_tensor) { "w", LMD_DTYPE_F32, 1, { 2 }, a, 0, NULL };
    t[1] = t[0];
    tmp_path(path, sizeof(path), "x.safetensors");
    fail_unless(lmd_safetensors_write(path, t, 2, err, sizeof(err))
                == LMD_ERROR && has_all(err, path, "tensor w", "twice"),
                "duplicate: %s", err);
    t[1].name = "v";
    t[1].dtype = 17;
    fail_unless(lmd_safetensors_write(path, t, 2, err, sizeof(err))
                == LMD_ERROR && has_all(err, "tensor v", "dtype", NULL),
                "dtype: %s", err);
    t[1].dtype = LMD_DTYPE_F32;
    t[1].n_dims = 5;
    fail_unless(lmd_safetensors_write(path, t, 2, err, sizeof(err))
                == LMD_ERROR, "5 dims");
    fail_unless(access(path, F_OK) != 0, "nothing written");
    tmp_remove();
}


/* ------------------------------------------------------------------------
 * Broken files
 * ------------------------------------------------------------------------ */

static const struct {
    const char  *what;
    const char  *json;
    int64_t      hlen;          /* -1: the JSON's length */
    size_t       data_len;
    const char  *want1;         /* besides the path */
    const char  *want2;
} broken[] = {
    { "header length past EOF", "{}", 1000, 0, "header length 1000",
      "past the end" },
    { "huge header length", "{}", 1ll << 40, 0, "past the end", NULL },
    { "bad JSON", "{\"w\": {\"dtype\": \"F32\",", -1, 0, "invalid JSON",
      NULL },
    { "trailing garbage", "{} x", -1, 0, "invalid JSON", NULL },
    { "not an object", "[1, 2]", -1, 0, "not a JSON object", NULL },
    { "unknown dtype",
      "{\"w\": {\"dtype\": \"F64\", \"shape\": [1], "
      "\"data_offsets\": [0, 8]}}", -1, 8, "tensor w: unsupported dtype F64",
      NULL },
    { "dtype missing",
      "{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", -1, 4,
      "tensor w", "dtype" },
    { "entry not an object", "{\"w\": 3}", -1, 0, "tensor w", "object" },
    { "shape not a list",
      "{\"w\": {\"dtype\": \"F32\", \"shape\": 4, "
      "\"data_offsets\": [0, 16]}}", -1, 16, "tensor w", "shape" },
    { "negative dim",
      "{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], "
      "\"data_offsets\": [0, 4]}}", -1, 4, "tensor w", "dimension 0" },
    { "fractional dim",
      "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 1.5], "
      "\"data_offsets\": [0, 12]}}", -1, 12, "tensor w", "dimension 1" },
    { "five dims",
      "{\"w\": {\"dtype\": \"I8\", \"shape\": [1, 1, 1, 1, 1], "
      "\"data_offsets\": [0, 1]}}", -1, 1, "tensor w", "5 dimensions" },
    { "overflowing shape",
      "{\"w\": {\"dtype\": \"F32\", \"shape\": [1099511627776, "
      "1099511627776, 1099511627776], \"data_offsets\": [0, 4]}}", -1, 4,
      "tensor w", "too large" },
    { "shape/offset mismatch",
      "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], "
      "\"data_offsets\": [0, 20]}}", -1, 24, "tensor w", "24 bytes" },
    { "offsets outside the file",
      "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], "
      "\"data_offsets\": [0, 24]}}", -1, 16, "tensor w", "past the data" },
    { "end before begin",
      "{\"w\": {\"dtype\": \"F32\", \"shape\": [0], "
      "\"data_offsets\": [8, 4]}}", -1, 16, "tensor w", "end before" },
    { "one offset",
      "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
      "\"data_offsets\": [4]}}", -1, 16, "tensor w", "data_offsets" },
    { "overlapping ranges",
      "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], "
      "\"data_offsets\": [0, 16]}, "
      "\"b\": {\"dtype\": \"F32\", \"shape\": [4], "
      "\"data_offsets\": [8, 24]}}", -1, 24, "tensor b overlaps tensor a",
      NULL },
    { "duplicate name",
      "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
      "\"data_offsets\": [0, 4]}, "
      "\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
      "\"data_offsets\": [4, 8]}}", -1, 8, "tensor w appears twice", NULL },
    { "metadata not an object",
      "{\"__metadata__\": 1}", -1, 0, "__metadata__", NULL },
};


// Assumption: each file is broken in one way, and the error names the
// file and, where there is one, the tensor.
LMD_TEST(broken_files)
{
    struct lmd_safetensors  *st;
    char                     path[256], err[LMD_ERR_LEN];
    size_t                   i;
    int64_t                  hlen;

    if (!tmp_make()) {
        return;
    }
    tmp_path(path, sizeof(path), "broken.safetensors");
    for (i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        hlen = broken[i].hlen >= 0 ? broken[i].hlen
                                   : (int64_t) strlen(broken[i].json);
        if (!fail_unless(write_raw(path, (uint64_t) hlen, broken[i].json,
                                   broken[i].data_len), "write"))
        {
            break;
        }
        err[0] = '\0';
        st = lmd_safetensors_open_file(path, err, sizeof(err));
        fail_unless(st == NULL, "%s: opened", broken[i].what);
        lmd_safetensors_close(st);
        fail_unless(has_all(err, path, broken[i].want1, broken[i].want2),
                    "%s: %s", broken[i].what, err);
    }

    /* Too short for the length itself, and a file that is not there. */
    fail_unless(write_bytes(path, "abcd", 4), "write");
    st = lmd_safetensors_open_file(path, err, sizeof(err));
    fail_unless(st == NULL && has_all(err, path, "too short", NULL),
                "short: %s", err);
    unlink(path);
    st = lmd_safetensors_open_file(path, err, sizeof(err));
    fail_unless(st == NULL && has_all(err, path, "cannot open", NULL),
                "absent: %s", err);
    tmp_remove();
}


// Assumption: the metadata, zero-size tensors at any offset and gaps
// between tensors are all fine; a header padded with spaces too.
LMD_TEST(odd_but_valid)
{
    struct lmd_safetensors  *st;
    char                     path[256], err[LMD_ERR_LEN];

    if (!tmp_make()) {
        return;
    }
    tmp_path(path, sizeof(path), "ok.safetensors");
    fail_unless(write_st(path, "{\"__metadata__\": {\"format\": \"pt\"}, "
                         "\"a\": {\"dtype\": \"F32\", \"shape\": [2], "
                         "\"data_offsets\": [0, 8]}, "
                         "\"z\": {\"dtype\": \"F32\", \"shape\": [0, 3], "
                         "\"data_offsets\": [4, 4]}, "
                         "\"b\": {\"dtype\": \"BF16\", \"shape\": [2], "
                         "\"data_offsets\": [12, 16]}}    ", 16), "write");
    st = lmd_safetensors_open_file(path, err, sizeof(err));
    if (fail_unless(st != NULL, "open: %s", err)) {
        fail_unless(lmd_safetensors_count(st) == 3, "count");
        fail_unless(lmd_safetensors_find(st, "__metadata__") == NULL,
                    "metadata is not a tensor");
        fail_unless(((const uint8_t *) lmd_safetensors_find(st, "b")->data)
                    [0] == 12, "b's data starts at byte 12");
        lmd_safetensors_close(st);
    }
    tmp_remove();
}


/* ------------------------------------------------------------------------
 * Folders and shards
 * ------------------------------------------------------------------------ */

#define SHARD_A "{\"x.a\": {\"dtype\": \"F32\", \"shape\": [2], " \
                "\"data_offsets\": [0, 8]}, " \
                "\"x.b\": {\"dtype\": \"F16\", \"shape\": [2], " \
                "\"data_offsets\": [8, 12]}}"
#define SHARD_B "{\"y.c\": {\"dtype\": \"BF16\", \"shape\": [1, 3], " \
                "\"data_offsets\": [0, 6]}}"

static int
write_shards(const char *index)
{
    char  path[256];

    return write_st(tmp_path(path, sizeof(path), "m-1.safetensors"),
                    SHARD_A, 12)
           && write_st(tmp_path(path, sizeof(path), "m-2.safetensors"),
                       SHARD_B, 6)
           && write_bytes(tmp_path(path, sizeof(path),
                                   "model.safetensors.index.json"),
                          index, strlen(index));
}


// Assumption: with no weights at all the error names the folder and
// both file names it looked for.
LMD_TEST(folder_without_weights)
{
    struct lmd_safetensors  *st;
    char                     want[256], err[LMD_ERR_LEN];

    if (!tmp_make()) {
        return;
    }
    st = lmd_safetensors_open(tmp, err, sizeof(err));
    snprintf(want, sizeof(want), "%s: no model.safetensors or "
             "model.safetensors.index.json", tmp);
    fail_unless(st == NULL, "opened");
    fail_unless_streq(err, want);
    tmp_remove();
}


// Assumption: an index's shards are all opened, each tensor found in
// the file the weight_map names.
LMD_TEST(sharded)
{
    struct lmd_safetensors   *st;
    const struct lmd_tensor  *t;
    char                      p1[256], p2[256], err[LMD_ERR_LEN];

    if (!tmp_make()) {
        return;
    }
    fail_unless(write_shards("{\"metadata\": {\"total_size\": 18}, "
                             "\"weight_map\": {\"x.a\": \"m-1.safetensors\", "
                             "\"y.c\": \"m-2.safetensors\", "
                             "\"x.b\": \"m-1.safetensors\"}}"), "write");
    tmp_path(p1, sizeof(p1), "m-1.safetensors");
    tmp_path(p2, sizeof(p2), "m-2.safetensors");
    st = lmd_safetensors_open(tmp, err, sizeof(err));
    if (fail_unless(st != NULL, "open: %s", err)) {
        fail_unless(lmd_safetensors_count(st) == 3, "count");
        fail_unless_streq(lmd_safetensors_path(st), p1);
        t = lmd_safetensors_find(st, "y.c");
        fail_unless(t != NULL && strcmp(t->file, p2) == 0
                    && t->dtype == LMD_DTYPE_BF16 && t->shape[1] == 3,
                    "y.c");
        t = lmd_safetensors_find(st, "x.b");
        fail_unless(t != NULL && strcmp(t->file, p1) == 0 && t->nbytes == 4,
                    "x.b");
        lmd_safetensors_close(st);
    }
    tmp_remove();
}


static const struct {
    const char  *what;
    const char  *index;
    const char  *file;          /* in tmp, named in the error */
    const char  *want1;
    const char  *want2;
} broken_index[] = {
    { "missing shard",
      "{\"weight_map\": {\"x.a\": \"m-1.safetensors\", "
      "\"y.c\": \"m-3.safetensors\"}}", "m-3.safetensors", "cannot open",
      "model.safetensors.index.json" },
    { "shard outside the folder",
      "{\"weight_map\": {\"x.a\": \"../m-1.safetensors\"}}",
      "model.safetensors.index.json", "tensor x.a", "../m-1.safetensors" },
    { "dot dot",
      "{\"weight_map\": {\"x.a\": \"..\"}}",
      "model.safetensors.index.json", "tensor x.a", "plain file name" },
    { "tensor in the other shard",
      "{\"weight_map\": {\"x.a\": \"m-1.safetensors\", "
      "\"y.c\": \"m-1.safetensors\", \"x.b\": \"m-2.safetensors\"}}",
      "m-1.safetensors", "tensor y.c is missing", NULL },
    { "tensor nowhere",
      "{\"weight_map\": {\"x.a\": \"m-1.safetensors\", "
      "\"q\": \"m-2.safetensors\"}}", "m-2.safetensors",
      "tensor q is missing", NULL },
    { "bad JSON", "{\"weight_map\": {", "model.safetensors.index.json",
      "invalid JSON", NULL },
    { "no weight_map", "{\"metadata\": {}}", "model.safetensors.index.json",
      "weight_map", NULL },
    { "shard not a string", "{\"weight_map\": {\"x.a\": 1}}",
      "model.safetensors.index.json", "tensor x.a", NULL },
};


// Assumption: a bad index or shard is named in the error, with the
// tensor where one is at fault.
LMD_TEST(sharded_broken)
{
    static const char        twice[] = "{\"weight_map\": {"
                                       "\"x.a\": \"m-1.safetensors\", "
                                       "\"x.b\": \"m-2.safetensors\"}}";
    struct lmd_safetensors  *st;
    char                     path[256], err[LMD_ERR_LEN];
    size_t                   i;

    if (!tmp_make()) {
        return;
    }
    for (i = 0; i < sizeof(broken_index) / sizeof(broken_index[0]); i++) {
        if (!fail_unless(write_shards(broken_index[i].index), "write")) {
            break;
        }
        err[0] = '\0';
        st = lmd_safetensors_open(tmp, err, sizeof(err));
        fail_unless(st == NULL, "%s: opened", broken_index[i].what);
        lmd_safetensors_close(st);
        tmp_path(path, sizeof(path), broken_index[i].file);
        fail_unless(has_all(err, path, broken_index[i].want1,
                            broken_index[i].want2),
                    "%s: %s", broken_index[i].what, err);
    }

    /* The same tensor in two shards. */
    fail_unless(write_st(tmp_path(path, sizeof(path), "m-2.safetensors"),
                         "{\"x.a\": {\"dtype\": \"F32\", \"shape\": [1], "
                         "\"data_offsets\": [0, 4]}}", 4), "write");
    fail_unless(write_bytes(tmp_path(path, sizeof(path),
                                     "model.safetensors.index.json"),
                            twice, strlen(twice)), "write");
    st = lmd_safetensors_open(tmp, err, sizeof(err));
    fail_unless(st == NULL && has_all(err, "tensor x.a is also in",
                                      "m-1.safetensors", "m-2.safetensors"),
                "twice: %s", err);
    lmd_safetensors_close(st);
    tmp_remove();
}


// Assumption: the real stories260K file opens and holds 47 F32
// tensors, its embedding [512, 64].
LMD_TEST(stories260K_file)
{
    const char               *shared = getenv("LMD_SHARED");
    struct lmd_safetensors   *st;
    const struct lmd_tensor  *t;
    char                      dir[512], err[LMD_ERR_LEN];
    static char               reason[600];

    snprintf(dir, sizeof(dir), "%s/models/stories260K",
             shared != NULL && shared[0] ? shared : "../shared");
    if (access(dir, F_OK) != 0) {
        snprintf(reason, sizeof(reason), "%s is absent (set LMD_SHARED)",
                 dir);
        lmd_test_skip(reason);
        return;
    }
    st = lmd_safetensors_open(dir, err, sizeof(err));
    if (!fail_unless(st != NULL, "open: %s", err)) {
        return;
    }
    fail_unless(lmd_safetensors_count(st) == 47, "count %zu",
                lmd_safetensors_count(st));
    t = lmd_safetensors_find(st, "model.embed_tokens.weight");
    fail_unless(t != NULL && t->dtype == LMD_DTYPE_F32 && t->n_dims == 2
                && t->shape[0] == 512 && t->shape[1] == 64
                && t->nbytes == 512 * 64 * 4, "embedding");
    lmd_safetensors_close(st);
}
