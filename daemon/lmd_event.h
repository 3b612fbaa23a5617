/*
 * lmd_event.h -- the event loop, timers, signals and cross-thread wakeups.
 *
 * A thin layer over libevent so that nothing above daemon/lmd_event*.c and
 * daemon/lmd_conn*.c includes <event2/...>.  Everything here is owned by the
 * loop thread except lmd_wakeup_fire(), which any thread may call.
 */

#ifndef LMD_EVENT_H
#define LMD_EVENT_H

#include "lmd_core.h"

struct lmd_timer;
struct lmd_wakeup;

typedef void (*lmd_event_handler_pt)(void *data);

/* Creates the loop (libevent with pthreads support).  LMD_OK/LMD_ERROR. */
int  lmd_event_init(void);
/* Runs until lmd_event_stop(); returns LMD_OK or LMD_ERROR. */
int  lmd_event_run(void);
void lmd_event_stop(void);
/* Frees the loop; every timer/wakeup/connection must be gone by then. */
void lmd_event_done(void);
/* After fork() in the child: libevent must re-arm its kernel state. */
int  lmd_event_reinit(void);

/* "2.1.12-stable": the libevent in use (lmd -v). */
const char *lmd_event_version(void);

/* Monotonic time in milliseconds. */
uint64_t lmd_event_now_ms(void);

/* One-shot timers.  lmd_timer_add re-arms a pending timer. */
struct lmd_timer *lmd_timer_new(lmd_event_handler_pt handler, void *data);
void              lmd_timer_add(struct lmd_timer *t, uint64_t ms);
void              lmd_timer_del(struct lmd_timer *t);
int               lmd_timer_pending(struct lmd_timer *t);
void              lmd_timer_free(struct lmd_timer *t);

/* Signals delivered on the loop thread.  LMD_OK/LMD_ERROR. */
int lmd_signal_add(int signo, lmd_event_handler_pt handler, void *data);
void lmd_signals_free(void);

/* A wakeup runs handler(data) on the loop thread soon after any thread
 * calls lmd_wakeup_fire(); several fires before it runs run it once. */
struct lmd_wakeup *lmd_wakeup_new(lmd_event_handler_pt handler, void *data);
void               lmd_wakeup_fire(struct lmd_wakeup *w);
void               lmd_wakeup_free(struct lmd_wakeup *w);

#endif /* LMD_EVENT_H */
