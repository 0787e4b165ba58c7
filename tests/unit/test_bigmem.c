/*
 * tests/unit/test_bigmem.c - the huge-page allocators behave as malloc,
 * calloc and realloc do: bytes kept across growth through the hint
 * threshold, zeroed memory from calloc, NULL on an overflowing size, and a
 * strbuf grown past the threshold still holds what was appended.
 * (Whether the kernel really backs a region with huge pages is not
 * asserted: THP may be off, or fall back to small pages when memory is
 * fragmented; docs/BENCHMARKS.md measures what it buys.)
 */
#include "test_util.h"

#include <stdint.h>
#include <string.h>

#include "bigmem.h"
#include "strbuf.h"

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 31);
}

static int same(const uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (uint8_t)(seed + i * 31))
            return 0;
    return 1;
}

static void test_realloc_keeps_bytes_through_the_threshold(void **state)
{
    (void)state;
    size_t n = 4096;
    uint8_t *p = bigmem_realloc(NULL, 0, n);
    assert_non_null(p);
    fill(p, n, 7);
    /* doubling as the writer's arrays do: below, across and above the
     * threshold, each step checked */
    while (n < 4 * BIGMEM_HINT_MIN_BYTES) {
        size_t m = n * 2;
        uint8_t *q = bigmem_realloc(p, n, m);
        assert_non_null(q);
        assert_true(same(q, n, 7));
        fill(q, m, 7);
        p = q;
        n = m;
    }
    /* shrinking keeps the prefix, like realloc */
    uint8_t *q = bigmem_realloc(p, n, 1000);
    assert_non_null(q);
    assert_true(same(q, 1000, 7));
    free(q);
}

static void test_calloc_zeroes_and_refuses_overflow(void **state)
{
    (void)state;
    size_t n = BIGMEM_HINT_MIN_BYTES * 2 / sizeof(uint64_t);
    uint64_t *z = bigmem_calloc(n, sizeof *z);
    assert_non_null(z);
    for (size_t i = 0; i < n; i += 4099)
        assert_int_equal(z[i], 0);
    assert_int_equal(z[n - 1], 0);
    free(z);
    /* memory freed dirty and handed out again is zeroed too */
    for (int round = 0; round < 3; round++) {
        uint8_t *d = bigmem_malloc(BIGMEM_HINT_MIN_BYTES * 3);
        assert_non_null(d);
        memset(d, 0xff, BIGMEM_HINT_MIN_BYTES * 3);
        free(d);
        uint8_t *c = bigmem_calloc(BIGMEM_HINT_MIN_BYTES + 1, 1);
        assert_non_null(c);
        for (size_t i = 0; i < BIGMEM_HINT_MIN_BYTES + 1; i += 511)
            assert_int_equal(c[i], 0);
        assert_int_equal(c[BIGMEM_HINT_MIN_BYTES], 0);
        free(c);
    }
    assert_null(bigmem_calloc(SIZE_MAX / 8 + 2, 8));
    void *one = bigmem_calloc(0, 8); /* never 0 bytes: NULL would mean OOM */
    assert_non_null(one);
    free(one);
    void *m = bigmem_malloc(0);
    assert_non_null(m);
    free(m);
}

/* Big blocks start on a huge-page boundary, or the kernel cannot back their
 * first 2 MiB with a huge page; small ones are left to malloc. */
static void test_big_blocks_are_huge_page_aligned(void **state)
{
    (void)state;
    void *a = bigmem_malloc(BIGMEM_HINT_MIN_BYTES + 12345);
    void *b = bigmem_realloc(NULL, 0, BIGMEM_HINT_MIN_BYTES * 2);
    void *c = bigmem_calloc(BIGMEM_HINT_MIN_BYTES, 3);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_int_equal((uintptr_t)a % BIGMEM_HUGE_PAGE_BYTES, 0);
    assert_int_equal((uintptr_t)b % BIGMEM_HUGE_PAGE_BYTES, 0);
    assert_int_equal((uintptr_t)c % BIGMEM_HUGE_PAGE_BYTES, 0);
    memset(a, 1, BIGMEM_HINT_MIN_BYTES + 12345); /* the whole size is usable */
    free(a);
    free(b);
    free(c);
}

static void test_strbuf_past_the_threshold(void **state)
{
    (void)state;
    strbuf sb = {0};
    char line[100];
    size_t lines = 0;
    while (sb.len < BIGMEM_HINT_MIN_BYTES * 3) {
        int k = snprintf(line, sizeof line, "line %zu\n", lines++);
        assert_int_equal(sb_append(&sb, line, (size_t)k), 0);
    }
    assert_int_equal(sb.buf[sb.len], 0);
    /* spot-check lines spread over the buffer */
    const char *p = sb.buf;
    for (size_t i = 0; i < lines; i++) {
        int k = snprintf(line, sizeof line, "line %zu\n", i);
        if (i % 9973 == 0 || i == lines - 1)
            assert_memory_equal(p, line, (size_t)k);
        p += k;
    }
    assert_int_equal((size_t)(p - sb.buf), sb.len);
    sb_free(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_realloc_keeps_bytes_through_the_threshold),
        cmocka_unit_test(test_calloc_zeroes_and_refuses_overflow),
        cmocka_unit_test(test_big_blocks_are_huge_page_aligned),
        cmocka_unit_test(test_strbuf_past_the_threshold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
