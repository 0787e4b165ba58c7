/* A test input that declares `tag`, a key the host reads on every input
 * itself: the loader must refuse it, naming the key. */
#include <strata/strata.h>

static const strata_config_key keys[] = {
    {"tag", STRATA_CFG_STRING, NULL, 0, "Clashes with the host's tag."},
};

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
    STRATA_PLUGIN_HEADER,
    .name = "hostkey",
    .kind = STRATA_KIND_INPUT,
    .version = "1",
    .description = "declares a host key",
    .config = keys,
    .config_count = 1,
    .init = i_,
    .destroy = d_,
};
STRATA_PLUGIN_DEFINE(p)
