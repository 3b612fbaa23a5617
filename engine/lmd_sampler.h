/*
 * lmd_sampler.h -- picks the next token from a row of logits.
 *
 * One sampler per generated sequence: it holds the request's settings,
 * its random state (seeded: the same seed, settings and logits give the
 * same tokens on every run and machine) and the token counts the
 * penalties need.  Order of processing, as vLLM and HF apply it:
 * logit_bias, repetition penalty (HF: over prompt and output; positive
 * logits divided, negative multiplied), frequency and presence penalties
 * (OpenAI: over output tokens only), then greedy when temperature is 0,
 * else temperature, top_k, top_p, min_p and a draw.  Log-probabilities
 * are the model's: log-softmax of the raw logits, before any of that.
 */

#ifndef LMD_SAMPLER_H
#define LMD_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "lmd_module.h"             /* struct lmd_logit_bias */

#define LMD_SAMPLER_MAX_TOP_LOGPROBS  20


struct lmd_sampling {
    float           temperature;        /* 0: greedy */
    float           top_p;              /* 1: off */
    int             top_k;              /* 0: off */
    float           min_p;              /* 0: off */
    float           repetition_penalty; /* 1: off */
    float           frequency_penalty;  /* 0: off, -2 .. 2 */
    float           presence_penalty;   /* 0: off, -2 .. 2 */
    uint64_t        seed;
    int             has_seed;           /* 0: seeded from the clock */
    int             top_logprobs;       /* 0 .. 20 alternatives wanted */
    const struct lmd_logit_bias *logit_bias;
    size_t          n_logit_bias;
};

/* Settings that change nothing: greedy off, every filter off. */
void lmd_sampling_defaults(struct lmd_sampling *p);

struct lmd_token_logprob {
    int32_t         id;
    float           logprob;
};

struct lmd_sample_result {
    int32_t         id;                 /* the chosen token */
    float           logprob;            /* its log-probability */
    int             n_top;              /* filled entries of top[] */
    struct lmd_token_logprob top[LMD_SAMPLER_MAX_TOP_LOGPROBS];
};

struct lmd_sampler;

/* NULL on allocation failure.  p's logit_bias is copied. */
struct lmd_sampler *lmd_sampler_create(const struct lmd_sampling *p,
    uint32_t vocab_size);

/* The prompt's tokens, for the repetition penalty. */
void lmd_sampler_set_prompt(struct lmd_sampler *s, const int32_t *ids,
    size_t n);

/* Picks a token from logits (vocab_size floats, overwritten as scratch)
 * and records it as generated.  res may be NULL.  Returns the id. */
int32_t lmd_sampler_sample(struct lmd_sampler *s, float *logits,
    struct lmd_sample_result *res);

/* Records a token as generated without sampling (forced tokens). */
void lmd_sampler_accept(struct lmd_sampler *s, int32_t id);

/* Adds logit_bias, then applies the repetition, frequency and presence
 * penalties to logits in place: the first step of lmd_sampler_sample,
 * for a backend that samples elsewhere (and for tests). */
void lmd_sampler_apply_penalties(struct lmd_sampler *s, float *logits);

/* For an engine that samples on its device (LMD_ENGINE_CAP_SAMPLE): the
 * request's settings, and the key of the next draw, taken from this
 * sampler's random stream (a seeded request gets the same keys on every
 * run).  The engine's token then goes to lmd_sampler_accept. */
const struct lmd_sampling *lmd_sampler_params(const struct lmd_sampler *s);
uint64_t lmd_sampler_next_key(struct lmd_sampler *s);

void lmd_sampler_free(struct lmd_sampler *s);

#endif /* LMD_SAMPLER_H */
