/*
 * lmd_engine.c -- the engine thread's life: open the model, size the KV
 * pool, serve the scheduler's batched steps, close.
 *
 * Design: one mutex guards what the loop thread and the engine thread
 * share: the state, the stop flag, the inbox of submitted requests, the
 * ready list of requests with news, and a snapshot of the stats.  The
 * engine thread sleeps on a condition variable only while the scheduler
 * holds no request (submit and stop wake it); otherwise it loops: take
 * the inbox, run one step outside the lock, put the requests the step
 * touched on the ready list, and call notify once.  The notify callback
 * (the daemon's loop wakeup) runs without the lock; on the loop thread,
 * lmd_engine_dispatch walks the ready list and calls each request's
 * on_output.  A request's ready flag (under the lock) keeps it on the
 * list once, and is cleared just before its callback runs, so output
 * that comes during the callback queues it again: none is missed.
 *
 * At stop, the thread finishes every request it still holds with
 * LMD_GEN_ERROR and puts them on the ready list; lmd_engine_stop, on the
 * loop thread, runs their callbacks after the join, so no caller waits
 * for a request that will never end.
 */

#include "lmd_engine.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lmd_common.h"
#include "lmd_gen_internal.h"
#include "lmd_kv_cache.h"
#include "lmd_sched.h"

/* The defaults of zero fields of struct lmd_serve_params. */
#define LMD_SERVE_BLOCK_SIZE         64
#define LMD_SERVE_CACHE_FRACTION     0.8
#define LMD_SERVE_CPU_KV_MEMORY      (4ull << 30)
#define LMD_SERVE_MAX_BATCH_SIZE     128
#define LMD_SERVE_MAX_BATCHED_TOKENS 4096
#define LMD_SERVE_MAX_QUEUE          1024
#define LMD_SERVE_QUEUE_TIMEOUT_MS   120000

struct lmd_engine {
    const struct lmd_module    *module;
    const struct lmd_host      *host;
    struct lmd_engine_params    params;
    struct lmd_serve_params     serve;      /* defaults filled in */
    char                       *name, *path, *load_format, *weights;
    lmd_engine_notify_pt        notify;
    void                       *data;

    pthread_t                   thread;
    pthread_mutex_t             lock;
    pthread_cond_t              wake;
    int                         state;      /* enum lmd_engine_state */
    int                         stop;
    char                        err[LMD_MODULE_ERR_LEN];
    struct lmd_engine_memory    mem;
    void                       *engine;     /* the module's state */

    /* engine thread, set up before READY */
    struct lmd_kvc             *kvc;
    struct lmd_sched           *sched;
    uint32_t                    n_blocks;

    /* lock */
    struct lmd_gen             *inbox, *inbox_tail;
    uint32_t                    n_inbox;
    struct lmd_gen             *ready, *ready_tail;
    struct lmd_engine_stats     stats;
};


static uint64_t
lmd_engine_now(const struct lmd_engine *e)
{
    struct timespec  ts;

    if (e->host != NULL && e->host->now_ns != NULL) {
        return e->host->now_ns();
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}


static void
lmd_engine_set_state(struct lmd_engine *e, int state)
{
    pthread_mutex_lock(&e->lock);
    e->state = state;
    pthread_mutex_unlock(&e->lock);
    e->notify(e->data);
}


/* "1.5 MiB": bytes for people. */
static void
lmd_engine_bytes(char *buf, size_t len, uint64_t b)
{
    static const char *const  units[] = { "KiB", "MiB", "GiB", "TiB" };
    double                    v = (double) b;
    int                       u = -1;

    if (b < 1024) {
        snprintf(buf, len, "%llu bytes", (unsigned long long) b);
        return;
    }
    while (v >= 1024.0 && u < 3) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, len, v < 10.0 && v != (double) (uint64_t) v ? "%.1f %s"
             : "%.0f %s", v, units[u]);
}


/* ------------------------------------------------------ the KV pool */

/* Fills zero fields of e->serve with the defaults. */
static void
lmd_engine_serve_defaults(struct lmd_engine *e,
    const struct lmd_serve_params *serve)
{
    struct lmd_serve_params  *s = &e->serve;

    if (serve != NULL) {
        *s = *serve;
    } else {
        memset(s, 0, sizeof(*s));
        s->prefix_cache = -1;
    }
    if (s->block_size == 0) {
        s->block_size = LMD_SERVE_BLOCK_SIZE;
    }
    if (!(s->cache_max_entry_count > 0.0)) {
        s->cache_max_entry_count = LMD_SERVE_CACHE_FRACTION;
    }
    if (s->cache_max_entry_count > 1.0) {
        s->cache_max_entry_count = 1.0;
    }
    if (s->max_batch_size == 0) {
        s->max_batch_size = LMD_SERVE_MAX_BATCH_SIZE;
    }
    if (s->max_batched_tokens == 0) {
        s->max_batched_tokens = LMD_SERVE_MAX_BATCHED_TOKENS;
    }
    if (s->max_queue == 0) {
        s->max_queue = LMD_SERVE_MAX_QUEUE;
    }
    if (s->queue_timeout_ms == 0) {
        s->queue_timeout_ms = LMD_SERVE_QUEUE_TIMEOUT_MS;
    }
    if (s->prefix_cache < 0) {
        s->prefix_cache = 1;
    }
}


/*
 * How many blocks: serve.kv_blocks if set; else
 *
 *     floor(cache_max_entry_count * budget / (kv_bytes_per_token *
 *           block_size))
 *
 * where budget is the engine's free_bytes, but for the cpu engine
 * kv_memory if set, else min(free_bytes, 4 GiB) (free_bytes 0, unknown,
 * counts as 4 GiB).  A pool smaller than one sequence of the model's
 * whole context grows to that size if the budget holds it; otherwise,
 * and for an explicit kv_blocks that small, the model does not start.
 */
static int
lmd_engine_size_pool(struct lmd_engine *e, char *err, size_t len)
{
    const struct lmd_serve_params  *s = &e->serve;
    uint64_t                        per_block, budget = 0, need, n;
    uint32_t                        bs = s->block_size;
    int                             cpu;
    char                            b1[32], b2[32];

    per_block = e->mem.kv_bytes_per_token * bs;
    need = ((uint64_t) e->mem.max_context + bs - 1) / bs;

    if (s->kv_blocks > 0) {
        n = s->kv_blocks;

    } else {
        if (per_block == 0) {
            snprintf(err, len, "model \"%s\": the engine reports no KV "
                     "size per token: set kv_cache.kv_blocks", e->name);
            return LMD_ERROR;
        }
        cpu = e->module->name != NULL && strcmp(e->module->name, "cpu") == 0;
        if (!cpu) {
            budget = e->mem.free_bytes;
        } else if (s->kv_memory > 0) {
            budget = s->kv_memory;
        } else {
            budget = e->mem.free_bytes > 0
                     && e->mem.free_bytes < LMD_SERVE_CPU_KV_MEMORY
                     ? e->mem.free_bytes : LMD_SERVE_CPU_KV_MEMORY;
        }
        n = (uint64_t) (s->cache_max_entry_count * (double) budget
                        / (double) per_block);
        if (n < need && need * per_block <= budget) {
            n = need;               /* one whole context, if it fits */
        }
        if (n < need) {
            lmd_engine_bytes(b1, sizeof(b1), budget);
            lmd_engine_bytes(b2, sizeof(b2), need * per_block);
            snprintf(err, len, "model \"%s\": KV pool of %llu blocks holds "
                     "%llu tokens, less than one sequence of the model's "
                     "context (%u tokens): its budget is %s and one "
                     "context needs %s; raise kv_cache.kv_memory (cpu) or "
                     "cache_max_entry_count, or free memory", e->name,
                     (unsigned long long) (budget / per_block),
                     (unsigned long long) (budget / per_block * bs),
                     e->mem.max_context, b1, b2);
            return LMD_ERROR;
        }
    }

    if (n < need) {
        snprintf(err, len, "model \"%s\": KV pool of %llu blocks holds %llu "
                 "tokens, less than one sequence of the model's context "
                 "(%u tokens = %llu blocks of %u): raise kv_cache.kv_blocks",
                 e->name, (unsigned long long) n,
                 (unsigned long long) (n * bs), e->mem.max_context,
                 (unsigned long long) need, bs);
        return LMD_ERROR;
    }
    /* block numbers and token positions stay 32-bit */
    if (n * bs > UINT32_MAX - bs) {
        n = (UINT32_MAX - bs) / bs;
    }
    e->n_blocks = (uint32_t) n;
    return LMD_OK;
}


/* Sizes and allocates the pool, makes the block manager and scheduler,
 * logs the capacity.  Engine thread, before READY. */
static int
lmd_engine_setup(struct lmd_engine *e, char *err, size_t len)
{
    const struct lmd_engine_ops  *ops = &e->module->ops.engine;
    struct lmd_sched_params       sp;
    struct lmd_engine_memory      mem;
    struct lmd_kv_params          kv;
    uint32_t                      bs = e->serve.block_size;
    uint64_t                      tokens;
    char                          why[LMD_MODULE_ERR_LEN], w[32], b[32];

    memset(&mem, 0, sizeof(mem));
    if (ops->kv_init == NULL || ops->forward == NULL) {
        /* a module that only loads (the tests' lifecycle engine): READY,
         * but every submit is declined */
        if (ops->memory != NULL) {
            ops->memory(e->engine, &mem);
        }
        pthread_mutex_lock(&e->lock);
        e->mem = mem;
        pthread_mutex_unlock(&e->lock);
        if (e->host != NULL && e->host->log != NULL) {
            e->host->log(LMD_HOST_LOG_NOTICE, "model \"%s\": engine \"%s\" "
                         "has no forward step: it serves no requests",
                         e->name, e->module->name ? e->module->name : "?");
        }
        return LMD_OK;
    }
    if (ops->memory == NULL || ops->memory(e->engine, &mem) != LMD_MODULE_OK
        || mem.vocab_size == 0 || mem.max_context == 0)
    {
        snprintf(err, len, "model \"%s\": the engine gave no memory report "
                 "(vocabulary size, context length)", e->name);
        return LMD_ERROR;
    }
    pthread_mutex_lock(&e->lock);       /* lmd_engine_memory reads it */
    e->mem = mem;
    pthread_mutex_unlock(&e->lock);
    if (lmd_engine_size_pool(e, err, len) != LMD_OK) {
        return LMD_ERROR;
    }

    memset(&kv, 0, sizeof(kv));
    kv.n_blocks = e->n_blocks;
    kv.block_size = bs;
    kv.max_step_tokens = e->serve.max_batched_tokens;
    kv.max_step_seqs = e->serve.max_batch_size;
    why[0] = '\0';
    if (ops->kv_init(e->engine, &kv, why, sizeof(why)) != LMD_MODULE_OK) {
        snprintf(err, len, "model \"%s\": KV pool of %u blocks of %u "
                 "tokens: %s", e->name, e->n_blocks, bs,
                 why[0] ? why : "the engine could not allocate it");
        return LMD_ERROR;
    }

    e->kvc = lmd_kvc_create(e->n_blocks, bs, e->serve.prefix_cache);
    memset(&sp, 0, sizeof(sp));
    sp.block_size = bs;
    sp.max_batch_size = e->serve.max_batch_size;
    sp.max_batched_tokens = e->serve.max_batched_tokens;
    sp.queue_timeout_ns = e->serve.queue_timeout_ms * 1000000u;
    sp.vocab_size = e->mem.vocab_size;
    sp.max_context = e->mem.max_context;
    sp.device_sample = (e->mem.caps & LMD_ENGINE_CAP_SAMPLE) != 0
                       && getenv("LMD_HOST_SAMPLING") == NULL;
    e->sched = e->kvc != NULL ? lmd_sched_create(e->module, e->engine,
                                                 e->host, e->kvc, &sp)
                              : NULL;
    if (e->sched == NULL) {
        snprintf(err, len, "model \"%s\": out of memory for the scheduler "
                 "of %u blocks", e->name, e->n_blocks);
        return LMD_ERROR;
    }

    e->stats.n_blocks = e->n_blocks;
    e->stats.block_size = bs;
    e->stats.kv_bytes_per_block = e->mem.kv_bytes_per_token * bs;
    e->stats.weight_bytes = e->mem.weight_bytes;
    e->stats.max_context = e->mem.max_context;

    if (e->host != NULL && e->host->log != NULL) {
        tokens = (uint64_t) e->n_blocks * bs;
        lmd_engine_bytes(w, sizeof(w), e->mem.weight_bytes);
        lmd_engine_bytes(b, sizeof(b), e->stats.kv_bytes_per_block);
        e->host->log(LMD_HOST_LOG_NOTICE, "model \"%s\": weights %s; KV %s "
                     "per block of %u tokens; %u blocks = %llu tokens = "
                     "%llu sequences of %u (max context)", e->name, w, b,
                     bs, e->n_blocks, (unsigned long long) tokens,
                     (unsigned long long) (tokens / e->mem.max_context),
                     e->mem.max_context);
    }
    return LMD_OK;
}


static void
lmd_engine_teardown(struct lmd_engine *e)
{
    lmd_sched_free(e->sched);
    e->sched = NULL;
    lmd_kvc_free(e->kvc);
    e->kvc = NULL;
}


/* ------------------------------------------------------------ serving */

/* Puts g on the ready list, which takes over one reference (dropped if
 * g is on it already).  Under the lock. */
static void
lmd_engine_ready_locked(struct lmd_engine *e, struct lmd_gen *g)
{
    if (g->ready) {
        lmd_gen_unref(g);
        return;
    }
    g->ready = 1;
    g->ready_next = NULL;
    if (e->ready_tail != NULL) {
        e->ready_tail->ready_next = g;
    } else {
        e->ready = g;
    }
    e->ready_tail = g;
}


/* The scheduler's news onto the ready list; 1 if there was any.  Under
 * the lock. */
static int
lmd_engine_publish_locked(struct lmd_engine *e)
{
    struct lmd_gen  **t;
    size_t            n, i;

    t = lmd_sched_touched(e->sched, &n);
    for (i = 0; i < n; i++) {
        lmd_engine_ready_locked(e, t[i]);
    }
    return n > 0;
}


/* Submitted requests into the scheduler; 1 if one of them could not
 * join it (and is on the ready list, ended).  Under the lock. */
static int
lmd_engine_take_inbox_locked(struct lmd_engine *e)
{
    struct lmd_gen  *g;
    int              failed = 0;

    while ((g = e->inbox) != NULL) {
        e->inbox = g->inbox_next;
        g->inbox_next = NULL;
        if (lmd_sched_add(e->sched, g) != LMD_OK) {
            pthread_mutex_lock(&g->lock);
            lmd_gen_finish_locked(g, LMD_GEN_ERROR, "out of memory in the "
                                  "scheduler", lmd_engine_now(e));
            pthread_mutex_unlock(&g->lock);
            g->state = LMD_SEQ_DONE;
            lmd_engine_ready_locked(e, g);      /* the engine's ref */
            failed = 1;
        }
    }
    e->inbox_tail = NULL;
    e->n_inbox = 0;
    return failed;
}


/* The stats snapshot the loop reads.  Under the lock. */
static void
lmd_engine_snapshot_locked(struct lmd_engine *e)
{
    struct lmd_sched_stats  ss;
    struct lmd_kvc_stats    ks;
    struct lmd_engine_stats *st = &e->stats;

    lmd_sched_stats(e->sched, &ss);
    lmd_kvc_stats(e->kvc, &ks);
    st->running = ss.running;
    st->waiting = ss.waiting;
    st->blocks_used = ks.used;
    st->blocks_cached = ks.cached;
    st->prompt_tokens = ss.prompt_tokens;
    st->generation_tokens = ss.generation_tokens;
    st->prefix_hit_tokens = ss.prefix_hit_tokens;
    st->prefix_query_tokens = ss.prefix_query_tokens;
    st->preemptions = ss.preemptions;
    st->steps = ss.steps;
}


static void
lmd_engine_serve(struct lmd_engine *e)
{
    int  news;

    pthread_mutex_lock(&e->lock);
    if (e->sched == NULL) {             /* serves nothing: wait for stop */
        while (!e->stop) {
            pthread_cond_wait(&e->wake, &e->lock);
        }
        pthread_mutex_unlock(&e->lock);
        return;
    }
    for ( ;; ) {
        news = lmd_engine_take_inbox_locked(e);
        lmd_engine_snapshot_locked(e);
        if (e->stop) {
            break;
        }
        if (news) {
            pthread_mutex_unlock(&e->lock);
            e->notify(e->data);
            pthread_mutex_lock(&e->lock);
        }
        if (lmd_sched_idle(e->sched)) {
            pthread_cond_wait(&e->wake, &e->lock);
            continue;
        }
        pthread_mutex_unlock(&e->lock);

        lmd_sched_step(e->sched);

        pthread_mutex_lock(&e->lock);
        news = lmd_engine_publish_locked(e);
        lmd_engine_snapshot_locked(e);
        if (news) {
            pthread_mutex_unlock(&e->lock);
            e->notify(e->data);
            pthread_mutex_lock(&e->lock);
        }
    }
    pthread_mutex_unlock(&e->lock);

    /* stop: end everything still held; lmd_engine_stop calls back */
    lmd_sched_drain(e->sched, "shutting down");
    pthread_mutex_lock(&e->lock);
    lmd_engine_publish_locked(e);
    lmd_engine_snapshot_locked(e);
    pthread_mutex_unlock(&e->lock);
}


/* Models load one at a time (open, memory report, pool): a model's
 * report then counts the pools of those loaded before it, where two
 * models on one GPU would otherwise both size theirs from the same free
 * memory and the second would not fit. */
static pthread_mutex_t  lmd_engine_load_lock = PTHREAD_MUTEX_INITIALIZER;


static void *
lmd_engine_main(void *arg)
{
    struct lmd_engine            *e = arg;
    const struct lmd_engine_ops  *ops = &e->module->ops.engine;
    char                          err[LMD_MODULE_ERR_LEN];
    int                           rc;

    err[0] = '\0';
    pthread_mutex_lock(&lmd_engine_load_lock);
    rc = ops->open(e->host, &e->params, &e->engine, err, sizeof(err));
    if (rc != LMD_MODULE_OK) {
        pthread_mutex_unlock(&lmd_engine_load_lock);
        pthread_mutex_lock(&e->lock);
        snprintf(e->err, sizeof(e->err), "%s",
                 err[0] ? err : "the engine did not say why");
        pthread_mutex_unlock(&e->lock);
        e->engine = NULL;
        lmd_engine_set_state(e, LMD_ENGINE_FAILED);
        return NULL;
    }

    err[0] = '\0';
    rc = lmd_engine_setup(e, err, sizeof(err));
    pthread_mutex_unlock(&lmd_engine_load_lock);
    if (rc != LMD_OK) {
        lmd_engine_teardown(e);
        ops->close(e->engine);
        e->engine = NULL;
        pthread_mutex_lock(&e->lock);
        snprintf(e->err, sizeof(e->err), "%s", err);
        pthread_mutex_unlock(&e->lock);
        lmd_engine_set_state(e, LMD_ENGINE_FAILED);
        return NULL;
    }
    lmd_engine_set_state(e, LMD_ENGINE_READY);

    lmd_engine_serve(e);

    lmd_engine_teardown(e);
    ops->close(e->engine);
    e->engine = NULL;
    pthread_mutex_lock(&e->lock);
    e->state = LMD_ENGINE_STOPPED;
    pthread_mutex_unlock(&e->lock);
    return NULL;
}


/* ---------------------------------------------------------- loop side */

struct lmd_engine *
lmd_engine_start(const struct lmd_module *module,
    const struct lmd_host *host, const struct lmd_engine_params *params,
    const struct lmd_serve_params *serve, lmd_engine_notify_pt notify,
    void *data, char *err, size_t errlen)
{
    struct lmd_engine  *e;
    int                 rc;

    e = calloc(1, sizeof(struct lmd_engine));
    if (e == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->module = module;
    e->host = host;
    e->notify = notify;
    e->data = data;
    e->name = strdup(params->name);
    e->path = strdup(params->path);
    e->load_format = strdup(params->load_format);
    e->weights = strdup(params->weights != NULL ? params->weights : "auto");
    if (e->name == NULL || e->path == NULL || e->load_format == NULL
        || e->weights == NULL)
    {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }
    e->params = *params;
    e->params.name = e->name;
    e->params.path = e->path;
    e->params.load_format = e->load_format;
    e->params.weights = e->weights;
    lmd_engine_serve_defaults(e, serve);

    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->wake, NULL);
    e->state = LMD_ENGINE_LOADING;

    rc = pthread_create(&e->thread, NULL, lmd_engine_main, e);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the engine thread for \"%s\": "
                 "%s", params->name, strerror(rc));
        pthread_mutex_destroy(&e->lock);
        pthread_cond_destroy(&e->wake);
        goto failed;
    }
    return e;

failed:
    free(e->name);
    free(e->path);
    free(e->load_format);
    free(e->weights);
    free(e);
    return NULL;
}


/* Why p cannot run here, or LMD_OK.  Under the lock. */
static int
lmd_engine_check_locked(struct lmd_engine *e, const int32_t *prompt,
    uint32_t n, const struct lmd_gen_params *p, char *err, size_t errlen)
{
    uint64_t  total = (uint64_t) n + p->max_tokens;
    uint64_t  pool = (uint64_t) e->n_blocks * e->serve.block_size;
    uint32_t  i;

    if (e->state != LMD_ENGINE_READY || e->stop) {
        snprintf(err, errlen, "model \"%s\" is not ready", e->name);
        return LMD_DECLINED;
    }
    if (e->sched == NULL) {
        snprintf(err, errlen, "model \"%s\"'s engine \"%s\" generates "
                 "nothing", e->name,
                 e->module->name ? e->module->name : "?");
        return LMD_DECLINED;
    }
    if (n == 0) {
        snprintf(err, errlen, "the prompt is empty");
        return LMD_DECLINED;
    }
    if (p->max_tokens == 0) {
        snprintf(err, errlen, "max_tokens must be at least 1");
        return LMD_DECLINED;
    }
    if (total > e->mem.max_context) {
        snprintf(err, errlen, "the prompt's %u tokens plus max_tokens %u "
                 "are more than model \"%s\"'s context of %u tokens", n,
                 p->max_tokens, e->name, e->mem.max_context);
        return LMD_DECLINED;
    }
    if (total > pool) {
        snprintf(err, errlen, "the prompt's %u tokens plus max_tokens %u "
                 "are more than model \"%s\"'s KV pool holds (%llu tokens)",
                 n, p->max_tokens, e->name, (unsigned long long) pool);
        return LMD_DECLINED;
    }
    /* a bad id would fail the whole batch's forward: refuse it here */
    for (i = 0; i < n; i++) {
        if (prompt[i] < 0 || (uint32_t) prompt[i] >= e->mem.vocab_size) {
            snprintf(err, errlen, "token id %d at %u is outside model "
                     "\"%s\"'s vocabulary (%u ids)", (int) prompt[i], i,
                     e->name, e->mem.vocab_size);
            return LMD_DECLINED;
        }
    }
    if ((uint64_t) e->n_inbox + e->stats.waiting >= e->serve.max_queue) {
        snprintf(err, errlen, "model \"%s\": %u requests are waiting "
                 "already (max_queue)", e->name, e->serve.max_queue);
        return LMD_AGAIN;
    }
    return LMD_OK;
}


struct lmd_gen *
lmd_engine_submit(struct lmd_engine *e, const int32_t *prompt, uint32_t n,
    const struct lmd_gen_params *p, lmd_gen_output_pt on_output,
    void *data, int *rc, char *err, size_t errlen)
{
    struct lmd_gen  *g;

    pthread_mutex_lock(&e->lock);
    *rc = lmd_engine_check_locked(e, prompt, n, p, err, errlen);
    if (*rc != LMD_OK) {
        pthread_mutex_unlock(&e->lock);
        return NULL;
    }
    g = lmd_gen_create(prompt, n, p, e->mem.vocab_size, n + p->max_tokens,
                       e->serve.block_size, on_output, data,
                       lmd_engine_now(e));
    if (g == NULL) {
        pthread_mutex_unlock(&e->lock);
        snprintf(err, errlen, "out of memory for a request of %u tokens",
                 n);
        *rc = LMD_ERROR;
        return NULL;
    }
    g->inbox_next = NULL;
    if (e->inbox_tail != NULL) {
        e->inbox_tail->inbox_next = g;
    } else {
        e->inbox = g;
    }
    e->inbox_tail = g;
    e->n_inbox++;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
    return g;
}


void
lmd_engine_dispatch(struct lmd_engine *e)
{
    struct lmd_gen  *g, *next;

    pthread_mutex_lock(&e->lock);
    g = e->ready;
    e->ready = e->ready_tail = NULL;
    pthread_mutex_unlock(&e->lock);

    for ( ; g != NULL; g = next) {
        /* read the link before clearing the flag: from then on the
         * engine may queue g again */
        pthread_mutex_lock(&e->lock);
        next = g->ready_next;
        g->ready_next = NULL;
        g->ready = 0;
        pthread_mutex_unlock(&e->lock);
        if (!lmd_gen_is_closed(g) && g->on_output != NULL) {
            g->on_output(g, g->data);
        }
        lmd_gen_unref(g);                   /* the ready list's */
    }
}


void
lmd_engine_stats(struct lmd_engine *e, struct lmd_engine_stats *st)
{
    pthread_mutex_lock(&e->lock);
    *st = e->stats;
    st->waiting += e->n_inbox;          /* submitted, not yet seen */
    pthread_mutex_unlock(&e->lock);
}


int
lmd_engine_state(struct lmd_engine *e, char *err, size_t errlen)
{
    int  state;

    pthread_mutex_lock(&e->lock);
    state = e->state;
    if (err != NULL && errlen > 0) {
        snprintf(err, errlen, "%s", e->err);
    }
    pthread_mutex_unlock(&e->lock);
    return state;
}


void
lmd_engine_memory(struct lmd_engine *e, struct lmd_engine_memory *mem)
{
    pthread_mutex_lock(&e->lock);
    *mem = e->mem;
    pthread_mutex_unlock(&e->lock);
}


void
lmd_engine_stop(struct lmd_engine *e)
{
    if (e == NULL) {
        return;
    }
    pthread_mutex_lock(&e->lock);
    e->stop = 1;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);

    pthread_join(e->thread, NULL);

    /* the requests the thread ended on its way out */
    lmd_engine_dispatch(e);

    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->wake);
    free(e->name);
    free(e->path);
    free(e->load_format);
    free(e->weights);
    free(e);
}
