/*
 * core/host_api.h - the strata_host_api table handed to every plugin.
 */
#ifndef STRATA_CORE_HOST_API_H
#define STRATA_CORE_HOST_API_H

#include "strata/host.h"

struct instance;

/* The table (static, lives for the process). */
const strata_host_api *host_api_table(void);
/* Release a resource the plugin left registered (engine.c calls this when
 * it destroys the instance). */
void host_api_release_resource(struct instance *in, int type, void *ptr);

#endif /* STRATA_CORE_HOST_API_H */
