/*
 * lmd_gen.c -- generation requests (lmd_gen.h): their making and
 * freeing, the output queue the engine fills and the loop drains, and
 * the reference count that lets either side let go first.
 *
 * Design: see lmd_gen_internal.h for which thread owns which field.  The
 * output queue is one array per request, grown by doubling and compacted
 * when its taken head leaves room, so a long answer costs a handful of
 * allocations, not one per token.
 */

#include "lmd_gen_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmd_common.h"

#define LMD_GEN_OUT_MIN  16     /* first size of the output queue */


static void
lmd_gen_free(struct lmd_gen *g)
{
    lmd_sampler_free(g->sampler);
    pthread_mutex_destroy(&g->lock);
    free(g->stop_ids);
    free(g->logit_bias);
    free(g->tokens);
    free(g->blocks);
    free(g->keys);
    free(g->out);
    free(g);
}


struct lmd_gen *
lmd_gen_create(const int32_t *prompt, uint32_t n,
    const struct lmd_gen_params *p, uint32_t vocab_size, uint32_t limit,
    uint32_t block_size, lmd_gen_output_pt on_output, void *data,
    uint64_t now_ns)
{
    struct lmd_gen  *g;
    size_t           nb;

    g = calloc(1, sizeof(struct lmd_gen));
    if (g == NULL) {
        return NULL;
    }
    pthread_mutex_init(&g->lock, NULL);
    g->params = *p;
    g->n_prompt = n;
    g->limit = limit;
    g->on_output = on_output;
    g->data = data;
    g->refs = 2;
    g->state = LMD_SEQ_NEW;
    g->max_blocks = (limit + block_size - 1) / block_size;

    g->params.stop_ids = NULL;
    g->params.n_stop_ids = 0;
    if (p->n_stop_ids > 0) {
        g->stop_ids = malloc(p->n_stop_ids * sizeof(int32_t));
        if (g->stop_ids == NULL) {
            goto failed;
        }
        memcpy(g->stop_ids, p->stop_ids, p->n_stop_ids * sizeof(int32_t));
        g->params.stop_ids = g->stop_ids;
        g->params.n_stop_ids = p->n_stop_ids;
    }
    nb = p->sampling.n_logit_bias;
    g->params.sampling.logit_bias = NULL;
    g->params.sampling.n_logit_bias = 0;
    if (nb > 0) {
        g->logit_bias = malloc(nb * sizeof(struct lmd_logit_bias));
        if (g->logit_bias == NULL) {
            goto failed;
        }
        memcpy(g->logit_bias, p->sampling.logit_bias,
               nb * sizeof(struct lmd_logit_bias));
        g->params.sampling.logit_bias = g->logit_bias;
        g->params.sampling.n_logit_bias = nb;
    }

    g->tokens = malloc((size_t) limit * sizeof(int32_t));
    g->blocks = malloc((size_t) g->max_blocks * sizeof(uint32_t));
    g->keys = malloc((size_t) g->max_blocks * sizeof(uint64_t));
    g->sampler = lmd_sampler_create(&g->params.sampling, vocab_size);
    if (g->tokens == NULL || g->blocks == NULL || g->keys == NULL
        || g->sampler == NULL)
    {
        goto failed;
    }
    memcpy(g->tokens, prompt, (size_t) n * sizeof(int32_t));
    g->n_tokens = n;
    lmd_sampler_set_prompt(g->sampler, prompt, n);

    g->info.prompt_tokens = n;
    g->info.submitted_ns = now_ns;
    return g;

failed:
    lmd_gen_free(g);
    return NULL;
}


void
lmd_gen_ref(struct lmd_gen *g)
{
    __atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
}


void
lmd_gen_unref(struct lmd_gen *g)
{
    if (__atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        lmd_gen_free(g);
    }
}


int
lmd_gen_is_closed(struct lmd_gen *g)
{
    return __atomic_load_n(&g->closed, __ATOMIC_ACQUIRE);
}


/* ------------------------------------------------------- engine side */

int
lmd_gen_push_locked(struct lmd_gen *g, int32_t id,
    const struct lmd_sample_result *res)
{
    struct lmd_gen_token  *t, *p;
    size_t                 cap;

    if (g->out_head + g->n_out == g->out_cap) {
        if (g->out_head > 0) {
            /* the loop took the front: slide the rest down */
            memmove(g->out, g->out + g->out_head,
                    g->n_out * sizeof(struct lmd_gen_token));
            g->out_head = 0;
        } else {
            cap = g->out_cap ? g->out_cap * 2 : LMD_GEN_OUT_MIN;
            p = realloc(g->out, cap * sizeof(struct lmd_gen_token));
            if (p == NULL) {
                return LMD_ERROR;
            }
            g->out = p;
            g->out_cap = cap;
        }
    }
    t = &g->out[g->out_head + g->n_out++];
    t->id = id;
    t->logprob = 0.0f;
    t->n_top = 0;
    if (res != NULL) {
        t->logprob = res->logprob;
        t->n_top = res->n_top;
        memcpy(t->top, res->top,
               (size_t) res->n_top * sizeof(struct lmd_token_logprob));
    }
    return LMD_OK;
}


void
lmd_gen_finish_locked(struct lmd_gen *g, int finish, const char *err,
    uint64_t now_ns)
{
    if (g->info.finish != LMD_GEN_RUNNING) {
        return;
    }
    g->info.finish = finish;
    g->info.finished_ns = now_ns;
    if (err != NULL) {
        snprintf(g->info.err, sizeof(g->info.err), "%s", err);
    }
}


/* --------------------------------------------------------- loop side */

size_t
lmd_gen_take(struct lmd_gen *g, struct lmd_gen_token *out, size_t max)
{
    size_t  n;

    pthread_mutex_lock(&g->lock);
    n = g->n_out < max ? g->n_out : max;
    if (n > 0) {
        memcpy(out, g->out + g->out_head, n * sizeof(*out));
        g->out_head += n;
        g->n_out -= n;
        if (g->n_out == 0) {
            g->out_head = 0;
        }
    }
    pthread_mutex_unlock(&g->lock);
    return n;
}


size_t
lmd_gen_pending(struct lmd_gen *g)
{
    size_t  n;

    pthread_mutex_lock(&g->lock);
    n = g->n_out;
    pthread_mutex_unlock(&g->lock);
    return n;
}


void
lmd_gen_info(struct lmd_gen *g, struct lmd_gen_info *info)
{
    pthread_mutex_lock(&g->lock);
    *info = g->info;
    if (g->n_out > 0) {
        /* the end comes after the last token, not beside it */
        info->finish = LMD_GEN_RUNNING;
        info->finished_ns = 0;
        info->err[0] = '\0';
    }
    pthread_mutex_unlock(&g->lock);
}


void
lmd_gen_close(struct lmd_gen *g)
{
    if (g == NULL) {
        return;
    }
    /* The engine drops the request at its next step; it never sleeps
     * while it holds one, so no wakeup is needed. */
    __atomic_store_n(&g->closed, 1, __ATOMIC_RELEASE);
    lmd_gen_unref(g);
}
