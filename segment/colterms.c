/*
 * segment/colterms.c - columns that hold their own terms (format.h: HEX
 * meta columns, service, host and dictionary meta columns), the pieces the writer, the merge and
 * the reader share: which keys and values qualify, which terms a dictionary of terms holds (its
 * values' tokens), and how a value of hex digits is parsed, packed two digits a byte and printed
 * back.
 */
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "codec.h"
#include "format.h"
#include "segment.h"
#include "strtab.h"
#include "tokenize.h"

/* "meta." + key + ":" + the longest token must fit a term, else terms.c
 * indexes nothing of the key and a column must not claim its namespace. */
int seg_key_holds_terms(const char *key, size_t klen)
{
    return SEG_NS_LEN(SEG_NS_META) + klen + 1 + TOK_MAX_BYTES <= SEG_MAX_TERM &&
           !memchr(key, ':', klen);
}

void seg_colcheck_init(seg_colcheck *h, const char *key, size_t klen)
{
    h->ok = h->single = (uint8_t)seg_key_holds_terms(key, klen);
    h->digits = 0;
    h->last = 0;
}

/* 0-15 for a lowercase hex digit, -1 for anything else. */
static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

void seg_colcheck_see(seg_colcheck *h, uint64_t row, uint8_t type, const char *v, size_t len)
{
    if (type != STRATA_VALUE_STRING || h->last == row + 1) {
        h->ok = h->single = 0;
        return;
    }
    h->last = row + 1;
    if (!h->ok)
        return;
    if (len < SEG_HEX_MIN_DIGITS || len > SEG_HEX_MAX_DIGITS || (h->digits && len != h->digits)) {
        h->ok = 0;
        return;
    }
    for (size_t i = 0; i < len; i++)
        if (hex_digit(v[i]) < 0) {
            h->ok = 0;
            return;
        }
    h->digits = (uint8_t)len;
}

/* Whether a value is among its own tokens (tokenizer callback state). */
typedef struct selfcheck {
    const char *v;
    size_t n;
    int self;
} selfcheck;

/* Tokenizer callback: note a token equal to the whole value. */
static void see_self(void *ud, const char *t, size_t n)
{
    selfcheck *c = ud;
    c->self |= n == c->n && !memcmp(t, c->v, n);
}

int seg_value_is_term(const char *v, size_t n)
{
    selfcheck c = {v, n, 0};
    if (n == 0 || n > TOK_MAX_BYTES || memchr(v, ':', n))
        return 0;
    tokenize(v, n, see_self, &c);
    return c.self;
}

/* Tokenizer callback state of seg_held_intern. */
typedef struct heldin {
    strtab *t;
    seg_held_fn fn;
    void *ud;
    int oom;
} heldin;

/* Tokenizer callback: intern one token of a value and report its id. */
static void intern_token(void *ud, const char *tok, size_t n)
{
    heldin *h = ud;
    int64_t id = h->oom ? -1 : strtab_intern(h->t, tok, n);
    if (id < 0) {
        h->oom = 1;
        return;
    }
    if (h->fn)
        h->fn(h->ud, (uint32_t)id);
}

int seg_held_intern(strtab *t, const char *v, size_t n, seg_held_fn fn, void *ud)
{
    heldin h = {t, fn, ud, 0};
    tokenize(v, n, intern_token, &h);
    return h.oom ? -1 : 0;
}

int64_t seg_held_count(const sref *vals, size_t n)
{
    strtab t = {0};
    int64_t held = 0;
    for (size_t i = 0; i < n && held >= 0; i++)
        if (seg_held_intern(&t, vals[i].s, vals[i].len, NULL, NULL) < 0)
            held = -1;
    if (held == 0)
        held = (int64_t)t.n;
    strtab_free(&t);
    return held;
}

int seg_column_value(const char *rest, size_t n, unsigned digits)
{
    if (digits) {
        if (n != digits)
            return 0;
        for (size_t i = 0; i < n; i++)
            if (hex_digit(rest[i]) < 0)
                return 0;
        return 1;
    }
    return n > 0 && !memchr(rest, ':', n);
}

int seg_colterms_has(const seg_colterms *ct, const char *t, size_t len)
{
    const size_t svc = SEG_NS_LEN(SEG_NS_SERVICE), host = SEG_NS_LEN(SEG_NS_HOST);
    const size_t meta = SEG_NS_LEN(SEG_NS_META);
    if ((ct->flags & SEG_FLAG_SERVICE_TERMS) && len >= svc && !memcmp(t, SEG_NS_SERVICE, svc))
        return 1;
    if ((ct->flags & SEG_FLAG_HOST_TERMS) && len >= host && !memcmp(t, SEG_NS_HOST, host))
        return 1;
    if (!ct->n || len < meta || memcmp(t, SEG_NS_META, meta) != 0)
        return 0;
    for (uint32_t i = 0; i < ct->n; i++) {
        size_t kl = ct->key[i].len;
        if (len > meta + kl && t[meta + kl] == ':' && !memcmp(t + meta, ct->key[i].ptr, kl) &&
            seg_column_value(t + meta + kl + 1, len - meta - kl - 1, ct->digits[i]))
            return 1;
    }
    return 0;
}

int seg_name_is_term(const char *v, size_t n)
{
    if (n > TOK_MAX_BYTES)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] >= 'A' && v[i] <= 'Z')
            return 0;
    return 1;
}

/* The 128-bit number of up to 32 lowercase hex digits (the caller checked them). */
seg_hex128 seg_hex_parse(const char *v, size_t n)
{
    seg_hex128 x = {0, 0};
    for (size_t i = 0; i < n; i++) {
        int d = hex_digit(v[i]);
        x.hi = x.hi << 4 | x.lo >> 60;
        x.lo = x.lo << 4 | (uint64_t)(d < 0 ? 0 : d);
    }
    return x;
}

int seg_hex_cmp(seg_hex128 a, seg_hex128 b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    return (a.lo > b.lo) - (a.lo < b.lo);
}

/* Order (hex value, row) pairs by value, then row. */
static int cmp_hexrow(const void *x, const void *y)
{
    const seg_hexrow *a = x, *b = y;
    int c = seg_hex_cmp(a->v, b->v);
    return c ? c : (a->row > b->row) - (a->row < b->row);
}

/* Sort (hex value, row) pairs by value, then row. */
void seg_hexrow_sort(seg_hexrow *a, size_t n)
{
    qsort(a, n, sizeof *a, cmp_hexrow);
}

void seg_hex_pack(seg_hex128 v, size_t n, uint8_t *out)
{
    /* the value's low ceil(n / 2) bytes, big-endian, after a shift by a
     * digit when n is odd (so the first digit lands in a high nibble) */
    if (n % 2) {
        v.hi = v.hi << 4 | v.lo >> 60;
        v.lo <<= 4;
    }
    size_t nb = seg_hex_bytes(n);
    for (size_t i = 0; i < nb; i++) {
        size_t k = nb - 1 - i; /* byte k of the value, from the least significant */
        out[i] = (uint8_t)(k >= 8 ? v.hi >> (8 * (k - 8)) : v.lo >> (8 * k));
    }
}

void seg_hex_unpack(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++)
        out[i] = digits[i % 2 ? p[i / 2] & 15 : p[i / 2] >> 4];
}

/* ---- HEX values as an Elias-Fano sequence ------------------------------------ */

unsigned seg_hex_ef_low_bits(uint64_t n, unsigned digits)
{
    unsigned bits = 4 * digits, lg = 0;
    while (lg < bits && (1ull << lg) < n)
        lg++;
    return bits - lg;
}

/* v >> s, s <= 128 (128: a single value keeps all its bits low), for
 * results below 2^64. */
static uint64_t shr128(seg_hex128 v, unsigned s)
{
    if (s >= 128)
        return 0;
    if (s >= 64)
        return v.hi >> (s - 64);
    return s ? v.lo >> s | v.hi << (64 - s) : v.lo;
}

/* Write the nb (<= 64) low bits of x at bit pos of p (zeroed), LSB-first,
 * a byte at a time. */
static void put_bits(uint8_t *p, uint64_t pos, uint64_t x, unsigned nb)
{
    if (nb < 64)
        x &= (1ull << nb) - 1;
    uint64_t b = pos / 8;
    unsigned off = (unsigned)(pos % 8), done = 0;
    while (done < nb) {
        p[b++] |= (uint8_t)((x >> done) << off);
        done += 8 - off;
        off = 0;
    }
}

/* nb (<= 64) bits at bit pos of p, LSB-first, a byte at a time. */
static uint64_t get_bits(const uint8_t *p, uint64_t pos, unsigned nb)
{
    uint64_t x = 0, b = pos / 8;
    unsigned off = (unsigned)(pos % 8), got = 0;
    while (got < nb) {
        x |= (uint64_t)(p[b++] >> off) << got;
        got += 8 - off;
        off = 0;
    }
    return nb < 64 ? x & ((1ull << nb) - 1) : x;
}

/* Append `bytes` of nbytes zero bytes to out (the caller sets bits in
 * them); where they start in out, or SIZE_MAX on OOM. */
static size_t put_zero_bytes(strbuf *out, uint64_t nbytes)
{
    put_varint(out, nbytes);
    if (out->oom || sb_reserve(out, nbytes) < 0)
        return SIZE_MAX;
    size_t at = out->len;
    memset(out->buf + at, 0, nbytes);
    out->len += nbytes;
    return at;
}

int seg_hex_ef_put(strbuf *out, const seg_hex128 *v, size_t n, unsigned digits)
{
    unsigned L = seg_hex_ef_low_bits(n, digits);
    put_u8(out, (uint8_t)L);
    size_t at = put_zero_bytes(out, ((uint64_t)n * L + 7) / 8);
    if (at == SIZE_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint8_t *low = (uint8_t *)out->buf + at;
        uint64_t pos = (uint64_t)i * L;
        put_bits(low, pos, v[i].lo, L < 64 ? L : 64);
        if (L > 64)
            put_bits(low, pos + 64, v[i].hi, L - 64);
    }
    uint64_t hbits = n ? shr128(v[n - 1], L) + n : 0; /* the last set bit + 1 */
    at = put_zero_bytes(out, (hbits + 7) / 8);
    if (at == SIZE_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint64_t p = shr128(v[i], L) + i;
        out->buf[at + p / 8] = (char)((uint8_t)out->buf[at + p / 8] | (1u << (p % 8)));
    }
    return out->oom ? -1 : 0;
}

int seg_hex_ef_get(unsigned L, const uint8_t *low, size_t lowlen, const uint8_t *high,
                   size_t highlen, size_t n, unsigned digits, uint8_t *out)
{
    unsigned bits = 4 * digits;
    if (L != seg_hex_ef_low_bits(n, digits) || lowlen != ((uint64_t)n * L + 7) / 8 ||
        (n ? !highlen || !high[highlen - 1] : highlen != 0))
        return -1;
    size_t vb = seg_hex_bytes(digits), i = 0;
    for (uint64_t byte = 0; byte < highlen; byte++)
        for (unsigned set = high[byte]; set; set &= set - 1) {
            uint64_t p = byte * 8 + (unsigned)__builtin_ctz(set);
            uint64_t h = p - i; /* bits - L <= 26 (n <= SEG_MAX_EVENTS): it fits */
            if (i == n || h >> (bits - L) != 0)
                return -1;
            uint64_t pos = (uint64_t)i * L;
            seg_hex128 v = {L > 64 ? get_bits(low, pos + 64, L - 64) : 0,
                            get_bits(low, pos, L < 64 ? L : 64)};
            if (L >= 64)
                v.hi |= L >= 128 ? 0 : h << (L - 64);
            else {
                v.lo |= h << L;
                v.hi |= L ? h >> (64 - L) : 0;
            }
            seg_hex_pack(v, digits, out + i * vb);
            i++;
        }
    return i == n ? 0 : -1;
}
