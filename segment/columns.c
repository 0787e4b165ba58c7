/*
 * segment/columns.c - the columns of every row (format.h: ingest and event
 * times, flags, service and host ranks and their dictionaries) and the
 * rollup computed from them (counts per minute x service x level), the
 * whole part:
 *
 *   writing  the writer ranks its head's names and encodes the columns
 *            (seg_wr_columns);
 *   merging  the streaming merge renumbers its inputs' names into their
 *            union and gives the bytes the writer would (seg_mg_columns);
 *   reading  the reader decodes them at open (seg_rd_load_columns,
 *            seg_rd_load_rollup) and gives them to queries (seg_ingest_ts,
 *            seg_service_ids, seg_rollup, ...).
 *
 * The host column (hostcol.c) and the level column (levelcol.c) have files
 * of their own.
 */
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bigmem.h"
#include "build.h"
#include "codec.h"
#include "format.h"
#include "head.h"
#include "merge_int.h"
#include "reader_int.h"
#include "segment.h"
#include "strtab.h"
#include "writer_int.h"

/* ---- writing --------------------------------------------------------------------------------- */

/* One integer column computed by fn for every row. */
static int put_col(build *b, uint32_t id, int64_t *tmp, const uint32_t *rank,
                   int64_t (*fn)(const wrow *r, const wrow *prev, const uint32_t *rank))
{
    seg_writer *w = b->w;
    for (size_t i = 0; i < w->n; i++)
        tmp[i] = fn(&w->rows[i], i ? &w->rows[i - 1] : NULL, rank);
    size_t s = seg_wr_sec_begin(b);
    intcol_encode(b->out, tmp, w->n);
    seg_wr_sec_end(b, id, s);
    return 0;
}

/* The ingest_ts column's value for row r: the delta from the previous row. */
static int64_t col_ingest(const wrow *r, const wrow *prev, const uint32_t *rank)
{
    (void)rank;
    return prev ? (int64_t)((uint64_t)r->ingest - (uint64_t)prev->ingest) : r->ingest;
}
/* The event_ts column's value for row r: the delta from the previous row. */
static int64_t col_event(const wrow *r, const wrow *prev, const uint32_t *rank)
{
    (void)rank; /* rows are in ingest order, so event times mostly rise too */
    return prev ? (int64_t)((uint64_t)r->event - (uint64_t)prev->event) : r->event;
}
/* The flags column's value for row r. */
static int64_t col_flags(const wrow *r, const wrow *prev, const uint32_t *rank)
{
    (void)prev, (void)rank;
    return r->flags;
}
/* The service column's value for row r: its service's rank in sorted order. */
static int64_t col_service(const wrow *r, const wrow *prev, const uint32_t *rank)
{
    (void)prev;
    return rank[r->service];
}

/* Order rollup cells by minute, then service, then level. */
static int cmp_rcell(const void *a, const void *b)
{
    const seg_rcell *x = a, *y = b;
    if (x->minute != y->minute)
        return x->minute < y->minute ? -1 : 1;
    if (x->svc != y->svc)
        return x->svc < y->svc ? -1 : 1;
    return (x->level > y->level) - (x->level < y->level);
}

/* The hash of a rollup cell's (minute, service, level). */
static size_t rcell_hash(int64_t minute, uint32_t svc, uint8_t level)
{
    return (size_t)(((uint64_t)minute * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)svc * 31u) ^ level);
}

/* The rollup minute of a time in ns (floor, so times before 1970 land right). */
static int64_t minute_of(int64_t ns)
{
    int64_t m = ns / SEG_ROLLUP_NS;
    return ns % SEG_ROLLUP_NS < 0 ? m - 1 : m;
}

/* Cells are gathered in a hash table (rows are in ingest order, so a
 * segment spans few minutes) and sorted once by seg_rollup_put. */
int seg_rollup_add(seg_rollup_acc *a, int64_t event_ns, uint32_t svc, uint8_t level)
{
    seg_rcell k = {minute_of(event_ns), svc, level, 0};
    if ((a->n + 1) * 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        seg_rcell *nt = calloc(cap, sizeof *nt);
        if (!nt)
            return -1;
        for (size_t j = 0; j < a->cap; j++) {
            if (!a->t[j].count)
                continue;
            size_t h = rcell_hash(a->t[j].minute, a->t[j].svc, a->t[j].level) & (cap - 1);
            while (nt[h].count)
                h = (h + 1) & (cap - 1);
            nt[h] = a->t[j];
        }
        free(a->t);
        a->t = nt;
        a->cap = cap;
    }
    size_t h = rcell_hash(k.minute, k.svc, k.level) & (a->cap - 1);
    seg_rcell *t = a->t;
    while (t[h].count && (t[h].minute != k.minute || t[h].svc != k.svc || t[h].level != k.level))
        h = (h + 1) & (a->cap - 1);
    if (!t[h].count) {
        t[h] = k;
        a->n++;
    }
    t[h].count++;
    return 0;
}

/* SEC_ROLLUP: varint cells, then per cell in (minute, service, level)
 * order: varint zigzag(minute - previous minute), varint service rank,
 * u8 level, varint count. Leaves the table compacted and sorted. */
void seg_rollup_put(seg_rollup_acc *a, strbuf *out)
{
    size_t m = 0;
    for (size_t j = 0; j < a->cap; j++)
        if (a->t[j].count)
            a->t[m++] = a->t[j];
    if (m)
        qsort(a->t, m, sizeof *a->t, cmp_rcell);
    put_varint(out, m);
    int64_t prev = 0;
    for (size_t j = 0; j < m; j++) {
        put_varint(out, zigzag(a->t[j].minute - prev));
        put_varint(out, a->t[j].svc);
        put_u8(out, a->t[j].level);
        put_varint(out, a->t[j].count);
        prev = a->t[j].minute;
    }
    a->n = m;
}

void seg_rollup_free(seg_rollup_acc *a)
{
    free(a->t);
    memset(a, 0, sizeof *a);
}

/* Write SEC_ROLLUP: the count per (minute, service, level), which aggregates read instead of rows.
 * Write SEC_ROLLUP: the count per (minute, service, level), which aggregates read instead of rows.
 */
static int write_rollup(build *b, const uint32_t *srank)
{
    seg_writer *w = b->w;
    seg_rollup_acc acc = {0};
    for (size_t i = 0; i < w->n; i++)
        if (seg_rollup_add(&acc, w->rows[i].event, srank[w->rows[i].service], w->rows[i].level) <
            0) {
            seg_rollup_free(&acc);
            return seg_wr_fail(b, "out of memory building the rollup");
        }
    size_t s = seg_wr_sec_begin(b);
    seg_rollup_put(&acc, b->out);
    seg_wr_sec_end(b, SEC_ROLLUP, s);
    seg_rollup_free(&acc);
    return 0;
}

unsigned seg_names_flag(const sref *names, size_t n, unsigned flag)
{
    for (size_t i = 0; i < n; i++)
        if (!seg_name_is_term(names[i].s, names[i].len))
            return 0;
    return flag;
}

/* Write the fixed columns (times, flags, service, host, level) with the service dictionary and the
 * rollup. */
int seg_wr_columns(build *b)
{
    seg_writer *w = b->w;
    int64_t *tmp = seg_wr_scratch(w, SCR_ROW_TMP, (w->n ? w->n : 1) * sizeof *tmp);
    uint32_t *srank = malloc((w->services.n + 1) * sizeof *srank);
    uint32_t *hrank = malloc((w->hosts.n + 1) * sizeof *hrank);
    sref *ss = seg_sort_strtab(&w->services, srank);
    sref *hs = seg_sort_strtab(&w->hosts, hrank);
    int rc = -1;
    if (!tmp || !srank || !hrank || !ss || !hs) {
        seg_wr_fail(b, "out of memory writing columns");
        goto out;
    }
    put_col(b, SEC_INGEST_TS, tmp, NULL, col_ingest);
    put_col(b, SEC_EVENT_TS, tmp, NULL, col_event);
    put_col(b, SEC_FLAGS, tmp, NULL, col_flags);
    size_t s = seg_wr_sec_begin(b);
    seg_put_dict(b->out, ss, w->services.n, w->o.zstd_level);
    seg_wr_sec_end(b, SEC_SERVICE_DICT, s);
    put_col(b, SEC_SERVICE, tmp, srank, col_service);
    s = seg_wr_sec_begin(b);
    seg_put_dict(b->out, hs, w->hosts.n, w->o.zstd_level);
    seg_wr_sec_end(b, SEC_HOST_DICT, s);
    /* the host column by service or plain: the rows' ranks in
     * tmp's room, services then hosts */
    uint32_t *sv = (uint32_t *)(void *)tmp, *hv = sv + w->n;
    for (size_t i = 0; i < w->n; i++) {
        sv[i] = srank[w->rows[i].service];
        hv[i] = hrank[w->rows[i].host];
    }
    s = seg_wr_sec_begin(b);
    if (seg_put_hosts(b->out, sv, hv, w->n, w->services.n, w->o.zstd_level) < 0) {
        seg_wr_fail(b, "out of memory writing columns");
        goto out;
    }
    seg_wr_sec_end(b, SEC_HOST, s);
    b->ct.flags = (uint16_t)(seg_names_flag(ss, w->services.n, SEG_FLAG_SERVICE_TERMS) |
                             seg_names_flag(hs, w->hosts.n, SEG_FLAG_HOST_TERMS));
    rc = write_rollup(b, srank);
out:
    free(srank);
    free(hrank);
    free(ss);
    free(hs);
    return rc;
}

/* ---- merging --------------------------------------------------------------------------------- */

/* The sorted dictionary of a union as a section. */
static void put_union(merge *m, uint32_t id, const udict *u)
{
    seg_mg_sec_begin(&m->f);
    seg_put_dict(&m->f.buf, u->sorted, u->t.n, m->o.zstd_level);
    seg_mg_sec_end(&m->f, id);
}

/* Timestamps, level, flags, service and host, the rollup and the meta key
 * dictionary, in the writer's order; fills the row renumbering. */
int seg_mg_columns(merge *m)
{
    enum { C_INGEST, C_EVENT, C_FLAGS, C_SVC, C_N };
    strbuf b[C_N];
    intcol_stream s[C_N];
    memset(b, 0, sizeof b);
    for (int i = 0; i < C_N; i++) {
        s[i].out = &b[i];
        s[i].n = 0;
    }
    seg_rollup_acc roll = {0};
    int rc = -1;
    uint32_t src, row;
    /* each row's service and host rank: the host column is coded by service
     *, which needs them all */
    uint32_t *sv = bigmem_malloc((m->rows ? m->rows : 1) * sizeof *sv);
    uint32_t *hv = bigmem_malloc((m->rows ? m->rows : 1) * sizeof *hv);
    strbuf hosts = {0};
    m->level = bigmem_malloc(m->rows ? m->rows : 1);
    if (!sv || !hv || !m->level) {
        seg_mg_fail(m, "out of memory encoding columns");
        goto out;
    }
    seg_mg_stage(m, "columns");
    int64_t prev_i = 0, prev_e = 0;
    uint64_t o = 0;
    seg_mg_order_reset(&m->mo);
    while (seg_mg_order_next(&m->mo, &src, &row)) {
        const seg_reader *r = m->in[src];
        int64_t ing = seg_ingest_ts(r)[row], evt = seg_event_ts(r)[row];
        uint8_t level = seg_levels(r)[row];
        uint32_t svc = m->svc.map[src][seg_service_ids(r)[row]];
        intcol_push(&s[C_INGEST], o ? (int64_t)((uint64_t)ing - (uint64_t)prev_i) : ing);
        intcol_push(&s[C_EVENT], o ? (int64_t)((uint64_t)evt - (uint64_t)prev_e) : evt);
        m->level[o] = level;
        intcol_push(&s[C_FLAGS], seg_flags(r)[row]);
        intcol_push(&s[C_SVC], svc);
        sv[o] = svc;
        hv[o] = m->host.map[src][seg_host_ids(r)[row]];
        if (seg_rollup_add(&roll, evt, svc, level) < 0) {
            seg_mg_fail(m, "out of memory building the rollup");
            goto out;
        }
        if (o == 0 || ing < m->tail.min_ingest)
            m->tail.min_ingest = ing;
        if (o == 0 || ing > m->tail.max_ingest)
            m->tail.max_ingest = ing;
        if (o == 0 || evt < m->tail.min_event)
            m->tail.min_event = evt;
        if (o == 0 || evt > m->tail.max_event)
            m->tail.max_event = evt;
        prev_i = ing;
        prev_e = evt;
        m->remap[src][row] = (uint32_t)o++;
    }
    for (int i = 0; i < C_N; i++) {
        intcol_flush(&s[i]);
        if (b[i].oom) {
            seg_mg_fail(m, "out of memory encoding columns");
            goto out;
        }
    }
    seg_mg_section(&m->f, SEC_INGEST_TS, b[C_INGEST].buf, b[C_INGEST].len);
    seg_mg_section(&m->f, SEC_EVENT_TS, b[C_EVENT].buf, b[C_EVENT].len);
    seg_mg_section(&m->f, SEC_FLAGS, b[C_FLAGS].buf, b[C_FLAGS].len);
    m->tail.flags = (uint16_t)(seg_names_flag(m->svc.sorted, m->svc.t.n, SEG_FLAG_SERVICE_TERMS) |
                               seg_names_flag(m->host.sorted, m->host.t.n, SEG_FLAG_HOST_TERMS));
    m->ct.flags = m->tail.flags;
    put_union(m, SEC_SERVICE_DICT, &m->svc);
    seg_mg_section(&m->f, SEC_SERVICE, b[C_SVC].buf, b[C_SVC].len);
    put_union(m, SEC_HOST_DICT, &m->host);
    if (seg_put_hosts(&hosts, sv, hv, (size_t)o, m->svc.t.n, m->o.zstd_level) < 0) {
        seg_mg_fail(m, "out of memory encoding columns");
        goto out;
    }
    seg_mg_section(&m->f, SEC_HOST, hosts.buf, hosts.len);
    seg_mg_sec_begin(&m->f);
    seg_rollup_put(&roll, &m->f.buf);
    seg_mg_sec_end(&m->f, SEC_ROLLUP);
    put_union(m, SEC_META_KEYS, &m->keys);
    rc = m->f.bad ? seg_mg_fail(m, "cannot write the merged segment: %s", strerror(errno)) : 0;
out:
    seg_rollup_free(&roll);
    for (int i = 0; i < C_N; i++)
        sb_free(&b[i]);
    free(sv);
    free(hv);
    sb_free(&hosts);
    return rc;
}

/* ---- reading --------------------------------------------------------------------------------- */

const int64_t *seg_ingest_ts(const seg_reader *r)
{
    return r->ingest;
}
const int64_t *seg_event_ts(const seg_reader *r)
{
    return r->event;
}
int seg_event_ts_stripes(seg_reader *r, const int64_t **newest_before, const int64_t **oldest_after)
{
    size_t n = (r->info.events + SEG_TS_STRIPE_ROWS - 1) / SEG_TS_STRIPE_ROWS;
    if (!r->ts_pmax && n) {
        int64_t *pmax = malloc(n * sizeof *pmax), *smin = malloc(n * sizeof *smin);
        if (!pmax || !smin) {
            free(pmax);
            free(smin);
            return seg_rd_fail(r, "out of memory");
        }
        for (size_t s = 0; s < n; s++) { /* each stripe's newest and oldest */
            size_t from = s * SEG_TS_STRIPE_ROWS, to = from + SEG_TS_STRIPE_ROWS;
            if (to > r->info.events)
                to = r->info.events;
            pmax[s] = smin[s] = r->event[from];
            for (size_t i = from + 1; i < to; i++) {
                pmax[s] = r->event[i] > pmax[s] ? r->event[i] : pmax[s];
                smin[s] = r->event[i] < smin[s] ? r->event[i] : smin[s];
            }
        }
        for (size_t s = 1; s < n; s++) /* newest up to stripe s */
            pmax[s] = pmax[s] > pmax[s - 1] ? pmax[s] : pmax[s - 1];
        for (size_t s = n - 1; s-- > 0;) /* oldest from stripe s on */
            smin[s] = smin[s] < smin[s + 1] ? smin[s] : smin[s + 1];
        r->ts_pmax = pmax;
        r->ts_smin = smin;
    }
    *newest_before = r->ts_pmax;
    *oldest_after = r->ts_smin;
    return 0;
}

const uint32_t *seg_service_ids(const seg_reader *r)
{
    return r->service;
}
const uint32_t *seg_host_ids(const seg_reader *r)
{
    return r->host;
}
uint32_t seg_service_count(const seg_reader *r)
{
    return r->n_svc;
}
uint32_t seg_host_count(const seg_reader *r)
{
    return r->n_host;
}
strata_str seg_service_name(const seg_reader *r, uint32_t id)
{
    strata_str none = {"", 0};
    return id < r->n_svc ? r->svc_dict[id] : none;
}
strata_str seg_host_name(const seg_reader *r, uint32_t id)
{
    strata_str none = {"", 0};
    return id < r->n_host ? r->host_dict[id] : none;
}

/* Decode one intcol section of info.events values into out. */
int seg_rd_load_intcol(seg_reader *r, uint32_t id, int64_t *out)
{
    cursor c = cursor_make(r->sec[id].p, r->sec[id].len);
    if (intcol_decode(&c, out, r->info.events) < 0 || cursor_left(&c) != 0)
        return seg_rd_fail(r, "segment column %u malformed", id);
    return 0;
}

/* A dictionary section (fcdict_decode): the strings are rebuilt into one
 * allocation owned by the reader (*arena). */
int seg_rd_load_dict(seg_reader *r, uint32_t id, strata_str **out, uint32_t *n, char **arena)
{
    cursor c = cursor_make(r->sec[id].p, r->sec[id].len);
    int rc = seg_rd_dict_decode(&c, out, n, arena);
    if (rc == 0 && cursor_left(&c) != 0)
        rc = -1;
    if (rc == -2)
        return seg_rd_fail(r, "out of memory");
    if (rc < 0)
        return seg_rd_fail(r, "segment dictionary %u malformed", id);
    return 0;
}

/* Decode the fixed columns (times, flags, level, service, host) at open; -1 on corruption. */
int seg_rd_load_columns(seg_reader *r)
{
    size_t n = r->info.events ? r->info.events : 1;
    int64_t *tmp = malloc(n * sizeof *tmp);
    r->ingest = malloc(n * sizeof *r->ingest);
    r->event = malloc(n * sizeof *r->event);
    r->level = malloc(n);
    r->flags = malloc(n);
    r->service = malloc(n * sizeof *r->service);
    r->host = malloc(n * sizeof *r->host);
    int rc = -1;
    if (!tmp || !r->ingest || !r->event || !r->level || !r->flags || !r->service || !r->host) {
        seg_rd_fail(r, "out of memory");
        goto out;
    }
    if (seg_rd_load_dict(r, SEC_SERVICE_DICT, &r->svc_dict, &r->n_svc, &r->arenas[0]) < 0 ||
        seg_rd_load_dict(r, SEC_HOST_DICT, &r->host_dict, &r->n_host, &r->arenas[1]) < 0 ||
        seg_rd_load_dict(r, SEC_META_KEYS, &r->keys, &r->n_keys, &r->arenas[2]) < 0 ||
        seg_rd_load_intcol(r, SEC_INGEST_TS, r->ingest) < 0 ||
        seg_rd_load_intcol(r, SEC_EVENT_TS, r->event) < 0)
        goto out;
    if (r->n_keys > SEG_MAX_META_KEYS) {
        seg_rd_fail(r, "segment has %u meta keys (limit %u)", r->n_keys, SEG_MAX_META_KEYS);
        goto out;
    }
    uint64_t acc = 0, eacc = 0;
    for (size_t i = 0; i < r->info.events; i++) {
        if (i && r->ingest[i] < 0) {
            seg_rd_fail(r, "segment ingest_ts column not sorted");
            goto out;
        }
        acc += (uint64_t)r->ingest[i];
        r->ingest[i] = (int64_t)acc;
        eacc += (uint64_t)r->event[i];
        r->event[i] = (int64_t)eacc;
    }
    if (r->info.events && (r->ingest[0] != r->info.min_ingest_ns ||
                           r->ingest[r->info.events - 1] != r->info.max_ingest_ns)) {
        seg_rd_fail(r, "segment time range does not match its column");
        goto out;
    }
    if (seg_rd_load_levels(r, tmp) < 0)
        goto out;
    static const uint32_t ids[] = {SEC_FLAGS, SEC_SERVICE};
    for (size_t k = 0; k < 2; k++) {
        if (seg_rd_load_intcol(r, ids[k], tmp) < 0)
            goto out;
        for (size_t i = 0; i < r->info.events; i++) {
            int64_t v = tmp[i];
            if (v < 0 || v > (k == 0 ? 255 : (int64_t)r->n_svc - 1)) {
                seg_rd_fail(r, "segment column %u has an out-of-range value", ids[k]);
                goto out;
            }
            if (k == 0)
                r->flags[i] = (uint8_t)v;
            else
                r->service[i] = (uint32_t)v;
        }
    }
    /* coded by service or plain (segment/hostcol.c): after the services */
    cursor c = cursor_make(r->sec[SEC_HOST].p, r->sec[SEC_HOST].len);
    const char *why =
        seg_get_hosts(&c, r->service, r->n_svc, r->n_host, r->host, r->info.events, tmp);
    if (why || cursor_left(&c)) {
        seg_rd_fail(r, "segment column %u malformed: %s", SEC_HOST,
                    why ? why : "bytes after the column");
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    return rc;
}

/* Decode SEC_ROLLUP: cells strictly ordered, ids in range, counts
 * summing to the segment's events. */
int seg_rd_load_rollup(seg_reader *r)
{
    cursor c = cursor_make(r->sec[SEC_ROLLUP].p, r->sec[SEC_ROLLUP].len);
    uint64_t n = get_varint(&c);
    if (c.bad || n > r->info.events || n > cursor_left(&c) / 4 + 1)
        return seg_rd_fail(r, "segment rollup malformed");
    r->rollup = malloc((n ? n : 1) * sizeof *r->rollup);
    if (!r->rollup)
        return seg_rd_fail(r, "out of memory");
    int64_t minute = 0;
    uint64_t total = 0;
    for (uint64_t i = 0; i < n && !c.bad; i++) {
        seg_rollup_cell *e = &r->rollup[i];
        minute += unzigzag(get_varint(&c));
        e->minute = minute;
        uint64_t svc = get_varint(&c);
        e->level = get_u8(&c);
        e->count = get_varint(&c);
        e->service = (uint32_t)svc;
        if (svc >= r->n_svc || e->level > STRATA_LEVEL_FATAL || !e->count ||
            e->count > r->info.events)
            c.bad = 1;
        if (i && !c.bad) { /* strictly increasing (minute, service, level) */
            const seg_rollup_cell *p = &r->rollup[i - 1];
            if (p->minute > e->minute ||
                (p->minute == e->minute &&
                 (p->service > e->service || (p->service == e->service && p->level >= e->level))))
                c.bad = 1;
        }
        total += e->count;
    }
    if (c.bad || cursor_left(&c) != 0 || total != r->info.events)
        return seg_rd_fail(r, "segment rollup malformed");
    r->nrollup = (size_t)n;
    return 0;
}

/* The rollup cells (count per minute, service and level) as stored, with how many. */
const seg_rollup_cell *seg_rollup(const seg_reader *r, size_t *n)
{
    *n = r->nrollup;
    return r->rollup;
}
