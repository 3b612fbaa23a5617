/*
 * lmd_tok_config.c -- tokenizer_config.json, read after tokenizer.json or
 * tokenizer.model: the special tokens transformers takes from it.
 *
 *   added_tokens_decoder   tokens the tokenizer does not have yet, added
 *                          with their ids and flags (for a tokenizer.model
 *                          folder this is how <s>, </s> and a model's chat
 *                          tokens become tokens matched in the text)
 *   bos_token, eos_token   a string or {"content": ...}: their ids and
 *                          strings (lmd_tokenizer_bos_id and friends)
 *   add_bos_token,         whether encode with add_special adds BOS / EOS
 *   add_eos_token          to a sentencepiece model (a tokenizer.json has
 *                          its post-processor for that)
 *
 * Everything else in the file (chat_template, model_max_length, ...) is
 * not the tokenizer's business.
 */

#include "lmd_tok_internal.h"

#include <errno.h>
#include <stdlib.h>

#include <cjson/cJSON.h>


/* A token field: "<s>" or {"content": "<s>", ...}; NULL when absent or
 * null. */
static const char *
lmd_config_token(const cJSON *v)
{
    const cJSON  *c;

    if (cJSON_IsString(v)) {
        return v->valuestring;
    }
    if (cJSON_IsObject(v)) {
        c = cJSON_GetObjectItemCaseSensitive(v, "content");
        if (cJSON_IsString(c)) {
            return c->valuestring;
        }
    }
    return NULL;
}


static int
lmd_config_flag(const cJSON *o, const char *name, int dflt)
{
    const cJSON  *v = cJSON_GetObjectItemCaseSensitive(o, name);

    if (cJSON_IsBool(v)) {
        return cJSON_IsTrue(v);
    }
    return dflt;
}


static int
lmd_config_set_token(struct lmd_tokenizer *t, const char *s, char **dst,
    int32_t *id)
{
    size_t  len = strlen(s);

    if (lmd_tok_utf8_valid(s, len) != len) {
        return LMD_ERROR;
    }
    free(*dst);
    *dst = malloc(len + 1);
    if (*dst == NULL) {
        return LMD_ERROR;
    }
    memcpy(*dst, s, len + 1);
    *id = lmd_tokenizer_find(t, s, len);
    return LMD_OK;
}


/* tokenizer_config.json: added_tokens_decoder (tokens the tokenizer does
 * not have yet, with their ids), bos_token, eos_token, and for a
 * sentencepiece model add_bos_token / add_eos_token. */
int
lmd_tok_config_load(struct lmd_tokenizer *t, const char *file, char *err,
    size_t errlen)
{
    cJSON        *root, *atd, *it;
    char         *text, *end;
    size_t        len;
    const char   *s;
    long          id;
    int           rc = LMD_OK, special;

    text = lmd_tok_read_file(file, &len, err, errlen);
    if (text == NULL) {
        return LMD_ERROR;
    }
    if (lmd_tok_utf8_valid(text, len) != len) {
        lmd_tok_err(err, errlen, "%s: not valid UTF-8 (byte %zu)", file,
                    lmd_tok_utf8_valid(text, len));
        free(text);
        return LMD_ERROR;
    }
    root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        lmd_tok_err(err, errlen, "%s: not a JSON object", file);
        cJSON_Delete(root);
        return LMD_ERROR;
    }

    atd = cJSON_GetObjectItemCaseSensitive(root, "added_tokens_decoder");
    if (atd != NULL && !cJSON_IsObject(atd) && !cJSON_IsNull(atd)) {
        lmd_tok_err(err, errlen, "%s: added_tokens_decoder: expected an "
                    "object", file);
        rc = LMD_ERROR;
    }
    if (!cJSON_IsObject(atd)) {
        atd = NULL;
    }
    cJSON_ArrayForEach(it, atd) {
        if (rc != LMD_OK) {
            break;
        }
        errno = 0;
        id = strtol(it->string, &end, 10);
        s = lmd_config_token(it);
        if (errno != 0 || *end != '\0' || end == it->string || id < 0
            || id >= LMD_TOK_MAX_ID || s == NULL
            || lmd_tok_utf8_valid(s, strlen(s)) != strlen(s))
        {
            lmd_tok_err(err, errlen, "%s: added_tokens_decoder[\"%.40s\"]: "
                        "expected an id and an object with a content", file,
                        it->string);
            rc = LMD_ERROR;
            break;
        }
        if (lmd_tok_strmap_get(&t->added.map, s, strlen(s)) >= 0
            || lmd_tok_added_by_id(t, (int32_t) id) != NULL)
        {
            continue;           /* tokenizer.json has it already */
        }
        special = lmd_config_flag(it, "special", 0);
        rc = lmd_tok_added_add(t, s, strlen(s), special,
                               lmd_config_flag(it, "lstrip", 0),
                               lmd_config_flag(it, "rstrip", 0),
                               lmd_config_flag(it, "single_word", 0),
                               lmd_config_flag(it, "normalized", !special),
                               (int32_t) id, err, errlen);
    }

    s = lmd_config_token(cJSON_GetObjectItemCaseSensitive(root,
                                                          "bos_token"));
    if (rc == LMD_OK && s != NULL) {
        rc = lmd_config_set_token(t, s, &t->bos_token, &t->bos_id);
    }
    s = lmd_config_token(cJSON_GetObjectItemCaseSensitive(root,
                                                          "eos_token"));
    if (rc == LMD_OK && s != NULL) {
        rc = lmd_config_set_token(t, s, &t->eos_token, &t->eos_id);
    }
    t->add_bos = lmd_config_flag(root, "add_bos_token", t->add_bos);
    t->add_eos = lmd_config_flag(root, "add_eos_token", t->add_eos);
    if (rc != LMD_OK && err != NULL && err[0] == '\0') {
        lmd_tok_err(err, errlen, "%s: out of memory", file);
    }
    cJSON_Delete(root);
    return rc;
}
