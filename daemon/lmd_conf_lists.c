/*
 * lmd_conf_lists.c -- the list-valued config types: string lists
 * (cors.allow_origins, auth.api_keys) and http.listen.
 *
 * A list key also takes a single item ("listen: 127.0.0.1:8080" is a list
 * of one), and an explicit empty list differs from an absent key: "[]"
 * keeps a list empty where the absent key would get its default.
 *
 * http.listen items are "ADDR:PORT" strings or {addr, tls: {cert, key}}
 * mappings.  Each address is resolved into a sockaddr at load time (with
 * getaddrinfo for host names), so `lmd -t` catches a typo before any
 * socket is opened, and two items that resolve to the same address and
 * port are refused.  A wildcard and a specific address on the same port are
 * not refused here: binding them both is the listener code's business.
 */

#include "lmd_core.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include "lmd_conf.h"
#include "lmd_conf_table.h"

/* The struct holding a field, from the field's address. */
#define lmd_conf_container(p, type, member)                                   \
    ((type *) (void *) ((char *) (p) - offsetof(type, member)))


/* ------------------------------------------------------------------------
 * String lists
 * ------------------------------------------------------------------------ */

/* v == NULL means unset; an explicit "[]" gets a non-NULL empty array, so
 * that merge keeps it empty instead of applying the default.  Arrays are
 * NULL-terminated as well as counted. */
static void
lmd_conf_init_strv(void *field)
{
    struct lmd_conf_strv  *sv;

    sv = field;
    sv->n = 0;
    sv->v = NULL;
}


/* One scalar is a list of one; every item must be a non-empty, non-null
 * scalar.  The message points at the offending item, not the list. */
static int
lmd_conf_set_strv(struct lmd_conf_ctx *ctx, yaml_node_t *node, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    struct lmd_conf_strv  *sv;
    yaml_node_t           *item;
    const char            *s;
    size_t                 i, n;

    lmd_unused(cmd);

    if (node->type == YAML_MAPPING_NODE) {
        return lmd_conf_error(ctx, node, "expected a list of strings for %s",
                              what);
    }

    sv = field;
    n = node->type == YAML_SEQUENCE_NODE ? lmd_conf_nitems(node) : 1;
    sv->v = lmd_pcalloc(ctx->pool, (n + 1) * sizeof(char *));
    if (sv->v == NULL) {
        return lmd_conf_oom(ctx);
    }

    for (i = 0; i < n; i++) {
        item = lmd_conf_item(ctx, node, i);
        s = lmd_conf_scalar(item);
        if (s == NULL || s[0] == '\0' || lmd_conf_is_null(item)) {
            return lmd_conf_error(ctx, item,
                                  "expected a non-empty string for %s",
                                  what);
        }
        sv->v[i] = lmd_pstrdup(ctx->pool, s);
        if (sv->v[i] == NULL) {
            return lmd_conf_oom(ctx);
        }
    }
    sv->n = n;
    return LMD_OK;
}


/* An unset list takes the row's default as its single item ("*" for
 * allow_origins), or stays empty (n == 0, v == NULL) without one. */
static int
lmd_conf_merge_strv(struct lmd_conf_ctx *ctx, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    struct lmd_conf_strv  *sv;

    lmd_unused(what);

    sv = field;
    if (sv->v != NULL || cmd->def == NULL) {
        return LMD_OK;
    }

    sv->v = lmd_pcalloc(ctx->pool, 2 * sizeof(char *));
    if (sv->v == NULL) {
        return lmd_conf_oom(ctx);
    }
    sv->v[0] = lmd_pstrdup(ctx->pool, cmd->def);
    if (sv->v[0] == NULL) {
        return lmd_conf_oom(ctx);
    }
    sv->n = 1;
    return LMD_OK;
}


/* "key: []" when empty, else one double-quoted item per line. */
static void
lmd_conf_dump_strv(struct lmd_conf_dumper *d, int indent, const char *key,
    const void *field, const struct lmd_conf_cmd *cmd)
{
    const struct lmd_conf_strv  *sv;
    size_t                       i;

    lmd_unused(cmd);

    sv = field;
    lmd_conf_dump_key(d, indent, key);
    if (sv->n == 0) {
        fputs(" []\n", d->out);
        return;
    }

    fputc('\n', d->out);
    for (i = 0; i < sv->n; i++) {
        fprintf(d->out, "%*s- ", indent + 2, "");
        lmd_conf_dump_string(d->out, sv->v[i]);
        fputc('\n', d->out);
    }
}


const struct lmd_conf_type  lmd_conf_type_strv = {
    lmd_conf_init_strv, lmd_conf_set_strv, lmd_conf_merge_strv,
    lmd_conf_dump_strv, 0, NULL
};


/* ------------------------------------------------------------------------
 * http.listen
 * ------------------------------------------------------------------------ */

/*
 * Fills *ss from the host part of a listen address (brackets already
 * stripped; v6 says there were some); msg on failure.  "*" is 0.0.0.0.  A
 * name takes the first address getaddrinfo returns, in the order
 * /etc/gai.conf sets; the port is filled in by the caller.
 */
static int
lmd_conf_listen_host(const char *host, int v6, struct sockaddr_storage *ss,
    socklen_t *len, char *msg, size_t msglen)
{
    struct sockaddr_in6  *sin6;
    struct sockaddr_in   *sin;
    struct addrinfo       hints, *res;
    int                   rc;

    memset(ss, 0, sizeof(*ss));
    sin = (struct sockaddr_in *) ss;
    sin6 = (struct sockaddr_in6 *) ss;

    if (v6) {
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
            snprintf(msg, msglen, "invalid IPv6 address \"%s\"", host);
            return LMD_ERROR;
        }
        sin6->sin6_family = AF_INET6;
        *len = sizeof(struct sockaddr_in6);
        return LMD_OK;
    }

    if (strcmp(host, "*") == 0) {
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        *len = sizeof(struct sockaddr_in);
        return LMD_OK;
    }

    /* Digits and dots are meant as an IPv4 address, never a name. */
    if (strspn(host, "0123456789.") == strlen(host)) {
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
            snprintf(msg, msglen, "invalid IPv4 address \"%s\"", host);
            return LMD_ERROR;
        }
        sin->sin_family = AF_INET;
        *len = sizeof(struct sockaddr_in);
        return LMD_OK;
    }

    /* No AI_ADDRCONFIG: it hides ::1 and 127.0.0.1 on hosts whose only
     * interface is loopback, which is exactly where tests run. */
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(msg, msglen, "cannot resolve \"%s\": %s", host,
                 gai_strerror(rc));
        return LMD_ERROR;
    }
    if (res->ai_addrlen > sizeof(*ss)) {
        freeaddrinfo(res);
        snprintf(msg, msglen, "cannot resolve \"%s\"", host);
        return LMD_ERROR;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return LMD_OK;
}


/*
 * Splits "ADDR:PORT" ("1.2.3.4:80", "[::1]:80", "*:80", "name:80") and
 * resolves it.  The port is checked first, so a bad port never costs a
 * DNS lookup.
 */
static int
lmd_conf_listen_parse(const char *addr, struct sockaddr_storage *ss,
    socklen_t *len, char *msg, size_t msglen)
{
    const char  *host, *end;
    char         name[256];
    size_t       hlen;
    long long    port;
    int          v6;

    v6 = (addr[0] == '[');
    /* Find where the host ends and the ":PORT" starts. */
    if (v6) {
        host = addr + 1;
        end = strchr(host, ']');
        if (end == NULL) {
            snprintf(msg, msglen, "missing \"]\" in \"%s\"", addr);
            return LMD_ERROR;
        }
        hlen = (size_t) (end - host);
        end++;
    } else {
        host = addr;
        end = strrchr(addr, ':');
        hlen = end ? (size_t) (end - host) : strlen(addr);
        if (memchr(host, ':', hlen) != NULL) {
            snprintf(msg, msglen, "IPv6 addresses need brackets, like "
                     "\"[::1]:8080\", in \"%s\"", addr);
            return LMD_ERROR;
        }
    }

    if (end == NULL || *end != ':') {
        snprintf(msg, msglen, "missing port in \"%s\" (expected ADDR:PORT, "
                 "like \"127.0.0.1:8080\")", addr);
        return LMD_ERROR;
    }
    if (lmd_parse_int(end + 1, 1, 65535, &port) != 0) {
        snprintf(msg, msglen, "expected a port from 1 to 65535 in \"%s\"",
                 addr);
        return LMD_ERROR;
    }
    if (hlen == 0) {
        snprintf(msg, msglen, "missing address in \"%s\" (\"*:%lld\" means "
                 "every IPv4 address)", addr, port);
        return LMD_ERROR;
    }
    if (hlen >= sizeof(name)) {
        snprintf(msg, msglen, "host name too long in \"%s\"", addr);
        return LMD_ERROR;
    }
    memcpy(name, host, hlen);
    name[hlen] = '\0';

    if (lmd_conf_listen_host(name, v6, ss, len, msg, msglen) != LMD_OK) {
        return LMD_ERROR;
    }

    if (ss->ss_family == AF_INET6) {
        ((struct sockaddr_in6 *) ss)->sin6_port = htons((uint16_t) port);
    } else {
        ((struct sockaddr_in *) ss)->sin_port = htons((uint16_t) port);
    }
    return LMD_OK;
}


/* Same family, address and port: binding both would fail with
 * EADDRINUSE, so the config refuses it with a better message. */
static int
lmd_conf_same_addr(const struct lmd_conf_listen *a,
    const struct lmd_conf_listen *b)
{
    const struct sockaddr_in6  *a6, *b6;
    const struct sockaddr_in   *a4, *b4;

    if (a->sockaddr.ss_family != b->sockaddr.ss_family) {
        return 0;
    }

    if (a->sockaddr.ss_family == AF_INET6) {
        a6 = (const struct sockaddr_in6 *) &a->sockaddr;
        b6 = (const struct sockaddr_in6 *) &b->sockaddr;
        return a6->sin6_port == b6->sin6_port
               && memcmp(&a6->sin6_addr, &b6->sin6_addr, 16) == 0;
    }

    a4 = (const struct sockaddr_in *) &a->sockaddr;
    b4 = (const struct sockaddr_in *) &b->sockaddr;
    return a4->sin_port == b4->sin_port
           && a4->sin_addr.s_addr == b4->sin_addr.s_addr;
}


static int lmd_conf_listen_post(struct lmd_conf_ctx *ctx, yaml_node_t *node,
    void *base, const char *what);
static int lmd_conf_tls_post(struct lmd_conf_ctx *ctx, yaml_node_t *node,
    void *base, const char *what);

static const struct lmd_conf_cmd  lmd_conf_tls_cmds[] = {
    { "cert", &lmd_conf_type_path,
      offsetof(struct lmd_conf_listen, tls_cert), NULL, NULL },
    { "key", &lmd_conf_type_path,
      offsetof(struct lmd_conf_listen, tls_key), NULL, NULL },
    { NULL, NULL, 0, NULL, NULL }
};

static const struct lmd_conf_section  lmd_conf_tls_section = {
    lmd_conf_tls_cmds, lmd_conf_tls_post
};

/* tls is a nested section at offset 0: its fields live in the listen
 * struct itself. */
static const struct lmd_conf_cmd  lmd_conf_listen_cmds[] = {
    { "addr", &lmd_conf_type_str,
      offsetof(struct lmd_conf_listen, addr), NULL, NULL },
    { "tls", &lmd_conf_type_section, 0, &lmd_conf_tls_section, NULL },
    { NULL, NULL, 0, NULL, NULL }
};

static const struct lmd_conf_section  lmd_conf_listen_section = {
    lmd_conf_listen_cmds, lmd_conf_listen_post
};


static int
lmd_conf_tls_post(struct lmd_conf_ctx *ctx, yaml_node_t *node, void *base,
    const char *what)
{
    struct lmd_conf_listen  *l;

    l = base;
    if (node == NULL) {
        return LMD_OK;                  /* a plain listener */
    }
    if (l->tls_cert == NULL) {
        return lmd_conf_error(ctx, node, "missing \"cert\" in %s (TLS needs "
                              "both cert and key)", what);
    }
    if (l->tls_key == NULL) {
        return lmd_conf_error(ctx, node, "missing \"key\" in %s (TLS needs "
                              "both cert and key)", what);
    }
    return LMD_OK;
}


/* One item in mapping form: addr is required; resolve it. */
static int
lmd_conf_listen_post(struct lmd_conf_ctx *ctx, yaml_node_t *node,
    void *base, const char *what)
{
    struct lmd_conf_listen  *l;
    char                     msg[LMD_ERR_LEN];

    l = base;
    if (l->addr == NULL) {
        return lmd_conf_error(ctx, node, "missing \"addr\" in %s", what);
    }
    if (lmd_conf_listen_parse(l->addr, &l->sockaddr, &l->socklen, msg,
                              sizeof(msg)) != LMD_OK)
    {
        return lmd_conf_error(ctx, lmd_conf_find(ctx, node, "addr"),
                              "%s for %s", msg, what);
    }
    return LMD_OK;
}


/* One item of http.listen, either form; records where it was written
 * (the listener code names it in bind errors). */
static int
lmd_conf_listen_item(struct lmd_conf_ctx *ctx, yaml_node_t *node,
    struct lmd_conf_listen *l, const char *what)
{
    const char  *s;
    char         msg[LMD_ERR_LEN];

    l->line = (int) node->start_mark.line + 1;
    l->column = (int) node->start_mark.column + 1;

    if (node->type == YAML_MAPPING_NODE) {
        return lmd_conf_section_load(ctx, &lmd_conf_listen_section, node, l,
                                     what);
    }

    s = lmd_conf_scalar(node);
    if (s == NULL || s[0] == '\0' || lmd_conf_is_null(node)) {
        return lmd_conf_error(ctx, node, "expected an address like "
                              "\"127.0.0.1:8080\" or a mapping with addr "
                              "and tls for %s", what);
    }

    l->addr = lmd_pstrdup(ctx->pool, s);
    if (l->addr == NULL) {
        return lmd_conf_oom(ctx);
    }
    if (lmd_conf_listen_parse(l->addr, &l->sockaddr, &l->socklen, msg,
                              sizeof(msg)) != LMD_OK)
    {
        return lmd_conf_error(ctx, node, "%s for %s", msg, what);
    }
    return LMD_OK;
}


/* The row's offset points at http.listen; nlisten is its neighbour. */
static void
lmd_conf_init_listen(void *field)
{
    struct lmd_conf_http  *http;

    http = lmd_conf_container(field, struct lmd_conf_http, listen);
    http->listen = NULL;
    http->nlisten = 0;
}


/* A list of items or a single item; at least one, none twice.  Items of a
 * list are named "http.listen[i]" in messages, a single one "http.listen". */
static int
lmd_conf_set_listen(struct lmd_conf_ctx *ctx, yaml_node_t *node, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    struct lmd_conf_http    *http;
    struct lmd_conf_listen  *l;
    yaml_node_t             *item;
    char                     qname[LMD_CONF_NAME_LEN];
    size_t                   i, j, n;

    lmd_unused(cmd);

    http = lmd_conf_container(field, struct lmd_conf_http, listen);
    n = node->type == YAML_SEQUENCE_NODE ? lmd_conf_nitems(node) : 1;
    if (n == 0) {
        return lmd_conf_error(ctx, node, "expected at least one address "
                              "for %s", what);
    }

    l = lmd_pcalloc(ctx->pool, n * sizeof(struct lmd_conf_listen));
    if (l == NULL) {
        return lmd_conf_oom(ctx);
    }

    for (i = 0; i < n; i++) {
        item = lmd_conf_item(ctx, node, i);
        if (node->type == YAML_SEQUENCE_NODE) {
            snprintf(qname, sizeof(qname), "%s[%zu]", what, i);
        } else {
            snprintf(qname, sizeof(qname), "%s", what);
        }

        if (lmd_conf_listen_item(ctx, item, &l[i], qname) != LMD_OK) {
            return LMD_ERROR;
        }

        for (j = 0; j < i; j++) {
            if (lmd_conf_same_addr(&l[i], &l[j])) {
                return lmd_conf_error(ctx, item, "duplicate listen address "
                                      "\"%s\" for %s (first at line %d, "
                                      "column %d)", l[i].addr, qname,
                                      l[j].line, l[j].column);
            }
        }
    }

    http->listen = l;
    http->nlisten = n;
    return LMD_OK;
}


/* No listen key: one plain listener on the default address. */
static int
lmd_conf_merge_listen(struct lmd_conf_ctx *ctx, void *field,
    const struct lmd_conf_cmd *cmd, const char *what)
{
    struct lmd_conf_http    *http;
    struct lmd_conf_listen  *l;
    char                     msg[LMD_ERR_LEN];

    http = lmd_conf_container(field, struct lmd_conf_http, listen);
    if (http->listen != NULL) {
        return LMD_OK;
    }

    l = lmd_pcalloc(ctx->pool, sizeof(struct lmd_conf_listen));
    if (l == NULL) {
        return lmd_conf_oom(ctx);
    }
    l->addr = lmd_pstrdup(ctx->pool, cmd->def);
    if (l->addr == NULL) {
        return lmd_conf_oom(ctx);
    }
    if (lmd_conf_listen_parse(l->addr, &l->sockaddr, &l->socklen, msg,
                              sizeof(msg)) != LMD_OK)
    {
        return lmd_conf_error(ctx, NULL, "bad default for %s: %s", what,
                              msg);
    }

    http->listen = l;
    http->nlisten = 1;
    return LMD_OK;
}


/* Plain listeners print as a string, TLS ones as a mapping. */
static void
lmd_conf_dump_listen(struct lmd_conf_dumper *d, int indent, const char *key,
    const void *field, const struct lmd_conf_cmd *cmd)
{
    const struct lmd_conf_http  *http;
    size_t                       i;

    lmd_unused(cmd);

    http = lmd_conf_container(field, const struct lmd_conf_http, listen);
    lmd_conf_dump_key(d, indent, key);
    fputc('\n', d->out);

    for (i = 0; i < http->nlisten; i++) {
        if (http->listen[i].tls_cert == NULL) {
            fprintf(d->out, "%*s- ", indent + 2, "");
            lmd_conf_dump_string(d->out, http->listen[i].addr);
            fputc('\n', d->out);
            continue;
        }
        d->item = 1;
        lmd_conf_dump_section(d, &lmd_conf_listen_section,
                              &http->listen[i], indent + 4);
    }
}


const struct lmd_conf_type  lmd_conf_type_listen = {
    lmd_conf_init_listen, lmd_conf_set_listen, lmd_conf_merge_listen,
    lmd_conf_dump_listen, 0, NULL
};
