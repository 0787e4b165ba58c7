/*
 * tests/unit/test_loader_abi.c - the loader refuses plugins with the wrong
 * ABI, naming the plugin, its ABI version and the host's; it loads good
 * ones; discovery finds plugins by kind and name.
 */
#include "test_util.h"

#include "loader.h"

static loader *ld;
static const char *test_plugins;

static int setup(void **state)
{
    (void)state;
    test_plugins = getenv("STRATA_TEST_PLUGINS");
    ld = loader_new("/proc/self/exe");
    return ld && test_plugins ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    loader_free(ld);
    return 0;
}

static char *open_err(const char *file)
{
    static char err[1024];
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", test_plugins, file);
    err[0] = 0;
    const loaded_plugin *lp = loader_open(ld, path, err, sizeof err);
    assert_null(lp);
    return err;
}

static void test_wrong_major_is_refused_with_both_versions(void **state)
{
    (void)state;
    char *e = open_err("strata_output_abi_major.so");
    char want[128];
    assert_contains(e, "strata_output_abi_major.so");
    snprintf(want, sizeof want, "built for Strata plugin ABI %d.0", STRATA_ABI_MAJOR + 1);
    assert_contains(e, want);
    snprintf(want, sizeof want, "this host speaks ABI %d.%d", STRATA_ABI_MAJOR, STRATA_ABI_MINOR);
    assert_contains(e, want);
    assert_contains(e, "rebuild the plugin");
}

static void test_newer_minor_is_refused(void **state)
{
    (void)state;
    char *e = open_err("strata_output_abi_minor.so");
    char want[128];
    snprintf(want, sizeof want, "plugin 'abi_minor' needs Strata plugin ABI %d.%d",
             STRATA_ABI_MAJOR, STRATA_ABI_MINOR + 5);
    assert_contains(e, want);
    snprintf(want, sizeof want, "this host speaks ABI %d.%d", STRATA_ABI_MAJOR, STRATA_ABI_MINOR);
    assert_contains(e, want);
}

static void test_truncated_descriptor_is_refused(void **state)
{
    (void)state;
    char *e = open_err("strata_output_abi_small.so");
    assert_contains(e, "descriptor is 16 bytes");
}

static void test_missing_entry_symbol(void **state)
{
    (void)state;
    char *e = open_err("strata_output_no_entry.so");
    assert_contains(e, "does not export strata_plugin_entry()");
}

static void test_missing_kind_callback(void **state)
{
    (void)state;
    char *e = open_err("strata_output_no_flush.so");
    assert_contains(e, "output plugin 'no_flush' lacks its flush callback");
}

static void test_not_a_shared_object(void **state)
{
    (void)state;
    char *dir = tmpdir_new();
    char *p = write_file(dir, "strata_input_fake.so", "this is text, not ELF\n");
    char err[1024];
    assert_null(loader_open(ld, p, err, sizeof err));
    assert_contains(err, "cannot load");
    free(p);
    rm_rf(dir);
    free(dir);
}

static void test_descriptor_checks_without_dlopen(void **state)
{
    (void)state;
    char err[512];
    assert_int_equal(loader_check_descriptor(NULL, "x.so", err, sizeof err), -1);
    assert_contains(err, "returned no descriptor");
    strata_plugin d = {STRATA_PLUGIN_HEADER};
    d.name = "Bad Name";
    d.kind = STRATA_KIND_INPUT;
    assert_int_equal(loader_check_descriptor(&d, "x.so", err, sizeof err), -1);
    assert_contains(err, "must be 1-64 of [a-z0-9_]");
    d.name = "ok";
    d.kind = 99;
    assert_int_equal(loader_check_descriptor(&d, "x.so", err, sizeof err), -1);
    assert_contains(err, "unknown kind 99");
    d.kind = STRATA_KIND_FILTER;
    assert_int_equal(loader_check_descriptor(&d, "x.so", err, sizeof err), -1);
    assert_contains(err, "lacks the required init or destroy");
}

/* A file named for one plugin whose descriptor names another is refused
 * and leaves nothing loaded: the real plugin of the name it claims is
 * still the one loader_get finds, before and after. */
static void test_impostor_is_refused_and_leaves_no_trace(void **state)
{
    (void)state;
    char err[1024];
    char *e = open_err("strata_filter_ql.so");
    assert_contains(e, "strata_filter_ql.so: file is named for filter 'ql' but the plugin says "
                       "it is filter 'quota'; not loaded");
    for (const loaded_plugin *lp = ld->loaded; lp; lp = lp->next)
        assert_null(strstr(lp->path, "strata_filter_ql.so"));
    const loaded_plugin *q = loader_get(ld, STRATA_KIND_FILTER, "quota", err, sizeof err);
    if (!q)
        fail_msg("%s", err);
    assert_contains(q->path, "strata_filter_quota.so");
    assert_contains(q->desc->description, "token buckets"); /* the real quota filter */
    assert_null(loader_get(ld, STRATA_KIND_FILTER, "ql", err, sizeof err)); /* not by its file */
    e = open_err("strata_filter_ql.so"); /* and again: nothing of it was kept */
    assert_contains(e, "not loaded");
    assert_ptr_equal(loader_get(ld, STRATA_KIND_FILTER, "quota", err, sizeof err), q);
}

/* A plugin exporting a symbol besides its entry loads, and the loader
 * counts its exports and names the extra one; the built-in plugins,
 * linked with the SDK's version script, export their entry only. */
static void test_exports_are_counted(void **state)
{
    (void)state;
    char err[1024], path[1024];
    snprintf(path, sizeof path, "%s/strata_output_leaky.so", test_plugins);
    const loaded_plugin *lp = loader_open(ld, path, err, sizeof err);
    if (!lp)
        fail_msg("%s", err);
    assert_int_equal(lp->exports, 2);
    assert_string_equal(lp->extra_export, "leaky_helper");
    lp = loader_get(ld, STRATA_KIND_OUTPUT, "indexer", err, sizeof err);
    if (!lp)
        fail_msg("%s", err);
    assert_int_equal(lp->exports, 1);
    assert_null(lp->extra_export);
}

/* Two different files of one plugin's name in the search path are an
 * error naming both, not a choice made by the search order. */
static void test_two_files_of_one_name_are_an_error(void **state)
{
    (void)state;
    char *dir = tmpdir_new(), src[1024], dst[1024], cmd[3072], err[1024];
    snprintf(src, sizeof src, "%s/strata_output_leaky.so", test_plugins);
    snprintf(dst, sizeof dst, "%s/strata_output_leaky.so", dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, dst);
    assert_int_equal(system(cmd), 0);
    loader *l2 = loader_new("/proc/self/exe");
    char *dirs[] = {dir, (char *)test_plugins};
    assert_int_equal(loader_prepend_dirs(l2, dirs, 2, NULL), 0);
    assert_null(loader_get(l2, STRATA_KIND_OUTPUT, "leaky", err, sizeof err));
    assert_contains(err, "output 'leaky' is in two files");
    assert_contains(err, dst);
    assert_contains(err, "remove one");
    loader_free(l2);
    rm_rf(dir);
    free(dir);
}

static void test_builtin_plugins_are_found_by_kind_and_name(void **state)
{
    (void)state;
    char err[1024];
    const loaded_plugin *lp = loader_get(ld, STRATA_KIND_INPUT, "dummy", err, sizeof err);
    assert_non_null(lp);
    assert_string_equal(lp->desc->name, "dummy");
    assert_int_equal(lp->desc->abi_major, STRATA_ABI_MAJOR);
    /* the same kind+name again is the same loaded plugin */
    assert_ptr_equal(loader_get(ld, STRATA_KIND_INPUT, "dummy", err, sizeof err), lp);
    assert_null(loader_get(ld, STRATA_KIND_FILTER, "dummy", err, sizeof err));
    assert_contains(err, "unknown filter plugin 'dummy'");
    assert_contains(err, "strata_filter_dummy.so");
    assert_true(loader_scan(ld) >= 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_major_is_refused_with_both_versions),
        cmocka_unit_test(test_newer_minor_is_refused),
        cmocka_unit_test(test_truncated_descriptor_is_refused),
        cmocka_unit_test(test_missing_entry_symbol),
        cmocka_unit_test(test_impostor_is_refused_and_leaves_no_trace),
        cmocka_unit_test(test_exports_are_counted),
        cmocka_unit_test(test_two_files_of_one_name_are_an_error),
        cmocka_unit_test(test_missing_kind_callback),
        cmocka_unit_test(test_not_a_shared_object),
        cmocka_unit_test(test_descriptor_checks_without_dlopen),
        cmocka_unit_test(test_builtin_plugins_are_found_by_kind_and_name),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
