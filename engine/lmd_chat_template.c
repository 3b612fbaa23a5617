/*
 * lmd_chat_template.c -- the public face of the template interpreter
 * (lmd_chat_template.h): parse, render with the variables transformers'
 * apply_chat_template passes, and find a model folder's template.
 *
 * What a render sees, as transformers sets it up: messages, tools (None
 * when not given), documents (None), add_generation_prompt, bos_token and
 * eos_token (undefined when the model has none, as in transformers'
 * special_tokens_map), plus the caller's extra variables, which the named
 * ones override.
 *
 * Where a template comes from, in transformers' order: chat_template.jinja
 * in the model folder wins over tokenizer_config.json's "chat_template"
 * (a string, or a list of {name, template} of which "default" is used).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmd_chat_template.h"
#include "lmd_jinja.h"

#define LMD_CHAT_FILE_MAX  (256u << 20)

struct lmd_chat_template {
    struct lmd_jarena        arena;     /* every node and constant */
    struct lmd_jnode        *root;      /* SCOPE: list is the body */
};

/* ChatML, as transformers' old default template wrote it. */
const char  lmd_chat_template_default[] =
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}";


struct lmd_chat_template *
lmd_chat_template_parse(const char *source, size_t len, const char *name,
    char *err, size_t errlen)
{
    struct lmd_chat_template  *t;
    struct lmd_jtoks           toks;
    char                       msg[LMD_ERR_LEN];

    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, errlen, "%s%sout of memory", name ? name : "",
                 name ? ": " : "");
        return NULL;
    }
    memset(&toks, 0, sizeof(toks));
    msg[0] = '\0';
    if (lmd_jinja_lex(&t->arena, source, len, &toks, msg, sizeof(msg))
        == LMD_OK)
    {
        t->root = lmd_jinja_parse(&t->arena, &toks, msg, sizeof(msg));
    }
    free(toks.v);
    if (t->root == NULL) {
        snprintf(err, errlen, "%s%s%s", name ? name : "", name ? ": " : "",
                 msg);
        lmd_chat_template_free(t);
        return NULL;
    }
    return t;
}


void
lmd_chat_template_free(struct lmd_chat_template *t)
{
    if (t == NULL) {
        return;
    }
    lmd_jarena_free(&t->arena);
    free(t);
}


/* Sets one variable from JSON (NULL json: value v instead). */
static int
lmd_chat_var(struct lmd_jctx *ctx, struct lmd_jscope *root, const char *name,
    const cJSON *json, struct lmd_jv v)
{
    if (json != NULL && lmd_jv_from_cjson(ctx, json, &v) != LMD_OK) {
        return LMD_ERROR;
    }
    return lmd_jscope_set(ctx, root, name, v);
}


static int
lmd_chat_vars(struct lmd_jctx *ctx, struct lmd_jscope *root,
    const struct lmd_chat_vars *vars)
{
    const cJSON    *item;
    struct lmd_jv   v;

    if (vars->extra != NULL) {
        if (!cJSON_IsObject(vars->extra)) {
            return lmd_jerr(ctx, "the extra variables must be an object");
        }
        for (item = vars->extra->child; item != NULL; item = item->next) {
            if (item->string == NULL
                || lmd_chat_var(ctx, root, item->string, item, v)
                   != LMD_OK)
            {
                return LMD_ERROR;
            }
        }
    }
    if (vars->messages != NULL
        && lmd_chat_var(ctx, root, "messages", vars->messages, v) != LMD_OK)
    {
        return LMD_ERROR;
    }
    if (lmd_chat_var(ctx, root, "tools", vars->tools, lmd_jv_none())
        != LMD_OK
        || lmd_chat_var(ctx, root, "documents", NULL, lmd_jv_none())
           != LMD_OK
        || lmd_chat_var(ctx, root, "add_generation_prompt", NULL,
                        lmd_jv_bool(vars->add_generation_prompt)) != LMD_OK)
    {
        return LMD_ERROR;
    }
    if (vars->bos_token != NULL
        && (lmd_jv_str(ctx, vars->bos_token, strlen(vars->bos_token), &v)
            != LMD_OK
            || lmd_jscope_set(ctx, root, "bos_token", v) != LMD_OK))
    {
        return LMD_ERROR;
    }
    if (vars->eos_token != NULL
        && (lmd_jv_str(ctx, vars->eos_token, strlen(vars->eos_token), &v)
            != LMD_OK
            || lmd_jscope_set(ctx, root, "eos_token", v) != LMD_OK))
    {
        return LMD_ERROR;
    }
    return LMD_OK;
}


int
lmd_chat_template_render(const struct lmd_chat_template *t,
    const struct lmd_chat_vars *vars, char **out, size_t *len, char *err,
    size_t errlen)
{
    struct lmd_jctx     ctx;
    struct lmd_jscope  *root;
    struct lmd_jbuf     buf;
    int                 rc;

    *out = NULL;
    if (len != NULL) {
        *len = 0;
    }
    memset(&ctx, 0, sizeof(ctx));
    memset(&buf, 0, sizeof(buf));
    ctx.out = &buf;
    rc = LMD_ERROR;
    root = lmd_jscope_new(&ctx, NULL);
    if (root != NULL) {
        ctx.scope = root;
        rc = lmd_chat_vars(&ctx, root, vars);
        if (rc == LMD_OK) {
            rc = lmd_jbuf_add(&ctx, &buf, "", 0);
        }
        if (rc == LMD_OK) {
            rc = lmd_jinja_exec(&ctx, t->root->list);
        }
        /* the root scope holds the top-level macros, which hold it */
        lmd_jscope_clear(root);
        lmd_jscope_unref(root);
    }
    lmd_jctx_release(&ctx);

    if (rc != LMD_OK) {
        if (ctx.line > 0) {
            snprintf(err, errlen, "line %d, column %d: %s", ctx.line,
                     ctx.col, ctx.msg);
        } else {
            snprintf(err, errlen, "%s", ctx.msg);
        }
        free(buf.data);
        return LMD_ERROR;
    }
    *out = buf.data;
    if (len != NULL) {
        *len = buf.len;
    }
    return LMD_OK;
}


/* ------------------------------------------------------------------------
 * Model folders
 * ------------------------------------------------------------------------ */

/* The whole file, NUL-terminated; NULL with err (errno ENOENT kept for
 * "absent"). */
static char *
lmd_chat_read(const char *path, size_t *len, char *err, size_t errlen)
{
    struct stat   st;
    FILE         *fp;
    char         *data;
    size_t        n;
    int           saved;

    fp = fopen(path, "rb");
    if (fp == NULL) {
        saved = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(saved));
        errno = saved;
        return NULL;
    }
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)
        || (uint64_t) st.st_size > LMD_CHAT_FILE_MAX)
    {
        snprintf(err, errlen, "%s: not a regular file of at most %u MiB",
                 path, LMD_CHAT_FILE_MAX >> 20);
        fclose(fp);
        errno = EINVAL;
        return NULL;
    }
    data = malloc((size_t) st.st_size + 1);
    if (data == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        fclose(fp);
        errno = ENOMEM;
        return NULL;
    }
    n = fread(data, 1, (size_t) st.st_size, fp);
    if (ferror(fp)) {
        snprintf(err, errlen, "%s: read error", path);
        free(data);
        fclose(fp);
        errno = EIO;
        return NULL;
    }
    fclose(fp);
    data[n] = '\0';
    if (len != NULL) {
        *len = n;
    }
    return data;
}


struct lmd_chat_template *
lmd_chat_template_load_file(const char *path, char *err, size_t errlen)
{
    struct lmd_chat_template  *t;
    char                      *src;
    size_t                     len;

    src = lmd_chat_read(path, &len, err, errlen);
    if (src == NULL) {
        return NULL;
    }
    t = lmd_chat_template_parse(src, len, path, err, errlen);
    free(src);
    return t;
}


/* tokenizer_config.json as a cJSON tree; NULL and *absent when there is
 * none, NULL with err when it is unreadable or not JSON. */
static cJSON *
lmd_chat_config(const char *model_dir, int *absent, char *path,
    size_t pathlen, char *err, size_t errlen)
{
    cJSON  *json;
    char   *data;

    *absent = 0;
    snprintf(path, pathlen, "%s/tokenizer_config.json", model_dir);
    data = lmd_chat_read(path, NULL, err, errlen);
    if (data == NULL) {
        *absent = errno == ENOENT;
        return NULL;
    }
    json = cJSON_Parse(data);
    free(data);
    if (json == NULL || !cJSON_IsObject(json)) {
        snprintf(err, errlen, "%s: not a JSON object", path);
        cJSON_Delete(json);
        return NULL;
    }
    return json;
}


/* A special token: a string or an AddedToken {"content": ...}. */
static int
lmd_chat_token(const cJSON *config, const char *key, char **out, char *err,
    size_t errlen)
{
    const cJSON  *v;

    if (out == NULL) {
        return LMD_OK;
    }
    *out = NULL;
    v = config ? cJSON_GetObjectItemCaseSensitive(config, key) : NULL;
    if (cJSON_IsObject(v)) {
        v = cJSON_GetObjectItemCaseSensitive(v, "content");
    }
    if (!cJSON_IsString(v)) {
        return LMD_OK;
    }
    *out = strdup(v->valuestring);
    if (*out == NULL) {
        snprintf(err, errlen, "out of memory");
        return LMD_ERROR;
    }
    return LMD_OK;
}


int
lmd_chat_template_special_tokens(const char *model_dir, char **bos,
    char **eos, char *err, size_t errlen)
{
    cJSON  *config;
    char    path[4096];
    int     absent;

    *bos = NULL;
    *eos = NULL;
    config = lmd_chat_config(model_dir, &absent, path, sizeof(path), err,
                             errlen);
    if (config == NULL && !absent) {
        return LMD_ERROR;
    }
    if (lmd_chat_token(config, "bos_token", bos, err, errlen) != LMD_OK
        || lmd_chat_token(config, "eos_token", eos, err, errlen) != LMD_OK)
    {
        free(*bos);
        *bos = NULL;
        cJSON_Delete(config);
        return LMD_ERROR;
    }
    cJSON_Delete(config);
    return LMD_OK;
}


/* The config's "chat_template" text, or NULL when it has none. */
static const char *
lmd_chat_config_template(const cJSON *config, const char *path, char *err,
    size_t errlen, int *failed)
{
    const cJSON  *ct, *item, *name, *tpl;

    *failed = 0;
    ct = cJSON_GetObjectItemCaseSensitive(config, "chat_template");
    if (ct == NULL || cJSON_IsNull(ct)) {
        return NULL;
    }
    if (cJSON_IsString(ct)) {
        return ct->valuestring;
    }
    if (cJSON_IsArray(ct)) {
        cJSON_ArrayForEach(item, ct) {
            name = cJSON_GetObjectItemCaseSensitive(item, "name");
            tpl = cJSON_GetObjectItemCaseSensitive(item, "template");
            if (cJSON_IsString(name) && cJSON_IsString(tpl)
                && strcmp(name->valuestring, "default") == 0)
            {
                return tpl->valuestring;
            }
        }
        snprintf(err, errlen, "%s: \"chat_template\" lists several "
                 "templates and none is named \"default\"", path);
        *failed = 1;
        return NULL;
    }
    snprintf(err, errlen, "%s: \"chat_template\" is neither a string nor a "
             "list of {name, template}", path);
    *failed = 1;
    return NULL;
}


struct lmd_chat_template *
lmd_chat_template_load(const char *model_dir, const char *fallback,
    char **bos, char **eos, char *err, size_t errlen)
{
    struct lmd_chat_template  *t;
    const char                *text;
    cJSON                     *config;
    char                       path[4096], jinja[4096];
    int                        absent, failed;

    if (bos != NULL) {
        *bos = NULL;
    }
    if (eos != NULL) {
        *eos = NULL;
    }
    config = lmd_chat_config(model_dir, &absent, path, sizeof(path), err,
                             errlen);
    if (config == NULL && !absent) {
        return NULL;
    }

    t = NULL;
    snprintf(jinja, sizeof(jinja), "%s/chat_template.jinja", model_dir);
    if (access(jinja, F_OK) == 0) {
        t = lmd_chat_template_load_file(jinja, err, errlen);
        if (t == NULL) {
            goto failed;
        }
    } else {
        text = config ? lmd_chat_config_template(config, path, err, errlen,
                                                 &failed) : NULL;
        if (config != NULL && failed) {
            goto failed;
        }
        if (text != NULL) {
            t = lmd_chat_template_parse(text, strlen(text), path, err,
                                        errlen);
        } else if (fallback != NULL) {
            t = lmd_chat_template_parse(fallback, strlen(fallback),
                                        "the built-in template", err,
                                        errlen);
        } else {
            snprintf(err, errlen, "%s: the model has no chat template (no "
                     "chat_template.jinja, no \"chat_template\" in "
                     "tokenizer_config.json)", model_dir);
        }
        if (t == NULL) {
            goto failed;
        }
    }

    if (lmd_chat_token(config, "bos_token", bos, err, errlen) != LMD_OK
        || lmd_chat_token(config, "eos_token", eos, err, errlen) != LMD_OK)
    {
        goto failed;
    }
    cJSON_Delete(config);
    return t;

failed:
    if (bos != NULL) {
        free(*bos);
        *bos = NULL;
    }
    lmd_chat_template_free(t);
    cJSON_Delete(config);
    return NULL;
}
