/*
 * lmd_bench_cpu.c -- the cpu engine's decode and prompt speed next to
 * the memory-bandwidth floor, in one process (`make bench-cpu`).
 *
 *   lmd_bench_cpu --model DIR [--weights f32|bf16|int8|f16|auto]
 *                 [--threads N] [--prompt N] [--gen N] [--reps R]
 *                 [--modules DIR] [--vocab N] [--seed S] [--bw-mib M]
 *                 [--json] [--verbose]
 *
 * Loads DIR's model (config.json alone: load_format "dummy", seeded random
 * weights) with the engine module DIR/lmd_engine_cpu.so (--modules,
 * default "modules"), dlopened here like the daemon's loader does, and
 * drives its hooks directly (open, memory, kv_init, forward) for one
 * sequence.  In the same process it measures:
 *
 *   bw      memory read bandwidth: --threads threads summing a --bw-mib
 *           (default 1024) MiB buffer, far larger than the caches; the
 *           best of 5 passes, before the model loads and again after
 *           the timed runs (this machine's bandwidth drifts)
 *   prompt  tokens/s of one forward over --prompt seeded random ids from
 *           an empty cache (best of --reps)
 *   decode  tokens/s over --gen tokens fed one at a time after that
 *           prompt, each step asking for one row of logits (the whole
 *           run's rate, best of --reps)
 *   floor   the decode rate a pure weight stream would reach: weight
 *           bytes read per decoded token (see floor_bytes()) / bw
 *
 * --vocab N runs the shape with vocab_size N instead (a copy of
 * config.json in a temporary folder: dummy loading reads nothing else),
 * to match a peer measured with another vocabulary.
 *
 * Output: one line per run, e.g.
 *   qwen2.5-0.5b bf16  decode 33.1 tok/s (floor 38.0 = 0.87)  prompt 310
 *   tok/s  bw 35.2 GB/s
 * and with --json one JSON object on the next line.  GB is 10^9 bytes.
 * Exit status: 0; 1 when the module or the model cannot be used; 2 on
 * bad arguments.
 */

#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lmd_module.h"

#define BENCH_BLOCK      64         /* KV block size, tokens */
#define BENCH_BW_PASSES  5

struct bench_opts {
    const char     *model;
    const char     *weights;
    const char     *modules;
    int             threads;
    uint32_t        prompt;
    uint32_t        gen;
    int             reps;
    uint32_t        vocab;          /* 0: config's */
    uint64_t        seed;
    size_t          bw_mib;
    int             json;
    int             verbose;
};

/* What the floor needs from config.json. */
struct bench_shape {
    uint64_t        vocab, hidden, inter, layers, heads, kv_heads;
    uint64_t        head_dim;
    int             tied;
    int             qkv_bias;
    int             torch_bytes;    /* 2 or 4: the "auto" weights */
};

static double
now_s(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}


/* --------------------------------------------------------- the host */

static void
host_log(int level, const char *fmt, ...)
{
    va_list  ap;

    if (level > LMD_HOST_LOG_NOTICE) {
        return;
    }
    fprintf(stderr, "lmd_bench_cpu: engine: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}


static uint64_t
host_now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}


static const struct lmd_host  bench_host = {
    LMD_MODULE_ABI_VERSION, host_log, host_now_ns, { NULL }
};


/* ---------------------------------------------------- the bandwidth */

/*
 * This machine's read bandwidth is not one number: it swings between
 * about 30 and 60 GB/s over seconds, whatever reads it.  So the buffer
 * is read in a few passes before the model loads, before and after
 * each timed repetition, and at the end.  The floor uses the best pass
 * of all (the most demanding floor); the "local" ratio compares each
 * repetition's decode with the best pass just before or after it (how
 * near the memory bound it ran, bandwidth swings aside), the best
 * repetition's.  The JSON also gives the worst pass.
 */

struct bench_bw {
    uint64_t       *buf;
    size_t          words;
    int             threads;
    double          best, worst;    /* bytes/s */
};

#if defined(__x86_64__)
#include <immintrin.h>

/* Four 32-byte sums, so that loads, not the add chain, set the pace. */
__attribute__((target("avx2")))
static uint64_t
bw_sum_avx2(const uint64_t *p, size_t n)
{
    __m256i   s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t  o[4];
    size_t    i;

    for (i = 0; i + 16 <= n; i += 16) {
        s0 = _mm256_add_epi64(s0, _mm256_load_si256((const void *) (p + i)));
        s1 = _mm256_add_epi64(s1,
                 _mm256_load_si256((const void *) (p + i + 4)));
        s2 = _mm256_add_epi64(s2,
                 _mm256_load_si256((const void *) (p + i + 8)));
        s3 = _mm256_add_epi64(s3,
                 _mm256_load_si256((const void *) (p + i + 12)));
    }
    s0 = _mm256_add_epi64(_mm256_add_epi64(s0, s1),
                          _mm256_add_epi64(s2, s3));
    _mm256_storeu_si256((void *) o, s0);
    return o[0] + o[1] + o[2] + o[3];
}
#endif

static uint64_t
bw_sum(const uint64_t *p, size_t n)
{
    uint64_t  s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t    i;

#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) {
        return bw_sum_avx2(p, n);
    }
#endif
    for (i = 0; i + 4 <= n; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
    }
    return s0 + s1 + s2 + s3;
}


struct bench_bw_arg {
    const uint64_t *p;
    size_t          n;              /* words */
    uint64_t        sum;
};

static void *
bw_thread(void *arg)
{
    struct bench_bw_arg  *a = arg;

    a->sum = bw_sum(a->p, a->n);
    return NULL;
}


static int
bw_init(struct bench_bw *bw, int threads, size_t mib)
{
    size_t  bytes = mib << 20, i;

    memset(bw, 0, sizeof(*bw));
    bw->threads = threads < 64 ? threads : 64;
    bw->buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (bw->buf == MAP_FAILED) {
        fprintf(stderr, "lmd_bench_cpu: bandwidth buffer of %zu MiB: %s\n",
                mib, strerror(errno));
        bw->buf = NULL;
        return -1;
    }
    (void) madvise(bw->buf, bytes, MADV_HUGEPAGE);
    bw->words = bytes / sizeof(uint64_t);
    /* Written, not just mapped: untouched pages all read the one zero
     * page, which sits in the cache. */
    for (i = 0; i < bw->words; i++) {
        bw->buf[i] = i * 0x9e3779b97f4a7c15ULL;
    }
    return 0;
}


/* Reads the buffer `passes` times, each thread a contiguous share;
 * returns the best of these passes, bytes/s. */
static double
bw_measure(struct bench_bw *bw, int passes)
{
    struct bench_bw_arg  arg[64];
    pthread_t            tid[64];
    struct timespec      idle = { 0, 20000000 };
    size_t               per;
    double               t0, rate, best = 0;
    int                  t, n, pass;

    /* Let the engine's workers, which spin a while after a step, go to
     * sleep first: 20 ms. */
    nanosleep(&idle, NULL);
    per = bw->words / (size_t) bw->threads / 64 * 64;
    for (pass = 0; pass < passes; pass++) {
        t0 = now_s();
        for (n = 0; n < bw->threads; n++) {
            arg[n].p = bw->buf + (size_t) n * per;
            arg[n].n = per;
            if (n > 0
                && pthread_create(&tid[n], NULL, bw_thread, &arg[n]) != 0)
            {
                break;
            }
        }
        bw_thread(&arg[0]);
        for (t = 1; t < n; t++) {
            pthread_join(tid[t], NULL);
        }
        t0 = now_s() - t0;
        if (t0 <= 0) {
            continue;
        }
        rate = (double) (per * (size_t) n * sizeof(uint64_t)) / t0;
        if (rate > best) {
            best = rate;
        }
        if (rate > bw->best) {
            bw->best = rate;
        }
        if (bw->worst == 0 || rate < bw->worst) {
            bw->worst = rate;
        }
        /* Written back, so that no pass can be optimized away. */
        bw->buf[0] += arg[0].sum & 1;
    }
    return best;
}


static void
bw_free(struct bench_bw *bw)
{
    if (bw->buf != NULL) {
        munmap(bw->buf, bw->words * sizeof(uint64_t));
    }
}


/* ------------------------------------------------- config and floor */

static uint64_t
json_u64(const cJSON *root, const char *key, uint64_t def)
{
    const cJSON  *v = cJSON_GetObjectItemCaseSensitive(root, key);

    return cJSON_IsNumber(v) && v->valuedouble >= 0
           ? (uint64_t) v->valuedouble : def;
}


static char *
read_file(const char *path, size_t *len)
{
    FILE    *f;
    char    *buf = NULL;
    long     n;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0
        && fseek(f, 0, SEEK_SET) == 0
        && (buf = malloc((size_t) n + 1)) != NULL)
    {
        if (fread(buf, 1, (size_t) n, f) != (size_t) n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
            *len = (size_t) n;
        }
    }
    fclose(f);
    return buf;
}


/* Bytes per element of the compute dtype (int8's row scales are added
 * in floor_bytes); 0 if unknown. */
static int
dtype_bytes(const char *w, const struct bench_shape *s)
{
    if (strcmp(w, "f32") == 0) {
        return 4;
    }
    if (strcmp(w, "f16") == 0 || strcmp(w, "bf16") == 0) {
        return 2;
    }
    if (strcmp(w, "int8") == 0) {
        return 1;
    }
    if (strcmp(w, "auto") == 0) {
        return s->torch_bytes;
    }
    return 0;
}


/*
 * Weight bytes a decode step must read from memory, from config.json:
 * every layer's matrices (q, k, v, o, gate, up, down) and the lm_head
 * ([vocab][hidden], read whole for the one row of logits) at the
 * weights' dtype, int8 adding its f32 scale per row; plus the norms and
 * q/k/v biases, kept in f32.  The embedding table is not counted: a step
 * gathers one row of it.  Tied or not makes no difference: a tied
 * table is read once, as the lm_head.  The KV cache read by attention
 * is left out too: at these lengths (a few hundred positions) it is
 * well under 1% of the weights.
 */
static uint64_t
floor_bytes(const struct bench_shape *s, int eb, int int8)
{
    uint64_t  q = s->heads * s->head_dim, kv = s->kv_heads * s->head_dim;
    uint64_t  elems, rows, vec, per_layer;

    elems = s->hidden * (q + 2 * kv)        /* wq, wk, wv */
            + q * s->hidden                 /* wo */
            + 3 * s->inter * s->hidden;     /* gate, up, down */
    rows = q + 2 * kv + s->hidden + 2 * s->inter + s->hidden;
    vec = 2 * s->hidden + (s->qkv_bias ? q + 2 * kv : 0);
    per_layer = elems * (uint64_t) eb + (int8 ? rows * 4 : 0) + vec * 4;
    return s->layers * per_layer
           + s->vocab * s->hidden * (uint64_t) eb
           + (int8 ? s->vocab * 4 : 0)
           + s->hidden * 4;                 /* final norm */
}


/* Reads opt->model's config.json into *s; with opt->vocab, writes a copy
 * with that vocab_size into a new temporary folder, named in tmp (else
 * tmp is ""). */
static int
load_shape(const struct bench_opts *opt, struct bench_shape *s, char *tmp,
    size_t tmplen)
{
    static const char  *ids[] = { "bos_token_id", "eos_token_id",
                                  "pad_token_id" };
    char                path[4096], *text, *out;
    const cJSON        *a, *it;
    cJSON              *root;
    size_t              len, i;
    FILE               *f;
    int                 ok;

    tmp[0] = '\0';
    snprintf(path, sizeof(path), "%s/config.json", opt->model);
    text = read_file(path, &len);
    if (text == NULL) {
        fprintf(stderr, "lmd_bench_cpu: %s: %s\n", path, strerror(errno));
        return -1;
    }
    root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        fprintf(stderr, "lmd_bench_cpu: %s: not a JSON object\n", path);
        cJSON_Delete(root);
        return -1;
    }

    memset(s, 0, sizeof(*s));
    s->vocab = json_u64(root, "vocab_size", 0);
    s->hidden = json_u64(root, "hidden_size", 0);
    s->inter = json_u64(root, "intermediate_size", 0);
    s->layers = json_u64(root, "num_hidden_layers", 0);
    s->heads = json_u64(root, "num_attention_heads", 0);
    s->kv_heads = json_u64(root, "num_key_value_heads", s->heads);
    s->head_dim = json_u64(root, "head_dim",
                           s->heads ? s->hidden / s->heads : 0);
    s->tied = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root,
                               "tie_word_embeddings"));
    a = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    it = cJSON_GetArrayItem(a, 0);
    s->qkv_bias = (cJSON_IsString(it)
                   && strcmp(it->valuestring, "Qwen2ForCausalLM") == 0)
                  || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root,
                                      "bias"));
    it = cJSON_GetObjectItemCaseSensitive(root, "torch_dtype");
    s->torch_bytes = cJSON_IsString(it)
                     && strcmp(it->valuestring, "float32") != 0 ? 2 : 4;
    if (s->vocab == 0 || s->hidden == 0 || s->inter == 0 || s->layers == 0
        || s->heads == 0 || s->head_dim == 0)
    {
        fprintf(stderr, "lmd_bench_cpu: %s: missing a size (vocab_size, "
                "hidden_size, intermediate_size, num_hidden_layers, "
                "num_attention_heads)\n", path);
        cJSON_Delete(root);
        return -1;
    }
    if (opt->vocab == 0) {
        cJSON_Delete(root);
        return 0;
    }

    /* The copy: vocab_size replaced, and special ids past the new vocab
     * moved to its last id, so that the config still loads. */
    s->vocab = opt->vocab;
    cJSON_ReplaceItemInObjectCaseSensitive(root, "vocab_size",
        cJSON_CreateNumber((double) opt->vocab));
    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        cJSON  *v = cJSON_GetObjectItemCaseSensitive(root, ids[i]);
        cJSON  *e;

        if (cJSON_IsNumber(v) && v->valuedouble >= opt->vocab) {
            cJSON_SetNumberValue(v, (double) (opt->vocab - 1));
        }
        if (!cJSON_IsArray(v)) {
            continue;
        }
        cJSON_ArrayForEach(e, v) {
            if (cJSON_IsNumber(e) && e->valuedouble >= opt->vocab) {
                cJSON_SetNumberValue(e, (double) (opt->vocab - 1));
            }
        }
    }
    out = cJSON_Print(root);
    cJSON_Delete(root);
    snprintf(tmp, tmplen, "%s/lmd_bench_cpu.XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (out == NULL || mkdtemp(tmp) == NULL) {
        fprintf(stderr, "lmd_bench_cpu: temporary folder %s: %s\n", tmp,
                out == NULL ? "out of memory" : strerror(errno));
        tmp[0] = '\0';
        free(out);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/config.json", tmp);
    f = fopen(path, "w");
    ok = f != NULL && fputs(out, f) >= 0;
    if (f != NULL && fclose(f) != 0) {
        ok = 0;
    }
    free(out);
    if (!ok) {
        fprintf(stderr, "lmd_bench_cpu: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}


static void
remove_tmp(const char *tmp)
{
    char  path[4096];

    if (tmp[0] != '\0') {
        snprintf(path, sizeof(path), "%s/config.json", tmp);
        (void) unlink(path);
        (void) rmdir(tmp);
    }
}


/* ------------------------------------------------------- the module */

static const struct lmd_module *
load_module(const char *dir, void **handle)
{
    const struct lmd_module  *m;
    char                      path[4096];

    snprintf(path, sizeof(path), "%s/lmd_engine_cpu.so", dir);
    *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (*handle == NULL) {
        fprintf(stderr, "lmd_bench_cpu: %s\n", dlerror());
        return NULL;
    }
    m = dlsym(*handle, "lmd_module");
    if (m == NULL) {
        fprintf(stderr, "lmd_bench_cpu: %s: no symbol lmd_module (not "
                "built yet?)\n", path);
    } else if (m->abi_version != LMD_MODULE_ABI_VERSION
               || m->signature == NULL
               || strcmp(m->signature, LMD_MODULE_SIGNATURE) != 0)
    {
        fprintf(stderr, "lmd_bench_cpu: %s: module ABI %u \"%s\", this "
                "tool's %u \"%s\"\n", path, m->abi_version,
                m->signature ? m->signature : "", LMD_MODULE_ABI_VERSION,
                LMD_MODULE_SIGNATURE);
    } else if (m->kind != LMD_MODULE_ENGINE || m->ops.engine.open == NULL
               || m->ops.engine.memory == NULL
               || m->ops.engine.close == NULL
               || m->ops.engine.kv_init == NULL
               || m->ops.engine.forward == NULL)
    {
        fprintf(stderr, "lmd_bench_cpu: %s: not an engine with open, "
                "memory, close, kv_init and forward\n", path);
    } else {
        return m;
    }
    dlclose(*handle);
    *handle = NULL;
    return NULL;
}


/* splitmix64: the same ids on every machine. */
static uint64_t
rnd(uint64_t *state)
{
    uint64_t  z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}


/* One forward of ids[0..n) at pos, asking for one row of logits. */
static int
step(const struct lmd_module *m, void *eng, const int32_t *ids, uint32_t n,
    uint32_t pos, const uint32_t *blocks, float *logits)
{
    struct lmd_seq_input  seq;
    struct lmd_batch      batch;
    char                  err[LMD_MODULE_ERR_LEN] = "";

    memset(&seq, 0, sizeof(seq));
    seq.tokens = ids;
    seq.n_tokens = n;
    seq.pos = pos;
    seq.blocks = blocks;
    seq.n_blocks = (pos + n + BENCH_BLOCK - 1) / BENCH_BLOCK;
    seq.n_logits = 1;
    memset(&batch, 0, sizeof(batch));
    batch.seqs = &seq;
    batch.n_seqs = 1;
    batch.logits = logits;
    if (m->ops.engine.forward(eng, &batch, err, sizeof(err))
        != LMD_MODULE_OK)
    {
        fprintf(stderr, "lmd_bench_cpu: forward of %u tokens at %u: %s\n",
                n, pos, err[0] ? err : "failed");
        return -1;
    }
    return 0;
}


/* ----------------------------------------------------------- the run */

struct bench_result {
    double      prompt_tps, decode_tps;
    uint64_t    weight_bytes;
    double      local_ratio;        /* best decode_r * floor_bytes / bw_r */
    uint32_t    vocab;
    int         finite;             /* the last logits had no NaN/inf */
};


static int
run(const struct bench_opts *opt, const struct lmd_module *m,
    const char *dir, uint64_t fbytes, struct bench_bw *bw,
    struct bench_result *res)
{
    struct lmd_engine_params  params;
    struct lmd_engine_memory  mem;
    struct lmd_kv_params      kvp;
    char                      err[LMD_MODULE_ERR_LEN] = "";
    void                     *eng = NULL;
    int32_t                  *ids = NULL;
    uint32_t                 *blocks = NULL, i, n_blocks, total;
    float                    *logits = NULL;
    uint64_t                  st = opt->seed ^ 0x6964735f62656e63ULL;
    double                    t0, t, b0, b1;
    int                       r, rc = -1;

    memset(&params, 0, sizeof(params));
    params.name = "bench";
    params.path = dir;
    params.load_format = "dummy";
    params.weights = opt->weights;
    params.seed = opt->seed;
    params.threads = opt->threads;
    if (m->ops.engine.open(&bench_host, &params, &eng, err, sizeof(err))
        != LMD_MODULE_OK)
    {
        fprintf(stderr, "lmd_bench_cpu: open %s (%s): %s\n", opt->model,
                opt->weights, err[0] ? err : "failed");
        return -1;
    }
    memset(&mem, 0, sizeof(mem));
    if (m->ops.engine.memory(eng, &mem) != LMD_MODULE_OK
        || mem.vocab_size == 0)
    {
        fprintf(stderr, "lmd_bench_cpu: %s: no memory report\n",
                opt->model);
        goto done;
    }
    res->weight_bytes = mem.weight_bytes;
    res->vocab = mem.vocab_size;

    total = opt->prompt + opt->gen;
    n_blocks = (total + BENCH_BLOCK - 1) / BENCH_BLOCK;
    memset(&kvp, 0, sizeof(kvp));
    kvp.n_blocks = n_blocks;
    kvp.block_size = BENCH_BLOCK;
    if (m->ops.engine.kv_init(eng, &kvp, err, sizeof(err))
        != LMD_MODULE_OK)
    {
        fprintf(stderr, "lmd_bench_cpu: kv_init of %u blocks: %s\n",
                n_blocks, err[0] ? err : "failed");
        goto done;
    }
    ids = malloc(total * sizeof(*ids));
    blocks = malloc(n_blocks * sizeof(*blocks));
    logits = malloc((size_t) mem.vocab_size * sizeof(*logits));
    if (ids == NULL || blocks == NULL || logits == NULL) {
        fprintf(stderr, "lmd_bench_cpu: out of memory\n");
        goto done;
    }
    for (i = 0; i < total; i++) {
        ids[i] = (int32_t) (rnd(&st) % mem.vocab_size);
    }
    for (i = 0; i < n_blocks; i++) {
        blocks[i] = i;
    }

    /* Warm-up: the first steps pay for page faults in the scratch and
     * for waking the worker threads. */
    if (step(m, eng, ids, total < 8 ? total : 8, 0, blocks, logits) != 0) {
        goto done;
    }

    for (r = 0; r < opt->reps; r++) {
        b0 = bw_measure(bw, 3);
        /* Each repetition starts from an empty cache: pos 0 again. */
        if (opt->prompt > 0) {
            t0 = now_s();
            if (step(m, eng, ids, opt->prompt, 0, blocks, logits) != 0) {
                goto done;
            }
            t = now_s() - t0;
            if (opt->verbose) {
                fprintf(stderr, "  rep %d: prompt %u tokens in %.3f s\n",
                        r + 1, opt->prompt, t);
            }
            if (t > 0 && opt->prompt / t > res->prompt_tps) {
                res->prompt_tps = opt->prompt / t;
            }
        }
        if (opt->gen > 0) {
            t0 = now_s();
            for (i = opt->prompt; i < total; i++) {
                if (step(m, eng, ids + i, 1, i, blocks, logits) != 0) {
                    goto done;
                }
            }
            t = now_s() - t0;
            b1 = bw_measure(bw, 3);
            if (opt->verbose) {
                fprintf(stderr, "  rep %d: decode %u tokens in %.3f s; "
                        "bw %.1f GB/s before, %.1f after\n", r + 1,
                        opt->gen, t, b0 / 1e9, b1 / 1e9);
            }
            if (t > 0 && opt->gen / t > res->decode_tps) {
                res->decode_tps = opt->gen / t;
            }
            b1 = b1 > b0 ? b1 : b0;
            if (t > 0 && b1 > 0
                && opt->gen / t * (double) fbytes / b1 > res->local_ratio)
            {
                res->local_ratio = opt->gen / t * (double) fbytes / b1;
            }
        }
    }
    res->finite = 1;
    for (i = 0; i < mem.vocab_size; i++) {
        if (!isfinite(logits[i])) {
            res->finite = 0;
            break;
        }
    }
    rc = 0;

done:
    free(ids);
    free(blocks);
    free(logits);
    m->ops.engine.close(eng);
    return rc;
}


/* ------------------------------------------------------------ main */

static void
usage(FILE *f)
{
    fprintf(f,
        "usage: lmd_bench_cpu --model DIR [--weights f32|bf16|int8|f16|"
        "auto]\n"
        "         [--threads N] [--prompt N] [--gen N] [--reps R] "
        "[--modules DIR]\n"
        "         [--vocab N] [--seed S] [--bw-mib M] [--json] "
        "[--verbose]\n"
        "Decode and prompt tokens/s of the cpu engine on DIR's config.json"
        " with\n"
        "random (dummy) weights, next to the memory-bandwidth floor.  "
        "Defaults:\n"
        "--weights bf16 --threads 0 (every core) --prompt 128 --gen 64 "
        "--reps 3\n"
        "--modules modules --seed 1 --bw-mib 1024.\n");
}


static int
num_arg(const char *name, const char *s, long lo, long hi, long *v)
{
    char  *end;

    errno = 0;
    *v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || *v < lo || *v > hi) {
        fprintf(stderr, "lmd_bench_cpu: --%s: expected a number from %ld "
                "to %ld, not \"%s\"\n", name, lo, hi, s);
        return -1;
    }
    return 0;
}


static const char *
base_name(const char *path, char *buf, size_t len)
{
    size_t       n = strlen(path);
    const char  *p;

    while (n > 1 && path[n - 1] == '/') {
        n--;
    }
    p = path + n;
    while (p > path && p[-1] != '/') {
        p--;
    }
    snprintf(buf, len, "%.*s", (int) (path + n - p), p);
    return buf;
}


int
main(int argc, char **argv)
{
    static const struct option  longs[] = {
        { "model",   required_argument, NULL, 'm' },
        { "weights", required_argument, NULL, 'w' },
        { "threads", required_argument, NULL, 't' },
        { "prompt",  required_argument, NULL, 'p' },
        { "gen",     required_argument, NULL, 'n' },
        { "reps",    required_argument, NULL, 'r' },
        { "modules", required_argument, NULL, 'M' },
        { "vocab",   required_argument, NULL, 'V' },
        { "seed",    required_argument, NULL, 's' },
        { "bw-mib",  required_argument, NULL, 'b' },
        { "json",    no_argument,       NULL, 'j' },
        { "verbose", no_argument,       NULL, 'v' },
        { "help",    no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    struct bench_opts           opt;
    struct bench_shape          shape;
    struct bench_result         res;
    const struct lmd_module    *m;
    void                       *handle = NULL;
    char                        tmp[1024], name[256], label[300];
    uint64_t                    fbytes;
    struct bench_bw             bw;
    double                      floor_tps;
    long                        v;
    int                         c, eb, threads, rc;

    memset(&opt, 0, sizeof(opt));
    opt.weights = "bf16";
    opt.modules = "modules";
    opt.prompt = 128;
    opt.gen = 64;
    opt.reps = 3;
    opt.seed = 1;
    opt.bw_mib = 1024;

    while ((c = getopt_long(argc, argv, "m:w:t:p:n:r:M:V:s:b:jvh", longs,
                            NULL)) != -1)
    {
        switch (c) {
        case 'm':
            opt.model = optarg;
            break;
        case 'w':
            opt.weights = optarg;
            break;
        case 'M':
            opt.modules = optarg;
            break;
        case 't':
            if (num_arg("threads", optarg, 0, 64, &v) != 0) {
                return 2;
            }
            opt.threads = (int) v;
            break;
        case 'p':
            if (num_arg("prompt", optarg, 0, 1 << 20, &v) != 0) {
                return 2;
            }
            opt.prompt = (uint32_t) v;
            break;
        case 'n':
            if (num_arg("gen", optarg, 0, 1 << 20, &v) != 0) {
                return 2;
            }
            opt.gen = (uint32_t) v;
            break;
        case 'r':
            if (num_arg("reps", optarg, 1, 1000, &v) != 0) {
                return 2;
            }
            opt.reps = (int) v;
            break;
        case 'V':
            if (num_arg("vocab", optarg, 1, 1 << 24, &v) != 0) {
                return 2;
            }
            opt.vocab = (uint32_t) v;
            break;
        case 's':
            if (num_arg("seed", optarg, 0, 0x7fffffffL, &v) != 0) {
                return 2;
            }
            opt.seed = (uint64_t) v;
            break;
        case 'b':
            if (num_arg("bw-mib", optarg, 16, 1 << 20, &v) != 0) {
                return 2;
            }
            opt.bw_mib = (size_t) v;
            break;
        case 'j':
            opt.json = 1;
            break;
        case 'v':
            opt.verbose = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (opt.model == NULL || optind != argc
        || opt.prompt + opt.gen == 0)
    {
        usage(stderr);
        return 2;
    }

    if (load_shape(&opt, &shape, tmp, sizeof(tmp)) != 0) {
        remove_tmp(tmp);
        return 1;
    }
    eb = dtype_bytes(opt.weights, &shape);
    if (eb == 0) {
        fprintf(stderr, "lmd_bench_cpu: --weights: f32, f16, bf16, int8 "
                "or auto, not \"%s\"\n", opt.weights);
        remove_tmp(tmp);
        return 2;
    }
    fbytes = floor_bytes(&shape, eb, strcmp(opt.weights, "int8") == 0);

    m = load_module(opt.modules, &handle);
    if (m == NULL) {
        remove_tmp(tmp);
        return 1;
    }

    threads = opt.threads > 0 ? opt.threads
                              : (int) sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) {
        threads = 1;
    }
    memset(&res, 0, sizeof(res));
    if (bw_init(&bw, threads, opt.bw_mib) != 0) {
        dlclose(handle);
        remove_tmp(tmp);
        return 1;
    }
    bw_measure(&bw, BENCH_BW_PASSES);
    rc = run(&opt, m, tmp[0] ? tmp : opt.model, fbytes, &bw, &res);
    bw_measure(&bw, BENCH_BW_PASSES);
    bw_free(&bw);
    dlclose(handle);
    remove_tmp(tmp);
    if (rc != 0) {
        return 1;
    }

    if (res.vocab != shape.vocab) {
        fprintf(stderr, "lmd_bench_cpu: warning: the engine reports "
                "vocab %u, config.json %llu\n", res.vocab,
                (unsigned long long) shape.vocab);
    }
    if (!res.finite) {
        fprintf(stderr, "lmd_bench_cpu: warning: the last logits are not "
                "all finite\n");
    }
    floor_tps = bw.best / (double) fbytes;

    base_name(opt.model, name, sizeof(name));
    if (opt.vocab) {
        snprintf(label, sizeof(label), "%s/v%u", name, opt.vocab);
    } else {
        snprintf(label, sizeof(label), "%s", name);
    }
    printf("%-14s %-4s  decode %6.1f tok/s (floor %6.1f = %.2f, local "
           "%.2f)  prompt %6.1f tok/s  bw %5.1f GB/s\n", label,
           opt.weights, res.decode_tps, floor_tps,
           floor_tps > 0 ? res.decode_tps / floor_tps : 0,
           res.local_ratio, res.prompt_tps, bw.best / 1e9);
    if (opt.json) {
        printf("{\"model\":\"%s\",\"weights\":\"%s\",\"vocab\":%u,"
               "\"threads\":%d,\"prompt\":%u,\"gen\":%u,\"reps\":%d,"
               "\"decode_tps\":%.3f,\"prompt_tps\":%.3f,\"bw_gbs\":%.3f,"
               "\"bw_worst_gbs\":%.3f,"
               "\"floor_bytes\":%llu,\"floor_tps\":%.3f,"
               "\"floor_ratio\":%.4f,\"local_ratio\":%.4f,"
               "\"weight_bytes\":%llu,"
               "\"finite\":%s}\n",
               name, opt.weights, res.vocab, threads, opt.prompt, opt.gen,
               opt.reps, res.decode_tps, res.prompt_tps, bw.best / 1e9,
               bw.worst / 1e9,
               (unsigned long long) fbytes, floor_tps,
               floor_tps > 0 ? res.decode_tps / floor_tps : 0,
               res.local_ratio, (unsigned long long) res.weight_bytes,
               res.finite ? "true" : "false");
    }
    fflush(stdout);
    return 0;
}
