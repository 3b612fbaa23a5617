/*
 * test_router.c -- the route table: which handler and flags a path gets.
 *
 * Expectations come from the API contract (OpenAI's /v1/ paths, the
 * page everywhere else), not from the table itself.
 */

#include "lmd_test.h"
#include "lmd_http.h"

static const struct lmd_http_route *
find(const char *path)
{
    return lmd_http_route_find(path, strlen(path));
}


/* Assumption: /health is exact and answers JSON without needing a key. */
LMD_TEST(router_health_exact)
{
    const struct lmd_http_route  *rt = find("/health");

    fail_unless(rt != NULL && rt->handler == lmd_http_health_handler,
                "/health routes to the health handler");
    fail_unless(rt && (rt->flags & LMD_ROUTE_API), "/health is JSON");
    fail_unless(rt && !(rt->flags & LMD_ROUTE_AUTH),
                "/health is open by default");
    rt = find("/healthz");
    fail_unless(rt != NULL && rt->handler == lmd_http_static_handler,
                "/healthz is just a page path");
}


/* Assumption: the models list and a model by id share a handler and both
 * need a key when keys are set. */
LMD_TEST(router_models)
{
    const struct lmd_http_route  *rt;

    rt = find("/v1/models");
    fail_unless(rt && rt->handler == lmd_http_models_handler, "list");
    fail_unless(rt && (rt->flags & LMD_ROUTE_AUTH), "list needs a key");
    rt = find("/v1/models/org/name");
    fail_unless(rt && rt->handler == lmd_http_models_handler, "by id");
    fail_unless(rt && (rt->flags & (LMD_ROUTE_AUTH | LMD_ROUTE_API))
                      == (LMD_ROUTE_AUTH | LMD_ROUTE_API), "by id flags");
}


/* Assumption: every other /v1/ path is an API path (JSON errors, key)
 * but not a page. */
LMD_TEST(router_unknown_api)
{
    const struct lmd_http_route  *rt = find("/v1/nope");

    fail_unless(rt != NULL, "a route exists");
    fail_unless(rt && rt->handler != lmd_http_static_handler,
                "not served from html/");
    fail_unless(rt && (rt->flags & LMD_ROUTE_API), "JSON errors");
    fail_unless(rt && (rt->flags & LMD_ROUTE_AUTH), "needs a key");
    fail_unless(rt && rt->methods & (1u << LMD_HTTP_POST),
                "any method reaches it (404, not 405)");
}


/* Assumption: "/v1" without the slash and "/v10/x" are page paths. */
LMD_TEST(router_prefix_boundaries)
{
    const struct lmd_http_route  *rt;

    rt = find("/v1");
    fail_unless(rt && rt->handler == lmd_http_static_handler, "/v1");
    rt = find("/v10/x");
    fail_unless(rt && rt->handler == lmd_http_static_handler, "/v10/x");
}


/* Assumption: pages answer GET and HEAD only; a target not starting with
 * '/' (asterisk or absolute form) matches nothing. */
LMD_TEST(router_static_methods)
{
    const struct lmd_http_route  *rt = find("/index.html");

    fail_unless(rt && (rt->methods & (1u << LMD_HTTP_GET)), "GET");
    fail_unless(rt && (rt->methods & (1u << LMD_HTTP_HEAD)), "HEAD");
    fail_unless(rt && !(rt->methods & (1u << LMD_HTTP_POST)), "no POST");
    fail_unless(find("*") == NULL, "asterisk form");
    fail_unless(find("http://x/") == NULL, "absolute form");
}
