/*
 * core/metrics.h - a registry of metric families rendered as Prometheus text.
 *
 * Families are shared by name: two instances of a plugin registering
 * "x_total" get one family with a series each. A handle (strata_metric)
 * binds a family to one instance's constant labels.
 * Thread: any; each family has its own lock, the registry one more.
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
void metrics_free(strata_metric *m); /* removes this handle's series; NULL ok */
void metrics_add(strata_metric *m, const char *label_value, double v);
void metrics_set(strata_metric *m, const char *label_value, double v);
void metrics_observe(strata_metric *m, const char *label_value, double v);
/* Append every family in Prometheus text exposition format 0.0.4. */
int metrics_render(struct strbuf *out);
/* Append a label value escaped for the exposition format. */
int metrics_escape_label(struct strbuf *out, const char *v);
/* Free all families (process exit). */
void metrics_shutdown(void);

#endif /* STRATA_CORE_METRICS_H */
