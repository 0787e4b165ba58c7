/*
 * bench/ingest/decode_bench.c - MB/s of decoding + validating /v1/ingest
 * bodies (the hottest path of the gateway), Strata's decoder against cJSON
 * (Debian's libcjson) parsing the same bodies, on one core.
 *
 *   build/bench/ingest/decode_bench [SECONDS] [--json FILE]
 *
 * Bodies: 1,000 events in the brief's shape, generated deterministically:
 * services, hosts, levels, messages with ids, numbers and an occasional
 * escape, meta with trace/user ids and latency. cJSON only builds a tree
 * (no validation, no event building), so it is a lower bound for a
 * library-based decoder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "ingest_json.h"
#include "strbuf.h"

#ifdef HAVE_CJSON
#include <cjson/cJSON.h>
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 42;
static unsigned rnd(unsigned n)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(rng >> 33) % n;
}

/* One body of `events` events in the brief's shape. */
static void make_body(strbuf *sb, int events)
{
    static const char *svc[] = {"payment-service", "checkout", "auth", "search", "inventory"};
    static const char *lvl[] = {"INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG"};
    /* message templates: text before and after a number */
    static const char *msg[][2] = {{"Failed to charge card ending ", ": CARD_DECLINED"},
                                   {"GET /api/v1/users/", " 200 12ms"},
                                   {"user u_", " logged in from 10.0.3.42"},
                                   {"timeout after ", "ms connecting to db-primary:5432, retrying"},
                                   {"cache miss for key \\\"session:", "\\\" (evicted)"}};
    sb_printf(sb,
              "{\"source\":{\"service\":\"%s\",\"host\":\"ip-10-0-3-%u\",\"region\":"
              "\"us-east-1\",\"environment\":\"production\"},\"logs\":[",
              svc[rnd(5)], rnd(255));
    for (int i = 0; i < events; i++) {
        char m[160];
        unsigned k = rnd(5);
        snprintf(m, sizeof m, "%s%u%s", msg[k][0], rnd(100000), msg[k][1]);
        sb_printf(sb,
                  "%s{\"ts\":\"2025-06-15T14:23:%02u.%03uZ\",\"level\":\"%s\",\"msg\":\"%s\","
                  "\"meta\":{\"trace_id\":\"%08x-%04x-%04x\",\"user_id\":\"u_%u\","
                  "\"latency_ms\":%u}}",
                  i ? "," : "", rnd(60), rnd(1000), lvl[rnd(6)], m, rnd(0xffffffff), rnd(0xffff),
                  rnd(0xffff), rnd(100000), rnd(2000));
    }
    sb_puts(sb, "]}");
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 3.0;
    const char *json_out = argc > 3 && !strcmp(argv[2], "--json") ? argv[3] : NULL;
    enum { NB = 16 };
    strbuf bodies[NB] = {{0}};
    size_t total = 0;
    for (int i = 0; i < NB; i++) {
        make_body(&bodies[i], 1000);
        total += bodies[i].len;
    }
    strata_host_api h = {0};
    h.struct_size = sizeof h;
    h.batch_append = batch_append;
    ingest_limits lim = {1000, 256 * 1024, 64, 256, 16, 32 * 1024};
    static ingest_result res;
    char err[256];

    double t0 = now_s();
    size_t bytes = 0, events = 0;
    int iters = 0;
    while (now_s() - t0 < secs) {
        strbuf *b = &bodies[iters++ % NB];
        batch_t *out = batch_new("bench");
        if (ingest_decode(&h, out, b->buf, b->len, 0, "default", 1750000000000000000ll, &lim, &res,
                          err, sizeof err) != 0 ||
            res.accepted != 1000) {
            fprintf(stderr, "decode failed: %s\n", err);
            return 1;
        }
        bytes += b->len;
        events += out->count;
        batch_unref(out);
    }
    double dt = now_s() - t0;
    double strata_mbs = (double)bytes / dt / 1e6, strata_eps = (double)events / dt;

    double cjson_mbs = 0;
#ifdef HAVE_CJSON
    t0 = now_s();
    bytes = 0;
    iters = 0;
    while (now_s() - t0 < secs) {
        strbuf *b = &bodies[iters++ % NB];
        cJSON *doc = cJSON_ParseWithLength(b->buf, b->len);
        if (!doc)
            return 1;
        cJSON_Delete(doc);
        bytes += b->len;
    }
    cjson_mbs = (double)bytes / (now_s() - t0) / 1e6;
#endif
    printf("| decoder | MB/s (one core) | events/s |\n|---|---|---|\n");
    printf("| strata ingest_decode (parse + validate + build batch) | %.0f | %.0f |\n", strata_mbs,
           strata_eps);
#ifdef HAVE_CJSON
    printf("| cJSON %s (parse to a tree only) | %.0f | %.0f |\n", cJSON_Version(), cjson_mbs,
           cjson_mbs * 1e6 / ((double)total / NB / 1000));
#else
    printf("| cJSON | not run: libcjson-dev not installed | |\n");
#endif
    printf("\nbodies: 1,000 events each, %zu bytes on average\n", total / NB);
    if (json_out) {
        FILE *f = fopen(json_out, "w");
        if (f) {
            fprintf(f,
                    "{\"benchmark\":\"ingest_decode\",\"body_bytes\":%zu,"
                    "\"strata_mb_per_s\":%.1f,\"strata_events_per_s\":%.0f,"
                    "\"cjson_mb_per_s\":%.1f}\n",
                    total / NB, strata_mbs, strata_eps, cjson_mbs);
            fclose(f);
        }
    }
    for (int i = 0; i < NB; i++)
        sb_free(&bodies[i]);
    return 0;
}
