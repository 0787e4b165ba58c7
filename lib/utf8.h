/*
 * lib/utf8.h - UTF-8 validity, as RFC 3629 defines it (no overlong forms,
 * no surrogates, nothing above U+10FFFF): the ingest decoder refuses events
 * that are not, and JSON written out replaces what is not, so an answer is
 * always valid JSON text whatever bytes a request held.
 */
#ifndef STRATA_LIB_UTF8_H
#define STRATA_LIB_UTF8_H

#include <stddef.h>

/* The length (1 to 4) of the valid UTF-8 sequence at s (n bytes there, at
 * least 1), or 0 when the bytes there are not one. */
size_t utf8_seq_len(const unsigned char *s, size_t n);
/* n if all n bytes at s are valid UTF-8, else the offset of the first byte
 * that is not. */
size_t utf8_valid_prefix(const unsigned char *s, size_t n);

#endif /* STRATA_LIB_UTF8_H */
