/* A test input whose start() fails: a reload adding it must roll back. */
#include <strata/strata.h>

static int i_(strata_instance *i, const strata_host_api *h, const strata_config *c, void **s)
{
    (void)c;
    *s = (void *)h;
    h->log(i, STRATA_LOG_INFO, "failstart initialised");
    return STRATA_OK;
}
static int st_(void *s)
{
    (void)s;
    return STRATA_ERR;
}
static void d_(void *s)
{
    (void)s;
}

static const strata_plugin p = {
    STRATA_PLUGIN_HEADER,
    .name = "failstart",
    .kind = STRATA_KIND_INPUT,
    .version = "1",
    .description = "fails to start",
    .init = i_,
    .start = st_,
    .destroy = d_,
};
STRATA_PLUGIN_DEFINE(p)
