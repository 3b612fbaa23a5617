/*
 * lmd_cmd_serve.c -- `lmd serve MODEL_DIR`: one model served with the
 * defaults, without a configuration file.
 *
 *   lmd serve MODEL_DIR [--listen ADDR:PORT] [--name NAME] [--engine E]
 *             [--weights W] [--threads N] [--kv-cache CODEC]
 *             [--api-key KEY] [--html DIR] [--modules DIR]
 *
 * The options become a small lmd.yaml in memory, loaded by the very
 * loader `lmd -c` uses (so every value is checked, and every default is
 * lmd.yaml(5)'s), and the daemon runs on it exactly as it does on a file:
 * in the foreground, the error log on stderr, the access log on stdout,
 * no pid file.  The model's id is its folder's name unless --name says
 * otherwise; the web page and the engine modules are found next to the
 * lmd binary (a build tree's objs/lmd, an installed sbin/lmd), else in
 * the configured prefix.
 *
 * A value the loader refuses is reported against its option, without the
 * position in the generated text, which the user never saw.  SIGHUP has
 * no file to read again: the daemon logs that the reload failed and goes
 * on as it was.
 *
 * Exit status: the daemon's (0 stopped, 1 failed), 2 usage error.
 */

#include "lmd_core.h"
#include "lmd_cmd.h"
#include "lmd_conf.h"
#include "lmd_daemon.h"
#include "lmd_module_load.h"

#include <libgen.h>
#include <limits.h>
#include <sys/stat.h>

#define LMD_SERVE_MAX_KEYS  16

/* The name the generated configuration goes by in messages. */
#define LMD_SERVE_CONF      "lmd serve"

struct lmd_serve_opts {
    const char  *dir;
    const char  *listen;
    const char  *name;
    const char  *engine;
    const char  *weights;
    const char  *threads;
    const char  *kv_cache;
    const char  *html;
    const char  *modules;
    const char  *keys[LMD_SERVE_MAX_KEYS];
    size_t       nkeys;
};

/* Which option a key of the generated configuration came from. */
static const struct {
    const char  *key;
    const char  *option;
} lmd_serve_keys[] = {
    { "http.listen", "--listen" },
    { "models[0].name", "--name" },
    { "models[0].engine", "--engine" },
    { "models[0].weights", "--weights" },
    { "models[0].threads", "--threads" },
    { "models[0].kv_cache.codec", "--kv-cache" },
    { "models[0].path", "MODEL_DIR" },
    { "http.auth.api_keys", "--api-key" },
    { "http.html", "--html" },
    { "modules_path", "--modules" },
};


static void
lmd_serve_usage(FILE *out)
{
    fprintf(out,
        "Usage: lmd serve MODEL_DIR [options]\n"
        "\n"
        "Serves the model in MODEL_DIR (a Hugging Face folder) over HTTP in "
        "the\n"
        "foreground: the OpenAI API under /v1, the chat page at /, /health "
        "and\n"
        "/metrics.  Everything not set here has lmd.yaml(5)'s default; "
        "lmd -c FILE\n"
        "serves from a configuration file instead.\n"
        "\n"
        "  --listen ADDR:PORT    where to listen (default 127.0.0.1:8080)\n"
        "  --name NAME           the model id of API requests (default: "
        "the\n"
        "                        folder's name)\n"
        "  --engine NAME         engine module: cpu (default), cuda-awq\n"
        "  --weights W           compute dtype: auto (default, as stored), "
        "f32,\n"
        "                        f16, bf16, int8\n"
        "  --threads N           engine threads (default 0: every core)\n"
        "  --kv-cache CODEC      KV cache codec: auto (default, the "
        "engine's own)\n"
        "  --api-key KEY         require \"Authorization: Bearer KEY\" on "
        "the API\n"
        "                        (repeat for more keys)\n"
        "  --html DIR            the chat page's folder (default: the one "
        "next\n"
        "                        to lmd, or the installed one)\n"
        "  --modules DIR         the engine modules' folder (default: the "
        "same\n"
        "                        way)\n"
        "  -h, --help            show this help\n"
        "\n"
        "The error log goes to stderr, one access log line per request to "
        "stdout.\n"
        "Ctrl-C stops (requests in progress get 30 s to finish).\n"
        "Exit status: 0 stopped, 1 failed, 2 usage error.  See "
        "lmd-serve(1).\n");
}


static const char  lmd_serve_usage_line[] =
    "Usage: lmd serve MODEL_DIR [options] (see lmd serve --help)\n";


/* A usage error: the message, the usage line, status 2. */
static int
lmd_serve_bad(const char *fmt, const char *arg)
{
    fputs("lmd serve: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    fputs(lmd_serve_usage_line, stderr);
    return 2;
}


/* Returns -1 to go on, or the exit status. */
static int
lmd_serve_parse_args(int argc, char **argv, struct lmd_serve_opts *o)
{
    static const struct {
        const char   *name;
        size_t        offset;
    } opts[] = {
        { "--listen", offsetof(struct lmd_serve_opts, listen) },
        { "--name", offsetof(struct lmd_serve_opts, name) },
        { "--engine", offsetof(struct lmd_serve_opts, engine) },
        { "--weights", offsetof(struct lmd_serve_opts, weights) },
        { "--threads", offsetof(struct lmd_serve_opts, threads) },
        { "--kv-cache", offsetof(struct lmd_serve_opts, kv_cache) },
        { "--html", offsetof(struct lmd_serve_opts, html) },
        { "--modules", offsetof(struct lmd_serve_opts, modules) },
    };
    const char  **field;
    char         *a;
    size_t        k;
    int           i;

    for (i = 1; i < argc; i++) {
        a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            lmd_serve_usage(stdout);
            return 0;
        }

        for (k = 0; k < lmd_nelems(opts); k++) {
            if (strcmp(a, opts[k].name) == 0) {
                break;
            }
        }
        if (k < lmd_nelems(opts) || strcmp(a, "--api-key") == 0) {
            if (i + 1 >= argc) {
                return lmd_serve_bad("%s needs a value", a);
            }
            if (k < lmd_nelems(opts)) {
                field = (const char **) (void *) ((char *) o
                                                  + opts[k].offset);
                *field = argv[++i];
            } else if (o->nkeys == LMD_SERVE_MAX_KEYS) {
                return lmd_serve_bad("at most 16 %s options", a);
            } else {
                o->keys[o->nkeys++] = argv[++i];
            }
            continue;
        }

        if (a[0] == '-' && a[1] != '\0') {
            return lmd_serve_bad("unknown option \"%s\"", a);
        }
        if (o->dir != NULL) {
            return lmd_serve_bad("unexpected argument \"%s\" (one model "
                                 "folder only)", a);
        }
        o->dir = a;
    }

    if (o->dir == NULL) {
        return lmd_serve_bad("no model folder given%s", "");
    }
    return -1;
}


/* ------------------------------------------------------------ finding */

/* dir/file exists. */
static int
lmd_serve_exists(const char *dir, const char *file)
{
    char  path[PATH_MAX];

    if (snprintf(path, sizeof(path), "%s/%s", dir, file)
        >= (int) sizeof(path))
    {
        return 0;
    }
    return access(path, F_OK) == 0;
}


/*
 * Fills out with the folder `name` (html, modules) for the running
 * binary: BINDIR/../name when it holds file (a build tree or an
 * installed prefix), else the prefix's own.
 */
static void
lmd_serve_find(const char *name, const char *file, char *out, size_t len)
{
    char     exe[PATH_MAX], cand[PATH_MAX], real[PATH_MAX];
    ssize_t  n;

    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        if (snprintf(cand, sizeof(cand), "%s/../%s", dirname(exe), name)
            < (int) sizeof(cand) && lmd_serve_exists(cand, file)
            && realpath(cand, real) != NULL)
        {
            snprintf(out, len, "%s", real);
            return;
        }
    }
    snprintf(out, len, "%s%s", LMD_PREFIX, name);
}


/* ------------------------------------------------------------- the YAML */

/* s as a YAML double-quoted scalar: quote, backslash and controls are
 * escaped, every other byte is copied (the loader checks the UTF-8). */
static void
lmd_serve_str(FILE *out, const char *s)
{
    const unsigned char  *p;

    fputc('"', out);
    for (p = (const unsigned char *) s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            fputc('\\', out);
            fputc(*p, out);
        } else if (*p < 0x20 || *p == 0x7f) {
            fprintf(out, "\\x%02x", *p);
        } else {
            fputc(*p, out);
        }
    }
    fputc('"', out);
}


static void
lmd_serve_kv(FILE *out, int indent, const char *key, const char *value)
{
    if (value == NULL) {
        return;
    }
    fprintf(out, "%*s%s: ", indent, "", key);
    lmd_serve_str(out, value);
    fputc('\n', out);
}


/* The configuration text; NULL when out of memory. */
static char *
lmd_serve_yaml(const struct lmd_serve_opts *o, const char *name,
    const char *path, const char *html, const char *modules, size_t *len)
{
    FILE    *out;
    char    *buf;
    size_t   i;

    buf = NULL;
    out = open_memstream(&buf, len);
    if (out == NULL) {
        return NULL;
    }

    fputs("daemon:\n"
          "  pid: \"off\"\n"
          "  error_log: stderr\n"
          "  access_log: stdout\n"
          "http:\n", out);
    lmd_serve_kv(out, 2, "listen", o->listen ? o->listen : "127.0.0.1:8080");
    lmd_serve_kv(out, 2, "html", html);
    if (o->nkeys > 0) {
        fputs("  auth:\n    api_keys:\n", out);
        for (i = 0; i < o->nkeys; i++) {
            fputs("      - ", out);
            lmd_serve_str(out, o->keys[i]);
            fputc('\n', out);
        }
    }

    fputs("models:\n  - ", out);
    lmd_serve_kv(out, 0, "name", name);
    lmd_serve_kv(out, 4, "path", path);
    lmd_serve_kv(out, 4, "engine", o->engine);
    lmd_serve_kv(out, 4, "weights", o->weights);
    lmd_serve_kv(out, 4, "threads", o->threads);
    if (o->kv_cache != NULL) {
        fputs("    kv_cache:\n", out);
        lmd_serve_kv(out, 6, "codec", o->kv_cache);
    }
    lmd_serve_kv(out, 0, "modules_path", modules);

    if (fclose(out) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}


/*
 * Reports a message of the loader against the option it came from:
 * "lmd serve: --threads: expected an integer from 0 to 4096 for
 * models[0].threads".  The "file:line:column: " head is dropped.
 */
static int
lmd_serve_conf_error(const struct lmd_serve_opts *o, const char *name,
    const char *err)
{
    const char  *msg, *p;
    char         pat[64];
    size_t       k;
    int          i;

    /* Skip "lmd serve:LINE:COLUMN: " or "lmd serve: ". */
    msg = err;
    if (strncmp(msg, LMD_SERVE_CONF ":", sizeof(LMD_SERVE_CONF)) == 0) {
        msg += sizeof(LMD_SERVE_CONF);
        for (i = 0; i < 2; i++) {
            p = msg + strspn(msg, "0123456789");
            if (p > msg && *p == ':') {
                msg = p + 1;
            }
        }
        msg += strspn(msg, " ");
    }

    for (k = 0; k < lmd_nelems(lmd_serve_keys); k++) {
        snprintf(pat, sizeof(pat), " %s", lmd_serve_keys[k].key);
        p = strstr(msg, pat);
        if (p == NULL || (p[strlen(pat)] != '\0' && p[strlen(pat)] != '['
                          && p[strlen(pat)] != '.' && p[strlen(pat)] != ' '))
        {
            continue;
        }
        if (strcmp(lmd_serve_keys[k].option, "--name") == 0
            && o->name == NULL)
        {
            fprintf(stderr, "lmd serve: the folder name \"%s\" is not a "
                    "valid model id (1 to 128 letters, digits or . _ : / "
                    "-): give one with --name\n", name);
        } else {
            fprintf(stderr, "lmd serve: %s: %s\n",
                    lmd_serve_keys[k].option, msg);
        }
        fputs(lmd_serve_usage_line, stderr);
        return 2;
    }
    fprintf(stderr, "lmd serve: %s\n", msg);
    fputs(lmd_serve_usage_line, stderr);
    return 2;
}


int
lmd_cmd_serve(int argc, char **argv)
{
    struct lmd_serve_opts   o;
    struct lmd_conf        *conf;
    struct stat             sb;
    const char             *name;
    char                    real[PATH_MAX], prefix[PATH_MAX];
    char                    html[PATH_MAX], modules[PATH_MAX];
    char                    engine_file[128], err[LMD_ERR_LEN];
    char                   *yaml;
    size_t                  len;
    int                     rc;

    memset(&o, 0, sizeof(o));
    rc = lmd_serve_parse_args(argc, argv, &o);
    if (rc >= 0) {
        return rc;
    }

    /* A folder without config.json would only fail once the daemon has
     * started: say so now. */
    if (realpath(o.dir, real) == NULL || stat(real, &sb) != 0) {
        fprintf(stderr, "lmd serve: %s: %s\n", o.dir, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(sb.st_mode) || !lmd_serve_exists(real, "config.json")) {
        fprintf(stderr, "lmd serve: %s is not a model folder (no "
                "config.json in it)\n", o.dir);
        return 1;
    }
    name = o.name ? o.name : basename(real);

    /* Relative paths in the options are the user's: from the cwd. */
    if (getcwd(prefix, sizeof(prefix)) == NULL) {
        fprintf(stderr, "lmd serve: cannot get the current folder: %s\n",
                strerror(errno));
        return 1;
    }
    if (o.html == NULL) {
        lmd_serve_find("html", "index.html", html, sizeof(html));
    }
    if (o.modules == NULL) {
        /* A bad engine name finds no file; the loader names the fault. */
        if (lmd_module_file_name(o.engine ? o.engine : "cpu",
                                 LMD_MODULE_ENGINE, engine_file,
                                 sizeof(engine_file)) != LMD_OK)
        {
            engine_file[0] = '\0';
        }
        lmd_serve_find("modules", engine_file, modules, sizeof(modules));
    }

    yaml = lmd_serve_yaml(&o, name, real, o.html ? o.html : html,
                          o.modules ? o.modules : modules, &len);
    if (yaml == NULL) {
        fprintf(stderr, "lmd serve: out of memory\n");
        return 1;
    }
    conf = lmd_conf_load_string(yaml, len, LMD_SERVE_CONF, prefix, err,
                                sizeof(err));
    free(yaml);
    if (conf == NULL) {
        return lmd_serve_conf_error(&o, name, err);
    }

    /* The module is looked for now, for a message without the position
     * in the generated text; the daemon checks the rest. */
    if (lmd_module_file_name(conf->models[0].engine, LMD_MODULE_ENGINE,
                             engine_file, sizeof(engine_file)) != LMD_OK
        || !lmd_serve_exists(conf->modules_path, engine_file))
    {
        fprintf(stderr, "lmd serve: engine \"%s\": %s/%s not found (was "
                "the module built? --modules DIR says where it is)\n",
                conf->models[0].engine, conf->modules_path, engine_file);
        lmd_conf_unref(conf);
        return 1;
    }

    /* The daemon keeps both strings for reloads: they must outlive conf
     * (a reload may free it), as this frame does. */
    rc = lmd_daemon_run(conf, LMD_SERVE_CONF, prefix);
    lmd_conf_unref(conf);
    return rc;
}
