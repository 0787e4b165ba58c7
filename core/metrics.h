/*
 * core/metrics.h - a registry of metric families rendered as Prometheus text.
 *
 * Two kinds of family, rendered by one writer (metrics_render):
 *   - plugin families hold their values: two instances of a plugin
 *     registering "x_total" get one family with a series each, and a
 *     handle (strata_metric) binds the family to one instance's constant
 *     labels;
 *   - host families hold none: the core's counters live where they are
 *     counted (atomics of an instance, the WAL's stats), and a collector
 *     appends their series when /metrics is rendered. Their names are the
 *     host's: a plugin cannot register or join one.
 * Thread: any; each family has its own lock, the registry one more.
 * Collectors run on the thread that renders (the loop thread).
 */
#ifndef STRATA_CORE_METRICS_H
#define STRATA_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "strata/host.h"

struct strbuf;

/* Register (or join) a family; const_labels is the rendered label list for
 * this handle, e.g. `pipeline="p",plugin="dummy",instance="gen"` (copied).
 * Returns NULL and fills err when the name is invalid or the family exists
 * with another type, help-less shape or label name. */
strata_metric *metrics_new(int type, const char *name, const char *help, const char *const_labels,
                           const char *label_name, const double *buckets, uint32_t nbuckets,
                           char *err, size_t errlen);
/* The same with nlabels label names (at most METRICS_MAX_LABELS, none
 * twice); a family joined must have the same names in the same order. */
strata_metric *metrics_new_labels(int type, const char *name, const char *help,
                                  const char *const_labels, const char *const *label_names,
                                  uint32_t nlabels, const double *buckets, uint32_t nbuckets,
                                  char *err, size_t errlen);
void metrics_free(strata_metric *m); /* removes this handle's series; NULL ok */
void metrics_add(strata_metric *m, const char *label_value, double v);
void metrics_set(strata_metric *m, const char *label_value, double v);
void metrics_observe(strata_metric *m, const char *label_value, double v);
/* Updates of a family of several labels: one value per label, in the
 * order of its names (a NULL value is ""). */
void metrics_add_labels(strata_metric *m, const char *const *label_values, double v);
void metrics_set_labels(strata_metric *m, const char *const *label_values, double v);
void metrics_observe_labels(strata_metric *m, const char *const *label_values, double v);
/* ---- host families ---- */
typedef struct metrics_out metrics_out;
/* Append a family's series to o (metrics_sample, metrics_sample_histogram). */
typedef void (*metrics_collect_fn)(void *ud, metrics_out *o);
/* Add collector fn(ud) to host family `name` of type STRATA_METRIC_*,
 * creating it (several collectors may feed one family: one per engine).
 * 0, or -1 when the name is a plugin family's or OOM. */
int metrics_host_family(int type, const char *name, const char *help, metrics_collect_fn fn,
                        void *ud);
/* Remove every collector registered with ud; a host family without
 * collectors is freed. */
void metrics_host_remove(void *ud);
/* One series of a counter or gauge: labels already rendered (k="v",...;
 * "" for none, see metrics_label). */
void metrics_sample(metrics_out *o, const char *labels, double v);
/* One series of a histogram: nbounds upper bounds, cum[0..nbounds]
 * cumulative counts (the last is the +Inf bucket, the count), and sum. */
void metrics_sample_histogram(metrics_out *o, const char *labels, const double *bounds,
                              uint32_t nbounds, const uint64_t *cum, double sum);
/* Append label k="v" (v escaped) to a rendered label list, with a comma
 * after what it holds. */
int metrics_label(struct strbuf *labels, const char *k, const char *v);
/* 1 when name is a host family's, or under a prefix the host keeps for
 * its own (metrics.c: HOST_PREFIXES), so that no plugin can make
 * /metrics show two families of one name. */
int metrics_name_reserved(const char *name);

/* Append every family in Prometheus text exposition format 0.0.4. */
int metrics_render(struct strbuf *out);
/* Append a label value escaped for the exposition format. */
int metrics_escape_label(struct strbuf *out, const char *v);
/* Free all families (process exit). */
void metrics_shutdown(void);

#endif /* STRATA_CORE_METRICS_H */
