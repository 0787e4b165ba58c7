/*
 * plugins/output/null - discards events, counting them. With `delay` it
 * sleeps per batch: a stand-in for a slow or stalled destination when
 * testing backpressure.
 * Thread: the output's worker thread.
 */
#include <stdlib.h>
#include <time.h>

#include <strata/strata.h>

static const strata_config_key null_keys[] = {
    {"delay", STRATA_CFG_DURATION, "0ms", 0,
     "Sleep this long per batch (simulates a slow output)."},
};

typedef struct out_null {
    const strata_host_api *h;
    int64_t delay_ms;
    strata_metric *events, *batches;
} out_null;

/* The plugin's init: its delay and metrics. */
static int null_init(strata_instance *inst, const strata_host_api *h, const strata_config *cfg,
                     void **state)
{
    out_null *o = calloc(1, sizeof *o);
    if (!o)
        return STRATA_ENOMEM;
    o->h = h;
    o->delay_ms = h->cfg_int(cfg, "delay");
    o->events = h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_null_events_total",
                              "Events discarded by the null output.", NULL, NULL, 0);
    o->batches = h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_null_batches_total",
                               "Batches discarded by the null output.", NULL, NULL, 0);
    *state = o;
    return STRATA_OK;
}

/* The plugin's reconfigure: nothing to change. */
static int null_reconfigure(void *state, const strata_config *cfg)
{
    out_null *o = state;
    o->delay_ms = o->h->cfg_int(cfg, "delay");
    return STRATA_OK;
}

/* The plugin's flush: wait delay_ms when configured (a slow output for tests), count the batch
 * and drop it. */
static int null_flush(void *state, const strata_batch *b)
{
    out_null *o = state;
    if (o->delay_ms > 0) {
        struct timespec ts = {o->delay_ms / 1000, (o->delay_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    o->h->metric_add(o->events, NULL, o->h->batch_count(b));
    o->h->metric_add(o->batches, NULL, 1);
    return STRATA_OK;
}

/* The plugin's destroy: free the state. */
static void null_destroy(void *state)
{
    free(state);
}

static const strata_plugin null_plugin = {
    STRATA_PLUGIN_HEADER,
    .name = "null",
    .kind = STRATA_KIND_OUTPUT,
    .version = "1.0.0",
    .description = "Discards events and counts them.",
    .config = null_keys,
    .config_count = sizeof null_keys / sizeof null_keys[0],
    .init = null_init,
    .reconfigure = null_reconfigure,
    .destroy = null_destroy,
    .flush = null_flush,
};

STRATA_PLUGIN_DEFINE(null_plugin)
