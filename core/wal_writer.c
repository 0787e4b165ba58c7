/*
 * core/wal_writer.c - opening and recovering the WAL, group commit,
 * rotation, deletion of consumed segments, checkpoints.
 *
 * Thread: wal_append from any thread (under w->lock); the writer thread
 * owns the file descriptor and everything about the active segment.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "crc32c.h"
#include "fsutil.h"
#include "log.h"
#include "state.h"
#include "strata/abi.h"
#include "wal.h"
#include "wal_segment.h"

/* After a failed write or fsync, appends are refused for this long before
 * one is let through to try again: the WAL heals itself when space returns,
 * without hammering a full disk. */
#define WAL_RETRY_MS 1000
/* iovecs per pwritev call (IOV_MAX is 1024 on Linux). */
#define WAL_IOV_CHUNK 1024

typedef struct wal_req {
    const void *data;
    size_t len;
    wal_done_fn done;
    void *arg;
    struct wal_req *next;
} wal_req;

struct wal {
    char *dir;
    int64_t segment_bytes;
    pthread_mutex_t lock; /* guards the queue, flags, stats, segs */
    pthread_cond_t cond;
    wal_req *head, *tail;
    size_t queued_bytes;
    int closing;
    int healthy;
    int64_t retry_at_ms;
    pthread_t thread;
    int thread_started;
    wal_stats st;
    uint64_t *segs; /* first sequences of retained segments, ascending */
    size_t nsegs;
    /* writer thread only */
    int fd;
    off_t seg_size; /* durable end of the active segment */
    uint64_t next_seq;
};

/* Remember a segment file by its first sequence; -1 on OOM. */
static int segs_push(wal *w, uint64_t first)
{
    uint64_t *s = realloc(w->segs, (w->nsegs + 1) * sizeof *s);
    if (!s)
        return -1;
    s[w->nsegs++] = first;
    w->segs = s;
    return 0;
}

/* Create and open a new segment starting at first_seq; the old fd (if
 * any) is closed. 0 or -errno. */
static int segment_create(wal *w, uint64_t first_seq)
{
    char path[PATH_MAX];
    wal_seg_path(w->dir, first_seq, path, sizeof path);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    uint8_t h[WAL_HEADER_BYTES];
    wal_seg_header_encode(h, first_seq);
    if (pwrite(fd, h, sizeof h, 0) != WAL_HEADER_BYTES || fdatasync(fd) != 0 ||
        wal_dir_sync(w->dir) != 0) {
        int e = errno ? errno : EIO;
        close(fd);
        unlink(path);
        return -e;
    }
    if (w->fd >= 0)
        close(w->fd);
    w->fd = fd;
    w->seg_size = WAL_HEADER_BYTES;
    pthread_mutex_lock(&w->lock);
    int rc = segs_push(w, first_seq);
    w->st.files++;
    pthread_mutex_unlock(&w->lock);
    return rc ? -ENOMEM : 0;
}

/* Scan the newest segment: find its durable end and next sequence,
 * truncating a torn tail. A corrupt record in it seals it: writing goes on
 * in a new segment so no good record is ever written after a bad one. */
static int recover(wal *w, const wal_seg *seg, char *err, size_t errlen)
{
    int fd = open(seg->path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", seg->path, strerror(errno));
        return -1;
    }
    uint64_t first;
    char why[256];
    if (wal_seg_header_read(fd, &first, why, sizeof why) != 0 || first != seg->first_seq) {
        /* a crash while creating it: the header never became durable */
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_size <= WAL_HEADER_BYTES) {
            log_warn("WAL %s: incomplete segment header after a crash; recreating it", seg->path);
            close(fd);
            unlink(seg->path);
            w->next_seq = seg->first_seq;
            return 1; /* caller creates a fresh segment */
        }
        snprintf(err, errlen, "%s: %s", seg->path, why);
        close(fd);
        return -1;
    }
    struct stat st;
    fstat(fd, &st);
    off_t off = WAL_HEADER_BYTES;
    uint64_t seq = first;
    uint8_t *buf = NULL;
    size_t cap = 0;
    uint32_t len;
    int rc;
    while ((rc = wal_seg_read_record(fd, off, st.st_size, seq, &buf, &cap, &len, why,
                                     sizeof why)) == WAL_REC_OK) {
        off += WAL_RECORD_HEADER + (off_t)len;
        seq++;
    }
    free(buf);
    w->next_seq = seq;
    if (rc == WAL_REC_TORN) {
        uint64_t torn = (uint64_t)(st.st_size - off);
        if (ftruncate(fd, off) != 0 || fdatasync(fd) != 0) {
            snprintf(err, errlen, "%s: cannot truncate the torn tail: %s", seg->path,
                     strerror(errno));
            close(fd);
            return -1;
        }
        w->st.torn_bytes_truncated += torn;
        log_warn("WAL %s: truncated a torn tail of %llu bytes at offset %lld (%s)", seg->path,
                 (unsigned long long)torn, (long long)off, why);
    } else if (rc == WAL_REC_CORRUPT) {
        log_error("WAL %s: corrupt record (%s); the segment is sealed and writing continues in a "
                  "new one; run `strata wal check` for details",
                  seg->path, why);
        close(fd);
        if (seq == first) {
            /* not one good record: keep the file for inspection under a
             * name the WAL ignores, so the new segment cannot overwrite it */
            char keep[sizeof seg->path + 16];
            snprintf(keep, sizeof keep, "%s.corrupt", seg->path);
            if (rename(seg->path, keep) != 0)
                log_error("WAL: cannot move %s aside: %s", seg->path, strerror(errno));
        }
        return 1;
    }
    w->fd = fd;
    w->seg_size = off;
    return 0;
}

static void *writer_main(void *arg);

wal *wal_open(const char *dir, int64_t segment_bytes, char *err, size_t errlen)
{
    if (fs_mkdirs(dir) != 0) {
        snprintf(err, errlen, "cannot create WAL directory %s: %s", dir, strerror(errno));
        return NULL;
    }
    wal *w = calloc(1, sizeof *w);
    if (!w || !(w->dir = strdup(dir))) {
        free(w);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->segment_bytes = segment_bytes > 0 ? segment_bytes : WAL_DEFAULT_SEGMENT_BYTES;
    w->fd = -1;
    w->healthy = 1;
    w->next_seq = 1;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    wal_seg *segs;
    size_t n;
    if (wal_seg_list(dir, &segs, &n) != 0) {
        snprintf(err, errlen, "cannot list %s: %s", dir, strerror(errno));
        wal_close(w);
        return NULL;
    }
    int need_new = n == 0;
    for (size_t i = 0; i + 1 < n; i++)
        segs_push(w, segs[i].first_seq);
    w->st.files = n ? n - 1 : 0;
    if (n) {
        int rc = recover(w, &segs[n - 1], err, errlen);
        if (rc < 0) {
            free(segs);
            wal_close(w);
            return NULL;
        }
        if (rc == 0) {
            segs_push(w, segs[n - 1].first_seq);
            w->st.files++;
        } else if (w->next_seq > segs[n - 1].first_seq) {
            segs_push(w, segs[n - 1].first_seq); /* the sealed corrupt segment stays */
            w->st.files++;
        }
        need_new = rc != 0;
    }
    free(segs);
    if (need_new) {
        int rc = segment_create(w, w->next_seq);
        if (rc != 0) {
            snprintf(err, errlen, "cannot create a WAL segment in %s: %s", dir, strerror(-rc));
            wal_close(w);
            return NULL;
        }
    }
    w->st.first_seq = w->nsegs ? w->segs[0] : w->next_seq;
    w->st.next_seq = w->next_seq;
    if (pthread_create(&w->thread, NULL, writer_main, w) == 0) {
        w->thread_started = 1;
    } else {
        snprintf(err, errlen, "cannot start the WAL writer thread");
        close(w->fd);
        w->fd = -1;
        wal_close(w);
        return NULL;
    }
    return w;
}

int wal_healthy(wal *w)
{
    pthread_mutex_lock(&w->lock);
    int h = w->healthy;
    pthread_mutex_unlock(&w->lock);
    return h;
}

int wal_accepting(wal *w)
{
    pthread_mutex_lock(&w->lock);
    int ok = !w->closing && (w->healthy || clock_mono_ms() >= w->retry_at_ms);
    pthread_mutex_unlock(&w->lock);
    return ok;
}

int wal_append(wal *w, const void *data, size_t len, wal_done_fn done, void *arg)
{
    if (len > WAL_MAX_RECORD)
        return STRATA_ERANGE;
    wal_req *r = malloc(sizeof *r);
    if (!r)
        return STRATA_ENOMEM;
    r->data = data;
    r->len = len;
    r->done = done;
    r->arg = arg;
    r->next = NULL;
    pthread_mutex_lock(&w->lock);
    int rc = STRATA_OK;
    if (w->closing)
        rc = STRATA_ESTOPPING;
    else if (!w->healthy && clock_mono_ms() < w->retry_at_ms)
        rc = STRATA_ERR;
    if (rc != STRATA_OK) {
        pthread_mutex_unlock(&w->lock);
        free(r);
        return rc;
    }
    if (w->tail)
        w->tail->next = r;
    else
        w->head = r;
    w->tail = r;
    w->queued_bytes += len;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return STRATA_OK;
}

/* Write n requests as records starting at w->next_seq, then fdatasync.
 * 0 or -errno (the segment is then cut back to its durable end). */
static int commit(wal *w, wal_req *reqs, size_t n, size_t bytes)
{
    if (w->seg_size > WAL_HEADER_BYTES && w->seg_size + (off_t)bytes > w->segment_bytes) {
        /* the active segment is full: the next records go to a new one */
        int rc = segment_create(w, w->next_seq);
        if (rc != 0)
            return rc;
    }
    uint8_t(*hdr)[WAL_RECORD_HEADER] = malloc(n * WAL_RECORD_HEADER);
    struct iovec *iov = malloc(2 * n * sizeof *iov);
    if (!hdr || !iov) {
        free(hdr);
        free(iov);
        return -ENOMEM;
    }
    size_t k = 0, i = 0;
    for (wal_req *r = reqs; r && i < n; r = r->next, i++) {
        uint64_t seq = w->next_seq + i;
        uint32_t l = (uint32_t)r->len;
        uint32_t crc = crc32c(crc32c(0, &seq, 8), r->data, r->len);
        memcpy(hdr[i], &l, 4);
        memcpy(hdr[i] + 4, &crc, 4);
        memcpy(hdr[i] + 8, &seq, 8);
        iov[k++] = (struct iovec){hdr[i], WAL_RECORD_HEADER};
        if (r->len)
            iov[k++] = (struct iovec){(void *)r->data, r->len};
    }
    off_t off = w->seg_size;
    int rc = 0;
    for (size_t at = 0; at < k && rc == 0;) {
        int cnt = (int)(k - at < WAL_IOV_CHUNK ? k - at : WAL_IOV_CHUNK);
        ssize_t wr = pwritev(w->fd, iov + at, cnt, off);
        if (wr < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        off += wr;
        /* advance past what was written, splitting a partly written iovec */
        while (wr > 0 && at < k) {
            if ((size_t)wr >= iov[at].iov_len) {
                wr -= (ssize_t)iov[at].iov_len;
                at++;
            } else {
                iov[at].iov_base = (char *)iov[at].iov_base + wr;
                iov[at].iov_len -= (size_t)wr;
                wr = 0;
            }
        }
    }
    if (rc == 0 && fdatasync(w->fd) != 0)
        rc = -errno;
    free(hdr);
    free(iov);
    if (rc != 0) {
        /* never leave records that were not acknowledged where a restart
         * would find them: a client will retry them */
        if (ftruncate(w->fd, w->seg_size) != 0 || fdatasync(w->fd) != 0)
            log_error("WAL: cannot cut back a failed write: %s", strerror(errno));
        return rc;
    }
    w->seg_size = off;
    return 0;
}

/* The WAL thread: group commit. Everything appended while the previous fsync ran is written with
 * one pwritev and one fdatasync, then acknowledged. */
static void *writer_main(void *arg)
{
    wal *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        while (!w->head && !w->closing)
            pthread_cond_wait(&w->cond, &w->lock);
        if (!w->head) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        /* gather a group: everything queued, up to WAL_MAX_COMMIT_BYTES and
         * what still fits in the active segment (at least one record) */
        wal_req *first = w->head, *last = first;
        off_t room = w->segment_bytes - w->seg_size;
        if (room < (off_t)(first->len + WAL_RECORD_HEADER) && w->seg_size > WAL_HEADER_BYTES)
            room = w->segment_bytes - WAL_HEADER_BYTES; /* commit() rotates first */
        size_t limit =
            room > 0 && (size_t)room < WAL_MAX_COMMIT_BYTES ? (size_t)room : WAL_MAX_COMMIT_BYTES;
        size_t n = 1, bytes = first->len + WAL_RECORD_HEADER;
        while (last->next && bytes + last->next->len + WAL_RECORD_HEADER <= limit) {
            last = last->next;
            bytes += last->len + WAL_RECORD_HEADER;
            n++;
        }
        w->head = last->next;
        if (!w->head)
            w->tail = NULL;
        last->next = NULL;
        w->queued_bytes -= bytes - n * WAL_RECORD_HEADER;
        pthread_mutex_unlock(&w->lock);

        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = commit(w, first, n, bytes);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        uint64_t us =
            (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
        uint64_t seq0 = w->next_seq;
        pthread_mutex_lock(&w->lock);
        if (rc == 0) {
            w->next_seq += n;
            w->healthy = 1;
            w->st.appended_records += n;
            w->st.appended_bytes += bytes;
            w->st.commits++;
            w->st.next_seq = w->next_seq;
            w->st.last_commit_us = us;
            if (us > w->st.max_commit_us)
                w->st.max_commit_us = us;
            static const uint64_t bounds[WAL_COMMIT_BUCKETS] = WAL_COMMIT_BOUNDS_US;
            size_t bk = 0;
            while (bk < WAL_COMMIT_BUCKETS && us > bounds[bk])
                bk++;
            w->st.commit_hist[bk]++;
            w->st.commit_us_sum += us;
        } else {
            if (w->healthy)
                log_error("WAL write or fsync failed (%s): refusing appends, retrying every %d ms",
                          strerror(-rc), WAL_RETRY_MS);
            w->healthy = 0;
            w->retry_at_ms = clock_mono_ms() + WAL_RETRY_MS;
            w->st.fsync_failures++;
        }
        pthread_mutex_unlock(&w->lock);
        uint64_t i = 0;
        for (wal_req *r = first; r;) {
            wal_req *next = r->next;
            if (r->done)
                r->done(rc == 0 ? 0 : STRATA_ERR, rc == 0 ? seq0 + i : 0, r->arg);
            free(r);
            r = next;
            i++;
        }
    }
    return NULL;
}

void wal_close(wal *w)
{
    if (!w)
        return;
    if (w->thread_started) {
        pthread_mutex_lock(&w->lock);
        w->closing = 1;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    if (w->fd >= 0)
        close(w->fd);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w->segs);
    free(w->dir);
    free(w);
}

void wal_get_stats(wal *w, wal_stats *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->st;
    out->first_seq = w->nsegs ? w->segs[0] : w->next_seq;
    out->files = w->nsegs;
    pthread_mutex_unlock(&w->lock);
    wal_seg *segs;
    size_t n;
    out->bytes = 0;
    if (wal_seg_list(w->dir, &segs, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            struct stat st;
            if (stat(segs[i].path, &st) == 0)
                out->bytes += (uint64_t)st.st_size;
        }
        free(segs);
    }
}

int wal_truncate_before(wal *w, uint64_t seq)
{
    int deleted = 0;
    pthread_mutex_lock(&w->lock);
    /* segment i holds [segs[i], segs[i+1]); the newest one is never deleted */
    while (w->nsegs >= 2 && w->segs[1] <= seq) {
        char path[PATH_MAX];
        wal_seg_path(w->dir, w->segs[0], path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT) {
            log_warn("WAL: cannot delete %s: %s", path, strerror(errno));
            break;
        }
        memmove(w->segs, w->segs + 1, (w->nsegs - 1) * sizeof *w->segs);
        w->nsegs--;
        deleted++;
    }
    pthread_mutex_unlock(&w->lock);
    if (deleted)
        wal_dir_sync(w->dir);
    return deleted;
}

int wal_checkpoints_lowest(const char *dir, uint64_t *lowest)
{
    char cdir[PATH_MAX];
    snprintf(cdir, sizeof cdir, "%s/checkpoints", dir);
    DIR *d = opendir(cdir);
    if (!d)
        return errno == ENOENT ? STRATA_ENOTFOUND : STRATA_ERR;
    int rc = STRATA_ENOTFOUND;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp"))
            continue;
        uint64_t seq = 0;
        if (wal_checkpoint_get(dir, e->d_name, &seq) != STRATA_OK) {
            rc = STRATA_ERR;
            break;
        }
        if (rc == STRATA_ENOTFOUND || seq < *lowest)
            *lowest = seq;
        rc = STRATA_OK;
    }
    closedir(d);
    return rc;
}

int64_t wal_retire_consumed(const char *dir, uint64_t next_seq)
{
    wal_seg *segs;
    size_t n;
    if (wal_seg_list(dir, &segs, &n) != 0)
        return -1;
    int64_t freed = 0;
    int have_empty = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (segs[i].first_seq == next_seq && stat(segs[i].path, &st) == 0 &&
            st.st_size == WAL_HEADER_BYTES)
            have_empty = 1;
        if (segs[i].first_seq > next_seq) { /* records past what was asked: keep all */
            free(segs);
            errno = EINVAL;
            return -1;
        }
    }
    if (!have_empty) { /* the empty segment first, durable, then the old ones go */
        char path[PATH_MAX];
        wal_seg_path(dir, next_seq, path, sizeof path);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        uint8_t h[WAL_HEADER_BYTES];
        wal_seg_header_encode(h, next_seq);
        if (fd < 0 || fs_write_all(fd, h, sizeof h) != 0 || fdatasync(fd) != 0 ||
            wal_dir_sync(dir) != 0) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            free(segs);
            errno = e;
            return -1;
        }
        close(fd);
    }
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (segs[i].first_seq == next_seq && have_empty)
            continue;
        if (segs[i].first_seq >= next_seq && !have_empty)
            continue; /* the one just written replaced it */
        if (stat(segs[i].path, &st) == 0 && unlink(segs[i].path) == 0)
            freed += st.st_size;
    }
    free(segs);
    if (wal_dir_sync(dir) != 0)
        return -1;
    return freed;
}

int wal_checkpoint_put(const char *dir, const char *consumer, uint64_t seq)
{
    char cdir[PATH_MAX];
    snprintf(cdir, sizeof cdir, "%s/checkpoints", dir);
    return state_file_put(cdir, consumer, &seq, sizeof seq);
}

int wal_checkpoint_get(const char *dir, const char *consumer, uint64_t *seq)
{
    char cdir[PATH_MAX];
    snprintf(cdir, sizeof cdir, "%s/checkpoints", dir);
    size_t len = 0;
    uint64_t v = 0;
    int rc = state_file_get(cdir, consumer, &v, sizeof v, &len);
    if (rc == STRATA_OK && len != sizeof v)
        rc = STRATA_EINVAL;
    if (rc == STRATA_OK)
        *seq = v;
    return rc;
}
