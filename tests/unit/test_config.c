/*
 * tests/unit/test_config.c - the YAML loader: every kind of broken config is
 * reported with file:line and the offending key, before anything starts;
 * good configs get their defaults, includes and ${ENV} values.
 */
#include "test_util.h"

#include "config.h"
#include "loader.h"

static char *dir;
static loader *ld;

static int setup(void **state)
{
    (void)state;
    dir = tmpdir_new();
    ld = loader_new("/proc/self/exe");
    return ld ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    loader_free(ld);
    rm_rf(dir);
    free(dir);
    return 0;
}

/* Load text as a config; returns the joined errors (caller frees) or NULL
 * when it loaded, in which case *out holds the config. */
static char *load_text(const char *name, const char *text, config **out)
{
    char *path = write_file(dir, name, text);
    cfg_errors e = {0};
    config *c = NULL;
    int rc = config_load(path, ld, &c, &e);
    free(path);
    if (rc == 0) {
        if (out)
            *out = c;
        else
            config_free(c);
        return NULL;
    }
    char *msg = cfg_errors_join(&e);
    cfg_errors_free(&e);
    return msg;
}

static char *must_fail(const char *name, const char *text)
{
    char *msg = load_text(name, text, NULL);
    if (!msg) {
        print_error("config %s loaded but should have failed:\n%s\n", name, text);
        fail();
    }
    return msg;
}

static const char *GOOD = "pipelines:\n"
                          "  - name: p\n"
                          "    inputs:\n"
                          "      - plugin: dummy\n"
                          "    outputs:\n"
                          "      - plugin: null\n";

static void test_good_config_gets_defaults(void **state)
{
    (void)state;
    config *c = NULL;
    char *msg = load_text("good.yaml", GOOD, &c);
    assert_null(msg);
    assert_int_equal(c->npipes, 1);
    assert_int_equal(c->pipes[0].n, 2);
    inst_cfg *in = &c->pipes[0].inst[0];
    assert_string_equal(in->name, "dummy");
    assert_string_equal(in->tag, "p.dummy");
    assert_true(strata_config_find(in->cfg, "rate") != NULL);
    assert_true(strata_config_find(in->cfg, "rate")->dbl == 10.0);
    inst_cfg *out = &c->pipes[0].inst[1];
    assert_string_equal(out->match, "*");
    assert_int_equal(out->queue_max_events, 100000);
    assert_string_equal(c->svc.http_listen, "127.0.0.1:7070");
    config_free(c);
}

static void test_syntax_error_names_file_and_line(void **state)
{
    (void)state;
    char *m = must_fail("syntax.yaml", "pipelines:\n  - name: p\n    inputs: [\n");
    assert_contains(m, "syntax.yaml:");
    assert_contains(m, "YAML syntax error");
    free(m);
    m = must_fail("tabs.yaml", "pipelines:\n\t- name: p\n");
    assert_contains(m, "tabs.yaml:2:");
    free(m);
}

static void test_unknown_plugin_is_named(void **state)
{
    (void)state;
    char *m = must_fail("unk.yaml", "pipelines:\n  - name: p\n    inputs:\n      - plugin: dummy\n"
                                    "    outputs:\n      - plugin: kafkaesque\n");
    assert_contains(m, "unk.yaml:6:");
    assert_contains(m, "unknown output plugin 'kafkaesque'");
    free(m);
}

static void test_unknown_key_lists_known_keys(void **state)
{
    (void)state;
    char *m = must_fail("key.yaml", "pipelines:\n  - name: p\n    inputs:\n      - plugin: dummy\n"
                                    "        colour: blue\n    outputs:\n      - plugin: null\n");
    assert_contains(m, "key.yaml:5:");
    assert_contains(m, "unknown key 'colour'");
    assert_contains(m, "rate");
    free(m);
}

static void test_wrong_type_is_reported(void **state)
{
    (void)state;
    char *m = must_fail("type.yaml", "pipelines:\n  - name: p\n    inputs:\n      - plugin: dummy\n"
                                     "        rate: fast\n        total: [1, 2]\n"
                                     "    outputs:\n      - plugin: null\n        delay: soon\n");
    assert_contains(m, "type.yaml:5:");
    assert_contains(m, "key 'rate'");
    assert_contains(m, "got 'fast'");
    assert_contains(m, "type.yaml:6:");
    assert_contains(m, "key 'total'");
    assert_contains(m, "type.yaml:9:");
    assert_contains(m, "duration");
    free(m);
}

static void test_missing_required_key(void **state)
{
    (void)state;
    char *m = must_fail("req.yaml", "pipelines:\n  - name: p\n    inputs:\n      - plugin: dummy\n"
                                    "    outputs:\n      - plugin: file\n");
    assert_contains(m, "req.yaml:6:");
    assert_contains(m, "needs key 'path'");
    free(m);
}

static void test_env_substitution(void **state)
{
    (void)state;
    setenv("STRATA_TEST_RATE", "42", 1);
    config *c = NULL;
    char *m =
        load_text("env.yaml",
                  "pipelines:\n  - name: p\n    inputs:\n      - plugin: dummy\n"
                  "        rate: ${STRATA_TEST_RATE}\n        service: ${NOPE_UNSET:-fallback}\n"
                  "    outputs:\n      - plugin: null\n",
                  &c);
    assert_null(m);
    assert_true(strata_config_find(c->pipes[0].inst[0].cfg, "rate")->dbl == 42.0);
    assert_string_equal(strata_config_find(c->pipes[0].inst[0].cfg, "service")->str, "fallback");
    config_free(c);
    m = must_fail("env2.yaml", "pipelines:\n  - name: p\n    inputs:\n      - plugin: dummy\n"
                               "        service: ${STRATA_SURELY_UNSET}\n"
                               "    outputs:\n      - plugin: null\n");
    assert_contains(m, "env2.yaml:5:");
    assert_contains(m, "STRATA_SURELY_UNSET is not set");
    free(m);
}

static void test_includes_add_pipelines(void **state)
{
    (void)state;
    char sub[512];
    snprintf(sub, sizeof sub, "%s/inc.d", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    free(write_file(sub, "a.yaml", GOOD));
    free(write_file(sub, "b.yaml",
                    "pipelines:\n  - name: q\n    inputs:\n      - plugin: dummy\n"
                    "    outputs:\n      - plugin: null\n"));
    config *c = NULL;
    char *m = load_text("main.yaml", "include: inc.d/*.yaml\n", &c);
    assert_null(m);
    assert_int_equal(c->npipes, 2);
    config_free(c);
    /* an error inside an included file names that file */
    free(write_file(sub, "c.yaml", "pipelines:\n  - name: r\n    bogus: 1\n"));
    m = must_fail("main2.yaml", "include: [inc.d/*.yaml]\n");
    assert_contains(m, "inc.d/c.yaml:3:");
    assert_contains(m, "unknown pipeline key 'bogus'");
    free(m);
    m = must_fail("main3.yaml", "include: does-not-exist.yaml\n");
    assert_contains(m, "does not exist");
    free(m);
}

static void test_duplicates_are_refused(void **state)
{
    (void)state;
    char *m = must_fail("dup.yaml", "pipelines:\n  - name: p\n    inputs:\n      - plugin: dummy\n"
                                    "        name: a\n      - plugin: dummy\n        name: a\n"
                                    "    outputs:\n      - plugin: null\n"
                                    "  - name: p\n    outputs:\n      - plugin: null\n");
    assert_contains(m, "two inputs named 'a'");
    assert_contains(m, "pipeline 'p' is defined twice");
    free(m);
    m = must_fail("dupkey.yaml", "pipelines:\n  - name: p\n    name: q\n");
    assert_contains(m, "dupkey.yaml:3:");
    assert_contains(m, "appears twice");
    free(m);
}

static void test_alias_bomb_is_refused(void **state)
{
    (void)state;
    char *m = must_fail("bomb.yaml", "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                                     "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                                     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                                     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                                     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                                     "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n");
    assert_contains(m, "more than");
    free(m);
}

static void test_structure_errors(void **state)
{
    (void)state;
    char *m =
        must_fail("noout.yaml", "pipelines:\n  - name: p\n    inputs:\n      - plugin: dummy\n");
    assert_contains(m, "has inputs but no outputs");
    free(m);
    m = must_fail("top.yaml", "pipelinez: []\n");
    assert_contains(m, "unknown top-level key 'pipelinez'");
    free(m);
    /* service: keys are checked against their table (core/config_keys.c)
     * like a plugin's: types, allowed values, bounds, checks, unknown keys */
    m = must_fail("svc.yaml", "service:\n  grace: forever\n  http_listen: nope\n  colour: red\n"
                              "  log_level: loud\n  http_max_body: 0\n");
    assert_contains(m, "svc.yaml:2:10: key 'grace' of service must be a duration");
    assert_contains(m, "svc.yaml:3:16: key 'http_listen' of service: must be host:port");
    assert_contains(m, "unknown key 'colour' for service (it accepts: http_listen, data_dir,");
    assert_contains(m,
                    "key 'log_level' of service must be one of error, warn, warning, info, debug");
    assert_contains(m, "key 'http_max_body' of service must be at least 1; got '0'");
    free(m);
    /* the common keys of an instance likewise */
    m = must_fail("common.yaml", "pipelines:\n  - name: p\n    inputs:\n      - {plugin: dummy}\n"
                                 "    outputs:\n      - {plugin: null, queue_max_events: 0, "
                                 "retry_limit: -1, queue_max_bytes: lots}\n");
    assert_contains(m, "key 'queue_max_events' of output 'null' (plugin null) in pipeline 'p' must "
                       "be at least 1; got '0'");
    assert_contains(m, "key 'retry_limit' of output 'null'");
    assert_contains(m, "key 'queue_max_bytes' of output 'null' (plugin null) in pipeline 'p' must "
                       "be a size");
    free(m);
    m = must_fail("empty.yaml", "");
    assert_contains(m, "no pipelines defined");
    free(m);
    m = must_fail("list.yaml", "- 1\n- 2\n");
    assert_contains(m, "top level must be a mapping");
    free(m);
    m = must_fail("noplugin.yaml", "pipelines:\n  - name: p\n    outputs:\n      - match: '*'\n");
    assert_contains(m, "noplugin.yaml:4:");
    assert_contains(m, "no 'plugin' key");
    free(m);
}

static void test_sizes_and_durations(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(cfg_parse_size("64MiB", &v), 0);
    assert_int_equal(v, 64ll << 20);
    assert_int_equal(cfg_parse_size("1.5k", &v), 0);
    assert_int_equal(v, 1500);
    assert_int_equal(cfg_parse_size("12", &v), 0);
    assert_int_equal(v, 12);
    assert_int_not_equal(cfg_parse_size("-1", &v), 0);
    assert_int_not_equal(cfg_parse_size("3 parsecs", &v), 0);
    assert_int_equal(cfg_parse_duration("250ms", &v), 0);
    assert_int_equal(v, 250);
    assert_int_equal(cfg_parse_duration("2m", &v), 0);
    assert_int_equal(v, 120000);
    assert_int_equal(cfg_parse_duration("5", &v), 0);
    assert_int_equal(v, 5000);
    assert_int_not_equal(cfg_parse_duration("5 fortnights", &v), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_config_gets_defaults),
        cmocka_unit_test(test_syntax_error_names_file_and_line),
        cmocka_unit_test(test_unknown_plugin_is_named),
        cmocka_unit_test(test_unknown_key_lists_known_keys),
        cmocka_unit_test(test_wrong_type_is_reported),
        cmocka_unit_test(test_missing_required_key),
        cmocka_unit_test(test_env_substitution),
        cmocka_unit_test(test_includes_add_pipelines),
        cmocka_unit_test(test_duplicates_are_refused),
        cmocka_unit_test(test_alias_bomb_is_refused),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_sizes_and_durations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
