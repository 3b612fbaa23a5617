/*
 * lmd_http.h -- the umbrella header of the HTTP layer: requests, responses,
 * the router and its handlers.
 *
 * A connection parses requests with llhttp (lmd_http_conn.c), one at a
 * time: when a request is complete the parser pauses, the router picks a
 * handler, and only after the response is finalized does parsing resume on
 * whatever the client pipelined behind it.  A handler answers at once
 * (returns LMD_OK after lmd_http_finalize) or later (returns LMD_AGAIN and
 * finalizes from another event, e.g. tokens coming back from an engine).
 *
 * Ownership: a request owns a pool and a reference on the configuration
 * cycle it started under; both go when it is finalized or aborted.
 * Loop thread only.
 */

#ifndef LMD_HTTP_H
#define LMD_HTTP_H

#include "lmd_core.h"
#include "lmd_conf.h"
#include "lmd_conn.h"
#include "lmd_cycle.h"

enum lmd_http_method {
    LMD_HTTP_OTHER = 0,
    LMD_HTTP_GET,
    LMD_HTTP_HEAD,
    LMD_HTTP_POST,
    LMD_HTTP_PUT,
    LMD_HTTP_DELETE,
    LMD_HTTP_OPTIONS,
    LMD_HTTP_PATCH
};

struct lmd_http_header {
    struct lmd_str             name;
    struct lmd_str             value;
};

#define LMD_HTTP_MAX_HEADERS_OUT  16

struct lmd_http_conn;
struct lmd_http_request;

typedef void (*lmd_http_abort_pt)(struct lmd_http_request *r);

struct lmd_http_request {
    struct lmd_pool           *pool;
    struct lmd_http_conn      *hc;
    struct lmd_conn           *conn;
    struct lmd_cycle          *cycle;          /* referenced */
    uint64_t                   start_ms;

    /* The request line and headers, NUL-terminated copies in the pool. */
    int                        method;         /* enum lmd_http_method */
    struct lmd_str             method_name;
    struct lmd_str             uri;            /* the request target */
    struct lmd_str             path;           /* before '?', raw */
    struct lmd_str             args;           /* after '?' */
    int                        http_major;
    int                        http_minor;
    struct lmd_http_header    *headers;
    size_t                     nheaders;
    int64_t                    content_length; /* -1 when none given */

    /* The body, whole, once the handler runs. */
    char                      *body;
    size_t                     body_len;
    size_t                     body_cap;

    unsigned                   keepalive:1;
    unsigned                   api:1;          /* errors as OpenAI JSON */
    unsigned                   header_sent:1;
    unsigned                   chunked:1;      /* response is chunked */
    unsigned                   finalized:1;

    /* The response. */
    int                        status;
    uint64_t                   body_sent;      /* body bytes queued */
    struct lmd_http_header     headers_out[LMD_HTTP_MAX_HEADERS_OUT];
    size_t                     nheaders_out;

    /* Asynchronous handlers: state, and the hook called if the client
     * goes away before the request is finalized (then it is freed). */
    void                      *ctx;
    lmd_http_abort_pt          on_abort;

    /* Completion requests: what the access log adds (log_tokens set). */
    unsigned                   log_tokens:1;
    uint32_t                   prompt_tokens;
    uint32_t                   completion_tokens;
    int64_t                    ttft_ms;        /* -1: no token yet */
};

/* ------------------------------------------------------------- requests */

/* The value of the first header with this name (any case), or NULL. */
const struct lmd_str *lmd_http_header_in(const struct lmd_http_request *r,
    const char *name);

/* ------------------------------------------------------------ responses */

/* Adds a response header; both strings must outlive the request (literals
 * or pool memory).  LMD_OK or LMD_ERROR when the table is full. */
int lmd_http_header_out(struct lmd_http_request *r, const char *name,
    const char *value);

/* Queues the status line and headers.  content_length -1 streams the body
 * (chunked for HTTP/1.1, close-delimited for 1.0).  Adds Server, Date,
 * Content-Type (when not NULL), Content-Length or Transfer-Encoding,
 * Connection and CORS headers.  LMD_OK or LMD_ERROR. */
int lmd_http_send_header(struct lmd_http_request *r, int status,
    const char *content_type, int64_t content_length);

/* Queues body bytes (nothing for HEAD).  LMD_OK or LMD_ERROR. */
int lmd_http_send_body(struct lmd_http_request *r, const void *data,
    size_t len);
/* Queues len bytes of fd from offset, taking ownership of fd. */
int lmd_http_send_file(struct lmd_http_request *r, int fd, off_t offset,
    off_t len);

/* Ends the response (the last chunk when streaming), writes the access log
 * line, frees the request and goes on with the connection: the next
 * pipelined request, keep-alive wait, or close. */
void lmd_http_finalize(struct lmd_http_request *r);

/* A whole response in one call: header, body, finalize. */
int lmd_http_respond(struct lmd_http_request *r, int status,
    const char *content_type, const char *body, size_t len);

/* An error response and finalize.  For API paths (r->api) it is OpenAI's
 * {"error":{"message","type","param","code"}}; for the page a small HTML
 * document.  type NULL picks one from the status; param and code may be
 * NULL (sent as null). */
int lmd_http_error(struct lmd_http_request *r, int status, const char *type,
    const char *param, const char *code, const char *fmt, ...)
    LMD_PRINTF(6, 7);

const char *lmd_http_status_text(int status);

/* Connection-level entry points (lmd_http_conn.c). */
int  lmd_http_accept(struct lmd_conn *c, void *data);
void lmd_http_close_idle(struct lmd_conn *c, void *data);

/* ---------------------------------------------------------------- router */

typedef int (*lmd_http_handler_pt)(struct lmd_http_request *r);

#define LMD_ROUTE_API        0x01    /* OpenAI-shaped errors */
#define LMD_ROUTE_AUTH       0x02    /* needs an API key when keys are set */
#define LMD_ROUTE_PREFIX     0x04    /* path is a prefix */

struct lmd_http_route {
    const char                *path;
    unsigned                   methods;   /* 1 << enum lmd_http_method */
    unsigned                   flags;     /* LMD_ROUTE_* */
    lmd_http_handler_pt        handler;
};

/* Finds the route for a path (no I/O; for tests too).  *allowed gets the
 * route's method mask.  NULL when no route matches. */
const struct lmd_http_route *lmd_http_route_find(const char *path,
    size_t len);

/* Runs a complete request: CORS, auth, route, handler. */
void lmd_http_dispatch(struct lmd_http_request *r);

/* Handlers. */
int lmd_http_static_handler(struct lmd_http_request *r);
int lmd_http_health_handler(struct lmd_http_request *r);
int lmd_http_models_handler(struct lmd_http_request *r);
/* POST /v1/chat/completions and /v1/completions (lmd_http_completions.c) */
int lmd_http_chat_completions_handler(struct lmd_http_request *r);
int lmd_http_completions_handler(struct lmd_http_request *r);

/* --------------------------------------------------------------- auth */

/* LMD_OK when the Authorization header carries one of the cycle's keys
 * ("Bearer KEY", compared in constant time), or no keys are configured;
 * LMD_DECLINED otherwise. */
int lmd_http_auth_check(const struct lmd_cycle *cycle,
    const struct lmd_str *authorization);
/* The digest keys are kept as (SHA-256). */
void lmd_http_auth_digest(const char *key, size_t len,
    unsigned char digest[LMD_KEY_DIGEST_LEN]);

/* ---------------------------------------------------------- access log */

void lmd_http_log_request(struct lmd_http_request *r);

#endif /* LMD_HTTP_H */
