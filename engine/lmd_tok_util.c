/*
 * lmd_tok_util.c -- the tokenizer's plumbing: growable buffers, error
 * strings, reading files, hashing and the two hash maps (bytes -> id for
 * vocabularies, id pair -> merge for BPE).
 *
 * Both maps use open addressing with linear probing at a load factor of
 * at most one half, with the full 64-bit hash kept in the string map's
 * slots so that a probe compares bytes only on a likely hit.  They are
 * filled once at load and only read afterwards, from any thread.
 */

#include "lmd_tok_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>


/* ---------------------------------------------------------------- buffers */

int
lmd_tok_buf_grow(struct lmd_tok_buf *b, size_t more)
{
    size_t   cap;
    char    *p;

    if (b->cap - b->len >= more) {
        return LMD_OK;
    }
    if (more > SIZE_MAX / 2 - b->len) {
        return LMD_ERROR;
    }
    cap = b->cap ? b->cap : 64;
    while (cap - b->len < more) {
        cap *= 2;
    }
    p = realloc(b->p, cap);
    if (p == NULL) {
        return LMD_ERROR;
    }
    b->p = p;
    b->cap = cap;
    return LMD_OK;
}


int
lmd_tok_buf_nul(struct lmd_tok_buf *b)
{
    if (lmd_tok_buf_grow(b, 1) != LMD_OK) {
        return LMD_ERROR;
    }
    b->p[b->len] = '\0';
    return LMD_OK;
}


void
lmd_tok_buf_free(struct lmd_tok_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}


void
lmd_tok_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}


char *
lmd_tok_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE         *f;
    struct stat   st;
    char         *buf;
    size_t        n;

    f = fopen(path, "rb");
    if (f == NULL) {
        lmd_tok_err(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        lmd_tok_err(err, errlen, "%s: not a regular file", path);
        fclose(f);
        return NULL;
    }
    if ((uint64_t) st.st_size > (1u << 30)) {
        lmd_tok_err(err, errlen, "%s: larger than 1 GiB", path);
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t) st.st_size + 1);
    if (buf == NULL) {
        lmd_tok_err(err, errlen, "%s: out of memory", path);
        fclose(f);
        return NULL;
    }
    n = fread(buf, 1, (size_t) st.st_size, f);
    if (n != (size_t) st.st_size || ferror(f)) {
        lmd_tok_err(err, errlen, "%s: read error", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}


/* ---------------------------------------------------------------- hashing */

static inline uint64_t
lmd_tok_mix(uint64_t a, uint64_t b)
{
    __uint128_t  r = (__uint128_t) a * b;

    return (uint64_t) r ^ (uint64_t) (r >> 64);
}


/* A wyhash-style hash: eight bytes per multiply.  Vocabulary pieces are
 * mostly 2 to 10 bytes, so the tail path is the hot one. */
uint64_t
lmd_tok_hash(const void *p, size_t n)
{
    const uint8_t  *s = p;
    uint64_t        h = 0x9E3779B97F4A7C15ULL ^ n;
    uint64_t        w;

    while (n >= 8) {
        memcpy(&w, s, 8);
        h = lmd_tok_mix(h ^ w, 0xA0761D6478BD642FULL);
        s += 8;
        n -= 8;
    }
    w = 0;
    if (n >= 4) {
        uint32_t  a, b;

        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        w = (uint64_t) a << 32 | b;
    } else if (n > 0) {
        w = (uint64_t) s[0] << 16 | (uint64_t) s[n / 2] << 8 | s[n - 1];
    }
    h = lmd_tok_mix(h ^ w, 0xE7037ED1A0B428DBULL);
    return lmd_tok_mix(h, 0x8EBC6AF09C88C6E3ULL);
}


/* ------------------------------------------------------------- string map */

static size_t
lmd_tok_map_size(size_t expected)
{
    size_t  size = 16;

    while (size < expected * 2 + 2) {
        size *= 2;
    }
    return size;
}


int
lmd_tok_strmap_init(struct lmd_tok_strmap *m, size_t expected)
{
    size_t  size = lmd_tok_map_size(expected);

    m->slots = calloc(size, sizeof(*m->slots));
    if (m->slots == NULL) {
        return LMD_ERROR;
    }
    m->mask = size - 1;
    m->n = 0;
    return LMD_OK;
}


static int
lmd_tok_strmap_rehash(struct lmd_tok_strmap *m)
{
    struct lmd_tok_strmap_slot  *old = m->slots;
    size_t                       oldsize = m->mask + 1, i, j;

    m->slots = calloc(oldsize * 2, sizeof(*m->slots));
    if (m->slots == NULL) {
        m->slots = old;
        return LMD_ERROR;
    }
    m->mask = oldsize * 2 - 1;
    for (i = 0; i < oldsize; i++) {
        if (old[i].key == NULL) {
            continue;
        }
        j = old[i].hash & m->mask;
        while (m->slots[j].key != NULL) {
            j = (j + 1) & m->mask;
        }
        m->slots[j] = old[i];
    }
    free(old);
    return LMD_OK;
}


int
lmd_tok_strmap_put(struct lmd_tok_strmap *m, const char *key, size_t len,
    int32_t val)
{
    uint64_t  h;
    size_t    i;

    if (len > UINT32_MAX) {
        return LMD_ERROR;
    }
    if (m->slots == NULL && lmd_tok_strmap_init(m, 8) != LMD_OK) {
        return LMD_ERROR;
    }
    if ((m->n + 1) * 2 > m->mask + 1 && lmd_tok_strmap_rehash(m) != LMD_OK)
    {
        return LMD_ERROR;
    }
    h = lmd_tok_hash(key, len);
    for (i = h & m->mask; m->slots[i].key != NULL; i = (i + 1) & m->mask) {
        if (m->slots[i].hash == h && m->slots[i].len == len
            && memcmp(m->slots[i].key, key, len) == 0)
        {
            m->slots[i].key = key;
            m->slots[i].val = val;
            return LMD_OK;
        }
    }
    m->slots[i].key = key;
    m->slots[i].len = (uint32_t) len;
    m->slots[i].val = val;
    m->slots[i].hash = h;
    m->n++;
    return LMD_OK;
}


int32_t
lmd_tok_strmap_get(const struct lmd_tok_strmap *m, const char *key,
    size_t len)
{
    uint64_t  h;
    size_t    i;

    if (m->slots == NULL) {
        return -1;
    }
    h = lmd_tok_hash(key, len);
    for (i = h & m->mask; m->slots[i].key != NULL; i = (i + 1) & m->mask) {
        if (m->slots[i].hash == h && m->slots[i].len == len
            && memcmp(m->slots[i].key, key, len) == 0)
        {
            return m->slots[i].val;
        }
    }
    return -1;
}


void
lmd_tok_strmap_free(struct lmd_tok_strmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->mask = 0;
    m->n = 0;
}


/* --------------------------------------------------------------- pair map */

int
lmd_tok_pairmap_init(struct lmd_tok_pairmap *m, size_t expected)
{
    size_t  size = lmd_tok_map_size(expected), i;

    m->slots = malloc(size * sizeof(*m->slots));
    if (m->slots == NULL) {
        return LMD_ERROR;
    }
    for (i = 0; i < size; i++) {
        m->slots[i].key = LMD_TOK_PAIR_EMPTY;
    }
    m->mask = size - 1;
    m->n = 0;
    return LMD_OK;
}


/* Inserts or overwrites: a pair listed twice keeps its last rank, as the
 * HashMap that tokenizers collects the merges into does. */
int
lmd_tok_pairmap_put(struct lmd_tok_pairmap *m, int32_t a, int32_t b,
    uint32_t rank, int32_t val)
{
    uint64_t  key, i;

    if ((m->n + 1) * 2 > m->mask + 1) {
        struct lmd_tok_pairmap  bigger;
        size_t                  j;

        if (lmd_tok_pairmap_init(&bigger, (m->mask + 1)) != LMD_OK) {
            return LMD_ERROR;
        }
        for (j = 0; j <= m->mask; j++) {
            struct lmd_tok_pairmap_slot  *s = &m->slots[j];

            if (s->key != LMD_TOK_PAIR_EMPTY) {
                lmd_tok_pairmap_put(&bigger, (int32_t) (s->key >> 32),
                                    (int32_t) (uint32_t) s->key, s->rank,
                                    s->val);
            }
        }
        free(m->slots);
        *m = bigger;
    }
    key = (uint64_t) (uint32_t) a << 32 | (uint32_t) b;
    i = (key * 0x9E3779B97F4A7C15ULL) >> 20;
    for ( ;; ) {
        i &= m->mask;
        if (m->slots[i].key == key) {
            m->slots[i].rank = rank;
            m->slots[i].val = val;
            return LMD_OK;
        }
        if (m->slots[i].key == LMD_TOK_PAIR_EMPTY) {
            m->slots[i].key = key;
            m->slots[i].rank = rank;
            m->slots[i].val = val;
            m->n++;
            return LMD_OK;
        }
        i++;
    }
}


void
lmd_tok_pairmap_free(struct lmd_tok_pairmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->mask = 0;
    m->n = 0;
}
