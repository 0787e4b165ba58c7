/*
 * segment/eliasfano.h - Elias-Fano coding of a postings list: ascending,
 * distinct row numbers in about 2 + log2(universe / rows) bits each.
 *
 * A list of n rows whose last row is `last` is stored as
 *
 *     u8 L | low part: ceil(n * L / 8) bytes | high part: ceil(((last >> L) + n) / 8) bytes
 *
 * with L = floor(log2((last + 1) / n)) (0 when that is below 1), at most
 * EF_MAX_LOW_BITS. The low part holds each row's L low bits, row i at bit
 * i * L, LSB-first. The high part is a bit vector with bit (row_i >> L) + i
 * set for every i, LSB-first; its last byte is never zero. Row i is
 * ((position of the i-th set bit - i) << L) | its low bits.
 *
 * Why: a segment's row numbers are spread at random over its rows (events
 * arrive from every service at once), so delta varints spend a whole byte
 * on a gap of 200 and roaring arrays two bytes on any row; Elias-Fano is
 * within half a bit of the information in such a list.
 */
#ifndef STRATA_SEGMENT_ELIASFANO_H
#define STRATA_SEGMENT_ELIASFANO_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/* Low bits per row at most: rows are u32, and a list of one row below 2^32
 * needs 31 (floor(log2(2^32 / 1)) would be 32, which the encoder clamps). */
#define EF_MAX_LOW_BITS 31u

/* Bytes ef_put appends for rows[0..n) (ascending, distinct, n >= 1). */
size_t ef_size(const uint32_t *rows, uint32_t n);

/* Append the encoding of rows[0..n) (ascending, distinct, n >= 1) to out;
 * -1 when out ran out of memory. */
int ef_put(strbuf *out, const uint32_t *rows, uint32_t n);

/* Decode exactly n rows from the len bytes at p into rows[n]. Refuses (-1)
 * anything ef_put would not have written for some list: a wrong length, L
 * too large, more or fewer set bits than n, a zero last byte, rows not
 * strictly increasing or not below `limit`. Reads only p[0..len). */
int ef_decode(const uint8_t *p, size_t len, uint32_t n, uint64_t limit, uint32_t *rows);

#endif
