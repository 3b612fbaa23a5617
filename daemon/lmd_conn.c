/*
 * lmd_conn.c -- accepted connections on libevent bufferevents.
 *
 * Design: each connection is one bufferevent (a socket one, or an OpenSSL
 * one over the socket for TLS listeners), so the protocol above sees the same
 * byte buffers either way.  The bufferevent callbacks are translated into the
 * four lmd_conn_handler hooks.  A connection that is closing after a flush
 * is owned by this layer alone: it sends what is queued, half-closes, reads
 * and discards for LMD_CONN_LINGER_MS, then frees itself.
 *
 * Live connections are kept on one list, for graceful stop and for the
 * max_connections limit, which pauses every listener while it is reached.
 *
 * Writes on plain sockets go through one flush hook per loop iteration
 * (STYLE.md #12): output is only appended while callbacks run, then the
 * hook writes each touched connection directly.  Only a socket that cannot
 * take everything gets its write event armed, so a request/response costs
 * one read and one write and no epoll_ctl calls.  TLS connections leave
 * writing to the OpenSSL bufferevent.
 */

#include "lmd_conn.h"
#include "lmd_event.h"
#include "lmd_event_base.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/ssl.h>

#define LMD_CONN_LINGER_MS     2000
#define LMD_CONN_READ_HIGH     (256 * 1024)    /* input bytes buffered */

static struct lmd_conn  *lmd_conns;
static struct lmd_conn  *lmd_flush_list;
static struct event     *lmd_flush_ev;
static uint64_t          lmd_nconns;
static uint64_t          lmd_conn_serial;
static long long         lmd_conn_limit = 1024;

static void lmd_conn_free(struct lmd_conn *c);
static void lmd_conn_linger(struct lmd_conn *c);

/* Listeners are paused and resumed by the limit (lmd_conn_listen.c). */
void lmd_listeners_pause(int pause);


void
lmd_conn_set_limit(long long max)
{
    lmd_conn_limit = max;
    lmd_listeners_pause((long long) lmd_nconns >= lmd_conn_limit);
}


uint64_t
lmd_conn_count(void)
{
    return lmd_nconns;
}


/* ------------------------------------------------------ libevent glue */

/* The output buffer is empty: finish a close, or tell the protocol. */
static void
lmd_conn_drained(struct lmd_conn *c)
{
    if (c->closing) {
        if (!c->lingering) {
            lmd_conn_linger(c);
        }
        return;
    }
    if (c->watch_drain && c->handler->on_drain != NULL) {
        c->handler->on_drain(c);
    }
}


/* The flush hook: runs once per loop iteration in which output was
 * queued, after the callbacks that queued it. */
static void
lmd_conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct evbuffer  *out;
    struct lmd_conn  *c;
    int               n;

    lmd_unused(fd);
    lmd_unused(what);
    lmd_unused(arg);

    while (lmd_flush_list != NULL) {
        c = lmd_flush_list;
        lmd_flush_list = c->flush_next;
        c->flush_pending = 0;

        out = bufferevent_get_output(c->bev);
        /* A bufferevent keeps its output's start frozen against other
         * writers; its own write callback thaws it the same way. */
        evbuffer_unfreeze(out, 1);
        do {
            /* one call stops where a sendfile() segment starts */
            n = evbuffer_write(out, c->fd);
        } while (n > 0 && evbuffer_get_length(out) > 0);
        evbuffer_freeze(out, 1);
        if (n == -1 && errno != EAGAIN && errno != EINTR) {
            /* Let the bufferevent meet the error and report it. */
            bufferevent_enable(c->bev, EV_WRITE);
            continue;
        }
        if (evbuffer_get_length(out) > 0) {
            bufferevent_enable(c->bev, EV_WRITE);   /* the socket is full */
            continue;
        }
        lmd_conn_drained(c);
    }
}


/* Puts a plain connection with new output on the flush list. */
static void
lmd_conn_schedule_flush(struct lmd_conn *c)
{
    if (c->tls || c->flush_pending || c->lingering) {
        return;
    }
    if (lmd_flush_ev == NULL) {
        lmd_flush_ev = event_new(lmd_event_base(), -1, 0, lmd_conn_flush_cb,
                                 NULL);
        if (lmd_flush_ev == NULL) {
            bufferevent_enable(c->bev, EV_WRITE);
            return;
        }
    }
    c->flush_pending = 1;
    c->flush_next = lmd_flush_list;
    lmd_flush_list = c;
    event_active(lmd_flush_ev, 0, 0);
}

static void
lmd_conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct lmd_conn  *c = arg;

    if (c->lingering) {
        evbuffer_drain(bufferevent_get_input(bev),
                       evbuffer_get_length(bufferevent_get_input(bev)));
        return;
    }
    c->handler->on_read(c);
}


static void
lmd_conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct lmd_conn  *c = arg;

    if (!c->tls) {
        /* Drained: later output goes through the flush hook again. */
        bufferevent_disable(bev, EV_WRITE);
    }
    lmd_conn_drained(c);
}


static void
lmd_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct lmd_conn  *c = arg;
    int               reason;

    lmd_unused(bev);
    if (what & BEV_EVENT_CONNECTED) {
        return;
    }
    if (c->lingering) {
        lmd_conn_free(c);
        return;
    }

    if (c->closing) {
        /* Already on its way out: the peer went first. */
        c->handler->on_close(c, LMD_CONN_FLUSHED);
        lmd_conn_free(c);
        return;
    }

    if ((what & BEV_EVENT_EOF) && c->handler->on_eof != NULL
        && c->handler->on_eof(c) == 0)
    {
        return;     /* the protocol flushes its last response first */
    }

    if (what & BEV_EVENT_TIMEOUT) {
        reason = LMD_CONN_SEND_TIMEOUT;
    } else if (what & BEV_EVENT_EOF) {
        reason = LMD_CONN_EOF;
    } else {
        reason = LMD_CONN_IO_ERROR;
    }

    lmd_log_debug(LMD_LOG_DEBUG_EVENT, lmd_error_log, EVUTIL_SOCKET_ERROR(),
                  "conn #%llu event 0x%x", (unsigned long long) c->number,
                  (unsigned) what);
    c->handler->on_close(c, reason);
    lmd_conn_free(c);
}


static void
lmd_conn_timer_cb(void *data)
{
    struct lmd_conn  *c = data;

    if (c->lingering) {
        lmd_conn_free(c);
        return;
    }
    if (c->closing) {
        lmd_conn_linger(c);     /* deferred by close_after_flush */
        return;
    }
    if (c->handler->on_timer != NULL) {
        c->handler->on_timer(c);
    }
}


/* ------------------------------------------------------------ creation */

/* Private to the listener code: wraps an accepted socket.  Returns NULL
 * (and has closed fd) on failure. */
struct lmd_conn *
lmd_conn_accepted(struct lmd_listener *l, int fd, const struct sockaddr *sa,
    SSL_CTX *ssl_ctx)
{
    struct lmd_conn  *c;
    SSL              *ssl;
    int               one = 1;

    c = calloc(1, sizeof(struct lmd_conn));
    if (c == NULL) {
        close(fd);
        return NULL;
    }
    c->fd = fd;
    c->listener = l;
    c->number = ++lmd_conn_serial;

    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr,
                  c->peer, sizeof(c->peer));
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr,
                  c->peer, sizeof(c->peer));
    } else {
        snprintf(c->peer, sizeof(c->peer), "unix");
    }

    /* Responses and SSE events are written whole: never wait for Nagle. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    c->pool = lmd_pool_create(2048);
    c->timer = lmd_timer_new(lmd_conn_timer_cb, c);
    if (c->pool == NULL || c->timer == NULL) {
        goto failed;
    }

    if (ssl_ctx != NULL) {
        ssl = SSL_new(ssl_ctx);
        if (ssl == NULL) {
            goto failed;
        }
        c->bev = bufferevent_openssl_socket_new(lmd_event_base(), fd, ssl,
                     BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
        if (c->bev == NULL) {
            SSL_free(ssl);
            goto failed;
        }
        /* Most clients just close TCP without a close_notify. */
        bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        c->tls = 1;
    } else {
        c->bev = bufferevent_socket_new(lmd_event_base(), fd,
                                        BEV_OPT_CLOSE_ON_FREE);
        if (c->bev == NULL) {
            goto failed;
        }
    }

    bufferevent_setcb(c->bev, lmd_conn_read_cb, lmd_conn_write_cb,
                      lmd_conn_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, LMD_CONN_READ_HIGH);
    /* Plain sockets arm EV_WRITE only when the flush hook meets a full
     * socket buffer; TLS lets OpenSSL's bufferevent write. */
    if (c->tls) {
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    } else {
        bufferevent_disable(c->bev, EV_WRITE);  /* enabled by default */
        bufferevent_enable(c->bev, EV_READ);
    }

    c->next = lmd_conns;
    if (lmd_conns != NULL) {
        lmd_conns->prev = c;
    }
    lmd_conns = c;
    lmd_nconns++;
    if ((long long) lmd_nconns >= lmd_conn_limit) {
        lmd_log_error(LMD_LOG_WARN, lmd_error_log, 0,
                      "%llu connections: max_connections reached, "
                      "pausing accept", (unsigned long long) lmd_nconns);
        lmd_listeners_pause(1);
    }
    return c;

failed:
    lmd_log_error(LMD_LOG_ERR, lmd_error_log, 0,
                  "cannot set up connection from %s", c->peer);
    lmd_timer_free(c->timer);
    lmd_pool_destroy(c->pool);
    if (c->bev == NULL) {
        close(fd);
    }
    free(c);
    return NULL;
}


static void
lmd_conn_free(struct lmd_conn *c)
{
    struct lmd_conn  **pp;

    if (c->flush_pending) {
        for (pp = &lmd_flush_list; *pp != NULL; pp = &(*pp)->flush_next) {
            if (*pp == c) {
                *pp = c->flush_next;
                break;
            }
        }
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        lmd_conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    lmd_nconns--;
    if ((long long) lmd_nconns < lmd_conn_limit) {
        lmd_listeners_pause(0);     /* idempotent */
    }

    bufferevent_free(c->bev);
    lmd_timer_free(c->timer);
    lmd_pool_destroy(c->pool);
    free(c);
}


void
lmd_conn_close(struct lmd_conn *c)
{
    lmd_conn_free(c);
}


/* ------------------------------------------------------------------ I/O */

int
lmd_conn_input(struct lmd_conn *c, struct iovec *iov, int n)
{
    struct evbuffer_iovec  v[16];
    int                    got, i;

    got = evbuffer_peek(bufferevent_get_input(c->bev), -1, NULL, v,
                        lmd_min(n, (int) lmd_nelems(v)));
    got = lmd_min(got, lmd_min(n, (int) lmd_nelems(v)));
    for (i = 0; i < got; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len;
    }
    return got;
}


size_t
lmd_conn_input_len(struct lmd_conn *c)
{
    return evbuffer_get_length(bufferevent_get_input(c->bev));
}


void
lmd_conn_input_drain(struct lmd_conn *c, size_t n)
{
    evbuffer_drain(bufferevent_get_input(c->bev), n);
}


void
lmd_conn_read_enable(struct lmd_conn *c, int on)
{
    if (on) {
        bufferevent_enable(c->bev, EV_READ);
    } else {
        bufferevent_disable(c->bev, EV_READ);
    }
}


int
lmd_conn_write(struct lmd_conn *c, const void *data, size_t len)
{
    if (bufferevent_write(c->bev, data, len) != 0) {
        return LMD_ERROR;
    }
    lmd_conn_schedule_flush(c);
    return LMD_OK;
}


/* Small files are copied into the output: header and body then leave in
 * one writev (one TCP segment) instead of a writev plus a sendfile. */
#define LMD_CONN_INLINE_FILE  (64 * 1024)

static int
lmd_conn_copy_file(struct lmd_conn *c, int fd, off_t offset, off_t len)
{
    struct evbuffer        *out = bufferevent_get_output(c->bev);
    struct evbuffer_iovec   v[2];
    ssize_t                 n, got;
    int                     nv, i, rc = LMD_ERROR;

    nv = evbuffer_reserve_space(out, (ev_ssize_t) len, v, 2);
    if (nv <= 0) {
        goto done;
    }
    got = 0;
    for (i = 0; i < nv && got < len; i++) {
        v[i].iov_len = lmd_min(v[i].iov_len, (size_t) (len - got));
        n = pread(fd, v[i].iov_base, v[i].iov_len, offset + got);
        if (n != (ssize_t) v[i].iov_len) {
            goto done;      /* the file shrank under us, or EIO */
        }
        got += n;
    }
    if (evbuffer_commit_space(out, v, i) == 0) {
        rc = LMD_OK;
    }

done:
    close(fd);
    return rc;
}


int
lmd_conn_write_file(struct lmd_conn *c, int fd, off_t offset, off_t len)
{
    if (len <= LMD_CONN_INLINE_FILE) {
        if (lmd_conn_copy_file(c, fd, offset, len) != LMD_OK) {
            return LMD_ERROR;
        }
    } else if (evbuffer_add_file(bufferevent_get_output(c->bev), fd, offset,
                                 len) != 0)
    {
        /* evbuffer_add_file owns fd from here; with TLS it reads the
         * file instead of calling sendfile. */
        return LMD_ERROR;
    }
    lmd_conn_schedule_flush(c);
    return LMD_OK;
}


size_t
lmd_conn_output_len(struct lmd_conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}


void
lmd_conn_watch_drain(struct lmd_conn *c, int on)
{
    c->watch_drain = on ? 1 : 0;
}


void
lmd_conn_timer(struct lmd_conn *c, uint64_t ms)
{
    if (ms == 0) {
        lmd_timer_del(c->timer);
    } else {
        lmd_timer_add(c->timer, ms);
    }
}


void
lmd_conn_send_timeout(struct lmd_conn *c, uint64_t ms)
{
    struct timeval  tv;

    tv.tv_sec = (time_t) (ms / 1000);
    tv.tv_usec = (suseconds_t) (ms % 1000) * 1000;
    bufferevent_set_timeouts(c->bev, NULL, ms ? &tv : NULL);
}


/* --------------------------------------------------------------- closing */

void
lmd_conn_close_after_flush(struct lmd_conn *c)
{
    c->closing = 1;
    c->watch_drain = 0;
    lmd_timer_del(c->timer);
    bufferevent_disable(c->bev, EV_READ);
    if (lmd_conn_output_len(c) == 0 || c->tls) {
        /* Never from inside the caller's stack: it may still use c.  TLS
         * output drains through the write callback. */
        if (lmd_conn_output_len(c) == 0) {
            lmd_timer_add(c->timer, 0);
        }
    } else {
        lmd_conn_schedule_flush(c);     /* lingers once it is sent */
    }
}


static void
lmd_conn_linger(struct lmd_conn *c)
{
    c->handler->on_close(c, LMD_CONN_FLUSHED);
    c->handler = NULL;
    c->data = NULL;

    if (c->tls) {
        /* TLS sends close_notify as the bufferevent is freed. */
        lmd_conn_free(c);
        return;
    }

    /* Half-close and read what the peer still sends, so that unread input
     * does not turn our final response into a TCP reset. */
    c->lingering = 1;
    shutdown(c->fd, SHUT_WR);
    bufferevent_disable(c->bev, EV_WRITE);
    bufferevent_enable(c->bev, EV_READ);
    lmd_timer_add(c->timer, LMD_CONN_LINGER_MS);
}


void
lmd_conn_abort_all(void)
{
    struct lmd_conn  *c;

    while (lmd_conns != NULL) {
        c = lmd_conns;
        if (c->handler != NULL && !c->lingering) {
            c->handler->on_close(c, LMD_CONN_IO_ERROR);
        }
        lmd_conn_free(c);
    }
    if (lmd_flush_ev != NULL) {
        event_free(lmd_flush_ev);       /* made again when needed */
        lmd_flush_ev = NULL;
    }
}


void
lmd_conn_foreach(void (*fn)(struct lmd_conn *c, void *data), void *data)
{
    struct lmd_conn  *c, *next;

    for (c = lmd_conns; c != NULL; c = next) {
        next = c->next;
        fn(c, data);
    }
}
