/*
 * lmd_http_static.c -- files from the configured html/ root: the chat page
 * and its assets.
 *
 * Safety comes in two layers.  lmd_sanitize_path() decodes the target and
 * refuses "..", NUL and bad escapes; then the file is opened relative to a
 * descriptor of the root with openat2(RESOLVE_BENEATH), so the kernel
 * refuses any symlink that leads out of the root (where openat2 is missing,
 * the resolved real path is checked against the root's instead).  Symlinks
 * that stay inside the root work.  There is no directory listing.
 *
 * Caching: ETag ("mtime-size" in hex, like nginx) and Last-Modified, with
 * If-None-Match taking precedence over If-Modified-Since (RFC 9110 13.2.2).
 * Every file goes out with X-Content-Type-Options: nosniff, HTML pages
 * with a Content-Security-Policy that allows only this origin's scripts,
 * styles and connections (no inline script).
 */

#include "lmd_http.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#if (LMD_HAVE_OPENAT2)
#include <linux/openat2.h>
#endif

#define LMD_HTTP_CSP                                                      \
    "default-src 'self'; script-src 'self'; style-src 'self'; "           \
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; "       \
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

struct lmd_mime {
    const char  *ext;
    const char  *type;
};

static const struct lmd_mime  lmd_mime_types[] = {
    { "html", "text/html; charset=utf-8" },
    { "htm", "text/html; charset=utf-8" },
    { "css", "text/css; charset=utf-8" },
    { "js", "text/javascript; charset=utf-8" },
    { "mjs", "text/javascript; charset=utf-8" },
    { "json", "application/json" },
    { "map", "application/json" },
    { "txt", "text/plain; charset=utf-8" },
    { "md", "text/markdown; charset=utf-8" },
    { "xml", "application/xml" },
    { "svg", "image/svg+xml" },
    { "png", "image/png" },
    { "jpg", "image/jpeg" },
    { "jpeg", "image/jpeg" },
    { "gif", "image/gif" },
    { "webp", "image/webp" },
    { "ico", "image/x-icon" },
    { "woff", "font/woff" },
    { "woff2", "font/woff2" },
    { "wasm", "application/wasm" },
    { "pdf", "application/pdf" },
    { "webmanifest", "application/manifest+json" },
};


static const char *
lmd_http_mime_type(const char *name)
{
    const char  *dot, *slash;
    size_t       i;

    dot = strrchr(name, '.');
    slash = strrchr(name, '/');
    if (dot == NULL || (slash != NULL && dot < slash)) {
        return "application/octet-stream";
    }
    for (i = 0; i < lmd_nelems(lmd_mime_types); i++) {
        if (strcasecmp(dot + 1, lmd_mime_types[i].ext) == 0) {
            return lmd_mime_types[i].type;
        }
    }
    return "application/octet-stream";
}


/* Opens rel beneath the root; -1 with errno set (EXDEV: an escape). */
static int
lmd_http_open_beneath(struct lmd_cycle *cycle, struct lmd_pool *pool,
    const char *rel)
{
#if (LMD_HAVE_OPENAT2)
    struct open_how  how;
    int              fd;

    memset(&how, 0, sizeof(how));
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    fd = (int) syscall(SYS_openat2, cycle->html_fd, rel, &how, sizeof(how));
    if (fd != -1 || errno != ENOSYS) {
        return fd;
    }
#endif
    {
        /* No openat2 (old kernel or seccomp): resolve and compare. */
        char   root[PATH_MAX], real[PATH_MAX], *full;
        size_t rlen;
        int    fd;

        if (realpath(cycle->conf->http.html, root) == NULL) {
            return -1;
        }
        full = lmd_psprintf(pool, "%s/%s", root, rel);
        if (full == NULL || realpath(full, real) == NULL) {
            return -1;
        }
        rlen = strlen(root);
        if (strncmp(real, root, rlen) != 0
            || (real[rlen] != '/' && real[rlen] != '\0'))
        {
            errno = EXDEV;
            return -1;
        }
        fd = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        return fd;
    }
}


/* Does an If-None-Match list contain etag (weak comparison)? */
static int
lmd_http_etag_match(const struct lmd_str *inm, const char *etag)
{
    const char  *p = inm->data, *end = inm->data + inm->len, *tok;
    size_t       elen = strlen(etag);

    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }
        if (p < end && *p == '*') {
            return 1;
        }
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
            p += 2;
        }
        tok = p;
        while (p < end && *p != ',') {
            p++;
        }
        while (p > tok && (p[-1] == ' ' || p[-1] == '\t')) {
            p--;
        }
        if ((size_t) (p - tok) == elen && memcmp(tok, etag, elen) == 0) {
            return 1;
        }
        while (p < end && *p != ',') {
            p++;
        }
    }
    return 0;
}


/* Sends the root's 404.html if there is one, else the built-in page. */
static int
lmd_http_not_found(struct lmd_http_request *r)
{
    struct stat  st;
    int          fd;

    fd = r->cycle->html_fd >= 0
         ? lmd_http_open_beneath(r->cycle, r->pool, "404.html") : -1;
    if (fd >= 0) {
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
            lmd_http_send_header(r, 404, "text/html; charset=utf-8",
                                 st.st_size);
            lmd_http_send_file(r, fd, 0, st.st_size);
            lmd_http_finalize(r);
            return LMD_OK;
        }
        close(fd);
    }
    return lmd_http_error(r, 404, NULL, NULL, NULL,
                          "The page %.*s was not found.",
                          (int) r->path.len, r->path.data);
}


/* /dir -> 301 /dir/ (keeping the query), so relative links resolve. */
static int
lmd_http_redirect_dir(struct lmd_http_request *r)
{
    char  *loc;

    loc = lmd_psprintf(r->pool, "%.*s/%s%.*s", (int) r->path.len,
                       r->path.data, r->args.len ? "?" : "",
                       (int) r->args.len, r->args.data);
    if (loc == NULL) {
        return 500;
    }
    lmd_http_header_out(r, "Location", loc);
    return lmd_http_error(r, 301, NULL, NULL, NULL, "Moved to %s", loc);
}


int
lmd_http_static_handler(struct lmd_http_request *r)
{
    struct lmd_cycle      *cycle = r->cycle;
    const struct lmd_str  *inm, *ims;
    struct stat            st;
    char                  *rel, *etag, *lastmod;
    const char            *name;
    time_t                 since;
    int                    dir, fd;

    rel = lmd_palloc(r->pool, r->path.len + 1);
    if (rel == NULL) {
        return 500;
    }
    if (lmd_sanitize_path(r->path.data, r->path.len, rel, &dir) != 0) {
        lmd_log_error(LMD_LOG_INFO, lmd_error_log, 0,
                      "refused path \"%.*s\" from %s", (int) r->path.len,
                      r->path.data, r->conn->peer);
        return lmd_http_error(r, 400, NULL, NULL, NULL,
                              "The request path is not allowed.");
    }
    if (cycle->html_fd < 0) {
        return lmd_http_not_found(r);
    }

    name = rel;
    if (rel[0] == '\0') {
        name = cycle->index_name;
    } else if (dir) {
        name = lmd_psprintf(r->pool, "%s/%s", rel, cycle->index_name);
        if (name == NULL) {
            return 500;
        }
    }

    fd = lmd_http_open_beneath(cycle, r->pool, name);
    if (fd == -1) {
        if (errno == EXDEV || errno == ELOOP) {
            lmd_log_error(LMD_LOG_WARN, lmd_error_log, 0,
                          "refused \"%s\": it leads out of the html root",
                          name);
        } else if (errno == EACCES) {
            return lmd_http_error(r, 403, NULL, NULL, NULL,
                                  "Access to this file is denied.");
        }
        return lmd_http_not_found(r);
    }

    if (fstat(fd, &st) != 0) {
        close(fd);
        return 500;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return dir ? lmd_http_not_found(r) : lmd_http_redirect_dir(r);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lmd_http_not_found(r);
    }

    etag = lmd_psprintf(r->pool, "\"%llx-%llx\"",
                        (unsigned long long) st.st_mtime,
                        (unsigned long long) st.st_size);
    lastmod = lmd_palloc(r->pool, LMD_HTTP_DATE_LEN);
    if (etag == NULL || lastmod == NULL) {
        close(fd);
        return 500;
    }
    lmd_format_http_date(st.st_mtime, lastmod);
    lmd_http_header_out(r, "ETag", etag);
    lmd_http_header_out(r, "Last-Modified", lastmod);
    lmd_http_header_out(r, "X-Content-Type-Options", "nosniff");
    if (strncmp(lmd_http_mime_type(name), "text/html", 9) == 0) {
        /* the chat page loads its scripts and styles from here only and
         * talks to this server only: a second wall behind markdown.js
         * against anything a model writes */
        lmd_http_header_out(r, "Content-Security-Policy", LMD_HTTP_CSP);
    }

    inm = lmd_http_header_in(r, "If-None-Match");
    ims = lmd_http_header_in(r, "If-Modified-Since");
    if (inm != NULL) {
        if (lmd_http_etag_match(inm, etag)) {
            close(fd);
            return lmd_http_respond(r, 304, NULL, NULL, 0);
        }
    } else if (ims != NULL) {
        since = lmd_parse_http_date(ims->data, ims->len);
        if (since != (time_t) -1 && st.st_mtime <= since) {
            close(fd);
            return lmd_http_respond(r, 304, NULL, NULL, 0);
        }
    }

    if (lmd_http_send_header(r, 200, lmd_http_mime_type(name), st.st_size)
        != LMD_OK)
    {
        close(fd);
        lmd_http_finalize(r);
        return LMD_OK;
    }
    if (lmd_http_send_file(r, fd, 0, st.st_size) != LMD_OK) {
        lmd_log_error(LMD_LOG_ERR, lmd_error_log, errno,
                      "cannot send \"%s\"", name);
    }
    lmd_http_finalize(r);
    return LMD_OK;
}
