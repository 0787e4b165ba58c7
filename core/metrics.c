/*
 * core/metrics.c - metric families and Prometheus text rendering.
 *
 * Thread: any. reg_lock guards the family list; each family's lock guards
 * its series list and values. Updates take one family lock: metrics are
 * updated per batch, not per event, so this is not on a per-event path.
 */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_limits.h"
#include "log.h"
#include "strbuf.h"

struct series {
    char *labels;      /* rendered, e.g. pipeline="a",instance="b",tenant="t" */
    const char *owner; /* const_labels of the handle that created it */
    double value;      /* counter, gauge; histogram: sum */
    uint64_t count;    /* histogram */
    uint64_t *buckets; /* histogram: cumulative at render time */
    struct series *next;
};

/* A host family's source of series (metrics_host_family). */
struct collector {
    metrics_collect_fn fn;
    void *ud;
    struct collector *next;
};

struct family {
    char *name;
    char *help;
    int type;
    int host;                     /* a host family: series from its collectors */
    struct collector *collectors; /* host families only */
    char **label_names;           /* nlabels names, in the order values are given */
    uint32_t nlabels;
    double *bounds;
    uint32_t nbounds;
    int handles; /* live handles; the family is freed with the last one */
    pthread_mutex_t lock;
    struct series *series;
    uint32_t nseries; /* at most METRICS_MAX_SERIES */
    uint64_t lost;    /* updates dropped for a series past the cap */
    struct family *next;
};

struct strata_metric {
    struct family *fam;
    char *const_labels;
};

struct metrics_out {
    strbuf *out;
    const struct family *fam;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct family *families;

/* Name prefixes the host keeps for its own families, present and to come:
 * a plugin's family under one of them is refused, so that a plugin's
 * "strata_events_in_total" can never make /metrics hold two families of
 * one name (invalid exposition). A plugin names its families after itself
 * ("strata_indexer_...") or without the strata_ prefix. */
static const char *const HOST_PREFIXES[] = {
    "strata_events_", "strata_errors_", "strata_queue_",   "strata_input_", "strata_output_",
    "strata_wal_",    "strata_buffer_", "strata_reloads_", "strata_log_",   "strata_retiring_",
    "strata_uptime_", "strata_http_",   "strata_process_", "strata_build_",
};

/* 1 for a valid Prometheus metric or label name: [a-zA-Z_:][a-zA-Z0-9_:]*. */
static int name_ok(const char *n)
{
    if (!n || !*n)
        return 0;
    for (const char *p = n; *p; p++) {
        int c = (unsigned char)*p;
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(p != n && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

int metrics_escape_label(strbuf *out, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            sb_append(out, "\\\\", 2);
        else if (*p == '"')
            sb_append(out, "\\\"", 2);
        else if (*p == '\n')
            sb_append(out, "\\n", 2);
        else
            sb_append(out, p, 1);
    }
    return out->oom ? -1 : 0;
}

/* Free a family and its series. */
static void family_free(struct family *f)
{
    struct series *s = f->series;
    while (s) {
        struct series *n = s->next;
        free(s->labels);
        free(s->buckets);
        free(s);
        s = n;
    }
    while (f->collectors) {
        struct collector *c = f->collectors;
        f->collectors = c->next;
        free(c);
    }
    pthread_mutex_destroy(&f->lock);
    free(f->name);
    free(f->help);
    for (uint32_t i = 0; i < f->nlabels; i++)
        free(f->label_names[i]);
    free(f->label_names);
    free(f->bounds);
    free(f);
}

static struct series *series_get(strata_metric *m, const char *const *lv);

/* 1 when family f has exactly the n label names given, in that order. */
static int same_labels(const struct family *f, const char *const *names, uint32_t n)
{
    if (f->nlabels != n)
        return 0;
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(f->label_names[i], names[i]) != 0)
            return 0;
    return 1;
}

/* Copy n label names into f; 0, or -1 on OOM (f frees what was copied). */
static int copy_labels(struct family *f, const char *const *names, uint32_t n)
{
    if (!n)
        return 0;
    if (!(f->label_names = calloc(n, sizeof *f->label_names)))
        return -1;
    for (; f->nlabels < n; f->nlabels++)
        if (!(f->label_names[f->nlabels] = strdup(names[f->nlabels])))
            return -1;
    return 0;
}

strata_metric *metrics_new(int type, const char *name, const char *help, const char *const_labels,
                           const char *label_name, const double *buckets, uint32_t nbuckets,
                           char *err, size_t errlen)
{
    return metrics_new_labels(type, name, help, const_labels, label_name ? &label_name : NULL,
                              label_name ? 1 : 0, buckets, nbuckets, err, errlen);
}

strata_metric *metrics_new_labels(int type, const char *name, const char *help,
                                  const char *const_labels, const char *const *label_names,
                                  uint32_t nlabels, const double *buckets, uint32_t nbuckets,
                                  char *err, size_t errlen)
{
    if (!name_ok(name)) {
        snprintf(err, errlen, "metric name '%s' is not a valid Prometheus name", name ? name : "");
        return NULL;
    }
    if (nlabels > METRICS_MAX_LABELS || (nlabels && !label_names)) {
        snprintf(err, errlen, "metric %s has %u labels; at most %d", name, nlabels,
                 METRICS_MAX_LABELS);
        return NULL;
    }
    for (uint32_t i = 0; i < nlabels; i++) {
        if (!name_ok(label_names[i]) || !strncmp(label_names[i], "__", 2)) {
            snprintf(err, errlen, "label name '%s' of metric %s is invalid",
                     label_names[i] ? label_names[i] : "", name);
            return NULL;
        }
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(label_names[i], label_names[j])) {
                snprintf(err, errlen, "metric %s names label '%s' twice", name, label_names[i]);
                return NULL;
            }
    }
    if (type < STRATA_METRIC_COUNTER || type > STRATA_METRIC_HISTOGRAM) {
        snprintf(err, errlen, "metric %s has unknown type %d", name, type);
        return NULL;
    }
    if (type == STRATA_METRIC_HISTOGRAM) {
        if (!buckets || nbuckets == 0 || nbuckets > 64) {
            snprintf(err, errlen, "histogram %s needs 1..64 bucket bounds", name);
            return NULL;
        }
        for (uint32_t i = 1; i < nbuckets; i++)
            if (!(buckets[i] > buckets[i - 1])) {
                snprintf(err, errlen, "histogram %s bucket bounds must ascend", name);
                return NULL;
            }
    }
    strata_metric *m = calloc(1, sizeof *m);
    if (!m || !(m->const_labels = strdup(const_labels ? const_labels : ""))) {
        free(m);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_lock(&reg_lock);
    struct family *f = families;
    while (f && strcmp(f->name, name) != 0)
        f = f->next;
    if (f && f->host) {
        pthread_mutex_unlock(&reg_lock);
        snprintf(err, errlen, "metric %s is the host's own", name);
        free(m->const_labels);
        free(m);
        return NULL;
    }
    if (f) {
        if (f->type != type || !same_labels(f, label_names, nlabels)) {
            pthread_mutex_unlock(&reg_lock);
            snprintf(err, errlen, "metric %s already exists with another type or labels", name);
            free(m->const_labels);
            free(m);
            return NULL;
        }
    } else {
        f = calloc(1, sizeof *f);
        if (!f || !(f->name = strdup(name)) || !(f->help = strdup(help ? help : name)) ||
            copy_labels(f, label_names, nlabels) < 0) {
            if (f) {
                pthread_mutex_init(&f->lock, NULL);
                family_free(f);
            }
            pthread_mutex_unlock(&reg_lock);
            free(m->const_labels);
            free(m);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        pthread_mutex_init(&f->lock, NULL);
        f->type = type;
        if (type == STRATA_METRIC_HISTOGRAM) {
            f->bounds = malloc(nbuckets * sizeof(double));
            if (!f->bounds) {
                pthread_mutex_unlock(&reg_lock);
                family_free(f);
                free(m->const_labels);
                free(m);
                snprintf(err, errlen, "out of memory");
                return NULL;
            }
            memcpy(f->bounds, buckets, nbuckets * sizeof(double));
            f->nbounds = nbuckets;
        }
        f->next = families;
        families = f;
    }
    f->handles++;
    m->fam = f;
    /* a family without a label has one series per handle: it shows at 0
     * from registration, before the first event, as Prometheus expects */
    if (!f->nlabels) {
        pthread_mutex_lock(&f->lock);
        (void)series_get(m, NULL);
        pthread_mutex_unlock(&f->lock);
    }
    pthread_mutex_unlock(&reg_lock);
    return m;
}

int metrics_name_reserved(const char *name)
{
    for (size_t i = 0; i < sizeof HOST_PREFIXES / sizeof *HOST_PREFIXES; i++)
        if (strncmp(name, HOST_PREFIXES[i], strlen(HOST_PREFIXES[i])) == 0)
            return 1;
    pthread_mutex_lock(&reg_lock);
    int host = 0;
    for (struct family *f = families; f && !host; f = f->next)
        host = f->host && strcmp(f->name, name) == 0;
    pthread_mutex_unlock(&reg_lock);
    return host;
}

int metrics_host_family(int type, const char *name, const char *help, metrics_collect_fn fn,
                        void *ud)
{
    struct collector *c = calloc(1, sizeof *c);
    if (!c || !name_ok(name))
        goto fail;
    c->fn = fn;
    c->ud = ud;
    pthread_mutex_lock(&reg_lock);
    struct family *f = families;
    while (f && strcmp(f->name, name) != 0)
        f = f->next;
    if (f && (!f->host || f->type != type)) {
        pthread_mutex_unlock(&reg_lock);
        goto fail;
    }
    if (!f) {
        f = calloc(1, sizeof *f);
        if (!f || !(f->name = strdup(name)) || !(f->help = strdup(help))) {
            if (f) {
                free(f->name);
                free(f);
            }
            pthread_mutex_unlock(&reg_lock);
            goto fail;
        }
        pthread_mutex_init(&f->lock, NULL);
        f->type = type;
        f->host = 1;
        f->next = families;
        families = f;
    }
    struct collector **tail = &f->collectors; /* render in registration order */
    while (*tail)
        tail = &(*tail)->next;
    *tail = c;
    pthread_mutex_unlock(&reg_lock);
    return 0;
fail:
    free(c);
    return -1;
}

void metrics_host_remove(void *ud)
{
    pthread_mutex_lock(&reg_lock);
    struct family **fp = &families;
    while (*fp) {
        struct family *f = *fp;
        struct collector **cp = &f->collectors;
        while (f->host && *cp) {
            struct collector *c = *cp;
            if (c->ud == ud) {
                *cp = c->next;
                free(c);
            } else {
                cp = &c->next;
            }
        }
        if (f->host && !f->collectors) {
            *fp = f->next;
            family_free(f);
        } else {
            fp = &f->next;
        }
    }
    pthread_mutex_unlock(&reg_lock);
}

int metrics_label(strbuf *labels, const char *k, const char *v)
{
    sb_printf(labels, "%s%s=\"", labels->len ? "," : "", k);
    metrics_escape_label(labels, v ? v : "");
    sb_puts(labels, "\"");
    return labels->oom ? -1 : 0;
}

/* Find or create the series of handle m with label values lv (one per
 * label of the family, NULL ones rendered ""); called with the family lock
 * held. Returns NULL on OOM or past METRICS_MAX_SERIES (the update is then
 * lost and counted). */
static struct series *series_get(strata_metric *m, const char *const *lv)
{
    struct family *f = m->fam;
    strbuf key = {0};
    sb_puts(&key, m->const_labels);
    for (uint32_t i = 0; i < f->nlabels; i++)
        metrics_label(&key, f->label_names[i], lv ? lv[i] : NULL);
    if (key.oom) {
        sb_free(&key);
        return NULL;
    }
    const char *k = key.buf ? key.buf : "";
    for (struct series *s = f->series; s; s = s->next)
        if (strcmp(s->labels, k) == 0) {
            sb_free(&key);
            return s;
        }
    struct series *s = f->nseries < METRICS_MAX_SERIES ? calloc(1, sizeof *s) : NULL;
    if (!s) {
        if (f->lost++ == 0 && f->nseries >= METRICS_MAX_SERIES)
            log_write(LOG_WARN, "metrics",
                      "%s has %u series, the most one family keeps; updates of new label "
                      "values are dropped",
                      f->name, f->nseries);
        sb_free(&key);
        return NULL;
    }
    f->nseries++;
    s->labels = sb_steal(&key);
    s->owner = m->const_labels;
    if (f->nbounds && !(s->buckets = calloc(f->nbounds, sizeof(uint64_t)))) {
        free(s->labels);
        free(s);
        return NULL;
    }
    s->next = f->series;
    f->series = s;
    return s;
}

void metrics_add(strata_metric *m, const char *lv, double v)
{
    const char *vals[METRICS_MAX_LABELS] = {lv}; /* the first label; any others "" */
    metrics_add_labels(m, vals, v);
}

void metrics_set(strata_metric *m, const char *lv, double v)
{
    const char *vals[METRICS_MAX_LABELS] = {lv}; /* the first label; any others "" */
    metrics_set_labels(m, vals, v);
}

void metrics_observe(strata_metric *m, const char *lv, double v)
{
    const char *vals[METRICS_MAX_LABELS] = {lv}; /* the first label; any others "" */
    metrics_observe_labels(m, vals, v);
}

void metrics_add_labels(strata_metric *m, const char *const *lv, double v)
{
    if (!m || m->fam->type == STRATA_METRIC_HISTOGRAM) /* a histogram is observed */
        return;
    pthread_mutex_lock(&m->fam->lock);
    struct series *s = series_get(m, lv);
    if (s)
        s->value += v;
    pthread_mutex_unlock(&m->fam->lock);
}

void metrics_set_labels(strata_metric *m, const char *const *lv, double v)
{
    if (!m || m->fam->type == STRATA_METRIC_HISTOGRAM) /* a histogram is observed */
        return;
    pthread_mutex_lock(&m->fam->lock);
    struct series *s = series_get(m, lv);
    if (s)
        s->value = v;
    pthread_mutex_unlock(&m->fam->lock);
}

void metrics_observe_labels(strata_metric *m, const char *const *lv, double v)
{
    if (!m || m->fam->type != STRATA_METRIC_HISTOGRAM)
        return;
    pthread_mutex_lock(&m->fam->lock);
    struct series *s = series_get(m, lv);
    if (s) {
        s->value += v;
        s->count++;
        for (uint32_t i = 0; i < m->fam->nbounds; i++)
            if (v <= m->fam->bounds[i]) {
                s->buckets[i]++;
                break;
            }
    }
    pthread_mutex_unlock(&m->fam->lock);
}

/* Drop a handle and the series it created; the family goes with its last
 * handle so /metrics shows only what live instances report. */
void metrics_free(strata_metric *m)
{
    if (!m)
        return;
    struct family *f = m->fam;
    pthread_mutex_lock(&reg_lock);
    pthread_mutex_lock(&f->lock);
    struct series **pp = &f->series;
    while (*pp) {
        struct series *s = *pp;
        if (s->owner == m->const_labels) {
            *pp = s->next;
            f->nseries--;
            free(s->labels);
            free(s->buckets);
            free(s);
        } else {
            pp = &s->next;
        }
    }
    pthread_mutex_unlock(&f->lock);
    if (--f->handles == 0) {
        struct family **fp = &families;
        while (*fp && *fp != f)
            fp = &(*fp)->next;
        if (*fp)
            *fp = f->next;
        family_free(f);
    }
    pthread_mutex_unlock(&reg_lock);
    free(m->const_labels);
    free(m);
}

/* Append a sample value as the exposition format writes it (NaN, +Inf, -Inf, or the shortest exact
 * decimal). */
static void fmt_double(strbuf *out, double v)
{
    if (isnan(v))
        sb_puts(out, "NaN");
    else if (isinf(v))
        sb_puts(out, v > 0 ? "+Inf" : "-Inf");
    else if (v == (double)(long long)v && fabs(v) < 9e15)
        sb_printf(out, "%lld", (long long)v);
    else
        sb_printf(out, "%.17g", v);
}

void metrics_sample(metrics_out *o, const char *labels, double v)
{
    if (labels && labels[0])
        sb_printf(o->out, "%s{%s} ", o->fam->name, labels);
    else
        sb_printf(o->out, "%s ", o->fam->name);
    fmt_double(o->out, v);
    sb_puts(o->out, "\n");
}

void metrics_sample_histogram(metrics_out *o, const char *labels, const double *bounds,
                              uint32_t nbounds, const uint64_t *cum, double sum)
{
    const char *name = o->fam->name, *l = labels ? labels : "";
    const char *sep = l[0] ? "," : "", *lo = l[0] ? "{" : "", *lc = l[0] ? "}" : "";
    for (uint32_t i = 0; i < nbounds; i++) {
        sb_printf(o->out, "%s_bucket{%s%sle=\"", name, l, sep);
        fmt_double(o->out, bounds[i]);
        sb_printf(o->out, "\"} %llu\n", (unsigned long long)cum[i]);
    }
    sb_printf(o->out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, l, sep,
              (unsigned long long)cum[nbounds]);
    sb_printf(o->out, "%s_sum%s%s%s ", name, lo, l, lc);
    fmt_double(o->out, sum);
    sb_printf(o->out, "\n%s_count%s%s%s %llu\n", name, lo, l, lc, (unsigned long long)cum[nbounds]);
}

/* The HELP and TYPE lines of family f. */
static void render_head(strbuf *out, const struct family *f)
{
    static const char *types[] = {"counter", "gauge", "histogram"};
    sb_printf(out, "# HELP %s ", f->name);
    for (const char *p = f->help; *p; p++) {
        if (*p == '\n')
            sb_puts(out, "\\n");
        else if (*p == '\\')
            sb_puts(out, "\\\\");
        else
            sb_append(out, p, 1);
    }
    sb_printf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
}

/* The series a plugin family holds (the family lock held). */
static void render_series(strbuf *out, const struct family *f)
{
    metrics_out o = {out, f};
    for (struct series *s = f->series; s; s = s->next) {
        if (f->type != STRATA_METRIC_HISTOGRAM) {
            metrics_sample(&o, s->labels, s->value);
            continue;
        }
        uint64_t cum[65], acc = 0; /* nbounds <= 64 (metrics_new) */
        for (uint32_t i = 0; i < f->nbounds; i++)
            cum[i] = acc += s->buckets[i];
        cum[f->nbounds] = s->count;
        metrics_sample_histogram(&o, s->labels, f->bounds, f->nbounds, cum, s->value);
    }
}

int metrics_render(strbuf *out)
{
    pthread_mutex_lock(&reg_lock);
    for (struct family *f = families; f; f = f->next) {
        if (f->host) {
            render_head(out, f);
            metrics_out o = {out, f};
            for (struct collector *c = f->collectors; c; c = c->next)
                c->fn(c->ud, &o);
            continue;
        }
        pthread_mutex_lock(&f->lock);
        if (f->series) {
            render_head(out, f);
            render_series(out, f);
        }
        pthread_mutex_unlock(&f->lock);
    }
    pthread_mutex_unlock(&reg_lock);
    return out->oom ? STRATA_ENOMEM : 0;
}

void metrics_shutdown(void)
{
    pthread_mutex_lock(&reg_lock);
    struct family *f = families;
    families = NULL;
    pthread_mutex_unlock(&reg_lock);
    while (f) {
        struct family *n = f->next;
        family_free(f);
        f = n;
    }
}
