/*
 * lmd_log.h -- the error log and the access log.
 *
 * The error log has levels and writes whole lines with one write(2), so
 * several threads (loop, engines) can share it.  Its target is stderr or a
 * file opened in append mode; lmd_log_reopen() reopens files for logrotate
 * (SIGUSR1, `lmd -s reopen`).  Debug messages are further filtered by
 * per-subsystem masks, compiled in only with --with-debug.
 */

#ifndef LMD_LOG_H
#define LMD_LOG_H

#include <stdarg.h>

enum lmd_log_level {
    LMD_LOG_ERR = 0,
    LMD_LOG_WARN,
    LMD_LOG_NOTICE,
    LMD_LOG_INFO,
    LMD_LOG_DEBUG
};

/* Debug masks (debug level only, --with-debug builds). */
#define LMD_LOG_DEBUG_CORE    0x01
#define LMD_LOG_DEBUG_EVENT   0x02
#define LMD_LOG_DEBUG_HTTP    0x04
#define LMD_LOG_DEBUG_SCHED   0x08
#define LMD_LOG_DEBUG_ENGINE  0x10

struct lmd_log {
    int                 level;     /* enum lmd_log_level: the most verbose */
    unsigned            debug;     /* LMD_LOG_DEBUG_* mask */
    int                 fd;        /* target; 2 for stderr */
    char               *path;      /* NULL for stderr; owned (malloc) */
};

/* The process-wide error log.  Before any config is read it is stderr at
 * level info. */
extern struct lmd_log *lmd_error_log;

/* Opens a log target: "stderr", "stdout" or a file path (append, created
 * 0644).  Returns NULL and fills err on failure. */
struct lmd_log *lmd_log_open(const char *target, int level, char *err,
    size_t errlen);
void            lmd_log_close(struct lmd_log *log);
int             lmd_log_reopen(struct lmd_log *log);

/* Points a log (the process-wide error log) at a new target and level.
 * The descriptor number is kept (dup2), so a thread writing a line right
 * now writes to the old or the new target, never to a closed or reused
 * descriptor.  LMD_OK, or LMD_ERROR with err set and nothing changed. */
int lmd_log_retarget(struct lmd_log *log, const char *target, int level,
    char *err, size_t errlen);

/* Writes "2026/11/22 00:27:48 [level] pid: message[: strerror(err)]\n".
 * err is an errno value or 0.  Checks the level before formatting. */
#define lmd_log_error(lvl, log, err, ...)                                     \
    do {                                                                      \
        if ((log)->level >= (lvl)) {                                          \
            lmd_log_write((lvl), (log), (err), __VA_ARGS__);                  \
        }                                                                     \
    } while (0)

#if (LMD_DEBUG)
#define lmd_log_debug(mask, log, err, ...)                                    \
    do {                                                                      \
        if ((log)->level >= LMD_LOG_DEBUG && ((log)->debug & (mask))) {       \
            lmd_log_write(LMD_LOG_DEBUG, (log), (err), __VA_ARGS__);          \
        }                                                                     \
    } while (0)
#else
#define lmd_log_debug(mask, log, err, ...)
#endif

void lmd_log_write(int level, struct lmd_log *log, int err,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void lmd_log_vwrite(int level, struct lmd_log *log, int err,
    const char *fmt, va_list ap);

/* Appends one already formatted line (access log).  Never blocks on more
 * than one write(2). */
void lmd_log_raw(struct lmd_log *log, const char *line, size_t len);

/* Parses a level name ("error", "warn", "notice", "info", "debug");
 * returns -1 for anything else. */
int         lmd_log_level_parse(const char *name);
const char *lmd_log_level_name(int level);

#endif /* LMD_LOG_H */
