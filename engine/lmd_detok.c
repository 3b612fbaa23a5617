/*
 * lmd_detok.c -- incremental decoding: ids arrive one at a time, text goes
 * out as soon as it can no longer change.
 *
 * Design: the decoder keeps the ids of a window -- those since the last
 * point where the text was complete -- decodes the window after every id
 * (lmd_tok_decode_range with LMD_DEC_OPEN_END) and returns the part of
 * the result it has not returned yet, minus a tail that more ids could
 * still change:
 *
 *   - a trailing run of <0xNN> byte pieces when the decoder has
 *     ByteFallback: the run's bytes become a string only if the whole run
 *     is valid UTF-8, else one U+FFFD per byte, and the next id may extend
 *     the run;
 *   - a trailing U+FFFD: ByteLevel's repair of an incomplete character,
 *     which the next bytes may complete;
 *   - characters that a Strip decoder after Fuse would remove at the very
 *     end (its stop count);
 *   - with BPEDecoder, the last string (its suffix becomes "" only at the
 *     end).
 *
 * When everything decoded so far has been returned, the last string is
 * not a byte piece, and some text has come out already, the window is
 * closed and the next one starts after it (LMD_DEC_HEAD_CONT: the "first
 * string" rules of Metaspace, Strip and WordPiece no longer apply).  The
 * concatenation of the windows then equals the decode of all the ids:
 * the first-string rules were applied once, in the first window, over
 * text that was not empty; no ByteFallback run or UTF-8 character
 * straddles a window boundary; ByteLevel's repair is prefix-stable after
 * a complete character; and every other decoder maps strings one by one.
 * The tests check this on every fixture and on random id sequences.
 *
 * Windows are usually one or two ids long, so each id costs a decode of a
 * few strings.  A decoder belongs to one thread.
 */

#include "lmd_tok_internal.h"

#include <stdlib.h>

struct lmd_detok {
    const struct lmd_tokenizer *t;
    int                         skip_special;
    int32_t                    *ids;        /* the window */
    size_t                      n;
    size_t                      cap;
    int                         head_cont;  /* text came before it */
    size_t                      done;       /* bytes of the window's
                                               text returned */
    size_t                      total;      /* bytes returned in all */
    struct lmd_tok_buf          win;
    struct lmd_tok_buf          tmp;
};


struct lmd_detok *
lmd_detok_new(const struct lmd_tokenizer *t, int skip_special)
{
    struct lmd_detok  *d = calloc(1, sizeof(*d));

    if (d != NULL) {
        d->t = t;
        d->skip_special = skip_special;
    }
    return d;
}


void
lmd_detok_free(struct lmd_detok *d)
{
    if (d == NULL) {
        return;
    }
    free(d->ids);
    lmd_tok_buf_free(&d->win);
    lmd_tok_buf_free(&d->tmp);
    free(d);
}


static int
lmd_detok_skipped(const struct lmd_detok *d, int32_t id)
{
    return d->skip_special && (d->t->dec_flags[id] & LMD_TOK_ID_SPECIAL);
}


/* The window's ids before which the text is stable: the start of a
 * trailing byte-piece run (ByteFallback) or the last string (BPEDecoder);
 * n when nothing is pending. */
static size_t
lmd_detok_cut(const struct lmd_detok *d)
{
    const struct lmd_tokenizer  *t = d->t;
    size_t                       cut = d->n, i;

    if (t->dec_byte_fallback) {
        for (i = d->n; i > 0; i--) {
            int32_t  id = d->ids[i - 1];

            if (lmd_detok_skipped(d, id)) {
                continue;
            }
            if (!(t->dec_flags[id] & LMD_TOK_ID_BYTE)) {
                break;
            }
            cut = i - 1;
        }
    }
    if (t->dec_last_sensitive) {
        for (i = d->n; i > 0; i--) {
            if (!lmd_detok_skipped(d, d->ids[i - 1])) {
                if (i - 1 < cut) {
                    cut = i - 1;
                }
                break;
            }
        }
    }
    return cut;
}


int
lmd_detok_push(struct lmd_detok *d, int32_t id, const char **text,
    size_t *len)
{
    const struct lmd_tokenizer  *t = d->t;
    size_t                       stable, cut, k;
    int                          flags;
    uint8_t                      sc[4];
    size_t                       sclen;

    *text = "";
    *len = 0;
    if (id < 0 || (size_t) id >= t->nids
        || !(t->dec_flags[id] & LMD_TOK_ID_KNOWN))
    {
        return LMD_ERROR;
    }
    if (d->n == d->cap) {
        size_t    cap = d->cap ? d->cap * 2 : 8;
        int32_t  *p = realloc(d->ids, cap * sizeof(int32_t));

        if (p == NULL) {
            return LMD_ERROR;
        }
        d->ids = p;
        d->cap = cap;
    }
    d->ids[d->n++] = id;

    flags = LMD_DEC_OPEN_END | (d->head_cont ? LMD_DEC_HEAD_CONT : 0);
    d->win.len = 0;
    if (lmd_tok_decode_range(t, d->ids, d->n, d->skip_special, flags,
                             &d->win) != LMD_OK)
    {
        return LMD_ERROR;
    }
    stable = d->win.len;
    cut = lmd_detok_cut(d);
    if (cut < d->n) {
        d->tmp.len = 0;
        if (lmd_tok_decode_range(t, d->ids, cut, d->skip_special, flags,
                                 &d->tmp) != LMD_OK)
        {
            return LMD_ERROR;
        }
        if (d->tmp.len < stable) {
            stable = d->tmp.len;
        }
    }
    if (stable >= 3 && memcmp(d->win.p + stable - 3, "\xEF\xBF\xBD", 3) == 0)
    {
        stable -= 3;
    }
    if (t->dec_strip_stop > 0) {
        sclen = lmd_tok_utf8_put((char *) sc, t->dec_strip_cp);
        for (k = 0; k < (size_t) t->dec_strip_stop && stable >= sclen; k++) {
            if (memcmp(d->win.p + stable - sclen, sc, sclen) != 0) {
                break;
            }
            stable -= sclen;
        }
    }
    if (stable > d->done) {
        *text = d->win.p + d->done;
        *len = stable - d->done;
        d->total += *len;
        d->done = stable;
    }
    if (stable == d->win.len && cut == d->n && d->total > 0) {
        /* everything is out: the next id starts a new window */
        d->n = 0;
        d->done = 0;
        d->head_cont = 1;
    }
    return LMD_OK;
}


int
lmd_detok_finish(struct lmd_detok *d, const char **text, size_t *len)
{
    int  flags = d->head_cont ? LMD_DEC_HEAD_CONT : 0;

    *text = "";
    *len = 0;
    d->win.len = 0;
    if (d->n > 0
        && lmd_tok_decode_range(d->t, d->ids, d->n, d->skip_special, flags,
                                &d->win) != LMD_OK)
    {
        return LMD_ERROR;
    }
    if (d->win.len > d->done) {
        *text = d->win.p + d->done;
        *len = d->win.len - d->done;
        d->total += *len;
    }
    d->n = 0;
    d->done = 0;
    d->head_cont = d->total > 0;
    return LMD_OK;
}
