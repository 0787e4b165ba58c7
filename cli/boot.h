/*
 * cli/boot.h - start the engine of a config file for a command (boot.c).
 */
#ifndef STRATA_CLI_BOOT_H
#define STRATA_CLI_BOOT_H

struct engine;
struct loader;

/* Load and check the config at path (every error printed after "WHO:"),
 * apply its log level and file, and start its engine on the default loop.
 * The started engine, or NULL with *exit_code set (2: the config, 1: the
 * start). The caller runs, shuts down and frees it, then destroys the loop
 * (ev_default_loop). */
struct engine *cli_engine_start(const char *path, struct loader *ld, const char *who,
                                int *exit_code);

#endif /* STRATA_CLI_BOOT_H */
