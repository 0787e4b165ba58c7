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

/* Whether a pass should stop early: the indexer is stopping. */
static int stopping(indexer *x)
{
    pthread_mutex_lock(&x->lock);
    int stop = x->stopping;
    pthread_mutex_unlock(&x->lock);
    return stop;
}

/* Merge the tenant's segments at level `from` into `to` window by window
 * (windows of window_ms[to]): every closed window, or every window with
 * `force`, that holds at least min_group segments. How many merges ran. */
static int merge_windows(indexer *x, catalog *cat, const idx_settings *set, const char *tenant,
                         int from, int to, int force, size_t min_group)
{
    cat_segment *segs = NULL;
    size_t n = 0;
    int merges = 0;
    if (catalog_list(cat, tenant, from, &segs, &n) < 0)
        return 0;
    int64_t win = set->window_ms[to] * 1000000;
    int64_t settle_ns = 2 * set->flush_interval_ms * 1000000;
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
        if (j - i >= min_group && (force || w0 + win + settle_ns < clock_real_ns()) &&
            merge_group(x, cat, set, segs + i, j - i, to) == 0)
            merges++;
        i = j;
        if (stopping(x))
            break;
    }
    free(segs);
    return merges;
}

/* One pass: for each tenant (or only `only`, when not NULL) and level,
 * merge every closed window into the next level. With `force` every
 * window counts as closed, and segments of one window that the last level
 * holds twice (a forced merge of a window that was still open, and what
 * came after) are merged into one. Returns how many merges ran. */
static int compact_pass(indexer *x, catalog *cat, int force, const char *only)
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
    const int last = INDEXER_LEVELS - 1;
    for (size_t t = 0; t < nt && !stopping(x); t++) {
        if (only && strcmp(only, tenants[t]) != 0)
            continue;
        for (int level = 1; level <= last && !stopping(x); level++)
            merges += merge_windows(x, cat, &set, tenants[t], level - 1, level, force, 1);
        if (force && !stopping(x))
            merges += merge_windows(x, cat, &set, tenants[t], last, last, 1, 2);
    }
    free(tenants);
    return merges;
}

/* ---- compaction to completion, on request ------------------------------------------- */

/* One request to compact to completion: from the admin service (a thread
 * waits on jobs_cv for done) or from POST /v1/admin/compact (answered on
 * the loop when done, or nobody waits: wait=false). The compactor frees
 * the detached and HTTP ones; a waiter frees its own. */
typedef struct idx_compact_job {
    indexer *x;
    const strata_host_api *h; /* answer_job's: x may be gone by then */
    char tenant[CAT_MAX_TENANT];
    int all;                  /* every tenant */
    strata_http_request *req; /* answered on the loop; NULL for a waiter */
    int detached;             /* nobody waits for the answer */
    int done, status;
    char err[256];
    strata_compact_result res;
    int64_t queued_ms;
    struct idx_compact_job *next;
} idx_compact_job;

/* How many segments, and their bytes, the tenant (or every tenant) has at
 * every level. */
static void count_segments(catalog *cat, const char *only, uint64_t *n_out, uint64_t *bytes_out)
{
    char(*tenants)[CAT_MAX_TENANT] = NULL;
    size_t nt = 0;
    *n_out = *bytes_out = 0;
    if (catalog_tenants(cat, &tenants, &nt) < 0)
        return;
    for (size_t t = 0; t < nt; t++) {
        if (only && strcmp(only, tenants[t]) != 0)
            continue;
        for (int level = 0; level < INDEXER_LEVELS; level++) {
            cat_segment *segs = NULL;
            size_t n = 0;
            if (catalog_list(cat, tenants[t], level, &segs, &n) < 0)
                continue;
            *n_out += n;
            for (size_t i = 0; i < n; i++)
                *bytes_out += segs[i].bytes;
            free(segs);
        }
    }
    free(tenants);
}

/* Run job j: passes with every window taken as closed until one merges
 * nothing (each merge lifts segments a level, so this ends), or the
 * indexer stops. Fills j's status and result. [compactor thread] */
static void run_job(indexer *x, catalog *cat, idx_compact_job *j)
{
    const char *only = j->all ? NULL : j->tenant;
    j->res.struct_size = sizeof j->res;
    count_segments(cat, only, &j->res.segments_before, &j->res.bytes_before);
    x->h->log(x->inst, STRATA_LOG_INFO, "compacting %s%s to completion (%llu segments)",
              j->all ? "every tenant" : "tenant ", j->all ? "" : j->tenant,
              (unsigned long long)j->res.segments_before);
    int m;
    while ((m = compact_pass(x, cat, 1, only)) > 0 && !stopping(x))
        j->res.merges += (uint32_t)m;
    count_segments(cat, only, &j->res.segments_after, &j->res.bytes_after);
    j->res.took_ms = clock_mono_ms() - j->queued_ms;
    j->status = stopping(x) ? STRATA_ESTOPPING : STRATA_OK;
    if (j->status != STRATA_OK)
        snprintf(j->err, sizeof j->err, "the indexer stopped before the compaction was done");
    x->h->log(x->inst, STRATA_LOG_INFO,
              "compaction to completion: %u merges, %llu -> %llu segments, %lld ms", j->res.merges,
              (unsigned long long)j->res.segments_before, (unsigned long long)j->res.segments_after,
              (long long)j->res.took_ms);
}

/* Send job j's answer and free it [loop]. */
static void answer_job(void *arg)
{
    idx_compact_job *j = arg;
    const strata_host_api *h = j->h;
    char body[768];
    int status = 200;
    if (j->status == STRATA_OK)
        snprintf(body, sizeof body,
                 "{\"tenant\":\"%s\",\"merges\":%u,\"segments_before\":%llu,"
                 "\"segments_after\":%llu,\"bytes_before\":%llu,\"bytes_after\":%llu,"
                 "\"took_ms\":%lld}\n",
                 j->tenant, j->res.merges, (unsigned long long)j->res.segments_before,
                 (unsigned long long)j->res.segments_after, (unsigned long long)j->res.bytes_before,
                 (unsigned long long)j->res.bytes_after, (long long)j->res.took_ms);
    else {
        status = 503; /* a job fails only when the indexer stops first */
        snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", j->err);
    }
    h->http_respond(j->req, status, "application/json", body, strlen(body));
    free(j);
}

/* Hand a finished job to whoever waits for it: its waiter (jobs_cv), its
 * HTTP request (answered on the loop), or nobody. `lock` not held. */
static void finish_job(indexer *x, idx_compact_job *j)
{
    if (j->req) {
        if (x->h->call_on_loop(x->inst, answer_job, j) != STRATA_OK) {
            x->h->log(x->inst, STRATA_LOG_ERROR,
                      "cannot answer POST /v1/admin/compact (out of memory)");
            /* the request stays unanswered; its connection times out */
            free(j);
        }
        return;
    }
    if (j->detached) {
        free(j);
        return;
    }
    pthread_mutex_lock(&x->lock);
    j->done = 1;
    pthread_cond_broadcast(&x->jobs_cv);
    pthread_mutex_unlock(&x->lock);
}

/* Queue j for the compactor and wake it. With j untouched: STRATA_ESTOPPING
 * when the indexer is stopping, STRATA_ERR when it has no compactor
 * (compaction: false). `lock` not held. */
static int queue_job(indexer *x, idx_compact_job *j)
{
    j->x = x;
    j->h = x->h;
    j->queued_ms = clock_mono_ms();
    pthread_mutex_lock(&x->lock);
    if (x->stopping || !x->compactor) {
        int rc = x->stopping ? STRATA_ESTOPPING : STRATA_ERR;
        pthread_mutex_unlock(&x->lock);
        return rc;
    }
    if (x->jobs_tail)
        x->jobs_tail->next = j;
    else
        x->jobs = j;
    x->jobs_tail = j;
    pthread_cond_broadcast(&x->wake);
    pthread_mutex_unlock(&x->lock);
    return STRATA_OK;
}

/* Why queue_job refused a job (its return code). */
static const char *refusal(int rc)
{
    return rc == STRATA_ESTOPPING ? "the indexer is stopping"
                                  : "compaction is off for this indexer (compaction: false)";
}

/* 1 when the request's query string holds exactly the parameter `param`
 * ("wait=false"), not merely text that contains it. */
static int query_has(const char *q, const char *param)
{
    size_t n = strlen(param);
    for (const char *p = q; (p = strstr(p, param)); p += n)
        if ((p == q || p[-1] == '&') && (p[n] == 0 || p[n] == '&'))
            return 1;
    return 0;
}

/* Take the first queued job, or NULL. `lock` held. */
static idx_compact_job *take_job(indexer *x)
{
    idx_compact_job *j = x->jobs;
    if (j) {
        x->jobs = j->next;
        if (!x->jobs)
            x->jobs_tail = NULL;
        j->next = NULL;
    }
    return j;
}

int idx_compact_now(void *ctx, const char *tenant, strata_compact_result *out, char *err,
                    size_t errlen)
{
    indexer *x = ctx;
    idx_compact_job *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, errlen, "out of memory");
        return STRATA_ENOMEM;
    }
    j->all = !tenant;
    snprintf(j->tenant, sizeof j->tenant, "%s", tenant ? tenant : "*");
    int queued = queue_job(x, j);
    if (queued != STRATA_OK) {
        free(j);
        snprintf(err, errlen, "%s", refusal(queued));
        return queued;
    }
    pthread_mutex_lock(&x->lock);
    while (!j->done)
        pthread_cond_wait(&x->jobs_cv, &x->lock);
    pthread_mutex_unlock(&x->lock);
    int rc = j->status;
    if (rc == STRATA_OK && out)
        *out = j->res;
    else if (rc != STRATA_OK)
        snprintf(err, errlen, "%s", j->err);
    free(j);
    return rc;
}

/* POST /v1/admin/compact [loop]: queue a compaction of the token's tenant; answered when done (202
 * at once with wait=false). */
void idx_compact_http(strata_http_request *req, void *arg)
{
    indexer *x = arg;
    const strata_host_api *h = x->h;
    char tenant[CAT_MAX_TENANT];
    int a = h->auth_check(x->inst, req, "admin", tenant, sizeof tenant);
    if (a) {
        const char *why = a == 401 ? "{\"error\":\"missing or unknown token (Authorization: "
                                     "Bearer <token>)\"}\n"
                                   : "{\"error\":\"this token may not administer (scope "
                                     "admin)\"}\n";
        h->http_respond(req, a, "application/json", why, strlen(why));
        return;
    }
    idx_compact_job *j = calloc(1, sizeof *j);
    if (!j) {
        const char *oom = "{\"error\":\"out of memory\"}\n";
        h->http_respond(req, 500, "application/json", oom, strlen(oom));
        return;
    }
    /* a tenant's admin compacts that tenant's segments */
    snprintf(j->tenant, sizeof j->tenant, "%s", tenant);
    const char *q = h->http_query(req);
    int detached = query_has(q, "wait=false");
    j->detached = detached;
    j->req = detached ? NULL : req;
    int queued = queue_job(x, j);
    if (queued != STRATA_OK) {
        free(j);
        char body[160];
        snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", refusal(queued));
        h->http_respond(req, queued == STRATA_ESTOPPING ? 503 : 409, "application/json", body,
                        strlen(body));
        return;
    }
    if (detached) { /* j may be the compactor's to free already */
        const char *ok = "{\"accepted\":true}\n";
        h->http_respond(req, 202, "application/json", ok, strlen(ok));
    }
}

void idx_compact_cancel_jobs(indexer *x)
{
    pthread_mutex_lock(&x->lock);
    idx_compact_job *j;
    while ((j = take_job(x))) {
        j->status = STRATA_ESTOPPING;
        snprintf(j->err, sizeof j->err, "the indexer stopped before the compaction ran");
        pthread_mutex_unlock(&x->lock);
        j->h = x->h;
        if (j->req)
            answer_job(j); /* on the loop already: indexer_stop */
        else
            finish_job(x, j);
        pthread_mutex_lock(&x->lock);
    }
    pthread_mutex_unlock(&x->lock);
}

/* The compactor thread: closed windows every half flush interval, and the
 * jobs of compaction to completion as they are queued. */
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
        idx_compact_job *j = take_job(x);
        pthread_mutex_unlock(&x->lock);
        if (j) {
            run_job(x, cat, j);
            finish_job(x, j);
        } else {
            compact_pass(x, cat, 0, NULL);
        }
        pthread_mutex_lock(&x->lock);
        if (x->stopping)
            break;
        if (x->jobs)
            continue;
        /* windows close on the flush clock; looking twice per flush is plenty */
        int64_t ms = x->set.flush_interval_ms / 2;
        idx_wait(x, ms > INDEXER_POLL_MS ? ms : INDEXER_POLL_MS);
    }
    pthread_mutex_unlock(&x->lock);
    catalog_close(cat);
}
