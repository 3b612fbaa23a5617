/*
 * lmd_engine.c -- the engine thread's life: open, serve, close.
 *
 * Design: state and the stop flag are guarded by one mutex; the thread
 * sleeps on a condition variable between events.  The notify callback is
 * called without the lock held, so the daemon may read the state from it.
 */

#include "lmd_engine.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lmd_engine {
    const struct lmd_module    *module;
    const struct lmd_host      *host;
    struct lmd_engine_params    params;
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
};


static void
lmd_engine_set_state(struct lmd_engine *e, int state)
{
    pthread_mutex_lock(&e->lock);
    e->state = state;
    pthread_mutex_unlock(&e->lock);
    e->notify(e->data);
}


static void *
lmd_engine_main(void *arg)
{
    struct lmd_engine            *e = arg;
    const struct lmd_engine_ops  *ops = &e->module->ops.engine;
    char                          err[LMD_MODULE_ERR_LEN];

    err[0] = '\0';
    if (ops->open(e->host, &e->params, &e->engine, err, sizeof(err))
        != LMD_MODULE_OK)
    {
        pthread_mutex_lock(&e->lock);
        snprintf(e->err, sizeof(e->err), "%s",
                 err[0] ? err : "the engine did not say why");
        pthread_mutex_unlock(&e->lock);
        e->engine = NULL;
        lmd_engine_set_state(e, LMD_ENGINE_FAILED);
        return NULL;
    }

    if (ops->memory != NULL) {
        ops->memory(e->engine, &e->mem);
    }
    lmd_engine_set_state(e, LMD_ENGINE_READY);

    /* Serve until asked to stop (the scheduler's steps will run here). */
    pthread_mutex_lock(&e->lock);
    while (!e->stop) {
        pthread_cond_wait(&e->wake, &e->lock);
    }
    pthread_mutex_unlock(&e->lock);

    ops->close(e->engine);
    e->engine = NULL;
    pthread_mutex_lock(&e->lock);
    e->state = LMD_ENGINE_STOPPED;
    pthread_mutex_unlock(&e->lock);
    return NULL;
}


struct lmd_engine *
lmd_engine_start(const struct lmd_module *module,
    const struct lmd_host *host, const struct lmd_engine_params *params,
    const struct lmd_serve_params *serve, lmd_engine_notify_pt notify,
    void *data, char *err, size_t errlen)
{
    (void) serve;
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
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->wake);
    free(e->name);
    free(e->path);
    free(e->load_format);
    free(e->weights);
    free(e);
}
