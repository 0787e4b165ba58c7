/*
 * core/core_limits.h - every limit of the core, named, with the reason for its
 * value. Values a user may change are defaults for keys of the `service:`
 * section or of an instance (docs/ARCHITECTURE.md lists them).
 */
#ifndef STRATA_CORE_LIMITS_H
#define STRATA_CORE_LIMITS_H

/* ---- configuration ---------------------------------------------------- */

/* Depth of nested `include:` files. Deeper is a loop or a mistake. */
#define CFG_MAX_INCLUDE_DEPTH 8
/* A config file larger than this is not a config file. */
#define CFG_MAX_FILE_BYTES (4u << 20)
/* Errors reported from one validation; past this the rest is noise. */
#define CFG_MAX_ERRORS 50
/* Instances in one process; a bound so a generated config cannot explode. */
#define CFG_MAX_INSTANCES 1024
/* Length of an instance or pipeline name, a tag, a match pattern. */
#define CFG_MAX_NAME 128

/* ---- batches ------------------------------------------------------------ */

/* A string field of an event (tenant, service, host) fits in u16 on the wire. */
#define BATCH_MAX_SHORT_FIELD 65535u
/* A msg; larger log lines are cut by inputs long before this. */
#define BATCH_MAX_MSG (16u << 20)
/* Meta entries per event; the ingest API enforces a lower default. */
#define BATCH_MAX_META 1024u
/* Events in one batch: keeps a batch's offsets array and latency bounded. */
#define BATCH_MAX_EVENTS 1000000u
/* A batch's encoded size: fits in u32 with room, and bounds one queue slot. */
#define BATCH_MAX_BYTES (256u << 20)

/* ---- routes and backpressure ---------------------------------------------- */

/* Outputs of one pipeline. Emit matches a batch's tag against each on the
 * input's thread and a WAL pipeline keeps a checkpoint per output, both in
 * arrays of this size; a config with more is refused at validation, since
 * an output past the bound would get no events and its checkpoint would
 * be pruned as stale. */
#define PIPELINE_MAX_OUTPUTS 64

/* Default per-output queue bound in events (queue_max_events). At 2M
 * events/s this is ~50 ms of buffering: enough to ride out scheduling jitter,
 * small enough that a stalled output pauses its inputs quickly. */
#define ROUTE_DEFAULT_MAX_EVENTS 100000
/* Default per-output queue bound in bytes (queue_max_bytes). */
#define ROUTE_DEFAULT_MAX_BYTES_MIB 64
#define ROUTE_DEFAULT_MAX_BYTES ((long long)ROUTE_DEFAULT_MAX_BYTES_MIB << 20)
/* Default bound on all queued bytes in the process (service.buffer_max_bytes). */
#define ENGINE_DEFAULT_BUFFER_MAX_BYTES_MIB 512
#define ENGINE_DEFAULT_BUFFER_MAX_BYTES ((long long)ENGINE_DEFAULT_BUFFER_MAX_BYTES_MIB << 20)
/* Inputs resume when a full queue drains below this fraction of its bound:
 * hysteresis, so a queue at the edge does not flap pause/resume per batch. */
#define ROUTE_RESUME_FRACTION 0.5
/* Flush retries for an output answering STRATA_RETRY (retry_limit), and the
 * first backoff, doubled per retry up to the cap. */
#define OUTPUT_DEFAULT_RETRY_LIMIT 5
#define OUTPUT_RETRY_BASE_MS 100
#define OUTPUT_RETRY_MAX_MS 10000

/* ---- the WAL buffer of a pipeline ------------------------------------------ */

/* Segment size (buffer.segment_bytes): rotation, an open and a directory
 * fsync, is rare at 64 MiB, and consumed data is deleted in 64 MiB steps. */
#define WAL_DEFAULT_SEGMENT_BYTES_CFG (64ll << 20)
/* Disk bound of one pipeline's WAL (buffer.max_bytes): past it the
 * pipeline's inputs are paused until consumers catch up and segments go. */
#define WAL_DEFAULT_MAX_BYTES_CFG (4ll << 30)
/* How often a WAL consumer persists its checkpoint, and how often the
 * engine deletes segments every consumer has passed. */
#define WAL_CHECKPOINT_MS 200
#define WAL_TRUNCATE_MS 1000
/* A consumer with nothing to read waits this long for a commit signal. */
#define WAL_CONSUMER_WAIT_MS 100

/* ---- lifecycle ------------------------------------------------------------ */

/* How long shutdown and reload wait for queues to drain (service.grace). */
#define ENGINE_DEFAULT_GRACE_MS 5000
/* After the grace period, how long shutdown waits for an output that is
 * still inside flush() before exiting without it. */
#define ENGINE_ABANDON_MS 2000
/* How often retiring instances are checked for being drained. */
#define ENGINE_RETIRE_POLL_MS 20

/* ---- HTTP server -------------------------------------------------------------- */

/* Request body bound (service.http_max_body). Ingest bodies are batches of
 * up to 1,000 events; 16 MiB is ~30x that with room for uncompressed JSON. */
#define HTTP_DEFAULT_MAX_BODY_MIB 16
#define HTTP_DEFAULT_MAX_BODY ((unsigned)HTTP_DEFAULT_MAX_BODY_MIB << 20)
/* Request line + headers. A client that needs more is broken or hostile. */
#define HTTP_MAX_HEADER_BYTES (64u << 10)
/* Headers kept per request. */
#define HTTP_MAX_HEADERS 64
/* Time to receive a whole request once its first byte arrived. */
#define HTTP_REQUEST_TIMEOUT_S 30.0
/* Idle keep-alive connections are closed after this. */
#define HTTP_IDLE_TIMEOUT_S 60.0
/* After an error response, how long we keep reading (and discarding) what
 * the client still sends, so it gets the response rather than a reset. */
#define HTTP_LINGER_S 2.0
/* Concurrent connections; past it new ones are closed at once. */
#define HTTP_MAX_CONNECTIONS 4096
/* Unsent response bytes buffered per connection before a stream write
 * reports the client as too slow (SSE clients that stop reading). */
#define HTTP_MAX_PENDING_OUT (8u << 20)
/* Registered routes in the process. */
#define HTTP_MAX_ROUTES 256

/* ---- own logging ------------------------------------------------------------- */

/* Lines per second one call site may log before it is summarised: the
 * brief's "log once, then count" defence against self-inflicted floods. */
#define LOG_SITE_RATE_PER_S 10
/* Call sites tracked for rate limiting (hash slots). */
#define LOG_SITE_SLOTS 256

/* ---- metrics ------------------------------------------------------------------- */

/* Labels a plugin's family may add to the host's four: every series is
 * rendered with all of them, so a family is a small table, not a record. */
#define METRICS_MAX_LABELS STRATA_METRIC_MAX_LABELS
/* Series of one family. A label whose values come from requests (a tenant,
 * a status) must not let clients grow /metrics without bound; updates to a
 * new series past this are dropped and logged. */
#define METRICS_MAX_SERIES 10000u

/* ---- durable state ----------------------------------------------------------- */

#define STATE_MAX_KEY 64
#define STATE_MAX_VALUE (1u << 20)

#endif /* STRATA_CORE_LIMITS_H */
