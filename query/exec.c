/*
 * query/exec.c - a query's candidate rows in one segment, from the index
 * alone: the segment's filters first (a term the segment cannot hold costs no index
 * read), then postings algebra on roaring bitmaps.
 *
 * Each node yields a bitmap and whether it is exact. Exact nodes (words,
 * wildcards, levels, field values) give precisely their rows. Phrases give
 * the rows holding all their words, regexes, numbers and existence give
 * every row: a superset the caller narrows with q_match. NOT of an inexact
 * node cannot be complemented, so it gives every row, inexact.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

/* AND with a level: when the other side holds at most 1/this of the
 * segment's rows, their levels are read from the level column rather than
 * decoding the level's postings. 4: ERROR is about a tenth of the rows of
 * a typical service mix and INFO most of them, so below a quarter the
 * column reads fewer rows than the postings would decode. */
#define Q_LEVEL_FILTER_SHARE 4u
/* A level's term, "level:" and the longest name ("trace", "debug", "error",
 * "fatal") and a NUL, with room to spare. */
#define Q_LEVEL_TERM_BUF 16

typedef struct ectx {
    seg_reader *r;
    uint32_t rows;
    char *err;
    size_t errlen;
} ectx;

/* Every row of the segment (a node the index cannot narrow: the rows are checked one by one). */
static roaring_bitmap_t *all_rows(const ectx *c)
{
    roaring_bitmap_t *b = roaring_bitmap_create();
    if (b && c->rows)
        roaring_bitmap_add_range(b, 0, c->rows);
    return b;
}

/* Record the first error of an execution; NULL for `return fail(...)`. */
static roaring_bitmap_t *fail(const ectx *c, const char *what)
{
    if (c->err && c->errlen && !c->err[0])
        snprintf(c->err, c->errlen, "%s", what);
    return NULL;
}

/* AND the postings of one term into *acc (the first term's postings when
 * *acc is NULL); a term the segment's filter rules out gives nothing. 0, or -1
 * (*acc freed, err set) on a corrupt index or OOM. */
static int and_term(const ectx *c, roaring_bitmap_t **acc, const char *t, size_t len)
{
    roaring_bitmap_t *p =
        seg_may_contain(c->r, t, len) ? seg_postings(c->r, t, len) : roaring_bitmap_create();
    if (!p) {
        if (*acc)
            roaring_bitmap_free(*acc);
        *acc = NULL;
        fail(c, seg_error(c->r));
        return -1;
    }
    if (!*acc) {
        *acc = p;
    } else {
        roaring_bitmap_and_inplace(*acc, p);
        roaring_bitmap_free(p);
    }
    return 0;
}

/* AND of the postings of every term; empty at the first absent term. */
static roaring_bitmap_t *terms_rows(const ectx *c, const q_node *n)
{
    roaring_bitmap_t *acc = NULL;
    for (size_t i = 0; i < n->nitems; i++) {
        if (and_term(c, &acc, n->items[i].p, n->items[i].n) < 0)
            return NULL;
        if (roaring_bitmap_is_empty(acc))
            break;
    }
    return acc ? acc : roaring_bitmap_create();
}

/* An expansion: the OR of the postings of every term under a prefix that
 * a predicate accepts, at most Q_MAX_EXPANSIONS of them. Wildcards and
 * regex literals both expand this way. */
typedef struct expansion {
    const ectx *c;
    const q_node *n;
    int (*accept)(const q_node *n, const char *term, size_t len);
    roaring_bitmap_t *acc;
    size_t expanded;
    int failed; /* 1 = more than Q_MAX_EXPANSIONS terms, 2 = index error */
} expansion;

/* seg_terms callback: collect a wildcard's matching terms, refusing more than the expansion bound.
 * seg_terms callback: collect a wildcard's matching terms, refusing more than the expansion bound.
 */
static int expand_term(void *ud, const char *term, size_t len, uint32_t df)
{
    expansion *x = ud;
    (void)df;
    if (!x->accept(x->n, term, len))
        return 0;
    if (++x->expanded > Q_MAX_EXPANSIONS) {
        x->failed = 1;
        return 1;
    }
    roaring_bitmap_t *p = seg_postings(x->c->r, term, len);
    if (!p) {
        x->failed = 2;
        return 1;
    }
    roaring_bitmap_or_inplace(x->acc, p);
    roaring_bitmap_free(p);
    return 0;
}

/* Walk the terms starting with key; *failed as in expansion. The result
 * is NULL when failed (OOM sets failed 2). */
static roaring_bitmap_t *expand(const ectx *c, const q_node *n, const char *key, size_t klen,
                                int (*accept)(const q_node *, const char *, size_t), int *failed)
{
    expansion x = {.c = c, .n = n, .accept = accept, .acc = roaring_bitmap_create()};
    *failed = 0;
    if (!x.acc) {
        *failed = 2;
        return NULL;
    }
    if (seg_terms(c->r, key, klen, expand_term, &x) < 0 && !x.failed)
        x.failed = 2;
    if (x.failed) {
        roaring_bitmap_free(x.acc);
        *failed = x.failed;
        return NULL;
    }
    return x.acc;
}

/* Does the term (after its field prefix) match the node's glob? */
static int glob_accepts(const q_node *n, const char *term, size_t len)
{
    return q_glob(n->pattern.p, n->pattern.n, term + n->prefix.n, len - n->prefix.n);
}

/* OR of the postings of every term the glob matches, walking only the terms
 * that start with the field prefix and the pattern's literal prefix. */
static roaring_bitmap_t *wild_rows(const ectx *c, const q_node *n)
{
    char key[Q_PREFIX_MAX + TOK_MAX_BYTES];
    size_t klen = n->prefix.n + n->literal_len;
    if (klen > sizeof key)
        return roaring_bitmap_create();
    memcpy(key, n->prefix.p, n->prefix.n);
    memcpy(key + n->prefix.n, n->pattern.p, n->literal_len);
    int failed;
    roaring_bitmap_t *rows = expand(c, n, key, klen, glob_accepts, &failed);
    if (failed == 1 && c->err && c->errlen && !c->err[0])
        snprintf(c->err, c->errlen,
                 "column %d: '%s' matches more than %d terms; make the pattern longer "
                 "(more letters before the first '*')",
                 n->column, n->pattern.p, Q_MAX_EXPANSIONS);
    return failed == 2 ? fail(c, seg_error(c->r)) : rows;
}

/* Does the msg token contain the regex's literal? A token cut at
 * TOK_MAX_BYTES may have lost it, so such a token is kept too. */
static int literal_accepts(const q_node *n, const char *term, size_t len)
{
    const char *t = term + n->prefix.n;
    size_t tl = len - n->prefix.n;
    return tl == TOK_MAX_BYTES || memmem(t, tl, n->pattern.p, n->pattern.n) != NULL;
}

/* Candidates of a regex: the rows with a msg token containing its
 * required literal, or every row when it has none or it is in too many
 * terms. Always inexact: the regex itself is checked on each row. */
static roaring_bitmap_t *regex_rows(const ectx *c, const q_node *n)
{
    if (!n->pattern.n)
        return all_rows(c);
    int failed;
    roaring_bitmap_t *rows = expand(c, n, n->prefix.p, n->prefix.n, literal_accepts, &failed);
    if (failed == 1)
        return all_rows(c);
    return failed == 2 ? fail(c, seg_error(c->r)) : rows;
}

/* The term of level l ("level:error") into term[Q_LEVEL_TERM_BUF]; its
 * length. */
static size_t level_term(int l, char *term)
{
    int k = snprintf(term, Q_LEVEL_TERM_BUF, SEG_NS_LEVEL "%s", strata_level_name(l));
    for (int i = (int)SEG_NS_LEN(SEG_NS_LEVEL); i < k; i++)
        term[i] = (char)(term[i] + 32);
    return (size_t)k;
}

/* The rows of a level node: from the level postings, or the level column when that reads less. */
static roaring_bitmap_t *level_rows(const ectx *c, const q_node *n)
{
    roaring_bitmap_t *acc = roaring_bitmap_create();
    if (!acc)
        return fail(c, "out of memory");
    for (int l = STRATA_LEVEL_TRACE; l <= STRATA_LEVEL_FATAL; l++) {
        if (!((n->levels >> l) & 1u))
            continue;
        char term[Q_LEVEL_TERM_BUF];
        size_t k = level_term(l, term);
        roaring_bitmap_t *p = seg_postings(c->r, term, k);
        if (!p) {
            roaring_bitmap_free(acc);
            return fail(c, seg_error(c->r));
        }
        roaring_bitmap_or_inplace(acc, p);
        roaring_bitmap_free(p);
    }
    return acc;
}

/* Rows of acc whose level (the segment's level column) is in levels: what
 * AND-ing level_rows would give, at the cost of acc's rows instead of the
 * level's postings. Frees acc; NULL on OOM. */
static roaring_bitmap_t *filter_levels(const ectx *c, roaring_bitmap_t *acc, unsigned levels)
{
    const uint8_t *lv = seg_levels(c->r);
    uint64_t n = roaring_bitmap_get_cardinality(acc);
    uint32_t *rows = malloc((n ? n : 1) * sizeof *rows);
    if (!rows) {
        roaring_bitmap_free(acc);
        return fail(c, "out of memory");
    }
    roaring_bitmap_to_uint32_array(acc, rows);
    roaring_bitmap_free(acc);
    size_t kept = 0;
    for (uint64_t i = 0; i < n; i++)
        if (q_level_in(levels, lv[rows[i]]))
            rows[kept++] = rows[i];
    roaring_bitmap_t *out = roaring_bitmap_of_ptr(kept, rows);
    free(rows);
    return out ? out : fail(c, "out of memory");
}

/* The candidate rows of node n; *exact says whether every one matches (else each is checked
 * against the event). */
static roaring_bitmap_t *eval(const ectx *c, const q_node *n, int *exact)
{
    *exact = 1;
    switch (n->kind) {
    case Q_ALL: return all_rows(c);
    case Q_TERMS: return terms_rows(c, n);
    case Q_PHRASE: {
        *exact = 0;
        char buf[Q_TERM_BUF];
        roaring_bitmap_t *acc = NULL;
        for (size_t i = 0; i < n->nitems; i++) {
            size_t len = q_phrase_term(n, i, buf);
            if (!len)
                continue;
            if (and_term(c, &acc, buf, len) < 0)
                return NULL;
            if (roaring_bitmap_is_empty(acc))
                break;
        }
        return acc ? acc : roaring_bitmap_create();
    }
    case Q_WILD: return wild_rows(c, n);
    case Q_LEVEL: return level_rows(c, n);
    case Q_REGEX: *exact = 0; return regex_rows(c, n);
    case Q_EXISTS:
    case Q_NUM: *exact = 0; return all_rows(c);
    case Q_AND: {
        int ea, eb;
        /* "service:payments level:error": the other side first, and when
         * it leaves few rows their levels are read from the column instead
         * of decoding the postings of a level (a tenth to most of the
         * segment's rows) */
        const q_node *first = n->a, *second = n->b;
        if (first->kind == Q_LEVEL && second->kind != Q_LEVEL) {
            first = n->b;
            second = n->a;
        }
        roaring_bitmap_t *a = eval(c, first, &ea);
        if (!a)
            return NULL;
        if (roaring_bitmap_is_empty(a)) {
            *exact = 1; /* nothing can match: exactly nothing */
            return a;
        }
        if (second->kind == Q_LEVEL &&
            roaring_bitmap_get_cardinality(a) <= c->rows / Q_LEVEL_FILTER_SHARE) {
            *exact = ea;
            return filter_levels(c, a, second->levels);
        }
        roaring_bitmap_t *b = eval(c, second, &eb);
        if (!b) {
            roaring_bitmap_free(a);
            return NULL;
        }
        roaring_bitmap_and_inplace(a, b);
        roaring_bitmap_free(b);
        *exact = ea && eb;
        return a;
    }
    case Q_OR: {
        int ea, eb;
        roaring_bitmap_t *a = eval(c, n->a, &ea);
        if (!a)
            return NULL;
        roaring_bitmap_t *b = eval(c, n->b, &eb);
        if (!b) {
            roaring_bitmap_free(a);
            return NULL;
        }
        roaring_bitmap_or_inplace(a, b);
        roaring_bitmap_free(b);
        *exact = ea && eb;
        return a;
    }
    case Q_NOT: {
        int ea;
        roaring_bitmap_t *a = eval(c, n->a, &ea);
        if (!a)
            return NULL;
        if (!ea) {
            roaring_bitmap_free(a);
            *exact = 0;
            return all_rows(c);
        }
        roaring_bitmap_flip_inplace(a, 0, c->rows);
        return a;
    }
    }
    return fail(c, "unknown query node");
}

int q_segment(const query *q, seg_reader *r, roaring_bitmap_t **out, int *exact, char *err,
              size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    ectx c = {.r = r, .rows = (uint32_t)seg_get_info(r)->events, .err = err, .errlen = errlen};
    *out = eval(&c, q->root, exact);
    if (!*out) {
        if (err && errlen && !err[0])
            snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Rows of node n counted from the dictionary's document frequencies: n is
 * everything, one term or a level. -1 on a corrupt index, -2 when n is none
 * of those. */
static int64_t dict_count(const q_node *n, seg_reader *r)
{
    switch (n->kind) {
    case Q_ALL: return (int64_t)seg_get_info(r)->events;
    case Q_TERMS:
        if (n->nitems > 1)
            return -2;
        return n->nitems ? seg_term_df(r, n->items[0].p, n->items[0].n) : 0;
    case Q_LEVEL: { /* a row has one level: the levels' rows are disjoint */
        int64_t count = 0;
        for (int l = STRATA_LEVEL_TRACE; l <= STRATA_LEVEL_FATAL; l++) {
            if (!((n->levels >> l) & 1u))
                continue;
            char term[Q_LEVEL_TERM_BUF];
            int64_t df = seg_term_df(r, term, level_term(l, term));
            if (df < 0)
                return -1;
            count += df;
        }
        return count;
    }
    default: return -2;
    }
}

int q_segment_count(const query *q, seg_reader *r, uint64_t *out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    int64_t count = dict_count(q->root, r);
    if (count == -1) {
        if (err && errlen)
            snprintf(err, errlen, "%s", seg_error(r));
        return -1;
    }
    if (count >= 0) {
        *out = (uint64_t)count;
        return 0;
    }
    roaring_bitmap_t *rows;
    int exact;
    if (q_segment(q, r, &rows, &exact, err, errlen) < 0)
        return -1;
    *out = roaring_bitmap_get_cardinality(rows);
    roaring_bitmap_free(rows);
    return 0;
}
