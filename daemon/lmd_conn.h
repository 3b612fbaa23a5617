/*
 * lmd_conn.h -- listening sockets and accepted connections, plain or TLS.
 *
 * The connection layer knows bytes, timers and sockets, never HTTP.  A
 * listener accepts, wraps the socket (in TLS when the listener has an
 * SSL_CTX) and hands the new connection to its accept handler, which sets
 * the protocol's callbacks.  From then on the protocol reads input in place
 * (lmd_conn_input), queues output (lmd_conn_write, lmd_conn_write_file) and
 * closes when it is done.
 *
 * Ownership: a connection owns its pool, socket, TLS state and timer.  The
 * protocol state hangs off c->data and is freed by the protocol, in its
 * on_close handler or before it calls lmd_conn_close().  Loop thread only.
 */

#ifndef LMD_CONN_H
#define LMD_CONN_H

#include "lmd_core.h"

#include <sys/socket.h>
#include <sys/uio.h>

struct lmd_conn;
struct lmd_listener;
struct bufferevent;
struct lmd_timer;
typedef struct ssl_ctx_st SSL_CTX;

/* Why the connection layer is closing a connection. */
enum lmd_conn_close_reason {
    LMD_CONN_EOF = 1,       /* the peer closed */
    LMD_CONN_IO_ERROR,      /* read/write/TLS error */
    LMD_CONN_SEND_TIMEOUT,  /* the peer stopped reading our output */
    LMD_CONN_FLUSHED        /* lmd_conn_close_after_flush() finished */
};

struct lmd_conn_handler {
    /* New input is available (lmd_conn_input).  Required. */
    void  (*on_read)(struct lmd_conn *c);
    /* The output buffer became empty (only while watching). (optional) */
    void  (*on_drain)(struct lmd_conn *c);
    /* The connection timer fired (lmd_conn_timer).  (optional) */
    void  (*on_timer)(struct lmd_conn *c);
    /* The connection is going away: free the protocol state; the layer
     * frees the connection right after this returns.  Required. */
    void  (*on_close)(struct lmd_conn *c, int reason);
    /* The peer half-closed (sent FIN).  Return 1 to close now (on_close
     * follows with LMD_CONN_EOF), or 0 after calling
     * lmd_conn_close_after_flush() to still send what is queued.
     * (optional: NULL closes now) */
    int   (*on_eof)(struct lmd_conn *c);
};

struct lmd_conn {
    void                           *data;      /* protocol state */
    const struct lmd_conn_handler  *handler;
    struct lmd_pool                *pool;      /* lives as long as c */
    struct lmd_listener            *listener;
    char                            peer[64];  /* "1.2.3.4" or "::1" */
    unsigned                        tls:1;
    unsigned                        closing:1; /* close after flush */
    unsigned                        watch_drain:1;
    unsigned                        lingering:1;
    unsigned                        flush_pending:1;
    uint64_t                        number;    /* accept counter */

    /* private to lmd_conn.c */
    int                             fd;
    struct bufferevent             *bev;
    struct lmd_timer               *timer;
    struct lmd_conn                *prev, *next;
    struct lmd_conn                *flush_next;
};

/* Called with each accepted connection; must set c->handler (and may set
 * c->data).  Returning LMD_ERROR closes the connection. */
typedef int (*lmd_accept_pt)(struct lmd_conn *c, void *data);

/* ------------------------------------------------------------ listeners */

/* Binds and listens (SO_REUSEADDR, IPV6_V6ONLY for IPv6).  The listener is
 * not accepting until lmd_listener_start().  Returns NULL with err set. */
struct lmd_listener *lmd_listener_open(const struct sockaddr *sa,
    socklen_t len, const char *name, char *err, size_t errlen);
/* Starts accepting; each connection goes to handler(c, data). */
int  lmd_listener_start(struct lmd_listener *l, lmd_accept_pt handler,
    void *data);
/* Replaces the TLS context new connections get (NULL: plain).  Takes a
 * reference on ctx, drops the one on the previous context. */
void lmd_listener_set_tls(struct lmd_listener *l, SSL_CTX *ctx);
void lmd_listener_set_handler(struct lmd_listener *l, lmd_accept_pt handler,
    void *data);
/* Stops accepting and closes the socket; accepted connections live on. */
void lmd_listener_close(struct lmd_listener *l);
const char *lmd_listener_name(const struct lmd_listener *l);
int  lmd_listener_same_address(const struct lmd_listener *l,
    const struct sockaddr *sa, socklen_t len);

/* --------------------------------------------------------- connections */

/* At most max live connections: beyond it listeners stop accepting until
 * one closes (the kernel's backlog holds the rest). */
void     lmd_conn_set_limit(long long max);
uint64_t lmd_conn_count(void);

/* Fills up to n iovecs with the buffered input, in order; returns how many
 * were filled.  The bytes stay valid until drained or the next read. */
int    lmd_conn_input(struct lmd_conn *c, struct iovec *iov, int n);
size_t lmd_conn_input_len(struct lmd_conn *c);
void   lmd_conn_input_drain(struct lmd_conn *c, size_t n);
/* Pauses or resumes reading from the socket. */
void   lmd_conn_read_enable(struct lmd_conn *c, int on);

/* Queues bytes (copied).  LMD_OK or LMD_ERROR (out of memory). */
int    lmd_conn_write(struct lmd_conn *c, const void *data, size_t len);
/* Queues len bytes of fd from offset; takes ownership of fd (closed when
 * sent or on failure).  Uses sendfile where the socket is plain. */
int    lmd_conn_write_file(struct lmd_conn *c, int fd, off_t offset,
    off_t len);
size_t lmd_conn_output_len(struct lmd_conn *c);
/* Calls handler->on_drain whenever the output buffer empties. */
void   lmd_conn_watch_drain(struct lmd_conn *c, int on);

/* Arms the connection's one timer (0 disarms it). */
void   lmd_conn_timer(struct lmd_conn *c, uint64_t ms);
/* Closes the connection if queued output makes no progress for ms. */
void   lmd_conn_send_timeout(struct lmd_conn *c, uint64_t ms);

/* Closes now: the socket, TLS state, timer and pool.  Does not call
 * on_close: the protocol calling this has cleaned up already. */
void   lmd_conn_close(struct lmd_conn *c);
/* Stops reading, sends what is queued, then closes (on_close is called
 * with LMD_CONN_FLUSHED).  Plain sockets linger: they half-close and read
 * and discard for a moment so the peer sees the last response, not RST. */
void   lmd_conn_close_after_flush(struct lmd_conn *c);

/* Closes every connection now, telling protocols (on_close with
 * LMD_CONN_IO_ERROR): the end of a graceful stop's grace period. */
void   lmd_conn_abort_all(void);

/* Calls fn on every live connection (graceful stop). fn may close c. */
void   lmd_conn_foreach(void (*fn)(struct lmd_conn *c, void *data),
    void *data);

#endif /* LMD_CONN_H */
