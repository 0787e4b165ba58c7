/*
 * query/match.c - decide one event against a query from its fields alone.
 *
 * The event's terms are computed once per event, on first need, with the
 * indexer's own function (seg_event_terms) into a hash set (for word terms)
 * and a list (for wildcards); phrases re-read the field's base words. So a
 * word matches here exactly when the index has its posting.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "query_int.h"
#include "strbuf.h"

/* Initial slots of the per-event term set (grows by doubling). */
#define Q_SET_INITIAL 256

struct q_scratch {
    uint64_t *slots; /* open addressing, 0 = empty (hashes are made non-zero) */
    size_t cap, used;
    strbuf terms; /* each term: u32 length then bytes */
    strbuf words; /* phrase matching: u32 length then bytes per word */
    int built;
    int oom;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    uint64_t regex_aborts;
};

/* Scratch for matching events one at a time (the event's term set), owned by the caller; NULL on
 * OOM. */
q_scratch *q_scratch_new(void)
{
    q_scratch *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cap = Q_SET_INITIAL;
    s->slots = calloc(s->cap, sizeof *s->slots);
    s->md = pcre2_match_data_create(16, NULL);
    s->mctx = pcre2_match_context_create(NULL);
    if (!s->slots || !s->md || !s->mctx) {
        q_scratch_free(s);
        return NULL;
    }
    pcre2_set_match_limit(s->mctx, Q_REGEX_MATCH_LIMIT);
    return s;
}

void q_scratch_free(q_scratch *s)
{
    if (!s)
        return;
    free(s->slots);
    sb_free(&s->terms);
    sb_free(&s->words);
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mctx);
    free(s);
}

uint64_t q_scratch_regex_aborts(const q_scratch *s)
{
    return s->regex_aborts;
}

/* A term's 64-bit hash, never 0 (0 marks a free slot). */
static uint64_t term_hash(const char *t, size_t n)
{
    uint64_t h = XXH3_64bits(t, n);
    return h ? h : 1;
}

/* Double the term set's slots and rehash; -1 on OOM. */
static int set_grow(q_scratch *s)
{
    size_t cap = s->cap * 2;
    uint64_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < s->cap; i++) {
        uint64_t h = s->slots[i];
        if (!h)
            continue;
        size_t k = h & (cap - 1);
        while (slots[k])
            k = (k + 1) & (cap - 1);
        slots[k] = h;
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return 0;
}

/* seg_event_terms callback: add one of the event's terms to the set (and its bytes, for
 * wildcards). */
static void add_term(void *ud, const char *t, size_t n)
{
    q_scratch *s = ud;
    uint64_t h = term_hash(t, n);
    size_t k = h & (s->cap - 1);
    while (s->slots[k]) {
        if (s->slots[k] == h)
            return;
        k = (k + 1) & (s->cap - 1);
    }
    if ((s->used + 1) * 2 > s->cap) {
        if (set_grow(s) < 0) {
            s->oom = 1;
            return;
        }
        k = h & (s->cap - 1);
        while (s->slots[k])
            k = (k + 1) & (s->cap - 1);
    }
    s->slots[k] = h;
    s->used++;
    uint32_t len = (uint32_t)n;
    if (sb_append(&s->terms, &len, sizeof len) < 0 || sb_append(&s->terms, t, n) < 0)
        s->oom = 1;
}

/* 1 when the event being matched has the term. */
static int has_term(const q_scratch *s, const char *t, size_t n)
{
    uint64_t h = term_hash(t, n);
    size_t k = h & (s->cap - 1);
    while (s->slots[k]) {
        if (s->slots[k] == h)
            return 1;
        k = (k + 1) & (s->cap - 1);
    }
    return 0;
}

/* Tokenize the event into the term set once, on the first node that needs it. */
static void build_terms(q_scratch *s, const strata_event *ev)
{
    if (s->built)
        return;
    memset(s->slots, 0, s->cap * sizeof *s->slots);
    s->used = 0;
    sb_reset(&s->terms);
    seg_event_terms(ev, add_term, s);
    s->built = 1;
}

int q_glob(const char *pat, size_t plen, const char *s, size_t slen)
{
    size_t p = 0, i = 0, star_p = SIZE_MAX, star_i = 0;
    while (i < slen) {
        if (p < plen && pat[p] == '?') {
            p++;
            i++;
            while (i < slen && ((unsigned char)s[i] & 0xc0) == 0x80)
                i++; /* one whole UTF-8 character */
        } else if (p < plen && pat[p] == '*') {
            star_p = p++;
            star_i = i;
        } else if (p < plen && pat[p] == s[i]) {
            p++;
            i++;
        } else if (star_p != SIZE_MAX) {
            p = star_p + 1;
            i = ++star_i;
        } else {
            return 0;
        }
    }
    while (p < plen && pat[p] == '*')
        p++;
    return p == plen;
}

/* 1 when some term of the event has the node's namespace and matches its wildcard pattern. */
static int match_wild(q_scratch *s, const q_node *n)
{
    const char *b = s->terms.buf;
    size_t off = 0;
    while (off + 4 <= s->terms.len) {
        uint32_t len;
        memcpy(&len, b + off, 4);
        const char *t = b + off + 4;
        off += 4 + len;
        if (len >= n->prefix.n && memcmp(t, n->prefix.p, n->prefix.n) == 0 &&
            q_glob(n->pattern.p, n->pattern.n, t + n->prefix.n, len - n->prefix.n))
            return 1;
    }
    return 0;
}

/* tokenize_words callback: record one base word of the message, for phrases. */
static void add_word(void *ud, const char *t, size_t n)
{
    q_scratch *s = ud;
    uint32_t len = (uint32_t)n;
    if (sb_append(&s->words, &len, sizeof len) < 0 || sb_append(&s->words, t, n) < 0)
        s->oom = 1;
}

/* Do the phrase's words occur, in order and adjacent, among the base words
 * of text? */
static int phrase_in(q_scratch *s, const q_node *n, const char *text, size_t len)
{
    sb_reset(&s->words);
    tokenize_words(text, len, add_word, s);
    const char *b = s->words.buf;
    size_t end = s->words.len;
    for (size_t start = 0; start + 4 <= end;) {
        size_t off = start;
        size_t k = 0;
        for (; k < n->nitems && off + 4 <= end; k++) {
            uint32_t wl;
            memcpy(&wl, b + off, 4);
            if (wl != n->items[k].n || memcmp(b + off + 4, n->items[k].p, wl) != 0)
                break;
            off += 4 + wl;
        }
        if (k == n->nitems)
            return 1;
        uint32_t first;
        memcpy(&first, b + start, 4);
        start += 4 + first;
    }
    return 0;
}

/* Is the kv a value of meta key n->key? */
static int key_is(const strata_kv *kv, const q_node *n)
{
    return kv->key.len == n->key.n && memcmp(kv->key.ptr, n->key.p, n->key.n) == 0;
}

int q_value_number(const strata_kv *kv, double *out)
{
    if (!kv || kv->type == STRATA_VALUE_NULL || kv->type == STRATA_VALUE_BOOL || !kv->value.len ||
        kv->value.len > 64)
        return 0;
    char buf[65];
    memcpy(buf, kv->value.ptr, kv->value.len);
    buf[kv->value.len] = 0;
    char *end = NULL;
    errno = 0;
    double v = strtod(buf, &end);
    if (end == buf || *end || errno || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

/* Whether a cmp b holds for a comparison node. */
static int cmp_true(q_cmp c, double a, double b)
{
    switch (c) {
    case QC_EQ: return a == b;
    case QC_LT: return a < b;
    case QC_LE: return a <= b;
    case QC_GT: return a > b;
    default: return a >= b;
    }
}

/* Whether the event matches node n (the same answer the index gives). */
static int eval(const q_node *n, const strata_event *ev, q_scratch *s)
{
    switch (n->kind) {
    case Q_ALL: return 1;
    case Q_AND: return eval(n->a, ev, s) && eval(n->b, ev, s);
    case Q_OR: return eval(n->a, ev, s) || eval(n->b, ev, s);
    case Q_NOT: return !eval(n->a, ev, s);
    case Q_TERMS:
        build_terms(s, ev);
        for (size_t i = 0; i < n->nitems; i++)
            if (!has_term(s, n->items[i].p, n->items[i].n))
                return 0;
        return 1;
    case Q_WILD: build_terms(s, ev); return match_wild(s, n);
    case Q_PHRASE:
        if (n->field == QF_MSG)
            return phrase_in(s, n, ev->msg.ptr, ev->msg.len);
        for (uint32_t i = 0; i < ev->meta_count; i++)
            if (ev->meta[i].type != STRATA_VALUE_NULL && key_is(&ev->meta[i], n) &&
                phrase_in(s, n, ev->meta[i].value.ptr, ev->meta[i].value.len))
                return 1;
        return 0;
    case Q_REGEX: {
        int rc = pcre2_match(n->re, (PCRE2_SPTR)ev->msg.ptr, ev->msg.len, 0, 0, s->md, s->mctx);
        if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
            rc == PCRE2_ERROR_HEAPLIMIT)
            s->regex_aborts++;
        return rc >= 0;
    }
    case Q_LEVEL: return q_level_in(n->levels, ev->level);
    case Q_EXISTS:
        for (uint32_t i = 0; i < ev->meta_count; i++)
            if (ev->meta[i].type != STRATA_VALUE_NULL && key_is(&ev->meta[i], n))
                return 1;
        return 0;
    case Q_NUM:
        for (uint32_t i = 0; i < ev->meta_count; i++) {
            double v;
            if (key_is(&ev->meta[i], n) && q_value_number(&ev->meta[i], &v) &&
                cmp_true(n->cmp, v, n->num))
                return 1;
        }
        return 0;
    }
    return 0;
}

int q_match(const query *q, const strata_event *ev, q_scratch *s)
{
    s->built = 0;
    return eval(q->root, ev, s);
}
