/*
 * tests/unit/ref_merge.c - the reference merge: every row of the inputs
 * added to a writer one event at a time, through the segment library's
 * public API. The streaming merge of the indexer (seg_merge_file,
 * segment/merge.c) must give the same bytes; tests/unit/test_segment.c
 * compares them, and bench/segments/mergebench times both.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ref_merge.h"

/* Add every row of the readers to w in ingest_ts order (ties: earlier
 * reader first), one event at a time through the public API: the merge
 * whose bytes seg_merge_file (segment/merge.c, streaming) must reproduce.
 * 0, or -1 with a message. */
int ref_merge(seg_reader *const *in, size_t n, seg_writer *w, char *err, size_t errlen)
{
    uint64_t *pos = calloc(n ? n : 1, sizeof *pos);
    if (!pos) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (;;) {
        size_t best = n;
        for (size_t i = 0; i < n; i++) {
            if (pos[i] >= seg_get_info(in[i])->events)
                continue;
            if (best == n || seg_ingest_ts(in[i])[pos[i]] < seg_ingest_ts(in[best])[pos[best]])
                best = i;
        }
        if (best == n)
            break;
        strata_event ev;
        if (seg_row(in[best], (uint32_t)pos[best], &ev) < 0) {
            snprintf(err, errlen, "%s", seg_error(in[best]));
            rc = -1;
            break;
        }
        if (seg_writer_add(w, &ev) < 0) {
            snprintf(err, errlen, "segment full or out of memory while merging");
            rc = -1;
            break;
        }
        pos[best]++;
    }
    free(pos);
    return rc;
}
