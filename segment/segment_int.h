/*
 * segment/segment_int.h - helpers shared by the writer and the reader that
 * are not part of the library's API.
 */
#ifndef STRATA_SEGMENT_INT_H
#define STRATA_SEGMENT_INT_H

#include <stddef.h>
#include <stdint.h>

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
