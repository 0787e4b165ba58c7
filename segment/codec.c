/*
 * segment/codec.c - fixed ints, varints and the bit-packed integer column
 * (see codec.h for the layouts).
 */
#include "codec.h"

#include <stdlib.h>
#include <string.h>

#include "format.h"

#include <zstd.h>

/* Append one byte. */
void put_u8(strbuf *b, uint8_t v)
{
    sb_append(b, &v, 1);
}

void put_u16(strbuf *b, uint16_t v)
{
    uint8_t t[2];
    store_u16(t, v);
    sb_append(b, t, sizeof t);
}

void put_u32(strbuf *b, uint32_t v)
{
    uint8_t t[4];
    store_u32(t, v);
    sb_append(b, t, sizeof t);
}

void put_u64(strbuf *b, uint64_t v)
{
    uint8_t t[8];
    store_u64(t, v);
    sb_append(b, t, sizeof t);
}

void put_varint_grow(strbuf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    while (v >= 0x80) {
        t[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    t[n++] = (uint8_t)v;
    sb_append(b, t, n);
}

void put_bytes(strbuf *b, const void *p, size_t n)
{
    put_varint(b, n);
    sb_append(b, p, n);
}

void store_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void store_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void store_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void put_packed(strbuf *b, const uint32_t *v, uint32_t n, unsigned bits)
{
    uint64_t mask = bits ? (1ull << bits) - 1 : 0, acc = 0; /* bits not yet stored */
    unsigned have = 0;
    for (uint32_t i = 0; i < n; i++) {
        acc |= (v[i] & mask) << have;
        have += bits;
        while (have >= 8) {
            put_u8(b, (uint8_t)acc);
            acc >>= 8;
            have -= 8;
        }
    }
    if (have)
        put_u8(b, (uint8_t)acc);
}

/* Read one byte; past the end the cursor turns bad and 0 is returned. */
uint8_t get_u8(cursor *c)
{
    if (cursor_left(c) < 1) {
        c->bad = 1;
        return 0;
    }
    return *c->p++;
}

uint32_t get_u32(cursor *c)
{
    if (cursor_left(c) < 4) {
        c->bad = 1;
        return 0;
    }
    uint32_t v = load_u32(c->p);
    c->p += 4;
    return v;
}

uint64_t get_u64(cursor *c)
{
    if (cursor_left(c) < 8) {
        c->bad = 1;
        return 0;
    }
    uint64_t v = load_u64(c->p);
    c->p += 8;
    return v;
}

uint64_t get_varint(cursor *c)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (cursor_left(c) < 1)
            break;
        uint8_t byte = *c->p++;
        if (shift == 63 && byte > 1)
            break; /* more than 64 bits */
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return v;
    }
    c->bad = 1;
    return 0;
}

const uint8_t *get_bytes(cursor *c, size_t max, size_t *n)
{
    uint64_t len = get_varint(c);
    if (c->bad || len > max || len > cursor_left(c)) {
        c->bad = 1;
        *n = 0;
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += len;
    *n = (size_t)len;
    return p;
}

/* The greatest common divisor, for columns whose deltas share a factor. */
static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Bits needed for v (0 for 0). */
static unsigned bit_width(uint64_t v)
{
    return v ? 64u - (unsigned)__builtin_clzll(v) : 0u;
}

void intcol_encode(strbuf *b, const int64_t *v, size_t n)
{
    for (size_t f = 0; f < n; f += CODEC_FRAME) {
        size_t k = n - f < CODEC_FRAME ? n - f : CODEC_FRAME;
        int64_t lo = v[f], hi = v[f];
        for (size_t i = 1; i < k; i++) {
            if (v[f + i] < lo)
                lo = v[f + i];
            if (v[f + i] > hi)
                hi = v[f + i];
        }
        /* a common factor of the offsets (timestamps in ms stored as ns) */
        uint64_t g = 0;
        for (size_t i = 0; i < k && g != 1; i++)
            g = gcd64(g, (uint64_t)v[f + i] - (uint64_t)lo);
        if (g == 0)
            g = 1;
        unsigned width = bit_width(((uint64_t)hi - (uint64_t)lo) / g);
        put_varint(b, zigzag(lo));
        put_varint(b, g);
        put_u8(b, (uint8_t)width);
        uint64_t acc = 0;
        unsigned used = 0;
        for (size_t i = 0; i < k && width; i++) {
            uint64_t d = ((uint64_t)v[f + i] - (uint64_t)lo) / g;
            acc |= d << used;
            unsigned take = 64 - used < width ? 64 - used : width;
            used += take;
            if (used == 64) {
                put_u64(b, acc);
                /* the bits of d that did not fit start the next word */
                acc = take < 64 ? d >> take : 0;
                used = width - take;
            }
        }
        size_t tail = (used + 7) / 8;
        for (size_t i = 0; i < tail; i++)
            put_u8(b, (uint8_t)(acc >> (8 * i)));
    }
}

/* Read `width` bits starting at bit `bit` of an LSB-first bit stream of
 * `bytes` bytes. Values may straddle 9 bytes (width 64 at an odd offset). */
static uint64_t load_bits(const uint8_t *p, size_t bytes, size_t bit, unsigned width)
{
    size_t at = bit / 8;
    unsigned sh = (unsigned)(bit % 8);
    uint8_t tmp[9] = {0};
    size_t avail = bytes - at < sizeof tmp ? bytes - at : sizeof tmp;
    memcpy(tmp, p + at, avail);
    uint64_t v = load_u64(tmp) >> sh;
    if (sh && sh + width > 64)
        v |= (uint64_t)tmp[8] << (64 - sh);
    return width == 64 ? v : v & ((1ull << width) - 1);
}

int intcol_decode(cursor *c, int64_t *out, size_t n)
{
    for (size_t f = 0; f < n; f += CODEC_FRAME) {
        size_t k = n - f < CODEC_FRAME ? n - f : CODEC_FRAME;
        uint64_t lo = (uint64_t)unzigzag(get_varint(c));
        uint64_t g = get_varint(c);
        unsigned width = get_u8(c);
        if (c->bad || width > 64 || g == 0)
            return -1;
        size_t bytes = (k * width + 7) / 8;
        if (cursor_left(c) < bytes)
            return -1;
        for (size_t i = 0; i < k; i++)
            out[f + i] = (int64_t)(lo + g * (width ? load_bits(c->p, bytes, i * width, width) : 0));
        c->p += bytes;
    }
    return 0;
}

int seg_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int seg_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int put_smaller(strbuf *out, const strbuf *a, const strbuf *b)
{
    if (a->oom || (b && b->oom))
        return -1;
    int use_b = b && b->len < a->len;
    const strbuf *best = use_b ? b : a;
    sb_append(out, best->buf, best->len);
    return out->oom ? -1 : use_b;
}

int put_zframe(strbuf *out, const void *raw, size_t len, int level)
{
    size_t bound = ZSTD_compressBound(len);
    char *z = malloc(bound);
    size_t zn = z ? ZSTD_compress(z, bound, raw ? raw : "", len, level) : 0;
    int rc = z && !ZSTD_isError(zn) ? 0 : -1;
    if (rc == 0)
        put_bytes(out, z, zn);
    else
        out->oom = 1;
    free(z);
    return rc == 0 && !out->oom ? 0 : -1;
}

/* The front-coded strings of a dictionary of `count` entries from c (see
 * fcdict_decode_z), which must hold exactly them when `exact` is set. */
static int fcdict_parse(cursor *c, uint64_t count, uint32_t max_count, int exact, strata_str **out,
                        uint32_t *n, char **arena)
{
    *out = NULL;
    *arena = NULL;
    *n = 0;
    if (c->bad || count > max_count || count > cursor_left(c) / 2)
        return -1;
    /* first pass: the total size, each string bounded by SEG_MAX_STRING */
    cursor scan = *c;
    uint64_t total = 0, prev = 0;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t shared = get_varint(&scan);
        size_t len;
        if (!get_bytes(&scan, SEG_MAX_STRING, &len) || shared > prev ||
            shared + len > SEG_MAX_STRING || (i == 0 && shared))
            return -1;
        prev = shared + len;
        total += prev;
    }
    if ((exact && cursor_left(&scan) != 0) || total > (uint64_t)max_count * 64)
        return -1;
    *out = calloc(count ? count : 1, sizeof **out);
    *arena = malloc(total ? total : 1);
    if (!*out || !*arena) {
        free(*out);
        free(*arena);
        *out = NULL;
        *arena = NULL;
        return -2;
    }
    char *p = *arena;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t shared = get_varint(c);
        size_t len;
        const uint8_t *rest = get_bytes(c, SEG_MAX_STRING, &len);
        if (shared && i > 0) /* the first pass checked every length */
            memcpy(p, (*out)[i - 1].ptr, shared);
        memcpy(p + shared, rest, len);
        (*out)[i].ptr = p;
        (*out)[i].len = (uint32_t)(shared + len);
        p += shared + len;
    }
    *n = (uint32_t)count;
    return 0;
}

int fcdict_decode_z(cursor *c, uint32_t max_count, strata_str **out, uint32_t *n, char **arena)
{
    *out = NULL;
    *arena = NULL;
    *n = 0;
    uint64_t count = get_varint(c);
    size_t zlen;
    const uint8_t *z = get_bytes(c, SIZE_MAX, &zlen);
    if (!z || count > max_count)
        return -1;
    unsigned long long raw = ZSTD_getFrameContentSize(z, zlen);
    if (raw == ZSTD_CONTENTSIZE_ERROR || raw == ZSTD_CONTENTSIZE_UNKNOWN || raw > SEG_MAX_DICT_RAW)
        return -1;
    uint8_t *buf = malloc(raw ? raw : 1);
    if (!buf)
        return -2;
    int rc = -1;
    if (ZSTD_decompress(buf, raw, z, zlen) == raw) {
        cursor d = cursor_make(buf, raw);
        rc = fcdict_parse(&d, count, max_count, 1, out, n, arena);
    }
    free(buf);
    return rc;
}

int canonical_i64(const char *s, size_t n, int64_t *v)
{
    size_t i = 0;
    int neg = n > 0 && s[0] == '-';
    i = (size_t)neg;
    if (n == i || n - i > 19 || (s[i] == '0' && n - i > 1) || (neg && s[i] == '0'))
        return 0; /* empty, too long, a leading zero or "-0" */
    uint64_t u = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        u = u * 10 + (uint64_t)(s[i] - '0'); /* 19 digits cannot overflow u64 */
    }
    if (u > (uint64_t)INT64_MAX + (uint64_t)neg)
        return 0;
    *v = neg ? -(int64_t)(u - 1) - 1 : (int64_t)u; /* u may be 2^63 */
    if (neg && u == 0)
        return 0;
    return 1;
}

/* Write v in decimal into buf (room for CODEC_I64_CHARS); its length. */
size_t fmt_i64(char *buf, int64_t v)
{
    char t[CODEC_I64_CHARS];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        t[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t k = 0;
    if (v < 0)
        buf[k++] = '-';
    while (n)
        buf[k++] = t[--n];
    return k;
}
