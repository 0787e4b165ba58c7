/*
 * lib/strbuf.h - a growable byte buffer for building responses and text.
 *
 * Ownership: the struct is the caller's (usually on the stack); sb_free
 * releases its memory. Every append returns 0 or STRATA_ENOMEM, and after a
 * failed append the buffer keeps what it had (sb->oom is set so a long
 * sequence of appends can be checked once at the end).
 * Thread: whoever owns it.
 */
#ifndef STRATA_LIB_STRBUF_H
#define STRATA_LIB_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct strbuf {
    char *buf; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    int oom;
} strbuf;

/* Append n bytes (kept NUL-terminated); 0, or STRATA_ENOMEM with sb->oom
 * set, which stays set, so a writer may check oom once at the end. */
int sb_append(strbuf *sb, const void *data, size_t n);
/* Make room for n more bytes (plus the NUL) without changing len; for
 * writers that fill buf + len directly and then advance len. */
int sb_reserve(strbuf *sb, size_t n);
int sb_puts(strbuf *sb, const char *s);
int sb_printf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sb_json_str(strbuf *sb, const char *s); /* s as a quoted JSON string */
/* n bytes of s as a quoted JSON string: control characters, '"' and '\\'
 * escaped, and each byte that is not part of valid UTF-8 written as
 * \ufffd, so the result is valid JSON text whatever s holds. */
int sb_json_strn(strbuf *sb, const char *s, size_t n);
/* The same escaping (without the quotes) written at o, which has room for
 * 6 bytes per byte of s; returns the new end. */
char *json_escape_to(char *o, const char *s, size_t n);
/* True when s (n bytes) is a JSON number, true or false, so it can be
 * written bare: a value mislabelled as a number is quoted instead of
 * producing invalid JSON. */
int json_scalar_ok(const char *s, size_t n);
void sb_reset(strbuf *sb);
void sb_free(strbuf *sb);
char *sb_steal(strbuf *sb); /* the buffer (caller frees), or NULL */

#endif /* STRATA_LIB_STRBUF_H */
