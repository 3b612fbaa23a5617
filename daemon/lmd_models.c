/*
 * lmd_models.c -- model set-up: modules, probes, engine threads, states.
 *
 * Design: engine threads report through lmd_engine's notify hook, which
 * fires a loop wakeup; the wakeup handler reads every engine's state and
 * tells main (on_change), which logs, answers systemd and flips /health.
 * No state is shared with engine threads except through lmd_engine_state().
 */

#include "lmd_core.h"
#include "lmd_event.h"
#include "lmd_models.h"
#include "lmd_metrics.h"
#include "lmd_module_load.h"
#include "lmd_engine.h"
#include "lmd_model_config.h"
#include "lmd_model_text.h"

static struct lmd_model   *lmd_models;
static size_t              lmd_nmodels;
static struct lmd_wakeup  *lmd_models_wakeup;
static void              (*lmd_models_on_change)(void);


/* ---------------------------------------------------- host services */

static void
lmd_host_log(int level, const char *fmt, ...)
{
    va_list  ap;

    if (lmd_error_log->level < level) {
        return;
    }
    va_start(ap, fmt);
    lmd_log_vwrite(level, lmd_error_log, 0, fmt, ap);
    va_end(ap);
}


static uint64_t
lmd_host_now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}


static const struct lmd_host  lmd_host = {
    LMD_MODULE_ABI_VERSION,
    lmd_host_log,
    lmd_host_now_ns,
    { NULL }
};


/* ------------------------------------------------------------- set-up */

static struct lmd_module_handle *
lmd_models_open_module(const struct lmd_conf *conf,
    const struct lmd_conf_model *cm, char *err, size_t errlen)
{
    struct lmd_module_handle  *h;
    char                       file[256], why[LMD_ERR_LEN];

    if (lmd_module_file_name(cm->engine, LMD_MODULE_ENGINE, file,
                             sizeof(file)) != LMD_OK)
    {
        snprintf(err, errlen, "%s:%d:%d: model \"%s\": bad engine name "
                 "\"%s\"", conf->file, cm->line, cm->column, cm->name,
                 cm->engine);
        return NULL;
    }
    h = lmd_module_open(conf->modules_path, file, LMD_MODULE_ENGINE, why,
                        sizeof(why));
    if (h == NULL) {
        snprintf(err, errlen, "%s:%d:%d: model \"%s\": %s", conf->file,
                 cm->line, cm->column, cm->name, why);
        return NULL;
    }

    if (h->module->ops.engine.probe != NULL) {
        why[0] = '\0';
        if (h->module->ops.engine.probe(&lmd_host, why, sizeof(why)) != 1) {
            snprintf(err, errlen, "%s:%d:%d: model \"%s\": engine \"%s\" "
                     "cannot run here: %s", conf->file, cm->line,
                     cm->column, cm->name, cm->engine,
                     why[0] ? why : "its probe failed");
            lmd_module_close(h);
            return NULL;
        }
    }
    return h;
}


/* The KV codec module of a model whose kv_cache.codec is not auto, and
 * the codec in it (*codec); NULL with err set if it is not built. */
static struct lmd_module_handle *
lmd_models_open_codec(const struct lmd_conf *conf,
    const struct lmd_conf_model *cm, const struct lmd_kv_codec **codec,
    char *err, size_t errlen)
{
    struct lmd_module_handle  *h;
    char                       file[256], why[LMD_ERR_LEN];

    if (lmd_module_file_name(cm->kv_cache.codec, LMD_MODULE_KV_CODEC, file,
                             sizeof(file)) != LMD_OK)
    {
        snprintf(err, errlen, "%s:%d:%d: model \"%s\": bad kv_cache codec "
                 "\"%s\"", conf->file, cm->line, cm->column, cm->name,
                 cm->kv_cache.codec);
        return NULL;
    }
    h = lmd_module_open(conf->modules_path, file, LMD_MODULE_KV_CODEC, why,
                        sizeof(why));
    if (h == NULL) {
        snprintf(err, errlen, "%s:%d:%d: model \"%s\": kv_cache codec "
                 "\"%s\": %s", conf->file, cm->line, cm->column, cm->name,
                 cm->kv_cache.codec, why);
        return NULL;
    }
    *codec = h->module->ops.kv_codec.find(cm->kv_cache.codec);
    if (*codec == NULL) {
        snprintf(err, errlen, "%s:%d:%d: model \"%s\": kv_cache codec "
                 "\"%s\": %s has no such codec", conf->file, cm->line,
                 cm->column, cm->name, cm->kv_cache.codec, h->path);
        lmd_module_close(h);
        return NULL;
    }
    return h;
}


int
lmd_models_check(const struct lmd_conf *conf, char *err, size_t errlen)
{
    const struct lmd_kv_codec  *codec;
    struct lmd_module_handle  *h;
    size_t                     i;

    for (i = 0; i < conf->nmodels; i++) {
        h = lmd_models_open_module(conf, &conf->models[i], err, errlen);
        if (h == NULL) {
            return LMD_ERROR;
        }
        lmd_module_close(h);
        if (strcmp(conf->models[i].kv_cache.codec, "auto") != 0) {
            h = lmd_models_open_codec(conf, &conf->models[i], &codec, err,
                                      errlen);
            if (h == NULL) {
                return LMD_ERROR;
            }
            lmd_module_close(h);
        }
    }
    return LMD_OK;
}


static void
lmd_models_notify(void *data)
{
    lmd_unused(data);
    lmd_wakeup_fire(lmd_models_wakeup);     /* engine thread -> loop */
}


static void
lmd_models_changed(void *data)
{
    struct lmd_engine_memory  mem;
    struct lmd_model         *m;
    size_t                    i;
    int                       state;
    char                      why[LMD_ERR_LEN];

    lmd_unused(data);
    for (i = 0; i < lmd_nmodels; i++) {
        m = &lmd_models[i];
        state = lmd_engine_state(m->engine, why, sizeof(why));
        if (state == LMD_ENGINE_READY) {
            lmd_engine_dispatch(m->engine);     /* requests' output */
        }
        if (state == m->state) {
            continue;
        }
        m->state = state;
        if (state == LMD_ENGINE_READY) {
            lmd_engine_memory(m->engine, &mem);
            lmd_log_error(LMD_LOG_NOTICE, lmd_error_log, 0,
                          "model \"%s\" ready on engine \"%s\" (%s), "
                          "weights %llu bytes", m->name, m->engine_name,
                          m->module->module->description
                          ? m->module->module->description : "",
                          (unsigned long long) mem.weight_bytes);
        } else if (state == LMD_ENGINE_FAILED) {
            lmd_log_error(LMD_LOG_ERR, lmd_error_log, 0,
                          "model \"%s\" failed to load: %s", m->name, why);
        }
    }
    if (lmd_models_on_change != NULL) {
        lmd_models_on_change();
    }
}


/* The demo model that `make` writes is labelled, in the log and in
 * /v1/models, so that nobody takes its gibberish for a broken engine.  A
 * config the engine cannot read is the engine's to report. */
static void
lmd_models_check_demo(struct lmd_model *m)
{
    struct lmd_model_config  cfg;
    char                     why[LMD_ERR_LEN];

    if (lmd_model_config_load(m->path, &cfg, why, sizeof(why)) == LMD_OK
        && cfg.demo)
    {
        m->demo = 1;
        lmd_log_error(LMD_LOG_NOTICE, lmd_error_log, 0,
                      "model \"%s\" is lmd's random demo model (untrained "
                      "weights: its output is gibberish); point models[] "
                      "at a Hugging Face folder to serve a real one",
                      m->name);
    }
}


/* The engine's copy of models[].kv_cache, scheduler and prefix_cache
 * (the config has checked every range). */
static void
lmd_models_serve_params(const struct lmd_conf_model *cm,
    struct lmd_serve_params *sp)
{
    memset(sp, 0, sizeof(*sp));
    sp->block_size = (uint32_t) cm->kv_cache.block_size;
    sp->kv_blocks = (uint32_t) cm->kv_cache.kv_blocks;
    sp->cache_max_entry_count = cm->kv_cache.cache_max_entry_count;
    sp->kv_memory = cm->kv_cache.kv_memory;
    sp->max_batch_size = (uint32_t) cm->scheduler.max_batch_size;
    sp->max_batched_tokens = (uint32_t) cm->scheduler.max_batched_tokens;
    sp->max_queue = (uint32_t) cm->scheduler.max_queue;
    sp->queue_timeout_ms = cm->scheduler.queue_timeout;
    sp->prefix_cache = cm->prefix_cache;
}


int
lmd_models_start(const struct lmd_conf *conf, void (*on_change)(void),
    char *err, size_t errlen)
{
    struct lmd_serve_params   serve;
    struct lmd_engine_params  params;
    struct lmd_model         *m;
    size_t                    i;
    char                      why[LMD_ERR_LEN];

    lmd_models_on_change = on_change;
    lmd_models_wakeup = lmd_wakeup_new(lmd_models_changed, NULL);
    lmd_models = calloc(conf->nmodels ? conf->nmodels : 1,
                        sizeof(struct lmd_model));
    if (lmd_models_wakeup == NULL || lmd_models == NULL) {
        snprintf(err, errlen, "out of memory");
        return LMD_ERROR;
    }

    for (i = 0; i < conf->nmodels; i++) {
        m = &lmd_models[i];
        m->name = strdup(conf->models[i].name);
        m->path = strdup(conf->models[i].path);
        m->engine_name = strdup(conf->models[i].engine);
        m->load_format = strdup(conf->models[i].load_format);
        m->weights = strdup(conf->models[i].weights);
        m->created = time(NULL);
        m->state = LMD_ENGINE_LOADING;
        lmd_nmodels++;
        if (m->name == NULL || m->path == NULL || m->engine_name == NULL
            || m->load_format == NULL || m->weights == NULL)
        {
            snprintf(err, errlen, "out of memory");
            return LMD_ERROR;
        }

        m->module = lmd_models_open_module(conf, &conf->models[i], err,
                                           errlen);
        if (m->module == NULL) {
            return LMD_ERROR;
        }

        memset(&params, 0, sizeof(params));
        if (strcmp(conf->models[i].kv_cache.codec, "auto") != 0) {
            m->codec_module = lmd_models_open_codec(conf, &conf->models[i],
                                                    &params.kv_codec, err,
                                                    errlen);
            if (m->codec_module == NULL) {
                return LMD_ERROR;
            }
        }
        params.name = m->name;
        params.path = m->path;
        params.load_format = m->load_format;
        params.weights = m->weights;
        params.threads = (int) conf->models[i].threads;
        params.seed = (uint64_t) conf->models[i].seed;
        lmd_log_error(LMD_LOG_INFO, lmd_error_log, 0,
                      "loading model \"%s\" from \"%s\" on engine \"%s\"",
                      m->name, m->path, m->engine_name);
        lmd_models_check_demo(m);
        if (lmd_model_text_load(m->path, conf->models[i].chat_template,
                                &m->text, why, sizeof(why)) != LMD_OK)
        {
            snprintf(err, errlen, "model \"%s\": %s", m->name, why);
            return LMD_ERROR;
        }
        lmd_models_serve_params(&conf->models[i], &serve);
        m->engine = lmd_engine_start(m->module->module, &lmd_host, &params,
                                     &serve, lmd_models_notify, NULL, err,
                                     errlen);
        if (m->engine == NULL) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


int
lmd_models_ready(void)
{
    size_t  i;

    for (i = 0; i < lmd_nmodels; i++) {
        if (lmd_models[i].state != LMD_ENGINE_READY) {
            return 0;
        }
    }
    return 1;
}


int
lmd_models_failed(char *err, size_t errlen)
{
    char    why[LMD_ERR_LEN];
    size_t  i;

    for (i = 0; i < lmd_nmodels; i++) {
        if (lmd_models[i].state == LMD_ENGINE_FAILED) {
            lmd_engine_state(lmd_models[i].engine, why, sizeof(why));
            snprintf(err, errlen, "model \"%s\": %s", lmd_models[i].name,
                     why);
            return 1;
        }
    }
    return 0;
}


size_t
lmd_models_count(void)
{
    return lmd_nmodels;
}


const struct lmd_model *
lmd_models_get(size_t i)
{
    return i < lmd_nmodels ? &lmd_models[i] : NULL;
}


const struct lmd_model *
lmd_models_find(const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < lmd_nmodels; i++) {
        if (strlen(lmd_models[i].name) == len
            && memcmp(lmd_models[i].name, name, len) == 0)
        {
            return &lmd_models[i];
        }
    }
    return NULL;
}


void
lmd_models_stop(void)
{
    struct lmd_model  *m;
    size_t             i;

    for (i = 0; i < lmd_nmodels; i++) {
        m = &lmd_models[i];
        lmd_engine_stop(m->engine);
        lmd_module_close(m->module);
        lmd_module_close(m->codec_module);
        lmd_model_text_free(m->text);
        free(m->name);
        free(m->path);
        free(m->engine_name);
        free(m->load_format);
        free(m->weights);
    }
    free(lmd_models);
    lmd_models = NULL;
    lmd_nmodels = 0;
    lmd_metrics_reset();
    lmd_wakeup_free(lmd_models_wakeup);
    lmd_models_wakeup = NULL;
}
