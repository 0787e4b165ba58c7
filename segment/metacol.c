/*
 * segment/metacol.c - meta columns (format.h, SEC_META_COLUMNS), the whole
 * part: the frequent meta keys of a segment stored as typed columns
 * (numbers, hex ids, dictionaries, dictionaries that hold their key's
 * terms) beside the row blocks, which then skip those values.
 *
 *   writing  the writer picks the columns from its head's counts and
 *            encodes them (seg_wr_meta_columns);
 *   merging  the streaming merge picks them by the same rules from its
 *            inputs' rows in passes (count, distinct values, encode) and
 *            gives the bytes the writer would (seg_mg_meta_columns);
 *   reading  the reader locates them at open and decodes them on first use
 *            (seg_rd_load_meta_columns, seg_rd_decode_meta_columns), and
 *            gives them to queries (seg_meta_column).
 *
 * The rules both producers follow (which keys qualify, which kind a column
 * is) are in build.h and colterms.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "bigmem.h"
#include "build.h"
#include "codec.h"
#include "eliasfano.h"
#include "format.h"
#include "head.h"
#include "merge_int.h"
#include "reader_int.h"
#include "segment.h"
#include "strtab.h"
#include "writer_int.h"

/* ---- writing: meta columns ------------------------------------------------------------- */

/* Order meta column candidates by rows with a value, most first, then by key. */
static int cmp_mcand(const void *x, const void *y)
{
    const seg_mcand *a = x, *b = y;
    if (a->rows != b->rows)
        return a->rows > b->rows ? -1 : 1;
    return (a->key > b->key) - (a->key < b->key);
}

size_t seg_meta_col_pick(const uint64_t *count, const uint32_t *rank, uint32_t nkeys, uint64_t rows,
                         seg_mcand *out)
{
    size_t nc = 0;
    for (uint32_t key = 0; key < nkeys; key++)
        if (count[key] >= SEG_META_COL_MIN_ROWS && count[key] * SEG_META_COL_MIN_SHARE >= rows)
            out[nc++] = (seg_mcand){rank ? rank[key] : key, count[key]};
    qsort(out, nc, sizeof *out, cmp_mcand); /* the most frequent first */
    return nc > SEG_MAX_META_COLUMNS ? SEG_MAX_META_COLUMNS : nc;
}

/* Per row, the kv holding its first non-null value of `key`, or UINT64_MAX. */
static void wr_first_values(const seg_writer *w, uint32_t key, uint64_t *first)
{
    for (size_t i = 0; i < w->n; i++) {
        first[i] = UINT64_MAX;
        for (uint32_t k = 0; k < w->rows[i].kv_n; k++) {
            const wkv *kv = &w->kvs[w->rows[i].kv_off + k];
            if (kv->key == key && kv->type != STRATA_VALUE_NULL) {
                first[i] = w->rows[i].kv_off + k;
                break;
            }
        }
    }
}

/* A HEX column's body (format.h): u8 digits, varint distinct values, the
 * values sorted as an Elias-Fano sequence, presence, one
 * ordinal per row with a value.
 * 0, or -1 on OOM. */
static int encode_hex_column(const seg_writer *w, const uint64_t *first, uint64_t present,
                             unsigned digits, int64_t *tmp, strbuf *out)
{
    seg_hexrow *hr = malloc((present ? present : 1) * sizeof *hr);
    int64_t *has = malloc((w->n ? w->n : 1) * sizeof *has);
    seg_hex128 *dv = NULL; /* the distinct values */
    int rc = -1;
    if (!hr || !has)
        goto out;
    size_t m = 0;
    for (size_t i = 0; i < w->n; i++) {
        has[i] = first[i] != UINT64_MAX;
        if (has[i] && m < present) {
            const wkv *kv = &w->kvs[first[i]];
            hr[m++] = (seg_hexrow){seg_hex_parse(w->data.buf + kv->off, digits), (uint32_t)i};
        }
    }
    seg_hexrow_sort(hr, m);
    size_t nv = 0; /* ordinals by row into tmp (rows without a value keep theirs unused) */
    for (size_t j = 0; j < m; j++) {
        if (j && seg_hex_cmp(hr[j].v, hr[j - 1].v) != 0)
            nv++;
        tmp[hr[j].row] = (int64_t)nv;
    }
    put_u8(out, (uint8_t)digits);
    put_varint(out, m ? nv + 1 : 0);
    dv = malloc((m ? nv + 1 : 1) * sizeof *dv);
    if (!dv)
        goto out;
    size_t d = 0;
    for (size_t j = 0; j < m; j++)
        if (!j || seg_hex_cmp(hr[j].v, hr[j - 1].v) != 0)
            dv[d++] = hr[j].v;
    if (seg_hex_ef_put(out, dv, d, digits) < 0)
        goto out;
    intcol_encode(out, has, w->n);
    m = 0;
    for (size_t i = 0; i < w->n; i++)
        if (has[i])
            tmp[m++] = tmp[i];
    intcol_encode(out, tmp, m);
    rc = 0;
out:
    free(dv);
    free(hr);
    free(has);
    return rc;
}

/* Encode one column's body into out (layout: SEC_META_COLUMNS in
 * docs/ARCHITECTURE.md): presence, then the values of the rows that have
 * one. A dictionary whose values are each one token of itself, of a key
 * whose every kv is a string and at most one a row (single), holds its
 * terms (SEG_META_COL_TERMS, its dictionary first). Returns the kind, or 0
 * when the key does not make a column (too many distinct strings) and -1
 * on OOM. */
static int encode_meta_column(const seg_writer *w, const uint64_t *first, uint64_t present,
                              int single, seg_tpl *tpl, int64_t *tmp, strbuf *out)
{
    /* numbers, in tmp, while every value is a canonical integer */
    int numeric = 1;
    size_t m = 0;
    for (size_t i = 0; i < w->n && numeric; i++) {
        if (first[i] == UINT64_MAX)
            continue;
        const wkv *kv = &w->kvs[first[i]];
        numeric = kv->type == STRATA_VALUE_INT &&
                  canonical_i64(w->data.buf + kv->off, kv->len, &tmp[m++]);
    }
    strtab vals = {0};
    sref *sorted = NULL;
    uint32_t *rank = NULL;
    int kind = numeric ? (int)SEG_META_COL_NUMBER : (int)SEG_META_COL_DICT;
    if (!numeric) {
        m = 0;
        for (size_t i = 0; i < w->n; i++) {
            if (first[i] == UINT64_MAX)
                continue;
            const wkv *kv = &w->kvs[first[i]];
            int64_t id = strtab_intern(&vals, w->data.buf + kv->off, kv->len);
            if (id < 0) {
                kind = -1;
                goto out;
            }
            tmp[m++] = id;
            if (vals.n * SEG_META_COL_MAX_DISTINCT_SHARE > present) {
                kind = 0;
                goto out;
            }
        }
        rank = malloc((vals.n + 1) * sizeof *rank);
        sorted = rank ? seg_sort_strtab(&vals, rank) : NULL;
        if (!sorted) {
            kind = -1;
            goto out;
        }
        for (size_t j = 0; j < m; j++)
            tmp[j] = rank[tmp[j]];
    }
    /* a dictionary of values that are terms of themselves holds its key's
     * terms, theirs and their words' (format.h): their count, then the
     * dictionary, come first */
    for (size_t j = 0; !numeric && single && j < vals.n; j++)
        single = seg_value_is_term(sorted[j].s, sorted[j].len);
    if (!numeric && single) {
        int64_t held = seg_held_count(sorted, vals.n);
        if (held < 0) {
            kind = -1;
            goto out;
        }
        kind = (int)SEG_META_COL_TERMS;
        put_varint(out, (uint64_t)held);
        seg_put_dict(out, sorted, vals.n, w->o.zstd_level);
    }
    /* presence: 0/1 per row (frames of all-1 cost 3 bytes per 128 rows) */
    int64_t *has = malloc((w->n ? w->n : 1) * sizeof *has);
    if (!has) {
        kind = -1;
        goto out;
    }
    for (size_t i = 0; i < w->n; i++)
        has[i] = first[i] != UINT64_MAX;
    intcol_encode(out, has, w->n);
    free(has);
    if (kind == (int)SEG_META_COL_DICT)
        seg_put_dict(out, sorted, vals.n, w->o.zstd_level);
    if (numeric) {
        intcol_encode(out, tmp, m);
        goto out;
    }
    /* ranks, plain or predicted by the rows' templates (format.h) */
    strbuf plain = {0};
    seg_tplpred tp;
    if (seg_tplpred_init(&tp, tpl->n, m) < 0) {
        kind = -1;
        goto out;
    }
    intcol_stream ps = {.out = &plain};
    int oom = 0;
    for (size_t i = 0, j = 0; i < w->n; i++)
        if (first[i] != UINT64_MAX) {
            intcol_push(&ps, tmp[j]);
            oom |= seg_tplpred_add(&tp, tpl->row[i], tmp[j]) < 0;
            j++;
        }
    intcol_flush(&ps);
    if (oom || plain.oom || seg_put_dict_ranks(out, &plain, &tp, tpl) < 0)
        kind = -1;
    seg_tplpred_free(&tp);
    sb_free(&plain);
out:
    strtab_free(&vals);
    free(sorted);
    free(rank);
    return kind;
}

/* SEC_META_COLUMNS: varint count, then per column varint key rank, u8
 * kind, varint rows with a value, varint body length, body. Marks the kvs
 * whose values the columns hold (b->in_col), which the row blocks skip. */
int seg_wr_meta_columns(build *b)
{
    seg_writer *w = b->w;
    uint32_t nkeys = (uint32_t)w->keys.n;
    b->in_col = seg_wr_scratch(w, SCR_IN_COL, w->nkv ? w->nkv : 1);
    uint32_t *stamp = calloc(nkeys + 1, sizeof *stamp);
    uint64_t *count = calloc(nkeys + 1, sizeof *count);
    seg_mcand *cand = malloc((nkeys + 1) * sizeof *cand);
    uint64_t *first = seg_wr_scratch(w, SCR_META_FIRST, (w->n ? w->n : 1) * sizeof *first);
    int64_t *tmp = seg_wr_scratch(w, SCR_ROW_TMP, (w->n ? w->n : 1) * sizeof *tmp);
    seg_colcheck *hex = malloc((nkeys + 1) * sizeof *hex);
    strbuf cols = {0}, body = {0};
    int rc = -1;
    b->ct.n = 0;
    if (!b->in_col || !stamp || !count || !cand || !first || !tmp || !hex) {
        seg_wr_fail(b, "out of memory building meta columns");
        goto out;
    }
    memset(b->in_col, 0, w->nkv);
    for (uint32_t k = 0; k < nkeys; k++) {
        strata_str key = seg_writer_key(w, k);
        seg_colcheck_init(&hex[k], key.ptr, key.len);
    }
    for (size_t i = 0; i < w->n; i++) /* rows with a non-null value, per key */
        for (uint32_t k = 0; k < w->rows[i].kv_n; k++) {
            const wkv *kv = &w->kvs[w->rows[i].kv_off + k];
            seg_colcheck_see(&hex[kv->key], i, kv->type, w->data.buf + kv->off, kv->len);
            if (kv->type != STRATA_VALUE_NULL && stamp[kv->key] != i + 1) {
                stamp[kv->key] = (uint32_t)(i + 1);
                count[kv->key]++;
            }
        }
    size_t nc = seg_meta_col_pick(count, b->key_rank, nkeys, w->n, cand);
    uint32_t ncols = 0;
    for (size_t c = 0; c < nc; c++) {
        uint32_t key = b->keys_sorted[cand[c].key].id;
        wr_first_values(w, key, first);
        sb_reset(&body);
        int kind;
        // NOLINTNEXTLINE(clang-analyzer-core.uninitialized.Branch): hex is calloc'd for every key
        if (hex[key].ok && hex[key].digits) {
            kind = encode_hex_column(w, first, cand[c].rows, hex[key].digits, tmp, &body) < 0
                       ? -1
                       : (int)SEG_META_COL_HEX;
            b->ct.key[b->ct.n] = seg_writer_key(w, key);
            b->ct.digits[b->ct.n++] = hex[key].digits;
        } else {
            kind = encode_meta_column(w, first, cand[c].rows, hex[key].single, &b->tpl, tmp, &body);
            if (kind == (int)SEG_META_COL_TERMS) {
                b->ct.key[b->ct.n] = seg_writer_key(w, key);
                b->ct.digits[b->ct.n++] = 0;
            }
        }
        if (kind < 0 || body.oom) {
            seg_wr_fail(b, "out of memory building meta columns");
            goto out;
        }
        if (kind == 0)
            continue;
        put_varint(&cols, cand[c].key);
        put_u8(&cols, (uint8_t)kind);
        put_varint(&cols, cand[c].rows);
        put_bytes(&cols, body.buf, body.len);
        for (size_t i = 0; i < w->n; i++)
            if (first[i] != UINT64_MAX)
                b->in_col[first[i]] = 1;
        ncols++;
    }
    size_t s = seg_wr_sec_begin(b);
    put_varint(b->out, ncols);
    sb_append(b->out, cols.buf, cols.len);
    seg_wr_sec_end(b, SEC_META_COLUMNS, s);
    rc = cols.oom ? seg_wr_fail(b, "out of memory building meta columns") : 0;
out:
    free(stamp);
    free(count);
    free(cand);
    free(hex);
    sb_free(&cols);
    sb_free(&body);
    return rc;
}

/* ---- merging: meta columns
 * -------------------------------------------------------------------------- */

/* Call fn for each column's first non-null value in the row just read
 * (ev, from input src): the writer's rule for what a column holds. */
void seg_mg_first_values(merge *m, uint32_t src, uint32_t row, const strata_event *ev,
                         void (*fn)(merge *m, mcolb *c, const strata_kv *kv, uint64_t at, void *ud),
                         void *ud)
{
    const uint32_t *ranks = seg_row_key_ranks(m->in[src], row);
    uint32_t seen = 0;
    for (uint32_t k = 0; k < ev->meta_count; k++) {
        if (ev->meta[k].type == STRATA_VALUE_NULL)
            continue;
        uint8_t c = m->key_col[m->keys.map[src][ranks[k]]];
        if (!c || seen & (1u << (c - 1)))
            continue;
        seen |= 1u << (c - 1);
        fn(m, &m->cols[c - 1], &ev->meta[k], k, ud);
    }
}

/* Pass 2a: count a dictionary candidate's distinct values by their 64-bit
 * hashes, 8 bytes each. There are at least as many distinct values as
 * distinct hashes, so a candidate with too many hashes is certainly not a
 * column: unique ids (trace ids) are dropped here, before pass 2b would
 * keep half their values as strings. */
static void count_hash(merge *m, mcolb *c, const strata_kv *kv, uint64_t at, void *ud)
{
    (void)m, (void)at;
    int *oom = ud;
    if (c->kind != SEG_META_COL_DICT)
        return;
    if ((c->nseen + 1) * 2 > c->seen_cap) {
        size_t cap = c->seen_cap ? c->seen_cap * 2 : 1024;
        uint64_t *ns = calloc(cap, sizeof *ns);
        if (!ns) {
            *oom = 1;
            return;
        }
        for (size_t i = 0; i < c->seen_cap; i++)
            if (c->seen[i]) {
                size_t j = c->seen[i] & (cap - 1);
                while (ns[j])
                    j = (j + 1) & (cap - 1);
                ns[j] = c->seen[i];
            }
        free(c->seen);
        c->seen = ns;
        c->seen_cap = cap;
    }
    uint64_t h = term_hash(kv->value.ptr, kv->value.len);
    h = h ? h : 1;
    size_t i = h & (c->seen_cap - 1);
    while (c->seen[i] && c->seen[i] != h)
        i = (i + 1) & (c->seen_cap - 1);
    if (c->seen[i])
        return;
    c->seen[i] = h;
    if (++c->nseen * SEG_META_COL_MAX_DISTINCT_SHARE > c->present) {
        c->kind = 0;
        free(c->seen);
        c->seen = NULL;
        c->seen_cap = c->nseen = 0;
    }
}

/* Pass 2b: the distinct values of a dictionary candidate left (dropped
 * past the writer's share: hashes may have collided). */
static void collect_value(merge *m, mcolb *c, const strata_kv *kv, uint64_t at, void *ud)
{
    (void)m, (void)at;
    int *oom = ud;
    if (c->kind != SEG_META_COL_DICT)
        return;
    if (strtab_intern(&c->vals, kv->value.ptr, kv->value.len) < 0)
        *oom = 1;
    else if (c->vals.n * SEG_META_COL_MAX_DISTINCT_SHARE > c->present) {
        c->kind = 0;
        strtab_free(&c->vals);
    }
}

/* Pass 2c: a HEX column's value in this row (ud: the row's output row). */
static void collect_hex(merge *m, mcolb *c, const strata_kv *kv, uint64_t at, void *ud)
{
    (void)m, (void)at;
    if (c->kind != SEG_META_COL_HEX || c->nhexv >= c->present)
        return;
    c->hexr[c->nhexv].v = seg_hex_parse(kv->value.ptr, c->digits);
    c->hexr[c->nhexv++].row = *(const uint32_t *)ud;
}

/* Sort a HEX column's values, keep the distinct ones in hexv[0, nhexd) and
 * give each output row its value's ordinal. 0, or -1 on OOM. */
static int order_hex(merge *m, mcolb *c)
{
    size_t n = c->nhexv;
    c->hexv = malloc((n ? n : 1) * sizeof *c->hexv);
    c->ord = bigmem_malloc((m->rows ? m->rows : 1) * sizeof *c->ord);
    if (!c->hexv || !c->ord)
        return -1;
    seg_hexrow_sort(c->hexr, n);
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
        if (!d || seg_hex_cmp(c->hexv[d - 1], c->hexr[i].v) != 0)
            c->hexv[d++] = c->hexr[i].v;
        c->ord[c->hexr[i].row] = (uint32_t)(d - 1);
    }
    free(c->hexr);
    c->hexr = NULL;
    c->nhexd = d;
    return 0;
}

/* Pass 3: the row's value into its column. */
static void encode_value(merge *m, mcolb *c, const strata_kv *kv, uint64_t at, void *ud)
{
    (void)m, (void)at;
    uint8_t *got = ud;
    if (!c->kind)
        return;
    got[c - m->cols] = 1;
    int64_t v = 0;
    if (c->kind == SEG_META_COL_HEX)
        v = c->ord[m->at_out];
    else if (c->kind == SEG_META_COL_NUMBER)
        canonical_i64(kv->value.ptr, kv->value.len, &v);
    else {
        v = c->vrank[strtab_find(&c->vals, kv->value.ptr, kv->value.len)];
        c->oom |= seg_tplpred_add(&c->pred, m->tpl.row[m->at_out], v) < 0;
    }
    intcol_push(&c->vs, v);
}

/* Choose the meta columns as the writer would (format.h) and write
 * SEC_META_COLUMNS. */
int seg_mg_meta_columns(merge *m)
{
    uint32_t nkeys = (uint32_t)m->keys.t.n;
    uint64_t *stamp = calloc(nkeys + 1, sizeof *stamp);
    uint64_t *count = calloc(nkeys + 1, sizeof *count);
    uint8_t *numeric = malloc(nkeys + 1);
    seg_mcand *cand = malloc((nkeys + 1) * sizeof *cand);
    seg_colcheck *hex = calloc(nkeys + 1, sizeof *hex);
    int rc = -1;
    strata_event ev;
    if (!stamp || !count || !numeric || !cand || !hex) {
        seg_mg_fail(m, "out of memory choosing meta columns");
        goto out;
    }
    memset(numeric, 1, nkeys + 1);
    for (uint32_t k = 0; k < nkeys; k++)
        seg_colcheck_init(&hex[k], m->keys.sorted[k].s, m->keys.sorted[k].len);
    seg_mg_stage(m, "meta columns");
    /* pass 1: rows with a non-null value per key; whether every first
     * value is a canonical integer */
    uint64_t seq = 0;
    for (uint32_t i = 0; i < m->n; i++)
        for (uint32_t row = 0; row < seg_get_info(m->in[i])->events; row++) {
            if (seg_mg_read_row(m, i, row, &ev, SEG_PART_META) < 0)
                goto out;
            const uint32_t *ranks = seg_row_key_ranks(m->in[i], row);
            seq++;
            for (uint32_t k = 0; k < ev.meta_count; k++) {
                uint32_t key = m->keys.map[i][ranks[k]];
                const strata_kv *kv = &ev.meta[k];
                seg_colcheck_see(&hex[key], seq, kv->type, kv->value.ptr, kv->value.len);
                if (kv->type == STRATA_VALUE_NULL || stamp[key] == seq)
                    continue;
                stamp[key] = seq;
                count[key]++;
                int64_t v;
                if (kv->type != STRATA_VALUE_INT ||
                    !canonical_i64(kv->value.ptr, kv->value.len, &v))
                    numeric[key] = 0;
            }
        }
    size_t nc = seg_meta_col_pick(count, NULL, nkeys, m->rows, cand);
    int dicts = 0, hexes = 0;
    for (size_t c = 0; c < nc; c++) {
        mcolb *col = &m->cols[c];
        col->key = cand[c].key;
        col->present = cand[c].rows;
        col->kind = numeric[col->key]                          ? (int)SEG_META_COL_NUMBER
                    : hex[col->key].ok && hex[col->key].digits ? (int)SEG_META_COL_HEX
                                                               : (int)SEG_META_COL_DICT;
        col->digits = hex[col->key].digits;
        col->single = hex[col->key].single;
        dicts |= col->kind == SEG_META_COL_DICT;
        hexes |= col->kind == SEG_META_COL_HEX;
        m->key_col[col->key] = (uint8_t)(c + 1);
    }
    m->ncols = (uint32_t)nc;
    /* pass 2: distinct values of the dictionary candidates, first by hash
     * (2a), then as strings for those still in the running (2b) */
    int oom = 0;
    for (int step = 0; step < 2 && dicts && !oom; step++) {
        for (uint32_t i = 0; i < m->n && !oom; i++)
            for (uint32_t row = 0; row < seg_get_info(m->in[i])->events && !oom; row++) {
                if (seg_mg_read_row(m, i, row, &ev, SEG_PART_META) < 0)
                    goto out;
                seg_mg_first_values(m, i, row, &ev, step ? collect_value : count_hash, &oom);
            }
        dicts = 0;
        for (uint32_t c = 0; c < m->ncols; c++) {
            free(m->cols[c].seen);
            m->cols[c].seen = NULL;
            dicts |= m->cols[c].kind == SEG_META_COL_DICT;
        }
    }
    /* pass 2c: the values of the HEX columns, sorted, each row's ordinal */
    for (uint32_t c = 0; c < m->ncols && hexes && !oom; c++) {
        mcolb *col = &m->cols[c];
        if (col->kind != SEG_META_COL_HEX)
            continue;
        col->hexr = bigmem_malloc((col->present ? col->present : 1) * sizeof *col->hexr);
        oom = !col->hexr;
    }
    for (uint32_t i = 0; i < m->n && hexes && !oom; i++)
        for (uint32_t row = 0; row < seg_get_info(m->in[i])->events; row++) {
            if (seg_mg_read_row(m, i, row, &ev, SEG_PART_META) < 0)
                goto out;
            uint32_t out_row = m->remap[i][row];
            seg_mg_first_values(m, i, row, &ev, collect_hex, &out_row);
        }
    for (uint32_t c = 0; c < m->ncols && !oom; c++)
        if (m->cols[c].kind == SEG_META_COL_HEX)
            oom = order_hex(m, &m->cols[c]) < 0;
    for (uint32_t c = 0; c < m->ncols && !oom; c++) {
        mcolb *col = &m->cols[c];
        col->hs.out = &col->has;
        col->vs.out = &col->val;
        if (col->kind != SEG_META_COL_DICT)
            continue;
        col->vrank = malloc((col->vals.n + 1) * sizeof *col->vrank);
        col->sorted = col->vrank ? seg_sort_strtab(&col->vals, col->vrank) : NULL;
        oom = !col->sorted || seg_tplpred_init(&col->pred, m->tpl.n, col->present) < 0;
        col->terms = col->single; /* the writer's rule: every value a term of itself */
        for (size_t j = 0; !oom && col->terms && j < col->vals.n; j++)
            col->terms = (uint8_t)seg_value_is_term(col->sorted[j].s, col->sorted[j].len);
    }
    if (oom) {
        seg_mg_fail(m, "out of memory building meta columns");
        goto out;
    }
    /* pass 3: presence and values in output order */
    uint32_t src, row;
    seg_mg_order_reset(&m->mo);
    m->at_out = 0;
    while (seg_mg_order_next(&m->mo, &src, &row)) {
        if (seg_mg_read_row(m, src, row, &ev, SEG_PART_META) < 0)
            goto out;
        m->at_out = m->remap[src][row];
        uint8_t got[SEG_MAX_META_COLUMNS] = {0};
        seg_mg_first_values(m, src, row, &ev, encode_value, got);
        for (uint32_t c = 0; c < m->ncols; c++)
            if (m->cols[c].kind)
                intcol_push(&m->cols[c].hs, got[c]);
    }
    strbuf *out = &m->f.buf;
    seg_mg_sec_begin(&m->f);
    uint32_t ncols = 0;
    for (uint32_t c = 0; c < m->ncols; c++)
        ncols += m->cols[c].kind != 0;
    put_varint(out, ncols);
    strbuf dict = {0}, ranks = {0};
    for (uint32_t c = 0; c < m->ncols; c++) {
        mcolb *col = &m->cols[c];
        if (!col->kind)
            continue;
        intcol_flush(&col->hs);
        intcol_flush(&col->vs);
        sb_reset(&dict);
        if (col->terms) { /* the count of terms it holds first (format.h) */
            int64_t held = seg_held_count(col->sorted, col->vals.n);
            if (held < 0)
                dict.oom = 1;
            else
                put_varint(&dict, (uint64_t)held);
        }
        if (col->kind == SEG_META_COL_DICT)
            seg_put_dict(&dict, col->sorted, col->vals.n, m->o.zstd_level);
        if (col->kind == SEG_META_COL_HEX) { /* values first (format.h) */
            put_u8(&dict, col->digits);
            put_varint(&dict, col->nhexd);
            if (seg_hex_ef_put(&dict, col->hexv, col->nhexd, col->digits) < 0)
                dict.oom = 1;
        }
        put_varint(out, col->key);
        put_u8(out, (uint8_t)(col->terms ? SEG_META_COL_TERMS : (unsigned)col->kind));
        put_varint(out, col->present);
        if (col->kind == SEG_META_COL_DICT) { /* the ranks' coding (format.h) */
            sb_reset(&ranks);
            ranks.oom |= seg_put_dict_ranks(&ranks, &col->val, &col->pred, &m->tpl) < 0;
        }
        const strbuf *vals = col->kind == SEG_META_COL_DICT ? &ranks : &col->val;
        put_varint(out, col->has.len + dict.len + vals->len);
        int first = col->kind == SEG_META_COL_HEX || col->terms; /* values before presence */
        if (first) {                                             /* and its terms leave SEC_TERMS */
            const sref *k = &m->keys.sorted[col->key];
            m->ct.key[m->ct.n] = (strata_str){k->s, (uint32_t)k->len};
            m->ct.digits[m->ct.n++] = col->kind == SEG_META_COL_HEX ? col->digits : 0;
            sb_append(out, dict.buf, dict.len);
        }
        sb_append(out, col->has.buf, col->has.len);
        if (!first)
            sb_append(out, dict.buf, dict.len);
        sb_append(out, vals->buf, vals->len);
        oom |= col->has.oom || col->val.oom || col->oom || dict.oom || ranks.oom;
    }
    sb_free(&dict);
    sb_free(&ranks);
    seg_mg_sec_end(&m->f, SEC_META_COLUMNS);
    if (oom || m->f.bad)
        seg_mg_fail(m, "cannot write meta columns: %s", oom ? "out of memory" : strerror(errno));
    else
        rc = 0;
out:
    free(stamp);
    free(count);
    free(numeric);
    free(cand);
    free(hex);
    return rc;
}

/* ---- reading: meta columns ---------------------------------------------------------- */

/* A HEX column's header (format.h): digits, the count and place of its
 * sorted values; the rest of the body (presence, ordinals) is decoded on
 * first use, and the values' order is checked then too. Its terms count
 * among the segment's. The key must qualify as the writer requires (no
 * ':'), so that no HEX namespace is a prefix of another. */
static int load_hex_column(seg_reader *r, mcol *m)
{
    cursor c = cursor_make(m->body, m->body_len);
    unsigned digits = get_u8(&c);
    uint64_t nv = get_varint(&c);
    strata_str key = r->keys[m->key];
    if (c.bad || digits < SEG_HEX_MIN_DIGITS || digits > SEG_HEX_MAX_DIGITS ||
        nv > m->pub.present || (nv == 0) != (m->pub.present == 0) ||
        !seg_key_holds_terms(key.ptr, key.len))
        return seg_rd_fail(r, "segment hex column malformed");
    m->digits = (uint8_t)digits;
    m->nheld = (uint32_t)nv;
    /* an Elias-Fano sequence, decoded on first use */
    m->ef_low_bits = get_u8(&c);
    m->ef_low = get_bytes(&c, SIZE_MAX, &m->ef_low_len);
    m->ef_high = get_bytes(&c, SIZE_MAX, &m->ef_high_len);
    if (c.bad || m->ef_low_bits != seg_hex_ef_low_bits(nv, digits))
        return seg_rd_fail(r, "segment hex column malformed");
    m->hex_end = (size_t)(c.p - m->body);
    return 0;
}

/* A TERMS column: its dictionary comes first in the body, so
 * the count of its terms is read without decoding the column. Same rule on
 * the key as for HEX. */
static int load_terms_column(seg_reader *r, mcol *m)
{
    cursor c = cursor_make(m->body, m->body_len);
    uint64_t held = get_varint(&c), nv = get_varint(&c);
    strata_str key = r->keys[m->key];
    /* each value is a term of itself and gives at most SEG_MAX_TOKENS_PER_TERM */
    if (c.bad || nv > m->pub.present || (nv == 0) != (m->pub.present == 0) || held < nv ||
        held > nv * SEG_MAX_TOKENS_PER_TERM || !seg_key_holds_terms(key.ptr, key.len))
        return seg_rd_fail(r, "segment terms column malformed");
    m->terms = 1;
    m->nheld = (uint32_t)held;
    m->ndict = (uint32_t)nv;
    m->pub.kind = SEG_META_COL_DICT;
    return 0;
}

/* Locate the meta columns (SEC_META_COLUMNS): their
 * keys, kinds and bodies; the values are decoded on first use
 * (decode_meta_columns). */
int seg_rd_load_meta_columns(seg_reader *r)
{
    const section *sec = &r->sec[SEC_META_COLUMNS];
    cursor c = cursor_make(sec->p, sec->len);
    uint64_t n = get_varint(&c);
    if (c.bad || n > SEG_MAX_META_COLUMNS)
        return seg_rd_fail(r, "segment meta columns: bad count");
    if (!n)
        return 0;
    r->mcols = calloc(n, sizeof *r->mcols);
    r->key_col = malloc(r->n_keys ? r->n_keys : 1);
    if (!r->mcols || !r->key_col)
        return seg_rd_fail(r, "out of memory");
    memset(r->key_col, KEY_NO_COLUMN, r->n_keys);
    for (uint32_t i = 0; i < n; i++) {
        mcol *m = &r->mcols[i];
        uint64_t key = get_varint(&c), kind = get_u8(&c), present = get_varint(&c);
        m->body = get_bytes(&c, sec->len, &m->body_len);
        int hex = kind == SEG_META_COL_HEX;
        int terms = kind == SEG_META_COL_TERMS;
        if (c.bad || key >= r->n_keys || r->key_col[key] != KEY_NO_COLUMN ||
            (kind != SEG_META_COL_NUMBER && kind != SEG_META_COL_DICT && !hex && !terms) ||
            present > r->info.events)
            return seg_rd_fail(r, "segment meta column %u malformed", i);
        m->key = (uint32_t)key;
        m->pub.kind = (uint32_t)kind;
        m->pub.present = (uint32_t)present;
        r->key_col[key] = (uint8_t)i;
        if ((hex && load_hex_column(r, m) < 0) || (terms && load_terms_column(r, m) < 0))
            return -1;
    }
    if (cursor_left(&c) != 0)
        return seg_rd_fail(r, "segment meta columns: trailing bytes");
    r->nmcols = (uint32_t)n;
    return 0;
}

/* The ranks of a dictionary column coded by the rows' templates (format.h,
 * the listed rows from c), into tmp[j] for the j-th row with a
 * value: a row not listed repeats the last rank of its template's rows
 * before it, which must have one. 0, or -1 with the error set. */
static int unpredict_ranks(seg_reader *r, const mcol *m, cursor *c, int64_t *tmp)
{
    uint64_t present = m->pub.present, nexc = get_varint(c);
    if (c->bad || nexc > present)
        return seg_rd_fail(r, "segment meta column: %llu listed ranks of %llu",
                           (unsigned long long)nexc, (unsigned long long)present);
    if (seg_rd_load_templates(r) < 0)
        return -1;
    int64_t *gap = malloc((nexc ? nexc : 1) * sizeof *gap);
    int64_t *val = malloc((nexc ? nexc : 1) * sizeof *val);
    int64_t *last = malloc((r->info.templates ? r->info.templates : 1) * sizeof *last);
    int rc = -1;
    if (!gap || !val || !last) {
        seg_rd_fail(r, "out of memory");
        goto out;
    }
    if (intcol_decode(c, gap, nexc) < 0 || intcol_decode(c, val, nexc) < 0) {
        seg_rd_fail(r, "segment meta column: listed ranks malformed");
        goto out;
    }
    for (uint32_t t = 0; t < r->info.templates; t++)
        last[t] = -1;
    uint64_t k = 0, next = nexc ? (uint64_t)gap[0] : UINT64_MAX;
    for (uint64_t i = 0, j = 0; i < r->info.events; i++) {
        if (!m->has[i])
            continue;
        uint32_t t = r->tpl_rank[i];
        if (j == next) {
            if (val[k] < 0) {
                seg_rd_fail(r, "segment meta column: listed rank out of range");
                goto out;
            }
            last[t] = val[k++];
            /* gaps are non-negative and the next index stays below present */
            next = k < nexc
                       ? (gap[k] < 0 || (uint64_t)gap[k] >= present - j ? UINT64_MAX - 1
                                                                        : j + 1 + (uint64_t)gap[k])
                       : UINT64_MAX;
        } else if (last[t] < 0) {
            seg_rd_fail(r, "segment meta column: row %llu repeats a value its template has not had",
                        (unsigned long long)i);
            goto out;
        }
        tmp[j++] = last[t];
    }
    if (k != nexc) {
        seg_rd_fail(r, "segment meta column: %llu of %llu listed ranks fall on no row",
                    (unsigned long long)(nexc - k), (unsigned long long)nexc);
        goto out;
    }
    rc = 0;
out:
    free(gap);
    free(val);
    free(last);
    return rc;
}

/* Decode one meta column's body: presence, then the values of the rows
 * that have one (numbers, or a dictionary and ids into it). */
static int decode_meta_column(seg_reader *r, mcol *m, int64_t *tmp)
{
    size_t n = r->info.events ? r->info.events : 1;
    cursor c = cursor_make(m->body, m->body_len);
    int hex = m->pub.kind == SEG_META_COL_HEX;
    if (hex) {
        m->hexbuf = bigmem_malloc(m->nheld ? (size_t)m->nheld * seg_hex_bytes(m->digits) : 1);
        if (!m->hexbuf)
            return seg_rd_fail(r, "out of memory");
        if (seg_hex_ef_get(m->ef_low_bits, m->ef_low, m->ef_low_len, m->ef_high, m->ef_high_len,
                           m->nheld, m->digits, m->hexbuf) < 0)
            return seg_rd_fail(r, "segment hex column values malformed");
        m->hex = m->hexbuf;
        /* the values strictly ascending (a lookup binary-searches them) */
        size_t vb = seg_hex_bytes(m->digits);
        for (uint32_t v = 1; v < m->nheld; v++)
            if (memcmp(m->hex + (size_t)(v - 1) * vb, m->hex + (size_t)v * vb, vb) >= 0)
                return seg_rd_fail(r, "segment hex column values out of order");
        if (m->digits % 2)
            for (uint32_t v = 0; v < m->nheld; v++)
                if (m->hex[(size_t)v * vb + vb - 1] & 15)
                    return seg_rd_fail(r, "segment hex column: bad padding");
        c = cursor_make(m->body + m->hex_end, m->body_len - m->hex_end);
    }
    if (m->terms) { /* the count of its terms, then its dictionary, first */
        (void)get_varint(&c);
        int rc = seg_rd_dict_decode(&c, &m->values, &m->pub.nvalues, &m->arena);
        if (rc < 0 || m->pub.nvalues != m->ndict)
            return rc == -2 ? seg_rd_fail(r, "out of memory")
                            : seg_rd_fail(r, "segment meta column dictionary malformed");
    }
    m->has = calloc(n, 1); /* zeroed: no path reads an unset byte */
    if (!m->has || intcol_decode(&c, tmp, r->info.events) < 0)
        return m->has ? seg_rd_fail(r, "segment meta column malformed")
                      : seg_rd_fail(r, "out of memory");
    uint64_t present = 0;
    for (size_t i = 0; i < r->info.events; i++) {
        if (tmp[i] != 0 && tmp[i] != 1)
            return seg_rd_fail(r, "segment meta column: bad presence");
        m->has[i] = (uint8_t)tmp[i];
        present += (uint64_t)tmp[i];
    }
    if (present != m->pub.present)
        return seg_rd_fail(r, "segment meta column: presence count mismatch");
    if (m->pub.kind == SEG_META_COL_DICT && !m->terms) {
        int rc = seg_rd_dict_decode(&c, &m->values, &m->pub.nvalues, &m->arena);
        if (rc < 0)
            return rc == -2 ? seg_rd_fail(r, "out of memory")
                            : seg_rd_fail(r, "segment meta column dictionary malformed");
    }
    unsigned coding = SEG_RANKS_PLAIN;
    if (m->pub.kind == SEG_META_COL_DICT) {
        coding = get_u8(&c);
        if (c.bad || coding > SEG_RANKS_BY_TEMPLATE)
            return seg_rd_fail(r, "segment meta column: unknown coding of ranks %u", coding);
    }
    if (coding == SEG_RANKS_BY_TEMPLATE ? unpredict_ranks(r, m, &c, tmp) < 0
                                        : intcol_decode(&c, tmp, present) < 0)
        return coding == SEG_RANKS_BY_TEMPLATE
                   ? -1
                   : seg_rd_fail(r, "segment meta column values malformed");
    if (cursor_left(&c) != 0)
        return seg_rd_fail(r, "segment meta column values malformed");
    if (m->pub.kind == SEG_META_COL_DICT || hex) {
        m->id = calloc(n, sizeof *m->id);
        if (!m->id)
            return seg_rd_fail(r, "out of memory");
    } else {
        m->num = calloc(n, sizeof *m->num);
        if (!m->num)
            return seg_rd_fail(r, "out of memory");
    }
    size_t j = 0;
    for (size_t i = 0; i < r->info.events; i++) {
        if (!m->has[i])
            continue;
        if (m->id) {
            if (tmp[j] < 0 || tmp[j] >= (int64_t)(hex ? m->nheld : m->pub.nvalues))
                return seg_rd_fail(r, "segment meta column: value id out of range");
            m->id[i] = (uint32_t)tmp[j];
        } else {
            m->num[i] = tmp[j];
        }
        j++;
    }
    m->pub.has = m->has;
    m->pub.num = m->num;
    m->pub.id = m->id;
    m->pub.values = m->values;
    return 0;
}

/* Decode every meta column once; the outcome sticks (a corrupt column
 * fails every later read that needs it). */
int seg_rd_decode_meta_columns(seg_reader *r)
{
    if (r->mcols_state)
        return r->mcols_state > 0 ? 0 : seg_rd_fail(r, "segment meta columns are corrupt");
    int64_t *tmp = malloc((r->info.events ? r->info.events : 1) * sizeof *tmp);
    if (!tmp) {
        r->mcols_state = -1;
        return seg_rd_fail(r, "out of memory");
    }
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < r->nmcols; i++)
        rc = decode_meta_column(r, &r->mcols[i], tmp);
    free(tmp);
    r->mcols_state = rc == 0 ? 1 : -1;
    return rc;
}

int seg_meta_column(seg_reader *r, const char *key, size_t len, const seg_column **out)
{
    *out = NULL;
    for (uint32_t i = 0; i < r->nmcols; i++) {
        strata_str k = r->keys[r->mcols[i].key];
        if (k.len == len && !memcmp(k.ptr, key, len)) {
            if (r->mcols[i].pub.kind == SEG_META_COL_HEX)
                return 0; /* its values are read through rows (seg_row) */
            if (seg_rd_decode_meta_columns(r) < 0)
                return -1;
            *out = &r->mcols[i].pub;
            return 1;
        }
    }
    return 0;
}

uint32_t seg_meta_column_count(const seg_reader *r)
{
    return r->nmcols;
}

int seg_meta_column_info(const seg_reader *r, uint32_t i, strata_str *key, uint32_t *kind,
                         uint32_t *present)
{
    if (i >= r->nmcols)
        return 0;
    *key = r->keys[r->mcols[i].key];
    *kind = r->mcols[i].terms ? SEG_META_COL_TERMS : r->mcols[i].pub.kind;
    *present = r->mcols[i].pub.present;
    return 1;
}
