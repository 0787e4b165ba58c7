/*
 * plugins/query/search/store.c - the segments a query reads.
 *
 * Opening a segment verifies the checksums of its index, so readers are
 * cached by the indexer's segment id and reused across queries (a reader
 * serves one thread at a time: its mutex). A snapshot lists the tenant's
 * segments through the indexer's view (strata/index.h) and opens the
 * missing ones while the view is locked, then scans the indexer's head
 * under the same lock: each event is seen exactly once. Readers of
 * segments that left the listing (compacted away) are closed once no
 * query uses them; their mapping kept them readable after the file was
 * deleted. The catalog is the indexer's: this plugin never opens it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "search.h"

struct store_reader {
    int64_t id;
    seg_reader *r;
    pthread_mutex_t use; /* one query at a time reads through r */
    int refs;            /* snapshots holding it */
    int listed;          /* in the latest listing */
};

/* Set up the search's cache of open segment readers over the index in dir; -1 on OOM. */
int store_init(store *s, strata_instance *inst, const strata_host_api *h, const char *dir)
{
    memset(s, 0, sizeof *s);
    s->h = h;
    s->inst = inst;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    pthread_mutex_init(&s->lock, NULL);
    return 0;
}

/* Close a cached reader and free its entry. */
static void reader_free(store_reader *sr)
{
    seg_close(sr->r);
    pthread_mutex_destroy(&sr->use);
    free(sr);
}

void store_free(store *s)
{
    for (size_t i = 0; i < s->nreaders; i++)
        reader_free(s->readers[i]);
    free(s->readers);
    for (size_t i = 0; i < s->ndicts; i++)
        seg_dicts_free(s->dicts[i]);
    free(s->dicts);
    pthread_mutex_destroy(&s->lock);
}

/* Index of id in the cache (sorted by id), or where it would go. */
static size_t cache_find(const store *s, int64_t id, int *found)
{
    size_t lo = 0, hi = s->nreaders;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->readers[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < s->nreaders && s->readers[lo]->id == id;
    return lo;
}

/* The newest dictionary set, reloaded from disk when a segment needs a
 * dictionary it does not have. Caller holds s->lock. */
static const seg_dicts *dicts_for(store *s, uint32_t dict_id)
{
    seg_dicts *cur = s->ndicts ? s->dicts[s->ndicts - 1] : NULL;
    if (cur && (dict_id == 0 || seg_dicts_has(cur, dict_id)))
        return cur;
    seg_dicts *d = seg_dicts_new();
    seg_dicts **v = realloc(s->dicts, (s->ndicts + 1) * sizeof(seg_dicts *));
    if (!d || !v) {
        seg_dicts_free(d);
        if (v)
            s->dicts = v;
        return cur;
    }
    s->dicts = v;
    char dir[3200];
    snprintf(dir, sizeof dir, "%s/dicts", s->dir);
    seg_dicts_load_tree(d, dir);
    s->dicts[s->ndicts++] = d;
    return d;
}

/* Open (or find) the reader of one listed segment. Caller holds s->lock.
 * NULL when the file is gone (compacted away) or does not verify. */
static store_reader *cache_get(store *s, const seg_listing *m, char *err, size_t errlen)
{
    int found;
    size_t at = cache_find(s, m->id, &found);
    if (found)
        return s->readers[at];
    if (s->nreaders >= STORE_MAX_READERS) {
        snprintf(err, errlen, "more than %u segments open", STORE_MAX_READERS);
        return NULL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", s->dir, m->path);
    char why[256];
    seg_reader *r = seg_open(path, dicts_for(s, m->dict_id), why, sizeof why);
    if (!r) {
        if (errno != ENOENT)
            s->h->log(s->inst, STRATA_LOG_ERROR, "segment %s is not served: %s", path, why);
        return NULL;
    }
    store_reader *sr = calloc(1, sizeof *sr);
    store_reader **v = realloc(s->readers, (s->nreaders + 1) * sizeof(store_reader *));
    if (!sr || !v) {
        free(sr);
        if (v)
            s->readers = v;
        seg_close(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->readers = v;
    sr->id = m->id;
    sr->r = r;
    pthread_mutex_init(&sr->use, NULL);
    memmove(&v[at + 1], &v[at], (s->nreaders - at) * sizeof(store_reader *));
    v[at] = sr;
    s->nreaders++;
    return sr;
}

/* Close cached readers no snapshot holds and the listing no longer holds.
 * Caller holds s->lock. */
static void cache_sweep(store *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->nreaders; i++) {
        store_reader *sr = s->readers[i];
        if (!sr->listed && sr->refs == 0)
            reader_free(sr);
        else
            s->readers[k++] = sr;
    }
    s->nreaders = k;
}

void store_wait_visible(store *s, uint64_t wal_next, int64_t wait_ms)
{
    if (!wal_next || wait_ms <= 0 || !STRATA_HOST_HAS(s->h, service_acquire))
        return;
    const strata_index_api *view = s->h->service_acquire(s->inst, STRATA_INDEX_SERVICE);
    if (!view)
        return;
    if (strcmp(view->dir(view->ctx), s->dir) == 0 &&
        strcmp(view->pipeline(view->ctx), s->h->pipeline_name(s->inst)) == 0)
        view->wait_visible(view->ctx, wal_next, wait_ms);
    s->h->service_release(s->inst, view);
}

/* Scan the head for q: only rows holding every term of one of q's
 * alternatives (q_required_alts); every row without q, or when the
 * alternatives cannot be allocated (the same answer, more work). */
static void scan_head(const strata_index_api *view, const char *tenant, const query *q,
                      strata_index_event_fn head_fn, void *ud)
{
    q_alts *a = q ? malloc(sizeof *a) : NULL;
    if (a)
        q_required_alts(q, a);
    view->head_scan(view->ctx, tenant, a ? a->term : NULL, a ? a->len : NULL, a ? a->alt_end : NULL,
                    a ? a->n : 0, head_fn, ud);
    free(a);
}

/* The segments of a listing, copied for a snapshot (growing as they come). */
typedef struct listing {
    seg_listing *segs;
    size_t n, cap;
    int oom;
} listing;

/* strata.index.v1 segments callback: keep one listed segment. */
static int list_one(void *ud, const strata_index_segment *seg)
{
    listing *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        seg_listing *v = realloc(l->segs, cap * sizeof *v);
        if (!v) {
            l->oom = 1;
            return 1;
        }
        l->segs = v;
        l->cap = cap;
    }
    seg_listing *m = &l->segs[l->n++];
    m->id = seg->id;
    m->min_event = seg->min_event_ns;
    m->max_event = seg->max_event_ns;
    m->dict_id = seg->dict_id;
    snprintf(m->path, sizeof m->path, "%s", seg->path);
    return 0;
}

int store_snapshot(store *s, const char *tenant, int64_t from, int64_t to, uint64_t max_segments,
                   const query *q, strata_index_event_fn head_fn, void *ud, snapshot *out,
                   char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (errlen)
        err[0] = 0;
    const strata_index_api *view = s->h->service_acquire(s->inst, STRATA_INDEX_SERVICE);
    if (view && (strcmp(view->dir(view->ctx), s->dir) != 0 || !STRATA_INDEX_HAS(view, segments))) {
        s->h->service_release(s->inst, view); /* an indexer of another directory, or older */
        view = NULL;
    }
    if (!view) {
        snprintf(err, errlen,
                 "no indexer of %s runs in this process (the search plugin reads the index "
                 "through its indexer)",
                 s->dir);
        return -1;
    }
    view->lock(view->ctx);
    listing l = {0};
    int rc = view->segments(view->ctx, tenant, list_one, &l) < 0 ? -1 : 0;
    if (rc < 0)
        snprintf(err, errlen, "cannot read the segment catalog");
    if (rc == 0 && l.oom) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    const seg_listing *segs = l.segs;
    size_t n = l.n;
    size_t overlap = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        overlap += segs[i].max_event >= from && segs[i].min_event < to;
    if (rc == 0 && overlap > max_segments) {
        snprintf(err, errlen,
                 "the time range covers %zu segments; at most %llu are searched at once "
                 "(max_segments): narrow time_range",
                 overlap, (unsigned long long)max_segments);
        rc = -2;
    }
    if (rc == 0) {
        out->segs = calloc(n ? n : 1, sizeof *out->segs);
        if (!out->segs) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    if (rc == 0) {
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->nreaders; i++)
            s->readers[i]->listed = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            int found;
            size_t at = cache_find(s, segs[i].id, &found);
            if (found)
                s->readers[at]->listed = 1;
            if (segs[i].max_event < from || segs[i].min_event >= to)
                continue; /* time pruning: the listing knows each segment's range */
            store_reader *sr = cache_get(s, &segs[i], err, errlen);
            if (!sr) {
                if (err[0])
                    rc = -1;
                continue;
            }
            sr->listed = 1;
            sr->refs++;
            out->segs[out->n].meta = segs[i];
            out->segs[out->n].sr = sr;
            out->n++;
        }
        cache_sweep(s);
        pthread_mutex_unlock(&s->lock);
    }
    if (rc == 0 && head_fn)
        scan_head(view, tenant, q, head_fn, ud);
    view->unlock(view->ctx);
    s->h->service_release(s->inst, view);
    free(l.segs);
    if (rc < 0 && out->segs)
        snapshot_free(s, out);
    return rc;
}

void snapshot_free(store *s, snapshot *sn)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; sn->segs && i < sn->n; i++)
        sn->segs[i].sr->refs--;
    pthread_mutex_unlock(&s->lock);
    free(sn->segs);
    sn->segs = NULL;
    sn->n = 0;
}

seg_reader *store_reader_lock(store_reader *sr)
{
    pthread_mutex_lock(&sr->use);
    return sr->r;
}

void store_reader_unlock(store_reader *sr)
{
    pthread_mutex_unlock(&sr->use);
}
