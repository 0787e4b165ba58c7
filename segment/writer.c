/*
 * segment/writer.c - encode the head (segment/head.c: the rows and their
 * terms as they were added) into one segment (format.h): sort, then call
 * each part's writer in file order (columns.c, templates.c, metacol.c,
 * levelcol.c, blocks.c, termindex.c) and write the section table and the
 * footer. Each part's file holds its writer, its merge and its reader.
 *
 * Memory: postings cost 4 bytes per (term, row) besides the head's own; the
 * whole file is assembled in memory and written at once. Finish's work
 * arrays and the file's buffer stay with the writer, so that a writer
 * emptied with seg_writer_reset builds its next segment in pages it already
 * has.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>
#include <zstd.h>

#include "bigmem.h"
#include "codec.h"
#include "crc32c.h"
#include "fsutil.h"
#include "eliasfano.h"
#include "format.h"
#include "segment.h"
#include "segment_int.h"
#include "strtab.h"
#include "build.h"
#include "head.h"
#include "writer_int.h"

/* Work array `id` with room for `bytes` (contents undefined), owned by the
 * writer: the last segment's when it is big enough, whose pages are mapped
 * already. NULL on OOM. */
void *seg_wr_scratch(seg_writer *w, int id, size_t bytes)
{
    wscratch *s = &w->scr[id];
    if (!s->p || bytes > s->cap) {
        free(s->p);
        s->p = bigmem_malloc(bytes);
        s->cap = s->p ? bytes : 0;
    }
    return s->p;
}

/* ---- sorting --------------------------------------------------------------- */

/* Bytes d..d+7 of s, big-endian, zeros past len. */
static inline uint64_t word_at(const char *s, size_t len, size_t d)
{
    if (len >= d + 8) {
        uint64_t w;
        memcpy(&w, s + d, 8);
        return __builtin_bswap64(w);
    }
    uint64_t w = 0;
    for (size_t j = d; j < len; j++)
        w |= (uint64_t)(unsigned char)s[j] << (56 - 8 * (j - d));
    return w;
}

/* x against y, both sharing their first d bytes: memcmp on the common
 * length, then the shorter first. */
static int cmp_from(const wref *x, const wref *y, size_t d)
{
    size_t n = (x->len < y->len ? x->len : y->len);
    int c = n > d ? memcmp(x->s + d, y->s + d, n - d) : 0;
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* qsort order of sort keys from their first byte (the fallback past the depth budget). */
static int cmp_wref(const void *a, const void *b)
{
    return cmp_from(a, b, 0);
}

/* Partitions below this size are insertion-sorted. */
#define SORT_SMALL 12
/* Multi-key quicksort on 8-byte words: a three-way partition on the cached
 * word of bytes d..d+7, then the equal part on the next word. Terms share
 * long prefixes ("meta.trace_id:..."); a byte-at-a-time sort read every
 * string of such a group from the table once per byte of the prefix (a
 * cache miss each), this reads it once per 8 bytes. Strings that end in
 * the word go first in its equal part (they are prefixes of the others
 * there). Past `budget` partitions on one path (hostile input), qsort
 * finishes: the stack stays bounded. Strings are distinct. */
static void sort_words(wref *a, size_t n, size_t d, int budget)
{
    while (n > 1) {
        if (n < SORT_SMALL) {
            for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && cmp_from(&a[j - 1], &a[j], d) > 0; j--) {
                    wref t = a[j];
                    a[j] = a[j - 1];
                    a[j - 1] = t;
                }
            return;
        }
        if (budget-- <= 0) {
            qsort(a, n, sizeof *a, cmp_wref);
            return;
        }
        uint64_t x = a[0].w, y = a[n / 2].w, z = a[n - 1].w;
        uint64_t v = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t lt = 0, i = 0, gt = n;
        while (i < gt) {
            uint64_t c = a[i].w;
            wref t = a[i];
            if (c < v) {
                a[i++] = a[lt];
                a[lt++] = t;
            } else if (c > v) {
                a[i] = a[--gt];
                a[gt] = t;
            } else {
                i++;
            }
        }
        sort_words(a, lt, d, budget);
        /* the equal part: the strings that end within the word first, by
         * length (distinct, so at most 9 of them), then the rest by the
         * next word */
        wref *e = a + lt;
        size_t ne = gt - lt, ended = 0;
        for (size_t k = 0; k < ne; k++)
            if (e[k].len <= d + 8) {
                wref t = e[k];
                e[k] = e[ended];
                e[ended++] = t;
            }
        for (size_t k = 1; k < ended; k++)
            for (size_t j = k; j > 0 && e[j - 1].len > e[j].len; j--) {
                wref t = e[j];
                e[j] = e[j - 1];
                e[j - 1] = t;
            }
        for (size_t k = ended; k < ne; k++)
            e[k].w = word_at(e[k].s, e[k].len, d + 8);
        sort_words(e + ended, ne - ended, d + 8, budget);
        a += gt;
        n -= gt;
    }
}

/* Partitions one path may take before sort_words falls back to qsort: the
 * longest term's words plus room for unlucky pivots. */
#define SORT_BUDGET ((int)(SEG_MAX_TERM / 8) + 128)

/* Sort a table's strings into r (room for t->n), with a (as many sort
 * keys) as work space; fills rank[id] = position when rank is not NULL. */
void seg_wr_sort_strtab_into(const strtab *t, uint32_t *rank, sref *r, wref *a)
{
    for (size_t i = 0; i < t->n; i++) {
        a[i].s = strtab_str(t, (uint32_t)i);
        a[i].len = strtab_len(t, (uint32_t)i);
        a[i].id = (uint32_t)i;
        a[i].w = word_at(a[i].s, a[i].len, 0);
    }
    sort_words(a, t->n, 0, SORT_BUDGET);
    for (size_t i = 0; i < t->n; i++) {
        r[i].s = a[i].s;
        r[i].len = a[i].len;
        r[i].id = a[i].id;
        if (rank)
            rank[a[i].id] = (uint32_t)i;
    }
}

sref *seg_sort_strtab(const strtab *t, uint32_t *rank)
{
    size_t n = t->n ? t->n : 1;
    sref *r = bigmem_malloc(n * sizeof *r);
    wref *a = bigmem_malloc(n * sizeof *a);
    if (r && a) {
        seg_wr_sort_strtab_into(t, rank, r, a);
    } else {
        free(r);
        r = NULL;
    }
    free(a);
    return r;
}

/* ---- the build state of finish ------------------------------------------------ */

/* Put a message in the build's error buffer; returns -1 for `return seg_wr_fail(...)`. */
int seg_wr_fail(build *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (b->err && b->errlen)
        vsnprintf(b->err, b->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

size_t seg_wr_sec_begin(build *b)
{
    return b->out->len;
}

void seg_wr_sec_end(build *b, uint32_t id, size_t start)
{
    uint8_t *e = b->table + (size_t)b->nsec++ * SEG_TABLE_ENTRY_BYTES;
    size_t len = b->out->len - start;
    store_u32(e, id);
    store_u32(e + 4, b->out->oom ? 0 : crc32c(0, b->out->buf + start, len));
    store_u64(e + 8, start);
    store_u64(e + 16, len);
}

/* ---- dictionaries ------------------------------------------------------------ */

/* A sorted string dictionary, front-coded: count, then per string the bytes
 * shared with the previous one and the rest. */
void seg_put_dict(strbuf *out, const sref *s, size_t n, int level)
{
    strbuf fc = {0};
    for (size_t i = 0; i < n; i++) {
        size_t shared = 0;
        if (i) {
            size_t lim = s[i - 1].len < s[i].len ? s[i - 1].len : s[i].len;
            while (shared < lim && s[i - 1].s[shared] == s[i].s[shared])
                shared++;
        }
        put_varint(&fc, shared);
        put_bytes(&fc, s[i].s + shared, s[i].len - shared);
    }
    put_varint(out, n);
    if (fc.oom)
        out->oom = 1;
    else
        put_zframe(out, fc.buf, fc.len, level); /* sets out->oom on failure */
    sb_free(&fc);
}

/* ---- the whole file ------------------------------------------------------------------ */

void seg_put_header(strbuf *out)
{
    sb_append(out, SEG_MAGIC, SEG_MAGIC_LEN);
    put_u16(out, SEG_VERSION);
    put_u16(out, 0);
    put_u32(out, 0);
}

void seg_put_tail(strbuf *out, const uint8_t *table, uint32_t nsec, const seg_tail *t)
{
    uint64_t table_off = out->len;
    sb_append(out, table, (size_t)nsec * SEG_TABLE_ENTRY_BYTES);
    uint8_t tr[SEG_TRAILER_BYTES];
    memset(tr, 0, sizeof tr);
    store_u64(tr + SEG_TR_EVENTS, t->events);
    store_u64(tr + SEG_TR_MIN_INGEST, (uint64_t)t->min_ingest);
    store_u64(tr + SEG_TR_MAX_INGEST, (uint64_t)t->max_ingest);
    store_u64(tr + SEG_TR_MIN_EVENT, (uint64_t)t->min_event);
    store_u64(tr + SEG_TR_MAX_EVENT, (uint64_t)t->max_event);
    store_u64(tr + SEG_TR_TABLE_OFF, table_off + t->file_base);
    store_u32(tr + SEG_TR_NSECTIONS, nsec);
    store_u32(tr + SEG_TR_TABLE_CRC, crc32c(0, table, (size_t)nsec * SEG_TABLE_ENTRY_BYTES));
    store_u32(tr + SEG_TR_DICT_ID, t->dict_id);
    store_u32(tr + SEG_TR_NBLOCKS, t->nblocks);
    store_u16(tr + SEG_TR_VERSION, SEG_VERSION);
    store_u16(tr + SEG_TR_FLAGS, t->flags);
    store_u32(tr + SEG_TR_CRC, crc32c(0, tr, SEG_TR_CRC));
    memcpy(tr + SEG_TR_MAGIC, SEG_MAGIC, SEG_MAGIC_LEN);
    sb_append(out, tr, sizeof tr);
}

/* Free what finish allocated for one build (the writer's scratch stays). */
static void build_free(build *b)
{
    free(b->key_rank);
    free(b->keys_sorted);
    seg_tpl_free(&b->tpl);
}

/* Build the segment into w->out: 0, or -1 with err (w->out then empty). */
static int finish_build(seg_writer *w, char *err, size_t errlen)
{
    build b;
    memset(&b, 0, sizeof b);
    b.w = w;
    b.out = &w->out;
    b.err = err;
    b.errlen = errlen;
    if (w->finished) /* its bytes, if any, stay as they are */
        return seg_wr_fail(&b, "segment writer already finished");
    sb_reset(b.out);
    seg_writer_seal(w);
    w->finished = 1;

    seg_put_header(b.out);

    uint32_t nblocks = 0;
    size_t s = seg_wr_sec_begin(&b);
    sb_append(b.out, w->tenant, strlen(w->tenant));
    seg_wr_sec_end(&b, SEC_TENANT, s);
    if (seg_wr_columns(&b) < 0)
        goto fail;
    /* meta keys sorted, so that a segment's bytes do not depend on the
     * order its events arrived in (blocks refer to keys by sorted rank) */
    b.key_rank = malloc((w->keys.n + 1) * sizeof *b.key_rank);
    b.keys_sorted = seg_sort_strtab(&w->keys, b.key_rank);
    if (!b.key_rank || !b.keys_sorted) {
        seg_wr_fail(&b, "out of memory");
        goto fail;
    }
    s = seg_wr_sec_begin(&b);
    seg_put_dict(b.out, b.keys_sorted, w->keys.n, w->o.zstd_level);
    seg_wr_sec_end(&b, SEC_META_KEYS, s);
    /* the rows' templates first: dictionary columns may follow them, blocks
     * store a message as its template's variables, terms of whole templates
     * refer to them */
    if (seg_wr_templates(&b, &b.tpl) < 0 || seg_wr_meta_columns(&b) < 0 || seg_wr_levels(&b) < 0 ||
        seg_wr_blocks(&b, &nblocks) < 0 || seg_wr_index(&b, nblocks) < 0)
        goto fail;

    int64_t min_i = 0, max_i = 0, min_e = 0, max_e = 0;
    for (size_t i = 0; i < w->n; i++) {
        const wrow *r = &w->rows[i];
        if (i == 0 || r->ingest < min_i)
            min_i = r->ingest;
        if (i == 0 || r->ingest > max_i)
            max_i = r->ingest;
        if (i == 0 || r->event < min_e)
            min_e = r->event;
        if (i == 0 || r->event > max_e)
            max_e = r->event;
    }
    seg_tail t = {
        w->n,    min_i, max_i,
        min_e,   max_e, w->o.dict ? (uint32_t)ZDICT_getDictID(w->o.dict, w->o.dict_len) : 0,
        nblocks, 0,     b.ct.flags};
    seg_put_tail(b.out, b.table, b.nsec, &t);
    if (b.out->oom) {
        seg_wr_fail(&b, "out of memory assembling the segment");
        goto fail;
    }
    build_free(&b);
    return 0;
fail:
    sb_reset(b.out);
    build_free(&b);
    return -1;
}

int seg_writer_finish_view(seg_writer *w, const uint8_t **out, size_t *len, char *err,
                           size_t errlen)
{
    *out = NULL;
    *len = 0;
    if (finish_build(w, err, errlen) < 0)
        return -1;
    *out = (const uint8_t *)w->out.buf;
    *len = w->out.len;
    return 0;
}

int seg_writer_finish_mem(seg_writer *w, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    if (finish_build(w, err, errlen) < 0)
        return -1;
    *len = w->out.len;
    *out = (uint8_t *)sb_steal(&w->out);
    return 0;
}

int seg_write_file(const char *path, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        snprintf(err, errlen, "segment path too long");
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || fs_write_all(fd, buf, len) < 0 || fsync(fd) < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "rename %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return seg_fsync_dir(path, err, errlen);
}

int seg_writer_finish(seg_writer *w, const char *path, char *err, size_t errlen)
{
    const uint8_t *buf;
    size_t len;
    if (seg_writer_finish_view(w, &buf, &len, err, errlen) < 0)
        return -1;
    return seg_write_file(path, buf, len, err, errlen);
}

unsigned seg_writer_samples(seg_writer *w, unsigned max, uint8_t **buf, size_t **sizes)
{
    strbuf b = {0};
    size_t n = w->n < max ? w->n : max;
    *sizes = malloc((n ? n : 1) * sizeof **sizes);
    *buf = NULL;
    if (!*sizes)
        return 0;
    /* spread the samples over the whole writer */
    size_t step = n ? w->n / n : 1;
    unsigned got = 0;
    for (size_t i = 0; i < n; i++) {
        const wrow *r = &w->rows[i * step];
        size_t at = b.len;
        seg_template_sample(w->data.buf + r->msg_off, r->msg_len, &b);
        for (uint32_t k = 0; k < r->kv_n; k++) {
            const wkv *kv = &w->kvs[r->kv_off + k];
            sb_append(&b, w->data.buf + kv->off, kv->len);
        }
        (*sizes)[got++] = b.len - at;
    }
    if (b.oom) {
        sb_free(&b);
        free(*sizes);
        *sizes = NULL;
        return 0;
    }
    *buf = (uint8_t *)sb_steal(&b);
    return got;
}
