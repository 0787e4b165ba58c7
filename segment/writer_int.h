/*
 * segment/writer_int.h - the writer's build state (seg_writer_finish), shared
 * by the files that write one part of a segment each. Not part of the
 * library's API (segment.h is).
 */
#ifndef STRATA_SEGMENT_WRITER_INT_H
#define STRATA_SEGMENT_WRITER_INT_H

#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#include "build.h"
#include "format.h"
#include "head.h"
#include "strbuf.h"
#include "strtab.h"

typedef struct build {
    seg_writer *w;
    strbuf *out; /* the file: the writer's w->out */
    uint8_t table[SEC_COUNT_ * SEG_TABLE_ENTRY_BYTES];
    uint32_t nsec;
    uint32_t *key_rank; /* meta key id -> position in sorted order */
    sref *keys_sorted;
    uint8_t *in_col; /* per kv: 1 when its value is in a meta column */
    seg_colterms ct; /* the namespaces columns hold: their terms stay out of SEC_TERMS */
    seg_tpl tpl;     /* the rows' templates */
    char *err;
    size_t errlen;
} build;

/* A string being sorted, with its bytes d..d+7 cached big-endian in w
 * (zeros past its end), so that a partition compares words in the array
 * instead of reading every string from the table at every byte. */
typedef struct wref {
    uint64_t w;
    const char *s;
    uint32_t len, id;
} wref;
/* Sort a table's strings into r (room for t->n), with a (as many sort
 * keys) as work space; fills rank[id] = position when rank is not NULL. */
void seg_wr_sort_strtab_into(const strtab *t, uint32_t *rank, sref *r, wref *a);

/* Put a message in the build's error buffer; returns -1 for
 * `return seg_wr_fail(...)`. */
int seg_wr_fail(build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Start a section at the current end of the file (its offset), and close
 * it: record id, offset, length and CRC in the table. */
size_t seg_wr_sec_begin(build *b);
void seg_wr_sec_end(build *b, uint32_t id, size_t start);
/* Work array `id` (SCR_*) with room for `bytes` (contents undefined), owned
 * by the writer: the last segment's when it is big enough, whose pages are
 * mapped already. NULL on OOM. */
void *seg_wr_scratch(seg_writer *w, int id, size_t bytes);

/* ---- columns (columns.c), levels (levelcol.c), templates (templates.c) ---- */

/* The columns of every row (times, flags, service and host ranks with their
 * dictionaries) and the rollup: 0, or -1 with the error set. */
int seg_wr_columns(build *b);
/* The level column, coded by template when smaller: 0 or -1. */
int seg_wr_levels(build *b);
/* Each row's template into tpl (before the meta columns and row blocks
 * that use them): 0 or -1. */
int seg_wr_templates(build *b, seg_tpl *tpl);

/* ---- row blocks (blocks.c) ---- */

/* Compress buf[0, len) onto the end of out as zstd frames, one per part
 * between the ncuts offsets (ascending), empty parts but the first
 * skipped: with the context's parameters (level and dictionary) when level
 * is 0, else at `level`. The bytes appended, or -1 with err set ("...
 * compressing <what>"). */
int64_t seg_wr_compress_parts(ZSTD_CCtx *cctx, int level, const char *buf, size_t len,
                              const size_t *cuts, unsigned ncuts, strbuf *out, const char *what,
                              char *err, size_t errlen);

/* SEC_BLOCKS and the block index: the rows a block at a time, their
 * messages and meta each in a zstd frame; *nblocks_out the blocks written.
 * 0, or -1 with the error set. */
int seg_wr_blocks(build *b, uint32_t *nblocks_out);

/* ---- the term index (termindex.c) ---- */

/* SEC_TERMS, the term index, SEC_POSTINGS and the filters of the head's
 * terms (those columns do not hold): 0, or -1 with the error set. */
int seg_wr_index(build *b, uint32_t nblocks);

/* ---- meta columns (metacol.c) ---- */

/* SEC_META_COLUMNS: the frequent meta keys as typed columns (numbers, hex
 * ids, dictionaries, dictionaries of terms), and which kvs they hold
 * (b->in_col, which the row blocks skip). 0, or -1 with the error set. */
int seg_wr_meta_columns(build *b);

#endif /* STRATA_SEGMENT_WRITER_INT_H */
