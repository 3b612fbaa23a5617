/*
 * lmd_file.c -- reading a small file whole: see lmd_file.h.
 */

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmd_file.h"


static void __attribute__((format(printf, 3, 4)))
lmd_file_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}


char *
lmd_file_read(const char *path, size_t max, size_t *len, char *err,
    size_t errlen)
{
    struct stat   sb;
    char         *buf;
    ssize_t       got;
    size_t        n;
    int           fd, saved;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        saved = errno;
        lmd_file_err(err, errlen, "%s: cannot open: %s", path,
                     strerror(saved));
        errno = saved;
        return NULL;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)
        || (uint64_t) sb.st_size > max)
    {
        lmd_file_err(err, errlen, "%s: not a regular file of at most %zu "
                     "bytes", path, max);
        close(fd);
        return NULL;
    }
    n = (size_t) sb.st_size;
    buf = malloc(n + 1);
    if (buf == NULL) {
        lmd_file_err(err, errlen, "%s: out of memory", path);
        close(fd);
        return NULL;
    }
    *len = 0;
    while (*len < n) {
        got = read(fd, buf + *len, n - *len);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            lmd_file_err(err, errlen, "%s: read failed: %s", path,
                         got < 0 ? strerror(errno) : "file shrank");
            free(buf);
            close(fd);
            return NULL;
        }
        *len += (size_t) got;
    }
    close(fd);
    buf[n] = '\0';
    return buf;
}
