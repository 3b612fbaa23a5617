/*
 * test_conf_serve.c -- unit tests for the serving keys of models[]
 * (daemon/lmd_conf_table.c): kv_cache, scheduler and prefix_cache.  Their
 * defaults, every key set, the exact "file:line:column: message" of each
 * bad value, and the -T dump of the new keys loading back to itself.
 *
 * Configs are loaded from strings named "t.yaml" with the prefix "/p", as
 * in test_conf.c, so that messages are predictable.  Each case states the
 * assumption it checks.
 */

#include "lmd_core.h"

#include "lmd_conf.h"
#include "lmd_test.h"

/* Every case's model starts on line 2, its keys at column 5. */
#define MODEL  "models:\n  - name: m\n    path: /m\n"


#include "conf_test.c"


/* The documented defaults of one model's serving keys. */
static void
check_serve_defaults(const struct lmd_conf_model *m)
{
    fail_unless(m->kv_cache.block_size == 64, "block_size %lld",
                m->kv_cache.block_size);
    fail_unless(m->kv_cache.cache_max_entry_count == 0.8,
                "cache_max_entry_count %g",
                m->kv_cache.cache_max_entry_count);
    fail_unless(m->kv_cache.kv_memory == 0, "kv_memory (auto) %llu",
                (unsigned long long) m->kv_cache.kv_memory);
    fail_unless(m->kv_cache.kv_blocks == 0, "kv_blocks %lld",
                m->kv_cache.kv_blocks);
    fail_unless_streq(m->kv_cache.codec, "auto");
    fail_unless(m->scheduler.max_batch_size == 128, "max_batch_size %lld",
                m->scheduler.max_batch_size);
    fail_unless(m->scheduler.max_batched_tokens == 4096,
                "max_batched_tokens %lld", m->scheduler.max_batched_tokens);
    fail_unless(m->scheduler.max_queue == 1024, "max_queue %lld",
                m->scheduler.max_queue);
    fail_unless(m->scheduler.queue_timeout == 120000, "queue_timeout %llu",
                (unsigned long long) m->scheduler.queue_timeout);
    fail_unless(m->prefix_cache == 1, "prefix_cache %d", m->prefix_cache);
}


/* Assumption: a model without the keys, with empty or null sections, gets
 * the defaults of lmd.yaml(5). */
LMD_TEST(serve_defaults)
{
    static const char  *docs[] = {
        MODEL,
        MODEL "    kv_cache: {}\n    scheduler: {}\n",
        MODEL "    kv_cache: ~\n    scheduler:\n    prefix_cache:\n",
    };
    struct lmd_conf  *conf;
    size_t            i;

    for (i = 0; i < lmd_nelems(docs); i++) {
        conf = load_ok(docs[i]);
        if (conf == NULL) {
            continue;
        }
        fail_unless(conf->nmodels == 1, "nmodels %zu", conf->nmodels);
        if (conf->nmodels == 1) {
            check_serve_defaults(&conf->models[0]);
        }
        lmd_conf_unref(conf);
    }
}


/* Assumption: the quantized codecs are names the config takes (whether
 * their module is built is checked when the models load). */
LMD_TEST(serve_kv_codecs)
{
    static const char  *names[] = { "int8", "int4", "auto" };
    char                doc[256];
    struct lmd_conf    *conf;
    size_t              i;

    for (i = 0; i < lmd_nelems(names); i++) {
        snprintf(doc, sizeof(doc), MODEL "    kv_cache:\n      codec: %s\n",
                 names[i]);
        conf = load_ok(doc);
        if (conf == NULL) {
            continue;
        }
        fail_unless_streq(conf->models[0].kv_cache.codec, names[i]);
        lmd_conf_unref(conf);
    }
}


/* Assumption: the shipped conf/lmd.yaml (run from the repository root)
 * keeps the serving defaults for its model: its serving block is there
 * only as comments. */
LMD_TEST(serve_shipped_config)
{
    struct lmd_conf  *conf;
    char              err[LMD_ERR_LEN];

    conf = lmd_conf_load("conf/lmd.yaml", "/p", err, sizeof(err));
    fail_unless(conf != NULL, "%s", err);
    if (conf == NULL) {
        return;
    }
    if (conf->nmodels >= 1) {
        check_serve_defaults(&conf->models[0]);
    }
    lmd_conf_unref(conf);
}


/* Assumption: every key takes a value other than its default, in the
 * spellings users write (sizes with units, "on"/"off", mixed durations),
 * and the two models of one file keep their own values. */
LMD_TEST(serve_every_key)
{
    static const char  yaml[] =
        "models:\n"
        "  - name: a\n"
        "    path: /a\n"
        "    kv_cache:\n"
        "      block_size: 16\n"
        "      cache_max_entry_count: 0.5\n"
        "      kv_memory: 512m\n"
        "      kv_blocks: 300\n"
        "      codec: auto\n"
        "    scheduler:\n"
        "      max_batch_size: 8\n"
        "      max_batched_tokens: 8\n"
        "      max_queue: 1\n"
        "      queue_timeout: 1m30s\n"
        "    prefix_cache: off\n"
        "  - name: b\n"
        "    path: /b\n"
        "    kv_cache: { block_size: 1024, cache_max_entry_count: 1,\n"
        "                kv_memory: 1g }\n"
        "    scheduler: { max_batch_size: 65536, max_queue: 1000000,\n"
        "                 max_batched_tokens: 16777216,\n"
        "                 queue_timeout: 500ms }\n"
        "    prefix_cache: on\n";
    const struct lmd_conf_model  *a, *b;
    struct lmd_conf              *conf;

    conf = load_ok(yaml);
    if (conf == NULL) {
        return;
    }
    fail_unless(conf->nmodels == 2, "nmodels %zu", conf->nmodels);
    if (conf->nmodels != 2) {
        lmd_conf_unref(conf);
        return;
    }
    a = &conf->models[0];
    b = &conf->models[1];

    fail_unless(a->kv_cache.block_size == 16, "a block_size");
    fail_unless(a->kv_cache.cache_max_entry_count == 0.5, "a fraction %g",
                a->kv_cache.cache_max_entry_count);
    fail_unless(a->kv_cache.kv_memory == 512ull << 20, "a kv_memory");
    fail_unless(a->kv_cache.kv_blocks == 300, "a kv_blocks");
    fail_unless_streq(a->kv_cache.codec, "auto");
    fail_unless(a->scheduler.max_batch_size == 8, "a max_batch_size");
    fail_unless(a->scheduler.max_batched_tokens == 8, "a batched");
    fail_unless(a->scheduler.max_queue == 1, "a max_queue");
    fail_unless(a->scheduler.queue_timeout == 90000, "a queue_timeout");
    fail_unless(a->prefix_cache == 0, "a prefix_cache");

    fail_unless(b->kv_cache.block_size == 1024, "b block_size");
    fail_unless(b->kv_cache.cache_max_entry_count == 1.0, "b fraction");
    fail_unless(b->kv_cache.kv_memory == 1ull << 30, "b kv_memory");
    fail_unless(b->kv_cache.kv_blocks == 0, "b kv_blocks");
    fail_unless(b->scheduler.max_batch_size == 65536, "b max_batch_size");
    fail_unless(b->scheduler.max_batched_tokens == 16777216, "b batched");
    fail_unless(b->scheduler.max_queue == 1000000, "b max_queue");
    fail_unless(b->scheduler.queue_timeout == 500, "b queue_timeout");
    fail_unless(b->prefix_cache == 1, "b prefix_cache");
    lmd_conf_unref(conf);
}


/* Assumption: the fraction takes plain decimals with or without a
 * leading digit, and "auto" is kv_memory's default spelled out. */
LMD_TEST(serve_spellings)
{
    struct lmd_conf  *conf;

    conf = load_ok(MODEL "    kv_cache: { cache_max_entry_count: .25,"
                   " kv_memory: auto }\n");
    if (conf != NULL) {
        fail_unless(conf->models[0].kv_cache.cache_max_entry_count == 0.25,
                    "fraction %g",
                    conf->models[0].kv_cache.cache_max_entry_count);
        fail_unless(conf->models[0].kv_cache.kv_memory == 0, "auto");
        lmd_conf_unref(conf);
    }
    conf = load_ok(MODEL "    kv_cache: { cache_max_entry_count: \"1.0\","
                   " kv_memory: 4096 }\n");
    if (conf != NULL) {
        fail_unless(conf->models[0].kv_cache.cache_max_entry_count == 1.0,
                    "fraction");
        fail_unless(conf->models[0].kv_cache.kv_memory == 4096, "bytes");
        lmd_conf_unref(conf);
    }
}


/* Assumption: kv_cache values out of range, of the wrong form or not
 * built yet are refused at the value, with the qualified key. */
LMD_TEST(serve_error_kv_cache)
{
    static const char *const  bad_fractions[] = {
        "0", "0.0", "1.5", "-0.5", "abc", "1e-1", ".", "nan", "inf",
        "0x0.8p0", "\"\"", "[0.5]"
    };
    char                      yaml[256];
    size_t                    i;

    expect_error(MODEL "    kv_cache: { block_size: 8 }\n",
                 "t.yaml:4:29: expected an integer from 16 to 1024 for "
                 "models[0].kv_cache.block_size");
    expect_error(MODEL "    kv_cache: { block_size: 2048 }\n",
                 "t.yaml:4:29: expected an integer from 16 to 1024 for "
                 "models[0].kv_cache.block_size");
    expect_error(MODEL "    kv_cache: { block_size: 48 }\n",
                 "t.yaml:4:29: expected a power of two (16, 32, 64 ... "
                 "1024) for models[0].kv_cache.block_size");
    expect_error(MODEL "    kv_cache:\n      block_size: 6x\n",
                 "t.yaml:5:19: expected an integer from 16 to 1024 for "
                 "models[0].kv_cache.block_size");

    for (i = 0; i < lmd_nelems(bad_fractions); i++) {
        snprintf(yaml, sizeof(yaml), MODEL "    kv_cache:\n"
                 "      cache_max_entry_count: %s\n", bad_fractions[i]);
        expect_error(yaml, "t.yaml:5:30: expected a number above 0 and at "
                     "most 1, like 0.8, for "
                     "models[0].kv_cache.cache_max_entry_count");
    }

    expect_error(MODEL "    kv_cache:\n      kv_memory: 0\n",
                 "t.yaml:5:18: expected auto or a size like \"4g\" (bytes, "
                 "or a number with k, m or g) for "
                 "models[0].kv_cache.kv_memory");
    expect_error(MODEL "    kv_cache:\n      kv_memory: 4x\n",
                 "t.yaml:5:18: expected auto or a size like \"4g\" (bytes, "
                 "or a number with k, m or g) for "
                 "models[0].kv_cache.kv_memory");
    expect_error(MODEL "    kv_cache:\n      kv_blocks: -1\n",
                 "t.yaml:5:18: expected an integer from 0 to 16777216 for "
                 "models[0].kv_cache.kv_blocks");
    expect_error(MODEL "    kv_cache:\n      kv_blocks: 16777217\n",
                 "t.yaml:5:18: expected an integer from 0 to 16777216 for "
                 "models[0].kv_cache.kv_blocks");

    expect_error(MODEL "    kv_cache:\n      codec: fp16\n",
                 "t.yaml:5:14: expected one of: auto, int8, int4 for "
                 "models[0].kv_cache.codec");

    expect_error(MODEL "    kv_cache: 64\n",
                 "t.yaml:4:15: expected a mapping for models[0].kv_cache");
    expect_error(MODEL "    kv_cache:\n      blocks: 64\n",
                 "t.yaml:5:7: unknown key \"blocks\" in models[0].kv_cache "
                 "(expected one of: block_size, cache_max_entry_count, "
                 "kv_memory, kv_blocks, codec)");
}


/* Assumption: scheduler limits out of range are refused at the value;
 * a step budget below the batch size is refused at whichever of the two
 * was written, and a zero queue_timeout is refused. */
LMD_TEST(serve_error_scheduler)
{
    expect_error(MODEL "    scheduler:\n      max_batch_size: 0\n",
                 "t.yaml:5:23: expected an integer from 1 to 65536 for "
                 "models[0].scheduler.max_batch_size");
    expect_error(MODEL "    scheduler:\n      max_batch_size: 65537\n",
                 "t.yaml:5:23: expected an integer from 1 to 65536 for "
                 "models[0].scheduler.max_batch_size");
    expect_error(MODEL "    scheduler:\n      max_batched_tokens: 0\n",
                 "t.yaml:5:27: expected an integer from 1 to 16777216 for "
                 "models[0].scheduler.max_batched_tokens");
    expect_error(MODEL "    scheduler:\n      max_queue: 0\n",
                 "t.yaml:5:18: expected an integer from 1 to 1000000 for "
                 "models[0].scheduler.max_queue");
    expect_error(MODEL "    scheduler:\n      max_queue: lots\n",
                 "t.yaml:5:18: expected an integer from 1 to 1000000 for "
                 "models[0].scheduler.max_queue");
    expect_error(MODEL "    scheduler:\n      queue_timeout: soon\n",
                 "t.yaml:5:22: expected a duration like \"10s\" (number "
                 "with ms, s, m, h or d) for "
                 "models[0].scheduler.queue_timeout");
    expect_error(MODEL "    scheduler:\n      queue_timeout: 0s\n",
                 "t.yaml:5:22: expected a duration above 0 for "
                 "models[0].scheduler.queue_timeout");

    /* Written budget: the message is at max_batched_tokens. */
    expect_error(MODEL "    scheduler:\n      max_batch_size: 64\n"
                 "      max_batched_tokens: 32\n",
                 "t.yaml:6:27: max_batched_tokens (32) must be at least "
                 "max_batch_size (64) in models[0].scheduler");
    /* Default budget (4096): the message is at max_batch_size. */
    expect_error(MODEL "    scheduler:\n      max_batch_size: 8192\n",
                 "t.yaml:5:23: max_batched_tokens (4096) must be at least "
                 "max_batch_size (8192) in models[0].scheduler");

    expect_error(MODEL "    scheduler: [1]\n",
                 "t.yaml:4:16: expected a mapping for models[0].scheduler");
    expect_error(MODEL "    scheduler:\n      max_batch: 1\n",
                 "t.yaml:5:7: unknown key \"max_batch\" in "
                 "models[0].scheduler (expected one of: max_batch_size, "
                 "max_batched_tokens, max_queue, queue_timeout)");
}


/* Assumption: prefix_cache is a flag like the others; errors of a later
 * model are named by its index. */
LMD_TEST(serve_error_prefix_cache)
{
    expect_error(MODEL "    prefix_cache: maybe\n",
                 "t.yaml:4:19: expected true or false for "
                 "models[0].prefix_cache");
    expect_error(MODEL "  - name: n\n    path: /n\n"
                 "    prefix_cache: 2\n",
                 "t.yaml:6:19: expected true or false for "
                 "models[1].prefix_cache");
}


/* Assumption: the dump prints every serving key of every model (kv_memory
 * as "auto" when unset) and loads back to the same text. */
LMD_TEST(serve_dump_round_trip)
{
    static const char  yaml[] =
        MODEL
        "    kv_cache: { block_size: 32, cache_max_entry_count: 0.35,\n"
        "                kv_blocks: 77 }\n"
        "    scheduler: { max_queue: 5, queue_timeout: 90s }\n"
        "    prefix_cache: no\n"
        "  - name: n\n"
        "    path: /n\n"
        "    kv_cache: { kv_memory: 3g }\n";
    static const char *const  want[] = {
        "    kv_cache:\n"
        "      block_size: 32\n"
        "      cache_max_entry_count: 0.35\n"
        "      kv_memory: auto\n"
        "      kv_blocks: 77\n"
        "      codec: auto\n"
        "    scheduler:\n"
        "      max_batch_size: 128\n"
        "      max_batched_tokens: 4096\n"
        "      max_queue: 5\n"
        "      queue_timeout: 90s\n"
        "    prefix_cache: false\n",
        "    kv_cache:\n"
        "      block_size: 64\n"
        "      cache_max_entry_count: 0.8\n"
        "      kv_memory: 3g\n"
        "      kv_blocks: 0\n"
        "      codec: auto\n"
        "    scheduler:\n"
        "      max_batch_size: 128\n"
        "      max_batched_tokens: 4096\n"
        "      max_queue: 1024\n"
        "      queue_timeout: 2m\n"
        "    prefix_cache: true\n",
    };
    struct lmd_conf  *conf, *again;
    char             *text, *text2;
    size_t            i;

    conf = load_ok(yaml);
    if (conf == NULL) {
        return;
    }
    text = dump(conf);
    lmd_conf_unref(conf);
    fail_unless(text != NULL, "dump");
    if (text == NULL) {
        return;
    }
    for (i = 0; i < lmd_nelems(want); i++) {
        fail_unless(strstr(text, want[i]) != NULL,
                    "model %zu's block missing from the dump:\n%s", i, text);
    }

    again = load_ok(text);
    if (again != NULL) {
        text2 = dump(again);
        fail_unless(text2 != NULL && strcmp(text, text2) == 0,
                    "dump of the dump differs:\n%s\n---\n%s", text,
                    text2 ? text2 : "(null)");
        free(text2);
        lmd_conf_unref(again);
    }
    free(text);
}


/* Assumption: daemon.pid takes the word "off" (lmd serve runs without a
 * pid file) and keeps it as a word, not a path in the prefix; an empty
 * value names both choices. */
LMD_TEST(serve_pid_off)
{
    struct lmd_conf  *conf;

    conf = load_ok("daemon:\n  pid: off\n");
    if (conf != NULL) {
        fail_unless_streq(conf->daemon.pid, "off");
        lmd_conf_unref(conf);
    }
    conf = load_ok("daemon:\n  pid: run/lmd.pid\n");
    if (conf != NULL) {
        fail_unless_streq(conf->daemon.pid, "/p/run/lmd.pid");
        lmd_conf_unref(conf);
    }
    expect_error("daemon:\n  pid: \"\"\n",
                 "t.yaml:2:8: expected off or a file path for daemon.pid");
}
