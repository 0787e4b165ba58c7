/*
 * segment/tokenize.h - the one tokenizer of Strata. The indexer, the query
 * language, live tail and alert filters all call it, so a word found by one is
 * found by all. docs/TOKENIZER.md is the user-facing description; the unit
 * test tests/unit/test_tokenize.c pins every rule below with an example.
 *
 * Rules:
 *  - A word is a maximal run of ASCII letters and digits, and of non-ASCII
 *    letters (any valid UTF-8 code point outside the punctuation, symbol and
 *    CJK ranges below). Everything else separates words.
 *  - Words are case-folded: ASCII, Latin-1, Greek and Cyrillic capitals map to
 *    small letters. Other scripts are kept as they are.
 *  - Han ideographs and Japanese kana are written without spaces, so each one
 *    is a token of its own (unigrams, as Lucene's standard tokenizer does).
 *  - A CamelCase ASCII word also yields its parts: `NullPointerException` gives
 *    `nullpointerexception`, `null`, `pointer`, `exception`; `HTTPServer`
 *    gives `httpserver`, `http`, `server`.
 *  - Words joined by '.', '-', ':' or '_' also yield the joined whole, so
 *    exact identifiers stay findable and so do their parts: `10.0.3.42`
 *    gives `10`, `0`, `3`, `42` and `10.0.3.42`; `payment-service` gives
 *    `payment`, `service` and `payment-service`; `u_98765` gives `u`,
 *    `98765` and `u_98765`; `CARD_DECLINED` gives `card`, `declined` and
 *    `card_declined`. A run of two or more connectors joins only when it
 *    holds '_' (`blk_-6952295868487656571` gives `blk`,
 *    `6952295868487656571` and the whole); `a--b` gives `a` and `b`.
 *  - Tokens longer than TOK_MAX_BYTES are cut at a character boundary; a
 *    joined whole longer than that is not emitted (its parts are).
 *  - Invalid UTF-8 bytes separate words; they never reach the index.
 */
#ifndef STRATA_SEGMENT_TOKENIZE_H
#define STRATA_SEGMENT_TOKENIZE_H

#include <stddef.h>

/* Longest token in bytes. Longer words are almost always encoded blobs
 * (base64, hashes of hashes); 64 bytes still holds a SHA-256 in hex. */
#define TOK_MAX_BYTES 64

/* Called once per token, in text order (a word, then its CamelCase parts; a
 * joined whole after its last part). `tok` is valid only during the call.
 * The same token may be emitted more than once for one text. */
typedef void (*tok_emit_fn)(void *ud, const char *tok, size_t len);

/* Tokenize n bytes of s. */
void tokenize(const char *s, size_t n, tok_emit_fn emit, void *ud);

/* Only the base words of s, in order, case-folded (CJK unigrams included),
 * without CamelCase parts or joined wholes: the positions a phrase query
 * matches against ("payment-service failed" gives payment, service,
 * failed). Every base word is also a token of tokenize(). */
void tokenize_words(const char *s, size_t n, tok_emit_fn emit, void *ud);

#endif /* STRATA_SEGMENT_TOKENIZE_H */
