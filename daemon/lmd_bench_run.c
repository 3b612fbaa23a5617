/*
 * lmd_bench_run.c -- the requests of `lmd bench` on the event loop: a
 * closed loop keeping C requests in flight, or an open loop sending at
 * Poisson arrival times; what each request measures as its events come;
 * the progress line; GET /v1/models.
 *
 * Design: every request has a slot in b->reqs, with its body built
 * already.  Sending one is lmd_bench_call_start(); from then on the
 * HTTP layer calls lmd_bench_req_body() with the stream's bytes and
 * lmd_bench_req_done() once, which settles success or failure and
 * calls lmd_bench_req_finished() to count it and send the next.  Times
 * are taken when the loop sees the bytes (lmd_bench_now()), so the
 * measured latency includes this process's own reading, as any
 * client's does.
 */

#include "lmd_bench.h"
#include "lmd_event.h"

#include <math.h>
#include <signal.h>

#include <cjson/cJSON.h>

#define LMD_BENCH_PROGRESS_MS   250
#define LMD_BENCH_ERRBODY_MAX   1024        /* bytes kept of an error */
#define LMD_BENCH_MODELS_MAX    (1u << 20)  /* bytes of /v1/models */

static void lmd_bench_fill(struct lmd_bench *b);


/* ------------------------------------------------------ measurements */

static int
lmd_bench_push(double **v, size_t *n, size_t *cap, double x)
{
    size_t   cap2;
    double  *p;

    if (*n == *cap) {
        cap2 = lmd_max(*cap * 2, (size_t) 64);
        p = realloc(*v, cap2 * sizeof(double));
        if (p == NULL) {
            return LMD_ERROR;
        }
        *v = p;
        *cap = cap2;
    }
    (*v)[(*n)++] = x;
    return LMD_OK;
}


/* Records why r failed; the first reason stays. */
static void
lmd_bench_req_fail(struct lmd_bench_req *r, const char *fmt, ...)
    LMD_PRINTF(2, 3);

static void
lmd_bench_req_fail(struct lmd_bench_req *r, const char *fmt, ...)
{
    va_list  ap;
    char     buf[LMD_BENCH_ERR_LEN];

    if (r->error != NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    r->error = strdup(buf);
    if (r->error == NULL) {
        r->bench->oom = 1;
    }
    r->failed = 1;
}


/* One event of r's stream. */
static int
lmd_bench_req_event(void *data, const char *ev, size_t len, int error_event)
{
    struct lmd_bench_req    *r = data;
    struct lmd_bench_chunk   c;
    char                     err[LMD_BENCH_ERR_LEN];
    double                   now;

    if (error_event) {
        lmd_bench_error_body(ev, len, err, sizeof(err));
        lmd_bench_req_fail(r, "error event: %s", err);
        return LMD_ERROR;
    }
    if (lmd_bench_chunk_parse(ev, len, r->bench->o->endpoint, &c, err,
                              sizeof(err)) != LMD_OK)
    {
        lmd_bench_req_fail(r, "%s", err);
        return LMD_ERROR;
    }
    if (c.done) {
        r->got_done = 1;
        return LMD_OK;
    }
    if (c.content_len > 0) {
        now = lmd_bench_now();
        if (r->events == 0) {
            r->t_first = now;
        } else if (lmd_bench_push(&r->itl, &r->n_itl, &r->itl_cap,
                                  now - r->t_last) != LMD_OK)
        {
            r->bench->oom = 1;
        }
        r->t_last = now;
        r->events++;
        r->bench->live_tokens++;
    }
    if (c.prompt_tokens >= 0) {
        r->prompt_tokens = c.prompt_tokens;
    }
    if (c.completion_tokens >= 0) {
        r->completion_tokens = c.completion_tokens;
    }
    return LMD_OK;
}


static int
lmd_bench_req_body(struct lmd_bench_call *call, const char *at, size_t len)
{
    struct lmd_bench_req  *r = call->data;
    char                   err[LMD_BENCH_ERR_LEN];
    size_t                 n;

    if (call->status != 200) {
        /* keep the start of an error body for the message */
        n = lmd_min(len, LMD_BENCH_ERRBODY_MAX - r->errbody_len);
        if (n == 0) {
            return LMD_OK;
        }
        if (r->errbody == NULL) {
            r->errbody = malloc(LMD_BENCH_ERRBODY_MAX);
            if (r->errbody == NULL) {
                return LMD_OK;
            }
        }
        memcpy(r->errbody + r->errbody_len, at, n);
        r->errbody_len += n;
        return LMD_OK;
    }
    if (!r->checked && strcasestr(call->content_type, "text/event-stream")
                       == NULL)
    {
        lmd_bench_req_fail(r, "the response is not an event stream "
                           "(Content-Type: %s)", call->content_type[0]
                           ? call->content_type : "none");
        return LMD_ERROR;
    }
    r->checked = 1;
    err[0] = '\0';
    if (lmd_bench_sse_feed(&r->sse, at, len, lmd_bench_req_event, r, err,
                           sizeof(err)) != LMD_OK)
    {
        if (err[0] != '\0') {
            lmd_bench_req_fail(r, "%s", err);
        }
        return LMD_ERROR;
    }
    return LMD_OK;
}


static void
lmd_bench_req_done(struct lmd_bench_call *call, const char *err)
{
    struct lmd_bench_req  *r = call->data;
    char                   why[LMD_BENCH_ERR_LEN];

    r->t_end = lmd_bench_now();

    if (err != NULL) {
        lmd_bench_req_fail(r, "%s", err);
    } else if (call->status != 200) {
        lmd_bench_error_body(r->errbody, r->errbody_len, why, sizeof(why));
        lmd_bench_req_fail(r, "HTTP %d: %s", call->status, why);
    } else {
        /* an event the stream did not end with a blank line */
        if (lmd_bench_sse_pending(&r->sse)
            && lmd_bench_sse_feed(&r->sse, "\n\n", 2, lmd_bench_req_event,
                                  r, why, sizeof(why)) != LMD_OK)
        {
            lmd_bench_req_fail(r, "%s", why);
        }
        if (!r->got_done) {
            lmd_bench_req_fail(r, "the stream ended without "
                               "\"data: [DONE]\"");
        } else if (r->events == 0) {
            lmd_bench_req_fail(r, "the stream held no text");
        }
    }
    lmd_bench_req_finished(r);
}


void
lmd_bench_req_free(struct lmd_bench_req *r)
{
    free(r->body);
    r->body = NULL;
    free(r->errbody);
    r->errbody = NULL;
    free(r->itl);
    r->itl = NULL;
    lmd_bench_sse_free(&r->sse);
    free(r->error);
    r->error = NULL;
}


/* ---------------------------------------------------------- the loop */

static void
lmd_bench_progress_clear(struct lmd_bench *b)
{
    if (b->progress && b->shown) {
        fputs("\r\033[K", stderr);
        b->shown = 0;
    }
}


static void
lmd_bench_progress(void *data)
{
    struct lmd_bench  *b = data;
    double             t = lmd_bench_now() - b->t_start;

    fprintf(stderr, "\r\033[Klmd bench: %zu/%zu done, %zu running, "
            "%zu failed, %.1f tok/s, %zu connections", b->finished, b->n,
            b->running, b->failed, t > 0 ? (double) b->live_tokens / t : 0.0,
            lmd_bench_client_conns(b->client));
    b->shown = 1;
    lmd_timer_add(b->progress_timer, LMD_BENCH_PROGRESS_MS);
}


void
lmd_bench_req_finished(struct lmd_bench_req *r)
{
    struct lmd_bench  *b = r->bench;
    size_t             i;

    r->finished = 1;
    r->ok = !r->failed;
    b->running--;
    b->finished++;
    b->t_end = r->t_end;

    if (r->completion_tokens >= 0) {
        b->live_tokens += (uint64_t) r->completion_tokens - r->events;
    }
    if (r->ok) {
        for (i = 0; i < r->n_itl; i++) {
            if (lmd_bench_push(&b->itl, &b->n_itl, &b->itl_cap, r->itl[i])
                != LMD_OK)
            {
                b->oom = 1;
                break;
            }
        }
    } else {
        b->failed++;
        if (b->failed <= LMD_BENCH_SHOW_ERRORS) {
            lmd_bench_progress_clear(b);
            fprintf(stderr, "lmd bench: request %zu failed: %s\n",
                    (size_t) (r - b->reqs) + 1,
                    r->error != NULL ? r->error : "out of memory");
        }
        /* keep the message for --json; the rest of r goes */
        if (b->failed <= LMD_BENCH_SHOW_ERRORS && r->error != NULL) {
            b->errors[b->failed - 1] = r->error;
            r->error = NULL;
        }
    }
    lmd_bench_req_free(r);

    if (b->finished == b->n) {
        lmd_event_stop();
        return;
    }
    lmd_bench_fill(b);
}


static void
lmd_bench_send(struct lmd_bench *b, struct lmd_bench_req *r)
{
    char  err[LMD_ERR_LEN];

    r->call.method = "POST";
    r->call.path = b->path;
    r->call.body = r->body;
    r->call.body_len = r->body_len;
    r->call.on_body = lmd_bench_req_body;
    r->call.on_done = lmd_bench_req_done;
    r->call.data = r;
    b->running++;
    if (lmd_bench_call_start(b->client, &r->call, err, sizeof(err))
        != LMD_OK)
    {
        r->t_end = lmd_bench_now();
        lmd_bench_req_fail(r, "%s", err);
        lmd_bench_req_finished(r);
    }
}


/* Sends what is due: up to the concurrency, or what has arrived. */
static void
lmd_bench_fill(struct lmd_bench *b)
{
    double    now;
    uint64_t  ms;

    if (b->filling || b->interrupted) {
        return;                 /* the outer call goes on (no recursion) */
    }
    b->filling = 1;
    if (b->arrivals == NULL) {
        while (b->next < b->n && b->running < (size_t) b->o->concurrency) {
            lmd_bench_send(b, &b->reqs[b->next++]);
        }
    } else {
        now = lmd_bench_now() - b->t_start;
        while (b->next < b->n && b->arrivals[b->next] <= now) {
            lmd_bench_send(b, &b->reqs[b->next++]);
        }
        if (b->next < b->n && !lmd_timer_pending(b->arrival_timer)) {
            ms = (uint64_t) ceil((b->arrivals[b->next] - now) * 1000.0);
            lmd_timer_add(b->arrival_timer, ms);
        }
    }
    b->filling = 0;
}


static void
lmd_bench_arrival(void *data)
{
    lmd_bench_fill(data);
}


static void
lmd_bench_sigint(void *data)
{
    struct lmd_bench  *b = data;

    b->interrupted = 1;
    lmd_event_stop();
}


int
lmd_bench_run(struct lmd_bench *b, char *err, size_t errlen)
{
    int  rc = LMD_OK;

    b->arrival_timer = lmd_timer_new(lmd_bench_arrival, b);
    b->progress_timer = lmd_timer_new(lmd_bench_progress, b);
    if (b->arrival_timer == NULL || b->progress_timer == NULL
        || lmd_signal_add(SIGINT, lmd_bench_sigint, b) != LMD_OK)
    {
        snprintf(err, errlen, "cannot set up the event loop");
        rc = LMD_ERROR;
        goto done;
    }

    b->t_start = lmd_bench_now();
    b->t_end = b->t_start;
    if (b->progress) {
        lmd_timer_add(b->progress_timer, LMD_BENCH_PROGRESS_MS);
    }
    lmd_bench_fill(b);
    /* a loop started after every request ended would never stop */
    if (b->finished < b->n && lmd_event_run() != LMD_OK) {
        snprintf(err, errlen, "the event loop failed");
        rc = LMD_ERROR;
    }
    if (b->interrupted) {
        b->t_end = lmd_bench_now();
    }
    lmd_bench_progress_clear(b);

done:
    lmd_timer_free(b->arrival_timer);
    b->arrival_timer = NULL;
    lmd_timer_free(b->progress_timer);
    b->progress_timer = NULL;
    lmd_signals_free();
    return rc;
}


/* ------------------------------------------------------- /v1/models */

struct lmd_bench_models {
    char    *body;
    size_t   len;
    char     err[LMD_ERR_LEN];
    int      done;
    int      failed;
};


static int
lmd_bench_models_body(struct lmd_bench_call *call, const char *at,
    size_t len)
{
    struct lmd_bench_models  *m = call->data;
    char                     *p;

    if (m->len + len > LMD_BENCH_MODELS_MAX) {
        snprintf(m->err, sizeof(m->err), "the answer is over %u bytes",
                 LMD_BENCH_MODELS_MAX);
        m->failed = 1;
        return LMD_ERROR;
    }
    p = realloc(m->body, m->len + len + 1);
    if (p == NULL) {
        snprintf(m->err, sizeof(m->err), "out of memory");
        m->failed = 1;
        return LMD_ERROR;
    }
    m->body = p;
    memcpy(m->body + m->len, at, len);
    m->len += len;
    m->body[m->len] = '\0';
    return LMD_OK;
}


static void
lmd_bench_models_done(struct lmd_bench_call *call, const char *err)
{
    struct lmd_bench_models  *m = call->data;

    m->done = 1;
    if (err != NULL && !m->failed) {
        snprintf(m->err, sizeof(m->err), "%s", err);
        m->failed = 1;
    }
    lmd_event_stop();
}


int
lmd_bench_first_model(struct lmd_bench_client *cl,
    const struct lmd_bench_target *t, char *id, size_t idlen, char *err,
    size_t errlen)
{
    struct lmd_bench_models   m;
    struct lmd_bench_call     call;
    const cJSON              *data, *first, *name;
    cJSON                    *root = NULL;
    char                      path[sizeof(t->api) + 16], why[200];
    char                      url[sizeof(path) + sizeof(t->authority) + 8];
    int                       rc = LMD_ERROR;

    memset(&m, 0, sizeof(m));
    memset(&call, 0, sizeof(call));
    snprintf(path, sizeof(path), "%s/models", t->api);
    snprintf(url, sizeof(url), "%s://%s%s", t->tls ? "https" : "http",
             t->authority, path);
    call.method = "GET";
    call.path = path;
    call.on_body = lmd_bench_models_body;
    call.on_done = lmd_bench_models_done;
    call.data = &m;

    if (lmd_bench_call_start(cl, &call, m.err, sizeof(m.err)) != LMD_OK) {
        m.failed = 1;
    } else if (lmd_event_run() != LMD_OK || !m.done) {
        snprintf(m.err, sizeof(m.err), "the event loop failed");
        m.failed = 1;
    }

    if (m.failed) {
        snprintf(err, errlen, "GET %s: %s", url, m.err);
        goto done;
    }
    if (call.status != 200) {
        lmd_bench_error_body(m.body, m.len, why, sizeof(why));
        snprintf(err, errlen, "GET %s: HTTP %d: %s", url, call.status,
                 why);
        goto done;
    }
    root = m.body != NULL ? cJSON_ParseWithLength(m.body, m.len) : NULL;
    data = cJSON_GetObjectItemCaseSensitive(root, "data");
    first = cJSON_IsArray(data) ? cJSON_GetArrayItem(data, 0) : NULL;
    name = cJSON_GetObjectItemCaseSensitive(first, "id");
    if (root == NULL || !cJSON_IsArray(data)) {
        snprintf(err, errlen, "GET %s: expected a JSON object with a "
                 "\"data\" array", url);
    } else if (first == NULL) {
        snprintf(err, errlen, "GET %s: the server lists no model", url);
    } else if (!cJSON_IsString(name) || name->valuestring[0] == '\0'
               || strlen(name->valuestring) >= idlen)
    {
        snprintf(err, errlen, "GET %s: data[0].id is not a model name",
                 url);
    } else {
        snprintf(id, idlen, "%s", name->valuestring);
        rc = LMD_OK;
    }

done:
    cJSON_Delete(root);
    free(m.body);
    return rc;
}
