/*
 * lmd_notify_listen.c -- a stand-in for systemd's notify socket, for the
 * tests of the sd_notify(3) protocol (NOTIFY_SOCKET).
 *
 *   lmd_notify_listen [--timeout-s N] [--stamp] PATH
 *
 * Binds an AF_UNIX datagram socket at PATH (a leading '@' puts it in the
 * abstract namespace, as systemd writes it) and prints each datagram it
 * receives as one line, its newlines replaced by ';', flushing stdout after
 * each.  With --stamp every line starts with the time it came, in
 * milliseconds since the Unix epoch (`date +%s%3N` reads the same clock),
 * so a test can tell how long after a start READY=1 came.  It exits 0
 * after N seconds (30 by default) or on SIGTERM or SIGINT, removing a
 * path it created; it exits 2 on a usage error and 1 when the socket
 * cannot be set up.  "listening" is printed to stderr once the socket is
 * bound, so a test can wait for it before starting the daemon.
 */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t  stop;


static void
on_signal(int signo)
{
    (void) signo;
    stop = 1;
}


static uint64_t
now_ms(clockid_t clock)
{
    struct timespec  ts;

    clock_gettime(clock, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}


static void
usage(void)
{
    fprintf(stderr, "usage: lmd_notify_listen [--timeout-s N] [--stamp] "
            "PATH|@NAME\n");
}


int
main(int argc, char **argv)
{
    struct sockaddr_un  sa;
    struct sigaction    act;
    struct pollfd       pfd;
    const char         *path = NULL;
    uint64_t            deadline, now;
    socklen_t           len;
    ssize_t             n, i;
    size_t              plen;
    char                buf[4096], *end;
    long                timeout_s = 30;
    int                 fd, stamp = 0, k, rc;

    for (k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--timeout-s") == 0 && k + 1 < argc) {
            errno = 0;
            timeout_s = strtol(argv[++k], &end, 10);
            if (errno != 0 || *end != '\0' || timeout_s <= 0) {
                usage();
                return 2;
            }
        } else if (strcmp(argv[k], "--stamp") == 0) {
            stamp = 1;
        } else if (argv[k][0] == '-' || path != NULL) {
            usage();
            return 2;
        } else {
            path = argv[k];
        }
    }
    if (path == NULL) {
        usage();
        return 2;
    }

    plen = strlen(path);
    if (plen < 2 || plen >= sizeof(sa.sun_path)) {
        fprintf(stderr, "lmd_notify_listen: bad socket path \"%s\"\n", path);
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, plen);
    if (path[0] == '@') {
        sa.sun_path[0] = '\0';
    } else {
        unlink(path);
    }
    len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + plen);

    memset(&act, 0, sizeof(act));
    act.sa_handler = on_signal;
    sigemptyset(&act.sa_mask);
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);

    fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd == -1 || bind(fd, (struct sockaddr *) &sa, len) == -1) {
        fprintf(stderr, "lmd_notify_listen: cannot bind \"%s\": %s\n", path,
                strerror(errno));
        return 1;
    }
    fprintf(stderr, "listening\n");

    deadline = now_ms(CLOCK_MONOTONIC) + (uint64_t) timeout_s * 1000;
    pfd.fd = fd;
    pfd.events = POLLIN;

    while (!stop && (now = now_ms(CLOCK_MONOTONIC)) < deadline) {
        rc = poll(&pfd, 1, (int) (deadline - now));
        if (rc == -1 && errno == EINTR) {
            continue;
        }
        if (rc <= 0) {
            break;
        }
        n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        /* one datagram, one line */
        while (n > 0 && buf[n - 1] == '\n') {
            n--;
        }
        for (i = 0; i < n; i++) {
            if (buf[i] == '\n' || buf[i] == '\0') {
                buf[i] = ';';
            }
        }
        buf[n] = '\0';
        if (stamp) {
            printf("%llu ", (unsigned long long) now_ms(CLOCK_REALTIME));
        }
        printf("%s\n", buf);
        fflush(stdout);
    }

    close(fd);
    if (path[0] != '@') {
        unlink(path);
    }
    return 0;
}
