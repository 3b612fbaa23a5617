/*
 * test_bench.c -- unit tests for the pure parts of `lmd bench`: length
 * distributions and their draws, percentiles and statistics, the
 * server-sent event reader, OpenAI stream chunks, error bodies and the
 * URL parser.  (tests/integration/test_bench_cli.sh drives the command
 * against a fake server.)
 *
 * Each case states the assumption it checks.
 */

#include "lmd_bench.h"

#include <math.h>

#include "lmd_test.h"


/* ------------------------------------------------------------------------
 * Distributions
 * ------------------------------------------------------------------------ */

/* Assumption: "N" is fixed, "A:B" uniform with A <= B, "N~S" normal with
 * a real mean >= 1 and deviation >= 0; lengths are whole tokens >= 1. */
LMD_TEST(dist_parse)
{
    static const char  *bad[] = {
        "", "0", "-3", "1.5", "abc", "3:", ":3", "5:3", "0:3", "3:x",
        "4~", "~2", "0.5~1", "4~-1", "4~x", "99999999999", "1:2:3",
        "16777217",
    };
    struct lmd_bench_dist  d;
    char                   err[LMD_ERR_LEN];
    size_t                 i;

    fail_unless(lmd_bench_dist_parse("128", &d, err, sizeof(err)) == LMD_OK
                && d.kind == LMD_BENCH_FIXED && d.a == 128, "fixed");
    fail_unless(lmd_bench_dist_parse("3:9", &d, err, sizeof(err)) == LMD_OK
                && d.kind == LMD_BENCH_UNIFORM && d.a == 3 && d.b == 9,
                "uniform");
    fail_unless(lmd_bench_dist_parse("7:7", &d, err, sizeof(err)) == LMD_OK,
                "uniform of one value");
    fail_unless(lmd_bench_dist_parse("100~12.5", &d, err, sizeof(err))
                == LMD_OK && d.kind == LMD_BENCH_NORMAL && d.a == 100
                && d.b == 12.5, "normal");
    fail_unless(lmd_bench_dist_parse("1~0", &d, err, sizeof(err)) == LMD_OK,
                "normal without spread");

    for (i = 0; i < lmd_nelems(bad); i++) {
        err[0] = '\0';
        fail_unless(lmd_bench_dist_parse(bad[i], &d, err, sizeof(err))
                    == LMD_ERROR, "\"%s\" accepted", bad[i]);
        fail_unless(strstr(err, "A:B") != NULL && strstr(err, bad[i]),
                    "\"%s\": message \"%s\"", bad[i], err);
    }
}


/* Assumption: draws stay in range, a uniform draw reaches both ends, a
 * normal one centres on its mean and is never below 1, and a seed gives
 * the same sequence again. */
LMD_TEST(dist_draw)
{
    struct lmd_bench_dist  u = { LMD_BENCH_UNIFORM, 3, 6 };
    struct lmd_bench_dist  n = { LMD_BENCH_NORMAL, 50, 10 };
    struct lmd_bench_dist  low = { LMD_BENCH_NORMAL, 1, 5 };
    struct lmd_bench_dist  f = { LMD_BENCH_FIXED, 17, 0 };
    struct lmd_bench_rng   r = { 42 }, r2 = { 42 };
    uint32_t               v, seen = 0;
    double                 sum = 0;
    int                    i;

    for (i = 0; i < 1000; i++) {
        v = lmd_bench_dist_draw(&u, &r);
        fail_unless(v >= 3 && v <= 6, "uniform gave %u", v);
        seen |= 1u << v;
    }
    fail_unless(seen == 0x78, "uniform values seen: 0x%x", seen);

    for (i = 0; i < 4000; i++) {
        sum += lmd_bench_dist_draw(&n, &r);
    }
    fail_unless(fabs(sum / 4000 - 50) < 1.0, "normal mean %g", sum / 4000);

    for (i = 0; i < 1000; i++) {
        v = lmd_bench_dist_draw(&low, &r);
        fail_unless(v >= 1, "normal clamped: %u", v);
    }
    fail_unless(lmd_bench_dist_draw(&f, &r) == 17, "fixed");

    r.state = 42;
    for (i = 0; i < 10; i++) {
        fail_unless(lmd_bench_rng_next(&r) == lmd_bench_rng_next(&r2),
                    "draw %d differs for one seed", i);
    }
    for (i = 0; i < 1000; i++) {
        sum = lmd_bench_rng_double(&r);
        fail_unless(sum >= 0 && sum < 1, "double %g", sum);
    }
}


/* ------------------------------------------------------------------------
 * Statistics
 * ------------------------------------------------------------------------ */

/* Assumption: percentiles interpolate linearly between closest ranks
 * (numpy.percentile's default): for 1..10, p50 is 5.5, p90 9.1, p99
 * 9.91; one value is every percentile. */
LMD_TEST(percentile)
{
    double  v[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
    double  one = 4.5;

    fail_unless(fabs(lmd_bench_percentile(v, 10, 50) - 5.5) < 1e-12, "p50");
    fail_unless(fabs(lmd_bench_percentile(v, 10, 90) - 9.1) < 1e-12, "p90");
    fail_unless(fabs(lmd_bench_percentile(v, 10, 99) - 9.91) < 1e-12,
                "p99");
    fail_unless(lmd_bench_percentile(v, 10, 0) == 1, "p0");
    fail_unless(lmd_bench_percentile(v, 10, 100) == 10, "p100");
    fail_unless(lmd_bench_percentile(&one, 1, 99) == 4.5, "one value");
    fail_unless(lmd_bench_percentile(NULL, 0, 50) == 0, "no values");
}


/* Assumption: lmd_bench_stat sorts seconds and reports milliseconds: mean,
 * population deviation, median, p90, p99. */
LMD_TEST(stat)
{
    double                 v[4] = { 0.004, 0.001, 0.003, 0.002 };
    struct lmd_bench_stat  s;

    lmd_bench_stat(v, 4, &s);
    fail_unless(s.n == 4, "n");
    fail_unless(v[0] == 0.001 && v[3] == 0.004, "sorted");
    fail_unless(fabs(s.mean - 2.5) < 1e-9, "mean %g", s.mean);
    fail_unless(fabs(s.std - sqrt(1.25)) < 1e-9, "std %g", s.std);
    fail_unless(fabs(s.median - 2.5) < 1e-9, "median %g", s.median);
    fail_unless(fabs(s.p90 - 3.7) < 1e-9, "p90 %g", s.p90);
    fail_unless(fabs(s.p99 - 3.97) < 1e-9, "p99 %g", s.p99);

    lmd_bench_stat(v, 0, &s);
    fail_unless(s.n == 0 && s.mean == 0 && s.p99 == 0, "empty");
}


/* ------------------------------------------------------------------------
 * Server-sent events
 * ------------------------------------------------------------------------ */

struct events {
    char    got[8][64];
    int     error[8];
    int     n;
};


static int
collect(void *data, const char *ev, size_t len, int error_event)
{
    struct events  *e = data;

    if (e->n < 8) {
        snprintf(e->got[e->n], sizeof(e->got[0]), "%.*s", (int) len, ev);
        e->error[e->n] = error_event;
        e->n++;
    }
    return LMD_OK;
}


static const char  stream_text[] =
    ": a comment\n"
    "data: {\"a\":1}\n"
    "\n"
    "event: ping\r\n"
    "data:two\r\n"
    "data:  lines\r\n"
    "id: 7\r\n"
    "\r\n"
    "\n"
    "event: error\n"
    "data: {\"error\":\"x\"}\n"
    "\n"
    "data\n"
    "\n"
    "data: [DONE]\n"
    "\n"
    "data: unfinished";


static void
check_stream(const struct events *e, const char *how)
{
    fail_unless(e->n == 5, "%s: %d events", how, e->n);
    fail_unless(strcmp(e->got[0], "{\"a\":1}") == 0, "%s: 0 \"%s\"", how,
                e->got[0]);
    fail_unless(strcmp(e->got[1], "two\n lines") == 0, "%s: 1 \"%s\"", how,
                e->got[1]);
    fail_unless(!e->error[1] && e->error[2], "%s: the error event", how);
    fail_unless(strcmp(e->got[3], "") == 0, "%s: bare data", how);
    fail_unless(strcmp(e->got[4], "[DONE]") == 0, "%s: 4 \"%s\"", how,
                e->got[4]);
}


/* Assumption: events end at a blank line, LF or CRLF; data lines join
 * with LF, one space after the colon is dropped, comments and other fields
 * are skipped; an event type of "error" is flagged; and the same events
 * come out whether the bytes arrive at once or one at a time.  An
 * unfinished event stays pending. */
LMD_TEST(sse)
{
    struct lmd_bench_sse  s;
    struct events         e;
    char                  err[LMD_ERR_LEN];
    size_t                i, len = sizeof(stream_text) - 1;

    memset(&s, 0, sizeof(s));
    memset(&e, 0, sizeof(e));
    fail_unless(lmd_bench_sse_feed(&s, stream_text, len, collect, &e, err,
                                   sizeof(err)) == LMD_OK, "at once");
    check_stream(&e, "at once");
    fail_unless(lmd_bench_sse_pending(&s), "the unfinished event");
    lmd_bench_sse_free(&s);

    memset(&e, 0, sizeof(e));
    for (i = 0; i < len; i++) {
        fail_unless(lmd_bench_sse_feed(&s, stream_text + i, 1, collect, &e,
                                       err, sizeof(err)) == LMD_OK,
                    "byte %zu", i);
    }
    check_stream(&e, "bytewise");
    fail_unless(lmd_bench_sse_feed(&s, "\n\n", 2, collect, &e, err,
                                   sizeof(err)) == LMD_OK
                && e.n == 6 && strcmp(e.got[5], "unfinished") == 0,
                "finishing the last event");
    fail_unless(!lmd_bench_sse_pending(&s), "nothing pending");
    lmd_bench_sse_free(&s);
}


static int
refuse(void *data, const char *ev, size_t len, int error_event)
{
    (void) data;
    (void) ev;
    (void) len;
    (void) error_event;
    return LMD_ERROR;
}


/* Assumption: a callback's LMD_ERROR stops the feed, and a line without
 * an end past 4 MiB is refused with a message. */
LMD_TEST(sse_limits)
{
    struct lmd_bench_sse  s;
    char                  err[LMD_ERR_LEN], *big;
    size_t                n = (4u << 20) + 16;

    memset(&s, 0, sizeof(s));
    fail_unless(lmd_bench_sse_feed(&s, "data: x\n\n", 9, refuse, NULL, err,
                                   sizeof(err)) == LMD_ERROR, "refused");
    lmd_bench_sse_free(&s);

    big = malloc(n);
    fail_unless(big != NULL, "malloc");
    if (big == NULL) {
        return;
    }
    memset(big, 'x', n);
    err[0] = '\0';
    fail_unless(lmd_bench_sse_feed(&s, big, n, refuse, NULL, err,
                                   sizeof(err)) == LMD_ERROR
                && strstr(err, "line over") != NULL, "long line: \"%s\"",
                err);
    lmd_bench_sse_free(&s);
    free(big);
}


/* ------------------------------------------------------------------------
 * Chunks and error bodies
 * ------------------------------------------------------------------------ */

static int
chunk(const char *ev, int endpoint, struct lmd_bench_chunk *c, char *err)
{
    return lmd_bench_chunk_parse(ev, strlen(ev), endpoint, c, err,
                                 LMD_ERR_LEN);
}


/* Assumption: text comes from choices[0].text (completions) or
 * choices[0].delta.content plus reasoning_content (chat); a role-only
 * delta has none; usage gives both counts; [DONE] ends the stream. */
LMD_TEST(chunk_parse)
{
    struct lmd_bench_chunk  c;
    char                    err[LMD_ERR_LEN];

    fail_unless(chunk("[DONE]", LMD_BENCH_CHAT, &c, err) == LMD_OK && c.done,
                "[DONE]");
    fail_unless(chunk("{\"choices\":[{\"text\":\"abc\"}]}",
                      LMD_BENCH_COMPLETIONS, &c, err) == LMD_OK
                && c.content_len == 3 && c.prompt_tokens == -1
                && c.completion_tokens == -1 && !c.done, "completion text");
    fail_unless(chunk("{\"choices\":[{\"delta\":{\"role\":\"assistant\","
                      "\"content\":\"\"}}]}", LMD_BENCH_CHAT, &c, err)
                == LMD_OK && c.content_len == 0, "role only");
    fail_unless(chunk("{\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}",
                      LMD_BENCH_CHAT, &c, err) == LMD_OK
                && c.content_len == 2, "chat content");
    fail_unless(chunk("{\"choices\":[{\"delta\":{\"reasoning_content\":"
                      "\"hmm\",\"content\":null}}]}", LMD_BENCH_CHAT, &c,
                      err) == LMD_OK && c.content_len == 3, "reasoning");
    fail_unless(chunk("{\"choices\":[{\"text\":\"abc\"}]}", LMD_BENCH_CHAT,
                      &c, err) == LMD_OK && c.content_len == 0,
                "completion chunk on the chat endpoint");
    fail_unless(chunk("{\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
                      "\"completion_tokens\":5}}", LMD_BENCH_COMPLETIONS,
                      &c, err) == LMD_OK && c.prompt_tokens == 12
                && c.completion_tokens == 5, "usage");
    fail_unless(chunk("{\"choices\":[{\"text\":\"a\"}],\"usage\":null}",
                      LMD_BENCH_COMPLETIONS, &c, err) == LMD_OK
                && c.prompt_tokens == -1, "usage null");
}


/* Assumption: an event that is not a JSON object, or that holds an error,
 * fails with a message quoting it. */
LMD_TEST(chunk_errors)
{
    struct lmd_bench_chunk  c;
    char                    err[LMD_ERR_LEN];

    fail_unless(chunk("{broken", LMD_BENCH_CHAT, &c, err) == LMD_ERROR
                && strstr(err, "not a JSON object") && strstr(err, "{broken"),
                "not JSON: \"%s\"", err);
    fail_unless(chunk("[1,2]", LMD_BENCH_CHAT, &c, err) == LMD_ERROR,
                "an array");
    fail_unless(chunk("{\"error\":{\"message\":\"overloaded\"}}",
                      LMD_BENCH_CHAT, &c, err) == LMD_ERROR
                && strstr(err, "overloaded") != NULL, "error: \"%s\"", err);
    fail_unless(chunk("{\"error\":\"plain\"}", LMD_BENCH_CHAT, &c, err)
                == LMD_ERROR && strstr(err, "plain") != NULL,
                "string error: \"%s\"", err);
    fail_unless(chunk("{\"error\":null,\"choices\":[]}", LMD_BENCH_CHAT, &c,
                      err) == LMD_OK, "error null is no error");
}


/* Assumption: an error body's message is OpenAI's error.message, a
 * string error, FastAPI's detail, or else the body's start on one line. */
LMD_TEST(error_body)
{
    static const struct {
        const char  *body;
        const char  *want;
    } cases[] = {
        { "{\"error\":{\"message\":\"no such model\",\"type\":\"x\"}}",
          "no such model" },
        { "{\"error\":\"bad key\"}", "bad key" },
        { "{\"detail\":\"Not Found\"}", "Not Found" },
        { "{\"message\":\"m\"}", "m" },
        { "<html>\n<b>502</b>\n</html>", "<html> <b>502</b> </html>" },
        { "", "no body" },
    };
    char    err[LMD_ERR_LEN];
    size_t  i;

    for (i = 0; i < lmd_nelems(cases); i++) {
        lmd_bench_error_body(cases[i].body, strlen(cases[i].body), err,
                             sizeof(err));
        fail_unless_streq(err, cases[i].want);
    }
    lmd_bench_error_body(NULL, 0, err, sizeof(err));
    fail_unless_streq(err, "no body");
}


/* ------------------------------------------------------------------------
 * URLs
 * ------------------------------------------------------------------------ */

/* Assumption: the base URL gives host, port (80/443 by default), the Host
 * header as written and the API root, "/v1" added unless the path ends
 * with it; anything but http(s)://host[:port][/path] is refused. */
LMD_TEST(target)
{
    static const struct {
        const char  *url;
        const char  *host, *port, *authority, *api;
        int          tls;
    } good[] = {
        { "http://127.0.0.1:8080", "127.0.0.1", "8080", "127.0.0.1:8080",
          "/v1", 0 },
        { "http://localhost/", "localhost", "80", "localhost", "/v1", 0 },
        { "https://api.example.com/v1", "api.example.com", "443",
          "api.example.com", "/v1", 1 },
        { "http://[::1]:9000/proxy/v1/", "::1", "9000", "[::1]:9000",
          "/proxy/v1", 0 },
        { "http://h:1/a/b", "h", "1", "h:1", "/a/b/v1", 0 },
    };
    static const char  *bad[] = {
        "", "127.0.0.1:8080", "ftp://h", "http://", "http://:80",
        "http://h:", "http://h:0", "http://h:65536", "http://h:8x",
        "http://[::1", "http://u@h", "http://h/?q=1", "http://h#f",
        "http://h:80:90",
    };
    struct lmd_bench_target  t;
    char                     err[LMD_ERR_LEN];
    size_t                   i;

    for (i = 0; i < lmd_nelems(good); i++) {
        fail_unless(lmd_bench_target_init(&t, good[i].url, 0, err,
                                          sizeof(err)) == LMD_OK,
                    "%s: %s", good[i].url, err);
        fail_unless_streq(t.host, good[i].host);
        fail_unless_streq(t.port, good[i].port);
        fail_unless_streq(t.authority, good[i].authority);
        fail_unless_streq(t.api, good[i].api);
        fail_unless(t.tls == good[i].tls, "%s: tls", good[i].url);
        lmd_bench_target_free(&t);
    }
    for (i = 0; i < lmd_nelems(bad); i++) {
        err[0] = '\0';
        fail_unless(lmd_bench_target_init(&t, bad[i], 0, err, sizeof(err))
                    == LMD_ERROR && err[0] != '\0', "\"%s\" accepted",
                    bad[i]);
        lmd_bench_target_free(&t);
    }
}
