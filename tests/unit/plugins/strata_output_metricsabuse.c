/* A test output that tries to register the host's metric names and labels
 * (which the host must refuse, keeping /metrics valid exposition) and one
 * family of its own without a label (which must show at 0 before any
 * event), and one with two labels (2 at init). Gauge metricsabuse_refused says how many
 * registrations failed. */
#include <stdlib.h>
#include <strata/strata.h>

typedef struct abuse {
    const strata_host_api *h;
    strata_metric *flushed, *by_two;
} abuse;

static int i_(strata_instance *i, const strata_host_api *h, const strata_config *c, void **s)
{
    (void)c;
    abuse *a = calloc(1, sizeof *a);
    if (!a)
        return STRATA_ENOMEM;
    a->h = h;
    static const double b[] = {1, 2};
    int refused = 0;
    /* the host's families, its label names, Prometheus' own */
    refused += !h->metric_new(i, STRATA_METRIC_COUNTER, "strata_events_in_total", "x", NULL, 0, 0);
    refused += !h->metric_new(i, STRATA_METRIC_GAUGE, "strata_wal_bytes", "x", NULL, 0, 0);
    refused += !h->metric_new(i, STRATA_METRIC_GAUGE, "strata_uptime_seconds", "x", NULL, 0, 0);
    refused +=
        !h->metric_new(i, STRATA_METRIC_COUNTER, "metricsabuse_a_total", "x", "instance", 0, 0);
    refused +=
        !h->metric_new(i, STRATA_METRIC_COUNTER, "metricsabuse_b_total", "x", "pipeline", 0, 0);
    refused += !h->metric_new(i, STRATA_METRIC_HISTOGRAM, "metricsabuse_c", "x", "le", b, 2);
    /* several labels (ABI 1.5): a host label among them, a label twice */
    static const char *const with_host[] = {"tenant", "kind"}, *const twice[] = {"a", "a"};
    refused += !h->metric_new_labels(i, STRATA_METRIC_COUNTER, "metricsabuse_d_total", "x",
                                     with_host, 2, 0, 0);
    refused += !h->metric_new_labels(i, STRATA_METRIC_COUNTER, "metricsabuse_e_total", "x", twice,
                                     2, 0, 0);
    /* and one of its own with two labels, fed on flush */
    static const char *const two[] = {"tenant", "reason"};
    a->by_two = h->metric_new_labels(i, STRATA_METRIC_COUNTER, "metricsabuse_two_total",
                                     "Registrations by tenant and reason.", two, 2, 0, 0);
    h->metric_add_labels(a->by_two, (const char *[]){"t1", "because"}, 1);
    h->metric_add_labels(a->by_two, (const char *[]){"t1", "because"}, 1);
    a->flushed = h->metric_new(i, STRATA_METRIC_COUNTER, "metricsabuse_flushed_total",
                               "Batches flushed.", NULL, 0, 0);
    strata_metric *g =
        h->metric_new(i, STRATA_METRIC_GAUGE, "metricsabuse_refused", "Refused.", NULL, 0, 0);
    h->metric_set(g, NULL, refused);
    *s = a;
    return STRATA_OK;
}
static void d_(void *s)
{
    free(s);
}
static int f_(void *s, const strata_batch *b)
{
    (void)b;
    abuse *a = s;
    a->h->metric_add(a->flushed, NULL, 1);
    return STRATA_OK;
}

static const strata_plugin p = {
    STRATA_PLUGIN_HEADER,
    .name = "metricsabuse",
    .kind = STRATA_KIND_OUTPUT,
    .version = "1",
    .description = "registers the host's metric names on purpose",
    .init = i_,
    .destroy = d_,
    .flush = f_,
};
STRATA_PLUGIN_DEFINE(p)
