/*
 * lmd_cycle.h -- one loaded configuration made live: listeners, TLS
 * contexts, the access log, API key digests.
 *
 * Start-up builds the first cycle; every reload builds a new one from the
 * new configuration, moving over the listeners whose addresses are still
 * configured (the sockets stay open, so no connection is refused), and only
 * then swaps it in.  If anything fails the new cycle is thrown away and the
 * old one keeps running.  Requests hold a reference on the cycle they
 * started under, so old limits and keys apply until they finish.
 * Loop thread only.
 */

#ifndef LMD_CYCLE_H
#define LMD_CYCLE_H

#include "lmd_core.h"
#include "lmd_conf.h"

struct lmd_listener;

#define LMD_KEY_DIGEST_LEN  32      /* SHA-256 */

struct lmd_cycle {
    int                     refs;
    struct lmd_conf        *conf;          /* referenced */
    struct lmd_log         *access_log;    /* NULL when off */
    unsigned char         (*key_digests)[LMD_KEY_DIGEST_LEN];
    size_t                  nkeys;
    struct lmd_listener   **listeners;     /* conf->http.listen order */
    size_t                  nlisteners;
    int                     html_fd;       /* O_PATH dir of http.html or -1 */
    char                   *index_name;    /* conf->http.index */
};

/* The cycle new connections and requests use. */
extern struct lmd_cycle  *lmd_cycle;

/* Builds a cycle for conf (takes a reference on it).  Listeners that old
 * (may be NULL) already has for the same address are reused, others are
 * bound.  Nothing of old is changed: lmd_cycle_commit() does that.
 * Returns NULL with err set. */
struct lmd_cycle *lmd_cycle_create(struct lmd_conf *conf,
    struct lmd_cycle *old, char *err, size_t errlen);

/* Makes cycle the current one: starts its listeners, closes the old
 * cycle's listeners it did not reuse, applies limits, drops the reference
 * on the previous current cycle. */
int lmd_cycle_commit(struct lmd_cycle *cycle);

/* Closes every listener of the current cycle (graceful stop). */
void lmd_cycle_close_listeners(struct lmd_cycle *cycle);

struct lmd_cycle *lmd_cycle_ref(struct lmd_cycle *cycle);
void              lmd_cycle_unref(struct lmd_cycle *cycle);

/* Set once a stop begins: no new requests on kept-alive connections. */
extern int  lmd_stopping;

#endif /* LMD_CYCLE_H */
