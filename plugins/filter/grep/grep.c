/*
 * plugins/filter/grep - keep (or drop) events whose field matches a regex.
 *
 * field: msg (default), service, host, level, tenant, or meta.KEY (an event
 * without that key never matches). PCRE2 with JIT: a regex per event is the
 * whole cost of this filter, and JIT is several times faster than glibc's
 * regexec on log lines.
 * Supports reconfigure (the regex is swapped between two batches).
 * Thread: the emitting thread (the host serialises calls per instance).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <strata/strata.h>

/* Meta entries scanned per event for a meta.KEY field. */
#define GREP_MAX_META 1024

static const strata_config_key grep_keys[] = {
    {"regex", STRATA_CFG_STRING, NULL, 1, "PCRE2 pattern searched in the field."},
    {"field", STRATA_CFG_STRING, "msg", 0, "msg, service, host, level, tenant or meta.KEY."},
    {"exclude", STRATA_CFG_BOOL, "false", 0, "false: keep matching events; true: drop them."},
    {"ignore_case", STRATA_CFG_BOOL, "false", 0, "Match case-insensitively."},
};

/* The rule of `regex`: it compiles (so `strata validate` reports a bad
 * pattern with its file and line, before anything runs). */
static const char *check_regex(const char *re)
{
    static _Thread_local char why[300];
    int err;
    PCRE2_SIZE off;
    pcre2_code *c =
        pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &off, NULL);
    if (c) {
        pcre2_code_free(c);
        return NULL;
    }
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    snprintf(why, sizeof why, "not a valid regex at offset %zu: %s", (size_t)off, (char *)msg);
    return why;
}

/* The rule of `field`: one of the event's fields, or meta.KEY. */
static const char *check_field(const char *f)
{
    static const char *names[] = {"msg", "service", "host", "level", "tenant"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(f, names[i]))
            return NULL;
    return !strncmp(f, "meta.", 5) && f[5]
               ? NULL
               : "must be msg, service, host, level, tenant or meta.KEY";
}

static const strata_config_rule grep_rules[] = {
    {.key = "regex", .check = check_regex},
    {.key = "field", .check = check_field},
};

typedef struct matcher {
    pcre2_code *re;
    pcre2_match_data *md;
    int field; /* F_* */
    char *meta_key;
    int exclude;
} matcher;

enum { F_MSG, F_SERVICE, F_HOST, F_LEVEL, F_TENANT, F_META };

typedef struct grep {
    strata_instance *inst;
    const strata_host_api *h;
    matcher m;
    strata_kv *meta;
} grep;

/* Free a compiled matcher (its regex and field). */
static void matcher_free(matcher *m)
{
    pcre2_match_data_free(m->md);
    pcre2_code_free(m->re);
    free(m->meta_key);
    memset(m, 0, sizeof *m);
}

/* The field and pattern of the config compiled into m; STRATA_OK, or an error set on inst. */
static int matcher_load(strata_instance *inst, const strata_host_api *h, const strata_config *cfg,
                        matcher *m)
{
    memset(m, 0, sizeof *m);
    const char *field = h->cfg_str(cfg, "field");
    static const char *names[] = {"msg", "service", "host", "level", "tenant"};
    m->field = -1;
    for (int i = 0; i < 5; i++)
        if (!strcmp(field, names[i]))
            m->field = i;
    if (m->field < 0 && !strncmp(field, "meta.", 5) && field[5]) {
        m->field = F_META;
        m->meta_key = strdup(field + 5);
        if (!m->meta_key)
            return STRATA_ENOMEM;
    }
    if (m->field < 0) {
        h->set_error(inst, "field '%s' must be msg, service, host, level, tenant or meta.KEY",
                     field);
        return STRATA_EINVAL;
    }
    int err;
    PCRE2_SIZE off;
    const char *re = h->cfg_str(cfg, "regex");
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
    if (h->cfg_bool(cfg, "ignore_case"))
        opts |= PCRE2_CASELESS;
    m->re = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, opts, &err, &off, NULL);
    if (!m->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        h->set_error(inst, "regex '%s' is invalid at offset %zu: %s", re, (size_t)off, (char *)msg);
        matcher_free(m);
        return STRATA_EINVAL;
    }
    pcre2_jit_compile(m->re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    m->md = pcre2_match_data_create_from_pattern(m->re, NULL);
    if (!m->md) {
        matcher_free(m);
        return STRATA_ENOMEM;
    }
    m->exclude = h->cfg_bool(cfg, "exclude");
    return STRATA_OK;
}

/* The plugin's init: the matcher of the config. */
static int grep_init(strata_instance *inst, const strata_host_api *h, const strata_config *cfg,
                     void **state)
{
    grep *g = calloc(1, sizeof *g);
    if (!g)
        return STRATA_ENOMEM;
    g->inst = inst;
    g->h = h;
    g->meta = malloc(GREP_MAX_META * sizeof *g->meta);
    int rc = g->meta ? matcher_load(inst, h, cfg, &g->m) : STRATA_ENOMEM;
    if (rc != STRATA_OK) {
        free(g->meta);
        free(g);
        return rc;
    }
    *state = g;
    return STRATA_OK;
}

/* The plugin's reconfigure: a new regex, field and mode for the next batch. */
static int grep_reconfigure(void *state, const strata_config *cfg)
{
    grep *g = state;
    matcher nm;
    int rc = matcher_load(g->inst, g->h, cfg, &nm);
    if (rc != STRATA_OK)
        return rc;
    matcher_free(&g->m);
    g->m = nm;
    return STRATA_OK;
}

/* 1 when event i's field (msg, service, host or a meta key) matches the regex. */
static int event_matches(grep *g, const strata_batch *b, uint32_t i)
{
    strata_event ev;
    int meta = g->m.field == F_META;
    if (g->h->batch_event(b, i, &ev, g->meta, meta ? GREP_MAX_META : 0) == STRATA_EINVAL)
        return 0;
    strata_str s = {"", 0};
    switch (g->m.field) {
    case F_MSG: s = ev.msg; break;
    case F_SERVICE: s = ev.service; break;
    case F_HOST: s = ev.host; break;
    case F_TENANT: s = ev.tenant; break;
    case F_LEVEL: s = strata_cstr(strata_level_name(ev.level)); break;
    default: {
        size_t kl = strlen(g->m.meta_key);
        uint32_t n = ev.meta_count < GREP_MAX_META ? ev.meta_count : GREP_MAX_META;
        uint32_t k = 0;
        while (k < n &&
               !(g->meta[k].key.len == kl && !memcmp(g->meta[k].key.ptr, g->m.meta_key, kl)))
            k++;
        if (k == n)
            return 0;
        s = g->meta[k].value;
    }
    }
    int rc = pcre2_match(g->m.re, (PCRE2_SPTR)s.ptr, s.len, 0, 0, g->m.md, NULL);
    return rc >= 0;
}

/* The plugin's process: keep or drop the matching events; the batch itself when every event is
 * kept. */
static int grep_process(void *state, strata_batch *in, strata_batch **out)
{
    grep *g = state;
    uint32_t n = g->h->batch_count(in);
    /* first pass: does anything change? most batches pass whole or not at all */
    uint32_t keep = 0;
    uint8_t small[1024];
    uint8_t *flags = n <= sizeof small ? small : malloc(n);
    if (!flags)
        return STRATA_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        flags[i] = (uint8_t)(event_matches(g, in, i) != g->m.exclude);
        keep += flags[i];
    }
    if (keep == n || keep == 0) {
        *out = keep ? in : NULL;
        if (flags != small)
            free(flags);
        return STRATA_OK;
    }
    strata_batch *nb = g->h->batch_new(g->inst, g->h->batch_tag(in));
    int rc = nb ? STRATA_OK : STRATA_ENOMEM;
    for (uint32_t i = 0; i < n && rc == STRATA_OK; i++) {
        if (!flags[i])
            continue;
        strata_event ev;
        rc = g->h->batch_event(in, i, &ev, g->meta, GREP_MAX_META);
        if (rc == STRATA_OK)
            rc = g->h->batch_append(nb, &ev);
    }
    if (flags != small)
        free(flags);
    if (rc != STRATA_OK) {
        if (nb)
            g->h->batch_free(nb);
        return rc;
    }
    *out = nb;
    return STRATA_OK;
}

/* The plugin's destroy: free the matcher. */
static void grep_destroy(void *state)
{
    grep *g = state;
    matcher_free(&g->m);
    free(g->meta);
    free(g);
}

static const strata_plugin grep_plugin = {
    STRATA_PLUGIN_HEADER,
    .name = "grep",
    .kind = STRATA_KIND_FILTER,
    .version = "1.0.0",
    .description = "Keeps or drops events whose field matches a regular expression.",
    .config = grep_keys,
    .config_count = sizeof grep_keys / sizeof grep_keys[0],
    .config_rules = grep_rules,
    .config_rule_count = sizeof grep_rules / sizeof grep_rules[0],
    .init = grep_init,
    .reconfigure = grep_reconfigure,
    .destroy = grep_destroy,
    .process = grep_process,
};

STRATA_PLUGIN_DEFINE(grep_plugin)
