/*
 * lmd_event.c -- libevent behind lmd_event.h: the one loop, its timers,
 * signals and cross-thread wakeups.
 *
 * Design: there is exactly one event_base, created by lmd_event_init() and
 * driven by the loop thread.  Wakeups are user-triggered events activated
 * with event_active(), which libevent makes thread-safe once
 * evthread_use_pthreads() has run; this is how engine threads hand results
 * to the loop without touching sockets.
 */

#include "lmd_event.h"
#include "lmd_event_base.h"

#include <event2/event.h>
#include <event2/thread.h>

struct lmd_timer {
    struct event           *ev;
    lmd_event_handler_pt    handler;
    void                   *data;
};

struct lmd_wakeup {
    struct event           *ev;
    lmd_event_handler_pt    handler;
    void                   *data;
};

struct lmd_signal {
    struct lmd_signal      *next;
    struct event           *ev;
    lmd_event_handler_pt    handler;
    void                   *data;
};

static struct event_base   *lmd_base;
static struct lmd_signal   *lmd_signals;


struct event_base *
lmd_event_base(void)
{
    return lmd_base;
}


int
lmd_event_init(void)
{
    struct event_config  *cfg;

    if (evthread_use_pthreads() != 0) {
        lmd_log_error(LMD_LOG_ERR, lmd_error_log, 0,
                      "libevent has no pthreads support");
        return LMD_ERROR;
    }

    cfg = event_config_new();
    if (cfg == NULL) {
        return LMD_ERROR;
    }
    lmd_base = event_base_new_with_config(cfg);
    event_config_free(cfg);

    if (lmd_base == NULL) {
        lmd_log_error(LMD_LOG_ERR, lmd_error_log, 0,
                      "cannot create the event loop");
        return LMD_ERROR;
    }
    return LMD_OK;
}


int
lmd_event_run(void)
{
    return event_base_dispatch(lmd_base) == -1 ? LMD_ERROR : LMD_OK;
}


void
lmd_event_stop(void)
{
    event_base_loopbreak(lmd_base);
}


void
lmd_event_done(void)
{
    if (lmd_base != NULL) {
        event_base_free(lmd_base);
        lmd_base = NULL;
    }
}


int
lmd_event_reinit(void)
{
    return event_reinit(lmd_base) == 0 ? LMD_OK : LMD_ERROR;
}


const char *
lmd_event_version(void)
{
    return event_get_version();
}


uint64_t
lmd_event_now_ms(void)
{
    struct timespec  ts;

    /* vDSO: cheap enough to call per request, and never jumps. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}


/* ---------------------------------------------------------------- timers */

static void
lmd_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lmd_timer  *t = arg;

    lmd_unused(fd);
    lmd_unused(what);
    t->handler(t->data);
}


struct lmd_timer *
lmd_timer_new(lmd_event_handler_pt handler, void *data)
{
    struct lmd_timer  *t;

    t = calloc(1, sizeof(struct lmd_timer));
    if (t == NULL) {
        return NULL;
    }
    t->handler = handler;
    t->data = data;
    t->ev = evtimer_new(lmd_base, lmd_timer_cb, t);
    if (t->ev == NULL) {
        free(t);
        return NULL;
    }
    return t;
}


void
lmd_timer_add(struct lmd_timer *t, uint64_t ms)
{
    struct timeval  tv;

    tv.tv_sec = (time_t) (ms / 1000);
    tv.tv_usec = (suseconds_t) (ms % 1000) * 1000;
    evtimer_add(t->ev, &tv);
}


void
lmd_timer_del(struct lmd_timer *t)
{
    evtimer_del(t->ev);
}


int
lmd_timer_pending(struct lmd_timer *t)
{
    return evtimer_pending(t->ev, NULL) ? 1 : 0;
}


void
lmd_timer_free(struct lmd_timer *t)
{
    if (t == NULL) {
        return;
    }
    event_free(t->ev);
    free(t);
}


/* --------------------------------------------------------------- signals */

static void
lmd_signal_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lmd_signal  *s = arg;

    lmd_unused(fd);
    lmd_unused(what);
    s->handler(s->data);
}


int
lmd_signal_add(int signo, lmd_event_handler_pt handler, void *data)
{
    struct lmd_signal  *s;

    s = calloc(1, sizeof(struct lmd_signal));
    if (s == NULL) {
        return LMD_ERROR;
    }
    s->handler = handler;
    s->data = data;
    s->ev = evsignal_new(lmd_base, signo, lmd_signal_cb, s);
    if (s->ev == NULL || evsignal_add(s->ev, NULL) != 0) {
        if (s->ev != NULL) {
            event_free(s->ev);
        }
        free(s);
        return LMD_ERROR;
    }
    s->next = lmd_signals;
    lmd_signals = s;
    return LMD_OK;
}


void
lmd_signals_free(void)
{
    struct lmd_signal  *s;

    while (lmd_signals != NULL) {
        s = lmd_signals;
        lmd_signals = s->next;
        event_free(s->ev);
        free(s);
    }
}


/* --------------------------------------------------------------- wakeups */

static void
lmd_wakeup_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lmd_wakeup  *w = arg;

    lmd_unused(fd);
    lmd_unused(what);
    w->handler(w->data);
}


struct lmd_wakeup *
lmd_wakeup_new(lmd_event_handler_pt handler, void *data)
{
    struct lmd_wakeup  *w;

    w = calloc(1, sizeof(struct lmd_wakeup));
    if (w == NULL) {
        return NULL;
    }
    w->handler = handler;
    w->data = data;
    /* A pure user event: no fd, never added, only activated. */
    w->ev = event_new(lmd_base, -1, 0, lmd_wakeup_cb, w);
    if (w->ev == NULL) {
        free(w);
        return NULL;
    }
    return w;
}


void
lmd_wakeup_fire(struct lmd_wakeup *w)
{
    event_active(w->ev, 0, 0);
}


void
lmd_wakeup_free(struct lmd_wakeup *w)
{
    if (w == NULL) {
        return;
    }
    event_free(w->ev);
    free(w);
}
