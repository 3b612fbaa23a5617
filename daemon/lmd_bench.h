/*
 * lmd_bench.h -- `lmd bench URL`: a load generator for OpenAI-compatible
 * servers, and the pieces its files share.
 *
 *   lmd_cmd_bench.c     options, the URL, the model, main flow
 *   lmd_bench_prompt.c  length distributions, seeded draws, request bodies
 *   lmd_bench_conn.c    client sockets (TCP or TLS) on libevent
 *   lmd_bench_http.c    HTTP/1.1 exchanges over kept-alive connections
 *   lmd_bench_stream.c  server-sent events and OpenAI stream chunks
 *   lmd_bench_run.c     the closed or open loop of requests, progress
 *   lmd_bench_report.c  percentiles, the report and --json
 *
 * Design: one process, one event loop (lmd_event.h), many connections.
 * Every request body is built before the clock starts, so nothing but
 * sockets and parsing runs between a request's send and its last event.
 * Everything here is loop-thread only.
 */

#ifndef LMD_BENCH_H
#define LMD_BENCH_H

#include "lmd_core.h"

#include <sys/socket.h>
#include <sys/uio.h>

#define LMD_BENCH_MAX_LEN      (1 << 24)   /* tokens, in and out */
#define LMD_BENCH_SHOW_ERRORS  5           /* the first failures printed */
#define LMD_BENCH_ERR_LEN      256         /* one failure's message */

enum lmd_bench_endpoint {
    LMD_BENCH_COMPLETIONS = 1,      /* /v1/completions */
    LMD_BENCH_CHAT                  /* /v1/chat/completions */
};

/* ------------------------------------------------------ distributions */

enum lmd_bench_dist_kind {
    LMD_BENCH_FIXED = 1,            /* "N" */
    LMD_BENCH_UNIFORM,              /* "A:B", integers in [A, B] */
    LMD_BENCH_NORMAL                /* "N~S", rounded, clamped >= 1 */
};

struct lmd_bench_dist {
    int      kind;                  /* enum lmd_bench_dist_kind */
    double   a;                     /* N, A or the mean */
    double   b;                     /* B or the standard deviation */
};

/* splitmix64: small, seeded, the same draws on every machine. */
struct lmd_bench_rng {
    uint64_t  state;
};

/* Parses DIST (see the enum).  LMD_OK, or LMD_ERROR with err saying what
 * a DIST looks like. */
int      lmd_bench_dist_parse(const char *s, struct lmd_bench_dist *d,
    char *err, size_t errlen);
uint64_t lmd_bench_rng_next(struct lmd_bench_rng *r);
/* Uniform in [0, 1). */
double   lmd_bench_rng_double(struct lmd_bench_rng *r);
/* A draw from d, in [1, LMD_BENCH_MAX_LEN]. */
uint32_t lmd_bench_dist_draw(const struct lmd_bench_dist *d,
    struct lmd_bench_rng *r);

/* ------------------------------------------------------------ options */

struct lmd_bench_opts {
    const char             *url;
    const char             *model;         /* NULL: the server's first */
    int                     endpoint;      /* enum lmd_bench_endpoint */
    long long               requests;
    long long               concurrency;   /* closed loop; 0 with rate */
    double                  rate;          /* req/s, open loop; 0: off */
    struct lmd_bench_dist   input_len;
    struct lmd_bench_dist   output_len;
    uint64_t                seed;
    const char             *api_key;       /* NULL: none */
    const char             *tokenizer;     /* model folder, or NULL */
    double                  temperature;
    uint64_t                timeout_ms;    /* silence before a failure */
    int                     ignore_eos;
    int                     insecure;      /* https: no verification */
    int                     json;
    int                     quiet;
};

/* ------------------------------------------------------------- target */

/* Where the requests go: the parsed URL, its resolved address, TLS. */
struct lmd_bench_target {
    char                     host[256];     /* no brackets around IPv6 */
    char                     port[8];
    char                     authority[300]; /* the Host header */
    char                     api[512];      /* "/v1" or "/prefix/v1" */
    int                      tls;
    int                      insecure;
    struct sockaddr_storage  addr;
    socklen_t                addrlen;
    void                    *ssl_ctx;       /* SSL_CTX, with tls */
};

/* Parses http[s]://host[:port][/path] (lmd_bench_conn.c).  LMD_OK, or
 * LMD_ERROR with err naming what is wrong. */
int  lmd_bench_target_init(struct lmd_bench_target *t, const char *url,
    int insecure, char *err, size_t errlen);
/* Resolves the host (the first address) and makes the TLS context.
 * LMD_OK, or LMD_ERROR with err set. */
int  lmd_bench_target_resolve(struct lmd_bench_target *t, char *err,
    size_t errlen);
void lmd_bench_target_free(struct lmd_bench_target *t);

/* ------------------------------------------------- client connections */

struct lmd_bench_conn;

/* How a connection ended. */
enum lmd_bench_conn_end {
    LMD_BENCH_CONN_EOF = 1,         /* the peer closed */
    LMD_BENCH_CONN_FAILED,          /* connect, socket or TLS error */
    LMD_BENCH_CONN_TIMEOUT          /* no progress for the timeout */
};

struct lmd_bench_conn_handler {
    /* Input is buffered (lmd_bench_conn_input).  May close c.  Required. */
    void  (*on_read)(void *data);
    /* The connection ended (enum lmd_bench_conn_end; why says it in
     * words).  The handler must close c.  Required. */
    void  (*on_end)(void *data, int how, const char *why);
};

/* Starts connecting to t (the TLS handshake included); writes queue until
 * the connection is up.  NULL with err set when it cannot even start. */
struct lmd_bench_conn *lmd_bench_conn_open(const struct lmd_bench_target *t,
    const struct lmd_bench_conn_handler *h, void *data, char *err,
    size_t errlen);
/* Queues bytes (copied).  LMD_OK or LMD_ERROR (out of memory). */
int    lmd_bench_conn_write(struct lmd_bench_conn *c, const void *buf,
    size_t len);
/* Fills up to n iovecs with the buffered input; returns how many. */
int    lmd_bench_conn_input(struct lmd_bench_conn *c, struct iovec *iov,
    int n);
void   lmd_bench_conn_drain(struct lmd_bench_conn *c, size_t n);
/* Fails the connection (on_error, "timed out") after ms without progress
 * in either direction; 0 switches the timeout off. */
void   lmd_bench_conn_timeout(struct lmd_bench_conn *c, uint64_t ms);
/* Closes now; no callback follows.  Safe inside the callbacks. */
void   lmd_bench_conn_close(struct lmd_bench_conn *c);

/* -------------------------------------------------------------- HTTP */

struct lmd_bench_client;
struct lmd_bench_hconn;
struct lmd_bench_call;

typedef int  (*lmd_bench_body_pt)(struct lmd_bench_call *call,
    const char *at, size_t len);
typedef void (*lmd_bench_done_pt)(struct lmd_bench_call *call,
    const char *err);

/* One request and its response.  The caller owns it and the strings it
 * points at until on_done. */
struct lmd_bench_call {
    const char          *method;        /* "GET", "POST" */
    const char          *path;          /* "/v1/models" */
    const char          *body;          /* NULL for none */
    size_t               body_len;
    /* Response body bytes, as they come (chunked decoding done).  Return
     * LMD_ERROR to give up: the connection is closed and on_done
     * follows with err "aborted".  Required. */
    lmd_bench_body_pt    on_body;
    /* The exchange ended: err NULL for a whole response (any status),
     * else why not.  Called once, never from inside call_start. */
    lmd_bench_done_pt    on_done;
    void                *data;

    /* filled in */
    int                  status;        /* 0 until the headers came */
    char                 content_type[64];
    double               t_sent;        /* lmd_bench_now() at the write */

    /* private to lmd_bench_http.c */
    struct lmd_bench_hconn  *hc;
    int                      tries;
};

/* The client for one target: keeps idle connections for reuse.  api_key
 * may be NULL; timeout_ms 0 is none.  NULL when out of memory. */
struct lmd_bench_client *lmd_bench_client_new(
    const struct lmd_bench_target *t, const char *api_key,
    uint64_t timeout_ms);
/* Sends call on an idle connection, or a new one.  LMD_OK, or LMD_ERROR
 * with err set (on_done is then not called). */
int  lmd_bench_call_start(struct lmd_bench_client *cl,
    struct lmd_bench_call *call, char *err, size_t errlen);
/* Connections open now (busy and idle). */
size_t lmd_bench_client_conns(const struct lmd_bench_client *cl);
/* Closes every connection; calls in flight get no on_done. */
void lmd_bench_client_free(struct lmd_bench_client *cl);

/* Monotonic seconds. */
double lmd_bench_now(void);

/* ------------------------------------------------------------ streams */

/* A server-sent event stream being read: the line in progress and the
 * data lines of the event in progress. */
struct lmd_bench_sse {
    char      *line;
    size_t     line_len, line_cap;
    char      *data;
    size_t     data_len, data_cap;
    unsigned   has_data:1;
    unsigned   error_event:1;       /* "event: error" */
};

/* Called with each event's data (NUL-terminated; data lines joined by
 * "\n").  Returns LMD_OK, or LMD_ERROR to stop the feed. */
typedef int (*lmd_bench_event_pt)(void *data, const char *ev, size_t len,
    int error_event);

/* Feeds stream bytes; events go to cb.  LMD_OK, or LMD_ERROR (a line
 * over 4 MiB, out of memory, or cb's LMD_ERROR) with err set unless cb
 * failed. */
int  lmd_bench_sse_feed(struct lmd_bench_sse *s, const char *at, size_t len,
    lmd_bench_event_pt cb, void *data, char *err, size_t errlen);
/* 1 when bytes of an unfinished line or event are pending. */
int  lmd_bench_sse_pending(const struct lmd_bench_sse *s);
void lmd_bench_sse_free(struct lmd_bench_sse *s);

/* What one OpenAI stream chunk says. */
struct lmd_bench_chunk {
    int          done;              /* "[DONE]" */
    size_t       content_len;       /* bytes of text or delta.content */
    long long    prompt_tokens;     /* usage, -1 when absent */
    long long    completion_tokens;
};

/* Reads one event's data.  LMD_OK, or LMD_ERROR with err set: not JSON,
 * or an error object (its message). */
int lmd_bench_chunk_parse(const char *ev, size_t len, int endpoint,
    struct lmd_bench_chunk *c, char *err, size_t errlen);
/* The message of an error response body ({"error": {"message": ...}}, or
 * the start of the body as text) into err. */
void lmd_bench_error_body(const char *body, size_t len, char *err,
    size_t errlen);

/* --------------------------------------------------------- requests */

/* One benchmark request: its body, then what was measured. */
struct lmd_bench_req {
    char                   *body;
    size_t                  body_len;
    uint32_t                input_len;      /* drawn */
    uint32_t                output_len;     /* drawn: max_tokens */

    struct lmd_bench_call   call;
    struct lmd_bench_sse    sse;
    struct lmd_bench       *bench;
    char                   *errbody;        /* non-200: the body's start */
    size_t                  errbody_len;
    char                   *error;          /* why it failed (malloc'd) */
    double                 *itl;            /* gaps between events, s */
    size_t                  n_itl, itl_cap;

    double                  t_first;        /* first content event */
    double                  t_last;         /* latest content event */
    double                  t_end;
    long long               prompt_tokens;  /* usage, -1 unknown */
    long long               completion_tokens;
    uint32_t                events;         /* content events */
    unsigned                finished:1;
    unsigned                failed:1;       /* error is set */
    unsigned                ok:1;           /* finished, not failed */
    unsigned                checked:1;      /* the Content-Type */
    unsigned                got_done:1;     /* data: [DONE] */
};

/* One run of the benchmark (lmd_bench_run.c). */
struct lmd_bench {
    const struct lmd_bench_opts  *o;
    struct lmd_bench_client      *client;
    const char                   *path;     /* the endpoint's path */
    struct lmd_bench_req         *reqs;
    size_t                        n;
    double                       *arrivals; /* rate: seconds from start */

    size_t                        next;     /* the next to send */
    size_t                        running;
    size_t                        finished;
    size_t                        failed;
    double                        t_start;
    double                        t_end;
    uint64_t                      live_tokens;  /* for the progress */

    /* the gaps between the events of every successful request, s */
    double                       *itl;
    size_t                        n_itl, itl_cap;
    /* the first failures' messages (malloc'd) */
    char                         *errors[LMD_BENCH_SHOW_ERRORS];

    struct lmd_timer             *arrival_timer;
    struct lmd_timer             *progress_timer;
    int                           progress;     /* stderr is a tty */
    int                           shown;        /* a progress line is up */
    int                           filling;
    int                           interrupted;  /* SIGINT */
    int                           oom;
};

/* Builds the n request bodies for model (lmd_bench_prompt.c).  LMD_OK,
 * or LMD_ERROR with err set (the tokenizer, memory). */
int  lmd_bench_build(struct lmd_bench *b, const char *model, char *err,
    size_t errlen);

/* Runs every request to its end (or SIGINT).  LMD_OK, or LMD_ERROR with
 * err set when the loop itself failed. */
int  lmd_bench_run(struct lmd_bench *b, char *err, size_t errlen);
/* GET /v1/models: the first model's id into id.  LMD_OK, or LMD_ERROR
 * with err set. */
int  lmd_bench_first_model(struct lmd_bench_client *cl,
    const struct lmd_bench_target *t, char *id, size_t idlen, char *err,
    size_t errlen);

/* Frees what r holds (its body, buffers, message); r stays. */
void lmd_bench_req_free(struct lmd_bench_req *r);
/* r ended, either way: counts it, sends the next (lmd_bench_run.c). */
void lmd_bench_req_finished(struct lmd_bench_req *r);

/* ------------------------------------------------------------ report */

struct lmd_bench_stat {
    size_t   n;
    double   mean, std, median, p90, p99;   /* milliseconds */
};

/* The p-th percentile (0..100) of sorted v, interpolated linearly
 * between the closest ranks (numpy's default). */
double lmd_bench_percentile(const double *sorted, size_t n, double p);
/* Sorts v (seconds) and fills s in milliseconds.  */
void   lmd_bench_stat(double *v, size_t n, struct lmd_bench_stat *s);
/* Prints the report, text or one JSON object, to out.  LMD_OK, or
 * LMD_ERROR (out of memory). */
int    lmd_bench_report(const struct lmd_bench *b, const char *model,
    const char *url, FILE *out);

#endif /* LMD_BENCH_H */
