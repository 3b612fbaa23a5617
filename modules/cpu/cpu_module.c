/*
 * cpu_module.c -- lmd_engine_cpu.so's one exported symbol: the engine
 * hooks of the cpu engine (THE module ABI, engine/lmd_module.h).
 *
 * open loads and prepares the weights (cpu_model.c) and starts the
 * thread pool; kv_init maps the paged KV pool; forward runs a batched
 * step (cpu_forward.c).  Every hook runs on the model's engine thread;
 * the pool's workers run only inside forward.
 */

#include "cpu_engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>


/* The cpu is always there. */
static int
cpu_probe(const struct lmd_host *host, char *err, size_t len)
{
    (void) host;
    (void) err;
    (void) len;
    return 1;
}


static void
cpu_close(void *engine)
{
    struct cpu_engine  *e = engine;

    if (e == NULL) {
        return;
    }
    if (e->pool != NULL) {
        cpu_pool_destroy(e->pool);
    }
    if (e->kv.data != NULL) {
        munmap(e->kv.data, e->kv.map_bytes);
    }
    cpu_scratch_free(&e->s);
    cpu_model_free(e);
    free(e);
}


static int
cpu_open(const struct lmd_host *host, const struct lmd_engine_params *p,
    void **engine, char *err, size_t len)
{
    struct cpu_engine  *e;

    e = calloc(1, sizeof(struct cpu_engine));
    if (e == NULL) {
        snprintf(err, len, "cpu: out of memory");
        return LMD_MODULE_ERROR;
    }
    e->host = host;
    e->kv_codec = p->kv_codec;
    if (e->kv_codec != NULL && e->kv_codec->cpu == NULL) {
        snprintf(err, len, "cpu: KV codec \"%s\" has no cpu backend",
                 e->kv_codec->name);
        goto failed;
    }

    if (cpu_model_load(e, p, err, len) != 0) {
        goto failed;
    }
    if (e->kv_codec != NULL && e->d.head_dim % 8 != 0) {
        snprintf(err, len, "cpu: KV codec \"%s\" needs head_dim a "
                 "multiple of 8, not %u", e->kv_codec->name, e->d.head_dim);
        goto failed;
    }

    e->pool = cpu_pool_create(p->threads > 0 ? (uint32_t) p->threads : 0);
    if (e->pool == NULL) {
        snprintf(err, len, "cpu: cannot start %d threads", p->threads);
        goto failed;
    }
    e->threads = cpu_pool_threads(e->pool);

    if (host != NULL && host->log != NULL) {
        host->log(LMD_HOST_LOG_NOTICE, "cpu: \"%s\": %s, %u layers, hidden "
                  "%u, weights %s, %s, %u threads, %.1f MB, KV %s%s",
                  p->name != NULL ? p->name : p->path, e->cfg.arch_name,
                  e->d.n_layers, e->d.hidden, e->dtype_name,
                  cpu_isa_name(cpu_isa()), e->threads,
                  (double) e->w.bytes / (1024.0 * 1024.0),
                  e->kv_codec != NULL ? e->kv_codec->name : "f32",
                  e->cfg.demo ? ", random demo model" : "");
    }
    *engine = e;
    return LMD_MODULE_OK;

failed:
    cpu_close(e);
    return LMD_MODULE_ERROR;
}


static size_t cpu_run_bytes(const struct cpu_engine *e, uint32_t positions);


/* MemAvailable of /proc/meminfo in bytes; 0 if unknown. */
static uint64_t
cpu_mem_available(void)
{
    FILE                *f;
    char                 line[256];
    unsigned long long   kb = 0;

    f = fopen("/proc/meminfo", "r");
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
            break;
        }
    }
    fclose(f);
    return (uint64_t) kb * 1024;
}


static int
cpu_memory(void *engine, struct lmd_engine_memory *mem)
{
    struct cpu_engine  *e = engine;

    memset(mem, 0, sizeof(*mem));
    mem->weight_bytes = e->w.bytes;
    mem->free_bytes = cpu_mem_available();
    /* a codec's runs, per token, as a block of 64 positions has them */
    mem->kv_bytes_per_token = (uint64_t) 2 * e->d.n_layers
                              * e->d.n_kv_heads * cpu_run_bytes(e, 64) / 64;
    mem->vocab_size = e->d.vocab;
    mem->max_context = e->cfg.max_position;
    return LMD_MODULE_OK;
}


/* Bytes of one head's keys (or values) in a block of `positions`. */
static size_t
cpu_run_bytes(const struct cpu_engine *e, uint32_t positions)
{
    return e->kv_codec != NULL
           ? e->kv_codec->cpu->run_bytes(positions, e->d.head_dim)
           : (size_t) positions * e->d.head_dim * sizeof(float);
}


/* Maps n_blocks blocks (layout in cpu_engine.h), replacing any pool. */
static int
cpu_kv_init(void *engine, const struct lmd_kv_params *kv, char *err,
    size_t len)
{
    struct cpu_engine  *e = engine;
    uint64_t            run, block_bytes, bytes;
    void               *p;

    if (kv->n_blocks == 0 || kv->block_size == 0
        || (uint64_t) kv->n_blocks * kv->block_size > UINT32_MAX
        || (e->kv_codec != NULL && kv->block_size % 8 != 0))
    {
        snprintf(err, len, "cpu: kv_init: %u blocks of %u tokens: need at "
                 "least one, fewer than 2^32 tokens%s", kv->n_blocks,
                 kv->block_size, e->kv_codec != NULL
                 ? ", and blocks of a multiple of 8 tokens for a codec" : "");
        return LMD_MODULE_ERROR;
    }
    run = cpu_run_bytes(e, kv->block_size);
    block_bytes = (uint64_t) e->d.n_layers * 2 * e->d.n_kv_heads * run;
    bytes = block_bytes;
    if (bytes > SIZE_MAX / kv->n_blocks) {
        snprintf(err, len, "cpu: kv_init: %u blocks of %u tokens is too "
                 "much", kv->n_blocks, kv->block_size);
        return LMD_MODULE_ERROR;
    }
    bytes *= kv->n_blocks;

    p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        snprintf(err, len, "cpu: kv_init: cannot map %llu MB for %u blocks "
                 "of %u tokens: %s", (unsigned long long) (bytes >> 20),
                 kv->n_blocks, kv->block_size, strerror(errno));
        return LMD_MODULE_ERROR;
    }
#ifdef MADV_HUGEPAGE
    /* Fewer TLB misses while attention walks the blocks; advice only. */
    (void) madvise(p, bytes, MADV_HUGEPAGE);
#endif

    if (e->kv.data != NULL) {
        munmap(e->kv.data, e->kv.map_bytes);
    }
    e->kv.data = p;
    e->kv.map_bytes = bytes;
    e->kv.n_blocks = kv->n_blocks;
    e->kv.block_size = kv->block_size;
    e->kv.block_bytes = block_bytes;
    e->kv.run_bytes = run;
    e->kv.codec = e->kv_codec != NULL ? e->kv_codec->cpu : NULL;
    return LMD_MODULE_OK;
}


static int
cpu_forward_hook(void *engine, const struct lmd_batch *batch, char *err,
    size_t len)
{
    if (batch == NULL) {
        snprintf(err, len, "cpu: forward without a batch");
        return LMD_MODULE_ERROR;
    }
    if (cpu_forward(engine, batch, err, len) != 0) {
        return LMD_MODULE_ERROR;
    }
    return LMD_MODULE_OK;
}


LMD_MODULE_EXPORT const struct lmd_module lmd_module = {
    .abi_version = LMD_MODULE_ABI_VERSION,
    .signature = LMD_MODULE_SIGNATURE,
    .name = "cpu",
    .kind = LMD_MODULE_ENGINE,
    .description = "cpu engine: f32/f16/bf16/int8 weights, SIMD matmuls "
                   "over a thread pool, paged f32 KV cache",
    .ops.engine = {
        .probe = cpu_probe,
        .open = cpu_open,
        .memory = cpu_memory,
        .close = cpu_close,
        .kv_init = cpu_kv_init,
        .forward = cpu_forward_hook
    }
};
