/*
 * A program that uses SQLite itself and sqlkeep, the way bindings/c/README.md says to
 * build it: libsqlkeep built with --no-default-features and the program both linked to
 * the system libsqlite3, so the process holds one copy of SQLite
 * (https://sqlite.org/howtocorrupt.html, section 2.2). Run by scripts/test-c (also under
 * valgrind):
 *
 *     test_system_sqlite SCRATCH_DIR
 *
 * The application keeps its own connection open, in WAL mode, for the whole test while
 * sqlkeep backs up and restores the live database. Ends with "N passed, N failed".
 */
#define _POSIX_C_SOURCE 200809L

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static sqlite3 *app;

static int exec(const char *sql) {
    char *err = NULL;
    int rc = sqlite3_exec(app, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) fprintf(stderr, "%s: %s\n", sql, err ? err : sqlite3_errmsg(app));
    sqlite3_free(err);
    return rc;
}

static long long scalar(const char *sql) {
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(app, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int insert_rows(int from, int to) {
    char sql[256];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE n(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
             "INSERT INTO items (id, name) SELECT i, 'item ' || i FROM n",
             from, to);
    return exec(sql);
}

/* The first column of the first row of `sql` on `db` as text, copied; NULL if none. */
static char *text_of(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        if (t) {
            out = malloc(strlen((const char *)t) + 1);
            strcpy(out, (const char *)t);
        }
    }
    sqlite3_finalize(st);
    return out;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    begin("system_sqlite");
    char db[4096];
    snprintf(db, sizeof db, "%s/app.db", argv[1]);
    remove(db);

    CHECK(sqlite3_open(db, &app) == SQLITE_OK);
    CHECK(exec("PRAGMA journal_mode = WAL") == SQLITE_OK);
    CHECK(exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)") == SQLITE_OK);
    CHECK(insert_rows(1, 500) == SQLITE_OK);

    char config[4200];
    snprintf(config, sizeof config, "{\"database\": \"%s\", \"test_restore_every_days\": 0}",
             db);
    sqlkeep *k = NULL;
    CHECK(sqlkeep_open(config, &k) == SQLKEEP_STATUS_OK);

    /* One SQLite in the process: the backup was taken by the library the program uses. */
    char *json = NULL;
    CHECK(sqlkeep_backup(k, "manual", "500 items", &json) == SQLKEEP_STATUS_OK);
    char *version = json_string_field(json, "sqlite_version");
    char *id = json_string_field(json, "id");
    printf("program's SQLite %s, sqlkeep's SQLite %s\n", sqlite3_libversion(),
           version ? version : "?");
    CHECK(version != NULL && strcmp(version, sqlite3_libversion()) == 0);
    CHECK(strstr(json, "\"journal_mode\":\"wal\"") != NULL);
    sqlkeep_string_free(json);

    /* More writes through the application's connection, then a backup while the
     * application holds a read transaction open (WAL: neither waits for the other). */
    CHECK(insert_rows(501, 800) == SQLITE_OK);
    CHECK(exec("BEGIN") == SQLITE_OK);
    CHECK(scalar("SELECT count(*) FROM items") == 800);
    CHECK(sqlkeep_backup(k, NULL, "800 items", &json) == SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);
    CHECK(exec("COMMIT") == SQLITE_OK);

    /* Restore the first backup into the live database while the application's
     * connection stays open: it sees the restored content on its next read. */
    CHECK(sqlkeep_restore(k, id, NULL, &json) == SQLKEEP_STATUS_OK);
    CHECK(json != NULL && strstr(json, "\"kind\":\"pre-restore\"") != NULL);
    sqlkeep_string_free(json);
    CHECK(scalar("SELECT count(*) FROM items") == 500);
    CHECK(scalar("SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'") == 1);

    /* The application keeps writing after the restore. */
    CHECK(insert_rows(501, 510) == SQLITE_OK);
    CHECK(scalar("SELECT count(*) FROM items") == 510);

    char *list = NULL;
    CHECK(sqlkeep_list(k, &list) == SQLKEEP_STATUS_OK);
    CHECK(list != NULL && strstr(list, "\"label\":\"800 items\"") != NULL);
    sqlkeep_string_free(list);

    /* Encryption: with a key from sqlkeep_keygen, a backup is an age file, and its
     * restore into a new file holds what the live database holds, read through SQLite. */
    char key[4200], target[4200], changes[4400];
    snprintf(key, sizeof key, "%s/key.txt", argv[1]);
    snprintf(target, sizeof target, "%s/restored.db", argv[1]);
    remove(key);
    remove(target);
    CHECK(sqlkeep_keygen(key, &json) == SQLKEEP_STATUS_OK);
    char *public_key = json_string_field(json, "public_key");
    sqlkeep_string_free(json);
    snprintf(changes, sizeof changes,
             "{\"encryption\": {\"recipients\": [\"%s\"], \"identity_file\": \"%s\"}}",
             public_key ? public_key : "?", key);
    CHECK(sqlkeep_configure(k, changes, &json) == SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);
    CHECK(sqlkeep_backup(k, NULL, "encrypted", &json) == SQLKEEP_STATUS_OK);
    char *encrypted = json_string_field(json, "id");
    char *file = json_string_field(json, "file");
    CHECK(file != NULL && strlen(file) > 4 && strcmp(file + strlen(file) - 4, ".age") == 0);
    sqlkeep_string_free(json);
    CHECK(sqlkeep_restore(k, encrypted, target, &json) == SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);
    sqlite3 *restored = NULL;
    CHECK(sqlite3_open_v2(target, &restored, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    const char *fingerprint =
        "SELECT count(*) || ':' || sum(id) || ':' || sum(length(name) * id) FROM items";
    char *live = text_of(app, fingerprint);
    char *copy = text_of(restored, fingerprint);
    char *check = text_of(restored, "PRAGMA integrity_check");
    printf("live %s, restored from the encrypted backup %s\n", live ? live : "?",
           copy ? copy : "?");
    CHECK(live != NULL && copy != NULL && strcmp(live, copy) == 0);
    CHECK(live != NULL && strncmp(live, "510:", 4) == 0);
    CHECK(check != NULL && strcmp(check, "ok") == 0);
    CHECK(sqlite3_close(restored) == SQLITE_OK);
    free(check);
    free(copy);
    free(live);
    free(file);
    free(encrypted);
    free(public_key);

    sqlkeep_close(k);
    free(version);
    free(id);
    CHECK(sqlite3_close(app) == SQLITE_OK);
    return finish();
}
