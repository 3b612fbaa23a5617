/*
 * lmd_cycle.c -- building, committing and releasing configuration cycles.
 *
 * Design: lmd_cycle_create() does everything that can fail (binding new
 * addresses, loading certificates, opening the access log) without
 * touching the running cycle; lmd_cycle_commit() then only does things that
 * cannot fail in a way worth refusing the reload for.  A listener belongs
 * to the current cycle; while a new cycle is being built it may point at
 * the old cycle's listeners, and takes them over on commit.
 */

#include "lmd_core.h"
#include "lmd_cycle.h"
#include "lmd_conn.h"
#include "lmd_http.h"
#include "lmd_tls.h"

#include <fcntl.h>

#include <openssl/ssl.h>

struct lmd_cycle  *lmd_cycle;
int                lmd_stopping;

/* Private parts, parallel to cycle->listeners. */
struct lmd_cycle_priv {
    SSL_CTX           **ssl_ctxs;      /* one per listen entry, or NULL */
    size_t              nctxs;
    unsigned char      *reused;
};


static void
lmd_cycle_free(struct lmd_cycle *cycle)
{
    struct lmd_cycle_priv  *priv = (struct lmd_cycle_priv *) (cycle + 1);
    size_t                  i;

    for (i = 0; i < priv->nctxs; i++) {
        if (priv->ssl_ctxs[i] != NULL) {
            SSL_CTX_free(priv->ssl_ctxs[i]);
        }
    }
    free(priv->ssl_ctxs);
    free(priv->reused);
    free(cycle->listeners);
    free(cycle->key_digests);
    lmd_log_close(cycle->access_log);
    if (cycle->html_fd >= 0) {
        close(cycle->html_fd);
    }
    lmd_conf_unref(cycle->conf);
    free(cycle);
}


struct lmd_cycle *
lmd_cycle_ref(struct lmd_cycle *cycle)
{
    cycle->refs++;
    return cycle;
}


void
lmd_cycle_unref(struct lmd_cycle *cycle)
{
    if (cycle != NULL && --cycle->refs == 0) {
        lmd_cycle_free(cycle);
    }
}


/* Binds (or takes over from old) the listener for conf's entry i. */
static int
lmd_cycle_listener(struct lmd_cycle *cycle, struct lmd_cycle *old, size_t i,
    char *err, size_t errlen)
{
    struct lmd_cycle_priv         *priv = (struct lmd_cycle_priv *) (cycle + 1);
    const struct lmd_conf_listen  *ls = &cycle->conf->http.listen[i];
    char                           why[LMD_ERR_LEN];
    size_t                         j, k;
    int                            taken;

    for (j = 0; old != NULL && j < old->nlisteners; j++) {
        if (!lmd_listener_same_address(old->listeners[j],
                                       (const struct sockaddr *) &ls->sockaddr,
                                       ls->socklen))
        {
            continue;
        }
        for (k = 0, taken = 0; k < i; k++) {
            taken |= cycle->listeners[k] == old->listeners[j];
        }
        if (!taken) {
            cycle->listeners[i] = old->listeners[j];
            priv->reused[i] = 1;
            break;
        }
    }

    if (cycle->listeners[i] == NULL) {
        cycle->listeners[i] = lmd_listener_open(
            (const struct sockaddr *) &ls->sockaddr, ls->socklen, ls->addr,
            why, sizeof(why));
        if (cycle->listeners[i] == NULL) {
            snprintf(err, errlen, "%s:%d:%d: %s", cycle->conf->file,
                     ls->line, ls->column, why);
            return LMD_ERROR;
        }
    }

    if (ls->tls_cert != NULL) {
        priv->ssl_ctxs[i] = lmd_tls_ctx_new(ls->tls_cert, ls->tls_key, why,
                                            sizeof(why));
        if (priv->ssl_ctxs[i] == NULL) {
            snprintf(err, errlen, "%s:%d:%d: %s", cycle->conf->file,
                     ls->line, ls->column, why);
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


struct lmd_cycle *
lmd_cycle_create(struct lmd_conf *conf, struct lmd_cycle *old, char *err,
    size_t errlen)
{
    struct lmd_cycle       *cycle;
    struct lmd_cycle_priv  *priv;
    size_t                  i, n;

    cycle = calloc(1, sizeof(struct lmd_cycle)
                      + sizeof(struct lmd_cycle_priv));
    if (cycle == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    priv = (struct lmd_cycle_priv *) (cycle + 1);
    cycle->refs = 1;
    cycle->conf = lmd_conf_ref(conf);
    cycle->html_fd = -1;
    cycle->index_name = conf->http.index;

    /* API keys, as digests (lmd_http_auth.c). */
    n = conf->http.auth.api_keys.n;
    if (n > 0) {
        cycle->key_digests = malloc(n * LMD_KEY_DIGEST_LEN);
        if (cycle->key_digests == NULL) {
            snprintf(err, errlen, "out of memory");
            goto failed;
        }
        for (i = 0; i < n; i++) {
            lmd_http_auth_digest(conf->http.auth.api_keys.v[i],
                                 strlen(conf->http.auth.api_keys.v[i]),
                                 cycle->key_digests[i]);
        }
        cycle->nkeys = n;
    }

    if (strcmp(conf->daemon.access_log, "off") != 0) {
        cycle->access_log = lmd_log_open(conf->daemon.access_log,
                                         LMD_LOG_INFO, err, errlen);
        if (cycle->access_log == NULL) {
            goto failed;
        }
    }

    /* A missing root is not fatal: the API works, pages answer 404. */
    cycle->html_fd = open(conf->http.html,
                          O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cycle->html_fd == -1) {
        lmd_log_error(LMD_LOG_WARN, lmd_error_log, errno,
                      "html root \"%s\" cannot be opened, pages will "
                      "answer 404", conf->http.html);
    }

    n = conf->http.nlisten;
    cycle->listeners = calloc(n ? n : 1, sizeof(struct lmd_listener *));
    priv->ssl_ctxs = calloc(n ? n : 1, sizeof(SSL_CTX *));
    priv->reused = calloc(n ? n : 1, 1);
    if (cycle->listeners == NULL || priv->ssl_ctxs == NULL
        || priv->reused == NULL)
    {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }
    cycle->nlisteners = n;
    priv->nctxs = n;
    for (i = 0; i < n; i++) {
        if (lmd_cycle_listener(cycle, old, i, err, errlen) != LMD_OK) {
            goto failed;
        }
    }
    return cycle;

failed:
    /* Close what this cycle bound itself; reused ones stay with old. */
    for (i = 0; i < cycle->nlisteners; i++) {
        if (cycle->listeners[i] != NULL && !priv->reused[i]) {
            lmd_listener_close(cycle->listeners[i]);
        }
    }
    lmd_cycle_free(cycle);
    return NULL;
}


int
lmd_cycle_commit(struct lmd_cycle *cycle)
{
    struct lmd_cycle_priv  *priv = (struct lmd_cycle_priv *) (cycle + 1);
    struct lmd_cycle       *old = lmd_cycle;
    size_t                  i, j;
    int                     kept, rc = LMD_OK;

    for (j = 0; old != NULL && j < old->nlisteners; j++) {
        for (i = 0, kept = 0; i < cycle->nlisteners; i++) {
            kept |= cycle->listeners[i] == old->listeners[j];
        }
        if (!kept) {
            lmd_log_error(LMD_LOG_NOTICE, lmd_error_log, 0,
                          "no longer listening on %s",
                          lmd_listener_name(old->listeners[j]));
            lmd_listener_close(old->listeners[j]);
        }
    }
    if (old != NULL) {
        old->nlisteners = 0;        /* they are this cycle's now */
    }

    for (i = 0; i < cycle->nlisteners; i++) {
        lmd_listener_set_tls(cycle->listeners[i], priv->ssl_ctxs[i]);
        if (lmd_listener_start(cycle->listeners[i], lmd_http_accept, NULL)
            != LMD_OK)
        {
            rc = LMD_ERROR;
        }
        if (!priv->reused[i]) {
            lmd_log_error(LMD_LOG_NOTICE, lmd_error_log, 0,
                          "listening on %s%s",
                          lmd_listener_name(cycle->listeners[i]),
                          priv->ssl_ctxs[i] ? " (TLS)" : "");
        }
        priv->reused[i] = 1;        /* owned by whoever is current */
    }

    lmd_conn_set_limit(cycle->conf->http.limits.max_connections);
    lmd_cycle = cycle;
    lmd_cycle_unref(old);
    return rc;
}


void
lmd_cycle_close_listeners(struct lmd_cycle *cycle)
{
    size_t  i;

    for (i = 0; i < cycle->nlisteners; i++) {
        lmd_listener_close(cycle->listeners[i]);
    }
    cycle->nlisteners = 0;
}
