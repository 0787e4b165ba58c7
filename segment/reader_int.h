/*
 * segment/reader_int.h - the reader's state, shared by the files that read
 * one part of a segment each: reader.c (open, columns, row blocks, terms),
 * templates.c (row templates) and the others that take their part's get
 * side. Not part of the library's API (segment.h is).
 */
#ifndef STRATA_SEGMENT_READER_INT_H
#define STRATA_SEGMENT_READER_INT_H

#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>
#include <zstd.h>

#include "codec.h"
#include "format.h"
#include "segment.h"
#include "segment_int.h"
#include "strtab.h"

const ZSTD_DDict *seg_dicts_find(const seg_dicts *s, uint32_t id);

typedef struct section {
    const uint8_t *p;
    uint64_t len;
    int present;
} section;

/* Room for one printed column value of a row: an integer or a HEX id. */
#define ROW_COL_CHARS (CODEC_I64_CHARS > SEG_HEX_MAX_DIGITS ? CODEC_I64_CHARS : SEG_HEX_MAX_DIGITS)

/* dblock.vars of a row stored as variables with shapes of its own: they
 * end with the block's shapes, not with its template's. */
#define VARS_OWN_SHAPES 2u

/* A decoded row block: its messages and its meta, each decoded on demand
 * from its own frame. */
typedef struct dblock {
    int64_t index;      /* block whose messages are decoded, -1 = none */
    int64_t meta_index; /* block whose meta is decoded, -1 = none */
    uint8_t *raw;       /* decompressed message frame */
    size_t rawcap;
    uint8_t *mraw; /* decompressed meta frame */
    size_t mrawcap;
    const uint8_t **msg; /* the message, or (vars[i]) its variables' shapes */
    uint32_t *msg_len;
    uint8_t *vars; /* per row: 1 when stored as its variables (VARS_OWN_SHAPES
                      when with shapes of its own) */
    /* a row stored as variables: msg[i] its shapes, msg_len[i]
     * its message's length, voff[3i..3i+2] where its bytes start in the
     * text, digit and hex streams (at vtext, vdig, vhex); own shapes end
     * where the text stream starts */
    uint32_t *voff;
    const uint8_t *vtext, *vdig, *vhex;
    char *text; /* the last message rebuilt from its variables (row_message) */
    size_t textcap;
    uint32_t *kv_start; /* rows + 1 */
    strata_kv *kv;      /* all kvs of the block */
    uint32_t *kv_key;   /* key id of each kv */
    uint32_t *next;     /* per meta key: next kv slot while reading values */
    uint32_t *order;    /* kvs grouped by key (the order values are stored in) */
    uint8_t *from_col;  /* per kv: 1 when its value comes from a meta column */
    /* the printed values of the last row's numeric meta columns: a
     * column's value is put into a row's kv only when seg_row returns the
     * row (columns_into_row) */
    char numtxt[SEG_MAX_META_COLUMNS * ROW_COL_CHARS];
} dblock;

/* A meta column (SEC_META_COLUMNS): located at open, decoded on first use. */
#define KEY_NO_COLUMN 0xFFu /* key_col of a key without one (SEG_MAX_META_COLUMNS < 255) */
typedef struct mcol {
    uint32_t key; /* rank in SEC_META_KEYS */
    seg_column pub;
    const uint8_t *body;
    size_t body_len;
    uint8_t *has;
    int64_t *num;
    uint32_t *id;
    strata_str *values;
    char *arena;
    /* HEX: digits per value, the sorted packed values (decoded from the
     * Elias-Fano sequence) and where presence starts in the body */
    uint8_t digits;
    const uint8_t *hex;
    size_t hex_end;
    /* the values' Elias-Fano sequence in the file, decoded into
     * hexbuf (what hex then points at) with the rest of the column */
    uint8_t ef_low_bits;
    const uint8_t *ef_low, *ef_high;
    size_t ef_low_len, ef_high_len;
    uint8_t *hexbuf;
    /* TERMS: a dictionary (first in the body) holding its
     * key's terms; reported as SEG_META_COL_DICT */
    uint8_t terms;
    uint32_t nheld; /* HEX: distinct values; TERMS: distinct terms (values' tokens) */
    uint32_t ndict; /* TERMS: values in its dictionary */
    /* TERMS, built on first use (held_terms): the terms it holds, sorted
     * (interned in held_tab), and the ranks of value v's terms,
     * val_terms[val_start[v] .. val_start[v + 1]) */
    strtab held_tab;
    sref *held;
    uint32_t *val_start, *val_terms;
} mcol;

/* A namespace of terms a column holds (format.h): "service:" or "host:"
 * (flagged in the trailer) or "meta.KEY:" of a HEX or TERMS
 * meta column. Its terms are the column's distinct values (an empty one is
 * no term); the rows of value v, once inverted on first use, are
 * inv_rows[inv_start[v] .. inv_start[v + 1]). */
enum { CNS_SERVICE, CNS_HOST, CNS_META };
typedef struct cns {
    uint8_t src;
    uint8_t checked; /* values found in strictly ascending order */
    mcol *m;         /* CNS_META */
    uint32_t *inv_start, *inv_rows;
} cns;

struct seg_reader {
    const uint8_t *base;
    size_t size;
    int mapped;
    const seg_dicts *dicts;
    const ZSTD_DDict *ddict;
    ZSTD_DCtx *dctx;
    seg_info info;
    char *tenant;
    section sec[SEC_COUNT_];
    int64_t *ingest, *event;
    int64_t *ts_pmax, *ts_smin; /* seg_event_ts_stripes, computed on first use */
    uint8_t *level, *flags;
    uint32_t *service, *host;
    strata_str *svc_dict, *host_dict, *keys;
    char *arenas[3]; /* bytes of the three dictionaries */
    uint32_t n_svc, n_host, n_keys;
    seg_rollup_cell *rollup;
    size_t nrollup;
    uint32_t *block_first; /* first row of each block, nblocks + 1 */
    uint32_t ntblocks, ntchunks;
    uint8_t *tindex; /* the decompressed term index, which the next three point into */
    const uint8_t *tchunks, *tblocks, *tfirsts; /* parts of SEC_TERM_INDEX */
    size_t tfirsts_len;
    int64_t tchunk_idx; /* the decompressed term chunk cached in tchunk */
    uint8_t *tchunk;
    size_t tchunk_len, tchunk_cap;
    seg_fuse_view fuse_terms, fuse_pairs; /* the segment and block filters */
    seg_common_view bb_common;            /* the terms of many blocks, with their blocks */
    mcol *mcols;
    uint32_t nmcols;
    uint64_t dict_terms; /* terms in SEC_TERMS (info.terms adds those of HEX columns) */
    cns cns[SEG_MAX_META_COLUMNS + 2]; /* namespaces columns hold, ascending */
    uint32_t ncns;
    uint16_t tflags;  /* trailer flags (SEG_FLAG_*) */
    uint8_t *key_col; /* per meta key rank: its column, or KEY_NO_COLUMN (NULL without columns) */
    int mcols_state;  /* 0 not decoded yet, 1 decoded, -1 corrupt */
    /* row templates, inverted on first use: the rows of rank
     * t are tpl_rows[tpl_start[t] .. tpl_start[t + 1]) */
    uint32_t *tpl_start, *tpl_rows;
    uint32_t *tpl_rank;        /* each row's template */
    roaring_bitmap_t **tpl_bm; /* each template's rows as a bitmap, built on first use */
    /* the texts: rank t's is tpl_text[tpl_toff[t] ..
     * tpl_toff[t + 1]) when tpl_has[t], with tpl_nvar[t] variables */
    char *tpl_buf;        /* the decompressed texts frame */
    const char *tpl_text; /* where its texts start */
    uint32_t *tpl_toff, *tpl_nvar;
    uint8_t *tpl_has;
    /* the shapes of the variables of each text's first row:
     * rank t's are tpl_shapes[tpl_soff[t] .. tpl_soff[t + 1]) */
    const uint8_t *tpl_shapes;
    uint32_t *tpl_soff;
    int tpl_state; /* 0 not decoded yet, 1 decoded, -1 corrupt */
    dblock blk;
    char err[256];
};

/* Put a message in the reader's error (seg_error); returns -1 for
 * `return seg_rd_fail(...)`. */
int seg_rd_fail(seg_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A postings entry of n rows below limit (an Elias-Fano sequence or
 * deltas, format.h) at p (len bytes) as a bitmap; NULL with the error set
 * when malformed or out of memory. */
roaring_bitmap_t *seg_rd_entry_bitmap(seg_reader *r, const uint8_t *p, size_t len, uint32_t n,
                                      uint32_t limit);

/* The next shape of a variable (format.h) from c: 1 with *kind and *len
 * set, 0 when it is malformed (cut, empty, longer than SEG_MAX_STRING). */
static inline int seg_rd_next_shape(cursor *c, unsigned *kind, uint64_t *len)
{
    uint64_t v = get_varint(c);
    *kind = (unsigned)(v & 3);
    *len = v >> 2;
    return !c->bad && *len >= 1 && *len <= SEG_MAX_STRING;
}

/* A dictionary at c: its count and one zstd frame of its front-coded
 * strings (fcdict_decode_z), at most SEG_MAX_DICT_ENTRIES. */
static inline int seg_rd_dict_decode(cursor *c, strata_str **out, uint32_t *n, char **arena)
{
    return fcdict_decode_z(c, SEG_MAX_DICT_ENTRIES, out, n, arena);
}

/* ---- columns (columns.c), levels (levelcol.c) ---- */

/* Section id, a column of integers (intcol) of info.events values, into
 * out: 0, or -1 with the error set. */
int seg_rd_load_intcol(seg_reader *r, uint32_t id, int64_t *out);
/* A dictionary section: the strings rebuilt into one allocation owned by
 * the reader (*arena). 0, or -1 with the error set. */
int seg_rd_load_dict(seg_reader *r, uint32_t id, strata_str **out, uint32_t *n, char **arena);
/* Decode the columns at open (times, flags, levels, service and host with
 * their dictionaries, the meta keys): 0, or -1 with the error set. */
int seg_rd_load_columns(seg_reader *r);
/* The level column into r->level (tmp: a scratch of info.events values): 0 or -1. */
int seg_rd_load_levels(seg_reader *r, int64_t *tmp);
/* The rollup section, checked (cells ascending, counts summing to the
 * rows): 0, or -1 with the error set. */
int seg_rd_load_rollup(seg_reader *r);

/* ---- row blocks (blocks.c) ---- */

/* Check and load the row block index at open: 0, or -1 with the error set. */
int seg_rd_load_blocks(seg_reader *r);
/* The block holding row `row` (binary search over first rows). */
uint32_t seg_rd_block_of(const seg_reader *r, uint32_t row);
/* Forget a decoded block's messages or meta (at close, or before another
 * block is decoded into the same buffers). */
void seg_rd_reset_msgs(dblock *b);
void seg_rd_reset_meta(dblock *b);

/* ---- the term index (termindex.c) ---- */

/* Check the term index and the filters at open: 0, or -1 with the error set. */
int seg_rd_load_index(seg_reader *r);
int seg_rd_load_filters(seg_reader *r);

/* ---- meta columns (metacol.c) ---- */

/* Locate SEC_META_COLUMNS at open (each column's key, kind and body,
 * checked); 0, or -1 with the error set. */
int seg_rd_load_meta_columns(seg_reader *r);
/* Decode the meta columns on first use (r->mcols_state): 0, or -1 with
 * the error set. */
int seg_rd_decode_meta_columns(seg_reader *r);

/* ---- row templates (templates.c) ---- */

/* Decode SEC_TEMPLATES on first use: each row's template, the rows of each
 * template, the texts and their default shapes. 0, or -1 with the error set
 * (and again on every later call). */
int seg_rd_load_templates(seg_reader *r);
/* A SEG_POSTINGS_TEMPLATES entry (after its tag) of a term of df rows as a
 * bitmap: the union of its templates' rows. NULL with the error set. */
roaring_bitmap_t *seg_rd_template_rows(seg_reader *r, const uint8_t *p, size_t len, uint32_t df);

/* ---- terms held by columns (colterms.c) ---- */

/* The terms the columns hold under a prefix, in term order: namespaces
 * ascending, values ascending within one (the empty value skipped). */
typedef struct cstream {
    seg_reader *r;
    const char *prefix;
    size_t plen;
    uint32_t at;     /* position in r->cns */
    uint32_t v, end; /* values left in the current namespace */
    char term[SEG_MAX_TERM];
    size_t tlen;
    uint32_t df;
    uint32_t val; /* the current term's value */
    cns *c;       /* and namespace */
    int release;  /* free a namespace's inversion when the stream leaves it */
} cstream;

/* r->cns: the namespaces columns hold, ascending (the writer's rules make
 * none a prefix of another, so their terms never interleave); their terms
 * count among the segment's. Called once at open. */
void seg_rd_setup_cns(seg_reader *r);
/* The column namespace that holds term (its namespace, then a value of
 * the column's shape), or NULL (if anywhere, the term is in the term
 * dictionary). */
cns *seg_rd_cns_holding(seg_reader *r, const char *term, size_t len);
/* The place of term's value in c (which holds it): 1 with *v set, 0 when
 * the column lacks it, -1 on corruption. */
int seg_rd_cns_find(seg_reader *r, cns *c, const char *term, size_t len, uint32_t *v);
/* Start a stream over the column-held terms under prefix (kept by pointer)
 * and step to its first term; then step with seg_rd_cs_next. 1, 0 at the
 * end, -1 on corruption. With release, each namespace's inversion is freed
 * once the stream is past it (a merge's single pass). */
int seg_rd_cs_start(cstream *h, seg_reader *r, const char *prefix, size_t plen, int release);
int seg_rd_cs_next(cstream *h);

#endif /* STRATA_SEGMENT_READER_INT_H */
