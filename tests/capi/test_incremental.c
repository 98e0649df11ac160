/*
 * Tests of page-level incremental backups (issue 12) through the C ABI:
 * sqlkeep_backup_with and SQLKEEP_BACKUP_FULL, the manifest of an incremental backup,
 * sqlkeep_export, a restore rebuilt from a chain, and the stats that count it. Run by
 * scripts/test-c (also under valgrind):
 *
 *     test_incremental SAMPLE_DB SCRATCH_DIR
 *
 * SAMPLE_DB is the small database of scripts/test-c (table `notes`, 2000 rows); it is
 * only copied, never changed. SCRATCH_DIR is an empty directory the test may fill. Ends
 * with "N passed, N failed"; the exit status is 0 only when nothing failed.
 *
 * The test does not link SQLite: the library carries its own copy, and two copies in one
 * process do not see each other's locks (see sqlkeep.h). The database is changed, and
 * restored and exported copies are read, by python3's sqlite3 in a child process, which
 * scripts/test-c already needs for the sample database.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* ------------------------------------------------------------------- helpers -- */

/* The size of `path`, or -1. */
static long long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Whether `path` starts with the `n` bytes `magic`. */
static int starts_with_bytes(const char *path, const unsigned char *magic, size_t n) {
    unsigned char head[16] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t got = fread(head, 1, n, f);
    fclose(f);
    return got == n && memcmp(head, magic, n) == 0;
}

/* Whether `path` starts with a zstd frame, or with the 4-byte skippable frame sqlkeep
 * writes before each zstd frame (magic 0x184D2A50, see src/pipeline/members.rs) and then a
 * zstd frame. */
static int is_zstd_file(const char *path) {
    static const unsigned char frame[] = {0x28, 0xb5, 0x2f, 0xfd};
    static const unsigned char skippable[] = {0x50, 0x2a, 0x4d, 0x18, 0x04, 0x00, 0x00, 0x00};
    unsigned char head[16] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got >= 4 && memcmp(head, frame, 4) == 0) return 1;
    return got >= 16 && memcmp(head, skippable, 8) == 0 && memcmp(head + 12, frame, 4) == 0;
}

/* The first JSON number field `key` of a compact JSON text, or -1 when absent. */
static long long json_number_field(const char *json, const char *key) {
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *start = json ? strstr(json, pattern) : NULL;
    if (!start) return -1;
    start += strlen(pattern);
    if (*start < '0' || *start > '9') return -1;
    return strtoll(start, NULL, 10);
}

/* Runs `python3 -c code arg1 arg2` (no shell, so paths need no quoting); returns its exit
 * status, or -1 when it could not run. */
static int python(const char *code, const char *arg1, const char *arg2) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        execlp("python3", "python3", "-c", code, arg1, arg2, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Adds 50 notes and changes the title of note 1: a few pages of the database. */
static const char *const CHANGE_DB =
    "import sqlite3, sys\n"
    "c = sqlite3.connect(sys.argv[1])\n"
    "c.executemany('INSERT INTO notes (title, body) VALUES (?, ?)',\n"
    "              [(f'later {i}', 'added after the first backup') for i in range(50)])\n"
    "c.execute(\"UPDATE notes SET title = 'changed' WHERE id = 1\")\n"
    "c.commit()\n"
    "c.close()\n";

/* Exits 0 when the database argv[1] (gunzipped first when its name ends in .gz) passes
 * integrity_check and has argv[2] notes. */
static const char *const CHECK_DB =
    "import gzip, shutil, sqlite3, sys\n"
    "path = sys.argv[1]\n"
    "if path.endswith('.gz'):\n"
    "    with gzip.open(path) as f, open(path + '.db', 'wb') as out:\n"
    "        shutil.copyfileobj(f, out)\n"
    "    path += '.db'\n"
    "c = sqlite3.connect(path)\n"
    "ok = c.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'\n"
    "n = c.execute('SELECT count(*) FROM notes').fetchone()[0]\n"
    "c.close()\n"
    "if not ok or n != int(sys.argv[2]):\n"
    "    print(f'{path}: integrity ok {ok}, {n} notes, expected {sys.argv[2]}', file=sys.stderr)\n"
    "    sys.exit(1)\n";

/* How many backups sqlkeep_list shows. */
static int backups_listed(sqlkeep *k) {
    char *json = NULL;
    CHECK_RC(sqlkeep_list(k, &json), SQLKEEP_STATUS_OK);
    int n = count_occurrences(json, "\"format\":1");
    sqlkeep_string_free(json);
    return n;
}

/* ---------------------------------------------------------------------- tests -- */

static void test_config_key(void) {
    begin("config_key");
    char *config = fresh_config("config", "\"incremental\": \"yes\"");
    sqlkeep *k = (sqlkeep *)&config;
    CHECK_RC(sqlkeep_open(config, &k), SQLKEEP_STATUS_CONFIG);
    CHECK(k == NULL);
    CHECK(contains(sqlkeep_last_error(), "incremental"));
    free(config);

    /* Off by default; sqlkeep_configure turns it on and refuses a value that is not a
       boolean, naming the key, changing nothing. */
    k = open_fresh("config", "\"schedule\": \"off\"");
    char *json = NULL;
    CHECK_RC(sqlkeep_configure(k, "{}", &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"incremental\":false"));
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_configure(k, "{\"incremental\": 1}", &json), SQLKEEP_STATUS_CONFIG);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "incremental"));
    CHECK_RC(sqlkeep_configure(k, "{\"incremental\": true}", &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"incremental\":true"));
    sqlkeep_string_free(json);
    sqlkeep_close(k);
}

static void test_incremental_backup_export_restore(void) {
    begin("incremental_backup_export_restore");
    sqlkeep *k = open_fresh("inc", "\"incremental\": true, \"schedule\": \"off\"");
    char *db = scratch_path("inc/app.db");
    char *json = NULL;

    /* The first backup has nothing to build on: a full one. */
    CHECK_RC(sqlkeep_backup(k, NULL, "first", &json), SQLKEEP_STATUS_OK);
    char *first = json_string_field(json, "id");
    char *first_file = json_string_field(json, "file");
    CHECK(first != NULL);
    CHECK(ends_with(first_file, ".sqlite3.gz"));
    CHECK(!contains(json, "\"incremental\":"));
    CHECK(!contains(json, "\"requires\":"));
    sqlkeep_string_free(json);

    CHECK(python(CHANGE_DB, db, NULL) == 0);

    /* The second stores the changed pages only, and says what it needs. */
    CHECK_RC(sqlkeep_backup(k, NULL, "second", &json), SQLKEEP_STATUS_OK);
    char *second = json_string_field(json, "id");
    char *second_file = json_string_field(json, "file");
    CHECK(second != NULL);
    CHECK(ends_with(second_file, ".pages.zst"));
    CHECK(contains(json, "\"incremental\":{"));
    CHECK(contains(json, "\"requires\":[\"incremental\"]"));
    CHECK(contains(json, "\"chain\":[{"));
    CHECK(contains(json, "\"image_sha256\":\""));
    CHECK(contains(json, "\"pages\":"));
    {
        char *parent = json_string_field(json, "parent");
        CHECK(parent != NULL && first != NULL && strcmp(parent, first) == 0);
        free(parent);
        /* The chain starts with the full backup's file and ends with this one's. */
        const char *chain = strstr(json ? json : "", "\"chain\":");
        CHECK(first_file != NULL && contains(chain, first_file));
        CHECK(second_file != NULL && contains(chain, second_file));
        CHECK(first_file != NULL && second_file != NULL && chain != NULL &&
              strstr(chain, first_file) < strstr(chain, second_file));
        /* It added less than the database it restores to. */
        long long added = json_number_field(json, "size_bytes");
        long long raw = json_number_field(json, "raw_size_bytes");
        CHECK(added > 0 && raw > 0 && added < raw);
    }
    sqlkeep_string_free(json);
    char *data = scratch_path("inc/backups/%s", second_file ? second_file : "?");
    CHECK(file_exists(data));
    free(data);

    CHECK_RC(sqlkeep_verify(k, second, 1, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"ok\":true"));
    sqlkeep_string_free(json);

    /* SQLKEEP_BACKUP_FULL: self-contained although incremental is on. */
    CHECK_RC(sqlkeep_backup_with(k, "pre-operation", "full", SQLKEEP_BACKUP_FULL, &json),
             SQLKEEP_STATUS_OK);
    char *third = json_string_field(json, "id");
    CHECK(third != NULL);
    CHECK(contains(json, "\"kind\":\"pre-operation\""));
    CHECK(!contains(json, "\"incremental\":"));
    CHECK(!contains(json, "\"requires\":"));
    {
        char *file = json_string_field(json, "file");
        CHECK(ends_with(file, ".sqlite3.gz"));
        free(file);
    }
    sqlkeep_string_free(json);
    CHECK(backups_listed(k) == 3);

    /* Unknown flag bits and NULL pointers are refused before any backup is taken. */
    json = (char *)&json;
    CHECK_RC(sqlkeep_backup_with(k, NULL, NULL, 2, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "flags"));
    CHECK_RC(sqlkeep_backup_with(k, NULL, NULL, SQLKEEP_BACKUP_FULL | 0x80000000u, &json),
             SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_backup_with(NULL, NULL, NULL, 0, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`k` is NULL"));
    CHECK_RC(sqlkeep_backup_with(k, NULL, NULL, 0, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`out_json` is NULL"));
    CHECK_RC(sqlkeep_backup_with(k, "hourly", NULL, 0, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_backup_with(k, NULL, "\xff", 0, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(backups_listed(k) == 3);

    /* The manifests as listed: one incremental backup. */
    CHECK_RC(sqlkeep_list(k, &json), SQLKEEP_STATUS_OK);
    CHECK(count_occurrences(json, "\"requires\":[\"incremental\"]") == 1);
    sqlkeep_string_free(json);

    /* Export of the incremental backup: one gzip file holding the whole database. */
    char *gz = scratch_path("inc/x.sqlite3.gz");
    CHECK_RC(sqlkeep_export(k, second, gz, &json), SQLKEEP_STATUS_OK);
    CHECK(file_exists(gz));
    {
        static const unsigned char gzip_magic[] = {0x1f, 0x8b};
        CHECK(starts_with_bytes(gz, gzip_magic, sizeof gzip_magic));
        char *id = json_string_field(json, "id");
        char *path = json_string_field(json, "path");
        char *sha = json_string_field(json, "sha256");
        CHECK(id != NULL && second != NULL && strcmp(id, second) == 0);
        /* Absolute, whatever the scratch directory was given as. */
        CHECK(path != NULL && path[0] == '/' && ends_with(path, "/inc/x.sqlite3.gz"));
        CHECK(sha != NULL && strlen(sha) == 64);
        CHECK(contains(json, "\"compression\":\"gzip\""));
        CHECK(json_number_field(json, "size_bytes") == file_size(gz));
        CHECK(json_number_field(json, "raw_size_bytes") > file_size(gz));
        free(id);
        free(path);
        free(sha);
    }
    sqlkeep_string_free(json);
    CHECK(python(CHECK_DB, gz, "2050") == 0);

    /* Never over an existing file, which stays as it was. */
    long long before = file_size(gz);
    json = (char *)&json;
    CHECK_RC(sqlkeep_export(k, second, gz, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "already exists"));
    CHECK(file_size(gz) == before);

    /* The name says the compression: anything but .gz and .zst is refused. */
    char *plain = scratch_path("inc/x.db");
    CHECK_RC(sqlkeep_export(k, second, plain, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), ".gz"));
    CHECK(!file_exists(plain));
    free(plain);

    char *zst = scratch_path("inc/x.sqlite3.zst");
    CHECK_RC(sqlkeep_export(k, second, zst, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"compression\":\"zstd\""));
    sqlkeep_string_free(json);
    CHECK(is_zstd_file(zst));
    free(zst);

    /* Wrong arguments. */
    char *other = scratch_path("inc/other.sqlite3.gz");
    CHECK_RC(sqlkeep_export(k, "app-20990101T000000Z-manual", other, &json),
             SQLKEEP_STATUS_NOT_FOUND);
    CHECK(json == NULL);
    char *nowhere = scratch_path("inc/no-such-folder/x.sqlite3.gz");
    CHECK_RC(sqlkeep_export(k, second, nowhere, &json), SQLKEEP_STATUS_NOT_FOUND);
    free(nowhere);
    CHECK_RC(sqlkeep_export(NULL, second, other, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_export(k, NULL, other, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`id` is NULL"));
    CHECK_RC(sqlkeep_export(k, second, NULL, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`to_path` is NULL"));
    CHECK_RC(sqlkeep_export(k, second, other, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`out_json` is NULL"));
    CHECK_RC(sqlkeep_export(k, second, "x\xff.sqlite3.gz", &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`to_path` is not valid UTF-8"));
    CHECK(!file_exists(other));

    /* Each backup restores to its own moment: the incremental one is rebuilt from its
       chain. */
    char *restored = scratch_path("inc/restored-second.db");
    CHECK_RC(sqlkeep_restore(k, second, restored, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"safety_backup\":null"));
    sqlkeep_string_free(json);
    CHECK(python(CHECK_DB, restored, "2050") == 0);
    char *restored_first = scratch_path("inc/restored-first.db");
    CHECK_RC(sqlkeep_restore(k, first, restored_first, &json), SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);
    CHECK(python(CHECK_DB, restored_first, "2000") == 0);

    CHECK_RC(sqlkeep_stats(k, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"count\":3"));
    CHECK(contains(json, "\"incremental\":1"));
    {
        long long total = json_number_field(json, "total_bytes");
        long long on_disk = json_number_field(json, "bytes_on_disk");
        long long raw = json_number_field(json, "raw_bytes");
        /* On disk: the backups' files plus the page hashes the next backup compares with. */
        CHECK(total > 0 && on_disk >= total);
        CHECK(raw > on_disk);
    }
    sqlkeep_string_free(json);

    /* Deleting the full backup keeps what the incremental one needs: it still exports. */
    CHECK_RC(sqlkeep_delete_with(k, first, 0, &json), SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_export(k, second, other, &json), SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);
    CHECK(python(CHECK_DB, other, "2050") == 0);
    CHECK_RC(sqlkeep_stats(k, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"count\":2"));
    CHECK(contains(json, "\"incremental\":1"));
    CHECK(json_number_field(json, "bytes_on_disk") > json_number_field(json, "total_bytes"));
    sqlkeep_string_free(json);

    /* A damaged page file: export, restore and verify refuse, and nothing is written. */
    {
        char *pages = scratch_path("inc/backups/%s", second_file ? second_file : "?");
        FILE *f = fopen(pages, "r+b");
        CHECK(f != NULL);
        if (f) {
            long long size = file_size(pages);
            fseek(f, (long)(size / 2), SEEK_SET);
            int c = fgetc(f);
            fseek(f, (long)(size / 2), SEEK_SET);
            fputc(c ^ 0x55, f);
            fclose(f);
        }
        free(pages);
    }
    char *damaged = scratch_path("inc/damaged.sqlite3.gz");
    json = (char *)&json;
    CHECK_RC(sqlkeep_export(k, second, damaged, &json), SQLKEEP_STATUS_CORRUPT);
    CHECK(json == NULL);
    CHECK(second != NULL && contains(sqlkeep_last_error(), second));
    CHECK(!file_exists(damaged));
    free(damaged);
    char *restored_damaged = scratch_path("inc/restored-damaged.db");
    CHECK_RC(sqlkeep_restore(k, second, restored_damaged, &json), SQLKEEP_STATUS_CORRUPT);
    CHECK(!file_exists(restored_damaged));
    free(restored_damaged);
    CHECK_RC(sqlkeep_verify(k, second, 0, &json), SQLKEEP_STATUS_CORRUPT);
    CHECK(contains(json, "\"ok\":false"));
    sqlkeep_string_free(json);

    free(restored);
    free(restored_first);
    free(other);
    free(gz);
    free(first);
    free(first_file);
    free(second);
    free(second_file);
    free(third);
    free(db);
    sqlkeep_close(k);
}

int main(int argc, char **argv) {
    start_on_sample(argc, argv);

    test_config_key();
    test_incremental_backup_export_restore();

    return finish();
}
