/*
 * tests/unit/test_state.c - durable plugin state: values survive, a damaged
 * file is reported instead of returned, bad keys are refused.
 */
#include "test_util.h"

#include <fcntl.h>

#include "crc32c.h"
#include "state.h"
#include "strata/abi.h"

static void test_put_get_roundtrip_and_overwrite(void **state)
{
    (void)state;
    char *dir = tmpdir_new();
    char buf[64];
    size_t len = 0;
    assert_int_equal(state_get(dir, "p", "i", "ckpt", buf, sizeof buf, &len), STRATA_ENOTFOUND);
    assert_int_equal(state_put(dir, "p", "i", "ckpt", "offset=41", 9), STRATA_OK);
    assert_int_equal(state_put(dir, "p", "i", "ckpt", "offset=42", 9), STRATA_OK);
    assert_int_equal(state_get(dir, "p", "i", "ckpt", buf, sizeof buf, &len), STRATA_OK);
    assert_int_equal(len, 9);
    assert_memory_equal(buf, "offset=42", 9);
    assert_int_equal(state_get(dir, "p", "i", "ckpt", buf, 3, &len), STRATA_ERANGE);
    rm_rf(dir);
    free(dir);
}

static void test_damaged_file_is_detected(void **state)
{
    (void)state;
    char *dir = tmpdir_new();
    assert_int_equal(state_put(dir, "p", "i", "k", "0123456789", 10), STRATA_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/state/p/i/k", dir);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 20), 1); /* inside the value */
    close(fd);
    char buf[64];
    size_t len;
    assert_int_equal(state_get(dir, "p", "i", "k", buf, sizeof buf, &len), STRATA_EINVAL);
    rm_rf(dir);
    free(dir);
}

static void test_bad_keys_are_refused(void **state)
{
    (void)state;
    assert_int_equal(state_put("/tmp", "p", "i", "../escape", "x", 1), STRATA_EINVAL);
    assert_int_equal(state_put("/tmp", "p", "i", "", "x", 1), STRATA_EINVAL);
    assert_int_equal(state_put("/tmp", "p", "i", "a/b", "x", 1), STRATA_EINVAL);
    assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283u); /* the CRC32C check value */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_roundtrip_and_overwrite),
        cmocka_unit_test(test_damaged_file_is_detected),
        cmocka_unit_test(test_bad_keys_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
