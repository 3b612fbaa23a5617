/*
 * lmd_session.h -- one sequence on an engine, without the scheduler.
 *
 * What `lmd generate`, `lmd chat` and the model tests need: open a model
 * with an engine module, then feed it tokens and read the logits of the
 * last one (or of every one, for teacher forcing).  The KV cache is the
 * engine's paged pool, given to this one sequence block after block, so
 * a chat keeps its history's cache and prefills only the new turn.
 * The serving path (the scheduler, many sequences) does not use this.
 */

#ifndef LMD_SESSION_H
#define LMD_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "lmd_module.h"

#define LMD_SESSION_BLOCK_SIZE  64

struct lmd_session;

/* Opens params' model with module (an engine) and a KV pool for
 * max_tokens tokens (0: the model's max_context).  host may be NULL
 * (logs go to stderr).  NULL with err set. */
struct lmd_session *lmd_session_open(const struct lmd_module *module,
    const struct lmd_host *host, const struct lmd_engine_params *params,
    uint32_t max_tokens, char *err, size_t errlen);

/* The engine's report (vocab_size, max_context, ...). */
const struct lmd_engine_memory *lmd_session_memory(
    const struct lmd_session *s);

/* Tokens in the cache. */
uint32_t lmd_session_length(const struct lmd_session *s);

/* The most tokens the session holds. */
uint32_t lmd_session_capacity(const struct lmd_session *s);

/* Appends n tokens (one forward step of at most chunk tokens at a time;
 * 0: all at once) and returns the logits of the last n_logits of them
 * (n_logits rows of vocab_size floats, valid until the next call), or
 * NULL with err set (full: "context full (N tokens)"). */
const float *lmd_session_feed(struct lmd_session *s, const int32_t *ids,
    size_t n, uint32_t n_logits, uint32_t chunk, char *err,
    size_t errlen);

/* Forgets every token from position len on (0: all). */
void lmd_session_truncate(struct lmd_session *s, uint32_t len);

void lmd_session_close(struct lmd_session *s);

/* A host that logs to stderr, for command-line tools and tests. */
const struct lmd_host *lmd_session_stderr_host(void);

#endif /* LMD_SESSION_H */
