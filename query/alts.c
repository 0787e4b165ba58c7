/*
 * query/alts.c - the terms a matching event must hold, as alternatives:
 * "(timeout OR refused) service:api" needs {msg:timeout, service:api} or
 * {msg:refused, service:api}. A scan without a postings index (the
 * indexer's head, which keeps each row's term ids) visits only rows that
 * hold every term of some alternative, then q_match decides. Every step
 * may only weaken the constraint (drop a term, give up on narrowing),
 * never strengthen it: a row that matches must always be visited.
 */
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

/* A term: in the query, or in the output's buffer. */
typedef struct tref {
    const char *p;
    size_t n;
} tref;

/* Alternatives while walking the tree: `all` means no narrowing. */
typedef struct aset {
    int all;
    size_t n;
    size_t nt[Q_MAX_ALTS];
    tref t[Q_MAX_ALTS][Q_MAX_ALT_TERMS];
} aset;

/* Copy a term into the output's buffer; NULL when it is full. */
static const char *keep(q_alts *out, const char *s, size_t len)
{
    if (len > sizeof out->buf - out->used)
        return NULL;
    char *p = out->buf + out->used;
    memcpy(p, s, len);
    out->used += len;
    return p;
}

/* One alternative: the terms of a leaf (a word's tokens, a phrase's words). */
static void leaf(const q_node *n, q_alts *out, aset *s)
{
    s->all = 0;
    s->n = 1;
    s->nt[0] = 0;
    for (size_t i = 0; i < n->nitems && s->nt[0] < Q_MAX_ALT_TERMS; i++) {
        char buf[Q_TERM_BUF];
        const char *p = n->items[i].p;
        size_t len = n->items[i].n;
        if (n->kind == Q_PHRASE) {
            len = q_phrase_term(n, i, buf);
            p = len ? keep(out, buf, len) : NULL;
            if (!p)
                continue; /* one term fewer: weaker, still right */
        }
        s->t[0][s->nt[0]++] = (tref){p, len};
    }
    if (!s->nt[0])
        s->all = 1;
}

/* Every alternative of a AND every one of b, when there are few enough;
 * else the side with fewer alternatives (a weaker constraint). */
static void and_sets(aset *a, const aset *b)
{
    if (b->all)
        return;
    if (a->all || a->n * b->n > Q_MAX_ALTS) {
        if (a->all || b->n < a->n)
            *a = *b;
        return;
    }
    aset r = {.all = 0, .n = 0};
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = 0; j < b->n; j++) {
            size_t k = r.n++;
            r.nt[k] = 0;
            for (size_t x = 0; x < a->nt[i] && r.nt[k] < Q_MAX_ALT_TERMS; x++)
                r.t[k][r.nt[k]++] = a->t[i][x];
            for (size_t x = 0; x < b->nt[j] && r.nt[k] < Q_MAX_ALT_TERMS; x++)
                r.t[k][r.nt[k]++] = b->t[j][x];
        }
    *a = r;
}

/* a = a OR b over alternative term sets; past Q_MAX_ALTS, "any row" (all). */
static void or_sets(aset *a, const aset *b)
{
    if (a->all || b->all || a->n + b->n > Q_MAX_ALTS) {
        a->all = 1;
        a->n = 0;
        return;
    }
    for (size_t j = 0; j < b->n; j++) {
        a->nt[a->n] = b->nt[j];
        memcpy(a->t[a->n], b->t[j], b->nt[j] * sizeof b->t[j][0]);
        a->n++;
    }
}

/* The alternatives of the subtree at n into *s. NOT, wildcards, regexes,
 * levels, existence and comparisons do not narrow (their rows hold no one
 * term that can be named). */
static void walk(const q_node *n, q_alts *out, aset *s)
{
    if (n->kind == Q_AND || n->kind == Q_OR) {
        aset *b = malloc(sizeof *b);
        walk(n->a, out, s);
        if (!b) { /* out of memory: only the left side (AND), or nothing (OR) */
            if (n->kind == Q_OR) {
                s->all = 1;
                s->n = 0;
            }
            return;
        }
        walk(n->b, out, b);
        if (n->kind == Q_AND)
            and_sets(s, b);
        else
            or_sets(s, b);
        free(b);
        return;
    }
    if (n->kind == Q_TERMS || n->kind == Q_PHRASE) {
        leaf(n, out, s);
        return;
    }
    s->all = 1;
    s->n = 0;
}

size_t q_required_alts(const query *q, q_alts *out)
{
    out->n = 0;
    out->used = 0;
    aset *s = malloc(sizeof *s);
    if (!s)
        return 0;
    walk(q->root, out, s);
    if (!s->all) {
        size_t k = 0;
        for (size_t a = 0; a < s->n; a++) {
            out->alt_end[a] = k + s->nt[a];
            for (size_t i = 0; i < s->nt[a]; i++, k++) {
                out->term[k] = s->t[a][i].p;
                out->len[k] = s->t[a][i].n;
            }
        }
        out->n = s->n;
    }
    free(s);
    return out->n;
}
