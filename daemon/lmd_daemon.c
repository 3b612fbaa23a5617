/*
 * lmd_daemon.c -- the serving process from start-up to exit: logs, the
 * first cycle, privileges, the background fork, the pid file, models,
 * signals, reload, reopen and the graceful stop.
 *
 * Design: everything runs on the loop thread.  Signals arrive as loop
 * events (libevent's self-pipe), so reload and stop run between requests,
 * never inside one.  Start-up order matters: listeners are bound and log
 * files opened while still root, the process forks (if configured) and
 * writes its pid file, privileges are dropped, and only then are threads
 * (engines) started, because threads do not survive fork().
 */

#include "lmd_core.h"
#include "lmd_daemon.h"
#include "lmd_conn.h"
#include "lmd_cycle.h"
#include "lmd_event.h"
#include "lmd_http.h"
#include "lmd_models.h"
#include "lmd_process.h"

#include <signal.h>

#define LMD_STOP_POLL_MS  50

static const char        *lmd_conf_file;
static const char        *lmd_prefix;
static char              *lmd_pid_path;
static struct lmd_timer  *lmd_stop_timer;
static uint64_t           lmd_stop_deadline;
static int                lmd_exit_code;
static int                lmd_ready_sent;


/* ------------------------------------------------------------- stopping */

/* Counts the connections still busy with a response.  Lingering ones
 * have handed their last response to the kernel and only wait for the
 * peer's FIN: they do not hold up the stop (an idle keep-alive client
 * that never closes would add LMD_CONN_LINGER_MS to every stop). */
static void
lmd_stop_count(struct lmd_conn *c, void *data)
{
    uint64_t  *busy = data;

    if (!c->lingering) {
        (*busy)++;
    }
}


static void
lmd_stop_check(void *data)
{
    uint64_t  busy = 0;

    lmd_unused(data);
    lmd_conn_foreach(lmd_stop_count, &busy);
    if (busy == 0) {
        lmd_event_stop();       /* the lingering ones close on the way out */
        return;
    }
    if (lmd_event_now_ms() >= lmd_stop_deadline) {
        lmd_log_error(LMD_LOG_WARN, lmd_error_log, 0,
                      "shutdown_timeout passed with %llu connections still "
                      "open: closing them",
                      (unsigned long long) lmd_conn_count());
        lmd_conn_abort_all();
        lmd_event_stop();
        return;
    }
    lmd_timer_add(lmd_stop_timer, LMD_STOP_POLL_MS);
}


/* Stop accepting, close idle connections, let the others finish their
 * response (keep-alive is off from now on), exit when none is left or
 * when shutdown_timeout has passed.  A second stop signal stops at once. */
static void
lmd_stop(void *data)
{
    uint64_t  grace;

    lmd_unused(data);
    if (lmd_stopping) {
        lmd_log_error(LMD_LOG_NOTICE, lmd_error_log, 0,
                      "second stop signal: closing every connection now");
        lmd_stop_deadline = 0;
        lmd_stop_check(NULL);
        return;
    }

    lmd_stopping = 1;
    lmd_notify("STOPPING=1");
    grace = lmd_cycle->conf->daemon.shutdown_timeout;
    lmd_log_error(LMD_LOG_NOTICE, lmd_error_log, 0,
                  "stopping: %llu connections get up to %llu ms to finish",
                  (unsigned long long) lmd_conn_count(),
                  (unsigned long long) grace);

    lmd_cycle_close_listeners(lmd_cycle);
    lmd_conn_foreach(lmd_http_close_idle, NULL);

    lmd_stop_deadline = lmd_event_now_ms() + grace;
    lmd_stop_timer = lmd_timer_new(lmd_stop_check, NULL);
    if (lmd_stop_timer == NULL) {
        lmd_event_stop();
        return;
    }
    lmd_stop_check(NULL);
}


/* ------------------------------------------------------ reload, reopen */

static void
lmd_reload_models_warning(const struct lmd_conf *conf)
{
    const struct lmd_model  *m;
    size_t                   i;
    int                      same;

    same = conf->nmodels == lmd_models_count();
    for (i = 0; same && i < conf->nmodels; i++) {
        m = lmd_models_get(i);
        same = strcmp(m->name, conf->models[i].name) == 0
               && strcmp(m->path, conf->models[i].path) == 0
               && strcmp(m->engine_name, conf->models[i].engine) == 0
               && strcmp(m->load_format, conf->models[i].load_format) == 0;
    }
    if (!same) {
        lmd_log_error(LMD_LOG_WARN, lmd_error_log, 0,
                      "the models in the configuration changed: restart "
                      "lmd to load them (the running models stay)");
    }
}


static void
lmd_reload(void *data)
{
    struct lmd_conf   *conf;
    struct lmd_cycle  *cycle;
    struct timespec    ts;
    char               err[LMD_ERR_LEN], state[96];

    lmd_unused(data);
    if (lmd_stopping) {
        return;
    }

    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long) ts.tv_sec * 1000000ull
             + (unsigned long long) ts.tv_nsec / 1000);
    lmd_notify(state);
    lmd_log_error(LMD_LOG_NOTICE, lmd_error_log, 0,
                  "reloading the configuration from \"%s\"", lmd_conf_file);

    conf = lmd_conf_load(lmd_conf_file, lmd_prefix, err, sizeof(err));
    if (conf == NULL) {
        goto failed;
    }
    cycle = lmd_cycle_create(conf, lmd_cycle, err, sizeof(err));
    lmd_conf_unref(conf);
    if (cycle == NULL) {
        goto failed;
    }

    if (lmd_log_retarget(lmd_error_log, cycle->conf->daemon.error_log,
                         cycle->conf->daemon.log_level, err, sizeof(err))
        != LMD_OK)
    {
        lmd_log_error(LMD_LOG_WARN, lmd_error_log, 0,
                      "%s: keeping the previous error log", err);
    }
    lmd_reload_models_warning(cycle->conf);
    lmd_cycle_commit(cycle);

    lmd_log_error(LMD_LOG_NOTICE, lmd_error_log, 0,
                  "configuration reloaded");
    lmd_notify(lmd_ready_sent ? "READY=1\nSTATUS=serving" : "STATUS=loading");
    return;

failed:
    lmd_log_error(LMD_LOG_ERR, lmd_error_log, 0,
                  "reload failed, still running the previous "
                  "configuration: %s", err);
    lmd_notify(lmd_ready_sent ? "READY=1\nSTATUS=serving (last reload "
                                "failed)"
                              : "STATUS=loading");
}


static void
lmd_reopen(void *data)
{
    int  ok = 1;

    lmd_unused(data);
    if (lmd_log_reopen(lmd_error_log) != LMD_OK) {
        lmd_log_error(LMD_LOG_ERR, lmd_error_log, errno,
                      "cannot reopen the error log \"%s\"",
                      lmd_error_log->path);
        ok = 0;
    }
    if (lmd_cycle->access_log != NULL
        && lmd_log_reopen(lmd_cycle->access_log) != LMD_OK)
    {
        lmd_log_error(LMD_LOG_ERR, lmd_error_log, errno,
                      "cannot reopen the access log \"%s\" (after "
                      "daemon.user, its folder must be writable by that "
                      "user)", lmd_cycle->access_log->path);
        ok = 0;
    }
    if (ok) {
        lmd_log_error(LMD_LOG_NOTICE, lmd_error_log, 0,
                      "log files reopened");
    }
}


/* ---------------------------------------------------------------- models */

static void
lmd_models_changed(void)
{
    char  err[LMD_ERR_LEN];

    if (lmd_models_failed(err, sizeof(err))) {
        lmd_log_error(LMD_LOG_ERR, lmd_error_log, 0,
                      "cannot serve: %s; exiting", err);
        lmd_exit_code = 1;
        if (!lmd_stopping) {
            lmd_stop(NULL);
        }
        return;
    }
    if (lmd_models_ready() && !lmd_ready_sent) {
        lmd_ready_sent = 1;
        lmd_log_error(LMD_LOG_NOTICE, lmd_error_log, 0,
                      "ready: %zu model(s) loaded", lmd_models_count());
        lmd_notify("READY=1\nSTATUS=serving");
    }
}


/* ----------------------------------------------------------------- run */

static int
lmd_daemon_signals(void)
{
    if (lmd_signal_add(SIGTERM, lmd_stop, NULL) != LMD_OK
        || lmd_signal_add(SIGINT, lmd_stop, NULL) != LMD_OK
        || lmd_signal_add(SIGQUIT, lmd_stop, NULL) != LMD_OK
        || lmd_signal_add(SIGHUP, lmd_reload, NULL) != LMD_OK
        || lmd_signal_add(SIGUSR1, lmd_reopen, NULL) != LMD_OK)
    {
        return LMD_ERROR;
    }
    signal(SIGPIPE, SIG_IGN);
    return LMD_OK;
}


int
lmd_daemon_run(struct lmd_conf *conf, const char *conf_file,
    const char *prefix)
{
    struct lmd_cycle  *cycle;
    char               err[LMD_ERR_LEN];

    lmd_conf_file = conf_file;
    lmd_prefix = prefix;

    if (lmd_log_retarget(lmd_error_log, conf->daemon.error_log,
                         conf->daemon.log_level, err, sizeof(err))
        != LMD_OK)
    {
        lmd_log_error(LMD_LOG_ERR, lmd_error_log, 0, "%s", err);
        return 1;
    }
    lmd_log_error(LMD_LOG_NOTICE, lmd_error_log, 0,
                  LMD_NAME "/" LMD_VERSION " starting with \"%s\"",
                  conf_file);

    cycle = lmd_cycle_create(conf, NULL, err, sizeof(err));
    if (cycle == NULL) {
        lmd_log_error(LMD_LOG_ERR, lmd_error_log, 0, "%s", err);
        return 1;
    }

    /* Files opened as root stay writable after the switch (reopen). */
    lmd_chown_fd(lmd_error_log->fd, conf->daemon.user);
    if (cycle->access_log != NULL) {
        lmd_chown_fd(cycle->access_log->fd, conf->daemon.user);
    }
    if (conf->daemon.daemonize
        && lmd_daemonize(strcmp(conf->daemon.error_log, "stderr") == 0,
                         err, sizeof(err)) != LMD_OK)
    {
        lmd_log_error(LMD_LOG_ERR, lmd_error_log, 0, "%s", err);
        lmd_cycle_close_listeners(cycle);
        lmd_cycle_unref(cycle);
        return 1;
    }

    /* The pid file is written while still root: its folder (prefix/logs)
     * is usually root's, as nginx's is.  After the switch the file may
     * not be removable at exit; a later start replaces it.  "off"
     * writes none (lmd_pid_remove leaves "off" alone too). */
    lmd_pid_path = strdup(conf->daemon.pid);
    if (lmd_pid_path == NULL
        || (strcmp(lmd_pid_path, "off") != 0
            && lmd_pid_write(lmd_pid_path, err, sizeof(err)) != LMD_OK))
    {
        lmd_log_error(LMD_LOG_ERR, lmd_error_log, 0, "%s",
                      lmd_pid_path ? err : "out of memory");
        lmd_cycle_close_listeners(cycle);
        lmd_cycle_unref(cycle);
        free(lmd_pid_path);
        return 1;
    }
    if (lmd_drop_privileges(conf->daemon.user, err, sizeof(err)) != LMD_OK) {
        lmd_log_error(LMD_LOG_ERR, lmd_error_log, 0, "%s", err);
        lmd_pid_remove(lmd_pid_path);
        lmd_cycle_close_listeners(cycle);
        lmd_cycle_unref(cycle);
        free(lmd_pid_path);
        return 1;
    }

    if (lmd_event_init() != LMD_OK || lmd_daemon_signals() != LMD_OK) {
        lmd_exit_code = 1;
        lmd_cycle_close_listeners(cycle);
        lmd_cycle_unref(cycle);
        goto done;
    }
    lmd_cycle_commit(cycle);

    /* A model that cannot even start ends lmd before the loop runs: a
     * loop break requested now would be forgotten by the loop. */
    if (lmd_models_start(conf, lmd_models_changed, err, sizeof(err))
        != LMD_OK)
    {
        lmd_log_error(LMD_LOG_ERR, lmd_error_log, 0, "%s", err);
        lmd_exit_code = 1;
        lmd_notify("STOPPING=1");
    } else if (lmd_models_count() == 0) {
        lmd_models_changed();
    }

    if (lmd_exit_code == 0 && lmd_event_run() != LMD_OK) {
        lmd_log_error(LMD_LOG_ERR, lmd_error_log, errno,
                      "the event loop failed");
        lmd_exit_code = 1;
    }

    lmd_conn_abort_all();
    lmd_models_stop();
    if (lmd_cycle != NULL) {
        lmd_cycle_close_listeners(lmd_cycle);
        lmd_cycle_unref(lmd_cycle);
        lmd_cycle = NULL;
    }
    lmd_timer_free(lmd_stop_timer);
    lmd_signals_free();

done:
    lmd_event_done();
    lmd_pid_remove(lmd_pid_path);
    free(lmd_pid_path);
    lmd_log_error(LMD_LOG_NOTICE, lmd_error_log, 0, "exiting with status %d",
                  lmd_exit_code);
    return lmd_exit_code;
}
