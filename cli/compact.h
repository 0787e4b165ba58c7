/*
 * cli/compact.h - `strata compact DATA_DIR` (compact.c).
 */
#ifndef STRATA_CLI_COMPACT_H
#define STRATA_CLI_COMPACT_H

struct loader;

/* Compact a stopped node's index to completion; an exit code. */
int cmd_compact(int argc, char **argv, struct loader *ld);

#endif /* STRATA_CLI_COMPACT_H */
