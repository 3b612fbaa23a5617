/*
 * lmd_engine_test.c -- an engine module for the tests: proves that the
 * loader, the ABI and the engine thread work, with no model behind it.
 *
 * It "loads" in LMD_TEST_ENGINE_DELAY_MS milliseconds (so /health can be
 * seen answering 503 while loading), fails to load when the model path
 * contains "fail", and fails its probe when LMD_TEST_ENGINE_NO_DEVICE is
 * set, the way a GPU engine does on a machine without a GPU.
 */

#define _POSIX_C_SOURCE 200809L

#include "lmd_module.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct test_engine {
    char  name[128];
};


static int
test_probe(const struct lmd_host *host, char *err, size_t len)
{
    (void) host;
    if (getenv("LMD_TEST_ENGINE_NO_DEVICE") != NULL) {
        snprintf(err, len, "no test device on this machine");
        return 0;
    }
    return 1;
}


static int
test_open(const struct lmd_host *host, const struct lmd_engine_params *p,
    void **engine, char *err, size_t len)
{
    struct test_engine  *e;
    struct timespec      ts;
    const char          *delay;
    long                 ms;

    delay = getenv("LMD_TEST_ENGINE_DELAY_MS");
    ms = delay ? strtol(delay, NULL, 10) : 0;
    if (ms > 0) {
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (ms % 1000) * 1000000L;
        nanosleep(&ts, NULL);
    }

    if (strstr(p->path, "fail") != NULL) {
        snprintf(err, len, "%s/model.safetensors: tensor "
                 "\"model.embed_tokens.weight\" is missing", p->path);
        return LMD_MODULE_ERROR;
    }

    e = calloc(1, sizeof(struct test_engine));
    if (e == NULL) {
        snprintf(err, len, "out of memory");
        return LMD_MODULE_ERROR;
    }
    snprintf(e->name, sizeof(e->name), "%s", p->name);
    host->log(LMD_HOST_LOG_INFO, "test engine opened \"%s\"", e->name);
    *engine = e;
    return LMD_MODULE_OK;
}


static int
test_memory(void *engine, struct lmd_engine_memory *mem)
{
    (void) engine;
    memset(mem, 0, sizeof(*mem));
    mem->weight_bytes = 4096;
    return LMD_MODULE_OK;
}


static void
test_close(void *engine)
{
    free(engine);
}


LMD_MODULE_EXPORT const struct lmd_module  lmd_module = {
    .abi_version = LMD_MODULE_ABI_VERSION,
    .signature = LMD_MODULE_SIGNATURE,
    .name = "test",
    .kind = LMD_MODULE_ENGINE,
    .description = "test engine without a model",
    .ops.engine = {
        .probe = test_probe,
        .open = test_open,
        .memory = test_memory,
        .close = test_close,
    },
};
