/*
 * lmd_spm.c -- a sentencepiece tokenizer.model read by hand: the protobuf
 * wire format, just enough of it for ModelProto.
 *
 * The wire format is a run of (tag, value) pairs.  A tag is a varint
 * holding field << 3 | wire type; the value is a varint (type 0), eight
 * bytes (1), a varint length and that many bytes (2: strings and nested
 * messages), a group of fields closed by an end-group tag (3 and 4, long
 * deprecated but still legal) or four bytes (5: float).  Every field may
 * be absent (then the .proto default holds), repeated scalars keep the
 * last value, and fields this reader does not know are skipped whatever
 * their type.  The fields read, with their numbers from sentencepiece's
 * src/sentencepiece_model.proto:
 *
 *   ModelProto       1 pieces (repeated SentencePiece), 2 trainer_spec,
 *                    3 normalizer_spec
 *   SentencePiece    1 piece (string), 2 score (float), 3 type (enum,
 *                    default NORMAL)
 *   TrainerSpec      3 model_type (default UNIGRAM), 35 byte_fallback
 *                    (false), 40 unk_id (0), 41 bos_id (1), 42 eos_id (2),
 *                    43 pad_id (-1)
 *   NormalizerSpec   1 name, 3 add_dummy_prefix (true),
 *                    4 remove_extra_whitespaces (true),
 *                    5 escape_whitespaces (true)
 *
 * Design: the file is walked twice.  The first walk counts the pieces and
 * adds up the sizes of their messages, which bounds the bytes their
 * strings need; the second fills one array of pieces and one block that
 * holds every string, so a 92,544-piece model costs two allocations, not
 * 92,544.  Every length is checked against the bytes that remain before
 * it is used, nesting is bounded, and an error names the byte offset and
 * the field ("byte 1234: pieces[17]: field 1 (piece): length past the
 * end").
 */

#include "lmd_spm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The largest tokenizer.model read: real ones are 0.5-5 MB. */
#define LMD_SPM_MAX_FILE   (256u << 20)
/* Groups inside groups (only ever seen in fuzzed input). */
#define LMD_PB_MAX_DEPTH   32

enum {
    LMD_PB_VARINT = 0,
    LMD_PB_FIXED64 = 1,
    LMD_PB_BYTES = 2,
    LMD_PB_GROUP_START = 3,
    LMD_PB_GROUP_END = 4,
    LMD_PB_FIXED32 = 5
};

/* A cursor over one message: [p, end) is what is left of it; start is
 * the first byte of the whole buffer, for the offsets in errors. */
struct lmd_pb {
    const uint8_t  *start;
    const uint8_t  *p;
    const uint8_t  *end;
    const char     *ctx;        /* "" or "pieces[17]: " */
    char           *err;
    size_t          errlen;
};


/* ------------------------------------------------------------ wire format */

static int
lmd_pb_fail(struct lmd_pb *r, const uint8_t *at, uint32_t field,
    const char *name, const char *fmt, ...)
{
    char     msg[160];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    if (name != NULL) {
        snprintf(r->err, r->errlen, "byte %zu: %sfield %u (%s): %s",
                 (size_t) (at - r->start), r->ctx, field, name, msg);
    } else if (field != 0) {
        snprintf(r->err, r->errlen, "byte %zu: %sfield %u: %s",
                 (size_t) (at - r->start), r->ctx, field, msg);
    } else {
        snprintf(r->err, r->errlen, "byte %zu: %s%s",
                 (size_t) (at - r->start), r->ctx, msg);
    }
    return LMD_ERROR;
}


/* Reads a varint of at most ten bytes (64 bits). */
static int
lmd_pb_varint(struct lmd_pb *r, uint64_t *v, uint32_t field,
    const char *name)
{
    const uint8_t  *at = r->p;
    uint64_t        x = 0;
    unsigned        shift;

    for (shift = 0; shift < 64; shift += 7) {
        if (r->p == r->end) {
            return lmd_pb_fail(r, at, field, name, "truncated varint");
        }
        x |= (uint64_t) (*r->p & 0x7f) << shift;
        if ((*r->p++ & 0x80) == 0) {
            if (shift == 63 && r->p[-1] > 1) {
                break;
            }
            *v = x;
            return LMD_OK;
        }
    }
    return lmd_pb_fail(r, at, field, name, "varint longer than 64 bits");
}


/* Reads a tag; field 0 and wire types 6 and 7 do not exist. */
static int
lmd_pb_tag(struct lmd_pb *r, uint32_t *field, unsigned *wt)
{
    const uint8_t  *at = r->p;
    uint64_t        tag;

    if (lmd_pb_varint(r, &tag, 0, NULL) != LMD_OK) {
        return LMD_ERROR;
    }
    if ((tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) {
        return lmd_pb_fail(r, at, 0, NULL, "field number %llu is invalid",
                           (unsigned long long) (tag >> 3));
    }
    *field = (uint32_t) (tag >> 3);
    *wt = (unsigned) (tag & 7);
    if (*wt > LMD_PB_FIXED32) {
        return lmd_pb_fail(r, at, *field, NULL, "wire type %u is invalid",
                           *wt);
    }
    return LMD_OK;
}


/* Reads a length-delimited value: *data and *len, inside the message. */
static int
lmd_pb_bytes(struct lmd_pb *r, const uint8_t **data, size_t *len,
    uint32_t field, const char *name)
{
    const uint8_t  *at = r->p;
    uint64_t        n;

    if (lmd_pb_varint(r, &n, field, name) != LMD_OK) {
        return LMD_ERROR;
    }
    if (n > (uint64_t) (r->end - r->p)) {
        return lmd_pb_fail(r, at, field, name,
                           "length %llu past the end (%zu bytes left)",
                           (unsigned long long) n,
                           (size_t) (r->end - r->p));
    }
    *data = r->p;
    *len = (size_t) n;
    r->p += n;
    return LMD_OK;
}


static int
lmd_pb_fixed(struct lmd_pb *r, size_t n, uint32_t field, const char *name)
{
    if ((size_t) (r->end - r->p) < n) {
        return lmd_pb_fail(r, r->p, field, name,
                           "%zu-byte value past the end", n);
    }
    r->p += n;
    return LMD_OK;
}


/* Skips the value of a field this reader does not use, whatever its wire
 * type; a group is skipped up to its matching end-group tag. */
static int
lmd_pb_skip(struct lmd_pb *r, uint32_t field, unsigned wt, int depth)
{
    const uint8_t  *at = r->p, *data;
    uint64_t        v;
    size_t          len;
    uint32_t        f;
    unsigned        w;

    switch (wt) {
    case LMD_PB_VARINT:
        return lmd_pb_varint(r, &v, field, NULL);
    case LMD_PB_FIXED64:
        return lmd_pb_fixed(r, 8, field, NULL);
    case LMD_PB_BYTES:
        return lmd_pb_bytes(r, &data, &len, field, NULL);
    case LMD_PB_FIXED32:
        return lmd_pb_fixed(r, 4, field, NULL);
    case LMD_PB_GROUP_START:
        if (depth >= LMD_PB_MAX_DEPTH) {
            return lmd_pb_fail(r, at, field, NULL, "groups nested deeper "
                               "than %d", LMD_PB_MAX_DEPTH);
        }
        for ( ;; ) {
            if (r->p == r->end) {
                return lmd_pb_fail(r, at, field, NULL, "group not closed");
            }
            if (lmd_pb_tag(r, &f, &w) != LMD_OK) {
                return LMD_ERROR;
            }
            if (w == LMD_PB_GROUP_END) {
                if (f != field) {
                    return lmd_pb_fail(r, at, field, NULL, "group closed "
                                       "by field %u", f);
                }
                return LMD_OK;
            }
            if (lmd_pb_skip(r, f, w, depth + 1) != LMD_OK) {
                return LMD_ERROR;
            }
        }
    default:
        return lmd_pb_fail(r, at, field, NULL, "end-group tag without a "
                           "group");
    }
}


/* A known field must come with its own wire type. */
static int
lmd_pb_want(struct lmd_pb *r, const uint8_t *at, uint32_t field,
    const char *name, unsigned wt, unsigned want)
{
    static const char  *types[] = {
        "varint", "fixed64", "length-delimited", "start-group",
        "end-group", "fixed32"
    };

    if (wt == want) {
        return LMD_OK;
    }
    return lmd_pb_fail(r, at, field, name, "wrong wire type %u (%s), "
                       "expected %u (%s)", wt, types[wt], want, types[want]);
}


/* A varint field read as a proto int32/enum/bool: the low 32 bits. */
static int
lmd_pb_int32(struct lmd_pb *r, const uint8_t *at, uint32_t field,
    const char *name, unsigned wt, int32_t *out)
{
    uint64_t  v;

    if (lmd_pb_want(r, at, field, name, wt, LMD_PB_VARINT) != LMD_OK
        || lmd_pb_varint(r, &v, field, name) != LMD_OK)
    {
        return LMD_ERROR;
    }
    *out = (int32_t) (uint32_t) v;
    return LMD_OK;
}


/* ----------------------------------------------------------- the messages */

/* One SentencePiece; its string goes to store, which has room for the
 * whole message (a string inside it is shorter) plus a NUL. */
static int
lmd_spm_piece(struct lmd_pb *r, struct lmd_spm_piece *pc, char *store)
{
    const uint8_t  *at, *data;
    uint32_t        field, bits;
    unsigned        wt;
    size_t          len;
    int32_t         type;

    pc->piece = store;
    pc->len = 0;
    pc->score = 0.0f;
    pc->type = LMD_SPM_NORMAL;
    store[0] = '\0';

    while (r->p < r->end) {
        at = r->p;
        if (lmd_pb_tag(r, &field, &wt) != LMD_OK) {
            return LMD_ERROR;
        }
        switch (field) {
        case 1:
            if (lmd_pb_want(r, at, 1, "piece", wt, LMD_PB_BYTES) != LMD_OK
                || lmd_pb_bytes(r, &data, &len, 1, "piece") != LMD_OK)
            {
                return LMD_ERROR;
            }
            memcpy(store, data, len);
            store[len] = '\0';
            pc->len = len;
            break;
        case 2:
            if (lmd_pb_want(r, at, 2, "score", wt, LMD_PB_FIXED32) != LMD_OK
                || lmd_pb_fixed(r, 4, 2, "score") != LMD_OK)
            {
                return LMD_ERROR;
            }
            bits = (uint32_t) r->p[-4] | (uint32_t) r->p[-3] << 8
                   | (uint32_t) r->p[-2] << 16 | (uint32_t) r->p[-1] << 24;
            memcpy(&pc->score, &bits, sizeof(float));
            break;
        case 3:
            if (lmd_pb_int32(r, at, 3, "type", wt, &type) != LMD_OK) {
                return LMD_ERROR;
            }
            if (type < LMD_SPM_NORMAL || type > LMD_SPM_BYTE) {
                return lmd_pb_fail(r, at, 3, "type", "unknown piece type "
                                   "%d", (int) type);
            }
            pc->type = type;
            break;
        default:
            if (lmd_pb_skip(r, field, wt, 0) != LMD_OK) {
                return LMD_ERROR;
            }
        }
    }

    if (pc->len == 0) {
        return lmd_pb_fail(r, r->p, 0, NULL, "the piece is empty");
    }
    return LMD_OK;
}


static int
lmd_spm_trainer(struct lmd_pb *r, struct lmd_spm_model *m)
{
    const uint8_t  *at;
    uint32_t        field;
    unsigned        wt;
    int32_t         v;

    while (r->p < r->end) {
        at = r->p;
        if (lmd_pb_tag(r, &field, &wt) != LMD_OK) {
            return LMD_ERROR;
        }
        switch (field) {
        case 3:
            if (lmd_pb_int32(r, at, 3, "model_type", wt, &v) != LMD_OK) {
                return LMD_ERROR;
            }
            if (v < LMD_SPM_UNIGRAM || v > LMD_SPM_CHAR) {
                return lmd_pb_fail(r, at, 3, "model_type", "unknown model "
                                   "type %d", (int) v);
            }
            m->model_type = v;
            break;
        case 35:
            if (lmd_pb_int32(r, at, 35, "byte_fallback", wt, &v) != LMD_OK) {
                return LMD_ERROR;
            }
            m->byte_fallback = v != 0;
            break;
        case 40:
            if (lmd_pb_int32(r, at, 40, "unk_id", wt, &m->unk_id) != LMD_OK) {
                return LMD_ERROR;
            }
            break;
        case 41:
            if (lmd_pb_int32(r, at, 41, "bos_id", wt, &m->bos_id) != LMD_OK) {
                return LMD_ERROR;
            }
            break;
        case 42:
            if (lmd_pb_int32(r, at, 42, "eos_id", wt, &m->eos_id) != LMD_OK) {
                return LMD_ERROR;
            }
            break;
        case 43:
            if (lmd_pb_int32(r, at, 43, "pad_id", wt, &m->pad_id) != LMD_OK) {
                return LMD_ERROR;
            }
            break;
        default:
            if (lmd_pb_skip(r, field, wt, 0) != LMD_OK) {
                return LMD_ERROR;
            }
        }
    }
    return LMD_OK;
}


static int
lmd_spm_normalizer(struct lmd_pb *r, struct lmd_spm_model *m)
{
    const uint8_t  *at, *data;
    uint32_t        field;
    unsigned        wt;
    size_t          len;
    int32_t         v;
    char           *name;

    while (r->p < r->end) {
        at = r->p;
        if (lmd_pb_tag(r, &field, &wt) != LMD_OK) {
            return LMD_ERROR;
        }
        switch (field) {
        case 1:
            if (lmd_pb_want(r, at, 1, "name", wt, LMD_PB_BYTES) != LMD_OK
                || lmd_pb_bytes(r, &data, &len, 1, "name") != LMD_OK)
            {
                return LMD_ERROR;
            }
            name = malloc(len + 1);
            if (name == NULL) {
                return lmd_pb_fail(r, at, 1, "name", "out of memory");
            }
            memcpy(name, data, len);
            name[len] = '\0';
            free(m->normalizer_name);
            m->normalizer_name = name;
            break;
        case 3:
            if (lmd_pb_int32(r, at, 3, "add_dummy_prefix", wt, &v)
                != LMD_OK)
            {
                return LMD_ERROR;
            }
            m->add_dummy_prefix = v != 0;
            break;
        case 4:
            if (lmd_pb_int32(r, at, 4, "remove_extra_whitespaces", wt, &v)
                != LMD_OK)
            {
                return LMD_ERROR;
            }
            m->remove_extra_whitespaces = v != 0;
            break;
        case 5:
            if (lmd_pb_int32(r, at, 5, "escape_whitespaces", wt, &v)
                != LMD_OK)
            {
                return LMD_ERROR;
            }
            m->escape_whitespaces = v != 0;
            break;
        default:
            if (lmd_pb_skip(r, field, wt, 0) != LMD_OK) {
                return LMD_ERROR;
            }
        }
    }
    return LMD_OK;
}


/* The first walk: checks the top-level framing, counts the pieces and
 * adds up their message sizes (each string fits in its message). */
static int
lmd_spm_count(struct lmd_pb *r, size_t *npieces, size_t *store)
{
    const uint8_t  *at, *data;
    uint32_t        field;
    unsigned        wt;
    size_t          len;

    *npieces = 0;
    *store = 0;
    while (r->p < r->end) {
        at = r->p;
        if (lmd_pb_tag(r, &field, &wt) != LMD_OK) {
            return LMD_ERROR;
        }
        if (field == 1) {
            if (lmd_pb_want(r, at, 1, "pieces", wt, LMD_PB_BYTES) != LMD_OK
                || lmd_pb_bytes(r, &data, &len, 1, "pieces") != LMD_OK)
            {
                return LMD_ERROR;
            }
            (*npieces)++;
            *store += len + 1;
        } else if (lmd_pb_skip(r, field, wt, 0) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


/* The second walk: every field, into m (pieces and store allocated). */
static int
lmd_spm_fill(struct lmd_pb *r, struct lmd_spm_model *m, char *store)
{
    const uint8_t  *at, *data;
    uint32_t        field;
    unsigned        wt;
    size_t          len;
    struct lmd_pb   sub;
    const char     *name;
    char            ctx[48];
    static const char  *names[] = { "pieces", "trainer_spec",
                                    "normalizer_spec" };

    while (r->p < r->end) {
        at = r->p;
        if (lmd_pb_tag(r, &field, &wt) != LMD_OK) {
            return LMD_ERROR;
        }
        if (field < 1 || field > 3) {
            if (lmd_pb_skip(r, field, wt, 0) != LMD_OK) {
                return LMD_ERROR;
            }
            continue;
        }

        name = names[field - 1];
        if (lmd_pb_want(r, at, field, name, wt, LMD_PB_BYTES) != LMD_OK
            || lmd_pb_bytes(r, &data, &len, field, name) != LMD_OK)
        {
            return LMD_ERROR;
        }
        if (field == 1) {
            snprintf(ctx, sizeof(ctx), "pieces[%zu]: ", m->npieces);
        } else {
            snprintf(ctx, sizeof(ctx), "%s: ", name);
        }

        sub = *r;
        sub.p = data;
        sub.end = data + len;
        sub.ctx = ctx;
        if (field == 1) {
            if (lmd_spm_piece(&sub, &m->pieces[m->npieces], store)
                != LMD_OK)
            {
                return LMD_ERROR;
            }
            m->npieces++;
            store += len + 1;
        } else if (field == 2) {
            if (lmd_spm_trainer(&sub, m) != LMD_OK) {
                return LMD_ERROR;
            }
        } else if (lmd_spm_normalizer(&sub, m) != LMD_OK) {
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


/* ------------------------------------------------------------- interface */

int
lmd_spm_parse(const uint8_t *data, size_t len, struct lmd_spm_model *m,
    char *err, size_t errlen)
{
    struct lmd_pb  r;
    size_t         npieces, store_len, i;
    char          *store;
    int32_t        ids[4];
    static const char  *id_names[] = { "unk_id", "bos_id", "eos_id",
                                       "pad_id" };

    memset(m, 0, sizeof(*m));
    m->model_type = LMD_SPM_UNIGRAM;
    m->unk_id = 0;
    m->bos_id = 1;
    m->eos_id = 2;
    m->pad_id = -1;
    m->add_dummy_prefix = 1;
    m->remove_extra_whitespaces = 1;
    m->escape_whitespaces = 1;

    r.start = data;
    r.p = data;
    r.end = data + len;
    r.ctx = "";
    r.err = err;
    r.errlen = errlen;

    if (lmd_spm_count(&r, &npieces, &store_len) != LMD_OK) {
        return LMD_ERROR;
    }
    if (npieces == 0) {
        snprintf(err, errlen, "no pieces: not a sentencepiece model");
        return LMD_ERROR;
    }

    m->pieces = calloc(npieces, sizeof(struct lmd_spm_piece));
    store = malloc(store_len);
    if (m->pieces == NULL || store == NULL) {
        free(store);
        snprintf(err, errlen, "out of memory for %zu pieces", npieces);
        goto failed;
    }
    m->pieces[0].piece = store;         /* lmd_spm_free frees it */

    r.p = data;
    if (lmd_spm_fill(&r, m, store) != LMD_OK) {
        goto failed;
    }

    ids[0] = m->unk_id;
    ids[1] = m->bos_id;
    ids[2] = m->eos_id;
    ids[3] = m->pad_id;
    for (i = 0; i < 4; i++) {
        if (ids[i] < -1 || (ids[i] >= 0 && (size_t) ids[i] >= npieces)) {
            snprintf(err, errlen, "trainer_spec.%s %d is out of range "
                     "(%zu pieces)", id_names[i], (int) ids[i], npieces);
            goto failed;
        }
    }
    return LMD_OK;

failed:

    lmd_spm_free(m);
    return LMD_ERROR;
}


int
lmd_spm_load(const char *path, struct lmd_spm_model *m, char *err,
    size_t errlen)
{
    struct stat  st;
    uint8_t     *buf;
    size_t       got;
    ssize_t      n;
    int          fd, rc;
    char         e[LMD_ERR_LEN];

    memset(m, 0, sizeof(*m));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return LMD_ERROR;
    }
    if (fstat(fd, &st) == -1) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return LMD_ERROR;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return LMD_ERROR;
    }
    if ((uint64_t) st.st_size > LMD_SPM_MAX_FILE) {
        snprintf(err, errlen, "%s: %lld bytes, more than a sentencepiece "
                 "model can be (%u MiB at most)", path,
                 (long long) st.st_size, LMD_SPM_MAX_FILE >> 20);
        close(fd);
        return LMD_ERROR;
    }

    buf = malloc(st.st_size > 0 ? (size_t) st.st_size : 1);
    if (buf == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        close(fd);
        return LMD_ERROR;
    }
    for (got = 0; got < (size_t) st.st_size; got += (size_t) n) {
        n = read(fd, buf + got, (size_t) st.st_size - got);
        if (n == -1 && errno == EINTR) {
            n = 0;
            continue;
        }
        if (n <= 0) {
            snprintf(err, errlen, "%s: %s", path,
                     n == 0 ? "file shrank while read" : strerror(errno));
            free(buf);
            close(fd);
            return LMD_ERROR;
        }
    }
    close(fd);

    rc = lmd_spm_parse(buf, got, m, e, sizeof(e));
    if (rc != LMD_OK) {
        snprintf(err, errlen, "%s: %s", path, e);
    }
    free(buf);
    return rc;
}


void
lmd_spm_free(struct lmd_spm_model *m)
{
    if (m->pieces != NULL) {
        free(m->pieces[0].piece);     /* the block of every string */
        free(m->pieces);
    }
    free(m->normalizer_name);
    memset(m, 0, sizeof(*m));
}
