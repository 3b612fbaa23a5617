/*
 * lmd_safetensors.h -- a model folder's tensors, read by mmap.
 *
 * Opens `model.safetensors`, or every shard named by
 * `model.safetensors.index.json`, maps each file read-only and checks
 * every header entry before anything uses it: JSON well-formed, dtype
 * known, shape product times element size equal to the byte range, the
 * range inside the file's data section, ranges not overlapping.  Errors
 * name the file and the tensor.  The data stays mapped until close.
 */

#ifndef LMD_SAFETENSORS_H
#define LMD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "lmd_dtype.h"

#define LMD_TENSOR_MAX_DIMS  4

struct lmd_tensor {
    const char     *name;
    int             dtype;              /* enum lmd_dtype */
    int             n_dims;
    int64_t         shape[LMD_TENSOR_MAX_DIMS];
    const void     *data;               /* in the mapping */
    size_t          nbytes;
    const char     *file;               /* the path it came from */
};

struct lmd_safetensors;

/* Opens dir's weights.  NULL with err "FILE: what" (or "FILE: tensor
 * NAME: what") on any problem. */
struct lmd_safetensors *lmd_safetensors_open(const char *dir, char *err,
    size_t errlen);

/* Opens one .safetensors file (tests, tools). */
struct lmd_safetensors *lmd_safetensors_open_file(const char *path,
    char *err, size_t errlen);

/* The tensor called name, or NULL. */
const struct lmd_tensor *lmd_safetensors_find(
    const struct lmd_safetensors *st, const char *name);

size_t lmd_safetensors_count(const struct lmd_safetensors *st);
const struct lmd_tensor *lmd_safetensors_at(
    const struct lmd_safetensors *st, size_t i);

/* The first file's path, for messages about a missing tensor. */
const char *lmd_safetensors_path(const struct lmd_safetensors *st);

void lmd_safetensors_close(struct lmd_safetensors *st);

/* Writing, for the demo model and the tests' random models: one file
 * with the given tensors (name, dtype, n_dims, shape, data; file and
 * nbytes ignored, nbytes is computed).  LMD_OK or LMD_ERROR with err. */
int lmd_safetensors_write(const char *path, const struct lmd_tensor *t,
    size_t n, char *err, size_t errlen);

#endif /* LMD_SAFETENSORS_H */
