/*
 * tests/fuzz/fuzz_query.c - the query parser, and every query it accepts
 * evaluated on events, on a small segment and on a head writer's index: a
 * hostile query must get an error or an answer, never a crash, a leak or a
 * hang, and the three must agree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "segment.h"

static seg_reader *seg;
static seg_writer *head; /* the same events, as the indexer's head holds them */
static uint8_t *seg_bytes;
static strata_event evs[3];
static strata_kv kvs[2];

/* A fixed segment and events to evaluate accepted queries on. */
static void setup(void)
{
    kvs[0] = (strata_kv){strata_cstr("latency_ms"), strata_cstr("750"), STRATA_VALUE_INT};
    kvs[1] = (strata_kv){strata_cstr("user_id"), strata_cstr("u_98765"), STRATA_VALUE_STRING};
    const char *msgs[3] = {"Card declined: timeout after 10.0.3.42", "NullPointerException 数据库",
                           "GET /api/v1 payment-service ok"};
    seg_writer *w = seg_writer_new(&(seg_writer_opts){.tenant = "t", .block_events = 2});
    head = seg_writer_new(&(seg_writer_opts){.tenant = "t"});
    for (int i = 0; i < 3; i++) {
        strata_event_init(&evs[i]);
        evs[i].ingest_ts_ns = evs[i].event_ts_ns = 1000 + i;
        evs[i].level = (uint8_t)(i + 3);
        evs[i].service = strata_cstr(i ? "payments" : "auth");
        evs[i].host = strata_cstr("web01");
        evs[i].msg = strata_cstr(msgs[i]);
        evs[i].meta = kvs;
        evs[i].meta_count = (uint32_t)i;
        seg_writer_add(w, &evs[i]);
        seg_writer_add(head, &evs[i]);
    }
    size_t len;
    char err[128];
    if (seg_writer_finish_mem(w, &seg_bytes, &len, err, sizeof err) == 0)
        seg = seg_open_mem(seg_bytes, len, NULL, err, sizeof err);
    seg_writer_free(w);
    if (!seg || !head)
        abort();
}

/* Required terms as ids in the head; *absent when no row has one. */
typedef struct req {
    uint32_t ids[8];
    size_t n;
    int absent;
} req;

static void req_term(void *ud, const char *t, size_t len)
{
    req *r = ud;
    int64_t id = seg_writer_term_id(head, t, len);
    if (id < 0)
        r->absent = 1;
    else if (r->n < 8)
        r->ids[r->n++] = (uint32_t)id;
}

/* Does head row i hold every term of one of a's alternatives (or is there
 * nothing to narrow by)? */
static int alts_hold(uint32_t i, const q_alts *a)
{
    size_t from = 0;
    for (size_t k = 0; k < a->n; k++) {
        int all = 1;
        for (size_t t = from; t < a->alt_end[k] && all; t++) {
            int64_t id = seg_writer_term_id(head, a->term[t], a->len[t]);
            uint32_t u = (uint32_t)id;
            all = id >= 0 && seg_writer_row_has(head, i, &u, 1);
        }
        if (all)
            return 1;
        from = a->alt_end[k];
    }
    return a->n == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!seg)
        setup();
    char err[256];
    query *q = q_parse((const char *)data, size, err, sizeof err);
    if (!q) {
        if (!strstr(err, "column") && !strstr(err, "query is"))
            abort(); /* every parse error says where */
        return 0;
    }
    free(q_describe(q));
    q_scratch *s = q_scratch_new();
    int want = 0;
    for (int i = 0; i < 3; i++)
        want |= q_match(q, &evs[i], s) << i;
    roaring_bitmap_t *rows;
    int exact;
    if (q_segment(q, seg, &rows, &exact, err, sizeof err) == 0) {
        int got = 0;
        for (uint32_t r = 0; r < 3; r++) {
            if (!roaring_bitmap_contains(rows, r))
                continue;
            strata_event ev;
            if (exact)
                got |= 1 << r;
            else if (seg_row(seg, r, &ev) == 0 && q_match(q, &ev, s))
                got |= 1 << r;
        }
        if (got != want)
            abort(); /* the index and the matcher disagree */
        roaring_bitmap_free(rows);
    }
    /* a head search visits only rows holding the required terms */
    req rq = {.n = 0};
    q_required_terms(q, 8, req_term, &rq);
    for (uint32_t i = 0; i < 3; i++)
        if ((want >> i & 1) && (rq.absent || !seg_writer_row_has(head, i, rq.ids, rq.n)))
            abort();    /* a matching row lacks a required term: the head would miss it */
    static q_alts alts; /* large: not on the stack */
    q_required_alts(q, &alts);
    for (uint32_t i = 0; i < 3; i++)
        if ((want >> i & 1) && !alts_hold(i, &alts))
            abort(); /* a matching row holds no alternative: the head would miss it */
    q_scratch_free(s);
    q_free(q);
    return 0;
}
