/*
 * lmd_bench_prompt.c -- what `lmd bench` sends: input and output lengths
 * drawn from their distributions, the prompts, the arrival times of an
 * open loop, and each request's JSON body, all made before the clock
 * starts.
 *
 * Every draw comes from a seeded splitmix64, in three streams (lengths,
 * prompt contents, arrivals), so that a seed gives the same requests on
 * every machine, and changing the output lengths or the rate leaves the
 * prompts as they were.  Prompts are random common English words (about
 * one token each in the usual BPE vocabularies), or with --tokenizer
 * random non-special token ids of exactly the drawn length: sent as ids
 * to /v1/completions, decoded to text for chat.
 */

#include "lmd_bench.h"
#include "lmd_tokenizer.h"

#include <math.h>

#include <cjson/cJSON.h>

/* Stream constants mixed into the seed (arbitrary odd numbers). */
#define LMD_BENCH_SEED_LENS     0x6c656e73ull
#define LMD_BENCH_SEED_PROMPT   0x70726f6dull
#define LMD_BENCH_SEED_ARRIVE   0x61727276ull

/* Short frequent English words: with its leading space, each is about
 * one token in the usual BPE vocabularies. */
static const char *const  lmd_bench_words[] = {
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it",
    "as", "was", "with", "be", "by", "on", "not", "he", "this", "are",
    "or", "his", "from", "at", "which", "but", "have", "an", "had",
    "they", "you", "were", "their", "one", "all", "we", "can", "her",
    "has", "there", "been", "if", "more", "when", "will", "would", "who",
    "so", "no", "she", "other", "its", "may", "these", "what", "them",
    "than", "some", "him", "time", "into", "only", "do", "like", "then",
    "could", "also", "any", "new", "two", "first", "my", "now", "over",
    "such", "our", "man", "me", "even", "most", "made", "after", "many",
    "must", "years", "much", "your", "where", "before", "way", "down",
    "should", "because", "each", "just", "those", "people", "how", "too",
    "little", "state", "good", "very", "make", "world", "still", "own",
    "see", "men", "work", "long", "get", "here", "between", "both",
    "life", "being", "under", "never", "day", "same", "another", "know",
    "while", "last", "might", "great", "old", "year", "off", "come",
    "since", "against", "go", "came", "right", "used", "take", "three",
    "house", "water", "small", "found", "light", "city", "place",
    "river", "story", "night", "music", "green", "open", "early"
};


/* ------------------------------------------------------ distributions */

/* A whole number in [min, max], or a number when real; all of s. */
static int
lmd_bench_number(const char *s, size_t len, int real, double min,
    double *out)
{
    char    buf[32], *end;
    double  v;

    if (len == 0 || len >= sizeof(buf)) {
        return LMD_ERROR;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (!real && strspn(buf, "0123456789") != len) {
        return LMD_ERROR;
    }
    errno = 0;
    v = strtod(buf, &end);
    if (*end != '\0' || errno != 0 || !isfinite(v) || v < min
        || v > LMD_BENCH_MAX_LEN)
    {
        return LMD_ERROR;
    }
    *out = v;
    return LMD_OK;
}


int
lmd_bench_dist_parse(const char *s, struct lmd_bench_dist *d, char *err,
    size_t errlen)
{
    const char  *sep;
    size_t       len = strlen(s);
    int          ok;

    memset(d, 0, sizeof(*d));
    sep = s + strcspn(s, ":~");
    if (*sep == '\0') {
        d->kind = LMD_BENCH_FIXED;
        ok = lmd_bench_number(s, len, 0, 1, &d->a) == LMD_OK;
    } else if (*sep == ':') {
        d->kind = LMD_BENCH_UNIFORM;
        ok = lmd_bench_number(s, (size_t) (sep - s), 0, 1, &d->a) == LMD_OK
             && lmd_bench_number(sep + 1, strlen(sep + 1), 0, 1, &d->b)
                == LMD_OK
             && d->a <= d->b;
    } else {
        d->kind = LMD_BENCH_NORMAL;
        ok = lmd_bench_number(s, (size_t) (sep - s), 1, 1, &d->a) == LMD_OK
             && lmd_bench_number(sep + 1, strlen(sep + 1), 1, 0, &d->b)
                == LMD_OK;
    }
    if (!ok) {
        snprintf(err, errlen, "expected N, A:B (uniform, A <= B) or N~S "
                 "(normal: mean N, deviation S), with token counts from 1 "
                 "to %d, not \"%s\"", LMD_BENCH_MAX_LEN, s);
        return LMD_ERROR;
    }
    return LMD_OK;
}


uint64_t
lmd_bench_rng_next(struct lmd_bench_rng *r)
{
    uint64_t  z;

    r->state += 0x9e3779b97f4a7c15ull;
    z = r->state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}


double
lmd_bench_rng_double(struct lmd_bench_rng *r)
{
    return (double) (lmd_bench_rng_next(r) >> 11) * 0x1.0p-53;
}


uint32_t
lmd_bench_dist_draw(const struct lmd_bench_dist *d, struct lmd_bench_rng *r)
{
    uint64_t  span;
    double    u1, u2, v;

    switch (d->kind) {
    case LMD_BENCH_UNIFORM:
        span = (uint64_t) (d->b - d->a) + 1;
        return (uint32_t) d->a + (uint32_t) (lmd_bench_rng_next(r) % span);
    case LMD_BENCH_NORMAL:
        /* Box-Muller; u1 in (0, 1] keeps the log finite */
        u1 = 1.0 - lmd_bench_rng_double(r);
        u2 = lmd_bench_rng_double(r);
        v = d->a + d->b * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
        v = nearbyint(v);
        return (uint32_t) lmd_min(lmd_max(v, 1.0), (double) LMD_BENCH_MAX_LEN);
    default:
        return (uint32_t) d->a;
    }
}


/* ------------------------------------------------------------ prompts */

/* n random words, space-separated, into a malloc'd string. */
static char *
lmd_bench_words_text(struct lmd_bench_rng *r, uint32_t n)
{
    const char  *w;
    size_t       len = 0, cap = (size_t) n * 8 + 1, l;
    uint32_t     i;
    char        *s, *p;

    s = malloc(cap);
    if (s == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        w = lmd_bench_words[lmd_bench_rng_next(r)
                            % lmd_nelems(lmd_bench_words)];
        l = strlen(w);
        if (len + l + 2 > cap) {
            cap = cap * 2 + l + 2;
            p = realloc(s, cap);
            if (p == NULL) {
                free(s);
                return NULL;
            }
            s = p;
        }
        if (i > 0) {
            s[len++] = ' ';
        }
        memcpy(s + len, w, l);
        len += l;
    }
    s[len] = '\0';
    return s;
}


/* n random ids that are not special tokens. */
static int
lmd_bench_random_ids(const struct lmd_tokenizer *tok,
    struct lmd_bench_rng *r, uint32_t n, struct lmd_tokens *ids)
{
    size_t    vocab = lmd_tokenizer_vocab_size(tok);
    int32_t   id;
    uint32_t  i;
    int       tries;

    ids->n = 0;
    for (i = 0; i < n; i++) {
        tries = 0;
        do {
            id = (int32_t) (lmd_bench_rng_next(r) % vocab);
        } while (lmd_tokenizer_is_special(tok, id) && ++tries < 100);
        if (lmd_tokens_push(ids, id) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


/* ------------------------------------------------------------ bodies */

/* The JSON body of one request: prompt (text), or ids for completions. */
static char *
lmd_bench_body(const struct lmd_bench_opts *o, const char *model,
    uint32_t max_tokens, const char *text, const struct lmd_tokens *ids)
{
    cJSON   *root, *msgs, *msg, *arr, *so;
    char    *s;
    size_t   i;

    root = cJSON_CreateObject();
    if (root == NULL) {
        return NULL;
    }
    cJSON_AddStringToObject(root, "model", model);
    if (o->endpoint == LMD_BENCH_CHAT) {
        msgs = cJSON_AddArrayToObject(root, "messages");
        msg = cJSON_CreateObject();
        if (msgs != NULL && msg != NULL) {
            cJSON_AddItemToArray(msgs, msg);
            cJSON_AddStringToObject(msg, "role", "user");
            cJSON_AddStringToObject(msg, "content", text);
        } else {
            cJSON_Delete(msg);
        }
    } else if (text != NULL) {
        cJSON_AddStringToObject(root, "prompt", text);
    } else {
        arr = cJSON_AddArrayToObject(root, "prompt");
        for (i = 0; arr != NULL && i < ids->n; i++) {
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids->ids[i]));
        }
    }
    cJSON_AddNumberToObject(root, "max_tokens", max_tokens);
    cJSON_AddNumberToObject(root, "temperature", o->temperature);
    cJSON_AddTrueToObject(root, "stream");
    so = cJSON_AddObjectToObject(root, "stream_options");
    if (so != NULL) {
        cJSON_AddTrueToObject(so, "include_usage");
    }
    if (o->ignore_eos) {
        cJSON_AddTrueToObject(root, "ignore_eos");
    }
    s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}


int
lmd_bench_build(struct lmd_bench *b, const char *model, char *err,
    size_t errlen)
{
    const struct lmd_bench_opts  *o = b->o;
    struct lmd_bench_rng          lens, words, arrive;
    struct lmd_tokenizer         *tok = NULL;
    struct lmd_tokens             ids = { NULL, 0, 0 };
    struct lmd_bench_req         *r;
    double                        t = 0;
    size_t                        i, len;
    char                         *text, why[LMD_ERR_LEN];
    int                           rc = LMD_ERROR;

    lens.state = o->seed ^ LMD_BENCH_SEED_LENS;
    words.state = o->seed ^ LMD_BENCH_SEED_PROMPT;
    arrive.state = o->seed ^ LMD_BENCH_SEED_ARRIVE;

    if (o->tokenizer != NULL) {
        why[0] = '\0';
        tok = lmd_tokenizer_load(o->tokenizer, why, sizeof(why));
        if (tok == NULL) {
            if (why[0] == '\0') {
                snprintf(why, sizeof(why), "%s: cannot load the tokenizer",
                         o->tokenizer);
            }
            snprintf(err, errlen, "--tokenizer: %s", why);
            return LMD_ERROR;
        }
        if (lmd_tokenizer_vocab_size(tok) == 0) {
            snprintf(err, errlen, "%s: the tokenizer has no vocabulary",
                     o->tokenizer);
            goto done;
        }
    }

    b->reqs = calloc(b->n, sizeof(*b->reqs));
    if (b->reqs == NULL || (o->rate > 0
        && (b->arrivals = calloc(b->n, sizeof(double))) == NULL))
    {
        goto oom;
    }

    for (i = 0; i < b->n; i++) {
        r = &b->reqs[i];
        r->bench = b;
        r->input_len = lmd_bench_dist_draw(&o->input_len, &lens);
        r->output_len = lmd_bench_dist_draw(&o->output_len, &lens);
        r->prompt_tokens = -1;
        r->completion_tokens = -1;

        text = NULL;
        if (tok == NULL) {
            text = lmd_bench_words_text(&words, r->input_len);
            if (text == NULL) {
                goto oom;
            }
        } else {
            if (lmd_bench_random_ids(tok, &words, r->input_len, &ids)
                != LMD_OK)
            {
                goto oom;
            }
            if (o->endpoint == LMD_BENCH_CHAT
                && lmd_tokenizer_decode(tok, ids.ids, ids.n, 1, &text, &len)
                   != LMD_OK)
            {
                snprintf(err, errlen, "%s: cannot decode random ids",
                         o->tokenizer);
                goto done;
            }
        }
        r->body = lmd_bench_body(o, model, r->output_len, text, &ids);
        free(text);
        if (r->body == NULL) {
            goto oom;
        }
        r->body_len = strlen(r->body);

        /* Poisson arrivals: exponential gaps, the first request at 0 */
        if (b->arrivals != NULL) {
            b->arrivals[i] = t;
            t += -log(1.0 - lmd_bench_rng_double(&arrive)) / o->rate;
        }
    }
    rc = LMD_OK;
    goto done;

oom:
    snprintf(err, errlen, "out of memory making %zu requests", b->n);

done:
    lmd_tokens_free(&ids);
    lmd_tokenizer_free(tok);
    return rc;
}
