/*
 * lmd_openai_parse.c -- the body of POST /v1/chat/completions and
 * /v1/completions, parsed and checked against OpenAI's API reference
 * (lmd_openai.h).
 *
 * The body is parsed with cJSON, each field read into struct
 * lmd_oai_request (strings copied into the request's pool) and the tree
 * freed before returning: nothing but the pool's copies outlives the
 * call.  A refusal names the parameter as the client wrote it
 * ("messages[2].content") and words the reason the way OpenAI's server
 * does ("-0.5 is less than the minimum of 0 - 'temperature'").  null is
 * taken as absent everywhere; unknown fields are ignored.
 *
 * JSON numbers reach us as doubles, so an integer beyond 2^53 (a large
 * seed) is rounded to the nearest double: still the same seed for the
 * same body.
 */

#include "lmd_core.h"
#include "lmd_openai.h"

#include <float.h>
#include <math.h>
#include <stddef.h>

#include <cjson/cJSON.h>


#define LMD_OAI_MAX_LOGIT_BIAS  300     /* OpenAI's limit */
#define LMD_OAI_MAX_LOGPROBS    5       /* completions' logprobs */
#define LMD_OAI_SHOW_LEN        40      /* bytes of a value quoted back */

struct lmd_oai_ctx {
    struct lmd_pool         *pool;
    struct lmd_oai_request  *req;
    struct lmd_oai_error    *e;
};


/* ------------------------------------------------------------------------
 * Refusals
 * ------------------------------------------------------------------------ */

static int LMD_PRINTF(3, 4)
lmd_oai_fail(struct lmd_oai_ctx *c, const char *param, const char *fmt, ...)
{
    va_list  ap;

    c->e->status = 400;
    c->e->param = param ? lmd_pstrdup(c->pool, param) : NULL;
    va_start(ap, fmt);
    vsnprintf(c->e->message, sizeof(c->e->message), fmt, ap);
    va_end(ap);
    return LMD_ERROR;
}


static int
lmd_oai_nomem(struct lmd_oai_ctx *c)
{
    c->e->status = 500;
    c->e->param = NULL;
    snprintf(c->e->message, sizeof(c->e->message),
             "The server ran out of memory reading your request.");
    return LMD_ERROR;
}


/* A number as short as it can be written and still read back the same:
 * -0.5, not -0.50000000000000000. */
static void
lmd_oai_num(double d, char *buf, size_t size)
{
    snprintf(buf, size, "%.15g", d);
    if (strtod(buf, NULL) != d) {
        snprintf(buf, size, "%.17g", d);
    }
}


/* Copies at most LMD_OAI_SHOW_LEN bytes of s, cut on a UTF-8 character
 * boundary, with "..." when cut. */
static void
lmd_oai_clip(const char *s, const char *quote, char *buf, size_t size)
{
    size_t  n = strlen(s);
    int     cut = 0;

    if (n > LMD_OAI_SHOW_LEN) {
        n = LMD_OAI_SHOW_LEN;
        while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80) {
            n--;
        }
        cut = 1;
    }
    snprintf(buf, size, "%s%.*s%s%s", quote, (int) n, s, cut ? "..." : "",
             quote);
}


/* The value as a refusal quotes it: 'text', 1.5, true, null, [1,2]. */
static void
lmd_oai_show(const cJSON *v, char *buf, size_t size)
{
    char  *text;

    if (cJSON_IsString(v)) {
        lmd_oai_clip(v->valuestring, "'", buf, size);

    } else if (cJSON_IsNumber(v)) {
        lmd_oai_num(v->valuedouble, buf, size);

    } else if (cJSON_IsBool(v)) {
        snprintf(buf, size, "%s", cJSON_IsTrue(v) ? "true" : "false");

    } else if (v == NULL || cJSON_IsNull(v)) {
        snprintf(buf, size, "null");

    } else {
        text = cJSON_PrintUnformatted(v);
        if (text == NULL) {
            snprintf(buf, size, "%s", cJSON_IsArray(v) ? "[...]" : "{...}");
            return;
        }
        lmd_oai_clip(text, "", buf, size);
        cJSON_free(text);
    }
}


/* type is the allowed types as quoted names: "'number'",
 * "'string', 'array'". */
static int
lmd_oai_type(struct lmd_oai_ctx *c, const cJSON *v, const char *param,
    const char *type)
{
    char  shown[LMD_OAI_SHOW_LEN + 8];

    lmd_oai_show(v, shown, sizeof(shown));
    return lmd_oai_fail(c, param, "%s is not of type %s - '%s'", shown,
                        type, param);
}


static int
lmd_oai_missing(struct lmd_oai_ctx *c, const char *param)
{
    return lmd_oai_fail(c, param, "Missing required parameter: '%s'.",
                        param);
}


static int
lmd_oai_empty_array(struct lmd_oai_ctx *c, const char *param)
{
    return lmd_oai_fail(c, param, "Invalid '%s': empty array. Expected an "
                        "array with minimum length 1, but got an empty "
                        "array instead.", param);
}


/* ------------------------------------------------------------------------
 * Typed values (v is never NULL: callers skip absent and null fields)
 * ------------------------------------------------------------------------ */

/* A field's value, or NULL when it is absent or null. */
static const cJSON *
lmd_oai_field(const cJSON *obj, const char *name)
{
    const cJSON  *v;

    v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return (v == NULL || cJSON_IsNull(v)) ? NULL : v;
}


static int
lmd_oai_bool(struct lmd_oai_ctx *c, const cJSON *v, const char *param,
    int *out)
{
    if (!cJSON_IsBool(v)) {
        return lmd_oai_type(c, v, param, "'boolean'");
    }
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return LMD_OK;
}


static int
lmd_oai_range(struct lmd_oai_ctx *c, const char *param, double d,
    double min, int min_open, double max)
{
    char  shown[48], bound[48];

    lmd_oai_num(d, shown, sizeof(shown));
    if (d < min || (min_open && d == min)) {
        lmd_oai_num(min, bound, sizeof(bound));
        return lmd_oai_fail(c, param, "%s is less than %sthe minimum of %s "
                            "- '%s'", shown, min_open ? "or equal to " : "",
                            bound, param);
    }
    if (d > max) {
        lmd_oai_num(max, bound, sizeof(bound));
        return lmd_oai_fail(c, param, "%s is greater than the maximum of %s "
                            "- '%s'", shown, bound, param);
    }
    return LMD_OK;
}


/* A number in [min, max], or (min, max] when min_open. */
static int
lmd_oai_number(struct lmd_oai_ctx *c, const cJSON *v, const char *param,
    double min, int min_open, double max, double *out)
{
    if (!cJSON_IsNumber(v)) {
        return lmd_oai_type(c, v, param, "'number'");
    }
    if (lmd_oai_range(c, param, v->valuedouble, min, min_open, max)
        != LMD_OK)
    {
        return LMD_ERROR;
    }
    *out = v->valuedouble;
    return LMD_OK;
}


/* An integral number (1 and 1.0 alike) in [min, max]; the bounds must lie
 * within int64_t. */
static int
lmd_oai_integer(struct lmd_oai_ctx *c, const cJSON *v, const char *param,
    double min, double max, int64_t *out)
{
    if (!cJSON_IsNumber(v) || floor(v->valuedouble) != v->valuedouble) {
        return lmd_oai_type(c, v, param, "'integer'");
    }
    if (lmd_oai_range(c, param, v->valuedouble, min, 0, max) != LMD_OK) {
        return LMD_ERROR;
    }
    *out = (int64_t) v->valuedouble;
    return LMD_OK;
}


static int
lmd_oai_string(struct lmd_oai_ctx *c, const cJSON *v, const char *param,
    const char **out)
{
    if (!cJSON_IsString(v)) {
        return lmd_oai_type(c, v, param, "'string'");
    }
    *out = lmd_pstrdup(c->pool, v->valuestring);
    return *out ? LMD_OK : lmd_oai_nomem(c);
}


/* ------------------------------------------------------------------------
 * Chat: messages
 * ------------------------------------------------------------------------ */

/* The roles accepted, and the role each is treated as. */
static const struct {
    const char  *name;
    const char  *as;
} lmd_oai_roles[] = {
    { "system",     "system" },
    { "developer",  "system" },
    { "user",       "user" },
    { "assistant",  "assistant" },
    { "tool",       "tool" },
};


/* Joins the text parts of a content array, no separator (as vLLM does). */
static int
lmd_oai_parts(struct lmd_oai_ctx *c, const cJSON *arr, size_t i,
    const char **out)
{
    char          param[80], shown[LMD_OAI_SHOW_LEN + 8];
    const cJSON  *part, *type, *text;
    size_t        j, len, total = 0;
    char         *buf;

    if (cJSON_GetArraySize(arr) == 0) {
        snprintf(param, sizeof(param), "messages[%zu].content", i);
        return lmd_oai_empty_array(c, param);
    }

    j = 0;
    cJSON_ArrayForEach(part, arr) {
        snprintf(param, sizeof(param), "messages[%zu].content[%zu]", i, j);
        if (!cJSON_IsObject(part)) {
            return lmd_oai_type(c, part, param, "'object'");
        }
        snprintf(param, sizeof(param), "messages[%zu].content[%zu].type", i,
                 j);
        type = lmd_oai_field(part, "type");
        if (type == NULL) {
            return lmd_oai_missing(c, param);
        }
        if (!cJSON_IsString(type)) {
            return lmd_oai_type(c, type, param, "'string'");
        }
        if (strcmp(type->valuestring, "text") != 0) {
            lmd_oai_show(type, shown, sizeof(shown));
            return lmd_oai_fail(c, param, "Content parts of type %s are not "
                                "supported; only 'text' parts are accepted "
                                "- '%s'", shown, param);
        }
        snprintf(param, sizeof(param), "messages[%zu].content[%zu].text", i,
                 j);
        text = lmd_oai_field(part, "text");
        if (text == NULL) {
            return lmd_oai_missing(c, param);
        }
        if (!cJSON_IsString(text)) {
            return lmd_oai_type(c, text, param, "'string'");
        }
        total += strlen(text->valuestring);
        j++;
    }

    buf = lmd_palloc(c->pool, total + 1);
    if (buf == NULL) {
        return lmd_oai_nomem(c);
    }
    total = 0;
    cJSON_ArrayForEach(part, arr) {
        text = cJSON_GetObjectItemCaseSensitive(part, "text");
        len = strlen(text->valuestring);
        memcpy(buf + total, text->valuestring, len);
        total += len;
    }
    buf[total] = '\0';
    *out = buf;
    return LMD_OK;
}


/* content: a string, an array of text parts, or null (assistant only,
 * which may also leave it out). */
static int
lmd_oai_content(struct lmd_oai_ctx *c, const cJSON *m, size_t i,
    int assistant, const char **out)
{
    char          param[48];
    const cJSON  *v;

    snprintf(param, sizeof(param), "messages[%zu].content", i);
    v = lmd_oai_field(m, "content");
    if (v == NULL) {
        if (!assistant) {
            return lmd_oai_missing(c, param);
        }
        *out = "";
        return LMD_OK;
    }
    if (cJSON_IsArray(v)) {
        return lmd_oai_parts(c, v, i, out);
    }
    if (!cJSON_IsString(v)) {
        return lmd_oai_type(c, v, param, "'string', 'array'");
    }
    return lmd_oai_string(c, v, param, out);
}


/* Tool calls in a message: there are none to replay without tools. */
static int
lmd_oai_message_calls(struct lmd_oai_ctx *c, const cJSON *m, size_t i)
{
    static const char  *const names[] = { "tool_calls", "function_call" };
    char                param[48];
    const cJSON        *v;
    size_t              k;

    for (k = 0; k < lmd_nelems(names); k++) {
        v = lmd_oai_field(m, names[k]);
        if (v == NULL || (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0)) {
            continue;
        }
        snprintf(param, sizeof(param), "messages[%zu].%s", i, names[k]);
        return lmd_oai_fail(c, param, "Tool calls are not supported by this "
                            "server - '%s'", param);
    }
    return LMD_OK;
}


static int
lmd_oai_message(struct lmd_oai_ctx *c, const cJSON *m, size_t i,
    struct lmd_oai_message *out)
{
    char          param[48], shown[LMD_OAI_SHOW_LEN + 8];
    const cJSON  *v;
    size_t        k;

    snprintf(param, sizeof(param), "messages[%zu]", i);
    if (!cJSON_IsObject(m)) {
        return lmd_oai_type(c, m, param, "'object'");
    }

    snprintf(param, sizeof(param), "messages[%zu].role", i);
    v = lmd_oai_field(m, "role");
    if (v == NULL) {
        return lmd_oai_missing(c, param);
    }
    if (!cJSON_IsString(v)) {
        return lmd_oai_type(c, v, param, "'string'");
    }
    for (k = 0; k < lmd_nelems(lmd_oai_roles); k++) {
        if (strcmp(v->valuestring, lmd_oai_roles[k].name) == 0) {
            out->role = lmd_oai_roles[k].as;
            break;
        }
    }
    if (k == lmd_nelems(lmd_oai_roles)) {
        lmd_oai_show(v, shown, sizeof(shown));
        return lmd_oai_fail(c, param, "Invalid value for '%s': %s. Supported "
                            "values are: 'system', 'developer', 'user', "
                            "'assistant' and 'tool'.", param, shown);
    }

    if (lmd_oai_message_calls(c, m, i) != LMD_OK
        || lmd_oai_content(c, m, i, strcmp(out->role, "assistant") == 0,
                           &out->content) != LMD_OK)
    {
        return LMD_ERROR;
    }

    snprintf(param, sizeof(param), "messages[%zu].name", i);
    v = lmd_oai_field(m, "name");
    out->name = NULL;
    if (v != NULL) {
        return lmd_oai_string(c, v, param, &out->name);
    }
    return LMD_OK;
}


static int
lmd_oai_messages(struct lmd_oai_ctx *c, const cJSON *body)
{
    struct lmd_oai_request  *req = c->req;
    const cJSON             *v, *m;
    size_t                   i, n;

    v = lmd_oai_field(body, "messages");
    if (v == NULL) {
        return lmd_oai_missing(c, "messages");
    }
    if (!cJSON_IsArray(v)) {
        return lmd_oai_type(c, v, "messages", "'array'");
    }
    n = (size_t) cJSON_GetArraySize(v);
    if (n == 0) {
        return lmd_oai_empty_array(c, "messages");
    }

    req->messages = lmd_pcalloc(c->pool, n * sizeof(*req->messages));
    if (req->messages == NULL) {
        return lmd_oai_nomem(c);
    }
    i = 0;
    cJSON_ArrayForEach(m, v) {
        if (lmd_oai_message(c, m, i, &req->messages[i]) != LMD_OK) {
            return LMD_ERROR;
        }
        i++;
    }
    req->n_messages = n;
    return LMD_OK;
}


/* True when v is a string equal to s. */
static int
lmd_oai_is(const cJSON *v, const char *s)
{
    return cJSON_IsString(v) && strcmp(v->valuestring, s) == 0;
}


/* What chat offers that lmd cannot do yet: tools, structured output,
 * audio.  Each is refused by name unless it asks for nothing. */
static int
lmd_oai_chat_unsupported(struct lmd_oai_ctx *c, const cJSON *body)
{
    static const char  *const tools[] = { "tools", "functions" };
    static const char  *const choice[] = { "tool_choice", "function_call" };
    static const char  *const other[] = {
        "audio", "prediction", "web_search_options"
    };
    const cJSON        *v;
    size_t              k;

    for (k = 0; k < lmd_nelems(tools); k++) {
        v = lmd_oai_field(body, tools[k]);
        if (v != NULL && !(cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0)) {
            return lmd_oai_fail(c, tools[k], "Tool calling is not supported "
                                "by this server; send an empty '%s' or none "
                                "- '%s'", tools[k], tools[k]);
        }
    }
    for (k = 0; k < lmd_nelems(choice); k++) {
        v = lmd_oai_field(body, choice[k]);
        if (v != NULL && !lmd_oai_is(v, "none")) {
            return lmd_oai_fail(c, choice[k], "Tool calling is not supported "
                                "by this server; only 'none' is accepted "
                                "- '%s'", choice[k]);
        }
    }

    v = lmd_oai_field(body, "response_format");
    if (v != NULL
        && !(cJSON_IsObject(v)
             && lmd_oai_is(cJSON_GetObjectItemCaseSensitive(v, "type"),
                           "text")))
    {
        return lmd_oai_fail(c, "response_format", "Structured output is not "
                            "supported by this server; only {\"type\": "
                            "\"text\"} is accepted - 'response_format'");
    }

    v = lmd_oai_field(body, "modalities");
    if (v != NULL
        && !(cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1
             && lmd_oai_is(cJSON_GetArrayItem(v, 0), "text")))
    {
        return lmd_oai_fail(c, "modalities", "Only text output is supported "
                            "by this server; send [\"text\"] or none "
                            "- 'modalities'");
    }

    for (k = 0; k < lmd_nelems(other); k++) {
        if (lmd_oai_field(body, other[k]) != NULL) {
            return lmd_oai_fail(c, other[k], "'%s' is not supported by this "
                                "server - '%s'", other[k], other[k]);
        }
    }
    return LMD_OK;
}


/* ------------------------------------------------------------------------
 * Completions: prompt and its companions
 * ------------------------------------------------------------------------ */

static int
lmd_oai_batch(struct lmd_oai_ctx *c)
{
    return lmd_oai_fail(c, "prompt", "batched prompts are not supported; "
                        "send one request per prompt");
}


/* An array of token ids; prefix is how the client named it. */
static int
lmd_oai_ids(struct lmd_oai_ctx *c, const cJSON *arr, const char *prefix)
{
    struct lmd_oai_request  *req = c->req;
    char                     param[48];
    const cJSON             *v;
    int32_t                 *ids;
    int64_t                  id;
    size_t                   i, n;

    n = (size_t) cJSON_GetArraySize(arr);
    if (n == 0) {
        return lmd_oai_empty_array(c, prefix);
    }
    ids = lmd_palloc(c->pool, n * sizeof(*ids));
    if (ids == NULL) {
        return lmd_oai_nomem(c);
    }
    i = 0;
    cJSON_ArrayForEach(v, arr) {
        snprintf(param, sizeof(param), "%s[%zu]", prefix, i);
        if (lmd_oai_integer(c, v, param, 0, INT32_MAX, &id) != LMD_OK) {
            return LMD_ERROR;
        }
        ids[i++] = (int32_t) id;
    }
    req->prompt_ids = ids;
    req->n_prompt_ids = n;
    return LMD_OK;
}


/* prompt: "text", ["text"], [ids] or [[ids]]; several prompts are a
 * batch, which is refused. */
static int
lmd_oai_prompt(struct lmd_oai_ctx *c, const cJSON *body)
{
    const cJSON  *v, *first;
    int           n;

    v = lmd_oai_field(body, "prompt");
    if (v == NULL) {
        return lmd_oai_missing(c, "prompt");
    }
    if (cJSON_IsString(v)) {
        return lmd_oai_string(c, v, "prompt", &c->req->prompt);
    }
    if (!cJSON_IsArray(v)) {
        return lmd_oai_type(c, v, "prompt", "'string', 'array'");
    }

    n = cJSON_GetArraySize(v);
    if (n == 0) {
        return lmd_oai_empty_array(c, "prompt");
    }
    first = v->child;
    if (cJSON_IsNumber(first)) {
        return lmd_oai_ids(c, v, "prompt");
    }
    if (n > 1) {
        return lmd_oai_batch(c);
    }
    if (cJSON_IsString(first)) {
        return lmd_oai_string(c, first, "prompt[0]", &c->req->prompt);
    }
    if (cJSON_IsArray(first)) {
        return lmd_oai_ids(c, first, "prompt[0]");
    }
    return lmd_oai_type(c, first, "prompt[0]",
                        "'string', 'integer', 'array'");
}


static int
lmd_oai_completion(struct lmd_oai_ctx *c, const cJSON *body)
{
    const cJSON  *v;

    if (lmd_oai_prompt(c, body) != LMD_OK) {
        return LMD_ERROR;
    }
    if (lmd_oai_field(body, "suffix") != NULL) {
        return lmd_oai_fail(c, "suffix", "'suffix' (insertion) is not "
                            "supported by this server - 'suffix'");
    }
    v = lmd_oai_field(body, "echo");
    if (v != NULL) {
        return lmd_oai_bool(c, v, "echo", &c->req->echo);
    }
    return LMD_OK;
}


/* best_of: only the trivial best_of == n, after n is known. */
static int
lmd_oai_best_of(struct lmd_oai_ctx *c, const cJSON *body)
{
    const cJSON  *v;
    int64_t       best_of;

    v = lmd_oai_field(body, "best_of");
    if (v == NULL) {
        return LMD_OK;
    }
    if (lmd_oai_integer(c, v, "best_of", 1, INT32_MAX, &best_of) != LMD_OK) {
        return LMD_ERROR;
    }
    if (best_of != (int64_t) c->req->n) {
        return lmd_oai_fail(c, "best_of", "best_of other than n is not "
                            "supported by this server (best_of %lld, n %u) "
                            "- 'best_of'", (long long) best_of, c->req->n);
    }
    return LMD_OK;
}


/* ------------------------------------------------------------------------
 * Fields both endpoints share
 * ------------------------------------------------------------------------ */

static int
lmd_oai_stream(struct lmd_oai_ctx *c, const cJSON *body)
{
    struct lmd_oai_request  *req = c->req;
    const cJSON             *v, *u;

    v = lmd_oai_field(body, "stream");
    if (v != NULL && lmd_oai_bool(c, v, "stream", &req->stream) != LMD_OK) {
        return LMD_ERROR;
    }
    v = lmd_oai_field(body, "stream_options");
    if (v == NULL) {
        return LMD_OK;
    }
    if (!cJSON_IsObject(v)) {
        return lmd_oai_type(c, v, "stream_options", "'object'");
    }
    if (!req->stream) {
        return lmd_oai_fail(c, "stream_options", "The 'stream_options' "
                            "parameter is only allowed when 'stream' is "
                            "enabled.");
    }
    u = lmd_oai_field(v, "include_usage");
    if (u != NULL) {
        return lmd_oai_bool(c, u, "stream_options.include_usage",
                            &req->include_usage);
    }
    return LMD_OK;
}


/* max_tokens, or chat's newer name max_completion_tokens (both: they must
 * agree). */
static int
lmd_oai_max_tokens(struct lmd_oai_ctx *c, const cJSON *body, int chat)
{
    static const char  *const names[] = {
        "max_tokens", "max_completion_tokens"
    };
    const cJSON        *v;
    int64_t             val[2] = { 0, 0 };
    int                 k, set = 0;

    for (k = 0; k < (chat ? 2 : 1); k++) {
        v = lmd_oai_field(body, names[k]);
        if (v == NULL) {
            continue;
        }
        if (lmd_oai_integer(c, v, names[k], 1, INT32_MAX, &val[k])
            != LMD_OK)
        {
            return LMD_ERROR;
        }
        if (set && val[0] != val[1]) {
            return lmd_oai_fail(c, names[k], "max_tokens (%lld) and "
                                "max_completion_tokens (%lld) differ; send "
                                "one of them - '%s'", (long long) val[0],
                                (long long) val[1], names[k]);
        }
        c->req->max_tokens = (uint32_t) val[k];
        c->req->has |= LMD_OAI_HAS_MAX_TOKENS;
        set = 1;
    }
    return LMD_OK;
}


/* The float settings of struct lmd_sampling: range and has-bit. */
static const struct {
    const char  *name;
    double       min;
    int          min_open;      /* min itself refused */
    double       max;
    size_t       offset;
    unsigned     has;
} lmd_oai_floats[] = {
    { "temperature", 0, 0, 2,
      offsetof(struct lmd_sampling, temperature), LMD_OAI_HAS_TEMPERATURE },
    { "top_p", 0, 1, 1,
      offsetof(struct lmd_sampling, top_p), LMD_OAI_HAS_TOP_P },
    { "min_p", 0, 0, 1,
      offsetof(struct lmd_sampling, min_p), 0 },
    { "presence_penalty", -2, 0, 2,
      offsetof(struct lmd_sampling, presence_penalty), 0 },
    { "frequency_penalty", -2, 0, 2,
      offsetof(struct lmd_sampling, frequency_penalty), 0 },
    /* vLLM's: any positive value; FLT_MAX keeps the float finite */
    { "repetition_penalty", 0, 1, FLT_MAX,
      offsetof(struct lmd_sampling, repetition_penalty),
      LMD_OAI_HAS_REPETITION },
};


static int
lmd_oai_seed(struct lmd_oai_ctx *c, const cJSON *v)
{
    struct lmd_sampling  *s = &c->req->sampling;
    double                d;

    if (!cJSON_IsNumber(v) || floor(v->valuedouble) != v->valuedouble) {
        return lmd_oai_type(c, v, "seed", "'integer'");
    }
    d = v->valuedouble;
    /* int64_t's range: [-2^63, 2^63) exactly in doubles */
    if (d < -9223372036854775808.0) {
        return lmd_oai_fail(c, "seed", "%.0f is less than the minimum of "
                            "-9223372036854775808 - 'seed'", d);
    }
    if (d >= 9223372036854775808.0) {
        return lmd_oai_fail(c, "seed", "%.0f is greater than the maximum of "
                            "9223372036854775807 - 'seed'", d);
    }
    s->seed = (uint64_t) (int64_t) d;
    s->has_seed = 1;
    c->req->has |= LMD_OAI_HAS_SEED;
    return LMD_OK;
}


static int
lmd_oai_sampling(struct lmd_oai_ctx *c, const cJSON *body)
{
    struct lmd_oai_request  *req = c->req;
    const cJSON             *v;
    double                   d = 0.0;
    int64_t                  i;
    size_t                   k;

    for (k = 0; k < lmd_nelems(lmd_oai_floats); k++) {
        v = lmd_oai_field(body, lmd_oai_floats[k].name);
        if (v == NULL) {
            continue;
        }
        if (lmd_oai_number(c, v, lmd_oai_floats[k].name,
                           lmd_oai_floats[k].min, lmd_oai_floats[k].min_open,
                           lmd_oai_floats[k].max, &d) != LMD_OK)
        {
            return LMD_ERROR;
        }
        *(float *) ((char *) &req->sampling + lmd_oai_floats[k].offset) =
            (float) d;
        req->has |= lmd_oai_floats[k].has;
    }

    /* top_k: -1 and 0 both mean off (-1 is vLLM's spelling) */
    v = lmd_oai_field(body, "top_k");
    if (v != NULL) {
        if (lmd_oai_integer(c, v, "top_k", -1, INT32_MAX, &i) != LMD_OK) {
            return LMD_ERROR;
        }
        req->sampling.top_k = i < 0 ? 0 : (int) i;
        req->has |= LMD_OAI_HAS_TOP_K;
    }

    v = lmd_oai_field(body, "seed");
    if (v != NULL && lmd_oai_seed(c, v) != LMD_OK) {
        return LMD_ERROR;
    }

    v = lmd_oai_field(body, "n");
    if (v != NULL) {
        if (lmd_oai_integer(c, v, "n", 1, LMD_OAI_MAX_N, &i) != LMD_OK) {
            return LMD_ERROR;
        }
        req->n = (uint32_t) i;
    }
    return LMD_OK;
}


/* A logit_bias key: a token id written as a non-negative decimal. */
static int
lmd_oai_token_key(const char *s, int32_t *id)
{
    int64_t  n = 0;

    if (*s == '\0') {
        return LMD_ERROR;
    }
    for ( /* void */ ; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return LMD_ERROR;
        }
        n = n * 10 + (*s - '0');
        if (n > INT32_MAX) {
            return LMD_ERROR;
        }
    }
    *id = (int32_t) n;
    return LMD_OK;
}


static int
lmd_oai_logit_bias(struct lmd_oai_ctx *c, const cJSON *body)
{
    struct lmd_sampling    *s = &c->req->sampling;
    struct lmd_logit_bias  *bias;
    const cJSON            *v, *item;
    char                    key[LMD_OAI_SHOW_LEN + 8];
    int32_t                 id;
    size_t                  j, n, size;
    double                  d = 0.0;

    v = lmd_oai_field(body, "logit_bias");
    if (v == NULL) {
        return LMD_OK;
    }
    if (!cJSON_IsObject(v)) {
        return lmd_oai_type(c, v, "logit_bias", "'object'");
    }
    size = (size_t) cJSON_GetArraySize(v);
    if (size > LMD_OAI_MAX_LOGIT_BIAS) {
        return lmd_oai_fail(c, "logit_bias", "Invalid 'logit_bias': too many "
                            "entries. Expected at most %d, but got %zu "
                            "instead.", LMD_OAI_MAX_LOGIT_BIAS, size);
    }
    if (size == 0) {
        return LMD_OK;
    }
    bias = lmd_palloc(c->pool, size * sizeof(*bias));
    if (bias == NULL) {
        return lmd_oai_nomem(c);
    }

    n = 0;
    cJSON_ArrayForEach(item, v) {
        if (lmd_oai_token_key(item->string, &id) != LMD_OK) {
            lmd_oai_clip(item->string, "", key, sizeof(key));
            return lmd_oai_fail(c, "logit_bias", "Invalid key in "
                                "'logit_bias': %s. You should only be "
                                "submitting non-negative integers.", key);
        }
        if (lmd_oai_number(c, item, "logit_bias", -100, 0, 100, &d)
            != LMD_OK)
        {
            return LMD_ERROR;
        }
        /* a repeated key: the last one wins, as in most JSON readers */
        for (j = 0; j < n && bias[j].id != id; j++) {
            /* void */
        }
        bias[j].id = id;
        bias[j].bias = (float) d;
        n += (j == n);
    }
    s->logit_bias = bias;
    s->n_logit_bias = n;
    return LMD_OK;
}


/* logprobs: chat's is a boolean with top_logprobs beside it, completions'
 * the number of alternatives itself. */
static int
lmd_oai_logprobs(struct lmd_oai_ctx *c, const cJSON *body, int chat)
{
    struct lmd_oai_request  *req = c->req;
    const cJSON             *v;
    int64_t                  k;

    v = lmd_oai_field(body, "logprobs");
    if (!chat) {
        if (v == NULL) {
            return LMD_OK;
        }
        if (lmd_oai_integer(c, v, "logprobs", 0, LMD_OAI_MAX_LOGPROBS, &k)
            != LMD_OK)
        {
            return LMD_ERROR;
        }
        req->logprobs = 1;
        req->sampling.top_logprobs = (int) k;
        return LMD_OK;
    }

    if (v != NULL && lmd_oai_bool(c, v, "logprobs", &req->logprobs)
                     != LMD_OK)
    {
        return LMD_ERROR;
    }
    v = lmd_oai_field(body, "top_logprobs");
    if (v == NULL) {
        return LMD_OK;
    }
    if (lmd_oai_integer(c, v, "top_logprobs", 0,
                        LMD_SAMPLER_MAX_TOP_LOGPROBS, &k) != LMD_OK)
    {
        return LMD_ERROR;
    }
    if (!req->logprobs) {
        return lmd_oai_fail(c, "top_logprobs", "The 'top_logprobs' parameter "
                            "is only allowed when 'logprobs' is enabled.");
    }
    req->sampling.top_logprobs = (int) k;
    return LMD_OK;
}


/* stop: a string or up to LMD_OAI_MAX_STOP of them; "" stops nothing. */
static int
lmd_oai_stop(struct lmd_oai_ctx *c, const cJSON *body)
{
    struct lmd_oai_request  *req = c->req;
    char                     param[16];
    const cJSON             *v, *s;
    size_t                   i, n;
    const char              *text;

    v = lmd_oai_field(body, "stop");
    if (v == NULL) {
        return LMD_OK;
    }
    if (cJSON_IsString(v)) {
        if (v->valuestring[0] == '\0') {
            return LMD_OK;
        }
        req->n_stop = 1;
        return lmd_oai_string(c, v, "stop", &req->stop[0]);
    }
    if (!cJSON_IsArray(v)) {
        return lmd_oai_type(c, v, "stop", "'string', 'array'");
    }
    n = (size_t) cJSON_GetArraySize(v);
    if (n > LMD_OAI_MAX_STOP) {
        return lmd_oai_fail(c, "stop", "Invalid 'stop': array too long. "
                            "Expected an array with maximum length %d, but "
                            "got an array with length %zu instead.",
                            LMD_OAI_MAX_STOP, n);
    }
    i = 0;
    cJSON_ArrayForEach(s, v) {
        snprintf(param, sizeof(param), "stop[%zu]", i++);
        if (lmd_oai_string(c, s, param, &text) != LMD_OK) {
            return LMD_ERROR;
        }
        if (text[0] != '\0') {
            req->stop[req->n_stop++] = text;
        }
    }
    return LMD_OK;
}


static int
lmd_oai_common(struct lmd_oai_ctx *c, const cJSON *body, int chat)
{
    const cJSON  *v;

    if (lmd_oai_stream(c, body) != LMD_OK
        || lmd_oai_max_tokens(c, body, chat) != LMD_OK
        || lmd_oai_sampling(c, body) != LMD_OK
        || lmd_oai_logit_bias(c, body) != LMD_OK
        || lmd_oai_logprobs(c, body, chat) != LMD_OK
        || lmd_oai_stop(c, body) != LMD_OK)
    {
        return LMD_ERROR;
    }
    v = lmd_oai_field(body, "user");
    if (v != NULL && lmd_oai_string(c, v, "user", &c->req->user) != LMD_OK) {
        return LMD_ERROR;
    }
    /* parallel_tool_calls means nothing without tools: ignored */
    v = lmd_oai_field(body, "ignore_eos");
    if (v != NULL) {
        return lmd_oai_bool(c, v, "ignore_eos", &c->req->ignore_eos);
    }
    return LMD_OK;
}


/* ------------------------------------------------------------------------
 * The entry point
 * ------------------------------------------------------------------------ */

/* Parses the text; trailing bytes other than blanks make it invalid. */
static cJSON *
lmd_oai_json(const char *body, size_t len)
{
    const char  *end = NULL;
    cJSON       *json;

    json = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (json == NULL) {
        return NULL;
    }
    for ( /* void */ ; end < body + len; end++) {
        if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
            cJSON_Delete(json);
            return NULL;
        }
    }
    return json;
}


int
lmd_openai_parse(struct lmd_pool *pool, int kind, const char *body,
    size_t len, struct lmd_oai_request *req, struct lmd_oai_error *e)
{
    struct lmd_oai_ctx   ctx = { pool, req, e };
    cJSON               *json;
    const cJSON         *v;
    int                  rc, chat = (kind == LMD_OAI_CHAT);

    memset(req, 0, sizeof(*req));
    memset(e, 0, sizeof(*e));
    req->kind = kind;
    req->n = 1;
    lmd_sampling_defaults(&req->sampling);     /* temperature 1, top_p 1 */

    json = (body != NULL && len > 0) ? lmd_oai_json(body, len) : NULL;
    if (json == NULL) {
        return lmd_oai_fail(&ctx, NULL, "We could not parse the JSON body "
                            "of your request. (HINT: This likely means you "
                            "aren't using your HTTP library correctly. The "
                            "API expects a JSON payload, but what was sent "
                            "was not valid JSON.)");
    }
    if (!cJSON_IsObject(json)) {
        rc = lmd_oai_fail(&ctx, NULL, "We could not parse the JSON body of "
                          "your request: expected a JSON object, but got "
                          "%s.", cJSON_IsArray(json) ? "an array"
                                                     : "a single value");
        goto done;
    }

    rc = LMD_ERROR;
    v = lmd_oai_field(json, "model");
    if (v == NULL) {
        lmd_oai_missing(&ctx, "model");
        goto done;
    }
    if (lmd_oai_string(&ctx, v, "model", &req->model) != LMD_OK) {
        goto done;
    }
    if (req->model[0] == '\0') {
        lmd_oai_fail(&ctx, "model", "Invalid 'model': empty string. Expected "
                     "a string with minimum length 1, but got an empty "
                     "string instead.");
        goto done;
    }

    if (chat) {
        if (lmd_oai_messages(&ctx, json) != LMD_OK
            || lmd_oai_chat_unsupported(&ctx, json) != LMD_OK)
        {
            goto done;
        }
    } else if (lmd_oai_completion(&ctx, json) != LMD_OK) {
        goto done;
    }

    if (lmd_oai_common(&ctx, json, chat) != LMD_OK
        || (!chat && lmd_oai_best_of(&ctx, json) != LMD_OK))
    {
        goto done;
    }
    rc = LMD_OK;

done:
    cJSON_Delete(json);
    return rc;
}
