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

#include "strbuf.h"

struct series {
    char *labels;      /* rendered, e.g. pipeline="a",instance="b",tenant="t" */
    const char *owner; /* const_labels of the handle that created it */
    double value;      /* counter, gauge; histogram: sum */
    uint64_t count;    /* histogram */
    uint64_t *buckets; /* histogram: cumulative at render time */
    struct series *next;
};

struct family {
    char *name;
    char *help;
    int type;
    char *label_name; /* NULL: none */
    double *bounds;
    uint32_t nbounds;
    int handles; /* live handles; the family is freed with the last one */
    pthread_mutex_t lock;
    struct series *series;
    struct family *next;
};

struct strata_metric {
    struct family *fam;
    char *const_labels;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct family *families;

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
    pthread_mutex_destroy(&f->lock);
    free(f->name);
    free(f->help);
    free(f->label_name);
    free(f->bounds);
    free(f);
}

strata_metric *metrics_new(int type, const char *name, const char *help, const char *const_labels,
                           const char *label_name, const double *buckets, uint32_t nbuckets,
                           char *err, size_t errlen)
{
    if (!name_ok(name)) {
        snprintf(err, errlen, "metric name '%s' is not a valid Prometheus name", name ? name : "");
        return NULL;
    }
    if (label_name && !name_ok(label_name)) {
        snprintf(err, errlen, "label name '%s' of metric %s is invalid", label_name, name);
        return NULL;
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
    if (f) {
        int same_label = (!f->label_name && !label_name) ||
                         (f->label_name && label_name && !strcmp(f->label_name, label_name));
        if (f->type != type || !same_label) {
            pthread_mutex_unlock(&reg_lock);
            snprintf(err, errlen, "metric %s already exists with another type or label", name);
            free(m->const_labels);
            free(m);
            return NULL;
        }
    } else {
        f = calloc(1, sizeof *f);
        if (!f || !(f->name = strdup(name)) || !(f->help = strdup(help ? help : name)) ||
            (label_name && !(f->label_name = strdup(label_name)))) {
            if (f) {
                free(f->name);
                free(f->help);
                free(f);
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
    pthread_mutex_unlock(&reg_lock);
    return m;
}

/* Find or create the series of handle m with label value lv; called with the
 * family lock held. Returns NULL on OOM (the update is then lost). */
static struct series *series_get(strata_metric *m, const char *lv)
{
    struct family *f = m->fam;
    strbuf key = {0};
    sb_puts(&key, m->const_labels);
    if (f->label_name) {
        if (key.len)
            sb_puts(&key, ",");
        sb_printf(&key, "%s=\"", f->label_name);
        metrics_escape_label(&key, lv ? lv : "");
        sb_puts(&key, "\"");
    }
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
    struct series *s = calloc(1, sizeof *s);
    if (!s) {
        sb_free(&key);
        return NULL;
    }
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
    if (!m)
        return;
    pthread_mutex_lock(&m->fam->lock);
    struct series *s = series_get(m, lv);
    if (s)
        s->value += v;
    pthread_mutex_unlock(&m->fam->lock);
}

void metrics_set(strata_metric *m, const char *lv, double v)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->fam->lock);
    struct series *s = series_get(m, lv);
    if (s)
        s->value = v;
    pthread_mutex_unlock(&m->fam->lock);
}

void metrics_observe(strata_metric *m, const char *lv, double v)
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

int metrics_render(strbuf *out)
{
    static const char *types[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&reg_lock);
    for (struct family *f = families; f; f = f->next) {
        pthread_mutex_lock(&f->lock);
        if (!f->series) {
            pthread_mutex_unlock(&f->lock);
            continue;
        }
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
        for (struct series *s = f->series; s; s = s->next) {
            const char *sep = s->labels[0] ? "," : "";
            if (f->type != STRATA_METRIC_HISTOGRAM) {
                if (s->labels[0])
                    sb_printf(out, "%s{%s} ", f->name, s->labels);
                else
                    sb_printf(out, "%s ", f->name);
                fmt_double(out, s->value);
                sb_puts(out, "\n");
                continue;
            }
            uint64_t cum = 0;
            for (uint32_t i = 0; i < f->nbounds; i++) {
                cum += s->buckets[i];
                sb_printf(out, "%s_bucket{%s%sle=\"", f->name, s->labels, sep);
                fmt_double(out, f->bounds[i]);
                sb_printf(out, "\"} %llu\n", (unsigned long long)cum);
            }
            sb_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name, s->labels, sep,
                      (unsigned long long)s->count);
            const char *lo = s->labels[0] ? "{" : "", *lc = s->labels[0] ? "}" : "";
            sb_printf(out, "%s_sum%s%s%s ", f->name, lo, s->labels, lc);
            fmt_double(out, s->value);
            sb_printf(out, "\n%s_count%s%s%s %llu\n", f->name, lo, s->labels, lc,
                      (unsigned long long)s->count);
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
