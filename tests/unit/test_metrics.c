/*
 * test_metrics.c -- unit tests for /metrics (daemon/lmd_metrics.c): the
 * text rendered for a made-up set of observations and engine numbers is
 * valid Prometheus text exposition (format 0.0.4), and says what the
 * observations were.
 *
 * The checker below follows the format's description (prometheus.io,
 * "Exposition formats"), not lmd's output: lines end in '\n'; "# HELP
 * name text" and "# TYPE name type" with type counter, gauge, histogram,
 * summary or untyped, at most one TYPE per family and before its first
 * sample; other '#' lines are comments; a sample is
 *
 *     name [ "{" label="value" { "," label="value" } [ "," ] "}" ] value
 *     [ timestamp ]
 *
 * with names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
 * (no leading "__"), label values escaping only \\, \" and \n, a value
 * that is a float (or NaN, +Inf, -Inf) and an optional integer timestamp;
 * all the samples of one family form one group; a histogram's samples are
 * name_bucket (with an "le" label), name_sum and name_count, its buckets
 * per label set are cumulative in increasing le order and end with
 * le="+Inf", whose value equals name_count.
 */

#include "lmd_core.h"

#include <math.h>

#include "lmd_metrics.h"
#include "lmd_test.h"

#define MAXS      512           /* samples the checker keeps */
#define MAXL      8             /* labels per sample */
#define MAXF      64            /* families */
#define NAME_LEN  128
#define ERR_LEN   512

struct label {
    char    name[NAME_LEN];
    char    value[NAME_LEN];    /* unescaped */
};

struct sample {
    char          name[NAME_LEN];
    char          family[NAME_LEN];
    struct label  labels[MAXL];
    int           nlabels;
    double        value;
};

struct family {
    char    name[NAME_LEN];
    char    type[16];
    int     has_help;
    int     seen;               /* samples started */
    int     closed;             /* another family came after them */
};

struct expo {
    struct sample   s[MAXS];
    int             ns;
    struct family   f[MAXF];
    int             nf;
    char            err[ERR_LEN];
};


/* ------------------------------------------------------------------------
 * The checker
 * ------------------------------------------------------------------------ */

static int
bad(struct expo *e, int lineno, const char *what)
{
    snprintf(e->err, sizeof(e->err), "line %d: %s", lineno, what);
    return -1;
}


static int
name_char(int c, int first, int colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
        return 1;
    }
    if (colon && c == ':') {
        return 1;
    }
    return !first && c >= '0' && c <= '9';
}


/* Reads a name at *p into out; returns its length (0: none). */
static size_t
read_name(const char **p, char *out, int colon)
{
    size_t  n = 0;

    while (name_char((unsigned char) (*p)[n], n == 0, colon)) {
        n++;
    }
    if (n == 0 || n >= NAME_LEN) {
        return 0;
    }
    memcpy(out, *p, n);
    out[n] = '\0';
    *p += n;
    return n;
}


/* A float as Go's ParseFloat reads it, plus the three special words. */
static int
read_value(const char *s, double *v)
{
    char  *end;

    if (strcmp(s, "NaN") == 0) {
        *v = NAN;
        return 0;
    }
    if (strcmp(s, "+Inf") == 0) {
        *v = INFINITY;
        return 0;
    }
    if (strcmp(s, "-Inf") == 0) {
        *v = -INFINITY;
        return 0;
    }
    if (*s == '\0' || strchr("+-.0123456789", *s) == NULL) {
        return -1;          /* strtod would take "inf", "nan", blanks */
    }
    *v = strtod(s, &end);
    return *end == '\0' ? 0 : -1;
}


static struct family *
family_find(struct expo *e, const char *name)
{
    int  i;

    for (i = 0; i < e->nf; i++) {
        if (strcmp(e->f[i].name, name) == 0) {
            return &e->f[i];
        }
    }
    return NULL;
}


static struct family *
family_add(struct expo *e, const char *name)
{
    struct family  *f;

    f = family_find(e, name);
    if (f != NULL || e->nf == MAXF) {
        return f;
    }
    f = &e->f[e->nf++];
    memset(f, 0, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s", name);
    return f;
}


/* "# HELP name text" or "# TYPE name type"; other comments pass. */
static int
parse_meta(struct expo *e, const char *line, int lineno)
{
    static const char *const  types[] = {
        "counter", "gauge", "histogram", "summary", "untyped", NULL
    };
    struct family  *f;
    const char     *p;
    char            name[NAME_LEN];
    int             help, i;

    if (strncmp(line, "# HELP ", 7) == 0) {
        help = 1;
    } else if (strncmp(line, "# TYPE ", 7) == 0) {
        help = 0;
    } else {
        return 0;
    }
    p = line + 7;
    if (read_name(&p, name, 1) == 0) {
        return bad(e, lineno, "bad metric name after HELP/TYPE");
    }
    f = family_add(e, name);
    if (f == NULL) {
        return bad(e, lineno, "too many families");
    }
    if (help) {
        if (*p != ' ' && *p != '\0') {
            return bad(e, lineno, "HELP name not followed by a space");
        }
        if (f->has_help) {
            return bad(e, lineno, "second HELP for a family");
        }
        f->has_help = 1;
        return 0;
    }

    if (*p != ' ') {
        return bad(e, lineno, "TYPE without a type");
    }
    p++;
    for (i = 0; types[i] != NULL && strcmp(types[i], p) != 0; i++) {
        /* void */
    }
    if (types[i] == NULL) {
        return bad(e, lineno, "unknown TYPE");
    }
    if (f->type[0] != '\0') {
        return bad(e, lineno, "second TYPE for a family");
    }
    if (f->seen) {
        return bad(e, lineno, "TYPE after the family's first sample");
    }
    snprintf(f->type, sizeof(f->type), "%s", p);
    return 0;
}


/* The family a sample belongs to: a histogram's _bucket, _sum and
 * _count samples belong to the histogram. */
static void
sample_family(struct expo *e, struct sample *s)
{
    static const char *const  sfx[] = { "_bucket", "_sum", "_count" };
    struct family            *f;
    size_t                    i, n, k;
    char                      base[NAME_LEN];

    n = strlen(s->name);
    for (i = 0; i < lmd_nelems(sfx); i++) {
        k = strlen(sfx[i]);
        if (n > k && strcmp(s->name + n - k, sfx[i]) == 0) {
            memcpy(base, s->name, n - k);
            base[n - k] = '\0';
            f = family_find(e, base);
            if (f != NULL && strcmp(f->type, "histogram") == 0) {
                snprintf(s->family, sizeof(s->family), "%s", base);
                return;
            }
        }
    }
    memcpy(s->family, s->name, n + 1);      /* n < NAME_LEN */
}


static int
parse_labels(struct expo *e, const char **pp, struct sample *s, int lineno)
{
    const char    *p = *pp;
    struct label  *l;
    size_t         n;
    int            i;

    p++;                                /* '{' */
    while (*p != '}') {
        if (s->nlabels == MAXL) {
            return bad(e, lineno, "too many labels");
        }
        l = &s->labels[s->nlabels];
        if (read_name(&p, l->name, 0) == 0) {
            return bad(e, lineno, "bad label name");
        }
        if (strncmp(l->name, "__", 2) == 0) {
            return bad(e, lineno, "label name starting with __");
        }
        for (i = 0; i < s->nlabels; i++) {
            if (strcmp(s->labels[i].name, l->name) == 0) {
                return bad(e, lineno, "repeated label");
            }
        }
        if (p[0] != '=' || p[1] != '"') {
            return bad(e, lineno, "label without =\"");
        }
        p += 2;
        n = 0;
        while (*p != '"') {
            if (*p == '\0' || n + 1 >= NAME_LEN) {
                return bad(e, lineno, "unterminated label value");
            }
            if (*p == '\\') {
                p++;
                if (*p == 'n') {
                    l->value[n++] = '\n';
                } else if (*p == '\\' || *p == '"') {
                    l->value[n++] = *p;
                } else {
                    return bad(e, lineno, "bad escape in a label value");
                }
                p++;
                continue;
            }
            l->value[n++] = *p++;
        }
        l->value[n] = '\0';
        p++;
        s->nlabels++;
        if (*p == ',') {
            p++;
        } else if (*p != '}') {
            return bad(e, lineno, "expected , or } after a label");
        }
    }
    *pp = p + 1;
    return 0;
}


static int
parse_sample(struct expo *e, const char *line, int lineno)
{
    struct family  *f;
    struct sample  *s;
    const char     *p;
    char            value[64], *sp;
    size_t          n;
    int             i;

    if (e->ns == MAXS) {
        return bad(e, lineno, "too many samples");
    }
    s = &e->s[e->ns];
    memset(s, 0, sizeof(*s));
    p = line;
    if (read_name(&p, s->name, 1) == 0) {
        return bad(e, lineno, "bad metric name");
    }
    if (*p == '{' && parse_labels(e, &p, s, lineno) != 0) {
        return -1;
    }
    if (*p != ' ') {
        return bad(e, lineno, "no space before the value");
    }
    p++;

    /* value [ timestamp ] */
    n = strcspn(p, " ");
    if (n == 0 || n >= sizeof(value)) {
        return bad(e, lineno, "missing value");
    }
    memcpy(value, p, n);
    value[n] = '\0';
    if (read_value(value, &s->value) != 0) {
        return bad(e, lineno, "value is not a float");
    }
    p += n;
    if (*p == ' ') {
        strtoll(p + 1, &sp, 10);
        if (sp == p + 1 || *sp != '\0') {
            return bad(e, lineno, "bad timestamp");
        }
    }

    sample_family(e, s);
    f = family_add(e, s->family);
    if (f == NULL) {
        return bad(e, lineno, "too many families");
    }
    if (f->closed) {
        return bad(e, lineno, "family's samples are not one group");
    }
    /* The first sample of a family closes every other family. */
    if (!f->seen) {
        for (i = 0; i < e->nf; i++) {
            if (e->f[i].seen && &e->f[i] != f) {
                e->f[i].closed = 1;
            }
        }
    }
    f->seen = 1;
    e->ns++;
    return 0;
}


static const char *
label_of(const struct sample *s, const char *name)
{
    int  i;

    for (i = 0; i < s->nlabels; i++) {
        if (strcmp(s->labels[i].name, name) == 0) {
            return s->labels[i].value;
        }
    }
    return NULL;
}


/* 1 when a and b have the same labels but "le". */
static int
same_series(const struct sample *a, const struct sample *b)
{
    const char  *v;
    int          i, na, nb;

    na = 0;
    for (i = 0; i < a->nlabels; i++) {
        if (strcmp(a->labels[i].name, "le") == 0) {
            continue;
        }
        na++;
        v = label_of(b, a->labels[i].name);
        if (v == NULL || strcmp(v, a->labels[i].value) != 0) {
            return 0;
        }
    }
    nb = 0;
    for (i = 0; i < b->nlabels; i++) {
        nb += strcmp(b->labels[i].name, "le") != 0;
    }
    return na == nb;
}


/* Histogram rules, for every series of every histogram family. */
static int
check_histograms(struct expo *e)
{
    const struct sample  *s, *t;
    const char           *le;
    double                bound, prev_bound, prev, count;
    int                   i, j, has_inf, has_sum, has_count;
    char                  sfx[NAME_LEN];

    for (i = 0; i < e->ns; i++) {
        s = &e->s[i];
        snprintf(sfx, sizeof(sfx), "%s_count", s->family);
        if (strcmp(s->name, sfx) != 0) {
            continue;
        }
        count = s->value;
        prev_bound = -INFINITY;
        prev = 0;
        has_inf = 0;
        has_sum = 0;
        has_count = 0;
        snprintf(sfx, sizeof(sfx), "%s_bucket", s->family);

        for (j = 0; j < e->ns; j++) {
            t = &e->s[j];
            if (strcmp(t->family, s->family) != 0 || !same_series(s, t)) {
                continue;
            }
            if (strcmp(t->name, sfx) != 0) {
                has_sum += strstr(t->name, "_sum") != NULL;
                has_count += strstr(t->name, "_count") != NULL;
                continue;
            }
            le = label_of(t, "le");
            if (le == NULL || read_value(le, &bound) != 0) {
                snprintf(e->err, sizeof(e->err), "%s: bucket without a "
                         "valid le", t->name);
                return -1;
            }
            if (has_inf) {
                snprintf(e->err, sizeof(e->err), "%s: bucket after +Inf",
                         t->name);
                return -1;
            }
            if (!(bound > prev_bound)) {
                snprintf(e->err, sizeof(e->err), "%s: le=%s not above "
                         "the previous bound", t->name, le);
                return -1;
            }
            if (t->value < prev) {
                snprintf(e->err, sizeof(e->err), "%s: le=%s holds %g, "
                         "less than the bucket before (%g): not "
                         "cumulative", t->name, le, t->value, prev);
                return -1;
            }
            prev_bound = bound;
            prev = t->value;
            has_inf = isinf(bound) && bound > 0;
        }
        if (!has_inf) {
            snprintf(e->err, sizeof(e->err), "%s: no le=\"+Inf\" bucket",
                     s->family);
            return -1;
        }
        if (prev != count) {
            snprintf(e->err, sizeof(e->err), "%s: +Inf bucket %g != "
                     "_count %g", s->family, prev, count);
            return -1;
        }
        if (has_sum != 1 || has_count != 1) {
            snprintf(e->err, sizeof(e->err), "%s: %d _sum and %d _count "
                     "samples for one series", s->family, has_sum,
                     has_count);
            return -1;
        }
    }

    /* Every histogram bucket series has its _count. */
    for (i = 0; i < e->ns; i++) {
        s = &e->s[i];
        snprintf(sfx, sizeof(sfx), "%s_bucket", s->family);
        if (strcmp(s->name, sfx) != 0) {
            continue;
        }
        snprintf(sfx, sizeof(sfx), "%s_count", s->family);
        for (j = 0; j < e->ns; j++) {
            if (strcmp(e->s[j].name, sfx) == 0 && same_series(s, &e->s[j]))
            {
                break;
            }
        }
        if (j == e->ns) {
            snprintf(e->err, sizeof(e->err), "%s: buckets without _count",
                     s->family);
            return -1;
        }
    }
    return 0;
}


/* Parses and checks text; 0, or -1 with e->err set. */
static int
expo_check(struct expo *e, const char *text, size_t len)
{
    const char  *p, *nl;
    char         line[1024];
    size_t       n;
    int          lineno, i;

    memset(e, 0, sizeof(*e));
    if (len > 0 && text[len - 1] != '\n') {
        return bad(e, 0, "the text does not end with a line feed");
    }
    if (memchr(text, '\0', len) != NULL || memchr(text, '\r', len) != NULL)
    {
        return bad(e, 0, "NUL or CR in the text");
    }

    lineno = 0;
    for (p = text; p < text + len; p = nl + 1) {
        lineno++;
        nl = memchr(p, '\n', (size_t) (text + len - p));
        n = (size_t) (nl - p);
        if (n >= sizeof(line)) {
            return bad(e, lineno, "line too long for the checker");
        }
        memcpy(line, p, n);
        line[n] = '\0';

        if (n == 0) {
            continue;
        }
        if (line[0] == '#') {
            if (parse_meta(e, line, lineno) != 0) {
                return -1;
            }
            continue;
        }
        if (parse_sample(e, line, lineno) != 0) {
            return -1;
        }
    }

    /* A sample's TYPE must come before it: a family first met in a
     * sample has none. */
    for (i = 0; i < e->nf; i++) {
        if (e->f[i].seen && e->f[i].type[0] == '\0') {
            snprintf(e->err, sizeof(e->err), "%s: samples without a TYPE "
                     "before them", e->f[i].name);
            return -1;
        }
    }
    return check_histograms(e);
}


/* The value of the sample name{labels} (labels as "k=v,k=v", in any
 * order), or NAN when absent. */
static double
value_of(const struct expo *e, const char *name, const char *labels)
{
    const struct sample  *s;
    const char           *p, *eq, *end, *v;
    char                  k[NAME_LEN], want[NAME_LEN];
    int                   i, n, ok;

    for (i = 0; i < e->ns; i++) {
        s = &e->s[i];
        if (strcmp(s->name, name) != 0) {
            continue;
        }
        ok = 1;
        n = 0;
        for (p = labels; ok && *p != '\0'; p = *end ? end + 1 : end) {
            end = strchr(p, ',');
            if (end == NULL) {
                end = p + strlen(p);
            }
            eq = memchr(p, '=', (size_t) (end - p));
            if (eq == NULL) {
                return NAN;
            }
            snprintf(k, sizeof(k), "%.*s", (int) (eq - p), p);
            snprintf(want, sizeof(want), "%.*s", (int) (end - eq - 1),
                     eq + 1);
            v = label_of(s, k);
            ok = v != NULL && strcmp(v, want) == 0;
            n++;
        }
        if (ok && n == s->nlabels) {
            return s->value;
        }
    }
    return NAN;
}


/* ------------------------------------------------------------------------
 * The cases
 * ------------------------------------------------------------------------ */

#define MS  1000000ull          /* ns */
#define T0  (1000 * MS)         /* an arbitrary monotonic start */

/* Checks one sample's value; NAN (absent) fails too. */
#define expect_value(e, name, labels, want)                                   \
    do {                                                                      \
        double  v_ = value_of((e), (name), (labels));                         \
        fail_unless(v_ == (double) (want), "%s{%s} = %g, want %g", (name),    \
                    (labels), v_, (double) (want));                           \
    } while (0)


static void
info_set(struct lmd_gen_info *g, int finish, uint64_t sched_ms,
    uint64_t first_ms, uint64_t end_ms, uint32_t ntok)
{
    memset(g, 0, sizeof(*g));
    g->finish = finish;
    g->prompt_tokens = 5;
    g->completion_tokens = ntok;
    g->submitted_ns = T0;
    g->scheduled_ns = sched_ms ? T0 + sched_ms * MS : 0;
    g->first_token_ns = first_ms ? T0 + first_ms * MS : 0;
    g->finished_ns = end_ms ? T0 + end_ms * MS : 0;
}


/* Renders the observations for models "a" (engine numbers given) and
 * "b" (no engine numbers yet) and checks the text; returns it. */
static char *
render_checked(struct expo *e, const struct lmd_engine_stats *st_a,
    size_t *len)
{
    struct lmd_metrics_source  src[2];
    char                      *text;

    src[0].name = "a";
    src[0].stats = st_a;
    src[1].name = "b";
    src[1].stats = NULL;
    text = lmd_metrics_render(src, 2, len);
    fail_unless(text != NULL, "render");
    if (text == NULL) {
        return NULL;
    }
    fail_unless(strlen(text) == *len, "length %zu vs %zu", strlen(text),
                *len);
    fail_unless(expo_check(e, text, *len) == 0, "%s\n%s", e->err, text);
    return text;
}


/* Assumption: the rendered text is valid exposition, with a HELP and a
 * TYPE line for every family the brief lists and the right types. */
LMD_TEST(metrics_exposition_syntax)
{
    static const char *const  want[][2] = {
        { "lmd_requests_running", "gauge" },
        { "lmd_requests_waiting", "gauge" },
        { "lmd_kv_blocks_total", "gauge" },
        { "lmd_kv_blocks_used", "gauge" },
        { "lmd_kv_blocks_cached", "gauge" },
        { "lmd_kv_cache_usage_ratio", "gauge" },
        { "lmd_prefix_cache_hit_tokens_total", "counter" },
        { "lmd_prefix_cache_query_tokens_total", "counter" },
        { "lmd_prompt_tokens_total", "counter" },
        { "lmd_generation_tokens_total", "counter" },
        { "lmd_preemptions_total", "counter" },
        { "lmd_requests_total", "counter" },
        { "lmd_time_to_first_token_seconds", "histogram" },
        { "lmd_time_per_output_token_seconds", "histogram" },
        { "lmd_e2e_request_latency_seconds", "histogram" },
        { "lmd_request_queue_time_seconds", "histogram" },
    };
    static struct expo       e;
    struct lmd_engine_stats  st;
    struct lmd_gen_info      g;
    struct family           *f;
    size_t                   i, len;
    char                    *text;

    lmd_metrics_reset();
    memset(&st, 0, sizeof(st));
    st.n_blocks = 100;
    st.blocks_used = 25;

    info_set(&g, LMD_GEN_STOP, 2, 30, 230, 11);
    lmd_metrics_observe(0, &g, 0);
    info_set(&g, LMD_GEN_LENGTH, 1, 900, 20000, 64);
    lmd_metrics_observe(0, &g, 0);
    info_set(&g, LMD_GEN_RUNNING, 0, 0, 50, 0);
    lmd_metrics_observe(1, &g, 1);

    text = render_checked(&e, &st, &len);
    if (text == NULL) {
        return;
    }
    for (i = 0; i < lmd_nelems(want); i++) {
        f = family_find(&e, want[i][0]);
        fail_unless(f != NULL && f->has_help, "%s: no HELP", want[i][0]);
        fail_unless(f != NULL && strcmp(f->type, want[i][1]) == 0,
                    "%s: TYPE %s, want %s", want[i][0],
                    f ? f->type : "(none)", want[i][1]);
    }
    fail_unless(e.nf == (int) lmd_nelems(want), "%d families", e.nf);
    free(text);
    lmd_metrics_reset();
}


/* Assumption: the numbers are the observations': finish reasons (a
 * cancelled request counts as cancelled, one the loop closed early as
 * stop), TTFT = first - submitted, TPOT = (end - first) / (tokens - 1),
 * e2e = end - submitted, queue = scheduled - submitted (or end -
 * submitted when never scheduled), each in the bucket whose bound is the
 * first at or above it; the engine's numbers go through as they are. */
LMD_TEST(metrics_values)
{
    static struct expo       e;
    struct lmd_engine_stats  st;
    struct lmd_gen_info      g;
    size_t                   len;
    char                    *text;

    lmd_metrics_reset();
    memset(&st, 0, sizeof(st));
    st.running = 3;
    st.waiting = 7;
    st.n_blocks = 200;
    st.blocks_used = 50;
    st.blocks_cached = 12;
    st.prefix_hit_tokens = 640;
    st.prefix_query_tokens = 1000;
    st.prompt_tokens = 12345;
    st.generation_tokens = 67890;
    st.preemptions = 2;

    /* a: TTFT 40 ms (on the 0.04 bound), TPOT (240-40)/4 = 50 ms (on
     * 0.05), e2e 240 ms (<= 0.3), queue 10 ms (<= 0.3). */
    info_set(&g, LMD_GEN_STOP, 10, 40, 240, 5);
    lmd_metrics_observe(0, &g, 0);
    /* a: TTFT 3 s, TPOT (9000-3000)/100 = 60 ms, e2e 9 s, queue 2.5 s. */
    info_set(&g, LMD_GEN_LENGTH, 2500, 3000, 9000, 101);
    lmd_metrics_observe(0, &g, 0);
    /* a: one token only: TTFT 100 ms, no TPOT; closed early: "stop". */
    info_set(&g, LMD_GEN_RUNNING, 20, 100, 100, 1);
    lmd_metrics_observe(0, &g, 0);
    /* a: timed out in the queue: no TTFT, e2e = queue = 120 s. */
    info_set(&g, LMD_GEN_TIMEOUT, 0, 0, 120000, 0);
    lmd_metrics_observe(0, &g, 0);
    /* a: the engine failed. */
    info_set(&g, LMD_GEN_ERROR, 5, 0, 6, 0);
    lmd_metrics_observe(0, &g, 0);
    /* b: the client left after 3 tokens. */
    info_set(&g, LMD_GEN_RUNNING, 1, 20, 80, 3);
    lmd_metrics_observe(1, &g, 1);

    text = render_checked(&e, &st, &len);
    if (text == NULL) {
        return;
    }

    expect_value(&e, "lmd_requests_running", "model=a", 3);
    expect_value(&e, "lmd_requests_waiting", "model=a", 7);
    expect_value(&e, "lmd_kv_blocks_total", "model=a", 200);
    expect_value(&e, "lmd_kv_blocks_used", "model=a", 50);
    expect_value(&e, "lmd_kv_blocks_cached", "model=a", 12);
    expect_value(&e, "lmd_kv_cache_usage_ratio", "model=a", 0.25);
    expect_value(&e, "lmd_prefix_cache_hit_tokens_total", "model=a", 640);
    expect_value(&e, "lmd_prefix_cache_query_tokens_total", "model=a",
                 1000);
    expect_value(&e, "lmd_prompt_tokens_total", "model=a", 12345);
    expect_value(&e, "lmd_generation_tokens_total", "model=a", 67890);
    expect_value(&e, "lmd_preemptions_total", "model=a", 2);
    expect_value(&e, "lmd_requests_running", "model=b", 0);
    expect_value(&e, "lmd_kv_cache_usage_ratio", "model=b", 0);

    expect_value(&e, "lmd_requests_total", "model=a,finish=stop", 2);
    expect_value(&e, "lmd_requests_total", "model=a,finish=length", 1);
    expect_value(&e, "lmd_requests_total", "model=a,finish=timeout", 1);
    expect_value(&e, "lmd_requests_total", "model=a,finish=error", 1);
    expect_value(&e, "lmd_requests_total", "model=a,finish=cancelled", 0);
    expect_value(&e, "lmd_requests_total", "model=b,finish=cancelled", 1);
    expect_value(&e, "lmd_requests_total", "model=b,finish=stop", 0);

    /* TTFT of a: 0.04, 0.1, 3 */
    expect_value(&e, "lmd_time_to_first_token_seconds_bucket",
                 "model=a,le=0.02", 0);
    expect_value(&e, "lmd_time_to_first_token_seconds_bucket",
                 "model=a,le=0.04", 1);
    expect_value(&e, "lmd_time_to_first_token_seconds_bucket",
                 "model=a,le=0.1", 2);
    expect_value(&e, "lmd_time_to_first_token_seconds_bucket",
                 "model=a,le=2.5", 2);
    expect_value(&e, "lmd_time_to_first_token_seconds_bucket",
                 "model=a,le=5", 3);
    expect_value(&e, "lmd_time_to_first_token_seconds_bucket",
                 "model=a,le=+Inf", 3);
    expect_value(&e, "lmd_time_to_first_token_seconds_count", "model=a", 3);
    fail_unless(fabs(value_of(&e, "lmd_time_to_first_token_seconds_sum",
                              "model=a") - 3.14) < 1e-6, "ttft sum");

    /* TPOT of a: 0.05, 0.06 */
    expect_value(&e, "lmd_time_per_output_token_seconds_bucket",
                 "model=a,le=0.025", 0);
    expect_value(&e, "lmd_time_per_output_token_seconds_bucket",
                 "model=a,le=0.05", 1);
    expect_value(&e, "lmd_time_per_output_token_seconds_bucket",
                 "model=a,le=0.075", 2);
    expect_value(&e, "lmd_time_per_output_token_seconds_count", "model=a",
                 2);
    fail_unless(fabs(value_of(&e, "lmd_time_per_output_token_seconds_sum",
                              "model=a") - 0.11) < 1e-6, "tpot sum");

    /* e2e of a: 0.24, 9, 0.1, 120, 0.006 */
    expect_value(&e, "lmd_e2e_request_latency_seconds_bucket",
                 "model=a,le=0.3", 3);
    expect_value(&e, "lmd_e2e_request_latency_seconds_bucket",
                 "model=a,le=10", 4);
    expect_value(&e, "lmd_e2e_request_latency_seconds_bucket",
                 "model=a,le=60", 4);
    expect_value(&e, "lmd_e2e_request_latency_seconds_bucket",
                 "model=a,le=120", 5);
    expect_value(&e, "lmd_e2e_request_latency_seconds_count", "model=a", 5);

    /* queue of a: 0.01, 2.5, 0.02, 120, 0.005 */
    expect_value(&e, "lmd_request_queue_time_seconds_bucket",
                 "model=a,le=0.3", 3);
    expect_value(&e, "lmd_request_queue_time_seconds_bucket",
                 "model=a,le=2.5", 4);
    expect_value(&e, "lmd_request_queue_time_seconds_bucket",
                 "model=a,le=120", 5);
    expect_value(&e, "lmd_request_queue_time_seconds_count", "model=a", 5);

    /* b: TTFT 20 ms, TPOT (80-20)/2 = 30 ms, e2e 80 ms, queue 1 ms. */
    expect_value(&e, "lmd_time_to_first_token_seconds_bucket",
                 "model=b,le=0.02", 1);
    expect_value(&e, "lmd_time_per_output_token_seconds_bucket",
                 "model=b,le=0.025", 0);
    expect_value(&e, "lmd_time_per_output_token_seconds_bucket",
                 "model=b,le=0.05", 1);
    expect_value(&e, "lmd_e2e_request_latency_seconds_count", "model=b", 1);
    expect_value(&e, "lmd_request_queue_time_seconds_count", "model=b", 1);

    free(text);
    lmd_metrics_reset();
}


/* Assumption: a model never observed, and no models at all, still give
 * valid text: zero-filled series, or families without samples. */
LMD_TEST(metrics_empty)
{
    static struct expo  e;
    size_t              len;
    char               *text;

    lmd_metrics_reset();
    text = render_checked(&e, NULL, &len);
    if (text != NULL) {
        expect_value(&e, "lmd_time_to_first_token_seconds_bucket",
                     "model=a,le=+Inf", 0);
        expect_value(&e, "lmd_time_to_first_token_seconds_count", "model=b",
                     0);
        expect_value(&e, "lmd_requests_total", "model=b,finish=error", 0);
        free(text);
    }

    text = lmd_metrics_render(NULL, 0, &len);
    fail_unless(text != NULL, "render of no models");
    if (text != NULL) {
        fail_unless(expo_check(&e, text, len) == 0, "%s", e.err);
        fail_unless(e.ns == 0, "%d samples without models", e.ns);
        fail_unless(e.nf == 16, "%d families without models", e.nf);
        free(text);
    }
}


/* Assumption: label values are escaped, so that any model name reads
 * back as itself. */
LMD_TEST(metrics_label_escaping)
{
    static struct expo         e;
    struct lmd_metrics_source  src;
    size_t                     len;
    char                      *text;

    lmd_metrics_reset();
    src.name = "we\"ird\\na\nme";
    src.stats = NULL;
    text = lmd_metrics_render(&src, 1, &len);
    fail_unless(text != NULL, "render");
    if (text == NULL) {
        return;
    }
    fail_unless(expo_check(&e, text, len) == 0, "%s\n%s", e.err, text);
    fail_unless(e.ns > 0 && e.s[0].nlabels == 1
                && strcmp(e.s[0].labels[0].value, src.name) == 0,
                "label read back as \"%s\"",
                e.ns > 0 ? e.s[0].labels[0].value : "");
    free(text);
}


/* Assumption: the checker itself catches each rule it claims to check
 * (otherwise the cases above prove nothing). */
LMD_TEST(metrics_checker_rejects)
{
    static const char *const  bad_texts[] = {
        /* no trailing line feed */
        "# TYPE x gauge\nx 1",
        /* sample before its TYPE */
        "x 1\n# TYPE x gauge\n",
        /* no TYPE at all */
        "x 1\n",
        /* unknown type */
        "# TYPE x meter\nx 1\n",
        /* two TYPE lines */
        "# TYPE x gauge\n# TYPE x gauge\nx 1\n",
        /* family split in two groups */
        "# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx{a=\"b\"} 2\n",
        /* bad name, bad label, bad escape, bad value */
        "# TYPE x gauge\n1x 1\n",
        "# TYPE x gauge\nx{a=b} 1\n",
        "# TYPE x gauge\nx{a=\"\\t\"} 1\n",
        "# TYPE x gauge\nx{a=\"b\"} one\n",
        "# TYPE x gauge\nx{__a=\"b\"} 1\n",
        "# TYPE x gauge\nx{a=\"b\",a=\"c\"} 1\n",
        "# TYPE x gauge\nx 1 2.5\n",
        /* histograms: not cumulative, no +Inf, +Inf != count, no count,
         * bounds out of order */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\n"
        "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 3"
        "\nh_sum 1\nh_count 2\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 3\nh_sum 1\n",
        "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
        "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
    };
    static const char  good[] =
        "# a comment\n"
        "# HELP x the \\\\ help\n"
        "# TYPE x gauge\n"
        "x{a=\"1\",b=\"\\\"\",} -Inf 1700000000000\n"
        "x NaN\n"
        "\n"
        "# TYPE h histogram\n"
        "h_bucket{le=\"0.5\"} 1\n"
        "h_bucket{le=\"+Inf\"} 2\n"
        "h_sum 1.5e0\n"
        "h_count 2\n";
    static struct expo  e;
    size_t              i;

    for (i = 0; i < lmd_nelems(bad_texts); i++) {
        fail_unless(expo_check(&e, bad_texts[i], strlen(bad_texts[i]))
                    != 0, "accepted bad text %zu:\n%s", i, bad_texts[i]);
    }
    fail_unless(expo_check(&e, good, strlen(good)) == 0,
                "refused good text: %s", e.err);
}
