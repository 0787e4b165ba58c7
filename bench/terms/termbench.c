/*
 * bench/terms/termbench.c - the term dictionary: front-coded sorted blocks
 * with a sparse index (what segments use) against a finite state transducer
 * (what the brief names, as Lucene and tantivy use), on the terms of a real
 * segment. Both map a term to its ordinal (its position in sorted order,
 * which a segment turns into postings); neither stores dfs or postings here,
 * so the two are compared on the strings alone.
 *
 *   termbench --segment FILE [--lookups N] [--level ZSTD_LEVEL]
 *
 * Prints one JSON line: terms, raw bytes, bytes and build time of each
 * representation, and lookup times (present terms in random order, absent
 * terms, prefix walks). Every lookup is checked against the sorted list, so
 * a broken implementation fails the run instead of looking fast.
 *
 * The FST here is a minimal acyclic automaton built incrementally from
 * sorted input (Daciuk et al. 2000) whose arcs carry ordinal offsets
 * (outputs summed along the path, as in Lucene's FST<Long> of ordinals).
 * Nodes are written children first and read backwards, so a node with one
 * arc that leads to the node written just before it, with output 0, costs
 * two bytes (header and label): the chains of long unique terms.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zstd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "codec.h"
#include "format.h"
#include "segment.h"
#include "strbuf.h"

/* ---- input: the sorted terms of a segment --------------------------------------- */

typedef struct terms {
    strbuf bytes;
    uint64_t *off; /* term i: bytes.buf + off[i], length off[i+1] - off[i] */
    size_t n, cap;
} terms;

static int take_term(void *ud, const char *t, size_t len, uint32_t df)
{
    (void)df;
    terms *ts = ud;
    if (ts->n + 2 > ts->cap) {
        size_t cap = ts->cap ? ts->cap * 2 : 1 << 16;
        uint64_t *o = realloc(ts->off, cap * sizeof *o);
        if (!o)
            return 1;
        ts->off = o;
        ts->cap = cap;
    }
    ts->off[ts->n++] = ts->bytes.len;
    sb_append(&ts->bytes, t, len);
    ts->off[ts->n] = ts->bytes.len;
    return ts->bytes.oom;
}

static const char *term_at(const terms *ts, size_t i, size_t *len)
{
    *len = ts->off[i + 1] - ts->off[i];
    return ts->bytes.buf + ts->off[i];
}

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- front-coded blocks (the segment's layout, strings only) ------------------- */

/* As format.h: 32 terms per block, 16 blocks per zstd chunk, first terms of
 * blocks kept whole in a sparse index searched by bisection. */
typedef struct fc {
    strbuf chunks;     /* compressed chunks */
    uint64_t *choff;   /* per chunk: offset in chunks, nchunks + 1 */
    uint32_t *chraw;   /* per chunk: raw length */
    strbuf firsts;     /* first term of each block */
    uint32_t *foff;    /* per block: offset in firsts, nblocks + 1 */
    uint32_t *inchunk; /* per block: offset in its chunk's raw bytes */
    size_t nblocks, nchunks, nterms;
    uint8_t *raw; /* the decompressed chunk cache */
    size_t rawcap;
    int64_t cached;
    ZSTD_DCtx *dctx;
} fc;

static int fc_build(fc *f, const terms *ts, int level)
{
    memset(f, 0, sizeof *f);
    f->nterms = ts->n;
    f->nblocks = (ts->n + SEG_TERMS_PER_BLOCK - 1) / SEG_TERMS_PER_BLOCK;
    f->nchunks = (f->nblocks + SEG_TERM_BLOCKS_PER_CHUNK - 1) / SEG_TERM_BLOCKS_PER_CHUNK;
    f->choff = calloc(f->nchunks + 1, sizeof *f->choff);
    f->chraw = calloc(f->nchunks + 1, sizeof *f->chraw);
    f->foff = calloc(f->nblocks + 1, sizeof *f->foff);
    f->inchunk = calloc(f->nblocks + 1, sizeof *f->inchunk);
    f->cached = -1;
    f->dctx = ZSTD_createDCtx();
    if (!f->choff || !f->chraw || !f->foff || !f->inchunk || !f->dctx)
        return -1;
    strbuf raw = {0};
    for (size_t c = 0; c < f->nchunks; c++) {
        sb_reset(&raw);
        for (size_t b = c * SEG_TERM_BLOCKS_PER_CHUNK;
             b < f->nblocks && b < (c + 1) * SEG_TERM_BLOCKS_PER_CHUNK; b++) {
            f->inchunk[b] = (uint32_t)raw.len;
            f->foff[b] = (uint32_t)f->firsts.len;
            size_t plen = 0;
            const char *prev = NULL;
            for (size_t i = b * SEG_TERMS_PER_BLOCK; i < ts->n && i < (b + 1) * SEG_TERMS_PER_BLOCK;
                 i++) {
                size_t len;
                const char *t = term_at(ts, i, &len);
                if (!prev)
                    sb_append(&f->firsts, t, len);
                size_t shared = 0;
                while (prev && shared < len && shared < plen && prev[shared] == t[shared])
                    shared++;
                put_varint(&raw, shared);
                put_bytes(&raw, t + shared, len - shared);
                prev = t;
                plen = len;
            }
        }
        size_t bound = ZSTD_compressBound(raw.len);
        if (sb_reserve(&f->chunks, bound) < 0)
            return -1;
        size_t got = ZSTD_compress(f->chunks.buf + f->chunks.len, bound, raw.buf, raw.len, level);
        if (ZSTD_isError(got))
            return -1;
        f->choff[c] = f->chunks.len;
        f->chunks.len += got;
        f->chraw[c] = (uint32_t)raw.len;
    }
    f->choff[f->nchunks] = f->chunks.len;
    f->foff[f->nblocks] = (uint32_t)f->firsts.len;
    sb_free(&raw);
    return f->chunks.oom || f->firsts.oom ? -1 : 0;
}

/* Bytes a segment would store for this: chunks, first terms and the two
 * index tables (16 B per chunk, 8 B per block: no postings base here). */
static size_t fc_bytes(const fc *f)
{
    return f->chunks.len + f->firsts.len + f->nchunks * 16 + f->nblocks * 8;
}

static int fc_load_chunk(fc *f, size_t c)
{
    if (f->cached == (int64_t)c)
        return 0;
    if (f->chraw[c] > f->rawcap) {
        uint8_t *nb = realloc(f->raw, f->chraw[c]);
        if (!nb)
            return -1;
        f->raw = nb;
        f->rawcap = f->chraw[c];
    }
    size_t got = ZSTD_decompressDCtx(f->dctx, f->raw, f->chraw[c], f->chunks.buf + f->choff[c],
                                     f->choff[c + 1] - f->choff[c]);
    if (ZSTD_isError(got))
        return -1;
    f->cached = (int64_t)c;
    return 0;
}

/* The last block whose first term is <= key, or -1. */
static int64_t fc_block(const fc *f, const char *key, size_t klen)
{
    int64_t lo = 0, hi = (int64_t)f->nblocks - 1, ans = -1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const char *t = f->firsts.buf + f->foff[mid];
        if (cmp_bytes(t, f->foff[mid + 1] - f->foff[mid], key, klen) <= 0) {
            ans = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return ans;
}

/* Walk block b from its start, calling fn on each term until it returns
 * non-zero; the ordinal of the term it stopped on, or -1. */
typedef int (*fc_visit)(void *ud, const char *t, size_t len);
static int64_t fc_walk(fc *f, size_t b, fc_visit fn, void *ud)
{
    size_t c = b / SEG_TERM_BLOCKS_PER_CHUNK;
    if (fc_load_chunk(f, c) < 0)
        return -1;
    cursor cur = cursor_make(f->raw + f->inchunk[b], f->chraw[c] - f->inchunk[b]);
    char term[SEG_MAX_TERM];
    size_t tlen = 0;
    for (size_t i = b * SEG_TERMS_PER_BLOCK; i < f->nterms; i++) {
        if (i % SEG_TERMS_PER_BLOCK == 0 && i != b * SEG_TERMS_PER_BLOCK) {
            b++; /* the next block: maybe in the next chunk */
            if (b / SEG_TERM_BLOCKS_PER_CHUNK != c) {
                c = b / SEG_TERM_BLOCKS_PER_CHUNK;
                if (fc_load_chunk(f, c) < 0)
                    return -1;
                cur = cursor_make(f->raw, f->chraw[c]);
            }
        }
        size_t shared = get_varint(&cur), len;
        const uint8_t *rest = get_bytes(&cur, SEG_MAX_TERM, &len);
        if (!rest || shared > tlen || shared + len > SEG_MAX_TERM)
            return -1;
        memcpy(term + shared, rest, len);
        tlen = shared + len;
        if (fn(ud, term, tlen))
            return (int64_t)i;
    }
    return -1;
}

typedef struct fc_find {
    const char *key;
    size_t klen;
    int found;
} fc_find;

static int fc_find_fn(void *ud, const char *t, size_t len)
{
    fc_find *q = ud;
    int c = cmp_bytes(t, len, q->key, q->klen);
    q->found = c == 0;
    return c >= 0; /* at or past the key: stop */
}

/* The ordinal of key, or -1. */
static int64_t fc_lookup(fc *f, const char *key, size_t klen)
{
    int64_t b = fc_block(f, key, klen);
    if (b < 0)
        return -1;
    fc_find q = {key, klen, 0};
    int64_t at = fc_walk(f, (size_t)b, fc_find_fn, &q);
    return q.found ? at : -1;
}

typedef struct fc_prefix {
    const char *p;
    size_t plen;
    uint64_t count;
} fc_prefix;

static int fc_prefix_fn(void *ud, const char *t, size_t len)
{
    fc_prefix *q = ud;
    int c = memcmp(t, q->p, len < q->plen ? len : q->plen);
    if (c < 0 || (c == 0 && len < q->plen))
        return 0; /* before the prefix */
    if (c > 0)
        return 1; /* past it */
    q->count++;
    return 0;
}

static uint64_t fc_prefix_count(fc *f, const char *p, size_t plen)
{
    int64_t b = fc_block(f, p, plen);
    fc_prefix q = {p, plen, 0};
    fc_walk(f, b < 0 ? 0 : (size_t)b, fc_prefix_fn, &q);
    return q.count;
}

static void fc_free(fc *f)
{
    sb_free(&f->chunks);
    sb_free(&f->firsts);
    free(f->choff);
    free(f->chraw);
    free(f->foff);
    free(f->inchunk);
    free(f->raw);
    ZSTD_freeDCtx(f->dctx);
}

/* ---- the FST ----------------------------------------------------------------------- */

/* Nodes are written children first, each node's bytes reversed, and read
 * backwards from the node's address (the offset of its last byte), as
 * Lucene does: after a node is read, the read position is the address of
 * the node written just before it, so an arc to that node needs no pointer.
 * Node layout in reading order: header byte (bit 0 final; bit 1 "one arc,
 * output 0, to the node written just before", then only its label follows;
 * else bits 2-7 the arc count, 63 meaning a varint count follows), then per
 * arc: u8 label, varint output (terms before this arc's), varint distance
 * from this node's address back to the target's. */
#define FST_FINAL 1u
#define FST_CHAIN 2u

typedef struct tarc {
    uint8_t label;
    uint32_t target; /* node index, once frozen */
} tarc;

/* A node on the path of the last term added, not yet frozen. */
typedef struct tnode {
    tarc *arcs;
    size_t n, cap;
    int final;
} tnode;

typedef struct fst_builder {
    strbuf out;     /* serialized nodes, children first, each reversed */
    uint64_t *addr; /* per frozen node: its address (offset of its last byte) */
    uint64_t *ncnt; /* per frozen node: terms below it */
    size_t nnodes, ncap;
    /* the register: frozen nodes by their content (final flag, labels,
     * target indexes), so equal sub-automata are stored once */
    uint64_t *slots; /* index + 1, 0 = empty */
    size_t nslots;
    strbuf keys;    /* the content of each frozen node */
    uint64_t *koff; /* per node: its key in keys, nnodes + 1 */
    strbuf node;    /* one node, forwards, before it is reversed into out */
    tnode path[SEG_MAX_TERM + 1];
    size_t depth; /* length of the last term */
} fst_builder;

static int tnode_add(tnode *t, uint8_t label)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4;
        tarc *a = realloc(t->arcs, cap * sizeof *a);
        if (!a)
            return -1;
        t->arcs = a;
        t->cap = cap;
    }
    t->arcs[t->n].label = label;
    t->arcs[t->n].target = UINT32_MAX;
    t->n++;
    return 0;
}

static int fst_grow(fst_builder *b)
{
    if (b->nnodes + 1 < b->ncap && b->nnodes * 2 < b->nslots)
        return 0;
    if (b->nnodes + 1 >= b->ncap) {
        size_t cap = b->ncap ? b->ncap * 2 : 1 << 16;
        uint64_t *a = realloc(b->addr, cap * sizeof *a);
        if (!a)
            return -1;
        b->addr = a;
        uint64_t *c = realloc(b->ncnt, cap * sizeof *c);
        if (!c)
            return -1;
        b->ncnt = c;
        uint64_t *k = realloc(b->koff, (cap + 1) * sizeof *k);
        if (!k)
            return -1;
        b->koff = k;
        b->ncap = cap;
    }
    if (b->nnodes * 2 >= b->nslots) { /* rehash the register */
        size_t ns = b->nslots ? b->nslots * 4 : 1 << 17;
        uint64_t *s = calloc(ns, sizeof *s);
        if (!s)
            return -1;
        for (size_t i = 0; i < b->nnodes; i++) {
            uint64_t h = XXH3_64bits(b->keys.buf + b->koff[i], b->koff[i + 1] - b->koff[i]);
            size_t j = h & (ns - 1);
            while (s[j])
                j = (j + 1) & (ns - 1);
            s[j] = i + 1;
        }
        free(b->slots);
        b->slots = s;
        b->nslots = ns;
    }
    return 0;
}

/* Serialize a new node (forwards into b->node, then reversed onto out). */
static void fst_write(fst_builder *b, const tnode *t, size_t id)
{
    strbuf *o = &b->node;
    sb_reset(o);
    uint64_t at = b->out.len; /* the node will start here */
    if (t->n == 1 && !t->final && id > 0 && t->arcs[0].target == id - 1) {
        put_u8(o, FST_CHAIN);
        put_u8(o, t->arcs[0].label);
    } else {
        uint64_t acc = (uint64_t)t->final;
        put_u8(o, (uint8_t)((t->final ? FST_FINAL : 0) | (t->n < 63 ? t->n : 63) << 2));
        if (t->n >= 63)
            put_varint(o, t->n);
        /* distances are from this node's address, known only once its size
         * is: every distance is at least `at - target`, so sizes settle in
         * a few rounds (a varint grows at most by one byte per round) */
        size_t size = 0;
        for (int round = 0; round < 8; round++) {
            sb_reset(o);
            acc = (uint64_t)t->final;
            put_u8(o, (uint8_t)((t->final ? FST_FINAL : 0) | (t->n < 63 ? t->n : 63) << 2));
            if (t->n >= 63)
                put_varint(o, t->n);
            for (size_t i = 0; i < t->n; i++) {
                uint32_t tg = t->arcs[i].target;
                put_u8(o, t->arcs[i].label);
                put_varint(o, acc);
                put_varint(o, at + (size ? size : 1) - 1 - b->addr[tg]);
                acc += b->ncnt[tg];
            }
            if (o->len == size)
                break;
            size = o->len;
        }
    }
    for (size_t i = o->len; i > 0; i--)
        sb_append(&b->out, o->buf + i - 1, 1);
}

/* Freeze a node: reuse an equal frozen one, or serialize it. Its index,
 * or UINT32_MAX on OOM. The node is emptied for reuse. */
static uint32_t fst_freeze(fst_builder *b, tnode *t)
{
    if (fst_grow(b) < 0)
        return UINT32_MAX;
    size_t kstart = b->keys.len;
    put_u8(&b->keys, (uint8_t)t->final);
    for (size_t i = 0; i < t->n; i++) {
        put_u8(&b->keys, t->arcs[i].label);
        put_varint(&b->keys, t->arcs[i].target);
    }
    if (b->keys.oom)
        return UINT32_MAX;
    size_t klen = b->keys.len - kstart;
    uint64_t h = XXH3_64bits(b->keys.buf + kstart, klen);
    size_t j = h & (b->nslots - 1);
    while (b->slots[j]) {
        size_t id = b->slots[j] - 1;
        if (b->koff[id + 1] - b->koff[id] == klen &&
            !memcmp(b->keys.buf + b->koff[id], b->keys.buf + kstart, klen)) {
            b->keys.len = kstart; /* already there */
            t->n = 0;
            t->final = 0;
            return (uint32_t)id;
        }
        j = (j + 1) & (b->nslots - 1);
    }
    size_t id = b->nnodes++;
    b->slots[j] = id + 1;
    b->koff[id] = kstart;
    b->koff[id + 1] = b->keys.len;
    uint64_t count = (uint64_t)t->final;
    for (size_t i = 0; i < t->n; i++)
        count += b->ncnt[t->arcs[i].target];
    fst_write(b, t, id);
    b->addr[id] = b->out.len - 1;
    b->ncnt[id] = count;
    t->n = 0;
    t->final = 0;
    return b->out.oom || b->node.oom ? UINT32_MAX : (uint32_t)id;
}

/* Freeze the path's nodes deeper than `keep`, linking each to its parent. */
static int fst_freeze_to(fst_builder *b, size_t keep)
{
    for (size_t d = b->depth; d > keep; d--) {
        uint32_t id = fst_freeze(b, &b->path[d]);
        if (id == UINT32_MAX)
            return -1;
        b->path[d - 1].arcs[b->path[d - 1].n - 1].target = id;
    }
    b->depth = keep;
    return 0;
}

/* Add the next term (strictly greater than the last one). */
static int fst_add(fst_builder *b, const char *t, size_t len, const char *prev, size_t plen)
{
    size_t p = 0;
    while (prev && p < len && p < plen && prev[p] == t[p])
        p++;
    if (fst_freeze_to(b, p) < 0)
        return -1;
    for (size_t d = p; d < len; d++) {
        if (tnode_add(&b->path[d], (uint8_t)t[d]) < 0)
            return -1;
        b->path[d + 1].n = 0;
        b->path[d + 1].final = 0;
    }
    b->path[len].final = 1;
    b->depth = len;
    return 0;
}

typedef struct fst {
    strbuf bytes;
    uint64_t root; /* the root's address */
} fst;

static int fst_build(fst *f, const terms *ts)
{
    fst_builder *b = calloc(1, sizeof *b);
    if (!b)
        return -1;
    int rc = 0;
    const char *prev = NULL;
    size_t plen = 0;
    for (size_t i = 0; i < ts->n && rc == 0; i++) {
        size_t len;
        const char *t = term_at(ts, i, &len);
        rc = len > SEG_MAX_TERM ? -1 : fst_add(b, t, len, prev, plen);
        prev = t;
        plen = len;
    }
    uint32_t root = UINT32_MAX;
    if (rc == 0 && fst_freeze_to(b, 0) == 0)
        root = fst_freeze(b, &b->path[0]);
    rc = root == UINT32_MAX ? -1 : 0;
    if (rc == 0) {
        f->root = b->addr[root];
        f->bytes = b->out;
        memset(&b->out, 0, sizeof b->out);
    }
    sb_free(&b->out);
    sb_free(&b->keys);
    sb_free(&b->node);
    free(b->addr);
    free(b->ncnt);
    free(b->koff);
    free(b->slots);
    for (size_t d = 0; d <= SEG_MAX_TERM; d++)
        free(b->path[d].arcs);
    free(b);
    return rc;
}

/* A backwards reader: bytes at p, p-1, ... (varints come out in their
 * written order because each node was reversed). */
typedef struct bcur {
    const uint8_t *base;
    int64_t pos;
} bcur;

static uint8_t b_u8(bcur *c)
{
    return c->pos >= 0 ? c->base[c->pos--] : 0;
}

static uint64_t b_varint(bcur *c)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t x = b_u8(c);
        v |= (uint64_t)(x & 0x7f) << shift;
        if (!(x & 0x80))
            break;
    }
    return v;
}

/* The node at addr: its final flag and a cursor on its arcs. */
typedef struct fst_node {
    int final, chain;
    uint8_t chain_label;
    uint64_t narcs;
    bcur arcs; /* for a chain node: positioned at the target */
} fst_node;

static void fst_read_node(const fst *f, uint64_t addr, fst_node *n)
{
    n->arcs.base = (const uint8_t *)f->bytes.buf;
    n->arcs.pos = (int64_t)addr;
    uint8_t hdr = b_u8(&n->arcs);
    n->final = hdr & FST_FINAL;
    n->chain = (hdr & FST_CHAIN) != 0;
    if (n->chain) {
        n->chain_label = b_u8(&n->arcs);
        n->narcs = 1;
    } else {
        n->narcs = hdr >> 2;
        if (n->narcs == 63)
            n->narcs = b_varint(&n->arcs);
    }
}

/* Follow `label` from the node at *addr: 1 with *addr moved and the arc's
 * output added to *acc, or 0. */
static int fst_step(const fst *f, uint64_t *addr, uint8_t label, uint64_t *acc)
{
    fst_node n;
    fst_read_node(f, *addr, &n);
    if (n.chain) {
        if (n.chain_label != label)
            return 0;
        *addr = (uint64_t)n.arcs.pos;
        return 1;
    }
    for (uint64_t a = 0; a < n.narcs; a++) {
        uint8_t l = b_u8(&n.arcs);
        uint64_t out = b_varint(&n.arcs), back = b_varint(&n.arcs);
        if (l == label) {
            *acc += out;
            *addr -= back;
            return 1;
        }
        if (l > label)
            return 0;
    }
    return 0;
}

/* The ordinal of key, or -1. */
static int64_t fst_lookup(const fst *f, const char *key, size_t klen)
{
    uint64_t addr = f->root, acc = 0;
    for (size_t i = 0; i < klen; i++)
        if (!fst_step(f, &addr, (uint8_t)key[i], &acc))
            return -1;
    fst_node n;
    fst_read_node(f, addr, &n);
    return n.final ? (int64_t)acc : -1;
}

/* Count the terms below the node at addr, visiting every one of them (a
 * depth-first walk, as an expansion that returns the terms would). */
static uint64_t fst_walk_below(const fst *f, uint64_t addr, int depth)
{
    if (depth > (int)SEG_MAX_TERM)
        return 0;
    fst_node n;
    fst_read_node(f, addr, &n);
    uint64_t c = (uint64_t)n.final;
    if (n.chain)
        return c + fst_walk_below(f, (uint64_t)n.arcs.pos, depth + 1);
    for (uint64_t a = 0; a < n.narcs; a++) {
        b_u8(&n.arcs);
        b_varint(&n.arcs);
        uint64_t back = b_varint(&n.arcs);
        c += fst_walk_below(f, addr - back, depth + 1);
    }
    return c;
}

/* How many terms start with p. */
static uint64_t fst_prefix_count(const fst *f, const char *p, size_t plen)
{
    uint64_t addr = f->root, acc = 0;
    for (size_t i = 0; i < plen; i++)
        if (!fst_step(f, &addr, (uint8_t)p[i], &acc))
            return 0;
    return fst_walk_below(f, addr, 0);
}

/* ---- the benchmark -------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    long lookups = 200000;
    int level = SEG_COMPACT_ZSTD_LEVEL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--segment"))
            path = argv[i + 1];
        else if (!strcmp(argv[i], "--lookups"))
            lookups = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--level"))
            level = atoi(argv[i + 1]);
    }
    if (!path || lookups < 1) {
        fprintf(stderr, "usage: termbench --segment FILE [--lookups N] [--level ZSTD_LEVEL]\n");
        return 2;
    }
    char err[512];
    seg_reader *r = seg_open(path, NULL, err, sizeof err);
    if (!r) {
        fprintf(stderr, "termbench: %s\n", err);
        return 1;
    }
    terms ts = {0};
    if (seg_terms(r, "", 0, take_term, &ts) < 0 || ts.bytes.oom || ts.n == 0) {
        fprintf(stderr, "termbench: cannot read the terms of %s\n", path);
        return 1;
    }
    seg_close(r);

    double t0 = now_s();
    fc f;
    if (fc_build(&f, &ts, level) < 0) {
        fprintf(stderr, "termbench: front-coded build failed\n");
        return 1;
    }
    double fc_build_s = now_s() - t0;
    t0 = now_s();
    fst x = {0};
    if (fst_build(&x, &ts) < 0) {
        fprintf(stderr, "termbench: FST build failed\n");
        return 1;
    }
    double fst_build_s = now_s() - t0;

    /* present terms in random order; absent ones: a present term with its
     * last byte changed to one no term has there (checked by the lookup) */
    size_t *pick = malloc((size_t)lookups * sizeof *pick);
    if (!pick)
        return 1;
    for (long i = 0; i < lookups; i++)
        pick[i] = (size_t)(next_rand() % ts.n);
    double fc_hit = 0, fst_hit = 0, fc_miss = 0, fst_miss = 0;
    for (int pass = 0; pass < 2; pass++) {
        t0 = now_s();
        for (long i = 0; i < lookups; i++) {
            size_t len;
            const char *t = term_at(&ts, pick[i], &len);
            int64_t o = pass ? fst_lookup(&x, t, len) : fc_lookup(&f, t, len);
            if (o != (int64_t)pick[i]) {
                fprintf(stderr, "termbench: %s lookup of term %zu gave %lld\n",
                        pass ? "FST" : "front-coded", pick[i], (long long)o);
                return 1;
            }
        }
        (pass ? &fst_hit : &fc_hit)[0] = (now_s() - t0) / (double)lookups * 1e6;
        t0 = now_s();
        for (long i = 0; i < lookups; i++) {
            size_t len;
            const char *t = term_at(&ts, pick[i], &len);
            char k[SEG_MAX_TERM + 1];
            memcpy(k, t, len);
            k[len] = '\x01'; /* sorts before every byte terms use after a prefix */
            int64_t o = pass ? fst_lookup(&x, k, len + 1) : fc_lookup(&f, k, len + 1);
            if (o >= 0 && (size_t)o < ts.n) {
                size_t ol;
                const char *ot = term_at(&ts, (size_t)o, &ol);
                if (cmp_bytes(ot, ol, k, len + 1) != 0) {
                    fprintf(stderr, "termbench: a wrong term for an absent key\n");
                    return 1;
                }
            }
        }
        (pass ? &fst_miss : &fc_miss)[0] = (now_s() - t0) / (double)lookups * 1e6;
    }
    /* prefix walks: the first 3 bytes after the field of random terms */
    long nprefix = lookups / 100 ? lookups / 100 : 1;
    double fc_pre = 0, fst_pre = 0;
    uint64_t matched = 0;
    for (long i = 0; i < nprefix; i++) {
        size_t len;
        const char *t = term_at(&ts, pick[i], &len);
        const char *colon = memchr(t, ':', len);
        size_t plen = colon ? (size_t)(colon - t) + 4 : 4;
        if (plen > len)
            plen = len;
        t0 = now_s();
        uint64_t a = fc_prefix_count(&f, t, plen);
        fc_pre += now_s() - t0;
        t0 = now_s();
        uint64_t b = fst_prefix_count(&x, t, plen);
        fst_pre += now_s() - t0;
        if (a != b || a == 0) {
            fprintf(stderr, "termbench: prefix %.*s: %llu vs %llu terms\n", (int)plen, t,
                    (unsigned long long)a, (unsigned long long)b);
            return 1;
        }
        matched += a;
    }
    size_t fst_bytes = x.bytes.len;
    printf("{\"segment\":\"%s\",\"terms\":%zu,\"raw_bytes\":%zu,"
           "\"front_coded\":{\"bytes\":%zu,\"build_s\":%.3f,\"lookup_us\":%.3f,"
           "\"absent_us\":%.3f,\"prefix_us\":%.1f},"
           "\"fst\":{\"bytes\":%zu,\"build_s\":%.3f,\"lookup_us\":%.3f,"
           "\"absent_us\":%.3f,\"prefix_us\":%.1f},\"prefix_terms_avg\":%.1f,"
           "\"zstd_level\":%d}\n",
           path, ts.n, ts.bytes.len, fc_bytes(&f), fc_build_s, fc_hit, fc_miss,
           fc_pre / (double)nprefix * 1e6, fst_bytes, fst_build_s, fst_hit, fst_miss,
           fst_pre / (double)nprefix * 1e6, (double)matched / (double)nprefix, level);
    free(pick);
    sb_free(&x.bytes);
    fc_free(&f);
    sb_free(&ts.bytes);
    free(ts.off);
    return 0;
}
