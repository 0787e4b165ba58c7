/*
 * tests/fuzz/fuzz_search_request.c - the bodies of POST /v1/search and
 * /v1/aggregate (plugins/query/search/request.c). The first byte picks the
 * endpoint; the rest is the body.
 */
#include <stdint.h>
#include <string.h>

#include "search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int kind = data[0] & 1 ? REQ_AGGREGATE : REQ_SEARCH;
    sreq r;
    char err[512];
    if (request_parse(kind, (const char *)data + 1, size - 1, 1750000000000000000ll, &r, err,
                      sizeof err) == 0)
        request_free(&r);
    else if (!err[0])
        __builtin_trap(); /* a refusal always says why */
    return 0;
}
