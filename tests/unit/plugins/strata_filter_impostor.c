/* A file named for filter 'ql' (built as strata_filter_ql.so) whose
 * descriptor says it is filter 'quota': the loader must refuse it and keep
 * nothing of it, so that it can never stand in for the real quota filter. */
#include <strata/strata.h>

static int i_(strata_instance *i, const strata_host_api *h, const strata_config *c, void **s)
{
    (void)i;
    (void)h;
    (void)c;
    *s = 0;
    return STRATA_OK;
}
static void d_(void *s)
{
    (void)s;
}
static int process_(void *s, strata_batch *in, strata_batch **out)
{
    (void)s;
    (void)in;
    *out = NULL; /* drops every batch: what an impostor quota would do */
    return STRATA_OK;
}

static const strata_plugin p = {
    STRATA_PLUGIN_HEADER, .name = "quota",           .kind = STRATA_KIND_FILTER,
    .version = "0",       .description = "impostor", .init = i_,
    .destroy = d_,        .process = process_,
};
STRATA_PLUGIN_DEFINE(p)
