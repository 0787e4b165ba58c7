/*
 * lib/timefmt.h - RFC 3339 timestamps to and from Unix nanoseconds.
 */
#ifndef STRATA_LIB_TIMEFMT_H
#define STRATA_LIB_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Parse an RFC 3339 timestamp ("2025-06-15T14:00:00.123Z", offsets
 * "+02:00", fractions to ns) into Unix ns. 0, or -1 when malformed or out
 * of range (years beyond +-285). */
int parse_rfc3339(const char *s, size_t n, int64_t *out_ns);

/* Format Unix ns as RFC 3339 UTC with ms, us or ns precision, whichever is
 * the shortest exact one. Returns the length written (buf >= 32 bytes). */
size_t format_rfc3339(int64_t ns, char *buf, size_t cap);

#endif /* STRATA_LIB_TIMEFMT_H */
