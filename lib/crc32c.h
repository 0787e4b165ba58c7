/*
 * lib/crc32c.h - CRC32C (Castagnoli), the checksum of every on-disk record
 * (WAL records and segment headers, plugin state files).
 * Thread: any.
 */
#ifndef STRATA_LIB_CRC32C_H
#define STRATA_LIB_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC32C over data; start with crc = 0. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif /* STRATA_LIB_CRC32C_H */
