/*
 * lmd_cmd_bench.c -- `lmd bench URL`: load an OpenAI-compatible server
 * with streaming requests and report its latencies and throughputs, the
 * way vLLM's benchmark_serving does.
 *
 *   lmd bench http://127.0.0.1:8080 [--model M] [--endpoint chat]
 *             [--requests N] [--concurrency C | --rate R]
 *             [--input-len DIST] [--output-len DIST] [--json] ...
 *
 * This file reads the options, resolves the server, asks it for its
 * model when --model is not given, builds the requests, runs them and
 * prints the report; lmd_bench.h lists the files that do each part.
 *
 * Exit status: 0 every request succeeded, 1 some failed (or the server
 * could not be reached), 2 usage.
 */

#include "lmd_bench.h"
#include "lmd_cmd.h"
#include "lmd_event.h"

#include <math.h>
#include <signal.h>

#define LMD_BENCH_MODEL_LEN  512


static void
lmd_bench_usage(FILE *out)
{
    fprintf(out,
        "Usage: lmd bench URL [options]\n"
        "\n"
        "Sends streaming requests to the OpenAI-compatible server at URL\n"
        "(its base, e.g. http://127.0.0.1:8080) and reports throughput and\n"
        "the TTFT, TPOT, ITL and end-to-end latencies (mean, median, p90,\n"
        "p99).\n"
        "\n"
        "  --model M             the model (default: the first of GET "
        "/v1/models)\n"
        "  --endpoint E          completions (default) or chat\n"
        "  --requests N          requests in all (default 100)\n"
        "  --concurrency C       keep C requests in flight (default 8)\n"
        "  --rate R              or: send R requests/s, Poisson arrivals\n"
        "  --input-len DIST      prompt tokens (default 1024)\n"
        "  --output-len DIST     max_tokens of each request (default 128)\n"
        "  --tokenizer DIR       prompts of random token ids of this model\n"
        "                        (default: random English words)\n"
        "  --temperature T       sampling temperature (default 0)\n"
        "  --no-ignore-eos       do not send \"ignore_eos\": true\n"
        "  --seed S              seed of lengths, prompts and arrivals "
        "(default 0)\n"
        "  --api-key KEY         bearer token (default: $OPENAI_API_KEY)\n"
        "  --timeout SECONDS     fail a request silent this long "
        "(default 600)\n"
        "  --insecure            https: do not verify the certificate\n"
        "  --json                print one JSON object instead of a table\n"
        "  --quiet               no progress line on stderr\n"
        "  -h, --help            show this help\n"
        "\n"
        "DIST: N (fixed), A:B (uniform integers in [A, B]) or N~S (normal,\n"
        "mean N, deviation S, at least 1).\n"
        "Exit status: 0 all requests succeeded, 1 some failed, 2 usage "
        "error.\n"
        "See lmd-bench(1).\n");
}


/* ---------------------------------------------------------- options */

static int
lmd_bench_opt_int(const char *opt, const char *v, long long min,
    long long max, long long *out)
{
    if (lmd_parse_int(v, min, max, out) != 0) {
        fprintf(stderr, "lmd bench: %s: expected an integer from %lld to "
                "%lld, not \"%s\"\n", opt, min, max, v);
        return 2;
    }
    return 0;
}


static int
lmd_bench_opt_double(const char *opt, const char *v, double min,
    double max, int open_min, double *out)
{
    char    *end;
    double   x;

    errno = 0;
    x = strtod(v, &end);
    if (end == v || *end != '\0' || errno != 0 || !isfinite(x) || x < min
        || x > max || (open_min && x == min))
    {
        fprintf(stderr, "lmd bench: %s: expected a number %s %g and <= "
                "%g, not \"%s\"\n", opt, open_min ? ">" : ">=", min, max, v);
        return 2;
    }
    *out = x;
    return 0;
}


/* Fills o from argv.  Returns -1 to go on, else the exit status. */
static int
lmd_bench_parse_args(int argc, char **argv, struct lmd_bench_opts *o)
{
    static const char *const  with_value[] = {
        "--model", "--endpoint", "--requests", "--concurrency", "--rate",
        "--input-len", "--output-len", "--tokenizer", "--temperature",
        "--seed", "--api-key", "--timeout", NULL
    };
    const char               *a, *v;
    char                      err[LMD_ERR_LEN], *end;
    double                    x;
    size_t                    k;
    int                       i, set_c = 0;

    memset(o, 0, sizeof(*o));
    o->endpoint = LMD_BENCH_COMPLETIONS;
    o->requests = 100;
    o->concurrency = 8;
    o->input_len.kind = LMD_BENCH_FIXED;
    o->input_len.a = 1024;
    o->output_len.kind = LMD_BENCH_FIXED;
    o->output_len.a = 128;
    o->timeout_ms = 600 * 1000;
    o->ignore_eos = 1;

    for (i = 1; i < argc; i++) {
        a = argv[i];
        for (k = 0; with_value[k] != NULL; k++) {
            if (strcmp(a, with_value[k]) == 0) {
                break;
            }
        }
        v = NULL;
        if (with_value[k] != NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "lmd bench: %s needs a value\n", a);
                return 2;
            }
            v = argv[++i];
        }

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            lmd_bench_usage(stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            o->quiet = 1;
        } else if (strcmp(a, "--insecure") == 0) {
            o->insecure = 1;
        } else if (strcmp(a, "--no-ignore-eos") == 0) {
            o->ignore_eos = 0;
        } else if (strcmp(a, "--model") == 0) {
            o->model = v;
        } else if (strcmp(a, "--tokenizer") == 0) {
            o->tokenizer = v;
        } else if (strcmp(a, "--api-key") == 0) {
            o->api_key = v;
        } else if (strcmp(a, "--endpoint") == 0) {
            if (strcmp(v, "completions") == 0) {
                o->endpoint = LMD_BENCH_COMPLETIONS;
            } else if (strcmp(v, "chat") == 0) {
                o->endpoint = LMD_BENCH_CHAT;
            } else {
                fprintf(stderr, "lmd bench: --endpoint: expected "
                        "completions or chat, not \"%s\"\n", v);
                return 2;
            }
        } else if (strcmp(a, "--requests") == 0) {
            if (lmd_bench_opt_int(a, v, 1, 100000000, &o->requests) != 0) {
                return 2;
            }
        } else if (strcmp(a, "--concurrency") == 0) {
            if (lmd_bench_opt_int(a, v, 1, 100000, &o->concurrency) != 0) {
                return 2;
            }
            set_c = 1;
        } else if (strcmp(a, "--rate") == 0) {
            if (lmd_bench_opt_double(a, v, 0, 1e6, 1, &o->rate) != 0) {
                return 2;
            }
        } else if (strcmp(a, "--input-len") == 0
                   || strcmp(a, "--output-len") == 0)
        {
            if (lmd_bench_dist_parse(v, a[2] == 'i' ? &o->input_len
                                                    : &o->output_len,
                                     err, sizeof(err)) != LMD_OK)
            {
                fprintf(stderr, "lmd bench: %s: %s\n", a, err);
                return 2;
            }
        } else if (strcmp(a, "--temperature") == 0) {
            if (lmd_bench_opt_double(a, v, 0, 100, 0, &o->temperature)
                != 0)
            {
                return 2;
            }
        } else if (strcmp(a, "--timeout") == 0) {
            if (lmd_bench_opt_double(a, v, 0, 1e6, 1, &x) != 0) {
                return 2;
            }
            o->timeout_ms = (uint64_t) ceil(x * 1000);
        } else if (strcmp(a, "--seed") == 0) {
            errno = 0;
            o->seed = strtoull(v, &end, 10);
            if (end == v || *end != '\0' || errno != 0 || v[0] == '-') {
                fprintf(stderr, "lmd bench: --seed: expected an integer "
                        "from 0 to %llu, not \"%s\"\n",
                        (unsigned long long) UINT64_MAX, v);
                return 2;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "lmd bench: unknown option \"%s\" (see lmd "
                    "bench --help)\n", a);
            return 2;
        } else if (o->url == NULL) {
            o->url = a;
        } else {
            fprintf(stderr, "lmd bench: unexpected argument \"%s\" (one "
                    "URL)\n", a);
            return 2;
        }
    }

    if (o->url == NULL) {
        fprintf(stderr, "lmd bench: no server URL given (e.g. lmd bench "
                "http://127.0.0.1:8080)\n");
        return 2;
    }
    if (o->rate > 0 && set_c) {
        fprintf(stderr, "lmd bench: give --concurrency C or --rate R, not "
                "both\n");
        return 2;
    }
    if (o->rate > 0) {
        o->concurrency = 0;
    }
    if (o->api_key == NULL) {
        o->api_key = getenv("OPENAI_API_KEY");
        if (o->api_key != NULL && o->api_key[0] == '\0') {
            o->api_key = NULL;
        }
    }
    /* the key and the model go into a header line and JSON: no controls */
    for (v = o->api_key; v != NULL && *v != '\0'; v++) {
        if ((unsigned char) *v < 0x20 || *v == 0x7f) {
            fprintf(stderr, "lmd bench: --api-key: control characters in "
                    "the key\n");
            return 2;
        }
    }
    return -1;
}


/* ------------------------------------------------------------- main */

int
lmd_cmd_bench(int argc, char **argv)
{
    struct lmd_bench_opts    o;
    struct lmd_bench_target  target;
    struct lmd_bench         b;
    char                     err[LMD_ERR_LEN], model[LMD_BENCH_MODEL_LEN];
    char                     path[sizeof(target.api) + 32];
    size_t                   i;
    int                      rc, loop = 0;

    rc = lmd_bench_parse_args(argc, argv, &o);
    if (rc >= 0) {
        return rc;
    }

    memset(&b, 0, sizeof(b));
    b.o = &o;
    b.n = (size_t) o.requests;
    b.progress = !o.quiet && isatty(STDERR_FILENO);
    rc = 1;

    /* a server closing a socket must fail a request, not kill lmd */
    signal(SIGPIPE, SIG_IGN);

    if (lmd_bench_target_init(&target, o.url, o.insecure, err, sizeof(err))
        != LMD_OK)
    {
        fprintf(stderr, "lmd bench: %s\n", err);
        return 2;
    }
    if (lmd_bench_target_resolve(&target, err, sizeof(err)) != LMD_OK) {
        fprintf(stderr, "lmd bench: %s\n", err);
        lmd_bench_target_free(&target);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/%s", target.api,
             o.endpoint == LMD_BENCH_CHAT ? "chat/completions"
                                          : "completions");
    b.path = path;

    if (lmd_event_init() != LMD_OK) {
        fprintf(stderr, "lmd bench: cannot create the event loop\n");
        goto done;
    }
    loop = 1;
    b.client = lmd_bench_client_new(&target, o.api_key, o.timeout_ms);
    if (b.client == NULL) {
        fprintf(stderr, "lmd bench: out of memory\n");
        goto done;
    }

    if (o.model != NULL) {
        snprintf(model, sizeof(model), "%s", o.model);
    } else if (lmd_bench_first_model(b.client, &target, model,
                                     sizeof(model), err, sizeof(err))
               != LMD_OK)
    {
        fprintf(stderr, "lmd bench: %s (--model M skips this)\n", err);
        goto done;
    }

    if (lmd_bench_build(&b, model, err, sizeof(err)) != LMD_OK) {
        fprintf(stderr, "lmd bench: %s\n", err);
        goto done;
    }
    if (lmd_bench_run(&b, err, sizeof(err)) != LMD_OK) {
        fprintf(stderr, "lmd bench: %s\n", err);
        goto done;
    }
    if (b.failed > LMD_BENCH_SHOW_ERRORS) {
        fprintf(stderr, "lmd bench: %zu more requests failed\n",
                b.failed - LMD_BENCH_SHOW_ERRORS);
    }
    if (b.interrupted) {
        fprintf(stderr, "lmd bench: interrupted\n");
    }
    if (b.oom) {
        fprintf(stderr, "lmd bench: out of memory: some figures are "
                "missing\n");
    }
    if (lmd_bench_report(&b, model, o.url, stdout) != LMD_OK) {
        fprintf(stderr, "lmd bench: out of memory\n");
        goto done;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "lmd bench: writing the report: %s\n",
                strerror(errno));
        goto done;
    }
    rc = b.failed == 0 && !b.interrupted && !b.oom ? 0 : 1;

done:
    lmd_bench_client_free(b.client);
    for (i = 0; b.reqs != NULL && i < b.n; i++) {
        lmd_bench_req_free(&b.reqs[i]);
    }
    free(b.reqs);
    free(b.arrivals);
    free(b.itl);
    for (i = 0; i < LMD_BENCH_SHOW_ERRORS; i++) {
        free(b.errors[i]);
    }
    if (loop) {
        lmd_event_done();
    }
    lmd_bench_target_free(&target);
    return rc;
}
