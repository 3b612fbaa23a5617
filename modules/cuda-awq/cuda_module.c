/*
 * cuda_module.c -- lmd_engine_cuda_awq.so's one exported symbol: the
 * engine hooks of the cuda-awq engine (THE module ABI,
 * engine/lmd_module.h).
 *
 * probe says whether a usable GPU is there (compute capability 8.0 or
 * newer, which the kernels are built for); open picks the device
 * (CUDA_VISIBLE_DEVICES chooses it, as everywhere), makes the stream and
 * the cuBLAS handle, and uploads the weights (cuda_model.c); kv_init
 * allocates the pool and the step buffers (cuda_step.c); forward runs a
 * step (cuda_forward.c).  Every hook runs on the model's engine thread,
 * which is the only thread that touches this engine's device state.
 */

#include "cuda_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The device bytes memory() keeps out of the KV budget for the step
 * buffers, sized for the scheduler's default step. */
#define CUDA_RESERVE_TOKENS     4096
#define CUDA_RESERVE_SEQS       256


static int
cuda_probe(const struct lmd_host *host, char *err, size_t len)
{
    struct cudaDeviceProp  prop;
    cudaError_t            rc;
    int                    n = 0, i, best = 0;

    (void) host;
    rc = cudaGetDeviceCount(&n);
    if (rc != cudaSuccess || n == 0) {
        snprintf(err, len, "no CUDA device (%s)", rc != cudaSuccess
                 ? cudaGetErrorString(rc) : "none found");
        (void) cudaGetLastError();
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (cudaGetDeviceProperties(&prop, i) == cudaSuccess
            && prop.major * 10 + prop.minor > best)
        {
            best = prop.major * 10 + prop.minor;
        }
    }
    if (best < 80) {
        snprintf(err, len, "no CUDA device of compute capability 8.0 or "
                 "newer (the best is %d.%d)", best / 10, best % 10);
        return 0;
    }
    return 1;
}


static void
cuda_close(void *engine)
{
    struct cuda_engine  *e = engine;

    if (e == NULL) {
        return;
    }
    cuda_prof_report(e);
    cuda_step_free(e);
    cuda_model_free(e);
    if (e->blas != NULL) {
        cublasDestroy(e->blas);
    }
    if (e->stream != NULL) {
        cudaStreamDestroy(e->stream);
    }
    free(e);
}


/* The device, its stream and cuBLAS handle. */
static int
cuda_device_open(struct cuda_engine *e, char *err, size_t len)
{
    struct cudaDeviceProp  prop;
    cudaError_t            rc;
    const char            *g;

    rc = cudaGetDevice(&e->device);
    if (rc == cudaSuccess) {
        rc = cudaGetDeviceProperties(&prop, e->device);
    }
    if (rc != cudaSuccess) {
        return cuda_fail(err, len, "no usable CUDA device", rc);
    }
    if (prop.major < 8) {
        snprintf(err, len, "cuda-awq: device %d (%s) has compute capability "
                 "%d.%d; the kernels need 8.0 or newer", e->device,
                 prop.name, prop.major, prop.minor);
        return -1;
    }
    snprintf(e->gpu_name, sizeof(e->gpu_name), "%s", prop.name);
    e->sm_count = prop.multiProcessorCount;

    rc = cudaStreamCreateWithFlags(&e->stream, cudaStreamNonBlocking);
    if (rc != cudaSuccess) {
        return cuda_fail(err, len, "cudaStreamCreate", rc);
    }
    if (cublasCreate(&e->blas) != CUBLAS_STATUS_SUCCESS) {
        e->blas = NULL;
        snprintf(err, len, "cuda-awq: cublasCreate failed");
        return -1;
    }
    if (cublasSetStream(e->blas, e->stream) != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, len, "cuda-awq: cublasSetStream failed");
        return -1;
    }
    g = getenv("LMD_CUDA_GRAPHS");
    e->graphs.enabled = g == NULL || strcmp(g, "0") != 0;
    g = getenv("LMD_CUDA_PROFILE");
    if (g != NULL && strcmp(g, "1") == 0
        && cudaEventCreate(&e->prof.ev[0]) == cudaSuccess
        && cudaEventCreate(&e->prof.ev[1]) == cudaSuccess)
    {
        e->prof.on = 1;
    }
    g = getenv("LMD_CUDA_BLAS_ONLY");
    e->blas_only = g != NULL && strcmp(g, "1") == 0;
    g = getenv("LMD_CUDA_AWQ_DEQ_MIN");
    e->awq_deq_min = g != NULL ? (uint32_t) strtoul(g, NULL, 10)
                               : CUDA_AWQ_DEQ_MIN;
    g = getenv("LMD_CUDA_ATTENTION");
    e->attn_generic = g != NULL && strcmp(g, "generic") == 0 ? 2 : 0;
    return 0;
}


static int
cuda_open(const struct lmd_host *host, const struct lmd_engine_params *p,
    void **engine, char *err, size_t len)
{
    struct cuda_engine  *e;
    char                 probe[256];

    if (p->kv_codec != NULL && p->kv_codec->cuda == NULL) {
        snprintf(err, len, "cuda-awq: kv_cache codec \"%s\": this "
                 "int8-kv module was built without CUDA (rebuild it where "
                 "configure finds CUDA, or use auto)", p->kv_codec->name);
        return LMD_MODULE_ERROR;
    }
    probe[0] = '\0';
    if (!cuda_probe(host, probe, sizeof(probe))) {
        snprintf(err, len, "cuda-awq: %s", probe);
        return LMD_MODULE_ERROR;
    }
    e = calloc(1, sizeof(struct cuda_engine));
    if (e == NULL) {
        snprintf(err, len, "cuda-awq: out of memory");
        return LMD_MODULE_ERROR;
    }
    e->host = host;
    if (p->kv_codec != NULL) {
        e->codec = p->kv_codec->cuda;
        e->codec_name = p->kv_codec->name;
    }
    if (cuda_device_open(e, err, len) != 0
        || cuda_model_load(e, p, err, len) != 0)
    {
        cuda_close(e);
        return LMD_MODULE_ERROR;
    }

    if (host != NULL && host->log != NULL) {
        host->log(LMD_HOST_LOG_NOTICE, "cuda-awq: \"%s\": %s, %u layers, "
                  "hidden %u, %s%s on %s (%d SMs), %.1f MB of weights, KV "
                  "%s, CUDA graphs %s",
                  p->name != NULL ? p->name : p->path, e->cfg.arch_name,
                  e->n_layers, e->d.hidden,
                  e->cfg.quant == LMD_QUANT_AWQ ? "AWQ W4A16 with "
                                                : "weights ",
                  e->act == CUDA_ACT_F16 ? "f16" : "bf16", e->gpu_name,
                  e->sm_count, (double) e->w.bytes / (1024.0 * 1024.0),
                  e->codec_name != NULL ? e->codec_name
                  : e->act == CUDA_ACT_F16 ? "f16" : "bf16",
                  e->graphs.enabled ? "on" : "off");
    }
    *engine = e;
    return LMD_MODULE_OK;
}


static int
cuda_memory(void *engine, struct lmd_engine_memory *mem)
{
    struct cuda_engine  *e = engine;
    size_t               free_b = 0, total_b = 0, reserve;

    memset(mem, 0, sizeof(*mem));
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        (void) cudaGetLastError();
        free_b = 0;
    }
    /* The step buffers come out of the same memory as the pool; keep
     * them out of what cache_max_entry_count is a fraction of. */
    reserve = cuda_step_bytes(e, CUDA_RESERVE_TOKENS, CUDA_RESERVE_SEQS,
                              (e->cfg.max_position + 15) / 16);
    mem->weight_bytes = e->w.bytes;
    mem->free_bytes = free_b > reserve ? free_b - reserve : 0;
    mem->kv_bytes_per_token = (uint64_t) 2 * e->n_layers * e->d.kv_dim * 2;
    if (e->codec != NULL) {
        /* a block of 64 positions, as the pool's blocks round */
        mem->kv_bytes_per_token = (uint64_t) 2 * e->n_layers * e->d.n_kv_heads
                                  * e->codec->run_bytes(64, e->d.head_dim)
                                  / 64;
    }
    mem->vocab_size = e->d.vocab;
    mem->max_context = e->cfg.max_position;
    mem->caps = LMD_ENGINE_CAP_SAMPLE;
    return LMD_MODULE_OK;
}


static int
cuda_kv_init(void *engine, const struct lmd_kv_params *kv, char *err,
    size_t len)
{
    return cuda_step_init(engine, kv, err, len) == 0 ? LMD_MODULE_OK
                                                     : LMD_MODULE_ERROR;
}


static int
cuda_forward_hook(void *engine, const struct lmd_batch *batch, char *err,
    size_t len)
{
    if (batch == NULL) {
        snprintf(err, len, "cuda-awq: forward without a batch");
        return LMD_MODULE_ERROR;
    }
    return cuda_forward(engine, batch, err, len) == 0 ? LMD_MODULE_OK
                                                      : LMD_MODULE_ERROR;
}


LMD_MODULE_EXPORT const struct lmd_module lmd_module = {
    .abi_version = LMD_MODULE_ABI_VERSION,
    .signature = LMD_MODULE_SIGNATURE,
    .name = "cuda-awq",
    .kind = LMD_MODULE_ENGINE,
    .description = "cuda-awq engine: f16/bf16 weights through cuBLAS, AWQ "
                   "W4A16 kernels, paged f16/bf16 (or int8-kv) KV cache "
                   "on NVIDIA GPUs",
    .ops.engine = {
        .probe = cuda_probe,
        .open = cuda_open,
        .memory = cuda_memory,
        .close = cuda_close,
        .kv_init = cuda_kv_init,
        .forward = cuda_forward_hook
    }
};
