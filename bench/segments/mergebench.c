/*
 * bench/segments/mergebench.c - time one compaction merge and measure its
 * peak memory, the streaming way (seg_merge_file, what the indexer runs)
 * or the old way (tests/unit/ref_merge.c: every row added to a writer, which
 * tokenizes every row again and assembles the file in memory). Driven by bench/segments/run; one
 * process per merge, so that its peak memory (VmHWM) is the merge's own;
 * the resident memory as each part starts goes to stderr.
 *
 *   mergebench --mode stream|memory [--level L] [--block N] --out FILE SEG...
 *
 * Prints one JSON object on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ref_merge.h"
#include "segment.h"

/* A "Name: N kB" line of /proc/self/status (VmRSS: now, VmHWM: the peak
 * of this program's own memory; ru_maxrss would also count the parent's
 * memory at fork, which Linux carries across exec), in KiB, or 0. */
static long status_kib(const char *name)
{
    char line[256];
    long v = 0;
    size_t n = strlen(name);
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, name, n) && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

/* Print the resident memory as each part of the merge starts (stderr). */
static void stage(void *ud, const char *name)
{
    (void)ud;
    fprintf(stderr, "mergebench: %s: RSS %ld MiB\n", name, status_kib("VmRSS") / 1024);
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *mode = NULL, *out = NULL;
    seg_writer_opts o = {.tenant = "bench", .zstd_level = 19, .block_events = 1024};
    int i = 1;
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (!strcmp(argv[i], "--mode"))
            mode = argv[i + 1];
        else if (!strcmp(argv[i], "--out"))
            out = argv[i + 1];
        else if (!strcmp(argv[i], "--level"))
            o.zstd_level = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--block"))
            o.block_events = (uint32_t)atoi(argv[i + 1]);
        else
            break;
    }
    size_t n = (size_t)(argc - i);
    if (!mode || !out || n == 0 || (strcmp(mode, "stream") && strcmp(mode, "memory"))) {
        fprintf(stderr, "usage: mergebench --mode stream|memory --out FILE SEG...\n");
        return 2;
    }
    seg_reader **rs = calloc(n, sizeof *rs);
    if (!rs)
        return 1;
    char err[512];
    uint64_t events = 0;
    for (size_t k = 0; k < n; k++) {
        if (!(rs[k] = seg_open(argv[i + (int)k], NULL, err, sizeof err))) {
            fprintf(stderr, "mergebench: %s\n", err);
            return 1;
        }
        events += seg_get_info(rs[k])->events;
    }
    double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_s(CLOCK_MONOTONIC);
    int rc;
    if (!strcmp(mode, "stream")) {
        rc = seg_merge_file_staged(rs, n, &o, out, stage, NULL, err, sizeof err);
    } else {
        seg_writer *w = seg_writer_new(&o);
        rc = w ? ref_merge(rs, n, w, err, sizeof err) : -1;
        if (rc == 0)
            rc = seg_writer_finish(w, out, err, sizeof err);
        seg_writer_free(w);
    }
    double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0, wall = clock_s(CLOCK_MONOTONIC) - w0;
    if (rc < 0) {
        fprintf(stderr, "mergebench: %s\n", err);
        return 1;
    }
    struct stat st;
    if (stat(out, &st) < 0)
        return 1;
    printf("{\"mode\":\"%s\",\"inputs\":%zu,\"events\":%llu,\"cpu_s\":%.3f,\"wall_s\":%.3f,"
           "\"max_rss_kib\":%ld,\"bytes\":%lld}\n",
           mode, n, (unsigned long long)events, cpu, wall, status_kib("VmHWM"),
           (long long)st.st_size);
    for (size_t k = 0; k < n; k++)
        seg_close(rs[k]);
    free(rs);
    return 0;
}
