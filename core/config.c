/*
 * core/config.c - load, substitute, include and validate pipeline YAML.
 *
 * Steps: parse each file with libyaml into a cnode tree (positions kept),
 * substituting ${VAR} and ${VAR:-default} in scalars; follow `include:`
 * globs relative to the including file; read `service:`; then for every
 * instance resolve its plugin and check each key against the plugin's
 * declared schema. Every problem is collected with file:line:col; nothing
 * starts unless there are none.
 *
 * Thread: the loop thread.
 */
#include "config.h"
#include "config_keys.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core_limits.h"
#include "loader.h"
#include "strbuf.h"

/* Nodes one document may expand to (aliases included): a YAML bomb of
 * nested aliases is refused instead of eating memory. */
#define CFG_MAX_NODES 100000
/* Maximum nesting depth of a YAML document. */
#define CFG_MAX_DEPTH 64

static const char *const kind_names[] = {"", "input", "filter", "output", "query", "store"};

/* A plugin kind's name as configs and messages spell it ("input", "filter", ...). */
const char *kind_name(int kind)
{
    return kind >= STRATA_KIND_INPUT && kind <= STRATA_KIND_STORE ? kind_names[kind] : "?";
}

int kind_parse(const char *s)
{
    for (int k = STRATA_KIND_INPUT; k <= STRATA_KIND_STORE; k++)
        if (strcmp(s, kind_names[k]) == 0)
            return k;
    return 0;
}

/* ---- errors ------------------------------------------------------------ */

/* Add one error with its file:line:column; errors past CFG_MAX_ERRORS are dropped. */
void cfg_errors_add(cfg_errors *e, const char *file, int line, int col, const char *fmt, ...)
{
    if (e->n >= CFG_MAX_ERRORS)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char full[1400];
    if (line > 0)
        snprintf(full, sizeof full, "%s:%d:%d: %s", file ? file : "?", line, col, msg);
    else
        snprintf(full, sizeof full, "%s: %s", file ? file : "?", msg);
    char **m = realloc(e->msgs, (e->n + 1) * sizeof *m);
    if (!m)
        return;
    e->msgs = m;
    if ((m[e->n] = strdup(full)))
        e->n++;
}

/* Free the collected errors. */
void cfg_errors_free(cfg_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->msgs[i]);
    free(e->msgs);
    e->msgs = NULL;
    e->n = 0;
}

char *cfg_errors_join(const cfg_errors *e)
{
    strbuf sb = {0};
    for (size_t i = 0; i < e->n; i++) {
        sb_puts(&sb, e->msgs[i]);
        sb_puts(&sb, "\n");
    }
    if (e->n >= CFG_MAX_ERRORS)
        sb_printf(&sb, "(stopped after %d errors)\n", CFG_MAX_ERRORS);
    return sb_steal(&sb);
}

/* ---- nodes --------------------------------------------------------------- */

/* Free a parsed YAML node and its children (NULL is fine). */
void cnode_free(cnode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        cnode_free(n->items[i]);
        if (n->keys)
            free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->value);
    free(n);
}

/* Substitute ${VAR} and ${VAR:-default}. An unset variable without a
 * default is an error naming it. Returns a new string or NULL. */
static char *subst_env(const char *s, const char *file, int line, int col, cfg_errors *err)
{
    if (!strchr(s, '$'))
        return strdup(s);
    strbuf sb = {0};
    for (const char *p = s; *p;) {
        if (p[0] == '$' && p[1] == '$') { /* $$ is a literal $ */
            sb_append(&sb, "$", 1);
            p += 2;
            continue;
        }
        if (p[0] != '$' || p[1] != '{') {
            sb_append(&sb, p++, 1);
            continue;
        }
        const char *end = strchr(p + 2, '}');
        if (!end) {
            cfg_errors_add(err, file, line, col, "unterminated ${ in '%s'", s);
            sb_free(&sb);
            return NULL;
        }
        char name[256];
        size_t n = (size_t)(end - (p + 2));
        if (n >= sizeof name)
            n = sizeof name - 1;
        memcpy(name, p + 2, n);
        name[n] = 0;
        const char *def = NULL;
        char *dash = strstr(name, ":-");
        if (dash) {
            *dash = 0;
            def = dash + 2;
        }
        const char *val = getenv(name);
        if (!val || (!*val && def))
            val = def;
        if (!val) {
            cfg_errors_add(err, file, line, col,
                           "environment variable %s is not set (write ${%s:-default} to give one)",
                           name, name);
            sb_free(&sb);
            return NULL;
        }
        sb_puts(&sb, val);
        p = end + 1;
    }
    if (sb.oom) {
        sb_free(&sb);
        return NULL;
    }
    return sb_steal(&sb);
}

/* Convert yaml node `id` of doc into a cnode tree. */
static cnode *convert(yaml_document_t *doc, int id, const char *file, cfg_errors *err,
                      size_t *budget, int depth)
{
    yaml_node_t *yn = yaml_document_get_node(doc, id);
    if (!yn)
        return NULL;
    int line = (int)yn->start_mark.line + 1, col = (int)yn->start_mark.column + 1;
    if (*budget == 0) {
        cfg_errors_add(err, file, line, col, "document expands to more than %d nodes (alias bomb?)",
                       CFG_MAX_NODES);
        return NULL;
    }
    (*budget)--;
    if (depth > CFG_MAX_DEPTH) {
        cfg_errors_add(err, file, line, col, "nesting deeper than %d levels", CFG_MAX_DEPTH);
        return NULL;
    }
    cnode *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->file = file;
    n->line = line;
    n->col = col;
    switch (yn->type) {
    case YAML_SCALAR_NODE:
        n->type = CN_SCALAR;
        n->quoted = yn->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    yn->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        if (strlen((char *)yn->data.scalar.value) != yn->data.scalar.length) {
            cfg_errors_add(err, file, line, col, "scalar contains a NUL byte");
            cnode_free(n);
            return NULL;
        }
        n->value = subst_env((char *)yn->data.scalar.value, file, line, col, err);
        if (!n->value) {
            cnode_free(n);
            return NULL;
        }
        return n;
    case YAML_SEQUENCE_NODE: {
        n->type = CN_SEQ;
        size_t cnt = (size_t)(yn->data.sequence.items.top - yn->data.sequence.items.start);
        n->items = calloc(cnt ? cnt : 1, sizeof(cnode *));
        if (!n->items) {
            cnode_free(n);
            return NULL;
        }
        for (size_t i = 0; i < cnt; i++) {
            cnode *c = convert(doc, yn->data.sequence.items.start[i], file, err, budget, depth + 1);
            if (!c) {
                cnode_free(n);
                return NULL;
            }
            n->items[n->n++] = c;
        }
        return n;
    }
    case YAML_MAPPING_NODE: {
        n->type = CN_MAP;
        size_t cnt = (size_t)(yn->data.mapping.pairs.top - yn->data.mapping.pairs.start);
        n->items = calloc(cnt ? cnt : 1, sizeof(cnode *));
        n->keys = calloc(cnt ? cnt : 1, sizeof(char *));
        if (!n->items || !n->keys) {
            cnode_free(n);
            return NULL;
        }
        for (size_t i = 0; i < cnt; i++) {
            yaml_node_pair_t *pr = &yn->data.mapping.pairs.start[i];
            yaml_node_t *kn = yaml_document_get_node(doc, pr->key);
            if (!kn || kn->type != YAML_SCALAR_NODE) {
                cfg_errors_add(err, file, kn ? (int)kn->start_mark.line + 1 : line,
                               kn ? (int)kn->start_mark.column + 1 : col,
                               "mapping keys must be plain scalars");
                cnode_free(n);
                return NULL;
            }
            const char *k = (const char *)kn->data.scalar.value;
            for (size_t j = 0; j < n->n; j++)
                if (strcmp(n->keys[j], k) == 0) {
                    cfg_errors_add(err, file, (int)kn->start_mark.line + 1,
                                   (int)kn->start_mark.column + 1,
                                   "key '%s' appears twice in the same mapping", k);
                    cnode_free(n);
                    return NULL;
                }
            cnode *c = convert(doc, pr->value, file, err, budget, depth + 1);
            if (!c) {
                cnode_free(n);
                return NULL;
            }
            /* a key's position is more useful than its value's for errors */
            if (!(n->keys[n->n] = strdup(k))) {
                cnode_free(c);
                cnode_free(n);
                return NULL;
            }
            n->items[n->n++] = c;
        }
        return n;
    }
    default:
        cfg_errors_add(err, file, line, col, "empty node");
        cnode_free(n);
        return NULL;
    }
}

cnode *cfg_parse_yaml(const char *text, size_t len, const char *file, cfg_errors *err,
                      size_t *nodes_budget)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    size_t budget = CFG_MAX_NODES;
    if (!nodes_budget)
        nodes_budget = &budget;
    if (!yaml_parser_initialize(&parser)) {
        cfg_errors_add(err, file, 0, 0, "out of memory initialising the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        cfg_errors_add(err, file, (int)parser.problem_mark.line + 1,
                       (int)parser.problem_mark.column + 1, "YAML syntax error: %s%s%s",
                       parser.problem ? parser.problem : "unknown problem",
                       parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return NULL;
    }
    cnode *root = NULL;
    yaml_node_t *top = yaml_document_get_root_node(&doc);
    if (!top) {
        /* an empty file is an empty mapping */
        root = calloc(1, sizeof *root);
        if (root) {
            root->type = CN_MAP;
            root->file = file;
            root->line = 1;
            root->col = 1;
        }
    } else {
        root = convert(&doc, 1, file, err, nodes_budget, 0);
    }
    /* more than one document in a file is a mistake worth reporting */
    yaml_document_t extra;
    if (root && yaml_parser_load(&parser, &extra)) {
        if (yaml_document_get_root_node(&extra)) {
            cfg_errors_add(err, file, (int)extra.start_mark.line + 1, 1,
                           "only one YAML document per file is allowed");
            cnode_free(root);
            root = NULL;
        }
        yaml_document_delete(&extra);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return root;
}

/* ---- scalar parsing ------------------------------------------------------ */

int cfg_parse_size(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || !isfinite(v))
        return -1;
    while (*end == ' ')
        end++;
    static const struct {
        const char *u;
        double mul;
    } units[] = {{"", 1},
                 {"b", 1},
                 {"k", 1e3},
                 {"kb", 1e3},
                 {"kib", 1024.0},
                 {"m", 1e6},
                 {"mb", 1e6},
                 {"mib", 1048576.0},
                 {"g", 1e9},
                 {"gb", 1e9},
                 {"gib", 1073741824.0},
                 {"t", 1e12},
                 {"tb", 1e12},
                 {"tib", 1099511627776.0}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(end, units[i].u) == 0) {
            double r = v * units[i].mul;
            if (r > 9.0e18)
                return -1;
            *out = (int64_t)r;
            return 0;
        }
    }
    return -1;
}

int cfg_parse_duration(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || !isfinite(v))
        return -1;
    double mul;
    if (!*end || strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "ms") == 0)
        mul = 1;
    else if (strcmp(end, "m") == 0)
        mul = 60000;
    else if (strcmp(end, "h") == 0)
        mul = 3600000;
    else if (strcmp(end, "d") == 0)
        mul = 86400000;
    else
        return -1;
    if (v * mul > 9.0e15)
        return -1;
    *out = (int64_t)(v * mul);
    return 0;
}

/* Parse a whole decimal integer; 0, or -1 when s is not one or out of range. */
static int parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno)
        return -1;
    *out = v;
    return 0;
}

/* Parse true/yes/on/1 or false/no/off/0 (any case); -1 for anything else. */
static int parse_bool(const char *s, int *out)
{
    static const char *t[] = {"true", "yes", "on", "1"}, *f[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, t[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(s, f[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

/* A config type's name for error messages, with an example where the syntax matters. */
static const char *type_name(uint32_t t)
{
    static const char *names[] = {
        "?",    "string", "integer", "number", "boolean", "size (e.g. 64MiB)", "duration (e.g. 5s)",
        "list", "map"};
    return t <= STRATA_CFG_MAP ? names[t] : "?";
}

/* ---- resolved instance config ---------------------------------------------- */

/* Free an instance's resolved config values. */
void strata_config_free(struct strata_config *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->n; i++) {
        cfg_value *v = &c->v[i];
        free(v->key);
        free(v->str);
        for (uint32_t k = 0; k < v->n; k++) {
            free(v->list[k]);
            if (v->vals)
                free(v->vals[k]);
        }
        free(v->list);
        free(v->vals);
    }
    free(c->v);
    free(c);
}

const cfg_value *strata_config_find(const struct strata_config *c, const char *key)
{
    if (!c || !key)
        return NULL;
    for (uint32_t i = 0; i < c->n; i++)
        if (strcmp(c->v[i].key, key) == 0)
            return c->v[i].present ? &c->v[i] : NULL;
    return NULL;
}

/* Fill v from a scalar text for a scalar type; 0 or -1 (wrong type). */
static int set_scalar(cfg_value *v, const char *text)
{
    if (!(v->str = strdup(text)))
        return -1;
    switch (v->type) {
    case STRATA_CFG_STRING: return 0;
    case STRATA_CFG_INT: return parse_int(text, &v->i64);
    case STRATA_CFG_DOUBLE: {
        char *end;
        errno = 0;
        v->dbl = strtod(text, &end);
        if (end == text || *end || errno || !isfinite(v->dbl))
            return -1;
        v->i64 = (int64_t)v->dbl;
        return 0;
    }
    case STRATA_CFG_BOOL: {
        int b;
        if (parse_bool(text, &b))
            return -1;
        v->i64 = b;
        return 0;
    }
    case STRATA_CFG_SIZE: return cfg_parse_size(text, &v->i64);
    case STRATA_CFG_DURATION: return cfg_parse_duration(text, &v->i64);
    default: return -1;
    }
}

/* The rules table exists in descriptors of ABI 1.4 on, rules of the 1.4
 * layout at least. */
#define DESC_RULES_END (offsetof(strata_plugin, config_rule_size) + sizeof(uint32_t))
#define RULE_MIN_SIZE (offsetof(strata_config_rule, check) + sizeof(strata_config_check_fn))

/* Rule i of a plugin's descriptor, or NULL (no rules, a descriptor older than ABI 1.4, or past the
 * end). */
const strata_config_rule *cfg_rule_at(const strata_plugin *d, uint32_t i)
{
    if (d->struct_size < DESC_RULES_END || !d->config_rules ||
        d->config_rule_size < RULE_MIN_SIZE || i >= d->config_rule_count)
        return NULL;
    return (const void *)((const char *)d->config_rules + (size_t)i * d->config_rule_size);
}

/* The rule of key `name`, or NULL. */
static const strata_config_rule *rule_of(const strata_plugin *d, const char *name)
{
    const strata_config_rule *r;
    for (uint32_t i = 0; (r = cfg_rule_at(d, i)); i++)
        if (r->key && strcmp(r->key, name) == 0)
            return r;
    return NULL;
}

int cfg_scalar_number(uint32_t type, const char *text, double *out)
{
    cfg_value v = {.type = type};
    int rc = (type == STRATA_CFG_INT || type == STRATA_CFG_DOUBLE || type == STRATA_CFG_SIZE ||
              type == STRATA_CFG_DURATION)
                 ? set_scalar(&v, text)
                 : -1;
    free(v.str);
    if (rc == 0)
        *out = type == STRATA_CFG_DOUBLE ? v.dbl : (double)v.i64;
    return rc;
}

/* An unquoted YAML null (`key:`, `~`, `null`): no value. */
static int is_yaml_null(const cnode *n)
{
    if (n->type != CN_SCALAR || n->quoted)
        return 0;
    const char *s = n->value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* The rule of key ck (ABI 1.4) on one value (a scalar or a list item)
 * already of its type: allowed values, bounds, the plugin's own check. An
 * error at vn when one fails. */
static void check_value(const strata_plugin *d, const strata_config_key *ck, const char *value,
                        const cnode *vn, const char *what, cfg_errors *err)
{
    const strata_config_rule *rl = rule_of(d, ck->name);
    if (!rl)
        return;
    if (rl->allowed) {
        int ok = 0;
        strbuf list = {0};
        for (const char *const *a = rl->allowed; *a; a++) {
            ok |= strcmp(*a, value) == 0;
            sb_printf(&list, "%s%s", a == rl->allowed ? "" : ", ", *a);
        }
        if (!ok)
            cfg_errors_add(err, vn->file, vn->line, vn->col,
                           "key '%s' of %s must be one of %s; got '%s'", ck->name, what,
                           list.buf ? list.buf : "(none)", value);
        sb_free(&list);
        if (!ok)
            return;
    }
    double v, bound;
    if ((rl->min || rl->max) && cfg_scalar_number(ck->type, value, &v) == 0) {
        if (rl->min && cfg_scalar_number(ck->type, rl->min, &bound) == 0 && v < bound) {
            cfg_errors_add(err, vn->file, vn->line, vn->col,
                           "key '%s' of %s must be at least %s; got '%s'", ck->name, what, rl->min,
                           value);
            return;
        }
        if (rl->max && cfg_scalar_number(ck->type, rl->max, &bound) == 0 && v > bound) {
            cfg_errors_add(err, vn->file, vn->line, vn->col,
                           "key '%s' of %s must be at most %s; got '%s'", ck->name, what, rl->max,
                           value);
            return;
        }
    }
    const char *why = rl->check ? rl->check(value) : NULL;
    if (why)
        cfg_errors_add(err, vn->file, vn->line, vn->col, "key '%s' of %s: %s (got '%s')", ck->name,
                       what, why, value);
}

/* Resolve the keys of schema d from mapping `m`. A key of neither d nor
 * `also` (the host's common keys of the kind, or NULL) is an error, but
 * for host_pass: the pass over an instance's common keys, whose mapping
 * also holds the plugin's keys and whose `plugin` was read before (its
 * value may be `null`, the null output, which is no YAML null there).
 * Adds errors; returns the config (even partial) or NULL. */
static struct strata_config *resolve_schema(const strata_plugin *d, const cnode *m,
                                            const strata_plugin *also, int host_pass,
                                            const char *what, cfg_errors *err)
{
    struct strata_config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->v = calloc(d->config_count ? d->config_count : 1, sizeof *c->v);
    if (!c->v) {
        free(c);
        return NULL;
    }
    /* unknown keys first: they are the commonest mistake */
    for (size_t i = 0; !host_pass && i < m->n; i++) {
        int known = 0;
        for (uint32_t k = 0; also && k < also->config_count && !known; k++)
            known = strcmp(also->config[k].name, m->keys[i]) == 0;
        for (uint32_t k = 0; k < d->config_count && !known; k++) {
            const strata_config_key *ck =
                (const void *)((const char *)d->config + (size_t)k * d->config_key_size);
            known = strcmp(ck->name, m->keys[i]) == 0;
        }
        if (!known) {
            strbuf hint = {0};
            for (uint32_t k = 0; k < d->config_count; k++) {
                const strata_config_key *ck =
                    (const void *)((const char *)d->config + (size_t)k * d->config_key_size);
                sb_printf(&hint, "%s%s", k ? ", " : "", ck->name);
            }
            cfg_errors_add(err, m->items[i]->file, m->items[i]->line, m->items[i]->col,
                           "unknown key '%s' for %s (it accepts: %s)", m->keys[i], what,
                           hint.buf ? hint.buf : "no plugin keys");
            sb_free(&hint);
        }
    }
    for (uint32_t k = 0; k < d->config_count; k++) {
        const strata_config_key *ck =
            (const void *)((const char *)d->config + (size_t)k * d->config_key_size);
        cfg_value *v = &c->v[c->n++];
        v->type = ck->type;
        if (!(v->key = strdup(ck->name)))
            continue;
        const cnode *vn = NULL;
        for (size_t i = 0; i < m->n; i++)
            if (strcmp(m->keys[i], ck->name) == 0 && !is_yaml_null(m->items[i]))
                vn = m->items[i];
        if (!vn) {
            if (ck->required && !host_pass) {
                cfg_errors_add(err, m->file, m->line, m->col, "%s needs key '%s' (%s): %s", what,
                               ck->name, type_name(ck->type), ck->doc ? ck->doc : "");
                continue;
            }
            if (!ck->default_value)
                continue;
            v->present = 1;
            if (ck->type == STRATA_CFG_LIST || ck->type == STRATA_CFG_MAP)
                continue; /* defaults for collections are empty */
            if (set_scalar(v, ck->default_value) != 0)
                cfg_errors_add(err, m->file, m->line, m->col,
                               "%s: the plugin's default for '%s' ('%s') is not a valid %s", what,
                               ck->name, ck->default_value, type_name(ck->type));
            continue;
        }
        v->present = 1;
        if (ck->type == STRATA_CFG_LIST) {
            if (vn->type == CN_SCALAR) { /* a single scalar is a one-item list */
                v->list = calloc(1, sizeof(char *));
                if (v->list && (v->list[0] = strdup(vn->value)))
                    v->n = 1;
                continue;
            }
            if (vn->type != CN_SEQ) {
                cfg_errors_add(err, vn->file, vn->line, vn->col, "key '%s' of %s must be a list",
                               ck->name, what);
                continue;
            }
            v->list = calloc(vn->n ? vn->n : 1, sizeof(char *));
            for (size_t i = 0; v->list && i < vn->n; i++) {
                if (vn->items[i]->type != CN_SCALAR) {
                    cfg_errors_add(err, vn->items[i]->file, vn->items[i]->line, vn->items[i]->col,
                                   "items of '%s' must be scalars", ck->name);
                    break;
                }
                check_value(d, ck, vn->items[i]->value, vn->items[i], what, err);
                if ((v->list[v->n] = strdup(vn->items[i]->value)))
                    v->n++;
            }
        } else if (ck->type == STRATA_CFG_MAP) {
            if (vn->type != CN_MAP) {
                cfg_errors_add(err, vn->file, vn->line, vn->col,
                               "key '%s' of %s must be a mapping (key: value)", ck->name, what);
                continue;
            }
            v->list = calloc(vn->n ? vn->n : 1, sizeof(char *));
            v->vals = calloc(vn->n ? vn->n : 1, sizeof(char *));
            for (size_t i = 0; v->list && v->vals && i < vn->n; i++) {
                if (vn->items[i]->type != CN_SCALAR) {
                    cfg_errors_add(err, vn->items[i]->file, vn->items[i]->line, vn->items[i]->col,
                                   "values of '%s' must be scalars", ck->name);
                    break;
                }
                v->list[v->n] = strdup(vn->keys[i]);
                v->vals[v->n] = strdup(vn->items[i]->value);
                if (v->list[v->n] && v->vals[v->n])
                    v->n++;
            }
        } else {
            if (vn->type != CN_SCALAR) {
                cfg_errors_add(err, vn->file, vn->line, vn->col,
                               "key '%s' of %s must be a %s, not a %s", ck->name, what,
                               type_name(ck->type), vn->type == CN_SEQ ? "list" : "mapping");
                continue;
            }
            if (set_scalar(v, vn->value) != 0)
                cfg_errors_add(err, vn->file, vn->line, vn->col,
                               "key '%s' of %s must be a %s, got '%s'", ck->name, what,
                               type_name(ck->type), vn->value);
            else
                check_value(d, ck, vn->value, vn, what, err);
        }
    }
    return c;
}

/* Canonical text of a resolved config, for "did it change?" on reload. */
static void fingerprint_cfg(strbuf *sb, const struct strata_config *c)
{
    for (uint32_t i = 0; c && i < c->n; i++) {
        const cfg_value *v = &c->v[i];
        if (!v->present)
            continue;
        sb_printf(sb, "%s=", v->key);
        if (v->str)
            sb_json_str(sb, v->str);
        for (uint32_t k = 0; k < v->n; k++) {
            sb_puts(sb, "[");
            sb_json_str(sb, v->list[k]);
            if (v->vals) {
                sb_puts(sb, ":");
                sb_json_str(sb, v->vals[k]);
            }
            sb_puts(sb, "]");
        }
        sb_puts(sb, ";");
    }
}

/* ---- the document model ------------------------------------------------------ */

/* The value of key in a YAML map node, or NULL. */
static const cnode *map_get(const cnode *m, const char *key)
{
    if (!m || m->type != CN_MAP)
        return NULL;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->keys[i], key) == 0)
            return m->items[i];
    return NULL;
}

/* `serve:` holds credentials `strata serve` creates or confirms at start
 * (cli/serve.c reads them); pipelines ignore it. Check its shape here so a
 * typo is an error like anywhere else. */
static void check_serve_section(const cnode *sv, cfg_errors *err)
{
    if (!sv)
        return;
    if (sv->type != CN_MAP) {
        cfg_errors_add(err, sv->file, sv->line, sv->col,
                       "serve must be a mapping (ingest_keys, user_tokens)");
        return;
    }
    for (size_t i = 0; i < sv->n; i++) {
        const cnode *v = sv->items[i];
        if (strcmp(sv->keys[i], "ingest_keys") != 0 && strcmp(sv->keys[i], "user_tokens") != 0) {
            cfg_errors_add(err, v->file, v->line, v->col,
                           "unknown serve key '%s' (known: ingest_keys, user_tokens)", sv->keys[i]);
            continue;
        }
        if (v->type != CN_SEQ) {
            cfg_errors_add(err, v->file, v->line, v->col,
                           "serve.%s must be a list of TENANT=SECRET", sv->keys[i]);
            continue;
        }
        for (size_t k = 0; k < v->n; k++)
            if (v->items[k]->type != CN_SCALAR || !strchr(v->items[k]->value, '='))
                cfg_errors_add(err, v->items[k]->file, v->items[k]->line, v->items[k]->col,
                               "serve.%s entries are TENANT=SECRET", sv->keys[i]);
    }
}

/* A scalar value of key `key` in mapping m, or NULL with an error when the
 * key is present but not a scalar. */
static const char *map_scalar(const cnode *m, const char *key, cfg_errors *err)
{
    const cnode *v = map_get(m, key);
    if (!v)
        return NULL;
    if (v->type != CN_SCALAR) {
        cfg_errors_add(err, v->file, v->line, v->col, "key '%s' must be a single value", key);
        return NULL;
    }
    return v->value;
}

/* 1 for a pipeline or instance name: 1 to CFG_MAX_NAME of [A-Za-z0-9_.-]. */
static int name_ok(const char *s)
{
    if (!s || !*s || strlen(s) > CFG_MAX_NAME)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

/* The config's own copy of a file name (errors point at it), added on first use. */
static const char *file_intern(config *c, const char *path)
{
    for (size_t i = 0; i < c->nfiles; i++)
        if (strcmp(c->files[i], path) == 0)
            return c->files[i];
    char **f = realloc(c->files, (c->nfiles + 1) * sizeof *f);
    if (!f)
        return NULL;
    c->files = f;
    if (!(f[c->nfiles] = strdup(path)))
        return NULL;
    return f[c->nfiles++];
}

/* Read a whole file, bounded by CFG_MAX_FILE_BYTES. */
static char *read_file(const char *path, size_t *len, cfg_errors *err)
{
    FILE *f = fopen(path, "rbe");
    if (!f) {
        cfg_errors_add(err, path, 0, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    char *buf = malloc(CFG_MAX_FILE_BYTES + 1);
    if (!buf) {
        fclose(f);
        cfg_errors_add(err, path, 0, 0, "out of memory");
        return NULL;
    }
    size_t n = fread(buf, 1, CFG_MAX_FILE_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        cfg_errors_add(err, path, 0, 0, "read error");
        return NULL;
    }
    if (n > CFG_MAX_FILE_BYTES) {
        free(buf);
        cfg_errors_add(err, path, 0, 0, "config file is larger than %u bytes", CFG_MAX_FILE_BYTES);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* The directory part of path (".", when it has none). */
static void dir_of(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s", path);
    char *s = strrchr(out, '/');
    if (s)
        *s = 0;
    else
        snprintf(out, cap, ".");
}

/* Parse `path` and, recursively, its includes; roots are appended to c. */
static void load_file(config *c, const char *path, int depth, cfg_errors *err)
{
    if (depth > CFG_MAX_INCLUDE_DEPTH) {
        cfg_errors_add(err, path, 0, 0, "includes nested deeper than %d (a loop?)",
                       CFG_MAX_INCLUDE_DEPTH);
        return;
    }
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        cfg_errors_add(err, path, 0, 0, "cannot open: %s", strerror(errno));
        return;
    }
    for (size_t i = 0; i < c->nroots; i++)
        if (strcmp(c->roots[i]->file, path) == 0)
            return; /* included twice: once is enough */
    const char *file = file_intern(c, path);
    size_t len;
    char *text = read_file(path, &len, err);
    if (!text || !file) {
        free(text);
        return;
    }
    cnode *root = cfg_parse_yaml(text, len, file, err, NULL);
    free(text);
    if (!root)
        return;
    if (root->type != CN_MAP) {
        cfg_errors_add(err, file, root->line, root->col,
                       "the top level must be a mapping with service, include, pipelines");
        cnode_free(root);
        return;
    }
    cnode **r = realloc(c->roots, (c->nroots + 1) * sizeof(cnode *));
    if (!r) {
        cnode_free(root);
        return;
    }
    c->roots = r;
    c->roots[c->nroots++] = root;
    for (size_t i = 0; i < root->n; i++) {
        const char *k = root->keys[i];
        if (strcmp(k, "service") != 0 && strcmp(k, "include") != 0 && strcmp(k, "pipelines") != 0 &&
            strcmp(k, "serve") != 0)
            cfg_errors_add(err, file, root->items[i]->line, root->items[i]->col,
                           "unknown top-level key '%s' (expected service, include, pipelines, "
                           "serve)",
                           k);
    }
    check_serve_section(map_get(root, "serve"), err);
    const cnode *inc = map_get(root, "include");
    if (!inc)
        return;
    char base[PATH_MAX];
    dir_of(real, base, sizeof base);
    size_t nin = inc->type == CN_SEQ ? inc->n : 1;
    for (size_t i = 0; i < nin; i++) {
        const cnode *item = inc->type == CN_SEQ ? inc->items[i] : inc;
        if (item->type != CN_SCALAR) {
            cfg_errors_add(err, item->file, item->line, item->col,
                           "include takes a path or a list of paths (globs allowed)");
            continue;
        }
        char pat[PATH_MAX + 8];
        int pl = item->value[0] == '/' ? snprintf(pat, sizeof pat, "%s", item->value)
                                       : snprintf(pat, sizeof pat, "%s/%s", base, item->value);
        if (pl < 0 || (size_t)pl >= sizeof pat) {
            cfg_errors_add(err, item->file, item->line, item->col, "include path is too long");
            continue;
        }
        glob_t g;
        int rc = glob(pat, 0, NULL, &g);
        if (rc == GLOB_NOMATCH) {
            if (!strpbrk(item->value, "*?["))
                cfg_errors_add(err, item->file, item->line, item->col,
                               "included file '%s' does not exist", pat);
            continue;
        }
        if (rc != 0) {
            cfg_errors_add(err, item->file, item->line, item->col, "cannot expand include '%s'",
                           pat);
            continue;
        }
        for (size_t k = 0; k < g.gl_pathc; k++)
            load_file(c, g.gl_pathv[k], depth + 1, err);
        globfree(&g);
    }
}

/* The text of a resolved string key (its default when unset). */
static const char *cfg_text(const struct strata_config *c, const char *key)
{
    const cfg_value *v = strata_config_find(c, key);
    return v && v->present && v->str ? v->str : NULL;
}

/* The number of a resolved int, size or duration key, or dflt when unset. */
static int64_t cfg_num(const struct strata_config *c, const char *key, int64_t dflt)
{
    const cfg_value *v = strata_config_find(c, key);
    return v && v->present ? v->i64 : dflt;
}

/* Replace *dst with a copy of text when there is one. */
static void set_text(char **dst, const char *text)
{
    if (!text)
        return;
    free(*dst);
    *dst = strdup(text);
}

/* Read the `service:` section against its key table (config_keys.c): one
 * section, in the top file or an included one. */
static void load_service(config *c, cfg_errors *err)
{
    service_cfg *s = &c->svc;
    s->log_level = strdup("info");
    s->log_file = strdup("");
    s->http_listen = strdup("127.0.0.1:7070");
    s->data_dir = strdup("./strata-data");
    s->grace_ms = ENGINE_DEFAULT_GRACE_MS;
    s->buffer_max_bytes = ENGINE_DEFAULT_BUFFER_MAX_BYTES;
    s->http_max_body = HTTP_DEFAULT_MAX_BODY;
    int seen_service = 0;
    for (size_t r = 0; r < c->nroots; r++) {
        const cnode *m = map_get(c->roots[r], "service");
        if (!m)
            continue;
        if (m->type != CN_MAP) {
            cfg_errors_add(err, m->file, m->line, m->col, "service must be a mapping");
            continue;
        }
        if (seen_service++) {
            cfg_errors_add(err, m->file, m->line, m->col,
                           "a second service section; keep one, in the top file");
            continue;
        }
        struct strata_config *sc = resolve_schema(cfg_service_schema(), m, NULL, 0, "service", err);
        if (!sc)
            continue;
        set_text(&s->log_level, cfg_text(sc, "log_level"));
        set_text(&s->log_file, cfg_text(sc, "log_file"));
        set_text(&s->http_listen, cfg_text(sc, "http_listen"));
        set_text(&s->data_dir, cfg_text(sc, "data_dir"));
        s->grace_ms = cfg_num(sc, "grace", s->grace_ms);
        s->buffer_max_bytes = cfg_num(sc, "buffer_max_bytes", s->buffer_max_bytes);
        s->http_max_body = cfg_num(sc, "http_max_body", s->http_max_body);
        s->admin_auth = cfg_num(sc, "admin_auth", 0) != 0;
        const cfg_value *dirs = strata_config_find(sc, "plugins_dir");
        if (dirs && dirs->n && (s->plugins_dirs = calloc(dirs->n, sizeof(char *))))
            for (uint32_t j = 0; j < dirs->n; j++)
                if ((s->plugins_dirs[s->n_plugins_dirs] = strdup(dirs->list[j])))
                    s->n_plugins_dirs++;
        strata_config_free(sc);
    }
}

/* Validate one instance mapping of kind `kind` in pipeline p. */
static void load_instance(config *c, pipeline_cfg *p, int kind, const cnode *m, loader *ld,
                          cfg_errors *err)
{
    if (m->type != CN_MAP) {
        cfg_errors_add(err, m->file, m->line, m->col,
                       "each %s must be a mapping with at least 'plugin'", kind_name(kind));
        return;
    }
    const char *plugin = map_scalar(m, "plugin", err);
    if (!plugin) {
        cfg_errors_add(err, m->file, m->line, m->col, "%s in pipeline '%s' has no 'plugin' key",
                       kind_name(kind), p->name);
        return;
    }
    inst_cfg *arr = realloc(p->inst, (p->n + 1) * sizeof *arr);
    if (!arr)
        return;
    p->inst = arr;
    inst_cfg *ic = &p->inst[p->n];
    memset(ic, 0, sizeof *ic);
    ic->kind = kind;
    ic->file = m->file;
    ic->line = m->line;
    ic->plugin = strdup(plugin);
    const char *name = map_scalar(m, "name", err);
    /* default name: the plugin's, numbered when the pipeline has several */
    int same = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->inst[i].kind == kind && strcmp(p->inst[i].plugin, plugin) == 0)
            same++;
    char defname[CFG_MAX_NAME + 16];
    if (same)
        snprintf(defname, sizeof defname, "%s.%d", plugin, same + 1);
    else
        snprintf(defname, sizeof defname, "%s", plugin);
    ic->name = strdup(name ? name : defname);
    p->n++;
    if (!ic->plugin || !ic->name)
        return;
    if (!name_ok(ic->name))
        cfg_errors_add(err, m->file, m->line, m->col,
                       "instance name '%s' must be 1-%d of [A-Za-z0-9_.-]", ic->name, CFG_MAX_NAME);
    for (size_t i = 0; i + 1 < p->n; i++)
        if (p->inst[i].kind == kind && strcmp(p->inst[i].name, ic->name) == 0)
            cfg_errors_add(err, m->file, m->line, m->col,
                           "two %ss named '%s' in pipeline '%s'; give one a different 'name'",
                           kind_name(kind), ic->name, p->name);
    char what[3 * CFG_MAX_NAME];
    snprintf(what, sizeof what, "%s '%s' (plugin %s) in pipeline '%s'", kind_name(kind), ic->name,
             plugin, p->name);
    /* the host's keys of every instance (config_keys.c), then the plugin's */
    const strata_plugin *common = cfg_common_schema(kind);
    struct strata_config *cc = resolve_schema(common, m, NULL, 1, what, err);
    const char *tag = cc ? cfg_text(cc, "tag") : NULL;
    const char *match = cc ? cfg_text(cc, "match") : NULL;
    char deftag[2 * CFG_MAX_NAME + 2];
    snprintf(deftag, sizeof deftag, "%s.%s", p->name, ic->name);
    ic->tag = strdup(kind == STRATA_KIND_INPUT ? (tag ? tag : deftag) : "");
    ic->match = strdup(match ? match : "*");
    ic->queue_max_events =
        cc ? cfg_num(cc, "queue_max_events", ROUTE_DEFAULT_MAX_EVENTS) : ROUTE_DEFAULT_MAX_EVENTS;
    ic->queue_max_bytes =
        cc ? cfg_num(cc, "queue_max_bytes", ROUTE_DEFAULT_MAX_BYTES) : ROUTE_DEFAULT_MAX_BYTES;
    ic->retry_limit =
        cc ? cfg_num(cc, "retry_limit", OUTPUT_DEFAULT_RETRY_LIMIT) : OUTPUT_DEFAULT_RETRY_LIMIT;
    strata_config_free(cc);
    char lerr[1024];
    ic->lp = loader_get(ld, kind, plugin, lerr, sizeof lerr);
    if (!ic->lp) {
        const cnode *pn = map_get(m, "plugin");
        cfg_errors_add(err, pn->file, pn->line, pn->col, "%s", lerr);
        return;
    }
    ic->cfg = resolve_schema(ic->lp->desc, m, common, 0, what, err);
    strbuf fp = {0};
    sb_printf(&fp, "buffer=%d;plugin=%s;tag=%s;match=%s;qe=%lld;qb=%lld;rl=%lld;", p->buffer.type,
              plugin, ic->tag, ic->match, (long long)ic->queue_max_events,
              (long long)ic->queue_max_bytes, (long long)ic->retry_limit);
    fingerprint_cfg(&fp, ic->cfg);
    ic->fingerprint = sb_steal(&fp);
}

/* A pipeline's `buffer:` section: `memory` (default) or `wal`, as a scalar
 * or a mapping {type, segment_bytes, max_bytes}. */
static void load_buffer(buffer_cfg *b, const cnode *n, cfg_errors *err)
{
    b->type = BUFFER_MEMORY;
    b->segment_bytes = WAL_DEFAULT_SEGMENT_BYTES_CFG;
    b->max_bytes = WAL_DEFAULT_MAX_BYTES_CFG;
    if (!n)
        return;
    const char *type = n->type == CN_SCALAR ? n->value : map_scalar(n, "type", err);
    if (n->type == CN_SEQ || !type) {
        cfg_errors_add(err, n->file, n->line, n->col,
                       "buffer must be memory, wal, or a mapping with type: memory|wal");
        return;
    }
    if (strcmp(type, "wal") == 0)
        b->type = BUFFER_WAL;
    else if (strcmp(type, "memory") != 0)
        cfg_errors_add(err, n->file, n->line, n->col, "buffer type must be memory or wal, got '%s'",
                       type);
    for (size_t i = 0; n->type == CN_MAP && i < n->n; i++) {
        const char *k = n->keys[i];
        const cnode *v = n->items[i];
        if (strcmp(k, "type") == 0)
            continue;
        int64_t *dst = strcmp(k, "segment_bytes") == 0 ? &b->segment_bytes
                       : strcmp(k, "max_bytes") == 0   ? &b->max_bytes
                                                       : NULL;
        if (!dst) {
            cfg_errors_add(err, v->file, v->line, v->col,
                           "unknown buffer key '%s' (known: type, segment_bytes, max_bytes)", k);
            continue;
        }
        if (v->type != CN_SCALAR || cfg_parse_size(v->value, dst) != 0 || *dst < 4096)
            cfg_errors_add(err, v->file, v->line, v->col,
                           "buffer %s must be a size of at least 4KiB such as 64MiB", k);
    }
}

static const char *const section_names[] = {"inputs", "filters", "outputs", "queries", "stores"};
static const int section_kinds[] = {STRATA_KIND_INPUT, STRATA_KIND_FILTER, STRATA_KIND_OUTPUT,
                                    STRATA_KIND_QUERY, STRATA_KIND_STORE};

/* Build every pipeline of the config's files (after include:) into c, reporting errors with
 * file:line. */
static void load_pipelines(config *c, loader *ld, cfg_errors *err)
{
    size_t total = 0;
    for (size_t r = 0; r < c->nroots; r++) {
        const cnode *ps = map_get(c->roots[r], "pipelines");
        if (!ps)
            continue;
        if (ps->type != CN_SEQ) {
            cfg_errors_add(err, ps->file, ps->line, ps->col,
                           "pipelines must be a list (each item starts with '- name:')");
            continue;
        }
        for (size_t i = 0; i < ps->n; i++) {
            const cnode *pm = ps->items[i];
            if (pm->type != CN_MAP) {
                cfg_errors_add(err, pm->file, pm->line, pm->col, "a pipeline must be a mapping");
                continue;
            }
            const char *name = map_scalar(pm, "name", err);
            if (!name) {
                cfg_errors_add(err, pm->file, pm->line, pm->col, "pipeline has no 'name'");
                continue;
            }
            if (!name_ok(name))
                cfg_errors_add(err, pm->file, pm->line, pm->col,
                               "pipeline name '%s' must be 1-%d of [A-Za-z0-9_.-]", name,
                               CFG_MAX_NAME);
            for (size_t k = 0; k < c->npipes; k++)
                if (strcmp(c->pipes[k].name, name) == 0)
                    cfg_errors_add(err, pm->file, pm->line, pm->col,
                                   "pipeline '%s' is defined twice", name);
            for (size_t k = 0; k < pm->n; k++) {
                int ok = strcmp(pm->keys[k], "name") == 0 || strcmp(pm->keys[k], "buffer") == 0;
                for (int s = 0; s < 5; s++)
                    ok |= strcmp(pm->keys[k], section_names[s]) == 0;
                if (!ok)
                    cfg_errors_add(err, pm->items[k]->file, pm->items[k]->line, pm->items[k]->col,
                                   "unknown pipeline key '%s' (expected name, buffer, inputs, "
                                   "filters, outputs, queries, stores)",
                                   pm->keys[k]);
            }
            pipeline_cfg *np = realloc(c->pipes, (c->npipes + 1) * sizeof *np);
            if (!np)
                return;
            c->pipes = np;
            pipeline_cfg *p = &c->pipes[c->npipes++];
            memset(p, 0, sizeof *p);
            p->name = strdup(name);
            if (!p->name)
                return;
            load_buffer(&p->buffer, map_get(pm, "buffer"), err);
            for (int s = 0; s < 5; s++) {
                const cnode *sec = map_get(pm, section_names[s]);
                if (!sec)
                    continue;
                if (sec->type != CN_SEQ) {
                    cfg_errors_add(err, sec->file, sec->line, sec->col,
                                   "'%s' must be a list of instances (- plugin: ...)",
                                   section_names[s]);
                    continue;
                }
                for (size_t k = 0; k < sec->n; k++) {
                    if (++total > CFG_MAX_INSTANCES) {
                        cfg_errors_add(err, sec->file, sec->line, sec->col,
                                       "more than %d instances in one process", CFG_MAX_INSTANCES);
                        return;
                    }
                    load_instance(c, p, section_kinds[s], sec->items[k], ld, err);
                }
            }
            int has_in = 0;
            size_t n_out = 0;
            for (size_t k = 0; k < p->n; k++) {
                has_in |= p->inst[k].kind == STRATA_KIND_INPUT;
                n_out += p->inst[k].kind == STRATA_KIND_OUTPUT;
            }
            if (n_out > PIPELINE_MAX_OUTPUTS)
                cfg_errors_add(err, pm->file, pm->line, pm->col,
                               "pipeline '%s' has %zu outputs; a pipeline routes to at most %d "
                               "(PIPELINE_MAX_OUTPUTS): split it into pipelines",
                               name, n_out, PIPELINE_MAX_OUTPUTS);
            if (has_in && !n_out)
                cfg_errors_add(err, pm->file, pm->line, pm->col,
                               "pipeline '%s' has inputs but no outputs: its events would go "
                               "nowhere (add an output, e.g. plugin: null)",
                               name);
        }
    }
}

int config_load(const char *path, loader *ld, config **out, cfg_errors *err)
{
    *out = NULL;
    config *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->path = strdup(path);
    load_file(c, path, 0, err);
    if (err->n == 0) {
        load_service(c, err);
        if (c->svc.n_plugins_dirs) {
            char base[PATH_MAX], real[PATH_MAX];
            dir_of(realpath(path, real) ? real : path, base, sizeof base);
            loader_prepend_dirs(ld, c->svc.plugins_dirs, c->svc.n_plugins_dirs, base);
        }
        load_pipelines(c, ld, err);
        if (err->n == 0 && c->npipes == 0)
            cfg_errors_add(err, path, 0, 0, "no pipelines defined (add a 'pipelines:' list)");
    }
    if (err->n) {
        config_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void config_free(config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->npipes; i++) {
        pipeline_cfg *p = &c->pipes[i];
        for (size_t k = 0; k < p->n; k++) {
            inst_cfg *ic = &p->inst[k];
            free(ic->plugin);
            free(ic->name);
            free(ic->tag);
            free(ic->match);
            free(ic->fingerprint);
            strata_config_free(ic->cfg);
        }
        free(p->inst);
        free(p->name);
    }
    free(c->pipes);
    service_cfg *s = &c->svc;
    free(s->log_level);
    free(s->log_file);
    free(s->http_listen);
    free(s->data_dir);
    for (size_t i = 0; i < s->n_plugins_dirs; i++)
        free(s->plugins_dirs[i]);
    free(s->plugins_dirs);
    for (size_t i = 0; i < c->nroots; i++)
        cnode_free(c->roots[i]);
    free(c->roots);
    for (size_t i = 0; i < c->nfiles; i++)
        free(c->files[i]);
    free(c->files);
    free(c->path);
    free(c);
}

config *config_load_or_print(const char *path, struct loader *ld, const char *who)
{
    cfg_errors errs = {0};
    config *cfg = NULL;
    if (config_load(path, ld, &cfg, &errs) != 0) {
        char *text = cfg_errors_join(&errs);
        fprintf(stderr, "%s: %s is not valid:\n%s", who, path, text ? text : "");
        free(text);
        cfg_errors_free(&errs);
        return NULL;
    }
    return cfg;
}
