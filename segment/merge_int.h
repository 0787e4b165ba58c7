/*
 * segment/merge_int.h - the streaming merge's state (merge.c), shared by the
 * files that merge one part of a segment each. Not part of the library's
 * API (segment.h is).
 */
#ifndef STRATA_SEGMENT_MERGE_INT_H
#define STRATA_SEGMENT_MERGE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "build.h"
#include "codec.h"
#include "format.h"
#include "segment.h"
#include "strbuf.h"
#include "strtab.h"

/* An append-only file written through a buffer. For the output, the bytes
 * of the open section are CRC'd as they are flushed. */
typedef struct fout {
    int fd;
    strbuf buf;   /* bytes not yet written */
    uint64_t off; /* file offset of buf's first byte */
    int in_sec;
    uint32_t crc;
    uint64_t sec_start;
    uint8_t table[SEC_COUNT_ * SEG_TABLE_ENTRY_BYTES];
    uint32_t nsec;
    int bad; /* a write failed or memory ran out */
} fout;

/* The inputs' rows in output order: by ingest_ts, ties to the earlier
 * input (each input is already in ingest order), with a binary heap of
 * inputs keyed by their next row. */
typedef struct morder {
    size_t n;
    const int64_t **ing;
    uint64_t *events, *pos;
    uint32_t *heap;
    size_t nh;
} morder;

/* The sorted union of one dictionary (services, hosts or meta keys) of
 * every input, and per input its ids renumbered to ranks in the union. */
typedef struct udict {
    strtab t;
    sref *sorted;
    uint32_t *rank; /* strtab id -> position in sorted */
    uint32_t **map; /* per input: its id -> rank */
    size_t n;       /* inputs */
} udict;

/* A meta column being chosen and built (the writer's rules, format.h). */
typedef struct mcolb {
    uint32_t key; /* rank in the union of meta keys */
    uint64_t present;
    int kind; /* SEG_META_COL_NUMBER, SEG_META_COL_DICT, SEG_META_COL_HEX, or 0: not a column */
    uint8_t digits;   /* HEX: digits per value */
    uint8_t single;   /* every kv of the key a string, one a row at most (colterms.c) */
    uint8_t terms;    /* DICT: holds its key's terms (written as SEG_META_COL_TERMS) */
    seg_hexrow *hexr; /* HEX, pass 2: every row's value and output row */
    seg_hex128 *hexv; /* HEX: the distinct values, sorted */
    uint32_t *ord;    /* HEX: per output row, its value's ordinal */
    size_t nhexv, nhexd;
    strtab vals;
    sref *sorted;
    uint32_t *vrank;
    uint64_t *seen; /* pass 2a: hashes of the distinct values (0: empty) */
    size_t seen_cap, nseen;
    strbuf has, val;
    intcol_stream hs, vs;
    seg_tplpred pred; /* DICT: its ranks predicted by the rows' templates */
    int oom;
} mcolb;

typedef struct merge {
    seg_reader *const *in;
    size_t n;
    seg_writer_opts o;
    uint64_t rows;   /* output rows */
    uint32_t per;    /* rows per block */
    uint64_t blocks; /* row blocks */
    morder mo;
    udict svc, host, keys;
    uint32_t **remap; /* per input: its row -> output row */
    mcolb cols[SEG_MAX_META_COLUMNS];
    uint32_t ncols;
    uint8_t *key_col; /* per union key rank: its column + 1, or 0 */
    uint64_t at_out;  /* pass 3 of the meta columns: the output row being encoded */
    seg_colterms ct;  /* the namespaces the output's columns hold (not in SEC_TERMS) */
    seg_tpl tpl;      /* each output row's template, gathered before the meta columns */
    uint8_t *level;   /* each output row's level: coded by template */
    fout f;
    const char *path;
    seg_merge_stage_fn stage; /* progress (may be NULL) */
    void *stage_ud;
    seg_tail tail;
    char *err;
    size_t errlen;
} merge;

/* Output buffered before a write(): large enough that write() calls cost
 * nothing next to compression, small next to a segment. */
#define MERGE_FLUSH_BYTES (4u << 20)
/* Spool reads: the unit in which postings are copied into the output and
 * (term, block) pairs are read back. */
#define MERGE_READ_BYTES (1u << 20)
/* A spooled (term, block) pair: u32 block (top bit: the term's first pair),
 * u64 term hash. */
#define MERGE_PAIR_BYTES 12u
#define MERGE_FIRST_PAIR 0x80000000u
/* Pair spool reads: whole pairs only. */
#define MERGE_PAIR_READ ((size_t)(MERGE_READ_BYTES / MERGE_PAIR_BYTES) * MERGE_PAIR_BYTES)
/* The filters' keys are counted by their top SEG_FUSE_MAX_PART_LOG bits
 * while they are spooled, so that each filter's parts are sized before
 * they are read back. */
#define MERGE_BUCKETS (1u << SEG_FUSE_MAX_PART_LOG)
/* Parts of a filter read back from the spool at once: the parts are built
 * in groups of at most this many parts' keys (2^23 keys, 64 MB, at the
 * default part size), one pass over the spool per group, so that the
 * merge's memory does not grow with the segment. */
#define MERGE_FUSE_GROUP_PARTS 4u

/* Put a message in the merge's error buffer; returns -1 for
 * `return seg_mg_fail(...)`. */
int seg_mg_fail(merge *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Tell the caller that the merge reached part `name` (progress, crash tests). */
void seg_mg_stage(merge *m, const char *name);
/* Row `row` of input src (the parts asked for), or -1 with the reader's error. */
int seg_mg_read_row(merge *m, uint32_t src, uint32_t row, strata_event *ev, unsigned parts);
/* The output file's sections: start one at the current end, and close it
 * (id, offset, length and CRC into the table). */
void seg_mg_sec_begin(fout *f);
void seg_mg_sec_end(fout *f, uint32_t id);
/* Write the buffered bytes out: 0, or -1 (f->bad). */
int seg_mg_flush(fout *f);
/* Restore a binary heap of input numbers below position i (heap[0] is the
 * least by less). */
void seg_mg_heap_down(uint32_t *heap, size_t nh, size_t i,
                      int (*less)(const void *ctx, uint32_t a, uint32_t b), const void *ctx);
/* The file offset of the next byte appended. */
uint64_t seg_mg_pos(const fout *f);
/* Write the buffer out once it holds MERGE_FLUSH_BYTES: 0, or -1 (f->bad). */
int seg_mg_maybe_flush(fout *f);
/* A whole section of n bytes at p, appended. */
void seg_mg_section(fout *f, uint32_t id, const void *p, size_t n);
/* The rows in output order: back to the first, and the next one's input
 * and row (1), or 0 past the last. */
void seg_mg_order_reset(morder *m);
int seg_mg_order_next(morder *m, uint32_t *src, uint32_t *row);

/* ---- columns (columns.c), levels (levelcol.c), templates (templates.c) ---- */

/* The merged rows' columns (their names renumbered into the inputs' union)
 * and rollup, the bytes the writer would give: 0, or -1 with the error set. */
int seg_mg_columns(merge *m);
/* The level column of the merged rows: 0 or -1. */
int seg_mg_levels(merge *m);
/* Each merged row's template into m->tpl: 0 or -1. */
int seg_mg_templates(merge *m);

/* ---- row blocks (blocks.c) ---- */

/* The merged rows' blocks, staged a block at a time, the bytes the writer
 * would give: 0, or -1 with the error set. */
int seg_mg_blocks(merge *m);

/* ---- the term index (termindex.c) ---- */

/* The merged term dictionary, postings and filters (and the templates'
 * section), the bytes the writer would give: 0, or -1 with the error set. */
int seg_mg_index(merge *m);

/* ---- meta columns (metacol.c) ---- */

/* Call fn for each column's first non-null value in the row just read (ev,
 * row `row` of input src): the writer's rule for what a column holds. */
void seg_mg_first_values(merge *m, uint32_t src, uint32_t row, const strata_event *ev,
                         void (*fn)(merge *m, mcolb *c, const strata_kv *kv, uint64_t at, void *ud),
                         void *ud);
/* SEC_META_COLUMNS of the merged rows, with the bytes the writer would give
 * the same rows: 0, or -1 with the error set. */
int seg_mg_meta_columns(merge *m);

#endif /* STRATA_SEGMENT_MERGE_INT_H */
