/*
 * lmd_fuzz.h -- what the fuzz harnesses of tests/fuzz/ share: a private
 * temporary folder, a tiny built-in tokenizer.json, the fixtures folder.
 *
 * Each tests/fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput and is built
 * twice: with clang -fsanitize=fuzzer for `make fuzz`, and with the normal
 * compiler plus tests/fuzz/replay.c (a main() that feeds it every file of
 * tests/fuzz/corpus/NAME and tests/fuzz/regression/NAME) for `make test`.
 * Harnesses hold state only in statics set up on the first call.
 */

#ifndef LMD_FUZZ_H
#define LMD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional: set-up run once before any input (libFuzzer does not count it
 * against -timeout); replay.c calls it too when a harness defines it. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* A folder of this process's own under $TMPDIR (made on the first call,
 * removed at exit with what was written in it by lmd_fuzz_write). */
const char *lmd_fuzz_tmpdir(void);

/* Writes data to tmpdir/name; returns the path (static buffer) or NULL. */
const char *lmd_fuzz_write(const char *name, const void *data, size_t len);

/* Removes tmpdir/name if it is there. */
void lmd_fuzz_remove(const char *name);

/* Prints "lmd fuzz: check failed: what" and aborts, which libFuzzer
 * reports as a crash (and the replay as a failure). */
#define lmd_fuzz_check(cond, what)                                            \
    do {                                                                      \
        if (!(cond)) {                                                        \
            lmd_fuzz_fail(__FILE__, __LINE__, #cond, what);                   \
        }                                                                     \
    } while (0)

void lmd_fuzz_fail(const char *file, int line, const char *cond,
    const char *what) __attribute__((noreturn));

/* A small byte-level BPE tokenizer.json (GPT-2 layout: 256 byte tokens,
 * a few merges, one special added token "<|end|>"), NUL-terminated,
 * malloc'd. */
char *lmd_fuzz_tiny_tokenizer_json(size_t *len);

/* The tokenizer fixtures folder ($LMD_SHARED or ../shared, then
 * /fixtures/tokenizers), or NULL when it is absent. */
const char *lmd_fuzz_fixtures(void);

/* 1 if s[0..len) is valid UTF-8. */
int lmd_fuzz_utf8_valid(const uint8_t *s, size_t len);

#endif /* LMD_FUZZ_H */
