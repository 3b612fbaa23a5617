/*
 * lmd_cmd_chat.c -- `lmd chat`: talk to a model on the terminal, turn by
 * turn, like `lmdeploy chat`.
 *
 *   lmd chat MODEL_DIR [--system TEXT] [options]
 *
 * Each line of stdin is a user turn ("> " is printed first when stdin is
 * a terminal); "/reset" forgets the conversation, "/exit" or end of input
 * quits.  The whole conversation is rendered with the model's chat
 * template (add_generation_prompt), tokenized without special tokens as
 * transformers' apply_chat_template does, and the answer streams to
 * stdout until an end token (the template's eos token, the model's eos
 * ids), --max-tokens or Ctrl-C, which stops the answer, not the program
 * (at the prompt, Ctrl-C quits).
 *
 * Design: the session's KV cache outlives the turns.  The ids it holds
 * are kept; each turn keeps the longest prefix they share with the new
 * conversation's ids (usually everything up to the last answer: the
 * template re-renders that answer, and it may tokenize differently from
 * the ids generated), truncates the cache to it and prefills only the
 * rest.  --verbose says how many tokens that was.
 *
 * Sampling defaults come from generation_config.json (temperature, top_p,
 * top_k, repetition_penalty), greedy when it has no temperature; the
 * options override them.  --seed (default 0) seeds the first answer, the
 * seed plus N the N+1th.
 *
 * Exit status: 0 at /exit or end of input, 1 failed, 2 usage, 130 Ctrl-C
 * at the prompt.
 */

#include "lmd_core.h"
#include "lmd_cmd.h"
#include "lmd_cmd_model.h"

#include <signal.h>

#include <cjson/cJSON.h>

#include "lmd_chat_template.h"
#include "lmd_model_text.h"

#define LMD_CHAT_PREFILL_CHUNK  512
#define LMD_CHAT_CONTEXT        4096    /* default KV room, in tokens */
#define LMD_CHAT_MAX_TOKENS     512

struct lmd_chat_opts {
    struct lmd_cmd_model_opts   m;
    const char                 *system;
    const char                 *template_file;
    long long                   context;        /* 0: default */
};

struct lmd_chat {
    struct lmd_chat_opts       *o;
    struct lmd_cmd_model        m;
    struct lmd_chat_template   *tpl;
    char                       *bos;            /* the template's */
    char                       *eos;
    cJSON                      *messages;
    struct lmd_tokens           cached;         /* ids in the KV cache */
    unsigned                    turn;
    int                         tty;
};

static volatile sig_atomic_t  lmd_chat_interrupted;


static void
lmd_chat_usage(FILE *out)
{
    fprintf(out,
        "Usage: lmd chat MODEL_DIR [--system TEXT] [options]\n"
        "\n"
        "Chats with the model in MODEL_DIR (a Hugging Face folder): each "
        "line of\n"
        "stdin is a user turn, rendered with the model's chat template; "
        "the\n"
        "answer streams to stdout.  /reset forgets the conversation, /exit "
        "(or\n"
        "end of input) quits; Ctrl-C stops an answer, and quits at the "
        "prompt.\n"
        "\n"
        "  --system TEXT         a system message first\n"
        "  --template FILE       a Jinja chat template instead of the "
        "model's\n"
        "  --context N           tokens the conversation may hold (default "
        "the\n"
        "                        model's context, at most %d)\n"
        "  -v, --verbose         on stderr: tokens prefilled and cached per "
        "turn,\n"
        "                        speeds\n"
        "  -h, --help            show this help\n"
        "\n"
        "%s"
        "\n"
        "Defaults: --max-tokens %d; sampling as generation_config.json "
        "says\n"
        "(greedy without a temperature there), --seed 0.\n"
        "Exit status: 0 done, 1 failed, 2 usage error, 130 Ctrl-C at the "
        "prompt.\n"
        "See lmd-chat(1).\n", LMD_CHAT_CONTEXT, lmd_cmd_model_usage,
        LMD_CHAT_MAX_TOKENS);
}


static int
lmd_chat_parse_args(int argc, char **argv, struct lmd_chat_opts *o)
{
    int    i, rc;
    char  *a;

    memset(o, 0, sizeof(*o));
    lmd_cmd_model_defaults(&o->m, "chat");
    o->m.max_tokens = LMD_CHAT_MAX_TOKENS;

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
            lmd_chat_usage(stdout);
            return 0;
        } else if (strcmp(a, "--system") == 0
                   || strcmp(a, "--template") == 0
                   || strcmp(a, "--context") == 0)
        {
            if (i + 1 >= argc) {
                fprintf(stderr, "lmd chat: %s needs a value\n", a);
                return 2;
            }
            i++;
            if (a[2] == 's') {
                o->system = argv[i];
            } else if (a[2] == 't') {
                o->template_file = argv[i];
            } else if (lmd_parse_int(argv[i], 1, 1 << 24, &o->context)
                       != 0)
            {
                fprintf(stderr, "lmd chat: --context: expected an integer "
                        "from 1 to %d, not \"%s\"\n", 1 << 24, argv[i]);
                return 1;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "lmd chat: unknown option \"%s\" (see lmd chat "
                    "--help)\n", a);
            return 2;
        } else if (o->m.dir == NULL) {
            o->m.dir = a;
        } else {
            fprintf(stderr, "lmd chat: unexpected argument \"%s\" (the "
                    "conversation comes on stdin)\n", a);
            return 2;
        }
    }

    if (o->m.dir == NULL) {
        fprintf(stderr, "lmd chat: no model folder given\n");
        return 2;
    }
    return -1;
}


static void
lmd_chat_on_sigint(int signo)
{
    lmd_unused(signo);
    lmd_chat_interrupted = 1;
}


/* ------------------------------------------------------------- messages */

static int
lmd_chat_add_message(struct lmd_chat *c, const char *role,
    const char *content)
{
    cJSON  *msg;

    msg = cJSON_CreateObject();
    if (msg == NULL
        || cJSON_AddStringToObject(msg, "role", role) == NULL
        || cJSON_AddStringToObject(msg, "content", content) == NULL)
    {
        cJSON_Delete(msg);
        return LMD_ERROR;
    }
    cJSON_AddItemToArray(c->messages, msg);
    return LMD_OK;
}


/* Forgets the conversation (the system message stays) and the cache. */
static int
lmd_chat_reset(struct lmd_chat *c)
{
    cJSON_Delete(c->messages);
    c->messages = cJSON_CreateArray();
    if (c->messages == NULL) {
        return LMD_ERROR;
    }
    c->cached.n = 0;
    if (c->m.session != NULL) {
        lmd_session_truncate(c->m.session, 0);
    }
    if (c->o->system != NULL) {
        return lmd_chat_add_message(c, "system", c->o->system);
    }
    return LMD_OK;
}


/* The conversation's prompt ids (rendered, tokenized). */
static int
lmd_chat_prompt(struct lmd_chat *c, struct lmd_tokens *ids)
{
    struct lmd_chat_vars  vars;
    char                  err[LMD_ERR_LEN], *text;
    size_t                len;
    int                   rc;

    memset(&vars, 0, sizeof(vars));
    vars.messages = c->messages;
    vars.bos_token = c->bos;
    vars.eos_token = c->eos;
    vars.add_generation_prompt = 1;
    err[0] = '\0';
    if (lmd_chat_template_render(c->tpl, &vars, &text, &len, err,
                                 sizeof(err)) != LMD_OK)
    {
        fprintf(stderr, "lmd chat: the chat template: %s\n", err);
        return LMD_ERROR;
    }
    ids->n = 0;
    err[0] = '\0';
    rc = lmd_tokenizer_encode(c->m.tok, text, len, 0, ids, err,
                              sizeof(err));
    free(text);
    if (rc != LMD_OK) {
        fprintf(stderr, "lmd chat: tokenizing the conversation: %s\n", err);
    }
    return rc;
}


/* ------------------------------------------------------------- one turn */

/* Prefills what the cache lacks of ids.  LMD_OK with *logits set. */
static int
lmd_chat_prefill(struct lmd_chat *c, const struct lmd_tokens *ids,
    const float **logits)
{
    size_t  k, n;
    char    err[LMD_ERR_LEN];

    for (k = 0; k < ids->n && k < c->cached.n; k++) {
        if (ids->ids[k] != c->cached.ids[k]) {
            break;
        }
    }
    if (k == ids->n) {
        k--;                    /* feed one again: its logits are needed */
    }
    lmd_session_truncate(c->m.session, (uint32_t) k);
    c->cached.n = k;
    n = ids->n - k;
    if (c->o->m.verbose) {
        fprintf(stderr, "prefill %zu new tokens (%zu cached)\n", n, k);
    }

    err[0] = '\0';
    *logits = lmd_session_feed(c->m.session, ids->ids + k, n, 1,
                               LMD_CHAT_PREFILL_CHUNK, err, sizeof(err));
    if (*logits == NULL) {
        fprintf(stderr, "lmd chat: %s\n", err);
        c->cached.n = lmd_session_length(c->m.session);
        return LMD_ERROR;
    }
    for (; k < ids->n; k++) {
        if (lmd_tokens_push(&c->cached, ids->ids[k]) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


static void
lmd_chat_write(const char *s, size_t len)
{
    if (len > 0) {
        fwrite(s, 1, len, stdout);
        fflush(stdout);
    }
}


/* Samples and streams the answer; its ids go to gen. */
static int
lmd_chat_answer(struct lmd_chat *c, const struct lmd_tokens *prompt,
    const float *logits, struct lmd_tokens *gen)
{
    struct lmd_sampling   p;
    struct lmd_sampler   *sampler;
    struct lmd_detok     *detok;
    const char           *s;
    float                *row;
    uint32_t              vocab;
    size_t                len, tok_vocab;
    int32_t               id;
    char                  err[LMD_ERR_LEN];
    int                   rc = LMD_ERROR, full = 0;
    double                t0;

    vocab = lmd_session_memory(c->m.session)->vocab_size;
    tok_vocab = lmd_tokenizer_vocab_size(c->m.tok);
    p = c->o->m.sampling;
    p.seed = c->o->m.seed + c->turn;
    p.has_seed = 1;
    sampler = lmd_sampler_create(&p, vocab);
    detok = lmd_detok_new(c->m.tok, 1);
    row = malloc(vocab * sizeof(float));
    if (sampler == NULL || detok == NULL || row == NULL) {
        fprintf(stderr, "lmd chat: out of memory\n");
        goto done;
    }
    lmd_sampler_set_prompt(sampler, prompt->ids, prompt->n);

    t0 = lmd_cmd_now();
    while (gen->n < (size_t) c->o->m.max_tokens) {
        memcpy(row, logits, vocab * sizeof(float));
        id = lmd_sampler_sample(sampler, row, NULL);
        if (lmd_cmd_model_is_eos(&c->m, id)) {
            break;
        }
        if (lmd_tokens_push(gen, id) != LMD_OK) {
            goto done;
        }
        if ((size_t) id < tok_vocab
            && lmd_detok_push(detok, id, &s, &len) == LMD_OK)
        {
            lmd_chat_write(s, len);
        }
        if (lmd_chat_interrupted || gen->n == (size_t) c->o->m.max_tokens)
        {
            break;
        }
        if (lmd_session_length(c->m.session) + 1
            > lmd_session_capacity(c->m.session))
        {
            full = 1;
            break;
        }
        logits = lmd_session_feed(c->m.session, &id, 1, 1, 0, err,
                                  sizeof(err));
        if (logits == NULL) {
            fprintf(stderr, "\nlmd chat: %s\n", err);
            goto done;
        }
        if (lmd_tokens_push(&c->cached, id) != LMD_OK) {
            goto done;
        }
    }
    if (lmd_detok_finish(detok, &s, &len) == LMD_OK) {
        lmd_chat_write(s, len);
    }
    if (lmd_chat_interrupted) {
        fputs(" [stopped]", stdout);
    }
    putchar('\n');
    fflush(stdout);
    if (full) {
        fprintf(stderr, "lmd chat: context full (%u tokens): /reset to "
                "start over\n", lmd_session_capacity(c->m.session));
    }
    if (c->o->m.verbose) {
        fprintf(stderr, "%zu tokens, %.1f tokens/s\n", gen->n,
                gen->n / lmd_max(lmd_cmd_now() - t0, 1e-9));
    }
    rc = LMD_OK;

done:

    free(row);
    lmd_detok_free(detok);
    if (sampler != NULL) {
        lmd_sampler_free(sampler);
    }
    return rc;
}


/* One user line: prefill, answer, history.  LMD_ERROR ends the chat. */
static int
lmd_chat_turn(struct lmd_chat *c, const char *line)
{
    struct lmd_tokens   ids = { NULL, 0, 0 }, gen = { NULL, 0, 0 };
    const float        *logits;
    cJSON              *last;
    char               *text;
    size_t              len, i, k;
    uint32_t            cap;
    int                 rc = LMD_ERROR;

    if (lmd_chat_add_message(c, "user", line) != LMD_OK
        || lmd_chat_prompt(c, &ids) != LMD_OK)
    {
        goto done;
    }

    cap = lmd_session_capacity(c->m.session);
    if (ids.n == 0 || ids.n + 1 > cap) {
        fprintf(stderr, "lmd chat: the conversation is %zu tokens, the "
                "context holds %u: /reset to start over%s\n", ids.n, cap,
                c->o->context ? "" : " (or a larger --context)");
        last = cJSON_DetachItemFromArray(c->messages,
                                         cJSON_GetArraySize(c->messages)
                                         - 1);
        cJSON_Delete(last);
        rc = LMD_OK;
        goto done;
    }

    lmd_chat_interrupted = 0;
    if (lmd_chat_prefill(c, &ids, &logits) != LMD_OK
        || lmd_chat_answer(c, &ids, logits, &gen) != LMD_OK)
    {
        goto done;
    }
    c->turn++;

    /* ids past the tokenizer's vocabulary (a padded embedding) have no
     * text, as in the stream */
    for (i = 0, k = 0; i < gen.n; i++) {
        if ((size_t) gen.ids[i] < lmd_tokenizer_vocab_size(c->m.tok)) {
            gen.ids[k++] = gen.ids[i];
        }
    }
    if (lmd_tokenizer_decode(c->m.tok, gen.ids, k, 1, &text, &len)
        != LMD_OK)
    {
        fprintf(stderr, "lmd chat: decoding the answer failed\n");
        goto done;
    }
    rc = lmd_chat_add_message(c, "assistant", text);
    free(text);

done:

    lmd_tokens_free(&ids);
    lmd_tokens_free(&gen);
    return rc;
}


/* -------------------------------------------------------------- set-up */

static int
lmd_chat_setup(struct lmd_chat *c)
{
    const struct lmd_model_config  *cfg = &c->m.cfg;
    struct lmd_chat_opts           *o = c->o;
    char                            err[LMD_ERR_LEN];
    long long                       ctx;
    int32_t                         id;

    err[0] = '\0';
    if (o->template_file != NULL) {
        c->tpl = lmd_chat_template_load_file(o->template_file, err,
                                             sizeof(err));
        if (c->tpl != NULL
            && lmd_chat_template_special_tokens(o->m.dir, &c->bos, &c->eos,
                                                err, sizeof(err)) != LMD_OK)
        {
            lmd_chat_template_free(c->tpl);
            c->tpl = NULL;
        }
    } else {
        c->tpl = lmd_chat_template_load(o->m.dir, lmd_chat_template_default,
                                        &c->bos, &c->eos, err, sizeof(err));
    }
    if (c->tpl == NULL) {
        fprintf(stderr, "lmd chat: %s\n", err);
        return 1;
    }
    if (c->eos != NULL) {
        id = lmd_tokenizer_find(c->m.tok, c->eos, strlen(c->eos));
        lmd_cmd_model_add_eos(&c->m, id);
    }

    /* generation_config.json's sampling, where the options are silent
     * (as the API does) */
    lmd_model_text_defaults(cfg, o->m.set, &o->m.sampling);

    ctx = o->context;
    if (ctx == 0) {
        ctx = cfg->max_position != 0
              ? lmd_min(cfg->max_position, LMD_CHAT_CONTEXT)
              : LMD_CHAT_CONTEXT;
    }
    if (lmd_cmd_model_open(&c->m, &o->m, (uint32_t) ctx) != 0) {
        return 1;
    }
    if (c->m.cfg.demo) {
        fprintf(stderr, "lmd chat: %s is the random demo model: its "
                "answers are gibberish\n", o->m.dir);
    }
    if (lmd_chat_reset(c) != LMD_OK) {
        fprintf(stderr, "lmd chat: out of memory\n");
        return 1;
    }
    return 0;
}


/* Reads turns until /exit, end of input or Ctrl-C at the prompt. */
static int
lmd_chat_loop(struct lmd_chat *c)
{
    char     *line = NULL, *p;
    size_t    cap = 0;
    ssize_t   n;
    int       rc = 0;

    for ( ;; ) {
        if (c->tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        lmd_chat_interrupted = 0;
        errno = 0;
        n = getline(&line, &cap, stdin);
        if (n < 0) {
            if (lmd_chat_interrupted || errno == EINTR) {
                putchar('\n');
                rc = 130;
            } else if (c->tty) {
                putchar('\n');
            }
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }
        for (p = line; *p == ' ' || *p == '\t'; p++) {
            /* blanks only: ask again */
        }
        if (*p == '\0') {
            continue;
        }

        if (line[0] == '/' && strchr(line, ' ') == NULL) {
            if (strcmp(line, "/exit") == 0 || strcmp(line, "/quit") == 0) {
                break;
            }
            if (strcmp(line, "/reset") == 0) {
                if (lmd_chat_reset(c) != LMD_OK) {
                    rc = 1;
                    break;
                }
                if (c->tty || c->o->m.verbose) {
                    fprintf(stderr, "(conversation cleared)\n");
                }
                continue;
            }
            fprintf(stderr, "lmd chat: unknown command \"%s\" (/reset, "
                    "/exit)\n", line);
            continue;
        }

        if (lmd_chat_turn(c, line) != LMD_OK) {
            rc = 1;
            break;
        }
    }
    free(line);
    return rc;
}


int
lmd_cmd_chat(int argc, char **argv)
{
    struct lmd_chat_opts  o;
    struct lmd_chat       c;
    struct sigaction      sa, old;
    int                   rc;

    rc = lmd_chat_parse_args(argc, argv, &o);
    if (rc >= 0) {
        return rc;
    }

    memset(&c, 0, sizeof(c));
    c.o = &o;
    c.tty = isatty(STDIN_FILENO);

    rc = lmd_cmd_model_load(&c.m, &o.m, 1);
    if (rc == 0) {
        rc = lmd_chat_setup(&c);
    }
    if (rc == 0) {
        /* no SA_RESTART: Ctrl-C at the prompt ends the read (EINTR) */
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = lmd_chat_on_sigint;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old);
        rc = lmd_chat_loop(&c);
        sigaction(SIGINT, &old, NULL);
    }

    cJSON_Delete(c.messages);
    lmd_tokens_free(&c.cached);
    lmd_chat_template_free(c.tpl);
    free(c.bos);
    free(c.eos);
    lmd_cmd_model_close(&c.m);

    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "lmd chat: writing the output: %s\n",
                strerror(errno));
        return 1;
    }
    return rc;
}
