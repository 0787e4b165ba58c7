/*
 * plugins/input/dummy - generates events at a configured rate from a
 * template; the workhorse of tests and benchmarks.
 *
 * Every event carries meta.seq (0, 1, 2, ...) so a test can check that each
 * one arrived exactly once. With rate 0 it produces as fast as the pipeline
 * accepts, pausing when emit() reports backpressure.
 * Thread: the loop thread (a timer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <strata/strata.h>

/* Batches produced per timer tick at rate 0: amortises the tick without
 * holding the loop for more than a few milliseconds. */
#define DUMMY_BATCHES_PER_TICK 8
/* Tick period when rate-limited: 10 ms keeps bursts small at any rate. */
#define DUMMY_TICK_S 0.01
/* Longest message after template expansion. */
#define DUMMY_MAX_MSG 65536
/* Meta entries from the config, plus seq. */
#define DUMMY_MAX_META 64

static const strata_config_key dummy_keys[] = {
    {"rate", STRATA_CFG_DOUBLE, "10", 0,
     "Events per second; 0 means as fast as the pipeline takes them."},
    {"total", STRATA_CFG_INT, "0", 0, "Stop after this many events; 0 means never stop."},
    {"batch_size", STRATA_CFG_INT, "1000", 0, "Most events per emitted batch."},
    {"message", STRATA_CFG_STRING, "dummy event {seq}", 0,
     "msg template; {seq} becomes the sequence number."},
    {"service", STRATA_CFG_STRING, "dummy", 0, "service field of every event."},
    {"host", STRATA_CFG_STRING, NULL, 0, "host field; defaults to this machine's hostname."},
    {"level", STRATA_CFG_STRING, "INFO", 0, "level: TRACE, DEBUG, INFO, WARN, ERROR or FATAL."},
    {"tenant", STRATA_CFG_STRING, "default", 0, "tenant field of every event."},
    {"meta", STRATA_CFG_MAP, NULL, 0, "Extra meta key/values added to every event (strings)."},
};

/* The rule of `level`: a level name, in any case. */
static const char *check_level(const char *v)
{
    return strata_level_parse(v, strlen(v)) < 0
               ? "must be TRACE, DEBUG, INFO, WARN, ERROR or FATAL (any case)"
               : NULL;
}

static const strata_config_rule dummy_rules[] = {
    {.key = "rate", .min = "0"},
    {.key = "total", .min = "0"},
    {.key = "batch_size", .min = "1", .max = "1000000"}, /* BATCH_MAX_EVENTS */
    {.key = "level", .check = check_level},
};

typedef struct dummy {
    strata_instance *inst;
    const strata_host_api *h;
    double rate;
    int64_t total, batch_size, seq;
    char *tmpl_pre, *tmpl_post; /* message split around {seq} */
    int has_seq;
    char service[256], host[256], tenant[256];
    int level;
    strata_kv meta[DUMMY_MAX_META];
    uint32_t nmeta;
    char seqbuf[32];
    char *msgbuf;
    double budget;
    int64_t last_ns;
    strata_timer *timer;
    strata_batch *pending; /* built but refused by backpressure */
    int paused;
} dummy;

/* The plugin's init: the event it repeats, its rate and its total. */
static int dummy_init(strata_instance *inst, const strata_host_api *h, const strata_config *cfg,
                      void **state)
{
    dummy *d = calloc(1, sizeof *d);
    if (!d)
        return STRATA_ENOMEM;
    d->inst = inst;
    d->h = h;
    d->rate = h->cfg_double(cfg, "rate");
    d->total = h->cfg_int(cfg, "total");
    d->batch_size = h->cfg_int(cfg, "batch_size");
    if (d->rate < 0 || d->total < 0 || d->batch_size < 1 || d->batch_size > 100000) {
        h->set_error(inst, "rate and total must be >= 0 and batch_size 1..100000");
        free(d);
        return STRATA_EINVAL;
    }
    const char *msg = h->cfg_str(cfg, "message");
    const char *at = strstr(msg, "{seq}");
    d->has_seq = at != NULL;
    d->tmpl_pre = at ? strndup(msg, (size_t)(at - msg)) : strdup(msg);
    d->tmpl_post = strdup(at ? at + 5 : "");
    d->msgbuf = malloc(DUMMY_MAX_MSG);
    if (!d->tmpl_pre || !d->tmpl_post || !d->msgbuf) {
        free(d->tmpl_pre);
        free(d->tmpl_post);
        free(d->msgbuf);
        free(d);
        return STRATA_ENOMEM;
    }
    snprintf(d->service, sizeof d->service, "%s", h->cfg_str(cfg, "service"));
    snprintf(d->tenant, sizeof d->tenant, "%s", h->cfg_str(cfg, "tenant"));
    const char *host = h->cfg_str(cfg, "host");
    if (host)
        snprintf(d->host, sizeof d->host, "%s", host);
    else if (gethostname(d->host, sizeof d->host - 1) != 0)
        snprintf(d->host, sizeof d->host, "localhost");
    d->level = strata_level_parse(h->cfg_str(cfg, "level"), strlen(h->cfg_str(cfg, "level")));
    if (d->level < 0) {
        h->set_error(inst, "level '%s' is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL",
                     h->cfg_str(cfg, "level"));
        free(d->tmpl_pre);
        free(d->tmpl_post);
        free(d->msgbuf);
        free(d);
        return STRATA_EINVAL;
    }
    uint32_t nm = h->cfg_map_len(cfg, "meta");
    for (uint32_t i = 0; i < nm && d->nmeta < DUMMY_MAX_META - 1; i++) {
        const char *k, *v;
        if (h->cfg_map_at(cfg, "meta", i, &k, &v) == STRATA_OK) {
            d->meta[d->nmeta].key = strata_cstr(k); /* borrowed from cfg: lives as long as us */
            d->meta[d->nmeta].value = strata_cstr(v);
            d->meta[d->nmeta].type = STRATA_VALUE_STRING;
            d->nmeta++;
        }
    }
    d->meta[d->nmeta].key = strata_cstr("seq");
    d->meta[d->nmeta].type = STRATA_VALUE_INT;
    *state = d;
    return STRATA_OK;
}

/* Build up to n events into a new batch. */
static strata_batch *build(dummy *d, int64_t n)
{
    strata_batch *b = d->h->batch_new(d->inst, NULL);
    if (!b)
        return NULL;
    strata_event ev;
    strata_event_init(&ev);
    int64_t now = d->h->now_ns();
    ev.ingest_ts_ns = now;
    ev.event_ts_ns = now;
    ev.level = (uint8_t)d->level;
    ev.tenant = strata_cstr(d->tenant);
    ev.service = strata_cstr(d->service);
    ev.host = strata_cstr(d->host);
    ev.meta = d->meta;
    ev.meta_count = d->nmeta + 1;
    size_t pre = strlen(d->tmpl_pre), post = strlen(d->tmpl_post);
    for (int64_t i = 0; i < n; i++) {
        int sl = snprintf(d->seqbuf, sizeof d->seqbuf, "%lld", (long long)d->seq);
        d->meta[d->nmeta].value.ptr = d->seqbuf;
        d->meta[d->nmeta].value.len = (uint32_t)sl;
        if (d->has_seq && pre + (size_t)sl + post < DUMMY_MAX_MSG) {
            memcpy(d->msgbuf, d->tmpl_pre, pre);
            memcpy(d->msgbuf + pre, d->seqbuf, (size_t)sl);
            memcpy(d->msgbuf + pre + (size_t)sl, d->tmpl_post, post);
            ev.msg.ptr = d->msgbuf;
            ev.msg.len = (uint32_t)(pre + (size_t)sl + post);
        } else {
            ev.msg = strata_cstr(d->tmpl_pre);
        }
        if (d->h->batch_append(b, &ev) != STRATA_OK)
            break;
        d->seq++;
    }
    return b;
}

/* Emit the pending batch; returns 0 if it went, -1 if backpressure. */
static int flush_pending(dummy *d)
{
    if (!d->pending)
        return 0;
    int rc = d->h->emit(d->inst, d->pending, NULL, NULL);
    if (rc == STRATA_EAGAIN) {
        d->paused = 1;
        d->h->timer_stop(d->timer);
        d->timer = NULL;
        return -1;
    }
    if (rc != STRATA_OK)
        d->h->batch_free(d->pending); /* not taken: ours to free */
    d->pending = NULL;
    return 0;
}

/* Events still to emit (total: 0 means without end). */
static int64_t remaining(dummy *d)
{
    return d->total ? d->total - d->seq : INT64_MAX;
}

/* The timer: emit this tick's events (the rate's budget, or full batches), after any batch the
 * pipeline refused. */
static void tick(void *arg)
{
    dummy *d = arg;
    if (flush_pending(d) != 0)
        return;
    int64_t want;
    if (d->rate > 0) {
        int64_t now = d->h->now_ns();
        d->budget += d->rate * (double)(now - d->last_ns) / 1e9;
        d->last_ns = now;
        if (d->budget > d->rate) /* never burst more than one second's worth */
            d->budget = d->rate;
        want = (int64_t)d->budget;
    } else {
        want = d->batch_size * DUMMY_BATCHES_PER_TICK;
    }
    if (want > remaining(d))
        want = remaining(d);
    while (want > 0) {
        int64_t n = want < d->batch_size ? want : d->batch_size;
        d->pending = build(d, n);
        if (!d->pending)
            return;
        want -= n;
        if (d->rate > 0)
            d->budget -= (double)n;
        if (flush_pending(d) != 0)
            return;
    }
    if (remaining(d) <= 0 && d->timer) {
        d->h->log(d->inst, STRATA_LOG_INFO, "generated all %lld events", (long long)d->total);
        d->h->timer_stop(d->timer);
        d->timer = NULL;
    }
}

/* Start the timer unless it runs already or every event is out. */
static void arm(dummy *d)
{
    if (d->timer || remaining(d) <= 0)
        return;
    d->last_ns = d->h->now_ns();
    double period = d->rate > 0 ? DUMMY_TICK_S : 1e-6;
    d->timer = d->h->timer_start(d->inst, 0.0, period, tick, d);
}

/* The plugin's start: arm the timer. */
static int dummy_start(void *state)
{
    dummy *d = state;
    arm(d);
    return d->timer || remaining(d) <= 0 ? STRATA_OK : STRATA_ENOMEM;
}

/* The plugin's resume: the pipeline has room again, re-arm. */
static void dummy_resume(void *state)
{
    dummy *d = state;
    if (!d->paused)
        return;
    d->paused = 0;
    if (flush_pending(d) == 0)
        arm(d);
}

/* The plugin's stop: stop the timer. */
static void dummy_stop(void *state)
{
    dummy *d = state;
    d->h->timer_stop(d->timer);
    d->timer = NULL;
}

/* The plugin's destroy: free the state and any batch not emitted. */
static void dummy_destroy(void *state)
{
    dummy *d = state;
    if (d->pending)
        d->h->batch_free(d->pending);
    free(d->tmpl_pre);
    free(d->tmpl_post);
    free(d->msgbuf);
    free(d);
}

static const strata_plugin dummy_plugin = {
    STRATA_PLUGIN_HEADER,
    .name = "dummy",
    .kind = STRATA_KIND_INPUT,
    .version = "1.0.0",
    .description = "Generates events from a template at a configured rate.",
    .config = dummy_keys,
    .config_count = sizeof dummy_keys / sizeof dummy_keys[0],
    .config_rules = dummy_rules,
    .config_rule_count = sizeof dummy_rules / sizeof dummy_rules[0],
    .init = dummy_init,
    .start = dummy_start,
    .stop = dummy_stop,
    .destroy = dummy_destroy,
    .resume = dummy_resume,
};

STRATA_PLUGIN_DEFINE(dummy_plugin)
