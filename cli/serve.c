/*
 * cli/serve.c - `strata serve` (the one-command single node) and the
 * credential commands `strata tenant add|list`, `strata key add|list|revoke`.
 *
 * serve: the embedded conf.d/single-node.yaml is written to
 * DATA_DIR/single-node.yaml (so SIGHUP reloads work), flags become the
 * STRATA_* variables it reads, credentials given with --ingest-key and
 * --user-token are created or confirmed, and on a first start with no
 * credentials at all, tenant `default` gets one ingest key and one user
 * token, written to DATA_DIR/credentials.json (mode 0600) and printed once.
 * Thread: main, before the loop starts.
 */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "core_limits.h"
#include "fsutil.h"
#include "metastore.h"
#include "single_node_yaml.h"

/* Most --ingest-key / --user-token flags on one command line. */
#define SERVE_MAX_CREDS 64

/* The data directory when --data-dir is not given: $STRATA_DATA_DIR, else ./strata-data. */
static const char *data_dir_default(void)
{
    const char *d = getenv("STRATA_DATA_DIR");
    return d && *d ? d : "./strata-data";
}

/* Open the tenant and credential store of a data directory (creating it); NULL with the reason
 * printed. */
static metastore *open_meta(const char *dir)
{
    char err[512];
    if (fs_mkdirs(dir) != 0) {
        fprintf(stderr, "strata: cannot create %s: %s\n", dir, strerror(errno));
        return NULL;
    }
    metastore *ms = metastore_open(dir, err, sizeof err);
    if (!ms)
        fprintf(stderr, "strata: %s\n", err);
    return ms;
}

/* Value of `--name VALUE` in argv, or NULL. */
static const char *flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc && argv[i]; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

/* `strata tenant list`: one line per tenant with its number of credentials. */
static void print_tenant(const char *name, int creds, void *arg)
{
    (void)arg;
    printf("%-24s %d credential%s\n", name, creds, creds == 1 ? "" : "s");
}

/* `strata key list`: one line per credential (tenant, prefix, kind, scopes, revoked). */
static void print_key(const char *tenant, const char *prefix, const char *kind, const char *scopes,
                      int revoked, void *arg)
{
    (void)arg;
    printf("%-24s %-12s %-7s %-28s %s\n", tenant, prefix, kind, scopes, revoked ? "revoked" : "");
}

int cmd_tenant(int argc, char **argv)
{
    const char *dir = flag(argc, argv, "--data-dir");
    if (!dir)
        dir = data_dir_default();
    metastore *ms = open_meta(dir);
    if (!ms)
        return 1;
    int rc = 0;
    char err[512];
    if (argc >= 2 && !strcmp(argv[1], "add") && argc >= 3) {
        int r = metastore_tenant_add(ms, argv[2], err, sizeof err);
        if (r < 0) {
            fprintf(stderr, "strata: %s\n", err);
            rc = 1;
        } else {
            printf(r == 0 ? "tenant %s created\n" : "tenant %s already exists\n", argv[2]);
        }
    } else if (argc >= 2 && !strcmp(argv[1], "list")) {
        metastore_tenant_list(ms, print_tenant, NULL);
    } else {
        fprintf(stderr, "usage: strata tenant add NAME | list [--data-dir DIR]\n");
        rc = 2;
    }
    metastore_close(ms);
    return rc;
}

int cmd_key(int argc, char **argv)
{
    const char *dir = flag(argc, argv, "--data-dir");
    if (!dir)
        dir = data_dir_default();
    metastore *ms = open_meta(dir);
    if (!ms)
        return 1;
    int rc = 0;
    char err[512], secret[MS_SECRET_MAX];
    if (argc >= 3 && !strcmp(argv[1], "add")) {
        const char *kind = flag(argc, argv, "--kind");
        const char *scopes = flag(argc, argv, "--scopes");
        if (!kind)
            kind = "ingest";
        if (!scopes)
            scopes = strcmp(kind, "ingest") ? "search,tail,alerts" : "ingest";
        if (metastore_key_add(ms, argv[2], kind, scopes, secret, sizeof secret, err, sizeof err) !=
            0) {
            fprintf(stderr, "strata: %s\n", err);
            rc = 1;
        } else {
            printf("%s\n", secret);
            fprintf(stderr,
                    "a new %s credential for tenant %s (scopes %s); it is shown only "
                    "this once\n",
                    kind, argv[2], scopes);
        }
    } else if (argc >= 2 && !strcmp(argv[1], "list")) {
        metastore_key_list(ms, print_key, NULL);
    } else if (argc >= 3 && !strcmp(argv[1], "revoke")) {
        if (metastore_key_revoke(ms, argv[2], err, sizeof err) != 0) {
            fprintf(stderr, "strata: %s\n", err);
            rc = 1;
        } else {
            printf("revoked %s\n", argv[2]);
        }
    } else {
        fprintf(stderr, "usage: strata key add TENANT [--kind ingest|user] [--scopes LIST] | list "
                        "| revoke PREFIX   [--data-dir DIR]\n");
        rc = 2;
    }
    metastore_close(ms);
    return rc;
}

/* TENANT=SECRET from a flag or a comma-separated environment variable. */
static int ensure_cred(metastore *ms, const char *spec, const char *kind, const char *scopes)
{
    char t[128], err[512];
    if (!spec)
        return -1;
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || (size_t)(eq - spec) >= sizeof t) {
        fprintf(stderr, "strata: credential '%s' must be TENANT=SECRET\n", spec);
        return -1;
    }
    memcpy(t, spec, (size_t)(eq - spec));
    t[eq - spec] = 0;
    if (metastore_key_ensure(ms, t, kind, scopes, eq + 1, err, sizeof err) != 0) {
        fprintf(stderr, "strata: %s\n", err);
        return -1;
    }
    return 0;
}

/* Create or confirm the TENANT=SECRET credentials a variable lists (comma-separated); 0, or 1 with
 * the reason printed. */
static int ensure_env_creds(metastore *ms, const char *var, const char *kind, const char *scopes)
{
    const char *v = getenv(var);
    if (!v || !*v)
        return 0;
    char *copy = strdup(v), *save = NULL;
    if (!copy) {
        fprintf(stderr, "strata: out of memory reading %s\n", var);
        return 1;
    }
    int rc = 0;
    for (char *t = strtok_r(copy, ",", &save); t && rc == 0; t = strtok_r(NULL, ",", &save))
        rc = ensure_cred(ms, t, kind, scopes);
    free(copy);
    return rc;
}

/* Credentials from the `serve:` section of the --config file:
 * serve: {ingest_keys: [TENANT=KEY, ...], user_tokens: [TENANT=TOKEN, ...]}.
 * A file that does not parse is reported when the pipelines load it. */
static int ensure_yaml_creds(metastore *ms, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0; /* the config loader reports a missing file with its context */
    char *text = malloc(CFG_MAX_FILE_BYTES + 1);
    size_t n = text ? fread(text, 1, CFG_MAX_FILE_BYTES, f) : 0;
    fclose(f);
    if (!text)
        return -1;
    cfg_errors errs = {0};
    size_t budget = CFG_MAX_FILE_BYTES;
    cnode *root = cfg_parse_yaml(text, n, path, &errs, &budget);
    free(text);
    cfg_errors_free(&errs);
    int rc = 0;
    for (size_t i = 0; root && root->type == CN_MAP && i < root->n && rc == 0; i++) {
        const cnode *sv = root->items[i];
        if (strcmp(root->keys[i], "serve") != 0 || sv->type != CN_MAP)
            continue;
        for (size_t k = 0; k < sv->n && rc == 0; k++) {
            const cnode *list = sv->items[k];
            int ingest = !strcmp(sv->keys[k], "ingest_keys");
            if ((!ingest && strcmp(sv->keys[k], "user_tokens") != 0) || list->type != CN_SEQ)
                continue;
            for (size_t j = 0; j < list->n && rc == 0; j++)
                if (list->items[j]->type == CN_SCALAR)
                    rc = ensure_cred(ms, list->items[j]->value, ingest ? "ingest" : "user",
                                     ingest ? "ingest" : "search,tail,alerts,admin");
        }
    }
    cnode_free(root);
    return rc;
}

/* First start: tenant default with one ingest key and one user token. */
static int first_credentials(metastore *ms, const char *dir)
{
    char err[512], key[MS_SECRET_MAX], token[MS_SECRET_MAX];
    if (metastore_tenant_add(ms, "default", err, sizeof err) < 0 ||
        metastore_key_add(ms, "default", "ingest", "ingest", key, sizeof key, err, sizeof err) ||
        metastore_key_add(ms, "default", "user", "search,tail,alerts,admin", token, sizeof token,
                          err, sizeof err)) {
        fprintf(stderr, "strata: %s\n", err);
        return -1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/credentials.json", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        dprintf(fd, "{\"tenant\":\"default\",\"ingest_key\":\"%s\",\"user_token\":\"%s\"}\n", key,
                token);
        fsync(fd);
        close(fd);
    }
    fprintf(stderr,
            "\nFirst start: created tenant 'default' with\n"
            "  ingest key:  %s\n"
            "  user token:  %s\n"
            "(also in %s, mode 0600; shown only this once)\n\n",
            key, token, path);
    return 0;
}

int cmd_serve(int argc, char **argv, char *config_out, size_t cap)
{
    const char *dir = flag(argc, argv, "--data-dir");
    const char *listen = flag(argc, argv, "--listen");
    const char *extra = flag(argc, argv, "--config");
    if (!dir)
        dir = data_dir_default();
    if (!listen)
        listen = getenv("STRATA_LISTEN");
    if (!extra)
        extra = getenv("STRATA_CONFIG");
    /* every option takes a value: walk them in pairs */
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        if (!a)
            break;
        int known = !strcmp(a, "--data-dir") || !strcmp(a, "--listen") || !strcmp(a, "--config") ||
                    !strcmp(a, "--ingest-key") || !strcmp(a, "--user-token");
        if (!known || i + 1 >= argc) {
            fprintf(stderr, "usage: strata serve [--data-dir DIR] [--listen ADDR] "
                            "[--ingest-key TENANT=KEY]... [--user-token TENANT=TOKEN]... "
                            "[--config EXTRA.yaml]\n");
            return 2;
        }
    }
    char absdir[4096];
    if (fs_mkdirs(dir) != 0 || !realpath(dir, absdir)) {
        fprintf(stderr, "strata: cannot use data dir %s: %s\n", dir, strerror(errno));
        return 1;
    }
    setenv("STRATA_DATA_DIR", absdir, 1);
    if (listen && *listen)
        setenv("STRATA_LISTEN", listen, 1);
    metastore *ms = open_meta(absdir);
    if (!ms)
        return 1;
    int rc = 0;
    for (int i = 1; i + 1 < argc && rc == 0 && argv[i]; i++) {
        if (!strcmp(argv[i], "--ingest-key"))
            rc = ensure_cred(ms, argv[i + 1], "ingest", "ingest");
        else if (!strcmp(argv[i], "--user-token"))
            rc = ensure_cred(ms, argv[i + 1], "user", "search,tail,alerts,admin");
    }
    if (rc == 0)
        rc = ensure_env_creds(ms, "STRATA_INGEST_KEYS", "ingest", "ingest");
    if (rc == 0)
        rc = ensure_env_creds(ms, "STRATA_USER_TOKENS", "user", "search,tail,alerts,admin");
    if (rc == 0 && extra && *extra)
        rc = ensure_yaml_creds(ms, extra);
    if (rc == 0 && metastore_key_count(ms) == 0)
        rc = first_credentials(ms, absdir);
    metastore_close(ms);
    if (rc != 0)
        return 1;
    snprintf(config_out, cap, "%s/single-node.yaml", absdir);
    FILE *f = fopen(config_out, "w");
    if (!f) {
        fprintf(stderr, "strata: cannot write %s: %s\n", config_out, strerror(errno));
        return 1;
    }
    fputs(single_node_yaml, f);
    if (extra && *extra) {
        char absx[4096];
        fprintf(f, "\n# from --config\ninclude: [\"%s\"]\n", realpath(extra, absx) ? absx : extra);
    }
    fclose(f);
    return 0;
}
