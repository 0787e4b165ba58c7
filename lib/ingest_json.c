/*
 * lib/ingest_json.c - decoder of /v1/ingest bodies (see
 * ingest_json.h for the contract).
 *
 * Strings without escapes are not copied: events point into the body.
 * Escaped strings are unescaped into one scratch buffer as large as the body
 * (unescaping never grows a string), so it never moves while events point
 * into it.
 */
#include "ingest_json.h"
#include "timefmt.h"
#include "utf8.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Meta entries one event may carry, including region and environment. */
#define INGEST_META_CAP 256

typedef struct parser {
    const char *p, *end, *base;
    char *scratch; /* unescaped strings */
    size_t slen;
    char *err;
    size_t errlen;
    const ingest_limits *lim;
} parser;

/* One event as it is being parsed. */
typedef struct event_acc {
    strata_event ev;
    strata_kv meta[INGEST_META_CAP];
    uint32_t nmeta;
    int has_ts, has_msg;
    char reason[160];  /* first problem; empty while the event is good */
    ingest_reason why; /* its category */
} event_acc;

const char *const ingest_reason_names[INGEST_R_COUNT_] = {
    "syntax", "msg", "too_large", "encoding", "timestamp", "level", "meta"};

typedef struct source {
    strata_str service, host, region, environment;
} source;

static int fail(parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A syntax error: the whole body is refused, with its byte offset. */
static int fail(parser *ps, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(ps->err, ps->errlen, "invalid JSON at byte %td: %s", ps->p - ps->base, msg);
    return -1;
}

static void ev_fail(event_acc *a, ingest_reason why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An event-level problem: only this event is refused. First one wins. */
static void ev_fail(event_acc *a, ingest_reason why, const char *fmt, ...)
{
    if (a->reason[0])
        return;
    a->why = why;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->reason, sizeof a->reason, fmt, ap);
    va_end(ap);
}

/* Skip JSON whitespace. */
static void ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

/* Skip whitespace and consume c; -1 with a syntax error naming what was found instead. */
static int expect(parser *ps, char c)
{
    ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, "expected '%c' but the body ended", c);
    if (*ps->p != c)
        return fail(ps, "expected '%c', found '%c'", c, *ps->p);
    ps->p++;
    return 0;
}

/* Valid UTF-8 (lib/utf8.c: no overlongs, no surrogates, at most U+10FFFF)? */
static int utf8_ok(const unsigned char *s, size_t n)
{
    return utf8_valid_prefix(s, n) == n;
}

/* Four hex digits of a \u escape into *out; -1 when they are not. */
static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Write code point cp as UTF-8 into o; its length (1 to 4 bytes). */
static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Parse a string at ps->p (after whitespace). *bad_utf8 is set when its
 * bytes are not UTF-8 (a per-event problem, not a syntax error). */
static int parse_string(parser *ps, strata_str *out, int *bad_utf8)
{
    ws(ps);
    if (ps->p >= ps->end || *ps->p != '"')
        return fail(ps, "expected a string");
    const char *s = ++ps->p;
    const char *q = s;
    int escaped = 0, high = 0;
    while (q < ps->end) {
        unsigned char c = (unsigned char)*q;
        if (c == '"')
            break;
        if (c == '\\') {
            if (ps->end - q < 2)
                break; /* a backslash as the last byte: unterminated */
            escaped = 1;
            q += 2;
            continue;
        }
        if (c < 0x20) {
            ps->p = q;
            return fail(ps, "control character 0x%02x inside a string (escape it)", c);
        }
        high |= c >= 0x80;
        q++;
    }
    if (q >= ps->end) {
        ps->p = ps->end;
        return fail(ps, "unterminated string");
    }
    *bad_utf8 = high && !utf8_ok((const unsigned char *)s, (size_t)(q - s));
    if (!escaped) {
        out->ptr = s;
        out->len = (uint32_t)(q - s);
        ps->p = q + 1;
        return 0;
    }
    char *o = ps->scratch + ps->slen, *start = o;
    for (const char *r = s; r < q;) {
        if (*r != '\\') {
            *o++ = *r++;
            continue;
        }
        r++;
        switch (*r) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (q - r < 5 || hex4(r + 1, &cp) != 0) {
                ps->p = r;
                return fail(ps, "bad \\u escape");
            }
            r += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (q - r >= 7 && r[1] == '\\' && r[2] == 'u' && hex4(r + 3, &lo) == 0 &&
                    lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    r += 6;
                } else {
                    *bad_utf8 = 1; /* a lone surrogate */
                    cp = 0xfffd;
                }
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                *bad_utf8 = 1;
                cp = 0xfffd;
            }
            o += put_utf8(o, cp);
            break;
        }
        default: ps->p = r; return fail(ps, "bad escape '\\%c'", *r);
        }
        r++;
    }
    out->ptr = start;
    out->len = (uint32_t)(o - start);
    ps->slen += (size_t)(o - start);
    ps->p = q + 1;
    return 0;
}

/* A JSON number at ps->p: validated, span returned, float or int noted. */
static int parse_number(parser *ps, strata_str *out, int *is_float)
{
    const char *s = ps->p, *p = s;
    *is_float = 0;
    if (p < ps->end && *p == '-')
        p++;
    if (p >= ps->end || *p < '0' || *p > '9')
        return fail(ps, "expected a value");
    if (*p == '0')
        p++;
    else
        while (p < ps->end && *p >= '0' && *p <= '9')
            p++;
    if (p < ps->end && *p == '.') {
        *is_float = 1;
        p++;
        if (p >= ps->end || *p < '0' || *p > '9') {
            ps->p = p;
            return fail(ps, "digits expected after '.'");
        }
        while (p < ps->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        *is_float = 1;
        p++;
        if (p < ps->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= ps->end || *p < '0' || *p > '9') {
            ps->p = p;
            return fail(ps, "digits expected in the exponent");
        }
        while (p < ps->end && *p >= '0' && *p <= '9')
            p++;
    }
    out->ptr = s;
    out->len = (uint32_t)(p - s);
    ps->p = p;
    return 0;
}

/* Consume the literal word (true, false, null); -1 with a syntax error when it is not there. */
static int literal(parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail(ps, "expected a value");
    ps->p += n;
    return 0;
}

/* Skip any value, validating it, nested at most lim->max_depth deep.
 * Strings inside are unescaped into the scratch buffer as usual; skip_value
 * gives those bytes back. */
static int skip_value_at(parser *ps, uint32_t depth)
{
    ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, "expected a value but the body ended");
    if (depth > ps->lim->max_depth)
        return fail(ps, "nesting deeper than max_depth (%u)", ps->lim->max_depth);
    char c = *ps->p;
    strata_str s;
    int f;
    switch (c) {
    case '"': return parse_string(ps, &s, &f);
    case '{':
    case '[': {
        char close = c == '{' ? '}' : ']';
        ps->p++;
        ws(ps);
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return 0;
        }
        for (;;) {
            if (c == '{' && (parse_string(ps, &s, &f) || expect(ps, ':')))
                return -1;
            if (skip_value_at(ps, depth + 1))
                return -1;
            ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            return expect(ps, close);
        }
    }
    case 't': return literal(ps, "true");
    case 'f': return literal(ps, "false");
    case 'n': return literal(ps, "null");
    default: return parse_number(ps, &s, &f);
    }
}

/* Skip one JSON value at ps->p, validating it. Nothing keeps the strings
 * it unescaped, so their scratch bytes are given back: the scratch is as
 * large as the body only because no string is unescaped twice, and a "logs"
 * skipped while looking for a later "source", then parsed, would be. */
static int skip_value(parser *ps, uint32_t depth)
{
    size_t keep = ps->slen;
    int rc = skip_value_at(ps, depth);
    ps->slen = keep;
    return rc;
}

/* 1 when s is exactly the literal lit. */
static int str_is(strata_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* The level a string names (TRACE..FATAL, any case, with the usual aliases), or -1. */
static int level_from(strata_str s)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {{"trace", 1},    {"debug", 2},   {"info", 3},  {"information", 3}, {"notice", 3},
                 {"warn", 4},     {"warning", 4}, {"error", 5}, {"err", 5},         {"fatal", 6},
                 {"critical", 6}, {"crit", 6},    {"panic", 6}, {"emerg", 6},       {"alert", 6}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i].name);
        if (s.len != n)
            continue;
        size_t k = 0;
        while (k < n && (s.ptr[k] | 0x20) == names[i].name[k])
            k++;
        if (k == n)
            return names[i].level;
    }
    return -1;
}

/* Epoch number -> ns: seconds, ms, us or ns told apart by magnitude.
 * Integers are scaled exactly; only fractional values go through double. */
static int epoch_to_ns(strata_str num, int is_float, int64_t *out)
{
    char buf[64];
    if (num.len >= sizeof buf)
        return -1;
    memcpy(buf, num.ptr, num.len);
    buf[num.len] = 0;
    errno = 0;
    if (!is_float) {
        long long v = strtoll(buf, NULL, 10);
        if (errno || v < 0)
            return -1;
        long long scale = v < 100000000000ll         ? 1000000000ll
                          : v < 100000000000000ll    ? 1000000ll
                          : v < 100000000000000000ll ? 1000ll
                                                     : 1ll;
        if (v > INT64_MAX / scale)
            return -1;
        *out = (int64_t)(v * scale);
        return 0;
    }
    double v = strtod(buf, NULL);
    if (errno || v < 0)
        return -1;
    double scale = v < 1e11 ? 1e9 : v < 1e14 ? 1e6 : v < 1e17 ? 1e3 : 1;
    double ns = v * scale;
    if (ns > 9.2e18)
        return -1;
    *out = (int64_t)ns;
    return 0;
}

/* Add one meta key and value to the event being built, failing the event past max_meta_keys. */
static void add_meta(parser *ps, event_acc *a, strata_str key, strata_str val, uint8_t type)
{
    if (a->nmeta >= ps->lim->max_meta_keys || a->nmeta >= INGEST_META_CAP) {
        ev_fail(a, INGEST_R_META, "more than max_meta_keys (%u) meta keys", ps->lim->max_meta_keys);
        return;
    }
    if (key.len == 0 || key.len > ps->lim->max_key_bytes) {
        ev_fail(a, INGEST_R_META, "meta key of %u bytes (must be 1..%u)", key.len,
                ps->lim->max_key_bytes);
        return;
    }
    a->meta[a->nmeta].key = key;
    a->meta[a->nmeta].value = val;
    a->meta[a->nmeta].type = type;
    a->nmeta++;
}

/* 1 when a JSON number (its text, valid JSON) is one comparisons and
 * aggregates can use as it is: at most INGEST_MAX_NUMBER_CHARS characters,
 * an integer within int64, a float that is finite as a double. */
static int number_in_range(strata_str v, int is_float)
{
    if (v.len > INGEST_MAX_NUMBER_CHARS)
        return 0;
    char buf[INGEST_MAX_NUMBER_CHARS + 1];
    memcpy(buf, v.ptr, v.len);
    buf[v.len] = 0;
    errno = 0;
    if (is_float) {
        double d = strtod(buf, NULL);
        return isfinite(d) && !(errno == ERANGE && d != 0);
    }
    (void)strtoll(buf, NULL, 10);
    return errno != ERANGE;
}

/* A scalar value for meta: its text and type; objects and arrays are a
 * per-event problem (skipped, syntax still checked). */
static int meta_value(parser *ps, event_acc *a, strata_str key, uint32_t depth)
{
    ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, "expected a value but the body ended");
    strata_str v = {"", 0};
    int bad = 0, is_float;
    switch (*ps->p) {
    case '"':
        if (parse_string(ps, &v, &bad))
            return -1;
        if (bad)
            ev_fail(a, INGEST_R_ENCODING, "meta.%.*s is not valid UTF-8",
                    (int)(key.len < 64 ? key.len : 64), key.ptr);
        else if (v.len > ps->lim->max_value_bytes)
            ev_fail(a, INGEST_R_TOO_LARGE, "meta.%.*s is %u bytes, over max_value_bytes (%u)",
                    (int)(key.len < 64 ? key.len : 64), key.ptr, v.len, ps->lim->max_value_bytes);
        add_meta(ps, a, key, v, STRATA_VALUE_STRING);
        return 0;
    case '{':
    case '[':
        ev_fail(a, INGEST_R_META,
                "meta.%.*s is an %s; meta values must be strings, numbers or booleans",
                (int)(key.len < 64 ? key.len : 64), key.ptr, *ps->p == '{' ? "object" : "array");
        return skip_value(ps, depth);
    case 't':
    case 'f': {
        const char *s = ps->p;
        if (literal(ps, *s == 't' ? "true" : "false"))
            return -1;
        v.ptr = s;
        v.len = (uint32_t)(ps->p - s);
        add_meta(ps, a, key, v, STRATA_VALUE_BOOL);
        return 0;
    }
    case 'n':
        if (literal(ps, "null"))
            return -1;
        add_meta(ps, a, key, (strata_str){"", 0}, STRATA_VALUE_NULL);
        return 0;
    default:
        if (parse_number(ps, &v, &is_float))
            return -1;
        if (!number_in_range(v, is_float))
            ev_fail(a, INGEST_R_META,
                    "meta.%.*s is a number out of range (a 64-bit integer, or a finite double of "
                    "at most %d characters)",
                    (int)(key.len < 64 ? key.len : 64), key.ptr, INGEST_MAX_NUMBER_CHARS);
        add_meta(ps, a, key, v, is_float ? STRATA_VALUE_FLOAT : STRATA_VALUE_INT);
        return 0;
    }
}

/* One event object; `inline_source` (NDJSON) lets service/host/region/
 * environment appear in it. */
static int parse_event(parser *ps, event_acc *a, const source *src, int64_t now, uint32_t depth)
{
    memset(a, 0, offsetof(event_acc, meta));
    a->nmeta = 0;
    a->has_ts = a->has_msg = 0;
    a->reason[0] = 0;
    strata_event_init(&a->ev);
    a->ev.service = src->service;
    a->ev.host = src->host;
    strata_str region = src->region, env = src->environment;
    ws(ps);
    if (ps->p >= ps->end || *ps->p != '{') {
        ev_fail(a, INGEST_R_SYNTAX, "an event must be a JSON object");
        return skip_value(ps, depth);
    }
    ps->p++;
    ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        ev_fail(a, INGEST_R_MSG, "msg is missing");
        return 0;
    }
    for (;;) {
        strata_str key = {"", 0}, v = {"", 0};
        int bad = 0, is_float;
        if (parse_string(ps, &key, &bad) || expect(ps, ':'))
            return -1;
        ws(ps);
        if (ps->p >= ps->end)
            return fail(ps, "expected a value but the body ended");
        char c = *ps->p;
        if (str_is(key, "msg")) {
            if (c != '"') {
                ev_fail(a, INGEST_R_MSG, "msg must be a string");
                if (skip_value(ps, depth + 1))
                    return -1;
            } else {
                if (parse_string(ps, &v, &bad))
                    return -1;
                if (bad)
                    ev_fail(a, INGEST_R_ENCODING, "msg is not valid UTF-8");
                else if (v.len > ps->lim->max_msg_bytes)
                    ev_fail(a, INGEST_R_TOO_LARGE, "msg is %u bytes, over max_msg_bytes (%u)",
                            v.len, ps->lim->max_msg_bytes);
                a->ev.msg = v;
                a->has_msg = 1;
            }
        } else if (str_is(key, "ts")) {
            if (c == '"') {
                if (parse_string(ps, &v, &bad))
                    return -1;
                if (parse_rfc3339(v.ptr, v.len, &a->ev.event_ts_ns) != 0)
                    ev_fail(a, INGEST_R_TIMESTAMP,
                            "ts '%.*s' is not RFC 3339 (e.g. 2025-06-15T14:23:01.123Z)",
                            (int)(v.len < 40 ? v.len : 40), v.ptr);
                a->has_ts = 1;
            } else if (c == '-' || (c >= '0' && c <= '9')) {
                if (parse_number(ps, &v, &is_float))
                    return -1;
                if (epoch_to_ns(v, is_float, &a->ev.event_ts_ns) != 0)
                    ev_fail(a, INGEST_R_TIMESTAMP, "ts %.*s is not a valid epoch time",
                            (int)(v.len < 40 ? v.len : 40), v.ptr);
                a->has_ts = 1;
            } else if (c == 'n') {
                if (literal(ps, "null"))
                    return -1;
            } else {
                ev_fail(a, INGEST_R_TIMESTAMP, "ts must be an RFC 3339 string or an epoch number");
                if (skip_value(ps, depth + 1))
                    return -1;
            }
        } else if (str_is(key, "level")) {
            if (c != '"') {
                ev_fail(a, INGEST_R_LEVEL, "level must be a string");
                if (skip_value(ps, depth + 1))
                    return -1;
            } else {
                if (parse_string(ps, &v, &bad))
                    return -1;
                int l = level_from(v);
                if (l < 0)
                    ev_fail(a, INGEST_R_LEVEL,
                            "level '%.*s' is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL",
                            (int)(v.len < 20 ? v.len : 20), v.ptr);
                else
                    a->ev.level = (uint8_t)l;
            }
        } else if (str_is(key, "meta")) {
            if (c == 'n') {
                if (literal(ps, "null"))
                    return -1;
            } else if (c != '{') {
                ev_fail(a, INGEST_R_META, "meta must be an object");
                if (skip_value(ps, depth + 1))
                    return -1;
            } else {
                if (depth + 1 > ps->lim->max_depth)
                    return fail(ps, "nesting deeper than max_depth (%u)", ps->lim->max_depth);
                ps->p++;
                ws(ps);
                if (ps->p < ps->end && *ps->p == '}') {
                    ps->p++;
                } else {
                    for (;;) {
                        strata_str mk = {"", 0};
                        if (parse_string(ps, &mk, &bad) || expect(ps, ':'))
                            return -1;
                        if (bad)
                            ev_fail(a, INGEST_R_ENCODING, "a meta key is not valid UTF-8");
                        if (meta_value(ps, a, mk, depth + 2))
                            return -1;
                        ws(ps);
                        if (ps->p < ps->end && *ps->p == ',') {
                            ps->p++;
                            continue;
                        }
                        if (expect(ps, '}'))
                            return -1;
                        break;
                    }
                }
            }
        } else if ((str_is(key, "service") || str_is(key, "host") || str_is(key, "region") ||
                    str_is(key, "environment")) &&
                   c == '"') {
            if (parse_string(ps, &v, &bad))
                return -1;
            if (bad)
                ev_fail(a, INGEST_R_ENCODING, "%.*s is not valid UTF-8", (int)key.len, key.ptr);
            if (str_is(key, "service"))
                a->ev.service = v;
            else if (str_is(key, "host"))
                a->ev.host = v;
            else if (str_is(key, "region"))
                region = v;
            else
                env = v;
        } else {
            /* any other field: a scalar is kept in meta, like meta's own */
            if (bad)
                ev_fail(a, INGEST_R_ENCODING, "a field name is not valid UTF-8");
            if (meta_value(ps, a, key, depth + 1))
                return -1;
        }
        ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (expect(ps, '}'))
            return -1;
        break;
    }
    if (!a->has_msg)
        ev_fail(a, INGEST_R_MSG, "msg is missing");
    if (region.len)
        add_meta(ps, a, (strata_str){"region", 6}, region, STRATA_VALUE_STRING);
    if (env.len)
        add_meta(ps, a, (strata_str){"environment", 11}, env, STRATA_VALUE_STRING);
    a->ev.ingest_ts_ns = now;
    if (!a->has_ts)
        a->ev.event_ts_ns = now;
    int64_t skew = a->ev.event_ts_ns - now;
    if (skew > INGEST_SKEW_NS || skew < -INGEST_SKEW_NS)
        a->ev.flags |= STRATA_EVENT_SKEWED;
    return 0;
}

/* Count and report one event's outcome; append it when good. */
static int finish_event(const strata_host_api *h, strata_batch *out, event_acc *a,
                        const char *tenant, uint32_t index, ingest_result *res)
{
    if (!a->reason[0]) {
        a->ev.tenant = strata_cstr(tenant);
        a->ev.meta = a->meta;
        a->ev.meta_count = a->nmeta;
        int rc = h->batch_append(out, &a->ev);
        if (rc == STRATA_OK) {
            res->accepted++;
            return 0;
        }
        snprintf(a->reason, sizeof a->reason, "event too large for a batch (error %d)", rc);
        a->why = INGEST_R_TOO_LARGE;
    }
    res->failed++;
    res->by_reason[a->why]++;
    if (res->nerrors < INGEST_MAX_REPORTED_ERRORS) {
        res->errors[res->nerrors].index = index;
        snprintf(res->errors[res->nerrors].reason, sizeof res->errors[0].reason, "%s", a->reason);
        res->nerrors++;
    }
    return 0;
}

/* Refuse a request of more than max_events events (413). */
static int too_many(parser *ps, ingest_result *res)
{
    res->limit_status = 413;
    snprintf(ps->err, ps->errlen,
             "more than max_events (%u) events in one request; send smaller batches",
             ps->lim->max_events);
    return -1;
}

/* The body's "source" object (service, host for every event) or null. */
static int parse_source(parser *ps, source *src)
{
    ws(ps);
    if (ps->p < ps->end && *ps->p == 'n')
        return literal(ps, "null");
    if (expect(ps, '{'))
        return -1;
    ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return 0;
    }
    for (;;) {
        strata_str k = {"", 0}, v = {"", 0};
        int bad = 0;
        if (parse_string(ps, &k, &bad) || expect(ps, ':'))
            return -1;
        ws(ps);
        strata_str *dst = str_is(k, "service")       ? &src->service
                          : str_is(k, "host")        ? &src->host
                          : str_is(k, "region")      ? &src->region
                          : str_is(k, "environment") ? &src->environment
                                                     : NULL;
        if (dst && ps->p < ps->end && *ps->p == '"') {
            if (parse_string(ps, &v, &bad))
                return -1;
            if (bad)
                return fail(ps, "source.%.*s is not valid UTF-8", (int)k.len, k.ptr);
            *dst = v;
        } else if (skip_value(ps, 2)) {
            return -1;
        }
        ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        return expect(ps, '}');
    }
}

/* The "logs" array: each element validated and appended to out (or counted as failed in res);
 * 0, or -1 when the array itself is malformed. */
static int parse_logs(parser *ps, const strata_host_api *h, strata_batch *out, const source *src,
                      const char *tenant, int64_t now, ingest_result *res, event_acc *a)
{
    if (expect(ps, '['))
        return -1;
    ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return 0;
    }
    for (uint32_t i = 0;; i++) {
        if (i >= ps->lim->max_events)
            return too_many(ps, res);
        if (parse_event(ps, a, src, now, 2))
            return -1;
        finish_event(h, out, a, tenant, i, res);
        ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        return expect(ps, ']');
    }
}

int ingest_decode(const strata_host_api *h, strata_batch *out, const char *body, size_t len,
                  int ndjson, const char *tenant, int64_t now_ns, const ingest_limits *lim,
                  ingest_result *res, char *err, size_t errlen)
{
    memset(res, 0, offsetof(ingest_result, errors));
    res->limit_status = 0;
    parser ps = {body, body + len, body, NULL, 0, err, errlen, lim};
    ps.scratch = malloc(len ? len : 1);
    event_acc *a = malloc(sizeof *a);
    if (!ps.scratch || !a) {
        free(ps.scratch);
        free(a);
        snprintf(err, errlen, "out of memory decoding a %zu-byte body", len);
        return -1;
    }
    source src = {{"", 0}, {"", 0}, {"", 0}, {"", 0}};
    int rc = 0;
    if (ndjson) {
        uint32_t i = 0;
        while (ps.p < ps.end && rc == 0) {
            const char *nl = memchr(ps.p, '\n', (size_t)(ps.end - ps.p));
            const char *line_end = nl ? nl : ps.end;
            parser line = ps;
            line.end = line_end;
            ws(&line);
            if (line.p < line.end) {
                if (i >= lim->max_events) {
                    rc = too_many(&ps, res);
                    break;
                }
                /* a malformed line is one bad event: lines are independent */
                char lerr[200];
                line.err = lerr;
                line.errlen = sizeof lerr;
                if (parse_event(&line, a, &src, now_ns, 1) != 0) {
                    a->reason[0] = 0;
                    ev_fail(a, INGEST_R_SYNTAX, "%s", lerr);
                } else {
                    ws(&line);
                    if (line.p != line.end)
                        ev_fail(a, INGEST_R_SYNTAX, "text after the event object on its line");
                }
                finish_event(h, out, a, tenant, i, res);
                i++;
            }
            ps.slen = line.slen;
            ps.p = nl ? nl + 1 : ps.end;
        }
    } else {
        const char *logs_at = NULL;
        int seen_source = 0;
        if (expect(&ps, '{'))
            rc = -1;
        ws(&ps);
        if (rc == 0 && ps.p < ps.end && *ps.p == '}')
            ps.p++;
        else
            while (rc == 0) {
                strata_str k = {"", 0};
                int bad;
                if (parse_string(&ps, &k, &bad) || expect(&ps, ':')) {
                    rc = -1;
                    break;
                }
                if (str_is(k, "source")) {
                    rc = parse_source(&ps, &src);
                    seen_source = 1;
                } else if (str_is(k, "logs") && seen_source) {
                    rc = parse_logs(&ps, h, out, &src, tenant, now_ns, res, a);
                    logs_at = NULL;
                } else if (str_is(k, "logs")) {
                    ws(&ps);
                    logs_at = ps.p; /* source may follow: come back for it */
                    rc = skip_value(&ps, 1);
                } else {
                    rc = skip_value(&ps, 1);
                }
                if (rc)
                    break;
                ws(&ps);
                if (ps.p < ps.end && *ps.p == ',') {
                    ps.p++;
                    continue;
                }
                rc = expect(&ps, '}');
                break;
            }
        if (rc == 0) {
            ws(&ps);
            if (ps.p != ps.end)
                rc = fail(&ps, "text after the top-level object");
        }
        if (rc == 0 && logs_at) {
            ps.p = logs_at;
            rc = parse_logs(&ps, h, out, &src, tenant, now_ns, res, a);
        }
    }
    free(ps.scratch);
    free(a);
    return rc;
}
