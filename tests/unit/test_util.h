/*
 * tests/unit/test_util.h - helpers shared by the unit tests: temporary
 * files and directories, and string checks with readable failures.
 */
#ifndef STRATA_TEST_UTIL_H
#define STRATA_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* A deterministic xorshift64 generator for property tests: seed it, then
 * draw. One state per test program. */
static inline uint64_t *test_rnd_state(void)
{
    static uint64_t state = 1;
    return &state;
}
static inline void test_rnd_seed(uint64_t seed)
{
    *test_rnd_state() = seed ? seed : 1;
}
static inline uint64_t test_rnd(void)
{
    uint64_t *s = test_rnd_state();
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}
static inline uint32_t test_rnd_below(uint32_t n)
{
    return (uint32_t)(test_rnd() % n);
}

/* A fresh directory under /tmp; the caller frees the string. */
static inline char *tmpdir_new(void)
{
    char *t = strdup("/tmp/strata-test-XXXXXX");
    assert_non_null(t);
    assert_non_null(mkdtemp(t));
    return t;
}

/* Write text to dir/name and return the full path (static buffer per call
 * site is not enough for several files, so the caller frees). */
static inline char *write_file(const char *dir, const char *name, const char *text)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static inline void rm_rf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        const char *h_ = (hay);                                                                    \
        if (!h_ || !strstr(h_, (needle))) {                                                        \
            print_error("expected to find \"%s\" in:\n%s\n", (needle), h_ ? h_ : "(null)");        \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

#endif
