/*
 * replay.c -- main() for the fuzz harnesses built without libFuzzer
 * (`make test`): feeds LLVMFuzzerTestOneInput every file of the folders
 * named on the command line, in name order, one call per file.
 *
 *   objs/tests/fuzz/fuzz_NAME tests/fuzz/regression/NAME tests/fuzz/corpus/NAME
 *
 * Each call runs in a child process (forked after LLVMFuzzerInitialize,
 * so set-up is shared), so that one crash does not hide the next.  It
 * prints, in the integration tests' format that tests/run.sh counts,
 * "ok fuzz_NAME: FILE" when the call returns, "not ok fuzz_NAME: FILE:
 * ..." when it aborts (a failed harness check, a sanitizer report) or is
 * killed.  A file whose name starts with "open-" is a crasher kept for a
 * bug not fixed yet: its crash prints "skip fuzz_NAME: FILE: ...", and
 * once it passes, "ok" with a reminder to drop the prefix; "open-oom-"
 * and "open-timeout-" files are not run at all (a memory bomb or a hang
 * would take the machine or the test's time), only reported as skipped.
 * The child's
 * stderr is this process's, "# FILE" before each call.  A folder that
 * does not exist is passed over (git keeps no empty folder).  Exit
 * status 0, or 1 when any file failed.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lmd_fuzz.h"


static int
by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}


static int
run_file(const char *name, const char *path)
{
    FILE        *f;
    uint8_t     *buf;
    long         n;
    const char  *base;
    pid_t        pid;
    int          status, open_bug;
    char         why[128];

    f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        printf("not ok %s: %s: cannot read it\n", name, path);
        if (f != NULL) {
            fclose(f);
        }
        return 1;
    }
    /* An exact-size copy, so that ASan sees reads past the end. */
    buf = malloc(n > 0 ? (size_t) n : 1);
    if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n) {
        printf("not ok %s: %s: cannot read it\n", name, path);
        free(buf);
        fclose(f);
        return 1;
    }
    fclose(f);

    base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    if (strncmp(base, "open-oom-", 9) == 0
        || strncmp(base, "open-timeout-", 13) == 0)
    {
        printf("skip %s: %s: not run, an open bug that takes too much "
               "memory or time (see its report)\n", name, path);
        free(buf);
        return 0;
    }

    fprintf(stderr, "# %s\n", path);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid == 0) {
        LLVMFuzzerTestOneInput(buf, (size_t) n);
        _exit(0);
    }
    free(buf);
    if (pid == -1 || waitpid(pid, &status, 0) != pid) {
        printf("not ok %s: %s: cannot run it in a child process\n", name,
               path);
        return 1;
    }

    open_bug = strncmp(base, "open-", 5) == 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("ok %s: %s%s\n", name, path, open_bug
               ? " (passes in this build; when the --with-debug build "
               "passes it too, drop the open- prefix)" : "");
        fflush(stdout);
        return 0;
    }
    if (WIFSIGNALED(status)) {
        snprintf(why, sizeof(why), "killed by signal %d (%s)",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else {
        snprintf(why, sizeof(why), "exit status %d", WEXITSTATUS(status));
    }
    printf("%s %s: %s: %s%s\n", open_bug ? "skip" : "not ok", name, path,
           why, open_bug ? ", an open bug (see its report)" : "");
    fflush(stdout);
    return !open_bug;
}


int
main(int argc, char **argv)
{
    DIR            *d;
    struct dirent  *e;
    char          **names, path[4096], *name;
    size_t          n, cap, i;
    int             a, failed = 0;

    name = basename(argv[0]);
    if (LLVMFuzzerInitialize != NULL) {
        LLVMFuzzerInitialize(&argc, &argv);
    }
    for (a = 1; a < argc; a++) {
        d = opendir(argv[a]);
        if (d == NULL) {
            continue;
        }
        n = 0;
        cap = 64;
        names = malloc(cap * sizeof(char *));
        while (names != NULL && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') {
                continue;
            }
            if (n == cap) {
                cap *= 2;
                names = realloc(names, cap * sizeof(char *));
                if (names == NULL) {
                    break;
                }
            }
            names[n++] = strdup(e->d_name);
        }
        closedir(d);
        if (names == NULL) {
            fprintf(stderr, "%s: out of memory\n", name);
            return 1;
        }
        qsort(names, n, sizeof(char *), by_name);
        for (i = 0; i < n; i++) {
            snprintf(path, sizeof(path), "%s/%s", argv[a], names[i]);
            failed |= run_file(name, path);
            free(names[i]);
        }
        free(names);
    }
    return failed;
}
