/*
 * lmd_bench_conn.c -- the client sockets of `lmd bench`: outgoing TCP
 * connections, optionally in TLS, on libevent bufferevents.
 *
 * The server side has its connection layer in lmd_conn.c; a client needs
 * connect, TLS as a client and no listener, so this is its own small
 * layer, and the one bench file that includes <event2/...> (STYLE.md
 * #12).  Above it, lmd_bench_http.c sees buffered input, a write call and
 * two hooks.  The bufferevent keeps queued writes until connect (and the
 * TLS handshake) finish.  Loop thread only.
 */

#include "lmd_bench.h"
#include "lmd_event_base.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct lmd_bench_conn {
    struct bufferevent                   *bev;
    const struct lmd_bench_conn_handler  *handler;
    void                                 *data;
    const struct lmd_bench_target        *target;
    unsigned                              connected:1;
};


/* ------------------------------------------------------- the target */

/* The client TLS context: the system's CA store, unless --insecure. */
static int
lmd_bench_tls_init(struct lmd_bench_target *t, char *err, size_t errlen)
{
    SSL_CTX  *ctx;

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS context");
        return LMD_ERROR;
    }
    if (t->insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            SSL_CTX_free(ctx);
            snprintf(err, errlen, "cannot load the system's CA "
                     "certificates (--insecure skips verification)");
            return LMD_ERROR;
        }
    }
    t->ssl_ctx = ctx;
    return LMD_OK;
}


int
lmd_bench_target_init(struct lmd_bench_target *t, const char *url,
    int insecure, char *err, size_t errlen)
{
    const char  *p, *start, *host, *end, *path;
    size_t       hlen, plen;

    memset(t, 0, sizeof(*t));
    t->insecure = insecure;

    if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
        snprintf(t->port, sizeof(t->port), "80");
    } else if (strncmp(url, "https://", 8) == 0) {
        p = url + 8;
        t->tls = 1;
        snprintf(t->port, sizeof(t->port), "443");
    } else {
        snprintf(err, errlen, "%s: expected a URL like "
                 "http://127.0.0.1:8080 (http or https)", url);
        return LMD_ERROR;
    }

    start = p;
    path = p + strcspn(p, "/?#");
    if (strpbrk(path, "?#") != NULL) {
        snprintf(err, errlen, "%s: a base URL takes no query or "
                 "fragment", url);
        return LMD_ERROR;
    }
    if (memchr(p, '@', (size_t) (path - p)) != NULL) {
        snprintf(err, errlen, "%s: no user in the URL (the API key goes "
                 "to --api-key)", url);
        return LMD_ERROR;
    }

    /* host, [v6 host], then an optional :port */
    if (*p == '[') {
        host = p + 1;
        end = memchr(host, ']', (size_t) (path - host));
        if (end == NULL) {
            goto bad_host;
        }
        hlen = (size_t) (end - host);
        p = end + 1;
    } else {
        host = p;
        end = memchr(p, ':', (size_t) (path - p));
        p = end != NULL ? end : path;
        hlen = (size_t) (p - host);
    }
    if (hlen == 0 || hlen >= sizeof(t->host)) {
        goto bad_host;
    }
    memcpy(t->host, host, hlen);
    t->host[hlen] = '\0';

    if (*p == ':') {
        plen = (size_t) (path - p - 1);
        if (plen == 0 || plen > 5 || strspn(p + 1, "0123456789") < plen) {
            snprintf(err, errlen, "%s: bad port", url);
            return LMD_ERROR;
        }
        memcpy(t->port, p + 1, plen);
        t->port[plen] = '\0';
        if (strtol(t->port, NULL, 10) < 1
            || strtol(t->port, NULL, 10) > 65535)
        {
            snprintf(err, errlen, "%s: bad port", url);
            return LMD_ERROR;
        }
    } else if (p != path) {
        goto bad_host;
    }
    /* the Host header: host and port as the URL wrote them */
    snprintf(t->authority, sizeof(t->authority), "%.*s",
             (int) (path - start), start);

    /* the API's root: the path without trailing slashes, then /v1 unless
     * it already ends so */
    plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/') {
        plen--;
    }
    if (plen >= 3 && memcmp(path + plen - 3, "/v1", 3) == 0) {
        plen -= 3;
    }
    if (plen + sizeof("/v1") > sizeof(t->api)) {
        snprintf(err, errlen, "%s: the path is too long", url);
        return LMD_ERROR;
    }
    snprintf(t->api, sizeof(t->api), "%.*s/v1", (int) plen, path);
    return LMD_OK;

bad_host:
    snprintf(err, errlen, "%s: bad host", url);
    return LMD_ERROR;
}


int
lmd_bench_target_resolve(struct lmd_bench_target *t, char *err,
    size_t errlen)
{
    struct addrinfo  hints, *res;
    int              rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(t->host, t->port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", t->host, gai_strerror(rc));
        return LMD_ERROR;
    }
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addrlen = res->ai_addrlen;
    freeaddrinfo(res);

    if (t->tls) {
        return lmd_bench_tls_init(t, err, errlen);
    }
    return LMD_OK;
}


void
lmd_bench_target_free(struct lmd_bench_target *t)
{
    if (t->ssl_ctx != NULL) {
        SSL_CTX_free(t->ssl_ctx);
        t->ssl_ctx = NULL;
    }
}


/* ---------------------------------------------------- libevent glue */

static void
lmd_bench_conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct lmd_bench_conn  *c = arg;

    lmd_unused(bev);
    c->handler->on_read(c->data);
}


static void
lmd_bench_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct lmd_bench_conn  *c = arg;
    unsigned long           e;
    SSL                    *ssl;
    char                    why[400], ssl_why[128];
    int                     err = EVUTIL_SOCKET_ERROR();

    if (what & BEV_EVENT_CONNECTED) {
        c->connected = 1;
        if (c->target->tls == 0) {
            int  one = 1;

            /* requests are one write each: no Nagle delay on them */
            setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
                       &one, sizeof(one));
        }
        return;
    }

    if (what & BEV_EVENT_EOF) {
        c->handler->on_end(c->data, LMD_BENCH_CONN_EOF, "the server closed "
                           "the connection");
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        snprintf(why, sizeof(why), "%s timed out",
                 c->connected ? "the response" : "connect");
        c->handler->on_end(c->data, LMD_BENCH_CONN_TIMEOUT, why);
        return;
    }

    e = c->target->tls ? bufferevent_get_openssl_error(bev) : 0;
    ssl = c->target->tls ? bufferevent_openssl_get_ssl(bev) : NULL;
    if (ssl != NULL && SSL_get_verify_result(ssl) != X509_V_OK) {
        snprintf(why, sizeof(why), "TLS: the certificate of %s: %s "
                 "(--insecure skips the check)", c->target->host,
                 X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
    } else if (e != 0) {
        ERR_error_string_n(e, ssl_why, sizeof(ssl_why));
        snprintf(why, sizeof(why), "TLS: %s", ssl_why);
    } else if (err != 0) {
        snprintf(why, sizeof(why), "%s%s", c->connected ? "" : "connect: ",
                 strerror(err));
    } else {
        snprintf(why, sizeof(why), "%s failed",
                 c->connected ? "the connection" : "connect");
    }
    c->handler->on_end(c->data, LMD_BENCH_CONN_FAILED, why);
}


/* ------------------------------------------------------ connections */

struct lmd_bench_conn *
lmd_bench_conn_open(const struct lmd_bench_target *t,
    const struct lmd_bench_conn_handler *h, void *data, char *err,
    size_t errlen)
{
    struct lmd_bench_conn  *c;
    struct event_base      *base = lmd_event_base();
    struct in6_addr         ip;
    SSL                    *ssl;

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->handler = h;
    c->data = data;
    c->target = t;

    if (t->tls) {
        ssl = SSL_new(t->ssl_ctx);
        if (ssl == NULL) {
            snprintf(err, errlen, "cannot create a TLS session");
            free(c);
            return NULL;
        }
        /* SNI and the name checked: the URL's host, a name or an IP */
        if (inet_pton(AF_INET, t->host, &ip) != 1
            && inet_pton(AF_INET6, t->host, &ip) != 1)
        {
            SSL_set_tlsext_host_name(ssl, t->host);
            if (!t->insecure) {
                SSL_set1_host(ssl, t->host);
            }
        } else if (!t->insecure) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), t->host);
        }
        c->bev = bufferevent_openssl_socket_new(base, -1, ssl,
                                                BUFFEREVENT_SSL_CONNECTING,
                                                BEV_OPT_CLOSE_ON_FREE);
        if (c->bev == NULL) {
            SSL_free(ssl);
        } else {
            /* a server that closes without close_notify ends the body */
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        }
    } else {
        c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (c->bev == NULL) {
        snprintf(err, errlen, "cannot create a connection");
        free(c);
        return NULL;
    }

    bufferevent_setcb(c->bev, lmd_bench_conn_read_cb, NULL,
                      lmd_bench_conn_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *) &t->addr,
                                   (int) t->addrlen) != 0)
    {
        snprintf(err, errlen, "connect: %s",
                 strerror(EVUTIL_SOCKET_ERROR()));
        bufferevent_free(c->bev);
        free(c);
        return NULL;
    }
    return c;
}


int
lmd_bench_conn_write(struct lmd_bench_conn *c, const void *buf, size_t len)
{
    return bufferevent_write(c->bev, buf, len) == 0 ? LMD_OK : LMD_ERROR;
}


int
lmd_bench_conn_input(struct lmd_bench_conn *c, struct iovec *iov, int n)
{
    struct evbuffer_iovec  v[16];
    int                    got, i;

    got = evbuffer_peek(bufferevent_get_input(c->bev), -1, NULL, v,
                        (int) lmd_min(n, (int) lmd_nelems(v)));
    got = lmd_min(got, lmd_min(n, (int) lmd_nelems(v)));
    for (i = 0; i < got; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len;
    }
    return got;
}


void
lmd_bench_conn_drain(struct lmd_bench_conn *c, size_t n)
{
    evbuffer_drain(bufferevent_get_input(c->bev), n);
}


void
lmd_bench_conn_timeout(struct lmd_bench_conn *c, uint64_t ms)
{
    struct timeval  tv;

    if (ms == 0) {
        bufferevent_set_timeouts(c->bev, NULL, NULL);
        return;
    }
    tv.tv_sec = (time_t) (ms / 1000);
    tv.tv_usec = (suseconds_t) (ms % 1000) * 1000;
    bufferevent_set_timeouts(c->bev, &tv, &tv);
}


void
lmd_bench_conn_close(struct lmd_bench_conn *c)
{
    if (c == NULL) {
        return;
    }
    /* libevent holds a reference while a callback runs: freeing inside
     * one is safe, and no callback of this bev follows */
    bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
    bufferevent_free(c->bev);
    free(c);
}
