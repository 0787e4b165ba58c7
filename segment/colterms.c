/*
 * segment/colterms.c - columns that hold their own terms (format.h: HEX
 * meta columns from version 6, service, host and dictionary meta columns
 * from version 7), the pieces the writer, the merge and the reader share:
 * which keys and values qualify, and how a value of hex digits is parsed,
 * packed two digits a byte and printed back.
 */
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "format.h"
#include "segment.h"
#include "tokenize.h"

/* "meta." + key + ":" + the longest token must fit a term, else terms.c
 * indexes nothing of the key and a column must not claim its namespace. */
int seg_key_holds_terms(const char *key, size_t klen)
{
    return 5 + klen + 1 + TOK_MAX_BYTES <= SEG_MAX_TERM && !memchr(key, ':', klen);
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

/* Counts the tokens of a value and whether the first is the whole value. */
typedef struct tokcount {
    const char *v;
    size_t n;
    unsigned tokens;
    int self;
} tokcount;

static void count_token(void *ud, const char *t, size_t n)
{
    tokcount *c = ud;
    if (c->tokens++ == 0)
        c->self = n == c->n && !memcmp(t, c->v, n);
}

int seg_value_is_term(const char *v, size_t n)
{
    tokcount c = {v, n, 0, 0};
    if (n == 0 || n > TOK_MAX_BYTES)
        return 0;
    tokenize(v, n, count_token, &c);
    return c.tokens == 1 && c.self;
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
    if ((ct->flags & SEG_FLAG_SERVICE_TERMS) && len >= 8 && !memcmp(t, "service:", 8))
        return 1;
    if ((ct->flags & SEG_FLAG_HOST_TERMS) && len >= 5 && !memcmp(t, "host:", 5))
        return 1;
    if (!ct->n || len < 5 || memcmp(t, "meta.", 5) != 0)
        return 0;
    for (uint32_t i = 0; i < ct->n; i++) {
        size_t kl = ct->key[i].len;
        if (len > 5 + kl && t[5 + kl] == ':' && !memcmp(t + 5, ct->key[i].ptr, kl) &&
            seg_column_value(t + 5 + kl + 1, len - 5 - kl - 1, ct->digits[i]))
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

static int cmp_hexrow(const void *x, const void *y)
{
    const seg_hexrow *a = x, *b = y;
    int c = seg_hex_cmp(a->v, b->v);
    return c ? c : (a->row > b->row) - (a->row < b->row);
}

void seg_hexrow_sort(seg_hexrow *a, size_t n)
{
    qsort(a, n, sizeof *a, cmp_hexrow);
}

/* Digit i (0: the first) of a value of n digits. */
static unsigned digit_at(seg_hex128 v, size_t n, size_t i)
{
    size_t shift = 4 * (n - 1 - i);
    uint64_t w = shift >= 64 ? v.hi >> (shift - 64) : v.lo >> shift;
    return (unsigned)(w & 15);
}

void seg_hex_pack(seg_hex128 v, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i += 2) {
        unsigned hi = digit_at(v, n, i), lo = i + 1 < n ? digit_at(v, n, i + 1) : 0;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
}

void seg_hex_unpack(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++)
        out[i] = digits[i % 2 ? p[i / 2] & 15 : p[i / 2] >> 4];
}
