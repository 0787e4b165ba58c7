/*
 * query/query.h - the query language of Strata (docs/QUERY.md): one parser
 * and one meaning for search, tail and alert filters.
 *
 * A query is parsed once (q_parse) into an immutable tree that any number of
 * threads may then evaluate:
 *  - q_match() decides one event, from its fields alone. Tail, alerts, the
 *    indexer's in-memory head and the reference-model test use it.
 *  - q_segment() answers from a segment's index: a bitmap of candidate rows
 *    and whether it is exact. When it is not (phrases, regexes, numbers,
 *    existence), each candidate is checked with q_match() on the decoded row.
 * Both read terms through the one tokenizer (segment/tokenize.h), so they
 * cannot disagree; tests/unit/test_query.c checks that they do not.
 *
 * Ownership: q_parse returns a query the caller frees with q_free. A
 * q_scratch holds per-thread working memory for q_match; one per thread.
 */
#ifndef STRATA_QUERY_H
#define STRATA_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

#include "segment.h"
#include "strata/event.h"

/* Longest query text accepted, in bytes: far beyond any hand-written query,
 * small enough that parsing can never be a denial of service. */
#define Q_MAX_TEXT 8192
/* Most nodes in one query tree (words, operators): bounds evaluation work
 * per row. */
#define Q_MAX_NODES 512
/* Deepest nesting of parentheses and NOTs: the parser recurses. */
#define Q_MAX_DEPTH 64
/* Most terms one wildcard may expand to in one segment; past it the query
 * fails and says so (as Elasticsearch's max_expansions), because a union of
 * tens of thousands of postings is a scan in disguise. */
#define Q_MAX_EXPANSIONS 4096
/* PCRE2 backtracking budget per row: a catastrophic regex stops instead of
 * pinning a core (the row then does not match and the query says so). */
#define Q_REGEX_MATCH_LIMIT 100000
/* Shortest literal of a regex used to pre-filter its candidates through
 * the term dictionary: shorter ones are in too many terms to help. */
#define Q_REGEX_MIN_LITERAL 3

typedef struct query query;

/* Parse text (len bytes). NULL with "column N: what was wrong" in err. */
query *q_parse(const char *text, size_t len, char *err, size_t errlen);
void q_free(query *q);

/* True when the query matches every event (empty text or `*`). */
int q_is_all(const query *q);
/* True when q_segment is always exact for this query (no verification). */
int q_is_exact(const query *q);
/* The parts of an event that matching it reads, so that callers decode
 * only those: Q_READS_MSG (words, phrases, message wildcards, regexes),
 * Q_READS_SERVICE, Q_READS_HOST and Q_READS_META (field terms and
 * comparisons). Level and timestamps are always there. */
#define Q_READS_MSG 1u
#define Q_READS_SERVICE 2u
#define Q_READS_HOST 4u
#define Q_READS_META 8u
unsigned q_reads(const query *q);

/* Terms every matching event has, namespaced as the index holds them
 * ("msg:timeout", "service:payments"): the words, phrase words and field
 * values joined by AND at the top of the query. A scan without an index
 * (the indexer's head) visits only rows holding them, then q_match decides.
 * Calls fn for at most max of them (the first ones); returns how many. */
typedef void (*q_term_fn)(void *ud, const char *term, size_t len);
size_t q_required_terms(const query *q, size_t max, q_term_fn fn, void *ud);
/* The same as alternatives, for queries with OR: every matching event
 * holds every term of at least one alternative ("(a OR b) c" gives {a, c}
 * and {b, c}). Alternative k is term[alt_end[k-1] .. alt_end[k]) (from 0
 * for k = 0). n is 0 when nothing narrows (an OR with a regex or NOT
 * under it, more than Q_MAX_ALTS alternatives): scan every row. Terms past
 * Q_MAX_ALT_TERMS in an alternative are left out (a weaker test, the same
 * answer once q_match decides). Strings point into the query or into
 * out->buf; out is large, allocate it. Returns n. */
#define Q_MAX_ALTS 8
#define Q_MAX_ALT_TERMS 8
/* Bytes for the phrase terms of one q_alts (prefix + word each): room for
 * the 64 terms at a typical 100 bytes; a term that does not fit is left out
 * (a weaker test, never a wrong one). */
#define Q_ALTS_BUF 8192
typedef struct q_alts {
    size_t n;
    size_t alt_end[Q_MAX_ALTS];
    const char *term[Q_MAX_ALTS * Q_MAX_ALT_TERMS];
    size_t len[Q_MAX_ALTS * Q_MAX_ALT_TERMS];
    size_t used;
    char buf[Q_ALTS_BUF]; /* phrase terms (prefix + word), built here */
} q_alts;
size_t q_required_alts(const query *q, q_alts *out);
/* The query in canonical form, for logs and tests (malloc'd). */
char *q_describe(const query *q);

/* Per-thread scratch for q_match. */
typedef struct q_scratch q_scratch;
q_scratch *q_scratch_new(void);
void q_scratch_free(q_scratch *s);

/* 1 when ev matches q, 0 when it does not. */
int q_match(const query *q, const strata_event *ev, q_scratch *s);
/* Rows where a regex gave up (Q_REGEX_MATCH_LIMIT) since the scratch was
 * made: the caller reports them. */
uint64_t q_scratch_regex_aborts(const q_scratch *s);

/* Candidate rows of a segment: *out (caller frees) holds every matching row
 * and, when *exact is 0, possibly others that q_match must rule out.
 * 0, or -1 with err (a wildcard expanded past Q_MAX_EXPANSIONS, a corrupt
 * index, out of memory). */
int q_segment(const query *q, seg_reader *r, roaring_bitmap_t **out, int *exact, char *err,
              size_t errlen);
/* How many rows of a segment an exact query (q_is_exact) matches, for a
 * segment whose rows are counted but not read: a single term (a word, a
 * field value), a level or everything is counted from the dictionary
 * without decoding postings; any other query through q_segment. 0, or -1
 * with err as q_segment. */
int q_segment_count(const query *q, seg_reader *r, uint64_t *out, char *err, size_t errlen);

/* A meta value as a number: a JSON number, or a string holding one (at
 * most 64 bytes, finite). 1 with *out set, or 0 (also for NULL, null and
 * booleans). Comparisons and aggregate metrics read numbers this way. */
int q_value_number(const strata_kv *kv, double *out);

/* Parse a level name (case-insensitive: trace .. fatal, warning, err,
 * critical); 0 when unknown. */
int q_level_parse(const char *s, size_t len);

#endif /* STRATA_QUERY_H */
