/*
 * lmd_http_log.c -- the access log: one line per request, in nginx's
 * "combined" format plus the request time in seconds:
 *
 *   127.0.0.1 - - [22/Nov/2026:00:27:48 +0000] "GET / HTTP/1.1" 200 612
 *   "-" "curl/7.88.1" 0.001
 *
 * Completion requests append their token counts and the time to the
 * first token: `pt=12 ct=100 ttft=35` (ttft=- when none came).
 *
 * Quotes, backslashes and control bytes in client-supplied fields are
 * written as \xHH, so a line can always be parsed back.
 */

#include "lmd_http.h"
#include "lmd_event.h"

#define LMD_ACCESS_LINE_MAX  4096


/* Appends s escaped; returns the new length (capped at cap). */
static size_t
lmd_http_log_escape(char *buf, size_t n, size_t cap, const char *s,
    size_t len)
{
    static const char  hex[] = "0123456789ABCDEF";
    unsigned char      ch;
    size_t             i;

    if (s == NULL || len == 0) {
        if (n < cap) {
            buf[n++] = '-';
        }
        return n;
    }
    for (i = 0; i < len && n + 4 < cap; i++) {
        ch = (unsigned char) s[i];
        if (ch < 0x20 || ch == '"' || ch == '\\' || ch >= 0x7f) {
            buf[n++] = '\\';
            buf[n++] = 'x';
            buf[n++] = hex[ch >> 4];
            buf[n++] = hex[ch & 0xf];
        } else {
            buf[n++] = (char) ch;
        }
    }
    return n;
}


void
lmd_http_log_request(struct lmd_http_request *r)
{
    const struct lmd_str  *ref, *ua;
    char                   line[LMD_ACCESS_LINE_MAX];
    struct tm              tm;
    time_t                 now;
    uint64_t               ms;
    size_t                 n, cap = sizeof(line) - 128;
    int                    w;

    if (r->cycle->access_log == NULL) {
        return;
    }

#define LMD_APPEND(...)                                                       \
    do {                                                                      \
        w = snprintf(line + n, cap - n, __VA_ARGS__);                         \
        n = lmd_min(n + (size_t) lmd_max(w, 0), cap - 1);                     \
    } while (0)

    now = time(NULL);
    localtime_r(&now, &tm);
    n = 0;
    LMD_APPEND("%s - - [", r->conn->peer);
    n += strftime(line + n, cap - n, "%d/%b/%Y:%H:%M:%S %z", &tm);
    LMD_APPEND("] \"");
    n = lmd_http_log_escape(line, n, cap, r->method_name.data,
                            r->method_name.len);
    LMD_APPEND(" ");
    n = lmd_http_log_escape(line, n, cap, r->uri.data, r->uri.len);
    LMD_APPEND(" HTTP/%d.%d\" %d %llu \"", r->http_major, r->http_minor,
               r->status, (unsigned long long) r->body_sent);

    ref = lmd_http_header_in(r, "Referer");
    n = lmd_http_log_escape(line, n, cap, ref ? ref->data : NULL,
                            ref ? ref->len : 0);
    LMD_APPEND("\" \"");
    ua = lmd_http_header_in(r, "User-Agent");
    n = lmd_http_log_escape(line, n, cap, ua ? ua->data : NULL,
                            ua ? ua->len : 0);
#undef LMD_APPEND

    ms = lmd_event_now_ms() - r->start_ms;
    w = snprintf(line + n, sizeof(line) - n, "\" %llu.%03llu",
                 (unsigned long long) (ms / 1000),
                 (unsigned long long) (ms % 1000));
    n += (size_t) lmd_max(w, 0);
    if (r->log_tokens) {
        /* completions: prompt and completion tokens, time to the first
         * token in ms ("-" when none came) */
        if (r->ttft_ms >= 0) {
            w = snprintf(line + n, sizeof(line) - n, " pt=%u ct=%u "
                         "ttft=%lld", r->prompt_tokens,
                         r->completion_tokens, (long long) r->ttft_ms);
        } else {
            w = snprintf(line + n, sizeof(line) - n, " pt=%u ct=%u "
                         "ttft=-", r->prompt_tokens, r->completion_tokens);
        }
        n += (size_t) lmd_max(w, 0);
    }
    line[lmd_min(n, sizeof(line) - 1)] = '\n';
    n++;
    lmd_log_raw(r->cycle->access_log, line, lmd_min(n, sizeof(line)));
}
