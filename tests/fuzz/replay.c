/*
 * replay.c -- main() for the fuzz harnesses built without libFuzzer
 * (`make test`): feeds LLVMFuzzerTestOneInput every file of the folders
 * named on the command line, in name order, one call per file.
 *
 *   objs/tests/fuzz/fuzz_NAME tests/fuzz/regression/NAME tests/fuzz/corpus/NAME
 *
 * Prints "ok fuzz_NAME: FILE" per file (the integration tests' format,
 * counted by tests/run.sh) and, before each call, "# FILE" on stderr, so
 * that a crash names its input.  A harness check that fails aborts, as
 * does a sanitizer report; the caller reports the status.  A folder that
 * does not exist is skipped (an empty regression folder is not kept in
 * git).  Exit status 0 when every file ran.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmd_fuzz.h"


static int
by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}


static int
run_file(const char *name, const char *path)
{
    FILE     *f;
    uint8_t  *buf;
    long      n;

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

    fprintf(stderr, "# %s\n", path);
    fflush(stdout);
    LLVMFuzzerTestOneInput(buf, (size_t) n);
    free(buf);
    printf("ok %s: %s\n", name, path);
    fflush(stdout);
    return 0;
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
