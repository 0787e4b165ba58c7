/*
 * tests/unit/test_batch.c - the batch encoding: random events come back
 * bit-exact through append/read and encode/decode; a damaged encoding is
 * rejected with a reason, never read past its end; JSON output escapes
 * everything and stays valid UTF-8.
 */
#include "test_util.h"

#include "batch.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void rand_str(char *buf, uint32_t *len, uint32_t max)
{
    *len = (uint32_t)(rnd() % max);
    for (uint32_t i = 0; i < *len; i++)
        buf[i] = (char)(rnd() & 0xff);
}

static void test_random_events_roundtrip_exactly(void **state)
{
    (void)state;
    static char strs[4][300];
    static char mk[8][40], mv[8][200];
    for (int round = 0; round < 50; round++) {
        batch_t *b = batch_new("app.x");
        assert_non_null(b);
        strata_event evs[20];
        strata_kv metas[20][8];
        uint32_t n = (uint32_t)(rnd() % 20);
        /* each event gets its own copies so the check compares real bytes */
        char *store = malloc(20 * 4 * 300 + 20 * 8 * 240);
        assert_non_null(store);
        char *cur = store;
        for (uint32_t i = 0; i < n; i++) {
            strata_event_init(&evs[i]);
            evs[i].ingest_ts_ns = (int64_t)rnd();
            evs[i].event_ts_ns = (int64_t)rnd();
            evs[i].level = (uint8_t)(rnd() % 7);
            evs[i].flags = (uint8_t)(rnd() & 1);
            strata_str *f[4] = {&evs[i].tenant, &evs[i].service, &evs[i].host, &evs[i].msg};
            for (int k = 0; k < 4; k++) {
                uint32_t l;
                rand_str(strs[k], &l, 300);
                memcpy(cur, strs[k], l);
                f[k]->ptr = cur;
                f[k]->len = l;
                cur += l;
            }
            evs[i].meta_count = (uint32_t)(rnd() % 8);
            evs[i].meta = metas[i];
            for (uint32_t k = 0; k < evs[i].meta_count; k++) {
                uint32_t kl, vl;
                rand_str(mk[k], &kl, 40);
                rand_str(mv[k], &vl, 200);
                memcpy(cur, mk[k], kl);
                metas[i][k].key = (strata_str){cur, kl};
                cur += kl;
                memcpy(cur, mv[k], vl);
                metas[i][k].value = (strata_str){cur, vl};
                cur += vl;
                metas[i][k].type = (uint8_t)(rnd() % 5);
            }
            assert_int_equal(batch_append(b, &evs[i]), STRATA_OK);
        }
        batch_t *d = NULL;
        char err[256];
        assert_int_equal(batch_decode(b->data, b->len, &d, err, sizeof err), STRATA_OK);
        assert_int_equal(d->count, n);
        assert_string_equal(d->tag, "app.x");
        for (int which = 0; which < 2; which++) {
            batch_t *src = which ? d : b;
            for (uint32_t i = 0; i < n; i++) {
                strata_event ev;
                strata_kv kv[8];
                assert_int_equal(batch_get(src, i, &ev, kv, 8), STRATA_OK);
                assert_true(ev.ingest_ts_ns == evs[i].ingest_ts_ns);
                assert_true(ev.event_ts_ns == evs[i].event_ts_ns);
                assert_int_equal(ev.level, evs[i].level);
                assert_int_equal(ev.flags, evs[i].flags);
                assert_int_equal(ev.msg.len, evs[i].msg.len);
                if (ev.msg.len)
                    assert_memory_equal(ev.msg.ptr, evs[i].msg.ptr, ev.msg.len);
                assert_int_equal(ev.host.len, evs[i].host.len);
                assert_int_equal(ev.meta_count, evs[i].meta_count);
                for (uint32_t k = 0; k < ev.meta_count; k++) {
                    assert_int_equal(kv[k].key.len, metas[i][k].key.len);
                    assert_int_equal(kv[k].value.len, metas[i][k].value.len);
                    if (kv[k].value.len)
                        assert_memory_equal(kv[k].value.ptr, metas[i][k].value.ptr,
                                            kv[k].value.len);
                    assert_int_equal(kv[k].type, metas[i][k].type);
                }
            }
        }
        batch_unref(d);
        batch_unref(b);
        free(store);
    }
}

static batch_t *sample(void)
{
    batch_t *b = batch_new("t");
    strata_kv kv[2] = {{strata_cstr("user"), strata_cstr("u_1"), STRATA_VALUE_STRING},
                       {strata_cstr("ms"), strata_cstr("12"), STRATA_VALUE_INT}};
    for (int i = 0; i < 3; i++) {
        strata_event ev;
        strata_event_init(&ev);
        ev.msg = strata_cstr("hello \"world\"\n\x01 caf\xc3\xa9 bad\xff end");
        ev.service = strata_cstr("svc");
        ev.level = STRATA_LEVEL_ERROR;
        ev.meta = kv;
        ev.meta_count = 2;
        ev.event_ts_ns = 1750000000123000000ll;
        ev.ingest_ts_ns = 1750000000123456789ll;
        assert_int_equal(batch_append(b, &ev), STRATA_OK);
    }
    return b;
}

static void test_every_truncation_and_flip_is_rejected_or_safe(void **state)
{
    (void)state;
    batch_t *b = sample();
    char err[256];
    for (size_t cut = 0; cut < b->len; cut++) {
        batch_t *d = NULL;
        int rc = batch_decode(b->data, cut, &d, err, sizeof err);
        assert_int_not_equal(rc, STRATA_OK);
        assert_null(d);
        assert_true(strlen(err) > 0);
    }
    uint8_t *copy = malloc(b->len);
    for (size_t i = 0; i < b->len; i++) {
        memcpy(copy, b->data, b->len);
        copy[i] ^= 0xff;
        batch_t *d = NULL;
        if (batch_decode(copy, b->len, &d, err, sizeof err) == STRATA_OK) {
            /* a flip inside string bytes decodes; reading must stay in bounds */
            char json[4096];
            for (uint32_t k = 0; k < d->count; k++)
                batch_event_json(d, k, json, sizeof json);
            batch_unref(d);
        }
    }
    free(copy);
    batch_t *d = NULL;
    uint8_t junk[64] = {0};
    assert_int_equal(batch_decode(junk, sizeof junk, &d, err, sizeof err), STRATA_EINVAL);
    assert_contains(err, "bad batch magic");
    batch_unref(b);
}

static void test_json_is_escaped_and_valid_utf8(void **state)
{
    (void)state;
    batch_t *b = sample();
    char json[1024];
    size_t n = batch_event_json(b, 0, json, sizeof json);
    assert_int_equal(n, strlen(json));
    assert_contains(json, "\"ts\":\"2025-06-15T15:06:40.123Z\"");
    assert_contains(json, "\"ingest_ts\":\"2025-06-15T15:06:40.123456789Z\"");
    assert_contains(json, "hello \\\"world\\\"\\n\\u0001 caf\xc3\xa9 bad\xef\xbf\xbd end");
    assert_contains(json, "\"level\":\"ERROR\"");
    assert_contains(json, "\"meta\":{\"user\":\"u_1\",\"ms\":12}");
    /* a too-small buffer reports the size it needs and stays terminated */
    char small[10];
    assert_int_equal(batch_event_json(b, 0, small, sizeof small), n);
    assert_int_equal(strlen(small), 9);
    batch_unref(b);
}

static void test_mislabeled_numbers_are_quoted(void **state)
{
    (void)state;
    batch_t *b = batch_new(NULL);
    strata_kv kv = {strata_cstr("n"), strata_cstr("12abc"), STRATA_VALUE_INT};
    strata_event ev;
    strata_event_init(&ev);
    ev.meta = &kv;
    ev.meta_count = 1;
    assert_int_equal(batch_append(b, &ev), STRATA_OK);
    char json[512];
    batch_event_json(b, 0, json, sizeof json);
    assert_contains(json, "\"n\":\"12abc\"");
    batch_unref(b);
}

static void test_limits_are_enforced(void **state)
{
    (void)state;
    batch_t *b = batch_new(NULL);
    strata_event ev;
    strata_event_init(&ev);
    ev.service.ptr = "x";
    ev.service.len = 70000; /* over the u16 wire field */
    assert_int_equal(batch_append(b, &ev), STRATA_EINVAL);
    ev.service.len = 1;
    ev.struct_size = 8; /* from a plugin built against a struct we do not know */
    assert_int_equal(batch_append(b, &ev), STRATA_EINVAL);
    assert_int_equal(b->count, 0);
    batch_unref(b);
}

static void test_levels(void **state)
{
    (void)state;
    assert_int_equal(level_parse("warning", 7), STRATA_LEVEL_WARN);
    assert_int_equal(level_parse("ERROR", 5), STRATA_LEVEL_ERROR);
    assert_int_equal(level_parse("bogus", 5), STRATA_LEVEL_UNSET);
    assert_string_equal(level_name(STRATA_LEVEL_FATAL), "FATAL");
    assert_string_equal(level_name(42), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_events_roundtrip_exactly),
        cmocka_unit_test(test_every_truncation_and_flip_is_rejected_or_safe),
        cmocka_unit_test(test_json_is_escaped_and_valid_utf8),
        cmocka_unit_test(test_mislabeled_numbers_are_quoted),
        cmocka_unit_test(test_limits_are_enforced),
        cmocka_unit_test(test_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
