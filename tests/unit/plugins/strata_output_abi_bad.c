/*
 * A test plugin with a wrong ABI, built three ways (tests/CMakeLists.txt):
 *   BAD_ABI_MAJOR  built for the next major version
 *   BAD_ABI_MINOR  needs a minor version newer than the host's
 *   BAD_ABI_SMALL  a descriptor too small to be a 1.0 one
 * The loader must refuse each with its documented message.
 */
#include <strata/strata.h>

#if defined(BAD_ABI_MAJOR)
#define NAME "abi_major"
#define HEADER                                                                                     \
    .struct_size = sizeof(strata_plugin), .abi_major = STRATA_ABI_MAJOR + 1, .abi_minor = 0
#elif defined(BAD_ABI_MINOR)
#define NAME "abi_minor"
#define HEADER                                                                                     \
    .struct_size = sizeof(strata_plugin), .abi_major = STRATA_ABI_MAJOR,                           \
    .abi_minor = STRATA_ABI_MINOR + 5
#elif defined(BAD_ABI_SMALL)
#define NAME "abi_small"
#define HEADER .struct_size = 16, .abi_major = STRATA_ABI_MAJOR, .abi_minor = STRATA_ABI_MINOR
#else
#error "define BAD_ABI_MAJOR, BAD_ABI_MINOR or BAD_ABI_SMALL"
#endif

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
    HEADER,         .config_key_size = sizeof(strata_config_key),
    .name = NAME,   .kind = STRATA_KIND_OUTPUT,
    .version = "0", .description = "bad",
    .init = i_,     .destroy = d_,
    .flush = f_,
};
STRATA_PLUGIN_DEFINE(p)
