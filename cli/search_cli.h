/*
 * cli/search_cli.h - `strata search` (cli/search_cli.c).
 */
#ifndef STRATA_SEARCH_CLI_H
#define STRATA_SEARCH_CLI_H

/* argv[0] is "search". Returns the exit code. */
int cmd_search(int argc, char **argv);

#endif /* STRATA_SEARCH_CLI_H */
