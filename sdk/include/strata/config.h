/*
 * strata/config.h - how a plugin declares its configuration.
 *
 * A plugin lists its keys as data (name, type, default, required, doc) and,
 * from ABI 1.4, rules on their values (strata_config_rule: the values
 * allowed, bounds, a check of its own). The host
 * validates every instance's YAML against that list before anything
 * starts (`strata validate`, a reload), with the file and line of a value
 * that is wrong, applies defaults, and hands the plugin a strata_config
 * handle to read the values through the host table. `strata plugins NAME`
 * prints the same list, so documentation and validation cannot disagree.
 *
 * Values as YAML writes them:
 *   - an unquoted null (`key:`, `key: ~`, `key: null`) is no value: the
 *     default applies, and a required key is missing; quote it ('null')
 *     for the string;
 *   - a duration without a unit is in seconds (5 = 5s); units ms, s, m,
 *     h, d;
 *   - a size without a unit is in bytes; units k/kb (1000), kib (1024),
 *     m/mb, mib, g/gb, gib, t/tb, tib, any case.
 * A key may not be one the host reads itself (plugin, name, tag, match,
 * queue_max_events, queue_max_bytes, retry_limit): the loader refuses such
 * a plugin.
 */
#ifndef STRATA_CONFIG_H
#define STRATA_CONFIG_H

#include "abi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum strata_config_type {
    STRATA_CFG_STRING = 1, /* a scalar, read with cfg_str */
    STRATA_CFG_INT = 2,    /* a signed 64-bit integer, cfg_int */
    STRATA_CFG_DOUBLE = 3, /* a number, cfg_double */
    STRATA_CFG_BOOL = 4,   /* true/false/yes/no/on/off, cfg_bool */
    STRATA_CFG_SIZE = 5, /* bytes with optional unit: 512, 64KiB, 32MiB, 1GB; cfg_int gives bytes */
    STRATA_CFG_DURATION = 6, /* 250ms, 5s, 2m, 1h; cfg_int gives milliseconds */
    STRATA_CFG_LIST = 7,     /* a sequence of scalars, cfg_list_len/cfg_list_at */
    STRATA_CFG_MAP = 8       /* a mapping of scalar to scalar, cfg_map_len/cfg_map_at */
} strata_config_type;

/* Checks one value (a scalar, or each item of a list) after its type and
 * bounds passed: NULL when it is fine, else a sentence saying what is
 * wrong, in static storage (the host copies it). It runs at validation, on
 * the loop thread, before the instance exists: it must keep no state. */
typedef const char *(*strata_config_check_fn)(const char *value);

/* One configuration key. Arrays of these are strided by the descriptor's
 * config_key_size, so this struct may grow at its end in a minor version. */
typedef struct strata_config_key {
    const char *name;
    uint32_t type;             /* strata_config_type */
    const char *default_value; /* as it would be written in YAML; NULL: none */
    int required;              /* nonzero: the key must be present */
    const char *doc;           /* one sentence for `strata plugins NAME` */
} strata_config_key;

/* ABI 1.4: a rule on the values of one declared key (the descriptor's
 * config_rules; written with designated initializers, so it may grow at
 * its end). Each field is optional. */
typedef struct strata_config_rule {
    const char *key;              /* the key's name, as declared */
    const char *const *allowed;   /* NULL-terminated values a scalar or each list item may take,
                                     matched exactly (an enum); NULL: any */
    const char *min;              /* the lowest value of an int, double, size or duration key,
                                     written as in YAML ("1", "0.5", "4KiB", "100ms"); NULL: none */
    const char *max;              /* the highest, likewise; NULL: none */
    strata_config_check_fn check; /* the plugin's own check; NULL: none */
} strata_config_rule;

#ifdef __cplusplus
}
#endif

#endif /* STRATA_CONFIG_H */
