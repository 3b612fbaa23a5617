/*
 * lmd_conf_types.c -- the scalar and section types of the config tables.
 *
 * Each type is a struct lmd_conf_type: init marks its field unset, set
 * parses a YAML node into it, merge fills the default from the row (written
 * in the same syntax as the YAML, "4m", "10s", "true") and resolves
 * relative paths, dump prints it back.  Defaults go through the very parser
 * that reads the file, so a default can never be something a user could
 * not have written.
 *
 *     type       C field               YAML
 *     str        char *                any scalar
 *     path       char *                non-empty scalar, made absolute
 *     target     char *                a word from post, or a path
 *     flag       int (0/1)             true/false, yes/no, on/off
 *     size       uint64_t bytes        "512", "4k", "4m", "1g"
 *     size_auto  uint64_t bytes, 0     "auto" or a size above 0
 *     fraction   double                a decimal in (0, 1]: "0.8"
 *     duration   uint64_t ms           "10s", "1m30s", "500ms"
 *     int        long long             decimal in post's range
 *     enum       int (index)           a word from post
 *     enum_str   char *                a word from post
 *     section    a struct              a mapping, rows in post
 *
 * String lists and http.listen are in lmd_conf_lists.c.  Every message
 * ends with the qualified key ("for http.limits.max_body") and is
 * positioned at the value.
 */

#include "lmd_core.h"

#include "lmd_conf.h"
#include "lmd_conf_table.h"


/* ------------------------------------------------------------------------
 * Strings, paths and log targets
 * ------------------------------------------------------------------------ */

static void
lmd_conf_init_ptr(void *field)
{
    *(char **) field = NULL;
}


static int
lmd_conf_set_str(struct lmd_conf_ctx *ctx, yaml_node_t *node, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    const char  *s;

    lmd_unused(cmd);

    s = lmd_conf_scalar(node);
    if (s == NULL) {
        return lmd_conf_error(ctx, node, "expected a string for %s", what);
    }

    *(char **) field = lmd_pstrdup(ctx->pool, s);
    if (*(char **) field == NULL) {
        return lmd_conf_oom(ctx);
    }
    return LMD_OK;
}


static int
lmd_conf_merge_str(struct lmd_conf_ctx *ctx, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    char  **p;

    lmd_unused(what);

    p = field;
    if (*p == NULL && cmd->def != NULL) {
        *p = lmd_pstrdup(ctx->pool, cmd->def);
        if (*p == NULL) {
            return lmd_conf_oom(ctx);
        }
    }
    return LMD_OK;
}


/* Strings are always double-quoted in the dump: no YAML reading of "on",
 * "4k" or "#" can then change their meaning. */
static void
lmd_conf_dump_str(struct lmd_conf_dumper *d, int indent, const char *key,
    const void *field, const struct lmd_conf_cmd *cmd)
{
    const char  *s;

    lmd_unused(cmd);

    s = *(char *const *) field;
    if (s == NULL) {
        return;                         /* optional and unset */
    }
    lmd_conf_dump_key(d, indent, key);
    fputc(' ', d->out);
    lmd_conf_dump_string(d->out, s);
    fputc('\n', d->out);
}


static int
lmd_conf_set_path(struct lmd_conf_ctx *ctx, yaml_node_t *node, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    const char  *s;

    s = lmd_conf_scalar(node);
    if (s == NULL || s[0] == '\0') {
        return lmd_conf_error(ctx, node, "expected a path for %s", what);
    }
    return lmd_conf_set_str(ctx, node, field, cmd, what);
}


static int
lmd_conf_merge_path(struct lmd_conf_ctx *ctx, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    char  **p;

    if (lmd_conf_merge_str(ctx, field, cmd, what) != LMD_OK) {
        return LMD_ERROR;
    }

    p = field;
    if (*p != NULL && (*p)[0] != '/') {
        *p = lmd_conf_resolve(ctx, *p);
        if (*p == NULL) {
            return lmd_conf_oom(ctx);
        }
    }
    return LMD_OK;
}


/* Is s one of the NULL-terminated words? */
static int
lmd_conf_word(const char *const *words, const char *s)
{
    size_t  i;

    for (i = 0; words[i] != NULL; i++) {
        if (strcmp(words[i], s) == 0) {
            return (int) i;
        }
    }
    return -1;
}


static int
lmd_conf_set_target(struct lmd_conf_ctx *ctx, yaml_node_t *node,
    void *field, const struct lmd_conf_cmd *cmd, const char *what)
{
    const char  *s;
    char         list[128];

    s = lmd_conf_scalar(node);
    if (s == NULL || s[0] == '\0') {
        lmd_conf_join(cmd->post, list, sizeof(list));
        return lmd_conf_error(ctx, node, "expected %s or a file path for %s",
                              list, what);
    }
    return lmd_conf_set_str(ctx, node, field, cmd, what);
}


static int
lmd_conf_merge_target(struct lmd_conf_ctx *ctx, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    char  **p;

    if (lmd_conf_merge_str(ctx, field, cmd, what) != LMD_OK) {
        return LMD_ERROR;
    }

    /* "stderr", "off"...  are words, not files in the prefix. */
    p = field;
    if (*p != NULL && lmd_conf_word(cmd->post, *p) < 0 && (*p)[0] != '/') {
        *p = lmd_conf_resolve(ctx, *p);
        if (*p == NULL) {
            return lmd_conf_oom(ctx);
        }
    }
    return LMD_OK;
}


const struct lmd_conf_type  lmd_conf_type_str = {
    lmd_conf_init_ptr, lmd_conf_set_str, lmd_conf_merge_str,
    lmd_conf_dump_str, 0, NULL
};

const struct lmd_conf_type  lmd_conf_type_path = {
    lmd_conf_init_ptr, lmd_conf_set_path, lmd_conf_merge_path,
    lmd_conf_dump_str, 0, NULL
};

const struct lmd_conf_type  lmd_conf_type_target = {
    lmd_conf_init_ptr, lmd_conf_set_target, lmd_conf_merge_target,
    lmd_conf_dump_str, 0, NULL
};


/* ------------------------------------------------------------------------
 * Flags
 * ------------------------------------------------------------------------ */

static void
lmd_conf_init_int(void *field)
{
    *(int *) field = LMD_CONF_UNSET;
}


/* The YAML 1.1 booleans, in any case: 1, 0, or -1 for anything else. */
static int
lmd_conf_parse_flag(const char *s)
{
    static const char  *yes[] = { "true", "yes", "on", NULL };
    static const char  *no[] = { "false", "no", "off", NULL };
    size_t              i;

    for (i = 0; yes[i] != NULL; i++) {
        if (lmd_strieq(s, strlen(s), yes[i])) {
            return 1;
        }
        if (lmd_strieq(s, strlen(s), no[i])) {
            return 0;
        }
    }
    return -1;
}


static int
lmd_conf_set_flag(struct lmd_conf_ctx *ctx, yaml_node_t *node, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    const char  *s;
    int          v;

    lmd_unused(cmd);

    s = lmd_conf_scalar(node);
    v = s ? lmd_conf_parse_flag(s) : -1;
    if (v < 0) {
        return lmd_conf_error(ctx, node, "expected true or false for %s",
                              what);
    }
    *(int *) field = v;
    return LMD_OK;
}


static int
lmd_conf_merge_flag(struct lmd_conf_ctx *ctx, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    lmd_unused(ctx);
    lmd_unused(what);

    if (*(int *) field == LMD_CONF_UNSET) {
        *(int *) field = cmd->def ? lmd_conf_parse_flag(cmd->def) == 1 : 0;
    }
    return LMD_OK;
}


static void
lmd_conf_dump_flag(struct lmd_conf_dumper *d, int indent, const char *key,
    const void *field, const struct lmd_conf_cmd *cmd)
{
    lmd_unused(cmd);

    lmd_conf_dump_key(d, indent, key);
    fprintf(d->out, " %s\n", *(const int *) field ? "true" : "false");
}


const struct lmd_conf_type  lmd_conf_type_flag = {
    lmd_conf_init_int, lmd_conf_set_flag, lmd_conf_merge_flag,
    lmd_conf_dump_flag, 0, NULL
};


/* ------------------------------------------------------------------------
 * Sizes and durations
 * ------------------------------------------------------------------------ */

static void
lmd_conf_init_u64(void *field)
{
    *(uint64_t *) field = LMD_CONF_UNSET_U64;
}


/* What differs between sizes and durations: the type's data. */
struct lmd_conf_u64 {
    int                    (*parse)(const char *s, uint64_t *out);
    void                   (*format)(uint64_t v, char *buf, size_t len);
    const char              *expect;
};

static const struct lmd_conf_u64  lmd_conf_size = {
    lmd_parse_size, lmd_format_size,
    "a size like \"4m\" (bytes, or a number with k, m or g)"
};

static const struct lmd_conf_u64  lmd_conf_duration = {
    lmd_parse_duration, lmd_format_duration,
    "a duration like \"10s\" (number with ms, s, m, h or d)"
};


/* The all-ones value is the "unset" marker, so it is refused as input
 * (it is far beyond any sensible size or duration anyway). */
static int
lmd_conf_set_u64(struct lmd_conf_ctx *ctx, yaml_node_t *node, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    const struct lmd_conf_u64  *k;
    const char                 *s;
    uint64_t                    v;

    k = cmd->type->data;
    s = lmd_conf_scalar(node);
    if (s == NULL || k->parse(s, &v) != 0 || v == LMD_CONF_UNSET_U64) {
        return lmd_conf_error(ctx, node, "expected %s for %s", k->expect,
                              what);
    }
    *(uint64_t *) field = v;
    return LMD_OK;
}


static int
lmd_conf_merge_u64(struct lmd_conf_ctx *ctx, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    const struct lmd_conf_u64  *k;
    uint64_t                   *p;

    k = cmd->type->data;
    p = field;
    if (*p == LMD_CONF_UNSET_U64) {
        if (cmd->def == NULL || k->parse(cmd->def, p) != 0) {
            return lmd_conf_error(ctx, NULL, "bad default for %s", what);
        }
    }
    return LMD_OK;
}


static void
lmd_conf_dump_u64(struct lmd_conf_dumper *d, int indent, const char *key,
    const void *field, const struct lmd_conf_cmd *cmd)
{
    const struct lmd_conf_u64  *k;
    char                        buf[32];

    k = cmd->type->data;
    k->format(*(const uint64_t *) field, buf, sizeof(buf));
    lmd_conf_dump_key(d, indent, key);
    fprintf(d->out, " %s\n", buf);
}


/* "auto" is stored as 0, so an explicit 0 is refused: it would read back
 * as "auto". */
static int
lmd_conf_parse_size_auto(const char *s, uint64_t *out)
{
    if (strcmp(s, "auto") == 0) {
        *out = 0;
        return 0;
    }
    if (lmd_parse_size(s, out) != 0 || *out == 0) {
        return -1;
    }
    return 0;
}


static void
lmd_conf_format_size_auto(uint64_t v, char *buf, size_t len)
{
    if (v == 0) {
        snprintf(buf, len, "auto");
        return;
    }
    lmd_format_size(v, buf, len);
}


static const struct lmd_conf_u64  lmd_conf_size_auto = {
    lmd_conf_parse_size_auto, lmd_conf_format_size_auto,
    "auto or a size like \"4g\" (bytes, or a number with k, m or g)"
};


const struct lmd_conf_type  lmd_conf_type_size = {
    lmd_conf_init_u64, lmd_conf_set_u64, lmd_conf_merge_u64,
    lmd_conf_dump_u64, 0, &lmd_conf_size
};

const struct lmd_conf_type  lmd_conf_type_duration = {
    lmd_conf_init_u64, lmd_conf_set_u64, lmd_conf_merge_u64,
    lmd_conf_dump_u64, 0, &lmd_conf_duration
};

const struct lmd_conf_type  lmd_conf_type_size_auto = {
    lmd_conf_init_u64, lmd_conf_set_u64, lmd_conf_merge_u64,
    lmd_conf_dump_u64, 0, &lmd_conf_size_auto
};


/* ------------------------------------------------------------------------
 * Fractions
 * ------------------------------------------------------------------------ */

/* Any negative value marks a fraction unset (valid ones are above 0). */
static void
lmd_conf_init_double(void *field)
{
    *(double *) field = -1.0;
}


/* Plain decimals only ("0.8", "1", ".5"): no signs, exponents, hex, inf
 * or nan, which strtod would take.  The daemon never calls setlocale(),
 * so the decimal point is always '.'. */
static int
lmd_conf_parse_fraction(const char *s, double *out)
{
    char    *end;
    double   v;

    if (s[0] == '\0' || strspn(s, "0123456789.") != strlen(s)) {
        return -1;
    }
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !(v > 0.0 && v <= 1.0)) {
        return -1;
    }
    *out = v;
    return 0;
}


static int
lmd_conf_set_fraction(struct lmd_conf_ctx *ctx, yaml_node_t *node,
    void *field, const struct lmd_conf_cmd *cmd, const char *what)
{
    const char  *s;

    lmd_unused(cmd);

    s = lmd_conf_scalar(node);
    if (s == NULL || lmd_conf_parse_fraction(s, field) != 0) {
        return lmd_conf_error(ctx, node, "expected a number above 0 and at "
                              "most 1, like 0.8, for %s", what);
    }
    return LMD_OK;
}


static int
lmd_conf_merge_fraction(struct lmd_conf_ctx *ctx, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    if (*(double *) field < 0.0) {
        if (cmd->def == NULL
            || lmd_conf_parse_fraction(cmd->def, field) != 0)
        {
            return lmd_conf_error(ctx, NULL, "bad default for %s", what);
        }
    }
    return LMD_OK;
}


/* 15 significant digits: "0.8" prints as 0.8, and the printed text loads
 * back to a value that prints the same. */
static void
lmd_conf_dump_fraction(struct lmd_conf_dumper *d, int indent,
    const char *key, const void *field, const struct lmd_conf_cmd *cmd)
{
    lmd_unused(cmd);

    lmd_conf_dump_key(d, indent, key);
    fprintf(d->out, " %.15g\n", *(const double *) field);
}


const struct lmd_conf_type  lmd_conf_type_fraction = {
    lmd_conf_init_double, lmd_conf_set_fraction, lmd_conf_merge_fraction,
    lmd_conf_dump_fraction, 0, NULL
};


/* ------------------------------------------------------------------------
 * Integers and enums
 * ------------------------------------------------------------------------ */

/* LMD_CONF_UNSET (-1) marks an unset int, so ranges must exclude -1. */
static void
lmd_conf_init_ll(void *field)
{
    *(long long *) field = LMD_CONF_UNSET;
}


static int
lmd_conf_set_int(struct lmd_conf_ctx *ctx, yaml_node_t *node, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    const struct lmd_conf_range  *r;
    const char                   *s;

    r = cmd->post;
    s = lmd_conf_scalar(node);
    if (s == NULL || lmd_parse_int(s, r->min, r->max, field) != 0) {
        return lmd_conf_error(ctx, node,
                              "expected an integer from %lld to %lld for %s",
                              r->min, r->max, what);
    }
    return LMD_OK;
}


static int
lmd_conf_merge_int(struct lmd_conf_ctx *ctx, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    const struct lmd_conf_range  *r;

    r = cmd->post;
    if (*(long long *) field == LMD_CONF_UNSET) {
        if (cmd->def == NULL
            || lmd_parse_int(cmd->def, r->min, r->max, field) != 0)
        {
            return lmd_conf_error(ctx, NULL, "bad default for %s", what);
        }
    }
    return LMD_OK;
}


static void
lmd_conf_dump_int(struct lmd_conf_dumper *d, int indent, const char *key,
    const void *field, const struct lmd_conf_cmd *cmd)
{
    lmd_unused(cmd);

    lmd_conf_dump_key(d, indent, key);
    fprintf(d->out, " %lld\n", *(const long long *) field);
}


static int
lmd_conf_set_enum(struct lmd_conf_ctx *ctx, yaml_node_t *node, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    const char  *s;
    char         list[256];
    int          v;

    s = lmd_conf_scalar(node);
    v = s ? lmd_conf_word(cmd->post, s) : -1;
    if (v < 0) {
        lmd_conf_join(cmd->post, list, sizeof(list));
        return lmd_conf_error(ctx, node, "expected one of: %s for %s", list,
                              what);
    }

    if (cmd->type == &lmd_conf_type_enum_str) {
        *(char **) field = lmd_pstrdup(ctx->pool, s);
        if (*(char **) field == NULL) {
            return lmd_conf_oom(ctx);
        }
    } else {
        *(int *) field = v;
    }
    return LMD_OK;
}


static int
lmd_conf_merge_enum(struct lmd_conf_ctx *ctx, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    int  v;

    if (*(int *) field == LMD_CONF_UNSET) {
        v = cmd->def ? lmd_conf_word(cmd->post, cmd->def) : -1;
        if (v < 0) {
            return lmd_conf_error(ctx, NULL, "bad default for %s", what);
        }
        *(int *) field = v;
    }
    return LMD_OK;
}


static void
lmd_conf_dump_enum(struct lmd_conf_dumper *d, int indent, const char *key,
    const void *field, const struct lmd_conf_cmd *cmd)
{
    const char *const  *names;

    names = cmd->post;
    lmd_conf_dump_key(d, indent, key);
    fprintf(d->out, " %s\n", names[*(const int *) field]);
}


static void
lmd_conf_dump_enum_str(struct lmd_conf_dumper *d, int indent,
    const char *key, const void *field, const struct lmd_conf_cmd *cmd)
{
    lmd_unused(cmd);

    lmd_conf_dump_key(d, indent, key);
    fprintf(d->out, " %s\n", *(char *const *) field);
}


const struct lmd_conf_type  lmd_conf_type_int = {
    lmd_conf_init_ll, lmd_conf_set_int, lmd_conf_merge_int,
    lmd_conf_dump_int, 0, NULL
};

const struct lmd_conf_type  lmd_conf_type_enum = {
    lmd_conf_init_int, lmd_conf_set_enum, lmd_conf_merge_enum,
    lmd_conf_dump_enum, 0, NULL
};

/* The default of an enum_str must be one of its words (see merge_str). */
const struct lmd_conf_type  lmd_conf_type_enum_str = {
    lmd_conf_init_ptr, lmd_conf_set_enum, lmd_conf_merge_str,
    lmd_conf_dump_enum_str, 0, NULL
};


/* ------------------------------------------------------------------------
 * Nested sections
 * ------------------------------------------------------------------------ */

/* Called with node NULL too (LMD_CONF_NESTED): an absent section is a
 * section of defaults. */
static int
lmd_conf_set_section(struct lmd_conf_ctx *ctx, yaml_node_t *node,
    void *field, const struct lmd_conf_cmd *cmd, const char *what)
{
    return lmd_conf_section_load(ctx, cmd->post, node, field, what);
}


static void
lmd_conf_dump_nested(struct lmd_conf_dumper *d, int indent, const char *key,
    const void *field, const struct lmd_conf_cmd *cmd)
{
    lmd_conf_dump_key(d, indent, key);
    fputc('\n', d->out);
    lmd_conf_dump_section(d, cmd->post, field, indent + 2);
}


const struct lmd_conf_type  lmd_conf_type_section = {
    NULL, lmd_conf_set_section, NULL, lmd_conf_dump_nested,
    LMD_CONF_NESTED, NULL
};
