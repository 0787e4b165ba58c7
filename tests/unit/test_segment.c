/*
 * tests/unit/test_segment.c - the segment library, by properties:
 *   - random events -> segment -> every field back bit-exact, in ingest order;
 *   - postings equal a brute-force scan for random terms; prefix walks equal
 *     a brute-force filter of all terms; bloom filters have no false negatives;
 *   - merging segments gives the same bytes as one segment of their union;
 *   - a trained dictionary is used and required;
 *   - flipped bytes and truncations are reported, never served as data;
 *   - meta is read without decompressing (or even checking) message bytes.
 */
#include "test_util.h"

#include <dirent.h>
#include <zdict.h>
#include <zstd.h>

#include "build.h"
#include "codec.h"
#include "crc32c.h"
#include "eliasfano.h"
#include "format.h"
#include "segment.h"
#include "segment_int.h"
#include "strtab.h"
#include "ref_merge.h"

/* ---- a deterministic random corpus -------------------------------------------- */

static const char *const WORDS[] = {
    "Connection", "timeout",   "payment", "declined", "user",  "login",       "failed",
    "10.0.3.42",  "blk_-6952", "retry",   "OK",       "ERROR", "NullPointer", "数据库",
    "Müller",     "db-01",     "a:b",     "x",        "",      "GET",         "/api/v1",
};
static const char *const SERVICES[] = {"payments", "Auth", "cart-api", "", "search"};
static const char *const HOSTS[] = {"ip-10-0-0-1", "ip-10-0-0-2", "web01"};
static const char *const KEYS[] = {"trace_id", "user_id", "latency_ms", "path", "ok", "x"};

/* One event owned by the test: strings are malloc'd. */
typedef struct tev {
    strata_event ev;
    strata_kv kv[12];
    char *strs[32];
    int nstr;
} tev;

static char *keep(tev *t, const char *s, size_t n)
{
    char *p = malloc(n + 1);
    assert_non_null(p);
    memcpy(p, s, n);
    p[n] = 0;
    t->strs[t->nstr++] = p;
    return p;
}

static strata_str kstr(tev *t, const char *s, size_t n)
{
    strata_str r = {keep(t, s, n), (uint32_t)n};
    return r;
}

static void make_event(tev *t, int64_t base)
{
    memset(t, 0, sizeof *t);
    strata_event_init(&t->ev);
    /* many equal timestamps so that ties (arrival order) matter */
    t->ev.ingest_ts_ns = base + (int64_t)test_rnd_below(50) * 1000;
    t->ev.event_ts_ns = t->ev.ingest_ts_ns - (int64_t)test_rnd_below(2000000) + 1000000;
    t->ev.level = (uint8_t)test_rnd_below(7);
    t->ev.flags = (uint8_t)test_rnd_below(2);
    const char *svc = SERVICES[test_rnd_below(5)], *host = HOSTS[test_rnd_below(3)];
    t->ev.service = kstr(t, svc, strlen(svc));
    t->ev.host = kstr(t, host, strlen(host));
    char msg[512];
    size_t n = 0;
    int words = (int)test_rnd_below(12);
    for (int i = 0; i < words; i++) {
        const char *w = WORDS[test_rnd_below(sizeof WORDS / sizeof *WORDS)];
        n += (size_t)snprintf(msg + n, sizeof msg - n, "%s%s", i ? " " : "", w);
        if (test_rnd_below(4) == 0)
            n += (size_t)snprintf(msg + n, sizeof msg - n, " id%u", test_rnd_below(100000));
    }
    t->ev.msg = kstr(t, msg, n);
    t->ev.meta_count = test_rnd_below(5);
    for (uint32_t i = 0; i < t->ev.meta_count; i++) {
        const char *k = KEYS[test_rnd_below(6)];
        char v[64];
        uint8_t type = (uint8_t)test_rnd_below(5);
        int vn = type == STRATA_VALUE_INT ? snprintf(v, sizeof v, "%d", (int)test_rnd_below(5000))
                 : type == STRATA_VALUE_BOOL
                     ? snprintf(v, sizeof v, "%s", test_rnd() & 1 ? "true" : "false")
                 : type == STRATA_VALUE_NULL
                     ? snprintf(v, sizeof v, "null")
                     : snprintf(v, sizeof v, "v_%llx", (unsigned long long)(test_rnd() & 0xffffff));
        t->kv[i].key = kstr(t, k, strlen(k));
        t->kv[i].value = kstr(t, v, (size_t)vn);
        t->kv[i].type = type;
    }
    t->ev.meta = t->kv;
}

static void free_event(tev *t)
{
    for (int i = 0; i < t->nstr; i++)
        free(t->strs[i]);
}

static int str_eq(strata_str a, strata_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static void assert_event_eq(const strata_event *want, const strata_event *got)
{
    assert_int_equal(want->ingest_ts_ns, got->ingest_ts_ns);
    assert_int_equal(want->event_ts_ns, got->event_ts_ns);
    assert_int_equal(want->level, got->level);
    assert_int_equal(want->flags, got->flags);
    assert_true(str_eq(want->service, got->service));
    assert_true(str_eq(want->host, got->host));
    assert_true(str_eq(want->msg, got->msg));
    assert_int_equal(want->meta_count, got->meta_count);
    for (uint32_t i = 0; i < want->meta_count; i++) {
        assert_true(str_eq(want->meta[i].key, got->meta[i].key));
        assert_true(str_eq(want->meta[i].value, got->meta[i].value));
        assert_int_equal(want->meta[i].type, got->meta[i].type);
    }
}

/* Events sorted as the segment stores them: by ingest_ts, ties by arrival. */
static int cmp_tev(const void *a, const void *b)
{
    const tev *const *x = a, *const *y = b;
    if ((*x)->ev.ingest_ts_ns != (*y)->ev.ingest_ts_ns)
        return (*x)->ev.ingest_ts_ns < (*y)->ev.ingest_ts_ns ? -1 : 1;
    return *x < *y ? -1 : *x > *y;
}

/* evs[n] in segment order, as pointers (the caller frees the array). */
static tev **segment_order(tev *evs, size_t n)
{
    tev **sorted = calloc(n ? n : 1, sizeof *sorted);
    assert_non_null(sorted);
    for (size_t i = 0; i < n; i++)
        sorted[i] = &evs[i];
    qsort(sorted, n, sizeof *sorted, cmp_tev);
    return sorted;
}

/* n random events (seeded) and the same events in segment order; free both
 * with corpus_free. */
static tev *corpus_make(uint64_t seed, size_t n, int64_t base, tev ***sorted)
{
    test_rnd_seed(seed);
    tev *evs = calloc(n ? n : 1, sizeof *evs);
    assert_non_null(evs);
    for (size_t i = 0; i < n; i++)
        make_event(&evs[i], base);
    if (sorted)
        *sorted = segment_order(evs, n);
    return evs;
}

static void corpus_free(tev *evs, tev **sorted, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free_event(&evs[i]);
    free(evs);
    free(sorted);
}

/* Keys per fuse filter part for the writers the helpers below make (0:
 * the default); test_filters_in_parts makes it small. */
static uint32_t g_part_keys;

static uint8_t *build(tev *evs, size_t n, uint32_t block, const void *dict, size_t dlen,
                      size_t *len)
{
    seg_writer_opts o = {.tenant = "acme",
                         .block_events = block,
                         .dict = dict,
                         .dict_len = dlen,
                         .filter_part_keys = g_part_keys};
    seg_writer *w = seg_writer_new(&o);
    assert_non_null(w);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seg_writer_add(w, &evs[i].ev), 0);
    uint8_t *buf;
    char err[256];
    if (seg_writer_finish_mem(w, &buf, len, err, sizeof err) != 0)
        fail_msg("finish: %s", err);
    seg_writer_free(w);
    return buf;
}

static seg_reader *open_ok(const uint8_t *buf, size_t len, const seg_dicts *d)
{
    char err[256];
    seg_reader *r = seg_open_mem(buf, len, d, err, sizeof err);
    if (!r)
        fail_msg("open: %s", err);
    return r;
}

/* ---- round trip ------------------------------------------------------------------ */

#define N_EVENTS 3000

static void check_roundtrip(uint32_t block)
{
    tev **sorted;
    tev *evs = corpus_make(0x9e3779b97f4a7c15ull + block, N_EVENTS, 1750000000000000000ll, &sorted);
    size_t len;
    uint8_t *buf = build(evs, N_EVENTS, block, NULL, 0, &len);
    seg_reader *r = open_ok(buf, len, NULL);
    const seg_info *info = seg_get_info(r);
    assert_int_equal(info->events, N_EVENTS);
    assert_string_equal(info->tenant, "acme");
    assert_int_equal(info->blocks, (N_EVENTS + block - 1) / block);
    assert_int_equal(info->min_ingest_ns, sorted[0]->ev.ingest_ts_ns);
    assert_int_equal(info->max_ingest_ns, sorted[N_EVENTS - 1]->ev.ingest_ts_ns);
    assert_int_equal(info->parts.total, len);
    /* read rows in a scattered order too, so the block cache is exercised */
    for (size_t pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < N_EVENTS; k++) {
            size_t i = pass ? (k * 7919) % N_EVENTS : k;
            strata_event got;
            assert_int_equal(seg_row(r, (uint32_t)i, &got), 0);
            assert_event_eq(&sorted[i]->ev, &got);
            assert_string_equal(got.tenant.ptr, "acme");
            /* the same row without its message: same meta, empty msg */
            size_t j = (i * 31) % N_EVENTS;
            assert_int_equal(seg_row_parts(r, (uint32_t)j, &got, SEG_PART_META | SEG_PART_NAMES),
                             0);
            assert_int_equal(got.msg.len, 0);
            strata_event want = sorted[j]->ev;
            want.msg = got.msg;
            assert_event_eq(&want, &got);
            /* the message alone: no meta, no names */
            assert_int_equal(seg_row_parts(r, (uint32_t)j, &got, SEG_PART_MSG), 0);
            assert_true(str_eq(sorted[j]->ev.msg, got.msg));
            assert_int_equal(got.meta_count, 0);
            assert_int_equal(got.service.len + got.host.len, 0);
            assert_int_equal(got.ingest_ts_ns, sorted[j]->ev.ingest_ts_ns);
        }
    strata_event past;
    assert_int_equal(seg_row(r, N_EVENTS, &past), -1);
    seg_close(r);
    free(buf);
    corpus_free(evs, sorted, N_EVENTS);
}

static void test_roundtrip_bit_exact(void **state)
{
    (void)state;
    check_roundtrip(1);
    check_roundtrip(100);
    check_roundtrip(8192);
}

static void test_empty_segment(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = build(NULL, 0, 0, NULL, 0, &len);
    seg_reader *r = open_ok(buf, len, NULL);
    assert_int_equal(seg_get_info(r)->events, 0);
    roaring_bitmap_t *bm = seg_postings(r, "msg:x", 5);
    assert_non_null(bm);
    assert_true(roaring_bitmap_is_empty(bm));
    roaring_bitmap_free(bm);
    seg_close(r);
    free(buf);
}

/* ---- postings against brute force ---------------------------------------------------- */

/* Every distinct term with its rows, gathered by brute force. */
typedef struct bterm {
    char t[1100];
    size_t n;
    roaring_bitmap_t *rows;
} bterm;

typedef struct brute {
    bterm *terms;
    size_t n, cap;
    uint32_t row;
} brute;

static void brute_add(void *ud, const char *t, size_t n)
{
    brute *b = ud;
    for (size_t i = 0; i < b->n; i++)
        if (b->terms[i].n == n && memcmp(b->terms[i].t, t, n) == 0) {
            roaring_bitmap_add(b->terms[i].rows, b->row);
            return;
        }
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->terms = realloc(b->terms, b->cap * sizeof *b->terms);
        assert_non_null(b->terms);
    }
    bterm *e = &b->terms[b->n++];
    assert_true(n < sizeof e->t);
    memcpy(e->t, t, n);
    e->n = n;
    e->rows = roaring_bitmap_create();
    roaring_bitmap_add(e->rows, b->row);
}

typedef struct walk {
    brute *b;
    const char *prefix;
    size_t plen;
    size_t seen;
    char last[1100];
    size_t lastn;
} walk;

static int on_term(void *ud, const char *t, size_t n, uint32_t df)
{
    walk *w = ud;
    assert_true(n >= w->plen && memcmp(t, w->prefix, w->plen) == 0);
    /* sorted, no repeats */
    if (w->seen) {
        size_t m = n < w->lastn ? n : w->lastn;
        int c = memcmp(w->last, t, m);
        assert_true(c < 0 || (c == 0 && w->lastn < n));
    }
    memcpy(w->last, t, n);
    w->lastn = n;
    w->seen++;
    for (size_t i = 0; i < w->b->n; i++)
        if (w->b->terms[i].n == n && memcmp(w->b->terms[i].t, t, n) == 0) {
            assert_int_equal(roaring_bitmap_get_cardinality(w->b->terms[i].rows), df);
            return 0;
        }
    fail_msg("seg_terms gave a term the events do not have: %.*s", (int)n, t);
    return 0;
}

static void test_postings_match_brute_force(void **state)
{
    (void)state;
    size_t n = 2500;
    tev **sorted;
    tev *evs = corpus_make(42, n, 0, &sorted);
    brute b = {0};
    for (size_t i = 0; i < n; i++) {
        b.row = (uint32_t)i;
        seg_event_terms(&sorted[i]->ev, brute_add, &b);
    }
    size_t len;
    uint8_t *buf = build(evs, n, 256, NULL, 0, &len);
    seg_reader *r = open_ok(buf, len, NULL);
    assert_int_equal(seg_get_info(r)->terms, b.n);
    /* every term: exact postings, bloom says maybe, block blooms cover rows */
    for (size_t i = 0; i < b.n; i++) {
        roaring_bitmap_t *got = seg_postings(r, b.terms[i].t, b.terms[i].n);
        assert_non_null(got);
        if (!roaring_bitmap_equals(got, b.terms[i].rows))
            fail_msg("postings differ for %s", b.terms[i].t);
        assert_true(seg_may_contain(r, b.terms[i].t, b.terms[i].n));
        uint32_t first = roaring_bitmap_minimum(got);
        assert_true(seg_block_may_contain(r, first / 256, b.terms[i].t, b.terms[i].n));
        roaring_bitmap_free(got);
    }
    /* absent terms: empty */
    const char *absent[] = {"msg:zzzz", "msg:", "service:nope", "meta.user_id:none", "", "~"};
    for (size_t i = 0; i < sizeof absent / sizeof *absent; i++) {
        roaring_bitmap_t *got = seg_postings(r, absent[i], strlen(absent[i]));
        assert_non_null(got);
        assert_true(roaring_bitmap_is_empty(got));
        roaring_bitmap_free(got);
    }
    /* prefixes: the walk visits exactly the brute-force matches */
    const char *prefixes[] = {"msg:",         "msg:id1", "msg:co", "service:", "meta.",
                              "meta.path:v_", "level:e", "",       "zzz",      "msg:数"};
    for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes; p++) {
        walk w = {&b, prefixes[p], strlen(prefixes[p]), 0, {0}, 0};
        assert_int_equal(seg_terms(r, w.prefix, w.plen, on_term, &w), 0);
        size_t want = 0;
        for (size_t i = 0; i < b.n; i++)
            want += b.terms[i].n >= w.plen && memcmp(b.terms[i].t, w.prefix, w.plen) == 0;
        assert_int_equal(w.seen, want);
    }
    seg_close(r);
    free(buf);
    for (size_t i = 0; i < b.n; i++)
        roaring_bitmap_free(b.terms[i].rows);
    free(b.terms);
    corpus_free(evs, sorted, n);
}

/* The writer's own index (the indexer's head) against brute force: every
 * term and random pairs of terms, before seal (rows in arrival order) and
 * after (rows in segment order: the events arrive out of order). */
static void check_writer_index(seg_writer *w, brute *b)
{
    for (size_t i = 0; i < b->n; i++) {
        int64_t id = seg_writer_term_id(w, b->terms[i].t, b->terms[i].n);
        assert_true(id >= 0);
        uint32_t ids[2] = {(uint32_t)id, 0};
        const bterm *other = &b->terms[(i * 7919) % b->n];
        int64_t id2 = seg_writer_term_id(w, other->t, other->n);
        assert_true(id2 >= 0);
        ids[1] = (uint32_t)id2;
        for (uint32_t row = 0; row < seg_writer_count(w); row++) {
            int in1 = roaring_bitmap_contains(b->terms[i].rows, row);
            int in2 = roaring_bitmap_contains(other->rows, row);
            if (seg_writer_row_has(w, row, ids, 1) != in1 ||
                seg_writer_row_has(w, row, ids, 2) != (in1 && in2))
                fail_msg("row %u: writer index differs for %s", row, b->terms[i].t);
        }
    }
    assert_int_equal(seg_writer_term_id(w, "msg:zzzz", 8), -1);
}

static void free_brute(brute *b)
{
    for (size_t i = 0; i < b->n; i++)
        roaring_bitmap_free(b->terms[i].rows);
    free(b->terms);
}

static void test_writer_index(void **state)
{
    (void)state;
    size_t n = 400;
    tev **sorted;
    tev *evs = corpus_make(4242, n, 0, &sorted);
    seg_writer_opts o = {.tenant = "t"};
    seg_writer *w = seg_writer_new(&o);
    assert_non_null(w);
    brute arrival = {0}, segment = {0};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(seg_writer_add(w, &evs[i].ev), 0);
        arrival.row = (uint32_t)i;
        seg_event_terms(&evs[i].ev, brute_add, &arrival);
        segment.row = (uint32_t)i;
        seg_event_terms(&sorted[i]->ev, brute_add, &segment);
    }
    check_writer_index(w, &arrival);
    seg_writer_seal(w);
    check_writer_index(w, &segment);
    seg_writer_free(w);
    free_brute(&arrival);
    free_brute(&segment);
    corpus_free(evs, sorted, n);
}

/* ---- merge ---------------------------------------------------------------------------- */

static void test_merge_equals_union(void **state)
{
    (void)state;
    size_t n = 2000;
    tev *evs = corpus_make(7, n, 0, NULL);
    /* three segments over contiguous parts; the union is their concatenation */
    size_t cut[4] = {0, 500, 1300, n};
    uint8_t *parts[3];
    size_t plen[3];
    seg_reader *rs[3];
    for (int k = 0; k < 3; k++) {
        parts[k] = build(evs + cut[k], cut[k + 1] - cut[k], 128, NULL, 0, &plen[k]);
        rs[k] = open_ok(parts[k], plen[k], NULL);
    }
    seg_writer_opts o = {.tenant = "acme", .block_events = 128};
    seg_writer *w = seg_writer_new(&o);
    char err[256];
    assert_int_equal(ref_merge(rs, 3, w, err, sizeof err), 0);
    uint8_t *merged;
    size_t mlen;
    assert_int_equal(seg_writer_finish_mem(w, &merged, &mlen, err, sizeof err), 0);
    seg_writer_free(w);
    size_t ulen;
    uint8_t *uni = build(evs, n, 128, NULL, 0, &ulen);
    assert_int_equal(mlen, ulen);
    assert_memory_equal(merged, uni, ulen);
    for (int k = 0; k < 3; k++) {
        seg_close(rs[k]);
        free(parts[k]);
    }
    free(merged);
    free(uni);
    corpus_free(evs, NULL, n);
}

/* ---- dictionaries ------------------------------------------------------------------------ */

/* n events made with seed (make_event), and a zstd dictionary trained on
 * 2,000 samples of them (n >= 2,000) into dict: its length. */
static tev *events_and_dict(uint64_t seed, size_t n, uint8_t *dict, size_t cap, size_t *dlen)
{
    test_rnd_seed(seed);
    tev *evs = calloc(n, sizeof *evs);
    assert_non_null(evs);
    seg_writer *w = seg_writer_new(NULL);
    for (size_t i = 0; i < n; i++) {
        make_event(&evs[i], 0);
        assert_int_equal(seg_writer_add(w, &evs[i].ev), 0);
    }
    uint8_t *samples;
    size_t *sizes;
    unsigned ns = seg_writer_samples(w, 2000, &samples, &sizes);
    assert_int_equal(ns, 2000);
    *dlen = seg_dict_train(samples, sizes, ns, dict, cap);
    assert_true(*dlen > 0);
    free(samples);
    free(sizes);
    seg_writer_free(w);
    return evs;
}

static void test_dictionary(void **state)
{
    (void)state;
    size_t n = 4000, dlen;
    static uint8_t dict[16384];
    tev *evs = events_and_dict(99, n, dict, sizeof dict, &dlen);
    size_t len;
    uint8_t *buf = build(evs, n, 64, dict, dlen, &len);
    /* without its dictionary the index works and rows say what is missing */
    seg_reader *nod = open_ok(buf, len, NULL);
    strata_event ev;
    assert_int_equal(seg_row(nod, 0, &ev), -1);
    assert_non_null(strstr(seg_error(nod), "dictionary"));
    roaring_bitmap_t *bm = seg_postings(nod, "level:info", 10);
    assert_non_null(bm);
    assert_false(roaring_bitmap_is_empty(bm));
    roaring_bitmap_free(bm);
    seg_close(nod);
    seg_dicts *d = seg_dicts_new();
    assert_int_equal(seg_dicts_add(d, dict, dlen), 0);
    seg_reader *r = open_ok(buf, len, d);
    assert_true(seg_get_info(r)->dict_id != 0);
    strata_event got;
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(seg_row(r, i, &got), 0);
    seg_close(r);
    seg_dicts_free(d);
    free(buf);
    corpus_free(evs, NULL, n);
}

/* ---- corruption ------------------------------------------------------------------------------ */

/* Open and read everything; 0 when all of it was served, -1 when an error
 * was reported somewhere. What must never happen is a crash or a row that
 * differs from the original while no error was reported. */
static int read_all(const uint8_t *buf, size_t len, tev **sorted)
{
    char err[256];
    seg_reader *r = seg_open_mem(buf, len, NULL, err, sizeof err);
    if (!r) {
        assert_true(err[0] != 0);
        return -1;
    }
    int rc = 0;
    for (uint32_t i = 0; i < seg_get_info(r)->events; i++) {
        strata_event got;
        if (seg_row(r, i, &got) < 0) {
            assert_true(seg_error(r)[0] != 0);
            rc = -1;
            continue;
        }
        assert_event_eq(&sorted[i]->ev, &got);
    }
    roaring_bitmap_t *bm = seg_postings(r, "msg:timeout", 11);
    if (bm)
        roaring_bitmap_free(bm);
    else
        rc = -1;
    seg_close(r);
    return rc;
}

static void test_corruption_is_detected(void **state)
{
    (void)state;
    size_t n = 600;
    tev **sorted;
    tev *evs = corpus_make(1234, n, 0, &sorted);
    size_t len;
    uint8_t *buf = build(evs, n, 100, NULL, 0, &len);
    assert_int_equal(read_all(buf, len, sorted), 0);
    uint8_t *copy = malloc(len);
    /* every single-byte flip is either detected or harmless */
    size_t detected = 0;
    for (size_t pos = 0; pos < len; pos += 1 + pos / 64) {
        memcpy(copy, buf, len);
        copy[pos] ^= 0x5a;
        detected += read_all(copy, len, sorted) < 0;
    }
    assert_true(detected > 0);
    /* every truncation is refused at open */
    for (size_t cut = 0; cut < len; cut += 1 + cut / 16) {
        char err[256];
        seg_reader *r = seg_open_mem(buf, cut, NULL, err, sizeof err);
        assert_null(r);
    }
    free(copy);
    free(buf);
    corpus_free(evs, sorted, n);
}

/* The offset of section `id` of a segment in memory, and its length. */
static size_t section_of(const uint8_t *buf, size_t len, uint32_t id, size_t *slen)
{
    const uint8_t *tr = buf + len - SEG_TRAILER_BYTES;
    uint64_t table;
    uint32_t nsec;
    memcpy(&table, tr + SEG_TR_TABLE_OFF, 8); /* little-endian hosts only, as CI */
    memcpy(&nsec, tr + SEG_TR_NSECTIONS, 4);
    *slen = 0; /* defined on the not-found path too (fail_msg returns to gcc -O2) */
    for (uint32_t i = 0; i < nsec; i++) {
        const uint8_t *e = buf + table + (size_t)i * SEG_TABLE_ENTRY_BYTES;
        uint32_t eid;
        uint64_t off, n;
        memcpy(&eid, e, 4);
        memcpy(&off, e + 8, 8);
        memcpy(&n, e + 16, 8);
        if (eid == id) {
            *slen = n;
            return off;
        }
    }
    fail_msg("section %u not found", id);
    return 0;
}

/* Version 3 keeps messages and meta in separate frames: with the message
 * frame of block 0 corrupted, meta still reads (it never touches those
 * bytes) while a full row read reports the corruption; and the other way
 * round. */
static void test_meta_without_messages(void **state)
{
    (void)state;
    size_t n = 300;
    tev **sorted;
    tev *evs = corpus_make(77, n, 0, &sorted);
    size_t len, ilen, blen;
    uint8_t *buf = build(evs, n, 100, NULL, 0, &len);
    size_t ix = section_of(buf, len, SEC_BLOCK_INDEX, &ilen);
    size_t blocks = section_of(buf, len, SEC_BLOCKS, &blen);
    assert_int_equal(ilen, 3 * SEG_BLOCK_ENTRY_BYTES);
    uint32_t mlen, klen;
    memcpy(&mlen, buf + ix + 8, 4);
    memcpy(&klen, buf + ix + 20, 4);
    for (int part = 0; part < 2; part++) {
        uint8_t *copy = malloc(len);
        assert_non_null(copy);
        memcpy(copy, buf, len);
        copy[blocks + (part == 0 ? mlen / 2 : mlen + klen / 2)] ^= 0x5a;
        seg_reader *r = open_ok(copy, len, NULL);
        assert_int_equal(seg_get_info(r)->version, SEG_VERSION);
        assert_true(seg_get_info(r)->parts.meta > 0);
        strata_event got;
        if (part == 0) { /* message frame broken: meta fine, rows refused */
            for (uint32_t i = 0; i < 100; i++) {
                assert_int_equal(seg_row_parts(r, i, &got, SEG_PART_META | SEG_PART_NAMES), 0);
                strata_event want = sorted[i]->ev;
                want.msg = got.msg;
                assert_event_eq(&want, &got);
            }
            assert_int_equal(seg_row(r, 5, &got), -1);
            assert_non_null(strstr(seg_error(r), "checksum"));
        } else { /* meta frame broken: both refused */
            assert_int_equal(seg_row_parts(r, 5, &got, SEG_PART_META), -1);
            assert_int_equal(seg_row(r, 5, &got), -1);
        }
        /* the other blocks are untouched */
        assert_int_equal(seg_row(r, 150, &got), 0);
        assert_event_eq(&sorted[150]->ev, &got);
        seg_close(r);
        free(copy);
    }
    free(buf);
    corpus_free(evs, sorted, n);
}

static void test_file_roundtrip(void **state)
{
    (void)state;
    test_rnd_seed(5);
    char *dir = tmpdir_new();
    char path[512];
    snprintf(path, sizeof path, "%s/seg-1.sseg", dir);
    seg_writer_opts o = {.tenant = "t1"};
    seg_writer *w = seg_writer_new(&o);
    tev e;
    make_event(&e, 10);
    assert_int_equal(seg_writer_add(w, &e.ev), 0);
    char err[256];
    assert_int_equal(seg_writer_finish(w, path, err, sizeof err), 0);
    assert_int_equal(seg_writer_add(w, &e.ev), -1); /* finished */
    seg_writer_free(w);
    seg_reader *r = seg_open(path, NULL, err, sizeof err);
    assert_non_null(r);
    strata_event got;
    assert_int_equal(seg_row(r, 0, &got), 0);
    assert_event_eq(&e.ev, &got);
    seg_close(r);
    /* a file that is not a segment names the problem */
    char *junk = write_file(dir, "junk.sseg",
                            "this is not a segment at all, but it is long enough "
                            "to have a trailer of eighty bytes or so, really.");
    assert_null(seg_open(junk, NULL, err, sizeof err));
    assert_non_null(strstr(err, "not a Strata segment"));
    free(junk);
    free_event(&e);
    rm_rf(dir);
    free(dir);
}

/* ---- the rollup (format version 2) --------------------------------------------- */

static int64_t minute_floor(int64_t ns)
{
    int64_t m = ns / SEG_ROLLUP_NS;
    return ns % SEG_ROLLUP_NS < 0 ? m - 1 : m;
}

static void test_rollup_counts(void **state)
{
    (void)state;
    tev **sorted;
    tev *evs = corpus_make(77, N_EVENTS, 1750000000000000000ll, &sorted);
    /* spread event times over a few minutes, some before the epoch minute */
    for (size_t i = 0; i < N_EVENTS; i++)
        evs[i].ev.event_ts_ns += (int64_t)(i % 7) * 45000000000ll - 90000000000ll;
    size_t len;
    uint8_t *buf = build(evs, N_EVENTS, 100, NULL, 0, &len);
    seg_reader *r = open_ok(buf, len, NULL);
    size_t n;
    const seg_rollup_cell *cells = seg_rollup(r, &n);
    assert_non_null(cells);
    assert_true(n > 10);
    uint64_t total = 0;
    for (size_t k = 0; k < n; k++) {
        /* each cell equals a brute-force count over the events */
        strata_str name = seg_service_name(r, cells[k].service);
        uint64_t want = 0;
        for (size_t i = 0; i < N_EVENTS; i++)
            want += minute_floor(evs[i].ev.event_ts_ns) == cells[k].minute &&
                    evs[i].ev.level == cells[k].level && str_eq(evs[i].ev.service, name);
        assert_int_equal(cells[k].count, want);
        total += cells[k].count;
    }
    assert_int_equal(total, N_EVENTS);
    seg_close(r);
    free(buf);
    corpus_free(evs, sorted, N_EVENTS);
}

/* ---- meta columns (format version 4) ---------------------------------------- */

/* The event's meta: its first n kvs, shuffled (key order must survive). */
static void shuffle_meta(tev *t, uint32_t n)
{
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = test_rnd_below(i);
        strata_kv x = t->kv[i - 1];
        t->kv[i - 1] = t->kv[j];
        t->kv[j] = x;
    }
    t->ev.meta_count = n;
    t->ev.meta = t->kv;
}

/* An event whose meta has the shapes meta columns must get right: a numeric
 * key in most rows (extremes included), a string key with few values
 * (sometimes after a null and followed by a second value of the same key,
 * which stays in the row), an integer key with non-canonical spellings
 * (so a dictionary, not numbers), unique trace ids (a hex id column from
 * format 6) and a rare key (no column); the keys in varying order. */
static void make_col_event(tev *t, int64_t base, uint32_t idx)
{
    (void)idx;
    memset(t, 0, sizeof *t);
    strata_event_init(&t->ev);
    t->ev.ingest_ts_ns = base + (int64_t)test_rnd_below(1000) * 1000;
    t->ev.event_ts_ns = t->ev.ingest_ts_ns;
    t->ev.level = (uint8_t)test_rnd_below(7);
    t->ev.service = kstr(t, "svc", 3);
    t->ev.host = kstr(t, "h", 1);
    t->ev.msg = kstr(t, "m", 1);
    static const char *const CODES[] = {"7", "007", "+5", "-0", "12"};
    static const int64_t EXTREMES[] = {INT64_MIN, INT64_MAX, 0, -1};
    char v[64];
    uint32_t n = 0;
    if (test_rnd_below(10) < 9) { /* latency_ms: canonical integers */
        int64_t x = test_rnd_below(8) == 0 ? EXTREMES[test_rnd_below(4)]
                                           : (int64_t)test_rnd_below(5000) - 100;
        int vn = snprintf(v, sizeof v, "%lld", (long long)x);
        t->kv[n++] =
            (strata_kv){kstr(t, "latency_ms", 10), kstr(t, v, (size_t)vn), STRATA_VALUE_INT};
    }
    if (test_rnd_below(10) < 7) { /* user_id: 40 values */
        if (test_rnd_below(5) == 0)
            t->kv[n++] = (strata_kv){kstr(t, "user_id", 7), kstr(t, "null", 4), STRATA_VALUE_NULL};
        int vn = snprintf(v, sizeof v, "u_%u", test_rnd_below(40));
        t->kv[n++] =
            (strata_kv){kstr(t, "user_id", 7), kstr(t, v, (size_t)vn), STRATA_VALUE_STRING};
        if (test_rnd_below(6) == 0)
            t->kv[n++] =
                (strata_kv){kstr(t, "user_id", 7), kstr(t, "second", 6), STRATA_VALUE_STRING};
    }
    if (test_rnd_below(2) == 0) { /* code: integers, some not canonical */
        const char *c = CODES[test_rnd_below(5)];
        t->kv[n++] = (strata_kv){kstr(t, "code", 4), kstr(t, c, strlen(c)), STRATA_VALUE_INT};
    }
    int vn = snprintf(v, sizeof v, "%016llx", (unsigned long long)test_rnd());
    t->kv[n++] = (strata_kv){kstr(t, "trace_id", 8), kstr(t, v, (size_t)vn), STRATA_VALUE_STRING};
    if (test_rnd_below(50) == 0)
        t->kv[n++] = (strata_kv){kstr(t, "rare", 4), kstr(t, "1", 1), STRATA_VALUE_INT};
    shuffle_meta(t, n);
}

/* n events made by make (seeded), and in *sorted (when not NULL) the same
 * in segment order; free both with corpus_free. */
static tev *events_of(void (*make)(tev *, int64_t, uint32_t), uint64_t seed, size_t n,
                      tev ***sorted)
{
    test_rnd_seed(seed);
    tev *evs = calloc(n, sizeof *evs);
    assert_non_null(evs);
    for (size_t i = 0; i < n; i++)
        make(&evs[i], 1750000000000000000ll, (uint32_t)i);
    if (sorted)
        *sorted = segment_order(evs, n);
    return evs;
}

/* The first non-null value of key in ev, or NULL. */
static const strata_kv *first_value(const strata_event *ev, const char *key)
{
    for (uint32_t i = 0; i < ev->meta_count; i++)
        if (ev->meta[i].key.len == strlen(key) && !memcmp(ev->meta[i].key.ptr, key, strlen(key)) &&
            ev->meta[i].type != STRATA_VALUE_NULL)
            return &ev->meta[i];
    return NULL;
}

/* Frequent keys become typed columns; every row still reads back
 * bit-exact (key order, types, nulls, repeated keys), and the columns hold
 * exactly each row's first non-null value. */
static void test_meta_columns(void **state)
{
    (void)state;
    const size_t n = 2000;
    tev **sorted;
    tev *evs = events_of(make_col_event, 4242, n, &sorted);
    size_t len;
    uint8_t *buf = build(evs, n, 256, NULL, 0, &len);
    seg_reader *r = open_ok(buf, len, NULL);
    assert_int_equal(seg_meta_column_count(r), 4); /* trace_id: hex ids, read through rows */
    static const struct {
        const char *key;
        uint32_t kind;
    } want[] = {{"latency_ms", SEG_META_COL_NUMBER},
                {"user_id", SEG_META_COL_DICT},
                {"code", SEG_META_COL_DICT},
                {"trace_id", 0},
                {"rare", 0}};
    for (size_t k = 0; k < sizeof want / sizeof *want; k++) {
        const seg_column *col;
        int rc = seg_meta_column(r, want[k].key, strlen(want[k].key), &col);
        assert_int_equal(rc, want[k].kind ? 1 : 0);
        if (!rc)
            continue;
        assert_int_equal(col->kind, want[k].kind);
        uint32_t present = 0;
        for (size_t i = 0; i < n; i++) {
            const strata_kv *kv = first_value(&sorted[i]->ev, want[k].key);
            assert_int_equal(col->has[i], kv != NULL);
            present += kv != NULL;
            if (!kv)
                continue;
            if (col->kind == SEG_META_COL_NUMBER) {
                char t[32];
                snprintf(t, sizeof t, "%lld", (long long)col->num[i]);
                assert_true(kv->value.len == strlen(t) && !memcmp(kv->value.ptr, t, strlen(t)));
            } else {
                assert_true(col->id[i] < col->nvalues);
                assert_true(str_eq(kv->value, col->values[col->id[i]]));
            }
        }
        assert_int_equal(col->present, present);
    }
    for (size_t pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < n; k++) {
            size_t i = pass ? (k * 7919) % n : k;
            strata_event got;
            assert_int_equal(seg_row(r, (uint32_t)i, &got), 0);
            assert_event_eq(&sorted[i]->ev, &got);
        }
    /* a merge carries the columns over (rows are rebuilt from them) */
    seg_writer *w = seg_writer_new(NULL);
    assert_non_null(w);
    char err[256];
    assert_int_equal(ref_merge(&r, 1, w, err, sizeof err), 0);
    uint8_t *mbuf;
    size_t mlen;
    assert_int_equal(seg_writer_finish_mem(w, &mbuf, &mlen, err, sizeof err), 0);
    seg_writer_free(w);
    seg_reader *m = open_ok(mbuf, mlen, NULL);
    assert_int_equal(seg_meta_column_count(m), 4);
    for (size_t i = 0; i < n; i++) {
        strata_event got;
        assert_int_equal(seg_row(m, (uint32_t)i, &got), 0);
        assert_event_eq(&sorted[i]->ev, &got);
    }
    seg_close(m);
    free(mbuf);
    seg_close(r);
    /* a damaged column section is refused at open, by its checksum */
    size_t clen, at = section_of(buf, len, SEC_META_COLUMNS, &clen);
    buf[at + clen / 2] ^= 0x20;
    assert_null(seg_open_mem(buf, len, NULL, err, sizeof err));
    assert_non_null(strstr(err, "checksum"));
    free(buf);
    corpus_free(evs, sorted, n);
}

/* Add event i (ingest and event time 1000 + i) with message msg[0..n). */
static void add_msg_event(seg_writer *w, uint32_t i, const char *msg, int n)
{
    strata_event ev;
    strata_event_init(&ev);
    ev.ingest_ts_ns = 1000 + i;
    ev.event_ts_ns = 1000 + i;
    ev.msg = (strata_str){msg, (uint32_t)n};
    assert_int_equal(seg_writer_add(w, &ev), 0);
}

/* Terms with the same rows (the words of one log template) share one
 * postings entry (format 4): both read back right, and the postings part
 * is no larger than with one of the words alone. */
static void test_postings_shared(void **state)
{
    (void)state;
    size_t plen[2];
    for (int pass = 0; pass < 2; pass++) {
        seg_writer *w = seg_writer_new(&(seg_writer_opts){.tenant = "t", .block_events = 64});
        assert_non_null(w);
        for (uint32_t i = 0; i < 300; i++) {
            char msg[64];
            int n = snprintf(msg, sizeof msg, "%s id%u",
                             i % 3  ? "other words"
                             : pass ? "alpha beta"
                                    : "alpha",
                             i);
            add_msg_event(w, i, msg, n);
        }
        uint8_t *buf;
        size_t len;
        char err[256];
        assert_int_equal(seg_writer_finish_mem(w, &buf, &len, err, sizeof err), 0);
        seg_writer_free(w);
        seg_reader *r = open_ok(buf, len, NULL);
        plen[pass] = seg_get_info(r)->parts.postings;
        static const char *const terms[] = {"msg:alpha", "msg:beta", "msg:other", "msg:words"};
        for (int k = 0; k < 4; k++) {
            if (!pass && k == 1)
                continue;
            roaring_bitmap_t *bm = seg_postings(r, terms[k], strlen(terms[k]));
            assert_non_null(bm);
            assert_int_equal(roaring_bitmap_get_cardinality(bm), k < 2 ? 100 : 200);
            for (uint32_t i = 0; i < 300; i++)
                assert_int_equal(roaring_bitmap_contains(bm, i), k < 2 ? i % 3 == 0 : i % 3 != 0);
            roaring_bitmap_free(bm);
        }
        seg_close(r);
        free(buf);
    }
    assert_int_equal(plen[1], plen[0]);
}

/* ---- Elias-Fano postings (version 5) --------------------------------------------- */

/* ef_put then ef_decode gives the rows back, in exactly ef_size bytes. */
static void ef_roundtrip(const uint32_t *rows, uint32_t n, uint64_t limit)
{
    strbuf b = {0};
    assert_int_equal(ef_put(&b, rows, n), 0);
    assert_int_equal(b.len, ef_size(rows, n));
    uint32_t *got = calloc(n, sizeof *got);
    assert_non_null(got);
    assert_int_equal(ef_decode((const uint8_t *)b.buf, b.len, n, limit, got), 0);
    assert_memory_equal(got, rows, (size_t)n * sizeof *rows);
    free(got);
    sb_free(&b);
}

/* Lists of every shape round-trip (dense, sparse, one row, rows at the top
 * of the u32 range, random), and whatever ef_put would not have written is
 * refused: short or long by a byte, too many low bits, a zero last byte,
 * a count that is off by one, rows at or past the limit, rows that do not
 * increase. */
static void test_eliasfano_codec(void **state)
{
    (void)state;
    uint32_t one0 = 0, onemax = UINT32_MAX - 1,
             top[3] = {UINT32_MAX - 3, UINT32_MAX - 2, UINT32_MAX - 1};
    ef_roundtrip(&one0, 1, 1);
    ef_roundtrip(&onemax, 1, UINT32_MAX);
    ef_roundtrip(top, 3, UINT32_MAX);
    enum { N = 5000 };
    uint32_t *rows = malloc(N * sizeof *rows);
    assert_non_null(rows);
    for (uint32_t i = 0; i < N; i++)
        rows[i] = i; /* dense: no low bits */
    ef_roundtrip(rows, N, N);
    srand(5);
    for (int round = 0; round < 200; round++) {
        uint32_t n = 1 + (uint32_t)rand() % N,
                 gap = 1 + (uint32_t)rand() % (round < 100 ? 8 : 70000);
        uint32_t at = (uint32_t)rand() % 1000;
        for (uint32_t i = 0; i < n; i++) {
            rows[i] = at;
            at += 1 + (uint32_t)rand() % gap;
        }
        ef_roundtrip(rows, n, (uint64_t)rows[n - 1] + 1);
    }
    /* malformed: start from a good list of 40 rows spread over 4000 (L = 6) */
    uint32_t n = 40, *got = calloc(N, sizeof *got);
    assert_non_null(got);
    for (uint32_t i = 0; i < n; i++)
        rows[i] = i < 2 ? i : i * 100 + (i % 7);
    strbuf b = {0};
    assert_int_equal(ef_put(&b, rows, n), 0);
    uint8_t *p = (uint8_t *)b.buf;
    assert_int_equal(ef_decode(p, b.len, n, 4000, got), 0);
    assert_int_equal(ef_decode(p, b.len - 1, n, 4000, got), -1); /* short */
    assert_int_equal(sb_append(&b, "", 1), 0);                   /* a zero byte more */
    p = (uint8_t *)b.buf;
    assert_int_equal(ef_decode(p, b.len, n, 4000, got), -1);
    b.len--;
    assert_int_equal(ef_decode(p, b.len, n + 1, 4000, got), -1); /* count off */
    assert_int_equal(ef_decode(p, b.len, n - 1, 4000, got), -1);
    assert_int_equal(ef_decode(p, b.len, 0, 4000, got), -1);
    assert_int_equal(ef_decode(p, b.len, n, rows[n - 1], got), -1); /* past the limit */
    uint8_t l = p[0];
    p[0] = EF_MAX_LOW_BITS + 1;
    assert_int_equal(ef_decode(p, b.len, n, 4000, got), -1);
    p[0] = l;
    /* rows 0 and 1 share a high part: with row 0's low bits 1 it equals
     * row 1, with all ones it is above it; both are refused */
    assert_true(l >= 2 && rows[0] >> l == rows[1] >> l);
    p[1] |= 1;
    assert_int_equal(ef_decode(p, b.len, n, 4000, got), -1);
    for (unsigned k = 0; k < l; k++)
        p[1 + k / 8] |= (uint8_t)(1u << (k % 8));
    assert_int_equal(ef_decode(p, b.len, n, 4000, got), -1);
    sb_free(&b);
    free(got);
    free(rows);
}

/* A segment of 3000 events where one term occurs in the rows keep() picks
 * and every other term once: its entry in SEC_POSTINGS is the only one, so
 * its tag and bytes can be checked whole. Each row is a template of its own
 * (a word of letters spelling i), so the term keeps its rows. */
static void check_postings_tag(int (*keep_row)(uint32_t), uint8_t want_tag)
{
    seg_writer *w = seg_writer_new(&(seg_writer_opts){.tenant = "t", .block_events = 512});
    assert_non_null(w);
    uint32_t rows[3000], n = 0;
    for (uint32_t i = 0; i < 3000; i++) {
        char msg[64];
        int len = snprintf(msg, sizeof msg, "%s%c%c%c", keep_row(i) ? "alpha " : "", 'a' + i % 26,
                           'a' + i / 26 % 26, 'a' + i / 676);
        add_msg_event(w, i, msg, len);
        if (keep_row(i))
            rows[n++] = i;
    }
    assert_true(n > SEG_INLINE_POSTINGS);
    uint8_t *buf;
    size_t len, plen;
    char err[256];
    assert_int_equal(seg_writer_finish_mem(w, &buf, &len, err, sizeof err), 0);
    seg_writer_free(w);
    size_t at = section_of(buf, len, SEC_POSTINGS, &plen);
    assert_true(plen > 1);
    assert_int_equal(buf[at], want_tag);
    if (want_tag == SEG_POSTINGS_EF)
        assert_int_equal(plen, 1 + ef_size(rows, n));
    seg_reader *r = open_ok(buf, len, NULL);
    roaring_bitmap_t *bm = seg_postings(r, "msg:alpha", 9);
    assert_non_null(bm);
    roaring_bitmap_t *want = roaring_bitmap_of_ptr(n, rows);
    assert_true(roaring_bitmap_equals(bm, want));
    roaring_bitmap_free(want);
    roaring_bitmap_free(bm);
    seg_close(r);
    free(buf);
}
static int every_third(uint32_t i)
{
    return i % 3 == 0;
}
static int every_row(uint32_t i)
{
    (void)i;
    return 1;
}
static int head_and_last(uint32_t i)
{
    return i < 16 || i == 2999;
}

/* Each of the three postings encodings is chosen where it is the smallest:
 * Elias-Fano for rows spread over the segment (a third of them: 439 bytes
 * against 1000 as varints and 2000 as a roaring array), roaring for a run
 * of every row, varints for a short list with one far row. */
static void test_postings_encoding_choice(void **state)
{
    (void)state;
    check_postings_tag(every_third, SEG_POSTINGS_EF);
    check_postings_tag(every_row, SEG_POSTINGS_ROARING);
    check_postings_tag(head_and_last, SEG_POSTINGS_DELTA);
}

/* A segment of another format version is refused with both versions
 * named, and one whose header and trailer disagree on it as corrupt. */
static void test_refuses_other_versions(void **state)
{
    (void)state;
    tev e;
    test_rnd_seed(9);
    make_event(&e, 10);
    size_t len;
    uint8_t *buf = build(&e, 1, 0, NULL, 0, &len);
    uint8_t *tr = buf + len - SEG_TRAILER_BYTES;
    char err[256], want[128];
    for (int k = 0; k < 2; k++) {
        uint16_t v = k == 0 ? SEG_VERSION - 1 : SEG_VERSION + 1;
        store_u16(buf + 8, v);
        store_u16(tr + SEG_TR_VERSION, v);
        store_u32(tr + SEG_TR_CRC, crc32c(0, tr, SEG_TR_CRC));
        assert_null(seg_open_mem(buf, len, NULL, err, sizeof err));
        snprintf(want, sizeof want, "format version %u; this build reads only version %d", v,
                 SEG_VERSION);
        if (!strstr(err, want))
            fail_msg("got '%s', want '%s'", err, want);
    }
    store_u16(buf + 8, SEG_VERSION);
    assert_null(seg_open_mem(buf, len, NULL, err, sizeof err));
    assert_non_null(strstr(err, "header says format version"));
    store_u16(tr + SEG_TR_VERSION, SEG_VERSION);
    store_u32(tr + SEG_TR_CRC, crc32c(0, tr, SEG_TR_CRC));
    seg_close(open_ok(buf, len, NULL));
    free(buf);
    free_event(&e);
}

/* The terms of r's rows, gathered by brute force, are r's terms, with the
 * same rows. */
static void check_indexes_rows(seg_reader *r, const char *what)
{
    brute b = {0};
    for (uint32_t i = 0; i < seg_get_info(r)->events; i++) {
        strata_event ev;
        assert_int_equal(seg_row(r, i, &ev), 0);
        b.row = i;
        seg_event_terms(&ev, brute_add, &b);
    }
    assert_int_equal(seg_get_info(r)->terms, b.n);
    for (size_t i = 0; i < b.n; i++) {
        roaring_bitmap_t *got = seg_postings(r, b.terms[i].t, b.terms[i].n);
        assert_non_null(got);
        if (!roaring_bitmap_equals(got, b.terms[i].rows))
            fail_msg("%s: postings differ for %s", what, b.terms[i].t);
        roaring_bitmap_free(got);
        /* the filters never rule out a block or segment holding the term */
        if (!seg_may_contain(r, b.terms[i].t, b.terms[i].n))
            fail_msg("%s: the segment filter rules out %s", what, b.terms[i].t);
        roaring_uint32_iterator_t *it = roaring_create_iterator(b.terms[i].rows);
        for (; it->has_value; roaring_advance_uint32_iterator(it))
            if (!seg_block_may_contain(r, it->current_value / seg_get_info(r)->block_events,
                                       b.terms[i].t, b.terms[i].n))
                fail_msg("%s: block %u's filter rules out %s", what,
                         it->current_value / seg_get_info(r)->block_events, b.terms[i].t);
        roaring_free_uint32_iterator(it);
    }
    free_brute(&b);
}

/* The segment kept in tests/data (160 rows in 20 blocks of 8: fuse
 * filters, common terms in its block filter, hex and terms columns,
 * messages as variables in streams by kind, hosts coded by service,
 * levels coded by template) is read as its bytes were written: indexed as
 * its rows say, passing its own filters (check_indexes_rows). Merged alone,
 * it is still so. A change to the writer that would make the committed
 * bytes unreadable fails here. */
static void test_fixture_indexes_its_rows(void **state)
{
    (void)state;
    const char *src = getenv("STRATA_SOURCE_DIR");
    char path[4096], err[256];
    snprintf(path, sizeof path, "%s/tests/data/segments/fuse_160.sseg", src ? src : "..");
    seg_reader *r = seg_open(path, NULL, err, sizeof err);
    if (!r)
        fail_msg("%s: %s", path, err);
    assert_int_equal(seg_get_info(r)->version, SEG_VERSION);
    assert_int_equal(seg_get_info(r)->events, 160);
    check_indexes_rows(r, "fixture");
    seg_writer *w = seg_writer_new(&(seg_writer_opts){.tenant = "t", .block_events = 32});
    assert_non_null(w);
    if (ref_merge(&r, 1, w, err, sizeof err) != 0)
        fail_msg("merge: %s", err);
    uint8_t *buf;
    size_t len;
    assert_int_equal(seg_writer_finish_mem(w, &buf, &len, err, sizeof err), 0);
    seg_writer_free(w);
    seg_reader *m = open_ok(buf, len, NULL);
    assert_int_equal(seg_get_info(m)->terms, seg_get_info(r)->terms);
    check_indexes_rows(m, "fixture merged");
    seg_close(m);
    free(buf);
    seg_close(r);
}

/* ---- the streaming merge ----------------------------------------------------------------- */

/* Files in dir (the streaming merge must leave only its output). */
static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* seg_merge_file gives the bytes ref_merge + finish give, and the same
 * dictionary samples; it leaves nothing but its output. */
static void check_merge_file(seg_reader **rs, size_t k, uint32_t block, const void *dict,
                             size_t dlen, const char *what)
{
    seg_writer_opts o = {.tenant = "acme",
                         .block_events = block,
                         .dict = dict,
                         .dict_len = dlen,
                         .filter_part_keys = g_part_keys};
    seg_writer *w = seg_writer_new(&o);
    char err[256];
    if (ref_merge(rs, k, w, err, sizeof err) != 0)
        fail_msg("%s: ref_merge: %s", what, err);
    uint8_t *wb, *mb;
    size_t *ws, *ms;
    unsigned wn = seg_writer_samples(w, 50, &wb, &ws);
    unsigned mn = seg_merge_samples(rs, k, 50, &mb, &ms);
    assert_int_equal(wn, mn);
    size_t total = 0;
    for (unsigned i = 0; i < wn; i++) {
        assert_int_equal(ws[i], ms[i]);
        total += ws[i];
    }
    if (total)
        assert_memory_equal(wb, mb, total);
    free(wb);
    free(ws);
    free(mb);
    free(ms);
    uint8_t *want;
    size_t wlen;
    assert_int_equal(seg_writer_finish_mem(w, &want, &wlen, err, sizeof err), 0);
    seg_writer_free(w);
    char *dir = tmpdir_new();
    char path[512];
    snprintf(path, sizeof path, "%s/merged.sseg", dir);
    if (seg_merge_file(rs, k, &o, path, err, sizeof err) != 0)
        fail_msg("%s: %s", what, err);
    size_t glen;
    uint8_t *got = slurp(path, &glen);
    size_t at = 0;
    while (at < wlen && at < glen && want[at] == got[at])
        at++;
    if (wlen != glen || at != wlen)
        fail_msg("%s: streamed merge differs at byte %zu (%zu vs %zu bytes)", what, at, glen, wlen);
    assert_int_equal(count_files(dir), 1);
    free(want);
    free(got);
    rm_rf(dir);
    free(dir);
}

/* Segments of evs[cut[k] .. cut[k + 1]) for k < nparts, merged in memory
 * and streamed, give the bytes of uni, the segment of all of them; the
 * parts' readers are checked with check(r) first when it is given. */
static void check_parts_merge_at(tev *evs, const size_t *cut, int nparts, const uint8_t *uni,
                                 size_t ulen, void (*check)(seg_reader *r), const char *what,
                                 uint32_t block);

static void check_parts_merge(tev *evs, const size_t *cut, int nparts, const uint8_t *uni,
                              size_t ulen, void (*check)(seg_reader *r), const char *what)
{
    check_parts_merge_at(evs, cut, nparts, uni, ulen, check, what, 128);
}

/* check_parts_merge with blocks of `block` rows (uni too). */
static void check_parts_merge_at(tev *evs, const size_t *cut, int nparts, const uint8_t *uni,
                                 size_t ulen, void (*check)(seg_reader *r), const char *what,
                                 uint32_t block)
{
    uint8_t *parts[8];
    size_t plen[8];
    seg_reader *rs[8];
    assert_true(nparts <= 8);
    for (int k = 0; k < nparts; k++) {
        parts[k] = build(evs + cut[k], cut[k + 1] - cut[k], block, NULL, 0, &plen[k]);
        rs[k] = open_ok(parts[k], plen[k], NULL);
        if (check)
            check(rs[k]);
    }
    seg_writer_opts o = {.tenant = "acme", .block_events = block, .filter_part_keys = g_part_keys};
    seg_writer *w = seg_writer_new(&o);
    char err[256];
    assert_int_equal(ref_merge(rs, (size_t)nparts, w, err, sizeof err), 0);
    uint8_t *merged;
    size_t mlen;
    assert_int_equal(seg_writer_finish_mem(w, &merged, &mlen, err, sizeof err), 0);
    seg_writer_free(w);
    if (mlen != ulen || memcmp(merged, uni, ulen) != 0)
        fail_msg("%s: merged in memory differs from the union", what);
    check_merge_file(rs, (size_t)nparts, block, NULL, 0, what);
    for (int k = 0; k < nparts; k++) {
        seg_close(rs[k]);
        free(parts[k]);
    }
    free(merged);
}

/* The dictionary sort (8-byte words at a time) against memcmp order:
 * strings with NUL and 0xff bytes, ending inside and at the end of a word,
 * prefixes of each other, long shared prefixes, and the empty string. */
static void test_sort_strtab_order(void **state)
{
    (void)state;
    strtab t = {0};
    static const char alpha[] = {0, 'a', 'b', (char)0xff};
    uint32_t seed = 12345;
    char buf[64];
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t pre = (seed >> 8) % 3 == 0 ? 14 : 0; /* "meta.trace_id:" */
        memcpy(buf, "meta.trace_id:", pre);
        size_t len = pre + (seed >> 12) % 27;
        for (size_t j = pre; j < len; j++) {
            seed = seed * 1103515245u + 12345u;
            buf[j] = alpha[(seed >> 16) % 4];
        }
        assert_true(strtab_intern(&t, buf, len) >= 0);
    }
    uint32_t *rank = malloc(t.n * sizeof *rank);
    sref *r = seg_sort_strtab(&t, rank);
    assert_non_null(r);
    for (size_t i = 0; i < t.n; i++) {
        assert_int_equal(rank[r[i].id], i);
        assert_int_equal(r[i].len, strtab_len(&t, r[i].id));
        if (i == 0)
            continue;
        const sref *x = &r[i - 1], *y = &r[i];
        size_t n = x->len < y->len ? x->len : y->len;
        int c = n ? memcmp(x->s, y->s, n) : 0;
        assert_true(c < 0 || (c == 0 && x->len < y->len));
    }
    free(r);
    free(rank);
    strtab_free(&t);
}

/* Binary fuse filters (format 16): every key of a filter passes it, for
 * sets of 0 to 200,000 keys, in one part or split in eight; keys not in it
 * pass at about 2^-w; a filter's size is about 1.125 w bits a key; the
 * same keys in another order, or some twice, give the same bytes; and a
 * filter whose header or parts do not fit is refused with a reason. */
static void test_fuse_filters(void **state)
{
    (void)state;
    const size_t sizes[] = {0, 1, 2, 3, 10, 100, 1000, 200000};
    uint64_t x = 0x2545f4914f6cdd1dull;
    seg_fuse f = {0};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        size_t n = sizes[si];
        uint64_t *keys = malloc((n + 1) * 2 * sizeof *keys),
                 *tmp = malloc((n + 1) * 2 * sizeof *tmp);
        assert_true(keys && tmp);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            keys[i] = x;
        }
        for (unsigned w = 6; w <= 8; w++) {
            strbuf a = {0}, b = {0};
            uint64_t *copy = malloc((n + 1) * 2 * sizeof *copy);
            assert_non_null(copy);
            memcpy(copy, keys, n * sizeof *keys);
            assert_int_equal(
                seg_fuse_put(&f, copy, tmp, n, w, SEG_FUSE_ARITY, SEG_FUSE_PART_KEYS, &a), 0);
            /* reversed, with every third key twice: the same bytes */
            size_t m = 0;
            for (size_t i = n; i-- > 0;) {
                copy[m++] = keys[i];
                if (i % 3 == 0)
                    copy[m++] = keys[i];
            }
            assert_int_equal(
                seg_fuse_put(&f, copy, tmp, m, w, SEG_FUSE_ARITY, SEG_FUSE_PART_KEYS, &b), 0);
            assert_int_equal(a.len, b.len);
            assert_memory_equal(a.buf, b.buf, a.len);
            free(copy);
            seg_fuse_view v;
            const char *why = "";
            assert_int_equal(seg_fuse_parse(&v, (const uint8_t *)a.buf, a.len, &why),
                             (int64_t)a.len);
            assert_null(why);
            for (size_t i = 0; i < n; i++)
                if (!seg_fuse_has(&v, keys[i]))
                    fail_msg("%zu keys, %u bits: key %zu missed", n, w, i);
            size_t probes = 200000, pass = 0;
            for (size_t i = 0; i < probes; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                pass += (size_t)seg_fuse_has(&v, x);
            }
            if (n == 0)
                assert_int_equal(pass, 0);
            if (n >= 1000) { /* 2^-w, within 25% */
                double rate = (double)pass / (double)probes, want = 1.0 / (double)(1u << w);
                if (rate < want * 0.75 || rate > want * 1.25)
                    fail_msg("%zu keys, %u bits: %.5f pass, want %.5f", n, w, rate, want);
            }
            if (n == 200000) /* 1.125 w bits a key, plus the paper's margin at this size */
                assert_true(a.len * 8.0 < n * w * 1.2 && a.len * 8.0 > n * w * 1.1);
            sb_free(&a);
            sb_free(&b);
        }
        free(keys);
        free(tmp);
    }

    /* eight parts, added one by one: every key found in its part */
    size_t n = 5000;
    uint64_t *keys = malloc(n * sizeof *keys), *part = malloc(n * sizeof *part);
    assert_true(keys && part);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        keys[i] = x;
    }
    seg_fuse_begin(&f, 7, SEG_FUSE_ARITY, 3);
    for (uint32_t p = 0; p < 8; p++) {
        size_t in = 0;
        for (size_t i = 0; i < n; i++)
            if (seg_fuse_part(keys[i], 3) == p)
                part[in++] = keys[i];
        assert_true(in > 400 && in < 850);
        assert_int_equal(seg_fuse_add_part(&f, part, in), 0);
    }
    strbuf out = {0};
    assert_int_equal(seg_fuse_finish(&f, &out), 0);
    uint8_t *buf = (uint8_t *)out.buf;
    seg_fuse_view v;
    const char *why;
    assert_int_equal(seg_fuse_parse(&v, buf, out.len, &why), (int64_t)out.len);
    assert_int_equal(v.part_log, 3);
    for (size_t i = 0; i < n; i++)
        assert_true(seg_fuse_has(&v, keys[i]));

    /* refused: each header field out of range, cut parts, a wrong offset
     * (the filter's 3 header bytes: w, arity, part_log; then per part 21:
     * u64 seed, u8 seg_log at +8, u32 seg_count at +9, u64 offset at +13) */
    struct {
        size_t at;
        uint8_t to;
        const char *why;
    } bad[] = {
        {0, 0, "width"},
        {0, 9, "width"},
        {1, 5, "arity"},
        {2, 13, "parts"},
        {2, 12, "headers"},
        {3 + 8, 19, "segment length"},
        {3 + 21 + 13, 1, "offset"},
        {3 + 9 + 3, 1, "past the section"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint8_t keep = buf[bad[i].at];
        buf[bad[i].at] = bad[i].to;
        assert_int_equal(seg_fuse_parse(&v, buf, out.len, &why), -1);
        if (!strstr(why, bad[i].why))
            fail_msg("byte %zu = %u: \"%s\", want \"%s\"", bad[i].at, bad[i].to, why, bad[i].why);
        buf[bad[i].at] = keep;
    }
    assert_int_equal(seg_fuse_parse(&v, buf, out.len - 1, &why), -1);
    assert_non_null(strstr(why, "past the section"));
    assert_int_equal(seg_fuse_parse(&v, buf, 2, &why), -1);
    assert_non_null(strstr(why, "cut"));
    /* a part left out is the caller's bug, and refused */
    seg_fuse_begin(&f, 7, SEG_FUSE_ARITY, 1);
    assert_int_equal(seg_fuse_add_part(&f, keys, 10), 0);
    assert_int_equal(seg_fuse_finish(&f, &out), -1);
    sb_free(&out);
    free(keys);
    free(part);
    seg_fuse_free(&f);
}

/* seg_event_terms callback: keep the first term (NUL-terminated) in ud. */
static void first_term(void *ud, const char *t, size_t n)
{
    char *out = ud;
    if (!*out && n <= SEG_MAX_TERM) {
        memcpy(out, t, n);
        out[n] = 0;
    }
}

/* A writer reset between segments (as the indexer and the benchmark reuse
 * theirs) gives each segment the same bytes as a fresh writer: a big one
 * after a small one, a small one after a big one (the kept arrays then hold
 * the bigger segment's leftovers), another tenant and block size, and a
 * segment built into the writer's own buffer (finish_view). */
static void test_reset_writer_same_bytes(void **state)
{
    (void)state;
    const size_t sizes[] = {300, 1200, 7, 0, 1200};
    const uint32_t blocks[] = {64, 100, 64, 16, 1024};
    const char *tenants[] = {"acme", "globex", "acme", "", "initech"};
    seg_writer *w = seg_writer_new(&(seg_writer_opts){.tenant = "x", .block_events = 8});
    assert_non_null(w);
    /* the first round starts from a writer that already held rows */
    tev *pre = corpus_make(99, 50, 1000, NULL);
    for (size_t i = 0; i < 50; i++)
        assert_int_equal(seg_writer_add(w, &pre[i].ev), 0);
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        tev *evs = corpus_make(500 + k, sizes[k], 5000 + (int64_t)k, NULL);
        seg_writer_opts o = {.tenant = tenants[k], .block_events = blocks[k]};
        seg_writer *fresh = seg_writer_new(&o);
        assert_non_null(fresh);
        assert_int_equal(seg_writer_reset(w, &o), 0);
        assert_int_equal(seg_writer_count(w), 0);
        assert_int_equal(seg_writer_bytes(w), 0);
        for (size_t i = 0; i < sizes[k]; i++) {
            assert_int_equal(seg_writer_add(fresh, &evs[i].ev), 0);
            assert_int_equal(seg_writer_add(w, &evs[i].ev), 0);
        }
        char err[256];
        uint8_t *want;
        size_t wlen, glen;
        const uint8_t *got;
        assert_int_equal(seg_writer_finish_mem(fresh, &want, &wlen, err, sizeof err), 0);
        if (k % 2) { /* into the writer's buffer, then a copy the caller owns */
            assert_int_equal(seg_writer_finish_view(w, &got, &glen, err, sizeof err), 0);
            assert_int_equal(glen, wlen);
            assert_memory_equal(got, want, wlen);
        } else {
            uint8_t *mine;
            assert_int_equal(seg_writer_finish_mem(w, &mine, &glen, err, sizeof err), 0);
            assert_int_equal(glen, wlen);
            assert_memory_equal(mine, want, wlen);
            free(mine);
        }
        /* the writer still answers for its rows until the next reset,
         * and forgets their terms on it (the indexer's head is searched
         * through them) */
        assert_int_equal(seg_writer_count(w), sizes[k]);
        if (sizes[k]) {
            char term[SEG_MAX_TERM + 1] = "";
            seg_event_terms(&evs[0].ev, first_term, term);
            assert_true(seg_writer_term_id(w, term, strlen(term)) >= 0);
            assert_int_equal(seg_writer_reset(w, &o), 0);
            assert_int_equal(seg_writer_term_id(w, term, strlen(term)), -1);
        }
        seg_writer_free(fresh);
        free(want);
        corpus_free(evs, NULL, sizes[k]);
    }
    corpus_free(pre, NULL, 50);
    seg_writer_free(w);
}

static void test_merge_file_streams(void **state)
{
    (void)state;
    char err[256];
    /* contiguous parts (an L0 run: each input after the previous one) and
     * interleaved ones (overlapping ingest times: rows renumbered, postings
     * re-sorted), with an empty input among them */
    size_t n = 3000;
    tev **sorted;
    tev *evs = corpus_make(11, n, 0, &sorted);
    for (int interleave = 0; interleave < 2; interleave++) {
        seg_reader *rs[4];
        uint8_t *parts[4];
        size_t plen[4];
        for (int k = 0; k < 4; k++) {
            seg_writer_opts o = {.tenant = "acme", .block_events = 100};
            seg_writer *w = seg_writer_new(&o);
            for (size_t i = 0; i < n && k < 3; i++)
                if (interleave ? (int)(i % 3) == k : i * 3 / n == (size_t)k)
                    assert_int_equal(seg_writer_add(w, interleave ? &evs[i].ev : &sorted[i]->ev),
                                     0);
            assert_int_equal(seg_writer_finish_mem(w, &parts[k], &plen[k], err, sizeof err), 0);
            seg_writer_free(w);
            rs[k] = open_ok(parts[k], plen[k], NULL);
        }
        check_merge_file(rs, 4, 128, NULL, 0, interleave ? "interleaved" : "contiguous");
        if (!interleave) { /* each input's rows after the previous one's */
            const seg_info *a = seg_get_info(rs[0]), *b = seg_get_info(rs[1]);
            assert_true(a->max_ingest_ns <= b->min_ingest_ns);
        }
        check_merge_file(rs + 1, 1, 64, NULL, 0, "one input");
        check_merge_file(rs + 3, 1, 64, NULL, 0, "an empty input alone");
        /* with a trained dictionary for the output */
        seg_writer *w = seg_writer_new(NULL);
        assert_int_equal(ref_merge(rs, 4, w, err, sizeof err), 0);
        uint8_t *samples;
        size_t *sizes;
        unsigned ns = seg_writer_samples(w, 2000, &samples, &sizes);
        uint8_t dict[16384];
        size_t dlen = seg_dict_train(samples, sizes, ns, dict, sizeof dict);
        assert_true(dlen > 0);
        check_merge_file(rs, 4, 256, dict, dlen, "with a dictionary");
        free(samples);
        free(sizes);
        seg_writer_free(w);
        for (int k = 0; k < 4; k++) {
            seg_close(rs[k]);
            free(parts[k]);
        }
    }
    corpus_free(evs, sorted, n);

    /* meta columns: inputs with and without columns of their own (a small
     * one has none) merge into a segment that chooses them afresh */
    n = 2400;
    evs = events_of(make_col_event, 77, n, NULL);
    size_t cut[4] = {0, 10, 1300, n};
    seg_reader *rs[3];
    uint8_t *parts[3];
    size_t plen[3];
    for (int k = 0; k < 3; k++) {
        parts[k] = build(evs + cut[k], cut[k + 1] - cut[k], 64, NULL, 0, &plen[k]);
        rs[k] = open_ok(parts[k], plen[k], NULL);
    }
    assert_int_equal(seg_meta_column_count(rs[0]), 0);
    assert_int_equal(seg_meta_column_count(rs[1]), 4);
    check_merge_file(rs, 3, 64, NULL, 0, "meta columns");

    /* a corrupt input is an error naming it, and leaves no file */
    uint8_t *bad = malloc(plen[2]);
    assert_non_null(bad);
    memcpy(bad, parts[2], plen[2]);
    size_t blen, at = section_of(bad, plen[2], SEC_BLOCKS, &blen);
    seg_reader *rb[2] = {rs[1], NULL};
    bad[at + blen / 2] ^= 0x40; /* a row block: found when the merge reads it */
    rb[1] = open_ok(bad, plen[2], NULL);
    char *dir = tmpdir_new();
    char path[512];
    snprintf(path, sizeof path, "%s/merged.sseg", dir);
    assert_int_equal(seg_merge_file(rb, 2, NULL, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "block"));
    assert_int_equal(count_files(dir), 0);
    rm_rf(dir);
    free(dir);
    seg_close(rb[1]);
    free(bad);
    for (int k = 0; k < 3; k++) {
        seg_close(rs[k]);
        free(parts[k]);
    }
    corpus_free(evs, NULL, n);
}

/* ---- hex id columns (format 6) ------------------------------------------------------------- */

/* An event for the column terms test: trace_id (16 digits, from a pool so
 * that some repeat), span (8 digits, 50 values), x (9 digits: an odd count)
 * make HEX columns; "x:y" (a ':' in the key, its terms inside x's
 * namespace), dup (two in some rows), caps (some capitals) and w (one
 * value of another length) must not. user (one token each) and region
 * ("eu-west": a token of itself and its words) make dictionaries that hold
 * their terms, zone ("Eu West": not a token of itself) a plain one;
 * lowercase services and hosts (some empty) let their columns hold
 * theirs. */
static void make_hex_event(tev *t, int64_t base, uint32_t i)
{
    memset(t, 0, sizeof *t);
    strata_event_init(&t->ev);
    t->ev.ingest_ts_ns = base + (int64_t)test_rnd_below(300) * 1000;
    t->ev.event_ts_ns = t->ev.ingest_ts_ns;
    char v[64];
    int vn = snprintf(v, sizeof v, "svc-%u", test_rnd_below(3));
    t->ev.service = kstr(t, v, (size_t)vn);
    vn = snprintf(v, sizeof v, "h%u", test_rnd_below(20));
    t->ev.host = kstr(t, v, i % 50 ? (size_t)vn : 0); /* some empty */
    t->ev.msg = kstr(t, "hello", 5);
    uint32_t n = 0;
#define HEXKV(key, fmt, val)                                                                       \
    do {                                                                                           \
        int vn_ = snprintf(v, sizeof v, fmt, val);                                                 \
        t->kv[n++] =                                                                               \
            (strata_kv){kstr(t, key, strlen(key)), kstr(t, v, (size_t)vn_), STRATA_VALUE_STRING};  \
    } while (0)
    HEXKV("trace_id", "%016llx",
          (unsigned long long)(test_rnd_below(1500) * 0x9E3779B97F4A7C15ull));
    if (test_rnd_below(10) < 6)
        HEXKV("span", "%08x", test_rnd_below(50) * 2654435761u);
    if (test_rnd_below(2))
        HEXKV("x", "%09llx", (unsigned long long)test_rnd() & 0xfffffffffull);
    if (test_rnd_below(2)) /* 7 digits: "meta.x:y:" + 7 is as long as "meta.x:" + 9 */
        HEXKV("x:y", "%07x", (unsigned)test_rnd() & 0xfffffffu);
    if (test_rnd_below(4) == 0) /* its terms sort inside user's namespace */
        HEXKV("user:z", "q%u", test_rnd_below(5));
    if (test_rnd_below(2)) {
        HEXKV("dup", "%08x", (unsigned)test_rnd());
        if (i % 97 == 0)
            HEXKV("dup", "%08x", (unsigned)test_rnd());
    }
    if (test_rnd_below(2))
        HEXKV("caps", i % 89 ? "%08x" : "%08X", (unsigned)test_rnd() | 0xa0000000u);
    HEXKV("w", i == 77 ? "%010llx" : "%012llx", (unsigned long long)test_rnd() & 0xffffffffffull);
    if (test_rnd_below(10) < 6) /* one token each: a dictionary that holds its terms */
        HEXKV("user", "u%u", test_rnd_below(40));
    if (test_rnd_below(2)) /* "eu-west" holds eu, west and eu-west */
        HEXKV("region", "%s", test_rnd_below(2) ? "eu-west" : "us_east");
    if (test_rnd_below(2)) /* not a token of itself: a plain dictionary */
        HEXKV("zone", "%s", test_rnd_below(2) ? "Eu West" : "us east");
#undef HEXKV
    shuffle_meta(t, n);
}

/* The kind of key's meta column in r as stored (0: none). */
static uint32_t column_kind(const seg_reader *r, const char *key)
{
    strata_str k;
    uint32_t kind, present;
    for (uint32_t i = 0; seg_meta_column_info(r, i, &k, &kind, &present); i++)
        if (k.len == strlen(key) && !memcmp(k.ptr, key, k.len))
            return kind;
    return 0;
}

/* Whether segment r holds key as a HEX column. */
static int is_hex_column(const seg_reader *r, const char *key)
{
    return column_kind(r, key) == SEG_META_COL_HEX;
}

/* The trailer's flags (format 7: which name columns hold their terms). */
static unsigned trailer_flags(const uint8_t *buf, size_t len)
{
    return load_u16(buf + len - SEG_TRAILER_BYTES + SEG_TR_FLAGS);
}

/* Terms, rows, prefixes, the term cursor and rows of r against brute force. */
static void check_column_segment(seg_reader *r, tev **sorted, size_t n)
{
    brute b = {0};
    for (size_t i = 0; i < n; i++) {
        b.row = (uint32_t)i;
        seg_event_terms(&sorted[i]->ev, brute_add, &b);
        strata_event got;
        assert_int_equal(seg_row(r, (uint32_t)i, &got), 0);
        assert_event_eq(&sorted[i]->ev, &got);
    }
    assert_int_equal(seg_get_info(r)->terms, b.n);
    for (size_t i = 0; i < b.n; i++) {
        roaring_bitmap_t *got = seg_postings(r, b.terms[i].t, b.terms[i].n);
        assert_non_null(got);
        if (!roaring_bitmap_equals(got, b.terms[i].rows))
            fail_msg("postings differ for %s", b.terms[i].t);
        assert_int_equal(seg_term_df(r, b.terms[i].t, b.terms[i].n),
                         roaring_bitmap_get_cardinality(b.terms[i].rows));
        roaring_bitmap_free(got);
    }
    const char *absent[] = {"meta.trace_id:0000000000000001", "meta.trace_id:00000000",
                            "meta.trace_id:ZZZZZZZZZZZZZZZZ", "meta.x:", "meta.span:zzzzzzzz"};
    for (size_t i = 0; i < sizeof absent / sizeof *absent; i++) {
        roaring_bitmap_t *got = seg_postings(r, absent[i], strlen(absent[i]));
        assert_non_null(got);
        assert_true(roaring_bitmap_is_empty(got));
        roaring_bitmap_free(got);
        assert_int_equal(seg_term_df(r, absent[i], strlen(absent[i])), 0);
    }
    char pfx[64];
    snprintf(pfx, sizeof pfx, "meta.trace_id:%.*s", 15, b.terms[b.n / 2].t + 14);
    const char *prefixes[] = {"",
                              "meta.user:",
                              "meta.user:z",
                              "meta.user:u_1",
                              "service:svc-1",
                              "host:h1",
                              "meta.",
                              "meta.x",
                              "meta.x:",
                              "meta.x:y",
                              "meta.x:y:",
                              "meta.x:a",
                              "meta.x:0",
                              "meta.trace_id:",
                              "meta.trace_id:a",
                              "meta.trace_id:9e",
                              "meta.span:",
                              "meta.w:",
                              "meta.trace_id:g",
                              "meta.trace_id:00000000000000000",
                              pfx};
    for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes; p++) {
        walk w = {&b, prefixes[p], strlen(prefixes[p]), 0, {0}, 0};
        assert_int_equal(seg_terms(r, w.prefix, w.plen, on_term, &w), 0);
        size_t want = 0;
        for (size_t i = 0; i < b.n; i++)
            want += b.terms[i].n >= w.plen && memcmp(b.terms[i].t, w.prefix, w.plen) == 0;
        assert_int_equal(w.seen, want);
    }
    /* the cursor (what merges read): every term once, in order, its rows */
    seg_tcur *c = seg_tcur_new(r);
    assert_non_null(c);
    walk w = {&b, "", 0, 0, {0}, 0};
    const char *t;
    size_t tl;
    uint32_t df;
    uint32_t *rows = malloc(n * sizeof *rows);
    assert_non_null(rows);
    while (seg_tcur_next(c, &t, &tl, &df) == 1) {
        on_term(&w, t, tl, df);
        assert_int_equal(seg_tcur_rows(c, rows), 0);
        roaring_bitmap_t *bm = roaring_bitmap_of_ptr(df, rows);
        size_t i = 0;
        while (i < b.n && !(b.terms[i].n == tl && !memcmp(b.terms[i].t, t, tl)))
            i++;
        assert_true(i < b.n && roaring_bitmap_equals(bm, b.terms[i].rows));
        roaring_bitmap_free(bm);
    }
    assert_int_equal(w.seen, b.n);
    seg_tcur_free(c);
    free(rows);
    free_brute(&b);
}

/* Make section id's checksum, the table's and the trailer's right again
 * after its bytes were changed. */
static void reseal(uint8_t *buf, size_t len, uint32_t id)
{
    uint8_t *tr = buf + len - SEG_TRAILER_BYTES;
    uint64_t toff = load_u64(tr + SEG_TR_TABLE_OFF);
    uint32_t nsec = load_u32(tr + SEG_TR_NSECTIONS);
    for (uint32_t i = 0; i < nsec; i++) {
        uint8_t *e = buf + toff + (size_t)i * SEG_TABLE_ENTRY_BYTES;
        if (load_u32(e) == id)
            store_u32(e + 4, crc32c(0, buf + load_u64(e + 8), load_u64(e + 16)));
    }
    store_u32(tr + SEG_TR_TABLE_CRC, crc32c(0, buf + toff, (size_t)nsec * SEG_TABLE_ENTRY_BYTES));
    store_u32(tr + SEG_TR_CRC, crc32c(0, tr, SEG_TR_CRC));
}

/* Offset, within a SEC_META_COLUMNS section, of the first HEX column's
 * values (0 when there is none): from format 9 an Elias-Fano sequence. */
static size_t hex_values_at(const uint8_t *p, size_t len)
{
    cursor c = cursor_make(p, len);
    uint64_t ncols = get_varint(&c);
    for (uint64_t i = 0; i < ncols && !c.bad; i++) {
        get_varint(&c); /* key */
        uint8_t kind = get_u8(&c);
        get_varint(&c); /* present */
        uint64_t blen = get_varint(&c);
        if (kind == SEG_META_COL_HEX) {
            get_u8(&c); /* digits */
            get_varint(&c);
            return c.bad ? 0 : (size_t)(c.p - p);
        }
        c.p += blen;
    }
    return 0;
}

/* Bit i of p, LSB-first. */
static unsigned bit_at(const uint8_t *p, uint64_t i)
{
    return p[i / 8] >> (i % 8) & 1;
}

/* In the Elias-Fano values at p (u8 L, bytes low, bytes high), swap the
 * low bits of the first two neighbours that share their high part and
 * differ: a sequence still well formed whose values are out of order, as a
 * hostile file would have it. 1 when done. */
static int swap_ef_neighbours(uint8_t *p)
{
    unsigned L = p[0];
    cursor c = cursor_make(p + 1, SIZE_MAX / 2);
    size_t lowlen, highlen;
    uint8_t *low = (uint8_t *)get_bytes(&c, SIZE_MAX, &lowlen);
    const uint8_t *high = get_bytes(&c, SIZE_MAX, &highlen);
    uint64_t prev = UINT64_MAX;
    for (uint64_t pos = 0, i = 0; pos < (uint64_t)highlen * 8; pos++) {
        if (!bit_at(high, pos))
            continue;
        if (prev != UINT64_MAX && pos == prev + 1) { /* values i - 1 and i: one high part */
            int differ = 0;
            for (unsigned k = 0; k < L; k++)
                differ |= bit_at(low, (i - 1) * L + k) != bit_at(low, i * L + k);
            if (differ) {
                for (unsigned k = 0; k < L; k++) {
                    uint64_t a = (i - 1) * L + k, b = i * L + k;
                    if (bit_at(low, a) != bit_at(low, b)) {
                        low[a / 8] ^= (uint8_t)(1u << (a % 8));
                        low[b / 8] ^= (uint8_t)(1u << (b % 8));
                    }
                }
                return 1;
            }
        }
        prev = pos;
        i++;
    }
    return 0;
}

/* A random value of `digits` hex digits. */
static seg_hex128 rand_hex(unsigned digits)
{
    seg_hex128 v = {test_rnd(), test_rnd()};
    unsigned bits = 4 * digits;
    if (bits < 64) {
        v.hi = 0;
        v.lo &= (1ull << bits) - 1;
    } else if (bits < 128)
        v.hi &= (1ull << (bits - 64)) - 1;
    return v;
}

static int cmp_hex128(const void *a, const void *b)
{
    return seg_hex_cmp(*(const seg_hex128 *)a, *(const seg_hex128 *)b);
}

/* HEX values as Elias-Fano sequences (format 9): sets of 0 to 1000 values
 * of 8 to 32 digits (odd counts, the smallest and largest value included)
 * decode to exactly their packed digits; a wrong L, a cut high part or a
 * value too many or too few is refused. */
static void test_hex_ef_codec(void **state)
{
    (void)state;
    static const unsigned DIGITS[] = {8, 9, 16, 17, 31, 32};
    static const size_t COUNTS[] = {0, 1, 2, 3, 100, 1000};
    test_rnd_seed(99);
    seg_hex128 *v = malloc(1000 * sizeof *v);
    uint8_t *want = malloc(1000 * 16), *got = malloc(1000 * 16);
    assert_non_null(v);
    assert_non_null(want);
    assert_non_null(got);
    for (size_t d = 0; d < sizeof DIGITS / sizeof *DIGITS; d++)
        for (size_t k = 0; k < sizeof COUNTS / sizeof *COUNTS; k++) {
            unsigned digits = DIGITS[d];
            size_t n = 0, vb = seg_hex_bytes(digits);
            while (n < COUNTS[k]) { /* distinct, ascending */
                v[n++] = rand_hex(digits);
                if (n == 1)
                    v[0] = (seg_hex128){0, 0};
                if (n == 2)
                    v[1] = seg_hex_parse("ffffffffffffffffffffffffffffffff", digits);
                qsort(v, n, sizeof *v, cmp_hex128);
                size_t u = 0;
                for (size_t i = 0; i < n; i++)
                    if (!u || seg_hex_cmp(v[u - 1], v[i]) != 0)
                        v[u++] = v[i];
                n = u;
            }
            for (size_t i = 0; i < n; i++)
                seg_hex_pack(v[i], digits, want + i * vb);
            strbuf b = {0};
            assert_int_equal(seg_hex_ef_put(&b, v, n, digits), 0);
            cursor c = cursor_make(b.buf, b.len);
            unsigned L = get_u8(&c);
            size_t lowlen, highlen;
            const uint8_t *low = get_bytes(&c, SIZE_MAX, &lowlen);
            const uint8_t *high = get_bytes(&c, SIZE_MAX, &highlen);
            assert_false(c.bad);
            assert_int_equal(cursor_left(&c), 0);
            assert_int_equal(seg_hex_ef_get(L, low, lowlen, high, highlen, n, digits, got), 0);
            if (n)
                assert_memory_equal(got, want, n * vb);
            /* malformed: another L, one value more or less, the high part cut */
            assert_int_equal(seg_hex_ef_get(L + 1, low, lowlen, high, highlen, n, digits, got), -1);
            assert_int_equal(seg_hex_ef_get(L, low, lowlen, high, highlen, n + 1, digits, got), -1);
            if (n) {
                assert_int_equal(seg_hex_ef_get(L, low, lowlen, high, highlen, n - 1, digits, got),
                                 -1);
                assert_int_equal(seg_hex_ef_get(L, low, lowlen, high, highlen - 1, n, digits, got),
                                 -1);
            }
            sb_free(&b);
        }
    free(v);
    free(want);
    free(got);
}

/* A part of the two-length test: its trace ids are one length, a hex column. */
static void expect_hex_trace_id(seg_reader *r)
{
    assert_true(is_hex_column(r, "trace_id"));
}

/* Keys whose every value is lowercase hex of one length become HEX
 * columns (their terms held by the column, not the term dictionary): rows
 * read back bit-exact, every term and prefix answers as brute force says,
 * the cursor merges both sources in order, and a merge of parts (in memory
 * and streamed) is the segment of their union, byte for byte. Other keys
 * stay as they were. */
static void test_column_terms(void **state)
{
    (void)state;
    const size_t n = 2000;
    tev **sorted;
    tev *evs = events_of(make_hex_event, 20261127, n, &sorted);
    size_t len;
    uint8_t *buf = build(evs, n, 128, NULL, 0, &len);
    seg_reader *r = open_ok(buf, len, NULL);
    assert_int_equal(seg_get_info(r)->version, SEG_VERSION);
    assert_true(is_hex_column(r, "trace_id"));
    assert_true(is_hex_column(r, "span"));
    assert_true(is_hex_column(r, "x"));
    const char *not_hex[] = {"x:y", "dup", "caps", "w"};
    for (size_t k = 0; k < sizeof not_hex / sizeof *not_hex; k++)
        assert_false(is_hex_column(r, not_hex[k]));
    assert_int_equal(column_kind(r, "user"), SEG_META_COL_TERMS);
    assert_int_equal(column_kind(r, "region"), SEG_META_COL_TERMS);
    assert_int_equal(column_kind(r, "zone"), SEG_META_COL_DICT);
    assert_int_equal(trailer_flags(buf, len), SEG_FLAG_SERVICE_TERMS | SEG_FLAG_HOST_TERMS);
    const seg_column *col;
    assert_int_equal(seg_meta_column(r, "trace_id", 8, &col), 0); /* read through rows */
    assert_int_equal(seg_meta_column(r, "user", 4, &col), 1);     /* a dictionary to aggregates */
    assert_int_equal(col->kind, SEG_META_COL_DICT);
    check_column_segment(r, sorted, n);
    /* three parts merged: the union's bytes, in memory and streamed */
    size_t cut[4] = {0, 600, 1100, n};
    check_parts_merge(evs, cut, 3, buf, len, NULL, "column terms");
    /* parts whose ids differ in length: the union makes no hex column, so
     * the merge writes their terms (read from the parts' columns) into the
     * term dictionary, still the union's bytes */
    for (size_t i = 1500; i < n; i++) {
        tev *t = &evs[i];
        for (uint32_t k = 0; k < t->ev.meta_count; k++)
            if (t->kv[k].key.len == 8 && !memcmp(t->kv[k].key.ptr, "trace_id", 8))
                t->kv[k].value = kstr(t, "0123456789abcdef0123", 20);
    }
    qsort(sorted, n, sizeof *sorted, cmp_tev);
    size_t ulen;
    uint8_t *uni = build(evs, n, 128, NULL, 0, &ulen);
    seg_reader *u = open_ok(uni, ulen, NULL);
    assert_false(is_hex_column(u, "trace_id"));
    check_column_segment(u, sorted, n);
    size_t halves[3] = {0, 1500, n};
    check_parts_merge(evs, halves, 2, uni, ulen, expect_hex_trace_id, "hex ids of two lengths");
    seg_close(u);
    free(uni);
    seg_close(r);
    /* values out of order (checksums made right again, as a hostile file
     * would) are refused when the column is first read */
    size_t clen, at = section_of(buf, len, SEC_META_COLUMNS, &clen);
    size_t vat = hex_values_at(buf + at, clen);
    assert_true(vat > 0);
    assert_true(swap_ef_neighbours(buf + at + vat));
    reseal(buf, len, SEC_META_COLUMNS);
    r = open_ok(buf, len, NULL);
    strata_event got;
    assert_int_equal(seg_row(r, 0, &got), -1);
    assert_non_null(strstr(seg_error(r), "out of order"));
    /* a lookup of a present value (0 is in the pool) fails the same way */
    assert_null(seg_postings(r, "meta.trace_id:0000000000000000", 30));
    seg_close(r);
    free(buf);
    corpus_free(evs, sorted, n);
}

/* ---- row templates (format 8) ----------------------------------------------------------- */

/* Messages of a few templates: numbers vary within one ("Received block
 * ..."), a word makes templates of its own ("... for user alice"), one
 * template's variable runs are terms of some of its rows only ("login
 * 7abc done" and "login 7xyz done"), and a quarter of the rows are each a
 * template of their own (letters only). The component follows the first
 * two templates and is random in the third. */
static void make_tpl_event(tev *t, int64_t base, uint32_t i)
{
    memset(t, 0, sizeof *t);
    strata_event_init(&t->ev);
    t->ev.ingest_ts_ns = base + (int64_t)test_rnd_below(1000) * 1000;
    t->ev.event_ts_ns = t->ev.ingest_ts_ns;
    t->ev.service = kstr(t, "svc", 3);
    t->ev.host = kstr(t, "h", 1);
    static const char *const USERS[] = {"alice", "bob", "carol", "dave"};
    char msg[128];
    const char *comp;
    int n;
    switch (i % 4) {
    case 0:
        n = snprintf(msg, sizeof msg, "Received block blk_-%u of size %u from /10.0.%u.%u",
                     (unsigned)test_rnd(), test_rnd_below(100000), test_rnd_below(256),
                     test_rnd_below(256));
        comp = "dfs.DataNode";
        break;
    case 1:
        n = snprintf(msg, sizeof msg, "login %s done", test_rnd_below(2) ? "7abc" : "7xyz");
        comp = "auth";
        break;
    case 2:
        n = snprintf(msg, sizeof msg, "Session %u closed for user %s", test_rnd_below(1000),
                     USERS[test_rnd_below(4)]);
        comp = test_rnd_below(2) ? "auth" : "sshd";
        break;
    default:
        n = snprintf(msg, sizeof msg, "unique %c%c%c%c", 'a' + test_rnd_below(26),
                     'a' + test_rnd_below(26), 'a' + test_rnd_below(26), 'a' + test_rnd_below(26));
        comp = "misc";
        break;
    }
    t->ev.msg = kstr(t, msg, (size_t)n);
    t->kv[0] =
        (strata_kv){kstr(t, "component", 9), kstr(t, comp, strlen(comp)), STRATA_VALUE_STRING};
    t->ev.meta_count = 1;
    t->ev.meta = t->kv;
}

/* The templates SEC_TEMPLATES stores (its leading varint). */
static uint64_t stored_templates(const uint8_t *buf, size_t len)
{
    size_t slen, at = section_of(buf, len, SEC_TEMPLATES, &slen);
    cursor c = cursor_make(buf + at, slen);
    uint64_t n = get_varint(&c);
    assert_false(c.bad);
    return n;
}

/* Which terms of make_tpl_event's corpus store whole templates, and that
 * every term still has exactly its rows. */
static void check_template_terms(seg_reader *r)
{
    static const char *const whole[] = {
        "msg:received", "msg:block", "msg:blk_", "msg:closed",
        "msg:alice",    "msg:login", "msg:done", "meta.component:dfs.datanode"};
    static const char *const rows[] = {"msg:7abc", "msg:7xyz", "meta.component:auth", "msg:unique",
                                       "meta.component:sshd"};
    for (size_t k = 0; k < sizeof whole / sizeof *whole; k++)
        if (seg_term_from_templates(r, whole[k], strlen(whole[k])) != 1 &&
            seg_term_df(r, whole[k], strlen(whole[k])) > SEG_INLINE_POSTINGS) /* else inline */
            fail_msg("%s should be stored as whole templates", whole[k]);
    for (size_t k = 0; k < sizeof rows / sizeof *rows; k++)
        if (seg_term_from_templates(r, rows[k], strlen(rows[k])) != 0)
            fail_msg("%s is not whole templates", rows[k]);
    check_indexes_rows(r, "templates");
}

/* Terms whose rows are whole templates store the templates (format 8);
 * terms that cover a template in part, or whose templates are single rows,
 * keep their rows; every term's postings equal a brute-force scan, also
 * after merges (which equal the union, byte for byte); a segment where no
 * term refers to templates stores none; broken templates are reported on
 * first use, and terms stored as rows still read. */
static uint8_t *replace_section(const uint8_t *buf, size_t len, uint32_t id, const uint8_t *body,
                                size_t blen, size_t *out_len);

static void test_template_postings(void **state)
{
    (void)state;
    const size_t n = 2000;
    tev *evs = events_of(make_tpl_event, 8, n, NULL);
    size_t len;
    uint8_t *buf = build(evs, n, 128, NULL, 0, &len);
    seg_reader *r = open_ok(buf, len, NULL);
    assert_int_equal(seg_get_info(r)->version, SEG_VERSION);
    check_template_terms(r);
    /* 3 templates + 4 of the users + the unique ones */
    assert_true(stored_templates(buf, len) > 7);
    seg_close(r);

    size_t cut[] = {0, 300, 1100, n};
    check_parts_merge(evs, cut, 3, buf, len, check_template_terms, "templates");

    /* broken: one template more than the ranks use (a template without
     * rows), checksums fixed as a hostile file would have them */
    uint8_t *bad = malloc(len);
    assert_non_null(bad);
    memcpy(bad, buf, len);
    size_t slen, at = section_of(bad, len, SEC_TEMPLATES, &slen);
    assert_true((bad[at] & 0x7f) != 0x7f); /* the varint's low digit: +1 */
    bad[at]++;
    reseal(bad, len, SEC_TEMPLATES);
    size_t llen, lat = section_of(bad, len, SEC_LEVEL, &llen), bad_len = len;
    if (bad[lat] == SEG_LEVELS_BY_TEMPLATE) { /* the levels need the templates: no open */
        char err[256];
        assert_null(seg_open_mem(bad, len, NULL, err, sizeof err));
        assert_non_null(strstr(err, "row templates"));
        /* the levels plain: the segment opens, and what needs no template
         * is served */
        strbuf plain = {0};
        put_u8(&plain, SEG_LEVELS_PLAIN);
        int64_t *lv = malloc(n * sizeof *lv);
        assert_non_null(lv);
        seg_reader *good = open_ok(buf, len, NULL);
        for (size_t i = 0; i < n; i++) {
            strata_event ev;
            assert_int_equal(seg_row(good, (uint32_t)i, &ev), 0);
            lv[i] = ev.level;
        }
        seg_close(good);
        intcol_encode(&plain, lv, n);
        free(lv);
        uint8_t *fixed =
            replace_section(bad, len, SEC_LEVEL, (const uint8_t *)plain.buf, plain.len, &bad_len);
        sb_free(&plain);
        free(bad);
        bad = fixed;
    }
    r = open_ok(bad, bad_len, NULL);
    assert_null(seg_postings(r, "msg:received", 12));
    assert_non_null(strstr(seg_error(r), "row templates"));
    roaring_bitmap_t *bm = seg_postings(r, "msg:7abc", 8);
    assert_non_null(bm);
    assert_true(roaring_bitmap_get_cardinality(bm) > SEG_INLINE_POSTINGS);
    roaring_bitmap_free(bm);
    seg_close(r);
    free(bad);
    free(buf);

    /* only single-row templates: stored for the messages (version 10),
     * but no term refers to them */
    tev *uniq = calloc(n / 4, sizeof *uniq); /* shallow copies: evs owns the strings */
    assert_non_null(uniq);
    size_t u = 0;
    size_t distinct = 0; /* random words may repeat */
    for (size_t i = 3; i < n; i += 4) {
        size_t j = 0;
        while (j < u && (uniq[j].ev.msg.len != evs[i].ev.msg.len ||
                         memcmp(uniq[j].ev.msg.ptr, evs[i].ev.msg.ptr, evs[i].ev.msg.len)))
            j++;
        distinct += j == u;
        uniq[u++] = evs[i];
    }
    buf = build(uniq, u, 128, NULL, 0, &len);
    free(uniq);
    assert_int_equal(stored_templates(buf, len), distinct);
    r = open_ok(buf, len, NULL);
    assert_int_equal(seg_term_from_templates(r, "msg:unique", 10), 0);
    check_indexes_rows(r, "no templates");
    seg_close(r);
    free(buf);
    corpus_free(evs, NULL, n);
}

/* ---- dictionary columns by template (format 11) ------------------------------------------ */

/* Where, in buf, the ranks coding byte of the dictionary column of `key`
 * is (0 when the key has no dictionary column). */
static size_t ranks_coding_at(const uint8_t *buf, size_t len, const char *key)
{
    seg_reader *r = open_ok(buf, len, NULL);
    uint64_t events = seg_get_info(r)->events;
    uint32_t rank = UINT32_MAX;
    for (uint32_t k = 0; k < seg_key_count(r); k++) {
        strata_str name = seg_key_name(r, k);
        if (name.len == strlen(key) && !memcmp(name.ptr, key, name.len))
            rank = k;
    }
    seg_close(r);
    size_t slen, at = section_of(buf, len, SEC_META_COLUMNS, &slen);
    cursor c = cursor_make(buf + at, slen);
    uint64_t n = get_varint(&c);
    int64_t *tmp = malloc((events ? events : 1) * sizeof *tmp);
    assert_non_null(tmp);
    size_t found = 0;
    for (uint64_t i = 0; i < n && !found; i++) {
        uint64_t k = get_varint(&c);
        unsigned kind = get_u8(&c);
        get_varint(&c);
        size_t blen;
        const uint8_t *body = get_bytes(&c, SIZE_MAX, &blen);
        assert_non_null(body);
        if (k != rank || (kind != SEG_META_COL_DICT && kind != SEG_META_COL_TERMS))
            continue;
        cursor b = cursor_make(body, blen);
        strata_str *vals = NULL;
        uint32_t nv = 0;
        char *arena = NULL;
        if (kind == SEG_META_COL_TERMS) /* terms held, dictionary, presence */
            get_varint(&b);
        if (kind == SEG_META_COL_TERMS)
            assert_int_equal(fcdict_decode_z(&b, SEG_MAX_DICT_ENTRIES, &vals, &nv, &arena), 0);
        assert_int_equal(intcol_decode(&b, tmp, events), 0);
        if (kind == SEG_META_COL_DICT) /* presence, dictionary */
            assert_int_equal(fcdict_decode_z(&b, SEG_MAX_DICT_ENTRIES, &vals, &nv, &arena), 0);
        free(vals);
        free(arena);
        found = (size_t)(b.p - buf);
    }
    free(tmp);
    return found;
}

/* A component that follows the message template is coded by template
 * (the first row of each template listed, and the rows where it changes),
 * a value drawn at random is not;
 * both read back, merge into the union's bytes, and a coding or a list
 * that does not add up is refused. */
static void test_dict_ranks_by_template(void **state)
{
    (void)state;
    const size_t n = 2000;
    tev *evs = events_of(make_tpl_event, 11, n, NULL);
    for (size_t i = 0; i < n; i++) {
        tev *t = &evs[i];
        char v[64];
        int vn;
        /* the component follows the template but in 1 of 40 rows */
        if (i % 4 >= 2) {
            vn = snprintf(v, sizeof v, "cache %s %u", i % 4 == 2 ? "hit" : "miss",
                          test_rnd_below(100000));
            t->ev.msg = kstr(t, v, (size_t)vn);
            const char *comp = i % 40 == 3 ? "sshd" : i % 4 == 2 ? "cache.hit" : "cache.miss";
            t->kv[0].value = kstr(t, comp, strlen(comp));
        }
        /* a second key, at random */
        vn = snprintf(v, sizeof v, "zone-%u", test_rnd_below(300));
        t->kv[1] = (strata_kv){kstr(t, "zone", 4), kstr(t, v, (size_t)vn), STRATA_VALUE_STRING};
        t->ev.meta_count = 2;
    }
    tev **sorted = segment_order(evs, n);
    size_t len;
    uint8_t *buf = build(evs, n, 128, NULL, 0, &len);
    size_t comp = ranks_coding_at(buf, len, "component");
    size_t zone = ranks_coding_at(buf, len, "zone");
    assert_true(comp > 0 && zone > 0);
    assert_int_equal(buf[comp], SEG_RANKS_BY_TEMPLATE);
    assert_int_equal(buf[zone], SEG_RANKS_PLAIN);
    seg_reader *r = open_ok(buf, len, NULL);
    for (uint32_t i = 0; i < n; i++) {
        strata_event got;
        assert_int_equal(seg_row(r, i, &got), 0);
        assert_event_eq(&sorted[i]->ev, &got);
    }
    const seg_column *col;
    assert_int_equal(seg_meta_column(r, "component", 9, &col), 1);
    assert_int_equal(col->present, n);
    seg_close(r);
    size_t cut[] = {0, 700, 1313, n};
    check_parts_merge(evs, cut, 3, buf, len, NULL, "dictionary ranks by template");

    /* an unknown coding */
    uint8_t *bad = malloc(len);
    assert_non_null(bad);
    memcpy(bad, buf, len);
    bad[comp] = 7;
    reseal(bad, len, SEC_META_COLUMNS);
    r = open_ok(bad, len, NULL);
    strata_event got;
    assert_int_equal(seg_row(r, 0, &got), -1);
    assert_non_null(strstr(seg_error(r), "unknown coding of ranks 7"));
    seg_close(r);
    /* no row listed: the first row of a template has nothing to repeat */
    memcpy(bad, buf, len);
    assert_true(bad[comp + 1] > 0 && bad[comp + 1] < 0x80); /* the count, one byte here */
    bad[comp + 1] = 0;
    reseal(bad, len, SEC_META_COLUMNS);
    r = open_ok(bad, len, NULL);
    assert_int_equal(seg_row(r, 0, &got), -1);
    assert_non_null(strstr(seg_error(r), "repeats a value its template has not had"));
    seg_close(r);
    free(bad);
    free(buf);

    corpus_free(evs, sorted, n);

    /* every message kept whole (each holds the placeholder byte), no term
     * of whole templates (numbers, random levels; the column holds its
     * terms): SEC_TEMPLATES is stored for the column alone */
    const size_t m = 400;
    evs = calloc(m, sizeof *evs);
    assert_non_null(evs);
    for (size_t i = 0; i < m; i++) {
        tev *t = &evs[i];
        strata_event_init(&t->ev);
        t->ev.ingest_ts_ns = t->ev.event_ts_ns = 1750000000000000000ll + (int64_t)i;
        t->ev.level = (uint8_t)test_rnd_below(7);
        t->ev.service = kstr(t, "svc", 3);
        t->ev.host = kstr(t, "h", 1);
        char v[64];
        unsigned x = test_rnd_below(1000000), y = test_rnd_below(1000000);
        int vn =
            i % 2 ? snprintf(v, sizeof v, "\x11 %u", x) : snprintf(v, sizeof v, "\x11 %u-%u", x, y);
        t->ev.msg = kstr(t, v, (size_t)vn);
        const char *cv = i % 2 ? "alpha" : "beta";
        t->kv[0] =
            (strata_kv){kstr(t, "component", 9), kstr(t, cv, strlen(cv)), STRATA_VALUE_STRING};
        t->ev.meta_count = 1;
        t->ev.meta = t->kv;
    }
    sorted = segment_order(evs, m);
    buf = build(evs, m, 128, NULL, 0, &len);
    comp = ranks_coding_at(buf, len, "component");
    assert_int_equal(buf[comp], SEG_RANKS_BY_TEMPLATE);
    assert_int_equal(stored_templates(buf, len), 2);
    r = open_ok(buf, len, NULL);
    for (uint32_t i = 0; i < m; i++) {
        if (seg_row(r, i, &got) != 0)
            fail_msg("row %u: %s", i, seg_error(r));
        assert_event_eq(&sorted[i]->ev, &got);
    }
    seg_close(r);
    size_t cut2[] = {0, 150, m};
    check_parts_merge(evs, cut2, 2, buf, len, NULL, "ranks by template, messages whole");
    free(buf);
    corpus_free(evs, sorted, m);
}

/* ---- messages as variables (formats 10 and 14) ------------------------------------------- */

/* Row i, in segment order: "Received block blk_<1000+i> of size <5000+i>"
 * mostly; every 10th has no digit, every 10th + 1 a byte 0x11 (kept
 * whole), every 10th + 2 is empty, every 10th + 3 is long (a key hashed in
 * more than one piece) with variables next to UTF-8 and punctuation. */
static void make_var_event(tev *t, int64_t base, uint32_t i)
{
    memset(t, 0, sizeof *t);
    strata_event_init(&t->ev);
    t->ev.ingest_ts_ns = t->ev.event_ts_ns = base + (int64_t)i * 1000;
    t->ev.service = kstr(t, "svc", 3);
    t->ev.host = kstr(t, "h", 1);
    char msg[1024];
    int n;
    switch (i % 10) {
    case 0: n = snprintf(msg, sizeof msg, "no digits at all, only words"); break;
    case 1: n = snprintf(msg, sizeof msg, "raw \x11 byte %u", i); break;
    case 2:
        n = 0;
        msg[0] = 0;
        break;
    case 3: {
        char words[301]; /* fixed text past one 256-byte piece of the key */
        for (int k = 0; k < 300; k++)
            words[k] = k % 6 == 5 ? ' ' : (char)('a' + k % 5);
        words[300] = 0;
        n = snprintf(msg, sizeof msg, "%0600u %s héllo=%uµs,[x%uy]-%u", i, words, i * 7, i, i * 3);
        break;
    }
    default:
        n = snprintf(msg, sizeof msg, "Received block blk_%u of size %u", 1000 + i, 5000 + i);
        break;
    }
    t->ev.msg = kstr(t, msg, (size_t)n);
}

/* Zstd frames in block 0's message frame of the last segment given to
 * message_frame (format 14: one per non-empty stream part). */
static unsigned message_zstd_frames;

/* Block 0's message frame of a segment without a dictionary, decompressed
 * (malloc'd, *n bytes); from format 14 several zstd frames back to back. */
static uint8_t *message_frame(const uint8_t *buf, size_t len, size_t *n)
{
    size_t blen, ilen;
    size_t blocks = section_of(buf, len, SEC_BLOCKS, &blen);
    size_t index = section_of(buf, len, SEC_BLOCK_INDEX, &ilen);
    const uint8_t *e = buf + index;
    const uint8_t *f = buf + blocks + load_u64(e + SEG_BE_OFFSET);
    uint32_t clen = load_u32(e + SEG_BE_CLEN);
    unsigned long long raw = 0;
    message_zstd_frames = 0;
    for (size_t at = 0; at < clen; message_zstd_frames++) {
        size_t fl = ZSTD_findFrameCompressedSize(f + at, clen - at);
        assert_false(ZSTD_isError(fl));
        unsigned long long one = ZSTD_getFrameContentSize(f + at, fl);
        assert_true(one != ZSTD_CONTENTSIZE_ERROR && one != ZSTD_CONTENTSIZE_UNKNOWN);
        raw += one;
        at += fl;
    }
    uint8_t *out = malloc(raw ? raw : 1);
    assert_non_null(out);
    assert_int_equal(ZSTD_decompress(out, raw, f, clen), raw);
    *n = raw;
    return out;
}

/* A copy of the segment with section id's bytes replaced by body (written
 * after the other sections; the table and trailer follow it with their
 * checksums fixed, as a hostile file would have them). */
static uint8_t *replace_section(const uint8_t *buf, size_t len, uint32_t id, const uint8_t *body,
                                size_t blen, size_t *outlen)
{
    const uint8_t *tr = buf + len - SEG_TRAILER_BYTES;
    uint64_t toff = load_u64(tr + SEG_TR_TABLE_OFF);
    uint32_t nsec = load_u32(tr + SEG_TR_NSECTIONS);
    size_t tlen = (size_t)nsec * SEG_TABLE_ENTRY_BYTES;
    *outlen = toff + blen + tlen + SEG_TRAILER_BYTES;
    uint8_t *out = malloc(*outlen);
    assert_non_null(out);
    memcpy(out, buf, toff);
    memcpy(out + toff, body, blen);
    uint8_t *table = out + toff + blen;
    memcpy(table, buf + toff, tlen);
    for (uint32_t i = 0; i < nsec; i++) {
        uint8_t *e = table + (size_t)i * SEG_TABLE_ENTRY_BYTES;
        if (load_u32(e) != id)
            continue;
        store_u32(e + 4, crc32c(0, body, blen));
        store_u64(e + 8, toff);
        store_u64(e + 16, blen);
    }
    uint8_t *ntr = table + tlen;
    memcpy(ntr, tr, SEG_TRAILER_BYTES);
    store_u64(ntr + SEG_TR_TABLE_OFF, toff + blen);
    store_u32(ntr + SEG_TR_TABLE_CRC, crc32c(0, table, tlen));
    store_u32(ntr + SEG_TR_CRC, crc32c(0, ntr, SEG_TR_CRC));
    return out;
}

/* The segment with block 0's message frame replaced by frame (one block,
 * no dictionary): SEC_BLOCKS and its index entry rewritten. */
static uint8_t *with_message_zframes(const uint8_t *buf, size_t len, const uint8_t *zf, size_t z,
                                     size_t *outlen);

static uint8_t *with_message_frame(const uint8_t *buf, size_t len, const uint8_t *frame,
                                   size_t flen, size_t *outlen)
{
    size_t cap = ZSTD_compressBound(flen);
    uint8_t *zf = malloc(cap);
    assert_non_null(zf);
    size_t z = ZSTD_compress(zf, cap, frame, flen, 3);
    assert_false(ZSTD_isError(z));
    uint8_t *out = with_message_zframes(buf, len, zf, z, outlen);
    free(zf);
    return out;
}

/* The same with block 0's message frame replaced by z compressed bytes
 * (zstd frames back to back, as the caller made them). */
static uint8_t *with_message_zframes(const uint8_t *buf, size_t len, const uint8_t *zf, size_t z,
                                     size_t *outlen)
{
    size_t blen, ilen;
    size_t blocks = section_of(buf, len, SEC_BLOCKS, &blen);
    size_t index = section_of(buf, len, SEC_BLOCK_INDEX, &ilen);
    assert_int_equal(ilen, SEG_BLOCK_ENTRY_BYTES); /* one block */
    uint8_t entry[SEG_BLOCK_ENTRY_BYTES];
    memcpy(entry, buf + index, sizeof entry);
    uint32_t clen = load_u32(entry + SEG_BE_CLEN), mclen = load_u32(entry + SEG_BE_META_CLEN);
    uint8_t *nb = malloc(z + mclen);
    assert_non_null(nb);
    memcpy(nb, zf, z);
    memcpy(nb + z, buf + blocks + clen, mclen);
    store_u32(entry + SEG_BE_CLEN, (uint32_t)z);
    store_u32(entry + SEG_BE_CRC, crc32c(0, nb, z));
    size_t l1;
    uint8_t *s1 = replace_section(buf, len, SEC_BLOCKS, nb, z + mclen, &l1);
    uint8_t *s2 = replace_section(s1, l1, SEC_BLOCK_INDEX, entry, sizeof entry, outlen);
    free(nb);
    free(s1);
    return s2;
}

/* The segment with SEC_TEMPLATES's texts frame replaced by one of raw
 * (the planes kept). */
static uint8_t *with_template_texts(const uint8_t *buf, size_t len, const uint8_t *raw, size_t rlen,
                                    size_t *outlen)
{
    size_t slen, at = section_of(buf, len, SEC_TEMPLATES, &slen);
    cursor c = cursor_make(buf + at, slen);
    uint64_t n = get_varint(&c);
    unsigned planes = get_u8(&c);
    assert_int_equal(planes, seg_tpl_planes((uint32_t)n));
    for (unsigned p = 0; p < planes; p++) {
        size_t got;
        assert_non_null(get_bytes(&c, SIZE_MAX, &got));
    }
    strbuf body = {0};
    sb_append(&body, buf + at, (size_t)(c.p - (buf + at)));
    size_t cap = ZSTD_compressBound(rlen);
    uint8_t *z = malloc(cap);
    assert_non_null(z);
    size_t zn = ZSTD_compress(z, cap, raw, rlen, 3);
    assert_false(ZSTD_isError(zn));
    put_bytes(&body, z, zn);
    uint8_t *out =
        replace_section(buf, len, SEC_TEMPLATES, (const uint8_t *)body.buf, body.len, outlen);
    free(z);
    sb_free(&body);
    return out;
}

/* The texts frame of SEC_TEMPLATES, decompressed (malloc'd, *n bytes). */
static uint8_t *template_texts(const uint8_t *buf, size_t len, size_t *n)
{
    *n = 0;
    size_t slen, at = section_of(buf, len, SEC_TEMPLATES, &slen);
    cursor c = cursor_make(buf + at, slen);
    uint64_t k = get_varint(&c);
    unsigned planes = get_u8(&c);
    for (unsigned p = 0; p <= planes; p++) { /* the planes, then the texts */
        size_t got;
        const uint8_t *z = get_bytes(&c, SIZE_MAX, &got);
        assert_non_null(z);
        if (p < planes)
            continue;
        unsigned long long raw = ZSTD_getFrameContentSize(z, got);
        uint8_t *out = malloc(raw ? raw : 1);
        assert_non_null(out);
        assert_int_equal(ZSTD_decompress(out, raw, z, got), raw);
        *n = raw;
        assert_true(k > 0);
        return out;
    }
    return NULL;
}

/* Opening buf, or else reading its row 0, fails with an error holding
 * `want`. */
static void expect_row_error(const uint8_t *buf, size_t len, const char *want)
{
    char err[256];
    seg_reader *r = seg_open_mem(buf, len, NULL, err, sizeof err);
    if (!r) { /* the templates are read at open when the levels follow them (format 16) */
        if (!strstr(err, want))
            fail_msg("open: \"%s\" does not say \"%s\"", err, want);
        return;
    }
    strata_event got;
    assert_int_equal(seg_row(r, 0, &got), -1);
    if (!strstr(seg_error(r), want))
        fail_msg("error \"%s\" does not say \"%s\"", seg_error(r), want);
    seg_close(r);
}

/* Every row of r reads back as sorted[i] (the events in segment order). */
static void expect_rows(seg_reader *r, tev **sorted, size_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        strata_event got;
        assert_int_equal(seg_row(r, i, &got), 0);
        assert_event_eq(&sorted[i]->ev, &got);
    }
}

static void test_messages_as_variables(void **state)
{
    (void)state;
    const size_t n = 400;
    tev **sorted;
    tev *evs = events_of(make_var_event, 10, n, &sorted);
    size_t len;
    /* blocks of 128 rows: read back, and merged from three parts the
     * same bytes as built from the union */
    uint8_t *buf = build(evs, n, 128, NULL, 0, &len);
    seg_reader *r = open_ok(buf, len, NULL);
    expect_rows(r, sorted, n);
    seg_close(r);
    size_t cut[] = {0, 77, 250, n};
    check_parts_merge(evs, cut, 3, buf, len, NULL, "messages as variables");
    free(buf);
    buf = build(evs, n, 1024, NULL, 0, &len); /* one block */
    r = open_ok(buf, len, NULL);
    expect_rows(r, sorted, n);
    seg_close(r);
    /* 4 templates (the received lines, the words, the empty, the long
     * ones), and the 0x11 messages' own one, which has no text: its rows
     * stay whole */
    assert_int_equal(stored_templates(buf, len), 5);

    /* in the block, a row's code is 0 and only its variables are stored,
     * except for the 0x11 rows (their length + 1, their text); then the
     * three stream lengths, a shapes flag per row of variables and the
     * streams (format 14): row 4's digits follow row 3's in the digits */
    size_t flen;
    uint8_t *f = message_frame(buf, len, &flen);
    assert_int_equal(message_zstd_frames, 2); /* the rest, the digits (no hex digits) */
    cursor c = cursor_make(f, flen);
    assert_int_equal(get_varint(&c), n);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(get_varint(&c), i % 10 == 1 ? sorted[i]->ev.msg.len + 1 : 0);
    assert_non_null(memmem(c.p, cursor_left(&c), "raw \x11 byte 1", 12));
    assert_null(memmem(f, flen, "Received", 8));
    assert_null(memmem(f, flen, "only words", 10));
    for (uint32_t i = 0; i < n; i++)
        if (i % 10 == 1)
            c.p += sorted[i]->ev.msg.len;
    uint64_t xl = get_varint(&c), dl = get_varint(&c), hl = get_varint(&c);
    assert_true(xl > 0 && dl > 0 && xl + dl + hl < cursor_left(&c));
    const uint8_t *shapes = c.p, *digits = f + flen - hl - dl;
    assert_non_null(memmem(digits, dl, "10045004", 8));
    assert_null(memmem(digits, dl, "x", 1)); /* "x13y" is text */
    assert_int_equal(hl, 0);
    /* rows 0, 2, 3 and 4 have their templates' first rows' shapes */
    for (int k = 0; k < 4; k++)
        assert_int_equal(shapes[k], SEG_SHAPES_DEFAULT);
    /* row 13's "héllo=91" has two digits where row 3's had "21": its own */
    assert_non_null(memchr(shapes, SEG_SHAPES_OWN, (size_t)(digits - xl - shapes)));
    size_t at4 = (size_t)(shapes + 3 - f);

    /* row 4 with its own shapes, the same as its template's: the same rows */
    size_t blen;
    uint8_t *own = malloc(flen + 2);
    assert_non_null(own);
    memcpy(own, f, at4);
    own[at4] = SEG_SHAPES_OWN;
    own[at4 + 1] = own[at4 + 2] = 4 << 2 | SEG_VAR_DEC;
    memcpy(own + at4 + 3, f + at4 + 1, flen - at4 - 1);
    uint8_t *bad = with_message_frame(buf, len, own, flen + 2, &blen);
    r = open_ok(bad, blen, NULL);
    expect_rows(r, sorted, n);
    seg_close(r);
    free(bad);
    /* broken: its second variable one digit short, so the digits do not add up */
    own[at4 + 2] = 3 << 2 | SEG_VAR_DEC;
    bad = with_message_frame(buf, len, own, flen + 2, &blen);
    expect_row_error(bad, blen, "variable streams do not add up");
    free(bad);
    /* an empty variable */
    own[at4 + 2] = 0 << 2 | SEG_VAR_DEC;
    bad = with_message_frame(buf, len, own, flen + 2, &blen);
    expect_row_error(bad, blen, "row 4: the shape of variable 1 is malformed");
    free(bad);
    free(own);
    /* an unknown flag */
    f[at4] = 2;
    bad = with_message_frame(buf, len, f, flen, &blen);
    expect_row_error(bad, blen, "row 4 has no shapes");
    free(bad);
    f[at4] = SEG_SHAPES_DEFAULT;
    /* the frame cut short: the streams are longer than what is left */
    bad = with_message_frame(buf, len, f, (size_t)(shapes - f) + 2, &blen);
    expect_row_error(bad, blen, "variable streams malformed");
    free(bad);
    /* a byte too many: the shapes no longer end where the streams start */
    uint8_t *more = malloc(flen + 1);
    assert_non_null(more);
    memcpy(more, f, flen);
    more[flen] = '7';
    bad = with_message_frame(buf, len, more, flen + 1, &blen);
    expect_row_error(bad, blen, "variable streams");
    free(bad);
    free(more);
    free(f);

    /* broken texts: a byte past the shapes, a first length past the bytes,
     * and a template without text that rows refer to */
    size_t tlen = 0;
    uint8_t *texts = template_texts(buf, len, &tlen);
    uint8_t *longer = malloc(tlen + 1);
    assert_non_null(longer);
    memcpy(longer, texts, tlen);
    longer[tlen] = '!';
    bad = with_template_texts(buf, len, longer, tlen + 1, &blen);
    expect_row_error(bad, blen, "bytes after the shapes");
    free(bad);
    memcpy(longer, texts, tlen);
    longer[0] = 0x7f;
    bad = with_template_texts(buf, len, longer, tlen, &blen);
    expect_row_error(bad, blen, "bytes of texts where the lengths say");
    free(bad);
    /* rank 0 (the received lines, the most rows) loses its text and its
     * two variables' shapes */
    cursor tc = cursor_make(texts, tlen);
    uint64_t lens[5], total = 0;
    for (int k = 0; k < 5; k++) {
        lens[k] = get_varint(&tc);
        total += lens[k] ? lens[k] - 1 : 0;
    }
    assert_true(lens[0] > 1);
    strbuf cut0 = {0};
    put_u8(&cut0, 0);
    for (int k = 1; k < 5; k++)
        put_varint(&cut0, lens[k]);
    sb_append(&cut0, tc.p + lens[0] - 1, total - (lens[0] - 1));
    assert_int_equal(tc.p[total], 4 << 2 | SEG_VAR_DEC);
    sb_append(&cut0, tc.p + total + 2, cursor_left(&tc) - total - 2);
    bad = with_template_texts(buf, len, (const uint8_t *)cut0.buf, cut0.len, &blen);
    expect_row_error(bad, blen, "which has no text");
    free(bad);
    sb_free(&cut0);
    free(longer);
    free(texts);
    free(buf);
    corpus_free(evs, sorted, n);
}

/* ---- compressed dictionaries (format 12) ------------------------------------------------- */

/* The host dictionary is a zstd frame smaller than its front-coded bytes;
 * a count that does not match its strings, or a cut frame, is refused at
 * open with the section named. */
static void test_dictionaries_compressed(void **state)
{
    (void)state;
    const size_t n = 3000;
    tev *evs = calloc(n, sizeof *evs);
    assert_non_null(evs);
    test_rnd_seed(12);
    for (size_t i = 0; i < n; i++) {
        tev *t = &evs[i];
        strata_event_init(&t->ev);
        t->ev.ingest_ts_ns = t->ev.event_ts_ns = 1750000000000000000ll + (int64_t)i;
        char h[64];
        int hn = snprintf(h, sizeof h, "ip-10-%u-%u-%u", test_rnd_below(4), test_rnd_below(8),
                          test_rnd_below(250));
        t->ev.host = kstr(t, h, (size_t)hn);
        t->ev.service = kstr(t, "svc", 3);
        t->ev.msg = kstr(t, "hello", 5);
    }
    tev **sorted = segment_order(evs, n);
    size_t len;
    uint8_t *buf = build(evs, n, 256, NULL, 0, &len);
    seg_reader *r = open_ok(buf, len, NULL);
    expect_rows(r, sorted, n);
    uint32_t hosts = seg_host_count(r);
    assert_true(hosts > 1000);
    seg_close(r);
    size_t slen, at = section_of(buf, len, SEC_HOST_DICT, &slen);
    cursor c = cursor_make(buf + at, slen);
    assert_int_equal(get_varint(&c), hosts);
    size_t zlen;
    const uint8_t *z = get_bytes(&c, SIZE_MAX, &zlen);
    assert_non_null(z);
    assert_int_equal(cursor_left(&c), 0);
    unsigned long long raw = ZSTD_getFrameContentSize(z, zlen);
    assert_true(raw != ZSTD_CONTENTSIZE_ERROR && raw != ZSTD_CONTENTSIZE_UNKNOWN);
    assert_true(zlen * 2 < raw); /* sorted ids share more than prefixes */

    /* one host more than the frame holds */
    strbuf body = {0};
    put_varint(&body, hosts + 1);
    put_bytes(&body, z, zlen);
    size_t blen;
    uint8_t *bad =
        replace_section(buf, len, SEC_HOST_DICT, (const uint8_t *)body.buf, body.len, &blen);
    char err[256];
    assert_null(seg_open_mem(bad, blen, NULL, err, sizeof err));
    assert_non_null(strstr(err, "dictionary 8 malformed"));
    free(bad);
    /* the frame cut short */
    sb_reset(&body);
    put_varint(&body, hosts);
    put_bytes(&body, z, zlen - 3);
    bad = replace_section(buf, len, SEC_HOST_DICT, (const uint8_t *)body.buf, body.len, &blen);
    assert_null(seg_open_mem(bad, blen, NULL, err, sizeof err));
    assert_non_null(strstr(err, "dictionary 8 malformed"));
    free(bad);
    sb_free(&body);
    free(buf);
    corpus_free(evs, sorted, n);
}

/* The common terms of a segment in memory (format 13): the table's view,
 * and where it starts in the segment. */
static size_t common_terms_of(const uint8_t *buf, size_t len, seg_common_view *v)
{
    size_t slen, at = section_of(buf, len, SEC_BLOCK_FILTER, &slen);
    uint32_t blocks = load_u32(buf + at);
    size_t skip = 4; /* format 16: the block count, then the table */
    const char *why;
    assert_true(seg_common_parse(v, buf + at + skip, slen - skip, blocks, &why) > 0);
    return at + skip;
}

/* Format 13: a term in many row blocks is listed with exactly the blocks
 * holding it instead of being in their blooms, when that costs fewer bits
 * (seg_common_is), and terms with the same blocks share one set. Every
 * term still passes the filter of every block holding it; merges of parts
 * give the union's bytes; a table that cannot be looked up is refused. */
static void test_block_filters_common_terms(void **state)
{
    (void)state;
    const size_t n = 2000;
    const uint32_t block = 16; /* 125 blocks: a term in 28 of them is common */
    tev **sorted;
    tev *evs = corpus_make(31, n, 0, &sorted);
    size_t len;
    uint8_t *buf = build(evs, n, block, NULL, 0, &len);
    seg_reader *r = open_ok(buf, len, NULL);
    uint32_t blocks = seg_get_info(r)->blocks;
    assert_int_equal(blocks, (n + block - 1) / block);
    check_indexes_rows(r, "common terms");

    seg_common_view v;
    size_t table = common_terms_of(buf, len, &v);
    brute b = {0};
    for (uint32_t i = 0; i < n; i++) {
        b.row = i;
        seg_event_terms(&sorted[i]->ev, brute_add, &b);
    }
    size_t common = 0, rare = 0;
    for (size_t i = 0; i < b.n; i++) {
        uint8_t in[(2000 + 15) / 16] = {0};
        uint32_t d = 0;
        roaring_uint32_iterator_t *it = roaring_create_iterator(b.terms[i].rows);
        for (; it->has_value; roaring_advance_uint32_iterator(it))
            if (!in[it->current_value / block]) {
                in[it->current_value / block] = 1;
                d++;
            }
        roaring_free_uint32_iterator(it);
        uint64_t h = term_hash(b.terms[i].t, b.terms[i].n);
        int is = seg_common_is(d, blocks);
        common += (size_t)is;
        rare += (size_t)(!is && d > 1);
        for (uint32_t k = 0; k < blocks; k++)
            if (seg_common_has(&v, h, k) != (is && in[k]))
                fail_msg("%s in block %u: listed %d, common %d, in it %d", b.terms[i].t, k,
                         seg_common_has(&v, h, k), is, in[k]);
    }
    assert_int_equal(v.n, common);
    assert_true(common >= 10 && rare >= 10); /* both kinds are exercised */
    assert_true(v.nsets < v.n);              /* the services in every block share their set */
    seg_close(r);
    free_brute(&b);

    size_t cut[] = {0, 700, 1300, n};
    check_parts_merge_at(evs, cut, 3, buf, len, NULL, "common terms", block);

    /* tables that cannot be looked up: unsorted hashes, a set out of range,
     * more entries than bytes */
    char err[256];
    uint8_t *bad = malloc(len);
    assert_non_null(bad);
    memcpy(bad, buf, len);
    uint8_t tmp[8];
    memcpy(tmp, bad + table + 8, 8);
    memcpy(bad + table + 8, bad + table + 16, 8);
    memcpy(bad + table + 16, tmp, 8);
    reseal(bad, len, SEC_BLOCK_FILTER);
    assert_null(seg_open_mem(bad, len, NULL, err, sizeof err));
    assert_non_null(strstr(err, "common terms malformed"));
    memcpy(bad, buf, len);
    store_u32(bad + table + 8 + (size_t)v.n * 8, v.nsets);
    reseal(bad, len, SEC_BLOCK_FILTER);
    assert_null(seg_open_mem(bad, len, NULL, err, sizeof err));
    assert_non_null(strstr(err, "common terms malformed"));
    memcpy(bad, buf, len);
    store_u32(bad + table, 0xffffffffu);
    reseal(bad, len, SEC_BLOCK_FILTER);
    assert_null(seg_open_mem(bad, len, NULL, err, sizeof err));
    assert_non_null(strstr(err, "common terms malformed"));
    free(bad);
    free(buf);
    corpus_free(evs, sorted, n);
}

/* ---- the host column by service (format 15) ---------------------------------------------- */

/* Row i: service svc-<i % 40>, on one of the 30 hosts of its group of
 * four services (ip-10-<group>-<k>), or with one_service every row of one
 * service over all 300 hosts. */
static void make_host_event(tev *t, int64_t base, uint32_t i, int one_service)
{
    memset(t, 0, sizeof *t);
    strata_event_init(&t->ev);
    t->ev.ingest_ts_ns = t->ev.event_ts_ns = base + (int64_t)i * 1000;
    char sv[32], h[32];
    uint32_t s = one_service ? 0 : i % 40;
    int sn = snprintf(sv, sizeof sv, "svc-%u", s);
    int hn = one_service
                 ? snprintf(h, sizeof h, "ip-10-%u-%u", test_rnd_below(10), test_rnd_below(30))
                 : snprintf(h, sizeof h, "ip-10-%u-%u", s / 4, test_rnd_below(30));
    t->ev.service = kstr(t, sv, (size_t)sn);
    t->ev.host = kstr(t, h, (size_t)hn);
    t->ev.msg = kstr(t, "hello", 5);
}

static void make_host_by_service(tev *t, int64_t base, uint32_t i)
{
    make_host_event(t, base, i, 0);
}

static void make_host_one_service(tev *t, int64_t base, uint32_t i)
{
    make_host_event(t, base, i, 1);
}

/* Filters of many parts (filter_part_keys 64 instead of 2^21): every term
 * passes the segment filter and the filter of each block holding it, both
 * filters have many parts, and the streaming merge, which builds the parts
 * from its spool in groups of a few parts, one pass over the spool each,
 * gives the writer's bytes. */
static void test_filters_in_parts(void **state)
{
    (void)state;
    const size_t n = 3000;
    tev **sorted;
    tev *evs = corpus_make(41, n, 0, &sorted);
    g_part_keys = 64;
    size_t len, slen;
    uint8_t *buf = build(evs, n, 128, NULL, 0, &len); /* check_parts_merge's blocks */
    seg_reader *r = open_ok(buf, len, NULL);
    check_indexes_rows(r, "filters in parts");
    seg_close(r);
    seg_fuse_view v;
    const char *why;
    size_t at = section_of(buf, len, SEC_TERM_FILTER, &slen);
    assert_int_equal(seg_fuse_parse(&v, buf + at, slen, &why), (int64_t)slen);
    assert_true(v.part_log >= 4);
    at = section_of(buf, len, SEC_BLOCK_FILTER, &slen);
    seg_common_view cv;
    int64_t used = seg_common_parse(&cv, buf + at + 4, slen - 4, load_u32(buf + at), &why);
    assert_true(used >= 0);
    size_t left = slen - 4 - (size_t)used;
    assert_int_equal(seg_fuse_parse(&v, buf + at + 4 + used, left, &why), (int64_t)left);
    assert_true(v.part_log >= 4);
    size_t cut[] = {0, 1000, 2200, n};
    check_parts_merge(evs, cut, 3, buf, len, NULL, "filters in parts");
    g_part_keys = 0;
    free(buf);
    corpus_free(evs, sorted, n);
}

/* ---- the level column by template (format 16) ----------------------------------------- */

/* Row i: "disk <n> full" always an ERROR, "served <n> in <m> ms" always an
 * INFO, "retry <n>" a WARN or an INFO at random: two templates of one
 * level and one mixed. */
static void make_level_event(tev *t, int64_t base, uint32_t i)
{
    memset(t, 0, sizeof *t);
    strata_event_init(&t->ev);
    t->ev.ingest_ts_ns = t->ev.event_ts_ns = base + (int64_t)i * 1000;
    t->ev.service = kstr(t, "svc", 3);
    t->ev.host = kstr(t, "h", 1);
    char msg[64];
    int n;
    switch (i % 3) {
    case 0:
        n = snprintf(msg, sizeof msg, "disk %u full", test_rnd_below(100));
        t->ev.level = STRATA_LEVEL_ERROR;
        break;
    case 1:
        n = snprintf(msg, sizeof msg, "served %u in %u ms", test_rnd_below(1000),
                     test_rnd_below(100));
        t->ev.level = STRATA_LEVEL_INFO;
        break;
    default:
        n = snprintf(msg, sizeof msg, "retry %u", test_rnd_below(10));
        t->ev.level = test_rnd_below(2) ? STRATA_LEVEL_WARN : STRATA_LEVEL_INFO;
        break;
    }
    t->ev.msg = kstr(t, msg, (size_t)n);
}

/* A level column by template of the given frame bytes. */
static uint8_t *with_levels_frame(const uint8_t *buf, size_t len, const uint8_t *raw, size_t rlen,
                                  size_t *blen)
{
    strbuf body = {0};
    put_u8(&body, SEG_LEVELS_BY_TEMPLATE);
    size_t bound = ZSTD_compressBound(rlen);
    uint8_t *z = malloc(bound);
    assert_non_null(z);
    size_t zn = ZSTD_compress(z, bound, raw, rlen, 3);
    assert_false(ZSTD_isError(zn));
    put_bytes(&body, z, zn);
    uint8_t *bad = replace_section(buf, len, SEC_LEVEL, (const uint8_t *)body.buf, body.len, blen);
    free(z);
    sb_free(&body);
    return bad;
}

/* Format 16: the levels of a template whose rows all have one are stored
 * once for it; the rows of mixed templates keep theirs. Rows read back,
 * merges equal the union, the column is smaller than plain, and a column
 * that does not add up is refused with its reason. */
static void test_levels_by_template(void **state)
{
    (void)state;
    const size_t n = 3000;
    tev **sorted;
    tev *evs = events_of(make_level_event, 16, n, &sorted);
    size_t len, slen;
    uint8_t *buf = build(evs, n, 128, NULL, 0, &len); /* check_parts_merge's blocks */
    size_t at = section_of(buf, len, SEC_LEVEL, &slen);
    assert_int_equal(buf[at], SEG_LEVELS_BY_TEMPLATE);
    seg_reader *r = open_ok(buf, len, NULL);
    expect_rows(r, sorted, n);
    uint32_t ntpl = seg_get_info(r)->templates;
    assert_int_equal(ntpl, 3);
    seg_close(r);
    size_t cut[] = {0, 1000, 2200, n};
    check_parts_merge(evs, cut, 3, buf, len, NULL, "levels by template");

    /* the frame: per template its level (two fixed, one mixed), then a
     * level per row of the mixed one; smaller than the plain column */
    cursor c = cursor_make(buf + at + 1, slen - 1);
    size_t zlen;
    const uint8_t *z = get_bytes(&c, SIZE_MAX, &zlen);
    assert_non_null(z);
    unsigned long long rawn = ZSTD_getFrameContentSize(z, zlen);
    assert_int_equal(rawn, ntpl + n / 3);
    uint8_t *raw = malloc(rawn);
    assert_non_null(raw);
    assert_int_equal(ZSTD_decompress(raw, rawn, z, zlen), rawn);
    int fixed = 0, mixed = 0;
    for (uint32_t k = 0; k < ntpl; k++) {
        fixed += raw[k] == STRATA_LEVEL_ERROR || raw[k] == STRATA_LEVEL_INFO;
        mixed += raw[k] == SEG_LEVEL_MIXED;
    }
    assert_int_equal(fixed, 2);
    assert_int_equal(mixed, 1);
    strbuf plain = {0};
    int64_t *lv = malloc(n * sizeof *lv);
    assert_non_null(lv);
    for (size_t i = 0; i < n; i++)
        lv[i] = sorted[i]->ev.level;
    intcol_encode(&plain, lv, n);
    assert_true(slen < plain.len);

    /* refused: a level out of range in the table and in the rows, one level
     * short, one too many, an unknown coding */
    char err[256];
    size_t blen;
    struct {
        size_t at; /* byte changed (SIZE_MAX: none) */
        uint8_t to;
        long grow; /* bytes added (+1) or cut (-1) at the end */
        const char *why;
    } bad[] = {
        {0, 7, 0, "a template's level out of range"},
        {ntpl, 9, 0, "a row's level out of range"},
        {SIZE_MAX, 0, -1, "fewer levels than rows of mixed templates"},
        {SIZE_MAX, 0, +1, "more levels than rows of mixed templates"},
    };
    uint8_t *edit = malloc(rawn + 1);
    assert_non_null(edit);
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        memcpy(edit, raw, rawn);
        edit[rawn] = STRATA_LEVEL_INFO;
        if (bad[k].at != SIZE_MAX)
            edit[bad[k].at] = bad[k].to;
        uint8_t *b = with_levels_frame(buf, len, edit, (size_t)((long)rawn + bad[k].grow), &blen);
        assert_null(seg_open_mem(b, blen, NULL, err, sizeof err));
        if (!strstr(err, bad[k].why) || !strstr(err, "segment column 4 malformed"))
            fail_msg("\"%s\" does not say \"%s\"", err, bad[k].why);
        free(b);
    }
    strbuf body = {0};
    put_u8(&body, 2);
    sb_append(&body, buf + at + 1, slen - 1);
    uint8_t *b = replace_section(buf, len, SEC_LEVEL, (const uint8_t *)body.buf, body.len, &blen);
    assert_null(seg_open_mem(b, blen, NULL, err, sizeof err));
    assert_non_null(strstr(err, "unknown coding"));
    free(b);
    /* the plain column of the same levels reads the same rows */
    sb_reset(&body);
    put_u8(&body, SEG_LEVELS_PLAIN);
    sb_append(&body, plain.buf, plain.len);
    b = replace_section(buf, len, SEC_LEVEL, (const uint8_t *)body.buf, body.len, &blen);
    r = open_ok(b, blen, NULL);
    expect_rows(r, sorted, n);
    seg_close(r);
    free(b);
    sb_free(&body);
    sb_free(&plain);
    free(edit);
    free(lv);
    free(raw);
    free(buf);
    corpus_free(evs, sorted, n);
}

/* Hosts that follow their service are coded by service, a single service's
 * plain; both read back, merges of parts give the union's bytes, and a
 * column that lies (an index past its service's hosts, a host past the
 * dictionary, an unknown coding, lists that do not add up) is refused at
 * open. */
static void test_hosts_by_service(void **state)
{
    (void)state;
    const size_t n = 3000;
    tev **sorted;
    tev *evs = events_of(make_host_one_service, 14, n, &sorted);
    size_t len, slen;
    uint8_t *buf = build(evs, n, 256, NULL, 0, &len);
    assert_int_equal(buf[section_of(buf, len, SEC_HOST, &slen)], SEG_HOSTS_PLAIN);
    seg_reader *r = open_ok(buf, len, NULL);
    expect_rows(r, sorted, n);
    seg_close(r);
    free(buf);
    corpus_free(evs, sorted, n);

    evs = events_of(make_host_by_service, 15, n, &sorted);
    buf = build(evs, n, 128, NULL, 0, &len); /* check_parts_merge's blocks */
    size_t at = section_of(buf, len, SEC_HOST, &slen);
    assert_int_equal(buf[at], SEG_HOSTS_BY_SERVICE);
    r = open_ok(buf, len, NULL);
    assert_int_equal(seg_host_count(r), 300);
    expect_rows(r, sorted, n);
    check_indexes_rows(r, "hosts by service");
    seg_close(r);
    size_t cut[] = {0, 1000, 2200, n};
    check_parts_merge(evs, cut, 3, buf, len, NULL, "hosts by service");

    /* the body: coding, pairs, the lists' frame, the rows' indexes */
    cursor c = cursor_make(buf + at + 1, slen - 1);
    uint64_t pairs = get_varint(&c);
    assert_true(pairs > 300 && pairs <= 1200); /* a host is shared by its group's 4 services */
    size_t zlen;
    const uint8_t *z = get_bytes(&c, SIZE_MAX, &zlen);
    assert_non_null(z);
    unsigned long long rawn = ZSTD_getFrameContentSize(z, zlen);
    uint8_t *raw = malloc(rawn);
    assert_non_null(raw);
    assert_int_equal(ZSTD_decompress(raw, rawn, z, zlen), rawn);
    const uint8_t *rows_at = c.p;
    char err[256];
    /* an index past its service's hosts: every row's index is below 30
     * (5 bits), so an intcol of 300s does not fit */
    strbuf body = {0};
    put_u8(&body, SEG_HOSTS_BY_SERVICE);
    put_varint(&body, pairs);
    put_bytes(&body, z, zlen);
    int64_t *big = malloc(n * sizeof *big);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = 300;
    intcol_encode(&body, big, n);
    size_t blen;
    uint8_t *bad = replace_section(buf, len, SEC_HOST, (const uint8_t *)body.buf, body.len, &blen);
    assert_null(seg_open_mem(bad, blen, NULL, err, sizeof err));
    assert_non_null(strstr(err, "segment column 9 malformed"));
    free(bad);
    /* an unknown coding */
    sb_reset(&body);
    put_u8(&body, 2);
    sb_append(&body, buf + at + 1, slen - 1);
    bad = replace_section(buf, len, SEC_HOST, (const uint8_t *)body.buf, body.len, &blen);
    assert_null(seg_open_mem(bad, blen, NULL, err, sizeof err));
    assert_non_null(strstr(err, "segment column 9 malformed"));
    free(bad);
    /* one pair more than the lists hold */
    sb_reset(&body);
    put_u8(&body, SEG_HOSTS_BY_SERVICE);
    put_varint(&body, pairs + 1);
    put_bytes(&body, z, zlen);
    sb_append(&body, rows_at, slen - (size_t)(rows_at - (buf + at)));
    bad = replace_section(buf, len, SEC_HOST, (const uint8_t *)body.buf, body.len, &blen);
    assert_null(seg_open_mem(bad, blen, NULL, err, sizeof err));
    assert_non_null(strstr(err, "segment column 9 malformed"));
    free(bad);
    /* a host past the dictionary: the first service's first host made 300 */
    cursor lc = cursor_make(raw, rawn);
    uint64_t k0 = get_varint(&lc);
    assert_true(k0 > 0);
    strbuf lists = {0};
    put_varint(&lists, k0);
    put_varint(&lists, 300);
    get_varint(&lc);
    sb_append(&lists, lc.p, cursor_left(&lc));
    size_t zc = ZSTD_compressBound(lists.len);
    uint8_t *zz = malloc(zc);
    assert_non_null(zz);
    size_t zn = ZSTD_compress(zz, zc, lists.buf, lists.len, 3);
    assert_false(ZSTD_isError(zn));
    sb_reset(&body);
    put_u8(&body, SEG_HOSTS_BY_SERVICE);
    put_varint(&body, pairs);
    put_bytes(&body, zz, zn);
    sb_append(&body, rows_at, slen - (size_t)(rows_at - (buf + at)));
    bad = replace_section(buf, len, SEC_HOST, (const uint8_t *)body.buf, body.len, &blen);
    assert_null(seg_open_mem(bad, blen, NULL, err, sizeof err));
    assert_non_null(strstr(err, "segment column 9 malformed"));
    free(bad);
    free(zz);
    sb_free(&lists);
    free(big);
    sb_free(&body);
    free(raw);
    free(buf);
    corpus_free(evs, sorted, n);
}

/* ---- digit frames without the dictionary (format 15) ------------------------------------- */

/* A zstd dictionary trained on the samples of n events made with seed. */
static size_t train_dict(uint64_t seed, size_t n, uint8_t *dict, size_t cap)
{
    size_t dlen;
    corpus_free(events_and_dict(seed, n, dict, cap, &dlen), NULL, n);
    return dlen;
}

/* A block's first frame names the segment's dictionary and its digit
 * frames none; a reader reads each frame with the dictionary it names (the
 * segment's also for the digits: the same rows) and refuses a frame that
 * names another. */
static void test_digit_frames_dictionary(void **state)
{
    (void)state;
    static uint8_t dict[16384], other[16384];
    size_t dlen = train_dict(99, 4000, dict, sizeof dict);
    size_t olen = train_dict(7, 4000, other, sizeof other);
    assert_int_not_equal(ZDICT_getDictID(dict, dlen), ZDICT_getDictID(other, olen));
    const size_t n = 1000;
    tev **sorted;
    tev *evs = corpus_make(5, n, 0, &sorted);
    size_t len;
    uint8_t *buf = build(evs, n, 1024, dict, dlen, &len); /* one block */
    seg_dicts *d = seg_dicts_new();
    assert_int_equal(seg_dicts_add(d, dict, dlen), 0);
    seg_reader *r = open_ok(buf, len, d);
    unsigned id = seg_get_info(r)->dict_id;
    assert_true(id != 0);
    expect_rows(r, sorted, n);
    seg_close(r);

    /* the frames: the first with the dictionary, the digits' without */
    size_t blen, ilen;
    size_t blocks = section_of(buf, len, SEC_BLOCKS, &blen);
    size_t index = section_of(buf, len, SEC_BLOCK_INDEX, &ilen);
    const uint8_t *f = buf + blocks + load_u64(buf + index + SEG_BE_OFFSET);
    size_t clen = load_u32(buf + index + SEG_BE_CLEN);
    uint8_t *part[4];
    size_t plen[4], k = 0;
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    assert_non_null(dc);
    for (size_t at = 0; at < clen; k++) {
        assert_true(k < 4);
        size_t fl = ZSTD_findFrameCompressedSize(f + at, clen - at);
        assert_false(ZSTD_isError(fl));
        assert_int_equal(ZSTD_getDictID_fromFrame(f + at, fl), k ? 0 : id);
        plen[k] = ZSTD_getFrameContentSize(f + at, fl);
        part[k] = malloc(plen[k]);
        assert_non_null(part[k]);
        assert_int_equal(ZSTD_decompress_usingDict(dc, part[k], plen[k], f + at, fl, dict, dlen),
                         plen[k]);
        at += fl;
    }
    ZSTD_freeDCtx(dc);
    assert_true(k >= 2); /* make_event's " id%u" words are digits */

    /* the digits compressed with the segment's dictionary, then another's */
    const uint8_t *with[2] = {dict, other};
    size_t wlen[2] = {dlen, olen};
    for (int v = 0; v < 2; v++) {
        strbuf z = {0};
        ZSTD_CCtx *cc = ZSTD_createCCtx();
        for (size_t j = 0; j < k; j++) {
            size_t cap = ZSTD_compressBound(plen[j]);
            assert_int_equal(sb_reserve(&z, cap), 0);
            size_t zn = ZSTD_compress_usingDict(cc, z.buf + z.len, cap, part[j], plen[j],
                                                j ? with[v] : dict, j ? wlen[v] : dlen, 3);
            assert_false(ZSTD_isError(zn));
            z.len += zn;
        }
        ZSTD_freeCCtx(cc);
        size_t nlen;
        uint8_t *nb = with_message_zframes(buf, len, (const uint8_t *)z.buf, z.len, &nlen);
        r = open_ok(nb, nlen, d);
        if (v == 0) {
            expect_rows(r, sorted, n);
        } else {
            strata_event got;
            assert_int_equal(seg_row(r, 0, &got), -1);
            assert_non_null(strstr(seg_error(r), "names zstd dictionary"));
        }
        seg_close(r);
        free(nb);
        sb_free(&z);
    }
    for (size_t j = 0; j < k; j++)
        free(part[j]);
    seg_dicts_free(d);
    free(buf);
    corpus_free(evs, sorted, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_bit_exact),
        cmocka_unit_test(test_empty_segment),
        cmocka_unit_test(test_postings_match_brute_force),
        cmocka_unit_test(test_writer_index),
        cmocka_unit_test(test_merge_equals_union),
        cmocka_unit_test(test_dictionary),
        cmocka_unit_test(test_corruption_is_detected),
        cmocka_unit_test(test_meta_without_messages),
        cmocka_unit_test(test_file_roundtrip),
        cmocka_unit_test(test_rollup_counts),
        cmocka_unit_test(test_refuses_other_versions),
        cmocka_unit_test(test_fixture_indexes_its_rows),
        cmocka_unit_test(test_meta_columns),
        cmocka_unit_test(test_postings_shared),
        cmocka_unit_test(test_merge_file_streams),
        cmocka_unit_test(test_sort_strtab_order),
        cmocka_unit_test(test_reset_writer_same_bytes),
        cmocka_unit_test(test_fuse_filters),
        cmocka_unit_test(test_filters_in_parts),
        cmocka_unit_test(test_eliasfano_codec),
        cmocka_unit_test(test_postings_encoding_choice),
        cmocka_unit_test(test_column_terms),
        cmocka_unit_test(test_hex_ef_codec),
        cmocka_unit_test(test_template_postings),
        cmocka_unit_test(test_messages_as_variables),
        cmocka_unit_test(test_dict_ranks_by_template),
        cmocka_unit_test(test_dictionaries_compressed),
        cmocka_unit_test(test_block_filters_common_terms),
        cmocka_unit_test(test_hosts_by_service),
        cmocka_unit_test(test_levels_by_template),
        cmocka_unit_test(test_digit_frames_dictionary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
