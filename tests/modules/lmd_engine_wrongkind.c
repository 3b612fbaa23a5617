/*
 * lmd_engine_wrongkind.c -- a KV codec module named like an engine: the
 * loader must refuse it for the wrong kind.
 */

#include "lmd_module.h"

LMD_MODULE_EXPORT const struct lmd_module  lmd_module = {
    .abi_version = LMD_MODULE_ABI_VERSION,
    .signature = LMD_MODULE_SIGNATURE,
    .name = "wrongkind",
    .kind = LMD_MODULE_KV_CODEC,
};
