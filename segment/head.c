/*
 * segment/head.c - the head of a segment being built: events are copied
 * into a seg_writer (rows + one byte arena) and tokenized as they are
 * added, so that the indexer's feeding thread does that share of the work
 * while its sealing thread encodes the previous head (writer.c). The live
 * term index answers seg_writer_term_id and seg_writer_row_has, which the
 * search of the indexer's head uses before the head is a segment.
 *
 * Memory: every event is copied (a wrow, its meta entries and its bytes),
 * plus 4 bytes per distinct (term, row) and the distinct terms themselves.
 * The writer owns all of it until seg_writer_free; seg_writer_reset keeps
 * the arrays' pages for the next segment.
 */
#include <stdlib.h>
#include <string.h>

#include "bigmem.h"
#include "head.h"

static int index_row(seg_writer *w);

/* Take opts (defaults filled in, the tenant copied); 0, or -1 on OOM with
 * the writer's options as they were. */
static int set_opts(seg_writer *w, const seg_writer_opts *opts)
{
    char *tenant = strdup(opts && opts->tenant ? opts->tenant : "");
    if (!tenant)
        return -1;
    free(w->tenant);
    w->tenant = tenant;
    memset(&w->o, 0, sizeof w->o);
    if (opts)
        w->o = *opts;
    if (!w->o.block_events || w->o.block_events > SEG_MAX_BLOCK_EVENTS)
        w->o.block_events = SEG_DEFAULT_BLOCK_EVENTS;
    if (!w->o.zstd_level)
        w->o.zstd_level = SEG_DEFAULT_ZSTD_LEVEL;
    w->o.tenant = w->tenant;
    return 0;
}

seg_writer *seg_writer_new(const seg_writer_opts *opts)
{
    seg_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    /* the arena always has a buffer, so offsets into it are never off NULL */
    if (set_opts(w, opts) < 0 || sb_reserve(&w->data, 0) < 0) {
        free(w->tenant);
        free(w);
        return NULL;
    }
    return w;
}

int seg_writer_reset(seg_writer *w, const seg_writer_opts *opts)
{
    if (set_opts(w, opts) < 0)
        return -1;
    seg_writer_clear_rows(w);
    strtab_clear(&w->services);
    strtab_clear(&w->hosts);
    strtab_clear(&w->keys);
    strtab_clear(&w->ix.terms);
    w->ix.nocc = 0;
    w->ix.nr = 0;
    w->ix.oom = 0;
    sb_reset(&w->out);
    w->sealed = 0;
    w->finished = 0;
    return 0;
}

seg_writer *seg_writer_new_staging(const seg_writer_opts *opts)
{
    seg_writer *w = seg_writer_new(opts);
    if (w)
        w->no_index = 1;
    return w;
}

void seg_writer_clear_rows(seg_writer *w)
{
    w->n = 0;
    w->nkv = 0;
    w->raw_bytes = 0;
    sb_reset(&w->data);
}

uint32_t seg_writer_key_count(const seg_writer *w)
{
    return (uint32_t)w->keys.n;
}

strata_str seg_writer_key(const seg_writer *w, uint32_t id)
{
    strata_str s = {strtab_str(&w->keys, id), strtab_len(&w->keys, id)};
    return s;
}

size_t seg_writer_count(const seg_writer *w)
{
    return w->n;
}
size_t seg_writer_bytes(const seg_writer *w)
{
    return w->raw_bytes;
}

/* Copy bytes into the arena; returns their offset, or UINT64_MAX on OOM. */
static uint64_t keep(seg_writer *w, strata_str s)
{
    uint64_t off = w->data.len;
    if (sb_append(&w->data, s.ptr, s.len) < 0)
        return UINT64_MAX;
    return off;
}

int seg_writer_add(seg_writer *w, const strata_event *ev)
{
    if (w->sealed || w->finished || w->n >= SEG_MAX_EVENTS || ev->meta_count > SEG_MAX_META_PER_ROW)
        return -1;
    size_t raw = ev->msg.len + ev->service.len + ev->host.len + 18;
    for (uint32_t i = 0; i < ev->meta_count; i++)
        raw += ev->meta[i].key.len + ev->meta[i].value.len + 2;
    if (w->raw_bytes + raw > SEG_MAX_RAW_BYTES)
        return -1;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 1024;
        wrow *r = bigmem_realloc(w->rows, w->cap * sizeof *r, cap * sizeof *r);
        if (!r)
            return -1;
        w->rows = r;
        w->cap = cap;
    }
    if (w->nkv + ev->meta_count > w->kvcap) {
        size_t cap = w->kvcap ? w->kvcap * 2 : 1024;
        while (cap < w->nkv + ev->meta_count)
            cap *= 2;
        wkv *k = bigmem_realloc(w->kvs, w->kvcap * sizeof *k, cap * sizeof *k);
        if (!k)
            return -1;
        w->kvs = k;
        w->kvcap = cap;
    }
    wrow *r = &w->rows[w->n];
    int64_t svc = strtab_intern(&w->services, ev->service.ptr, ev->service.len);
    int64_t host = strtab_intern(&w->hosts, ev->host.ptr, ev->host.len);
    r->msg_off = keep(w, ev->msg);
    if (svc < 0 || host < 0 || r->msg_off == UINT64_MAX)
        return -1;
    r->ingest = ev->ingest_ts_ns;
    r->event = ev->event_ts_ns;
    r->msg_len = ev->msg.len;
    r->service = (uint32_t)svc;
    r->host = (uint32_t)host;
    r->level = ev->level;
    r->flags = ev->flags;
    r->seq = (uint32_t)w->n;
    r->kv_off = w->nkv;
    r->kv_n = ev->meta_count;
    for (uint32_t i = 0; i < ev->meta_count; i++) {
        const strata_kv *src = &ev->meta[i];
        int64_t key = strtab_intern(&w->keys, src->key.ptr, src->key.len);
        uint64_t off = keep(w, src->value);
        if (key < 0 || off == UINT64_MAX || w->keys.n > SEG_MAX_META_KEYS)
            return -1;
        wkv *kv = &w->kvs[w->nkv + i];
        kv->off = off;
        kv->len = src->value.len;
        kv->key = (uint32_t)key;
        kv->type = src->type <= STRATA_VALUE_NULL ? src->type : STRATA_VALUE_STRING;
    }
    if (!w->no_index && index_row(w) < 0)
        return -1;
    w->nkv += ev->meta_count;
    w->n++;
    w->raw_bytes += raw;
    return 0;
}

void seg_writer_set_dict(seg_writer *w, const void *dict, size_t len)
{
    w->o.dict = dict;
    w->o.dict_len = dict ? len : 0;
}

void seg_writer_free(seg_writer *w)
{
    if (!w)
        return;
    free(w->tenant);
    free(w->rows);
    free(w->kvs);
    sb_free(&w->data);
    strtab_free(&w->services);
    strtab_free(&w->hosts);
    strtab_free(&w->keys);
    strtab_free(&w->ix.terms);
    free(w->ix.occ);
    free(w->ix.row_occ);
    free(w->ix.rset);
    free(w->ix.kv);
    sb_free(&w->ix.rbytes);
    free(w->ix.rterms);
    for (int i = 0; i < SCR_COUNT_; i++)
        free(w->scr[i].p);
    sb_free(&w->out);
    sb_free(&w->postings);
    seg_fuse_free(&w->fuse);
    free(w);
}

/* Rows by ingest_ts, ties in arrival order. */
static int cmp_rows(const void *a, const void *b)
{
    const wrow *x = a, *y = b;
    if (x->ingest != y->ingest)
        return x->ingest < y->ingest ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Gather one term of the row being added (interned by intern_row). */
static void add_term(void *ud, const char *t, size_t n)
{
    windex *x = ud;
    if (x->nr == x->rcap) {
        size_t cap = x->rcap ? x->rcap * 2 : 64;
        struct rterm *r = realloc(x->rterms, cap * sizeof *r);
        if (!r) {
            x->oom = 1;
            return;
        }
        x->rterms = r;
        x->rcap = cap;
    }
    struct rterm *r = &x->rterms[x->nr];
    r->off = (uint32_t)x->rbytes.len;
    r->len = (uint32_t)n;
    if (sb_append(&x->rbytes, t, n) < 0) {
        x->oom = 1;
        return;
    }
    x->nr++;
}

/* Slots of the smallest per-row term set; it grows to twice the row's terms. */
#define ROW_SET_MIN_SLOTS 64u

/* Mark the gathered terms of the row that repeat an earlier one (dup), with
 * a small hash set sized to the row: the row's terms are in cache, while a
 * per-term "last row" array would cost a cache miss per term. 0, or -1 on
 * OOM. */
static int dedup_row(windex *x)
{
    size_t n = ROW_SET_MIN_SLOTS;
    while (n < 2 * x->nr)
        n *= 2;
    if (n > x->rset_cap) {
        uint32_t *s = realloc(x->rset, n * sizeof *s);
        if (!s)
            return -1;
        x->rset = s;
        x->rset_cap = n;
    }
    memset(x->rset, 0, n * sizeof *x->rset);
    for (size_t i = 0; i < x->nr; i++) {
        struct rterm *r = &x->rterms[i];
        const char *t = x->rbytes.buf + r->off;
        r->hash = term_hash(t, r->len);
        r->dup = 0;
        size_t k = (size_t)r->hash & (n - 1);
        for (; x->rset[k]; k = (k + 1) & (n - 1)) {
            const struct rterm *o = &x->rterms[x->rset[k] - 1];
            if (o->hash == r->hash && o->len == r->len &&
                memcmp(x->rbytes.buf + o->off, t, r->len) == 0) {
                r->dup = 1;
                break;
            }
        }
        if (!r->dup)
            x->rset[k] = (uint32_t)i + 1;
    }
    return 0;
}

/* Intern the distinct terms of the current row and record their ids.
 * Hashes, then slot prefetches, then record prefetches go first, so that
 * the table's cache misses (it holds every term of the head) overlap
 * instead of queueing. */
static void intern_row(windex *x)
{
    if (dedup_row(x) < 0) {
        x->oom = 1;
        return;
    }
    for (size_t i = 0; i < x->nr; i++)
        if (!x->rterms[i].dup)
            strtab_prefetch(&x->terms, x->rterms[i].hash);
    for (size_t i = 0; i < x->nr; i++)
        if (!x->rterms[i].dup)
            strtab_prefetch_record(&x->terms, x->rterms[i].hash);
    for (size_t i = 0; i < x->nr && !x->oom; i++) {
        const struct rterm *r = &x->rterms[i];
        if (r->dup)
            continue;
        int64_t id = strtab_intern_hashed(&x->terms, x->rbytes.buf + r->off, r->len, r->hash);
        if (id < 0) {
            x->oom = 1;
            return;
        }
        if (x->nocc == x->occcap) {
            size_t cap = x->occcap ? x->occcap * 2 : 65536;
            uint32_t *o = bigmem_realloc(x->occ, x->occcap * sizeof *o, cap * sizeof *o);
            if (!o) {
                x->oom = 1;
                return;
            }
            x->occ = o;
            x->occcap = cap;
        }
        x->occ[x->nocc++] = (uint32_t)id;
    }
}

/* Rebuild row r as a strata_event (pointers into the writer) to index it. */
void seg_head_row_event(const seg_writer *w, const wrow *r, strata_event *ev, strata_kv *kv)
{
    strata_event_init(ev);
    ev->ingest_ts_ns = r->ingest;
    ev->event_ts_ns = r->event;
    ev->level = r->level;
    ev->flags = r->flags;
    ev->service.ptr = strtab_str(&w->services, r->service);
    ev->service.len = strtab_len(&w->services, r->service);
    ev->host.ptr = strtab_str(&w->hosts, r->host);
    ev->host.len = strtab_len(&w->hosts, r->host);
    ev->msg.ptr = w->data.buf ? w->data.buf + r->msg_off : "";
    ev->msg.len = r->msg_len;
    for (uint32_t i = 0; i < r->kv_n; i++) {
        const wkv *k = &w->kvs[r->kv_off + i];
        kv[i].key.ptr = strtab_str(&w->keys, k->key);
        kv[i].key.len = strtab_len(&w->keys, k->key);
        kv[i].value.ptr = w->data.buf ? w->data.buf + k->off : "";
        kv[i].value.len = k->len;
        kv[i].type = k->type;
    }
    ev->meta = kv;
    ev->meta_count = r->kv_n;
}

void seg_writer_seal(seg_writer *w)
{
    if (w->sealed)
        return;
    w->sealed = 1;
    size_t i = 1;
    while (i < w->n && cmp_rows(&w->rows[i - 1], &w->rows[i]) <= 0)
        i++;
    if (i < w->n) /* rows usually arrive in ingest order: sort only when not */
        qsort(w->rows, w->n, sizeof *w->rows, cmp_rows);
}

int seg_writer_row(const seg_writer *w, size_t i, strata_event *ev, strata_kv *kv, uint32_t kvcap)
{
    if (i >= w->n || w->rows[i].kv_n > kvcap)
        return -1;
    seg_head_row_event(w, &w->rows[i], ev, kv);
    return 0;
}

int64_t seg_writer_term_id(const seg_writer *w, const char *term, size_t len)
{
    return strtab_find(&w->ix.terms, term, len);
}

int seg_writer_row_has(const seg_writer *w, size_t i, const uint32_t *ids, size_t n)
{
    if (i >= w->n)
        return 0;
    const uint32_t *end, *occ = seg_head_row_terms(w, i, &end);
    for (size_t k = 0; k < n; k++) {
        const uint32_t *p = occ;
        while (p < end && *p != ids[k])
            p++;
        if (p == end)
            return 0;
    }
    return 1;
}

/* Tokenize row w->rows[w->n] (just stored, not yet counted) into the
 * writer's index. 0, or -1 on OOM with the index as before the row. */
static int index_row(seg_writer *w)
{
    windex *x = &w->ix;
    if (w->n + 2 > x->row_cap) {
        size_t cap = x->row_cap ? x->row_cap * 2 : 1024;
        uint64_t *ro = bigmem_realloc(x->row_occ, x->row_cap * sizeof *ro, cap * sizeof *ro);
        if (!ro)
            return -1;
        x->row_occ = ro;
        x->row_cap = cap;
    }
    if (!x->kv && !(x->kv = malloc(SEG_MAX_META_PER_ROW * sizeof *x->kv)))
        return -1;
    strata_event ev;
    seg_head_row_event(w, &w->rows[w->n], &ev, x->kv);
    x->row_occ[w->n] = x->nocc;
    x->nr = 0;
    sb_reset(&x->rbytes);
    seg_event_terms(&ev, add_term, x);
    if (!x->oom)
        intern_row(x);
    if (x->oom) { /* forget the row's terms; interned ones stay, with no rows */
        x->oom = 0;
        x->nocc = x->row_occ[w->n];
        return -1;
    }
    x->row_occ[w->n + 1] = x->nocc;
    return 0;
}
