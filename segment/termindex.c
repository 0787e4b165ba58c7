/*
 * segment/termindex.c - the term index (format.h: SEC_TERMS, the term
 * index of chunks, SEC_POSTINGS and the filters), the whole part: every
 * term of the segment in sorted chunks, front-coded, with its rows as a
 * postings entry (inline, Elias-Fano, deltas, or its templates), and the
 * binary fuse filters over terms and (term, block) pairs.
 *
 *   writing  the writer sorts its head's terms, encodes their postings
 *            (shared postings for terms of the same rows) and builds the
 *            filters (seg_wr_index);
 *   merging  the streaming merge merges its inputs' term dictionaries
 *            instead of tokenizing rows again, renumbers their rows and
 *            gives the bytes the writer would (seg_mg_index);
 *   reading  the reader checks the index at open (seg_rd_load_index,
 *            seg_rd_load_filters) and answers term lookups, postings and
 *            prefix walks (seg_postings, seg_terms, seg_term_df), and the
 *            merge's term cursor (seg_tcur_*).
 *
 * The filters' building blocks are in fuse.c and filters.c; terms held by
 * columns instead of SEC_TERMS are in colterms.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "bigmem.h"
#include "build.h"
#include "codec.h"
#include "crc32c.h"
#include "eliasfano.h"
#include "format.h"
#include "head.h"
#include "merge_int.h"
#include "reader_int.h"
#include "segment.h"
#include "strtab.h"
#include "writer_int.h"

/* ---- writing --------------------------------------------------------------------------------- */

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
        // NOLINTNEXTLINE(clang-analyzer-core.NullDereference): a term has df >= 1 rows
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
     * bitmap is not even built (most lists), which saves most of the time
     * postings take. */
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
 * to cover a memory latency of a few terms' work (values from 8 to 32
 * measure alike). */
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
int seg_wr_index(build *b, uint32_t nblocks)
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
    seg_wr_sort_strtab_into(&x->terms, NULL, sorted, words);
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

/* ---- merging --------------------------------------------------------------------------------- */

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
            seg_mg_heap_down(tm.heap, tm.nh, 0, tm_less, &tm);
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
                /* rows has room for the term's df */
                // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
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
    if (seg_mg_flush(sp) < 0)
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
    if (seg_mg_flush(&t->pairs) < 0)
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
int seg_mg_index(merge *m)
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

/* ---- reading --------------------------------------------------------------------------------- */

/* Check SEC_TERM_FILTER and SEC_BLOCK_FILTER: a fuse filter over the
 * terms filling the one, the block count, the common terms and a fuse
 * filter over the pairs filling the other. */
int seg_rd_load_filters(seg_reader *r)
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
int seg_rd_load_index(seg_reader *r)
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

    return seg_rd_load_filters(r);
}

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

/* The merge's cursor over every term of a reader, in order: the term
 * dictionary's and the columns' terms merged. */
struct seg_tcur {
    titer it;
    cstream hs;
    int started;
    int dict_has, hex_has; /* whether each stream has a current term */
    int cur_hex;           /* the term returned is the HEX stream's */
};

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
        // NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): out has room for df rows
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
