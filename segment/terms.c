/*
 * segment/terms.c - which terms an event yields. The single definition of
 * field namespacing, used by the writer and exported (seg_event_terms) so
 * that tail, alerts and the query planner agree with the index:
 *
 *   msg:<token>          every token of msg (tokenize.h)
 *   service:<value>      the whole service name, ASCII-lowercased
 *   host:<value>         the whole host name, ASCII-lowercased
 *   level:<name>         trace, debug, info, warn, error, fatal
 *   meta.<key>:<token>   every token of a meta value (string, number, bool);
 *                        the key as sent, null values yield nothing
 */
#include <string.h>

#include "format.h"
#include "segment.h"
#include "tokenize.h"

typedef struct term_ctx {
    void (*fn)(void *ud, const char *t, size_t n);
    void *ud;
    char buf[SEG_MAX_TERM];
    size_t plen; /* length of the "field:" prefix in buf */
} term_ctx;

/* Tokenizer callback: pass the token on with the namespace in front (dropped when it does not fit
 * a term). */
static void emit_token(void *ud, const char *tok, size_t len)
{
    term_ctx *c = ud;
    if (c->plen + len > sizeof c->buf)
        return;
    memcpy(c->buf + c->plen, tok, len);
    c->fn(c->ud, c->buf, c->plen + len);
}

/* Set the namespace of the next terms: ns (SEG_NS_*), and for meta the key
 * and ':' after it. 0, or -1 when it does not fit (a huge meta key: such a
 * key is stored but not indexed). */
static int set_prefix(term_ctx *c, const char *ns, size_t nslen, const char *key, size_t klen)
{
    size_t plen = nslen + (key ? klen + 1 : 0);
    if (plen + TOK_MAX_BYTES > sizeof c->buf)
        return -1;
    memcpy(c->buf, ns, nslen);
    if (key) {
        memcpy(c->buf + nslen, key, klen);
        c->buf[nslen + klen] = ':';
    }
    c->plen = plen;
    return 0;
}

size_t seg_whole_value(const char *v, size_t len, char *out)
{
    size_t n = len < TOK_MAX_BYTES ? len : TOK_MAX_BYTES;
    while (n < len && n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80)
        n--; /* cut at a character boundary */
    for (size_t i = 0; i < n; i++) {
        char ch = v[i];
        out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    return n;
}

/* A whole value (service, host), as seg_whole_value gives it. */
static void emit_whole(term_ctx *c, strata_str v)
{
    char low[TOK_MAX_BYTES];
    size_t n = seg_whole_value(v.ptr, v.len, low);
    if (n)
        emit_token(c, low, n);
}

void seg_event_terms(const strata_event *ev, void (*fn)(void *ud, const char *t, size_t n),
                     void *ud)
{
    term_ctx c;
    c.fn = fn;
    c.ud = ud;
    set_prefix(&c, SEG_NS_MSG, SEG_NS_LEN(SEG_NS_MSG), NULL, 0);
    tokenize(ev->msg.ptr, ev->msg.len, emit_token, &c);
    set_prefix(&c, SEG_NS_SERVICE, SEG_NS_LEN(SEG_NS_SERVICE), NULL, 0);
    emit_whole(&c, ev->service);
    set_prefix(&c, SEG_NS_HOST, SEG_NS_LEN(SEG_NS_HOST), NULL, 0);
    emit_whole(&c, ev->host);
    if (ev->level >= STRATA_LEVEL_TRACE && ev->level <= STRATA_LEVEL_FATAL) {
        const char *name = strata_level_name(ev->level);
        char low[8];
        size_t n = strlen(name);
        for (size_t i = 0; i < n; i++)
            low[i] = (char)(name[i] + 32);
        set_prefix(&c, SEG_NS_LEVEL, SEG_NS_LEN(SEG_NS_LEVEL), NULL, 0);
        emit_token(&c, low, n);
    }
    for (uint32_t i = 0; i < ev->meta_count; i++) {
        const strata_kv *kv = &ev->meta[i];
        if (kv->type == STRATA_VALUE_NULL)
            continue;
        if (set_prefix(&c, SEG_NS_META, SEG_NS_LEN(SEG_NS_META), kv->key.ptr, kv->key.len) < 0)
            continue;
        tokenize(kv->value.ptr, kv->value.len, emit_token, &c);
    }
}
