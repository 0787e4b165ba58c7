/*
 * segment/merge.c - merge segments into one file, streaming: compaction's
 * k-way merge on ingest_ts. The result has the same bytes as adding every
 * row to a writer (seg_merge) and finishing it, but nothing is tokenized
 * again and no event is held beyond the row block being built:
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
 * (their bits, about 2.5 bytes a term on gen_corpus, up to 2^23 keys read
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

/* ---- files ---------------------------------------------------------------------------- */

/* The file offset of the next byte appended. */
uint64_t seg_mg_pos(const fout *f)
{
    return f->off + f->buf.len;
}

/* Write the buffered bytes (CRC'd into the open section); -1 once a write failed or memory ran
 * out. */
static int fo_flush(fout *f)
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
    return f->buf.len >= MERGE_FLUSH_BYTES || f->buf.oom ? fo_flush(f) : (f->bad ? -1 : 0);
}

/* Start a section at the current end of the file. */
void seg_mg_sec_begin(fout *f)
{
    fo_flush(f);
    f->in_sec = 1;
    f->crc = 0;
    f->sec_start = seg_mg_pos(f);
}

/* Close the open section: record its id, offset, length and CRC in the table. */
void seg_mg_sec_end(fout *f, uint32_t id)
{
    fo_flush(f);
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

/* A scratch file next to the output, unlinked at once: -1 on error. */
static int spool_open(const char *path, const char *suffix)
{
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.%s.tmp", path, suffix) >= sizeof tmp)
        return -1;
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0)
        unlink(tmp);
    return fd;
}

/* Read exactly n bytes at off; 0 or -1. */
static int read_at(int fd, void *p, size_t n, uint64_t off)
{
    uint8_t *d = p;
    while (n) {
        ssize_t got = pread(fd, d, n, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        d += got;
        n -= (size_t)got;
        off += (uint64_t)got;
    }
    return 0;
}

/* ---- binary heaps of input numbers ------------------------------------------------------ */

/* Restore the heap below position i (heap[0] is the least by less). */
static void heap_down(uint32_t *heap, size_t nh, size_t i,
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
        heap_down(m->heap, m->nh, i, mo_less, m);
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
    heap_down(m->heap, m->nh, 0, mo_less, m);
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

/* ---- terms, postings, filters ------------------------------------------------------------- */

/* The k-way merge of the inputs' term dictionaries: a heap of cursors
 * keyed by their current term (ties: the earlier input). */
typedef struct tsrc {
    seg_tcur *cur;
    const char *term;
    size_t len;
    uint32_t df;
} tsrc;

typedef struct tmerge {
    tsrc *src;
    uint32_t *heap;
    size_t nh;
} tmerge;

/* Input a's current term goes before input b's. */
static int tm_less(const void *ctx, uint32_t a, uint32_t b)
{
    const tmerge *t = ctx;
    const tsrc *x = &t->src[a], *y = &t->src[b];
    int c = seg_term_cmp(x->term, x->len, y->term, y->len);
    return c < 0 || (c == 0 && a < b);
}

/* Sift heap entry i up the term merge's heap. */
static void tm_up(tmerge *t, size_t i)
{
    while (i > 0 && tm_less(t, t->heap[i], t->heap[(i - 1) / 2])) {
        uint32_t x = t->heap[i];
        t->heap[i] = t->heap[(i - 1) / 2];
        t->heap[(i - 1) / 2] = x;
        i = (i - 1) / 2;
    }
}

/* Step input i's cursor and put it back in the heap unless it ended. */
static int tm_advance(merge *m, tmerge *t, uint32_t i)
{
    tsrc *s = &t->src[i];
    int got = seg_tcur_next(s->cur, &s->term, &s->len, &s->df);
    if (got < 0)
        return seg_mg_fail(m, "%s", seg_error(m->in[i]));
    if (got) {
        t->heap[t->nh++] = i;
        tm_up(t, t->nh - 1);
    }
    return 0;
}

/* The state of writing terms: the term dictionary and the two spools. */
typedef struct tout {
    seg_termw tw;
    fout post;           /* the postings spool */
    fout pairs;          /* (term, block) pairs */
    uint64_t *in_bucket; /* keys per bucket of their top bits: the segment filter's
                            (MERGE_BUCKETS), then the block filter's (MERGE_BUCKETS) */
    uint64_t npairs;     /* records in the pair spool */
    seg_common common;   /* the terms of many blocks, instead */
    seg_ptab dups;       /* entries spooled, by the hash of their bytes: a term with the same
                            rows as an earlier one refers to its entry (equal rows, equal bytes) */
    strbuf entry, cmp;
    char *rbuf;
    size_t rcap;
    uint64_t nterms; /* every term, those of HEX columns included (the filter's keys) */
} tout;

/* Is the spooled entry at off the same bytes as t->entry? */
static int same_entry(tout *t, const seg_pent *e)
{
    if (e->len != t->entry.len)
        return 0;
    if (e->off >= t->post.off) /* still in the buffer */
        return !memcmp(t->post.buf.buf + (e->off - t->post.off), t->entry.buf, e->len);
    sb_reset(&t->cmp);
    if (sb_reserve(&t->cmp, e->len) < 0 || read_at(t->post.fd, t->cmp.buf, e->len, e->off) < 0)
        return 0; /* not shared: the entry is written again */
    return !memcmp(t->cmp.buf, t->entry.buf, e->len);
}

/* The term's entry in the dictionary and its postings. */
static int put_entry(merge *m, tout *t, const char *term, size_t len, const uint32_t *rows,
                     uint32_t n)
{
    if (seg_termw_add(&t->tw, term, len, rows, n, seg_mg_pos(&t->post), &m->f.buf,
                      seg_mg_pos(&m->f) - m->f.sec_start, m->err, m->errlen) < 0)
        return -1;
    if (seg_mg_maybe_flush(&m->f) < 0)
        return seg_mg_fail(m, "cannot write terms: %s", strerror(errno));
    if (n > SEG_INLINE_POSTINGS) {
        sb_reset(&t->entry);
        int whole = seg_tpl_encode(&m->tpl, rows, n, &t->entry, &t->rbuf, &t->rcap);
        if (whole < 0 ||
            (!whole && seg_postings_encode(rows, n, &t->entry, &t->rbuf, &t->rcap) < 0))
            return seg_mg_fail(m, "out of memory building postings");
        uint64_t h = term_hash(t->entry.buf, t->entry.len);
        h = h ? h : 1;
        const seg_pent *dup = NULL;
        size_t at = SIZE_MAX;
        while ((dup = seg_ptab_next(&t->dups, h, &at)) && !same_entry(t, dup))
            ;
        seg_termw_ref(&t->tw, dup, t->entry.len);
        if (!dup) {
            seg_pent e = {h, seg_mg_pos(&t->post), t->entry.len, NULL, 0};
            sb_append(&t->post.buf, t->entry.buf, t->entry.len);
            if (seg_ptab_add(&t->dups, &e) < 0 || seg_mg_maybe_flush(&t->post) < 0)
                return seg_mg_fail(m, "cannot spool postings: %s",
                                   t->post.bad ? strerror(errno) : "out of memory");
        }
    }
    return 0;
}

/* The blocks the term occurs in, for the block filters: its entry among
 * the common terms, or its (term, block) pairs for the block filter. */
static int put_pairs(merge *m, tout *t, const char *term, size_t len, const uint32_t *rows,
                     uint32_t n)
{
    uint64_t h = term_hash(term, len);
    uint64_t last = UINT64_MAX, in_blocks = 0;
    for (uint32_t k = 0; k < n; k++)
        if (rows[k] / m->per != last) {
            last = rows[k] / m->per;
            in_blocks++;
        }
    t->in_bucket[seg_fuse_part(h, SEG_FUSE_MAX_PART_LOG)]++;
    if (seg_common_is(in_blocks, m->blocks)) {
        int64_t i = seg_common_add(&t->common, h);
        if (i < 0)
            return seg_mg_fail(m, "out of memory building the filters");
        for (uint32_t k = 0; k < n; k++)
            seg_common_mark(&t->common, (size_t)i, (uint32_t)(rows[k] / m->per));
        return 0;
    }
    last = UINT64_MAX;
    for (uint32_t k = 0; k < n; k++) {
        uint64_t b = rows[k] / m->per;
        if (b == last)
            continue;
        uint8_t rec[MERGE_PAIR_BYTES];
        store_u32(rec, (uint32_t)b | (last == UINT64_MAX ? MERGE_FIRST_PAIR : 0));
        store_u64(rec + 4, h);
        sb_append(&t->pairs.buf, rec, sizeof rec);
        t->in_bucket[MERGE_BUCKETS +
                     seg_fuse_part(seg_fuse_pair_key(h, (uint32_t)b), SEG_FUSE_MAX_PART_LOG)]++;
        t->npairs++;
        last = b;
    }
    if (seg_mg_maybe_flush(&t->pairs) < 0)
        return seg_mg_fail(m, "cannot spool filters: %s",
                           t->pairs.bad ? strerror(errno) : "out of memory");
    return t->tw.raw.oom ? seg_mg_fail(m, "out of memory building terms") : 0;
}

/* One term of the output with its rows (ascending). */
static int put_term(merge *m, tout *t, const char *term, size_t len, const uint32_t *rows,
                    uint32_t n)
{
    t->nterms++;
    /* a term a column holds: filters only */
    if (!seg_colterms_has(&m->ct, term, len) && put_entry(m, t, term, len, rows, n) < 0)
        return -1;
    return put_pairs(m, t, term, len, rows, n);
}

/* Merge the term dictionaries into SEC_TERMS (postings and pairs spooled). */
static int merge_terms(merge *m, tout *t)
{
    tmerge tm = {calloc(m->n ? m->n : 1, sizeof(tsrc)), calloc(m->n ? m->n : 1, sizeof(uint32_t)),
                 0};
    uint32_t *rows = NULL, *tmp = NULL, *ins = NULL;
    size_t rcap = 0, tcap = 0;
    int rc = -1;
    if (!tm.src || !tm.heap || !(ins = calloc(m->n ? m->n : 1, sizeof *ins))) {
        seg_mg_fail(m, "out of memory merging terms");
        goto out;
    }
    for (uint32_t i = 0; i < m->n; i++)
        if (!(tm.src[i].cur = seg_tcur_new(m->in[i])) || tm_advance(m, &tm, i) < 0) {
            if (!tm.src[i].cur)
                seg_mg_fail(m, "out of memory merging terms");
            goto out;
        }
    seg_mg_stage(m, "terms");
    seg_mg_sec_begin(&m->f);
    char term[SEG_MAX_TERM];
    while (tm.nh) {
        const tsrc *top = &tm.src[tm.heap[0]];
        size_t len = top->len;
        memcpy(term, top->term, len);
        /* every input holding the term, in input order (the heap gives
         * equal terms earlier input first) */
        size_t k = 0;
        uint64_t total = 0;
        while (tm.nh &&
               seg_term_cmp(tm.src[tm.heap[0]].term, tm.src[tm.heap[0]].len, term, len) == 0) {
            ins[k++] = tm.heap[0];
            total += tm.src[tm.heap[0]].df;
            tm.heap[0] = tm.heap[--tm.nh];
            heap_down(tm.heap, tm.nh, 0, tm_less, &tm);
        }
        if (total > rcap) {
            size_t cap = total * 2;
            uint32_t *nr = realloc(rows, cap * sizeof *nr);
            if (!nr) {
                seg_mg_fail(m, "out of memory merging postings");
                goto out;
            }
            rows = nr;
            rcap = cap;
        }
        uint64_t got = 0;
        int sorted = 1;
        for (size_t j = 0; j < k; j++) {
            tsrc *s = &tm.src[ins[j]];
            if (s->df > tcap) {
                uint32_t *nt = realloc(tmp, (size_t)s->df * 2 * sizeof *nt);
                if (!nt) {
                    seg_mg_fail(m, "out of memory merging postings");
                    goto out;
                }
                tmp = nt;
                tcap = (size_t)s->df * 2;
            }
            if (seg_tcur_rows(s->cur, tmp) < 0) {
                seg_mg_fail(m, "%s", seg_error(m->in[ins[j]]));
                goto out;
            }
            const uint32_t *map = m->remap[ins[j]];
            for (uint32_t r = 0; r < s->df; r++) {
                uint32_t o = map[tmp[r]];
                if (got && o <= rows[got - 1])
                    sorted = 0;
                rows[got++] = o;
            }
        }
        if (!sorted)
            qsort(rows, got, sizeof *rows, seg_cmp_u32);
        if (put_term(m, t, term, len, rows, (uint32_t)got) < 0)
            goto out;
        for (size_t j = 0; j < k; j++)
            if (tm_advance(m, &tm, ins[j]) < 0)
                goto out;
    }
    if (seg_termw_finish(&t->tw, &m->f.buf, seg_mg_pos(&m->f) - m->f.sec_start, m->err, m->errlen) <
        0)
        goto out;
    seg_mg_sec_end(&m->f, SEC_TERMS);
    rc = 0;
out:
    for (uint32_t i = 0; tm.src && i < m->n; i++)
        seg_tcur_free(tm.src[i].cur);
    free(tm.src);
    free(tm.heap);
    free(rows);
    free(tmp);
    free(ins);
    return rc;
}

/* SEC_TERM_INDEX, from the term dictionary just written. */
static int write_term_index(merge *m, tout *t)
{
    seg_mg_sec_begin(&m->f);
    if (seg_termw_index(&t->tw, &m->f.buf, m->err, m->errlen) < 0)
        return -1;
    seg_mg_sec_end(&m->f, SEC_TERM_INDEX);
    return 0;
}

/* Copy a spool's bytes into the output as section `id`. */
static int copy_spool(merge *m, fout *sp, uint32_t id)
{
    if (fo_flush(sp) < 0)
        return seg_mg_fail(m, "cannot spool: %s", strerror(errno));
    seg_mg_sec_begin(&m->f);
    for (uint64_t at = 0; at < sp->off;) {
        size_t n = sp->off - at < MERGE_READ_BYTES ? (size_t)(sp->off - at) : MERGE_READ_BYTES;
        if (sb_reserve(&m->f.buf, n) < 0 || read_at(sp->fd, m->f.buf.buf + m->f.buf.len, n, at) < 0)
            return seg_mg_fail(m, "cannot read back the postings spool: %s", strerror(errno));
        m->f.buf.len += n;
        at += n;
        if (seg_mg_maybe_flush(&m->f) < 0)
            return seg_mg_fail(m, "cannot write postings: %s", strerror(errno));
    }
    seg_mg_sec_end(&m->f, id);
    return 0;
}

/* Put key into its part's room in keys: at[p - p0] on (advanced), below
 * stop[p - p0]; -1 past it (the spool holds more than was counted). */
static int put_key(uint64_t *keys, uint64_t *at, const uint64_t *stop, uint32_t p0, uint32_t p1,
                   unsigned lg, uint64_t key)
{
    uint32_t p = seg_fuse_part(key, lg);
    if (p < p0 || p >= p1)
        return 0;
    if (at[p - p0] >= stop[p - p0])
        return -1;
    keys[at[p - p0]++] = key;
    return 0;
}

/* Gather the keys of parts [p0, p1) of a filter split in 2^lg parts into
 * keys, part p from at[p - p0] on (advanced past each key) up to stop[p -
 * p0]: the segment filter's (pairs 0) are the common terms' hashes and each
 * term's hash from its first spooled pair; the block filter's, every
 * spooled pair's key. One pass over the pair spool. */
static int gather_keys(merge *m, tout *t, int pairs, unsigned lg, uint32_t p0, uint32_t p1,
                       uint64_t *keys, uint64_t *at, const uint64_t *stop, uint8_t *rbuf)
{
    for (size_t i = 0; !pairs && i < t->common.n; i++)
        if (put_key(keys, at, stop, p0, p1, lg, t->common.hash[i]) < 0)
            return seg_mg_fail(m, "filter spool holds more keys than counted");
    for (uint64_t off = 0; off < t->pairs.off;) {
        size_t n = MERGE_PAIR_READ;
        if (t->pairs.off - off < n)
            n = (size_t)(t->pairs.off - off);
        if (read_at(t->pairs.fd, rbuf, n, off) < 0)
            return seg_mg_fail(m, "cannot read back the filter spool: %s", strerror(errno));
        for (size_t i = 0; i + MERGE_PAIR_BYTES <= n; i += MERGE_PAIR_BYTES) {
            uint32_t b = load_u32(rbuf + i);
            uint64_t h = load_u64(rbuf + i + 4);
            if (!pairs && !(b & MERGE_FIRST_PAIR))
                continue;
            b &= ~MERGE_FIRST_PAIR;
            if (b >= m->blocks) /* the spool is ours, but a block past the end is no index */
                return seg_mg_fail(m, "filter spool names block %u of %llu", b,
                                   (unsigned long long)m->blocks);
            if (put_key(keys, at, stop, p0, p1, lg, pairs ? seg_fuse_pair_key(h, b) : h) < 0)
                return seg_mg_fail(m, "filter spool holds more keys than counted");
        }
        off += n;
    }
    return 0;
}

/* Append one filter (the segment filter, or with pairs the block filter)
 * to the open section, its parts built in groups of at most
 * MERGE_FUSE_GROUP_PARTS parts' keys read back from the spool. */
static int write_filter(merge *m, tout *t, seg_fuse *f, int pairs, uint8_t *rbuf)
{
    const uint64_t *bucket = t->in_bucket + (pairs ? MERGE_BUCKETS : 0);
    uint64_t part_keys = seg_fuse_part_keys(m->o.filter_part_keys);
    uint64_t group_keys = part_keys * MERGE_FUSE_GROUP_PARTS;
    unsigned lg = seg_fuse_part_log(pairs ? t->npairs : t->nterms, part_keys);
    uint32_t parts = 1u << lg, per = MERGE_BUCKETS >> lg; /* buckets per part */
    uint64_t *in_part = calloc(parts, sizeof *in_part), *at = calloc(parts, sizeof *at);
    uint64_t *stop = calloc(parts, sizeof *stop);
    uint64_t *keys = NULL;
    size_t cap = 0;
    int rc = -1;
    if (!in_part || !at || !stop) {
        seg_mg_fail(m, "out of memory building the filters");
        goto out;
    }
    for (uint32_t k = 0; k < MERGE_BUCKETS; k++)
        in_part[k / per] += bucket[k];
    seg_fuse_begin(f, pairs ? SEG_BLOCK_FILTER_WIDTH : SEG_FILTER_WIDTH, SEG_FUSE_ARITY, lg);
    for (uint32_t p0 = 0, p1; p0 < parts; p0 = p1) {
        uint64_t n = in_part[p0];
        for (p1 = p0 + 1; p1 < parts && n + in_part[p1] <= group_keys; p1++)
            n += in_part[p1];
        if (n > cap || !keys) {
            free(keys);
            cap = n ? n : 1;
            if (!(keys = malloc(cap * sizeof *keys))) {
                seg_mg_fail(m, "out of memory building the filters");
                goto out;
            }
        }
        for (uint64_t p = p0, from = 0; p < p1; from += in_part[p++]) {
            at[p - p0] = from;
            stop[p - p0] = from + in_part[p];
        }
        if (gather_keys(m, t, pairs, lg, p0, p1, keys, at, stop, rbuf) < 0)
            goto out;
        for (uint64_t p = p0, from = 0; p < p1; from += in_part[p++]) {
            if (at[p - p0] != stop[p - p0]) { /* counted and spooled disagree */
                seg_mg_fail(m, "filter spool holds %llu keys of part %llu, counted %llu",
                            (unsigned long long)(at[p - p0] - from), (unsigned long long)p,
                            (unsigned long long)in_part[p]);
                goto out;
            }
            if (seg_fuse_add_part(f, keys + from, in_part[p]) < 0) {
                seg_mg_fail(m, "out of memory building the filters");
                goto out;
            }
        }
    }
    if (seg_fuse_finish(f, &m->f.buf) < 0) {
        seg_mg_fail(m, "out of memory building the filters");
        goto out;
    }
    rc = seg_mg_maybe_flush(&m->f) < 0
             ? seg_mg_fail(m, "cannot write the filters: %s", strerror(errno))
             : 0;
out:
    free(in_part);
    free(at);
    free(stop);
    free(keys);
    return rc;
}

/* SEC_TERM_FILTER over every term and SEC_BLOCK_FILTER over each block's terms
 * (binary fuse filters), from the common terms and the spooled
 * (term, block) pairs. */
static int write_filters(merge *m, tout *t)
{
    seg_mg_stage(m, "filters");
    if (fo_flush(&t->pairs) < 0)
        return seg_mg_fail(m, "cannot spool filters: %s", strerror(errno));
    uint8_t *rbuf = malloc(MERGE_PAIR_READ);
    seg_fuse f;
    memset(&f, 0, sizeof f);
    int rc = -1;
    if (!rbuf) {
        seg_mg_fail(m, "out of memory building the filters");
        goto out;
    }
    seg_mg_sec_begin(&m->f);
    if (write_filter(m, t, &f, 0, rbuf) < 0)
        goto out;
    seg_mg_sec_end(&m->f, SEC_TERM_FILTER);
    seg_mg_sec_begin(&m->f);
    put_u32(&m->f.buf, (uint32_t)m->blocks);
    if (seg_common_put(&t->common, &m->f.buf) < 0) {
        seg_mg_fail(m, "out of memory building the filters");
        goto out;
    }
    if (write_filter(m, t, &f, 1, rbuf) < 0)
        goto out;
    seg_mg_sec_end(&m->f, SEC_BLOCK_FILTER);
    rc = m->f.bad ? seg_mg_fail(m, "cannot write the filters: %s", strerror(errno)) : 0;
out:
    free(rbuf);
    seg_fuse_free(&f);
    return rc;
}

/* SEC_TEMPLATES, from the templates gathered with the rows, after the
 * postings that refer to them (as the writer's). */
static int write_templates(merge *m)
{
    strbuf b = {0};
    if (seg_tpl_put(&m->tpl, &b, m->o.zstd_level) < 0) {
        sb_free(&b);
        return seg_mg_fail(m, "out of memory building row templates");
    }
    seg_mg_section(&m->f, SEC_TEMPLATES, b.buf, b.len);
    sb_free(&b);
    return m->f.bad ? seg_mg_fail(m, "cannot write the merged segment: %s", strerror(errno)) : 0;
}

/* Merge the inputs' term dictionaries into the output's terms, postings (renumbered rows),
 * templates and filters. */
static int write_index(merge *m)
{
    tout t;
    memset(&t, 0, sizeof t);
    t.tw.level = m->o.zstd_level;
    t.post.fd = t.pairs.fd = -1;
    int rc = -1;
    t.in_bucket = calloc((size_t)2 * MERGE_BUCKETS, sizeof *t.in_bucket);
    seg_common_init(&t.common, (uint32_t)m->blocks);
    t.post.fd = spool_open(m->path, "postings");
    t.pairs.fd = spool_open(m->path, "filters");
    if (!t.in_bucket || t.post.fd < 0 || t.pairs.fd < 0) {
        seg_mg_fail(m, "cannot open spool files next to %s: %s", m->path, strerror(errno));
        goto out;
    }
    if (merge_terms(m, &t) < 0 || write_term_index(m, &t) < 0 ||
        copy_spool(m, &t.post, SEC_POSTINGS) < 0 || write_templates(m) < 0 ||
        write_filters(m, &t) < 0)
        goto out;
    rc = 0;
out:
    if (t.post.fd >= 0)
        close(t.post.fd);
    if (t.pairs.fd >= 0)
        close(t.pairs.fd);
    sb_free(&t.post.buf);
    sb_free(&t.pairs.buf);
    seg_termw_free(&t.tw);
    sb_free(&t.entry);
    sb_free(&t.cmp);
    free(t.rbuf);
    free(t.dups.slot);
    free(t.in_bucket);
    seg_common_free(&t.common);
    return rc;
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
        seg_mg_levels(&m) < 0 || seg_mg_blocks(&m) < 0 || write_index(&m) < 0)
        goto out;
    fo_flush(&m.f);
    m.tail.events = m.rows;
    m.tail.dict_id = m.o.dict ? (uint32_t)ZDICT_getDictID(m.o.dict, m.o.dict_len) : 0;
    m.tail.nblocks = (uint32_t)m.blocks;
    m.tail.file_base = m.f.off;
    seg_put_tail(&m.f.buf, m.f.table, m.f.nsec, &m.tail);
    if (fo_flush(&m.f) < 0 || fsync(m.f.fd) < 0) {
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
