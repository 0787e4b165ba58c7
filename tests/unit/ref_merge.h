/*
 * tests/unit/ref_merge.h - the reference merge the streaming merge is
 * compared with (tests/unit/ref_merge.c).
 */
#ifndef STRATA_TESTS_REF_MERGE_H
#define STRATA_TESTS_REF_MERGE_H

#include <stddef.h>

#include "segment.h"

/* Add every row of the readers to w in ingest_ts order (ties: earlier
 * reader first), one event at a time. 0, or -1 with a message in err. */
int ref_merge(seg_reader *const *in, size_t n, seg_writer *w, char *err, size_t errlen);

#endif /* STRATA_TESTS_REF_MERGE_H */
