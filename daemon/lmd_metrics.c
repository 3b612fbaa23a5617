/*
 * lmd_metrics.c -- GET /metrics: per-model gauges, counters and request
 * histograms in the Prometheus text format 0.0.4 (lmd_metrics.h).
 *
 * The engine keeps its own counters (lmd_engine_stats); this file adds
 * what only the loop thread sees whole: how each request ended and how
 * long it took.  Histograms keep one count per bucket (not cumulative)
 * plus a sum and a count; a scrape adds the buckets up.  Their bounds are
 * vLLM's, so dashboards built for it read ours the same way: a fine grid
 * under a second for the first token and per-token times, a coarse one up
 * to hours for whole requests (a CPU engine can be that slow).
 *
 * Design: one array of per-model records indexed like lmd_models_get(),
 * grown on the first observation of an index; loop thread only, no lock.
 * A scrape renders into a memory stream and sends it whole.
 */

#include "lmd_http.h"
#include "lmd_metrics.h"
#include "lmd_models.h"

#include <time.h>

/* The histograms, in the order they are printed. */
enum {
    LMD_METRICS_TTFT = 0,
    LMD_METRICS_TPOT,
    LMD_METRICS_E2E,
    LMD_METRICS_QUEUE,
    LMD_METRICS_NHIST
};

/* The finish="..." values of lmd_requests_total. */
enum {
    LMD_METRICS_STOP = 0,
    LMD_METRICS_LENGTH,
    LMD_METRICS_TIMEOUT,
    LMD_METRICS_ERROR,
    LMD_METRICS_CANCELLED,
    LMD_METRICS_NFINISH
};

#define LMD_METRICS_MAX_BUCKETS  24

struct lmd_metrics_hist {
    uint64_t    counts[LMD_METRICS_MAX_BUCKETS + 1];  /* last: above every
                                                         bound (+Inf) */
    uint64_t    count;
    double      sum;                                  /* seconds */
};

struct lmd_metrics_model {
    struct lmd_metrics_hist  hist[LMD_METRICS_NHIST];
    uint64_t                 finished[LMD_METRICS_NFINISH];
};

struct lmd_metrics_hist_def {
    const char              *name;
    const char              *help;
    const double            *bounds;                  /* ascending */
    size_t                   n;
};

static const double  lmd_metrics_ttft_bounds[] = {
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
    2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0
};

static const double  lmd_metrics_tpot_bounds[] = {
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0,
    2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0
};

static const double  lmd_metrics_request_bounds[] = {
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0,
    50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0
};

static const struct lmd_metrics_hist_def  lmd_metrics_hists[] = {
    { "lmd_time_to_first_token_seconds",
      "Time from a request's arrival to its first generated token.",
      lmd_metrics_ttft_bounds, lmd_nelems(lmd_metrics_ttft_bounds) },
    { "lmd_time_per_output_token_seconds",
      "Mean time between output tokens after the first, per request.",
      lmd_metrics_tpot_bounds, lmd_nelems(lmd_metrics_tpot_bounds) },
    { "lmd_e2e_request_latency_seconds",
      "Time from a request's arrival to its end.",
      lmd_metrics_request_bounds, lmd_nelems(lmd_metrics_request_bounds) },
    { "lmd_request_queue_time_seconds",
      "Time a request waited before its first scheduler step.",
      lmd_metrics_request_bounds, lmd_nelems(lmd_metrics_request_bounds) },
};

static const char *const  lmd_metrics_finish_names[LMD_METRICS_NFINISH] = {
    "stop", "length", "timeout", "error", "cancelled"
};

/* The families read from struct lmd_engine_stats. */
enum {
    LMD_METRICS_U32 = 0,
    LMD_METRICS_U64,
    LMD_METRICS_RATIO               /* blocks_used / n_blocks */
};

struct lmd_metrics_stat {
    const char              *name;
    const char              *type;
    const char              *help;
    int                      kind;
    size_t                   offset;
};

#define LMD_STAT(field)  offsetof(struct lmd_engine_stats, field)

static const struct lmd_metrics_stat  lmd_metrics_stats[] = {
    { "lmd_requests_running", "gauge",
      "Requests in the running batch.", LMD_METRICS_U32,
      LMD_STAT(running) },
    { "lmd_requests_waiting", "gauge",
      "Requests queued, not yet admitted to the batch.", LMD_METRICS_U32,
      LMD_STAT(waiting) },
    { "lmd_kv_blocks_total", "gauge",
      "KV cache blocks in the pool.", LMD_METRICS_U32,
      LMD_STAT(n_blocks) },
    { "lmd_kv_blocks_used", "gauge",
      "KV cache blocks held by requests.", LMD_METRICS_U32,
      LMD_STAT(blocks_used) },
    { "lmd_kv_blocks_cached", "gauge",
      "Free KV cache blocks still holding reusable prefixes.",
      LMD_METRICS_U32, LMD_STAT(blocks_cached) },
    { "lmd_kv_cache_usage_ratio", "gauge",
      "Fraction of the KV cache blocks held by requests (0 to 1).",
      LMD_METRICS_RATIO, 0 },
    { "lmd_prefix_cache_hit_tokens_total", "counter",
      "Prompt tokens found in the prefix cache.", LMD_METRICS_U64,
      LMD_STAT(prefix_hit_tokens) },
    { "lmd_prefix_cache_query_tokens_total", "counter",
      "Prompt tokens looked up in the prefix cache.", LMD_METRICS_U64,
      LMD_STAT(prefix_query_tokens) },
    { "lmd_prompt_tokens_total", "counter",
      "Prompt tokens processed (prefill).", LMD_METRICS_U64,
      LMD_STAT(prompt_tokens) },
    { "lmd_generation_tokens_total", "counter",
      "Tokens generated.", LMD_METRICS_U64,
      LMD_STAT(generation_tokens) },
    { "lmd_preemptions_total", "counter",
      "Requests preempted for lack of KV cache blocks.", LMD_METRICS_U64,
      LMD_STAT(preemptions) },
};

static struct lmd_metrics_model  *lmd_metrics;
static size_t                     lmd_metrics_n;


/* ------------------------------------------------------------ observing */

/* The record of model i, grown (zeroed) on first use; NULL when out of
 * memory, and the observation is then lost. */
static struct lmd_metrics_model *
lmd_metrics_model(size_t i)
{
    struct lmd_metrics_model  *m;
    size_t                     n;

    if (i < lmd_metrics_n) {
        return &lmd_metrics[i];
    }
    n = lmd_max(i + 1, lmd_metrics_n * 2);
    m = realloc(lmd_metrics, n * sizeof(struct lmd_metrics_model));
    if (m == NULL) {
        return NULL;
    }
    memset(m + lmd_metrics_n, 0,
           (n - lmd_metrics_n) * sizeof(struct lmd_metrics_model));
    lmd_metrics = m;
    lmd_metrics_n = n;
    return &lmd_metrics[i];
}


/* Buckets are "less than or equal": a value on a bound counts in it. */
static void
lmd_metrics_add(struct lmd_metrics_hist *h,
    const struct lmd_metrics_hist_def *def, uint64_t ns)
{
    double  v;
    size_t  b;

    v = (double) ns / 1e9;
    for (b = 0; b < def->n && v > def->bounds[b]; b++) { /* void */ }
    h->counts[b]++;
    h->count++;
    h->sum += v;
}


static uint64_t
lmd_metrics_now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}


void
lmd_metrics_observe(size_t model_index, const struct lmd_gen_info *info,
    int cancelled)
{
    struct lmd_metrics_model  *m;
    uint64_t                   t0, end, start;
    int                        fin;

    m = lmd_metrics_model(model_index);
    if (m == NULL) {
        return;
    }

    switch (info->finish) {
    case LMD_GEN_LENGTH:  fin = LMD_METRICS_LENGTH; break;
    case LMD_GEN_TIMEOUT: fin = LMD_METRICS_TIMEOUT; break;
    case LMD_GEN_ERROR:   fin = LMD_METRICS_ERROR; break;
    default:              fin = LMD_METRICS_STOP; break;   /* EOS, or a
                                                              stop string */
    }
    if (cancelled) {
        fin = LMD_METRICS_CANCELLED;
    }
    m->finished[fin]++;

    t0 = info->submitted_ns;
    if (t0 == 0) {
        return;                     /* never queued: no times */
    }
    end = info->finished_ns ? info->finished_ns : lmd_metrics_now_ns();

    if (info->first_token_ns >= t0) {
        lmd_metrics_add(&m->hist[LMD_METRICS_TTFT],
                        &lmd_metrics_hists[LMD_METRICS_TTFT],
                        info->first_token_ns - t0);
    }
    if (info->completion_tokens > 1 && info->first_token_ns != 0
        && end > info->first_token_ns)
    {
        lmd_metrics_add(&m->hist[LMD_METRICS_TPOT],
                        &lmd_metrics_hists[LMD_METRICS_TPOT],
                        (end - info->first_token_ns)
                        / (info->completion_tokens - 1));
    }
    if (end >= t0) {
        lmd_metrics_add(&m->hist[LMD_METRICS_E2E],
                        &lmd_metrics_hists[LMD_METRICS_E2E], end - t0);
    }

    /* A request that never got a step (timed out, cancelled or failed
     * while waiting) waited until its end. */
    start = info->scheduled_ns ? info->scheduled_ns : end;
    if (start >= t0) {
        lmd_metrics_add(&m->hist[LMD_METRICS_QUEUE],
                        &lmd_metrics_hists[LMD_METRICS_QUEUE], start - t0);
    }
}


void
lmd_metrics_reset(void)
{
    free(lmd_metrics);
    lmd_metrics = NULL;
    lmd_metrics_n = 0;
}


/* ------------------------------------------------------------ rendering */

/* A label value: backslash, double quote and line feed are escaped. */
static void
lmd_metrics_label(FILE *out, const char *s)
{
    fputc('"', out);
    for ( ; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"') {
            fputc('\\', out);
            fputc(*s, out);
        } else if (*s == '\n') {
            fputs("\\n", out);
        } else {
            fputc(*s, out);
        }
    }
    fputc('"', out);
}


static void
lmd_metrics_head(FILE *out, const char *name, const char *type,
    const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}


/* "name{model="x"" -- the caller closes the label set. */
static void
lmd_metrics_start(FILE *out, const char *name, const char *suffix,
    const char *model)
{
    fprintf(out, "%s%s{model=", name, suffix);
    lmd_metrics_label(out, model);
}


static void
lmd_metrics_stat(FILE *out, const struct lmd_metrics_stat *s,
    const struct lmd_metrics_source *src)
{
    const struct lmd_engine_stats  *st = src->stats;
    const char                     *p;

    lmd_metrics_start(out, s->name, "", src->name);
    fputs("} ", out);
    if (st == NULL) {
        fputs("0\n", out);
        return;
    }

    p = (const char *) st + s->offset;
    switch (s->kind) {
    case LMD_METRICS_U32:
        fprintf(out, "%u\n", (unsigned) *(const uint32_t *) (const void *) p);
        break;
    case LMD_METRICS_U64:
        fprintf(out, "%llu\n",
                (unsigned long long) *(const uint64_t *) (const void *) p);
        break;
    default:
        fprintf(out, "%.9g\n", st->n_blocks
                ? (double) st->blocks_used / (double) st->n_blocks : 0.0);
        break;
    }
}


static void
lmd_metrics_hist(FILE *out, const struct lmd_metrics_hist_def *def,
    const struct lmd_metrics_hist *h, const char *model)
{
    uint64_t  cum;
    size_t    b;

    cum = 0;
    for (b = 0; b <= def->n; b++) {
        cum += h ? h->counts[b] : 0;
        lmd_metrics_start(out, def->name, "_bucket", model);
        if (b < def->n) {
            fprintf(out, ",le=\"%g\"} %llu\n", def->bounds[b],
                    (unsigned long long) cum);
        } else {
            fprintf(out, ",le=\"+Inf\"} %llu\n", (unsigned long long) cum);
        }
    }
    lmd_metrics_start(out, def->name, "_sum", model);
    fprintf(out, "} %.9g\n", h ? h->sum : 0.0);
    lmd_metrics_start(out, def->name, "_count", model);
    fprintf(out, "} %llu\n", (unsigned long long) (h ? h->count : 0));
}


char *
lmd_metrics_render(const struct lmd_metrics_source *src, size_t n,
    size_t *len)
{
    const struct lmd_metrics_model  *m;
    FILE                            *out;
    char                            *buf;
    size_t                           i, k, f;

    buf = NULL;
    out = open_memstream(&buf, len);
    if (out == NULL) {
        return NULL;
    }

    /* Every sample of a family together, after its HELP and TYPE. */
    for (k = 0; k < lmd_nelems(lmd_metrics_stats); k++) {
        lmd_metrics_head(out, lmd_metrics_stats[k].name,
                         lmd_metrics_stats[k].type,
                         lmd_metrics_stats[k].help);
        for (i = 0; i < n; i++) {
            lmd_metrics_stat(out, &lmd_metrics_stats[k], &src[i]);
        }
    }

    lmd_metrics_head(out, "lmd_requests_total", "counter",
                     "Requests finished, by how they ended.");
    for (i = 0; i < n; i++) {
        m = i < lmd_metrics_n ? &lmd_metrics[i] : NULL;
        for (f = 0; f < LMD_METRICS_NFINISH; f++) {
            lmd_metrics_start(out, "lmd_requests_total", "", src[i].name);
            fprintf(out, ",finish=\"%s\"} %llu\n",
                    lmd_metrics_finish_names[f],
                    (unsigned long long) (m ? m->finished[f] : 0));
        }
    }

    for (k = 0; k < LMD_METRICS_NHIST; k++) {
        lmd_metrics_head(out, lmd_metrics_hists[k].name, "histogram",
                         lmd_metrics_hists[k].help);
        for (i = 0; i < n; i++) {
            m = i < lmd_metrics_n ? &lmd_metrics[i] : NULL;
            lmd_metrics_hist(out, &lmd_metrics_hists[k],
                             m ? &m->hist[k] : NULL, src[i].name);
        }
    }

    if (ferror(out)) {
        fclose(out);
        free(buf);
        return NULL;
    }
    if (fclose(out) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}


/* ------------------------------------------------------------- handler */

int
lmd_http_metrics_handler(struct lmd_http_request *r)
{
    struct lmd_metrics_source  *src;
    struct lmd_engine_stats    *st;
    const struct lmd_model     *m;
    size_t                      i, n, len;
    char                       *text;

    n = lmd_models_count();
    src = lmd_pcalloc(r->pool, (n ? n : 1) * sizeof(*src));
    st = lmd_pcalloc(r->pool, (n ? n : 1) * sizeof(*st));
    if (src == NULL || st == NULL) {
        return 500;
    }
    for (i = 0; i < n; i++) {
        m = lmd_models_get(i);
        src[i].name = m->name;
        if (m->engine != NULL) {
            lmd_engine_stats(m->engine, &st[i]);
            src[i].stats = &st[i];
        }
    }

    text = lmd_metrics_render(src, n, &len);
    if (text == NULL) {
        return 500;
    }
    lmd_http_header_out(r, "Cache-Control", "no-store");
    lmd_http_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8",
                     text, len);
    free(text);
    return LMD_OK;      /* finalized either way */
}
