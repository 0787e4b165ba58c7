/*
 * tests/unit/test_tokenize.c - the tokenizer's rules, one example each
 * (segment/tokenize.h; docs/TOKENIZER.md shows the same table to users).
 */
#include "test_util.h"

#include "segment.h"
#include "tokenize.h"

typedef struct toks {
    char out[4096]; /* tokens joined by '|' */
    size_t len;
} toks;

static void collect(void *ud, const char *t, size_t n)
{
    toks *k = ud;
    assert_true(n > 0 && n <= TOK_MAX_BYTES);
    assert_true(k->len + n + 1 < sizeof k->out);
    if (k->len)
        k->out[k->len++] = '|';
    memcpy(k->out + k->len, t, n);
    k->len += n;
    k->out[k->len] = 0;
}

static void expect(const char *text, const char *want)
{
    toks k = {{0}, 0};
    tokenize(text, strlen(text), collect, &k);
    if (strcmp(k.out, want) != 0)
        fail_msg("tokenize(\"%s\")\n  got  %s\n  want %s", text, k.out, want);
}

static void test_words_and_case(void **state)
{
    (void)state;
    expect("Connection TIMEOUT to db", "connection|timeout|to|db");
    expect("  leading, trailing!  ", "leading|trailing");
    expect("", "");
    expect("u_98765 logged in", "u|98765|u_98765|logged|in");
}

static void test_joined_identifiers(void **state)
{
    (void)state;
    expect("from 10.0.3.42 port", "from|10|0|3|42|10.0.3.42|port");
    expect("payment-service", "payment|service|payment-service");
    expect("blk_-6952295868487656571", "blk|6952295868487656571|blk_-6952295868487656571");
    /* '_' separates parts as '.', '-' and ':' do, keeping the whole: the
     * brief's query `card declined` finds this message */
    expect("Failed to charge card ending 4242: CARD_DECLINED",
           "failed|to|charge|card|ending|4242|card|declined|card_declined");
    expect("__init__ foo_ _bar a__b", "init|foo|bar|a|b|a__b");
    expect("user_id=u_1", "user|id|user_id|u|1|u_1");
    expect("host:8080.", "host|8080|host:8080");
    /* two connectors in a row break the whole */
    expect("a--b", "a|b");
    expect("end. Next", "end|next");
}

static void test_camel_case(void **state)
{
    (void)state;
    expect("NullPointerException", "nullpointerexception|null|pointer|exception");
    expect("HTTPServer", "httpserver|http|server");
    expect("iPhone", "iphone|i|phone");
    expect("ALLCAPS lower", "allcaps|lower");
}

static void test_utf8(void **state)
{
    (void)state;
    /* Latin-1, Greek and Cyrillic capitals fold; accents stay */
    expect("Müller ÄRGER", "müller|ärger");
    expect("Ошибка СЕТИ", "ошибка|сети");
    /* Han and kana are one token per character */
    expect("数据库连接失败 error", "数|据|库|连|接|失|败|error");
    expect("エラー", "エ|ラ|ー");
    /* punctuation outside ASCII separates: en dash, NBSP, ideographic comma */
    expect("a\xe2\x80\x93"
           "b c\xc2\xa0"
           "d",
           "a|b|c|d");
    /* invalid UTF-8 separates and never reaches a token */
    expect("ab\xff"
           "cd \xc3",
           "ab|cd");
    expect("\xed\xa0\x80x", "x"); /* a surrogate */
}

static void test_long_tokens(void **state)
{
    (void)state;
    char in[200], want[200];
    memset(in, 'a', 100);
    in[100] = 0;
    memset(want, 'a', TOK_MAX_BYTES);
    want[TOK_MAX_BYTES] = 0;
    expect(in, want);
    /* a joined whole longer than the limit is not emitted; its parts are */
    char joined[200];
    snprintf(joined, sizeof joined, "%.40s-%.40s", in, in);
    char w2[300];
    snprintf(w2, sizeof w2, "%.40s|%.40s", in, in);
    expect(joined, w2);
    /* a multi-byte character is never cut in half */
    char cyr[200] = {0};
    for (int i = 0; i < 40; i++)
        memcpy(cyr + 2 * i, "\xd0\xb6", 2);
    toks k = {{0}, 0};
    tokenize(cyr, strlen(cyr), collect, &k);
    assert_int_equal(k.len, TOK_MAX_BYTES);
}

static void add_term(void *ud, const char *t, size_t n)
{
    collect(ud, t, n);
}

static void test_event_terms(void **state)
{
    (void)state;
    strata_kv kv[3] = {
        {strata_cstr("user_id"), strata_cstr("u_98765"), STRATA_VALUE_STRING},
        {strata_cstr("latency_ms"), strata_cstr("512"), STRATA_VALUE_INT},
        {strata_cstr("gone"), strata_cstr("null"), STRATA_VALUE_NULL},
    };
    strata_event ev;
    strata_event_init(&ev);
    ev.service = strata_cstr("Payments");
    ev.host = strata_cstr("ip-10-0-0-1");
    ev.level = STRATA_LEVEL_ERROR;
    ev.msg = strata_cstr("card declined");
    ev.meta = kv;
    ev.meta_count = 3;
    toks k = {{0}, 0};
    seg_event_terms(&ev, add_term, &k);
    assert_string_equal(k.out, "msg:card|msg:declined|service:payments|host:ip-10-0-0-1|"
                               "level:error|meta.user_id:u|meta.user_id:98765|meta.user_id:u_98765|"
                               "meta.latency_ms:512");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words_and_case), cmocka_unit_test(test_joined_identifiers),
        cmocka_unit_test(test_camel_case),     cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_long_tokens),    cmocka_unit_test(test_event_terms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
