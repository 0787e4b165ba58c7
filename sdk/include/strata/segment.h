/*
 * strata/segment.h - read Strata's index segments from a plugin: the
 * immutable, compressed, indexed files the indexer writes (format described
 * in docs/ARCHITECTURE.md, "Segment format"). Tier managers, exporters and
 * query frontends of third parties read segments through this table rather
 * than through the segment library's own headers, so that the library may
 * change while this table only grows.
 *
 * The host exports the table as the service STRATA_SEGMENT_SERVICE (ABI
 * 1.3 services; hosts from 1.3 on that know it):
 *
 *     const strata_segment_api *seg = host->service_acquire(inst, STRATA_SEGMENT_SERVICE);
 *     strata_segment *s;
 *     char err[256];
 *     if (seg && seg->open(path, &s, err, sizeof err) == STRATA_OK) {
 *         strata_event ev;
 *         for (uint32_t i = 0; i < n && seg->row(s, i, &ev) == STRATA_OK; i++)
 *             ...;
 *         seg->close(s);
 *     }
 *     host->service_release(inst, seg);
 *
 * The table is the host's own and stays valid for the life of the process;
 * a segment handle may be kept past service_release. Ownership: open gives
 * a handle the caller closes; strings and events it returns point into the
 * handle (an event's until the next row() on that handle, everything else
 * until close). A handle is not thread-safe: open one per thread.
 * Compatibility as for every table: it starts with struct_size and only
 * grows at its end (check STRATA_SEGMENT_HAS before calling a newer field).
 */
#ifndef STRATA_SEGMENT_API_H
#define STRATA_SEGMENT_API_H

#include <stddef.h>
#include <stdint.h>

#include "strata/abi.h"
#include "strata/event.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_SEGMENT_SERVICE "strata.segment.v1"

/* An open segment file (opaque). */
typedef struct strata_segment strata_segment;

typedef struct strata_segment_info {
    uint32_t struct_size;    /* set by the caller to sizeof; the host fills what fits */
    uint32_t format_version; /* of the file (1..current) */
    uint64_t events;         /* rows, numbered 0..events-1 in ingest order */
    int64_t min_ingest_ns, max_ingest_ns;
    int64_t min_event_ns, max_event_ns;
    uint64_t terms; /* distinct terms in its index */
    uint64_t bytes; /* file size */
    strata_str tenant;
} strata_segment_info;

/* Called for each row holding a term, in ascending order; non-zero stops. */
typedef int (*strata_segment_row_fn)(void *ud, uint32_t row);
/* Called for each term under a prefix, in sorted order, with its document
 * frequency; non-zero stops. The term is valid during the call only. */
typedef int (*strata_segment_term_fn)(void *ud, const char *term, size_t len, uint32_t df);

typedef struct strata_segment_api {
    uint32_t struct_size;
    /* Open and verify a segment file (header, footer, every checksum but
     * the row blocks', which are checked as rows are read). Its zstd
     * dictionary is found next to it in the indexer's layout
     * (DATA_DIR/index/dicts/TENANT/). STRATA_OK with *out, or STRATA_EINVAL
     * with a message in err saying what is wrong (a corrupt or truncated
     * file is refused, never served as data). */
    int (*open)(const char *path, strata_segment **out, char *err, size_t errlen);
    void (*close)(strata_segment *s);
    int (*info)(const strata_segment *s, strata_segment_info *out);
    /* Row `row` as an event (tenant, timestamps, service, host, level, msg,
     * meta). STRATA_OK; STRATA_ERANGE past the end; STRATA_EINVAL when its
     * block is corrupt (error() says which). */
    int (*row)(strata_segment *s, uint32_t row, strata_event *out);
    /* The rows whose terms include `term`, namespaced as the index holds
     * it ("msg:timeout", "service:payments", "meta.user_id:u_42"; the
     * tokenizer of docs/TOKENIZER.md). STRATA_OK (also when none), or
     * STRATA_EINVAL on a corrupt index. */
    int (*postings)(strata_segment *s, const char *term, size_t len, strata_segment_row_fn fn,
                    void *ud);
    /* Every term starting with prefix, without scanning the others. */
    int (*terms)(strata_segment *s, const char *prefix, size_t len, strata_segment_term_fn fn,
                 void *ud);
    /* The last error on this handle ("" when none). */
    const char *(*error)(const strata_segment *s);
} strata_segment_api;

/* True when the table is new enough to contain `field`. */
#define STRATA_SEGMENT_HAS(api, field)                                                             \
    ((api)->struct_size >= offsetof(strata_segment_api, field) + sizeof((api)->field))

#ifdef __cplusplus
}
#endif

#endif /* STRATA_SEGMENT_API_H */
