/*
 * cli/inspect.c - `strata inspect`: what is stored, and what it costs.
 *
 *   strata inspect DIR                       segments by tenant and level (DIR:
 *                                            the data dir or its index/ dir):
 *                                            count, events, time range, bytes
 *                                            per part (columns, rows, terms,
 *                                            postings, filters)
 *   strata inspect segment FILE [--rows N] [--terms PREFIX] [--json]
 *                                            one segment: footer, parts, and
 *                                            optionally its first rows or terms
 *
 * Dictionaries are loaded from DATA_DIR/dicts/<tenant>/ (for a lone segment
 * file: from ../../dicts/<tenant>/ relative to it, or $STRATA_DICTS).
 * Exit status 1 when any segment fails to open or verify: inspect is also
 * the offline integrity check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batch.h"
#include "format.h"
#include "inspect.h"
#include "segment.h"
#include "strbuf.h"

/* Directory depth walked under DATA_DIR: segments/<tenant>/L<n>/ is 3. */
#define INSPECT_MAX_DEPTH 6
/* Distinct (tenant, level) groups in one report. */
#define INSPECT_MAX_GROUPS 4096

typedef struct group {
    char tenant[128];
    char level[16];
    uint64_t segments, events;
    int64_t min_ts, max_ts;
    seg_parts parts;
} group;

typedef struct report {
    group *g;
    size_t n;
    int bad;
    seg_dicts *dicts;
} report;

/* How `strata inspect` names a meta column kind (segment/format.h). */
static const char *kind_name(uint32_t kind)
{
    return kind == SEG_META_COL_NUMBER  ? "numbers"
           : kind == SEG_META_COL_HEX   ? "hex ids"
           : kind == SEG_META_COL_TERMS ? "dictionary of terms"
                                        : "dictionary";
}

/* An event time in ns as RFC 3339. */
static void fmt_time(int64_t ns, char *buf, size_t cap)
{
    format_rfc3339(ns, buf, cap);
}

/* Add the byte counts of b's parts to a's. */
static void parts_add(seg_parts *a, const seg_parts *b)
{
    a->columns += b->columns;
    a->rows += b->rows;
    a->terms += b->terms;
    a->postings += b->postings;
    a->filters += b->filters;
    a->other += b->other;
    a->total += b->total;
}

/* "L2" when the path has a /L<digits>/ component, else "-". */
static void level_of(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "-");
    for (const char *p = strstr(path, "/L"); p; p = strstr(p + 1, "/L")) {
        size_t k = 2;
        while (p[k] >= '0' && p[k] <= '9')
            k++;
        if (k > 2 && p[k] == '/')
            snprintf(out, cap, "L%.*s", (int)(k - 2), p + 2);
    }
}

/* Open one segment file and add it to the report by tenant and level (a file that does not open is
 * counted and named). */
static void account(report *rp, const char *path)
{
    char err[512];
    seg_reader *r = seg_open(path, rp->dicts, err, sizeof err);
    if (!r) {
        fprintf(stderr, "strata inspect: %s\n", err);
        rp->bad = 1;
        return;
    }
    const seg_info *in = seg_get_info(r);
    char level[16];
    level_of(path, level, sizeof level);
    group *g = NULL;
    for (size_t i = 0; i < rp->n && !g; i++)
        if (!strcmp(rp->g[i].tenant, in->tenant) && !strcmp(rp->g[i].level, level))
            g = &rp->g[i];
    if (!g && rp->n < INSPECT_MAX_GROUPS) {
        group *ng = realloc(rp->g, (rp->n + 1) * sizeof *ng);
        if (ng) {
            rp->g = ng;
            g = &rp->g[rp->n++];
            memset(g, 0, sizeof *g);
            snprintf(g->tenant, sizeof g->tenant, "%s", in->tenant);
            snprintf(g->level, sizeof g->level, "%s", level);
            g->min_ts = in->min_ingest_ns;
            g->max_ts = in->max_ingest_ns;
        }
    }
    if (g) {
        g->segments++;
        g->events += in->events;
        if (in->events && in->min_ingest_ns < g->min_ts)
            g->min_ts = in->min_ingest_ns;
        if (in->max_ingest_ns > g->max_ts)
            g->max_ts = in->max_ingest_ns;
        parts_add(&g->parts, &in->parts);
    }
    seg_close(r);
}

/* Directory walk callback: account every .sseg file. */
static void visit(void *ud, const char *path, const char *rel, const char *name)
{
    (void)rel;
    if (seg_has_suffix(name, ".sseg"))
        account(ud, path);
}

/* Load every dictionary under root/dicts/<tenant>/. */
static void load_dicts(seg_dicts *d, const char *root)
{
    char dir[8192];
    if ((size_t)snprintf(dir, sizeof dir, "%.4096s/dicts", root) < sizeof dir)
        seg_dicts_load_tree(d, dir);
}

/* One row of the table by part: bytes per event of columns, rows, terms, postings, filters. */
static void print_parts_row(const char *a, const char *b, uint64_t segs, uint64_t events,
                            const seg_parts *p)
{
    double per = events ? 1.0 / (double)events : 0;
    printf("%-16s %-5s %8llu %12llu %9.1f %9.1f %9.1f %9.1f %9.1f %12llu\n", a, b,
           (unsigned long long)segs, (unsigned long long)events, (double)p->columns * per,
           (double)p->rows * per, (double)p->terms * per, (double)p->postings * per,
           (double)p->filters * per, (unsigned long long)p->total);
}

/* `strata inspect DATA_DIR`: segments by tenant and level with bytes per event by part. */
static int inspect_dir(const char *root)
{
    report rp = {0};
    rp.dicts = seg_dicts_new();
    if (!rp.dicts)
        return 1;
    /* DATA_DIR/index (the indexer's default) or the index directory itself */
    char sub[8192];
    snprintf(sub, sizeof sub, "%.4096s/index", root);
    load_dicts(rp.dicts, root);
    load_dicts(rp.dicts, sub);
    seg_walk(root, INSPECT_MAX_DEPTH, visit, &rp);
    printf("%-16s %-5s %8s %12s %9s %9s %9s %9s %9s %12s\n", "tenant", "level", "segments",
           "events", "cols B/ev", "rows B/ev", "terms", "postings", "filters", "bytes");
    seg_parts all = {0};
    uint64_t segs = 0, events = 0;
    for (size_t i = 0; i < rp.n; i++) {
        group *g = &rp.g[i];
        print_parts_row(g->tenant, g->level, g->segments, g->events, &g->parts);
        char a[40], b[40];
        fmt_time(g->min_ts, a, sizeof a);
        fmt_time(g->max_ts, b, sizeof b);
        printf("  %s .. %s\n", a, b);
        parts_add(&all, &g->parts);
        segs += g->segments;
        events += g->events;
    }
    print_parts_row("total", "", segs, events, &all);
    free(rp.g);
    seg_dicts_free(rp.dicts);
    return rp.bad;
}

typedef struct term_print {
    uint64_t left; /* terms still to print */
} term_print;

/* seg_terms callback: one line per term with its document frequency. */
static int print_term(void *ud, const char *t, size_t n, uint32_t df)
{
    term_print *tp = ud;
    printf("%10u  %.*s\n", df, (int)n, t);
    return --tp->left == 0;
}

/* `strata inspect segment FILE`: its parts, meta columns, and on request rows or terms. */
static int inspect_segment(const char *path, long rows, const char *prefix, int json)
{
    seg_dicts *d = seg_dicts_new();
    if (!d)
        return 1;
    seg_dicts_load_near(d, path);
    char err[512];
    seg_reader *r = seg_open(path, d, err, sizeof err);
    if (!r) {
        fprintf(stderr, "strata inspect: %s\n", err);
        seg_dicts_free(d);
        return 1;
    }
    const seg_info *in = seg_get_info(r);
    const seg_parts *p = &in->parts;
    char a[40], b[40];
    fmt_time(in->min_ingest_ns, a, sizeof a);
    fmt_time(in->max_ingest_ns, b, sizeof b);
    if (json) {
        printf("{\"path\":\"%s\",\"version\":%u,\"tenant\":\"%s\",\"events\":%llu,"
               "\"blocks\":%u,\"terms\":%llu,\"templates\":%u,\"dict_id\":%u,\"min_ingest\":\"%s\","
               "\"max_ingest\":\"%s\",\"bytes\":{\"columns\":%llu,\"rows\":%llu,"
               "\"rows_meta\":%llu,\"terms\":%llu,"
               "\"postings\":%llu,\"filters\":%llu,\"other\":%llu,\"total\":%llu},"
               "\"meta_columns\":[",
               path, in->version, in->tenant, (unsigned long long)in->events, in->blocks,
               (unsigned long long)in->terms, in->templates, in->dict_id, a, b,
               (unsigned long long)p->columns, (unsigned long long)p->rows,
               (unsigned long long)p->meta, (unsigned long long)p->terms,
               (unsigned long long)p->postings, (unsigned long long)p->filters,
               (unsigned long long)p->other, (unsigned long long)p->total);
        for (uint32_t i = 0; i < seg_meta_column_count(r); i++) {
            strata_str key;
            uint32_t kind, present;
            seg_meta_column_info(r, i, &key, &kind, &present);
            strbuf k = {0};
            sb_json_strn(&k, key.ptr, key.len);
            printf("%s{\"key\":%s,\"kind\":\"%s\",\"rows\":%u}", i ? "," : "",
                   k.buf ? k.buf : "\"\"", kind_name(kind), present);
            sb_free(&k);
        }
        printf("]}\n");
    } else {
        printf("segment   %s\nversion   %u\ntenant    %s\nevents    %llu in %u blocks\n"
               "terms     %llu\ningest    %s .. %s\ndictionary %u\n",
               path, in->version, in->tenant, (unsigned long long)in->events, in->blocks,
               (unsigned long long)in->terms, a, b, in->dict_id);
        if (in->templates)
            printf("templates %u (blocks store a message's variables, its template the rest)\n",
                   in->templates);
        size_t cells;
        if (seg_rollup(r, &cells))
            printf("rollup    %zu cells (minute x service x level)\n", cells);
        const char *names[] = {"columns", "rows", "terms", "postings", "filters", "other"};
        uint64_t vals[] = {p->columns, p->rows, p->terms, p->postings, p->filters, p->other};
        printf("%-10s %12s %7s %9s\n", "part", "bytes", "share", "B/event");
        for (int i = 0; i < 6; i++)
            printf("%-10s %12llu %6.1f%% %9.2f\n", names[i], (unsigned long long)vals[i],
                   p->total ? 100.0 * (double)vals[i] / (double)p->total : 0.0,
                   in->events ? (double)vals[i] / (double)in->events : 0.0);
        printf("%-10s %12llu\n", "total", (unsigned long long)p->total);
        if (p->meta)
            printf("(of rows: meta %llu bytes, %.2f B/event)\n", (unsigned long long)p->meta,
                   in->events ? (double)p->meta / (double)in->events : 0.0);
        for (uint32_t i = 0; i < seg_meta_column_count(r); i++) {
            strata_str key;
            uint32_t kind, present;
            seg_meta_column_info(r, i, &key, &kind, &present);
            printf("meta column %.*s: %s, %u rows\n", (int)key.len, key.ptr, kind_name(kind),
                   present);
        }
    }
    int rc = 0;
    if (prefix) {
        term_print tp = {rows > 0 ? (uint64_t)rows : UINT64_MAX};
        if (seg_terms(r, prefix, strlen(prefix), print_term, &tp) < 0) {
            fprintf(stderr, "strata inspect: %s\n", seg_error(r));
            rc = 1;
        }
    } else if (rows > 0) {
        /* rows as NDJSON, through a one-event batch for the shared encoder */
        size_t cap = 1 << 20;
        char *buf = malloc(cap);
        for (uint64_t i = 0; buf && i < in->events && i < (uint64_t)rows; i++) {
            strata_event ev;
            if (seg_row(r, (uint32_t)i, &ev) < 0) {
                fprintf(stderr, "strata inspect: %s\n", seg_error(r));
                rc = 1;
                break;
            }
            batch_t *bt = batch_new("inspect");
            if (!bt || batch_append(bt, &ev) != 0) {
                batch_unref(bt);
                rc = 1;
                break;
            }
            batch_event_json(bt, 0, buf, cap);
            printf("%s\n", buf);
            batch_unref(bt);
        }
        free(buf);
    }
    seg_close(r);
    seg_dicts_free(d);
    return rc;
}

int cmd_inspect(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "segment")) {
        long rows = 0;
        const char *prefix = NULL;
        int json = 0;
        for (int i = 3; i < argc; i++) {
            if (!strcmp(argv[i], "--json"))
                json = 1;
            else if (!strcmp(argv[i], "--rows") && i + 1 < argc)
                rows = strtol(argv[++i], NULL, 10);
            else if (!strcmp(argv[i], "--terms") && i + 1 < argc)
                prefix = argv[++i];
            else {
                fprintf(stderr, "strata inspect: unknown option %s\n", argv[i]);
                return 2;
            }
        }
        return inspect_segment(argv[2], rows, prefix, json);
    }
    if (argc == 2) {
        struct stat st;
        if (stat(argv[1], &st) < 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "strata inspect: %s is not a directory\n", argv[1]);
            return 2;
        }
        return inspect_dir(argv[1]);
    }
    fprintf(stderr, "usage: strata inspect DATA_DIR\n"
                    "       strata inspect segment FILE [--rows N] [--terms PREFIX] [--json]\n");
    return 2;
}
