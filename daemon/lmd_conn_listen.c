/*
 * lmd_conn_listen.c -- listening sockets on libevent's evconnlistener.
 *
 * Sockets are bound by lmd_listener_open() before privileges are dropped and
 * survive reloads: the configuration cycle moves a listener whose address is
 * still configured into the new cycle and only swaps its TLS context and
 * accept handler.  All listeners pause together while max_connections is
 * reached, and for a second after accept() fails for lack of descriptors.
 */

#include "lmd_conn.h"
#include "lmd_event.h"
#include "lmd_event_base.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/listener.h>

#include <openssl/ssl.h>

#define LMD_LISTEN_BACKLOG     511
#define LMD_ACCEPT_RETRY_MS    1000

struct lmd_listener {
    struct lmd_listener    *prev, *next;
    struct evconnlistener  *evl;
    int                     fd;
    struct sockaddr_storage sa;
    socklen_t               salen;
    char                   *name;          /* "127.0.0.1:8080" */
    SSL_CTX                *ssl_ctx;       /* NULL: plain */
    lmd_accept_pt           handler;
    void                   *data;
};

static struct lmd_listener  *lmd_listeners;
static int                   lmd_listeners_paused;
static struct lmd_timer     *lmd_accept_retry;

struct lmd_conn *lmd_conn_accepted(struct lmd_listener *l, int fd,
    const struct sockaddr *sa, SSL_CTX *ssl_ctx);
void lmd_listeners_pause(int pause);


static void
lmd_listener_accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
    struct lmd_listener  *l = arg;
    struct lmd_conn      *c;

    lmd_unused(evl);
    lmd_unused(salen);

    c = lmd_conn_accepted(l, fd, sa, l->ssl_ctx);
    if (c == NULL) {
        return;
    }
    if (l->handler(c, l->data) != LMD_OK) {
        lmd_conn_close(c);
    }
}


static void
lmd_accept_retry_cb(void *data)
{
    lmd_unused(data);
    lmd_listeners_pause(0);
}


static void
lmd_listener_error_cb(struct evconnlistener *evl, void *arg)
{
    struct lmd_listener  *l = arg;
    int                   err = EVUTIL_SOCKET_ERROR();

    lmd_unused(evl);
    lmd_log_error(LMD_LOG_ERR, lmd_error_log, err, "accept() on %s failed",
                  l->name);

    /* Out of descriptors: stop accepting for a while rather than spin. */
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        lmd_listeners_pause(1);
        if (lmd_accept_retry == NULL) {
            lmd_accept_retry = lmd_timer_new(lmd_accept_retry_cb, NULL);
        }
        if (lmd_accept_retry != NULL) {
            lmd_timer_add(lmd_accept_retry, LMD_ACCEPT_RETRY_MS);
        }
    }
}


void
lmd_listeners_pause(int pause)
{
    struct lmd_listener  *l;

    if (pause == lmd_listeners_paused) {
        return;
    }
    lmd_listeners_paused = pause;
    for (l = lmd_listeners; l != NULL; l = l->next) {
        if (l->evl == NULL) {
            continue;
        }
        if (pause) {
            evconnlistener_disable(l->evl);
        } else {
            evconnlistener_enable(l->evl);
        }
    }
}


struct lmd_listener *
lmd_listener_open(const struct sockaddr *sa, socklen_t len, const char *name,
    char *err, size_t errlen)
{
    struct lmd_listener  *l;
    int                   fd, one = 1;

    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd == -1) {
        snprintf(err, errlen, "socket() for %s failed: %s", name,
                 strerror(errno));
        return NULL;
    }

    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (sa->sa_family == AF_INET6) {
        /* "[::]:80" means IPv6 only; list "0.0.0.0:80" too for IPv4. */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }

    if (bind(fd, sa, len) == -1) {
        snprintf(err, errlen, "bind() to %s failed: %s", name,
                 strerror(errno));
        close(fd);
        return NULL;
    }
    if (listen(fd, LMD_LISTEN_BACKLOG) == -1) {
        snprintf(err, errlen, "listen() on %s failed: %s", name,
                 strerror(errno));
        close(fd);
        return NULL;
    }

    l = calloc(1, sizeof(struct lmd_listener));
    if (l == NULL || (l->name = strdup(name)) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(l);
        close(fd);
        return NULL;
    }
    l->fd = fd;
    memcpy(&l->sa, sa, len);
    l->salen = len;

    l->next = lmd_listeners;
    if (lmd_listeners != NULL) {
        lmd_listeners->prev = l;
    }
    lmd_listeners = l;
    return l;
}


int
lmd_listener_start(struct lmd_listener *l, lmd_accept_pt handler, void *data)
{
    l->handler = handler;
    l->data = data;
    if (l->evl != NULL) {
        return LMD_OK;
    }

    l->evl = evconnlistener_new(lmd_event_base(), lmd_listener_accept_cb, l,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                -1, l->fd);
    if (l->evl == NULL) {
        lmd_log_error(LMD_LOG_ERR, lmd_error_log, errno,
                      "cannot listen on %s", l->name);
        return LMD_ERROR;
    }
    evconnlistener_set_error_cb(l->evl, lmd_listener_error_cb);
    if (lmd_listeners_paused) {
        evconnlistener_disable(l->evl);
    }
    return LMD_OK;
}


void
lmd_listener_set_handler(struct lmd_listener *l, lmd_accept_pt handler,
    void *data)
{
    l->handler = handler;
    l->data = data;
}


void
lmd_listener_set_tls(struct lmd_listener *l, SSL_CTX *ctx)
{
    if (ctx != NULL) {
        SSL_CTX_up_ref(ctx);
    }
    if (l->ssl_ctx != NULL) {
        SSL_CTX_free(l->ssl_ctx);
    }
    l->ssl_ctx = ctx;
}


void
lmd_listener_close(struct lmd_listener *l)
{
    if (l->prev != NULL) {
        l->prev->next = l->next;
    } else {
        lmd_listeners = l->next;
    }
    if (l->next != NULL) {
        l->next->prev = l->prev;
    }

    if (l->evl != NULL) {
        evconnlistener_free(l->evl);        /* closes the socket */
    } else {
        close(l->fd);
    }
    if (l->ssl_ctx != NULL) {
        SSL_CTX_free(l->ssl_ctx);
    }
    free(l->name);
    free(l);

    if (lmd_listeners == NULL && lmd_accept_retry != NULL) {
        lmd_timer_free(lmd_accept_retry);
        lmd_accept_retry = NULL;
    }
}


const char *
lmd_listener_name(const struct lmd_listener *l)
{
    return l->name;
}


int
lmd_listener_same_address(const struct lmd_listener *l,
    const struct sockaddr *sa, socklen_t len)
{
    return l->salen == len && memcmp(&l->sa, sa, len) == 0;
}
