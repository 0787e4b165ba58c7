/*
 * plugins/filter/quota - per-tenant token buckets on events/s and bytes/s.
 *
 * Each tenant (the tenant of a batch's first event: inputs emit one tenant
 * per batch, the ingest API always does) has two buckets that refill at
 * the configured rates and hold `burst` seconds' worth. A batch that would
 * overdraw either is refused whole with STRATA_EQUOTA: the input keeps it
 * and (the ingest API) answers 429 with Retry-After. Other tenants' buckets
 * are untouched, so a noisy tenant cannot starve the rest.
 * Thread: the emitting thread (the host serialises calls per instance).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <strata/strata.h>

/* Tenants tracked; past this the least recently seen bucket is reused. */
#define QUOTA_MAX_TENANTS 4096

static const strata_config_key quota_keys[] = {
    {"events_per_second", STRATA_CFG_DOUBLE, "50000", 0, "Sustained events/s per tenant."},
    {"bytes_per_second", STRATA_CFG_SIZE, "64MiB", 0, "Sustained encoded bytes/s per tenant."},
    {"burst", STRATA_CFG_DURATION, "2s", 0,
     "Bucket depth: how many seconds of rate a tenant may spend at once."},
    {"tenants", STRATA_CFG_MAP, NULL, 0, "Per-tenant events/s overrides, e.g. {acme: 200000}."},
};

typedef struct bucket {
    char tenant[128];
    double ev_rate, ev_tokens, by_tokens;
    int64_t last_ns;
} bucket;

typedef struct quota {
    strata_instance *inst;
    const strata_host_api *h;
    double ev_rate, by_rate, burst_s;
    char (*ov_name)[128];
    double *ov_rate;
    uint32_t nov;
    bucket *b;
    uint32_t nb;
    strata_metric *rejected_events, *rejected_batches;
} quota;

/* Free the per-tenant overrides. */
static void free_overrides(quota *q)
{
    free(q->ov_name);
    free(q->ov_rate);
    q->ov_name = NULL;
    q->ov_rate = NULL;
    q->nov = 0;
}

/* Read the rates, bursts and per-tenant overrides from the config; -1 with an error when one is
 * out of range. */
static int load(quota *q, const strata_config *cfg)
{
    const strata_host_api *h = q->h;
    double ev = h->cfg_double(cfg, "events_per_second");
    double by = (double)h->cfg_int(cfg, "bytes_per_second");
    double burst = (double)h->cfg_int(cfg, "burst") / 1000.0;
    if (ev <= 0 || by <= 0 || burst <= 0) {
        h->set_error(q->inst, "events_per_second, bytes_per_second and burst must be positive");
        return STRATA_EINVAL;
    }
    uint32_t n = h->cfg_map_len(cfg, "tenants");
    char(*names)[128] = calloc(n ? n : 1, sizeof *names);
    double *rates = calloc(n ? n : 1, sizeof *rates);
    if (!names || !rates) {
        free(names);
        free(rates);
        return STRATA_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *k, *v;
        h->cfg_map_at(cfg, "tenants", i, &k, &v);
        char *end;
        rates[i] = strtod(v, &end);
        if (end == v || *end || rates[i] <= 0) {
            h->set_error(q->inst, "tenants.%s must be a positive events/s number, got '%s'", k, v);
            free(names);
            free(rates);
            return STRATA_EINVAL;
        }
        snprintf(names[i], sizeof names[i], "%s", k);
    }
    free_overrides(q);
    q->ev_rate = ev;
    q->by_rate = by;
    q->burst_s = burst;
    q->ov_name = names;
    q->ov_rate = rates;
    q->nov = n;
    for (uint32_t i = 0; i < q->nb; i++)
        q->b[i].ev_rate = 0; /* re-resolve each tenant's rate */
    return STRATA_OK;
}

/* The plugin's init: the per-tenant limits and the refusal metrics. */
static int quota_init(strata_instance *inst, const strata_host_api *h, const strata_config *cfg,
                      void **state)
{
    if (!STRATA_HOST_HAS(h, auth_check)) {
        h->set_error(inst, "quota needs a Strata host with plugin ABI 1.1 or later");
        return STRATA_EINVAL;
    }
    quota *q = calloc(1, sizeof *q);
    if (!q)
        return STRATA_ENOMEM;
    q->inst = inst;
    q->h = h;
    q->b = calloc(QUOTA_MAX_TENANTS, sizeof *q->b);
    int rc = q->b ? load(q, cfg) : STRATA_ENOMEM;
    if (rc != STRATA_OK) {
        free(q->b);
        free(q);
        return rc;
    }
    q->rejected_events =
        h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_quota_rejected_events_total",
                      "Events refused by a tenant's quota.", "tenant", NULL, 0);
    q->rejected_batches =
        h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_quota_rejected_batches_total",
                      "Batches refused by a tenant's quota.", "tenant", NULL, 0);
    *state = q;
    return STRATA_OK;
}

/* The plugin's reconfigure: new rates apply from the next batch. */
static int quota_reconfigure(void *state, const strata_config *cfg)
{
    return load(state, cfg);
}

/* A tenant's token bucket, created full on first use; past QUOTA_MAX_TENANTS the least recently
 * used is reused. */
static bucket *find(quota *q, strata_str tenant, int64_t now)
{
    uint32_t oldest = 0;
    for (uint32_t i = 0; i < q->nb; i++) {
        if (strlen(q->b[i].tenant) == tenant.len && !memcmp(q->b[i].tenant, tenant.ptr, tenant.len))
            return &q->b[i];
        if (q->b[i].last_ns < q->b[oldest].last_ns)
            oldest = i;
    }
    bucket *b = q->nb < QUOTA_MAX_TENANTS ? &q->b[q->nb++] : &q->b[oldest];
    memset(b, 0, sizeof *b);
    snprintf(b->tenant, sizeof b->tenant, "%.*s", (int)(tenant.len < 127 ? tenant.len : 127),
             tenant.ptr);
    b->last_ns = now;
    b->ev_tokens = -1; /* full on first use, below */
    return b;
}

/* The plugin's process: take a batch's events and bytes from its tenant's buckets, or refuse it
 * whole (STRATA_EQUOTA, 429 to the client). */
static int quota_process(void *state, strata_batch *in, strata_batch **out)
{
    quota *q = state;
    *out = in;
    uint32_t n = q->h->batch_count(in);
    if (!n)
        return STRATA_OK;
    strata_event ev;
    q->h->batch_event(in, 0, &ev, NULL, 0);
    int64_t now = q->h->now_ns();
    bucket *b = find(q, ev.tenant, now);
    if (b->ev_rate == 0) {
        b->ev_rate = q->ev_rate;
        for (uint32_t i = 0; i < q->nov; i++)
            if (!strcmp(q->ov_name[i], b->tenant))
                b->ev_rate = q->ov_rate[i];
    }
    double ev_cap = b->ev_rate * q->burst_s, by_cap = q->by_rate * q->burst_s;
    if (b->ev_tokens < 0) {
        b->ev_tokens = ev_cap;
        b->by_tokens = by_cap;
    }
    double dt = (double)(now - b->last_ns) / 1e9;
    b->last_ns = now;
    if (dt > 0) {
        b->ev_tokens =
            b->ev_tokens + dt * b->ev_rate < ev_cap ? b->ev_tokens + dt * b->ev_rate : ev_cap;
        b->by_tokens =
            b->by_tokens + dt * q->by_rate < by_cap ? b->by_tokens + dt * q->by_rate : by_cap;
    }
    double bytes = (double)q->h->batch_bytes(in);
    if (b->ev_tokens < n || b->by_tokens < bytes) {
        q->h->metric_add(q->rejected_events, b->tenant, n);
        q->h->metric_add(q->rejected_batches, b->tenant, 1);
        return STRATA_EQUOTA;
    }
    b->ev_tokens -= n;
    b->by_tokens -= bytes;
    return STRATA_OK;
}

/* The plugin's destroy: free the buckets and overrides. */
static void quota_destroy(void *state)
{
    quota *q = state;
    free_overrides(q);
    free(q->b);
    free(q);
}

static const strata_plugin quota_plugin = {
    STRATA_PLUGIN_HEADER,
    .name = "quota",
    .kind = STRATA_KIND_FILTER,
    .version = "1.0.0",
    .description = "Per-tenant token buckets on events/s and bytes/s; refuses batches past them.",
    .config = quota_keys,
    .config_count = sizeof quota_keys / sizeof quota_keys[0],
    .init = quota_init,
    .reconfigure = quota_reconfigure,
    .destroy = quota_destroy,
    .process = quota_process,
};

STRATA_PLUGIN_DEFINE(quota_plugin)
