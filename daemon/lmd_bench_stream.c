/*
 * lmd_bench_stream.c -- reading what a streaming OpenAI server sends back:
 * server-sent events (the WHATWG "text/event-stream" rules: lines ended by
 * LF or CRLF, "data:" lines joined, a blank line ends an event, ":" lines
 * are comments), the JSON chunk in each event, and error bodies.
 *
 * Pure functions of their input, no loop or socket: lmd_bench_run.c feeds
 * them, tests/unit/test_bench.c checks them.
 */

#include "lmd_bench.h"

#include <cjson/cJSON.h>

#define LMD_BENCH_SSE_MAX  (4u << 20)    /* bytes in one line or event */


/* --------------------------------------------------------------- SSE */

static int
lmd_bench_grow(char **buf, size_t *cap, size_t need)
{
    size_t   cap2;
    char    *p;

    if (need <= *cap) {
        return LMD_OK;
    }
    if (need > LMD_BENCH_SSE_MAX + 1) {
        return LMD_ERROR;
    }
    cap2 = lmd_max(*cap * 2, lmd_max(need, (size_t) 256));
    p = realloc(*buf, cap2);
    if (p == NULL) {
        return LMD_ERROR;
    }
    *buf = p;
    *cap = cap2;
    return LMD_OK;
}


/* One complete line, its LF removed. */
static int
lmd_bench_sse_line(struct lmd_bench_sse *s, const char *l, size_t len,
    lmd_bench_event_pt cb, void *data, char *err, size_t errlen)
{
    const char  *colon, *v;
    size_t       flen, vlen;
    int          rc;

    if (len > 0 && l[len - 1] == '\r') {
        len--;
    }

    if (len == 0) {                         /* the event is complete */
        if (!s->has_data) {
            s->error_event = 0;
            return LMD_OK;
        }
        s->data[s->data_len] = '\0';
        rc = cb(data, s->data, s->data_len, s->error_event);
        s->data_len = 0;
        s->has_data = 0;
        s->error_event = 0;
        return rc;
    }
    if (l[0] == ':') {                      /* a comment: keep-alive */
        return LMD_OK;
    }

    colon = memchr(l, ':', len);
    flen = colon != NULL ? (size_t) (colon - l) : len;
    v = colon != NULL ? colon + 1 : l + len;
    vlen = (size_t) (l + len - v);
    if (vlen > 0 && v[0] == ' ') {
        v++;
        vlen--;
    }

    if (flen == 4 && memcmp(l, "data", 4) == 0) {
        if (lmd_bench_grow(&s->data, &s->data_cap,
                           s->data_len + vlen + 2) != LMD_OK)
        {
            snprintf(err, errlen, "malformed event stream: an event over "
                     "%u bytes", LMD_BENCH_SSE_MAX);
            return LMD_ERROR;
        }
        if (s->has_data) {
            s->data[s->data_len++] = '\n';
        }
        memcpy(s->data + s->data_len, v, vlen);
        s->data_len += vlen;
        s->has_data = 1;
    } else if (flen == 5 && memcmp(l, "event", 5) == 0) {
        s->error_event = vlen == 5 && memcmp(v, "error", 5) == 0;
    }
    /* id, retry and unknown fields: nothing to measure */
    return LMD_OK;
}


int
lmd_bench_sse_feed(struct lmd_bench_sse *s, const char *at, size_t len,
    lmd_bench_event_pt cb, void *data, char *err, size_t errlen)
{
    const char  *nl, *end = at + len;
    size_t       n, whole;

    while (at < end) {
        nl = memchr(at, '\n', (size_t) (end - at));
        n = (size_t) ((nl != NULL ? nl : end) - at);

        if (nl != NULL && s->line_len == 0) {
            /* a whole line in the input: no copy */
            if (lmd_bench_sse_line(s, at, n, cb, data, err, errlen)
                != LMD_OK)
            {
                return LMD_ERROR;
            }
        } else {
            /* the start or the middle of a line split across reads */
            if (lmd_bench_grow(&s->line, &s->line_cap, s->line_len + n + 1)
                != LMD_OK)
            {
                snprintf(err, errlen, "malformed event stream: a line "
                         "over %u bytes", LMD_BENCH_SSE_MAX);
                return LMD_ERROR;
            }
            memcpy(s->line + s->line_len, at, n);
            s->line_len += n;
            if (nl != NULL) {
                whole = s->line_len;
                s->line_len = 0;
                if (lmd_bench_sse_line(s, s->line, whole, cb, data, err,
                                       errlen) != LMD_OK)
                {
                    return LMD_ERROR;
                }
            }
        }
        if (nl == NULL) {
            break;
        }
        at = nl + 1;
    }
    return LMD_OK;
}


int
lmd_bench_sse_pending(const struct lmd_bench_sse *s)
{
    return s->line_len > 0 || s->has_data;
}


void
lmd_bench_sse_free(struct lmd_bench_sse *s)
{
    free(s->line);
    free(s->data);
    memset(s, 0, sizeof(*s));
}


/* ------------------------------------------------------------- JSON */

/* The text of an "error" member, a string or an object's "message",
 * after prefix. */
static int
lmd_bench_error_message(const cJSON *e, const char *prefix, char *err,
    size_t errlen)
{
    const cJSON  *m;

    m = cJSON_IsString(e) ? e : cJSON_GetObjectItemCaseSensitive(e,
                                                                 "message");
    if (!cJSON_IsString(m)) {
        return LMD_DECLINED;
    }
    snprintf(err, errlen, "%s%.200s", prefix, m->valuestring);
    return LMD_OK;
}


static long long
lmd_bench_count(const cJSON *obj, const char *name)
{
    const cJSON  *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (!cJSON_IsNumber(v) || v->valuedouble < 0
        || v->valuedouble > 1e15)
    {
        return -1;
    }
    return (long long) v->valuedouble;
}


static size_t
lmd_bench_strlen(const cJSON *obj, const char *name)
{
    const cJSON  *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    return cJSON_IsString(v) ? strlen(v->valuestring) : 0;
}


int
lmd_bench_chunk_parse(const char *ev, size_t len, int endpoint,
    struct lmd_bench_chunk *c, char *err, size_t errlen)
{
    const cJSON  *e, *choices, *ch, *delta, *usage;
    cJSON        *root;

    memset(c, 0, sizeof(*c));
    c->prompt_tokens = -1;
    c->completion_tokens = -1;

    if (len == 6 && memcmp(ev, "[DONE]", 6) == 0) {
        c->done = 1;
        return LMD_OK;
    }
    root = cJSON_ParseWithLength(ev, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        snprintf(err, errlen, "malformed event: not a JSON object: "
                 "\"%.60s%s\"", ev, len > 60 ? "..." : "");
        cJSON_Delete(root);
        return LMD_ERROR;
    }

    e = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (e != NULL && !cJSON_IsNull(e)) {
        if (lmd_bench_error_message(e, "error in the stream: ", err,
                                    errlen) != LMD_OK)
        {
            snprintf(err, errlen, "an error in the stream, without a "
                     "message");
        }
        cJSON_Delete(root);
        return LMD_ERROR;
    }

    choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    ch = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    if (ch != NULL && endpoint == LMD_BENCH_CHAT) {
        delta = cJSON_GetObjectItemCaseSensitive(ch, "delta");
        /* a reasoning model's thinking is output too */
        c->content_len = lmd_bench_strlen(delta, "content")
                         + lmd_bench_strlen(delta, "reasoning_content");
    } else if (ch != NULL) {
        c->content_len = lmd_bench_strlen(ch, "text");
    }

    usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
    if (cJSON_IsObject(usage)) {
        c->prompt_tokens = lmd_bench_count(usage, "prompt_tokens");
        c->completion_tokens = lmd_bench_count(usage, "completion_tokens");
    }
    cJSON_Delete(root);
    return LMD_OK;
}


void
lmd_bench_error_body(const char *body, size_t len, char *err, size_t errlen)
{
    const cJSON  *e;
    cJSON        *root;
    size_t        n;
    char         *p;

    root = body != NULL ? cJSON_ParseWithLength(body, len) : NULL;
    if (cJSON_IsObject(root)) {
        /* OpenAI's {"error": ...}, FastAPI's {"detail": "..."} */
        e = cJSON_GetObjectItemCaseSensitive(root, "error");
        if (e == NULL) {
            e = cJSON_GetObjectItemCaseSensitive(root, "detail");
        }
        if (e == NULL) {
            e = root;
        }
        if (lmd_bench_error_message(e, "", err, errlen) == LMD_OK) {
            cJSON_Delete(root);
            return;
        }
    }
    cJSON_Delete(root);

    /* the body's start, on one line */
    n = lmd_min(len, (size_t) 120);
    if (n == 0 || errlen < 4) {
        snprintf(err, errlen, "%s", errlen > 2 ? "no body" : "");
        return;
    }
    snprintf(err, errlen, "%.*s%s", (int) n, body, len > n ? "..." : "");
    for (p = err; *p != '\0'; p++) {
        if ((unsigned char) *p < 0x20) {
            *p = ' ';
        }
    }
}
