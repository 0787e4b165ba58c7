/*
 * tests/unit/test_strbuf.c - JSON strings written by sb_json_strn are valid
 * JSON text whatever bytes they are given: control characters, quotes and
 * backslashes escaped, whole UTF-8 characters kept as they are, and each
 * byte that is not part of valid UTF-8 (a stray continuation byte, a cut
 * sequence, an overlong form, a surrogate) written as \ufffd; a character
 * that spans the writer's chunk boundary is kept whole.
 */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "utf8.h"

/* s (n bytes) as sb_json_strn writes it, compared with want. */
static void expect_json(const char *s, size_t n, const char *want)
{
    strbuf sb = {0};
    assert_int_equal(sb_json_strn(&sb, s, n), 0);
    assert_string_equal(sb.buf, want);
    sb_free(&sb);
}

static void test_escapes_and_keeps_utf8(void **state)
{
    (void)state;
    expect_json("a\"b\\c\n\x01", 7, "\"a\\\"b\\\\c\\n\\u0001\"");
    expect_json("Müller 数据库 😀", strlen("Müller 数据库 😀"), "\"Müller 数据库 😀\"");
}

static void test_invalid_bytes_become_replacement_characters(void **state)
{
    (void)state;
    expect_json("a\xff"
                "b",
                3, "\"a\\ufffdb\"");                             /* never in UTF-8 */
    expect_json("\x80x", 2, "\"\\ufffdx\"");                     /* a stray continuation */
    expect_json("\xe6\x95", 2, "\"\\ufffd\\ufffd\"");            /* a cut 3-byte sequence */
    expect_json("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");            /* overlong '/' */
    expect_json("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""); /* a surrogate */
    expect_json("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* > U+10FFFF */
}

static void test_a_character_across_the_chunk_boundary_stays_whole(void **state)
{
    (void)state;
    /* 'é' (2 bytes) at every offset around the 4,096-byte chunk */
    for (size_t at = 4090; at < 4100; at++) {
        size_t n = 8200;
        char *s = malloc(n);
        assert_non_null(s);
        memset(s, 'x', n);
        memcpy(s + at, "\xc3\xa9", 2);
        strbuf sb = {0};
        assert_int_equal(sb_json_strn(&sb, s, n), 0);
        assert_int_equal(sb.len, n + 2); /* nothing replaced, nothing escaped */
        assert_memory_equal(sb.buf + 1 + at, "\xc3\xa9", 2);
        assert_int_equal(utf8_valid_prefix((const unsigned char *)sb.buf, sb.len), sb.len);
        sb_free(&sb);
        free(s);
    }
}

static void test_utf8_valid_prefix(void **state)
{
    (void)state;
    assert_int_equal(utf8_valid_prefix((const unsigned char *)"ab\xc3\xa9", 4), 4);
    assert_int_equal(utf8_valid_prefix((const unsigned char *)"ab\xc3", 3), 2);
    assert_int_equal(utf8_valid_prefix((const unsigned char *)"\xe2\x82\xac\xff", 4), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes_and_keeps_utf8),
        cmocka_unit_test(test_invalid_bytes_become_replacement_characters),
        cmocka_unit_test(test_a_character_across_the_chunk_boundary_stays_whole),
        cmocka_unit_test(test_utf8_valid_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
