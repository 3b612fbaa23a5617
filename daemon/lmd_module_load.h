/*
 * lmd_module_load.h -- loading module shared objects (dlopen) strictly.
 */

#ifndef LMD_MODULE_LOAD_H
#define LMD_MODULE_LOAD_H

#include <stddef.h>

#include "lmd_module.h"

struct lmd_module_handle {
    void                     *dl;
    const struct lmd_module  *module;
    char                     *path;         /* malloc'd */
};

/* The file an engine or codec name lives in: "cuda-awq" ->
 * "lmd_engine_cuda_awq.so" (kind ENGINE), "int8" and "int4" (the
 * int8-kv module's codecs) -> "lmd_kv_int8.so". */
int lmd_module_file_name(const char *name, int kind, char *buf,
    size_t len);

/* Opens dir/file, looks up exactly `lmd_module`, checks its ABI version,
 * signature, kind and required hooks.  Returns NULL with err set to one
 * sentence naming the file; the handle is closed on every error path. */
struct lmd_module_handle *lmd_module_open(const char *dir, const char *file,
    int kind, char *err, size_t errlen);

void lmd_module_close(struct lmd_module_handle *h);

#endif /* LMD_MODULE_LOAD_H */
