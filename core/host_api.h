/*
 * core/host_api.h - the strata_host_api table handed to every plugin.
 */
#ifndef STRATA_CORE_HOST_API_H
#define STRATA_CORE_HOST_API_H

#include "strata/host.h"

struct instance;
struct engine;

/* The table (static, lives for the process). */
const strata_host_api *host_api_table(void);
/* Release a resource the plugin left registered (engine.c calls this when
 * it destroys the instance). */
void host_api_release_resource(struct instance *in, int type, void *ptr);
/* A service plugins export (ABI 1.3), for the host's own commands (`strata
 * compact` calls the indexer's admin service): as service_acquire and
 * service_release, without an instance. */
const void *host_service_acquire(struct engine *eng, const char *name);
void host_service_release(struct engine *eng, const void *api);
/* The bearer credential of req checked for scope against the tenant store:
 * 0 with its tenant copied out, 401 (missing or unknown) or 403 (no such
 * scope). What host->auth_check and the core's admin routes answer. */
int host_auth_bearer(struct engine *eng, const strata_http_request *req, const char *scope,
                     char *tenant, size_t cap);

#endif /* STRATA_CORE_HOST_API_H */
