/*
 * core/config_keys.c - the keys the host reads itself, declared as data the
 * way a plugin declares its own (strata/config.h): the `service:` section
 * and the keys every instance of a kind may carry (plugin, name, tag,
 * match, an output's queue and retry bounds). config.c validates them with
 * the same resolver as a plugin's keys (types, defaults, rules, file:line
 * errors) and `strata plugins --host` prints them as it prints a plugin's,
 * so validation and documentation cannot disagree.
 */
#include "config_keys.h"

#include <string.h>

#include "core_limits.h"

/* A decimal literal of a default from core_limits.h, as YAML would write it. */
#define CFG_STR_(x) #x
#define CFG_STR(x) CFG_STR_(x)

/* ---- service: ---------------------------------------------------------- */

static const strata_config_key SERVICE_KEYS[] = {
    {"http_listen", STRATA_CFG_STRING, "127.0.0.1:7070", 0,
     "host:port of the HTTP server (ingest, search, /metrics); \"\" runs none"},
    {"data_dir", STRATA_CFG_STRING, "./strata-data", 0,
     "directory of the WAL, the index and plugins' durable state"},
    {"log_level", STRATA_CFG_STRING, "info", 0, "the least severe line the core logs"},
    {"log_file", STRATA_CFG_STRING, "", 0, "append the core's log here (\"\": stderr)"},
    {"plugins_dir", STRATA_CFG_LIST, NULL, 0,
     "directories searched for plugins before STRATA_PLUGIN_PATH and the built-in ones"},
    {"grace", STRATA_CFG_DURATION, CFG_STR(ENGINE_DEFAULT_GRACE_MS) "ms", 0,
     "drain deadline at shutdown and for instances retired by a reload"},
    {"buffer_max_bytes", STRATA_CFG_SIZE, CFG_STR(ENGINE_DEFAULT_BUFFER_MAX_BYTES_MIB) "MiB", 0,
     "bound on all batches queued in the process"},
    {"http_max_body", STRATA_CFG_SIZE, CFG_STR(HTTP_DEFAULT_MAX_BODY_MIB) "MiB", 0,
     "bound on one HTTP request body (413 past it)"},
    {"admin_auth", STRATA_CFG_BOOL, "false", 0,
     "POST /v1/admin/reload needs Authorization: Bearer <user token> with the admin scope"},
};

static const char *const LOG_LEVELS[] = {"error", "warn", "warning", "info", "debug", NULL};

/* http_listen: host:port, or "" for no listener. */
static const char *check_listen(const char *v)
{
    return *v && !strrchr(v, ':') ? "must be host:port (or \"\" to disable)" : NULL;
}

static const strata_config_rule SERVICE_RULES[] = {
    {.key = "http_listen", .check = check_listen},
    {.key = "log_level", .allowed = LOG_LEVELS},
    {.key = "grace", .min = "0ms"},
    {.key = "buffer_max_bytes", .min = "1"},
    {.key = "http_max_body", .min = "1"},
};

static const strata_plugin SERVICE_SCHEMA = {
    STRATA_PLUGIN_HEADER,
    .name = "service",
    .description = "the service: section of a config",
    .config = SERVICE_KEYS,
    .config_count = sizeof SERVICE_KEYS / sizeof *SERVICE_KEYS,
    .config_rules = SERVICE_RULES,
    .config_rule_count = sizeof SERVICE_RULES / sizeof *SERVICE_RULES,
};

/* ---- keys of every instance ---------------------------------------------- */

/* Each kind's table starts with the keys all kinds share. */
/* required, and read before the table (`plugin: null` names the null output) */
#define COMMON_PLUGIN                                                                              \
    {                                                                                              \
        "plugin", STRATA_CFG_STRING, NULL, 0, "the plugin's name: required"                        \
    }
#define COMMON_NAME                                                                                \
    {                                                                                              \
        "name", STRATA_CFG_STRING, NULL, 0,                                                        \
            "the instance's name in its pipeline: 1-128 of [A-Za-z0-9_.-] (default: the "          \
            "plugin's, "                                                                           \
            "numbered when repeated)"                                                              \
    }
#define COMMON_MATCH                                                                               \
    {                                                                                              \
        "match", STRATA_CFG_STRING, "*", 0, "the tags it takes: a pattern with * wildcards"        \
    }

static const strata_config_key INPUT_KEYS[] = {
    COMMON_PLUGIN,
    COMMON_NAME,
    {"tag", STRATA_CFG_STRING, NULL, 0, "the tag of its batches (default: PIPELINE.NAME)"},
};
static const strata_config_key FILTER_KEYS[] = {COMMON_PLUGIN, COMMON_NAME, COMMON_MATCH};
static const strata_config_key OUTPUT_KEYS[] = {
    COMMON_PLUGIN,
    COMMON_NAME,
    COMMON_MATCH,
    {"queue_max_events", STRATA_CFG_INT, CFG_STR(ROUTE_DEFAULT_MAX_EVENTS), 0,
     "events queued for it before its inputs are held back"},
    {"queue_max_bytes", STRATA_CFG_SIZE, CFG_STR(ROUTE_DEFAULT_MAX_BYTES_MIB) "MiB", 0,
     "bytes queued for it before its inputs are held back"},
    {"retry_limit", STRATA_CFG_INT, CFG_STR(OUTPUT_DEFAULT_RETRY_LIMIT), 0,
     "retries of a failing batch before it is dropped and counted (a WAL pipeline retries "
     "without limit)"},
};
static const strata_config_key PLAIN_KEYS[] = {COMMON_PLUGIN, COMMON_NAME};

_Static_assert(CFG_MAX_NAME == 128, "the messages below say 128");
/* tag and match are at most CFG_MAX_NAME bytes (config.c checks a name's
 * characters and length with its own message). */
static const char *check_name_len(const char *v)
{
    return strlen(v) > CFG_MAX_NAME ? "is longer than 128 bytes" : NULL;
}

static const strata_config_rule COMMON_RULES[] = {
    {.key = "name", .check = check_name_len},  {.key = "tag", .check = check_name_len},
    {.key = "match", .check = check_name_len}, {.key = "queue_max_events", .min = "1"},
    {.key = "queue_max_bytes", .min = "1"},    {.key = "retry_limit", .min = "0"},
};

/* The common keys of one kind as a descriptor (name: the kind's). */
#define COMMON_SCHEMA(kindname, keys)                                                              \
    {                                                                                              \
        STRATA_PLUGIN_HEADER, .name = kindname, .description = "keys of every " kindname,          \
                              .config = keys, .config_count = sizeof keys / sizeof *keys,          \
                              .config_rules = COMMON_RULES,                                        \
                              .config_rule_count = sizeof COMMON_RULES / sizeof *COMMON_RULES      \
    }

static const strata_plugin INPUT_SCHEMA = COMMON_SCHEMA("input", INPUT_KEYS);
static const strata_plugin FILTER_SCHEMA = COMMON_SCHEMA("filter", FILTER_KEYS);
static const strata_plugin OUTPUT_SCHEMA = COMMON_SCHEMA("output", OUTPUT_KEYS);
static const strata_plugin PLAIN_SCHEMA = COMMON_SCHEMA("query or store", PLAIN_KEYS);

const strata_plugin *cfg_service_schema(void)
{
    return &SERVICE_SCHEMA;
}

const strata_plugin *cfg_common_schema(int kind)
{
    return kind == STRATA_KIND_INPUT    ? &INPUT_SCHEMA
           : kind == STRATA_KIND_OUTPUT ? &OUTPUT_SCHEMA
           : kind == STRATA_KIND_FILTER ? &FILTER_SCHEMA
                                        : &PLAIN_SCHEMA;
}

int cfg_is_common_key(int kind, const char *key)
{
    const strata_plugin *d = cfg_common_schema(kind);
    for (uint32_t i = 0; i < d->config_count; i++)
        if (strcmp(d->config[i].name, key) == 0)
            return 1;
    return 0;
}
