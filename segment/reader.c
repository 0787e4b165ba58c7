/*
 * segment/reader.c - open, verify and close a segment (format.h).
 *
 * Opening checks the header, trailer and section table, the CRC32C of every
 * section except the row blocks (each of which carries its own CRC, checked
 * when the block is first read), and calls each part's reader to locate or
 * decode it (columns.c, metacol.c, blocks.c, termindex.c, templates.c,
 * colterms.c, which also answer the queries on their part). Nothing read from
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
        seg_rd_load_index(r) < 0)
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
