/*
 * lib/bigmem.c - huge-page hints for large arrays (see bigmem.h).
 */
#include "bigmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void bigmem_hint(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    if (!p || n < BIGMEM_HINT_MIN_BYTES)
        return;
    long ps = sysconf(_SC_PAGESIZE); /* per call, no shared state: only big arrays get here */
    size_t page = ps > 0 ? (size_t)ps : 4096;
    uintptr_t a = (uintptr_t)p, end = a + n;
    uintptr_t from = (a + page - 1) & ~(uintptr_t)(page - 1), to = end & ~(uintptr_t)(page - 1);
    if (to > from)
        (void)madvise((void *)from, to - from, MADV_HUGEPAGE); /* a hint: failure is harmless */
#else
    (void)p;
    (void)n;
#endif
}

/* A block of n >= BIGMEM_HINT_MIN_BYTES bytes on huge-page boundaries, its
 * size rounded up to whole huge pages, hinted. Plain malloc would start it
 * 16 bytes past a 4 KiB page, leaving the first and last partial huge pages
 * (a quarter of a 4 MiB block) on small pages. NULL on OOM. */
static void *big_alloc(size_t n)
{
    const size_t huge = BIGMEM_HUGE_PAGE_BYTES;
    if (n > SIZE_MAX - huge)
        return NULL;
    void *q = aligned_alloc(huge, (n + huge - 1) & ~(huge - 1));
    bigmem_hint(q, n);
    return q;
}

void *bigmem_realloc(void *p, size_t old, size_t n)
{
    if (n < BIGMEM_HINT_MIN_BYTES || old > n)
        return realloc(p, n);
    void *q = big_alloc(n);
    if (!q)
        return NULL;
    if (p && old)
        memcpy(q, p, old);
    free(p);
    return q;
}

void *bigmem_malloc(size_t n)
{
    if (n >= BIGMEM_HINT_MIN_BYTES)
        return big_alloc(n);
    return malloc(n ? n : 1); /* never 0 bytes: NULL means OOM */
}

void *bigmem_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    if (n * size >= BIGMEM_HINT_MIN_BYTES) {
        void *q = big_alloc(n * size);
        if (q) /* aligned_alloc may reuse freed memory: zero it ourselves */
            memset(q, 0, n * size);
        return q;
    }
    return calloc(n ? n : 1, size ? size : 1); /* never 0 bytes: NULL means OOM */
}
