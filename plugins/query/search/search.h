/*
 * plugins/query/search/search.h - state shared by the search plugin's files:
 *   search.c   the plugin: routes, the worker pool, per-user limits
 *   request.c  request bodies (JSON) to a parsed request
 *   store.c    the segments a query reads: the indexer's listing and
 *              head (strata.index.v1), the reader cache
 *   run.c      POST /v1/search: pruning, postings, verification, top-k
 *   agg.c      POST /v1/aggregate: buckets of counts and metrics
 *   out.c      events and errors as JSON
 */
#ifndef STRATA_SEARCH_H
#define STRATA_SEARCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <strata/strata.h>

#include "clock.h"

#include "query.h"
#include "segment.h"
#include "strbuf.h"
#include "strata/index.h"

/* Most logs one search returns (the brief's limit). */
#define SEARCH_MAX_LIMIT 10000u
/* Logs returned when the request does not say. */
#define SEARCH_DEFAULT_LIMIT 100u
/* Group-by dimensions of one aggregate: more is a table, not a chart. */
#define AGG_MAX_GROUPS 3
/* Buckets (time x group) one aggregate may produce: a chart of 1 day at 1 s
 * by 3 services is 259,200; past this the answer says to widen the
 * interval instead of building a response nobody can draw. */
#define AGG_MAX_BUCKETS 500000u
/* Cells (time buckets x group ids) of the dense per-segment count array
 * of an aggregate: 8 MiB; larger spans or dictionaries use a hash table. */
#define AGG_DENSE_MAX_CELLS (1u << 20)
/* Distinct values count_distinct tracks exactly per bucket; past it the
 * count is reported as a lower bound. */
#define AGG_MAX_DISTINCT 100000u
/* count_distinct of a dictionary column hashes all its values up front
 * when a segment has at least 1/this as many candidate rows as values
 * (then most values are met); with fewer, each value when first met. */
#define AGG_PREHASH_SHARE 4u
/* Numeric values kept per bucket for percentiles (exact up to this many,
 * then a uniform reservoir sample of this size). */
#define AGG_MAX_SAMPLES 10000u
/* Readers kept open (mapped) between queries; a store this size is 40 TB
 * of compacted segments. */
#define STORE_MAX_READERS 4096u
/* Longest request body: a query is at most Q_MAX_TEXT plus filters. */
#define SEARCH_MAX_BODY ((size_t)256 * 1024)
/* Rows between two checks of the deadline, cancellation and bytes. */
#define SEARCH_CHECK_EVERY 4096u
/* Longest tenant name kept (the tenant store's are at most 64 bytes). */
#define SEARCH_MAX_TENANT 128
/* Longest segment path kept, relative to the index directory. */
#define SEARCH_MAX_SEG_PATH 512
/* Queries queued for a worker before new ones get 503. */
#define SEARCH_MAX_QUEUE 256u
/* Distinct users tracked for concurrency limits. */
#define SEARCH_MAX_USERS 1024u

enum { REQ_SEARCH, REQ_AGGREGATE };
enum { GB_SERVICE, GB_HOST, GB_LEVEL, GB_META };
enum { MET_COUNT, MET_DISTINCT, MET_MIN, MET_MAX, MET_AVG, MET_P50, MET_P95, MET_P99 };

/* The sort key of an event: event time, then ingest time, then a hash of
 * its content, so that pages are stable while ingestion goes on. */
typedef struct skey {
    int64_t ts, ingest;
    uint64_t h;
} skey;

typedef struct sreq {
    int kind;
    query *q;               /* query text AND filters */
    int64_t from_ns, to_ns; /* event time, [from, to) */
    int desc;
    uint32_t limit;
    int has_cursor;
    skey cursor;    /* results strictly after it in sort order */
    int track_hits; /* verify every candidate so hits is exact (slower) */
    /* aggregate */
    int ngroups;
    int group[AGG_MAX_GROUPS];
    char *group_key[AGG_MAX_GROUPS]; /* meta key of GB_META */
    int64_t interval_ns;
    int metric;
    char *metric_field; /* meta key of a numeric metric */
} sreq;

/* Limits of one query (config, per instance). */
typedef struct slimits {
    int64_t timeout_ms;
    uint64_t max_segments;
    uint64_t max_scan_bytes;
    uint32_t max_per_user;
    int64_t wait_visible_ms; /* read your writes: wait for the indexer this long at most */
} slimits;

/* What a run measured and how it ended. */
typedef struct sstats {
    uint64_t hits;
    int hits_exact;
    uint64_t unverified; /* candidates not verified: hits is then a lower bound */
    uint64_t scanned;    /* rows whose time or content was examined */
    uint64_t bytes;      /* row bytes decoded */
    uint64_t segments;   /* segments read */
    uint64_t head;       /* head events examined */
    int partial;         /* a limit or timeout cut the run short */
    const char *partial_why;
} sstats;

/* ---- store.c: the segments and head a query reads ---- */

typedef struct store_reader store_reader; /* a cached open reader */

typedef struct store {
    const strata_host_api *h;
    strata_instance *inst;
    char dir[3072]; /* the index directory */
    pthread_mutex_t lock;
    store_reader **readers; /* the cache, sorted by segment id */
    size_t nreaders;
    seg_dicts **dicts; /* every dictionary set ever loaded (readers keep pointers) */
    size_t ndicts;
} store;

/* A listed segment, as a query keeps it (strata_index_segment's strings copied). */
typedef struct seg_listing {
    int64_t id;
    int64_t min_event, max_event;
    uint32_t dict_id;
    char path[SEARCH_MAX_SEG_PATH];
} seg_listing;

/* One query's snapshot: the segments it may read, in the listing's order. */
typedef struct snap_seg {
    seg_listing meta;
    store_reader *sr;
} snap_seg;

typedef struct snapshot {
    snap_seg *segs;
    size_t n;
} snapshot;

/* Set up the reader cache over the index in dir; store_free closes every
 * cached reader and the dictionaries they used. */
int store_init(store *s, strata_instance *inst, const strata_host_api *h, const char *dir);
void store_free(store *s);
/* Freeze the index through the indexer of this directory in this process
 * (strata.index.v1), list the tenant's segments overlapping [from, to),
 * open those not cached, and call head_fn for each head event that may
 * match q (those holding q's required terms; every one when q is NULL);
 * then unfreeze. 0; -1 with err when no such indexer runs or its index
 * cannot be read; -2 with err when more than max_segments overlap (nothing
 * is opened or scanned then). */
int store_snapshot(store *s, const char *tenant, int64_t from, int64_t to, uint64_t max_segments,
                   const query *q, strata_index_event_fn head_fn, void *ud, snapshot *out,
                   char *err, size_t errlen);
/* Read your writes: before the next store_snapshot of this thread, wait
 * (at most wait_ms) until the indexer holds every WAL record below wal_next
 * (the position when the request arrived). No-op without an indexer in
 * the same pipeline. */
void store_wait_visible(store *s, uint64_t wal_next, int64_t wait_ms);
void snapshot_free(store *s, snapshot *sn);
/* The reader of a snapshot segment, locked for the caller's exclusive use. */
seg_reader *store_reader_lock(store_reader *sr);
void store_reader_unlock(store_reader *sr);

/* ---- request.c ---- */

/* Parse a search or aggregate body. 0, or -1 with a message in err naming
 * the field. `now_ns` resolves relative times ("now-1h"). */
int request_parse(int kind, const char *body, size_t len, int64_t now_ns, sreq *out, char *err,
                  size_t errlen);
void request_free(sreq *r);
/* Parse "now", "now-15m", "now-1d", or RFC 3339; 0 or -1. */
int parse_time(const char *s, int64_t now_ns, int64_t *out);
/* Parse a duration "500ms", "1s", "5m", "1h", "1d"; 0 or -1. */
int parse_duration_ns(const char *s, int64_t *out);
/* Cursor text <-> key. */
void cursor_encode(const skey *k, int desc, char *out, size_t cap);
int cursor_decode(const char *s, skey *k, int *desc);

/* ---- out.c ---- */

/* Append ev as the API's log object. */
void json_event(strbuf *sb, const strata_event *ev);
uint64_t event_hash(const strata_event *ev);
/* Replace out with {"error": msg}; returns status (for `return json_error(..)`). */
int json_error(strbuf *out, int status, const char *msg);
/* -1, 0, 1: a before/equal/after b in ascending order. */
int skey_cmp(const skey *a, const skey *b);

/* ---- run.c and agg.c ---- */

/* A query's context on a worker thread. */
typedef struct sctx {
    store *st;
    q_scratch *scratch;
    const char *tenant;
    const slimits *lim;
    int64_t deadline_ms;
    atomic_int *cancelled;
    uint64_t wal_next; /* the pipeline WAL position when the request arrived (0: none) */
} sctx;

/* Run a search; the response body goes to out. Returns the HTTP status. */
int search_run(sctx *c, const sreq *r, strbuf *out);
int aggregate_run(sctx *c, const sreq *r, strbuf *out);
/* Why a run must stop now ("cancelled", "timeout", "max_scan_bytes" when
 * `bytes` decoded are past the limit), or NULL to go on. */
const char *sctx_stop_reason(const sctx *c, uint64_t bytes);

#endif /* STRATA_SEARCH_H */
