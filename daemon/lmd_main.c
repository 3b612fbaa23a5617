/*
 * lmd_main.c -- the command line: `lmd [-c FILE] [-p PREFIX] [-t] [-T]
 * [-s SIGNAL] [-v] [-h]` with nginx's meanings, and the subcommands
 * (tokenize, template, generate, chat, demo-model, bench, serve).
 */

#include "lmd_core.h"
#include "lmd_cmd.h"
#include "lmd_conf.h"
#include "lmd_daemon.h"
#include "lmd_event.h"
#include "lmd_models.h"
#include "lmd_module.h"
#include "lmd_process.h"
#include "lmd_tls.h"

#include <limits.h>

#include <cjson/cJSON.h>
#include <llhttp.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <yaml.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

struct lmd_options {
    const char  *conf_file;
    const char  *prefix;
    const char  *signal;
    int          test;           /* -t */
    int          dump;           /* -T */
};

/* Subcommands: the ones built, then the ones reserved for later. */
static const struct {
    const char  *name;
    int        (*run)(int argc, char **argv);
} lmd_subcommands[] = {
    { "tokenize", lmd_cmd_tokenize },
    { "template", lmd_cmd_template },
    { "generate", lmd_cmd_generate },
    { "chat", lmd_cmd_chat },
    { "demo-model", lmd_cmd_demo },
    { "bench", lmd_cmd_bench },
    { "serve", lmd_cmd_serve },
};


static void
lmd_usage(FILE *out)
{
    fprintf(out,
        "Usage: lmd [-c file] [-p prefix] [-t] [-T] [-s signal] [-v] [-h]\n"
        "\n"
        "Options:\n"
        "  -c file    configuration file (default: prefix/"
        LMD_CONF_PATH ")\n"
        "  -p prefix  prefix for relative paths (default: " LMD_PREFIX
        ")\n"
        "  -t         test the configuration and exit\n"
        "  -T         test the configuration, print it and exit\n"
        "  -s signal  send signal to the running lmd: stop, quit, "
        "reload, reopen\n"
        "  -v         show version and build facts and exit\n"
        "  -h         show this help and exit\n"
        "\n"
        "Subcommands:\n"
        "  lmd tokenize MODEL_DIR [--special] [--json] [--tokens] TEXT|-\n"
        "  lmd tokenize MODEL_DIR --decode [--skip-special] IDS...|-\n"
        "  lmd template MODEL_DIR --messages FILE.json|- "
        "[--add-generation-prompt]\n"
        "               [--template FILE] [--tools FILE.json]\n"
        "  lmd generate MODEL_DIR --prompt TEXT [--max-tokens N] "
        "[--temperature T]\n"
        "               [--json] [--engine NAME] ... (lmd generate -h)\n"
        "  lmd chat MODEL_DIR [--system TEXT] [--max-tokens N] ... "
        "(lmd chat -h)\n"
        "  lmd demo-model DIR [--seed S]\n"
        "  lmd bench URL [--concurrency C | --rate R] ... "
        "(lmd bench -h)\n"
        "  lmd serve MODEL_DIR [--listen ADDR:PORT] [--name NAME] ... "
        "(lmd serve -h)\n"
        "See lmd(8) and lmd.yaml(5).\n");
}


static void
lmd_version(void)
{
    char  pcre[32];

    pcre2_config(PCRE2_CONFIG_VERSION, pcre);
    printf(LMD_NAME " version " LMD_VERSION "\n");
#ifdef LMD_BUILD_CC
    printf("built with %s\n", LMD_BUILD_CC);
#endif
    printf("libevent %s, %s, llhttp %d.%d.%d, cJSON %s, libyaml %s, "
           "PCRE2 %s\n", lmd_event_version(),
           OpenSSL_version(OPENSSL_VERSION), LLHTTP_VERSION_MAJOR,
           LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH, cJSON_Version(),
           yaml_get_version_string(), pcre);
#if (LMD_HAVE_CUDA)
    printf("CUDA: yes\n");
#else
    printf("CUDA: no\n");
#endif
    printf("module ABI: %s\n", LMD_MODULE_SIGNATURE);
#if (LMD_DEBUG)
    printf("debug build (ASan/UBSan)\n");
#endif
    printf("prefix: " LMD_PREFIX "\n");
}


/* Parses argv nginx-style: "-c file" or "-cfile".  Returns LMD_OK, LMD_DONE
 * (help or version printed) or LMD_ERROR (message printed). */
static int
lmd_parse_args(int argc, char **argv, struct lmd_options *o)
{
    const char  *p, **target;
    int          i;

    for (i = 1; i < argc; i++) {
        p = argv[i];
        if (p[0] != '-' || p[1] == '\0') {
            fprintf(stderr, "lmd: unexpected argument \"%s\"\n", p);
            return LMD_ERROR;
        }
        for (p++; *p; p++) {
            switch (*p) {
            case 't': o->test = 1; continue;
            case 'T': o->test = 1; o->dump = 1; continue;
            case 'v': case 'V': lmd_version(); return LMD_DONE;
            case 'h': case '?': lmd_usage(stdout); return LMD_DONE;
            case 'c': target = &o->conf_file; break;
            case 'p': target = &o->prefix; break;
            case 's': target = &o->signal; break;
            default:
                fprintf(stderr, "lmd: invalid option \"-%c\"\n", *p);
                lmd_usage(stderr);
                return LMD_ERROR;
            }
            /* an option with an argument ends this word */
            if (p[1] != '\0') {
                *target = p + 1;
            } else if (i + 1 < argc) {
                *target = argv[++i];
            } else {
                fprintf(stderr, "lmd: option \"-%c\" requires an argument"
                        "\n", *p);
                return LMD_ERROR;
            }
            break;
        }
    }
    return LMD_OK;
}


/* The things -t checks beyond the YAML: certificates and modules. */
static int
lmd_test_conf(const struct lmd_conf *conf, char *err, size_t errlen)
{
    const struct lmd_conf_listen  *ls;
    SSL_CTX                       *ctx;
    char                           why[LMD_ERR_LEN / 2];
    size_t                         i;

    for (i = 0; i < conf->http.nlisten; i++) {
        ls = &conf->http.listen[i];
        if (ls->tls_cert == NULL) {
            continue;
        }
        ctx = lmd_tls_ctx_new(ls->tls_cert, ls->tls_key, why, sizeof(why));
        if (ctx == NULL) {
            snprintf(err, errlen, "%s:%d:%d: %s", conf->file, ls->line,
                     ls->column, why);
            return LMD_ERROR;
        }
        SSL_CTX_free(ctx);
    }
    return lmd_models_check(conf, err, errlen);
}


int
main(int argc, char **argv)
{
    struct lmd_options  o;
    struct lmd_conf    *conf;
    char                err[LMD_ERR_LEN], prefix[PATH_MAX], *conf_file;
    size_t              i;
    int                 rc;

    if (argc > 1 && argv[1][0] != '-') {
        for (i = 0; i < lmd_nelems(lmd_subcommands); i++) {
            if (strcmp(argv[1], lmd_subcommands[i].name) != 0) {
                continue;
            }
            if (lmd_subcommands[i].run != NULL) {
                return lmd_subcommands[i].run(argc - 1, argv + 1);
            }
            fprintf(stderr, "lmd: \"lmd %s\" is not available in this "
                    "version yet\n", argv[1]);
            return 2;
        }
        fprintf(stderr, "lmd: unknown command \"%s\" (see lmd -h)\n",
                argv[1]);
        return 2;
    }

    memset(&o, 0, sizeof(o));
    rc = lmd_parse_args(argc, argv, &o);
    if (rc != LMD_OK) {
        return rc == LMD_DONE ? 0 : 2;
    }

    /* An absolute prefix, so that nothing depends on the cwd later. */
    if (o.prefix == NULL) {
        o.prefix = LMD_PREFIX;
    }
    if (realpath(o.prefix, prefix) == NULL) {
        snprintf(prefix, sizeof(prefix), "%s", o.prefix);
    }
    if (o.conf_file != NULL) {
        conf_file = strdup(o.conf_file);
    } else {
        conf_file = malloc(strlen(prefix) + sizeof("/" LMD_CONF_PATH));
        if (conf_file != NULL) {
            snprintf(conf_file, strlen(prefix) + sizeof("/" LMD_CONF_PATH),
                     "%s/%s", prefix, LMD_CONF_PATH);
        }
    }
    if (conf_file == NULL) {
        fprintf(stderr, "lmd: out of memory\n");
        return 1;
    }

    conf = lmd_conf_load(conf_file, prefix, err, sizeof(err));

    if (o.signal != NULL) {
        rc = 1;
        if (conf == NULL) {
            fprintf(stderr, "lmd: %s\n", err);
        } else if (strcmp(conf->daemon.pid, "off") == 0) {
            fprintf(stderr, "lmd: daemon.pid is off in %s: no pid file to "
                    "send the signal through\n", conf_file);
        } else if (lmd_signal_process(conf->daemon.pid, o.signal, err,
                                      sizeof(err)) != LMD_OK)
        {
            fprintf(stderr, "lmd: %s\n", err);
        } else {
            rc = 0;
        }
        goto done;
    }

    if (o.test) {
        if (conf == NULL || lmd_test_conf(conf, err, sizeof(err)) != LMD_OK)
        {
            fprintf(stderr, "lmd: %s\nlmd: configuration file %s test "
                    "failed\n", err, conf_file);
            rc = 1;
            goto done;
        }
        fprintf(stderr, "lmd: the configuration file %s syntax is ok\n"
                "lmd: configuration file %s test is successful\n",
                conf_file, conf_file);
        if (o.dump) {
            lmd_conf_dump(conf, stdout);
        }
        rc = 0;
        goto done;
    }

    if (conf == NULL) {
        lmd_log_error(LMD_LOG_ERR, lmd_error_log, 0, "%s", err);
        rc = 1;
        goto done;
    }
    rc = lmd_daemon_run(conf, conf_file, prefix);

done:
    if (conf != NULL) {
        lmd_conf_unref(conf);
    }
    free(conf_file);
    return rc;
}
