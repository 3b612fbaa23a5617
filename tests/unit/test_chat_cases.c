/*
 * test_chat_cases.c -- the chat template interpreter against transformers:
 * every line of FAMILY/chat_cases.jsonl in the tokenizer fixtures is
 * rendered with the family's own template (found by
 * lmd_chat_template_load, as the daemon finds it) and must equal
 * "rendered" byte for byte, for both add_generation_prompt values.
 *
 * The fixtures live in ../shared/fixtures/tokenizers from the repository
 * root ($LMD_SHARED overrides "../shared"); without them every case is
 * skipped with the reason.  One case per family, so the summary counts
 * families; a failing line prints its number and both texts.
 */

#include "lmd_core.h"

#include <cjson/cJSON.h>

#include "lmd_chat_template.h"
#include "lmd_test.h"


/* The fixture folder, or NULL (and the case skipped) when absent. */
static const char *
fixtures(void)
{
    static char   path[1024];
    const char   *shared;
    char          reason[1200];

    shared = getenv("LMD_SHARED");
    snprintf(path, sizeof(path), "%s/fixtures/tokenizers",
             shared && shared[0] ? shared : "../shared");
    if (access(path, R_OK) != 0) {
        snprintf(reason, sizeof(reason), "no tokenizer fixtures at %s "
                 "(set LMD_SHARED)", path);
        lmd_test_skip(reason);
        return NULL;
    }
    return path;
}


static char *
slurp(const char *path, size_t *len)
{
    FILE    *fp;
    char    *buf;
    long     n;

    fp = fopen(path, "rb");
    if (fp == NULL) {
        return NULL;
    }
    buf = NULL;
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0
        && fseek(fp, 0, SEEK_SET) == 0)
    {
        buf = malloc((size_t) n + 1);
        if (buf != NULL) {
            *len = fread(buf, 1, (size_t) n, fp);
            buf[*len] = '\0';
        }
    }
    fclose(fp);
    return buf;
}


/* Renders one jsonl line's messages; 1 when the text is "rendered". */
static int
check_line(const struct lmd_chat_template *t, const char *bos,
    const char *eos, const cJSON *line, const char *what)
{
    struct lmd_chat_vars   vars;
    const cJSON           *want;
    char                  *out, err[LMD_ERR_LEN];
    size_t                 len;
    int                    ok;

    memset(&vars, 0, sizeof(vars));
    vars.messages = cJSON_GetObjectItemCaseSensitive(line, "messages");
    vars.add_generation_prompt = cJSON_IsTrue(
        cJSON_GetObjectItemCaseSensitive(line, "add_generation_prompt"));
    vars.bos_token = bos;
    vars.eos_token = eos;
    want = cJSON_GetObjectItemCaseSensitive(line, "rendered");
    if (!fail_unless(cJSON_IsArray(vars.messages) && cJSON_IsString(want),
                     "%s: no messages or rendered", what))
    {
        return 0;
    }
    if (!fail_unless(lmd_chat_template_render(t, &vars, &out, &len, err,
                                              sizeof(err)) == LMD_OK,
                     "%s: %s", what, err))
    {
        return 0;
    }
    ok = len == strlen(want->valuestring)
         && memcmp(out, want->valuestring, len) == 0;
    fail_unless(ok, "%s (add_generation_prompt=%d):\n  got:  %s\n  want: %s",
                what, vars.add_generation_prompt, out, want->valuestring);
    free(out);
    return ok;
}


/* Every line of FAMILY/chat_cases.jsonl; returns the lines passed. */
static int
check_family(const char *family, int *lines)
{
    struct lmd_chat_template  *t;
    const char                *dir;
    char                       path[1200], err[LMD_ERR_LEN], what[1300];
    char                      *bos, *eos, *data, *line, *nl;
    cJSON                     *json;
    size_t                     len;
    int                        passed, n;

    dir = fixtures();
    if (dir == NULL) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, family);
    t = lmd_chat_template_load(path, NULL, &bos, &eos, err, sizeof(err));
    if (!fail_unless(t != NULL, "%s: %s", family, err)) {
        return 0;
    }
    snprintf(path, sizeof(path), "%s/%s/chat_cases.jsonl", dir, family);
    data = slurp(path, &len);
    passed = 0;
    n = 0;
    if (fail_unless(data != NULL, "cannot read %s", path)) {
        for (line = data; *line != '\0'; line = nl + 1) {
            nl = strchr(line, '\n');
            if (nl == NULL) {
                nl = line + strlen(line) - 1;
            }
            *nl = '\0';
            if (*line == '\0') {
                continue;
            }
            n++;
            snprintf(what, sizeof(what), "%s line %d", path, n);
            json = cJSON_Parse(line);
            if (fail_unless(json != NULL, "%s: bad JSON", what)) {
                passed += check_line(t, bos, eos, json, what);
            }
            cJSON_Delete(json);
        }
    }
    free(data);
    free(bos);
    free(eos);
    lmd_chat_template_free(t);
    *lines = n;
    return passed;
}


static void
family_case(const char *family)
{
    int  passed, lines;

    lines = 0;
    passed = check_family(family, &lines);
    if (passed < 0) {
        return;
    }
    fail_unless(lines == 8, "%s: %d lines, 8 expected", family, lines);
    printf("  %s: %d of %d chat cases byte-exact\n", family, passed, lines);
}


/* Assumption: Llama-2-chat's template ([INST], <<SYS>>, .strip(),
 * raise_exception on bad role order) with bos "<s>"/eos "</s>" gives
 * transformers' text for all 8 lines. */
LMD_TEST(llama2)
{
    family_case("llama2");
}


/* Assumption: Qwen2.5's template (whitespace control everywhere, the
 * default system prompt, tools branch not taken) matches; it has no
 * bos_token, so bos is undefined as in transformers. */
LMD_TEST(qwen2)
{
    family_case("qwen2");
}


/* Assumption: Llama-3's template (| trim, loop.index0, bos_token added on
 * the first message) matches. */
LMD_TEST(llama3)
{
    family_case("llama3");
}


/* Assumption: InternLM2's ChatML-like template with a leading bos_token
 * matches. */
LMD_TEST(internlm2)
{
    family_case("internlm2");
}


/* Assumption: Mistral v0.3's tool-capable template (namespace(),
 * selectattr(...)|list, "is defined", "not ... is defined", |trim)
 * matches. */
LMD_TEST(mistral)
{
    family_case("mistral");
}


/* FAMILY/chat_cases.jsonl as one cJSON array of its lines, or NULL. */
static cJSON *
load_cases(const char *dir, const char *family)
{
    char    path[1200], *data, *line, *nl;
    cJSON  *all, *one;
    size_t  len;

    snprintf(path, sizeof(path), "%s/%s/chat_cases.jsonl", dir, family);
    data = slurp(path, &len);
    if (data == NULL) {
        return NULL;
    }
    all = cJSON_CreateArray();
    for (line = data; all != NULL && *line != '\0'; line = nl + 1) {
        nl = strchr(line, '\n');
        if (nl == NULL) {
            nl = line + strlen(line) - 1;
        }
        *nl = '\0';
        one = *line ? cJSON_Parse(line) : NULL;
        if (one != NULL) {
            cJSON_AddItemToArray(all, one);
        }
    }
    free(data);
    return all;
}


/* Assumption: gen/chat_templates.json holds the templates of llama2,
 * llama3, internlm2 and qwen2 (the same text as their configs) and the
 * four conversations of the jsonl files.  Each template parses, and each
 * conversation rendered with it, both add_generation_prompt values, gives
 * the "rendered" of the family's line with the same messages: 8 matches
 * per template, so a template that drifted from its family would show. */
LMD_TEST(gen_chat_templates)
{
    struct lmd_chat_template  *t;
    struct lmd_chat_vars       vars;
    const cJSON               *tpl, *conv, *c, *want;
    const char                *dir;
    char                       path[1200], err[LMD_ERR_LEN], *data, *out;
    char                      *bos, *eos;
    cJSON                     *json, *cases;
    size_t                     len;
    int                        nt, matched, agp;

    dir = fixtures();
    if (dir == NULL) {
        return;
    }
    snprintf(path, sizeof(path), "%s/gen/chat_templates.json", dir);
    data = slurp(path, &len);
    if (!fail_unless(data != NULL, "cannot read %s", path)) {
        return;
    }
    json = cJSON_Parse(data);
    free(data);
    nt = 0;
    cJSON_ArrayForEach(tpl, cJSON_GetObjectItemCaseSensitive(json,
                                                             "templates"))
    {
        nt++;
        t = lmd_chat_template_parse(tpl->valuestring,
                                    strlen(tpl->valuestring), tpl->string,
                                    err, sizeof(err));
        if (!fail_unless(t != NULL, "%s", err)) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, tpl->string);
        bos = eos = NULL;
        fail_unless(lmd_chat_template_special_tokens(path, &bos, &eos, err,
                                                     sizeof(err)) == LMD_OK,
                    "%s", err);
        cases = load_cases(dir, tpl->string);
        matched = 0;
        cJSON_ArrayForEach(conv, cJSON_GetObjectItemCaseSensitive(
                                     json, "conversations_main"))
        {
            for (agp = 0; agp < 2; agp++) {
                memset(&vars, 0, sizeof(vars));
                vars.messages = conv;
                vars.add_generation_prompt = agp;
                vars.bos_token = bos;
                vars.eos_token = eos;
                if (!fail_unless(lmd_chat_template_render(t, &vars, &out,
                                                          &len, err,
                                                          sizeof(err))
                                 == LMD_OK, "%s: %s", tpl->string, err))
                {
                    continue;
                }
                cJSON_ArrayForEach(c, cases) {
                    if (cJSON_Compare(cJSON_GetObjectItemCaseSensitive(
                                          c, "messages"), conv, 1)
                        && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
                               c, "add_generation_prompt")) == agp)
                    {
                        want = cJSON_GetObjectItemCaseSensitive(c,
                                                                "rendered");
                        matched += cJSON_IsString(want)
                                   && strcmp(want->valuestring, out) == 0;
                    }
                }
                free(out);
            }
        }
        fail_unless(matched == 8, "%s: %d of 8 conversations match the "
                    "family's rendered text", tpl->string, matched);
        cJSON_Delete(cases);
        free(bos);
        free(eos);
        lmd_chat_template_free(t);
    }
    fail_unless(nt == 4, "%d templates, 4 expected", nt);
    cJSON_Delete(json);
}
