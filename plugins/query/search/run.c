/*
 * plugins/query/search/run.c - POST /v1/search, in the order of the brief:
 *   1. time pruning through the indexer's listing (store_snapshot),
 *   2. filter pruning and 3. postings algebra (q_segment),
 *   4. verification of inexact candidates on decoded rows (q_match),
 *   5. top-k by time over the head and the segments, newest segments first,
 *      stopping once no remaining segment can beat the k-th result.
 *
 * Results are ordered by (event time, ingest time, content hash); a cursor
 * is the last key of a page and the next page takes keys strictly past it,
 * so pages neither repeat nor skip an event while ingestion goes on.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "search.h"

typedef struct hit {
    skey k;
    char *json; /* the log object (malloc'd) */
    size_t len;
} hit;

/* The best `cap` hits so far: a binary heap with the worst at the root. */
typedef struct topk {
    hit *h;
    size_t n, cap;
    int desc;
} topk;

/* Is a worse than b in the result order? */
static int worse(const topk *t, const skey *a, const skey *b)
{
    int c = skey_cmp(a, b);
    return t->desc ? c < 0 : c > 0;
}

/* Restore the top-k heap below slot i (its root is the hit the next better one replaces). */
static void sift_down(topk *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->n && worse(t, &t->h[l].k, &t->h[m].k))
            m = l;
        if (r < t->n && worse(t, &t->h[r].k, &t->h[m].k))
            m = r;
        if (m == i)
            return;
        hit tmp = t->h[i];
        t->h[i] = t->h[m];
        t->h[m] = tmp;
        i = m;
    }
}

/* Restore the top-k heap above slot i after an insert. */
static void sift_up(topk *t, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!worse(t, &t->h[i].k, &t->h[p].k))
            return;
        hit tmp = t->h[i];
        t->h[i] = t->h[p];
        t->h[p] = tmp;
        i = p;
    }
}

/* Could an event with this time and ingest time (any hash) enter? */
static int could_enter(const topk *t, int64_t ts, int64_t ingest)
{
    if (t->n < t->cap)
        return 1;
    skey best = {ts, ingest, t->desc ? UINT64_MAX : 0};
    return worse(t, &t->h[0].k, &best);
}

/* Put a formatted hit into the heap, or free it when it is not among the
 * best (the heap owns what it keeps). */
static void topk_put(topk *t, hit nh)
{
    if (t->n < t->cap) {
        t->h[t->n++] = nh;
        sift_up(t, t->n - 1);
    } else if (worse(t, &t->h[0].k, &nh.k)) {
        /* the evicted root's string: nh replaces it at once (the analyzer
         * cannot tell two heaps' arrays apart in merge_runs) */
        // NOLINTNEXTLINE(clang-analyzer-unix.Malloc)
        free(t->h[0].json);
        t->h[0] = nh;
        sift_down(t, 0);
    } else {
        free(nh.json);
    }
}

/* Add an event (formatted now) if it is among the best. 0, or -1 on OOM. */
static int topk_offer(topk *t, const skey *k, const strata_event *ev)
{
    if (t->n == t->cap && !worse(t, &t->h[0].k, k))
        return 0;
    strbuf sb = {0};
    json_event(&sb, ev);
    if (sb.oom) {
        sb_free(&sb);
        return -1;
    }
    hit nh = {*k, NULL, sb.len};
    nh.json = sb_steal(&sb);
    topk_put(t, nh);
    return 0;
}

/* The state of one search. */
typedef struct run {
    sctx *c;
    const sreq *r;
    topk top;
    sstats st;
    int oom;
} run;

/* Is key k past the cursor (or is there no cursor)? */
static int after_cursor(const run *x, const skey *k)
{
    if (!x->r->has_cursor)
        return 1;
    int c = skey_cmp(k, &x->r->cursor);
    return x->r->desc ? c < 0 : c > 0;
}

/* Partial key check against the cursor: could some hash make it pass? */
static int may_pass_cursor(const run *x, int64_t ts, int64_t ingest)
{
    if (!x->r->has_cursor)
        return 1;
    skey best = {ts, ingest, x->r->desc ? 0 : UINT64_MAX};
    return after_cursor(x, &best);
}

/* 1 when an event time lies in the request's [from, to). */
static int in_range(const sreq *r, int64_t ts)
{
    return ts >= r->from_ns && ts < r->to_ns;
}

/* A matching event: count it and offer it to the top k. */
static void take(run *x, const strata_event *ev)
{
    skey k = {ev->event_ts_ns, ev->ingest_ts_ns, event_hash(ev)};
    if (after_cursor(x, &k) && topk_offer(&x->top, &k, ev) < 0)
        x->oom = 1;
}

/* The head: every event is checked directly (no index yet). */
static int head_event(void *ud, const strata_event *ev)
{
    run *x = ud;
    x->st.head++;
    if (!in_range(x->r, ev->event_ts_ns))
        return 0;
    x->st.scanned++;
    if (!q_match(x->r->q, ev, x->c->scratch))
        return 0;
    x->st.hits++;
    take(x, ev);
    return 0;
}

const char *sctx_stop_reason(const sctx *c, uint64_t bytes)
{
    if (atomic_load(c->cancelled))
        return "cancelled";
    if (clock_mono_ms() > c->deadline_ms)
        return "timeout";
    if (bytes > c->lim->max_scan_bytes)
        return "max_scan_bytes";
    return NULL;
}

/* Should the run stop (deadline, cancellation, bytes)? Sets partial. */
static int must_stop(run *x)
{
    const char *why = sctx_stop_reason(x->c, x->st.bytes);
    if (why) {
        x->st.partial = 1;
        x->st.partial_why = why;
    }
    return why != NULL;
}

/* An event's bytes as the max_bytes budget counts them (message, names and meta). */
static uint64_t event_bytes(const strata_event *ev)
{
    uint64_t b = ev->msg.len + ev->service.len + ev->host.len;
    for (uint32_t i = 0; i < ev->meta_count; i++)
        b += ev->meta[i].key.len + ev->meta[i].value.len;
    return b;
}

/* Search one segment; `beyond` when none of its rows can enter the page
 * (the k-th hit is already newer than its newest row, or older than its
 * oldest). 0, or -1 with err (a corrupt segment, too many wildcard
 * expansions). */
static int run_segment(run *x, seg_reader *rd, int beyond, char *err, size_t errlen)
{
    const sreq *r = x->r;
    const seg_info *info = seg_get_info(rd);
    int whole = info->min_event_ns >= r->from_ns && info->max_event_ns < r->to_ns;
    x->st.segments++;
    x->st.scanned += whole ? info->events : 0;
    if (beyond && whole && q_is_exact(r->q)) {
        /* every match is a hit in the range and none makes the page: count
         * them without visiting a row (one term: without decoding it) */
        uint64_t n;
        if (q_segment_count(r->q, rd, &n, err, errlen) < 0)
            return -1;
        x->st.hits += n;
        return 0;
    }
    roaring_bitmap_t *cand;
    int exact;
    if (q_segment(r->q, rd, &cand, &exact, err, errlen) < 0)
        return -1;
    const int64_t *ts = seg_event_ts(rd), *ing = seg_ingest_ts(rd);
    uint64_t n = roaring_bitmap_get_cardinality(cand);
    uint32_t *rows = n ? malloc(n * sizeof *rows) : NULL;
    if (n && !rows) {
        roaring_bitmap_free(cand);
        x->oom = 1;
        return 0;
    }
    if (n)
        roaring_bitmap_to_uint32_array(cand, rows);
    roaring_bitmap_free(cand);
    /* rows are in ingest order, close to event order: walking them from
     * the best end fills the top k first, and later rows rarely qualify.
     * In a segment wholly in range whose rows need not all be looked at,
     * the walk stops once no row left can beat the k-th (the stripes'
     * event-time bounds say so) and counts the rest. */
    const int64_t *newest_before = NULL, *oldest_after = NULL;
    if (whole && (exact || !r->track_hits) &&
        seg_event_ts_stripes(rd, &newest_before, &oldest_after) < 0) {
        free(rows);
        x->oom = 1;
        return 0;
    }
    int rc = 0;
    for (uint64_t j = 0; j < n; j++) {
        uint32_t row = rows[r->desc ? n - 1 - j : j];
        if (j % SEARCH_CHECK_EVERY == SEARCH_CHECK_EVERY - 1 && must_stop(x))
            break;
        if (newest_before && x->top.n == x->top.cap) {
            int64_t kth = x->top.h[0].k.ts, s = row / SEG_TS_STRIPE_ROWS;
            if (r->desc ? newest_before[s] < kth : oldest_after[s] > kth) {
                if (exact)
                    x->st.hits += n - j;
                else
                    x->st.unverified += n - j;
                break;
            }
        }
        if (!in_range(r, ts[row]))
            continue;
        if (!whole)
            x->st.scanned++;
        int wanted =
            may_pass_cursor(x, ts[row], ing[row]) && could_enter(&x->top, ts[row], ing[row]);
        if (exact) {
            x->st.hits++;
            if (!wanted)
                continue;
        } else if (!wanted && !r->track_hits) {
            /* it cannot enter the page: leave it unverified unless the
             * request asked for an exact count */
            x->st.unverified++;
            continue;
        }
        strata_event ev;
        if (seg_row(rd, row, &ev) < 0) {
            snprintf(err, errlen, "%s", seg_error(rd));
            rc = -1;
            break;
        }
        x->st.bytes += event_bytes(&ev);
        if (!exact) {
            if (!q_match(r->q, &ev, x->c->scratch))
                continue;
            x->st.hits++;
            if (!wanted)
                continue;
        }
        take(x, &ev);
    }
    free(rows);
    return rc;
}

/* Segments ordered so the most promising for the top k come first. */
static int desc_order(const void *a, const void *b)
{
    const snap_seg *x = a, *y = b;
    return x->meta.max_event > y->meta.max_event ? -1 : x->meta.max_event < y->meta.max_event;
}
/* Order snapshot segments by their earliest event, for oldest-first searches. */
static int asc_order(const void *a, const void *b)
{
    const snap_seg *x = a, *y = b;
    return x->meta.min_event < y->meta.min_event ? -1 : x->meta.min_event > y->meta.min_event;
}

/* One thread's share of a search: segments start, start + step, ... */
typedef struct rpart {
    run *x;
    const snapshot *sn;
    size_t start, step;
    int rc;
    char err[512];
} rpart;

/* A worker's share of a search's segments: collect each one's best hits into its own heap. */
static void *rpart_main(void *arg)
{
    rpart *p = arg;
    run *x = p->x;
    const sreq *r = x->r;
    for (size_t i = p->start; i < p->sn->n && !x->oom; i += p->step) {
        const seg_listing *m = &p->sn->segs[i].meta;
        int beyond = x->top.n == x->top.cap &&
                     (r->desc ? m->max_event < x->top.h[0].k.ts : m->min_event > x->top.h[0].k.ts);
        if (beyond && !q_is_exact(r->q) && !r->track_hits) {
            /* no row here can enter the top k; only its hits are unknown */
            x->st.hits_exact = 0;
            continue;
        }
        if (must_stop(x)) {
            x->st.hits_exact = 0;
            break;
        }
        seg_reader *rd = store_reader_lock(p->sn->segs[i].sr);
        int rc = run_segment(x, rd, beyond, p->err, sizeof p->err);
        store_reader_unlock(p->sn->segs[i].sr);
        if (rc < 0) {
            p->rc = -1;
            break;
        }
    }
    return NULL;
}

/* Fold the helper's counts and hits into x (the helper's heap is emptied:
 * its hits move, or are freed when they do not make the page). */
static void merge_runs(run *x, run *h)
{
    x->st.hits += h->st.hits;
    x->st.scanned += h->st.scanned;
    x->st.bytes += h->st.bytes;
    x->st.segments += h->st.segments;
    x->st.unverified += h->st.unverified;
    x->st.hits_exact &= h->st.hits_exact;
    x->oom |= h->oom;
    if (h->st.partial && !x->st.partial) {
        x->st.partial = 1;
        x->st.partial_why = h->st.partial_why;
    }
    for (size_t i = 0; i < h->top.n; i++) {
        hit moved = h->top.h[i];
        h->top.h[i].json = NULL; /* now x's (or freed by topk_put) */
        topk_put(&x->top, moved);
    }
    h->top.n = 0;
}

/* Order hits newest first (the sort key, descending). */
static int cmp_hits_desc(const void *a, const void *b)
{
    return -skey_cmp(&((const hit *)a)->k, &((const hit *)b)->k);
}
/* Order hits oldest first. */
static int cmp_hits_asc(const void *a, const void *b)
{
    return skey_cmp(&((const hit *)a)->k, &((const hit *)b)->k);
}

int search_run(sctx *c, const sreq *r, strbuf *out)
{
    int64_t t0 = clock_mono_ms();
    run x;
    memset(&x, 0, sizeof x);
    x.c = c;
    x.r = r;
    x.top.cap = r->limit;
    x.top.desc = r->desc;
    x.top.h = calloc(r->limit, sizeof *x.top.h);
    x.st.hits_exact = 1;
    if (!x.top.h)
        return json_error(out, 500, "out of memory");
    char err[512] = "";
    snapshot sn;
    /* this worker's scratch counts regex evaluations past their budget
     * over its life: this query's are the growth from here */
    uint64_t aborts0 = q_scratch_regex_aborts(c->scratch);
    store_wait_visible(c->st, c->wal_next, c->lim->wait_visible_ms);
    int rc = store_snapshot(c->st, c->tenant, r->from_ns, r->to_ns, c->lim->max_segments, r->q,
                            head_event, &x, &sn, err, sizeof err);
    if (rc < 0) {
        for (size_t i = 0; i < x.top.n; i++)
            free(x.top.h[i].json);
        free(x.top.h);
        return json_error(out, rc == -2 ? 422 : 503, err);
    }
    int status = 200;
    qsort(sn.segs, sn.n, sizeof *sn.segs, r->desc ? desc_order : asc_order);
    /* two threads take alternate segments (both start with the newest), each
     * with its own top k, merged after: a 2-core box uses both cores */
    run x2;
    memset(&x2, 0, sizeof x2);
    sctx c2 = *c;
    c2.scratch = sn.n >= 2 ? q_scratch_new() : NULL;
    x2.c = &c2;
    x2.r = r;
    x2.top.cap = r->limit;
    x2.top.desc = r->desc;
    x2.top.h = c2.scratch ? calloc(r->limit, sizeof *x2.top.h) : NULL;
    x2.st.hits_exact = 1;
    rpart p1 = {.x = &x, .sn = &sn, .start = 0, .step = 1};
    rpart p2 = {.x = &x2, .sn = &sn, .start = 1, .step = 2};
    pthread_t th;
    int split = x2.top.h && pthread_create(&th, NULL, rpart_main, &p2) == 0;
    if (split)
        p1.step = 2;
    rpart_main(&p1);
    if (split) {
        pthread_join(th, NULL);
        merge_runs(&x, &x2);
    }
    free(x2.top.h);
    uint64_t aborts = q_scratch_regex_aborts(c->scratch) - aborts0 +
                      (c2.scratch ? q_scratch_regex_aborts(c2.scratch) : 0);
    q_scratch_free(c2.scratch);
    if (aborts && !x.st.partial) { /* a row it gave up on may match: the answer is incomplete */
        x.st.partial = 1;
        x.st.partial_why = "regex_budget";
    }
    if (p1.rc < 0 || (split && p2.rc < 0)) {
        const char *e = p1.rc < 0 ? p1.err : p2.err;
        status = json_error(out, strstr(e, "matches more than") ? 400 : 500, e);
        goto done;
    }
    if (x.oom) {
        status = json_error(out, 500, "out of memory");
        goto done;
    }
    if (x.st.partial || x.st.unverified)
        x.st.hits_exact = 0;
    qsort(x.top.h, x.top.n, sizeof *x.top.h, r->desc ? cmp_hits_desc : cmp_hits_asc);
    sb_reset(out);
    sb_printf(out, "{\"hits\":%llu,\"hits_relation\":\"%s\",\"scanned\":%llu,\"took_ms\":%lld,",
              (unsigned long long)x.st.hits, x.st.hits_exact ? "eq" : "gte",
              (unsigned long long)x.st.scanned, (long long)(clock_mono_ms() - t0));
    sb_printf(out, "\"segments\":%llu,\"partial\":%s,", (unsigned long long)x.st.segments,
              x.st.partial ? "true" : "false");
    if (x.st.partial)
        sb_printf(out, "\"partial_reason\":\"%s\",", x.st.partial_why);
    sb_puts(out, "\"logs\":[");
    for (size_t i = 0; i < x.top.n; i++) {
        if (i)
            sb_append(out, ",", 1);
        sb_append(out, x.top.h[i].json, x.top.h[i].len);
    }
    sb_puts(out, "],\"next_cursor\":");
    if (x.top.n == x.top.cap && x.top.n) {
        char cur[64];
        cursor_encode(&x.top.h[x.top.n - 1].k, r->desc, cur, sizeof cur);
        sb_printf(out, "\"%s\"}", cur);
    } else {
        sb_puts(out, "null}");
    }
    if (out->oom)
        status = json_error(out, 500, "out of memory");
done:
    for (size_t i = 0; i < x.top.n; i++)
        free(x.top.h[i].json);
    free(x.top.h);
    snapshot_free(c->st, &sn);
    return status;
}
