/*
 * tests/unit/test_routing.c - tag routing and backpressure, in process
 * with the real engine and real plugins:
 *   - tag patterns select filters and outputs like Fluent Bit's Match;
 *   - a slow output pauses its input instead of growing memory: its queue
 *     never holds more than its bound plus one batch, and every event
 *     still arrives;
 *   - transient output failures are retried; exhausted retries are counted
 *     as dropped, never silent.
 */
#include "test_util.h"

#include <ev.h>

#include "config.h"
#include "engine.h"
#include "loader.h"

static void test_tag_patterns(void **state)
{
    (void)state;
    assert_true(route_match("*", "anything"));
    assert_true(route_match("", "anything"));
    assert_true(route_match("app.*", "app.web"));
    assert_false(route_match("app.*", "db.main"));
    assert_true(route_match("app.?eb", "app.web"));
    assert_true(route_match("*.web", "app.web"));
    assert_false(route_match("app.web", "app.web2"));
}

/* ---- a little harness: run a config until `done` says so ---------------- */

/* Counters of one instance, copied when the run is done (the engine frees
 * its instances on shutdown). */
typedef struct snap {
    char name[64];
    unsigned long long in, out, dropped, errors;
} snap;

typedef struct run {
    snap snaps[16];
    int nsnaps;
    char *dir, *path;
    engine *eng;
    int (*done)(struct run *);
    int64_t max_q; /* largest queue depth seen on the watched output */
    int saw_pause;
    const char *watch; /* output instance name to watch */
    double deadline;
    int timed_out;
} run;

static instance *find(engine *eng, const char *name)
{
    graph *g = eng->current;
    for (size_t i = 0; g && i < g->npipes; i++) {
        pipeline *p = &g->pipes[i];
        instance **lists[3] = {p->inputs, p->filters, p->outputs};
        size_t ns[3] = {p->n_in, p->n_f, p->n_out};
        for (int l = 0; l < 3; l++)
            for (size_t k = 0; k < ns[l]; k++)
                if (!strcmp(lists[l][k]->name, name))
                    return lists[l][k];
    }
    return NULL;
}

static void on_sample(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    run *r = w->data;
    if (r->eng->shutting_down)
        return;
    instance *o = r->watch ? find(r->eng, r->watch) : NULL;
    if (o) {
        int64_t q = atomic_load(&o->q_events);
        if (q > r->max_q)
            r->max_q = q;
    }
    instance *in = find(r->eng, "gen");
    if (in && atomic_load(&in->paused))
        r->saw_pause = 1;
    if (ev_now(loop) > r->deadline)
        r->timed_out = 1;
    if (r->timed_out || r->done(r)) {
        graph *g = r->eng->current;
        for (size_t i = 0; i < g->npipes; i++) {
            pipeline *p = &g->pipes[i];
            instance **lists[3] = {p->inputs, p->filters, p->outputs};
            size_t ns[3] = {p->n_in, p->n_f, p->n_out};
            for (int l = 0; l < 3; l++)
                for (size_t k = 0; k < ns[l] && r->nsnaps < 16; k++) {
                    instance *x = lists[l][k];
                    snap *sn = &r->snaps[r->nsnaps++];
                    snprintf(sn->name, sizeof sn->name, "%s", x->name);
                    sn->in = atomic_load(&x->events_in);
                    sn->out = atomic_load(&x->events_out);
                    sn->dropped = atomic_load(&x->events_dropped);
                    sn->errors = atomic_load(&x->errors);
                }
        }
        engine_shutdown(r->eng);
    }
}

static const snap *S(run *r, const char *name)
{
    for (int i = 0; i < r->nsnaps; i++)
        if (!strcmp(r->snaps[i].name, name))
            return &r->snaps[i];
    print_error("no instance %s\n", name);
    fail();
    return NULL;
}

static void run_config(const char *yaml, run *r)
{
    char *dir = r->dir = tmpdir_new();
    char *path = r->path = write_file(dir, "p.yaml", yaml);
    loader *ld = loader_new("/proc/self/exe");
    cfg_errors e = {0};
    config *cfg = NULL;
    if (config_load(path, ld, &cfg, &e) != 0) {
        char *m = cfg_errors_join(&e);
        print_error("%s", m);
        free(m);
        fail();
    }
    struct ev_loop *loop = ev_default_loop(0); /* signals live on the default loop */
    r->eng = engine_new(loop, ld, cfg, path);
    assert_non_null(r->eng);
    free(r->eng->data_dir);
    r->eng->data_dir = strdup(dir);
    assert_int_equal(engine_start(r->eng), 0);
    r->deadline = ev_now(loop) + 60;
    ev_timer t;
    ev_timer_init(&t, on_sample, 0.001, 0.001);
    t.data = r;
    ev_timer_start(loop, &t);
    engine_run(r->eng);
    ev_timer_stop(loop, &t);
}

static void run_free(run *r)
{
    loader *ld = r->eng->ld;
    engine_free(r->eng);
    loader_free(ld);
    rm_rf(r->dir);
    free(r->dir);
    free(r->path);
}

static unsigned long long out_of(engine *eng, const char *name)
{
    instance *o = find(eng, name);
    return o ? atomic_load(&o->events_out) : 0;
}

/* Both inputs generated everything and every batch was acknowledged. */
static int all_delivered(run *r)
{
    instance *a = find(r->eng, "gen"), *b = find(r->eng, "gen2");
    return atomic_load(&a->events_out) == 20000 && atomic_load(&b->events_out) == 5000 &&
           atomic_load(&a->inflight) == 0 && atomic_load(&b->inflight) == 0;
}

static void test_routes_follow_tags(void **state)
{
    (void)state;
    run r = {0};
    r.done = all_delivered;
    run_config("service: {http_listen: ''}\n"
               "pipelines:\n"
               "  - name: p\n"
               "    inputs:\n"
               "      - {plugin: dummy, name: gen, rate: 0, total: 20000, tag: app.web}\n"
               "      - {plugin: dummy, name: gen2, rate: 0, total: 5000, tag: db.main}\n"
               "    filters:\n"
               "      - {plugin: grep, name: onlyweb, match: 'app.*', regex: 'event 1'}\n"
               "    outputs:\n"
               "      - {plugin: null, name: sink, match: '*'}\n"
               "      - {plugin: null, name: other, match: 'db.*'}\n",
               &r);
    assert_false(r.timed_out);
    /* the grep filter saw only app.web events and kept those with "event 1" */
    assert_int_equal(S(&r, "onlyweb")->in, 20000);
    unsigned long long kept = S(&r, "onlyweb")->out;
    assert_true(kept > 0 && kept < 20000);
    /* sink got the kept web events plus every db event; other only db */
    assert_int_equal(S(&r, "sink")->out, kept + 5000);
    assert_int_equal(S(&r, "other")->out, 5000);
    assert_int_equal(S(&r, "sink")->dropped, 0);
    run_free(&r);
}

static int slow_done(run *r)
{
    instance *in = find(r->eng, "gen");
    return out_of(r->eng, "slow") >= 30000 && atomic_load(&in->inflight) == 0;
}

static void test_slow_output_pauses_input_within_bounds(void **state)
{
    (void)state;
    run r = {0};
    r.done = slow_done;
    r.watch = "slow";
    run_config("service: {http_listen: ''}\n"
               "pipelines:\n"
               "  - name: p\n"
               "    inputs:\n"
               "      - {plugin: dummy, name: gen, rate: 0, total: 30000, batch_size: 500}\n"
               "    outputs:\n"
               "      - {plugin: null, name: slow, delay: 2ms, queue_max_events: 2000}\n",
               &r);
    assert_false(r.timed_out);
    assert_true(r.saw_pause);
    /* bound + at most one batch admitted before the bound was seen */
    assert_true(r.max_q <= 2000 + 500);
    assert_int_equal(S(&r, "slow")->out, 30000);
    assert_int_equal(S(&r, "slow")->dropped, 0);
    run_free(&r);
}

static int flaky_done(run *r)
{
    instance *a = find(r->eng, "flaky"), *b = find(r->eng, "broken");
    return atomic_load(&a->events_out) >= 3000 && atomic_load(&b->events_dropped) >= 3000;
}

static void test_retries_then_counted_drops(void **state)
{
    (void)state;
    run r = {0};
    r.done = flaky_done;
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "service: {http_listen: '', plugins_dir: ['%s']}\n"
             "pipelines:\n"
             "  - name: p\n"
             "    inputs:\n"
             "      - {plugin: dummy, name: gen, rate: 0, total: 3000, batch_size: 1000}\n"
             "    outputs:\n"
             "      - {plugin: flaky, name: flaky, fail_times: 2, retry_limit: 3}\n"
             "      - {plugin: flaky, name: broken, always_fail: true, retry_limit: 1}\n",
             getenv("STRATA_TEST_PLUGINS"));
    run_config(yaml, &r);
    assert_false(r.timed_out);
    assert_int_equal(S(&r, "flaky")->out, 3000);
    assert_int_equal(S(&r, "flaky")->dropped, 0);
    assert_int_equal(S(&r, "flaky")->errors, 6); /* 3 batches x 2 retries */
    assert_int_equal(S(&r, "broken")->out, 0);
    assert_int_equal(S(&r, "broken")->dropped, 3000);
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tag_patterns),
        cmocka_unit_test(test_routes_follow_tags),
        cmocka_unit_test(test_slow_output_pauses_input_within_bounds),
        cmocka_unit_test(test_retries_then_counted_drops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
