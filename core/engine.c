/*
 * core/engine.c - instances, the route graph, emit, output workers, acks,
 * backpressure, start, hot reload and graceful shutdown.
 *
 * Thread: see engine.h. In short: everything here runs on the loop thread
 * except engine_emit (any thread), output_worker (one thread per output)
 * and engine_post (any thread).
 */
#include "engine.h"

#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "host_api.h"
#include "http_server.h"
#include "core_limits.h"
#include "loader.h"
#include "fsutil.h"
#include "log.h"
#include "metastore.h"
#include "metrics.h"
#include "pipe_buffer.h"
#include "strbuf.h"

/* ---- small helpers -------------------------------------------------------- */

int engine_on_loop_thread(const engine *eng)
{
    return pthread_equal(pthread_self(), eng->loop_thread);
}

/* Fluent Bit style tag match: '*' any run, '?' one character. */
int route_match(const char *pattern, const char *tag)
{
    if (!pattern || !*pattern || strcmp(pattern, "*") == 0)
        return 1;
    return fnmatch(pattern, tag ? tag : "", 0) == 0;
}

/* ---- messages to the loop thread -------------------------------------------- */

int engine_post(engine *eng, void (*fn)(engine *, void *, int), void *arg, int status)
{
    loop_msg *m = malloc(sizeof *m);
    if (!m)
        return STRATA_ENOMEM;
    m->fn = fn;
    m->arg = arg;
    m->status = status;
    m->next = NULL;
    pthread_mutex_lock(&eng->msg_lock);
    if (eng->msg_tail)
        eng->msg_tail->next = m;
    else
        eng->msg_head = m;
    eng->msg_tail = m;
    pthread_mutex_unlock(&eng->msg_lock);
    ev_async_send(eng->loop, &eng->msg_async);
    return STRATA_OK;
}

/* Run every posted message, in order. */
static void drain_messages(engine *eng)
{
    for (;;) {
        pthread_mutex_lock(&eng->msg_lock);
        loop_msg *m = eng->msg_head;
        eng->msg_head = eng->msg_tail = NULL;
        pthread_mutex_unlock(&eng->msg_lock);
        if (!m)
            return;
        while (m) {
            loop_msg *n = m->next;
            m->fn(eng, m->arg, m->status);
            free(m);
            m = n;
        }
    }
}

/* libev's wake-up for messages posted from other threads: runs them on the loop. */
static void on_msg_async(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)revents;
    drain_messages((engine *)w->data);
}

/* ---- instances ------------------------------------------------------------------ */

int instance_add_resource(instance *in, int type, void *ptr)
{
    resource *r = malloc(sizeof *r);
    if (!r)
        return STRATA_ENOMEM;
    r->type = type;
    r->ptr = ptr;
    pthread_mutex_lock(&in->res_lock);
    r->next = in->res;
    in->res = r;
    pthread_mutex_unlock(&in->res_lock);
    return STRATA_OK;
}

void instance_drop_resource(instance *in, void *ptr)
{
    pthread_mutex_lock(&in->res_lock);
    for (resource **pp = &in->res; *pp; pp = &(*pp)->next)
        if ((*pp)->ptr == ptr) {
            resource *r = *pp;
            *pp = r->next;
            free(r);
            break;
        }
    pthread_mutex_unlock(&in->res_lock);
}

/* Free whatever the plugin left registered: a plugin that forgot to stop a
 * timer must not leave a callback into freed state. `metrics` selects the
 * metric handles (freed after destroy, which may still update them) or
 * everything else (freed before destroy). */
static void instance_free_resources(instance *in, int metrics)
{
    pthread_mutex_lock(&in->res_lock);
    resource *r = in->res, *keep = NULL;
    in->res = NULL;
    pthread_mutex_unlock(&in->res_lock);
    while (r) {
        resource *n = r->next;
        if ((r->type == RES_METRIC) == (metrics != 0)) {
            host_api_release_resource(in, r->type, r->ptr);
            free(r);
        } else {
            r->next = keep;
            keep = r;
        }
        r = n;
    }
    pthread_mutex_lock(&in->res_lock);
    while (keep) {
        resource *n = keep->next;
        keep->next = in->res;
        in->res = keep;
        keep = n;
    }
    pthread_mutex_unlock(&in->res_lock);
}

static void drain_messages(engine *eng);

/* Free an instance's own memory (its plugin state is already destroyed). */
static void instance_free(instance *in)
{
    if (!in)
        return;
    /* acks and calls already posted for this instance run while it lives */
    drain_messages(in->eng);
    instance_free_resources(in, 0);
    if (in->eng->http)
        http_routes_remove_owner(in->eng->http, in);
    if (in->initialized && in->p->destroy)
        in->p->destroy(in->state);
    instance_free_resources(in, 1);
    /* anything still queued (only after an abort) is released */
    qitem *it = in->qhead;
    while (it) {
        qitem *n = it->next;
        batch_unref(it->b);
        free(it);
        it = n;
    }
    pthread_mutex_destroy(&in->lock);
    pthread_mutex_destroy(&in->qlock);
    pthread_mutex_destroy(&in->res_lock);
    pthread_cond_destroy(&in->qcond);
    strata_config_free(in->cfg);
    free(in->pipeline);
    free(in->name);
    free(in->label);
    free(in->metric_labels);
    free(in->fingerprint);
    free(in->tag);
    free(in->match);
    free(in);
}

/* Create and init() an instance from its config; takes ic->cfg. */
static instance *instance_create(engine *eng, const char *pipe, inst_cfg *ic, char *err,
                                 size_t errlen)
{
    instance *in = calloc(1, sizeof *in);
    if (!in) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    in->eng = eng;
    in->kind = ic->kind;
    in->p = ic->lp->desc;
    pthread_mutex_init(&in->lock, NULL);
    pthread_mutex_init(&in->qlock, NULL);
    pthread_mutex_init(&in->res_lock, NULL);
    pthread_cond_init(&in->qcond, NULL);
    in->cfg = ic->cfg;
    ic->cfg = NULL;
    in->pipeline = strdup(pipe);
    in->name = strdup(ic->name);
    in->fingerprint = strdup(ic->fingerprint ? ic->fingerprint : "");
    in->tag = strdup(ic->tag);
    in->match = strdup(ic->match);
    in->max_events = ic->queue_max_events;
    in->max_bytes = ic->queue_max_bytes;
    in->retry_limit = ic->retry_limit;
    strbuf sb = {0};
    sb_printf(&sb, "%s/%s/%s", pipe, kind_name(ic->kind), ic->name);
    in->label = sb_steal(&sb);
    sb_puts(&sb, "pipeline=\"");
    metrics_escape_label(&sb, pipe);
    sb_printf(&sb, "\",kind=\"%s\",plugin=\"%s\",instance=\"", kind_name(ic->kind), in->p->name);
    metrics_escape_label(&sb, ic->name);
    sb_puts(&sb, "\"");
    in->metric_labels = sb_steal(&sb);
    if (!in->pipeline || !in->name || !in->fingerprint || !in->tag || !in->match || !in->label ||
        !in->metric_labels) {
        snprintf(err, errlen, "out of memory");
        instance_free(in);
        return NULL;
    }
    int rc = in->p->init((strata_instance *)in, host_api_table(), in->cfg, &in->state);
    if (rc != STRATA_OK) {
        snprintf(err, errlen, "%s: init failed: %.900s", in->label,
                 in->errbuf[0] ? in->errbuf : "the plugin returned an error");
        instance_free(in);
        return NULL;
    }
    in->initialized = 1;
    return in;
}

static void *output_worker(void *arg);

/* Start an instance: start() first, then an output's worker, so that a flush
 * (a WAL consumer replays at once) never runs before the plugin started. */
static int instance_start(instance *in, char *err, size_t errlen)
{
    if (in->p->start && in->p->start(in->state) != STRATA_OK) {
        snprintf(err, errlen, "%s: start failed: %.900s", in->label,
                 in->errbuf[0] ? in->errbuf : "the plugin returned an error");
        instance_free_resources(in, 0);
        if (in->eng->http)
            http_routes_remove_owner(in->eng->http, in);
        return -1;
    }
    if (in->kind == STRATA_KIND_OUTPUT) {
        in->q_stop = in->q_abort = 0;
        atomic_store(&in->worker_done, 0);
        if (pthread_create(&in->worker, NULL, in->buf ? pipe_buffer_consume : output_worker, in) !=
            0) {
            snprintf(err, errlen, "%s: cannot start its worker thread: %s", in->label,
                     strerror(errno));
            if (in->p->stop)
                in->p->stop(in->state);
            instance_free_resources(in, 0);
            if (in->eng->http)
                http_routes_remove_owner(in->eng->http, in);
            return -1;
        }
        in->worker_started = 1;
    }
    in->started = 1;
    return 0;
}

/* Call stop() once (inputs: stop producing). */
static void instance_stop(instance *in)
{
    if (in->started && !in->stopped && in->p->stop)
        in->p->stop(in->state);
    in->stopped = 1;
}

/* Ask an output's worker to finish: after the queue empties, or at once
 * dropping what is left (abort). */
static void output_signal(instance *o, int abort_now)
{
    pthread_mutex_lock(&o->qlock);
    o->q_stop = 1;
    if (abort_now)
        o->q_abort = 1;
    pthread_cond_broadcast(&o->qcond);
    pthread_mutex_unlock(&o->qlock);
}

/* Stop, join and destroy an instance whose work is over. */
static void instance_finish(instance *in)
{
    instance_stop(in);
    if (in->worker_started) {
        output_signal(in, 1);
        pthread_join(in->worker, NULL);
        in->worker_started = 0;
        pipe_buffer_save_final(in); /* what stop() committed */
    }
    instance_free(in);
}

/* ---- acknowledgement -------------------------------------------------------------- */

typedef struct ack_ctx {
    inflight inf;
    instance *input;
    engine *eng;
} ack_ctx;

/* Call an input's ack for a finished batch on the loop thread, and free its context. */
static void ack_on_loop(engine *eng, void *arg, int status)
{
    (void)eng;
    ack_ctx *a = arg;
    if (a->inf.ack)
        a->inf.ack(status, a->inf.arg);
    atomic_fetch_sub(&a->input->inflight, 1);
    free(a);
}

/* One output finished with the batch (ok or not). */
static void inflight_done(engine *eng, inflight *inf, int ok)
{
    if (!ok)
        atomic_store(&inf->failed, 1);
    if (atomic_fetch_sub(&inf->pending, 1) != 1)
        return;
    /* pending counted every output exactly once, so only the last caller
     * gets here and nobody touches `a` after it */
    ack_ctx *a = (ack_ctx *)inf;
    instance *input = a->input; // NOLINT(clang-analyzer-unix.Malloc)
    int status = atomic_load(&inf->failed) ? STRATA_EDROPPED : STRATA_OK;
    if (engine_post(eng, ack_on_loop, a, status) != STRATA_OK) {
        /* cannot reach the loop: the ack is lost, but the count stays right */
        log_error("out of memory posting an acknowledgement");
        atomic_fetch_sub(&input->inflight, 1);
        free(a);
    }
}

/* The WAL thread reports a batch durable (or failed). */
static void on_buffer_durable(int status, void *arg)
{
    ack_ctx *a = arg;
    inflight_done(a->eng, &a->inf, status == 0);
}

/* ---- backpressure ------------------------------------------------------------------- */

int output_has_room(instance *o)
{
    return atomic_load_explicit(&o->q_events, memory_order_relaxed) < o->max_events &&
           atomic_load_explicit(&o->q_bytes, memory_order_relaxed) < o->max_bytes;
}

/* Below the resume threshold (hysteresis, ROUTE_RESUME_FRACTION). */
static int output_can_resume(instance *o)
{
    return (double)atomic_load(&o->q_events) <= (double)o->max_events * ROUTE_RESUME_FRACTION &&
           (double)atomic_load(&o->q_bytes) <= (double)o->max_bytes * ROUTE_RESUME_FRACTION;
}

/* Resume every paused input whose pipeline's outputs have drained below the resume threshold (and
 * the process buffer too). */
static void resume_inputs(engine *eng)
{
    if (eng->shutting_down || !atomic_exchange(&eng->any_paused, 0))
        return;
    if (atomic_load(&eng->buffered_bytes) > eng->buffer_max_bytes * ROUTE_RESUME_FRACTION) {
        atomic_store(&eng->any_paused, 1);
        return;
    }
    graph *g = eng->current;
    for (size_t i = 0; g && i < g->npipes; i++) {
        pipeline *p = &g->pipes[i];
        int room = 1;
        for (size_t k = 0; k < p->n_out; k++)
            room &= output_can_resume(p->outputs[k]);
        for (size_t k = 0; k < p->n_in; k++) {
            instance *in = p->inputs[k];
            if (!atomic_load(&in->paused))
                continue;
            if (!room) {
                atomic_store(&eng->any_paused, 1);
                continue;
            }
            atomic_store(&in->paused, 0);
            if (in->p->resume && in->started && !in->stopped)
                in->p->resume(in->state);
        }
    }
}

/* A worker's request to look for inputs to resume, run on the loop. */
static void resume_on_loop(engine *eng, void *arg, int status)
{
    (void)arg;
    (void)status;
    atomic_store(&eng->resume_posted, 0);
    resume_inputs(eng);
}

/* Every 50 ms while an input is paused: look for inputs to resume. */
static void on_resume_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    resume_inputs((engine *)w->data);
}

/* ---- emit ---------------------------------------------------------------------------- */

/* The graph in use, referenced so a reload cannot free it under the caller. */
static graph *graph_acquire(engine *eng)
{
    pthread_mutex_lock(&eng->graph_lock);
    graph *g = eng->current;
    if (g)
        g->refs++;
    pthread_mutex_unlock(&eng->graph_lock);
    return g;
}

/* Drop a reference taken with graph_acquire. */
static void graph_release(engine *eng, graph *g)
{
    pthread_mutex_lock(&eng->graph_lock);
    g->refs--;
    pthread_mutex_unlock(&eng->graph_lock);
}

/* The pipeline of graph g that input in feeds, or NULL. */
static pipeline *pipeline_of_input(graph *g, const instance *in)
{
    for (size_t i = 0; i < g->npipes; i++)
        for (size_t k = 0; k < g->pipes[i].n_in; k++)
            if (g->pipes[i].inputs[k] == in)
                return &g->pipes[i];
    return NULL;
}

/* Pause an input after a full route. A queue that drained between the
 * check and the pause cannot strand it: the resume timer looks at paused
 * inputs every 50 ms besides the workers' wake-ups. */
static int pause_input(engine *eng, instance *in)
{
    atomic_store(&in->paused, 1);
    atomic_store(&eng->any_paused, 1);
    return STRATA_EAGAIN;
}

/* The outputs of pipeline p whose match accepts tag, into outs (room for
 * PIPELINE_MAX_OUTPUTS, which validation holds every pipeline to); how many. */
static size_t route_outputs(const pipeline *p, const char *tag, instance **outs)
{
    size_t n = 0;
    for (size_t k = 0; k < p->n_out && n < PIPELINE_MAX_OUTPUTS; k++)
        if (route_match(p->outputs[k]->match, tag))
            outs[n++] = p->outputs[k];
    return n;
}

/* Admission: 1 when a batch for these outputs may enter. With a WAL the
 * pipeline's buffer must be healthy and under its bound; without one every
 * target queue must have room, and the process-wide buffer too. */
static int admits(const engine *eng, const pipeline *p, instance *const *outs, size_t nouts)
{
    if (p->buf)
        return pipe_buffer_has_room(p->buf);
    if (atomic_load(&eng->buffered_bytes) >= eng->buffer_max_bytes)
        return 0;
    for (size_t k = 0; k < nouts; k++)
        if (!output_has_room(outs[k]))
            return 0;
    return 1;
}

/* Run the pipeline's filters whose match accepts tag over *b, in order. On
 * STRATA_OK *b is the batch that comes out (NULL or empty when the filters
 * dropped everything; the chain owns it). On STRATA_EQUOTA the chain's
 * batches are released and *b is untouched: the caller still holds its
 * own reference to the input's batch and hands it back. A filter that
 * fails otherwise passes its batch on unchanged and counts an error:
 * losing events to a filter bug is worse than not filtering them. */
static int run_filters(const pipeline *p, const char *tag, batch_t **b)
{
    batch_t *cur = *b;
    batch_ref(cur); /* the chain's own reference */
    for (size_t k = 0; k < p->n_f && cur; k++) {
        instance *f = p->filters[k];
        if (!route_match(f->match, tag))
            continue;
        strata_batch *out = cur;
        uint32_t before = cur->count;
        atomic_fetch_add(&f->events_in, before);
        pthread_mutex_lock(&f->lock);
        int rc = f->p->process(f->state, cur, &out);
        pthread_mutex_unlock(&f->lock);
        if (rc == STRATA_EQUOTA) {
            if (out && out != cur)
                batch_unref(out);
            batch_unref(cur);
            return STRATA_EQUOTA;
        }
        if (rc != STRATA_OK) {
            atomic_fetch_add(&f->errors, 1);
            if (out && out != cur)
                batch_unref(out);
            out = cur;
        }
        if (out != cur)
            batch_unref(cur);
        cur = out;
        uint32_t after = cur ? cur->count : 0;
        atomic_fetch_add(&f->events_out, after);
        if (after < before) /* the filter's decision: counted where operators look */
            atomic_fetch_add(&f->events_dropped, before - after);
    }
    *b = cur;
    return STRATA_OK;
}

/* Acknowledge a batch that reaches no output (filtered out, or no route),
 * on the loop thread as every acknowledgement is, with status. */
static void ack_undelivered(engine *eng, instance *in, strata_ack_fn ack, void *arg, int status)
{
    if (!ack)
        return;
    ack_ctx *done = calloc(1, sizeof *done);
    if (!done)
        return;
    done->inf.ack = ack;
    done->inf.arg = arg;
    done->input = in;
    atomic_fetch_add(&in->inflight, 1);
    if (engine_post(eng, ack_on_loop, done, status) != STRATA_OK) {
        atomic_fetch_sub(&in->inflight, 1);
        free(done);
    }
}

/* Hand b to the pipeline's WAL: a is acknowledged after the fsync, and the
 * outputs read the WAL on their own. The caller keeps its reference to b. */
static void deliver_to_wal(engine *eng, instance *in, pipeline *p, batch_t *b, ack_ctx *a)
{
    uint32_t cnt = b->count;
    if (pipe_buffer_append(p->buf, b, on_buffer_durable, a) != STRATA_OK) {
        atomic_fetch_add(&in->events_dropped, cnt);
        log_write(LOG_WARN, in->label, "the WAL refused a batch of %u events", cnt);
        inflight_done(eng, &a->inf, 0);
    }
}

/* Push b onto every output's queue, each holding its own reference; a is
 * acknowledged when every output has flushed it. The caller keeps its
 * reference to b. */
static void deliver_to_queues(engine *eng, batch_t *b, ack_ctx *a, instance *const *outs,
                              size_t nouts)
{
    size_t bytes = b->len;
    for (size_t k = 0; k < nouts; k++) {
        instance *o = outs[k];
        qitem *it = malloc(sizeof *it);
        if (!it) {
            atomic_fetch_add(&o->events_dropped, b->count);
            inflight_done(eng, &a->inf, 0);
            continue;
        }
        batch_ref(b);
        it->b = b;
        it->inf = &a->inf;
        it->bytes = bytes;
        it->events = b->count;
        it->next = NULL;
        atomic_fetch_add(&o->events_in, b->count);
        atomic_fetch_add(&eng->buffered_bytes, (long long)bytes);
        pthread_mutex_lock(&o->qlock);
        atomic_fetch_add(&o->q_events, b->count);
        atomic_fetch_add(&o->q_bytes, (long long)bytes);
        if (o->qtail)
            o->qtail->next = it;
        else
            o->qhead = it;
        o->qtail = it;
        pthread_cond_signal(&o->qcond);
        pthread_mutex_unlock(&o->qlock);
    }
}

/* An input's batch enters its pipeline (host API emit, any thread): route
 * by tag, admit or pause the input, run the filters, then hand what is
 * left to the WAL or to the output queues. Takes ownership of b only on
 * STRATA_OK; on any other status the batch stays with the caller,
 * untouched. ack (may be NULL) is called on the loop thread once the batch
 * is durable or delivered, or dropped. */
int engine_emit(instance *in, batch_t *b, strata_ack_fn ack, void *arg)
{
    engine *eng = in->eng;
    if (!b)
        return STRATA_EINVAL;
    if (in->kind != STRATA_KIND_INPUT)
        return STRATA_EINVAL;
    if (eng->shutting_down && in->stopped)
        return STRATA_ESTOPPING;
    graph *g = graph_acquire(eng);
    pipeline *p = g ? pipeline_of_input(g, in) : NULL;
    if (!p) {
        /* a new input started before its graph is installed, or a removed
         * one: it will be resumed (or stopped) shortly */
        if (g)
            graph_release(eng, g);
        return in->stopped ? STRATA_ESTOPPING : pause_input(eng, in);
    }
    const char *tag = b->tag[0] ? b->tag : in->tag;
    instance *outs[PIPELINE_MAX_OUTPUTS];
    size_t nouts = route_outputs(p, tag, outs);
    if (!admits(eng, p, outs, nouts)) {
        graph_release(eng, g);
        return pause_input(eng, in);
    }
    /* allocate before filters run, so a failure leaves the batch untouched
     * with the caller */
    ack_ctx *a = NULL;
    if (nouts && !(a = calloc(1, sizeof *a))) {
        graph_release(eng, g);
        return STRATA_ENOMEM;
    }
    uint32_t n = b->count;
    batch_t *out = b;
    if (run_filters(p, tag, &out) == STRATA_EQUOTA) {
        free(a);
        graph_release(eng, g);
        return STRATA_EQUOTA;
    }
    atomic_fetch_add(&in->events_in, n);
    atomic_fetch_add(&in->batches_in, 1);
    atomic_fetch_add(&in->events_out, n);
    batch_unref(b); /* ownership taken: the caller's reference */
    if (!out || !out->count || !nouts) {
        free(a);
        int status = STRATA_OK;
        if (out && out->count) {
            atomic_fetch_add(&in->events_dropped, out->count);
            log_write(LOG_WARN, in->label, "no output matches tag '%s'; %u events dropped", tag,
                      out->count);
            status = STRATA_EDROPPED;
        }
        batch_unref(out);
        graph_release(eng, g);
        ack_undelivered(eng, in, ack, arg, status);
        return STRATA_OK;
    }
    a->inf.ack = ack;
    a->inf.arg = arg;
    a->input = in;
    a->eng = eng;
    atomic_init(&a->inf.pending, p->buf ? 1 : (int)nouts);
    atomic_init(&a->inf.failed, 0);
    atomic_fetch_add(&in->inflight, 1);
    if (p->buf)
        deliver_to_wal(eng, in, p, out, a);
    else
        deliver_to_queues(eng, out, a, outs, nouts);
    batch_unref(out);
    graph_release(eng, g);
    return STRATA_OK;
}

/* ---- output workers ----------------------------------------------------------------- */

/* Flush with retries and exponential backoff; the wait ends early on abort. */
static int flush_with_retry(instance *o, const batch_t *b)
{
    int rc;
    for (int64_t attempt = 0;; attempt++) {
        pthread_mutex_lock(&o->lock);
        rc = o->p->flush(o->state, b);
        pthread_mutex_unlock(&o->lock);
        if (rc != STRATA_RETRY)
            return rc;
        atomic_fetch_add(&o->errors, 1);
        if (attempt >= o->retry_limit)
            return rc;
        int64_t ms = OUTPUT_RETRY_BASE_MS << (attempt < 20 ? attempt : 20);
        if (ms > OUTPUT_RETRY_MAX_MS)
            ms = OUTPUT_RETRY_MAX_MS;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&o->qlock);
        while (!o->q_abort && pthread_cond_timedwait(&o->qcond, &o->qlock, &ts) == 0)
            ;
        int aborted = o->q_abort;
        pthread_mutex_unlock(&o->qlock);
        if (aborted)
            return STRATA_EDROPPED;
    }
}

int output_deliver(instance *o, const batch_t *b)
{
    int rc = flush_with_retry(o, b);
    if (rc == STRATA_PENDING) {
        /* taken; durability comes later through output_commit (a pipeline
         * without a WAL has nothing to hold back, so it is simply done) */
        atomic_store(&o->deferred, 1);
        rc = STRATA_OK;
    }
    if (rc == STRATA_OK) {
        atomic_fetch_add(&o->events_out, b->count);
        return rc;
    }
    atomic_fetch_add(&o->events_dropped, b->count);
    if (rc != STRATA_EDROPPED)
        atomic_fetch_add(&o->errors, 1);
    log_write(LOG_WARN, o->label, "dropped a batch of %u events: %s", b->count,
              rc == STRATA_EDROPPED ? "shutdown or reload deadline passed"
              : rc == STRATA_RETRY  ? "retries exhausted"
                                    : "flush failed");
    return rc;
}

/* One output's thread: pops batches from its queue and flushes them with retries until stopped and
 * drained. */
static void *output_worker(void *arg)
{
    instance *o = arg;
    engine *eng = o->eng;
    for (;;) {
        pthread_mutex_lock(&o->qlock);
        while (!o->qhead && !o->q_stop && !o->q_abort)
            pthread_cond_wait(&o->qcond, &o->qlock);
        qitem *it = o->qhead;
        if (!it) {
            pthread_mutex_unlock(&o->qlock);
            break;
        }
        o->qhead = it->next;
        if (!o->qhead)
            o->qtail = NULL;
        int aborted = o->q_abort;
        pthread_mutex_unlock(&o->qlock);

        int rc;
        if (aborted) {
            rc = STRATA_EDROPPED;
            atomic_fetch_add(&o->events_dropped, it->events);
            log_write(LOG_WARN, o->label,
                      "dropped a batch of %u events: shutdown or reload deadline passed",
                      it->events);
        } else {
            rc = output_deliver(o, it->b);
        }
        atomic_fetch_sub(&o->q_events, it->events);
        atomic_fetch_sub(&o->q_bytes, (long long)it->bytes);
        atomic_fetch_sub(&eng->buffered_bytes, (long long)it->bytes);
        inflight_done(eng, it->inf, rc == STRATA_OK);
        batch_unref(it->b);
        free(it);
        if (atomic_load(&eng->any_paused) && output_can_resume(o) &&
            !atomic_exchange(&eng->resume_posted, 1)) {
            if (engine_post(eng, resume_on_loop, NULL, 0) != STRATA_OK)
                atomic_store(&eng->resume_posted, 0);
        }
    }
    atomic_store(&o->worker_done, 1);
    ev_async_send(eng->loop, &eng->msg_async); /* let shutdown/retire notice */
    return NULL;
}

/* ---- graphs ---------------------------------------------------------------------------- */

/* Free a graph's arrays (its instances are freed apart, as they may outlive it). */
static void graph_free(graph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->npipes; i++) {
        pipeline *p = &g->pipes[i];
        free(p->name);
        free(p->inputs);
        free(p->filters);
        free(p->outputs);
        free(p->others);
    }
    free(g->pipes);
    free(g);
}

/* Call fn on every instance of g. */
#define GRAPH_EACH(g, var, body)                                                                   \
    for (size_t gi_ = 0; (g) && gi_ < (g)->npipes; gi_++) {                                        \
        pipeline *gp_ = &(g)->pipes[gi_];                                                          \
        instance **lists_[4] = {gp_->inputs, gp_->filters, gp_->outputs, gp_->others};             \
        size_t ns_[4] = {gp_->n_in, gp_->n_f, gp_->n_out, gp_->n_oth};                             \
        for (int li_ = 0; li_ < 4; li_++)                                                          \
            for (size_t ii_ = 0; ii_ < ns_[li_]; ii_++) {                                          \
                instance *var = lists_[li_][ii_];                                                  \
                if (!var)                                                                          \
                    continue;                                                                      \
                body                                                                               \
            }                                                                                      \
    }

/* Stop and destroy every instance of g, inputs first and outputs last, so
 * nothing is fed after its consumer is gone. Slots are cleared as they go. */
static void graph_finish_all(graph *g)
{
    static const int order[] = {STRATA_KIND_INPUT, STRATA_KIND_QUERY, STRATA_KIND_FILTER,
                                STRATA_KIND_STORE, STRATA_KIND_OUTPUT};
    for (int o = 0; o < 5; o++)
        for (size_t i = 0; g && i < g->npipes; i++) {
            pipeline *p = &g->pipes[i];
            instance **lists[4] = {p->inputs, p->filters, p->outputs, p->others};
            size_t ns[4] = {p->n_in, p->n_f, p->n_out, p->n_oth};
            for (int l = 0; l < 4; l++)
                for (size_t k = 0; k < ns[l]; k++)
                    if (lists[l][k] && lists[l][k]->kind == order[o]) {
                        instance_finish(lists[l][k]);
                        lists[l][k] = NULL;
                    }
        }
}

/* 1 when instance x is part of graph g. */
static int graph_contains(graph *g, instance *x)
{
    GRAPH_EACH(g, in, {
        if (in == x)
            return 1;
    })
    return 0;
}

/* The instance of graph g with this pipeline, kind and name, or NULL. */
static instance *graph_find(graph *g, const char *pipe, int kind, const char *name)
{
    GRAPH_EACH(g, in, {
        if (in->kind == kind && strcmp(in->pipeline, pipe) == 0 && strcmp(in->name, name) == 0)
            return in;
    })
    return NULL;
}

/* A changed instance to reconfigure in place. */
typedef struct reconf {
    instance *in;
    inst_cfg *ic;
    int done;
} reconf;

typedef struct plan {
    graph *g;
    instance **created;
    size_t ncreated;
    pipe_buffer **opened; /* WAL buffers this plan opened */
    size_t nopened;
    reconf *rc;
    size_t nrc;
    size_t unchanged;
} plan;

/* Append an instance to a growing array; -1 on OOM. */
static int push_inst(instance ***arr, size_t *n, instance *in)
{
    instance **a = realloc(*arr, (*n + 1) * sizeof(instance *));
    if (!a)
        return -1;
    a[(*n)++] = in;
    *arr = a;
    return 0;
}

/* 1 when an instance's host keys (tag, match, queue bounds, retries) equal its new config's. */
static int same_routing(const instance *in, const inst_cfg *ic)
{
    return strcmp(in->tag, ic->tag) == 0 && strcmp(in->match, ic->match) == 0 &&
           in->max_events == ic->queue_max_events && in->max_bytes == ic->queue_max_bytes &&
           in->retry_limit == ic->retry_limit;
}

/* The open WAL buffer of a pipeline, or NULL. */
static pipe_buffer *buffer_find(engine *eng, const char *pipe_name)
{
    for (pipe_buffer *b = eng->buffers; b; b = b->next)
        if (strcmp(b->pipeline, pipe_name) == 0)
            return b;
    return NULL;
}

/* Give pipeline p the WAL buffer its config asks for: the open one of the
 * same pipeline, or a new one (recorded in the plan until it commits). */
static int plan_buffer(engine *eng, plan *pl, const pipeline_cfg *pc, pipeline *p, char *err,
                       size_t errlen)
{
    pipe_buffer *pb = buffer_find(eng, pc->name);
    if (pb) {
        pb->max_bytes = pc->buffer.max_bytes;
    } else {
        pb = pipe_buffer_open(eng->data_dir, pc->name, pc->buffer.segment_bytes,
                              pc->buffer.max_bytes, err, errlen);
        if (!pb)
            return -1;
        pipe_buffer **o = realloc(pl->opened, (pl->nopened + 1) * sizeof(pipe_buffer *));
        if (!o) {
            pipe_buffer_close(pb);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        o[pl->nopened++] = pb;
        pl->opened = o;
    }
    p->buf = pb;
    return 0;
}

/* Build the graph for cfg, reusing instances of `old` that did not change,
 * planning in-place reconfigures, and creating (init only) the rest. */
static int plan_build(engine *eng, config *cfg, graph *old, plan *pl, char *err, size_t errlen)
{
    memset(pl, 0, sizeof *pl);
    graph *g = calloc(1, sizeof *g);
    if (!g || !(g->pipes = calloc(cfg->npipes ? cfg->npipes : 1, sizeof *g->pipes))) {
        free(g);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pl->g = g;
    g->npipes = cfg->npipes;
    g->generation = ++eng->generation;
    for (size_t i = 0; i < cfg->npipes; i++) {
        pipeline_cfg *pc = &cfg->pipes[i];
        pipeline *p = &g->pipes[i];
        if (!(p->name = strdup(pc->name))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (pc->buffer.type == BUFFER_WAL && plan_buffer(eng, pl, pc, p, err, errlen) != 0)
            return -1;
        for (size_t k = 0; k < pc->n; k++) {
            inst_cfg *ic = &pc->inst[k];
            instance *in = old ? graph_find(old, pc->name, ic->kind, ic->name) : NULL;
            if (in && in->p != ic->lp->desc)
                in = NULL; /* same name, other plugin: replace */
            if (in && strcmp(in->fingerprint, ic->fingerprint) == 0) {
                pl->unchanged++;
            } else if (in && in->p->reconfigure && same_routing(in, ic)) {
                reconf *r = realloc(pl->rc, (pl->nrc + 1) * sizeof *r);
                if (!r) {
                    snprintf(err, errlen, "out of memory");
                    return -1;
                }
                pl->rc = r;
                r[pl->nrc++] = (reconf){in, ic, 0};
            } else {
                in = instance_create(eng, pc->name, ic, err, errlen);
                if (!in)
                    return -1;
                if (push_inst(&pl->created, &pl->ncreated, in)) {
                    instance_free(in);
                    snprintf(err, errlen, "out of memory");
                    return -1;
                }
            }
            int rc;
            switch (ic->kind) {
            case STRATA_KIND_INPUT: rc = push_inst(&p->inputs, &p->n_in, in); break;
            case STRATA_KIND_FILTER: rc = push_inst(&p->filters, &p->n_f, in); break;
            case STRATA_KIND_OUTPUT:
                in->buf = p->buf; /* before start: it picks the worker thread */
                rc = push_inst(&p->outputs, &p->n_out, in);
                break;
            default: rc = push_inst(&p->others, &p->n_oth, in);
            }
            if (rc) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
    }
    return 0;
}

/* Undo a plan that will not be installed: stop and free what it created,
 * give reconfigured instances their old config back. */
static void plan_abort(plan *pl)
{
    for (size_t i = 0; i < pl->nrc; i++)
        if (pl->rc[i].done) {
            instance *in = pl->rc[i].in;
            pthread_mutex_lock(&in->lock);
            if (in->p->reconfigure(in->state, in->cfg) != STRATA_OK)
                log_write(LOG_ERROR, in->label,
                          "could not restore the previous config after a failed reload");
            pthread_mutex_unlock(&in->lock);
        }
    /* stop inputs first, then the rest, like a shutdown */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < pl->ncreated; i++) {
            instance *in = pl->created[i];
            if ((pass == 0) == (in->kind == STRATA_KIND_INPUT) && in->started)
                instance_stop(in);
        }
    for (size_t i = 0; i < pl->ncreated; i++)
        instance_finish(pl->created[i]);
    for (size_t i = 0; i < pl->nopened; i++)
        pipe_buffer_close(pl->opened[i]);
    free(pl->opened);
    free(pl->created);
    free(pl->rc);
    graph_free(pl->g);
    memset(pl, 0, sizeof *pl);
}

/* The plan is installed: its new buffers join the engine's list. */
static void plan_release(engine *eng, plan *pl)
{
    for (size_t i = 0; i < pl->nopened; i++) {
        pl->opened[i]->next = eng->buffers;
        eng->buffers = pl->opened[i];
    }
    free(pl->opened);
    free(pl->created);
    free(pl->rc);
    memset(pl, 0, sizeof *pl);
}

/* Start created instances (outputs, filters, others, then inputs) and apply
 * reconfigures. On failure everything is rolled back by plan_abort. */
static int plan_start(plan *pl, char *err, size_t errlen)
{
    static const int order[] = {STRATA_KIND_OUTPUT, STRATA_KIND_FILTER, STRATA_KIND_STORE,
                                STRATA_KIND_QUERY, STRATA_KIND_INPUT};
    for (int o = 0; o < 5; o++)
        for (size_t i = 0; i < pl->ncreated; i++)
            if (pl->created[i]->kind == order[o] &&
                instance_start(pl->created[i], err, errlen) != 0)
                return -1;
    for (size_t i = 0; i < pl->nrc; i++) {
        instance *in = pl->rc[i].in;
        in->errbuf[0] = 0;
        pthread_mutex_lock(&in->lock);
        int rc = in->p->reconfigure(in->state, pl->rc[i].ic->cfg);
        pthread_mutex_unlock(&in->lock);
        if (rc != STRATA_OK) {
            snprintf(err, errlen, "%s: reconfigure failed: %.900s", in->label,
                     in->errbuf[0] ? in->errbuf : "the plugin returned an error");
            /* the plugin promised to keep its old config on failure */
            return -1;
        }
        pl->rc[i].done = 1;
    }
    return 0;
}

/* After a successful reconfigure the instance owns the new config. */
static void plan_commit_reconfigures(plan *pl)
{
    for (size_t i = 0; i < pl->nrc; i++) {
        instance *in = pl->rc[i].in;
        inst_cfg *ic = pl->rc[i].ic;
        pthread_mutex_lock(&in->lock);
        strata_config_free(in->cfg);
        in->cfg = ic->cfg;
        ic->cfg = NULL;
        char *fp = strdup(ic->fingerprint);
        if (fp) {
            free(in->fingerprint);
            in->fingerprint = fp;
        }
        pthread_mutex_unlock(&in->lock);
    }
}

/* ---- WAL buffers ------------------------------------------------------------------------- */

/* 1 when some pipeline of graph g writes to buffer pb. */
static int graph_uses_buffer(const graph *g, const pipe_buffer *pb)
{
    for (size_t i = 0; g && i < g->npipes; i++)
        if (g->pipes[i].buf == pb)
            return 1;
    return 0;
}

/* Close the WAL buffers no live graph uses any more (their consumers have
 * finished: the retiring graph that had them is gone). */
static void buffers_close_unused(engine *eng)
{
    for (pipe_buffer **pp = &eng->buffers; *pp;) {
        pipe_buffer *pb = *pp;
        int used = graph_uses_buffer(eng->current, pb);
        for (retiring *r = eng->retiring; r && !used; r = r->next)
            used = graph_uses_buffer(r->g, pb);
        if (used) {
            pp = &pb->next;
            continue;
        }
        *pp = pb->next;
        log_info("pipeline '%s': WAL closed", pb->pipeline);
        pipe_buffer_close(pb);
    }
}

/* Every WAL_TRUNCATE_MS: delete WAL segments every output has consumed,
 * forget checkpoints of outputs that were removed, refresh disk use. */
static void on_maintain_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    engine *eng = w->data;
    graph *g = eng->current;
    for (size_t i = 0; g && i < g->npipes; i++) {
        pipeline *p = &g->pipes[i];
        if (!p->buf)
            continue;
        const char *names[PIPELINE_MAX_OUTPUTS];
        uint64_t pos[PIPELINE_MAX_OUTPUTS];
        size_t n = 0;
        for (size_t k = 0; k < p->n_out && n < PIPELINE_MAX_OUTPUTS; k++) {
            names[n] = p->outputs[k]->name;
            pos[n++] = pipe_buffer_safe_next(p->outputs[k]);
        }
        pipe_buffer_maintain(p->buf, names, pos, n);
    }
}

/* ---- retiring old graphs ---------------------------------------------------------------- */

/* Advance one retiring graph; returns 1 when it is completely gone. */
static int retire_step(engine *eng, retiring *r, int64_t now)
{
    pthread_mutex_lock(&eng->graph_lock);
    int refs = r->g->refs;
    pthread_mutex_unlock(&eng->graph_lock);
    if (refs > 0)
        return 0;
    int left = 0;
    int late = now >= r->deadline_ms;
    for (size_t i = 0; i < r->ngone; i++) {
        instance *in = r->gone[i];
        if (!in)
            continue;
        if (in->kind == STRATA_KIND_INPUT) {
            instance_stop(in);
            if (atomic_load(&in->inflight) > 0) {
                left++;
                continue;
            }
        } else if (in->kind == STRATA_KIND_OUTPUT && in->worker_started) {
            output_signal(in, late);
            if (!atomic_load(&in->worker_done)) {
                left++;
                continue;
            }
        }
        log_write(LOG_INFO, in->label, "retired");
        instance_finish(in);
        r->gone[i] = NULL;
    }
    return left == 0;
}

/* Step the graphs a reload replaced: each is freed once its removed instances are drained and
 * stopped. */
static void on_retire_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    engine *eng = w->data;
    int64_t now = clock_mono_ms();
    for (retiring **pp = &eng->retiring; *pp;) {
        retiring *r = *pp;
        if (retire_step(eng, r, now)) {
            *pp = r->next;
            graph_free(r->g);
            free(r->gone);
            free(r);
            buffers_close_unused(eng);
        } else {
            pp = &r->next;
        }
    }
    if (!eng->retiring)
        ev_timer_stop(loop, w);
}

/* Hand the old graph to the retire timer with the instances it alone had. */
static void retire_graph(engine *eng, graph *old, graph *now)
{
    retiring *r = calloc(1, sizeof *r);
    if (!r) {
        log_error("out of memory retiring the old pipeline; its instances leak");
        return;
    }
    r->g = old;
    r->deadline_ms = clock_mono_ms() + eng->grace_ms;
    GRAPH_EACH(old, in, {
        if (!graph_contains(now, in)) {
            if (push_inst(&r->gone, &r->ngone, in) == 0 && in->kind == STRATA_KIND_INPUT)
                instance_stop(in); /* stop producing now; drain later */
        }
    })
    r->next = eng->retiring;
    eng->retiring = r;
    if (!ev_is_active(&eng->retire_timer))
        ev_timer_again(eng->loop, &eng->retire_timer);
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents);

static void unregister_metrics(engine *eng);

engine *engine_new(struct ev_loop *loop, struct loader *ld, config *cfg, const char *path)
{
    engine *eng = calloc(1, sizeof *eng);
    if (!eng)
        return NULL;
    eng->loop = loop;
    eng->ld = ld;
    eng->cfg = cfg;
    eng->config_path = strdup(path);
    eng->loop_thread = pthread_self();
    eng->data_dir = strdup(cfg->svc.data_dir);
    eng->grace_ms = cfg->svc.grace_ms;
    eng->buffer_max_bytes = cfg->svc.buffer_max_bytes;
    eng->started_ms = clock_mono_ms();
    if (!eng->config_path || !eng->data_dir || engine_register_metrics(eng) != 0) {
        unregister_metrics(eng);
        free(eng->config_path);
        free(eng->data_dir);
        free(eng);
        return NULL;
    }
    pthread_mutex_init(&eng->graph_lock, NULL);
    pthread_mutex_init(&eng->msg_lock, NULL);
    pthread_mutex_init(&eng->svc_lock, NULL);
    pthread_cond_init(&eng->svc_cond, NULL);
    ev_async_init(&eng->msg_async, on_msg_async);
    eng->msg_async.data = eng;
    ev_async_start(loop, &eng->msg_async);
    ev_timer_init(&eng->resume_timer, on_resume_timer, 0.05, 0.05);
    ev_timer_init(&eng->maintain_timer, on_maintain_timer, WAL_TRUNCATE_MS / 1000.0,
                  WAL_TRUNCATE_MS / 1000.0);
    eng->maintain_timer.data = eng;
    eng->resume_timer.data = eng;
    ev_timer_init(&eng->retire_timer, on_retire_timer, 0.0, ENGINE_RETIRE_POLL_MS / 1000.0);
    eng->retire_timer.data = eng;
    ev_signal_init(&eng->sigterm, on_signal, SIGTERM);
    ev_signal_init(&eng->sigint, on_signal, SIGINT);
    ev_signal_init(&eng->sighup, on_signal, SIGHUP);
    eng->sigterm.data = eng->sigint.data = eng->sighup.data = eng;
    return eng;
}

int engine_start(engine *eng)
{
    char err[1024];
    if (fs_mkdirs(eng->data_dir) != 0) {
        log_error("cannot create data_dir %s: %s", eng->data_dir, strerror(errno));
        return -1;
    }
    eng->meta = metastore_open(eng->data_dir, err, sizeof err);
    if (!eng->meta) {
        log_error("%s", err);
        return -1;
    }
    if (eng->cfg->svc.http_listen[0]) {
        eng->http = http_server_new(eng->loop, eng->cfg->svc.http_listen,
                                    (size_t)eng->cfg->svc.http_max_body, err, sizeof err);
        if (!eng->http) {
            log_error("%s", err);
            return -1;
        }
        if (builtin_routes_register(eng) != 0) {
            log_error("cannot register the built-in HTTP routes");
            return -1;
        }
    }
    plan pl;
    if (plan_build(eng, eng->cfg, NULL, &pl, err, sizeof err) != 0 ||
        plan_start(&pl, err, sizeof err) != 0) {
        log_error("%s", err);
        plan_abort(&pl);
        return -1;
    }
    eng->current = pl.g;
    size_t n = pl.ncreated;
    plan_release(eng, &pl);
    ev_signal_start(eng->loop, &eng->sigterm);
    ev_signal_start(eng->loop, &eng->sigint);
    ev_signal_start(eng->loop, &eng->sighup);
    ev_timer_start(eng->loop, &eng->resume_timer);
    ev_timer_start(eng->loop, &eng->maintain_timer);
    eng->ready = 1;
    log_info("started %zu instances in %zu pipelines from %s%s%s", n, eng->current->npipes,
             eng->config_path, eng->http ? "; HTTP on " : "",
             eng->http ? http_server_address(eng->http) : "");
    return 0;
}

int engine_reload(engine *eng, char **why)
{
    *why = NULL;
    if (eng->shutting_down) {
        *why = strdup("shutting down");
        return -1;
    }
    cfg_errors errs = {0};
    config *nc = NULL;
    char err[1024];
    if (config_load(eng->config_path, eng->ld, &nc, &errs) != 0) {
        *why = cfg_errors_join(&errs);
        cfg_errors_free(&errs);
        atomic_fetch_add(&eng->reloads_failed, 1);
        log_error("reload rejected, the running pipeline is unchanged:\n%s", *why ? *why : "");
        return -1;
    }
    const service_cfg *os = &eng->cfg->svc, *ns = &nc->svc;
    if (strcmp(os->http_listen, ns->http_listen) != 0 || strcmp(os->data_dir, ns->data_dir) != 0)
        log_warn("service.http_listen and service.data_dir change only on restart; keeping %s "
                 "and %s",
                 os->http_listen, os->data_dir);
    int lvl = log_level_parse(ns->log_level);
    if (lvl >= 0)
        log_set_level(lvl);
    plan pl;
    if (plan_build(eng, nc, eng->current, &pl, err, sizeof err) != 0 ||
        plan_start(&pl, err, sizeof err) != 0) {
        plan_abort(&pl);
        config_free(nc);
        *why = strdup(err);
        atomic_fetch_add(&eng->reloads_failed, 1);
        log_error("reload failed, the previous pipeline keeps running: %s", err);
        return -1;
    }
    plan_commit_reconfigures(&pl);
    pthread_mutex_lock(&eng->graph_lock);
    graph *old = eng->current;
    eng->current = pl.g;
    pthread_mutex_unlock(&eng->graph_lock);
    eng->grace_ms = ns->grace_ms;
    eng->buffer_max_bytes = ns->buffer_max_bytes;
    log_info("reload applied: %zu new, %zu reconfigured, %zu unchanged", pl.ncreated, pl.nrc,
             pl.unchanged);
    plan_release(eng, &pl);
    retire_graph(eng, old, eng->current);
    config_free(eng->cfg);
    eng->cfg = nc;
    atomic_fetch_add(&eng->reloads_ok, 1);
    /* inputs that emitted before the swap were paused; let them go */
    atomic_store(&eng->any_paused, 1);
    resume_inputs(eng);
    return 0;
}

/* Give up on an output whose flush outlived the shutdown deadline: what
 * is still queued behind it is counted as dropped (the process is about to
 * exit without it). The batch inside flush stays with the worker. */
static void output_abandon(instance *o)
{
    pthread_mutex_lock(&o->qlock);
    unsigned long long n = 0;
    for (qitem *it = o->qhead; it; it = it->next)
        n += it->events;
    pthread_mutex_unlock(&o->qlock);
    atomic_fetch_add(&o->events_dropped, n);
    log_write(LOG_ERROR, o->label,
              "flush still running %d ms after the grace period; exiting without it (%llu "
              "queued events dropped)",
              ENGINE_ABANDON_MS, n);
}

/* Shutdown progress: runs every few ms until everything drained. */
static void on_shutdown_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    engine *eng = w->data;
    int64_t now = clock_mono_ms();
    int late = now >= eng->shutdown_deadline_ms;
    graph *g = eng->current;
    int busy = eng->retiring != NULL;
    int stuck = now >= eng->shutdown_deadline_ms + ENGINE_ABANDON_MS;
    GRAPH_EACH(g, in, {
        if (in->kind == STRATA_KIND_INPUT && atomic_load(&in->inflight) > 0)
            busy = 1;
        if (in->kind == STRATA_KIND_OUTPUT && in->worker_started) {
            output_signal(in, late);
            if (!atomic_load(&in->worker_done)) {
                busy = 1;
                if (stuck)
                    output_abandon(in);
            }
        }
    })
    if (late && eng->retiring) {
        for (retiring *r = eng->retiring; r; r = r->next)
            r->deadline_ms = now;
    }
    if (busy && !stuck)
        return;
    ev_timer_stop(loop, w);
    if (busy) {
        /* A flush that ignores the deadline (a hung network call, a plugin
         * bug) must not keep the process from exiting. Its thread still
         * uses the instance, so nothing is freed: main exits at once. */
        GRAPH_EACH(g, in, {
            log_write(LOG_INFO, in->label, "final: in=%llu out=%llu dropped=%llu errors=%llu",
                      (unsigned long long)atomic_load(&in->events_in),
                      (unsigned long long)atomic_load(&in->events_out),
                      (unsigned long long)atomic_load(&in->events_dropped),
                      (unsigned long long)atomic_load(&in->errors));
        })
        eng->abandoned = 1;
        eng->exit_code = 1;
        log_error("shutdown incomplete: an output did not finish; exiting with status 1");
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    /* one line per instance with its final counts: what an operator (and
     * the drain test) needs to tell that nothing was lost on the way out */
    GRAPH_EACH(g, in, {
        log_write(LOG_INFO, in->label, "final: in=%llu out=%llu dropped=%llu errors=%llu",
                  (unsigned long long)atomic_load(&in->events_in),
                  (unsigned long long)atomic_load(&in->events_out),
                  (unsigned long long)atomic_load(&in->events_dropped),
                  (unsigned long long)atomic_load(&in->errors));
    })
    /* all drained: stop the rest, outputs last */
    graph_finish_all(g);
    graph_free(g);
    eng->current = NULL;
    buffers_close_unused(eng);
    drain_messages(eng);
    log_info("shutdown complete");
    ev_break(loop, EVBREAK_ALL);
}

void engine_shutdown(engine *eng)
{
    if (eng->shutting_down)
        return;
    eng->shutting_down = 1;
    eng->ready = 0;
    log_info("shutting down: stopping inputs, draining queues (grace %lld ms)",
             (long long)eng->grace_ms);
    GRAPH_EACH(eng->current, in, {
        if (in->kind == STRATA_KIND_INPUT)
            instance_stop(in);
    })
    eng->shutdown_deadline_ms = clock_mono_ms() + eng->grace_ms;
    ev_timer_init(&eng->shutdown_timer, on_shutdown_timer, 0.0, 0.01);
    eng->shutdown_timer.data = eng;
    ev_timer_start(eng->loop, &eng->shutdown_timer);
}

/* SIGHUP reloads the config; SIGTERM and SIGINT start a graceful shutdown, and a second one
 * exits without draining. */
static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    engine *eng = w->data;
    if (w->signum == SIGHUP) {
        log_info("SIGHUP: reloading %s", eng->config_path);
        char *why = NULL;
        engine_reload(eng, &why);
        free(why);
        return;
    }
    if (eng->shutting_down) {
        log_warn("second %s: exiting without draining", w->signum == SIGINT ? "SIGINT" : "SIGTERM");
        eng->exit_code = 1;
        ev_break(eng->loop, EVBREAK_ALL);
        return;
    }
    engine_shutdown(eng);
}

int engine_run(engine *eng)
{
    ev_run(eng->loop, 0);
    return eng->exit_code;
}

void engine_free(engine *eng)
{
    if (!eng)
        return;
    /* if the loop was left early, finish whatever is still alive */
    while (eng->retiring) {
        retiring *r = eng->retiring;
        eng->retiring = r->next;
        for (size_t i = 0; i < r->ngone; i++)
            if (r->gone[i])
                instance_finish(r->gone[i]);
        graph_free(r->g);
        free(r->gone);
        free(r);
    }
    if (eng->current) {
        graph_finish_all(eng->current);
        graph_free(eng->current);
    }
    drain_messages(eng);
    buffers_close_unused(eng);
    metastore_close(eng->meta);
    unregister_metrics(eng);
    metrics_host_remove(eng); /* the builtin routes' */
    http_server_free(eng->http);
    ev_timer_stop(eng->loop, &eng->maintain_timer);
    ev_timer_stop(eng->loop, &eng->resume_timer);
    ev_timer_stop(eng->loop, &eng->retire_timer);
    ev_signal_stop(eng->loop, &eng->sigterm);
    ev_signal_stop(eng->loop, &eng->sigint);
    ev_signal_stop(eng->loop, &eng->sighup);
    ev_async_stop(eng->loop, &eng->msg_async);
    config_free(eng->cfg);
    pthread_mutex_destroy(&eng->graph_lock);
    pthread_mutex_destroy(&eng->msg_lock);
    pthread_mutex_destroy(&eng->svc_lock);
    pthread_cond_destroy(&eng->svc_cond);
    free(eng->config_path);
    free(eng->data_dir);
    free(eng->last_reload_error);
    free(eng);
}

/* ---- introspection ---------------------------------------------------------------------- */

/* Metrics of the engine: host families of the metrics module, whose
 * series these collectors read from the instances' atomics and the WAL's
 * stats when /metrics is rendered (the loop thread, which owns the graph). */

/* Per instance: the counter or gauge `which` of each instance of the kinds
 * in `kinds` (a bit per STRATA_KIND_*), with its pipeline, plugin and
 * instance labels. */
typedef struct inst_metric {
    engine *eng;
    int which;
    unsigned kinds;
} inst_metric;
enum {
    IM_IN,
    IM_OUT,
    IM_DROPPED,
    IM_ERRORS,
    IM_QEVENTS,
    IM_QBYTES,
    IM_PAUSED,
    IM_CLAG,
    IM_UNCOMMITTED
};

/* The value of metric `which` of instance in. */
static double inst_value(const instance *in, int which)
{
    switch (which) {
    case IM_IN: return (double)atomic_load(&in->events_in);
    case IM_OUT: return (double)atomic_load(&in->events_out);
    case IM_DROPPED: return (double)atomic_load(&in->events_dropped);
    case IM_ERRORS: return (double)atomic_load(&in->errors);
    case IM_QEVENTS: return (double)atomic_load(&in->q_events);
    case IM_QBYTES: return (double)atomic_load(&in->q_bytes);
    case IM_PAUSED: return (double)atomic_load(&in->paused);
    case IM_CLAG: {
        uint64_t d = atomic_load(&in->buf->durable_next), c = atomic_load(&in->consumer_next);
        return c && d > c ? (double)(d - c) : 0;
    }
    default: { /* delivered to a deferred output, not yet committed by it */
        uint64_t c = atomic_load(&in->consumer_next), k = atomic_load(&in->committed_next);
        return atomic_load(&in->deferred) && c > k ? (double)(c - k) : 0;
    }
    }
}

/* Metrics collector: one sample per instance of the family's kinds. */
static void collect_instances(void *ud, metrics_out *o)
{
    const inst_metric *im = ud;
    GRAPH_EACH(im->eng->current, in, {
        if ((im->kinds & (1u << in->kind)) &&
            (im->which < IM_CLAG || in->buf)) /* WAL families: outputs of a WAL pipeline */
            metrics_sample(o, in->metric_labels, inst_value(in, im->which));
    })
}

/* The WAL stats of every buffer, with its pipeline label: `which` indexes
 * wal_families below. */
typedef struct wal_metric {
    engine *eng;
    int which;
} wal_metric;

/* Field `which` of a WAL's stats, for the family of that index. */
static double wal_value(const wal_stats *st, int which)
{
    switch (which) {
    case 0: return (double)st->bytes;
    case 1: return (double)st->files;
    case 2: return (double)st->appended_records;
    case 3: return (double)st->commits;
    case 4: return (double)st->fsync_failures;
    case 5: return (double)st->torn_bytes_truncated;
    default: return (double)st->last_commit_us / 1e6;
    }
}

/* Metrics collector: one sample per WAL buffer, labelled with its pipeline. */
static void collect_wal(void *ud, metrics_out *o)
{
    const wal_metric *wm = ud;
    for (pipe_buffer *pb = wm->eng->buffers; pb; pb = pb->next) {
        wal_stats st;
        wal_get_stats(pb->w, &st);
        strbuf l = {0};
        metrics_label(&l, "pipeline", pb->pipeline);
        if (!l.oom && wm->which < 7) {
            metrics_sample(o, l.buf, wal_value(&st, wm->which));
        } else if (!l.oom) { /* the commit latency histogram */
            static const uint64_t bounds_us[WAL_COMMIT_BUCKETS] = WAL_COMMIT_BOUNDS_US;
            double bounds[WAL_COMMIT_BUCKETS];
            uint64_t cum[WAL_COMMIT_BUCKETS + 1], acc = 0;
            for (size_t k = 0; k <= WAL_COMMIT_BUCKETS; k++) {
                cum[k] = acc += st.commit_hist[k];
                if (k < WAL_COMMIT_BUCKETS)
                    bounds[k] = (double)bounds_us[k] / 1e6;
            }
            metrics_sample_histogram(o, l.buf, bounds, WAL_COMMIT_BUCKETS, cum,
                                     (double)st.commit_us_sum / 1e6);
        }
        sb_free(&l);
    }
}

/* The process-wide values: `which` indexes proc_families below. */
typedef struct proc_metric {
    engine *eng;
    int which;
} proc_metric;

/* Metrics collector: the process-wide values (buffered bytes, reloads, uptime, ...). */
static void collect_process(void *ud, metrics_out *o)
{
    const proc_metric *pm = ud;
    engine *eng = pm->eng;
    switch (pm->which) {
    case 0: metrics_sample(o, "", (double)atomic_load(&eng->buffered_bytes)); break;
    case 1: metrics_sample(o, "", (double)eng->buffer_max_bytes); break;
    case 2:
        metrics_sample(o, "result=\"ok\"", (double)atomic_load(&eng->reloads_ok));
        metrics_sample(o, "result=\"failed\"", (double)atomic_load(&eng->reloads_failed));
        break;
    case 3: {
        size_t n = 0;
        for (retiring *r = eng->retiring; r; r = r->next)
            n++;
        metrics_sample(o, "", (double)n);
        break;
    }
    case 4: metrics_sample(o, "", (double)log_suppressed()); break;
    default: metrics_sample(o, "", (double)(clock_mono_ms() - eng->started_ms) / 1000.0);
    }
}

#define KINDS_ALL 0xffu
#define KIND_BIT(k) (1u << (k))

static const struct {
    const char *name, *help;
    int type, which;
    unsigned kinds;
} inst_families[] = {
    {"strata_events_in_total", "Events received by the instance.", STRATA_METRIC_COUNTER, IM_IN,
     KINDS_ALL},
    {"strata_events_out_total", "Events the instance passed on or delivered.",
     STRATA_METRIC_COUNTER, IM_OUT, KINDS_ALL},
    {"strata_events_dropped_total",
     "Events a limit, a failure or a filter's decision dropped at the instance.",
     STRATA_METRIC_COUNTER, IM_DROPPED, KINDS_ALL},
    {"strata_errors_total", "Errors of the instance (failed process/flush calls).",
     STRATA_METRIC_COUNTER, IM_ERRORS, KINDS_ALL},
    {"strata_queue_events", "Events waiting in an output's queue.", STRATA_METRIC_GAUGE, IM_QEVENTS,
     KIND_BIT(STRATA_KIND_OUTPUT)},
    {"strata_queue_bytes", "Bytes waiting in an output's queue.", STRATA_METRIC_GAUGE, IM_QBYTES,
     KIND_BIT(STRATA_KIND_OUTPUT)},
    {"strata_input_paused", "1 while backpressure pauses the input.", STRATA_METRIC_GAUGE,
     IM_PAUSED, KIND_BIT(STRATA_KIND_INPUT)},
    {"strata_wal_consumer_lag_records", "Durable WAL records an output has not consumed yet.",
     STRATA_METRIC_GAUGE, IM_CLAG, KIND_BIT(STRATA_KIND_OUTPUT)},
    {"strata_wal_uncommitted_records",
     "WAL records delivered to a deferred output (flush returned STRATA_PENDING) that it has "
     "not committed yet; the WAL keeps them.",
     STRATA_METRIC_GAUGE, IM_UNCOMMITTED, KIND_BIT(STRATA_KIND_OUTPUT)},
};
static const struct {
    const char *name, *help;
    int type;
} wal_families[] = {
    {"strata_wal_bytes", "Bytes of WAL segments on disk.", STRATA_METRIC_GAUGE},
    {"strata_wal_files", "WAL segment files on disk.", STRATA_METRIC_GAUGE},
    {"strata_wal_records_total", "Records appended to the WAL.", STRATA_METRIC_COUNTER},
    {"strata_wal_commits_total", "Group commits (one write + fdatasync each).",
     STRATA_METRIC_COUNTER},
    {"strata_wal_write_failures_total", "Failed WAL writes or fsyncs.", STRATA_METRIC_COUNTER},
    {"strata_wal_torn_bytes_total", "Torn-tail bytes truncated at open.", STRATA_METRIC_COUNTER},
    {"strata_wal_last_commit_seconds", "Duration of the last group commit.", STRATA_METRIC_GAUGE},
    {"strata_wal_commit_seconds", "Group commit latency (write + fdatasync).",
     STRATA_METRIC_HISTOGRAM},
};
static const struct {
    const char *name, *help;
    int type;
} proc_families[] = {
    {"strata_buffer_bytes", "Bytes queued in all routes of the process.", STRATA_METRIC_GAUGE},
    {"strata_buffer_max_bytes", "The configured bound on strata_buffer_bytes.",
     STRATA_METRIC_GAUGE},
    {"strata_reloads_total", "Configuration reloads by result.", STRATA_METRIC_COUNTER},
    {"strata_retiring_graphs", "Old pipelines still draining after a reload.", STRATA_METRIC_GAUGE},
    {"strata_log_suppressed_total", "Own log lines held back by rate limiting.",
     STRATA_METRIC_COUNTER},
    {"strata_uptime_seconds", "Seconds since start.", STRATA_METRIC_GAUGE},
};
#define N_INST_FAMILIES (sizeof inst_families / sizeof *inst_families)
#define N_WAL_FAMILIES (sizeof wal_families / sizeof *wal_families)
#define N_PROC_FAMILIES (sizeof proc_families / sizeof *proc_families)

/* The collectors' arguments, one block per engine. */
struct engine_metrics {
    inst_metric inst[N_INST_FAMILIES];
    wal_metric wal[N_WAL_FAMILIES];
    proc_metric proc[N_PROC_FAMILIES];
};

int engine_register_metrics(engine *eng)
{
    struct engine_metrics *em = calloc(1, sizeof *em);
    if (!em)
        return -1;
    eng->metrics = em;
    int rc = 0;
    for (size_t i = 0; i < N_INST_FAMILIES; i++) {
        em->inst[i] = (inst_metric){eng, inst_families[i].which, inst_families[i].kinds};
        rc |= metrics_host_family(inst_families[i].type, inst_families[i].name,
                                  inst_families[i].help, collect_instances, &em->inst[i]);
    }
    for (size_t i = 0; i < N_WAL_FAMILIES; i++) {
        em->wal[i] = (wal_metric){eng, (int)i};
        rc |= metrics_host_family(wal_families[i].type, wal_families[i].name, wal_families[i].help,
                                  collect_wal, &em->wal[i]);
    }
    for (size_t i = 0; i < N_PROC_FAMILIES; i++) {
        em->proc[i] = (proc_metric){eng, (int)i};
        rc |= metrics_host_family(proc_families[i].type, proc_families[i].name,
                                  proc_families[i].help, collect_process, &em->proc[i]);
    }
    return rc ? -1 : 0;
}

/* Remove the engine's collectors (engine_free). */
static void unregister_metrics(engine *eng)
{
    struct engine_metrics *em = eng->metrics;
    if (!em)
        return;
    for (size_t i = 0; i < N_INST_FAMILIES; i++)
        metrics_host_remove(&em->inst[i]);
    for (size_t i = 0; i < N_WAL_FAMILIES; i++)
        metrics_host_remove(&em->wal[i]);
    for (size_t i = 0; i < N_PROC_FAMILIES; i++)
        metrics_host_remove(&em->proc[i]);
    free(em);
    eng->metrics = NULL;
}

/* A config key type's name as /v1/plugins shows it. */
static const char *cfg_type_name(uint32_t t)
{
    static const char *n[] = {"?",    "string",   "int",  "double", "bool",
                              "size", "duration", "list", "map"};
    return t <= STRATA_CFG_MAP ? n[t] : "?";
}

/* Describe one plugin as JSON (shared with `strata plugins --json`). */
void plugin_describe_json(const loaded_plugin *lp, strbuf *sb)
{
    const strata_plugin *d = lp->desc;
    sb_puts(sb, "{\"name\":");
    sb_json_str(sb, d->name);
    sb_printf(sb, ",\"kind\":\"%s\",\"version\":", kind_name((int)d->kind));
    sb_json_str(sb, d->version ? d->version : "");
    sb_printf(sb, ",\"abi\":\"%u.%u\",\"description\":", d->abi_major, d->abi_minor);
    sb_json_str(sb, d->description ? d->description : "");
    sb_puts(sb, ",\"path\":");
    sb_json_str(sb, lp->path);
    sb_puts(sb, ",\"config\":[");
    for (uint32_t k = 0; k < d->config_count; k++) {
        const strata_config_key *ck =
            (const void *)((const char *)d->config + (size_t)k * d->config_key_size);
        sb_puts(sb, k ? ",{\"key\":" : "{\"key\":");
        sb_json_str(sb, ck->name);
        sb_printf(sb, ",\"type\":\"%s\",\"required\":%s,\"default\":", cfg_type_name(ck->type),
                  ck->required ? "true" : "false");
        if (ck->default_value)
            sb_json_str(sb, ck->default_value);
        else
            sb_puts(sb, "null");
        sb_puts(sb, ",\"doc\":");
        sb_json_str(sb, ck->doc ? ck->doc : "");
        sb_puts(sb, "}");
    }
    sb_puts(sb, "]}");
}

void engine_render_plugins(engine *eng, strbuf *sb)
{
    sb_puts(sb, "{\"abi\":");
    sb_printf(sb, "\"%d.%d\",\"plugins\":[", STRATA_ABI_MAJOR, STRATA_ABI_MINOR);
    int first = 1;
    for (loaded_plugin *lp = eng->ld->loaded; lp; lp = lp->next) {
        if (!first)
            sb_puts(sb, ",");
        first = 0;
        plugin_describe_json(lp, sb);
    }
    sb_puts(sb, "],\"instances\":[");
    first = 1;
    GRAPH_EACH(eng->current, in, {
        if (!first)
            sb_puts(sb, ",");
        first = 0;
        sb_puts(sb, "{\"pipeline\":");
        sb_json_str(sb, in->pipeline);
        sb_printf(sb, ",\"kind\":\"%s\",\"plugin\":\"%s\",\"name\":", kind_name(in->kind),
                  in->p->name);
        sb_json_str(sb, in->name);
        sb_puts(sb, "}");
    })
    sb_puts(sb, "]}");
}
