/*
 * lmd_tok_json.c -- tokenizer.json into a struct lmd_tokenizer.
 *
 * The file is parsed with cJSON and walked section by section: model
 * (vocabulary, then merges, which refer to it), normalizer, pre-tokenizer
 * (the last ByteLevel step hands raw bytes to the model when it can),
 * added_tokens (which need the model and the normalizer), post-processor
 * and decoder.  Sequences are flattened into lists of steps.  Anything
 * lmd does not implement -- another model type, an unknown step, BPE
 * dropout -- is an error naming the place, never a silently different
 * tokenizer:
 *
 *   "/m/tokenizer.json: model.merges[12]: \"ab\" is not in the vocabulary"
 *
 * NUL: cJSON decodes "\u0000" into a NUL byte inside a C string, which
 * would cut the string short (InternLM2's piece 354 is a lone NUL).
 * Before parsing, each \u0000 escape is rewritten into the escape of a
 * private-use character that the file does not contain, and strings read
 * back turn that character into NUL again (lmd_json_str).
 */

#include "lmd_tok_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#define LMD_GPT2_REGEX  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+" \
                        "| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

struct lmd_json {
    struct lmd_tokenizer   *t;
    const char             *file;
    char                   *err;
    size_t                  errlen;
    int                     nul;            /* the sentinel is in use */
    char                    sentinel[4];    /* its UTF-8 bytes */
    char                    escape[13];     /* its JSON escape */
    int                     failed;         /* the first error stays */
    struct lmd_tok_buf      tmp;
};


static int
lmd_json_fail(struct lmd_json *j, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
lmd_json_fail(struct lmd_json *j, const char *where, const char *fmt, ...)
{
    char     msg[300];
    va_list  ap;

    if (j->failed) {
        return LMD_ERROR;       /* keep the first, most precise message */
    }
    j->failed = 1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lmd_tok_err(j->err, j->errlen, "%s: %s%s%s", j->file, where,
                where[0] ? ": " : "", msg);
    return LMD_ERROR;
}


/* ------------------------------------------------------------ parsing */

/* Rewrites every \u0000 escape of text into the sentinel's escape. */
static char *
lmd_json_hide_nul(struct lmd_json *j, const char *text, size_t len,
    size_t *olen)
{
    static const char *const  cands[][2] = {
        { "\xF4\x8F\xBF\xBD", "\\udbff\\udffd" },
        { "\xF4\x8F\xBF\xBC", "\\udbff\\udffc" },
        { "\xF3\xBF\xBF\xBD", "\\udbbf\\udffd" }
    };
    struct lmd_tok_buf  out = { NULL, 0, 0 };
    size_t              i, c, done = 0;
    int                 in_str = 0;

    for (c = 0; c < 3; c++) {
        if (memmem(text, len, cands[c][0], 4) == NULL
            && strcasestr(text, cands[c][1]) == NULL)
        {
            break;
        }
    }
    if (c == 3) {
        lmd_json_fail(j, "", "cannot represent its \\u0000 strings");
        return NULL;
    }
    memcpy(j->sentinel, cands[c][0], 4);
    snprintf(j->escape, sizeof(j->escape), "%s", cands[c][1]);
    j->nul = 1;

    for (i = 0; i < len; i++) {
        if (text[i] == '"') {
            in_str = !in_str;
        } else if (in_str && text[i] == '\\' && i + 1 < len) {
            if (i + 6 <= len && memcmp(text + i + 1, "u0000", 5) == 0) {
                if (lmd_tok_buf_put(&out, text + done, i - done) != LMD_OK
                    || lmd_tok_buf_put(&out, j->escape, 12) != LMD_OK)
                {
                    goto nomem;
                }
                i += 5;
                done = i + 1;
                continue;
            }
            i++;                /* skip the escaped character */
        }
    }
    if (lmd_tok_buf_put(&out, text + done, len - done) != LMD_OK
        || lmd_tok_buf_nul(&out) != LMD_OK)
    {
        goto nomem;
    }
    *olen = out.len;
    return out.p;

nomem:
    lmd_tok_buf_free(&out);
    lmd_json_fail(j, "", "out of memory");
    return NULL;
}


static cJSON *
lmd_json_parse(struct lmd_json *j, const char *text, size_t len)
{
    cJSON       *root;
    char        *fixed = NULL;
    const char  *end = NULL, *p;
    size_t       line = 1, col = 1;

    if (memmem(text, len, "\\u0000", 6) != NULL) {
        fixed = lmd_json_hide_nul(j, text, len, &len);
        if (fixed == NULL) {
            return NULL;
        }
        text = fixed;
    }
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (root == NULL) {
        if (end == NULL || end < text || end > text + len) {
            end = text + len;
        }
        for (p = text; p < end; p++) {
            if (*p == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        lmd_json_fail(j, "", "invalid JSON at line %zu, column %zu%s",
                      line, col, end >= text + len ? " (truncated?)" : "");
    }
    free(fixed);
    return root;
}


/* A string's bytes, with the sentinel turned back into NUL.  The result
 * lives until the next call.  NULL when out of memory, or when the string
 * is not valid UTF-8 (cJSON lets an unpaired surrogate escape through;
 * serde_json, which tokenizers uses, rejects it). */
static const char *
lmd_json_str(struct lmd_json *j, const char *s, size_t *len)
{
    const char  *hit;
    size_t       n = strlen(s);

    if (!j->nul || (hit = memmem(s, n, j->sentinel, 4)) == NULL) {
        *len = n;
        if (lmd_tok_utf8_valid(s, n) != n) {
            lmd_json_fail(j, "", "a string holds an unpaired surrogate "
                          "escape (\\uD800-\\uDFFF): \"%.40s\"", s);
            return NULL;
        }
        return s;
    }
    j->tmp.len = 0;
    while (hit != NULL) {
        if (lmd_tok_buf_put(&j->tmp, s, (size_t) (hit - s)) != LMD_OK
            || lmd_tok_buf_put(&j->tmp, "", 1) != LMD_OK)
        {
            *len = 0;
            return NULL;
        }
        n -= (size_t) (hit - s) + 4;
        s = hit + 4;
        hit = memmem(s, n, j->sentinel, 4);
    }
    if (lmd_tok_buf_put(&j->tmp, s, n) != LMD_OK) {
        *len = 0;
        return NULL;
    }
    *len = j->tmp.len;
    if (lmd_tok_utf8_valid(j->tmp.p, j->tmp.len) != j->tmp.len) {
        lmd_json_fail(j, "", "a string holds an unpaired surrogate escape "
                      "(\\uD800-\\uDFFF)");
        return NULL;
    }
    return j->tmp.p;
}


static const cJSON *
lmd_json_get(const cJSON *o, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(o, name);
}


/* A field that must be a boolean when present. */
static int
lmd_json_bool(struct lmd_json *j, const cJSON *o, const char *name,
    int dflt, int *out, const char *where)
{
    const cJSON  *v = lmd_json_get(o, name);

    if (v == NULL || cJSON_IsNull(v)) {
        *out = dflt;
        return LMD_OK;
    }
    if (!cJSON_IsBool(v)) {
        return lmd_json_fail(j, where, "%s: expected true or false", name);
    }
    *out = cJSON_IsTrue(v);
    return LMD_OK;
}


/* A field that must be a string when present: *out NULL when absent. */
static int
lmd_json_string(struct lmd_json *j, const cJSON *o, const char *name,
    const char **out, size_t *len, const char *where)
{
    const cJSON  *v = lmd_json_get(o, name);

    *out = NULL;
    *len = 0;
    if (v == NULL || cJSON_IsNull(v)) {
        return LMD_OK;
    }
    if (!cJSON_IsString(v)) {
        return lmd_json_fail(j, where, "%s: expected a string", name);
    }
    *out = lmd_json_str(j, v->valuestring, len);
    if (*out == NULL) {
        return lmd_json_fail(j, where, "out of memory");
    }
    return LMD_OK;
}


static int
lmd_json_size(struct lmd_json *j, const cJSON *o, const char *name,
    size_t dflt, size_t *out, const char *where)
{
    const cJSON  *v = lmd_json_get(o, name);

    if (v == NULL) {
        *out = dflt;
        return LMD_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9
        || v->valuedouble != (double) (size_t) v->valuedouble)
    {
        return lmd_json_fail(j, where, "%s: expected a count", name);
    }
    *out = (size_t) v->valuedouble;
    return LMD_OK;
}


static char *
lmd_json_dup(const char *s, size_t len)
{
    char  *p = malloc(len + 1);

    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}


/* One character (as a string field holding exactly one). */
static int
lmd_json_char(struct lmd_json *j, const cJSON *o, const char *name,
    uint32_t dflt, uint32_t *cp, const char *where)
{
    const char  *s;
    size_t       len, i = 0;

    if (lmd_json_string(j, o, name, &s, &len, where) != LMD_OK) {
        return LMD_ERROR;
    }
    if (s == NULL) {
        *cp = dflt;
        return LMD_OK;
    }
    if (len == 0 || lmd_tok_utf8_valid(s, len) != len) {
        return lmd_json_fail(j, where, "%s: expected one character", name);
    }
    *cp = lmd_tok_utf8_next(s, &i);
    if (i != len) {
        return lmd_json_fail(j, where, "%s: expected one character", name);
    }
    return LMD_OK;
}


/* {"String": s} or {"Regex": r} */
static int
lmd_json_pattern(struct lmd_json *j, const cJSON *o,
    struct lmd_tok_pattern *p, const char *where)
{
    const cJSON  *pat = lmd_json_get(o, "pattern"), *v;
    char          msg[200];
    const char   *s;
    size_t        len;

    if (!cJSON_IsObject(pat)) {
        return lmd_json_fail(j, where, "pattern: expected {\"String\": ...} "
                             "or {\"Regex\": ...}");
    }
    v = lmd_json_get(pat, "String");
    if (cJSON_IsString(v)) {
        s = lmd_json_str(j, v->valuestring, &len);
        if (s == NULL) {
            return lmd_json_fail(j, where, "out of memory");
        }
        if (len == 0) {
            return lmd_json_fail(j, where, "pattern: an empty String "
                                 "pattern is not supported");
        }
        if (lmd_tok_pattern_literal(p, s, len) != LMD_OK) {
            return lmd_json_fail(j, where, "out of memory");
        }
        return LMD_OK;
    }
    v = lmd_json_get(pat, "Regex");
    if (cJSON_IsString(v)) {
        s = lmd_json_str(j, v->valuestring, &len);
        if (s == NULL) {
            return lmd_json_fail(j, where, "out of memory");
        }
        if (lmd_tok_pattern_regex(p, s, len, msg, sizeof(msg)) != LMD_OK) {
            return lmd_json_fail(j, where, "pattern.Regex: %s", msg);
        }
        if (p->ncap > j->t->ncap) {
            j->t->ncap = p->ncap;
        }
        return LMD_OK;
    }
    return lmd_json_fail(j, where, "pattern: expected {\"String\": ...} or "
                         "{\"Regex\": ...}");
}


static const char *
lmd_json_type(struct lmd_json *j, const cJSON *o, const char *where)
{
    const cJSON  *v = lmd_json_get(o, "type");

    if (!cJSON_IsString(v)) {
        lmd_json_fail(j, where, "expected an object with a \"type\"");
        return NULL;
    }
    return v->valuestring;
}


/* ---------------------------------------------------------------- model */

static int
lmd_json_vocab(struct lmd_json *j, const cJSON *vocab)
{
    const cJSON  *it;
    const char   *s;
    size_t        len, i = 0;
    double        d;

    if (!cJSON_IsObject(vocab)) {
        return lmd_json_fail(j, "model.vocab", "expected an object of "
                             "piece: id");
    }
    cJSON_ArrayForEach(it, vocab) {
        d = it->valuedouble;
        if (!cJSON_IsNumber(it) || d < 0 || d >= LMD_TOK_MAX_ID
            || d != (double) (int32_t) d)
        {
            return lmd_json_fail(j, "model.vocab", "entry %zu (\"%.40s\"): "
                                 "expected an id below %d", i, it->string,
                                 LMD_TOK_MAX_ID);
        }
        s = lmd_json_str(j, it->string, &len);
        if (s == NULL
            || lmd_bpe_set_piece(&j->t->model, (int32_t) d, s, len) != LMD_OK)
        {
            return lmd_json_fail(j, "model.vocab", "out of memory");
        }
        i++;
    }
    return LMD_OK;
}


static int
lmd_json_merges(struct lmd_json *j, const cJSON *merges)
{
    struct lmd_bpe      *m = &j->t->model;
    struct lmd_tok_buf   both = { NULL, 0, 0 };
    const cJSON         *it;
    char                 where[64];
    const char          *a, *b, *sp;
    size_t               alen, blen, i = 0, cut;
    int32_t              ida, idb, idm;
    int                  rc = LMD_OK;

    if (!cJSON_IsArray(merges)) {
        return lmd_json_fail(j, "model.merges", "expected an array");
    }
    if (lmd_tok_pairmap_init(&m->merges, (size_t) cJSON_GetArraySize(merges))
        != LMD_OK)
    {
        return lmd_json_fail(j, "model.merges", "out of memory");
    }
    cJSON_ArrayForEach(it, merges) {
        snprintf(where, sizeof(where), "model.merges[%zu]", i);
        both.len = 0;
        if (cJSON_IsString(it)) {
            /* "a b": exactly one space */
            a = lmd_json_str(j, it->valuestring, &alen);
            sp = a != NULL ? memchr(a, ' ', alen) : NULL;
            if (sp == NULL || memchr(sp + 1, ' ', alen - (size_t) (sp - a) - 1))
            {
                rc = lmd_json_fail(j, where, "expected \"a b\" (two pieces "
                                   "and one space)");
                break;
            }
            rc = lmd_tok_buf_put(&both, a, alen);
            cut = (size_t) (sp - a);
            a = both.p;
            b = both.p + cut + 1;
            blen = alen - cut - 1;
            alen = cut;
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2
                   && cJSON_IsString(cJSON_GetArrayItem(it, 0))
                   && cJSON_IsString(cJSON_GetArrayItem(it, 1)))
        {
            a = lmd_json_str(j, cJSON_GetArrayItem(it, 0)->valuestring, &alen);
            rc = a != NULL ? lmd_tok_buf_put(&both, a, alen) : LMD_ERROR;
            b = lmd_json_str(j, cJSON_GetArrayItem(it, 1)->valuestring, &blen);
            if (rc == LMD_OK && b != NULL) {
                rc = lmd_tok_buf_put(&both, b, blen);
            }
            a = both.p;
            b = both.p + alen;
        } else {
            rc = lmd_json_fail(j, where, "expected a string or a pair");
            break;
        }
        if (rc != LMD_OK || a == NULL || b == NULL) {
            rc = lmd_json_fail(j, where, "out of memory");
            break;
        }
        ida = lmd_tok_strmap_get(&m->map, a, alen);
        idb = lmd_tok_strmap_get(&m->map, b, blen);
        if (ida < 0 || idb < 0) {
            rc = lmd_json_fail(j, where, "\"%.*s\" is not in the vocabulary",
                               (int) (ida < 0 ? alen : blen),
                               ida < 0 ? a : b);
            break;
        }
        /* the merged piece: a, then b without continuing_subword_prefix */
        cut = m->prefix_len < blen ? m->prefix_len : blen;
        idm = -1;
        {
            struct lmd_tok_buf  mg = { NULL, 0, 0 };

            if (lmd_tok_buf_put(&mg, a, alen) == LMD_OK
                && lmd_tok_buf_put(&mg, b + cut, blen - cut) == LMD_OK)
            {
                idm = lmd_tok_strmap_get(&m->map, mg.p, mg.len);
                if (idm < 0) {
                    rc = lmd_json_fail(j, where, "the merged piece \"%.*s\" "
                                       "is not in the vocabulary",
                                       (int) mg.len, mg.p);
                }
            } else {
                rc = lmd_json_fail(j, where, "out of memory");
            }
            lmd_tok_buf_free(&mg);
        }
        if (rc != LMD_OK) {
            break;
        }
        if (i > UINT32_MAX - 1
            || lmd_tok_pairmap_put(&m->merges, ida, idb, (uint32_t) i, idm)
               != LMD_OK)
        {
            rc = lmd_json_fail(j, where, "out of memory");
            break;
        }
        i++;
    }
    lmd_tok_buf_free(&both);
    return rc;
}


static int
lmd_json_model(struct lmd_json *j, const cJSON *model)
{
    struct lmd_bpe  *m = &j->t->model;
    const cJSON     *v;
    const char      *type, *s;
    size_t           len;

    if (!cJSON_IsObject(model)) {
        return lmd_json_fail(j, "model", "expected an object");
    }
    v = lmd_json_get(model, "type");
    type = cJSON_IsString(v) ? v->valuestring : "BPE";
    if (strcmp(type, "BPE") != 0) {
        if (strcmp(type, "WordPiece") == 0 || strcmp(type, "WordLevel") == 0
            || strcmp(type, "Unigram") == 0)
        {
            return lmd_json_fail(j, "model.type", "%s is not supported "
                                 "(lmd implements BPE models)", type);
        }
        return lmd_json_fail(j, "model.type", "unknown model type \"%.40s\"",
                             type);
    }
    m->kind = LMD_BPE_RANKS;
    v = lmd_json_get(model, "dropout");
    if (v != NULL && !cJSON_IsNull(v)
        && !(cJSON_IsNumber(v) && v->valuedouble == 0))
    {
        return lmd_json_fail(j, "model.dropout", "BPE dropout is not "
                             "supported (encoding would be random)");
    }
    if (lmd_json_bool(j, model, "fuse_unk", 0, &m->fuse_unk, "model")
        != LMD_OK
        || lmd_json_bool(j, model, "byte_fallback", 0, &m->byte_fallback,
                         "model") != LMD_OK
        || lmd_json_bool(j, model, "ignore_merges", 0, &m->ignore_merges,
                         "model") != LMD_OK)
    {
        return LMD_ERROR;
    }
    if (lmd_json_string(j, model, "continuing_subword_prefix", &s, &len,
                        "model") != LMD_OK)
    {
        return LMD_ERROR;
    }
    if (s != NULL && len > 0) {
        m->prefix = lmd_json_dup(s, len);
        m->prefix_len = len;
        if (m->prefix == NULL) {
            return lmd_json_fail(j, "model", "out of memory");
        }
    }
    if (lmd_json_string(j, model, "end_of_word_suffix", &s, &len, "model")
        != LMD_OK)
    {
        return LMD_ERROR;
    }
    if (s != NULL && len > 0) {
        m->suffix = lmd_json_dup(s, len);
        m->suffix_len = len;
        if (m->suffix == NULL) {
            return lmd_json_fail(j, "model", "out of memory");
        }
    }
    if (lmd_json_vocab(j, lmd_json_get(model, "vocab")) != LMD_OK) {
        return LMD_ERROR;
    }
    if (lmd_bpe_finish(m, j->err, j->errlen) != LMD_OK) {
        return lmd_json_fail(j, "model", "out of memory");
    }
    if (lmd_json_get(model, "merges") == NULL) {
        return lmd_json_fail(j, "model", "no merges");
    }
    if (lmd_json_merges(j, lmd_json_get(model, "merges")) != LMD_OK) {
        return LMD_ERROR;
    }
    if (lmd_json_string(j, model, "unk_token", &s, &len, "model") != LMD_OK)
    {
        return LMD_ERROR;
    }
    if (s != NULL) {
        m->unk_id = lmd_tok_strmap_get(&m->map, s, len);
        if (m->unk_id < 0) {
            return lmd_json_fail(j, "model.unk_token", "\"%.*s\" is not in "
                                 "the vocabulary", (int) len, s);
        }
    }
    return LMD_OK;
}


/* ----------------------------------------------------------- normalizer */

static int
lmd_json_norm_add(struct lmd_json *j, struct lmd_tok_norm *seq,
    struct lmd_tok_norm *n)
{
    struct lmd_tok_norm  **p;

    p = realloc(seq->items, (seq->nitems + 1) * sizeof(*p));
    if (p == NULL) {
        lmd_tok_norm_free(n);
        return lmd_json_fail(j, "normalizer", "out of memory");
    }
    seq->items = p;
    seq->items[seq->nitems++] = n;
    return LMD_OK;
}


/* Appends the steps of normalizer o to seq (flattening Sequences). */
static int
lmd_json_norm(struct lmd_json *j, const cJSON *o, struct lmd_tok_norm *seq,
    const char *where)
{
    static const struct {
        const char  *name;
        int          type;
    } simple[] = {
        { "NFC", LMD_NORM_NFC }, { "NFD", LMD_NORM_NFD },
        { "NFKC", LMD_NORM_NFKC }, { "NFKD", LMD_NORM_NFKD },
        { "Lowercase", LMD_NORM_LOWERCASE },
        { "StripAccents", LMD_NORM_STRIP_ACCENTS },
        { "ByteLevel", LMD_NORM_BYTELEVEL }
    };
    struct lmd_tok_norm  *n;
    const cJSON          *items, *it;
    const char           *type, *s;
    char                  sub[96];
    size_t                i, len;

    type = lmd_json_type(j, o, where);
    if (type == NULL) {
        return LMD_ERROR;
    }
    if (strcmp(type, "Sequence") == 0) {
        items = lmd_json_get(o, "normalizers");
        if (!cJSON_IsArray(items)) {
            return lmd_json_fail(j, where, "normalizers: expected an array");
        }
        i = 0;
        cJSON_ArrayForEach(it, items) {
            snprintf(sub, sizeof(sub), "%s.normalizers[%zu]", where, i++);
            if (lmd_json_norm(j, it, seq, sub) != LMD_OK) {
                return LMD_ERROR;
            }
        }
        return LMD_OK;
    }
    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return lmd_json_fail(j, where, "out of memory");
    }
    for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
        if (strcmp(type, simple[i].name) == 0) {
            n->type = simple[i].type;
            return lmd_json_norm_add(j, seq, n);
        }
    }
    if (strcmp(type, "Prepend") == 0 || strcmp(type, "Replace") == 0) {
        n->type = type[0] == 'P' ? LMD_NORM_PREPEND : LMD_NORM_REPLACE;
        if (lmd_json_string(j, o, type[0] == 'P' ? "prepend" : "content",
                            &s, &len, where) != LMD_OK
            || (s == NULL
                && lmd_json_fail(j, where, "%s: expected a string",
                                 type[0] == 'P' ? "prepend" : "content")))
        {
            lmd_tok_norm_free(n);
            return LMD_ERROR;
        }
        n->str = lmd_json_dup(s, len);
        n->str_len = len;
        if (n->str == NULL) {
            lmd_tok_norm_free(n);
            return lmd_json_fail(j, where, "out of memory");
        }
        if (n->type == LMD_NORM_REPLACE
            && lmd_json_pattern(j, o, &n->pat, where) != LMD_OK)
        {
            lmd_tok_norm_free(n);
            return LMD_ERROR;
        }
        return lmd_json_norm_add(j, seq, n);
    }
    if (strcmp(type, "Strip") == 0) {
        n->type = LMD_NORM_STRIP;
        if (lmd_json_bool(j, o, "strip_left", 1, &n->left, where) != LMD_OK
            || lmd_json_bool(j, o, "strip_right", 1, &n->right, where)
               != LMD_OK)
        {
            lmd_tok_norm_free(n);
            return LMD_ERROR;
        }
        return lmd_json_norm_add(j, seq, n);
    }
    free(n);
    if (strcmp(type, "BertNormalizer") == 0 || strcmp(type, "Precompiled") == 0
        || strcmp(type, "Nmt") == 0)
    {
        return lmd_json_fail(j, where, "the %s normalizer is not supported",
                             type);
    }
    return lmd_json_fail(j, where, "unknown normalizer type \"%.40s\"", type);
}


/* -------------------------------------------------------- pre-tokenizer */

static struct lmd_tok_pt *
lmd_json_pt_new(struct lmd_json *j, int type, const char *where)
{
    struct lmd_tok_pt  *pt;

    if (j->t->npt >= LMD_TOK_PT_MAX - 1) {
        lmd_json_fail(j, where, "more than %d pre-tokenizer steps",
                      LMD_TOK_PT_MAX - 1);
        return NULL;
    }
    pt = &j->t->pt[j->t->npt++];
    memset(pt, 0, sizeof(*pt));
    pt->type = type;
    return pt;
}


static int
lmd_json_behavior(struct lmd_json *j, const cJSON *o, int dflt, int *out,
    const char *where)
{
    static const char *const  names[] = {
        "Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
        "Contiguous"
    };
    const cJSON  *v = lmd_json_get(o, "behavior");
    size_t        i;

    if (v == NULL && dflt) {
        *out = dflt;
        return LMD_OK;
    }
    if (cJSON_IsString(v)) {
        for (i = 0; i < 5; i++) {
            if (strcmp(v->valuestring, names[i]) == 0) {
                *out = (int) i + LMD_SPLIT_REMOVED;
                return LMD_OK;
            }
        }
    }
    return lmd_json_fail(j, where, "behavior: expected Removed, Isolated, "
                         "MergedWithPrevious, MergedWithNext or Contiguous");
}


static int
lmd_json_prepend_scheme(struct lmd_json *j, const cJSON *o, int *out,
    const char *where)
{
    const cJSON  *v = lmd_json_get(o, "prepend_scheme");
    int           aps;

    *out = LMD_PREPEND_ALWAYS;
    if (cJSON_IsString(v)) {
        if (strcmp(v->valuestring, "always") == 0) {
            *out = LMD_PREPEND_ALWAYS;
        } else if (strcmp(v->valuestring, "first") == 0) {
            *out = LMD_PREPEND_FIRST;
        } else if (strcmp(v->valuestring, "never") == 0) {
            *out = LMD_PREPEND_NEVER;
        } else {
            return lmd_json_fail(j, where, "prepend_scheme: expected "
                                 "always, first or never");
        }
    } else if (v != NULL && !cJSON_IsNull(v)) {
        return lmd_json_fail(j, where, "prepend_scheme: expected a string");
    }
    /* the legacy add_prefix_space: false means never */
    if (lmd_json_bool(j, o, "add_prefix_space", 1, &aps, where) != LMD_OK) {
        return LMD_ERROR;
    }
    if (!aps) {
        if (v != NULL && *out != LMD_PREPEND_NEVER) {
            return lmd_json_fail(j, where, "add_prefix_space does not match "
                                 "prepend_scheme");
        }
        *out = LMD_PREPEND_NEVER;
    }
    return LMD_OK;
}


static int
lmd_json_pt(struct lmd_json *j, const cJSON *o, const char *where)
{
    struct lmd_tok_pt  *pt;
    const cJSON        *items, *it;
    const char         *type;
    char                sub[96], msg[200];
    size_t              i;
    int                 individual;
    uint32_t            cp;

    type = lmd_json_type(j, o, where);
    if (type == NULL) {
        return LMD_ERROR;
    }
    if (strcmp(type, "Sequence") == 0) {
        items = lmd_json_get(o, "pretokenizers");
        if (!cJSON_IsArray(items)) {
            return lmd_json_fail(j, where, "pretokenizers: expected an "
                                 "array");
        }
        i = 0;
        cJSON_ArrayForEach(it, items) {
            snprintf(sub, sizeof(sub), "%s.pretokenizers[%zu]", where, i++);
            if (lmd_json_pt(j, it, sub) != LMD_OK) {
                return LMD_ERROR;
            }
        }
        return LMD_OK;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        pt = lmd_json_pt_new(j, LMD_PT_BYTELEVEL, where);
        if (pt == NULL
            || lmd_json_bool(j, o, "add_prefix_space", 1,
                             &pt->add_prefix_space, where) != LMD_OK
            || lmd_json_bool(j, o, "use_regex", 1, &pt->use_regex, where)
               != LMD_OK)
        {
            return LMD_ERROR;
        }
        if (pt->use_regex) {
            if (lmd_tok_pattern_regex(&pt->pat, LMD_GPT2_REGEX,
                                      strlen(LMD_GPT2_REGEX), msg,
                                      sizeof(msg)) != LMD_OK)
            {
                return lmd_json_fail(j, where, "%s", msg);
            }
        }
        return LMD_OK;
    }
    if (strcmp(type, "Split") == 0) {
        pt = lmd_json_pt_new(j, LMD_PT_SPLIT, where);
        if (pt == NULL || lmd_json_pattern(j, o, &pt->pat, where) != LMD_OK
            || lmd_json_behavior(j, o, 0, &pt->behavior, where) != LMD_OK
            || lmd_json_bool(j, o, "invert", 0, &pt->invert, where) != LMD_OK)
        {
            return LMD_ERROR;
        }
        return LMD_OK;
    }
    if (strcmp(type, "Metaspace") == 0) {
        pt = lmd_json_pt_new(j, LMD_PT_METASPACE, where);
        if (pt == NULL
            || lmd_json_char(j, o, "replacement", 0x2581, &pt->repl_cp, where)
               != LMD_OK
            || lmd_json_prepend_scheme(j, o, &pt->prepend, where) != LMD_OK
            || lmd_json_bool(j, o, "split", 1, &pt->split, where) != LMD_OK)
        {
            return LMD_ERROR;
        }
        pt->repl_len = lmd_tok_utf8_put(pt->repl, pt->repl_cp);
        return LMD_OK;
    }
    if (strcmp(type, "Whitespace") == 0
        || strcmp(type, "WhitespaceSplit") == 0
        || strcmp(type, "BertPreTokenizer") == 0)
    {
        pt = lmd_json_pt_new(j, LMD_PT_SPLIT, where);
        if (pt == NULL) {
            return LMD_ERROR;
        }
        pt->behavior = LMD_SPLIT_REMOVED;
        if (type[10] == '\0') {         /* Whitespace: \w+|[^\w\s]+ kept */
            pt->pat.kind = LMD_PAT_WORDS;
            pt->invert = 1;
            return LMD_OK;
        }
        pt->pat.kind = LMD_PAT_SPACE;
        if (type[0] == 'B') {
            pt = lmd_json_pt_new(j, LMD_PT_SPLIT, where);
            if (pt == NULL) {
                return LMD_ERROR;
            }
            pt->pat.kind = LMD_PAT_PUNCT;
            pt->behavior = LMD_SPLIT_ISOLATED;
        }
        return LMD_OK;
    }
    if (strcmp(type, "Digits") == 0) {
        pt = lmd_json_pt_new(j, LMD_PT_SPLIT, where);
        if (pt == NULL
            || lmd_json_bool(j, o, "individual_digits", 0, &individual, where)
               != LMD_OK)
        {
            return LMD_ERROR;
        }
        pt->pat.kind = LMD_PAT_NUMERIC;
        pt->behavior = individual ? LMD_SPLIT_ISOLATED : LMD_SPLIT_CONTIGUOUS;
        return LMD_OK;
    }
    if (strcmp(type, "Punctuation") == 0) {
        pt = lmd_json_pt_new(j, LMD_PT_SPLIT, where);
        if (pt == NULL
            || lmd_json_behavior(j, o, LMD_SPLIT_ISOLATED, &pt->behavior,
                                 where) != LMD_OK)
        {
            return LMD_ERROR;
        }
        pt->pat.kind = LMD_PAT_PUNCT;
        return LMD_OK;
    }
    if (strcmp(type, "CharDelimiterSplit") == 0) {
        if (lmd_json_char(j, o, "delimiter", 0, &cp, where) != LMD_OK) {
            return LMD_ERROR;
        }
        pt = lmd_json_pt_new(j, LMD_PT_SPLIT, where);
        if (pt == NULL) {
            return LMD_ERROR;
        }
        pt->pat.kind = LMD_PAT_CHAR;
        pt->pat.cp = cp;
        pt->behavior = LMD_SPLIT_REMOVED;
        return LMD_OK;
    }
    if (strcmp(type, "UnicodeScripts") == 0
        || strcmp(type, "FixedLength") == 0)
    {
        return lmd_json_fail(j, where, "the %s pre-tokenizer is not "
                             "supported", type);
    }
    return lmd_json_fail(j, where, "unknown pre-tokenizer type \"%.40s\"",
                         type);
}


/* ------------------------------------------------------------ added tokens */

static int
lmd_json_added(struct lmd_json *j, const cJSON *arr)
{
    const cJSON  *it, *id;
    const char   *s;
    char          where[48], msg[200];
    size_t        len, i = 0;
    int           special, lstrip, rstrip, single, normalized;

    if (arr == NULL || cJSON_IsNull(arr)) {
        return LMD_OK;
    }
    if (!cJSON_IsArray(arr)) {
        return lmd_json_fail(j, "added_tokens", "expected an array");
    }
    lmd_tok_added_begin(j->t);
    cJSON_ArrayForEach(it, arr) {
        snprintf(where, sizeof(where), "added_tokens[%zu]", i++);
        if (!cJSON_IsObject(it)) {
            return lmd_json_fail(j, where, "expected an object");
        }
        id = lmd_json_get(it, "id");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0
            || id->valuedouble > INT32_MAX)
        {
            return lmd_json_fail(j, where, "id: expected a token id");
        }
        if (lmd_json_bool(j, it, "special", 0, &special, where) != LMD_OK
            || lmd_json_bool(j, it, "lstrip", 0, &lstrip, where) != LMD_OK
            || lmd_json_bool(j, it, "rstrip", 0, &rstrip, where) != LMD_OK
            || lmd_json_bool(j, it, "single_word", 0, &single, where)
               != LMD_OK
            || lmd_json_bool(j, it, "normalized", !special, &normalized,
                             where) != LMD_OK
            || lmd_json_string(j, it, "content", &s, &len, where) != LMD_OK)
        {
            return LMD_ERROR;
        }
        if (s == NULL) {
            return lmd_json_fail(j, where, "content: expected a string");
        }
        if (lmd_tok_added_add(j->t, s, len, special, lstrip, rstrip, single,
                              normalized, -1, msg, sizeof(msg)) != LMD_OK)
        {
            return lmd_json_fail(j, where, "%s", msg);
        }
    }
    return LMD_OK;
}


/* -------------------------------------------------------- post-processor */

static int
lmd_json_ids_add(int32_t **ids, size_t *n, int32_t id)
{
    int32_t  *p = realloc(*ids, (*n + 1) * sizeof(int32_t));

    if (p == NULL) {
        return LMD_ERROR;
    }
    *ids = p;
    p[(*n)++] = id;
    return LMD_OK;
}


static struct lmd_tok_post *
lmd_json_post_new(struct lmd_json *j, int type, const char *where)
{
    struct lmd_tok_post  *p;

    p = realloc(j->t->post, (j->t->npost + 1) * sizeof(*p));
    if (p == NULL) {
        lmd_json_fail(j, where, "out of memory");
        return NULL;
    }
    j->t->post = p;
    p = &j->t->post[j->t->npost++];
    memset(p, 0, sizeof(*p));
    p->type = type;
    return p;
}


static int
lmd_json_template(struct lmd_json *j, const cJSON *o, const char *where)
{
    struct lmd_tok_post  *p;
    const cJSON          *single, *specials, *it, *v, *sp, *ids, *x;
    char                  sub[96];
    size_t                i = 0;
    int                   seen_a = 0;

    single = lmd_json_get(o, "single");
    specials = lmd_json_get(o, "special_tokens");
    if (!cJSON_IsArray(single)) {
        return lmd_json_fail(j, where, "single: expected an array (lmd "
                             "reads the serialized template form)");
    }
    p = lmd_json_post_new(j, LMD_POST_TEMPLATE, where);
    if (p == NULL) {
        return LMD_ERROR;
    }
    cJSON_ArrayForEach(it, single) {
        snprintf(sub, sizeof(sub), "%s.single[%zu]", where, i++);
        if ((v = lmd_json_get(it, "Sequence")) != NULL) {
            x = lmd_json_get(v, "id");
            if (!cJSON_IsString(x) || strcmp(x->valuestring, "A") != 0
                || seen_a)
            {
                return lmd_json_fail(j, sub, "a single template holds "
                                     "sequence A once");
            }
            seen_a = 1;
            continue;
        }
        v = lmd_json_get(it, "SpecialToken");
        x = lmd_json_get(v, "id");
        if (!cJSON_IsString(x)) {
            return lmd_json_fail(j, sub, "expected a SpecialToken or a "
                                 "Sequence");
        }
        sp = lmd_json_get(specials, x->valuestring);
        ids = lmd_json_get(sp, "ids");
        if (!cJSON_IsArray(ids)) {
            return lmd_json_fail(j, sub, "special token \"%.40s\" is not in "
                                 "special_tokens", x->valuestring);
        }
        cJSON_ArrayForEach(v, ids) {
            if (!cJSON_IsNumber(v) || v->valuedouble < 0
                || v->valuedouble > INT32_MAX)
            {
                return lmd_json_fail(j, sub, "special_tokens: bad id");
            }
            if ((seen_a ? lmd_json_ids_add(&p->after, &p->nafter,
                                           (int32_t) v->valuedouble)
                        : lmd_json_ids_add(&p->before, &p->nbefore,
                                           (int32_t) v->valuedouble))
                != LMD_OK)
            {
                return lmd_json_fail(j, sub, "out of memory");
            }
        }
    }
    if (!seen_a) {
        return lmd_json_fail(j, where, "single: no Sequence A");
    }
    return LMD_OK;
}


static int
lmd_json_post(struct lmd_json *j, const cJSON *o, const char *where)
{
    struct lmd_tok_post  *p;
    const cJSON          *items, *it, *cls, *sep;
    const char           *type;
    char                  sub[96];
    size_t                i;

    type = lmd_json_type(j, o, where);
    if (type == NULL) {
        return LMD_ERROR;
    }
    if (strcmp(type, "Sequence") == 0) {
        items = lmd_json_get(o, "processors");
        if (!cJSON_IsArray(items)) {
            return lmd_json_fail(j, where, "processors: expected an array");
        }
        i = 0;
        cJSON_ArrayForEach(it, items) {
            snprintf(sub, sizeof(sub), "%s.processors[%zu]", where, i++);
            if (lmd_json_post(j, it, sub) != LMD_OK) {
                return LMD_ERROR;
            }
        }
        return LMD_OK;
    }
    if (strcmp(type, "TemplateProcessing") == 0) {
        return lmd_json_template(j, o, where);
    }
    if (strcmp(type, "ByteLevel") == 0) {
        return lmd_json_post_new(j, LMD_POST_BYTELEVEL, where) != NULL
               ? LMD_OK : LMD_ERROR;
    }
    if (strcmp(type, "BertProcessing") == 0
        || strcmp(type, "RobertaProcessing") == 0)
    {
        cls = lmd_json_get(o, "cls");
        sep = lmd_json_get(o, "sep");
        if (cJSON_GetArraySize(cls) != 2 || cJSON_GetArraySize(sep) != 2
            || !cJSON_IsNumber(cJSON_GetArrayItem(cls, 1))
            || !cJSON_IsNumber(cJSON_GetArrayItem(sep, 1)))
        {
            return lmd_json_fail(j, where, "cls and sep: expected "
                                 "[\"token\", id]");
        }
        p = lmd_json_post_new(j, LMD_POST_BERT, where);
        if (p == NULL
            || lmd_json_ids_add(&p->before, &p->nbefore,
                   (int32_t) cJSON_GetArrayItem(cls, 1)->valuedouble)
               != LMD_OK
            || lmd_json_ids_add(&p->after, &p->nafter,
                   (int32_t) cJSON_GetArrayItem(sep, 1)->valuedouble)
               != LMD_OK)
        {
            return lmd_json_fail(j, where, "out of memory");
        }
        return LMD_OK;
    }
    return lmd_json_fail(j, where, "unknown post-processor type \"%.40s\"",
                         type);
}


/* --------------------------------------------------------------- decoder */

static struct lmd_tok_dec *
lmd_json_dec_new(struct lmd_json *j, int type, const char *where)
{
    struct lmd_tok_dec  *d;

    d = realloc(j->t->dec, (j->t->ndec + 1) * sizeof(*d));
    if (d == NULL) {
        lmd_json_fail(j, where, "out of memory");
        return NULL;
    }
    j->t->dec = d;
    d = &j->t->dec[j->t->ndec++];
    memset(d, 0, sizeof(*d));
    d->type = type;
    return d;
}


static int
lmd_json_dec_str(struct lmd_json *j, struct lmd_tok_dec *d, const cJSON *o,
    const char *name, const char *dflt, const char *where)
{
    const char  *s;
    size_t       len;

    if (lmd_json_string(j, o, name, &s, &len, where) != LMD_OK) {
        return LMD_ERROR;
    }
    if (s == NULL) {
        if (dflt == NULL) {
            return lmd_json_fail(j, where, "%s: expected a string", name);
        }
        s = dflt;
        len = strlen(dflt);
    }
    d->str = lmd_json_dup(s, len);
    d->str_len = len;
    if (d->str == NULL) {
        return lmd_json_fail(j, where, "out of memory");
    }
    return LMD_OK;
}


static int
lmd_json_dec(struct lmd_json *j, const cJSON *o, const char *where)
{
    struct lmd_tok_dec  *d;
    const cJSON         *items, *it;
    const char          *type;
    char                 sub[96];
    size_t               i;
    int                  scheme;

    type = lmd_json_type(j, o, where);
    if (type == NULL) {
        return LMD_ERROR;
    }
    if (strcmp(type, "Sequence") == 0) {
        items = lmd_json_get(o, "decoders");
        if (!cJSON_IsArray(items)) {
            return lmd_json_fail(j, where, "decoders: expected an array");
        }
        i = 0;
        cJSON_ArrayForEach(it, items) {
            snprintf(sub, sizeof(sub), "%s.decoders[%zu]", where, i++);
            if (lmd_json_dec(j, it, sub) != LMD_OK) {
                return LMD_ERROR;
            }
        }
        return LMD_OK;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        return lmd_json_dec_new(j, LMD_DEC_BYTELEVEL, where) ? LMD_OK
                                                            : LMD_ERROR;
    }
    if (strcmp(type, "ByteFallback") == 0) {
        return lmd_json_dec_new(j, LMD_DEC_BYTE_FALLBACK, where) ? LMD_OK
                                                                : LMD_ERROR;
    }
    if (strcmp(type, "Fuse") == 0) {
        return lmd_json_dec_new(j, LMD_DEC_FUSE, where) ? LMD_OK : LMD_ERROR;
    }
    if (strcmp(type, "Metaspace") == 0) {
        d = lmd_json_dec_new(j, LMD_DEC_METASPACE, where);
        if (d == NULL
            || lmd_json_char(j, o, "replacement", 0x2581, &d->cp, where)
               != LMD_OK
            || lmd_json_prepend_scheme(j, o, &scheme, where) != LMD_OK)
        {
            return LMD_ERROR;
        }
        d->prepend = scheme != LMD_PREPEND_NEVER;
        return LMD_OK;
    }
    if (strcmp(type, "Replace") == 0) {
        d = lmd_json_dec_new(j, LMD_DEC_REPLACE, where);
        if (d == NULL || lmd_json_pattern(j, o, &d->pat, where) != LMD_OK
            || lmd_json_dec_str(j, d, o, "content", NULL, where) != LMD_OK)
        {
            return LMD_ERROR;
        }
        return LMD_OK;
    }
    if (strcmp(type, "Strip") == 0) {
        d = lmd_json_dec_new(j, LMD_DEC_STRIP, where);
        if (d == NULL
            || lmd_json_char(j, o, "content", ' ', &d->cp, where) != LMD_OK
            || lmd_json_size(j, o, "start", 0, &d->start, where) != LMD_OK
            || lmd_json_size(j, o, "stop", 0, &d->stop, where) != LMD_OK)
        {
            return LMD_ERROR;
        }
        return LMD_OK;
    }
    if (strcmp(type, "WordPiece") == 0) {
        d = lmd_json_dec_new(j, LMD_DEC_WORDPIECE, where);
        if (d == NULL
            || lmd_json_dec_str(j, d, o, "prefix", "##", where) != LMD_OK
            || lmd_json_bool(j, o, "cleanup", 1, &d->cleanup, where)
               != LMD_OK)
        {
            return LMD_ERROR;
        }
        return LMD_OK;
    }
    if (strcmp(type, "BPEDecoder") == 0) {
        d = lmd_json_dec_new(j, LMD_DEC_BPE, where);
        if (d == NULL
            || lmd_json_dec_str(j, d, o, "suffix", "</w>", where) != LMD_OK)
        {
            return LMD_ERROR;
        }
        return LMD_OK;
    }
    if (strcmp(type, "CTC") == 0) {
        return lmd_json_fail(j, where, "the CTC decoder is not supported");
    }
    return lmd_json_fail(j, where, "unknown decoder type \"%.40s\"", type);
}


/* -------------------------------------------------------------- the file */

static int
lmd_json_section(const cJSON *root, const char *name, const cJSON **out)
{
    *out = cJSON_GetObjectItemCaseSensitive(root, name);
    if (*out != NULL && cJSON_IsNull(*out)) {
        *out = NULL;
    }
    return *out != NULL;
}


/* A ByteLevel normalizer has mapped the bytes already: the model must
 * take characters then. */
static int
lmd_json_has_bytelevel_norm(const struct lmd_tok_norm *n)
{
    size_t  i;

    for (i = 0; n != NULL && i < n->nitems; i++) {
        if (n->items[i]->type == LMD_NORM_BYTELEVEL) {
            return 1;
        }
    }
    return 0;
}


int
lmd_tok_json_load(struct lmd_tokenizer *t, const char *file, char *err,
    size_t errlen)
{
    struct lmd_json       j;
    struct lmd_tok_norm  *seq = NULL;
    const cJSON          *v;
    cJSON                *root = NULL;
    char                 *text;
    size_t                len;
    int                   rc = LMD_ERROR;

    memset(&j, 0, sizeof(j));
    j.t = t;
    j.file = file;
    j.err = err;
    j.errlen = errlen;

    text = lmd_tok_read_file(file, &len, err, errlen);
    if (text == NULL) {
        return LMD_ERROR;
    }
    if (lmd_tok_utf8_valid(text, len) != len) {
        lmd_json_fail(&j, "", "not valid UTF-8 (byte %zu)",
                      lmd_tok_utf8_valid(text, len));
        free(text);
        return LMD_ERROR;
    }
    root = lmd_json_parse(&j, text, len);
    free(text);
    if (root == NULL) {
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        lmd_json_fail(&j, "", "expected a JSON object");
        goto done;
    }
    v = lmd_json_get(root, "version");
    if (v != NULL && (!cJSON_IsString(v) || strcmp(v->valuestring, "1.0")))
    {
        lmd_json_fail(&j, "version", "unknown tokenizer version (1.0 is "
                      "known)");
        goto done;
    }
    if (!lmd_json_section(root, "model", &v)) {
        lmd_json_fail(&j, "model", "missing");
        goto done;
    }
    if (lmd_json_model(&j, v) != LMD_OK) {
        goto done;
    }

    if (lmd_json_section(root, "normalizer", &v)) {
        seq = calloc(1, sizeof(*seq));
        if (seq == NULL) {
            lmd_json_fail(&j, "normalizer", "out of memory");
            goto done;
        }
        seq->type = LMD_NORM_SEQUENCE;
        t->normalizer = seq;
        if (lmd_json_norm(&j, v, seq, "normalizer") != LMD_OK) {
            goto done;
        }
    }

    if (lmd_json_section(root, "pre_tokenizer", &v)
        && lmd_json_pt(&j, v, "pre_tokenizer") != LMD_OK)
    {
        goto done;
    }
    if (t->npt > 0 && t->pt[t->npt - 1].type == LMD_PT_BYTELEVEL
        && !lmd_json_has_bytelevel_norm(t->normalizer))
    {
        if (lmd_bpe_enable_raw(&t->model) != LMD_OK) {
            lmd_json_fail(&j, "model", "out of memory");
            goto done;
        }
        t->pt[t->npt - 1].raw = t->model.raw_bytes;
    }

    if (lmd_json_added(&j, lmd_json_get(root, "added_tokens")) != LMD_OK) {
        goto done;
    }
    if (lmd_json_section(root, "post_processor", &v)
        && lmd_json_post(&j, v, "post_processor") != LMD_OK)
    {
        goto done;
    }
    if (lmd_json_section(root, "decoder", &v)) {
        t->has_decoder = 1;
        if (lmd_json_dec(&j, v, "decoder") != LMD_OK) {
            goto done;
        }
    }
    rc = LMD_OK;

done:
    cJSON_Delete(root);
    lmd_tok_buf_free(&j.tmp);
    return rc;
}
