/*
 * lmd_conf_table.c -- the schema of lmd.yaml: one table of rows per section,
 * plus the checks that no generic type covers.
 *
 * Read the tables at the bottom first: each row is {key, type, offset,
 * post, default}, in the order `lmd -T` prints them, and each default is
 * written exactly as a user would write it in the file.  Above the tables:
 *
 *   - models: a list of mappings; name and path are required, names are
 *     unique and made of [A-Za-z0-9._:/-], engines are plain module names;
 *     kv_cache and scheduler are nested sections with checks of their own
 *     (a power-of-two block size, no codec that is not built yet, a step
 *     that holds at least one token per running sequence);
 *   - post hooks, run once a section is complete: daemon.user must exist
 *     (getpwnam), api keys must be printable ASCII, and api_keys_file is
 *     read into http.auth.api_keys.
 *
 * Every message is positioned at the offending value, found again in the
 * section's mapping node with lmd_conf_find().
 */

#include "lmd_core.h"

#include <limits.h>
#include <pwd.h>

#include "lmd_conf.h"
#include "lmd_conf_table.h"

/* The struct holding a field, from the field's address. */
#define lmd_conf_container(p, type, member)                                   \
    ((type *) (void *) ((char *) (p) - offsetof(type, member)))

#define LMD_CONF_MODEL_NAME_MAX  128
#define LMD_CONF_ENGINE_NAME_MAX 64


/* ------------------------------------------------------------------------
 * models
 * ------------------------------------------------------------------------ */

/* 1 when s is 1..max characters, each a letter, a digit or in extra. */
static int
lmd_conf_name_ok(const char *s, const char *extra, size_t max)
{
    size_t  i;

    for (i = 0; s[i] != '\0'; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || strchr(extra, s[i])))
        {
            return 0;
        }
    }
    return i >= 1 && i <= max;
}


/* name and path are required; names and engines are checked here (after
 * merge) so that the messages point at the values. */
static int
lmd_conf_model_post(struct lmd_conf_ctx *ctx, yaml_node_t *node, void *base,
    const char *what)
{
    struct lmd_conf_model  *m;

    m = base;
    if (m->name == NULL) {
        return lmd_conf_error(ctx, node, "missing \"name\" in %s", what);
    }
    if (m->path == NULL) {
        return lmd_conf_error(ctx, node, "missing \"path\" in %s", what);
    }
    if (!lmd_conf_name_ok(m->name, "._:/-", LMD_CONF_MODEL_NAME_MAX)) {
        return lmd_conf_error(ctx, lmd_conf_find(ctx, node, "name"),
                              "expected a model name of 1 to %d letters, "
                              "digits or . _ : / - for %s.name",
                              LMD_CONF_MODEL_NAME_MAX, what);
    }
    if (!lmd_conf_name_ok(m->engine, "_-", LMD_CONF_ENGINE_NAME_MAX)) {
        return lmd_conf_error(ctx, lmd_conf_find(ctx, node, "engine"),
                              "expected a module name of letters, digits, "
                              "_ or - for %s.engine", what);
    }
    return LMD_OK;
}


/* kv_cache: the block size must be a power of two (blocks are indexed
 * with shifts by the engines).  A codec other than auto is checked when
 * the models load (its module must be built; lmd_models.c). */
static int
lmd_conf_kv_cache_post(struct lmd_conf_ctx *ctx, yaml_node_t *node,
    void *base, const char *what)
{
    struct lmd_conf_kv_cache  *kv;

    kv = base;
    if ((kv->block_size & (kv->block_size - 1)) != 0) {
        return lmd_conf_error(ctx, lmd_conf_find(ctx, node, "block_size"),
                              "expected a power of two (16, 32, 64 ... "
                              "1024) for %s.block_size", what);
    }
    return LMD_OK;
}


/* scheduler: a decode step gives every running sequence one token, so a
 * step budget below the batch size could never run a full batch.  The
 * message points at whichever of the two was written. */
static int
lmd_conf_scheduler_post(struct lmd_conf_ctx *ctx, yaml_node_t *node,
    void *base, const char *what)
{
    struct lmd_conf_scheduler  *sc;
    yaml_node_t                *at;

    sc = base;
    if (sc->max_batched_tokens < sc->max_batch_size) {
        at = lmd_conf_find(ctx, node, "max_batched_tokens");
        if (at == NULL) {
            at = lmd_conf_find(ctx, node, "max_batch_size");
        }
        return lmd_conf_error(ctx, at, "max_batched_tokens (%lld) must be "
                              "at least max_batch_size (%lld) in %s",
                              sc->max_batched_tokens, sc->max_batch_size,
                              what);
    }
    if (sc->queue_timeout == 0) {
        return lmd_conf_error(ctx, lmd_conf_find(ctx, node, "queue_timeout"),
                              "expected a duration above 0 for "
                              "%s.queue_timeout", what);
    }
    return LMD_OK;
}


static const struct lmd_conf_range  lmd_conf_block_size = { 16, 1024 };

static const struct lmd_conf_range  lmd_conf_kv_blocks = { 0, 16777216 };

static const struct lmd_conf_range  lmd_conf_batch_size = { 1, 65536 };

static const struct lmd_conf_range  lmd_conf_batched_tokens = {
    1, 16777216
};

static const struct lmd_conf_range  lmd_conf_max_queue = { 1, 1000000 };

/* int4 is named so that it gets the same message as int8. */
static const char *const  lmd_conf_kv_codecs[] = {
    "auto", "int8", "int4", NULL
};

static const struct lmd_conf_cmd  lmd_conf_kv_cache_cmds[] = {
    { "block_size", &lmd_conf_type_int,
      offsetof(struct lmd_conf_kv_cache, block_size), &lmd_conf_block_size,
      "64" },
    { "cache_max_entry_count", &lmd_conf_type_fraction,
      offsetof(struct lmd_conf_kv_cache, cache_max_entry_count), NULL,
      "0.8" },
    { "kv_memory", &lmd_conf_type_size_auto,
      offsetof(struct lmd_conf_kv_cache, kv_memory), NULL, "auto" },
    { "kv_blocks", &lmd_conf_type_int,
      offsetof(struct lmd_conf_kv_cache, kv_blocks), &lmd_conf_kv_blocks,
      "0" },
    { "codec", &lmd_conf_type_enum_str,
      offsetof(struct lmd_conf_kv_cache, codec), lmd_conf_kv_codecs,
      "auto" },
    { NULL, NULL, 0, NULL, NULL }
};

static const struct lmd_conf_section  lmd_conf_kv_cache_section = {
    lmd_conf_kv_cache_cmds, lmd_conf_kv_cache_post
};

static const struct lmd_conf_cmd  lmd_conf_scheduler_cmds[] = {
    { "max_batch_size", &lmd_conf_type_int,
      offsetof(struct lmd_conf_scheduler, max_batch_size),
      &lmd_conf_batch_size, "128" },
    { "max_batched_tokens", &lmd_conf_type_int,
      offsetof(struct lmd_conf_scheduler, max_batched_tokens),
      &lmd_conf_batched_tokens, "4096" },
    { "max_queue", &lmd_conf_type_int,
      offsetof(struct lmd_conf_scheduler, max_queue), &lmd_conf_max_queue,
      "1024" },
    { "queue_timeout", &lmd_conf_type_duration,
      offsetof(struct lmd_conf_scheduler, queue_timeout), NULL, "120s" },
    { NULL, NULL, 0, NULL, NULL }
};

static const struct lmd_conf_section  lmd_conf_scheduler_section = {
    lmd_conf_scheduler_cmds, lmd_conf_scheduler_post
};


static const char *const  lmd_conf_load_formats[] = {
    "auto", "dummy", NULL
};

static const char *const  lmd_conf_weights[] = {
    "auto", "f32", "f16", "bf16", "int8", NULL
};

static const struct lmd_conf_range  lmd_conf_threads = { 0, 4096 };

static const struct lmd_conf_range  lmd_conf_seed = { 0, LLONG_MAX };

static const struct lmd_conf_cmd  lmd_conf_model_cmds[] = {
    { "name", &lmd_conf_type_str,
      offsetof(struct lmd_conf_model, name), NULL, NULL },
    { "path", &lmd_conf_type_path,
      offsetof(struct lmd_conf_model, path), NULL, NULL },
    { "engine", &lmd_conf_type_str,
      offsetof(struct lmd_conf_model, engine), NULL, "cpu" },
    { "load_format", &lmd_conf_type_enum_str,
      offsetof(struct lmd_conf_model, load_format), lmd_conf_load_formats,
      "auto" },
    { "weights", &lmd_conf_type_enum_str,
      offsetof(struct lmd_conf_model, weights), lmd_conf_weights, "auto" },
    { "threads", &lmd_conf_type_int,
      offsetof(struct lmd_conf_model, threads), &lmd_conf_threads, "0" },
    { "seed", &lmd_conf_type_int,
      offsetof(struct lmd_conf_model, seed), &lmd_conf_seed, "0" },
    { "chat_template", &lmd_conf_type_path,
      offsetof(struct lmd_conf_model, chat_template), NULL, NULL },
    { "kv_cache", &lmd_conf_type_section,
      offsetof(struct lmd_conf_model, kv_cache), &lmd_conf_kv_cache_section,
      NULL },
    { "scheduler", &lmd_conf_type_section,
      offsetof(struct lmd_conf_model, scheduler),
      &lmd_conf_scheduler_section, NULL },
    { "prefix_cache", &lmd_conf_type_flag,
      offsetof(struct lmd_conf_model, prefix_cache), NULL, "true" },
    { NULL, NULL, 0, NULL, NULL }
};

static const struct lmd_conf_section  lmd_conf_model_section = {
    lmd_conf_model_cmds, lmd_conf_model_post
};


/* The row's offset points at conf->models; nmodels is its neighbour. */
static void
lmd_conf_init_models(void *field)
{
    struct lmd_conf  *conf;

    conf = lmd_conf_container(field, struct lmd_conf, models);
    conf->models = NULL;
    conf->nmodels = 0;
}


/* A list of mappings, each loaded through the model table; names are
 * compared as they are loaded, so a duplicate is reported at the later
 * one, with the position of the first. */
static int
lmd_conf_set_models(struct lmd_conf_ctx *ctx, yaml_node_t *node,
    void *field, const struct lmd_conf_cmd *cmd, const char *what)
{
    struct lmd_conf_model  *m;
    struct lmd_conf        *conf;
    yaml_node_t            *item;
    char                    qname[LMD_CONF_NAME_LEN];
    size_t                  i, j, n;

    lmd_unused(cmd);

    conf = lmd_conf_container(field, struct lmd_conf, models);
    if (node->type != YAML_SEQUENCE_NODE) {
        return lmd_conf_error(ctx, node, "expected a list of models for %s",
                              what);
    }

    n = lmd_conf_nitems(node);
    m = lmd_pcalloc(ctx->pool, (n ? n : 1) * sizeof(struct lmd_conf_model));
    if (m == NULL) {
        return lmd_conf_oom(ctx);
    }

    for (i = 0; i < n; i++) {
        item = lmd_conf_item(ctx, node, i);
        snprintf(qname, sizeof(qname), "%s[%zu]", what, i);

        if (item->type != YAML_MAPPING_NODE) {
            return lmd_conf_error(ctx, item, "expected a mapping for %s",
                                  qname);
        }
        m[i].line = (int) item->start_mark.line + 1;
        m[i].column = (int) item->start_mark.column + 1;

        if (lmd_conf_section_load(ctx, &lmd_conf_model_section, item, &m[i],
                                  qname) != LMD_OK)
        {
            return LMD_ERROR;
        }

        for (j = 0; j < i; j++) {
            if (strcmp(m[i].name, m[j].name) == 0) {
                return lmd_conf_error(ctx, lmd_conf_find(ctx, item, "name"),
                                      "duplicate model name \"%s\" for %s "
                                      "(first at line %d, column %d)",
                                      m[i].name, qname, m[j].line,
                                      m[j].column);
            }
        }
    }

    conf->models = m;
    conf->nmodels = n;
    return LMD_OK;
}


/* "models: []", or one list item per model, keys in table order. */
static void
lmd_conf_dump_models(struct lmd_conf_dumper *d, int indent, const char *key,
    const void *field, const struct lmd_conf_cmd *cmd)
{
    const struct lmd_conf  *conf;
    size_t                  i;

    lmd_unused(cmd);

    conf = lmd_conf_container(field, const struct lmd_conf, models);
    lmd_conf_dump_key(d, indent, key);
    if (conf->nmodels == 0) {
        fputs(" []\n", d->out);
        return;
    }

    fputc('\n', d->out);
    for (i = 0; i < conf->nmodels; i++) {
        d->item = 1;
        lmd_conf_dump_section(d, &lmd_conf_model_section, &conf->models[i],
                              indent + 4);
    }
}


static const struct lmd_conf_type  lmd_conf_type_models = {
    lmd_conf_init_models, lmd_conf_set_models, NULL, lmd_conf_dump_models,
    0, NULL
};


/* ------------------------------------------------------------------------
 * Post hooks: daemon.user, API keys
 * ------------------------------------------------------------------------ */

/* daemon.user is looked up now so that `lmd -t` catches a typo; the
 * switch itself happens after binding, and only when running as root. */
static int
lmd_conf_daemon_post(struct lmd_conf_ctx *ctx, yaml_node_t *node,
    void *base, const char *what)
{
    struct lmd_conf_daemon  *d;

    d = base;
    if (d->user != NULL && getpwnam(d->user) == NULL) {
        return lmd_conf_error(ctx, lmd_conf_find(ctx, node, "user"),
                              "unknown user \"%s\" for %s.user", d->user,
                              what);
    }
    return LMD_OK;
}


/* Keys travel in "Authorization: Bearer KEY": visible ASCII only. */
static int
lmd_conf_key_ok(const char *s)
{
    for ( ; *s != '\0'; s++) {
        if (*s < 0x21 || *s > 0x7e) {
            return 0;
        }
    }
    return 1;
}


/* Linear search: key lists are short, and this runs once per load. */
static int
lmd_conf_key_known(const struct lmd_conf_strv *keys, const char *s)
{
    size_t  i;

    for (i = 0; i < keys->n; i++) {
        if (strcmp(keys->v[i], s) == 0) {
            return 1;
        }
    }
    return 0;
}


/*
 * Appends the keys of api_keys_file to api_keys, skipping keys already
 * there: then a dumped config (which lists both the keys and the file)
 * loads back to the very same list.
 */
static int
lmd_conf_read_keys(struct lmd_conf_ctx *ctx, struct lmd_conf_auth *a,
    yaml_node_t *node, const char *what)
{
    FILE      *fp;
    char      *line, *s, *e, **v;
    size_t     cap, vcap;
    unsigned   lineno;
    int        rc;

    fp = fopen(a->api_keys_file, "re");
    if (fp == NULL) {
        return lmd_conf_error(ctx, node, "cannot read api_keys_file \"%s\": "
                              "%s", a->api_keys_file, strerror(errno));
    }

    rc = LMD_ERROR;
    line = NULL;
    cap = 0;
    lineno = 0;
    vcap = a->api_keys.n;

    while (getline(&line, &cap, fp) != -1) {
        lineno++;

        /* Trim blanks and the line end (CRLF files are common). */
        for (s = line; *s == ' ' || *s == '\t'; s++) { /* void */ }
        e = s + strlen(s);
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' '
                         || e[-1] == '\t'))
        {
            e--;
        }
        *e = '\0';

        if (*s == '\0' || *s == '#' || lmd_conf_key_known(&a->api_keys, s)) {
            continue;
        }
        if (!lmd_conf_key_ok(s)) {
            lmd_conf_error(ctx, node, "invalid key on line %u of "
                           "api_keys_file \"%s\" (expected printable ASCII "
                           "without spaces) for %s.api_keys_file", lineno,
                           a->api_keys_file, what);
            goto done;
        }

        /* Grow by doubling; the old array stays in the pool, unused. */
        if (a->api_keys.n == vcap) {
            vcap = vcap ? vcap * 2 : 8;
            v = lmd_pcalloc(ctx->pool, (vcap + 1) * sizeof(char *));
            if (v == NULL) {
                lmd_conf_oom(ctx);
                goto done;
            }
            if (a->api_keys.n) {
                memcpy(v, a->api_keys.v, a->api_keys.n * sizeof(char *));
            }
            a->api_keys.v = v;
        }

        a->api_keys.v[a->api_keys.n] = lmd_pstrdup(ctx->pool, s);
        if (a->api_keys.v[a->api_keys.n] == NULL) {
            lmd_conf_oom(ctx);
            goto done;
        }
        a->api_keys.n++;
    }

    if (ferror(fp)) {
        lmd_conf_error(ctx, node, "cannot read api_keys_file \"%s\": %s",
                       a->api_keys_file, strerror(errno));
        goto done;
    }
    rc = LMD_OK;

done:

    free(line);
    fclose(fp);
    return rc;
}


/* Inline keys are checked first (positioned at the bad item), then the
 * file is read; a reload runs this again, so edits to the file take effect
 * on SIGHUP. */
static int
lmd_conf_auth_post(struct lmd_conf_ctx *ctx, yaml_node_t *node, void *base,
    const char *what)
{
    struct lmd_conf_auth  *a;
    yaml_node_t           *keys;
    size_t                 i;

    a = base;
    keys = lmd_conf_find(ctx, node, "api_keys");

    for (i = 0; i < a->api_keys.n; i++) {
        if (!lmd_conf_key_ok(a->api_keys.v[i])) {
            return lmd_conf_error(ctx, lmd_conf_item(ctx, keys, i),
                                  "expected a key of printable ASCII "
                                  "without spaces for %s.api_keys", what);
        }
    }

    if (a->api_keys_file == NULL) {
        return LMD_OK;
    }
    return lmd_conf_read_keys(ctx, a, lmd_conf_find(ctx, node,
                                                    "api_keys_file"), what);
}


/* ------------------------------------------------------------------------
 * The tables
 * ------------------------------------------------------------------------ */

/* A row of a generic type: LMD_ROW("max_body", size, lmd_conf_limits,
 * max_body, NULL, "4m") reads "max_body is a size at that offset of struct
 * lmd_conf_limits, 4m by default". */
#define LMD_ROW(key, type, st, field, post, def)                              \
    { key, &lmd_conf_type_##type, offsetof(struct st, field), post, def }

#define LMD_ROW_END  { NULL, NULL, 0, NULL, NULL }

static const char *const  lmd_conf_log_levels[] = {
    "error", "warn", "notice", "info", "debug", NULL    /* lmd_log_level */
};

static const char *const  lmd_conf_error_log_words[] = {
    "stderr", "stdout", NULL
};

/* "off": no pid file (lmd serve, or a service manager that tracks the
 * process itself). */
static const char *const  lmd_conf_pid_words[] = {
    "off", NULL
};

static const char *const  lmd_conf_access_log_words[] = {
    "off", "stdout", "stderr", NULL
};

static const struct lmd_conf_range  lmd_conf_max_connections = {
    1, 1000000
};

static const struct lmd_conf_range  lmd_conf_keepalive_requests = {
    1, 100000000
};


/* daemon: process-wide settings. */
static const struct lmd_conf_cmd  lmd_conf_daemon_cmds[] = {
    LMD_ROW("daemonize", flag, lmd_conf_daemon, daemonize, NULL, "false"),
    LMD_ROW("user", str, lmd_conf_daemon, user, NULL, NULL),
    LMD_ROW("pid", target, lmd_conf_daemon, pid, lmd_conf_pid_words,
            "logs/lmd.pid"),
    LMD_ROW("error_log", target, lmd_conf_daemon, error_log,
            lmd_conf_error_log_words, "stderr"),
    LMD_ROW("log_level", enum, lmd_conf_daemon, log_level,
            lmd_conf_log_levels, "info"),
    LMD_ROW("access_log", target, lmd_conf_daemon, access_log,
            lmd_conf_access_log_words, "off"),
    LMD_ROW("shutdown_timeout", duration, lmd_conf_daemon, shutdown_timeout,
            NULL, "30s"),
    LMD_ROW_END
};

/* http.limits: per-connection resource limits and timeouts. */
static const struct lmd_conf_cmd  lmd_conf_limits_cmds[] = {
    LMD_ROW("max_header_size", size, lmd_conf_limits, max_header_size,
            NULL, "8k"),
    LMD_ROW("max_body", size, lmd_conf_limits, max_body, NULL, "4m"),
    LMD_ROW("header_timeout", duration, lmd_conf_limits, header_timeout,
            NULL, "10s"),
    LMD_ROW("body_timeout", duration, lmd_conf_limits, body_timeout,
            NULL, "30s"),
    LMD_ROW("idle_timeout", duration, lmd_conf_limits, idle_timeout,
            NULL, "60s"),
    LMD_ROW("send_timeout", duration, lmd_conf_limits, send_timeout,
            NULL, "60s"),
    LMD_ROW("max_connections", int, lmd_conf_limits, max_connections,
            &lmd_conf_max_connections, "4096"),
    LMD_ROW("keepalive_requests", int, lmd_conf_limits, keepalive_requests,
            &lmd_conf_keepalive_requests, "10000"),
    LMD_ROW_END
};

/* http.cors: cross-origin access for browser clients. */
static const struct lmd_conf_cmd  lmd_conf_cors_cmds[] = {
    LMD_ROW("enabled", flag, lmd_conf_cors, enabled, NULL, "false"),
    LMD_ROW("allow_origins", strv, lmd_conf_cors, allow_origins, NULL, "*"),
    LMD_ROW("allow_headers", str, lmd_conf_cors, allow_headers, NULL,
            "Authorization, Content-Type"),
    LMD_ROW("max_age", duration, lmd_conf_cors, max_age, NULL, "1d"),
    LMD_ROW_END
};

/* http.auth: bearer keys and what they protect. */
static const struct lmd_conf_cmd  lmd_conf_auth_cmds[] = {
    LMD_ROW("api_keys", strv, lmd_conf_auth, api_keys, NULL, NULL),
    LMD_ROW("api_keys_file", path, lmd_conf_auth, api_keys_file, NULL, NULL),
    LMD_ROW("protect_health", flag, lmd_conf_auth, protect_health, NULL,
            "false"),
    LMD_ROW("protect_static", flag, lmd_conf_auth, protect_static, NULL,
            "false"),
    LMD_ROW_END
};

static const struct lmd_conf_section  lmd_conf_daemon_section = {
    lmd_conf_daemon_cmds, lmd_conf_daemon_post
};

static const struct lmd_conf_section  lmd_conf_limits_section = {
    lmd_conf_limits_cmds, NULL
};

static const struct lmd_conf_section  lmd_conf_cors_section = {
    lmd_conf_cors_cmds, NULL
};

static const struct lmd_conf_section  lmd_conf_auth_section = {
    lmd_conf_auth_cmds, lmd_conf_auth_post
};

/* http: listeners, static files, and the sections above.  listen has a
 * type of its own (lmd_conf_lists.c), as models does (above). */
static const struct lmd_conf_cmd  lmd_conf_http_cmds[] = {
    { "listen", &lmd_conf_type_listen,
      offsetof(struct lmd_conf_http, listen), NULL, "127.0.0.1:8080" },
    LMD_ROW("html", path, lmd_conf_http, html, NULL, "html"),
    LMD_ROW("index", str, lmd_conf_http, index, NULL, "index.html"),
    LMD_ROW("server_tokens", flag, lmd_conf_http, server_tokens, NULL,
            "true"),
    LMD_ROW("limits", section, lmd_conf_http, limits,
            &lmd_conf_limits_section, NULL),
    LMD_ROW("cors", section, lmd_conf_http, cors, &lmd_conf_cors_section,
            NULL),
    LMD_ROW("auth", section, lmd_conf_http, auth, &lmd_conf_auth_section,
            NULL),
    LMD_ROW_END
};

static const struct lmd_conf_section  lmd_conf_http_section = {
    lmd_conf_http_cmds, NULL
};

/* The top level: the root of the whole schema. */
static const struct lmd_conf_cmd  lmd_conf_main_cmds[] = {
    LMD_ROW("daemon", section, lmd_conf, daemon, &lmd_conf_daemon_section,
            NULL),
    LMD_ROW("http", section, lmd_conf, http, &lmd_conf_http_section, NULL),
    { "models", &lmd_conf_type_models,
      offsetof(struct lmd_conf, models), NULL, NULL },
    LMD_ROW("modules_path", path, lmd_conf, modules_path, NULL, "modules"),
    LMD_ROW_END
};

const struct lmd_conf_section  lmd_conf_main_section = {
    lmd_conf_main_cmds, NULL
};
