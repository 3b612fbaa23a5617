/*
 * test_spm.c -- unit tests for engine/lmd_spm.c, the sentencepiece
 * ModelProto reader.
 *
 * The real models are the llama2, internlm2 and mistral tokenizer.model
 * files of ../shared/fixtures/tokenizers (LMD_SHARED overrides ../shared);
 * cases that need them skip when they are absent.  What they are checked
 * against comes from elsewhere: every piece against the vocabulary of the
 * tokenizer.json beside it (converted from the same model by other tools),
 * the rest against the fixtures README and the known Llama 2 layout.  The
 * malformed-input cases build their buffers by hand.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lmd_spm.h"
#include "lmd_test.h"


/* ------------------------------------------------------------------------
 * Fixtures
 * ------------------------------------------------------------------------ */

/* fixture_path(buf, "llama2/tokenizer.model"): the path, or NULL (with
 * the case marked skipped) when the file is not there. */
static const char *
fixture_path(char *buf, size_t size, const char *rel)
{
    const char  *shared = getenv("LMD_SHARED");
    static char  reason[600];
    FILE        *f;

    snprintf(buf, size, "%s/fixtures/tokenizers/%s",
             shared != NULL && shared[0] ? shared : "../shared", rel);
    f = fopen(buf, "rb");
    if (f == NULL) {
        snprintf(reason, sizeof(reason), "%s is absent (set LMD_SHARED to "
                 "the folder holding fixtures/)", buf);
        lmd_test_skip(reason);
        return NULL;
    }
    fclose(f);
    return buf;
}


static char *
read_file(const char *path, size_t *len)
{
    FILE  *f;
    char  *buf;
    long   n;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t) n + 1);
    if (buf != NULL && fread(buf, 1, (size_t) n, f) != (size_t) n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        *len = (size_t) n;
    }
    return buf;
}


/* The tokenizer.json model.vocab of a family as an array by id (strings
 * point into *json; free it with cJSON_Delete).  cJSON keeps keys as C
 * strings, so a key holding U+0000 reads as "". */
static const char **
vocab_by_id(const char *family, size_t *n, cJSON **json)
{
    char          path[512], rel[64];
    char         *text;
    size_t        len;
    const char  **by_id;
    cJSON        *vocab, *e;

    snprintf(rel, sizeof(rel), "%s/tokenizer.json", family);
    if (fixture_path(path, sizeof(path), rel) == NULL) {
        return NULL;
    }
    text = read_file(path, &len);
    fail_unless(text != NULL, "cannot read %s", path);
    if (text == NULL) {
        return NULL;
    }
    *json = cJSON_ParseWithLength(text, len);
    free(text);
    fail_unless(*json != NULL, "%s does not parse", path);
    if (*json == NULL) {
        return NULL;
    }
    vocab = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(*json, "model"), "vocab");
    *n = (size_t) cJSON_GetArraySize(vocab);
    by_id = calloc(*n + 1, sizeof(char *));
    if (by_id == NULL) {
        return NULL;
    }
    cJSON_ArrayForEach(e, vocab) {
        fail_unless(e->valueint >= 0 && (size_t) e->valueint < *n
                    && by_id[e->valueint] == NULL,
                    "%s: id %d is out of range or twice", path, e->valueint);
        if (e->valueint >= 0 && (size_t) e->valueint < *n) {
            by_id[e->valueint] = e->string;
        }
    }
    return by_id;
}


/* Loads FAMILY/tokenizer.model; 0 when skipped or failed. */
static int
load_model(const char *family, struct lmd_spm_model *m)
{
    char  path[512], rel[64], err[LMD_ERR_LEN];
    int   rc;

    snprintf(rel, sizeof(rel), "%s/tokenizer.model", family);
    if (fixture_path(path, sizeof(path), rel) == NULL) {
        return 0;
    }
    err[0] = '\0';
    rc = lmd_spm_load(path, m, err, sizeof(err));
    fail_unless(rc == LMD_OK, "%s: %s", path, err);
    return rc == LMD_OK;
}


/* Every piece equals the tokenizer.json vocabulary entry of its id, but
 * for the ids in [skip_from, skip_to) (renamed by the converter). */
static void
check_against_vocab(const char *family, const struct lmd_spm_model *m,
    size_t skip_from, size_t skip_to)
{
    const char  **by_id;
    cJSON        *json = NULL;
    size_t        n = 0, i, bad = 0;

    by_id = vocab_by_id(family, &n, &json);
    if (by_id == NULL) {
        cJSON_Delete(json);
        return;
    }
    fail_unless(n == m->npieces, "%s: %zu pieces, tokenizer.json has %zu",
                family, m->npieces, n);
    for (i = 0; i < m->npieces && i < n; i++) {
        if (i >= skip_from && i < skip_to) {
            continue;
        }
        if (memchr(m->pieces[i].piece, '\0', m->pieces[i].len) != NULL) {
            continue;       /* cJSON cannot hold it: checked by the caller */
        }
        if (by_id[i] == NULL || strcmp(by_id[i], m->pieces[i].piece) != 0) {
            if (bad++ < 5) {
                fail_unless(0, "%s: piece %zu is \"%s\", tokenizer.json "
                            "has \"%s\"", family, i, m->pieces[i].piece,
                            by_id[i] ? by_id[i] : "(none)");
            }
        }
        if (strlen(m->pieces[i].piece) != m->pieces[i].len) {
            fail_unless(0, "%s: piece %zu: len %zu, strlen %zu", family, i,
                        m->pieces[i].len, strlen(m->pieces[i].piece));
        }
    }
    fail_unless(bad == 0, "%s: %zu pieces differ from tokenizer.json",
                family, bad);
    free(by_id);
    cJSON_Delete(json);
}


/* Pieces 3..258 are <0x00>..<0xFF> of type BYTE; no other piece is. */
static void
check_byte_pieces(const char *family, const struct lmd_spm_model *m)
{
    char    want[8];
    size_t  i, nbyte = 0;

    for (i = 0; i < m->npieces; i++) {
        if (m->pieces[i].type == LMD_SPM_BYTE) {
            nbyte++;
        }
    }
    fail_unless(nbyte == 256, "%s: %zu BYTE pieces", family, nbyte);
    for (i = 0; i < 256; i++) {
        snprintf(want, sizeof(want), "<0x%02X>", (unsigned) i);
        fail_unless(strcmp(m->pieces[3 + i].piece, want) == 0
                    && m->pieces[3 + i].type == LMD_SPM_BYTE,
                    "%s: piece %zu is \"%s\" type %d, want %s BYTE", family,
                    3 + i, m->pieces[3 + i].piece, m->pieces[3 + i].type,
                    want);
    }
}


static size_t
count_type(const struct lmd_spm_model *m, int type)
{
    size_t  i, n = 0;

    for (i = 0; i < m->npieces; i++) {
        n += m->pieces[i].type == type;
    }
    return n;
}


/* ------------------------------------------------------------------------
 * The real models
 * ------------------------------------------------------------------------ */

/* Assumption: Llama 2's model (README: 32000 pieces, byte fallback, dummy
 * prefix) is a BPE model with <unk> UNKNOWN at 0, <s> and </s> CONTROL at
 * 1 and 2, 256 byte pieces at 3..258, ids unk 0 bos 1 eos 2 pad -1 and the
 * "identity" normalizer without whitespace removal.  The llama2.c export
 * of this model shows each normal piece scored -(id - 259) ("he", 354,
 * scores -95; the last piece, 31999, -31740), except the 16 pieces made
 * of U+2581 alone ("▁" is 29871), which score -1e9. */
LMD_TEST(spm_llama2)
{
    struct lmd_spm_model  m;
    size_t                i, j, bad = 0, nspaces = 0;
    float                 want;

    if (!load_model("llama2", &m)) {
        return;
    }
    fail_unless(m.npieces == 32000, "%zu pieces", m.npieces);
    fail_unless(m.model_type == LMD_SPM_BPE, "model_type %d", m.model_type);
    fail_unless(m.byte_fallback == 1, "byte_fallback %d", m.byte_fallback);
    fail_unless(m.unk_id == 0 && m.bos_id == 1 && m.eos_id == 2
                && m.pad_id == -1, "ids %d %d %d %d", (int) m.unk_id,
                (int) m.bos_id, (int) m.eos_id, (int) m.pad_id);
    fail_unless_streq(m.normalizer_name, "identity");
    fail_unless(m.add_dummy_prefix == 1, "add_dummy_prefix %d",
                m.add_dummy_prefix);
    fail_unless(m.remove_extra_whitespaces == 0, "remove_extra_whitespaces "
                "%d", m.remove_extra_whitespaces);
    fail_unless(m.escape_whitespaces == 1, "escape_whitespaces %d",
                m.escape_whitespaces);

    fail_unless(strcmp(m.pieces[0].piece, "<unk>") == 0
                && m.pieces[0].type == LMD_SPM_UNKNOWN, "piece 0: %s %d",
                m.pieces[0].piece, m.pieces[0].type);
    fail_unless(strcmp(m.pieces[1].piece, "<s>") == 0
                && m.pieces[1].type == LMD_SPM_CONTROL, "piece 1: %s %d",
                m.pieces[1].piece, m.pieces[1].type);
    fail_unless(strcmp(m.pieces[2].piece, "</s>") == 0
                && m.pieces[2].type == LMD_SPM_CONTROL, "piece 2: %s %d",
                m.pieces[2].piece, m.pieces[2].type);
    check_byte_pieces("llama2", &m);
    fail_unless(count_type(&m, LMD_SPM_NORMAL) == 32000 - 259,
                "%zu NORMAL pieces", count_type(&m, LMD_SPM_NORMAL));

    fail_unless(strcmp(m.pieces[354].piece, "he") == 0, "piece 354 \"%s\"",
                m.pieces[354].piece);
    for (i = 259; i < m.npieces; i++) {
        want = -(float) (i - 259);
        if (m.pieces[i].len % 3 == 0 && m.pieces[i].len > 0) {
            for (j = 0; j < m.pieces[i].len; j += 3) {
                if (memcmp(m.pieces[i].piece + j, "\xe2\x96\x81", 3) != 0) {
                    break;
                }
            }
            if (j == m.pieces[i].len) {
                want = -1e9f;
                nspaces++;
            }
        }
        if (m.pieces[i].score != want && bad++ < 3) {
            fail_unless(0, "piece %zu scores %g", i,
                        (double) m.pieces[i].score);
        }
    }
    fail_unless(bad == 0, "%zu scores differ", bad);
    fail_unless(nspaces == 16, "%zu pieces of U+2581 alone", nspaces);

    check_against_vocab("llama2", &m, 0, 0);
    lmd_spm_free(&m);
    fail_unless(m.pieces == NULL && m.npieces == 0, "free clears the model");
}


/* Assumption (README): InternLM2's model has 92544 pieces, no dummy
 * prefix, byte fallback, a literal NUL as piece 354, 192 user-defined
 * pieces and placeholders [UNUSED_TOKEN_141..146] at 92538..92543 (which
 * tokenizer.json renames to <|plugin|>...<|im_start|>).  Its trainer_spec
 * holds no unk/bos/eos/pad ids, so the proto defaults 0, 1, 2, -1 hold. */
LMD_TEST(spm_internlm2)
{
    struct lmd_spm_model  m;
    char                  want[32];
    size_t                i;

    if (!load_model("internlm2", &m)) {
        return;
    }
    fail_unless(m.npieces == 92544, "%zu pieces", m.npieces);
    fail_unless(m.model_type == LMD_SPM_BPE, "model_type %d", m.model_type);
    fail_unless(m.byte_fallback == 1, "byte_fallback %d", m.byte_fallback);
    fail_unless(m.add_dummy_prefix == 0, "add_dummy_prefix %d",
                m.add_dummy_prefix);
    fail_unless(m.unk_id == 0 && m.bos_id == 1 && m.eos_id == 2
                && m.pad_id == -1, "ids %d %d %d %d", (int) m.unk_id,
                (int) m.bos_id, (int) m.eos_id, (int) m.pad_id);

    fail_unless(m.pieces[354].len == 1 && m.pieces[354].piece[0] == '\0'
                && m.pieces[354].piece[1] == '\0', "piece 354: len %zu",
                m.pieces[354].len);
    fail_unless(m.pieces[354].type == LMD_SPM_NORMAL, "piece 354 type %d",
                m.pieces[354].type);
    fail_unless(m.pieces[0].type == LMD_SPM_UNKNOWN, "piece 0 type %d",
                m.pieces[0].type);
    check_byte_pieces("internlm2", &m);
    fail_unless(count_type(&m, LMD_SPM_USER_DEFINED) == 192,
                "%zu USER_DEFINED pieces",
                count_type(&m, LMD_SPM_USER_DEFINED));
    for (i = 0; i < 6; i++) {
        snprintf(want, sizeof(want), "[UNUSED_TOKEN_%zu]", 141 + i);
        fail_unless_streq(m.pieces[92538 + i].piece, want);
    }

    check_against_vocab("internlm2", &m, 92538, 92544);
    lmd_spm_free(&m);
}


/* Assumption (README): Mistral v0.3's tokenizer.model matches its hub
 * tokenizer.json piece for piece (32768), [INST] being piece 3; its 770
 * control pieces are <s>, </s> and the 768 [INST]-style tokens. */
LMD_TEST(spm_mistral)
{
    struct lmd_spm_model  m;

    if (!load_model("mistral", &m)) {
        return;
    }
    fail_unless(m.npieces == 32768, "%zu pieces", m.npieces);
    fail_unless(m.byte_fallback == 1 && m.add_dummy_prefix == 1,
                "byte_fallback %d add_dummy_prefix %d", m.byte_fallback,
                m.add_dummy_prefix);
    fail_unless_streq(m.pieces[3].piece, "[INST]");
    fail_unless(m.pieces[3].type == LMD_SPM_CONTROL, "type %d",
                m.pieces[3].type);
    fail_unless(count_type(&m, LMD_SPM_CONTROL) == 770, "%zu CONTROL",
                count_type(&m, LMD_SPM_CONTROL));
    check_against_vocab("mistral", &m, 0, 0);
    lmd_spm_free(&m);
}


/* Assumption: a file that is not a model (llama3's tiktoken text) and a
 * missing file are errors naming the file. */
LMD_TEST(spm_not_a_model)
{
    struct lmd_spm_model  m;
    char                  path[512], err[LMD_ERR_LEN];

    err[0] = '\0';
    fail_unless(lmd_spm_load("/nonexistent/tokenizer.model", &m, err,
                             sizeof(err)) == LMD_ERROR, "missing file");
    fail_unless(strstr(err, "/nonexistent/tokenizer.model: ") == err,
                "err \"%s\"", err);

    if (fixture_path(path, sizeof(path), "llama3/tokenizer.model") == NULL) {
        return;
    }
    err[0] = '\0';
    fail_unless(lmd_spm_load(path, &m, err, sizeof(err)) == LMD_ERROR,
                "tiktoken text accepted");
    fail_unless(strstr(err, path) == err && strstr(err, "byte ") != NULL,
                "err \"%s\"", err);
}


/* ------------------------------------------------------------------------
 * Hand-made buffers
 * ------------------------------------------------------------------------ */

struct buf {
    uint8_t  b[512];
    size_t   n;
};


static void
put_varint(struct buf *b, uint64_t v)
{
    while (v >= 0x80) {
        b->b[b->n++] = (uint8_t) (v | 0x80);
        v >>= 7;
    }
    b->b[b->n++] = (uint8_t) v;
}


static void
put_tag(struct buf *b, unsigned field, unsigned wt)
{
    put_varint(b, (uint64_t) field << 3 | wt);
}


static void
put_bytes(struct buf *b, unsigned field, const void *data, size_t len)
{
    put_tag(b, field, 2);
    put_varint(b, len);
    memcpy(b->b + b->n, data, len);
    b->n += len;
}


static void
put_float(struct buf *b, unsigned field, float f)
{
    uint32_t  u;

    memcpy(&u, &f, 4);
    put_tag(b, field, 5);
    b->b[b->n++] = (uint8_t) u;
    b->b[b->n++] = (uint8_t) (u >> 8);
    b->b[b->n++] = (uint8_t) (u >> 16);
    b->b[b->n++] = (uint8_t) (u >> 24);
}


/* A piece message: piece string, score, type (0: field absent). */
static void
put_piece(struct buf *b, const char *s, float score, unsigned type)
{
    struct buf  p = { .n = 0 };

    put_bytes(&p, 1, s, strlen(s));
    put_float(&p, 2, score);
    if (type != 0) {
        put_tag(&p, 3, 0);
        put_varint(&p, type);
    }
    put_bytes(b, 1, p.b, p.n);
}


/* Unknown fields of every wire type: 0, 1, 2, a group (3 ... 4) holding
 * a nested group, and 5. */
static void
put_unknown(struct buf *b)
{
    static const uint8_t  eight[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

    put_tag(b, 77, 0);
    put_varint(b, UINT64_MAX);
    put_tag(b, 78, 1);
    memcpy(b->b + b->n, eight, 8);
    b->n += 8;
    put_bytes(b, 79, "junk", 4);
    put_tag(b, 80, 3);
    put_tag(b, 1, 0);
    put_varint(b, 5);
    put_tag(b, 81, 3);
    put_tag(b, 81, 4);
    put_tag(b, 80, 4);
    put_tag(b, 82, 5);
    memcpy(b->b + b->n, eight, 4);
    b->n += 4;
}


static int
parse(const struct buf *b, struct lmd_spm_model *m, char *err)
{
    err[0] = '\0';
    return lmd_spm_parse(b->b, b->n, m, err, LMD_ERR_LEN);
}


/* Assumption: with only pieces present every other field takes its
 * proto default: UNIGRAM, no byte fallback, ids 0/1/2/-1, no normalizer
 * name, dummy prefix, whitespace removal and escaping on; a piece's type
 * defaults to NORMAL. */
LMD_TEST(spm_defaults)
{
    struct lmd_spm_model  m;
    struct buf            b = { .n = 0 };
    char                  err[LMD_ERR_LEN];

    put_piece(&b, "<unk>", 0.0f, 2);
    put_piece(&b, "<s>", 0.0f, 3);
    put_piece(&b, "a", -1.5f, 0);
    fail_unless(parse(&b, &m, err) == LMD_OK, "%s", err);
    fail_unless(m.npieces == 3, "%zu pieces", m.npieces);
    fail_unless(m.model_type == LMD_SPM_UNIGRAM && m.byte_fallback == 0,
                "model_type %d byte_fallback %d", m.model_type,
                m.byte_fallback);
    fail_unless(m.unk_id == 0 && m.bos_id == 1 && m.eos_id == 2
                && m.pad_id == -1, "ids %d %d %d %d", (int) m.unk_id,
                (int) m.bos_id, (int) m.eos_id, (int) m.pad_id);
    fail_unless(m.normalizer_name == NULL, "name %s", m.normalizer_name);
    fail_unless(m.add_dummy_prefix && m.remove_extra_whitespaces
                && m.escape_whitespaces, "normalizer defaults");
    fail_unless(m.pieces[2].type == LMD_SPM_NORMAL
                && m.pieces[2].score == -1.5f && m.pieces[2].len == 1,
                "piece 2: type %d score %g", m.pieces[2].type,
                (double) m.pieces[2].score);
    lmd_spm_free(&m);
}


/* Assumption: unknown fields of every wire type are skipped at each
 * level; a repeated scalar keeps its last value; int32 -1 arrives as a
 * ten-byte varint; specs given twice merge. */
LMD_TEST(spm_unknown_fields)
{
    struct lmd_spm_model  m;
    struct buf            b = { .n = 0 }, t = { .n = 0 }, n = { .n = 0 },
                          p = { .n = 0 };
    char                  err[LMD_ERR_LEN];

    put_unknown(&b);
    put_piece(&b, "<unk>", 0.0f, 2);

    put_unknown(&p);
    put_bytes(&p, 1, "first", 5);
    put_bytes(&p, 1, "x\0y", 3);
    put_unknown(&p);
    put_bytes(&b, 1, p.b, p.n);

    put_piece(&b, "<0x00>", 0.0f, 6);

    put_tag(&t, 3, 0);
    put_varint(&t, 2);
    put_unknown(&t);
    put_tag(&t, 35, 0);
    put_varint(&t, 1);
    put_tag(&t, 41, 0);
    put_varint(&t, (uint64_t) -1);      /* bos_id -1: ten bytes */
    put_tag(&t, 42, 0);
    put_varint(&t, 1);
    put_tag(&t, 42, 0);
    put_varint(&t, 2);                  /* the last one counts */
    put_bytes(&b, 2, t.b, t.n);
    put_unknown(&b);

    put_bytes(&n, 1, "identity", 8);
    put_tag(&n, 3, 0);
    put_varint(&n, 0);
    put_unknown(&n);
    put_bytes(&b, 3, n.b, n.n);
    n.n = 0;
    put_bytes(&n, 1, "nmt_nfkc", 8);    /* a second spec merges in */
    put_tag(&n, 5, 0);
    put_varint(&n, 0);
    put_bytes(&b, 3, n.b, n.n);

    fail_unless(parse(&b, &m, err) == LMD_OK, "%s", err);
    fail_unless(m.npieces == 3, "%zu pieces", m.npieces);
    fail_unless(m.pieces[1].len == 3
                && memcmp(m.pieces[1].piece, "x\0y", 4) == 0,
                "piece 1 len %zu", m.pieces[1].len);
    fail_unless(m.pieces[2].type == LMD_SPM_BYTE, "type %d",
                m.pieces[2].type);
    fail_unless(m.model_type == LMD_SPM_BPE && m.byte_fallback == 1,
                "model_type %d byte_fallback %d", m.model_type,
                m.byte_fallback);
    fail_unless(m.bos_id == -1 && m.eos_id == 2, "bos %d eos %d",
                (int) m.bos_id, (int) m.eos_id);
    fail_unless_streq(m.normalizer_name, "nmt_nfkc");
    fail_unless(m.add_dummy_prefix == 0 && m.escape_whitespaces == 0
                && m.remove_extra_whitespaces == 1, "normalizer %d %d %d",
                m.add_dummy_prefix, m.escape_whitespaces,
                m.remove_extra_whitespaces);
    lmd_spm_free(&m);
}


/* Assumption: each malformed buffer is refused with an error that names
 * the byte offset and says what is wrong. */
LMD_TEST(spm_malformed)
{
    static const struct {
        const char  *name;
        uint8_t      b[24];
        size_t       n;
        const char  *want;
    } cases[] = {
        { "empty", { 0 }, 0, "no pieces" },
        { "truncated tag", { 0x8a }, 1, "byte 0: truncated varint" },
        { "truncated length", { 0x0a, 0x85 }, 2,
          "byte 1: field 1 (pieces): truncated varint" },
        { "length past the end", { 0x0a, 0x05, 'a' }, 3,
          "byte 1: field 1 (pieces): length 5 past the end" },
        { "pieces as a varint", { 0x08, 0x01 }, 2,
          "byte 0: field 1 (pieces): wrong wire type 0 (varint), "
          "expected 2" },
        { "score as a varint", { 0x0a, 0x05, 0x0a, 0x01, 'a', 0x10, 0x01 },
          7, "byte 5: pieces[0]: field 2 (score): wrong wire type 0" },
        { "piece string past its message",
          { 0x0a, 0x03, 0x0a, 0x05, 'a' }, 5,
          "byte 3: pieces[0]: field 1 (piece): length 5 past the end" },
        { "score cut short", { 0x0a, 0x03, 0x15, 0x00, 0x00 }, 5,
          "byte 3: pieces[0]: field 2 (score): 4-byte value past" },
        { "empty piece", { 0x0a, 0x02, 0x18, 0x01 }, 4,
          "byte 4: pieces[0]: the piece is empty" },
        { "unknown piece type",
          { 0x0a, 0x05, 0x0a, 0x01, 'a', 0x18, 0x09 }, 7,
          "byte 5: pieces[0]: field 3 (type): unknown piece type 9" },
        { "model_type 7",
          { 0x0a, 0x03, 0x0a, 0x01, 'a', 0x12, 0x02, 0x18, 0x07 }, 9,
          "byte 7: trainer_spec: field 3 (model_type): unknown model "
          "type 7" },
        { "wire type 6", { 0x0e }, 1, "byte 0: field 1: wire type 6 is "
          "invalid" },
        { "field 0", { 0x02, 0x00 }, 2, "byte 0: field number 0 is invalid" },
        { "unknown varint of 11 bytes",
          { 0x50, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0x01 }, 12, "byte 1: field 10: varint longer than 64" },
        { "varint past 64 bits",
          { 0x50, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0x02 }, 11, "byte 1: field 10: varint longer than 64" },
        { "group not closed", { 0x53, 0x08, 0x01 }, 3,
          "byte 1: field 10: group not closed" },
        { "group closed by another field", { 0x53, 0x5c }, 2,
          "byte 1: field 10: group closed by field 11" },
        { "end-group alone", { 0x54 }, 1,
          "byte 1: field 10: end-group tag without a group" },
        { "fixed64 cut short", { 0x51, 0x00, 0x00 }, 3,
          "byte 1: field 10: 8-byte value past the end" },
        { "bos_id past the pieces",
          { 0x0a, 0x03, 0x0a, 0x01, 'a', 0x12, 0x03, 0xc8, 0x02, 0x05 },
          10, "trainer_spec.bos_id 5 is out of range (1 pieces)" },
    };
    struct lmd_spm_model  m;
    char                  err[LMD_ERR_LEN];
    size_t                i;
    int                   rc;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        rc = lmd_spm_parse(cases[i].b, cases[i].n, &m, err, sizeof(err));
        fail_unless(rc == LMD_ERROR, "%s: accepted", cases[i].name);
        fail_unless(strstr(err, cases[i].want) == err, "%s: err \"%s\", "
                    "want \"%s...\"", cases[i].name, err, cases[i].want);
        fail_unless(m.pieces == NULL && m.normalizer_name == NULL,
                    "%s: the model is not cleared", cases[i].name);
    }
}


/* Assumption: groups nested past the limit are refused, not recursed
 * into until the stack runs out. */
LMD_TEST(spm_deep_groups)
{
    struct lmd_spm_model  m;
    struct buf            b = { .n = 0 };
    char                  err[LMD_ERR_LEN];
    int                   i;

    for (i = 0; i < 100; i++) {
        put_tag(&b, 10, 3);
    }
    fail_unless(parse(&b, &m, err) == LMD_ERROR, "accepted");
    fail_unless(strstr(err, "groups nested deeper than") != NULL,
                "err \"%s\"", err);
}


/* Assumption: every prefix of a valid model is either a valid model
 * (cut at a field boundary) or an error, never a crash; run under the
 * sanitizer build this also checks the bounds. */
LMD_TEST(spm_every_prefix)
{
    struct lmd_spm_model  m;
    struct buf            b = { .n = 0 }, t = { .n = 0 };
    char                  err[LMD_ERR_LEN];
    size_t                len, ok = 0;

    put_piece(&b, "<unk>", 0.0f, 2);
    put_piece(&b, "<s>", 0.0f, 3);
    put_piece(&b, "</s>", 0.0f, 3);
    put_tag(&t, 3, 0);
    put_varint(&t, 2);
    put_tag(&t, 43, 0);
    put_varint(&t, (uint64_t) -1);
    put_bytes(&b, 2, t.b, t.n);

    for (len = 0; len <= b.n; len++) {
        if (lmd_spm_parse(b.b, len, &m, err, sizeof(err)) == LMD_OK) {
            ok++;
            lmd_spm_free(&m);
        }
    }
    fail_unless(ok == 2, "%zu prefixes parse (want the whole buffer and "
                "the one before trainer_spec)", ok);
}
