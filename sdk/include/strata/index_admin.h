/*
 * strata/index_admin.h - operations on an index that its owner (the
 * indexer) runs on request: today, compaction to completion, as
 * Elasticsearch's force-merge does. `strata compact DATA_DIR` and the
 * indexer's POST /v1/admin/compact use it; a plugin of a third party (a
 * tier manager, a UI) may too.
 *
 * The indexer exports the table as the service STRATA_INDEX_ADMIN_SERVICE
 * (ABI 1.3 services) while it runs:
 *
 *     const strata_index_admin_api *ad =
 *         host->service_acquire(inst, STRATA_INDEX_ADMIN_SERVICE);
 *     strata_compact_result res;
 *     char err[256];
 *     if (ad && ad->compact(ad->ctx, NULL, &res, err, sizeof err) == STRATA_OK)
 *         ...;
 *     host->service_release(inst, ad);
 *
 * compact blocks its caller until the compaction is done (never call it on
 * the loop thread: the HTTP route queues a job and answers later instead).
 * Compatibility as for every table: it starts with struct_size and only
 * grows at its end (check STRATA_INDEX_ADMIN_HAS before a newer field).
 */
#ifndef STRATA_INDEX_ADMIN_H
#define STRATA_INDEX_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "strata/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The service name; ".v1" changes only if the table breaks compatibility. */
#define STRATA_INDEX_ADMIN_SERVICE "strata.index.admin.v1"

/* What one compaction did. Segments are counted over the tenants it
 * covered, at every level. */
typedef struct strata_compact_result {
    uint32_t struct_size;     /* sizeof, set by the indexer */
    uint32_t merges;          /* merges run */
    uint64_t segments_before; /* segments when it started */
    uint64_t segments_after;  /* and when it ended */
    uint64_t bytes_before;    /* their bytes on disk */
    uint64_t bytes_after;
    int64_t took_ms; /* wall time, queueing behind another compaction included */
} strata_compact_result;

typedef struct strata_index_admin_api {
    uint32_t struct_size; /* sizeof(strata_index_admin_api) of the exporter */
    void *ctx;            /* the exporter's; passed back to every call */
    /* Compact the tenant's segments (every tenant when tenant is NULL) to
     * completion: every window at every level is merged as if it were
     * closed, until a pass has nothing left to merge. Segments that arrive
     * meanwhile may stay unmerged. STRATA_OK with *out filled in;
     * STRATA_ESTOPPING when the indexer stops first; STRATA_ERR with a
     * message when compaction is off or a merge failed (the index is as
     * it was before that merge). [any thread but the loop] */
    int (*compact)(void *ctx, const char *tenant, strata_compact_result *out, char *err,
                   size_t errlen);
} strata_index_admin_api;

/* True when the table is new enough to contain `field`. */
#define STRATA_INDEX_ADMIN_HAS(api, field)                                                         \
    ((api)->struct_size >= offsetof(strata_index_admin_api, field) + sizeof((api)->field))

#ifdef __cplusplus
}
#endif

#endif /* STRATA_INDEX_ADMIN_H */
