/*
 * plugins/query/search/agg.c - POST /v1/aggregate: matching events counted
 * (or measured) per time bucket and group.
 *
 * Two paths. When the query is exact on the index and the answer needs only
 * columns (metric count, groups among service, host and level), a segment
 * is answered from its postings and columns alone: no row block is
 * decompressed, and counts are gathered per segment under integer keys
 * (dictionary ids) before being merged under names. Otherwise (meta groups,
 * numeric metrics, distinct counts, phrases, regexes) each candidate row is
 * decoded once, only the parts the request reads (seg_row_parts): without
 * its message (only the block's meta frame is decompressed) unless the
 * query itself reads messages, without service and host unless asked.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "codec.h"
#include "format.h"
#include "search.h"
#include "timefmt.h"

/* One bucket x group: its key holds the bucket number and the group values. */
typedef struct agg_entry {
    uint64_t h;
    char *key; /* i64 bucket, then per group: u8 present, u32 len, bytes */
    size_t klen;
    uint64_t count;
    uint64_t nnum; /* numeric values seen */
    double sum, min, max;
    double *samples; /* for percentiles */
    uint32_t nsamples;
    uint64_t *distinct; /* open-addressing set of value hashes (0 = empty) */
    uint32_t ndistinct, dcap;
    int distinct_capped;
} agg_entry;

typedef struct agg {
    sctx *c;
    const sreq *r;
    agg_entry *e; /* open addressing on h */
    size_t cap, n;
    uint64_t hits, scanned, bytes;
    uint64_t rollups;    /* segments answered from their rollup */
    uint64_t msg_rows;   /* stored rows whose message was decompressed */
    uint64_t block_rows; /* stored rows read from their row block (message or meta) */
    int partial;
    const char *partial_why;
    int oom, too_many;
    uint64_t rng;
    q_scratch *scratch; /* this thread's matcher scratch */
} agg;

/* The slot of a's open-addressed table holding key (hash h), or the empty slot where it goes. */
static size_t slot_of(const agg *a, uint64_t h, const char *key, size_t klen)
{
    size_t i = h & (a->cap - 1);
    while (a->e[i].key &&
           (a->e[i].h != h || a->e[i].klen != klen || memcmp(a->e[i].key, key, klen) != 0))
        i = (i + 1) & (a->cap - 1);
    return i;
}

/* Double a's table (1,024 slots at first) and rehash its entries; -1 on OOM. */
static int grow(agg *a)
{
    size_t cap = a->cap ? a->cap * 2 : 1024;
    agg_entry *e = calloc(cap, sizeof *e);
    if (!e)
        return -1;
    agg old = *a;
    a->e = e;
    a->cap = cap;
    for (size_t i = 0; i < old.cap; i++)
        if (old.e[i].key)
            a->e[slot_of(a, old.e[i].h, old.e[i].key, old.e[i].klen)] = old.e[i];
    free(old.e);
    return 0;
}

/* The entry for a key, created empty. NULL on OOM or past AGG_MAX_BUCKETS. */
static agg_entry *entry(agg *a, const char *key, size_t klen)
{
    if ((a->n + 1) * 2 > a->cap && grow(a) < 0) {
        a->oom = 1;
        return NULL;
    }
    uint64_t h = XXH3_64bits(key, klen);
    size_t i = slot_of(a, h, key, klen);
    agg_entry *e = &a->e[i];
    if (e->key)
        return e;
    if (a->n >= AGG_MAX_BUCKETS) {
        a->too_many = 1;
        return NULL;
    }
    e->key = malloc(klen ? klen : 1);
    if (!e->key) {
        a->oom = 1;
        return NULL;
    }
    memcpy(e->key, key, klen);
    e->klen = klen;
    e->h = h;
    e->min = INFINITY;
    e->max = -INFINITY;
    a->n++;
    return e;
}

/* The interval bucket of a timestamp (floor division, so times before 1970 land right); 0 without
 * an interval. */
static int64_t bucket_of(const sreq *r, int64_t ts)
{
    if (!r->interval_ns)
        return 0;
    int64_t b = ts / r->interval_ns;
    if (ts % r->interval_ns < 0)
        b--;
    return b;
}

/* Key building. */
typedef struct kbuf {
    char b[8 + AGG_MAX_GROUPS * (5 + 1024)];
    size_t n;
} kbuf;

/* Start a group key with its bucket. */
static void key_start(kbuf *k, int64_t bucket)
{
    memcpy(k->b, &bucket, 8);
    k->n = 8;
}

/* Append one group value to a key: a present flag, then its length and bytes (at most 1 KiB). */
static void key_add(kbuf *k, int present, const char *s, size_t len)
{
    if (len > 1024)
        len = 1024;
    k->b[k->n++] = (char)present;
    uint32_t l = (uint32_t)(present ? len : 0);
    memcpy(k->b + k->n, &l, 4);
    k->n += 4;
    if (present) {
        memcpy(k->b + k->n, s, len);
        k->n += len;
    }
}

/* The first value of meta key `key` in ev (not null), or NULL. */
static const strata_kv *meta_of(const strata_event *ev, const char *key)
{
    size_t kl = strlen(key);
    for (uint32_t i = 0; i < ev->meta_count; i++)
        if (ev->meta[i].key.len == kl && !memcmp(ev->meta[i].key.ptr, key, kl) &&
            ev->meta[i].type != STRATA_VALUE_NULL)
            return &ev->meta[i];
    return NULL;
}

/* Add a value's hash (never 0: 0 marks an empty slot) to the entry's set. */
static void distinct_add_hash(agg_entry *e, uint64_t h)
{
    if (e->distinct_capped)
        return;
    if ((e->ndistinct + 1) * 2 > e->dcap) {
        if (e->ndistinct >= AGG_MAX_DISTINCT) {
            e->distinct_capped = 1;
            return;
        }
        uint32_t cap = e->dcap ? e->dcap * 2 : 64;
        uint64_t *d = calloc(cap, sizeof *d);
        if (!d) {
            e->distinct_capped = 1;
            return;
        }
        for (uint32_t i = 0; i < e->dcap; i++)
            if (e->distinct[i]) {
                uint32_t k = (uint32_t)(e->distinct[i] & (cap - 1));
                while (d[k])
                    k = (k + 1) & (cap - 1);
                d[k] = e->distinct[i];
            }
        free(e->distinct);
        e->distinct = d;
        e->dcap = cap;
    }
    uint32_t k = (uint32_t)(h & (e->dcap - 1));
    while (e->distinct[k]) {
        if (e->distinct[k] == h)
            return;
        k = (k + 1) & (e->dcap - 1);
    }
    e->distinct[k] = h;
    e->ndistinct++;
}

/* Count a value towards count_distinct by its 64-bit hash. */
static void distinct_add(agg_entry *e, const char *s, size_t n)
{
    uint64_t h = XXH3_64bits(s, n);
    distinct_add_hash(e, h ? h : 1);
}

/* Keep v among the entry's percentile samples (e->nnum already counts it):
 * all of them up to AGG_MAX_SAMPLES, then a uniform reservoir. */
static void sample_add(agg *a, agg_entry *e, double v)
{
    if (e->nsamples < AGG_MAX_SAMPLES) {
        e->samples[e->nsamples++] = v;
    } else { /* reservoir: each value kept with probability SAMPLES/nnum */
        a->rng ^= a->rng << 13;
        a->rng ^= a->rng >> 7;
        a->rng ^= a->rng << 17;
        uint64_t j = a->rng % e->nnum;
        if (j < AGG_MAX_SAMPLES)
            e->samples[j] = v;
    }
}

/* Add a number to an entry's count, sum, min, max and percentile samples. */
static void number_add(agg *a, agg_entry *e, double v)
{
    e->nnum++;
    e->sum += v;
    if (v < e->min)
        e->min = v;
    if (v > e->max)
        e->max = v;
    int pct = a->r->metric == MET_P50 || a->r->metric == MET_P95 || a->r->metric == MET_P99;
    if (!pct)
        return;
    if (!e->samples) {
        e->samples = malloc(AGG_MAX_SAMPLES * sizeof *e->samples);
        if (!e->samples)
            return;
    }
    sample_add(a, e, v);
}

/* Group value of a full event. */
static void group_value(const agg *a, int g, const strata_event *ev, kbuf *k)
{
    switch (a->r->group[g]) {
    case GB_SERVICE: key_add(k, 1, ev->service.ptr, ev->service.len); break;
    case GB_HOST: key_add(k, 1, ev->host.ptr, ev->host.len); break;
    case GB_LEVEL: {
        const char *l = strata_level_name(ev->level);
        key_add(k, 1, l, strlen(l));
        break;
    }
    default: {
        const strata_kv *kv = meta_of(ev, a->r->group_key[g]);
        key_add(k, kv != NULL, kv ? kv->value.ptr : "", kv ? kv->value.len : 0);
    }
    }
}

/* The entry of a matching event's bucket (bucket_of its event time) and
 * groups, its count raised; NULL on OOM. */
static agg_entry *count_event(agg *a, const strata_event *ev, int64_t bucket)
{
    const sreq *r = a->r;
    kbuf k;
    key_start(&k, bucket);
    for (int g = 0; g < r->ngroups; g++)
        group_value(a, g, ev, &k);
    agg_entry *e = entry(a, k.b, k.n);
    if (e)
        e->count++;
    return e;
}

/* Account one matching event (the row path). */
static void agg_event(agg *a, const strata_event *ev)
{
    const sreq *r = a->r;
    agg_entry *e = count_event(a, ev, bucket_of(r, ev->event_ts_ns));
    if (!e || r->metric == MET_COUNT)
        return;
    const char *f = r->metric_field;
    if (r->metric == MET_DISTINCT) {
        if (!strcmp(f, "service"))
            distinct_add(e, ev->service.ptr, ev->service.len);
        else if (!strcmp(f, "host"))
            distinct_add(e, ev->host.ptr, ev->host.len);
        else if (!strcmp(f, "level"))
            distinct_add(e, strata_level_name(ev->level), strlen(strata_level_name(ev->level)));
        else {
            const strata_kv *kv = meta_of(ev, f + 5);
            if (kv)
                distinct_add(e, kv->value.ptr, kv->value.len);
        }
        return;
    }
    double v;
    if (q_value_number(meta_of(ev, f + 5), &v))
        number_add(a, e, v);
}

/* Aggregate one event of the indexer's head that lies in the range and matches the query. */
static int head_event(void *ud, const strata_event *ev)
{
    agg *a = ud;
    if (ev->event_ts_ns < a->r->from_ns || ev->event_ts_ns >= a->r->to_ns)
        return 0;
    a->scanned++;
    if (!q_match(a->r->q, ev, a->scratch))
        return 0;
    a->hits++;
    agg_event(a, ev);
    return 0;
}

/* Can the answer come from postings and columns alone? */
static int columns_only(const sreq *r)
{
    if (!q_is_exact(r->q) || r->metric != MET_COUNT)
        return 0;
    for (int g = 0; g < r->ngroups; g++)
        if (r->group[g] == GB_META)
            return 0;
    return 1;
}

/* Per-segment counts under integer keys (bucket, ids), merged by name. */
typedef struct ient {
    int64_t bucket;
    uint32_t id[AGG_MAX_GROUPS];
    uint64_t count;
    int used;
} ient;

/* Hash a group key made of a bucket and dictionary ids. */
static uint64_t ikey_hash(int64_t b, const uint32_t *id)
{
    uint64_t h = (uint64_t)b * 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < AGG_MAX_GROUPS; i++)
        h = (h ^ id[i]) * 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 31);
}

/* The group ids of a row in the columns path. */
static void row_ids(const sreq *r, const uint32_t *svc, const uint32_t *host, const uint8_t *lvl,
                    uint32_t row, uint32_t *id)
{
    for (int g = 0; g < r->ngroups; g++)
        id[g] = r->group[g] == GB_SERVICE ? svc[row]
                : r->group[g] == GB_HOST  ? host[row]
                                          : lvl[row];
}

/* Add a count under (bucket, ids), naming the ids from the segment. */
static void add_named(agg *a, seg_reader *rd, int64_t bucket, const uint32_t *id, uint64_t n)
{
    const sreq *r = a->r;
    kbuf k;
    key_start(&k, bucket);
    for (int g = 0; g < r->ngroups; g++) {
        strata_str s;
        if (r->group[g] == GB_SERVICE)
            s = seg_service_name(rd, id[g]);
        else if (r->group[g] == GB_HOST)
            s = seg_host_name(rd, id[g]);
        else
            s = strata_cstr(strata_level_name((int)id[g]));
        key_add(&k, 1, s.ptr, s.len);
    }
    agg_entry *e = entry(a, k.b, k.n);
    if (e)
        e->count += n;
}

/* Counts in a dense array of buckets x group ids, when the segment's time
 * span and dictionaries make it small (the usual dashboard: a few hundred
 * services, minutes to hours): one increment per row, no hashing.
 * Returns 1 when done, 0 when the array would be too large. */
static int segment_dense(agg *a, seg_reader *rd, const roaring_bitmap_t *rows, int *failed)
{
    const sreq *r = a->r;
    const int ng = r->ngroups < AGG_MAX_GROUPS ? r->ngroups : AGG_MAX_GROUPS;
    const seg_info *info = seg_get_info(rd);
    if (!info->events)
        return 1;
    int64_t lo = info->min_event_ns > r->from_ns ? info->min_event_ns : r->from_ns;
    int64_t hi = info->max_event_ns < r->to_ns - 1 ? info->max_event_ns : r->to_ns - 1;
    if (lo > hi)
        return 1;
    int64_t b0 = bucket_of(r, lo);
    uint64_t cells = (uint64_t)(bucket_of(r, hi) - b0 + 1);
    uint64_t card[AGG_MAX_GROUPS] = {1, 1, 1};
    for (int g = 0; g < ng; g++) {
        card[g] = r->group[g] == GB_SERVICE ? seg_service_count(rd)
                  : r->group[g] == GB_HOST  ? seg_host_count(rd)
                                            : STRATA_LEVEL_FATAL + 1;
        if (!card[g])
            card[g] = 1;
        if (cells > AGG_DENSE_MAX_CELLS / card[g])
            return 0;
        cells *= card[g];
    }
    uint64_t *c = calloc(cells, sizeof *c);
    if (!c) {
        *failed = 1;
        return 1;
    }
    const int64_t *ts = seg_event_ts(rd);
    const uint32_t *svc = seg_service_ids(rd), *host = seg_host_ids(rd);
    const uint8_t *lvl = seg_levels(rd);
    uint64_t n = roaring_bitmap_get_cardinality(rows);
    int all = n == info->events; /* every row: walk the columns, not the bitmap */
    roaring_uint32_iterator_t *it = all ? NULL : roaring_create_iterator(rows);
    if (!all && !it) {
        free(c);
        *failed = 1;
        return 1;
    }
    for (uint64_t j = 0; j < n; j++) {
        uint32_t row = all ? (uint32_t)j : it->current_value;
        if (!all)
            roaring_advance_uint32_iterator(it);
        if (ts[row] < r->from_ns || ts[row] >= r->to_ns)
            continue;
        uint32_t id[AGG_MAX_GROUPS];
        row_ids(r, svc, host, lvl, row, id);
        uint64_t idx = (uint64_t)(bucket_of(r, ts[row]) - b0);
        for (int g = 0; g < ng; g++)
            idx = idx * card[g] + (id[g] < card[g] ? id[g] : 0);
        c[idx]++;
        a->hits++;
    }
    if (it)
        roaring_free_uint32_iterator(it);
    for (uint64_t i = 0; i < cells; i++) {
        if (!c[i])
            continue;
        uint32_t id[AGG_MAX_GROUPS] = {0};
        uint64_t rest = i;
        for (int g = AGG_MAX_GROUPS - 1; g >= 0; g--) { /* card[g] is 1 past ng */
            id[g] = (uint32_t)(rest % card[g]);
            rest /= card[g];
        }
        add_named(a, rd, b0 + (int64_t)rest, id, c[i]);
    }
    free(c);
    return 1;
}

/* Aggregate a segment's matching rows from its columns alone (never a row block), densely by
 * dictionary ids where it can. */
static int segment_columns(agg *a, seg_reader *rd, const roaring_bitmap_t *rows)
{
    int failed = 0;
    if (segment_dense(a, rd, rows, &failed))
        return failed ? -1 : 0;
    const sreq *r = a->r;
    const int64_t *ts = seg_event_ts(rd);
    const uint32_t *svc = seg_service_ids(rd), *host = seg_host_ids(rd);
    const uint8_t *lvl = seg_levels(rd);
    size_t cap = 1024, n = 0;
    ient *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    roaring_uint32_iterator_t *it = roaring_create_iterator(rows);
    if (!it) {
        free(t);
        return -1;
    }
    for (; it->has_value; roaring_advance_uint32_iterator(it)) {
        uint32_t row = it->current_value;
        if (ts[row] < r->from_ns || ts[row] >= r->to_ns)
            continue;
        a->hits++;
        uint32_t id[AGG_MAX_GROUPS] = {0};
        row_ids(r, svc, host, lvl, row, id);
        int64_t b = bucket_of(r, ts[row]);
        if ((n + 1) * 2 > cap) {
            ient *nt = calloc(cap * 2, sizeof *nt);
            if (!nt) {
                roaring_free_uint32_iterator(it);
                free(t);
                return -1;
            }
            for (size_t i = 0; i < cap; i++)
                if (t[i].used) {
                    size_t j = ikey_hash(t[i].bucket, t[i].id) & (cap * 2 - 1);
                    while (nt[j].used)
                        j = (j + 1) & (cap * 2 - 1);
                    nt[j] = t[i];
                }
            free(t);
            t = nt;
            cap *= 2;
        }
        size_t j = ikey_hash(b, id) & (cap - 1);
        while (t[j].used && (t[j].bucket != b || memcmp(t[j].id, id, sizeof id) != 0))
            j = (j + 1) & (cap - 1);
        if (!t[j].used) {
            t[j].used = 1;
            t[j].bucket = b;
            memcpy(t[j].id, id, sizeof id);
            n++;
        }
        t[j].count++;
    }
    roaring_free_uint32_iterator(it);
    for (size_t i = 0; i < cap; i++)
        if (t[i].used)
            add_named(a, rd, t[i].bucket, t[i].id, t[i].count);
    free(t);
    return 0;
}

/* The parts of a stored row the request reads (SEG_PART_*): the message
 * only for a query with message terms, meta for meta groups, metrics and
 * clauses, names for service and host. An exact query (its postings are
 * the answer) reads nothing for itself; with `cols`, meta comes from the
 * segment's meta columns instead. */
static unsigned row_parts(const sreq *r, int exact, int cols)
{
    unsigned reads = exact ? 0 : q_reads(r->q), parts = 0;
    if (reads & Q_READS_MSG)
        parts |= SEG_PART_MSG;
    if (reads & Q_READS_META)
        parts |= SEG_PART_META;
    if (reads & (Q_READS_SERVICE | Q_READS_HOST))
        parts |= SEG_PART_NAMES;
    for (int g = 0; g < r->ngroups; g++)
        parts |= r->group[g] == GB_META    ? SEG_PART_META
                 : r->group[g] == GB_LEVEL ? 0
                                           : SEG_PART_NAMES;
    const char *f = r->metric_field;
    if (f)
        parts |= strncmp(f, "meta.", 5) == 0 ? SEG_PART_META
                 : strcmp(f, "level") == 0   ? 0
                                             : SEG_PART_NAMES;
    return cols ? parts & ~SEG_PART_META : parts;
}

/* The meta a request reads (groups over meta.KEY, a metric over one), when
 * the segment holds every one of them as a meta column: then no row block
 * is decompressed at all. */
typedef struct colplan {
    const seg_column *group[AGG_MAX_GROUPS]; /* for GB_META groups */
    const seg_column *metric;                /* for a meta.KEY metric field */
} colplan;

/* 1 when the columns can serve the request, 0 when not, -1 on a corrupt
 * column. Numeric metrics need a numeric column. */
static int plan_columns(const sreq *r, seg_reader *rd, colplan *p)
{
    memset(p, 0, sizeof *p);
    if (!seg_meta_column_count(rd))
        return 0;
    for (int g = 0; g < r->ngroups; g++) {
        if (r->group[g] != GB_META)
            continue;
        const char *k = r->group_key[g];
        int rc = seg_meta_column(rd, k, strlen(k), &p->group[g]);
        if (rc <= 0)
            return rc;
    }
    const char *f = r->metric_field;
    if (f && !strncmp(f, "meta.", 5)) {
        int rc = seg_meta_column(rd, f + 5, strlen(f + 5), &p->metric);
        if (rc <= 0)
            return rc;
        if (r->metric != MET_DISTINCT && p->metric->kind != SEG_META_COL_NUMBER)
            return 0;
    }
    return 1;
}

/* Row `row`'s value of a column as a meta entry; 0 when it has none. */
static int column_kv(const seg_column *c, uint32_t row, const char *key, char *num, strata_kv *kv)
{
    if (!c->has[row])
        return 0;
    kv->key = strata_cstr(key);
    if (c->kind == SEG_META_COL_NUMBER) { /* printed as the reader prints it in rows */
        kv->value.ptr = num;
        kv->value.len = (uint32_t)fmt_i64(num, c->num[row]);
        kv->type = STRATA_VALUE_INT;
    } else {
        kv->value = c->values[c->id[row]];
        kv->type = STRATA_VALUE_STRING;
    }
    return 1;
}

/* Give ev the meta the request reads, from the columns of the plan. */
static void meta_from_plan(const sreq *r, const colplan *p, uint32_t row, strata_event *ev,
                           strata_kv *kv, char (*num)[CODEC_I64_CHARS])
{
    uint32_t n = 0;
    for (int g = 0; g < r->ngroups; g++)
        if (p->group[g])
            n += (uint32_t)column_kv(p->group[g], row, r->group_key[g], num[n], &kv[n]);
    if (p->metric)
        n += (uint32_t)column_kv(p->metric, row, r->metric_field + 5, num[n], &kv[n]);
    ev->meta = kv;
    ev->meta_count = n;
}

/* count_distinct of a dictionary column with no groups: each value is
 * hashed once per segment, not once per row, and added to its bucket's
 * set once per run of rows in that bucket (rows come in time order, so
 * runs are long). */
typedef struct dict_distinct {
    const seg_column *col;
    uint64_t *hash;    /* per value id, 0 until computed */
    uint64_t *seen;    /* bit per value id: added during this run */
    uint32_t *touched; /* ids set in seen */
    size_t ntouched;
    int64_t bucket; /* of the current run */
} dict_distinct;

/* Set up dd for a request and plan it serves, for `rows` candidate rows;
 * 0 when it does not apply (or on OOM: the general path then does the
 * work). */
static int dict_distinct_init(dict_distinct *dd, const sreq *r, const colplan *p, uint64_t rows)
{
    memset(dd, 0, sizeof *dd);
    if (r->metric != MET_DISTINCT || r->ngroups || !p->metric ||
        p->metric->kind != SEG_META_COL_DICT)
        return 0;
    size_t n = p->metric->nvalues ? p->metric->nvalues : 1;
    dd->col = p->metric;
    dd->hash = calloc(n, sizeof *dd->hash);
    dd->seen = calloc((n + 63) / 64, sizeof *dd->seen);
    dd->touched = malloc(n * sizeof *dd->touched);
    dd->bucket = INT64_MIN;
    if (!dd->hash || !dd->seen || !dd->touched) {
        free(dd->hash);
        free(dd->seen);
        free(dd->touched);
        return 0;
    }
    /* with many rows to read, every value's hash in the order the values
     * are stored: most values are met, and one sequential pass beats three
     * cache misses (the hash, the value, its bytes) at each value's first
     * row. With few rows, each value is hashed when first met. */
    if (rows < p->metric->nvalues / AGG_PREHASH_SHARE)
        return 1;
    for (uint32_t id = 0; id < p->metric->nvalues; id++) {
        strata_str v = p->metric->values[id];
        uint64_t h = XXH3_64bits(v.ptr, v.len);
        dd->hash[id] = h ? h : 1;
    }
    return 1;
}

/* Free a per-dictionary distinct counter's arrays. */
static void dict_distinct_free(dict_distinct *dd)
{
    free(dd->hash);
    free(dd->seen);
    free(dd->touched);
}

/* Account row `row` (matching, its entry e counted) for the distinct metric. */
static void dict_distinct_add(dict_distinct *dd, agg_entry *e, int64_t bucket, uint32_t row)
{
    if (bucket != dd->bucket) { /* a new run: forget what it added */
        for (size_t i = 0; i < dd->ntouched; i++)
            dd->seen[dd->touched[i] / 64] = 0;
        dd->ntouched = 0;
        dd->bucket = bucket;
    }
    if (!dd->col->has[row])
        return;
    uint32_t id = dd->col->id[row];
    uint64_t bit = 1ull << (id % 64);
    if (dd->seen[id / 64] & bit)
        return;
    dd->seen[id / 64] |= bit;
    dd->touched[dd->ntouched++] = id;
    if (!dd->hash[id]) { /* as distinct_add hashes it, so sets merge */
        strata_str v = dd->col->values[id];
        uint64_t h = XXH3_64bits(v.ptr, v.len);
        dd->hash[id] = h ? h : 1;
    }
    distinct_add_hash(e, dd->hash[id]);
}

/* Aggregate a segment's candidate rows by decoding them (meta groups, numeric metrics,
 * verified queries): only the parts of a row the request reads. 0, or -1 with err. */
static int segment_rows(agg *a, seg_reader *rd, const roaring_bitmap_t *rows, int exact, char *err,
                        size_t errlen)
{
    const sreq *r = a->r;
    const int64_t *ts = seg_event_ts(rd);
    colplan plan;
    int cols = exact ? plan_columns(r, rd, &plan) : 0;
    if (cols < 0) {
        snprintf(err, errlen, "%s", seg_error(rd));
        return -1;
    }
    roaring_uint32_iterator_t *it = roaring_create_iterator(rows);
    if (!it)
        return -1;
    uint64_t seen = 0;
    int rc = 0;
    unsigned parts = row_parts(r, exact, cols);
    dict_distinct dd;
    int fast = cols && dict_distinct_init(&dd, r, &plan, roaring_bitmap_get_cardinality(rows));
    strata_kv kv[AGG_MAX_GROUPS + 1];
    char num[AGG_MAX_GROUPS + 1][CODEC_I64_CHARS];
    int64_t run_bucket = INT64_MIN; /* the fast path's current bucket and entry */
    agg_entry *run_e = NULL;
    for (; it->has_value; roaring_advance_uint32_iterator(it)) {
        uint32_t row = it->current_value;
        if (ts[row] < r->from_ns || ts[row] >= r->to_ns)
            continue;
        const char *why =
            ++seen % SEARCH_CHECK_EVERY == 0 ? sctx_stop_reason(a->c, a->bytes) : NULL;
        if (why) {
            a->partial = 1;
            a->partial_why = why;
            break;
        }
        if (fast && !parts) {
            /* only the time and the column are read: no event is built,
             * and the bucket's entry is looked up when the bucket changes
             * (rows come in time order), not once per row */
            a->hits++;
            int64_t bucket = bucket_of(r, ts[row]);
            if (bucket != run_bucket || !run_e) {
                kbuf k;
                key_start(&k, bucket);
                run_e = entry(a, k.b, k.n);
                run_bucket = bucket;
            }
            if (run_e) {
                run_e->count++;
                dict_distinct_add(&dd, run_e, bucket, row);
            }
            continue;
        }
        strata_event ev;
        if (seg_row_parts(rd, row, &ev, parts) < 0) {
            snprintf(err, errlen, "%s", seg_error(rd));
            rc = -1;
            break;
        }
        if (cols && !fast) /* the fast path reads its column itself */
            meta_from_plan(r, &plan, row, &ev, kv, num);
        a->bytes += ev.msg.len;
        a->msg_rows += (parts & SEG_PART_MSG) != 0;
        a->block_rows += (parts & (SEG_PART_MSG | SEG_PART_META)) != 0;
        for (uint32_t k = 0; k < ev.meta_count; k++)
            a->bytes += ev.meta[k].value.len;
        if (!exact && !q_match(r->q, &ev, a->scratch))
            continue;
        a->hits++;
        if (fast) {
            int64_t bucket = bucket_of(r, ev.event_ts_ns);
            agg_entry *e = count_event(a, &ev, bucket);
            if (e)
                dict_distinct_add(&dd, e, bucket, row);
        } else {
            agg_event(a, &ev);
        }
    }
    roaring_free_uint32_iterator(it);
    if (fast)
        dict_distinct_free(&dd);
    return rc;
}

/* Order result entries by bucket, then by key. */
static int cmp_entries(const void *x, const void *y)
{
    const agg_entry *a = x, *b = y;
    int64_t ba, bb;
    memcpy(&ba, a->key, 8);
    memcpy(&bb, b->key, 8);
    if (ba != bb)
        return ba < bb ? -1 : 1;
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(a->key + 8, b->key + 8, n - 8);
    return c ? c : (a->klen > b->klen) - (a->klen < b->klen);
}

/* The k-th smallest of v[0..n) (k < n), moving values around: quickselect
 * with a median-of-three pivot, linear on average where a sort is n log n
 * (percentiles of 10,000 samples per bucket, for every bucket). */
static double select_kth(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        double a = v[lo], b = v[mid], c = v[hi];
        double pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                double t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

/* The name of metric m as requests and answers spell it. */
static const char *metric_name(int m)
{
    static const char *const names[] = {
        "count", "count_distinct", "min", "max", "avg", "p50", "p95", "p99"};
    return names[m];
}

/* Append the value of an entry for the request's metric. */
static void put_value(strbuf *out, const sreq *r, agg_entry *e)
{
    switch (r->metric) {
    case MET_COUNT: sb_printf(out, "%llu", (unsigned long long)e->count); return;
    case MET_DISTINCT: sb_printf(out, "%u", e->ndistinct); return;
    default: break;
    }
    if (!e->nnum) {
        sb_puts(out, "null");
        return;
    }
    double v = 0;
    if (r->metric == MET_MIN) {
        v = e->min;
    } else if (r->metric == MET_MAX) {
        v = e->max;
    } else if (r->metric == MET_AVG) {
        v = e->sum / (double)e->nnum;
    } else if (e->samples && e->nsamples) {
        double p = r->metric == MET_P50 ? 0.50 : r->metric == MET_P95 ? 0.95 : 0.99;
        size_t i = (size_t)ceil(p * (double)e->nsamples);
        v = select_kth(e->samples, e->nsamples, i ? i - 1 : 0);
    } else {
        sb_puts(out, "null");
        return;
    }
    sb_printf(out, "%.17g", v);
}

/* The name of group-by field g, as JSON. */
static void group_name(strbuf *out, const sreq *r, int g)
{
    if (r->group[g] == GB_SERVICE)
        sb_puts(out, "\"service\"");
    else if (r->group[g] == GB_HOST)
        sb_puts(out, "\"host\"");
    else if (r->group[g] == GB_LEVEL)
        sb_puts(out, "\"level\"");
    else {
        char name[1100];
        snprintf(name, sizeof name, "meta.%s", r->group_key[g]);
        sb_json_strn(out, name, strlen(name));
    }
}

/* Write the answer: buckets in order with their groups and metric values, and the totals. */
static void respond(agg *a, strbuf *out, int64_t took)
{
    const sreq *r = a->r;
    agg_entry *list = malloc((a->n ? a->n : 1) * sizeof *list);
    size_t n = 0;
    for (size_t i = 0; list && i < a->cap; i++)
        if (a->e[i].key)
            list[n++] = a->e[i];
    if (list)
        qsort(list, n, sizeof *list, cmp_entries);
    sb_reset(out);
    sb_printf(out,
              "{\"hits\":%llu,\"scanned\":%llu,\"rollup_segments\":%llu,"
              "\"message_rows\":%llu,\"block_rows\":%llu,\"took_ms\":%lld,\"partial\":%s,",
              (unsigned long long)a->hits, (unsigned long long)a->scanned,
              (unsigned long long)a->rollups, (unsigned long long)a->msg_rows,
              (unsigned long long)a->block_rows, (long long)took, a->partial ? "true" : "false");
    if (a->partial)
        sb_printf(out, "\"partial_reason\":\"%s\",", a->partial_why);
    sb_printf(out, "\"metric\":\"%s\",", metric_name(r->metric));
    if (r->metric_field) {
        sb_puts(out, "\"field\":");
        sb_json_strn(out, r->metric_field, strlen(r->metric_field));
        sb_puts(out, ",");
    }
    sb_printf(out, "\"interval_ms\":%lld,\"group_by\":[", (long long)(r->interval_ns / 1000000));
    for (int g = 0; g < r->ngroups; g++) {
        if (g)
            sb_puts(out, ",");
        group_name(out, r, g);
    }
    sb_puts(out, "],\"buckets\":[");
    for (size_t i = 0; list && i < n; i++) {
        agg_entry *e = &list[i];
        int64_t b;
        memcpy(&b, e->key, 8);
        if (i)
            sb_puts(out, ",");
        sb_puts(out, "{\"ts\":");
        if (r->interval_ns) {
            char ts[48];
            sb_puts(out, "\"");
            sb_append(out, ts, format_rfc3339(b * r->interval_ns, ts, sizeof ts));
            sb_puts(out, "\"");
        } else {
            sb_puts(out, "null");
        }
        sb_puts(out, ",\"group\":{");
        size_t off = 8;
        for (int g = 0; g < r->ngroups; g++) {
            if (g)
                sb_puts(out, ",");
            group_name(out, r, g);
            sb_puts(out, ":");
            int present = (unsigned char)e->key[off];
            uint32_t len;
            memcpy(&len, e->key + off + 1, 4);
            if (present)
                sb_json_strn(out, e->key + off + 5, len);
            else
                sb_puts(out, "null");
            off += 5 + len;
        }
        sb_printf(out, "},\"count\":%llu,\"value\":", (unsigned long long)e->count);
        put_value(out, r, e);
        if (r->metric == MET_DISTINCT && e->distinct_capped)
            sb_puts(out, ",\"value_relation\":\"gte\"");
        sb_puts(out, "}");
    }
    sb_puts(out, "]}");
    free(list);
}

/* Free an aggregation's table and what its entries hold. */
static void agg_free(agg *a)
{
    for (size_t i = 0; i < a->cap; i++) {
        free(a->e[i].key);
        free(a->e[i].samples);
        free(a->e[i].distinct);
    }
    free(a->e);
}

/* Can this segment's rollup answer (counts per minute x service x level)?
 * Only for the whole event set of the segment (no query text or filters,
 * the segment's time span inside the range), groups among service and
 * level, and buckets made of whole minutes. */
static int rollup_fits(const agg *a, seg_reader *rd)
{
    const sreq *r = a->r;
    size_t n;
    const seg_info *info = seg_get_info(rd);
    if (!q_is_all(r->q) || r->metric != MET_COUNT || !seg_rollup(rd, &n) ||
        info->min_event_ns < r->from_ns || info->max_event_ns >= r->to_ns ||
        (r->interval_ns && r->interval_ns % SEG_ROLLUP_NS != 0))
        return 0;
    for (int g = 0; g < r->ngroups; g++)
        if (r->group[g] != GB_SERVICE && r->group[g] != GB_LEVEL)
            return 0;
    return 1;
}

/* Count from the rollup: a few thousand cells instead of every row. */
static void segment_rollup(agg *a, seg_reader *rd)
{
    const sreq *r = a->r;
    size_t n;
    const seg_rollup_cell *cells = seg_rollup(rd, &n);
    for (size_t i = 0; i < n; i++) {
        uint32_t id[AGG_MAX_GROUPS] = {0};
        for (int g = 0; g < r->ngroups && g < AGG_MAX_GROUPS; g++)
            id[g] = r->group[g] == GB_SERVICE ? cells[i].service : cells[i].level;
        add_named(a, rd, bucket_of(r, cells[i].minute * SEG_ROLLUP_NS), id, cells[i].count);
        a->hits += cells[i].count;
    }
    a->rollups++;
}

/* One thread's share of the segments [from, to). */
typedef struct part {
    agg *a;
    const snapshot *sn;
    size_t from, to;
    int cols;
    int rc;
    char err[512];
} part;

/* A worker's share of the segments: aggregate each, stopping on OOM, too many groups or a partial
 * answer. */
static void *part_main(void *arg)
{
    part *p = arg;
    agg *a = p->a;
    const sreq *r = a->r;
    for (size_t i = p->from; i < p->to && !a->oom && !a->too_many && !a->partial; i++) {
        const char *why = sctx_stop_reason(a->c, 0); /* bytes: checked per row */
        if (why) {
            a->partial = 1;
            a->partial_why = why;
            break;
        }
        seg_reader *rd = store_reader_lock(p->sn->segs[i].sr);
        const seg_info *info = seg_get_info(rd);
        a->scanned += info->events;
        if (p->cols && rollup_fits(a, rd)) {
            segment_rollup(a, rd);
            store_reader_unlock(p->sn->segs[i].sr);
            continue;
        }
        roaring_bitmap_t *rows;
        int exact, rc = q_segment(r->q, rd, &rows, &exact, p->err, sizeof p->err);
        if (rc == 0) {
            rc = p->cols ? segment_columns(a, rd, rows)
                         : segment_rows(a, rd, rows, exact, p->err, sizeof p->err);
            roaring_bitmap_free(rows);
            if (rc < 0 && !p->err[0])
                snprintf(p->err, sizeof p->err, "out of memory");
        }
        store_reader_unlock(p->sn->segs[i].sr);
        if (rc < 0) {
            p->rc = -1;
            break;
        }
    }
    return NULL;
}

/* Add the helper's entries into a: counts, numbers, samples and distinct
 * sets. Percentile samples stay exact while the two together hold at most
 * AGG_MAX_SAMPLES values, and are a uniform sample beyond. */
static void merge_into(agg *a, agg *h)
{
    a->hits += h->hits;
    a->scanned += h->scanned;
    a->rollups += h->rollups;
    a->msg_rows += h->msg_rows;
    a->block_rows += h->block_rows;
    a->bytes += h->bytes;
    a->oom |= h->oom;
    a->too_many |= h->too_many;
    if (h->partial && !a->partial) {
        a->partial = 1;
        a->partial_why = h->partial_why;
    }
    for (size_t i = 0; i < h->cap; i++) {
        agg_entry *he = &h->e[i];
        if (!he->key)
            continue;
        agg_entry *e = entry(a, he->key, he->klen);
        if (!e)
            return;
        e->count += he->count;
        if (he->nnum) {
            if (!e->nnum || he->min < e->min)
                e->min = he->min;
            if (!e->nnum || he->max > e->max)
                e->max = he->max;
            e->sum += he->sum;
        }
        for (uint32_t k = 0; k < he->nsamples; k++) {
            if (!e->samples && !(e->samples = malloc(AGG_MAX_SAMPLES * sizeof *e->samples)))
                break;
            e->nnum++;
            sample_add(a, e, he->samples[k]);
        }
        e->nnum += he->nnum - he->nsamples;
        for (uint32_t k = 0; k < he->dcap; k++)
            if (he->distinct[k])
                distinct_add_hash(e, he->distinct[k]);
        e->distinct_capped |= he->distinct_capped;
    }
}

int aggregate_run(sctx *c, const sreq *r, strbuf *out)
{
    int64_t t0 = clock_mono_ms();
    agg a;
    memset(&a, 0, sizeof a);
    a.c = c;
    a.r = r;
    a.rng = 0x853c49e6748fea9bull;
    a.scratch = c->scratch;
    char err[512] = "";
    snapshot sn;
    uint64_t aborts0 = q_scratch_regex_aborts(c->scratch); /* as in search_run */
    store_wait_visible(c->st, c->wal_next, c->lim->wait_visible_ms);
    int rc = store_snapshot(c->st, c->tenant, r->from_ns, r->to_ns, c->lim->max_segments, r->q,
                            head_event, &a, &sn, err, sizeof err);
    if (rc < 0) {
        agg_free(&a);
        return json_error(out, rc == -2 ? 422 : 503, err);
    }
    int status = 200;
    int cols = columns_only(r);
    /* the segments are split with a helper thread (its own matcher scratch
     * and entries, merged after): a 2-core box answers with both cores */
    agg helper;
    memset(&helper, 0, sizeof helper);
    helper.c = c;
    helper.r = r;
    helper.rng = 0x9e3779b97f4a7c15ull;
    helper.scratch = sn.n >= 2 ? q_scratch_new() : NULL;
    part ph = {.a = &helper, .sn = &sn, .from = sn.n / 2, .to = sn.n, .cols = cols};
    part pm = {.a = &a, .sn = &sn, .from = 0, .to = sn.n, .cols = cols};
    pthread_t th;
    int split = helper.scratch && pthread_create(&th, NULL, part_main, &ph) == 0;
    if (split)
        pm.to = ph.from;
    part_main(&pm);
    if (split) {
        pthread_join(th, NULL);
        merge_into(&a, &helper);
    }
    agg_free(&helper);
    uint64_t aborts = q_scratch_regex_aborts(c->scratch) - aborts0 +
                      (helper.scratch ? q_scratch_regex_aborts(helper.scratch) : 0);
    q_scratch_free(helper.scratch);
    if (aborts && !a.partial) { /* a row it gave up on may match: the counts are lower bounds */
        a.partial = 1;
        a.partial_why = "regex_budget";
    }
    if (pm.rc < 0 || (split && ph.rc < 0)) {
        const char *e = pm.rc < 0 ? pm.err : ph.err;
        status = json_error(out, strstr(e, "matches more than") ? 400 : 500, e);
        goto done;
    }
    if (a.too_many) {
        snprintf(err, sizeof err,
                 "more than %u buckets: use a wider interval or fewer group_by fields",
                 AGG_MAX_BUCKETS);
        status = json_error(out, 422, err);
    } else if (a.oom) {
        status = json_error(out, 500, "out of memory");
    } else {
        respond(&a, out, clock_mono_ms() - t0);
        if (out->oom)
            status = json_error(out, 500, "out of memory");
    }
done:
    agg_free(&a);
    snapshot_free(c->st, &sn);
    return status;
}
