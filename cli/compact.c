/*
 * cli/compact.c - `strata compact DATA_DIR [--tenant T]`: compaction to
 * completion on a stopped node's data directory, as Elasticsearch's
 * force-merge does. It starts the node's own single-node pipeline (the
 * configuration `strata serve` runs, its HTTP listener on an unused
 * loopback port), asks its indexer through the admin service
 * (strata/index_admin.h) to merge every window at every level, prints
 * what that did and stops the node cleanly. A running node answers the
 * same request at POST /v1/admin/compact; this command refuses to run
 * beside it (the indexer holds its directory's lock).
 */
#include "compact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ev.h>
#include <strata/index_admin.h>

#include "boot.h"
#include "engine.h"
#include "host_api.h"
#include "loader.h"
#include "serve.h"

/* Print how to call it; 2, the exit code of a usage error. */
static int usage(void)
{
    fprintf(stderr, "usage: strata compact DATA_DIR [--tenant TENANT]\n");
    return 2;
}

/* Run the compaction on a started engine: 0, or 1 with the reason printed. */
static int compact_on(engine *eng, const char *dir, const char *tenant)
{
    const strata_index_admin_api *ad = host_service_acquire(eng, STRATA_INDEX_ADMIN_SERVICE);
    if (!ad) {
        fprintf(stderr, "strata compact: the indexer of %s did not start its admin service\n", dir);
        return 1;
    }
    strata_compact_result res;
    char err[256] = "";
    int rc = ad->compact(ad->ctx, tenant, &res, err, sizeof err);
    host_service_release(eng, ad);
    if (rc != STRATA_OK) {
        fprintf(stderr, "strata compact: %s\n", err);
        return 1;
    }
    printf("compacted %s%s%s: %u merges, %llu -> %llu segments, %llu -> %llu bytes, %.1f s\n", dir,
           tenant ? ", tenant " : "", tenant ? tenant : "", res.merges,
           (unsigned long long)res.segments_before, (unsigned long long)res.segments_after,
           (unsigned long long)res.bytes_before, (unsigned long long)res.bytes_after,
           (double)res.took_ms / 1000.0);
    return 0;
}

int cmd_compact(int argc, char **argv, loader *ld)
{
    const char *dir = NULL, *tenant = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tenant") && i + 1 < argc)
            tenant = argv[++i];
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else
            return usage();
    }
    if (!dir)
        return usage();
    char catalog[4200];
    struct stat st;
    if ((size_t)snprintf(catalog, sizeof catalog, "%s/index/catalog.db", dir) >= sizeof catalog) {
        fprintf(stderr, "strata compact: the path %.60s... is longer than %zu bytes\n", dir,
                sizeof catalog - 20);
        return 1;
    }
    if (stat(catalog, &st) != 0) {
        fprintf(stderr, "strata compact: %s holds no index (no %s)\n", dir, catalog);
        return 1;
    }
    char *serve_argv[] = {"serve", "--data-dir", (char *)dir, "--listen", "127.0.0.1:0", NULL};
    char path[4200];
    int rc = cmd_serve(5, serve_argv, path, sizeof path);
    if (rc != 0)
        return rc;
    int code;
    engine *eng = cli_engine_start(path, ld, "strata compact", &code);
    if (!eng) {
        if (code == 1)
            fprintf(stderr,
                    "strata compact: cannot start %s (is a node running on it? then use "
                    "POST /v1/admin/compact)\n",
                    dir);
        return code;
    }
    struct ev_loop *loop = eng->loop;
    rc = compact_on(eng, dir, tenant);
    engine_shutdown(eng);
    int stop = engine_run(eng);
    engine_free(eng);
    ev_loop_destroy(loop);
    return rc ? rc : stop;
}
