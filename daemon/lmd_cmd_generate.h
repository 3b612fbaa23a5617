/*
 * lmd_cmd_generate.h -- what `lmd generate`'s two runs share: its options
 * (lmd_cmd_generate.c), one sequence on a session, and --batch N
 * (lmd_cmd_generate_batch.c), N sequences through the serving scheduler.
 */

#ifndef LMD_CMD_GENERATE_H
#define LMD_CMD_GENERATE_H

#include "lmd_cmd_model.h"

struct lmd_generate_opts {
    struct lmd_cmd_model_opts   m;
    const char                 *prompt;
    long long                   prompt_tokens;  /* -1: --prompt */
    long long                   batch;          /* 0: one sequence */
    int                         ignore_eos;
    int                         json;
};

/* n ids from a seeded splitmix64: the same prompt for a seed and a
 * vocabulary size on every machine.  LMD_OK or LMD_ERROR (memory). */
int lmd_generate_random_ids(uint64_t seed, uint32_t vocab, long long n,
    struct lmd_tokens *ids);

/* --batch: runs o->batch sequences at once through an engine thread and
 * its scheduler (engine/lmd_engine.h), as the daemon serves them, and
 * prints the throughput.  The exit status. */
int lmd_generate_batch(const struct lmd_generate_opts *o,
    struct lmd_cmd_model *m);

#endif /* LMD_CMD_GENERATE_H */
