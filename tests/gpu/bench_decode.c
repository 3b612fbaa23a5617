/*
 * bench_decode.c -- the cuda-awq engine's decode and prompt speed next to
 * the bandwidth floor, in one process (tests/gpu/bench.sh runs it).
 *
 *   bench_decode --model DIR [--modules DIR] [--weights auto|f16|bf16]
 *                [--kv-cache int8|int4] [--batch B] [--prompt N]
 *                [--gen N] [--reps R]
 *
 * Opens DIR (config.json alone: load_format "dummy") with
 * lmd_engine_cuda_awq.so, dlopened from --modules (default "modules"),
 * and drives its hooks directly: B sequences of N random prompt ids in
 * one forward (prompt tok/s), then --gen decode steps of one token per
 * sequence, each asking for one row of logits per sequence, as a server
 * does (decode tok/s = B * gen / time, the best of --reps).
 *
 * The floor is what a pure stream of the bytes a decode step must read
 * allows: the weights, counted from config.json (the linear layers at 2
 * bytes a weight, or for AWQ half a byte plus 2.5 bytes of scale and
 * zero a group; the f16 lm_head; f32 norms; not the embedding table, of
 * which a step reads B rows) plus the KV cache at the run's mean
 * context, over
 * the device-to-device copy bandwidth measured here (read + write of a
 * 2 GiB cudaMemcpy, best of 5) and over the issue's 4276 GB/s.
 *
 * --kv-cache keeps the cache in an int8-kv codec (lmd_kv_int8.so from
 * the same folder).  Each run also prints how many sequences of 2048
 * tokens the daemon's default pool would hold: 0.8 (cache_max_entry_count)
 * of the free memory the engine reports after its weights, in blocks of
 * 64 (engine/lmd_engine.c sizes it so).
 *
 * Output: one line per run and a JSON object with --json.  GB is 10^9.
 */

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "lmd_module.h"

#define BLOCK   64
#define ISSUE_BW_GBS    4276.0


static double config_num(const char *dir, const char *key, double dflt);


/* The weight bytes one decode step reads (the top comment). */
static double
step_weight_bytes(const char *model)
{
    double  h = config_num(model, "hidden_size", 0);
    double  inter = config_num(model, "intermediate_size", 0);
    double  layers = config_num(model, "num_hidden_layers", 0);
    double  heads = config_num(model, "num_attention_heads", 1);
    double  kvh = config_num(model, "num_key_value_heads", heads);
    double  hd = config_num(model, "head_dim", h / heads);
    double  vocab = config_num(model, "vocab_size", 0);
    double  group = config_num(model, "group_size", 0);
    double  lin, per;

    lin = h * hd * (2 * heads + 2 * kvh) + 3 * h * inter;
    per = group > 0 ? lin / 2 + lin / group * 2.5 : lin * 2;
    return layers * (per + 2 * h * 4) + h * 4 + vocab * h * 2;
}


static double
now_s(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}


static void
host_log(int level, const char *fmt, ...)
{
    va_list  ap;

    (void) level;
    va_start(ap, fmt);
    fputs("# engine: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}


static uint64_t
host_now(void)
{
    return (uint64_t) (now_s() * 1e9);
}


/* A number after "key": in config.json (no nesting needed here). */
static double
config_num(const char *dir, const char *key, double dflt)
{
    char    path[1024], pat[128], *text, *p;
    FILE   *f;
    long    n;
    double  v = dflt;

    snprintf(path, sizeof(path), "%s/config.json", dir);
    f = fopen(path, "rb");
    if (f == NULL) {
        return dflt;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = calloc(1, (size_t) n + 1);
    if (text != NULL && fread(text, 1, (size_t) n, f) == (size_t) n) {
        snprintf(pat, sizeof(pat), "\"%s\"", key);
        p = strstr(text, pat);
        if (p != NULL && (p = strchr(p + strlen(pat), ':')) != NULL) {
            p++;
            while (*p == ' ') {
                p++;
            }
            if (strncmp(p, "true", 4) == 0) {
                v = 1;
            } else if (strncmp(p, "false", 5) == 0) {
                v = 0;
            } else {
                v = strtod(p, NULL);
            }
        }
    }
    free(text);
    fclose(f);
    return v;
}


static double
copy_bandwidth(void)
{
    size_t       bytes = (size_t) 2 << 30;
    void        *a = NULL, *b = NULL;
    cudaEvent_t  e0, e1;
    float        ms, best = 1e30f;
    int          i;

    if (cudaMalloc(&a, bytes) != cudaSuccess
        || cudaMalloc(&b, bytes) != cudaSuccess)
    {
        cudaFree(a);
        return 0;
    }
    cudaMemset(a, 1, bytes);
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    for (i = 0; i < 6; i++) {
        cudaEventRecord(e0, 0);
        cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
        cudaEventRecord(e1, 0);
        cudaEventSynchronize(e1);
        cudaEventElapsedTime(&ms, e0, e1);
        if (i > 0 && ms < best) {
            best = ms;
        }
    }
    cudaFree(a);
    cudaFree(b);
    return 2.0 * (double) bytes / (best * 1e-3) / 1e9;
}


int
main(int argc, char **argv)
{
    const char               *model = NULL, *mods = "modules";
    const char               *weights = "auto", *kv_name = NULL;
    const struct lmd_module  *m, *km;
    struct lmd_host           host = { LMD_MODULE_ABI_VERSION, host_log,
                                       host_now, { NULL } };
    struct lmd_engine_params  p;
    struct lmd_engine_memory  mem;
    struct lmd_kv_params      kv;
    struct lmd_seq_input     *in;
    struct lmd_batch          b;
    uint32_t                  batch = 1, prompt = 128, gen = 256, reps = 2;
    uint32_t                  i, j, r, per, *blocks;
    int32_t                  *ids;
    float                    *logits;
    double                    t0, tp, td, best_p = 0, best_d = 0, bw;
    double                    wbytes, kvbytes, floor_b, fits;
    int                       json = 0;
    void                     *h, *eng = NULL;
    char                      path[1024], err[LMD_MODULE_ERR_LEN];
    uint64_t                  rng = 88172645463325252ull;

    for (i = 1; i < (uint32_t) argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (i + 1 < (uint32_t) argc) {
            if (strcmp(argv[i], "--model") == 0) {
                model = argv[++i];
            } else if (strcmp(argv[i], "--modules") == 0) {
                mods = argv[++i];
            } else if (strcmp(argv[i], "--weights") == 0) {
                weights = argv[++i];
            } else if (strcmp(argv[i], "--kv-cache") == 0) {
                kv_name = argv[++i];
            } else if (strcmp(argv[i], "--batch") == 0) {
                batch = (uint32_t) strtoul(argv[++i], NULL, 10);
            } else if (strcmp(argv[i], "--prompt") == 0) {
                prompt = (uint32_t) strtoul(argv[++i], NULL, 10);
            } else if (strcmp(argv[i], "--gen") == 0) {
                gen = (uint32_t) strtoul(argv[++i], NULL, 10);
            } else if (strcmp(argv[i], "--reps") == 0) {
                reps = (uint32_t) strtoul(argv[++i], NULL, 10);
            } else {
                fprintf(stderr, "bench_decode: unknown option %s\n",
                        argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "bench_decode: %s needs a value\n", argv[i]);
            return 2;
        }
    }
    if (model == NULL || batch == 0 || prompt == 0 || gen == 0) {
        fprintf(stderr, "usage: bench_decode --model DIR [--modules DIR] "
                "[--weights W] [--kv-cache int8|int4] [--batch B] "
                "[--prompt N] [--gen N] [--reps R] [--json]\n");
        return 2;
    }

    bw = copy_bandwidth();
    snprintf(path, sizeof(path), "%s/lmd_engine_cuda_awq.so", mods);
    h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    m = h != NULL ? dlsym(h, "lmd_module") : NULL;
    if (m == NULL) {
        fprintf(stderr, "bench_decode: %s: %s\n", path, dlerror());
        return 1;
    }
    memset(&p, 0, sizeof(p));
    p.name = model;
    p.path = model;
    p.load_format = "dummy";
    p.weights = weights;
    p.seed = 1;
    if (kv_name != NULL) {
        snprintf(path, sizeof(path), "%s/lmd_kv_int8.so", mods);
        h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        km = h != NULL ? dlsym(h, "lmd_module") : NULL;
        if (km == NULL) {
            fprintf(stderr, "bench_decode: %s: %s\n", path, dlerror());
            return 1;
        }
        p.kv_codec = km->ops.kv_codec.find(kv_name);
        if (p.kv_codec == NULL) {
            fprintf(stderr, "bench_decode: no KV codec %s\n", kv_name);
            return 2;
        }
    }
    t0 = now_s();
    if (m->ops.engine.open(&host, &p, &eng, err, sizeof(err))
        != LMD_MODULE_OK)
    {
        fprintf(stderr, "bench_decode: %s\n", err);
        return 1;
    }
    fprintf(stderr, "# opened in %.1f s\n", now_s() - t0);
    m->ops.engine.memory(eng, &mem);
    fits = mem.kv_bytes_per_token > 0
           ? floor(0.8 * (double) mem.free_bytes
                   / ((double) mem.kv_bytes_per_token * BLOCK))
             / (2048 / BLOCK) : 0;

    per = (prompt + gen + BLOCK - 1) / BLOCK;
    memset(&kv, 0, sizeof(kv));
    kv.n_blocks = per * batch;
    kv.block_size = BLOCK;
    kv.max_step_tokens = batch * prompt < 8192 ? batch * prompt : 8192;
    kv.max_step_tokens = kv.max_step_tokens > batch ? kv.max_step_tokens
                                                    : batch;
    kv.max_step_seqs = batch;
    if (m->ops.engine.kv_init(eng, &kv, err, sizeof(err)) != LMD_MODULE_OK) {
        fprintf(stderr, "bench_decode: %s\n", err);
        return 1;
    }

    in = calloc(batch, sizeof(*in));
    blocks = calloc((size_t) batch * per, sizeof(uint32_t));
    ids = calloc((size_t) batch * (prompt + gen), sizeof(int32_t));
    logits = calloc((size_t) batch * mem.vocab_size, sizeof(float));
    if (in == NULL || blocks == NULL || ids == NULL || logits == NULL) {
        fprintf(stderr, "bench_decode: out of memory\n");
        return 1;
    }
    for (i = 0; i < batch * per; i++) {
        blocks[i] = i;
    }
    for (i = 0; i < batch * (prompt + gen); i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        ids[i] = (int32_t) (rng % mem.vocab_size);
    }

    memset(&b, 0, sizeof(b));
    b.seqs = in;
    b.n_seqs = batch;
    b.logits = logits;
    for (r = 0; r < reps; r++) {
        for (i = 0; i < batch; i++) {
            in[i].tokens = ids + (size_t) i * (prompt + gen);
            in[i].n_tokens = prompt;
            in[i].pos = 0;
            in[i].blocks = blocks + (size_t) i * per;
            in[i].n_blocks = per;
            in[i].n_logits = 1;
        }
        t0 = now_s();
        if (m->ops.engine.forward(eng, &b, err, sizeof(err))
            != LMD_MODULE_OK)
        {
            fprintf(stderr, "bench_decode: prompt: %s\n", err);
            return 1;
        }
        tp = now_s() - t0;
        t0 = now_s();
        for (j = 0; j < gen; j++) {
            for (i = 0; i < batch; i++) {
                in[i].tokens = ids + (size_t) i * (prompt + gen) + prompt
                               + j;
                in[i].n_tokens = 1;
                in[i].pos = prompt + j;
            }
            if (m->ops.engine.forward(eng, &b, err, sizeof(err))
                != LMD_MODULE_OK)
            {
                fprintf(stderr, "bench_decode: decode: %s\n", err);
                return 1;
            }
        }
        td = now_s() - t0;
        if ((double) batch * prompt / tp > best_p) {
            best_p = (double) batch * prompt / tp;
        }
        if ((double) batch * gen / td > best_d) {
            best_d = (double) batch * gen / td;
        }
    }

    wbytes = step_weight_bytes(model);
    kvbytes = (double) mem.kv_bytes_per_token * batch
              * (prompt + (gen - 1) / 2.0);
    floor_b = wbytes + kvbytes;
    printf("%s %s KV %s batch %u: decode %.1f tok/s (%.2f ms/step); "
           "floor %.1f tok/s at %.0f GB/s measured = %.3f, %.1f at %.0f = "
           "%.3f; prompt %u x %u: %.0f tok/s; bytes/step %.3f GB (weights "
           "%.3f); KV %llu bytes/token, 2048-token sequences that fit: "
           "%.0f\n", model, weights, kv_name != NULL ? kv_name : "16-bit",
           batch, best_d, 1e3 * batch / best_d,
           bw * 1e9 / floor_b * batch, bw,
           best_d / (bw * 1e9 / floor_b * batch),
           ISSUE_BW_GBS * 1e9 / floor_b * batch, ISSUE_BW_GBS,
           best_d / (ISSUE_BW_GBS * 1e9 / floor_b * batch), batch, prompt,
           best_p, floor_b / 1e9, wbytes / 1e9,
           (unsigned long long) mem.kv_bytes_per_token, floor(fits));
    if (json) {
        printf("{\"model\": \"%s\", \"weights\": \"%s\", \"kv\": \"%s\", "
               "\"batch\": %u, \"context\": %u, "
               "\"decode_tok_s\": %.2f, \"prompt_tok_s\": %.1f, "
               "\"copy_gbs\": %.1f, \"floor_tok_s\": %.2f, "
               "\"floor_tok_s_4276\": %.2f, \"kv_bytes_per_token\": %llu, "
               "\"fits_2048\": %.0f}\n", model, weights,
               kv_name != NULL ? kv_name : "16-bit", batch, prompt + gen,
               best_d, best_p, bw, bw * 1e9 / floor_b * batch,
               ISSUE_BW_GBS * 1e9 / floor_b * batch,
               (unsigned long long) mem.kv_bytes_per_token, floor(fits));
    }
    m->ops.engine.close(eng);
    free(in);
    free(blocks);
    free(ids);
    free(logits);
    return 0;
}
