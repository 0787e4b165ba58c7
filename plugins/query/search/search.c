/*
 * plugins/query/search - POST /v1/search and POST /v1/aggregate.
 *
 * The HTTP handler (loop thread) checks the token, the user's concurrency
 * and parses the body; the query then runs on a bounded pool of worker
 * threads (so searches use the cores without starving ingestion, and a
 * slow query never blocks the loop), and the response is sent from the loop
 * thread again. A client that disconnects cancels its query.
 *
 * Limits (docs/QUERY.md, "Limits"), each a config key:
 *   timeout              partial results past it, flagged "partial"
 *   max_segments         a time range covering more is refused (422)
 *   max_scan_bytes       row bytes decoded per query; partial past it
 *   max_concurrent_per_user   429 past it
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "names.h"
#include "search.h"
#include "strata/search.h"

static const strata_config_key search_keys[] = {
    {"dir", STRATA_CFG_STRING, "", 0,
     "Index directory (the indexer's dir); empty: DATA_DIR/index."},
    {"auth", STRATA_CFG_BOOL, "false", 0,
     "Require Authorization: Bearer <user token> with the search scope; the tenant comes from "
     "the token."},
    {"tenant", STRATA_CFG_STRING, "default", 0, "Tenant searched when auth is off."},
    {"workers", STRATA_CFG_INT, "2", 0, "Threads running queries (the bounded pool)."},
    {"timeout", STRATA_CFG_DURATION, "30s", 0,
     "Per-query time budget; past it the response holds partial results, flagged."},
    {"max_segments", STRATA_CFG_INT, "20000", 0,
     "Most segments one query may search (after time pruning); more is refused with 422."},
    {"max_scan_bytes", STRATA_CFG_SIZE, "16GiB", 0,
     "Most row bytes one query may decode; past it the response is partial."},
    {"max_concurrent_per_user", STRATA_CFG_INT, "4", 0,
     "Queries one user (token) may run at once; more get 429."},
    {"wait_visible", STRATA_CFG_DURATION, "1s", 0,
     "Read your writes: a query first waits (at most this long) until the indexer of its "
     "pipeline holds every event acknowledged before it arrived; 0 turns it off."},
};

/* Most worker threads (a config typo must not start thousands). */
#define SEARCH_MAX_WORKERS 64

typedef struct srch srch;

/* A request to run: from the network (req) or from a plugin through the
 * search service (done). */
typedef struct job {
    srch *s;
    strata_http_request *req;   /* the HTTP request answered, or NULL */
    strata_search_done_fn done; /* the service caller's, when req is NULL */
    void *done_ud;
    int detached; /* the service caller cancelled: done is not called [loop] */
    int failed;   /* answered before running (the body did not parse) */
    sreq r;
    char tenant[SEARCH_MAX_TENANT];
    uint64_t user;
    atomic_int cancelled;
    uint64_t wal_next; /* the pipeline WAL position when the request arrived */
    strbuf out;
    int status;
    int64_t started_ms;
    struct job *next;
} job;

typedef struct user_slot {
    uint64_t user;
    uint32_t running;
} user_slot;

typedef struct worker {
    srch *s;
    strata_thread *t;
    job *current; /* under s->qlock */
} worker;

struct srch {
    strata_instance *inst;
    const strata_host_api *h;
    int auth;
    char tenant[SEARCH_MAX_TENANT];
    int nworkers;
    slimits lim;
    store st;
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    job *qhead, *qtail;
    size_t queued;
    int stopping;
    worker workers[SEARCH_MAX_WORKERS];
    user_slot users[SEARCH_MAX_USERS]; /* loop thread only */
    strata_metric *m_requests, *m_seconds, *m_rejected;
    strata_search_api service; /* what STRATA_SEARCH_SERVICE exports */
    int exported;
};

/* ---- users (loop thread) ---- */

/* The concurrency slot of a user (a hash of its token), created when `create` and a slot is free;
 * NULL when none. */
static user_slot *user_find(srch *s, uint64_t user, int create)
{
    user_slot *free_slot = NULL;
    for (size_t i = 0; i < SEARCH_MAX_USERS; i++) {
        if (s->users[i].running && s->users[i].user == user)
            return &s->users[i];
        if (!s->users[i].running && !free_slot)
            free_slot = &s->users[i];
    }
    if (create && free_slot)
        free_slot->user = user;
    return create ? free_slot : NULL;
}

/* ---- responding (loop thread) ---- */

/* Answer a request with a JSON body, no-store, and Retry-After on 429 and 503. */
static void respond_raw(srch *s, strata_http_request *req, int status, const char *body)
{
    s->h->http_add_header(req, "Cache-Control", "no-store");
    if (status == 429 || status == 503)
        s->h->http_add_header(req, "Retry-After", "1");
    s->h->http_respond(req, status, "application/json", body, strlen(body));
    char label[16];
    snprintf(label, sizeof label, "%d", status);
    s->h->metric_add(s->m_requests, label, 1);
}

/* Answer with status and {"error": msg}. */
static void respond_error(srch *s, strata_http_request *req, int status, const char *msg)
{
    strbuf sb = {0};
    json_error(&sb, status, msg);
    respond_raw(s, req, status, sb.oom ? "{\"error\":\"out of memory\"}" : sb.buf);
    sb_free(&sb);
}

/* Free a job: its parsed request and its answer (its HTTP request is answered already). */
static void job_free(job *j)
{
    request_free(&j->r);
    sb_free(&j->out);
    free(j);
}

/* The worker's result, delivered on the loop thread. */
static void job_done(void *arg)
{
    job *j = arg;
    srch *s = j->s;
    if (!j->failed) {
        const char *kind = j->r.kind == REQ_SEARCH ? "search" : "aggregate";
        s->h->metric_observe(s->m_seconds, kind,
                             (double)(clock_mono_ms() - j->started_ms) / 1000.0);
    }
    const char *body = j->out.buf ? j->out.buf : "{}";
    if (j->req) {
        user_slot *u = user_find(s, j->user, 0);
        if (u && u->running)
            u->running--;
        respond_raw(s, j->req, j->status, body);
    } else {
        char label[16];
        snprintf(label, sizeof label, "%d", j->status);
        s->h->metric_add(s->m_requests, label, 1);
        if (!j->detached) {
            strata_search_answer a = {sizeof a, j->status, body, strlen(body)};
            j->done(j->done_ud, &a);
        }
    }
    job_free(j);
}

/* Answer a job that will not run (the plugin stops) with status and {"error": msg}, at once. */
static void job_refuse(srch *s, job *j, int status, const char *msg)
{
    if (j->req) {
        respond_error(s, j->req, status, msg);
        job_free(j);
        return;
    }
    j->failed = 1;
    j->status = json_error(&j->out, status, msg);
    job_done(j);
}

/* Queue a job for a worker: 0, or -1 when the queue is full or the plugin stops. */
static int job_enqueue(srch *s, job *j)
{
    pthread_mutex_lock(&s->qlock);
    if (s->queued >= SEARCH_MAX_QUEUE || s->stopping) {
        pthread_mutex_unlock(&s->qlock);
        return -1;
    }
    if (s->qtail)
        s->qtail->next = j;
    else
        s->qhead = j;
    s->qtail = j;
    s->queued++;
    pthread_cond_signal(&s->qcond);
    pthread_mutex_unlock(&s->qlock);
    return 0;
}

/* The client went away: the job stops at its next check and answers nobody. */
static void on_close(strata_http_request *req, void *arg)
{
    (void)req;
    atomic_store(&((job *)arg)->cancelled, 1);
}

/* ---- workers ---- */

/* A search worker: takes queued jobs, runs each over the head and the segments, and posts the
 * answer to the loop. */
static void worker_main(void *arg)
{
    worker *w = arg;
    srch *s = w->s;
    q_scratch *scratch = q_scratch_new();
    pthread_mutex_lock(&s->qlock);
    for (;;) {
        while (!s->qhead && !s->stopping)
            pthread_cond_wait(&s->qcond, &s->qlock);
        if (!s->qhead)
            break;
        job *j = s->qhead;
        s->qhead = j->next;
        if (!s->qhead)
            s->qtail = NULL;
        s->queued--;
        w->current = j;
        pthread_mutex_unlock(&s->qlock);
        if (atomic_load(&j->cancelled)) { /* gone before it started: answers nobody */
            j->status = json_error(&j->out, 503, "cancelled before it ran");
        } else if (!scratch) {
            j->status = 500;
            sb_puts(&j->out, "{\"error\":\"out of memory\"}");
        } else {
            sctx c = {.st = &s->st,
                      .scratch = scratch,
                      .tenant = j->tenant,
                      .lim = &s->lim,
                      .deadline_ms = j->started_ms + s->lim.timeout_ms,
                      .cancelled = &j->cancelled,
                      .wal_next = j->wal_next};
            j->status = j->r.kind == REQ_SEARCH ? search_run(&c, &j->r, &j->out)
                                                : aggregate_run(&c, &j->r, &j->out);
        }
        pthread_mutex_lock(&s->qlock);
        w->current = NULL;
        pthread_mutex_unlock(&s->qlock);
        if (s->h->call_on_loop(s->inst, job_done, j) != STRATA_OK) {
            /* out of memory: the job stays allocated, since the request's
             * close callback still points at it; the client times out */
            s->h->log(s->inst, STRATA_LOG_ERROR, "cannot post a search result (out of memory)");
        }
        pthread_mutex_lock(&s->qlock);
    }
    pthread_mutex_unlock(&s->qlock);
    q_scratch_free(scratch);
}

/* ---- the handler (loop thread) ---- */

/* A search or aggregate request [loop]: authenticate, admit per user, parse, then queue the job
 * for a worker. */
static void handle(strata_http_request *req, void *arg, int kind)
{
    srch *s = arg;
    const strata_host_api *h = s->h;
    char tenant[SEARCH_MAX_TENANT];
    snprintf(tenant, sizeof tenant, "%s", s->tenant);
    uint64_t user = 0;
    if (s->auth) {
        int a = h->auth_check(s->inst, req, "search", tenant, sizeof tenant);
        if (a) {
            h->metric_add(s->m_rejected, "auth", 1);
            respond_error(s, req, a,
                          a == 401 ? "missing or unknown token (Authorization: Bearer <token>)"
                                   : "this token may not search");
            return;
        }
        const char *tok = h->http_header(req, "Authorization");
        user = XXH3_64bits(tok, strlen(tok));
    } else {
        user = XXH3_64bits(tenant, strlen(tenant));
    }
    user_slot *u = user_find(s, user, 1);
    if (!u || u->running >= s->lim.max_per_user) {
        h->metric_add(s->m_rejected, "concurrency", 1);
        respond_error(s, req, 429,
                      "too many queries running for this user (max_concurrent_per_user); retry "
                      "when one finishes");
        return;
    }
    job *j = calloc(1, sizeof *j);
    if (!j) {
        respond_error(s, req, 500, "out of memory");
        return;
    }
    size_t len;
    const char *body = h->http_body(req, &len);
    char err[512];
    if (request_parse(kind, body, len, h->now_ns(), &j->r, err, sizeof err) < 0) {
        free(j);
        h->metric_add(s->m_rejected, "invalid", 1);
        respond_error(s, req, 400, err);
        return;
    }
    j->s = s;
    j->req = req;
    j->user = user;
    if (STRATA_HOST_HAS(h, buffer_position) && h->buffer_position(s->inst, &j->wal_next) != 0)
        j->wal_next = 0;
    j->started_ms = clock_mono_ms();
    snprintf(j->tenant, sizeof j->tenant, "%s", tenant);
    /* the close callback is set before the job is visible to a worker, and
     * cleared again when the queue refuses it */
    h->http_on_close(req, on_close, j);
    if (job_enqueue(s, j) < 0) {
        h->http_on_close(req, NULL, NULL);
        job_free(j);
        h->metric_add(s->m_rejected, "queue", 1);
        respond_error(s, req, 503, "the search queue is full; retry shortly");
        return;
    }
    u->running++;
}

/* ---- the search service (strata/search.h) ---- */

/* service->submit [loop]: a plugin's request, parsed now and queued for a worker like an HTTP
 * one; one that does not parse is answered 400 through done from the loop, never from inside
 * submit. NULL when refused (done is never called then). */
static strata_search_job *svc_submit(void *ctx, strata_search_kind kind, const char *tenant,
                                     const char *body, size_t len, strata_search_done_fn done,
                                     void *ud)
{
    srch *s = ctx;
    const strata_host_api *h = s->h;
    if (!done || (kind != STRATA_SEARCH_LOGS && kind != STRATA_SEARCH_AGGREGATE) ||
        !tenant_name_ok(tenant) || (!body && len))
        return NULL;
    job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->s = s;
    j->done = done;
    j->done_ud = ud;
    snprintf(j->tenant, sizeof j->tenant, "%s", tenant);
    char err[512];
    if (request_parse(kind == STRATA_SEARCH_LOGS ? REQ_SEARCH : REQ_AGGREGATE, body ? body : "",
                      len, h->now_ns(), &j->r, err, sizeof err) < 0) {
        h->metric_add(s->m_rejected, "invalid", 1);
        j->failed = 1;
        j->status = json_error(&j->out, 400, err);
        if (h->call_on_loop(s->inst, job_done, j) != STRATA_OK) {
            job_free(j);
            return NULL;
        }
        return (strata_search_job *)j;
    }
    if (STRATA_HOST_HAS(h, buffer_position) && h->buffer_position(s->inst, &j->wal_next) != 0)
        j->wal_next = 0;
    j->started_ms = clock_mono_ms();
    if (job_enqueue(s, j) < 0) {
        h->metric_add(s->m_rejected, "queue", 1);
        job_free(j);
        return NULL;
    }
    return (strata_search_job *)j;
}

/* service->cancel [loop]: the job's done is not called; a running job stops at its next check.
 * The job itself is freed when its answer reaches the loop, as any job. */
static void svc_cancel(void *ctx, strata_search_job *sj)
{
    (void)ctx;
    job *j = (job *)sj;
    if (!j)
        return;
    j->detached = 1;
    atomic_store(&j->cancelled, 1);
}

/* Route POST /v1/search. */
static void handle_search(strata_http_request *req, void *arg)
{
    handle(req, arg, REQ_SEARCH);
}
/* Route POST /v1/aggregate. */
static void handle_aggregate(strata_http_request *req, void *arg)
{
    handle(req, arg, REQ_AGGREGATE);
}

/* ---- lifecycle ---- */

/* Read the limits (workers, per-user concurrency, timeout, segments, bytes) from the config; -1
 * with an error when one is out of range. */
static int read_limits(srch *s, const strata_config *cfg)
{
    const strata_host_api *h = s->h;
    int64_t workers = h->cfg_int(cfg, "workers");
    int64_t per_user = h->cfg_int(cfg, "max_concurrent_per_user");
    int64_t segs = h->cfg_int(cfg, "max_segments");
    if (workers < 1 || workers > SEARCH_MAX_WORKERS) {
        h->set_error(s->inst, "workers must be 1..%d", SEARCH_MAX_WORKERS);
        return -1;
    }
    if (per_user < 1 || segs < 1 || h->cfg_int(cfg, "timeout") < 1 ||
        h->cfg_int(cfg, "max_scan_bytes") < 1 || h->cfg_int(cfg, "wait_visible") < 0) {
        h->set_error(s->inst, "timeout, max_segments, max_scan_bytes and "
                              "max_concurrent_per_user must be positive");
        return -1;
    }
    s->nworkers = (int)workers;
    s->lim.timeout_ms = h->cfg_int(cfg, "timeout");
    s->lim.max_segments = (uint64_t)segs;
    s->lim.max_scan_bytes = (uint64_t)h->cfg_int(cfg, "max_scan_bytes");
    s->lim.max_per_user = (uint32_t)per_user;
    s->lim.wait_visible_ms = h->cfg_int(cfg, "wait_visible");
    return 0;
}

/* The plugin's init: limits, the store over the index directory, the metrics. */
static int search_init(strata_instance *inst, const strata_host_api *h, const strata_config *cfg,
                       void **state)
{
    if (!STRATA_HOST_HAS(h, service_acquire)) {
        h->set_error(inst, "search needs a host with plugin ABI 1.3 or later");
        return STRATA_EINVAL;
    }
    srch *s = calloc(1, sizeof *s);
    if (!s)
        return STRATA_ENOMEM;
    s->inst = inst;
    s->h = h;
    s->auth = h->cfg_bool(cfg, "auth");
    snprintf(s->tenant, sizeof s->tenant, "%s", h->cfg_str(cfg, "tenant"));
    if (read_limits(s, cfg) < 0) {
        free(s);
        return STRATA_EINVAL;
    }
    const char *dir = h->cfg_str(cfg, "dir");
    char path[3072];
    if (dir[0])
        snprintf(path, sizeof path, "%s", dir);
    else
        snprintf(path, sizeof path, "%s/index", h->data_dir(inst));
    store_init(&s->st, inst, h, path);
    pthread_mutex_init(&s->qlock, NULL);
    pthread_cond_init(&s->qcond, NULL);
    s->m_requests =
        h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_search_requests_total",
                      "Search and aggregate requests answered, by status.", "status", NULL, 0);
    static const double secs[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30};
    s->m_seconds = h->metric_new(inst, STRATA_METRIC_HISTOGRAM, "strata_search_seconds",
                                 "Time from request to response, by kind.", "kind", secs, 9);
    s->m_rejected = h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_search_rejected_total",
                                  "Requests refused before running, by reason.", "reason", NULL, 0);
    *state = s;
    return STRATA_OK;
}

/* The plugin's reconfigure: new limits apply to the next request. */
static int search_reconfigure(void *state, const strata_config *cfg)
{
    srch *s = state;
    int workers = s->nworkers;
    if (read_limits(s, cfg) < 0)
        return STRATA_EINVAL;
    s->nworkers = workers; /* the pool keeps its size until a restart */
    s->auth = s->h->cfg_bool(cfg, "auth");
    snprintf(s->tenant, sizeof s->tenant, "%s", s->h->cfg_str(cfg, "tenant"));
    return STRATA_OK;
}

/* The plugin's start: the routes and the worker threads. */
static int search_start(void *state)
{
    srch *s = state;
    const strata_host_api *h = s->h;
    for (int i = 0; i < s->nworkers; i++) {
        s->workers[i].s = s;
        s->workers[i].t = h->thread_start(s->inst, "search", worker_main, &s->workers[i]);
        if (!s->workers[i].t) {
            h->set_error(s->inst, "cannot start search worker threads");
            return STRATA_ERR;
        }
    }
    if (h->http_route(s->inst, "POST", "/v1/search", handle_search, s) != STRATA_OK ||
        h->http_route(s->inst, "POST", "/v1/aggregate", handle_aggregate, s) != STRATA_OK) {
        h->set_error(s->inst, "cannot register /v1/search and /v1/aggregate (taken?)");
        return STRATA_ERR;
    }
    s->service = (strata_search_api){
        .struct_size = sizeof s->service, .ctx = s, .submit = svc_submit, .cancel = svc_cancel};
    if (h->service_export(s->inst, STRATA_SEARCH_SERVICE, &s->service) == STRATA_OK)
        s->exported = 1;
    else /* another search instance exports it: this one serves HTTP only */
        h->log(s->inst, STRATA_LOG_WARN, "%s is exported by another instance",
               STRATA_SEARCH_SERVICE);
    return STRATA_OK;
}

/* The plugin's stop: queued jobs get 503, running ones are cancelled, the workers joined. */
static void search_stop(void *state)
{
    srch *s = state;
    if (s->exported) /* no new service jobs; waits for callers inside submit */
        s->h->service_withdraw(s->inst, STRATA_SEARCH_SERVICE);
    s->exported = 0;
    pthread_mutex_lock(&s->qlock);
    s->stopping = 1;
    job *q = s->qhead;
    s->qhead = s->qtail = NULL;
    s->queued = 0;
    for (int i = 0; i < s->nworkers; i++)
        if (s->workers[i].current)
            atomic_store(&s->workers[i].current->cancelled, 1);
    pthread_cond_broadcast(&s->qcond);
    pthread_mutex_unlock(&s->qlock);
    while (q) { /* queued, never started: told to come back */
        job *n = q->next;
        job_refuse(s, q, 503, "the server is stopping");
        q = n;
    }
    for (int i = 0; i < s->nworkers; i++) {
        if (s->workers[i].t)
            s->h->thread_join(s->workers[i].t);
        s->workers[i].t = NULL;
    }
}

/* The plugin's destroy: free what init allocated. */
static void search_destroy(void *state)
{
    srch *s = state;
    store_free(&s->st);
    pthread_mutex_destroy(&s->qlock);
    pthread_cond_destroy(&s->qcond);
    free(s);
}

static const strata_plugin search_plugin = {
    STRATA_PLUGIN_HEADER,
    .name = "search",
    .kind = STRATA_KIND_QUERY,
    .version = "1.0.0",
    .description = "POST /v1/search and /v1/aggregate over the index and the indexer's head.",
    .config = search_keys,
    .config_count = sizeof search_keys / sizeof search_keys[0],
    .init = search_init,
    .reconfigure = search_reconfigure,
    .start = search_start,
    .stop = search_stop,
    .destroy = search_destroy,
};

STRATA_PLUGIN_DEFINE(search_plugin)
