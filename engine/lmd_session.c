/*
 * lmd_session.c -- one sequence on an engine module, for the command-line
 * tools and the model tests (see lmd_session.h).
 *
 * Design: the session asks the engine for a KV pool just big enough for
 * its capacity, ceil(capacity / LMD_SESSION_BLOCK_SIZE) blocks, and gives
 * them all to its one sequence in order: block i holds positions
 * [i * block_size, (i + 1) * block_size).  So the cache of the first len
 * tokens stays valid whatever is fed next, and truncating is forgetting
 * the length: the next tokens overwrite the positions after it.  Every
 * call runs on the caller's thread, which is the engine thread here.
 */

#include "lmd_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lmd_common.h"

struct lmd_session {
    const struct lmd_module    *module;
    const struct lmd_host      *host;
    void                       *engine;     /* the module's state */
    struct lmd_engine_memory    mem;
    uint32_t                    capacity;   /* tokens */
    uint32_t                    len;        /* tokens in the cache */
    uint32_t                   *blocks;     /* 0 .. n_blocks-1 */
    uint32_t                    n_blocks;
    float                      *logits;     /* rows of vocab_size */
    size_t                      logits_rows;
};


/* ------------------------------------------------------ the stderr host */

static void
lmd_session_log(int level, const char *fmt, ...)
{
    static const char *const  names[] = {
        "error", "warn", "notice", "info", "debug"
    };
    va_list                   ap;
    char                      line[1024];

    /* info and debug are the daemon's error-log chatter: a tool keeps
     * stderr for what the user must see. */
    if (level > LMD_HOST_LOG_NOTICE) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "lmd: [%s] %s\n",
            level >= 0 && level <= LMD_HOST_LOG_DEBUG ? names[level] : "?",
            line);
}


static uint64_t
lmd_session_now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}


static const struct lmd_host  lmd_session_host = {
    LMD_MODULE_ABI_VERSION,
    lmd_session_log,
    lmd_session_now_ns,
    { NULL }
};


const struct lmd_host *
lmd_session_stderr_host(void)
{
    return &lmd_session_host;
}


/* ------------------------------------------------------------ open, close */

struct lmd_session *
lmd_session_open(const struct lmd_module *module,
    const struct lmd_host *host, const struct lmd_engine_params *params,
    uint32_t max_tokens, char *err, size_t errlen)
{
    const struct lmd_engine_ops  *ops;
    struct lmd_kv_params          kv;
    struct lmd_session           *s;
    char                          why[LMD_MODULE_ERR_LEN];
    uint32_t                      i;

    if (module == NULL || module->kind != LMD_MODULE_ENGINE) {
        snprintf(err, errlen, "not an engine module");
        return NULL;
    }
    ops = &module->ops.engine;
    if (ops->open == NULL || ops->close == NULL || ops->memory == NULL
        || ops->kv_init == NULL || ops->forward == NULL)
    {
        snprintf(err, errlen, "engine \"%s\" lacks a hook a session needs "
                 "(open, memory, close, kv_init, forward)",
                 module->name ? module->name : "?");
        return NULL;
    }

    s = calloc(1, sizeof(struct lmd_session));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->module = module;
    s->host = host != NULL ? host : &lmd_session_host;

    why[0] = '\0';
    if (ops->open(s->host, params, &s->engine, why, sizeof(why))
        != LMD_MODULE_OK)
    {
        snprintf(err, errlen, "%s", why[0] ? why
                 : "the engine could not open the model and did not say "
                   "why");
        free(s);
        return NULL;
    }

    if (ops->memory(s->engine, &s->mem) != LMD_MODULE_OK
        || s->mem.vocab_size == 0)
    {
        snprintf(err, errlen, "engine \"%s\" gave no memory report (vocab "
                 "size)", module->name);
        goto failed;
    }

    s->capacity = max_tokens != 0 ? max_tokens : s->mem.max_context;
    if (s->capacity == 0) {
        snprintf(err, errlen, "%s: the model's context length is unknown "
                 "(max_position_embeddings)", params->path);
        goto failed;
    }

    s->n_blocks = (s->capacity + LMD_SESSION_BLOCK_SIZE - 1)
                  / LMD_SESSION_BLOCK_SIZE;
    s->blocks = malloc(s->n_blocks * sizeof(uint32_t));
    if (s->blocks == NULL) {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }
    for (i = 0; i < s->n_blocks; i++) {
        s->blocks[i] = i;
    }

    memset(&kv, 0, sizeof(kv));
    kv.n_blocks = s->n_blocks;
    kv.block_size = LMD_SESSION_BLOCK_SIZE;
    why[0] = '\0';
    if (ops->kv_init(s->engine, &kv, why, sizeof(why)) != LMD_MODULE_OK) {
        snprintf(err, errlen, "KV cache for %u tokens: %s", s->capacity,
                 why[0] ? why : "the engine could not allocate it");
        goto failed;
    }
    return s;

failed:
    ops->close(s->engine);
    free(s->blocks);
    free(s);
    return NULL;
}


void
lmd_session_close(struct lmd_session *s)
{
    if (s == NULL) {
        return;
    }
    s->module->ops.engine.close(s->engine);
    free(s->blocks);
    free(s->logits);
    free(s);
}


const struct lmd_engine_memory *
lmd_session_memory(const struct lmd_session *s)
{
    return &s->mem;
}


uint32_t
lmd_session_length(const struct lmd_session *s)
{
    return s->len;
}


uint32_t
lmd_session_capacity(const struct lmd_session *s)
{
    return s->capacity;
}


void
lmd_session_truncate(struct lmd_session *s, uint32_t len)
{
    if (len < s->len) {
        s->len = len;
    }
}


/* ------------------------------------------------------------------ feed */

const float *
lmd_session_feed(struct lmd_session *s, const int32_t *ids, size_t n,
    uint32_t n_logits, uint32_t chunk, char *err, size_t errlen)
{
    struct lmd_seq_input  seq;
    struct lmd_batch      batch;
    size_t                a, b, first, want, i, rows;
    uint32_t              start;
    float                *p;
    char                  why[LMD_MODULE_ERR_LEN];

    if (n == 0 || n_logits > n) {
        snprintf(err, errlen, "%zu tokens fed, %u logits asked for", n,
                 n_logits);
        return NULL;
    }
    if (n > s->capacity - s->len) {
        snprintf(err, errlen, "context full (%u tokens)", s->capacity);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (ids[i] < 0 || (uint32_t) ids[i] >= s->mem.vocab_size) {
            snprintf(err, errlen, "token id %d is outside the model's "
                     "vocabulary (%u ids)", (int) ids[i],
                     s->mem.vocab_size);
            return NULL;
        }
    }

    /* at least one row: NULL means failure, even with no logits asked */
    if (n_logits > s->logits_rows || s->logits == NULL) {
        rows = n_logits > 0 ? n_logits : 1;
        p = realloc(s->logits, rows * s->mem.vocab_size * sizeof(float));
        if (p == NULL) {
            snprintf(err, errlen, "out of memory for %zu rows of logits",
                     rows);
            return NULL;
        }
        s->logits = p;
        s->logits_rows = rows;
    }

    if (chunk == 0 || chunk > n) {
        chunk = (uint32_t) (n > UINT32_MAX ? UINT32_MAX : n);
    }
    start = s->len;
    first = n - n_logits;           /* the first token whose logits count */

    for (a = 0; a < n; a = b) {
        b = a + chunk < n ? a + chunk : n;
        want = b > first ? b - (a > first ? a : first) : 0;

        memset(&seq, 0, sizeof(seq));
        seq.tokens = ids + a;
        seq.n_tokens = (uint32_t) (b - a);
        seq.pos = s->len;
        seq.blocks = s->blocks;
        seq.n_blocks = (s->len + seq.n_tokens + LMD_SESSION_BLOCK_SIZE - 1)
                       / LMD_SESSION_BLOCK_SIZE;
        seq.n_logits = (uint32_t) want;

        memset(&batch, 0, sizeof(batch));
        batch.seqs = &seq;
        batch.n_seqs = 1;
        batch.logits = want == 0 ? NULL : s->logits
            + ((a > first ? a : first) - first) * s->mem.vocab_size;

        why[0] = '\0';
        if (s->module->ops.engine.forward(s->engine, &batch, why,
                                          sizeof(why)) != LMD_MODULE_OK)
        {
            snprintf(err, errlen, "forward at position %u: %s", s->len,
                     why[0] ? why : "the engine failed");
            s->len = start;
            return NULL;
        }
        s->len += seq.n_tokens;
    }
    return s->logits;
}
