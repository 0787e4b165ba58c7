/*
 * lib/bigmem.h - growable arrays of tens to hundreds of MiB (a segment
 * writer's rows and term table, a finish's postings) backed by transparent
 * huge pages.
 *
 * Why: such arrays are filled once and then read in random order (a term
 * lookup per token, a counting sort by term). On 4 KiB pages every first
 * touch is a page fault and nearly every random read a TLB miss; on 2 MiB
 * pages there are 512 times fewer of both, which shows as a faster segment
 * build (docs/BENCHMARKS.md). The kernel here runs THP in "madvise" mode, so a region gets huge
 * pages only when asked.
 *
 * Blocks from BIGMEM_HINT_MIN_BYTES on are aligned to huge pages and
 * rounded up to whole ones (a huge page needs a 2 MiB-aligned range; malloc's
 * large blocks start just past a 4 KiB page): 300,000 events then take
 * 13,500 page faults instead of 27,000 and 10% less CPU, for 10% more
 * resident memory (the rounded-up tails are touched in whole).
 *
 * Ownership: the memory comes from malloc or aligned_alloc; free() releases
 * it.
 * Thread: any.
 */
#ifndef STRATA_LIB_BIGMEM_H
#define STRATA_LIB_BIGMEM_H

#include <stddef.h>

/* Regions smaller than this are left alone: two huge pages, so that the
 * small buffers of an agent or a request never round up to 2 MiB. */
#define BIGMEM_HINT_MIN_BYTES ((size_t)4 << 20)
/* The size and alignment of a transparent huge page: one page-middle-
 * directory entry with 4 KiB pages on x86-64 and arm64. */
#define BIGMEM_HUGE_PAGE_BYTES ((size_t)2 << 20)

/* Ask for huge pages over the whole pages of [p, p + n) when n is at least
 * BIGMEM_HINT_MIN_BYTES. Only a hint: a kernel without THP ignores it. */
void bigmem_hint(void *p, size_t n);
/* Grow p (old bytes, all kept) to n bytes, like realloc: NULL when out of
 * memory, p then untouched. From BIGMEM_HINT_MIN_BYTES on, the new block is
 * hinted before the old bytes are copied in, so that the copy faults in
 * huge pages (realloc would copy first, into 4 KiB pages). */
void *bigmem_realloc(void *p, size_t old, size_t n);
/* malloc(n) and calloc(n, size) with the same hint (the product checked). */
void *bigmem_malloc(size_t n);
void *bigmem_calloc(size_t n, size_t size);

#endif /* STRATA_LIB_BIGMEM_H */
