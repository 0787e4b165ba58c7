/*
 * tests/unit/test_query.c - the query language:
 *   - parse errors name the column and what was expected;
 *   - precedence is NOT > AND > OR, AND is implicit;
 *   - words, joined identifiers, phrases across punctuation, wildcards,
 *     regexes, levels, numbers and existence match the events a user expects;
 *   - for random corpora and random queries drawn from the grammar, the
 *     index path (q_segment, then q_match on inexact candidates) returns
 *     exactly the events q_match finds by scanning every event.
 */
#include "test_util.h"

#include <ctype.h>

#include "query.h"
#include "segment.h"

/* ---- parsing --------------------------------------------------------------------- */

static void expect_error(const char *text, const char *want)
{
    char err[256];
    query *q = q_parse(text, strlen(text), err, sizeof err);
    if (q)
        fail_msg("'%s' parsed but should fail with '%s'", text, want);
    if (!strstr(err, want))
        fail_msg("'%s': error '%s' does not contain '%s'", text, err, want);
}

static void expect_tree(const char *text, const char *want)
{
    char err[256];
    query *q = q_parse(text, strlen(text), err, sizeof err);
    if (!q)
        fail_msg("'%s' failed: %s", text, err);
    char *d = q_describe(q);
    if (strcmp(d, want) != 0)
        fail_msg("'%s' gave %s, want %s", text, d, want);
    free(d);
    q_free(q);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_error("(timeout", "column 9: expected ')' to close the '(' at column 1");
    expect_error("timeout)", "column 8: unexpected ')'");
    expect_error("\"card declined", "column 1: the quote opened here is never closed");
    expect_error("timeout OR", "column 9: expected a term after OR");
    expect_error("AND timeout", "column 1: expected a word, a phrase or '(' before 'AND'");
    expect_error("level:loud", "column 7: unknown level 'loud'");
    expect_error("sevrice:payments", "column 1: unknown field 'sevrice'");
    expect_error("meta.latency_ms>fast", "needs a number, not 'fast'");
    expect_error("/a(b/", "invalid regex");
    expect_error("/abc", "the regex opened here is never closed");
    expect_error("service>3", "'service' cannot be compared");
    expect_error("---", "contains no letters or digits");
    expect_error("service:", "expected a value after 'service:'");
    char deep[200];
    memset(deep, '(', 100);
    memcpy(deep + 100, "x", 2);
    expect_error(deep, "nested deeper than");
}

static void test_parse_trees(void **state)
{
    (void)state;
    expect_tree("", "*");
    expect_tree("*", "*");
    expect_tree("a b OR c", "((terms[msg:a] AND terms[msg:b]) OR terms[msg:c])");
    expect_tree("a OR b c", "(terms[msg:a] OR (terms[msg:b] AND terms[msg:c]))");
    expect_tree("-a b", "(NOT terms[msg:a] AND terms[msg:b])");
    expect_tree("NOT (a OR b)", "NOT (terms[msg:a] OR terms[msg:b])");
    expect_tree("a AND b", "(terms[msg:a] AND terms[msg:b])");
    expect_tree("Payment-Service", "terms[msg:payment msg:service msg:payment-service]");
    expect_tree("\"Card, declined!\"", "msg:\"card declined\"");
    expect_tree("service:Payments", "terms[service:payments]");
    expect_tree("service:\"Cart API\"", "terms[service:cart api]");
    expect_tree("meta.user_id:u_98765",
                "terms[meta.user_id:u meta.user_id:98765 meta.user_id:u_98765]");
    expect_tree("pay*", "msg:pay*");
    expect_tree("level>=WARN", "level[0x70]");
    expect_tree("meta.latency_ms>500", "meta.latency_ms>500");
    expect_tree("meta.trace_id:*", "meta.trace_id:*");
    expect_tree("10:30:00", "terms[msg:10 msg:30 msg:00 msg:10:30:00]");
    expect_tree("and or", "(terms[msg:and] AND terms[msg:or])");
}

/* ---- matching single events ------------------------------------------------------ */

static int matches(const char *text, const strata_event *ev)
{
    char err[256];
    query *q = q_parse(text, strlen(text), err, sizeof err);
    if (!q)
        fail_msg("'%s' failed: %s", text, err);
    q_scratch *s = q_scratch_new();
    assert_non_null(s);
    int m = q_match(q, ev, s);
    q_scratch_free(s);
    q_free(q);
    return m;
}

static void test_match_events(void **state)
{
    (void)state;
    strata_kv kv[3] = {
        {strata_cstr("latency_ms"), strata_cstr("750"), STRATA_VALUE_INT},
        {strata_cstr("user_id"), strata_cstr("u_98765"), STRATA_VALUE_STRING},
        {strata_cstr("note"), strata_cstr("card was declined"), STRATA_VALUE_STRING},
    };
    strata_event ev;
    strata_event_init(&ev);
    ev.level = STRATA_LEVEL_ERROR;
    ev.service = strata_cstr("payment-service");
    ev.host = strata_cstr("Web-01");
    ev.msg = strata_cstr("Card declined: timeout after 10.0.3.42 NullPointerException 数据库");
    ev.meta = kv;
    ev.meta_count = 3;

    assert_true(matches("timeout", &ev));
    assert_true(matches("TIMEOUT", &ev));
    assert_true(matches("10.0.3.42", &ev));
    assert_false(matches("3.42", &ev));    /* a joined whole is one token... */
    assert_true(matches("\"3.42\"", &ev)); /* ...its words in order are a phrase */
    assert_false(matches("10.0.3.43", &ev));
    assert_true(matches("\"declined timeout\"", &ev)); /* across ':' */
    assert_false(matches("\"timeout declined\"", &ev));
    assert_true(matches("pointer", &ev)); /* CamelCase part */
    assert_true(matches("nullpointer*", &ev));
    assert_true(matches("*ception", &ev));
    assert_true(matches("t?meout", &ev));
    assert_false(matches("t?out", &ev));
    assert_true(matches("数", &ev));
    assert_true(matches("/declined: time/", &ev));
    assert_false(matches("/DECLINED/", &ev));
    assert_true(matches("/DECLINED/i", &ev));
    assert_true(matches("service:payment-service", &ev));
    assert_true(matches("service:PAYMENT-SERVICE", &ev));
    assert_false(matches("service:payment", &ev)); /* the whole value */
    assert_true(matches("service:pay*", &ev));
    assert_true(matches("host:web-01", &ev));
    assert_true(matches("level:error", &ev));
    assert_true(matches("level>=warn", &ev));
    assert_false(matches("level<error", &ev));
    assert_true(matches("meta.latency_ms>500", &ev));
    assert_false(matches("meta.latency_ms<=500", &ev));
    assert_true(matches("meta.latency_ms=750", &ev));
    assert_true(matches("meta.user_id:u_98765", &ev));
    assert_true(matches("meta.user_id:98765", &ev)); /* '_' parts are tokens too */
    assert_false(matches("meta.user_id:u_9876", &ev));
    assert_true(matches("meta.user_id:*", &ev));
    assert_false(matches("meta.trace_id:*", &ev));
    assert_true(matches("meta.note:\"was declined\"", &ev));
    assert_false(matches("meta.note:timeout", &ev));
    assert_true(matches("timeout -debug", &ev));
    assert_false(matches("timeout NOT card", &ev));
    assert_true(matches("(foo OR timeout) AND level:error", &ev));
    assert_true(matches("foo OR bar OR declined", &ev));
    assert_false(matches("foo OR bar", &ev));
    assert_true(matches("", &ev));

    /* the brief's example: `card declined` finds CARD_DECLINED */
    ev.msg = strata_cstr("Failed to charge card ending 4242: CARD_DECLINED");
    assert_true(matches("card declined", &ev));
    assert_true(matches("card_declined", &ev));
    assert_true(matches("\"card declined\"", &ev)); /* adjacent words across '_' */
    assert_false(matches("card_ending", &ev));
    ev.msg = strata_cstr("Receiving block blk_-6952295868487656571 src: /10.250.19.102:54106");
    assert_true(matches("blk_-6952295868487656571", &ev));
    assert_true(matches("6952295868487656571", &ev));
    assert_false(matches("blk_-6952295868487656570", &ev));
}

/* ---- the index agrees with a scan -------------------------------------------------- */

static const char *const VOCAB[] = {
    "Connection", "timeout",   "payment",     "declined", "user",  "login",         "failed",
    "10.0.3.42",  "10.0.3.43", "blk_-695",    "retry",    "OK",    "error",         "NullPointer",
    "数据库",     "Müller",    "db-01",       "a:b",      "GET",   "/api/v1",       "card",
    "Timeout",    "pay",       "payment-svc", "u_9876",   "trace", "CARD_DECLINED", "9876",
    "__init__",   "a__b",      "x_-1"};
#define NVOCAB (sizeof VOCAB / sizeof *VOCAB)
static const char *const SERVICES[] = {"payments", "Auth", "cart-api", "", "search"};
static const char *const KEYS[] = {"trace_id", "user_id", "latency_ms", "path"};

typedef struct tev {
    strata_event ev;
    strata_kv kv[4];
    char msg[400];
    char vals[4][32];
} tev;

static void make_event(tev *t, int64_t base)
{
    memset(t, 0, sizeof *t);
    strata_event_init(&t->ev);
    t->ev.ingest_ts_ns = base + (int64_t)test_rnd_below(1000) * 1000;
    t->ev.event_ts_ns = t->ev.ingest_ts_ns - (int64_t)test_rnd_below(1000);
    t->ev.level = (uint8_t)test_rnd_below(7);
    t->ev.service = strata_cstr(SERVICES[test_rnd_below(5)]);
    t->ev.host = strata_cstr(test_rnd_below(2) ? "web01" : "Web02");
    size_t n = 0;
    int words = (int)test_rnd_below(10);
    for (int i = 0; i < words; i++) {
        const char *sep = i == 0 ? "" : (test_rnd_below(4) == 0 ? ", " : " ");
        n += (size_t)snprintf(t->msg + n, sizeof t->msg - n, "%s%s", sep,
                              VOCAB[test_rnd_below(NVOCAB)]);
    }
    t->ev.msg.ptr = t->msg;
    t->ev.msg.len = (uint32_t)n;
    t->ev.meta_count = test_rnd_below(4);
    for (uint32_t i = 0; i < t->ev.meta_count; i++) {
        uint8_t type = (uint8_t)test_rnd_below(3);
        int vn = type == STRATA_VALUE_INT
                     ? snprintf(t->vals[i], sizeof t->vals[i], "%d", (int)test_rnd_below(1000))
                     : snprintf(t->vals[i], sizeof t->vals[i], "%s", VOCAB[test_rnd_below(NVOCAB)]);
        t->kv[i].key = strata_cstr(KEYS[test_rnd_below(4)]);
        t->kv[i].value.ptr = t->vals[i];
        t->kv[i].value.len = (uint32_t)vn;
        t->kv[i].type = type == STRATA_VALUE_INT ? STRATA_VALUE_INT : STRATA_VALUE_STRING;
    }
    t->ev.meta = t->kv;
}

/* One random query from the grammar, appended to buf. */
static void rand_query(char *buf, size_t cap, int depth)
{
    size_t n = strlen(buf);
    uint32_t k = depth > 2 ? test_rnd_below(9) : test_rnd_below(13);
    const char *w = VOCAB[test_rnd_below(NVOCAB)];
    char tmp[200];
    switch (k) {
    case 0:
    case 1:
        snprintf(tmp, sizeof tmp, "%s", w);
        if (!strcmp(w, "/api/v1") || !strcmp(w, "a:b"))
            snprintf(tmp, sizeof tmp, "\"%s\"", w);
        break;
    case 2: snprintf(tmp, sizeof tmp, "\"%s %s\"", w, VOCAB[test_rnd_below(NVOCAB)]); break;
    case 3: {
        size_t l = strlen(w) > 3 ? 3 : strlen(w);
        snprintf(tmp, sizeof tmp, "%.*s*", (int)l, w);
        if (l == 0 || (unsigned char)w[0] >= 0x80 || !isalnum((unsigned char)w[0]) ||
            memchr(w, ':', l))
            snprintf(tmp, sizeof tmp, "*out");
        break;
    }
    case 4:
        snprintf(tmp, sizeof tmp, "service:%s", test_rnd_below(2) ? "payments" : "cart-*");
        break;
    case 5:
        snprintf(tmp, sizeof tmp, "level%s%s", test_rnd_below(2) ? ">=" : ":",
                 test_rnd_below(2) ? "warn" : "INFO");
        break;
    case 6:
        snprintf(tmp, sizeof tmp, "meta.latency_ms%s%u",
                 test_rnd_below(2) ? ">" : "<=", test_rnd_below(1000));
        break;
    case 7:
        snprintf(tmp, sizeof tmp, "meta.%s:%s", KEYS[test_rnd_below(4)],
                 test_rnd_below(3) ? "*" : "timeout");
        break;
    case 8:
        snprintf(tmp, sizeof tmp, "/%s/%s", test_rnd_below(2) ? "time" : "d[a-z]+ed",
                 test_rnd_below(2) ? "i" : "");
        break;
    case 9:
    case 10: {
        snprintf(buf + n, cap - n, "(");
        rand_query(buf, cap, depth + 1);
        n = strlen(buf);
        snprintf(buf + n, cap - n, k == 9 ? " OR " : " ");
        rand_query(buf, cap, depth + 1);
        n = strlen(buf);
        snprintf(buf + n, cap - n, ")");
        return;
    }
    default:
        snprintf(buf + n, cap - n, test_rnd_below(2) ? "NOT " : "-");
        rand_query(buf, cap, depth + 1);
        return;
    }
    snprintf(buf + n, cap - n, "%s", tmp);
}

#define N_EVENTS 2000
#define N_QUERIES 400

/* Required terms of a query as ids in a head writer. */
typedef struct req {
    seg_writer *head;
    uint32_t ids[8];
    size_t n;
    int absent; /* a required term no row has */
} req;

static void req_term(void *ud, const char *t, size_t len)
{
    req *r = ud;
    int64_t id = seg_writer_term_id(r->head, t, len);
    if (id < 0)
        r->absent = 1;
    else if (r->n < 8)
        r->ids[r->n++] = (uint32_t)id;
}

/* Does row i of w hold every term of one of a's alternatives (or is
 * there nothing to narrow by)? */
static int alts_hold(const seg_writer *w, uint32_t i, const q_alts *a)
{
    if (!a->n)
        return 1;
    size_t from = 0;
    for (size_t k = 0; k < a->n; k++) {
        int all = 1;
        for (size_t t = from; t < a->alt_end[k] && all; t++) {
            int64_t id = seg_writer_term_id(w, a->term[t], a->len[t]);
            uint32_t u = (uint32_t)id;
            all = id >= 0 && seg_writer_row_has(w, i, &u, 1);
        }
        if (all)
            return 1;
        from = a->alt_end[k];
    }
    return 0;
}

/* A random corpus sealed into a segment: the events, the segment's bytes,
 * a reader on them and a matcher scratch. corpus_open makes it, corpus_close
 * frees it all. */
typedef struct corpus {
    tev *evs; /* N_EVENTS, in row order */
    uint8_t *buf;
    seg_reader *r;
    q_scratch *s;
} corpus;

/* N_EVENTS random events (seeded), sealed into a segment with 128-row
 * blocks and opened. `head`, when given, gets the same events and stays
 * unsealed, as the indexer's head. */
static void corpus_open(corpus *c, uint64_t seed, seg_writer *head)
{
    test_rnd_seed(seed);
    c->evs = calloc(N_EVENTS, sizeof *c->evs);
    assert_non_null(c->evs);
    seg_writer_opts o = {.tenant = "t", .block_events = 128};
    seg_writer *w = seg_writer_new(&o);
    assert_non_null(w);
    for (size_t i = 0; i < N_EVENTS; i++) {
        make_event(&c->evs[i], 1750000000000000000ll + (int64_t)i * 1000000);
        assert_int_equal(seg_writer_add(w, &c->evs[i].ev), 0);
        if (head)
            assert_int_equal(seg_writer_add(head, &c->evs[i].ev), 0);
    }
    size_t len;
    char err[256];
    if (seg_writer_finish_mem(w, &c->buf, &len, err, sizeof err) != 0)
        fail_msg("finish: %s", err);
    seg_writer_free(w);
    c->r = seg_open_mem(c->buf, len, NULL, err, sizeof err);
    if (!c->r)
        fail_msg("open: %s", err);
    c->s = q_scratch_new();
    assert_non_null(c->s);
}

static void corpus_close(corpus *c)
{
    q_scratch_free(c->s);
    seg_close(c->r);
    free(c->buf);
    free(c->evs);
}

/* Rows of query q in segment r: the index's candidates, verified on the
 * rows when the index is not exact (then *inexact is raised, if given).
 * The caller frees the bitmap. */
static roaring_bitmap_t *index_rows(seg_reader *r, const query *q, const char *text, q_scratch *s,
                                    size_t *inexact)
{
    char err[256];
    roaring_bitmap_t *cand;
    int exact;
    if (q_segment(q, r, &cand, &exact, err, sizeof err) != 0)
        fail_msg("query '%s': %s", text, err);
    if (inexact)
        *inexact += !exact;
    if (exact)
        return cand;
    roaring_bitmap_t *got = roaring_bitmap_create();
    roaring_uint32_iterator_t *it = roaring_create_iterator(cand);
    for (; it->has_value; roaring_advance_uint32_iterator(it)) {
        strata_event ev;
        assert_int_equal(seg_row(r, it->current_value, &ev), 0);
        if (q_match(q, &ev, s))
            roaring_bitmap_add(got, it->current_value);
    }
    roaring_free_uint32_iterator(it);
    roaring_bitmap_free(cand);
    return got;
}

/* The rows of evs query q matches, by q_match on each event. */
static roaring_bitmap_t *scan_rows(const query *q, const tev *evs, q_scratch *s)
{
    roaring_bitmap_t *want = roaring_bitmap_create();
    for (uint32_t i = 0; i < N_EVENTS; i++)
        if (q_match(q, &evs[i].ev, s))
            roaring_bitmap_add(want, i);
    return want;
}

static void test_index_equals_scan(void **state)
{
    (void)state;
    seg_writer_opts o = {.tenant = "t", .block_events = 128};
    seg_writer *head = seg_writer_new(&o); /* as the indexer's head: never sealed */
    corpus c;
    corpus_open(&c, 0x2545f4914f6cdd1dull, head);
    seg_reader *r = c.r;
    tev *evs = c.evs;
    q_scratch *s = c.s;
    char err[256];
    size_t nonempty = 0, inexact = 0, narrowed = 0;
    for (int qi = 0; qi < N_QUERIES; qi++) {
        char text[2048] = "";
        if (qi % 3 == 2) { /* an OR of leaves, the shape head narrowing by alternatives serves */
            rand_query(text, sizeof text, 3);
            strcat(text, " OR ");
            rand_query(text, sizeof text, 3);
        } else {
            rand_query(text, sizeof text, 0);
        }
        query *q = q_parse(text, strlen(text), err, sizeof err);
        if (!q)
            fail_msg("query %d '%s' did not parse: %s", qi, text, err);
        /* the scan: rows are in ingest order, which is arrival order here */
        roaring_bitmap_t *want = scan_rows(q, evs, s);
        roaring_bitmap_t *cand = index_rows(r, q, text, s, &inexact);
        if (!roaring_bitmap_equals(want, cand))
            fail_msg("query '%s': index gives %llu rows, scan %llu", text,
                     (unsigned long long)roaring_bitmap_get_cardinality(cand),
                     (unsigned long long)roaring_bitmap_get_cardinality(want));
        /* a head search visits only rows holding the required terms: every
         * matching row must hold them (else a search would miss it) */
        req rq = {.head = head};
        q_required_terms(q, 8, req_term, &rq);
        for (uint32_t i = 0; i < N_EVENTS; i++)
            if (roaring_bitmap_contains(want, i) &&
                (rq.absent || !seg_writer_row_has(head, i, rq.ids, rq.n)))
                fail_msg("query '%s': row %u matches but lacks a required term", text, i);
        /* and, with ORs, every matching row holds some alternative */
        q_alts *alts = malloc(sizeof *alts);
        assert_non_null(alts);
        q_required_alts(q, alts);
        narrowed += alts->n > 1;
        for (uint32_t i = 0; i < N_EVENTS; i++)
            if (roaring_bitmap_contains(want, i) && !alts_hold(head, i, alts))
                fail_msg("query '%s': row %u matches but holds no alternative", text, i);
        free(alts);
        if (!roaring_bitmap_is_empty(want))
            nonempty++;
        roaring_bitmap_free(want);
        roaring_bitmap_free(cand);
        q_free(q);
    }
    /* the generator must exercise both paths and find things */
    assert_true(nonempty > N_QUERIES / 4);
    assert_true(inexact > N_QUERIES / 10);
    assert_true(narrowed > N_QUERIES / 20); /* ORs that still narrow */
    seg_writer_free(head);
    corpus_close(&c);
}

/* A level ANDed with something else: when the other side leaves few rows
 * their levels come from the level column, else from the level's postings;
 * both give what a scan gives, whichever side the level is on. */
static void test_level_and_equals_scan(void **state)
{
    (void)state;
    corpus c;
    corpus_open(&c, 0x5eed1e7e1ull, NULL);
    /* the column path needs the other side under a quarter of the rows */
    char err[256];
    query *q = q_parse("service:payments", 16, err, sizeof err);
    assert_non_null(q);
    roaring_bitmap_t *svc = index_rows(c.r, q, "service:payments", c.s, NULL);
    assert_true(roaring_bitmap_get_cardinality(svc) > 0);
    assert_true(roaring_bitmap_get_cardinality(svc) <= N_EVENTS / 4);
    roaring_bitmap_free(svc);
    q_free(q);
    static const char *const queries[] = {
        "service:payments level:error", /* the column: few rows */
        "level>=warn service:payments", /* the level first */
        "declined level<warn",
        "(payment OR card) level:info",
        "\"timeout user\" level:error", /* inexact other side */
        "NOT declined level:error",     /* most rows: the postings */
        "level:error OR level:fatal level:debug",
        "level:error level>=warn", /* two levels */
        "/time/ level:warn",       /* a regex: every row, inexact */
        "nosuchword level:error",  /* nothing */
    };
    size_t seen = 0;
    for (size_t k = 0; k < sizeof queries / sizeof *queries; k++) {
        q = q_parse(queries[k], strlen(queries[k]), err, sizeof err);
        assert_non_null(q);
        roaring_bitmap_t *want = scan_rows(q, c.evs, c.s);
        roaring_bitmap_t *got = index_rows(c.r, q, queries[k], c.s, NULL);
        q_free(q);
        if (!roaring_bitmap_equals(want, got))
            fail_msg("query '%s': index gives %llu rows, scan %llu", queries[k],
                     (unsigned long long)roaring_bitmap_get_cardinality(got),
                     (unsigned long long)roaring_bitmap_get_cardinality(want));
        seen += !roaring_bitmap_is_empty(want);
        roaring_bitmap_free(want);
        roaring_bitmap_free(got);
    }
    assert_true(seen >= 8); /* all but the empty ones find rows */
    corpus_close(&c);
}

/* A segment none of whose rows makes a page is only counted: a word, a
 * field value, a level or everything from the dictionary's counts, other
 * exact queries from their rows. Every count equals a scan's. */
static void test_segment_count_equals_scan(void **state)
{
    (void)state;
    corpus c;
    corpus_open(&c, 0xc0017ull, NULL);
    static const char *const queries[] = {"timeout",
                                          "service:payments",
                                          "host:web01",
                                          "level:error",
                                          "level>=warn",
                                          "",
                                          "*",
                                          "nosuchword",
                                          "db-01",
                                          "timeout declined",
                                          "pay* OR retry",
                                          "-timeout",
                                          "meta.user_id:timeout"};
    size_t nonzero = 0;
    for (size_t k = 0; k < sizeof queries / sizeof *queries; k++) {
        char err[256];
        query *q = q_parse(queries[k], strlen(queries[k]), err, sizeof err);
        if (!q)
            fail_msg("'%s': %s", queries[k], err);
        if (!q_is_exact(q))
            fail_msg("'%s' is not exact", queries[k]);
        roaring_bitmap_t *want = scan_rows(q, c.evs, c.s);
        uint64_t got = UINT64_MAX;
        assert_int_equal(q_segment_count(q, c.r, &got, err, sizeof err), 0);
        if (got != roaring_bitmap_get_cardinality(want))
            fail_msg("'%s': counted %llu, scan %llu", queries[k], (unsigned long long)got,
                     (unsigned long long)roaring_bitmap_get_cardinality(want));
        nonzero += got > 0;
        roaring_bitmap_free(want);
        q_free(q);
    }
    assert_true(nonzero >= 10);
    corpus_close(&c);
}

/* A regex's literal narrows its candidates through the term dictionary,
 * and never loses a row: not when the literal sits past the 64-byte cut of
 * a long word, nor inside a longer word or a CamelCase word. */
/* Collects required terms as "t1|t2|..." */
static void join_term(void *ud, const char *t, size_t n)
{
    char *out = ud;
    size_t at = strlen(out);
    snprintf(out + at, 512 - at, "%s%.*s", at ? "|" : "", (int)n, t);
}

/* The terms a head scan may narrow by: those every match must hold. */
static void test_required_terms(void **state)
{
    (void)state;
    static const struct {
        const char *q, *want;
    } cases[] = {
        {"timeout", "msg:timeout"},
        {"Payment declined", "msg:payment|msg:declined"},
        {"\"connection reset\" service:API level:error", "msg:connection|msg:reset|service:api"},
        {"timeout OR refused", ""},
        {"timeout -refused", "msg:timeout"},
        {"pay* meta.user_id:u_42", "meta.user_id:u|meta.user_id:42|meta.user_id:u_42"},
        {"card declined", "msg:card|msg:declined"},
        {"10.0.3.42", "msg:10|msg:0|msg:3|msg:42|msg:10.0.3.42"},
        {"(a OR b) c", "msg:c"},
        {"/time.?out/", ""},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char err[256], got[512] = "";
        query *q = q_parse(cases[i].q, strlen(cases[i].q), err, sizeof err);
        if (!q)
            fail_msg("%s: %s", cases[i].q, err);
        size_t n = q_required_terms(q, 8, join_term, got);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s: got '%s', want '%s'", cases[i].q, got, cases[i].want);
        size_t want = cases[i].want[0] != 0;
        for (const char *c = cases[i].want; *c; c++)
            want += *c == '|';
        assert_int_equal(n, want);
        q_free(q);
    }
}

/* Alternatives: ORs of words and phrases narrow; a NOT, regex or wildcard
 * under an OR does not; ANDs distribute over ORs up to Q_MAX_ALTS. */
static void test_required_alts(void **state)
{
    (void)state;
    static const struct {
        const char *q, *want; /* alternatives joined by " ; ", terms by "|" */
    } cases[] = {
        {"timeout", "msg:timeout"},
        {"timeout OR refused", "msg:timeout ; msg:refused"},
        {"(timeout OR refused) service:api", "msg:timeout|service:api ; msg:refused|service:api"},
        {"\"connection reset\" OR level:error", ""},
        {"timeout OR /ref.sed/", ""},
        {"timeout OR -refused", ""},
        {"(a OR b) (c OR d)", "msg:a|msg:c ; msg:a|msg:d ; msg:b|msg:c ; msg:b|msg:d"},
        {"(a OR b OR c) (d OR e OR f)", "msg:a ; msg:b ; msg:c"},
        {"a OR b OR c OR d OR e OR f OR g OR h OR i", ""},
        {"pay* OR x", ""},
        {"\"connection reset\" OR x", "msg:connection|msg:reset ; msg:x"},
        {"", ""},
    };
    q_alts *a = malloc(sizeof *a);
    assert_non_null(a);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char err[256], got[512] = "";
        query *q = q_parse(cases[i].q, strlen(cases[i].q), err, sizeof err);
        if (!q)
            fail_msg("%s: %s", cases[i].q, err);
        size_t n = q_required_alts(q, a), from = 0;
        for (size_t k = 0; k < n; k++) {
            for (size_t t = from; t < a->alt_end[k]; t++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%.*s",
                         t > from ? "|"
                         : k      ? " ; "
                                  : "",
                         (int)a->len[t], a->term[t]);
            from = a->alt_end[k];
        }
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s: got '%s', want '%s'", cases[i].q, got, cases[i].want);
        q_free(q);
    }
    free(a);
}

static void test_regex_prefilter(void **state)
{
    (void)state;
    char longword[200];
    memset(longword, 'a', 90);
    memcpy(longword + 90, "timeoutzz now", 14);
    const char *msgs[] = {longword, "hello world", "TIMEOUT now", "SocketTimeoutException",
                          "bye",    "_init done",  "x__init"};
    seg_writer *w = seg_writer_new(&(seg_writer_opts){.tenant = "t", .block_events = 2});
    for (int i = 0; i < 7; i++) {
        strata_event ev;
        strata_event_init(&ev);
        ev.ingest_ts_ns = ev.event_ts_ns = 1000 + i;
        ev.msg = strata_cstr(msgs[i]);
        assert_int_equal(seg_writer_add(w, &ev), 0);
    }
    uint8_t *buf;
    size_t len;
    char err[256];
    assert_int_equal(seg_writer_finish_mem(w, &buf, &len, err, sizeof err), 0);
    seg_writer_free(w);
    seg_reader *r = seg_open_mem(buf, len, NULL, err, sizeof err);
    assert_non_null(r);
    /* "_init" lies in no token of "_init done" (the word is "init"): the
     * literal stops at '_', so both rows holding "init" are candidates, and
     * row 0, whose long word was cut (the literal may lie past the cut) */
    const char *qs[] = {"/timeout/i", "/Timeout/", "/\\btimeout/i", "/x\\x41/", "/_init/"};
    const uint64_t want_cand[] = {3, 3, 3, 7, 3}; /* rows 0, 2, 3 (no literal: all) */
    for (int k = 0; k < 5; k++) {
        query *q = q_parse(qs[k], strlen(qs[k]), err, sizeof err);
        if (!q)
            fail_msg("%s: %s", qs[k], err);
        roaring_bitmap_t *cand;
        int exact;
        assert_int_equal(q_segment(q, r, &cand, &exact, err, sizeof err), 0);
        assert_false(exact);
        if (roaring_bitmap_get_cardinality(cand) != want_cand[k])
            fail_msg("%s: %llu candidates (min %u max %u)", qs[k],
                     (unsigned long long)roaring_bitmap_get_cardinality(cand),
                     roaring_bitmap_minimum(cand), roaring_bitmap_maximum(cand));
        roaring_bitmap_free(cand);
        q_free(q);
    }
    seg_close(r);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_trees),
        cmocka_unit_test(test_match_events),
        cmocka_unit_test(test_index_equals_scan),
        cmocka_unit_test(test_regex_prefilter),
        cmocka_unit_test(test_required_terms),
        cmocka_unit_test(test_required_alts),
        cmocka_unit_test(test_level_and_equals_scan),
        cmocka_unit_test(test_segment_count_equals_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
