/*
 * lmd_conf_table.h -- the machinery behind lmd_conf.h, shared by the
 * lmd_conf*.c files and by nothing else (it exposes libyaml types).
 *
 * A configuration section is a table of rows,
 *
 *     { key, type, offsetof(struct, field), post, default }
 *
 * and a type is a small vtable (struct lmd_conf_type) that knows how to
 * mark its field unset, set it from a YAML node, merge the default in and
 * print it back.  Loading a section (lmd_conf_section_load) runs, for every
 * row in table order: init (unset), set (only when the key was written),
 * merge (default, relative path resolution), and finally the section's own
 * post hook for checks that involve several keys.  Nested sections are a
 * type like any other, so the whole schema is data: conf, -T dump and the
 * "expected one of" lists in messages all come from the same rows.
 *
 * Design: every string and array lands in the conf's pool.  The libyaml
 * document is owned by lmd_conf_load_string() and deleted there on every
 * path; nodes are borrowed only while loading, and their positions are
 * copied out (struct lmd_conf_listen/model line and column) when needed.
 */

#ifndef LMD_CONF_TABLE_H
#define LMD_CONF_TABLE_H

#include <yaml.h>

#include "lmd_conf.h"

/* Longest qualified key name in messages, e.g. "http.listen[3].tls.key". */
#define LMD_CONF_NAME_LEN     128

/* Most rows one section may have (the loader keeps per-row state). */
#define LMD_CONF_MAX_ROWS     16

/* Type flag: set() is called even when the key is absent, with node NULL,
 * so that a nested section fills its own defaults. */
#define LMD_CONF_NESTED       0x01

/* State of one load; every helper reports through it. */
struct lmd_conf_ctx {
    struct lmd_conf         *conf;
    struct lmd_pool         *pool;      /* == conf->pool */
    yaml_document_t         *doc;
    const char              *name;      /* file name used in messages */
    char                    *err;       /* caller's buffer */
    size_t                   errlen;
};

struct lmd_conf_cmd;

/* Prints the effective config; `item` marks that the next key printed
 * starts a list item and so is led by "- ". */
struct lmd_conf_dumper {
    FILE                    *out;
    int                      item;
};

struct lmd_conf_type {
    /* Marks the field unset (NULL, LMD_CONF_UNSET...).  (optional) */
    void                   (*init)(void *field);

    /* Sets the field from a YAML node that is not null; `what` is the
     * qualified key for messages.  LMD_OK, or LMD_ERROR with ctx->err
     * filled. */
    int                    (*set)(struct lmd_conf_ctx *ctx,
                                  yaml_node_t *node, void *field,
                                  const struct lmd_conf_cmd *cmd,
                                  const char *what);

    /* Fills an unset field from cmd->def and resolves relative paths
     * against the prefix.  (optional) */
    int                    (*merge)(struct lmd_conf_ctx *ctx, void *field,
                                    const struct lmd_conf_cmd *cmd,
                                    const char *what);

    /* Prints "key: value" lines at `indent`, or nothing for an unset
     * optional value. */
    void                   (*dump)(struct lmd_conf_dumper *d, int indent,
                                   const char *key, const void *field,
                                   const struct lmd_conf_cmd *cmd);

    unsigned                 flags;     /* LMD_CONF_NESTED */
    const void              *data;      /* the type's own constants */
};

/* One row.  post is the type's extra: a struct lmd_conf_range for ints, a
 * NULL-terminated name list for enums and log targets, a struct
 * lmd_conf_section for nested sections.  def is the default in the same
 * syntax as the YAML value (a size "4m", a duration "10s"), or NULL. */
struct lmd_conf_cmd {
    const char                  *key;
    const struct lmd_conf_type  *type;
    size_t                       offset;
    const void                  *post;
    const char                  *def;
};

struct lmd_conf_range {
    long long                    min;
    long long                    max;
};

struct lmd_conf_section {
    const struct lmd_conf_cmd   *cmds;  /* ends with a NULL key */

    /* Runs after every row is set and merged; node is the section's
     * mapping, or NULL when the section was not written.  (optional) */
    int                        (*post)(struct lmd_conf_ctx *ctx,
                                       yaml_node_t *node, void *base,
                                       const char *what);
};

/* The scalar and section types (lmd_conf_types.c). */
extern const struct lmd_conf_type  lmd_conf_type_str;
extern const struct lmd_conf_type  lmd_conf_type_path;
extern const struct lmd_conf_type  lmd_conf_type_target;
extern const struct lmd_conf_type  lmd_conf_type_flag;
extern const struct lmd_conf_type  lmd_conf_type_size;
extern const struct lmd_conf_type  lmd_conf_type_duration;
extern const struct lmd_conf_type  lmd_conf_type_size_auto;
extern const struct lmd_conf_type  lmd_conf_type_fraction;
extern const struct lmd_conf_type  lmd_conf_type_int;
extern const struct lmd_conf_type  lmd_conf_type_enum;
extern const struct lmd_conf_type  lmd_conf_type_enum_str;
extern const struct lmd_conf_type  lmd_conf_type_section;

/* The list types (lmd_conf_lists.c). */
extern const struct lmd_conf_type  lmd_conf_type_strv;
extern const struct lmd_conf_type  lmd_conf_type_listen;

/* The root of the schema (lmd_conf_table.c). */
extern const struct lmd_conf_section  lmd_conf_main_section;


/* Loader helpers (lmd_conf.c) */

/* Loads one section from a mapping node (or NULL: all defaults) into the
 * struct at base.  what is the section's qualified name, "" at the top. */
int lmd_conf_section_load(struct lmd_conf_ctx *ctx,
    const struct lmd_conf_section *sec, yaml_node_t *node, void *base,
    const char *what);

/* Reports "file: out of memory"; returns LMD_ERROR. */
int lmd_conf_oom(struct lmd_conf_ctx *ctx);

/* Formats "file:line:column: message" (1-based, from the node's start) or
 * "file: message" for a NULL node into ctx->err.  Returns LMD_ERROR. */
int lmd_conf_error(struct lmd_conf_ctx *ctx, const yaml_node_t *node,
    const char *fmt, ...) LMD_PRINTF(3, 4);

/* The text of a scalar node, or NULL if the node is not a scalar or holds
 * a NUL byte.  1 when the node is YAML null ("", "~", "null" unquoted). */
const char *lmd_conf_scalar(const yaml_node_t *node);
int         lmd_conf_is_null(const yaml_node_t *node);

/* The value node of key in a mapping, or NULL. */
yaml_node_t *lmd_conf_find(struct lmd_conf_ctx *ctx, yaml_node_t *map,
    const char *key);

/* Item i of a sequence node; a scalar counts as a list of itself. */
yaml_node_t *lmd_conf_item(struct lmd_conf_ctx *ctx, yaml_node_t *node,
    size_t i);

/* Number of items of a sequence node. */
size_t lmd_conf_nitems(const yaml_node_t *seq);

/* A pool copy of path, made absolute against the conf's prefix; NULL when
 * out of memory. */
char *lmd_conf_resolve(struct lmd_conf_ctx *ctx, const char *path);

/* Writes "a, b, c" from a NULL-terminated list into buf. */
void lmd_conf_join(const char *const *names, char *buf, size_t len);


/* Dump helpers (lmd_conf_dump.c) */

/* Prints the indentation (and "- " when starting an item) and "key:". */
void lmd_conf_dump_key(struct lmd_conf_dumper *d, int indent,
    const char *key);

/* Prints s as a YAML double-quoted scalar. */
void lmd_conf_dump_string(FILE *out, const char *s);

/* Prints every row of a section with its keys at indent. */
void lmd_conf_dump_section(struct lmd_conf_dumper *d,
    const struct lmd_conf_section *sec, const void *base, int indent);

#endif /* LMD_CONF_TABLE_H */
