/*
 * segment/codec.h - the small encodings every part of a segment is built
 * from: little-endian fixed ints, LEB128 varints, zigzag, and a frame-of-
 * reference bit-packed integer column.
 *
 * Writers append to a strbuf (lib/strbuf.h: growable, remembers OOM).
 * Readers use a cursor over bytes they do not own; every read is bounds
 * checked and a failed read poisons the cursor (c->bad) so that a decoder can
 * check once at the end instead of after every field.
 */
#ifndef STRATA_SEGMENT_CODEC_H
#define STRATA_SEGMENT_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "strata/abi.h"
#include "strbuf.h"

/* Values per bit-packed frame. 128 keeps the per-frame header (base + width)
 * under 1 bit per value and lets one outlier widen only its own frame. */
#define CODEC_FRAME 128u

/* A bounded read cursor. */
typedef struct cursor {
    const uint8_t *p;
    const uint8_t *end;
    int bad; /* set by any read past the end or malformed value */
} cursor;

static inline cursor cursor_make(const void *p, size_t n)
{
    cursor c = {(const uint8_t *)p, (const uint8_t *)p + n, 0};
    return c;
}

static inline size_t cursor_left(const cursor *c)
{
    return c->bad ? 0 : (size_t)(c->end - c->p);
}

/* Zigzag without shifting a signed value: the sign becomes the low bit. */
static inline uint64_t zigzag(int64_t v)
{
    uint64_t u = (uint64_t)v;
    return (u << 1) ^ (0 - (u >> 63));
}
static inline int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Fixed-width little-endian integers appended to b. */
void put_u8(strbuf *b, uint8_t v);
void put_u16(strbuf *b, uint16_t v);
void put_u32(strbuf *b, uint32_t v);
void put_u64(strbuf *b, uint64_t v);
/* Unsigned LEB128. Inline with a fast path when the buffer has room (the
 * term dictionary and row blocks write tens of millions of them per
 * segment); otherwise the buffer grows in put_varint_grow. */
void put_varint_grow(strbuf *b, uint64_t v);
static inline void put_varint(strbuf *b, uint64_t v)
{
    if (b->len + 11 > b->cap) { /* 10 bytes at most, and the NUL */
        put_varint_grow(b, v);
        return;
    }
    uint8_t *p = (uint8_t *)b->buf + b->len;
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    b->len = (size_t)(p - (uint8_t *)b->buf);
    b->buf[b->len] = 0;
}
/* A varint length followed by the bytes. */
void put_bytes(strbuf *b, const void *p, size_t n);

/* In-place little-endian stores/loads for fixed layouts (footer, tables). */
void store_u16(uint8_t *p, uint16_t v);
void store_u32(uint8_t *p, uint32_t v);
void store_u64(uint8_t *p, uint64_t v);
/* Loads are inline and one unaligned load each (byte-swapped on a
 * big-endian host): the reader does one per block entry, term block and
 * Elias-Fano row, and byte-by-byte loads cost a third of decoding a
 * postings list. load_le reads n <= 8 bytes as a little-endian number (the
 * short tail of a packed area included). */
static inline uint64_t load_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    if (n == 8)
        memcpy(&v, p, 8); /* the common case: one load, not a call */
    else
        memcpy(&v, p, n);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v); /* the n bytes, read little-endian */
#endif
    return v;
}
static inline uint16_t load_u16(const uint8_t *p)
{
    return (uint16_t)load_le(p, 2);
}
static inline uint32_t load_u32(const uint8_t *p)
{
    return (uint32_t)load_le(p, 4);
}
static inline uint64_t load_u64(const uint8_t *p)
{
    return load_le(p, 8);
}

/* n values of `bits` bits each (0 to 32; each value's low bits), packed
 * LSB-first: value i at bit i * bits, ceil(n * bits / 8) bytes. */
void put_packed(strbuf *b, const uint32_t *v, uint32_t n, unsigned bits);
/* Value i of such a packing in len bytes at p (the caller has checked that
 * it lies within them). */
static inline uint32_t get_packed(const uint8_t *p, size_t len, uint64_t i, unsigned bits)
{
    if (!bits)
        return 0;
    uint64_t bit = i * bits;
    size_t at = (size_t)(bit >> 3);
    uint64_t w = load_le(p + at, len - at < 8 ? len - at : 8);
    return (uint32_t)((w >> (bit & 7)) & ((1ull << bits) - 1));
}

/* Read an integer at the cursor and advance; past the end they give 0 and
 * set c->bad, so a parser checks once after a run of reads. */
uint8_t get_u8(cursor *c);
uint32_t get_u32(cursor *c);
uint64_t get_u64(cursor *c);
uint64_t get_varint(cursor *c);
/* A varint length (at most `max`) and that many bytes; returns a pointer into
 * the cursor's memory and the length in *n. NULL (and c->bad) on error. */
const uint8_t *get_bytes(cursor *c, size_t max, size_t *n);

/*
 * Integer column: n signed values, each frame of CODEC_FRAME values stored as
 * varint(zigzag(min)), varint(gcd), u8 bit width, then (value - min) / gcd
 * packed LSB-first in that width (gcd: the greatest common divisor of the
 * offsets from min, so millisecond timestamps in ns cost no extra bits). Callers choose what to
 * store (deltas, differences from another column) so that the values are small.
 */
void intcol_encode(strbuf *b, const int64_t *v, size_t n);
/* The same column built one value at a time: frames are independent, so
 * pushing v[0..n) and flushing gives exactly intcol_encode(out, v, n)
 * while holding one frame. */
typedef struct intcol_stream {
    strbuf *out;
    int64_t v[CODEC_FRAME];
    size_t n;
} intcol_stream;
static inline void intcol_push(intcol_stream *s, int64_t v)
{
    s->v[s->n++] = v;
    if (s->n == CODEC_FRAME) {
        intcol_encode(s->out, s->v, s->n);
        s->n = 0;
    }
}
static inline void intcol_flush(intcol_stream *s)
{
    if (s->n)
        intcol_encode(s->out, s->v, s->n);
    s->n = 0;
}
/* Decode exactly n values into out; 0, or -1 when the bytes are malformed. */
int intcol_decode(cursor *c, int64_t *out, size_t n);

/* Is s[0..n) an integer spelled the way fmt_i64 prints it (no sign on 0,
 * no leading zeros, no '+', fits in int64)? Sets *v when it is. */
int canonical_i64(const char *s, size_t n, int64_t *v);
/* Print v in decimal into buf (at least CODEC_I64_CHARS); the length. */
#define CODEC_I64_CHARS 21
size_t fmt_i64(char *buf, int64_t v);

/* qsort comparators: uint64_t and uint32_t values, ascending. */
int seg_cmp_u64(const void *a, const void *b);
int seg_cmp_u32(const void *a, const void *b);
/* Append the smaller of two codings of one thing, a on a tie or when b is
 * NULL (not tried): 1 when b was appended, 0 when a, -1 when either or out
 * ran out of memory. */
int put_smaller(strbuf *out, const strbuf *a, const strbuf *b);
/* Append `bytes` of one zstd frame of raw[len] at level to out: 0, or -1
 * on OOM or a compression error (out->oom is set either way). */
int put_zframe(strbuf *out, const void *raw, size_t len, int level);
/*
 * A dictionary: varint count, then `bytes` of one zstd frame holding the
 * front-coded strings (per string varint bytes shared with the previous
 * one and put_bytes of the rest; those of SEG_MAX_DICT_ENTRIES at most
 * SEG_MAX_DICT_RAW bytes). Decode rebuilds the strings into one allocation
 * (*arena, the caller's to free, as is *out). `max_count` bounds what a
 * file may claim. Returns 0, -1 when the bytes are malformed, -2 on OOM.
 */
int fcdict_decode_z(cursor *c, uint32_t max_count, strata_str **out, uint32_t *n, char **arena);

#endif /* STRATA_SEGMENT_CODEC_H */
