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
    uint64_t off; /* the string's bytes in arena */
    uint32_t len;
} strtab_entry;

/* The arena holds one record per string, at an offset that is a multiple of
 * STRTAB_ALIGN: the id (u32), the length (u32), the bytes, then padding. A
 * probe goes from the slot straight to the record, whose header and (for
 * most terms) bytes share a cache line: two cache misses for a string seen
 * before, where slot -> entry -> bytes took three (interning a segment's
 * terms is mostly waiting for those misses). */
#define STRTAB_ALIGN 8u
typedef struct strtab_rec {
    uint32_t id, len;
} strtab_rec;
#define STRTAB_REC_HEADER sizeof(strtab_rec)

typedef struct strtab {
    uint64_t *slots; /* strtab_slot: hash tag above record offset (0 = empty) */
    size_t nslots;   /* power of two */
    strtab_entry *ent;
    size_t n, cap;
    strbuf arena;
} strtab;

/* A slot: the hash's high 32 bits (its tag) above the record's offset in
 * STRTAB_ALIGN units plus 1 (0 = empty), so that most probes that miss
 * never touch the record. 32 bits of units address 32 GiB of arena, far
 * beyond what a segment's SEG_MAX_RAW_BYTES can intern. */
#define STRTAB_TAG_MASK 0xffffffff00000000ull
static inline uint64_t strtab_slot(uint64_t h, uint64_t rec_off)
{
    return (h & STRTAB_TAG_MASK) | (rec_off / STRTAB_ALIGN + 1);
}
/* The record a non-empty slot points to. */
static inline const char *strtab_slot_rec(const strtab *t, uint64_t slot)
{
    return t->arena.buf + ((slot & ~STRTAB_TAG_MASK) - 1) * STRTAB_ALIGN;
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
/* Second stage, once the slots are loaded: start loading the record of the
 * first string whose slot tag matches h, which a probe will compare. */
static inline void strtab_prefetch_record(const strtab *t, uint64_t h)
{
    if (!t->nslots)
        return;
    for (size_t i = (size_t)h & (t->nslots - 1); t->slots[i]; i = (i + 1) & (t->nslots - 1))
        if ((t->slots[i] & STRTAB_TAG_MASK) == (h & STRTAB_TAG_MASK)) {
            __builtin_prefetch(strtab_slot_rec(t, t->slots[i]));
            return;
        }
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

/* The hash all of Strata uses for terms (the filters included). */
uint64_t term_hash(const void *s, size_t len);

#endif /* STRATA_SEGMENT_STRTAB_H */
