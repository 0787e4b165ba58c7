/*
 * core/engine.h - the running process: instances, the route graph, queues,
 * emit and acknowledgement, start, reload and shutdown.
 *
 * Threading contract (docs/ARCHITECTURE.md has the full table):
 *   - The loop thread (libev default loop) runs init/start/stop/destroy/
 *     reconfigure/resume, timers, fd watchers, HTTP handlers and ack
 *     callbacks.
 *   - emit() may be called from any thread. Filters run on the emitting
 *     thread, serialised per instance by instance.lock.
 *   - Each output has one worker thread calling flush(), also under
 *     instance.lock, so reconfigure never races a flush.
 *   - The current graph is read under engine.graph_lock (a reference count
 *     per graph); only the loop thread swaps it.
 */
#ifndef STRATA_CORE_ENGINE_H
#define STRATA_CORE_ENGINE_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>

#include "batch.h"
#include "config.h"
#include "strata/plugin.h"

struct http_server;
struct engine;

/* One queued batch on an output. */
typedef struct qitem {
    batch_t *b;
    struct inflight *inf;
    size_t bytes;
    uint32_t events;
    struct qitem *next;
} qitem;

/* Acknowledgement bookkeeping of one emitted batch. */
typedef struct inflight {
    atomic_int pending; /* outputs still to finish */
    atomic_int failed;  /* any output dropped it */
    strata_ack_fn ack;
    void *arg;
} inflight;

/* A resource a plugin registered; freed with its instance. */
typedef struct resource {
    int type; /* RES_* */
    void *ptr;
    struct resource *next;
} resource;

typedef struct instance {
    struct engine *eng;
    char *pipeline;
    char *name;
    char *label; /* "pipeline/kind/name" for logs */
    char *metric_labels;
    int kind;
    const strata_plugin *p;
    struct strata_config *cfg;
    char *fingerprint;
    char *tag;
    char *match;
    void *state;
    int initialized, started, stopped;
    int graphs;           /* graphs that include it (loop thread) */
    pthread_mutex_t lock; /* serialises process/flush against reconfigure */

    /* counters */
    atomic_ullong events_in, events_out, events_dropped, errors, batches_in;

    /* input */
    atomic_int paused;
    atomic_int inflight; /* emitted batches not yet acknowledged */

    /* output queue (qlock guards the fields below) */
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    qitem *qhead, *qtail;
    atomic_llong q_events, q_bytes; /* read without qlock for admission */
    int64_t max_events, max_bytes, retry_limit;
    int q_stop;  /* worker: exit once the queue is empty */
    int q_abort; /* worker: drop what is left and exit */
    pthread_t worker;
    int worker_started;
    atomic_int worker_done;

    /* output of a pipeline with a WAL buffer: its consumer position */
    struct pipe_buffer *buf;
    atomic_ullong consumer_next; /* next WAL sequence to deliver */
    /* ABI 1.2 deferred outputs (flush returned STRATA_PENDING): the output
     * confirmed everything before committed_next durable in its own store;
     * the WAL checkpoint and truncation never pass it. */
    atomic_ullong committed_next;
    atomic_int deferred;

    resource *res;
    pthread_mutex_t res_lock; /* guards res (threads may register metrics) */
    char errbuf[1024];
} instance;

typedef struct pipeline {
    char *name;
    struct pipe_buffer *buf; /* NULL: in-memory queues */
    instance **inputs, **filters, **outputs, **others;
    size_t n_in, n_f, n_out, n_oth;
} pipeline;

typedef struct graph {
    pipeline *pipes;
    size_t npipes;
    int refs; /* guarded by engine.graph_lock */
    int generation;
} graph;

/* A message for the loop thread. */
typedef struct loop_msg {
    void (*fn)(struct engine *eng, void *arg, int status);
    void *arg;
    int status;
    struct loop_msg *next;
} loop_msg;

typedef struct retiring {
    graph *g;        /* old graph, waiting for refs == 0 */
    instance **gone; /* instances to drain, stop and destroy */
    size_t ngone;
    int64_t deadline_ms;
    struct retiring *next;
} retiring;

typedef struct engine {
    struct ev_loop *loop;
    struct loader *ld;
    config *cfg; /* the running config */
    char *config_path;
    graph *current;
    pthread_mutex_t graph_lock;
    int generation;

    /* messages to the loop thread */
    pthread_mutex_t msg_lock;
    loop_msg *msg_head, *msg_tail;
    ev_async msg_async;
    pthread_t loop_thread;

    /* backpressure */
    atomic_llong buffered_bytes;
    int64_t buffer_max_bytes;
    atomic_int any_paused;
    atomic_int resume_posted;
    ev_timer resume_timer;

    /* lifecycle */
    ev_signal sigterm, sigint, sighup;
    ev_timer retire_timer;
    retiring *retiring;
    int shutting_down;
    int64_t shutdown_deadline_ms;
    ev_timer shutdown_timer;
    int exit_code;
    int abandoned; /* shutdown gave up on a stuck output: do not free, exit */

    /* reload */
    atomic_ullong reloads_ok, reloads_failed;
    struct engine_metrics *metrics; /* the collectors' arguments (engine_register_metrics) */
    char *last_reload_error;

    /* services plugins export to each other (ABI 1.3), under svc_lock */
    pthread_mutex_t svc_lock;
    pthread_cond_t svc_cond;
    struct service *services;

    struct http_server *http;
    struct pipe_buffer *buffers; /* open WAL buffers, by pipeline */
    struct metastore *meta;      /* tenants and credentials (DATA_DIR/meta.db) */
    ev_timer maintain_timer;
    char *data_dir;
    int64_t grace_ms;
    int64_t started_ms;
    int ready;
} engine;

/* Create the engine for a validated config (ownership of cfg moves in).
 * Returns NULL and logs on failure. */
engine *engine_new(struct ev_loop *loop, struct loader *ld, config *cfg, const char *path);
/* Start every instance and the HTTP server; 0 or -1 (then nothing runs). */
int engine_start(engine *eng);
/* Run the loop until shutdown completes; returns the exit code. */
int engine_run(engine *eng);
void engine_free(engine *eng);

/* Re-read the config file and apply it (loop thread). 0 on success; on
 * failure returns -1 and *why (caller frees) says what was wrong, and the
 * running pipeline is untouched. */
int engine_reload(engine *eng, char **why);
/* Begin graceful shutdown: stop inputs, drain, stop everything. */
void engine_shutdown(engine *eng);

/* For the host API. */
int engine_emit(instance *in, batch_t *b, strata_ack_fn ack, void *arg);
int engine_post(engine *eng, void (*fn)(engine *, void *, int), void *arg, int status);
int engine_on_loop_thread(const engine *eng);

/* Instance resources (host_api.c registers, engine frees). */
enum { RES_TIMER = 1, RES_IO, RES_THREAD, RES_METRIC, RES_ROUTE, RES_SERVICE };
int instance_add_resource(instance *in, int type, void *ptr);
void instance_drop_resource(instance *in, void *ptr);

/* Flush a batch to an output with retries and count the outcome (the
 * output's worker thread; also the WAL consumer). Returns STRATA_OK or the
 * final error. */
int output_deliver(instance *o, const batch_t *b);

/* Tag routing (exposed for tests): fnmatch-style with '*' and '?'. */
int route_match(const char *pattern, const char *tag);
/* Does the output have room for a batch (events, bytes)? */
int output_has_room(instance *out);

/* Register the engine's metrics (instances, queues, WAL buffers, reloads)
 * as host families of the metrics module (core/metrics.h); engine_free
 * removes them. 0, or -1 on OOM. */
int engine_register_metrics(engine *eng);
struct strbuf;
/* JSON describing the loaded plugins, their schemas and the instances. */
void engine_render_plugins(engine *eng, struct strbuf *out);
/* One plugin as JSON (also `strata plugins --json`). */
struct loaded_plugin;
void plugin_describe_json(const struct loaded_plugin *lp, struct strbuf *out);
/* /health, /ready, /metrics, /v1/plugins, /v1/admin/reload (builtin_routes.c). */
int builtin_routes_register(engine *eng);

#endif /* STRATA_CORE_ENGINE_H */
