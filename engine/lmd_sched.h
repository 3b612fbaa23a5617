/*
 * lmd_sched.h -- the continuous-batching scheduler: which sequences run
 * in the next forward step, and with how many tokens each.
 *
 * Requests (lmd_gen_internal.h) wait in a FIFO, then run; every step
 * batches all running sequences: one token for each that decodes, and
 * the rest of the token budget for prompt chunks.  KV blocks come from
 * the block manager (lmd_kv_cache.h) as sequences grow, prompts reuse
 * cached prefixes, and when blocks run out the youngest running sequence
 * is preempted: its blocks are released and it waits again, first in
 * line, to be recomputed from its prompt and the tokens it has produced.
 *
 * Engine thread only: no locking inside.  The engine (lmd_engine.c)
 * hands requests in with lmd_sched_add and takes the ones with news out
 * with lmd_sched_touched after each step.
 */

#ifndef LMD_SCHED_H
#define LMD_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "lmd_module.h"
#include "lmd_kv_cache.h"

struct lmd_gen;
struct lmd_sched;

struct lmd_sched_params {
    uint32_t    block_size;
    uint32_t    max_batch_size;         /* running sequences */
    uint32_t    max_batched_tokens;     /* tokens per step (decodes go
                                           beyond it) */
    uint64_t    queue_timeout_ns;       /* longest wait before a first
                                           admission */
    uint32_t    vocab_size;
    uint32_t    max_context;
    int         device_sample;          /* the engine picks tokens itself
                                           (LMD_ENGINE_CAP_SAMPLE) */
};

/* Counters since creation. */
struct lmd_sched_stats {
    uint32_t    running;
    uint32_t    waiting;
    uint64_t    prompt_tokens;          /* of admitted requests */
    uint64_t    generation_tokens;      /* sampled */
    uint64_t    prefix_hit_tokens;      /* reused at admissions */
    uint64_t    prefix_query_tokens;    /* known at admissions */
    uint64_t    preemptions;
    uint64_t    steps;                  /* forward calls */
};

/* A scheduler running forwards on module's engine state, with blocks
 * from kvc (both stay the caller's).  NULL when out of memory. */
struct lmd_sched *lmd_sched_create(const struct lmd_module *module,
    void *engine, const struct lmd_host *host, struct lmd_kvc *kvc,
    const struct lmd_sched_params *p);

/* Frees s; requests still in it are finished with LMD_GEN_ERROR and
 * reason (if they are not finished yet), their blocks released, and
 * handed to lmd_sched_touched's list, which must be taken before. */
void lmd_sched_drain(struct lmd_sched *s, const char *reason);
void lmd_sched_free(struct lmd_sched *s);

/* Queues g at the back of the waiting FIFO; s takes over the engine's
 * reference.  LMD_OK, or LMD_ERROR when out of memory (g untouched). */
int lmd_sched_add(struct lmd_sched *s, struct lmd_gen *g);

/* 1 when nothing runs or waits. */
int lmd_sched_idle(const struct lmd_sched *s);

/* One step: drop closed requests, time out waiting ones, pick the batch,
 * forward, sample, emit.  LMD_OK (also when there was nothing to do);
 * a failed forward ends that batch's requests with LMD_GEN_ERROR and is
 * no failure of the step. */
int lmd_sched_step(struct lmd_sched *s);

/* The requests that got tokens or finished since the last call, each
 * with a reference the caller now owns; *n is their count.  The array
 * is s's, valid until the next step. */
struct lmd_gen **lmd_sched_touched(struct lmd_sched *s, size_t *n);

void lmd_sched_stats(const struct lmd_sched *s, struct lmd_sched_stats *st);

#endif /* LMD_SCHED_H */
