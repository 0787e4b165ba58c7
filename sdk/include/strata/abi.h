/*
 * strata/abi.h - ABI version, result codes and the small value types shared
 * by every other SDK header.
 *
 * Compatibility rules (docs/PLUGINS.md has the long form):
 *   - STRATA_ABI_MAJOR changes only when an existing field, function or
 *     meaning changes. The loader refuses a plugin whose major differs.
 *   - STRATA_ABI_MINOR grows when a table grows at its end. A plugin built
 *     for minor N runs on any host with minor >= N; a host refuses a plugin
 *     that needs a newer minor than it has.
 *   - Every table and descriptor starts with its own size, so either side can
 *     tell which fields the other one knows.
 */
#ifndef STRATA_ABI_H
#define STRATA_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_ABI_MAJOR 1
#define STRATA_ABI_MINOR 5

/* The one symbol a plugin exports. */
#define STRATA_PLUGIN_ENTRY_SYMBOL "strata_plugin_entry"

#if defined(__GNUC__)
#define STRATA_EXPORT __attribute__((visibility("default")))
#define STRATA_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define STRATA_EXPORT
#define STRATA_PRINTF(fmt, args)
#endif

/* Result codes. Every SDK function returns STRATA_OK or a negative code. */
enum {
    STRATA_OK = 0,
    STRATA_ERR = -1,       /* generic failure; a message was logged or set */
    STRATA_EAGAIN = -2,    /* backpressure: try again after resume() */
    STRATA_ENOMEM = -3,    /* allocation failed */
    STRATA_EINVAL = -4,    /* bad argument or malformed input */
    STRATA_ENOTFOUND = -5, /* key, route or state entry does not exist */
    STRATA_ERANGE = -6,    /* value or buffer outside its limit */
    STRATA_RETRY = -7,     /* output: transient failure, flush again later */
    STRATA_EDROPPED = -8,  /* ack: a limit or failure dropped the batch */
    STRATA_ESTOPPING = -9, /* the instance or host is shutting down */
    STRATA_EQUOTA = -10,   /* (1.1) a quota refused the batch: retry later */
    /* (1.2) output flush only, and the one positive code: the output took
     * the batch into a store of its own and will report it durable later
     * with output_commit(); until then the WAL keeps it. */
    STRATA_PENDING = 1
};

/* A borrowed byte string; not NUL-terminated unless stated. */
typedef struct strata_str {
    const char *ptr;
    uint32_t len;
} strata_str;

/* Opaque handles. Their layout belongs to the host and never crosses the ABI. */
typedef struct strata_instance strata_instance;         /* one configured plugin instance */
typedef struct strata_config strata_config;             /* an instance's validated config */
typedef struct strata_batch strata_batch;               /* a batch of events */
typedef struct strata_metric strata_metric;             /* a registered metric family */
typedef struct strata_timer strata_timer;               /* a timer on the event loop */
typedef struct strata_io strata_io;                     /* an fd watcher on the event loop */
typedef struct strata_thread strata_thread;             /* a worker thread */
typedef struct strata_http_request strata_http_request; /* one HTTP exchange */

#ifdef __cplusplus
}
#endif

#endif /* STRATA_ABI_H */
