/*
 * lmd_cmd_generate_batch.c -- `lmd generate --batch N`: N sequences at
 * once through an engine thread and its continuous-batching scheduler,
 * exactly as the daemon serves requests but without HTTP, and their
 * throughput.  Next to `lmd bench` against the daemon on the same work,
 * it measures what the HTTP side costs.
 *
 * This thread plays the daemon's loop thread: the engine's notify hook
 * signals a condition variable, and the thread then runs
 * lmd_engine_dispatch, whose callbacks take each sequence's tokens.
 * Sequence i samples with seed + i; --prompt-tokens draws its prompt
 * with seed + i too, so the sequences share no prefix.
 */

#include "lmd_core.h"
#include "lmd_cmd_generate.h"
#include "lmd_engine.h"
#include "lmd_module_load.h"

#include <pthread.h>

#include <cjson/cJSON.h>

struct lmd_batch_wait {
    pthread_mutex_t     lock;
    pthread_cond_t      cond;
    int                 woken;
};

struct lmd_batch_seq {
    struct lmd_gen     *g;
    struct lmd_tokens   prompt;
    struct lmd_tokens   out;
    struct lmd_gen_info info;
    int                 oom;
    size_t             *remaining;
};


/* Engine thread: new output or a state change. */
static void
lmd_batch_notify(void *data)
{
    struct lmd_batch_wait  *w = data;

    pthread_mutex_lock(&w->lock);
    w->woken = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}


static void
lmd_batch_wait_for(struct lmd_batch_wait *w)
{
    pthread_mutex_lock(&w->lock);
    while (!w->woken) {
        pthread_cond_wait(&w->cond, &w->lock);
    }
    w->woken = 0;
    pthread_mutex_unlock(&w->lock);
}


/* Dispatch callback (this thread): takes the tokens, ends a finished
 * sequence. */
static void
lmd_batch_output(struct lmd_gen *g, void *data)
{
    struct lmd_batch_seq  *s = data;
    struct lmd_gen_token   tok[64];
    size_t                 n, i;

    while ((n = lmd_gen_take(g, tok, 64)) > 0) {
        for (i = 0; i < n; i++) {
            if (lmd_tokens_push(&s->out, tok[i].id) != LMD_OK) {
                s->oom = 1;
            }
        }
    }
    lmd_gen_info(g, &s->info);
    if (s->info.finish != LMD_GEN_RUNNING) {
        lmd_gen_close(g);
        s->g = NULL;
        (*s->remaining)--;
    }
}


static const char *
lmd_batch_finish_name(int finish)
{
    switch (finish) {
    case LMD_GEN_STOP:
        return "stop";
    case LMD_GEN_LENGTH:
        return "length";
    case LMD_GEN_TIMEOUT:
        return "timeout";
    default:
        return "error";
    }
}


static int
lmd_batch_print_json(const struct lmd_generate_opts *o,
    const struct lmd_batch_seq *seqs, uint64_t prompt, uint64_t gen,
    double secs)
{
    cJSON      *root, *arr, *item, *ids;
    char       *text;
    long long   i;
    size_t      k;

    root = cJSON_CreateObject();
    arr = cJSON_CreateArray();
    if (root == NULL || arr == NULL) {
        cJSON_Delete(root);
        cJSON_Delete(arr);
        return LMD_ERROR;
    }
    cJSON_AddNumberToObject(root, "batch", (double) o->batch);
    cJSON_AddNumberToObject(root, "prompt_tokens", (double) prompt);
    cJSON_AddNumberToObject(root, "generated_tokens", (double) gen);
    cJSON_AddNumberToObject(root, "seconds", secs);
    cJSON_AddNumberToObject(root, "generated_tokens_per_s",
                            secs > 0 ? (double) gen / secs : 0);
    cJSON_AddNumberToObject(root, "tokens_per_s",
                            secs > 0 ? (double) (prompt + gen) / secs : 0);
    cJSON_AddItemToObject(root, "sequences", arr);
    for (i = 0; i < o->batch; i++) {
        item = cJSON_CreateObject();
        ids = cJSON_CreateArray();
        if (item == NULL || ids == NULL) {
            cJSON_Delete(item);
            cJSON_Delete(ids);
            cJSON_Delete(root);
            return LMD_ERROR;
        }
        for (k = 0; k < seqs[i].out.n; k++) {
            cJSON_AddItemToArray(ids,
                cJSON_CreateNumber((double) seqs[i].out.ids[k]));
        }
        cJSON_AddNumberToObject(item, "prompt_tokens",
                                (double) seqs[i].info.prompt_tokens);
        cJSON_AddNumberToObject(item, "cached_tokens",
                                (double) seqs[i].info.cached_tokens);
        cJSON_AddItemToObject(item, "ids", ids);
        cJSON_AddStringToObject(item, "finish",
                                lmd_batch_finish_name(seqs[i].info.finish));
        cJSON_AddItemToArray(arr, item);
    }
    text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text == NULL) {
        return LMD_ERROR;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return LMD_OK;
}


int
lmd_generate_batch(const struct lmd_generate_opts *o,
    struct lmd_cmd_model *m)
{
    struct lmd_engine_params   params;
    struct lmd_serve_params    serve;
    struct lmd_gen_params      gp;
    struct lmd_batch_wait      w;
    struct lmd_batch_seq      *seqs;
    struct lmd_engine         *e = NULL;
    struct lmd_tokens          text_prompt = { NULL, 0, 0 };
    size_t                     remaining = 0;
    uint64_t                   n_prompt = 0, n_gen = 0;
    double                     t0, t1;
    long long                  i;
    size_t                     k;
    char                       err[LMD_ERR_LEN];
    int                        state, rc = 1, sub;

    seqs = calloc((size_t) o->batch, sizeof(*seqs));
    if (seqs == NULL) {
        fprintf(stderr, "lmd generate: out of memory\n");
        return 1;
    }
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    w.woken = 0;

    if (o->prompt != NULL) {
        err[0] = '\0';
        if (lmd_tokenizer_encode(m->tok, o->prompt, strlen(o->prompt), 1,
                                 &text_prompt, err, sizeof(err)) != LMD_OK)
        {
            fprintf(stderr, "lmd generate: encoding the prompt: %s\n", err);
            goto done;
        }
    }
    for (i = 0; i < o->batch; i++) {
        seqs[i].remaining = &remaining;
        if (o->prompt != NULL) {
            for (k = 0; k < text_prompt.n; k++) {
                if (lmd_tokens_push(&seqs[i].prompt, text_prompt.ids[k])
                    != LMD_OK)
                {
                    fprintf(stderr, "lmd generate: out of memory\n");
                    goto done;
                }
            }
        } else if (lmd_generate_random_ids(o->m.seed + (uint64_t) i,
                                           m->cfg.vocab_size,
                                           o->prompt_tokens,
                                           &seqs[i].prompt) != LMD_OK)
        {
            fprintf(stderr, "lmd generate: out of memory\n");
            goto done;
        }
        if (seqs[i].prompt.n == 0) {
            fprintf(stderr, "lmd generate: the prompt is empty (and the "
                    "tokenizer adds no BOS token)\n");
            goto done;
        }
    }

    memset(&params, 0, sizeof(params));
    params.name = o->m.dir;
    params.path = o->m.dir;
    params.load_format = o->m.load_format;
    params.weights = o->m.weights;
    params.seed = o->m.seed;
    params.threads = o->m.threads;

    memset(&serve, 0, sizeof(serve));
    serve.max_batch_size = (uint32_t) o->batch;
    serve.max_queue = (uint32_t) o->batch;
    serve.prefix_cache = -1;

    err[0] = '\0';
    e = lmd_engine_start(m->module->module, lmd_session_stderr_host(),
                         &params, &serve, lmd_batch_notify, &w, err,
                         sizeof(err));
    if (e == NULL) {
        fprintf(stderr, "lmd generate: %s\n", err);
        goto done;
    }
    while ((state = lmd_engine_state(e, err, sizeof(err)))
           == LMD_ENGINE_LOADING)
    {
        lmd_batch_wait_for(&w);
    }
    if (state != LMD_ENGINE_READY) {
        fprintf(stderr, "lmd generate: %s\n",
                err[0] ? err : "the engine could not open the model");
        goto done;
    }

    memset(&gp, 0, sizeof(gp));
    gp.sampling = o->m.sampling;
    gp.sampling.has_seed = 1;
    gp.max_tokens = (uint32_t) o->m.max_tokens;
    gp.stop_ids = m->eos;
    gp.n_stop_ids = m->n_eos;
    gp.ignore_eos = o->ignore_eos;

    t0 = lmd_cmd_now();
    for (i = 0; i < o->batch; i++) {
        gp.sampling.seed = o->m.seed + (uint64_t) i;
        err[0] = '\0';
        seqs[i].g = lmd_engine_submit(e, seqs[i].prompt.ids,
                                      (uint32_t) seqs[i].prompt.n, &gp,
                                      lmd_batch_output, &seqs[i], &sub, err,
                                      sizeof(err));
        if (seqs[i].g == NULL) {
            fprintf(stderr, "lmd generate: sequence %lld: %s\n", i,
                    err[0] ? err : "not accepted");
            goto done;
        }
        remaining++;
    }
    while (remaining > 0) {
        lmd_batch_wait_for(&w);
        lmd_engine_dispatch(e);
    }
    t1 = lmd_cmd_now();

    for (i = 0; i < o->batch; i++) {
        if (seqs[i].oom) {
            fprintf(stderr, "lmd generate: out of memory\n");
            goto done;
        }
        if (seqs[i].info.finish == LMD_GEN_ERROR
            || seqs[i].info.finish == LMD_GEN_TIMEOUT)
        {
            fprintf(stderr, "lmd generate: sequence %lld: %s\n", i,
                    seqs[i].info.err[0] ? seqs[i].info.err
                                        : lmd_batch_finish_name(
                                              seqs[i].info.finish));
            goto done;
        }
        n_prompt += seqs[i].info.prompt_tokens;
        n_gen += seqs[i].info.completion_tokens;
    }

    if (o->json) {
        if (lmd_batch_print_json(o, seqs, n_prompt, n_gen, t1 - t0)
            != LMD_OK)
        {
            fprintf(stderr, "lmd generate: out of memory\n");
            goto done;
        }
    } else {
        printf("batch of %lld: prompt %llu tokens, generated %llu tokens "
               "in %.3f s: %.1f generated tokens/s, %.1f tokens/s in all\n",
               o->batch, (unsigned long long) n_prompt,
               (unsigned long long) n_gen, t1 - t0,
               t1 > t0 ? (double) n_gen / (t1 - t0) : 0,
               t1 > t0 ? (double) (n_prompt + n_gen) / (t1 - t0) : 0);
    }
    rc = 0;

done:
    for (i = 0; i < o->batch; i++) {
        if (seqs[i].g != NULL) {
            lmd_gen_close(seqs[i].g);
        }
    }
    lmd_engine_stop(e);
    for (i = 0; i < o->batch; i++) {
        lmd_tokens_free(&seqs[i].prompt);
        lmd_tokens_free(&seqs[i].out);
    }
    lmd_tokens_free(&text_prompt);
    free(seqs);
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    return rc;
}
