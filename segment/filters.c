/*
 * segment/filters.c - the block filter's common terms (SEC_BLOCK_FILTER):
 * the terms of many row blocks, each listed with the exact set of blocks
 * that hold it, which let a search skip a block without opening the index
 * (the fuse filters for every other term are in fuse.c).
 *
 * The writer and the streaming merge both build the common terms here, so
 * the same rows give the same bytes; the reader looks terms up here too.
 * Layout (format.h, SEG_COMMON_ENTRY_BITS; docs/ARCHITECTURE.md):
 *
 *   u32 n | u32 sets | n x u64 hash (ascending) | n x u32 set | sets x
 *   ceil(blocks / 8) bytes, bit b of a set (byte b / 8, bit b % 8) = block b
 */
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "codec.h"
#include "segment_int.h"
#include "strtab.h"

/* ---- common terms: building ---------------------------------------------------------------- */

int seg_common_is(uint64_t in_blocks, uint64_t blocks)
{
    return in_blocks * SEG_BLOCK_FILTER_PAIR_EIGHTHS > (blocks + SEG_COMMON_ENTRY_BITS) * 8;
}

void seg_common_init(seg_common *c, uint32_t blocks)
{
    memset(c, 0, sizeof *c);
    c->blocks = blocks;
    c->bytes = ((size_t)blocks + 7) / 8;
}

int64_t seg_common_add(seg_common *c, uint64_t h)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        uint64_t *nh = realloc(c->hash, cap * sizeof *nh);
        if (!nh)
            return -1;
        c->hash = nh;
        uint8_t *nb = realloc(c->bits, cap * (c->bytes ? c->bytes : 1));
        if (!nb)
            return -1;
        c->bits = nb;
        c->cap = cap;
    }
    memset(c->bits + c->n * c->bytes, 0, c->bytes);
    c->hash[c->n] = h;
    return (int64_t)c->n++;
}

void seg_common_mark(seg_common *c, size_t i, uint32_t block)
{
    c->bits[i * c->bytes + block / 8] |= (uint8_t)(1u << (block % 8));
}

/* An entry being sorted: its hash and its blocks (no qsort context in C11,
 * and merges run beside the writer: no static either). */
typedef struct centry {
    uint64_t h;
    const uint8_t *bits;
    size_t bytes;
} centry;

/* By hash, then by blocks: two terms of one hash, however rare, still come
 * out in one order whoever built them. */
static int cmp_entry(const void *a, const void *b)
{
    const centry *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return memcmp(x->bits, y->bits, x->bytes);
}

int seg_common_put(const seg_common *c, strbuf *out)
{
    size_t n = c->n, cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    centry *e = malloc((n ? n : 1) * sizeof *e);
    uint32_t *slot = calloc(cap, sizeof *slot); /* set id + 1 by its blocks' hash, 0 = free */
    const uint8_t **first = malloc((n ? n : 1) * sizeof *first); /* per set: its blocks */
    int rc = -1;
    if (!e || !slot || !first)
        goto out;
    for (size_t i = 0; i < n; i++)
        e[i] = (centry){c->hash[i], c->bits + i * c->bytes, c->bytes};
    qsort(e, n, sizeof *e, cmp_entry);
    uint32_t nsets = 0;
    put_u32(out, (uint32_t)n);
    size_t at_sets = out->len;
    put_u32(out, 0); /* the set count, once known */
    for (size_t i = 0; i < n; i++)
        put_u64(out, e[i].h);
    for (size_t i = 0; i < n; i++) {
        size_t s = term_hash(e[i].bits, c->bytes) & (cap - 1);
        while (slot[s] && memcmp(first[slot[s] - 1], e[i].bits, c->bytes) != 0)
            s = (s + 1) & (cap - 1);
        if (!slot[s]) {
            first[nsets++] = e[i].bits;
            slot[s] = nsets;
        }
        put_u32(out, slot[s] - 1);
    }
    for (uint32_t k = 0; k < nsets; k++)
        sb_append(out, first[k], c->bytes);
    if (!out->oom) {
        store_u32((uint8_t *)out->buf + at_sets, nsets);
        rc = 0;
    }
out:
    free(e);
    free(slot);
    free(first);
    return rc;
}

void seg_common_free(seg_common *c)
{
    free(c->hash);
    free(c->bits);
    memset(c, 0, sizeof *c);
}

/* ---- common terms: reading ----------------------------------------------------------------- */

/* The table's header (u32 n, u32 sets) and one entry (u64 hash, u32 set). */
#define COMMON_HEAD_BYTES 8u
#define COMMON_ENTRY_BYTES 12u

int64_t seg_common_parse(seg_common_view *v, const uint8_t *p, size_t left, uint32_t blocks,
                         const char **why)
{
    memset(v, 0, sizeof *v);
    *why = "the header is cut";
    if (left < COMMON_HEAD_BYTES)
        return -1;
    uint64_t n = load_u32(p), nsets = load_u32(p + 4);
    size_t bytes = ((size_t)blocks + 7) / 8;
    left -= COMMON_HEAD_BYTES;
    *why = "more entries or sets than the section holds";
    if (n > left / COMMON_ENTRY_BYTES || nsets > n ||
        (bytes && nsets > (left - n * COMMON_ENTRY_BYTES) / bytes))
        return -1;
    v->hash = p + COMMON_HEAD_BYTES;
    v->set = v->hash + n * 8;
    v->sets = v->set + n * 4;
    v->n = (uint32_t)n;
    v->nsets = (uint32_t)nsets;
    v->bytes = bytes;
    /* what a lookup relies on: ascending hashes (binary search), sets in range */
    for (uint64_t i = 0; i < n; i++) {
        *why = "hashes out of order";
        if (i && load_u64(v->hash + (i - 1) * 8) > load_u64(v->hash + i * 8))
            return -1;
        *why = "a set number past the sets";
        if (load_u32(v->set + i * 4) >= nsets)
            return -1;
    }
    *why = NULL;
    return (int64_t)(COMMON_HEAD_BYTES + n * COMMON_ENTRY_BYTES + nsets * bytes);
}

int seg_common_has(const seg_common_view *v, uint64_t h, uint32_t block)
{
    uint32_t lo = 0, hi = v->n; /* the first entry with hash >= h */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (load_u64(v->hash + (size_t)mid * 8) < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < v->n && load_u64(v->hash + (size_t)lo * 8) == h; lo++) {
        const uint8_t *set = v->sets + (size_t)load_u32(v->set + (size_t)lo * 4) * v->bytes;
        if (set[block / 8] & (1u << (block % 8)))
            return 1;
    }
    return 0;
}
