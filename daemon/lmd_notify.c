/*
 * lmd_notify.c -- the sd_notify(3) datagram protocol, spoken directly:
 * one AF_UNIX datagram of "KEY=VALUE" lines to $NOTIFY_SOCKET (an address
 * starting with '@' is in the abstract namespace).  No libsystemd needed.
 */

#include "lmd_core.h"
#include "lmd_process.h"

#include <sys/socket.h>
#include <sys/un.h>


void
lmd_notify(const char *state)
{
    struct sockaddr_un  sa;
    const char         *path;
    socklen_t           len;
    size_t              plen;
    int                 fd;

    path = getenv("NOTIFY_SOCKET");
    if (path == NULL || (path[0] != '/' && path[0] != '@')) {
        return;
    }
    plen = strlen(path);
    if (plen >= sizeof(sa.sun_path)) {
        return;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, plen);
    if (sa.sun_path[0] == '@') {
        sa.sun_path[0] = '\0';
    }
    len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + plen);

    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return;
    }
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
               (struct sockaddr *) &sa, len) == -1)
    {
        lmd_log_error(LMD_LOG_WARN, lmd_error_log, errno,
                      "cannot notify systemd (%s)", state);
    }
    close(fd);
}
