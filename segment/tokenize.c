/*
 * segment/tokenize.c - the tokenizer (rules in tokenize.h).
 *
 * One pass over the bytes. A word accumulates in `word`; when it ends it is
 * emitted with its CamelCase parts and appended to the joined whole in
 * `joined`, which continues only across a single connector character that is
 * directly followed by another word.
 */
#include "tokenize.h"

#include <stdint.h>
#include <string.h>

/* Most CamelCase parts tracked in one word; later parts stay in the word. */
#define TOK_MAX_CAMEL 16

typedef struct tokstate {
    tok_emit_fn emit;
    void *ud;
    char word[TOK_MAX_BYTES];
    size_t wlen;
    int wascii;                  /* the word is all ASCII: CamelCase applies */
    int wcut;                    /* the word was longer than TOK_MAX_BYTES */
    size_t camel[TOK_MAX_CAMEL]; /* offsets where a CamelCase part starts */
    size_t ncamel;
    char joined[TOK_MAX_BYTES];
    size_t jlen;
    size_t jpend;   /* connector bytes at the end of `joined` awaiting a word */
    int jwords;     /* words in `joined` so far */
    int joverflow;  /* `joined` did not fit */
    int words_only; /* tokenize_words: base words only, no parts or wholes */
} tokstate;

/* 1 for the ASCII word bytes [A-Za-z0-9]: a table, because the scan of a
 * word's bytes is the tokenizer's inner loop. */
static const unsigned char WORD_ASCII[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,
    ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
    ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

/* 1 for an ASCII byte that belongs to words (letters and digits), from the table. */
static int is_word_ascii(unsigned char c)
{
    return WORD_ASCII[c];
}

/* 1 for the bytes that join words into a whole ('.', '-', ':', '_'). */
static int is_connector(unsigned char c)
{
    return c == '.' || c == '-' || c == ':' || c == '_';
}

/* Decode one UTF-8 code point at s[0..n); returns its length and sets *cp, or
 * 0 for an invalid sequence (overlong, surrogate, past U+10FFFF, truncated). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

/* Han ideographs and kana: one token per character. */
static int is_cjk_unigram(uint32_t cp)
{
    return (cp >= 0x3040 && cp <= 0x30ff) || (cp >= 0x31f0 && cp <= 0x31ff) ||
           (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x4e00 && cp <= 0x9fff) ||
           (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x20000 && cp <= 0x3134f);
}

/* Non-ASCII punctuation, symbols, spaces and emoji: separators. */
static int is_unicode_separator(uint32_t cp)
{
    return cp <= 0xbf || cp == 0xd7 || cp == 0xf7 || (cp >= 0x2000 && cp <= 0x2bff) ||
           (cp >= 0x3000 && cp <= 0x303f) || (cp >= 0xfe30 && cp <= 0xfe4f) ||
           (cp >= 0xff00 && cp <= 0xff0f) || (cp >= 0xff1a && cp <= 0xff20) ||
           (cp >= 0xfff0 && cp <= 0xffff) || (cp >= 0x1f000 && cp <= 0x1faff);
}

/* Simple case folding for the scripts whose capitals map one to one within
 * the same UTF-8 length: Latin-1, Greek, Cyrillic. */
static uint32_t fold(uint32_t cp)
{
    if ((cp >= 0xc0 && cp <= 0xde && cp != 0xd7) || (cp >= 0x391 && cp <= 0x3ab && cp != 0x3a2) ||
        (cp >= 0x410 && cp <= 0x42f))
        return cp + 0x20;
    if (cp >= 0x400 && cp <= 0x40f)
        return cp + 0x50;
    return cp;
}

/* Encode a code point known to be 2 bytes long. */
static void utf8_put2(char *out, uint32_t cp)
{
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
}

/* Emit a token already case-folded (empty ones are not tokens). */
static void emit_lower(tokstate *t, const char *s, size_t n)
{
    if (n)
        t->emit(t->ud, s, n);
}

/* End of the current joined whole: emit it if it joins two or more words. */
static void end_joined(tokstate *t)
{
    t->jlen -= t->jpend; /* connectors not followed by a word after all */
    if (t->jwords >= 2 && !t->joverflow && !t->words_only)
        emit_lower(t, t->joined, t->jlen);
    t->jlen = 0;
    t->jpend = 0;
    t->jwords = 0;
    t->joverflow = 0;
}

/* 1 for an ASCII capital. */
static int is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}
/* 1 for an ASCII small letter. */
static int is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

/* Record CamelCase boundaries of an ASCII word once it is complete. */
static void find_camel(tokstate *t)
{
    if (!t->wascii)
        return;
    for (size_t i = 1; i < t->wlen && t->ncamel < TOK_MAX_CAMEL; i++) {
        char p = t->word[i - 1], c = t->word[i];
        int lower_to_upper = is_lower(p) && is_upper(c);
        int acronym_end = is_upper(p) && is_upper(c) && i + 1 < t->wlen && is_lower(t->word[i + 1]);
        if (lower_to_upper || acronym_end)
            t->camel[t->ncamel++] = i;
    }
}

/* End of the current word: emit it, its CamelCase parts, and add it to the
 * joined whole. */
static void end_word(tokstate *t)
{
    if (!t->wlen)
        return;
    char low[TOK_MAX_BYTES];
    int upper = 0;
    memcpy(low, t->word, t->wlen);
    for (size_t i = 0; i < t->wlen; i++) /* ASCII bytes never occur inside a UTF-8 sequence */
        if (is_upper(low[i])) {
            low[i] = (char)(low[i] + 32);
            upper = 1;
        }
    if (upper && !t->words_only) /* CamelCase needs a capital: most words have none */
        find_camel(t);
    emit_lower(t, low, t->wlen);
    if (t->wascii && t->ncamel > 0 && !t->words_only) {
        size_t start = 0;
        for (size_t k = 0; k <= t->ncamel; k++) {
            size_t end = k < t->ncamel ? t->camel[k] : t->wlen;
            emit_lower(t, low + start, end - start);
            start = end;
        }
    }
    t->jpend = 0;
    if (!t->wcut && t->jlen + t->wlen <= sizeof t->joined) {
        memcpy(t->joined + t->jlen, low, t->wlen);
        t->jlen += t->wlen;
    } else {
        t->joverflow = 1;
    }
    t->jwords++;
    t->wlen = 0;
    t->ncamel = 0;
    t->wascii = 1;
    t->wcut = 0;
}

/* Append bytes of one character to the word, unless the word is full (the
 * rest of a long word is dropped: tokens are cut at a character boundary). */
static void word_add(tokstate *t, const char *s, size_t n)
{
    if (t->wlen + n > sizeof t->word) {
        t->wcut = 1;
        return;
    }
    memcpy(t->word + t->wlen, s, n);
    t->wlen += n;
}

/* Append a run of n ASCII word bytes, one character each: as many as fit,
 * as word_add would one by one. */
static void word_add_ascii(tokstate *t, const char *s, size_t n)
{
    size_t room = sizeof t->word - t->wlen;
    if (n > room) {
        t->wcut = 1;
        n = room;
    }
    memcpy(t->word + t->wlen, s, n);
    t->wlen += n;
}

/* The tokenizer proper; words_only drops CamelCase parts and joined wholes. */
static void tokenize_mode(const char *s, size_t n, tok_emit_fn emit, void *ud, int words_only)
{
    tokstate t;
    t.words_only = words_only;
    t.emit = emit;
    t.ud = ud;
    t.wlen = 0;
    t.wascii = 1;
    t.wcut = 0;
    t.ncamel = 0;
    t.jlen = 0;
    t.jpend = 0;
    t.jwords = 0;
    t.joverflow = 0;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = u[i];
        if (c < 0x80) {
            if (is_word_ascii(c)) {
                size_t j = i + 1;
                while (j < n && is_word_ascii(u[j]))
                    j++;
                word_add_ascii(&t, s + i, j - i);
                i = j;
                continue;
            }
            int had_word = t.wlen > 0;
            end_word(&t);
            if (!had_word || !is_connector(c)) {
                end_joined(&t);
                i++;
                continue;
            }
            /* a run of connectors between two words continues the whole when
             * it is one byte or holds '_' (blk_-695, a__b); a--b breaks it */
            size_t j = i, under = 0;
            while (j < n && is_connector(u[j]))
                under |= u[j++] == '_';
            int joins = (j - i == 1 || under) && j < n && (is_word_ascii(u[j]) || u[j] >= 0xc2);
            if (joins && !t.joverflow && t.jlen + (j - i) <= sizeof t.joined) {
                memcpy(t.joined + t.jlen, s + i, j - i);
                t.jlen += j - i;
                t.jpend = j - i;
            } else if (joins) {
                t.joverflow = 1;
            } else {
                end_joined(&t);
            }
            i = j;
            continue;
        }
        uint32_t cp = 0;
        size_t len = utf8_decode(u + i, n - i, &cp);
        if (len == 0 || is_unicode_separator(cp) || is_cjk_unigram(cp)) {
            end_word(&t);
            end_joined(&t);
            if (len && is_cjk_unigram(cp))
                emit_lower(&t, s + i, len);
            i += len ? len : 1;
            continue;
        }
        uint32_t f = fold(cp);
        t.wascii = 0;
        if (f != cp) {
            char two[2];
            utf8_put2(two, f);
            word_add(&t, two, 2);
        } else {
            word_add(&t, s + i, len);
        }
        i += len;
    }
    end_word(&t);
    end_joined(&t);
}

void tokenize(const char *s, size_t n, tok_emit_fn emit, void *ud)
{
    tokenize_mode(s, n, emit, ud, 0);
}

void tokenize_words(const char *s, size_t n, tok_emit_fn emit, void *ud)
{
    tokenize_mode(s, n, emit, ud, 1);
}
