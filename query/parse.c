/*
 * query/parse.c - text to query tree (grammar in docs/QUERY.md).
 *
 *   query   := or?                        empty text matches everything
 *   or      := and ( "OR" and )*
 *   and     := not ( "AND"? not )*        implicit AND between terms
 *   not     := ( "NOT" | "-" ) not | primary
 *   primary := "(" or ")" | term
 *   term    := word | "phrase" | /regex/flags | field op value
 *
 * Recursive descent over the text itself (no token array): `pos` moves
 * forward, and every error names the 1-based column where it was noticed.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_int.h"
#include "tokenize.h"

typedef struct parser {
    const char *s;
    size_t n, pos;
    query *q;
    int depth;
    char *err;
    size_t errlen;
    int failed;
} parser;

static void perr(parser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Record the first error with its column (1-based) and stop parsing; later errors are dropped. */
static void perr(parser *p, size_t at, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = 1;
    if (!p->err || !p->errlen)
        return;
    int k = snprintf(p->err, p->errlen, "column %zu: ", at + 1);
    if (k < 0 || (size_t)k >= p->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
    va_end(ap);
}

/* A new node of the query, or NULL (an error) past Q_MAX_NODES. */
static q_node *node(parser *p, q_kind kind, size_t at)
{
    if (p->q->nnodes >= Q_MAX_NODES) {
        perr(p, at, "the query has more than %d terms and operators", Q_MAX_NODES);
        return NULL;
    }
    q_node *n = &p->q->nodes[p->q->nnodes++];
    n->kind = kind;
    n->column = (int)at + 1;
    return n;
}

/* Copy n bytes into d as a NUL-terminated string; -1 on OOM. */
static int qstr_set(q_str *d, const char *s, size_t n)
{
    d->p = malloc(n + 1);
    if (!d->p)
        return -1;
    memcpy(d->p, s, n);
    d->p[n] = 0;
    d->n = n;
    return 0;
}

/* Append an item (a term or a word) to n->items unless already there. */
static int add_item(q_node *n, const char *s, size_t len)
{
    for (size_t i = 0; i < n->nitems; i++)
        if (n->items[i].n == len && memcmp(n->items[i].p, s, len) == 0)
            return 0;
    if (n->nitems >= Q_MAX_NODES)
        return -1;
    q_str *it = realloc(n->items, (n->nitems + 1) * sizeof *it);
    if (!it)
        return -1;
    n->items = it;
    if (qstr_set(&n->items[n->nitems], s, len) < 0)
        return -1;
    n->nitems++;
    return 0;
}

/* Tokenizer callbacks building Q_TERMS (namespaced) and Q_PHRASE (words). */
typedef struct collect {
    q_node *n;
    int oom;
} collect;

/* Tokenizer callback: add one token of a value, with the node's namespace, as a term the node
 * needs. */
static void collect_term(void *ud, const char *tok, size_t len)
{
    collect *c = ud;
    char buf[Q_PREFIX_MAX + TOK_MAX_BYTES];
    if (c->n->prefix.n + len > sizeof buf)
        return;
    memcpy(buf, c->n->prefix.p, c->n->prefix.n);
    memcpy(buf + c->n->prefix.n, tok, len);
    if (add_item(c->n, buf, c->n->prefix.n + len) < 0)
        c->oom = 1;
}

/* Tokenizer callback: add one base word of a phrase, in order. */
static void collect_word(void *ud, const char *tok, size_t len)
{
    collect *c = ud;
    if (c->n->nitems >= Q_MAX_NODES) {
        c->oom = 1;
        return;
    }
    q_str *it = realloc(c->n->items, (c->n->nitems + 1) * sizeof *it);
    if (!it || qstr_set(&it[c->n->nitems], tok, len) < 0) {
        if (it)
            c->n->items = it;
        c->oom = 1;
        return;
    }
    c->n->items = it;
    c->n->nitems++;
}

/* 1 for the whitespace that separates query terms. */
static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Move past whitespace. */
static void skip_space(parser *p)
{
    while (p->pos < p->n && is_space(p->s[p->pos]))
        p->pos++;
}

/* Does a bare word end here? */
static int word_end(char c)
{
    return is_space(c) || c == '(' || c == ')' || c == '"';
}

/* Is the bare word at pos the keyword kw (AND, OR, NOT: upper case only)? */
static int at_keyword(const parser *p, const char *kw)
{
    size_t k = strlen(kw);
    return p->pos + k <= p->n && memcmp(p->s + p->pos, kw, k) == 0 &&
           (p->pos + k == p->n || word_end(p->s[p->pos + k]));
}

/* Read a quoted string starting at p->pos ('"'); unescapes \" and \\ into
 * *out (malloc'd). */
static int read_quoted(parser *p, q_str *out)
{
    size_t start = p->pos++;
    char *buf = malloc(p->n - start + 1);
    if (!buf) {
        perr(p, start, "out of memory");
        return -1;
    }
    size_t k = 0;
    while (p->pos < p->n && p->s[p->pos] != '"') {
        char c = p->s[p->pos];
        if (c == '\\' && p->pos + 1 < p->n &&
            (p->s[p->pos + 1] == '"' || p->s[p->pos + 1] == '\\')) {
            c = p->s[++p->pos];
        }
        buf[k++] = c;
        p->pos++;
    }
    if (p->pos >= p->n) {
        free(buf);
        perr(p, start, "the quote opened here is never closed (expected '\"')");
        return -1;
    }
    p->pos++; /* closing quote */
    buf[k] = 0;
    out->p = buf;
    out->n = k;
    return 0;
}

/* 1 when a word holds '*' or '?'. */
static int has_wildcard(const char *s, size_t n)
{
    return memchr(s, '*', n) || memchr(s, '?', n);
}

/* Case-fold a wildcard pattern as the tokenizer folds words (ASCII here;
 * non-ASCII letters are matched as written, see docs/QUERY.md). */
static void fold_ascii(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            s[i] = (char)(s[i] + 32);
}

/* A wildcard node for field f: the folded pattern v (vn bytes) and its literal prefix. */
static q_node *wild_node(parser *p, size_t at, q_field f, const q_str *prefix, const char *v,
                         size_t vn)
{
    q_node *n = node(p, Q_WILD, at);
    if (!n)
        return NULL;
    n->field = f;
    if (qstr_set(&n->prefix, prefix->p, prefix->n) < 0 || qstr_set(&n->pattern, v, vn) < 0) {
        perr(p, at, "out of memory");
        return NULL;
    }
    fold_ascii(n->pattern.p, vn);
    size_t lit = 0;
    while (lit < vn && v[lit] != '*' && v[lit] != '?')
        lit++;
    n->literal_len = lit;
    return n;
}

/* Words of a value: Q_TERMS (all tokens, namespaced) or, quoted, Q_PHRASE. */
static q_node *text_node(parser *p, size_t at, q_field f, const q_str *prefix, const char *v,
                         size_t vn, int quoted)
{
    q_node *n = node(p, quoted ? Q_PHRASE : Q_TERMS, at);
    if (!n)
        return NULL;
    n->field = f;
    if (qstr_set(&n->prefix, prefix->p, prefix->n) < 0) {
        perr(p, at, "out of memory");
        return NULL;
    }
    collect c = {.n = n, .oom = 0};
    if (quoted)
        tokenize_words(v, vn, collect_word, &c);
    else
        tokenize(v, vn, collect_term, &c);
    if (c.oom) {
        perr(p, at, "too many words in one term");
        return NULL;
    }
    if (n->nitems == 0) {
        perr(p, at, "'%.*s' contains no letters or digits to search for", (int)(vn > 60 ? 60 : vn),
             v);
        return NULL;
    }
    return n;
}

/* A comparison's operator as the query spells it. */
static const char *cmp_name(q_cmp c)
{
    static const char *const names[] = {":", "<", "<=", ">", ">="};
    return names[c];
}

/* A field term: name, operator, then a value (bare or quoted). */
static q_node *field_term(parser *p, size_t at, const char *name, size_t nlen, q_cmp cmp,
                          size_t oplen)
{
    p->pos = at + nlen + oplen;
    q_str val = {0};
    int quoted = 0;
    size_t vat = p->pos;
    if (p->pos < p->n && p->s[p->pos] == '"') {
        if (read_quoted(p, &val) < 0)
            return NULL;
        quoted = 1;
    } else {
        size_t s = p->pos;
        while (p->pos < p->n && !word_end(p->s[p->pos]))
            p->pos++;
        if (p->pos == s) {
            perr(p, vat, "expected a value after '%.*s%s'", (int)nlen, name, cmp_name(cmp));
            return NULL;
        }
        if (qstr_set(&val, p->s + s, p->pos - s) < 0) {
            perr(p, at, "out of memory");
            return NULL;
        }
    }
    q_node *n = NULL;
    q_str prefix = {0};
    char pbuf[Q_PREFIX_MAX];
    if (nlen == 5 && memcmp(name, "level", 5) == 0) {
        int lv = q_level_parse(val.p, val.n);
        if (!lv) {
            perr(p, vat, "unknown level '%.*s' (expected trace, debug, info, warn, error or fatal)",
                 (int)(val.n > 40 ? 40 : val.n), val.p);
        } else if ((n = node(p, Q_LEVEL, at))) {
            n->field = QF_LEVEL;
            for (int l = STRATA_LEVEL_TRACE; l <= STRATA_LEVEL_FATAL; l++) {
                int in = cmp == QC_EQ   ? l == lv
                         : cmp == QC_LT ? l < lv
                         : cmp == QC_LE ? l <= lv
                         : cmp == QC_GT ? l > lv
                                        : l >= lv;
                if (in)
                    n->levels |= 1u << l;
            }
        }
    } else if (nlen > SEG_NS_LEN(SEG_NS_META) &&
               memcmp(name, SEG_NS_META, SEG_NS_LEN(SEG_NS_META)) == 0) {
        size_t klen = nlen - SEG_NS_LEN(SEG_NS_META);
        if (nlen + 1 > sizeof pbuf) {
            perr(p, at, "meta keys longer than %d bytes are stored but not indexed",
                 (int)(sizeof pbuf - SEG_NS_LEN(SEG_NS_META) - 1));
            free(val.p);
            return NULL;
        }
        memcpy(pbuf, name, nlen);
        pbuf[nlen] = ':';
        prefix.p = pbuf;
        prefix.n = nlen + 1;
        if (cmp != QC_EQ || (oplen == 1 && p->s[at + nlen] == '=')) {
            char *end = NULL;
            errno = 0;
            double v = strtod(val.p, &end);
            if (quoted || end == val.p || *end || errno || !isfinite(v)) {
                perr(p, vat, "'%.*s%s' needs a number, not '%.*s'", (int)nlen, name,
                     oplen == 1 && p->s[at + nlen] == '=' ? "=" : cmp_name(cmp),
                     (int)(val.n > 40 ? 40 : val.n), val.p);
            } else if ((n = node(p, Q_NUM, at))) {
                n->cmp = cmp;
                n->num = v;
            }
        } else if (!quoted && val.n == 1 && val.p[0] == '*') {
            n = node(p, Q_EXISTS, at);
        } else if (!quoted && has_wildcard(val.p, val.n)) {
            n = wild_node(p, at, QF_META, &prefix, val.p, val.n);
        } else {
            n = text_node(p, at, QF_META, &prefix, val.p, val.n, quoted);
        }
        if (n) {
            n->field = QF_META;
            if (qstr_set(&n->key, name + SEG_NS_LEN(SEG_NS_META), klen) < 0 ||
                (!n->prefix.p && qstr_set(&n->prefix, prefix.p, prefix.n) < 0)) {
                perr(p, at, "out of memory");
                n = NULL;
            }
        }
    } else if (cmp != QC_EQ) {
        perr(p, at + nlen, "'%.*s' cannot be compared with '%s' (only level and meta.KEY can)",
             (int)nlen, name, cmp_name(cmp));
    } else if (nlen == 3) { /* msg */
        prefix.p = SEG_NS_MSG;
        prefix.n = SEG_NS_LEN(SEG_NS_MSG);
        if (!quoted && has_wildcard(val.p, val.n))
            n = (val.n == 1 && val.p[0] == '*') ? node(p, Q_ALL, at)
                                                : wild_node(p, at, QF_MSG, &prefix, val.p, val.n);
        else
            n = text_node(p, at, QF_MSG, &prefix, val.p, val.n, quoted);
    } else { /* service, host: the whole value */
        q_field f = nlen == 7 ? QF_SERVICE : QF_HOST;
        prefix.p = f == QF_SERVICE ? SEG_NS_SERVICE : SEG_NS_HOST;
        prefix.n = f == QF_SERVICE ? SEG_NS_LEN(SEG_NS_SERVICE) : SEG_NS_LEN(SEG_NS_HOST);
        char whole[TOK_MAX_BYTES];
        size_t wn = seg_whole_value(val.p, val.n, whole);
        if (!quoted && has_wildcard(val.p, val.n)) {
            n = wild_node(p, at, f, &prefix, whole, wn);
        } else if ((n = node(p, Q_TERMS, at))) {
            char term[Q_PREFIX_MAX + TOK_MAX_BYTES];
            memcpy(term, prefix.p, prefix.n);
            memcpy(term + prefix.n, whole, wn);
            n->field = f;
            if (qstr_set(&n->prefix, prefix.p, prefix.n) < 0 ||
                add_item(n, term, prefix.n + wn) < 0) {
                perr(p, at, "out of memory");
                n = NULL;
            }
        }
    }
    free(val.p);
    return n;
}

/* If the word at p->pos starts with a field name and an operator, parse it
 * as a field term and return 1 (with *out set, NULL on error); else 0. */
static int try_field(parser *p, q_node **out)
{
    size_t at = p->pos, i = at;
    while (i < p->n && (isalnum((unsigned char)p->s[i]) || p->s[i] == '_'))
        i++;
    if (i == at || i >= p->n)
        return 0;
    size_t nlen = i - at;
    const char *name = p->s + at;
    int is_meta = nlen == 4 && memcmp(name, "meta", 4) == 0 && p->s[i] == '.';
    if (is_meta) { /* meta.KEY: the key runs to the operator */
        i++;
        size_t ks = i;
        while (i < p->n && !word_end(p->s[i]) && p->s[i] != ':' && p->s[i] != '<' &&
               p->s[i] != '>' && p->s[i] != '=')
            i++;
        if (i == ks || i >= p->n) {
            perr(p, at, "expected a key and a value after 'meta.' (meta.KEY:value)");
            *out = NULL;
            return 1;
        }
        nlen = i - at;
    }
    char c = p->s[i];
    q_cmp cmp = QC_EQ;
    size_t oplen = 1;
    if (c == ':' || c == '=') {
        cmp = QC_EQ;
    } else if (c == '<' || c == '>') {
        int eq = i + 1 < p->n && p->s[i + 1] == '=';
        cmp = c == '<' ? (eq ? QC_LE : QC_LT) : (eq ? QC_GE : QC_GT);
        oplen = eq ? 2 : 1;
    } else {
        return 0;
    }
    int known = is_meta || (nlen == 7 && memcmp(name, "service", 7) == 0) ||
                (nlen == 4 && memcmp(name, "host", 4) == 0) ||
                (nlen == 5 && memcmp(name, "level", 5) == 0) ||
                (nlen == 3 && memcmp(name, "msg", 3) == 0);
    if (!known) {
        if (c != ':' || !isalpha((unsigned char)name[0]))
            return 0; /* 10:30:00, a<b: plain text */
        if (i + 2 < p->n && p->s[i + 1] == '/' && p->s[i + 2] == '/')
            return 0; /* a URL */
        perr(p, at,
             "unknown field '%.*s' (fields are service, host, level, msg and meta.KEY); "
             "put the text in quotes to search for it",
             (int)(nlen > 40 ? 40 : nlen), name);
        *out = NULL;
        return 1;
    }
    if (c == '=' && !is_meta) {
        cmp = QC_EQ;
    }
    *out = field_term(p, at, name, nlen, cmp, oplen);
    return 1;
}

/* 1 for the bytes of a word a regex literal may keep (ASCII letters and
 * digits: '_' joins words, so a run across it may lie in no token). */
static int is_word_byte(char c)
{
    return isalnum((unsigned char)c);
}

/* The longest run of word characters (ASCII letters and digits) every
 * match of the regex must contain, lower-cased into out (at least
 * Q_REGEX_MIN_LITERAL bytes), or 0 when none is certain. Conservative:
 * only a pattern without alternation, only characters outside groups and
 * classes, and a character a quantifier may repeat zero times ends the run
 * before it. Such a run lies inside one word of msg, so inside one token
 * (lower-cased) of the index: terms containing it give the candidates. */
static size_t regex_literal(const char *re, size_t n, char *out, size_t cap)
{
    if (memchr(re, '|', n))
        return 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (re[i] == '(' && re[i + 1] == '?')
            return 0; /* inline options ((?x) ignores spaces, # comments) */
    size_t best = 0, run = 0, start = 0, depth = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? re[i] : 0;
        int lit = i < n && depth == 0 && is_word_byte(c);
        if (lit && i + 1 < n && (re[i + 1] == '?' || re[i + 1] == '*' || re[i + 1] == '{'))
            lit = 0; /* may be absent: the run stops before it */
        if (lit) {
            if (!run)
                start = i;
            run++;
            continue;
        }
        if (run > best && run <= cap) {
            best = run;
            for (size_t k = 0; k < run; k++)
                out[k] = (char)tolower((unsigned char)re[start + k]);
        }
        run = 0;
        if (i >= n)
            break;
        if (c == '\\') {
            /* one-character escapes (\d, \b, \., ...) are never part of a
             * run; escapes with arguments (\x41, \p{L}, \1, \Q..\E) give
             * up: the characters after them are not what they look like */
            if (i + 1 < n && isalnum((unsigned char)re[i + 1]) &&
                !strchr("bBdDsSwWntrAzZG", re[i + 1]))
                return 0;
            i++;
        } else if (c == '[') {
            size_t j = i + 1;
            if (j < n && re[j] == ']')
                j++;
            while (j < n && re[j] != ']')
                j += re[j] == '\\' ? 2 : 1;
            i = j;
        } else if (c == '(') {
            depth++;
        } else if (c == ')' && depth) {
            depth--;
        }
    }
    return best >= Q_REGEX_MIN_LITERAL ? best : 0;
}

/* /regex/flags on msg. */
static q_node *regex_term(parser *p)
{
    size_t at = p->pos++;
    size_t s = p->pos;
    while (p->pos < p->n && p->s[p->pos] != '/') {
        if (p->s[p->pos] == '\\' && p->pos + 1 < p->n)
            p->pos++;
        p->pos++;
    }
    if (p->pos >= p->n) {
        perr(p, at, "the regex opened here is never closed (expected '/')");
        return NULL;
    }
    size_t e = p->pos++;
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
    while (p->pos < p->n && !word_end(p->s[p->pos])) {
        if (p->s[p->pos] == 'i') {
            opts |= PCRE2_CASELESS;
        } else {
            perr(p, p->pos, "unknown regex flag '%c' (the only flag is i)", p->s[p->pos]);
            return NULL;
        }
        p->pos++;
    }
    /* "\/" stands for "/" inside the delimiters; PCRE2 reads "\/" as "/" too */
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(p->s + s), e - s, opts, &code, &off, NULL);
    if (!re) {
        char msg[160];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof msg);
        perr(p, s + off, "invalid regex: %s", msg);
        return NULL;
    }
    q_node *n = node(p, Q_REGEX, at);
    if (!n) {
        pcre2_code_free(re);
        return NULL;
    }
    n->field = QF_MSG;
    n->re = re;
    char lit[TOK_MAX_BYTES];
    size_t ll = regex_literal(p->s + s, e - s, lit, sizeof lit);
    if (ll && (qstr_set(&n->pattern, lit, ll) < 0 ||
               qstr_set(&n->prefix, SEG_NS_MSG, SEG_NS_LEN(SEG_NS_MSG)) < 0)) {
        perr(p, at, "out of memory");
        return NULL;
    }
    return n;
}

static q_node *parse_or(parser *p);

/* A word, phrase, field, regex or parenthesised expression at the current position. */
static q_node *parse_primary(parser *p)
{
    skip_space(p);
    if (p->pos >= p->n) {
        perr(p, p->pos, "expected a word, a phrase or '(' but the query ended");
        return NULL;
    }
    size_t at = p->pos;
    char c = p->s[at];
    if (c == '(') {
        if (++p->depth > Q_MAX_DEPTH) {
            perr(p, at, "parentheses nested deeper than %d", Q_MAX_DEPTH);
            return NULL;
        }
        p->pos++;
        q_node *in = parse_or(p);
        if (!in)
            return NULL;
        skip_space(p);
        if (p->pos >= p->n || p->s[p->pos] != ')') {
            perr(p, p->pos, "expected ')' to close the '(' at column %zu", at + 1);
            return NULL;
        }
        p->pos++;
        p->depth--;
        return in;
    }
    if (c == ')') {
        perr(p, at, "unexpected ')' (no '(' is open)");
        return NULL;
    }
    if (c == '"') {
        q_str v;
        if (read_quoted(p, &v) < 0)
            return NULL;
        q_str prefix = {SEG_NS_MSG, SEG_NS_LEN(SEG_NS_MSG)};
        q_node *n = text_node(p, at, QF_MSG, &prefix, v.p, v.n, 1);
        free(v.p);
        return n;
    }
    if (c == '/')
        return regex_term(p);
    if (at_keyword(p, "AND") || at_keyword(p, "OR")) {
        perr(p, at, "expected a word, a phrase or '(' before '%s'", c == 'A' ? "AND" : "OR");
        return NULL;
    }
    q_node *f = NULL;
    if (try_field(p, &f))
        return f;
    if (p->failed)
        return NULL;
    size_t s = p->pos;
    while (p->pos < p->n && !word_end(p->s[p->pos]))
        p->pos++;
    q_str prefix = {SEG_NS_MSG, SEG_NS_LEN(SEG_NS_MSG)};
    if (p->pos - s == 1 && p->s[s] == '*')
        return node(p, Q_ALL, at);
    if (has_wildcard(p->s + s, p->pos - s))
        return wild_node(p, at, QF_MSG, &prefix, p->s + s, p->pos - s);
    return text_node(p, at, QF_MSG, &prefix, p->s + s, p->pos - s, 0);
}

/* An optional NOT (or '-') and the primary it negates. */
static q_node *parse_not(parser *p)
{
    skip_space(p);
    size_t at = p->pos;
    int neg = 0;
    if (at_keyword(p, "NOT")) {
        p->pos += 3;
        neg = 1;
    } else if (p->pos + 1 < p->n && p->s[p->pos] == '-' && !is_space(p->s[p->pos + 1]) &&
               p->s[p->pos + 1] != ')') {
        p->pos++;
        neg = 1;
    }
    if (!neg)
        return parse_primary(p);
    if (++p->depth > Q_MAX_DEPTH) {
        perr(p, at, "NOT nested deeper than %d", Q_MAX_DEPTH);
        return NULL;
    }
    q_node *in = parse_not(p);
    p->depth--;
    if (!in)
        return NULL;
    q_node *n = node(p, Q_NOT, at);
    if (n)
        n->a = in;
    return n;
}

/* One level of binary operators: kind Q_OR joins ANDs with "OR"; kind
 * Q_AND joins NOTs with "AND" or with nothing (implicit AND). */
static q_node *parse_binary(parser *p, q_kind kind)
{
    q_node *left = kind == Q_OR ? parse_binary(p, Q_AND) : parse_not(p);
    while (left) {
        skip_space(p);
        size_t at = p->pos;
        const char *op = kind == Q_OR ? "OR" : "AND";
        int is_or = at_keyword(p, "OR");
        if (kind == Q_OR ? !is_or : (p->pos >= p->n || p->s[p->pos] == ')' || is_or))
            break;
        if (at_keyword(p, op)) {
            p->pos += strlen(op);
            skip_space(p);
            if (p->pos >= p->n) {
                perr(p, at, "expected a term after %s but the query ended", op);
                return NULL;
            }
        }
        q_node *right = kind == Q_OR ? parse_binary(p, Q_AND) : parse_not(p);
        if (!right)
            return NULL;
        q_node *n = node(p, kind, at);
        if (!n)
            return NULL;
        n->a = left;
        n->b = right;
        left = n;
    }
    return left;
}

/* The lowest-binding level: ORs of ANDs. */
static q_node *parse_or(parser *p)
{
    return parse_binary(p, Q_OR);
}

int q_node_exact(const q_node *n)
{
    switch (n->kind) {
    case Q_PHRASE:
    case Q_REGEX:
    case Q_EXISTS:
    case Q_NUM: return 0;
    case Q_AND:
    case Q_OR: return q_node_exact(n->a) && q_node_exact(n->b);
    case Q_NOT: return q_node_exact(n->a);
    default: return 1;
    }
}

query *q_parse(const char *text, size_t len, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    if (len > Q_MAX_TEXT) {
        if (err)
            snprintf(err, errlen, "the query is %zu bytes; at most %d are accepted", len,
                     Q_MAX_TEXT);
        return NULL;
    }
    query *q = calloc(1, sizeof *q);
    if (q)
        q->nodes = calloc(Q_MAX_NODES, sizeof *q->nodes);
    if (!q || !q->nodes) {
        free(q);
        if (err)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    parser p = {.s = text, .n = len, .q = q, .err = err, .errlen = errlen};
    skip_space(&p);
    if (p.pos >= p.n) {
        q->root = node(&p, Q_ALL, 0);
    } else {
        q->root = parse_or(&p);
        skip_space(&p);
        if (q->root && p.pos < p.n) /* only a stray ')' stops parse_or early */
            perr(&p, p.pos, "unexpected ')' (no '(' is open)");
    }
    if (p.failed || !q->root) {
        if (!p.failed)
            perr(&p, p.pos, "could not parse the query");
        q_free(q);
        return NULL;
    }
    q->exact = q_node_exact(q->root);
    return q;
}

void q_free(query *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nnodes; i++) {
        q_node *n = &q->nodes[i];
        free(n->key.p);
        free(n->prefix.p);
        free(n->pattern.p);
        for (size_t k = 0; k < n->nitems; k++)
            free(n->items[k].p);
        free(n->items);
        if (n->re)
            pcre2_code_free(n->re);
    }
    free(q->nodes);
    free(q);
}

int q_is_all(const query *q)
{
    return q->root->kind == Q_ALL;
}
int q_is_exact(const query *q)
{
    return q->exact;
}

/* The parts of an event the tree under n reads (Q_READS_* bits). */
static unsigned node_reads(const q_node *n)
{
    static const unsigned by_field[] = {[QF_MSG] = Q_READS_MSG,
                                        [QF_SERVICE] = Q_READS_SERVICE,
                                        [QF_HOST] = Q_READS_HOST,
                                        [QF_LEVEL] = 0,
                                        [QF_META] = Q_READS_META};
    switch (n->kind) {
    case Q_AND:
    case Q_OR: return node_reads(n->a) | node_reads(n->b);
    case Q_NOT: return node_reads(n->a);
    case Q_TERMS:
    case Q_PHRASE:
    case Q_WILD: return by_field[n->field];
    case Q_REGEX: return Q_READS_MSG;
    case Q_EXISTS:
    case Q_NUM: return Q_READS_META;
    default: return 0; /* Q_ALL; Q_LEVEL reads a column every row has */
    }
}

unsigned q_reads(const query *q)
{
    return node_reads(q->root);
}

size_t q_phrase_term(const q_node *n, size_t i, char *buf)
{
    size_t len = n->prefix.n + n->items[i].n;
    if (len > Q_TERM_BUF)
        return 0;
    memcpy(buf, n->prefix.p, n->prefix.n);
    memcpy(buf + n->prefix.n, n->items[i].p, n->items[i].n);
    return len;
}

/* Walk the AND nodes under n, reporting Q_TERMS items and Q_PHRASE words
 * (with their field prefix) until *left is 0. */
static void required(const q_node *n, size_t *left, q_term_fn fn, void *ud)
{
    if (n->kind == Q_AND) {
        required(n->a, left, fn, ud);
        required(n->b, left, fn, ud);
        return;
    }
    for (size_t i = 0; *left && i < n->nitems; i++) {
        if (n->kind == Q_TERMS) {
            fn(ud, n->items[i].p, n->items[i].n);
        } else if (n->kind == Q_PHRASE) {
            char buf[Q_TERM_BUF];
            size_t len = q_phrase_term(n, i, buf);
            if (!len)
                continue;
            fn(ud, buf, len);
        } else {
            return;
        }
        (*left)--;
    }
}

size_t q_required_terms(const query *q, size_t max, q_term_fn fn, void *ud)
{
    size_t left = max;
    required(q->root, &left, fn, ud);
    return max - left;
}

int q_level_parse(const char *s, size_t len)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {{"trace", STRATA_LEVEL_TRACE},   {"debug", STRATA_LEVEL_DEBUG},
                 {"info", STRATA_LEVEL_INFO},     {"warn", STRATA_LEVEL_WARN},
                 {"warning", STRATA_LEVEL_WARN},  {"error", STRATA_LEVEL_ERROR},
                 {"err", STRATA_LEVEL_ERROR},     {"fatal", STRATA_LEVEL_FATAL},
                 {"critical", STRATA_LEVEL_FATAL}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == len && strncasecmp(names[i].name, s, len) == 0)
            return names[i].level;
    return 0;
}

/* ---- describe ------------------------------------------------------------- */

/* Append a node's canonical form to *buf (what q_describe prints for tests and logs). */
static void describe(const q_node *n, char **buf, size_t *len, size_t *cap)
{
    char tmp[256];
#define PUT(str)                                                                                   \
    do {                                                                                           \
        size_t l_ = strlen(str);                                                                   \
        if (*len + l_ + 1 > *cap) {                                                                \
            size_t c_ = (*cap + l_ + 1) * 2;                                                       \
            char *b_ = realloc(*buf, c_);                                                          \
            if (!b_)                                                                               \
                return;                                                                            \
            *buf = b_;                                                                             \
            *cap = c_;                                                                             \
        }                                                                                          \
        memcpy(*buf + *len, str, l_ + 1);                                                          \
        *len += l_;                                                                                \
    } while (0)
    switch (n->kind) {
    case Q_ALL: PUT("*"); break;
    case Q_AND:
    case Q_OR:
        PUT("(");
        describe(n->a, buf, len, cap);
        PUT(n->kind == Q_AND ? " AND " : " OR ");
        describe(n->b, buf, len, cap);
        PUT(")");
        break;
    case Q_NOT:
        PUT("NOT ");
        describe(n->a, buf, len, cap);
        break;
    case Q_TERMS:
        PUT("terms[");
        for (size_t i = 0; i < n->nitems; i++) {
            if (i)
                PUT(" ");
            PUT(n->items[i].p);
        }
        PUT("]");
        break;
    case Q_PHRASE:
        snprintf(tmp, sizeof tmp, "%s\"", n->prefix.p);
        PUT(tmp);
        for (size_t i = 0; i < n->nitems; i++) {
            if (i)
                PUT(" ");
            PUT(n->items[i].p);
        }
        PUT("\"");
        break;
    case Q_WILD:
        snprintf(tmp, sizeof tmp, "%s%s", n->prefix.p, n->pattern.p);
        PUT(tmp);
        break;
    case Q_REGEX: PUT("/regex/"); break;
    case Q_LEVEL:
        snprintf(tmp, sizeof tmp, "level[0x%x]", n->levels);
        PUT(tmp);
        break;
    case Q_EXISTS:
        snprintf(tmp, sizeof tmp, SEG_NS_META "%s:*", n->key.p);
        PUT(tmp);
        break;
    case Q_NUM:
        snprintf(tmp, sizeof tmp, SEG_NS_META "%s%s%g", n->key.p, cmp_name(n->cmp), n->num);
        PUT(tmp);
        break;
    }
#undef PUT
}

char *q_describe(const query *q)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    describe(q->root, &buf, &len, &cap);
    return buf;
}
