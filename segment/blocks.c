/*
 * segment/blocks.c - row blocks (format.h, SEC_BLOCKS and the block index),
 * the whole part: the rows' messages (as their template's variables in
 * streams by kind, or whole) and their meta, each in its own zstd frame, a
 * block of rows at a time.
 *
 *   writing  the writer encodes its head's rows block by block
 *            (seg_block_encode, seg_wr_blocks);
 *   merging  the streaming merge stages the merged rows a block at a time
 *            into a writer of its own and encodes them the same way
 *            (seg_mg_blocks);
 *   reading  the reader checks the block index at open
 *            (seg_rd_load_blocks), decompresses a block's message or meta
 *            frame on first use and rebuilds rows (seg_row, seg_row_parts).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "bigmem.h"
#include "build.h"
#include "codec.h"
#include "crc32c.h"
#include "format.h"
#include "head.h"
#include "merge_int.h"
#include "reader_int.h"
#include "segment.h"
#include "strtab.h"
#include "writer_int.h"

/* ---- writing --------------------------------------------------------------------------------- */

/* The variables of the rows [from, to) stored as variables, into the
 * streams of s (format.h): per row SEG_SHAPES_DEFAULT when its
 * shapes are its template's first row's, else SEG_SHAPES_OWN and its
 * shapes; their bytes by kind. */
static void var_streams(const seg_writer *w, const seg_block_keys *keys, size_t from, size_t to,
                        seg_block_scratch *s)
{
    sb_reset(&s->shapes);
    sb_reset(&s->text);
    sb_reset(&s->digits);
    sb_reset(&s->hex);
    const seg_tpl *t = keys->tpl;
    for (size_t i = from; i < to; i++) {
        if (!keys->vars[i])
            continue;
        sb_reset(&s->one);
        seg_template_streams(w->data.buf + w->rows[i].msg_off, w->rows[i].msg_len, &s->one,
                             &s->text, &s->digits, &s->hex);
        uint32_t k = keys->tpl_rank[i];
        if (s->one.len == t->slen[k] &&
            (!s->one.len || !memcmp(s->one.buf, t->shapes.buf + t->soff[k], s->one.len))) {
            put_u8(&s->shapes, SEG_SHAPES_DEFAULT);
        } else {
            put_u8(&s->shapes, SEG_SHAPES_OWN);
            sb_append(&s->shapes, s->one.buf, s->one.len);
        }
    }
    s->shapes.oom |= s->one.oom | s->text.oom | s->digits.oom | s->hex.oom;
}

/* The uncompressed payloads of rows [from, to): see SEC_BLOCKS in
 * docs/ARCHITECTURE.md. s->msgs gets the row count, the codes, the whole
 * messages and the variable streams (cuts[0] and cuts[1]: where the digits
 * and the hex digits start); s->meta gets the meta: counts per row, (key
 * rank, type) per value, then value lengths and value bytes grouped by key
 * so that like sits next to like for zstd (values held by a meta column
 * have neither). Each becomes its own frame, so meta is read without
 * decompressing messages. */
static void block_payload(const seg_writer *w, const seg_block_keys *keys, size_t from, size_t to,
                          seg_block_scratch *s, size_t *cuts)
{
    strbuf *m = &s->msgs, *p = &s->meta;
    uint32_t *key_count = s->key_count;
    /* messages (format.h): whole, or as their variables */
    put_varint(m, to - from);
    for (size_t i = from; i < to; i++)
        put_varint(m, keys->vars[i] ? 0 : (uint64_t)w->rows[i].msg_len + 1);
    for (size_t i = from; i < to; i++)
        if (!keys->vars[i])
            sb_append(m, w->data.buf + w->rows[i].msg_off, w->rows[i].msg_len);
    int any = 0;
    for (size_t i = from; i < to && !any; i++)
        any = keys->vars[i];
    if (any) { /* the streams, when a row has variables */
        var_streams(w, keys, from, to, s);
        put_varint(m, s->text.len);
        put_varint(m, s->digits.len);
        put_varint(m, s->hex.len);
        sb_append(m, s->shapes.buf, s->shapes.len);
        sb_append(m, s->text.buf, s->text.len);
        cuts[0] = m->len;
        sb_append(m, s->digits.buf, s->digits.len);
        cuts[1] = m->len;
        sb_append(m, s->hex.buf, s->hex.len);
    } else {
        cuts[0] = cuts[1] = m->len;
    }
    for (size_t i = from; i < to; i++)
        put_varint(p, w->rows[i].kv_n);
    memset(key_count, 0, keys->n * sizeof *key_count);
    for (size_t i = from; i < to; i++)
        for (uint32_t k = 0; k < w->rows[i].kv_n; k++) {
            const wkv *kv = &w->kvs[w->rows[i].kv_off + k];
            /* rank maps every key id a kv holds */
            // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
            put_varint(p, keys->rank[kv->key]);
            put_u8(p, kv->type);
            key_count[kv->key]++;
        }
    /* value lengths, then value bytes, both key by key */
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t r = 0; r < keys->n; r++) {
            uint32_t key = keys->order[r];
            if (!key_count[key])
                continue;
            for (size_t i = from; i < to; i++)
                for (uint32_t k = 0; k < w->rows[i].kv_n; k++) {
                    uint64_t at = w->rows[i].kv_off + k;
                    const wkv *kv = &w->kvs[at];
                    if (kv->key != key || keys->in_col[at])
                        continue;
                    if (pass == 0)
                        put_varint(p, kv->len);
                    else
                        sb_append(p, w->data.buf + kv->off, kv->len);
                }
        }
}

/* Compress buf[0, len) onto the end of out as zstd frames, one per part
 * between the ncuts offsets (ascending): see writer_int.h. A frame per
 * part rather than flushed blocks inside one frame, because a frame's
 * blocks share their statistics while each part has an alphabet of its
 * own. */
int64_t seg_wr_compress_parts(ZSTD_CCtx *cctx, int level, const char *buf, size_t len,
                              const size_t *cuts, unsigned ncuts, strbuf *out, const char *what,
                              char *err, size_t errlen)
{
    size_t at = out->len, from = 0;
    for (unsigned c = 0; c <= ncuts; c++) {
        size_t to = cuts && c < ncuts ? cuts[c] : len;
        if (c && to == from)
            continue;
        size_t bound = ZSTD_compressBound(to - from);
        if (sb_reserve(out, bound) < 0) {
            snprintf(err, errlen, "out of memory compressing %s", what);
            return -1;
        }
        size_t n = level ? ZSTD_compressCCtx(cctx, out->buf + out->len, bound, buf + from,
                                             to - from, level)
                         : ZSTD_compress2(cctx, out->buf + out->len, bound, buf + from, to - from);
        if (ZSTD_isError(n)) {
            snprintf(err, errlen, "zstd compressing %s: %s", what, ZSTD_getErrorName(n));
            return -1;
        }
        out->len += n;
        from = to;
    }
    return (int64_t)(out->len - at);
}

/* Compress one payload of a row block onto out: up to cuts[0] (all of it
 * without cuts) with the block context, its dictionary included; each
 * non-empty part after a cut with `plain`, no dictionary (format.h: a
 * dictionary trained on text makes random digits larger). Its
 * compressed length in *clen. 0, or -1 with err set. */
static int put_frame(strbuf *out, ZSTD_CCtx *cctx, ZSTD_CCtx *plain, int level,
                     const strbuf *payload, const size_t *cuts, unsigned ncuts, uint32_t *clen,
                     char *err, size_t errlen)
{
    if (payload->oom || payload->len > SEG_MAX_BLOCK_RAW) {
        snprintf(err, errlen, "row block too large or out of memory");
        return -1;
    }
    size_t at = out->len;
    if (seg_wr_compress_parts(cctx, 0, payload->buf, ncuts ? cuts[0] : payload->len, NULL, 0, out,
                              "rows", err, errlen) < 0)
        return -1;
    for (unsigned c = 0; c < ncuts; c++) {
        size_t from = cuts[c], to = c + 1 < ncuts ? cuts[c + 1] : payload->len;
        if (to > from &&
            seg_wr_compress_parts(plain, level ? level : ZSTD_CLEVEL_DEFAULT, payload->buf + from,
                                  to - from, NULL, 0, out, "rows", err, errlen) < 0)
            return -1;
    }
    *clen = (uint32_t)(out->len - at);
    return 0;
}

int seg_block_encode(const seg_writer *w, size_t from, size_t to, const seg_block_keys *keys,
                     ZSTD_CCtx *cctx, seg_block_scratch *s, strbuf *out, uint8_t *entry,
                     uint64_t offset, char *err, size_t errlen)
{
    if (s->kc_cap < keys->n + 1) {
        uint32_t *kc = realloc(s->key_count, (keys->n + 1) * sizeof *kc);
        if (!kc) {
            snprintf(err, errlen, "out of memory compressing rows");
            return -1;
        }
        s->key_count = kc;
        s->kc_cap = keys->n + 1;
    }
    sb_reset(&s->msgs);
    sb_reset(&s->meta);
    size_t cuts[2];
    block_payload(w, keys, from, to, s, cuts);
    s->msgs.oom |= s->shapes.oom;
    size_t at = out->len;
    uint32_t mlen = 0, klen = 0;
    if (!s->plain && !(s->plain = ZSTD_createCCtx())) {
        snprintf(err, errlen, "out of memory compressing rows");
        return -1;
    }
    if (put_frame(out, cctx, s->plain, s->level, &s->msgs, cuts, 2, &mlen, err, errlen) < 0 ||
        put_frame(out, cctx, s->plain, s->level, &s->meta, NULL, 0, &klen, err, errlen) < 0)
        return -1;
    store_u64(entry + SEG_BE_OFFSET, offset);
    store_u32(entry + SEG_BE_CLEN, mlen);
    store_u32(entry + SEG_BE_ROWS, (uint32_t)(to - from));
    store_u32(entry + SEG_BE_CRC, crc32c(0, out->buf + at, mlen));
    store_u32(entry + SEG_BE_META_CLEN, klen);
    store_u32(entry + SEG_BE_META_CRC, crc32c(0, out->buf + at + mlen, klen));
    return 0;
}

/* Free the buffers a row block's encoding keeps between blocks. */
void seg_block_scratch_free(seg_block_scratch *s)
{
    sb_free(&s->msgs);
    sb_free(&s->meta);
    sb_free(&s->shapes);
    sb_free(&s->text);
    sb_free(&s->digits);
    sb_free(&s->hex);
    sb_free(&s->one);
    ZSTD_freeCCtx(s->plain);
    free(s->key_count);
    memset(s, 0, sizeof *s);
}

ZSTD_CCtx *seg_block_cctx(const seg_writer_opts *o, ZSTD_CDict **cdict)
{
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    *cdict = o->dict ? ZSTD_createCDict(o->dict, o->dict_len, o->zstd_level) : NULL;
    if (!cctx || (o->dict && !*cdict)) {
        ZSTD_freeCCtx(cctx);
        ZSTD_freeCDict(*cdict);
        *cdict = NULL;
        return NULL;
    }
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, o->zstd_level);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0); /* blocks carry a CRC32C */
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
    if (*cdict)
        ZSTD_CCtx_refCDict(cctx, *cdict);
    return cctx;
}

/* Write SEC_BLOCKS and its index: the rows in blocks of block_events, each compressed with zstd
 * (and the dictionary). */
int seg_wr_blocks(build *b, uint32_t *nblocks_out)
{
    seg_writer *w = b->w;
    size_t per = w->o.block_events;
    size_t nblocks = (w->n + per - 1) / per;
    uint32_t nkeys = (uint32_t)w->keys.n;
    uint32_t *order = malloc((nkeys ? nkeys : 1) * sizeof *order);
    uint8_t *index = malloc((nblocks ? nblocks : 1) * SEG_BLOCK_ENTRY_BYTES);
    ZSTD_CDict *cdict = NULL;
    ZSTD_CCtx *cctx = seg_block_cctx(&w->o, &cdict);
    seg_block_scratch scratch = {.level = w->o.zstd_level};
    int rc = -1;
    if (!order || !index || !cctx) {
        seg_wr_fail(b, "out of memory compressing rows");
        goto out;
    }
    for (uint32_t r = 0; r < nkeys; r++)
        order[r] = b->keys_sorted[r].id;
    seg_block_keys keys = {b->key_rank, order, nkeys, b->in_col, b->tpl.vars, b->tpl.row, &b->tpl};
    size_t s = seg_wr_sec_begin(b);
    for (size_t k = 0; k < nblocks; k++) {
        size_t from = k * per, to = from + per < w->n ? from + per : w->n;
        if (seg_block_encode(w, from, to, &keys, cctx, &scratch, b->out,
                             index + k * SEG_BLOCK_ENTRY_BYTES, b->out->len - s, b->err,
                             b->errlen) < 0)
            goto out;
    }
    seg_wr_sec_end(b, SEC_BLOCKS, s);
    s = seg_wr_sec_begin(b);
    sb_append(b->out, index, nblocks * SEG_BLOCK_ENTRY_BYTES);
    seg_wr_sec_end(b, SEC_BLOCK_INDEX, s);
    *nblocks_out = (uint32_t)nblocks;
    rc = 0;
out:
    seg_block_scratch_free(&scratch);
    ZSTD_freeCCtx(cctx);
    ZSTD_freeCDict(cdict);
    free(order);
    free(index);
    return rc;
}

/* ---- merging --------------------------------------------------------------------------------- */

/* Mark the row's kvs (ud: its flags in the staged block) whose values a
 * meta column holds. */
static void mark_in_col(merge *m, mcolb *c, const strata_kv *kv, uint64_t at, void *ud)
{
    (void)m, (void)kv;
    uint8_t *in_col = ud;
    if (c->kind)
        in_col[at] = 1;
}

/* Compress the staged rows as one block at the end of SEC_BLOCKS. */
static int flush_block(merge *m, seg_writer *sw, uint32_t **lrank, size_t *lcap, uint32_t **order,
                       const uint8_t *in_col, ZSTD_CCtx *cctx, seg_block_scratch *scratch,
                       uint32_t blk, uint8_t *entry)
{
    uint32_t nl = seg_writer_key_count(sw);
    if (nl > *lcap) { /* new keys: rank them, and order the staging ids by rank again */
        uint32_t *r = realloc(*lrank, nl * sizeof *r);
        uint32_t *o = r ? realloc(*order, nl * sizeof *o) : NULL;
        if (r)
            *lrank = r;
        if (o)
            *order = o;
        if (!r || !o)
            return seg_mg_fail(m, "out of memory staging rows");
        for (uint32_t id = (uint32_t)*lcap; id < nl; id++) {
            strata_str k = seg_writer_key(sw, id);
            (*lrank)[id] = m->keys.rank[strtab_find(&m->keys.t, k.ptr, k.len)];
        }
        uint64_t *pairs = malloc(nl * sizeof *pairs);
        if (!pairs)
            return seg_mg_fail(m, "out of memory staging rows");
        for (uint32_t id = 0; id < nl; id++)
            pairs[id] = (uint64_t)(*lrank)[id] << 32 | id;
        qsort(pairs, nl, sizeof *pairs, seg_cmp_u64);
        for (uint32_t i = 0; i < nl; i++)
            (*order)[i] = (uint32_t)pairs[i];
        free(pairs);
        *lcap = nl;
    }
    /* the staged rows are output rows blk * per on; seg_tpl_add saw them */
    seg_block_keys keys = {*lrank,
                           *order,
                           nl,
                           in_col,
                           m->tpl.vars + (size_t)blk * m->per,
                           m->tpl.row + (size_t)blk * m->per,
                           &m->tpl};
    if (seg_block_encode(sw, 0, seg_writer_count(sw), &keys, cctx, scratch, &m->f.buf, entry,
                         seg_mg_pos(&m->f) - m->f.sec_start, m->err, m->errlen) < 0)
        return -1;
    seg_writer_clear_rows(sw);
    if (seg_mg_maybe_flush(&m->f) < 0)
        return seg_mg_fail(m, "cannot write the merged segment: %s", strerror(errno));
    return 0;
}

/* Stage the merged rows a block at a time and write each compressed block and the block index. */
int seg_mg_blocks(merge *m)
{
    uint8_t *index = malloc((m->blocks ? m->blocks : 1) * SEG_BLOCK_ENTRY_BYTES);
    size_t in_cap = 4096, lcap = 0; /* kvs of one staged block, grown as needed */
    uint8_t *in_col = malloc(in_cap);
    uint32_t *lrank = NULL, *order = NULL;
    seg_writer *sw = seg_writer_new_staging(&m->o);
    ZSTD_CDict *cdict = NULL;
    ZSTD_CCtx *cctx = seg_block_cctx(&m->o, &cdict);
    seg_block_scratch scratch = {.level = m->o.zstd_level};
    int rc = -1;
    if (!index || !in_col || !sw || !cctx) {
        seg_mg_fail(m, "out of memory compressing rows");
        goto out;
    }
    seg_mg_stage(m, "blocks");
    seg_mg_sec_begin(&m->f);
    uint32_t src, row, k = 0;
    size_t nkv = 0;
    strata_event ev;
    seg_mg_order_reset(&m->mo);
    while (seg_mg_order_next(&m->mo, &src, &row)) {
        if (seg_mg_read_row(m, src, row, &ev, SEG_PART_ALL) < 0)
            goto out;
        if (nkv + ev.meta_count > in_cap) {
            size_t cap = in_cap * 2;
            while (cap < nkv + ev.meta_count)
                cap *= 2;
            uint8_t *nc = realloc(in_col, cap);
            if (!nc) {
                seg_mg_fail(m, "out of memory staging rows");
                goto out;
            }
            in_col = nc;
            in_cap = cap;
        }
        memset(in_col + nkv, 0, ev.meta_count);
        seg_mg_first_values(m, src, row, &ev, mark_in_col, in_col + nkv);
        if (seg_writer_add(sw, &ev) < 0) {
            seg_mg_fail(m, "out of memory staging rows");
            goto out;
        }
        nkv += ev.meta_count;
        if (seg_writer_count(sw) == m->per) {
            if (flush_block(m, sw, &lrank, &lcap, &order, in_col, cctx, &scratch, k,
                            index + (size_t)k * SEG_BLOCK_ENTRY_BYTES) < 0)
                goto out;
            k++;
            nkv = 0;
        }
    }
    if (seg_writer_count(sw)) {
        if (flush_block(m, sw, &lrank, &lcap, &order, in_col, cctx, &scratch, k,
                        index + (size_t)k * SEG_BLOCK_ENTRY_BYTES) < 0)
            goto out;
        k++;
    }
    seg_mg_sec_end(&m->f, SEC_BLOCKS);
    seg_mg_section(&m->f, SEC_BLOCK_INDEX, index, (size_t)k * SEG_BLOCK_ENTRY_BYTES);
    rc = m->f.bad ? seg_mg_fail(m, "cannot write the merged segment: %s", strerror(errno)) : 0;
out:
    seg_block_scratch_free(&scratch);
    ZSTD_freeCCtx(cctx);
    ZSTD_freeCDict(cdict);
    seg_writer_free(sw);
    free(index);
    free(in_col);
    free(lrank);
    free(order);
    return rc;
}

/* ---- reading --------------------------------------------------------------------------------- */

/* Check and load the row block index at open; -1 on corruption. */
int seg_rd_load_blocks(seg_reader *r)
{
    const section *ix = &r->sec[SEC_BLOCK_INDEX];
    uint32_t nb = r->info.blocks;
    if (ix->len != (uint64_t)nb * SEG_BLOCK_ENTRY_BYTES || nb > r->info.events + 1)
        return seg_rd_fail(r, "segment block index malformed");
    r->block_first = malloc(((size_t)nb + 1) * sizeof *r->block_first);
    if (!r->block_first)
        return seg_rd_fail(r, "out of memory");
    uint64_t rows = 0, maxrows = 0;
    for (uint32_t k = 0; k < nb; k++) {
        const uint8_t *e = ix->p + (size_t)k * SEG_BLOCK_ENTRY_BYTES;
        uint64_t off = load_u64(e + SEG_BE_OFFSET), clen = load_u32(e + SEG_BE_CLEN),
                 n = load_u32(e + SEG_BE_ROWS);
        clen += load_u32(e + SEG_BE_META_CLEN); /* the meta frame follows the message frame */
        if (n == 0 || n > SEG_MAX_BLOCK_EVENTS || off > r->sec[SEC_BLOCKS].len ||
            clen > r->sec[SEC_BLOCKS].len - off)
            return seg_rd_fail(r, "segment block %u out of bounds", k);
        r->block_first[k] = (uint32_t)rows;
        rows += n;
        if (n > maxrows)
            maxrows = n;
    }
    if (rows != r->info.events)
        return seg_rd_fail(r, "segment blocks hold %llu rows, footer says %llu",
                           (unsigned long long)rows, (unsigned long long)r->info.events);
    r->block_first[nb] = (uint32_t)rows;
    r->info.block_events = (uint32_t)maxrows;
    return 0;
}

/* Forget the decoded messages (the raw buffer is kept for reuse). */
void seg_rd_reset_msgs(dblock *b)
{
    free(b->msg);
    free(b->msg_len);
    free(b->vars);
    free(b->voff);
    b->msg = NULL;
    b->msg_len = NULL;
    b->vars = NULL;
    b->voff = NULL;
    b->index = -1;
}

/* Forget the decoded meta. */
void seg_rd_reset_meta(dblock *b)
{
    free(b->kv_start);
    free(b->kv);
    free(b->kv_key);
    free(b->next);
    free(b->order);
    free(b->from_col);
    b->from_col = NULL;
    b->kv_start = NULL;
    b->kv = NULL;
    b->kv_key = NULL;
    b->next = NULL;
    b->order = NULL;
    b->meta_index = -1;
}

/* The error of row i of block k stored as variables of template t, which
 * has no text to put them in: -1. */
static int no_text(seg_reader *r, uint32_t k, uint32_t i, uint32_t t)
{
    return seg_rd_fail(r, "segment block %u: row %u refers to template %u, which has no text", k, i,
                       t);
}

/* Locate and check the variables of block k's rows stored as variables
 * (format.h: the rest of the frame in c, three stream lengths,
 * per such row its shapes, then the streams): per row its shapes go to
 * b->msg[i], its message's length to b->msg_len[i] and where its bytes
 * start to b->voff. Each row must have a shape per variable of its
 * template, none empty, rebuild to at most SEG_MAX_STRING bytes, and the
 * rows must use up the shapes and each stream exactly. 0, or -1 with the
 * error set. */
static int scan_streams(seg_reader *r, uint32_t k, cursor *c, uint32_t rows)
{
    dblock *b = &r->blk;
    if (seg_rd_load_templates(r) < 0)
        return -1;
    uint64_t len[3];
    for (int i = 0; i < 3; i++)
        len[i] = get_varint(c);
    size_t left = cursor_left(c);
    if (c->bad || len[0] > left || len[1] > left - len[0] || len[2] > left - len[0] - len[1])
        return seg_rd_fail(r, "segment block %u: variable streams malformed", k);
    b->vtext = c->end - len[0] - len[1] - len[2]; /* the shapes end there */
    b->vdig = b->vtext + len[0];
    b->vhex = b->vdig + len[1];
    b->voff = malloc((size_t)rows * 3 * sizeof *b->voff);
    if (!b->voff)
        return seg_rd_fail(r, "out of memory");
    cursor sc = cursor_make(c->p, (size_t)(b->vtext - c->p));
    const uint32_t *rank = r->tpl_rank + r->block_first[k];
    uint64_t at[3] = {0, 0, 0};
    for (uint32_t i = 0; i < rows; i++) {
        if (!b->vars[i])
            continue;
        uint32_t t = rank[i];
        if (!r->tpl_has[t])
            return no_text(r, k, i, t);
        unsigned flag = get_u8(&sc);
        cursor shp = sc;
        if (sc.bad || (flag != SEG_SHAPES_DEFAULT && flag != SEG_SHAPES_OWN))
            return seg_rd_fail(r, "segment block %u: row %u has no shapes", k, i);
        if (flag == SEG_SHAPES_DEFAULT)
            shp = cursor_make(r->tpl_shapes + r->tpl_soff[t], r->tpl_soff[t + 1] - r->tpl_soff[t]);
        else
            b->vars[i] = VARS_OWN_SHAPES;
        b->msg[i] = shp.p;
        for (int s = 0; s < 3; s++)
            b->voff[3 * (size_t)i + s] = (uint32_t)at[s];
        uint64_t size = (uint64_t)(r->tpl_toff[t + 1] - r->tpl_toff[t]) - r->tpl_nvar[t];
        for (uint32_t v = 0; v < r->tpl_nvar[t]; v++) {
            unsigned kind;
            uint64_t n;
            if (!seg_rd_next_shape(&shp, &kind, &n))
                return seg_rd_fail(
                    r, "segment block %u: row %u: the shape of variable %u is malformed", k, i, v);
            at[kind == SEG_VAR_TEXT ? 0 : kind == SEG_VAR_DEC ? 1 : 2] += n;
            size += n + (kind == SEG_VAR_0X ? 2 : 0);
        }
        if (size > SEG_MAX_STRING)
            return seg_rd_fail(r, "segment block %u: row %u rebuilds to %llu bytes", k, i,
                               (unsigned long long)size);
        if (at[0] > len[0] || at[1] > len[1] || at[2] > len[2])
            return seg_rd_fail(r, "segment block %u: row %u's variables run past their streams", k,
                               i);
        b->msg_len[i] = (uint32_t)size;
        if (flag == SEG_SHAPES_OWN)
            sc = shp;
    }
    if (cursor_left(&sc) || at[0] != len[0] || at[1] != len[1] || at[2] != len[2])
        return seg_rd_fail(r, "segment block %u: variable streams do not add up", k);
    c->p = c->end; /* the streams end the frame */
    return 0;
}

/* The message of row i of the decoded block: its bytes when kept whole,
 * else its template's text with its variables filled in from the streams,
 * rebuilt into b->text (valid until the next call). scan_streams checked
 * its shapes and sizes. NULL on OOM. */
static const char *row_message(seg_reader *r, uint32_t i, uint32_t *len)
{
    dblock *b = &r->blk;
    if (!b->vars || !b->vars[i]) {
        *len = b->msg_len[i];
        return (const char *)b->msg[i];
    }
    uint32_t t = r->tpl_rank[r->block_first[b->index] + i];
    if ((size_t)b->msg_len[i] + 1 > b->textcap) {
        char *nt = realloc(b->text, (size_t)b->msg_len[i] + 1);
        if (!nt)
            return NULL;
        b->text = nt;
        b->textcap = (size_t)b->msg_len[i] + 1;
    }
    const char *p = r->tpl_text + r->tpl_toff[t], *end = r->tpl_text + r->tpl_toff[t + 1];
    const uint8_t *from[3] = {b->vtext + b->voff[3 * (size_t)i],
                              b->vdig + b->voff[3 * (size_t)i + 1],
                              b->vhex + b->voff[3 * (size_t)i + 2]};
    /* own shapes end by the shapes' region, default ones with their template's */
    const uint8_t *lim =
        b->vars[i] == VARS_OWN_SHAPES ? b->vtext : r->tpl_shapes + r->tpl_soff[t + 1];
    cursor shp = cursor_make(b->msg[i], (size_t)(lim - b->msg[i]));
    char *o = b->text;
    for (; p < end; p++) {
        if (*p != SEG_TEMPLATE_VAR_BYTE) {
            *o++ = *p;
            continue;
        }
        unsigned kind;
        uint64_t n;
        seg_rd_next_shape(&shp, &kind, &n);
        int s = kind == SEG_VAR_TEXT ? 0 : kind == SEG_VAR_DEC ? 1 : 2;
        if (kind == SEG_VAR_0X) {
            *o++ = '0';
            *o++ = 'x';
        }
        memcpy(o, from[s], n);
        o += n;
        from[s] += n;
    }
    *len = (uint32_t)(o - b->text);
    return b->text;
}

/* The messages of block k (layout: block_payload in writer.c,
 * docs/ARCHITECTURE.md): row count, lengths (0 for a message stored as
 * variables, else length + 1), the whole messages' bytes, then the
 * variables. Every length is checked against what is left. */
static int parse_msgs(seg_reader *r, uint32_t k, cursor *c, uint32_t rows)
{
    dblock *b = &r->blk;
    if (get_varint(c) != rows || c->bad)
        return seg_rd_fail(r, "segment block %u: row count mismatch", k);
    b->msg_len = malloc(rows * sizeof *b->msg_len);
    b->msg = malloc(rows * sizeof *b->msg);
    b->vars = malloc(rows);
    if (!b->msg || !b->msg_len || !b->vars)
        return seg_rd_fail(r, "out of memory");
    uint64_t total = 0;
    uint32_t vars = 0;
    for (uint32_t i = 0; i < rows; i++) {
        uint64_t l = get_varint(c);
        b->vars[i] = l == 0;
        vars += l == 0;
        l -= l > 0;
        if (l > SEG_MAX_STRING)
            c->bad = 1;
        b->msg_len[i] = (uint32_t)l;
        total += l;
    }
    if (c->bad || total > cursor_left(c))
        return seg_rd_fail(r, "segment block %u: message lengths malformed", k);
    for (uint32_t i = 0; i < rows; i++)
        if (!b->vars[i]) {
            b->msg[i] = c->p;
            c->p += b->msg_len[i];
        }
    if (!vars)
        return 0;
    return scan_streams(r, k, c, rows);
}

/* Mark the kvs of block k whose values its meta columns hold: in each
 * row, the first non-null value of a column's key (the writer's rule). A
 * row must use exactly the values its columns say it has. The values are
 * put in by columns_into_row for the rows asked for only: a dictionary
 * value is a cache miss into a large table, and a search reads a few rows
 * of each block it loads. */
static int meta_from_columns(seg_reader *r, uint32_t k, uint32_t rows)
{
    dblock *b = &r->blk;
    uint32_t base = r->block_first[k];
    uint8_t used[SEG_MAX_META_COLUMNS];
    for (uint32_t i = 0; i < rows; i++) {
        uint32_t row = base + i;
        memset(used, 0, sizeof used);
        for (uint32_t j = b->kv_start[i]; j < b->kv_start[i + 1]; j++) {
            unsigned c = r->key_col[b->kv_key[j]];
            if (c == KEY_NO_COLUMN || used[c] || b->kv[j].type == STRATA_VALUE_NULL)
                continue;
            const mcol *m = &r->mcols[c];
            used[c] = 1;
            b->from_col[j] = 1;
            if (!m->has[row] || (m->num && b->kv[j].type != STRATA_VALUE_INT) ||
                ((m->digits || m->terms) && b->kv[j].type != STRATA_VALUE_STRING))
                return seg_rd_fail(r, "segment block %u: row %u disagrees with meta column %u", k,
                                   row, c);
        }
        for (uint32_t c = 0; c < r->nmcols; c++)
            if (r->mcols[c].has[row] != used[c])
                return seg_rd_fail(r, "segment block %u: row %u lacks its meta column %u value", k,
                                   row, c);
    }
    return 0;
}

/* The meta of block k: counts per row, (key, type) per value, then value
 * lengths and bytes key by key. The cursor must be consumed exactly. */
static int parse_meta(seg_reader *r, uint32_t k, cursor *c, uint32_t rows)
{
    dblock *b = &r->blk;
    b->kv_start = malloc((rows + 1) * sizeof *b->kv_start);
    if (!b->kv_start)
        return seg_rd_fail(r, "out of memory");
    uint64_t nkv = 0;
    for (uint32_t i = 0; i < rows; i++) {
        uint64_t m = get_varint(c);
        if (m > SEG_MAX_META_PER_ROW)
            c->bad = 1;
        b->kv_start[i] = (uint32_t)nkv;
        nkv += m;
    }
    b->kv_start[rows] = (uint32_t)nkv;
    /* each kv needs at least 2 bytes (key, type); values not in a column
     * 1 more (their length) */
    if (c->bad || nkv > cursor_left(c) / 2)
        return seg_rd_fail(r, "segment block %u: meta counts malformed", k);
    if (r->nmcols && seg_rd_decode_meta_columns(r) < 0)
        return -1;
    size_t n = nkv ? nkv : 1;
    b->kv = malloc(n * sizeof *b->kv);
    b->kv_key = calloc(n, sizeof *b->kv_key);
    b->order = calloc(n, sizeof *b->order);
    b->from_col = calloc(n, 1);
    b->next = calloc((size_t)r->n_keys + 1, sizeof *b->next);
    if (!b->kv || !b->kv_key || !b->order || !b->from_col || !b->next)
        return seg_rd_fail(r, "out of memory");
    for (uint64_t i = 0; i < nkv; i++) {
        uint64_t key = get_varint(c);
        uint8_t type = get_u8(c);
        if (c->bad || key >= r->n_keys || type > STRATA_VALUE_NULL)
            return seg_rd_fail(r, "segment block %u: meta key or type malformed", k);
        b->kv[i].key = r->keys[key];
        b->kv[i].type = type;
        b->kv_key[i] = (uint32_t)key;
    }
    if (r->nmcols && meta_from_columns(r, k, rows) < 0)
        return -1;
    for (uint64_t i = 0; i < nkv; i++)
        if (!b->from_col[i])
            b->next[b->kv_key[i] + 1]++;
    /* values are stored key by key, rows in order within a key: a counting
     * sort of the kvs by key gives the order they are read in */
    for (uint32_t key = 0; key < r->n_keys; key++)
        b->next[key + 1] += b->next[key];
    uint64_t nstored = 0; /* kvs whose values are in this frame */
    for (uint64_t i = 0; i < nkv; i++)
        if (!b->from_col[i]) {
            b->order[b->next[b->kv_key[i]]++] = (uint32_t)i;
            nstored++;
        }
    uint64_t total = 0;
    for (uint64_t i = 0; i < nstored; i++) {
        uint64_t l = get_varint(c);
        if (l > SEG_MAX_STRING)
            c->bad = 1;
        b->kv[b->order[i]].value.len = (uint32_t)l;
        total += l;
    }
    if (c->bad || total != cursor_left(c))
        return seg_rd_fail(r, "segment block %u: meta values malformed", k);
    for (uint64_t i = 0; i < nstored; i++) {
        strata_kv *kv = &b->kv[b->order[i]];
        kv->value.ptr = (const char *)c->p;
        c->p += kv->value.len;
    }
    return 0;
}

/* The content size of the zstd frames back to back in src (each must say
 * its own), ZSTD_CONTENTSIZE_ERROR when they are not whole frames or say
 * more than SEG_MAX_BLOCK_RAW together. */
static unsigned long long frames_content_size(const uint8_t *src, size_t len)
{
    unsigned long long total = 0;
    while (len) {
        size_t n = ZSTD_findFrameCompressedSize(src, len);
        if (ZSTD_isError(n) || n > len)
            return ZSTD_CONTENTSIZE_ERROR;
        unsigned long long raw = ZSTD_getFrameContentSize(src, n);
        if (raw == ZSTD_CONTENTSIZE_ERROR || raw == ZSTD_CONTENTSIZE_UNKNOWN ||
            raw > SEG_MAX_BLOCK_RAW - total)
            return ZSTD_CONTENTSIZE_ERROR;
        total += raw;
        src += n;
        len -= n;
    }
    return total;
}

/* Decompress the zstd frames back to back in src into buf, raw bytes in all (frames_content_size
 * checked them), each with the dictionary its header names or with none: the digits of a block's
 * message frame are compressed without one (format.h). 0, or -1 with the
 * error set. */
static int inflate_frames(seg_reader *r, uint32_t k, const uint8_t *src, size_t clen, uint8_t *buf,
                          size_t raw, size_t *len)
{
    size_t at = 0;
    while (clen) {
        size_t n = ZSTD_findFrameCompressedSize(src, clen); /* checked by the caller */
        unsigned id = ZSTD_getDictID_fromFrame(src, n);
        if (id && (!r->ddict || id != r->info.dict_id))
            return seg_rd_fail(r, "segment block %u: a frame names zstd dictionary %u", k, id);
        size_t got = id ? ZSTD_decompress_usingDDict(r->dctx, buf + at, raw - at, src, n, r->ddict)
                        : ZSTD_decompressDCtx(r->dctx, buf + at, raw - at, src, n);
        if (ZSTD_isError(got) || got != ZSTD_getFrameContentSize(src, n))
            return seg_rd_fail(r, "segment block %u: %s", k,
                               ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short frame");
        at += got;
        src += n;
        clen -= n;
    }
    *len = at;
    return 0;
}

/* Check and decompress one frame of block k into *buf (grown as needed);
 * its size in *len. A message frame may be several zstd frames back to
 * back (format.h): they decompress one after the other (inflate_frames). */
static int inflate_frame(seg_reader *r, uint32_t k, const uint8_t *src, uint32_t clen, uint32_t crc,
                         uint8_t **buf, size_t *cap, size_t *len)
{
    if (SEG_VERIFY_CRC && crc32c(0, src, clen) != crc)
        return seg_rd_fail(r, "segment block %u checksum mismatch (corrupt)", k);
    unsigned long long raw = frames_content_size(src, clen);
    if (raw == ZSTD_CONTENTSIZE_ERROR || raw == ZSTD_CONTENTSIZE_UNKNOWN || raw > SEG_MAX_BLOCK_RAW)
        return seg_rd_fail(r, "segment block %u: bad compressed frame", k);
    if (raw > *cap || !*buf) {
        uint8_t *nb = realloc(*buf, raw ? raw : 1);
        if (!nb)
            return seg_rd_fail(r, "out of memory");
        *buf = nb;
        *cap = raw;
    }
    return inflate_frames(r, k, src, clen, *buf, raw, len);
}

/* Decode block k's meta, and its messages too when `msgs` is set, into
 * r->blk (cached: the last block's parts stay). */
static int load_block(seg_reader *r, uint32_t k, int msgs)
{
    dblock *b = &r->blk;
    if (b->meta_index == (int64_t)k && (!msgs || b->index == (int64_t)k))
        return 0;
    if (r->info.dict_id && !r->ddict)
        return seg_rd_fail(r, "segment needs zstd dictionary %u, which is not loaded",
                           r->info.dict_id);
    const uint8_t *e = r->sec[SEC_BLOCK_INDEX].p + (size_t)k * SEG_BLOCK_ENTRY_BYTES;
    const uint8_t *src = r->sec[SEC_BLOCKS].p + load_u64(e + SEG_BE_OFFSET);
    uint32_t clen = load_u32(e + SEG_BE_CLEN), rows = load_u32(e + SEG_BE_ROWS);
    size_t len = 0;
    if (b->meta_index != (int64_t)k) {
        seg_rd_reset_meta(b);
        if (inflate_frame(r, k, src + clen, load_u32(e + SEG_BE_META_CLEN),
                          load_u32(e + SEG_BE_META_CRC), &b->mraw, &b->mrawcap, &len) < 0)
            return -1;
        cursor c = cursor_make(b->mraw, len);
        if (parse_meta(r, k, &c, rows) < 0) {
            seg_rd_reset_meta(b);
            return -1;
        }
        b->meta_index = k;
    }
    if (msgs && b->index != (int64_t)k) {
        seg_rd_reset_msgs(b);
        if (inflate_frame(r, k, src, clen, load_u32(e + SEG_BE_CRC), &b->raw, &b->rawcap, &len) < 0)
            return -1;
        cursor c = cursor_make(b->raw, len);
        if (parse_msgs(r, k, &c, rows) < 0) {
            seg_rd_reset_msgs(b);
            return -1;
        }
        if (cursor_left(&c) != 0) {
            seg_rd_reset_msgs(b);
            return seg_rd_fail(r, "segment block %u: %zu bytes after the messages in its frame", k,
                               cursor_left(&c));
        }
        b->index = k;
    }
    return 0;
}

/* The block holding row `row` (binary search over first rows). */
uint32_t seg_rd_block_of(const seg_reader *r, uint32_t row)
{
    uint32_t lo = 0, hi = r->info.blocks;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r->block_first[mid] <= row)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Put the values of its meta columns into the kvs of row `row` (the i-th
 * of the loaded block) that meta_from_columns marked. Numbers are printed
 * into the block's numtxt, which holds one row's: they stay valid until the
 * next seg_row, as every pointer seg_row returns. */
static void columns_into_row(seg_reader *r, uint32_t row, uint32_t i)
{
    dblock *b = &r->blk;
    char *txt = b->numtxt;
    for (uint32_t j = b->kv_start[i]; j < b->kv_start[i + 1]; j++) {
        if (!b->from_col[j])
            continue;
        const mcol *m = &r->mcols[r->key_col[b->kv_key[j]]];
        if (m->num) {
            b->kv[j].value.ptr = txt;
            b->kv[j].value.len = (uint32_t)fmt_i64(txt, m->num[row]);
            txt += ROW_COL_CHARS;
        } else if (m->digits) {
            seg_hex_unpack(m->hex + (size_t)m->id[row] * seg_hex_bytes(m->digits), m->digits, txt);
            b->kv[j].value.ptr = txt;
            b->kv[j].value.len = m->digits;
            txt += ROW_COL_CHARS;
        } else {
            b->kv[j].value = m->values[m->id[row]];
        }
    }
}

/* Decode row `row` into out, only the parts asked for (SEG_PART_*); -1 on corruption. */
int seg_row_parts(seg_reader *r, uint32_t row, strata_event *out, unsigned parts)
{
    if (row >= r->info.events)
        return seg_rd_fail(r, "row %u past the end (%llu rows)", row,
                           (unsigned long long)r->info.events);
    uint32_t k = seg_rd_block_of(r, row);
    /* meta is always decoded with the block: its frame is the small one */
    if (parts & (SEG_PART_MSG | SEG_PART_META) && load_block(r, k, parts & SEG_PART_MSG) < 0)
        return -1;
    uint32_t i = row - r->block_first[k];
    const dblock *b = &r->blk;
    strata_event_init(out);
    out->ingest_ts_ns = r->ingest[row];
    out->event_ts_ns = r->event[row];
    out->level = r->level[row];
    out->flags = r->flags[row];
    out->tenant.ptr = r->tenant;
    out->tenant.len = (uint32_t)strlen(r->tenant);
    out->service.ptr = out->host.ptr = out->msg.ptr = ""; /* parts not asked for */
    if (parts & SEG_PART_NAMES) {
        out->service = r->svc_dict[r->service[row]];
        out->host = r->host_dict[r->host[row]];
    }
    if (parts & SEG_PART_MSG) {
        uint32_t len;
        const char *msg = row_message(r, i, &len);
        if (!msg)
            return seg_rd_fail(r, "out of memory rebuilding a message");
        out->msg.ptr = msg;
        out->msg.len = len;
    }
    if (parts & SEG_PART_META) {
        if (r->nmcols)
            columns_into_row(r, row, i);
        out->meta = b->kv + b->kv_start[i];
        out->meta_count = b->kv_start[i + 1] - b->kv_start[i];
    }
    return 0;
}

int seg_row(seg_reader *r, uint32_t row, strata_event *out)
{
    return seg_row_parts(r, row, out, SEG_PART_ALL);
}
