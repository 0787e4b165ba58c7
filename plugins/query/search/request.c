/*
 * plugins/query/search/request.c - the bodies of POST /v1/search and
 * /v1/aggregate (docs/QUERY.md, "HTTP API") to a parsed request.
 *
 * Filters become clauses of the same query language, ANDed with the query
 * text, so a filter and the equivalent query text cannot mean different
 * things. Unknown fields are refused by name: a typo must not silently
 * widen a search.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "search.h"
#include "timefmt.h"
#include "utf8.h"

/* Shortest and longest aggregate interval (the brief: 1 s to 1 d). */
#define AGG_MIN_INTERVAL_NS 1000000000ll
#define AGG_MAX_INTERVAL_NS (86400ll * 1000000000)

static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Put a message in err; returns -1 for `return bad(...)`. */
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* The offset of a \u0000 escape in the JSON text (a backslash that is not
 * itself escaped, then u0000), or len when there is none: cJSON decodes it
 * into a NUL, which would end the string there without a word. */
static size_t nul_escape_at(const char *s, size_t len)
{
    for (size_t i = 0; i + 6 <= len; i++) {
        if (s[i] != '\\')
            continue;
        if (s[i + 1] == 'u' && s[i + 2] == '0' && s[i + 3] == '0' && s[i + 4] == '0' &&
            s[i + 5] == '0')
            return i;
        i++; /* an escape of two characters or more: skip what it escapes */
    }
    return len;
}

int parse_duration_ns(const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno || v < 0)
        return -1;
    int64_t unit;
    if (!strcmp(end, "ms"))
        unit = 1000000ll;
    else if (!strcmp(end, "s"))
        unit = 1000000000ll;
    else if (!strcmp(end, "m"))
        unit = 60ll * 1000000000;
    else if (!strcmp(end, "h"))
        unit = 3600ll * 1000000000;
    else if (!strcmp(end, "d"))
        unit = 86400ll * 1000000000;
    else if (!strcmp(end, "w"))
        unit = 7ll * 86400 * 1000000000;
    else
        return -1;
    if (v > INT64_MAX / unit)
        return -1;
    *out = v * unit;
    return 0;
}

int parse_time(const char *s, int64_t now_ns, int64_t *out)
{
    if (!strncmp(s, "now", 3)) {
        if (!s[3]) {
            *out = now_ns;
            return 0;
        }
        int64_t d;
        if ((s[3] != '-' && s[3] != '+') || parse_duration_ns(s + 4, &d) < 0)
            return -1;
        *out = s[3] == '-' ? now_ns - d : now_ns + d;
        return 0;
    }
    return parse_rfc3339(s, strlen(s), out);
}

void cursor_encode(const skey *k, int desc, char *out, size_t cap)
{
    snprintf(out, cap, "1%c%016" PRIx64 "%016" PRIx64 "%016" PRIx64, desc ? 'd' : 'a',
             (uint64_t)k->ts, (uint64_t)k->ingest, k->h);
}

int cursor_decode(const char *s, skey *k, int *desc)
{
    if (strlen(s) != 50 || s[0] != '1' || (s[1] != 'd' && s[1] != 'a'))
        return -1;
    uint64_t v[3];
    for (int i = 0; i < 3; i++) {
        char part[17];
        memcpy(part, s + 2 + (size_t)i * 16, 16);
        part[16] = 0;
        for (int j = 0; j < 16; j++)
            if (!isxdigit((unsigned char)part[j]))
                return -1;
        v[i] = strtoull(part, NULL, 16);
    }
    k->ts = (int64_t)v[0];
    k->ingest = (int64_t)v[1];
    k->h = v[2];
    *desc = s[1] == 'd';
    return 0;
}

/* Append `field:value` to sb, quoting the value unless it is a plain word
 * (so it is taken literally: no wildcards, no operators). */
static void add_clause(strbuf *sb, const char *field, const char *v)
{
    int plain = *v != 0;
    for (const char *p = v; *p && plain; p++)
        if (isspace((unsigned char)*p) || strchr("()\"*?\\", *p))
            plain = 0;
    sb_printf(sb, "%s:", field);
    if (plain) {
        sb_puts(sb, v);
        return;
    }
    sb_append(sb, "\"", 1);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            sb_append(sb, "\\", 1);
        sb_append(sb, p, 1);
    }
    sb_append(sb, "\"", 1);
}

/* A filter value as text: strings as they are, numbers and booleans as
 * written. NULL when it is neither. */
static const char *scalar_text(const cJSON *v, char *buf, size_t cap)
{
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble == (double)(long long)v->valuedouble)
            snprintf(buf, cap, "%lld", (long long)v->valuedouble);
        else
            snprintf(buf, cap, "%.17g", v->valuedouble);
        return buf;
    }
    return NULL;
}

/* filters: {"service": "a" | ["a","b"], "level": .., "host": .., "meta.K": ..}
 * (a key that is none of these means meta.KEY) -> "(f:a OR f:b) AND ..." */
static int filters_text(const cJSON *f, strbuf *sb, char *err, size_t errlen)
{
    if (!cJSON_IsObject(f))
        return bad(err, errlen, "'filters' must be an object such as {\"service\": \"api\"}");
    const cJSON *k;
    cJSON_ArrayForEach(k, f)
    {
        char field[300];
        const char *name = k->string;
        if (!strcmp(name, "service") || !strcmp(name, "host") || !strcmp(name, "level") ||
            !strncmp(name, "meta.", 5))
            snprintf(field, sizeof field, "%s", name);
        else
            snprintf(field, sizeof field, "meta.%s", name);
        if (strlen(name) > 250 || strpbrk(name, " \t():\"<>=") || !name[0])
            return bad(err, errlen, "filters: '%.60s' is not a field name", name);
        int n = cJSON_IsArray(k) ? cJSON_GetArraySize(k) : 1;
        if (n == 0)
            return bad(err, errlen, "filters.%s: an empty list matches nothing", name);
        sb_puts(sb, sb->len ? " AND (" : "(");
        for (int i = 0; i < n; i++) {
            const cJSON *v = cJSON_IsArray(k) ? cJSON_GetArrayItem(k, i) : k;
            char buf[64];
            const char *t = scalar_text(v, buf, sizeof buf);
            if (!t)
                return bad(err, errlen, "filters.%s: values must be strings, numbers or booleans",
                           name);
            if (i)
                sb_puts(sb, " OR ");
            add_clause(sb, field, t);
        }
        sb_puts(sb, ")");
    }
    return 0;
}

/* Read "group_by" (service, host, level or meta.KEY; one or a list up to AGG_MAX_GROUPS) into the
 * request. */
static int parse_group_by(const cJSON *g, sreq *out, char *err, size_t errlen)
{
    for (int i = 0; i < AGG_MAX_GROUPS; i++) { /* a repeated "group_by": the last one counts */
        free(out->group_key[i]);
        out->group_key[i] = NULL;
    }
    out->ngroups = 0;
    int n = cJSON_IsArray(g) ? cJSON_GetArraySize(g) : 1;
    if (n > AGG_MAX_GROUPS)
        return bad(err, errlen, "group_by: at most %d fields", AGG_MAX_GROUPS);
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_IsArray(g) ? cJSON_GetArrayItem(g, i) : g;
        if (!cJSON_IsString(v))
            return bad(err, errlen, "group_by: fields must be strings");
        const char *s = v->valuestring;
        if (!strcmp(s, "service")) {
            out->group[i] = GB_SERVICE;
        } else if (!strcmp(s, "host")) {
            out->group[i] = GB_HOST;
        } else if (!strcmp(s, "level")) {
            out->group[i] = GB_LEVEL;
        } else if (!strncmp(s, "meta.", 5) && s[5]) {
            out->group[i] = GB_META;
            out->group_key[i] = strdup(s + 5);
            if (!out->group_key[i])
                return bad(err, errlen, "out of memory");
        } else {
            return bad(err, errlen, "group_by: '%.60s' is not service, host, level or meta.KEY", s);
        }
        out->ngroups = i + 1;
    }
    return 0;
}

/* Read "metric" (count, count_distinct, min, max, avg, p50, p95, p99) and the field it needs. */
static int parse_metric(const cJSON *m, const cJSON *field, sreq *out, char *err, size_t errlen)
{
    static const char *const names[] = {
        "count", "count_distinct", "min", "max", "avg", "p50", "p95", "p99"};
    if (!m) {
        out->metric = MET_COUNT;
        return 0;
    }
    if (!cJSON_IsString(m))
        return bad(err, errlen,
                   "metric must be a string: count, count_distinct, min, max, avg, "
                   "p50, p95 or p99");
    int found = -1;
    for (int i = 0; i < 8; i++)
        if (!strcmp(m->valuestring, names[i]))
            found = i;
    if (found < 0)
        return bad(err, errlen,
                   "unknown metric '%.40s' (count, count_distinct, min, max, avg, p50, p95, p99)",
                   m->valuestring);
    out->metric = found;
    if (found == MET_COUNT)
        return 0;
    if (!cJSON_IsString(field))
        return bad(err, errlen, "metric %s needs \"field\" (for example \"meta.latency_ms\")",
                   names[found]);
    const char *f = field->valuestring;
    if (found == MET_DISTINCT && (!strcmp(f, "service") || !strcmp(f, "host") ||
                                  !strcmp(f, "level") || (!strncmp(f, "meta.", 5) && f[5]))) {
        out->metric_field = strdup(f);
    } else if (!strncmp(f, "meta.", 5) && f[5]) {
        out->metric_field = strdup(f);
    } else {
        return bad(err, errlen, "field '%.60s': %s needs a numeric meta.KEY", f, names[found]);
    }
    return out->metric_field ? 0 : bad(err, errlen, "out of memory");
}

int request_parse(int kind, const char *body, size_t len, int64_t now_ns, sreq *out, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->desc = 1;
    out->limit = SEARCH_DEFAULT_LIMIT;
    out->from_ns = INT64_MIN;
    out->to_ns = INT64_MAX;
    if (len > SEARCH_MAX_BODY)
        return bad(err, errlen, "the request body is %zu bytes; at most %zu", len, SEARCH_MAX_BODY);
    size_t at = utf8_valid_prefix((const unsigned char *)body, len);
    if (at < len)
        return bad(err, errlen, "the body is not valid UTF-8 (byte %zu)", at);
    const char *nul = memchr(body, 0, len);
    if (nul)
        return bad(err, errlen, "the body holds a NUL byte (byte %zu)", (size_t)(nul - body));
    if ((at = nul_escape_at(body, len)) < len)
        return bad(err, errlen, "a string holds \\u0000 (byte %zu), which no field may contain",
                   at);
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root)
        return bad(err, errlen, "the body is not valid JSON (near byte %ld)",
                   cJSON_GetErrorPtr() ? (long)(cJSON_GetErrorPtr() - body) : 0L);
    int rc = -1;
    strbuf text = {0};
    const cJSON *q = NULL, *filters = NULL, *metric = NULL, *field = NULL;
    if (!cJSON_IsObject(root)) {
        bad(err, errlen, "the body must be a JSON object");
        goto out;
    }
    const cJSON *k;
    cJSON_ArrayForEach(k, root)
    {
        const char *name = k->string;
        if (!strcmp(name, "query")) {
            if (!cJSON_IsString(k) && !cJSON_IsNull(k)) {
                bad(err, errlen, "'query' must be a string");
                goto out;
            }
            q = k;
        } else if (!strcmp(name, "filters")) {
            filters = k;
        } else if (!strcmp(name, "time_range")) {
            /* checked before the loop: an array's items have no names */
            if (!cJSON_IsObject(k)) {
                bad(err, errlen, "time_range must be {\"from\": .., \"to\": ..}");
                goto out;
            }
            const cJSON *t;
            cJSON_ArrayForEach(t, k)
            {
                int64_t v;
                if (strcmp(t->string, "from") != 0 && strcmp(t->string, "to") != 0) {
                    bad(err, errlen, "time_range has from and to, not '%.40s'", t->string);
                    goto out;
                }
                if (cJSON_IsNull(t))
                    continue;
                if (!cJSON_IsString(t) || parse_time(t->valuestring, now_ns, &v) < 0) {
                    bad(err, errlen,
                        "time_range.%s: expected RFC 3339 (2025-06-15T14:00:00Z) or now-1h, "
                        "now-15m, now-7d",
                        t->string);
                    goto out;
                }
                if (!strcmp(t->string, "from"))
                    out->from_ns = v;
                else
                    out->to_ns = v;
            }
        } else if (!strcmp(name, "sort") && kind == REQ_SEARCH) {
            if (!cJSON_IsString(k) ||
                (strcmp(k->valuestring, "asc") != 0 && strcmp(k->valuestring, "desc") != 0)) {
                bad(err, errlen, "sort must be \"asc\" or \"desc\"");
                goto out;
            }
            out->desc = !strcmp(k->valuestring, "desc");
        } else if (!strcmp(name, "limit") && kind == REQ_SEARCH) {
            if (!cJSON_IsNumber(k) || k->valuedouble < 1 || k->valuedouble > SEARCH_MAX_LIMIT ||
                k->valuedouble != (double)(int)k->valuedouble) {
                bad(err, errlen, "limit must be a whole number from 1 to %u", SEARCH_MAX_LIMIT);
                goto out;
            }
            out->limit = (uint32_t)k->valuedouble;
        } else if (!strcmp(name, "cursor") && kind == REQ_SEARCH) {
            if (cJSON_IsNull(k))
                continue;
            int desc;
            if (!cJSON_IsString(k) || cursor_decode(k->valuestring, &out->cursor, &desc) < 0) {
                bad(err, errlen, "cursor is not one this server returned (pass next_cursor as is)");
                goto out;
            }
            out->has_cursor = 1;
            out->desc = desc;
        } else if (!strcmp(name, "track_hits") && kind == REQ_SEARCH) {
            if (!cJSON_IsBool(k)) {
                bad(err, errlen, "track_hits must be true or false");
                goto out;
            }
            out->track_hits = cJSON_IsTrue(k);
        } else if (!strcmp(name, "group_by") && kind == REQ_AGGREGATE) {
            if (parse_group_by(k, out, err, errlen) < 0)
                goto out;
        } else if (!strcmp(name, "interval") && kind == REQ_AGGREGATE) {
            if (!cJSON_IsString(k) || parse_duration_ns(k->valuestring, &out->interval_ns) < 0 ||
                out->interval_ns < AGG_MIN_INTERVAL_NS || out->interval_ns > AGG_MAX_INTERVAL_NS) {
                bad(err, errlen, "interval must be a duration from 1s to 1d (30s, 5m, 1h, 1d)");
                goto out;
            }
        } else if (!strcmp(name, "metric") && kind == REQ_AGGREGATE) {
            metric = k;
        } else if (!strcmp(name, "field") && kind == REQ_AGGREGATE) {
            field = k;
        } else {
            bad(err, errlen, "unknown field '%.60s' in a %s request", name,
                kind == REQ_SEARCH ? "search" : "aggregate");
            goto out;
        }
    }
    if (out->from_ns >= out->to_ns) {
        bad(err, errlen, "time_range: from must be before to");
        goto out;
    }
    if (kind == REQ_AGGREGATE && parse_metric(metric, field, out, err, errlen) < 0)
        goto out;
    /* the query text alone first, so parse errors point into what the user wrote */
    const char *qt = q && cJSON_IsString(q) ? q->valuestring : "";
    query *alone = q_parse(qt, strlen(qt), err, errlen);
    if (!alone)
        goto out;
    if (!filters) {
        out->q = alone;
        rc = 0;
        goto out;
    }
    q_free(alone);
    strbuf ft = {0};
    if (filters_text(filters, &ft, err, errlen) < 0) {
        sb_free(&ft);
        goto out;
    }
    if (qt[0])
        sb_printf(&text, "(%s) AND ", qt);
    sb_append(&text, ft.buf ? ft.buf : "", ft.len);
    sb_free(&ft);
    if (text.oom) {
        bad(err, errlen, "out of memory");
        goto out;
    }
    char why[256];
    out->q = q_parse(text.buf ? text.buf : "", text.len, why, sizeof why);
    if (!out->q) {
        bad(err, errlen, "filters: %s", why);
        goto out;
    }
    rc = 0;
out:
    sb_free(&text);
    cJSON_Delete(root);
    if (rc < 0)
        request_free(out);
    return rc;
}

/* Free a parsed request (its query and group keys). */
void request_free(sreq *r)
{
    q_free(r->q);
    r->q = NULL;
    for (int i = 0; i < AGG_MAX_GROUPS; i++) {
        free(r->group_key[i]);
        r->group_key[i] = NULL;
    }
    free(r->metric_field);
    r->metric_field = NULL;
}
