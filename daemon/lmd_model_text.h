/*
 * lmd_model_text.h -- what serving a model needs besides its engine: the
 * tokenizer, the chat template, the model's config (stop ids, sampling
 * defaults, context length), and per generated sequence a text stream
 * that detokenizes and cuts at stop strings.
 *
 * A model's text is loaded once at start-up (lmd_models.c) from its
 * folder and never changes; any thread may read it.  A text stream
 * belongs to one request on the loop thread.
 */

#ifndef LMD_MODEL_TEXT_H
#define LMD_MODEL_TEXT_H

#include "lmd_core.h"

#include <cjson/cJSON.h>

#include "lmd_chat_template.h"
#include "lmd_model_config.h"
#include "lmd_sampler.h"
#include "lmd_tokenizer.h"

#define LMD_TEXT_MAX_STOP_IDS   (LMD_MODEL_MAX_EOS + 2)

struct lmd_model_text {
    struct lmd_model_config     cfg;
    struct lmd_tokenizer       *tok;
    struct lmd_chat_template   *tpl;
    char                       *bos_token;      /* the template's, or NULL */
    char                       *eos_token;
    int32_t                     stop_ids[LMD_TEXT_MAX_STOP_IDS];
    size_t                      n_stop_ids;     /* config's eos ids, the
                                                   tokenizer's and the
                                                   template's eos token */
    uint32_t                    max_context;    /* max_position; 0: none
                                                   known */
    int                         pieces;         /* how pieces become
                                                   bytes (private) */
};

/* Loads dir's config.json, tokenizer and chat template (template_file
 * when not NULL, else the model's, else ChatML).  *out is NULL when the
 * folder holds no tokenizer at all (the model then serves no text: a
 * load_format dummy folder, the tests' fake models).  LMD_OK, or
 * LMD_ERROR with err "FILE: reason".  Any thread. */
int lmd_model_text_load(const char *dir, const char *template_file,
    struct lmd_model_text **out, char *err, size_t errlen);
void lmd_model_text_free(struct lmd_model_text *t);

/* Renders messages (a cJSON array of {role, content[, name]}) with the
 * generation prompt and tokenizes the text without special tokens, as
 * transformers' apply_chat_template does.  LMD_OK or LMD_ERROR with err
 * set (a template error, out of memory). */
int lmd_model_text_chat_ids(const struct lmd_model_text *t,
    const cJSON *messages, struct lmd_tokens *ids, char *err, size_t errlen);

/* Which sampling fields a caller set itself; generation_config.json fills
 * the others.  The bits equal LMD_OAI_HAS_* and LMD_CMD_SET_*. */
#define LMD_TEXT_SET_TEMPERATURE    0x01
#define LMD_TEXT_SET_TOP_P          0x02
#define LMD_TEXT_SET_TOP_K          0x04
#define LMD_TEXT_SET_REPETITION     0x08

/* Applies generation_config.json's temperature, top_p, top_k and
 * repetition_penalty to s where set lacks the bit. */
void lmd_model_text_defaults(const struct lmd_model_config *cfg,
    unsigned set, struct lmd_sampling *s);

/* The bytes a token stands for in decoded text ("Ġworld" -> " world",
 * "▁the" -> " the", "<0x0A>" -> "\n"), without the decoder's
 * start-of-text rules; at most cap bytes into buf.  Returns the length,
 * or 0 for an unknown id. */
size_t lmd_model_text_token_bytes(const struct lmd_model_text *t,
    int32_t id, char *buf, size_t cap);

/* ---------------------------------------------------------- text stream */

/*
 * One generated sequence's text: token ids in, text out, with the
 * request's stop strings.  Text that could still be the start of a stop
 * string is held back; when one appears, the text ends right before it.
 * out[0 .. out_len) is the text produced and not yet taken.
 */
struct lmd_text_stream {
    struct lmd_detok       *detok;
    size_t                  vocab;          /* the tokenizer's ids */
    const char            **stop;
    size_t                  n_stop;
    char                   *held;           /* decoded, not yet released */
    size_t                  held_len, held_cap;
    char                   *out;
    size_t                  out_len, out_cap;
    uint64_t                decoded;        /* bytes decoded so far */
    uint64_t                decoded_chars;  /* characters of them (text
                                               offsets) */
    const char             *last;           /* the last push's decoded */
    size_t                  last_len;       /*   text, before stop
                                                 strings cut it */
    unsigned                stopped:1;      /* a stop string matched */
    unsigned                failed:1;       /* out of memory */
};

/* Sets s up for t's tokenizer and stop strings (kept by pointer: they
 * must outlive s).  prime[0 .. n_prime), when given, are decoded first
 * and discarded, so that the text continues them the way decoding
 * prompt and answer together would (leading spaces).  LMD_OK or
 * LMD_ERROR (out of memory). */
int lmd_text_stream_init(struct lmd_text_stream *s,
    const struct lmd_model_text *t, const char **stop, size_t n_stop,
    const int32_t *prime, size_t n_prime);

/* Adds one generated id.  Returns 1 when a stop string matched (s is then
 * finished: out holds the text up to it), else 0.  Ids the tokenizer
 * does not know (a padded vocabulary) add no text.  last/last_len is
 * then the text the id decoded to (valid until the next call on s). */
int lmd_text_stream_push(struct lmd_text_stream *s, int32_t id);

/* The sequence ended: whatever was held back is released (after a last
 * stop-string check).  Returns 1 when a stop string matched. */
int lmd_text_stream_finish(struct lmd_text_stream *s);

/* Takes the text produced so far: *text is valid until the next call
 * on s.  Resets out. */
void lmd_text_stream_take(struct lmd_text_stream *s, const char **text,
    size_t *len);

void lmd_text_stream_free(struct lmd_text_stream *s);

#endif /* LMD_MODEL_TEXT_H */
