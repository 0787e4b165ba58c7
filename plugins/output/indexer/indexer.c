/*
 * plugins/output/indexer - turns the WAL stream into segments.
 *
 * flush() copies each batch's events into an in-memory head, one segment
 * writer per tenant, and returns STRATA_PENDING: the events are not durable
 * in the index yet, so the WAL keeps them. The sealer thread turns the head
 * into L0 segments every flush_interval (or when it reaches max_head_bytes):
 * write + fsync + rename each file, then register all of them in the
 * catalog in one transaction together with the WAL position they cover,
 * then tell the host (output_commit) so the WAL may be truncated. After a
 * crash the WAL replays from the engine's checkpoint, which never passes the
 * catalog's position; replayed batches the catalog already covers are
 * skipped by their WAL sequence. Exactly once, across crashes.
 *
 * The compactor thread merges closed time windows level by level (L0 ->
 * L1 -> L2 -> L3) with a stronger zstd level and a retrained dictionary
 * (compact.c). Files no longer (or not yet) in the catalog are deleted at
 * start. Layout under `dir` (default DATA_DIR/index):
 *   catalog.db                       the catalog (catalog.h, this folder)
 *   segments/<tenant>/L<n>/NAME.sseg segment files (segment/format.h)
 *   dicts/<tenant>/<id>.zdict        trained zstd dictionaries
 *
 * Threads: flush on the output's worker; the sealer and the compactor are
 * the plugin's own (host thread_start).
 */
#include "indexer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const strata_config_key indexer_keys[] = {
    {"dir", STRATA_CFG_STRING, "", 0, "Index directory; empty = DATA_DIR/index."},
    {"flush_interval", STRATA_CFG_DURATION, "10s", 0,
     "Seal the in-memory head into L0 segments this often."},
    {"max_head_bytes", STRATA_CFG_SIZE, "256MiB", 0,
     "Seal early when the head holds this many raw bytes; flush waits while a full head seals."},
    {"block_events", STRATA_CFG_INT, "1024", 0,
     "Events per compressed row block: a search fetching one row decompresses its block."},
    {"zstd_level", STRATA_CFG_INT, "3", 0, "zstd level of L0 segments (compaction uses 19)."},
    {"compaction", STRATA_CFG_BOOL, "true", 0, "Merge closed windows L0->L1->L2->L3."},
    {"l1_window", STRATA_CFG_DURATION, "10m", 0, "Time window of an L1 segment."},
    {"l2_window", STRATA_CFG_DURATION, "1h", 0, "Time window of an L2 segment."},
    {"l3_window", STRATA_CFG_DURATION, "1d", 0, "Time window of an L3 segment."},
};

/* ---- helpers shared with compact.c ------------------------------------------------- */

void idx_crash_point(const char *name)
{
    const char *want = getenv("STRATA_INDEXER_CRASH");
    if (want && strcmp(want, name) == 0) {
        fprintf(stderr, "indexer: crash point %s reached (STRATA_INDEXER_CRASH)\n", name);
        raise(SIGKILL);
    }
}

/* Tests only: $STRATA_INDEXER_DELAY_MS makes every flush wait that long
 * before taking its batch, so a test can show that a search waits for an
 * indexer that lags behind the WAL (read your writes). */
static void idx_test_delay(void)
{
    const char *env = getenv("STRATA_INDEXER_DELAY_MS");
    long ms = env ? strtol(env, NULL, 10) : 0;
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

void idx_tenant_dir(const char *tenant, char *out, size_t cap)
{
    size_t n = strlen(tenant);
    int plain = n > 0 && n <= 64 && tenant[0] != '.';
    for (size_t i = 0; plain && i < n; i++) {
        char c = tenant[i];
        plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '.';
    }
    if (plain) {
        snprintf(out, cap, "%s", tenant);
        return;
    }
    /* anything else is hex-encoded behind a prefix no plain name starts with */
    size_t k = (size_t)snprintf(out, cap, "~");
    for (size_t i = 0; i < n && k + 3 < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%02x", (unsigned char)tenant[i]);
}

/* Random 64 bits for file names (unique without coordination). */
uint64_t idx_random64(void)
{
    uint64_t v = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&v, sizeof v, 1, f) != 1) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    }
    if (f)
        fclose(f);
    return v;
}

void idx_wait(indexer *x, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&x->wake, &x->lock, &ts);
}

/* ---- dictionaries ------------------------------------------------------------------------ */

const idx_dict *idx_dict_current(indexer *x, const char *tenant)
{
    const idx_dict *best = NULL;
    for (size_t i = 0; i < x->ndicts; i++)
        if (!strcmp(x->dicts[i].tenant, tenant) && x->dicts[i].current)
            best = &x->dicts[i];
    return best;
}

/* Keep a dictionary in memory (and in the readers' set); it becomes the
 * tenant's current one when `current`. Caller holds dict_lock. */
int idx_dict_keep(indexer *x, const char *tenant, const void *bytes, size_t len, uint32_t id,
                  int current)
{
    if (x->ndicts == x->dict_cap) {
        size_t cap = x->dict_cap ? x->dict_cap * 2 : 8;
        idx_dict *nd = realloc(x->dicts, cap * sizeof *nd);
        if (!nd)
            return -1;
        x->dicts = nd;
        x->dict_cap = cap;
    }
    void *copy = malloc(len);
    if (!copy)
        return -1;
    memcpy(copy, bytes, len);
    if (current)
        for (size_t i = 0; i < x->ndicts; i++)
            if (!strcmp(x->dicts[i].tenant, tenant))
                x->dicts[i].current = 0;
    idx_dict *d = &x->dicts[x->ndicts++];
    snprintf(d->tenant, sizeof d->tenant, "%s", tenant);
    d->bytes = copy;
    d->len = len;
    d->id = id;
    d->current = current;
    seg_dicts_add(x->readers_dicts, bytes, len);
    return 0;
}

/* Train a dictionary from a writer's rows, store it durably under
 * dicts/<tenant>/<id>.zdict and make it the tenant's current one. Returns it,
 * or NULL when there was too little to learn from or storing failed. */
const idx_dict *idx_dict_train(indexer *x, catalog *cat, const char *tenant, seg_writer *w)
{
    uint8_t *samples = NULL;
    size_t *sizes = NULL;
    unsigned n = seg_writer_samples(w, INDEXER_DICT_SAMPLES, &samples, &sizes);
    const idx_dict *d = idx_dict_train_samples(x, cat, tenant, samples, sizes, n);
    free(samples);
    free(sizes);
    return d;
}

const idx_dict *idx_dict_train_samples(indexer *x, catalog *cat, const char *tenant,
                                       const uint8_t *samples, const size_t *sizes, unsigned n)
{
    uint8_t *dict = malloc(INDEXER_DICT_BYTES);
    size_t len = dict && n ? seg_dict_train(samples, sizes, n, dict, INDEXER_DICT_BYTES) : 0;
    const idx_dict *out = NULL;
    if (len) {
        uint32_t id = seg_dict_id(dict, len);
        char tdir[160], dir[8192], path[8192], err[512];
        idx_tenant_dir(tenant, tdir, sizeof tdir);
        idx_path(dir, sizeof dir, "%s/dicts/%s", x->root, tdir);
        idx_path(path, sizeof path, "%s/%u.zdict", dir, id);
        char key[200], val[32];
        snprintf(key, sizeof key, "dict:%s", tenant);
        snprintf(val, sizeof val, "%u", id);
        if (id && idx_mkdirs(dir) == 0 && seg_write_file(path, dict, len, err, sizeof err) == 0 &&
            catalog_meta_put(cat, key, val) == 0) {
            pthread_mutex_lock(&x->dict_lock);
            if (idx_dict_keep(x, tenant, dict, len, id, 1) == 0)
                out = idx_dict_current(x, tenant);
            pthread_mutex_unlock(&x->dict_lock);
        } else {
            x->h->log(x->inst, STRATA_LOG_WARN, "cannot store a dictionary for tenant %s", tenant);
        }
    }
    free(dict);
    return out;
}

/* Keep one stored dictionary (its tenant is set from the catalog below). */
static void load_dict_file(void *ud, const char *path, const char *rel, const char *name)
{
    (void)rel;
    indexer *x = ud;
    char *end = NULL;
    unsigned long id = strtoul(name, &end, 10);
    if (!end || end == name || strcmp(end, ".zdict") != 0 || id == 0 || id > UINT32_MAX)
        return;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return;
    uint8_t *buf = malloc(INDEXER_DICT_BYTES);
    size_t len = buf ? fread(buf, 1, INDEXER_DICT_BYTES, fp) : 0;
    fclose(fp);
    if (len)
        idx_dict_keep(x, "", buf, len, (uint32_t)id, 0);
    free(buf);
}

/* Load every stored dictionary; the catalog names each tenant's current one. */
static void load_dicts(indexer *x)
{
    char dir[8192];
    idx_path(dir, sizeof dir, "%s/dicts", x->root);
    seg_walk(dir, 1, load_dict_file, x);
    /* mark current ones: meta "dict:<tenant>" = id */
    char(*ts)[CAT_MAX_TENANT] = NULL;
    size_t nt = 0;
    if (catalog_tenants(x->cat, &ts, &nt) == 0)
        for (size_t i = 0; i < nt; i++) {
            char key[200], val[32];
            snprintf(key, sizeof key, "dict:%s", ts[i]);
            if (catalog_meta_get(x->cat, key, val, sizeof val) < 0)
                continue;
            uint32_t id = (uint32_t)strtoul(val, NULL, 10);
            for (size_t k = 0; k < x->ndicts; k++)
                if (x->dicts[k].id == id) {
                    snprintf(x->dicts[k].tenant, sizeof x->dicts[k].tenant, "%s", ts[i]);
                    x->dicts[k].current = 1;
                }
        }
    free(ts);
}

/* ---- orphans ------------------------------------------------------------------------------- */

/* qsort order of C strings. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct orphan_ctx {
    char **known; /* catalog paths, sorted */
    size_t nknown;
    int removed;
} orphan_ctx;

/* Delete a segment file the catalog does not list, or a temp file. */
static void check_orphan(void *ud, const char *path, const char *rel, const char *name)
{
    orphan_ctx *c = ud;
    char key[CAT_MAX_PATH + 16];
    if ((size_t)snprintf(key, sizeof key, "segments/%s", rel) >= sizeof key)
        return;
    const char *k = key;
    if (seg_has_suffix(name, ".tmp") ||
        (seg_has_suffix(name, ".sseg") &&
         !bsearch(&k, c->known, c->nknown, sizeof *c->known, cmp_str))) {
        if (unlink(path) == 0)
            c->removed++;
    }
}

/* At start, delete the segment files the catalog does not list (a crash between write and
 * register, or after a compaction swap). */
static void remove_orphans(indexer *x)
{
    cat_segment *segs = NULL;
    size_t n = 0;
    if (catalog_list(x->cat, NULL, -1, &segs, &n) < 0)
        return;
    char **known = malloc((n ? n : 1) * sizeof *known);
    if (!known) {
        free(segs);
        return;
    }
    for (size_t i = 0; i < n; i++)
        known[i] = segs[i].path;
    qsort(known, n, sizeof *known, cmp_str);
    orphan_ctx c = {known, n, 0};
    char dir[8192];
    idx_path(dir, sizeof dir, "%s/segments", x->root);
    seg_walk(dir, 3, check_orphan, &c);
    if (c.removed)
        x->h->log(x->inst, STRATA_LOG_INFO,
                  "removed %d orphaned segment file(s) left by an interrupted flush or compaction",
                  c.removed);
    free(known);
    free(segs);
}

/* ---- the head -------------------------------------------------------------------------------- */

/* The head's writer for a tenant, created on first use. Caller holds lock. */
static seg_writer *head_for(indexer *x, strata_str tenant)
{
    char t[CAT_MAX_TENANT];
    size_t n = tenant.len < sizeof t - 1 ? tenant.len : sizeof t - 1;
    memcpy(t, tenant.ptr, n);
    t[n] = 0;
    if (!n)
        snprintf(t, sizeof t, "default");
    for (size_t i = 0; i < x->nhead; i++)
        if (!strcmp(x->head[i].tenant, t))
            return x->head[i].w;
    if (x->nhead == INDEXER_MAX_TENANTS)
        return NULL;
    pthread_mutex_lock(&x->dict_lock);
    const idx_dict *d = idx_dict_current(x, t);
    seg_writer_opts o = {.tenant = t,
                         .block_events = x->set.block_events,
                         .zstd_level = x->set.zstd_level,
                         .dict = d ? d->bytes : NULL,
                         .dict_len = d ? d->len : 0};
    pthread_mutex_unlock(&x->dict_lock);
    seg_writer *w = NULL;
    if (x->nspare) { /* already emptied: this reset only takes the options */
        w = x->spare[--x->nspare];
        if (seg_writer_reset(w, &o) < 0) {
            seg_writer_free(w);
            w = NULL;
        }
    }
    if (!w)
        w = seg_writer_new(&o);
    if (!w)
        return NULL;
    snprintf(x->head[x->nhead].tenant, sizeof x->head[x->nhead].tenant, "%s", t);
    x->head[x->nhead].w = w;
    x->nhead++;
    return w;
}

/* The plugin's flush: add a WAL batch's events to their tenants' heads (replayed ones the catalog
 * covers are skipped); PENDING until sealed. */
static int indexer_flush(void *state, const strata_batch *b)
{
    indexer *x = state;
    const strata_host_api *h = x->h;
    uint64_t seq = h->batch_seq(b);
    idx_test_delay();
    pthread_mutex_lock(&x->lock);
    if (seq && seq < x->sealed_next) {
        /* a replay of events already in a registered segment */
        pthread_mutex_unlock(&x->lock);
        h->metric_add(x->m_skipped, NULL, h->batch_count(b));
        return STRATA_PENDING;
    }
    while (x->head_bytes >= x->set.max_head_bytes && !x->stopping)
        pthread_cond_wait(&x->room, &x->lock);
    uint32_t n = h->batch_count(b);
    int failed = 0;
    for (uint32_t i = 0; i < n; i++) {
        strata_event ev;
        if (h->batch_event(b, i, &ev, x->meta, INDEXER_MAX_META) != STRATA_OK) {
            failed++;
            continue;
        }
        seg_writer *w = head_for(x, ev.tenant);
        if (!w || seg_writer_add(w, &ev) < 0)
            failed++;
    }
    if (seq) {
        x->head_next = seq + 1;
        pthread_cond_broadcast(&x->fed);
    }
    size_t bytes = 0, events = 0;
    for (size_t i = 0; i < x->nhead; i++) {
        bytes += seg_writer_bytes(x->head[i].w);
        events += seg_writer_count(x->head[i].w);
    }
    x->head_bytes = bytes;
    if (!x->head_first_ms && events)
        x->head_first_ms = clock_mono_ms();
    if (bytes >= x->set.max_head_bytes)
        pthread_cond_signal(&x->wake);
    pthread_mutex_unlock(&x->lock);
    h->metric_set(x->m_head_events, NULL, (double)events);
    if (failed) {
        h->log(x->inst, STRATA_LOG_ERROR, "%d event(s) of a batch could not be indexed", failed);
        h->metric_add(x->m_failed, NULL, failed);
    }
    return STRATA_PENDING;
}

/* ---- sealing ------------------------------------------------------------------------------------
 */

/* A sealed head: built segment bytes waiting to be written and registered.
 * The bytes are the writer's (seg_writer_finish_view), which stays in
 * x->sealing until they are registered. */
typedef struct sealed {
    const uint8_t *buf;
    size_t len;
    cat_segment meta;
} sealed;

/* The writers of a registered head (moved out of x->sealing) become the
 * spares, emptied here on the sealer's thread rather than on the feeding
 * one; the spares they replace were not taken by any head and go. */
static void keep_spares(indexer *x, seg_writer **done, size_t n)
{
    seg_writer *old[INDEXER_SPARE_WRITERS], *keep[INDEXER_SPARE_WRITERS] = {0};
    size_t nold, nkeep = 0;
    pthread_mutex_lock(&x->lock);
    nold = x->nspare;
    for (size_t i = 0; i < nold; i++)
        old[i] = x->spare[i];
    x->nspare = 0;
    pthread_mutex_unlock(&x->lock);
    for (size_t i = 0; i < nold; i++)
        seg_writer_free(old[i]);
    for (size_t i = 0; i < n; i++) {
        if (nkeep < INDEXER_SPARE_WRITERS && seg_writer_reset(done[i], NULL) == 0)
            keep[nkeep++] = done[i];
        else
            seg_writer_free(done[i]);
    }
    /* only this thread adds spares and it emptied the list: they all fit */
    pthread_mutex_lock(&x->lock);
    for (size_t i = 0; i < nkeep; i++)
        x->spare[x->nspare++] = keep[i];
    pthread_mutex_unlock(&x->lock);
}

/* Fill a catalog entry from built bytes (reopened: this also verifies them). */
/* Fill *out from an open segment (all but the path). */
static void describe_reader(const seg_reader *r, int level, uint64_t bytes, cat_segment *out)
{
    const seg_info *in = seg_get_info(r);
    memset(out, 0, sizeof *out);
    snprintf(out->tenant, sizeof out->tenant, "%s", in->tenant);
    out->level = level;
    out->events = in->events;
    out->bytes = bytes;
    out->min_ingest = in->min_ingest_ns;
    out->max_ingest = in->max_ingest_ns;
    out->min_event = in->min_event_ns;
    out->max_event = in->max_event_ns;
    out->dict_id = in->dict_id;
}

void idx_segment_path(const char *tenant, int level, int64_t min_ingest, char *out, size_t cap)
{
    char tdir[160];
    idx_tenant_dir(tenant, tdir, sizeof tdir);
    snprintf(out, cap, "segments/%s/L%d/%lld-%016llx.sseg", tdir, level, (long long)min_ingest,
             (unsigned long long)idx_random64());
}

int idx_describe(indexer *x, const uint8_t *buf, size_t len, int level, cat_segment *out)
{
    char err[256];
    pthread_mutex_lock(&x->dict_lock);
    seg_reader *r = seg_open_mem(buf, len, x->readers_dicts, err, sizeof err);
    pthread_mutex_unlock(&x->dict_lock);
    if (!r) {
        x->h->log(x->inst, STRATA_LOG_ERROR, "a segment just built does not verify: %s", err);
        return -1;
    }
    describe_reader(r, level, len, out);
    seg_close(r);
    idx_segment_path(out->tenant, level, out->min_ingest, out->path, sizeof out->path);
    return 0;
}

int idx_describe_file(indexer *x, const char *path, const char *rel, int level, cat_segment *out)
{
    char err[256];
    pthread_mutex_lock(&x->dict_lock);
    seg_reader *r = seg_open(path, x->readers_dicts, err, sizeof err);
    pthread_mutex_unlock(&x->dict_lock);
    if (!r) {
        x->h->log(x->inst, STRATA_LOG_ERROR, "a segment just built does not verify: %s", err);
        return -1;
    }
    describe_reader(r, level, seg_get_info(r)->parts.total, out);
    seg_close(r);
    snprintf(out->path, sizeof out->path, "%s", rel);
    return 0;
}

/* Build one segment per tenant of a sealed head (x->sealing). The writers
 * stay: queries read them until the segments are registered. */
static sealed *build_head(indexer *x, head_entry *head, size_t n, size_t *nout)
{
    sealed *s = calloc(n ? n : 1, sizeof *s);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        seg_writer *w = head[i].w;
        if (s && seg_writer_count(w)) {
            pthread_mutex_lock(&x->dict_lock);
            int have = idx_dict_current(x, head[i].tenant) != NULL;
            pthread_mutex_unlock(&x->dict_lock);
            if (!have && seg_writer_count(w) >= INDEXER_DICT_MIN_EVENTS) {
                const idx_dict *d = idx_dict_train(x, x->cat, head[i].tenant, w);
                if (d)
                    seg_writer_set_dict(w, d->bytes, d->len);
            }
            char err[256];
            if (seg_writer_finish_view(w, &s[k].buf, &s[k].len, err, sizeof err) < 0 ||
                idx_describe(x, s[k].buf, s[k].len, 0, &s[k].meta) < 0) {
                x->h->log(x->inst, STRATA_LOG_ERROR, "cannot build a segment: %s", err);
                s[k].buf = NULL;
            } else {
                k++;
            }
        }
    }
    *nout = k;
    return s;
}

/* Write the files and register them with the WAL position: 0, or -1 (the
 * caller retries; files written so far are orphans the next start removes). */
static int persist(indexer *x, sealed *s, size_t n, uint64_t wal_next)
{
    char err[512];
    for (size_t i = 0; i < n; i++) {
        char path[8192], dir[4800];
        idx_path(path, sizeof path, "%s/%s", x->root, s[i].meta.path);
        idx_path(dir, sizeof dir, "%s", path);
        *strrchr(dir, '/') = 0;
        if (idx_mkdirs(dir) < 0 || seg_write_file(path, s[i].buf, s[i].len, err, sizeof err) < 0) {
            x->h->log(x->inst, STRATA_LOG_ERROR, "cannot write segment %s: %s", path,
                      errno ? strerror(errno) : err);
            return -1;
        }
    }
    idx_crash_point("flush_after_write");
    cat_segment *metas = malloc((n ? n : 1) * sizeof *metas);
    if (!metas)
        return -1;
    for (size_t i = 0; i < n; i++)
        metas[i] = s[i].meta;
    seg_writer *done[INDEXER_MAX_TENANTS];
    size_t ndone = 0;
    pthread_rwlock_wrlock(&x->view_lock);
    int rc = catalog_add_flush(x->cat, metas, n, wal_next ? x->consumer : NULL, wal_next, err,
                               sizeof err);
    if (rc == 0) { /* the events now live in segments: the head copy goes */
        pthread_mutex_lock(&x->lock);
        for (size_t i = 0; i < x->nsealing; i++)
            done[ndone++] = x->sealing[i].w;
        x->nsealing = 0;
        pthread_mutex_unlock(&x->lock);
    }
    pthread_rwlock_unlock(&x->view_lock);
    if (rc == 0)
        keep_spares(x, done, ndone); /* after the last use of the sealed bytes */
    free(metas);
    if (rc < 0) {
        x->h->log(x->inst, STRATA_LOG_ERROR, "%s", err);
        return -1;
    }
    idx_crash_point("flush_after_commit");
    return 0;
}

/* The sealer thread: seals heads into L0 segments when their flush interval or size bound is
 * reached, registers them with the WAL position, then commits. */
static void sealer_main(void *arg)
{
    indexer *x = arg;
    const strata_host_api *h = x->h;
    sealed *pending = NULL;
    size_t npending = 0;
    uint64_t pending_next = 0;
    pthread_mutex_lock(&x->lock);
    for (;;) {
        int64_t now = clock_mono_ms();
        int due = x->nhead && x->head_first_ms &&
                  (now - x->head_first_ms >= x->set.flush_interval_ms ||
                   x->head_bytes >= x->set.max_head_bytes || x->stopping);
        if (!pending && !due) {
            if (x->stopping)
                break;
            idx_wait(x, INDEXER_POLL_MS);
            continue;
        }
        if (!pending) {
            /* the head becomes the sealing head, atomically for queries */
            pthread_mutex_unlock(&x->lock);
            pthread_rwlock_wrlock(&x->view_lock);
            pthread_mutex_lock(&x->lock);
            size_t n = x->nhead;
            for (size_t i = 0; i < n; i++)
                seg_writer_seal(x->head[i].w);
            memcpy(x->sealing, x->head, n * sizeof *x->head);
            x->nsealing = n;
            x->nhead = 0;
            x->head_bytes = 0;
            x->head_first_ms = 0;
            pending_next = x->head_next;
            pthread_cond_broadcast(&x->room);
            pthread_mutex_unlock(&x->lock);
            pthread_rwlock_unlock(&x->view_lock);
            h->metric_set(x->m_head_events, NULL, 0);
            int64_t t0 = clock_mono_ms();
            pending = build_head(x, x->sealing, n, &npending);
            h->metric_observe(x->m_seal_seconds, NULL, (double)(clock_mono_ms() - t0) / 1000.0);
        } else {
            pthread_mutex_unlock(&x->lock);
        }
        int ok = pending && persist(x, pending, npending, pending_next) == 0;
        size_t events = 0;
        for (size_t i = 0; ok && i < npending; i++)
            events += pending[i].meta.events;
        if (ok) {
            if (pending_next)
                h->output_commit(x->inst, pending_next);
            h->metric_add(x->m_segments, NULL, (double)npending);
            h->metric_add(x->m_events, NULL, (double)events);
            free(pending);
            pending = NULL;
            npending = 0;
        }
        pthread_mutex_lock(&x->lock);
        if (ok && pending_next)
            x->sealed_next = pending_next;
        if (!ok) {
            if (x->stopping) {
                h->log(x->inst, STRATA_LOG_ERROR,
                       "stopping with a head that could not be sealed; the WAL keeps its events "
                       "for the next start");
                break;
            }
            /* back off, then retry the same bytes (the WAL still has them) */
            idx_wait(x, (int64_t)INDEXER_RETRY_S * 1000);
        }
    }
    pthread_mutex_unlock(&x->lock);
    free(pending);
}

/* ---- the view query plugins read (strata/index.h) ---------------------------------------------
 */

/* strata.index.v1 dir: the index directory. */
static const char *view_dir(void *ctx)
{
    return ((indexer *)ctx)->root;
}
/* strata.index.v1 lock: freeze the catalog and the head for a query (shared). */
static void view_lock(void *ctx)
{
    pthread_rwlock_rdlock(&((indexer *)ctx)->view_lock);
}
/* strata.index.v1 unlock. */
static void view_unlock(void *ctx)
{
    pthread_rwlock_unlock(&((indexer *)ctx)->view_lock);
}

/* strata.index.v1 pipeline: the indexer's pipeline, whose WAL position searches wait on. */
static const char *view_pipeline(void *ctx)
{
    indexer *x = ctx;
    return x->h->pipeline_name(x->inst);
}

/* Events below the larger of head_next and sealed_next are in the head or
 * in a registered segment; and every one below 1, since WAL sequences start
 * at 1 (a search on a fresh node does not wait for a record nobody wrote). */
static int view_wait_visible(void *ctx, uint64_t wal_next, int64_t timeout_ms)
{
    indexer *x = ctx;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&x->lock);
    int rc = 0;
    while (wal_next > 1 &&
           (x->head_next > x->sealed_next ? x->head_next : x->sealed_next) < wal_next) {
        if (x->stopping || pthread_cond_timedwait(&x->fed, &x->lock, &until) != 0) {
            rc = -1;
            break;
        }
    }
    pthread_mutex_unlock(&x->lock);
    return rc;
}

/* The head entry of a tenant in list, or NULL. */
static seg_writer *find_writer(head_entry *list, size_t n, const char *tenant)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i].tenant, tenant))
            return list[i].w;
    return NULL;
}

/* The alternatives of a head scan, resolved to one writer's term ids. */
typedef struct scan_alts {
    const char *const *terms;
    const size_t *lens, *alt_end;
    size_t nalts;
    uint32_t ids[INDEXER_MAX_SCAN_ALTS][INDEXER_MAX_SCAN_TERMS];
    size_t nids[INDEXER_MAX_SCAN_ALTS];
    int live[INDEXER_MAX_SCAN_ALTS]; /* every term of it is in some row */
    int any;                         /* some alternative is live */
} scan_alts;

/* Look the alternatives' terms up in writer w. An alternative with a term
 * no row has yet cannot match any row. */
static void resolve_alts(const seg_writer *w, scan_alts *s)
{
    s->any = 0;
    size_t from = 0;
    for (size_t k = 0; k < s->nalts; k++) {
        s->live[k] = 1;
        s->nids[k] = 0;
        for (size_t t = from; t < s->alt_end[k] && s->live[k]; t++) {
            int64_t id = seg_writer_term_id(w, s->terms[t], s->lens[t]);
            if (id < 0)
                s->live[k] = 0;
            else if (s->nids[k] < INDEXER_MAX_SCAN_TERMS) /* fewer: more rows to verify */
                s->ids[k][s->nids[k]++] = (uint32_t)id;
        }
        s->any |= s->live[k];
        from = s->alt_end[k];
    }
}

/* Does row i of w hold every term of a live alternative? */
static int row_wanted(const seg_writer *w, size_t i, const scan_alts *s)
{
    if (!s->nalts)
        return 1;
    for (size_t k = 0; k < s->nalts; k++)
        if (s->live[k] && seg_writer_row_has(w, i, s->ids[k], s->nids[k]))
            return 1;
    return 0;
}

/* strata.index.v1 segments: the catalog's listing of a tenant, through the listing connection
 * (a query thread's call may come from any thread; SQLite connections are used by one at a
 * time). */
static int64_t view_segments(void *ctx, const char *tenant, strata_index_segment_fn fn, void *ud)
{
    indexer *x = ctx;
    cat_segment *segs = NULL;
    size_t n = 0;
    pthread_mutex_lock(&x->list_lock);
    int rc = x->list_cat ? catalog_list(x->list_cat, tenant, -1, &segs, &n) : -1;
    pthread_mutex_unlock(&x->list_lock);
    if (rc < 0)
        return -1;
    int64_t listed = 0;
    for (size_t i = 0; i < n; i++) {
        const cat_segment *c = &segs[i];
        strata_index_segment s = {.struct_size = sizeof s,
                                  .id = c->id,
                                  .tenant = c->tenant,
                                  .level = c->level,
                                  .path = c->path,
                                  .events = c->events,
                                  .bytes = c->bytes,
                                  .min_ingest_ns = c->min_ingest,
                                  .max_ingest_ns = c->max_ingest,
                                  .min_event_ns = c->min_event,
                                  .max_event_ns = c->max_event,
                                  .dict_id = c->dict_id};
        listed++;
        if (fn(ud, &s))
            break;
    }
    free(segs);
    return listed;
}

/* Scan the sealing writer (read-only: no lock but the view's) and the live
 * head writer (in chunks under the head lock, since flush appends to it),
 * visiting only rows that hold every term of some alternative (all rows
 * when there are none). */
static int64_t view_head_scan(void *ctx, const char *tenant, const char *const *terms,
                              const size_t *lens, const size_t *alt_end, size_t nalts,
                              strata_index_event_fn fn, void *ud)
{
    indexer *x = ctx;
    if (nalts > INDEXER_MAX_SCAN_ALTS)
        nalts = 0; /* more than we keep: visit every row, same answer */
    scan_alts *s = malloc(sizeof *s);
    strata_kv *kv = malloc(INDEXER_MAX_META * sizeof *kv);
    if (!kv || !s) {
        free(s);
        free(kv);
        return 0;
    }
    s->terms = terms;
    s->lens = lens;
    s->alt_end = alt_end;
    s->nalts = nalts;
    int64_t seen = 0;
    int stopped = 0;
    seg_writer *sw = find_writer(x->sealing, x->nsealing, tenant);
    if (sw)
        resolve_alts(sw, s);
    size_t rows = sw && (!nalts || s->any) ? seg_writer_count(sw) : 0;
    for (size_t i = 0; i < rows && !stopped; i++) {
        strata_event ev;
        if (row_wanted(sw, i, s) && seg_writer_row(sw, i, &ev, kv, INDEXER_MAX_META) == 0) {
            seen++;
            stopped = fn(ud, &ev);
        }
    }
    for (size_t i = 0; !stopped;) {
        pthread_mutex_lock(&x->lock);
        seg_writer *w = find_writer(x->head, x->nhead, tenant);
        size_t end = w ? seg_writer_count(w) : 0;
        if (end > i + INDEXER_SCAN_CHUNK)
            end = i + INDEXER_SCAN_CHUNK;
        if (w) /* looked up again per chunk: a term may arrive meanwhile */
            resolve_alts(w, s);
        if (w && nalts && !s->any)
            i = end;
        for (; i < end && !stopped; i++) {
            strata_event ev;
            if (row_wanted(w, i, s) && seg_writer_row(w, i, &ev, kv, INDEXER_MAX_META) == 0) {
                seen++;
                stopped = fn(ud, &ev);
            }
        }
        int more = w && i < seg_writer_count(w);
        pthread_mutex_unlock(&x->lock);
        if (!more)
            break;
    }
    free(kv);
    free(s);
    return stopped ? -1 : seen;
}

/* ---- lifecycle ----------------------------------------------------------------------------------
 */

int idx_path(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) {
        out[0] = 0;
        return -1;
    }
    return 0;
}

int idx_mkdirs(const char *path)
{
    char tmp[8192];
    idx_path(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* Read and check the tunable settings; 0, or -1 with the instance error set. */
static int read_settings(indexer *x, const strata_config *cfg, idx_settings *out)
{
    const strata_host_api *h = x->h;
    out->flush_interval_ms = h->cfg_int(cfg, "flush_interval");
    out->max_head_bytes = (size_t)h->cfg_int(cfg, "max_head_bytes");
    out->block_events = (uint32_t)h->cfg_int(cfg, "block_events");
    out->zstd_level = (int)h->cfg_int(cfg, "zstd_level");
    out->compaction = h->cfg_bool(cfg, "compaction");
    out->window_ms[0] = 0;
    out->window_ms[1] = h->cfg_int(cfg, "l1_window");
    out->window_ms[2] = h->cfg_int(cfg, "l2_window");
    out->window_ms[3] = h->cfg_int(cfg, "l3_window");
    if (out->flush_interval_ms < 100 || out->max_head_bytes < (1u << 20) ||
        out->max_head_bytes > INDEXER_MAX_HEAD_BYTES || out->block_events < 1 ||
        out->block_events > 65536 || out->zstd_level < 1 || out->zstd_level > 22 ||
        out->window_ms[1] < 1000 || out->window_ms[2] < out->window_ms[1] ||
        out->window_ms[3] < out->window_ms[2]) {
        h->set_error(x->inst,
                     "flush_interval must be >= 100ms, max_head_bytes 1MiB..%u MiB, "
                     "block_events 1..65536, zstd_level 1..22, and "
                     "1s <= l1_window <= l2_window <= l3_window",
                     INDEXER_MAX_HEAD_BYTES >> 20);
        return -1;
    }
    return 0;
}

/* Hot reload in place: every setting but dir (and compaction on/off, which
 * starts or stops a thread) applies to the next head and the next pass. */
static int indexer_reconfigure(void *state, const strata_config *cfg)
{
    indexer *x = state;
    idx_settings s;
    if (read_settings(x, cfg, &s) < 0)
        return STRATA_EINVAL;
    const char *dir = x->h->cfg_str(cfg, "dir");
    char root[sizeof x->root];
    if (dir[0])
        snprintf(root, sizeof root, "%s", dir);
    else
        snprintf(root, sizeof root, "%s/index", x->h->data_dir(x->inst));
    if (strcmp(root, x->root) != 0 || s.compaction != x->set.compaction) {
        x->h->set_error(x->inst, "dir and compaction cannot change without a restart");
        return STRATA_EINVAL;
    }
    pthread_mutex_lock(&x->lock);
    x->set = s;
    pthread_cond_broadcast(&x->wake);
    pthread_cond_broadcast(&x->room);
    pthread_mutex_unlock(&x->lock);
    return STRATA_OK;
}

/* The plugin's init: settings, locks and the services' tables (files open in start). */
static int indexer_init(strata_instance *inst, const strata_host_api *h, const strata_config *cfg,
                        void **state)
{
    if (!STRATA_HOST_HAS(h, output_commit)) {
        h->set_error(inst, "the indexer needs a host with plugin ABI 1.2 or later");
        return STRATA_EINVAL;
    }
    indexer *x = calloc(1, sizeof *x);
    if (!x)
        return STRATA_ENOMEM;
    x->inst = inst;
    x->h = h;
    const char *dir = h->cfg_str(cfg, "dir");
    if (strlen(dir) > 2048 || strlen(h->data_dir(inst)) > 2048) {
        h->set_error(inst, "dir (or the data dir) is longer than 2048 bytes");
        free(x);
        return STRATA_EINVAL;
    }
    if (dir[0])
        snprintf(x->root, sizeof x->root, "%s", dir);
    else
        snprintf(x->root, sizeof x->root, "%s/index", h->data_dir(inst));
    snprintf(x->consumer, sizeof x->consumer, "%s/%s", h->pipeline_name(inst),
             h->instance_name(inst));
    x->lock_fd = -1;
    if (read_settings(x, cfg, &x->set) < 0) {
        free(x);
        return STRATA_EINVAL;
    }
    x->m_segments = h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_indexer_segments_total",
                                  "L0 segments sealed.", NULL, NULL, 0);
    x->m_events = h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_indexer_events_total",
                                "Events made durable in segments.", NULL, NULL, 0);
    x->m_skipped = h->metric_new(
        inst, STRATA_METRIC_COUNTER, "strata_indexer_replayed_events_skipped_total",
        "Replayed WAL events skipped because a segment already holds them.", NULL, NULL, 0);
    x->m_failed = h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_indexer_failed_events_total",
                                "Events that could not be indexed.", NULL, NULL, 0);
    x->m_head_events = h->metric_new(inst, STRATA_METRIC_GAUGE, "strata_indexer_head_events",
                                     "Events in the in-memory head.", NULL, NULL, 0);
    static const double secs[] = {0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30};
    x->m_seal_seconds = h->metric_new(inst, STRATA_METRIC_HISTOGRAM, "strata_indexer_seal_seconds",
                                      "Time to build one head's segments.", NULL, secs, 9);
    x->m_compactions =
        h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_indexer_compactions_total",
                      "Compactions by target level.", "level", NULL, 0);
    pthread_mutex_init(&x->lock, NULL);
    pthread_mutex_init(&x->dict_lock, NULL);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    /* a stream of queries must not starve the sealer */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&x->view_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    x->view = (strata_index_api){.struct_size = sizeof(strata_index_api),
                                 .ctx = x,
                                 .dir = view_dir,
                                 .lock = view_lock,
                                 .unlock = view_unlock,
                                 .head_scan = view_head_scan,
                                 .segments = view_segments,
                                 .pipeline = view_pipeline,
                                 .wait_visible = view_wait_visible};
    pthread_cond_init(&x->wake, NULL);
    pthread_cond_init(&x->room, NULL);
    pthread_cond_init(&x->fed, NULL);
    pthread_mutex_init(&x->list_lock, NULL);
    pthread_cond_init(&x->jobs_cv, NULL);
    x->admin = (strata_index_admin_api){
        .struct_size = sizeof(strata_index_admin_api), .ctx = x, .compact = idx_compact_now};
    *state = x;
    return STRATA_OK;
}

/* The plugin's start: the catalog, orphans removed, the WAL position committed, the sealer and
 * compactor threads, the services and the admin route. */
static int indexer_start(void *state)
{
    indexer *x = state;
    const strata_host_api *h = x->h;
    char path[8192], err[512];
    idx_path(path, sizeof path, "%s/catalog.db", x->root);
    x->readers_dicts = seg_dicts_new();
    if (!x->readers_dicts || idx_mkdirs(x->root) < 0) {
        h->set_error(x->inst, "cannot create %s: %s", x->root, strerror(errno));
        return STRATA_ERR;
    }
    /* one indexer per index directory: a second one (a reload that replaces
     * the instance, another process) would delete the first one's files as
     * orphans before it registers them */
    char lock[8192];
    idx_path(lock, sizeof lock, "%s/LOCK", x->root);
    x->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (x->lock_fd < 0 || flock(x->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        h->set_error(x->inst,
                     "%s is in use by another indexer (one per directory; change its settings "
                     "in place instead of renaming or replacing it)",
                     x->root);
        return STRATA_ERR;
    }
    x->cat = catalog_open(path, err, sizeof err);
    x->list_cat = x->cat ? catalog_open(path, err, sizeof err) : NULL;
    if (!x->list_cat) {
        h->set_error(x->inst, "%s", err);
        return STRATA_ERR;
    }
    load_dicts(x);
    remove_orphans(x);
    x->sealed_next = catalog_progress(x->cat, x->consumer);
    if (x->sealed_next)
        h->output_commit(x->inst, x->sealed_next);
    x->sealer = h->thread_start(x->inst, "indexer-seal", sealer_main, x);
    if (!x->sealer) {
        h->set_error(x->inst, "cannot start the sealer thread");
        return STRATA_ERR;
    }
    if (x->set.compaction) {
        x->compactor = h->thread_start(x->inst, "indexer-compact", idx_compactor_main, x);
        if (!x->compactor)
            h->log(x->inst, STRATA_LOG_WARN, "cannot start the compactor; segments stay at L0");
    }
    if (STRATA_HOST_HAS(h, service_export)) {
        int rc = h->service_export(x->inst, STRATA_INDEX_SERVICE, &x->view);
        if (rc == STRATA_OK)
            x->view_exported = 1;
        else
            h->log(x->inst, STRATA_LOG_WARN,
                   "another indexer already serves searches in this process; this one's "
                   "in-memory head is not searchable until its segments are sealed");
        if (h->service_export(x->inst, STRATA_INDEX_ADMIN_SERVICE, &x->admin) == STRATA_OK)
            x->admin_exported = 1;
    }
    /* compaction to completion over HTTP; a pipeline without the HTTP
     * server (service.http_listen empty) has only the service */
    int rc = h->http_route(x->inst, "POST", "/v1/admin/compact", idx_compact_http, x);
    if (rc != STRATA_OK && rc != STRATA_ENOTFOUND)
        h->log(x->inst, STRATA_LOG_WARN,
               "POST /v1/admin/compact is served by another indexer of this process");
    return STRATA_OK;
}

/* The plugin's stop: withdraw the services, seal what the head holds and join the threads; answer
 * compaction jobs still queued. */
static void indexer_stop(void *state)
{
    indexer *x = state;
    if (x->view_exported) /* waits for queries reading the head */
        x->h->service_withdraw(x->inst, STRATA_INDEX_SERVICE);
    x->view_exported = 0;
    pthread_mutex_lock(&x->lock);
    x->stopping = 1;
    pthread_cond_broadcast(&x->wake);
    pthread_cond_broadcast(&x->room);
    pthread_cond_broadcast(&x->fed);
    pthread_mutex_unlock(&x->lock);
    if (x->sealer)
        x->h->thread_join(x->sealer);
    x->sealer = NULL;
    if (x->compactor)
        x->h->thread_join(x->compactor);
    pthread_mutex_lock(&x->lock);
    x->compactor = NULL;
    pthread_mutex_unlock(&x->lock);
    idx_compact_cancel_jobs(x); /* wakes compact() callers, who then release the service */
    if (x->admin_exported)
        x->h->service_withdraw(x->inst, STRATA_INDEX_ADMIN_SERVICE);
    x->admin_exported = 0;
}

/* The plugin's destroy: free the heads, writers and dictionaries. */
static void indexer_destroy(void *state)
{
    indexer *x = state;
    for (size_t i = 0; i < x->nhead; i++)
        seg_writer_free(x->head[i].w);
    for (size_t i = 0; i < x->nsealing; i++)
        seg_writer_free(x->sealing[i].w);
    for (size_t i = 0; i < x->nspare; i++)
        seg_writer_free(x->spare[i]);
    for (size_t i = 0; i < x->ndicts; i++)
        free(x->dicts[i].bytes);
    free(x->dicts);
    seg_dicts_free(x->readers_dicts);
    catalog_close(x->cat);
    catalog_close(x->list_cat);
    pthread_mutex_destroy(&x->list_lock);
    if (x->lock_fd >= 0)
        close(x->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&x->lock);
    pthread_mutex_destroy(&x->dict_lock);
    pthread_rwlock_destroy(&x->view_lock);
    pthread_cond_destroy(&x->wake);
    pthread_cond_destroy(&x->room);
    pthread_cond_destroy(&x->fed);
    pthread_cond_destroy(&x->jobs_cv);
    free(x);
}

static const strata_plugin indexer_plugin = {
    STRATA_PLUGIN_HEADER,
    .name = "indexer",
    .kind = STRATA_KIND_OUTPUT,
    .version = "1.0.0",
    .description = "Indexes events into compressed, searchable segments (hot tier).",
    .config = indexer_keys,
    .config_count = sizeof indexer_keys / sizeof indexer_keys[0],
    .init = indexer_init,
    .reconfigure = indexer_reconfigure,
    .start = indexer_start,
    .stop = indexer_stop,
    .destroy = indexer_destroy,
    .flush = indexer_flush,
};

STRATA_PLUGIN_DEFINE(indexer_plugin)
