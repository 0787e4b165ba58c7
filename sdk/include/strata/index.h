/*
 * strata/index.h - the view of an index that its owner (the indexer)
 * gives the query plugins: where its catalog and segments are, a lock that
 * freezes them, and a scan of its in-memory head, so that an event is
 * found as soon as the indexer has it, before any flush.
 *
 * The indexer exports the table as the service STRATA_INDEX_SERVICE (ABI
 * 1.3 services) while it runs:
 *
 *     const strata_index_api *ix = host->service_acquire(inst, STRATA_INDEX_SERVICE);
 *     if (ix) {
 *         ix->lock(ix->ctx);
 *         ... ix->segments(...) lists a tenant's segments; open them under
 *             ix->dir(ix->ctx) (strata/segment.h), then ix->head_scan(...) ...
 *         ix->unlock(ix->ctx);
 *         host->service_release(inst, ix);
 *     }
 *
 * The catalog (which segments exist) is the indexer's own: a reader learns
 * it through segments(), never from the indexer's files.
 *
 * Consistency: an event is in exactly one of the listed segments or the
 * head. Between lock and unlock the indexer registers no new segment and
 * swaps no compaction, so a caller that lists the segments, opens them and
 * scans the head inside that window sees every event once.
 * Segment files opened inside the window stay readable after it (a
 * compaction unlinks the files it replaces, but an open mapping keeps
 * them).
 *
 * Compatibility as for every table: it starts with struct_size and only
 * grows at its end (check STRATA_INDEX_HAS before a newer field).
 */
#ifndef STRATA_INDEX_H
#define STRATA_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "strata/event.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The service name; ".v1" changes only if the table breaks compatibility. */
#define STRATA_INDEX_SERVICE "strata.index.v1"

/* Called for each head event; return non-zero to stop the scan. The event
 * and its strings are valid only during the call. */
typedef int (*strata_index_event_fn)(void *ud, const strata_event *ev);

/* One segment of the index, as segments() lists it. The strings are valid
 * during the call only. */
typedef struct strata_index_segment {
    uint32_t struct_size; /* sizeof(strata_index_segment) of the exporter */
    int64_t id;           /* stable while the segment exists; a merge gives a new one */
    const char *tenant;
    int level;        /* 0 for a flushed head, 1..3 for compactions */
    const char *path; /* relative to dir() */
    uint64_t events, bytes;
    int64_t min_ingest_ns, max_ingest_ns; /* the gateway's clock */
    int64_t min_event_ns, max_event_ns;   /* the events' own time */
    uint32_t dict_id; /* its zstd dictionary (0: none), in dir()/dicts/TENANT/ */
} strata_index_segment;

/* Called for each listed segment; return non-zero to stop the listing. */
typedef int (*strata_index_segment_fn)(void *ud, const strata_index_segment *seg);

typedef struct strata_index_api {
    uint32_t struct_size; /* sizeof(strata_index_api) of the exporter */
    void *ctx;            /* the exporter's; passed back to every call */
    /* The index directory: catalog.db, the tenants' segments and their
     * dictionaries (docs/ARCHITECTURE.md, "The index on disk"). [any] */
    const char *(*dir)(void *ctx);
    /* The pipeline whose WAL the indexer reads: WAL positions
     * (host->buffer_position) are comparable within one pipeline only. */
    const char *(*pipeline)(void *ctx);
    /* Wait at most timeout_ms until every WAL record below wal_next is in
     * the head or in a segment (read your writes): 0 when it is, -1 on
     * timeout. Call it before lock. [any thread but the loop] */
    int (*wait_visible)(void *ctx, uint64_t wal_next, int64_t timeout_ms);
    /* Freeze the catalog (shared: many readers at once). [any] */
    void (*lock)(void *ctx);
    void (*unlock)(void *ctx);
    /* Scan a tenant's head events (between lock and unlock), those being
     * sealed included, in no particular order, narrowed to those holding
     * every term of at least one of nalts alternatives: alternative k is
     * terms[alt_end[k-1] .. alt_end[k]) (from 0 for k = 0), each term
     * namespaced as the index holds it ("msg:timeout", "service:api"); the
     * indexer tests them against its head's own term index. nalts 0 scans
     * every event. Returns the number of events visited, or -1 when fn
     * stopped the scan. [any] */
    int64_t (*head_scan)(void *ctx, const char *tenant, const char *const *terms,
                         const size_t *lens, const size_t *alt_end, size_t nalts,
                         strata_index_event_fn fn, void *ud);
    /* List a tenant's segments (between lock and unlock), oldest first by
     * ingest time. Returns the number listed, or -1 when the catalog
     * cannot be read. [any] */
    int64_t (*segments)(void *ctx, const char *tenant, strata_index_segment_fn fn, void *ud);
} strata_index_api;

/* True when the exporter's table is new enough to contain `field`. */
#define STRATA_INDEX_HAS(api, field)                                                               \
    ((api)->struct_size >= offsetof(strata_index_api, field) + sizeof((api)->field))

#ifdef __cplusplus
}
#endif

#endif /* STRATA_INDEX_H */
