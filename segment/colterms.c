/*
 * segment/colterms.c - columns that hold their own terms (format.h: HEX
 * meta columns, service, host and dictionary meta columns), the whole part:
 * what the writer, the merge and the reader share (which keys and values
 * qualify, which terms a dictionary of terms holds (its values' tokens),
 * how a value of hex digits is parsed, packed two digits a byte and printed
 * back), and the reader's side: the namespaces the columns hold, a term
 * found among a column's values, its rows by inverting the column on first
 * use, and the column-held terms under a prefix in term order.
 */
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "codec.h"
#include "format.h"
#include "reader_int.h"
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

/* ---- reading: terms held by columns (format.h) ---------------------------------- */

/* Write c's namespace ("service:", "host:", "meta.KEY:") into out (room
 * for SEG_MAX_TERM, which the writer's rules guarantee); its length. */
static size_t cns_ns(const seg_reader *r, const cns *c, char *out)
{
    /* by src: CNS_SERVICE, CNS_HOST, CNS_META */
    static const strata_str fixed[] = {{SEG_NS_SERVICE, SEG_NS_LEN(SEG_NS_SERVICE)},
                                       {SEG_NS_HOST, SEG_NS_LEN(SEG_NS_HOST)},
                                       {SEG_NS_META, SEG_NS_LEN(SEG_NS_META)}};
    strata_str f = fixed[c->src];
    memcpy(out, f.ptr, f.len);
    if (c->src != CNS_META)
        return f.len;
    strata_str k = r->keys[c->m->key];
    memcpy(out + f.len, k.ptr, k.len);
    out[f.len + k.len] = ':';
    return f.len + k.len + 1;
}

/* How many values c has (an empty one included). */
static uint32_t cns_count(const seg_reader *r, const cns *c)
{
    if (c->src == CNS_SERVICE)
        return r->n_svc;
    if (c->src == CNS_HOST)
        return r->n_host;
    return c->m->nheld;
}

/* Value v of c (HEX values printed into buf, SEG_HEX_MAX_DIGITS bytes);
 * only after cns_ready. */
static strata_str cns_value(const seg_reader *r, const cns *c, uint32_t v, char *buf)
{
    if (c->src == CNS_SERVICE)
        return r->svc_dict[v];
    if (c->src == CNS_HOST)
        return r->host_dict[v];
    const mcol *m = c->m;
    if (m->terms)
        return (strata_str){m->held[v].s, (uint32_t)m->held[v].len};
    if (!m->digits)
        return m->values[v];
    seg_hex_unpack(m->hex + (size_t)v * seg_hex_bytes(m->digits), m->digits, buf);
    return (strata_str){buf, m->digits};
}

/* The term ids of the values of a TERMS column, value by value, as seg_held_intern gives them. */
typedef struct heldpairs {
    uint32_t *tok; /* token ids, value by value */
    size_t n, cap;
    uint32_t v;
    int oom;
} heldpairs;

/* seg_held_intern callback: record that the value being interned holds term id. */
static void held_pair(void *ud, uint32_t id)
{
    heldpairs *p = ud;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 1024;
        uint32_t *t = cap <= UINT32_MAX ? realloc(p->tok, cap * sizeof *t) : NULL;
        if (!t) {
            p->oom = 1;
            return;
        }
        p->tok = t;
        p->cap = cap;
    }
    p->tok[p->n++] = id;
}

/* The terms a TERMS column holds (format.h): its values' tokens, sorted,
 * and for each value the ranks of its terms (a token a value gives twice
 * is listed once). Their count must be the one its header gives. 0, or
 * -1 with the error set. */
static int held_terms(seg_reader *r, mcol *m)
{
    if (m->held)
        return 0;
    heldpairs p = {0};
    uint32_t *rank = NULL;
    int rc = -1;
    m->val_start = calloc((size_t)m->ndict + 1, sizeof *m->val_start);
    for (uint32_t v = 0; m->val_start && v < m->ndict && !p.oom; v++) {
        p.v = v;
        if (seg_held_intern(&m->held_tab, m->values[v].ptr, m->values[v].len, held_pair, &p) < 0)
            p.oom = 1;
        m->val_start[v + 1] = (uint32_t)p.n;
    }
    if (!m->val_start || p.oom || !(rank = malloc((m->held_tab.n + 1) * sizeof *rank)) ||
        !(m->held = seg_sort_strtab(&m->held_tab, rank))) {
        seg_rd_fail(r, "out of memory");
        goto out;
    }
    if (m->held_tab.n != m->nheld) {
        seg_rd_fail(r, "segment terms column: holds %u terms, its values give %zu", m->nheld,
                    m->held_tab.n);
        goto out;
    }
    /* the pairs come value by value: keep each value's terms as ranks,
     * without the repeats of one value */
    uint32_t w = 0;
    for (uint32_t v = 0; v < m->ndict; v++) {
        uint32_t from = m->val_start[v], to = m->val_start[v + 1];
        m->val_start[v] = w;
        for (uint32_t i = from; i < to; i++) {
            uint32_t t = rank[p.tok[i]], dup = 0;
            for (uint32_t k = m->val_start[v]; k < w && !dup; k++)
                dup = p.tok[k] == t;
            if (!dup)
                p.tok[w++] = t;
        }
    }
    m->val_start[m->ndict] = w;
    m->val_terms = p.tok;
    p.tok = NULL;
    rc = 0;
out:
    free(p.tok);
    free(rank);
    if (rc < 0) {
        free(m->held);
        m->held = NULL;
    }
    return rc;
}

/* Make c's values readable (a meta column decoded, HEX order checked
 * there) and check once that they ascend strictly: lookups binary-search
 * them. 0, or -1 on corruption. */
static int cns_ready(seg_reader *r, cns *c)
{
    if (c->checked)
        return 0;
    if (c->src == CNS_META && seg_rd_decode_meta_columns(r) < 0)
        return -1;
    if (c->src == CNS_META && c->m->terms && held_terms(r, c->m) < 0)
        return -1;
    if (c->src != CNS_META || !c->m->digits) {
        char a[SEG_HEX_MAX_DIGITS], b[SEG_HEX_MAX_DIGITS];
        for (uint32_t v = 1; v < cns_count(r, c); v++) {
            strata_str x = cns_value(r, c, v - 1, a), y = cns_value(r, c, v, b);
            if (seg_term_cmp(x.ptr, x.len, y.ptr, y.len) >= 0) {
                char ns[SEG_MAX_TERM];
                size_t nl = cns_ns(r, c, ns);
                return seg_rd_fail(
                    r, "segment column holding \"%.*s\" terms: values %u and %u out of order",
                    (int)nl, ns, v - 1, v);
            }
        }
    }
    c->checked = 1;
    return 0;
}

/* cns_invert for a TERMS column: the rows of each term it holds, those
 * of every value giving the term, in one pass over the rows (so each
 * term's rows ascend). 0, or -1 (a value no row has is corruption). */
static int invert_held(seg_reader *r, cns *c)
{
    const mcol *m = c->m;
    uint32_t *seen = calloc((size_t)m->ndict + 1, sizeof *seen);
    uint32_t *st = calloc((size_t)m->nheld + 1, sizeof *st);
    uint32_t *rows = NULL;
    if (!seen || !st)
        goto oom;
    uint64_t total = 0;
    for (uint64_t row = 0; row < r->info.events; row++)
        if (m->has[row]) {
            uint32_t v = m->id[row];
            seen[v] = 1;
            for (uint32_t k = m->val_start[v]; k < m->val_start[v + 1]; k++)
                st[m->val_terms[k] + 1]++;
            total += m->val_start[v + 1] - m->val_start[v];
        }
    for (uint32_t v = 0; v < m->ndict; v++)
        if (!seen[v]) {
            free(seen);
            free(st);
            char ns[SEG_MAX_TERM];
            size_t nl = cns_ns(r, c, ns);
            return seg_rd_fail(r, "segment column holding \"%.*s\" terms: value %u has no row",
                               (int)nl, ns, v);
        }
    if (total > UINT32_MAX || !(rows = malloc((total ? total : 1) * sizeof *rows)))
        goto oom;
    for (uint32_t t = 0; t < m->nheld; t++)
        st[t + 1] += st[t];
    for (uint64_t row = 0; row < r->info.events; row++) /* st[t]: next slot of t */
        if (m->has[row])
            for (uint32_t k = m->val_start[m->id[row]]; k < m->val_start[m->id[row] + 1]; k++)
                rows[st[m->val_terms[k]]++] = (uint32_t)row;
    for (uint32_t t = m->nheld; t > 0; t--) /* back to starts */
        st[t] = st[t - 1];
    st[0] = 0;
    free(seen);
    c->inv_start = st;
    c->inv_rows = rows;
    return 0;
oom:
    free(seen);
    free(st);
    free(rows);
    return seg_rd_fail(r, "out of memory");
}

/* Rows of every value of c (inv_start, inv_rows), built from the column
 * on first use and kept: a counting sort of the rows by their value (of a
 * TERMS column, by the terms its values hold: invert_held). 0, or -1 (a
 * value no row has is corruption: its term would have no rows). */
static int cns_invert(seg_reader *r, cns *c)
{
    if (c->inv_start)
        return 0;
    if (cns_ready(r, c) < 0)
        return -1;
    if (c->src == CNS_META && c->m->terms)
        return invert_held(r, c);
    const uint32_t *ids = c->src == CNS_SERVICE ? r->service
                          : c->src == CNS_HOST  ? r->host
                                                : c->m->id;
    const uint8_t *has = c->src == CNS_META ? c->m->has : NULL;
    uint32_t nv = cns_count(r, c);
    uint64_t present = c->src == CNS_META ? c->m->pub.present : r->info.events;
    uint32_t *st = calloc((size_t)nv + 1, sizeof *st);
    uint32_t *rows = malloc((present ? present : 1) * sizeof *rows);
    if (!st || !rows) {
        free(st);
        free(rows);
        return seg_rd_fail(r, "out of memory");
    }
    for (uint64_t row = 0; row < r->info.events; row++)
        if (!has || has[row])
            st[ids[row] + 1]++;
    for (uint32_t v = 0; v < nv; v++) {
        if (!st[v + 1]) {
            free(st);
            free(rows);
            char ns[SEG_MAX_TERM];
            size_t nl = cns_ns(r, c, ns);
            return seg_rd_fail(r, "segment column holding \"%.*s\" terms: value %u has no row",
                               (int)nl, ns, v);
        }
        st[v + 1] += st[v];
    }
    for (uint64_t row = 0; row < r->info.events; row++) /* st[v]: next slot of v */
        if (!has || has[row])
            rows[st[ids[row]]++] = (uint32_t)row;
    for (uint32_t v = nv; v > 0; v--) /* back to starts */
        st[v] = st[v - 1];
    st[0] = 0;
    c->inv_start = st;
    c->inv_rows = rows;
    return 0;
}

/* The value in term's place of column namespace c compared with (p, n):
 * the first n bytes (digits) of the value, a value shorter than n before. */
static int cns_cmp(const seg_reader *r, const cns *c, uint32_t v, const char *p, size_t n)
{
    char buf[SEG_HEX_MAX_DIGITS];
    strata_str x = cns_value(r, c, v, buf);
    int k = memcmp(x.ptr, p, x.len < n ? x.len : n);
    return k ? k : x.len < n ? -1 : 0;
}

/* The first value of c whose first n bytes are >= p (upper: > p). */
static uint32_t cns_bound(const seg_reader *r, const cns *c, const char *p, size_t n, int upper)
{
    uint32_t lo = 0, hi = cns_count(r, c);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int k = cns_cmp(r, c, mid, p, n);
        if (k < 0 || (upper && k == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The column namespace that holds term (its namespace, then a value of
 * the column's shape), or NULL (if anywhere, the term is in the term
 * dictionary: a term of a key "KEY:x" shares KEY's namespace prefix). */
cns *seg_rd_cns_holding(seg_reader *r, const char *term, size_t len)
{
    for (uint32_t i = 0; i < r->ncns; i++) {
        cns *c = &r->cns[i];
        char ns[SEG_MAX_TERM];
        size_t nl = cns_ns(r, c, ns);
        if (len < nl || memcmp(term, ns, nl) != 0)
            continue;
        return c->src != CNS_META || seg_column_value(term + nl, len - nl, c->m->digits) ? c : NULL;
    }
    return NULL;
}

/* The place of term's value in c (which holds it): 1 with *v set, 0 when
 * the column lacks it (the filter or the values say so), -1 on corruption. */
int seg_rd_cns_find(seg_reader *r, cns *c, const char *term, size_t len, uint32_t *v)
{
    char ns[SEG_MAX_TERM], buf[SEG_HEX_MAX_DIGITS];
    size_t nl = cns_ns(r, c, ns);
    const char *d = term + nl;
    size_t n = len - nl;
    if (n == 0 || !seg_may_contain(r, term, len))
        return 0;
    if (cns_ready(r, c) < 0)
        return -1;
    uint32_t at = cns_bound(r, c, d, n, 0);
    if (at >= cns_count(r, c) || cns_cmp(r, c, at, d, n) != 0 || cns_value(r, c, at, buf).len != n)
        return 0;
    *v = at;
    return cns_invert(r, c) < 0 ? -1 : 1;
}

/* The values of c under the stream's prefix: [*lo, *hi). 0 or -1. */
static int cs_range(cstream *h, cns *c, uint32_t *lo, uint32_t *hi)
{
    char ns[SEG_MAX_TERM];
    size_t nl = cns_ns(h->r, c, ns);
    *lo = *hi = 0;
    if (h->plen <= nl) {
        if (!memcmp(h->prefix, ns, h->plen))
            *hi = cns_count(h->r, c);
        return *hi && cns_invert(h->r, c) < 0 ? -1 : 0;
    }
    const char *d = h->prefix + nl;
    size_t n = h->plen - nl;
    if (memcmp(h->prefix, ns, nl) != 0)
        return 0;
    if (cns_invert(h->r, c) < 0)
        return -1;
    *lo = cns_bound(h->r, c, d, n, 0);
    *hi = cns_bound(h->r, c, d, n, 1);
    return 0;
}

/* Step to the next term: 1, 0 at the end, -1 on corruption. */
int seg_rd_cs_next(cstream *h)
{
    seg_reader *r = h->r;
    char buf[SEG_HEX_MAX_DIGITS];
    for (;;) {
        while (h->v >= h->end) {
            if (h->c) {
                if (h->release) { /* a merge reads each term once: one inversion at a time */
                    free(h->c->inv_start);
                    free(h->c->inv_rows);
                    h->c->inv_start = h->c->inv_rows = NULL;
                }
                h->at++;
            }
            if (h->at >= r->ncns)
                return 0;
            h->c = &r->cns[h->at];
            if (cs_range(h, h->c, &h->v, &h->end) < 0)
                return -1;
        }
        strata_str x = cns_value(r, h->c, h->v, buf);
        h->val = h->v++;
        if (!x.len)
            continue; /* an empty name is no term */
        size_t nl = cns_ns(r, h->c, h->term);
        memcpy(h->term + nl, x.ptr, x.len);
        h->tlen = nl + x.len;
        h->df = h->c->inv_start[h->val + 1] - h->c->inv_start[h->val];
        return 1;
    }
}

/* Start a stream over the column-held terms under prefix (kept by
 * pointer) and step to its first term: 1, 0 when there is none, -1 on
 * corruption. With release, each namespace's inversion is freed once the
 * stream is past it (a merge's single pass). */
int seg_rd_cs_start(cstream *h, seg_reader *r, const char *prefix, size_t plen, int release)
{
    h->release = release;
    h->r = r;
    h->prefix = prefix;
    h->plen = plen;
    h->at = 0;
    h->v = h->end = 0;
    h->c = NULL;
    return seg_rd_cs_next(h);
}

/* Namespace a's string before b's. */
static int cns_before(const seg_reader *r, const cns *a, const cns *b)
{
    char x[SEG_MAX_TERM], y[SEG_MAX_TERM];
    size_t xl = cns_ns(r, a, x), yl = cns_ns(r, b, y);
    return seg_term_cmp(x, xl, y, yl) < 0;
}

/* r->cns: the namespaces columns hold, ascending (the writer's rules make
 * none a prefix of another, so their terms never interleave); their terms
 * count among the segment's. */
void seg_rd_setup_cns(seg_reader *r)
{
    cns all[SEG_MAX_META_COLUMNS + 2];
    uint32_t n = 0;
    if (r->tflags & SEG_FLAG_SERVICE_TERMS)
        all[n++] = (cns){.src = CNS_SERVICE};
    if (r->tflags & SEG_FLAG_HOST_TERMS)
        all[n++] = (cns){.src = CNS_HOST};
    for (uint32_t i = 0; i < r->nmcols; i++)
        if (r->mcols[i].digits || r->mcols[i].terms)
            all[n++] = (cns){.src = CNS_META, .m = &r->mcols[i]};
    for (uint32_t i = 0; i < n; i++) { /* insertion sort: at most 18 */
        uint32_t j = i;
        cns x = all[i];
        while (j > 0 && cns_before(r, &x, &all[j - 1])) {
            all[j] = all[j - 1];
            j--;
        }
        all[j] = x;
    }
    for (uint32_t i = 0; i < n; i++) {
        r->cns[i] = all[i];
        uint32_t k = cns_count(r, &all[i]);
        /* an empty service or host name (sorted first) is no term */
        if (all[i].src == CNS_SERVICE && k && !r->svc_dict[0].len)
            k--;
        if (all[i].src == CNS_HOST && k && !r->host_dict[0].len)
            k--;
        r->info.terms += k;
    }
    r->ncns = n;
}
