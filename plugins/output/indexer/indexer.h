/*
 * plugins/output/indexer/indexer.h - state shared by the indexer's files:
 * indexer.c (flush, the head, sealing, lifecycle) and compact.c (merging
 * closed windows level by level).
 */
#ifndef STRATA_INDEXER_H
#define STRATA_INDEXER_H

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include <strata/index_admin.h>
#include <strata/strata.h>

#include "clock.h"

#include "catalog.h"
#include "segment.h"
#include "strata/index.h"

/* Tenants in one head. Beyond this a batch's extra tenants fail loudly;
 * a single node serving more tenants than this wants several indexers. */
#define INDEXER_MAX_TENANTS 256
/* Meta entries read per event (as the batch format's limit). */
#define INDEXER_MAX_META 1024
/* The largest head: bounds the memory of the head plus the one sealing. */
#define INDEXER_MAX_HEAD_BYTES (2048u << 20)
/* Writers of registered heads kept, emptied, for the next heads: a fresh
 * writer's memory is zeroed by the kernel as it is first touched (a fifth
 * of the CPU of building a segment), a kept one's is not. Enough for the
 * busiest tenants; the rest start from fresh writers. */
#define INDEXER_SPARE_WRITERS 8
/* The sealer and compactor wake this often to check their deadlines. */
#define INDEXER_POLL_MS 100
/* A failed seal (disk full, say) is retried after this many seconds. */
#define INDEXER_RETRY_S 1
/* A tenant's first dictionary is trained once a head has this many events
 * (fewer samples train a dictionary that hurts more than it helps). */
#define INDEXER_DICT_MIN_EVENTS 2000u
/* Dictionary size and training samples. A dictionary holds the text of
 * log lines' templates, which blocks then refer to instead of repeating
 * it; a larger one than zstd's default keeps more templates and makes
 * message frames smaller, with diminishing returns past this size, and
 * this many samples train it in seconds. The training ratio
 * (segment/dicts.c) still keeps a small tenant's dictionary small. */
#define INDEXER_DICT_BYTES ((size_t)256 * 1024)
#define INDEXER_DICT_SAMPLES 250000u
/* Levels: L0 (flush) .. L3 (1 day). */
#define INDEXER_LEVELS 4
/* zstd level of the intermediate compaction levels (L1, L2); the last
 * level uses SEG_COMPACT_ZSTD_LEVEL (19). Rows spend an hour at most in
 * L1 and L2, and each merge compresses them all again: level 19 is a few
 * percent smaller for several times the CPU (bench/segments, the merge
 * table), which pays only where rows stay. */
#define INDEXER_MID_ZSTD_LEVEL 9
/* Head rows a query reads per hold of the head lock: bounds how long a
 * search can stall ingestion (~1 ms of matching). */
#define INDEXER_SCAN_CHUNK 2048u
/* Terms a head scan tests per row: a query's first few required terms
 * narrow the head to a handful of rows; more would only cost compares. */
#define INDEXER_MAX_SCAN_TERMS 8u
/* Alternatives a head scan tests per row ("(a OR b) c": two): as many as
 * the query library gives (Q_MAX_ALTS); past it, every row is visited. */
#define INDEXER_MAX_SCAN_ALTS 8u
/* Rows one compaction may merge. A streaming merge holds no event, but
 * about 155 bytes a row besides the mapped inputs (the inputs' decoded
 * columns, the renumbering, the filters): measured 580 MiB peak at 2M rows
 * with the mapped inputs, so some 2 GiB at 8M (the old merge took 2,001
 * MiB at 2M), and a segment's term index stays well inside
 * SEG_MAX_TERM_INDEX_RAW. Larger windows stay split. */
#define INDEXER_MAX_MERGE_EVENTS (8u << 20)

typedef struct head_entry {
    char tenant[CAT_MAX_TENANT];
    seg_writer *w;
} head_entry;

typedef struct idx_dict {
    char tenant[CAT_MAX_TENANT];
    uint32_t id;
    void *bytes;
    size_t len;
    int current; /* the tenant's dictionary for new segments */
} idx_dict;

/* The settings reconfigure may change (read under lock by the threads). */
typedef struct idx_settings {
    int64_t flush_interval_ms;
    size_t max_head_bytes;
    uint32_t block_events;
    int zstd_level;
    int compaction;
    int64_t window_ms[INDEXER_LEVELS]; /* [1..3] */
} idx_settings;

typedef struct indexer {
    strata_instance *inst;
    const strata_host_api *h;
    char root[3072];
    char consumer[300]; /* pipeline/instance: the catalog's progress key */
    idx_settings set;
    int lock_fd; /* flock on root/LOCK: one indexer per directory */

    catalog *cat; /* the sealer's connection (start/stop on the loop) */
    /* The connection strata.index.v1 segments() lists through, for any
     * query thread, one listing at a time. */
    catalog *list_cat;
    pthread_mutex_t list_lock;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* sealer: time to look */
    pthread_cond_t room; /* flush: the head has room again */
    pthread_cond_t fed;  /* flush: head_next moved (searches wait_visible) */
    head_entry head[INDEXER_MAX_TENANTS];
    size_t nhead;
    /* The head being built into segments: sealed writers (read-only, so
     * queries read them without `lock`), freed when their segments are
     * registered. Changed only under view_lock held for writing. */
    head_entry sealing[INDEXER_MAX_TENANTS];
    size_t nsealing;
    /* Emptied writers for new heads (seg_writer_reset), under `lock`. Ones
     * still unused when the next head is registered are freed, so a tenant
     * gone quiet does not pin memory for longer than about two flushes. */
    seg_writer *spare[INDEXER_SPARE_WRITERS];
    size_t nspare;
    /* Queries hold it shared while they list the catalog, open segments and
     * scan the head; the sealer (head swap, registration) and the compactor
     * (swap) hold it exclusively. Order: view_lock, then lock. */
    pthread_rwlock_t view_lock;
    strata_index_api view;
    int view_exported;
    size_t head_bytes;
    int64_t head_first_ms;
    uint64_t head_next;   /* WAL position after the head's last batch */
    uint64_t sealed_next; /* WAL position the catalog covers */
    int stopping;
    strata_kv meta[INDEXER_MAX_META];

    pthread_mutex_t dict_lock; /* dicts, readers_dicts */
    idx_dict *dicts;
    size_t ndicts, dict_cap;
    seg_dicts *readers_dicts;

    /* Compactions to completion asked for (compact.c): a FIFO under
     * `lock`, run one at a time by the compactor thread; jobs_cv wakes
     * their waiters. */
    struct idx_compact_job *jobs, *jobs_tail;
    pthread_cond_t jobs_cv;
    strata_index_admin_api admin;
    int admin_exported;

    strata_thread *sealer, *compactor;
    strata_metric *m_segments, *m_events, *m_skipped, *m_failed, *m_head_events, *m_seal_seconds,
        *m_compactions;
} indexer;

/* Wait on x->wake (x->lock held) for at most ms. */
void idx_wait(indexer *x, int64_t ms);
/* SIGKILL ourselves when $STRATA_INDEXER_CRASH names this point (crash tests). */
void idx_crash_point(const char *name);
void idx_tenant_dir(const char *tenant, char *out, size_t cap);
uint64_t idx_random64(void);
int idx_mkdirs(const char *path);
/* Format a path; -1 (and an empty string) when it does not fit. Paths are
 * bounded by `dir`, which init limits, so this never fails in practice. */
int idx_path(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const idx_dict *idx_dict_current(indexer *x, const char *tenant);
/* Train, store and adopt a tenant's dictionary from a writer's rows or
 * from samples; NULL when there was too little to learn from. */
const idx_dict *idx_dict_train(indexer *x, catalog *cat, const char *tenant, seg_writer *w);
const idx_dict *idx_dict_train_samples(indexer *x, catalog *cat, const char *tenant,
                                       const uint8_t *samples, const size_t *sizes, unsigned n);
/* Describe segment bytes just built, verifying them, with a fresh path. */
int idx_describe(indexer *x, const uint8_t *buf, size_t len, int level, cat_segment *out);
/* The same for a segment file already at `path` (relative: `rel`). */
int idx_describe_file(indexer *x, const char *path, const char *rel, int level, cat_segment *out);
/* A fresh relative path for a segment: segments/TENANT/Ln/MIN_INGEST-RANDOM.sseg */
void idx_segment_path(const char *tenant, int level, int64_t min_ingest, char *out, size_t cap);
/* The compactor thread (compact.c). */
void idx_compactor_main(void *arg);
/* Compaction to completion on request (compact.c): the admin service's
 * compact (blocks; any thread but the loop), the route POST
 * /v1/admin/compact [loop], and answering the jobs still queued when the
 * compactor has stopped [loop, after the join]. */
int idx_compact_now(void *ctx, const char *tenant, strata_compact_result *out, char *err,
                    size_t errlen);
void idx_compact_http(strata_http_request *req, void *arg);
void idx_compact_cancel_jobs(indexer *x);

#endif /* STRATA_INDEXER_H */
