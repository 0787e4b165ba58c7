/* An output plugin that exports a symbol besides its entry (built without
 * hidden visibility or the SDK's version script): the loader loads it and
 * warns, naming the symbol. */
#include <strata/strata.h>

__attribute__((visibility("default"))) int leaky_helper(int x);
__attribute__((visibility("default"))) int leaky_helper(int x)
{
    return x + 1;
}

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
static int flush_(void *s, const strata_batch *b)
{
    (void)s;
    (void)b;
    return STRATA_OK;
}

static const strata_plugin p = {
    STRATA_PLUGIN_HEADER, .name = "leaky",        .kind = STRATA_KIND_OUTPUT,
    .version = "0",       .description = "leaks", .init = i_,
    .destroy = d_,        .flush = flush_,
};
STRATA_PLUGIN_DEFINE(p)
