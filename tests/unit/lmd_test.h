/*
 * lmd_test.h -- the unit test harness: cases, checks, a summary line.
 *
 * A test program is one or more files of cases plus lmd_test.c, which holds
 * main().  Write a case as
 *
 *     // Assumption: a bare number is seconds.
 *     LMD_TEST(duration_bare)
 *     {
 *         fail_unless(x == 2000, "got %llu", x);
 *     }
 *
 * LMD_TEST registers the case before main() runs (a constructor), and main
 * runs the cases in the order they were written.  fail_unless() prints
 * "file:line: message" for a false condition, marks the case failed and
 * carries on, so one run shows every broken check.  The last line printed
 * is "N passed, N failed, N skipped" (counting cases) and the exit status
 * is nonzero when anything failed.  Single-threaded; no allocation of its
 * own.
 */

#ifndef LMD_TEST_H
#define LMD_TEST_H

#include <stdio.h>
#include <string.h>

struct lmd_test {
    const char         *name;
    void              (*fn)(void);
    struct lmd_test    *next;
};

void lmd_test_register(struct lmd_test *t);

/* Records one check: returns cond, and on failure prints the location, the
 * condition's text and the formatted message. */
int lmd_test_check(int cond, const char *file, int line, const char *expr,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define LMD_TEST(name)                                                        \
    static void lmd_test_fn_##name(void);                                     \
    static struct lmd_test lmd_test_rec_##name = {                            \
        #name, lmd_test_fn_##name, NULL                                       \
    };                                                                        \
    __attribute__((constructor)) static void                                  \
    lmd_test_reg_##name(void)                                                 \
    {                                                                         \
        lmd_test_register(&lmd_test_rec_##name);                             \
    }                                                                         \
    static void                                                               \
    lmd_test_fn_##name(void)

/* fail_unless(cond, fmt, ...): the message is printf-style and required. */
#define fail_unless(cond, ...)                                                \
    lmd_test_check(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

/* Compares two C strings (either may be NULL) and shows both on failure. */
#define fail_unless_streq(got, want)                                          \
    lmd_test_streq((got), (want), __FILE__, __LINE__)

int lmd_test_streq(const char *got, const char *want, const char *file,
    int line);

/* Marks the running case skipped (it should return right after), e.g.
 * when a fixture is absent on a fresh clone.  The reason is printed as
 * "skip NAME: reason" and the case counts as skipped, not passed. */
void lmd_test_skip(const char *reason);

#endif /* LMD_TEST_H */
