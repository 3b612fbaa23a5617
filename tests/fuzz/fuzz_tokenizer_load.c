/*
 * fuzz_tokenizer_load.c -- bytes as a tokenizer.json (and, after the
 * first NUL byte, a tokenizer_config.json beside it), loaded as a model
 * folder.  A tokenizer that loads is then used a little: encode, decode
 * and stream-decode a few texts, checking the header's promises (ids in
 * the vocabulary, decoded text valid UTF-8, the streamed text equal to
 * the whole decode).
 *
 * lmd_tokenizer_load takes a path, so each input goes through a file in a
 * private temporary folder.
 */

#include "lmd_fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "lmd_tokenizer.h"


static void
use(const struct lmd_tokenizer *t, const char *text, size_t len,
    int special)
{
    struct lmd_tokens   ids = { NULL, 0, 0 };
    struct lmd_detok   *d;
    const char         *chunk;
    char               *whole, *streamed, err[LMD_ERR_LEN];
    size_t              i, n, wlen, slen = 0, vocab;

    vocab = lmd_tokenizer_vocab_size(t);
    if (lmd_tokenizer_encode(t, text, len, special, &ids, err, sizeof(err))
        != LMD_OK)
    {
        lmd_tokens_free(&ids);
        return;         /* out of memory, or a vocabulary that cannot */
    }
    for (i = 0; i < ids.n; i++) {
        lmd_fuzz_check(ids.ids[i] >= 0 && (size_t) ids.ids[i] < vocab,
                       "encode gave an id outside the vocabulary");
        lmd_fuzz_check(lmd_tokenizer_piece(t, ids.ids[i]) != NULL,
                       "an encoded id without a piece");
    }

    if (lmd_tokenizer_decode(t, ids.ids, ids.n, 0, &whole, &wlen)
        != LMD_OK)
    {
        lmd_tokens_free(&ids);
        return;
    }
    lmd_fuzz_check(lmd_fuzz_utf8_valid((const uint8_t *) whole, wlen),
                   "decode gave invalid UTF-8");

    d = lmd_detok_new(t, 0);
    streamed = malloc(wlen + 1);
    lmd_fuzz_check(d != NULL && streamed != NULL, "out of memory");
    for (i = 0; i <= ids.n; i++) {
        if (i < ids.n) {
            lmd_fuzz_check(lmd_detok_push(d, ids.ids[i], &chunk, &n)
                           == LMD_OK, "lmd_detok_push failed");
        } else {
            lmd_fuzz_check(lmd_detok_finish(d, &chunk, &n) == LMD_OK,
                           "lmd_detok_finish failed");
        }
        lmd_fuzz_check(slen + n <= wlen, "streamed more than decode");
        memcpy(streamed + slen, chunk, n);
        slen += n;
    }
    lmd_fuzz_check(slen == wlen && memcmp(streamed, whole, wlen) == 0,
                   "streamed text differs from decode");

    lmd_detok_free(d);
    free(streamed);
    free(whole);
    lmd_tokens_free(&ids);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char     *texts[] = {
        "Hello world", " leading  spaces\tand\ttabs\n", "<s>[INST] hi",
        "<|endoftext|> <|end|> 12345 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80",
        "caf\xc3\xa9 e\xcc\x81 \xff\xfe bad utf-8", "",
    };
    struct lmd_tokenizer  *t;
    const uint8_t         *nul;
    char                   err[LMD_ERR_LEN];
    size_t                 i, json_len;

    nul = memchr(data, '\0', size);
    json_len = nul != NULL ? (size_t) (nul - data) : size;
    lmd_fuzz_write("tokenizer.json", data, json_len);
    if (nul != NULL) {
        lmd_fuzz_write("tokenizer_config.json", nul + 1,
                       size - json_len - 1);
    } else {
        lmd_fuzz_remove("tokenizer_config.json");
    }

    err[0] = '\0';
    t = lmd_tokenizer_load(lmd_fuzz_tmpdir(), err, sizeof(err));
    if (t == NULL) {
        lmd_fuzz_check(err[0] != '\0', "a failed load without a message");
        return 0;
    }
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        use(t, texts[i], strlen(texts[i]), (int) (i & 1));
    }
    lmd_tokenizer_free(t);
    return 0;
}
