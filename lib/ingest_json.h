/*
 * lib/ingest_json.h - the decoder of /v1/ingest bodies, a library: the http
 * input, `strata search --file` and the benchmarks call it.
 *
 * A hand-written, single-pass (when "source" comes first) decoder for
 * exactly this schema, because it is the hottest path of the gateway:
 *
 *   {"source": {"service", "host", "region", "environment"},
 *    "logs": [{"ts", "level", "msg", "meta": {key: scalar}}, ...]}
 *
 * and NDJSON (one event object per line, source fields inline). It
 * validates JSON syntax completely (a syntax error fails the whole body with
 * its byte offset), validates every event on its own (a bad event is
 * counted and reported by index with its reason while the good ones are
 * kept), checks UTF-8 in every string, and enforces every limit it is given.
 *
 * Timestamps: RFC 3339 with any offset, or a number of epoch seconds,
 * milliseconds, microseconds or nanoseconds (told apart by magnitude).
 * A missing ts is the ingest time. Events whose ts differs from the ingest
 * time by more than 30 s are flagged (STRATA_EVENT_SKEWED).
 * region and environment become meta keys; other unknown scalar fields of
 * an event are kept in meta too.
 *
 * Thread: any; the decoder has no global state.
 */
#ifndef STRATA_LIB_INGEST_JSON_H
#define STRATA_LIB_INGEST_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <strata/strata.h>

/* How far event time may be from ingest time before it is flagged. */
#define INGEST_SKEW_NS (30ll * 1000000000ll)
/* Per-event errors reported in a response (the count is always exact). */
#define INGEST_MAX_REPORTED_ERRORS 100
/* Longest meta number, in characters: past any 64-bit integer or the 17
 * significant digits of a double with its exponent, more digits only
 * pretend to a precision comparisons and aggregates cannot use. */
#define INGEST_MAX_NUMBER_CHARS 64

typedef struct ingest_limits {
    uint32_t max_events;      /* per body */
    uint32_t max_msg_bytes;   /* per msg, after unescaping */
    uint32_t max_meta_keys;   /* per event */
    uint32_t max_key_bytes;   /* per meta key */
    uint32_t max_depth;       /* nesting of any value, anywhere */
    uint32_t max_value_bytes; /* per meta string value, after unescaping */
} ingest_limits;

typedef struct ingest_error {
    uint32_t index; /* event index in the body (0-based) */
    char reason[160];
} ingest_error;

/* Why an event was refused: the label of strata_ingest_rejected_events_total{reason}. */
typedef enum ingest_reason {
    INGEST_R_SYNTAX = 0, /* not a JSON object, or a malformed NDJSON line */
    INGEST_R_MSG,        /* msg missing or not a string */
    INGEST_R_TOO_LARGE,  /* msg over max_msg_bytes, or the event over a batch's limit */
    INGEST_R_ENCODING,   /* not valid UTF-8 */
    INGEST_R_TIMESTAMP,  /* ts not RFC 3339 nor an epoch number */
    INGEST_R_LEVEL,      /* level not a known name */
    INGEST_R_META,       /* meta not an object, too many keys, bad key or value */
    INGEST_R_COUNT_
} ingest_reason;

/* The reasons' names, indexed by ingest_reason. */
extern const char *const ingest_reason_names[INGEST_R_COUNT_];

typedef struct ingest_result {
    uint32_t accepted, failed;
    uint32_t by_reason[INGEST_R_COUNT_]; /* failed, split by reason */
    uint32_t nerrors;                    /* reported, at most INGEST_MAX_REPORTED_ERRORS */
    ingest_error errors[INGEST_MAX_REPORTED_ERRORS];
    int limit_status; /* 413 when a body-level limit was hit, else 0 */
} ingest_result;

/* Appends each good event to `out` via the host table. tenant is the
 * caller's (from the credential); now_ns the ingest time. Returns 0, or -1
 * when the body cannot be decoded at all (err says why and where; events
 * already appended must then be discarded by the caller). */
int ingest_decode(const strata_host_api *h, strata_batch *out, const char *body, size_t len,
                  int ndjson, const char *tenant, int64_t now_ns, const ingest_limits *lim,
                  ingest_result *res, char *err, size_t errlen);

#endif /* STRATA_LIB_INGEST_JSON_H */
