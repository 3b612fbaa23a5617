/*
 * lmd_conf.h -- the YAML configuration as typed structs.
 *
 * lmd_conf_load() parses a YAML file with libyaml into struct lmd_conf,
 * driven by tables of {key, setter, offset} rows (lmd_conf_table.c).  Every
 * field starts "unset"; after parsing, a merge step fills the defaults and
 * resolves relative paths against the prefix, so the struct always holds the
 * effective configuration (which is what `lmd -T` prints).
 *
 * Errors name the place: "conf/lmd.yaml:12:5: expected a size like "4m"".
 *
 * Design: a loaded conf owns one pool holding every string and array in it.
 * Connections and requests that started under a conf hold a reference, so a
 * reload can swap in a new conf while old requests finish on the old one.
 * Loop thread only (engines get copies of what they need).
 */

#ifndef LMD_CONF_H
#define LMD_CONF_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "lmd_pool.h"

#define LMD_CONF_UNSET        (-1)
#define LMD_CONF_UNSET_U64    ((uint64_t) -1)

/* A list of strings, pool-allocated. */
struct lmd_conf_strv {
    size_t                   n;
    char                   **v;
};

/* One `http.listen` entry: "ADDR:PORT" or {addr, tls: {cert, key}}. */
struct lmd_conf_listen {
    char                    *addr;       /* as written, e.g. "[::1]:8443" */
    struct sockaddr_storage  sockaddr;   /* resolved at load */
    socklen_t                socklen;
    char                    *tls_cert;   /* PEM chain path; NULL if plain */
    char                    *tls_key;    /* PEM key path; NULL if plain */
    int                      line;       /* where it was written (1-based) */
    int                      column;
};

struct lmd_conf_limits {
    uint64_t                 max_header_size;   /* bytes; over -> 431 */
    uint64_t                 max_body;          /* bytes; over -> 413 */
    uint64_t                 header_timeout;    /* ms to receive headers */
    uint64_t                 body_timeout;      /* ms between body reads */
    uint64_t                 idle_timeout;      /* ms keep-alive idle */
    uint64_t                 send_timeout;      /* ms between writes */
    long long                max_connections;
    long long                keepalive_requests; /* per connection */
};

struct lmd_conf_cors {
    int                      enabled;           /* 0/1 */
    struct lmd_conf_strv     allow_origins;     /* "*" or exact origins */
    char                    *allow_headers;     /* for preflight */
    uint64_t                 max_age;           /* ms, sent in seconds */
};

struct lmd_conf_auth {
    struct lmd_conf_strv     api_keys;          /* incl. api_keys_file's */
    char                    *api_keys_file;     /* one key per line, # */
    int                      protect_health;    /* /health needs a key */
    int                      protect_static;    /* the page needs a key */
};

/* models[].kv_cache: the paged KV pool (lmd.yaml(5)). */
struct lmd_conf_kv_cache {
    long long                block_size;        /* tokens per block */
    double                   cache_max_entry_count; /* fraction of the
                                                   memory left after the
                                                   weights */
    uint64_t                 kv_memory;         /* cpu budget, bytes;
                                                   0: auto */
    long long                kv_blocks;         /* 0: from the fraction */
    char                    *codec;             /* "auto" */
};

/* models[].scheduler: continuous batching limits. */
struct lmd_conf_scheduler {
    long long                max_batch_size;    /* running sequences */
    long long                max_batched_tokens; /* tokens per step */
    long long                max_queue;         /* waiting requests */
    uint64_t                 queue_timeout;     /* ms in the queue */
};

struct lmd_conf_model {
    char                    *name;              /* API model id */
    char                    *path;              /* model folder */
    char                    *engine;            /* module name: cpu, ... */
    char                    *load_format;       /* "auto" or "dummy" */
    char                    *weights;           /* auto, f32, f16, bf16,
                                                   int8: compute dtype */
    long long                threads;           /* engine threads; 0: all
                                                   cores */
    long long                seed;              /* dummy weights */
    char                    *chat_template;     /* Jinja file overriding
                                                   the model's; NULL */
    struct lmd_conf_kv_cache kv_cache;
    struct lmd_conf_scheduler scheduler;
    int                      prefix_cache;      /* 0/1 */
    int                      line;
    int                      column;
};

struct lmd_conf_daemon {
    int                      daemonize;         /* fork into background */
    char                    *user;              /* drop to it if root */
    char                    *pid;               /* pid file path */
    char                    *error_log;         /* "stderr" or a path */
    int                      log_level;         /* enum lmd_log_level */
    char                    *access_log;        /* "off", "stdout", path */
    uint64_t                 shutdown_timeout;  /* ms grace on stop */
};

struct lmd_conf_http {
    struct lmd_conf_listen  *listen;
    size_t                   nlisten;
    char                    *html;              /* static root */
    char                    *index;             /* file for "/" */
    int                      server_tokens;     /* version in Server: */
    struct lmd_conf_limits   limits;
    struct lmd_conf_cors     cors;
    struct lmd_conf_auth     auth;
};

struct lmd_conf {
    struct lmd_pool         *pool;              /* owns everything below */
    int                      refs;
    char                    *file;              /* the file as given */
    char                    *prefix;            /* for relative paths */

    struct lmd_conf_daemon   daemon;
    struct lmd_conf_http     http;
    struct lmd_conf_model   *models;
    size_t                   nmodels;
    char                    *modules_path;
};

/* Loads and validates a config file; relative paths in it are resolved
 * against prefix.  Returns a conf with one reference, or NULL with err set
 * to "file:line:column: message" (or "file: message" for I/O errors). */
struct lmd_conf *lmd_conf_load(const char *file, const char *prefix,
    char *err, size_t errlen);

/* Same, from a string in memory (tests); name is used in messages. */
struct lmd_conf *lmd_conf_load_string(const char *yaml, size_t len,
    const char *name, const char *prefix, char *err, size_t errlen);

struct lmd_conf *lmd_conf_ref(struct lmd_conf *conf);
void             lmd_conf_unref(struct lmd_conf *conf);

/* Prints the effective config as YAML that lmd_conf_load accepts. */
void lmd_conf_dump(const struct lmd_conf *conf, FILE *out);

#endif /* LMD_CONF_H */
