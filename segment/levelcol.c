/*
 * segment/levelcol.c - the level column (SEC_LEVEL), coded by template
 * when that is smaller: most log lines are written at one
 * level (a template's "connection refused" is always a WARN), so a
 * template's rows need no level of their own when they all have the same.
 *
 * Body (format.h, SEG_LEVELS_BY_TEMPLATE):
 *   u8 SEG_LEVELS_PLAIN, intcol of each row's level; or
 *   u8 SEG_LEVELS_BY_TEMPLATE, bytes: one zstd frame of, per template rank,
 *   the level of all its rows or SEG_LEVEL_MIXED, then the level of each
 *   row whose template is mixed, in row order.
 *
 * The writer and the merge both call seg_put_levels with the rows' levels
 * and templates, so the same rows give the same bytes; the reader calls
 * seg_get_levels.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "codec.h"
#include "merge_int.h"
#include "reader_int.h"
#include "writer_int.h"

/* A template's level not yet seen (the writer's scratch, never stored). */
#define LEVEL_UNSEEN 0xfeu

/* The by-template coding of level[n] into out; 0, or -1 on OOM. */
static int put_by_template(strbuf *out, const uint8_t *level, size_t n, const seg_tpl *t,
                           int zlevel)
{
    strbuf raw = {0};
    int rc = -1;
    if (sb_reserve(&raw, t->n) < 0)
        goto out;
    memset(raw.buf, LEVEL_UNSEEN, t->n);
    raw.len = t->n;
    uint8_t *of = (uint8_t *)raw.buf; /* per template: its level, or mixed */
    for (size_t i = 0; i < n; i++) {
        uint8_t *l = &of[t->row[i]];
        *l = *l == LEVEL_UNSEEN || *l == level[i] ? level[i] : SEG_LEVEL_MIXED;
    }
    for (size_t i = 0; i < n; i++) /* raw.buf, not `of`: appending may move it */
        if (((const uint8_t *)raw.buf)[t->row[i]] == SEG_LEVEL_MIXED)
            put_u8(&raw, level[i]);
    put_u8(out, SEG_LEVELS_BY_TEMPLATE);
    if (!raw.oom && put_zframe(out, raw.buf, raw.len, zlevel) == 0)
        rc = 0;
out:
    sb_free(&raw);
    return rc;
}

int seg_put_levels(strbuf *out, const uint8_t *level, size_t n, seg_tpl *t, int zlevel)
{
    strbuf plain = {0}, by = {0};
    put_u8(&plain, SEG_LEVELS_PLAIN);
    intcol_stream st = {&plain, {0}, 0};
    for (size_t i = 0; i < n; i++)
        intcol_push(&st, level[i]);
    intcol_flush(&st);
    /* only where SEC_TEMPLATES stores the rows' templates anyway: their
     * ranks would cost more than the levels */
    int tried = t->n && (t->any_vars || t->columns);
    int rc = tried && put_by_template(&by, level, n, t, zlevel) < 0
                 ? -1
                 : put_smaller(out, &plain, tried ? &by : NULL);
    if (rc > 0)
        t->columns = 1; /* SEC_TEMPLATES must store the ranks */
    sb_free(&plain);
    sb_free(&by);
    return rc < 0 ? -1 : 0;
}

/* The by-template coding at c into level[n]; NULL, or what is malformed. */
static const char *get_by_template(cursor *c, const uint32_t *rank, uint32_t ntpl, uint8_t *level,
                                   size_t n)
{
    size_t zlen;
    const uint8_t *z = get_bytes(c, SIZE_MAX, &zlen);
    if (c->bad || !z)
        return "the frame is cut";
    unsigned long long rawn = ZSTD_getFrameContentSize(z, zlen);
    /* a byte per template, and one per row at most */
    if (rawn == ZSTD_CONTENTSIZE_ERROR || rawn == ZSTD_CONTENTSIZE_UNKNOWN ||
        rawn > (uint64_t)ntpl + n || rawn < ntpl)
        return "the levels are not a frame of their size";
    uint8_t *raw = malloc(rawn ? rawn : 1);
    const char *why = "out of memory";
    if (!raw)
        goto out;
    why = "the levels' frame does not decompress";
    if (ZSTD_decompress(raw, rawn, z, zlen) != rawn)
        goto out;
    why = "a template's level out of range";
    for (uint32_t k = 0; k < ntpl; k++)
        if (raw[k] > STRATA_LEVEL_FATAL && raw[k] != SEG_LEVEL_MIXED)
            goto out;
    size_t at = ntpl;
    for (size_t i = 0; i < n; i++) {
        uint8_t l = raw[rank[i]]; /* ranks were checked against ntpl */
        if (l == SEG_LEVEL_MIXED) {
            why = "fewer levels than rows of mixed templates";
            if (at == rawn)
                goto out;
            l = raw[at++];
            why = "a row's level out of range";
            if (l > STRATA_LEVEL_FATAL)
                goto out;
        }
        level[i] = l;
    }
    why = at == rawn ? NULL : "more levels than rows of mixed templates";
out:
    free(raw);
    return why;
}

const char *seg_get_levels(cursor *c, const uint32_t *rank, uint32_t ntpl, uint8_t *level, size_t n,
                           int64_t *tmp)
{
    unsigned coding = get_u8(c);
    if (c->bad)
        return "empty";
    if (coding == SEG_LEVELS_BY_TEMPLATE)
        return rank ? get_by_template(c, rank, ntpl, level, n) : "coded by templates it lacks";
    if (coding != SEG_LEVELS_PLAIN)
        return "unknown coding";
    if (intcol_decode(c, tmp, n) < 0)
        return "the levels are malformed";
    for (size_t i = 0; i < n; i++) {
        if (tmp[i] < 0 || tmp[i] > STRATA_LEVEL_FATAL)
            return "a level out of range";
        level[i] = (uint8_t)tmp[i];
    }
    return NULL;
}

/* ---- the writer, the merge and the reader ------------------------------------------------- */

/* SEC_LEVEL: after the templates, by which it may be coded. */
int seg_wr_levels(build *b)
{
    seg_writer *w = b->w;
    uint8_t *level = malloc(w->n ? w->n : 1);
    if (!level)
        return seg_wr_fail(b, "out of memory writing the level column");
    for (size_t i = 0; i < w->n; i++)
        level[i] = w->rows[i].level;
    size_t s = seg_wr_sec_begin(b);
    int rc = seg_put_levels(b->out, level, w->n, &b->tpl, w->o.zstd_level);
    free(level);
    if (rc < 0)
        return seg_wr_fail(b, "out of memory writing the level column");
    seg_wr_sec_end(b, SEC_LEVEL, s);
    return 0;
}

/* SEC_LEVEL, as the writer's: after the templates, by which
 * it may be coded. */
int seg_mg_levels(merge *m)
{
    strbuf b = {0};
    if (seg_put_levels(&b, m->level, m->rows, &m->tpl, m->o.zstd_level) < 0) {
        sb_free(&b);
        return seg_mg_fail(m, "out of memory encoding the level column");
    }
    seg_mg_section(&m->f, SEC_LEVEL, b.buf, b.len);
    sb_free(&b);
    return m->f.bad ? seg_mg_fail(m, "cannot write the merged segment: %s", strerror(errno)) : 0;
}

const uint8_t *seg_levels(const seg_reader *r)
{
    return r->level;
}
/* SEC_LEVEL (segment/levelcol.c): plain, or coded by the
 * rows' templates, which are then read first. */
int seg_rd_load_levels(seg_reader *r, int64_t *tmp)
{
    const section *sec = &r->sec[SEC_LEVEL];
    int by_tpl = sec->len && sec->p[0] == SEG_LEVELS_BY_TEMPLATE && r->info.templates;
    if (by_tpl && seg_rd_load_templates(r) < 0)
        return -1;
    cursor c = cursor_make(sec->p, sec->len);
    const char *why = seg_get_levels(&c, by_tpl ? r->tpl_rank : NULL, r->info.templates, r->level,
                                     r->info.events, tmp);
    if (why || cursor_left(&c))
        return seg_rd_fail(r, "segment column %u malformed: %s", SEC_LEVEL,
                           why ? why : "bytes after the column");
    return 0;
}
