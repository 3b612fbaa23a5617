/*
 * lmd_process.c -- pid file, -s signals, daemonizing, privilege dropping.
 */

#include "lmd_core.h"
#include "lmd_process.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>


int
lmd_pid_write(const char *path, char *err, size_t errlen)
{
    char     tmp[4096], buf[32];
    int      fd, n;
    ssize_t  w;

    /* Write a temporary file and rename it: a reader never sees a
     * half-written pid. */
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int) sizeof(tmp)) {
        snprintf(err, errlen, "pid file path \"%s\" is too long", path);
        return LMD_ERROR;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        snprintf(err, errlen, "cannot create pid file \"%s\": %s", tmp,
                 strerror(errno));
        return LMD_ERROR;
    }
    n = snprintf(buf, sizeof(buf), "%ld\n", (long) getpid());
    w = write(fd, buf, (size_t) n);
    if (w != n || close(fd) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write pid file \"%s\": %s", path,
                 strerror(errno));
        unlink(tmp);
        return LMD_ERROR;
    }
    return LMD_OK;
}


void
lmd_pid_remove(const char *path)
{
    char     buf[32];
    ssize_t  n;
    int      fd;
    long     pid;

    if (strcmp(path, "off") == 0) {
        return;                         /* daemon.pid: off */
    }

    /* Only our own: a newer daemon may have replaced the file. */
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return;
    }
    buf[n] = '\0';
    pid = strtol(buf, NULL, 10);
    if (pid == (long) getpid()) {
        unlink(path);
    }
}


int
lmd_signal_process(const char *path, const char *what, char *err,
    size_t errlen)
{
    static const struct { const char *name; int signo; }  sigs[] = {
        { "stop", SIGTERM }, { "quit", SIGQUIT },
        { "reload", SIGHUP }, { "reopen", SIGUSR1 }
    };
    char        buf[32];
    long long   pid;
    ssize_t     n;
    size_t      i;
    int         fd;

    for (i = 0; i < lmd_nelems(sigs); i++) {
        if (strcmp(what, sigs[i].name) == 0) {
            break;
        }
    }
    if (i == lmd_nelems(sigs)) {
        snprintf(err, errlen, "invalid signal \"%s\" (expected stop, quit, "
                 "reload or reopen)", what);
        return LMD_ERROR;
    }

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(err, errlen, "cannot open pid file \"%s\": %s (is lmd "
                 "running?)", path, strerror(errno));
        return LMD_ERROR;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    if (n > 0 && buf[n - 1] == '\n') {
        buf[n - 1] = '\0';
    }
    if (lmd_parse_int(buf, 1, 0x7fffffff, &pid) != 0) {
        snprintf(err, errlen, "pid file \"%s\" holds no valid pid", path);
        return LMD_ERROR;
    }
    if (kill((pid_t) pid, sigs[i].signo) != 0) {
        snprintf(err, errlen, "kill(%lld, %s) failed: %s", pid, what,
                 strerror(errno));
        return LMD_ERROR;
    }
    return LMD_OK;
}


int
lmd_daemonize(int keep_stderr, char *err, size_t errlen)
{
    pid_t  pid;
    int    fd;

    pid = fork();
    if (pid == -1) {
        snprintf(err, errlen, "fork() failed: %s", strerror(errno));
        return LMD_ERROR;
    }
    if (pid > 0) {
        _exit(0);
    }
    if (setsid() == -1) {
        snprintf(err, errlen, "setsid() failed: %s", strerror(errno));
        return LMD_ERROR;
    }
    umask(022);

    fd = open("/dev/null", O_RDWR);
    if (fd == -1) {
        snprintf(err, errlen, "cannot open /dev/null: %s", strerror(errno));
        return LMD_ERROR;
    }
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    if (!keep_stderr) {
        dup2(fd, STDERR_FILENO);
    }
    if (fd > STDERR_FILENO) {
        close(fd);
    }
    return LMD_OK;
}


int
lmd_drop_privileges(const char *user, char *err, size_t errlen)
{
    struct passwd  *pw;

    if (user == NULL || geteuid() != 0) {
        return LMD_OK;
    }
    pw = getpwnam(user);
    if (pw == NULL) {
        snprintf(err, errlen, "unknown user \"%s\"", user);
        return LMD_ERROR;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) != 0
        || setgid(pw->pw_gid) != 0
        || setuid(pw->pw_uid) != 0)
    {
        snprintf(err, errlen, "cannot switch to user \"%s\": %s", user,
                 strerror(errno));
        return LMD_ERROR;
    }
    /* Never be able to get root back. */
    if (pw->pw_uid != 0 && setuid(0) == 0) {
        snprintf(err, errlen, "privileges of root could be regained after "
                 "switching to \"%s\"", user);
        return LMD_ERROR;
    }
    return LMD_OK;
}


void
lmd_chown_fd(int fd, const char *user)
{
    struct passwd  *pw;

    if (user == NULL || geteuid() != 0 || fd <= STDERR_FILENO) {
        return;
    }
    pw = getpwnam(user);
    if (pw != NULL && fchown(fd, pw->pw_uid, pw->pw_gid) != 0) {
        lmd_log_error(LMD_LOG_WARN, lmd_error_log, errno,
                      "cannot give a log file to \"%s\"", user);
    }
}
