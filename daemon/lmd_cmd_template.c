/*
 * lmd_cmd_template.c -- `lmd template`: a model's chat template rendered on
 * the command line, to see the exact prompt the daemon will build and to
 * compare it with transformers' apply_chat_template(tokenize=False).
 *
 *   lmd template MODEL_DIR --messages FILE.json [--add-generation-prompt]
 *                [--template FILE] [--tools FILE.json]
 *
 * The template is MODEL_DIR's (chat_template.jinja, else the "chat_template"
 * of tokenizer_config.json, else the built-in ChatML) unless --template
 * names a file; bos_token and eos_token come from MODEL_DIR's
 * tokenizer_config.json either way.  FILE.json holds the messages as a
 * JSON array (or an object with a "messages" array); "-" reads stdin.
 * The prompt is printed exactly: no newline is added.
 *
 * Exit status: 0 done, 1 failed (files, JSON, the template), 2 usage.
 */

#include "lmd_core.h"
#include "lmd_cmd.h"

#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "lmd_chat_template.h"

#define LMD_TPL_MAX_INPUT   (256u << 20)    /* a JSON file, bytes */

struct lmd_tpl_opts {
    const char   *model;
    const char   *messages;
    const char   *tools;
    const char   *tpl;
    int           add_generation_prompt;
};


static void
lmd_tpl_usage(FILE *out)
{
    fprintf(out,
        "Usage: lmd template MODEL_DIR --messages FILE.json "
        "[--add-generation-prompt]\n"
        "                    [--template FILE] [--tools FILE.json]\n"
        "\n"
        "Prints the prompt MODEL_DIR's chat template makes of the "
        "messages,\n"
        "exactly (no newline is added), as transformers' "
        "apply_chat_template\n"
        "does with tokenize=False.\n"
        "\n"
        "  --messages FILE.json     a JSON array of {role, content, ...}, "
        "or an\n"
        "                           object with a \"messages\" array; - "
        "reads stdin\n"
        "  --add-generation-prompt  end with the assistant turn's header\n"
        "  --template FILE          use this Jinja file instead of the "
        "model's\n"
        "                           template\n"
        "  --tools FILE.json        a JSON array of tool definitions\n"
        "  -h, --help               show this help\n"
        "\n"
        "The model's template is chat_template.jinja, else "
        "\"chat_template\" in\n"
        "tokenizer_config.json, else the built-in ChatML one.\n"
        "\n"
        "Exit status: 0 done, 1 failed, 2 usage error.  See "
        "lmd-template(1).\n");
}


/* -1: go on; 0: help printed; 2: usage error (printed). */
static int
lmd_tpl_parse_args(int argc, char **argv, struct lmd_tpl_opts *o)
{
    const char  **value;
    char         *a;
    int           i;

    memset(o, 0, sizeof(*o));
    for (i = 1; i < argc; i++) {
        a = argv[i];
        value = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            lmd_tpl_usage(stdout);
            return 0;
        } else if (strcmp(a, "--add-generation-prompt") == 0) {
            o->add_generation_prompt = 1;
        } else if (strcmp(a, "--messages") == 0) {
            value = &o->messages;
        } else if (strcmp(a, "--template") == 0) {
            value = &o->tpl;
        } else if (strcmp(a, "--tools") == 0) {
            value = &o->tools;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "lmd template: unknown option \"%s\"\n", a);
            return 2;
        } else if (o->model == NULL) {
            o->model = a;
        } else {
            fprintf(stderr, "lmd template: unexpected argument \"%s\" (one "
                    "MODEL_DIR only)\n", a);
            return 2;
        }
        if (value != NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "lmd template: %s needs a file\n", a);
                return 2;
            }
            *value = argv[++i];
        }
    }
    if (o->model == NULL) {
        fprintf(stderr, "lmd template: no MODEL_DIR given\n");
        return 2;
    }
    if (o->messages == NULL) {
        fprintf(stderr, "lmd template: no --messages FILE.json given\n");
        return 2;
    }
    if (o->tools != NULL && strcmp(o->tools, "-") == 0
        && strcmp(o->messages, "-") == 0)
    {
        fprintf(stderr, "lmd template: --messages and --tools cannot both "
                "read stdin\n");
        return 2;
    }
    return -1;
}


/* A whole file ("-": stdin) as a NUL-terminated string; NULL with err. */
static char *
lmd_tpl_read(const char *path, char *err, size_t errlen)
{
    FILE    *fp;
    char    *buf, *p;
    size_t   len, cap, n;

    fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (fp == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    buf = NULL;
    len = 0;
    cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            p = cap > LMD_TPL_MAX_INPUT + 1 ? NULL : realloc(buf, cap);
            if (p == NULL) {
                snprintf(err, errlen, "%s: more than %u MiB, or out of "
                         "memory", path, LMD_TPL_MAX_INPUT >> 20);
                goto failed;
            }
            buf = p;
        }
        n = fread(buf + len, 1, cap - len - 1, fp);
        len += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(fp)) {
        snprintf(err, errlen, "%s: read error", path);
        goto failed;
    }
    buf[len] = '\0';
    if (fp != stdin) {
        fclose(fp);
    }
    return buf;

failed:
    free(buf);
    if (fp != stdin) {
        fclose(fp);
    }
    return NULL;
}


/* A JSON file's tree; NULL with err naming the file and the place. */
static cJSON *
lmd_tpl_json(const char *path, char *err, size_t errlen)
{
    const char  *where;
    cJSON       *json;
    char        *text;

    text = lmd_tpl_read(path, err, errlen);
    if (text == NULL) {
        return NULL;
    }
    json = cJSON_ParseWithOpts(text, &where, 1);
    if (json == NULL) {
        snprintf(err, errlen, "%s: not valid JSON (at byte %ld)",
                 strcmp(path, "-") == 0 ? "stdin" : path,
                 where ? (long) (where - text) : 0L);
    }
    free(text);
    return json;
}


int
lmd_cmd_template(int argc, char **argv)
{
    struct lmd_chat_template  *t;
    struct lmd_chat_vars       vars;
    struct lmd_tpl_opts        o;
    struct stat                st;
    const cJSON               *messages;
    cJSON                     *mjson, *tools;
    char                       err[LMD_ERR_LEN], *bos, *eos, *out;
    size_t                     len;
    int                        rc;

    rc = lmd_tpl_parse_args(argc, argv, &o);
    if (rc >= 0) {
        return rc;
    }
    if (stat(o.model, &st) != 0) {
        fprintf(stderr, "lmd template: %s: %s\n", o.model, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "lmd template: %s: not a folder\n", o.model);
        return 1;
    }

    t = NULL;
    mjson = NULL;
    tools = NULL;
    bos = NULL;
    eos = NULL;
    out = NULL;
    rc = 1;

    mjson = lmd_tpl_json(o.messages, err, sizeof(err));
    if (mjson == NULL) {
        goto failed;
    }
    messages = cJSON_IsObject(mjson)
               ? cJSON_GetObjectItemCaseSensitive(mjson, "messages") : mjson;
    if (!cJSON_IsArray(messages)) {
        snprintf(err, sizeof(err), "%s: expected a JSON array of messages, "
                 "or an object with a \"messages\" array", o.messages);
        goto failed;
    }
    if (o.tools != NULL) {
        tools = lmd_tpl_json(o.tools, err, sizeof(err));
        if (tools == NULL) {
            goto failed;
        }
        if (!cJSON_IsArray(tools)) {
            snprintf(err, sizeof(err), "%s: expected a JSON array of tools",
                     o.tools);
            goto failed;
        }
    }

    if (o.tpl != NULL) {
        t = lmd_chat_template_load_file(o.tpl, err, sizeof(err));
        if (t == NULL
            || lmd_chat_template_special_tokens(o.model, &bos, &eos, err,
                                                sizeof(err)) != LMD_OK)
        {
            goto failed;
        }
    } else {
        t = lmd_chat_template_load(o.model, lmd_chat_template_default, &bos,
                                   &eos, err, sizeof(err));
        if (t == NULL) {
            goto failed;
        }
    }

    memset(&vars, 0, sizeof(vars));
    vars.messages = messages;
    vars.tools = tools;
    vars.bos_token = bos;
    vars.eos_token = eos;
    vars.add_generation_prompt = o.add_generation_prompt;
    if (lmd_chat_template_render(t, &vars, &out, &len, err, sizeof(err))
        != LMD_OK)
    {
        goto failed;
    }
    if (fwrite(out, 1, len, stdout) != len || fflush(stdout) != 0) {
        snprintf(err, sizeof(err), "stdout: %s", strerror(errno));
        goto failed;
    }
    rc = 0;

failed:
    if (rc != 0) {
        fprintf(stderr, "lmd template: %s\n", err);
    }
    free(out);
    free(bos);
    free(eos);
    lmd_chat_template_free(t);
    cJSON_Delete(tools);
    cJSON_Delete(mjson);
    return rc;
}
