/*
 * plugins/filter/modify - add, set, remove and rename fields.
 *
 * Order per event: remove, rename, set (overwrite), add (only if absent).
 * Keys name meta entries, except service, host, level and tenant, which
 * name the event's own fields (remove does not apply to those). Values
 * that look like integers, numbers or booleans keep that JSON type.
 * Supports reconfigure: a reload that changes the rules applies them in
 * place, between two batches.
 * Thread: the emitting thread (the host serialises calls per instance).
 */
#include <stdlib.h>
#include <string.h>

#include <strata/strata.h>

/* Meta entries per event this filter handles; events with more pass through
 * unchanged (and are counted). */
#define MODIFY_MAX_META 1024

static const strata_config_key modify_keys[] = {
    {"add", STRATA_CFG_MAP, NULL, 0, "key: value pairs added when the key is absent."},
    {"set", STRATA_CFG_MAP, NULL, 0, "key: value pairs set, replacing any existing value."},
    {"remove", STRATA_CFG_LIST, NULL, 0, "meta keys removed."},
    {"rename", STRATA_CFG_MAP, NULL, 0, "old_key: new_key renames of meta keys."},
};

typedef struct rule {
    strata_str key, value;
    uint8_t type;
} rule;

typedef struct rules {
    rule *add, *set, *rename;
    uint32_t nadd, nset, nrename;
    strata_str *remove;
    uint32_t nremove;
    char *strings; /* one allocation holding every string above */
} rules;

typedef struct modify {
    strata_instance *inst;
    const strata_host_api *h;
    rules r;
    strata_kv *in_meta, *out_meta;
    strata_metric *skipped;
} modify;

/* 1 when two strings have the same bytes. */
static int str_eq(strata_str a, strata_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* JSON type a configured value should keep. */
static uint8_t infer_type(const char *v)
{
    if (!strcmp(v, "true") || !strcmp(v, "false"))
        return STRATA_VALUE_BOOL;
    const char *p = v;
    if (*p == '-')
        p++;
    if (!*p)
        return STRATA_VALUE_STRING;
    int dot = 0, digits = 0;
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.' && !dot)
            dot = 1;
        else
            return STRATA_VALUE_STRING;
    }
    if (!digits || (v[0] == '0' && v[1] && v[1] != '.') ||
        (v[0] == '-' && v[1] == '0' && v[2] && v[2] != '.'))
        return STRATA_VALUE_STRING; /* leading zeros: keep "007" a string */
    return dot ? STRATA_VALUE_FLOAT : STRATA_VALUE_INT;
}

/* Free a rule set's arrays and bytes. */
static void rules_free(rules *r)
{
    free(r->add);
    free(r->set);
    free(r->rename);
    free(r->remove);
    free(r->strings);
    memset(r, 0, sizeof *r);
}

/* Copy s into the arena; returns a strata_str pointing there. */
static strata_str arena_put(char **cur, const char *s)
{
    size_t n = strlen(s);
    memcpy(*cur, s, n + 1);
    strata_str r = {*cur, (uint32_t)n};
    *cur += n + 1;
    return r;
}

/* A map key of the config as rules (key, value, its inferred type), strings copied into *cur;
 * 0, or -1 on OOM. */
static int load_map(const strata_host_api *h, const strata_config *cfg, const char *key, rule **out,
                    uint32_t *n, char **cur)
{
    uint32_t cnt = h->cfg_map_len(cfg, key);
    *n = 0;
    if (!cnt)
        return 0;
    *out = calloc(cnt, sizeof **out);
    if (!*out)
        return -1;
    for (uint32_t i = 0; i < cnt; i++) {
        const char *k, *v;
        if (h->cfg_map_at(cfg, key, i, &k, &v) != STRATA_OK)
            continue;
        (*out)[*n].key = arena_put(cur, k);
        (*out)[*n].value = arena_put(cur, v);
        (*out)[*n].type = infer_type(v);
        (*n)++;
    }
    return 0;
}

/* The bytes a map key's keys and values need, to size the rules' arena. */
static size_t map_bytes(const strata_host_api *h, const strata_config *cfg, const char *key)
{
    size_t n = 0;
    for (uint32_t i = 0; i < h->cfg_map_len(cfg, key); i++) {
        const char *k, *v;
        if (h->cfg_map_at(cfg, key, i, &k, &v) == STRATA_OK)
            n += strlen(k) + strlen(v) + 2;
    }
    return n;
}

/* Read the add, set, rename and remove rules from the config into r; -1 on OOM. */
static int rules_load(const strata_host_api *h, const strata_config *cfg, rules *r)
{
    memset(r, 0, sizeof *r);
    size_t bytes =
        map_bytes(h, cfg, "add") + map_bytes(h, cfg, "set") + map_bytes(h, cfg, "rename");
    uint32_t nrm = h->cfg_list_len(cfg, "remove");
    for (uint32_t i = 0; i < nrm; i++)
        bytes += strlen(h->cfg_list_at(cfg, "remove", i)) + 1;
    r->strings = malloc(bytes + 1);
    if (!r->strings)
        return -1;
    char *cur = r->strings;
    if (load_map(h, cfg, "add", &r->add, &r->nadd, &cur) ||
        load_map(h, cfg, "set", &r->set, &r->nset, &cur) ||
        load_map(h, cfg, "rename", &r->rename, &r->nrename, &cur)) {
        rules_free(r);
        return -1;
    }
    if (nrm && !(r->remove = calloc(nrm, sizeof *r->remove))) {
        rules_free(r);
        return -1;
    }
    for (uint32_t i = 0; i < nrm; i++)
        r->remove[r->nremove++] = arena_put(&cur, h->cfg_list_at(cfg, "remove", i));
    return 0;
}

/* The plugin's init: the rules of the config and the skipped metric. */
static int modify_init(strata_instance *inst, const strata_host_api *h, const strata_config *cfg,
                       void **state)
{
    modify *m = calloc(1, sizeof *m);
    if (!m)
        return STRATA_ENOMEM;
    m->inst = inst;
    m->h = h;
    m->in_meta = malloc(MODIFY_MAX_META * sizeof *m->in_meta);
    m->out_meta = malloc(MODIFY_MAX_META * sizeof *m->out_meta);
    if (!m->in_meta || !m->out_meta || rules_load(h, cfg, &m->r) != 0) {
        free(m->in_meta);
        free(m->out_meta);
        free(m);
        return STRATA_ENOMEM;
    }
    m->skipped = h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_modify_skipped_total",
                               "Events passed unchanged because they had too many meta keys.", NULL,
                               NULL, 0);
    *state = m;
    return STRATA_OK;
}

/* The plugin's reconfigure: new rules replace the old ones for the next batch. */
static int modify_reconfigure(void *state, const strata_config *cfg)
{
    modify *m = state;
    rules nr;
    if (rules_load(m->h, cfg, &nr) != 0)
        return STRATA_ENOMEM; /* old rules stay */
    rules_free(&m->r);
    m->r = nr;
    return STRATA_OK;
}

/* Apply a set/add rule to a top-level field; returns 1 if it was one. */
static int top_field(strata_event *ev, const rule *ru, int overwrite)
{
    strata_str *f = NULL;
    if (str_eq(ru->key, strata_cstr("service")))
        f = &ev->service;
    else if (str_eq(ru->key, strata_cstr("host")))
        f = &ev->host;
    else if (str_eq(ru->key, strata_cstr("tenant")))
        f = &ev->tenant;
    else if (str_eq(ru->key, strata_cstr("level"))) {
        int l = strata_level_parse(ru->value.ptr, ru->value.len);
        if (l > 0 && (overwrite || ev->level == STRATA_LEVEL_UNSET))
            ev->level = (uint8_t)l;
        return 1;
    }
    if (!f)
        return 0;
    if (overwrite || f->len == 0)
        *f = ru->value;
    return 1;
}

/* The plugin's process: a new batch with every event's meta rewritten by the rules (the batch
 * itself when there are none). */
static int modify_process(void *state, strata_batch *in, strata_batch **out)
{
    modify *m = state;
    const rules *r = &m->r;
    if (!r->nadd && !r->nset && !r->nrename && !r->nremove) {
        *out = in;
        return STRATA_OK;
    }
    strata_batch *nb = m->h->batch_new(m->inst, m->h->batch_tag(in));
    if (!nb)
        return STRATA_ENOMEM;
    uint32_t n = m->h->batch_count(in);
    for (uint32_t i = 0; i < n; i++) {
        strata_event ev;
        int rc = m->h->batch_event(in, i, &ev, m->in_meta, MODIFY_MAX_META);
        if (rc == STRATA_ERANGE) {
            m->h->metric_add(m->skipped, NULL, 1);
            m->h->batch_event(in, i, &ev, m->in_meta, 0);
            ev.meta_count = 0; /* cannot rewrite it; keep the event without meta */
        } else if (rc != STRATA_OK) {
            continue;
        }
        uint32_t k = 0;
        for (uint32_t j = 0; j < ev.meta_count; j++) {
            strata_kv kv = m->in_meta[j];
            int drop = 0;
            for (uint32_t x = 0; x < r->nremove && !drop; x++)
                drop = str_eq(kv.key, r->remove[x]);
            if (drop)
                continue;
            for (uint32_t x = 0; x < r->nrename; x++)
                if (str_eq(kv.key, r->rename[x].key)) {
                    kv.key = r->rename[x].value;
                    break;
                }
            m->out_meta[k++] = kv;
        }
        for (uint32_t x = 0; x < r->nset; x++) {
            const rule *ru = &r->set[x];
            if (top_field(&ev, ru, 1))
                continue;
            uint32_t j = 0;
            while (j < k && !str_eq(m->out_meta[j].key, ru->key))
                j++;
            if (j == k && k < MODIFY_MAX_META)
                k++;
            if (j < k) {
                m->out_meta[j].key = ru->key;
                m->out_meta[j].value = ru->value;
                m->out_meta[j].type = ru->type;
            }
        }
        for (uint32_t x = 0; x < r->nadd; x++) {
            const rule *ru = &r->add[x];
            if (top_field(&ev, ru, 0))
                continue;
            uint32_t j = 0;
            while (j < k && !str_eq(m->out_meta[j].key, ru->key))
                j++;
            if (j == k && k < MODIFY_MAX_META) {
                m->out_meta[k].key = ru->key;
                m->out_meta[k].value = ru->value;
                m->out_meta[k].type = ru->type;
                k++;
            }
        }
        ev.meta = m->out_meta;
        ev.meta_count = k;
        if (m->h->batch_append(nb, &ev) != STRATA_OK) {
            m->h->batch_free(nb);
            return STRATA_ERR;
        }
    }
    *out = nb;
    return STRATA_OK;
}

/* The plugin's destroy: free the rules. */
static void modify_destroy(void *state)
{
    modify *m = state;
    rules_free(&m->r);
    free(m->in_meta);
    free(m->out_meta);
    free(m);
}

static const strata_plugin modify_plugin = {
    STRATA_PLUGIN_HEADER,
    .name = "modify",
    .kind = STRATA_KIND_FILTER,
    .version = "1.0.0",
    .description = "Adds, sets, removes and renames event fields.",
    .config = modify_keys,
    .config_count = sizeof modify_keys / sizeof modify_keys[0],
    .init = modify_init,
    .reconfigure = modify_reconfigure,
    .destroy = modify_destroy,
    .process = modify_process,
};

STRATA_PLUGIN_DEFINE(modify_plugin)
