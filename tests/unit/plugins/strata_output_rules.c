/* A test output whose keys carry ABI 1.4 rules: an enum, integer bounds,
 * a duration bound and a check of its own (`strata validate` must report
 * each broken rule at its file and line). */
#include <stdlib.h>
#include <string.h>
#include <strata/strata.h>

static const strata_config_key keys[] = {
    {"mode", STRATA_CFG_STRING, "fast", 0, "fast or safe."},
    {"depth", STRATA_CFG_INT, "1", 0, "1 to 10."},
    {"window", STRATA_CFG_DURATION, "1s", 0, "At least 100 ms."},
    {"tags", STRATA_CFG_LIST, NULL, 0, "Each red, green or blue."},
    {"name_prefix", STRATA_CFG_STRING, NULL, 0, "Starts with 'x-'."},
};
static const char *const modes[] = {"fast", "safe", NULL};
static const char *const colours[] = {"red", "green", "blue", NULL};

static const char *check_prefix(const char *v)
{
    return strncmp(v, "x-", 2) == 0 ? NULL : "must start with 'x-'";
}

static const strata_config_rule rules[] = {
    {.key = "mode", .allowed = modes},
    {.key = "depth", .min = "1", .max = "10"},
    {.key = "window", .min = "100ms"},
    {.key = "tags", .allowed = colours},
    {.key = "name_prefix", .check = check_prefix},
};

static int i_(strata_instance *i, const strata_host_api *h, const strata_config *c, void **s)
{
    (void)i;
    (void)h;
    (void)c;
    *s = NULL;
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
    STRATA_PLUGIN_HEADER,
    .name = "rules",
    .kind = STRATA_KIND_OUTPUT,
    .version = "1",
    .description = "config rules on purpose",
    .config = keys,
    .config_count = sizeof keys / sizeof keys[0],
    .config_rules = rules,
    .config_rule_count = sizeof rules / sizeof rules[0],
    .init = i_,
    .destroy = d_,
    .flush = f_,
};
STRATA_PLUGIN_DEFINE(p)
