/*
 * test_tokenizer_cases.c -- the tokenizer against the reference outputs
 * of Hugging Face tokenizers 0.23 and transformers 5.17 on real
 * vocabularies (../shared/fixtures/tokenizers, LMD_SHARED overrides
 * ../shared; the README there says how every value was made).
 *
 * For each family (gpt2 llama2 llama3 qwen2 internlm2 mistral) and every
 * line of cases.jsonl: encode without and with special tokens, the piece
 * strings of the ids, the three decodes, and the incremental decoder over
 * ids and ids_with_special in both skip modes (equal to the full decode
 * byte for byte, every piece valid UTF-8).  Then chat_cases.jsonl, the
 * llama.cpp suite, and loading from tokenizer.model alone.
 *
 * Each big tokenizer is loaded once and kept for all the cases.  Each
 * family case prints how many rows it compared.  Absent fixtures skip
 * with a reason.
 */

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lmd_tok_internal.h"
#include "lmd_tokenizer.h"
#include "lmd_test.h"

#define FAMILIES  6

static const char *const  families[FAMILIES] = {
    "gpt2", "llama2", "llama3", "qwen2", "internlm2", "mistral"
};

static struct lmd_tokenizer  *loaded[FAMILIES];
static int                    load_tried[FAMILIES];
static char                   skip_reason[600];


/* ------------------------------------------------------------ fixtures */

static const char *
fixtures_dir(void)
{
    static char  dir[512];
    const char  *shared = getenv("LMD_SHARED");

    snprintf(dir, sizeof(dir), "%s/fixtures/tokenizers",
             shared != NULL && shared[0] ? shared : "../shared");
    return dir;
}


/* The file's path, or NULL with the case marked skipped. */
static const char *
fixture(char *buf, size_t size, const char *rel)
{
    struct stat  st;

    snprintf(buf, size, "%s/%s", fixtures_dir(), rel);
    if (stat(buf, &st) != 0) {
        snprintf(skip_reason, sizeof(skip_reason), "%s not found (set "
                 "LMD_SHARED to the folder holding fixtures/)", buf);
        lmd_test_skip(skip_reason);
        return NULL;
    }
    return buf;
}


static char *
slurp(const char *path, size_t *len)
{
    FILE    *f = fopen(path, "rb");
    char    *buf;
    long     n;

    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t) n + 1);
    if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = (size_t) n;
    return buf;
}


/* The family's tokenizer, loaded from its folder once. */
static struct lmd_tokenizer *
family(int i)
{
    char  path[600], err[LMD_ERR_LEN];

    if (!load_tried[i]) {
        load_tried[i] = 1;
        if (fixture(path, sizeof(path), families[i]) == NULL) {
            return NULL;
        }
        loaded[i] = lmd_tokenizer_load(path, err, sizeof(err));
        fail_unless(loaded[i] != NULL, "load %s: %s", path, err);
    }
    if (loaded[i] == NULL) {
        fixture(path, sizeof(path), families[i]);
    }
    return loaded[i];
}


__attribute__((destructor)) static void
free_loaded(void)
{
    int  i;

    for (i = 0; i < FAMILIES; i++) {
        lmd_tokenizer_free(loaded[i]);
    }
}


/* ------------------------------------------------------------- checks */

static int
ids_equal(const struct lmd_tokens *got, const cJSON *want)
{
    const cJSON  *it;
    size_t        i = 0;

    if (!cJSON_IsArray(want)
        || (size_t) cJSON_GetArraySize(want) != got->n)
    {
        return 0;
    }
    cJSON_ArrayForEach(it, want) {
        if (got->ids[i++] != (int32_t) it->valuedouble) {
            return 0;
        }
    }
    return 1;
}


static void
ids_print(const char *what, const struct lmd_tokens *got, const cJSON *want)
{
    char         *w = cJSON_PrintUnformatted(want);
    size_t        i;

    fprintf(stderr, "    %s want %s\n    %s got  [", what, w ? w : "?",
            what);
    for (i = 0; i < got->n; i++) {
        fprintf(stderr, "%s%d", i ? ", " : "", got->ids[i]);
    }
    fprintf(stderr, "]\n");
    free(w);
}


static int
ids_from_json(const cJSON *arr, struct lmd_tokens *out)
{
    const cJSON  *it;

    out->n = 0;
    cJSON_ArrayForEach(it, arr) {
        if (lmd_tokens_push(out, (int32_t) it->valuedouble) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static int
utf8_ok(const char *str, size_t n)
{
    const unsigned char  *s = (const unsigned char *) str;
    size_t                i = 0, k, need;
    uint32_t              cp, min;

    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if ((s[i] & 0xE0) == 0xC0) {
            need = 1;
            cp = s[i] & 0x1F;
            min = 0x80;
        } else if ((s[i] & 0xF0) == 0xE0) {
            need = 2;
            cp = s[i] & 0x0F;
            min = 0x800;
        } else if ((s[i] & 0xF8) == 0xF0) {
            need = 3;
            cp = s[i] & 0x07;
            min = 0x10000;
        } else {
            return 0;
        }
        for (k = 1; k <= need; k++) {
            if (i + k >= n || (s[i + k] & 0xC0) != 0x80) {
                return 0;
            }
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return 0;
        }
        i += need + 1;
    }
    return 1;
}


/* The incremental decoder over ids equals want; every piece valid. */
static int
detok_check_n(const struct lmd_tokenizer *t, const struct lmd_tokens *ids,
    int skip, const char *want, size_t want_len, char *why, size_t whylen)
{
    struct lmd_detok  *d = lmd_detok_new(t, skip);
    char              *acc = NULL;
    size_t             alen = 0, i, len;
    const char        *piece;
    int                ok = 1, rc;

    if (d == NULL) {
        snprintf(why, whylen, "lmd_detok_new failed");
        return 0;
    }
    for (i = 0; i <= ids->n && ok; i++) {
        rc = i < ids->n ? lmd_detok_push(d, ids->ids[i], &piece, &len)
                        : lmd_detok_finish(d, &piece, &len);
        if (rc != LMD_OK) {
            snprintf(why, whylen, "push/finish failed at %zu", i);
            ok = 0;
            break;
        }
        if (!utf8_ok(piece, len)) {
            snprintf(why, whylen, "piece %zu is not valid UTF-8", i);
            ok = 0;
            break;
        }
        acc = realloc(acc, alen + len + 1);
        memcpy(acc + alen, piece, len);
        alen += len;
        acc[alen] = '\0';
    }
    if (ok && (alen != want_len || memcmp(acc, want, alen) != 0)) {
        snprintf(why, whylen, "pieces make \"%.200s\"", acc ? acc : "");
        ok = 0;
    }
    free(acc);
    lmd_detok_free(d);
    return ok;
}


static int
detok_check(const struct lmd_tokenizer *t, const struct lmd_tokens *ids,
    int skip, const char *want, char *why, size_t whylen)
{
    return detok_check_n(t, ids, skip, want, strlen(want), why, whylen);
}


static int
decode_is(const struct lmd_tokenizer *t, const struct lmd_tokens *ids,
    int skip, const char *want)
{
    char    *text = NULL;
    size_t   len;
    int      ok;

    if (lmd_tokenizer_decode(t, ids->ids, ids->n, skip, &text, &len)
        != LMD_OK)
    {
        return 0;
    }
    ok = len == strlen(want) && memcmp(text, want, len) == 0;
    if (!ok) {
        fprintf(stderr, "    decode want \"%.300s\"\n    decode got  "
                "\"%.300s\"\n", want, text);
    }
    free(text);
    return ok;
}


/* --------------------------------------------------------- cases.jsonl */

/* Checks every row of family i's cases.jsonl; returns the rows done. */
static size_t
run_cases(int fi)
{
    struct lmd_tokenizer  *t = family(fi);
    struct lmd_tokens      got = { NULL, 0, 0 }, ids = { NULL, 0, 0 };
    struct lmd_tokens      ids_sp = { NULL, 0, 0 };
    char                   path[600], rel[64], err[LMD_ERR_LEN], why[300];
    char                  *text, *line, *next;
    size_t                 len, rows = 0, k, plen;
    cJSON                 *row, *v, *it;
    const char            *s, *piece;
    int                    ok;

    if (t == NULL) {
        return 0;
    }
    snprintf(rel, sizeof(rel), "%s/cases.jsonl", families[fi]);
    if (fixture(path, sizeof(path), rel) == NULL) {
        return 0;
    }
    text = slurp(path, &len);
    fail_unless(text != NULL, "read %s", path);
    for (line = text; text != NULL && *line; line = next) {
        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        } else {
            next = line + strlen(line);
        }
        if (*line == '\0') {
            continue;
        }
        row = cJSON_Parse(line);
        fail_unless(row != NULL, "%s: line %zu is not JSON", path, rows + 1);
        if (row == NULL) {
            continue;
        }
        rows++;
        s = cJSON_GetObjectItem(row, "text")->valuestring;

        /* Assumption: encode(add_special_tokens=False) is "ids". */
        got.n = 0;
        ok = lmd_tokenizer_encode(t, s, strlen(s), 0, &got, err,
                                  sizeof(err)) == LMD_OK
             && ids_equal(&got, cJSON_GetObjectItem(row, "ids"));
        if (!fail_unless(ok, "%s row %zu ids: \"%.80s\"", families[fi],
                         rows, s))
        {
            ids_print("ids", &got, cJSON_GetObjectItem(row, "ids"));
        }

        /* Assumption: add_special_tokens=True gives "ids_with_special"
         * (the post-processor's BOS). */
        got.n = 0;
        ok = lmd_tokenizer_encode(t, s, strlen(s), 1, &got, err,
                                  sizeof(err)) == LMD_OK
             && ids_equal(&got, cJSON_GetObjectItem(row, "ids_with_special"));
        if (!fail_unless(ok, "%s row %zu ids_with_special", families[fi],
                         rows))
        {
            ids_print("ids_sp", &got,
                      cJSON_GetObjectItem(row, "ids_with_special"));
        }

        /* Assumption: "tokens" are the vocabulary strings of "ids". */
        ids_from_json(cJSON_GetObjectItem(row, "ids"), &ids);
        ids_from_json(cJSON_GetObjectItem(row, "ids_with_special"), &ids_sp);
        v = cJSON_GetObjectItem(row, "tokens");
        k = 0;
        cJSON_ArrayForEach(it, v) {
            piece = k < ids.n ? lmd_tokenizer_piece_bytes(t, ids.ids[k],
                                                          &plen) : NULL;
            fail_unless(piece != NULL && plen == strlen(it->valuestring)
                        && memcmp(piece, it->valuestring, plen) == 0,
                        "%s row %zu token %zu: want \"%s\" got \"%s\"",
                        families[fi], rows, k, it->valuestring,
                        piece ? piece : "(null)");
            k++;
        }

        /* Assumption: decode(ids) is "decoded"; with the specials kept
         * and skipped, "decoded_with_special" / "decoded_skip_special". */
        fail_unless(decode_is(t, &ids, 0,
                    cJSON_GetObjectItem(row, "decoded")->valuestring),
                    "%s row %zu decoded", families[fi], rows);
        fail_unless(decode_is(t, &ids_sp, 0,
                    cJSON_GetObjectItem(row, "decoded_with_special")
                        ->valuestring),
                    "%s row %zu decoded_with_special", families[fi], rows);
        fail_unless(decode_is(t, &ids_sp, 1,
                    cJSON_GetObjectItem(row, "decoded_skip_special")
                        ->valuestring),
                    "%s row %zu decoded_skip_special", families[fi], rows);

        /* Assumption: streaming the same ids gives the same text. */
        fail_unless(detok_check(t, &ids, 0,
                    cJSON_GetObjectItem(row, "decoded")->valuestring,
                    why, sizeof(why)),
                    "%s row %zu detok(ids): %s", families[fi], rows, why);
        /* (no fixture holds decode(ids, skip_special); the stream must
         * equal lmd's own full decode) */
        {
            char    *full = NULL;
            size_t   flen = 0;

            fail_unless(lmd_tokenizer_decode(t, ids.ids, ids.n, 1, &full,
                                             &flen) == LMD_OK
                        && detok_check_n(t, &ids, 1, full, flen, why,
                                         sizeof(why)),
                        "%s row %zu detok(ids, skip): %s", families[fi],
                        rows, why);
            free(full);
        }
        fail_unless(detok_check(t, &ids_sp, 0,
                    cJSON_GetObjectItem(row, "decoded_with_special")
                        ->valuestring, why, sizeof(why)),
                    "%s row %zu detok(ids_with_special): %s", families[fi],
                    rows, why);
        fail_unless(detok_check(t, &ids_sp, 1,
                    cJSON_GetObjectItem(row, "decoded_skip_special")
                        ->valuestring, why, sizeof(why)),
                    "%s row %zu detok(ids_with_special, skip): %s",
                    families[fi], rows, why);
        cJSON_Delete(row);
    }
    free(text);
    lmd_tokens_free(&got);
    lmd_tokens_free(&ids);
    lmd_tokens_free(&ids_sp);
    printf("%s: %zu cases.jsonl rows compared\n", families[fi], rows);
    /* Assumption: the README says 125 lines per family. */
    fail_unless(rows == 125, "%s: %zu rows, the README says 125",
                families[fi], rows);
    return rows;
}


LMD_TEST(cases_gpt2)
{
    run_cases(0);
}


LMD_TEST(cases_llama2)
{
    run_cases(1);
}


LMD_TEST(cases_llama3)
{
    run_cases(2);
}


LMD_TEST(cases_qwen2)
{
    run_cases(3);
}


LMD_TEST(cases_internlm2)
{
    run_cases(4);
}


LMD_TEST(cases_mistral)
{
    run_cases(5);
}


/* ---------------------------------------------------- chat_cases.jsonl */

/* Assumption: encode(rendered, add_special_tokens=False) is rendered_ids
 * for every family that has a chat template (all but gpt2). */
LMD_TEST(chat_cases)
{
    struct lmd_tokens  got = { NULL, 0, 0 };
    char               path[600], rel[64], err[LMD_ERR_LEN];
    char              *text, *line, *next;
    size_t             len, rows;
    cJSON             *row;
    const char        *s;
    int                fi, ok;

    for (fi = 1; fi < FAMILIES; fi++) {
        struct lmd_tokenizer  *t = family(fi);

        if (t == NULL) {
            return;
        }
        snprintf(rel, sizeof(rel), "%s/chat_cases.jsonl", families[fi]);
        if (fixture(path, sizeof(path), rel) == NULL) {
            return;
        }
        text = slurp(path, &len);
        rows = 0;
        for (line = text; text != NULL && *line; line = next) {
            next = strchr(line, '\n');
            if (next != NULL) {
                *next++ = '\0';
            } else {
                next = line + strlen(line);
            }
            row = cJSON_Parse(line);
            if (row == NULL) {
                continue;
            }
            rows++;
            s = cJSON_GetObjectItem(row, "rendered")->valuestring;
            got.n = 0;
            ok = lmd_tokenizer_encode(t, s, strlen(s), 0, &got, err,
                                      sizeof(err)) == LMD_OK
                 && ids_equal(&got, cJSON_GetObjectItem(row, "rendered_ids"));
            if (!fail_unless(ok, "%s chat row %zu", families[fi], rows)) {
                ids_print("chat", &got,
                          cJSON_GetObjectItem(row, "rendered_ids"));
            }
            cJSON_Delete(row);
        }
        free(text);
        printf("%s: %zu chat_cases.jsonl rows compared\n", families[fi],
               rows);
        fail_unless(rows == 8, "%s: %zu chat rows, the README says 8",
                    families[fi], rows);
    }
    lmd_tokens_free(&got);
}


/* ------------------------------------------------------- llama.cpp suite */

/* Assumption (README): gpt-2 -> gpt2, llama-spm -> llama2, llama-bpe ->
 * llama3, qwen2 -> qwen2; .inp holds 46 strings separated by
 * "\n__ggml_vocab_test__\n" (with a trailing one), .out one line of
 * " id id id" per string, from encode(add_special_tokens=False). */
LMD_TEST(llamacpp_suite)
{
    static const struct {
        const char  *vocab;
        int          fam;
    } map[] = {
        { "gpt-2", 0 }, { "llama-spm", 1 }, { "llama-bpe", 2 }, { "qwen2", 3 }
    };
    static const char   sep[] = "\n__ggml_vocab_test__\n";
    struct lmd_tokens   got = { NULL, 0, 0 };
    char                path[600], rel[96], err[LMD_ERR_LEN];
    char               *inp, *out, *p, *q, *end, *oline, *onext;
    size_t              ilen, olen, n, i, k;
    int                 m, ok;
    long                id;

    for (m = 0; m < 4; m++) {
        struct lmd_tokenizer  *t = family(map[m].fam);

        if (t == NULL) {
            return;
        }
        snprintf(rel, sizeof(rel), "llamacpp/ggml-vocab-%s.gguf.inp",
                 map[m].vocab);
        if (fixture(path, sizeof(path), rel) == NULL) {
            return;
        }
        inp = slurp(path, &ilen);
        snprintf(rel, sizeof(rel), "llamacpp/ggml-vocab-%s.gguf.out",
                 map[m].vocab);
        if (fixture(path, sizeof(path), rel) == NULL) {
            free(inp);
            return;
        }
        out = slurp(path, &olen);
        fail_unless(inp != NULL && out != NULL, "read %s", path);
        if (inp == NULL || out == NULL) {
            free(inp);
            free(out);
            return;
        }
        n = 0;
        p = inp;
        oline = out;
        while ((q = strstr(p, sep)) != NULL) {
            *q = '\0';
            onext = strchr(oline, '\n');
            fail_unless(onext != NULL, "%s: fewer lines than tests", path);
            if (onext == NULL) {
                break;
            }
            *onext = '\0';
            got.n = 0;
            ok = lmd_tokenizer_encode(t, p, (size_t) (q - p), 0, &got, err,
                                      sizeof(err)) == LMD_OK;
            /* compare with the ids of the .out line */
            k = 0;
            for (end = oline; ok && *end; ) {
                errno = 0;
                id = strtol(end, &end, 10);
                if (errno != 0) {
                    ok = 0;
                    break;
                }
                while (*end == ' ') {
                    end++;
                }
                ok = k < got.n && got.ids[k] == id;
                k++;
            }
            ok = ok && k == got.n;
            if (!fail_unless(ok, "%s test %zu: \"%.60s\"", map[m].vocab, n,
                             p))
            {
                fprintf(stderr, "    want%s\n    got ", oline);
                for (i = 0; i < got.n; i++) {
                    fprintf(stderr, " %d", got.ids[i]);
                }
                fprintf(stderr, "\n");
            }
            n++;
            p = q + sizeof(sep) - 1;
            oline = onext + 1;
        }
        printf("%s: %zu llama.cpp %s tests compared\n",
               families[map[m].fam], n, map[m].vocab);
        fail_unless(n == 46, "%s: %zu tests, the README says 46",
                    map[m].vocab, n);
        free(inp);
        free(out);
    }
    lmd_tokens_free(&got);
}


/* ------------------------------------------------- tokenizer.model only */

static int
copy_file(const char *src, const char *dst)
{
    char    *data;
    size_t   len;
    FILE    *f;
    int      ok;

    data = slurp(src, &len);
    f = fopen(dst, "wb");
    ok = data != NULL && f != NULL && fwrite(data, 1, len, f) == len;
    free(data);
    if (f != NULL) {
        fclose(f);
    }
    return fail_unless(ok, "copy %s to %s", src, dst) ? LMD_OK : LMD_ERROR;
}


/* A temporary folder holding family/tokenizer.model and, with config,
 * tokenizer_config.json: no tokenizer.json. */
static int
spm_only_dir(const char *fam, int config, char *dir, size_t size)
{
    char    src[600], rel[64], dst[700];

    snprintf(rel, sizeof(rel), "%s/tokenizer.model", fam);
    if (fixture(src, sizeof(src), rel) == NULL) {
        return LMD_ERROR;
    }
    snprintf(dir, size, "/tmp/lmd_spm_only_XXXXXX");
    if (mkdtemp(dir) == NULL) {
        fail_unless(0, "mkdtemp: %s", strerror(errno));
        return LMD_ERROR;
    }
    snprintf(dst, sizeof(dst), "%s/tokenizer.model", dir);
    if (copy_file(src, dst) != LMD_OK) {
        return LMD_ERROR;
    }
    if (config) {
        snprintf(rel, sizeof(rel), "%s/tokenizer_config.json", fam);
        if (fixture(src, sizeof(src), rel) == NULL) {
            return LMD_ERROR;
        }
        snprintf(dst, sizeof(dst), "%s/tokenizer_config.json", dir);
        if (copy_file(src, dst) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


static void
spm_only_cleanup(const char *dir)
{
    char  path[700];

    snprintf(path, sizeof(path), "%s/tokenizer.model", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/tokenizer_config.json", dir);
    unlink(path);
    rmdir(dir);
}


/* Compares encode(text or rendered) of a folder with tokenizer.model
 * (and tokenizer_config.json with config) but no tokenizer.json with the
 * key of each row of file, except the rows listed; returns the rows
 * compared, SIZE_MAX when the fixtures are absent (the case is marked
 * skipped). */
static size_t
spm_compare(const char *fam, int config, const char *file, const char *key,
    int add_special, const int *except, size_t nexcept)
{
    struct lmd_tokenizer  *t;
    struct lmd_tokens      got = { NULL, 0, 0 };
    char                   dir[64], path[600], rel[64], err[LMD_ERR_LEN];
    char                  *text, *line, *next;
    size_t                 len, row = 0, compared = 0, x;
    cJSON                 *r;
    const char            *s;
    int                    skip, ok;

    if (spm_only_dir(fam, config, dir, sizeof(dir)) != LMD_OK) {
        return SIZE_MAX;        /* absent fixtures: skipped */
    }
    t = lmd_tokenizer_load(dir, err, sizeof(err));
    fail_unless(t != NULL, "load %s (tokenizer.model): %s", dir, err);
    snprintf(rel, sizeof(rel), "%s/%s", fam, file);
    text = t != NULL && fixture(path, sizeof(path), rel) ? slurp(path, &len)
                                                         : NULL;
    for (line = text; text != NULL && *line; line = next) {
        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        } else {
            next = line + strlen(line);
        }
        r = cJSON_Parse(line);
        if (r == NULL) {
            continue;
        }
        row++;
        for (skip = 0, x = 0; x < nexcept; x++) {
            skip |= except[x] == (int) row;
        }
        if (!skip) {
            s = cJSON_GetObjectItem(r, cJSON_GetObjectItem(r, "text")
                                       ? "text" : "rendered")->valuestring;
            got.n = 0;
            ok = lmd_tokenizer_encode(t, s, strlen(s), add_special, &got,
                                      err, sizeof(err)) == LMD_OK
                 && ids_equal(&got, cJSON_GetObjectItem(r, key));
            if (!fail_unless(ok, "%s tokenizer.model row %zu: \"%.60s\"",
                             fam, row, s))
            {
                ids_print(key, &got, cJSON_GetObjectItem(r, key));
            }
            /* with the config, decoding is tokenizer.json's too */
            if (config && cJSON_GetObjectItem(r, "decoded_with_special")) {
                ids_from_json(cJSON_GetObjectItem(r, key), &got);
                fail_unless(decode_is(t, &got, 0, cJSON_GetObjectItem(r,
                                add_special ? "decoded_with_special"
                                            : "decoded")->valuestring),
                            "%s tokenizer.model row %zu decode", fam, row);
                fail_unless(!add_special || decode_is(t, &got, 1,
                                cJSON_GetObjectItem(r,
                                    "decoded_skip_special")->valuestring),
                            "%s tokenizer.model row %zu decode skipping",
                            fam, row);
            }
            compared++;
        }
        cJSON_Delete(r);
    }
    free(text);
    lmd_tokens_free(&got);
    lmd_tokenizer_free(t);
    spm_only_cleanup(dir);
    printf("%s: %zu %s rows compared from tokenizer.model%s (%s)\n", fam,
           compared, file, config ? " + tokenizer_config.json" : " alone",
           key);
    return compared;
}


/* Assumption: with only tokenizer.model, encoding is sentencepiece's, so
 * it matches ids_sentencepiece on every row -- including the two rows the
 * README names, where literal <s> / </s> are plain text to sentencepiece
 * (ids_sentencepiece already says so, unlike "ids"). */
LMD_TEST(spm_only_llama2)
{
    size_t  n = spm_compare("llama2", 0, "cases.jsonl", "ids_sentencepiece",
                            0, NULL, 0);

    fail_unless(n == 125 || n == SIZE_MAX, "llama2: %zu rows compared", n);
}


/* Assumption: InternLM2's sentencepiece encoding equals tokenizer.json's
 * "ids" except where the text holds special-token literals that
 * tokenizer.json matches as added tokens and sentencepiece does not
 * (README: "agrees on all 155 strings except 4 special-token literals").
 * In cases.jsonl those are row 69 ("<s>[INST] hi [/INST]</s>": <s> and
 * </s> are control pieces) and row 70 ("<|im_start|>user\nhi<|im_end|>":
 * ids 92543/92542 are [UNUSED_TOKEN_146]/[UNUSED_TOKEN_145] in the
 * model); the other two are in the chat renderings, not compared here. */
LMD_TEST(spm_only_internlm2)
{
    static const int  except[] = { 69, 70 };
    size_t            n = spm_compare("internlm2", 0, "cases.jsonl", "ids",
                                      0, except, 2);

    fail_unless(n == 123 || n == SIZE_MAX, "internlm2: %zu rows compared",
                n);
}


/* Assumption: the same holds for Mistral v3's tokenizer.model against
 * ids_sentencepiece (which the README lists "for information"). */
LMD_TEST(spm_only_mistral)
{
    size_t  n = spm_compare("mistral", 0, "cases.jsonl", "ids_sentencepiece",
                            0, NULL, 0);

    fail_unless(n == 125 || n == SIZE_MAX, "mistral: %zu rows compared", n);
}


/* Assumption: with tokenizer_config.json beside tokenizer.model, its
 * added_tokens_decoder makes <s>, </s> (and InternLM2's <|im_start|>,
 * <|im_end|> ...) tokens matched in the text, and add_bos_token adds
 * BOS: then the folder encodes like tokenizer.json -- "ids",
 * "ids_with_special" and the chat renderings, every row -- for the two
 * families whose tokenizer.json is sentencepiece's algorithm (Llama 2's
 * and InternLM2's; Mistral's Metaspace "first" is not). */
LMD_TEST(spm_with_config)
{
    static const char *const  fams[] = { "llama2", "internlm2" };
    size_t                    n;
    int                       i;

    for (i = 0; i < 2; i++) {
        n = spm_compare(fams[i], 1, "cases.jsonl", "ids", 0, NULL, 0);
        if (n == SIZE_MAX) {
            return;
        }
        fail_unless(n == 125, "%s ids: %zu rows", fams[i], n);
        n = spm_compare(fams[i], 1, "cases.jsonl", "ids_with_special", 1,
                        NULL, 0);
        fail_unless(n == 125, "%s ids_with_special: %zu rows", fams[i], n);
        n = spm_compare(fams[i], 1, "chat_cases.jsonl", "rendered_ids", 0,
                        NULL, 0);
        fail_unless(n == 8, "%s chat: %zu rows", fams[i], n);
    }
}


/* ------------------------------------------------------------- details */

/* Assumption (README): InternLM2's piece 354 is a lone NUL ("\u0000" in
 * the vocabulary); tokenizer.json's normalizer only maps ' ' to U+2581,
 * so the text "\0" is that one piece, and decodes back to one NUL byte. */
LMD_TEST(internlm2_nul_piece)
{
    struct lmd_tokenizer  *t = family(4);
    struct lmd_tokens      got = { NULL, 0, 0 };
    char                   err[LMD_ERR_LEN], *text = NULL;
    const char            *p;
    size_t                 len = 0;

    if (t == NULL) {
        return;
    }
    p = lmd_tokenizer_piece_bytes(t, 354, &len);
    fail_unless(p != NULL && len == 1 && p[0] == '\0', "piece 354 is NUL");
    fail_unless(lmd_tokenizer_find(t, "\0", 1) == 354, "find(NUL) is 354");
    fail_unless(lmd_tokenizer_encode(t, "\0", 1, 0, &got, err, sizeof(err))
                == LMD_OK && got.n == 1 && got.ids[0] == 354,
                "encode(\"\\0\") is [354]");
    fail_unless(lmd_tokenizer_decode(t, got.ids, got.n, 0, &text, &len)
                == LMD_OK && len == 1 && text[0] == '\0',
                "decode([354]) is one NUL byte");
    free(text);
    lmd_tokens_free(&got);
}


/* Assumption: bos/eos come from tokenizer_config.json (llama3's eos is
 * <|eot_id|> = 128009, its bos <|begin_of_text|> = 128000). */
LMD_TEST(config_bos_eos)
{
    struct lmd_tokenizer  *t = family(2);

    if (t == NULL) {
        return;
    }
    fail_unless(lmd_tokenizer_bos_id(t) == 128000, "bos %d",
                lmd_tokenizer_bos_id(t));
    fail_unless(lmd_tokenizer_eos_id(t) == 128009, "eos %d",
                lmd_tokenizer_eos_id(t));
    fail_unless_streq(lmd_tokenizer_eos_token(t), "<|eot_id|>");
    fail_unless(lmd_tokenizer_is_special(t, 128009), "eot is special");
    fail_unless(lmd_tokenizer_vocab_size(t) == 128256, "vocab %zu",
                lmd_tokenizer_vocab_size(t));
}


/* --------------------------------------------- streaming on random ids */

static uint64_t  rng_state = 0x2545F4914F6CDD1DULL;

static uint32_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t) rng_state;
}


/* Assumption: the streaming contract holds for any ids, not only the
 * ones an encoder makes: random sequences where a third are byte pieces
 * (<0xNN>, runs that are and are not valid UTF-8) or specials. */
LMD_TEST(detok_random_ids)
{
    struct lmd_tokens  ids = { NULL, 0, 0 };
    char               why[300], *full;
    size_t             vocab, len, n, i, rounds = 0;
    int                fi, r, skip, ok = 1;

    for (fi = 0; fi < FAMILIES && ok; fi++) {
        struct lmd_tokenizer  *t = family(fi);

        if (t == NULL) {
            return;
        }
        vocab = lmd_tokenizer_vocab_size(t);
        for (r = 0; r < 400 && ok; r++) {
            n = rng() % 24;
            ids.n = 0;
            for (i = 0; i < n; i++) {
                uint32_t  k = rng() % 8;
                int32_t   id;

                if (k < 2) {
                    id = (int32_t) (3 + rng() % 256);   /* byte pieces */
                } else if (k == 2) {
                    id = (int32_t) (vocab - 1 - rng() % 300);
                } else {
                    id = (int32_t) (rng() % vocab);
                }
                if (lmd_tokenizer_piece(t, id) == NULL) {
                    continue;
                }
                lmd_tokens_push(&ids, id);
            }
            for (skip = 0; skip < 2 && ok; skip++) {
                if (lmd_tokenizer_decode(t, ids.ids, ids.n, skip, &full,
                                         &len) != LMD_OK)
                {
                    ok = fail_unless(0, "%s: decode failed", families[fi]);
                    break;
                }
                ok = fail_unless(detok_check_n(t, &ids, skip, full, len,
                                               why, sizeof(why)),
                                 "%s round %d skip %d: %s", families[fi], r,
                                 skip, why);
                free(full);
                rounds++;
            }
        }
    }
    lmd_tokens_free(&ids);
    printf("streaming: %zu random id sequences compared\n", rounds);
}


/* ------------------------------------------------------------- threads */

struct enc_job {
    const struct lmd_tokenizer  *t;
    char                       **texts;
    struct lmd_tokens           *want;
    size_t                       n;
    int                          bad;
};


static void *
enc_thread(void *arg)
{
    struct enc_job     *j = arg;
    struct lmd_tokens   got = { NULL, 0, 0 };
    char                err[LMD_ERR_LEN];
    size_t              r, i;

    for (r = 0; r < 20; r++) {
        for (i = 0; i < j->n; i++) {
            got.n = 0;
            if (lmd_tokenizer_encode(j->t, j->texts[i], strlen(j->texts[i]),
                                     1, &got, err, sizeof(err)) != LMD_OK
                || got.n != j->want[i].n
                || (got.n > 0 && memcmp(got.ids, j->want[i].ids,
                                        got.n * sizeof(int32_t)) != 0))
            {
                j->bad++;
            }
        }
    }
    lmd_tokens_free(&got);
    return NULL;
}


/* Assumption (lmd_tokenizer.h): encode may run on several threads at once
 * on one tokenizer -- the shared word cache included -- with the same
 * results as on one. */
LMD_TEST(encode_threads)
{
    struct lmd_tokenizer  *t = family(3);
    struct enc_job         jobs[4];
    pthread_t              th[4];
    struct lmd_tokens      want[125];
    char                  *texts[125], path[600], err[LMD_ERR_LEN];
    char                  *text, *line, *next;
    size_t                 len, n = 0, i;
    cJSON                 *row;
    int                    k;

    if (t == NULL || fixture(path, sizeof(path), "qwen2/cases.jsonl") == NULL)
    {
        return;
    }
    text = slurp(path, &len);
    for (line = text; text != NULL && *line && n < 125; line = next) {
        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        } else {
            next = line + strlen(line);
        }
        row = cJSON_Parse(line);
        if (row == NULL) {
            continue;
        }
        texts[n] = strdup(cJSON_GetObjectItem(row, "text")->valuestring);
        memset(&want[n], 0, sizeof(want[n]));
        lmd_tokenizer_encode(t, texts[n], strlen(texts[n]), 1, &want[n], err,
                             sizeof(err));
        cJSON_Delete(row);
        n++;
    }
    free(text);
    for (k = 0; k < 4; k++) {
        jobs[k].t = t;
        jobs[k].texts = texts;
        jobs[k].want = want;
        jobs[k].n = n;
        jobs[k].bad = 0;
        pthread_create(&th[k], NULL, enc_thread, &jobs[k]);
    }
    for (k = 0; k < 4; k++) {
        pthread_join(th[k], NULL);
        fail_unless(jobs[k].bad == 0, "thread %d: %d encodes differ", k,
                    jobs[k].bad);
    }
    for (i = 0; i < n; i++) {
        free(texts[i]);
        lmd_tokens_free(&want[i]);
    }
}


/* ------------------------------------------------------ large inputs */

/* Assumption: a large text (over 64 KiB, where encode keeps a pair cache
 * for the whole call) encodes exactly as it does without that cache:
 * every cases.jsonl text of every family, joined, for each family; and
 * its ids stream to their decode. */
LMD_TEST(large_text_pair_cache)
{
    struct lmd_tokens   a = { NULL, 0, 0 }, b = { NULL, 0, 0 };
    char                path[600], rel[64], err[LMD_ERR_LEN];
    char               *big = NULL, *text, *line, *next;
    size_t              blen = 0, len, saved = lmd_bpe_pc_text;
    cJSON              *row;
    const char         *s;
    int                 fi, rounds;

    for (rounds = 0; rounds < 3; rounds++) {
        for (fi = 0; fi < FAMILIES; fi++) {
            snprintf(rel, sizeof(rel), "%s/cases.jsonl", families[fi]);
            if (fixture(path, sizeof(path), rel) == NULL) {
                free(big);
                return;
            }
            text = slurp(path, &len);
            for (line = text; text != NULL && *line; line = next) {
                next = strchr(line, '\n');
                if (next != NULL) {
                    *next++ = '\0';
                } else {
                    next = line + strlen(line);
                }
                row = cJSON_Parse(line);
                if (row == NULL) {
                    continue;
                }
                s = cJSON_GetObjectItem(row, "text")->valuestring;
                big = realloc(big, blen + strlen(s) + 2);
                memcpy(big + blen, s, strlen(s));
                blen += strlen(s);
                big[blen++] = rounds & 1 ? ' ' : '\n';
                cJSON_Delete(row);
            }
            free(text);
        }
    }
    fail_unless(blen > 64 << 10, "%zu bytes", blen);
    for (fi = 0; fi < FAMILIES; fi++) {
        struct lmd_tokenizer  *t = family(fi);

        if (t == NULL) {
            break;
        }
        a.n = 0;
        b.n = 0;
        lmd_bpe_pc_text = 0;
        fail_unless(lmd_tokenizer_encode(t, big, blen, 1, &a, err,
                                         sizeof(err)) == LMD_OK, "%s", err);
        lmd_bpe_pc_text = SIZE_MAX;
        fail_unless(lmd_tokenizer_encode(t, big, blen, 1, &b, err,
                                         sizeof(err)) == LMD_OK, "%s", err);
        fail_unless(a.n == b.n && a.n > 0
                    && memcmp(a.ids, b.ids, a.n * sizeof(int32_t)) == 0,
                    "%s: %zu and %zu ids", families[fi], a.n, b.n);
        /* and its ids stream to the same text as they decode to */
        {
            char    *full = NULL, why[300];
            size_t   flen = 0;

            fail_unless(lmd_tokenizer_decode(t, a.ids, a.n, 1, &full, &flen)
                        == LMD_OK
                        && detok_check_n(t, &a, 1, full, flen, why,
                                         sizeof(why)),
                        "%s: stream of the large text: %s", families[fi],
                        why);
            free(full);
        }
    }
    lmd_bpe_pc_text = saved;
    free(big);
    lmd_tokens_free(&a);
    lmd_tokens_free(&b);
}
