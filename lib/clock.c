/*
 * lib/clock.c - the clocks (see clock.h).
 */
#include "clock.h"

#include <time.h>

/* One clock read as ns. */
static int64_t read_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t clock_mono_ms(void)
{
    return read_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t clock_mono_ns(void)
{
    return read_ns(CLOCK_MONOTONIC);
}

int64_t clock_real_ns(void)
{
    return read_ns(CLOCK_REALTIME);
}
