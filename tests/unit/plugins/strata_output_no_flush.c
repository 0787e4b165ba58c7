/* An output plugin without a flush callback: the loader must refuse it. */
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

static const strata_plugin p = {
    STRATA_PLUGIN_HEADER, .name = "no_flush",   .kind = STRATA_KIND_OUTPUT,
    .version = "0",       .description = "bad", .init = i_,
    .destroy = d_,
};
STRATA_PLUGIN_DEFINE(p)
