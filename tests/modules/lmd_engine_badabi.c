/*
 * lmd_engine_badabi.c -- a module built against a future ABI: the loader
 * must refuse it, naming both versions.
 */

#include "lmd_module.h"

LMD_MODULE_EXPORT const struct lmd_module  lmd_module = {
    .abi_version = LMD_MODULE_ABI_VERSION + 1,
    .signature = LMD_MODULE_SIGNATURE,
    .name = "badabi",
    .kind = LMD_MODULE_ENGINE,
};
