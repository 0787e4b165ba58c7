/*
 * core/fsutil.h - small file-system helpers the core shares.
 * Thread: any.
 */
#ifndef STRATA_CORE_FSUTIL_H
#define STRATA_CORE_FSUTIL_H

/* mkdir -p with mode 0750: 0, or -1 with errno set. */
int fs_mkdirs(const char *path);

#endif /* STRATA_CORE_FSUTIL_H */
