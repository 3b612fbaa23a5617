/*
 * lmd_chat_template.h -- chat templates: the Jinja2 programs in a model's
 * tokenizer_config.json that turn a list of messages into the prompt text
 * the model was trained on.
 *
 * The interpreter implements the subset of Jinja2 that real chat templates
 * use, with transformers' settings (trim_blocks, lstrip_blocks), and renders
 * byte-identical text (tests/unit/test_chat_cases.c checks every fixture).
 * Anything outside the subset fails to parse or render with an error naming
 * the line and column: never a silently different prompt.
 *
 * Values come in and go out as cJSON trees, the form requests arrive in.
 *
 * Threads: a parsed template is immutable; renders may run concurrently.
 */

#ifndef LMD_CHAT_TEMPLATE_H
#define LMD_CHAT_TEMPLATE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "lmd_common.h"

struct lmd_chat_template;

/* Parses a template.  NULL with err = "line L, column C: message" (name,
 * when not NULL, is put first: "tokenizer_config.json: line ...").
 * Allowed on any thread. */
struct lmd_chat_template *lmd_chat_template_parse(const char *source,
    size_t len, const char *name, char *err, size_t errlen);
void lmd_chat_template_free(struct lmd_chat_template *t);

/* The variables a render sees, as transformers' apply_chat_template sets
 * them (documents is always none).  The named ones override extra's. */
struct lmd_chat_vars {
    const cJSON    *messages;       /* array of {role, content, ...} */
    const cJSON    *tools;          /* array, or NULL (then none, as
                                       transformers passes tools=None) */
    const char     *bos_token;      /* NULL: undefined (prints as ""), as
                                       when a model has no bos_token */
    const char     *eos_token;      /* NULL: undefined */
    int             add_generation_prompt;
    const cJSON    *extra;          /* object of more variables, or NULL */
};

/* Renders into a malloc'd NUL-terminated string.  raise_exception() and
 * runtime errors (unknown filter, calling a non-function...) give
 * LMD_ERROR with err = "line L, column C: message".  LMD_OK or LMD_ERROR. */
int lmd_chat_template_render(const struct lmd_chat_template *t,
    const struct lmd_chat_vars *vars, char **out, size_t *len, char *err,
    size_t errlen);

/* A model folder's template, in transformers' order: chat_template.jinja
 * (which transformers lets override the config), else
 * tokenizer_config.json "chat_template" (a string, or a list of {name,
 * template}: "default" is used), else fallback (may be NULL: then NULL is
 * returned with err saying the model has none).  *bos and *eos get
 * malloc'd copies of the config's bos_token/eos_token (strings or
 * {"content": ...} objects; NULL when absent); pass NULL pointers to skip
 * them.  NULL with err on failure.  Any thread. */
struct lmd_chat_template *lmd_chat_template_load(const char *model_dir,
    const char *fallback, char **bos, char **eos, char *err, size_t errlen);

/* A template from a file (the config's models[].chat_template, the CLI's
 * --template); err starts with the path.  Any thread. */
struct lmd_chat_template *lmd_chat_template_load_file(const char *path,
    char *err, size_t errlen);

/* Only the bos_token/eos_token of dir/tokenizer_config.json (both NULL
 * when the file or the keys are absent); malloc'd.  LMD_OK or LMD_ERROR
 * (an unreadable or malformed config). */
int lmd_chat_template_special_tokens(const char *model_dir, char **bos,
    char **eos, char *err, size_t errlen);

/* The template used when a model ships none and the config names none:
 * ChatML ("<|im_start|>role\ncontent<|im_end|>\n"). */
extern const char  lmd_chat_template_default[];

#endif /* LMD_CHAT_TEMPLATE_H */
