/*
 * segment/merge.c - merge segments into one file, streaming: compaction's
 * k-way merge on ingest_ts. The result has the same bytes as adding every
 * row to a writer and finishing it, but nothing is tokenized again and no
 * event is held beyond the row block being built. This file holds the
 * merge's state, its output file, the merge order and the union of the
 * inputs' dictionaries, and calls each part's merge in file order; the
 * parts' merges live with their writers and readers (columns.c,
 * templates.c, metacol.c, levelcol.c, blocks.c, termindex.c):
 *
 *   columns   one pass over the inputs' decoded columns in merge order,
 *             encoded frame by frame (intcol_stream);
 *   templates a pass over the messages gathers each row's template and
 *             ranks them (seg_tpl: 5 bytes a row and the texts);
 *   meta cols passes over the meta frames choose the columns (how many
 *             rows have each key; distinct values, by hash and then as
 *             strings), a last one encodes them;
 *   blocks    rows are staged a block at a time and compressed straight
 *             into the file;
 *   terms     a k-way merge of the inputs' sorted term dictionaries: a
 *             term's rows are the union of its rows in each input, renumbered
 *             to output rows. Postings go to a spool file (they follow the
 *             term index in the file) and are copied in after it; shared
 *             postings are found by the hash of their encoded bytes and
 *             checked against the spool;
 *   filters   each (term, block) pair is spooled while the terms are merged,
 *             its key counted by part; then each filter's parts are built
 *             (fuse.c) in groups of MERGE_FUSE_GROUP_PARTS parts, one pass
 *             over the spool per group.
 *
 * Memory: 4 bytes per output row (the row renumbering), 5 (the templates;
 * 16 per row listed in a dictionary column coded by template), the encoded
 * columns, one row block, the term index (a 32nd of the terms), the filters
 * (their bits, a few bytes a term, up to 2^23 keys read
 * back and about 28 bytes a key of the part being built), the largest
 * term's rows and the distinct values of dictionary candidates (8 bytes a
 * value while counting by hash), instead of every event, every (term, row)
 * pair and the whole file. The readers hold their decoded columns (about
 * 26 bytes a row) and their mapped files. The output is written to
 * PATH.tmp, fsynced, renamed and its directory fsynced; the spool files
 * are unlinked as soon as they are opened, so a crash leaves no more than
 * PATH.tmp.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>
#include <zstd.h>

#include "bigmem.h"
#include "build.h"
#include "codec.h"
#include "crc32c.h"
#include "fsutil.h"
#include "format.h"
#include "segment.h"
#include "segment_int.h"
#include "strtab.h"
#include "merge_int.h"

/* ---- files ---------------------------------------------------------------------------- */

/* The file offset of the next byte appended. */
uint64_t seg_mg_pos(const fout *f)
{
    return f->off + f->buf.len;
}

/* Write the buffered bytes (CRC'd into the open section); -1 once a write failed or memory ran
 * out. */
int seg_mg_flush(fout *f)
{
    if (f->buf.oom)
        f->bad = 1;
    if (f->bad)
        return -1;
    if (f->in_sec)
        f->crc = crc32c(f->crc, f->buf.buf, f->buf.len);
    if (fs_write_all(f->fd, f->buf.buf, f->buf.len) < 0) {
        f->bad = 1;
        return -1;
    }
    f->off += f->buf.len;
    sb_reset(&f->buf);
    return 0;
}

/* Flush once MERGE_FLUSH_BYTES are buffered; -1 once the file is bad. */
int seg_mg_maybe_flush(fout *f)
{
    return f->buf.len >= MERGE_FLUSH_BYTES || f->buf.oom ? seg_mg_flush(f) : (f->bad ? -1 : 0);
}

/* Start a section at the current end of the file. */
void seg_mg_sec_begin(fout *f)
{
    seg_mg_flush(f);
    f->in_sec = 1;
    f->crc = 0;
    f->sec_start = seg_mg_pos(f);
}

/* Close the open section: record its id, offset, length and CRC in the table. */
void seg_mg_sec_end(fout *f, uint32_t id)
{
    seg_mg_flush(f);
    f->in_sec = 0;
    uint8_t *e = f->table + (size_t)f->nsec++ * SEG_TABLE_ENTRY_BYTES;
    store_u32(e, id);
    store_u32(e + 4, f->crc);
    store_u64(e + 8, f->sec_start);
    store_u64(e + 16, seg_mg_pos(f) - f->sec_start);
}

/* A whole section from one buffer. */
void seg_mg_section(fout *f, uint32_t id, const void *p, size_t n)
{
    seg_mg_sec_begin(f);
    sb_append(&f->buf, p, n);
    seg_mg_sec_end(f, id);
}

/* ---- binary heaps of input numbers ------------------------------------------------------ */

/* Restore the heap below position i (heap[0] is the least by less). */
void seg_mg_heap_down(uint32_t *heap, size_t nh, size_t i,
                      int (*less)(const void *ctx, uint32_t a, uint32_t b), const void *ctx)
{
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        if (l < nh && less(ctx, heap[l], heap[best]))
            best = l;
        if (l + 1 < nh && less(ctx, heap[l + 1], heap[best]))
            best = l + 1;
        if (best == i)
            return;
        uint32_t t = heap[i];
        heap[i] = heap[best];
        heap[best] = t;
        i = best;
    }
}

/* ---- merge order ------------------------------------------------------------------------ */

/* Input a's next row goes before input b's. */
static int mo_less(const void *ctx, uint32_t a, uint32_t b)
{
    const morder *m = ctx;
    int64_t x = m->ing[a][m->pos[a]], y = m->ing[b][m->pos[b]];
    return x < y || (x == y && a < b);
}

/* Rewind the merge order to the first row of every input. */
void seg_mg_order_reset(morder *m)
{
    m->nh = 0;
    for (size_t i = 0; i < m->n; i++) {
        m->pos[i] = 0;
        if (m->events[i])
            m->heap[m->nh++] = (uint32_t)i;
    }
    for (size_t i = m->nh; i-- > 0;)
        seg_mg_heap_down(m->heap, m->nh, i, mo_less, m);
}

/* Set up the merge order over n inputs (their ingest columns); -1 on OOM. */
static int mo_init(morder *m, seg_reader *const *in, size_t n)
{
    memset(m, 0, sizeof *m);
    m->n = n;
    m->ing = calloc(n ? n : 1, sizeof *m->ing);
    m->events = calloc(n ? n : 1, sizeof *m->events);
    m->pos = calloc(n ? n : 1, sizeof *m->pos);
    m->heap = calloc(n ? n : 1, sizeof *m->heap);
    if (!m->ing || !m->events || !m->pos || !m->heap)
        return -1;
    for (size_t i = 0; i < n; i++) {
        m->ing[i] = seg_ingest_ts(in[i]);
        m->events[i] = seg_get_info(in[i])->events;
    }
    seg_mg_order_reset(m);
    return 0;
}

/* The next row in output order: 1 with *src and *row set, 0 at the end. */
int seg_mg_order_next(morder *m, uint32_t *src, uint32_t *row)
{
    if (!m->nh)
        return 0;
    uint32_t top = m->heap[0];
    *src = top;
    *row = (uint32_t)m->pos[top]++;
    if (m->pos[top] == m->events[top])
        m->heap[0] = m->heap[--m->nh];
    seg_mg_heap_down(m->heap, m->nh, 0, mo_less, m);
    return 1;
}

/* Free the merge order's arrays. */
static void mo_free(morder *m)
{
    free(m->ing);
    free(m->events);
    free(m->pos);
    free(m->heap);
}

/* ---- dictionaries over all inputs ------------------------------------------------------- */

/* Build the union of one dictionary over the inputs (count and name read it); 0 or -1 on OOM. */
static int ud_build(udict *u, seg_reader *const *in, size_t n,
                    uint32_t (*count)(const seg_reader *),
                    strata_str (*name)(const seg_reader *, uint32_t))
{
    memset(u, 0, sizeof *u);
    u->n = n;
    u->map = calloc(n ? n : 1, sizeof *u->map);
    if (!u->map)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = count(in[i]);
        if (!(u->map[i] = malloc((c ? c : 1) * sizeof **u->map)))
            return -1;
        for (uint32_t j = 0; j < c; j++) {
            strata_str s = name(in[i], j);
            int64_t id = strtab_intern(&u->t, s.ptr, s.len);
            if (id < 0)
                return -1;
            u->map[i][j] = (uint32_t)id;
        }
    }
    u->rank = malloc((u->t.n + 1) * sizeof *u->rank);
    u->sorted = u->rank ? seg_sort_strtab(&u->t, u->rank) : NULL;
    if (!u->sorted)
        return -1;
    for (size_t i = 0; i < n; i++)
        for (uint32_t j = 0, c = count(in[i]); j < c; j++)
            u->map[i][j] = u->rank[u->map[i][j]];
    return 0;
}

/* Free a dictionary union and its per-input maps. */
static void ud_free(udict *u)
{
    for (size_t i = 0; u->map && i < u->n; i++)
        free(u->map[i]);
    free(u->map);
    free(u->rank);
    free(u->sorted);
    strtab_free(&u->t);
}

/* ---- the merge state -------------------------------------------------------------------- */

/* Put a message in the merge's error buffer; returns -1 for `return seg_mg_fail(...)`. */
int seg_mg_fail(merge *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (m->err && m->errlen)
        vsnprintf(m->err, m->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Tell the caller that the merge reached part `name` (progress, crash tests). */
void seg_mg_stage(merge *m, const char *name)
{
    if (m->stage)
        m->stage(m->stage_ud, name);
}

/* Row `row` of input src (the parts asked for), or -1 with the reader's error. */
int seg_mg_read_row(merge *m, uint32_t src, uint32_t row, strata_event *ev, unsigned parts)
{
    if (seg_row_parts(m->in[src], row, ev, parts) < 0)
        return seg_mg_fail(m, "%s", seg_error(m->in[src]));
    return 0;
}

/* ---- the whole file -------------------------------------------------------------------------- */

/* Free the merge state (the output file is closed or removed by the caller). */
static void merge_free(merge *m)
{
    mo_free(&m->mo);
    seg_tpl_free(&m->tpl);
    free(m->level);
    ud_free(&m->svc);
    ud_free(&m->host);
    ud_free(&m->keys);
    for (size_t i = 0; m->remap && i < m->n; i++)
        free(m->remap[i]);
    free(m->remap);
    for (uint32_t c = 0; c < SEG_MAX_META_COLUMNS; c++) {
        free(m->cols[c].seen);
        strtab_free(&m->cols[c].vals);
        free(m->cols[c].sorted);
        free(m->cols[c].vrank);
        free(m->cols[c].hexr);
        free(m->cols[c].hexv);
        free(m->cols[c].ord);
        sb_free(&m->cols[c].has);
        sb_free(&m->cols[c].val);
        seg_tplpred_free(&m->cols[c].pred);
    }
    free(m->key_col);
    sb_free(&m->f.buf);
}

int seg_merge_file(seg_reader *const *in, size_t n, const seg_writer_opts *o, const char *path,
                   char *err, size_t errlen)
{
    return seg_merge_file_staged(in, n, o, path, NULL, NULL, err, errlen);
}

int seg_merge_file_staged(seg_reader *const *in, size_t n, const seg_writer_opts *opts,
                          const char *path, seg_merge_stage_fn stage, void *ud, char *err,
                          size_t errlen)
{
    merge m;
    memset(&m, 0, sizeof m);
    m.in = in;
    m.n = n;
    m.err = err;
    m.errlen = errlen;
    m.path = path;
    m.f.fd = -1;
    if (opts)
        m.o = *opts;
    if (!m.o.block_events || m.o.block_events > SEG_MAX_BLOCK_EVENTS)
        m.o.block_events = SEG_DEFAULT_BLOCK_EVENTS;
    if (!m.o.zstd_level)
        m.o.zstd_level = SEG_DEFAULT_ZSTD_LEVEL;
    m.per = m.o.block_events;
    for (size_t i = 0; i < n; i++)
        m.rows += seg_get_info(in[i])->events;
    if (m.rows > SEG_MAX_EVENTS)
        return seg_mg_fail(&m, "a merge of %llu rows is over the segment limit of %u",
                           (unsigned long long)m.rows, SEG_MAX_EVENTS);
    m.blocks = (m.rows + m.per - 1) / m.per;
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return seg_mg_fail(&m, "segment path too long");
    int rc = -1;
    m.remap = calloc(n ? n : 1, sizeof *m.remap);
    m.key_col = NULL;
    if (!m.remap || mo_init(&m.mo, in, n) < 0 || seg_tpl_init(&m.tpl, m.rows) < 0)
        goto oom;
    for (size_t i = 0; i < n; i++)
        if (!(m.remap[i] = bigmem_malloc((seg_get_info(in[i])->events + 1) * sizeof **m.remap)))
            goto oom;
    if (ud_build(&m.svc, in, n, seg_service_count, seg_service_name) < 0 ||
        ud_build(&m.host, in, n, seg_host_count, seg_host_name) < 0 ||
        ud_build(&m.keys, in, n, seg_key_count, seg_key_name) < 0 ||
        !(m.key_col = calloc(m.keys.t.n + 1, 1)))
        goto oom;
    m.f.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (m.f.fd < 0) {
        seg_mg_fail(&m, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    const char *tenant = m.o.tenant ? m.o.tenant : "";
    seg_put_header(&m.f.buf);
    seg_mg_section(&m.f, SEC_TENANT, tenant, strlen(tenant));
    m.stage = stage;
    m.stage_ud = ud;
    if (seg_mg_columns(&m) < 0 || seg_mg_templates(&m) < 0 || seg_mg_meta_columns(&m) < 0 ||
        seg_mg_levels(&m) < 0 || seg_mg_blocks(&m) < 0 || seg_mg_index(&m) < 0)
        goto out;
    seg_mg_flush(&m.f);
    m.tail.events = m.rows;
    m.tail.dict_id = m.o.dict ? (uint32_t)ZDICT_getDictID(m.o.dict, m.o.dict_len) : 0;
    m.tail.nblocks = (uint32_t)m.blocks;
    m.tail.file_base = m.f.off;
    seg_put_tail(&m.f.buf, m.f.table, m.f.nsec, &m.tail);
    if (seg_mg_flush(&m.f) < 0 || fsync(m.f.fd) < 0) {
        seg_mg_fail(&m, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    close(m.f.fd);
    m.f.fd = -1;
    if (rename(tmp, path) < 0) {
        seg_mg_fail(&m, "rename %s: %s", path, strerror(errno));
        goto out;
    }
    rc = seg_fsync_dir(path, err, errlen);
    goto done;
oom:
    seg_mg_fail(&m, "out of memory merging segments");
out:
    if (m.f.fd >= 0)
        close(m.f.fd);
    unlink(tmp);
done:
    merge_free(&m);
    return rc;
}

unsigned seg_merge_samples(seg_reader *const *in, size_t n, unsigned max, uint8_t **buf,
                           size_t **sizes)
{
    uint64_t rows = 0;
    for (size_t i = 0; i < n; i++)
        rows += seg_get_info(in[i])->events;
    size_t want = rows < max ? (size_t)rows : max;
    *buf = NULL;
    *sizes = malloc((want ? want : 1) * sizeof **sizes);
    morder mo;
    memset(&mo, 0, sizeof mo);
    strbuf b = {0};
    unsigned got = 0;
    if (!*sizes || mo_init(&mo, in, n) < 0) {
        free(*sizes);
        *sizes = NULL;
        mo_free(&mo);
        return 0;
    }
    /* rows i * step of the merged order, as seg_writer_samples picks them */
    uint64_t step = want ? rows / want : 1, o = 0;
    uint32_t src, row;
    while (got < want && seg_mg_order_next(&mo, &src, &row)) {
        if (o++ != got * step)
            continue;
        strata_event ev;
        if (seg_row(in[src], row, &ev) < 0)
            break;
        size_t at = b.len;
        seg_template_sample(ev.msg.ptr, ev.msg.len, &b);
        for (uint32_t k = 0; k < ev.meta_count; k++)
            sb_append(&b, ev.meta[k].value.ptr, ev.meta[k].value.len);
        (*sizes)[got++] = b.len - at;
    }
    mo_free(&mo);
    if (b.oom || got == 0) {
        sb_free(&b);
        free(*sizes);
        *sizes = NULL;
        return 0;
    }
    *buf = (uint8_t *)sb_steal(&b);
    return got;
}
