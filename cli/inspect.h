/*
 * cli/inspect.h - `strata inspect` (cli/inspect.c).
 */
#ifndef STRATA_CORE_INSPECT_H
#define STRATA_CORE_INSPECT_H

/* argv[0] is "inspect". Returns the exit status. */
int cmd_inspect(int argc, char **argv);

#endif /* STRATA_CORE_INSPECT_H */
