/*
 * tests/unit/test_metrics.c - plugin metric families render as valid
 * Prometheus text; instances share a family; a freed handle takes its
 * series away; bad names are refused.
 */
#include "test_util.h"

#include "core_limits.h"
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

/* A family of several labels renders every label of a series, in the
 * order of its names; a single-label update on it fills the first; it is
 * joined only with the same names; bad label lists are refused; a family
 * stops at METRICS_MAX_SERIES series, so values taken from requests cannot
 * grow /metrics without bound. */
static void test_several_labels(void **state)
{
    (void)state;
    char err[256];
    const char *names[] = {"tenant", "reason"};
    strata_metric *m = metrics_new_labels(STRATA_METRIC_COUNTER, "t_rejected_total", "R.",
                                          "instance=\"a\"", names, 2, NULL, 0, err, sizeof err);
    assert_non_null(m);
    metrics_add_labels(m, (const char *[]){"acme", "msg"}, 2);
    metrics_add_labels(m, (const char *[]){"acme", "msg"}, 1);
    metrics_add_labels(m, (const char *[]){"acme", "level"}, 1);
    metrics_add_labels(m, (const char *[]){"other", NULL}, 4);
    metrics_add(m, "solo", 1);
    const char *hnames[] = {"kind", "tenant"};
    double b[] = {1, 10};
    strata_metric *h = metrics_new_labels(STRATA_METRIC_HISTOGRAM, "t_size", "S.", "", hnames, 2, b,
                                          2, err, sizeof err);
    assert_non_null(h);
    metrics_observe_labels(h, (const char *[]){"search", "acme"}, 5);
    metrics_set_labels(h, (const char *[]){"search", "acme"}, 99); /* a histogram is observed */
    metrics_add_labels(h, (const char *[]){"search", "acme"}, 99);
    char *text = render();
    assert_contains(text, "t_rejected_total{instance=\"a\",tenant=\"acme\",reason=\"msg\"} 3\n");
    assert_contains(text, "t_rejected_total{instance=\"a\",tenant=\"acme\",reason=\"level\"} 1\n");
    assert_contains(text, "t_rejected_total{instance=\"a\",tenant=\"other\",reason=\"\"} 4\n");
    assert_contains(text, "t_rejected_total{instance=\"a\",tenant=\"solo\",reason=\"\"} 1\n");
    assert_contains(text, "t_size_bucket{kind=\"search\",tenant=\"acme\",le=\"10\"} 1\n");
    assert_contains(text, "t_size_sum{kind=\"search\",tenant=\"acme\"} 5\n");
    free(text);
    /* joined with the same names only */
    const char *swapped[] = {"reason", "tenant"};
    assert_null(metrics_new_labels(STRATA_METRIC_COUNTER, "t_rejected_total", "R.", "", swapped, 2,
                                   NULL, 0, err, sizeof err));
    assert_contains(err, "another type or labels");
    strata_metric *again = metrics_new_labels(STRATA_METRIC_COUNTER, "t_rejected_total", "R.",
                                              "instance=\"b\"", names, 2, NULL, 0, err, sizeof err);
    assert_non_null(again);
    metrics_free(again);
    /* refused: a label twice, too many, an invalid or reserved name */
    const char *twice[] = {"tenant", "tenant"};
    assert_null(metrics_new_labels(STRATA_METRIC_COUNTER, "t_a", "x", "", twice, 2, NULL, 0, err,
                                   sizeof err));
    assert_contains(err, "names label 'tenant' twice");
    const char *many[METRICS_MAX_LABELS + 1];
    char buf[METRICS_MAX_LABELS + 1][8];
    for (int i = 0; i <= METRICS_MAX_LABELS; i++) {
        snprintf(buf[i], sizeof buf[i], "l%d", i);
        many[i] = buf[i];
    }
    assert_null(metrics_new_labels(STRATA_METRIC_COUNTER, "t_a", "x", "", many,
                                   METRICS_MAX_LABELS + 1, NULL, 0, err, sizeof err));
    assert_contains(err, "at most");
    const char *bad[] = {"ok", "2x"}, *dunder[] = {"__name__"};
    assert_null(metrics_new_labels(STRATA_METRIC_COUNTER, "t_a", "x", "", bad, 2, NULL, 0, err,
                                   sizeof err));
    assert_contains(err, "label name '2x'");
    assert_null(metrics_new_labels(STRATA_METRIC_COUNTER, "t_a", "x", "", dunder, 1, NULL, 0, err,
                                   sizeof err));
    /* the series cap */
    for (unsigned i = 0; i < METRICS_MAX_SERIES + 50; i++) {
        char v[16];
        snprintf(v, sizeof v, "t%u", i);
        metrics_add_labels(m, (const char *[]){v, "x"}, 1);
    }
    text = render();
    size_t series = 0;
    for (const char *p = text; (p = strstr(p, "\nt_rejected_total{")); p++)
        series++;
    assert_int_equal(series, METRICS_MAX_SERIES);
    free(text);
    metrics_free(m);
    metrics_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_gauge_histogram_render),
        cmocka_unit_test(test_instances_share_a_family),
        cmocka_unit_test(test_bad_definitions_are_refused),
        cmocka_unit_test(test_several_labels),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_shutdown();
    return rc;
}
