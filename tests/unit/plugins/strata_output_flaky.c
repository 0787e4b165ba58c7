/* A test output that answers STRATA_RETRY `fail_times` times per batch
 * before accepting it, or always fails with `always_fail`. */
#include <stdlib.h>
#include <strata/strata.h>

static const strata_config_key keys[] = {
    {"fail_times", STRATA_CFG_INT, "2", 0, "RETRY answers before each success."},
    {"always_fail", STRATA_CFG_BOOL, "false", 0, "Never accept a batch."},
};

typedef struct flaky {
    int64_t fail_times, failed;
    int always;
} flaky;

static int i_(strata_instance *i, const strata_host_api *h, const strata_config *c, void **s)
{
    (void)i;
    flaky *f = calloc(1, sizeof *f);
    if (!f)
        return STRATA_ENOMEM;
    f->fail_times = h->cfg_int(c, "fail_times");
    f->always = h->cfg_bool(c, "always_fail");
    *s = f;
    return STRATA_OK;
}
static void d_(void *s)
{
    free(s);
}
static int f_(void *s, const strata_batch *b)
{
    (void)b;
    flaky *f = s;
    if (f->always || f->failed < f->fail_times) {
        f->failed++;
        return STRATA_RETRY;
    }
    f->failed = 0;
    return STRATA_OK;
}

static const strata_plugin p = {
    STRATA_PLUGIN_HEADER,
    .name = "flaky",
    .kind = STRATA_KIND_OUTPUT,
    .version = "1",
    .description = "fails on purpose",
    .config = keys,
    .config_count = 2,
    .init = i_,
    .destroy = d_,
    .flush = f_,
};
STRATA_PLUGIN_DEFINE(p)
