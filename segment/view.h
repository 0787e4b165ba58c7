/*
 * segment/view.h - the index view the indexer output exports to the query
 * plugins (host service "strata.index.v1", ABI 1.3 services): where its
 * catalog and segments are, and its in-memory head, so an event is found as
 * soon as the indexer has it, before any flush.
 *
 * Consistency: an event is in exactly one of the catalog's segments or the
 * head. Between view_lock and view_unlock the indexer registers no new
 * segment and swaps no compaction, so a caller that lists the catalog, opens
 * the segments and scans the head inside that window sees every event once.
 * Segment files opened inside the window stay readable after it (a
 * compaction unlinks replaced files, but an open mapping keeps them).
 */
#ifndef STRATA_SEGMENT_VIEW_H
#define STRATA_SEGMENT_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "strata/event.h"

#define SEG_VIEW_SERVICE "strata.index.v1"

/* Called for each head event; return non-zero to stop the scan. The event
 * and its strings are valid only during the call. */
typedef int (*seg_view_event_fn)(void *ud, const strata_event *ev);

typedef struct seg_view_api {
    uint32_t struct_size;
    void *ctx;
    /* The index directory (catalog.db, tenants' segments, dictionaries). */
    const char *(*dir)(void *ctx);
    /* Freeze the catalog (shared: many queries at once). */
    void (*lock)(void *ctx);
    void (*unlock)(void *ctx);
    /* Scan the head events of a tenant (between lock and unlock), those
     * being sealed included, in no particular order. Returns the number of
     * events visited, or -1 when fn stopped the scan. */
    int64_t (*head_scan)(void *ctx, const char *tenant, seg_view_event_fn fn, void *ud);
    /* The pipeline whose WAL the indexer reads (WAL positions are only
     * comparable within one pipeline). */
    const char *(*pipeline)(void *ctx);
    /* Wait (at most timeout_ms) until every WAL record below wal_next is
     * in the head or in a segment: 0 when it is, -1 on timeout. Call it
     * before lock. */
    int (*wait_visible)(void *ctx, uint64_t wal_next, int64_t timeout_ms);
    /* head_scan narrowed to the events holding every one of terms[n]
     * (namespaced, as the index holds them): the indexer tests them against
     * its head's own term index instead of handing over every event.
     * Returns as head_scan. Added after wait_visible: check struct_size. */
    int64_t (*head_scan_terms)(void *ctx, const char *tenant, const char *const *terms,
                               const size_t *lens, size_t n, seg_view_event_fn fn, void *ud);
    /* head_scan narrowed to the events holding every term of at least one
     * of nalts alternatives (q_required_alts): alternative k is
     * terms[alt_end[k-1] .. alt_end[k]) (from 0 for k = 0); nalts 0 means
     * every event. Returns as head_scan. Added after head_scan_terms. */
    int64_t (*head_scan_any)(void *ctx, const char *tenant, const char *const *terms,
                             const size_t *lens, const size_t *alt_end, size_t nalts,
                             seg_view_event_fn fn, void *ud);
} seg_view_api;

#endif /* STRATA_SEGMENT_VIEW_H */
