/*
 * segment/eliasfano.c - Elias-Fano postings lists (layout in eliasfano.h).
 */
#include "eliasfano.h"

#include <string.h>

/* The low bits per row for n rows up to last: floor(log2((last + 1) / n)),
 * clamped to EF_MAX_LOW_BITS. */
static unsigned low_bits(uint32_t last, uint32_t n)
{
    uint64_t q = ((uint64_t)last + 1) / n;
    if (q < 2)
        return 0;
    unsigned l = 63u - (unsigned)__builtin_clzll(q);
    return l > EF_MAX_LOW_BITS ? EF_MAX_LOW_BITS : l;
}

/* Bytes of the low part and the high part for n rows up to last with L. */
static size_t low_bytes(uint32_t n, unsigned l)
{
    return ((uint64_t)n * l + 7) / 8;
}
static size_t high_bytes(uint32_t last, uint32_t n, unsigned l)
{
    return (((uint64_t)last >> l) + n + 7) / 8;
}

size_t ef_size(const uint32_t *rows, uint32_t n)
{
    unsigned l = low_bits(rows[n - 1], n);
    return 1 + low_bytes(n, l) + high_bytes(rows[n - 1], n, l);
}

int ef_put(strbuf *out, const uint32_t *rows, uint32_t n)
{
    uint32_t last = rows[n - 1];
    unsigned l = low_bits(last, n);
    size_t lo = low_bytes(n, l), hi = high_bytes(last, n, l);
    if (sb_reserve(out, 1 + lo + hi) < 0)
        return -1;
    uint8_t *p = (uint8_t *)out->buf + out->len;
    memset(p, 0, 1 + lo + hi);
    p[0] = (uint8_t)l;
    uint8_t *low = p + 1, *high = p + 1 + lo;
    uint32_t mask = l ? (uint32_t)((1ull << l) - 1) : 0;
    uint64_t acc = 0; /* low bits not yet stored, LSB-first */
    unsigned have = 0;
    size_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        acc |= (uint64_t)(rows[i] & mask) << have;
        have += l;
        while (have >= 8) {
            low[at++] = (uint8_t)acc;
            acc >>= 8;
            have -= 8;
        }
        uint64_t bit = ((uint64_t)rows[i] >> l) + i;
        high[bit >> 3] |= (uint8_t)(1u << (bit & 7));
    }
    if (have)
        low[at] = (uint8_t)acc;
    out->len += 1 + lo + hi;
    out->buf[out->len] = 0;
    return 0;
}

/* 8 bytes at p as a little-endian u64, in one load (the decoder reads a
 * word per row: codec.h's byte-by-byte load_u64 cost a third of it). */
static inline uint64_t le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* Row i's low bits from the low part (lo bytes at low). */
static inline uint32_t get_low(const uint8_t *low, size_t lo, uint32_t i, unsigned l)
{
    uint64_t bit = (uint64_t)i * l;
    size_t at = (size_t)(bit >> 3);
    uint64_t w = 0;
    if (at + 8 <= lo) {
        w = le64(low + at);
    } else {
        for (size_t k = 0; at + k < lo && k < 8; k++)
            w |= (uint64_t)low[at + k] << (8 * k);
    }
    return (uint32_t)((w >> (bit & 7)) & ((1ull << l) - 1));
}

int ef_decode(const uint8_t *p, size_t len, uint32_t n, uint64_t limit, uint32_t *rows)
{
    if (n == 0 || len < 2 || p[0] > EF_MAX_LOW_BITS)
        return -1;
    unsigned l = p[0];
    size_t lo = low_bytes(n, l);
    if (lo > len - 1 || len - 1 - lo == 0)
        return -1;
    const uint8_t *low = p + 1, *high = p + 1 + lo;
    size_t hi = len - 1 - lo;
    if (high[hi - 1] == 0)
        return -1;
    uint32_t i = 0;
    uint64_t prev = 0;
    for (size_t b = 0; b < hi; b += 8) { /* 64 bits of the high part at a time */
        uint64_t word = 0;
        if (hi - b >= 8) {
            word = le64(high + b);
        } else {
            for (size_t k = 0; b + k < hi; k++)
                word |= (uint64_t)high[b + k] << (8 * k);
        }
        while (word) {
            unsigned k = (unsigned)__builtin_ctzll(word);
            word &= word - 1;
            uint64_t pos = (uint64_t)b * 8 + k;
            if (i == n)
                return -1;
            if (pos - i > (limit >> l)) /* the shift below would pass 64 bits */
                return -1;
            uint64_t row = ((pos - i) << l) | (l ? get_low(low, lo, i, l) : 0);
            if (row >= limit || (i && row <= prev))
                return -1;
            rows[i++] = (uint32_t)row;
            prev = row;
        }
    }
    return i == n ? 0 : -1;
}
