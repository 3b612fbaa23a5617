/*
 * lmd_log.c -- error and access log targets.
 *
 * A log line is formatted into a stack buffer and written with one write(2)
 * on an O_APPEND descriptor, so lines from several threads never interleave
 * mid-line and logrotate's rename + reopen loses nothing.
 */

#include "lmd_core.h"

#include <fcntl.h>
#include <sys/time.h>

#define LMD_LOG_LINE_MAX  4096

static struct lmd_log  lmd_stderr_log = {
    LMD_LOG_INFO, 0, STDERR_FILENO, NULL
};

struct lmd_log  *lmd_error_log = &lmd_stderr_log;

static const char  *lmd_log_levels[] = {
    "error", "warn", "notice", "info", "debug"
};


int
lmd_log_level_parse(const char *name)
{
    size_t  i;

    for (i = 0; i < lmd_nelems(lmd_log_levels); i++) {
        if (strcmp(name, lmd_log_levels[i]) == 0) {
            return (int) i;
        }
    }
    return -1;
}


const char *
lmd_log_level_name(int level)
{
    if (level < 0 || level >= (int) lmd_nelems(lmd_log_levels)) {
        return "?";
    }
    return lmd_log_levels[level];
}


static int
lmd_log_open_fd(const char *target)
{
    if (strcmp(target, "stderr") == 0) {
        return STDERR_FILENO;
    }
    if (strcmp(target, "stdout") == 0) {
        return STDOUT_FILENO;
    }
    return open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}


struct lmd_log *
lmd_log_open(const char *target, int level, char *err, size_t errlen)
{
    struct lmd_log  *log;
    int              fd;

    fd = lmd_log_open_fd(target);
    if (fd == -1) {
        snprintf(err, errlen, "cannot open log \"%s\": %s", target,
                 strerror(errno));
        return NULL;
    }

    log = calloc(1, sizeof(struct lmd_log));
    if (log == NULL) {
        goto failed;
    }
    log->fd = fd;
    log->level = level;
    if (fd > STDERR_FILENO) {
        log->path = strdup(target);
        if (log->path == NULL) {
            goto failed;
        }
    }
    return log;

failed:
    snprintf(err, errlen, "out of memory opening log \"%s\"", target);
    if (fd > STDERR_FILENO) {
        close(fd);
    }
    free(log);
    return NULL;
}


void
lmd_log_close(struct lmd_log *log)
{
    if (log == NULL || log == &lmd_stderr_log) {
        return;
    }
    if (log->fd > STDERR_FILENO) {
        close(log->fd);
    }
    free(log->path);
    free(log);
}


int
lmd_log_reopen(struct lmd_log *log)
{
    int  fd;

    if (log->path == NULL) {
        return LMD_OK;
    }
    fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1) {
        return LMD_ERROR;
    }
    /* dup2 keeps the descriptor number, so a thread writing right now
     * writes to the old or the new file, never to a closed fd. */
    if (dup2(fd, log->fd) == -1) {
        close(fd);
        return LMD_ERROR;
    }
    close(fd);
    return LMD_OK;
}


int
lmd_log_retarget(struct lmd_log *log, const char *target, int level,
    char *err, size_t errlen)
{
    char  *path = NULL;
    int    fd;

    fd = lmd_log_open_fd(target);
    if (fd == -1) {
        snprintf(err, errlen, "cannot open log \"%s\": %s", target,
                 strerror(errno));
        return LMD_ERROR;
    }
    if (fd > STDERR_FILENO && (path = strdup(target)) == NULL) {
        snprintf(err, errlen, "out of memory opening log \"%s\"", target);
        close(fd);
        return LMD_ERROR;
    }

    if (log->fd <= STDERR_FILENO) {
        /* Still on a standard stream, which stays open: take the new
         * descriptor as it is. */
        log->fd = fd;
    } else if (fd != log->fd) {
        dup2(fd, log->fd);
        if (fd > STDERR_FILENO) {
            close(fd);
        }
    }
    free(log->path);
    log->path = path;
    log->level = level;
    return LMD_OK;
}


void
lmd_log_vwrite(int level, struct lmd_log *log, int err, const char *fmt,
    va_list ap)
{
    char            line[LMD_LOG_LINE_MAX];
    struct timeval  tv;
    struct tm       tm;
    size_t          n;
    int             r;

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);

    r = snprintf(line, sizeof(line), "%04d/%02d/%02d %02d:%02d:%02d [%s] %d: ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, lmd_log_level_name(level),
                 (int) getpid());
    n = (size_t) lmd_max(r, 0);

    r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    n = lmd_min(n + (size_t) lmd_max(r, 0), sizeof(line) - 2);

    if (err != 0) {
        r = snprintf(line + n, sizeof(line) - n, ": %s", strerror(err));
        n = lmd_min(n + (size_t) lmd_max(r, 0), sizeof(line) - 2);
    }
    line[n++] = '\n';

    lmd_log_raw(log, line, n);
}


void
lmd_log_write(int level, struct lmd_log *log, int err, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    lmd_log_vwrite(level, log, err, fmt, ap);
    va_end(ap);
}


void
lmd_log_raw(struct lmd_log *log, const char *line, size_t len)
{
    ssize_t  n;

    n = write(log->fd, line, len);
    lmd_unused(n);      /* nowhere to report a failing log */
}
