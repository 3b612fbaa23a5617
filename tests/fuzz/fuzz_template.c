/*
 * fuzz_template.c -- bytes as a chat template and the variables it is
 * rendered with: parse and render must fail cleanly or succeed, never
 * crash, leak or run away (libFuzzer's -timeout and -rss_limit_mb catch
 * the last two).
 *
 * The input up to its first NUL byte is the template source; after it,
 * JSON: an array of messages, or an object with "messages", "tools",
 * "bos_token", "eos_token" and any other keys (passed as extra
 * variables).  Without a NUL, or when the JSON does not parse, the
 * messages are one system and one user turn.  Each template that parses
 * is rendered twice, with add_generation_prompt false and true.
 */

#include "lmd_fuzz.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lmd_chat_template.h"


static const char  default_messages[] =
    "[{\"role\": \"system\", \"content\": \"Be brief.\"},"
    " {\"role\": \"user\", \"content\": \"Hello \\u4e16\\u754c\"}]";


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lmd_chat_template  *t;
    struct lmd_chat_vars       vars;
    const uint8_t             *nul;
    cJSON                     *json = NULL, *msgs, *v;
    char                      *out, err[LMD_ERR_LEN];
    size_t                     src_len, out_len;
    int                        gen;

    nul = memchr(data, '\0', size);
    src_len = nul != NULL ? (size_t) (nul - data) : size;

    err[0] = '\0';
    t = lmd_chat_template_parse((const char *) data, src_len, "fuzz", err,
                                sizeof(err));
    if (t == NULL) {
        lmd_fuzz_check(err[0] != '\0', "a failed parse without a message");
        return 0;
    }

    if (nul != NULL) {
        json = cJSON_ParseWithLength((const char *) nul + 1,
                                     size - src_len - 1);
    }
    if (json == NULL) {
        json = cJSON_Parse(default_messages);
    }
    memset(&vars, 0, sizeof(vars));
    vars.bos_token = "<s>";
    vars.eos_token = "</s>";
    if (cJSON_IsObject(json)) {
        msgs = cJSON_GetObjectItemCaseSensitive(json, "messages");
        vars.messages = msgs;
        vars.tools = cJSON_GetObjectItemCaseSensitive(json, "tools");
        v = cJSON_GetObjectItemCaseSensitive(json, "bos_token");
        if (cJSON_IsString(v)) {
            vars.bos_token = v->valuestring;
        }
        v = cJSON_GetObjectItemCaseSensitive(json, "eos_token");
        if (cJSON_IsString(v)) {
            vars.eos_token = v->valuestring;
        }
        vars.extra = json;
    } else {
        vars.messages = json;
    }

    for (gen = 0; gen <= 1; gen++) {
        vars.add_generation_prompt = gen;
        out = NULL;
        err[0] = '\0';
        if (lmd_chat_template_render(t, &vars, &out, &out_len, err,
                                     sizeof(err)) == LMD_OK)
        {
            lmd_fuzz_check(out != NULL && out[out_len] == '\0',
                           "a rendering not NUL-terminated");
            free(out);
        } else {
            lmd_fuzz_check(err[0] != '\0',
                           "a failed render without a message");
        }
    }

    cJSON_Delete(json);
    lmd_chat_template_free(t);
    return 0;
}
