/*
 * lmd_bench_report.c -- the figures of a finished `lmd bench` run, as a
 * text table or one JSON object.
 *
 * Definitions, per successful request (as vLLM's benchmark_serving has
 * them, so that the numbers compare): TTFT is from the request's write to
 * its first event with text; ITL each gap between two such events (over
 * every request together); TPOT (e2e - TTFT) / (output tokens - 1), for
 * requests of two tokens or more; e2e from the write to the response's
 * end.  Output tokens are usage.completion_tokens, or the count of text
 * events where the server sent no usage; input tokens are
 * usage.prompt_tokens, or the drawn length.  Throughputs divide by the
 * duration, from the first write to the last response's end.
 * Percentiles interpolate linearly between closest ranks (numpy's way).
 */

#include "lmd_bench.h"

#include <math.h>

#include <cjson/cJSON.h>

/* The four latency families, in report order. */
enum {
    LMD_BENCH_TTFT = 0,
    LMD_BENCH_TPOT,
    LMD_BENCH_ITL,
    LMD_BENCH_E2E,
    LMD_BENCH_NSTATS
};

static const struct {
    const char  *key;           /* in --json: mean_<key>_ms ... */
    const char  *abbr;
    const char  *title;
} lmd_bench_families[LMD_BENCH_NSTATS] = {
    { "ttft", "TTFT", "Time to first token" },
    { "tpot", "TPOT", "Time per output token (first excluded)" },
    { "itl", "ITL", "Inter-token latency" },
    { "e2el", "E2E", "End-to-end latency" },
};

struct lmd_bench_totals {
    size_t                 completed;
    size_t                 failed;
    size_t                 not_sent;
    double                 duration;
    uint64_t               input_tokens;
    uint64_t               output_tokens;
    struct lmd_bench_stat  stat[LMD_BENCH_NSTATS];
};


static int
lmd_bench_cmp(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


double
lmd_bench_percentile(const double *sorted, size_t n, double p)
{
    double  rank, lo;
    size_t  i;

    if (n == 0) {
        return 0;
    }
    rank = p / 100.0 * (double) (n - 1);
    lo = floor(rank);
    i = (size_t) lo;
    if (i + 1 >= n) {
        return sorted[n - 1];
    }
    return sorted[i] + (sorted[i + 1] - sorted[i]) * (rank - lo);
}


void
lmd_bench_stat(double *v, size_t n, struct lmd_bench_stat *s)
{
    double  sum = 0, var = 0, mean;
    size_t  i;

    memset(s, 0, sizeof(*s));
    s->n = n;
    if (n == 0) {
        return;
    }
    qsort(v, n, sizeof(double), lmd_bench_cmp);
    for (i = 0; i < n; i++) {
        sum += v[i];
    }
    mean = sum / (double) n;
    for (i = 0; i < n; i++) {
        var += (v[i] - mean) * (v[i] - mean);
    }
    s->mean = mean * 1e3;
    s->std = sqrt(var / (double) n) * 1e3;
    s->median = lmd_bench_percentile(v, n, 50) * 1e3;
    s->p90 = lmd_bench_percentile(v, n, 90) * 1e3;
    s->p99 = lmd_bench_percentile(v, n, 99) * 1e3;
}


/* Sums and statistics over the finished requests.  LMD_OK or LMD_ERROR
 * (out of memory). */
static int
lmd_bench_totals(const struct lmd_bench *b, struct lmd_bench_totals *t)
{
    const struct lmd_bench_req  *r;
    double                      *v[3], ttft, e2e;
    size_t                       i, n[3] = { 0, 0, 0 };
    long long                    out;

    memset(t, 0, sizeof(*t));
    v[0] = malloc((b->n + 1) * sizeof(double));     /* ttft */
    v[1] = malloc((b->n + 1) * sizeof(double));     /* tpot */
    v[2] = malloc((b->n + 1) * sizeof(double));     /* e2e */
    if (v[0] == NULL || v[1] == NULL || v[2] == NULL) {
        free(v[0]);
        free(v[1]);
        free(v[2]);
        return LMD_ERROR;
    }

    for (i = 0; i < b->n; i++) {
        r = &b->reqs[i];
        if (!r->finished) {
            t->not_sent++;
            continue;
        }
        if (!r->ok) {
            t->failed++;
            continue;
        }
        t->completed++;
        out = r->completion_tokens >= 0 ? r->completion_tokens
                                        : (long long) r->events;
        t->input_tokens += r->prompt_tokens >= 0
                           ? (uint64_t) r->prompt_tokens : r->input_len;
        t->output_tokens += (uint64_t) out;

        ttft = r->t_first - r->call.t_sent;
        e2e = r->t_end - r->call.t_sent;
        v[0][n[0]++] = ttft;
        if (out > 1) {
            v[1][n[1]++] = (e2e - ttft) / (double) (out - 1);
        }
        v[2][n[2]++] = e2e;
    }
    t->duration = b->t_end - b->t_start;

    lmd_bench_stat(v[0], n[0], &t->stat[LMD_BENCH_TTFT]);
    lmd_bench_stat(v[1], n[1], &t->stat[LMD_BENCH_TPOT]);
    lmd_bench_stat(v[2], n[2], &t->stat[LMD_BENCH_E2E]);
    /* the ITL array is the run's own: sorted in place is fine */
    lmd_bench_stat(b->itl, b->n_itl, &t->stat[LMD_BENCH_ITL]);
    free(v[0]);
    free(v[1]);
    free(v[2]);
    return LMD_OK;
}


static double
lmd_bench_per_s(double x, double duration)
{
    return duration > 0 ? x / duration : 0;
}


/* --------------------------------------------------------------- text */

static void
lmd_bench_row(FILE *out, const char *name, const char *fmt, double v)
{
    char  num[64];

    snprintf(num, sizeof(num), fmt, v);
    fprintf(out, "%-40s %14s\n", name, num);
}


static void
lmd_bench_text(const struct lmd_bench *b, const struct lmd_bench_totals *t,
    const char *model, const char *url, FILE *out)
{
    const struct lmd_bench_opts  *o = b->o;
    const struct lmd_bench_stat  *s;
    char                          load[64], name[64];
    size_t                        k;

    if (o->rate > 0) {
        snprintf(load, sizeof(load), "%g req/s (Poisson)", o->rate);
    } else {
        snprintf(load, sizeof(load), "%lld in flight", o->concurrency);
    }
    fprintf(out, "============ lmd bench: serving benchmark ============="
            "\n");
    fprintf(out, "%-16s %s\n", "Server:", url);
    fprintf(out, "%-16s %s\n", "Model:", model);
    fprintf(out, "%-16s %s\n", "Endpoint:", b->path);
    fprintf(out, "%-16s %s\n", "Load:", load);
    if (b->interrupted) {
        fprintf(out, "Interrupted: %zu requests were not finished.\n",
                t->not_sent);
    }
    lmd_bench_row(out, "Successful requests:", "%.0f",
                  (double) t->completed);
    lmd_bench_row(out, "Failed requests:", "%.0f", (double) t->failed);
    lmd_bench_row(out, "Duration (s):", "%.2f", t->duration);
    lmd_bench_row(out, "Total input tokens:", "%.0f",
                  (double) t->input_tokens);
    lmd_bench_row(out, "Total output tokens:", "%.0f",
                  (double) t->output_tokens);
    lmd_bench_row(out, "Request throughput (req/s):", "%.2f",
                  lmd_bench_per_s((double) t->completed, t->duration));
    lmd_bench_row(out, "Input token throughput (tok/s):", "%.2f",
                  lmd_bench_per_s((double) t->input_tokens, t->duration));
    lmd_bench_row(out, "Output token throughput (tok/s):", "%.2f",
                  lmd_bench_per_s((double) t->output_tokens, t->duration));
    lmd_bench_row(out, "Total token throughput (tok/s):", "%.2f",
                  lmd_bench_per_s((double) (t->input_tokens
                                            + t->output_tokens),
                                  t->duration));

    for (k = 0; k < LMD_BENCH_NSTATS; k++) {
        s = &t->stat[k];
        fprintf(out, "%s %s %.*s\n", "---",
                lmd_bench_families[k].title,
                (int) (50 - strlen(lmd_bench_families[k].title)),
                "-----------------------------------------------------");
        snprintf(name, sizeof(name), "Mean %s (ms):",
                 lmd_bench_families[k].abbr);
        lmd_bench_row(out, name, "%.2f", s->mean);
        snprintf(name, sizeof(name), "Median %s (ms):",
                 lmd_bench_families[k].abbr);
        lmd_bench_row(out, name, "%.2f", s->median);
        snprintf(name, sizeof(name), "P90 %s (ms):",
                 lmd_bench_families[k].abbr);
        lmd_bench_row(out, name, "%.2f", s->p90);
        snprintf(name, sizeof(name), "P99 %s (ms):",
                 lmd_bench_families[k].abbr);
        lmd_bench_row(out, name, "%.2f", s->p99);
    }
    fprintf(out, "======================================================"
            "\n");
}


/* --------------------------------------------------------------- JSON */

static int
lmd_bench_json(const struct lmd_bench *b, const struct lmd_bench_totals *t,
    const char *model, const char *url, FILE *out)
{
    const struct lmd_bench_opts  *o = b->o;
    const struct lmd_bench_stat  *s;
    cJSON                        *root, *errs;
    char                          key[32], *text;
    size_t                        k, i;

    root = cJSON_CreateObject();
    if (root == NULL) {
        return LMD_ERROR;
    }
    cJSON_AddStringToObject(root, "url", url);
    cJSON_AddStringToObject(root, "model", model);
    cJSON_AddStringToObject(root, "endpoint",
                            o->endpoint == LMD_BENCH_CHAT
                            ? "chat" : "completions");
    cJSON_AddNumberToObject(root, "num_requests", (double) b->n);
    if (o->rate > 0) {
        cJSON_AddNullToObject(root, "concurrency");
        cJSON_AddNumberToObject(root, "request_rate", o->rate);
    } else {
        cJSON_AddNumberToObject(root, "concurrency",
                                (double) o->concurrency);
        cJSON_AddNullToObject(root, "request_rate");
    }
    cJSON_AddNumberToObject(root, "seed", (double) o->seed);
    cJSON_AddBoolToObject(root, "interrupted", b->interrupted);

    cJSON_AddNumberToObject(root, "completed", (double) t->completed);
    cJSON_AddNumberToObject(root, "failed", (double) t->failed);
    cJSON_AddNumberToObject(root, "duration", t->duration);
    cJSON_AddNumberToObject(root, "total_input_tokens",
                            (double) t->input_tokens);
    cJSON_AddNumberToObject(root, "total_output_tokens",
                            (double) t->output_tokens);
    cJSON_AddNumberToObject(root, "request_throughput",
                            lmd_bench_per_s((double) t->completed,
                                            t->duration));
    cJSON_AddNumberToObject(root, "input_throughput",
                            lmd_bench_per_s((double) t->input_tokens,
                                            t->duration));
    cJSON_AddNumberToObject(root, "output_throughput",
                            lmd_bench_per_s((double) t->output_tokens,
                                            t->duration));
    cJSON_AddNumberToObject(root, "total_token_throughput",
                            lmd_bench_per_s((double) (t->input_tokens
                                                      + t->output_tokens),
                                            t->duration));

    for (k = 0; k < LMD_BENCH_NSTATS; k++) {
        s = &t->stat[k];
        snprintf(key, sizeof(key), "mean_%s_ms", lmd_bench_families[k].key);
        cJSON_AddNumberToObject(root, key, s->mean);
        snprintf(key, sizeof(key), "median_%s_ms",
                 lmd_bench_families[k].key);
        cJSON_AddNumberToObject(root, key, s->median);
        snprintf(key, sizeof(key), "std_%s_ms", lmd_bench_families[k].key);
        cJSON_AddNumberToObject(root, key, s->std);
        snprintf(key, sizeof(key), "p90_%s_ms", lmd_bench_families[k].key);
        cJSON_AddNumberToObject(root, key, s->p90);
        snprintf(key, sizeof(key), "p99_%s_ms", lmd_bench_families[k].key);
        cJSON_AddNumberToObject(root, key, s->p99);
    }

    errs = cJSON_AddArrayToObject(root, "errors");
    for (i = 0; errs != NULL && i < LMD_BENCH_SHOW_ERRORS; i++) {
        if (b->errors[i] != NULL) {
            cJSON_AddItemToArray(errs, cJSON_CreateString(b->errors[i]));
        }
    }

    text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text == NULL) {
        return LMD_ERROR;
    }
    fprintf(out, "%s\n", text);
    cJSON_free(text);
    return LMD_OK;
}


int
lmd_bench_report(const struct lmd_bench *b, const char *model,
    const char *url, FILE *out)
{
    struct lmd_bench_totals  t;

    if (lmd_bench_totals(b, &t) != LMD_OK) {
        return LMD_ERROR;
    }
    if (b->o->json) {
        return lmd_bench_json(b, &t, model, url, out);
    }
    lmd_bench_text(b, &t, model, url, out);
    return LMD_OK;
}
