/*
 * kv_module.c -- the int8-kv module (lmd_kv_int8.so): the KV codecs
 * "int8" and "int4" (LMDeploy's quant_policy 8 and 4), found by name.
 * The cpu backend is kv_cpu.c; the CUDA backend (kv_cuda_*.cu) is built
 * in where configure found CUDA (LMD_KV_CUDA), else the codecs' cuda
 * pointer is NULL, which the cuda engine refuses.
 */

#include "kv_quant.h"
#include "kv_cuda.h"

#include <string.h>

#ifdef LMD_KV_CUDA
#define KV_CUDA_INT8    (&kv_cuda_int8)
#define KV_CUDA_INT4    (&kv_cuda_int4)
#define KV_BACKENDS     "cpu, cuda"
#else
#define KV_CUDA_INT8    NULL
#define KV_CUDA_INT4    NULL
#define KV_BACKENDS     "cpu"
#endif

static const struct lmd_kv_codec  kv_codecs[] = {
    { "int8", 8, "int8 per token and KV head, asymmetric (lo, step)",
      &kv_cpu_int8, KV_CUDA_INT8, { NULL } },
    { "int4", 4, "int4 per token and KV head, asymmetric (lo, step)",
      &kv_cpu_int4, KV_CUDA_INT4, { NULL } },
};


static const struct lmd_kv_codec *
kv_find(const char *name)
{
    size_t  i;

    for (i = 0; name != NULL && i < sizeof(kv_codecs) / sizeof(kv_codecs[0]);
         i++)
    {
        if (strcmp(kv_codecs[i].name, name) == 0) {
            return &kv_codecs[i];
        }
    }
    return NULL;
}


LMD_MODULE_EXPORT const struct lmd_module  lmd_module = {
    .abi_version = LMD_MODULE_ABI_VERSION,
    .signature = LMD_MODULE_SIGNATURE,
    .name = "int8-kv",
    .kind = LMD_MODULE_KV_CODEC,
    .description = "quantized KV cache: int8 and int4 per token and KV "
                   "head (" KV_BACKENDS ")",
    .ops.kv_codec = {
        .find = kv_find,
    },
};
