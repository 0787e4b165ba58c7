/*
 * tenants/metastore.c - tenants and credentials in SQLite (see metastore.h).
 */
#include "metastore.h"
#include "names.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Schema migrations, applied in order; schema_version records how many ran.
 * Append only: a released migration is never edited. */
static const char *const migrations[] = {
    "CREATE TABLE tenants (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " created_at BIGINT NOT NULL)",
    "CREATE TABLE credentials (id INTEGER PRIMARY KEY,"
    " tenant_id INTEGER NOT NULL REFERENCES tenants(id), kind TEXT NOT NULL,"
    " scopes TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL,"
    " created_at BIGINT NOT NULL, revoked_at BIGINT)",
};
#define N_MIGRATIONS (sizeof migrations / sizeof migrations[0])

/* Cached credential for auth lookups. */
typedef struct cred {
    char hash[65];
    char tenant[128];
    char scopes[128];
} cred;

/* How stale the auth cache may get: credentials added or revoked by
 * another process (the `strata key` command) take effect within this. */
#define MS_CACHE_TTL_S 1

struct metastore {
    sqlite3 *db;
    pthread_mutex_t lock;
    cred *cache;
    size_t ncache;
    time_t loaded_at;
};

/* Run SQL without results; -1 with SQLite's message in err. */
static int exec(metastore *ms, const char *sql, char *err, size_t errlen)
{
    char *e = NULL;
    if (sqlite3_exec(ms->db, sql, NULL, NULL, &e) != SQLITE_OK) {
        snprintf(err, errlen, "metastore: %s", e ? e : "error");
        sqlite3_free(e);
        return -1;
    }
    return 0;
}

/* The SHA-256 of a secret in hex: what the store keeps instead of the secret. */
static void sha256_hex(const char *s, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * (size_t)i, 3, "%02x", md[i]);
}

/* Reload the auth cache from the database (called under ms->lock). */
static int cache_reload(metastore *ms)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ms->db,
                           "SELECT c.hash, t.name, c.scopes FROM credentials c JOIN tenants t"
                           " ON t.id = c.tenant_id WHERE c.revoked_at IS NULL",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    cred *c = NULL;
    size_t n = 0, cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            cred *nc = realloc(c, cap * sizeof *c);
            if (!nc) {
                free(c);
                sqlite3_finalize(st);
                return -1;
            }
            c = nc;
        }
        snprintf(c[n].hash, sizeof c[n].hash, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(c[n].tenant, sizeof c[n].tenant, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(c[n].scopes, sizeof c[n].scopes, "%s", (const char *)sqlite3_column_text(st, 2));
        n++;
    }
    sqlite3_finalize(st);
    free(ms->cache);
    ms->cache = c;
    ms->ncache = n;
    ms->loaded_at = time(NULL);
    return 0;
}

/* Open (creating the schema) the tenant and credential store at path; NULL with err. */
metastore *metastore_open(const char *data_dir, char *err, size_t errlen)
{
    metastore *ms = calloc(1, sizeof *ms);
    if (!ms) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&ms->lock, NULL);
    char path[4200];
    snprintf(path, sizeof path, "%s/meta.db", data_dir);
    if (sqlite3_open_v2(path, &ms->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 ms->db ? sqlite3_errmsg(ms->db) : "out of memory");
        metastore_close(ms);
        return NULL;
    }
    sqlite3_busy_timeout(ms->db, 5000);
    if (exec(ms, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", err,
             errlen) ||
        exec(ms, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", err,
             errlen)) {
        metastore_close(ms);
        return NULL;
    }
    sqlite3_stmt *st;
    int version = 0;
    if (sqlite3_prepare_v2(ms->db, "SELECT MAX(version) FROM schema_version", -1, &st, NULL) ==
        SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    if (version > (int)N_MIGRATIONS) {
        snprintf(err, errlen,
                 "%s has schema version %d, newer than this strata knows (%zu); upgrade strata",
                 path, version, N_MIGRATIONS);
        metastore_close(ms);
        return NULL;
    }
    for (size_t i = (size_t)version; i < N_MIGRATIONS; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "INSERT INTO schema_version VALUES (%zu)", i + 1);
        if (exec(ms, "BEGIN", err, errlen) || exec(ms, migrations[i], err, errlen) ||
            exec(ms, sql, err, errlen) || exec(ms, "COMMIT", err, errlen)) {
            metastore_close(ms);
            return NULL;
        }
    }
    pthread_mutex_lock(&ms->lock);
    cache_reload(ms);
    pthread_mutex_unlock(&ms->lock);
    return ms;
}

void metastore_close(metastore *ms)
{
    if (!ms)
        return;
    if (ms->db)
        sqlite3_close(ms->db);
    pthread_mutex_destroy(&ms->lock);
    free(ms->cache);
    free(ms);
}

int metastore_tenant_add(metastore *ms, const char *name, char *err, size_t errlen)
{
    if (!tenant_name_ok(name)) {
        snprintf(err, errlen, "tenant name '%s' must be 1-64 of [a-z0-9_-]", name);
        return -1;
    }
    sqlite3_stmt *st;
    pthread_mutex_lock(&ms->lock);
    int rc = sqlite3_prepare_v2(ms->db,
                                "INSERT INTO tenants (name, created_at) VALUES (?, ?)"
                                " ON CONFLICT (name) DO NOTHING",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
    }
    int changed = sqlite3_changes(ms->db);
    pthread_mutex_unlock(&ms->lock);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "metastore: %s", sqlite3_errmsg(ms->db));
        return -1;
    }
    return changed ? 0 : 1;
}

int metastore_tenant_list(metastore *ms, void (*fn)(const char *name, int creds, void *arg),
                          void *arg)
{
    sqlite3_stmt *st;
    pthread_mutex_lock(&ms->lock);
    if (sqlite3_prepare_v2(ms->db,
                           "SELECT t.name, COUNT(c.id) FROM tenants t LEFT JOIN credentials c"
                           " ON c.tenant_id = t.id AND c.revoked_at IS NULL"
                           " GROUP BY t.name ORDER BY t.name",
                           -1, &st, NULL) != SQLITE_OK) {
        pthread_mutex_unlock(&ms->lock);
        return -1;
    }
    while (sqlite3_step(st) == SQLITE_ROW)
        fn((const char *)sqlite3_column_text(st, 0), sqlite3_column_int(st, 1), arg);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&ms->lock);
    return 0;
}

/* 1 when scopes suit the credential kind: ingest keys hold only "ingest", user tokens any of
 * search, tail, alerts, admin. */
static int scopes_ok(const char *kind, const char *scopes)
{
    if (strcmp(kind, "ingest") == 0)
        return strcmp(scopes, "ingest") == 0;
    if (strcmp(kind, "user") != 0 || !*scopes)
        return 0;
    char copy[128];
    snprintf(copy, sizeof copy, "%s", scopes);
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (strcmp(t, "search") != 0 && strcmp(t, "tail") != 0 && strcmp(t, "alerts") != 0 &&
            strcmp(t, "admin") != 0)
            return 0;
    return 1;
}

/* Insert a credential with this secret (hashed). */
static int insert_key(metastore *ms, const char *tenant, const char *kind, const char *scopes,
                      const char *secret, char *err, size_t errlen)
{
    char hash[65], prefix[16];
    sha256_hex(secret, hash);
    snprintf(prefix, sizeof prefix, "%.10s", secret);
    sqlite3_stmt *st;
    pthread_mutex_lock(&ms->lock);
    int rc = sqlite3_prepare_v2(
        ms->db,
        "INSERT INTO credentials (tenant_id, kind, scopes, hash, prefix, created_at)"
        " SELECT id, ?, ?, ?, ?, ? FROM tenants WHERE name = ?",
        -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, scopes, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, prefix, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
        sqlite3_bind_text(st, 6, tenant, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
    }
    int changed = sqlite3_changes(ms->db);
    if (rc == SQLITE_DONE && changed)
        cache_reload(ms);
    pthread_mutex_unlock(&ms->lock);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "metastore: %s", sqlite3_errmsg(ms->db));
        return -1;
    }
    if (!changed) {
        snprintf(err, errlen, "no tenant named '%s' (create it with: strata tenant add %s)", tenant,
                 tenant);
        return -1;
    }
    return 0;
}

int metastore_key_add(metastore *ms, const char *tenant, const char *kind, const char *scopes,
                      char *secret_out, size_t cap, char *err, size_t errlen)
{
    if (!scopes_ok(kind, scopes)) {
        snprintf(err, errlen,
                 "kind '%s' with scopes '%s' is not valid (ingest keys: scope ingest; user "
                 "tokens: any of search,tail,alerts,admin)",
                 kind, scopes);
        return -1;
    }
    /* MS_SECRET_BYTES random bytes in base64url without padding: OpenSSL's
     * base64 (4 characters per 3 bytes, '=' padded), '+' and '/' made URL-safe */
    unsigned char raw[MS_SECRET_BYTES];
    unsigned char text[4 * ((MS_SECRET_BYTES + 2) / 3) + 1];
    if (RAND_bytes(raw, sizeof raw) != 1 || cap < MS_SECRET_MAX) {
        snprintf(err, errlen, "cannot make a random secret");
        return -1;
    }
    int n = EVP_EncodeBlock(text, raw, (int)sizeof raw);
    while (n > 0 && text[n - 1] == '=')
        n--;
    char *o = secret_out + snprintf(secret_out, cap, "%s", strcmp(kind, "ingest") ? "ut_" : "sk_");
    for (int i = 0; i < n; i++)
        *o++ = text[i] == '+' ? '-' : text[i] == '/' ? '_' : (char)text[i];
    *o = 0;
    OPENSSL_cleanse(raw, sizeof raw);
    return insert_key(ms, tenant, kind, scopes, secret_out, err, errlen);
}

int metastore_key_ensure(metastore *ms, const char *tenant, const char *kind, const char *scopes,
                         const char *secret, char *err, size_t errlen)
{
    if (!scopes_ok(kind, scopes) || strlen(secret) < 16) {
        snprintf(err, errlen, "a %s credential needs at least 16 characters", kind);
        return -1;
    }
    char t[128];
    int rc = metastore_auth(ms, secret, strcmp(kind, "ingest") ? "search" : "ingest", t, sizeof t);
    if (rc == 0) {
        if (strcmp(t, tenant) != 0) {
            snprintf(err, errlen, "that credential already belongs to tenant '%s'", t);
            return -1;
        }
        return 0; /* confirmed */
    }
    if (metastore_tenant_add(ms, tenant, err, errlen) < 0)
        return -1;
    return insert_key(ms, tenant, kind, scopes, secret, err, errlen);
}

int metastore_key_revoke(metastore *ms, const char *prefix, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    pthread_mutex_lock(&ms->lock);
    int rc = sqlite3_prepare_v2(ms->db,
                                "UPDATE credentials SET revoked_at = ? WHERE prefix = ?"
                                " AND revoked_at IS NULL",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
        sqlite3_bind_text(st, 2, prefix, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
    }
    int changed = sqlite3_changes(ms->db);
    if (changed)
        cache_reload(ms);
    pthread_mutex_unlock(&ms->lock);
    if (rc != SQLITE_DONE || !changed) {
        snprintf(err, errlen, "no live credential starts with '%s'", prefix);
        return -1;
    }
    return 0;
}

int metastore_key_list(metastore *ms,
                       void (*fn)(const char *tenant, const char *prefix, const char *kind,
                                  const char *scopes, int revoked, void *arg),
                       void *arg)
{
    sqlite3_stmt *st;
    pthread_mutex_lock(&ms->lock);
    if (sqlite3_prepare_v2(ms->db,
                           "SELECT t.name, c.prefix, c.kind, c.scopes, c.revoked_at IS NOT NULL"
                           " FROM credentials c JOIN tenants t ON t.id = c.tenant_id ORDER BY c.id",
                           -1, &st, NULL) != SQLITE_OK) {
        pthread_mutex_unlock(&ms->lock);
        return -1;
    }
    while (sqlite3_step(st) == SQLITE_ROW)
        fn((const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
           (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
           sqlite3_column_int(st, 4), arg);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&ms->lock);
    return 0;
}

int metastore_key_count(metastore *ms)
{
    pthread_mutex_lock(&ms->lock);
    int n = (int)ms->ncache;
    pthread_mutex_unlock(&ms->lock);
    return n;
}

/* 1 when the comma-separated scopes hold scope as a whole item. */
static int has_scope(const char *scopes, const char *scope)
{
    size_t n = strlen(scope);
    for (const char *p = scopes; (p = strstr(p, scope)); p += n)
        if ((p == scopes || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
            return 1;
    return 0;
}

int metastore_auth(metastore *ms, const char *secret, const char *scope, char *tenant, size_t cap)
{
    if (!secret || !*secret)
        return 401;
    char hash[65];
    sha256_hex(secret, hash);
    int rc = 401;
    pthread_mutex_lock(&ms->lock);
    if (time(NULL) - ms->loaded_at >= MS_CACHE_TTL_S)
        cache_reload(ms);
    for (size_t i = 0; i < ms->ncache; i++)
        if (strcmp(ms->cache[i].hash, hash) == 0) {
            rc = has_scope(ms->cache[i].scopes, scope) ? 0 : 403;
            snprintf(tenant, cap, "%s", ms->cache[i].tenant);
            break;
        }
    pthread_mutex_unlock(&ms->lock);
    return rc;
}
