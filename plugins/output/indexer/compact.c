/*
 * plugins/output/indexer/compact.c - background compaction.
 *
 * Level n+1 holds one segment per tenant per closed window of
 * window_ms[n+1] (10 min, 1 h, 1 day by default). A window is closed when
 * its end is more than two flush intervals in the past (no late L0 can still
 * land in it). All level-n segments of a tenant whose min_ingest falls in a
 * closed window are merged by ingest_ts, streaming into the new file
 * (segment/merge.c seg_merge_file: the inputs' term dictionaries are
 * merged, nothing is tokenized again), with the filters rebuilt, zstd at
 * INDEXER_MID_ZSTD_LEVEL (L1, L2) or SEG_COMPACT_ZSTD_LEVEL (the last
 * level) and a dictionary retrained from samples of the merged rows. The
 * swap is one catalog transaction; the old files are deleted only after it. A crash before the
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

/* The crash tests stop a merge with its file half-written. */
static void merge_stage(void *ud, const char *stage)
{
    (void)ud;
    if (strcmp(stage, "terms") == 0)
        idx_crash_point("compact_during_merge");
}

/* Merge segs (all of one tenant, level-1 of `level`) into one segment at
 * `level`, streaming into its file (seg_merge_file). 0, or -1 (nothing
 * changed in the catalog). */
static int merge_group(indexer *x, catalog *cat, const idx_settings *set, const cat_segment *segs,
                       size_t n, int level)
{
    const strata_host_api *h = x->h;
    seg_reader **rs = calloc(n, sizeof(seg_reader *));
    int64_t *ids = calloc(n, sizeof *ids);
    int rc = -1;
    char err[512];
    if (!rs || !ids)
        goto out;
    uint64_t events = 0;
    int64_t min_ingest = segs[0].min_ingest;
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
        events += segs[i].events;
        if (segs[i].min_ingest < min_ingest)
            min_ingest = segs[i].min_ingest;
    }
    /* retrain on the merged rows: a dictionary follows the tenant's logs */
    const idx_dict *d = NULL;
    if (events >= INDEXER_DICT_MIN_EVENTS) {
        uint8_t *samples = NULL;
        size_t *sizes = NULL;
        unsigned ns = seg_merge_samples(rs, n, INDEXER_DICT_SAMPLES, &samples, &sizes);
        d = idx_dict_train_samples(x, cat, segs[0].tenant, samples, sizes, ns);
        free(samples);
        free(sizes);
    }
    seg_writer_opts o = {.tenant = segs[0].tenant,
                         .block_events = set->block_events,
                         .zstd_level = level == INDEXER_LEVELS - 1 ? SEG_COMPACT_ZSTD_LEVEL
                                                                   : INDEXER_MID_ZSTD_LEVEL,
                         .dict = d ? d->bytes : NULL,
                         .dict_len = d ? d->len : 0};
    char rel[CAT_MAX_PATH], path[8192], dir[8192];
    idx_segment_path(segs[0].tenant, level, min_ingest, rel, sizeof rel);
    idx_path(path, sizeof path, "%s/%s", x->root, rel);
    idx_path(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    if (idx_mkdirs(dir) < 0 ||
        seg_merge_file_staged(rs, n, &o, path, merge_stage, NULL, err, sizeof err) < 0) {
        h->log(x->inst, STRATA_LOG_ERROR, "compaction merge into %s failed: %s", path, err);
        goto out;
    }
    idx_crash_point("compact_after_write");
    cat_segment merged;
    if (idx_describe_file(x, path, rel, level, &merged) < 0) {
        unlink(path);
        goto out;
    }
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
                /* windows are in ingest time, the gateway's wall clock */
                if (w0 + win + settle_ns < clock_real_ns()) {
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
