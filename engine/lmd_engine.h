/*
 * lmd_engine.h -- one engine thread per loaded model.
 *
 * The thread owns the module's engine state: it opens the model, reports
 * the outcome, sizes the KV pool and runs the scheduler's batched steps
 * (lmd_sched.c) for the requests the loop thread submits (lmd_gen.h).
 * The loop thread starts it, submits requests, reads its state and stops
 * it; the two meet through a mutex-protected state and queues and the
 * notify callback, which the daemon points at a loop wakeup.  engine/
 * never includes daemon/ headers.
 */

#ifndef LMD_ENGINE_H
#define LMD_ENGINE_H

#include <stddef.h>

#include "lmd_module.h"
#include "lmd_gen.h"

enum lmd_engine_state {
    LMD_ENGINE_LOADING = 0,     /* open() is running */
    LMD_ENGINE_READY,           /* open() succeeded: serving */
    LMD_ENGINE_FAILED,          /* open() failed: see the error */
    LMD_ENGINE_STOPPED          /* closed */
};

struct lmd_engine;

/* Called on the engine thread whenever the state changes or requests have
 * new output: the daemon fires a loop wakeup that calls
 * lmd_engine_dispatch. */
typedef void (*lmd_engine_notify_pt)(void *data);

/* The KV pool and the scheduler's limits (config kv_cache, scheduler,
 * prefix_cache; lmd.yaml(5)).  Zeros pick the defaults. */
struct lmd_serve_params {
    uint32_t    block_size;             /* tokens per block: 64 */
    uint32_t    kv_blocks;              /* explicit pool size, or 0: */
    double      cache_max_entry_count;  /* fraction of the memory left
                                           after the weights: 0.8 */
    uint64_t    kv_memory;              /* cpu: the budget that fraction
                                           is of (bytes): 0 = 4 GiB or the
                                           engine's free_bytes if less */
    uint32_t    max_batch_size;         /* running sequences: 128 */
    uint32_t    max_batched_tokens;     /* tokens per step: 4096 */
    uint32_t    max_queue;              /* waiting requests: 1024 */
    uint64_t    queue_timeout_ms;       /* 0: 120 s */
    int         prefix_cache;           /* 1 on (default), 0 off; -1 pick */
};

/* What /metrics and the capacity report read.  Any thread. */
struct lmd_engine_stats {
    uint32_t    running;                /* sequences in the batch */
    uint32_t    waiting;                /* queued, not yet admitted */
    uint32_t    n_blocks;
    uint32_t    block_size;
    uint32_t    blocks_used;
    uint32_t    blocks_cached;          /* free to evict, holding prefixes */
    uint64_t    kv_bytes_per_block;
    uint64_t    weight_bytes;
    uint32_t    max_context;
    uint64_t    prompt_tokens;          /* counters since start */
    uint64_t    generation_tokens;
    uint64_t    prefix_hit_tokens;
    uint64_t    prefix_query_tokens;
    uint64_t    preemptions;
    uint64_t    steps;
};

/* Starts a thread that opens params' model with module, then sets up the
 * KV pool and scheduler from serve (NULL: defaults) and serves requests.
 * The strings in params are copied.  Returns NULL with err set if no
 * thread could be started.  Loop thread. */
struct lmd_engine *lmd_engine_start(const struct lmd_module *module,
    const struct lmd_host *host, const struct lmd_engine_params *params,
    const struct lmd_serve_params *serve, lmd_engine_notify_pt notify,
    void *data, char *err, size_t errlen);

/* Queues a request for prompt[0 .. n) (copied).  Returns it, or NULL with
 * *rc LMD_AGAIN (max_queue requests are waiting: HTTP 429), LMD_DECLINED
 * (the model is not ready, or prompt plus max_tokens cannot fit the
 * context or the whole KV pool: err says which) or LMD_ERROR (out of
 * memory).  on_output runs on the loop thread (lmd_engine_dispatch)
 * whenever g has new tokens or has finished.  Loop thread. */
struct lmd_gen *lmd_engine_submit(struct lmd_engine *e,
    const int32_t *prompt, uint32_t n, const struct lmd_gen_params *p,
    lmd_gen_output_pt on_output, void *data, int *rc, char *err,
    size_t errlen);

/* Runs the callbacks of requests with new output.  Loop thread. */
void lmd_engine_dispatch(struct lmd_engine *e);

void lmd_engine_stats(struct lmd_engine *e, struct lmd_engine_stats *st);

/* The current state; for FAILED, err (if not NULL) gets the reason.
 * Any thread. */
int lmd_engine_state(struct lmd_engine *e, char *err, size_t errlen);

/* The memory report (valid once READY). */
void lmd_engine_memory(struct lmd_engine *e, struct lmd_engine_memory *mem);

/* Asks the thread to close the model and exit, joins it, frees e.  Waits
 * for a load in progress to finish first.  Loop thread. */
void lmd_engine_stop(struct lmd_engine *e);

#endif /* LMD_ENGINE_H */
