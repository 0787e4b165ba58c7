/*
 * core/config.h - the pipeline YAML: parsing, includes, ${ENV} substitution,
 * and validation of every instance against its plugin's declared schema.
 *
 * config_load reads and validates a whole configuration before anything
 * starts; on failure it returns every error it found (up to CFG_MAX_ERRORS),
 * each as "file:line:col: what was wrong". The result owns all its memory;
 * config_free releases it. Strata_config objects inside instances can be
 * detached (config_take_instance_cfg) and outlive the config.
 * Thread: the loop thread (or the CLI before the loop exists).
 */
#ifndef STRATA_CORE_CONFIG_H
#define STRATA_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "strata/plugin.h"

struct loader;
struct loaded_plugin;

/* A parsed YAML node with its position. */
typedef enum { CN_SCALAR = 1, CN_SEQ = 2, CN_MAP = 3 } cnode_type;

typedef struct cnode {
    cnode_type type;
    char *value;          /* scalar, after ${ENV} substitution */
    int quoted;           /* scalar was written in quotes */
    struct cnode **items; /* seq items, or map values */
    char **keys;          /* map keys */
    size_t n;
    const char *file; /* interned; owned by the config */
    int line, col;    /* 1-based */
} cnode;

/* Error collection: "file:line:col: message" lines. */
typedef struct cfg_errors {
    char **msgs;
    size_t n;
} cfg_errors;

void cfg_errors_add(cfg_errors *e, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void cfg_errors_free(cfg_errors *e);
/* All errors as one text, one per line (caller frees). */
char *cfg_errors_join(const cfg_errors *e);

/* One value of an instance's resolved config (host accessors read these). */
typedef struct cfg_value {
    char *key;
    uint32_t type;
    int present; /* set in YAML or by default */
    char *str;   /* scalar text */
    int64_t i64;
    double dbl;
    char **list; /* LIST: items; MAP: keys */
    char **vals; /* MAP: values */
    uint32_t n;
} cfg_value;

struct strata_config {
    cfg_value *v;
    uint32_t n;
};

/* Free an instance's resolved values; NULL is fine. */
void strata_config_free(struct strata_config *c);
/* The resolved value of key (declared by the plugin or the host), or NULL. */
const cfg_value *strata_config_find(const struct strata_config *c, const char *key);

/* The configuration of one instance. */
typedef struct inst_cfg {
    int kind;                 /* strata_plugin_kind */
    char *plugin;             /* plugin name */
    char *name;               /* instance name, unique within its pipeline and kind */
    char *tag;                /* inputs */
    char *match;              /* filters, outputs */
    int64_t queue_max_events; /* outputs */
    int64_t queue_max_bytes;  /* outputs */
    int64_t retry_limit;      /* outputs */
    const struct loaded_plugin *lp;
    struct strata_config *cfg; /* may be detached (then NULL) */
    char *fingerprint;         /* canonical text of every setting */
    const char *file;
    int line;
} inst_cfg;

/* Where a pipeline keeps events between its filters and its outputs. */
typedef enum { BUFFER_MEMORY = 0, BUFFER_WAL = 1 } buffer_type;

typedef struct buffer_cfg {
    int type;              /* buffer_type */
    int64_t segment_bytes; /* wal: segment size before rotation */
    int64_t max_bytes;     /* wal: disk bound; past it inputs are paused */
} buffer_cfg;

typedef struct pipeline_cfg {
    char *name;
    inst_cfg *inst; /* all instances, in YAML order per kind */
    size_t n;
    buffer_cfg buffer;
} pipeline_cfg;

typedef struct service_cfg {
    char *log_level;
    char *log_file;
    char *http_listen; /* "host:port"; "" disables the HTTP server */
    char *data_dir;
    char **plugins_dirs;
    size_t n_plugins_dirs;
    int64_t grace_ms;
    int64_t buffer_max_bytes;
    int64_t http_max_body;
    int admin_auth; /* the admin routes need a credential with the admin scope */
} service_cfg;

typedef struct config {
    char *path; /* the top file */
    service_cfg svc;
    pipeline_cfg *pipes;
    size_t npipes;
    /* owned parse results */
    cnode **roots;
    size_t nroots;
    char **files;
    size_t nfiles;
} config;

/* Parse and validate. `ld` resolves plugins (it learns service.plugins_dir
 * from the file first). Returns 0 with *out set, or -1 with errors in err. */
int config_load(const char *path, struct loader *ld, config **out, cfg_errors *err);
/* config_load for a command: on failure every error goes to stderr after
 * "WHO: PATH is not valid:" and NULL is returned. */
config *config_load_or_print(const char *path, struct loader *ld, const char *who);
void config_free(config *c);
/* Parse a YAML buffer into a node tree (used by config_load and the fuzzer).
 * Returns NULL and adds to err on failure. */
cnode *cfg_parse_yaml(const char *text, size_t len, const char *file, cfg_errors *err,
                      size_t *nodes_budget);
void cnode_free(cnode *n);

/* Parse a SIZE ("64MiB") into bytes / a DURATION ("5s") into ms; 0 or -1. */
int cfg_parse_size(const char *s, int64_t *out);
/* The value of a scalar of an int, double, size (bytes) or duration (ms)
 * key as a number: 0, or -1 when text is not one of its type. */
int cfg_scalar_number(uint32_t type, const char *text, double *out);
/* Rule i of the plugin's config_rules (ABI 1.4), or NULL past the last or
 * when the descriptor has none. */
struct strata_plugin;
struct strata_config_rule;
const struct strata_config_rule *cfg_rule_at(const struct strata_plugin *d, uint32_t i);
int cfg_parse_duration(const char *s, int64_t *out);

/* A plugin kind's name ("input", "filter", "output", "query", "store") and
 * back; kind_parse gives 0 for a name that is none of them. */
const char *kind_name(int kind);
int kind_parse(const char *s);

#endif /* STRATA_CORE_CONFIG_H */
