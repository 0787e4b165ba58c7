/*
 * core/wal_segment.c - what the WAL writer, reader and checker share:
 * listing segment files, reading and writing segment headers, and reading
 * one record with every length bounded and every checksum verified.
 * Thread: any (no shared state).
 */
#include "wal_segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "crc32c.h"
#include "strata/abi.h"

/* Order WAL segments by their first sequence. */
static int cmp_seg(const void *a, const void *b)
{
    uint64_t x = ((const wal_seg *)a)->first_seq, y = ((const wal_seg *)b)->first_seq;
    return x < y ? -1 : x > y;
}

int wal_seg_list(const char *dir, wal_seg **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        /* exactly 20 digits + ".wal" */
        if (strlen(e->d_name) != 24 || strcmp(e->d_name + 20, ".wal") != 0)
            continue;
        int digits = 1;
        for (int i = 0; i < 20; i++)
            digits &= e->d_name[i] >= '0' && e->d_name[i] <= '9';
        if (!digits)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            wal_seg *s = realloc(*out, cap * sizeof *s);
            if (!s) {
                closedir(d);
                free(*out);
                *out = NULL;
                return -1;
            }
            *out = s;
        }
        wal_seg *s = &(*out)[(*n)++];
        s->first_seq = strtoull(e->d_name, NULL, 10);
        snprintf(s->path, sizeof s->path, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (*n)
        qsort(*out, *n, sizeof **out, cmp_seg);
    return 0;
}

void wal_seg_path(const char *dir, uint64_t first_seq, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%020llu.wal", dir, (unsigned long long)first_seq);
}

void wal_seg_header_encode(uint8_t h[WAL_HEADER_BYTES], uint64_t first_seq)
{
    memset(h, 0, WAL_HEADER_BYTES);
    uint32_t magic = WAL_MAGIC;
    uint16_t ver = WAL_VERSION;
    int64_t now = clock_real_ns();
    memcpy(h, &magic, 4);
    memcpy(h + 4, &ver, 2);
    memcpy(h + 8, &first_seq, 8);
    memcpy(h + 16, &now, 8);
    uint32_t crc = crc32c(0, h, 28);
    memcpy(h + 28, &crc, 4);
}

int wal_seg_header_read(int fd, uint64_t *first_seq, char *err, size_t errlen)
{
    uint8_t h[WAL_HEADER_BYTES];
    ssize_t n = pread(fd, h, sizeof h, 0);
    if (n != WAL_HEADER_BYTES) {
        snprintf(err, errlen, "segment header is %zd bytes, expected %d", n < 0 ? (ssize_t)0 : n,
                 WAL_HEADER_BYTES);
        return -1;
    }
    uint32_t magic, crc;
    uint16_t ver;
    memcpy(&magic, h, 4);
    memcpy(&ver, h + 4, 2);
    memcpy(first_seq, h + 8, 8);
    memcpy(&crc, h + 28, 4);
    if (magic != WAL_MAGIC) {
        snprintf(err, errlen, "not a WAL segment (magic 0x%08x)", magic);
        return -1;
    }
    if (ver != WAL_VERSION) {
        snprintf(err, errlen, "WAL format version %u is not supported (this build reads %d)", ver,
                 WAL_VERSION);
        return -1;
    }
    if (crc32c(0, h, 28) != crc) {
        snprintf(err, errlen, "segment header checksum mismatch");
        return -1;
    }
    return 0;
}

/* Are all bytes of fd in [off, end) zero? (a zero-filled tail after a
 * crash is a torn tail, not corruption) */
static int all_zero(int fd, off_t off, off_t end)
{
    uint8_t buf[4096];
    while (off < end) {
        size_t want = (size_t)(end - off) < sizeof buf ? (size_t)(end - off) : sizeof buf;
        ssize_t n = pread(fd, buf, want, off);
        if (n <= 0)
            return 0;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i])
                return 0;
        off += n;
    }
    return 1;
}

int wal_seg_read_record(int fd, off_t off, off_t size, uint64_t expect_seq, uint8_t **buf,
                        size_t *cap, uint32_t *len, char *err, size_t errlen)
{
    if (off == size)
        return WAL_REC_END;
    uint8_t h[WAL_RECORD_HEADER];
    if (size - off < WAL_RECORD_HEADER) {
        snprintf(err, errlen, "offset %lld: %lld bytes, too short for a record header",
                 (long long)off, (long long)(size - off));
        return WAL_REC_TORN;
    }
    if (pread(fd, h, sizeof h, off) != WAL_RECORD_HEADER) {
        snprintf(err, errlen, "offset %lld: read error: %s", (long long)off, strerror(errno));
        return WAL_REC_CORRUPT;
    }
    uint32_t l, crc;
    uint64_t seq;
    memcpy(&l, h, 4);
    memcpy(&crc, h + 4, 4);
    memcpy(&seq, h + 8, 8);
    off_t end = off + WAL_RECORD_HEADER + (off_t)l;
    if (l > WAL_MAX_RECORD || end > size) {
        if (all_zero(fd, off, size) || end > size) {
            snprintf(err, errlen, "offset %lld: record of %u bytes runs past the end (%lld)",
                     (long long)off, l, (long long)size);
            return WAL_REC_TORN;
        }
        snprintf(err, errlen, "offset %lld: record length %u is over the limit", (long long)off, l);
        return WAL_REC_CORRUPT;
    }
    if (l > *cap) {
        size_t nc = *cap ? *cap : 65536;
        while (nc < l)
            nc *= 2;
        uint8_t *nb = realloc(*buf, nc);
        if (!nb) {
            snprintf(err, errlen, "out of memory reading a %u-byte record", l);
            return WAL_REC_CORRUPT;
        }
        *buf = nb;
        *cap = nc;
    }
    if (l && pread(fd, *buf, l, off + WAL_RECORD_HEADER) != (ssize_t)l) {
        snprintf(err, errlen, "offset %lld: read error: %s", (long long)off, strerror(errno));
        return WAL_REC_CORRUPT;
    }
    uint32_t got = crc32c(crc32c(0, &seq, 8), *buf, l);
    if (got != crc || seq != expect_seq) {
        int last = end == size || all_zero(fd, off, size);
        if (got != crc)
            snprintf(err, errlen,
                     "offset %lld: record seq %llu checksum mismatch (stored %08x, "
                     "computed %08x)%s",
                     (long long)off, (unsigned long long)seq, crc, got,
                     last ? "" : "; the rest of the segment is unreadable");
        else
            snprintf(err, errlen, "offset %lld: record has seq %llu, expected %llu", (long long)off,
                     (unsigned long long)seq, (unsigned long long)expect_seq);
        return last ? WAL_REC_TORN : WAL_REC_CORRUPT;
    }
    *len = l;
    return WAL_REC_OK;
}

/* fsync a directory, so that a file created or renamed in it survives a crash; -1 with errno. */
int wal_dir_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}
