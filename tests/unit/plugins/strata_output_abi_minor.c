/* A test plugin with a wrong ABI (minor): the loader must refuse it. */
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
static int f_(void *s, const strata_batch *b)
{
    (void)s;
    (void)b;
    return STRATA_OK;
}

static const strata_plugin p = {
    .struct_size = sizeof(strata_plugin),
    .abi_major = STRATA_ABI_MAJOR,
    .abi_minor = STRATA_ABI_MINOR + 5,
    .config_key_size = sizeof(strata_config_key),
    .name = "abi_minor",
    .kind = STRATA_KIND_OUTPUT,
    .version = "0",
    .description = "bad",
    .init = i_,
    .destroy = d_,
    .flush = f_,
};
STRATA_PLUGIN_DEFINE(p)
