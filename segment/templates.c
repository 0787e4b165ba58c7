/*
 * segment/templates.c - row templates (format.h, version 8), the pieces the
 * writer and the merge share so that both produce the same bytes: a
 * message's template key, the ranking of templates, SEC_TEMPLATES, and the
 * test of whether a term's rows are exactly the rows of some templates.
 *
 * Most terms of a log line's fixed text ("Received", "block", "from") occur
 * in every row of the templates that have them and in no other row. Such a
 * term's postings list is a function of the rows' templates: storing the
 * templates instead of the rows costs a few bytes per term, and the row
 * templates themselves about a byte per row (gen_corpus: 1.09 B/event
 * against 10.2 B/event of the lists they replace).
 */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "bigmem.h"
#include "build.h"
#include "codec.h"
#include "format.h"

/* The byte a variable run becomes in the text whose hash is the key. */
#define TPL_VAR_BYTE 0x11

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The masked text is hashed in pieces of KEY_CHUNK bytes, each piece's hash
 * seeding the next, so that no copy of the message is made. */
enum { KEY_CHUNK = 256 };
typedef struct keyhash {
    char buf[KEY_CHUNK];
    size_t n;
    uint64_t h;
} keyhash;

static void key_put(keyhash *k, char c)
{
    if (k->n == KEY_CHUNK) {
        k->h = XXH3_64bits_withSeed(k->buf, k->n, k->h);
        k->n = 0;
    }
    k->buf[k->n++] = c;
}

uint64_t seg_template_key(const char *msg, size_t len)
{
    /* a run of letters and digits without a digit is kept, one with a
     * digit is one TPL_VAR_BYTE; everything else is kept as it is */
    keyhash k = {.n = 0, .h = 0};
    size_t i = 0;
    while (i < len) {
        if (!is_alnum((unsigned char)msg[i])) {
            key_put(&k, msg[i++]);
            continue;
        }
        size_t j = i;
        int digit = 0;
        while (j < len && is_alnum((unsigned char)msg[j]))
            digit |= msg[j++] <= '9';
        if (digit)
            key_put(&k, TPL_VAR_BYTE);
        else
            for (size_t w = i; w < j; w++)
                key_put(&k, msg[w]);
        i = j;
    }
    return XXH3_64bits_withSeed(k.buf, k.n, k.h);
}

int seg_tpl_init(seg_tpl *t, uint64_t rows)
{
    memset(t, 0, sizeof *t);
    t->rowcap = rows;
    t->row = bigmem_malloc((rows ? rows : 1) * sizeof *t->row);
    return t->row ? 0 : -1;
}

/* Double the key table (ids keep their slots' order of insertion). */
static int tpl_grow(seg_tpl *t)
{
    uint32_t cap = t->cap ? t->cap * 2 : 1024;
    uint64_t *k = realloc(t->key, cap * sizeof *k);
    if (k)
        t->key = k;
    uint32_t *s = realloc(t->size, cap * sizeof *s);
    if (s)
        t->size = s;
    uint32_t nslot = cap * 2; /* load at most a half */
    uint32_t *slot = calloc(nslot, sizeof *slot);
    if (!k || !s || !slot) {
        free(slot);
        return -1;
    }
    for (uint32_t id = 0; id < t->n; id++) {
        uint32_t i = (uint32_t)t->key[id] & (nslot - 1);
        while (slot[i])
            i = (i + 1) & (nslot - 1);
        slot[i] = id + 1;
    }
    free(t->slot);
    t->slot = slot;
    t->nslot = nslot;
    t->cap = cap;
    return 0;
}

int seg_tpl_add(seg_tpl *t, const char *msg, size_t len)
{
    if (t->rows == t->rowcap || (t->n == t->cap && tpl_grow(t) < 0))
        return -1;
    uint64_t key = seg_template_key(msg, len);
    uint32_t i = (uint32_t)key & (t->nslot - 1);
    for (; t->slot[i]; i = (i + 1) & (t->nslot - 1))
        if (t->key[t->slot[i] - 1] == key)
            break;
    if (!t->slot[i]) {
        t->key[t->n] = key;
        t->size[t->n] = 0;
        t->slot[i] = ++t->n;
    }
    uint32_t id = t->slot[i] - 1;
    t->size[id]++;
    t->row[t->rows++] = id;
    return 0;
}

/* qsort order of (rows, key, id) triples: most rows first, then key. */
typedef struct tpl_ord {
    uint32_t rows, id;
    uint64_t key;
} tpl_ord;
static int tpl_ord_cmp(const void *a, const void *b)
{
    const tpl_ord *x = a, *y = b;
    if (x->rows != y->rows)
        return x->rows > y->rows ? -1 : 1;
    return (x->key > y->key) - (x->key < y->key);
}

int seg_tpl_rank(seg_tpl *t)
{
    tpl_ord *o = malloc((t->n ? t->n : 1) * sizeof *o);
    uint32_t *rank = malloc((t->n ? t->n : 1) * sizeof *rank);
    t->cnt = calloc(t->n ? t->n : 1, sizeof *t->cnt);
    t->touched = malloc((t->n ? t->n : 1) * sizeof *t->touched);
    if (!o || !rank || !t->cnt || !t->touched) {
        free(o);
        free(rank);
        return -1;
    }
    for (uint32_t id = 0; id < t->n; id++)
        o[id] = (tpl_ord){t->size[id], id, t->key[id]};
    qsort(o, t->n, sizeof *o, tpl_ord_cmp);
    for (uint32_t k = 0; k < t->n; k++) {
        rank[o[k].id] = k;
        t->key[k] = o[k].key;
        t->size[k] = o[k].rows;
    }
    for (uint64_t r = 0; r < t->rows; r++)
        t->row[r] = rank[t->row[r]];
    free(o);
    free(rank);
    free(t->slot); /* no adds after ranking */
    t->slot = NULL;
    return 0;
}

unsigned seg_tpl_planes(uint32_t n)
{
    unsigned p = 1;
    while (p < 4 && n - 1 > (1ull << (8 * p)) - 1)
        p++;
    return p;
}

int seg_tpl_put(const seg_tpl *t, strbuf *out, int level)
{
    put_varint(out, t->used ? t->n : 0);
    if (!t->used)
        return out->oom ? -1 : 0;
    unsigned planes = seg_tpl_planes(t->n);
    put_u8(out, (uint8_t)planes);
    uint8_t *plane = malloc(t->rows);
    size_t bound = ZSTD_compressBound(t->rows);
    char *z = malloc(bound);
    int rc = plane && z ? 0 : -1;
    for (unsigned p = 0; rc == 0 && p < planes; p++) {
        for (uint64_t r = 0; r < t->rows; r++)
            plane[r] = (uint8_t)(t->row[r] >> (8 * p));
        size_t zn = ZSTD_compress(z, bound, plane, t->rows, level);
        if (ZSTD_isError(zn)) {
            rc = -1;
            break;
        }
        put_bytes(out, z, zn);
    }
    free(plane);
    free(z);
    return rc < 0 || out->oom ? -1 : 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int seg_tpl_encode(seg_tpl *t, const uint32_t *rows, uint32_t n, strbuf *out, char **rbuf,
                   size_t *rcap)
{
    /* count the term's rows per template; it is whole templates when every
     * template it touches has all its rows counted */
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t tp = t->row[rows[i]];
        if (!t->cnt[tp]++)
            t->touched[k++] = tp;
    }
    int whole = 1;
    for (uint32_t j = 0; j < k; j++) {
        uint32_t tp = t->touched[j];
        whole &= t->cnt[tp] == t->size[tp];
        t->cnt[tp] = 0;
    }
    if (!whole || (uint64_t)k * SEG_TEMPLATE_MIN_ROWS > n)
        return 0;
    t->used = 1;
    qsort(t->touched, k, sizeof *t->touched, cmp_u32);
    put_u8(out, SEG_POSTINGS_TEMPLATES);
    put_varint(out, k);
    return seg_postings_encode(t->touched, k, out, rbuf, rcap) < 0 || out->oom ? -1 : 1;
}

void seg_tpl_free(seg_tpl *t)
{
    free(t->slot);
    free(t->key);
    free(t->size);
    free(t->row);
    free(t->cnt);
    free(t->touched);
    memset(t, 0, sizeof *t);
}
