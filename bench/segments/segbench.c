/*
 * bench/segments/segbench.c - build segments from a corpus and report their
 * size by part and the indexing speed. Driven by bench/segments/run, which
 * also runs zstd on the same bytes for comparison.
 *
 *   segbench --input FILE --format ndjson|raw [--service NAME]
 *            [--segment-events N] [--block N] [--level L] [--dict] --out DIR
 *
 * ndjson: one event per line in the ingest API's shape (gen_corpus.py), run
 * through the same decoder as POST /v1/ingest. raw: one msg per line (the
 * LogHub samples). Prints one JSON object on stdout. Only the segment work
 * (add + finish: sort, tokenize, index, compress, write) is timed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "batch.h"
#include "fsutil.h"
#include "ingest_json.h"
#include "segment.h"
#include "strbuf.h"

/* Lines decoded per ingest_decode call, and events sharing one ingest_ts:
 * 1,000 events per 10 ms is 100,000 events/s, the rate the brief sizes for. */
#define LINES_PER_CHUNK 1000
#define CHUNK_NS 10000000ll
/* A trained dictionary's size and samples: the indexer's
 * (INDEXER_DICT_BYTES, INDEXER_DICT_SAMPLES in plugins/output/indexer). */
#define DICT_BYTES (256 * 1024)
#define DICT_SAMPLES 250000u

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct opts {
    const char *input, *format, *service, *out;
    size_t seg_events;
    uint32_t block;
    int level, dict;
} opts;

typedef struct totals {
    size_t events, segments, raw_bytes, dict_bytes, terms;
    seg_parts parts;
    double cpu;
} totals;

static int seal(const opts *o, seg_writer **w, totals *t, const void *dict, size_t dlen)
{
    char path[4096], err[256];
    snprintf(path, sizeof path, "%s/seg-%06zu.sseg", o->out, t->segments);
    double c0 = cpu_now();
    if (seg_writer_finish(*w, path, err, sizeof err) < 0) {
        fprintf(stderr, "segbench: %s\n", err);
        return -1;
    }
    /* the next segment reuses the writer's memory, as the indexer's heads do */
    seg_writer_opts wo = {.tenant = "bench",
                          .block_events = o->block,
                          .zstd_level = o->level,
                          .dict = dict,
                          .dict_len = dlen};
    int reset = seg_writer_reset(*w, &wo);
    t->cpu += cpu_now() - c0;
    seg_dicts *d = seg_dicts_new();
    if (dlen)
        seg_dicts_add(d, dict, dlen);
    seg_reader *r = seg_open(path, d, err, sizeof err);
    if (!r) {
        fprintf(stderr, "segbench: %s\n", err);
        return -1;
    }
    const seg_parts *p = &seg_get_info(r)->parts;
    t->terms += seg_get_info(r)->terms;
    t->parts.columns += p->columns;
    t->parts.rows += p->rows;
    t->parts.terms += p->terms;
    t->parts.postings += p->postings;
    t->parts.filters += p->filters;
    t->parts.other += p->other;
    t->parts.total += p->total;
    seg_close(r);
    seg_dicts_free(d);
    t->segments++;
    return reset;
}

/* Train a dictionary on the writer's rows (first segment), as the indexer
 * does per tenant; the dictionary's bytes count in the total. */
static size_t train(seg_writer *w, void *dict)
{
    uint8_t *buf;
    size_t *sizes;
    unsigned n = seg_writer_samples(w, DICT_SAMPLES, &buf, &sizes);
    size_t dlen = n ? seg_dict_train(buf, sizes, n, dict, DICT_BYTES) : 0;
    free(buf);
    free(sizes);
    return dlen;
}

int main(int argc, char **argv)
{
    opts o = {NULL, "ndjson", "app", NULL, 1000000, 0, 0, 0};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--input"))
            o.input = v;
        else if (!strcmp(k, "--format"))
            o.format = v;
        else if (!strcmp(k, "--service"))
            o.service = v;
        else if (!strcmp(k, "--out"))
            o.out = v;
        else if (!strcmp(k, "--segment-events"))
            o.seg_events = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--block"))
            o.block = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(k, "--level"))
            o.level = atoi(v);
        else if (!strcmp(k, "--dict"))
            o.dict = atoi(v);
        else {
            fprintf(stderr, "segbench: unknown option %s\n", k);
            return 2;
        }
    }
    if (!o.input || !o.out || o.seg_events == 0) {
        fprintf(stderr, "usage: segbench --input FILE --format ndjson|raw --out DIR\n");
        return 2;
    }
    FILE *f = fopen(o.input, "r");
    if (!f) {
        perror(o.input);
        return 1;
    }
    if (fs_mkdirs(o.out) < 0) {
        perror(o.out);
        return 1;
    }
    int ndjson = strcmp(o.format, "ndjson") == 0;
    strata_host_api h = {0};
    h.struct_size = sizeof h;
    h.batch_append = batch_append;
    ingest_limits lim = {LINES_PER_CHUNK, 1u << 20, 256, 256, 16, 1u << 20};
    static ingest_result res;
    static uint8_t dict[DICT_BYTES];
    size_t dlen = 0;
    strata_kv *meta = malloc(1024 * sizeof *meta);
    totals t = {0};
    seg_writer_opts wo = {.tenant = "bench", .block_events = o.block, .zstd_level = o.level};
    seg_writer *w = seg_writer_new(&wo);
    strbuf chunk = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int64_t clock = 1750000000000000000ll;
    int lines = 0, eof = 0;
    while (!eof) {
        n = getline(&line, &cap, f);
        if (n > 0) {
            t.raw_bytes += (size_t)n;
            sb_append(&chunk, line, (size_t)n);
            lines++;
        } else {
            eof = 1;
        }
        if (lines < LINES_PER_CHUNK && !eof)
            continue;
        batch_t *b = batch_new("bench");
        char err[256];
        if (ndjson) {
            if (chunk.len && ingest_decode(&h, b, chunk.buf, chunk.len, 1, "bench", clock, &lim,
                                           &res, err, sizeof err) != 0) {
                fprintf(stderr, "segbench: decode: %s\n", err);
                return 1;
            }
        } else {
            char *p = chunk.buf, *end = chunk.buf + chunk.len;
            while (p && p < end) {
                char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
                strata_event ev;
                strata_event_init(&ev);
                ev.ingest_ts_ns = ev.event_ts_ns = clock;
                ev.service = strata_cstr(o.service);
                ev.msg.ptr = p;
                ev.msg.len = (uint32_t)len;
                batch_append(b, &ev);
                p = nl ? nl + 1 : end;
            }
        }
        clock += CHUNK_NS;
        double c0 = cpu_now();
        for (uint32_t i = 0; i < b->count; i++) {
            strata_event ev;
            batch_get(b, i, &ev, meta, 1024);
            if (seg_writer_add(w, &ev) < 0) {
                fprintf(stderr, "segbench: add failed\n");
                return 1;
            }
            t.events++;
            if (seg_writer_count(w) >= o.seg_events) {
                if (o.dict && !dlen) {
                    double c1 = cpu_now();
                    dlen = train(w, dict);
                    t.cpu += cpu_now() - c1;
                    t.dict_bytes = dlen;
                    if (dlen)
                        seg_writer_set_dict(w, dict, dlen);
                }
                t.cpu += cpu_now() - c0;
                if (seal(&o, &w, &t, dlen ? dict : NULL, dlen) < 0)
                    return 1;
                c0 = cpu_now();
            }
        }
        t.cpu += cpu_now() - c0;
        batch_unref(b);
        sb_reset(&chunk);
        lines = 0;
    }
    if (o.dict && !dlen && seg_writer_count(w)) {
        dlen = train(w, dict);
        t.dict_bytes = dlen;
        if (dlen)
            seg_writer_set_dict(w, dict, dlen);
    }
    if (dlen) {
        /* stored as the indexer stores it: DATA_DIR/dicts/<tenant>/<id>.zdict */
        char path[4096];
        snprintf(path, sizeof path, "%s/dicts", o.out);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/dicts/bench", o.out);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/dicts/bench/dict.zdict", o.out);
        FILE *df = fopen(path, "wb");
        if (!df || fwrite(dict, 1, dlen, df) != dlen) {
            perror(path);
            return 1;
        }
        fclose(df);
    }
    if (seg_writer_count(w) && seal(&o, &w, &t, dlen ? dict : NULL, dlen) < 0)
        return 1;
    seg_writer_free(w);
    free(line);
    free(meta);
    sb_free(&chunk);
    fclose(f);
    printf("{\"events\":%zu,\"segments\":%zu,\"raw_bytes\":%zu,\"columns\":%llu,\"rows\":%llu,"
           "\"terms\":%llu,\"postings\":%llu,\"filters\":%llu,\"other\":%llu,\"dict\":%zu,"
           "\"total\":%llu,\"n_terms\":%zu,\"cpu_s\":%.3f,\"events_per_cpu_s\":%.0f}\n",
           t.events, t.segments, t.raw_bytes, (unsigned long long)t.parts.columns,
           (unsigned long long)t.parts.rows, (unsigned long long)t.parts.terms,
           (unsigned long long)t.parts.postings, (unsigned long long)t.parts.filters,
           (unsigned long long)t.parts.other, t.dict_bytes,
           (unsigned long long)(t.parts.total + t.dict_bytes), t.terms, t.cpu,
           t.cpu > 0 ? (double)t.events / t.cpu : 0.0);
    return 0;
}
