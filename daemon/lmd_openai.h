/*
 * lmd_openai.h -- the body of POST /v1/chat/completions and
 * /v1/completions, parsed and checked (lmd_openai_parse.c), and the
 * handlers that run them (lmd_http_completions.c).
 *
 * Parsing follows OpenAI's API reference: every field it documents for
 * these endpoints is either honoured or refused by name (400 with
 * "param"); unknown fields are ignored, as OpenAI's server does.  A few
 * widely used extensions of vLLM and LMDeploy are accepted too (top_k,
 * min_p, repetition_penalty, ignore_eos).  Everything lives in the
 * request's pool.
 */

#ifndef LMD_OPENAI_H
#define LMD_OPENAI_H

#include "lmd_core.h"
#include "lmd_sampler.h"

enum lmd_oai_kind {
    LMD_OAI_CHAT = 1,           /* /v1/chat/completions */
    LMD_OAI_COMPLETION          /* /v1/completions */
};

#define LMD_OAI_MAX_STOP        4       /* OpenAI's limit on stop */
#define LMD_OAI_MAX_N           128

struct lmd_oai_message {
    const char         *role;           /* system, user, assistant or
                                           tool ("developer" is stored as
                                           system) */
    const char         *content;        /* string, or the text parts of an
                                           array joined; "" when null */
    const char         *name;           /* NULL when absent */
};

/* Which optional fields the body set (the model's generation_config.json
 * defaults fill the others, then OpenAI's). */
#define LMD_OAI_HAS_TEMPERATURE     0x0001
#define LMD_OAI_HAS_TOP_P           0x0002
#define LMD_OAI_HAS_TOP_K           0x0004
#define LMD_OAI_HAS_REPETITION      0x0008
#define LMD_OAI_HAS_MAX_TOKENS      0x0010
#define LMD_OAI_HAS_SEED            0x0020

struct lmd_oai_request {
    int                      kind;      /* enum lmd_oai_kind */
    const char              *model;
    unsigned                 has;       /* LMD_OAI_HAS_* */

    /* chat: messages (at least one) */
    struct lmd_oai_message  *messages;
    size_t                   n_messages;

    /* completions: prompt as one string, or as one array of token ids
     * (a batch of several prompts is refused: 400, param "prompt") */
    const char              *prompt;
    const int32_t           *prompt_ids;
    size_t                   n_prompt_ids;
    int                      echo;

    int                      stream;
    int                      include_usage;     /* stream_options */
    uint32_t                 max_tokens;        /* max_tokens or
                                                   max_completion_tokens */
    uint32_t                 n;                 /* choices, 1 .. MAX_N */

    /* temperature, top_p, top_k, min_p, penalties, seed, logit_bias;
     * top_logprobs is the number of alternatives wanted per token */
    struct lmd_sampling      sampling;
    int                      logprobs;          /* return logprobs: chat's
                                                   logprobs true, or
                                                   completions' logprobs
                                                   not null (its value is
                                                   sampling.top_logprobs) */

    const char              *stop[LMD_OAI_MAX_STOP];
    size_t                   n_stop;
    int                      ignore_eos;
    const char              *user;
};

/* What went wrong, for lmd_http_error: status 400 (or 404 for an unknown
 * model, decided by the caller), the offending parameter's name (NULL
 * when the body itself is bad) and a message. */
struct lmd_oai_error {
    int                      status;
    const char              *param;
    char                     message[256];
};

/* Parses body as kind into req.  LMD_OK, or LMD_ERROR with e filled. */
int lmd_openai_parse(struct lmd_pool *pool, int kind, const char *body,
    size_t len, struct lmd_oai_request *req, struct lmd_oai_error *e);

#endif /* LMD_OPENAI_H */
