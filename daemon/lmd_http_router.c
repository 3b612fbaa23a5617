/*
 * lmd_http_router.c -- from a complete request to its handler: the route
 * table, CORS preflight, method checks and API-key checks.
 *
 * The table is small and fixed, searched in order (exact paths first, then
 * prefixes from the longest), so a new endpoint is one row here plus its
 * handler.  Everything under /v1/ is an API path: its errors are OpenAI's
 * error JSON and it needs a key when keys are configured.
 */

#include "lmd_http.h"
#include "lmd_metrics.h"

#define M(m)        (1u << (m))
#define GET_HEAD    (M(LMD_HTTP_GET) | M(LMD_HTTP_HEAD))
#define ANY         0xffffffffu

static int lmd_http_not_found_handler(struct lmd_http_request *r);

static const struct lmd_http_route  lmd_http_routes[] = {
    { "/health", GET_HEAD, LMD_ROUTE_API, lmd_http_health_handler },
    { "/metrics", GET_HEAD, LMD_ROUTE_API, lmd_http_metrics_handler },
    { "/v1/models", GET_HEAD, LMD_ROUTE_API | LMD_ROUTE_AUTH,
      lmd_http_models_handler },
    { "/v1/models/", GET_HEAD, LMD_ROUTE_API | LMD_ROUTE_AUTH
      | LMD_ROUTE_PREFIX, lmd_http_models_handler },
    { "/v1/chat/completions", M(LMD_HTTP_POST), LMD_ROUTE_API
      | LMD_ROUTE_AUTH, lmd_http_chat_completions_handler },
    { "/v1/completions", M(LMD_HTTP_POST), LMD_ROUTE_API | LMD_ROUTE_AUTH,
      lmd_http_completions_handler },
    { "/v1/", ANY, LMD_ROUTE_API | LMD_ROUTE_AUTH | LMD_ROUTE_PREFIX,
      lmd_http_not_found_handler },
    { "/", GET_HEAD, LMD_ROUTE_PREFIX, lmd_http_static_handler },
};


const struct lmd_http_route *
lmd_http_route_find(const char *path, size_t len)
{
    const struct lmd_http_route  *rt;
    size_t                        i, plen;

    for (i = 0; i < lmd_nelems(lmd_http_routes); i++) {
        rt = &lmd_http_routes[i];
        plen = strlen(rt->path);
        if (rt->flags & LMD_ROUTE_PREFIX) {
            if (len >= plen && memcmp(path, rt->path, plen) == 0) {
                return rt;
            }
        } else if (len == plen && memcmp(path, rt->path, plen) == 0) {
            return rt;
        }
    }
    return NULL;
}


static int
lmd_http_not_found_handler(struct lmd_http_request *r)
{
    return lmd_http_error(r, 404, "invalid_request_error", NULL,
                          "unknown_url", "Unknown request URL: %s %.*s",
                          r->method_name.data, (int) r->path.len,
                          r->path.data);
}


/* "GET, HEAD" for the Allow header of a 405. */
static const char *
lmd_http_allow(unsigned methods)
{
    if (methods == GET_HEAD) {
        return "GET, HEAD";
    }
    if (methods == M(LMD_HTTP_POST)) {
        return "POST";
    }
    return "GET, HEAD, POST";
}


/* Answers a CORS preflight (OPTIONS with Origin and
 * Access-Control-Request-Method).  LMD_DECLINED when CORS is off. */
static int
lmd_http_cors_preflight(struct lmd_http_request *r)
{
    const struct lmd_conf_cors  *cors = &r->cycle->conf->http.cors;
    char                        *age;

    if (!cors->enabled
        || lmd_http_header_in(r, "Origin") == NULL
        || lmd_http_header_in(r, "Access-Control-Request-Method") == NULL)
    {
        return LMD_DECLINED;
    }
    age = lmd_psprintf(r->pool, "%llu",
                       (unsigned long long) (cors->max_age / 1000));
    lmd_http_header_out(r, "Access-Control-Allow-Methods",
                        "GET, HEAD, POST, OPTIONS");
    lmd_http_header_out(r, "Access-Control-Allow-Headers",
                        cors->allow_headers);
    if (age != NULL) {
        lmd_http_header_out(r, "Access-Control-Max-Age", age);
    }
    return lmd_http_respond(r, 204, NULL, NULL, 0);
}


static int
lmd_http_needs_key(const struct lmd_http_request *r,
    const struct lmd_http_route *rt)
{
    const struct lmd_conf_auth  *auth = &r->cycle->conf->http.auth;

    if (r->cycle->nkeys == 0) {
        return 0;
    }
    if (rt->flags & LMD_ROUTE_AUTH) {
        return 1;
    }
    /* Balancers and Prometheus scrapers seldom send a key: /metrics is
     * protected with /health, not with the API. */
    if (rt->handler == lmd_http_health_handler
        || rt->handler == lmd_http_metrics_handler)
    {
        return auth->protect_health;
    }
    return auth->protect_static;
}


void
lmd_http_dispatch(struct lmd_http_request *r)
{
    const struct lmd_http_route  *rt;
    int                           rc;

    rt = lmd_http_route_find(r->path.data, r->path.len);
    if (rt == NULL) {
        /* Only targets not starting with '/' get here ("*", absolute). */
        lmd_http_error(r, 400, NULL, NULL, NULL, "bad request target");
        return;
    }
    if (rt->flags & LMD_ROUTE_API) {
        r->api = 1;
    }

    if (r->method == LMD_HTTP_OPTIONS
        && lmd_http_cors_preflight(r) != LMD_DECLINED)
    {
        return;
    }

    if (!(rt->methods & M(r->method))) {
        lmd_http_header_out(r, "Allow", lmd_http_allow(rt->methods));
        lmd_http_error(r, 405, NULL, NULL, "method_not_allowed",
                       "Method %s is not allowed for %.*s",
                       r->method_name.data, (int) r->path.len, r->path.data);
        return;
    }

    if (lmd_http_needs_key(r, rt)
        && lmd_http_auth_check(r->cycle,
                               lmd_http_header_in(r, "Authorization"))
           != LMD_OK)
    {
        lmd_http_header_out(r, "WWW-Authenticate", "Bearer");
        lmd_http_error(r, 401, "invalid_request_error", NULL,
                       "invalid_api_key",
                       "Incorrect or missing API key. Send it as "
                       "\"Authorization: Bearer KEY\".");
        return;
    }

    rc = rt->handler(r);
    if (rc == LMD_OK || rc == LMD_AGAIN) {
        return;     /* finalized, or will be */
    }
    if (rc >= 100) {
        lmd_http_error(r, rc, NULL, NULL, NULL, "%s",
                       lmd_http_status_text(rc));
        return;
    }
    lmd_http_error(r, 500, NULL, NULL, NULL, "internal error");
}
