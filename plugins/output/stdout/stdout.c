/*
 * plugins/output/stdout - writes each event as one JSON line to stdout.
 * Thread: the output's worker thread.
 */
#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <strata/strata.h>

#include "../common/jsonl.h"
#include "fsutil.h"

static const strata_config_key stdout_keys[] = {
    {"format", STRATA_CFG_STRING, "json", 0, "Only json (one JSON object per line) for now."},
};

typedef struct out_stdout {
    const strata_host_api *h;
    jsonl_buf jb;
} out_stdout;

/* The plugin's init: the output format (json). */
static int stdout_init(strata_instance *inst, const strata_host_api *h, const strata_config *cfg,
                       void **state)
{
    if (strcmp(h->cfg_str(cfg, "format"), "json") != 0) {
        h->set_error(inst, "format '%s' is not supported (only json)", h->cfg_str(cfg, "format"));
        return STRATA_EINVAL;
    }
    out_stdout *o = calloc(1, sizeof *o);
    if (!o)
        return STRATA_ENOMEM;
    o->h = h;
    *state = o;
    return STRATA_OK;
}

/* The plugin's flush: the batch as JSON lines on stdout. */
static int stdout_flush(void *state, const strata_batch *b)
{
    out_stdout *o = state;
    if (jsonl_format(o->h, b, &o->jb) != 0)
        return STRATA_RETRY;
    if (fs_write_all(STDOUT_FILENO, o->jb.buf, o->jb.len) != 0)
        return errno == EAGAIN || errno == ENOSPC ? STRATA_RETRY : STRATA_ERR;
    return STRATA_OK;
}

/* The plugin's destroy: free the state. */
static void stdout_destroy(void *state)
{
    out_stdout *o = state;
    jsonl_free(&o->jb);
    free(o);
}

static const strata_plugin stdout_plugin = {
    STRATA_PLUGIN_HEADER,
    .name = "stdout",
    .kind = STRATA_KIND_OUTPUT,
    .version = "1.0.0",
    .description = "Writes events to standard output as JSON lines.",
    .config = stdout_keys,
    .config_count = sizeof stdout_keys / sizeof stdout_keys[0],
    .init = stdout_init,
    .destroy = stdout_destroy,
    .flush = stdout_flush,
};

STRATA_PLUGIN_DEFINE(stdout_plugin)
