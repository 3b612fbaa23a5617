/*
 * lmd_safetensors_write.c -- writes one .safetensors file: the demo
 * model's weights and the tests' hand-made models.
 *
 * The layout is the one the reference implementation writes and reads
 * back: the JSON header padded with spaces to a multiple of 8 bytes, the
 * tensors back to back in the data section with no gaps (its reader
 * insists on that), larger element types first so that every tensor
 * starts on a multiple of its element size.  "__metadata__" says
 * {"format": "pt"}, which transformers looks for.  The file is written
 * beside its final name and renamed into place, so a reader never sees
 * half a file.
 */

#include "lmd_safetensors.h"
#include "lmd_common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>


/* safetensors' names of enum lmd_dtype. */
static const char  *lmd_stw_dtypes[LMD_DTYPE_COUNT] = {
    "F32", "F16", "BF16", "I8", "I32"
};


struct lmd_stw_item {
    const struct lmd_tensor  *t;
    size_t                    index;    /* the caller's order, for ties */
    uint64_t                  nbytes;
};


static void
lmd_stw_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
lmd_stw_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}


/* Larger elements first, else the caller's order. */
static int
lmd_stw_order(const void *a, const void *b)
{
    const struct lmd_stw_item  *x = a, *y = b;
    size_t                      sx, sy;

    sx = lmd_dtype_size(x->t->dtype);
    sy = lmd_dtype_size(y->t->dtype);
    if (sx != sy) {
        return sx > sy ? -1 : 1;
    }
    return x->index < y->index ? -1 : (x->index > y->index);
}


static int
lmd_stw_by_name(const void *a, const void *b)
{
    const struct lmd_stw_item  *x = a, *y = b;

    return strcmp(x->t->name, y->t->name);
}


/* Checks each tensor and works out its size. */
static int
lmd_stw_check(const char *path, struct lmd_stw_item *items, size_t n,
    char *err, size_t errlen)
{
    const struct lmd_tensor  *t;
    uint64_t                  count;
    size_t                    i, esize;
    int                       d;

    for (i = 0; i < n; i++) {
        t = items[i].t;
        if (t->name == NULL || t->name[0] == '\0'
            || strcmp(t->name, "__metadata__") == 0)
        {
            lmd_stw_err(err, errlen, "%s: tensor %zu has no usable name",
                        path, i);
            return LMD_ERROR;
        }
        esize = lmd_dtype_size(t->dtype);
        if (esize == 0) {
            lmd_stw_err(err, errlen, "%s: tensor %s: unknown dtype %d",
                        path, t->name, t->dtype);
            return LMD_ERROR;
        }
        if (t->n_dims < 0 || t->n_dims > LMD_TENSOR_MAX_DIMS) {
            lmd_stw_err(err, errlen, "%s: tensor %s: %d dimensions", path,
                        t->name, t->n_dims);
            return LMD_ERROR;
        }
        count = 1;
        for (d = 0; d < t->n_dims; d++) {
            if (t->shape[d] < 0 || (t->shape[d] != 0
                                    && count > UINT64_MAX / 16
                                               / (uint64_t) t->shape[d]))
            {
                lmd_stw_err(err, errlen, "%s: tensor %s: bad shape", path,
                            t->name);
                return LMD_ERROR;
            }
            count *= (uint64_t) t->shape[d];
        }
        items[i].nbytes = count * esize;
        if (items[i].nbytes != 0 && t->data == NULL) {
            lmd_stw_err(err, errlen, "%s: tensor %s: no data", path,
                        t->name);
            return LMD_ERROR;
        }
    }

    qsort(items, n, sizeof(*items), lmd_stw_by_name);
    for (i = 1; i < n; i++) {
        if (strcmp(items[i - 1].t->name, items[i].t->name) == 0) {
            lmd_stw_err(err, errlen, "%s: tensor %s appears twice", path,
                        items[i].t->name);
            return LMD_ERROR;
        }
    }
    qsort(items, n, sizeof(*items), lmd_stw_order);
    return LMD_OK;
}


/* "[2,3]" for a shape, "[0,24]" for offsets. */
static cJSON *
lmd_stw_ints(const uint64_t *v, int n)
{
    char    buf[LMD_TENSOR_MAX_DIMS * 24 + 4];
    size_t  len;
    int     i;

    len = 0;
    buf[len++] = '[';
    for (i = 0; i < n; i++) {
        len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%s%" PRIu64,
                                 i ? "," : "", v[i]);
    }
    buf[len++] = ']';
    buf[len] = '\0';
    return cJSON_CreateRaw(buf);
}


/* The header's JSON, unpadded; NULL when out of memory. */
static char *
lmd_stw_header(const struct lmd_stw_item *items, size_t n)
{
    const struct lmd_tensor  *t;
    cJSON                    *root, *e, *meta;
    uint64_t                  dims[LMD_TENSOR_MAX_DIMS], offs[2];
    char                     *text;
    size_t                    i;
    int                       d, ok;

    root = cJSON_CreateObject();
    meta = cJSON_AddObjectToObject(root, "__metadata__");
    ok = root != NULL && meta != NULL
         && cJSON_AddStringToObject(meta, "format", "pt") != NULL;
    offs[1] = 0;
    for (i = 0; ok && i < n; i++) {
        t = items[i].t;
        offs[0] = offs[1];
        offs[1] = offs[0] + items[i].nbytes;
        for (d = 0; d < t->n_dims; d++) {
            dims[d] = (uint64_t) t->shape[d];
        }
        e = cJSON_AddObjectToObject(root, t->name);
        ok = e != NULL
             && cJSON_AddStringToObject(e, "dtype",
                                        lmd_stw_dtypes[t->dtype]) != NULL
             && cJSON_AddItemToObject(e, "shape",
                                      lmd_stw_ints(dims, t->n_dims))
             && cJSON_AddItemToObject(e, "data_offsets",
                                      lmd_stw_ints(offs, 2));
    }
    text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}


static int
lmd_stw_put(FILE *f, const void *p, size_t n)
{
    return n == 0 || fwrite(p, 1, n, f) == n ? LMD_OK : LMD_ERROR;
}


int
lmd_safetensors_write(const char *path, const struct lmd_tensor *t,
    size_t n, char *err, size_t errlen)
{
    struct lmd_stw_item  *items;
    static const char     spaces[8] = "        ";
    uint8_t               len8[8];
    uint64_t              hlen;
    size_t                i, json_len, pad;
    FILE                 *f;
    char                 *json, *tmp;
    int                   rc, k;

    items = calloc(n ? n : 1, sizeof(*items));
    if (items == NULL) {
        lmd_stw_err(err, errlen, "%s: out of memory", path);
        return LMD_ERROR;
    }
    for (i = 0; i < n; i++) {
        items[i].t = &t[i];
        items[i].index = i;
    }
    if (lmd_stw_check(path, items, n, err, errlen) != LMD_OK) {
        free(items);
        return LMD_ERROR;
    }
    json = lmd_stw_header(items, n);
    tmp = NULL;
    if (json == NULL || asprintf(&tmp, "%s.tmp%ld", path, (long) getpid())
                        < 0)
    {
        lmd_stw_err(err, errlen, "%s: out of memory", path);
        free(json);
        free(items);
        return LMD_ERROR;
    }

    json_len = strlen(json);
    pad = (8 - json_len % 8) % 8;
    hlen = json_len + pad;
    for (k = 0; k < 8; k++) {
        len8[k] = (uint8_t) (hlen >> (8 * k));
    }

    rc = LMD_ERROR;
    f = fopen(tmp, "wb");
    if (f == NULL) {
        lmd_stw_err(err, errlen, "%s: cannot create: %s", tmp,
                    strerror(errno));
        goto done;
    }
    if (lmd_stw_put(f, len8, 8) == LMD_OK
        && lmd_stw_put(f, json, json_len) == LMD_OK
        && lmd_stw_put(f, spaces, pad) == LMD_OK)
    {
        rc = LMD_OK;
        for (i = 0; rc == LMD_OK && i < n; i++) {
            rc = lmd_stw_put(f, items[i].t->data, (size_t) items[i].nbytes);
        }
    }
    if (fclose(f) != 0 || rc != LMD_OK) {
        lmd_stw_err(err, errlen, "%s: write failed: %s", tmp,
                    strerror(errno));
        unlink(tmp);
        rc = LMD_ERROR;
        goto done;
    }
    if (rename(tmp, path) != 0) {
        lmd_stw_err(err, errlen, "%s: cannot rename into place: %s", path,
                    strerror(errno));
        unlink(tmp);
        rc = LMD_ERROR;
    }

done:
    free(tmp);
    free(json);
    free(items);
    return rc;
}
