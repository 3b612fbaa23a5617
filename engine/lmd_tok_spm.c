/*
 * lmd_tok_spm.c -- a tokenizer from a sentencepiece tokenizer.model, for
 * model folders that ship no tokenizer.json.
 *
 * Encoding is sentencepiece's own (SentencePieceProcessor::Encode with a
 * BPE model): the identity normalization with the model's
 * add_dummy_prefix, escape_whitespaces and remove_extra_whitespaces,
 * user-defined pieces kept whole, score-ranked merges (lmd_tok_bpe.c,
 * SCORES), byte fallback or unk for the rest.  Control pieces (<s>, </s>)
 * are not matched in the text, as sentencepiece does not match them;
 * tokens named in tokenizer_config.json's added_tokens_decoder are (that
 * file is read afterwards by lmd_tokenizer_load).  With add_special, BOS
 * goes first unless add_bos_token is false.
 *
 * Decoding is what transformers' converter builds for such a model:
 * U+2581 -> ' ', byte pieces to bytes, and one leading space removed when
 * the model adds a dummy prefix; control and unknown pieces count as
 * special.
 *
 * Only BPE models with the identity normalization are supported; a
 * unigram model, or a normalization rule whose character map this loader
 * does not read (nmt_nfkc and others), is an error naming the file.
 */

#include "lmd_tok_internal.h"

#include <stdlib.h>

#include "lmd_spm.h"


static int
lmd_spm_fail(const char *file, char *err, size_t errlen, const char *msg)
{
    lmd_tok_err(err, errlen, "%s: %s", file, msg);
    return LMD_ERROR;
}


static int
lmd_spm_decoder(struct lmd_tokenizer *t, int strip)
{
    size_t  n = strip ? 4 : 3;

    t->dec = calloc(n, sizeof(*t->dec));
    if (t->dec == NULL) {
        return LMD_ERROR;
    }
    t->ndec = n;
    t->has_decoder = 1;
    t->dec[0].type = LMD_DEC_REPLACE;
    t->dec[0].str = malloc(2);
    if (t->dec[0].str == NULL
        || lmd_tok_pattern_literal(&t->dec[0].pat, "\xE2\x96\x81", 3)
           != LMD_OK)
    {
        return LMD_ERROR;
    }
    memcpy(t->dec[0].str, " ", 2);
    t->dec[0].str_len = 1;
    t->dec[1].type = LMD_DEC_BYTE_FALLBACK;
    t->dec[2].type = LMD_DEC_FUSE;
    if (strip) {
        t->dec[3].type = LMD_DEC_STRIP;
        t->dec[3].cp = ' ';
        t->dec[3].start = 1;
    }
    return LMD_OK;
}


static char *
lmd_spm_dup(const struct lmd_spm_model *sm, int32_t id)
{
    char  *s;

    if (id < 0 || (size_t) id >= sm->npieces) {
        return NULL;
    }
    s = malloc(sm->pieces[id].len + 1);
    if (s != NULL) {
        memcpy(s, sm->pieces[id].piece, sm->pieces[id].len);
        s[sm->pieces[id].len] = '\0';
    }
    return s;
}


int
lmd_tok_spm_load(struct lmd_tokenizer *t, const char *file, char *err,
    size_t errlen)
{
    struct lmd_spm_model   sm;
    struct lmd_bpe        *m = &t->model;
    struct lmd_tok_norm   *n;
    size_t                 i, np;
    int                    rc = LMD_ERROR;

    if (lmd_spm_load(file, &sm, err, errlen) != LMD_OK) {
        return LMD_ERROR;
    }
    if (sm.model_type != LMD_SPM_BPE) {
        lmd_spm_fail(file, err, errlen, sm.model_type == LMD_SPM_UNIGRAM
                     ? "a unigram sentencepiece model is not supported "
                       "(lmd implements BPE)"
                     : "only sentencepiece BPE models are supported");
        goto done;
    }
    if (sm.normalizer_name != NULL && sm.normalizer_name[0] != '\0'
        && strcmp(sm.normalizer_name, "identity") != 0)
    {
        lmd_tok_err(err, errlen, "%s: normalizer_spec.name \"%.40s\" is not "
                    "supported (only identity)", file, sm.normalizer_name);
        goto done;
    }
    if (sm.unk_id < 0 || (size_t) sm.unk_id >= sm.npieces) {
        lmd_spm_fail(file, err, errlen, "the model has no unk piece");
        goto done;
    }

    np = sm.npieces;
    if (np >= LMD_TOK_MAX_ID) {
        lmd_spm_fail(file, err, errlen, "more pieces than lmd takes (2^24)");
        goto done;
    }
    m->kind = LMD_BPE_SCORES;
    m->scores = malloc(np * sizeof(float));
    m->mergeable = calloc(np, 1);
    m->unused = calloc(np, 1);
    m->control = calloc(np, 1);
    m->frozen = calloc(1, sizeof(*m->frozen));
    if (m->scores == NULL || m->mergeable == NULL || m->unused == NULL
        || m->control == NULL || m->frozen == NULL)
    {
        lmd_spm_fail(file, err, errlen, "out of memory");
        goto done;
    }
    for (i = 0; i < np; i++) {
        const struct lmd_spm_piece  *p = &sm.pieces[i];

        if (lmd_tok_utf8_valid(p->piece, p->len) != p->len) {
            lmd_tok_err(err, errlen, "%s: pieces[%zu] is not valid UTF-8",
                        file, i);
            goto done;
        }
        if (lmd_bpe_set_piece(m, (int32_t) i, p->piece, p->len) != LMD_OK) {
            lmd_spm_fail(file, err, errlen, "out of memory");
            goto done;
        }
        m->scores[i] = p->score;
        m->mergeable[i] = p->type == LMD_SPM_NORMAL
                          || p->type == LMD_SPM_USER_DEFINED
                          || p->type == LMD_SPM_UNUSED;
        m->unused[i] = p->type == LMD_SPM_UNUSED;
        m->control[i] = p->type == LMD_SPM_CONTROL
                        || p->type == LMD_SPM_UNKNOWN;
        if (p->type == LMD_SPM_USER_DEFINED
            && lmd_tok_trie_add(m->frozen, p->piece, p->len, (int32_t) i)
               != LMD_OK)
        {
            lmd_spm_fail(file, err, errlen, "out of memory");
            goto done;
        }
    }
    if (lmd_bpe_finish(m, err, errlen) != LMD_OK) {
        goto done;
    }
    m->unk_id = sm.unk_id;
    m->byte_fallback = sm.byte_fallback;
    if (m->byte_fallback) {
        for (i = 0; i < 256; i++) {
            if (m->byte_fb[i] < 0) {
                lmd_spm_fail(file, err, errlen, "byte_fallback is set but "
                             "a <0xNN> piece is missing");
                goto done;
            }
        }
    }

    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        lmd_spm_fail(file, err, errlen, "out of memory");
        goto done;
    }
    n->type = LMD_NORM_SPM;
    n->left = sm.add_dummy_prefix;
    n->right = sm.remove_extra_whitespaces;
    n->escape = sm.escape_whitespaces;
    t->normalizer = n;
    if (lmd_spm_decoder(t, sm.add_dummy_prefix) != LMD_OK) {
        lmd_spm_fail(file, err, errlen, "out of memory");
        goto done;
    }

    t->spm = 1;
    t->bos_id = sm.bos_id;
    t->eos_id = sm.eos_id;
    t->add_bos = sm.bos_id >= 0;
    t->add_eos = 0;
    t->bos_token = lmd_spm_dup(&sm, sm.bos_id);
    t->eos_token = lmd_spm_dup(&sm, sm.eos_id);
    lmd_tok_added_begin(t);
    rc = LMD_OK;

done:
    lmd_spm_free(&sm);
    return rc;
}
