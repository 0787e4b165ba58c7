/*
 * segment/reader.c - open, verify and read a segment (format.h).
 *
 * Opening checks the header, trailer and section table, the CRC32C of every
 * section except the row blocks (each of which carries its own CRC, checked
 * when the block is first read), and decodes the columns. Nothing read from
 * the file is trusted: every count is bounded before it sizes an allocation
 * and every offset is checked against its section.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "bigmem.h"
#include "codec.h"
#include "crc32c.h"
#include "eliasfano.h"
#include "format.h"
#include "segment.h"
#include "segment_int.h"
#include "strtab.h"
#include "build.h"
#include "reader_int.h"

static void *fail_null(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Put a message in err and return NULL, for open's failures before a reader exists. */
static void *fail_null(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return NULL;
}

/* Put a message in the reader's error (seg_error); returns -1 for `return seg_rd_fail(...)`. */
int seg_rd_fail(seg_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    return -1;
}

const char *seg_error(const seg_reader *r)
{
    return r->err;
}
/* The reader's summary: counts, time range, parts' sizes (valid until seg_close). */
const seg_info *seg_get_info(const seg_reader *r)
{
    return &r->info;
}
/* ---- open --------------------------------------------------------------------- */

/* Read the section table; 0 or -1 (r->err). */
static int load_table(seg_reader *r)
{
    const uint8_t *tr = r->base + r->size - SEG_TRAILER_BYTES;
    if (memcmp(r->base, SEG_MAGIC, SEG_MAGIC_LEN) != 0 ||
        memcmp(tr + SEG_TR_MAGIC, SEG_MAGIC, SEG_MAGIC_LEN) != 0)
        return seg_rd_fail(r, "not a Strata segment (bad magic)");
    uint16_t hv = load_u16(r->base + 8), tv = load_u16(tr + SEG_TR_VERSION);
    if (hv != tv)
        return seg_rd_fail(r, "segment header says format version %u, its trailer %u (corrupt)", hv,
                           tv);
    if (hv != SEG_VERSION)
        return seg_rd_fail(r, "segment format version %u; this build reads only version %d", hv,
                           SEG_VERSION);
    if (SEG_VERIFY_CRC && crc32c(0, tr, SEG_TR_CRC) != load_u32(tr + SEG_TR_CRC))
        return seg_rd_fail(r, "segment trailer checksum mismatch (corrupt or truncated)");
    uint64_t events = load_u64(tr + SEG_TR_EVENTS);
    uint64_t table_off = load_u64(tr + SEG_TR_TABLE_OFF);
    uint32_t nsec = load_u32(tr + SEG_TR_NSECTIONS);
    if (events > SEG_MAX_EVENTS)
        return seg_rd_fail(r, "segment claims %llu events (limit %u)", (unsigned long long)events,
                           SEG_MAX_EVENTS);
    if (nsec > SEG_MAX_SECTIONS || table_off < SEG_HEADER_BYTES ||
        table_off + (uint64_t)nsec * SEG_TABLE_ENTRY_BYTES != r->size - SEG_TRAILER_BYTES)
        return seg_rd_fail(r, "segment section table out of bounds");
    const uint8_t *table = r->base + table_off;
    if (SEG_VERIFY_CRC &&
        crc32c(0, table, (size_t)nsec * SEG_TABLE_ENTRY_BYTES) != load_u32(tr + SEG_TR_TABLE_CRC))
        return seg_rd_fail(r, "segment section table checksum mismatch");
    for (uint32_t i = 0; i < nsec; i++) {
        const uint8_t *e = table + (size_t)i * SEG_TABLE_ENTRY_BYTES;
        uint32_t id = load_u32(e);
        uint64_t off = load_u64(e + 8), len = load_u64(e + 16);
        if (id == 0 || id >= SEC_COUNT_ || r->sec[id].present)
            return seg_rd_fail(r, "segment section %u unknown or repeated", id);
        if (off < SEG_HEADER_BYTES || off > table_off || len > table_off - off)
            return seg_rd_fail(r, "segment section %u out of bounds", id);
        if (SEG_VERIFY_CRC && id != SEC_BLOCKS && crc32c(0, r->base + off, len) != load_u32(e + 4))
            return seg_rd_fail(r, "segment section %u checksum mismatch (corrupt)", id);
        r->sec[id].p = r->base + off;
        r->sec[id].len = len;
        r->sec[id].present = 1;
    }
    for (uint32_t id = 1; id < SEC_COUNT_; id++) /* every section, even when empty */
        if (!r->sec[id].present)
            return seg_rd_fail(r, "segment section %u missing", id);
    r->info.version = tv;
    r->info.events = events;
    r->info.min_ingest_ns = (int64_t)load_u64(tr + SEG_TR_MIN_INGEST);
    r->info.max_ingest_ns = (int64_t)load_u64(tr + SEG_TR_MAX_INGEST);
    r->info.min_event_ns = (int64_t)load_u64(tr + SEG_TR_MIN_EVENT);
    r->info.max_event_ns = (int64_t)load_u64(tr + SEG_TR_MAX_EVENT);
    r->info.dict_id = load_u32(tr + SEG_TR_DICT_ID);
    r->info.blocks = load_u32(tr + SEG_TR_NBLOCKS);
    r->tflags = load_u16(tr + SEG_TR_FLAGS);
    if (r->tflags & ~(SEG_FLAG_SERVICE_TERMS | SEG_FLAG_HOST_TERMS))
        return seg_rd_fail(r, "segment trailer: unknown flags 0x%x", r->tflags);
    return 0;
}

/* Check SEC_TERM_FILTER and SEC_BLOCK_FILTER: a fuse filter over the
 * terms filling the one, the block count, the common terms and a fuse
 * filter over the pairs filling the other. */
static int load_filters(seg_reader *r)
{
    const section *bl = &r->sec[SEC_TERM_FILTER], *bb = &r->sec[SEC_BLOCK_FILTER];
    const char *why = NULL;
    int64_t used = seg_fuse_parse(&r->fuse_terms, bl->p, bl->len, &why);
    if (used >= 0 && (uint64_t)used != bl->len)
        why = "bytes after the filter";
    if (why)
        return seg_rd_fail(r, "segment filter malformed: %s", why);
    if (bb->len < 4 || load_u32(bb->p) != r->info.blocks)
        return seg_rd_fail(r, "segment block filters malformed: not %u blocks", r->info.blocks);
    used = seg_common_parse(&r->bb_common, bb->p + 4, bb->len - 4, r->info.blocks, &why);
    if (used < 0)
        return seg_rd_fail(r, "segment block filters' common terms malformed: %s", why);
    size_t at = 4 + (size_t)used;
    used = seg_fuse_parse(&r->fuse_pairs, bb->p + at, bb->len - at, &why);
    if (used >= 0 && (uint64_t)used != bb->len - at)
        why = "bytes after the filter";
    if (why)
        return seg_rd_fail(r, "segment block filter malformed: %s", why);
    return 0;
}

/* The term index: one zstd frame, decompressed into the reader
 * (r->tindex) with its size bounded before allocating. */
static int inflate_index(seg_reader *r, const uint8_t **p, size_t *len)
{
    const section *ti = &r->sec[SEC_TERM_INDEX];
    unsigned long long raw = ZSTD_getFrameContentSize(ti->p, ti->len);
    if (raw == ZSTD_CONTENTSIZE_ERROR || raw == ZSTD_CONTENTSIZE_UNKNOWN ||
        raw > SEG_MAX_TERM_INDEX_RAW)
        return seg_rd_fail(r, "segment term index: bad compressed frame");
    r->tindex = malloc(raw ? raw : 1);
    if (!r->tindex)
        return seg_rd_fail(r, "out of memory");
    size_t got = ZSTD_decompress(r->tindex, raw, ti->p, ti->len);
    if (ZSTD_isError(got) || got != raw)
        return seg_rd_fail(r, "segment term index: %s",
                           ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short frame");
    *p = r->tindex;
    *len = got;
    return 0;
}

/* Inflate and check the sparse term index at open; -1 on corruption. */
static int load_index(seg_reader *r)
{
    const uint8_t *ip = NULL;
    size_t ilen = 0;
    if (inflate_index(r, &ip, &ilen) < 0)
        return -1;
    cursor c = cursor_make(ip, ilen);
    uint64_t nterms = get_u64(&c);
    uint32_t nb = get_u32(&c), nc = get_u32(&c);
    /* the tables must be as long as the counts say, which bounds the counts
     * by the file's size */
    if (c.bad || nb != (nterms + SEG_TERMS_PER_BLOCK - 1) / SEG_TERMS_PER_BLOCK ||
        nc != (nb + SEG_TERM_BLOCKS_PER_CHUNK - 1) / SEG_TERM_BLOCKS_PER_CHUNK ||
        cursor_left(&c) <
            (size_t)nc * SEG_TERM_CHUNK_ENTRY_BYTES + (size_t)nb * SEG_TERM_BLOCK_ENTRY_BYTES)
        return seg_rd_fail(r, "segment term index malformed");
    r->tchunks = c.p;
    r->tblocks = c.p + (size_t)nc * SEG_TERM_CHUNK_ENTRY_BYTES;
    r->tfirsts = r->tblocks + (size_t)nb * SEG_TERM_BLOCK_ENTRY_BYTES;
    r->tfirsts_len = (size_t)(c.end - r->tfirsts);
    uint64_t prev_off = 0;
    for (uint32_t k = 0; k < nc; k++) {
        const uint8_t *e = r->tchunks + (size_t)k * SEG_TERM_CHUNK_ENTRY_BYTES;
        uint64_t off = load_u64(e), clen = load_u32(e + 8), raw = load_u32(e + 12);
        if (off > r->sec[SEC_TERMS].len || clen > r->sec[SEC_TERMS].len - off ||
            (k && off < prev_off) || raw == 0 || raw > SEG_MAX_TERM_CHUNK_RAW)
            return seg_rd_fail(r, "segment term chunk %u out of bounds", k);
        prev_off = off;
    }
    uint64_t prev_post = 0;
    for (uint32_t k = 0; k < nb; k++) {
        const uint8_t *e = r->tblocks + (size_t)k * SEG_TERM_BLOCK_ENTRY_BYTES;
        uint64_t first = load_u32(e), post = load_u64(e + 8);
        if (first >= r->tfirsts_len || post > r->sec[SEC_POSTINGS].len || post < prev_post)
            return seg_rd_fail(r, "segment term block %u out of bounds", k);
        prev_post = post;
    }
    r->dict_terms = nterms;
    r->info.terms += nterms;
    r->ntblocks = nb;
    r->ntchunks = nc;
    r->tchunk_idx = -1;

    return load_filters(r);
}

/* How many row templates SEC_TEMPLATES stores: its leading count,
 * checked against the rows; the rest is read on first use. */
static int count_templates(seg_reader *r)
{
    cursor c = cursor_make(r->sec[SEC_TEMPLATES].p, r->sec[SEC_TEMPLATES].len);
    uint64_t n = get_varint(&c);
    if (c.bad || n > r->info.events)
        return seg_rd_fail(r, "segment row templates malformed");
    r->info.templates = (uint32_t)n;
    return 0;
}

/* Sum the sections' lengths into the parts `strata inspect` and the benchmarks report. */
static void compute_parts(seg_reader *r)
{
    seg_parts *p = &r->info.parts;
    p->columns = r->sec[SEC_INGEST_TS].len + r->sec[SEC_EVENT_TS].len + r->sec[SEC_LEVEL].len +
                 r->sec[SEC_FLAGS].len + r->sec[SEC_SERVICE_DICT].len + r->sec[SEC_SERVICE].len +
                 r->sec[SEC_HOST_DICT].len + r->sec[SEC_HOST].len + r->sec[SEC_ROLLUP].len +
                 r->sec[SEC_META_COLUMNS].len;
    /* every row's message needs its template: the templates are part of the rows */
    p->rows = r->sec[SEC_BLOCKS].len + r->sec[SEC_BLOCK_INDEX].len + r->sec[SEC_TEMPLATES].len;
    p->meta = 0;
    for (uint32_t k = 0; k < r->info.blocks; k++)
        p->meta += load_u32(r->sec[SEC_BLOCK_INDEX].p + (size_t)k * SEG_BLOCK_ENTRY_BYTES +
                            SEG_BE_META_CLEN);
    p->terms = r->sec[SEC_TERMS].len + r->sec[SEC_TERM_INDEX].len;
    p->postings = r->sec[SEC_POSTINGS].len;
    p->filters = r->sec[SEC_TERM_FILTER].len + r->sec[SEC_BLOCK_FILTER].len;
    p->total = r->size;
    p->other = p->total - p->columns - p->rows - p->terms - p->postings - p->filters;
}

/* Check and load a mapped or in-memory segment: header, trailer, section table and CRCs, then the
 * parts open needs. NULL with err when anything is wrong. */
static seg_reader *open_common(seg_reader *r, char *err, size_t errlen)
{
    if (r->size < SEG_HEADER_BYTES + SEG_TRAILER_BYTES) {
        seg_rd_fail(r, "segment truncated (%zu bytes)", r->size);
        goto bad;
    }
    /* the templates counted first: the level column may be coded by them */
    if (load_table(r) < 0 || count_templates(r) < 0 || seg_rd_load_columns(r) < 0 ||
        seg_rd_load_meta_columns(r) < 0 || seg_rd_load_rollup(r) < 0 || seg_rd_load_blocks(r) < 0 ||
        load_index(r) < 0)
        goto bad;
    seg_rd_setup_cns(r);
    const section *t = &r->sec[SEC_TENANT];
    r->tenant = malloc(t->len + 1);
    if (!r->tenant) {
        seg_rd_fail(r, "out of memory");
        goto bad;
    }
    memcpy(r->tenant, t->p, t->len);
    r->tenant[t->len] = 0;
    r->info.tenant = r->tenant;
    /* a missing dictionary fails reads of rows, not the open: the footer,
     * columns, terms and filters are still there to inspect and search */
    if (r->info.dict_id)
        r->ddict = seg_dicts_find(r->dicts, r->info.dict_id);
    r->dctx = ZSTD_createDCtx();
    if (!r->dctx) {
        seg_rd_fail(r, "out of memory");
        goto bad;
    }
    r->blk.index = -1;
    r->blk.meta_index = -1;
    compute_parts(r);
    return r;
bad:
    fail_null(err, errlen, "%s", r->err);
    seg_close(r);
    return NULL;
}

seg_reader *seg_open_mem(const void *data, size_t len, const seg_dicts *dicts, char *err,
                         size_t errlen)
{
    seg_reader *r = calloc(1, sizeof *r);
    if (!r)
        return fail_null(err, errlen, "out of memory");
    r->base = data;
    r->size = len;
    r->dicts = dicts;
    return open_common(r, err, errlen);
}

seg_reader *seg_open(const char *path, const seg_dicts *dicts, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail_null(err, errlen, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size < SEG_HEADER_BYTES + SEG_TRAILER_BYTES) {
        close(fd);
        return fail_null(err, errlen, "%s: segment truncated", path);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return fail_null(err, errlen, "%s: mmap: %s", path, strerror(errno));
    seg_reader *r = calloc(1, sizeof *r);
    if (!r) {
        munmap(m, (size_t)st.st_size);
        return fail_null(err, errlen, "out of memory");
    }
    r->base = m;
    r->size = (size_t)st.st_size;
    r->mapped = 1;
    r->dicts = dicts;
    char e[256];
    if (!open_common(r, e, sizeof e))
        return fail_null(err, errlen, "%s: %s", path, e);
    return r;
}

void seg_rd_reset_msgs(dblock *b);
void seg_rd_reset_meta(dblock *b);

/* Unmap and free a reader and its caches (NULL is fine). */
void seg_close(seg_reader *r)
{
    if (!r)
        return;
    if (r->mapped)
        munmap((void *)r->base, r->size);
    ZSTD_freeDCtx(r->dctx);
    free(r->tenant);
    free(r->ingest);
    free(r->event);
    free(r->ts_pmax);
    free(r->ts_smin);
    free(r->level);
    free(r->flags);
    free(r->service);
    free(r->host);
    free(r->svc_dict);
    free(r->rollup);
    free(r->host_dict);
    free(r->keys);
    for (int i = 0; i < 3; i++)
        free(r->arenas[i]);
    free(r->block_first);
    free(r->tindex);
    free(r->tpl_start);
    free(r->tpl_rows);
    free(r->tpl_rank);
    free(r->tpl_buf);
    free(r->tpl_toff);
    free(r->tpl_nvar);
    free(r->tpl_has);
    free(r->tpl_soff);
    for (uint32_t t = 0; r->tpl_bm && t < r->info.templates; t++)
        if (r->tpl_bm[t])
            roaring_bitmap_free(r->tpl_bm[t]);
    free(r->tpl_bm);
    for (uint32_t i = 0; r->mcols && i < r->nmcols; i++) {
        free(r->mcols[i].has);
        free(r->mcols[i].num);
        free(r->mcols[i].id);
        free(r->mcols[i].values);
        free(r->mcols[i].arena);
        free(r->mcols[i].hexbuf);
        strtab_free(&r->mcols[i].held_tab);
        free(r->mcols[i].held);
        free(r->mcols[i].val_start);
        free(r->mcols[i].val_terms);
    }
    for (uint32_t i = 0; i < r->ncns; i++) {
        free(r->cns[i].inv_start);
        free(r->cns[i].inv_rows);
    }
    free(r->mcols);
    free(r->key_col);
    free(r->tchunk);
    free(r->blk.raw);
    free(r->blk.text);
    free(r->blk.mraw);
    seg_rd_reset_msgs(&r->blk);
    seg_rd_reset_meta(&r->blk);
    free(r);
}

/* ---- terms -------------------------------------------------------------------------- */

/* Walks the term blocks in order. */
typedef struct titer {
    seg_reader *r;
    uint32_t blk;    /* current block */
    uint32_t in_blk; /* terms read from it */
    uint64_t seen;   /* terms read overall up to the block start */
    cursor c;        /* the terms' text stream */
    cursor nc;       /* the numbers stream */
    /* the chunk's bit-packed first rows of inline lists */
    const uint8_t *frows;
    size_t frows_len;
    unsigned fbits;
    uint32_t nfirst, fidx;
    char term[SEG_MAX_TERM];
    size_t tlen;
    uint32_t df;
    uint32_t first;          /* an inline list's first row */
    const uint8_t *rows;     /* inline postings (df <= SEG_INLINE_POSTINGS): */
    const uint8_t *rows_end; /* their delta varints after the first */
    uint64_t post_off;       /* roaring postings: offset, length within SEC_POSTINGS */
    uint64_t post_len;
    uint64_t next_post;
} titer;

/* Decompress term chunk k into the reader's cache (the last one stays). */
static int load_term_chunk(seg_reader *r, uint32_t k)
{
    if (r->tchunk_idx == (int64_t)k)
        return 0;
    const uint8_t *e = r->tchunks + (size_t)k * SEG_TERM_CHUNK_ENTRY_BYTES;
    uint64_t off = load_u64(e);
    uint32_t clen = load_u32(e + 8), raw = load_u32(e + 12);
    if (raw > r->tchunk_cap) {
        uint8_t *nb = realloc(r->tchunk, raw);
        if (!nb)
            return seg_rd_fail(r, "out of memory");
        r->tchunk = nb;
        r->tchunk_cap = raw;
    }
    r->tchunk_idx = -1;
    size_t got = ZSTD_decompressDCtx(r->dctx, r->tchunk, raw, r->sec[SEC_TERMS].p + off, clen);
    if (ZSTD_isError(got) || got != raw)
        return seg_rd_fail(r, "segment term chunk %u: %s", k,
                           ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short frame");
    r->tchunk_idx = k;
    r->tchunk_len = raw;
    return 0;
}

/* Set the iterator's three streams at block blk of the loaded
 * chunk, whose text starts at off in the text stream. The header's lengths
 * must add up to the chunk exactly. 0 or -1. */
static int titer_seek_streams(titer *it, seg_reader *r, uint32_t blk, uint32_t off)
{
    uint32_t chunk = blk / SEG_TERM_BLOCKS_PER_CHUNK, in_chunk = blk % SEG_TERM_BLOCKS_PER_CHUNK;
    uint32_t nblk = r->ntblocks - chunk * SEG_TERM_BLOCKS_PER_CHUNK;
    if (nblk > SEG_TERM_BLOCKS_PER_CHUNK)
        nblk = SEG_TERM_BLOCKS_PER_CHUNK;
    const uint8_t *p = r->tchunk;
    size_t len = r->tchunk_len,
           head = SEG_TCHUNK_HEAD_BYTES + (size_t)nblk * SEG_TCHUNK_BLOCK_BYTES;
    if (len < head)
        return seg_rd_fail(r, "segment term chunk %u malformed", chunk);
    unsigned bits = p[0];
    uint32_t nfirst = load_u32(p + 1), tl = load_u32(p + 5), nl = load_u32(p + 9);
    uint64_t fl = ((uint64_t)nfirst * bits + 7) / 8;
    const uint8_t *b = p + SEG_TCHUNK_HEAD_BYTES + (size_t)in_chunk * SEG_TCHUNK_BLOCK_BYTES;
    uint32_t noff = load_u32(b), fidx = load_u32(b + 4);
    if (bits > 32 || (uint64_t)head + tl + nl + fl != len || off >= tl || noff >= nl ||
        fidx > nfirst)
        return seg_rd_fail(r, "segment term chunk %u malformed", chunk);
    it->c = cursor_make(p + head + off, tl - off);
    it->nc = cursor_make(p + head + tl + noff, nl - noff);
    it->frows = p + head + tl + nl;
    it->frows_len = (size_t)fl;
    it->fbits = bits;
    it->nfirst = nfirst;
    it->fidx = fidx;
    return 0;
}

/* Position the iterator at the start of term block blk; 0 or -1. */
static int titer_seek(titer *it, seg_reader *r, uint32_t blk)
{
    it->r = r;
    it->blk = blk;
    it->in_blk = 0;
    it->seen = (uint64_t)blk * SEG_TERMS_PER_BLOCK;
    it->tlen = 0;
    const uint8_t *e = r->tblocks + (size_t)blk * SEG_TERM_BLOCK_ENTRY_BYTES;
    uint32_t off = load_u32(e + 4);
    it->next_post = load_u64(e + 8);
    if (load_term_chunk(r, blk / SEG_TERM_BLOCKS_PER_CHUNK) < 0)
        return -1;
    return titer_seek_streams(it, r, blk, off);
}

/* Next term: 1, 0 at the end, -1 when the bytes are malformed. */
static int titer_next(titer *it)
{
    seg_reader *r = it->r;
    if (it->seen + it->in_blk >= r->dict_terms)
        return 0;
    if (it->in_blk == SEG_TERMS_PER_BLOCK && titer_seek(it, r, it->blk + 1) < 0)
        return -1;
    cursor *c = &it->nc;
    uint64_t shared = get_varint(c);
    /* the length with the numbers, the bytes in the text */
    size_t slen = (size_t)get_varint(c);
    const uint8_t *suffix = slen <= SEG_MAX_TERM && slen <= cursor_left(&it->c) ? it->c.p : NULL;
    if (suffix)
        it->c.p += slen;
    else
        c->bad = 1;
    if (c->bad || shared > it->tlen || (it->in_blk == 0 && shared) ||
        shared + slen > sizeof it->term)
        return seg_rd_fail(r, "segment term %llu malformed",
                           (unsigned long long)it->seen + it->in_blk);
    memcpy(it->term + shared, suffix, slen);
    it->tlen = shared + slen;
    uint64_t df = get_varint(c);
    if (c->bad || df == 0 || df > r->info.events)
        return seg_rd_fail(r, "segment term postings count malformed");
    it->df = (uint32_t)df;
    if (df <= SEG_INLINE_POSTINGS) {
        if (it->fidx >= it->nfirst)
            return seg_rd_fail(r, "segment inline postings malformed");
        it->first = get_packed(it->frows, it->frows_len, it->fidx++, it->fbits);
        it->rows = c->p;
        for (uint64_t k = 1; k < df; k++)
            get_varint(c);
        if (c->bad)
            return seg_rd_fail(r, "segment inline postings malformed");
        it->rows_end = c->p;
    } else {
        uint64_t len = get_varint(c);
        if (len == 0) {
            /* the same rows as an earlier term: its entry, which must lie
             * before this block's next one */
            uint64_t off = get_varint(c);
            len = get_varint(c);
            if (c->bad || len == 0 || off > it->next_post || len > it->next_post - off)
                return seg_rd_fail(r, "segment postings reference out of bounds");
            it->post_off = off;
            it->post_len = len;
        } else {
            if (c->bad || it->next_post > r->sec[SEC_POSTINGS].len ||
                len > r->sec[SEC_POSTINGS].len - it->next_post)
                return seg_rd_fail(r, "segment postings out of bounds");
            it->post_off = it->next_post;
            it->post_len = len;
            it->next_post += len;
        }
    }
    it->in_blk++;
    return 1;
}

/* The last block whose first term is <= key (0 when key precedes all). */
static int find_block(seg_reader *r, const char *key, size_t klen, uint32_t *out)
{
    uint32_t lo = 0, hi = r->ntblocks;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        /* first terms are kept uncompressed in the index: no chunk is read */
        uint32_t first = load_u32(r->tblocks + (size_t)mid * SEG_TERM_BLOCK_ENTRY_BYTES);
        cursor c = cursor_make(r->tfirsts + first, r->tfirsts_len - first);
        size_t n;
        const uint8_t *t = get_bytes(&c, SEG_MAX_TERM, &n);
        if (!t)
            return seg_rd_fail(r, "segment term block %u: first term malformed", mid);
        if (seg_term_cmp((const char *)t, n, key, klen) <= 0)
            lo = mid;
        else
            hi = mid;
    }
    *out = lo;
    return 0;
}

typedef struct vctx {
    uint32_t prev;
    uint32_t limit;
    uint64_t n;
    int bad;
} vctx;

/* CRoaring iterator: postings must rise strictly and stay below the row count. */
static bool check_value(uint32_t v, void *ud)
{
    vctx *x = ud;
    if ((x->n && v <= x->prev) || v >= x->limit) {
        x->bad = 1;
        return false;
    }
    x->prev = v;
    x->n++;
    return true;
}

/* Decode n delta-varint rows into rows[n]: the first absolute, or, when
 * has_first, the first is `from` and the bytes hold the n - 1 deltas after
 * it (inline lists). Every row must be above the previous one and
 * below the segment's row count, and the bytes must be consumed exactly.
 * 0, or -1 (error set) when malformed. */
static int decode_delta_from(seg_reader *r, const uint8_t *p, size_t len, uint32_t n, int has_first,
                             uint32_t from, uint32_t *rows)
{
    cursor c = cursor_make(p, len);
    uint64_t acc = 0;
    uint32_t i = 0;
    if (has_first && n) {
        acc = from;
        if (acc >= r->info.events)
            c.bad = 1;
        rows[i++] = from;
    }
    for (; i < n && !c.bad; i++) {
        uint64_t d = get_varint(&c);
        if (i && d == 0)
            c.bad = 1;
        acc += d;
        if (acc >= r->info.events)
            c.bad = 1;
        rows[i] = (uint32_t)acc;
    }
    if (c.bad || cursor_left(&c) != 0)
        return seg_rd_fail(r, "segment postings list malformed");
    return 0;
}

/* The same with the first row absolute (SEG_POSTINGS_DELTA entries). */
static int decode_delta(seg_reader *r, const uint8_t *p, size_t len, uint32_t n, uint32_t *rows)
{
    return decode_delta_from(r, p, len, n, 0, 0, rows);
}

/* The inline list of the term the iterator is on into rows[df]; 0, or -1
 * (error set) when malformed. */
static int decode_inline(const titer *it, uint32_t *rows)
{
    size_t len = (size_t)(it->rows_end - it->rows);
    return decode_delta_from(it->r, it->rows, len, it->df, 1, it->first, rows);
}

/* The same into a bitmap; NULL on OOM or malformed input. */
static roaring_bitmap_t *inline_rows(const titer *it)
{
    uint32_t rows[SEG_INLINE_POSTINGS];
    return decode_inline(it, rows) == 0 ? roaring_bitmap_of_ptr(it->df, rows) : NULL;
}

/* Decode an Elias-Fano entry of n rows into rows[n]; 0, or -1 (error
 * set) when malformed. */
static int decode_ef(seg_reader *r, const uint8_t *p, size_t len, uint32_t n, uint32_t *rows)
{
    if (ef_decode(p, len, n, r->info.events, rows) < 0)
        return seg_rd_fail(r, "segment postings list malformed");
    return 0;
}

/* A SEG_POSTINGS_DELTA or SEG_POSTINGS_EF entry of n rows (more than
 * SEG_INLINE_POSTINGS) into a bitmap with its decoder; NULL on OOM or
 * malformed input. */
static roaring_bitmap_t *entry_rows(seg_reader *r, const uint8_t *p, size_t len, uint32_t n,
                                    int (*decode)(seg_reader *, const uint8_t *, size_t, uint32_t,
                                                  uint32_t *))
{
    uint32_t *rows = malloc((size_t)n * sizeof *rows);
    if (!rows)
        return NULL;
    roaring_bitmap_t *bm = decode(r, p, len, n, rows) == 0 ? roaring_bitmap_of_ptr(n, rows) : NULL;
    free(rows);
    return bm;
}

/* A postings entry of tag 0-2 (p[0], then its body) holding n values
 * below limit into a bitmap: the rows of a term, or the
 * templates of one. NULL on OOM or malformed input, the error set. */
roaring_bitmap_t *seg_rd_entry_bitmap(seg_reader *r, const uint8_t *p, size_t len, uint32_t n,
                                      uint32_t limit)
{
    roaring_bitmap_t *bm = NULL;
    if (len >= 1 && p[0] == SEG_POSTINGS_DELTA)
        bm = entry_rows(r, p + 1, len - 1, n, decode_delta);
    else if (len >= 1 && p[0] == SEG_POSTINGS_EF)
        bm = entry_rows(r, p + 1, len - 1, n, decode_ef);
    else if (len >= 1 && p[0] == SEG_POSTINGS_ROARING)
        bm = roaring_bitmap_portable_deserialize_safe((const char *)p + 1, len - 1);
    if (!bm) {
        seg_rd_fail(r, "segment postings malformed");
        return NULL;
    }
    /* a well-formed list from a hostile file could still be nonsense: the
     * values must be strictly increasing, below limit (the decoders check
     * the segment's rows only) and as many as the dictionary says */
    vctx x = {0, limit, 0, 0};
    roaring_iterate(bm, check_value, &x);
    if (x.bad || x.n != n) {
        roaring_bitmap_free(bm);
        seg_rd_fail(r, "segment postings do not match the term dictionary");
        return NULL;
    }
    return bm;
}

/* The bitmap of the term the iterator is on; NULL on OOM or corruption. */
static roaring_bitmap_t *titer_postings(titer *it)
{
    seg_reader *r = it->r;
    if (it->df <= SEG_INLINE_POSTINGS)
        return inline_rows(it);
    const uint8_t *p = r->sec[SEC_POSTINGS].p + it->post_off;
    if (it->post_len >= 1 && p[0] == SEG_POSTINGS_TEMPLATES)
        return seg_rd_template_rows(r, p + 1, it->post_len - 1, it->df);
    return seg_rd_entry_bitmap(r, p, it->post_len, it->df, (uint32_t)r->info.events);
}

/* Position it at the term's entry: 1 when the segment holds the term, 0
 * when not (the filter or the dictionary says so), -1 on corruption. */
static int find_term(seg_reader *r, const char *term, size_t len, titer *it)
{
    if (r->dict_terms == 0 || !seg_may_contain(r, term, len))
        return 0;
    uint32_t blk = 0;
    if (find_block(r, term, len, &blk) < 0 || titer_seek(it, r, blk) < 0)
        return -1;
    for (uint32_t i = 0; i < SEG_TERMS_PER_BLOCK; i++) {
        int got = titer_next(it);
        if (got <= 0)
            return got;
        int c = seg_term_cmp(it->term, it->tlen, term, len);
        if (c >= 0)
            return c == 0;
    }
    return 0;
}

int seg_term_in_column(seg_reader *r, const char *term, size_t len)
{
    return seg_rd_cns_holding(r, term, len) != NULL;
}

int seg_term_from_templates(seg_reader *r, const char *term, size_t len)
{
    titer it;
    if (seg_rd_cns_holding(r, term, len))
        return 0;
    int found = find_term(r, term, len, &it);
    if (found <= 0 || it.df <= SEG_INLINE_POSTINGS)
        return found < 0 ? -1 : 0;
    return it.post_len >= 1 && r->sec[SEC_POSTINGS].p[it.post_off] == SEG_POSTINGS_TEMPLATES;
}

roaring_bitmap_t *seg_postings(seg_reader *r, const char *term, size_t len)
{
    uint32_t v;
    cns *c = seg_rd_cns_holding(r, term, len);
    int held = c ? seg_rd_cns_find(r, c, term, len, &v) : 0;
    if (held < 0)
        return NULL;
    if (held) { /* else the dictionary may have it */
        roaring_bitmap_t *bm = roaring_bitmap_create();
        if (bm)
            roaring_bitmap_add_many(bm, c->inv_start[v + 1] - c->inv_start[v],
                                    c->inv_rows + c->inv_start[v]);
        return bm;
    }
    titer it;
    int found = find_term(r, term, len, &it);
    return found < 0 ? NULL : found ? titer_postings(&it) : roaring_bitmap_create();
}

int64_t seg_term_df(seg_reader *r, const char *term, size_t len)
{
    uint32_t v;
    cns *c = seg_rd_cns_holding(r, term, len);
    int held = c ? seg_rd_cns_find(r, c, term, len, &v) : 0;
    if (held)
        return held < 0 ? -1 : (int64_t)(c->inv_start[v + 1] - c->inv_start[v]);
    titer it;
    int found = find_term(r, term, len, &it);
    return found < 0 ? -1 : found ? (int64_t)it.df : 0;
}

int seg_terms(seg_reader *r, const char *prefix, size_t plen, seg_term_fn fn, void *ud)
{
    /* two sorted streams merged: the term dictionary and the columns' terms */
    cstream hs;
    int h = seg_rd_cs_start(&hs, r, prefix, plen, 0);
    if (h < 0)
        return -1;
    if (r->dict_terms) {
        uint32_t blk = 0;
        titer it;
        if (find_block(r, prefix, plen, &blk) < 0 || titer_seek(&it, r, blk) < 0)
            return -1;
        for (;;) {
            int got = titer_next(&it);
            if (got < 0)
                return -1;
            if (got == 0)
                break;
            int c = seg_term_cmp(it.term, it.tlen < plen ? it.tlen : plen, prefix, plen);
            if (c < 0)
                continue;
            if (c > 0)
                break;
            while (h == 1 && seg_term_cmp(hs.term, hs.tlen, it.term, it.tlen) < 0) {
                if (fn(ud, hs.term, hs.tlen, hs.df))
                    return 0;
                if ((h = seg_rd_cs_next(&hs)) < 0)
                    return -1;
            }
            if (fn(ud, it.term, it.tlen, it.df))
                return 0;
        }
    }
    while (h == 1) {
        if (fn(ud, hs.term, hs.tlen, hs.df))
            return 0;
        if ((h = seg_rd_cs_next(&hs)) < 0)
            return -1;
    }
    return 0;
}

int seg_may_contain(const seg_reader *r, const char *term, size_t len)
{
    return seg_fuse_has(&r->fuse_terms, term_hash(term, len));
}

int seg_block_may_contain(const seg_reader *r, uint32_t block, const char *term, size_t len)
{
    if (block >= r->info.blocks)
        return 0;
    uint64_t h = term_hash(term, len);
    if (seg_common_has(&r->bb_common, h, block))
        return 1;
    return seg_fuse_has(&r->fuse_pairs, seg_fuse_pair_key(h, block));
}

/* ---- internals for the streaming merge (build.h) ------------------------------------------ */

const uint8_t *seg_flags(const seg_reader *r)
{
    return r->flags;
}

uint32_t seg_key_count(const seg_reader *r)
{
    return r->n_keys;
}

strata_str seg_key_name(const seg_reader *r, uint32_t rank)
{
    return r->keys[rank];
}

const uint32_t *seg_row_key_ranks(const seg_reader *r, uint32_t row)
{
    uint32_t k = seg_rd_block_of(r, row);
    return r->blk.kv_key + r->blk.kv_start[row - r->block_first[k]];
}

struct seg_tcur {
    titer it;
    cstream hs;
    int started;
    int dict_has, hex_has; /* whether each stream has a current term */
    int cur_hex;           /* the term returned is the HEX stream's */
};

/* A cursor over the reader's terms in sorted order (used by the streaming merge). */
seg_tcur *seg_tcur_new(seg_reader *r)
{
    seg_tcur *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->it.r = r;
    return c;
}

int seg_tcur_next(seg_tcur *c, const char **term, size_t *len, uint32_t *df)
{
    seg_reader *r = c->it.r;
    if (!c->started) {
        c->started = 1;
        if (r->dict_terms &&
            (titer_seek(&c->it, r, 0) < 0 || (c->dict_has = titer_next(&c->it)) < 0))
            return -1;
        if ((c->hex_has = seg_rd_cs_start(&c->hs, r, "", 0, 1)) < 0)
            return -1;
    } else if (c->cur_hex) {
        if ((c->hex_has = seg_rd_cs_next(&c->hs)) < 0)
            return -1;
    } else if (c->dict_has && (c->dict_has = titer_next(&c->it)) < 0) {
        return -1;
    }
    if (!c->dict_has && !c->hex_has)
        return 0;
    c->cur_hex = c->hex_has &&
                 (!c->dict_has || seg_term_cmp(c->hs.term, c->hs.tlen, c->it.term, c->it.tlen) < 0);
    if (c->cur_hex) {
        *term = c->hs.term;
        *len = c->hs.tlen;
        *df = c->hs.df;
    } else {
        *term = c->it.term;
        *len = c->it.tlen;
        *df = c->it.df;
    }
    return 1;
}

int seg_tcur_rows(seg_tcur *c, uint32_t *out)
{
    if (c->cur_hex) {
        const cns *n = c->hs.c;
        memcpy(out, n->inv_rows + n->inv_start[c->hs.val], (size_t)c->hs.df * sizeof *out);
        return 0;
    }
    titer *it = &c->it;
    seg_reader *r = it->r;
    if (it->df <= SEG_INLINE_POSTINGS)
        return decode_inline(it, out);
    const uint8_t *p = r->sec[SEC_POSTINGS].p + it->post_off;
    if (it->post_len >= 1 && p[0] == SEG_POSTINGS_DELTA)
        return decode_delta(r, p + 1, it->post_len - 1, it->df, out);
    if (it->post_len >= 1 && p[0] == SEG_POSTINGS_EF)
        return decode_ef(r, p + 1, it->post_len - 1, it->df, out);
    roaring_bitmap_t *bm = titer_postings(it); /* checked against df */
    if (!bm)
        return -1;
    roaring_bitmap_to_uint32_array(bm, out);
    roaring_bitmap_free(bm);
    return 0;
}

void seg_tcur_free(seg_tcur *c)
{
    free(c);
}
