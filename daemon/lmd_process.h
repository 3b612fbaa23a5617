/*
 * lmd_process.h -- the process's habits: pid file, signalling a running
 * daemon (-s), forking into the background, dropping privileges, and
 * telling systemd how start-up, reload and stop are going.
 */

#ifndef LMD_PROCESS_H
#define LMD_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

/* Writes our pid to path (created 0644, replaced atomically).  LMD_OK or
 * LMD_ERROR with err set. */
int  lmd_pid_write(const char *path, char *err, size_t errlen);
void lmd_pid_remove(const char *path);

/* Sends the signal named by what ("stop", "quit", "reload", "reopen") to
 * the pid in path.  LMD_OK or LMD_ERROR with err set. */
int lmd_signal_process(const char *path, const char *what, char *err,
    size_t errlen);

/* Forks; the parent exits 0, the child starts a new session with stdin
 * and stdout on /dev/null (stderr too when keep_stderr is 0). */
int lmd_daemonize(int keep_stderr, char *err, size_t errlen);

/* When running as root: switch to user (its uid, gid and groups).  Does
 * nothing for other users.  LMD_OK or LMD_ERROR with err set. */
int lmd_drop_privileges(const char *user, char *err, size_t errlen);
/* chown(fd) to user's uid/gid when running as root (log files). */
void lmd_chown_fd(int fd, const char *user);

/* sd_notify(3): sends state ("READY=1", "RELOADING=1", "STOPPING=1",
 * "STATUS=...") to $NOTIFY_SOCKET when systemd set one; silent no-op
 * otherwise. */
void lmd_notify(const char *state);

#endif /* LMD_PROCESS_H */
