/*
 * plugins/input/http - POST /v1/ingest: the gateway's front door.
 *
 * A request body (identity, gzip or zstd; JSON in the brief's shape or
 * NDJSON) is decompressed with a cap, decoded and validated event by event
 * (ingest_json.c), emitted as one batch, and answered 202
 * {accepted, failed, errors?, lag_hint} only when the pipeline acknowledges
 * the batch: with `buffer: wal`, after the fsync that makes it durable.
 * Backpressure answers 429 with Retry-After; a batch that could not be made
 * durable answers 503 with Retry-After. Nothing is acknowledged that is not
 * stored.
 *
 * Thread: the loop thread (HTTP handler, acks).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>

#include <strata/strata.h>

#include "ingest_json.h"
#include "strbuf.h"

/* Acknowledgement latency that turns lag_hint from normal to elevated, and
 * from elevated to critical: agents use it to batch more or shed DEBUG. */
#define LAG_ELEVATED_NS (250ll * 1000000)
#define LAG_CRITICAL_NS (2000ll * 1000000)
/* The WAL's fill (size over max_bytes) and its slowest consumer's lag in
 * records that raise the hint too: half full is time to slow down, 80% is
 * minutes from 503s at ingest rates. 100,000 records is 100 M events at the
 * default batch size, an indexer that has fallen far behind. */
#define LAG_ELEVATED_FILL 0.5
#define LAG_CRITICAL_FILL 0.8
#define LAG_ELEVATED_RECORDS 100000u
#define LAG_CRITICAL_RECORDS 1000000u
/* Seconds a client is told to wait after 429/503. */
#define RETRY_AFTER_S "1"

static const strata_config_key http_keys[] = {
    {"path", STRATA_CFG_STRING, "/v1/ingest", 0, "Route the ingest API listens on."},
    {"auth", STRATA_CFG_BOOL, "false", 0,
     "Require Authorization: Bearer <ingest key>; the tenant comes from the key."},
    {"tenant", STRATA_CFG_STRING, "default", 0, "Tenant of every event when auth is off."},
    {"max_body", STRATA_CFG_SIZE, "8MiB", 0, "Largest request body as sent (compressed)."},
    {"max_decompressed", STRATA_CFG_SIZE, "64MiB", 0,
     "Largest body after decompression; decompression stops there (bombs cost nothing)."},
    {"max_events", STRATA_CFG_INT, "1000", 0, "Most events in one request."},
    {"max_msg_bytes", STRATA_CFG_SIZE, "256KiB", 0, "Longest msg of one event."},
    {"max_meta_keys", STRATA_CFG_INT, "64", 0, "Most meta keys of one event."},
    {"max_key_bytes", STRATA_CFG_INT, "256", 0, "Longest meta key."},
    {"max_depth", STRATA_CFG_INT, "16", 0, "Deepest JSON nesting accepted anywhere in a body."},
    {"max_value_bytes", STRATA_CFG_SIZE, "32KiB", 0,
     "Longest meta string value of one event; a longer one refuses the event, naming the key."},
};

/* Bounds a config may give the per-value limit: below 16 bytes a trace id
 * would not fit; past 16 MiB one value would be a body of its own. */
static const strata_config_rule http_rules[] = {
    {.key = "max_value_bytes", .min = "16", .max = "16MiB"},
};

typedef struct in_http {
    strata_instance *inst;
    const strata_host_api *h;
    char path[256];
    char tenant[128];
    int auth;
    size_t max_body, max_decompressed;
    ingest_limits lim;
    strata_metric *requests, *events, *rejected, *bytes, *refused, *batch_events, *batch_bytes;
    ZSTD_DStream *zds; /* reused across requests (creating one per request cost 2% of CPU) */
} in_http;

typedef struct pending {
    in_http *s;
    strata_http_request *req;
    int64_t started_ns;
    uint32_t accepted;
    size_t bytes;
    char tenant[128];
    char *body; /* response body without lag_hint and the closing brace */
} pending;

/* The plugin's init: limits, auth, the decompressors and the metrics. */
static int http_init(strata_instance *inst, const strata_host_api *h, const strata_config *cfg,
                     void **state)
{
    in_http *s = calloc(1, sizeof *s);
    if (!s)
        return STRATA_ENOMEM;
    s->inst = inst;
    s->h = h;
    snprintf(s->path, sizeof s->path, "%s", h->cfg_str(cfg, "path"));
    snprintf(s->tenant, sizeof s->tenant, "%s", h->cfg_str(cfg, "tenant"));
    s->auth = h->cfg_bool(cfg, "auth");
    if (s->auth && !STRATA_HOST_HAS(h, auth_check)) {
        h->set_error(inst, "auth needs a Strata host with plugin ABI 1.1 or later");
        free(s);
        return STRATA_EINVAL;
    }
    s->max_body = (size_t)h->cfg_int(cfg, "max_body");
    s->max_decompressed = (size_t)h->cfg_int(cfg, "max_decompressed");
    s->lim.max_events = (uint32_t)h->cfg_int(cfg, "max_events");
    s->lim.max_msg_bytes = (uint32_t)h->cfg_int(cfg, "max_msg_bytes");
    s->lim.max_meta_keys = (uint32_t)h->cfg_int(cfg, "max_meta_keys");
    s->lim.max_key_bytes = (uint32_t)h->cfg_int(cfg, "max_key_bytes");
    s->lim.max_depth = (uint32_t)h->cfg_int(cfg, "max_depth");
    s->lim.max_value_bytes = (uint32_t)h->cfg_int(cfg, "max_value_bytes");
    if (s->path[0] != '/' || !s->lim.max_events || s->lim.max_events > 1000000 ||
        !s->lim.max_msg_bytes || s->lim.max_depth < 3 || s->lim.max_depth > 256 ||
        !s->max_decompressed) {
        h->set_error(inst, "path must start with '/', max_events be 1..1000000, max_depth 3..256");
        free(s);
        return STRATA_EINVAL;
    }
    s->requests = h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_ingest_requests_total",
                                "Ingest requests by HTTP status.", "status", NULL, 0);
    s->events =
        h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_ingest_events_total",
                      "Events accepted (acknowledged durable) by tenant.", "tenant", NULL, 0);
    static const char *const rejected_labels[] = {"tenant", "reason"};
    s->rejected = h->metric_new_labels(
        inst, STRATA_METRIC_COUNTER, "strata_ingest_rejected_events_total",
        "Events refused by per-event validation, by tenant and reason (syntax, msg, too_large, "
        "encoding, timestamp, level, meta).",
        rejected_labels, 2, NULL, 0);
    s->bytes =
        h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_ingest_bytes_total",
                      "Decompressed request bytes acknowledged, by tenant.", "tenant", NULL, 0);
    s->refused = h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_ingest_refused_requests_total",
                               "Requests refused whole, by reason.", "reason", NULL, 0);
    static const double ev_b[] = {1, 10, 100, 500, 1000, 5000, 10000};
    static const double by_b[] = {1024, 16384, 131072, 524288, 1048576, 4194304, 16777216};
    s->batch_events = h->metric_new(inst, STRATA_METRIC_HISTOGRAM, "strata_ingest_batch_events",
                                    "Events per acknowledged ingest request.", NULL, ev_b, 7);
    s->batch_bytes =
        h->metric_new(inst, STRATA_METRIC_HISTOGRAM, "strata_ingest_batch_bytes",
                      "Decompressed bytes per acknowledged ingest request.", NULL, by_b, 7);
    s->zds = ZSTD_createDStream();
    if (!s->zds) {
        free(s);
        return STRATA_ENOMEM;
    }
    *state = s;
    return STRATA_OK;
}

/* Why a whole request was refused, for strata_ingest_refused_requests_total. */
static const char *refusal_reason(int status, const char *body)
{
    switch (status) {
    case 400:
        return strstr(body, "no event in the request was valid") ? "no_valid_event" : "undecodable";
    case 401: return "unauthenticated";
    case 403: return "forbidden";
    case 413: return "too_large";
    case 415: return "unsupported_encoding";
    case 429: return strstr(body, "quota") ? "quota" : "backpressure";
    case 503: return "not_durable";
    default: return "other";
    }
}

/* Answer an ingest request (counted by status and refusal reason; Retry-After on 429 and 503). */
static void respond(in_http *s, strata_http_request *req, int status, const char *body)
{
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    s->h->metric_add(s->requests, st, 1);
    if (status >= 400)
        s->h->metric_add(s->refused, refusal_reason(status, body), 1);
    if (status == 429 || status == 503)
        s->h->http_add_header(req, "Retry-After", RETRY_AFTER_S);
    s->h->http_respond(req, status, "application/json", body, strlen(body));
}

/* {"error": msg} with msg JSON-escaped. */
static void respond_error(in_http *s, strata_http_request *req, int status, const char *msg)
{
    size_t n = strlen(msg);
    char *b = malloc(n * 6 + 16);
    if (!b) {
        respond(s, req, 500, "{\"error\":\"out of memory\"}");
        return;
    }
    char *o = json_escape_to(b + sprintf(b, "{\"error\":\""), msg, n);
    strcpy(o, "\"}");
    respond(s, req, status, b);
    free(b);
}

/* Decompress into *out (caller frees) stopping at cap. 0, or an HTTP
 * status with msg set. */
static int inflate_gzip(const void *in, size_t n, size_t cap, char **out, size_t *outlen, char *msg,
                        size_t msglen)
{
    z_stream z = {0};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        snprintf(msg, msglen, "cannot start gzip decompression");
        return 500;
    }
    size_t size = n * 4 + 4096 < cap ? n * 4 + 4096 : cap;
    char *buf = malloc(size + 1);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    int rc = Z_OK;
    while (buf) {
        z.next_out = (Bytef *)buf + z.total_out;
        z.avail_out = (uInt)(size - z.total_out);
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            if (z.avail_in) { /* concatenated members or trailing junk */
                snprintf(msg, msglen, "data after the end of the gzip stream");
                break;
            }
            *out = buf;
            *outlen = z.total_out;
            inflateEnd(&z);
            return 0;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            snprintf(msg, msglen, "corrupt gzip data: %s", z.msg ? z.msg : "inflate error");
            break;
        }
        if (z.avail_out == 0) {
            if (size >= cap) {
                snprintf(msg, msglen,
                         "decompressed body exceeds max_decompressed (%zu bytes); "
                         "decompression stopped there",
                         cap);
                inflateEnd(&z);
                free(buf);
                return 413;
            }
            size = size * 2 < cap ? size * 2 : cap;
            char *nb = realloc(buf, size + 1);
            if (!nb) {
                snprintf(msg, msglen, "out of memory decompressing");
                break;
            }
            buf = nb;
        } else if (z.avail_in == 0) {
            snprintf(msg, msglen, "truncated gzip stream");
            break;
        }
    }
    if (!buf)
        snprintf(msg, msglen, "out of memory decompressing");
    inflateEnd(&z);
    free(buf);
    return 400;
}

/* A zstd body decompressed into *out, at most cap bytes; 0, or an HTTP status with msg. */
static int inflate_zstd(ZSTD_DStream *d, const void *in, size_t n, size_t cap, char **out,
                        size_t *outlen, char *msg, size_t msglen)
{
    ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
    size_t size = n * 4 + 4096 < cap ? n * 4 + 4096 : cap;
    char *buf = malloc(size + 1);
    ZSTD_inBuffer ib = {in, n, 0};
    ZSTD_outBuffer ob = {buf, size, 0};
    size_t r = 1;
    int status = 400;
    while (buf) {
        r = ZSTD_decompressStream(d, &ob, &ib);
        if (ZSTD_isError(r)) {
            snprintf(msg, msglen, "corrupt zstd data: %s", ZSTD_getErrorName(r));
            break;
        }
        if (r == 0 && ib.pos == ib.size) { /* a frame ended with all input used */
            *out = buf;
            *outlen = ob.pos;
            return 0;
        }
        if (ob.pos == ob.size) {
            if (size >= cap) {
                snprintf(msg, msglen,
                         "decompressed body exceeds max_decompressed (%zu bytes); "
                         "decompression stopped there",
                         cap);
                status = 413;
                break;
            }
            size = size * 2 < cap ? size * 2 : cap;
            char *nb = realloc(buf, size + 1);
            if (!nb) {
                snprintf(msg, msglen, "out of memory decompressing");
                break;
            }
            buf = nb;
            ob.dst = buf;
            ob.size = size;
        } else if (ib.pos == ib.size) {
            snprintf(msg, msglen, "truncated zstd frame");
            break;
        }
    }
    free(buf);
    return status;
}

/* The pipeline's acknowledgement: 202 with the backpressure hint once durable, 503 when nothing
 * could be stored. */
static void on_ack(int status, void *arg)
{
    pending *p = arg;
    in_http *s = p->s;
    if (status != STRATA_OK) {
        respond_error(s, p->req, 503,
                      "the batch could not be made durable (disk full or I/O error); "
                      "nothing was stored; retry");
    } else {
        int64_t lag = s->h->now_ns() - p->started_ns;
        int level = lag < LAG_ELEVATED_NS ? 0 : lag < LAG_CRITICAL_NS ? 1 : 2;
        double fill = 0;
        uint64_t records = 0;
        if (STRATA_HOST_HAS(s->h, buffer_backlog) &&
            s->h->buffer_backlog(s->inst, &fill, &records) == STRATA_OK) {
            int wl = fill >= LAG_CRITICAL_FILL || records >= LAG_CRITICAL_RECORDS   ? 2
                     : fill >= LAG_ELEVATED_FILL || records >= LAG_ELEVATED_RECORDS ? 1
                                                                                    : 0;
            if (wl > level)
                level = wl;
        }
        const char *hint = level == 0 ? "normal" : level == 1 ? "elevated" : "critical";
        size_t n = strlen(p->body);
        char *b = malloc(n + 40);
        s->h->metric_add(s->events, p->tenant, p->accepted);
        s->h->metric_add(s->bytes, p->tenant, (double)p->bytes);
        s->h->metric_observe(s->batch_events, NULL, p->accepted);
        s->h->metric_observe(s->batch_bytes, NULL, (double)p->bytes);
        if (b) {
            sprintf(b, "%s,\"lag_hint\":\"%s\"}", p->body, hint);
            respond(s, p->req, 202, b);
            free(b);
        } else {
            respond(s, p->req, 500, "{\"error\":\"out of memory\"}");
        }
    }
    free(p->body);
    free(p);
}

/* {"accepted":N,"failed":M[,"errors":[...]] without the closing brace. */
static char *result_json(const ingest_result *res)
{
    size_t cap = 96 + (size_t)res->nerrors * (sizeof res->errors[0].reason * 6 + 48);
    char *b = malloc(cap);
    if (!b)
        return NULL;
    char *o = b + sprintf(b, "{\"accepted\":%u,\"failed\":%u", res->accepted, res->failed);
    if (res->nerrors) {
        o += sprintf(o, ",\"errors\":[");
        for (uint32_t i = 0; i < res->nerrors; i++) {
            o += sprintf(o, "%s{\"index\":%u,\"reason\":\"", i ? "," : "", res->errors[i].index);
            o = json_escape_to(o, res->errors[i].reason, strlen(res->errors[i].reason));
            o += sprintf(o, "\"}");
        }
        o += sprintf(o, "]");
    }
    *o = 0;
    return b;
}

/* POST /v1/ingest [loop]: authenticate, decode and validate the body, emit the batch; answered
 * when it is durable. */
static void handle_ingest(strata_http_request *req, void *arg)
{
    in_http *s = arg;
    const strata_host_api *h = s->h;
    char tenant[128];
    snprintf(tenant, sizeof tenant, "%s", s->tenant);
    if (s->auth) {
        int a = h->auth_check(s->inst, req, "ingest", tenant, sizeof tenant);
        if (a == 401) {
            h->http_add_header(req, "WWW-Authenticate", "Bearer");
            respond_error(s, req, 401,
                          "missing or unknown credential: send Authorization: Bearer <ingest key>");
            return;
        }
        if (a != 0) {
            respond_error(s, req, 403,
                          "this credential has no ingest scope (user tokens cannot ingest; use "
                          "an ingest key)");
            return;
        }
    }
    size_t len;
    const char *body = h->http_body(req, &len);
    if (len > s->max_body) {
        char m[200];
        snprintf(m, sizeof m, "body is %zu bytes, over max_body (%zu); send smaller batches", len,
                 s->max_body);
        respond_error(s, req, 413, m);
        return;
    }
    const char *enc = h->http_header(req, "Content-Encoding");
    char *plain = NULL;
    size_t plain_len = len;
    char msg[300] = "";
    if (enc && *enc && strcasecmp(enc, "identity") != 0) {
        int st;
        if (strcasecmp(enc, "gzip") == 0)
            st = inflate_gzip(body, len, s->max_decompressed, &plain, &plain_len, msg, sizeof msg);
        else if (strcasecmp(enc, "zstd") == 0)
            st = inflate_zstd(s->zds, body, len, s->max_decompressed, &plain, &plain_len, msg,
                              sizeof msg);
        else {
            snprintf(msg, sizeof msg,
                     "Content-Encoding '%.40s' is not supported (use zstd, gzip "
                     "or identity)",
                     enc);
            st = 415;
        }
        if (st) {
            respond_error(s, req, st, msg);
            return;
        }
        body = plain;
    } else if (len > s->max_decompressed) {
        respond_error(s, req, 413, "body is over max_decompressed");
        return;
    }
    const char *ctype = h->http_header(req, "Content-Type");
    int ndjson = ctype && (strncasecmp(ctype, "application/x-ndjson", 20) == 0 ||
                           strncasecmp(ctype, "application/ndjson", 18) == 0);
    strata_batch *b = h->batch_new(s->inst, NULL);
    ingest_result *res = malloc(sizeof *res);
    if (!b || !res) {
        free(plain);
        free(res);
        if (b)
            h->batch_free(b);
        respond(s, req, 500, "{\"error\":\"out of memory\"}");
        return;
    }
    int64_t now = h->now_ns();
    int rc =
        ingest_decode(h, b, body, plain_len, ndjson, tenant, now, &s->lim, res, msg, sizeof msg);
    free(plain);
    if (rc != 0) {
        h->batch_free(b);
        respond_error(s, req, res->limit_status ? res->limit_status : 400, msg);
        free(res);
        return;
    }
    if (res->failed) {
        for (int r = 0; r < INGEST_R_COUNT_; r++)
            if (res->by_reason[r])
                h->metric_add_labels(s->rejected, (const char *[]){tenant, ingest_reason_names[r]},
                                     res->by_reason[r]);
    }
    char *rj = result_json(res);
    uint32_t accepted = res->accepted;
    free(res);
    if (!rj) {
        h->batch_free(b);
        respond(s, req, 500, "{\"error\":\"out of memory\"}");
        return;
    }
    if (accepted == 0) {
        h->batch_free(b);
        strcat(rj, ",\"error\":\"no event in the request was valid\"}");
        respond(s, req, 400, rj);
        free(rj);
        return;
    }
    pending *p = malloc(sizeof *p);
    if (!p) {
        h->batch_free(b);
        free(rj);
        respond(s, req, 500, "{\"error\":\"out of memory\"}");
        return;
    }
    *p = (pending){s, req, now, accepted, plain_len, "", rj};
    snprintf(p->tenant, sizeof p->tenant, "%s", tenant);
    rc = h->emit(s->inst, b, on_ack, p);
    if (rc != STRATA_OK) {
        h->batch_free(b);
        free(rj);
        free(p);
        if (rc == STRATA_EAGAIN)
            respond_error(s, req, 429,
                          "backpressure: the pipeline is full; retry after the Retry-After delay");
        else if (rc == STRATA_EQUOTA) {
            char m[300];
            snprintf(m, sizeof m,
                     "tenant '%s' is over its ingest quota; retry after the Retry-After delay",
                     tenant);
            respond_error(s, req, 429, m);
        } else
            respond_error(s, req, 503, "the pipeline is not accepting events right now; retry");
        return;
    }
}

/* The plugin's start: register the ingest route. */
static int http_start(void *state)
{
    in_http *s = state;
    return s->h->http_route(s->inst, "POST", s->path, handle_ingest, s);
}

/* Backpressure cleared: nothing to resume, clients retry on their own. */
static void http_resume(void *state)
{
    (void)state;
}

/* The plugin's destroy: free the state. */
static void http_destroy(void *state)
{
    in_http *s = state;
    ZSTD_freeDStream(s->zds);
    free(s);
}

static const strata_plugin http_plugin = {
    STRATA_PLUGIN_HEADER,
    .name = "http",
    .kind = STRATA_KIND_INPUT,
    .version = "1.0.0",
    .description = "POST /v1/ingest: JSON or NDJSON, gzip or zstd; 202 once durable.",
    .config = http_keys,
    .config_count = sizeof http_keys / sizeof http_keys[0],
    .config_rules = http_rules,
    .config_rule_count = sizeof http_rules / sizeof http_rules[0],
    .init = http_init,
    .start = http_start,
    .destroy = http_destroy,
    .resume = http_resume,
};

STRATA_PLUGIN_DEFINE(http_plugin)
