/*
 * core/host_api.c - the functions behind strata_host_api, version 1.0.
 *
 * Each entry adapts an SDK call on an opaque handle to the core module that
 * does the work (engine, batch, metrics, http_server, state). The table is
 * built once and never changes; fields only ever get added at its end.
 * Thread: as marked in sdk/include/strata/host.h; [loop] functions check.
 */
#include "host_api.h"
#include "segment_api.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "batch.h"
#include "clock.h"
#include "engine.h"
#include "http_server.h"
#include "log.h"
#include "metastore.h"
#include "pipe_buffer.h"
#include "core_limits.h"
#include "metrics.h"
#include "state.h"

#define INST(p) ((instance *)(p))

struct strata_timer {
    ev_timer w;
    instance *in;
    strata_timer_fn fn;
    void *arg;
};

struct strata_io {
    ev_io w;
    instance *in;
    strata_io_fn fn;
    void *arg;
};

struct strata_thread {
    pthread_t t;
    instance *in;
    strata_thread_fn fn;
    void *arg;
    char name[16];
};

/* ---- logging ------------------------------------------------------------ */

static void h_log(strata_instance *inst, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void h_set_error(strata_instance *inst, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* host->log: one line in the process log, prefixed with the instance's label. */
static void h_log(strata_instance *inst, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (level < STRATA_LOG_ERROR)
        level = STRATA_LOG_ERROR;
    if (level > STRATA_LOG_DEBUG)
        level = STRATA_LOG_DEBUG;
    log_vwrite(level, inst ? INST(inst)->label : "plugin", fmt, ap);
    va_end(ap);
}

/* host->set_error: the message a failing init or start leaves for the host to report. */
static void h_set_error(strata_instance *inst, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(INST(inst)->errbuf, sizeof INST(inst)->errbuf, fmt, ap);
    va_end(ap);
}

/* ---- config --------------------------------------------------------------- */

/* host->cfg_str: a string key of the instance's config, or its declared default. */
static const char *h_cfg_str(const strata_config *c, const char *key)
{
    const cfg_value *v = strata_config_find(c, key);
    return v ? v->str : NULL;
}

/* host->cfg_int: an integer, size or duration key (sizes in bytes, durations in ms). */
static int64_t h_cfg_int(const strata_config *c, const char *key)
{
    const cfg_value *v = strata_config_find(c, key);
    return v ? v->i64 : 0;
}

/* host->cfg_double: a floating-point key. */
static double h_cfg_double(const strata_config *c, const char *key)
{
    const cfg_value *v = strata_config_find(c, key);
    if (!v)
        return 0;
    return v->type == STRATA_CFG_DOUBLE ? v->dbl : (double)v->i64;
}

/* host->cfg_bool: a boolean key, 0 or 1. */
static int h_cfg_bool(const strata_config *c, const char *key)
{
    const cfg_value *v = strata_config_find(c, key);
    return v ? v->i64 != 0 : 0;
}

/* host->cfg_list_len: how many items a list key holds (0 when unset). */
static uint32_t h_cfg_list_len(const strata_config *c, const char *key)
{
    const cfg_value *v = strata_config_find(c, key);
    return v && (v->type == STRATA_CFG_LIST || v->type == STRATA_CFG_MAP) ? v->n : 0;
}

/* host->cfg_list_at: item i of a list key, or NULL past its end. */
static const char *h_cfg_list_at(const strata_config *c, const char *key, uint32_t i)
{
    const cfg_value *v = strata_config_find(c, key);
    return v && v->type == STRATA_CFG_LIST && i < v->n ? v->list[i] : NULL;
}

/* host->cfg_map_at: entry i of a map key as key and value, STRATA_ENOTFOUND past its end. */
static int h_cfg_map_at(const strata_config *c, const char *key, uint32_t i, const char **k,
                        const char **val)
{
    const cfg_value *v = strata_config_find(c, key);
    if (!v || v->type != STRATA_CFG_MAP || i >= v->n)
        return STRATA_ENOTFOUND;
    *k = v->list[i];
    *val = v->vals[i];
    return STRATA_OK;
}

/* ---- metrics --------------------------------------------------------------- */

/* host->metric_new_labels: a counter, gauge or histogram of the instance's with nlabels labels,
 * refusing the host's reserved names and labels. */
static strata_metric *h_metric_new_labels(strata_instance *inst, int type, const char *name,
                                          const char *help, const char *const *label_names,
                                          uint32_t nlabels, const double *buckets,
                                          uint32_t nbuckets)
{
    char err[256];
    instance *in = INST(inst);
    /* the host's names and labels are its own: a plugin's family of one of
     * them would make /metrics invalid exposition (two families of one
     * name, a label given twice) */
    static const char *const host_labels[] = {"pipeline", "kind", "plugin",
                                              "instance", "le",   "quantile"};
    if (name && metrics_name_reserved(name)) {
        log_write(LOG_ERROR, in->label,
                  "metric_new: %s is reserved for the host's metrics; name the plugin's "
                  "families strata_%s_... or without the strata_ prefix",
                  name, in->p->name);
        return NULL;
    }
    for (uint32_t i = 0; label_names && i < nlabels && i <= METRICS_MAX_LABELS; i++)
        for (size_t k = 0; label_names[i] && k < sizeof host_labels / sizeof *host_labels; k++)
            if (strcmp(label_names[i], host_labels[k]) == 0) {
                log_write(LOG_ERROR, in->label,
                          "metric_new: %s: label '%s' is the host's (it adds pipeline, kind, "
                          "plugin and instance; le and quantile are Prometheus')",
                          name, label_names[i]);
                return NULL;
            }
    strata_metric *m = metrics_new_labels(type, name, help, in->metric_labels, label_names, nlabels,
                                          buckets, nbuckets, err, sizeof err);
    if (!m) {
        log_write(LOG_ERROR, in->label, "metric_new: %s", err);
        return NULL;
    }
    if (instance_add_resource(in, RES_METRIC, m) != STRATA_OK) {
        metrics_free(m);
        return NULL;
    }
    return m;
}

/* host->metric_new: the same with no label or one. */
static strata_metric *h_metric_new(strata_instance *inst, int type, const char *name,
                                   const char *help, const char *label_name, const double *buckets,
                                   uint32_t nbuckets)
{
    return h_metric_new_labels(inst, type, name, help, label_name ? &label_name : NULL,
                               label_name ? 1 : 0, buckets, nbuckets);
}

/* ---- loop: timers, fds, calls ------------------------------------------------ */

/* libev's callback for a plugin timer: calls the plugin's function on the loop. */
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    strata_timer *t = (strata_timer *)w;
    t->fn(t->arg);
}

/* host->timer_start: a libev timer owned by the instance (stopped and freed with it). */
static strata_timer *h_timer_start(strata_instance *inst, double after, double repeat,
                                   strata_timer_fn fn, void *arg)
{
    instance *in = INST(inst);
    if (!fn || !engine_on_loop_thread(in->eng) || after < 0 || repeat < 0)
        return NULL;
    strata_timer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->in = in;
    t->fn = fn;
    t->arg = arg;
    ev_timer_init(&t->w, timer_cb, after, repeat);
    if (instance_add_resource(in, RES_TIMER, t) != STRATA_OK) {
        free(t);
        return NULL;
    }
    ev_timer_start(in->eng->loop, &t->w);
    return t;
}

/* Stop and free a timer; the instance's resource list has already let go of it. */
static void timer_release(strata_timer *t)
{
    ev_timer_stop(t->in->eng->loop, &t->w);
    free(t);
}

/* host->timer_stop: stop and free a timer (NULL is fine). */
static void h_timer_stop(strata_timer *t)
{
    if (!t)
        return;
    instance_drop_resource(t->in, t);
    timer_release(t);
}

/* libev's callback for a plugin's fd watch: calls the plugin's function with the events. */
static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    strata_io *io = (strata_io *)w;
    int ev = (revents & EV_READ ? STRATA_IO_READ : 0) | (revents & EV_WRITE ? STRATA_IO_WRITE : 0);
    io->fn(io->w.fd, ev, io->arg);
}

/* host->io_watch: watch fd for read/write readiness on the loop, owned by the instance. */
static strata_io *h_io_watch(strata_instance *inst, int fd, int events, strata_io_fn fn, void *arg)
{
    instance *in = INST(inst);
    if (!fn || fd < 0 || !engine_on_loop_thread(in->eng) || !(events & 3))
        return NULL;
    strata_io *io = calloc(1, sizeof *io);
    if (!io)
        return NULL;
    io->in = in;
    io->fn = fn;
    io->arg = arg;
    ev_io_init(&io->w, io_cb, fd,
               (events & STRATA_IO_READ ? EV_READ : 0) | (events & STRATA_IO_WRITE ? EV_WRITE : 0));
    if (instance_add_resource(in, RES_IO, io) != STRATA_OK) {
        free(io);
        return NULL;
    }
    ev_io_start(in->eng->loop, &io->w);
    return io;
}

/* Stop and free an fd watch; the instance's resource list has already let go of it. */
static void io_release(strata_io *io)
{
    ev_io_stop(io->in->eng->loop, &io->w);
    free(io);
}

/* host->io_stop: stop and free an fd watch (NULL is fine). */
static void h_io_stop(strata_io *io)
{
    if (!io)
        return;
    instance_drop_resource(io->in, io);
    io_release(io);
}

typedef struct call_msg {
    strata_call_fn fn;
    void *arg;
} call_msg;

/* Run a plugin's call_on_loop function on the loop thread and free its message. */
static void call_on_loop_cb(engine *eng, void *arg, int status)
{
    (void)eng;
    (void)status;
    call_msg *m = arg;
    m->fn(m->arg);
    free(m);
}

/* host->call_on_loop: post fn(arg) to the loop thread from any thread. */
static int h_call_on_loop(strata_instance *inst, strata_call_fn fn, void *arg)
{
    call_msg *m = malloc(sizeof *m);
    if (!m || !fn) {
        free(m);
        return fn ? STRATA_ENOMEM : STRATA_EINVAL;
    }
    m->fn = fn;
    m->arg = arg;
    int rc = engine_post(INST(inst)->eng, call_on_loop_cb, m, 0);
    if (rc != STRATA_OK)
        free(m);
    return rc;
}

/* ---- threads --------------------------------------------------------------------- */

/* A plugin thread's body: names the thread, then runs the plugin's function. */
static void *thread_main(void *arg)
{
    strata_thread *t = arg;
    pthread_setname_np(pthread_self(), t->name);
    t->fn(t->arg);
    return NULL;
}

/* host->thread_start: a named worker thread the plugin joins with thread_join. */
static strata_thread *h_thread_start(strata_instance *inst, const char *name, strata_thread_fn fn,
                                     void *arg)
{
    instance *in = INST(inst);
    if (!fn || !engine_on_loop_thread(in->eng))
        return NULL;
    strata_thread *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->in = in;
    t->fn = fn;
    t->arg = arg;
    snprintf(t->name, sizeof t->name, "%s", name && *name ? name : in->p->name);
    if (instance_add_resource(in, RES_THREAD, t) != STRATA_OK) {
        free(t);
        return NULL;
    }
    if (pthread_create(&t->t, NULL, thread_main, t) != 0) {
        instance_drop_resource(in, t);
        free(t);
        return NULL;
    }
    return t;
}

/* host->thread_join: wait for a plugin thread to end and free its handle. */
static void h_thread_join(strata_thread *t)
{
    if (!t)
        return;
    instance_drop_resource(t->in, t);
    pthread_join(t->t, NULL);
    free(t);
}

/* ---- HTTP ------------------------------------------------------------------------ */

/* host->http_route: route method and path on the shared HTTP server to the plugin [loop]. */
static int h_http_route(strata_instance *inst, const char *method, const char *path,
                        strata_http_fn fn, void *arg)
{
    instance *in = INST(inst);
    if (!engine_on_loop_thread(in->eng))
        return STRATA_EINVAL;
    if (!in->eng->http) {
        snprintf(in->errbuf, sizeof in->errbuf,
                 "cannot register %s %s: the HTTP server is disabled (service.http_listen is "
                 "empty)",
                 method ? method : "?", path ? path : "?");
        return STRATA_ENOTFOUND;
    }
    char err[256];
    int rc = http_route_add(in->eng->http, in, method, path, fn, arg, err, sizeof err);
    if (rc != STRATA_OK)
        snprintf(in->errbuf, sizeof in->errbuf, "%s", err);
    return rc;
}

/* ---- batches ------------------------------------------------------------------------ */

/* host->batch_new: an empty batch owned by the caller, tagged with tag or the instance's. */
static strata_batch *h_batch_new(strata_instance *inst, const char *tag)
{
    return batch_new(tag ? tag : (inst ? INST(inst)->tag : NULL));
}

/* host->batch_free: drop the caller's reference to a batch. */
static void h_batch_free(strata_batch *b)
{
    batch_unref(b);
}
/* host->batch_count: events in a batch. */
static uint32_t h_batch_count(const strata_batch *b)
{
    return b ? b->count : 0;
}
/* host->batch_bytes: the bytes of a batch's encoding. */
static size_t h_batch_bytes(const strata_batch *b)
{
    return b ? b->len : 0;
}
/* host->batch_tag: a batch's routing tag. */
static const char *h_batch_tag(const strata_batch *b)
{
    return b ? b->tag : "";
}

/* host->batch_encoded: a batch's wire encoding, borrowed from the batch. */
static int h_batch_encoded(const strata_batch *b, const void **data, size_t *len)
{
    if (!b || !data || !len)
        return STRATA_EINVAL;
    *data = b->data;
    *len = b->len;
    return STRATA_OK;
}

/* host->batch_decode: decode and validate a wire encoding into a new batch. */
static int h_batch_decode(strata_instance *inst, const void *data, size_t len, strata_batch **out)
{
    char err[256];
    int rc = batch_decode(data, len, out, err, sizeof err);
    if (rc != STRATA_OK && inst)
        snprintf(INST(inst)->errbuf, sizeof INST(inst)->errbuf, "%s", err);
    return rc;
}

/* host->emit: hand an input's batch to its pipeline (engine_emit). */
static int h_emit(strata_instance *inst, strata_batch *b, strata_ack_fn ack, void *arg)
{
    return engine_emit(INST(inst), b, ack, arg);
}

/* ---- state and identity ----------------------------------------------------------------- */

/* host->state_put: store a small durable value under the instance's state directory. */
static int h_state_put(strata_instance *inst, const char *key, const void *val, size_t len)
{
    instance *in = INST(inst);
    return state_put(in->eng->data_dir, in->pipeline, in->name, key, val, len);
}

/* host->state_get: read back a value stored with state_put. */
static int h_state_get(strata_instance *inst, const char *key, void *buf, size_t cap, size_t *len)
{
    instance *in = INST(inst);
    return state_get(in->eng->data_dir, in->pipeline, in->name, key, buf, cap, len);
}

/* host->instance_name: the instance's name in its pipeline. */
static const char *h_instance_name(const strata_instance *inst)
{
    return INST(inst)->name;
}
/* host->pipeline_name: the name of the instance's pipeline. */
static const char *h_pipeline_name(const strata_instance *inst)
{
    return INST(inst)->pipeline;
}
/* host->data_dir: service.data_dir, where durable plugin state lives. */
static const char *h_data_dir(const strata_instance *inst)
{
    return INST(inst)->eng->data_dir;
}

int host_auth_bearer(engine *eng, const strata_http_request *req, const char *scope, char *tenant,
                     size_t cap)
{
    if (!eng->meta || !req || !scope || !tenant || !cap)
        return 401;
    const char *h = http_req_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 401;
    h += 7;
    while (*h == ' ')
        h++;
    return metastore_auth(eng->meta, h, scope, tenant, cap);
}

/* host->auth_check: the tenant of a request's bearer credential if it has scope. */
static int h_auth_check(strata_instance *inst, const strata_http_request *req, const char *scope,
                        char *tenant, size_t cap)
{
    return host_auth_bearer(INST(inst)->eng, req, scope, tenant, cap);
}

/* host->batch_seq: the WAL sequence a batch was read from, 0 without a WAL. */
static uint64_t h_batch_seq(const strata_batch *b)
{
    return b ? b->seq : 0;
}

/* A deferred output's durability report: moves committed_next forward only. */
static void h_output_commit(strata_instance *inst, uint64_t next)
{
    instance *in = INST(inst);
    atomic_store(&in->deferred, 1);
    unsigned long long cur = atomic_load(&in->committed_next);
    while (next > cur && !atomic_compare_exchange_weak(&in->committed_next, &cur, next))
        ;
}

/* host->buffer_backlog: the pipeline WAL's fill and its slowest output's lag. */
static int h_buffer_backlog(strata_instance *inst, double *fill, uint64_t *lag)
{
    instance *in = INST(inst);
    for (pipe_buffer *pb = in->eng->buffers; pb; pb = pb->next) {
        if (strcmp(pb->pipeline, in->pipeline) != 0)
            continue;
        long long bytes = atomic_load(&pb->disk_bytes);
        *fill = pb->max_bytes > 0 ? (double)bytes / (double)pb->max_bytes : 0.0;
        *lag = atomic_load(&pb->lag_records);
        return STRATA_OK;
    }
    return STRATA_ENOTFOUND;
}

/* ---- services (ABI 1.3) ---------------------------------------------------------------------- */

/* Longest service name, with its NUL. */
#define SERVICE_NAME_MAX 64

typedef struct service {
    char name[SERVICE_NAME_MAX];
    const void *api;
    instance *owner;
    int uses; /* acquired and not yet released */
    struct service *next;
} service;

/* host->service_export: publish a table under a name for the process's plugins. */
static int h_service_export(strata_instance *inst, const char *name, const void *api)
{
    instance *in = INST(inst);
    engine *eng = in->eng;
    if (!name || !api || strlen(name) >= SERVICE_NAME_MAX ||
        strcmp(name, STRATA_SEGMENT_SERVICE) == 0) /* built in */
        return STRATA_EINVAL;
    pthread_mutex_lock(&eng->svc_lock);
    for (service *s = eng->services; s; s = s->next)
        if (strcmp(s->name, name) == 0) {
            pthread_mutex_unlock(&eng->svc_lock);
            return STRATA_EINVAL;
        }
    service *s = calloc(1, sizeof *s);
    if (!s) {
        pthread_mutex_unlock(&eng->svc_lock);
        return STRATA_ENOMEM;
    }
    snprintf(s->name, sizeof s->name, "%s", name);
    s->api = api;
    s->owner = in;
    s->next = eng->services;
    eng->services = s;
    pthread_mutex_unlock(&eng->svc_lock);
    if (instance_add_resource(in, RES_SERVICE, s) != STRATA_OK) {
        pthread_mutex_lock(&eng->svc_lock);
        eng->services = s->next;
        pthread_mutex_unlock(&eng->svc_lock);
        free(s);
        return STRATA_ENOMEM;
    }
    return STRATA_OK;
}

/* Unlink s once nobody uses it, and free it. */
static void service_remove(engine *eng, service *s)
{
    pthread_mutex_lock(&eng->svc_lock);
    for (service **pp = &eng->services; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    while (s->uses > 0)
        pthread_cond_wait(&eng->svc_cond, &eng->svc_lock);
    pthread_mutex_unlock(&eng->svc_lock);
    free(s);
}

/* host->service_withdraw: unpublish a table, waiting until no caller holds it. */
static void h_service_withdraw(strata_instance *inst, const char *name)
{
    instance *in = INST(inst);
    engine *eng = in->eng;
    service *found = NULL;
    pthread_mutex_lock(&eng->svc_lock);
    for (service *s = eng->services; s; s = s->next)
        if (s->owner == in && strcmp(s->name, name) == 0)
            found = s;
    pthread_mutex_unlock(&eng->svc_lock);
    if (found) {
        instance_drop_resource(in, found);
        service_remove(eng, found);
    }
}

const void *host_service_acquire(engine *eng, const char *name)
{
    if (!name)
        return NULL;
    if (strcmp(name, STRATA_SEGMENT_SERVICE) == 0)
        return segment_api_table(); /* built in: static, nothing to count */
    if (!eng)
        return NULL;
    const void *api = NULL;
    pthread_mutex_lock(&eng->svc_lock);
    for (service *s = eng->services; s; s = s->next)
        if (strcmp(s->name, name) == 0) {
            s->uses++;
            api = s->api;
            break;
        }
    pthread_mutex_unlock(&eng->svc_lock);
    return api;
}

void host_service_release(engine *eng, const void *api)
{
    if (api == segment_api_table() || !eng)
        return; /* built in */
    pthread_mutex_lock(&eng->svc_lock);
    for (service *s = eng->services; s; s = s->next)
        if (s->api == api && s->uses > 0) {
            s->uses--;
            break;
        }
    pthread_cond_broadcast(&eng->svc_cond);
    pthread_mutex_unlock(&eng->svc_lock);
}

/* host->service_acquire: the table published under name (host_service_acquire). */
static const void *h_service_acquire(strata_instance *inst, const char *name)
{
    return host_service_acquire(inst ? INST(inst)->eng : NULL, name);
}

/* host->service_release: a caller is done with an acquired table. */
static void h_service_release(strata_instance *inst, const void *api)
{
    host_service_release(inst ? INST(inst)->eng : NULL, api);
}

/* host->buffer_position: every record below *next of the pipeline's WAL is acknowledged. */
static int h_buffer_position(strata_instance *inst, uint64_t *next)
{
    instance *in = INST(inst);
    for (pipe_buffer *pb = in->eng->buffers; pb; pb = pb->next)
        if (strcmp(pb->pipeline, in->pipeline) == 0) {
            *next = atomic_load(&pb->durable_next);
            return STRATA_OK;
        }
    return STRATA_ENOTFOUND;
}

/* host->now_ns: the wall clock in Unix ns. */
static int64_t h_now_ns(void)
{
    return clock_real_ns();
}

/* ---- the table ---------------------------------------------------------------------------- */

static const strata_host_api table = {
    .struct_size = sizeof(strata_host_api),
    .abi_major = STRATA_ABI_MAJOR,
    .abi_minor = STRATA_ABI_MINOR,
    .log = h_log,
    .set_error = h_set_error,
    .cfg_str = h_cfg_str,
    .cfg_int = h_cfg_int,
    .cfg_double = h_cfg_double,
    .cfg_bool = h_cfg_bool,
    .cfg_list_len = h_cfg_list_len,
    .cfg_list_at = h_cfg_list_at,
    .cfg_map_len = h_cfg_list_len,
    .cfg_map_at = h_cfg_map_at,
    .metric_new = h_metric_new,
    .metric_add = metrics_add,
    .metric_set = metrics_set,
    .metric_observe = metrics_observe,
    .metric_new_labels = h_metric_new_labels,
    .metric_add_labels = metrics_add_labels,
    .metric_set_labels = metrics_set_labels,
    .metric_observe_labels = metrics_observe_labels,
    .timer_start = h_timer_start,
    .timer_stop = h_timer_stop,
    .io_watch = h_io_watch,
    .io_stop = h_io_stop,
    .call_on_loop = h_call_on_loop,
    .thread_start = h_thread_start,
    .thread_join = h_thread_join,
    .http_route = h_http_route,
    .http_method = http_req_method,
    .http_path = http_req_path,
    .http_query = http_req_query,
    .http_header = http_req_header,
    .http_body = http_req_body,
    .http_add_header = http_req_add_header,
    .http_respond = http_req_respond,
    .http_stream_start = http_req_stream_start,
    .http_stream_write = http_req_stream_write,
    .http_stream_end = http_req_stream_end,
    .http_on_close = http_req_on_close,
    .batch_new = h_batch_new,
    .batch_append = batch_append,
    .batch_free = h_batch_free,
    .batch_count = h_batch_count,
    .batch_bytes = h_batch_bytes,
    .batch_tag = h_batch_tag,
    .batch_event = batch_get,
    .batch_event_json = batch_event_json,
    .batch_encoded = h_batch_encoded,
    .batch_decode = h_batch_decode,
    .emit = h_emit,
    .state_put = h_state_put,
    .state_get = h_state_get,
    .instance_name = h_instance_name,
    .pipeline_name = h_pipeline_name,
    .data_dir = h_data_dir,
    .now_ns = h_now_ns,
    .auth_check = h_auth_check,
    .batch_seq = h_batch_seq,
    .output_commit = h_output_commit,
    .buffer_backlog = h_buffer_backlog,
    .service_export = h_service_export,
    .service_withdraw = h_service_withdraw,
    .service_acquire = h_service_acquire,
    .service_release = h_service_release,
    .buffer_position = h_buffer_position,
};

const strata_host_api *host_api_table(void)
{
    return &table;
}

void host_api_release_resource(instance *in, int type, void *ptr)
{
    switch (type) {
    case RES_TIMER: timer_release(ptr); break;
    case RES_IO: io_release(ptr); break;
    case RES_THREAD: {
        strata_thread *t = ptr;
        log_write(LOG_WARN, in->label, "thread '%s' was not joined by stop(); joining it now",
                  t->name);
        pthread_join(t->t, NULL);
        free(t);
        break;
    }
    case RES_METRIC: metrics_free(ptr); break;
    case RES_SERVICE: service_remove(in->eng, ptr); break;
    default: break;
    }
}
