/*
 * lmd_test.c -- main() and bookkeeping for the unit test harness
 * (lmd_test.h).  Cases register themselves from constructors into a list
 * kept in writing order; main runs each one, tallies the cases with and
 * without failed checks and prints "N passed, N failed".
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lmd_test.h"

/* Registered cases, in writing order (constructors of one file run in
 * definition order with GCC and Clang; appending keeps that order). */
static struct lmd_test   *lmd_test_head;
static struct lmd_test  **lmd_test_tail = &lmd_test_head;

/* Set by a failed check, cleared before each case. */
static int                lmd_test_case_failed;
static const char        *lmd_test_case_skipped;


void
lmd_test_register(struct lmd_test *t)
{
    t->next = NULL;
    *lmd_test_tail = t;
    lmd_test_tail = &t->next;
}


/* The body of fail_unless(): quiet on success. */
int
lmd_test_check(int cond, const char *file, int line, const char *expr,
    const char *fmt, ...)
{
    va_list  ap;

    if (cond) {
        return 1;
    }

    lmd_test_case_failed = 1;
    fprintf(stderr, "%s:%d: check failed: %s: ", file, line, expr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 0;
}


/* Two NULLs are equal; NULL and a string are not. */
int
lmd_test_streq(const char *got, const char *want, const char *file,
    int line)
{
    if (got != NULL && want != NULL && strcmp(got, want) == 0) {
        return 1;
    }
    if (got == NULL && want == NULL) {
        return 1;
    }

    lmd_test_case_failed = 1;
    fprintf(stderr, "%s:%d: strings differ\n  got:  %s%s%s\n  want: %s%s%s\n",
            file, line,
            got ? "\"" : "", got ? got : "(null)", got ? "\"" : "",
            want ? "\"" : "", want ? want : "(null)", want ? "\"" : "");
    return 0;
}


void
lmd_test_skip(const char *reason)
{
    lmd_test_case_skipped = reason;
}


/* Runs every case (or those matching argv[1]) and prints the summary
 * last, on stdout, after the failures on stderr. */
int
main(int argc, char **argv)
{
    struct lmd_test  *t;
    int               passed, failed, skipped;

    passed = 0;
    failed = 0;
    skipped = 0;

    for (t = lmd_test_head; t != NULL; t = t->next) {
        /* An argument runs only the cases whose name contains it. */
        if (argc > 1 && strstr(t->name, argv[1]) == NULL) {
            continue;
        }

        lmd_test_case_failed = 0;
        lmd_test_case_skipped = NULL;
        t->fn();

        if (lmd_test_case_failed) {
            fprintf(stderr, "FAIL %s\n", t->name);
            failed++;
        } else if (lmd_test_case_skipped != NULL) {
            printf("skip %s: %s\n", t->name, lmd_test_case_skipped);
            skipped++;
        } else {
            passed++;
        }
    }

    fflush(stderr);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
