/*
 * core/wal_segment.h - segment files and record reading shared by the WAL
 * writer, reader and checker (format: wal.h).
 */
#ifndef STRATA_CORE_WAL_SEGMENT_H
#define STRATA_CORE_WAL_SEGMENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wal.h"

typedef struct wal_seg {
    uint64_t first_seq;
    char path[4200];
} wal_seg;

/* Segment files of dir sorted by first sequence (caller frees *out).
 * A missing dir is an empty list. 0 or -1. */
int wal_seg_list(const char *dir, wal_seg **out, size_t *n);
void wal_seg_path(const char *dir, uint64_t first_seq, char *out, size_t cap);
void wal_seg_header_encode(uint8_t h[WAL_HEADER_BYTES], uint64_t first_seq);
int wal_seg_header_read(int fd, uint64_t *first_seq, char *err, size_t errlen);

enum {
    WAL_REC_OK = 1,      /* a valid record; payload in *buf, length in *len */
    WAL_REC_END = 0,     /* clean end of the segment */
    WAL_REC_TORN = -2,   /* a cut-short or garbage record reaching the end */
    WAL_REC_CORRUPT = -1 /* a bad record with more data after it */
};

/* Read the record at off of a segment of `size` bytes, expecting sequence
 * expect_seq. The payload goes to *buf (grown as needed). */
int wal_seg_read_record(int fd, off_t off, off_t size, uint64_t expect_seq, uint8_t **buf,
                        size_t *cap, uint32_t *len, char *err, size_t errlen);
int wal_dir_sync(const char *dir);

#endif /* STRATA_CORE_WAL_SEGMENT_H */
