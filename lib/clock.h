/*
 * lib/clock.h - the clocks: monotonic for timeouts, intervals and rates
 * (never jumps with NTP or an operator's date), real time for what is
 * stored and shown (ingest_ts, event times).
 * Thread: any.
 */
#ifndef STRATA_LIB_CLOCK_H
#define STRATA_LIB_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in ms and ns. */
int64_t clock_mono_ms(void);
int64_t clock_mono_ns(void);
/* CLOCK_REALTIME as Unix ns. */
int64_t clock_real_ns(void);

#endif /* STRATA_LIB_CLOCK_H */
