/*
 * lmd_bench_http.c -- HTTP/1.1 exchanges for `lmd bench`: one request at a
 * time per connection, responses parsed by llhttp, connections kept alive
 * and reused.
 *
 * Design: a client holds the idle connections of its target on a list; a
 * call takes one (or opens one), writes its request in one piece and
 * feeds the response to llhttp.  When the response is whole, the parser
 * pauses; the connection goes back on the list if both sides keep it
 * alive and no stray bytes follow, else it is closed, and only then does
 * the call's on_done run, so on_done may start the next call at once.
 *
 * A server may close an idle kept-alive connection just as a request goes
 * out on it; a call that saw no byte of its response on a reused
 * connection is sent once more on a new one.
 */

#include "lmd_bench.h"

#include <llhttp.h>

#define LMD_BENCH_HEAD_LEN  2048

struct lmd_bench_hconn {
    struct lmd_bench_client  *client;
    struct lmd_bench_conn    *conn;
    struct lmd_bench_call    *call;         /* NULL while idle */
    struct lmd_bench_hconn   *next_idle;
    struct lmd_bench_hconn   *prev, *next;  /* every connection */
    llhttp_t                  parser;
    char                      field[16];    /* header name, lowercase */
    size_t                    field_len;
    unsigned                  in_ctype:1;   /* reading Content-Type */
    unsigned                  reused:1;     /* served a call before */
    unsigned                  got_bytes:1;  /* of the current response */
    unsigned                  complete:1;   /* the response is whole */
};

struct lmd_bench_client {
    const struct lmd_bench_target  *target;
    char                           *auth;       /* header line or "" */
    uint64_t                        timeout_ms;
    struct lmd_bench_hconn         *idle;       /* a stack */
    struct lmd_bench_hconn         *conns;      /* all of them */
    size_t                          nconns;
};

static int lmd_bench_hconn_send(struct lmd_bench_client *cl,
    struct lmd_bench_hconn *hc, struct lmd_bench_call *call, char *err,
    size_t errlen);


double
lmd_bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


/* ------------------------------------------------------- the parser */

static int
lmd_bench_on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct lmd_bench_hconn  *hc = p->data;
    size_t                   i;

    /* a name may come in pieces; only Content-Type matters */
    for (i = 0; i < len && hc->field_len < sizeof(hc->field) - 1; i++) {
        hc->field[hc->field_len++] = (char) (at[i] | 0x20);
    }
    hc->in_ctype = 0;
    return HPE_OK;
}


static int
lmd_bench_on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct lmd_bench_hconn  *hc = p->data;
    struct lmd_bench_call   *call = hc->call;
    size_t                   have, n;

    if (hc->field_len > 0) {
        hc->in_ctype = hc->field_len == 12
                       && memcmp(hc->field, "content-type", 12) == 0;
        hc->field_len = 0;
        if (hc->in_ctype) {
            call->content_type[0] = '\0';
        }
    }
    if (hc->in_ctype) {
        have = strlen(call->content_type);
        n = lmd_min(len, sizeof(call->content_type) - 1 - have);
        memcpy(call->content_type + have, at, n);
        call->content_type[have + n] = '\0';
    }
    return HPE_OK;
}


static int
lmd_bench_on_headers_complete(llhttp_t *p)
{
    struct lmd_bench_hconn  *hc = p->data;

    hc->call->status = p->status_code;
    /* 1xx answers (100 Continue) come before the real one */
    if (p->status_code >= 100 && p->status_code < 200) {
        hc->call->status = 0;
    }
    return HPE_OK;
}


static int
lmd_bench_on_body(llhttp_t *p, const char *at, size_t len)
{
    struct lmd_bench_hconn  *hc = p->data;

    if (hc->call->on_body(hc->call, at, len) != LMD_OK) {
        return HPE_USER;
    }
    return HPE_OK;
}


static int
lmd_bench_on_message_complete(llhttp_t *p)
{
    struct lmd_bench_hconn  *hc = p->data;

    if (p->status_code >= 100 && p->status_code < 200) {
        return HPE_OK;
    }
    hc->complete = 1;
    return HPE_PAUSED;
}


static llhttp_settings_t  lmd_bench_settings;


/* ---------------------------------------------------- connections */

static void
lmd_bench_idle_remove(struct lmd_bench_client *cl, struct lmd_bench_hconn *hc)
{
    struct lmd_bench_hconn  **pp;

    for (pp = &cl->idle; *pp != NULL; pp = &(*pp)->next_idle) {
        if (*pp == hc) {
            *pp = hc->next_idle;
            return;
        }
    }
}


/* Closes and frees hc, which must not be on the idle list. */
static void
lmd_bench_hconn_free(struct lmd_bench_hconn *hc)
{
    struct lmd_bench_client  *cl = hc->client;

    if (hc->prev != NULL) {
        hc->prev->next = hc->next;
    } else {
        cl->conns = hc->next;
    }
    if (hc->next != NULL) {
        hc->next->prev = hc->prev;
    }
    cl->nconns--;
    lmd_bench_conn_close(hc->conn);
    free(hc);
}


/* The call on hc is over: park or close hc, then tell the caller. */
static void
lmd_bench_hconn_finish(struct lmd_bench_hconn *hc, int keep, const char *err)
{
    struct lmd_bench_client  *cl = hc->client;
    struct lmd_bench_call    *call = hc->call;

    hc->call = NULL;
    call->hc = NULL;
    if (keep) {
        lmd_bench_conn_timeout(hc->conn, 0);
        hc->reused = 1;
        hc->next_idle = cl->idle;
        cl->idle = hc;
    } else {
        lmd_bench_hconn_free(hc);
    }
    call->on_done(call, err);
}


/* A reused connection closed or failed (not timed out) before any byte
 * of the answer: the server had closed it.  Sends the call again on a
 * new connection. */
static int
lmd_bench_retry(struct lmd_bench_hconn *hc, int how)
{
    struct lmd_bench_client  *cl = hc->client;
    struct lmd_bench_call    *call = hc->call;
    char                      err[LMD_ERR_LEN];

    if (!hc->reused || hc->got_bytes || call->tries > 0
        || how == LMD_BENCH_CONN_TIMEOUT)
    {
        return LMD_DECLINED;
    }
    hc->call = NULL;
    lmd_bench_hconn_free(hc);
    call->tries++;
    call->hc = NULL;
    if (lmd_bench_hconn_send(cl, NULL, call, err, sizeof(err)) != LMD_OK) {
        call->on_done(call, err);
    }
    return LMD_OK;
}


static void
lmd_bench_hconn_read(void *data)
{
    struct lmd_bench_hconn  *hc = data;
    struct iovec             iov[8];
    llhttp_errno_t           rc;
    const char              *pos;
    char                     why[160];
    size_t                   used;
    int                      n, i, keep;

    if (hc->call == NULL) {
        /* an idle connection must be silent */
        lmd_bench_idle_remove(hc->client, hc);
        lmd_bench_hconn_free(hc);
        return;
    }

    for ( ;; ) {
        n = lmd_bench_conn_input(hc->conn, iov, (int) lmd_nelems(iov));
        if (n == 0) {
            return;
        }
        hc->got_bytes = 1;
        used = 0;
        rc = HPE_OK;
        for (i = 0; i < n && rc == HPE_OK; i++) {
            rc = llhttp_execute(&hc->parser, iov[i].iov_base,
                                iov[i].iov_len);
            if (rc == HPE_OK) {
                used += iov[i].iov_len;
            } else {
                pos = llhttp_get_error_pos(&hc->parser);
                used += (size_t) (pos - (const char *) iov[i].iov_base);
            }
        }
        lmd_bench_conn_drain(hc->conn, used);

        if (rc == HPE_PAUSED && hc->complete) {
            /* reuse only a clean connection: nothing after the answer */
            keep = llhttp_should_keep_alive(&hc->parser)
                   && lmd_bench_conn_input(hc->conn, iov, 1) == 0;
            lmd_bench_hconn_finish(hc, keep, NULL);
            return;
        }
        if (rc == HPE_USER) {
            lmd_bench_hconn_finish(hc, 0, "aborted");
            return;
        }
        if (rc != HPE_OK) {
            snprintf(why, sizeof(why), "bad HTTP response: %s",
                     llhttp_get_error_reason(&hc->parser));
            lmd_bench_hconn_finish(hc, 0, why);
            return;
        }
    }
}


static void
lmd_bench_hconn_end(void *data, int how, const char *why)
{
    struct lmd_bench_hconn  *hc = data;
    llhttp_errno_t           rc;

    if (hc->call == NULL) {
        lmd_bench_idle_remove(hc->client, hc);
        lmd_bench_hconn_free(hc);
        return;
    }
    if (lmd_bench_retry(hc, how) == LMD_OK) {
        return;
    }
    /* a body that runs to the end of the connection ends here (the
     * parser's on_message_complete pauses it) */
    if (how == LMD_BENCH_CONN_EOF && hc->got_bytes) {
        rc = llhttp_finish(&hc->parser);
        if ((rc == HPE_OK || rc == HPE_PAUSED) && hc->complete) {
            lmd_bench_hconn_finish(hc, 0, NULL);
            return;
        }
    }
    if (how == LMD_BENCH_CONN_EOF && hc->got_bytes) {
        why = "the server closed the connection in the middle of the "
              "response";
    }
    lmd_bench_hconn_finish(hc, 0, why);
}


static const struct lmd_bench_conn_handler  lmd_bench_hconn_handler = {
    lmd_bench_hconn_read,
    lmd_bench_hconn_end
};


/* Writes call's request on hc, or on a new connection when hc is NULL. */
static int
lmd_bench_hconn_send(struct lmd_bench_client *cl, struct lmd_bench_hconn *hc,
    struct lmd_bench_call *call, char *err, size_t errlen)
{
    char  head[LMD_BENCH_HEAD_LEN];
    int   n;

    n = snprintf(head, sizeof(head),
                 "%s %s HTTP/1.1\r\n"
                 "Host: %s\r\n"
                 "User-Agent: lmd-bench/" LMD_VERSION "\r\n"
                 "Accept: %s\r\n"
                 "%s",
                 call->method, call->path, cl->target->authority,
                 call->body != NULL ? "text/event-stream, application/json"
                                    : "application/json",
                 cl->auth);
    if (n > 0 && (size_t) n < sizeof(head) && call->body != NULL) {
        n += snprintf(head + n, sizeof(head) - (size_t) n,
                      "Content-Type: application/json\r\n"
                      "Content-Length: %zu\r\n", call->body_len);
    }
    if (n > 0 && (size_t) n < sizeof(head)) {
        n += snprintf(head + n, sizeof(head) - (size_t) n, "\r\n");
    }
    if (n <= 0 || (size_t) n >= sizeof(head)) {
        snprintf(err, errlen, "the request head is too long");
        return LMD_ERROR;
    }

    if (hc == NULL) {
        hc = calloc(1, sizeof(*hc));
        if (hc == NULL) {
            snprintf(err, errlen, "out of memory");
            return LMD_ERROR;
        }
        hc->client = cl;
        hc->conn = lmd_bench_conn_open(cl->target, &lmd_bench_hconn_handler,
                                       hc, err, errlen);
        if (hc->conn == NULL) {
            free(hc);
            return LMD_ERROR;
        }
        hc->next = cl->conns;
        if (cl->conns != NULL) {
            cl->conns->prev = hc;
        }
        cl->conns = hc;
        cl->nconns++;
    }

    hc->call = call;
    call->hc = hc;
    call->status = 0;
    call->content_type[0] = '\0';
    hc->got_bytes = 0;
    hc->complete = 0;
    hc->field_len = 0;
    hc->in_ctype = 0;
    llhttp_init(&hc->parser, HTTP_RESPONSE, &lmd_bench_settings);
    hc->parser.data = hc;

    if (lmd_bench_conn_write(hc->conn, head, (size_t) n) != LMD_OK
        || (call->body != NULL
            && lmd_bench_conn_write(hc->conn, call->body, call->body_len)
               != LMD_OK))
    {
        hc->call = NULL;
        call->hc = NULL;
        lmd_bench_hconn_free(hc);
        snprintf(err, errlen, "out of memory");
        return LMD_ERROR;
    }
    lmd_bench_conn_timeout(hc->conn, cl->timeout_ms);
    call->t_sent = lmd_bench_now();
    return LMD_OK;
}


/* ------------------------------------------------------------ client */

struct lmd_bench_client *
lmd_bench_client_new(const struct lmd_bench_target *t, const char *api_key,
    uint64_t timeout_ms)
{
    struct lmd_bench_client  *cl;
    size_t                    len;

    llhttp_settings_init(&lmd_bench_settings);
    lmd_bench_settings.on_header_field = lmd_bench_on_header_field;
    lmd_bench_settings.on_header_value = lmd_bench_on_header_value;
    lmd_bench_settings.on_headers_complete = lmd_bench_on_headers_complete;
    lmd_bench_settings.on_body = lmd_bench_on_body;
    lmd_bench_settings.on_message_complete = lmd_bench_on_message_complete;

    cl = calloc(1, sizeof(*cl));
    if (cl == NULL) {
        return NULL;
    }
    cl->target = t;
    cl->timeout_ms = timeout_ms;
    len = api_key != NULL ? strlen(api_key) + 32 : 1;
    cl->auth = malloc(len);
    if (cl->auth == NULL) {
        free(cl);
        return NULL;
    }
    if (api_key != NULL) {
        snprintf(cl->auth, len, "Authorization: Bearer %s\r\n", api_key);
    } else {
        cl->auth[0] = '\0';
    }
    return cl;
}


int
lmd_bench_call_start(struct lmd_bench_client *cl,
    struct lmd_bench_call *call, char *err, size_t errlen)
{
    struct lmd_bench_hconn  *hc = cl->idle;

    call->tries = 0;
    if (hc != NULL) {
        cl->idle = hc->next_idle;
        hc->next_idle = NULL;
    }
    return lmd_bench_hconn_send(cl, hc, call, err, errlen);
}


size_t
lmd_bench_client_conns(const struct lmd_bench_client *cl)
{
    return cl->nconns;
}


void
lmd_bench_client_free(struct lmd_bench_client *cl)
{
    struct lmd_bench_hconn  *hc;

    if (cl == NULL) {
        return;
    }
    cl->idle = NULL;
    while (cl->conns != NULL) {
        hc = cl->conns;
        if (hc->call != NULL) {
            hc->call->hc = NULL;
        }
        lmd_bench_hconn_free(hc);
    }
    free(cl->auth);
    free(cl);
}
