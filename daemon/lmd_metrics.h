/*
 * lmd_metrics.h -- GET /metrics: the serving metrics of every model in
 * the Prometheus text exposition format (version 0.0.4).
 *
 * Two kinds of numbers are exposed, each family labelled model="NAME":
 * the engine's own gauges and counters (running and waiting requests, KV
 * blocks, prefix cache, token and preemption counts), read from
 * lmd_engine_stats() at scrape time; and per-request histograms (time to
 * first token, time per output token, end-to-end latency, queue time)
 * and finished-request counts, which the request handlers feed with
 * lmd_metrics_observe() when a generation ends.  lmd.yaml(5) lists the
 * families; /metrics needs an API key only with http.auth.protect_health,
 * as /health does.
 *
 * Loop thread only: observations and scrapes both run there, so the
 * histograms need no lock.
 */

#ifndef LMD_METRICS_H
#define LMD_METRICS_H

#include <stddef.h>

#include "lmd_engine.h"
#include "lmd_gen.h"

struct lmd_http_request;

/* What a scrape shows of one model: its name, and the engine's numbers
 * (NULL while there are none: they print as 0). */
struct lmd_metrics_source {
    const char                     *name;
    const struct lmd_engine_stats  *stats;
};

/* Records one finished generation of model model_index (its index in
 * lmd_models_get): the finish reason into lmd_requests_total, and the
 * times of info into the histograms.  cancelled: the loop dropped the
 * request before it finished (the client left), counted as
 * finish="cancelled" whatever info->finish says; a request the loop
 * closed early without cancelling (a stop string matched) counts as
 * "stop".  Times that were never reached (0) are not observed; an end
 * time of 0 is taken as now.  Loop thread. */
void lmd_metrics_observe(size_t model_index, const struct lmd_gen_info *info,
    int cancelled);

/* Renders every family for models src[0 .. n): the text in a malloc'd,
 * NUL-terminated buffer (*len bytes), or NULL when out of memory.
 * Model i's histograms are the observations made under index i. */
char *lmd_metrics_render(const struct lmd_metrics_source *src, size_t n,
    size_t *len);

/* Forgets every observation (lmd_models_stop, tests). */
void lmd_metrics_reset(void);

/* GET /metrics (lmd_http_router.c). */
int lmd_http_metrics_handler(struct lmd_http_request *r);

#endif /* LMD_METRICS_H */
