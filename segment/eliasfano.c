/*
 * segment/eliasfano.c - Elias-Fano postings lists (layout in eliasfano.h).
 */
#include "eliasfano.h"

#include <string.h>

#include "codec.h"

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
/* Bytes of the unary high parts of n values up to last with l low bits each. */
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
    size_t hi = high_bytes(last, n, l);
    put_u8(out, (uint8_t)l);
    put_packed(out, rows, n, l); /* the low part: each row's l low bits */
    if (sb_reserve(out, hi) < 0)
        return -1;
    uint8_t *high = (uint8_t *)out->buf + out->len;
    memset(high, 0, hi);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t bit = ((uint64_t)rows[i] >> l) + i;
        high[bit >> 3] |= (uint8_t)(1u << (bit & 7));
    }
    out->len += hi;
    out->buf[out->len] = 0;
    return out->oom ? -1 : 0;
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
        uint64_t word = load_le(high + b, hi - b < 8 ? hi - b : 8);
        while (word) {
            unsigned k = (unsigned)__builtin_ctzll(word);
            word &= word - 1;
            uint64_t pos = (uint64_t)b * 8 + k;
            if (i == n)
                return -1;
            if (pos - i > (limit >> l)) /* the shift below would pass 64 bits */
                return -1;
            uint64_t row = ((pos - i) << l) | get_packed(low, lo, i, l);
            if (row >= limit || (i && row <= prev))
                return -1;
            rows[i++] = (uint32_t)row;
            prev = row;
        }
    }
    return i == n ? 0 : -1;
}
