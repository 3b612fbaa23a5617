/*
 * test_tokenizer_parts.c -- each tokenizer part on tiny hand-written
 * tokenizer.json files: BPE details, added-token flags, normalizers,
 * pre-tokenizers, post-processors, decoders, the incremental decoder,
 * and malformed files.
 *
 * Every expected value comes from the documented behavior of Hugging Face
 * tokenizers 0.23 (its docstrings and unit tests, e.g. the Split
 * behaviors on "The-final--countdown"), worked out by hand -- never from
 * running lmd.  No fixture files are needed.
 *
 * Most cases check how a text is cut into words: the vocabulary holds the
 * printable ASCII characters plus the expected words, and ignore_merges
 * makes a word that is in the vocabulary one token, so the pieces of the
 * ids, joined with '|', show the words ("The|-final|-|-countdown").  A
 * word that should not exist comes out as its characters and the check
 * fails visibly.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmd_tok_internal.h"
#include "lmd_test.h"

#define MAX_JSON  65536

static char  last_err[LMD_ERR_LEN];
static char  tmp_dir[64];


/* ------------------------------------------------------------- helpers */

static void
json_str(char *out, size_t size, const char *s)
{
    size_t  n = strlen(out);

    n += (size_t) snprintf(out + n, size - n, "\"");
    for ( ; *s && n + 8 < size; s++) {
        if (*s == '"' || *s == '\\') {
            n += (size_t) snprintf(out + n, size - n, "\\%c", *s);
        } else if ((unsigned char) *s < 0x20) {
            n += (size_t) snprintf(out + n, size - n, "\\u%04x",
                                   (unsigned char) *s);
        } else {
            out[n++] = *s;
            out[n] = '\0';
        }
    }
    snprintf(out + n, size - n, "\"");
}


/* Writes json as tokenizer.json in a fresh folder and loads the file. */
static struct lmd_tokenizer *
load_text(const char *json)
{
    char                   path[128];
    FILE                  *f;
    struct lmd_tokenizer  *t;

    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/lmd_tok_parts_XXXXXX");
    if (mkdtemp(tmp_dir) == NULL) {
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/tokenizer.json", tmp_dir);
    f = fopen(path, "w");
    if (f == NULL) {
        return NULL;
    }
    fputs(json, f);
    fclose(f);
    t = lmd_tokenizer_load(path, last_err, sizeof(last_err));
    unlink(path);
    rmdir(tmp_dir);
    return t;
}


/* A tokenizer: the printable ASCII characters (ids 0-94), then words
 * (NULL-terminated), merges (a JSON array or NULL for []), model fields
 * and top-level fields (JSON fragments or NULL). */
static struct lmd_tokenizer *
tok(const char *fields, const char *model, const char *const *words,
    const char *merges)
{
    static char  json[MAX_JSON];
    char         c[2] = { 0, 0 };
    size_t       id = 0;
    int          i;

    snprintf(json, sizeof(json), "{\"version\": \"1.0\", %s%s"
             "\"model\": {\"type\": \"BPE\", %s%s\"vocab\": {",
             fields ? fields : "", fields ? ", " : "", model ? model : "",
             model ? ", " : "");
    for (i = 0x20; i < 0x7F; i++) {
        c[0] = (char) i;
        json_str(json, sizeof(json), c);
        snprintf(json + strlen(json), sizeof(json) - strlen(json),
                 ": %zu, ", id++);
    }
    for (i = 0; words != NULL && words[i] != NULL; i++) {
        json_str(json, sizeof(json), words[i]);
        snprintf(json + strlen(json), sizeof(json) - strlen(json),
                 ": %zu, ", id++);
    }
    json[strlen(json) - 2] = '\0';
    snprintf(json + strlen(json), sizeof(json) - strlen(json),
             "}, \"merges\": %s}}", merges ? merges : "[]");
    return load_text(json);
}


/* The pieces of encode(text), joined with '|'. */
static const char *
words_of(const struct lmd_tokenizer *t, const char *text, size_t len,
    int add_special)
{
    static char        out[4096];
    struct lmd_tokens  ids = { NULL, 0, 0 };
    char               err[LMD_ERR_LEN];
    const char        *p;
    size_t             i, n = 0, plen;

    out[0] = '\0';
    if (t == NULL) {
        return "(no tokenizer)";
    }
    if (lmd_tokenizer_encode(t, text, len, add_special, &ids, err,
                             sizeof(err)) != LMD_OK)
    {
        snprintf(out, sizeof(out), "(error: %s)", err);
        return out;
    }
    for (i = 0; i < ids.n; i++) {
        p = lmd_tokenizer_piece_bytes(t, ids.ids[i], &plen);
        n += (size_t) snprintf(out + n, sizeof(out) - n, "%s%.*s",
                               i ? "|" : "", (int) plen, p ? p : "?");
        if (n >= sizeof(out)) {
            break;
        }
    }
    lmd_tokens_free(&ids);
    return out;
}

#define WORDS(t, text)  words_of((t), (text), strlen(text), 0)


/* decode() of the ids of the given pieces ('|'-separated). */
static const char *
decode_pieces(const struct lmd_tokenizer *t, const char *pieces, int skip)
{
    static char   out[1024];
    int32_t       ids[64];
    size_t        n = 0, len;
    const char   *p = pieces, *bar;
    char         *text;

    if (t == NULL) {
        return "(no tokenizer)";
    }
    while (n < 64) {
        bar = strchr(p, '|');
        len = bar ? (size_t) (bar - p) : strlen(p);
        ids[n] = lmd_tokenizer_find(t, p, len);
        if (ids[n] < 0) {
            snprintf(out, sizeof(out), "(no piece \"%.*s\")", (int) len, p);
            return out;
        }
        n++;
        if (bar == NULL) {
            break;
        }
        p = bar + 1;
    }
    if (lmd_tokenizer_decode(t, ids, n, skip, &text, &len) != LMD_OK) {
        return "(decode error)";
    }
    snprintf(out, sizeof(out), "%s", text);
    free(text);
    return out;
}


/* The normalizer of t on s. */
static const char *
normalized(const struct lmd_tokenizer *t, const char *s)
{
    static char         out[1024];
    struct lmd_tok_enc  e;
    const char         *res;
    size_t              len;
    char                err[LMD_ERR_LEN];

    if (t == NULL) {
        return "(no tokenizer)";
    }
    memset(&e, 0, sizeof(e));
    e.t = t;
    e.err = err;
    e.errlen = sizeof(err);
    lmd_tok_rx_init(&e.rx, t->ncap);
    if (lmd_tok_normalize(&e, t->normalizer, s, strlen(s), &res, &len)
        != LMD_OK)
    {
        lmd_tok_enc_free(&e);
        return "(error)";
    }
    snprintf(out, sizeof(out), "%.*s", (int) len, res);
    lmd_tok_enc_free(&e);
    return out;
}


/* ------------------------------------------------------------------ BPE */

/* Assumption: equal ranks (the same pair at several places) merge the
 * leftmost first (Word::merge_all's heap orders by rank, then position). */
LMD_TEST(bpe_leftmost_first)
{
    static const char *const  w[] = { "aa", NULL };
    struct lmd_tokenizer     *t = tok(NULL, NULL, w, "[\"a a\"]");

    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(WORDS(t, "aaa"), "aa|a");
    fail_unless_streq(WORDS(t, "aaaa"), "aa|aa");
    lmd_tokenizer_free(t);
}


/* Assumption: the lowest rank merges first, whatever its position, and
 * merges that never become adjacent do not apply. */
LMD_TEST(bpe_rank_order)
{
    static const char *const  w[] = { "ab", "bc", "abc", NULL };
    struct lmd_tokenizer     *t;

    t = tok(NULL, NULL, w, "[\"b c\", \"a b\", \"a bc\"]");
    fail_unless_streq(WORDS(t, "abc"), "abc");
    lmd_tokenizer_free(t);
    t = tok(NULL, NULL, w, "[\"a b\", \"b c\"]");
    fail_unless_streq(WORDS(t, "abc"), "ab|c");
    lmd_tokenizer_free(t);
    /* the same with merges as pairs (tokenizers 0.20+ files) */
    t = tok(NULL, NULL, w, "[[\"b\", \"c\"], [\"a\", \"b\"]]");
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(WORDS(t, "abc"), "a|bc");
    lmd_tokenizer_free(t);
}


/* Assumption: ignore_merges returns a word that is in the vocabulary as
 * one token even when no merge builds it. */
LMD_TEST(bpe_ignore_merges)
{
    static const char *const  w[] = { "abc", NULL };
    struct lmd_tokenizer     *t;

    t = tok(NULL, "\"ignore_merges\": true", w, NULL);
    fail_unless_streq(WORDS(t, "abc"), "abc");
    lmd_tokenizer_free(t);
    t = tok(NULL, "\"ignore_merges\": false", w, NULL);
    fail_unless_streq(WORDS(t, "abc"), "a|b|c");
    lmd_tokenizer_free(t);
}


/* Assumption: a character not in the vocabulary becomes its <0xNN>
 * pieces with byte_fallback (all of them must exist), else unk (runs of
 * unk fused into one with fuse_unk), else it is dropped. */
LMD_TEST(bpe_byte_fallback_unk)
{
    static const char *const  w[] = { "<0xC3>", "<0xA9>", "<unk>", NULL };
    struct lmd_tokenizer     *t;

    t = tok(NULL, "\"byte_fallback\": true, \"unk_token\": \"<unk>\"", w,
            NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(WORDS(t, "a\xC3\xA9"), "a|<0xC3>|<0xA9>");
    fail_unless_streq(WORDS(t, "a\xE2\x82\xAC"), "a|<unk>");
    fail_unless_streq(WORDS(t, "\xE2\x82\xAC\xE2\x82\xAC"), "<unk>|<unk>");
    lmd_tokenizer_free(t);
    t = tok(NULL, "\"fuse_unk\": true, \"unk_token\": \"<unk>\"", w, NULL);
    fail_unless_streq(WORDS(t, "\xE2\x82\xAC\xE2\x82\xAC"), "<unk>");
    fail_unless_streq(WORDS(t, "\xC3\xA9x\xC3\xA9"), "<unk>|x|<unk>");
    lmd_tokenizer_free(t);
    t = tok(NULL, NULL, w, NULL);
    fail_unless_streq(WORDS(t, "a\xE2\x82\xAC" "b"), "a|b");
    lmd_tokenizer_free(t);
}


/* Assumption: with continuing_subword_prefix, characters after the first
 * are looked up with the prefix and a merge "a ##b" makes "ab"; with
 * end_of_word_suffix the last character carries the suffix. */
LMD_TEST(bpe_prefix_suffix)
{
    static const char *const  wp[] = { "##b", "##c", "ab", NULL };
    static const char *const  ws[] = { "b</w>", "ab</w>", NULL };
    struct lmd_tokenizer     *t;

    t = tok(NULL, "\"continuing_subword_prefix\": \"##\"", wp,
            "[\"a ##b\"]");
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(WORDS(t, "ab"), "ab");
    fail_unless_streq(WORDS(t, "abc"), "ab|##c");
    lmd_tokenizer_free(t);
    t = tok(NULL, "\"end_of_word_suffix\": \"</w>\"", ws, "[\"a b</w>\"]");
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(WORDS(t, "ab"), "ab</w>");
    lmd_tokenizer_free(t);
}


/* Assumption: BPE of a long word is BPE of the whole word: a merge may
 * join a character to a following U+2581 ("a▁" here), and then nothing
 * may treat that U+2581 as a word boundary. */
LMD_TEST(bpe_long_word_metaspace)
{
    static const char *const  w[] = {
        "\xE2\x96\x81", "\xE2\x96\x81" "b", "a\xE2\x96\x81",
        "a\xE2\x96\x81" "b", NULL
    };
    struct lmd_tokenizer     *t;
    char                      text[128], want[256];
    int                       i;

    t = tok(NULL, NULL, w, "[\"a \xE2\x96\x81\", \"a\xE2\x96\x81 b\", "
            "\"\xE2\x96\x81 b\"]");
    fail_unless(t != NULL, "load: %s", last_err);
    text[0] = '\0';
    want[0] = '\0';
    for (i = 0; i < 30; i++) {
        strcat(text, "x");
        strcat(want, "x|");
    }
    strcat(text, "a\xE2\x96\x81" "bc\xE2\x96\x81" "b");
    strcat(want, "a\xE2\x96\x81" "b|c|\xE2\x96\x81" "b");
    fail_unless_streq(WORDS(t, text), want);
    lmd_tokenizer_free(t);
}


/* --------------------------------------------------------- added tokens */

#define ADDED(content, flags)                                                 \
    "{\"id\": 500, \"content\": \"" content "\", " flags "}"

/* Assumption: lstrip takes the whitespace before the match into it,
 * rstrip the whitespace after it. */
LMD_TEST(added_lstrip_rstrip)
{
    struct lmd_tokenizer  *t;

    t = tok("\"added_tokens\": [" ADDED("<x>", "\"special\": true, "
            "\"lstrip\": true, \"normalized\": false") "]", NULL, NULL, NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(WORDS(t, "h  <x> i"), "h|<x>| |i");
    lmd_tokenizer_free(t);
    t = tok("\"added_tokens\": [" ADDED("<x>", "\"special\": true, "
            "\"rstrip\": true, \"normalized\": false") "]", NULL, NULL, NULL);
    fail_unless_streq(WORDS(t, "h <x>  i"), "h| |<x>|i");
    lmd_tokenizer_free(t);
    t = tok("\"added_tokens\": [" ADDED("<x>", "\"special\": true, "
            "\"normalized\": false") "]", NULL, NULL, NULL);
    fail_unless_streq(WORDS(t, "h <x> i"), "h| |<x>| |i");
    lmd_tokenizer_free(t);
}


/* Assumption: a single_word token next to a word character is not a
 * match (and the text it covered stays text). */
LMD_TEST(added_single_word)
{
    struct lmd_tokenizer  *t;

    t = tok("\"added_tokens\": [" ADDED("ok", "\"single_word\": true, "
            "\"normalized\": false") "]", NULL, NULL, NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(WORDS(t, "ok"), "ok");
    fail_unless_streq(WORDS(t, "an ok!"), "a|n| |ok|!");
    fail_unless_streq(WORDS(t, "look"), "l|o|o|k");
    fail_unless_streq(WORDS(t, "ok2"), "o|k|2");
    lmd_tokenizer_free(t);
}


/* Assumption: matching is leftmost, then longest. */
LMD_TEST(added_longest)
{
    struct lmd_tokenizer  *t;

    t = tok("\"added_tokens\": [" ADDED("<x>", "\"normalized\": false") ", "
            ADDED("<x>y", "\"normalized\": false") ", "
            ADDED("x>yz", "\"normalized\": false") "]", NULL, NULL, NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(WORDS(t, "<x>yz"), "<x>y|z");
    fail_unless_streq(WORDS(t, "a<x>"), "a|<x>");
    lmd_tokenizer_free(t);
}


/* Assumption: a normalized token is matched in the normalized text by its
 * normalized content; one with normalized: false only in the raw text. */
LMD_TEST(added_normalized)
{
    struct lmd_tokenizer  *t;

    t = tok("\"normalizer\": {\"type\": \"Lowercase\"}, \"added_tokens\": ["
            ADDED("ABC", "\"normalized\": true") "]", NULL, NULL, NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(WORDS(t, "xABCx"), "x|ABC|x");
    fail_unless_streq(WORDS(t, "xabcx"), "x|ABC|x");
    lmd_tokenizer_free(t);
    t = tok("\"normalizer\": {\"type\": \"Lowercase\"}, \"added_tokens\": ["
            ADDED("ABC", "\"normalized\": false") "]", NULL, NULL, NULL);
    fail_unless_streq(WORDS(t, "xABCx"), "x|ABC|x");
    fail_unless_streq(WORDS(t, "xabcx"), "x|a|b|c|x");
    lmd_tokenizer_free(t);
}


/* Assumption: the text between added tokens is normalized piece by piece:
 * with Prepend("▁") each piece gets its own ▁ (the "legacy" extra ▁ after
 * <s>); special tokens are dropped by decode with skip_special. */
LMD_TEST(added_pieces_normalized_apart)
{
    static const char *const  w[] = { "\xE2\x96\x81hi", NULL };
    struct lmd_tokenizer     *t;

    t = tok("\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": ["
            "{\"type\": \"Prepend\", \"prepend\": \"\xE2\x96\x81\"}, "
            "{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, "
            "\"content\": \"\xE2\x96\x81\"}]}, \"added_tokens\": ["
            ADDED("<s>", "\"special\": true, \"normalized\": false") "]",
            "\"ignore_merges\": true", w, NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(WORDS(t, "<s>hi"), "<s>|\xE2\x96\x81hi");
    fail_unless_streq(WORDS(t, "hi<s>hi"),
                      "\xE2\x96\x81hi|<s>|\xE2\x96\x81hi");
    fail_unless(lmd_tokenizer_is_special(t, lmd_tokenizer_find(t, "<s>", 3)),
                "<s> is special");
    /* no decoder: the strings joined by ' ' */
    fail_unless_streq(decode_pieces(t, "<s>|h|i", 0), "<s> h i");
    fail_unless_streq(decode_pieces(t, "<s>|h|i", 1), "h i");
    lmd_tokenizer_free(t);
}


/* Assumption: an added token's id is its content's id in the vocabulary,
 * else the next id after the vocabulary (the "id" field is only checked
 * by tokenizers, with a warning). */
LMD_TEST(added_ids)
{
    struct lmd_tokenizer  *t;

    t = tok("\"added_tokens\": [" ADDED("a", "\"special\": true") ", "
            ADDED("<new>", "\"special\": true") "]", NULL, NULL, NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless(lmd_tokenizer_find(t, "a", 1) == 'a' - 0x20, "a keeps %d",
                'a' - 0x20);
    fail_unless(lmd_tokenizer_find(t, "<new>", 5) == 95, "<new> is 95");
    fail_unless(lmd_tokenizer_vocab_size(t) == 96, "96 ids");
    lmd_tokenizer_free(t);
}


/* ------------------------------------------------------------ normalizers */

#define NORM(j)  "\"normalizer\": " j

/* Assumption: the normalizers of tokenizers/src/normalizers, one by one. */
LMD_TEST(normalizers)
{
    struct lmd_tokenizer  *t;

    t = tok(NORM("{\"type\": \"Prepend\", \"prepend\": \"\xE2\x96\x81\"}"),
            NULL, NULL, NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(normalized(t, "a b"), "\xE2\x96\x81" "a b");
    fail_unless_streq(normalized(t, ""), "");
    lmd_tokenizer_free(t);

    t = tok(NORM("{\"type\": \"Replace\", \"pattern\": {\"String\": \"ab\"}, "
                 "\"content\": \"X\"}"), NULL, NULL, NULL);
    fail_unless_streq(normalized(t, "abcab"), "XcX");
    lmd_tokenizer_free(t);

    t = tok(NORM("{\"type\": \"Replace\", \"pattern\": {\"Regex\": "
                 "\"\\\\s+\"}, \"content\": \" \"}"), NULL, NULL, NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(normalized(t, "a \t\n b\xC2\x85" "c"), "a b c");
    lmd_tokenizer_free(t);

    t = tok(NORM("{\"type\": \"NFC\"}"), NULL, NULL, NULL);
    fail_unless_streq(normalized(t, "e\xCC\x81"), "\xC3\xA9");
    lmd_tokenizer_free(t);
    t = tok(NORM("{\"type\": \"NFD\"}"), NULL, NULL, NULL);
    fail_unless_streq(normalized(t, "\xC3\xA9"), "e\xCC\x81");
    lmd_tokenizer_free(t);
    t = tok(NORM("{\"type\": \"NFKC\"}"), NULL, NULL, NULL);
    fail_unless_streq(normalized(t, "\xEF\xAC\x81x"), "fix");
    lmd_tokenizer_free(t);
    t = tok(NORM("{\"type\": \"NFKD\"}"), NULL, NULL, NULL);
    fail_unless_streq(normalized(t, "\xEF\xAC\x81\xC3\xA9"), "fie\xCC\x81");
    lmd_tokenizer_free(t);

    /* char::to_lowercase: U+0130 is the one that becomes two */
    t = tok(NORM("{\"type\": \"Lowercase\"}"), NULL, NULL, NULL);
    fail_unless_streq(normalized(t, "HeLLo \xC3\x89 \xC4\xB0"),
                      "hello \xC3\xA9 i\xCC\x87");
    lmd_tokenizer_free(t);

    t = tok(NORM("{\"type\": \"Strip\", \"strip_left\": true, "
                 "\"strip_right\": true}"), NULL, NULL, NULL);
    fail_unless_streq(normalized(t, " \t a b \xE3\x80\x80\n"), "a b");
    lmd_tokenizer_free(t);
    t = tok(NORM("{\"type\": \"Strip\", \"strip_left\": true, "
                 "\"strip_right\": false}"), NULL, NULL, NULL);
    fail_unless_streq(normalized(t, "  a b \n"), "a b \n");
    lmd_tokenizer_free(t);

    t = tok(NORM("{\"type\": \"Sequence\", \"normalizers\": [{\"type\": "
                 "\"NFD\"}, {\"type\": \"StripAccents\"}]}"), NULL, NULL,
            NULL);
    fail_unless_streq(normalized(t, "caf\xC3\xA9"), "cafe");
    lmd_tokenizer_free(t);

    t = tok(NORM("{\"type\": \"ByteLevel\"}"), NULL, NULL, NULL);
    fail_unless_streq(normalized(t, "a b\n"), "a\xC4\xA0" "b\xC4\x8A");
    lmd_tokenizer_free(t);

    /* a Sequence runs in order */
    t = tok(NORM("{\"type\": \"Sequence\", \"normalizers\": [{\"type\": "
                 "\"Replace\", \"pattern\": {\"String\": \" \"}, \"content\":"
                 " \"\xE2\x96\x81\"}, {\"type\": \"Prepend\", \"prepend\": "
                 "\"\xE2\x96\x81\"}]}"), NULL, NULL, NULL);
    fail_unless_streq(normalized(t, "a b"),
                      "\xE2\x96\x81" "a\xE2\x96\x81" "b");
    lmd_tokenizer_free(t);
}


/* --------------------------------------------------------- pre-tokenizers */

#define PT(j)  "\"pre_tokenizer\": " j

/* Assumption: NormalizedString::split's five behaviors, as in its unit
 * test on "The-final--countdown" split on '-'. */
LMD_TEST(split_behaviors)
{
    static const char *const  w[] = {
        "The", "final", "countdown", "The-", "final-", "-final",
        "-countdown", "--", NULL
    };
    static const struct {
        const char  *behavior;
        const char  *want;
    } cases[] = {
        { "Removed", "The|final|countdown" },
        { "Isolated", "The|-|final|-|-|countdown" },
        { "MergedWithPrevious", "The-|final-|-|countdown" },
        { "MergedWithNext", "The|-final|-|-countdown" },
        { "Contiguous", "The|-|final|--|countdown" }
    };
    struct lmd_tokenizer  *t;
    char                   fields[256];
    size_t                 i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(fields, sizeof(fields), PT("{\"type\": \"Split\", "
                 "\"pattern\": {\"String\": \"-\"}, \"behavior\": \"%s\", "
                 "\"invert\": false}"), cases[i].behavior);
        t = tok(fields, "\"ignore_merges\": true", w, NULL);
        fail_unless(t != NULL, "load: %s", last_err);
        fail_unless_streq(WORDS(t, "The-final--countdown"), cases[i].want);
        lmd_tokenizer_free(t);
    }
}


/* Assumption: invert swaps matches and the text between them: with
 * Removed, a \w+ pattern inverted keeps the words and drops the rest. */
LMD_TEST(split_regex_invert)
{
    static const char *const  w[] = { "Hey", "you", NULL };
    struct lmd_tokenizer     *t;

    t = tok(PT("{\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\w+\"}, "
               "\"behavior\": \"Removed\", \"invert\": true}"),
            "\"ignore_merges\": true", w, NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(WORDS(t, "Hey, you!"), "Hey|you");
    lmd_tokenizer_free(t);
}


/* Assumption: ByteLevel prepends ' ' when add_prefix_space and the piece
 * does not start with one, splits with the GPT-2 regex when use_regex
 * (\s+(?!\S) leaves the last space to the next word) and maps bytes to
 * the byte-level alphabet (' ' is U+0120, '\n' U+010A). */
LMD_TEST(pretok_bytelevel)
{
    static const char *const  w[] = {
        "\xC4\xA0Hello", "\xC4\xA0world", "Hello", "Hello\xC4\xA0world",
        "I", "'m", "\xC4\xA0\xC4\xA0", "\xC4\xA0here", "\xC4\x8A", NULL
    };
    struct lmd_tokenizer     *t;

    t = tok(PT("{\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
               "\"use_regex\": true}"), "\"ignore_merges\": true", w, NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(WORDS(t, "Hello world"),
                      "\xC4\xA0Hello|\xC4\xA0world");
    lmd_tokenizer_free(t);
    t = tok(PT("{\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
               "\"use_regex\": true}"), "\"ignore_merges\": true", w, NULL);
    fail_unless_streq(WORDS(t, "Hello world"), "Hello|\xC4\xA0world");
    fail_unless_streq(WORDS(t, "I'm   here\n"),
                      "I|'m|\xC4\xA0\xC4\xA0|\xC4\xA0here|\xC4\x8A");
    lmd_tokenizer_free(t);
    t = tok(PT("{\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
               "\"use_regex\": false}"), "\"ignore_merges\": true", w, NULL);
    fail_unless_streq(WORDS(t, "Hello world"), "Hello\xC4\xA0world");
    lmd_tokenizer_free(t);
}


/* Assumption: the same with every byte-level character in the
 * vocabulary, where the model takes raw bytes: merges and unknown bytes
 * behave the same. */
LMD_TEST(pretok_bytelevel_raw)
{
    const char   *w[300];
    char          chars[256][4];
    size_t        n = 0, i, k;
    struct lmd_tokenizer  *t;

    for (i = 0; i < 256; i++) {
        uint32_t  cp = lmd_tok_byte_char((uint8_t) i);

        if (cp < 0x7F && cp >= 0x20) {
            continue;           /* printable ASCII is there already */
        }
        k = lmd_tok_utf8_put(chars[n], cp);
        chars[n][k] = '\0';
        w[n] = chars[n];
        n++;
    }
    w[n++] = "\xC4\xA0w";
    w[n++] = "\xC4\xA0wo";
    w[n] = NULL;
    t = tok(PT("{\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
               "\"use_regex\": true}"), NULL, w,
            "[\"\xC4\xA0 w\", \"\xC4\xA0w o\"]");
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless(t != NULL && t->model.raw_bytes, "raw-byte mode");
    fail_unless_streq(WORDS(t, "a wo\n\xC3\xA9"),
                      "a|\xC4\xA0wo|\xC4\x8A|\xC3\x83|\xC2\xA9");
    lmd_tokenizer_free(t);
}


/* Assumption: Metaspace replaces ' ' with ▁, prepends ▁ (always; first:
 * only to the piece at the very start of the input; never), and with
 * split cuts before each ▁ (MergedWithNext). */
LMD_TEST(pretok_metaspace)
{
    static const char *const  w[] = {
        "\xE2\x96\x81hi", "\xE2\x96\x81there", "hi",
        "\xE2\x96\x81hi\xE2\x96\x81there", NULL
    };
    struct lmd_tokenizer     *t;

    t = tok(PT("{\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\","
               " \"prepend_scheme\": \"always\", \"split\": true}"),
            "\"ignore_merges\": true", w, NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(WORDS(t, "hi there"),
                      "\xE2\x96\x81hi|\xE2\x96\x81there");
    lmd_tokenizer_free(t);
    t = tok(PT("{\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\","
               " \"prepend_scheme\": \"never\", \"split\": true}"),
            "\"ignore_merges\": true", w, NULL);
    fail_unless_streq(WORDS(t, "hi there"), "hi|\xE2\x96\x81there");
    lmd_tokenizer_free(t);
    t = tok(PT("{\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\","
               " \"prepend_scheme\": \"always\", \"split\": false}"),
            "\"ignore_merges\": true", w, NULL);
    fail_unless_streq(WORDS(t, "hi there"),
                      "\xE2\x96\x81hi\xE2\x96\x81there");
    lmd_tokenizer_free(t);
    t = tok(PT("{\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\","
               " \"prepend_scheme\": \"first\", \"split\": true}, "
               "\"added_tokens\": [" ADDED("<x>", "\"normalized\": false")
               "]"), "\"ignore_merges\": true", w, NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(WORDS(t, "hi there"),
                      "\xE2\x96\x81hi|\xE2\x96\x81there");
    fail_unless_streq(WORDS(t, "<x>hi there"),
                      "<x>|hi|\xE2\x96\x81there");
    /* a piece that starts with ' ' gets no second ▁ */
    fail_unless_streq(WORDS(t, " hi"), "\xE2\x96\x81hi");
    lmd_tokenizer_free(t);
}


/* Assumption: Whitespace keeps \w+ and [^\w\s]+ runs, WhitespaceSplit
 * splits on whitespace, Digits isolates digits (individual) or runs of
 * them, Punctuation isolates punctuation, BertPreTokenizer does both,
 * CharDelimiterSplit removes its character, and a Sequence runs each. */
LMD_TEST(pretok_simple)
{
    static const char *const  w[] = {
        "Hey", "man", "man!", "123", "friend", "How", "?!", NULL
    };
    static const struct {
        const char  *pt;
        const char  *text;
        const char  *want;
    } cases[] = {
        { "{\"type\": \"Whitespace\"}", "Hey man?!", "Hey|man|?!" },
        { "{\"type\": \"WhitespaceSplit\"}", "Hey \t man!", "Hey|man!" },
        { "{\"type\": \"Digits\", \"individual_digits\": true}", "a123",
          "a|1|2|3" },
        { "{\"type\": \"Digits\", \"individual_digits\": false}", "a123b",
          "a|123|b" },
        { "{\"type\": \"Punctuation\", \"behavior\": \"Isolated\"}", "Hey!?",
          "Hey|!|?" },
        { "{\"type\": \"BertPreTokenizer\"}", "Hey friend!  How",
          "Hey|friend|!|How" },
        { "{\"type\": \"CharDelimiterSplit\", \"delimiter\": \"-\"}",
          "Hey-man", "Hey|man" },
        { "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
          "\"WhitespaceSplit\"}, {\"type\": \"Punctuation\"}]}",
          "Hey friend!", "Hey|friend|!" }
    };
    struct lmd_tokenizer  *t;
    char                   fields[512];
    size_t                 i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(fields, sizeof(fields), PT("%s"), cases[i].pt);
        t = tok(fields, "\"ignore_merges\": true", w, NULL);
        fail_unless(t != NULL, "load %s: %s", cases[i].pt, last_err);
        fail_unless_streq(WORDS(t, cases[i].text), cases[i].want);
        lmd_tokenizer_free(t);
    }
}


/* ----------------------------------------------------- post-processors */

/* Assumption: the single template puts its special tokens around $A only
 * with add_special; Bert/Roberta are [cls] $A [sep]. */
LMD_TEST(post_processors)
{
    static const char *const  w[] = { "<s>", "</s>", NULL };
    struct lmd_tokenizer     *t;

    t = tok("\"post_processor\": {\"type\": \"Sequence\", \"processors\": ["
            "{\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
            "\"trim_offsets\": false, \"use_regex\": true}, {\"type\": "
            "\"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\":"
            " \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", "
            "\"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"</s>\", "
            "\"type_id\": 0}}], \"pair\": [], \"special_tokens\": {\"<s>\": "
            "{\"id\": \"<s>\", \"ids\": [95], \"tokens\": [\"<s>\"]}, "
            "\"</s>\": {\"id\": \"</s>\", \"ids\": [96], \"tokens\": "
            "[\"</s>\"]}}}]}", NULL, w, NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(words_of(t, "hi", 2, 1), "<s>|h|i|</s>");
    fail_unless_streq(words_of(t, "hi", 2, 0), "h|i");
    fail_unless_streq(words_of(t, "", 0, 1), "<s>|</s>");
    lmd_tokenizer_free(t);
    /* a template of $A alone adds nothing, even to nothing */
    t = tok("\"post_processor\": {\"type\": \"TemplateProcessing\", "
            "\"single\": [{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], "
            "\"special_tokens\": {}}", NULL, w, NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(words_of(t, "", 0, 1), "");
    fail_unless_streq(words_of(t, "hi", 2, 1), "h|i");
    lmd_tokenizer_free(t);
    t = tok("\"post_processor\": {\"type\": \"RobertaProcessing\", "
            "\"sep\": [\"</s>\", 96], \"cls\": [\"<s>\", 95], "
            "\"trim_offsets\": true, \"add_prefix_space\": true}", NULL, w,
            NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(words_of(t, "hi", 2, 1), "<s>|h|i|</s>");
    lmd_tokenizer_free(t);
}


/* ------------------------------------------------------------- decoders */

#define DEC(j)  "\"decoder\": " j

/* Assumption: the decoders of tokenizers/src/decoders. */
LMD_TEST(decoders)
{
    static const char *const  bl[] = {
        "\xC4\xA0hello", "\xC4\xA0world", "\xC3\x83", "\xC2\xA9", NULL
    };
    static const char *const  ms[] = {
        "\xE2\x96\x81Hey", "\xE2\x96\x81" "friend!", "\xE2\x96\x81\xE2\x96\x81"
        "a", "<0xE2>", "<0x82>", "<0xAC>", "<s>", NULL
    };
    static const char *const  wp[] = {
        "un", "##believ", "##able", "lo</w>", "ld</w>", "hel", "wor", NULL
    };
    struct lmd_tokenizer     *t;

    /* ByteLevel: bytes of the byte-level characters, repaired as UTF-8 */
    t = tok(DEC("{\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
                "\"trim_offsets\": true, \"use_regex\": true}"), NULL, bl,
            NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(decode_pieces(t, "\xC4\xA0hello|\xC4\xA0world", 0),
                      " hello world");
    fail_unless_streq(decode_pieces(t, "\xC3\x83|\xC2\xA9", 0),
                      "\xC3\xA9");
    fail_unless_streq(decode_pieces(t, "a|\xC3\x83", 0), "a\xEF\xBF\xBD");
    lmd_tokenizer_free(t);

    /* Metaspace: the first string loses its ▁s unless the scheme is
     * never */
    t = tok(DEC("{\"type\": \"Metaspace\", \"replacement\": "
                "\"\xE2\x96\x81\", \"prepend_scheme\": \"always\", "
                "\"split\": true}"), NULL, ms, NULL);
    fail_unless_streq(decode_pieces(t, "\xE2\x96\x81Hey|\xE2\x96\x81"
                                    "friend!", 0), "Hey friend!");
    fail_unless_streq(decode_pieces(t, "\xE2\x96\x81\xE2\x96\x81" "a|"
                                    "\xE2\x96\x81Hey", 0), "a Hey");
    lmd_tokenizer_free(t);
    t = tok(DEC("{\"type\": \"Metaspace\", \"replacement\": "
                "\"\xE2\x96\x81\", \"prepend_scheme\": \"never\", "
                "\"split\": true}"), NULL, ms, NULL);
    fail_unless_streq(decode_pieces(t, "\xE2\x96\x81Hey|\xE2\x96\x81"
                                    "friend!", 0), " Hey friend!");
    lmd_tokenizer_free(t);

    /* Llama's Sequence: runs of byte pieces become their bytes when valid
     * UTF-8, else one U+FFFD per byte; Strip drops one leading ' ' */
    t = tok(DEC("{\"type\": \"Sequence\", \"decoders\": [{\"type\": "
                "\"Replace\", \"pattern\": {\"String\": \"\xE2\x96\x81\"}, "
                "\"content\": \" \"}, {\"type\": \"ByteFallback\"}, "
                "{\"type\": \"Fuse\"}, {\"type\": \"Strip\", \"content\": "
                "\" \", \"start\": 1, \"stop\": 0}]}"), NULL, ms, NULL);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(decode_pieces(t, "\xE2\x96\x81Hey|<0xE2>|<0x82>|<0xAC>",
                                    0), "Hey\xE2\x82\xAC");
    fail_unless_streq(decode_pieces(t, "\xE2\x96\x81Hey|<0xE2>|<0x82>|"
                                    "\xE2\x96\x81Hey", 0),
                      "Hey\xEF\xBF\xBD\xEF\xBF\xBD Hey");
    fail_unless_streq(decode_pieces(t, "\xE2\x96\x81\xE2\x96\x81" "a", 0),
                      " a");
    lmd_tokenizer_free(t);

    /* Strip without Fuse works on each string */
    t = tok(DEC("{\"type\": \"Strip\", \"content\": \"l\", \"start\": 2, "
                "\"stop\": 1}"), NULL, wp, NULL);
    fail_unless_streq(decode_pieces(t, "hel|lo</w>", 0), "heo</w>");
    lmd_tokenizer_free(t);

    /* WordPiece: ## continues a word, others get a space; cleanup */
    t = tok(DEC("{\"type\": \"WordPiece\", \"prefix\": \"##\", \"cleanup\":"
                " true}"), NULL, wp, NULL);
    fail_unless_streq(decode_pieces(t, "un|##believ|##able|!", 0),
                      "unbelievable!");
    lmd_tokenizer_free(t);
    t = tok(DEC("{\"type\": \"WordPiece\", \"prefix\": \"##\", \"cleanup\":"
                " false}"), NULL, wp, NULL);
    fail_unless_streq(decode_pieces(t, "un|##believ|##able|!", 0),
                      "unbelievable !");
    lmd_tokenizer_free(t);

    /* BPEDecoder: the suffix is a space, except in the last string */
    t = tok(DEC("{\"type\": \"BPEDecoder\", \"suffix\": \"</w>\"}"), NULL,
            wp, NULL);
    fail_unless_streq(decode_pieces(t, "hel|lo</w>|wor|ld</w>", 0),
                      "hello world");
    lmd_tokenizer_free(t);
}


/* ---------------------------------------------------- incremental decode */

static uint64_t  rng_state = 0x9E3779B97F4A7C15ULL;

static uint32_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t) rng_state;
}


/* Random id sequences: the pieces of lmd_detok concatenate to decode(). */
static int
detok_random(const struct lmd_tokenizer *t, int rounds)
{
    int32_t            ids[48];
    size_t             n, i, len, acc_len, full_len;
    char              *full, acc[8192];
    const char        *piece;
    struct lmd_detok  *d;
    int                r, skip, bad = 0;

    for (r = 0; r < rounds && !bad; r++) {
        n = rng() % 40;
        for (i = 0; i < n; i++) {
            ids[i] = (int32_t) (rng() % lmd_tokenizer_vocab_size(t));
        }
        for (skip = 0; skip < 2; skip++) {
            if (lmd_tokenizer_decode(t, ids, n, skip, &full, &full_len)
                != LMD_OK)
            {
                return 0;
            }
            d = lmd_detok_new(t, skip);
            acc_len = 0;
            for (i = 0; i <= n; i++) {
                if ((i < n ? lmd_detok_push(d, ids[i], &piece, &len)
                           : lmd_detok_finish(d, &piece, &len)) != LMD_OK
                    || acc_len + len >= sizeof(acc)
                    || lmd_tok_utf8_valid(piece, len) != len)
                {
                    bad = 1;
                    break;
                }
                memcpy(acc + acc_len, piece, len);
                acc_len += len;
            }
            if (!bad) {
                acc[acc_len] = '\0';
                bad = acc_len != full_len
                      || memcmp(acc, full, acc_len) != 0;
            }
            if (bad) {
                fprintf(stderr, "    stream \"%s\" != decode \"%s\"\n",
                        acc, full);
            }
            free(full);
            lmd_detok_free(d);
            if (bad) {
                break;
            }
        }
    }
    return !bad;
}


/* Assumption: lmd_tokenizer.h's contract -- the streamed pieces are valid
 * UTF-8 and make exactly the full decode -- for every decoder, on random
 * ids (special tokens and byte pieces included). */
LMD_TEST(detok_every_decoder)
{
    static const char *const  ms[] = {
        "\xE2\x96\x81Hey", "\xE2\x96\x81", "<0xE2>", "<0x82>", "<0xAC>",
        "<0xC3>", "<0xA9>", "<0xFF>", "<s>", "\xC4\xA0", "\xC3\x83", "##a",
        "a</w>", "\xE2\x96\x81\xE2\x96\x81", NULL
    };
    static const char *const  decs[] = {
        "{\"type\": \"ByteLevel\"}",
        "{\"type\": \"Sequence\", \"decoders\": [{\"type\": \"ByteLevel\"}, "
        "{\"type\": \"Strip\", \"content\": \"a\", \"start\": 1, "
        "\"stop\": 1}]}",
        "{\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\", "
        "\"prepend_scheme\": \"always\"}",
        "{\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", "
        "\"pattern\": {\"String\": \"\xE2\x96\x81\"}, \"content\": \" \"}, "
        "{\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}, {\"type\": "
        "\"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}]}",
        "{\"type\": \"Sequence\", \"decoders\": [{\"type\": \"ByteFallback\""
        "}, {\"type\": \"Fuse\"}, {\"type\": \"Strip\", \"content\": \" \", "
        "\"start\": 2, \"stop\": 2}]}",
        "{\"type\": \"WordPiece\", \"prefix\": \"##\", \"cleanup\": true}",
        "{\"type\": \"BPEDecoder\", \"suffix\": \"</w>\"}",
        NULL
    };
    struct lmd_tokenizer     *t;
    char                      fields[1024];
    int                       i;

    for (i = 0; decs[i] != NULL; i++) {
        snprintf(fields, sizeof(fields), "\"decoder\": %s, \"added_tokens\":"
                 " [" ADDED("<s>", "\"special\": true, \"normalized\": false")
                 "]", decs[i]);
        t = tok(fields, NULL, ms, NULL);
        fail_unless(t != NULL, "load: %s", last_err);
        if (t == NULL) {
            continue;
        }
        fail_unless(detok_random(t, 3000), "decoder %s", decs[i]);
        lmd_tokenizer_free(t);
    }
    /* no decoder at all: strings joined with ' ' */
    t = tok("\"added_tokens\": [" ADDED("<s>", "\"special\": true") "]",
            NULL, ms, NULL);
    fail_unless(t != NULL && detok_random(t, 1000), "no decoder");
    lmd_tokenizer_free(t);
}


/* ------------------------------------------------------------- encoding */

/* Assumption: invalid UTF-8 in the input is encoded as U+FFFD, one per
 * maximal invalid subsequence (String::from_utf8_lossy). */
LMD_TEST(invalid_utf8_input)
{
    static const char *const  w[] = { "\xEF\xBF\xBD", NULL };
    struct lmd_tokenizer     *t = tok(NULL, NULL, w, NULL);

    fail_unless_streq(words_of(t, "a\xFF" "b", 3, 0), "a|\xEF\xBF\xBD|b");
    fail_unless_streq(words_of(t, "\xE2\x82", 2, 0), "\xEF\xBF\xBD");
    fail_unless_streq(words_of(t, "\xE2\x82" "a\xC0\x80", 5, 0),
                      "\xEF\xBF\xBD|a|\xEF\xBF\xBD|\xEF\xBF\xBD");
    lmd_tokenizer_free(t);
}


/* ------------------------------------------------------- malformed files */

static int
load_fails(const char *json, const char *want1, const char *want2)
{
    struct lmd_tokenizer  *t = load_text(json);

    if (t != NULL) {
        lmd_tokenizer_free(t);
        fprintf(stderr, "    loaded: %s\n", json);
        return 0;
    }
    if (strstr(last_err, "tokenizer.json") == NULL
        || strstr(last_err, want1) == NULL
        || (want2 != NULL && strstr(last_err, want2) == NULL))
    {
        fprintf(stderr, "    error \"%s\" lacks \"%s\" / \"%s\"\n", last_err,
                want1, want2 ? want2 : "");
        return 0;
    }
    return 1;
}

#define GOOD_MODEL  "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, " \
                    "\"b\": 1, \"ab\": 2}, \"merges\": [\"a b\"]}"

/* Assumption: a file lmd cannot load exactly is an error that names the
 * file and the place, never a different tokenizer. */
LMD_TEST(malformed_files)
{
    char                   err[LMD_ERR_LEN];
    struct lmd_tokenizer  *t;

    fail_unless(load_fails("{\"version\": \"1.0\", " GOOD_MODEL,
                           "invalid JSON", "line 1"), "truncated JSON");
    fail_unless(load_fails("{\"model\": {\"type\": \"WordPiece\", \"vocab\": "
                           "{}}}", "model.type", "WordPiece is not supported"),
                "WordPiece");
    fail_unless(load_fails("{\"model\": {\"type\": \"Mystery\"}}",
                           "model.type", "Mystery"), "unknown model");
    fail_unless(load_fails("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\":"
                           " 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\", "
                           "\"a c\"]}}", "model.merges[1]",
                           "\"c\" is not in the vocabulary"),
                "merge of an unknown piece");
    fail_unless(load_fails("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\":"
                           " 0, \"b\": 1}, \"merges\": [\"a b\"]}}",
                           "model.merges[0]", "\"ab\" is not in"),
                "merge into an unknown piece");
    fail_unless(load_fails("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\":"
                           " 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b c\"]"
                           "}}", "model.merges[0]", "expected"),
                "merge with two spaces");
    fail_unless(load_fails("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\":"
                           " 0, \"b\": 1, \"ab\": 2}, \"merges\": [7]}}",
                           "model.merges[0]", "a string or a pair"),
                "merge of the wrong type");
    fail_unless(load_fails("{\"model\": {\"type\": \"BPE\", \"dropout\": 0.1, "
                           "\"vocab\": {}, \"merges\": []}}", "dropout", NULL),
                "dropout");
    fail_unless(load_fails("{\"model\": {\"type\": \"BPE\", \"unk_token\": "
                           "\"<unk>\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                           "model.unk_token", "<unk>"), "unknown unk");
    fail_unless(load_fails("{" GOOD_MODEL ", \"added_tokens\": [{\"id\": 5, "
                           "\"special\": true}]}", "added_tokens[0]",
                           "content"), "added token without content");
    fail_unless(load_fails("{" GOOD_MODEL ", \"added_tokens\": {}}",
                           "added_tokens", "array"), "added_tokens object");
    fail_unless(load_fails("{" GOOD_MODEL ", \"added_tokens\": [{\"id\": -1, "
                           "\"content\": \"x\"}]}", "added_tokens[0]", "id"),
                "added token with a bad id");
    fail_unless(load_fails("{" GOOD_MODEL ", \"normalizer\": {\"type\": "
                           "\"Fancy\"}}", "normalizer", "Fancy"),
                "unknown normalizer");
    fail_unless(load_fails("{" GOOD_MODEL ", \"normalizer\": {\"type\": "
                           "\"Precompiled\", \"precompiled_charsmap\": \"\"}}",
                           "normalizer", "not supported"), "Precompiled");
    fail_unless(load_fails("{" GOOD_MODEL ", \"pre_tokenizer\": {\"type\": "
                           "\"Sequence\", \"pretokenizers\": [{\"type\": "
                           "\"Odd\"}]}}", "pre_tokenizer.pretokenizers[0]",
                           "Odd"), "unknown pre-tokenizer");
    fail_unless(load_fails("{" GOOD_MODEL ", \"pre_tokenizer\": {\"type\": "
                           "\"Split\", \"pattern\": {\"Regex\": \"(\"}, "
                           "\"behavior\": \"Isolated\", \"invert\": false}}",
                           "pre_tokenizer", "bad regex"), "bad regex");
    fail_unless(load_fails("{" GOOD_MODEL ", \"decoder\": {\"type\": "
                           "\"CTC\"}}", "decoder", "CTC"), "CTC decoder");
    fail_unless(load_fails("{" GOOD_MODEL ", \"decoder\": {\"type\": "
                           "\"Odd\"}}", "decoder", "Odd"), "unknown decoder");
    fail_unless(load_fails("{" GOOD_MODEL ", \"post_processor\": {\"type\": "
                           "\"TemplateProcessing\", \"single\": [{"
                           "\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0"
                           "}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}"
                           "}], \"special_tokens\": {}}}", "post_processor",
                           "<s>"), "template with a missing special token");
    fail_unless(load_fails("{" GOOD_MODEL ", \"post_processor\": {\"type\": "
                           "\"TemplateProcessing\", \"single\": [{"
                           "\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0"
                           "}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}"
                           "}], \"special_tokens\": {\"<s>\": {\"id\": "
                           "\"<s>\", \"ids\": [300], \"tokens\": [\"<s>\"]}}}}",
                           "post_processor", "300"),
                "template with an id that is no token");
    fail_unless(load_fails("{\"version\": \"2.0\", " GOOD_MODEL "}",
                           "version", NULL), "unknown version");
    fail_unless(load_fails("{\"model\": {\"type\": \"BPE\", \"vocab\": "
                           "{\"a\xFF\": 0}, \"merges\": []}}",
                           "not valid UTF-8", NULL),
                "invalid UTF-8");
    fail_unless(load_fails("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\":"
                           " 0, \"\\udc00\": 1}, \"merges\": []}}",
                           "invalid JSON", NULL), "lone surrogate");

    t = lmd_tokenizer_load("/nonexistent/lmd/tokenizer.json", err,
                           sizeof(err));
    fail_unless(t == NULL && strstr(err, "/nonexistent/lmd") != NULL,
                "missing path: %s", err);
    t = lmd_tokenizer_load("/", err, sizeof(err));
    fail_unless(t == NULL && strstr(err, "no tokenizer.json") != NULL,
                "folder without a tokenizer: %s", err);
}


/* Assumption: "\u0000" keys survive loading (cJSON alone would cut them to
 * ""), and so does a literal "\\u0000" that is not an escape of NUL. */
LMD_TEST(nul_piece)
{
    struct lmd_tokenizer  *t;
    struct lmd_tokens      ids = { NULL, 0, 0 };
    char                   err[LMD_ERR_LEN];
    size_t                 len;
    const char            *p;

    t = load_text("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"\\u0000\": 0,"
                  " \"\": 1, \"x\\u0000y\": 2, \"\\\\u0000\": 3, \"x\": 4, "
                  "\"y\": 5}, \"merges\": [[\"x\", \"\\u0000\"]]}}");
    fail_unless(t == NULL, "the merge makes \"x\\0\", not in the vocabulary");
    lmd_tokenizer_free(t);
    t = load_text("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"\\u0000\": 0,"
                  " \"\": 1, \"x\\u0000y\": 2, \"\\\\u0000\": 3, \"x\": 4, "
                  "\"y\": 5, \"x\\u0000\": 6}, \"merges\": [[\"x\", "
                  "\"\\u0000\"], \"x\\u0000 y\"]}}");
    fail_unless(t != NULL, "load: %s", last_err);
    if (t == NULL) {
        return;
    }
    p = lmd_tokenizer_piece_bytes(t, 0, &len);
    fail_unless(len == 1 && p[0] == '\0', "piece 0 is NUL");
    p = lmd_tokenizer_piece_bytes(t, 1, &len);
    fail_unless(len == 0, "piece 1 is empty");
    p = lmd_tokenizer_piece_bytes(t, 2, &len);
    fail_unless(len == 3 && memcmp(p, "x\0y", 3) == 0, "piece 2 is x NUL y");
    p = lmd_tokenizer_piece_bytes(t, 3, &len);
    fail_unless(len == 6 && memcmp(p, "\\u0000", 6) == 0, "piece 3");
    fail_unless(lmd_tokenizer_encode(t, "x\0y", 3, 0, &ids, err,
                                     sizeof(err)) == LMD_OK
                && ids.n == 1 && ids.ids[0] == 2,
                "x NUL y merges into piece 2");
    fail_unless(lmd_tokenizer_find(t, "x\0y", 3) == 2, "find x NUL y");
    lmd_tokens_free(&ids);
    lmd_tokenizer_free(t);
}


/* ------------------------------------------------ sentencepiece models */

/* A ModelProto written by hand (the protobuf wire format). */
struct pb {
    uint8_t     b[16384];
    size_t      n;
};


static void
pb_varint(struct pb *p, uint64_t v)
{
    while (v >= 0x80 && p->n < sizeof(p->b)) {
        p->b[p->n++] = (uint8_t) (v | 0x80);
        v >>= 7;
    }
    if (p->n < sizeof(p->b)) {
        p->b[p->n++] = (uint8_t) v;
    }
}


static void
pb_uint(struct pb *p, int field, uint64_t v)
{
    pb_varint(p, (uint64_t) field << 3);
    pb_varint(p, v);
}


static void
pb_bytes(struct pb *p, int field, const void *data, size_t n)
{
    pb_varint(p, (uint64_t) field << 3 | 2);
    pb_varint(p, n);
    if (p->n + n <= sizeof(p->b)) {
        memcpy(p->b + p->n, data, n);
        p->n += n;
    }
}


static void
pb_piece(struct pb *p, const char *piece, float score, int type)
{
    struct pb  sub;
    uint8_t    f[4];

    sub.n = 0;
    pb_bytes(&sub, 1, piece, strlen(piece));
    memcpy(f, &score, 4);           /* little-endian fixed32 */
    pb_varint(&sub, 2 << 3 | 5);
    memcpy(sub.b + sub.n, f, 4);
    sub.n += 4;
    pb_uint(&sub, 3, (uint64_t) type);
    pb_bytes(p, 1, sub.b, sub.n);
}


/* A model: pieces, then trainer_spec (BPE, byte_fallback, unk 0, bos 1,
 * eos 2) and normalizer_spec (identity and the three flags). */
static struct lmd_tokenizer *
spm_model(const char *const *pieces, const float *scores, const int *types,
    int byte_fallback, int dummy, int extra_ws)
{
    static struct pb  m;
    struct pb         sub;
    char              path[128];
    FILE             *f;
    struct lmd_tokenizer  *t;
    int               i;

    m.n = 0;
    for (i = 0; pieces[i] != NULL; i++) {
        pb_piece(&m, pieces[i], scores[i], types[i]);
    }
    sub.n = 0;
    pb_uint(&sub, 3, 2);                    /* model_type BPE */
    pb_uint(&sub, 35, (uint64_t) byte_fallback);
    pb_uint(&sub, 40, 0);
    pb_uint(&sub, 41, 1);
    pb_uint(&sub, 42, 2);
    pb_bytes(&m, 2, sub.b, sub.n);
    sub.n = 0;
    pb_bytes(&sub, 1, "identity", 8);
    pb_uint(&sub, 3, (uint64_t) dummy);
    pb_uint(&sub, 4, (uint64_t) extra_ws);
    pb_uint(&sub, 5, 1);
    pb_bytes(&m, 3, sub.b, sub.n);

    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/lmd_tok_parts_XXXXXX");
    if (mkdtemp(tmp_dir) == NULL) {
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/tokenizer.model", tmp_dir);
    f = fopen(path, "wb");
    if (f == NULL) {
        return NULL;
    }
    fwrite(m.b, 1, m.n, f);
    fclose(f);
    t = lmd_tokenizer_load(tmp_dir, last_err, sizeof(last_err));
    unlink(path);
    rmdir(tmp_dir);
    return t;
}


/* The ids of encode(text) as "3 6 4". */
static const char *
ids_of(const struct lmd_tokenizer *t, const char *text, int add_special)
{
    static char        out[1024];
    struct lmd_tokens  ids = { NULL, 0, 0 };
    char               err[LMD_ERR_LEN];
    size_t             i, n = 0;

    out[0] = '\0';
    if (t == NULL || lmd_tokenizer_encode(t, text, strlen(text), add_special,
                                          &ids, err, sizeof(err)) != LMD_OK)
    {
        return "(error)";
    }
    for (i = 0; i < ids.n && n < sizeof(out) - 16; i++) {
        n += (size_t) snprintf(out + n, sizeof(out) - n, "%s%d",
                               i ? " " : "", ids.ids[i]);
    }
    lmd_tokens_free(&ids);
    return out;
}

#define SPM_N  1
#define SPM_UNK  2
#define SPM_CTL  3
#define SPM_USER  4
#define SPM_UNUSED  5

/* Assumption: sentencepiece's bpe_model.cc -- the pair whose piece has
 * the highest score merges first, the leftmost on a tie; user-defined
 * pieces never merge; an UNUSED piece is split back into what it was
 * made of; an unknown character is unk (not fused); control pieces are
 * not matched in the text; the normalizer adds "▁" in front and turns
 * ' ' into "▁", collapsing runs of spaces when remove_extra_whitespaces. */
LMD_TEST(spm_details)
{
    static const char *const  p[] = {
        "<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "ab",
        "\xE2\x96\x81" "a", "ba", "<u>", "bb", "c", "aa", NULL
    };
    static const float        sc[] = {
        0, 0, 0, 0, -1, -2, -3, -4, -5, 0, 5, -6, -1.5f
    };
    static const int          ty[] = {
        SPM_UNK, SPM_CTL, SPM_CTL, SPM_N, SPM_N, SPM_N, SPM_N, SPM_N, SPM_N,
        SPM_USER, SPM_UNUSED, SPM_N, SPM_N
    };
    struct lmd_tokenizer     *t;
    int32_t                   ids[3] = { 7, 3, 5 };
    char                     *text;
    size_t                    len;

    t = spm_model(p, sc, ty, 0, 1, 0);
    fail_unless(t != NULL, "load: %s", last_err);
    if (t == NULL) {
        return;
    }
    fail_unless_streq(ids_of(t, "ab", 0), "3 6");          /* ab beats ▁a */
    fail_unless_streq(ids_of(t, "aba", 0), "3 6 4");
    fail_unless_streq(ids_of(t, "aaa", 0), "3 12 4");      /* leftmost */
    fail_unless_streq(ids_of(t, "bb", 0), "3 5 5");        /* UNUSED */
    fail_unless_streq(ids_of(t, "a<u>b", 0), "7 9 5");     /* user piece */
    fail_unless_streq(ids_of(t, "dd", 0), "3 0 0");        /* unk, unfused */
    fail_unless_streq(ids_of(t, "<s>", 0), "3 0 0 0");     /* not matched */
    fail_unless_streq(ids_of(t, "a b", 1), "1 7 3 5");     /* BOS */
    fail_unless_streq(ids_of(t, "  a", 0), "3 3 7");       /* spaces kept */
    fail_unless(lmd_tokenizer_decode(t, ids, 3, 0, &text, &len) == LMD_OK,
                "decode");
    fail_unless_streq(text, "a b");
    free(text);
    fail_unless(lmd_tokenizer_bos_id(t) == 1 && lmd_tokenizer_eos_id(t) == 2,
                "bos and eos from the model");
    fail_unless_streq(lmd_tokenizer_bos_token(t), "<s>");
    lmd_tokenizer_free(t);

    /* remove_extra_whitespaces: leading and trailing spaces go, runs of
     * spaces become one */
    t = spm_model(p, sc, ty, 0, 1, 1);
    fail_unless_streq(ids_of(t, "  a   b  ", 0), "7 3 5");
    lmd_tokenizer_free(t);

    /* no dummy prefix */
    t = spm_model(p, sc, ty, 0, 0, 0);
    fail_unless_streq(ids_of(t, "ab", 0), "6");
    lmd_tokenizer_free(t);
}


/* Assumption: with byte_fallback an unknown character becomes its UTF-8
 * bytes' <0xNN> pieces. */
LMD_TEST(spm_byte_fallback)
{
    static char               names[256][8];
    const char               *p[262];
    float                     sc[262];
    int                       ty[262], i, n = 0;
    struct lmd_tokenizer     *t;

    p[n] = "<unk>"; sc[n] = 0; ty[n++] = SPM_UNK;
    p[n] = "<s>"; sc[n] = 0; ty[n++] = SPM_CTL;
    p[n] = "</s>"; sc[n] = 0; ty[n++] = SPM_CTL;
    for (i = 0; i < 256; i++) {
        snprintf(names[i], sizeof(names[i]), "<0x%02X>", i);
        p[n] = names[i];
        sc[n] = 0;
        ty[n++] = 6;                        /* BYTE */
    }
    p[n] = "\xE2\x96\x81"; sc[n] = -1; ty[n++] = SPM_N;
    p[n] = "a"; sc[n] = -2; ty[n++] = SPM_N;
    p[n] = NULL;
    t = spm_model(p, sc, ty, 1, 1, 0);
    fail_unless(t != NULL, "load: %s", last_err);
    fail_unless_streq(ids_of(t, "ad", 0), "259 260 103");
    fail_unless_streq(ids_of(t, "\xC3\xA9", 0), "259 198 172");
    lmd_tokenizer_free(t);
}
