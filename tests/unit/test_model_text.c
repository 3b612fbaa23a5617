/*
 * test_model_text.c -- a served model's text (daemon/lmd_model_text.c):
 * loading stories260K's tokenizer, template and stop ids, the sampling
 * defaults, token bytes, and the text stream's stop strings.
 *
 * The stop-string cases cut a known text at every place with stop
 * strings of several lengths: the text released must always be a prefix
 * of the expected answer (nothing that a stop string could still claim
 * leaves early) and, at the end, exactly the text before the first match.
 *
 * stories260K lives in ../shared/models from the repository root
 * ($LMD_SHARED overrides "../shared"); without it the cases that need it
 * are skipped with the reason.
 */

#include "lmd_core.h"

#include "lmd_model_text.h"
#include "lmd_test.h"

#define TEXT  "Once upon a time, there was a little girl named Lily. " \
              "She loved to play outside."


/* stories260K's text, or NULL (and the case skipped) when absent. */
static struct lmd_model_text *
stories(void)
{
    static char              path[1024], reason[1200];
    struct lmd_model_text   *t = NULL;
    const char              *shared;
    char                     err[LMD_ERR_LEN];

    shared = getenv("LMD_SHARED");
    snprintf(path, sizeof(path), "%s/models/stories260K",
             shared && shared[0] ? shared : "../shared");
    if (access(path, R_OK) != 0) {
        snprintf(reason, sizeof(reason), "no stories260K at %s (set "
                 "LMD_SHARED)", path);
        lmd_test_skip(reason);
        return NULL;
    }
    err[0] = '\0';
    fail_unless(lmd_model_text_load(path, NULL, &t, err, sizeof(err))
                == LMD_OK && t != NULL, "load: %s", err);
    return t;
}


/* TEXT's ids, without BOS. */
static void
text_ids(const struct lmd_model_text *t, struct lmd_tokens *ids)
{
    char  err[LMD_ERR_LEN];

    fail_unless(lmd_tokenizer_encode(t->tok, TEXT, strlen(TEXT), 0, ids,
                                     err, sizeof(err)) == LMD_OK,
                "encode: %s", err);
}


// Assumption: stories260K's eos id 2 is the stop id, its context 512.
LMD_TEST(load_stories)
{
    struct lmd_model_text  *t = stories();
    struct lmd_tokens       ids = { NULL, 0, 0 };
    cJSON                  *msgs;
    char                    err[LMD_ERR_LEN];

    if (t == NULL) {
        return;
    }
    fail_unless(t->n_stop_ids == 1 && t->stop_ids[0] == 2,
                "%zu stop ids, first %d", t->n_stop_ids,
                (int) t->stop_ids[0]);
    fail_unless(t->max_context == 512, "max_context %u", t->max_context);
    fail_unless(t->tpl != NULL, "no template");

    msgs = cJSON_Parse("[{\"role\":\"user\",\"content\":\"Hi\"}]");
    fail_unless(lmd_model_text_chat_ids(t, msgs, &ids, err, sizeof(err))
                == LMD_OK && ids.n > 2 && ids.ids[0] == 1,
                "chat ids: %zu, %s", ids.n, err);
    cJSON_Delete(msgs);
    lmd_tokens_free(&ids);
    lmd_model_text_free(t);
}


// Assumption: a folder with no tokenizer serves no text, without error.
LMD_TEST(load_no_tokenizer)
{
    struct lmd_model_text  *t = (struct lmd_model_text *) 1;
    char                    err[LMD_ERR_LEN];

    fail_unless(lmd_model_text_load("/nonexistent/model", NULL, &t, err,
                                    sizeof(err)) == LMD_OK && t == NULL,
                "a folder without a tokenizer gives NULL text");
}


// Assumption: a template file that does not parse fails, naming it.
LMD_TEST(load_bad_template)
{
    struct lmd_model_text  *t = stories(), *u = NULL;
    char                    err[LMD_ERR_LEN], dir[64], file[96];
    FILE                   *fp;
    const char             *shared;
    char                    path[1024];

    if (t == NULL) {
        return;
    }
    lmd_model_text_free(t);
    snprintf(dir, sizeof(dir), "/tmp/lmd_test_text_XXXXXX");
    fail_unless(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(file, sizeof(file), "%s/bad.jinja", dir);
    fp = fopen(file, "w");
    fail_unless(fp != NULL, "fopen %s", file);
    if (fp == NULL) {
        return;
    }
    fputs("{% for x in %}", fp);
    fclose(fp);
    shared = getenv("LMD_SHARED");
    snprintf(path, sizeof(path), "%s/models/stories260K",
             shared && shared[0] ? shared : "../shared");
    err[0] = '\0';
    fail_unless(lmd_model_text_load(path, file, &u, err, sizeof(err))
                == LMD_ERROR && u == NULL && strstr(err, file) != NULL,
                "error: %s", err);
    unlink(file);
    rmdir(dir);
}


// Assumption: the config's values fill only what the caller left unset.
LMD_TEST(sampling_defaults)
{
    struct lmd_model_config  cfg;
    struct lmd_sampling      s;

    memset(&cfg, 0, sizeof(cfg));
    cfg.has_temperature = cfg.has_top_p = cfg.has_top_k = 1;
    cfg.has_repetition_penalty = 1;
    cfg.temperature = 0.6f;
    cfg.top_p = 0.9f;
    cfg.top_k = 40;
    cfg.repetition_penalty = 1.1f;
    lmd_sampling_defaults(&s);
    s.temperature = 0.0f;
    lmd_model_text_defaults(&cfg, LMD_TEXT_SET_TEMPERATURE, &s);
    fail_unless(s.temperature == 0.0f && s.top_p == 0.9f && s.top_k == 40
                && s.repetition_penalty == 1.1f, "t %g p %g k %d r %g",
                s.temperature, s.top_p, s.top_k, s.repetition_penalty);
}


// Assumption: sentencepiece pieces read "▁" as a space, <0xNN> as a byte.
LMD_TEST(token_bytes)
{
    struct lmd_model_text  *t = stories();
    char                    buf[64];
    int32_t                 id;
    size_t                  n;

    if (t == NULL) {
        return;
    }
    id = lmd_tokenizer_find(t->tok, "<0x0A>", 6);
    n = lmd_model_text_token_bytes(t, id, buf, sizeof(buf));
    fail_unless(id >= 0 && n == 1 && buf[0] == '\n', "<0x0A>: %zu", n);
    id = lmd_tokenizer_find(t->tok, "\xE2\x96\x81" "the", 6);
    n = lmd_model_text_token_bytes(t, id, buf, sizeof(buf));
    fail_unless(id >= 0 && n == 4 && memcmp(buf, " the", 4) == 0,
                "▁the: %.*s", (int) n, buf);
    fail_unless(lmd_model_text_token_bytes(t, 1 << 20, buf, sizeof(buf))
                == 0, "an unknown id has no bytes");
    lmd_model_text_free(t);
}


/* Runs ids through a stream with stops; the text released after each id
 * must be a prefix of want; returns the whole text (malloc'd). */
static char *
run_stream(const struct lmd_model_text *t, const struct lmd_tokens *ids,
    const char **stops, size_t n_stop, const char *want, int *stopped)
{
    struct lmd_text_stream   s;
    const char              *text;
    char                    *all;
    size_t                   i, len, n = 0;

    all = calloc(1, strlen(TEXT) * 2 + 16);
    fail_unless(lmd_text_stream_init(&s, t, stops, n_stop, NULL, 0)
                == LMD_OK, "init");
    *stopped = 0;
    for (i = 0; i < ids->n && !*stopped; i++) {
        *stopped = lmd_text_stream_push(&s, ids->ids[i]);
        lmd_text_stream_take(&s, &text, &len);
        memcpy(all + n, text, len);
        n += len;
        if (strncmp(all, want, n) != 0 || n > strlen(want)) {
            fail_unless(0, "after id %zu: \"%s\" is not a prefix of "
                        "\"%s\"", i, all, want);
            break;
        }
    }
    if (!*stopped) {
        *stopped = lmd_text_stream_finish(&s);
        lmd_text_stream_take(&s, &text, &len);
        memcpy(all + n, text, len);
        n += len;
    }
    all[n] = '\0';
    lmd_text_stream_free(&s);
    return all;
}


// Assumption: without stop strings the stream is the whole decode.
LMD_TEST(stream_plain)
{
    struct lmd_model_text  *t = stories();
    struct lmd_tokens       ids = { NULL, 0, 0 };
    char                   *all;
    int                     stopped;

    if (t == NULL) {
        return;
    }
    text_ids(t, &ids);
    all = run_stream(t, &ids, NULL, 0, TEXT, &stopped);
    fail_unless_streq(all, TEXT);
    fail_unless(!stopped, "no stop string, no stop");
    free(all);
    lmd_tokens_free(&ids);
    lmd_model_text_free(t);
}


// Assumption: a stop string cut out of the text anywhere, of 1 to 7
// bytes, inside a token or across tokens, ends the text right before
// its first occurrence; a second stop that comes later changes nothing.
LMD_TEST(stream_stop_everywhere)
{
    struct lmd_model_text  *t = stories();
    struct lmd_tokens       ids = { NULL, 0, 0 };
    const char             *stops[2];
    char                    stop[8], want[sizeof(TEXT)], *all;
    size_t                  p, len, cut, bad = 0;
    int                     stopped;

    if (t == NULL) {
        return;
    }
    text_ids(t, &ids);
    for (p = 0; p < strlen(TEXT) && bad < 3; p++) {
        for (len = 1; len <= 7 && p + len <= strlen(TEXT); len++) {
            memcpy(stop, TEXT + p, len);
            stop[len] = '\0';
            cut = (size_t) (strstr(TEXT, stop) - TEXT);
            memcpy(want, TEXT, cut);
            want[cut] = '\0';
            stops[0] = "never there";
            stops[1] = stop;
            all = run_stream(t, &ids, stops, 2, want, &stopped);
            if (strcmp(all, want) != 0 || !stopped) {
                fail_unless(0, "stop \"%s\": got \"%s\" (stopped %d), "
                            "want \"%s\"", stop, all, stopped, want);
                bad++;
            }
            free(all);
        }
    }
    stops[0] = "Lily";
    stops[1] = "little";
    all = run_stream(t, &ids, stops, 2, "Once upon a time, there was a ",
                     &stopped);
    fail_unless_streq(all, "Once upon a time, there was a ");
    free(all);
    lmd_tokens_free(&ids);
    lmd_model_text_free(t);
}


// Assumption: primed with the prompt's ids, the text is what decoding
// prompt and answer adds to the prompt's text (its leading space).
LMD_TEST(stream_primed)
{
    struct lmd_model_text   *t = stories();
    struct lmd_tokens        ids = { NULL, 0, 0 };
    struct lmd_text_stream   s;
    const char              *text;
    char                    *whole, *prompt;
    size_t                   i, len, k = 3, wlen, plen;

    if (t == NULL) {
        return;
    }
    text_ids(t, &ids);
    fail_unless(lmd_tokenizer_decode(t->tok, ids.ids, ids.n, 1, &whole,
                                     &wlen) == LMD_OK, "decode");
    fail_unless(lmd_tokenizer_decode(t->tok, ids.ids, k, 1, &prompt,
                                     &plen) == LMD_OK, "decode prompt");
    fail_unless(lmd_text_stream_init(&s, t, NULL, 0, ids.ids, k) == LMD_OK,
                "init");
    for (i = k; i < ids.n; i++) {
        lmd_text_stream_push(&s, ids.ids[i]);
    }
    lmd_text_stream_finish(&s);
    lmd_text_stream_take(&s, &text, &len);
    fail_unless(len == wlen - plen && memcmp(text, whole + plen, len) == 0,
                "got \"%.*s\", want \"%s\"", (int) len, text, whole + plen);
    fail_unless(text[0] == ' ', "the answer keeps its leading space");
    free(whole);
    free(prompt);
    lmd_text_stream_free(&s);
    lmd_tokens_free(&ids);
    lmd_model_text_free(t);
}
