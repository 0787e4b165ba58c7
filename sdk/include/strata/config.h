/*
 * strata/config.h - how a plugin declares its configuration.
 *
 * A plugin lists its keys as data (name, type, default, required, doc). The
 * host validates every instance's YAML against that list before anything
 * starts, applies defaults, and hands the plugin a strata_config handle to
 * read the values through the host table. `strata plugins NAME` prints the
 * same list, so documentation and validation cannot disagree.
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

/* One configuration key. Arrays of these are strided by the descriptor's
 * config_key_size, so this struct may grow at its end in a minor version. */
typedef struct strata_config_key {
    const char *name;
    uint32_t type;             /* strata_config_type */
    const char *default_value; /* as it would be written in YAML; NULL: none */
    int required;              /* nonzero: the key must be present */
    const char *doc;           /* one sentence for `strata plugins NAME` */
} strata_config_key;

#ifdef __cplusplus
}
#endif

#endif /* STRATA_CONFIG_H */
