/*
 * test_model_batch.c -- a batched forward step of the cpu engine gives
 * each sequence the logits it gets alone, bit for bit.
 *
 * A random Llama with GQA (model_ref.c: 4 heads on 2 KV heads,
 * head_dim 16, sizes that are no multiple of 8) is written to a fresh
 * folder and opened with lmd_engine_cpu.so's hooks directly.  Four
 * sequences run a fixed schedule of four steps mixing prefill chunks
 * (some crossing block boundaries), single decode tokens, n_logits 0 to
 * all, and a sequence that sits a step out, in interleaved,
 * non-contiguous blocks.  Then each sequence runs the same schedule
 * alone after a fresh kv_init, in blocks 0, 1, 2: every logit must be
 * the same bits (memcmp).  That for weights f32, bf16 and int8, block
 * sizes 16 and 64, and the batched run with 1 and 2 threads.
 *
 * The error cases hand forward a token id at or past the vocabulary (or
 * negative), a block number past kv_init's n_blocks, a block table too
 * short for its positions and n_logits > n_tokens: each must return
 * LMD_MODULE_ERROR with a message, and the engine must still run a good
 * step afterwards.
 */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmd_test.h"
#include "model_ref.c"

#define N_SEQS      4
#define N_STEPS     4
#define MAX_BLOCKS  3           /* per sequence */
#define POOL_BLOCKS 16          /* the batched run's kv_init */

/* Tokens each sequence feeds at each step (0: not in that step) and how
 * many logits it asks for. */
static const uint32_t  plan_tokens[N_STEPS][N_SEQS] = {
    { 20, 7, 33, 1 },           /* prefills, one of a single token */
    { 1, 12, 1, 5 },            /* decodes and chunks across a block */
    { 1, 0, 1, 1 },             /* seq 1 sits this one out */
    { 17, 1, 1, 1 }             /* a chunk after decodes */
};
static const uint32_t  plan_logits[N_STEPS][N_SEQS] = {
    { 1, 7, 3, 1 },
    { 1, 2, 1, 5 },
    { 1, 0, 0, 1 },
    { 17, 1, 1, 1 }
};

/* The batched run's block tables: interleaved, out of order. */
static const uint32_t  tables[N_SEQS][MAX_BLOCKS] = {
    { 5, 0, 11 }, { 1, 9, 14 }, { 2, 7, 4 }, { 13, 3, 8 }
};
static const uint32_t  alone[MAX_BLOCKS] = { 0, 1, 2 };


struct run {
    int32_t    *tokens[N_SEQS];     /* each sequence's whole stream */
    float      *logits[N_SEQS];     /* its logits rows, steps in order */
};


static uint32_t
seq_len(uint32_t s)
{
    uint32_t  t, n = 0;

    for (t = 0; t < N_STEPS; t++) {
        n += plan_tokens[t][s];
    }
    return n;
}


static uint32_t
seq_rows(uint32_t s)
{
    uint32_t  t, n = 0;

    for (t = 0; t < N_STEPS; t++) {
        n += plan_logits[t][s];
    }
    return n;
}


static int
run_alloc(struct run *r, uint32_t vocab)
{
    uint32_t  s;

    memset(r, 0, sizeof(*r));
    for (s = 0; s < N_SEQS; s++) {
        r->tokens[s] = malloc(seq_len(s) * sizeof(int32_t));
        r->logits[s] = calloc((size_t) seq_rows(s) * vocab, sizeof(float));
        if (r->tokens[s] == NULL || r->logits[s] == NULL) {
            return -1;
        }
        mref_tokens(100 + s, vocab, r->tokens[s], seq_len(s));
    }
    return 0;
}


static void
run_free(struct run *r)
{
    uint32_t  s;

    for (s = 0; s < N_SEQS; s++) {
        free(r->tokens[s]);
        free(r->logits[s]);
    }
}


/* Runs the plan: every sequence in one batch per step (only < 0) or
 * sequence `only` alone.  Fills r->logits.  0 or -1 with err. */
static int
run_plan(struct mref_engine *e, struct run *r, int only, uint32_t bs,
    char *err, size_t len)
{
    struct lmd_seq_input  in[N_SEQS];
    struct lmd_batch      b;
    struct lmd_kv_params  kv;
    uint32_t              pos[N_SEQS] = { 0 }, rows[N_SEQS] = { 0 };
    uint32_t              s, t, n, k, row;
    uint32_t              V = e->mem.vocab_size;
    float                *out;

    memset(&kv, 0, sizeof(kv));
    kv.n_blocks = only < 0 ? POOL_BLOCKS : MAX_BLOCKS;
    kv.block_size = bs;
    err[0] = '\0';
    if (e->mod->ops.engine.kv_init(e->eng, &kv, err, len)
        != LMD_MODULE_OK)
    {
        return -1;
    }
    out = malloc((size_t) 64 * N_SEQS * V * sizeof(float));
    if (out == NULL) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    for (t = 0; t < N_STEPS; t++) {
        n = 0;
        for (s = 0; s < N_SEQS; s++) {
            if (plan_tokens[t][s] == 0 || (only >= 0 && (int) s != only)) {
                continue;
            }
            memset(&in[n], 0, sizeof(in[n]));
            in[n].tokens = r->tokens[s] + pos[s];
            in[n].n_tokens = plan_tokens[t][s];
            in[n].pos = pos[s];
            in[n].n_logits = plan_logits[t][s];
            if (only < 0) {         /* the whole table, more than needed */
                in[n].blocks = tables[s];
                in[n].n_blocks = MAX_BLOCKS;
            } else {                /* just what covers the positions */
                in[n].blocks = alone;
                in[n].n_blocks = (pos[s] + plan_tokens[t][s] + bs - 1) / bs;
            }
            n++;
        }
        memset(&b, 0, sizeof(b));
        b.seqs = in;
        b.n_seqs = n;
        b.logits = out;
        if (e->mod->ops.engine.forward(e->eng, &b, err, len)
            != LMD_MODULE_OK)
        {
            free(out);
            return -1;
        }
        row = 0;
        for (s = 0; s < N_SEQS; s++) {
            if (plan_tokens[t][s] == 0 || (only >= 0 && (int) s != only)) {
                continue;
            }
            k = plan_logits[t][s];
            memcpy(r->logits[s] + (size_t) rows[s] * V,
                   out + (size_t) row * V, (size_t) k * V * sizeof(float));
            row += k;
            rows[s] += k;
            pos[s] += plan_tokens[t][s];
        }
    }
    free(out);
    return 0;
}


/* Every sequence's logits in a and b, the same bits. */
static void
compare_runs(const struct run *a, const struct run *b, uint32_t V,
    const char *what)
{
    uint32_t  s, i, j;
    double    d;

    for (s = 0; s < N_SEQS; s++) {
        for (i = 0; i < seq_rows(s); i++) {
            const float  *x = a->logits[s] + (size_t) i * V;
            const float  *y = b->logits[s] + (size_t) i * V;

            if (memcmp(x, y, V * sizeof(float)) == 0) {
                continue;
            }
            d = 0;
            for (j = 0; j < V; j++) {
                d = fmax(d, fabs((double) x[j] - y[j]));
            }
            fail_unless(0, "%s: sequence %u, logits row %u of %u differ "
                        "(max |d| %.3g)", what, s, i, seq_rows(s), d);
            break;
        }
    }
}


/* A random GQA Llama in a fresh folder; 0 or -1 (a failed check). */
static int
model_setup(struct mref_model *m, char *dir, size_t len)
{
    char  err[512];

    memset(m, 0, sizeof(*m));
    m->name = "batch";
    m->arch = MREF_LLAMA;
    m->dtype = MREF_F32;
    m->vocab = 300;
    m->hidden = 64;
    m->inter = 100;
    m->n_layers = 2;
    m->n_heads = 4;
    m->n_kv_heads = 2;
    m->max_position = 512;
    m->rope_theta = 10000;
    m->rms_eps = 1e-5;
    m->seed = 42;
    if (mref_model_init(m) != 0 || mref_tmpdir(dir, len) != 0) {
        fail_unless(0, "out of memory or no temporary folder");
        mref_model_free(m);
        return -1;
    }
    if (mref_model_write(m, dir, err, sizeof(err)) != 0) {
        fail_unless(0, "%s", err);
        mref_rmdir(dir);
        mref_model_free(m);
        return -1;
    }
    return 0;
}


/* Batched (threads 1 and 2) against alone, for one weights dtype. */
static void
check_batch(const char *weights, uint32_t bs)
{
    struct mref_model         m;
    struct mref_engine        e1, e2;
    struct run                batched, batched2, single;
    const struct lmd_module  *mod;
    void                     *handle = NULL;
    char                      dir[4096], err[LMD_MODULE_ERR_LEN];
    char                      what[96];
    uint32_t                  s;

    if (model_setup(&m, dir, sizeof(dir)) != 0) {
        return;
    }
    memset(&batched, 0, sizeof(batched));
    memset(&batched2, 0, sizeof(batched2));
    memset(&single, 0, sizeof(single));
    e1.eng = e2.eng = NULL;
    mod = mref_module_open(&handle, err, sizeof(err));
    if (mod == NULL) {
        fail_unless(0, "%s", err);
        goto done;
    }
    if (mref_engine_open(&e1, mod, dir, weights, 1, err, sizeof(err)) != 0
        || mref_engine_open(&e2, mod, dir, weights, 2, err, sizeof(err))
           != 0)
    {
        fail_unless(0, "%s: open: %s", weights, err);
        goto done;
    }
    if (run_alloc(&batched, m.vocab) != 0
        || run_alloc(&batched2, m.vocab) != 0
        || run_alloc(&single, m.vocab) != 0)
    {
        fail_unless(0, "out of memory");
        goto done;
    }
    fail_unless(e1.mem.vocab_size == m.vocab, "vocab_size %u",
                e1.mem.vocab_size);

    snprintf(what, sizeof(what), "%s, block_size %u", weights, bs);
    if (run_plan(&e1, &batched, -1, bs, err, sizeof(err)) != 0) {
        fail_unless(0, "%s: batched: %s", what, err);
        goto done;
    }
    for (s = 0; s < N_SEQS; s++) {
        if (run_plan(&e1, &single, (int) s, bs, err, sizeof(err)) != 0) {
            fail_unless(0, "%s: sequence %u alone: %s", what, s, err);
            goto done;
        }
    }
    compare_runs(&batched, &single, m.vocab, what);

    if (run_plan(&e2, &batched2, -1, bs, err, sizeof(err)) != 0) {
        fail_unless(0, "%s: batched, 2 threads: %s", what, err);
        goto done;
    }
    snprintf(what, sizeof(what), "%s, block_size %u, threads 2 vs 1",
             weights, bs);
    compare_runs(&batched2, &batched, m.vocab, what);
    printf("# %s, block_size %u: %u sequences batched = alone, threads 1 "
           "= 2\n", weights, bs, N_SEQS);
done:
    if (e1.eng != NULL) {
        mref_engine_close(&e1);
    }
    if (e2.eng != NULL) {
        mref_engine_close(&e2);
    }
    mref_module_close(handle);
    run_free(&batched);
    run_free(&batched2);
    run_free(&single);
    mref_rmdir(dir);
    mref_model_free(&m);
}


LMD_TEST(batch_f32)
{
    check_batch("f32", 16);
}


LMD_TEST(batch_f32_block64)
{
    check_batch("f32", 64);
}


LMD_TEST(batch_bf16)
{
    check_batch("bf16", 16);
}


LMD_TEST(batch_int8)
{
    check_batch("int8", 16);
}


/* ------------------------------------------------------------------------
 * Bad steps
 * ------------------------------------------------------------------------ */

/* One bad input as the second sequence of a batch (the first is fine):
 * LMD_MODULE_ERROR and a message. */
static void
expect_error(struct mref_engine *e, const struct lmd_seq_input *bad,
    const char *what)
{
    static const int32_t   good_tokens[4] = { 5, 6, 7, 8 };
    static const uint32_t  good_blocks[1] = { 0 };
    struct lmd_seq_input   in[2];
    struct lmd_batch       b;
    float                 *out;
    char                   err[LMD_MODULE_ERR_LEN];
    int                    rc;

    out = calloc((size_t) 64 * e->mem.vocab_size, sizeof(float));
    if (out == NULL) {
        fail_unless(0, "out of memory");
        return;
    }
    memset(in, 0, sizeof(in));
    in[0].tokens = good_tokens;
    in[0].n_tokens = 4;
    in[0].blocks = good_blocks;
    in[0].n_blocks = 1;
    in[0].n_logits = 1;
    in[1] = *bad;
    memset(&b, 0, sizeof(b));
    b.seqs = in;
    b.n_seqs = 2;
    b.logits = out;
    err[0] = '\0';
    rc = e->mod->ops.engine.forward(e->eng, &b, err, sizeof(err));
    fail_unless(rc == LMD_MODULE_ERROR, "%s: forward returned %d", what,
                rc);
    fail_unless(err[0] != '\0', "%s: no message", what);
    printf("# %s: \"%s\"\n", what, err);
    free(out);
}


LMD_TEST(batch_errors)
{
    struct mref_model         m;
    struct mref_engine        e;
    struct lmd_kv_params      kv;
    struct lmd_seq_input      bad;
    const struct lmd_module  *mod;
    void                     *handle = NULL;
    char                      dir[4096], err[LMD_MODULE_ERR_LEN];
    int32_t                   tok[20];
    uint32_t                  blocks[2] = { 1, 2 };
    float                    *want = NULL, *got = NULL;

    if (model_setup(&m, dir, sizeof(dir)) != 0) {
        return;
    }
    e.eng = NULL;
    mod = mref_module_open(&handle, err, sizeof(err));
    if (mod == NULL) {
        fail_unless(0, "%s", err);
        goto done;
    }
    if (mref_engine_open(&e, mod, dir, "f32", 1, err, sizeof(err)) != 0) {
        fail_unless(0, "open: %s", err);
        goto done;
    }
    want = malloc((size_t) 20 * m.vocab * sizeof(float));
    got = malloc((size_t) 20 * m.vocab * sizeof(float));
    if (want == NULL || got == NULL) {
        fail_unless(0, "out of memory");
        goto done;
    }
    mref_tokens(7, m.vocab, tok, 20);
    if (mref_engine_run(&e, tok, 20, 0, 16, want, err, sizeof(err)) != 0) {
        fail_unless(0, "a good run: %s", err);
        goto done;
    }

    memset(&kv, 0, sizeof(kv));
    kv.n_blocks = 4;
    kv.block_size = 16;
    fail_unless(mod->ops.engine.kv_init(e.eng, &kv, err, sizeof(err))
                == LMD_MODULE_OK, "kv_init: %s", err);

    memset(&bad, 0, sizeof(bad));
    bad.tokens = tok;
    bad.n_tokens = 20;
    bad.blocks = blocks;
    bad.n_blocks = 2;
    bad.n_logits = 1;

    tok[3] = (int32_t) m.vocab;
    expect_error(&e, &bad, "token id = vocab_size");
    tok[3] = INT32_MAX;
    expect_error(&e, &bad, "token id INT32_MAX");
    tok[3] = -1;
    expect_error(&e, &bad, "token id -1");
    mref_tokens(7, m.vocab, tok, 20);

    blocks[1] = 4;
    expect_error(&e, &bad, "block number = n_blocks");
    blocks[1] = UINT32_MAX;
    expect_error(&e, &bad, "block number UINT32_MAX");
    blocks[1] = 2;

    bad.n_blocks = 1;
    expect_error(&e, &bad, "block table short of pos + n_tokens");
    bad.n_blocks = 2;
    bad.pos = 20;
    expect_error(&e, &bad, "pos past the block table");
    bad.pos = 0;

    bad.n_logits = 21;
    expect_error(&e, &bad, "n_logits > n_tokens");
    bad.n_logits = 1;

    /* still sound: the good run again gives the same logits */
    if (mref_engine_run(&e, tok, 20, 0, 16, got, err, sizeof(err)) != 0) {
        fail_unless(0, "a good run after the errors: %s", err);
    } else {
        fail_unless(memcmp(want, got, (size_t) 20 * m.vocab * sizeof(float))
                    == 0, "the good run's logits changed after the errors");
    }
done:
    free(want);
    free(got);
    if (e.eng != NULL) {
        mref_engine_close(&e);
    }
    mref_module_close(handle);
    mref_rmdir(dir);
    mref_model_free(&m);
}
