/*
 * plugins/output/indexer/compact.c - background compaction.
 *
 * Level n+1 holds one segment per tenant per closed window of
 * window_ms[n+1] (10 min, 1 h, 1 day by default). A window is closed when
 * its end is more than two flush intervals in the past (no late L0 can still
 * land in it). All level-n segments of a tenant whose min_ingest falls in a
 * closed window are merged by ingest_ts (segment/reader.c seg_merge), with
 * the index and filters rebuilt, zstd at SEG_COMPACT_ZSTD_LEVEL and a
 * dictionary retrained from the merged rows. The swap is one catalog
 * transaction; the old files are deleted only after it. A crash before the
 * swap leaves an orphan new file, after it orphan old files: start removes
 * both (indexer.c remove_orphans).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "indexer.h"

/* Unix ns now (windows are in ingest time, the gateway's wall clock). */
static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Merge segs (all of one tenant, level-1 of `level`) into one segment at
 * `level`. 0, or -1 (nothing changed in the catalog). */
static int merge_group(indexer *x, catalog *cat, const idx_settings *set, const cat_segment *segs,
                       size_t n, int level)
{
    const strata_host_api *h = x->h;
    seg_reader **rs = calloc(n, sizeof(seg_reader *));
    int64_t *ids = calloc(n, sizeof *ids);
    int rc = -1;
    seg_writer *w = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[512];
    if (!rs || !ids)
        goto out;
    for (size_t i = 0; i < n; i++) {
        char path[8192];
        idx_path(path, sizeof path, "%s/%s", x->root, segs[i].path);
        pthread_mutex_lock(&x->dict_lock);
        rs[i] = seg_open(path, x->readers_dicts, err, sizeof err);
        pthread_mutex_unlock(&x->dict_lock);
        if (!rs[i]) {
            h->log(x->inst, STRATA_LOG_ERROR, "compaction skips a window: %s", err);
            goto out;
        }
        ids[i] = segs[i].id;
    }
    seg_writer_opts o = {.tenant = segs[0].tenant,
                         .block_events = set->block_events,
                         .zstd_level = SEG_COMPACT_ZSTD_LEVEL};
    w = seg_writer_new(&o);
    if (!w || seg_merge(rs, n, w, err, sizeof err) < 0) {
        h->log(x->inst, STRATA_LOG_ERROR, "compaction merge failed: %s", w ? err : "out of memory");
        goto out;
    }
    /* retrain on the merged rows: a dictionary follows the tenant's logs */
    const idx_dict *d = seg_writer_count(w) >= INDEXER_DICT_MIN_EVENTS
                            ? idx_dict_train(x, cat, segs[0].tenant, w)
                            : NULL;
    if (d)
        seg_writer_set_dict(w, d->bytes, d->len);
    if (seg_writer_finish_mem(w, &buf, &len, err, sizeof err) < 0) {
        h->log(x->inst, STRATA_LOG_ERROR, "compaction build failed: %s", err);
        goto out;
    }
    cat_segment merged;
    if (idx_describe(x, buf, len, level, &merged) < 0)
        goto out;
    char path[8192], dir[4800];
    idx_path(path, sizeof path, "%s/%s", x->root, merged.path);
    idx_path(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    if (idx_mkdirs(dir) < 0 || seg_write_file(path, buf, len, err, sizeof err) < 0) {
        h->log(x->inst, STRATA_LOG_ERROR, "compaction cannot write %s: %s", path, err);
        goto out;
    }
    idx_crash_point("compact_after_write");
    pthread_rwlock_wrlock(&x->view_lock);
    int swapped = catalog_swap(cat, ids, n, &merged, err, sizeof err);
    pthread_rwlock_unlock(&x->view_lock);
    if (swapped < 0) {
        h->log(x->inst, STRATA_LOG_ERROR, "%s", err);
        unlink(path);
        goto out;
    }
    idx_crash_point("compact_after_swap");
    for (size_t i = 0; i < n; i++) {
        seg_close(rs[i]);
        rs[i] = NULL;
        char old[8192];
        idx_path(old, sizeof old, "%s/%s", x->root, segs[i].path);
        if (unlink(old) < 0 && errno != ENOENT)
            h->log(x->inst, STRATA_LOG_WARN, "cannot delete compacted %s: %s", old,
                   strerror(errno));
    }
    char lv[8];
    snprintf(lv, sizeof lv, "%d", level);
    h->metric_add(x->m_compactions, lv, 1);
    rc = 0;
out:
    for (size_t i = 0; rs && i < n; i++)
        seg_close(rs[i]);
    free(rs);
    free(ids);
    seg_writer_free(w);
    free(buf);
    return rc;
}

/* One pass: for each tenant and level, merge every closed window. Returns
 * how many merges ran. */
static int compact_pass(indexer *x, catalog *cat)
{
    /* settings as of this pass (reconfigure may change them meanwhile) */
    pthread_mutex_lock(&x->lock);
    idx_settings set = x->set;
    pthread_mutex_unlock(&x->lock);
    char(*tenants)[CAT_MAX_TENANT] = NULL;
    size_t nt = 0;
    int merges = 0;
    if (catalog_tenants(cat, &tenants, &nt) < 0)
        return 0;
    int64_t settle_ns = 2 * set.flush_interval_ms * 1000000;
    for (size_t t = 0; t < nt; t++)
        for (int level = 1; level < INDEXER_LEVELS; level++) {
            cat_segment *segs = NULL;
            size_t n = 0;
            if (catalog_list(cat, tenants[t], level - 1, &segs, &n) < 0)
                continue;
            int64_t win = set.window_ms[level] * 1000000;
            size_t i = 0;
            while (i < n) {
                int64_t w0 = segs[i].min_ingest - segs[i].min_ingest % win;
                size_t j = i;
                uint64_t events = 0;
                while (j < n && segs[j].min_ingest - segs[j].min_ingest % win == w0 &&
                       events + segs[j].events <= INDEXER_MAX_MERGE_EVENTS)
                    events += segs[j++].events;
                if (j == i)
                    j = i + 1; /* one segment larger than the merge bound: promote alone */
                if (w0 + win + settle_ns < wall_ns()) {
                    if (merge_group(x, cat, &set, segs + i, j - i, level) == 0)
                        merges++;
                }
                i = j;
                pthread_mutex_lock(&x->lock);
                int stop = x->stopping;
                pthread_mutex_unlock(&x->lock);
                if (stop)
                    break;
            }
            free(segs);
        }
    free(tenants);
    return merges;
}

void idx_compactor_main(void *arg)
{
    indexer *x = arg;
    char path[8192], err[512];
    idx_path(path, sizeof path, "%s/catalog.db", x->root);
    catalog *cat = catalog_open(path, err, sizeof err);
    if (!cat) {
        x->h->log(x->inst, STRATA_LOG_ERROR, "compactor: %s", err);
        return;
    }
    pthread_mutex_lock(&x->lock);
    while (!x->stopping) {
        pthread_mutex_unlock(&x->lock);
        compact_pass(x, cat);
        pthread_mutex_lock(&x->lock);
        if (x->stopping)
            break;
        /* windows close on the flush clock; looking twice per flush is plenty */
        int64_t ms = x->set.flush_interval_ms / 2;
        idx_wait(x, ms > INDEXER_POLL_MS ? ms : INDEXER_POLL_MS);
    }
    pthread_mutex_unlock(&x->lock);
    catalog_close(cat);
}
