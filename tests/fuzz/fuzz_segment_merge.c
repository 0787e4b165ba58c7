/*
 * tests/fuzz/fuzz_segment_merge.c - compaction's streaming merge over a
 * hostile segment: two readers of the input merged (seg_merge_file) must
 * either fail with an error and leave no file, or write a segment that
 * opens and holds every row of both. Fuzz builds skip checksum checks
 * (STRATA_FUZZING), so mutations reach the merge behind them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "segment.h"

/* Rows an input may claim: the merge reads every row three times, and one
 * input must stay fast. */
#define FUZZ_MAX_ROWS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64], tmp[80];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz-merge-%d.sseg", (int)getpid());
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
    }
    char err[256];
    seg_reader *r[2] = {seg_open_mem(data, size, NULL, err, sizeof err), NULL};
    if (!r[0])
        return 0;
    uint64_t n = seg_get_info(r[0])->events;
    if (n <= FUZZ_MAX_ROWS && (r[1] = seg_open_mem(data, size, NULL, err, sizeof err))) {
        seg_writer_opts o = {.tenant = "fuzz", .block_events = 64, .zstd_level = 1};
        if (seg_merge_file(r, 2, &o, path, err, sizeof err) == 0) {
            seg_reader *m = seg_open(path, NULL, err, sizeof err);
            if (!m || seg_get_info(m)->events != 2 * n) {
                fprintf(stderr, "merge wrote a bad segment: %s\n", m ? "row count" : err);
                abort();
            }
            seg_close(m);
            unlink(path);
        } else if (access(path, F_OK) == 0 || access(tmp, F_OK) == 0) {
            fprintf(stderr, "a failed merge left %s\n", path);
            abort();
        }
        seg_close(r[1]);
    }
    seg_close(r[0]);
    return 0;
}
