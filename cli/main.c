/*
 * cli/main.c - the `strata` command line.
 *
 *   strata run CONFIG.yaml        run the pipelines until SIGTERM/SIGINT
 *   strata validate CONFIG.yaml   check a config completely, start nothing
 *   strata plugins [NAME] [--json] list plugins, or one plugin's config keys
 *   strata plugins --host          the service: keys and those of every instance
 *   strata plugins --check FILE  load one plugin file as the host would, say what it says
 *   strata inspect DATA_DIR | segment FILE   what is stored (cli/inspect.c)
 *   strata search QUERY ...      search a server, or an NDJSON file (cli/search_cli.c)
 *   strata --version
 *
 * Thread: main (which becomes the loop thread).
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "config.h"
#include "config_keys.h"
#include "boot.h"
#include "engine.h"
#include "http_server.h"
#include "compact.h"
#include "inspect.h"
#include "search_cli.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "serve.h"
#include "strbuf.h"
#include "wal.h"

#ifndef STRATA_VERSION
#define STRATA_VERSION "0.0.0"
#endif

/* Print the commands to f. */
static void usage(FILE *f)
{
    fprintf(f,
            "Strata %s - log pipelines, storage and search\n\n"
            "usage:\n"
            "  strata serve [--data-dir DIR] [--listen ADDR] ...\n"
            "                                   the single-node pipeline: ingest, index, search\n"
            "  strata run CONFIG.yaml           run the pipelines in CONFIG until SIGTERM\n"
            "  strata validate CONFIG.yaml      check CONFIG completely; start nothing\n"
            "  strata plugins [NAME] [--json]   list plugins, or NAME's config keys\n"
            "  strata plugins --check FILE      load FILE as the host would and say what it says\n"
            "  strata plugins --host            the keys the host reads: service: and every "
            "instance's\n"
            "  strata inspect DATA_DIR          segments by tenant and level, bytes by part\n"
            "  strata compact DATA_DIR [--tenant T]\n"
            "                                   merge a stopped node's segments to completion\n"
            "  strata inspect segment FILE [--rows N] [--terms PREFIX] [--json]\n"
            "  strata search QUERY [--from -1h] [--to now] [--service S] [--level L]\n"
            "                [--limit N] [--json] [--server URL] [--token T] [--file F]\n"
            "                                   one segment: footer, parts, rows, terms\n"
            "  strata --version                 print the version and plugin ABI\n\n"
            "Plugins are searched in service.plugins_dir, $STRATA_PLUGIN_PATH, and the\n"
            "plugins directory beside this binary. SIGHUP or POST /v1/admin/reload\n"
            "reloads the config; SIGTERM drains and stops.\n",
            STRATA_VERSION);
}

/* `strata validate CONFIG`: load and check it completely, print a summary or every error; start
 * nothing. */
static int cmd_validate(const char *path, loader *ld)
{
    config *cfg = config_load_or_print(path, ld, "strata");
    if (!cfg)
        return 2;
    size_t n = 0;
    for (size_t i = 0; i < cfg->npipes; i++)
        n += cfg->pipes[i].n;
    printf("%s: OK (%zu pipelines, %zu instances)\n", path, cfg->npipes, n);
    config_free(cfg);
    return 0;
}

/* `strata run CONFIG` (and serve's config): run the pipelines until SIGTERM; the exit code. */
static int cmd_run(const char *path, loader *ld)
{
    int code;
    engine *eng = cli_engine_start(path, ld, "strata", &code);
    if (!eng)
        return code;
    struct ev_loop *loop = eng->loop;
    if (eng->http)
        log_info("Strata %s is running; try: curl http://%s/health  or  curl http://%s/metrics",
                 STRATA_VERSION, http_server_address(eng->http), http_server_address(eng->http));
    int rc = engine_run(eng);
    if (eng->abandoned) {
        /* a worker thread is still inside a plugin: freeing under it would
         * be worse than leaving the memory to the kernel */
        log_close();
        _exit(rc);
    }
    engine_free(eng);
    ev_loop_destroy(loop);
    return rc;
}

static const char *type_names[] = {"?",    "string",   "int",  "double", "bool",
                                   "size", "duration", "list", "map"};

/* Append the config keys of descriptor d, each with its type, default and
 * rules, as `strata plugins NAME` and `--host` print them. */
static void print_keys(strbuf *sb, const strata_plugin *d)
{
    for (uint32_t k = 0; k < d->config_count; k++) {
        const strata_config_key *ck =
            (const void *)((const char *)d->config + (size_t)k * d->config_key_size);
        sb_printf(sb, "    %-18s %-8s %s%s%s%s\n        %s\n", ck->name,
                  ck->type <= STRATA_CFG_MAP ? type_names[ck->type] : "?",
                  ck->required ? "required" : "", ck->default_value ? "default: " : "",
                  ck->default_value ? ck->default_value : "",
                  !ck->required && !ck->default_value ? "optional" : "", ck->doc ? ck->doc : "");
        const strata_config_rule *rl;
        for (uint32_t r = 0; (rl = cfg_rule_at(d, r)); r++) {
            if (!rl->key || strcmp(rl->key, ck->name) != 0)
                continue;
            for (const char *const *a = rl->allowed; a && *a; a++)
                sb_printf(sb, "%s%s", a == rl->allowed ? "        one of: " : ", ", *a);
            if (rl->allowed)
                sb_puts(sb, "\n");
            if (rl->min || rl->max)
                sb_printf(sb, "        range: %s .. %s\n", rl->min ? rl->min : "",
                          rl->max ? rl->max : "");
            if (rl->check)
                sb_puts(sb, "        checked at validation\n");
        }
    }
}

/* `strata plugins --host`: the keys the host reads itself, the service:
 * section's and those of every instance of each kind, from the tables
 * config.c validates with (core/config_keys.c). */
static int cmd_host_keys(void)
{
    strbuf sb = {0};
    sb_puts(&sb, "service: (the service section)\n  config keys:\n");
    print_keys(&sb, cfg_service_schema());
    for (int kind = STRATA_KIND_INPUT; kind <= STRATA_KIND_STORE; kind++) {
        if (kind == STRATA_KIND_STORE)
            continue; /* a query's: printed once for both */
        const strata_plugin *d = cfg_common_schema(kind);
        sb_printf(&sb, "\nkeys of every %s:\n", d->name);
        print_keys(&sb, d);
    }
    fputs(sb.buf ? sb.buf : "", stdout);
    int oom = sb.oom;
    sb_free(&sb);
    return oom ? 1 : 0;
}

/* `strata plugins [NAME] [--json]`: the plugins found, or one plugin's keys and rules. */
static int cmd_plugins(const char *name, int json, loader *ld)
{
    loader_scan(ld);
    strbuf sb = {0};
    int found = 0;
    if (json)
        sb_puts(&sb, "[");
    for (int kind = STRATA_KIND_INPUT; kind <= STRATA_KIND_STORE; kind++)
        for (loaded_plugin *lp = ld->loaded; lp; lp = lp->next) {
            const strata_plugin *d = lp->desc;
            if ((int)d->kind != kind || (name && strcmp(name, d->name) != 0))
                continue;
            /* the first of a name in search order wins; skip shadowed copies */
            int shadowed = 0;
            for (loaded_plugin *o = lp->next; o; o = o->next)
                shadowed |= (int)o->desc->kind == kind && strcmp(o->desc->name, d->name) == 0;
            if (shadowed)
                continue;
            if (json) {
                if (found)
                    sb_puts(&sb, ",");
                plugin_describe_json(lp, &sb);
            } else if (!name) {
                sb_printf(&sb, "%-7s %-12s %-8s %s\n", kind_name(kind), d->name,
                          d->version ? d->version : "", d->description ? d->description : "");
            } else {
                sb_printf(&sb, "%s %s %s (ABI %u.%u)\n  %s\n  file: %s\n\n  config keys:\n",
                          kind_name(kind), d->name, d->version ? d->version : "", d->abi_major,
                          d->abi_minor, d->description ? d->description : "", lp->path);
                print_keys(&sb, d);
                const strata_plugin *common = cfg_common_schema(kind);
                sb_puts(&sb, "    (common:");
                for (uint32_t k = 0; k < common->config_count; k++)
                    sb_printf(&sb, "%s %s", k ? "," : "", common->config[k].name);
                sb_puts(&sb, "; strata plugins --host)\n");
                sb_puts(&sb, "\n");
            }
            found++;
        }
    if (json)
        sb_puts(&sb, "]\n");
    if (name && !found) {
        fprintf(stderr, "strata: no plugin named '%s' in:", name);
        for (size_t i = 0; i < ld->ndirs; i++)
            fprintf(stderr, " %s", ld->dirs[i]);
        fprintf(stderr, "\n");
        sb_free(&sb);
        return 1;
    }
    fputs(sb.buf ? sb.buf : "", stdout);
    sb_free(&sb);
    return 0;
}

/* `strata plugins --check FILE`: load one plugin file as the host would
 * and say what the loader says of it: 0 when it loads cleanly, 1 when it
 * loads with a warning (it exports more than its entry), 2 when it is
 * refused. */
static int cmd_plugin_check(const char *path, loader *ld)
{
    char err[1024];
    const loaded_plugin *lp = loader_open(ld, path, err, sizeof err);
    if (!lp) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    const strata_plugin *d = lp->desc;
    printf("%s: %s '%s' %s, ABI %u.%u, %u config keys\n", lp->path, kind_name((int)d->kind),
           d->name, d->version ? d->version : "", d->abi_major, d->abi_minor, d->config_count);
    if (lp->exports > 1) {
        printf("warning: it exports %d symbols (%s among them); the host needs only %s()\n",
               lp->exports, lp->extra_export, STRATA_PLUGIN_ENTRY_SYMBOL);
        return 1;
    }
    printf("OK\n");
    return 0;
}

/* `strata wal check DIR [--strict]`: every segment and record verified. */
/* The WAL commands read a directory that must exist (a typo should not
 * look like an empty, healthy WAL). */
static int wal_dir_exists(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 1;
    fprintf(stderr, "strata: %s is not a directory (give the WAL directory, e.g. DATA_DIR/wal)\n",
            dir);
    return 0;
}

/* `strata wal check DIR [--strict]`: verify every record of a WAL; 1 when one is damaged. */
static int cmd_wal_check(const char *dir, int strict)
{
    if (!wal_dir_exists(dir))
        return 2;
    strbuf rep = {0};
    uint64_t records = 0;
    int problems = wal_check(dir, strict, &rep, &records);
    fputs(rep.buf ? rep.buf : "", stdout);
    printf("%s: %llu records, %d problem%s\n", dir, (unsigned long long)records, problems,
           problems == 1 ? "" : "s");
    sb_free(&rep);
    return problems ? 1 : 0;
}

/* `strata wal dump DIR [--from SEQ]`: one line per event, prefixed with the
 * record's sequence; records that are not batches are shown by size. */
static int cmd_wal_dump(const char *dir, uint64_t from)
{
    if (!wal_dir_exists(dir))
        return 2;
    char err[1024];
    wal_reader *r = wal_reader_open(dir, from, err, sizeof err);
    if (!r) {
        fprintf(stderr, "strata: %s\n", err);
        return 1;
    }
    const void *data;
    size_t len;
    uint64_t seq;
    int rc, bad = 0;
    char *json = NULL;
    size_t cap = 0;
    while ((rc = wal_reader_next(r, &data, &len, &seq, err, sizeof err)) != 0) {
        if (rc < 0) {
            fprintf(stderr, "strata: corrupt WAL data skipped: %s\n", err);
            bad++;
            continue;
        }
        batch_t *b = NULL;
        char why[256];
        if (batch_decode(data, len, &b, why, sizeof why) != STRATA_OK) {
            printf("{\"seq\":%llu,\"bytes\":%zu,\"batch\":false}\n", (unsigned long long)seq, len);
            continue;
        }
        for (uint32_t i = 0; i < b->count; i++) {
            size_t need = batch_event_json(b, i, NULL, 0) + 1;
            if (need > cap) {
                char *nb = realloc(json, need);
                if (!nb)
                    break;
                json = nb;
                cap = need;
            }
            batch_event_json(b, i, json, cap);
            printf("{\"seq\":%llu,\"event\":%s}\n", (unsigned long long)seq, json);
        }
        batch_unref(b);
    }
    free(json);
    wal_reader_close(r);
    return bad ? 1 : 0;
}

/* Dispatch the command line. */
int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("strata %s (plugin ABI %d.%d)\n", STRATA_VERSION, STRATA_ABI_MAJOR,
               STRATA_ABI_MINOR);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    loader *ld = loader_new(argv[0]);
    if (!ld) {
        fprintf(stderr, "strata: out of memory\n");
        return 1;
    }
    int rc;
    char serve_cfg[4200];
    if (!strcmp(cmd, "serve")) {
        rc = cmd_serve(argc - 1, argv + 1, serve_cfg, sizeof serve_cfg);
        if (rc == 0)
            rc = cmd_run(serve_cfg, ld);
    } else if (!strcmp(cmd, "search")) {
        rc = cmd_search(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "compact")) {
        rc = cmd_compact(argc - 1, argv + 1, ld);
    } else if (!strcmp(cmd, "inspect")) {
        rc = cmd_inspect(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "tenant")) {
        rc = cmd_tenant(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "key")) {
        rc = cmd_key(argc - 1, argv + 1);
    } else if ((!strcmp(cmd, "run") || !strcmp(cmd, "validate")) && argc == 3) {
        rc = !strcmp(cmd, "run") ? cmd_run(argv[2], ld) : cmd_validate(argv[2], ld);
    } else if (!strcmp(cmd, "wal") && argc >= 4 && !strcmp(argv[2], "check")) {
        rc = cmd_wal_check(argv[3], argc > 4 && !strcmp(argv[4], "--strict"));
    } else if (!strcmp(cmd, "wal") && argc >= 4 && !strcmp(argv[2], "dump")) {
        uint64_t from = 1;
        if (argc >= 6 && !strcmp(argv[4], "--from"))
            from = strtoull(argv[5], NULL, 10);
        rc = cmd_wal_dump(argv[3], from);
    } else if (!strcmp(cmd, "plugins") && argc == 3 && !strcmp(argv[2], "--host")) {
        rc = cmd_host_keys();
    } else if (!strcmp(cmd, "plugins") && argc == 4 && !strcmp(argv[2], "--check")) {
        rc = cmd_plugin_check(argv[3], ld);
    } else if (!strcmp(cmd, "plugins") && argc <= 4) {
        const char *name = NULL;
        int json = 0;
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--json"))
                json = 1;
            else
                name = argv[i];
        }
        rc = cmd_plugins(name, json, ld);
    } else {
        usage(stderr);
        rc = 2;
    }
    loader_free(ld);
    metrics_shutdown();
    log_close();
    return rc;
}
