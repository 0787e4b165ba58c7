/*
 * cli/search_cli.c - `strata search QUERY`: a terminal client of
 * POST /v1/search (docs/QUERY.md), and a local scanner of NDJSON files.
 *
 *   strata search QUERY [--from -1h] [--to now] [--service S]... [--level L]...
 *                 [--host H]... [--limit N] [--asc] [--json]
 *                 [--server URL] [--token TOKEN]
 *   strata search QUERY --file EVENTS.ndjson [--from/--to RFC3339] [--json]
 *   strata search [OPTIONS] -- QUERY     (a query that starts with "--")
 *
 * The server and token come from the flags, else STRATA_URL and
 * STRATA_TOKEN, else ~/.config/strata/cli.yaml (url:, token:), else
 * http://127.0.0.1:7070 and the user token `strata serve` saved in
 * ./strata-data/credentials.json. Pages are fetched with the cursor and
 * printed as they arrive: coloured lines on a terminal, JSON lines (one log
 * object each) when piped or with --json.
 *
 * --file reads events in the ingest API's NDJSON shape and prints those the
 * query matches, with the same matcher the server's verification uses: the
 * straightforward scan the integration tests compare the index against.
 */
#include "search_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <yaml.h>

#include "batch.h"
#include "clock.h"
#include "core_limits.h"
#include "ingest_json.h"
#include "query.h"
#include "strbuf.h"
#include "timefmt.h"

/* Logs asked for per page: large pages amortise the round trip, small ones
 * print sooner; the server's cap is 10,000. */
#define CLI_PAGE_SIZE 1000
/* Repeated --service/--level/--host values accepted. */
#define CLI_MAX_VALUES 32
/* Lines decoded per ingest_decode call in --file mode. */
#define CLI_FILE_CHUNK 4096

typedef struct cli_opts {
    const char *query;
    const char *from, *to;
    const char *services[CLI_MAX_VALUES], *levels[CLI_MAX_VALUES], *hosts[CLI_MAX_VALUES];
    int nservices, nlevels, nhosts;
    long limit;
    int asc, json;
    const char *server, *token, *file;
} cli_opts;

/* Print how to call `strata search`; 2, the exit code of a usage error. */
static int usage(void)
{
    fprintf(stderr,
            "usage: strata search QUERY [--from -1h] [--to now] [--service S]... [--level L]...\n"
            "                     [--host H]... [--limit N] [--asc] [--json]\n"
            "                     [--server URL] [--token TOKEN] [--file EVENTS.ndjson]\n");
    return 2;
}

/* "-1h" -> "now-1h"; other values as given (RFC 3339, now-..). */
static void time_arg(const char *v, char *out, size_t cap)
{
    if (v[0] == '-' || v[0] == '+')
        snprintf(out, cap, "now%s", v);
    else
        snprintf(out, cap, "%s", v);
}

/* Read url: and token: from a small YAML file. */
static void read_cli_yaml(const char *path, char *url, size_t ucap, char *tok, size_t tcap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    yaml_token_t t;
    char key[32] = "";
    int want_value = 0, done = 0;
    while (!done && yaml_parser_scan(&p, &t)) {
        if (t.type == YAML_KEY_TOKEN) {
            want_value = 0;
        } else if (t.type == YAML_VALUE_TOKEN) {
            want_value = 1;
        } else if (t.type == YAML_SCALAR_TOKEN) {
            const char *v = (const char *)t.data.scalar.value;
            if (!want_value)
                snprintf(key, sizeof key, "%s", v);
            else if (!strcmp(key, "url"))
                snprintf(url, ucap, "%s", v);
            else if (!strcmp(key, "token"))
                snprintf(tok, tcap, "%s", v);
        } else if (t.type == YAML_STREAM_END_TOKEN) {
            done = 1;
        }
        yaml_token_delete(&t);
    }
    yaml_parser_delete(&p);
    fclose(f);
}

/* The user token `strata serve` saved, if any. */
static void read_serve_credentials(char *tok, size_t cap)
{
    FILE *f = fopen("strata-data/credentials.json", "rb");
    if (!f)
        return;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "user_token");
    if (cJSON_IsString(t))
        snprintf(tok, cap, "%s", t->valuestring);
    cJSON_Delete(j);
}

/* ---- printing ---- */

/* The terminal colour of a level: red for ERROR and FATAL, yellow for WARN, dim below INFO. */
static const char *level_colour(const char *l)
{
    if (!strcmp(l, "ERROR") || !strcmp(l, "FATAL"))
        return "\033[31m";
    if (!strcmp(l, "WARN"))
        return "\033[33m";
    if (!strcmp(l, "DEBUG") || !strcmp(l, "TRACE"))
        return "\033[2m";
    return "\033[32m";
}

/* One log object: a JSON line, or a readable line on a terminal. */
static void print_log(const cJSON *log, int json, int colour)
{
    if (json) {
        char *s = cJSON_PrintUnformatted(log);
        if (s)
            puts(s);
        free(s);
        return;
    }
    const char *ts = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(log, "ts"));
    const char *lv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(log, "level"));
    const char *svc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(log, "service"));
    const char *host = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(log, "host"));
    const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(log, "msg"));
    lv = lv ? lv : "";
    if (colour)
        printf("\033[2m%s\033[0m %s%-5s\033[0m \033[36m%s\033[0m%s%s %s", ts ? ts : "",
               level_colour(lv), lv, svc ? svc : "", host && *host ? "@" : "", host ? host : "",
               msg ? msg : "");
    else
        printf("%s %-5s %s%s%s %s", ts ? ts : "", lv, svc ? svc : "", host && *host ? "@" : "",
               host ? host : "", msg ? msg : "");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(log, "meta"), *kv;
    if (!cJSON_IsObject(meta)) /* an array's items have no names to print */
        meta = NULL;
    cJSON_ArrayForEach(kv, meta)
    {
        char *v = cJSON_IsString(kv) ? NULL : cJSON_PrintUnformatted(kv);
        printf(colour ? " \033[2m%s=\033[0m%s" : " %s=%s", kv->string,
               v ? v : cJSON_GetStringValue(kv));
        free(v);
    }
    putchar('\n');
}

/* ---- the server ---- */

/* libcurl write callback: append the response to a buffer (0, an error to curl, on OOM). */
static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    strbuf *sb = ud;
    return sb_append(sb, p, size * n) < 0 ? 0 : size * n;
}

/* Add a field's values (one or a list) to the request's filters. */
static void add_filter(cJSON *filters, const char *name, const char *const *v, int n)
{
    if (!n)
        return;
    cJSON *arr = cJSON_AddArrayToObject(filters, name);
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]));
}

/* Page through POST /v1/search of a server (URL and token from flags, environment or
 * ~/.config/strata/cli.yaml) and print the hits. */
static int search_server(const cli_opts *o)
{
    char url[1024] = "", token[512] = "", cfg[1024];
    const char *home = getenv("HOME");
    if (home) {
        snprintf(cfg, sizeof cfg, "%s/.config/strata/cli.yaml", home);
        read_cli_yaml(cfg, url, sizeof url, token, sizeof token);
    }
    if (getenv("STRATA_URL"))
        snprintf(url, sizeof url, "%s", getenv("STRATA_URL"));
    if (getenv("STRATA_TOKEN"))
        snprintf(token, sizeof token, "%s", getenv("STRATA_TOKEN"));
    if (o->server)
        snprintf(url, sizeof url, "%s", o->server);
    if (o->token)
        snprintf(token, sizeof token, "%s", o->token);
    if (!url[0])
        snprintf(url, sizeof url, "http://127.0.0.1:7070");
    if (!token[0])
        read_serve_credentials(token, sizeof token);
    char endpoint[1100];
    snprintf(endpoint, sizeof endpoint, "%s/v1/search", url);
    int json = o->json || !isatty(STDOUT_FILENO);
    int colour = !json && !getenv("NO_COLOR");

    CURL *c = curl_easy_init();
    if (!c) {
        fprintf(stderr, "strata search: cannot initialise libcurl\n");
        return 1;
    }
    char auth[600];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    if (token[0])
        hdr = curl_slist_append(hdr, auth);
    char *cursor = NULL;
    long printed = 0;
    int rc = 0, first = 1;
    while (printed < o->limit) {
        cJSON *req = cJSON_CreateObject();
        cJSON_AddStringToObject(req, "query", o->query);
        cJSON *filters = cJSON_CreateObject();
        add_filter(filters, "service", o->services, o->nservices);
        add_filter(filters, "level", o->levels, o->nlevels);
        add_filter(filters, "host", o->hosts, o->nhosts);
        if (cJSON_GetArraySize(filters))
            cJSON_AddItemToObject(req, "filters", filters);
        else
            cJSON_Delete(filters);
        if (o->from || o->to) {
            cJSON *tr = cJSON_AddObjectToObject(req, "time_range");
            char t[128];
            if (o->from) {
                time_arg(o->from, t, sizeof t);
                cJSON_AddStringToObject(tr, "from", t);
            }
            if (o->to) {
                time_arg(o->to, t, sizeof t);
                cJSON_AddStringToObject(tr, "to", t);
            }
        }
        cJSON_AddStringToObject(req, "sort", o->asc ? "asc" : "desc");
        long page = o->limit - printed < CLI_PAGE_SIZE ? o->limit - printed : CLI_PAGE_SIZE;
        cJSON_AddNumberToObject(req, "limit", (double)page);
        if (cursor)
            cJSON_AddStringToObject(req, "cursor", cursor);
        char *body = cJSON_PrintUnformatted(req);
        cJSON_Delete(req);
        strbuf resp = {0};
        curl_easy_setopt(c, CURLOPT_URL, endpoint);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
        CURLcode cr = curl_easy_perform(c);
        free(body);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (cr != CURLE_OK) {
            fprintf(stderr, "strata search: %s: %s\n", endpoint, curl_easy_strerror(cr));
            sb_free(&resp);
            rc = 1;
            break;
        }
        cJSON *r = cJSON_ParseWithLength(resp.buf ? resp.buf : "", resp.len);
        sb_free(&resp);
        if (status != 200 || !r) {
            const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "error"));
            fprintf(stderr, "strata search: HTTP %ld: %s\n", status, e ? e : "no JSON answer");
            if (status == 401)
                fprintf(stderr, "  (give a user token: --token, STRATA_TOKEN or "
                                "~/.config/strata/cli.yaml)\n");
            cJSON_Delete(r);
            rc = 1;
            break;
        }
        const cJSON *logs = cJSON_GetObjectItemCaseSensitive(r, "logs"), *log;
        cJSON_ArrayForEach(log, logs)
        {
            print_log(log, json, colour);
            printed++;
        }
        if (first && !json) {
            const cJSON *hits = cJSON_GetObjectItemCaseSensitive(r, "hits");
            const char *rel =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "hits_relation"));
            fprintf(stderr, "%s%.0f%s hits in %.0f ms\n", rel && !strcmp(rel, "gte") ? ">= " : "",
                    cJSON_IsNumber(hits) ? hits->valuedouble : 0,
                    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "partial")) ? " (partial)"
                                                                                 : "",
                    cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "took_ms")));
        }
        first = 0;
        fflush(stdout);
        const char *next = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "next_cursor"));
        free(cursor);
        cursor = next ? strdup(next) : NULL;
        cJSON_Delete(r);
        if (!cursor)
            break;
    }
    free(cursor);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return rc;
}

/* ---- --file: the straightforward scan ---- */

/* Scan an NDJSON file with the same matcher the index uses and print the matches. */
static int search_file(const cli_opts *o)
{
    char err[512];
    query *q = q_parse(o->query, strlen(o->query), err, sizeof err);
    if (!q) {
        fprintf(stderr, "strata search: %s\n", err);
        return 2;
    }
    int64_t from = INT64_MIN, to = INT64_MAX;
    if ((o->from && parse_rfc3339(o->from, strlen(o->from), &from) < 0) ||
        (o->to && parse_rfc3339(o->to, strlen(o->to), &to) < 0)) {
        fprintf(stderr, "strata search: --file takes RFC 3339 times for --from and --to\n");
        q_free(q);
        return 2;
    }
    FILE *f = strcmp(o->file, "-") ? fopen(o->file, "rb") : stdin;
    if (!f) {
        perror(o->file);
        q_free(q);
        return 1;
    }
    strata_host_api h = {0};
    h.struct_size = sizeof h;
    h.batch_append = batch_append;
    ingest_limits lim = {CLI_FILE_CHUNK, 1u << 20, 1024, 1024, 32, 1u << 20};
    static ingest_result res;
    q_scratch *s = q_scratch_new();
    strata_kv *meta = malloc(BATCH_MAX_META * sizeof *meta);
    strbuf chunk = {0}, out = {0};
    char *line = NULL;
    size_t cap = 0;
    int lines = 0, eof = 0, rc = 0;
    long printed = 0;
    if (!s || !meta) {
        fprintf(stderr, "strata search: out of memory\n");
        rc = 1;
    }
    while (!eof && s && meta && printed < o->limit) {
        ssize_t n = getline(&line, &cap, f);
        if (n > 0) {
            sb_append(&chunk, line, (size_t)n);
            lines++;
        } else {
            eof = 1;
        }
        if (lines < CLI_FILE_CHUNK && !eof)
            continue;
        batch_t *b = batch_new("search");
        if (chunk.len && ingest_decode(&h, (strata_batch *)b, chunk.buf, chunk.len, 1, "local",
                                       clock_real_ns(), &lim, &res, err, sizeof err) != 0) {
            fprintf(stderr, "strata search: %s: %s\n", o->file, err);
            rc = 1;
        }
        for (uint32_t i = 0; b && i < b->count && printed < o->limit; i++) {
            strata_event ev;
            if (batch_get(b, i, &ev, meta, BATCH_MAX_META) != STRATA_OK)
                continue;
            if (ev.event_ts_ns < from || ev.event_ts_ns >= to || !q_match(q, &ev, s))
                continue;
            size_t need = batch_event_json(b, i, NULL, 0) + 1;
            sb_reset(&out);
            if (sb_reserve(&out, need) == 0) {
                batch_event_json(b, i, out.buf, need);
                puts(out.buf);
            }
            printed++;
        }
        if (b)
            batch_unref(b);
        sb_reset(&chunk);
        lines = 0;
    }
    if (s && q_scratch_regex_aborts(s))
        fprintf(stderr, "strata search: the regex gave up on %llu line(s) (too complex)\n",
                (unsigned long long)q_scratch_regex_aborts(s));
    free(line);
    free(meta);
    sb_free(&chunk);
    sb_free(&out);
    q_scratch_free(s);
    q_free(q);
    if (f != stdin)
        fclose(f);
    return rc;
}

int cmd_search(int argc, char **argv)
{
    cli_opts o = {.limit = 100};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
#define VAL() (more ? argv[++i] : NULL)
        if (!strcmp(a, "--") && more && !o.query) {
            o.query = argv[++i]; /* a query that starts with "--" */
        } else if (!strcmp(a, "--json")) {
            o.json = 1;
        } else if (!strcmp(a, "--asc")) {
            o.asc = 1;
        } else if (!strcmp(a, "--from") && more) {
            o.from = VAL();
        } else if (!strcmp(a, "--to") && more) {
            o.to = VAL();
        } else if (!strcmp(a, "--server") && more) {
            o.server = VAL();
        } else if (!strcmp(a, "--token") && more) {
            o.token = VAL();
        } else if (!strcmp(a, "--file") && more) {
            o.file = VAL();
        } else if (!strcmp(a, "--limit") && more) {
            char *end;
            o.limit = strtol(argv[++i], &end, 10);
            if (*end || o.limit < 1) {
                fprintf(stderr, "strata search: --limit takes a positive number\n");
                return 2;
            }
        } else if (!strcmp(a, "--service") && more && o.nservices < CLI_MAX_VALUES) {
            o.services[o.nservices++] = VAL();
        } else if (!strcmp(a, "--level") && more && o.nlevels < CLI_MAX_VALUES) {
            o.levels[o.nlevels++] = VAL();
        } else if (!strcmp(a, "--host") && more && o.nhosts < CLI_MAX_VALUES) {
            o.hosts[o.nhosts++] = VAL();
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "strata search: unknown or incomplete option %s\n", a);
            return usage();
        } else if (!o.query) {
            o.query = a;
        } else {
            fprintf(stderr, "strata search: one QUERY only (quote it: 'a b OR c')\n");
            return usage();
        }
#undef VAL
    }
    if (!o.query)
        return usage();
    if (o.file && (o.nservices || o.nlevels || o.nhosts)) {
        fprintf(stderr, "strata search: with --file, write filters in the query "
                        "(service:api level:error)\n");
        return 2;
    }
    if (o.file)
        return search_file(&o);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = search_server(&o);
    curl_global_cleanup();
    return rc;
}
