/*
 * strata/event.h - the event model as plugins see it.
 *
 * An event has: tenant, ingest_ts (gateway clock), event_ts (client clock),
 * service, host, level, msg, and meta (string keys to scalar values).
 * Events live inside batches whose binary encoding belongs to the host
 * (sdk/README.md documents it); plugins build and read them through the host
 * table with the view structs below, never by touching the encoding.
 */
#ifndef STRATA_EVENT_H
#define STRATA_EVENT_H

#include "abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Severity. 0 means "not given"; the order allows comparisons. */
typedef enum strata_level {
    STRATA_LEVEL_UNSET = 0,
    STRATA_LEVEL_TRACE = 1,
    STRATA_LEVEL_DEBUG = 2,
    STRATA_LEVEL_INFO = 3,
    STRATA_LEVEL_WARN = 4,
    STRATA_LEVEL_ERROR = 5,
    STRATA_LEVEL_FATAL = 6
} strata_level;

/* Scalar types a meta value can have. The value is always kept as text
 * (its JSON spelling for numbers and booleans) so it round-trips exactly. */
typedef enum strata_value_type {
    STRATA_VALUE_STRING = 0,
    STRATA_VALUE_INT = 1,
    STRATA_VALUE_FLOAT = 2,
    STRATA_VALUE_BOOL = 3,
    STRATA_VALUE_NULL = 4
} strata_value_type;

/* One meta entry. Borrowed strings. */
typedef struct strata_kv {
    strata_str key;
    strata_str value;
    uint8_t type; /* strata_value_type */
} strata_kv;

/* Event flags. */
#define STRATA_EVENT_SKEWED 0x01u /* |event_ts - ingest_ts| > 30 s */

/*
 * A view of one event. For reading, the host fills it (strings borrowed from
 * the batch, valid while the batch lives). For building, the plugin fills it
 * and the host copies everything into the batch.
 * struct_size must be set by whoever hands the struct to the other side.
 */
typedef struct strata_event {
    uint32_t struct_size;
    int64_t ingest_ts_ns; /* Unix ns, gateway clock */
    int64_t event_ts_ns;  /* Unix ns, client clock */
    uint8_t level;        /* strata_level */
    uint8_t flags;        /* STRATA_EVENT_* */
    strata_str tenant;
    strata_str service;
    strata_str host;
    strata_str msg;
    uint32_t meta_count;
    const strata_kv *meta; /* building: meta_count entries; reading: see batch_event */
} strata_event;

/* Initialise an event view for building. */
static inline void strata_event_init(strata_event *ev)
{
    strata_event zero = {0};
    *ev = zero;
    ev->struct_size = (uint32_t)sizeof(*ev);
}

/* Make a strata_str from a NUL-terminated C string (NULL gives empty). */
static inline strata_str strata_cstr(const char *s)
{
    strata_str r;
    size_t n = 0;
    if (s)
        while (s[n])
            n++;
    r.ptr = s ? s : "";
    r.len = (uint32_t)n;
    return r;
}

/* Upper-case name of a level ("" for unset or out of range). */
static inline const char *strata_level_name(int level)
{
    static const char *const names[] = {"", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    return level >= 0 && level <= STRATA_LEVEL_FATAL ? names[level] : "";
}

/* Parse TRACE..FATAL case-insensitively from n bytes of s; -1 if unknown. */
static inline int strata_level_parse(const char *s, size_t n)
{
    for (int l = STRATA_LEVEL_TRACE; l <= STRATA_LEVEL_FATAL; l++) {
        const char *name = strata_level_name(l);
        size_t k = 0;
        while (k < n && name[k] && (s[k] | 0x20) == (name[k] | 0x20))
            k++;
        if (k == n && !name[k])
            return l;
    }
    return -1;
}

#ifdef __cplusplus
}
#endif

#endif /* STRATA_EVENT_H */
