/*
 * core/bigmem.c - huge-page hints for large arrays (see bigmem.h).
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

void *bigmem_realloc(void *p, size_t old, size_t n)
{
    if (n < BIGMEM_HINT_MIN_BYTES || old > n)
        return realloc(p, n);
    void *q = malloc(n);
    if (!q)
        return NULL;
    bigmem_hint(q, n);
    if (p && old)
        memcpy(q, p, old);
    free(p);
    return q;
}

void *bigmem_malloc(size_t n)
{
    void *q = malloc(n ? n : 1); /* never 0 bytes: NULL means OOM */
    bigmem_hint(q, n);
    return q;
}

void *bigmem_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *q = calloc(n ? n : 1, size ? size : 1); /* never 0 bytes: NULL means OOM */
    bigmem_hint(q, n * size);
    return q;
}
