/*
 * fuzz_ingest_json - any bytes as a /v1/ingest body, as JSON and as NDJSON:
 * the decoder must refuse or accept without crashing, looping or reading
 * out of bounds, and every event it accepts must be a well-formed batch
 * entry (read back and rendered as JSON). The bytes quoted as a JSON
 * string, as error replies quote a client's input, must be valid UTF-8
 * whatever they were (sb_json_strn replaces what is not).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "ingest_json.h"
#include "strbuf.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static strata_host_api h;
    h.struct_size = sizeof h;
    h.batch_append = batch_append;
    static const ingest_limits lim = {1000, 65536, 64, 256, 16, 4096};
    static ingest_result res;
    static char json[1 << 16];
    for (int ndjson = 0; ndjson < 2; ndjson++) {
        batch_t *b = batch_new("fuzz");
        char err[256];
        if (ingest_decode(&h, b, (const char *)data, size, ndjson, "t", 1750000000000000000ll, &lim,
                          &res, err, sizeof err) == 0) {
            if (res.accepted != b->count)
                abort();
            for (uint32_t i = 0; i < b->count; i++)
                batch_event_json(b, i, json, sizeof json);
        }
        batch_unref(b);
    }
    strbuf q = {0};
    if (sb_json_strn(&q, (const char *)data, size) == 0 &&
        utf8_valid_prefix((const unsigned char *)q.buf, q.len) != q.len)
        abort();
    sb_free(&q);
    return 0;
}
