/*
 * lmd_http_completions.c -- OpenAI's completion endpoints:
 * POST /v1/chat/completions and POST /v1/completions, streamed as
 * server-sent events (stream: true) or answered as one JSON object.
 *
 * One request runs in three stages.  The handler parses the body
 * (lmd_openai_parse.c), finds the model, turns messages or prompt into
 * token ids (the model's chat template and tokenizer, lmd_model_text.c),
 * checks them against the context, fills unset sampling fields from the
 * model's generation_config.json and submits one generation per choice
 * (n), then returns LMD_AGAIN.  Each time the engine has tokens for a
 * choice, lmd_engine_dispatch calls lmd_cmpl_on_output on the loop
 * thread: the tokens go through the choice's detokenizer and stop-string
 * matcher; streamed text leaves at once as one SSE event.  When every
 * choice has finished, the usage and [DONE] (streaming) or the whole
 * answer (not streaming) end the response.
 *
 * Design: the request's state lives in its pool; a pool cleanup closes
 * every generation still open and frees what the pool does not own, so
 * finalizing (an answer, an error) and the client leaving (on_abort, then
 * the pool goes) end a request the same way.  After lmd_http_finalize or
 * an abort nothing here touches the request again: a callback that
 * finalizes returns at once.  The SSE header goes out with the first
 * token, or with the first keep-alive comment when the request waits in
 * the queue for more than LMD_CMPL_KEEPALIVE_MS; until then an error can
 * still be an HTTP status.  Loop thread only.
 */

#include "lmd_http.h"
#include "lmd_event.h"
#include "lmd_engine.h"
#include "lmd_metrics.h"
#include "lmd_models.h"
#include "lmd_model_text.h"
#include "lmd_openai.h"

#include <math.h>
#include <sys/random.h>

#include <cjson/cJSON.h>

#define LMD_CMPL_KEEPALIVE_MS   5000
#define LMD_CMPL_TAKE           64      /* tokens taken per call */
#define LMD_CMPL_PRIME          32      /* prompt ids the detokenizer of a
                                           completion sees first */
#define LMD_CMPL_TOKEN_MAX      256     /* bytes of one token's text */
#define LMD_CMPL_DEFAULT_MAX    4096    /* max_tokens without a context */

struct lmd_cmpl;

struct lmd_cmpl_choice {
    struct lmd_cmpl            *c;
    uint32_t                    index;
    struct lmd_gen             *g;              /* NULL once closed */
    struct lmd_text_stream      ts;
    const char                 *finish_reason;  /* NULL while running */
    uint32_t                    taken;          /* tokens taken */
    uint32_t                    completion_tokens;
    uint32_t                    cached_tokens;
    cJSON                      *lp;             /* logprobs not yet sent */
};

struct lmd_cmpl {
    struct lmd_http_request    *r;
    struct lmd_oai_request      req;
    const struct lmd_model     *model;
    const struct lmd_model_text *text;
    int                         chat;
    struct lmd_cmpl_choice     *choices;
    uint32_t                    n_open;         /* choices still running */
    struct lmd_tokens           prompt;
    const char                 *echo;           /* completions' echo */
    size_t                      echo_len;
    size_t                      echo_chars;
    struct lmd_timer           *keepalive;
    char                        id[48];
    double                      created;
    unsigned                    streaming:1;    /* SSE header sent */
};


static void lmd_cmpl_close_all(struct lmd_cmpl *c);


/* ---------------------------------------------------------------- utils */

/* "chatcmpl-" or "cmpl-" and 24 random hex digits. */
static void
lmd_cmpl_make_id(struct lmd_cmpl *c)
{
    static const char   hex[] = "0123456789abcdef";
    static uint64_t     counter;
    unsigned char       rnd[12];
    uint64_t            x;
    size_t              i, n;

    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t) sizeof(rnd))
    {
        /* no entropy yet (early boot): unique is enough */
        x = (uint64_t) time(NULL) * 0x9e3779b97f4a7c15ull + ++counter;
        for (i = 0; i < sizeof(rnd); i++) {
            x ^= x >> 29;
            x *= 0xbf58476d1ce4e5b9ull;
            rnd[i] = (unsigned char) (x >> 56);
        }
    }
    n = (size_t) snprintf(c->id, sizeof(c->id), "%s",
                          c->chat ? "chatcmpl-" : "cmpl-");
    for (i = 0; i < sizeof(rnd) && n + 2 < sizeof(c->id); i++) {
        c->id[n++] = hex[rnd[i] >> 4];
        c->id[n++] = hex[rnd[i] & 0xf];
    }
    c->id[n] = '\0';
}


/* Sends a cJSON tree as the whole response (and frees it). */
static void
lmd_cmpl_send_json(struct lmd_http_request *r, cJSON *json)
{
    char  *text;

    text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (text == NULL) {
        lmd_http_error(r, 500, NULL, NULL, NULL, "out of memory");
        return;
    }
    lmd_http_respond(r, 200, "application/json", text, strlen(text));
    cJSON_free(text);
}


/* A response head: id, object, created, model, system_fingerprint. */
static cJSON *
lmd_cmpl_head(const struct lmd_cmpl *c, const char *object)
{
    cJSON  *o;

    o = cJSON_CreateObject();
    if (o == NULL) {
        return NULL;
    }
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", c->created);
    cJSON_AddStringToObject(o, "model", c->model->name);
    cJSON_AddStringToObject(o, "system_fingerprint",
                            "fp_" LMD_NAME "_" LMD_VERSION);
    return o;
}


static uint32_t
lmd_cmpl_completion_tokens(const struct lmd_cmpl *c)
{
    uint32_t  i, n = 0;

    for (i = 0; i < c->req.n; i++) {
        n += c->choices[i].completion_tokens;
    }
    return n;
}


static cJSON *
lmd_cmpl_usage(const struct lmd_cmpl *c)
{
    cJSON     *u, *d;
    uint32_t   ct = lmd_cmpl_completion_tokens(c);

    u = cJSON_CreateObject();
    if (u == NULL) {
        return NULL;
    }
    cJSON_AddNumberToObject(u, "prompt_tokens", (double) c->prompt.n);
    cJSON_AddNumberToObject(u, "completion_tokens", (double) ct);
    cJSON_AddNumberToObject(u, "total_tokens", (double) c->prompt.n + ct);
    d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    if (d != NULL) {
        /* the first choice's: the others reuse what it computed */
        cJSON_AddNumberToObject(d, "cached_tokens",
                                (double) c->choices[0].cached_tokens);
    }
    return u;
}


/* ------------------------------------------------------------- logprobs */

/* s as UTF-8 with each byte that starts no valid sequence as U+FFFD. */
static cJSON *
lmd_cmpl_lossy_string(const char *s, size_t n)
{
    const unsigned char  *p = (const unsigned char *) s;
    char                  buf[LMD_CMPL_TOKEN_MAX * 3 + 1];
    size_t                i = 0, o = 0, len, k;

    while (i < n) {
        len = p[i] < 0x80 ? 1 : (p[i] & 0xe0) == 0xc0 && p[i] >= 0xc2 ? 2
              : (p[i] & 0xf0) == 0xe0 ? 3
              : (p[i] & 0xf8) == 0xf0 && p[i] <= 0xf4 ? 4 : 0;
        for (k = 1; len > 0 && k < len; k++) {
            if (i + k >= n || (p[i + k] & 0xc0) != 0x80) {
                len = 0;
            }
        }
        if (len == 0) {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(buf + o, p + i, len);
            o += len;
            i += len;
        }
    }
    buf[o] = '\0';
    return cJSON_CreateString(buf);
}


static double
lmd_cmpl_logprob_value(float lp)
{
    return isfinite(lp) ? (double) lp : -9999.0;    /* as vLLM */
}


/*
 * A token's bytes are its vocabulary piece's, except where the decoder
 * dropped the front of them -- the leading space at the start of an
 * answer, WordPiece's "##" -- and then what it gave instead, so that the
 * bytes of the tokens spell the text.  The alternatives of a token lose
 * the same front when they have it, so that the chosen one reads the
 * same among them.
 */
struct lmd_cmpl_bytes {
    char        buf[LMD_CMPL_TOKEN_MAX];
    size_t      n;
    char        front[LMD_CMPL_TOKEN_MAX];
    size_t      cut;
};


/* The sampled id, just pushed through ch's text stream (nothing had been
 * decoded before when first). */
static void
lmd_cmpl_sampled_bytes(const struct lmd_cmpl_choice *ch, int32_t id,
    int first, struct lmd_cmpl_bytes *b)
{
    const struct lmd_text_stream  *ts = &ch->ts;

    b->n = lmd_model_text_token_bytes(ch->c->text, id, b->buf,
                                      sizeof(b->buf));
    b->cut = 0;
    if (ts->last_len > 0 && ts->last_len < b->n
        && memcmp(b->buf + b->n - ts->last_len, ts->last, ts->last_len)
           == 0)
    {
        b->cut = b->n - ts->last_len;
    } else if (first && ts->last_len == 0 && b->n == 1 && b->buf[0] == ' ')
    {
        b->cut = 1;             /* a lone leading space */
    }
    memcpy(b->front, b->buf, b->cut);
    memmove(b->buf, b->buf + b->cut, b->n - b->cut);
    b->n -= b->cut;
}


/* An alternative's bytes into buf; returns the length. */
static size_t
lmd_cmpl_alt_bytes(const struct lmd_cmpl *c, int32_t id,
    const struct lmd_cmpl_bytes *sampled, char *buf, size_t cap)
{
    size_t  n;

    n = lmd_model_text_token_bytes(c->text, id, buf, cap);
    if (sampled->cut > 0 && n >= sampled->cut
        && memcmp(buf, sampled->front, sampled->cut) == 0)
    {
        memmove(buf, buf + sampled->cut, n - sampled->cut);
        n -= sampled->cut;
    }
    return n;
}


/* {"token", "logprob", "bytes"} of chat's logprobs. */
static cJSON *
lmd_cmpl_lp_entry(const char *buf, size_t n, float lp)
{
    cJSON   *o, *bytes;
    size_t   i;

    o = cJSON_CreateObject();
    bytes = cJSON_CreateArray();
    if (o == NULL || bytes == NULL) {
        cJSON_Delete(o);
        cJSON_Delete(bytes);
        return NULL;
    }
    cJSON_AddItemToObject(o, "token", lmd_cmpl_lossy_string(buf, n));
    cJSON_AddNumberToObject(o, "logprob", lmd_cmpl_logprob_value(lp));
    for (i = 0; i < n; i++) {
        cJSON_AddItemToArray(bytes,
                             cJSON_CreateNumber((unsigned char) buf[i]));
    }
    cJSON_AddItemToObject(o, "bytes", bytes);
    return o;
}


/* chat: {"content": [{token, logprob, bytes, top_logprobs}]} */
static void
lmd_cmpl_lp_chat(struct lmd_cmpl_choice *ch, const struct lmd_gen_token *t,
    const struct lmd_cmpl_bytes *b)
{
    cJSON   *content, *e, *top;
    char     buf[LMD_CMPL_TOKEN_MAX];
    size_t   n;
    int      k;

    if (ch->lp == NULL) {
        ch->lp = cJSON_CreateObject();
        if (ch->lp == NULL
            || cJSON_AddArrayToObject(ch->lp, "content") == NULL)
        {
            return;
        }
    }
    content = cJSON_GetObjectItem(ch->lp, "content");
    e = lmd_cmpl_lp_entry(b->buf, b->n, t->logprob);
    if (content == NULL || e == NULL) {
        cJSON_Delete(e);
        return;
    }
    top = cJSON_AddArrayToObject(e, "top_logprobs");
    for (k = 0; top != NULL && k < t->n_top
         && k < ch->c->req.sampling.top_logprobs; k++)
    {
        n = lmd_cmpl_alt_bytes(ch->c, t->top[k].id, b, buf, sizeof(buf));
        cJSON_AddItemToArray(top, lmd_cmpl_lp_entry(buf, n,
                                                    t->top[k].logprob));
    }
    cJSON_AddItemToArray(content, e);
}


/* completions: {"tokens", "token_logprobs", "top_logprobs",
 * "text_offset"}, four arrays with one item per token; offsets count
 * characters from the start of the returned text. */
static void
lmd_cmpl_lp_completion(struct lmd_cmpl_choice *ch,
    const struct lmd_gen_token *t, const struct lmd_cmpl_bytes *b,
    uint64_t offset)
{
    static const char  *keys[] = {
        "tokens", "token_logprobs", "top_logprobs", "text_offset"
    };
    struct lmd_cmpl    *c = ch->c;
    char                buf[LMD_CMPL_TOKEN_MAX];
    cJSON              *a[4], *top, *s;
    size_t              i, n;
    int                 k;

    if (ch->lp == NULL) {
        ch->lp = cJSON_CreateObject();
        for (i = 0; ch->lp != NULL && i < lmd_nelems(keys); i++) {
            cJSON_AddArrayToObject(ch->lp, keys[i]);
        }
    }
    for (i = 0; i < lmd_nelems(keys); i++) {
        a[i] = cJSON_GetObjectItem(ch->lp, keys[i]);
        if (a[i] == NULL) {
            return;
        }
    }
    cJSON_AddItemToArray(a[0], lmd_cmpl_lossy_string(b->buf, b->n));
    cJSON_AddItemToArray(a[1],
        cJSON_CreateNumber(lmd_cmpl_logprob_value(t->logprob)));
    top = cJSON_CreateObject();
    for (k = 0; top != NULL && k < t->n_top
         && k < c->req.sampling.top_logprobs; k++)
    {
        n = lmd_cmpl_alt_bytes(c, t->top[k].id, b, buf, sizeof(buf));
        s = lmd_cmpl_lossy_string(buf, n);
        /* two ids may read the same: the likelier one stays */
        if (s != NULL && cJSON_GetObjectItemCaseSensitive(top,
                                                          s->valuestring)
                         == NULL)
        {
            cJSON_AddNumberToObject(top, s->valuestring,
                lmd_cmpl_logprob_value(t->top[k].logprob));
        }
        cJSON_Delete(s);
    }
    cJSON_AddItemToArray(a[2], top != NULL ? top : cJSON_CreateNull());
    cJSON_AddItemToArray(a[3],
        cJSON_CreateNumber((double) (c->echo_chars + offset)));
}


/* Takes ch's logprobs gathered so far (null when none were asked). */
static cJSON *
lmd_cmpl_take_lp(struct lmd_cmpl_choice *ch)
{
    cJSON  *lp = ch->lp;

    ch->lp = NULL;
    return lp != NULL ? lp : cJSON_CreateNull();
}


/* ------------------------------------------------------------ streaming */

/* Sends `data: JSON\n\n` (and frees json).  LMD_OK or LMD_ERROR. */
static int
lmd_cmpl_sse(struct lmd_cmpl *c, cJSON *json)
{
    char    *text, *ev;
    size_t   len;
    int      rc;

    text = json != NULL ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (text == NULL) {
        return LMD_ERROR;
    }
    len = strlen(text);
    ev = malloc(len + 9);
    if (ev == NULL) {
        cJSON_free(text);
        return LMD_ERROR;
    }
    memcpy(ev, "data: ", 6);
    memcpy(ev + 6, text, len);
    memcpy(ev + 6 + len, "\n\n", 2);
    rc = lmd_http_send_body(c->r, ev, len + 8);
    free(ev);
    cJSON_free(text);
    return rc;
}


/* One chunk for one choice: chat's delta (role when role is set, content
 * when text is not NULL) or completions' text, its logprobs, and
 * finish_reason (null while running).  text, when given, is
 * NUL-terminated at len (text streams and echoes are). */
static cJSON *
lmd_cmpl_chunk(struct lmd_cmpl *c, struct lmd_cmpl_choice *ch,
    const char *role, const char *text, size_t len, cJSON *lp,
    const char *finish)
{
    cJSON       *o, *choices, *item, *delta;
    const char  *s = text != NULL ? text : "";

    lmd_unused(len);
    o = lmd_cmpl_head(c, c->chat ? "chat.completion.chunk"
                                 : "text_completion");
    choices = o != NULL ? cJSON_AddArrayToObject(o, "choices") : NULL;
    item = cJSON_CreateObject();
    if (choices == NULL || item == NULL) {
        cJSON_Delete(o);
        cJSON_Delete(item);
        cJSON_Delete(lp);
        return NULL;
    }
    cJSON_AddItemToArray(choices, item);
    cJSON_AddNumberToObject(item, "index", ch->index);
    if (c->chat) {
        delta = cJSON_AddObjectToObject(item, "delta");
        if (delta != NULL && role != NULL) {
            cJSON_AddStringToObject(delta, "role", role);
        }
        if (delta != NULL && text != NULL) {
            cJSON_AddStringToObject(delta, "content", s);
        }
    } else {
        cJSON_AddStringToObject(item, "text", s);
    }
    cJSON_AddItemToObject(item, "logprobs",
                          lp != NULL ? lp : cJSON_CreateNull());
    if (finish != NULL) {
        cJSON_AddStringToObject(item, "finish_reason", finish);
    } else {
        cJSON_AddNullToObject(item, "finish_reason");
    }
    if (c->req.include_usage) {
        cJSON_AddNullToObject(o, "usage");
    }
    return o;
}


/* The SSE header, then each choice's opening chunk: chat's role, or the
 * prompt a completion echoes. */
static int
lmd_cmpl_stream_start(struct lmd_cmpl *c)
{
    struct lmd_http_request  *r = c->r;
    uint32_t                  i;
    cJSON                    *chunk;

    if (c->streaming) {
        return LMD_OK;
    }
    c->streaming = 1;
    lmd_http_header_out(r, "Cache-Control", "no-cache");
    lmd_http_header_out(r, "X-Accel-Buffering", "no");
    if (lmd_http_send_header(r, 200, "text/event-stream", -1) != LMD_OK) {
        return LMD_ERROR;
    }
    for (i = 0; i < c->req.n; i++) {
        if (c->chat) {
            chunk = lmd_cmpl_chunk(c, &c->choices[i], "assistant", "", 0,
                                   NULL, NULL);
        } else if (c->echo_len > 0) {
            chunk = lmd_cmpl_chunk(c, &c->choices[i], NULL, c->echo,
                                   c->echo_len, NULL, NULL);
        } else {
            continue;
        }
        if (lmd_cmpl_sse(c, chunk) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


/* Sends what ch has produced since its last event, and its end. */
static int
lmd_cmpl_stream_choice(struct lmd_cmpl *c, struct lmd_cmpl_choice *ch)
{
    const char  *text;
    size_t       len;

    lmd_text_stream_take(&ch->ts, &text, &len);
    if ((len > 0 || ch->lp != NULL)
        && lmd_cmpl_sse(c, lmd_cmpl_chunk(c, ch, NULL, text, len,
                                          lmd_cmpl_take_lp(ch), NULL))
           != LMD_OK)
    {
        return LMD_ERROR;
    }
    if (ch->finish_reason != NULL
        && lmd_cmpl_sse(c, lmd_cmpl_chunk(c, ch, NULL, NULL, 0, NULL,
                                          ch->finish_reason)) != LMD_OK)
    {
        return LMD_ERROR;
    }
    return LMD_OK;
}


/* While nothing has come back, a comment every few seconds keeps proxies
 * from timing out and finds a client that has gone. */
static void
lmd_cmpl_on_keepalive(void *data)
{
    struct lmd_cmpl  *c = data;
    static const char ka[] = ": keep-alive\n\n";

    if (c->r->ttft_ms >= 0) {
        return;
    }
    if (lmd_cmpl_stream_start(c) != LMD_OK
        || lmd_http_send_body(c->r, ka, sizeof(ka) - 1) != LMD_OK)
    {
        lmd_cmpl_close_all(c);
        lmd_http_finalize(c->r);
        return;
    }
    lmd_timer_add(c->keepalive, LMD_CMPL_KEEPALIVE_MS);
}


/* ------------------------------------------------------------ the end */

/* A choice has ended (cancelled: the loop dropped it unfinished): one
 * observation for /metrics. */
static void
lmd_cmpl_observe(struct lmd_cmpl *c, const struct lmd_gen_info *info,
    int cancelled)
{
    lmd_metrics_observe((size_t) (c->model - lmd_models_get(0)), info,
                        cancelled);
}


/* Cancels every choice still running (the client left, another choice
 * failed, the answer is complete). */
static void
lmd_cmpl_close_all(struct lmd_cmpl *c)
{
    struct lmd_gen_info  info;
    uint32_t             i;

    for (i = 0; c->choices != NULL && i < c->req.n; i++) {
        if (c->choices[i].g != NULL) {
            lmd_gen_info(c->choices[i].g, &info);
            lmd_cmpl_observe(c, &info, 1);
            lmd_gen_close(c->choices[i].g);
            c->choices[i].g = NULL;
        }
    }
    if (c->keepalive != NULL) {
        lmd_timer_del(c->keepalive);
    }
}


/* The pool goes: the request was finalized or the client left. */
static void
lmd_cmpl_cleanup(void *data)
{
    struct lmd_cmpl  *c = data;
    uint32_t          i;

    lmd_cmpl_close_all(c);
    lmd_timer_free(c->keepalive);
    c->keepalive = NULL;
    for (i = 0; c->choices != NULL && i < c->req.n; i++) {
        lmd_text_stream_free(&c->choices[i].ts);
        cJSON_Delete(c->choices[i].lp);
        c->choices[i].lp = NULL;
    }
    lmd_tokens_free(&c->prompt);
}


static void
lmd_cmpl_on_abort(struct lmd_http_request *r)
{
    struct lmd_cmpl  *c = r->ctx;

    /* the engine frees their blocks at its next step */
    lmd_cmpl_close_all(c);
    r->completion_tokens = lmd_cmpl_completion_tokens(c);
}


/* The request cannot go on: an HTTP error while nothing was sent, else
 * an error event and [DONE].  Finalizes. */
static void LMD_PRINTF(5, 6)
lmd_cmpl_fail(struct lmd_cmpl *c, int status, const char *type,
    const char *retry_after, const char *fmt, ...)
{
    struct lmd_http_request  *r = c->r;
    static const char         done[] = "data: [DONE]\n\n";
    char                      msg[512];
    cJSON                    *o, *e;
    va_list                   ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lmd_cmpl_close_all(c);
    r->completion_tokens = lmd_cmpl_completion_tokens(c);

    if (!r->header_sent) {
        if (retry_after != NULL) {
            lmd_http_header_out(r, "Retry-After", retry_after);
        }
        lmd_http_error(r, status, type, NULL, NULL, "%s", msg);
        return;
    }
    o = cJSON_CreateObject();
    e = o != NULL ? cJSON_AddObjectToObject(o, "error") : NULL;
    if (e != NULL) {
        cJSON_AddStringToObject(e, "message", msg);
        cJSON_AddStringToObject(e, "type", type);
        cJSON_AddNullToObject(e, "param");
        cJSON_AddNullToObject(e, "code");
    }
    lmd_cmpl_sse(c, o);
    lmd_http_send_body(r, done, sizeof(done) - 1);
    lmd_http_finalize(r);
}


/* Every choice has finished: the answer, or the stream's end. */
static void
lmd_cmpl_complete(struct lmd_cmpl *c)
{
    static const char        done[] = "data: [DONE]\n\n";
    struct lmd_http_request *r = c->r;
    struct lmd_cmpl_choice  *ch;
    const char              *text;
    cJSON                   *o, *choices, *item, *msg;
    char                    *s;
    size_t                   len;
    uint32_t                 i;

    r->completion_tokens = lmd_cmpl_completion_tokens(c);

    if (c->req.stream) {
        if (c->req.include_usage) {
            o = lmd_cmpl_head(c, c->chat ? "chat.completion.chunk"
                                         : "text_completion");
            if (o != NULL) {
                cJSON_AddArrayToObject(o, "choices");
                cJSON_AddItemToObject(o, "usage", lmd_cmpl_usage(c));
            }
            lmd_cmpl_sse(c, o);
        }
        lmd_http_send_body(r, done, sizeof(done) - 1);
        lmd_http_finalize(r);
        return;
    }

    o = lmd_cmpl_head(c, c->chat ? "chat.completion" : "text_completion");
    choices = o != NULL ? cJSON_AddArrayToObject(o, "choices") : NULL;
    if (choices == NULL) {
        cJSON_Delete(o);
        lmd_http_error(r, 500, NULL, NULL, NULL, "out of memory");
        return;
    }
    for (i = 0; i < c->req.n; i++) {
        ch = &c->choices[i];
        lmd_text_stream_take(&ch->ts, &text, &len);
        s = lmd_palloc(r->pool, c->echo_len + len + 1);
        item = cJSON_CreateObject();
        if (s == NULL || item == NULL) {
            cJSON_Delete(item);
            cJSON_Delete(o);
            lmd_http_error(r, 500, NULL, NULL, NULL, "out of memory");
            return;
        }
        memcpy(s, c->echo != NULL ? c->echo : "", c->echo_len);
        memcpy(s + c->echo_len, text, len);
        s[c->echo_len + len] = '\0';

        cJSON_AddItemToArray(choices, item);
        cJSON_AddNumberToObject(item, "index", ch->index);
        if (c->chat) {
            msg = cJSON_AddObjectToObject(item, "message");
            if (msg != NULL) {
                cJSON_AddStringToObject(msg, "role", "assistant");
                cJSON_AddStringToObject(msg, "content", s);
                cJSON_AddNullToObject(msg, "refusal");
            }
        } else {
            cJSON_AddStringToObject(item, "text", s);
        }
        cJSON_AddItemToObject(item, "logprobs", lmd_cmpl_take_lp(ch));
        cJSON_AddStringToObject(item, "finish_reason", ch->finish_reason);
    }
    cJSON_AddItemToObject(o, "usage", lmd_cmpl_usage(c));
    lmd_cmpl_send_json(r, o);
}


/* -------------------------------------------------------- engine output */

/* Takes ch's new tokens through its text stream; 1 when a stop string
 * matched. */
static int
lmd_cmpl_take(struct lmd_cmpl_choice *ch)
{
    struct lmd_gen_token   tok[LMD_CMPL_TAKE];
    struct lmd_cmpl_bytes  b;
    uint64_t               bytes, chars;
    size_t                 n, i;
    int                    stopped;

    while ((n = lmd_gen_take(ch->g, tok, LMD_CMPL_TAKE)) > 0) {
        for (i = 0; i < n; i++) {
            bytes = ch->ts.decoded;
            chars = ch->ts.decoded_chars;
            ch->taken++;
            stopped = lmd_text_stream_push(&ch->ts, tok[i].id);
            if (!ch->c->req.logprobs) {
                /* nothing more to do */
            } else if (ch->c->chat) {
                lmd_cmpl_sampled_bytes(ch, tok[i].id, bytes == 0, &b);
                lmd_cmpl_lp_chat(ch, &tok[i], &b);
            } else {
                lmd_cmpl_sampled_bytes(ch, tok[i].id, bytes == 0, &b);
                lmd_cmpl_lp_completion(ch, &tok[i], &b, chars);
            }
            if (stopped) {
                return 1;
            }
        }
    }
    return 0;
}


static void
lmd_cmpl_on_output(struct lmd_gen *g, void *data)
{
    struct lmd_cmpl_choice   *ch = data;
    struct lmd_cmpl          *c = ch->c;
    struct lmd_http_request  *r = c->r;
    struct lmd_gen_info       info;
    int                       stopped;

    stopped = lmd_cmpl_take(ch);
    if (ch->taken > 0 && r->ttft_ms < 0) {
        r->ttft_ms = (int64_t) (lmd_event_now_ms() - r->start_ms);
    }
    lmd_gen_info(g, &info);
    ch->cached_tokens = info.cached_tokens;
    ch->completion_tokens = ch->taken;

    if (stopped) {
        ch->finish_reason = "stop";
    } else {
        switch (info.finish) {
        case LMD_GEN_RUNNING:
            break;
        case LMD_GEN_STOP:
        case LMD_GEN_LENGTH:
            /* the stop id is counted (as vLLM does), not output */
            ch->completion_tokens = info.completion_tokens;
            lmd_text_stream_finish(&ch->ts);
            ch->finish_reason = info.finish == LMD_GEN_LENGTH
                                && !ch->ts.stopped ? "length" : "stop";
            break;
        case LMD_GEN_TIMEOUT:
            lmd_cmpl_observe(c, &info, 0);
            lmd_gen_close(g);
            ch->g = NULL;
            lmd_cmpl_fail(c, 503, "server_error", "5", "the server is "
                          "busy: request waited %llu s in the queue",
                          (unsigned long long) ((info.finished_ns
                                                 - info.submitted_ns)
                                                / 1000000000u));
            return;
        default:
            lmd_cmpl_observe(c, &info, 0);
            lmd_gen_close(g);
            ch->g = NULL;
            lmd_cmpl_fail(c, 500, "server_error", NULL, "the engine "
                          "failed: %s", info.err[0] ? info.err : "error");
            return;
        }
    }
    r->completion_tokens = lmd_cmpl_completion_tokens(c);
    if (ch->ts.failed) {
        lmd_cmpl_fail(c, 500, "server_error", NULL, "out of memory");
        return;
    }
    if (ch->finish_reason != NULL) {
        lmd_cmpl_observe(c, &info, 0);
        lmd_gen_close(g);
        ch->g = NULL;
        c->n_open--;
    }

    if (c->req.stream && (ch->taken > 0 || ch->finish_reason != NULL)) {
        if (lmd_cmpl_stream_start(c) != LMD_OK
            || lmd_cmpl_stream_choice(c, ch) != LMD_OK)
        {
            lmd_cmpl_close_all(c);
            lmd_http_finalize(r);
            return;
        }
    }
    if (c->n_open == 0) {
        lmd_cmpl_complete(c);
    }
}


/* -------------------------------------------------------------- prompts */

/* The messages as the chat template wants them. */
static cJSON *
lmd_cmpl_messages(const struct lmd_oai_request *req)
{
    const struct lmd_oai_message  *m;
    cJSON                         *a, *o;
    size_t                         i;

    a = cJSON_CreateArray();
    for (i = 0; a != NULL && i < req->n_messages; i++) {
        m = &req->messages[i];
        o = cJSON_CreateObject();
        if (o == NULL) {
            cJSON_Delete(a);
            return NULL;
        }
        cJSON_AddStringToObject(o, "role", m->role);
        cJSON_AddStringToObject(o, "content", m->content);
        if (m->name != NULL) {
            cJSON_AddStringToObject(o, "name", m->name);
        }
        cJSON_AddItemToArray(a, o);
    }
    return a;
}


/* The prompt's ids into c->prompt (and the echo).  LMD_OK, or LMD_DONE
 * after answering an error. */
static int
lmd_cmpl_prompt(struct lmd_cmpl *c)
{
    struct lmd_http_request  *r = c->r;
    const struct lmd_oai_request *req = &c->req;
    const char               *param = c->chat ? "messages" : "prompt";
    cJSON                    *msgs;
    char                      err[LMD_ERR_LEN], *text;
    size_t                    i, len;
    int                       rc;

    err[0] = '\0';
    if (c->chat) {
        msgs = lmd_cmpl_messages(req);
        if (msgs == NULL) {
            lmd_http_error(r, 500, NULL, NULL, NULL, "out of memory");
            return LMD_DONE;
        }
        rc = lmd_model_text_chat_ids(c->text, msgs, &c->prompt, err,
                                     sizeof(err));
        cJSON_Delete(msgs);
        if (rc != LMD_OK) {
            lmd_http_error(r, 400, "invalid_request_error", "messages",
                           NULL, "The chat template of model `%s` failed "
                           "on these messages: %s", c->model->name, err);
            return LMD_DONE;
        }

    } else if (req->prompt != NULL) {
        len = strlen(req->prompt);
        if (lmd_tokenizer_encode(c->text->tok, req->prompt, len, 1,
                                 &c->prompt, err, sizeof(err)) != LMD_OK)
        {
            lmd_http_error(r, 500, NULL, NULL, NULL, "tokenizing the "
                           "prompt: %s", err);
            return LMD_DONE;
        }
        if (req->echo) {
            c->echo = req->prompt;
            c->echo_len = len;
        }

    } else {
        for (i = 0; i < req->n_prompt_ids; i++) {
            if (req->prompt_ids[i] < 0 || (uint32_t) req->prompt_ids[i]
                                          >= c->text->cfg.vocab_size)
            {
                lmd_http_error(r, 400, "invalid_request_error", "prompt",
                               NULL, "Invalid token id %d at prompt[%zu]: "
                               "model `%s` has %u ids.",
                               (int) req->prompt_ids[i], i, c->model->name,
                               c->text->cfg.vocab_size);
                return LMD_DONE;
            }
            if (lmd_tokens_push(&c->prompt, req->prompt_ids[i]) != LMD_OK) {
                lmd_http_error(r, 500, NULL, NULL, NULL, "out of memory");
                return LMD_DONE;
            }
        }
        if (req->echo && lmd_tokenizer_decode(c->text->tok, req->prompt_ids,
                                              req->n_prompt_ids, 1, &text,
                                              &len) == LMD_OK)
        {
            c->echo = lmd_pstrndup(r->pool, text, len);
            c->echo_len = c->echo != NULL ? len : 0;
            free(text);
        }
    }

    for (i = 0; i < c->echo_len; i++) {
        c->echo_chars += ((unsigned char) c->echo[i] & 0xc0) != 0x80;
    }
    if (c->prompt.n == 0) {
        lmd_http_error(r, 400, "invalid_request_error", param, NULL,
                       "The %s is empty.", c->chat ? "conversation"
                                                   : "prompt");
        return LMD_DONE;
    }
    return LMD_OK;
}


/* max_tokens against the context: LMD_OK with *max set, or LMD_DONE
 * after answering 400. */
static int
lmd_cmpl_limits(struct lmd_cmpl *c, uint32_t *max)
{
    struct lmd_engine_stats   st;
    struct lmd_http_request  *r = c->r;
    const char               *what = c->chat ? "messages" : "prompt";
    uint64_t                  n = c->prompt.n;
    uint32_t                  ctx = c->text->max_context;

    lmd_engine_stats(c->model->engine, &st);
    if (st.max_context > 0 && (ctx == 0 || st.max_context < ctx)) {
        ctx = st.max_context;
    }
    if (ctx == 0) {
        *max = c->req.has & LMD_OAI_HAS_MAX_TOKENS ? c->req.max_tokens
                                                   : LMD_CMPL_DEFAULT_MAX;
        return LMD_OK;
    }
    if (n >= ctx) {
        lmd_http_error(r, 400, "invalid_request_error",
                       c->chat ? "messages" : "prompt",
                       "context_length_exceeded", "This model's maximum "
                       "context length is %u tokens. However, your %s "
                       "resulted in %llu tokens. Please reduce the length "
                       "of the %s.", ctx, what, (unsigned long long) n,
                       what);
        return LMD_DONE;
    }
    if (!(c->req.has & LMD_OAI_HAS_MAX_TOKENS)) {
        *max = (uint32_t) (ctx - n);
        return LMD_OK;
    }
    if (n + c->req.max_tokens > ctx) {
        lmd_http_error(r, 400, "invalid_request_error", "max_tokens",
                       "context_length_exceeded", "This model's maximum "
                       "context length is %u tokens. However, you "
                       "requested %llu tokens (%llu in the %s, %u in the "
                       "completion). Please reduce the length of the %s "
                       "or completion.", ctx,
                       (unsigned long long) (n + c->req.max_tokens),
                       (unsigned long long) n, what, c->req.max_tokens,
                       what);
        return LMD_DONE;
    }
    *max = c->req.max_tokens;
    return LMD_OK;
}


/* ------------------------------------------------------------- submit */

/* One generation per choice.  LMD_OK, or LMD_DONE after answering an
 * error (the choices submitted so far are closed by the cleanup). */
static int
lmd_cmpl_submit(struct lmd_cmpl *c, uint32_t max_tokens)
{
    struct lmd_http_request  *r = c->r;
    struct lmd_cmpl_choice   *ch;
    struct lmd_gen_params     p;
    const int32_t            *prime = NULL;
    size_t                    n_prime = 0;
    char                      err[LMD_ERR_LEN];
    uint32_t                  i;
    int                       rc;

    memset(&p, 0, sizeof(p));
    p.sampling = c->req.sampling;
    lmd_model_text_defaults(&c->text->cfg, c->req.has, &p.sampling);
    p.max_tokens = max_tokens;
    p.stop_ids = c->text->stop_ids;
    p.n_stop_ids = c->text->n_stop_ids;
    p.ignore_eos = c->req.ignore_eos;
    p.logprobs = c->req.logprobs;

    if (!c->chat) {
        /* a completion continues its prompt's text (leading spaces), as
         * lmd generate prints it */
        n_prime = lmd_min(c->prompt.n, (size_t) LMD_CMPL_PRIME);
        prime = c->prompt.ids + c->prompt.n - n_prime;
    }

    for (i = 0; i < c->req.n; i++) {
        ch = &c->choices[i];
        ch->c = c;
        ch->index = i;
        if (lmd_text_stream_init(&ch->ts, c->text, c->req.stop,
                                 c->req.n_stop, prime, n_prime) != LMD_OK)
        {
            lmd_http_error(r, 500, NULL, NULL, NULL, "out of memory");
            return LMD_DONE;
        }
        if (c->req.sampling.has_seed) {
            p.sampling.seed = c->req.sampling.seed + i;
        }
        err[0] = '\0';
        ch->g = lmd_engine_submit(c->model->engine, c->prompt.ids,
                                  (uint32_t) c->prompt.n, &p,
                                  lmd_cmpl_on_output, ch, &rc, err,
                                  sizeof(err));
        if (ch->g != NULL) {
            c->n_open++;
            continue;
        }
        switch (rc) {
        case LMD_AGAIN:
            lmd_http_header_out(r, "Retry-After", "1");
            lmd_http_error(r, 429, "rate_limit_error", NULL,
                           "rate_limit_exceeded", "The server is busy: "
                           "too many requests wait for model `%s` (%s). "
                           "Please retry.", c->model->name, err);
            break;
        case LMD_DECLINED:
            if (lmd_engine_state(c->model->engine, NULL, 0)
                != LMD_ENGINE_READY)
            {
                lmd_http_header_out(r, "Retry-After", "5");
                lmd_http_error(r, 503, "server_error", NULL, NULL,
                               "The model `%s` is not ready: %s",
                               c->model->name, err);
            } else {
                lmd_http_error(r, 400, "invalid_request_error",
                               c->req.has & LMD_OAI_HAS_MAX_TOKENS
                               ? "max_tokens"
                               : c->chat ? "messages" : "prompt",
                               NULL, "%s", err);
            }
            break;
        default:
            lmd_http_error(r, 500, NULL, NULL, NULL, "%s",
                           err[0] ? err : "out of memory");
            break;
        }
        return LMD_DONE;
    }
    return LMD_OK;
}


/* ------------------------------------------------------------- handler */

static int
lmd_cmpl_handler(struct lmd_http_request *r, int kind)
{
    struct lmd_oai_error   e;
    struct lmd_cmpl       *c;
    uint32_t               max_tokens;

    c = lmd_pcalloc(r->pool, sizeof(struct lmd_cmpl));
    if (c == NULL
        || lmd_pool_cleanup_add(r->pool, lmd_cmpl_cleanup, c) != LMD_OK)
    {
        return 500;
    }
    c->r = r;
    c->chat = kind == LMD_OAI_CHAT;
    c->created = (double) time(NULL);
    r->ttft_ms = -1;

    if (lmd_openai_parse(r->pool, kind, r->body, r->body_len, &c->req, &e)
        != LMD_OK)
    {
        lmd_http_error(r, e.status ? e.status : 400, "invalid_request_error",
                       e.param, NULL, "%s", e.message);
        return LMD_OK;
    }

    c->model = lmd_models_find(c->req.model, strlen(c->req.model));
    if (c->model == NULL) {
        lmd_http_error(r, 404, "invalid_request_error", "model",
                       "model_not_found", "The model `%s` does not exist.",
                       c->req.model);
        return LMD_OK;
    }
    if (c->model->state != LMD_ENGINE_READY) {
        lmd_http_header_out(r, "Retry-After", "5");
        lmd_http_error(r, 503, "server_error", NULL, NULL,
                       "The model `%s` is %s. Please retry later.",
                       c->model->name,
                       c->model->state == LMD_ENGINE_LOADING
                       ? "still loading" : "not available");
        return LMD_OK;
    }
    c->text = c->model->text;
    if (c->text == NULL) {
        lmd_http_error(r, 400, "invalid_request_error", "model", NULL,
                       "The model `%s` has no tokenizer (no tokenizer.json "
                       "or tokenizer.model in its folder): it serves no "
                       "text.", c->model->name);
        return LMD_OK;
    }

    c->choices = lmd_pcalloc(r->pool,
                             c->req.n * sizeof(struct lmd_cmpl_choice));
    if (c->choices == NULL) {
        return 500;
    }
    lmd_cmpl_make_id(c);

    if (lmd_cmpl_prompt(c) != LMD_OK) {
        return LMD_OK;
    }
    r->log_tokens = 1;
    r->prompt_tokens = (uint32_t) c->prompt.n;
    if (lmd_cmpl_limits(c, &max_tokens) != LMD_OK) {
        return LMD_OK;
    }

    if (c->req.stream) {
        c->keepalive = lmd_timer_new(lmd_cmpl_on_keepalive, c);
        if (c->keepalive == NULL) {
            return 500;
        }
    }
    if (lmd_cmpl_submit(c, max_tokens) != LMD_OK) {
        return LMD_OK;
    }
    r->ctx = c;
    r->on_abort = lmd_cmpl_on_abort;
    if (c->keepalive != NULL) {
        lmd_timer_add(c->keepalive, LMD_CMPL_KEEPALIVE_MS);
    }
    return LMD_AGAIN;
}


int
lmd_http_chat_completions_handler(struct lmd_http_request *r)
{
    return lmd_cmpl_handler(r, LMD_OAI_CHAT);
}


int
lmd_http_completions_handler(struct lmd_http_request *r)
{
    return lmd_cmpl_handler(r, LMD_OAI_COMPLETION);
}
