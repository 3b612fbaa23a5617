/*
 * lmd_http_response.c -- writing responses: the status line and headers,
 * bodies (whole, from files, or streamed in chunks), error documents, and
 * finalizing a request.
 *
 * Every response carries Server, Date, Connection and either
 * Content-Length or chunked framing, so keep-alive and pipelining never
 * depend on the client guessing where a body ends.  HEAD gets the headers
 * GET would get and no body.  Errors on API paths are OpenAI's error JSON.
 */

#include "lmd_http.h"

#include <cjson/cJSON.h>

struct lmd_http_conn;
void lmd_http_conn_request_done(struct lmd_http_conn *hc, int keepalive);

#define LMD_HTTP_HEADER_MAX   4096


const char *
lmd_http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default:  return status < 400 ? "OK" : "Error";
    }
}


const struct lmd_str *
lmd_http_header_in(const struct lmd_http_request *r, const char *name)
{
    size_t  i;

    for (i = 0; i < r->nheaders; i++) {
        if (lmd_strieq(r->headers[i].name.data, r->headers[i].name.len,
                       name))
        {
            return &r->headers[i].value;
        }
    }
    return NULL;
}


int
lmd_http_header_out(struct lmd_http_request *r, const char *name,
    const char *value)
{
    if (r->nheaders_out == LMD_HTTP_MAX_HEADERS_OUT) {
        return LMD_ERROR;
    }
    r->headers_out[r->nheaders_out].name.data = name;
    r->headers_out[r->nheaders_out].name.len = strlen(name);
    r->headers_out[r->nheaders_out].value.data = value;
    r->headers_out[r->nheaders_out].value.len = strlen(value);
    r->nheaders_out++;
    return LMD_OK;
}


/* The Date header value, formatted once per second. */
static const char *
lmd_http_date(void)
{
    static char    date[LMD_HTTP_DATE_LEN];
    static time_t  last = -1;
    time_t         now;

    now = time(NULL);
    if (now != last) {
        lmd_format_http_date(now, date);
        last = now;
    }
    return date;
}


/* CORS: echo an allowed Origin.  Returns the number of bytes written. */
static int
lmd_http_cors_headers(struct lmd_http_request *r, char *p, size_t len)
{
    const struct lmd_conf_cors  *cors = &r->cycle->conf->http.cors;
    const struct lmd_str        *origin;
    size_t                       i;

    if (!cors->enabled) {
        return 0;
    }
    origin = lmd_http_header_in(r, "Origin");
    if (origin == NULL) {
        return 0;
    }
    for (i = 0; i < cors->allow_origins.n; i++) {
        if (strcmp(cors->allow_origins.v[i], "*") == 0) {
            return snprintf(p, len, "Access-Control-Allow-Origin: *\r\n");
        }
        if (strlen(cors->allow_origins.v[i]) == origin->len
            && memcmp(cors->allow_origins.v[i], origin->data, origin->len)
               == 0)
        {
            return snprintf(p, len, "Access-Control-Allow-Origin: %.*s\r\n"
                            "Vary: Origin\r\n", (int) origin->len,
                            origin->data);
        }
    }
    return 0;
}


int
lmd_http_send_header(struct lmd_http_request *r, int status,
    const char *content_type, int64_t content_length)
{
    char     buf[LMD_HTTP_HEADER_MAX];
    size_t   n, i;
    int      w, bodyless;

#define LMD_PUT(...)                                                          \
    do {                                                                      \
        w = snprintf(buf + n, sizeof(buf) - n, __VA_ARGS__);                  \
        if (w < 0 || (size_t) w >= sizeof(buf) - n) {                         \
            return LMD_ERROR;                                                 \
        }                                                                     \
        n += (size_t) w;                                                      \
    } while (0)

    if (r->header_sent) {
        return LMD_ERROR;
    }
    r->status = status;
    r->header_sent = 1;
    bodyless = status == 204 || status == 304 || status < 200;

    if (content_length < 0 && !bodyless) {
        if (r->http_major == 1 && r->http_minor >= 1) {
            r->chunked = r->method != LMD_HTTP_HEAD;
        } else {
            r->keepalive = 0;       /* the body ends where the TCP does */
        }
    }
    if (lmd_stopping) {
        r->keepalive = 0;
    }

    n = 0;
    LMD_PUT("HTTP/1.1 %d %s\r\n", status, lmd_http_status_text(status));
    LMD_PUT("Server: %s\r\n", r->cycle->conf->http.server_tokens
                              ? LMD_NAME "/" LMD_VERSION : LMD_NAME);
    LMD_PUT("Date: %s\r\n", lmd_http_date());
    if (content_type != NULL && !bodyless) {
        LMD_PUT("Content-Type: %s\r\n", content_type);
    }
    if (!bodyless) {
        if (content_length >= 0) {
            LMD_PUT("Content-Length: %lld\r\n", (long long) content_length);
        } else if (r->chunked || r->method == LMD_HTTP_HEAD) {
            LMD_PUT("Transfer-Encoding: chunked\r\n");
        }
    }
    LMD_PUT("Connection: %s\r\n", r->keepalive ? "keep-alive" : "close");

    w = lmd_http_cors_headers(r, buf + n, sizeof(buf) - n);
    if (w < 0 || (size_t) w >= sizeof(buf) - n) {
        return LMD_ERROR;
    }
    n += (size_t) w;

    for (i = 0; i < r->nheaders_out; i++) {
        LMD_PUT("%.*s: %.*s\r\n",
                (int) r->headers_out[i].name.len,
                r->headers_out[i].name.data,
                (int) r->headers_out[i].value.len,
                r->headers_out[i].value.data);
    }
    LMD_PUT("\r\n");
#undef LMD_PUT

    return lmd_conn_write(r->conn, buf, n);
}


int
lmd_http_send_body(struct lmd_http_request *r, const void *data, size_t len)
{
    char  size[24];
    int   n;

    if (r->method == LMD_HTTP_HEAD || len == 0) {
        return LMD_OK;
    }
    r->body_sent += len;
    if (r->chunked) {
        n = snprintf(size, sizeof(size), "%zx\r\n", len);
        if (lmd_conn_write(r->conn, size, (size_t) n) != LMD_OK
            || lmd_conn_write(r->conn, data, len) != LMD_OK
            || lmd_conn_write(r->conn, "\r\n", 2) != LMD_OK)
        {
            return LMD_ERROR;
        }
        return LMD_OK;
    }
    return lmd_conn_write(r->conn, data, len);
}


int
lmd_http_send_file(struct lmd_http_request *r, int fd, off_t offset,
    off_t len)
{
    if (r->method == LMD_HTTP_HEAD || len == 0) {
        close(fd);
        return LMD_OK;
    }
    r->body_sent += (uint64_t) len;
    return lmd_conn_write_file(r->conn, fd, offset, len);
}


void
lmd_http_finalize(struct lmd_http_request *r)
{
    struct lmd_http_conn  *hc = r->hc;
    int                    keepalive;

    if (!r->header_sent) {
        /* A handler that answered nothing: a bug, but never a hang. */
        lmd_http_send_header(r, 500, "text/plain", 0);
    } else if (r->chunked) {
        lmd_conn_write(r->conn, "0\r\n\r\n", 5);
    }
    r->finalized = 1;

    lmd_http_log_request(r);
    keepalive = r->keepalive;
    lmd_cycle_unref(r->cycle);
    lmd_pool_destroy(r->pool);

    lmd_http_conn_request_done(hc, keepalive);
}


int
lmd_http_respond(struct lmd_http_request *r, int status,
    const char *content_type, const char *body, size_t len)
{
    int  rc;

    rc = lmd_http_send_header(r, status, content_type, (int64_t) len);
    if (rc == LMD_OK) {
        rc = lmd_http_send_body(r, body, len);
    }
    lmd_http_finalize(r);
    return rc;
}


/* ---------------------------------------------------------------- errors */

static char *
lmd_http_error_json(int status, const char *type, const char *param,
    const char *code, const char *message)
{
    cJSON  *root, *err;
    char   *out;

    root = cJSON_CreateObject();
    err = cJSON_AddObjectToObject(root, "error");
    if (err == NULL) {
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddStringToObject(err, "message", message);
    cJSON_AddStringToObject(err, "type", type != NULL ? type
                            : status >= 500 ? "server_error"
                            : "invalid_request_error");
    if (param != NULL) {
        cJSON_AddStringToObject(err, "param", param);
    } else {
        cJSON_AddNullToObject(err, "param");
    }
    if (code != NULL) {
        cJSON_AddStringToObject(err, "code", code);
    } else {
        cJSON_AddNullToObject(err, "code");
    }
    out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}


/* Escapes &, <, >, " for the HTML error page. */
static char *
lmd_http_html_escape(struct lmd_pool *pool, const char *s)
{
    size_t       n = 0;
    const char  *p;
    char        *out, *q;

    for (p = s; *p; p++) {
        n += (*p == '&') ? 5 : (*p == '<' || *p == '>') ? 4
             : (*p == '"') ? 6 : 1;
    }
    out = lmd_palloc(pool, n + 1);
    if (out == NULL) {
        return NULL;
    }
    for (p = s, q = out; *p; p++) {
        switch (*p) {
        case '&': memcpy(q, "&amp;", 5); q += 5; break;
        case '<': memcpy(q, "&lt;", 4); q += 4; break;
        case '>': memcpy(q, "&gt;", 4); q += 4; break;
        case '"': memcpy(q, "&quot;", 6); q += 6; break;
        default:  *q++ = *p; break;
        }
    }
    *q = '\0';
    return out;
}


int
lmd_http_error(struct lmd_http_request *r, int status, const char *type,
    const char *param, const char *code, const char *fmt, ...)
{
    char     message[1024];
    char    *json, *html, *msg;
    va_list  ap;
    int      rc;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);

    if (r->api) {
        json = lmd_http_error_json(status, type, param, code, message);
        if (json == NULL) {
            return lmd_http_respond(r, 500, "text/plain", "", 0);
        }
        rc = lmd_http_respond(r, status, "application/json", json,
                              strlen(json));
        cJSON_free(json);
        return rc;
    }

    msg = lmd_http_html_escape(r->pool, message);
    html = lmd_psprintf(r->pool,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        "<title>%d %s</title></head>\n<body><h1>%d %s</h1>\n<p>%s</p>\n"
        "<hr><p>" LMD_NAME "</p></body></html>\n",
        status, lmd_http_status_text(status), status,
        lmd_http_status_text(status), msg ? msg : "");
    if (html == NULL) {
        return lmd_http_respond(r, 500, "text/plain", "", 0);
    }
    return lmd_http_respond(r, status, "text/html; charset=utf-8", html,
                            strlen(html));
}
