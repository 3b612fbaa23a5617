/*
 * lmd_tokenizer.h -- text to token ids and back, exactly as the model's
 * Hugging Face tokenizer does it.
 *
 * A tokenizer is loaded from a model folder (tokenizer.json, or a
 * sentencepiece tokenizer.model when there is no tokenizer.json, plus
 * tokenizer_config.json for the special tokens) or from one of those files.
 * Encoding runs the pipeline tokenizer.json describes: added tokens are
 * split out first, then normalizer, pre-tokenizer, BPE model and, with
 * special tokens, the post-processor (BOS insertion).  Decoding runs the
 * decoder pipeline.  The result is byte-identical to the `tokenizers`
 * library (tests/unit/test_tokenizer_cases.c checks every fixture).
 *
 * Threads: a loaded tokenizer is immutable; encode, decode and the lookups
 * may run on several threads at once.  An lmd_detok belongs to one thread.
 */

#ifndef LMD_TOKENIZER_H
#define LMD_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "lmd_common.h"

struct lmd_tokenizer;

/* A growable array of token ids (malloc'd; free with lmd_tokens_free). */
struct lmd_tokens {
    int32_t    *ids;
    size_t      n;
    size_t      cap;
};

void lmd_tokens_free(struct lmd_tokens *tokens);
int  lmd_tokens_push(struct lmd_tokens *tokens, int32_t id);

/* Loads from a folder or a file.  For a folder: tokenizer.json if present,
 * else tokenizer.model; tokenizer_config.json when present (added/special
 * tokens, bos/eos, add_bos_token).  Returns NULL with err naming the file
 * and what is wrong ("tokenizer.json: model.merges[12]: expected ...").
 * Allowed on any thread. */
struct lmd_tokenizer *lmd_tokenizer_load(const char *path, char *err,
    size_t errlen);
void lmd_tokenizer_free(struct lmd_tokenizer *t);

/* Appends the ids of text (UTF-8, len bytes, may hold NUL) to out.  With
 * add_special the post-processor runs (BOS for Llama-style models).
 * Invalid UTF-8 is encoded as U+FFFD, as the reference does.  LMD_OK or
 * LMD_ERROR (out of memory) with err set. */
int lmd_tokenizer_encode(const struct lmd_tokenizer *t, const char *text,
    size_t len, int add_special, struct lmd_tokens *out, char *err,
    size_t errlen);

/* Decodes ids into a malloc'd NUL-terminated string (*len bytes without
 * the NUL).  skip_special drops special tokens.  Unknown ids are an
 * error.  LMD_OK or LMD_ERROR. */
int lmd_tokenizer_decode(const struct lmd_tokenizer *t, const int32_t *ids,
    size_t n, int skip_special, char **text, size_t *len);

/* Lookups.  vocab_size counts every id (added tokens included). */
size_t      lmd_tokenizer_vocab_size(const struct lmd_tokenizer *t);
/* The token's string as stored in the vocabulary ("Ġworld", "▁the",
 * "<0x0A>"), or NULL for an id out of range. */
const char *lmd_tokenizer_piece(const struct lmd_tokenizer *t, int32_t id);
/* The same with its length: a piece may hold NUL (InternLM2's id 354). */
const char *lmd_tokenizer_piece_bytes(const struct lmd_tokenizer *t,
    int32_t id, size_t *len);
/* The id of a token string (vocabulary or added token), or -1. */
int32_t     lmd_tokenizer_find(const struct lmd_tokenizer *t,
    const char *piece, size_t len);
int         lmd_tokenizer_is_special(const struct lmd_tokenizer *t,
    int32_t id);
/* bos/eos ids from tokenizer_config.json (or the model), -1 if none;
 * their strings (for chat templates) or NULL. */
int32_t     lmd_tokenizer_bos_id(const struct lmd_tokenizer *t);
int32_t     lmd_tokenizer_eos_id(const struct lmd_tokenizer *t);
const char *lmd_tokenizer_bos_token(const struct lmd_tokenizer *t);
const char *lmd_tokenizer_eos_token(const struct lmd_tokenizer *t);

/* ------------------------------------------------- incremental decoding */

/* Streaming: feed ids one at a time, get the text they complete.  Never
 * returns a broken UTF-8 sequence, and the concatenation of every piece
 * returned (pushes then finish) equals lmd_tokenizer_decode() of all the
 * ids at once, byte for byte (leading-space rules and byte-fallback
 * pieces included). */
struct lmd_detok;

struct lmd_detok *lmd_detok_new(const struct lmd_tokenizer *t,
    int skip_special);
/* *text points at the new text (valid until the next call), *len may be 0.
 * LMD_OK or LMD_ERROR (unknown id, out of memory). */
int  lmd_detok_push(struct lmd_detok *d, int32_t id, const char **text,
    size_t *len);
/* The rest: text held back waiting for more bytes (an incomplete UTF-8
 * sequence at the very end becomes U+FFFD, as decode does). */
int  lmd_detok_finish(struct lmd_detok *d, const char **text, size_t *len);
void lmd_detok_free(struct lmd_detok *d);

#endif /* LMD_TOKENIZER_H */
