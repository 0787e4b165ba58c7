/*
 * segment/templates.c - row templates (format.h, SEC_TEMPLATES), the whole
 * part: what the writer and the merge share so that both produce the same
 * bytes (a message's template and variables, the ranking of templates,
 * SEC_TEMPLATES with the templates' texts, whether a row's block stores
 * only its variables, whether a term's rows are exactly the rows of some
 * templates), and what the reader decodes (each row's template, each
 * template's rows, the texts and their default shapes, a term's rows from
 * its templates).
 *
 * Most terms of a log line's fixed text ("Received", "block", "from") occur
 * in every row of the templates that have them and in no other row. Such a
 * term's postings list is a function of the rows' templates: storing the
 * templates instead of the rows costs a few bytes per term, and the row
 * templates themselves about a byte per row. And the fixed text is most of
 * a message's bytes: stored once per template, it leaves the row blocks
 * only the variables.
 */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "bigmem.h"
#include "build.h"
#include "codec.h"
#include "format.h"
#include "merge_int.h"
#include "reader_int.h"
#include "writer_int.h"

/* toff of a template whose text is not stored. */
#define TPL_NO_TEXT UINT64_MAX

/* 1 for an ASCII letter or digit. */
static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The run of msg starting at *at, which moves past it: 1 when [*s, *e) is a
 * variable (a maximal run of ASCII letters and digits holding a digit), 0
 * when it is fixed text (a run of other bytes, or of letters alone), -1 at
 * the end. */
static int next_run(const char *msg, size_t len, size_t *at, size_t *s, size_t *e)
{
    size_t i = *at, j = i;
    if (i >= len)
        return -1;
    *s = i;
    if (!is_alnum((unsigned char)msg[i])) {
        while (j < len && !is_alnum((unsigned char)msg[j]))
            j++;
        *at = *e = j;
        return 0;
    }
    int digit = 0;
    while (j < len && is_alnum((unsigned char)msg[j]))
        digit |= msg[j++] <= '9';
    *at = *e = j;
    return digit;
}

void seg_template_split(const char *msg, size_t len, strbuf *mask, strbuf *vars)
{
    /* a run of letters and digits without a digit is kept, one with a
     * digit is one SEG_TEMPLATE_VAR_BYTE; everything else is kept as it is */
    size_t at = 0, s, e, nvars = 0;
    int kind;
    while ((kind = next_run(msg, len, &at, &s, &e)) >= 0) {
        if (!kind) {
            if (mask)
                sb_append(mask, msg + s, e - s);
            continue;
        }
        if (mask)
            put_u8(mask, SEG_TEMPLATE_VAR_BYTE);
        if (vars) {
            if (nvars)
                put_u8(vars, ' ');
            sb_append(vars, msg + s, e - s);
        }
        nvars++;
    }
}

unsigned seg_var_kind(const char *v, size_t n)
{
    int letter = 0, hex = 1;
    for (size_t i = 0; i < n && hex; i++) {
        char c = v[i];
        if (c >= 'a' && c <= 'f')
            letter = 1;
        else if (c < '0' || c > '9')
            hex = 0;
    }
    if (hex)
        return letter ? SEG_VAR_HEX : SEG_VAR_DEC;
    if (n < 3 || v[0] != '0' || v[1] != 'x')
        return SEG_VAR_TEXT;
    for (size_t i = 2; i < n; i++)
        if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
            return SEG_VAR_TEXT;
    return SEG_VAR_0X;
}

void seg_template_streams(const char *msg, size_t len, strbuf *shapes, strbuf *text, strbuf *digits,
                          strbuf *hex)
{
    size_t at = 0, s, e;
    int run;
    while ((run = next_run(msg, len, &at, &s, &e)) >= 0) {
        if (!run)
            continue;
        unsigned kind = seg_var_kind(msg + s, e - s);
        size_t skip = kind == SEG_VAR_0X ? 2 : 0;
        put_varint(shapes, (uint64_t)(e - s - skip) << 2 | kind);
        strbuf *to = kind == SEG_VAR_TEXT ? text : kind == SEG_VAR_DEC ? digits : hex;
        if (to)
            sb_append(to, msg + s + skip, e - s - skip);
    }
}

void seg_template_sample(const char *msg, size_t len, strbuf *out)
{
    if (len && memchr(msg, SEG_TEMPLATE_VAR_BYTE, len)) {
        sb_append(out, msg, len);
        return;
    }
    /* what the first zstd frame of a block holds of it: its
     * shapes and its text variables; the digits have frames of their own */
    put_u8(out, SEG_SHAPES_OWN);
    seg_template_streams(msg, len, out, out, NULL, NULL);
}

/* The key of a masked text: XXH3 of it in pieces of KEY_CHUNK bytes, each
 * piece's hash seeding the next (the last piece holds 1 to KEY_CHUNK bytes,
 * none for an empty text). */
enum { KEY_CHUNK = 256 };
/* The key of a masked text, as described above KEY_CHUNK. */
static uint64_t mask_key(const char *m, size_t n)
{
    uint64_t h = 0;
    while (n > KEY_CHUNK) {
        h = XXH3_64bits_withSeed(m, KEY_CHUNK, h);
        m += KEY_CHUNK;
        n -= KEY_CHUNK;
    }
    return XXH3_64bits_withSeed(m, n, h);
}

uint64_t seg_template_key(const char *msg, size_t len, strbuf *scratch)
{
    sb_reset(scratch);
    seg_template_split(msg, len, scratch, NULL);
    return mask_key(scratch->buf ? scratch->buf : "", scratch->len);
}

int seg_tpl_init(seg_tpl *t, uint64_t rows)
{
    memset(t, 0, sizeof *t);
    t->rowcap = rows;
    t->row = bigmem_malloc((rows ? rows : 1) * sizeof *t->row);
    t->vars = bigmem_malloc(rows ? rows : 1);
    return t->row && t->vars ? 0 : -1;
}

/* Double the key table (ids keep their slots' order of insertion). */
static int tpl_grow(seg_tpl *t)
{
    uint32_t cap = t->cap ? t->cap * 2 : 1024;
    uint64_t *k = realloc(t->key, cap * sizeof *k);
    if (k)
        t->key = k;
    uint32_t *s = realloc(t->size, cap * sizeof *s);
    if (s)
        t->size = s;
    uint64_t *o = realloc(t->toff, cap * sizeof *o);
    if (o)
        t->toff = o;
    uint32_t *l = realloc(t->tlen, cap * sizeof *l);
    if (l)
        t->tlen = l;
    uint64_t *so = realloc(t->soff, cap * sizeof *so);
    if (so)
        t->soff = so;
    uint32_t *sl = realloc(t->slen, cap * sizeof *sl);
    if (sl)
        t->slen = sl;
    uint32_t nslot = cap * 2; /* load at most a half */
    uint32_t *slot = calloc(nslot, sizeof *slot);
    if (!k || !s || !o || !l || !so || !sl || !slot) {
        free(slot);
        return -1;
    }
    for (uint32_t id = 0; id < t->n; id++) {
        uint32_t i = (uint32_t)t->key[id] & (nslot - 1);
        while (slot[i])
            i = (i + 1) & (nslot - 1);
        slot[i] = id + 1;
    }
    free(t->slot);
    t->slot = slot;
    t->nslot = nslot;
    t->cap = cap;
    return 0;
}

int seg_tpl_add(seg_tpl *t, const char *msg, size_t len)
{
    if (t->rows == t->rowcap || (t->n == t->cap && tpl_grow(t) < 0))
        return -1;
    sb_reset(&t->mask);
    seg_template_split(msg, len, &t->mask, NULL);
    if (t->mask.oom)
        return -1;
    uint64_t key = mask_key(t->mask.buf ? t->mask.buf : "", t->mask.len);
    /* a message with the placeholder byte would read two ways */
    int plain = !len || !memchr(msg, SEG_TEMPLATE_VAR_BYTE, len);
    uint32_t i = (uint32_t)key & (t->nslot - 1);
    for (; t->slot[i]; i = (i + 1) & (t->nslot - 1))
        if (t->key[t->slot[i] - 1] == key)
            break;
    if (!t->slot[i]) {
        t->key[t->n] = key;
        t->size[t->n] = 0;
        t->toff[t->n] = TPL_NO_TEXT;
        t->tlen[t->n] = 0;
        t->soff[t->n] = t->shapes.len;
        t->slen[t->n] = 0;
        /* the first row of a key gives its text and its variables' shapes
         *, while the texts fit */
        if (plain && t->text.len + t->mask.len <= SEG_TEMPLATE_TEXT_MAX) {
            t->toff[t->n] = t->text.len;
            t->tlen[t->n] = (uint32_t)t->mask.len;
            sb_append(&t->text, t->mask.buf, t->mask.len);
            seg_template_streams(msg, len, &t->shapes, NULL, NULL, NULL);
            t->slen[t->n] = (uint32_t)(t->shapes.len - t->soff[t->n]);
            if (t->text.oom || t->shapes.oom)
                return -1;
        }
        t->slot[i] = ++t->n;
    }
    uint32_t id = t->slot[i] - 1;
    t->size[id]++;
    /* the row is stored as variables when its template's text is its own
     * (a different text of the same key, a collision, keeps it whole) */
    t->vars[t->rows] =
        (uint8_t)(plain && t->toff[id] != TPL_NO_TEXT && t->tlen[id] == t->mask.len &&
                  (!t->mask.len || !memcmp(t->text.buf + t->toff[id], t->mask.buf, t->mask.len)));
    t->any_vars |= t->vars[t->rows];
    t->row[t->rows++] = id;
    return 0;
}

/* qsort order of (rows, key, id) triples: most rows first, then key. */
typedef struct tpl_ord {
    uint32_t rows, id;
    uint64_t key, toff, soff;
    uint32_t tlen, slen;
} tpl_ord;
/* Order templates by rows, most first (ties by id), to number the frequent ones first. */
static int tpl_ord_cmp(const void *a, const void *b)
{
    const tpl_ord *x = a, *y = b;
    if (x->rows != y->rows)
        return x->rows > y->rows ? -1 : 1;
    return (x->key > y->key) - (x->key < y->key);
}

int seg_tpl_rank(seg_tpl *t)
{
    tpl_ord *o = malloc((t->n ? t->n : 1) * sizeof *o);
    uint32_t *rank = malloc((t->n ? t->n : 1) * sizeof *rank);
    t->cnt = calloc(t->n ? t->n : 1, sizeof *t->cnt);
    t->touched = malloc((t->n ? t->n : 1) * sizeof *t->touched);
    if (!o || !rank || !t->cnt || !t->touched) {
        free(o);
        free(rank);
        return -1;
    }
    for (uint32_t id = 0; id < t->n; id++)
        o[id] = (tpl_ord){t->size[id], id,          t->key[id], t->toff[id],
                          t->soff[id], t->tlen[id], t->slen[id]};
    qsort(o, t->n, sizeof *o, tpl_ord_cmp);
    for (uint32_t k = 0; k < t->n; k++) {
        rank[o[k].id] = k;
        t->key[k] = o[k].key;
        t->size[k] = o[k].rows;
        t->toff[k] = o[k].toff;
        t->tlen[k] = o[k].tlen;
        t->soff[k] = o[k].soff;
        t->slen[k] = o[k].slen;
    }
    for (uint64_t r = 0; r < t->rows; r++)
        t->row[r] = rank[t->row[r]];
    free(o);
    free(rank);
    free(t->slot); /* no adds after ranking */
    t->slot = NULL;
    return 0;
}

/* The texts part of SEC_TEMPLATES: one zstd frame of, per
 * rank, varint text length + 1 (0: no text, its rows are kept whole), then
 * the texts in rank order, then the shapes of the variables of
 * each text's row in rank order. 0, or -1 on OOM. */
static int put_texts(const seg_tpl *t, strbuf *out, int level)
{
    strbuf raw = {0};
    for (uint32_t k = 0; k < t->n; k++)
        put_varint(&raw, t->toff[k] == TPL_NO_TEXT ? 0 : (uint64_t)t->tlen[k] + 1);
    for (uint32_t k = 0; k < t->n; k++)
        if (t->toff[k] != TPL_NO_TEXT)
            sb_append(&raw, t->text.buf + t->toff[k], t->tlen[k]);
    for (uint32_t k = 0; k < t->n; k++)
        if (t->toff[k] != TPL_NO_TEXT)
            sb_append(&raw, t->shapes.buf + t->soff[k], t->slen[k]);
    int rc = raw.oom ? -1 : put_zframe(out, raw.buf, raw.len, level);
    sb_free(&raw);
    return rc;
}

unsigned seg_tpl_planes(uint32_t n)
{
    unsigned p = 1;
    while (p < 4 && n - 1 > (1ull << (8 * p)) - 1)
        p++;
    return p;
}

int seg_tpl_put(const seg_tpl *t, strbuf *out, int level)
{
    int stored = t->used || t->any_vars || t->columns;
    put_varint(out, stored ? t->n : 0);
    if (!stored)
        return out->oom ? -1 : 0;
    unsigned planes = seg_tpl_planes(t->n);
    put_u8(out, (uint8_t)planes);
    uint8_t *plane = malloc(t->rows);
    size_t bound = ZSTD_compressBound(t->rows);
    char *z = malloc(bound);
    int rc = plane && z ? 0 : -1;
    for (unsigned p = 0; rc == 0 && p < planes; p++) {
        for (uint64_t r = 0; r < t->rows; r++)
            plane[r] = (uint8_t)(t->row[r] >> (8 * p));
        size_t zn = ZSTD_compress(z, bound, plane, t->rows, level);
        if (ZSTD_isError(zn)) {
            rc = -1;
            break;
        }
        put_bytes(out, z, zn);
    }
    free(plane);
    free(z);
    return rc < 0 || put_texts(t, out, level) < 0 || out->oom ? -1 : 0;
}

int seg_tpl_encode(seg_tpl *t, const uint32_t *rows, uint32_t n, strbuf *out, char **rbuf,
                   size_t *rcap)
{
    /* count the term's rows per template; it is whole templates when every
     * template it touches has all its rows counted */
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t tp = t->row[rows[i]];
        if (!t->cnt[tp]++)
            t->touched[k++] = tp;
    }
    int whole = 1;
    for (uint32_t j = 0; j < k; j++) {
        uint32_t tp = t->touched[j];
        whole &= t->cnt[tp] == t->size[tp];
        t->cnt[tp] = 0;
    }
    if (!whole || (uint64_t)k * SEG_TEMPLATE_MIN_ROWS > n)
        return 0;
    t->used = 1;
    qsort(t->touched, k, sizeof *t->touched, seg_cmp_u32);
    put_u8(out, SEG_POSTINGS_TEMPLATES);
    put_varint(out, k);
    return seg_postings_encode(t->touched, k, out, rbuf, rcap) < 0 || out->oom ? -1 : 1;
}

/* Free a template table. */
void seg_tpl_free(seg_tpl *t)
{
    free(t->slot);
    free(t->key);
    free(t->size);
    free(t->row);
    free(t->vars);
    free(t->toff);
    free(t->tlen);
    free(t->soff);
    free(t->slen);
    sb_free(&t->text);
    sb_free(&t->shapes);
    sb_free(&t->mask);
    free(t->cnt);
    free(t->touched);
    memset(t, 0, sizeof *t);
}

int seg_tplpred_init(seg_tplpred *p, uint32_t templates, uint64_t present)
{
    memset(p, 0, sizeof *p);
    p->n = templates;
    p->max = present / SEG_RANKS_EXCEPTION_SHARE;
    p->last = malloc((templates ? templates : 1) * sizeof *p->last);
    if (!p->last)
        return -1;
    for (uint32_t t = 0; t < templates; t++)
        p->last[t] = -1;
    return 0;
}

int seg_tplpred_add(seg_tplpred *p, uint32_t tpl, int64_t v)
{
    uint64_t j = p->seen++;
    if (p->last[tpl] == v || p->hopeless)
        return 0;
    p->last[tpl] = v;
    if (p->nexc == p->max) { /* plain ranks will be smaller: stop keeping */
        p->hopeless = 1;
        free(p->pos);
        free(p->val);
        p->pos = NULL;
        p->val = NULL;
        return 0;
    }
    if (p->nexc == p->cap) {
        uint64_t cap = p->cap ? p->cap * 2 : 256;
        uint64_t *np = realloc(p->pos, cap * sizeof *np);
        if (np)
            p->pos = np;
        int64_t *nv = realloc(p->val, cap * sizeof *nv);
        if (nv)
            p->val = nv;
        if (!np || !nv)
            return -1;
        p->cap = cap;
    }
    p->pos[p->nexc] = j;
    p->val[p->nexc++] = v;
    return 0;
}

void seg_tplpred_free(seg_tplpred *p)
{
    free(p->last);
    free(p->pos);
    free(p->val);
    memset(p, 0, sizeof *p);
}

int seg_put_dict_ranks(strbuf *out, const strbuf *plain, const seg_tplpred *p, seg_tpl *t)
{
    strbuf pred = {0};
    if (p && !p->hopeless) {
        put_varint(&pred, p->nexc);
        intcol_stream gs = {.out = &pred};
        for (uint64_t k = 0; k < p->nexc; k++)
            intcol_push(&gs, (int64_t)(p->pos[k] - (k ? p->pos[k - 1] + 1 : 0)));
        intcol_flush(&gs);
        intcol_encode(&pred, p->val, p->nexc);
    }
    int use = p && !p->hopeless && pred.len < plain->len;
    t->columns |= use; /* SEC_TEMPLATES must store the ranks */
    put_u8(out, use ? SEG_RANKS_BY_TEMPLATE : SEG_RANKS_PLAIN);
    sb_append(out, use ? pred.buf : plain->buf, use ? pred.len : plain->len);
    int rc = pred.oom ? -1 : 0;
    sb_free(&pred);
    return rc;
}

/* ---- gathering: each row's template, for the writer and the merge ---- */

/* Each row's template (format.h), ranked, into tpl; 0, or -1
 * with the error set. */
int seg_wr_templates(build *b, seg_tpl *tpl)
{
    seg_writer *w = b->w;
    if (seg_tpl_init(tpl, w->n) < 0)
        return seg_wr_fail(b, "out of memory building row templates");
    for (size_t r = 0; r < w->n; r++)
        if (seg_tpl_add(tpl, w->data.buf ? w->data.buf + w->rows[r].msg_off : "",
                        w->rows[r].msg_len) < 0)
            return seg_wr_fail(b, "out of memory building row templates");
    return seg_tpl_rank(tpl) < 0 ? seg_wr_fail(b, "out of memory building row templates") : 0;
}

/* Each output row's template, ranked (as the writer's gather_templates),
 * before anything that depends on them: the meta columns whose ranks follow
 * the templates, the blocks that store a message as its variables, the
 * terms of whole templates. Reads every message once more than the blocks
 * do. */
int seg_mg_templates(merge *m)
{
    uint32_t src, row;
    strata_event ev;
    seg_mg_stage(m, "templates");
    seg_mg_order_reset(&m->mo);
    while (seg_mg_order_next(&m->mo, &src, &row)) {
        if (seg_mg_read_row(m, src, row, &ev, SEG_PART_MSG) < 0)
            return -1;
        if (seg_tpl_add(&m->tpl, ev.msg.ptr, ev.msg.len) < 0)
            return seg_mg_fail(m, "out of memory building row templates");
    }
    return seg_tpl_rank(&m->tpl) < 0 ? seg_mg_fail(m, "out of memory building row templates") : 0;
}

/* ---- reading: row templates (format.h) ---------------------------------------------------------
 */

/* Bytes of the varint of one text length (below 2^35). */
#define TPL_LEN_VARINT_MAX 5u

/* The default shapes after the texts: for each rank with a
 * text, its tpl_nvar shapes; they must end the frame. 0, or -1 (error set). */
static int load_template_shapes(seg_reader *r, cursor *t, uint64_t n)
{
    r->tpl_soff = malloc((n + 1) * sizeof *r->tpl_soff);
    if (!r->tpl_soff)
        return seg_rd_fail(r, "out of memory reading row templates");
    r->tpl_shapes = t->p;
    for (uint64_t k = 0; k < n; k++) {
        r->tpl_soff[k] = (uint32_t)(t->p - r->tpl_shapes);
        for (uint32_t v = 0; r->tpl_has[k] && v < r->tpl_nvar[k]; v++) {
            unsigned kind;
            uint64_t len;
            if (!seg_rd_next_shape(t, &kind, &len))
                return seg_rd_fail(
                    r, "segment row templates: the shapes of template %llu are malformed",
                    (unsigned long long)k);
        }
    }
    r->tpl_soff[n] = (uint32_t)(t->p - r->tpl_shapes);
    return cursor_left(t) ? seg_rd_fail(r, "segment row templates: bytes after the shapes") : 0;
}

/* The texts part of SEC_TEMPLATES (format.h) from the cursor into
 * r->tpl_*: one frame, per rank a varint length + 1 (0: none), the texts,
 * then the default shapes. 0, or -1 (error set) when malformed. */
static int load_template_texts(seg_reader *r, cursor *c, uint64_t n)
{
    size_t zlen;
    const uint8_t *z = get_bytes(c, SIZE_MAX, &zlen);
    unsigned long long raw = z ? ZSTD_getFrameContentSize(z, zlen) : ZSTD_CONTENTSIZE_ERROR;
    /* at most the texts, a length varint each and a shape of at most
     * SEG_SHAPE_VARINT_MAX bytes per variable (one text byte) */
    uint64_t most = SEG_TEMPLATE_TEXT_MAX + TPL_LEN_VARINT_MAX * n +
                    (uint64_t)SEG_SHAPE_VARINT_MAX * SEG_TEMPLATE_TEXT_MAX;
    if (raw == ZSTD_CONTENTSIZE_ERROR || raw == ZSTD_CONTENTSIZE_UNKNOWN || raw > most)
        return seg_rd_fail(r,
                           "segment row templates: the texts are not a frame of at most %llu bytes",
                           (unsigned long long)most);
    r->tpl_buf = malloc(raw ? raw : 1);
    r->tpl_toff = malloc((n + 1) * sizeof *r->tpl_toff);
    r->tpl_nvar = malloc(n * sizeof *r->tpl_nvar);
    r->tpl_has = malloc(n);
    if (!r->tpl_buf || !r->tpl_toff || !r->tpl_nvar || !r->tpl_has)
        return seg_rd_fail(r, "out of memory reading row templates");
    if (ZSTD_decompress(r->tpl_buf, raw, z, zlen) != raw)
        return seg_rd_fail(r, "segment row templates: the texts frame does not decompress");
    cursor t = cursor_make(r->tpl_buf, raw);
    uint64_t total = 0;
    for (uint64_t k = 0; k < n; k++) {
        uint64_t v = get_varint(&t);
        if (t.bad || v > SEG_TEMPLATE_TEXT_MAX + 1)
            return seg_rd_fail(r, "segment row templates: the length of text %llu is malformed",
                               (unsigned long long)k);
        r->tpl_has[k] = v > 0;
        r->tpl_toff[k] = (uint32_t)total;
        total += v ? v - 1 : 0;
    }
    if (total > cursor_left(&t) || total > SEG_TEMPLATE_TEXT_MAX)
        return seg_rd_fail(r,
                           "segment row templates: %llu bytes of texts where the lengths say %llu",
                           (unsigned long long)cursor_left(&t), (unsigned long long)total);
    r->tpl_toff[n] = (uint32_t)total;
    r->tpl_text = (const char *)t.p;
    t.p += total;
    for (uint64_t k = 0; k < n; k++) {
        uint32_t vars = 0;
        for (uint32_t i = r->tpl_toff[k]; i < r->tpl_toff[k + 1]; i++)
            vars += r->tpl_text[i] == SEG_TEMPLATE_VAR_BYTE;
        r->tpl_nvar[k] = vars;
    }
    return load_template_shapes(r, &t, n);
}

/* Decode SEC_TEMPLATES (once): each row's template, the texts, and the
 * inversion: the rows of each template, in row order. 0, or
 * -1 (error set) when malformed: ranks out of range, a template without
 * rows, planes of the wrong count or size, texts that do not add up. */
int seg_rd_load_templates(seg_reader *r)
{
    if (r->tpl_state)
        return r->tpl_state > 0 ? 0 : seg_rd_fail(r, "segment row templates malformed");
    r->tpl_state = -1;
    uint64_t rows = r->info.events, n = r->info.templates; /* checked at open */
    cursor c = cursor_make(r->sec[SEC_TEMPLATES].p, r->sec[SEC_TEMPLATES].len);
    get_varint(&c); /* n */
    if (!n)
        return seg_rd_fail(r, "segment refers to row templates it does not store");
    unsigned planes = get_u8(&c);
    if (planes != seg_tpl_planes((uint32_t)n))
        return seg_rd_fail(r, "segment row templates: %u byte planes for %llu templates", planes,
                           (unsigned long long)n);
    uint32_t *rank = calloc(rows ? rows : 1, sizeof *rank);
    uint8_t *plane = malloc(rows ? rows : 1);
    r->tpl_start = calloc(n + 1, sizeof *r->tpl_start);
    r->tpl_rows = malloc((rows ? rows : 1) * sizeof *r->tpl_rows);
    r->tpl_bm = calloc(n, sizeof(roaring_bitmap_t *));
    int rc = -1;
    if (!rank || !plane || !r->tpl_start || !r->tpl_rows || !r->tpl_bm) {
        seg_rd_fail(r, "out of memory reading row templates");
        goto out;
    }
    for (unsigned p = 0; p < planes; p++) {
        size_t got;
        const uint8_t *z = get_bytes(&c, SIZE_MAX, &got);
        if (!z || ZSTD_getFrameContentSize(z, got) != rows ||
            ZSTD_decompress(plane, rows, z, got) != rows) {
            seg_rd_fail(r, "segment row templates: plane %u is not a frame of %llu bytes", p,
                        (unsigned long long)rows);
            goto out;
        }
        for (uint64_t i = 0; i < rows; i++)
            rank[i] |= (uint32_t)plane[i] << (8 * p);
    }
    if (load_template_texts(r, &c, n) < 0)
        goto out;
    if (cursor_left(&c) != 0) {
        seg_rd_fail(r, "segment row templates: bytes after the texts");
        goto out;
    }
    for (uint64_t i = 0; i < rows; i++) {
        if (rank[i] >= n) {
            seg_rd_fail(r, "segment row templates: row %llu has template %u of %llu",
                        (unsigned long long)i, rank[i], (unsigned long long)n);
            goto out;
        }
        r->tpl_start[rank[i] + 1]++;
    }
    for (uint64_t t = 0; t < n; t++) {
        if (!r->tpl_start[t + 1]) { /* the writer keeps no empty template */
            seg_rd_fail(r, "segment row templates: template %llu has no rows",
                        (unsigned long long)t);
            goto out;
        }
        r->tpl_start[t + 1] += r->tpl_start[t];
    }
    for (uint64_t i = 0; i < rows; i++)
        r->tpl_rows[r->tpl_start[rank[i]]++] = (uint32_t)i;
    for (uint64_t t = n; t > 0; t--) /* each start moved to the next's: move back */
        r->tpl_start[t] = r->tpl_start[t - 1];
    r->tpl_start[0] = 0;
    r->tpl_rank = rank;
    rank = NULL;
    r->tpl_state = 1;
    rc = 0;
out:
    free(rank);
    free(plane);
    if (rc < 0) {
        free(r->tpl_start);
        free(r->tpl_rows);
        free(r->tpl_bm);
        free(r->tpl_buf);
        free(r->tpl_toff);
        free(r->tpl_nvar);
        free(r->tpl_has);
        free(r->tpl_soff);
        r->tpl_start = r->tpl_rows = r->tpl_toff = r->tpl_nvar = r->tpl_soff = NULL;
        r->tpl_bm = NULL;
        r->tpl_buf = NULL;
        r->tpl_has = NULL;
        r->tpl_text = NULL;
    }
    return rc;
}

/* A SEG_POSTINGS_TEMPLATES entry (after its tag) of a term of df rows into
 * a bitmap: the union of its templates' rows. NULL on OOM or when
 * malformed: templates out of range or not ascending, or rows other than
 * df. */
roaring_bitmap_t *seg_rd_template_rows(seg_reader *r, const uint8_t *p, size_t len, uint32_t df)
{
    if (seg_rd_load_templates(r) < 0)
        return NULL;
    cursor c = cursor_make(p, len);
    uint64_t k = get_varint(&c);
    if (c.bad || !k || k > r->info.templates || k > df) {
        seg_rd_fail(r, "segment postings malformed");
        return NULL;
    }
    /* the templates: a list of k ranks below their count */
    roaring_bitmap_t *tb =
        seg_rd_entry_bitmap(r, c.p, cursor_left(&c), (uint32_t)k, r->info.templates);
    uint32_t *tl = tb ? malloc(k * sizeof *tl) : NULL;
    if (tl)
        roaring_bitmap_to_uint32_array(tb, tl);
    if (tb) /* CRoaring 0.2 does not take NULL */
        roaring_bitmap_free(tb);
    if (!tl) {
        if (tb)
            seg_rd_fail(r, "out of memory reading postings");
        return NULL;
    }
    uint64_t total = 0;
    for (uint64_t i = 0; i < k; i++)
        total += r->tpl_start[tl[i] + 1] - r->tpl_start[tl[i]];
    int ok = total == df;
    /* the union of the templates' bitmaps, each built once per reader
     * (adding the rows of many templates one by one to one bitmap costs
     * far more per row than or-ing built bitmaps) */
    const roaring_bitmap_t **bms = ok ? malloc(k * sizeof(const roaring_bitmap_t *)) : NULL;
    roaring_bitmap_t *out = NULL;
    for (uint64_t i = 0; bms && i < k; i++) {
        uint32_t t = tl[i];
        if (!r->tpl_bm[t])
            r->tpl_bm[t] = roaring_bitmap_of_ptr(r->tpl_start[t + 1] - r->tpl_start[t],
                                                 r->tpl_rows + r->tpl_start[t]);
        if (!(bms[i] = r->tpl_bm[t]))
            goto done;
    }
    if (bms)
        out = k == 1 ? roaring_bitmap_copy(bms[0]) : roaring_bitmap_or_many((size_t)k, bms);
done:
    free(bms);
    free(tl);
    if (!out)
        seg_rd_fail(r, ok ? "out of memory reading postings"
                          : "segment postings: a term's templates hold other than its rows");
    return out;
}
