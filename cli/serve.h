/*
 * cli/serve.h - `strata serve`, `strata tenant`, `strata key` (serve.c).
 */
#ifndef STRATA_CORE_SERVE_H
#define STRATA_CORE_SERVE_H

#include <stddef.h>

/* Prepare the single-node config and credentials; on success the path of
 * the config to run is in config_out and 0 is returned (else an exit code). */
int cmd_serve(int argc, char **argv, char *config_out, size_t cap);
int cmd_tenant(int argc, char **argv);
int cmd_key(int argc, char **argv);

#endif /* STRATA_CORE_SERVE_H */
