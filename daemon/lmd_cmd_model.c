/*
 * lmd_cmd_model.c -- the model half of `lmd generate` and `lmd chat`:
 * their shared options, the engine module's folder, and a model folder
 * opened on an engine with one session (lmd_cmd_model.h).
 *
 * The modules folder is --modules when given, else `../modules` next to
 * the running binary (objs/lmd -> modules/, PREFIX/sbin/lmd ->
 * PREFIX/modules/) when it holds the engine, else the compiled-in
 * PREFIX/modules.  So the commands work in the source tree right after
 * make, and installed, with no option.
 */

#include "lmd_core.h"
#include "lmd_cmd_model.h"

#include <dirent.h>
#include <libgen.h>
#include <math.h>
#include <sys/stat.h>


const char  lmd_cmd_model_usage[] =
    "Model:\n"
    "  --engine NAME         engine module (default cpu)\n"
    "  --threads N           engine threads (default 0: every core)\n"
    "  --weights W           auto (as stored), f32, f16, bf16 or int8\n"
    "  --load-format F       auto, or dummy (random weights from "
    "config.json)\n"
    "  --kv-cache CODEC      auto (the engine's own), or a KV codec "
    "module\n"
    "  --modules DIR         where the modules are (default: found)\n"
    "Sampling:\n"
    "  --max-tokens N        tokens to generate at most\n"
    "  --temperature T       0 is greedy\n"
    "  --top-p P             nucleus sampling, 1 is off\n"
    "  --top-k K             0 is off\n"
    "  --min-p P             0 is off\n"
    "  --repetition-penalty R  1 is off\n"
    "  --seed S              sampling (and dummy weights) seed "
    "(default 0)\n";


void
lmd_cmd_model_defaults(struct lmd_cmd_model_opts *o, const char *cmd)
{
    memset(o, 0, sizeof(*o));
    o->cmd = cmd;
    o->engine = "cpu";
    o->weights = "auto";
    o->load_format = "auto";
    o->kv_cache = "auto";
    o->max_tokens = 128;
    o->has_seed = 1;                /* seed 0: the same output every run */
    lmd_sampling_defaults(&o->sampling);
    o->sampling.temperature = 0.0f;
}


double
lmd_cmd_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


/* ---------------------------------------------------------------- options */

static int
lmd_cmd_float(const struct lmd_cmd_model_opts *o, const char *opt,
    const char *s, double min, double max, int open_min, float *out)
{
    char    *end;
    double   v;

    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || v < min
        || v > max || (open_min && v == min))
    {
        fprintf(stderr, "lmd %s: %s: expected a number %s %g and <= %g, "
                "not \"%s\"\n", o->cmd, opt, open_min ? ">" : ">=", min,
                max, s);
        return 1;
    }
    *out = (float) v;
    return 0;
}


static int
lmd_cmd_int(const struct lmd_cmd_model_opts *o, const char *opt,
    const char *s, long long min, long long max, long long *out)
{
    if (lmd_parse_int(s, min, max, out) != 0) {
        fprintf(stderr, "lmd %s: %s: expected an integer from %lld to "
                "%lld, not \"%s\"\n", o->cmd, opt, min, max, s);
        return 1;
    }
    return 0;
}


static int
lmd_cmd_word(const struct lmd_cmd_model_opts *o, const char *opt,
    const char *s, const char *const *words)
{
    size_t  i;

    for (i = 0; words[i] != NULL; i++) {
        if (strcmp(s, words[i]) == 0) {
            return 0;
        }
    }
    fprintf(stderr, "lmd %s: %s: expected ", o->cmd, opt);
    for (i = 0; words[i] != NULL; i++) {
        fprintf(stderr, "%s%s", i == 0 ? "" : words[i + 1] ? ", " : " or ",
                words[i]);
    }
    fprintf(stderr, ", not \"%s\"\n", s);
    return 1;
}


int
lmd_cmd_model_option(struct lmd_cmd_model_opts *o, int argc, char **argv,
    int *i)
{
    static const char *const  weights[] = {
        "auto", "f32", "f16", "bf16", "int8", NULL
    };
    static const char *const  formats[] = { "auto", "dummy", NULL };
    static const char *const  with_value[] = {
        "--engine", "--threads", "--weights", "--load-format", "--kv-cache",
        "--modules", "--max-tokens", "--temperature", "--top-p", "--top-k",
        "--min-p", "--repetition-penalty", "--seed", NULL
    };
    const char               *a = argv[*i], *v;
    long long                 n;
    char                     *end;
    size_t                    k;

    if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
        o->verbose = 1;
        return 0;
    }
    for (k = 0; with_value[k] != NULL; k++) {
        if (strcmp(a, with_value[k]) == 0) {
            break;
        }
    }
    if (with_value[k] == NULL) {
        return -1;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "lmd %s: %s needs a value\n", o->cmd, a);
        return 2;
    }
    v = argv[++*i];

    if (strcmp(a, "--engine") == 0) {
        o->engine = v;
    } else if (strcmp(a, "--modules") == 0) {
        o->modules = v;
    } else if (strcmp(a, "--kv-cache") == 0) {
        o->kv_cache = v;
    } else if (strcmp(a, "--weights") == 0) {
        o->weights = v;
        return lmd_cmd_word(o, a, v, weights);
    } else if (strcmp(a, "--load-format") == 0) {
        o->load_format = v;
        return lmd_cmd_word(o, a, v, formats);
    } else if (strcmp(a, "--threads") == 0) {
        if (lmd_cmd_int(o, a, v, 0, 4096, &n) != 0) {
            return 1;
        }
        o->threads = (int) n;
    } else if (strcmp(a, "--max-tokens") == 0) {
        o->set |= LMD_CMD_SET_MAX_TOKENS;
        return lmd_cmd_int(o, a, v, 0, 1 << 24, &o->max_tokens);
    } else if (strcmp(a, "--temperature") == 0) {
        o->set |= LMD_CMD_SET_TEMPERATURE;
        return lmd_cmd_float(o, a, v, 0, 100, 0, &o->sampling.temperature);
    } else if (strcmp(a, "--top-p") == 0) {
        o->set |= LMD_CMD_SET_TOP_P;
        return lmd_cmd_float(o, a, v, 0, 1, 1, &o->sampling.top_p);
    } else if (strcmp(a, "--min-p") == 0) {
        return lmd_cmd_float(o, a, v, 0, 1, 0, &o->sampling.min_p);
    } else if (strcmp(a, "--repetition-penalty") == 0) {
        o->set |= LMD_CMD_SET_REPETITION;
        return lmd_cmd_float(o, a, v, 0, 100, 1,
                             &o->sampling.repetition_penalty);
    } else if (strcmp(a, "--top-k") == 0) {
        o->set |= LMD_CMD_SET_TOP_K;
        if (lmd_cmd_int(o, a, v, 0, 1 << 24, &n) != 0) {
            return 1;
        }
        o->sampling.top_k = (int) n;
    } else {                                            /* --seed */
        errno = 0;
        o->seed = strtoull(v, &end, 10);
        if (end == v || *end != '\0' || errno != 0 || v[0] == '-') {
            fprintf(stderr, "lmd %s: --seed: expected an integer from 0 "
                    "to %llu, not \"%s\"\n", o->cmd,
                    (unsigned long long) UINT64_MAX, v);
            return 1;
        }
        o->has_seed = 1;
    }
    return 0;
}


/* ---------------------------------------------------------------- modules */

/* "cpu, cuda-awq": the engines in dir, for the not-found message. */
static void
lmd_cmd_list_engines(const char *dir, char *buf, size_t len)
{
    struct dirent  *de;
    DIR            *d;
    size_t          n = 0, l;
    const char     *name;
    int             w;

    buf[0] = '\0';
    d = opendir(dir);
    if (d == NULL) {
        return;
    }
    while ((de = readdir(d)) != NULL) {
        name = de->d_name;
        l = strlen(name);
        if (strncmp(name, "lmd_engine_", 11) != 0 || l < 15
            || strcmp(name + l - 3, ".so") != 0)
        {
            continue;
        }
        w = snprintf(buf + n, len - n, "%s%.*s", n ? ", " : "",
                     (int) (l - 14), name + 11);
        if (w < 0 || (size_t) w >= len - n) {
            break;
        }
        n += (size_t) w;
    }
    closedir(d);
}


static int
lmd_cmd_exists(const char *dir, const char *file)
{
    char  path[PATH_MAX];

    if (snprintf(path, sizeof(path), "%s/%s", dir, file)
        >= (int) sizeof(path))
    {
        return 0;
    }
    return access(path, F_OK) == 0;
}


/* Fills m->modules_dir (see the top of the file); file is the engine's. */
static void
lmd_cmd_modules_dir(struct lmd_cmd_model *m,
    const struct lmd_cmd_model_opts *o, const char *file)
{
    char     exe[PATH_MAX], cand[PATH_MAX], real[PATH_MAX];
    ssize_t  n;

    if (o->modules != NULL) {
        snprintf(m->modules_dir, sizeof(m->modules_dir), "%s", o->modules);
        return;
    }

    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        if (snprintf(cand, sizeof(cand), "%s/../modules", dirname(exe))
            < (int) sizeof(cand) && lmd_cmd_exists(cand, file)
            && realpath(cand, real) != NULL)
        {
            snprintf(m->modules_dir, sizeof(m->modules_dir), "%s", real);
            return;
        }
    }

    /* LMD_PREFIX ends in '/', LMD_MODULES_PATH too: drop that one */
    snprintf(m->modules_dir, sizeof(m->modules_dir), "%s%s", LMD_PREFIX,
             LMD_MODULES_PATH);
    n = (ssize_t) strlen(m->modules_dir);
    if (n > 1 && m->modules_dir[n - 1] == '/') {
        m->modules_dir[n - 1] = '\0';
    }
}


/* The KV codec: "auto" is the engine's own cache; another name is a
 * codec of a built KV codec module (int8, int4: lmd_kv_int8.so), kept
 * open in m until lmd_cmd_model_close. */
static int
lmd_cmd_kv_codec(struct lmd_cmd_model *m,
    const struct lmd_cmd_model_opts *o)
{
    struct lmd_module_handle  *h;
    char                       file[256], err[LMD_ERR_LEN];

    if (strcmp(o->kv_cache, "auto") == 0) {
        return 0;
    }
    if (lmd_module_file_name(o->kv_cache, LMD_MODULE_KV_CODEC, file,
                             sizeof(file)) != LMD_OK)
    {
        fprintf(stderr, "lmd %s: kv-cache %s: not a module name\n", o->cmd,
                o->kv_cache);
        return 1;
    }
    if (!lmd_cmd_exists(m->modules_dir, file)) {
        fprintf(stderr, "lmd %s: kv-cache %s: %s/%s not found (the int8-kv "
                "module is not built)\n", o->cmd, o->kv_cache,
                m->modules_dir, file);
        return 1;
    }
    h = lmd_module_open(m->modules_dir, file, LMD_MODULE_KV_CODEC, err,
                        sizeof(err));
    if (h == NULL) {
        fprintf(stderr, "lmd %s: kv-cache %s: %s\n", o->cmd, o->kv_cache,
                err);
        return 1;
    }
    m->kv_codec = h->module->ops.kv_codec.find(o->kv_cache);
    if (m->kv_codec == NULL) {
        fprintf(stderr, "lmd %s: kv-cache %s: %s has no such codec\n",
                o->cmd, o->kv_cache, h->path);
        lmd_module_close(h);
        return 1;
    }
    m->codec_module = h;
    return 0;
}


/* ------------------------------------------------------------ the model */

void
lmd_cmd_model_add_eos(struct lmd_cmd_model *m, int32_t id)
{
    size_t  i;

    if (id < 0 || m->n_eos == LMD_CMD_MAX_EOS) {
        return;
    }
    for (i = 0; i < m->n_eos; i++) {
        if (m->eos[i] == id) {
            return;
        }
    }
    m->eos[m->n_eos++] = id;
}


int
lmd_cmd_model_is_eos(const struct lmd_cmd_model *m, int32_t id)
{
    size_t  i;

    for (i = 0; i < m->n_eos; i++) {
        if (m->eos[i] == id) {
            return 1;
        }
    }
    return 0;
}


int
lmd_cmd_model_load(struct lmd_cmd_model *m,
    const struct lmd_cmd_model_opts *o, int need_tokenizer)
{
    struct stat  st;
    char         err[LMD_ERR_LEN], file[256], engines[256];
    uint32_t     i;

    memset(m, 0, sizeof(*m));

    if (stat(o->dir, &st) != 0) {
        fprintf(stderr, "lmd %s: %s: no such model folder (%s)\n", o->cmd,
                o->dir, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "lmd %s: %s: not a folder (give the model's "
                "folder, holding config.json)\n", o->cmd, o->dir);
        return 1;
    }

    err[0] = '\0';
    if (lmd_model_config_load(o->dir, &m->cfg, err, sizeof(err)) != LMD_OK)
    {
        fprintf(stderr, "lmd %s: %s\n", o->cmd,
                err[0] ? err : "cannot read the model's config.json");
        return 1;
    }
    for (i = 0; i < m->cfg.n_eos && i < LMD_MODEL_MAX_EOS; i++) {
        lmd_cmd_model_add_eos(m, m->cfg.eos_ids[i]);
    }

    if (lmd_cmd_exists(o->dir, "tokenizer.json")
        || lmd_cmd_exists(o->dir, "tokenizer.model"))
    {
        err[0] = '\0';
        m->tok = lmd_tokenizer_load(o->dir, err, sizeof(err));
        if (m->tok == NULL) {
            fprintf(stderr, "lmd %s: %s\n", o->cmd,
                    err[0] ? err : "cannot load the tokenizer");
            return 1;
        }
        lmd_cmd_model_add_eos(m, lmd_tokenizer_eos_id(m->tok));
    } else if (need_tokenizer) {
        fprintf(stderr, "lmd %s: %s: no tokenizer.json or tokenizer.model "
                "in the folder\n", o->cmd, o->dir);
        return 1;
    }

    if (lmd_module_file_name(o->engine, LMD_MODULE_ENGINE, file,
                             sizeof(file)) != LMD_OK)
    {
        fprintf(stderr, "lmd %s: engine \"%s\": not a module name\n",
                o->cmd, o->engine);
        return 1;
    }
    lmd_cmd_modules_dir(m, o, file);
    if (!lmd_cmd_exists(m->modules_dir, file)) {
        lmd_cmd_list_engines(m->modules_dir, engines, sizeof(engines));
        fprintf(stderr, "lmd %s: engine \"%s\": %s/%s not found (%s%s; "
                "--modules DIR looks elsewhere)\n", o->cmd, o->engine,
                m->modules_dir, file,
                engines[0] ? "engines there: " : "no engine built there",
                engines);
        return 1;
    }
    if (lmd_cmd_kv_codec(m, o) != 0) {
        return 1;
    }

    err[0] = '\0';
    m->module = lmd_module_open(m->modules_dir, file, LMD_MODULE_ENGINE,
                                err, sizeof(err));
    if (m->module == NULL) {
        fprintf(stderr, "lmd %s: engine \"%s\": %s\n", o->cmd, o->engine,
                err);
        return 1;
    }
    if (m->module->module->ops.engine.probe != NULL) {
        err[0] = '\0';
        if (m->module->module->ops.engine.probe(lmd_session_stderr_host(),
                                                err, sizeof(err)) != 1)
        {
            fprintf(stderr, "lmd %s: engine \"%s\" cannot run here: %s\n",
                    o->cmd, o->engine, err[0] ? err : "its probe failed");
            return 1;
        }
    }
    return 0;
}


int
lmd_cmd_model_open(struct lmd_cmd_model *m,
    const struct lmd_cmd_model_opts *o, uint32_t max_tokens)
{
    struct lmd_engine_params  params;
    char                      err[LMD_ERR_LEN];

    memset(&params, 0, sizeof(params));
    params.name = o->dir;
    params.path = o->dir;
    params.load_format = o->load_format;
    params.weights = o->weights;
    params.seed = o->seed;
    params.threads = o->threads;
    params.kv_codec = m->kv_codec;

    err[0] = '\0';
    m->session = lmd_session_open(m->module->module,
                                  lmd_session_stderr_host(), &params,
                                  max_tokens, err, sizeof(err));
    if (m->session == NULL) {
        fprintf(stderr, "lmd %s: %s\n", o->cmd,
                err[0] ? err : "the engine could not open the model");
        return 1;
    }
    return 0;
}


void
lmd_cmd_model_close(struct lmd_cmd_model *m)
{
    lmd_session_close(m->session);
    m->session = NULL;
    lmd_module_close(m->module);
    m->module = NULL;
    lmd_module_close(m->codec_module);
    m->codec_module = NULL;
    m->kv_codec = NULL;
    lmd_tokenizer_free(m->tok);
    m->tok = NULL;
}
