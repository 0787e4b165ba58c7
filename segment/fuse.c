/*
 * segment/fuse.c - binary fuse filters: the segment filter
 * (SEC_TERM_FILTER, over every term's hash) and the block filter
 * (SEC_BLOCK_FILTER, over every (term, block) pair but the common terms').
 *
 * A binary fuse filter (Graf and Lemire, "Binary Fuse Filters: Fast and
 * Smaller Than Xor Filters", 2022) keeps a w-bit fingerprint in each slot of
 * an array of about 1.125 n slots (arity 3) or 1.075 n (arity 4). A key
 * hashes to one slot in each of `arity` consecutive windows of the array;
 * it is in the set when the XOR of those slots equals its fingerprint. So no
 * key of the set is ever missed, and another key passes with probability
 * 2^-w: a bloom filter needs 1.44 w bits per key for that rate, this one
 * 1.075 w at arity 4 (SEG_FUSE_ARITY). Building peels the keys off the slots one at a time (a slot
 * holding one key fixes that key's last slot), then fills the slots in the
 * reverse order; a seed that does not peel is retried with the next.
 *
 * The keys are split into parts by their top bits, each part a filter of
 * its own, so that the streaming merge builds one part at a time in bounded
 * memory. Layout (format.h, SEG_FILTER_WIDTH; docs/ARCHITECTURE.md):
 *
 *   u8 w | u8 arity | u8 part_log | 2^part_log x (u64 seed | u8 seg_log |
 *   u32 seg_count | u64 offset) | each part's slots, w bits each, least
 *   significant bit first, from its offset (a part's first byte)
 *
 * A part of seg_count segments has (seg_count + arity - 1) << seg_log
 * slots; seg_count 0 is an empty part that holds no key.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "codec.h"
#include "segment_int.h"

/* A part's header: u64 seed, u8 seg_log, u32 seg_count, u64 offset. */
#define FUSE_PART_HEAD_BYTES 21u
/* The filter's header: u8 w, u8 arity, u8 part_log. */
#define FUSE_HEAD_BYTES 3u
/* Seeds tried at one array size before it grows by a segment: a seed
 * fails to peel rarely at these sizes (under 1% of parts past a few
 * hundred keys), so growing is for tiny parts' bad luck. */
#define FUSE_TRIES_PER_SIZE 8u
/* Top hash bits the keys are sorted by before they are counted into their
 * slots: at most 2^16 runs of keys, each landing in a few segments. */
#define FUSE_SORT_BITS 16u
/* The seeds: successive values of one mix, the same for every builder so
 * that the same keys give the same bytes. */
#define FUSE_SEED_BASE 0x5ee6f17e5eedull

/* ---- hashing --------------------------------------------------------------------------- */

/* A 64-bit mixer (the murmur3 finalizer): every output bit depends on
 * every input bit, so a key's slots and fingerprint look independent. */
static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* The high 64 bits of a * b: a value in [0, b) spread as a is over 2^64. */
static uint64_t mulhi(uint64_t a, uint64_t b)
{
    uint64_t al = (uint32_t)a, ah = a >> 32, bl = (uint32_t)b, bh = b >> 32;
    uint64_t ll = al * bl, hl = ah * bl, lh = al * bh, hh = ah * bh;
    uint64_t mid = (ll >> 32) + (uint32_t)hl + lh; /* at most 2^64 - 1 */
    return hh + (hl >> 32) + (mid >> 32);
}

uint64_t seg_fuse_pair_key(uint64_t term_hash, uint32_t block)
{
    return mix64(term_hash ^ ((uint64_t)block + 1) * 0x9e3779b97f4a7c15ull);
}

uint64_t seg_fuse_part_keys(uint32_t opt)
{
    if (opt == 0)
        return SEG_FUSE_PART_KEYS;
    return opt > SEG_FUSE_MAX_PART_KEYS ? SEG_FUSE_MAX_PART_KEYS : opt;
}

unsigned seg_fuse_part_log(uint64_t n, uint64_t part_keys)
{
    unsigned lg = 0;
    while (lg < SEG_FUSE_MAX_PART_LOG && (n >> lg) > part_keys)
        lg++;
    return lg;
}

uint32_t seg_fuse_part(uint64_t key, unsigned part_log)
{
    return part_log ? (uint32_t)(key >> (64 - part_log)) : 0;
}

/* The slots of a key's hash in a part of seg_count_len = seg_count <<
 * seg_log slots' windows: the first anywhere in the first seg_count
 * segments, each next one in the following segment. */
static void slots_of(uint64_t hash, unsigned seg_log, uint64_t seg_count_len, unsigned arity,
                     uint64_t pos[4])
{
    uint64_t len = 1ull << seg_log, mask = len - 1;
    uint64_t h0 = mulhi(hash, seg_count_len);
    pos[0] = h0;
    pos[1] = (h0 + len) ^ ((hash >> 18) & mask);
    pos[2] = (h0 + 2 * len) ^ (hash & mask);
    pos[3] = (h0 + 3 * len) ^ ((hash >> 36) & mask); /* arity 4 only */
}

/* The w-bit fingerprint a fuse filter stores for a key's hash. */
static unsigned fingerprint(uint64_t hash, unsigned w)
{
    return (unsigned)((hash ^ (hash >> 32)) & ((1u << w) - 1));
}

/* ---- building ----------------------------------------------------------------------------- */

/* The array for n keys: segments of 2^seg_log slots, seg_count of them
 * where a key's first slot may fall (the paper's sizing, by arity). */
static void part_shape(size_t n, unsigned arity, unsigned *seg_log, uint32_t *seg_count)
{
    if (n == 0) {
        *seg_log = 0;
        *seg_count = 0;
        return;
    }
    double dn = n < 2 ? 2.0 : (double)n, lg, factor;
    if (arity == 3) {
        lg = floor(log(dn) / log(3.33) + 2.25);
        factor = fmax(1.125, 0.875 + 0.25 * log(1e6) / log(dn));
    } else {
        lg = floor(log(dn) / log(2.91) - 0.5);
        factor = fmax(1.075, 0.77 + 0.305 * log(6e5) / log(dn));
    }
    unsigned sl = lg < 0 ? 0 : lg > SEG_FUSE_MAX_SEG_LOG ? SEG_FUSE_MAX_SEG_LOG : (unsigned)lg;
    uint64_t slots = (uint64_t)ceil(dn * factor);
    uint64_t segs = (slots + (1ull << sl) - 1) >> sl;
    segs = segs > arity - 1 ? segs - (arity - 1) : 1;
    *seg_log = sl;
    *seg_count = (uint32_t)segs;
}

void seg_fuse_begin(seg_fuse *f, unsigned w, unsigned arity, unsigned part_log)
{
    f->w = w;
    f->arity = arity;
    f->part_log = part_log;
    f->parts_done = 0;
    sb_reset(&f->head);
    sb_reset(&f->bits);
}

/* Room for n keys in an array of len slots; 0 or -1 on OOM. */
static int fuse_reserve(seg_fuse *f, size_t n, size_t len)
{
    if (n > f->key_cap) {
        uint64_t *rev = realloc(f->rev, n * sizeof *rev);
        if (!rev)
            return -1;
        f->rev = rev;
        uint8_t *revi = realloc(f->revi, n);
        if (!revi)
            return -1;
        f->revi = revi;
        f->key_cap = n;
    }
    if (len > f->slot_cap) {
        uint32_t *count = realloc(f->count, len * sizeof *count);
        if (!count)
            return -1;
        f->count = count;
        uint64_t *xhash = realloc(f->xhash, len * sizeof *xhash);
        if (!xhash)
            return -1;
        f->xhash = xhash;
        uint32_t *alone = realloc(f->alone, len * sizeof *alone);
        if (!alone)
            return -1;
        f->alone = alone;
        uint8_t *fp = realloc(f->fp, len);
        if (!fp)
            return -1;
        f->fp = fp;
        f->slot_cap = len;
    }
    return 0;
}

/* Peel n keys at seed off an array of len slots: 1 when every key peeled
 * (f->rev and f->revi then hold them in peeling order), else 0. */
static int peel(seg_fuse *f, const uint64_t *keys, size_t n, uint64_t seed, unsigned seg_log,
                uint64_t seg_count_len, size_t len)
{
    unsigned arity = f->arity;
    uint64_t pos[4];
    memset(f->count, 0, len * sizeof *f->count);
    memset(f->xhash, 0, len * sizeof *f->xhash);
    /* the hashes in the order of their first slot (a counting sort by
     * their top bits, into rev, counted in alone): each key's slots are
     * then near the last key's, not anywhere in the array. The result does
     * not depend on the order (counts and XORs). */
    uint64_t segs = seg_count_len >> seg_log;
    unsigned bits = 0;
    while (bits < FUSE_SORT_BITS && (2ull << bits) <= segs)
        bits++;
    uint32_t *at = f->alone; /* 2^bits <= seg_count <= len */
    memset(at, 0, ((size_t)1 << bits) * sizeof *at);
    for (size_t i = 0; i < n; i++)
        at[bits ? mix64(keys[i] + seed) >> (64 - bits) : 0]++;
    for (uint32_t b = 0, sum = 0; b < 1u << bits; b++) {
        uint32_t c = at[b];
        at[b] = sum;
        sum += c;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t hash = mix64(keys[i] + seed);
        f->rev[at[bits ? hash >> (64 - bits) : 0]++] = hash;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t hash = f->rev[i];
        slots_of(hash, seg_log, seg_count_len, arity, pos);
        for (unsigned j = 0; j < arity; j++) {
            /* a slot's count in the bits above 2, the XOR of which of
             * their slots it is for its keys below: with one key left,
             * that key's index */
            f->count[pos[j]] += 4;
            f->count[pos[j]] ^= j;
            f->xhash[pos[j]] ^= hash;
        }
    }
    size_t q = 0, done = 0;
    for (size_t s = 0; s < len; s++)
        if (f->count[s] >> 2 == 1)
            f->alone[q++] = (uint32_t)s;
    while (q) {
        uint32_t s = f->alone[--q];
        if (f->count[s] >> 2 != 1)
            continue; /* emptied since it was queued */
        uint64_t hash = f->xhash[s];
        unsigned found = f->count[s] & 3;
        f->rev[done] = hash;
        f->revi[done++] = (uint8_t)found;
        slots_of(hash, seg_log, seg_count_len, arity, pos);
        for (unsigned j = 0; j < arity; j++) {
            uint64_t o = pos[j];
            if (j != found && f->count[o] >> 2 == 2)
                f->alone[q++] = (uint32_t)o; /* about to hold one key */
            f->count[o] -= 4;
            f->count[o] ^= j;
            f->xhash[o] ^= hash;
        }
    }
    return done == n;
}

/* Append len w-bit values, least significant bit first. */
static void pack(strbuf *out, const uint8_t *v, size_t len, unsigned w)
{
    size_t bytes = (len * w + 7) / 8;
    if (sb_reserve(out, bytes) < 0)
        return; /* out->oom is set */
    uint8_t *p = (uint8_t *)out->buf + out->len;
    uint32_t acc = 0;
    unsigned nacc = 0;
    for (size_t i = 0; i < len; i++) {
        acc |= (uint32_t)v[i] << nacc;
        nacc += w;
        while (nacc >= 8) {
            *p++ = (uint8_t)acc;
            acc >>= 8;
            nacc -= 8;
        }
    }
    if (nacc)
        *p = (uint8_t)acc;
    out->len += bytes;
}

int seg_fuse_add_part(seg_fuse *f, uint64_t *keys, size_t n)
{
    unsigned seg_log, arity = f->arity;
    uint32_t seg_count;
    part_shape(n, arity, &seg_log, &seg_count);
    uint64_t seed = 0;
    int sorted = 0;
    for (uint32_t t = 0; n; t++) {
        if (t && t % FUSE_TRIES_PER_SIZE == 0)
            seg_count++;
        size_t len = ((size_t)seg_count + arity - 1) << seg_log;
        if (len > UINT32_MAX || fuse_reserve(f, n, len) < 0)
            return -1; /* the peel queue holds 32-bit slots: parts stay far below */
        seed = mix64(FUSE_SEED_BASE + t);
        if (peel(f, keys, n, seed, seg_log, (uint64_t)seg_count << seg_log, len))
            break;
        if (!sorted) { /* two equal keys never peel: keep one of each */
            qsort(keys, n, sizeof *keys, seg_cmp_u64);
            size_t u = 0;
            for (size_t i = 0; i < n; i++)
                if (!u || keys[i] != keys[u - 1])
                    keys[u++] = keys[i];
            sorted = 1;
            if (u < n) { /* start over as for the distinct keys: the same bytes */
                n = u;
                part_shape(n, arity, &seg_log, &seg_count);
                t = UINT32_MAX; /* 0 after the increment */
            }
        }
    }
    put_u64(&f->head, seed);
    put_u8(&f->head, (uint8_t)seg_log);
    put_u32(&f->head, seg_count);
    put_u64(&f->head, f->bits.len);
    if (n) {
        size_t len = ((size_t)seg_count + arity - 1) << seg_log;
        uint64_t pos[4];
        memset(f->fp, 0, len);
        for (size_t i = n; i-- > 0;) {
            uint64_t hash = f->rev[i];
            unsigned found = f->revi[i], v = fingerprint(hash, f->w);
            slots_of(hash, seg_log, (uint64_t)seg_count << seg_log, arity, pos);
            for (unsigned j = 0; j < arity; j++)
                if (j != found)
                    v ^= f->fp[pos[j]];
            f->fp[pos[found]] = (uint8_t)v;
        }
        pack(&f->bits, f->fp, len, f->w);
    }
    f->parts_done++;
    return f->head.oom || f->bits.oom ? -1 : 0;
}

int seg_fuse_finish(seg_fuse *f, strbuf *out)
{
    if (f->parts_done != 1u << f->part_log)
        return -1; /* a caller's bug: every part is added, in order */
    put_u8(out, (uint8_t)f->w);
    put_u8(out, (uint8_t)f->arity);
    put_u8(out, (uint8_t)f->part_log);
    sb_append(out, f->head.buf, f->head.len);
    sb_append(out, f->bits.buf, f->bits.len);
    return out->oom ? -1 : 0;
}

int seg_fuse_put(seg_fuse *f, uint64_t *keys, uint64_t *tmp, size_t n, unsigned w, unsigned arity,
                 uint64_t part_keys, strbuf *out)
{
    unsigned lg = seg_fuse_part_log(n, part_keys);
    size_t parts = (size_t)1 << lg;
    size_t *at = calloc(parts + 1, sizeof *at);
    if (!at)
        return -1;
    /* a counting sort of the keys by part, into tmp */
    for (size_t i = 0; i < n; i++)
        at[seg_fuse_part(keys[i], lg) + 1]++;
    for (size_t p = 0; p < parts; p++)
        at[p + 1] += at[p];
    for (size_t i = 0; i < n; i++)
        tmp[at[seg_fuse_part(keys[i], lg)]++] = keys[i];
    seg_fuse_begin(f, w, arity, lg);
    int rc = 0;
    for (size_t p = 0, from = 0; p < parts && rc == 0; p++) {
        rc = seg_fuse_add_part(f, tmp + from, at[p] - from);
        from = at[p];
    }
    free(at);
    return rc < 0 ? -1 : seg_fuse_finish(f, out);
}

/* Free a fuse filter builder's scratch. */
void seg_fuse_free(seg_fuse *f)
{
    free(f->count);
    free(f->xhash);
    free(f->alone);
    free(f->fp);
    free(f->rev);
    free(f->revi);
    sb_free(&f->head);
    sb_free(&f->bits);
    memset(f, 0, sizeof *f);
}

/* ---- reading ------------------------------------------------------------------------------ */

int64_t seg_fuse_parse(seg_fuse_view *v, const uint8_t *p, size_t left, const char **why)
{
    memset(v, 0, sizeof *v);
    *why = "the header is cut";
    if (left < FUSE_HEAD_BYTES)
        return -1;
    unsigned w = p[0], arity = p[1], lg = p[2];
    *why = "a fingerprint width out of range";
    if (w < 1 || w > SEG_FUSE_MAX_WIDTH)
        return -1;
    *why = "an arity other than 3 or 4";
    if (arity != 3 && arity != 4)
        return -1;
    *why = "too many parts";
    if (lg > SEG_FUSE_MAX_PART_LOG)
        return -1;
    uint64_t parts = 1ull << lg;
    left -= FUSE_HEAD_BYTES;
    *why = "the parts' headers are cut";
    if (left / FUSE_PART_HEAD_BYTES < parts)
        return -1;
    const uint8_t *head = p + FUSE_HEAD_BYTES;
    left -= parts * FUSE_PART_HEAD_BYTES;
    uint64_t off = 0;
    for (uint64_t i = 0; i < parts; i++) {
        const uint8_t *h = head + i * FUSE_PART_HEAD_BYTES;
        unsigned seg_log = h[8];
        uint64_t seg_count = load_u32(h + 9);
        *why = "a segment length out of range";
        if (seg_log > SEG_FUSE_MAX_SEG_LOG)
            return -1;
        *why = "a part's offset is not where the last one ended";
        if (load_u64(h + 13) != off)
            return -1;
        /* at most 2^32 + 3 segments of 2^18 slots of 8 bits: no overflow */
        uint64_t slots = seg_count ? (seg_count + arity - 1) << seg_log : 0;
        off += (slots * w + 7) / 8;
        *why = "parts past the section";
        if (off > left)
            return -1;
    }
    v->head = head;
    v->bits = head + parts * FUSE_PART_HEAD_BYTES;
    v->w = w;
    v->arity = arity;
    v->part_log = lg;
    *why = NULL;
    return (int64_t)(FUSE_HEAD_BYTES + parts * FUSE_PART_HEAD_BYTES + off);
}

/* Slot i's w bits (an element never reaches past its part's last byte). */
static unsigned get_slot(const uint8_t *b, uint64_t i, unsigned w)
{
    uint64_t bit = i * w;
    unsigned sh = (unsigned)(bit & 7), x = b[bit >> 3] >> sh;
    if (sh + w > 8)
        x |= (unsigned)b[(bit >> 3) + 1] << (8 - sh);
    return x & ((1u << w) - 1);
}

int seg_fuse_has(const seg_fuse_view *v, uint64_t key)
{
    if (!v->head)
        return 0;
    const uint8_t *h = v->head + (size_t)seg_fuse_part(key, v->part_log) * FUSE_PART_HEAD_BYTES;
    uint64_t seed = load_u64(h), seg_count = load_u32(h + 9);
    unsigned seg_log = h[8];
    if (!seg_count)
        return 0;
    const uint8_t *bits = v->bits + load_u64(h + 13);
    uint64_t hash = mix64(key + seed), pos[4];
    slots_of(hash, seg_log, seg_count << seg_log, v->arity, pos);
    unsigned x = fingerprint(hash, v->w);
    for (unsigned j = 0; j < v->arity; j++)
        x ^= get_slot(bits, pos[j], v->w);
    return x == 0;
}
