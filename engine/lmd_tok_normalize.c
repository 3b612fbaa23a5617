/*
 * lmd_tok_normalize.c -- the normalizers: each rewrites one text segment
 * (the text between two added tokens) into a new string.
 *
 * A Sequence was flattened at load, so a normalizer is one step or a
 * list of steps; the steps write alternately into the call's two
 * buffers.  Offsets are not tracked: lmd returns ids only.  Semantics
 * follow tokenizers 0.23:
 *
 *   Prepend       adds its string in front of a non-empty segment
 *   Replace       every match of a literal or regex (find_iter order)
 *   NFC ... NFKD  Unicode normalization (libutf8proc)
 *   Lowercase     Rust's char::to_lowercase, character by character
 *   Strip         char::is_whitespace at the left and/or right
 *   StripAccents  drops combining marks (Mn, Mc, Me)
 *   ByteLevel     each byte as its GPT-2 byte-level character
 *
 * and one that no tokenizer.json holds: sentencepiece's own
 * normalization with the identity rule (dummy prefix, whitespace
 * escaping to U+2581, optional collapsing of extra spaces), for models
 * loaded from tokenizer.model.
 */

#include "lmd_tok_internal.h"

#include <stdlib.h>
#include <utf8proc.h>

#define LMD_SPM_SPACE      "\xE2\x96\x81"      /* U+2581 */


static int
lmd_norm_replace(struct lmd_tok_enc *e, const struct lmd_tok_norm *n,
    const char *s, size_t len, struct lmd_tok_buf *out)
{
    size_t  pos = 0, last = SIZE_MAX, ms, me, done = 0;
    int     rc;

    for ( ;; ) {
        rc = lmd_tok_find(&n->pat, &e->rx, s, len, &pos, &last, &ms, &me,
                          e->err, e->errlen);
        if (rc < 0) {
            return LMD_ERROR;
        }
        if (rc == 0) {
            break;
        }
        if (lmd_tok_buf_put(out, s + done, ms - done) != LMD_OK
            || lmd_tok_buf_put(out, n->str, n->str_len) != LMD_OK)
        {
            return LMD_ERROR;
        }
        done = me;
    }
    return lmd_tok_buf_put(out, s + done, len - done);
}


static int
lmd_norm_utf8proc(int type, const char *s, size_t len,
    struct lmd_tok_buf *out)
{
    utf8proc_uint8_t  *res = NULL;
    utf8proc_ssize_t   rlen;
    int                opt = UTF8PROC_STABLE;
    int                rc;

    switch (type) {
    case LMD_NORM_NFC:
        opt |= UTF8PROC_COMPOSE;
        break;
    case LMD_NORM_NFD:
        opt |= UTF8PROC_DECOMPOSE;
        break;
    case LMD_NORM_NFKC:
        opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
        break;
    default:
        opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
        break;
    }
    rlen = utf8proc_map((const utf8proc_uint8_t *) s, (utf8proc_ssize_t) len,
                        &res, (utf8proc_option_t) opt);
    if (rlen < 0) {
        free(res);
        return LMD_ERROR;
    }
    rc = lmd_tok_buf_put(out, res, (size_t) rlen);
    free(res);
    return rc;
}


/* Characters NFC leaves alone and never composes with what precedes
 * them: below U+0300 (no combining marks there), CJK ideographs, kana.
 * The text can be cut before each of them and normalized piece by piece,
 * and a piece made only of them is already in NFC. */
static inline int
lmd_nfc_inert(uint32_t cp)
{
    return cp < 0x300 || (cp >= 0x4E00 && cp <= 0x9FFF)
           || (cp >= 0x3041 && cp <= 0x3096) || (cp >= 0x30A1 && cp <= 0x30FA);
}


static int
lmd_norm_unicode(int type, const char *s, size_t len, struct lmd_tok_buf *out)
{
    size_t    i = 0, k, start = 0;
    uint32_t  cp;
    int       dirty = 0;

    if (type != LMD_NORM_NFC) {
        for (i = 0; i < len && (uint8_t) s[i] < 0x80; i++) {
            /* ASCII is its own normal form in all four */
        }
        return i == len ? lmd_tok_buf_put(out, s, len)
                        : lmd_norm_utf8proc(type, s, len, out);
    }
    while (i < len) {
        if ((uint8_t) s[i] < 0x80) {
            cp = (uint8_t) s[i];
            k = i + 1;
        } else {
            k = i;
            cp = lmd_tok_utf8_next(s, &k);
        }
        if (lmd_nfc_inert(cp)) {
            if (dirty) {
                if (lmd_norm_utf8proc(type, s + start, i - start, out)
                    != LMD_OK)
                {
                    return LMD_ERROR;
                }
                start = i;
                dirty = 0;
            }
        } else {
            if (!dirty) {
                /* from the last inert character on */
                size_t  b = i;

                if (b > start) {
                    b--;
                    while (b > start && ((uint8_t) s[b] & 0xC0) == 0x80) {
                        b--;
                    }
                }
                if (lmd_tok_buf_put(out, s + start, b - start) != LMD_OK) {
                    return LMD_ERROR;
                }
                start = b;
            }
            dirty = 1;
        }
        i = k;
    }
    if (dirty) {
        return lmd_norm_utf8proc(type, s + start, len - start, out);
    }
    return lmd_tok_buf_put(out, s + start, len - start);
}


static int
lmd_norm_lowercase(const char *s, size_t len, struct lmd_tok_buf *out)
{
    size_t    i = 0, k;
    uint32_t  cp;
    char      u[8];

    while (i < len) {
        if ((uint8_t) s[i] < 0x80) {
            char  c = s[i];

            if (c >= 'A' && c <= 'Z') {
                c = (char) (c + 32);
            }
            if (lmd_tok_buf_put(out, &c, 1) != LMD_OK) {
                return LMD_ERROR;
            }
            i++;
            continue;
        }
        cp = lmd_tok_utf8_next(s, &i);
        if (cp == 0x130) {
            /* the one unconditional one-to-two mapping: i + U+0307 */
            if (lmd_tok_buf_put(out, "i\xCC\x87", 3) != LMD_OK) {
                return LMD_ERROR;
            }
            continue;
        }
        k = lmd_tok_utf8_put(u, (uint32_t) utf8proc_tolower(
                                 (utf8proc_int32_t) cp));
        if (lmd_tok_buf_put(out, u, k) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


static int
lmd_norm_strip(const struct lmd_tok_norm *n, const char *s, size_t len,
    struct lmd_tok_buf *out)
{
    size_t    a = 0, b = len, i, k;
    uint32_t  cp;

    if (n->left) {
        while (a < b) {
            i = a;
            cp = lmd_tok_utf8_next(s, &i);
            if (!lmd_tok_is_space(cp)) {
                break;
            }
            a = i;
        }
    }
    if (n->right) {
        while (b > a) {
            k = b - 1;
            while (k > a && ((uint8_t) s[k] & 0xC0) == 0x80) {
                k--;
            }
            i = k;
            cp = lmd_tok_utf8_next(s, &i);
            if (!lmd_tok_is_space(cp)) {
                break;
            }
            b = k;
        }
    }
    return lmd_tok_buf_put(out, s + a, b - a);
}


static int
lmd_norm_strip_accents(const char *s, size_t len, struct lmd_tok_buf *out)
{
    size_t    i = 0, k;
    uint32_t  cp;

    while (i < len) {
        k = i;
        cp = lmd_tok_utf8_next(s, &i);
        if (!lmd_tok_is_mark(cp)
            && lmd_tok_buf_put(out, s + k, i - k) != LMD_OK)
        {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


static int
lmd_norm_bytelevel(const char *s, size_t len, struct lmd_tok_buf *out)
{
    size_t  i;
    char    u[4];

    for (i = 0; i < len; i++) {
        size_t  k = lmd_tok_utf8_put(u, lmd_tok_byte_char((uint8_t) s[i]));

        if (lmd_tok_buf_put(out, u, k) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


/* sentencepiece's Normalizer::Normalize with the identity rule.  A unit
 * is a user-defined piece (kept whole) or one character. */
static int
lmd_norm_spm(const struct lmd_tok_enc *e, const struct lmd_tok_norm *n,
    const char *s, size_t len, struct lmd_tok_buf *out)
{
    const struct lmd_tok_trie  *ud = e->t->model.frozen;
    const char                 *space = n->escape ? LMD_SPM_SPACE : " ";
    size_t                      slen = n->escape ? 3 : 1;
    size_t                      i = 0, ulen, j;
    int                         prev_space;

    if (n->right) {
        while (i < len && s[i] == ' '
               && (ud == NULL
                   || lmd_tok_trie_longest(ud, s + i, len - i, &ulen) < 0))
        {
            i++;
        }
    }
    if (i == len) {
        return LMD_OK;
    }
    if (n->left && lmd_tok_buf_put(out, space, slen) != LMD_OK) {
        return LMD_ERROR;
    }
    prev_space = n->right;
    while (i < len) {
        const char  *u = s + i;

        if (ud == NULL || lmd_tok_trie_longest(ud, u, len - i, &ulen) < 0) {
            ulen = lmd_tok_utf8_len((uint8_t) *u);
        }
        i += ulen;
        while (prev_space && ulen > 0 && *u == ' ') {
            u++;
            ulen--;
        }
        if (ulen > 0) {
            for (j = 0; j < ulen; j++) {
                if (n->escape && u[j] == ' ') {
                    if (lmd_tok_buf_put(out, space, slen) != LMD_OK) {
                        return LMD_ERROR;
                    }
                } else if (lmd_tok_buf_put(out, u + j, 1) != LMD_OK) {
                    return LMD_ERROR;
                }
            }
            prev_space = u[ulen - 1] == ' ';
        }
        if (!n->right) {
            prev_space = 0;
        }
    }
    if (n->right) {
        while (out->len >= slen
               && memcmp(out->p + out->len - slen, space, slen) == 0)
        {
            out->len -= slen;
        }
    }
    return LMD_OK;
}


static int
lmd_norm_step(struct lmd_tok_enc *e, const struct lmd_tok_norm *n,
    const char *s, size_t len, struct lmd_tok_buf *out)
{
    out->len = 0;
    switch (n->type) {
    case LMD_NORM_PREPEND:
        if (len == 0) {
            return LMD_OK;
        }
        if (lmd_tok_buf_put(out, n->str, n->str_len) != LMD_OK) {
            return LMD_ERROR;
        }
        return lmd_tok_buf_put(out, s, len);
    case LMD_NORM_REPLACE:
        return lmd_norm_replace(e, n, s, len, out);
    case LMD_NORM_NFC:
    case LMD_NORM_NFD:
    case LMD_NORM_NFKC:
    case LMD_NORM_NFKD:
        return lmd_norm_unicode(n->type, s, len, out);
    case LMD_NORM_LOWERCASE:
        return lmd_norm_lowercase(s, len, out);
    case LMD_NORM_STRIP:
        return lmd_norm_strip(n, s, len, out);
    case LMD_NORM_STRIP_ACCENTS:
        return lmd_norm_strip_accents(s, len, out);
    case LMD_NORM_BYTELEVEL:
        return lmd_norm_bytelevel(s, len, out);
    case LMD_NORM_SPM:
        return lmd_norm_spm(e, n, s, len, out);
    default:
        return LMD_ERROR;
    }
}


int
lmd_tok_normalize(struct lmd_tok_enc *e, const struct lmd_tok_norm *n,
    const char *s, size_t len, const char **res, size_t *res_len)
{
    const struct lmd_tok_norm  *const *steps;
    const struct lmd_tok_norm  *one = n;
    size_t                      nsteps, i;
    int                         k = 0;

    if (n == NULL) {
        *res = s;
        *res_len = len;
        return LMD_OK;
    }
    if (n->type == LMD_NORM_SEQUENCE) {
        steps = (const struct lmd_tok_norm *const *) n->items;
        nsteps = n->nitems;
    } else {
        steps = &one;
        nsteps = 1;
    }
    for (i = 0; i < nsteps; i++) {
        if (lmd_norm_step(e, steps[i], s, len, &e->norm[k]) != LMD_OK) {
            if (e->err != NULL && e->err[0] == '\0') {
                lmd_tok_err(e->err, e->errlen, "normalizer: out of memory");
            }
            return LMD_ERROR;
        }
        s = e->norm[k].p != NULL ? e->norm[k].p : "";
        len = e->norm[k].len;
        k ^= 1;
    }
    *res = s;
    *res_len = len;
    return LMD_OK;
}


void
lmd_tok_norm_free(struct lmd_tok_norm *n)
{
    size_t  i;

    if (n == NULL) {
        return;
    }
    for (i = 0; i < n->nitems; i++) {
        lmd_tok_norm_free(n->items[i]);
    }
    free(n->items);
    free(n->str);
    lmd_tok_pattern_free(&n->pat);
    free(n);
}
