/*
 * strata/search.h - run searches and aggregations from a plugin: the
 * service the search query plugin exports, so that a third-party frontend
 * (a Loki- or SQL-style API, a UI, saved searches, alerts) queries the
 * index without linking Strata's segment or query libraries.
 *
 * A request is the JSON body of POST /v1/search or POST /v1/aggregate and
 * the answer is that endpoint's JSON answer with its HTTP status
 * (docs/QUERY.md, "HTTP API"): one contract, documented once, for the
 * network and for plugins. The request runs on the search plugin's worker
 * pool under its limits (timeout, max_segments, max_scan_bytes, its queue),
 * reads the indexer's head as well as its segments, and waits for the
 * caller's own writes as an HTTP request does (wait_visible).
 *
 *     const strata_search_api *sa = host->service_acquire(inst, STRATA_SEARCH_SERVICE);
 *     strata_search_job *job = NULL;
 *     if (sa) {
 *         job = sa->submit(sa->ctx, STRATA_SEARCH_AGGREGATE, "default", body, len, done, me);
 *         host->service_release(inst, sa);
 *     }
 *     if (!job) ... refused: nobody searches here, or the queue is full
 *
 *     static void done(void *ud, const strata_search_answer *a)
 *     {   a->status 200: a->body holds {"hits": ..., "buckets": [...]}
 *         otherwise a->body holds {"error": "what was wrong"}          }
 *
 * Threads and lifetimes: submit and cancel are called on the loop thread
 * (from an HTTP handler, a timer, call_on_loop). `done` is called on the
 * loop thread, later, exactly once for every job submit accepted, unless
 * the job was cancelled first; the answer is valid during the call only.
 * A job handle is valid until its done call or its cancel. A plugin that
 * stops with jobs outstanding cancels them in its stop (acquiring the
 * service again for that; when acquire gives NULL the search plugin has
 * stopped and every job was answered). When the search plugin stops,
 * queued jobs are answered 503 and running ones end early with what they
 * found ("partial": true).
 *
 * Tenants and authentication are the caller's: the service searches the
 * tenant it is given. A frontend that serves users checks their token
 * first (host->auth_check with the "search" scope gives its tenant).
 *
 * Compatibility as for every table: it starts with struct_size and only
 * grows at its end (check STRATA_SEARCH_HAS before a newer field).
 */
#ifndef STRATA_SEARCH_API_H
#define STRATA_SEARCH_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The service name; ".v1" changes only if the table breaks compatibility. */
#define STRATA_SEARCH_SERVICE "strata.search.v1"

/* What a request asks: the body of POST /v1/search or POST /v1/aggregate. */
typedef enum strata_search_kind {
    STRATA_SEARCH_LOGS = 0,
    STRATA_SEARCH_AGGREGATE = 1
} strata_search_kind;

/* A submitted request (opaque). */
typedef struct strata_search_job strata_search_job;

typedef struct strata_search_answer {
    uint32_t struct_size; /* sizeof(strata_search_answer) of the exporter */
    /* The HTTP status the same request gets on the network: 200; 400 for a
     * request or query that is wrong (body says where); 422 for a time
     * range over more segments than max_segments; 500; 503 when the index
     * cannot be read or the search plugin stops. */
    int status;
    const char *body; /* the JSON answer, NUL-terminated */
    size_t len;       /* strlen(body) */
} strata_search_answer;

/* Called on the loop thread with the answer of a job. */
typedef void (*strata_search_done_fn)(void *ud, const strata_search_answer *answer);

typedef struct strata_search_api {
    uint32_t struct_size; /* sizeof(strata_search_api) of the exporter */
    void *ctx;            /* the exporter's; passed back to every call */
    /* Queue a request for tenant. The body is copied (the caller's may go
     * right after). A request that does not parse is accepted and answered
     * 400 through done, as on the network. NULL when refused, and done is
     * never called then: the queue is full (SEARCH_MAX_QUEUE) or the
     * search plugin stops (answer such a caller 503 and retry), the
     * tenant is not a tenant name (1 to 64 of a-z, 0-9, '_', '-'), or out
     * of memory. [loop] */
    strata_search_job *(*submit)(void *ctx, strata_search_kind kind, const char *tenant,
                                 const char *body, size_t len, strata_search_done_fn done,
                                 void *ud);
    /* The caller no longer wants the answer: done is not called for this
     * job (a running job stops at its next check). [loop] */
    void (*cancel)(void *ctx, strata_search_job *job);
} strata_search_api;

/* True when the exporter's table is new enough to contain `field`. */
#define STRATA_SEARCH_HAS(api, field)                                                              \
    ((api)->struct_size >= offsetof(strata_search_api, field) + sizeof((api)->field))

#ifdef __cplusplus
}
#endif

#endif /* STRATA_SEARCH_API_H */
