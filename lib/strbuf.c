/*
 * lib/strbuf.c - growable byte buffer (see strbuf.h).
 */
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bigmem.h"
#include "utf8.h"

/* Input bytes escaped per reservation: the room reserved is 6 times this. */
#define SB_JSON_CHUNK 4096u
#include "strata/abi.h"

/* Grow so that n more bytes plus a NUL fit (callers that write into
 * buf + len directly then advance len themselves). */
int sb_reserve(strbuf *sb, size_t n)
{
    if (sb->len + n + 1 <= sb->cap)
        return 0;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + n + 1) {
        if (cap > ((size_t)-1) / 2) {
            sb->oom = 1;
            return STRATA_ENOMEM;
        }
        cap *= 2;
    }
    char *b = bigmem_realloc(sb->buf, sb->cap, cap);
    if (!b) {
        sb->oom = 1;
        return STRATA_ENOMEM;
    }
    sb->buf = b;
    sb->cap = cap;
    return 0;
}

int sb_append(strbuf *sb, const void *data, size_t n)
{
    if (sb_reserve(sb, n))
        return STRATA_ENOMEM;
    if (n)
        memcpy(sb->buf + sb->len, data, n);
    sb->len += n;
    sb->buf[sb->len] = 0;
    return 0;
}

int sb_puts(strbuf *sb, const char *s)
{
    return sb_append(sb, s, strlen(s));
}

int sb_printf(strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return STRATA_EINVAL;
    if ((size_t)n < sizeof small)
        return sb_append(sb, small, (size_t)n);
    if (sb_reserve(sb, (size_t)n))
        return STRATA_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
    return 0;
}

char *json_escape_to(char *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (char)c;
        } else if (c >= 0x80) {
            size_t k = utf8_seq_len((const unsigned char *)s + i, n - i);
            if (k) { /* a whole UTF-8 character, as it is */
                memcpy(o, s + i, k);
                o += k;
                i += k - 1;
            } else { /* not UTF-8: the replacement character, so the text stays JSON */
                static const char repl[6] = {'\\', 'u', 'f', 'f', 'f', 'd'};
                memcpy(o, repl, sizeof repl);
                o += sizeof repl;
            }
        } else if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else {
            o[0] = '\\';
            o[1] = 'u';
            o[2] = '0';
            o[3] = '0';
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        }
    }
    return o;
}

/* Append s as a JSON string literal (strbuf.h), escaped a chunk at a time
 * into room reserved for the worst case (6 bytes a byte), each chunk ending
 * at a character boundary. */
int sb_json_strn(strbuf *sb, const char *s, size_t n)
{
    sb_append(sb, "\"", 1);
    size_t i = 0;
    while (i < n) {
        size_t end = n - i > SB_JSON_CHUNK ? i + SB_JSON_CHUNK : n;
        for (int back = 0; back < 3 && end < n && end > i + 1 && (s[end] & 0xc0) == 0x80; back++)
            end--;
        if (sb_reserve(sb, (end - i) * 6))
            return STRATA_ENOMEM;
        char *o = json_escape_to(sb->buf + sb->len, s + i, end - i);
        sb->len = (size_t)(o - sb->buf);
        sb->buf[sb->len] = 0;
        i = end;
    }
    return sb_append(sb, "\"", 1);
}

int sb_json_str(strbuf *sb, const char *s)
{
    return sb_json_strn(sb, s, strlen(s));
}

/* True when s is a JSON number, true or false, so it can be written bare.
 * A plugin that mislabels a value gets it quoted instead of invalid JSON. */
int json_scalar_ok(const char *s, size_t n)
{
    if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0))
        return 1;
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i == n || s[i] < '0' || s[i] > '9')
        return 0;
    if (s[i] == '0')
        i++;
    else
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    if (i < n && s[i] == '.') {
        i++;
        if (i == n || s[i] < '0' || s[i] > '9')
            return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i == n || s[i] < '0' || s[i] > '9')
            return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    return i == n;
}

void sb_reset(strbuf *sb)
{
    sb->len = 0;
    sb->oom = 0;
    if (sb->buf)
        sb->buf[0] = 0;
}

void sb_free(strbuf *sb)
{
    free(sb->buf);
    sb->buf = NULL;
    sb->len = sb->cap = 0;
    sb->oom = 0;
}

char *sb_steal(strbuf *sb)
{
    char *b = sb->buf;
    if (!b)
        b = calloc(1, 1);
    sb->buf = NULL;
    sb->len = sb->cap = 0;
    return b;
}
