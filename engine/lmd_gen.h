/*
 * lmd_gen.h -- one generation request as the loop thread sees it: what
 * it asks for, the tokens that come back, and how it ended.
 *
 * Life: the loop thread creates it with lmd_engine_submit (lmd_engine.h),
 * which queues it for the model's engine thread.  Each batched step that
 * samples a token for it appends the token to its output, and the engine
 * asks the loop (through the engine's notify hook) to run
 * lmd_engine_dispatch, which calls the request's callback on the loop
 * thread; the callback drains the output with lmd_gen_take.  When the
 * request has finished (lmd_gen_info's finish is set) and its output is
 * drained, or the loop no longer wants it (the client left, a stop string
 * matched), the loop calls lmd_gen_close: at the engine's next step the
 * request is dropped and its KV blocks are released.  After
 * lmd_gen_close the callback is never called again and g must not be
 * touched.
 *
 * Detokenizing and stop strings are the loop thread's (DESIGN.md): the
 * engine only knows token ids (stop ids, EOS) and lengths.
 */

#ifndef LMD_GEN_H
#define LMD_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "lmd_sampler.h"

struct lmd_gen;

struct lmd_gen_params {
    struct lmd_sampling  sampling;      /* logit_bias is copied */
    uint32_t             max_tokens;    /* >= 1; the engine also stops at
                                           the model's context length */
    const int32_t       *stop_ids;      /* ends the sequence (EOS etc.);
                                           copied; the stop token is not
                                           part of the output */
    size_t               n_stop_ids;
    int                  ignore_eos;    /* don't stop at stop_ids */
    int                  logprobs;      /* fill logprob and top[] */
};

enum lmd_gen_finish {
    LMD_GEN_RUNNING = 0,
    LMD_GEN_STOP,               /* a stop id (EOS) was sampled */
    LMD_GEN_LENGTH,             /* max_tokens or the context length */
    LMD_GEN_TIMEOUT,            /* waited in the queue past queue_timeout:
                                   nothing generated (HTTP 503) */
    LMD_GEN_ERROR               /* the engine failed; info.err says why */
};

/* One sampled token. */
struct lmd_gen_token {
    int32_t                   id;
    float                     logprob;  /* when params.logprobs */
    int                       n_top;
    struct lmd_token_logprob  top[LMD_SAMPLER_MAX_TOP_LOGPROBS];
};

/* Counts and times (CLOCK_MONOTONIC ns; 0 = not yet). */
struct lmd_gen_info {
    int         finish;         /* enum lmd_gen_finish */
    uint32_t    prompt_tokens;
    uint32_t    cached_tokens;  /* of the prompt, reused from the prefix
                                   cache (the last admission's, after a
                                   preemption) */
    uint32_t    completion_tokens;  /* sampled so far */
    uint32_t    preemptions;
    uint64_t    submitted_ns;
    uint64_t    scheduled_ns;   /* first admitted to a step */
    uint64_t    first_token_ns;
    uint64_t    finished_ns;
    char        err[256];
};

typedef void (*lmd_gen_output_pt)(struct lmd_gen *g, void *data);

/* Moves up to max tokens produced since the last call into out; returns
 * how many.  Loop thread. */
size_t lmd_gen_take(struct lmd_gen *g, struct lmd_gen_token *out,
    size_t max);

/* Tokens waiting to be taken. */
size_t lmd_gen_pending(struct lmd_gen *g);

/* A snapshot of the counts and times; finish is set only once every
 * token has been taken.  Any thread. */
void lmd_gen_info(struct lmd_gen *g, struct lmd_gen_info *info);

/* The loop is done with g (finished, or to be cancelled).  Loop thread. */
void lmd_gen_close(struct lmd_gen *g);

#endif /* LMD_GEN_H */
