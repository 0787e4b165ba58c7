/*
 * plugins/query/search/out.c - events as the API's JSON log objects, their
 * content hash (the last part of a sort key) and sort key order.
 */
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "search.h"
#include "timefmt.h"

void json_event(strbuf *sb, const strata_event *ev)
{
    char ts[48];
    sb_append(sb, "{\"ts\":\"", 7);
    sb_append(sb, ts, format_rfc3339(ev->event_ts_ns, ts, sizeof ts));
    sb_append(sb, "\",\"ingest_ts\":\"", 15);
    sb_append(sb, ts, format_rfc3339(ev->ingest_ts_ns, ts, sizeof ts));
    sb_append(sb, "\",\"service\":", 12);
    sb_json_strn(sb, ev->service.ptr, ev->service.len);
    sb_append(sb, ",\"host\":", 8);
    sb_json_strn(sb, ev->host.ptr, ev->host.len);
    sb_append(sb, ",\"level\":\"", 10);
    sb_puts(sb, strata_level_name(ev->level));
    sb_append(sb, "\",\"msg\":", 8);
    sb_json_strn(sb, ev->msg.ptr, ev->msg.len);
    sb_append(sb, ",\"meta\":{", 9);
    for (uint32_t i = 0; i < ev->meta_count; i++) {
        const strata_kv *kv = &ev->meta[i];
        if (i)
            sb_append(sb, ",", 1);
        sb_json_strn(sb, kv->key.ptr, kv->key.len);
        sb_append(sb, ":", 1);
        if (kv->type == STRATA_VALUE_NULL)
            sb_append(sb, "null", 4);
        else if (kv->type != STRATA_VALUE_STRING && json_scalar_ok(kv->value.ptr, kv->value.len))
            sb_append(sb, kv->value.ptr, kv->value.len);
        else
            sb_json_strn(sb, kv->value.ptr, kv->value.len);
    }
    sb_append(sb, "}", 1);
    if (ev->flags & STRATA_EVENT_SKEWED)
        sb_append(sb, ",\"skew\":true", 12);
    sb_append(sb, "}", 1);
}

uint64_t event_hash(const strata_event *ev)
{
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    uint8_t fixed[2] = {ev->level, ev->flags};
    XXH3_64bits_update(&st, fixed, 2);
    const strata_str parts[3] = {ev->service, ev->host, ev->msg};
    for (int i = 0; i < 3; i++) {
        XXH3_64bits_update(&st, &parts[i].len, sizeof parts[i].len);
        XXH3_64bits_update(&st, parts[i].ptr, parts[i].len);
    }
    for (uint32_t i = 0; i < ev->meta_count; i++) {
        const strata_kv *kv = &ev->meta[i];
        XXH3_64bits_update(&st, &kv->key.len, sizeof kv->key.len);
        XXH3_64bits_update(&st, kv->key.ptr, kv->key.len);
        XXH3_64bits_update(&st, &kv->value.len, sizeof kv->value.len);
        XXH3_64bits_update(&st, kv->value.ptr, kv->value.len);
    }
    return XXH3_64bits_digest(&st);
}

int skey_cmp(const skey *a, const skey *b)
{
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    if (a->ingest != b->ingest)
        return a->ingest < b->ingest ? -1 : 1;
    if (a->h != b->h)
        return a->h < b->h ? -1 : 1;
    return 0;
}

int json_error(strbuf *out, int status, const char *msg)
{
    sb_reset(out);
    sb_puts(out, "{\"error\":");
    sb_json_strn(out, msg, strlen(msg));
    sb_puts(out, "}");
    return status;
}
