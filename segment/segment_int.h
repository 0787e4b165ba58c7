/*
 * segment/segment_int.h - helpers shared by the writer and the reader that
 * are not part of the library's API.
 */
#ifndef STRATA_SEGMENT_INT_H
#define STRATA_SEGMENT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Term (and dictionary string) order: bytes, a shorter string first on a
 * common prefix. */
static inline int seg_term_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen < blen ? -1 : alen > blen);
}

/* Write all of buf to fd (retrying short writes and EINTR); 0 or -1. */
int seg_write_all(int fd, const void *buf, size_t len);

/* fsync the directory holding path, so a rename into it is durable. */
int seg_fsync_dir(const char *path, char *err, size_t errlen);

/* Whether all k bits of hash h are set in a bloom of m bits. */
int seg_bloom_test(const uint8_t *bits, uint64_t m, unsigned k, uint64_t h);

/* Fuzzing builds skip checksum checks so that the fuzzer reaches the
 * decoders behind them; every other build verifies every checksum. */
#ifdef STRATA_FUZZING
#define SEG_VERIFY_CRC 0
#else
#define SEG_VERIFY_CRC 1
#endif

#endif /* STRATA_SEGMENT_INT_H */
