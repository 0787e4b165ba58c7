/*
 * tenants/metastore.h - tenants and credentials, in SQLite at DATA_DIR/meta.db.
 *
 * Credentials are random 32-byte secrets shown once at creation; only their
 * SHA-256 is stored (the secrets are high-entropy, so a slow password hash
 * would add nothing). Each has a kind and scopes:
 *   ingest key   "sk_..."  scope: ingest
 *   user token   "ut_..."  scopes: search, tail, alerts, admin (any subset)
 * The tenant of a request always comes from its credential.
 *
 * The schema is versioned (table schema_version) and migrated forward at
 * open; the SQL stays portable so PostgreSQL can back the same interface.
 * Thread: one connection per metastore handle, guarded by its own mutex;
 * auth lookups are served from an in-memory cache refreshed on change.
 */
#ifndef STRATA_TENANTS_METASTORE_H
#define STRATA_TENANTS_METASTORE_H

#include <stddef.h>

typedef struct metastore metastore;

/* Random bytes in a credential's secret: 256 bits, written as 43
 * base64url characters behind its 3-character prefix. */
#define MS_SECRET_BYTES 32
/* Room for a secret in text, its NUL included (3 + 43 + 1 fits). */
#define MS_SECRET_MAX 64

/* Open (creating the schema) DATA_DIR/meta.db; NULL with err. metastore_close
 * closes it and frees the auth cache; NULL is fine. */
metastore *metastore_open(const char *data_dir, char *err, size_t errlen);
void metastore_close(metastore *ms);

/* Create a tenant (0), or report it exists (1); -1 on error. */
int metastore_tenant_add(metastore *ms, const char *name, char *err, size_t errlen);
/* Calls fn for each tenant with its number of live credentials. */
int metastore_tenant_list(metastore *ms, void (*fn)(const char *name, int creds, void *arg),
                          void *arg);
/* A new credential for tenant: kind "ingest" or "user", scopes comma-
 * separated. The secret is written to secret_out (only time it exists). */
int metastore_key_add(metastore *ms, const char *tenant, const char *kind, const char *scopes,
                      char *secret_out, size_t cap, char *err, size_t errlen);
/* Register a given secret (from --ingest-key / --user-token): created, or
 * confirmed if it already belongs to that tenant with those scopes. */
int metastore_key_ensure(metastore *ms, const char *tenant, const char *kind, const char *scopes,
                         const char *secret, char *err, size_t errlen);
/* Revoke by the secret's visible prefix (first 10 characters). */
int metastore_key_revoke(metastore *ms, const char *prefix, char *err, size_t errlen);
int metastore_key_list(metastore *ms,
                       void (*fn)(const char *tenant, const char *prefix, const char *kind,
                                  const char *scopes, int revoked, void *arg),
                       void *arg);
/* Number of live credentials. */
int metastore_key_count(metastore *ms);

/* Authenticate a bearer secret for a scope. 0 = ok (tenant copied out),
 * 401 = missing or unknown credential, 403 = known but lacks the scope. */
int metastore_auth(metastore *ms, const char *secret, const char *scope, char *tenant, size_t cap);

#endif /* STRATA_TENANTS_METASTORE_H */
