/*
 * conf_test.c -- what the config tests share (included by test_conf.c and
 * test_conf_serve.c, like model_ref.c): loading YAML from a string as
 * "t.yaml" under prefix "/p", expecting an exact error or success, and
 * the -T dump as a string.
 */

#include <stdio.h>
#include <string.h>

#include "lmd_conf.h"
#include "lmd_test.h"


static struct lmd_conf *
load(const char *yaml, char *err)
{
    return lmd_conf_load_string(yaml, strlen(yaml), "t.yaml", "/p", err,
                                LMD_ERR_LEN);
}


/* Loads yaml expecting failure with exactly the message want. */
static void
expect_error_at(const char *yaml, const char *want, const char *file,
    int line)
{
    struct lmd_conf  *conf;
    char              err[LMD_ERR_LEN];

    conf = load(yaml, err);
    if (!lmd_test_check(conf == NULL, file, line, "conf == NULL",
                        "loaded although bad:\n%s", yaml))
    {
        lmd_conf_unref(conf);
        return;
    }
    lmd_test_streq(err, want, file, line);
}

#define expect_error(yaml, want)                                              \
    expect_error_at((yaml), (want), __FILE__, __LINE__)


/* Loads yaml expecting success; prints the error otherwise. */
static struct lmd_conf *
load_ok_at(const char *yaml, const char *file, int line)
{
    struct lmd_conf  *conf;
    char              err[LMD_ERR_LEN];

    conf = load(yaml, err);
    lmd_test_check(conf != NULL, file, line, "conf != NULL", "%s", err);
    return conf;
}

#define load_ok(yaml)  load_ok_at((yaml), __FILE__, __LINE__)


/* The dump of conf as a malloc'd string. */
static char *
dump(const struct lmd_conf *conf)
{
    FILE    *fp;
    char    *buf;
    size_t   len;

    buf = NULL;
    fp = open_memstream(&buf, &len);
    if (fp == NULL) {
        return NULL;
    }
    lmd_conf_dump(conf, fp);
    fclose(fp);
    return buf;
}
