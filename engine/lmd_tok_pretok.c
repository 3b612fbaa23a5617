/*
 * lmd_tok_pretok.c -- the pre-tokenizers: a normalized segment is cut
 * into words, and each word goes to the model.
 *
 * Design: tokenizers runs each pre-tokenizer over the whole list of
 * splits before the next one starts.  The result depends only on each
 * split, so lmd runs depth first instead: step k cuts its input and hands
 * every piece to step k + 1 at once, and the last step hands it to the
 * model.  No list of splits is ever built, and a step that rewrites its
 * text (ByteLevel's prefix space, Metaspace) writes into its own two
 * buffers, which stay valid while the later steps look at the pieces.
 * Empty pieces are dropped, as PreTokenizedString::split drops them.
 *
 * Steps (Sequence and BertPreTokenizer were flattened at load; Whitespace,
 * WhitespaceSplit, Digits, Punctuation and CharDelimiterSplit are Split
 * steps with a character-class pattern):
 *
 *   ByteLevel   optional " " in front, the GPT-2 regex (Isolated), then
 *               every byte as its byte-level character -- unless the
 *               model takes raw bytes, when the mapping is left to it
 *   Split       find_iter over the pattern, then the behavior (Removed,
 *               Isolated, MergedWithPrevious, MergedWithNext, Contiguous)
 *               on the list of (range, is_match), inverted when invert
 *   Metaspace   ' ' -> replacement, the prepend scheme, then a split on
 *               the replacement (MergedWithNext) when split is true
 */

#include "lmd_tok_internal.h"

#include <stdlib.h>


/* The pending piece of a behavior fold, and where the pieces go. */
struct lmd_pt_fold {
    struct lmd_tok_enc     *e;
    size_t                  step;
    const char             *s;
    int                     first;
    int                     behavior;
    int                     have;           /* a pending piece */
    size_t                  a;
    size_t                  b;
    int                     prev_match;
};


static int
lmd_pt_emit(struct lmd_pt_fold *f, size_t a, size_t b)
{
    if (a == b) {
        return LMD_OK;
    }
    return lmd_tok_pretokenize(f->e, f->step + 1, f->s + a, b - a,
                               f->first && a == 0);
}


static int
lmd_pt_flush(struct lmd_pt_fold *f)
{
    if (!f->have) {
        return LMD_OK;
    }
    f->have = 0;
    return lmd_pt_emit(f, f->a, f->b);
}


static int
lmd_pt_hold(struct lmd_pt_fold *f, size_t a, size_t b)
{
    if (lmd_pt_flush(f) != LMD_OK) {
        return LMD_ERROR;
    }
    f->have = 1;
    f->a = a;
    f->b = b;
    return LMD_OK;
}


/* One element of find_matches, in order; see NormalizedString::split. */
static int
lmd_pt_elem(struct lmd_pt_fold *f, size_t a, size_t b, int is_match)
{
    int  rc = LMD_OK;

    switch (f->behavior) {
    case LMD_SPLIT_ISOLATED:
        rc = lmd_pt_emit(f, a, b);
        break;

    case LMD_SPLIT_REMOVED:
        if (!is_match) {
            rc = lmd_pt_emit(f, a, b);
        }
        break;

    case LMD_SPLIT_CONTIGUOUS:
        if (is_match == f->prev_match && f->have) {
            f->b = b;
        } else {
            rc = lmd_pt_hold(f, a, b);
        }
        break;

    case LMD_SPLIT_MERGED_PREV:
        if (is_match && !f->prev_match && f->have) {
            f->b = b;
        } else {
            rc = lmd_pt_hold(f, a, b);
        }
        break;

    case LMD_SPLIT_MERGED_NEXT:
        /* a match joins the non-match right after it */
        if (is_match) {
            rc = lmd_pt_hold(f, a, b);
        } else if (f->have) {
            f->have = 0;
            rc = lmd_pt_emit(f, f->a, b);
        } else {
            rc = lmd_pt_emit(f, a, b);
        }
        break;
    }
    f->prev_match = is_match;
    return rc;
}


/* Split s by a pattern and hand the pieces to the next step. */
static int
lmd_pt_split(struct lmd_tok_enc *e, size_t step, const char *s, size_t len,
    int first, const struct lmd_tok_pattern *pat, int behavior, int invert)
{
    struct lmd_pt_fold  f;
    size_t              pos = 0, last = SIZE_MAX, prev = 0, ms, me;
    int                 rc;

    memset(&f, 0, sizeof(f));
    f.e = e;
    f.step = step;
    f.s = s;
    f.first = first;
    f.behavior = behavior;

    for ( ;; ) {
        rc = lmd_tok_find(pat, &e->rx, s, len, &pos, &last, &ms, &me,
                          e->err, e->errlen);
        if (rc < 0) {
            return LMD_ERROR;
        }
        if (rc == 0) {
            break;
        }
        if (prev != ms && lmd_pt_elem(&f, prev, ms, invert) != LMD_OK) {
            return LMD_ERROR;
        }
        if (lmd_pt_elem(&f, ms, me, !invert) != LMD_OK) {
            return LMD_ERROR;
        }
        prev = me;
    }
    if (prev != len && lmd_pt_elem(&f, prev, len, invert) != LMD_OK) {
        return LMD_ERROR;
    }
    return lmd_pt_flush(&f);
}


/* One ByteLevel piece: mapped to byte-level characters unless raw. */
static int
lmd_pt_bytelevel_piece(struct lmd_tok_enc *e, size_t step,
    const struct lmd_tok_pt *pt, const char *s, size_t len, int first)
{
    struct lmd_tok_buf  *b = &e->pt[step][1];
    size_t               i;
    char                 u[4];

    if (pt->raw) {
        return lmd_tok_pretokenize(e, step + 1, s, len, first);
    }
    b->len = 0;
    for (i = 0; i < len; i++) {
        size_t  k = lmd_tok_utf8_put(u, lmd_tok_byte_char((uint8_t) s[i]));

        if (lmd_tok_buf_put(b, u, k) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return lmd_tok_pretokenize(e, step + 1, b->p, b->len, first);
}


static int
lmd_pt_bytelevel(struct lmd_tok_enc *e, size_t step,
    const struct lmd_tok_pt *pt, const char *s, size_t len, int first)
{
    struct lmd_tok_buf  *b = &e->pt[step][0];
    size_t               pos = 0, last = SIZE_MAX, prev = 0, ms, me;
    int                  rc;

    if (pt->add_prefix_space && s[0] != ' ') {
        b->len = 0;
        if (lmd_tok_buf_put(b, " ", 1) != LMD_OK
            || lmd_tok_buf_put(b, s, len) != LMD_OK)
        {
            return LMD_ERROR;
        }
        s = b->p;
        len = b->len;
    }
    if (!pt->use_regex) {
        return lmd_pt_bytelevel_piece(e, step, pt, s, len, first);
    }
    /* Isolated: every match and every gap is a piece */
    for ( ;; ) {
        rc = lmd_tok_find(&pt->pat, &e->rx, s, len, &pos, &last, &ms, &me,
                          e->err, e->errlen);
        if (rc < 0) {
            return LMD_ERROR;
        }
        if (rc == 0) {
            break;
        }
        if (prev != ms
            && lmd_pt_bytelevel_piece(e, step, pt, s + prev, ms - prev,
                                      first && prev == 0) != LMD_OK)
        {
            return LMD_ERROR;
        }
        if (me != ms
            && lmd_pt_bytelevel_piece(e, step, pt, s + ms, me - ms,
                                      first && ms == 0) != LMD_OK)
        {
            return LMD_ERROR;
        }
        prev = me;
    }
    if (prev != len) {
        return lmd_pt_bytelevel_piece(e, step, pt, s + prev, len - prev,
                                      first && prev == 0);
    }
    return LMD_OK;
}


static int
lmd_pt_metaspace(struct lmd_tok_enc *e, size_t step,
    const struct lmd_tok_pt *pt, const char *s, size_t len, int first)
{
    struct lmd_tok_buf      *b = &e->pt[step][0];
    struct lmd_tok_pattern   pat;
    size_t                   i, start;
    int                      starts;

    b->len = 0;
    for (i = 0, start = 0; i < len; i++) {
        if (s[i] != ' ') {
            continue;
        }
        if (lmd_tok_buf_put(b, s + start, i - start) != LMD_OK
            || lmd_tok_buf_put(b, pt->repl, pt->repl_len) != LMD_OK)
        {
            return LMD_ERROR;
        }
        start = i + 1;
    }
    if (lmd_tok_buf_put(b, s + start, len - start) != LMD_OK) {
        return LMD_ERROR;
    }
    starts = b->len >= pt->repl_len
             && memcmp(b->p, pt->repl, pt->repl_len) == 0;
    if (!starts && (pt->prepend == LMD_PREPEND_ALWAYS
                    || (pt->prepend == LMD_PREPEND_FIRST && first)))
    {
        if (lmd_tok_buf_grow(b, pt->repl_len) != LMD_OK) {
            return LMD_ERROR;
        }
        memmove(b->p + pt->repl_len, b->p, b->len);
        memcpy(b->p, pt->repl, pt->repl_len);
        b->len += pt->repl_len;
    }
    if (!pt->split) {
        return lmd_tok_pretokenize(e, step + 1, b->p, b->len, first);
    }
    memset(&pat, 0, sizeof(pat));
    pat.kind = LMD_PAT_CHAR;
    pat.cp = pt->repl_cp;
    return lmd_pt_split(e, step, b->p, b->len, first, &pat,
                        LMD_SPLIT_MERGED_NEXT, 0);
}


int
lmd_tok_pretokenize(struct lmd_tok_enc *e, size_t step, const char *s,
    size_t len, int first)
{
    const struct lmd_tokenizer  *t = e->t;
    const struct lmd_tok_pt     *pt;

    if (len == 0) {
        return LMD_OK;
    }
    if (step == t->npt) {
        return lmd_bpe_encode(e, s, len);
    }
    pt = &t->pt[step];
    switch (pt->type) {
    case LMD_PT_BYTELEVEL:
        return lmd_pt_bytelevel(e, step, pt, s, len, first);
    case LMD_PT_SPLIT:
        return lmd_pt_split(e, step, s, len, first, &pt->pat, pt->behavior,
                            pt->invert);
    case LMD_PT_METASPACE:
        return lmd_pt_metaspace(e, step, pt, s, len, first);
    default:
        lmd_tok_err(e->err, e->errlen, "unknown pre-tokenizer step");
        return LMD_ERROR;
    }
}
