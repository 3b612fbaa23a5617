/*
 * lmd_models.h -- the configured models: their modules, engine threads and
 * states, as the API and /health see them.
 *
 * Models are set up once at start-up (a reload keeps them: swapping weights
 * under running requests is a restart's job).  Loop thread only.
 */

#ifndef LMD_MODELS_H
#define LMD_MODELS_H

#include "lmd_core.h"
#include "lmd_conf.h"

struct lmd_model {
    char                        *name;
    char                        *path;
    char                        *engine_name;
    char                        *load_format;
    char                        *weights;
    int                          demo;         /* config.json says
                                                  "lmd_demo": true */
    time_t                       created;      /* for /v1/models */
    int                          state;        /* enum lmd_engine_state */
    struct lmd_module_handle    *module;
    struct lmd_module_handle    *codec_module;  /* kv_cache.codec's, or
                                                   NULL (auto) */
    struct lmd_engine           *engine;
    struct lmd_model_text       *text;         /* tokenizer, template;
                                                  NULL: none in the
                                                  folder */
};

/* Checks that every model's engine module loads and passes its probe,
 * without opening models (lmd -t).  LMD_OK or LMD_ERROR with err set. */
int lmd_models_check(const struct lmd_conf *conf, char *err, size_t errlen);

/* Loads the modules and starts one engine thread per model; on_change runs
 * on the loop thread whenever a model becomes ready or fails.  LMD_OK or
 * LMD_ERROR with err set. */
int lmd_models_start(const struct lmd_conf *conf, void (*on_change)(void),
    char *err, size_t errlen);

/* 1 when every model is ready (also when there are none). */
int lmd_models_ready(void);
/* 1 when a model failed to load; err gets "model "x": reason". */
int lmd_models_failed(char *err, size_t errlen);

size_t                   lmd_models_count(void);
const struct lmd_model  *lmd_models_get(size_t i);
const struct lmd_model  *lmd_models_find(const char *name, size_t len);

/* Closes every engine and module.  Blocks until their threads exit. */
void lmd_models_stop(void);

#endif /* LMD_MODELS_H */
