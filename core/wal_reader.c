/*
 * core/wal_reader.c - reading the WAL from a sequence onwards, and checking
 * every segment (`strata wal check`).
 *
 * A reader is independent of the writer: it lists the segment files, opens
 * the one holding its position, and follows new records and new segments
 * as they appear. Every record is checksummed and its sequence checked
 * before it is returned; a bad one is reported, never served.
 * Thread: one reader per thread; readers share nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strbuf.h"
#include "wal.h"
#include "wal_segment.h"

struct wal_reader {
    char *dir;
    uint64_t next;      /* sequence of the next record to return */
    uint64_t seg_first; /* first sequence of the open segment */
    int fd;
    off_t off;
    int skip_segment; /* after corruption: move on at the next call */
    uint8_t *buf;
    size_t cap;
};

/* Open the segment that holds sequence r->next (or the first one after it). */
static int open_segment_for(wal_reader *r, char *err, size_t errlen)
{
    wal_seg *segs;
    size_t n;
    if (wal_seg_list(r->dir, &segs, &n) != 0) {
        snprintf(err, errlen, "cannot list %s: %s", r->dir, strerror(errno));
        return -1;
    }
    size_t pick = n;
    for (size_t i = 0; i < n; i++)
        if (segs[i].first_seq <= r->next)
            pick = i;
    if (pick == n && n && segs[0].first_seq > r->next) {
        /* what we want was deleted (consumed by everyone): start at the oldest */
        pick = 0;
        r->next = segs[0].first_seq;
    }
    if (pick == n) {
        free(segs);
        return 0; /* no segments yet */
    }
    if (r->fd >= 0 && r->seg_first == segs[pick].first_seq) {
        free(segs);
        return 1;
    }
    int fd = open(segs[pick].path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", segs[pick].path, strerror(errno));
        free(segs);
        return -1;
    }
    uint64_t first;
    if (wal_seg_header_read(fd, &first, err, errlen) != 0) {
        close(fd);
        free(segs);
        return -1;
    }
    if (r->fd >= 0)
        close(r->fd);
    r->fd = fd;
    r->seg_first = first;
    r->off = WAL_HEADER_BYTES;
    free(segs);
    /* skip records before r->next within this segment */
    uint64_t seq = first;
    while (seq < r->next) {
        struct stat st;
        uint32_t len;
        fstat(fd, &st);
        int rc =
            wal_seg_read_record(fd, r->off, st.st_size, seq, &r->buf, &r->cap, &len, err, errlen);
        if (rc != WAL_REC_OK)
            return rc == WAL_REC_END ? 1 : -1;
        r->off += WAL_RECORD_HEADER + (off_t)len;
        seq++;
    }
    return 1;
}

/* Is there a segment starting after the open one? */
static int newer_segment_exists(wal_reader *r, uint64_t *first)
{
    wal_seg *segs;
    size_t n;
    int found = 0;
    if (wal_seg_list(r->dir, &segs, &n) == 0) {
        for (size_t i = 0; i < n && !found; i++)
            if (segs[i].first_seq > r->seg_first) {
                *first = segs[i].first_seq;
                found = 1;
            }
        free(segs);
    }
    return found;
}

wal_reader *wal_reader_open(const char *dir, uint64_t from, char *err, size_t errlen)
{
    wal_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->dir = strdup(dir))) {
        free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->fd = -1;
    r->next = from ? from : 1;
    return r;
}

void wal_reader_close(wal_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    free(r->buf);
    free(r->dir);
    free(r);
}

int wal_reader_next(wal_reader *r, const void **data, size_t *len, uint64_t *seq, char *err,
                    size_t errlen)
{
    for (int hops = 0; hops < 1000000; hops++) {
        if (r->skip_segment) {
            r->skip_segment = 0;
            uint64_t first;
            if (!newer_segment_exists(r, &first))
                return 0;
            r->next = first;
            close(r->fd);
            r->fd = -1;
        }
        if (r->fd < 0 || r->next < r->seg_first) {
            int rc = open_segment_for(r, err, errlen);
            if (rc <= 0)
                return rc;
        }
        struct stat st;
        if (fstat(r->fd, &st) != 0) {
            snprintf(err, errlen, "stat: %s", strerror(errno));
            return -1;
        }
        uint32_t l;
        int rc = wal_seg_read_record(r->fd, r->off, st.st_size, r->next, &r->buf, &r->cap, &l, err,
                                     errlen);
        if (rc == WAL_REC_OK) {
            *data = r->buf;
            *len = l;
            *seq = r->next++;
            r->off += WAL_RECORD_HEADER + (off_t)l;
            return 1;
        }
        uint64_t first;
        int newer = newer_segment_exists(r, &first);
        if (rc == WAL_REC_END || (rc == WAL_REC_TORN && !newer)) {
            /* the end, or a record still being written: if a newer segment
             * exists and continues our sequence, move on */
            if (newer && first == r->next) {
                close(r->fd);
                r->fd = -1;
                continue;
            }
            if (newer && rc == WAL_REC_END) {
                snprintf(err, errlen,
                         "records %llu..%llu are missing: the next segment starts "
                         "at %llu",
                         (unsigned long long)r->next, (unsigned long long)first - 1,
                         (unsigned long long)first);
                r->skip_segment = 1;
                return -1;
            }
            return 0;
        }
        /* corruption (or a torn record in a sealed segment): report it and
         * skip the rest of this segment at the next call */
        char where[600];
        snprintf(where, sizeof where, "%s", err);
        snprintf(err, errlen, "segment %020llu.wal: %s", (unsigned long long)r->seg_first, where);
        r->skip_segment = 1;
        return -1;
    }
    snprintf(err, errlen, "too many segment hops");
    return -1;
}

int wal_check(const char *dir, int strict, strbuf *report, uint64_t *records)
{
    wal_seg *segs;
    size_t n;
    int problems = 0;
    *records = 0;
    if (wal_seg_list(dir, &segs, &n) != 0) {
        if (report)
            sb_printf(report, "%s: cannot list: %s\n", dir, strerror(errno));
        return 1;
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    uint64_t expect = n ? segs[0].first_seq : 0;
    for (size_t i = 0; i < n; i++) {
        char err[600];
        int fd = open(segs[i].path, O_RDONLY | O_CLOEXEC);
        uint64_t first = 0;
        if (fd < 0 || wal_seg_header_read(fd, &first, err, sizeof err) != 0) {
            if (report)
                sb_printf(report, "%s: %s\n", segs[i].path, fd < 0 ? strerror(errno) : err);
            problems++;
            if (fd >= 0)
                close(fd);
            continue;
        }
        if (first != segs[i].first_seq || (i && first != expect)) {
            if (report)
                sb_printf(report, "%s: starts at seq %llu, expected %llu (records missing)\n",
                          segs[i].path, (unsigned long long)first, (unsigned long long)expect);
            problems++;
        }
        struct stat st;
        fstat(fd, &st);
        off_t off = WAL_HEADER_BYTES;
        uint64_t seq = first;
        uint32_t len;
        int rc;
        while ((rc = wal_seg_read_record(fd, off, st.st_size, seq, &buf, &cap, &len, err,
                                         sizeof err)) == WAL_REC_OK) {
            off += WAL_RECORD_HEADER + (off_t)len;
            seq++;
            (*records)++;
        }
        close(fd);
        int newest = i + 1 == n;
        if (rc == WAL_REC_CORRUPT || (rc == WAL_REC_TORN && (!newest || strict))) {
            if (report)
                sb_printf(report, "%s: %s%s\n", segs[i].path,
                          rc == WAL_REC_TORN && newest ? "torn tail: " : "corrupt: ", err);
            problems++;
        } else if (rc == WAL_REC_TORN && report) {
            sb_printf(report,
                      "%s: torn tail (%lld bytes; repaired when strata next opens the "
                      "WAL): %s\n",
                      segs[i].path, (long long)(st.st_size - off), err);
        }
        /* after corruption the count of lost records is unknown: continuity
         * is checked again from the next segment's first sequence */
        expect = rc == WAL_REC_CORRUPT && i + 1 < n ? segs[i + 1].first_seq : seq;
    }
    free(buf);
    free(segs);
    return problems;
}
