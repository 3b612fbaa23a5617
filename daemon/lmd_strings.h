/*
 * lmd_strings.h -- string helpers shared by the config, HTTP and CLI code:
 * sizes ("4m"), durations ("10s"), integers without atoi's silence, HTTP
 * dates, and URL path decoding/sanitising.  All pure functions, safe on any
 * thread.
 */

#ifndef LMD_STRINGS_H
#define LMD_STRINGS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Parses a byte size: digits with an optional suffix k/K, m/M, g/G
 * (powers of 1024), e.g. "512", "4k", "4m", "1g".  Returns 0 and sets *out,
 * or -1 on anything else (empty, sign, junk, overflow). */
int lmd_parse_size(const char *s, uint64_t *out);

/* Parses a duration into milliseconds: one or more number+unit terms,
 * units ms, s, m, h, d; a bare number means seconds (nginx's habit), e.g.
 * "10s", "500ms", "1m30s", "2".  Returns 0 or -1 as above. */
int lmd_parse_duration(const char *s, uint64_t *out_ms);

/* Parses a whole decimal integer in [min, max].  Returns 0 or -1. */
int lmd_parse_int(const char *s, long long min, long long max,
    long long *out);

/* Formats sizes and durations back into the shortest exact form the
 * parsers above accept ("4m", "10s", "1500ms"); buf of at least 32. */
void lmd_format_size(uint64_t bytes, char *buf, size_t len);
void lmd_format_duration(uint64_t ms, char *buf, size_t len);

/* RFC 7231 IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT"; buf >= 30.
 * lmd_parse_http_date returns (time_t) -1 when the string is not one. */
#define LMD_HTTP_DATE_LEN 30
void   lmd_format_http_date(time_t t, char *buf);
time_t lmd_parse_http_date(const char *s, size_t len);

/* Turns the path part of a request target into a safe relative path:
 * percent-decodes it, refuses NUL bytes, encoded slashes are decoded like
 * any byte, then removes "." segments and duplicate slashes, and refuses
 * any ".." segment.  The output never starts with '/', so it can be joined
 * under a document root; "" means the root itself.  *dir is set when the
 * (decoded) path ended with '/' or with a "." segment (RFC 3986 keeps the
 * slash there), and for the root.  Returns 0, or -1 when the path must be
 * refused (the caller answers 400/404).  out needs len + 1 bytes. */
int lmd_sanitize_path(const char *path, size_t len, char *out, int *dir);

/* Constant-time comparison of two byte strings of possibly different
 * lengths: the time taken depends only on the lengths.  1 when equal. */
int lmd_consttime_equal(const void *a, size_t alen, const void *b,
    size_t blen);

/* The value of a hex digit (either case), or -1. */
int lmd_hexval(char c);

/* ASCII case-insensitive equality of a counted string and a C string. */
int lmd_strieq(const char *a, size_t alen, const char *b);

#endif /* LMD_STRINGS_H */
