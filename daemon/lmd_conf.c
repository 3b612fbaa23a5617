/*
 * lmd_conf.c -- loading a YAML configuration into struct lmd_conf.
 *
 * The file is read whole, handed to libyaml's document API
 * (yaml_parser_load) and the resulting node graph is walked section by
 * section, driven by the tables of lmd_conf_table.c.  This file holds the
 * walk itself (unknown and duplicate keys, nulls, nested sections), the
 * error formatting with 1-based line and column, and the reference
 * counting.
 *
 * Design: a conf is born inside its own pool with one reference.  Nothing
 * from libyaml survives a load: the document and parser are deleted on
 * every path, success or failure, before lmd_conf_load_string returns.
 * Loop thread only.
 */

#include "lmd_core.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "lmd_conf.h"
#include "lmd_conf_table.h"

/* A config file larger than this is surely a mistake. */
#define LMD_CONF_MAX_FILE   (16 * 1024 * 1024)


/* ------------------------------------------------------------------------
 * Errors and node helpers
 * ------------------------------------------------------------------------ */

int
lmd_conf_error(struct lmd_conf_ctx *ctx, const yaml_node_t *node,
    const char *fmt, ...)
{
    va_list  ap;
    int      n;

    if (node != NULL) {
        n = snprintf(ctx->err, ctx->errlen, "%s:%lu:%lu: ", ctx->name,
                     (unsigned long) node->start_mark.line + 1,
                     (unsigned long) node->start_mark.column + 1);
    } else {
        n = snprintf(ctx->err, ctx->errlen, "%s: ", ctx->name);
    }

    if (n >= 0 && (size_t) n < ctx->errlen) {
        va_start(ap, fmt);
        vsnprintf(ctx->err + n, ctx->errlen - (size_t) n, fmt, ap);
        va_end(ap);
    }
    return LMD_ERROR;
}


int
lmd_conf_oom(struct lmd_conf_ctx *ctx)
{
    return lmd_conf_error(ctx, NULL, "out of memory");
}


/* YAML 1.1 null, but only in plain style: a quoted "~" is a string. */
int
lmd_conf_is_null(const yaml_node_t *node)
{
    const char  *v;

    if (node->type != YAML_SCALAR_NODE
        || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    {
        return 0;
    }

    v = (const char *) node->data.scalar.value;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0
           || strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}


const char *
lmd_conf_scalar(const yaml_node_t *node)
{
    const char  *v;

    if (node->type != YAML_SCALAR_NODE) {
        return NULL;
    }

    /* A double-quoted "\0" would silently cut the value short. */
    v = (const char *) node->data.scalar.value;
    if (strlen(v) != node->data.scalar.length) {
        return NULL;
    }
    return v;
}


yaml_node_t *
lmd_conf_find(struct lmd_conf_ctx *ctx, yaml_node_t *map, const char *key)
{
    yaml_node_pair_t  *pair;
    yaml_node_t       *k;
    const char        *s;

    if (map == NULL || map->type != YAML_MAPPING_NODE) {
        return NULL;
    }

    for (pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top;
         pair++)
    {
        k = yaml_document_get_node(ctx->doc, pair->key);
        s = lmd_conf_scalar(k);
        if (s != NULL && strcmp(s, key) == 0) {
            return yaml_document_get_node(ctx->doc, pair->value);
        }
    }
    return NULL;
}


size_t
lmd_conf_nitems(const yaml_node_t *seq)
{
    return (size_t) (seq->data.sequence.items.top
                     - seq->data.sequence.items.start);
}


yaml_node_t *
lmd_conf_item(struct lmd_conf_ctx *ctx, yaml_node_t *node, size_t i)
{
    if (node == NULL) {
        return NULL;
    }
    if (node->type != YAML_SEQUENCE_NODE) {
        return i == 0 ? node : NULL;
    }
    if (i >= lmd_conf_nitems(node)) {
        return NULL;
    }
    return yaml_document_get_node(ctx->doc,
                                  node->data.sequence.items.start[i]);
}


/* Absolute paths are kept; others are joined to the prefix with exactly
 * one slash between. */
char *
lmd_conf_resolve(struct lmd_conf_ctx *ctx, const char *path)
{
    const char  *prefix;
    size_t       plen;

    if (path[0] == '/') {
        return lmd_pstrdup(ctx->pool, path);
    }

    prefix = ctx->conf->prefix;
    plen = strlen(prefix);
    while (plen > 1 && prefix[plen - 1] == '/') {
        plen--;
    }
    if (plen == 1 && prefix[0] == '/') {
        plen = 0;                       /* "/" + "/" + path is "//path" */
    }
    return lmd_psprintf(ctx->pool, "%.*s/%s", (int) plen, prefix, path);
}


void
lmd_conf_join(const char *const *names, char *buf, size_t len)
{
    size_t  n, i;
    int     r;

    buf[0] = '\0';
    n = 0;
    for (i = 0; names[i] != NULL && n < len; i++) {
        r = snprintf(buf + n, len - n, "%s%s", i ? ", " : "", names[i]);
        n += (size_t) lmd_max(r, 0);
    }
}


/* ------------------------------------------------------------------------
 * The section walker
 * ------------------------------------------------------------------------ */

/* "in http.limits" or "at the top level", for messages. */
static const char *
lmd_conf_where(const char *what, char *buf, size_t len)
{
    if (what[0] == '\0') {
        return "at the top level";
    }
    snprintf(buf, len, "in %s", what);
    return buf;
}


static int
lmd_conf_unknown_key(struct lmd_conf_ctx *ctx,
    const struct lmd_conf_section *sec, yaml_node_t *key, const char *name,
    const char *what)
{
    const char  *names[LMD_CONF_MAX_ROWS + 1];
    char         list[LMD_ERR_LEN], where[LMD_CONF_NAME_LEN + 8];
    size_t       i;

    for (i = 0; sec->cmds[i].key != NULL; i++) {
        names[i] = sec->cmds[i].key;
    }
    names[i] = NULL;
    lmd_conf_join(names, list, sizeof(list));

    return lmd_conf_error(ctx, key,
                          "unknown key \"%s\" %s (expected one of: %s)",
                          name, lmd_conf_where(what, where, sizeof(where)),
                          list);
}


/*
 * Matches each key of the mapping to a row (refusing unknown keys, non
 * scalar keys and repeats), then runs every row's init/set/merge in table
 * order and the section's post hook.  Rows whose key is absent or null
 * still get init and merge, so the struct always ends fully defaulted.
 */
int
lmd_conf_section_load(struct lmd_conf_ctx *ctx,
    const struct lmd_conf_section *sec, yaml_node_t *node, void *base,
    const char *what)
{
    yaml_node_t                 *vals[LMD_CONF_MAX_ROWS];
    yaml_node_t                 *keys[LMD_CONF_MAX_ROWS];
    yaml_node_t                 *k, *v;
    yaml_node_pair_t            *pair;
    const struct lmd_conf_cmd   *cmd;
    const char                  *name;
    char                         qname[LMD_CONF_NAME_LEN];
    char                         where[LMD_CONF_NAME_LEN + 8];
    void                        *field;
    size_t                       i;

    memset(vals, 0, sizeof(vals));
    memset(keys, 0, sizeof(keys));

    if (node != NULL && lmd_conf_is_null(node)) {
        node = NULL;
    }

    if (node != NULL && node->type != YAML_MAPPING_NODE) {
        if (what[0] == '\0') {
            return lmd_conf_error(ctx, node,
                                  "expected a mapping at the top level");
        }
        return lmd_conf_error(ctx, node, "expected a mapping for %s", what);
    }

    for (pair = node ? node->data.mapping.pairs.start : NULL;
         node != NULL && pair < node->data.mapping.pairs.top;
         pair++)
    {
        k = yaml_document_get_node(ctx->doc, pair->key);
        name = lmd_conf_scalar(k);
        if (name == NULL) {
            return lmd_conf_error(ctx, k, "expected a key name %s",
                                  lmd_conf_where(what, where,
                                                 sizeof(where)));
        }

        for (i = 0; sec->cmds[i].key != NULL; i++) {
            if (strcmp(sec->cmds[i].key, name) == 0) {
                break;
            }
        }
        if (sec->cmds[i].key == NULL) {
            return lmd_conf_unknown_key(ctx, sec, k, name, what);
        }

        if (keys[i] != NULL) {
            return lmd_conf_error(ctx, k,
                                  "duplicate key \"%s\" %s (first at line "
                                  "%lu)", name,
                                  lmd_conf_where(what, where, sizeof(where)),
                                  (unsigned long)
                                  keys[i]->start_mark.line + 1);
        }
        keys[i] = k;
        vals[i] = yaml_document_get_node(ctx->doc, pair->value);
    }

    for (i = 0; sec->cmds[i].key != NULL; i++) {
        cmd = &sec->cmds[i];
        field = (char *) base + cmd->offset;

        if (what[0] == '\0') {
            snprintf(qname, sizeof(qname), "%s", cmd->key);
        } else {
            snprintf(qname, sizeof(qname), "%s.%s", what, cmd->key);
        }

        v = vals[i];
        if (v != NULL && lmd_conf_is_null(v)) {
            v = NULL;                   /* "key:" or "key: ~": not given */
        }

        if (cmd->type->init != NULL) {
            cmd->type->init(field);
        }
        if (v != NULL || (cmd->type->flags & LMD_CONF_NESTED)) {
            if (cmd->type->set(ctx, v, field, cmd, qname) != LMD_OK) {
                return LMD_ERROR;
            }
        }
        if (cmd->type->merge != NULL
            && cmd->type->merge(ctx, field, cmd, qname) != LMD_OK)
        {
            return LMD_ERROR;
        }
    }

    if (sec->post != NULL) {
        return sec->post(ctx, node, base, what);
    }
    return LMD_OK;
}


/* ------------------------------------------------------------------------
 * Loading
 * ------------------------------------------------------------------------ */

/* Turns a libyaml failure into "name:line:column: problem (context)".
 * Reader errors (bad UTF-8) carry a byte offset instead of a mark, so the
 * position is counted from the buffer. */
static void
lmd_conf_yaml_error(struct lmd_conf_ctx *ctx, yaml_parser_t *parser,
    const char *yaml, size_t len)
{
    unsigned long  line, col;
    size_t         i;

    if (parser->error == YAML_MEMORY_ERROR) {
        snprintf(ctx->err, ctx->errlen, "%s: out of memory", ctx->name);
        return;
    }

    if (parser->error == YAML_READER_ERROR) {
        line = 1;
        col = 1;
        for (i = 0; i < parser->problem_offset && i < len; i++) {
            if (yaml[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
    } else {
        line = (unsigned long) parser->problem_mark.line + 1;
        col = (unsigned long) parser->problem_mark.column + 1;
    }

    snprintf(ctx->err, ctx->errlen, "%s:%lu:%lu: %s%s%s%s", ctx->name, line,
             col, parser->problem ? parser->problem : "invalid YAML",
             parser->context ? " (" : "",
             parser->context ? parser->context : "",
             parser->context ? ")" : "");
}


/*
 * The one loading path (lmd_conf_load reads the file and comes here).
 * Steps: pool and conf, parse the first document, refuse a second one,
 * walk the tables from the root.  The parser and document are released on
 * every exit; on failure the pool, and with it every string already set,
 * goes too.
 */
struct lmd_conf *
lmd_conf_load_string(const char *yaml, size_t len, const char *name,
    const char *prefix, char *err, size_t errlen)
{
    struct lmd_conf_ctx   ctx;
    struct lmd_pool      *pool;
    struct lmd_conf      *conf;
    yaml_parser_t         parser;
    yaml_document_t       doc, extra;
    yaml_node_t          *root;
    int                   parser_ok, doc_ok;

    parser_ok = 0;
    doc_ok = 0;
    snprintf(err, errlen, "%s: out of memory", name);

    pool = lmd_pool_create(0);
    if (pool == NULL) {
        return NULL;
    }
    conf = lmd_pcalloc(pool, sizeof(struct lmd_conf));
    if (conf == NULL) {
        goto failed;
    }
    conf->pool = pool;
    conf->refs = 1;
    conf->file = lmd_pstrdup(pool, name);
    conf->prefix = lmd_pstrdup(pool, prefix ? prefix : LMD_PREFIX);
    if (conf->file == NULL || conf->prefix == NULL) {
        goto failed;
    }

    ctx.conf = conf;
    ctx.pool = pool;
    ctx.doc = &doc;
    ctx.name = name;
    ctx.err = err;
    ctx.errlen = errlen;

    if (!yaml_parser_initialize(&parser)) {
        goto failed;
    }
    parser_ok = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *) yaml, len);

    if (!yaml_parser_load(&parser, &doc)) {
        lmd_conf_yaml_error(&ctx, &parser, yaml, len);
        goto failed;
    }
    doc_ok = 1;

    /* A second document would be silently ignored: refuse it. */
    if (!yaml_parser_load(&parser, &extra)) {
        lmd_conf_yaml_error(&ctx, &parser, yaml, len);
        goto failed;
    }
    root = yaml_document_get_root_node(&extra);
    if (root != NULL) {
        ctx.doc = &extra;
        lmd_conf_error(&ctx, root, "expected only one YAML document");
        yaml_document_delete(&extra);
        goto failed;
    }
    yaml_document_delete(&extra);

    /* An empty stream has no root at all; "~" is a null root.  Both mean
     * "all defaults", which the walker gives for a NULL node. */
    root = yaml_document_get_root_node(&doc);
    if (lmd_conf_section_load(&ctx, &lmd_conf_main_section, root, conf, "")
        != LMD_OK)
    {
        goto failed;
    }

    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    err[0] = '\0';
    return conf;

failed:

    if (doc_ok) {
        yaml_document_delete(&doc);
    }
    if (parser_ok) {
        yaml_parser_delete(&parser);
    }
    lmd_pool_destroy(pool);
    return NULL;
}


/* Reads a whole file into a malloc'd buffer; fills err on failure.  The
 * size from fstat is only the first guess (the file may grow, or be a
 * pipe), so the buffer doubles until read(2) reports the end. */
static char *
lmd_conf_read_file(const char *file, size_t *len, char *err, size_t errlen)
{
    struct stat   st;
    char         *buf, *nbuf;
    size_t        n, cap;
    ssize_t       r;
    int           fd;

    buf = NULL;
    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(err, errlen, "%s: cannot open: %s", file, strerror(errno));
        return NULL;
    }

    if (fstat(fd, &st) == -1) {
        snprintf(err, errlen, "%s: cannot read: %s", file, strerror(errno));
        goto failed;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: cannot read: %s", file, strerror(EISDIR));
        goto failed;
    }

    cap = (size_t) lmd_min(lmd_max(st.st_size, 4095), LMD_CONF_MAX_FILE) + 1;
    n = 0;

    for ( ;; ) {
        if (n == cap || buf == NULL) {
            if (n > LMD_CONF_MAX_FILE) {
                snprintf(err, errlen, "%s: too large (more than 16m)", file);
                goto failed;
            }
            cap = buf ? cap * 2 : cap;
            nbuf = realloc(buf, cap);
            if (nbuf == NULL) {
                snprintf(err, errlen, "%s: out of memory", file);
                goto failed;
            }
            buf = nbuf;
        }

        r = read(fd, buf + n, cap - n);
        if (r == -1 && errno == EINTR) {
            continue;
        }
        if (r == -1) {
            snprintf(err, errlen, "%s: cannot read: %s", file,
                     strerror(errno));
            goto failed;
        }
        if (r == 0) {
            break;
        }
        n += (size_t) r;
    }

    close(fd);
    *len = n;
    return buf;

failed:

    close(fd);
    free(buf);
    return NULL;
}


/* The file's bytes are only needed while parsing: freed right after. */
struct lmd_conf *
lmd_conf_load(const char *file, const char *prefix, char *err,
    size_t errlen)
{
    struct lmd_conf  *conf;
    char             *buf;
    size_t            len;

    buf = lmd_conf_read_file(file, &len, err, errlen);
    if (buf == NULL) {
        return NULL;
    }

    conf = lmd_conf_load_string(buf, len, file, prefix, err, errlen);
    free(buf);
    return conf;
}


/* ------------------------------------------------------------------------
 * References
 * ------------------------------------------------------------------------ */

struct lmd_conf *
lmd_conf_ref(struct lmd_conf *conf)
{
    conf->refs++;
    return conf;
}


void
lmd_conf_unref(struct lmd_conf *conf)
{
    if (conf == NULL) {
        return;
    }
    if (--conf->refs == 0) {
        /* The conf itself lives in its pool. */
        lmd_pool_destroy(conf->pool);
    }
}
