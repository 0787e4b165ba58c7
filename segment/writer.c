/*
 * segment/writer.c - encode the head (segment/head.c: the rows and their
 * terms as they were added) into one segment: encode the columns, compress
 * the row blocks, build the term index, postings and filters and write the
 * file with its footer (format.h).
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

/* A string being sorted, with its bytes d..d+7 cached big-endian in w
 * (zeros past its end), so that a partition compares words in the array
 * instead of reading every string from the table at every byte. */
typedef struct wref {
    uint64_t w;
    const char *s;
    uint32_t len, id;
} wref;

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
static void sort_strtab_into(const strtab *t, uint32_t *rank, sref *r, wref *a)
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
        sort_strtab_into(t, rank, r, a);
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

/* ---- columns --------------------------------------------------------------- */

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

/* ---- terms, postings, filters ------------------------------------------------------ */

/* Bytes of v as a varint. */
static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Append raw to out as zstd frames (one per part between cuts, format.h)
 * with the builder's context at its level; their compressed
 * length, or -1 with err ("out of memory compressing <what>"). */
static int64_t termw_compress(seg_termw *t, const strbuf *raw, const size_t *cuts, unsigned ncuts,
                              strbuf *out, const char *what, char *err, size_t errlen)
{
    if (raw->oom || (!t->cctx && !(t->cctx = ZSTD_createCCtx()))) {
        snprintf(err, errlen, "out of memory compressing %s", what);
        return -1;
    }
    /* level 0 is zstd's default level, as ZSTD_compressCCtx takes it */
    return seg_wr_compress_parts(t->cctx, t->level ? t->level : ZSTD_CLEVEL_DEFAULT, raw->buf,
                                 raw->len, cuts, ncuts, out, what, err, errlen);
}

/* Bits needed for v (0 for 0). */
static unsigned bits_for(uint32_t v)
{
    return v ? 32u - (unsigned)__builtin_clz(v) : 0;
}

/* Lay the gathered chunk out in t->raw (format.h): header, the
 * blocks' starts, text, numbers, the first rows bit-packed LSB-first. It
 * is compressed as three frames, cut where the numbers and
 * the first rows start (t->cuts): random row numbers among the text's
 * literals cost the text its entropy table. */
static void termw_layout(seg_termw *t)
{
    strbuf *raw = &t->raw;
    unsigned w = bits_for(t->maxfirst);
    sb_reset(raw);
    put_u8(raw, (uint8_t)w);
    put_u32(raw, t->nfirst);
    put_u32(raw, (uint32_t)t->text.len);
    put_u32(raw, (uint32_t)t->nums.len);
    sb_append(raw, t->heads.buf, t->heads.len);
    sb_append(raw, t->text.buf, t->text.len);
    t->cuts[0] = raw->len;
    sb_append(raw, t->nums.buf, t->nums.len);
    t->cuts[1] = raw->len;
    put_packed(raw, (const uint32_t *)(const void *)t->frows.buf, t->nfirst, w);
    raw->oom |= t->text.oom | t->nums.oom | t->heads.oom | t->frows.oom;
}

/* Compress the gathered term blocks as one chunk onto out, whose end is at
 * offset out_at of SEC_TERMS, and record it in the chunk table. */
static int termw_chunk(seg_termw *t, strbuf *out, uint64_t out_at, char *err, size_t errlen)
{
    termw_layout(t);
    int64_t clen = termw_compress(t, &t->raw, t->cuts, 2, out, "terms", err, errlen);
    if (clen < 0)
        return -1;
    put_u64(&t->chunks, out_at);
    put_u32(&t->chunks, (uint32_t)clen);
    put_u32(&t->chunks, (uint32_t)t->raw.len);
    sb_reset(&t->raw);
    sb_reset(&t->text);
    sb_reset(&t->nums);
    sb_reset(&t->heads);
    sb_reset(&t->frows);
    t->nfirst = t->maxfirst = 0;
    return 0;
}

int seg_termw_add(seg_termw *t, const char *term, size_t len, const uint32_t *rows, uint32_t df,
                  uint64_t post_base, strbuf *out, uint64_t out_at, char *err, size_t errlen)
{
    if (t->nterms % SEG_TERMS_PER_BLOCK == 0) {
        uint64_t blk = t->nterms / SEG_TERMS_PER_BLOCK;
        if (blk % SEG_TERM_BLOCKS_PER_CHUNK == 0 && blk &&
            termw_chunk(t, out, out_at, err, errlen) < 0)
            return -1;
        put_u32(&t->blocks, (uint32_t)t->firsts.len);
        put_u32(&t->blocks, (uint32_t)t->text.len);
        put_u64(&t->blocks, post_base);
        put_u32(&t->heads, (uint32_t)t->nums.len);
        put_u32(&t->heads, t->nfirst);
        put_bytes(&t->firsts, term, len);
        put_varint(&t->nums, 0);
        put_varint(&t->nums, len);
        sb_append(&t->text, term, len);
    } else {
        size_t shared = 0, lim = t->prev_len < len ? t->prev_len : len;
        while (shared < lim && t->prev[shared] == term[shared])
            shared++;
        put_varint(&t->nums, shared);
        put_varint(&t->nums, len - shared);
        sb_append(&t->text, term + shared, len - shared);
    }
    memcpy(t->prev, term, len);
    t->prev_len = len;
    t->nterms++;
    put_varint(&t->nums, df);
    if (df <= SEG_INLINE_POSTINGS) {
        sb_append(&t->frows, &rows[0], sizeof rows[0]);
        t->nfirst++;
        if (rows[0] > t->maxfirst)
            t->maxfirst = rows[0];
        for (uint32_t k = 1; k < df; k++)
            put_varint(&t->nums, rows[k] - rows[k - 1]);
    }
    if (t->text.oom || t->nums.oom || t->heads.oom || t->frows.oom || t->blocks.oom ||
        t->firsts.oom) {
        snprintf(err, errlen, "out of memory building the term dictionary");
        return -1;
    }
    return 0;
}

void seg_termw_ref(seg_termw *t, const seg_pent *same, uint64_t len)
{
    if (same) {
        put_varint(&t->nums, 0);
        put_varint(&t->nums, same->off);
        put_varint(&t->nums, same->len);
    } else {
        put_varint(&t->nums, len);
    }
}

int seg_termw_finish(seg_termw *t, strbuf *out, uint64_t out_at, char *err, size_t errlen)
{
    return t->text.len ? termw_chunk(t, out, out_at, err, errlen) : 0;
}

int seg_termw_index(seg_termw *t, strbuf *out, char *err, size_t errlen)
{
    strbuf idx = {0};
    uint64_t tblocks = (t->nterms + SEG_TERMS_PER_BLOCK - 1) / SEG_TERMS_PER_BLOCK;
    put_u64(&idx, t->nterms);
    put_u32(&idx, (uint32_t)tblocks);
    put_u32(&idx,
            (uint32_t)((tblocks + SEG_TERM_BLOCKS_PER_CHUNK - 1) / SEG_TERM_BLOCKS_PER_CHUNK));
    sb_append(&idx, t->chunks.buf, t->chunks.len);
    sb_append(&idx, t->blocks.buf, t->blocks.len);
    sb_append(&idx, t->firsts.buf, t->firsts.len);
    idx.oom |= t->chunks.oom;
    int64_t n = termw_compress(t, &idx, NULL, 0, out, "the term index", err, errlen);
    sb_free(&idx);
    return n < 0 ? -1 : 0;
}

void seg_termw_free(seg_termw *t)
{
    ZSTD_freeCCtx(t->cctx);
    t->cctx = NULL;
    sb_free(&t->raw);
    sb_free(&t->chunks);
    sb_free(&t->blocks);
    sb_free(&t->firsts);
    sb_free(&t->text);
    sb_free(&t->nums);
    sb_free(&t->heads);
    sb_free(&t->frows);
    t->nfirst = t->maxfirst = 0;
}

/* Rows one roaring container covers. */
#define ROARING_CONTAINER_ROWS 65536u

/* A floor under the portable roaring size of rows (ascending, distinct):
 * per container the smallest of its array (2 bytes a row), bitmap (8 KiB)
 * and run (2 bytes, then 4 a run) bodies, plus its 4 bytes of key and
 * count, plus the 4-byte cookie. Headers and offsets only add to it. */
static size_t roaring_floor(const uint32_t *rows, uint32_t n)
{
    size_t total = 4;
    uint32_t k = 0;
    while (k < n) {
        uint32_t hi = rows[k] / ROARING_CONTAINER_ROWS;
        size_t card = 0, runs = 0;
        for (; k < n && rows[k] / ROARING_CONTAINER_ROWS == hi; k++, card++)
            if (!card || rows[k] != rows[k - 1] + 1)
                runs++;
        size_t body = 2 * card < ROARING_CONTAINER_ROWS / 8 ? 2 * card : ROARING_CONTAINER_ROWS / 8;
        if (2 + 4 * runs < body)
            body = 2 + 4 * runs;
        total += 4 + body;
    }
    return total;
}

int seg_postings_encode(const uint32_t *rows, uint32_t n, strbuf *out, char **rbuf, size_t *rcap)
{
    /* three ways, the smallest kept: delta varints (short lists), Elias-
     * Fano (lists spread over the segment: most), roaring (dense lists and
     * runs). When the best of the first two is below roaring's floor the
     * bitmap is not even built (most lists: 0.24 -> 0.15 s for the
     * postings of 1M gen_corpus events). */
    size_t dsize = 0;
    for (uint32_t k = 0; k < n; k++)
        dsize += varint_len(k ? rows[k] - rows[k - 1] : rows[0]);
    size_t esize = ef_size(rows, n);
    size_t best = esize < dsize ? esize : dsize;
    roaring_bitmap_t *bm = NULL;
    size_t need = 0;
    if (best >= roaring_floor(rows, n)) {
        if (!(bm = roaring_bitmap_of_ptr(n, rows)))
            return -1;
        roaring_bitmap_run_optimize(bm);
        need = roaring_bitmap_portable_size_in_bytes(bm);
    }
    if (!bm || best < need) {
        if (bm)
            roaring_bitmap_free(bm);
        if (esize < dsize) {
            put_u8(out, SEG_POSTINGS_EF);
            return ef_put(out, rows, n) < 0 || out->oom ? -1 : 0;
        }
        put_u8(out, SEG_POSTINGS_DELTA);
        for (uint32_t k = 0; k < n; k++)
            put_varint(out, k ? rows[k] - rows[k - 1] : rows[0]);
        return out->oom ? -1 : 0;
    }
    if (need > *rcap) {
        char *nb = realloc(*rbuf, need);
        if (!nb) {
            roaring_bitmap_free(bm);
            return -1;
        }
        *rbuf = nb;
        *rcap = need;
    }
    size_t got = roaring_bitmap_portable_serialize(bm, *rbuf);
    roaring_bitmap_free(bm);
    put_u8(out, SEG_POSTINGS_ROARING);
    sb_append(out, *rbuf, got);
    return out->oom ? -1 : 0;
}

int seg_ptab_add(seg_ptab *t, const seg_pent *e)
{
    if ((t->n + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        seg_pent *ns = calloc(cap, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->slot[i].h)
                continue;
            size_t j = t->slot[i].h & (cap - 1);
            while (ns[j].h)
                j = (j + 1) & (cap - 1);
            ns[j] = t->slot[i];
        }
        free(t->slot);
        t->slot = ns;
        t->cap = cap;
    }
    size_t i = e->h & (t->cap - 1);
    while (t->slot[i].h)
        i = (i + 1) & (t->cap - 1);
    t->slot[i] = *e;
    t->n++;
    return 0;
}

const seg_pent *seg_ptab_next(const seg_ptab *t, uint64_t h, size_t *i)
{
    if (!t->n)
        return NULL;
    for (size_t k = *i == SIZE_MAX ? h & (t->cap - 1) : (*i + 1) & (t->cap - 1); t->slot[k].h;
         k = (k + 1) & (t->cap - 1))
        if (t->slot[k].h == h) {
            *i = k;
            return &t->slot[k];
        }
    return NULL;
}

/* The hash of a row list (never 0, which marks an empty slot), to find postings shared by terms. */
static uint64_t rows_hash(const uint32_t *rows, uint32_t n)
{
    uint64_t h = term_hash(rows, (size_t)n * sizeof *rows);
    return h ? h : 1;
}

/* The entry holding exactly rows[n] (hash h = rows_hash), or NULL. */
static const seg_pent *pdup_find(const seg_ptab *t, uint64_t h, const uint32_t *rows, uint32_t n)
{
    size_t i = SIZE_MAX;
    for (const seg_pent *d; (d = seg_ptab_next(t, h, &i));)
        if (d->n == n && !memcmp(d->rows, rows, (size_t)n * sizeof *rows))
            return d;
    return NULL;
}

/* Terms ahead of the one being written whose lines are prefetched: enough
 * to cover a memory latency of a few terms' work. With it, writing the term
 * dictionary of 1M gen_corpus events took 2.05 s instead of 2.7 s; 8, 16
 * and 32 measured alike. */
#define WRITE_PREFETCH_AHEAD 16

/* Rows ahead whose terms' lines are prefetched in the passes over (row,
 * term) pairs; a row has ~20 terms, so 4 rows keep ~40-80 loads in flight. */
#define ROW_PREFETCH_AHEAD 4

/* blocks[t] = how many row blocks hold term t (every term with rows;
 * last_block is scratch of one entry per term). */
static void count_term_blocks(const seg_writer *w, uint32_t nblocks, uint32_t *last_block,
                              uint32_t *blocks, size_t nids)
{
    size_t per = w->o.block_events;
    memset(last_block, 0xff, (nids + 1) * sizeof *last_block);
    memset(blocks, 0, (nids + 1) * sizeof *blocks);
    for (uint32_t k = 0; k < nblocks; k++) {
        size_t from = k * per, to = from + per < w->n ? from + per : w->n;
        for (size_t r = from; r < to; r++) {
            const uint32_t *t, *end;
            if (r + ROW_PREFETCH_AHEAD < w->n)
                for (t = seg_head_row_terms(w, r + ROW_PREFETCH_AHEAD, &end); t < end; t++)
                    __builtin_prefetch(&last_block[*t], 1);
            for (t = seg_head_row_terms(w, r, &end); t < end; t++)
                if (last_block[*t] != k) {
                    last_block[*t] = k;
                    blocks[*t]++;
                }
        }
    }
}

/* Turn per-term block counts into common entries: each common
 * term gets one in c and common[t] its index, every other term UINT32_MAX.
 * 0, or -1 on OOM. */
static int pick_common(const windex *x, size_t nids, uint32_t nblocks, uint32_t *common,
                       seg_common *c)
{
    for (size_t t = 0; t < nids; t++) {
        if (!common[t] || !seg_common_is(common[t], nblocks)) {
            common[t] = UINT32_MAX;
            continue;
        }
        int64_t i = seg_common_add(c, x->terms.ent[t].hash);
        if (i < 0)
            return -1;
        common[t] = (uint32_t)i;
    }
    return 0;
}

/* Write the term dictionary, its index, the postings, the templates and both filters from the
 * head's term index. */
static int write_index(build *b, uint32_t nblocks)
{
    seg_writer *w = b->w;
    const windex *x = &w->ix;
    size_t nids = x->terms.n; /* interned terms; those with rows are written */
    uint32_t *df = seg_wr_scratch(w, SCR_DF, (nids + 1) * sizeof *df);
    uint64_t *start = seg_wr_scratch(w, SCR_START, (nids + 1) * sizeof *start);
    uint32_t *post = seg_wr_scratch(w, SCR_POST, (x->nocc ? x->nocc : 1) * sizeof *post);
    uint32_t *last_block = seg_wr_scratch(w, SCR_LAST_BLOCK, (nids + 1) * sizeof *last_block);
    uint64_t *hashes = NULL;
    sref *sorted = seg_wr_scratch(w, SCR_SORT_REFS, (nids ? nids : 1) * sizeof *sorted);
    wref *words = seg_wr_scratch(w, SCR_SORT_WORDS, (nids ? nids : 1) * sizeof *words);
    seg_common cterms;
    seg_common_init(&cterms, nblocks);
    char *rbuf = NULL;
    size_t rcap = 0;
    seg_ptab dups = {0};    /* postings written, by their rows (shared postings) */
    seg_tpl *tpl = &b->tpl; /* gathered before the blocks */
    int rc = -1;
    if (!df || !start || !post || !last_block || !sorted || !words) {
        seg_wr_fail(b, "out of memory building the index");
        goto out;
    }
    memset(df, 0, (nids + 1) * sizeof *df);
    sort_strtab_into(&x->terms, NULL, sorted, words);
    /* postings: counting sort of (term, row) by term; rows (in segment
     * order: row r holds arrival row rows[r].seq) stay ascending */
    for (size_t i = 0; i < x->nocc; i++)
        df[x->occ[i]]++;
    uint64_t acc = 0;
    for (size_t t = 0; t < nids; t++) {
        start[t] = acc;
        acc += df[t];
    }
    for (size_t r = 0; r < w->n; r++) {
        /* each term's start, then where its row goes, are at random: ask
         * for them a few rows ahead */
        const uint32_t *t, *end;
        if (r + ROW_PREFETCH_AHEAD < w->n)
            for (t = seg_head_row_terms(w, r + ROW_PREFETCH_AHEAD, &end); t < end; t++)
                __builtin_prefetch(&start[*t]);
        if (r + ROW_PREFETCH_AHEAD / 2 < w->n)
            for (t = seg_head_row_terms(w, r + ROW_PREFETCH_AHEAD / 2, &end); t < end; t++)
                __builtin_prefetch(&post[start[*t]], 1);
        for (t = seg_head_row_terms(w, r, &end); t < end; t++)
            post[start[*t]++] = (uint32_t)r;
    }
    for (size_t t = 0; t < nids; t++)
        start[t] -= df[t];
    /* a term interned for a row that then failed to add has no rows */
    size_t nterms = 0;
    for (size_t i = 0; i < nids; i++)
        if (df[sorted[i].id])
            sorted[nterms++] = sorted[i];

    /* term blocks + postings, in sorted term order. Blocks are grouped into
     * chunks, each one zstd frame; the index keeps every block's first term
     * uncompressed so that a lookup decompresses one chunk only. */
    strbuf *postings = &w->postings;
    sb_reset(postings);
    seg_termw tw = {.level = w->o.zstd_level};
    size_t s = seg_wr_sec_begin(b);
    for (size_t i = 0; i < nterms; i++) {
        /* sorted order visits the term table, df and start at random: ask
         * for a term's lines well before it is written, its rows (which
         * need start) a little later */
        if (i + WRITE_PREFETCH_AHEAD < nterms) {
            const sref *f = &sorted[i + WRITE_PREFETCH_AHEAD];
            __builtin_prefetch(f->s);
            __builtin_prefetch(&df[f->id]);
            __builtin_prefetch(&start[f->id]);
        }
        if (i + WRITE_PREFETCH_AHEAD / 2 < nterms)
            __builtin_prefetch(post + start[sorted[i + WRITE_PREFETCH_AHEAD / 2].id]);
        const sref *t = &sorted[i];
        if (seg_colterms_has(&b->ct, t->s, t->len))
            continue; /* its column holds it */
        uint32_t n = df[t->id];
        const uint32_t *rows = post + start[t->id];
        if (seg_termw_add(&tw, t->s, t->len, rows, n, postings->len, b->out, b->out->len - s,
                          b->err, b->errlen) < 0)
            goto term_fail;
        if (n <= SEG_INLINE_POSTINGS)
            continue;
        /* the words of one log template hold the same rows: their postings
         * are stored once, the others refer to them */
        uint64_t rh = rows_hash(rows, n);
        const seg_pent *d = pdup_find(&dups, rh, rows, n);
        if (d) {
            seg_termw_ref(&tw, d, 0);
            continue;
        }
        uint64_t entry_off = postings->len;
        int whole = seg_tpl_encode(tpl, rows, n, postings, &rbuf, &rcap);
        if (whole < 0 || (!whole && seg_postings_encode(rows, n, postings, &rbuf, &rcap) < 0)) {
            seg_wr_fail(b, "out of memory building postings");
            goto term_fail;
        }
        seg_termw_ref(&tw, NULL, postings->len - entry_off);
        seg_pent e = {rh, entry_off, postings->len - entry_off, rows, n};
        if (seg_ptab_add(&dups, &e) < 0) {
            seg_wr_fail(b, "out of memory building postings");
            goto term_fail;
        }
    }
    if (seg_termw_finish(&tw, b->out, b->out->len - s, b->err, b->errlen) < 0)
        goto term_fail;
    seg_wr_sec_end(b, SEC_TERMS, s);
    s = seg_wr_sec_begin(b);
    if (seg_termw_index(&tw, b->out, b->err, b->errlen) < 0) {
    term_fail:
        seg_termw_free(&tw);
        goto out;
    }
    seg_termw_free(&tw);
    seg_wr_sec_end(b, SEC_TERM_INDEX, s);
    s = seg_wr_sec_begin(b);
    sb_append(b->out, postings->buf, postings->len);
    seg_wr_sec_end(b, SEC_POSTINGS, s);
    s = seg_wr_sec_begin(b);
    if (postings->oom || seg_tpl_put(tpl, b->out, w->o.zstd_level) < 0) {
        seg_wr_fail(b, "out of memory building the index");
        goto out;
    }
    seg_wr_sec_end(b, SEC_TEMPLATES, s);

    /* the segment filter over every term */
    hashes = seg_wr_scratch(w, SCR_HASHES, (x->nocc ? x->nocc : 1) * sizeof *hashes);
    if (!hashes) {
        seg_wr_fail(b, "out of memory building the filters");
        goto out;
    }
    size_t nkeys = 0;
    for (size_t id = 0; id < nids; id++) /* in id order: the table is read straight through */
        if (df[id])
            hashes[nkeys++] = x->terms.ent[id].hash;
    uint64_t *tmp = seg_wr_scratch(w, SCR_FUSE_TMP, (nkeys ? nkeys : 1) * sizeof *tmp);
    if (!tmp) {
        seg_wr_fail(b, "out of memory building the filters");
        goto out;
    }
    uint64_t part_keys = seg_fuse_part_keys(w->o.filter_part_keys);
    s = seg_wr_sec_begin(b);
    if (seg_fuse_put(&w->fuse, hashes, tmp, nkeys, SEG_FILTER_WIDTH, SEG_FUSE_ARITY, part_keys,
                     b->out) < 0) {
        seg_wr_fail(b, "out of memory building the filters");
        goto out;
    }
    seg_wr_sec_end(b, SEC_TERM_FILTER, s);

    /* the block filter over each block's distinct terms, but for the
     * common terms, listed with their blocks */
    size_t per = w->o.block_events;
    uint32_t *common = df; /* per term: its blocks, then its common entry (or UINT32_MAX) */
    count_term_blocks(w, nblocks, last_block, common, nids);
    if (pick_common(x, nids, nblocks, common, &cterms) < 0) {
        seg_wr_fail(b, "out of memory building the filters");
        goto out;
    }
    memset(last_block, 0xff, (nids + 1) * sizeof *last_block);
    nkeys = 0;
    for (uint32_t k = 0; k < nblocks; k++) {
        size_t from = k * per, to = from + per < w->n ? from + per : w->n;
        for (size_t r = from; r < to; r++) {
            const uint32_t *t, *end;
            if (r + ROW_PREFETCH_AHEAD / 2 < w->n)
                for (t = seg_head_row_terms(w, r + ROW_PREFETCH_AHEAD / 2, &end); t < end; t++) {
                    __builtin_prefetch(&last_block[*t]);
                    __builtin_prefetch(&x->terms.ent[*t]);
                }
            for (t = seg_head_row_terms(w, r, &end); t < end; t++)
                if (last_block[*t] != k) {
                    last_block[*t] = k;
                    if (common[*t] != UINT32_MAX)
                        seg_common_mark(&cterms, common[*t], k);
                    else
                        hashes[nkeys++] = seg_fuse_pair_key(x->terms.ent[*t].hash, k);
                }
        }
    }
    if (!(tmp = seg_wr_scratch(w, SCR_FUSE_TMP, (nkeys ? nkeys : 1) * sizeof *tmp))) {
        seg_wr_fail(b, "out of memory building the filters");
        goto out;
    }
    s = seg_wr_sec_begin(b);
    put_u32(b->out, nblocks);
    if (seg_common_put(&cterms, b->out) < 0 ||
        seg_fuse_put(&w->fuse, hashes, tmp, nkeys, SEG_BLOCK_FILTER_WIDTH, SEG_FUSE_ARITY,
                     part_keys, b->out) < 0) {
        seg_wr_fail(b, "out of memory building the filters");
        goto out;
    }
    seg_wr_sec_end(b, SEC_BLOCK_FILTER, s);
    rc = 0;
out:
    free(dups.slot);
    free(rbuf);
    seg_common_free(&cterms);
    return rc;
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
        seg_wr_blocks(&b, &nblocks) < 0 || write_index(&b, nblocks) < 0)
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
