/*
 * tests/fuzz/fuzz_tokenize.c - the tokenizer on arbitrary bytes: every token
 * is non-empty, at most TOK_MAX_BYTES, valid UTF-8, and has no ASCII capital
 * letters (case folding) and no ASCII separators other than the connectors
 * inside a joined whole.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tokenize.h"

static void check(void *ud, const char *t, size_t n)
{
    (void)ud;
    if (n == 0 || n > TOK_MAX_BYTES)
        abort();
    const unsigned char *u = (const unsigned char *)t;
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        if (c < 0x80) {
            int word = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
            if (!word && c != '.' && c != '-' && c != ':')
                abort();
            i++;
            continue;
        }
        size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
        if (len == 0 || i + len > n)
            abort();
        for (size_t k = 1; k < len; k++)
            if ((u[i + k] & 0xc0) != 0x80)
                abort();
        i += len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tokenize((const char *)data, size, check, NULL);
    return 0;
}
