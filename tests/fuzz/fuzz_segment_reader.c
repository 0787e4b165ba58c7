/*
 * tests/fuzz/fuzz_segment_reader.c - a hostile segment file must be rejected
 * with an error, never crash, loop or allocate without bound. Fuzz builds
 * skip checksum checks (STRATA_FUZZING) so that mutations reach the decoders
 * behind them. Every part is exercised: open (footer, table, columns,
 * dictionaries, block index, term index, filters), rows, meta-only rows,
 * meta columns, term lookups, prefix walks and filters.
 */
#include <stddef.h>
#include <stdint.h>

#include "segment.h"

/* Rows and terms visited per input: enough to reach every block of a small
 * file, bounded so one input stays fast. */
#define FUZZ_MAX_ROWS 2000
#define FUZZ_MAX_TERMS 2000

static int count_term(void *ud, const char *t, size_t n, uint32_t df)
{
    (void)t, (void)n, (void)df;
    return ++*(int *)ud >= FUZZ_MAX_TERMS;
}

/* Terms of a prefix walk kept to be looked up after it (a lookup may
 * replace the term chunk a walk is reading). */
#define FUZZ_KEEP_TERMS 8
#define FUZZ_KEEP_BYTES 1100
typedef struct kept {
    char t[FUZZ_KEEP_TERMS][FUZZ_KEEP_BYTES];
    size_t n[FUZZ_KEEP_TERMS];
    int k;
} kept;

static int keep_term(void *ud, const char *t, size_t n, uint32_t df)
{
    (void)df;
    kept *kp = ud;
    if (kp->k >= FUZZ_KEEP_TERMS)
        return 1;
    if (n < FUZZ_KEEP_BYTES) {
        for (size_t i = 0; i < n; i++)
            kp->t[kp->k][i] = t[i];
        kp->n[kp->k++] = n;
    }
    return kp->k >= FUZZ_KEEP_TERMS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    seg_reader *r = seg_open_mem(data, size, NULL, err, sizeof err);
    if (!r)
        return 0;
    const seg_info *in = seg_get_info(r);
    for (uint64_t i = 0; i < in->events && i < FUZZ_MAX_ROWS; i++) {
        strata_event ev;
        if (seg_row(r, (uint32_t)i, &ev) == 0) {
            volatile size_t sink = ev.msg.len + ev.service.len + ev.host.len;
            for (uint32_t k = 0; k < ev.meta_count; k++)
                sink += ev.meta[k].key.len + ev.meta[k].value.len;
            (void)sink;
        }
        /* meta alone (version 3: its own frame), from another block too */
        if (seg_row_parts(r, (uint32_t)((i * 7) % in->events), &ev, SEG_PART_META) == 0) {
            volatile size_t sink = ev.msg.len;
            for (uint32_t k = 0; k < ev.meta_count; k++)
                sink += ev.meta[k].key.len + ev.meta[k].value.len;
            (void)sink;
        }
    }
    /* meta columns (version 4): every value of every column */
    for (uint32_t c = 0; c < seg_meta_column_count(r); c++) {
        strata_str key;
        uint32_t kind, present;
        const seg_column *col;
        if (!seg_meta_column_info(r, c, &key, &kind, &present) ||
            seg_meta_column(r, key.ptr, key.len, &col) != 1)
            continue;
        volatile uint64_t sink = 0;
        for (uint64_t i = 0; i < in->events && i < FUZZ_MAX_ROWS; i++)
            if (col->has[i])
                sink += col->num ? (uint64_t)col->num[i] : col->values[col->id[i]].len;
        (void)sink;
    }
    /* the last four: stored as row templates in the format 8 seed */
    static const char *const terms[] = {
        "msg:error", "level:info", "service:api",  "msg:",    "",
        "~",         "msg:block",  "msg:received", "msg:for", "meta.component:sshd"};
    for (size_t i = 0; i < sizeof terms / sizeof *terms; i++) {
        size_t n = 0;
        while (terms[i][n])
            n++;
        roaring_bitmap_t *bm = seg_postings(r, terms[i], n);
        if (bm)
            roaring_bitmap_free(bm);
        seg_block_may_contain(r, 0, terms[i], n);
    }
    int seen = 0;
    seg_terms(r, "", 0, count_term, &seen);
    /* meta terms (version 6: hex id columns hold theirs), then lookups of them */
    static kept kp;
    kp.k = 0;
    seg_terms(r, "meta.", 5, keep_term, &kp);
    seg_terms(r, "meta.trace_id:a", 15, keep_term, &kp);
    for (int i = 0; i < kp.k; i++) {
        roaring_bitmap_t *bm = seg_postings(r, kp.t[i], kp.n[i]);
        if (bm)
            roaring_bitmap_free(bm);
        seg_term_df(r, kp.t[i], kp.n[i]);
    }
    seg_close(r);
    return 0;
}
