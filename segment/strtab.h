/*
 * segment/strtab.h - string interning for the writer: service and host
 * names, meta keys and terms each get a dense id (0, 1, 2, ... in order of
 * first sight). Open addressing with xxh3 hashes; the strings live in one
 * arena. Owned by its user; strtab_free releases everything.
 */
#ifndef STRATA_SEGMENT_STRTAB_H
#define STRATA_SEGMENT_STRTAB_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

typedef struct strtab_entry {
    uint64_t hash;
    uint64_t off; /* into arena */
    uint32_t len;
} strtab_entry;

typedef struct strtab {
    uint64_t *slots; /* strtab_slot: hash tag above id + 1 (0 = empty) */
    size_t nslots;   /* power of two */
    strtab_entry *ent;
    size_t n, cap;
    strbuf arena;
} strtab;

/* A slot: the hash's high 32 bits (its tag) above id + 1 (0 = empty), so
 * that most probes that miss never touch the entry or the string. */
#define STRTAB_TAG_MASK 0xffffffff00000000ull
static inline uint64_t strtab_slot(uint64_t h, uint32_t id)
{
    return (h & STRTAB_TAG_MASK) | ((uint64_t)id + 1);
}
/* The id a non-empty slot holds. */
static inline uint32_t strtab_slot_id(uint64_t slot)
{
    return (uint32_t)(slot & ~STRTAB_TAG_MASK) - 1;
}

/* The id of s (interned on first sight), or -1 on OOM / too many strings. */
int64_t strtab_intern(strtab *t, const char *s, size_t len);
/* The same with h = term_hash(s, len) already computed. */
int64_t strtab_intern_hashed(strtab *t, const char *s, size_t len, uint64_t h);
/* Start loading the slot where a string of hash h is probed: interning a
 * batch after prefetching all of its slots overlaps their cache misses. */
static inline void strtab_prefetch(const strtab *t, uint64_t h)
{
    if (t->nslots)
        __builtin_prefetch(&t->slots[h & (t->nslots - 1)]);
}
/* The entry of the first string whose slot tag matches h, or -1: for the
 * later stages of a batch's prefetching (strtab_prefetch_entry, _string). */
static inline int64_t strtab_peek(const strtab *t, uint64_t h)
{
    if (!t->nslots)
        return -1;
    for (size_t i = (size_t)h & (t->nslots - 1); t->slots[i]; i = (i + 1) & (t->nslots - 1))
        if ((t->slots[i] & STRTAB_TAG_MASK) == (h & STRTAB_TAG_MASK))
            return strtab_slot_id(t->slots[i]);
    return -1;
}
/* Second stage, once the slots are loaded: start loading the entry that a
 * probe for h will compare. */
static inline void strtab_prefetch_entry(const strtab *t, uint64_t h)
{
    int64_t id = strtab_peek(t, h);
    if (id >= 0)
        __builtin_prefetch(&t->ent[id]);
}
/* Third stage, once the entries are loaded: start loading its string. */
static inline void strtab_prefetch_string(const strtab *t, uint64_t h)
{
    int64_t id = strtab_peek(t, h);
    if (id >= 0)
        __builtin_prefetch(t->arena.buf + t->ent[id].off);
}
/* Lookup without inserting; -1 when absent. */
int64_t strtab_find(const strtab *t, const char *s, size_t len);
static inline const char *strtab_str(const strtab *t, uint32_t id)
{
    return t->arena.buf + t->ent[id].off;
}
static inline uint32_t strtab_len(const strtab *t, uint32_t id)
{
    return t->ent[id].len;
}
/* Forget every string but keep the memory (slots, entries, arena), so that
 * refilling the table touches pages that are already mapped. */
void strtab_clear(strtab *t);
void strtab_free(strtab *t);

/* The hash all of Strata uses for terms (bloom filters included). */
uint64_t term_hash(const void *s, size_t len);

#endif /* STRATA_SEGMENT_STRTAB_H */
