/*
 * lib/fsutil.h - file-system helpers every layer shares: directories made
 * and made durable, whole buffers written.
 * Thread: any.
 */
#ifndef STRATA_LIB_FSUTIL_H
#define STRATA_LIB_FSUTIL_H

#include <stddef.h>

/* mkdir -p with mode 0750: 0, or -1 with errno set. */
int fs_mkdirs(const char *path);

/* Write all of buf to fd, retrying short writes and EINTR: 0, or -1 with
 * errno set (a write that writes nothing sets EIO). */
int fs_write_all(int fd, const void *buf, size_t len);

/* fsync the directory holding path, so that a rename or a create in it is
 * durable: 0, or -1 with errno set. */
int fs_fsync_parent(const char *path);

#endif /* STRATA_LIB_FSUTIL_H */
