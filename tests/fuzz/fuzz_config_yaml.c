/*
 * fuzz_config_yaml - any bytes as a pipeline YAML document: the parser must
 * return a tree or errors, never crash, loop or blow up (alias bombs).
 */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cfg_errors err = {0};
    cnode *root = cfg_parse_yaml((const char *)data, size, "fuzz.yaml", &err, NULL);
    cnode_free(root);
    char *msg = cfg_errors_join(&err);
    free(msg);
    cfg_errors_free(&err);
    return 0;
}
