/*
 * lmd_tok_decode.c -- ids back to text: the decoder pipeline.
 *
 * As in tokenizers, each id becomes its string (an added token's content,
 * else the vocabulary piece), special tokens are dropped when asked, and
 * the decoders rewrite the list of strings in turn; the result is their
 * concatenation (or, with no decoder at all, the strings joined by ' ').
 * Semantics of tokenizers 0.23:
 *
 *   ByteLevel     a string all of whose characters are byte-level ones
 *                 stands for those bytes, any other for its own UTF-8;
 *                 everything is concatenated and repaired like
 *                 String::from_utf8_lossy (one string out)
 *   Metaspace     the replacement becomes ' ', except that the first
 *                 string loses all of them (prepend_scheme not never)
 *   Replace       every match of the pattern in each string
 *   ByteFallback  runs of <0xNN> strings become the bytes, or one U+FFFD
 *                 per byte when the run is not valid UTF-8
 *   Fuse          everything in one string
 *   Strip         up to start / stop copies of a character at either end
 *                 of each string
 *   WordPiece     strings after the first lose the prefix or gain a space;
 *                 optional cleanup of spaces before punctuation
 *   BPEDecoder    the suffix becomes ' ', or nothing in the last string
 *
 * Windows: lmd_detok decodes a few ids at a time.  LMD_DEC_HEAD_CONT says
 * that text came before the first id (so "first string" rules do not
 * apply and Fuse's result continues earlier text); LMD_DEC_OPEN_END says
 * more may follow (so end rules -- Strip's stop after Fuse, the last
 * string of BPEDecoder -- wait).  lmd_detok.c explains why that is exact.
 */

#include "lmd_tok_internal.h"

#include <stdlib.h>

#define LMD_FFFD  "\xEF\xBF\xBD"

/* The state of the list between two decoders. */
struct lmd_dec_state {
    int     global0;        /* tok[0] is the whole text's first string */
    int     first_partial;  /* tok[0] continues earlier text (after Fuse) */
    int     last_partial;   /* the last string goes on later (after Fuse) */
};


static int
lmd_list_push(struct lmd_tok_list *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        size_t                cap = l->cap ? l->cap * 2 : 16;
        struct lmd_tok_span  *p = realloc(l->tok, cap * sizeof(*p));

        if (p == NULL) {
            return LMD_ERROR;
        }
        l->tok = p;
        l->cap = cap;
    }
    if (l->text.len + len > UINT32_MAX
        || lmd_tok_buf_grow(&l->text, len + 1) != LMD_OK)
    {
        return LMD_ERROR;       /* (the grow also keeps text.p non-NULL) */
    }
    l->tok[l->n].off = (uint32_t) l->text.len;
    l->tok[l->n].len = (uint32_t) len;
    l->n++;
    return lmd_tok_buf_put(&l->text, s, len);
}


/* Appends to the last string of l. */
static int
lmd_list_extend(struct lmd_tok_list *l, const char *s, size_t len)
{
    l->tok[l->n - 1].len += (uint32_t) len;
    return lmd_tok_buf_put(&l->text, s, len);
}


static void
lmd_list_free(struct lmd_tok_list *l)
{
    lmd_tok_buf_free(&l->text);
    free(l->tok);
    memset(l, 0, sizeof(*l));
}


/* ------------------------------------------------------------- decoders */

static int
lmd_dec_bytelevel(const struct lmd_tok_list *in, struct lmd_tok_list *out)
{
    struct lmd_tok_buf  raw = { NULL, 0, 0 };
    size_t              i, j, start;
    int                 b, rc = LMD_OK;

    for (i = 0; i < in->n && rc == LMD_OK; i++) {
        const char  *s = in->text.p + in->tok[i].off;
        size_t       n = in->tok[i].len;

        start = raw.len;
        b = 0;
        for (j = 0; j < n && rc == LMD_OK; ) {
            b = lmd_tok_char_byte(lmd_tok_utf8_next(s, &j));
            if (b < 0) {
                break;
            }
            rc = lmd_tok_buf_put(&raw, &(char) { (char) b }, 1);
        }
        if (j < n || b < 0) {
            raw.len = start;            /* not byte-level: its own bytes */
            rc = lmd_tok_buf_put(&raw, s, n);
        }
    }
    if (rc == LMD_OK) {
        rc = lmd_list_push(out, "", 0);
    }
    if (rc == LMD_OK) {
        rc = lmd_tok_utf8_lossy(&out->text, raw.p != NULL ? raw.p : "",
                                raw.len);
        out->tok[0].len = (uint32_t) out->text.len;
    }
    lmd_tok_buf_free(&raw);
    return rc;
}


static int
lmd_dec_metaspace(const struct lmd_tok_dec *d, const struct lmd_tok_list *in,
    struct lmd_tok_list *out, const struct lmd_dec_state *st)
{
    size_t    i, j, k;
    uint32_t  cp;

    for (i = 0; i < in->n; i++) {
        const char  *s = in->text.p + in->tok[i].off;
        size_t       n = in->tok[i].len;
        int          drop = i == 0 && st->global0 && d->prepend;

        if (lmd_list_push(out, "", 0) != LMD_OK) {
            return LMD_ERROR;
        }
        for (j = 0; j < n; ) {
            k = j;
            cp = lmd_tok_utf8_next(s, &j);
            if (cp != d->cp) {
                if (lmd_list_extend(out, s + k, j - k) != LMD_OK) {
                    return LMD_ERROR;
                }
            } else if (!drop && lmd_list_extend(out, " ", 1) != LMD_OK) {
                return LMD_ERROR;
            }
        }
    }
    return LMD_OK;
}


static int
lmd_dec_replace(const struct lmd_tok_dec *d, const struct lmd_tok_list *in,
    struct lmd_tok_list *out, struct lmd_tok_rx *rx)
{
    size_t  i, pos, last, ms, me, done;
    int     rc;

    for (i = 0; i < in->n; i++) {
        const char  *s = in->text.p + in->tok[i].off;
        size_t       n = in->tok[i].len;

        if (lmd_list_push(out, "", 0) != LMD_OK) {
            return LMD_ERROR;
        }
        pos = 0;
        last = SIZE_MAX;
        done = 0;
        for ( ;; ) {
            rc = lmd_tok_find(&d->pat, rx, s, n, &pos, &last, &ms, &me,
                              NULL, 0);
            if (rc < 0) {
                return LMD_ERROR;
            }
            if (rc == 0) {
                break;
            }
            if (lmd_list_extend(out, s + done, ms - done) != LMD_OK
                || lmd_list_extend(out, d->str, d->str_len) != LMD_OK)
            {
                return LMD_ERROR;
            }
            done = me;
        }
        if (lmd_list_extend(out, s + done, n - done) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


static int
lmd_hex(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}


/* The byte of a "<0xNN>" string (Rust's u8::from_str_radix, which also
 * takes "+N"), or -1. */
static int
lmd_dec_byte_piece(const char *s, size_t n)
{
    int  a, b;

    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') {
        return -1;
    }
    b = lmd_hex(s[4]);
    if (s[3] == '+') {
        return b;
    }
    a = lmd_hex(s[3]);
    return a < 0 || b < 0 ? -1 : a * 16 + b;
}


static int
lmd_dec_flush_bytes(struct lmd_tok_list *out, const char *bytes, size_t n)
{
    size_t  i;

    if (n == 0) {
        return LMD_OK;
    }
    if (lmd_tok_utf8_valid(bytes, n) == n) {
        return lmd_list_push(out, bytes, n);
    }
    for (i = 0; i < n; i++) {
        if (lmd_list_push(out, LMD_FFFD, 3) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


static int
lmd_dec_byte_fallback(const struct lmd_tok_list *in, struct lmd_tok_list *out)
{
    struct lmd_tok_buf  bytes = { NULL, 0, 0 };
    size_t              i;
    int                 b, rc = LMD_OK;

    for (i = 0; i < in->n && rc == LMD_OK; i++) {
        const char  *s = in->text.p + in->tok[i].off;
        size_t       n = in->tok[i].len;

        b = lmd_dec_byte_piece(s, n);
        if (b >= 0) {
            rc = lmd_tok_buf_put(&bytes, &(char) { (char) b }, 1);
            continue;
        }
        rc = lmd_dec_flush_bytes(out, bytes.p, bytes.len);
        bytes.len = 0;
        if (rc == LMD_OK) {
            rc = lmd_list_push(out, s, n);
        }
    }
    if (rc == LMD_OK) {
        rc = lmd_dec_flush_bytes(out, bytes.p, bytes.len);
    }
    lmd_tok_buf_free(&bytes);
    return rc;
}


static int
lmd_dec_strip(const struct lmd_tok_dec *d, const struct lmd_tok_list *in,
    struct lmd_tok_list *out, const struct lmd_dec_state *st)
{
    size_t    i, j, k, a, b, cut;
    uint32_t  cp;

    for (i = 0; i < in->n; i++) {
        const char  *s = in->text.p + in->tok[i].off;
        size_t       n = in->tok[i].len;

        a = 0;
        if (!(i == 0 && st->first_partial)) {
            for (k = 0, j = 0; k < d->start && j < n; k++) {
                cut = j;
                cp = lmd_tok_utf8_next(s, &j);
                if (cp != d->cp) {
                    j = cut;
                    break;
                }
            }
            a = j;
        }
        b = n;
        if (!(i == in->n - 1 && st->last_partial)) {
            for (k = 0; k < d->stop && b > a; k++) {
                j = b - 1;
                while (j > 0 && ((uint8_t) s[j] & 0xC0) == 0x80) {
                    j--;
                }
                cut = j;
                cp = lmd_tok_utf8_next(s, &cut);
                if (cp != d->cp) {
                    break;
                }
                b = j;
            }
        }
        if (lmd_list_push(out, s + a, b - a) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


/* WordPiece's cleanup(): these replacements, in this order, each over
 * the whole string. */
static int
lmd_dec_cleanup(struct lmd_tok_buf *s)
{
    static const char *const  rules[][2] = {
        { " .", "." }, { " ?", "?" }, { " !", "!" }, { " ,", "," },
        { " ' ", "'" }, { " n't", "n't" }, { " 'm", "'m" },
        { " do not", " don't" }, { " 's", "'s" }, { " 've", "'ve" },
        { " 're", "'re" }
    };
    struct lmd_tok_buf  tmp = { NULL, 0, 0 };
    size_t              r, i, fl, tl;

    for (r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
        fl = strlen(rules[r][0]);
        tl = strlen(rules[r][1]);
        tmp.len = 0;
        for (i = 0; i < s->len; ) {
            if (s->len - i >= fl && memcmp(s->p + i, rules[r][0], fl) == 0) {
                if (lmd_tok_buf_put(&tmp, rules[r][1], tl) != LMD_OK) {
                    goto nomem;
                }
                i += fl;
            } else {
                if (lmd_tok_buf_put(&tmp, s->p + i, 1) != LMD_OK) {
                    goto nomem;
                }
                i++;
            }
        }
        s->len = 0;
        if (lmd_tok_buf_put(s, tmp.p, tmp.len) != LMD_OK) {
            goto nomem;
        }
    }
    lmd_tok_buf_free(&tmp);
    return LMD_OK;

nomem:
    lmd_tok_buf_free(&tmp);
    return LMD_ERROR;
}


static int
lmd_dec_wordpiece(const struct lmd_tok_dec *d, const struct lmd_tok_list *in,
    struct lmd_tok_list *out, const struct lmd_dec_state *st)
{
    struct lmd_tok_buf  t = { NULL, 0, 0 };
    size_t              i;
    int                 rc = LMD_OK;

    for (i = 0; i < in->n && rc == LMD_OK; i++) {
        const char  *s = in->text.p + in->tok[i].off;
        size_t       n = in->tok[i].len;

        t.len = 0;
        if (!(i == 0 && st->global0)) {
            if (n >= d->str_len && memcmp(s, d->str, d->str_len) == 0) {
                s += d->str_len;
                n -= d->str_len;
            } else {
                rc = lmd_tok_buf_put(&t, " ", 1);
            }
        }
        if (rc == LMD_OK) {
            rc = lmd_tok_buf_put(&t, s, n);
        }
        if (rc == LMD_OK && d->cleanup) {
            rc = lmd_dec_cleanup(&t);
        }
        if (rc == LMD_OK) {
            rc = lmd_list_push(out, t.p != NULL ? t.p : "", t.len);
        }
    }
    lmd_tok_buf_free(&t);
    return rc;
}


static int
lmd_dec_bpe(const struct lmd_tok_dec *d, const struct lmd_tok_list *in,
    struct lmd_tok_list *out, int open_end)
{
    size_t  i, j, start;

    for (i = 0; i < in->n; i++) {
        const char  *s = in->text.p + in->tok[i].off;
        size_t       n = in->tok[i].len;
        int          last = i == in->n - 1 && !open_end;

        if (lmd_list_push(out, "", 0) != LMD_OK) {
            return LMD_ERROR;
        }
        for (j = 0, start = 0; j < n; ) {
            if (d->str_len > 0 && n - j >= d->str_len
                && memcmp(s + j, d->str, d->str_len) == 0)
            {
                if (lmd_list_extend(out, s + start, j - start) != LMD_OK
                    || (!last && lmd_list_extend(out, " ", 1) != LMD_OK))
                {
                    return LMD_ERROR;
                }
                j += d->str_len;
                start = j;
            } else {
                j++;
            }
        }
        if (lmd_list_extend(out, s + start, n - start) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


/* ---------------------------------------------------------------- driver */

/* ByteLevel alone: the ids' bytes, concatenated, repaired as UTF-8.  No
 * window flag changes anything for this decoder. */
static int
lmd_dec_bytelevel_fast(const struct lmd_tokenizer *t, const int32_t *ids,
    size_t n, int skip_special, struct lmd_tok_buf *out)
{
    struct lmd_tok_buf  raw = { NULL, 0, 0 };
    size_t              i;
    int                 rc = LMD_OK;

    for (i = 0; i < n && rc == LMD_OK; i++) {
        int32_t  id = ids[i];

        if (id < 0 || (size_t) id >= t->nids
            || !(t->dec_flags[id] & LMD_TOK_ID_KNOWN))
        {
            rc = LMD_ERROR;
            break;
        }
        if (skip_special && (t->dec_flags[id] & LMD_TOK_ID_SPECIAL)) {
            continue;
        }
        rc = lmd_tok_buf_put(&raw, t->dec_bytes_pool.p + t->dec_bytes[id].off,
                             t->dec_bytes[id].len);
    }
    if (rc == LMD_OK) {
        rc = lmd_tok_utf8_lossy(out, raw.p != NULL ? raw.p : "", raw.len);
    }
    lmd_tok_buf_free(&raw);
    return rc;
}


int
lmd_tok_decode_range(const struct lmd_tokenizer *t, const int32_t *ids,
    size_t n, int skip_special, int flags, struct lmd_tok_buf *out)
{
    struct lmd_tok_list   list[2], *in, *res;
    struct lmd_dec_state  st;
    struct lmd_tok_rx     rx;
    size_t                i, k;
    int                   rc = LMD_OK, cur = 0;

    if (t->dec_bytes != NULL) {
        return lmd_dec_bytelevel_fast(t, ids, n, skip_special, out);
    }
    memset(list, 0, sizeof(list));
    lmd_tok_rx_init(&rx, t->ncap);
    st.global0 = !(flags & LMD_DEC_HEAD_CONT);
    st.first_partial = 0;
    st.last_partial = 0;

    for (i = 0; i < n && rc == LMD_OK; i++) {
        int32_t  id = ids[i];

        if (id < 0 || (size_t) id >= t->nids
            || !(t->dec_flags[id] & LMD_TOK_ID_KNOWN))
        {
            rc = LMD_ERROR;
            break;
        }
        if (skip_special && (t->dec_flags[id] & LMD_TOK_ID_SPECIAL)) {
            continue;
        }
        rc = lmd_list_push(&list[0], t->dec_pool.p + t->dec_piece[id].off,
                           t->dec_piece[id].len);
    }

    for (k = 0; k < t->ndec && rc == LMD_OK; k++) {
        const struct lmd_tok_dec  *d = &t->dec[k];

        in = &list[cur];
        res = &list[cur ^ 1];
        res->n = 0;
        res->text.len = 0;
        switch (d->type) {
        case LMD_DEC_BYTELEVEL:
        case LMD_DEC_FUSE:
            if (d->type == LMD_DEC_BYTELEVEL) {
                rc = lmd_dec_bytelevel(in, res);
            } else {
                rc = lmd_list_push(res, "", 0);
                for (i = 0; i < in->n && rc == LMD_OK; i++) {
                    rc = lmd_list_extend(res, in->text.p + in->tok[i].off,
                                         in->tok[i].len);
                }
            }
            st.first_partial = !st.global0 || st.first_partial;
            st.last_partial = !!(flags & LMD_DEC_OPEN_END);
            st.global0 = 1;
            break;
        case LMD_DEC_METASPACE:
            rc = lmd_dec_metaspace(d, in, res, &st);
            break;
        case LMD_DEC_REPLACE:
            rc = lmd_dec_replace(d, in, res, &rx);
            break;
        case LMD_DEC_BYTE_FALLBACK:
            rc = lmd_dec_byte_fallback(in, res);
            break;
        case LMD_DEC_STRIP:
            rc = lmd_dec_strip(d, in, res, &st);
            break;
        case LMD_DEC_WORDPIECE:
            rc = lmd_dec_wordpiece(d, in, res, &st);
            break;
        case LMD_DEC_BPE:
            rc = lmd_dec_bpe(d, in, res, !!(flags & LMD_DEC_OPEN_END));
            break;
        default:
            rc = LMD_ERROR;
            break;
        }
        cur ^= 1;
    }

    in = &list[cur];
    for (i = 0; i < in->n && rc == LMD_OK; i++) {
        if (!t->has_decoder && (i > 0 || (flags & LMD_DEC_HEAD_CONT))) {
            rc = lmd_tok_buf_put(out, " ", 1);
        }
        if (rc == LMD_OK) {
            rc = lmd_tok_buf_put(out, in->text.p + in->tok[i].off,
                                 in->tok[i].len);
        }
    }
    lmd_list_free(&list[0]);
    lmd_list_free(&list[1]);
    lmd_tok_rx_free(&rx);
    return rc;
}
