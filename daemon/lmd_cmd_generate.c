/*
 * lmd_cmd_generate.c -- `lmd generate`: raw completion of one prompt on
 * the command line, for trying a model, scripts and benchmarks.
 *
 *   lmd generate MODEL_DIR --prompt TEXT [options]
 *   lmd generate MODEL_DIR --prompt-tokens N [options]
 *
 * The prompt is tokenized as the model's tokenizer does with special
 * tokens (BOS for Llama), no chat template.  The prompt is prefilled,
 * then tokens are sampled and fed back one at a time until --max-tokens
 * or a stop id (the model's eos ids and the tokenizer's eos token; not
 * with --ignore-eos).  The text streams to stdout as the tokens come;
 * --json prints one object at the end instead.  --prompt-tokens N feeds
 * N seeded random ids, for benchmarks on folders that hold only a
 * config.json (--load-format dummy).
 *
 * The default temperature is 0 (greedy), whatever generation_config.json
 * says, so that a run is reproducible; --seed (default 0) seeds sampling.
 *
 * Exit status: 0 done, 1 failed, 2 usage.
 */

#include "lmd_core.h"
#include "lmd_cmd.h"
#include "lmd_cmd_generate.h"

#include <cjson/cJSON.h>

/* Prompt tokens per forward step. */
#define LMD_GENERATE_PREFILL_CHUNK  512

/* Bytes of generated text, for --json. */
struct lmd_generate_text {
    char       *data;
    size_t      len;
    size_t      cap;
};


static void
lmd_generate_usage(FILE *out)
{
    fprintf(out,
        "Usage: lmd generate MODEL_DIR --prompt TEXT [options]\n"
        "       lmd generate MODEL_DIR --prompt-tokens N [options]\n"
        "\n"
        "Completes TEXT with the model in MODEL_DIR (a Hugging Face "
        "folder):\n"
        "no chat template, the tokenizer's special tokens (BOS) added.  "
        "The\n"
        "text streams to stdout, a newline at the end.\n"
        "\n"
        "  --prompt TEXT         the text to complete\n"
        "  --prompt-tokens N     N seeded random token ids instead (for\n"
        "                        benchmarks; no tokenizer needed)\n"
        "  --ignore-eos          do not stop at the model's end tokens\n"
        "  --batch N             run N sequences at once through the\n"
        "                        serving scheduler (prompts: --prompt, or\n"
        "                        --prompt-tokens seeded per sequence) and\n"
        "                        report the throughput\n"
        "  --json                print {\"prompt_ids\", \"ids\", \"text\",\n"
        "                        \"prompt_tokens_per_s\", "
        "\"tokens_per_s\"} at the end\n"
        "  -v, --verbose         speeds on stderr\n"
        "  -h, --help            show this help\n"
        "\n"
        "%s"
        "\n"
        "Defaults: --max-tokens 128, --temperature 0 (greedy), --seed 0.\n"
        "Exit status: 0 done, 1 failed, 2 usage error.  See "
        "lmd-generate(1).\n", lmd_cmd_model_usage);
}


static int
lmd_generate_parse_args(int argc, char **argv, struct lmd_generate_opts *o)
{
    int    i, rc;
    char  *a;

    memset(o, 0, sizeof(*o));
    lmd_cmd_model_defaults(&o->m, "generate");
    o->prompt_tokens = -1;

    for (i = 1; i < argc; i++) {
        a = argv[i];
        rc = lmd_cmd_model_option(&o->m, argc, argv, &i);
        if (rc >= 0) {
            if (rc > 0) {
                return rc;
            }
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            lmd_generate_usage(stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "--ignore-eos") == 0) {
            o->ignore_eos = 1;
        } else if (strcmp(a, "--batch") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "lmd generate: --batch needs a value\n");
                return 2;
            }
            if (lmd_parse_int(argv[++i], 1, 4096, &o->batch) != 0) {
                fprintf(stderr, "lmd generate: --batch: expected an "
                        "integer from 1 to 4096, not \"%s\"\n", argv[i]);
                return 1;
            }
        } else if (strcmp(a, "--prompt") == 0
                   || strcmp(a, "--prompt-tokens") == 0)
        {
            if (i + 1 >= argc) {
                fprintf(stderr, "lmd generate: %s needs a value\n", a);
                return 2;
            }
            if (a[8] == '\0') {
                o->prompt = argv[++i];
            } else if (lmd_parse_int(argv[++i], 1, 1 << 24,
                                     &o->prompt_tokens) != 0)
            {
                fprintf(stderr, "lmd generate: --prompt-tokens: expected "
                        "an integer from 1 to %d, not \"%s\"\n", 1 << 24,
                        argv[i]);
                return 1;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "lmd generate: unknown option \"%s\" (see lmd "
                    "generate --help)\n", a);
            return 2;
        } else if (o->m.dir == NULL) {
            o->m.dir = a;
        } else {
            fprintf(stderr, "lmd generate: unexpected argument \"%s\" (the "
                    "prompt goes after --prompt)\n", a);
            return 2;
        }
    }

    if (o->m.dir == NULL) {
        fprintf(stderr, "lmd generate: no model folder given\n");
        return 2;
    }
    if ((o->prompt == NULL) == (o->prompt_tokens < 0)) {
        fprintf(stderr, "lmd generate: give --prompt TEXT or "
                "--prompt-tokens N (one of them)\n");
        return 2;
    }
    return -1;
}


/* ------------------------------------------------------------------ text */

static int
lmd_generate_text_add(struct lmd_generate_text *t, const char *s, size_t len)
{
    size_t   cap;
    char    *p;

    if (t->len + len + 1 > t->cap) {
        cap = lmd_max(t->cap * 2, t->len + len + 256);
        p = realloc(t->data, cap);
        if (p == NULL) {
            return LMD_ERROR;
        }
        t->data = p;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, len);
    t->len += len;
    t->data[t->len] = '\0';
    return LMD_OK;
}


/* Streams or collects the text of one id; ids the tokenizer does not
 * have (a model's padded vocabulary) have none. */
static void
lmd_generate_emit(const struct lmd_generate_opts *o,
    const struct lmd_tokenizer *tok, struct lmd_detok *d, int32_t id,
    struct lmd_generate_text *text)
{
    const char  *s;
    size_t       len;

    if (d == NULL || id < 0 || (size_t) id >= lmd_tokenizer_vocab_size(tok)
        || lmd_detok_push(d, id, &s, &len) != LMD_OK || len == 0)
    {
        return;
    }
    if (o->json) {
        lmd_generate_text_add(text, s, len);
    } else {
        fwrite(s, 1, len, stdout);
        fflush(stdout);
    }
}


/* N ids from a seeded splitmix64: the same prompt for a seed and a
 * vocabulary size on every machine. */
int
lmd_generate_random_ids(uint64_t seed, uint32_t vocab, long long n,
    struct lmd_tokens *ids)
{
    uint64_t   x = seed, z;
    long long  i;

    for (i = 0; i < n; i++) {
        x += 0x9e3779b97f4a7c15ull;
        z = x;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        if (lmd_tokens_push(ids, (int32_t) (z % vocab)) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


/* -------------------------------------------------------------- --json */

static cJSON *
lmd_generate_ids_json(const int32_t *ids, size_t n)
{
    cJSON   *a;
    size_t   i;

    a = cJSON_CreateArray();
    for (i = 0; a != NULL && i < n; i++) {
        cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    }
    return a;
}


static int
lmd_generate_print_json(const struct lmd_tokens *prompt,
    const struct lmd_tokens *gen, const struct lmd_generate_text *text,
    int has_text, double prompt_tps, double tps, const char *finish)
{
    cJSON  *obj;
    char   *s;

    obj = cJSON_CreateObject();
    if (obj == NULL) {
        return LMD_ERROR;
    }
    cJSON_AddItemToObject(obj, "prompt_ids",
                          lmd_generate_ids_json(prompt->ids, prompt->n));
    cJSON_AddItemToObject(obj, "ids", lmd_generate_ids_json(gen->ids, gen->n));
    /* "" without a tokenizer (--prompt-tokens on a bare config.json) */
    cJSON_AddStringToObject(obj, "text",
                            has_text && text->data ? text->data : "");
    cJSON_AddNumberToObject(obj, "prompt_tokens_per_s", prompt_tps);
    cJSON_AddNumberToObject(obj, "tokens_per_s", tps);
    cJSON_AddStringToObject(obj, "finish_reason", finish);
    s = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (s == NULL) {
        return LMD_ERROR;
    }
    printf("%s\n", s);
    cJSON_free(s);
    return LMD_OK;
}


/* ------------------------------------------------------------------ run */

static int
lmd_generate_run(const struct lmd_generate_opts *o, struct lmd_cmd_model *m)
{
    struct lmd_tokens    prompt = { NULL, 0, 0 }, gen = { NULL, 0, 0 };
    struct lmd_generate_text  text = { NULL, 0, 0 };
    struct lmd_sampling  sampling;
    struct lmd_sampler  *sampler = NULL;
    struct lmd_detok    *detok = NULL;
    const float         *logits;
    const char          *s, *finish = "length";
    float               *row = NULL;
    double               t0, t1, t_first = 0, t_last = 0, ptps, tps;
    uint64_t             total;
    uint32_t             vocab, ctx;
    size_t               i, len;
    int32_t              id;
    char                 err[LMD_ERR_LEN];
    int                  rc = 1;

    if (o->prompt != NULL) {
        err[0] = '\0';
        if (lmd_tokenizer_encode(m->tok, o->prompt, strlen(o->prompt), 1,
                                 &prompt, err, sizeof(err)) != LMD_OK)
        {
            fprintf(stderr, "lmd generate: encoding the prompt: %s\n", err);
            goto done;
        }
    } else if (lmd_generate_random_ids(o->m.seed, m->cfg.vocab_size,
                                  o->prompt_tokens, &prompt) != LMD_OK)
    {
        fprintf(stderr, "lmd generate: out of memory\n");
        goto done;
    }
    if (prompt.n == 0) {
        fprintf(stderr, "lmd generate: the prompt is empty (and the "
                "tokenizer adds no BOS token)\n");
        goto done;
    }

    ctx = m->cfg.max_position;
    total = prompt.n + (uint64_t) o->m.max_tokens;
    if (ctx != 0 && prompt.n >= ctx) {
        fprintf(stderr, "lmd generate: the prompt has %zu tokens, the "
                "model's context %u\n", prompt.n, ctx);
        goto done;
    }
    if (ctx != 0 && total > ctx) {
        total = ctx;                /* stops early, "length" */
    }

    if (lmd_cmd_model_open(m, &o->m, (uint32_t) total) != 0) {
        goto done;
    }
    vocab = lmd_session_memory(m->session)->vocab_size;

    if (m->tok != NULL) {
        detok = lmd_detok_new(m->tok, 1);
        if (detok == NULL) {
            fprintf(stderr, "lmd generate: out of memory\n");
            goto done;
        }
        /* the prompt first: generated text is what decoding prompt and
         * answer together adds to the prompt's text (leading spaces) */
        for (i = 0; i < prompt.n; i++) {
            if (prompt.ids[i] >= 0
                && (size_t) prompt.ids[i] < lmd_tokenizer_vocab_size(m->tok))
            {
                lmd_detok_push(detok, prompt.ids[i], &s, &len);
            }
        }
    }

    t0 = lmd_cmd_now();
    err[0] = '\0';
    logits = lmd_session_feed(m->session, prompt.ids, prompt.n, 1,
                              LMD_GENERATE_PREFILL_CHUNK, err, sizeof(err));
    t1 = lmd_cmd_now();
    if (logits == NULL) {
        fprintf(stderr, "lmd generate: %s\n", err);
        goto done;
    }

    sampling = o->m.sampling;
    sampling.seed = o->m.seed;
    sampling.has_seed = 1;
    sampler = lmd_sampler_create(&sampling, vocab);
    row = malloc(vocab * sizeof(float));
    if (sampler == NULL || row == NULL) {
        fprintf(stderr, "lmd generate: out of memory\n");
        goto done;
    }
    lmd_sampler_set_prompt(sampler, prompt.ids, prompt.n);

    while (gen.n < (size_t) o->m.max_tokens) {
        memcpy(row, logits, vocab * sizeof(float));
        id = lmd_sampler_sample(sampler, row, NULL);
        t_last = lmd_cmd_now();
        if (gen.n == 0) {
            t_first = t_last;
        }
        if (lmd_tokens_push(&gen, id) != LMD_OK) {
            fprintf(stderr, "lmd generate: out of memory\n");
            goto done;
        }
        if (!o->ignore_eos && lmd_cmd_model_is_eos(m, id)) {
            finish = "stop";
            break;
        }
        lmd_generate_emit(o, m->tok, detok, id, &text);
        if (gen.n == (size_t) o->m.max_tokens
            || lmd_session_length(m->session) + 1
               > lmd_session_capacity(m->session))
        {
            break;
        }
        logits = lmd_session_feed(m->session, &id, 1, 1, 0, err,
                                  sizeof(err));
        if (logits == NULL) {
            fprintf(stderr, "\nlmd generate: %s\n", err);
            goto done;
        }
    }

    if (detok != NULL && lmd_detok_finish(detok, &s, &len) == LMD_OK
        && len > 0)
    {
        if (o->json) {
            lmd_generate_text_add(&text, s, len);
        } else {
            fwrite(s, 1, len, stdout);
        }
    }

    ptps = t1 > t0 ? (double) prompt.n / (t1 - t0) : 0;
    tps = gen.n > 1 && t_last > t_first
          ? (double) (gen.n - 1) / (t_last - t_first) : 0;

    if (o->json) {
        if (lmd_generate_print_json(&prompt, &gen, &text, detok != NULL, ptps,
                               tps, finish) != LMD_OK)
        {
            fprintf(stderr, "lmd generate: out of memory\n");
            goto done;
        }
    } else {
        if (detok == NULL) {            /* no tokenizer: the ids */
            for (i = 0; i < gen.n; i++) {
                printf("%s%d", i ? " " : "", (int) gen.ids[i]);
            }
        }
        putchar('\n');
    }
    if (o->m.verbose) {
        fprintf(stderr, "lmd generate: prompt %zu tokens, %.1f tokens/s; "
                "generated %zu tokens, %.1f tokens/s (%s)\n", prompt.n, ptps,
                gen.n, tps, finish);
    }
    rc = 0;

done:

    free(row);
    free(text.data);
    if (sampler != NULL) {
        lmd_sampler_free(sampler);
    }
    lmd_detok_free(detok);
    lmd_tokens_free(&prompt);
    lmd_tokens_free(&gen);
    return rc;
}


int
lmd_cmd_generate(int argc, char **argv)
{
    struct lmd_generate_opts   o;
    struct lmd_cmd_model  m;
    int                   rc;

    rc = lmd_generate_parse_args(argc, argv, &o);
    if (rc >= 0) {
        return rc;
    }

    rc = lmd_cmd_model_load(&m, &o.m, o.prompt != NULL);
    if (rc == 0) {
        rc = o.batch > 0 ? lmd_generate_batch(&o, &m)
                         : lmd_generate_run(&o, &m);
    }
    lmd_cmd_model_close(&m);

    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "lmd generate: writing the output: %s\n",
                strerror(errno));
        return 1;
    }
    return rc;
}
