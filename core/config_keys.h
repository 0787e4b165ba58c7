/*
 * core/config_keys.h - the keys the host reads itself (the `service:`
 * section, and the keys every instance of a kind carries), declared as
 * descriptors with key tables and rules like a plugin's, so that
 * config.c validates them and `strata plugins --host` documents them the
 * same way (config_keys.c).
 */
#ifndef STRATA_CORE_CONFIG_KEYS_H
#define STRATA_CORE_CONFIG_KEYS_H

#include "strata/plugin.h"

/* The `service:` section's keys and rules. Static; never freed. */
const strata_plugin *cfg_service_schema(void);
/* The keys every instance of kind STRATA_KIND_* carries (plugin, name,
 * and tag, match, queue_max_events, queue_max_bytes, retry_limit as the
 * kind has them). Static. */
const strata_plugin *cfg_common_schema(int kind);
/* 1 when key is one of kind's common keys: a plugin may not declare it. */
int cfg_is_common_key(int kind, const char *key);

#endif /* STRATA_CORE_CONFIG_KEYS_H */
