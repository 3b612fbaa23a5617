/*
 * lmd_http_api.c -- small JSON endpoints: GET /health and the OpenAI
 * models list, GET /v1/models and GET /v1/models/{id}.
 *
 * JSON is built with cJSON, never by hand, so names with quotes or
 * control characters are escaped correctly.
 */

#include "lmd_http.h"
#include "lmd_models.h"
#include "lmd_engine.h"

#include <cjson/cJSON.h>


/* Sends a cJSON tree (and frees it). */
static int
lmd_http_send_json(struct lmd_http_request *r, int status, cJSON *json)
{
    char  *text;
    int    rc;

    text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (text == NULL) {
        return 500;
    }
    rc = lmd_http_respond(r, status, "application/json", text, strlen(text));
    cJSON_free(text);
    lmd_unused(rc);
    return LMD_OK;      /* finalized either way */
}


/* Load balancers call this many times a second: two fixed bodies. */
int
lmd_http_health_handler(struct lmd_http_request *r)
{
    static const char  ok[] = "{\"status\":\"ok\"}";
    static const char  loading[] = "{\"status\":\"loading\"}";

    lmd_http_header_out(r, "Cache-Control", "no-store");
    if (!lmd_models_ready()) {
        lmd_http_header_out(r, "Retry-After", "1");
        lmd_http_respond(r, 503, "application/json", loading,
                         sizeof(loading) - 1);
        return LMD_OK;
    }
    lmd_http_respond(r, 200, "application/json", ok, sizeof(ok) - 1);
    return LMD_OK;
}


static cJSON *
lmd_http_model_json(const struct lmd_model *m)
{
    cJSON  *obj;

    obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "id", m->name);
    cJSON_AddStringToObject(obj, "object", "model");
    cJSON_AddNumberToObject(obj, "created", (double) m->created);
    cJSON_AddStringToObject(obj, "owned_by", LMD_NAME);
    if (m->demo) {
        cJSON_AddStringToObject(obj, "description", "random demo model: "
                                "untrained weights, gibberish output");
    }
    return obj;
}


/* Percent-decodes the model id of /v1/models/{id} (ids may hold '/'). */
static int
lmd_http_model_id(const struct lmd_str *path, char *out, size_t *len)
{
    static const char   prefix[] = "/v1/models/";
    const char         *p = path->data + sizeof(prefix) - 1;
    const char         *end = path->data + path->len;
    size_t              n = 0;
    int                 hi, lo;

    while (p < end) {
        if (*p == '%') {
            if (end - p < 3 || (hi = lmd_hexval(p[1])) < 0
                || (lo = lmd_hexval(p[2])) < 0)
            {
                return LMD_ERROR;
            }
            out[n++] = (char) (hi << 4 | lo);
            p += 3;
        } else {
            out[n++] = *p++;
        }
    }
    *len = n;
    return LMD_OK;
}


int
lmd_http_models_handler(struct lmd_http_request *r)
{
    const struct lmd_model  *m;
    cJSON                   *list, *data;
    char                    *id;
    size_t                   i, len;

    if (r->path.len > sizeof("/v1/models/") - 1) {
        id = lmd_palloc(r->pool, r->path.len);
        if (id == NULL) {
            return 500;
        }
        if (lmd_http_model_id(&r->path, id, &len) != LMD_OK) {
            return lmd_http_error(r, 400, NULL, "model", NULL,
                                  "malformed model id in the URL");
        }
        m = lmd_models_find(id, len);
        if (m == NULL) {
            return lmd_http_error(r, 404, "invalid_request_error", "model",
                                  "model_not_found",
                                  "The model '%.*s' does not exist",
                                  (int) len, id);
        }
        return lmd_http_send_json(r, 200, lmd_http_model_json(m));
    }

    list = cJSON_CreateObject();
    cJSON_AddStringToObject(list, "object", "list");
    data = cJSON_AddArrayToObject(list, "data");
    for (i = 0; i < lmd_models_count(); i++) {
        cJSON_AddItemToArray(data, lmd_http_model_json(lmd_models_get(i)));
    }
    return lmd_http_send_json(r, 200, list);
}
