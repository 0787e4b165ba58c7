/*
 * tests/unit/test_metrics.c - plugin metric families render as valid
 * Prometheus text; instances share a family; a freed handle takes its
 * series away; bad names are refused.
 */
#include "test_util.h"

#include "metrics.h"
#include "strbuf.h"

static char *render(void)
{
    strbuf sb = {0};
    assert_int_equal(metrics_render(&sb), 0);
    return sb_steal(&sb);
}

static void test_counter_gauge_histogram_render(void **state)
{
    (void)state;
    char err[256];
    strata_metric *c = metrics_new(STRATA_METRIC_COUNTER, "t_events_total", "Events.",
                                   "instance=\"a\"", "tenant", NULL, 0, err, sizeof err);
    assert_non_null(c);
    metrics_add(c, "acme", 3);
    metrics_add(c, "acme", 2);
    metrics_add(c, "we\"ird", 1);
    strata_metric *g =
        metrics_new(STRATA_METRIC_GAUGE, "t_depth", "Depth.", "", NULL, NULL, 0, err, sizeof err);
    metrics_set(g, NULL, 7);
    double b[] = {0.001, 0.01, 0.1};
    strata_metric *h = metrics_new(STRATA_METRIC_HISTOGRAM, "t_latency_seconds", "Latency.",
                                   "instance=\"a\"", NULL, b, 3, err, sizeof err);
    metrics_observe(h, NULL, 0.005);
    metrics_observe(h, NULL, 0.5);
    char *text = render();
    assert_contains(text, "# TYPE t_events_total counter\n");
    assert_contains(text, "t_events_total{instance=\"a\",tenant=\"acme\"} 5\n");
    assert_contains(text, "t_events_total{instance=\"a\",tenant=\"we\\\"ird\"} 1\n");
    assert_contains(text, "t_depth 7\n");
    assert_contains(text, "t_latency_seconds_bucket{instance=\"a\",le=\"0.001\"} 0\n");
    assert_contains(text, "t_latency_seconds_bucket{instance=\"a\",le=\"0.01\"} 1\n");
    assert_contains(text, "t_latency_seconds_bucket{instance=\"a\",le=\"+Inf\"} 2\n");
    assert_contains(text, "t_latency_seconds_count{instance=\"a\"} 2\n");
    free(text);
    metrics_free(c);
    metrics_free(g);
    metrics_free(h);
    text = render();
    assert_null(strstr(text, "t_events_total"));
    free(text);
}

static void test_instances_share_a_family(void **state)
{
    (void)state;
    char err[256];
    strata_metric *a = metrics_new(STRATA_METRIC_COUNTER, "t_shared_total", "S.", "instance=\"a\"",
                                   NULL, NULL, 0, err, sizeof err);
    strata_metric *b = metrics_new(STRATA_METRIC_COUNTER, "t_shared_total", "S.", "instance=\"b\"",
                                   NULL, NULL, 0, err, sizeof err);
    metrics_add(a, NULL, 1);
    metrics_add(b, NULL, 2);
    char *text = render();
    const char *first = strstr(text, "# TYPE t_shared_total");
    assert_non_null(first);
    assert_null(strstr(first + 1, "# TYPE t_shared_total")); /* one family header */
    assert_contains(text, "t_shared_total{instance=\"a\"} 1");
    assert_contains(text, "t_shared_total{instance=\"b\"} 2");
    free(text);
    metrics_free(a);
    text = render();
    assert_null(strstr(text, "instance=\"a\""));
    assert_contains(text, "t_shared_total{instance=\"b\"} 2");
    free(text);
    metrics_free(b);
}

static void test_bad_definitions_are_refused(void **state)
{
    (void)state;
    char err[256];
    assert_null(
        metrics_new(STRATA_METRIC_COUNTER, "1bad", "x", "", NULL, NULL, 0, err, sizeof err));
    assert_contains(err, "not a valid Prometheus name");
    double b[] = {1, 0.5};
    assert_null(metrics_new(STRATA_METRIC_HISTOGRAM, "t_h", "x", "", NULL, b, 2, err, sizeof err));
    assert_contains(err, "must ascend");
    strata_metric *m =
        metrics_new(STRATA_METRIC_COUNTER, "t_x", "x", "", NULL, NULL, 0, err, sizeof err);
    assert_null(metrics_new(STRATA_METRIC_GAUGE, "t_x", "x", "", NULL, NULL, 0, err, sizeof err));
    assert_contains(err, "already exists");
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_gauge_histogram_render),
        cmocka_unit_test(test_instances_share_a_family),
        cmocka_unit_test(test_bad_definitions_are_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_shutdown();
    return rc;
}
