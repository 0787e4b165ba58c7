/*
 * query/query_int.h - the query tree, shared by the parser (parse.c), the
 * event matcher (match.c) and the segment evaluator (exec.c).
 */
#ifndef STRATA_QUERY_INT_H
#define STRATA_QUERY_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "format.h"
#include "query.h"
#include "tokenize.h"

/* Longest "field:" prefix: the indexer indexes a meta key only when its
 * prefix and a longest token fit in SEG_MAX_TERM (segment/terms.c). */
#define Q_PREFIX_MAX (SEG_MAX_TERM - TOK_MAX_BYTES)

typedef enum q_kind {
    Q_ALL,    /* matches everything */
    Q_AND,    /* a AND b */
    Q_OR,     /* a OR b */
    Q_NOT,    /* NOT a */
    Q_TERMS,  /* every one of terms[] is a term of the event (exact) */
    Q_PHRASE, /* words[] appear in this order, adjacent, in the field */
    Q_WILD,   /* some term of the field matches the glob pattern */
    Q_REGEX,  /* the regex matches msg */
    Q_LEVEL,  /* the level is in levels (bit per strata_level) */
    Q_EXISTS, /* meta key present with a non-null value */
    Q_NUM     /* meta key's value is a number that compares true */
} q_kind;

typedef enum q_field { QF_MSG, QF_SERVICE, QF_HOST, QF_LEVEL, QF_META } q_field;

typedef enum q_cmp { QC_EQ, QC_LT, QC_LE, QC_GT, QC_GE } q_cmp;

/* A string owned by the query (malloc'd). */
typedef struct q_str {
    char *p;
    size_t n;
} q_str;

typedef struct q_node {
    q_kind kind;
    q_field field;
    q_str key;    /* meta key (QF_META) */
    q_str prefix; /* "msg:", "service:", "meta.KEY:" */
    q_str *items; /* Q_TERMS: whole namespaced terms; Q_PHRASE: words */
    size_t nitems;
    q_str pattern;      /* Q_WILD: the glob, case-folded (without the prefix) */
    size_t literal_len; /* Q_WILD: bytes before the first wildcard */
    pcre2_code *re;     /* Q_REGEX */
    unsigned levels;    /* Q_LEVEL */
    q_cmp cmp;          /* Q_NUM */
    double num;         /* Q_NUM */
    struct q_node *a, *b;
    int column; /* 1-based position in the text */
} q_node;

struct query {
    q_node *root;
    q_node *nodes; /* every node, freed together */
    size_t nnodes;
    int exact; /* no node needs verification */
};

/* Glob with '*' (any run, also empty) and '?' (one UTF-8 character). */
int q_glob(const char *pat, size_t plen, const char *s, size_t slen);

/* Buffer for one namespaced term of a node: its field prefix and a token. */
#define Q_TERM_BUF (Q_PREFIX_MAX + TOK_MAX_BYTES)
/* Word i of a Q_PHRASE node as the index holds it (field prefix, then the
 * word) in buf (Q_TERM_BUF bytes); its length, or 0 when it cannot fit. */
size_t q_phrase_term(const q_node *n, size_t i, char *buf);

/* Is a row's level (a strata_level, or past FATAL when it has none) one of
 * a Q_LEVEL node's levels? The one rule q_match and the level column
 * filter of q_segment share. */
static inline int q_level_in(unsigned levels, unsigned level)
{
    return level <= STRATA_LEVEL_FATAL && (levels >> level) & 1u;
}

/* Does node n need verification on rows (phrase, regex, number, existence)? */
int q_node_exact(const q_node *n);

#endif /* STRATA_QUERY_INT_H */
