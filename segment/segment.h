/*
 * segment/segment.h - the segment library: write, read and merge immutable,
 * compressed, indexed segments of one tenant's events. No pipeline or HTTP
 * code: the indexer output, the query frontends, `strata inspect` and the
 * benchmarks all use this same API. docs/ARCHITECTURE.md ("Segment format")
 * describes the bytes; format.h names them.
 *
 * Ownership: a writer copies every event it is given; the caller keeps its
 * own. A reader owns its mapping of the file; pointers it returns (strings,
 * columns) stay valid until the next seg_row() for row data, and until
 * seg_close() for everything else. Bitmaps returned are the caller's to free
 * with roaring_bitmap_free().
 */
#ifndef STRATA_SEGMENT_H
#define STRATA_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

#include "strata/event.h"

/* ---- dictionaries ------------------------------------------------------- */

/* A set of trained zstd dictionaries by id, shared by readers (thread-safe
 * for lookups once built). */
typedef struct seg_dicts seg_dicts;

seg_dicts *seg_dicts_new(void);
/* Add a dictionary (its id is read from its header); 0 or -1. */
int seg_dicts_add(seg_dicts *d, const void *dict, size_t len);
/* A trained dictionary's id (from its header), 0 when it is not one. */
uint32_t seg_dict_id(const void *dict, size_t len);
/* Does the set hold dictionary `id`? */
int seg_dicts_has(const seg_dicts *d, uint32_t id);
/* Load every DIR/<id>.zdict file; returns how many, or -1. */
int seg_dicts_load_dir(seg_dicts *d, const char *dir);
void seg_dicts_free(seg_dicts *d);

/* Train a dictionary from sample row payloads (as produced by a writer with
 * seg_writer_samples). Writes it to `out` (cap bytes) and returns its size,
 * or 0 when there was too little to learn from. */
size_t seg_dict_train(const void *samples, const size_t *sizes, unsigned n, void *out, size_t cap);

/* ---- writing -------------------------------------------------------------- */

typedef struct seg_writer_opts {
    const char *tenant;    /* stored in the segment; NULL = "" */
    uint32_t block_events; /* rows per compressed block; 0 = SEG_DEFAULT_BLOCK_EVENTS */
    int zstd_level;        /* 0 = SEG_DEFAULT_ZSTD_LEVEL */
    const void *dict;      /* optional trained zstd dictionary (not copied; must
                              outlive the writer) */
    size_t dict_len;
    uint32_t filter_part_keys; /* keys per fuse filter part at most; 0 = SEG_FUSE_PART_KEYS,
                                  at most SEG_FUSE_MAX_PART_KEYS
                                  (tests make it small to cover filters of many parts) */
} seg_writer_opts;

typedef struct seg_writer seg_writer;

/* A new empty head with these options (copied); NULL on OOM. */
seg_writer *seg_writer_new(const seg_writer_opts *opts);
/* Copy one event into the writer; 0, or -1 on OOM or when the segment is
 * full (SEG_MAX_EVENTS, SEG_MAX_RAW_BYTES). */
int seg_writer_add(seg_writer *w, const strata_event *ev);
size_t seg_writer_count(const seg_writer *w);
/* Raw bytes held (msg + meta + fixed fields): the indexer seals on this. */
size_t seg_writer_bytes(const seg_writer *w);
/* Write the segment to `path`: a temp file, fsync, rename, fsync of the
 * directory. 0, or -1 with a message in err. The writer may then be freed
 * (it cannot be added to again). */
int seg_writer_finish(seg_writer *w, const char *path, char *err, size_t errlen);
/* Write finished segment bytes durably: path.tmp, fsync, rename, fsync of
 * the directory. 0, or -1 with err (the temp file is removed). */
int seg_write_file(const char *path, const uint8_t *buf, size_t len, char *err, size_t errlen);
/* Build the segment in memory instead: *out is malloc'd, the caller's. */
int seg_writer_finish_mem(seg_writer *w, uint8_t **out, size_t *len, char *err, size_t errlen);
/* The same into the writer's own buffer: *out stays valid until the writer
 * is reset or freed. Saves a fresh buffer per segment (see reset). */
int seg_writer_finish_view(seg_writer *w, const uint8_t **out, size_t *len, char *err,
                           size_t errlen);
/* Empty the writer for the next segment, with opts as seg_writer_new takes
 * them, keeping all of its memory: rows, term table and finish's work
 * arrays. A fresh writer's pages are zeroed by the kernel on first touch,
 * about a fifth of the CPU of building a 1M-event segment; a reset one
 * writes over pages it already has. The memory stays until the writer is
 * freed, so keep a reset writer only when another segment follows soon.
 * 0, or -1 on OOM (the writer is then as it was). */
int seg_writer_reset(seg_writer *w, const seg_writer_opts *opts);
/* Up to `max` uncompressed row-block payloads for dictionary training,
 * concatenated into *buf (malloc'd) with sizes in *sizes (malloc'd). Call
 * before finish. Returns the number of samples. */
unsigned seg_writer_samples(seg_writer *w, unsigned max, uint8_t **buf, size_t **sizes);
/* Use a dictionary from now on (for example one just trained from this
 * writer's own samples); it must outlive the writer. */
void seg_writer_set_dict(seg_writer *w, const void *dict, size_t len);
void seg_writer_free(seg_writer *w);
/* Sort the rows into segment order and refuse further adds: from then on
 * the writer only reads its rows, so readers may read them concurrently
 * with finish (the indexer's sealing head stays searchable). Cheap when
 * rows arrived in ingest order. Finish seals first if not yet sealed. */
void seg_writer_seal(seg_writer *w);
/* Row i as an event (after seal: in segment order). Strings point into the
 * writer; kv receives the meta (kvcap entries at least SEG_MAX_META_PER_ROW
 * to never fail). 0, or -1 when i is out of range or kv too small. A writer
 * that is still taking adds must be read under the adder's lock. */
int seg_writer_row(const seg_writer *w, size_t i, strata_event *ev, strata_kv *kv, uint32_t kvcap);
/* The writer's own index of the rows it holds (terms are gathered as rows
 * are added), so that a search of the indexer's head tests a few integers
 * per row instead of tokenizing every event. The id of a term (namespaced,
 * as seg_event_terms gives them) in the writer's term table, or -1 when no
 * row added so far has it (a later add may bring it). Same locking as
 * seg_writer_row. */
int64_t seg_writer_term_id(const seg_writer *w, const char *term, size_t len);
/* Does row i (as numbered by seg_writer_row) have every term of ids[n]? */
int seg_writer_row_has(const seg_writer *w, size_t i, const uint32_t *ids, size_t n);

/* ---- reading -------------------------------------------------------------- */

/* Sizes of the parts of a segment, for `strata inspect` and bench/segments. */
typedef struct seg_parts {
    uint64_t columns;  /* timestamps, level, flags, service, host + their dictionaries */
    uint64_t rows;     /* compressed msg + meta blocks and their index */
    uint64_t meta;     /* of rows: the meta frames */
    uint64_t terms;    /* term dictionary and its sparse index */
    uint64_t postings; /* roaring bitmaps */
    uint64_t filters;  /* segment and block filters */
    uint64_t other;    /* header, footer, tenant, meta keys */
    uint64_t total;
} seg_parts;

typedef struct seg_info {
    uint32_t version;
    uint64_t events;
    int64_t min_ingest_ns, max_ingest_ns;
    int64_t min_event_ns, max_event_ns;
    uint32_t blocks;
    uint32_t block_events;
    uint64_t terms;
    uint32_t dict_id;   /* 0 = no dictionary */
    uint32_t templates; /* row templates stored (0 when nothing refers to them) */
    const char *tenant;
    seg_parts parts;
} seg_info;

typedef struct seg_reader seg_reader;

/* Open and verify a segment file (header, footer, checksums of every part
 * but the row blocks, which are checked as they are read). NULL with a
 * message naming what is wrong. `dicts` (may be NULL) must outlive the
 * reader; without the segment's dictionary, seg_row fails and says so while
 * everything else works. */
seg_reader *seg_open(const char *path, const seg_dicts *dicts, char *err, size_t errlen);
/* The same over bytes in memory, which the reader borrows. */
seg_reader *seg_open_mem(const void *data, size_t len, const seg_dicts *dicts, char *err,
                         size_t errlen);
void seg_close(seg_reader *r);

const seg_info *seg_get_info(const seg_reader *r);
/* Columns, each info->events long, valid until seg_close. */
const int64_t *seg_ingest_ts(const seg_reader *r);
const int64_t *seg_event_ts(const seg_reader *r);
const uint8_t *seg_levels(const seg_reader *r);
/* Rows per stripe of seg_event_ts_stripes. 256: a walk stops within 256
 * rows of where it could, and the bounds cost 64 bytes per 1,024 rows. */
#define SEG_TS_STRIPE_ROWS 256u
/* Event-time bounds of rows in stripes of SEG_TS_STRIPE_ROWS (row / it is a
 * row's stripe): newest_before[s] is the newest event time of the rows of
 * stripes 0..s, oldest_after[s] the oldest of stripes s..last. A top-k
 * walk from one end of the rows stops once no row left can beat its k-th.
 * Computed on first use, valid until seg_close; 0, or -1 on OOM. */
int seg_event_ts_stripes(seg_reader *r, const int64_t **newest_before,
                         const int64_t **oldest_after);
/* Service and host columns: per row an id into the segment's dictionary
 * (ids < the dictionary size, checked at open), and the names by id. */
const uint32_t *seg_service_ids(const seg_reader *r);
const uint32_t *seg_host_ids(const seg_reader *r);
strata_str seg_service_name(const seg_reader *r, uint32_t id);
/* The rollup: event counts per minute of event time x
 * service id x level, in (minute, service, level) order, minute = event
 * ns / SEG_ROLLUP_NS rounded down. Valid until seg_close. */
typedef struct seg_rollup_cell {
    int64_t minute;
    uint32_t service;
    uint8_t level;
    uint64_t count;
} seg_rollup_cell;
const seg_rollup_cell *seg_rollup(const seg_reader *r, size_t *n);
/* Dictionary sizes: every id in the columns is below them. */
uint32_t seg_service_count(const seg_reader *r);
uint32_t seg_host_count(const seg_reader *r);
strata_str seg_host_name(const seg_reader *r, uint32_t id);

/* One event: its fields point into the reader (valid until the next
 * seg_row on this reader). 0, or -1 with seg_error() when the row's block is
 * corrupt. A reader is not thread-safe; open one per thread. */
int seg_row(seg_reader *r, uint32_t row, strata_event *out);
/* The same, decoding only some parts of the row (SEG_PART_* bits); the
 * others are left empty. Timestamps, level and flags are always filled.
 * A row without SEG_PART_MSG decompresses only its block's meta frame, so
 * aggregates over meta fields never touch message bytes; without SEG_PART_NAMES the
 * service and host dictionaries are not touched either (a cache miss per
 * row when there are many hosts). */
#define SEG_PART_MSG 1u
#define SEG_PART_META 2u
#define SEG_PART_NAMES 4u /* service and host */
#define SEG_PART_ALL (SEG_PART_MSG | SEG_PART_META | SEG_PART_NAMES)
int seg_row_parts(seg_reader *r, uint32_t row, strata_event *out, unsigned parts);
const char *seg_error(const seg_reader *r);

/* A typed column of a frequent meta key (format.h says
 * which keys become columns). Each row's first non-null value of the key is
 * in it; seg_row puts it back into the row's meta, in its place. */
typedef struct seg_column {
    uint32_t kind;            /* SEG_META_COL_NUMBER or SEG_META_COL_DICT */
    uint32_t present;         /* rows with a value */
    const uint8_t *has;       /* per row: 1 when the row has a value */
    const int64_t *num;       /* NUMBER: per row its value (0 where absent) */
    const uint32_t *id;       /* DICT: per row an index into values (0 where absent) */
    const strata_str *values; /* DICT: the distinct values, sorted */
    uint32_t nvalues;
} seg_column;
/* The namespaces of terms (docs/TOKENIZER.md): every term of a segment is
 * one of these followed by a token, and "meta." is followed by the key and
 * ':' first ("meta.user_id:u_98765"). The field names of the query
 * language and of the search API are the same words. */
#define SEG_NS_MSG "msg:"
#define SEG_NS_SERVICE "service:"
#define SEG_NS_HOST "host:"
#define SEG_NS_LEVEL "level:"
#define SEG_NS_META "meta."
/* The length of one of the namespace literals above. */
#define SEG_NS_LEN(ns) (sizeof(ns) - 1)

/* The column of meta key `key` (without "meta."): 1 with *out set (valid
 * until seg_close), 0 when the segment has no column for it (the values are
 * in the row blocks), -1 when the column is corrupt (seg_error). Decodes
 * the segment's columns on first use. */
int seg_meta_column(seg_reader *r, const char *key, size_t len, const seg_column **out);
/* The segment's meta columns by position (for `strata inspect`): how many,
 * and the key and kind of column i as stored (SEG_META_COL_TERMS too, which
 * seg_meta_column gives as a dictionary), 0 past the end. */
uint32_t seg_meta_column_count(const seg_reader *r);
int seg_meta_column_info(const seg_reader *r, uint32_t i, strata_str *key, uint32_t *kind,
                         uint32_t *present);

/* 1 when a column holds the term's namespace instead of the term
 * dictionary (hex ids, service, host, single-token
 * meta values; its rows are the column's, inverted), else 0. */
int seg_term_in_column(seg_reader *r, const char *term, size_t len);
/* 1 when the term's rows are stored as whole row templates (format.h) rather than as rows, 0 when
 * not (or no such term), -1 on corruption (seg_error). */
int seg_term_from_templates(seg_reader *r, const char *term, size_t len);
/* Rows containing the term (field-namespaced: "msg:timeout",
 * "service:payments", "meta.user_id:u_98765"), or an empty bitmap. NULL only
 * on OOM or corruption (seg_error). */
roaring_bitmap_t *seg_postings(seg_reader *r, const char *term, size_t len);
/* How many rows contain the term (its document frequency, read from the
 * dictionary: the postings are not decoded), 0 when none; -1 on corruption
 * (seg_error). */
int64_t seg_term_df(seg_reader *r, const char *term, size_t len);
/* Call fn for every term starting with prefix, in sorted order, with its
 * document frequency; fn returns non-zero to stop. Visits only the term
 * blocks that can hold the prefix. Returns 0, or -1 on corruption. */
typedef int (*seg_term_fn)(void *ud, const char *term, size_t len, uint32_t df);
int seg_terms(seg_reader *r, const char *prefix, size_t plen, seg_term_fn fn, void *ud);
/* The filters, read without the index: 0 means certainly absent. The
 * segment's is over every term; a block's over its terms but
 * those of many blocks, which are listed with exactly their blocks
 * (segment/filters.c). Both are binary fuse filters (segment/fuse.c:
 * 2^-7 and 2^-6 of absent terms pass). */
int seg_may_contain(const seg_reader *r, const char *term, size_t len);
int seg_block_may_contain(const seg_reader *r, uint32_t block, const char *term, size_t len);

/* ---- merging -------------------------------------------------------------- */

/* Merge the readers' rows in ingest_ts order (ties: earlier reader first)
 * into one file (PATH.tmp, fsync, rename, fsync of the directory), with the
 * bytes that adding every row to a seg_writer of these options and
 * finishing it would give (tests/unit/test_segment.c holds that reference
 * merge and compares), but streaming (segment/merge.c): the inputs'
 * term dictionaries are merged instead of tokenizing every row again, and
 * no event is held beyond the row block being built (per row: 4 bytes of
 * renumbering, 8 more while the columns are written for the host column
 * by service, besides the ~26 bytes of columns the readers
 * decode).
 * Scratch files next to PATH are unlinked as soon as they are open. Each
 * reader may appear once (a reader caches one term chunk, which two term
 * cursors over it would fight over); open the same file twice instead.
 * 0, or -1 with a message (no file is left behind). */
typedef void (*seg_merge_stage_fn)(void *ud, const char *stage);
int seg_merge_file(seg_reader *const *in, size_t n, const seg_writer_opts *o, const char *path,
                   char *err, size_t errlen);
/* The same, calling stage(ud, name) as each part of the file is reached
 * ("columns", "meta columns", "blocks", "terms", "filters"): progress for
 * logs, and the crash tests' way to stop a merge half-way. */
int seg_merge_file_staged(seg_reader *const *in, size_t n, const seg_writer_opts *o,
                          const char *path, seg_merge_stage_fn stage, void *ud, char *err,
                          size_t errlen);
/* Dictionary-training samples of the merged rows: what seg_writer_samples
 * gives for a writer that seg_merge filled from the same inputs. */
unsigned seg_merge_samples(seg_reader *const *in, size_t n, unsigned max, uint8_t **buf,
                           size_t **sizes);

/* ---- files -------------------------------------------------------------- */

/* Called for each regular file under a tree: its full path, its path
 * relative to the root, and its name. */
typedef void (*seg_walk_fn)(void *ud, const char *path, const char *rel, const char *name);
/* Visit the regular files under root, descending at most max_depth
 * directories (0: root only); hidden entries and symlinks are skipped. */
void seg_walk(const char *root, int max_depth, seg_walk_fn fn, void *ud);
int seg_has_suffix(const char *name, const char *suffix);
/* Load every DIR/<tenant>/<id>.zdict (the indexer's layout); how many. */
int seg_dicts_load_tree(seg_dicts *d, const char *dir);
/* The dictionaries a lone segment file may need: $STRATA_DICTS when set,
 * else the "dicts" directory of the index holding the file
 * (INDEX/segments/TENANT/Ln/x.sseg -> INDEX/dicts), if any. */
void seg_dicts_load_near(seg_dicts *d, const char *file);

/* ---- terms -------------------------------------------------------------- */

/* The terms of one event, as the writer indexes them, each namespaced. For
 * tests and for tail/alerts, which must agree with the index. */
void seg_event_terms(const strata_event *ev, void (*fn)(void *ud, const char *t, size_t n),
                     void *ud);

/* The indexed form of a whole value (service, host): ASCII-lowercased and cut
 * at a character boundary to TOK_MAX_BYTES. Writes to out (TOK_MAX_BYTES
 * bytes) and returns the length. */
size_t seg_whole_value(const char *v, size_t len, char *out);

#endif /* STRATA_SEGMENT_H */
