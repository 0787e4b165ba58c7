/*
 * core/batch.c - building, reading, decoding and JSON-formatting batches.
 *
 * Wire format v1 (little-endian; sdk/README.md is the reference):
 *   header  u32 magic "STB1" | u16 version | u16 flags | u32 count |
 *           u16 tag_len | u16 reserved | tag bytes
 *   event   u32 record_len (bytes after this field) | i64 ingest_ts_ns |
 *           i64 event_ts_ns | u8 level | u8 flags | u16 meta_count |
 *           u16 tenant_len | u16 service_len | u16 host_len | u32 msg_len |
 *           tenant | service | host | msg |
 *           meta_count x (u16 key_len | u8 type | u32 value_len | key | value)
 *
 * Thread: any (see batch.h).
 */
#include "batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core_limits.h"
#include "strbuf.h"

/* Little-endian stores and loads of the wire encoding (this host is little-endian: memcpy). */
/* Little-endian stores and loads of the batch encoding (unaligned-safe). */
static void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}
static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}
static void put64(uint8_t *p, int64_t v)
{
    memcpy(p, &v, 8);
}
static uint16_t get16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static int64_t get64(const uint8_t *p)
{
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Make sure `extra` more bytes fit in b->data. */
static int reserve(batch_t *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return 0;
    if (b->len + extra > BATCH_MAX_BYTES)
        return STRATA_ERANGE;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra)
        cap *= 2;
    if (cap > BATCH_MAX_BYTES)
        cap = BATCH_MAX_BYTES;
    uint8_t *d = realloc(b->data, cap);
    if (!d)
        return STRATA_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

/* Append one slot to the offsets index. */
static int push_off(batch_t *b, uint32_t off)
{
    if (b->count == b->offs_cap) {
        uint32_t n = b->offs_cap ? b->offs_cap * 2 : 64;
        uint32_t *o = realloc(b->offs, n * sizeof *o);
        if (!o)
            return STRATA_ENOMEM;
        b->offs = o;
        b->offs_cap = n;
    }
    b->offs[b->count++] = off;
    return 0;
}

/* A new empty batch with one reference owned by the caller; NULL on OOM.
 * tag may be NULL; it is cut at 128 bytes. */
batch_t *batch_new(const char *tag)
{
    batch_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    if (tag)
        snprintf(b->tag, sizeof b->tag, "%s", tag);
    size_t tl = strlen(b->tag);
    if (reserve(b, BATCH_HEADER_BYTES + tl) != 0) {
        free(b);
        return NULL;
    }
    put32(b->data, BATCH_MAGIC);
    put16(b->data + 4, BATCH_VERSION);
    put16(b->data + 6, 0);
    put32(b->data + 8, 0);
    put16(b->data + 12, (uint16_t)tl);
    put16(b->data + 14, 0);
    memcpy(b->data + BATCH_HEADER_BYTES, b->tag, tl);
    b->len = BATCH_HEADER_BYTES + tl;
    return b;
}

void batch_ref(batch_t *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

/* Drop one reference; the last one frees. NULL is fine. */
void batch_unref(batch_t *b)
{
    if (!b)
        return;
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(b->data);
    free(b->offs);
    free(b);
}

/* Copy an event into the batch. Returns 0, STRATA_EINVAL for a field over
 * its wire limit, STRATA_ERANGE when the batch is full, or STRATA_ENOMEM. */
int batch_append(batch_t *b, const strata_event *ev)
{
    if (!b || !ev || ev->struct_size < sizeof(strata_event))
        return STRATA_EINVAL;
    if (ev->tenant.len > BATCH_MAX_SHORT_FIELD || ev->service.len > BATCH_MAX_SHORT_FIELD ||
        ev->host.len > BATCH_MAX_SHORT_FIELD || ev->msg.len > BATCH_MAX_MSG ||
        ev->meta_count > BATCH_MAX_META || (ev->meta_count && !ev->meta))
        return STRATA_EINVAL;
    if (b->count >= BATCH_MAX_EVENTS)
        return STRATA_ERANGE;
    size_t need = BATCH_EVENT_FIXED_BYTES + (size_t)ev->tenant.len + ev->service.len +
                  ev->host.len + ev->msg.len;
    for (uint32_t i = 0; i < ev->meta_count; i++) {
        const strata_kv *kv = &ev->meta[i];
        if (kv->key.len > BATCH_MAX_SHORT_FIELD || kv->value.len > BATCH_MAX_MSG)
            return STRATA_EINVAL;
        need += BATCH_META_FIXED_BYTES + (size_t)kv->key.len + kv->value.len;
    }
    int rc = reserve(b, need);
    if (rc)
        return rc;
    uint32_t off = (uint32_t)b->len;
    rc = push_off(b, off);
    if (rc)
        return rc;
    uint8_t *p = b->data + off;
    put32(p, (uint32_t)(need - 4));
    put64(p + 4, ev->ingest_ts_ns);
    put64(p + 12, ev->event_ts_ns);
    p[20] = ev->level;
    p[21] = ev->flags;
    put16(p + 22, (uint16_t)ev->meta_count);
    put16(p + 24, (uint16_t)ev->tenant.len);
    put16(p + 26, (uint16_t)ev->service.len);
    put16(p + 28, (uint16_t)ev->host.len);
    put32(p + 30, ev->msg.len);
    p += BATCH_EVENT_FIXED_BYTES;
#define COPY(s)                                                                                    \
    do {                                                                                           \
        if ((s).len)                                                                               \
            memcpy(p, (s).ptr, (s).len);                                                           \
        p += (s).len;                                                                              \
    } while (0)
    COPY(ev->tenant);
    COPY(ev->service);
    COPY(ev->host);
    COPY(ev->msg);
    for (uint32_t i = 0; i < ev->meta_count; i++) {
        const strata_kv *kv = &ev->meta[i];
        put16(p, (uint16_t)kv->key.len);
        p[2] = kv->type;
        put32(p + 3, kv->value.len);
        p += BATCH_META_FIXED_BYTES;
        COPY(kv->key);
        COPY(kv->value);
    }
#undef COPY
    b->len += need;
    put32(b->data + 8, b->count);
    return 0;
}

/* Read event i into ev; meta entries go to meta[0..cap). Strings are
 * borrowed from the batch. The record was validated when it was appended or
 * decoded, so this does no bounds checks of its own beyond i. */
int batch_get(const batch_t *b, uint32_t i, strata_event *ev, strata_kv *meta, uint32_t cap)
{
    if (!b || !ev || i >= b->count)
        return STRATA_EINVAL;
    const uint8_t *p = b->data + b->offs[i];
    ev->struct_size = sizeof *ev;
    ev->ingest_ts_ns = get64(p + 4);
    ev->event_ts_ns = get64(p + 12);
    ev->level = p[20];
    ev->flags = p[21];
    ev->meta_count = get16(p + 22);
    ev->tenant.len = get16(p + 24);
    ev->service.len = get16(p + 26);
    ev->host.len = get16(p + 28);
    ev->msg.len = get32(p + 30);
    const char *s = (const char *)p + BATCH_EVENT_FIXED_BYTES;
    ev->tenant.ptr = s;
    s += ev->tenant.len;
    ev->service.ptr = s;
    s += ev->service.len;
    ev->host.ptr = s;
    s += ev->host.len;
    ev->msg.ptr = s;
    s += ev->msg.len;
    ev->meta = meta;
    uint32_t n = ev->meta_count < cap ? ev->meta_count : cap;
    for (uint32_t k = 0; k < n; k++) {
        const uint8_t *m = (const uint8_t *)s;
        meta[k].key.len = get16(m);
        meta[k].type = m[2];
        meta[k].value.len = get32(m + 3);
        meta[k].key.ptr = s + BATCH_META_FIXED_BYTES;
        meta[k].value.ptr = meta[k].key.ptr + meta[k].key.len;
        s = meta[k].value.ptr + meta[k].value.len;
    }
    return ev->meta_count > cap ? STRATA_ERANGE : STRATA_OK;
}

#define DECODE_FAIL(...)                                                                           \
    do {                                                                                           \
        if (err)                                                                                   \
            snprintf(err, errlen, __VA_ARGS__);                                                    \
        batch_unref(b);                                                                            \
        return STRATA_EINVAL;                                                                      \
    } while (0)

/* Validate an encoded batch and copy it into a new batch (*out, owned by the
 * caller). Every length is checked against the bytes that remain before it
 * is used; err (may be NULL) says what was wrong and at which offset. */
int batch_decode(const void *data, size_t len, batch_t **out, char *err, size_t errlen)
{
    const uint8_t *d = data;
    batch_t *b = NULL;
    *out = NULL;
    if (len < BATCH_HEADER_BYTES)
        DECODE_FAIL("batch is %zu bytes, shorter than its %d-byte header", len, BATCH_HEADER_BYTES);
    if (len > BATCH_MAX_BYTES)
        DECODE_FAIL("batch is %zu bytes, over the %u-byte limit", len, BATCH_MAX_BYTES);
    if (get32(d) != BATCH_MAGIC)
        DECODE_FAIL("bad batch magic 0x%08x", get32(d));
    if (get16(d + 4) != BATCH_VERSION)
        DECODE_FAIL("batch version %u is not supported (this build reads %d)", get16(d + 4),
                    BATCH_VERSION);
    uint32_t count = get32(d + 8);
    uint16_t tl = get16(d + 12);
    if (count > BATCH_MAX_EVENTS)
        DECODE_FAIL("batch claims %u events, over the limit %u", count, BATCH_MAX_EVENTS);
    if (tl > 128 || (size_t)BATCH_HEADER_BYTES + tl > len)
        DECODE_FAIL("batch tag length %u does not fit", tl);
    b = calloc(1, sizeof *b);
    if (!b)
        return STRATA_ENOMEM;
    atomic_init(&b->refs, 1);
    memcpy(b->tag, d + BATCH_HEADER_BYTES, tl);
    b->tag[tl] = 0;
    if (memchr(b->tag, 0, tl))
        DECODE_FAIL("batch tag contains a NUL byte");
    size_t pos = BATCH_HEADER_BYTES + tl;
    if (count) {
        b->offs = malloc((size_t)count * sizeof *b->offs);
        if (!b->offs) {
            batch_unref(b);
            return STRATA_ENOMEM;
        }
        b->offs_cap = count;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (len - pos < BATCH_EVENT_FIXED_BYTES)
            DECODE_FAIL("event %u at offset %zu is truncated", i, pos);
        const uint8_t *p = d + pos;
        size_t rec = (size_t)get32(p) + 4;
        if (rec < BATCH_EVENT_FIXED_BYTES || rec > len - pos)
            DECODE_FAIL("event %u at offset %zu has length %zu beyond the batch", i, pos, rec);
        size_t used = BATCH_EVENT_FIXED_BYTES + (size_t)get16(p + 24) + get16(p + 26) +
                      get16(p + 28) + (size_t)get32(p + 30);
        if (get32(p + 30) > BATCH_MAX_MSG || used > rec)
            DECODE_FAIL("event %u at offset %zu: fields overrun the record", i, pos);
        uint16_t nmeta = get16(p + 22);
        if (nmeta > BATCH_MAX_META)
            DECODE_FAIL("event %u has %u meta entries, over the limit %u", i, nmeta,
                        BATCH_MAX_META);
        for (uint16_t k = 0; k < nmeta; k++) {
            if (rec - used < BATCH_META_FIXED_BYTES)
                DECODE_FAIL("event %u meta %u at offset %zu is truncated", i, k, pos + used);
            const uint8_t *m = p + used;
            size_t kv = BATCH_META_FIXED_BYTES + (size_t)get16(m) + (size_t)get32(m + 3);
            if (m[2] > STRATA_VALUE_NULL)
                DECODE_FAIL("event %u meta %u has unknown type %u", i, k, m[2]);
            if (kv > rec - used)
                DECODE_FAIL("event %u meta %u at offset %zu overruns the record", i, k, pos + used);
            used += kv;
        }
        if (used != rec)
            DECODE_FAIL("event %u at offset %zu has %zu stray bytes", i, pos, rec - used);
        b->offs[i] = (uint32_t)pos;
        pos += rec;
    }
    if (pos != len)
        DECODE_FAIL("%zu bytes follow the last event", len - pos);
    b->data = malloc(len);
    if (!b->data) {
        batch_unref(b);
        return STRATA_ENOMEM;
    }
    memcpy(b->data, d, len);
    b->len = b->cap = len;
    b->count = count;
    *out = b;
    return STRATA_OK;
}

/* Upper-case name of a level, "" for unset or out of range. */
const char *level_name(int level)
{
    return strata_level_name(level);
}

/* Parse a level name, case-insensitively, with the usual aliases; returns
 * STRATA_LEVEL_UNSET when unknown. */
int level_parse(const char *s, size_t n)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {{"trace", 1}, {"debug", 2},    {"info", 3},  {"information", 3},
                 {"warn", 4},  {"warning", 4},  {"error", 5}, {"err", 5},
                 {"fatal", 6}, {"critical", 6}, {"crit", 6},  {"panic", 6}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t m = strlen(names[i].name);
        if (m != n)
            continue;
        size_t k = 0;
        while (k < n && (s[k] | 0x20) == names[i].name[k])
            k++;
        if (k == n)
            return names[i].level;
    }
    return STRATA_LEVEL_UNSET;
}

/* A bounded writer that counts what it would have written (snprintf style). */
struct jw {
    char *buf;
    size_t cap;
    size_t len;
};

/* Append n bytes to the JSON being formatted, as far as the caller's buffer goes (len keeps
 * counting, as snprintf does). */
static void jw_raw(struct jw *w, const char *s, size_t n)
{
    if (w->len < w->cap) {
        size_t room = w->cap - w->len;
        memcpy(w->buf + w->len, s, n < room ? n : room);
    }
    w->len += n;
}

/* Append s as a JSON string, escaping quotes, backslashes and control bytes;
 * invalid UTF-8 bytes are replaced with U+FFFD so output is always valid. */
static void jw_str(struct jw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    jw_raw(w, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t clen = 1;
        int bad = 0;
        if (c >= 0x80) {
            if (c >= 0xc2 && c <= 0xdf)
                clen = 2;
            else if (c >= 0xe0 && c <= 0xef)
                clen = 3;
            else if (c >= 0xf0 && c <= 0xf4)
                clen = 4;
            else
                bad = 1;
            if (!bad) {
                if (i + clen > n)
                    bad = 1;
                for (size_t k = 1; !bad && k < clen; k++)
                    if (((unsigned char)s[i + k] & 0xc0) != 0x80)
                        bad = 1;
                if (!bad && clen == 3) {
                    unsigned char c1 = (unsigned char)s[i + 1];
                    if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0))
                        bad = 1; /* overlong or surrogate */
                }
                if (!bad && clen == 4) {
                    unsigned char c1 = (unsigned char)s[i + 1];
                    if ((c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 >= 0x90))
                        bad = 1;
                }
            }
        }
        if (!bad && c >= 0x20 && c != '"' && c != '\\') {
            run += clen;
            i += clen;
            continue;
        }
        jw_raw(w, s + i - run, run);
        run = 0;
        if (bad) {
            jw_raw(w, "\xef\xbf\xbd", 3);
        } else if (c == '"') {
            jw_raw(w, "\\\"", 2);
        } else if (c == '\\') {
            jw_raw(w, "\\\\", 2);
        } else if (c == '\n') {
            jw_raw(w, "\\n", 2);
        } else if (c == '\t') {
            jw_raw(w, "\\t", 2);
        } else if (c == '\r') {
            jw_raw(w, "\\r", 2);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            jw_raw(w, e, 6);
        }
        i += 1;
    }
    jw_raw(w, s + n - run, run);
    jw_raw(w, "\"", 1);
}

/* Format event i as a JSON object:
 * {"ts":..,"ingest_ts":..,"tenant":..,"service":..,"host":..,"level":..,
 *  "msg":..,"meta":{..}[,"skew":true]}
 * Numbers and booleans in meta keep their JSON type. Returns the length it
 * needs; writes at most cap bytes including the terminating NUL. */
size_t batch_event_json(const batch_t *b, uint32_t i, char *buf, size_t cap)
{
    strata_event ev;
    strata_kv meta[64];
    struct jw w = {buf, cap ? cap - 1 : 0, 0};
    if (batch_get(b, i, &ev, meta, 64) == STRATA_EINVAL) {
        if (cap)
            buf[0] = 0;
        return 0;
    }
    char ts[48];
    jw_raw(&w, "{\"ts\":\"", 7);
    jw_raw(&w, ts, format_rfc3339(ev.event_ts_ns, ts, sizeof ts));
    jw_raw(&w, "\",\"ingest_ts\":\"", 15);
    jw_raw(&w, ts, format_rfc3339(ev.ingest_ts_ns, ts, sizeof ts));
    jw_raw(&w, "\",\"tenant\":", 11);
    jw_str(&w, ev.tenant.ptr, ev.tenant.len);
    jw_raw(&w, ",\"service\":", 11);
    jw_str(&w, ev.service.ptr, ev.service.len);
    jw_raw(&w, ",\"host\":", 8);
    jw_str(&w, ev.host.ptr, ev.host.len);
    jw_raw(&w, ",\"level\":\"", 10);
    const char *ln = level_name(ev.level);
    jw_raw(&w, ln, strlen(ln));
    jw_raw(&w, "\",\"msg\":", 8);
    jw_str(&w, ev.msg.ptr, ev.msg.len);
    jw_raw(&w, ",\"meta\":{", 9);
    /* Events with more than 64 meta entries are re-read in a second pass. */
    strata_kv *all = meta;
    strata_kv *heap = NULL;
    if (ev.meta_count > 64) {
        heap = malloc(ev.meta_count * sizeof *heap);
        if (heap && batch_get(b, i, &ev, heap, ev.meta_count) == STRATA_OK)
            all = heap;
    }
    uint32_t n = all == meta && ev.meta_count > 64 ? 64 : ev.meta_count;
    for (uint32_t k = 0; k < n; k++) {
        if (k)
            jw_raw(&w, ",", 1);
        jw_str(&w, all[k].key.ptr, all[k].key.len);
        jw_raw(&w, ":", 1);
        switch (all[k].type) {
        case STRATA_VALUE_INT:
        case STRATA_VALUE_FLOAT:
        case STRATA_VALUE_BOOL:
            if (json_scalar_ok(all[k].value.ptr, all[k].value.len))
                jw_raw(&w, all[k].value.ptr, all[k].value.len);
            else
                jw_str(&w, all[k].value.ptr, all[k].value.len);
            break;
        case STRATA_VALUE_NULL: jw_raw(&w, "null", 4); break;
        default: jw_str(&w, all[k].value.ptr, all[k].value.len);
        }
    }
    free(heap);
    jw_raw(&w, "}", 1);
    if (ev.flags & STRATA_EVENT_SKEWED)
        jw_raw(&w, ",\"skew\":true", 12);
    jw_raw(&w, "}", 1);
    if (cap)
        buf[w.len < cap - 1 ? w.len : cap - 1] = 0;
    return w.len;
}
