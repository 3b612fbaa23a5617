/*
 * lmd_sched.c -- the continuous-batching scheduler (lmd_sched.h).
 *
 * Design: two lists of requests (lmd_gen_internal.h), both oldest first:
 * `waiting`, a FIFO of requests that hold no KV blocks, and `running`,
 * the requests that hold blocks and join every step.  A request knows
 * n_tokens tokens (prompt, then output) of which the first n_computed
 * have their K/V in its blocks; it decodes when exactly one token is
 * left to compute (the last one sampled), and is still prefilling when
 * more are.  Each lmd_sched_step runs in a fixed order:
 *
 *   1. sweep:   drop closed requests (their blocks go back), end waiting
 *               ones never admitted within queue_timeout;
 *   2. decode:  one token for each decoding request, oldest first; one
 *               that needs a new block and finds none preempts the
 *               youngest running request (maybe itself) and tries again;
 *   3. prefill: what is left of max_batched_tokens goes to prompt chunks,
 *               first of running requests, then of waiting ones admitted
 *               in order while the batch has room, each looked up in the
 *               prefix cache first; blocks are taken for the chunk only,
 *               and admission stops at the first request they cannot
 *               cover (prefills never preempt);
 *   4. forward: one batched call; every request whose chunk reaches its
 *               last known token asks for one row of logits, which its
 *               sampler turns into the next token;
 *   5. emit:    the token joins the request's output queue, blocks that
 *               filled up are registered in the prefix cache, finished
 *               requests give their blocks back.
 *
 * Preemption is by recomputation: the victim keeps its tokens and its
 * sampler and waits at the front of the queue; admitted again, it
 * prefills prompt and output so far (much of it from the prefix cache,
 * which its own released blocks just joined) and samples only the tokens
 * after them, so its output goes on as if nothing had happened.
 */

#include "lmd_sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lmd_common.h"
#include "lmd_gen_internal.h"

struct lmd_seq_list {
    struct lmd_gen     *head, *tail;    /* oldest first */
    uint32_t            n;
};

struct lmd_sched {
    const struct lmd_module    *module;
    void                       *engine;     /* the module's state */
    const struct lmd_host      *host;
    struct lmd_kvc             *kvc;
    struct lmd_sched_params     p;

    struct lmd_seq_list         waiting, running;

    /* the step being built: in[i] is batch[i]'s part */
    struct lmd_seq_input       *in;         /* [max_batch_size] */
    struct lmd_gen            **batch;      /* [max_batch_size] */
    uint32_t                    n_batch;
    int                         preempted;  /* in this step */
    float                      *logits;     /* [logits_rows][vocab] */
    size_t                      logits_rows;
    struct lmd_sample_req      *reqs;       /* device sampling: [rows] */
    int32_t                    *ids;        /* [rows] */
    float                      *lps;        /* [rows] */
    size_t                      reqs_rows;

    struct lmd_gen            **touched;    /* news for the engine */
    size_t                      n_touched, touched_cap;

    struct lmd_sched_stats      stats;
    char                        err[LMD_MODULE_ERR_LEN];
};


static uint64_t
lmd_sched_now(const struct lmd_sched *s)
{
    struct timespec  ts;

    if (s->host != NULL && s->host->now_ns != NULL) {
        return s->host->now_ns();
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}


/* ------------------------------------------------------------- lists */

static void
lmd_list_push_back(struct lmd_seq_list *l, struct lmd_gen *g)
{
    g->prev = l->tail;
    g->next = NULL;
    if (l->tail != NULL) {
        l->tail->next = g;
    } else {
        l->head = g;
    }
    l->tail = g;
    l->n++;
}


static void
lmd_list_push_front(struct lmd_seq_list *l, struct lmd_gen *g)
{
    g->prev = NULL;
    g->next = l->head;
    if (l->head != NULL) {
        l->head->prev = g;
    } else {
        l->tail = g;
    }
    l->head = g;
    l->n++;
}


static void
lmd_list_unlink(struct lmd_seq_list *l, struct lmd_gen *g)
{
    if (g->prev != NULL) {
        g->prev->next = g->next;
    } else {
        l->head = g->next;
    }
    if (g->next != NULL) {
        g->next->prev = g->prev;
    } else {
        l->tail = g->prev;
    }
    g->prev = g->next = NULL;
    l->n--;
}


static struct lmd_seq_list *
lmd_sched_list_of(struct lmd_sched *s, struct lmd_gen *g)
{
    return g->state == LMD_SEQ_RUNNING ? &s->running : &s->waiting;
}


/* ------------------------------------------------------- create, free */

struct lmd_sched *
lmd_sched_create(const struct lmd_module *module, void *engine,
    const struct lmd_host *host, struct lmd_kvc *kvc,
    const struct lmd_sched_params *p)
{
    struct lmd_sched  *s;

    s = calloc(1, sizeof(struct lmd_sched));
    if (s == NULL) {
        return NULL;
    }
    s->module = module;
    s->engine = engine;
    s->host = host;
    s->kvc = kvc;
    s->p = *p;
    s->in = calloc(p->max_batch_size, sizeof(struct lmd_seq_input));
    s->batch = calloc(p->max_batch_size, sizeof(struct lmd_gen *));
    if (s->in == NULL || s->batch == NULL) {
        lmd_sched_free(s);
        return NULL;
    }
    return s;
}


void
lmd_sched_free(struct lmd_sched *s)
{
    if (s == NULL) {
        return;
    }
    free(s->in);
    free(s->batch);
    free(s->logits);
    free(s->reqs);
    free(s->ids);
    free(s->lps);
    free(s->touched);
    free(s);
}


/* Room in touched[] for every request s holds, so that recording news
 * never fails mid-step. */
static int
lmd_sched_touched_room(struct lmd_sched *s, size_t want)
{
    struct lmd_gen  **t;
    size_t            cap;

    if (want <= s->touched_cap) {
        return LMD_OK;
    }
    cap = s->touched_cap ? s->touched_cap : 16;
    while (cap < want) {
        cap *= 2;
    }
    t = realloc(s->touched, cap * sizeof(struct lmd_gen *));
    if (t == NULL) {
        return LMD_ERROR;
    }
    s->touched = t;
    s->touched_cap = cap;
    return LMD_OK;
}


int
lmd_sched_add(struct lmd_sched *s, struct lmd_gen *g)
{
    size_t  held = (size_t) s->waiting.n + s->running.n + s->n_touched;

    if (lmd_sched_touched_room(s, held + 1) != LMD_OK) {
        return LMD_ERROR;
    }
    g->state = LMD_SEQ_WAITING;
    lmd_list_push_back(&s->waiting, g);
    return LMD_OK;
}


int
lmd_sched_idle(const struct lmd_sched *s)
{
    return s->waiting.n == 0 && s->running.n == 0;
}


struct lmd_gen **
lmd_sched_touched(struct lmd_sched *s, size_t *n)
{
    *n = s->n_touched;
    s->n_touched = 0;
    return s->touched;
}


void
lmd_sched_stats(const struct lmd_sched *s, struct lmd_sched_stats *st)
{
    *st = s->stats;
    st->running = s->running.n;
    st->waiting = s->waiting.n;
}


/* ----------------------------------------------- leaving the batch */

static void
lmd_sched_touch(struct lmd_sched *s, struct lmd_gen *g)
{
    /* room was made when g was added (lmd_sched_add); a request appears
     * at most once per step */
    if (s->n_touched < s->touched_cap) {
        lmd_gen_ref(g);
        s->touched[s->n_touched++] = g;
    }
}


static void
lmd_sched_release(struct lmd_sched *s, struct lmd_gen *g)
{
    lmd_kvc_release(s->kvc, g->blocks, g->n_blocks);
    g->n_blocks = 0;
    g->n_committed = 0;
    g->n_computed = 0;
}


/* g leaves the scheduler for good; the scheduler's reference goes. */
static void
lmd_sched_remove(struct lmd_sched *s, struct lmd_gen *g)
{
    lmd_sched_release(s, g);
    lmd_list_unlink(lmd_sched_list_of(s, g), g);
    g->state = LMD_SEQ_DONE;
    lmd_gen_unref(g);
}


/* Ends g with finish (enum lmd_gen_finish) and tells the loop. */
static void
lmd_sched_retire(struct lmd_sched *s, struct lmd_gen *g, int finish,
    const char *err, uint64_t now)
{
    pthread_mutex_lock(&g->lock);
    lmd_gen_finish_locked(g, finish, err, now);
    pthread_mutex_unlock(&g->lock);
    lmd_sched_touch(s, g);
    lmd_sched_remove(s, g);
}


/* The youngest running request gives its blocks back and waits first in
 * line, to be recomputed later. */
static void
lmd_sched_preempt(struct lmd_sched *s, struct lmd_gen *g)
{
    lmd_sched_release(s, g);
    lmd_list_unlink(&s->running, g);
    g->state = LMD_SEQ_WAITING;
    lmd_list_push_front(&s->waiting, g);
    s->preempted = 1;
    s->stats.preemptions++;
    pthread_mutex_lock(&g->lock);
    g->info.preemptions++;
    pthread_mutex_unlock(&g->lock);
}


void
lmd_sched_drain(struct lmd_sched *s, const char *reason)
{
    uint64_t  now = lmd_sched_now(s);

    while (s->running.head != NULL) {
        lmd_sched_retire(s, s->running.head, LMD_GEN_ERROR, reason, now);
    }
    while (s->waiting.head != NULL) {
        lmd_sched_retire(s, s->waiting.head, LMD_GEN_ERROR, reason, now);
    }
}


/* --------------------------------------------------------- 1. sweep */

static void
lmd_sched_sweep(struct lmd_sched *s, uint64_t now)
{
    struct lmd_gen  *g, *next;
    char             why[128];

    for (g = s->running.head; g != NULL; g = next) {
        next = g->next;
        if (lmd_gen_is_closed(g)) {
            lmd_sched_remove(s, g);
        }
    }
    for (g = s->waiting.head; g != NULL; g = next) {
        next = g->next;
        if (lmd_gen_is_closed(g)) {
            lmd_sched_remove(s, g);

        } else if (g->info.scheduled_ns == 0 && s->p.queue_timeout_ns > 0
                   && now - g->info.submitted_ns > s->p.queue_timeout_ns)
        {
            /* only never-admitted requests: a preempted one has output */
            snprintf(why, sizeof(why), "waited in the queue for more than "
                     "%llu ms", (unsigned long long)
                     (s->p.queue_timeout_ns / 1000000));
            lmd_sched_retire(s, g, LMD_GEN_TIMEOUT, why, now);
        }
    }
}


/* --------------------------------------------------- building a step */

static void
lmd_sched_batch_add(struct lmd_sched *s, struct lmd_gen *g, uint32_t n)
{
    struct lmd_seq_input  *in = &s->in[s->n_batch];

    in->tokens = g->tokens + g->n_computed;
    in->n_tokens = n;
    in->pos = g->n_computed;
    in->blocks = g->blocks;
    in->n_blocks = g->n_blocks;
    /* logits only where the chunk reaches the last known token */
    in->n_logits = g->n_computed + n == g->n_tokens ? 1 : 0;
    s->batch[s->n_batch++] = g;
}


/* Takes blocks until g's table covers `tokens` positions or none is
 * left; returns how many positions it covers. */
static uint32_t
lmd_sched_grow(struct lmd_sched *s, struct lmd_gen *g, uint32_t tokens)
{
    uint32_t  b, bs = s->p.block_size;

    while ((uint64_t) g->n_blocks * bs < tokens
           && g->n_blocks < g->max_blocks)
    {
        b = lmd_kvc_alloc(s->kvc);
        if (b == LMD_KVC_NONE) {
            break;
        }
        g->blocks[g->n_blocks++] = b;
    }
    return g->n_blocks * bs;
}


/* 2. One token for each decoding request, oldest first. */
static void
lmd_sched_decodes(struct lmd_sched *s)
{
    struct lmd_gen  *g, *victim;
    uint32_t         pos;

    g = s->running.head;
    while (g != NULL && s->n_batch < s->p.max_batch_size) {
        if (g->n_tokens - g->n_computed != 1) {
            g = g->next;
            continue;
        }
        pos = g->n_computed;
        while (lmd_sched_grow(s, g, pos + 1) <= pos) {
            /* no block: the youngest running request makes room; it is
             * not in the batch yet, as it is not older than g */
            victim = s->running.tail;
            lmd_sched_preempt(s, victim);
            if (victim == g) {
                break;
            }
        }
        if (g->state != LMD_SEQ_RUNNING) {
            break;                  /* g was the youngest: none after it */
        }
        lmd_sched_batch_add(s, g, 1);
        g = g->next;
    }
}


/* 3a. Further chunks of prompts already running. */
static void
lmd_sched_prefills(struct lmd_sched *s, uint32_t *budget)
{
    struct lmd_gen  *g;
    uint32_t         left, chunk, room;

    for (g = s->running.head; g != NULL && *budget > 0; g = g->next) {
        left = g->n_tokens - g->n_computed;
        if (left <= 1 || s->n_batch == s->p.max_batch_size) {
            continue;               /* decoding: in the batch already */
        }
        chunk = left < *budget ? left : *budget;
        room = lmd_sched_grow(s, g, g->n_computed + chunk) - g->n_computed;
        if (chunk > room) {
            chunk = room;
        }
        if (chunk == 0) {
            continue;
        }
        lmd_sched_batch_add(s, g, chunk);
        *budget -= chunk;
    }
}


/* 3b. Waiting requests join in order while the batch, the token budget
 * and the free blocks allow. */
static void
lmd_sched_admit(struct lmd_sched *s, uint32_t *budget, uint64_t now)
{
    struct lmd_gen  *g;
    uint32_t         n, m, cached, chunk, need, i, bs = s->p.block_size;
    int              first;

    while (s->waiting.head != NULL && *budget > 0
           && s->running.n < s->p.max_batch_size
           && s->n_batch < s->p.max_batch_size)
    {
        g = s->waiting.head;
        n = g->n_tokens;

        /* reuse a cached prefix, leaving one token to compute logits */
        m = lmd_kvc_match(s->kvc, g->tokens, n, n - 1, g->blocks, g->keys);
        cached = m * bs;
        chunk = n - cached < *budget ? n - cached : *budget;
        need = (cached + chunk + bs - 1) / bs - m;
        if (lmd_kvc_available(s->kvc) < need) {
            lmd_kvc_release(s->kvc, g->blocks, m);
            break;
        }
        for (i = 0; i < need; i++) {
            g->blocks[m + i] = lmd_kvc_alloc(s->kvc);
        }
        g->n_blocks = m + need;
        g->n_committed = m;
        g->n_computed = cached;

        lmd_list_unlink(&s->waiting, g);
        g->state = LMD_SEQ_RUNNING;
        lmd_list_push_back(&s->running, g);

        pthread_mutex_lock(&g->lock);
        first = g->info.scheduled_ns == 0;
        if (first) {
            g->info.scheduled_ns = now;
        }
        g->info.cached_tokens = cached < g->n_prompt ? cached : g->n_prompt;
        pthread_mutex_unlock(&g->lock);

        if (first) {
            s->stats.prompt_tokens += g->n_prompt;
        }
        s->stats.prefix_query_tokens += n;
        s->stats.prefix_hit_tokens += cached;

        lmd_sched_batch_add(s, g, chunk);
        *budget -= chunk;
    }
}


/* ------------------------------------------------ forward and emit */

/* Registers every block of g that the step filled. */
static void
lmd_sched_commit(struct lmd_sched *s, struct lmd_gen *g)
{
    uint32_t  b, bs = s->p.block_size;

    while ((uint64_t) (g->n_committed + 1) * bs <= g->n_computed) {
        b = g->n_committed;
        g->keys[b] = lmd_kvc_commit(s->kvc, g->blocks[b],
                                    b > 0 ? g->keys[b - 1] : 0,
                                    g->tokens + (size_t) b * bs);
        g->n_committed++;
    }
}


static int
lmd_sched_is_stop(const struct lmd_gen *g, int32_t id)
{
    size_t  i;

    if (g->params.ignore_eos) {
        return 0;
    }
    for (i = 0; i < g->params.n_stop_ids; i++) {
        if (g->params.stop_ids[i] == id) {
            return 1;
        }
    }
    return 0;
}


/* Hands g's next token (and res, when g wants logprobs) to the loop. */
static void
lmd_sched_deliver(struct lmd_sched *s, struct lmd_gen *g, int32_t id,
    struct lmd_sample_result *res, uint64_t now)
{
    const char  *err = NULL;
    int          finish = LMD_GEN_RUNNING;

    s->stats.generation_tokens++;

    pthread_mutex_lock(&g->lock);
    g->info.completion_tokens++;
    if (g->info.first_token_ns == 0) {
        g->info.first_token_ns = now;
    }
    if (lmd_sched_is_stop(g, id)) {
        finish = LMD_GEN_STOP;      /* counted, not output */

    } else if (lmd_gen_push_locked(g, id, g->params.logprobs ? res : NULL)
               != LMD_OK)
    {
        finish = LMD_GEN_ERROR;
        err = "out of memory for the output";

    } else {
        g->tokens[g->n_tokens++] = id;
        if (g->info.completion_tokens >= g->params.max_tokens
            || g->n_tokens >= g->limit
            || g->n_tokens >= s->p.max_context)
        {
            finish = LMD_GEN_LENGTH;
        }
    }
    pthread_mutex_unlock(&g->lock);

    if (finish != LMD_GEN_RUNNING) {
        lmd_sched_retire(s, g, finish, err, now);
    } else {
        lmd_sched_touch(s, g);
    }
}


/* Samples g's next token from row on the host. */
static void
lmd_sched_emit(struct lmd_sched *s, struct lmd_gen *g, float *row,
    uint64_t now)
{
    struct lmd_sample_result   res;
    int32_t                    id;

    id = lmd_sampler_sample(g->sampler, row,
                            g->params.logprobs ? &res : NULL);
    lmd_sched_deliver(s, g, id, &res, now);
}


/* Can this step's tokens be picked by the engine?  Not when a request
 * wants alternatives (top_logprobs), which need the whole row. */
static int
lmd_sched_device_ok(const struct lmd_sched *s)
{
    uint32_t  i;

    if (!s->p.device_sample) {
        return 0;
    }
    for (i = 0; i < s->n_batch; i++) {
        if (s->in[i].n_logits > 0
            && lmd_sampler_params(s->batch[i]->sampler)->top_logprobs > 0)
        {
            return 0;
        }
    }
    return 1;
}


/* The engine's sampling requests of the step's rows (reqs sized). */
static void
lmd_sched_sample_reqs(struct lmd_sched *s)
{
    const struct lmd_sampling  *p;
    struct lmd_sample_req      *r;
    struct lmd_gen             *g;
    uint32_t                    i, row = 0;

    for (i = 0; i < s->n_batch; i++) {
        if (s->in[i].n_logits == 0) {
            continue;
        }
        g = s->batch[i];
        p = lmd_sampler_params(g->sampler);
        r = &s->reqs[row++];
        memset(r, 0, sizeof(*r));
        r->temperature = p->temperature;
        r->top_p = p->top_p;
        r->min_p = p->min_p;
        r->top_k = p->top_k;
        r->repetition_penalty = p->repetition_penalty;
        r->frequency_penalty = p->frequency_penalty;
        r->presence_penalty = p->presence_penalty;
        r->bias = p->logit_bias;
        r->n_bias = (uint32_t) p->n_logit_bias;
        r->prompt = g->tokens;
        r->n_prompt = g->n_prompt;
        r->output = g->tokens + g->n_prompt;
        r->n_output = g->n_tokens - g->n_prompt;
        r->key = lmd_sampler_next_key(g->sampler);
    }
}


/* 4 and 5: the forward of the batch built, then each request's news. */
static void
lmd_sched_run(struct lmd_sched *s)
{
    struct lmd_batch           batch;
    struct lmd_sample_result   res;
    struct lmd_gen            *g;
    int                        device;
    char                       why[sizeof(s->err) + 16];
    size_t                     rows = 0, row = 0, V = s->p.vocab_size;
    uint32_t                   i;
    uint64_t                   now;
    float                     *p;

    for (i = 0; i < s->n_batch; i++) {
        rows += s->in[i].n_logits;
    }
    s->err[0] = '\0';
    device = rows > 0 && lmd_sched_device_ok(s);
    if (device && rows > s->reqs_rows) {
        free(s->reqs);
        free(s->ids);
        free(s->lps);
        s->reqs = malloc(rows * sizeof(struct lmd_sample_req));
        s->ids = malloc(rows * sizeof(int32_t));
        s->lps = malloc(rows * sizeof(float));
        s->reqs_rows = rows;
        if (s->reqs == NULL || s->ids == NULL || s->lps == NULL) {
            s->reqs_rows = 0;
            snprintf(s->err, sizeof(s->err), "out of memory for %zu "
                     "sampling requests", rows);
            goto failed;
        }
    }
    if (!device && rows > s->logits_rows) {
        p = realloc(s->logits, rows * V * sizeof(float));
        if (p == NULL) {
            snprintf(s->err, sizeof(s->err), "out of memory for %zu rows "
                     "of logits", rows);
            goto failed;
        }
        s->logits = p;
        s->logits_rows = rows;
    }

    memset(&batch, 0, sizeof(batch));
    batch.seqs = s->in;
    batch.n_seqs = s->n_batch;
    batch.logits = rows > 0 && !device ? s->logits : NULL;
    if (device) {
        lmd_sched_sample_reqs(s);
        batch.sample = s->reqs;
        batch.ids = s->ids;
        batch.logprobs = s->lps;
    }
    s->stats.steps++;
    if (s->module->ops.engine.forward(s->engine, &batch, s->err,
                                      sizeof(s->err)) != LMD_MODULE_OK)
    {
        goto failed;
    }

    now = lmd_sched_now(s);
    for (i = 0; i < s->n_batch; i++) {
        g = s->batch[i];
        g->n_computed += s->in[i].n_tokens;
        lmd_sched_commit(s, g);
        if (s->in[i].n_logits > 0 && device) {
            memset(&res, 0, sizeof(res));
            res.id = s->ids[row];
            res.logprob = s->lps[row];
            lmd_sampler_accept(g->sampler, res.id);
            lmd_sched_deliver(s, g, res.id, &res, now);
            row++;
        } else if (s->in[i].n_logits > 0) {
            lmd_sched_emit(s, g, s->logits + row * V, now);
            row++;
        }
    }
    return;

failed:
    /* the batch's requests end; the engine and the others go on */
    snprintf(why, sizeof(why), "forward: %s",
             s->err[0] ? s->err : "the engine failed");
    now = lmd_sched_now(s);
    for (i = 0; i < s->n_batch; i++) {
        lmd_sched_retire(s, s->batch[i], LMD_GEN_ERROR, why, now);
    }
}


int
lmd_sched_step(struct lmd_sched *s)
{
    uint64_t  now = lmd_sched_now(s);
    uint32_t  budget;

    lmd_sched_sweep(s, now);
    s->preempted = 0;

    for ( ;; ) {
        s->n_batch = 0;
        lmd_sched_decodes(s);
        budget = s->p.max_batched_tokens > s->n_batch
                 ? s->p.max_batched_tokens - s->n_batch : 0;
        lmd_sched_prefills(s, &budget);
        if (!s->preempted) {
            /* a victim of this step would only come straight back */
            lmd_sched_admit(s, &budget, now);
        }
        if (s->n_batch > 0 || s->running.n == 0) {
            break;
        }
        /* running prefills hold every block and none can move: the
         * youngest steps back so that the older ones can */
        lmd_sched_preempt(s, s->running.tail);
    }

    if (s->n_batch > 0) {
        lmd_sched_run(s);
    }
    return LMD_OK;
}
