/*
 * lmd_module.h -- THE module ABI: the only header a module sees.
 *
 * Every module is a shared object exporting exactly one symbol,
 *
 *     const struct lmd_module lmd_module;
 *
 * a const struct with a fixed head (ABI version, build signature, name,
 * kind), then the vtable of its kind, then reserved slots so that hooks can
 * be added without moving anything.  The daemon's loader (daemon/
 * lmd_module_load.c) refuses a module whose abi_version or signature differs
 * from its own, or whose kind is not what the config asked for.
 *
 * Modules never link against the daemon: host services (logging, clock)
 * come in through struct lmd_host.  Build them with -fvisibility=hidden and
 * mark only `lmd_module` with LMD_MODULE_EXPORT.
 *
 * Threads: probe() runs on the loop thread at start-up; every engine hook
 * runs on that model's engine thread; the host's hooks may be called from
 * any thread.
 */

#ifndef LMD_MODULE_H
#define LMD_MODULE_H

#include <stddef.h>
#include <stdint.h>

#define LMD_MODULE_ABI_VERSION  1

/* Facts both sides must agree on; compared as a string by the loader. */
#define LMD_MODULE_STR2(x)      #x
#define LMD_MODULE_STR(x)       LMD_MODULE_STR2(x)
#define LMD_MODULE_SIGNATURE                                                  \
    "abi=" LMD_MODULE_STR(LMD_MODULE_ABI_VERSION)                             \
    " ptr=" LMD_MODULE_STR(__SIZEOF_POINTER__)                                \
    " long=" LMD_MODULE_STR(__SIZEOF_LONG__)                                  \
    " size_t=" LMD_MODULE_STR(__SIZEOF_SIZE_T__)

#define LMD_MODULE_EXPORT       __attribute__((visibility("default")))

/* Return codes, the same closed set as the daemon's (lmd_core.h). */
#define LMD_MODULE_OK           0
#define LMD_MODULE_ERROR       -1

#define LMD_MODULE_ERR_LEN      512

enum lmd_module_kind {
    LMD_MODULE_ENGINE   = 1,    /* runs a model: modules/cpu, cuda-awq */
    LMD_MODULE_KV_CODEC = 2     /* stores the KV cache: modules/int8-kv */
};

enum lmd_host_log_level {      /* the same numbers as enum lmd_log_level */
    LMD_HOST_LOG_ERR = 0,
    LMD_HOST_LOG_WARN,
    LMD_HOST_LOG_NOTICE,
    LMD_HOST_LOG_INFO,
    LMD_HOST_LOG_DEBUG
};

/* Services the daemon lends a module.  Valid until the module's close. */
struct lmd_host {
    unsigned    abi_version;
    /* Writes one line to the error log; any thread. */
    void      (*log)(int level, const char *fmt, ...)
                  __attribute__((format(printf, 2, 3)));
    /* Monotonic clock in nanoseconds; any thread. */
    uint64_t  (*now_ns)(void);
    void       *reserved[6];
};

/* What an engine is asked to open: one configured model. */
struct lmd_engine_params {
    const char *name;           /* the model's API id */
    const char *path;           /* model folder */
    const char *load_format;    /* "auto" or "dummy" */
    void       *reserved[8];
};

/* Sizes an engine reports after open, for the capacity report. */
struct lmd_engine_memory {
    uint64_t    weight_bytes;   /* resident weights */
    uint64_t    free_bytes;     /* device memory left after weights */
    uint64_t    reserved[6];
};

struct lmd_engine_ops {
    /* (optional) Is the hardware this engine needs present?  Returns 1 if
     * usable, 0 if not (err says why: "no CUDA device"), so the daemon can
     * log it and carry on with other models.  Loop thread. */
    int       (*probe)(const struct lmd_host *host, char *err, size_t len);

    /* Loads a model; on success *engine is the engine's own state, owned
     * by it until close.  LMD_MODULE_OK or LMD_MODULE_ERROR with err set
     * naming the file and tensor at fault.  Engine thread. */
    int       (*open)(const struct lmd_host *host,
                  const struct lmd_engine_params *params, void **engine,
                  char *err, size_t len);

    /* Fills *mem.  Engine thread. */
    int       (*memory)(void *engine, struct lmd_engine_memory *mem);

    /* Frees everything open made.  Engine thread. */
    void      (*close)(void *engine);

    /* Slots for the batched forward, KV and sampling hooks. */
    void       *reserved[12];
};

/* A KV codec's hooks are defined with the int8-kv module. */
struct lmd_kv_codec_ops {
    void       *reserved[16];
};

struct lmd_module {
    /* Fixed head: never moves. */
    unsigned                     abi_version;   /* LMD_MODULE_ABI_VERSION */
    const char                  *signature;     /* LMD_MODULE_SIGNATURE */
    const char                  *name;          /* "cpu", "int8-kv", ... */
    int                          kind;          /* enum lmd_module_kind */
    const char                  *description;   /* one line, for logs */

    union {
        struct lmd_engine_ops    engine;        /* kind ENGINE */
        struct lmd_kv_codec_ops  kv_codec;      /* kind KV_CODEC */
    } ops;

    void                        *reserved[8];
};

#endif /* LMD_MODULE_H */
