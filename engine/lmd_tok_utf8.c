/*
 * lmd_tok_utf8.c -- UTF-8 checking and repair, and the Unicode character
 * classes that tokenizers (a Rust library) tests with Rust's own
 * definitions: char::is_whitespace, char::is_numeric, the regex crate's
 * \w, punctuation and combining marks.
 *
 * Invalid input is repaired the way String::from_utf8_lossy does it: each
 * maximal subpart of an ill-formed sequence (a lead byte and the
 * continuation bytes that could still have completed it) becomes one
 * U+FFFD; a byte that cannot start a sequence is a subpart of its own.
 * The general categories come from libutf8proc.
 */

#include "lmd_tok_internal.h"

#include <utf8proc.h>


/* The length of a valid sequence starting at s[0..n), or 0 with *bad set
 * to the length of the maximal subpart to replace. */
static size_t
lmd_tok_utf8_seq(const uint8_t *s, size_t n, size_t *bad)
{
    uint8_t  c = s[0], lo = 0x80, hi = 0xBF;
    size_t   need, i;

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) {
            lo = 0xA0;
        } else if (c == 0xED) {
            hi = 0x9F;
        }
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) {
            lo = 0x90;
        } else if (c == 0xF4) {
            hi = 0x8F;
        }
    } else {
        *bad = 1;
        return 0;
    }
    for (i = 1; i < need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need;
}


size_t
lmd_tok_utf8_valid(const char *str, size_t n)
{
    const uint8_t  *s = (const uint8_t *) str;
    size_t          i = 0, k, bad;

    while (i < n) {
        /* ASCII eight bytes at a time */
        while (i + 8 <= n) {
            uint64_t  w;

            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL) {
                break;
            }
            i += 8;
        }
        if (i >= n) {
            break;
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        k = lmd_tok_utf8_seq(s + i, n - i, &bad);
        if (k == 0) {
            return i;
        }
        i += k;
    }
    return n;
}


int
lmd_tok_utf8_lossy(struct lmd_tok_buf *out, const char *str, size_t n)
{
    const uint8_t  *s = (const uint8_t *) str;
    size_t          i = 0, start = 0, k, bad = 0;

    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        k = lmd_tok_utf8_seq(s + i, n - i, &bad);
        if (k > 0) {
            i += k;
            continue;
        }
        if (lmd_tok_buf_put(out, s + start, i - start) != LMD_OK
            || lmd_tok_buf_put(out, "\xEF\xBF\xBD", 3) != LMD_OK)
        {
            return LMD_ERROR;
        }
        i += bad;
        start = i;
    }
    return lmd_tok_buf_put(out, s + start, n - start);
}


size_t
lmd_tok_utf8_partial_tail(const char *str, size_t n)
{
    const uint8_t  *s = (const uint8_t *) str;
    size_t          back, k, bad = 0;

    for (back = 1; back <= 3 && back <= n; back++) {
        uint8_t  c = s[n - back];

        if (c < 0x80) {
            return 0;
        }
        if (c >= 0xC0) {
            /* a lead byte: partial when its sequence needs more bytes
             * and the ones present are a valid start */
            if (c >= 0xC2 && c <= 0xF4 && lmd_tok_utf8_len(c) > back) {
                k = lmd_tok_utf8_seq(s + n - back, back, &bad);
                if (k == 0 && bad == back) {
                    return back;
                }
            }
            return 0;
        }
    }
    return 0;
}


size_t
lmd_tok_utf8_put(char *dst, uint32_t cp)
{
    uint8_t  *d = (uint8_t *) dst;

    if (cp < 0x80) {
        d[0] = (uint8_t) cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (uint8_t) (0xC0 | cp >> 6);
        d[1] = (uint8_t) (0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (uint8_t) (0xE0 | cp >> 12);
        d[1] = (uint8_t) (0x80 | ((cp >> 6) & 0x3F));
        d[2] = (uint8_t) (0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (uint8_t) (0xF0 | cp >> 18);
    d[1] = (uint8_t) (0x80 | ((cp >> 12) & 0x3F));
    d[2] = (uint8_t) (0x80 | ((cp >> 6) & 0x3F));
    d[3] = (uint8_t) (0x80 | (cp & 0x3F));
    return 4;
}


/* The GPT-2 byte-to-character table: printable Latin-1 bytes stand for
 * themselves, the other 68 take U+0100 and up in order.  Built on first
 * use; two threads racing build the same values. */
static uint32_t  lmd_byte_char_table[256];
static int16_t   lmd_char_byte_table[256 + 68];
static int       lmd_byte_tables_ready;


static void
lmd_tok_byte_tables(void)
{
    uint32_t  bc[256], n = 0;
    int16_t   cb[256 + 68];
    int       i;

    if (__atomic_load_n(&lmd_byte_tables_ready, __ATOMIC_ACQUIRE)) {
        return;
    }
    for (i = 0; i < 256 + 68; i++) {
        cb[i] = -1;
    }
    for (i = 0; i < 256; i++) {
        if ((i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC)
            || (i >= 0xAE && i <= 0xFF))
        {
            bc[i] = (uint32_t) i;
        } else {
            bc[i] = 256 + n++;
        }
        cb[bc[i]] = (int16_t) i;
    }
    /* only final values are stored, so a racing builder is harmless */
    for (i = 0; i < 256; i++) {
        __atomic_store_n(&lmd_byte_char_table[i], bc[i], __ATOMIC_RELAXED);
    }
    for (i = 0; i < 256 + 68; i++) {
        __atomic_store_n(&lmd_char_byte_table[i], cb[i], __ATOMIC_RELAXED);
    }
    __atomic_store_n(&lmd_byte_tables_ready, 1, __ATOMIC_RELEASE);
}


uint32_t
lmd_tok_byte_char(uint8_t b)
{
    lmd_tok_byte_tables();
    return __atomic_load_n(&lmd_byte_char_table[b], __ATOMIC_RELAXED);
}


/* The byte a byte-level character stands for, or -1. */
int
lmd_tok_char_byte(uint32_t cp)
{
    if (cp >= 256 + 68) {
        return -1;
    }
    lmd_tok_byte_tables();
    return __atomic_load_n(&lmd_char_byte_table[cp], __ATOMIC_RELAXED);
}


/* ---------------------------------------------------------------- classes */

/* The White_Space property: char::is_whitespace, regex \s, Oniguruma \s. */
int
lmd_tok_is_space(uint32_t cp)
{
    if (cp < 0x80) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20;
    }
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680
           || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028
           || cp == 0x2029 || cp == 0x202F || cp == 0x205F
           || cp == 0x3000;
}


int
lmd_tok_is_numeric(uint32_t cp)
{
    utf8proc_category_t  c;

    if (cp < 0x80) {
        return cp >= '0' && cp <= '9';
    }
    c = utf8proc_category((utf8proc_int32_t) cp);
    return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL
           || c == UTF8PROC_CATEGORY_NO;
}


int
lmd_tok_is_mark(uint32_t cp)
{
    utf8proc_category_t  c;

    if (cp < 0x300) {
        return 0;
    }
    c = utf8proc_category((utf8proc_int32_t) cp);
    return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC
           || c == UTF8PROC_CATEGORY_ME;
}


/* The regex crate's Unicode \w: Alphabetic, marks, Nd, Pc, Join_Control.
 * Alphabetic is the letters, Nl and Other_Alphabetic; the Other_Alphabetic
 * characters outside the marks are the circled and squared letters. */
int
lmd_tok_is_word(uint32_t cp)
{
    utf8proc_category_t  c;

    if (cp < 0x80) {
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')
               || (cp >= '0' && cp <= '9') || cp == '_';
    }
    if (cp == 0x200C || cp == 0x200D || (cp >= 0x24B6 && cp <= 0x24E9)
        || (cp >= 0x1F130 && cp <= 0x1F149)
        || (cp >= 0x1F150 && cp <= 0x1F169)
        || (cp >= 0x1F170 && cp <= 0x1F189))
    {
        return 1;
    }
    c = utf8proc_category((utf8proc_int32_t) cp);
    switch (c) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
        return 1;
    default:
        return 0;
    }
}


/* tokenizers' is_punc: char::is_ascii_punctuation or a P* category. */
int
lmd_tok_is_punct(uint32_t cp)
{
    utf8proc_category_t  c;

    if (cp < 0x80) {
        return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40)
               || (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E);
    }
    c = utf8proc_category((utf8proc_int32_t) cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}
