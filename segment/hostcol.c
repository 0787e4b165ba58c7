/*
 * segment/hostcol.c - the host column (SEC_HOST), coded by service when
 * that is smaller: a host serves few services, and a service
 * runs on few of the segment's hosts, so a row's host is cheaper as its
 * index among its service's hosts than as a rank among all of them.
 *
 * Body (format.h, SEG_HOSTS_BY_SERVICE):
 *   u8 SEG_HOSTS_PLAIN, intcol of each row's host rank; or
 *   u8 SEG_HOSTS_BY_SERVICE, varint pairs, bytes: one zstd frame of, per
 *   service rank in order, varint k then its k host ranks ascending as
 *   varint gaps (the first rank itself, then rank - previous - 1), then the
 *   intcol of each row's index among its service's hosts.
 *
 * The writer and the merge both call seg_put_hosts with the rows' ranks, so
 * the same rows give the same bytes; the reader calls seg_get_hosts.
 */
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "codec.h"

/* Bytes of the varint of a count or gap below 2^32. */
#define HOSTCOL_VARINT_MAX 5u
/* Slots of an empty pair set's first table. */
#define PAIRSET_MIN_SLOTS 1024u

/* The distinct (service, host) pairs of the rows: open addressing over
 * pair + 1 (0 = free), each slot's value its position once sorted. Sized
 * by the distinct pairs, not by the rows: a merge of many millions of rows
 * holds a few hundred thousand. */
typedef struct pairset {
    uint64_t *key;
    uint32_t *val;
    size_t cap, n; /* cap: a power of two, at most half full */
} pairset;

/* The slot of key k in the open-addressed pair set, or the empty slot where it goes. */
static size_t ps_slot(const pairset *p, uint64_t k)
{
    size_t i = (size_t)((k * 0x9E3779B97F4A7C15ull) >> 20) & (p->cap - 1);
    while (p->key[i] && p->key[i] != k)
        i = (i + 1) & (p->cap - 1);
    return i;
}

/* Add pair + 1; 0, or -1 on OOM. */
static int ps_add(pairset *p, uint64_t k)
{
    if (2 * (p->n + 1) > p->cap) {
        size_t cap = p->cap ? p->cap * 2 : PAIRSET_MIN_SLOTS;
        pairset q = {calloc(cap, sizeof *q.key), NULL, cap, 0};
        if (!q.key)
            return -1;
        for (size_t i = 0; i < p->cap; i++)
            if (p->key[i]) {
                q.key[ps_slot(&q, p->key[i])] = p->key[i];
                q.n++;
            }
        free(p->key);
        *p = q;
    }
    size_t i = ps_slot(p, k);
    if (!p->key[i]) {
        p->key[i] = k;
        p->n++;
    }
    return 0;
}

/* The by-service coding of the rows into out; 0, or -1 on OOM. */
static int put_by_service(strbuf *out, const uint32_t *svc, const uint32_t *host, size_t n,
                          uint32_t nsvc, int level)
{
    pairset ps = {0};
    uint64_t *pair = NULL;
    size_t *start = calloc((size_t)nsvc + 1, sizeof *start);
    strbuf raw = {0};
    int rc = -1;
    if (!start)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (ps_add(&ps, ((uint64_t)svc[i] << 32 | host[i]) + 1) < 0)
            goto out;
    /* the distinct pairs by service then host, each slot told its place */
    size_t np = 0;
    if (!(pair = malloc((ps.n ? ps.n : 1) * sizeof *pair)) ||
        !(ps.val = malloc((ps.cap ? ps.cap : 1) * sizeof *ps.val)))
        goto out;
    for (size_t i = 0; i < ps.cap; i++)
        if (ps.key[i])
            pair[np++] = ps.key[i] - 1;
    qsort(pair, np, sizeof *pair, seg_cmp_u64);
    for (size_t i = 0; i < np; i++) {
        ps.val[ps_slot(&ps, pair[i] + 1)] = (uint32_t)i;
        start[(pair[i] >> 32) + 1]++;
    }
    for (uint32_t s = 0; s < nsvc; s++)
        start[s + 1] += start[s];
    for (uint32_t s = 0; s < nsvc; s++) {
        put_varint(&raw, start[s + 1] - start[s]);
        for (size_t i = start[s]; i < start[s + 1]; i++) {
            uint32_t h = (uint32_t)pair[i];
            put_varint(&raw, i == start[s] ? h : h - (uint32_t)pair[i - 1] - 1);
        }
    }
    put_u8(out, SEG_HOSTS_BY_SERVICE);
    put_varint(out, np);
    if (raw.oom || put_zframe(out, raw.buf, raw.len, level) < 0)
        goto out;
    intcol_stream st = {out, {0}, 0};
    for (size_t i = 0; i < n; i++) { /* the row's index among its service's hosts */
        uint32_t at = ps.val[ps_slot(&ps, ((uint64_t)svc[i] << 32 | host[i]) + 1)];
        intcol_push(&st, (int64_t)(at - start[svc[i]]));
    }
    intcol_flush(&st);
    rc = out->oom ? -1 : 0;
out:
    free(ps.key);
    free(ps.val);
    free(pair);
    free(start);
    sb_free(&raw);
    return rc;
}

int seg_put_hosts(strbuf *out, const uint32_t *svc, const uint32_t *host, size_t n, uint32_t nsvc,
                  int level)
{
    strbuf plain = {0}, by = {0};
    put_u8(&plain, SEG_HOSTS_PLAIN);
    intcol_stream st = {&plain, {0}, 0};
    for (size_t i = 0; i < n; i++)
        intcol_push(&st, host[i]);
    intcol_flush(&st);
    int rc =
        put_by_service(&by, svc, host, n, nsvc, level) < 0 ? -1 : put_smaller(out, &plain, &by);
    sb_free(&plain);
    sb_free(&by);
    return rc < 0 ? -1 : 0;
}

/* The by-service coding at c into host[n]; NULL, or what is malformed. */
static const char *get_by_service(cursor *c, const uint32_t *svc, uint32_t nsvc, uint32_t nhost,
                                  uint32_t *host, size_t n, int64_t *tmp)
{
    uint64_t np = get_varint(c);
    size_t zlen;
    const uint8_t *z = get_bytes(c, SIZE_MAX, &zlen);
    /* a pair per row at most, and a varint per count and rank */
    if (c->bad || !z || np > n || np > UINT32_MAX)
        return "more (service, host) pairs than rows, or the lists cut";
    unsigned long long rawn = ZSTD_getFrameContentSize(z, zlen);
    if (rawn == ZSTD_CONTENTSIZE_ERROR || rawn == ZSTD_CONTENTSIZE_UNKNOWN ||
        rawn > HOSTCOL_VARINT_MAX * ((uint64_t)nsvc + np))
        return "the lists are not a frame of their size";
    uint8_t *raw = malloc(rawn ? rawn : 1);
    uint32_t *list = malloc((np ? np : 1) * sizeof *list);
    uint32_t *start = malloc(((size_t)nsvc + 1) * sizeof *start);
    const char *why = "out of memory";
    if (!raw || !list || !start)
        goto out;
    why = "the lists' frame does not decompress";
    if (ZSTD_decompress(raw, rawn, z, zlen) != rawn)
        goto out;
    why = "a list runs past the pairs or names a host past the dictionary";
    cursor l = cursor_make(raw, rawn);
    uint64_t at = 0;
    for (uint32_t s = 0; s < nsvc; s++) {
        start[s] = (uint32_t)at;
        uint64_t k = get_varint(&l);
        if (l.bad || k > np - at)
            goto out;
        uint64_t prev = 0;
        for (uint64_t i = 0; i < k; i++) {
            uint64_t gap = get_varint(&l); /* checked before adding: no wrap-around */
            uint64_t h = gap + (i ? prev + 1 : 0);
            if (l.bad || gap >= nhost || h >= nhost)
                goto out;
            list[at++] = (uint32_t)h;
            prev = h;
        }
    }
    start[nsvc] = (uint32_t)at;
    why = "the lists do not hold the pairs exactly";
    if (at != np || cursor_left(&l))
        goto out;
    why = "the rows' indexes are malformed";
    if (intcol_decode(c, tmp, n) < 0)
        goto out;
    why = "a row's index is past its service's hosts";
    for (size_t i = 0; i < n; i++) {
        uint32_t s = svc[i];
        if (s >= nsvc || tmp[i] < 0 || (uint64_t)tmp[i] >= start[s + 1] - start[s])
            goto out;
        host[i] = list[start[s] + (size_t)tmp[i]];
    }
    why = NULL;
out:
    free(raw);
    free(list);
    free(start);
    return why;
}

const char *seg_get_hosts(cursor *c, const uint32_t *svc, uint32_t nsvc, uint32_t nhost,
                          uint32_t *host, size_t n, int64_t *tmp)
{
    unsigned coding = get_u8(c);
    if (c->bad)
        return "empty";
    if (coding == SEG_HOSTS_BY_SERVICE)
        return get_by_service(c, svc, nsvc, nhost, host, n, tmp);
    if (coding != SEG_HOSTS_PLAIN)
        return "unknown coding";
    if (intcol_decode(c, tmp, n) < 0)
        return "the ranks are malformed";
    for (size_t i = 0; i < n; i++) {
        if (tmp[i] < 0 || tmp[i] >= nhost)
            return "a host rank past the dictionary";
        host[i] = (uint32_t)tmp[i];
    }
    return NULL;
}
