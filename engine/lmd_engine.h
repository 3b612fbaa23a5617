/*
 * lmd_engine.h -- one engine thread per loaded model.
 *
 * The thread owns the module's engine state: it opens the model, reports
 * the outcome, and (from the serving work on) runs the scheduler's batched
 * steps.  The loop thread only starts it, reads its state and stops it;
 * the two meet through a mutex-protected state and the notify callback,
 * which the daemon points at a loop wakeup.  engine/ never includes
 * daemon/ headers.
 */

#ifndef LMD_ENGINE_H
#define LMD_ENGINE_H

#include <stddef.h>

#include "lmd_module.h"

enum lmd_engine_state {
    LMD_ENGINE_LOADING = 0,     /* open() is running */
    LMD_ENGINE_READY,           /* open() succeeded: serving */
    LMD_ENGINE_FAILED,          /* open() failed: see the error */
    LMD_ENGINE_STOPPED          /* closed */
};

struct lmd_engine;

/* Called on the engine thread whenever the state changes. */
typedef void (*lmd_engine_notify_pt)(void *data);

/* Starts a thread that opens params' model with module.  The strings in
 * params are copied.  Returns NULL with err set if no thread could be
 * started.  Loop thread. */
struct lmd_engine *lmd_engine_start(const struct lmd_module *module,
    const struct lmd_host *host, const struct lmd_engine_params *params,
    lmd_engine_notify_pt notify, void *data, char *err, size_t errlen);

/* The current state; for FAILED, err (if not NULL) gets the reason.
 * Any thread. */
int lmd_engine_state(struct lmd_engine *e, char *err, size_t errlen);

/* The memory report (valid once READY). */
void lmd_engine_memory(struct lmd_engine *e, struct lmd_engine_memory *mem);

/* Asks the thread to close the model and exit, joins it, frees e.  Waits
 * for a load in progress to finish first.  Loop thread. */
void lmd_engine_stop(struct lmd_engine *e);

#endif /* LMD_ENGINE_H */
