/*
 * lmd_tok_regex.c -- the patterns that Split, Replace and the other steps
 * search for, and find_iter over them.
 *
 * tokenizers compiles its patterns with Oniguruma; lmd uses PCRE2 (8-bit,
 * UTF + UCP, JIT compiled).  The two agree on the syntax tokenizer.json
 * files use -- alternation, \p{L}, \p{N}, (?i:...), (?!...) -- but not on
 * every class, so the few escapes that differ are rewritten first:
 *
 *   \s \S   Oniguruma: the White_Space property.  PCRE2 adds U+180E, so
 *           both become the explicit White_Space set.
 *   \w \W   Oniguruma: Letter, Mark, Number, Connector_Punctuation.
 *   \h \H   Oniguruma: a hex digit (PCRE2: horizontal space).
 *   \uHHHH  Oniguruma's escape, PCRE2's \x{HHHH}.
 *
 * Constructs that PCRE2 lacks (nested classes, class intersection with
 * &&, \S or \W inside a class) are reported as unsupported rather than
 * compiled into something else.
 *
 * Literal patterns (Split or Replace with {"String": ...}) are searched
 * with memmem, and the one-character predicates of the Whitespace,
 * Digits, Punctuation and Bert pre-tokenizers by decoding characters.
 * Subjects are valid UTF-8 (lmd_tokenizer_encode repairs its input), so
 * PCRE2 runs without its UTF check.
 */

#define PCRE2_CODE_UNIT_WIDTH 8

#include "lmd_tok_internal.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>

#define LMD_RX_SPACE     "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}" \
                         "\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"
#define LMD_RX_WORD      "\\p{L}\\p{M}\\p{N}\\p{Pc}"
#define LMD_RX_HEX       "0-9a-fA-F"

#define LMD_RX_JIT_MIN   (32 << 10)
#define LMD_RX_JIT_MAX   (8 << 20)


/* Rewrites an Oniguruma pattern for PCRE2 into out (NUL-terminated). */
static int
lmd_rx_translate(const char *src, size_t len, struct lmd_tok_buf *out,
    char *err, size_t errlen)
{
    size_t       i = 0;
    int          in_class = 0, rc = LMD_OK;
    const char  *add;

    while (i < len && rc == LMD_OK) {
        char  c = src[i];

        if (c == '\\' && i + 1 < len) {
            char  d = src[i + 1];

            add = NULL;
            switch (d) {
            case 's':
                add = in_class ? LMD_RX_SPACE : "[" LMD_RX_SPACE "]";
                break;
            case 'S':
                add = in_class ? NULL : "[^" LMD_RX_SPACE "]";
                break;
            case 'w':
                add = in_class ? LMD_RX_WORD : "[" LMD_RX_WORD "]";
                break;
            case 'W':
                add = in_class ? NULL : "[^" LMD_RX_WORD "]";
                break;
            case 'h':
                add = in_class ? LMD_RX_HEX : "[" LMD_RX_HEX "]";
                break;
            case 'H':
                add = in_class ? NULL : "[^" LMD_RX_HEX "]";
                break;
            case 'u':
                if (i + 6 <= len) {
                    char  hex[16];

                    snprintf(hex, sizeof(hex), "\\x{%.4s}", src + i + 2);
                    rc = lmd_tok_buf_put(out, hex, strlen(hex));
                    i += 6;
                    continue;
                }
                break;
            default:
                rc = lmd_tok_buf_put(out, src + i, 2);
                i += 2;
                continue;
            }
            if (add == NULL) {
                lmd_tok_err(err, errlen, "\\%c inside a character class "
                            "(at offset %zu) is not supported", d, i);
                return LMD_ERROR;
            }
            rc = lmd_tok_buf_put(out, add, strlen(add));
            i += 2;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = 1;
            rc = lmd_tok_buf_put(out, "[", 1);
            i++;
            if (i < len && src[i] == '^') {
                rc = lmd_tok_buf_put(out, "^", 1);
                i++;
            }
            if (i < len && src[i] == ']') {
                rc = lmd_tok_buf_put(out, "\\]", 2);
                i++;
            }
            continue;
        }
        if (in_class && c == '[') {
            if (i + 1 < len && src[i + 1] == ':') {
                const char  *end = strstr(src + i, ":]");

                if (end != NULL && (size_t) (end - src) < len) {
                    rc = lmd_tok_buf_put(out, src + i,
                                         (size_t) (end - src) + 2 - i);
                    i = (size_t) (end - src) + 2;
                    continue;
                }
            }
            lmd_tok_err(err, errlen, "a nested character class (at offset "
                        "%zu) is not supported", i);
            return LMD_ERROR;
        }
        if (in_class && c == '&' && i + 1 < len && src[i + 1] == '&') {
            lmd_tok_err(err, errlen, "class intersection && (at offset %zu) "
                        "is not supported", i);
            return LMD_ERROR;
        }
        if (in_class && c == ']') {
            in_class = 0;
        }
        rc = lmd_tok_buf_put(out, &c, 1);
        i++;
    }
    if (rc != LMD_OK || lmd_tok_buf_nul(out) != LMD_OK) {
        lmd_tok_err(err, errlen, "out of memory");
        return LMD_ERROR;
    }
    return LMD_OK;
}


int
lmd_tok_pattern_regex(struct lmd_tok_pattern *p, const char *src,
    size_t len, char *err, size_t errlen)
{
    struct lmd_tok_buf   tr = { NULL, 0, 0 };
    pcre2_code          *re;
    int                  ec;
    PCRE2_SIZE           eo;
    uint32_t             ncap = 0;
    PCRE2_UCHAR          msg[160];

    memset(p, 0, sizeof(*p));
    if (lmd_rx_translate(src, len, &tr, err, errlen) != LMD_OK) {
        lmd_tok_buf_free(&tr);
        return LMD_ERROR;
    }
    re = pcre2_compile((PCRE2_SPTR) tr.p, tr.len, PCRE2_UTF | PCRE2_UCP,
                       &ec, &eo, NULL);
    lmd_tok_buf_free(&tr);
    if (re == NULL) {
        pcre2_get_error_message(ec, msg, sizeof(msg));
        lmd_tok_err(err, errlen, "bad regex: %s", (char *) msg);
        return LMD_ERROR;
    }
    /* Without JIT (an unsupported CPU) the interpreter still works. */
    (void) pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &ncap);
    p->kind = LMD_PAT_REGEX;
    p->re = re;
    p->ncap = ncap;
    return LMD_OK;
}


int
lmd_tok_pattern_literal(struct lmd_tok_pattern *p, const char *s, size_t len)
{
    memset(p, 0, sizeof(*p));
    p->lit = malloc(len + 1);
    if (p->lit == NULL) {
        return LMD_ERROR;
    }
    memcpy(p->lit, s, len);
    p->lit[len] = '\0';
    p->lit_len = len;
    p->kind = LMD_PAT_LITERAL;
    return LMD_OK;
}


void
lmd_tok_pattern_free(struct lmd_tok_pattern *p)
{
    free(p->lit);
    if (p->re != NULL) {
        pcre2_code_free(p->re);
    }
    memset(p, 0, sizeof(*p));
}


int
lmd_tok_rx_init(struct lmd_tok_rx *rx, uint32_t ncap)
{
    memset(rx, 0, sizeof(*rx));
    rx->ncap = ncap;
    return LMD_OK;
}


/* Match data is made on the first regex search; a JIT stack bigger than
 * PCRE2's default 32 KiB only when a search runs out of that. */
static int
lmd_tok_rx_ready(struct lmd_tok_rx *rx)
{
    if (rx->md != NULL) {
        return LMD_OK;
    }
    rx->md = pcre2_match_data_create(rx->ncap + 1, NULL);
    return rx->md != NULL ? LMD_OK : LMD_ERROR;
}


static int
lmd_tok_rx_big_stack(struct lmd_tok_rx *rx)
{
    if (rx->jit != NULL) {
        return LMD_ERROR;       /* already had it: a real limit */
    }
    rx->mctx = pcre2_match_context_create(NULL);
    rx->jit = pcre2_jit_stack_create(LMD_RX_JIT_MIN, LMD_RX_JIT_MAX, NULL);
    if (rx->mctx == NULL || rx->jit == NULL) {
        return LMD_ERROR;
    }
    pcre2_jit_stack_assign(rx->mctx, NULL, rx->jit);
    return LMD_OK;
}


void
lmd_tok_rx_free(struct lmd_tok_rx *rx)
{
    if (rx->md != NULL) {
        pcre2_match_data_free(rx->md);
    }
    if (rx->mctx != NULL) {
        pcre2_match_context_free(rx->mctx);
    }
    if (rx->jit != NULL) {
        pcre2_jit_stack_free(rx->jit);
    }
    memset(rx, 0, sizeof(*rx));
}


/* The first match at or after from: 1 with [*ms, *me), 0, or LMD_ERROR. */
static int
lmd_tok_search(const struct lmd_tok_pattern *p, struct lmd_tok_rx *rx,
    const char *s, size_t n, size_t from, size_t *ms, size_t *me,
    char *err, size_t errlen)
{
    size_t       i, j;
    uint32_t     cp;
    const char  *hit;
    int          rc, hit_pred;

    switch (p->kind) {
    case LMD_PAT_LITERAL:
        hit = memmem(s + from, n - from, p->lit, p->lit_len);
        if (hit == NULL) {
            return 0;
        }
        *ms = (size_t) (hit - s);
        *me = *ms + p->lit_len;
        return 1;

    case LMD_PAT_REGEX:
        if (lmd_tok_rx_ready(rx) != LMD_OK) {
            lmd_tok_err(err, errlen, "out of memory");
            return LMD_ERROR;
        }
        rc = pcre2_match(p->re, (PCRE2_SPTR) s, n, from, PCRE2_NO_UTF_CHECK,
                         rx->md, rx->mctx);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && lmd_tok_rx_big_stack(rx) == 0)
        {
            rc = pcre2_match(p->re, (PCRE2_SPTR) s, n, from,
                             PCRE2_NO_UTF_CHECK, rx->md, rx->mctx);
        }
        if (rc == PCRE2_ERROR_NOMATCH) {
            return 0;
        }
        if (rc < 0) {
            PCRE2_UCHAR  msg[160];

            pcre2_get_error_message(rc, msg, sizeof(msg));
            lmd_tok_err(err, errlen, "regex search failed: %s",
                        (char *) msg);
            return LMD_ERROR;
        }
        *ms = pcre2_get_ovector_pointer(rx->md)[0];
        *me = pcre2_get_ovector_pointer(rx->md)[1];
        return 1;

    case LMD_PAT_WORDS:
        /* \w+|[^\w\s]+ */
        for (i = from; i < n; ) {
            j = i;
            cp = lmd_tok_utf8_next(s, &j);
            if (lmd_tok_is_space(cp) && !lmd_tok_is_word(cp)) {
                i = j;
                continue;
            }
            hit_pred = lmd_tok_is_word(cp);
            *ms = i;
            while (j < n) {
                size_t    k = j;
                uint32_t  c2 = lmd_tok_utf8_next(s, &k);
                int       w = lmd_tok_is_word(c2);

                if (w != hit_pred || (!w && lmd_tok_is_space(c2))) {
                    break;
                }
                j = k;
            }
            *me = j;
            return 1;
        }
        return 0;

    default:
        /* one character satisfying a predicate */
        for (i = from; i < n; i = j) {
            j = i;
            cp = lmd_tok_utf8_next(s, &j);
            switch (p->kind) {
            case LMD_PAT_CHAR:
                hit_pred = cp == p->cp;
                break;
            case LMD_PAT_SPACE:
                hit_pred = lmd_tok_is_space(cp);
                break;
            case LMD_PAT_NUMERIC:
                hit_pred = lmd_tok_is_numeric(cp);
                break;
            default:
                hit_pred = lmd_tok_is_punct(cp);
                break;
            }
            if (hit_pred) {
                *ms = i;
                *me = j;
                return 1;
            }
        }
        return 0;
    }
}


int
lmd_tok_find(const struct lmd_tok_pattern *p, struct lmd_tok_rx *rx,
    const char *s, size_t n, size_t *pos, size_t *last, size_t *ms,
    size_t *me, char *err, size_t errlen)
{
    int  rc;

    for ( ;; ) {
        if (*pos > n) {
            return 0;
        }
        rc = lmd_tok_search(p, rx, s, n, *pos, ms, me, err, errlen);
        if (rc <= 0) {
            *pos = n + 1;
            return rc;
        }
        if (*ms == *me && *last == *me) {
            /* no empty match right after the previous match */
            *pos += *pos < n ? lmd_tok_utf8_len((uint8_t) s[*pos]) : 1;
            continue;
        }
        *pos = *me;
        *last = *me;
        return 1;
    }
}
