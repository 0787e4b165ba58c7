/*
 * core/state.h - durable per-instance key/value state (checkpoints).
 *
 * Files live at DATA_DIR/state/PIPELINE/INSTANCE/KEY. A put writes a
 * temporary file, fsyncs it, renames it over the old one and fsyncs the
 * directory, so a crash leaves either the old or the new value, never a
 * torn one. Each file carries a header with a magic, version, length and
 * CRC32C; a get that finds a damaged file says so instead of returning it.
 * Thread: any (different keys); concurrent puts of one key: last wins.
 */
#ifndef STRATA_CORE_STATE_H
#define STRATA_CORE_STATE_H

#include <stddef.h>
#include <stdint.h>

/* Store val (len bytes) under an instance's key, durably: STRATA_OK or an
 * error code. Read it back with state_get into buf (cap bytes, *len the
 * value's length): STRATA_OK, STRATA_ENOTFOUND, STRATA_ERANGE when cap is
 * too small, STRATA_EINVAL when the file is damaged, STRATA_ERR on an I/O
 * error. */
int state_put(const char *data_dir, const char *pipeline, const char *instance, const char *key,
              const void *val, size_t len);
int state_get(const char *data_dir, const char *pipeline, const char *instance, const char *key,
              void *buf, size_t cap, size_t *len);
/* The same, for the file KEY directly in DIR (WAL checkpoints use these). */
int state_file_put(const char *dir, const char *key, const void *val, size_t len);
int state_file_get(const char *dir, const char *key, void *buf, size_t cap, size_t *len);

#endif /* STRATA_CORE_STATE_H */
