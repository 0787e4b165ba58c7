/*
 * fuzz_batch_decode - any bytes as an encoded batch: decode must reject or
 * accept without reading out of bounds, and whatever it accepts must be
 * readable and printable as JSON.
 */
#include <stdint.h>
#include <stdlib.h>

#include "batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    batch_t *b = NULL;
    char err[256];
    if (batch_decode(data, size, &b, err, sizeof err) != STRATA_OK)
        return 0;
    static char json[1 << 16];
    strata_kv meta[16];
    for (uint32_t i = 0; i < b->count; i++) {
        strata_event ev;
        batch_get(b, i, &ev, meta, 16);
        batch_event_json(b, i, json, sizeof json);
    }
    batch_unref(b);
    return 0;
}
