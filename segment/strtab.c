/*
 * segment/strtab.c - string interning (see strtab.h).
 */
#include "strtab.h"

#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "bigmem.h"

/* Grow the slot array at this load factor: keeps probes short. */
#define STRTAB_MAX_LOAD_NUM 3
#define STRTAB_MAX_LOAD_DEN 4
#define STRTAB_MIN_SLOTS 64u

uint64_t term_hash(const void *s, size_t len)
{
    return XXH3_64bits(s, len);
}

/* Double the hash slots (STRTAB_MIN_SLOTS at first) and rehash every string; -1 on OOM. */
static int grow_slots(strtab *t)
{
    size_t n = t->nslots ? t->nslots * 2 : STRTAB_MIN_SLOTS;
    uint64_t *s = bigmem_calloc(n, sizeof *s);
    if (!s)
        return -1;
    for (size_t id = 0; id < t->n; id++) {
        size_t i = (size_t)t->ent[id].hash & (n - 1);
        while (s[i])
            i = (i + 1) & (n - 1);
        s[i] = strtab_slot(t->ent[id].hash, t->ent[id].off - STRTAB_REC_HEADER);
    }
    free(t->slots);
    t->slots = s;
    t->nslots = n;
    return 0;
}

/* The id of string s (hash h), or -1 with *slot the empty slot where it would go. */
static int64_t probe(const strtab *t, const char *s, size_t len, uint64_t h, size_t *slot)
{
    if (!t->nslots)
        return -1;
    size_t i = (size_t)h & (t->nslots - 1);
    uint64_t tag = h & STRTAB_TAG_MASK;
    while (t->slots[i]) {
        uint64_t sl = t->slots[i];
        if ((sl & STRTAB_TAG_MASK) == tag) {
            const char *rec = strtab_slot_rec(t, sl);
            strtab_rec hdr;
            memcpy(&hdr, rec, sizeof hdr);
            if (hdr.len == len && (len == 0 || memcmp(rec + STRTAB_REC_HEADER, s, len) == 0))
                return hdr.id;
        }
        i = (i + 1) & (t->nslots - 1);
    }
    *slot = i;
    return -1;
}

int64_t strtab_find(const strtab *t, const char *s, size_t len)
{
    size_t slot;
    return probe(t, s, len, term_hash(s, len), &slot);
}

int64_t strtab_intern(strtab *t, const char *s, size_t len)
{
    return strtab_intern_hashed(t, s, len, term_hash(s, len));
}

int64_t strtab_intern_hashed(strtab *t, const char *s, size_t len, uint64_t h)
{
    size_t slot = 0;
    int64_t id = probe(t, s, len, h, &slot);
    if (id >= 0)
        return id;
    if (t->n >= UINT32_MAX - 1 || len > UINT32_MAX)
        return -1;
    if ((t->n + 1) * STRTAB_MAX_LOAD_DEN > t->nslots * STRTAB_MAX_LOAD_NUM) {
        if (grow_slots(t) < 0)
            return -1;
        probe(t, s, len, h, &slot);
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        strtab_entry *e = bigmem_realloc(t->ent, t->cap * sizeof *e, cap * sizeof *e);
        if (!e)
            return -1;
        t->ent = e;
        t->cap = cap;
    }
    /* the record: id, length, bytes, padding to STRTAB_ALIGN */
    size_t rec = t->arena.len, pad = (STRTAB_ALIGN - len % STRTAB_ALIGN) % STRTAB_ALIGN;
    if (rec / STRTAB_ALIGN >= UINT32_MAX - 1 ||
        sb_reserve(&t->arena, STRTAB_REC_HEADER + len + pad) != 0)
        return -1;
    strtab_rec hdr = {(uint32_t)t->n, (uint32_t)len};
    char *p = t->arena.buf + rec;
    memcpy(p, &hdr, sizeof hdr);
    if (len)
        memcpy(p + STRTAB_REC_HEADER, s, len);
    memset(p + STRTAB_REC_HEADER + len, 0, pad);
    t->arena.len += STRTAB_REC_HEADER + len + pad;
    t->arena.buf[t->arena.len] = 0; /* as sb_append leaves it */
    t->ent[t->n].hash = h;
    t->ent[t->n].off = rec + STRTAB_REC_HEADER;
    t->ent[t->n].len = (uint32_t)len;
    t->slots[slot] = strtab_slot(h, rec);
    return (int64_t)t->n++;
}

void strtab_clear(strtab *t)
{
    if (t->n && t->slots)
        memset(t->slots, 0, t->nslots * sizeof *t->slots);
    t->n = 0;
    sb_reset(&t->arena);
}

void strtab_free(strtab *t)
{
    free(t->slots);
    free(t->ent);
    sb_free(&t->arena);
    memset(t, 0, sizeof *t);
}
