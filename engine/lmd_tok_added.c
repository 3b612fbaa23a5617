/*
 * lmd_tok_added.c -- the added vocabulary: special and user tokens that
 * are cut out of the text before the normalizer and the model see it.
 *
 * This follows tokenizers' AddedVocabulary (0.23):
 *
 *   - a token's id is its content's id in the vocabulary when it has one,
 *     else the next free id after the model's vocabulary;
 *   - tokens with normalized: false are matched in the raw text, the
 *     others in each normalized segment, against their own normalized
 *     content;
 *   - matching is leftmost-longest and non-overlapping; a single_word
 *     match next to a word character (\w) is dropped, lstrip takes the
 *     whitespace before the match into it (never past the previous
 *     match), rstrip the whitespace after it;
 *   - decoding shows a normalized token's normalized content.
 *
 * Design: one byte trie per kind, with a bitmap of first bytes so that
 * most positions of the text cost one bit test.  Real vocabularies have at
 * most a few thousand added tokens; the trie keeps children as sibling
 * lists, which is small and fast enough at that size.
 */

#include "lmd_tok_internal.h"

#include <stdlib.h>


/* ------------------------------------------------------------------ trie */

static int32_t
lmd_trie_node(struct lmd_tok_trie *t, uint8_t byte)
{
    struct lmd_tok_trie_node  *p;

    if (t->n == t->cap) {
        size_t  cap = t->cap ? t->cap * 2 : 64;

        p = realloc(t->nodes, cap * sizeof(*p));
        if (p == NULL) {
            return -1;
        }
        t->nodes = p;
        t->cap = cap;
    }
    p = &t->nodes[t->n];
    p->child = -1;
    p->sibling = -1;
    p->value = -1;
    p->byte = byte;
    return (int32_t) t->n++;
}


int
lmd_tok_trie_add(struct lmd_tok_trie *t, const char *s, size_t len,
    int32_t value)
{
    int32_t  node, c, prev;
    size_t   i;

    if (len == 0) {
        return LMD_OK;
    }
    if (t->n == 0 && lmd_trie_node(t, 0) < 0) {
        return LMD_ERROR;
    }
    node = 0;
    for (i = 0; i < len; i++) {
        uint8_t  b = (uint8_t) s[i];

        prev = -1;
        for (c = t->nodes[node].child; c >= 0; c = t->nodes[c].sibling) {
            if (t->nodes[c].byte == b) {
                break;
            }
            prev = c;
        }
        if (c < 0) {
            c = lmd_trie_node(t, b);
            if (c < 0) {
                return LMD_ERROR;
            }
            if (prev < 0) {
                t->nodes[node].child = c;
            } else {
                t->nodes[prev].sibling = c;
            }
        }
        node = c;
    }
    t->nodes[node].value = value;
    t->first[(uint8_t) s[0] >> 3] |= (uint8_t) (1u << ((uint8_t) s[0] & 7));
    return LMD_OK;
}


int32_t
lmd_tok_trie_longest(const struct lmd_tok_trie *t, const char *s, size_t n,
    size_t *mlen)
{
    const struct lmd_tok_trie_node  *nodes = t->nodes;
    int32_t                          node = 0, c, best = -1;
    size_t                           i;

    if (t->n == 0 || n == 0
        || !(t->first[(uint8_t) s[0] >> 3] & (1u << ((uint8_t) s[0] & 7))))
    {
        return -1;
    }
    for (i = 0; i < n; i++) {
        uint8_t  b = (uint8_t) s[i];

        for (c = nodes[node].child; c >= 0 && nodes[c].byte != b;
             c = nodes[c].sibling)
        {
            /* siblings */
        }
        if (c < 0) {
            break;
        }
        node = c;
        if (nodes[node].value >= 0) {
            best = nodes[node].value;
            *mlen = i + 1;
        }
    }
    return best;
}


void
lmd_tok_trie_free(struct lmd_tok_trie *t)
{
    free(t->nodes);
    memset(t, 0, sizeof(*t));
}


/* ------------------------------------------------------------ the tokens */

static int
lmd_added_set_id(struct lmd_tok_added *a, int32_t id, int32_t index)
{
    size_t    i, n;
    int32_t  *p;

    if ((size_t) id >= a->by_id_cap) {
        n = (size_t) id + 1;
        if (n < a->by_id_cap * 2) {
            n = a->by_id_cap * 2;
        }
        p = realloc(a->by_id, n * sizeof(*p));
        if (p == NULL) {
            return LMD_ERROR;
        }
        for (i = a->by_id_cap; i < n; i++) {
            p[i] = -1;
        }
        a->by_id = p;
        a->by_id_cap = n;
    }
    if ((size_t) id >= a->nby_id) {
        a->nby_id = (size_t) id + 1;
    }
    a->by_id[id] = index;
    return LMD_OK;
}


const struct lmd_tok_added_token *
lmd_tok_added_by_id(const struct lmd_tokenizer *t, int32_t id)
{
    const struct lmd_tok_added  *a = &t->added;

    if (id < 0 || (size_t) id >= a->nby_id || a->by_id[id] < 0) {
        return NULL;
    }
    return &a->tokens[a->by_id[id]];
}


void
lmd_tok_added_begin(struct lmd_tokenizer *t)
{
    struct lmd_tok_added  *a = &t->added;
    int64_t                max = -1;
    size_t                 i;

    for (i = 0; i < a->nby_id; i++) {
        if (a->by_id[i] >= 0) {
            max = (int64_t) i;
        }
    }
    if (max < 0) {
        a->next_id = (int32_t) t->model.vocab_size;
    } else if ((size_t) max >= t->model.vocab_size
               || t->model.vocab_size == 0)
    {
        a->next_id = (int32_t) max + 1;
    } else {
        a->next_id = (int32_t) t->model.vocab_size;
    }
}


int
lmd_tok_added_add(struct lmd_tokenizer *t, const char *content, size_t len,
    int special, int lstrip, int rstrip, int single_word, int normalized,
    int32_t force_id, char *err, size_t errlen)
{
    struct lmd_tok_added        *a = &t->added;
    struct lmd_tok_added_token  *tok;
    int32_t                      index, id;

    if (len == 0) {
        return LMD_OK;
    }
    index = lmd_tok_strmap_get(&a->map, content, len);
    if (index >= 0 && force_id < 0) {
        tok = &a->tokens[index];
        if (lmd_tok_added_by_id(t, tok->id) == tok
            && tok->special == !!special && tok->lstrip == !!lstrip
            && tok->rstrip == !!rstrip && tok->single_word == !!single_word
            && tok->normalized == !!normalized)
        {
            return LMD_OK;      /* the same token again */
        }
    }
    if (force_id >= 0) {
        id = force_id;
    } else if (index >= 0) {
        id = a->tokens[index].id;
    } else {
        id = lmd_tok_strmap_get(&t->model.map, content, len);
        if (id < 0) {
            id = a->next_id++;
        }
    }
    if (id < 0 || id >= LMD_TOK_MAX_ID) {
        lmd_tok_err(err, errlen, "added token ids past %d", LMD_TOK_MAX_ID);
        return LMD_ERROR;
    }
    if (a->n == a->cap) {
        size_t                       cap = a->cap ? a->cap * 2 : 16;
        struct lmd_tok_added_token  *p;

        p = realloc(a->tokens, cap * sizeof(*p));
        if (p == NULL) {
            goto nomem;
        }
        a->tokens = p;
        a->cap = cap;
    }
    tok = &a->tokens[a->n];
    memset(tok, 0, sizeof(*tok));
    tok->content = malloc(len + 1);
    if (tok->content == NULL) {
        goto nomem;
    }
    memcpy(tok->content, content, len);
    tok->content[len] = '\0';
    tok->len = len;
    tok->id = id;
    tok->special = (uint8_t) !!special;
    tok->lstrip = (uint8_t) !!lstrip;
    tok->rstrip = (uint8_t) !!rstrip;
    tok->single_word = (uint8_t) !!single_word;
    tok->normalized = (uint8_t) !!normalized;
    a->n++;
    /* the map's key is the token's own copy, which never moves */
    if (lmd_tok_strmap_put(&a->map, tok->content, len, (int32_t) a->n - 1)
        != LMD_OK
        || lmd_added_set_id(a, id, (int32_t) a->n - 1) != LMD_OK)
    {
        goto nomem;
    }
    return LMD_OK;

nomem:
    lmd_tok_err(err, errlen, "out of memory");
    return LMD_ERROR;
}


/* After the normalizer is known: normalized contents and the tries.
 * Only the token an id ended up with is matched (refresh_added_tokens
 * walks the id -> token map). */
int
lmd_tok_added_finish(struct lmd_tokenizer *t, char *err, size_t errlen)
{
    struct lmd_tok_added        *a = &t->added;
    struct lmd_tok_added_token  *tok;
    struct lmd_tok_enc           e;
    const char                  *res;
    size_t                       i, rlen;
    int                          rc = LMD_OK;

    memset(&e, 0, sizeof(e));
    e.t = t;
    e.err = err;
    e.errlen = errlen;
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    lmd_tok_rx_init(&e.rx, t->ncap);
    for (i = 0; i < a->nby_id && rc == LMD_OK; i++) {
        if (a->by_id[i] < 0) {
            continue;
        }
        tok = &a->tokens[a->by_id[i]];
        if (!tok->normalized) {
            rc = lmd_tok_trie_add(&a->raw, tok->content, tok->len,
                                  a->by_id[i]);
            continue;
        }
        res = tok->content;
        rlen = tok->len;
        if (t->normalizer != NULL) {
            rc = lmd_tok_normalize(&e, t->normalizer, tok->content,
                                   tok->len, &res, &rlen);
            if (rc != LMD_OK) {
                break;
            }
            if (rlen != tok->len || memcmp(res, tok->content, rlen) != 0) {
                tok->norm = malloc(rlen + 1);
                if (tok->norm == NULL) {
                    rc = LMD_ERROR;
                    break;
                }
                memcpy(tok->norm, res, rlen);
                tok->norm[rlen] = '\0';
                tok->norm_len = rlen;
                res = tok->norm;
            }
        }
        rc = lmd_tok_trie_add(&a->normed, res, rlen, a->by_id[i]);
    }
    lmd_tok_enc_free(&e);
    if (rc != LMD_OK && err != NULL && err[0] == '\0') {
        lmd_tok_err(err, errlen, "out of memory");
    }
    return rc;
}


void
lmd_tok_added_free(struct lmd_tok_added *a)
{
    size_t  i;

    for (i = 0; i < a->n; i++) {
        free(a->tokens[i].content);
        free(a->tokens[i].norm);
    }
    free(a->tokens);
    free(a->by_id);
    lmd_tok_strmap_free(&a->map);
    lmd_tok_trie_free(&a->raw);
    lmd_tok_trie_free(&a->normed);
    memset(a, 0, sizeof(*a));
}


/* ------------------------------------------------------------- matching */

/* The character before s[pos] (valid UTF-8). */
static uint32_t
lmd_added_prev_char(const char *s, size_t pos)
{
    size_t  k = pos - 1;

    while (k > 0 && ((uint8_t) s[k] & 0xC0) == 0x80) {
        k--;
    }
    return lmd_tok_utf8_next(s, &k);
}


int
lmd_tok_added_split(const struct lmd_tok_added *a, int normalized,
    const char *s, size_t n, lmd_tok_seg_pt fn, void *data)
{
    const struct lmd_tok_trie         *trie = normalized ? &a->normed
                                                         : &a->raw;
    const struct lmd_tok_added_token  *tok;
    struct lmd_tok_seg                 seg;
    size_t                             pos = 0, done = 0, start, stop, mlen;
    size_t                             k;
    int32_t                            idx;
    uint32_t                           cp;

    while (trie->n > 0 && pos < n) {
        uint8_t  b = (uint8_t) s[pos];

        if (!(trie->first[b >> 3] & (1u << (b & 7)))) {
            pos++;
            continue;
        }
        idx = lmd_tok_trie_longest(trie, s + pos, n - pos, &mlen);
        if (idx < 0) {
            pos++;
            continue;
        }
        start = pos;
        stop = pos + mlen;
        pos = stop;             /* the search goes on after the match */
        tok = &a->tokens[idx];

        if (tok->single_word) {
            int  start_space = start == 0
                || !lmd_tok_is_word(lmd_added_prev_char(s, start));
            int  stop_space = stop == n;

            if (!stop_space) {
                k = stop;
                stop_space = !lmd_tok_is_word(lmd_tok_utf8_next(s, &k));
            }
            if (!start_space || !stop_space) {
                continue;
            }
        }
        if (tok->lstrip) {
            size_t  ns = start;

            while (ns > 0) {
                cp = lmd_added_prev_char(s, ns);
                if (!lmd_tok_is_space(cp)) {
                    break;
                }
                ns -= cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            }
            start = ns > done ? ns : done;
        }
        if (tok->rstrip) {
            while (stop < n) {
                k = stop;
                cp = lmd_tok_utf8_next(s, &k);
                if (!lmd_tok_is_space(cp)) {
                    break;
                }
                stop = k;
            }
        }
        if (done < start) {
            seg.start = done;
            seg.end = start;
            seg.token = -1;
            if (fn(data, s, &seg) != LMD_OK) {
                return LMD_ERROR;
            }
        }
        seg.start = start;
        seg.end = stop;
        seg.token = idx;
        if (fn(data, s, &seg) != LMD_OK) {
            return LMD_ERROR;
        }
        done = stop;
    }
    if (done < n) {
        seg.start = done;
        seg.end = n;
        seg.token = -1;
        return fn(data, s, &seg);
    }
    return LMD_OK;
}
