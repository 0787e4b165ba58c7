/*
 * strata/plugin.h - the descriptor a plugin exports.
 *
 * A plugin is a shared object exporting exactly one symbol,
 * strata_plugin_entry, which returns a pointer to a static strata_plugin.
 * Use STRATA_PLUGIN_DEFINE(desc) to export it.
 *
 * Lifecycle, all on the loop thread unless noted:
 *   init -> start -> [work callbacks] -> stop -> destroy
 *   reconfigure may run between start and stop (hot reload, in place).
 * Work callbacks by kind:
 *   input   resume()   loop thread: emit() may succeed again after EAGAIN
 *   filter  process()  the emitting thread; never two at once per instance
 *   output  flush()    the instance's own worker thread
 *   query, store       none yet: they register HTTP routes or timers in start
 */
#ifndef STRATA_PLUGIN_H
#define STRATA_PLUGIN_H

#include "abi.h"
#include "config.h"
#include "host.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum strata_plugin_kind {
    STRATA_KIND_INPUT = 1,
    STRATA_KIND_FILTER = 2,
    STRATA_KIND_OUTPUT = 3,
    STRATA_KIND_QUERY = 4,
    STRATA_KIND_STORE = 5
} strata_plugin_kind;

typedef struct strata_plugin {
    uint32_t struct_size; /* sizeof(strata_plugin) as the plugin was built */
    uint16_t abi_major;   /* STRATA_ABI_MAJOR as the plugin was built */
    uint16_t abi_minor;   /* STRATA_ABI_MINOR as the plugin was built */

    const char *name;        /* [a-z0-9_]+, unique per kind */
    uint32_t kind;           /* strata_plugin_kind */
    const char *version;     /* the plugin's own version, e.g. "1.0.0" */
    const char *description; /* one sentence */

    const strata_config_key *config; /* config_count keys */
    uint32_t config_count;
    uint32_t config_key_size; /* sizeof(strata_config_key) as built */

    /* Parse cfg and allocate *state. No threads or watchers yet. Required. */
    int (*init)(strata_instance *inst, const strata_host_api *host, const strata_config *cfg,
                void **state);
    /* Begin work: register timers, watchers, routes, threads. Optional. */
    int (*start)(void *state);
    /* Apply a changed config without a restart. Optional: without it, a
     * changed instance is replaced by a new one. On failure the host keeps
     * the old config and calls reconfigure again with it. */
    int (*reconfigure)(void *state, const strata_config *cfg);
    /* Stop producing: unregister watchers, join threads. Optional. */
    void (*stop)(void *state);
    /* Free state. Required. */
    void (*destroy)(void *state);

    /* input: room again after emit() returned STRATA_EAGAIN. */
    void (*resume)(void *state);
    /* filter: read `in` (borrowed); set *out to `in` to pass it on unchanged,
     * to a new batch (transferred to the host) to replace it, or to NULL to
     * drop it entirely. Return STRATA_EQUOTA (1.1) to refuse the whole batch:
     * emit() then returns STRATA_EQUOTA and the input keeps its batch (and
     * is not paused: other tenants' batches go on). Any other error passes
     * the batch on unchanged and counts an error. */
    int (*process)(void *state, strata_batch *in, strata_batch **out);
    /* output: deliver the batch (borrowed). STRATA_OK, STRATA_RETRY for a
     * transient failure (retried with backoff), STRATA_PENDING (1.2) when
     * the output keeps the events itself and will confirm their durability
     * with output_commit(); any other code drops it. */
    int (*flush)(void *state, const strata_batch *b);

    /* ---- ABI 1.4 ---- */
    /* Rules on the values of config keys (strata/config.h), checked at
     * validation with the file and line of a value that breaks one. */
    const strata_config_rule *config_rules; /* config_rule_count rules; NULL: none */
    uint32_t config_rule_count;
    uint32_t config_rule_size; /* sizeof(strata_config_rule) as built */
} strata_plugin;

typedef const strata_plugin *(*strata_plugin_entry_fn)(void);

#define STRATA_PLUGIN_DEFINE(desc)                                                                 \
    STRATA_EXPORT const strata_plugin *strata_plugin_entry(void);                                  \
    STRATA_EXPORT const strata_plugin *strata_plugin_entry(void)                                   \
    {                                                                                              \
        return &(desc);                                                                            \
    }

/* Fill the fields every descriptor has the same way. */
#define STRATA_PLUGIN_HEADER                                                                       \
    .struct_size = sizeof(strata_plugin), .abi_major = STRATA_ABI_MAJOR,                           \
    .abi_minor = STRATA_ABI_MINOR, .config_key_size = sizeof(strata_config_key),                   \
    .config_rule_size = sizeof(strata_config_rule)

#ifdef __cplusplus
}
#endif

#endif /* STRATA_PLUGIN_H */
