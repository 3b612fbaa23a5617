/*
 * lmd_cmd_model.h -- what `lmd generate` and `lmd chat` share: the model
 * and sampling options, finding the engine module, and opening a model
 * folder (config, tokenizer, engine, one session) in one call.
 */

#ifndef LMD_CMD_MODEL_H
#define LMD_CMD_MODEL_H

#include <limits.h>
#include <stdint.h>

#include "lmd_model_config.h"
#include "lmd_module_load.h"
#include "lmd_sampler.h"
#include "lmd_session.h"
#include "lmd_tokenizer.h"

#define LMD_CMD_MAX_EOS  (LMD_MODEL_MAX_EOS + 4)

/* The options both commands take (lmd_cmd_model_option). */
struct lmd_cmd_model_opts {
    const char             *cmd;            /* "generate", for messages */
    const char             *dir;            /* the model folder */
    const char             *engine;         /* module name: "cpu" */
    const char             *weights;        /* auto, f32, f16, bf16, int8 */
    const char             *load_format;    /* auto or dummy */
    const char             *kv_cache;       /* auto, or a codec module */
    const char             *modules;        /* NULL: found (see below) */
    int                     threads;        /* 0: every core */
    long long               max_tokens;     /* to generate */
    uint64_t                seed;
    int                     has_seed;
    int                     verbose;
    struct lmd_sampling     sampling;
    unsigned                set;            /* LMD_CMD_SET_* given */
};

/* Which sampling options the command line set (chat takes the others
 * from generation_config.json). */
#define LMD_CMD_SET_TEMPERATURE   0x01
#define LMD_CMD_SET_TOP_P         0x02
#define LMD_CMD_SET_TOP_K         0x04
#define LMD_CMD_SET_REPETITION    0x08
#define LMD_CMD_SET_MAX_TOKENS    0x10

/* An open model. */
struct lmd_cmd_model {
    struct lmd_model_config     cfg;
    struct lmd_tokenizer       *tok;            /* NULL: the folder has
                                                   none */
    struct lmd_module_handle   *module;
    struct lmd_module_handle   *codec_module;   /* --kv-cache's, or NULL */
    const struct lmd_kv_codec  *kv_codec;       /* in it; NULL: auto */
    struct lmd_session         *session;
    int32_t                     eos[LMD_CMD_MAX_EOS];
    size_t                      n_eos;
    char                        modules_dir[PATH_MAX];
};

/* Defaults: engine cpu, weights and load_format auto, greedy. */
void lmd_cmd_model_defaults(struct lmd_cmd_model_opts *o, const char *cmd);

/* Takes argv[*i] (and its value, advancing *i) when it is one of the
 * shared options: --engine --threads --weights --load-format --kv-cache
 * --modules --max-tokens --temperature --top-p --top-k --min-p
 * --repetition-penalty --seed --verbose.  Returns -1 when it is not one,
 * 0 when taken, or the exit status after printing the error: 2 for a
 * missing value, 1 for a bad one. */
int lmd_cmd_model_option(struct lmd_cmd_model_opts *o, int argc,
    char **argv, int *i);

/* The usage lines of the shared options. */
extern const char  lmd_cmd_model_usage[];

/* Loads o->dir's config and tokenizer (need_tokenizer: a folder without
 * one is an error) and checks the engine and KV codec modules, without
 * opening the model.  0, or 1 with the error printed. */
int lmd_cmd_model_load(struct lmd_cmd_model *m,
    const struct lmd_cmd_model_opts *o, int need_tokenizer);

/* Opens the model on the engine with room for max_tokens tokens.
 * 0, or 1 with the error printed. */
int lmd_cmd_model_open(struct lmd_cmd_model *m,
    const struct lmd_cmd_model_opts *o, uint32_t max_tokens);

/* Adds id to the stop ids (ignored when < 0 or there already). */
void lmd_cmd_model_add_eos(struct lmd_cmd_model *m, int32_t id);

int  lmd_cmd_model_is_eos(const struct lmd_cmd_model *m, int32_t id);

void lmd_cmd_model_close(struct lmd_cmd_model *m);

/* Monotonic seconds, for the speeds. */
double lmd_cmd_now(void);

#endif /* LMD_CMD_MODEL_H */
