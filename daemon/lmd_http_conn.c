/*
 * lmd_http_conn.c -- HTTP/1.1 connections: llhttp parsing, limits,
 * timeouts, keep-alive and pipelining.
 *
 * Design: the parser runs over the connection's input buffer in place.
 * Header bytes (request target, names, values) are gathered into one
 * growing buffer, bounded by http.limits.max_header_size (431 beyond it);
 * body bytes go straight into the request (413 beyond max_body).  When a
 * message is complete on_message_complete pauses the parser, so exactly one
 * request is in flight per connection; bytes the client pipelined after it
 * wait in the input buffer until the response is finalized, then parsing
 * resumes.  Reading from the socket stays enabled while a request runs so
 * that a client that goes away is noticed at once (and its request aborted).
 *
 * One timer per connection, re-armed per state: idle_timeout between
 * requests, header_timeout from the first byte of a request to the end of
 * its headers, body_timeout between body reads; send_timeout lives on the
 * output side (lmd_conn_send_timeout).
 */

#include "lmd_http.h"
#include "lmd_event.h"

#include <llhttp.h>

enum lmd_http_state {
    LMD_HTTP_IDLE = 0,          /* keep-alive: waiting for a request */
    LMD_HTTP_READING,           /* inside a request's head or body */
    LMD_HTTP_PROCESSING,        /* a handler owns the request */
    LMD_HTTP_CLOSING            /* flushing the last response */
};

/* A header slice inside the head buffer, by offset: the buffer may move. */
struct lmd_http_slice {
    uint32_t                   name_off, name_len;
    uint32_t                   value_off, value_len;
};

struct lmd_http_conn {
    struct lmd_conn           *c;
    llhttp_t                   parser;
    int                        state;        /* enum lmd_http_state */
    struct lmd_http_request   *r;            /* being read or processed */
    struct lmd_cycle          *cycle;        /* limits for the one read */
    unsigned                   nrequests;
    unsigned                   in_loop:1;    /* inside lmd_http_read */

    /* The request head: target then header bytes, back to back. */
    char                      *head;
    size_t                     head_len, head_cap;
    uint32_t                   url_len;
    struct lmd_http_slice     *slices;
    size_t                     nslices, slices_cap;
    int                        last_was_value;

    int                        error_status; /* set by a callback */
    const char                *error_text;   /* its message, or NULL */
};

static void lmd_http_read(struct lmd_http_conn *hc);
static void lmd_http_conn_error(struct lmd_http_conn *hc, int status);


/* ------------------------------------------------------------ head bytes */

static int
lmd_http_head_append(struct lmd_http_conn *hc, const char *at, size_t len)
{
    size_t  cap;
    char   *p;

    if (hc->head_len + len > hc->cycle->conf->http.limits.max_header_size) {
        hc->error_status = 431;
        return -1;
    }
    if (hc->head_len + len > hc->head_cap) {
        cap = lmd_max(hc->head_cap * 2, hc->head_len + len);
        cap = lmd_max(cap, (size_t) 1024);
        p = realloc(hc->head, cap);
        if (p == NULL) {
            hc->error_status = 500;
            return -1;
        }
        hc->head = p;
        hc->head_cap = cap;
    }
    memcpy(hc->head + hc->head_len, at, len);
    hc->head_len += len;
    return 0;
}


static int
lmd_http_on_message_begin(llhttp_t *p)
{
    struct lmd_http_conn  *hc = p->data;

    hc->state = LMD_HTTP_READING;
    hc->head_len = 0;
    hc->url_len = 0;
    hc->nslices = 0;
    hc->last_was_value = 0;
    lmd_conn_timer(hc->c, hc->cycle->conf->http.limits.header_timeout);
    return 0;
}


static int
lmd_http_on_url(llhttp_t *p, const char *at, size_t len)
{
    struct lmd_http_conn  *hc = p->data;

    if (lmd_http_head_append(hc, at, len) != 0) {
        return -1;
    }
    hc->url_len += (uint32_t) len;
    return 0;
}


static int
lmd_http_on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct lmd_http_conn   *hc = p->data;
    struct lmd_http_slice  *s;
    size_t                  cap;

    if (hc->nslices == 0 || hc->last_was_value) {
        if (hc->nslices == hc->slices_cap) {
            cap = hc->slices_cap ? hc->slices_cap * 2 : 16;
            s = realloc(hc->slices, cap * sizeof(struct lmd_http_slice));
            if (s == NULL) {
                hc->error_status = 500;
                return -1;
            }
            hc->slices = s;
            hc->slices_cap = cap;
        }
        s = &hc->slices[hc->nslices++];
        s->name_off = (uint32_t) hc->head_len;
        s->name_len = 0;
        s->value_off = 0;
        s->value_len = 0;
        hc->last_was_value = 0;
    }

    s = &hc->slices[hc->nslices - 1];
    if (lmd_http_head_append(hc, at, len) != 0) {
        return -1;
    }
    s->name_len += (uint32_t) len;
    return 0;
}


static int
lmd_http_on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct lmd_http_conn   *hc = p->data;
    struct lmd_http_slice  *s = &hc->slices[hc->nslices - 1];

    if (!hc->last_was_value) {
        s->value_off = (uint32_t) hc->head_len;
        hc->last_was_value = 1;
    }
    if (lmd_http_head_append(hc, at, len) != 0) {
        return -1;
    }
    s->value_len += (uint32_t) len;
    return 0;
}


/* --------------------------------------------------------- request setup */

static int
lmd_http_method_from_llhttp(int m)
{
    switch (m) {
    case HTTP_GET:      return LMD_HTTP_GET;
    case HTTP_HEAD:     return LMD_HTTP_HEAD;
    case HTTP_POST:     return LMD_HTTP_POST;
    case HTTP_PUT:      return LMD_HTTP_PUT;
    case HTTP_DELETE:   return LMD_HTTP_DELETE;
    case HTTP_OPTIONS:  return LMD_HTTP_OPTIONS;
    case HTTP_PATCH:    return LMD_HTTP_PATCH;
    default:            return LMD_HTTP_OTHER;
    }
}


/* Copies the gathered head into a new request's pool. */
static struct lmd_http_request *
lmd_http_request_create(struct lmd_http_conn *hc)
{
    struct lmd_http_request  *r;
    struct lmd_pool          *pool;
    struct lmd_http_slice    *s;
    const char               *name;
    char                     *head, *q;
    size_t                    i;

    pool = lmd_pool_create(4096);
    if (pool == NULL) {
        return NULL;
    }
    r = lmd_pcalloc(pool, sizeof(struct lmd_http_request));
    head = lmd_palloc(pool, hc->head_len + 1);
    r->headers = lmd_palloc(pool, (hc->nslices + 1)
                                  * sizeof(struct lmd_http_header));
    if (r == NULL || head == NULL || r->headers == NULL) {
        lmd_pool_destroy(pool);
        return NULL;
    }

    r->pool = pool;
    r->hc = hc;
    r->conn = hc->c;
    r->cycle = lmd_cycle_ref(hc->cycle);
    r->start_ms = lmd_event_now_ms();
    r->content_length = -1;
    r->keepalive = 1;

    /* NUL-terminate every piece in place: the head gets one NUL after the
     * target; names and values are copied with their own.  A request
     * refused before its first byte of target has no head buffer yet. */
    if (hc->url_len > 0) {
        memcpy(head, hc->head, hc->url_len);
    }
    head[hc->url_len] = '\0';
    r->uri.data = head;
    r->uri.len = hc->url_len;
    q = memchr(head, '?', hc->url_len);
    r->path.data = head;
    r->path.len = q ? (size_t) (q - head) : hc->url_len;
    r->args.data = q ? q + 1 : head + hc->url_len;
    r->args.len = q ? hc->url_len - r->path.len - 1 : 0;

    for (i = 0; i < hc->nslices; i++) {
        s = &hc->slices[i];
        r->headers[i].name.data = lmd_pstrndup(pool, hc->head + s->name_off,
                                               s->name_len);
        r->headers[i].name.len = s->name_len;
        r->headers[i].value.data = lmd_pstrndup(pool,
                                                hc->head + s->value_off,
                                                s->value_len);
        r->headers[i].value.len = s->value_len;
        if (r->headers[i].name.data == NULL
            || r->headers[i].value.data == NULL)
        {
            lmd_cycle_unref(r->cycle);
            lmd_pool_destroy(pool);
            return NULL;
        }
    }
    r->nheaders = hc->nslices;

    r->method = lmd_http_method_from_llhttp(hc->parser.method);
    name = llhttp_method_name((llhttp_method_t) hc->parser.method);
    r->method_name.data = name;
    r->method_name.len = strlen(name);
    r->http_major = hc->parser.http_major;
    r->http_minor = hc->parser.http_minor;

    /* Errors on API paths speak OpenAI's JSON from the start. */
    r->api = r->path.len >= 4 && memcmp(r->path.data, "/v1/", 4) == 0;
    return r;
}


static int
lmd_http_on_headers_complete(llhttp_t *p)
{
    struct lmd_http_conn     *hc = p->data;
    struct lmd_http_request  *r;
    const struct lmd_str     *expect;
    uint64_t                  max_body;
    size_t                    i, nhost;
    static const char         cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

    r = lmd_http_request_create(hc);
    if (r == NULL) {
        hc->error_status = 500;
        return -1;
    }
    hc->r = r;

    /* RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one before. */
    for (i = 0, nhost = 0; i < r->nheaders; i++) {
        nhost += lmd_strieq(r->headers[i].name.data, r->headers[i].name.len,
                            "Host");
    }
    if (nhost > 1 || (nhost == 0 && r->http_major == 1
                      && r->http_minor >= 1))
    {
        hc->error_status = 400;
        hc->error_text = "an HTTP/1.1 request needs exactly one Host header";
        return -1;
    }

    max_body = hc->cycle->conf->http.limits.max_body;
    if (p->flags & F_CONTENT_LENGTH) {
        r->content_length = (int64_t) p->content_length;
        if (p->content_length > max_body) {
            hc->error_status = 413;
            return -1;
        }
    }

    expect = lmd_http_header_in(r, "Expect");
    if (expect != NULL) {
        if (!lmd_strieq(expect->data, expect->len, "100-continue")) {
            hc->error_status = 417;
            return -1;
        }
        /* Ask for the body only when it can be accepted. */
        if (r->http_major == 1 && r->http_minor >= 1) {
            lmd_conn_write(hc->c, cont, sizeof(cont) - 1);
        }
    }

    if (r->content_length > 0) {
        r->body_cap = (size_t) r->content_length;
        r->body = lmd_palloc(r->pool, r->body_cap + 1);
        if (r->body == NULL) {
            hc->error_status = 500;
            return -1;
        }
    }

    if ((p->flags & F_CHUNKED) || r->content_length > 0) {
        lmd_conn_timer(hc->c, hc->cycle->conf->http.limits.body_timeout);
    }
    return 0;
}


static int
lmd_http_on_body(llhttp_t *p, const char *at, size_t len)
{
    struct lmd_http_conn     *hc = p->data;
    struct lmd_http_request  *r = hc->r;
    size_t                    cap;
    char                     *body;

    if (r->body_len + len > hc->cycle->conf->http.limits.max_body) {
        hc->error_status = 413;
        return -1;
    }
    if (r->body_len + len > r->body_cap) {
        /* Chunked: grow by doubling; the pool keeps the old copy, which
         * at most doubles the memory of a bounded body. */
        cap = lmd_max(r->body_cap * 2, r->body_len + len);
        cap = lmd_max(cap, (size_t) 4096);
        body = lmd_palloc(r->pool, cap + 1);
        if (body == NULL) {
            hc->error_status = 500;
            return -1;
        }
        if (r->body_len) {
            memcpy(body, r->body, r->body_len);
        }
        r->body = body;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    lmd_conn_timer(hc->c, hc->cycle->conf->http.limits.body_timeout);
    return 0;
}


static int
lmd_http_on_message_complete(llhttp_t *p)
{
    struct lmd_http_conn  *hc = p->data;

    if (hc->r->body != NULL) {
        hc->r->body[hc->r->body_len] = '\0';
    }
    hc->r->keepalive = llhttp_should_keep_alive(p) ? 1 : 0;
    lmd_conn_timer(hc->c, 0);
    /* One request at a time: the loop in lmd_http_read dispatches it. */
    return HPE_PAUSED;
}


static const llhttp_settings_t  lmd_http_settings = {
    .on_message_begin = lmd_http_on_message_begin,
    .on_url = lmd_http_on_url,
    .on_header_field = lmd_http_on_header_field,
    .on_header_value = lmd_http_on_header_value,
    .on_headers_complete = lmd_http_on_headers_complete,
    .on_body = lmd_http_on_body,
    .on_message_complete = lmd_http_on_message_complete,
};


/* ------------------------------------------------------------ the loop */

/* Feeds buffered input to the parser and dispatches each complete request,
 * until the input runs out or a request goes asynchronous. */
static void
lmd_http_read(struct lmd_http_conn *hc)
{
    struct iovec    iov[8];
    llhttp_errno_t  rc;
    const char     *pos;
    size_t          used;
    int             n, i;

    hc->in_loop = 1;

    while (hc->state == LMD_HTTP_IDLE || hc->state == LMD_HTTP_READING) {
        n = lmd_conn_input(hc->c, iov, (int) lmd_nelems(iov));
        if (n == 0) {
            break;
        }

        used = 0;
        rc = HPE_OK;
        for (i = 0; i < n && rc == HPE_OK; i++) {
            if (hc->state == LMD_HTTP_IDLE && hc->r == NULL) {
                /* Each new request reads the limits of the current cycle. */
                if (hc->cycle != lmd_cycle) {
                    lmd_cycle_unref(hc->cycle);
                    hc->cycle = lmd_cycle_ref(lmd_cycle);
                }
            }
            rc = llhttp_execute(&hc->parser, iov[i].iov_base,
                                iov[i].iov_len);
            if (rc == HPE_OK) {
                used += iov[i].iov_len;
            } else {
                pos = llhttp_get_error_pos(&hc->parser);
                used += (size_t) (pos - (const char *) iov[i].iov_base);
            }
        }
        lmd_conn_input_drain(hc->c, used);

        if (rc == HPE_PAUSED) {
            llhttp_resume(&hc->parser);
            hc->state = LMD_HTTP_PROCESSING;
            hc->nrequests++;
            if (lmd_stopping || hc->nrequests
                >= (unsigned) hc->cycle->conf->http.limits.keepalive_requests)
            {
                hc->r->keepalive = 0;
            }
            lmd_http_dispatch(hc->r);
            /* finalized synchronously: state is IDLE or CLOSING now */
            continue;
        }
        if (rc != HPE_OK) {
            lmd_log_debug(LMD_LOG_DEBUG_HTTP, lmd_error_log, 0,
                          "bad request from %s: %s", hc->c->peer,
                          llhttp_get_error_reason(&hc->parser));
            lmd_http_conn_error(hc, hc->error_status ? hc->error_status
                                                     : 400);
            break;
        }
    }

    hc->in_loop = 0;
}


/* A request that cannot be parsed gets an error and the connection closes
 * after it: the parser cannot find the next request's start. */
static void
lmd_http_conn_error(struct lmd_http_conn *hc, int status)
{
    struct lmd_http_request  *r = hc->r;

    if (r == NULL) {
        r = lmd_http_request_create(hc);
        if (r == NULL) {
            hc->state = LMD_HTTP_CLOSING;
            lmd_conn_close_after_flush(hc->c);
            return;
        }
        hc->r = r;
    }
    r->keepalive = 0;
    hc->state = LMD_HTTP_PROCESSING;

    switch (status) {
    case 413:
        lmd_http_error(r, 413, "invalid_request_error", NULL,
                       "request_too_large",
                       "request body is larger than the limit of %llu bytes",
                       (unsigned long long)
                       r->cycle->conf->http.limits.max_body);
        break;
    case 431:
        lmd_http_error(r, 431, "invalid_request_error", NULL, NULL,
                       "request header fields are larger than the limit of "
                       "%llu bytes", (unsigned long long)
                       r->cycle->conf->http.limits.max_header_size);
        break;
    case 417:
        lmd_http_error(r, 417, "invalid_request_error", NULL, NULL,
                       "only \"Expect: 100-continue\" is supported");
        break;
    default:
        lmd_http_error(r, status, NULL, NULL, NULL, "%s",
                       hc->error_text ? hc->error_text
                       : status == 400 ? "malformed HTTP request"
                       : lmd_http_status_text(status));
        break;
    }
}


/* Called by lmd_http_finalize once the request is freed. */
void
lmd_http_conn_request_done(struct lmd_http_conn *hc, int keepalive)
{
    const struct lmd_conf_limits  *lim = &hc->cycle->conf->http.limits;

    hc->r = NULL;
    if (!keepalive || lmd_stopping) {
        hc->state = LMD_HTTP_CLOSING;
        lmd_conn_close_after_flush(hc->c);
        return;
    }

    hc->state = LMD_HTTP_IDLE;
    lmd_conn_timer(hc->c, lim->idle_timeout);

    /* Requests pipelined behind this one are already buffered: no read
     * event will announce them. */
    if (!hc->in_loop && lmd_conn_input_len(hc->c) > 0) {
        lmd_http_read(hc);
    }
}


/* --------------------------------------------------- connection hooks */

static void
lmd_http_conn_on_read(struct lmd_conn *c)
{
    struct lmd_http_conn  *hc = c->data;

    if (hc->state == LMD_HTTP_PROCESSING || hc->state == LMD_HTTP_CLOSING) {
        return;     /* pipelined bytes wait for the current response */
    }
    lmd_http_read(hc);
}


static void lmd_http_conn_on_close(struct lmd_conn *c, int reason);


static void
lmd_http_conn_on_timer(struct lmd_conn *c)
{
    struct lmd_http_conn  *hc = c->data;

    if (hc->state == LMD_HTTP_IDLE && lmd_conn_output_len(c) > 0) {
        /* Not idle yet: the last response is still being sent (a large
         * file to a slow client), which send_timeout watches.  Wait again
         * rather than cut the response short. */
        lmd_conn_timer(c, hc->cycle->conf->http.limits.idle_timeout);
        return;
    }

    lmd_log_error(LMD_LOG_INFO, lmd_error_log, 0,
                  "client %s timed out %s, closing", c->peer,
                  hc->state == LMD_HTTP_IDLE ? "while idle"
                                             : "sending its request");
    if (hc->r != NULL) {
        hc->r->status = 408;
    }
    lmd_http_conn_on_close(c, 0);
    lmd_conn_close(c);
}


static void
lmd_http_conn_on_close(struct lmd_conn *c, int reason)
{
    struct lmd_http_conn     *hc = c->data;
    struct lmd_http_request  *r;

    lmd_unused(reason);
    if (hc == NULL) {
        return;
    }

    r = hc->r;
    if (r != NULL) {
        /* The client left before its response was finished. */
        if (r->on_abort != NULL) {
            r->on_abort(r);
        }
        if (r->status == 0) {
            r->status = 499;    /* nginx's "client closed request" */
        }
        lmd_http_log_request(r);
        lmd_cycle_unref(r->cycle);
        lmd_pool_destroy(r->pool);
        hc->r = NULL;
    }
    lmd_cycle_unref(hc->cycle);
    free(hc->head);
    free(hc->slices);
    c->data = NULL;
}


/* The client half-closed.  A response already queued is still sent (a
 * client may send its request and FIN at once); a request still running
 * is abandoned, since nobody will read its answer. */
static int
lmd_http_conn_on_eof(struct lmd_conn *c)
{
    struct lmd_http_conn  *hc = c->data;

    if (hc == NULL || hc->state == LMD_HTTP_PROCESSING
        || lmd_conn_output_len(c) == 0)
    {
        return 1;
    }
    hc->state = LMD_HTTP_CLOSING;
    lmd_conn_close_after_flush(c);
    return 0;
}


static const struct lmd_conn_handler  lmd_http_conn_handler = {
    lmd_http_conn_on_read,
    NULL,
    lmd_http_conn_on_timer,
    lmd_http_conn_on_close,
    lmd_http_conn_on_eof
};


int
lmd_http_accept(struct lmd_conn *c, void *data)
{
    struct lmd_http_conn  *hc;

    lmd_unused(data);
    hc = lmd_pcalloc(c->pool, sizeof(struct lmd_http_conn));
    if (hc == NULL) {
        return LMD_ERROR;
    }
    hc->c = c;
    hc->cycle = lmd_cycle_ref(lmd_cycle);
    llhttp_init(&hc->parser, HTTP_REQUEST, &lmd_http_settings);
    hc->parser.data = hc;

    c->data = hc;
    c->handler = &lmd_http_conn_handler;

    /* A new connection must send its first request within header_timeout
     * (slowloris), then gets idle_timeout between requests. */
    lmd_conn_timer(c, hc->cycle->conf->http.limits.header_timeout);
    lmd_conn_send_timeout(c, hc->cycle->conf->http.limits.send_timeout);
    return LMD_OK;
}


/* Graceful stop: close connections that wait between requests; the others
 * finish their current response and close (lmd_stopping disables
 * keep-alive). */
void
lmd_http_close_idle(struct lmd_conn *c, void *data)
{
    struct lmd_http_conn  *hc = c->data;

    lmd_unused(data);
    if (c->closing || c->lingering || hc == NULL) {
        return;
    }
    if (hc->state == LMD_HTTP_IDLE && hc->r == NULL
        && lmd_conn_input_len(c) == 0)
    {
        hc->state = LMD_HTTP_CLOSING;
        lmd_conn_close_after_flush(c);
    }
}
