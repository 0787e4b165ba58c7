/*
 * segment/head.h - the head: what a seg_writer holds while events are added
 * (segment/head.c), which writer.c encodes into a segment on finish. Private
 * to the segment library.
 */
#ifndef STRATA_SEGMENT_HEAD_H
#define STRATA_SEGMENT_HEAD_H

#include <stdint.h>

#include "build.h"
#include "segment.h"
#include "strbuf.h"
#include "strtab.h"

/* One added event: its fixed fields, and where its bytes and meta are. */
typedef struct wrow {
    int64_t ingest, event;
    uint64_t msg_off;
    uint64_t kv_off; /* first entry in w->kvs */
    uint32_t msg_len;
    uint32_t kv_n;
    uint32_t service, host;
    uint32_t seq; /* order of arrival: ties on ingest_ts keep it */
    uint8_t level, flags;
} wrow;

typedef struct wkv {
    uint64_t off; /* value bytes in w->data */
    uint32_t len;
    uint32_t key; /* id in w->keys */
    uint8_t type;
} wkv;

/* The terms of the rows, gathered as rows are added (arrival order). */
typedef struct windex {
    strtab terms;
    uint32_t *occ; /* term ids, row by row, distinct within a row */
    size_t nocc, occcap;
    uint64_t *row_occ; /* arrival row r's terms: occ[row_occ[r] .. row_occ[r+1]) */
    size_t row_cap;
    uint32_t *rset; /* the row's distinct terms: open-addressed, rterms index + 1 */
    size_t rset_cap;
    int oom;
    strata_kv *kv; /* scratch for rebuilding a stored row (SEG_MAX_META_PER_ROW) */
    strbuf rbytes; /* the row's terms, gathered before interning */
    struct rterm {
        uint64_t hash;
        uint32_t off, len; /* in rbytes */
        int dup;           /* an earlier term of the row has the same bytes */
    } * rterms;
    size_t nr, rcap;
} windex;

/* finish's work arrays, kept by the writer across seg_writer_reset */
enum {
    SCR_SORT_REFS,  /* the term table sorted (sref) */
    SCR_SORT_WORDS, /* and its sort keys (wref) */
    SCR_DF,         /* rows per term */
    SCR_START,      /* a term's first (term, row) pair */
    SCR_POST,       /* (term, row) pairs by term */
    SCR_LAST_BLOCK, /* a term's last block seen */
    SCR_HASHES,     /* the filters' keys: terms' hashes, then (term, block) pairs' */
    SCR_FUSE_TMP,   /* the filters' keys sorted by part */
    SCR_ROW_TMP,    /* a value per row: columns */
    SCR_META_FIRST, /* a value per row: a meta key's first value */
    SCR_IN_COL,     /* per kv: in a meta column */
    SCR_COUNT_
};
typedef struct wscratch {
    void *p;
    size_t cap;
} wscratch;

struct seg_writer {
    seg_writer_opts o;
    char *tenant;
    wrow *rows;
    size_t n, cap;
    wkv *kvs;
    size_t nkv, kvcap;
    strbuf data; /* msg and meta value bytes */
    strtab services, hosts, keys;
    size_t raw_bytes;
    int sealed; /* rows sorted; no more adds */
    int finished;
    int no_index; /* a merge's staging writer: rows only, no terms */
    windex ix;
    /* Kept across seg_writer_reset (as is all of the above): finish's
     * arrays and buffers, so that the next segment reuses their pages. */
    wscratch scr[SCR_COUNT_];
    strbuf out;      /* the file being assembled */
    strbuf postings; /* SEC_POSTINGS, while the term dictionary is written */
    seg_fuse fuse;   /* the filters' builder, its scratch kept */
};

/* The distinct term ids of row r (in the rows' current order; the index is
 * kept in arrival order): [returned, *end). */
static inline const uint32_t *seg_head_row_terms(const seg_writer *w, size_t r,
                                                 const uint32_t **end)
{
    uint32_t a = w->rows[r].seq;
    *end = w->ix.occ + w->ix.row_occ[a + 1];
    return w->ix.occ + w->ix.row_occ[a];
}

/* Rebuild row r as a strata_event whose strings point into the writer;
 * kv has room for r's meta (SEG_MAX_META_PER_ROW). */
void seg_head_row_event(const seg_writer *w, const wrow *r, strata_event *ev, strata_kv *kv);

#endif /* STRATA_SEGMENT_HEAD_H */
