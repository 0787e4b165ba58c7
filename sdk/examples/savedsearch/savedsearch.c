/*
 * savedsearch - an example third-party query plugin: a saved search that
 * runs every `interval` over the last `window` through the search service
 * (strata/search.h), without linking any of Strata's own libraries. It
 * shows the whole contract of a query frontend:
 *
 *  - requests are the JSON bodies of /v1/aggregate and /v1/search, built
 *    with cJSON (so the query text is escaped, whatever it holds);
 *  - submit is called on the loop thread (here from a timer) and the
 *    answer arrives on the loop thread, later, in `done`;
 *  - a run still waiting when the next tick comes is not doubled: the tick
 *    is skipped and counted;
 *  - stop cancels the jobs it still waits for, so no answer reaches a
 *    stopped plugin.
 *
 * What it makes of the answers:
 *  - the gauge savedsearch_matches{GROUP_BY="value"} (events in the window
 *    per service, host or level), with groups that disappear set to 0;
 *  - GET /v1/saved/NAME (NAME the instance's name): the counts, the newest
 *    matching logs as the search returned them, and when it ran, or the
 *    error the service answered (a query that does not parse says where).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include <strata/search.h>
#include <strata/strata.h>

/* Longest route: "/v1/saved/" and an instance name (128 bytes at most). */
#define SAVED_ROUTE_MAX 160
/* Most groups one saved search tracks as gauges; more are counted in the
 * answer but get no series (a gauge per host of a big fleet is a
 * cardinality bill, not a dashboard). */
#define SAVED_MAX_GROUPS 256

static const char *const group_names[] = {"service", "host", "level", NULL};

static const strata_config_key saved_keys[] = {
    {"query", STRATA_CFG_STRING, NULL, 1, "The saved query (docs/QUERY.md); \"\" matches all."},
    {"tenant", STRATA_CFG_STRING, "default", 0, "The tenant searched."},
    {"window", STRATA_CFG_DURATION, "5m", 0, "Each run covers the last this long."},
    {"interval", STRATA_CFG_DURATION, "30s", 0, "How often it runs."},
    {"group_by", STRATA_CFG_STRING, "service", 0, "What the counts are by."},
    {"latest", STRATA_CFG_INT, "10", 0, "Newest matching logs kept for GET /v1/saved/NAME."},
};

static const strata_config_rule saved_rules[] = {
    {.key = "window", .min = "1s", .max = "7d"},
    {.key = "interval", .min = "100ms", .max = "1d"},
    {.key = "group_by", .allowed = group_names},
    {.key = "latest", .min = "1", .max = "100"},
};

typedef struct saved {
    strata_instance *inst;
    const strata_host_api *h;
    char *query, *tenant, *group_by;
    int64_t window_ms, interval_ms, latest;
    char route[SAVED_ROUTE_MAX];
    strata_timer *timer;
    strata_search_job *agg_job, *logs_job; /* outstanding, or NULL */
    cJSON *groups;                         /* {"value": count} of the last run, or NULL */
    cJSON *logs;                           /* the last run's logs, or NULL */
    uint64_t hits;
    int partial;
    char error[512]; /* what the last run's answers said was wrong, or "" */
    int64_t ran_at_ns;
    strata_metric *m_matches, *m_runs;
} saved;

/* A request body: the saved query over the last window, as /v1/search or /v1/aggregate take
 * it. NULL when out of memory; the caller frees it. */
static char *request_body(const saved *s, int aggregate)
{
    cJSON *req = cJSON_CreateObject();
    cJSON *range = cJSON_AddObjectToObject(req, "time_range");
    char from[48];
    snprintf(from, sizeof from, "now-%lldms", (long long)s->window_ms);
    cJSON_AddStringToObject(req, "query", s->query);
    cJSON_AddStringToObject(range, "from", from);
    if (aggregate) {
        cJSON *by = cJSON_AddArrayToObject(req, "group_by");
        cJSON_AddItemToArray(by, cJSON_CreateString(s->group_by));
    } else {
        cJSON_AddNumberToObject(req, "limit", (double)s->latest);
    }
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    return body;
}

/* Keep what a failed answer said ({"error": "..."}), with its status. */
static void take_error(saved *s, const strata_search_answer *a)
{
    cJSON *doc = cJSON_ParseWithLength(a->body, a->len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
    snprintf(s->error, sizeof s->error, "status %d: %s", a->status,
             cJSON_IsString(e) ? e->valuestring : "no error message");
    cJSON_Delete(doc);
}

/* Set the gauge of every group of the new answer, and 0 for those of the last run that are gone;
 * the new counts replace the old. */
static void update_groups(saved *s, cJSON *groups)
{
    const cJSON *g;
    cJSON_ArrayForEach(g, s->groups)
    {
        if (!cJSON_GetObjectItemCaseSensitive(groups, g->string)) {
            const char *v[1] = {g->string};
            s->h->metric_set_labels(s->m_matches, v, 0);
        }
    }
    int n = 0;
    cJSON_ArrayForEach(g, groups)
    {
        if (n++ >= SAVED_MAX_GROUPS)
            break;
        const char *v[1] = {g->string};
        s->h->metric_set_labels(s->m_matches, v, g->valuedouble);
    }
    cJSON_Delete(s->groups);
    s->groups = groups;
}

/* The aggregate's answer [loop]: counts per group from its buckets. */
static void agg_done(void *ud, const strata_search_answer *a)
{
    saved *s = ud;
    s->agg_job = NULL;
    s->ran_at_ns = s->h->now_ns();
    if (a->status != 200) {
        take_error(s, a);
        s->h->metric_add(s->m_runs, "error", 1);
        return;
    }
    cJSON *doc = cJSON_ParseWithLength(a->body, a->len);
    cJSON *groups = cJSON_CreateObject();
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "buckets"))
    {
        const cJSON *grp = cJSON_GetObjectItemCaseSensitive(b, "group");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(grp, s->group_by);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(b, "count");
        const char *name = cJSON_IsString(v) ? v->valuestring : "";
        if (!cJSON_IsNumber(c))
            continue;
        cJSON *have = cJSON_GetObjectItemCaseSensitive(groups, name);
        if (have) /* one bucket per group without an interval; summed if more */
            cJSON_SetNumberValue(have, have->valuedouble + c->valuedouble);
        else
            cJSON_AddNumberToObject(groups, name, c->valuedouble);
    }
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, "partial");
    s->partial = cJSON_IsTrue(p);
    s->error[0] = 0;
    update_groups(s, groups);
    cJSON_Delete(doc);
    s->h->metric_add(s->m_runs, "ok", 1);
}

/* The search's answer [loop]: the newest logs and the hit count. */
static void logs_done(void *ud, const strata_search_answer *a)
{
    saved *s = ud;
    s->logs_job = NULL;
    if (a->status != 200) { /* counted once, by the aggregate's answer */
        take_error(s, a);
        return;
    }
    cJSON *doc = cJSON_ParseWithLength(a->body, a->len);
    const cJSON *hits = cJSON_GetObjectItemCaseSensitive(doc, "hits");
    s->hits = cJSON_IsNumber(hits) ? (uint64_t)hits->valuedouble : 0;
    cJSON_Delete(s->logs);
    s->logs = cJSON_DetachItemFromObjectCaseSensitive(doc, "logs");
    cJSON_Delete(doc);
}

/* Submit one request to the search service; NULL when it refused or is not there. */
static strata_search_job *submit(saved *s, strata_search_kind kind, strata_search_done_fn done)
{
    const strata_search_api *sa = s->h->service_acquire(s->inst, STRATA_SEARCH_SERVICE);
    if (!sa)
        return NULL;
    char *body = request_body(s, kind == STRATA_SEARCH_AGGREGATE);
    strata_search_job *j =
        body ? sa->submit(sa->ctx, kind, s->tenant, body, strlen(body), done, s) : NULL;
    cJSON_free(body);
    s->h->service_release(s->inst, sa);
    return j;
}

/* The timer [loop]: start a run, unless the last one still waits. */
static void tick(void *arg)
{
    saved *s = arg;
    if (s->agg_job || s->logs_job) {
        s->h->metric_add(s->m_runs, "skipped", 1);
        return;
    }
    s->agg_job = submit(s, STRATA_SEARCH_AGGREGATE, agg_done);
    s->logs_job = s->agg_job ? submit(s, STRATA_SEARCH_LOGS, logs_done) : NULL;
    if (!s->agg_job || !s->logs_job) {
        snprintf(s->error, sizeof s->error,
                 "the search service is not running or its queue is full");
        s->h->metric_add(s->m_runs, "refused", 1);
    }
}

/* Append the groups' counts to the answer of GET, or null before the first run. */
static void add_groups(cJSON *out, const saved *s)
{
    cJSON_AddItemToObject(out, "groups",
                          s->groups ? cJSON_Duplicate(s->groups, 1) : cJSON_CreateNull());
}

/* GET /v1/saved/NAME [loop]: the last run, as JSON. */
static void handle_get(strata_http_request *req, void *arg)
{
    saved *s = arg;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "name", s->h->instance_name(s->inst));
    cJSON_AddStringToObject(out, "query", s->query);
    cJSON_AddNumberToObject(out, "window_ms", (double)s->window_ms);
    cJSON_AddNumberToObject(out, "ran_at_ns", (double)s->ran_at_ns);
    if (s->error[0])
        cJSON_AddStringToObject(out, "error", s->error);
    cJSON_AddNumberToObject(out, "hits", (double)s->hits);
    cJSON_AddBoolToObject(out, "partial", s->partial);
    cJSON_AddStringToObject(out, "group_by", s->group_by);
    add_groups(out, s);
    cJSON_AddItemToObject(out, "latest",
                          s->logs ? cJSON_Duplicate(s->logs, 1) : cJSON_CreateArray());
    char *body = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    if (!body) {
        s->h->http_respond(req, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
        return;
    }
    s->h->http_respond(req, 200, "application/json", body, strlen(body));
    cJSON_free(body);
}

/* Copy a config string; NULL when out of memory. */
static char *dup_str(const char *v)
{
    size_t n = strlen(v) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, v, n);
    return d;
}

/* The plugin's destroy: what init and the runs allocated. */
static void saved_destroy(void *state)
{
    saved *s = state;
    free(s->query);
    free(s->tenant);
    free(s->group_by);
    cJSON_Delete(s->groups);
    cJSON_Delete(s->logs);
    free(s);
}

/* The plugin's init: the config and the metrics (needs ABI 1.5 for labelled gauges and the
 * search service). */
static int saved_init(strata_instance *inst, const strata_host_api *h, const strata_config *cfg,
                      void **state)
{
    if (!STRATA_HOST_HAS(h, metric_set_labels)) {
        h->set_error(inst, "savedsearch needs a host with plugin ABI 1.5 or later");
        return STRATA_EINVAL;
    }
    saved *s = calloc(1, sizeof *s);
    if (!s)
        return STRATA_ENOMEM;
    s->inst = inst;
    s->h = h;
    s->query = dup_str(h->cfg_str(cfg, "query"));
    s->tenant = dup_str(h->cfg_str(cfg, "tenant"));
    s->group_by = dup_str(h->cfg_str(cfg, "group_by"));
    s->window_ms = h->cfg_int(cfg, "window");
    s->interval_ms = h->cfg_int(cfg, "interval");
    s->latest = h->cfg_int(cfg, "latest");
    snprintf(s->route, sizeof s->route, "/v1/saved/%s", h->instance_name(inst));
    const char *labels[1] = {s->group_by};
    s->m_matches = h->metric_new_labels(inst, STRATA_METRIC_GAUGE, "savedsearch_matches",
                                        "Events the saved search matched in its last window.",
                                        labels, 1, NULL, 0);
    s->m_runs = h->metric_new(inst, STRATA_METRIC_COUNTER, "savedsearch_runs_total",
                              "Runs of the saved search, by outcome.", "outcome", NULL, 0);
    if (!s->query || !s->tenant || !s->group_by || !s->m_matches || !s->m_runs) {
        saved_destroy(s);
        return STRATA_ENOMEM;
    }
    *state = s;
    return STRATA_OK;
}

/* The plugin's start: its route and its timer (the first run right away). */
static int saved_start(void *state)
{
    saved *s = state;
    if (s->h->http_route(s->inst, "GET", s->route, handle_get, s) != STRATA_OK) {
        s->h->set_error(s->inst, "cannot register GET %s (taken, or no HTTP server)", s->route);
        return STRATA_ERR;
    }
    s->timer = s->h->timer_start(s->inst, 0, (double)s->interval_ms / 1000.0, tick, s);
    if (!s->timer) {
        s->h->set_error(s->inst, "cannot start the timer");
        return STRATA_ERR;
    }
    return STRATA_OK;
}

/* The plugin's stop: no more runs, and no answer for the jobs still out. */
static void saved_stop(void *state)
{
    saved *s = state;
    s->h->timer_stop(s->timer);
    s->timer = NULL;
    const strata_search_api *sa = s->h->service_acquire(s->inst, STRATA_SEARCH_SERVICE);
    if (sa) { /* NULL: the search plugin stopped, and answered every job */
        if (s->agg_job)
            sa->cancel(sa->ctx, s->agg_job);
        if (s->logs_job)
            sa->cancel(sa->ctx, s->logs_job);
        s->h->service_release(s->inst, sa);
    }
    s->agg_job = s->logs_job = NULL;
}

static const strata_plugin saved_plugin = {
    STRATA_PLUGIN_HEADER,
    .name = "savedsearch",
    .kind = STRATA_KIND_QUERY,
    .version = "1.0.0",
    .description = "A saved search run every interval through the search service: gauges by "
                   "group and GET /v1/saved/NAME.",
    .config = saved_keys,
    .config_count = sizeof saved_keys / sizeof saved_keys[0],
    .config_rules = saved_rules,
    .config_rule_count = sizeof saved_rules / sizeof saved_rules[0],
    .init = saved_init,
    .start = saved_start,
    .stop = saved_stop,
    .destroy = saved_destroy,
};

STRATA_PLUGIN_DEFINE(saved_plugin)
