/*
 * test_sched.c -- the serving engine (lmd_engine.c) and its scheduler
 * (lmd_sched.c) driven as the daemon drives them: a real engine thread
 * on lmd_engine_cpu.so, requests submitted from this thread, notify
 * waking it, and lmd_engine_dispatch calling the requests back here.
 *
 * The model is a small random Llama written by model_ref.c (GQA, 256
 * positions; a second one of 2048 positions for the long runs), opened
 * with weights f32 on one thread, KV blocks of 16 tokens so that short
 * prompts span several.  Every request is greedy (temperature 0), and
 * the cpu engine gives every sequence the same bits whatever else is in
 * its batch, however its prompt is chunked and wherever its blocks are
 * (test_model_batch.c), so a request must give exactly the tokens it
 * gives alone: that is the reference the cases compare with.  Each case
 * states its assumption.
 */

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lmd_test.h"
#include "model_ref.c"

#include "lmd_common.h"
#include "lmd_engine.h"
#include "lmd_gen.h"

#define BS          16          /* block_size of every engine here */
#define N_REQ       12
#define MAX_OUT     2048
#define WAIT_S      60.0        /* a case gives up after this */

/* The 12 requests of cases (a) and (b): prompt lengths around block
 * edges, and as many tokens to generate. */
static const uint32_t  req_prompt[N_REQ] = {
    1, 5, 16, 17, 31, 33, 47, 60, 64, 80, 100, 3
};
static const uint32_t  req_max[N_REQ] = {
    1, 20, 7, 30, 16, 3, 25, 12, 40, 9, 18, 33
};


/* ------------------------------------------------------------------------
 * The loop side: a wakeup, requests, dispatch
 * ------------------------------------------------------------------------ */

struct waiter {
    pthread_mutex_t     lock;
    pthread_cond_t      cond;
    int                 fired;
};

/* What one request got back, filled by its callback. */
struct req {
    struct lmd_gen     *g;
    int32_t            *prompt;
    uint32_t            n_prompt;
    int32_t             out[MAX_OUT];
    uint32_t            n_out;
    int                 done;           /* finish seen: g closed */
    int                 closed;         /* the test closed g */
    int                 calls_after_close;
    uint32_t            close_after;    /* close once this many came */
    int                 top_ok;         /* logprobs: top[0] is the id */
    int                 top_bad;
    struct lmd_gen_info info;
};


static void
waiter_init(struct waiter *w)
{
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->fired = 0;
}


static void
waiter_free(struct waiter *w)
{
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
}


/* The engine thread's notify: what the daemon's loop wakeup does. */
static void
notify(void *data)
{
    struct waiter  *w = data;

    pthread_mutex_lock(&w->lock);
    w->fired = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}


/* Sleeps until notified or 20 ms passed. */
static void
waiter_wait(struct waiter *w)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 20000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&w->lock);
    while (!w->fired) {
        if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) != 0) {
            break;
        }
    }
    w->fired = 0;
    pthread_mutex_unlock(&w->lock);
}


static double
now_s(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
on_output(struct lmd_gen *g, void *data)
{
    struct req            *r = data;
    struct lmd_gen_token   t[8];
    size_t                 n, i;

    if (r->closed) {
        r->calls_after_close++;
        return;
    }
    while ((n = lmd_gen_take(g, t, 8)) > 0) {
        for (i = 0; i < n; i++) {
            if (r->n_out < MAX_OUT) {
                r->out[r->n_out++] = t[i].id;
            }
            if (t[i].n_top > 0) {
                if (t[i].top[0].id == t[i].id && t[i].logprob <= 0.0f
                    && t[i].top[0].logprob == t[i].logprob)
                {
                    r->top_ok++;
                } else {
                    r->top_bad++;
                }
            }
        }
    }
    lmd_gen_info(g, &r->info);
    if (r->info.finish != LMD_GEN_RUNNING) {
        r->done = 1;
        r->closed = 1;
        lmd_gen_close(g);
    } else if (r->close_after > 0 && r->n_out >= r->close_after) {
        r->closed = 1;              /* a client that leaves mid-answer */
        lmd_gen_close(g);
    }
}


/* Dispatches until done(arg) or WAIT_S; 0 or -1 (timed out). */
static int
run_until(struct lmd_engine *e, struct waiter *w, int (*done)(void *),
    void *arg)
{
    double  end = now_s() + WAIT_S;

    while (!done(arg)) {
        if (now_s() > end) {
            return -1;
        }
        waiter_wait(w);
        lmd_engine_dispatch(e);
    }
    return 0;
}


struct reqs {
    struct req     *r;
    size_t          n;
};


static int
all_done(void *arg)
{
    struct reqs  *rs = arg;
    size_t        i;

    for (i = 0; i < rs->n; i++) {
        if (rs->r[i].g != NULL && !rs->r[i].done) {
            return 0;
        }
    }
    return 1;
}


/* ------------------------------------------------------------------------
 * Models and engines
 * ------------------------------------------------------------------------ */

struct fixture {
    struct mref_model          m;
    char                       dir[4096];
    void                      *handle;
    const struct lmd_module   *mod;
};


/* A random GQA Llama of max_position positions, and the cpu module. */
static int
fixture_open(struct fixture *f, uint32_t max_position)
{
    char  err[LMD_MODULE_ERR_LEN];

    memset(f, 0, sizeof(*f));
    f->m.name = "sched";
    f->m.arch = MREF_LLAMA;
    f->m.dtype = MREF_F32;
    f->m.vocab = 300;
    f->m.hidden = 64;
    f->m.inter = 100;
    f->m.n_layers = 2;
    f->m.n_heads = 4;
    f->m.n_kv_heads = 2;
    f->m.max_position = max_position;
    f->m.rope_theta = 10000;
    f->m.rms_eps = 1e-5;
    f->m.seed = 7;
    if (mref_model_init(&f->m) != 0 || mref_tmpdir(f->dir, sizeof(f->dir))
        != 0)
    {
        fail_unless(0, "out of memory or no temporary folder");
        mref_model_free(&f->m);
        return -1;
    }
    if (mref_model_write(&f->m, f->dir, err, sizeof(err)) != 0) {
        fail_unless(0, "%s", err);
        goto failed;
    }
    f->mod = mref_module_open(&f->handle, err, sizeof(err));
    if (f->mod == NULL) {
        fail_unless(0, "%s", err);
        goto failed;
    }
    return 0;

failed:
    mref_rmdir(f->dir);
    mref_model_free(&f->m);
    return -1;
}


static void
fixture_close(struct fixture *f)
{
    mref_module_close(f->handle);
    mref_rmdir(f->dir);
    mref_model_free(&f->m);
}


/* The settings of every engine here, then the case's changes. */
static void
serve_init(struct lmd_serve_params *sp)
{
    memset(sp, 0, sizeof(*sp));
    sp->block_size = BS;
    sp->kv_blocks = 256;
    sp->prefix_cache = -1;
}


/* Starts an engine on f's model and waits for its state to settle:
 * the engine when READY, else NULL with err. */
static struct lmd_engine *
engine_start(struct fixture *f, const struct lmd_serve_params *sp,
    struct waiter *w, char *err, size_t len)
{
    struct lmd_engine_params  p;
    struct lmd_engine        *e;
    double                    end = now_s() + WAIT_S;
    int                       state;

    memset(&p, 0, sizeof(p));
    p.name = "sched";
    p.path = f->dir;
    p.load_format = "auto";
    p.weights = "f32";
    p.threads = 1;
    e = lmd_engine_start(f->mod, mref_host(), &p, sp, notify, w, err, len);
    if (e == NULL) {
        return NULL;
    }
    while ((state = lmd_engine_state(e, err, len)) == LMD_ENGINE_LOADING
           && now_s() < end)
    {
        waiter_wait(w);
    }
    if (state != LMD_ENGINE_READY) {
        if (state == LMD_ENGINE_LOADING) {
            snprintf(err, len, "still loading after %.0f s", WAIT_S);
        }
        lmd_engine_stop(e);
        return NULL;
    }
    return e;
}


static void
gen_params(struct lmd_gen_params *gp, uint32_t max_tokens)
{
    memset(gp, 0, sizeof(*gp));
    lmd_sampling_defaults(&gp->sampling);
    gp->sampling.temperature = 0.0f;
    gp->max_tokens = max_tokens;
}


/* Submits r (its prompt set) with gp; the return code of the submit. */
static int
submit(struct lmd_engine *e, struct req *r,
    const struct lmd_gen_params *gp)
{
    char  err[LMD_ERR_LEN];
    int   rc = LMD_ERROR;

    err[0] = '\0';
    r->g = lmd_engine_submit(e, r->prompt, r->n_prompt, gp, on_output, r,
                             &rc, err, sizeof(err));
    if (r->g == NULL && rc != LMD_AGAIN) {
        fail_unless(0, "submit of %u tokens: rc %d: %s", r->n_prompt, rc,
                    err);
    }
    return rc;
}


/* req i of the 12, its prompt drawn from seed 1000 + i. */
static struct req *
reqs_alloc(uint32_t vocab)
{
    struct req  *r;
    uint32_t     i;

    r = calloc(N_REQ, sizeof(struct req));
    if (r == NULL) {
        return NULL;
    }
    for (i = 0; i < N_REQ; i++) {
        r[i].n_prompt = req_prompt[i];
        r[i].prompt = malloc(req_prompt[i] * sizeof(int32_t));
        if (r[i].prompt == NULL) {
            return NULL;            /* the test process ends soon */
        }
        mref_tokens(1000 + i, vocab, r[i].prompt, req_prompt[i]);
    }
    return r;
}


static void
reqs_free(struct req *r, size_t n)
{
    size_t  i;

    if (r == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(r[i].prompt);
    }
    free(r);
}


static void
req_reset(struct req *r)
{
    int32_t   *prompt = r->prompt;
    uint32_t   n = r->n_prompt;

    memset(r, 0, sizeof(*r));
    r->prompt = prompt;
    r->n_prompt = n;
}


/* The 12 requests, each alone in a fresh engine: ref[i], n_ref[i]. */
static int32_t   ref_tokens[N_REQ][MAX_OUT];
static uint32_t  ref_n[N_REQ];
static int       ref_ready;

static int
reference(struct fixture *f)
{
    struct lmd_serve_params  sp;
    struct lmd_gen_params    gp;
    struct lmd_engine       *e;
    struct waiter            w;
    struct req              *r;
    struct reqs              rs;
    char                     err[LMD_ERR_LEN];
    uint32_t                 i;
    int                      rc = -1;

    if (ref_ready) {
        return 0;
    }
    r = reqs_alloc(f->m.vocab);
    if (r == NULL) {
        fail_unless(0, "out of memory");
        return -1;
    }
    waiter_init(&w);
    serve_init(&sp);
    sp.prefix_cache = 0;
    e = engine_start(f, &sp, &w, err, sizeof(err));
    if (e == NULL) {
        fail_unless(0, "engine: %s", err);
        goto done;
    }
    for (i = 0; i < N_REQ; i++) {
        gen_params(&gp, req_max[i]);
        if (submit(e, &r[i], &gp) != LMD_OK) {
            goto done;
        }
        rs.r = &r[i];
        rs.n = 1;
        if (run_until(e, &w, all_done, &rs) != 0) {
            fail_unless(0, "request %u alone: no end after %.0f s", i,
                        WAIT_S);
            goto done;
        }
        fail_unless(r[i].n_out == req_max[i] && r[i].info.finish
                    == LMD_GEN_LENGTH, "request %u alone: %u tokens of %u, "
                    "finish %d", i, r[i].n_out, req_max[i],
                    r[i].info.finish);
        memcpy(ref_tokens[i], r[i].out, r[i].n_out * sizeof(int32_t));
        ref_n[i] = r[i].n_out;
    }
    ref_ready = 1;
    rc = 0;
done:
    lmd_engine_stop(e);
    waiter_free(&w);
    reqs_free(r, N_REQ);
    return rc;
}


static int
same_tokens(const struct req *r, uint32_t i, const char *what)
{
    uint32_t  k;

    if (r->n_out != ref_n[i]) {
        fail_unless(0, "%s: request %u: %u tokens, alone %u", what, i,
                    r->n_out, ref_n[i]);
        return 0;
    }
    for (k = 0; k < r->n_out; k++) {
        if (r->out[k] != ref_tokens[i][k]) {
            fail_unless(0, "%s: request %u: token %u is %d, alone %d",
                        what, i, k, (int) r->out[k],
                        (int) ref_tokens[i][k]);
            return 0;
        }
    }
    return 1;
}


/* Runs the 12 requests at once on an engine made with sp; compares each
 * with its reference; returns the engine's final stats in *st. */
static void
run_twelve(struct fixture *f, const struct lmd_serve_params *sp,
    const char *what, struct lmd_engine_stats *st)
{
    struct lmd_gen_params  gp;
    struct lmd_engine     *e;
    struct waiter          w;
    struct req            *r;
    struct reqs            rs;
    char                   err[LMD_ERR_LEN];
    uint32_t               i, ok = 0;

    memset(st, 0, sizeof(*st));
    r = reqs_alloc(f->m.vocab);
    if (r == NULL) {
        fail_unless(0, "out of memory");
        return;
    }
    waiter_init(&w);
    e = engine_start(f, sp, &w, err, sizeof(err));
    if (e == NULL) {
        fail_unless(0, "%s: engine: %s", what, err);
        goto done;
    }
    for (i = 0; i < N_REQ; i++) {
        gen_params(&gp, req_max[i]);
        if (i % 3 == 0) {           /* some ask for log-probabilities */
            gp.logprobs = 1;
            gp.sampling.top_logprobs = 3;
        }
        if (submit(e, &r[i], &gp) != LMD_OK) {
            goto done;
        }
    }
    rs.r = r;
    rs.n = N_REQ;
    if (run_until(e, &w, all_done, &rs) != 0) {
        fail_unless(0, "%s: not all done after %.0f s", what, WAIT_S);
        goto done;
    }
    for (i = 0; i < N_REQ; i++) {
        ok += (uint32_t) same_tokens(&r[i], i, what);
        fail_unless(r[i].info.finish == LMD_GEN_LENGTH
                    && r[i].info.completion_tokens == req_max[i]
                    && r[i].info.prompt_tokens == req_prompt[i],
                    "%s: request %u: finish %d, %u completion tokens, %u "
                    "prompt tokens", what, i, r[i].info.finish,
                    r[i].info.completion_tokens, r[i].info.prompt_tokens);
        fail_unless(r[i].info.submitted_ns <= r[i].info.scheduled_ns
                    && r[i].info.scheduled_ns <= r[i].info.first_token_ns
                    && r[i].info.first_token_ns <= r[i].info.finished_ns
                    && r[i].info.submitted_ns > 0, "%s: request %u: times "
                    "out of order", what, i);
        if (i % 3 == 0) {
            fail_unless(r[i].top_ok == (int) r[i].n_out
                        && r[i].top_bad == 0, "%s: request %u: %d of %u "
                        "tokens with a top log-prob naming them", what, i,
                        r[i].top_ok, r[i].n_out);
        } else {
            fail_unless(r[i].top_ok + r[i].top_bad == 0, "%s: request %u: "
                        "log-probs not asked for", what, i);
        }
    }
    lmd_engine_stats(e, st);
    printf("# %s: %u of %u requests as alone; %llu steps, %llu "
           "preemptions, %llu prefix tokens reused\n", what, ok, N_REQ,
           (unsigned long long) st->steps,
           (unsigned long long) st->preemptions,
           (unsigned long long) st->prefix_hit_tokens);
done:
    lmd_engine_stop(e);
    waiter_free(&w);
    reqs_free(r, N_REQ);
}


/* ------------------------------------------------------------------------
 * Cases
 * ------------------------------------------------------------------------ */

/* Assumption: 12 requests batched together (prompts of 1 to 100 tokens,
 * 1 to 40 tokens each) give each exactly its tokens alone, with the
 * counts, times and log-probabilities filled in. */
LMD_TEST(sched_batched_as_alone)
{
    struct fixture           f;
    struct lmd_serve_params  sp;
    struct lmd_engine_stats  st;

    if (fixture_open(&f, 256) != 0) {
        return;
    }
    if (reference(&f) == 0) {
        serve_init(&sp);
        run_twelve(&f, &sp, "batched", &st);
        fail_unless(st.running == 0 && st.waiting == 0
                    && st.blocks_used == 0, "after: %u running, %u "
                    "waiting, %u blocks used", st.running, st.waiting,
                    st.blocks_used);
        fail_unless(st.generation_tokens > 0 && st.prompt_tokens > 0
                    && st.n_blocks == 256 && st.block_size == BS,
                    "stats: %llu generated, %llu prompt, %u blocks of %u",
                    (unsigned long long) st.generation_tokens,
                    (unsigned long long) st.prompt_tokens, st.n_blocks,
                    st.block_size);
    }
    fixture_close(&f);
}


/* An engine that samples on its "device": the cpu module with
 * LMD_ENGINE_CAP_SAMPLE added, whose forward, given lmd_batch.sample,
 * runs the cpu forward into its own logits and picks each row's argmax
 * (the lowest id on ties, as the host sampler does), checking each
 * request against what the scheduler knows. */
static const struct lmd_module  *dev_real;
static struct lmd_module         dev_mod;
static uint32_t                  dev_vocab;
static uint64_t                  dev_rows, dev_host_steps, dev_bad;
static uint64_t                  dev_last_key;
static int                       dev_key_repeats;

static int
dev_memory(void *eng, struct lmd_engine_memory *m)
{
    int  rc = dev_real->ops.engine.memory(eng, m);

    m->caps |= LMD_ENGINE_CAP_SAMPLE;
    dev_vocab = m->vocab_size;
    return rc;
}


static int
dev_forward(void *eng, const struct lmd_batch *b, char *err, size_t len)
{
    const struct lmd_sample_req  *q;
    struct lmd_batch              c;
    uint32_t                      i, j, rows = 0, best;
    float                        *lg, *row;
    double                        sum;
    int                           rc;

    if (b->sample == NULL) {
        dev_host_steps++;
        return dev_real->ops.engine.forward(eng, b, err, len);
    }
    for (i = 0; i < b->n_seqs; i++) {
        rows += b->seqs[i].n_logits;
    }
    lg = malloc((size_t) rows * dev_vocab * sizeof(float));
    if (lg == NULL || b->logits != NULL || b->ids == NULL) {
        free(lg);
        snprintf(err, len, "fake device: out of memory or bad batch");
        return LMD_MODULE_ERROR;
    }
    c = *b;
    c.logits = lg;
    c.sample = NULL;
    rc = dev_real->ops.engine.forward(eng, &c, err, len);
    for (i = 0; rc == LMD_MODULE_OK && i < rows; i++) {
        q = &b->sample[i];
        row = lg + (size_t) i * dev_vocab;
        /* what the scheduler must have said: greedy, filters off, the
         * prompt and the output so far (output[-1] is the last prompt id
         * when nothing was generated yet: the two are one array) */
        dev_bad += q->temperature != 0.0f || q->top_p != 1.0f
                   || q->top_k != 0 || q->min_p != 0.0f
                   || q->repetition_penalty != 1.0f || q->n_prompt == 0
                   || q->prompt == NULL || q->output != q->prompt
                                                        + q->n_prompt;
        dev_key_repeats += q->key == dev_last_key;
        dev_last_key = q->key;
        for (best = 0, j = 1; j < dev_vocab; j++) {
            best = row[j] > row[best] ? j : best;
        }
        for (sum = 0, j = 0; j < dev_vocab; j++) {
            sum += exp((double) row[j] - row[best]);
        }
        b->ids[i] = (int32_t) best;
        if (b->logprobs != NULL) {
            b->logprobs[i] = (float) -log(sum);
        }
        dev_rows++;
    }
    free(lg);
    return rc;
}


/* Assumption: with an engine that samples (LMD_ENGINE_CAP_SAMPLE) the
 * scheduler hands it the greedy requests and the engine's ids come out
 * as the tokens, equal to the host-sampled references; steps with a
 * request wanting top_logprobs (every third of the twelve) go the host
 * way with logits. */
LMD_TEST(sched_device_sampling)
{
    struct fixture           f;
    struct lmd_serve_params  sp;
    struct lmd_engine_stats  st;
    const struct lmd_module *real;

    if (fixture_open(&f, 256) != 0) {
        return;
    }
    if (reference(&f) == 0) {
        real = f.mod;
        dev_real = real;
        dev_mod = *real;
        dev_mod.ops.engine.memory = dev_memory;
        dev_mod.ops.engine.forward = dev_forward;
        f.mod = &dev_mod;
        dev_rows = dev_host_steps = dev_bad = 0;
        dev_key_repeats = 0;
        serve_init(&sp);
        run_twelve(&f, &sp, "device sampling", &st);
        f.mod = real;
        printf("# device sampling: %llu rows picked by the engine, %llu "
               "steps sampled on the host\n", (unsigned long long) dev_rows,
               (unsigned long long) dev_host_steps);
        fail_unless(dev_rows > 0 && dev_host_steps > 0, "rows %llu, host "
                    "steps %llu", (unsigned long long) dev_rows,
                    (unsigned long long) dev_host_steps);
        fail_unless(dev_bad == 0, "%llu sampling requests did not say what "
                    "the scheduler knows", (unsigned long long) dev_bad);
        fail_unless(dev_key_repeats == 0, "a draw key repeated");
    }
    fixture_close(&f);
}


/* Assumption: in a pool of one context (16 blocks, 256 tokens) the 12
 * requests (about 55 blocks in all) must preempt each other, and the
 * preempted ones, recomputed, still give their tokens alone; at the end
 * every block is free or cached. */
LMD_TEST(sched_preemption)
{
    struct fixture           f;
    struct lmd_serve_params  sp;
    struct lmd_engine_stats  st;

    if (fixture_open(&f, 256) != 0) {
        return;
    }
    if (reference(&f) == 0) {
        serve_init(&sp);
        sp.kv_blocks = 16;
        run_twelve(&f, &sp, "16 blocks", &st);
        fail_unless(st.preemptions > 0, "no preemption in 16 blocks");
        fail_unless(st.blocks_used == 0 && st.n_blocks == 16,
                    "after: %u of %u blocks used, %u cached",
                    st.blocks_used, st.n_blocks, st.blocks_cached);

        /* and again without the prefix cache: recomputed from scratch */
        sp.prefix_cache = 0;
        run_twelve(&f, &sp, "16 blocks, no prefix cache", &st);
        fail_unless(st.preemptions > 0 && st.blocks_used == 0
                    && st.blocks_cached == 0, "no prefix cache: %llu "
                    "preemptions, %u used, %u cached",
                    (unsigned long long) st.preemptions, st.blocks_used,
                    st.blocks_cached);
    }
    fixture_close(&f);
}


/* Assumption: with max_batched_tokens 16 a 100-token prompt is
 * prefilled in 7 chunks, and gives the same tokens as in one. */
LMD_TEST(sched_chunked_prefill)
{
    struct fixture           f;
    struct lmd_serve_params  sp;
    struct lmd_gen_params    gp;
    struct lmd_engine_stats  st;
    struct lmd_engine       *e;
    struct waiter            w;
    struct req              *r;
    struct reqs              rs;
    char                     err[LMD_ERR_LEN];
    const uint32_t           i = 10;        /* the 100-token prompt */

    if (fixture_open(&f, 256) != 0) {
        return;
    }
    r = reqs_alloc(f.m.vocab);
    if (reference(&f) != 0 || r == NULL) {
        fail_unless(r != NULL, "out of memory");
        goto out;
    }
    waiter_init(&w);
    serve_init(&sp);
    sp.max_batched_tokens = 16;
    e = engine_start(&f, &sp, &w, err, sizeof(err));
    if (e == NULL) {
        fail_unless(0, "engine: %s", err);
        goto done;
    }
    gen_params(&gp, req_max[i]);
    if (submit(e, &r[i], &gp) == LMD_OK) {
        rs.r = &r[i];
        rs.n = 1;
        fail_unless(run_until(e, &w, all_done, &rs) == 0, "no end");
        same_tokens(&r[i], i, "chunks of 16");
        lmd_engine_stats(e, &st);
        fail_unless(st.steps == 7 + req_max[i] - 1, "%llu steps for 7 "
                    "chunks and %u decodes", (unsigned long long) st.steps,
                    req_max[i] - 1);
    }
done:
    lmd_engine_stop(e);
    waiter_free(&w);
out:
    reqs_free(r, N_REQ);
    fixture_close(&f);
}


/* Runs one request of prompt[0 .. n) and max_tokens on e to its end. */
static int
run_one(struct lmd_engine *e, struct waiter *w, struct req *r,
    const int32_t *prompt, uint32_t n, uint32_t max_tokens)
{
    struct lmd_gen_params  gp;
    struct reqs            rs;

    memset(r, 0, sizeof(*r));
    r->prompt = (int32_t *) prompt;
    r->n_prompt = n;
    gen_params(&gp, max_tokens);
    if (submit(e, r, &gp) != LMD_OK) {
        return -1;
    }
    rs.r = r;
    rs.n = 1;
    if (run_until(e, w, all_done, &rs) != 0) {
        fail_unless(0, "a request of %u tokens: no end", n);
        return -1;
    }
    return 0;
}


/* Assumption: a chat's next turn, whose prompt is the first prompt,
 * its answer and more, reuses the blocks of both: 40 + 20 tokens, 59 of
 * them computed, fill 3 blocks, so 48 cached tokens, and the answer is
 * the one the engine gives with no prefix cache. */
LMD_TEST(sched_prefix_reuse)
{
    struct fixture           f;
    struct lmd_serve_params  sp;
    struct lmd_engine_stats  st;
    struct lmd_engine       *e = NULL, *e0 = NULL;
    struct waiter            w;
    struct req              *r1, *r2, *r3;
    int32_t                  p1[40], p2[70];
    char                     err[LMD_ERR_LEN];
    uint32_t                 k;

    if (fixture_open(&f, 256) != 0) {
        return;
    }
    r1 = calloc(3, sizeof(struct req));
    if (r1 == NULL) {
        fail_unless(0, "out of memory");
        fixture_close(&f);
        return;
    }
    r2 = r1 + 1;
    r3 = r1 + 2;
    waiter_init(&w);
    serve_init(&sp);
    e = engine_start(&f, &sp, &w, err, sizeof(err));
    sp.prefix_cache = 0;
    e0 = e != NULL ? engine_start(&f, &sp, &w, err, sizeof(err)) : NULL;
    if (e == NULL || e0 == NULL) {
        fail_unless(0, "engine: %s", err);
        goto done;
    }
    mref_tokens(77, f.m.vocab, p1, 40);
    if (run_one(e, &w, r1, p1, 40, 20) != 0 || r1->n_out != 20) {
        fail_unless(0, "first turn: %u tokens", r1->n_out);
        goto done;
    }
    fail_unless(r1->info.cached_tokens == 0, "first turn: %u cached",
                r1->info.cached_tokens);
    memcpy(p2, p1, sizeof(p1));
    memcpy(p2 + 40, r1->out, 20 * sizeof(int32_t));
    mref_tokens(78, f.m.vocab, p2 + 60, 10);

    if (run_one(e, &w, r2, p2, 70, 10) != 0
        || run_one(e0, &w, r3, p2, 70, 10) != 0)
    {
        goto done;
    }
    fail_unless(r2->info.cached_tokens == 48 && r2->info.cached_tokens % BS
                == 0, "second turn: %u tokens cached, want 48",
                r2->info.cached_tokens);
    fail_unless(r3->info.cached_tokens == 0, "prefix cache off: %u cached",
                r3->info.cached_tokens);
    fail_unless(r2->n_out == 10 && r3->n_out == 10, "%u and %u tokens",
                r2->n_out, r3->n_out);
    for (k = 0; k < r2->n_out && k < r3->n_out; k++) {
        if (r2->out[k] != r3->out[k]) {
            fail_unless(0, "token %u: %d with the cache, %d without", k,
                        (int) r2->out[k], (int) r3->out[k]);
            break;
        }
    }
    lmd_engine_stats(e, &st);
    fail_unless(st.prefix_hit_tokens >= 48 && st.blocks_used == 0
                && st.blocks_cached > 0, "stats: %llu hit tokens, %u used, "
                "%u cached", (unsigned long long) st.prefix_hit_tokens,
                st.blocks_used, st.blocks_cached);
done:
    lmd_engine_stop(e);
    lmd_engine_stop(e0);
    waiter_free(&w);
    free(r1);
    fixture_close(&f);
}


static int
has_output(void *arg)
{
    return ((struct req *) arg)->n_out > 0 || ((struct req *) arg)->done;
}


/* Assumption: with one sequence at a time and a long one running,
 * max_queue 2 takes two more requests and answers LMD_AGAIN to the next
 * three; and a request that waits past queue_timeout (1 ms) ends with
 * LMD_GEN_TIMEOUT and no token. */
LMD_TEST(sched_queue_limits)
{
    struct fixture           f;
    struct lmd_serve_params  sp;
    struct lmd_gen_params    gp;
    struct lmd_engine_stats  st;
    struct lmd_engine       *e = NULL;
    struct waiter            w;
    struct req              *r;
    struct reqs              rs;
    int32_t                  p[8];
    char                     err[LMD_ERR_LEN];
    int                      rc, again = 0, ok = 0;
    uint32_t                 i;

    if (fixture_open(&f, 2048) != 0) {
        return;
    }
    r = calloc(8, sizeof(struct req));
    if (r == NULL) {
        fail_unless(0, "out of memory");
        fixture_close(&f);
        return;
    }
    mref_tokens(5, f.m.vocab, p, 8);
    for (i = 0; i < 8; i++) {
        r[i].prompt = p;
        r[i].n_prompt = 8;
    }
    waiter_init(&w);

    /* max_queue */
    serve_init(&sp);
    sp.max_batch_size = 1;
    sp.max_queue = 2;
    e = engine_start(&f, &sp, &w, err, sizeof(err));
    if (e == NULL) {
        fail_unless(0, "engine: %s", err);
        goto done;
    }
    gen_params(&gp, 2000);
    if (submit(e, &r[0], &gp) != LMD_OK
        || run_until(e, &w, has_output, &r[0]) != 0)
    {
        fail_unless(0, "the long request did not start");
        goto done;
    }
    gen_params(&gp, 4);
    for (i = 1; i <= 5; i++) {
        rc = submit(e, &r[i], &gp);
        ok += rc == LMD_OK;
        again += rc == LMD_AGAIN;
    }
    fail_unless(ok == 2 && again == 3, "max_queue 2: %d taken, %d "
                "LMD_AGAIN", ok, again);
    r[0].closed = 1;                        /* cancel the long one */
    lmd_gen_close(r[0].g);
    r[0].g = NULL;
    rs.r = r;
    rs.n = 6;
    fail_unless(run_until(e, &w, all_done, &rs) == 0, "queued requests "
                "did not end");
    for (i = 1; i <= 5; i++) {
        fail_unless(r[i].g == NULL || (r[i].info.finish == LMD_GEN_LENGTH
                    && r[i].n_out == 4), "queued request %u: finish %d, "
                    "%u tokens", i, r[i].info.finish, r[i].n_out);
    }
    lmd_engine_stop(e);

    /* queue_timeout */
    for (i = 0; i < 8; i++) {
        req_reset(&r[i]);
    }
    serve_init(&sp);
    sp.max_batch_size = 1;
    sp.queue_timeout_ms = 1;
    e = engine_start(&f, &sp, &w, err, sizeof(err));
    if (e == NULL) {
        fail_unless(0, "engine: %s", err);
        goto done;
    }
    gen_params(&gp, 2000);
    if (submit(e, &r[0], &gp) != LMD_OK) {
        goto done;
    }
    gen_params(&gp, 4);
    if (submit(e, &r[1], &gp) != LMD_OK) {
        goto done;
    }
    rs.r = &r[1];
    rs.n = 1;
    fail_unless(run_until(e, &w, all_done, &rs) == 0, "no timeout");
    fail_unless(r[1].info.finish == LMD_GEN_TIMEOUT && r[1].n_out == 0
                && r[1].info.completion_tokens == 0
                && r[1].info.err[0] != '\0', "waiting request: finish %d, "
                "%u tokens, \"%s\"", r[1].info.finish, r[1].n_out,
                r[1].info.err);
    printf("# timeout: \"%s\"\n", r[1].info.err);
    fail_unless(!r[0].done, "the long request ended already (%u tokens)",
                r[0].n_out);
    if (!r[0].done) {
        r[0].closed = 1;
        lmd_gen_close(r[0].g);
    }
    r[0].g = NULL;
    lmd_engine_stats(e, &st);
    fail_unless(st.waiting == 0, "%u still waiting", st.waiting);
done:
    lmd_engine_stop(e);
    waiter_free(&w);
    free(r);
    fixture_close(&f);
}


struct idle_arg {
    struct lmd_engine  *e;
    struct req         *r;
};


/* r closed, and the engine holds nothing any more. */
static int
engine_idle(void *arg)
{
    struct idle_arg          *ia = arg;
    struct lmd_engine_stats   st;

    lmd_engine_stats(ia->e, &st);
    return ia->r->closed && st.running == 0 && st.waiting == 0
           && st.blocks_used == 0;
}


/* Assumption: a request closed mid-answer (from its own callback, as a
 * stop string does) is dropped at the engine's next step, its blocks
 * are released and its callback never runs again. */
LMD_TEST(sched_close_midway)
{
    struct fixture           f;
    struct lmd_serve_params  sp;
    struct lmd_gen_params    gp;
    struct lmd_engine_stats  st;
    struct lmd_engine       *e;
    struct waiter            w;
    struct req              *r;
    struct idle_arg          ia;
    char                     err[LMD_ERR_LEN];
    int32_t                  p[20];
    double                   end;

    /* A long answer (2000 tokens), so that the engine thread cannot
     * finish it before this thread, however starved of CPU, takes the
     * first 5 tokens and leaves (200 were finished at times on a loaded
     * 2-core machine). */
    if (fixture_open(&f, 2048) != 0) {
        return;
    }
    r = calloc(1, sizeof(struct req));
    if (r == NULL) {
        fail_unless(0, "out of memory");
        fixture_close(&f);
        return;
    }
    waiter_init(&w);
    serve_init(&sp);
    e = engine_start(&f, &sp, &w, err, sizeof(err));
    if (e == NULL) {
        fail_unless(0, "engine: %s", err);
        goto done;
    }
    mref_tokens(9, f.m.vocab, p, 20);
    r->prompt = p;
    r->n_prompt = 20;
    r->close_after = 5;
    gen_params(&gp, 2000);
    if (submit(e, r, &gp) != LMD_OK) {
        goto done;
    }
    ia.e = e;
    ia.r = r;
    fail_unless(run_until(e, &w, engine_idle, &ia) == 0, "the closed "
                "request still holds blocks");
    fail_unless(r->closed && !r->done, "closed %d, done %d", r->closed,
                r->done);
    /* a while longer: nothing may call back */
    end = now_s() + 0.1;
    while (now_s() < end) {
        waiter_wait(&w);
        lmd_engine_dispatch(e);
    }
    fail_unless(r->calls_after_close == 0, "%d callbacks after close",
                r->calls_after_close);
    lmd_engine_stats(e, &st);
    fail_unless(st.blocks_used == 0 && st.generation_tokens < 2000,
                "%u blocks used, %llu tokens generated", st.blocks_used,
                (unsigned long long) st.generation_tokens);
done:
    lmd_engine_stop(e);
    waiter_free(&w);
    free(r);
    fixture_close(&f);
}


/* Assumption: max_tokens ends a request with LMD_GEN_LENGTH and exactly
 * that many tokens; a stop id ends it with LMD_GEN_STOP before that id
 * (counted in completion_tokens, not output), and ignore_eos goes on
 * past it. */
LMD_TEST(sched_length_and_stop)
{
    struct fixture           f;
    struct lmd_serve_params  sp;
    struct lmd_gen_params    gp;
    struct lmd_engine       *e;
    struct waiter            w;
    struct req              *r;
    struct reqs              rs;
    char                     err[LMD_ERR_LEN];
    int32_t                  p[12], stop;
    uint32_t                 k, first;

    if (fixture_open(&f, 256) != 0) {
        return;
    }
    r = calloc(3, sizeof(struct req));
    if (r == NULL) {
        fail_unless(0, "out of memory");
        fixture_close(&f);
        return;
    }
    waiter_init(&w);
    serve_init(&sp);
    e = engine_start(&f, &sp, &w, err, sizeof(err));
    if (e == NULL) {
        fail_unless(0, "engine: %s", err);
        goto done;
    }
    mref_tokens(11, f.m.vocab, p, 12);
    if (run_one(e, &w, &r[0], p, 12, 7) != 0) {
        goto done;
    }
    fail_unless(r[0].info.finish == LMD_GEN_LENGTH && r[0].n_out == 7
                && r[0].info.completion_tokens == 7, "max_tokens 7: finish "
                "%d, %u tokens (%u counted)", r[0].info.finish, r[0].n_out,
                r[0].info.completion_tokens);

    /* the third token as a stop id: the output ends before its first
     * appearance */
    stop = r[0].out[2];
    for (first = 0; r[0].out[first] != stop; first++) {
    }
    for (k = 1; k <= 2; k++) {
        memset(&r[k], 0, sizeof(r[k]));
        r[k].prompt = p;
        r[k].n_prompt = 12;
        gen_params(&gp, 7);
        gp.stop_ids = &stop;
        gp.n_stop_ids = 1;
        gp.ignore_eos = k == 2;
        if (submit(e, &r[k], &gp) != LMD_OK) {
            goto done;
        }
    }
    stop = -1;                  /* the engine has its own copy */
    rs.r = r + 1;
    rs.n = 2;
    if (run_until(e, &w, all_done, &rs) != 0) {
        fail_unless(0, "no end");
        goto done;
    }
    fail_unless(r[1].info.finish == LMD_GEN_STOP && r[1].n_out == first
                && r[1].info.completion_tokens == first + 1
                && memcmp(r[1].out, r[0].out, first * sizeof(int32_t)) == 0,
                "stop id at %u: finish %d, %u tokens (%u counted)", first,
                r[1].info.finish, r[1].n_out, r[1].info.completion_tokens);
    fail_unless(r[2].info.finish == LMD_GEN_LENGTH && r[2].n_out == 7
                && memcmp(r[2].out, r[0].out, 7 * sizeof(int32_t)) == 0,
                "ignore_eos: finish %d, %u tokens", r[2].info.finish,
                r[2].n_out);
done:
    lmd_engine_stop(e);
    waiter_free(&w);
    free(r);
    fixture_close(&f);
}


/* Assumption: lmd_engine_submit refuses what can never run (empty
 * prompt, max_tokens 0, beyond the context, an id outside the
 * vocabulary) with LMD_DECLINED and a message. */
LMD_TEST(sched_submit_declined)
{
    struct fixture           f;
    struct lmd_serve_params  sp;
    struct lmd_gen_params    gp;
    struct lmd_engine       *e;
    struct lmd_gen          *g;
    struct waiter            w;
    struct req               r;
    char                     err[LMD_ERR_LEN];
    int32_t                  p[8];
    int                      rc;

    if (fixture_open(&f, 256) != 0) {
        return;
    }
    waiter_init(&w);
    serve_init(&sp);
    e = engine_start(&f, &sp, &w, err, sizeof(err));
    if (e == NULL) {
        fail_unless(0, "engine: %s", err);
        goto done;
    }
    memset(&r, 0, sizeof(r));
    mref_tokens(3, f.m.vocab, p, 8);

#define DECLINED(n, max, what)                                                \
    gen_params(&gp, (max));                                                   \
    err[0] = '\0';                                                            \
    g = lmd_engine_submit(e, p, (n), &gp, on_output, &r, &rc, err,            \
                          sizeof(err));                                       \
    fail_unless(g == NULL && rc == LMD_DECLINED && err[0] != '\0',            \
                "%s: rc %d, \"%s\"", (what), rc, err);                        \
    printf("# %s: \"%s\"\n", (what), err)

    DECLINED(0, 4, "empty prompt");
    DECLINED(8, 0, "max_tokens 0");
    DECLINED(8, 249, "8 + 249 tokens in a context of 256");
    p[5] = (int32_t) f.m.vocab;
    DECLINED(8, 4, "an id = vocab size");
#undef DECLINED

done:
    lmd_engine_stop(e);
    waiter_free(&w);
    fixture_close(&f);
}


/* Assumption: the pool is cache_max_entry_count of kv_memory on the cpu
 * engine: 0.8 * 1 MiB / (512 bytes a token * 16) = 102 blocks; a budget
 * short of one context (64 KiB for 128 KiB), or kv_blocks under 16,
 * keeps the model from starting, with a message saying so. */
LMD_TEST(sched_pool_sizing)
{
    struct fixture           f;
    struct lmd_serve_params  sp;
    struct lmd_engine_stats  st;
    struct lmd_engine       *e;
    struct waiter            w;
    char                     err[LMD_ERR_LEN];

    if (fixture_open(&f, 256) != 0) {
        return;
    }
    waiter_init(&w);
    serve_init(&sp);
    sp.kv_blocks = 0;
    sp.kv_memory = 1 << 20;
    e = engine_start(&f, &sp, &w, err, sizeof(err));
    fail_unless(e != NULL, "engine: %s", err);
    if (e != NULL) {
        lmd_engine_stats(e, &st);
        fail_unless(st.n_blocks == 102 && st.kv_bytes_per_block == 8192,
                    "%u blocks of %llu bytes", st.n_blocks,
                    (unsigned long long) st.kv_bytes_per_block);
        lmd_engine_stop(e);
    }

    sp.kv_memory = 64 << 10;
    e = engine_start(&f, &sp, &w, err, sizeof(err));
    fail_unless(e == NULL && strstr(err, "less than one sequence") != NULL,
                "64 KiB: \"%s\"", err);
    printf("# 64 KiB: \"%s\"\n", err);
    lmd_engine_stop(e);

    sp.kv_memory = 0;
    sp.kv_blocks = 15;
    e = engine_start(&f, &sp, &w, err, sizeof(err));
    fail_unless(e == NULL && strstr(err, "less than one sequence") != NULL,
                "15 blocks: \"%s\"", err);
    printf("# 15 blocks: \"%s\"\n", err);
    lmd_engine_stop(e);

    waiter_free(&w);
    fixture_close(&f);
}


/* Assumption: lmd_engine_stop with requests running and waiting ends
 * each with LMD_GEN_ERROR "shutting down" through its callback, and
 * frees everything (the ASan build checks), a closed one included. */
LMD_TEST(sched_stop_in_flight)
{
    struct fixture           f;
    struct lmd_serve_params  sp;
    struct lmd_gen_params    gp;
    struct lmd_engine       *e;
    struct waiter            w;
    struct req              *r;
    char                     err[LMD_ERR_LEN];
    int32_t                  p[5][10];
    uint32_t                 i, errors = 0;

    if (fixture_open(&f, 256) != 0) {
        return;
    }
    r = calloc(5, sizeof(struct req));
    if (r == NULL) {
        fail_unless(0, "out of memory");
        fixture_close(&f);
        return;
    }
    waiter_init(&w);
    serve_init(&sp);
    sp.max_batch_size = 2;
    e = engine_start(&f, &sp, &w, err, sizeof(err));
    if (e == NULL) {
        fail_unless(0, "engine: %s", err);
        goto done;
    }
    gen_params(&gp, 240);
    for (i = 0; i < 5; i++) {
        mref_tokens(20 + i, f.m.vocab, p[i], 10);
        r[i].prompt = p[i];
        r[i].n_prompt = 10;
        if (submit(e, &r[i], &gp) != LMD_OK) {
            goto done;
        }
    }
    if (run_until(e, &w, has_output, &r[0]) != 0) {
        fail_unless(0, "nothing started");
        goto done;
    }
    r[4].closed = 1;                        /* waiting, then closed */
    lmd_gen_close(r[4].g);
    lmd_engine_stop(e);
    e = NULL;
    for (i = 0; i < 4; i++) {
        fail_unless(r[i].done, "request %u: no end after stop", i);
        if (r[i].info.finish == LMD_GEN_ERROR) {
            errors++;
            fail_unless(strstr(r[i].info.err, "shutting down") != NULL,
                        "request %u: \"%s\"", i, r[i].info.err);
        } else {
            fail_unless(r[i].info.finish == LMD_GEN_LENGTH
                        && r[i].n_out == 240, "request %u: finish %d, %u "
                        "tokens", i, r[i].info.finish, r[i].n_out);
        }
    }
    fail_unless(errors >= 2, "only %u requests in flight at the stop",
                errors);
    fail_unless(r[4].calls_after_close == 0, "closed request called back");
done:
    lmd_engine_stop(e);
    waiter_free(&w);
    free(r);
    fixture_close(&f);
}
