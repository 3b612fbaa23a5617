/*
 * test_session.c -- unit tests for engine/lmd_session.c on a fake engine
 * module defined here, which checks every batch it is given and answers
 * with logits that spell out what it saw.
 *
 * The fake engine keeps the token written at each cache position (its
 * "KV cache", laid out by the session's block table) and answers, for
 * each requested position p, a row of FAKE_VOCAB floats: [0] = p, [1] =
 * the token at p, [2] = the sum of the cached tokens at 0..p (so a row
 * proves which tokens the cache held), [3] = the number of the forward
 * call.  Each case states the assumption it checks.
 */

#include "lmd_core.h"

#include "lmd_session.h"
#include "lmd_test.h"

#define FAKE_VOCAB      8
#define FAKE_CONTEXT    200

struct fake {
    int32_t        *kv;             /* n_blocks * block_size positions */
    uint32_t        n_blocks;
    uint32_t        block_size;
    int             calls;
    int             fail_at;        /* forward call that fails, or 0 */
    char            bad[160];       /* the first contract breach */
};

static int           fake_fail_open;
static struct fake  *fake_last;         /* the last one opened */


static int
fake_open(const struct lmd_host *host, const struct lmd_engine_params *p,
    void **engine, char *err, size_t len)
{
    struct fake  *f;

    lmd_unused(host);
    if (fake_fail_open) {
        snprintf(err, len, "%s/model.safetensors: tensor x: broken",
                 p->path);
        return LMD_MODULE_ERROR;
    }
    f = calloc(1, sizeof(struct fake));
    if (f == NULL) {
        return LMD_MODULE_ERROR;
    }
    *engine = f;
    fake_last = f;
    return LMD_MODULE_OK;
}


static int
fake_memory(void *engine, struct lmd_engine_memory *mem)
{
    lmd_unused(engine);
    memset(mem, 0, sizeof(*mem));
    mem->vocab_size = FAKE_VOCAB;
    mem->max_context = FAKE_CONTEXT;
    return LMD_MODULE_OK;
}


static void
fake_close(void *engine)
{
    struct fake  *f = engine;

    fail_unless(f->bad[0] == '\0', "the engine saw %s", f->bad);
    if (f == fake_last) {
        fake_last = NULL;
    }
    free(f->kv);
    free(f);
}


static int
fake_kv_init(void *engine, const struct lmd_kv_params *kv, char *err,
    size_t len)
{
    struct fake  *f = engine;

    lmd_unused(err);
    lmd_unused(len);
    free(f->kv);
    f->n_blocks = kv->n_blocks;
    f->block_size = kv->block_size;
    f->kv = calloc((size_t) kv->n_blocks * kv->block_size, sizeof(int32_t));
    return f->kv != NULL ? LMD_MODULE_OK : LMD_MODULE_ERROR;
}


/* The slot of position p through the sequence's block table. */
static int32_t *
fake_slot(struct fake *f, const struct lmd_seq_input *s, uint32_t p)
{
    return &f->kv[(size_t) s->blocks[p / f->block_size] * f->block_size
                  + p % f->block_size];
}


static int
fake_forward(void *engine, const struct lmd_batch *b, char *err,
    size_t len)
{
    const struct lmd_seq_input  *s;
    struct fake                 *f = engine;
    float                       *row;
    uint32_t                     i, p, q, need;
    double                       sum;

    f->calls++;
    if (f->calls == f->fail_at) {
        snprintf(err, len, "fake failure");
        return LMD_MODULE_ERROR;
    }
    s = &b->seqs[0];
    need = (s->pos + s->n_tokens + f->block_size - 1) / f->block_size;
    if (b->n_seqs != 1 || s->n_tokens == 0 || s->n_logits > s->n_tokens
        || s->n_blocks != need || s->n_blocks > f->n_blocks
        || (s->n_logits > 0 && b->logits == NULL))
    {
        if (f->bad[0] == '\0') {
            snprintf(f->bad, sizeof(f->bad), "call %d: n_seqs %u pos %u "
                     "n %u blocks %u (need %u) logits %u", f->calls,
                     b->n_seqs, s->pos, s->n_tokens, s->n_blocks, need,
                     s->n_logits);
        }
        return LMD_MODULE_ERROR;
    }
    for (i = 0; i < s->n_blocks; i++) {
        if (s->blocks[i] >= f->n_blocks && f->bad[0] == '\0') {
            snprintf(f->bad, sizeof(f->bad), "block %u out of range", i);
        }
    }

    for (i = 0; i < s->n_tokens; i++) {
        *fake_slot(f, s, s->pos + i) = s->tokens[i];
    }
    row = b->logits;
    for (i = s->n_tokens - s->n_logits; i < s->n_tokens; i++) {
        p = s->pos + i;
        sum = 0;
        for (q = 0; q <= p; q++) {
            sum += *fake_slot(f, s, q);
        }
        memset(row, 0, FAKE_VOCAB * sizeof(float));
        row[0] = (float) p;
        row[1] = (float) s->tokens[i];
        row[2] = (float) sum;
        row[3] = (float) f->calls;
        row += FAKE_VOCAB;
    }
    return LMD_MODULE_OK;
}


static const struct lmd_module  fake_module = {
    LMD_MODULE_ABI_VERSION, LMD_MODULE_SIGNATURE, "fake", LMD_MODULE_ENGINE,
    "a fake engine for the session tests",
    { .engine = { NULL, fake_open, fake_memory, fake_close, fake_kv_init,
                  fake_forward, { NULL } } },
    { NULL }
};


static struct lmd_session *
open_session(uint32_t max_tokens)
{
    struct lmd_engine_params  p;
    struct lmd_session       *s;
    char                      err[LMD_ERR_LEN];

    memset(&p, 0, sizeof(p));
    p.name = "fake";
    p.path = "/m/fake";
    p.load_format = "auto";
    p.weights = "auto";
    s = lmd_session_open(&fake_module, NULL, &p, max_tokens, err,
                         sizeof(err));
    fail_unless(s != NULL, "open: %s", err);
    return s;
}


/* Assumption: the KV pool is ceil(max_tokens / 64) blocks, capacity is
 * max_tokens (0: the engine's max_context), and a new session is empty. */
LMD_TEST(open_sizes)
{
    struct lmd_session  *s;

    s = open_session(100);
    if (s != NULL) {
        fail_unless(lmd_session_capacity(s) == 100, "capacity %u",
                    lmd_session_capacity(s));
        fail_unless(lmd_session_length(s) == 0, "length");
        fail_unless(lmd_session_memory(s)->vocab_size == FAKE_VOCAB,
                    "vocab");
        lmd_session_close(s);
    }
    s = open_session(0);
    if (s != NULL) {
        fail_unless(lmd_session_capacity(s) == FAKE_CONTEXT, "capacity %u",
                    lmd_session_capacity(s));
        lmd_session_close(s);
    }
}


/* Assumption: a prompt fed in chunks reaches the engine as consecutive
 * steps at the right positions, and the last n_logits rows come back in
 * position order even when they span two chunks. */
LMD_TEST(feed_chunks_and_rows)
{
    static const int32_t  ids[10] = { 1, 2, 3, 4, 5, 6, 7, 1, 2, 3 };
    struct lmd_session   *s;
    const float          *l;
    char                  err[LMD_ERR_LEN];
    int                   i;

    s = open_session(100);
    if (s == NULL) {
        return;
    }
    l = lmd_session_feed(s, ids, 10, 3, 4, err, sizeof(err));
    fail_unless(l != NULL, "feed: %s", err);
    if (l != NULL) {
        for (i = 0; i < 3; i++) {
            fail_unless(l[i * FAKE_VOCAB] == 7 + i, "row %d pos %g", i,
                        l[i * FAKE_VOCAB]);
            fail_unless(l[i * FAKE_VOCAB + 1] == ids[7 + i], "row %d id", i);
        }
        fail_unless(l[3] == 2 && l[FAKE_VOCAB + 3] == 3
                    && l[2 * FAKE_VOCAB + 3] == 3,
                    "rows from calls %g %g %g (chunks of 4: 0-3, 4-7, 8-9)",
                    l[3], l[FAKE_VOCAB + 3], l[2 * FAKE_VOCAB + 3]);
        fail_unless(l[2 * FAKE_VOCAB + 2] == 34, "sum %g",
                    l[2 * FAKE_VOCAB + 2]);
    }
    fail_unless(lmd_session_length(s) == 10, "length %u",
                lmd_session_length(s));

    /* one more token: position 10, the cache holds the first ten */
    i = 5;
    l = lmd_session_feed(s, &i, 1, 1, 0, err, sizeof(err));
    fail_unless(l != NULL && l[0] == 10 && l[2] == 39, "decode step");

    /* n_logits 0 still succeeds (prefill without sampling) */
    l = lmd_session_feed(s, ids, 2, 0, 0, err, sizeof(err));
    fail_unless(l != NULL, "no logits: %s", err);
    lmd_session_close(s);
}


/* Assumption: truncate forgets the tail, so the next token lands at the
 * truncated length and sees only the kept prefix; it never grows the
 * length; truncate(0) empties the session. */
LMD_TEST(truncate)
{
    static const int32_t  ids[8] = { 1, 1, 1, 1, 5, 5, 5, 5 };
    struct lmd_session   *s;
    const float          *l;
    char                  err[LMD_ERR_LEN];
    int32_t               id = 2;

    s = open_session(70);
    if (s == NULL) {
        return;
    }
    l = lmd_session_feed(s, ids, 8, 1, 0, err, sizeof(err));
    fail_unless(l != NULL && l[2] == 24, "prefill: %s", err);
    lmd_session_truncate(s, 4);
    fail_unless(lmd_session_length(s) == 4, "length %u",
                lmd_session_length(s));
    lmd_session_truncate(s, 6);
    fail_unless(lmd_session_length(s) == 4, "truncate grew the length");
    l = lmd_session_feed(s, &id, 1, 1, 0, err, sizeof(err));
    fail_unless(l != NULL && l[0] == 4 && l[2] == 6, "after truncate: pos "
                "%g sum %g", l ? l[0] : -1, l ? l[2] : -1);
    lmd_session_truncate(s, 0);
    l = lmd_session_feed(s, &id, 1, 1, 0, err, sizeof(err));
    fail_unless(l != NULL && l[0] == 0 && l[2] == 2, "after reset");
    lmd_session_close(s);
}


/* Assumption: a session fills up to exactly its capacity, across the
 * 64-token block boundary, and then refuses with "context full". */
LMD_TEST(context_full)
{
    int32_t              ids[70];
    struct lmd_session  *s;
    const float         *l;
    char                 err[LMD_ERR_LEN];
    int                  i;

    for (i = 0; i < 70; i++) {
        ids[i] = 1;
    }
    s = open_session(70);
    if (s == NULL) {
        return;
    }
    l = lmd_session_feed(s, ids, 69, 1, 16, err, sizeof(err));
    fail_unless(l != NULL && l[0] == 68 && l[2] == 69, "69 tokens: %s",
                err);
    l = lmd_session_feed(s, ids, 2, 1, 0, err, sizeof(err));
    fail_unless(l == NULL, "fed past the capacity");
    fail_unless_streq(err, "context full (70 tokens)");
    fail_unless(lmd_session_length(s) == 69, "length %u",
                lmd_session_length(s));
    l = lmd_session_feed(s, ids, 1, 1, 0, err, sizeof(err));
    fail_unless(l != NULL && l[0] == 69, "the 70th token");
    lmd_session_close(s);
}


/* Assumption: ids outside the vocabulary, empty feeds and more logits
 * than tokens are refused before the engine runs; a failing step leaves
 * the length where it was, with the engine's message. */
LMD_TEST(errors)
{
    static const int32_t  ids[4] = { 1, 2, 3, 4 };
    struct lmd_session   *s;
    int32_t               bad = FAKE_VOCAB;
    char                  err[LMD_ERR_LEN];

    s = open_session(100);
    if (s == NULL) {
        return;
    }
    fail_unless(lmd_session_feed(s, &bad, 1, 1, 0, err, sizeof(err))
                == NULL, "id past the vocabulary");
    fail_unless(strstr(err, "token id 8") != NULL, "%s", err);
    fail_unless(lmd_session_feed(s, ids, 0, 0, 0, err, sizeof(err))
                == NULL, "empty feed");
    fail_unless(lmd_session_feed(s, ids, 2, 3, 0, err, sizeof(err))
                == NULL, "3 logits of 2 tokens");
    fail_unless(lmd_session_length(s) == 0, "length %u",
                lmd_session_length(s));

    /* the second of two chunks fails: nothing was added */
    if (fake_last != NULL) {
        fake_last->fail_at = fake_last->calls + 2;
        fail_unless(lmd_session_feed(s, ids, 4, 1, 2, err, sizeof(err))
                    == NULL, "a failing step");
        fail_unless_streq(err, "forward at position 2: fake failure");
        fail_unless(lmd_session_length(s) == 0, "length %u after a "
                    "failure", lmd_session_length(s));
        fake_last->fail_at = 0;
        fail_unless(lmd_session_feed(s, ids, 4, 1, 2, err, sizeof(err))
                    != NULL, "after the failure: %s", err);
    }
    lmd_session_close(s);

    fake_fail_open = 1;
    {
        struct lmd_engine_params  p;

        memset(&p, 0, sizeof(p));
        p.name = p.path = "/m/x";
        p.load_format = p.weights = "auto";
        fail_unless(lmd_session_open(&fake_module, NULL, &p, 10, err,
                                     sizeof(err)) == NULL, "open failed");
        fail_unless_streq(err, "/m/x/model.safetensors: tensor x: broken");
    }
    fake_fail_open = 0;
}


/* Assumption: the stderr host is complete (ABI version, log, clock) and
 * its clock moves forward. */
LMD_TEST(stderr_host)
{
    const struct lmd_host  *h = lmd_session_stderr_host();
    uint64_t                a, b;

    fail_unless(h->abi_version == LMD_MODULE_ABI_VERSION, "abi");
    fail_unless(h->log != NULL && h->now_ns != NULL, "hooks");
    a = h->now_ns();
    b = h->now_ns();
    fail_unless(b >= a && a > 0, "clock %llu %llu", (unsigned long long) a,
                (unsigned long long) b);
}
