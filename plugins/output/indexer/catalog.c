/*
 * plugins/output/indexer/catalog.c - the indexer's segment catalog in SQLite (see catalog.h).
 */
#include "catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

/* How long a writer waits for another connection's transaction (the
 * compactor and the sealer share the file). */
#define CAT_BUSY_TIMEOUT_MS 10000

struct catalog {
    sqlite3 *db;
};

static const char *const SCHEMA =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS segments("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  tenant TEXT NOT NULL, level INTEGER NOT NULL, path TEXT NOT NULL UNIQUE,"
    "  events INTEGER NOT NULL, bytes INTEGER NOT NULL,"
    "  min_ingest INTEGER NOT NULL, max_ingest INTEGER NOT NULL,"
    "  min_event INTEGER NOT NULL, max_event INTEGER NOT NULL,"
    "  dict_id INTEGER NOT NULL, created INTEGER NOT NULL DEFAULT (strftime('%s','now')));"
    "CREATE INDEX IF NOT EXISTS segments_by_time ON segments(tenant, level, min_ingest);"
    "CREATE TABLE IF NOT EXISTS progress(consumer TEXT PRIMARY KEY, wal_next INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "INSERT OR IGNORE INTO meta VALUES('catalog_version', '1');";

/* Put "catalog: what: SQLite's message" in err; returns -1 for `return fail(...)`. */
static int fail(char *err, size_t errlen, sqlite3 *db, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "catalog: %s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
    return -1;
}

catalog *catalog_open(const char *path, char *err, size_t errlen)
{
    catalog *c = calloc(1, sizeof *c);
    if (!c) {
        fail(err, errlen, NULL, "open");
        return NULL;
    }
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_busy_timeout(c->db, CAT_BUSY_TIMEOUT_MS) != SQLITE_OK ||
        sqlite3_exec(c->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
        fail(err, errlen, c->db, path);
        catalog_close(c);
        return NULL;
    }
    return c;
}

void catalog_close(catalog *c)
{
    if (!c)
        return;
    sqlite3_close(c->db);
    free(c);
}

uint64_t catalog_progress(catalog *c, const char *consumer)
{
    sqlite3_stmt *st = NULL;
    uint64_t v = 0;
    if (sqlite3_prepare_v2(c->db, "SELECT wal_next FROM progress WHERE consumer=?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, consumer, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = (uint64_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

/* Insert one segment's row and set its id; -1 on a SQLite error (the caller's transaction rolls
 * back). */
static int insert_segment(catalog *c, cat_segment *s)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db,
                                "INSERT INTO segments(tenant, level, path, events, bytes, "
                                "min_ingest, max_ingest, min_event, max_event, dict_id) "
                                "VALUES(?,?,?,?,?,?,?,?,?,?)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, s->level);
        sqlite3_bind_text(st, 3, s->path, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)s->events);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)s->bytes);
        sqlite3_bind_int64(st, 6, s->min_ingest);
        sqlite3_bind_int64(st, 7, s->max_ingest);
        sqlite3_bind_int64(st, 8, s->min_event);
        sqlite3_bind_int64(st, 9, s->max_event);
        sqlite3_bind_int64(st, 10, s->dict_id);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK)
        s->id = sqlite3_last_insert_rowid(c->db);
    return rc == SQLITE_OK ? 0 : -1;
}

int catalog_add_flush(catalog *c, cat_segment *segs, size_t n, const char *consumer,
                      uint64_t wal_next, char *err, size_t errlen)
{
    if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return fail(err, errlen, c->db, "begin");
    for (size_t i = 0; i < n; i++)
        if (insert_segment(c, &segs[i]) < 0)
            goto rollback;
    if (consumer) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(c->db,
                                    "INSERT INTO progress VALUES(?, ?) ON CONFLICT(consumer) "
                                    "DO UPDATE SET wal_next=excluded.wal_next",
                                    -1, &st, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(st, 1, consumer, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, (sqlite3_int64)wal_next);
            rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_OK)
            goto rollback;
    }
    if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto rollback;
    return 0;
rollback:
    fail(err, errlen, c->db, "register segments");
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int catalog_swap(catalog *c, const int64_t *old, size_t nold, cat_segment *merged, char *err,
                 size_t errlen)
{
    if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return fail(err, errlen, c->db, "begin");
    for (size_t i = 0; i < nold; i++) {
        sqlite3_stmt *st = NULL;
        int ok = sqlite3_prepare_v2(c->db, "DELETE FROM segments WHERE id=?", -1, &st, NULL) ==
                 SQLITE_OK;
        if (ok) {
            sqlite3_bind_int64(st, 1, old[i]);
            ok = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(c->db) == 1;
        }
        sqlite3_finalize(st);
        if (!ok)
            goto rollback;
    }
    if (insert_segment(c, merged) < 0 ||
        sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto rollback;
    return 0;
rollback:
    fail(err, errlen, c->db, "swap segments");
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* Copy a SQLite text column into a fixed buffer (NULL as ""). */
static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
    snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

int catalog_list(catalog *c, const char *tenant, int level, cat_segment **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT id, tenant, level, path, events, bytes, min_ingest, max_ingest, "
                           "min_event, max_event, dict_id FROM segments WHERE (?1 IS NULL OR "
                           "tenant=?1) AND (?2 < 0 OR level=?2) ORDER BY min_ingest, id",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (tenant)
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 1);
    sqlite3_bind_int(st, 2, level);
    size_t cap = 0;
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            cat_segment *ns = realloc(*out, cap * sizeof *ns);
            if (!ns) {
                rc = -1;
                break;
            }
            *out = ns;
        }
        cat_segment *s = &(*out)[(*n)++];
        memset(s, 0, sizeof *s);
        s->id = sqlite3_column_int64(st, 0);
        copy_text(s->tenant, sizeof s->tenant, sqlite3_column_text(st, 1));
        s->level = sqlite3_column_int(st, 2);
        copy_text(s->path, sizeof s->path, sqlite3_column_text(st, 3));
        s->events = (uint64_t)sqlite3_column_int64(st, 4);
        s->bytes = (uint64_t)sqlite3_column_int64(st, 5);
        s->min_ingest = sqlite3_column_int64(st, 6);
        s->max_ingest = sqlite3_column_int64(st, 7);
        s->min_event = sqlite3_column_int64(st, 8);
        s->max_event = sqlite3_column_int64(st, 9);
        s->dict_id = (uint32_t)sqlite3_column_int64(st, 10);
    }
    if (step != SQLITE_DONE && rc == 0)
        rc = -1;
    sqlite3_finalize(st);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int catalog_tenants(catalog *c, char (**out)[CAT_MAX_TENANT], size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, "SELECT DISTINCT tenant FROM segments ORDER BY tenant", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    size_t cap = 0;
    int rc = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            char(*nt)[CAT_MAX_TENANT] = realloc(*out, cap * sizeof *nt);
            if (!nt) {
                rc = -1;
                break;
            }
            *out = nt;
        }
        copy_text((*out)[(*n)++], CAT_MAX_TENANT, sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return rc;
}

int catalog_meta_put(catalog *c, const char *key, const char *value)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO meta VALUES(?, ?)", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}

int catalog_meta_get(catalog *c, const char *key, char *buf, size_t cap)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE key=?", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            copy_text(buf, cap, sqlite3_column_text(st, 0));
            rc = 0;
        }
    }
    sqlite3_finalize(st);
    return rc;
}
