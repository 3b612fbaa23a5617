/*
 * lmd_module_load.c -- the module loader.
 *
 * dlopen(RTLD_NOW | RTLD_LOCAL): unresolved symbols fail here, at start-up,
 * not in the middle of a request, and modules cannot see each other's
 * symbols.  Each refusal is one sentence that names the file and the fact
 * (both ABI versions, both signatures, the kind found and wanted).
 *
 * RTLD_NODELETE: a closed module stays mapped.  The modules built with
 * CUDA (cuda-awq, int8-kv) bring the CUDA runtime and libstdc++, which
 * keep allocations of their own (exception pools) that unmapping them
 * would leave behind; a reload that replaces a module's file still
 * loads the new file (another inode) beside the old.
 */

#include "lmd_core.h"
#include "lmd_module_load.h"

#include <dlfcn.h>


int
lmd_module_file_name(const char *name, int kind, char *buf, size_t len)
{
    size_t  n, i;
    int     w;

    /* the int8-kv module holds both quantized codecs */
    if (kind == LMD_MODULE_KV_CODEC
        && (strcmp(name, "int8") == 0 || strcmp(name, "int4") == 0))
    {
        name = "int8";
    }
    w = snprintf(buf, len, "%s%s.so",
                 kind == LMD_MODULE_KV_CODEC ? "lmd_kv_" : "lmd_engine_",
                 name);
    if (w < 0 || (size_t) w >= len) {
        return LMD_ERROR;
    }
    n = strlen(kind == LMD_MODULE_KV_CODEC ? "lmd_kv_" : "lmd_engine_");
    for (i = n; buf[i] != '\0'; i++) {
        if (buf[i] == '-') {
            buf[i] = '_';
        } else if (buf[i] == '/') {
            return LMD_ERROR;       /* a name, never a path */
        }
    }
    return LMD_OK;
}


static const char *
lmd_module_kind_name(int kind)
{
    switch (kind) {
    case LMD_MODULE_ENGINE:   return "an engine";
    case LMD_MODULE_KV_CODEC: return "a KV codec";
    default:                  return "of an unknown kind";
    }
}


struct lmd_module_handle *
lmd_module_open(const char *dir, const char *file, int kind, char *err,
    size_t errlen)
{
    struct lmd_module_handle  *h;
    const struct lmd_module   *m;
    char                       path[4096];
    void                      *dl;

    if (snprintf(path, sizeof(path), "%s/%s", dir, file)
        >= (int) sizeof(path))
    {
        snprintf(err, errlen, "module path \"%s/%s\" is too long", dir,
                 file);
        return NULL;
    }

    if (access(path, F_OK) != 0) {
        snprintf(err, errlen, "module \"%s\" not found: %s (is "
                 "modules_path right, and was the module built?)", path,
                 strerror(errno));
        return NULL;
    }

    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (dl == NULL) {
        snprintf(err, errlen, "cannot load module: %s", dlerror());
        return NULL;
    }

    m = dlsym(dl, "lmd_module");
    if (m == NULL) {
        snprintf(err, errlen, "module \"%s\" does not export the symbol "
                 "\"lmd_module\": not an lmd module", path);
        goto failed;
    }
    if (m->abi_version != LMD_MODULE_ABI_VERSION) {
        snprintf(err, errlen, "module \"%s\" has ABI version %u, this lmd "
                 "needs %u: rebuild the module", path, m->abi_version,
                 (unsigned) LMD_MODULE_ABI_VERSION);
        goto failed;
    }
    if (m->signature == NULL
        || strcmp(m->signature, LMD_MODULE_SIGNATURE) != 0)
    {
        snprintf(err, errlen, "module \"%s\" was built as \"%s\", this lmd "
                 "as \"%s\": rebuild the module", path,
                 m->signature ? m->signature : "(none)",
                 LMD_MODULE_SIGNATURE);
        goto failed;
    }
    if (m->kind != kind) {
        snprintf(err, errlen, "module \"%s\" is %s module, not %s module",
                 path, lmd_module_kind_name(m->kind),
                 lmd_module_kind_name(kind));
        goto failed;
    }
    if (m->name == NULL
        || (kind == LMD_MODULE_ENGINE
            && (m->ops.engine.open == NULL || m->ops.engine.close == NULL))
        || (kind == LMD_MODULE_KV_CODEC && m->ops.kv_codec.find == NULL))
    {
        snprintf(err, errlen, "module \"%s\" lacks a name or a required "
                 "hook (%s)", path,
                 kind == LMD_MODULE_KV_CODEC ? "find" : "open, close");
        goto failed;
    }

    h = calloc(1, sizeof(struct lmd_module_handle));
    if (h == NULL || (h->path = strdup(path)) == NULL) {
        free(h);
        snprintf(err, errlen, "out of memory loading \"%s\"", path);
        goto failed;
    }
    h->dl = dl;
    h->module = m;
    return h;

failed:
    dlclose(dl);
    return NULL;
}


void
lmd_module_close(struct lmd_module_handle *h)
{
    if (h == NULL) {
        return;
    }
    dlclose(h->dl);
    free(h->path);
    free(h);
}
