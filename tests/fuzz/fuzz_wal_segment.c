/*
 * fuzz_wal_segment - any bytes as the records of a WAL segment (after a
 * valid header, so the fuzzer explores records, not just the magic): the
 * reader and the checker must reject or accept without crashing, looping
 * or reading out of bounds, and never return a record whose checksum does
 * not hold.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "strbuf.h"
#include "wal.h"
#include "wal_segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/strata-fuzz-wal-XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    char path[128];
    snprintf(path, sizeof path, "%s/00000000000000000001.wal", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    uint8_t h[WAL_HEADER_BYTES];
    wal_seg_header_encode(h, 1);
    if (write(fd, h, sizeof h) != sizeof h || (size && write(fd, data, size) != (ssize_t)size))
        abort();
    close(fd);
    strbuf rep = {0};
    uint64_t records;
    wal_check(dir, 1, &rep, &records);
    sb_free(&rep);
    char err[512];
    wal_reader *r = wal_reader_open(dir, 1, err, sizeof err);
    const void *rec;
    size_t len;
    uint64_t seq;
    int rc;
    for (int i = 0; i < 100000 && (rc = wal_reader_next(r, &rec, &len, &seq, err, sizeof err)) != 0;
         i++)
        if (rc == 1 && len > WAL_MAX_RECORD)
            abort();
    wal_reader_close(r);
    return 0;
}
