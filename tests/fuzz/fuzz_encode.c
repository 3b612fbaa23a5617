/*
 * fuzz_encode.c -- arbitrary bytes encoded by real tokenizers, then
 * decoded: ids stay in the vocabulary, decoded text is valid UTF-8, the
 * streaming decoder's text equals the whole decode (with and without
 * special tokens), and for the byte-level tokenizers without a normalizer
 * (the built-in tiny one and gpt2) decode(encode(text)) is the text
 * itself when the text is valid UTF-8.
 *
 * The first input byte picks the tokenizer (its low bits, modulo how many
 * loaded) and whether special tokens are added (bit 7); the rest is the
 * text.  Loaded once, by LLVMFuzzerInitialize (outside the per-input
 * timeout): the built-in tiny tokenizer, then each fixture family present
 * (LMD_FUZZ_FAMILIES overrides the list, e.g. "gpt2").
 */

#include "lmd_fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmd_tokenizer.h"

#define MAX_TOKENIZERS  8

static struct lmd_tokenizer  *toks[MAX_TOKENIZERS];
static int                    round_trips[MAX_TOKENIZERS];
static size_t                 ntoks;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char  *fix, *families, *p, *e;
    char        *json, path[600], name[32], err[LMD_ERR_LEN];
    size_t       len;

    json = lmd_fuzz_tiny_tokenizer_json(&len);
    lmd_fuzz_write("tokenizer.json", json, len);
    free(json);
    toks[0] = lmd_tokenizer_load(lmd_fuzz_tmpdir(), err, sizeof(err));
    if (toks[0] == NULL) {
        fprintf(stderr, "fuzz_encode: the tiny tokenizer: %s\n", err);
        abort();
    }
    round_trips[0] = 1;
    ntoks = 1;

    fix = lmd_fuzz_fixtures();
    families = getenv("LMD_FUZZ_FAMILIES");
    if (families == NULL) {
        families = "gpt2 llama2 qwen2 internlm2 mistral llama3";
    }
    for (p = families; fix != NULL && *p && ntoks < MAX_TOKENIZERS; p = e) {
        while (*p == ' ') {
            p++;
        }
        for (e = p; *e && *e != ' '; e++) {
            /* one name */
        }
        if (e == p || (size_t) (e - p) >= sizeof(name)) {
            continue;
        }
        memcpy(name, p, (size_t) (e - p));
        name[e - p] = '\0';
        snprintf(path, sizeof(path), "%s/%s", fix, name);
        toks[ntoks] = lmd_tokenizer_load(path, err, sizeof(err));
        if (toks[ntoks] == NULL) {
            fprintf(stderr, "fuzz_encode: %s: %s\n", path, err);
            abort();
        }
        round_trips[ntoks] = strcmp(name, "gpt2") == 0;
        ntoks++;
    }
    (void) argc;
    (void) argv;
    return 0;
}


static void
check_decode(const struct lmd_tokenizer *t, const struct lmd_tokens *ids,
    int skip, const uint8_t *text, size_t len, int round_trip)
{
    struct lmd_detok  *d;
    const char        *chunk;
    char              *whole;
    size_t             i, n, wlen, slen = 0;

    lmd_fuzz_check(lmd_tokenizer_decode(t, ids->ids, ids->n, skip, &whole,
                                        &wlen) == LMD_OK,
                   "decode of encoded ids failed");
    lmd_fuzz_check(lmd_fuzz_utf8_valid((const uint8_t *) whole, wlen),
                   "decode gave invalid UTF-8");
    if (round_trip) {
        lmd_fuzz_check(wlen == len && memcmp(whole, text, len) == 0,
                       "decode(encode(text)) is not the text");
    }

    d = lmd_detok_new(t, skip);
    lmd_fuzz_check(d != NULL, "lmd_detok_new failed");
    for (i = 0; i <= ids->n; i++) {
        if (i < ids->n) {
            lmd_fuzz_check(lmd_detok_push(d, ids->ids[i], &chunk, &n)
                           == LMD_OK, "lmd_detok_push failed");
        } else {
            lmd_fuzz_check(lmd_detok_finish(d, &chunk, &n) == LMD_OK,
                           "lmd_detok_finish failed");
        }
        lmd_fuzz_check(lmd_fuzz_utf8_valid((const uint8_t *) chunk, n),
                       "the streaming decoder split a UTF-8 sequence");
        lmd_fuzz_check(slen + n <= wlen
                       && memcmp(whole + slen, chunk, n) == 0,
                       "streamed text differs from decode");
        slen += n;
    }
    lmd_fuzz_check(slen == wlen, "streamed text shorter than decode");
    lmd_detok_free(d);
    free(whole);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct lmd_tokenizer  *t;
    struct lmd_tokens            ids = { NULL, 0, 0 };
    const uint8_t               *text;
    size_t                       i, len, vocab, which;
    int                          special, round_trip;
    char                         err[LMD_ERR_LEN];

    if (size == 0 || ntoks == 0) {
        return 0;
    }
    which = (data[0] & 0x7f) % ntoks;
    special = data[0] >> 7;
    text = data + 1;
    len = size - 1;
    t = toks[which];
    vocab = lmd_tokenizer_vocab_size(t);

    lmd_fuzz_check(lmd_tokenizer_encode(t, (const char *) text, len, special,
                                        &ids, err, sizeof(err)) == LMD_OK,
                   "encode failed");
    for (i = 0; i < ids.n; i++) {
        lmd_fuzz_check(ids.ids[i] >= 0 && (size_t) ids.ids[i] < vocab,
                       "an id outside the vocabulary");
    }
    round_trip = round_trips[which] && !special
                 && lmd_fuzz_utf8_valid(text, len);
    check_decode(t, &ids, 0, text, len, round_trip);
    check_decode(t, &ids, 1, text, len, 0);
    lmd_tokens_free(&ids);
    return 0;
}
