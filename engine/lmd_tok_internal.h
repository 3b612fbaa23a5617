/*
 * lmd_tok_internal.h -- what the tokenizer's files share and nothing else
 * sees: the loaded tokenizer's structs (model, added vocabulary, the
 * normalizer, pre-tokenizer, post-processor and decoder pipelines) and
 * the helpers (buffers, hash maps, UTF-8, patterns) they are built from.
 *
 * Files, one job each:
 *
 *   lmd_tokenizer.c      public API: load (folder or file), lookups, the
 *                        encode driver
 *   lmd_tok_config.c     tokenizer_config.json (special tokens, BOS/EOS)
 *   lmd_tok_json.c       tokenizer.json -> the structs below (cJSON)
 *   lmd_tok_util.c       buffers, hashing, string and pair maps
 *   lmd_tok_utf8.c       UTF-8 and the Unicode classes the steps need
 *   lmd_tok_regex.c      patterns: literals, PCRE2 (Oniguruma syntax
 *                        translated), character predicates; find_iter
 *   lmd_tok_normalize.c  normalizers
 *   lmd_tok_pretok.c     pre-tokenizers (streaming, depth first)
 *   lmd_tok_bpe.c        the BPE model: merges by rank or by score
 *   lmd_tok_cache.c      the word -> ids cache (lock free reads)
 *   lmd_tok_added.c      added tokens: trie, matching, the flags
 *   lmd_tok_post.c       post-processors (BOS/EOS insertion)
 *   lmd_tok_decode.c     decoders
 *   lmd_detok.c          incremental decoding
 *   lmd_tok_spm.c        a tokenizer from a sentencepiece tokenizer.model
 *
 * Design: a loaded tokenizer is immutable (the word cache excepted, whose
 * slots are read and written with atomics), so encode and decode need no
 * lock.  Each call keeps its scratch memory in a struct lmd_tok_enc that
 * it frees at the end: no allocation per token or per word.
 */

#ifndef LMD_TOK_INTERNAL_H
#define LMD_TOK_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lmd_tokenizer.h"


/* ---------------------------------------------------------------- buffers */

struct lmd_tok_buf {
    char       *p;
    size_t      len;
    size_t      cap;
};

int  lmd_tok_buf_grow(struct lmd_tok_buf *b, size_t more);
void lmd_tok_buf_free(struct lmd_tok_buf *b);

static inline int
lmd_tok_buf_put(struct lmd_tok_buf *b, const void *p, size_t n)
{
    if (b->cap - b->len < n && lmd_tok_buf_grow(b, n) != LMD_OK) {
        return LMD_ERROR;
    }
    if (n > 0) {
        memcpy(b->p + b->len, p, n);
    }
    b->len += n;
    return LMD_OK;
}

/* A NUL after the bytes (not counted in len): for C-string consumers. */
int lmd_tok_buf_nul(struct lmd_tok_buf *b);

/* A token's or a piece's place in some buffer. */
struct lmd_tok_span {
    uint32_t    off;
    uint32_t    len;
};

/* err helper: snprintf into (err, errlen) when err is not NULL. */
void lmd_tok_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reads a whole file (NUL-terminated copy); err names the path. */
char *lmd_tok_read_file(const char *path, size_t *len, char *err,
    size_t errlen);


/* ---------------------------------------------------------------- hashing */

uint64_t lmd_tok_hash(const void *p, size_t n);

/* Bytes -> int32 (open addressing, linear probing).  The keys are not
 * copied: they must outlive the map. */
struct lmd_tok_strmap_slot {
    const char *key;
    uint32_t    len;
    int32_t     val;
    uint64_t    hash;
};

struct lmd_tok_strmap {
    struct lmd_tok_strmap_slot  *slots;
    size_t                       mask;
    size_t                       n;
};

int     lmd_tok_strmap_init(struct lmd_tok_strmap *m, size_t expected);
/* Inserts or overwrites (the last value for a key wins, as serde's maps
 * do).  LMD_OK or LMD_ERROR (out of memory). */
int     lmd_tok_strmap_put(struct lmd_tok_strmap *m, const char *key,
    size_t len, int32_t val);
int32_t lmd_tok_strmap_get(const struct lmd_tok_strmap *m, const char *key,
    size_t len);
void    lmd_tok_strmap_free(struct lmd_tok_strmap *m);

/* (id, id) -> (rank, id): the BPE merges. */
struct lmd_tok_pairmap_slot {
    uint64_t    key;            /* a << 32 | b; LMD_TOK_PAIR_EMPTY: free */
    uint32_t    rank;
    int32_t     val;
};

#define LMD_TOK_PAIR_EMPTY  UINT64_MAX

struct lmd_tok_pairmap {
    struct lmd_tok_pairmap_slot *slots;
    size_t                       mask;
    size_t                       n;
};

int  lmd_tok_pairmap_init(struct lmd_tok_pairmap *m, size_t expected);
int  lmd_tok_pairmap_put(struct lmd_tok_pairmap *m, int32_t a, int32_t b,
    uint32_t rank, int32_t val);
void lmd_tok_pairmap_free(struct lmd_tok_pairmap *m);

static inline const struct lmd_tok_pairmap_slot *
lmd_tok_pairmap_get(const struct lmd_tok_pairmap *m, int32_t a, int32_t b)
{
    uint64_t  key, i;

    if (m->slots == NULL) {
        return NULL;
    }
    key = (uint64_t) (uint32_t) a << 32 | (uint32_t) b;
    i = (key * 0x9E3779B97F4A7C15ULL) >> 20;
    for ( ;; ) {
        i &= m->mask;
        if (m->slots[i].key == key) {
            return &m->slots[i];
        }
        if (m->slots[i].key == LMD_TOK_PAIR_EMPTY) {
            return NULL;
        }
        i++;
    }
}


static inline void
lmd_tok_pairmap_prefetch(const struct lmd_tok_pairmap *m, int32_t a,
    int32_t b)
{
    uint64_t  key = (uint64_t) (uint32_t) a << 32 | (uint32_t) b;

    __builtin_prefetch(&m->slots[((key * 0x9E3779B97F4A7C15ULL) >> 20)
                                 & m->mask]);
}


/* ------------------------------------------------------------------ UTF-8 */

/* The length of the valid UTF-8 prefix of s (n when all of it is). */
size_t   lmd_tok_utf8_valid(const char *s, size_t n);
/* Appends s with every maximal invalid subsequence replaced by U+FFFD,
 * exactly as Rust's String::from_utf8_lossy does. */
int      lmd_tok_utf8_lossy(struct lmd_tok_buf *out, const char *s,
    size_t n);
/* The bytes at the end of s that start a UTF-8 character but do not
 * finish it (0 to 3). */
size_t   lmd_tok_utf8_partial_tail(const char *s, size_t n);
size_t   lmd_tok_utf8_put(char *dst, uint32_t cp);

/* Decodes one character of valid UTF-8 at s[*i] and advances *i. */
static inline uint32_t
lmd_tok_utf8_next(const char *str, size_t *i)
{
    const uint8_t  *s = (const uint8_t *) str + *i;
    uint32_t        c = s[0];

    if (c < 0x80) {
        *i += 1;
        return c;
    }
    if (c < 0xE0) {
        *i += 2;
        return (c & 0x1F) << 6 | (s[1] & 0x3F);
    }
    if (c < 0xF0) {
        *i += 3;
        return (c & 0x0F) << 12 | (uint32_t) (s[1] & 0x3F) << 6
               | (s[2] & 0x3F);
    }
    *i += 4;
    return (c & 0x07) << 18 | (uint32_t) (s[1] & 0x3F) << 12
           | (uint32_t) (s[2] & 0x3F) << 6 | (s[3] & 0x3F);
}

static inline size_t
lmd_tok_utf8_len(uint8_t lead)
{
    return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

/* Unicode classes, as Rust defines them. */
int lmd_tok_is_space(uint32_t cp);      /* char::is_whitespace, \s */
int lmd_tok_is_word(uint32_t cp);       /* regex crate \w */
int lmd_tok_is_numeric(uint32_t cp);    /* char::is_numeric: N* */
int lmd_tok_is_punct(uint32_t cp);      /* ASCII punctuation or P* */
int lmd_tok_is_mark(uint32_t cp);       /* Mn, Mc, Me */
/* GPT-2's byte-level alphabet: the character that stands for byte b. */
uint32_t lmd_tok_byte_char(uint8_t b);
int      lmd_tok_char_byte(uint32_t cp);       /* -1: not one of them */


/* --------------------------------------------------------------- patterns */

enum lmd_tok_pat_kind {
    LMD_PAT_LITERAL = 1,
    LMD_PAT_REGEX,
    LMD_PAT_CHAR,               /* one character equal to cp */
    LMD_PAT_SPACE,              /* one char::is_whitespace character */
    LMD_PAT_NUMERIC,            /* one char::is_numeric character */
    LMD_PAT_PUNCT,              /* one punctuation character */
    LMD_PAT_WORDS               /* \w+|[^\w\s]+ (Whitespace) */
};

struct lmd_tok_pattern {
    int         kind;
    char       *lit;            /* LITERAL */
    size_t      lit_len;
    void       *re;             /* REGEX: pcre2_code, JIT compiled */
    uint32_t    cp;             /* CHAR */
    uint32_t    ncap;           /* REGEX: capture groups */
};

/* Per-call matching state (PCRE2 match data and JIT stack). */
struct lmd_tok_rx {
    void       *md;
    void       *mctx;
    void       *jit;
    uint32_t    ncap;
};

/* A pattern from Oniguruma syntax (what tokenizers uses), compiled with
 * PCRE2 UTF+UCP and JIT.  err says what and where. */
int  lmd_tok_pattern_regex(struct lmd_tok_pattern *p, const char *src,
    size_t len, char *err, size_t errlen);
int  lmd_tok_pattern_literal(struct lmd_tok_pattern *p, const char *s,
    size_t len);
void lmd_tok_pattern_free(struct lmd_tok_pattern *p);

int  lmd_tok_rx_init(struct lmd_tok_rx *rx, uint32_t ncap);
void lmd_tok_rx_free(struct lmd_tok_rx *rx);

/* find_iter over s[0..n), as Rust's onig crate does it: *pos is where to
 * search from (0 at first) and *last the end of the previous match
 * (SIZE_MAX at first).  1 with [*ms, *me) set, 0 when there are no more,
 * LMD_ERROR when the regex engine fails (err set). */
int  lmd_tok_find(const struct lmd_tok_pattern *p, struct lmd_tok_rx *rx,
    const char *s, size_t n, size_t *pos, size_t *last, size_t *ms,
    size_t *me, char *err, size_t errlen);


/* ------------------------------------------------------------ normalizers */

enum lmd_tok_norm_type {
    LMD_NORM_SEQUENCE = 1,
    LMD_NORM_PREPEND,
    LMD_NORM_REPLACE,
    LMD_NORM_NFC,
    LMD_NORM_NFD,
    LMD_NORM_NFKC,
    LMD_NORM_NFKD,
    LMD_NORM_LOWERCASE,
    LMD_NORM_STRIP,
    LMD_NORM_STRIP_ACCENTS,
    LMD_NORM_BYTELEVEL,
    LMD_NORM_SPM                /* sentencepiece: dummy prefix, spaces */
};

struct lmd_tok_norm {
    int                     type;
    struct lmd_tok_norm   **items;      /* SEQUENCE */
    size_t                  nitems;
    char                   *str;        /* PREPEND, REPLACE content */
    size_t                  str_len;
    struct lmd_tok_pattern  pat;        /* REPLACE */
    int                     left;       /* STRIP; SPM: add_dummy_prefix */
    int                     right;      /* STRIP; SPM: remove_extra_ws */
    int                     escape;     /* SPM: escape_whitespaces */
};

void lmd_tok_norm_free(struct lmd_tok_norm *n);


/* --------------------------------------------------------- pre-tokenizers */

enum lmd_tok_pt_type {
    LMD_PT_BYTELEVEL = 1,
    LMD_PT_SPLIT,
    LMD_PT_METASPACE
};

enum lmd_tok_split_behavior {
    LMD_SPLIT_REMOVED = 1,
    LMD_SPLIT_ISOLATED,
    LMD_SPLIT_MERGED_PREV,
    LMD_SPLIT_MERGED_NEXT,
    LMD_SPLIT_CONTIGUOUS
};

enum lmd_tok_prepend {
    LMD_PREPEND_ALWAYS = 1,
    LMD_PREPEND_FIRST,
    LMD_PREPEND_NEVER
};

/* One step; Sequence and the composite pre-tokenizers (Bert) are
 * flattened into the list of steps at load. */
struct lmd_tok_pt {
    int                     type;
    struct lmd_tok_pattern  pat;        /* SPLIT */
    int                     behavior;   /* SPLIT */
    int                     invert;     /* SPLIT */
    int                     add_prefix_space;   /* BYTELEVEL */
    int                     use_regex;          /* BYTELEVEL */
    int                     raw;        /* BYTELEVEL: leave bytes as they
                                           are (the model maps them) */
    char                    repl[5];    /* METASPACE replacement, UTF-8 */
    size_t                  repl_len;
    uint32_t                repl_cp;
    int                     prepend;    /* METASPACE */
    int                     split;      /* METASPACE */
};

#define LMD_TOK_PT_MAX  16

/* Token ids are below this (real vocabularies: up to about a million);
 * tables are indexed by id. */
#define LMD_TOK_MAX_ID  (1 << 24)


/* ------------------------------------------------------------------ model */

enum lmd_bpe_kind {
    LMD_BPE_RANKS = 1,          /* tokenizers: merges ranked by order */
    LMD_BPE_SCORES              /* sentencepiece: by the piece's score */
};

struct lmd_tok_cache;

struct lmd_bpe {
    int                     kind;
    /* id -> piece (model vocabulary); pieces end in NUL */
    struct lmd_tok_buf      pool;
    struct lmd_tok_span    *pieces;     /* by id; len UINT32_MAX: none */
    size_t                  nids;       /* max id + 1 */
    size_t                  pieces_cap;
    size_t                  vocab_size; /* distinct pieces */
    struct lmd_tok_strmap   map;        /* piece -> id */
    struct lmd_tok_pairmap  merges;     /* RANKS */
    float                  *scores;     /* SCORES: by id */
    uint8_t                *mergeable;  /* SCORES: normal, user, unused */
    uint8_t                *unused;     /* SCORES: type UNUSED */
    uint8_t                *control;    /* SCORES: CONTROL and UNKNOWN
                                           pieces (special on decode) */

    /* Raw-byte mode: words arrive as bytes and byte b stands for the
     * byte-level character of b (the ByteLevel pre-tokenizer's mapping is
     * left to the model, which saves a copy per word). */
    int                     raw_bytes;
    int32_t                 byte_sym[256];      /* raw mode: b -> id */
    struct lmd_tok_strmap   raw_map;            /* raw bytes -> id */
    struct lmd_tok_buf      raw_pool;

    int32_t                *char_sym;   /* U+0000-U+FFFF: the id of the
                                           one-character piece, -1 */
    int32_t                 byte_fb[256];       /* <0xNN> ids, -1 */
    int32_t                 unk_id;             /* -1: none */
    int                     byte_fallback;
    int                     fuse_unk;
    int                     ignore_merges;
    char                   *prefix;             /* continuing_subword_ */
    size_t                  prefix_len;
    char                   *suffix;             /* end_of_word_suffix */
    size_t                  suffix_len;

    struct lmd_tok_trie    *frozen;     /* SCORES: user-defined pieces */
    struct lmd_tok_cache   *cache;

    /* Long words are cut before U+2581 where no merge can cross. */
    int                     chunk;
    uint32_t               *chunk_bad;  /* sorted: no cut after these */
    size_t                  nchunk_bad;
};

void lmd_bpe_free(struct lmd_bpe *m);
/* After the vocabulary and merges are in: the lookup tables. */
int  lmd_bpe_finish(struct lmd_bpe *m, char *err, size_t errlen);
/* Sets the piece of id (copied). */
int  lmd_bpe_set_piece(struct lmd_bpe *m, int32_t id, const char *s,
    size_t len);
int  lmd_bpe_enable_raw(struct lmd_bpe *m);
int  lmd_bpe_chunk_setup(struct lmd_bpe *m);
/* Texts from this many bytes on get a pair cache (a test may set it). */
extern size_t  lmd_bpe_pc_text;


/* ---------------------------------------------------------- added tokens */

struct lmd_tok_added_token {
    char       *content;
    size_t      len;
    char       *norm;           /* content through the normalizer, or NULL
                                   when normalized is false or it is the
                                   same */
    size_t      norm_len;
    int32_t     id;
    uint8_t     special;
    uint8_t     lstrip;
    uint8_t     rstrip;
    uint8_t     single_word;
    uint8_t     normalized;
};

/* A byte trie (leftmost-longest matching). */
struct lmd_tok_trie_node {
    int32_t     child;          /* first child, -1 */
    int32_t     sibling;        /* next sibling, -1 */
    int32_t     value;          /* token index, -1 */
    uint8_t     byte;
};

struct lmd_tok_trie {
    struct lmd_tok_trie_node   *nodes;
    size_t                      n;
    size_t                      cap;
    uint8_t                     first[32];      /* bitmap of first bytes */
};

int  lmd_tok_trie_add(struct lmd_tok_trie *t, const char *s, size_t len,
    int32_t value);
/* The longest key starting at s (its length in *mlen) or -1. */
int32_t lmd_tok_trie_longest(const struct lmd_tok_trie *t, const char *s,
    size_t n, size_t *mlen);
void lmd_tok_trie_free(struct lmd_tok_trie *t);

struct lmd_tok_added {
    struct lmd_tok_added_token *tokens;
    size_t                      n;
    size_t                      cap;
    int32_t                    *by_id;      /* id -> index, -1 */
    size_t                      nby_id;     /* ids: highest + 1 */
    size_t                      by_id_cap;
    int32_t                     next_id;    /* for tokens with no id */
    struct lmd_tok_strmap       map;        /* content -> index */
    struct lmd_tok_trie         raw;        /* normalized: false */
    struct lmd_tok_trie         normed;     /* normalized: true */
};

/* Starts a batch of AddedVocabulary::add_tokens: next_id is computed
 * from the tokens already in and the model's vocabulary size. */
void lmd_tok_added_begin(struct lmd_tokenizer *t);
/* One token of the batch: the id is force_id when >= 0, else the
 * content's id (added or model) when it has one, else next_id. */
int  lmd_tok_added_add(struct lmd_tokenizer *t, const char *content,
    size_t len, int special, int lstrip, int rstrip, int single_word,
    int normalized, int32_t force_id, char *err, size_t errlen);
/* Builds the tries (after every token is in and the normalizer set). */
int  lmd_tok_added_finish(struct lmd_tokenizer *t, char *err,
    size_t errlen);
void lmd_tok_added_free(struct lmd_tok_added *a);
const struct lmd_tok_added_token *lmd_tok_added_by_id(
    const struct lmd_tokenizer *t, int32_t id);

/* A match of find_matches: [start, end) of s, token index (-1: text). */
struct lmd_tok_seg {
    size_t      start;
    size_t      end;
    int32_t     token;
};

typedef int (*lmd_tok_seg_pt)(void *data, const char *s,
    const struct lmd_tok_seg *seg);

/* AddedVocabulary::find_matches: calls fn for each segment in order. */
int lmd_tok_added_split(const struct lmd_tok_added *a, int normalized,
    const char *s, size_t n, lmd_tok_seg_pt fn, void *data);


/* --------------------------------------------------------- post-processor */

enum lmd_tok_post_type {
    LMD_POST_TEMPLATE = 1,
    LMD_POST_BYTELEVEL,
    LMD_POST_BERT               /* Bert and Roberta: cls A sep */
};

struct lmd_tok_post {
    int         type;
    int32_t    *before;         /* ids before A */
    size_t      nbefore;
    int32_t    *after;          /* ids after A */
    size_t      nafter;
};


/* ---------------------------------------------------------------- decoder */

enum lmd_tok_dec_type {
    LMD_DEC_BYTELEVEL = 1,
    LMD_DEC_METASPACE,
    LMD_DEC_REPLACE,
    LMD_DEC_BYTE_FALLBACK,
    LMD_DEC_FUSE,
    LMD_DEC_STRIP,
    LMD_DEC_WORDPIECE,
    LMD_DEC_BPE
};

struct lmd_tok_dec {
    int                     type;
    struct lmd_tok_pattern  pat;        /* REPLACE */
    char                   *str;        /* REPLACE content, WORDPIECE
                                           prefix, BPE suffix */
    size_t                  str_len;
    uint32_t                cp;         /* METASPACE replacement, STRIP
                                           content */
    int                     prepend;    /* METASPACE: scheme != never */
    size_t                  start;      /* STRIP */
    size_t                  stop;       /* STRIP */
    int                     cleanup;    /* WORDPIECE */
};

/* The token list the decoders pass along. */
struct lmd_tok_list {
    struct lmd_tok_buf      text;
    struct lmd_tok_span    *tok;
    size_t                  n;
    size_t                  cap;
};

/* Window flags for lmd_tok_decode_range (see lmd_detok.c). */
#define LMD_DEC_HEAD_CONT   0x1     /* text was decoded before ids[0] */
#define LMD_DEC_OPEN_END    0x2     /* more ids may follow */

/* Decodes ids[0..n) into out (appended).  LMD_ERROR for an unknown id. */
int lmd_tok_decode_range(const struct lmd_tokenizer *t, const int32_t *ids,
    size_t n, int skip_special, int flags, struct lmd_tok_buf *out);


/* -------------------------------------------------------------- tokenizer */

struct lmd_tokenizer {
    char                   *path;

    struct lmd_bpe          model;
    struct lmd_tok_added    added;

    struct lmd_tok_norm    *normalizer;     /* NULL: none */
    struct lmd_tok_pt       pt[LMD_TOK_PT_MAX];
    size_t                  npt;
    struct lmd_tok_post    *post;
    size_t                  npost;
    struct lmd_tok_dec     *dec;
    size_t                  ndec;
    int                     has_decoder;    /* 0: tokens joined by ' ' */
    uint32_t                ncap;           /* most capture groups */

    /* Decoding, by id: the string the decoder sees and whether
     * skip_special drops it. */
    struct lmd_tok_span    *dec_piece;      /* into dec_pool */
    struct lmd_tok_buf      dec_pool;
    /* When the decoder is ByteLevel alone: each id's bytes, so that
     * decoding is a concatenation and one UTF-8 repair. */
    struct lmd_tok_span    *dec_bytes;      /* into dec_bytes_pool */
    struct lmd_tok_buf      dec_bytes_pool;
    uint8_t                *dec_flags;      /* LMD_TOK_ID_* */
    size_t                  nids;           /* max id + 1 */
    int                     dec_byte_fallback;  /* ByteFallback present */
    int                     dec_last_sensitive; /* BPEDecoder present */
    int                     dec_strip_stop;     /* Strip stop after Fuse */
    uint32_t                dec_strip_cp;

    int32_t                 bos_id;
    int32_t                 eos_id;
    char                   *bos_token;
    char                   *eos_token;
    int                     add_bos;        /* sentencepiece models */
    int                     add_eos;
    int                     spm;            /* from tokenizer.model */
};

#define LMD_TOK_ID_KNOWN    0x1
#define LMD_TOK_ID_SPECIAL  0x2     /* skipped with skip_special */
#define LMD_TOK_ID_BYTE     0x4     /* a <0xNN> piece */

struct lmd_tokenizer *lmd_tok_alloc(const char *path);
/* After the pipeline is loaded: added tries, decode tables. */
int lmd_tok_finish(struct lmd_tokenizer *t, char *err, size_t errlen);

/* Loaders. */
int lmd_tok_json_load(struct lmd_tokenizer *t, const char *file,
    char *err, size_t errlen);
int lmd_tok_spm_load(struct lmd_tokenizer *t, const char *file,
    char *err, size_t errlen);
int lmd_tok_config_load(struct lmd_tokenizer *t, const char *file,
    char *err, size_t errlen);


/* ---------------------------------------------------------------- encoding */

/* One encode call's scratch memory. */
struct lmd_tok_enc {
    const struct lmd_tokenizer *t;
    struct lmd_tokens          *out;
    char                       *err;
    size_t                      errlen;

    struct lmd_tok_buf          in;         /* the text made valid UTF-8 */
    struct lmd_tok_buf          norm[2];    /* normalizer ping-pong */
    struct lmd_tok_buf          pt[LMD_TOK_PT_MAX][2];  /* step output */
    struct lmd_tok_rx           rx;

    /* BPE scratch */
    void                       *sym;
    size_t                      sym_cap;
    void                       *heap;
    size_t                      heap_cap;
    struct lmd_tok_buf          rev;        /* SCORES: unused pieces */
    void                       *pc;         /* RANKS: pair cache */
    size_t                      text_len;   /* the input's length */
};

void lmd_tok_enc_free(struct lmd_tok_enc *e);

/* Normalizes s into one of e->norm; *res points at the result. */
int lmd_tok_normalize(struct lmd_tok_enc *e, const struct lmd_tok_norm *n,
    const char *s, size_t len, const char **res, size_t *res_len);
/* Runs the pre-tokenizer steps from step on s, then the model on each
 * word.  first: s starts at offset 0 of the input. */
int lmd_tok_pretokenize(struct lmd_tok_enc *e, size_t step, const char *s,
    size_t len, int first);
/* The model on one word. */
int lmd_bpe_encode(struct lmd_tok_enc *e, const char *w, size_t len);
/* The post-processors on out->ids[from..]. */
int lmd_tok_post_apply(const struct lmd_tokenizer *t, struct lmd_tokens *out,
    size_t from);


/* ------------------------------------------------------------- word cache */

struct lmd_tok_cache *lmd_tok_cache_new(size_t slots);
void lmd_tok_cache_free(struct lmd_tok_cache *c);
/* Copies the ids of word into ids (up to max); returns their count, or
 * -1 on a miss. */
int  lmd_tok_cache_get(struct lmd_tok_cache *c, const char *w, size_t len,
    uint64_t hash, int32_t *ids, size_t max);
void lmd_tok_cache_put(struct lmd_tok_cache *c, const char *w, size_t len,
    uint64_t hash, const int32_t *ids, size_t n);

#define LMD_TOK_CACHE_KEY   24      /* longest cached word, bytes */
#define LMD_TOK_CACHE_IDS   12      /* most ids of a cached word */

#endif /* LMD_TOK_INTERNAL_H */
