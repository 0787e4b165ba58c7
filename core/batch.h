/*
 * core/batch.h - event batches and their binary encoding (version 1).
 *
 * The encoding is documented byte by byte in sdk/README.md. A batch is one
 * contiguous buffer (so a WAL can write it with one call) plus an index of
 * event offsets built while appending or decoding.
 *
 * Ownership: batch_new/batch_decode give a batch with one reference owned by
 * the caller. batch_ref/batch_unref share it read-only between outputs;
 * batch_free is batch_unref.
 * Thread: any; a batch is written by one thread, then only read.
 */
#ifndef STRATA_CORE_BATCH_H
#define STRATA_CORE_BATCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/event.h"

#define BATCH_MAGIC 0x31425453u /* "STB1" little-endian */
#define BATCH_VERSION 1
#define BATCH_HEADER_BYTES 16
#define BATCH_EVENT_FIXED_BYTES 34
#define BATCH_META_FIXED_BYTES 7

struct strata_batch {
    uint8_t *data; /* header + tag + events */
    size_t len;
    size_t cap;
    uint32_t *offs; /* offset of each event record in data */
    uint32_t count;
    uint32_t offs_cap;
    atomic_int refs;
    uint64_t seq; /* WAL sequence it was read from; 0 when not from a WAL */
    char tag[129];
};

typedef struct strata_batch batch_t;

/* A new empty batch with one reference (the caller's); NULL on OOM. */
batch_t *batch_new(const char *tag);
/* Take and drop a reference: each output holding a batch takes one; the
 * last unref frees it. Any thread. */
void batch_ref(batch_t *b);
void batch_unref(batch_t *b);
int batch_append(batch_t *b, const strata_event *ev);
int batch_get(const batch_t *b, uint32_t i, strata_event *ev, strata_kv *meta, uint32_t cap);
int batch_decode(const void *data, size_t len, batch_t **out, char *err, size_t errlen);
size_t batch_event_json(const batch_t *b, uint32_t i, char *buf, size_t cap);

const char *level_name(int level);
int level_parse(const char *s, size_t n);

#include "timefmt.h" /* format_rfc3339, used with the formatter */

#endif /* STRATA_CORE_BATCH_H */
