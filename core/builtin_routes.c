/*
 * core/builtin_routes.c - the HTTP routes the core itself serves:
 *   GET  /health            200 while the process runs its loop
 *   GET  /ready             200 once every instance started (and, later, the
 *                           WAL is replayed); 503 while starting or stopping
 *   GET  /metrics           Prometheus text: core and plugin metrics
 *   GET  /v1/plugins        loaded plugins, their config schemas, instances
 *   POST /v1/admin/reload   re-read the config; 200 or 400 with the reason
 * Thread: the loop thread.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "host_api.h"
#include "http_server.h"
#include "metrics.h"
#include "strbuf.h"

/* Answer with the JSON in sb, or 500 when building it ran out of memory. */
static void send_json(strata_http_request *r, int status, strbuf *sb)
{
    if (sb->oom)
        http_req_respond(r, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
    else
        http_req_respond(r, status, "application/json", sb->buf ? sb->buf : "", sb->len);
    sb_free(sb);
}

/* GET /health: 200 while the process runs. */
static void h_health(strata_http_request *r, void *arg)
{
    (void)arg;
    http_req_respond(r, 200, "application/json", "{\"status\":\"ok\"}", 15);
}

/* GET /ready: 200 once every pipeline has started, 503 while starting or stopping. */
static void h_ready(strata_http_request *r, void *arg)
{
    engine *eng = arg;
    if (eng->ready)
        http_req_respond(r, 200, "application/json", "{\"ready\":true}", 14);
    else
        http_req_respond(r, 503, "application/json",
                         eng->shutting_down ? "{\"ready\":false,\"reason\":\"shutting down\"}"
                                            : "{\"ready\":false,\"reason\":\"starting\"}",
                         eng->shutting_down ? 40 : 35);
}

/* strata_http_connections: the HTTP server's open connections. */
static void collect_http(void *ud, metrics_out *o)
{
    engine *eng = ud;
    metrics_sample(o, "", (double)http_server_connections(eng->http));
}

/* GET /metrics: every metric in the Prometheus text format. */
static void h_metrics(strata_http_request *r, void *arg)
{
    (void)arg;
    strbuf sb = {0};
    metrics_render(&sb);
    if (sb.oom) {
        sb_free(&sb);
        http_req_respond(r, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    http_req_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", sb.buf, sb.len);
    sb_free(&sb);
}

/* GET /v1/plugins: the plugins found, their config schemas and the running instances. */
static void h_plugins(strata_http_request *r, void *arg)
{
    strbuf sb = {0};
    engine_render_plugins(arg, &sb);
    send_json(r, 200, &sb);
}

/* With service.admin_auth, whether r carries a credential with the admin scope; answers 401
 * or 403 itself and returns 0 when not. */
static int admin_allowed(engine *eng, strata_http_request *r)
{
    if (!eng->cfg->svc.admin_auth)
        return 1;
    char tenant[128];
    int st = host_auth_bearer(eng, r, "admin", tenant, sizeof tenant);
    if (st == 0)
        return 1;
    strbuf sb = {0};
    sb_puts(&sb, st == 401 ? "{\"error\":\"missing or unknown token (Authorization: Bearer "
                             "<token> with the admin scope; service.admin_auth is on)\"}"
                           : "{\"error\":\"this token may not administer the node (it needs the "
                             "admin scope)\"}");
    if (st == 401)
        http_req_add_header(r, "WWW-Authenticate", "Bearer");
    send_json(r, st, &sb);
    return 0;
}

/* POST /v1/admin/reload: re-read the config; 200, or 400 with the reason (401/403 first with
 * service.admin_auth). */
static void h_reload(strata_http_request *r, void *arg)
{
    engine *eng = arg;
    if (!admin_allowed(eng, r))
        return;
    char *why = NULL;
    strbuf sb = {0};
    if (engine_reload(eng, &why) == 0) {
        sb_puts(&sb, "{\"reloaded\":true}");
        send_json(r, 200, &sb);
    } else {
        sb_puts(&sb, "{\"reloaded\":false,\"error\":");
        sb_json_str(&sb, why ? why : "unknown error");
        sb_puts(&sb, "}");
        send_json(r, eng->shutting_down ? 503 : 400, &sb);
    }
    free(why);
}

int builtin_routes_register(engine *eng)
{
    char err[256];
    struct {
        const char *method, *path;
        strata_http_fn fn;
    } routes[] = {{"GET", "/health", h_health},
                  {"GET", "/ready", h_ready},
                  {"GET", "/metrics", h_metrics},
                  {"GET", "/v1/plugins", h_plugins},
                  {"POST", "/v1/admin/reload", h_reload}};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (http_route_add(eng->http, NULL, routes[i].method, routes[i].path, routes[i].fn, eng,
                           err, sizeof err) != 0)
            return -1;
    return metrics_host_family(STRATA_METRIC_GAUGE, "strata_http_connections",
                               "Open HTTP connections.", collect_http, eng);
}
