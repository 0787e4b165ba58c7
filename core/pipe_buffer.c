/*
 * core/pipe_buffer.c - a pipeline's WAL buffer and its consumers (see
 * pipe_buffer.h).
 */
#include "pipe_buffer.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "core_limits.h"
#include "engine.h"
#include "log.h"

pipe_buffer *pipe_buffer_open(const char *data_dir, const char *pipe_name, int64_t segment_bytes,
                              int64_t max_bytes, char *err, size_t errlen)
{
    pipe_buffer *pb = calloc(1, sizeof *pb);
    if (!pb) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/wal/%s", data_dir, pipe_name);
    pb->pipeline = strdup(pipe_name);
    pb->dir = strdup(dir);
    pthread_mutex_init(&pb->lock, NULL);
    pthread_cond_init(&pb->cond, NULL);
    pb->max_bytes = max_bytes;
    if (!pb->pipeline || !pb->dir) {
        snprintf(err, errlen, "out of memory");
        pipe_buffer_close(pb);
        return NULL;
    }
    char why[512];
    pb->w = wal_open(dir, segment_bytes, why, sizeof why);
    if (!pb->w) {
        snprintf(err, errlen, "pipeline '%s': cannot open its WAL: %s", pipe_name, why);
        pipe_buffer_close(pb);
        return NULL;
    }
    wal_stats st;
    wal_get_stats(pb->w, &st);
    atomic_store(&pb->durable_next, st.next_seq);
    atomic_store(&pb->disk_bytes, (long long)st.bytes);
    return pb;
}

/* Close a pipeline's WAL: stop its consumers, keep their checkpoints, and retire the consumed
 * segments when every consumer is past them (NULL is fine). */
void pipe_buffer_close(pipe_buffer *pb)
{
    if (!pb)
        return;
    wal_stats st = {0};
    if (pb->w)
        wal_get_stats(pb->w, &st);
    wal_close(pb->w);
    /* with no writer left: when every consumer has checkpointed past every
     * record, the WAL keeps nothing but an empty segment at next_seq (a
     * consumer that ever ran has a checkpoint: pipe_buffer_consume writes
     * one at its start) */
    uint64_t lowest = 0;
    if (pb->w && st.next_seq > st.first_seq &&
        wal_checkpoints_lowest(pb->dir, &lowest) == STRATA_OK && lowest >= st.next_seq) {
        int64_t freed = wal_retire_consumed(pb->dir, st.next_seq);
        if (freed < 0)
            log_warn("pipeline '%s': cannot remove its consumed WAL segments: %s", pb->pipeline,
                     strerror(errno));
        else if (freed > 0)
            log_info("pipeline '%s': every output consumed the WAL; %lld bytes of it removed",
                     pb->pipeline, (long long)freed);
    }
    pthread_mutex_destroy(&pb->lock);
    pthread_cond_destroy(&pb->cond);
    free(pb->pipeline);
    free(pb->dir);
    free(pb);
}

int pipe_buffer_has_room(pipe_buffer *pb)
{
    return wal_accepting(pb->w) && atomic_load(&pb->disk_bytes) < pb->max_bytes;
}

typedef struct append_ctx {
    pipe_buffer *pb;
    batch_t *b;
    void (*done)(int status, void *arg);
    void *arg;
} append_ctx;

/* WAL thread: the record is durable (or failed). Wake consumers. */
static void on_durable(int status, uint64_t seq, void *arg)
{
    append_ctx *c = arg;
    if (status == 0) {
        pthread_mutex_lock(&c->pb->lock);
        if (seq + 1 > atomic_load(&c->pb->durable_next))
            atomic_store(&c->pb->durable_next, seq + 1);
        pthread_cond_broadcast(&c->pb->cond);
        pthread_mutex_unlock(&c->pb->lock);
    }
    c->done(status, c->arg);
    batch_unref(c->b);
    free(c);
}

int pipe_buffer_append(pipe_buffer *pb, batch_t *b, void (*done)(int status, void *arg), void *arg)
{
    append_ctx *c = malloc(sizeof *c);
    if (!c)
        return STRATA_ENOMEM;
    batch_ref(b); /* the WAL reads b->data until the fsync */
    *c = (append_ctx){pb, b, done, arg};
    int rc = wal_append(pb->w, b->data, b->len, on_durable, c);
    if (rc != STRATA_OK) {
        batch_unref(b);
        free(c);
    }
    return rc;
}

/* Remove checkpoint files of consumers that are not in the list: a removed
 * output must not hold back deletion forever. */
static void drop_stale_checkpoints(pipe_buffer *pb, const char *const *consumers, size_t n)
{
    char cdir[PATH_MAX];
    snprintf(cdir, sizeof cdir, "%s/checkpoints", pb->dir);
    DIR *d = opendir(cdir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int live = 0;
        for (size_t i = 0; i < n && !live; i++)
            live = strcmp(consumers[i], e->d_name) == 0;
        if (!live) {
            char p[PATH_MAX + 256];
            snprintf(p, sizeof p, "%s/%s", cdir, e->d_name);
            if (unlink(p) == 0)
                log_info("pipeline '%s': removed the WAL checkpoint of former output '%s'",
                         pb->pipeline, e->d_name);
        }
    }
    closedir(d);
}

void pipe_buffer_maintain(pipe_buffer *pb, const char *const *consumers, const uint64_t *positions,
                          size_t n)
{
    drop_stale_checkpoints(pb, consumers, n);
    if (n) {
        uint64_t min = positions[0];
        for (size_t i = 1; i < n; i++)
            if (positions[i] < min)
                min = positions[i];
        wal_truncate_before(pb->w, min);
        uint64_t durable = atomic_load(&pb->durable_next);
        atomic_store(&pb->lag_records, durable > min ? durable - min : 0);
    }
    wal_stats st;
    wal_get_stats(pb->w, &st);
    atomic_store(&pb->disk_bytes, (long long)st.bytes);
}

/* Wait up to WAL_CONSUMER_WAIT_MS for records past `next` to become durable. */
static void wait_for_commit(pipe_buffer *pb, uint64_t next)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += WAL_CONSUMER_WAIT_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&pb->lock);
    if (atomic_load(&pb->durable_next) <= next)
        pthread_cond_timedwait(&pb->cond, &pb->lock, &ts);
    pthread_mutex_unlock(&pb->lock);
}

uint64_t pipe_buffer_safe_next(instance *o)
{
    uint64_t next = atomic_load(&o->consumer_next);
    if (!atomic_load(&o->deferred))
        return next;
    uint64_t c = atomic_load(&o->committed_next);
    return c < next ? c : next;
}

/* Write an output's WAL checkpoint (the next sequence it needs), logging a failure. */
static void save_checkpoint(instance *o, uint64_t next)
{
    if (wal_checkpoint_put(o->buf->dir, o->name, next) != STRATA_OK)
        log_write(LOG_ERROR, o->label, "cannot write its WAL checkpoint in %s", o->buf->dir);
}

void pipe_buffer_save_final(instance *o)
{
    if (o->buf && o->kind == STRATA_KIND_OUTPUT && atomic_load(&o->consumer_next) > 0)
        save_checkpoint(o, pipe_buffer_safe_next(o));
}

/* An output's worker when its pipeline has a WAL: read from the durable
 * checkpoint, deliver batches whose tag matches, advance the checkpoint.
 * Stops when asked and caught up (q_stop), or at once (q_abort). */
void *pipe_buffer_consume(void *arg)
{
    instance *o = arg;
    pipe_buffer *pb = o->buf;
    uint64_t next = 0;
    int had_checkpoint = wal_checkpoint_get(pb->dir, o->name, &next) == STRATA_OK;
    if (!had_checkpoint)
        next = 1; /* a new consumer starts at the oldest retained record */
    char err[1024];
    wal_reader *r = wal_reader_open(pb->dir, next, err, sizeof err);
    if (!r) {
        log_write(LOG_ERROR, o->label, "cannot read the WAL: %s", err);
        atomic_store(&o->worker_done, 1);
        return NULL;
    }
    /* a consumer that ran has a checkpoint, even before it consumes: the
     * WAL is only retired when every one of them has passed its records */
    if (!had_checkpoint)
        save_checkpoint(o, next);
    atomic_store(&o->consumer_next, next);
    /* a deferred output committed at most up to where we start */
    unsigned long long c0 = atomic_load(&o->committed_next);
    while (c0 < next && !atomic_compare_exchange_weak(&o->committed_next, &c0, next))
        ;
    int64_t saved_ms = clock_mono_ms();
    uint64_t saved = next;
    for (;;) {
        pthread_mutex_lock(&o->qlock);
        int stop = o->q_stop, abort_now = o->q_abort;
        pthread_mutex_unlock(&o->qlock);
        if (abort_now)
            break;
        uint64_t safe = pipe_buffer_safe_next(o);
        if (safe != saved && clock_mono_ms() - saved_ms >= WAL_CHECKPOINT_MS) {
            save_checkpoint(o, safe);
            saved = safe;
            saved_ms = clock_mono_ms();
        }
        if (next >= atomic_load(&pb->durable_next)) {
            if (stop)
                break; /* caught up with everything durable */
            wait_for_commit(pb, next);
            continue;
        }
        const void *data;
        size_t len;
        uint64_t seq;
        int rc = wal_reader_next(r, &data, &len, &seq, err, sizeof err);
        if (rc == 0) {
            wait_for_commit(pb, next);
            continue;
        }
        if (rc < 0) {
            atomic_fetch_add(&o->errors, 1);
            log_write(LOG_ERROR, o->label, "corrupt WAL record skipped: %s", err);
            continue;
        }
        next = seq + 1;
        batch_t *b = NULL;
        if (batch_decode(data, len, &b, err, sizeof err) != STRATA_OK) {
            atomic_fetch_add(&o->errors, 1);
            log_write(LOG_ERROR, o->label, "WAL record %llu is not a batch: %s",
                      (unsigned long long)seq, err);
        } else {
            const char *tag = b->tag;
            b->seq = seq;
            if (route_match(o->match, tag)) {
                atomic_fetch_add(&o->events_in, b->count);
                output_deliver(o, b);
            }
            batch_unref(b);
        }
        atomic_store(&o->consumer_next, next);
    }
    save_checkpoint(o, pipe_buffer_safe_next(o));
    wal_reader_close(r);
    atomic_store(&o->worker_done, 1);
    return NULL;
}
