/*
 * tests/unit/test_segment_api.c - the segment reading table the host gives
 * plugins (sdk/include/strata/segment.h), through the host's service
 * lookup as a plugin would: a segment the library wrote reads back the
 * same through it; postings and prefix walks agree with the events; a
 * corrupt or truncated file is refused with a message.
 */
#include "test_util.h"

#include "format.h"
#include "host_api.h"
#include "segment.h"
#include "strata/segment.h"

#define N 300

static const char *const SVCS[] = {"payments", "auth", "cart"};

/* Event i: service SVCS[i % 3], "timeout" in every 7th message. */
static void make(strata_event *ev, strata_kv *kv, char *msg, size_t cap, int i)
{
    strata_event_init(ev);
    ev->ingest_ts_ns = 1750000000000000000ll + i * 1000;
    ev->event_ts_ns = ev->ingest_ts_ns - 5;
    ev->level = (uint8_t)(1 + i % 6);
    ev->service = strata_cstr(SVCS[i % 3]);
    ev->host = strata_cstr("web01");
    snprintf(msg, cap, "request %d %s", i, i % 7 == 0 ? "timeout" : "ok");
    ev->msg = strata_cstr(msg);
    kv[0].key = strata_cstr("n");
    kv[0].value = strata_cstr(msg + 8); /* "i ..." */
    kv[0].type = STRATA_VALUE_STRING;
    ev->meta = kv;
    ev->meta_count = 1;
}

static char *write_segment(const char *dir)
{
    seg_writer_opts o = {.tenant = "acme", .block_events = 64};
    seg_writer *w = seg_writer_new(&o);
    assert_non_null(w);
    for (int i = 0; i < N; i++) {
        strata_event ev;
        strata_kv kv[1];
        char msg[64];
        make(&ev, kv, msg, sizeof msg, i);
        assert_int_equal(seg_writer_add(w, &ev), 0);
    }
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/x.sseg", dir);
    char err[256];
    if (seg_writer_finish(w, path, err, sizeof err) != 0)
        fail_msg("%s", err);
    seg_writer_free(w);
    return path;
}

static int collect_row(void *ud, uint32_t row)
{
    roaring_bitmap_add(ud, row);
    return 0;
}

typedef struct walk {
    char seen[8][32];
    int n;
} walk;

static int collect_term(void *ud, const char *t, size_t len, uint32_t df)
{
    walk *w = ud;
    assert_int_equal(df, N / 3);
    if (w->n < 8)
        snprintf(w->seen[w->n++], sizeof w->seen[0], "%.*s", (int)len, t);
    return 0;
}

static void test_reads_through_the_host(void **state)
{
    (void)state;
    const strata_host_api *host = host_api_table();
    const strata_segment_api *api = host->service_acquire(NULL, STRATA_SEGMENT_SERVICE);
    assert_non_null(api);
    assert_true(STRATA_SEGMENT_HAS(api, error));
    char *dir = tmpdir_new();
    char *path = write_segment(dir);
    strata_segment *s;
    char err[256];
    assert_int_equal(api->open(path, &s, err, sizeof err), STRATA_OK);
    strata_segment_info in = {.struct_size = sizeof in};
    assert_int_equal(api->info(s, &in), STRATA_OK);
    assert_int_equal(in.events, N);
    assert_int_equal(in.format_version, SEG_VERSION);
    assert_true(in.tenant.len == 4 && memcmp(in.tenant.ptr, "acme", 4) == 0);
    assert_int_equal(in.min_ingest_ns, 1750000000000000000ll);
    /* every row back as written */
    for (int i = 0; i < N; i++) {
        strata_event got, want;
        strata_kv kv[1];
        char msg[64];
        make(&want, kv, msg, sizeof msg, i);
        assert_int_equal(api->row(s, (uint32_t)i, &got), STRATA_OK);
        assert_int_equal(got.ingest_ts_ns, want.ingest_ts_ns);
        assert_int_equal(got.level, want.level);
        assert_true(got.msg.len == want.msg.len && !memcmp(got.msg.ptr, msg, got.msg.len));
        assert_true(got.service.len == want.service.len &&
                    !memcmp(got.service.ptr, want.service.ptr, got.service.len));
        assert_int_equal(got.meta_count, 1);
    }
    strata_event past;
    assert_int_equal(api->row(s, N, &past), STRATA_ERANGE);
    /* postings: exactly the rows with "timeout" */
    roaring_bitmap_t *rows = roaring_bitmap_create();
    assert_int_equal(api->postings(s, "msg:timeout", 11, collect_row, rows), STRATA_OK);
    assert_int_equal(roaring_bitmap_get_cardinality(rows), (N + 6) / 7);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(roaring_bitmap_contains(rows, i), i % 7 == 0);
    roaring_bitmap_free(rows);
    /* a prefix walk: the three services, sorted */
    walk w = {.n = 0};
    assert_int_equal(api->terms(s, "service:", 8, collect_term, &w), STRATA_OK);
    assert_int_equal(w.n, 3);
    assert_string_equal(w.seen[0], "service:auth");
    assert_string_equal(w.seen[2], "service:payments");
    api->close(s);
    /* a truncated file is refused with a message */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), 100), 0);
    fclose(f);
    err[0] = 0;
    assert_int_equal(api->open(path, &s, err, sizeof err), STRATA_EINVAL);
    assert_true(err[0] != 0);
    host->service_release(NULL, api);
    free(path);
    rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_through_the_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
