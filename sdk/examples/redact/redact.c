/*
 * redact - an example third-party filter: masks runs of digits in msg (card
 * numbers, phone numbers) that are at least `min_digits` long.
 *
 * It uses only <strata/strata.h> and the host table it receives in init,
 * exactly as every built-in plugin does.
 */
#include <stdlib.h>
#include <string.h>

#include <strata/strata.h>

static const strata_config_key redact_keys[] = {
    {"min_digits", STRATA_CFG_INT, "12", 0, "Mask runs of at least this many digits."},
    {"mask", STRATA_CFG_STRING, "#", 0, "The character that replaces each digit."},
};

typedef struct redact {
    strata_instance *inst;
    const strata_host_api *h;
    int64_t min_digits;
    char mask;
    char *buf;
    size_t cap;
    strata_kv meta[256];
    strata_metric *masked;
} redact;

/* The plugin's init: min_digits, the mask and the metric. */
static int redact_init(strata_instance *inst, const strata_host_api *h, const strata_config *cfg,
                       void **state)
{
    redact *r = calloc(1, sizeof *r);
    if (!r)
        return STRATA_ENOMEM;
    r->inst = inst;
    r->h = h;
    r->min_digits = h->cfg_int(cfg, "min_digits");
    const char *mask = h->cfg_str(cfg, "mask");
    if (r->min_digits < 1 || strlen(mask) != 1) {
        h->set_error(inst, "min_digits must be >= 1 and mask exactly one character");
        free(r);
        return STRATA_EINVAL;
    }
    r->mask = mask[0];
    r->masked = h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_redact_masked_total",
                              "Digit runs masked by the redact filter.", NULL, NULL, 0);
    *state = r;
    return STRATA_OK;
}

/* Copy s into r->buf masking long digit runs; returns the count masked. */
static int mask_digits(redact *r, strata_str s)
{
    if (s.len + 1 > r->cap) {
        char *b = realloc(r->buf, s.len + 1);
        if (!b)
            return -1;
        r->buf = b;
        r->cap = s.len + 1;
    }
    memcpy(r->buf, s.ptr, s.len);
    int n = 0;
    for (uint32_t i = 0; i < s.len;) {
        uint32_t j = i;
        while (j < s.len && r->buf[j] >= '0' && r->buf[j] <= '9')
            j++;
        if ((int64_t)(j - i) >= r->min_digits) {
            memset(r->buf + i, r->mask, j - i);
            n++;
        }
        i = j > i ? j : i + 1;
    }
    return n;
}

/* The filter: every run of at least min_digits digits in a message masked, the rest copied. */
static int redact_process(void *state, strata_batch *in, strata_batch **out)
{
    redact *r = state;
    strata_batch *nb = r->h->batch_new(r->inst, r->h->batch_tag(in));
    if (!nb)
        return STRATA_ENOMEM;
    for (uint32_t i = 0; i < r->h->batch_count(in); i++) {
        strata_event ev;
        int rc = r->h->batch_event(in, i, &ev, r->meta, 256);
        int n = rc == STRATA_OK ? mask_digits(r, ev.msg) : -1;
        if (n < 0) {
            r->h->batch_free(nb);
            return STRATA_ERR; /* the host passes the batch on unchanged */
        }
        ev.msg.ptr = r->buf;
        if (n)
            r->h->metric_add(r->masked, NULL, n);
        if (r->h->batch_append(nb, &ev) != STRATA_OK) {
            r->h->batch_free(nb);
            return STRATA_ERR;
        }
    }
    *out = nb;
    return STRATA_OK;
}

/* The plugin's destroy: its state. */
static void redact_destroy(void *state)
{
    redact *r = state;
    free(r->buf);
    free(r);
}

static const strata_plugin redact_plugin = {
    STRATA_PLUGIN_HEADER,
    .name = "redact",
    .kind = STRATA_KIND_FILTER,
    .version = "1.0.0",
    .description = "Masks long runs of digits (card or phone numbers) in msg.",
    .config = redact_keys,
    .config_count = sizeof redact_keys / sizeof redact_keys[0],
    .init = redact_init,
    .destroy = redact_destroy,
    .process = redact_process,
};

STRATA_PLUGIN_DEFINE(redact_plugin)
