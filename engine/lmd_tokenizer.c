/*
 * lmd_tokenizer.c -- the public tokenizer API (lmd_tokenizer.h): loading
 * a model folder or file, tokenizer_config.json, the lookups, and the
 * encode driver that runs the pipeline.
 *
 * Encoding, as tokenizers' encode_single_sequence does it:
 *
 *   1. invalid UTF-8 in the input becomes U+FFFD;
 *   2. added tokens with normalized: false are cut out of the raw text;
 *   3. each piece between them is normalized on its own, and the added
 *      tokens with normalized: true are cut out of the result;
 *   4. each remaining piece goes through the pre-tokenizer to the model;
 *   5. with add_special, the post-processor adds BOS/EOS (for a
 *      sentencepiece model: add_bos_token / add_eos_token).
 *
 * Steps 2 to 4 run piece by piece with callbacks, never building a list
 * of the whole text's pieces.  tokenizer.json's truncation and padding
 * are not applied: like transformers' tokenizers, lmd returns every id.
 */

#include "lmd_tok_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define LMD_TOK_CACHE_SLOTS  65536


/* ------------------------------------------------------------ ids arrays */

void
lmd_tokens_free(struct lmd_tokens *tokens)
{
    free(tokens->ids);
    tokens->ids = NULL;
    tokens->n = 0;
    tokens->cap = 0;
}


int
lmd_tokens_push(struct lmd_tokens *tokens, int32_t id)
{
    if (tokens->n == tokens->cap) {
        size_t    cap = tokens->cap ? tokens->cap * 2 : 64;
        int32_t  *p;

        if (cap > SIZE_MAX / sizeof(int32_t)) {
            return LMD_ERROR;
        }
        p = realloc(tokens->ids, cap * sizeof(int32_t));
        if (p == NULL) {
            return LMD_ERROR;
        }
        tokens->ids = p;
        tokens->cap = cap;
    }
    tokens->ids[tokens->n++] = id;
    return LMD_OK;
}


/* ------------------------------------------------------------- loading */

struct lmd_tokenizer *
lmd_tok_alloc(const char *path)
{
    struct lmd_tokenizer  *t;
    size_t                 len = strlen(path);

    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->path = malloc(len + 1);
    if (t->path == NULL) {
        free(t);
        return NULL;
    }
    memcpy(t->path, path, len + 1);
    t->model.unk_id = -1;
    t->bos_id = -1;
    t->eos_id = -1;
    return t;
}


static int
lmd_tok_is_file(const char *path)
{
    struct stat  st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}


/* ByteLevel's view of each id: the bytes its characters stand for, or
 * the string itself when one of them is not a byte-level character. */
static int
lmd_tok_dec_bytes(struct lmd_tokenizer *t)
{
    size_t  i, j, start;
    int     b;

    t->dec_bytes = calloc(t->nids ? t->nids : 1, sizeof(*t->dec_bytes));
    if (t->dec_bytes == NULL) {
        return LMD_ERROR;
    }
    for (i = 0; i < t->nids; i++) {
        const char  *s = t->dec_pool.p + t->dec_piece[i].off;
        size_t       n = t->dec_piece[i].len;

        start = t->dec_bytes_pool.len;
        if (lmd_tok_buf_grow(&t->dec_bytes_pool, n + 1) != LMD_OK) {
            return LMD_ERROR;
        }
        for (j = 0, b = 0; j < n; ) {
            b = lmd_tok_char_byte(lmd_tok_utf8_next(s, &j));
            if (b < 0) {
                break;
            }
            t->dec_bytes_pool.p[t->dec_bytes_pool.len++] = (char) b;
        }
        if (b < 0) {
            t->dec_bytes_pool.len = start;
            memcpy(t->dec_bytes_pool.p + start, s, n);
            t->dec_bytes_pool.len += n;
        }
        t->dec_bytes[i].off = (uint32_t) start;
        t->dec_bytes[i].len = (uint32_t) (t->dec_bytes_pool.len - start);
    }
    return lmd_tok_buf_nul(&t->dec_bytes_pool);
}


/* The decode tables: every id's string and flags. */
static int
lmd_tok_dec_tables(struct lmd_tokenizer *t)
{
    const struct lmd_tok_added_token  *tok;
    const char                        *s;
    size_t                             i, n, len;
    int32_t                            idx;

    n = t->model.nids > t->added.nby_id ? t->model.nids : t->added.nby_id;
    t->nids = n;
    t->dec_piece = calloc(n ? n : 1, sizeof(*t->dec_piece));
    t->dec_flags = calloc(n ? n : 1, 1);
    if (t->dec_piece == NULL || t->dec_flags == NULL) {
        return LMD_ERROR;
    }
    for (i = 0; i < n; i++) {
        tok = lmd_tok_added_by_id(t, (int32_t) i);
        if (tok != NULL) {
            s = tok->norm != NULL ? tok->norm : tok->content;
            len = tok->norm != NULL ? tok->norm_len : tok->len;
        } else if (i < t->model.nids && t->model.pieces[i].len != UINT32_MAX)
        {
            s = t->model.pool.p + t->model.pieces[i].off;
            len = t->model.pieces[i].len;
        } else {
            continue;
        }
        t->dec_piece[i].off = (uint32_t) t->dec_pool.len;
        t->dec_piece[i].len = (uint32_t) len;
        if (lmd_tok_buf_put(&t->dec_pool, s, len) != LMD_OK) {
            return LMD_ERROR;
        }
        t->dec_flags[i] = LMD_TOK_ID_KNOWN;
        idx = lmd_tok_strmap_get(&t->added.map, s, len);
        if ((idx >= 0 && t->added.tokens[idx].special)
            || (tok == NULL && t->model.control != NULL
                && t->model.control[i]))
        {
            t->dec_flags[i] |= LMD_TOK_ID_SPECIAL;
        }
        if (len == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>') {
            t->dec_flags[i] |= LMD_TOK_ID_BYTE;
        }
    }
    if (lmd_tok_buf_nul(&t->dec_pool) != LMD_OK) {
        return LMD_ERROR;
    }
    if (t->ndec == 1 && t->dec[0].type == LMD_DEC_BYTELEVEL
        && lmd_tok_dec_bytes(t) != LMD_OK)
    {
        return LMD_ERROR;
    }
    for (i = 0; i < t->ndec; i++) {
        if (t->dec[i].type == LMD_DEC_BYTE_FALLBACK) {
            t->dec_byte_fallback = 1;
        }
        if (t->dec[i].type == LMD_DEC_BPE) {
            t->dec_last_sensitive = 1;
        }
    }
    for (i = 0; i < t->ndec; i++) {
        if (t->dec[i].type == LMD_DEC_FUSE
            || t->dec[i].type == LMD_DEC_BYTELEVEL)
        {
            break;
        }
    }
    for ( ; i < t->ndec; i++) {
        if (t->dec[i].type == LMD_DEC_STRIP && t->dec[i].stop > 0) {
            t->dec_strip_stop = (int) t->dec[i].stop;
            t->dec_strip_cp = t->dec[i].cp;
        }
    }
    return LMD_OK;
}


/* An id the post-processor or BOS/EOS insertion adds must be a token. */
static int
lmd_tok_check_id(const struct lmd_tokenizer *t, int32_t id, const char *what,
    char *err, size_t errlen)
{
    if (id < 0 || (size_t) id >= t->nids
        || !(t->dec_flags[id] & LMD_TOK_ID_KNOWN))
    {
        lmd_tok_err(err, errlen, "%s: %s id %d is not a token of the "
                    "vocabulary", t->path, what, (int) id);
        return LMD_ERROR;
    }
    return LMD_OK;
}


int
lmd_tok_finish(struct lmd_tokenizer *t, char *err, size_t errlen)
{
    size_t  i, k;

    if (lmd_tok_added_finish(t, err, errlen) != LMD_OK) {
        return LMD_ERROR;
    }
    if (lmd_tok_dec_tables(t) != LMD_OK) {
        lmd_tok_err(err, errlen, "%s: out of memory", t->path);
        return LMD_ERROR;
    }
    for (i = 0; i < t->npost; i++) {
        for (k = 0; k < t->post[i].nbefore + t->post[i].nafter; k++) {
            if (lmd_tok_check_id(t, k < t->post[i].nbefore
                                    ? t->post[i].before[k]
                                    : t->post[i].after[k - t->post[i].nbefore],
                                 "post_processor: special token", err,
                                 errlen) != LMD_OK)
            {
                return LMD_ERROR;
            }
        }
    }
    if (t->spm && ((t->add_bos && t->bos_id >= 0
                    && lmd_tok_check_id(t, t->bos_id, "bos", err, errlen))
                   || (t->add_eos && t->eos_id >= 0
                       && lmd_tok_check_id(t, t->eos_id, "eos", err,
                                           errlen))))
    {
        return LMD_ERROR;
    }
    t->model.cache = lmd_tok_cache_new(LMD_TOK_CACHE_SLOTS);
    if (t->model.cache == NULL || lmd_bpe_chunk_setup(&t->model) != LMD_OK)
    {
        lmd_tok_err(err, errlen, "%s: out of memory", t->path);
        return LMD_ERROR;
    }
    return LMD_OK;
}


struct lmd_tokenizer *
lmd_tokenizer_load(const char *path, char *err, size_t errlen)
{
    struct lmd_tokenizer  *t;
    struct stat            st;
    char                  *file = NULL, *config = NULL, *dir = NULL;
    const char            *slash;
    size_t                 n;
    int                    rc = LMD_ERROR;

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (stat(path, &st) != 0) {
        lmd_tok_err(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    t = lmd_tok_alloc(path);
    n = strlen(path) + 32;
    file = malloc(n);
    config = malloc(n);
    dir = malloc(n);
    if (t == NULL || file == NULL || config == NULL || dir == NULL) {
        lmd_tok_err(err, errlen, "%s: out of memory", path);
        goto done;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(dir, n, "%s", path);
        snprintf(file, n, "%s/tokenizer.json", path);
        if (!lmd_tok_is_file(file)) {
            snprintf(file, n, "%s/tokenizer.model", path);
            if (!lmd_tok_is_file(file)) {
                lmd_tok_err(err, errlen, "%s: no tokenizer.json or "
                            "tokenizer.model in this folder", path);
                goto done;
            }
        }
    } else {
        snprintf(file, n, "%s", path);
        slash = strrchr(path, '/');
        snprintf(dir, n, "%.*s", slash ? (int) (slash - path) : 1,
                 slash ? path : ".");
    }
    snprintf(config, n, "%s/tokenizer_config.json", dir);
    free(t->path);
    t->path = strdup(file);         /* messages name the file */
    if (t->path == NULL) {
        lmd_tok_err(err, errlen, "%s: out of memory", path);
        goto done;
    }

    n = strlen(file);
    if (n >= 6 && strcmp(file + n - 6, ".model") == 0) {
        rc = lmd_tok_spm_load(t, file, err, errlen);
    } else {
        rc = lmd_tok_json_load(t, file, err, errlen);
    }
    if (rc == LMD_OK && lmd_tok_is_file(config)) {
        rc = lmd_tok_config_load(t, config, err, errlen);
    }
    if (rc == LMD_OK) {
        rc = lmd_tok_finish(t, err, errlen);
    }

done:
    free(file);
    free(config);
    free(dir);
    if (rc != LMD_OK) {
        lmd_tokenizer_free(t);
        return NULL;
    }
    return t;
}


void
lmd_tokenizer_free(struct lmd_tokenizer *t)
{
    size_t  i;

    if (t == NULL) {
        return;
    }
    lmd_bpe_free(&t->model);
    lmd_tok_added_free(&t->added);
    lmd_tok_norm_free(t->normalizer);
    for (i = 0; i < t->npt; i++) {
        lmd_tok_pattern_free(&t->pt[i].pat);
    }
    for (i = 0; i < t->npost; i++) {
        free(t->post[i].before);
        free(t->post[i].after);
    }
    free(t->post);
    for (i = 0; i < t->ndec; i++) {
        lmd_tok_pattern_free(&t->dec[i].pat);
        free(t->dec[i].str);
    }
    free(t->dec);
    free(t->dec_piece);
    free(t->dec_flags);
    lmd_tok_buf_free(&t->dec_pool);
    free(t->dec_bytes);
    lmd_tok_buf_free(&t->dec_bytes_pool);
    free(t->bos_token);
    free(t->eos_token);
    free(t->path);
    free(t);
}


/* ------------------------------------------------------------ encoding */

void
lmd_tok_enc_free(struct lmd_tok_enc *e)
{
    size_t  i;

    lmd_tok_buf_free(&e->in);
    lmd_tok_buf_free(&e->norm[0]);
    lmd_tok_buf_free(&e->norm[1]);
    for (i = 0; i < LMD_TOK_PT_MAX; i++) {
        lmd_tok_buf_free(&e->pt[i][0]);
        lmd_tok_buf_free(&e->pt[i][1]);
    }
    lmd_tok_rx_free(&e->rx);
    free(e->sym);
    free(e->heap);
    free(e->pc);
    lmd_tok_buf_free(&e->rev);
}


/* A piece of a normalized segment: an added token or text for the
 * pre-tokenizer.  data->first says whether the segment starts the
 * input. */
struct lmd_enc_seg {
    struct lmd_tok_enc     *e;
    int                     first;
};


static int
lmd_enc_push(struct lmd_tok_enc *e, int32_t id)
{
    if (lmd_tokens_push(e->out, id) != LMD_OK) {
        lmd_tok_err(e->err, e->errlen, "out of memory");
        return LMD_ERROR;
    }
    return LMD_OK;
}


static int
lmd_enc_normed_seg(void *data, const char *s, const struct lmd_tok_seg *seg)
{
    struct lmd_enc_seg  *d = data;

    if (seg->token >= 0) {
        return lmd_enc_push(d->e, d->e->t->added.tokens[seg->token].id);
    }
    return lmd_tok_pretokenize(d->e, 0, s + seg->start,
                               seg->end - seg->start,
                               d->first && seg->start == 0);
}


static int
lmd_enc_raw_seg(void *data, const char *s, const struct lmd_tok_seg *seg)
{
    struct lmd_tok_enc  *e = data;
    struct lmd_enc_seg   d;
    const char          *res;
    size_t               len;

    if (seg->token >= 0) {
        return lmd_enc_push(e, e->t->added.tokens[seg->token].id);
    }
    if (lmd_tok_normalize(e, e->t->normalizer, s + seg->start,
                          seg->end - seg->start, &res, &len) != LMD_OK)
    {
        return LMD_ERROR;
    }
    d.e = e;
    d.first = seg->start == 0;
    return lmd_tok_added_split(&e->t->added, 1, res, len,
                               lmd_enc_normed_seg, &d);
}


int
lmd_tokenizer_encode(const struct lmd_tokenizer *t, const char *text,
    size_t len, int add_special, struct lmd_tokens *out, char *err,
    size_t errlen)
{
    struct lmd_tok_enc  e;
    size_t              from = out->n;
    int                 rc;

    memset(&e, 0, sizeof(e));
    e.t = t;
    e.out = out;
    e.err = err;
    e.errlen = errlen;
    e.text_len = len;
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    lmd_tok_rx_init(&e.rx, t->ncap);

    if (lmd_tok_utf8_valid(text, len) != len) {
        if (lmd_tok_utf8_lossy(&e.in, text, len) != LMD_OK) {
            lmd_tok_err(err, errlen, "out of memory");
            lmd_tok_enc_free(&e);
            return LMD_ERROR;
        }
        text = e.in.p;
        len = e.in.len;
    }
    rc = lmd_tok_added_split(&t->added, 0, text, len, lmd_enc_raw_seg, &e);
    if (rc == LMD_OK && add_special) {
        if (t->spm) {
            if (t->add_bos && t->bos_id >= 0) {
                rc = lmd_tokens_push(out, 0);
                if (rc == LMD_OK) {
                    memmove(out->ids + from + 1, out->ids + from,
                            (out->n - from - 1) * sizeof(int32_t));
                    out->ids[from] = t->bos_id;
                }
            }
            if (rc == LMD_OK && t->add_eos && t->eos_id >= 0) {
                rc = lmd_tokens_push(out, t->eos_id);
            }
        } else {
            rc = lmd_tok_post_apply(t, out, from);
        }
        if (rc != LMD_OK) {
            lmd_tok_err(err, errlen, "out of memory");
        }
    }
    lmd_tok_enc_free(&e);
    if (rc != LMD_OK) {
        out->n = from;
        if (err != NULL && errlen > 0 && err[0] == '\0') {
            lmd_tok_err(err, errlen, "encoding failed");
        }
    }
    return rc;
}


/* ------------------------------------------------------------ decoding */

int
lmd_tokenizer_decode(const struct lmd_tokenizer *t, const int32_t *ids,
    size_t n, int skip_special, char **text, size_t *len)
{
    struct lmd_tok_buf  out = { NULL, 0, 0 };

    if (lmd_tok_decode_range(t, ids, n, skip_special, 0, &out) != LMD_OK
        || lmd_tok_buf_nul(&out) != LMD_OK)
    {
        lmd_tok_buf_free(&out);
        return LMD_ERROR;
    }
    *text = out.p;
    *len = out.len;
    return LMD_OK;
}


/* ------------------------------------------------------------- lookups */

size_t
lmd_tokenizer_vocab_size(const struct lmd_tokenizer *t)
{
    return t->nids;
}


const char *
lmd_tokenizer_piece_bytes(const struct lmd_tokenizer *t, int32_t id,
    size_t *len)
{
    const struct lmd_tok_added_token  *tok = lmd_tok_added_by_id(t, id);

    if (tok != NULL) {
        *len = tok->len;
        return tok->content;
    }
    if (id < 0 || (size_t) id >= t->model.nids
        || t->model.pieces[id].len == UINT32_MAX)
    {
        *len = 0;
        return NULL;
    }
    *len = t->model.pieces[id].len;
    return t->model.pool.p + t->model.pieces[id].off;
}


const char *
lmd_tokenizer_piece(const struct lmd_tokenizer *t, int32_t id)
{
    size_t  len;

    return lmd_tokenizer_piece_bytes(t, id, &len);
}


int32_t
lmd_tokenizer_find(const struct lmd_tokenizer *t, const char *piece,
    size_t len)
{
    int32_t  idx = lmd_tok_strmap_get(&t->added.map, piece, len);

    if (idx >= 0) {
        return t->added.tokens[idx].id;
    }
    return lmd_tok_strmap_get(&t->model.map, piece, len);
}


int
lmd_tokenizer_is_special(const struct lmd_tokenizer *t, int32_t id)
{
    const struct lmd_tok_added_token  *tok = lmd_tok_added_by_id(t, id);

    return tok != NULL && tok->special;
}


int32_t
lmd_tokenizer_bos_id(const struct lmd_tokenizer *t)
{
    return t->bos_id;
}


int32_t
lmd_tokenizer_eos_id(const struct lmd_tokenizer *t)
{
    return t->eos_id;
}


const char *
lmd_tokenizer_bos_token(const struct lmd_tokenizer *t)
{
    return t->bos_token;
}


const char *
lmd_tokenizer_eos_token(const struct lmd_tokenizer *t)
{
    return t->eos_token;
}
