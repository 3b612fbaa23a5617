/*
 * test_conf.c -- unit tests for the YAML configuration (daemon/lmd_conf*.c):
 * defaults, every key set, relative path resolution, api_keys_file, the
 * exact "file:line:column: message" of each kind of mistake, and the -T
 * dump round trip.
 *
 * Configs are loaded from strings named "t.yaml" with the prefix "/p", so
 * messages and resolved paths are predictable.  A few cases need real files
 * (api_keys_file, lmd_conf_load); they live in a mkdtemp directory removed
 * at the end of each case.  Each case states the assumption it checks.
 */

#include "lmd_core.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include "lmd_conf.h"
#include "lmd_test.h"


#include "conf_test.c"


/* Writes text to dir/name; returns the path (static buffer). */
static const char *
write_file(const char *dir, const char *name, const char *text)
{
    static char   path[256];
    FILE         *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "w");
    if (fp == NULL) {
        return NULL;
    }
    fputs(text, fp);
    fclose(fp);
    return path;
}


/* The port of a resolved listener, whatever its family. */
static int
port_of(const struct lmd_conf_listen *l)
{
    if (l->sockaddr.ss_family == AF_INET6) {
        return ntohs(((const struct sockaddr_in6 *) &l->sockaddr)->sin6_port);
    }
    return ntohs(((const struct sockaddr_in *) &l->sockaddr)->sin_port);
}


/* ------------------------------------------------------------------------
 * Good configs
 * ------------------------------------------------------------------------ */

/* Checks that conf holds exactly the documented defaults, models aside. */
static void
check_defaults_but_models(struct lmd_conf *conf)
{
    const struct sockaddr_in  *sin;

    fail_unless(conf->refs == 1, "refs %d", conf->refs);
    fail_unless_streq(conf->prefix, "/p");

    fail_unless(conf->daemon.daemonize == 0, "daemonize");
    fail_unless(conf->daemon.user == NULL, "user");
    fail_unless_streq(conf->daemon.pid, "/p/logs/lmd.pid");
    fail_unless_streq(conf->daemon.error_log, "stderr");
    fail_unless(conf->daemon.log_level == LMD_LOG_INFO, "log_level");
    fail_unless_streq(conf->daemon.access_log, "off");
    fail_unless(conf->daemon.shutdown_timeout == 30000, "shutdown_timeout");

    fail_unless(conf->http.nlisten == 1, "nlisten %zu", conf->http.nlisten);
    if (conf->http.nlisten == 1) {
        fail_unless_streq(conf->http.listen[0].addr, "127.0.0.1:8080");
        sin = (const struct sockaddr_in *) &conf->http.listen[0].sockaddr;
        fail_unless(sin->sin_family == AF_INET, "family");
        fail_unless(ntohl(sin->sin_addr.s_addr) == 0x7f000001, "addr");
        fail_unless(ntohs(sin->sin_port) == 8080, "port");
        fail_unless(conf->http.listen[0].socklen == sizeof(*sin), "socklen");
        fail_unless(conf->http.listen[0].tls_cert == NULL, "plain");
        fail_unless(conf->http.listen[0].tls_key == NULL, "plain");
    }
    fail_unless_streq(conf->http.html, "/p/html");
    fail_unless_streq(conf->http.index, "index.html");
    fail_unless(conf->http.server_tokens == 1, "server_tokens");

    fail_unless(conf->http.limits.max_header_size == 8192, "max_header");
    fail_unless(conf->http.limits.max_body == 4194304, "max_body");
    fail_unless(conf->http.limits.header_timeout == 10000, "header_to");
    fail_unless(conf->http.limits.body_timeout == 30000, "body_to");
    fail_unless(conf->http.limits.idle_timeout == 60000, "idle_to");
    fail_unless(conf->http.limits.send_timeout == 60000, "send_to");
    fail_unless(conf->http.limits.max_connections == 4096, "max_conn");
    fail_unless(conf->http.limits.keepalive_requests == 10000, "keepalive");

    fail_unless(conf->http.cors.enabled == 0, "cors.enabled");
    fail_unless(conf->http.cors.allow_origins.n == 1, "origins");
    if (conf->http.cors.allow_origins.n == 1) {
        fail_unless_streq(conf->http.cors.allow_origins.v[0], "*");
    }
    fail_unless_streq(conf->http.cors.allow_headers,
                      "Authorization, Content-Type");
    fail_unless(conf->http.cors.max_age == 86400000, "max_age");

    fail_unless(conf->http.auth.api_keys.n == 0, "api_keys");
    fail_unless(conf->http.auth.api_keys_file == NULL, "api_keys_file");
    fail_unless(conf->http.auth.protect_health == 0, "protect_health");
    fail_unless(conf->http.auth.protect_static == 0, "protect_static");

    fail_unless_streq(conf->modules_path, "/p/modules");
}


/* Checks that conf holds exactly the documented defaults. */
static void
check_defaults(struct lmd_conf *conf)
{
    check_defaults_but_models(conf);
    fail_unless(conf->nmodels == 0, "nmodels");
}


/* Assumption: an empty document, a null document, a comment-only file and
 * empty sections all give every default. */
LMD_TEST(defaults)
{
    static const char  *docs[] = {
        "",
        "~\n",
        "---\n",
        "# nothing but a comment\n",
        "daemon:\nhttp:\n  limits:\n  cors: ~\n  auth: {}\nmodels:\n",
        "http: {}\nmodules_path: ~\n",
    };
    struct lmd_conf  *conf;
    size_t            i;

    for (i = 0; i < lmd_nelems(docs); i++) {
        conf = load_ok(docs[i]);
        if (conf != NULL) {
            check_defaults(conf);
            lmd_conf_unref(conf);
        }
    }
}


/* Assumption: the shipped conf/lmd.yaml loads and is all defaults but
 * for its one model, the demo model that `make` writes into models/demo
 * (run from the repository root). */
LMD_TEST(shipped_default_config)
{
    struct lmd_conf  *conf;
    char              err[LMD_ERR_LEN];

    conf = lmd_conf_load("conf/lmd.yaml", "/p", err, sizeof(err));
    fail_unless(conf != NULL, "%s", err);
    if (conf == NULL) {
        return;
    }
    fail_unless_streq(conf->file, "conf/lmd.yaml");
    check_defaults_but_models(conf);
    fail_unless(conf->nmodels == 1, "nmodels %zu", conf->nmodels);
    if (conf->nmodels == 1) {
        fail_unless_streq(conf->models[0].name, "demo");
        fail_unless_streq(conf->models[0].path, "/p/models/demo");
        fail_unless_streq(conf->models[0].engine, "cpu");
        fail_unless_streq(conf->models[0].load_format, "auto");
        fail_unless_streq(conf->models[0].weights, "auto");
        fail_unless(conf->models[0].threads == 0, "threads %lld",
                    conf->models[0].threads);
        fail_unless(conf->models[0].seed == 0, "seed");
        fail_unless(conf->models[0].chat_template == NULL, "template");
    }
    lmd_conf_unref(conf);
}


/* Every key set to something other than its default, with the generic
 * types in their less common spellings.  Line numbers matter: the cases
 * below check recorded positions (listen items on lines 11 and 13, the
 * first model on line 41). */
static const char  every_key[] =
    "daemon:\n"
    "  daemonize: yes\n"
    "  user: root\n"
    "  pid: /run/lmd.pid\n"
    "  error_log: logs/error.log\n"
    "  log_level: debug\n"
    "  access_log: stdout\n"
    "  shutdown_timeout: 1m30s\n"
    "http:\n"
    "  listen:\n"
    "    - 127.0.0.1:8081\n"
    "    - \"*:80\"\n"
    "    - addr: \"[::1]:8443\"\n"
    "      tls:\n"
    "        cert: certs/lmd.pem\n"
    "        key: /etc/lmd/lmd.key\n"
    "  html: /srv/www/\n"
    "  index: home.html\n"
    "  server_tokens: Off\n"
    "  limits:\n"
    "    max_header_size: 16k\n"
    "    max_body: 1g\n"
    "    header_timeout: 500ms\n"
    "    body_timeout: 2\n"
    "    idle_timeout: 1h\n"
    "    send_timeout: 45s\n"
    "    max_connections: 1000000\n"
    "    keepalive_requests: 1\n"
    "  cors:\n"
    "    enabled: on\n"
    "    allow_origins: [\"https://a.example\", \"https://b.example\"]\n"
    "    allow_headers: \"Authorization\"\n"
    "    max_age: 10m\n"
    "  auth:\n"
    "    api_keys:\n"
    "      - sk-one\n"
    "      - 'sk-\"two\"'\n"
    "    protect_health: true\n"
    "    protect_static: TRUE\n"
    "models:\n"
    "  - name: stories\n"
    "    path: models/stories260K\n"
    "  - name: \"org/llama-3.1:8b_q4\"\n"
    "    path: /var/lib/lmd/llama\n"
    "    engine: cuda-awq\n"
    "    load_format: dummy\n"
    "modules_path: /usr/lib/lmd\n";


/* Assumption: every key can be set, each generic type reads its YAML
 * forms (yes/on/Off/TRUE, sizes, combined durations, a bare number as
 * seconds), and relative paths are joined to the prefix. */
LMD_TEST(every_key)
{
    struct lmd_conf         *conf;
    struct lmd_conf_listen  *l;
    struct sockaddr_in6     *sin6;
    struct in6_addr          lo6 = IN6ADDR_LOOPBACK_INIT;

    conf = load_ok(every_key);
    if (conf == NULL) {
        return;
    }

    fail_unless(conf->daemon.daemonize == 1, "daemonize");
    fail_unless_streq(conf->daemon.user, "root");
    fail_unless_streq(conf->daemon.pid, "/run/lmd.pid");
    fail_unless_streq(conf->daemon.error_log, "/p/logs/error.log");
    fail_unless(conf->daemon.log_level == LMD_LOG_DEBUG, "log_level");
    fail_unless_streq(conf->daemon.access_log, "stdout");
    fail_unless(conf->daemon.shutdown_timeout == 90000, "shutdown");

    fail_unless(conf->http.nlisten == 3, "nlisten %zu", conf->http.nlisten);
    if (conf->http.nlisten == 3) {
        l = conf->http.listen;
        fail_unless(port_of(&l[0]) == 8081, "port 0");
        fail_unless(l[0].line == 11 && l[0].column == 7, "pos %d:%d",
                    l[0].line, l[0].column);
        fail_unless(l[1].sockaddr.ss_family == AF_INET, "family 1");
        fail_unless(((struct sockaddr_in *) &l[1].sockaddr)->sin_addr.s_addr
                    == htonl(INADDR_ANY), "wildcard");
        fail_unless(port_of(&l[1]) == 80, "port 1");
        fail_unless_streq(l[2].addr, "[::1]:8443");
        sin6 = (struct sockaddr_in6 *) &l[2].sockaddr;
        fail_unless(sin6->sin6_family == AF_INET6, "family 2");
        fail_unless(memcmp(&sin6->sin6_addr, &lo6, 16) == 0, "::1");
        fail_unless(l[2].socklen == sizeof(*sin6), "socklen");
        fail_unless(port_of(&l[2]) == 8443, "port 2");
        fail_unless_streq(l[2].tls_cert, "/p/certs/lmd.pem");
        fail_unless_streq(l[2].tls_key, "/etc/lmd/lmd.key");
        fail_unless(l[2].line == 13 && l[2].column == 7, "pos");
    }
    fail_unless_streq(conf->http.html, "/srv/www/");
    fail_unless_streq(conf->http.index, "home.html");
    fail_unless(conf->http.server_tokens == 0, "server_tokens");

    fail_unless(conf->http.limits.max_header_size == 16384, "max_header");
    fail_unless(conf->http.limits.max_body == 1073741824, "max_body");
    fail_unless(conf->http.limits.header_timeout == 500, "header_to");
    fail_unless(conf->http.limits.body_timeout == 2000, "body_to");
    fail_unless(conf->http.limits.idle_timeout == 3600000, "idle_to");
    fail_unless(conf->http.limits.send_timeout == 45000, "send_to");
    fail_unless(conf->http.limits.max_connections == 1000000, "max_conn");
    fail_unless(conf->http.limits.keepalive_requests == 1, "keepalive");

    fail_unless(conf->http.cors.enabled == 1, "cors");
    fail_unless(conf->http.cors.allow_origins.n == 2, "origins");
    if (conf->http.cors.allow_origins.n == 2) {
        fail_unless_streq(conf->http.cors.allow_origins.v[1],
                          "https://b.example");
    }
    fail_unless_streq(conf->http.cors.allow_headers, "Authorization");
    fail_unless(conf->http.cors.max_age == 600000, "max_age");

    fail_unless(conf->http.auth.api_keys.n == 2, "keys");
    if (conf->http.auth.api_keys.n == 2) {
        fail_unless_streq(conf->http.auth.api_keys.v[0], "sk-one");
        fail_unless_streq(conf->http.auth.api_keys.v[1], "sk-\"two\"");
    }
    fail_unless(conf->http.auth.protect_health == 1, "protect_health");
    fail_unless(conf->http.auth.protect_static == 1, "protect_static");

    fail_unless(conf->nmodels == 2, "nmodels");
    if (conf->nmodels == 2) {
        fail_unless_streq(conf->models[0].name, "stories");
        fail_unless_streq(conf->models[0].path, "/p/models/stories260K");
        fail_unless_streq(conf->models[0].engine, "cpu");
        fail_unless_streq(conf->models[0].load_format, "auto");
        fail_unless(conf->models[0].line == 41
                    && conf->models[0].column == 5, "model pos %d:%d",
                    conf->models[0].line, conf->models[0].column);
        fail_unless_streq(conf->models[1].name, "org/llama-3.1:8b_q4");
        fail_unless_streq(conf->models[1].engine, "cuda-awq");
        fail_unless_streq(conf->models[1].load_format, "dummy");
    }
    fail_unless_streq(conf->modules_path, "/usr/lib/lmd");

    lmd_conf_unref(conf);
}


/* Assumption: listen takes a single item as well as a list, "localhost"
 * resolves through getaddrinfo, and an explicitly empty string list stays
 * empty instead of taking its default. */
LMD_TEST(listen_forms_and_empty_lists)
{
    struct lmd_conf  *conf;
    int               fam;

    conf = load_ok("http:\n  listen: localhost:8080\n"
                   "  cors: {allow_origins: []}\n");
    if (conf == NULL) {
        return;
    }
    fail_unless(conf->http.nlisten == 1, "nlisten");
    fam = conf->http.listen[0].sockaddr.ss_family;
    fail_unless(fam == AF_INET || fam == AF_INET6, "family %d", fam);
    fail_unless(port_of(&conf->http.listen[0]) == 8080, "port");
    fail_unless(conf->http.cors.allow_origins.n == 0, "origins");
    lmd_conf_unref(conf);

    conf = load_ok("http:\n  listen: {addr: \"[::]:443\", tls: {cert: c, "
                   "key: k}}\n  cors: {allow_origins: \"https://x\"}\n");
    if (conf == NULL) {
        return;
    }
    fail_unless(conf->http.nlisten == 1, "nlisten");
    fail_unless_streq(conf->http.listen[0].tls_cert, "/p/c");
    fail_unless_streq(conf->http.listen[0].tls_key, "/p/k");
    fail_unless(conf->http.cors.allow_origins.n == 1, "single origin");
    lmd_conf_unref(conf);
}


/* Assumption: a prefix with a trailing slash (or the root) gives no
 * doubled slash, and a NULL prefix means the build's LMD_PREFIX. */
LMD_TEST(prefix_join)
{
    struct lmd_conf  *conf;
    char              err[LMD_ERR_LEN];

    conf = lmd_conf_load_string("", 0, "t", "/opt/lmd/", err, sizeof(err));
    fail_unless(conf != NULL, "%s", err);
    if (conf != NULL) {
        fail_unless_streq(conf->http.html, "/opt/lmd/html");
        lmd_conf_unref(conf);
    }

    conf = lmd_conf_load_string("", 0, "t", "/", err, sizeof(err));
    fail_unless(conf != NULL, "%s", err);
    if (conf != NULL) {
        fail_unless_streq(conf->http.html, "/html");
        lmd_conf_unref(conf);
    }

    conf = lmd_conf_load_string("", 0, "t", NULL, err, sizeof(err));
    fail_unless(conf != NULL, "%s", err);
    if (conf != NULL) {
        fail_unless_streq(conf->prefix, LMD_PREFIX);
        lmd_conf_unref(conf);
    }
}


/* Assumption: api_keys_file is read at load, relative to the prefix; blank
 * lines, # comments, surrounding blanks and CRLF are ignored; its keys
 * follow the inline ones and duplicates are dropped. */
LMD_TEST(api_keys_file)
{
    struct lmd_conf  *conf;
    const char       *path;
    char              dir[] = "/tmp/lmd-test-XXXXXX";
    char              yaml[512], err[LMD_ERR_LEN];

    if (!fail_unless(mkdtemp(dir) != NULL, "mkdtemp")) {
        return;
    }
    path = write_file(dir, "keys", "# lmd keys\n\nsk-file-1\r\n"
                      "  sk-file-2  \n   # indented comment\nsk-inline\n"
                      "sk-file-1\nsk-last");
    if (path == NULL) {
        fail_unless(path != NULL, "cannot write in %s", dir);
        rmdir(dir);
        return;
    }

    snprintf(yaml, sizeof(yaml), "http:\n  auth:\n    api_keys_file: keys\n"
             "    api_keys: [sk-inline]\n");
    conf = lmd_conf_load_string(yaml, strlen(yaml), "t.yaml", dir, err,
                                sizeof(err));
    fail_unless(conf != NULL, "%s", err);
    if (conf != NULL) {
        fail_unless(conf->http.auth.api_keys.n == 4, "n %zu",
                    conf->http.auth.api_keys.n);
        if (conf->http.auth.api_keys.n == 4) {
            fail_unless_streq(conf->http.auth.api_keys.v[0], "sk-inline");
            fail_unless_streq(conf->http.auth.api_keys.v[1], "sk-file-1");
            fail_unless_streq(conf->http.auth.api_keys.v[2], "sk-file-2");
            fail_unless_streq(conf->http.auth.api_keys.v[3], "sk-last");
        }
        fail_unless(strncmp(conf->http.auth.api_keys_file, dir,
                            strlen(dir)) == 0, "resolved");
        lmd_conf_unref(conf);
    }

    /* A key with a blank inside is refused, naming the line; the position
     * is the api_keys_file value in the YAML, line 3 column 20. */
    write_file(dir, "keys", "sk-ok\nsk bad\n");
    conf = lmd_conf_load_string(yaml, strlen(yaml), "t.yaml", dir, err,
                                sizeof(err));
    fail_unless(conf == NULL, "bad key accepted");
    lmd_conf_unref(conf);
    fail_unless(strstr(err, "t.yaml:3:20: invalid key on line 2 of "
                       "api_keys_file") == err, "%s", err);

    unlink(path);
    rmdir(dir);
}


/* Assumption: lmd_conf_load reads a file (an empty file is all defaults)
 * and reports a missing one as "FILE: cannot open: strerror". */
LMD_TEST(load_file)
{
    struct lmd_conf  *conf;
    const char       *path;
    char              dir[] = "/tmp/lmd-test-XXXXXX";
    char              err[LMD_ERR_LEN];

    if (!fail_unless(mkdtemp(dir) != NULL, "mkdtemp")) {
        return;
    }

    path = write_file(dir, "empty.yaml", "");
    if (path == NULL) {
        fail_unless(path != NULL, "cannot write in %s", dir);
        rmdir(dir);
        return;
    }
    conf = lmd_conf_load(path, "/p", err, sizeof(err));
    fail_unless(conf != NULL, "%s", err);
    if (conf != NULL) {
        check_defaults(conf);
        lmd_conf_unref(conf);
    }
    unlink(path);

    /* Messages from a file name it as it was given. */
    path = write_file(dir, "bad.yaml", "http:\n  html: [x]\n");
    if (path == NULL) {
        fail_unless(path != NULL, "cannot write in %s", dir);
        rmdir(dir);
        return;
    }
    conf = lmd_conf_load(path, "/p", err, sizeof(err));
    fail_unless(conf == NULL, "loaded");
    fail_unless(strstr(err, "/bad.yaml:2:9: expected a path for http.html")
                != NULL, "%s", err);
    unlink(path);

    /* A directory opens fine but cannot be read. */
    conf = lmd_conf_load(dir, "/p", err, sizeof(err));
    fail_unless(conf == NULL, "loaded a directory");
    fail_unless(strstr(err, ": cannot read: Is a directory") != NULL, "%s",
                err);
    rmdir(dir);

    conf = lmd_conf_load("/nonexistent/lmd.yaml", "/p", err, sizeof(err));
    fail_unless(conf == NULL, "loaded");
    fail_unless_streq(err, "/nonexistent/lmd.yaml: cannot open: "
                      "No such file or directory");
}


/* Assumption: a conf lives until its last reference is dropped (ASan
 * reports a use after free or a leak otherwise); unref(NULL) is a no-op. */
LMD_TEST(refcount)
{
    struct lmd_conf  *conf, *again;

    conf = load_ok("");
    if (conf == NULL) {
        return;
    }
    again = lmd_conf_ref(conf);
    fail_unless(again == conf && conf->refs == 2, "refs %d", conf->refs);
    lmd_conf_unref(conf);
    fail_unless_streq(again->http.index, "index.html");
    lmd_conf_unref(again);
    lmd_conf_unref(NULL);
}


/* ------------------------------------------------------------------------
 * Bad configs: exact messages
 * ------------------------------------------------------------------------ */

/* Assumption: an unknown key is reported where the key starts, naming the
 * section and every allowed key. */
LMD_TEST(error_unknown_key)
{
    expect_error("http:\n  limits:\n    max_bdy: 4m\n",
                 "t.yaml:3:5: unknown key \"max_bdy\" in http.limits "
                 "(expected one of: max_header_size, max_body, "
                 "header_timeout, body_timeout, idle_timeout, send_timeout, "
                 "max_connections, keepalive_requests)");
    expect_error("daemon: {}\nlisten: 80\n",
                 "t.yaml:2:1: unknown key \"listen\" at the top level "
                 "(expected one of: daemon, http, models, modules_path)");
    expect_error("models:\n  - name: a\n    path: b\n    kv: x\n",
                 "t.yaml:4:5: unknown key \"kv\" in models[0] (expected one "
                 "of: name, path, engine, load_format, weights, threads, "
                 "seed, chat_template, kv_cache, scheduler, "
                 "prefix_cache)");
    expect_error("http:\n  listen:\n    - addr: \"*:1\"\n      tsl: {}\n",
                 "t.yaml:4:7: unknown key \"tsl\" in http.listen[0] "
                 "(expected one of: addr, tls)");
}


/* Assumption: the value's kind is checked: a mapping where a scalar is
 * expected, a list where a mapping is, a scalar at the top. */
LMD_TEST(error_wrong_type)
{
    expect_error("daemon:\n  user: {name: lmd}\n",
                 "t.yaml:2:9: expected a string for daemon.user");
    expect_error("http:\n  limits: [1, 2]\n",
                 "t.yaml:2:11: expected a mapping for http.limits");
    expect_error("http: yes\n", "t.yaml:1:7: expected a mapping for http");
    expect_error("hello\n", "t.yaml:1:1: expected a mapping at the top "
                 "level");
    expect_error("- a\n- b\n", "t.yaml:1:1: expected a mapping at the top "
                 "level");
    expect_error("http:\n  html: [a]\n",
                 "t.yaml:2:9: expected a path for http.html");
    expect_error("http:\n  html: \"\"\n",
                 "t.yaml:2:9: expected a path for http.html");
    expect_error("http:\n  cors:\n    allow_origins: {a: b}\n",
                 "t.yaml:3:20: expected a list of strings for "
                 "http.cors.allow_origins");
    expect_error("http:\n  cors:\n    allow_origins: [a, [b]]\n",
                 "t.yaml:3:24: expected a non-empty string for "
                 "http.cors.allow_origins");
    expect_error("daemon:\n  error_log: [x]\n",
                 "t.yaml:2:14: expected stderr, stdout or a file path for "
                 "daemon.error_log");
    expect_error("daemon:\n  access_log: \"\"\n",
                 "t.yaml:2:15: expected off, stdout, stderr or a file path "
                 "for daemon.access_log");
    /* A complex (non-scalar) key, and a NUL smuggled in by an escape. */
    expect_error("? [a]\n: b\n", "t.yaml:1:3: expected a key name at the "
                 "top level");
    expect_error("daemon:\n  user: \"a\\0b\"\n",
                 "t.yaml:2:9: expected a string for daemon.user");
}


/* Assumption: flags, sizes, durations, ranged ints and enums name their
 * syntax or range, positioned at the value. */
LMD_TEST(error_bad_values)
{
    expect_error("daemon:\n  daemonize: maybe\n",
                 "t.yaml:2:14: expected true or false for daemon.daemonize");
    expect_error("http:\n  limits:\n    max_body: 4mb\n",
                 "t.yaml:3:15: expected a size like \"4m\" (bytes, or a "
                 "number with k, m or g) for http.limits.max_body");
    expect_error("http:\n  limits:\n    max_header_size: -1\n",
                 "t.yaml:3:22: expected a size like \"4m\" (bytes, or a "
                 "number with k, m or g) for http.limits.max_header_size");
    expect_error("http:\n  limits:\n    header_timeout: 10 sec\n",
                 "t.yaml:3:21: expected a duration like \"10s\" (number "
                 "with ms, s, m, h or d) for http.limits.header_timeout");
    expect_error("daemon:\n  shutdown_timeout: 1.5s\n",
                 "t.yaml:2:21: expected a duration like \"10s\" (number "
                 "with ms, s, m, h or d) for daemon.shutdown_timeout");
    expect_error("http:\n  limits:\n    max_connections: 0\n",
                 "t.yaml:3:22: expected an integer from 1 to 1000000 for "
                 "http.limits.max_connections");
    expect_error("http:\n  limits:\n    max_connections: 1000001\n",
                 "t.yaml:3:22: expected an integer from 1 to 1000000 for "
                 "http.limits.max_connections");
    expect_error("http:\n  limits:\n    keepalive_requests: lots\n",
                 "t.yaml:3:25: expected an integer from 1 to 100000000 for "
                 "http.limits.keepalive_requests");
    expect_error("daemon:\n  log_level: verbose\n",
                 "t.yaml:2:14: expected one of: error, warn, notice, info, "
                 "debug for daemon.log_level");
    expect_error("models:\n  - {name: a, path: b, load_format: real}\n",
                 "t.yaml:2:37: expected one of: auto, dummy for "
                 "models[0].load_format");
}


/* Assumption: listen addresses are checked at load: IPv4 syntax, brackets
 * for IPv6, a port in 1..65535, a port present at all, and no address
 * written twice (compared after resolution). */
LMD_TEST(error_listen)
{
    expect_error("http:\n  listen: 300.1.1.1:80\n",
                 "t.yaml:2:11: invalid IPv4 address \"300.1.1.1\" for "
                 "http.listen");
    expect_error("http:\n  listen: [\"[::1]\"]\n",
                 "t.yaml:2:12: missing port in \"[::1]\" (expected "
                 "ADDR:PORT, like \"127.0.0.1:8080\") for http.listen[0]");
    expect_error("http:\n  listen: localhost:99999\n",
                 "t.yaml:2:11: expected a port from 1 to 65535 in "
                 "\"localhost:99999\" for http.listen");
    expect_error("http:\n  listen: 127.0.0.1\n",
                 "t.yaml:2:11: missing port in \"127.0.0.1\" (expected "
                 "ADDR:PORT, like \"127.0.0.1:8080\") for http.listen");
    expect_error("http:\n  listen: \"::1:80\"\n",
                 "t.yaml:2:11: IPv6 addresses need brackets, like "
                 "\"[::1]:8080\", in \"::1:80\" for http.listen");
    expect_error("http:\n  listen: \":80\"\n",
                 "t.yaml:2:11: missing address in \":80\" (\"*:80\" means "
                 "every IPv4 address) for http.listen");
    expect_error("http:\n  listen: \"[fe80::zz]:80\"\n",
                 "t.yaml:2:11: invalid IPv6 address \"fe80::zz\" for "
                 "http.listen");
    expect_error("http:\n  listen: \"*:0\"\n",
                 "t.yaml:2:11: expected a port from 1 to 65535 in \"*:0\" "
                 "for http.listen");
    expect_error("http:\n  listen: []\n",
                 "t.yaml:2:11: expected at least one address for "
                 "http.listen");
    expect_error("http:\n  listen:\n    - 127.0.0.1:8080\n    - ~\n",
                 "t.yaml:4:7: expected an address like \"127.0.0.1:8080\" "
                 "or a mapping with addr and tls for http.listen[1]");
    expect_error("http:\n  listen:\n    - 127.0.0.1:8080\n"
                 "    - addr: 127.0.0.1:08080\n",
                 "t.yaml:4:7: duplicate listen address \"127.0.0.1:08080\" "
                 "for http.listen[1] (first at line 3, column 7)");
    expect_error("http:\n  listen:\n    - tls: {cert: a, key: b}\n",
                 "t.yaml:3:7: missing \"addr\" in http.listen[0]");
    expect_error("http:\n  listen:\n    - addr: 1.2.3:80\n",
                 "t.yaml:3:13: invalid IPv4 address \"1.2.3\" for "
                 "http.listen[0]");
}


/* Assumption: a tls mapping needs both cert and key. */
LMD_TEST(error_tls)
{
    expect_error("http:\n  listen:\n    - addr: \"*:443\"\n"
                 "      tls:\n        cert: a.pem\n",
                 "t.yaml:5:9: missing \"key\" in http.listen[0].tls (TLS "
                 "needs both cert and key)");
    expect_error("http:\n  listen: {addr: \"*:443\", tls: {key: k}}\n",
                 "t.yaml:2:32: missing \"cert\" in http.listen.tls (TLS "
                 "needs both cert and key)");
}


/* Assumption: models[].chat_template is an optional path: resolved
 * against the prefix like every path, NULL when not written, printed by
 * the dump only for the model that sets it, and an empty value is the
 * usual "expected a path" error. */
LMD_TEST(model_chat_template)
{
    struct lmd_conf  *conf;
    char             *d;

    conf = load_ok("models:\n  - name: a\n    path: m/a\n"
                   "    chat_template: templates/chatml.jinja\n"
                   "  - name: b\n    path: /m/b\n");
    if (conf == NULL) {
        return;
    }
    fail_unless(conf->nmodels == 2, "nmodels %zu", conf->nmodels);
    if (conf->nmodels == 2) {
        fail_unless_streq(conf->models[0].chat_template,
                          "/p/templates/chatml.jinja");
        fail_unless(conf->models[1].chat_template == NULL, "unset: %s",
                    conf->models[1].chat_template);
    }
    d = dump(conf);
    fail_unless(d != NULL, "dump");
    if (d != NULL) {
        fail_unless(strstr(d, "    chat_template: "
                              "\"/p/templates/chatml.jinja\"\n") != NULL,
                    "dump:\n%s", d);
        fail_unless(strstr(d, "chat_template") != NULL
                    && strstr(strstr(d, "chat_template") + 1,
                              "chat_template") == NULL,
                    "chat_template dumped for the model without it:\n%s",
                    d);
        free(d);
    }
    lmd_conf_unref(conf);

    expect_error("models:\n  - name: a\n    path: /m\n"
                 "    chat_template: \"\"\n",
                 "t.yaml:4:20: expected a path for "
                 "models[0].chat_template");
}


/* Assumption: models[].weights, threads and seed default to auto, 0 and
 * 0, take their documented values (weights a closed list, threads up to
 * 4096, seed any non-negative 64-bit signed integer), are dumped for
 * every model, and say what they expect when wrong. */
LMD_TEST(model_engine_keys)
{
    struct lmd_conf  *conf;
    char             *d;

    conf = load_ok("models:\n  - {name: a, path: m/a}\n"
                   "  - name: b\n    path: /m/b\n    weights: int8\n"
                   "    threads: 8\n    seed: 9223372036854775807\n");
    if (conf == NULL) {
        return;
    }
    fail_unless(conf->nmodels == 2, "nmodels %zu", conf->nmodels);
    if (conf->nmodels == 2) {
        fail_unless_streq(conf->models[0].weights, "auto");
        fail_unless(conf->models[0].threads == 0, "threads %lld",
                    conf->models[0].threads);
        fail_unless(conf->models[0].seed == 0, "seed %lld",
                    conf->models[0].seed);
        fail_unless_streq(conf->models[1].weights, "int8");
        fail_unless(conf->models[1].threads == 8, "threads %lld",
                    conf->models[1].threads);
        fail_unless(conf->models[1].seed == LLONG_MAX, "seed %lld",
                    conf->models[1].seed);
    }
    d = dump(conf);
    fail_unless(d != NULL, "dump");
    if (d != NULL) {
        fail_unless(strstr(d, "    weights: int8\n    threads: 8\n"
                              "    seed: 9223372036854775807\n") != NULL,
                    "dump:\n%s", d);
        free(d);
    }
    lmd_conf_unref(conf);

    expect_error("models:\n  - {name: a, path: b, weights: fp8}\n",
                 "t.yaml:2:33: expected one of: auto, f32, f16, bf16, int8 "
                 "for models[0].weights");
    expect_error("models:\n  - {name: a, path: b, threads: -1}\n",
                 "t.yaml:2:33: expected an integer from 0 to 4096 for "
                 "models[0].threads");
    expect_error("models:\n  - {name: a, path: b, threads: 4097}\n",
                 "t.yaml:2:33: expected an integer from 0 to 4096 for "
                 "models[0].threads");
    expect_error("models:\n  - {name: a, path: b, seed: -5}\n",
                 "t.yaml:2:30: expected an integer from 0 to "
                 "9223372036854775807 for models[0].seed");
}


/* Assumption: models is a list of mappings, each with a name and a path;
 * names are unique and drawn from [A-Za-z0-9._:/-]. */
LMD_TEST(error_models)
{
    expect_error("models:\n  - name: a\n    path: x\n  - name: b\n"
                 "    path: y\n  - name: a\n    path: z\n",
                 "t.yaml:6:11: duplicate model name \"a\" for models[2] "
                 "(first at line 2, column 5)");
    expect_error("models:\n  - name: stories\n",
                 "t.yaml:2:5: missing \"path\" in models[0]");
    expect_error("models:\n  - path: /m\n",
                 "t.yaml:2:5: missing \"name\" in models[0]");
    expect_error("models:\n  - name: \"my model\"\n    path: /m\n",
                 "t.yaml:2:11: expected a model name of 1 to 128 letters, "
                 "digits or . _ : / - for models[0].name");
    expect_error("models:\n  - name: a\n    path: /m\n    engine: ../x\n",
                 "t.yaml:4:13: expected a module name of letters, digits, "
                 "_ or - for models[0].engine");
    expect_error("models:\n  name: a\n",
                 "t.yaml:2:3: expected a list of models for models");
    expect_error("models:\n  - stories\n",
                 "t.yaml:2:5: expected a mapping for models[0]");
}


/* Assumption: the same key twice in one mapping is an error at the second
 * one, even when the values agree. */
LMD_TEST(error_duplicate_key)
{
    expect_error("http:\n  html: a\n  html: a\n",
                 "t.yaml:3:3: duplicate key \"html\" in http (first at "
                 "line 2)");
    expect_error("daemon: {}\ndaemon: {}\n",
                 "t.yaml:2:1: duplicate key \"daemon\" at the top level "
                 "(first at line 1)");
}


/* Assumption: YAML syntax errors carry libyaml's own problem text and
 * position; a second document and invalid UTF-8 are refused too. */
LMD_TEST(error_yaml_syntax)
{
    expect_error("a: b: c\n",
                 "t.yaml:1:5: mapping values are not allowed in this "
                 "context");
    expect_error("http:\n  limits: [1, 2\n",
                 "t.yaml:3:1: did not find expected ',' or ']' (while "
                 "parsing a flow sequence)");
    expect_error("http:\n  html: x\n html: y\n",
                 "t.yaml:3:2: did not find expected key (while parsing a "
                 "block mapping)");
    expect_error("daemon:\n\tuser: x\n",
                 "t.yaml:2:1: found character that cannot start any token "
                 "(while scanning for the next token)");
    expect_error("http: *nope\n",
                 "t.yaml:1:7: found undefined alias");
    expect_error("daemon: {}\n---\nhttp: {}\n",
                 "t.yaml:3:1: expected only one YAML document");
    expect_error("daemon:\n  user: \"caf\xe9\"\n",
                 "t.yaml:2:14: invalid trailing UTF-8 octet");
}


/* Assumption: failures of the checks done at load name what was looked
 * for: the api_keys_file (with strerror) and the daemon.user; an inline
 * key with a blank is refused at the key. */
LMD_TEST(error_load_checks)
{
    expect_error("http:\n  auth:\n    api_keys_file: /nonexistent/keys\n",
                 "t.yaml:3:20: cannot read api_keys_file "
                 "\"/nonexistent/keys\": No such file or directory");
    expect_error("http:\n  auth:\n    api_keys_file: keys.txt\n",
                 "t.yaml:3:20: cannot read api_keys_file \"/p/keys.txt\": "
                 "No such file or directory");
    expect_error("daemon:\n  user: no-such-user-lmd\n",
                 "t.yaml:2:9: unknown user \"no-such-user-lmd\" for "
                 "daemon.user");
    expect_error("http:\n  auth:\n    api_keys: [good, \"not good\"]\n",
                 "t.yaml:3:22: expected a key of printable ASCII without "
                 "spaces for http.auth.api_keys");
}


/* ------------------------------------------------------------------------
 * Dump
 * ------------------------------------------------------------------------ */

/* Checks dump -> load -> dump gives the same text for yaml. */
static void
round_trip_at(const char *yaml, const char *prefix, const char *file,
    int line)
{
    struct lmd_conf  *a, *b;
    char             *da, *db, err[LMD_ERR_LEN];

    a = lmd_conf_load_string(yaml, strlen(yaml), "t.yaml", prefix, err,
                             sizeof(err));
    if (!lmd_test_check(a != NULL, file, line, "a != NULL", "%s", err)) {
        return;
    }
    da = dump(a);

    b = lmd_conf_load_string(da, strlen(da), "dump", "/elsewhere", err,
                             sizeof(err));
    if (lmd_test_check(b != NULL, file, line, "b != NULL", "%s\n%s", err,
                       da))
    {
        db = dump(b);
        lmd_test_streq(db, da, file, line);
        free(db);
        lmd_conf_unref(b);
    }
    free(da);
    lmd_conf_unref(a);
}

#define round_trip(yaml, prefix)                                              \
    round_trip_at((yaml), (prefix), __FILE__, __LINE__)


/* Assumption: the dump is YAML that loads again into a conf with the same
 * dump, for the defaults, for every key set, and for strings that need
 * quoting (quotes, backslashes, '#', "on", "4k", control bytes, UTF-8);
 * relative paths are absolute in the dump, so the second prefix is moot. */
LMD_TEST(dump_round_trip)
{
    struct lmd_conf  *conf;
    char             *text;

    /* Defaults, then every key set, then strings that only survive with
     * careful quoting. */
    round_trip("", "/p");
    round_trip(every_key, "/p");
    round_trip("http:\n  index: \"a \\\"b\\\" \\\\c # d\"\n"
               "  cors:\n    allow_headers: \"on\"\n"
               "    allow_origins: [\"4k\", \"tab\\there\", \"\\x01\", "
               "\"caf\xc3\xa9\", \"- x\", \"'q'\"]\n"
               "models:\n  - {name: \"a\", path: \"dir with spaces/#x\", "
               "weights: bf16, threads: 3, seed: 7}\n",
               "/p");

    /* Found by fuzzing: YAML folds U+0085, U+2028 and U+2029 inside
     * quotes, and refuses C1 controls written raw. */
    round_trip("http:\n  index: \"a\\Nb\\Lc\\Pd\\x80e\\x9f\\ufeff\\r\"\n",
               "/p");

    /* The exact shape of a mixed listen list: plain items as strings, a
     * TLS item as a mapping with the "- " on its first key. */
    conf = load_ok("http:\n  listen: [\"*:1\", {addr: \"[::1]:2\", tls: "
                   "{cert: c, key: k}}]\n");
    if (conf == NULL) {
        return;
    }
    text = dump(conf);
    fail_unless(text != NULL && strstr(text,
                "  listen:\n"
                "    - \"*:1\"\n"
                "    - addr: \"[::1]:2\"\n"
                "      tls:\n"
                "        cert: \"/p/c\"\n"
                "        key: \"/p/k\"\n") != NULL, "listen dump:\n%s", text);
    free(text);
    lmd_conf_unref(conf);
}


/* Assumption: api keys from api_keys_file appear in the dump next to the
 * file itself, and reloading does not duplicate them. */
LMD_TEST(dump_round_trip_keys_file)
{
    const char  *path;
    char         dir[] = "/tmp/lmd-test-XXXXXX";
    char         yaml[512];

    if (!fail_unless(mkdtemp(dir) != NULL, "mkdtemp")) {
        return;
    }
    /* The dump lists sk-0, sk-a, sk-b and the file; reading the file again
     * must add nothing. */
    path = write_file(dir, "keys", "sk-a\nsk-b\n");
    if (path == NULL) {
        fail_unless(path != NULL, "cannot write in %s", dir);
        rmdir(dir);
        return;
    }
    snprintf(yaml, sizeof(yaml), "http:\n  auth:\n    api_keys: [sk-0]\n"
             "    api_keys_file: %s\n", path);
    round_trip(yaml, "/p");
    unlink(path);
    rmdir(dir);
}
