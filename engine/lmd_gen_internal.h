/*
 * lmd_gen_internal.h -- the inside of a generation request (lmd_gen.h),
 * shared by lmd_gen.c (the loop's view), lmd_sched.c (the scheduler) and
 * lmd_engine.c (the engine thread and its queues).  Nothing outside
 * engine/ includes it.
 *
 * Design: a request has three kinds of fields, by who may touch them.
 *
 *   fixed      set by lmd_gen_create on the loop thread before the
 *              request is queued, read-only afterwards: params, prompt
 *              length, the limit.
 *   engine     the scheduler's, touched on the engine thread only: the
 *              token list, the block table and chain keys, the sampler,
 *              the list links, the sequence state.
 *   shared     guarded by g->lock: the output queue and info, which the
 *              engine writes and the loop reads.
 *
 * `closed` is written by the loop (lmd_gen_close) and read by both sides
 * with atomics.  `ready` and `ready_next` belong to the engine's ready
 * list and are guarded by the engine's lock.  The reference count covers
 * three holders: the loop (from submit to lmd_gen_close), the engine
 * (from submit until the scheduler drops the request) and the ready list
 * (while queued for lmd_engine_dispatch); the last one frees it.
 */

#ifndef LMD_GEN_INTERNAL_H
#define LMD_GEN_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "lmd_gen.h"
#include "lmd_sampler.h"

/* Where a request stands in the scheduler (engine thread). */
enum lmd_seq_state {
    LMD_SEQ_NEW = 0,            /* submitted: in the engine's inbox */
    LMD_SEQ_WAITING,            /* in the waiting FIFO: no blocks held */
    LMD_SEQ_RUNNING,            /* in the batch: holds its blocks */
    LMD_SEQ_DONE                /* finished or dropped: no blocks */
};

struct lmd_gen {
    /* fixed */
    struct lmd_gen_params   params;     /* stop_ids, logit_bias: copies */
    int32_t                *stop_ids;
    struct lmd_logit_bias  *logit_bias;
    uint32_t                n_prompt;
    uint32_t                limit;      /* most tokens, prompt included */
    lmd_gen_output_pt       on_output;
    void                   *data;

    /* engine */
    struct lmd_sampler     *sampler;
    int32_t                *tokens;     /* [limit]: prompt, then output */
    uint32_t                n_tokens;   /* known */
    uint32_t                n_computed; /* positions whose KV is cached */
    uint32_t               *blocks;     /* [max_blocks]: the block table */
    uint64_t               *keys;       /* [max_blocks]: chain keys */
    uint32_t                n_blocks;
    uint32_t                n_committed;    /* full blocks with a key */
    uint32_t                max_blocks;
    int                     state;      /* enum lmd_seq_state */
    struct lmd_gen         *prev, *next;    /* waiting or running list */
    struct lmd_gen         *inbox_next;     /* engine's inbox (its lock) */

    /* ready list: the engine's lock */
    int                     ready;
    struct lmd_gen         *ready_next;

    /* both threads, atomics */
    int                     closed;
    int                     refs;

    /* shared: lock */
    pthread_mutex_t         lock;
    struct lmd_gen_token   *out;        /* out[head .. head + n_out) */
    size_t                  out_head, n_out, out_cap;
    struct lmd_gen_info     info;
};

/* A request for prompt[0 .. n) with p (copied), refs 2 (loop and
 * engine), its sampler made for vocab_size ids; limit is the most tokens
 * (prompt and output) it may hold, block_size the KV block's.  NULL when
 * out of memory.  Loop thread. */
struct lmd_gen *lmd_gen_create(const int32_t *prompt, uint32_t n,
    const struct lmd_gen_params *p, uint32_t vocab_size, uint32_t limit,
    uint32_t block_size, lmd_gen_output_pt on_output, void *data,
    uint64_t now_ns);

void lmd_gen_ref(struct lmd_gen *g);

/* Drops one reference; the last frees g.  Any thread. */
void lmd_gen_unref(struct lmd_gen *g);

int lmd_gen_is_closed(struct lmd_gen *g);

/* Engine side; the caller holds g->lock.  Appends one output token
 * (res NULL: the id only, no log-probabilities): LMD_OK, or LMD_ERROR
 * when out of memory. */
int lmd_gen_push_locked(struct lmd_gen *g, int32_t id,
    const struct lmd_sample_result *res);

/* Records how the request ended (enum lmd_gen_finish; err may be NULL),
 * once: a second call changes nothing.  The caller holds g->lock. */
void lmd_gen_finish_locked(struct lmd_gen *g, int finish, const char *err,
    uint64_t now_ns);

#endif /* LMD_GEN_INTERNAL_H */
