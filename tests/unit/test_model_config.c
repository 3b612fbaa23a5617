/*
 * test_model_config.c -- unit tests for engine/lmd_model_config.c:
 * config.json and generation_config.json of each architecture, the
 * errors, and the RoPE frequencies.
 *
 * The configs are written by each case into a mkdtemp folder under /tmp
 * (removed at the end).  Defaults come from transformers' LlamaConfig,
 * MistralConfig and Qwen2Config and InternLM2's InternLM2Config.  The
 * frequencies are checked against values computed here, in double, from
 * the formulas of transformers' modeling_rope_utils.py, written out
 * separately from the engine's code, plus a few worked by hand (theta
 * 10000 and head_dim 8 give 1, 0.1, 0.01, 0.001).  The real
 * stories260K config.json is read when ../shared is there.
 */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmd_common.h"
#include "lmd_dtype.h"
#include "lmd_model_config.h"
#include "lmd_test.h"


/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static char  tmp[64];
static char  cfg_path[128];
static char  gen_path[128];
static char  err[LMD_ERR_LEN];

#define LLAMA_SIZES \
    "\"hidden_size\": 64, \"intermediate_size\": 172, " \
    "\"num_hidden_layers\": 2, \"num_attention_heads\": 8, " \
    "\"vocab_size\": 512"


static int
tmp_make(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/lmd_test_cfg_XXXXXX");
    if (!fail_unless(mkdtemp(tmp) != NULL, "mkdtemp failed")) {
        return 0;
    }
    snprintf(cfg_path, sizeof(cfg_path), "%s/config.json", tmp);
    snprintf(gen_path, sizeof(gen_path), "%s/generation_config.json", tmp);
    return 1;
}


static void
tmp_remove(void)
{
    unlink(cfg_path);
    unlink(gen_path);
    rmdir(tmp);
}


static int
put(const char *path, const char *text)
{
    FILE  *f;
    int    ok;

    if (text == NULL) {
        unlink(path);
        return 1;
    }
    f = fopen(path, "w");
    if (f == NULL) {
        return 0;
    }
    ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}


/* Writes config.json (and generation_config.json, or removes it when
 * NULL) and loads the folder. */
static int
load(const char *config, const char *generation, struct lmd_model_config *c)
{
    err[0] = '\0';
    if (!put(cfg_path, config) || !put(gen_path, generation)) {
        snprintf(err, sizeof(err), "cannot write the test's files");
        return LMD_ERROR;
    }
    return lmd_model_config_load(tmp, c, err, sizeof(err));
}


/* Loading fails, and the error starts "PATH: " and holds want. */
static int
fails_with(const char *config, const char *generation, const char *path,
    const char *want)
{
    struct lmd_model_config  c;
    size_t                   n;

    if (load(config, generation, &c) != LMD_ERROR) {
        snprintf(err, sizeof(err), "(loaded)");
        return 0;
    }
    n = strlen(path);
    return strncmp(err, path, n) == 0 && strncmp(err + n, ": ", 2) == 0
           && strstr(err, want) != NULL;
}


/* ------------------------------------------------------------------------
 * Architectures
 * ------------------------------------------------------------------------ */

// Assumption: a Llama config with only the sizes takes LlamaConfig's
// defaults: kv heads = heads, head_dim = hidden/heads, untied, f32,
// rms_norm_eps 1e-6, rope_theta 10000, 2048 positions, no scaling.
LMD_TEST(llama_defaults)
{
    struct lmd_model_config  c;

    if (!tmp_make()) {
        return;
    }
    if (fail_unless(load("{\"architectures\": [\"LlamaForCausalLM\"], "
                         LLAMA_SIZES "}", NULL, &c) == LMD_OK, "%s", err)) {
        fail_unless(c.arch == LMD_ARCH_LLAMA, "arch");
        fail_unless_streq(c.arch_name, "LlamaForCausalLM");
        fail_unless(c.vocab_size == 512 && c.hidden_size == 64
                    && c.intermediate_size == 172 && c.n_layers == 2
                    && c.n_heads == 8, "sizes");
        fail_unless(c.n_kv_heads == 8 && c.head_dim == 8, "kv %u hd %u",
                    c.n_kv_heads, c.head_dim);
        fail_unless(c.max_position == 2048, "max %u", c.max_position);
        fail_unless(c.rms_norm_eps == 1e-6f && c.rope_theta == 10000.0f,
                    "eps, theta");
        fail_unless(c.rope_scaling.type == LMD_ROPE_DEFAULT, "rope");
        fail_unless(c.tie_word_embeddings == 0 && c.qkv_bias == 0, "flags");
        fail_unless(c.torch_dtype == LMD_DTYPE_F32, "dtype");
        fail_unless(c.bos_id == -1 && c.n_eos == 0, "ids");
        fail_unless(c.sliding_window == 0 && c.demo == 0, "window, demo");
        fail_unless(!c.has_temperature && !c.has_top_p && !c.has_top_k
                    && !c.has_repetition_penalty, "generation");
    }
    tmp_remove();
}


// Assumption: Mistral is a Llama with a sliding window: 4096 when the
// key is absent (MistralConfig's default), none when null.
LMD_TEST(mistral)
{
    struct lmd_model_config  c;

    if (!tmp_make()) {
        return;
    }
    if (fail_unless(load("{\"architectures\": [\"MistralForCausalLM\"], "
                         LLAMA_SIZES ", \"num_key_value_heads\": 2, "
                         "\"sliding_window\": 1024, "
                         "\"torch_dtype\": \"bfloat16\"}", NULL, &c)
                    == LMD_OK, "%s", err)) {
        fail_unless(c.arch == LMD_ARCH_LLAMA, "arch");
        fail_unless_streq(c.arch_name, "MistralForCausalLM");
        fail_unless(c.sliding_window == 1024, "window %u",
                    c.sliding_window);
        fail_unless(c.n_kv_heads == 2, "kv");
        fail_unless(c.torch_dtype == LMD_DTYPE_BF16, "dtype");
    }
    fail_unless(load("{\"architectures\": [\"MistralForCausalLM\"], "
                     LLAMA_SIZES ", \"sliding_window\": null}", NULL, &c)
                == LMD_OK && c.sliding_window == 0, "null: %s", err);
    fail_unless(load("{\"architectures\": [\"MistralForCausalLM\"], "
                     LLAMA_SIZES "}", NULL, &c) == LMD_OK
                && c.sliding_window == 4096, "absent: %s", err);
    /* A Llama's sliding_window key means nothing. */
    fail_unless(load("{\"architectures\": [\"LlamaForCausalLM\"], "
                     LLAMA_SIZES ", \"sliding_window\": 100}", NULL, &c)
                == LMD_OK && c.sliding_window == 0, "llama: %s", err);
    tmp_remove();
}


// Assumption: Qwen2 always has q/k/v biases; its embeddings are tied
// only when the key says so; its window counts only with
// use_sliding_window.
LMD_TEST(qwen2)
{
    struct lmd_model_config  c;

    if (!tmp_make()) {
        return;
    }
    if (fail_unless(load("{\"architectures\": [\"Qwen2ForCausalLM\"], "
                         "\"hidden_size\": 896, \"intermediate_size\": 4864,"
                         " \"num_hidden_layers\": 24, "
                         "\"num_attention_heads\": 14, "
                         "\"num_key_value_heads\": 2, "
                         "\"vocab_size\": 151936, "
                         "\"max_position_embeddings\": 32768, "
                         "\"rope_theta\": 1000000.0, \"rms_norm_eps\": 1e-06,"
                         " \"tie_word_embeddings\": true, "
                         "\"use_sliding_window\": false, "
                         "\"sliding_window\": 32768, "
                         "\"bos_token_id\": 151643, "
                         "\"eos_token_id\": 151645, "
                         "\"torch_dtype\": \"bfloat16\"}", NULL, &c)
                    == LMD_OK, "%s", err)) {
        fail_unless(c.arch == LMD_ARCH_QWEN2, "arch");
        fail_unless(c.qkv_bias == 1 && c.tie_word_embeddings == 1, "flags");
        fail_unless(c.head_dim == 64 && c.n_kv_heads == 2, "heads");
        fail_unless(c.sliding_window == 0, "window");
        fail_unless(c.rope_theta == 1e6f && c.rms_norm_eps == 1e-6f,
                    "theta, eps");
        fail_unless(c.bos_id == 151643 && c.n_eos == 1
                    && c.eos_ids[0] == 151645, "ids");
    }
    fail_unless(load("{\"architectures\": [\"Qwen2ForCausalLM\"], "
                     LLAMA_SIZES ", \"use_sliding_window\": true, "
                     "\"sliding_window\": 4000}", NULL, &c) == LMD_OK
                && c.sliding_window == 4000 && c.tie_word_embeddings == 0
                && c.max_position == 32768,
                "window %u: %s", c.sliding_window, err);
    tmp_remove();
}


// Assumption: InternLM2 uses the same size keys; "bias" is its q/k/v
// bias flag, true by default; "type" names the rope scaling.
LMD_TEST(internlm2)
{
    struct lmd_model_config  c;

    if (!tmp_make()) {
        return;
    }
    if (fail_unless(load("{\"architectures\": [\"InternLM2ForCausalLM\"], "
                         "\"model_type\": \"internlm2\", "
                         "\"hidden_size\": 2048, "
                         "\"intermediate_size\": 8192, "
                         "\"num_hidden_layers\": 24, "
                         "\"num_attention_heads\": 16, "
                         "\"num_key_value_heads\": 8, "
                         "\"vocab_size\": 92544, "
                         "\"max_position_embeddings\": 32768, "
                         "\"rope_theta\": 1000000, "
                         "\"rope_scaling\": {\"type\": \"dynamic\", "
                         "\"factor\": 2.0}, \"rms_norm_eps\": 1e-05, "
                         "\"bias\": false, \"tie_word_embeddings\": false, "
                         "\"torch_dtype\": \"bfloat16\"}", NULL, &c)
                    == LMD_OK, "%s", err)) {
        fail_unless(c.arch == LMD_ARCH_INTERNLM2, "arch");
        fail_unless(c.qkv_bias == 0 && c.tie_word_embeddings == 0, "flags");
        fail_unless(c.head_dim == 128, "head_dim");
        fail_unless(c.rope_scaling.type == LMD_ROPE_DYNAMIC
                    && c.rope_scaling.factor == 2.0f, "rope");
    }
    fail_unless(load("{\"architectures\": [\"InternLM2ForCausalLM\"], "
                     LLAMA_SIZES "}", NULL, &c) == LMD_OK
                && c.qkv_bias == 1, "bias by default: %s", err);
    tmp_remove();
}


// Assumption: head_dim comes from its key when given (and not null);
// "dtype" (newer transformers) stands for torch_dtype; model_type
// alone names the architecture; "lmd_demo": true marks the demo model.
LMD_TEST(other_keys)
{
    struct lmd_model_config  c;

    if (!tmp_make()) {
        return;
    }
    fail_unless(load("{\"architectures\": [\"LlamaForCausalLM\"], "
                     LLAMA_SIZES ", \"head_dim\": 16, "
                     "\"dtype\": \"float16\", \"lmd_demo\": true}", NULL,
                     &c) == LMD_OK
                && c.head_dim == 16 && c.torch_dtype == LMD_DTYPE_F16
                && c.demo == 1, "%s", err);
    fail_unless(load("{\"architectures\": [\"LlamaForCausalLM\"], "
                     LLAMA_SIZES ", \"head_dim\": null, "
                     "\"num_key_value_heads\": null}", NULL, &c) == LMD_OK
                && c.head_dim == 8 && c.n_kv_heads == 8, "%s", err);
    fail_unless(load("{\"model_type\": \"qwen2\", " LLAMA_SIZES "}", NULL,
                     &c) == LMD_OK && c.arch == LMD_ARCH_QWEN2
                && strcmp(c.arch_name, "Qwen2ForCausalLM") == 0,
                "model_type: %s", err);
    fail_unless(load("{\"architectures\": [\"LlamaForCausalLM\"], "
                     LLAMA_SIZES ", \"rope_parameters\": {\"rope_type\": "
                     "\"linear\", \"rope_theta\": 5000.0, \"factor\": 4}}",
                     NULL, &c) == LMD_OK
                && c.rope_theta == 5000.0f
                && c.rope_scaling.type == LMD_ROPE_LINEAR
                && c.rope_scaling.factor == 4.0f, "rope_parameters: %s",
                err);
    tmp_remove();
}


/* ------------------------------------------------------------------------
 * Token ids and generation_config.json
 * ------------------------------------------------------------------------ */

// Assumption: eos ids of config.json and generation_config.json are
// merged in that order without duplicates; generation's bos wins; its
// sampling values fill the has_* fields.
LMD_TEST(generation_merge)
{
    struct lmd_model_config  c;

    if (!tmp_make()) {
        return;
    }
    if (fail_unless(load("{\"architectures\": [\"LlamaForCausalLM\"], "
                         LLAMA_SIZES ", \"bos_token_id\": 1, "
                         "\"eos_token_id\": [128001, 128009]}",
                         "{\"bos_token_id\": 128000, "
                         "\"eos_token_id\": [128001, 128008, 128009], "
                         "\"temperature\": 0.6, \"top_p\": 0.9, "
                         "\"top_k\": 50, \"repetition_penalty\": 1.1, "
                         "\"do_sample\": true}", &c) == LMD_OK, "%s", err)) {
        fail_unless(c.bos_id == 128000, "bos %d", c.bos_id);
        fail_unless(c.n_eos == 3 && c.eos_ids[0] == 128001
                    && c.eos_ids[1] == 128009 && c.eos_ids[2] == 128008,
                    "eos: %u", c.n_eos);
        fail_unless(c.has_temperature && c.temperature == 0.6f, "temp");
        fail_unless(c.has_top_p && c.top_p == 0.9f, "top_p");
        fail_unless(c.has_top_k && c.top_k == 50, "top_k");
        fail_unless(c.has_repetition_penalty
                    && c.repetition_penalty == 1.1f, "penalty");
    }
    if (fail_unless(load("{\"architectures\": [\"LlamaForCausalLM\"], "
                         LLAMA_SIZES ", \"bos_token_id\": 1, "
                         "\"eos_token_id\": 2}",
                         "{\"eos_token_id\": 2, \"temperature\": null}", &c)
                    == LMD_OK, "%s", err)) {
        fail_unless(c.bos_id == 1 && c.n_eos == 1 && c.eos_ids[0] == 2,
                    "ids");
        fail_unless(!c.has_temperature && !c.has_top_k, "absent");
    }
    fail_unless(fails_with("{\"architectures\": [\"LlamaForCausalLM\"], "
                           LLAMA_SIZES "}", "{\"top_p\": ", gen_path,
                           "invalid JSON near byte"), "%s", err);
    fail_unless(fails_with("{\"architectures\": [\"LlamaForCausalLM\"], "
                           LLAMA_SIZES "}", "{\"top_k\": \"many\"}",
                           gen_path, "top_k"), "%s", err);
    fail_unless(fails_with("{\"architectures\": [\"LlamaForCausalLM\"], "
                           LLAMA_SIZES ", \"eos_token_id\": [1, 2, 3, 4, 5, "
                           "6, 7, 8, 9]}", NULL, cfg_path, "more than 8"),
                "%s", err);
    tmp_remove();
}


/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

static const struct {
    const char  *what;
    const char  *json;
    const char  *want;
} bad_configs[] = {
    { "unknown architecture",
      "{\"architectures\": [\"FooForCausalLM\"], " LLAMA_SIZES "}",
      "architecture FooForCausalLM is not supported (supported: "
      "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, "
      "InternLM2ForCausalLM)" },
    { "bad JSON", "{\"architectures\": [\"LlamaForCausalLM\"],, }",
      "invalid JSON near byte" },
    { "not an object", "[]", "not a JSON object" },
    { "no architecture", "{" LLAMA_SIZES "}", "architectures" },
    { "yarn",
      "{\"architectures\": [\"Qwen2ForCausalLM\"], " LLAMA_SIZES ", "
      "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4.0}}",
      "rope_scaling type yarn is not supported" },
    { "longrope",
      "{\"architectures\": [\"LlamaForCausalLM\"], " LLAMA_SIZES ", "
      "\"rope_scaling\": {\"rope_type\": \"longrope\", \"factor\": 4.0}}",
      "rope_scaling type longrope is not supported" },
    { "rope scaling without a type",
      "{\"architectures\": [\"LlamaForCausalLM\"], " LLAMA_SIZES ", "
      "\"rope_scaling\": {\"factor\": 4.0}}", "rope_type" },
    { "linear without a factor",
      "{\"architectures\": [\"LlamaForCausalLM\"], " LLAMA_SIZES ", "
      "\"rope_scaling\": {\"type\": \"linear\"}}",
      "rope_scaling: \"factor\" is missing" },
    { "llama3 without its keys",
      "{\"architectures\": [\"LlamaForCausalLM\"], " LLAMA_SIZES ", "
      "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}}",
      "low_freq_factor" },
    { "heads not a multiple of kv heads",
      "{\"architectures\": [\"LlamaForCausalLM\"], " LLAMA_SIZES ", "
      "\"num_key_value_heads\": 3}",
      "num_attention_heads 8 is not a multiple of num_key_value_heads 3" },
    { "odd head_dim",
      "{\"architectures\": [\"LlamaForCausalLM\"], " LLAMA_SIZES ", "
      "\"head_dim\": 7}", "head_dim 7" },
    { "vocab over 2^24",
      "{\"architectures\": [\"LlamaForCausalLM\"], "
      "\"hidden_size\": 64, \"intermediate_size\": 172, "
      "\"num_hidden_layers\": 2, \"num_attention_heads\": 8, "
      "\"vocab_size\": 16777217}", "vocab_size" },
    { "zero size",
      "{\"architectures\": [\"LlamaForCausalLM\"], "
      "\"hidden_size\": 0, \"intermediate_size\": 172, "
      "\"num_hidden_layers\": 2, \"num_attention_heads\": 8, "
      "\"vocab_size\": 512}", "hidden_size" },
    { "missing size",
      "{\"architectures\": [\"LlamaForCausalLM\"], "
      "\"hidden_size\": 64, \"num_hidden_layers\": 2, "
      "\"num_attention_heads\": 8, \"vocab_size\": 512}",
      "\"intermediate_size\" is missing" },
    { "size as a string",
      "{\"architectures\": [\"LlamaForCausalLM\"], " LLAMA_SIZES ", "
      "\"max_position_embeddings\": \"4096\"}", "max_position_embeddings" },
    { "fractional size",
      "{\"architectures\": [\"LlamaForCausalLM\"], "
      "\"hidden_size\": 64.5, \"intermediate_size\": 172, "
      "\"num_hidden_layers\": 2, \"num_attention_heads\": 8, "
      "\"vocab_size\": 512}", "hidden_size" },
    { "unknown torch_dtype",
      "{\"architectures\": [\"LlamaForCausalLM\"], " LLAMA_SIZES ", "
      "\"torch_dtype\": \"float64\"}", "torch_dtype float64" },
    { "tie not a flag",
      "{\"architectures\": [\"LlamaForCausalLM\"], " LLAMA_SIZES ", "
      "\"tie_word_embeddings\": 1}", "tie_word_embeddings" },
    { "Llama attention bias",
      "{\"architectures\": [\"LlamaForCausalLM\"], " LLAMA_SIZES ", "
      "\"attention_bias\": true}", "attention_bias" },
    { "negative eos",
      "{\"architectures\": [\"LlamaForCausalLM\"], " LLAMA_SIZES ", "
      "\"eos_token_id\": -1}", "eos_token_id" },
};


// Assumption: each broken config.json fails with one line that starts
// with the file's path and says what is wrong.
LMD_TEST(config_errors)
{
    struct lmd_model_config  c;
    char                     want[600];
    size_t                   i;

    if (!tmp_make()) {
        return;
    }
    for (i = 0; i < sizeof(bad_configs) / sizeof(bad_configs[0]); i++) {
        fail_unless(fails_with(bad_configs[i].json, NULL, cfg_path,
                               bad_configs[i].want),
                    "%s: %s", bad_configs[i].what, err);
    }
    /* The exact wording of two that other code and people rely on. */
    fails_with(bad_configs[0].json, NULL, cfg_path, "");
    snprintf(want, sizeof(want), "%s: %s", cfg_path, bad_configs[0].want);
    fail_unless_streq(err, want);
    fails_with(bad_configs[4].json, NULL, cfg_path, "");
    snprintf(want, sizeof(want), "%s: rope_scaling type yarn is not "
             "supported", cfg_path);
    fail_unless(strncmp(err, want, strlen(want)) == 0, "%s", err);

    /* No config.json at all. */
    unlink(cfg_path);
    fail_unless(lmd_model_config_load(tmp, &c, err, sizeof(err))
                == LMD_ERROR && strstr(err, cfg_path) == err, "%s", err);
    tmp_remove();
}


/* ------------------------------------------------------------------------
 * RoPE frequencies
 * ------------------------------------------------------------------------ */

/* transformers' default inv_freq, in double. */
static double
ref_default(double base, int d, int i)
{
    return 1.0 / pow(base, (double) (2 * i) / d);
}


/* _compute_dynamic_ntk_parameters: the base at seq_len. */
static double
ref_dynamic_base(double base, double factor, int d, double seq,
    double max_pos)
{
    if (seq < max_pos) {
        seq = max_pos;
    }
    return base * pow(factor * seq / max_pos - (factor - 1), d / (d - 2.0));
}


/* _compute_llama3_parameters, element by element. */
static double
ref_llama3(double inv, double factor, double low, double high, double old)
{
    double  low_wl = old / low, high_wl = old / high;
    double  wl = 2 * 3.14159265358979323846 / inv;
    double  smooth;

    if (wl < high_wl) {
        return inv;
    }
    if (wl > low_wl) {
        return inv / factor;
    }
    smooth = (old / wl - low) / (high - low);
    return (1 - smooth) * inv / factor + smooth * inv;
}


static int
close_to(float got, double want)
{
    return fabs(got - want) <= 1e-6 * fabs(want) + 1e-30;
}


// Assumption: default frequencies are theta^(-2i/d); with theta 10000
// and d 8 they are 1, 0.1, 0.01, 0.001.  Positions are not scaled.
LMD_TEST(rope_default)
{
    struct lmd_model_config  c;
    float                    inv[64], scale;
    int                      i, bad;

    if (!tmp_make()) {
        return;
    }
    if (!fail_unless(load("{\"architectures\": [\"LlamaForCausalLM\"], "
                          LLAMA_SIZES "}", NULL, &c) == LMD_OK, "%s", err))
    {
        tmp_remove();
        return;
    }
    lmd_model_rope_freqs(&c, 10, inv, &scale);
    fail_unless(scale == 1.0f, "scale");
    fail_unless(inv[0] == 1.0f && close_to(inv[1], 0.1)
                && close_to(inv[2], 0.01) && close_to(inv[3], 0.001),
                "%g %g %g %g", inv[0], inv[1], inv[2], inv[3]);

    c.head_dim = 128;
    c.rope_theta = 500000.0f;
    lmd_model_rope_freqs(&c, 100000, inv, &scale);
    bad = 0;
    for (i = 0; i < 64; i++) {
        bad += !close_to(inv[i], ref_default(500000.0, 128, i));
    }
    fail_unless(bad == 0, "%d frequencies off", bad);
    tmp_remove();
}


// Assumption: linear scaling keeps the frequencies and scales the
// positions by 1/factor.
LMD_TEST(rope_linear)
{
    struct lmd_model_config  c;
    float                    inv[64], scale;
    int                      i, bad;

    if (!tmp_make()) {
        return;
    }
    if (!fail_unless(load("{\"architectures\": [\"LlamaForCausalLM\"], "
                          LLAMA_SIZES ", \"head_dim\": 64, "
                          "\"rope_scaling\": {\"type\": \"linear\", "
                          "\"factor\": 4.0}}", NULL, &c) == LMD_OK,
                     "%s", err))
    {
        tmp_remove();
        return;
    }
    lmd_model_rope_freqs(&c, 5000, inv, &scale);
    fail_unless(scale == 0.25f, "scale %g", scale);
    bad = 0;
    for (i = 0; i < 32; i++) {
        bad += !close_to(inv[i], ref_default(10000.0, 64, i));
    }
    fail_unless(bad == 0, "%d frequencies off", bad);
    tmp_remove();
}


// Assumption: dynamic NTK keeps the default frequencies up to the
// trained length and stretches the base past it, per sequence length.
LMD_TEST(rope_dynamic)
{
    struct lmd_model_config  c;
    float                    inv[64], scale;
    double                   base;
    int                      i, bad;

    if (!tmp_make()) {
        return;
    }
    if (!fail_unless(load("{\"architectures\": [\"InternLM2ForCausalLM\"], "
                          LLAMA_SIZES ", \"head_dim\": 128, "
                          "\"max_position_embeddings\": 4096, "
                          "\"rope_theta\": 1000000, "
                          "\"rope_scaling\": {\"type\": \"dynamic\", "
                          "\"factor\": 2.0}}", NULL, &c) == LMD_OK,
                     "%s", err))
    {
        tmp_remove();
        return;
    }
    lmd_model_rope_freqs(&c, 4096, inv, &scale);
    bad = 0;
    for (i = 0; i < 64; i++) {
        bad += !close_to(inv[i], ref_default(1e6, 128, i));
    }
    fail_unless(bad == 0 && scale == 1.0f, "at the trained length");

    lmd_model_rope_freqs(&c, 10000, inv, &scale);
    base = ref_dynamic_base(1e6, 2.0, 128, 10000, 4096);
    bad = 0;
    for (i = 0; i < 64; i++) {
        bad += !close_to(inv[i], ref_default(base, 128, i));
    }
    fail_unless(bad == 0 && scale == 1.0f, "past it: %d off", bad);
    fail_unless(inv[63] < ref_default(1e6, 128, 63), "slower");
    tmp_remove();
}


// Assumption: Llama 3.1's scaling (factor 8, low 1, high 4, 8192
// original positions, theta 500000, head_dim 128): the fastest
// frequencies unchanged, the slowest divided by 8, the band between
// blended.
LMD_TEST(rope_llama3)
{
    struct lmd_model_config  c;
    float                    inv[64], scale;
    double                   want;
    int                      i, bad, mid;

    if (!tmp_make()) {
        return;
    }
    if (!fail_unless(load("{\"architectures\": [\"LlamaForCausalLM\"], "
                          LLAMA_SIZES ", \"head_dim\": 128, "
                          "\"max_position_embeddings\": 131072, "
                          "\"rope_theta\": 500000.0, "
                          "\"rope_scaling\": {\"factor\": 8.0, "
                          "\"low_freq_factor\": 1.0, "
                          "\"high_freq_factor\": 4.0, "
                          "\"original_max_position_embeddings\": 8192, "
                          "\"rope_type\": \"llama3\"}}", NULL, &c)
                     == LMD_OK, "%s", err))
    {
        tmp_remove();
        return;
    }
    fail_unless(c.rope_scaling.type == LMD_ROPE_LLAMA3
                && c.rope_scaling.original_max_position == 8192, "parsed");
    lmd_model_rope_freqs(&c, 20, inv, &scale);
    fail_unless(scale == 1.0f, "scale");
    bad = 0;
    mid = 0;
    for (i = 0; i < 64; i++) {
        want = ref_llama3(ref_default(500000.0, 128, i), 8, 1, 4, 8192);
        bad += !close_to(inv[i], want);
        mid += want != ref_default(500000.0, 128, i)
               && want != ref_default(500000.0, 128, i) / 8;
    }
    fail_unless(bad == 0, "%d frequencies off", bad);
    fail_unless(mid > 0, "no frequency in the blended band");
    fail_unless(inv[0] == 1.0f, "fastest kept");
    fail_unless(close_to(inv[63], ref_default(500000.0, 128, 63) / 8),
                "slowest divided");
    tmp_remove();
}


/* ------------------------------------------------------------------------
 * The real stories260K
 * ------------------------------------------------------------------------ */

// Assumption: stories260K/config.json (in ../shared) is a tied f32
// Llama: 512 tokens, 64 wide, 5 layers, 8 heads of 8, 4 KV heads,
// bos 1, eos 2.
LMD_TEST(stories260K_config)
{
    const char               *shared = getenv("LMD_SHARED");
    struct lmd_model_config   c;
    static char               reason[600];
    char                      dir[512];

    snprintf(dir, sizeof(dir), "%s/models/stories260K",
             shared != NULL && shared[0] ? shared : "../shared");
    snprintf(reason, sizeof(reason), "%s/config.json", dir);
    if (access(reason, F_OK) != 0) {
        snprintf(reason, sizeof(reason), "%s/config.json is absent (set "
                 "LMD_SHARED)", dir);
        lmd_test_skip(reason);
        return;
    }
    if (!fail_unless(lmd_model_config_load(dir, &c, err, sizeof(err))
                     == LMD_OK, "%s", err))
    {
        return;
    }
    fail_unless(c.arch == LMD_ARCH_LLAMA, "arch");
    fail_unless(c.vocab_size == 512 && c.hidden_size == 64
                && c.intermediate_size == 172 && c.n_layers == 5
                && c.n_heads == 8 && c.n_kv_heads == 4 && c.head_dim == 8,
                "sizes");
    fail_unless(c.max_position == 512 && c.rms_norm_eps == 1e-5f
                && c.rope_theta == 10000.0f
                && c.rope_scaling.type == LMD_ROPE_DEFAULT, "rope, eps");
    fail_unless(c.tie_word_embeddings == 1 && c.qkv_bias == 0
                && c.torch_dtype == LMD_DTYPE_F32, "flags");
    fail_unless(c.bos_id == 1 && c.n_eos == 1 && c.eos_ids[0] == 2, "ids");
}
