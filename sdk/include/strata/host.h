/*
 * strata/host.h - the table of host functions each plugin instance receives.
 *
 * Plugins never link against host symbols: everything they may call is in
 * strata_host_api, handed to init(). The table starts with its own size and
 * only ever grows at its end; a plugin that wants a function added in minor
 * version N checks STRATA_HOST_HAS(host, field) before calling it.
 *
 * Threads (docs/ARCHITECTURE.md, "Threading contract"):
 *   [loop]  main event-loop thread only
 *   [any]   any thread
 * Calls marked [loop] from another thread are refused with STRATA_EINVAL.
 */
#ifndef STRATA_HOST_H
#define STRATA_HOST_H

#include <stdarg.h>

#include "abi.h"
#include "event.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum strata_log_level {
    STRATA_LOG_ERROR = 0,
    STRATA_LOG_WARN = 1,
    STRATA_LOG_INFO = 2,
    STRATA_LOG_DEBUG = 3
} strata_log_level;

typedef enum strata_metric_type {
    STRATA_METRIC_COUNTER = 0,
    STRATA_METRIC_GAUGE = 1,
    STRATA_METRIC_HISTOGRAM = 2
} strata_metric_type;

/* Labels a metric family may have besides the host's (ABI 1.5). */
#define STRATA_METRIC_MAX_LABELS 8

/* fd watcher event bits */
#define STRATA_IO_READ 0x1
#define STRATA_IO_WRITE 0x2

/* Callbacks. `arg` is whatever the plugin passed when registering. */
typedef void (*strata_timer_fn)(void *arg);
typedef void (*strata_io_fn)(int fd, int revents, void *arg);
typedef void (*strata_thread_fn)(void *arg);
typedef void (*strata_call_fn)(void *arg);
/* Acknowledgement of an emitted batch, on the loop thread. status is
 * STRATA_OK once every output that received it delivered it (for a durable
 * buffer: after fsync), or STRATA_EDROPPED if a limit or failure dropped it. */
typedef void (*strata_ack_fn)(int status, void *arg);
/* An HTTP request arrived on a registered route [loop]. The handler owns the
 * request until it calls http_respond or http_stream_end, which it may do
 * later (after an ack, say); it must do so exactly once. */
typedef void (*strata_http_fn)(strata_http_request *req, void *arg);
/* The client of a request went away before the response ended [loop]. */
typedef void (*strata_http_close_fn)(strata_http_request *req, void *arg);

typedef struct strata_host_api {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;

    /* ---- logging [any] ------------------------------------------------- */
    /* Log a line prefixed with the instance name; rate-limited by the host. */
    void (*log)(strata_instance *inst, int level, const char *fmt, ...) STRATA_PRINTF(3, 4);
    /* Record why init/start/reconfigure failed; the host reports it. */
    void (*set_error)(strata_instance *inst, const char *fmt, ...) STRATA_PRINTF(2, 3);

    /* ---- config [any, read-only] --------------------------------------- */
    /* Values after defaults were applied. cfg_str returns NULL when unset;
     * the numeric getters return 0 when unset. SIZE is bytes, DURATION ms. */
    const char *(*cfg_str)(const strata_config *cfg, const char *key);
    int64_t (*cfg_int)(const strata_config *cfg, const char *key);
    double (*cfg_double)(const strata_config *cfg, const char *key);
    int (*cfg_bool)(const strata_config *cfg, const char *key);
    uint32_t (*cfg_list_len)(const strata_config *cfg, const char *key);
    const char *(*cfg_list_at)(const strata_config *cfg, const char *key, uint32_t i);
    uint32_t (*cfg_map_len)(const strata_config *cfg, const char *key);
    int (*cfg_map_at)(const strata_config *cfg, const char *key, uint32_t i, const char **k,
                      const char **v);

    /* ---- metrics [any] ---------------------------------------------------
     * Families are registered in init [loop] and freed with the instance.
     * The host adds labels pipeline, kind, plugin and instance. label_name
     * may be NULL (no extra label: the series shows at 0 from registration)
     * or one label whose value is given per update, e.g. "tenant".
     * buckets: ascending upper bounds for histograms. NULL (with an error
     * logged) for a name the host keeps (its families, and the prefixes
     * strata_events_, strata_wal_, strata_queue_ ... of docs/ARCHITECTURE.md
     * "Metrics"; name a plugin's strata_PLUGIN_... or without strata_), and
     * for label names pipeline, kind, plugin, instance, le and quantile. */
    strata_metric *(*metric_new)(strata_instance *inst, int type, const char *name,
                                 const char *help, const char *label_name, const double *buckets,
                                 uint32_t nbuckets);
    void (*metric_add)(strata_metric *m, const char *label_value, double v);
    void (*metric_set)(strata_metric *m, const char *label_value, double v);
    void (*metric_observe)(strata_metric *m, const char *label_value, double v);

    /* ---- event loop [loop] ---------------------------------------------- */
    /* A timer firing after `after_s`, then every `repeat_s` (0: once). */
    strata_timer *(*timer_start)(strata_instance *inst, double after_s, double repeat_s,
                                 strata_timer_fn fn, void *arg);
    void (*timer_stop)(strata_timer *t); /* stops and frees; NULL is fine */
    strata_io *(*io_watch)(strata_instance *inst, int fd, int events, strata_io_fn fn, void *arg);
    void (*io_stop)(strata_io *io); /* stops and frees; NULL is fine */
    /* Run fn(arg) on the loop thread soon [any]. */
    int (*call_on_loop)(strata_instance *inst, strata_call_fn fn, void *arg);

    /* ---- worker threads [loop] ------------------------------------------ */
    strata_thread *(*thread_start)(strata_instance *inst, const char *name, strata_thread_fn fn,
                                   void *arg);
    void (*thread_join)(strata_thread *t); /* waits and frees */

    /* ---- HTTP (the core server; one listener for all plugins) ------------
     * Routes: exact path, or a prefix when the path ends in '*'. Removed
     * automatically when the instance is destroyed. [loop] */
    int (*http_route)(strata_instance *inst, const char *method, const char *path,
                      strata_http_fn fn, void *arg);
    const char *(*http_method)(const strata_http_request *req);
    const char *(*http_path)(const strata_http_request *req);  /* without query */
    const char *(*http_query)(const strata_http_request *req); /* after '?', or "" */
    const char *(*http_header)(const strata_http_request *req, const char *name);
    const void *(*http_body)(const strata_http_request *req, size_t *len);
    /* Add a response header before responding. */
    int (*http_add_header)(strata_http_request *req, const char *name, const char *value);
    /* Send a whole response and release the request. */
    int (*http_respond)(strata_http_request *req, int status, const char *content_type,
                        const void *body, size_t len);
    /* Streaming (chunked) responses, e.g. server-sent events. write returns
     * STRATA_ESTOPPING when the client is gone; end releases the request. */
    int (*http_stream_start)(strata_http_request *req, int status, const char *content_type);
    int (*http_stream_write)(strata_http_request *req, const void *data, size_t len);
    int (*http_stream_end)(strata_http_request *req);
    void (*http_on_close)(strata_http_request *req, strata_http_close_fn fn, void *arg);

    /* ---- batches [any] ---------------------------------------------------
     * batch_new gives a batch owned by the caller; emit transfers it. */
    strata_batch *(*batch_new)(strata_instance *inst, const char *tag);
    int (*batch_append)(strata_batch *b, const strata_event *ev);
    void (*batch_free)(strata_batch *b);
    uint32_t (*batch_count)(const strata_batch *b);
    size_t (*batch_bytes)(const strata_batch *b);
    const char *(*batch_tag)(const strata_batch *b);
    /* Read event i. meta receives up to meta_cap entries; ev->meta points to
     * it and ev->meta_count is the full count (STRATA_ERANGE if it did not
     * fit). Strings are borrowed from the batch. */
    int (*batch_event)(const strata_batch *b, uint32_t i, strata_event *ev, strata_kv *meta,
                       uint32_t meta_cap);
    /* Format event i as one JSON object (no newline) into buf. Returns the
     * length it needs, like snprintf; writes at most cap bytes incl. NUL. */
    size_t (*batch_event_json)(const strata_batch *b, uint32_t i, char *buf, size_t cap);
    /* The batch's wire encoding (sdk/README.md), borrowed. */
    int (*batch_encoded)(const strata_batch *b, const void **data, size_t *len);
    /* Decode and validate a wire encoding into a new batch owned by the caller. */
    int (*batch_decode)(strata_instance *inst, const void *data, size_t len, strata_batch **out);

    /* ---- the pipeline [any] ----------------------------------------------
     * emit: hand a batch to the instance's routes. On STRATA_OK the batch is
     * transferred and ack (may be NULL) fires later on the loop thread. On
     * STRATA_EAGAIN the routes are full: the batch stays with the caller and
     * the input's resume() callback runs when there is room again. */
    int (*emit)(strata_instance *inst, strata_batch *b, strata_ack_fn ack, void *ack_arg);

    /* ---- durable state [any] --------------------------------------------
     * Small values (checkpoints) kept across restarts, written atomically
     * (write, fsync, rename). Keys: [A-Za-z0-9._-], at most 64 bytes. */
    int (*state_put)(strata_instance *inst, const char *key, const void *val, size_t len);
    int (*state_get)(strata_instance *inst, const char *key, void *buf, size_t cap, size_t *len);

    /* ---- identity [any] --------------------------------------------------- */
    const char *(*instance_name)(const strata_instance *inst);
    const char *(*pipeline_name)(const strata_instance *inst);
    const char *(*data_dir)(const strata_instance *inst);
    int64_t (*now_ns)(void); /* wall clock, Unix ns */

    /* ---- added in ABI 1.1 ------------------------------------------------
     * Check a request's "Authorization: Bearer SECRET" against the tenants'
     * credentials for `scope` (ingest, search, tail, alerts, admin). Returns
     * 0 with the credential's tenant copied to `tenant`, 401 for a missing
     * or unknown credential, 403 for one without the scope. [loop] */
    int (*auth_check)(strata_instance *inst, const strata_http_request *req, const char *scope,
                      char *tenant, size_t cap);

    /* ---- added in ABI 1.2: outputs with a durable store of their own ----
     * batch_seq: the WAL sequence number a batch was read from (0 when its
     * pipeline has no WAL). Sequences rise; an output that records the
     * highest one it made durable can skip replayed batches after a crash.
     * output_commit: everything this output took before WAL sequence `next`
     * (exclusive) is durable in its own store: its WAL checkpoint may move
     * there and the WAL may be truncated up to it. An output that returns
     * STRATA_PENDING from flush must call it, or the WAL grows. [any] */
    uint64_t (*batch_seq)(const strata_batch *b);
    void (*output_commit)(strata_instance *inst, uint64_t next);
    /* The backlog of the instance's pipeline WAL, for cooperative
     * backpressure (lag_hint): *fill is its size on disk over its max_bytes
     * (0..1, refreshed every second) and *lag the records its slowest output
     * has not yet made durable. STRATA_ENOTFOUND without a WAL. [loop] */
    int (*buffer_backlog)(strata_instance *inst, double *fill, uint64_t *lag);

    /* ---- added in ABI 1.3: services plugins share -----------------------
     * A plugin may publish a table of functions under a name (the Redis
     * Modules "shared API" pattern): the indexer publishes its view of the
     * index ("strata.index.v1") for the query plugins. The table is the
     * exporter's and must stay valid until it is withdrawn; by convention
     * it starts with a uint32_t struct_size so it can grow compatibly.
     * service_export: STRATA_EINVAL if the name is taken. Withdrawn at
     * service_withdraw or when the instance is destroyed; both wait until no
     * caller holds it.
     * service_acquire: the table, or NULL when nobody exports the name;
     * the caller must service_release it soon (never across a wait on the
     * loop thread). [any] */
    int (*service_export)(strata_instance *inst, const char *name, const void *api);
    void (*service_withdraw)(strata_instance *inst, const char *name);
    const void *(*service_acquire)(strata_instance *inst, const char *name);
    void (*service_release)(strata_instance *inst, const void *api);
    /* The instance's pipeline WAL position: every record below *next is
     * acknowledged (durable). With an output's progress (batch_seq) it
     * tells whether that output has seen everything acknowledged so far:
     * search waits on it so a 202'd event is found (read your writes).
     * STRATA_ENOTFOUND without a WAL. [loop] */
    int (*buffer_position)(strata_instance *inst, uint64_t *next);

    /* ---- added in ABI 1.5: metric families with several labels ----------
     * As metric_new, with nlabels label names (0..STRATA_METRIC_MAX_LABELS,
     * none twice, none of the host's); updates give one value per name, in
     * that order. A family keeps at most 10,000 series: label values taken
     * from requests cannot grow /metrics without bound (updates of new
     * values past it are dropped, with a warning logged). metric_add and
     * the others of 1.0 work on such a family too (the first label's value;
     * the others ""). [any] */
    strata_metric *(*metric_new_labels)(strata_instance *inst, int type, const char *name,
                                        const char *help, const char *const *label_names,
                                        uint32_t nlabels, const double *buckets, uint32_t nbuckets);
    void (*metric_add_labels)(strata_metric *m, const char *const *label_values, double v);
    void (*metric_set_labels)(strata_metric *m, const char *const *label_values, double v);
    void (*metric_observe_labels)(strata_metric *m, const char *const *label_values, double v);
} strata_host_api;

/* True when the host table is new enough to contain `field`. */
#define STRATA_HOST_HAS(host, field)                                                               \
    ((host)->struct_size >= offsetof(strata_host_api, field) + sizeof((host)->field))

#ifdef __cplusplus
}
#endif

#endif /* STRATA_HOST_H */
