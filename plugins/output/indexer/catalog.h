/*
 * plugins/output/indexer/catalog.h - the indexer's segment catalog: which segments exist, per
 * tenant and level, and how far into the WAL the indexer has made events durable. SQLite in
 * DATA_DIR/index/catalog.db (WAL journal, synchronous=FULL).
 *
 * The catalog is the truth: a segment file not listed here is an orphan (a
 * crash between writing it and committing it, or after a compaction swap)
 * and is deleted at start. Registering new segments and moving the WAL
 * position happen in one transaction, which is what makes indexing exactly
 * once across crashes (docs/ARCHITECTURE.md, "Checkpoint protocol").
 *
 * One catalog handle per thread (SQLite connections are not shared).
 */
#ifndef STRATA_INDEXER_CATALOG_H
#define STRATA_INDEXER_CATALOG_H

#include <stddef.h>
#include <stdint.h>

/* Longest tenant name and relative segment path stored. */
#define CAT_MAX_TENANT 128
#define CAT_MAX_PATH 512

typedef struct cat_segment {
    int64_t id; /* assigned by the catalog */
    char tenant[CAT_MAX_TENANT];
    int level;
    char path[CAT_MAX_PATH]; /* relative to the index directory */
    uint64_t events, bytes;
    int64_t min_ingest, max_ingest, min_event, max_event;
    uint32_t dict_id;
} cat_segment;

typedef struct catalog catalog;

/* Open (creating the schema) the catalog at path; NULL with err. */
catalog *catalog_open(const char *path, char *err, size_t errlen);
void catalog_close(catalog *c);

/* The WAL position `consumer` has made durable (next sequence), 0 if none. */
uint64_t catalog_progress(catalog *c, const char *consumer);

/* One transaction: add the segments (ids filled in) and set the consumer's
 * WAL position. 0, or -1 with err (nothing changed). */
int catalog_add_flush(catalog *c, cat_segment *segs, size_t n, const char *consumer,
                      uint64_t wal_next, char *err, size_t errlen);

/* One transaction: remove the segments `old` and add `merged` (id filled in).
 * Fails (-1, nothing changed) when any of `old` is already gone. */
int catalog_swap(catalog *c, const int64_t *old, size_t nold, cat_segment *merged, char *err,
                 size_t errlen);

/* Segments of a tenant (NULL: all) at a level (-1: all), ordered by
 * min_ingest. *out is malloc'd. 0 or -1. */
int catalog_list(catalog *c, const char *tenant, int level, cat_segment **out, size_t *n);

/* Small named values (the current dictionary of a tenant, ...). get copies
 * into buf and returns 0, or -1 when absent. */
int catalog_meta_put(catalog *c, const char *key, const char *value);
int catalog_meta_get(catalog *c, const char *key, char *buf, size_t cap);

/* Tenants with at least one segment. *out is malloc'd (CAT_MAX_TENANT each). */
int catalog_tenants(catalog *c, char (**out)[CAT_MAX_TENANT], size_t *n);

#endif /* STRATA_INDEXER_CATALOG_H */
