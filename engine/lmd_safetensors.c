/*
 * lmd_safetensors.c -- a model folder's tensors, read by mmap and checked
 * before anything uses them.
 *
 * A .safetensors file is an 8-byte little-endian header length N, N bytes
 * of JSON, then the data section:
 *
 *   {"NAME": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
 *    ..., "__metadata__": {"format": "pt"}}
 *
 * with offsets relative to the start of the data section.  Every entry
 * is checked (JSON types, known dtype, at most 4 non-negative dims, shape
 * times element size equal to the byte range, the range inside the data
 * section, no two ranges overlapping, no name twice) and every failure
 * is one line naming the file and, where there is one, the tensor.
 *
 * A sharded model has model.safetensors.index.json, whose "weight_map"
 * says which file holds each tensor; each distinct shard is opened (its
 * name must be a plain file name inside the folder) and each mapped
 * tensor must really be in the shard named for it.
 *
 * Design: one mapping per file, kept until close; the tensors of every
 * file sit in one array sorted by name, so a lookup is a binary search.
 * Names are copied out of the parsed JSON into one block per file (the
 * header's length bounds their total), so the JSON is freed right after
 * the checks.
 */

#include "lmd_file.h"
#include "lmd_safetensors.h"
#include "lmd_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

/* The reference implementation's bound on the JSON header. */
#define LMD_ST_MAX_HEADER   100000000ull
/* An index.json is a few hundred kilobytes at most. */
#define LMD_ST_MAX_INDEX    (64u << 20)
/* Integers above 2^53 do not survive JSON's doubles. */
#define LMD_ST_MAX_INT      9007199254740992.0

#define LMD_ST_INDEX        "model.safetensors.index.json"
#define LMD_ST_SINGLE       "model.safetensors"

struct lmd_st_file {
    char                *path;
    void                *map;
    size_t               map_len;
    char                *names;     /* the names of this file's tensors */
};

struct lmd_safetensors {
    struct lmd_st_file  *files;
    size_t               nfiles;
    struct lmd_tensor   *tensors;   /* sorted by name once all are read */
    size_t               n;
    size_t               cap;
};

/* One tensor's byte range, for the overlap check. */
struct lmd_st_range {
    uint64_t             begin;
    uint64_t             end;
    const char          *name;
};


static void
lmd_st_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
lmd_st_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}


static struct lmd_safetensors *
lmd_st_new(void)
{
    return calloc(1, sizeof(struct lmd_safetensors));
}


void
lmd_safetensors_close(struct lmd_safetensors *st)
{
    size_t  i;

    if (st == NULL) {
        return;
    }
    for (i = 0; i < st->nfiles; i++) {
        if (st->files[i].map != NULL) {
            munmap(st->files[i].map, st->files[i].map_len);
        }
        free(st->files[i].names);
        free(st->files[i].path);
    }
    free(st->files);
    free(st->tensors);
    free(st);
}


/* A JSON number that is a whole number in [0, 2^53]. */
static int
lmd_st_uint(const cJSON *v, uint64_t *out)
{
    double  d;

    if (!cJSON_IsNumber(v)) {
        return LMD_ERROR;
    }
    d = v->valuedouble;
    if (!(d >= 0.0) || d > LMD_ST_MAX_INT || (double) (uint64_t) d != d) {
        return LMD_ERROR;
    }
    *out = (uint64_t) d;
    return LMD_OK;
}


static int
lmd_st_range_cmp(const void *a, const void *b)
{
    const struct lmd_st_range  *x = a, *y = b;

    if (x->begin != y->begin) {
        return x->begin < y->begin ? -1 : 1;
    }
    return x->end < y->end ? -1 : (x->end > y->end);
}


static int
lmd_st_tensor_cmp(const void *a, const void *b)
{
    const struct lmd_tensor  *x = a, *y = b;

    return strcmp(x->name, y->name);
}


/* ------------------------------------------------------------------------
 * One file
 * ------------------------------------------------------------------------ */

/* Checks one header entry and fills t (but for name and file). */
static int
lmd_st_entry(const char *path, const cJSON *e, const uint8_t *data,
    size_t data_len, struct lmd_tensor *t, struct lmd_st_range *r,
    char *err, size_t errlen)
{
    const char   *name = e->string;
    const cJSON  *dt, *shape, *offs, *d;
    uint64_t      dim, count, begin, end, nbytes, esize;
    int           i, n;

    if (!cJSON_IsObject(e)) {
        lmd_st_err(err, errlen, "%s: tensor %s: not a JSON object", path,
                   name);
        return LMD_ERROR;
    }
    dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) {
        lmd_st_err(err, errlen, "%s: tensor %s: \"dtype\" is missing or "
                   "not a string", path, name);
        return LMD_ERROR;
    }
    t->dtype = lmd_dtype_from_safetensors(dt->valuestring);
    if (t->dtype < 0) {
        lmd_st_err(err, errlen, "%s: tensor %s: unsupported dtype %s",
                   path, name, dt->valuestring);
        return LMD_ERROR;
    }
    if (!cJSON_IsArray(shape)) {
        lmd_st_err(err, errlen, "%s: tensor %s: \"shape\" is missing or "
                   "not an array", path, name);
        return LMD_ERROR;
    }
    n = cJSON_GetArraySize(shape);
    if (n > LMD_TENSOR_MAX_DIMS) {
        lmd_st_err(err, errlen, "%s: tensor %s: %d dimensions, more than "
                   "%d", path, name, n, LMD_TENSOR_MAX_DIMS);
        return LMD_ERROR;
    }
    t->n_dims = n;
    count = 1;
    i = 0;
    cJSON_ArrayForEach(d, shape) {
        if (lmd_st_uint(d, &dim) != LMD_OK) {
            lmd_st_err(err, errlen, "%s: tensor %s: shape dimension %d is "
                       "not a non-negative integer", path, name, i);
            return LMD_ERROR;
        }
        t->shape[i++] = (int64_t) dim;
        if (dim != 0 && count > UINT64_MAX / dim) {
            lmd_st_err(err, errlen, "%s: tensor %s: shape is too large",
                       path, name);
            return LMD_ERROR;
        }
        count *= dim;
    }
    for (; i < LMD_TENSOR_MAX_DIMS; i++) {
        t->shape[i] = 0;
    }

    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2
        || lmd_st_uint(cJSON_GetArrayItem(offs, 0), &begin) != LMD_OK
        || lmd_st_uint(cJSON_GetArrayItem(offs, 1), &end) != LMD_OK)
    {
        lmd_st_err(err, errlen, "%s: tensor %s: \"data_offsets\" must be "
                   "[begin, end], two non-negative integers", path, name);
        return LMD_ERROR;
    }
    if (begin > end) {
        lmd_st_err(err, errlen, "%s: tensor %s: data_offsets [%llu, %llu] "
                   "end before they begin", path, name,
                   (unsigned long long) begin, (unsigned long long) end);
        return LMD_ERROR;
    }
    if (end > data_len) {
        lmd_st_err(err, errlen, "%s: tensor %s: data_offsets [%llu, %llu] "
                   "reach past the data section (%zu bytes)", path, name,
                   (unsigned long long) begin, (unsigned long long) end,
                   data_len);
        return LMD_ERROR;
    }
    esize = lmd_dtype_size(t->dtype);
    if (count > UINT64_MAX / esize) {
        lmd_st_err(err, errlen, "%s: tensor %s: shape is too large", path,
                   name);
        return LMD_ERROR;
    }
    nbytes = count * esize;
    if (nbytes != end - begin) {
        lmd_st_err(err, errlen, "%s: tensor %s: shape and dtype %s make "
                   "%llu bytes but data_offsets [%llu, %llu] hold %llu",
                   path, name, dt->valuestring,
                   (unsigned long long) nbytes, (unsigned long long) begin,
                   (unsigned long long) end,
                   (unsigned long long) (end - begin));
        return LMD_ERROR;
    }
    t->data = data + begin;
    t->nbytes = (size_t) nbytes;
    r->begin = begin;
    r->end = end;
    r->name = name;
    return LMD_OK;
}


/* No two non-empty ranges share a byte. */
static int
lmd_st_check_overlap(const char *path, struct lmd_st_range *r, size_t n,
    char *err, size_t errlen)
{
    size_t  i, last;
    int     have;

    qsort(r, n, sizeof(*r), lmd_st_range_cmp);
    have = 0;
    last = 0;
    for (i = 0; i < n; i++) {
        if (r[i].begin == r[i].end) {
            continue;
        }
        if (have && r[last].end > r[i].begin) {
            lmd_st_err(err, errlen, "%s: tensor %s overlaps tensor %s",
                       path, r[i].name, r[last].name);
            return LMD_ERROR;
        }
        if (!have || r[i].end > r[last].end) {
            last = i;
        }
        have = 1;
    }
    return LMD_OK;
}


/* No name twice in one file's n tensors at t (sorted here). */
static int
lmd_st_check_twice(const char *path, struct lmd_tensor *t, size_t n,
    char *err, size_t errlen)
{
    size_t  i;

    if (n > 1) {
        qsort(t, n, sizeof(*t), lmd_st_tensor_cmp);
    }
    for (i = 1; i < n; i++) {
        if (strcmp(t[i - 1].name, t[i].name) == 0) {
            lmd_st_err(err, errlen, "%s: tensor %s appears twice", path,
                       t[i].name);
            return LMD_ERROR;
        }
    }
    return LMD_OK;
}


/* Checks the parsed header of f and appends its tensors to st. */
static int
lmd_st_header(struct lmd_safetensors *st, struct lmd_st_file *f,
    const cJSON *root, const uint8_t *data, size_t data_len, size_t hlen,
    char *err, size_t errlen)
{
    const cJSON          *e;
    struct lmd_st_range  *ranges;
    struct lmd_tensor    *t;
    size_t                count, need, nr, used, len;
    int                   rc;

    count = 0;
    cJSON_ArrayForEach(e, root) {
        count++;
    }
    need = st->n + count;
    if (need > st->cap) {
        t = realloc(st->tensors, need * sizeof(*t));
        if (t == NULL) {
            lmd_st_err(err, errlen, "%s: out of memory", f->path);
            return LMD_ERROR;
        }
        st->tensors = t;
        st->cap = need;
    }
    /* Each name is shorter than its quoted JSON key, so the header's
     * length bounds the names' total. */
    f->names = malloc(hlen + 1);
    ranges = malloc((count ? count : 1) * sizeof(*ranges));
    if (f->names == NULL || ranges == NULL) {
        free(ranges);
        lmd_st_err(err, errlen, "%s: out of memory", f->path);
        return LMD_ERROR;
    }

    nr = 0;
    used = 0;
    rc = LMD_OK;
    cJSON_ArrayForEach(e, root) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(e)) {
                lmd_st_err(err, errlen, "%s: \"__metadata__\" is not a "
                           "JSON object", f->path);
                rc = LMD_ERROR;
                break;
            }
            continue;
        }
        t = &st->tensors[st->n];
        if (lmd_st_entry(f->path, e, data, data_len, t, &ranges[nr], err,
                         errlen) != LMD_OK)
        {
            rc = LMD_ERROR;
            break;
        }
        len = strlen(e->string) + 1;
        if (used + len > hlen + 1) {
            lmd_st_err(err, errlen, "%s: tensor names longer than the "
                       "header", f->path);
            rc = LMD_ERROR;
            break;
        }
        memcpy(f->names + used, e->string, len);
        t->name = f->names + used;
        t->file = f->path;
        ranges[nr].name = t->name;
        used += len;
        st->n++;
        nr++;
    }
    if (rc == LMD_OK) {
        rc = lmd_st_check_twice(f->path, st->tensors + st->n - nr, nr, err,
                                errlen);
    }
    if (rc == LMD_OK) {
        rc = lmd_st_check_overlap(f->path, ranges, nr, err, errlen);
    }
    free(ranges);
    return rc;
}


/* Maps path, checks it and appends its tensors to st. */
static int
lmd_st_add_file(struct lmd_safetensors *st, const char *path, char *err,
    size_t errlen)
{
    struct lmd_st_file  *f;
    struct stat          sb;
    const uint8_t       *p;
    const char          *end;
    cJSON               *root;
    char                *json;
    uint64_t             hlen;
    size_t               size, pos;
    int                  fd, i, rc;

    f = realloc(st->files, (st->nfiles + 1) * sizeof(*f));
    if (f == NULL) {
        lmd_st_err(err, errlen, "%s: out of memory", path);
        return LMD_ERROR;
    }
    st->files = f;
    f = &st->files[st->nfiles];
    memset(f, 0, sizeof(*f));
    f->path = strdup(path);
    if (f->path == NULL) {
        lmd_st_err(err, errlen, "%s: out of memory", path);
        return LMD_ERROR;
    }
    st->nfiles++;               /* from here close() frees what f holds */

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        lmd_st_err(err, errlen, "%s: cannot open: %s", path,
                   strerror(errno));
        return LMD_ERROR;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        lmd_st_err(err, errlen, "%s: not a regular file", path);
        close(fd);
        return LMD_ERROR;
    }
    size = (size_t) sb.st_size;
    if (size < 8) {
        lmd_st_err(err, errlen, "%s: %zu bytes, too short for a "
                   "safetensors header", path, size);
        close(fd);
        return LMD_ERROR;
    }
    f->map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        lmd_st_err(err, errlen, "%s: cannot map: %s", path,
                   strerror(errno));
        return LMD_ERROR;
    }
    f->map_len = size;
    p = f->map;

    hlen = 0;
    for (i = 7; i >= 0; i--) {
        hlen = hlen << 8 | p[i];
    }
    if (hlen > size - 8) {
        lmd_st_err(err, errlen, "%s: header length %llu is past the end of "
                   "the file (%zu bytes)", path, (unsigned long long) hlen,
                   size);
        return LMD_ERROR;
    }
    if (hlen > LMD_ST_MAX_HEADER) {
        lmd_st_err(err, errlen, "%s: header length %llu is over the limit "
                   "of %llu bytes", path, (unsigned long long) hlen,
                   LMD_ST_MAX_HEADER);
        return LMD_ERROR;
    }

    /* cJSON wants a NUL-terminated copy to be safe on every version. */
    json = malloc((size_t) hlen + 1);
    if (json == NULL) {
        lmd_st_err(err, errlen, "%s: out of memory", path);
        return LMD_ERROR;
    }
    memcpy(json, p + 8, (size_t) hlen);
    json[hlen] = '\0';
    end = NULL;
    root = cJSON_ParseWithOpts(json, &end, 0);
    pos = end != NULL ? (size_t) (end - json) : 0;
    if (root != NULL) {
        /* Only the writer's padding may follow the object. */
        while (pos < hlen && (json[pos] == ' ' || json[pos] == '\t'
                              || json[pos] == '\n' || json[pos] == '\r'))
        {
            pos++;
        }
        if (pos != hlen) {
            cJSON_Delete(root);
            root = NULL;
        }
    }
    if (root == NULL) {
        lmd_st_err(err, errlen, "%s: invalid JSON in the header near byte "
                   "%zu", path, pos + 8);
        free(json);
        return LMD_ERROR;
    }
    if (!cJSON_IsObject(root)) {
        lmd_st_err(err, errlen, "%s: the header is not a JSON object", path);
        rc = LMD_ERROR;
    } else {
        rc = lmd_st_header(st, f, root, p + 8 + hlen,
                           size - 8 - (size_t) hlen, (size_t) hlen, err,
                           errlen);
    }
    cJSON_Delete(root);
    free(json);
    return rc;
}


/* Sorts the tensors by name; a name twice is an error. */
static int
lmd_st_finish(struct lmd_safetensors *st, char *err, size_t errlen)
{
    const struct lmd_tensor  *a, *b;
    size_t                    i;

    if (st->n > 1) {
        qsort(st->tensors, st->n, sizeof(*st->tensors), lmd_st_tensor_cmp);
    }
    for (i = 1; i < st->n; i++) {
        a = &st->tensors[i - 1];
        b = &st->tensors[i];
        if (strcmp(a->name, b->name) != 0) {
            continue;
        }
        if (a->file == b->file) {
            lmd_st_err(err, errlen, "%s: tensor %s appears twice", b->file,
                       b->name);
        } else {
            lmd_st_err(err, errlen, "%s: tensor %s is also in %s", b->file,
                       b->name, a->file);
        }
        return LMD_ERROR;
    }
    return LMD_OK;
}


struct lmd_safetensors *
lmd_safetensors_open_file(const char *path, char *err, size_t errlen)
{
    struct lmd_safetensors  *st;

    st = lmd_st_new();
    if (st == NULL) {
        lmd_st_err(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    if (lmd_st_add_file(st, path, err, errlen) != LMD_OK
        || lmd_st_finish(st, err, errlen) != LMD_OK)
    {
        lmd_safetensors_close(st);
        return NULL;
    }
    return st;
}


/* ------------------------------------------------------------------------
 * A sharded model
 * ------------------------------------------------------------------------ */

/* A shard name must stay inside the model folder: no '/', no "..". */
static int
lmd_st_plain_name(const char *s)
{
    return s[0] != '\0' && strcmp(s, ".") != 0 && strchr(s, '/') == NULL
           && strstr(s, "..") == NULL;
}


static int
lmd_st_open_index(struct lmd_safetensors *st, const char *dir,
    const char *ipath, char *err, size_t errlen)
{
    const cJSON   *map, *e;
    const char   **shards, *end;
    cJSON         *root;
    char          *text, *spath;
    size_t         len, nshards, i, k, count;
    int            rc;

    text = lmd_file_read(ipath, LMD_ST_MAX_INDEX, &len, err, errlen);
    if (text == NULL) {
        return LMD_ERROR;
    }
    end = NULL;
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (root == NULL) {
        lmd_st_err(err, errlen, "%s: invalid JSON near byte %zu", ipath,
                   end != NULL ? (size_t) (end - text) : 0);
        free(text);
        return LMD_ERROR;
    }
    free(text);

    rc = LMD_ERROR;
    shards = NULL;
    map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        lmd_st_err(err, errlen, "%s: \"weight_map\" is missing or not an "
                   "object", ipath);
        goto done;
    }
    count = (size_t) cJSON_GetArraySize(map);
    if (count == 0) {
        lmd_st_err(err, errlen, "%s: \"weight_map\" is empty", ipath);
        goto done;
    }
    shards = malloc(count * sizeof(*shards));
    if (shards == NULL) {
        lmd_st_err(err, errlen, "%s: out of memory", ipath);
        goto done;
    }

    /* The distinct shards, in the order the map first names them. */
    nshards = 0;
    cJSON_ArrayForEach(e, map) {
        if (!cJSON_IsString(e)) {
            lmd_st_err(err, errlen, "%s: tensor %s: the shard is not a "
                       "string", ipath, e->string);
            goto done;
        }
        if (!lmd_st_plain_name(e->valuestring)) {
            lmd_st_err(err, errlen, "%s: tensor %s: shard \"%s\" is not a "
                       "plain file name in the folder", ipath, e->string,
                       e->valuestring);
            goto done;
        }
        for (k = 0; k < nshards; k++) {
            if (strcmp(shards[k], e->valuestring) == 0) {
                break;
            }
        }
        if (k == nshards) {
            shards[nshards++] = e->valuestring;
        }
    }

    for (k = 0; k < nshards; k++) {
        if (asprintf(&spath, "%s/%s", dir, shards[k]) < 0) {
            lmd_st_err(err, errlen, "%s: out of memory", ipath);
            goto done;
        }
        if (lmd_st_add_file(st, spath, err, errlen) != LMD_OK) {
            len = strlen(err != NULL ? err : "");
            lmd_st_err(err != NULL ? err + len : NULL,
                       errlen > len ? errlen - len : 0,
                       " (a shard named by %s)", ipath);
            free(spath);
            goto done;
        }
        free(spath);
    }
    if (lmd_st_finish(st, err, errlen) != LMD_OK) {
        goto done;
    }

    /* Each mapped tensor is in the shard the map names. */
    cJSON_ArrayForEach(e, map) {
        const struct lmd_tensor  *t;

        for (i = 0; i < nshards; i++) {
            if (strcmp(shards[i], e->valuestring) == 0) {
                break;
            }
        }
        t = lmd_safetensors_find(st, e->string);
        if (t == NULL || t->file != st->files[i].path) {
            lmd_st_err(err, errlen, "%s: tensor %s is missing (%s puts it "
                       "there)", st->files[i].path, e->string, ipath);
            goto done;
        }
    }
    rc = LMD_OK;

done:
    free(shards);
    cJSON_Delete(root);
    return rc;
}


struct lmd_safetensors *
lmd_safetensors_open(const char *dir, char *err, size_t errlen)
{
    struct lmd_safetensors  *st;
    struct stat              sb;
    char                    *path;
    int                      rc, sharded;

    if (asprintf(&path, "%s/%s", dir, LMD_ST_INDEX) < 0) {
        lmd_st_err(err, errlen, "%s: out of memory", dir);
        return NULL;
    }
    /* Any answer but "no such file" means the index is there to read. */
    sharded = stat(path, &sb) == 0 || errno != ENOENT;
    if (!sharded) {
        free(path);
        if (asprintf(&path, "%s/%s", dir, LMD_ST_SINGLE) < 0) {
            lmd_st_err(err, errlen, "%s: out of memory", dir);
            return NULL;
        }
        if (stat(path, &sb) != 0 && errno == ENOENT) {
            lmd_st_err(err, errlen, "%s: no %s or %s", dir, LMD_ST_SINGLE,
                       LMD_ST_INDEX);
            free(path);
            return NULL;
        }
    }

    st = lmd_st_new();
    if (st == NULL) {
        lmd_st_err(err, errlen, "%s: out of memory", dir);
        free(path);
        return NULL;
    }
    if (sharded) {
        rc = lmd_st_open_index(st, dir, path, err, errlen);
    } else {
        rc = lmd_st_add_file(st, path, err, errlen);
        if (rc == LMD_OK) {
            rc = lmd_st_finish(st, err, errlen);
        }
    }
    free(path);
    if (rc != LMD_OK) {
        lmd_safetensors_close(st);
        return NULL;
    }
    return st;
}


/* ------------------------------------------------------------------------
 * Lookups
 * ------------------------------------------------------------------------ */

const struct lmd_tensor *
lmd_safetensors_find(const struct lmd_safetensors *st, const char *name)
{
    size_t  lo, hi, mid;
    int     c;

    if (st == NULL || name == NULL) {
        return NULL;
    }
    lo = 0;
    hi = st->n;
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = strcmp(name, st->tensors[mid].name);
        if (c == 0) {
            return &st->tensors[mid];
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}


size_t
lmd_safetensors_count(const struct lmd_safetensors *st)
{
    return st != NULL ? st->n : 0;
}


const struct lmd_tensor *
lmd_safetensors_at(const struct lmd_safetensors *st, size_t i)
{
    if (st == NULL || i >= st->n) {
        return NULL;
    }
    return &st->tensors[i];
}


const char *
lmd_safetensors_path(const struct lmd_safetensors *st)
{
    if (st == NULL || st->nfiles == 0) {
        return "";
    }
    return st->files[0].path;
}
