/*
 * lmd_model_text.c -- a served model's text machinery: tokenizer, chat
 * template, config (lmd_model_text.h), and the per-sequence text stream
 * that detokenizes and cuts at stop strings.
 *
 * The CLI (lmd chat, lmd generate) and the API read a model the same
 * way: stop ids are the config's eos ids plus the tokenizer's and the
 * template's eos token; generation_config.json fills the sampling fields
 * a request leaves unset (lmd_model_text_defaults, shared with lmd chat).
 *
 * Stop strings: the stream keeps decoded text in `held` until no stop
 * string can begin in it.  After each id it looks for the earliest
 * complete stop string in held (a match may begin in text held from
 * earlier ids); without one it releases everything before the longest
 * tail of held that is a prefix of some stop string.  Released text never
 * contains a stop string and never ends inside the start of one, so the
 * first match found is the first in the whole text.
 */

#include "lmd_core.h"
#include "lmd_model_text.h"
#include "lmd_openai.h"
#include "lmd_cmd_model.h"

#include <sys/stat.h>

/* The flags are one set, whoever sets them. */
_Static_assert(LMD_TEXT_SET_TEMPERATURE == LMD_OAI_HAS_TEMPERATURE
               && LMD_TEXT_SET_TOP_P == LMD_OAI_HAS_TOP_P
               && LMD_TEXT_SET_TOP_K == LMD_OAI_HAS_TOP_K
               && LMD_TEXT_SET_REPETITION == LMD_OAI_HAS_REPETITION,
               "LMD_TEXT_SET_* must equal LMD_OAI_HAS_*");
_Static_assert(LMD_TEXT_SET_TEMPERATURE == LMD_CMD_SET_TEMPERATURE
               && LMD_TEXT_SET_TOP_P == LMD_CMD_SET_TOP_P
               && LMD_TEXT_SET_TOP_K == LMD_CMD_SET_TOP_K
               && LMD_TEXT_SET_REPETITION == LMD_CMD_SET_REPETITION,
               "LMD_TEXT_SET_* must equal LMD_CMD_SET_*");

/* How a vocabulary piece becomes bytes (lmd_model_text_token_bytes). */
enum {
    LMD_PIECES_PLAIN = 0,       /* as they are */
    LMD_PIECES_METASPACE,       /* "▁" is a space, <0xNN> a byte */
    LMD_PIECES_BYTE_LEVEL       /* GPT-2's byte characters */
};


/* ---------------------------------------------------------------- load */

static int
lmd_model_text_has(const char *dir, const char *file)
{
    struct stat  st;
    char         path[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}


static void
lmd_model_text_add_stop(struct lmd_model_text *t, int32_t id)
{
    size_t  i;

    if (id < 0 || t->n_stop_ids == LMD_TEXT_MAX_STOP_IDS) {
        return;
    }
    for (i = 0; i < t->n_stop_ids; i++) {
        if (t->stop_ids[i] == id) {
            return;
        }
    }
    t->stop_ids[t->n_stop_ids++] = id;
}


/* 1 when decoding the piece `piece` alone gives `want`. */
static int
lmd_model_text_decodes(const struct lmd_tokenizer *tok, const char *piece,
    const char *want)
{
    int32_t   id;
    char     *text;
    size_t    len;
    int       same;

    id = lmd_tokenizer_find(tok, piece, strlen(piece));
    if (id < 0 || lmd_tokenizer_decode(tok, &id, 1, 0, &text, &len)
                  != LMD_OK)
    {
        return 0;
    }
    same = len == strlen(want) && memcmp(text, want, len) == 0;
    free(text);
    return same;
}


/* Finds out, by decoding probes, how pieces map to bytes: a byte-level
 * vocabulary decodes "Ċ" (U+010A) to a newline; a sentencepiece one
 * decodes "<0x0A>" to a newline or has "▁" pieces. */
static int
lmd_model_text_pieces(const struct lmd_tokenizer *tok)
{
    if (lmd_model_text_decodes(tok, "\xC4\x8A", "\n")) {
        return LMD_PIECES_BYTE_LEVEL;
    }
    if (lmd_model_text_decodes(tok, "<0x0A>", "\n")
        || lmd_tokenizer_find(tok, "\xE2\x96\x81", 3) >= 0)
    {
        return LMD_PIECES_METASPACE;
    }
    return LMD_PIECES_PLAIN;
}


static int
lmd_model_text_template(struct lmd_model_text *t, const char *dir,
    const char *template_file, char *err, size_t errlen)
{
    if (template_file == NULL) {
        t->tpl = lmd_chat_template_load(dir, lmd_chat_template_default,
                                        &t->bos_token, &t->eos_token, err,
                                        errlen);
        return t->tpl != NULL ? LMD_OK : LMD_ERROR;
    }
    t->tpl = lmd_chat_template_load_file(template_file, err, errlen);
    if (t->tpl == NULL) {
        return LMD_ERROR;
    }
    return lmd_chat_template_special_tokens(dir, &t->bos_token,
                                            &t->eos_token, err, errlen);
}


int
lmd_model_text_load(const char *dir, const char *template_file,
    struct lmd_model_text **out, char *err, size_t errlen)
{
    struct lmd_model_text  *t;
    uint32_t                i;

    *out = NULL;
    if (!lmd_model_text_has(dir, "tokenizer.json")
        && !lmd_model_text_has(dir, "tokenizer.model"))
    {
        return LMD_OK;
    }

    t = calloc(1, sizeof(struct lmd_model_text));
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return LMD_ERROR;
    }
    err[0] = '\0';
    if (lmd_model_config_load(dir, &t->cfg, err, errlen) != LMD_OK) {
        goto failed;
    }
    t->tok = lmd_tokenizer_load(dir, err, errlen);
    if (t->tok == NULL) {
        goto failed;
    }
    if (lmd_model_text_template(t, dir, template_file, err, errlen)
        != LMD_OK)
    {
        goto failed;
    }

    for (i = 0; i < t->cfg.n_eos; i++) {
        lmd_model_text_add_stop(t, t->cfg.eos_ids[i]);
    }
    lmd_model_text_add_stop(t, lmd_tokenizer_eos_id(t->tok));
    if (t->eos_token != NULL) {
        lmd_model_text_add_stop(t, lmd_tokenizer_find(t->tok, t->eos_token,
                                                      strlen(t->eos_token)));
    }
    t->max_context = t->cfg.max_position;
    t->pieces = lmd_model_text_pieces(t->tok);
    *out = t;
    return LMD_OK;

failed:
    if (err[0] == '\0') {
        snprintf(err, errlen, "%s: cannot load the model's text", dir);
    }
    lmd_model_text_free(t);
    return LMD_ERROR;
}


void
lmd_model_text_free(struct lmd_model_text *t)
{
    if (t == NULL) {
        return;
    }
    lmd_tokenizer_free(t->tok);
    lmd_chat_template_free(t->tpl);
    free(t->bos_token);
    free(t->eos_token);
    free(t);
}


/* ------------------------------------------------------------- prompts */

int
lmd_model_text_chat_ids(const struct lmd_model_text *t,
    const cJSON *messages, struct lmd_tokens *ids, char *err, size_t errlen)
{
    struct lmd_chat_vars  vars;
    char                 *text;
    size_t                len;
    int                   rc;

    memset(&vars, 0, sizeof(vars));
    vars.messages = messages;
    vars.bos_token = t->bos_token;
    vars.eos_token = t->eos_token;
    vars.add_generation_prompt = 1;
    err[0] = '\0';
    if (lmd_chat_template_render(t->tpl, &vars, &text, &len, err, errlen)
        != LMD_OK)
    {
        return LMD_ERROR;
    }
    rc = lmd_tokenizer_encode(t->tok, text, len, 0, ids, err, errlen);
    free(text);
    return rc;
}


void
lmd_model_text_defaults(const struct lmd_model_config *cfg, unsigned set,
    struct lmd_sampling *s)
{
    if (!(set & LMD_TEXT_SET_TEMPERATURE) && cfg->has_temperature) {
        s->temperature = cfg->temperature;
    }
    if (!(set & LMD_TEXT_SET_TOP_P) && cfg->has_top_p) {
        s->top_p = cfg->top_p;
    }
    if (!(set & LMD_TEXT_SET_TOP_K) && cfg->has_top_k) {
        s->top_k = cfg->top_k;
    }
    if (!(set & LMD_TEXT_SET_REPETITION) && cfg->has_repetition_penalty) {
        s->repetition_penalty = cfg->repetition_penalty;
    }
}


/* ---------------------------------------------------------- token bytes */

/* GPT-2's byte-level alphabet: bytes 0x21-0x7e, 0xa1-0xac and 0xae-0xff
 * stand for themselves, the other 68 for U+0100 onwards in byte order.
 * Returns the byte of code point cp, or -1. */
static int
lmd_model_text_level_byte(uint32_t cp)
{
    uint32_t  b, n;

    if ((cp >= 0x21 && cp <= 0x7e) || (cp >= 0xa1 && cp <= 0xac)
        || (cp >= 0xae && cp <= 0xff))
    {
        return (int) cp;
    }
    if (cp < 0x100 || cp >= 0x100 + 68) {
        return -1;
    }
    for (b = 0, n = 0x100; b < 256; b++) {
        if ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac)
            || (b >= 0xae && b <= 0xff))
        {
            continue;
        }
        if (n++ == cp) {
            return (int) b;
        }
    }
    return -1;
}


/* The next code point of s[*i ..] (valid UTF-8 or -1 for a bad byte,
 * which is stepped over). */
static int32_t
lmd_model_text_utf8(const unsigned char *s, size_t n, size_t *i)
{
    uint32_t  cp;
    size_t    k, len;

    if (s[*i] < 0x80) {
        return s[(*i)++];
    }
    len = s[*i] >= 0xf0 ? 4 : s[*i] >= 0xe0 ? 3 : s[*i] >= 0xc0 ? 2 : 0;
    if (len == 0 || *i + len > n) {
        (*i)++;
        return -1;
    }
    cp = s[*i] & (0x7f >> len);
    for (k = 1; k < len; k++) {
        if ((s[*i + k] & 0xc0) != 0x80) {
            (*i)++;
            return -1;
        }
        cp = cp << 6 | (s[*i + k] & 0x3f);
    }
    *i += len;
    return (int32_t) cp;
}


/* A byte-level piece: its bytes when every character is a byte
 * character, else the piece as it is (added tokens, as the decoder). */
static size_t
lmd_model_text_level(const char *p, size_t len, char *buf, size_t cap)
{
    size_t   i = 0, n = 0;
    int32_t  cp;
    int      b;

    while (i < len && n < cap) {
        cp = lmd_model_text_utf8((const unsigned char *) p, len, &i);
        b = cp < 0 ? -1 : lmd_model_text_level_byte((uint32_t) cp);
        if (b < 0) {
            n = lmd_min(len, cap);
            memcpy(buf, p, n);
            return n;
        }
        buf[n++] = (char) b;
    }
    return n;
}


static size_t
lmd_model_text_metaspace(const char *p, size_t len, char *buf, size_t cap)
{
    size_t  i, n = 0;
    int     hi, lo;

    if (len == 6 && memcmp(p, "<0x", 3) == 0 && p[5] == '>'
        && (hi = lmd_hexval(p[3])) >= 0 && (lo = lmd_hexval(p[4])) >= 0
        && cap > 0)
    {
        buf[0] = (char) (hi << 4 | lo);
        return 1;
    }
    for (i = 0; i < len && n < cap; i++) {
        if (i + 3 <= len && memcmp(p + i, "\xE2\x96\x81", 3) == 0) {
            buf[n++] = ' ';
            i += 2;
        } else {
            buf[n++] = p[i];
        }
    }
    return n;
}


size_t
lmd_model_text_token_bytes(const struct lmd_model_text *t, int32_t id,
    char *buf, size_t cap)
{
    const char  *p;
    size_t       len;

    p = lmd_tokenizer_piece_bytes(t->tok, id, &len);
    if (p == NULL) {
        return 0;
    }
    if (lmd_tokenizer_is_special(t->tok, id)) {
        len = lmd_min(len, cap);
        memcpy(buf, p, len);
        return len;
    }
    switch (t->pieces) {
    case LMD_PIECES_BYTE_LEVEL:
        return lmd_model_text_level(p, len, buf, cap);
    case LMD_PIECES_METASPACE:
        return lmd_model_text_metaspace(p, len, buf, cap);
    default:
        len = lmd_min(len, cap);
        memcpy(buf, p, len);
        return len;
    }
}


/* --------------------------------------------------------- text stream */

static int
lmd_text_append(char **buf, size_t *len, size_t *cap, const char *s,
    size_t n)
{
    size_t   want;
    char    *p;

    if (*len + n + 1 > *cap) {
        want = lmd_max(*cap * 2, *len + n + 64);
        p = realloc(*buf, want);
        if (p == NULL) {
            return LMD_ERROR;
        }
        *buf = p;
        *cap = want;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return LMD_OK;
}


/* Moves held[0 .. n) to out. */
static void
lmd_text_release(struct lmd_text_stream *s, size_t n)
{
    if (n == 0) {
        return;
    }
    if (lmd_text_append(&s->out, &s->out_len, &s->out_cap, s->held, n)
        != LMD_OK)
    {
        s->failed = 1;
    }
    memmove(s->held, s->held + n, s->held_len - n);
    s->held_len -= n;
}


/* Where the earliest stop string begins in held, or -1. */
static ssize_t
lmd_text_find_stop(const struct lmd_text_stream *s)
{
    const char  *p;
    ssize_t      best = -1;
    size_t       i;

    for (i = 0; i < s->n_stop; i++) {
        p = memmem(s->held, s->held_len, s->stop[i], strlen(s->stop[i]));
        if (p != NULL && (best < 0 || p - s->held < best)) {
            best = p - s->held;
        }
    }
    return best;
}


/* Where the longest tail of held that some stop string begins with
 * starts (held_len when none does). */
static size_t
lmd_text_stop_prefix(const struct lmd_text_stream *s)
{
    size_t  q, i, tail, len;

    for (q = 0; q < s->held_len; q++) {
        tail = s->held_len - q;
        for (i = 0; i < s->n_stop; i++) {
            len = strlen(s->stop[i]);
            if (tail < len && memcmp(s->held + q, s->stop[i], tail) == 0) {
                return q;
            }
        }
    }
    return s->held_len;
}


/* After new text joined held: a match ends the stream, else what cannot
 * start a stop string goes out. */
static int
lmd_text_scan(struct lmd_text_stream *s, int last)
{
    ssize_t  at;

    at = lmd_text_find_stop(s);
    if (at >= 0) {
        lmd_text_release(s, (size_t) at);
        s->held_len = 0;
        s->stopped = 1;
        return 1;
    }
    lmd_text_release(s, last ? s->held_len : lmd_text_stop_prefix(s));
    return 0;
}


/* Counts decoded bytes and characters (bytes that start one). */
static void
lmd_text_count(struct lmd_text_stream *s, const char *text, size_t len)
{
    size_t  i;

    s->decoded += len;
    for (i = 0; i < len; i++) {
        s->decoded_chars += ((unsigned char) text[i] & 0xc0) != 0x80;
    }
}


int
lmd_text_stream_init(struct lmd_text_stream *s,
    const struct lmd_model_text *t, const char **stop, size_t n_stop,
    const int32_t *prime, size_t n_prime)
{
    const char  *text;
    size_t       i, len;

    memset(s, 0, sizeof(*s));
    s->stop = stop;
    s->n_stop = n_stop;
    s->detok = lmd_detok_new(t->tok, 1);
    if (s->detok == NULL) {
        return LMD_ERROR;
    }
    s->vocab = lmd_tokenizer_vocab_size(t->tok);
    for (i = 0; i < n_prime; i++) {
        if (prime[i] >= 0 && (size_t) prime[i] < s->vocab) {
            lmd_detok_push(s->detok, prime[i], &text, &len);
        }
    }
    return LMD_OK;
}


int
lmd_text_stream_push(struct lmd_text_stream *s, int32_t id)
{
    const char  *text;
    size_t       len;

    s->last_len = 0;
    if (s->stopped || s->detok == NULL) {
        return s->stopped;
    }
    if (id < 0 || (size_t) id >= s->vocab) {
        return 0;       /* a padded vocabulary's id: no text */
    }
    if (lmd_detok_push(s->detok, id, &text, &len) != LMD_OK || len == 0) {
        return 0;
    }
    s->last = text;
    s->last_len = len;
    lmd_text_count(s, text, len);
    if (lmd_text_append(&s->held, &s->held_len, &s->held_cap, text, len)
        != LMD_OK)
    {
        s->failed = 1;
        return 0;
    }
    return lmd_text_scan(s, 0);
}


int
lmd_text_stream_finish(struct lmd_text_stream *s)
{
    const char  *text;
    size_t       len;

    if (s->stopped || s->detok == NULL) {
        return s->stopped;
    }
    s->last_len = 0;
    if (lmd_detok_finish(s->detok, &text, &len) == LMD_OK && len > 0) {
        lmd_text_count(s, text, len);
        if (lmd_text_append(&s->held, &s->held_len, &s->held_cap, text,
                            len) != LMD_OK)
        {
            s->failed = 1;
        }
    }
    return lmd_text_scan(s, 1);
}


void
lmd_text_stream_take(struct lmd_text_stream *s, const char **text,
    size_t *len)
{
    *text = s->out != NULL ? s->out : "";
    *len = s->out_len;
    s->out_len = 0;
}


void
lmd_text_stream_free(struct lmd_text_stream *s)
{
    lmd_detok_free(s->detok);
    free(s->held);
    free(s->out);
    memset(s, 0, sizeof(*s));
}
