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

/* fsync the directory holding path, so a rename into it is durable. */
int seg_fsync_dir(const char *path, char *err, size_t errlen);

/* The common terms of SEC_BLOCK_FILTER as stored (filters.c),
 * pointing into the section. */
typedef struct seg_common_view {
    const uint8_t *hash; /* n x u64, ascending */
    const uint8_t *set;  /* n x u32, each < nsets */
    const uint8_t *sets; /* nsets x bytes */
    uint32_t n, nsets;
    size_t bytes; /* ceil(blocks / 8) */
} seg_common_view;
/* Read the table at p (left bytes there) of a segment of `blocks` blocks,
 * checking that every entry can be looked up: the bytes it takes, or -1
 * with *why saying what is malformed. */
int64_t seg_common_parse(seg_common_view *v, const uint8_t *p, size_t left, uint32_t blocks,
                         const char **why);
/* 1 when a term of hash h is listed with block `block` (< blocks) in its
 * set, else 0: a term listed without the block may still share its hash
 * with one in the block's fuse filter, so 0 is the filter's to decide. */
int seg_common_has(const seg_common_view *v, uint64_t h, uint32_t block);

/* A binary fuse filter as stored (fuse.c), pointing into its
 * section. */
typedef struct seg_fuse_view {
    const uint8_t *head; /* per part: u64 seed, u8 seg_log, u32 seg_count, u64 offset */
    const uint8_t *bits; /* the parts' slots */
    unsigned w, arity, part_log;
} seg_fuse_view;
/* Read the filter at p (left bytes there), checking that every part lies
 * within them: the bytes it takes, or -1 with *why saying what is
 * malformed. */
int64_t seg_fuse_parse(seg_fuse_view *v, const uint8_t *p, size_t left, const char **why);
/* 0 when key is surely not in the filter's set, 1 when it may be (every
 * key of the set, and others with probability 2^-w). */
int seg_fuse_has(const seg_fuse_view *v, uint64_t key);

/* Fuzzing builds skip checksum checks so that the fuzzer reaches the
 * decoders behind them; every other build verifies every checksum. */
#ifdef STRATA_FUZZING
#define SEG_VERIFY_CRC 0
#else
#define SEG_VERIFY_CRC 1
#endif

#endif /* STRATA_SEGMENT_INT_H */
