/*
 * Tests of the C ABI against the real library: real SQLite files, real backups, the
 * scheduler's real thread. Run by scripts/test-c (also under valgrind):
 *
 *     test_capi SAMPLE_DB SCRATCH_DIR
 *
 * SAMPLE_DB is a small SQLite database that is only copied, never changed; SCRATCH_DIR
 * is an empty directory the test may fill. Ends with "N passed, N failed"; the exit
 * status is 0 only when nothing failed.
 *
 * The test itself does not link SQLite (the library carries its own copy): databases are
 * checked by their header bytes and through sqlkeep's own verification.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* ------------------------------------------------------------------- helpers -- */

/* Whether `path` starts with the 16-byte SQLite header. */
static int is_sqlite_file(const char *path) {
    char head[16] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return n == 16 && memcmp(head, "SQLite format 3", 16) == 0;
}

/* The permission bits of `path`, or -1. */
static int file_mode(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

/* The first `n` bytes of `path` (NUL-terminated in `buf`, which holds n + 1). */
static size_t read_head(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(buf, 1, n, f) : 0;
    if (f) fclose(f);
    buf[got] = '\0';
    return got;
}

/* Whether two files hold the same bytes. */
static int same_bytes(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb");
    FILE *fb = fopen(b, "rb");
    int same = fa != NULL && fb != NULL;
    while (same) {
        char x[8192], y[8192];
        size_t nx = fread(x, 1, sizeof x, fa);
        size_t ny = fread(y, 1, sizeof y, fb);
        if (nx != ny || memcmp(x, y, nx) != 0) same = 0;
        if (nx == 0) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* Takes a backup and returns its id (caller frees), or NULL. */
static char *backup_id(sqlkeep *k, const char *kind, const char *label) {
    char *json = NULL;
    int rc = sqlkeep_backup(k, kind, label, &json);
    CHECK_RC(rc, SQLKEEP_STATUS_OK);
    char *id = json_string_field(json, "id");
    sqlkeep_string_free(json);
    return id;
}

/* ------------------------------------------------------------- event recorder -- */

/* Collects the `type` of each event; thread-safe, as callbacks require. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    char types[4096];
    int count;
    int scheduled_succeeded;
} recorder;

static void recorder_init(recorder *r) {
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->changed, NULL);
    r->types[0] = '\0';
    r->count = 0;
    r->scheduled_succeeded = 0;
}

static void recorder_destroy(recorder *r) {
    pthread_cond_destroy(&r->changed);
    pthread_mutex_destroy(&r->lock);
}

static void record_event(const char *event_json, void *user) {
    recorder *r = user;
    char *type = json_string_field(event_json, "type");
    pthread_mutex_lock(&r->lock);
    r->count++;
    if (type && strlen(r->types) + strlen(type) + 2 < sizeof r->types) {
        strcat(r->types, type);
        strcat(r->types, " ");
    }
    if (type && strcmp(type, "backup_succeeded") == 0 &&
        contains(event_json, "\"kind\":\"scheduled\"")) {
        r->scheduled_succeeded++;
    }
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->lock);
    free(type);
}

static int recorder_count(recorder *r) {
    pthread_mutex_lock(&r->lock);
    int n = r->count;
    pthread_mutex_unlock(&r->lock);
    return n;
}

static int recorder_saw(recorder *r, const char *type) {
    char word[64];
    snprintf(word, sizeof word, "%s ", type);
    pthread_mutex_lock(&r->lock);
    int seen = contains(r->types, word);
    pthread_mutex_unlock(&r->lock);
    return seen;
}

/* Waits until the scheduler took a backup (or `seconds` pass); returns whether it did. */
static int wait_for_scheduled_backup(recorder *r, int seconds) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    pthread_mutex_lock(&r->lock);
    while (r->scheduled_succeeded == 0) {
        if (pthread_cond_timedwait(&r->changed, &r->lock, &deadline) != 0) break;
    }
    int ok = r->scheduled_succeeded > 0;
    pthread_mutex_unlock(&r->lock);
    return ok;
}

/* ---------------------------------------------------------------------- tests -- */

static void test_version_and_last_error(void) {
    begin("version_and_last_error");
    const char *v = sqlkeep_version();
    CHECK(v != NULL && strlen(v) >= 5 && strchr(v, '.') != NULL);
    CHECK(sqlkeep_last_error() != NULL);
    CHECK(strcmp(sqlkeep_last_error(), "") == 0);
}

static void test_open_arguments(void) {
    begin("open_arguments");
    sqlkeep *k = (sqlkeep *)&k; /* not NULL: failures must reset it */
    CHECK_RC(sqlkeep_open(NULL, &k), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(k == NULL);
    CHECK(contains(sqlkeep_last_error(), "config_json"));

    CHECK_RC(sqlkeep_open("{\"database\": \"a.db\"}", NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`out` is NULL"));

    k = (sqlkeep *)&k;
    CHECK_RC(sqlkeep_open("{\"database\": \"a\xff.db\"}", &k), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(k == NULL);
    CHECK(contains(sqlkeep_last_error(), "not valid UTF-8"));

    CHECK_RC(sqlkeep_open("{\"database\": ", &k), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "not valid JSON"));
    CHECK_RC(sqlkeep_open("", &k), SQLKEEP_STATUS_INVALID_ARGUMENT);

    /* Valid JSON of the wrong shape or with wrong values is a configuration error that
     * names the key. */
    CHECK_RC(sqlkeep_open("[1, 2]", &k), SQLKEEP_STATUS_CONFIG);
    CHECK(contains(sqlkeep_last_error(), "expected a JSON object"));
    CHECK_RC(sqlkeep_open("{\"backup_dir\": \"b\"}", &k), SQLKEEP_STATUS_CONFIG);
    CHECK(contains(sqlkeep_last_error(), "`database`"));
    CHECK_RC(sqlkeep_open("{\"database\": \"a.db\", \"shedule\": \"01:00\"}", &k),
             SQLKEEP_STATUS_CONFIG);
    CHECK(contains(sqlkeep_last_error(), "shedule"));
    CHECK(contains(sqlkeep_last_error(), "did you mean `schedule`"));
    CHECK_RC(sqlkeep_open("{\"database\": \"a.db\", \"retention\": {\"daily\": -1}}", &k),
             SQLKEEP_STATUS_CONFIG);
    CHECK(contains(sqlkeep_last_error(), "retention.daily"));
    CHECK(k == NULL);

    /* A success clears the message. */
    CHECK_RC(sqlkeep_open("{\"database\": \"a.db\"}", &k), SQLKEEP_STATUS_OK);
    CHECK(k != NULL);
    CHECK(strcmp(sqlkeep_last_error(), "") == 0);
    sqlkeep_close(k);
}

static void test_null_handles(void) {
    begin("null_handles");
    char *out = (char *)&out;
#define EXPECT_NULL_HANDLE(call)                                   \
    do {                                                           \
        out = (char *)&out;                                        \
        CHECK_RC(call, SQLKEEP_STATUS_INVALID_ARGUMENT);           \
        CHECK(out == NULL);                                        \
        CHECK(contains(sqlkeep_last_error(), "`k` is NULL"));      \
    } while (0)
    EXPECT_NULL_HANDLE(sqlkeep_backup(NULL, "manual", "x", &out));
    EXPECT_NULL_HANDLE(sqlkeep_list(NULL, &out));
    EXPECT_NULL_HANDLE(sqlkeep_verify(NULL, "id", 1, &out));
    EXPECT_NULL_HANDLE(sqlkeep_restore(NULL, "id", NULL, &out));
    EXPECT_NULL_HANDLE(sqlkeep_rotate(NULL, 1, &out));
    EXPECT_NULL_HANDLE(sqlkeep_stats(NULL, &out));
    EXPECT_NULL_HANDLE(sqlkeep_health(NULL, &out));
    EXPECT_NULL_HANDLE(sqlkeep_history(NULL, 10, 0, &out));
    EXPECT_NULL_HANDLE(sqlkeep_scheduler_status(NULL, &out));
    EXPECT_NULL_HANDLE(sqlkeep_configure(NULL, "{}", &out));
    EXPECT_NULL_HANDLE(sqlkeep_push(NULL, NULL, &out));
    EXPECT_NULL_HANDLE(sqlkeep_list_remote(NULL, "nas", &out));
    EXPECT_NULL_HANDLE(sqlkeep_verify_remote(NULL, "nas", "id", 1, &out));
    EXPECT_NULL_HANDLE(sqlkeep_restore_remote(NULL, "nas", "id", NULL, 0, &out));
    EXPECT_NULL_HANDLE(sqlkeep_delete_with(NULL, "id", 1, &out));
#undef EXPECT_NULL_HANDLE
    CHECK_RC(sqlkeep_scheduler_start(NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_scheduler_stop(NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_set_event_callback(NULL, record_event, NULL),
             SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_set_event_callback(NULL, NULL, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    /* Both accept NULL and do nothing. */
    sqlkeep_close(NULL);
    sqlkeep_string_free(NULL);
}

static void test_null_out_params(void) {
    begin("null_out_params");
    sqlkeep *k = open_fresh("null-out", NULL);
    CHECK_RC(sqlkeep_backup(k, NULL, NULL, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`out_json` is NULL"));
    CHECK_RC(sqlkeep_list(k, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_verify(k, "id", 0, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_restore(k, "id", NULL, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_rotate(k, 1, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_stats(k, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_health(k, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_history(k, 1, 0, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_scheduler_status(k, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_configure(k, "{}", NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`out_config_json` is NULL"));
    /* Nothing was backed up by the refused call. */
    char *list = NULL;
    CHECK_RC(sqlkeep_list(k, &list), SQLKEEP_STATUS_OK);
    CHECK(list != NULL && strcmp(list, "[]") == 0);
    sqlkeep_string_free(list);
    /* Without remotes a push has nothing to report, and no remote is known. */
    CHECK_RC(sqlkeep_push(k, NULL, &list), SQLKEEP_STATUS_OK);
    CHECK(list != NULL && strcmp(list, "[]") == 0);
    sqlkeep_string_free(list);
    CHECK_RC(sqlkeep_list_remote(k, "nas", &list), SQLKEEP_STATUS_NOT_FOUND);
    CHECK(list == NULL);
    CHECK(contains(sqlkeep_last_error(), "none is configured"));
    sqlkeep_close(k);
}

static void test_bad_arguments(void) {
    begin("bad_arguments");
    sqlkeep *k = open_fresh("bad-args", NULL);
    char *out = (char *)&out;

    CHECK_RC(sqlkeep_backup(k, "weekly", NULL, &out), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(out == NULL);
    CHECK(contains(sqlkeep_last_error(), "unknown backup kind \"weekly\""));
    CHECK_RC(sqlkeep_backup(k, "manual", "caf\xc3", &out), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`label` is not valid UTF-8"));
    CHECK_RC(sqlkeep_backup(k, "\xfe", NULL, &out), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`kind`"));

    CHECK_RC(sqlkeep_verify(k, NULL, 1, &out), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`id` is NULL"));
    CHECK_RC(sqlkeep_verify(k, "no-such-backup", 1, &out), SQLKEEP_STATUS_NOT_FOUND);
    CHECK(out == NULL);
    CHECK(contains(sqlkeep_last_error(), "no-such-backup"));

    CHECK_RC(sqlkeep_restore(k, NULL, NULL, &out), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_restore(k, "no-such-backup", NULL, &out), SQLKEEP_STATUS_NOT_FOUND);
    CHECK_RC(sqlkeep_restore(k, "x", "\xff", &out), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`to_path_or_null`"));

    CHECK_RC(sqlkeep_history(k, -1, 0, &out), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`limit` is -1"));
    CHECK_RC(sqlkeep_history(k, 10, -5, &out), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`offset` is -5"));
    CHECK(out == NULL);

    CHECK_RC(sqlkeep_configure(k, NULL, &out), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_configure(k, "{\"schedule\": ", &out), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`changes_json` is not valid JSON"));
    CHECK_RC(sqlkeep_configure(k, "\"03:00\"", &out), SQLKEEP_STATUS_CONFIG);
    CHECK_RC(sqlkeep_configure(k, "{\"schedule\": \"25:00\"}", &out), SQLKEEP_STATUS_CONFIG);
    CHECK(contains(sqlkeep_last_error(), "schedule"));
    CHECK_RC(sqlkeep_configure(k, "{\"retention\": {\"dayly\": 3}}", &out),
             SQLKEEP_STATUS_CONFIG);
    CHECK(contains(sqlkeep_last_error(), "did you mean `daily`"));
    CHECK_RC(sqlkeep_configure(k, "{\"database\": \"/elsewhere.db\"}", &out),
             SQLKEEP_STATUS_CONFIG);
    CHECK(out == NULL);
    sqlkeep_close(k);
}

static void test_failures_of_the_environment(void) {
    begin("failures_of_the_environment");
    char *out = NULL;
    sqlkeep *k = NULL;

    /* No database. */
    char *missing = scratch_path("missing.db");
    char config[1024];
    snprintf(config, sizeof config, "{\"database\": \"%s\"}", missing);
    CHECK_RC(sqlkeep_open(config, &k), SQLKEEP_STATUS_OK);
    CHECK_RC(sqlkeep_backup(k, NULL, NULL, &out), SQLKEEP_STATUS_NOT_FOUND);
    CHECK(out == NULL);
    CHECK(contains(sqlkeep_last_error(), "does not exist"));
    sqlkeep_close(k);
    free(missing);

    /* Not a database. */
    char *text = scratch_path("notes.txt");
    FILE *f = fopen(text, "w");
    fputs("not a database, just some text that is long enough to have a header\n", f);
    fclose(f);
    snprintf(config, sizeof config, "{\"database\": \"%s\"}", text);
    CHECK_RC(sqlkeep_open(config, &k), SQLKEEP_STATUS_OK);
    CHECK_RC(sqlkeep_backup(k, NULL, NULL, &out), SQLKEEP_STATUS_CORRUPT);
    CHECK(contains(sqlkeep_last_error(), "not a database"));
    sqlkeep_close(k);

    /* A backup directory that cannot exist (below a regular file). */
    char *db = scratch_path("io.db");
    CHECK(copy_file(sample_db, db) == 0);
    snprintf(config, sizeof config, "{\"database\": \"%s\", \"backup_dir\": \"%s/sub\"}", db,
             text);
    CHECK_RC(sqlkeep_open(config, &k), SQLKEEP_STATUS_OK);
    CHECK_RC(sqlkeep_backup(k, NULL, NULL, &out), SQLKEEP_STATUS_IO);
    CHECK(contains(sqlkeep_last_error(), "cannot create backup directory"));
    CHECK_RC(sqlkeep_list(k, &out), SQLKEEP_STATUS_IO);
    CHECK(out == NULL);
    CHECK(contains(sqlkeep_last_error(), "Not a directory"));
    sqlkeep_close(k);
    free(db);
    free(text);
}

static void test_backup_list_verify_restore_rotate(void) {
    begin("backup_list_verify_restore_rotate");
    sqlkeep *k = open_fresh("cycle", NULL);
    char *json = NULL;

    CHECK_RC(sqlkeep_backup(k, "manual", "before upgrade", &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"kind\":\"manual\""));
    CHECK(contains(json, "\"label\":\"before upgrade\""));
    CHECK(contains(json, "\"verification\":{"));
    CHECK(contains(json, "\"ok\":true"));
    CHECK(contains(json, "\"format\":1"));
    char *first = json_string_field(json, "id");
    char *file = json_string_field(json, "file");
    CHECK(first != NULL && file != NULL);
    sqlkeep_string_free(json);

    char *data = scratch_path("cycle/backups/%s", file ? file : "?");
    CHECK(file_exists(data));

    char *second = backup_id(k, NULL, NULL); /* NULL kind means manual */
    char *guard = backup_id(k, "pre-operation", "migration 42");

    CHECK_RC(sqlkeep_list(k, &json), SQLKEEP_STATUS_OK);
    CHECK(json != NULL && json[0] == '[');
    CHECK(count_occurrences(json, "\"format\":1") == 3);
    CHECK(contains(json, first) && contains(json, second) && contains(json, guard));
    CHECK(contains(json, "\"kind\":\"pre-operation\""));
    /* Newest first. */
    CHECK(json && guard && first && strstr(json, guard) < strstr(json, first));
    sqlkeep_string_free(json);

    CHECK_RC(sqlkeep_verify(k, first, 0, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"level\":\"quick\""));
    CHECK(contains(json, "\"ok\":true"));
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_verify(k, first, 1, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"level\":\"full\""));
    CHECK(contains(json, "integrity_check ok"));
    char *verified_id = json_string_field(json, "id");
    CHECK(verified_id != NULL && first != NULL && strcmp(verified_id, first) == 0);
    free(verified_id);
    {
        char *at = json_string_field(json, "at");
        CHECK(at != NULL && strlen(at) == 24 && at[23] == 'Z');
        free(at);
    }
    sqlkeep_string_free(json);

    /* Restore into a new file. */
    char *target = scratch_path("cycle/restored.db");
    CHECK_RC(sqlkeep_restore(k, first, target, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"safety_backup\":null"));
    CHECK(contains(json, target));
    CHECK(is_sqlite_file(target));
    sqlkeep_string_free(json);
    /* Never over an existing file. */
    json = (char *)&json;
    CHECK_RC(sqlkeep_restore(k, first, target, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "already exists"));

    /* With options: over the existing file, integrity_check run again (paranoid). */
    CHECK_RC(sqlkeep_restore_with(k, first, target, SQLKEEP_RESTORE_OVERWRITE | SQLKEEP_RESTORE_PARANOID, &json),
             SQLKEEP_STATUS_OK);
    CHECK(contains(json, target));
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_list(k, &json), SQLKEEP_STATUS_OK);
    /* The plain restore above rested on the hash; this one ran the check. */
    CHECK(!contains(json, "not repeated"));
    CHECK(contains(json, "\"raw_sha256\":\""));
    sqlkeep_string_free(json);
    /* Without PARANOID the recorded image hash stands for the check. */
    CHECK_RC(sqlkeep_restore_with(k, first, target, SQLKEEP_RESTORE_OVERWRITE, &json), SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_list(k, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "not repeated"));
    sqlkeep_string_free(json);
    json = (char *)&json;
    CHECK_RC(sqlkeep_restore_with(k, first, target, 4, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "flags"));
    CHECK_RC(sqlkeep_restore_with(NULL, first, target, 0, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);

    /* Restore into the live database: a pre-restore safety backup comes first. */
    CHECK_RC(sqlkeep_restore(k, second, NULL, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"safety_backup\":{"));
    CHECK(contains(json, "\"kind\":\"pre-restore\""));
    sqlkeep_string_free(json);

    CHECK_RC(sqlkeep_rotate(k, 1, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"dry_run\":true"));
    CHECK(contains(json, "never rotated"));
    CHECK(contains(json, "\"deleted\":[]"));
    CHECK(contains(json, "\"max_total_bytes\":null"));
    sqlkeep_string_free(json);
    /* A size budget below what the manual backups take: nothing deleted, a warning. */
    CHECK_RC(sqlkeep_configure(k, "{\"retention\": {\"max_total_bytes\": 1}}", &json),
             SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_rotate(k, 1, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"max_total_bytes\":1"));
    CHECK(contains(json, "manual backups alone take"));
    CHECK(contains(json, "\"deleted\":[]"));
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_rotate(k, 0, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"dry_run\":false"));
    sqlkeep_string_free(json);

    CHECK_RC(sqlkeep_stats(k, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"count\":4"));
    CHECK(contains(json, "\"failures\":0"));
    CHECK(contains(json, "\"pre-restore\":1"));
    sqlkeep_string_free(json);

    CHECK_RC(sqlkeep_history(k, 2, 0, &json), SQLKEEP_STATUS_OK);
    CHECK(count_occurrences(json, "\"status\":") == 2);
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_history(k, 100, 0, &json), SQLKEEP_STATUS_OK);
    CHECK(count_occurrences(json, "\"status\":") == 4);
    CHECK(contains(json, "\"label\":\"migration 42\""));
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_history(k, 10, 100, &json), SQLKEEP_STATUS_OK);
    CHECK(json != NULL && strcmp(json, "[]") == 0);
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_history(k, 0, 0, &json), SQLKEEP_STATUS_OK);
    CHECK(json != NULL && strcmp(json, "[]") == 0);
    sqlkeep_string_free(json);

    /* The timeline: runs merged with the backups present, one row per backup; with a
       window of 0 runs every backup present still has its row. */
    CHECK_RC(sqlkeep_timeline(k, 100, 0, &json), SQLKEEP_STATUS_OK);
    CHECK(count_occurrences(json, "\"status\":") == 4);
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_timeline(k, 0, 0, &json), SQLKEEP_STATUS_OK);
    CHECK(count_occurrences(json, "\"status\":") == 4);
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_timeline(k, -1, 0, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_timeline(k, 1, 0, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_timeline(NULL, 1, 0, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);

    free(target);
    free(data);
    free(file);
    free(first);
    free(second);
    free(guard);
    sqlkeep_close(k);
}

static void test_corrupt_backup(void) {
    begin("corrupt_backup");
    sqlkeep *k = open_fresh("corrupt", NULL);
    char *json = NULL;
    /* Health before any backup: a warning that says so. */
    CHECK_RC(sqlkeep_health(k, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"verdict\":\"warning\""));
    CHECK(contains(json, "\"code\":\"no_backup\""));
    CHECK(contains(json, "\"headline\":\"No backup yet"));
    sqlkeep_string_free(json);

    CHECK_RC(sqlkeep_backup(k, NULL, NULL, &json), SQLKEEP_STATUS_OK);
    char *id = json_string_field(json, "id");
    char *file = json_string_field(json, "file");
    sqlkeep_string_free(json);
    CHECK(id != NULL && file != NULL);
    CHECK_RC(sqlkeep_health(k, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"verdict\":\"ok\""));
    CHECK(contains(json, "\"reasons\":[]"));
    CHECK(contains(json, "\"headline\":\"Last backup just now \xc2\xb7 verified"));
    sqlkeep_string_free(json);

    /* Damage the middle of the backup file. */
    char *data = scratch_path("corrupt/backups/%s", file ? file : "?");
    FILE *f = fopen(data, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, size / 2, SEEK_SET);
        fputs("XXXXXXXX", f);
        fclose(f);
    }

    /* Like the CLI (exit 1 with the JSON): the corrupt code and the result. */
    CHECK_RC(sqlkeep_verify(k, id, 0, &json), SQLKEEP_STATUS_CORRUPT);
    CHECK(json != NULL);
    CHECK(contains(json, "\"ok\":false"));
    CHECK(contains(json, "\"level\":\"quick\""));
    CHECK(contains(json, "damaged"));
    CHECK(contains(sqlkeep_last_error(), "failed quick verification"));
    CHECK(id && contains(sqlkeep_last_error(), id));
    sqlkeep_string_free(json);

    CHECK_RC(sqlkeep_restore(k, id, NULL, &json), SQLKEEP_STATUS_CORRUPT);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "was not restored"));

    CHECK_RC(sqlkeep_history(k, 10, 0, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"status\":\"corrupt\""));
    sqlkeep_string_free(json);

    /* The newest backup is damaged: failing, with the reason's stable code. */
    CHECK_RC(sqlkeep_health(k, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"verdict\":\"failing\""));
    CHECK(contains(json, "\"code\":\"newest_backup_damaged\""));
    sqlkeep_string_free(json);

    free(data);
    free(file);
    free(id);
    sqlkeep_close(k);
}

/* ------------------------------------------------------------- notifications -- */

/* A one-request HTTP server on 127.0.0.1: records the request, answers 200. */
typedef struct {
    int listener;
    char request[8192];
} receiver;

static void *receive_one(void *arg) {
    receiver *r = arg;
    int c = accept(r->listener, NULL, NULL);
    if (c < 0) return NULL;
    size_t got = 0;
    /* Until the JSON body's closing brace (the body is one JSON object). */
    while (got < sizeof r->request - 1) {
        ssize_t n = read(c, r->request + got, sizeof r->request - 1 - got);
        if (n <= 0) break;
        got += (size_t)n;
        r->request[got] = 0;
        char *body = strstr(r->request, "\r\n\r\n");
        if (body && strrchr(body, '}')) break;
    }
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    if (write(c, ok, strlen(ok)) < 0) perror("write");
    close(c);
    return NULL;
}

static void test_diff(void) {
    begin("diff");
    sqlkeep *k = open_fresh("diff", NULL);
    char *a = backup_id(k, NULL, NULL);
    char *b = backup_id(k, NULL, NULL);
    char *json = NULL;
    CHECK_RC(sqlkeep_diff(k, a, NULL, &json), SQLKEEP_STATUS_OK);
    CHECK(json && contains(json, "\"identical\":true"));
    CHECK(json && contains(json, "\"key\":[\"rowid\"]"));
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_diff(k, a, b, &json), SQLKEEP_STATUS_OK);
    CHECK(json && contains(json, "\"identical\":true"));
    CHECK(b && json && contains(json, b));
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_diff(k, "app-20990101T000000Z-manual", NULL, &json), SQLKEEP_STATUS_NOT_FOUND);
    CHECK_RC(sqlkeep_diff(k, NULL, NULL, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`from_id` is NULL"));
    CHECK_RC(sqlkeep_diff(k, a, NULL, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_diff(k, "\xff\xfe", NULL, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_diff_rows(k, a, b, "notes", 10, 0, &json), SQLKEEP_STATUS_OK);
    CHECK(json && strcmp(json, "[]") == 0);
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_diff_rows(k, a, NULL, "no_such_table", 10, 0, &json), SQLKEEP_STATUS_NOT_FOUND);
    CHECK_RC(sqlkeep_diff_rows(k, a, NULL, NULL, 10, 0, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_diff_rows(k, a, NULL, "notes", -1, 0, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    free(a);
    free(b);
    sqlkeep_close(k);
}

static void test_restore_table(void) {
    begin("restore_table");
    sqlkeep *k = open_fresh("restore-table", NULL);
    char *a = backup_id(k, NULL, NULL);
    char *json = NULL;
    /* Chosen rows, merged by key: all three are in the live table as they are. */
    CHECK_RC(sqlkeep_restore_table(k, a, "notes", "id <= 3", 0, &json), SQLKEEP_STATUS_OK);
    CHECK(json && contains(json, "\"name\":\"notes\",\"replaced\":0,\"added\":0,\"unchanged\":3,\"removed\":0"));
    CHECK(json && contains(json, "-pre-restore\""));
    sqlkeep_string_free(json);
    /* The whole table becomes the backup's. */
    CHECK_RC(sqlkeep_restore_table(k, a, "notes", NULL, SQLKEEP_RESTORE_REPLACE_TABLE, &json),
             SQLKEEP_STATUS_OK);
    CHECK(json && contains(json, "\"replaced\":0,\"added\":2000,\"unchanged\":0,\"removed\":2000"));
    sqlkeep_string_free(json);
    /* Bad requests: each a status and a message, nothing written. */
    CHECK_RC(sqlkeep_restore_table(k, a, "notes", "id = = 1", 0, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "cannot be applied to table `notes`"));
    CHECK_RC(sqlkeep_restore_table(k, a, "notes", "id < 5", SQLKEEP_RESTORE_REPLACE_TABLE, &json),
             SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_restore_table(k, a, "notes", NULL, 16, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`flags` is 16"));
    CHECK_RC(sqlkeep_restore_table(k, a, "no_such_table", NULL, 0, &json), SQLKEEP_STATUS_NOT_FOUND);
    CHECK_RC(sqlkeep_restore_table(k, a, NULL, NULL, 0, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`table` is NULL"));
    CHECK_RC(sqlkeep_restore_table(k, a, "notes", "\xff\xfe", 0, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_restore_table(k, a, "notes", NULL, 0, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_restore_table(NULL, a, "notes", NULL, 0, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_restore_table(k, "app-20990101T000000Z-manual", "notes", NULL, 0, &json),
             SQLKEEP_STATUS_NOT_FOUND);
    /* A backup file by its path (here in its own folder): compared and restored as such. */
    char *m = NULL;
    CHECK_RC(sqlkeep_list(k, &m), SQLKEEP_STATUS_OK);
    char *name = m ? json_string_field(m, "file") : NULL;
    sqlkeep_string_free(m);
    CHECK(name != NULL);
    char *file = name ? scratch_path("restore-table/backups/%s", name) : NULL;
    free(name);
    if (file) {
        CHECK_RC(sqlkeep_diff_file(k, file, &json), SQLKEEP_STATUS_OK);
        CHECK(json && contains(json, "\"restore_preview\""));
        sqlkeep_string_free(json);
        char to[4096];
        snprintf(to, sizeof to, "%s.restored.db", file);
        CHECK_RC(sqlkeep_restore_file(k, file, to, 0, &json), SQLKEEP_STATUS_OK);
        CHECK(json && contains(json, ".restored.db"));
        sqlkeep_string_free(json);
        CHECK_RC(sqlkeep_restore_file(k, file, to, 0, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
        CHECK_RC(sqlkeep_restore_file(k, file, to, 64, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
        free(file);
    }
    CHECK_RC(sqlkeep_diff_file(k, "/tmp/notes.txt", &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "is not a sqlkeep backup file"));
    CHECK_RC(sqlkeep_diff_file(k, NULL, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_restore_file(k, NULL, NULL, 0, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    free(a);
    sqlkeep_close(k);
}

static void test_notify_test(void) {
    begin("notify_test");
    /* Without channels: an empty report. */
    sqlkeep *k = open_fresh("notify-none", NULL);
    char *json = NULL;
    CHECK_RC(sqlkeep_notify_test(k, &json), SQLKEEP_STATUS_OK);
    CHECK(json && strcmp(json, "[]") == 0);
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_notify_test(k, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_notify_test(NULL, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    sqlkeep_close(k);

    /* A receiver that listens, and a port where nothing does. */
    static receiver r;
    r.listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    CHECK(bind(r.listener, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(r.listener, 4) == 0);
    CHECK(getsockname(r.listener, (struct sockaddr *)&a, &len) == 0);
    int dead = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in d = {0};
    d.sin_family = AF_INET;
    d.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t dlen = sizeof d;
    CHECK(bind(dead, (struct sockaddr *)&d, sizeof d) == 0);
    CHECK(getsockname(dead, (struct sockaddr *)&d, &dlen) == 0);
    close(dead);
    char extra[512];
    snprintf(extra, sizeof extra,
             "\"notify\": [{\"webhook\": \"http://127.0.0.1:%d/hook\"}, "
             "{\"webhook\": \"http://127.0.0.1:%d/secret-path\"}]",
             ntohs(a.sin_port), ntohs(d.sin_port));
    k = open_fresh("notify", extra);
    pthread_t t;
    pthread_create(&t, NULL, receive_one, &r);
    CHECK_RC(sqlkeep_notify_test(k, &json), SQLKEEP_STATUS_OK);
    pthread_join(t, NULL);
    close(r.listener);
    CHECK(json && contains(json, "\"ok\":true"));
    CHECK(json && contains(json, "\"ok\":false"));
    CHECK(json && !contains(json, "secret-path"));
    CHECK(contains(r.request, "POST /hook "));
    CHECK(contains(r.request, "\"event\":\"test\""));
    sqlkeep_string_free(json);

    /* A bad channel is a configuration error naming its key. */
    CHECK_RC(sqlkeep_configure(k, "{\"notify\": [{\"webhook\": \"ftp://x\"}]}", &json),
             SQLKEEP_STATUS_CONFIG);
    CHECK(contains(sqlkeep_last_error(), "notify[0].webhook"));
    sqlkeep_close(k);
}

static void test_configure(void) {
    begin("configure");
    sqlkeep *k = open_fresh("configure", NULL);
    char *json = NULL;
    CHECK_RC(sqlkeep_configure(k, "{}", &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"schedule\":\"02:00\""));
    CHECK(contains(json, "\"compression\":\"gzip\""));
    sqlkeep_string_free(json);

    CHECK_RC(sqlkeep_configure(k,
                               "{\"schedule\": \"03:30\", \"compression\": \"zstd\", "
                               "\"retention\": {\"daily\": 7}}",
                               &json),
             SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"schedule\":\"03:30\""));
    CHECK(contains(json, "\"compression\":\"zstd\""));
    CHECK(contains(json, "\"daily\":7"));
    CHECK(contains(json, "\"weekly\":12")); /* retention merges key by key */
    sqlkeep_string_free(json);

    /* A bad change changes nothing, even its valid part. */
    CHECK_RC(sqlkeep_configure(k, "{\"schedule\": \"04:00\", \"timezone\": \"Mars/Olympus\"}",
                               &json),
             SQLKEEP_STATUS_CONFIG);
    CHECK(contains(sqlkeep_last_error(), "timezone"));
    CHECK_RC(sqlkeep_configure(k, "{}", &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"schedule\":\"03:30\""));
    sqlkeep_string_free(json);

    /* Retention for schedules more often than daily (hourly, keep_within). */
    CHECK_RC(sqlkeep_configure(k, "{\"retention\": {\"hourly\": 24, \"keep_within\": \"36h\"}}",
                               &json),
             SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"hourly\":24"));
    CHECK(contains(json, "\"keep_within\":\"36h\""));
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_configure(k, "{\"retention\": {\"keep_within\": \"7 days\"}}", &json),
             SQLKEEP_STATUS_CONFIG);
    CHECK(contains(sqlkeep_last_error(), "retention.keep_within"));

    /* The new compression is used by the next backup. */
    CHECK_RC(sqlkeep_backup(k, NULL, NULL, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"compression\":\"zstd\""));
    CHECK(contains(json, ".sqlite3.zst\""));
    sqlkeep_string_free(json);
    sqlkeep_close(k);
}

/* Encryption at rest: a key made by sqlkeep_keygen, a backup encrypted to it, verified
 * and restored with it, and the two ways it can go wrong at the C ABI: a bad
 * `encryption` value (SQLKEEP_STATUS_CONFIG) and a key file others can read
 * (SQLKEEP_STATUS_KEY). */
static void test_encryption(void) {
    begin("encryption");
    char *key = scratch_path("backup-key.txt");
    char *json = (char *)&json;

    /* Arguments: refused before anything is written. */
    CHECK_RC(sqlkeep_keygen(NULL, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "`out_path` is NULL"));
    CHECK_RC(sqlkeep_keygen(key, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`out_json` is NULL"));
    CHECK(!file_exists(key));
    CHECK_RC(sqlkeep_keygen("key\xff.txt", &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`out_path` is not valid UTF-8"));

    /* A new key: owner-only, in the age-keygen format, its public key in the JSON. */
    CHECK_RC(sqlkeep_keygen(key, &json), SQLKEEP_STATUS_OK);
    CHECK(strcmp(sqlkeep_last_error(), "") == 0);
    CHECK(file_mode(key) == 0600);
    char *public_key = json_string_field(json, "public_key");
    char *path = json_string_field(json, "path");
    char *warning = json_string_field(json, "warning");
    CHECK(public_key != NULL && strncmp(public_key, "age1", 4) == 0 && strlen(public_key) == 62);
    CHECK(path != NULL && strcmp(path, key) == 0);
    CHECK(contains(warning, "keep a copy of this key file"));
    sqlkeep_string_free(json);
    {
        char text[512];
        read_head(key, text, sizeof text - 1);
        CHECK(contains(text, "AGE-SECRET-KEY-1"));
        CHECK(public_key && contains(text, public_key));
    }
    /* A key file is never overwritten. */
    json = (char *)&json;
    CHECK_RC(sqlkeep_keygen(key, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "already exists"));
    CHECK(file_mode(key) == 0600);

    /* Backups encrypted to it: an age file, verified and restored with the key. */
    char extra[1024];
    snprintf(extra, sizeof extra,
             "\"encryption\": {\"recipients\": [\"%s\"], \"identity_file\": \"%s\"}",
             public_key ? public_key : "?", key);
    sqlkeep *k = open_fresh("encryption", extra);
    char *config = NULL;
    CHECK_RC(sqlkeep_configure(k, "{}", &config), SQLKEEP_STATUS_OK);
    CHECK(contains(config, "\"encryption\":{"));
    CHECK(contains(config, key));
    sqlkeep_string_free(config);

    CHECK_RC(sqlkeep_backup(k, NULL, "encrypted", &json), SQLKEEP_STATUS_OK);
    char *id = json_string_field(json, "id");
    char *file = json_string_field(json, "file");
    CHECK(ends_with(file, ".sqlite3.gz.age"));
    CHECK(contains(json, "\"requires\":[\"age\"]"));
    CHECK(contains(json, "\"format\":\"age\""));
    CHECK(public_key && contains(json, public_key));
    CHECK(!contains(json, "AGE-SECRET-KEY"));
    sqlkeep_string_free(json);
    char *data = scratch_path("encryption/backups/%s", file ? file : "?");
    {
        char head[32];
        read_head(data, head, sizeof head - 1);
        CHECK(strncmp(head, "age-encryption.org/v1", 21) == 0);
    }

    CHECK_RC(sqlkeep_verify(k, id, 1, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"ok\":true"));
    CHECK(contains(json, "age ok"));
    CHECK(contains(json, "integrity_check ok"));
    sqlkeep_string_free(json);

    char *target = scratch_path("encryption/restored.db");
    char *source = scratch_path("encryption/app.db");
    CHECK_RC(sqlkeep_restore(k, id, target, &json), SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);
    CHECK(is_sqlite_file(target));
    /* A rollback-journal database is copied page for page: the restored file is the
     * source, byte for byte. */
    CHECK(same_bytes(target, source));

    /* A bad `encryption` value is a configuration error naming the key. */
    sqlkeep *bad = (sqlkeep *)&bad;
    CHECK_RC(sqlkeep_open("{\"database\": \"a.db\", \"encryption\": {\"recipients\": []}}", &bad),
             SQLKEEP_STATUS_CONFIG);
    CHECK(bad == NULL);
    CHECK(contains(sqlkeep_last_error(), "encryption.recipients"));
    CHECK_RC(sqlkeep_configure(k, "{\"encryption\": {\"passphrase\": \"hunter2\"}}", &json),
             SQLKEEP_STATUS_CONFIG);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "encryption.passphrase"));
    CHECK(!contains(sqlkeep_last_error(), "hunter2"));

    /* A key file other users can read is refused: the key status, nothing judged, and
     * nothing restored. */
    CHECK(chmod(key, 0644) == 0);
    json = (char *)&json;
    CHECK_RC(sqlkeep_verify(k, id, 1, &json), SQLKEEP_STATUS_KEY);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "encryption.identity_file"));
    char *second = scratch_path("encryption/second.db");
    CHECK_RC(sqlkeep_restore(k, id, second, &json), SQLKEEP_STATUS_KEY);
    CHECK(json == NULL);
    CHECK(!file_exists(second));
    CHECK(chmod(key, 0600) == 0);
    CHECK_RC(sqlkeep_verify(k, id, 1, &json), SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);

    sqlkeep_close(k);
    free(second);
    free(source);
    free(target);
    free(data);
    free(file);
    free(id);
    free(warning);
    free(path);
    free(public_key);
    free(key);
}

/* ------------------------------------------------------------ offsite copies -- */

/* The configuration entry `"remotes": [...]` with one remote `name`, the scratch folder
 * `folder` (created), as an absolute `file://` URL. The caller frees it. */
static char *folder_remotes(const char *name, const char *folder) {
    char *dir = scratch_path("%s", folder);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s\n", dir);
        exit(2);
    }
    char cwd[4096] = "";
    if (dir[0] != '/' && getcwd(cwd, sizeof cwd - 1) != NULL) strcat(cwd, "/");
    size_t n = strlen(cwd) + strlen(dir) + strlen(name) + 64;
    char *extra = malloc(n);
    snprintf(extra, n, "\"remotes\": [{\"name\": \"%s\", \"url\": \"file://%s%s\"}]", name,
             cwd, dir);
    free(dir);
    return extra;
}

/* Whether a JSON text holds a manifest whose id is exactly `id` (ids taken in the same
 * second differ only by a suffix: app-...-manual, app-...-manual-2). */
static int lists_id(const char *json, const char *id) {
    char pattern[256];
    snprintf(pattern, sizeof pattern, "\"id\":\"%s\"", id ? id : "?");
    return id != NULL && contains(json, pattern);
}

/* Offsite copies to a `file://` remote: every backup is copied as it is made, then
 * listed, verified and restored from there, pushed again (nothing to do), repaired after
 * damage, and deleted there with the local backup. */
static void test_offsite(void) {
    begin("offsite");
    char *json = (char *)&json;

    /* A bad `remotes` entry is a configuration error naming its key, at open and at
     * configure. */
    sqlkeep *bad = (sqlkeep *)&bad;
    CHECK_RC(sqlkeep_open("{\"database\": \"a.db\", "
                          "\"remotes\": [{\"name\": \"nas\", \"url\": \"ftp://x/y\"}]}",
                          &bad),
             SQLKEEP_STATUS_CONFIG);
    CHECK(bad == NULL);
    CHECK(contains(sqlkeep_last_error(), "remotes[0].url"));
    CHECK(contains(sqlkeep_last_error(), "ftp"));

    char *extra = folder_remotes("nas", "offsite-nas");
    sqlkeep *k = open_fresh("offsite", extra);
    free(extra);
    CHECK_RC(sqlkeep_configure(k, "{\"remotes\": [{\"name\": \"nas\", \"url\": \"ftp://x/y\"}]}",
                               &json),
             SQLKEEP_STATUS_CONFIG);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "remotes[0].url"));
    CHECK_RC(sqlkeep_configure(k, "{}", &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"remotes\":[{"));
    CHECK(contains(json, "\"url\":\"file:///"));
    sqlkeep_string_free(json);

    recorder r;
    recorder_init(&r);
    CHECK_RC(sqlkeep_set_event_callback(k, record_event, &r), SQLKEEP_STATUS_OK);

    /* A backup is copied to the remote as soon as it is made. */
    CHECK_RC(sqlkeep_backup(k, NULL, "offsite", &json), SQLKEEP_STATUS_OK);
    char *id = json_string_field(json, "id");
    char *file = json_string_field(json, "file");
    sqlkeep_string_free(json);
    CHECK(id != NULL && file != NULL);
    CHECK(recorder_saw(&r, "offsite_copied"));
    CHECK(!recorder_saw(&r, "offsite_failed"));
    char *copy = scratch_path("offsite-nas/%s", file ? file : "?");
    char *copy_manifest = scratch_path("offsite-nas/%s.json", id ? id : "?");
    char *local = scratch_path("offsite/backups/%s", file ? file : "?");
    CHECK(file_exists(copy));
    CHECK(file_exists(copy_manifest));
    CHECK(same_bytes(copy, local));

    /* Listed from the remote: the manifests, the shape of sqlkeep_list's. */
    CHECK_RC(sqlkeep_list_remote(k, "nas", &json), SQLKEEP_STATUS_OK);
    CHECK(json != NULL && json[0] == '[');
    CHECK(count_occurrences(json, "\"format\":1") == 1);
    CHECK(lists_id(json, id));
    CHECK(contains(json, "\"label\":\"offsite\""));
    sqlkeep_string_free(json);

    /* Verified there, quick and full. */
    CHECK_RC(sqlkeep_verify_remote(k, "nas", id, 0, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"ok\":true"));
    CHECK(contains(json, "\"level\":\"quick\""));
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_verify_remote(k, "nas", id, 1, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"ok\":true"));
    CHECK(contains(json, "\"level\":\"full\""));
    CHECK(contains(json, "remote nas:"));
    CHECK(contains(json, "integrity_check ok"));
    sqlkeep_string_free(json);

    /* Restored from there into a new file: the database, byte for byte (a
     * rollback-journal database is copied page for page). */
    char *target = scratch_path("offsite/from-nas.db");
    char *source = scratch_path("offsite/app.db");
    CHECK_RC(sqlkeep_restore_remote(k, "nas", id, target, 0, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"safety_backup\":null"));
    CHECK(contains(json, target));
    sqlkeep_string_free(json);
    CHECK(is_sqlite_file(target));
    CHECK(same_bytes(target, source));
    /* The flags of sqlkeep_restore_with: never over an existing file without OVERWRITE. */
    json = (char *)&json;
    CHECK_RC(sqlkeep_restore_remote(k, "nas", id, target, 0, &json),
             SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "already exists"));
    CHECK_RC(sqlkeep_restore_remote(k, "nas", id, target,
                                    SQLKEEP_RESTORE_OVERWRITE | SQLKEEP_RESTORE_PARANOID, &json),
             SQLKEEP_STATUS_OK);
    CHECK(contains(json, target));
    sqlkeep_string_free(json);
    CHECK(is_sqlite_file(target));
    CHECK_RC(sqlkeep_restore_remote(k, "nas", id, target, 4, &json),
             SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`flags` is 4"));

    /* A push finds nothing to do: every backup is there already. */
    CHECK_RC(sqlkeep_push(k, NULL, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "[{\"remote\":\"nas\",\"copied\":[],\"copied_bytes\":0,"));
    CHECK(contains(json, "\"missing\":0"));
    CHECK(contains(json, "\"error\":null"));
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_push(k, "nas", &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"copied\":[]"));
    CHECK(count_occurrences(json, "\"remote\":") == 1);
    sqlkeep_string_free(json);

    /* What this machine knows of the remote, without asking it. */
    CHECK_RC(sqlkeep_scheduler_status(k, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"offsite\":[{\"remote\":\"nas\""));
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_stats(k, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"offsite\":[{\"remote\":\"nas\""));
    sqlkeep_string_free(json);

    /* An unknown remote: not found, the message naming the configured ones. */
    json = (char *)&json;
    CHECK_RC(sqlkeep_list_remote(k, "usb", &json), SQLKEEP_STATUS_NOT_FOUND);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "\"usb\""));
    CHECK(contains(sqlkeep_last_error(), "nas"));
    CHECK_RC(sqlkeep_push(k, "usb", &json), SQLKEEP_STATUS_NOT_FOUND);
    CHECK(json == NULL);
    CHECK_RC(sqlkeep_verify_remote(k, "usb", id, 1, &json), SQLKEEP_STATUS_NOT_FOUND);
    CHECK(json == NULL);
    char *elsewhere = scratch_path("offsite/from-usb.db");
    CHECK_RC(sqlkeep_restore_remote(k, "usb", id, elsewhere, 0, &json), SQLKEEP_STATUS_NOT_FOUND);
    CHECK(!file_exists(elsewhere));
    /* A backup the remote does not hold. */
    CHECK_RC(sqlkeep_verify_remote(k, "nas", "app-20990101T000000Z-manual", 1, &json),
             SQLKEEP_STATUS_NOT_FOUND);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "no backup app-20990101T000000Z-manual on remote `nas`"));
    CHECK_RC(sqlkeep_restore_remote(k, "nas", "app-20990101T000000Z-manual", elsewhere, 0, &json),
             SQLKEEP_STATUS_NOT_FOUND);
    CHECK(!file_exists(elsewhere));

    /* NULL pointers and invalid UTF-8. */
    json = (char *)&json;
    CHECK_RC(sqlkeep_push(k, NULL, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`out_json` is NULL"));
    CHECK_RC(sqlkeep_push(k, "n\xff", &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "`remote_or_null` is not valid UTF-8"));
    CHECK_RC(sqlkeep_list_remote(k, NULL, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`remote` is NULL"));
    CHECK_RC(sqlkeep_list_remote(k, "\xc3", &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`remote` is not valid UTF-8"));
    CHECK_RC(sqlkeep_list_remote(k, "nas", NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_verify_remote(k, NULL, id, 1, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`remote` is NULL"));
    CHECK_RC(sqlkeep_verify_remote(k, "nas", NULL, 1, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`id` is NULL"));
    CHECK_RC(sqlkeep_verify_remote(k, "nas", "\xfe", 1, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`id` is not valid UTF-8"));
    CHECK_RC(sqlkeep_verify_remote(k, "nas", id, 1, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_restore_remote(k, NULL, id, elsewhere, 0, &json),
             SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_restore_remote(k, "nas", NULL, elsewhere, 0, &json),
             SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_restore_remote(k, "nas", id, "\xff.db", 0, &json),
             SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`to_path_or_null` is not valid UTF-8"));
    CHECK_RC(sqlkeep_restore_remote(k, "nas", id, elsewhere, 0, NULL),
             SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_delete_with(k, NULL, 1, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(sqlkeep_last_error(), "`id` is NULL"));
    CHECK_RC(sqlkeep_delete_with(k, "\xff", 1, &json), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK_RC(sqlkeep_delete_with(k, id, 1, NULL), SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(json == NULL);
    CHECK(!file_exists(elsewhere));
    CHECK(file_exists(local) && file_exists(copy)); /* nothing deleted by the refusals */

    /* A damaged copy: the check says so (the corrupt status with the result) and takes
     * it out of the remote's index; the next push uploads it again. */
    FILE *f = fopen(copy, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, size / 2, SEEK_SET);
        fputs("XXXXXXXX", f);
        fclose(f);
    }
    CHECK_RC(sqlkeep_verify_remote(k, "nas", id, 0, &json), SQLKEEP_STATUS_CORRUPT);
    CHECK(contains(json, "\"ok\":false"));
    CHECK(contains(sqlkeep_last_error(), "on remote `nas` failed quick verification"));
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_list_remote(k, "nas", &json), SQLKEEP_STATUS_OK);
    CHECK(json != NULL && strcmp(json, "[]") == 0);
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_push(k, "nas", &json), SQLKEEP_STATUS_OK);
    CHECK(id && contains(json, id));
    CHECK(!contains(json, "\"copied\":[]"));
    CHECK(contains(json, "\"error\":null"));
    sqlkeep_string_free(json);
    CHECK(same_bytes(copy, local));
    CHECK_RC(sqlkeep_verify_remote(k, "nas", id, 1, &json), SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);

    /* Deleting without the remote copies keeps them; with them, they go too. */
    CHECK_RC(sqlkeep_backup(k, NULL, "second", &json), SQLKEEP_STATUS_OK);
    char *second = json_string_field(json, "id");
    char *second_file = json_string_field(json, "file");
    sqlkeep_string_free(json);
    char *second_copy = scratch_path("offsite-nas/%s", second_file ? second_file : "?");
    CHECK(file_exists(second_copy));
    CHECK_RC(sqlkeep_delete_with(k, second, 0, &json), SQLKEEP_STATUS_OK);
    CHECK(lists_id(json, second));
    CHECK(contains(json, "\"label\":\"second\""));
    sqlkeep_string_free(json);
    CHECK(file_exists(second_copy));
    CHECK_RC(sqlkeep_list_remote(k, "nas", &json), SQLKEEP_STATUS_OK);
    CHECK(lists_id(json, second));
    sqlkeep_string_free(json);

    CHECK_RC(sqlkeep_delete_with(k, id, 1, &json), SQLKEEP_STATUS_OK);
    CHECK(lists_id(json, id));
    sqlkeep_string_free(json);
    CHECK(!file_exists(local));
    CHECK(!file_exists(copy));
    CHECK(!file_exists(copy_manifest));
    CHECK(recorder_saw(&r, "offsite_deleted"));
    CHECK_RC(sqlkeep_list_remote(k, "nas", &json), SQLKEEP_STATUS_OK);
    CHECK(id && !lists_id(json, id));
    CHECK(lists_id(json, second));
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_list(k, &json), SQLKEEP_STATUS_OK);
    CHECK(json != NULL && strcmp(json, "[]") == 0);
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_delete_with(k, id, 1, &json), SQLKEEP_STATUS_NOT_FOUND);

    /* A keeper with only the configuration (a new machine): lists and restores from
     * the remote. */
    extra = folder_remotes("nas", "offsite-nas");
    sqlkeep *fresh = open_fresh("offsite-new-machine", extra);
    free(extra);
    CHECK_RC(sqlkeep_list(fresh, &json), SQLKEEP_STATUS_OK);
    CHECK(json != NULL && strcmp(json, "[]") == 0);
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_list_remote(fresh, "nas", &json), SQLKEEP_STATUS_OK);
    CHECK(lists_id(json, second));
    sqlkeep_string_free(json);
    char *second_target = scratch_path("offsite-new-machine/second.db");
    CHECK_RC(sqlkeep_restore_remote(fresh, "nas", second, second_target, 0, &json),
             SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);
    CHECK(same_bytes(second_target, source));
    sqlkeep_close(fresh);

    sqlkeep_close(k);
    recorder_destroy(&r);
    free(second_target);
    free(second_copy);
    free(second_file);
    free(second);
    free(elsewhere);
    free(source);
    free(target);
    free(local);
    free(copy_manifest);
    free(copy);
    free(file);
    free(id);
}

/* A remote that refuses: its index cannot be opened (a symbolic link to itself, which
 * even root cannot read). The remote status, and a push that reports it without
 * failing. */
static void test_offsite_unreachable(void) {
    begin("offsite_unreachable");
    CHECK(SQLKEEP_STATUS_REMOTE == -50);
    char *extra = folder_remotes("nas", "offsite-broken-nas");
    char *index = scratch_path("offsite-broken-nas/sqlkeep-index.json");
    CHECK(symlink("sqlkeep-index.json", index) == 0);
    sqlkeep *k = open_fresh("offsite-broken", extra);
    free(extra);
    recorder r;
    recorder_init(&r);
    CHECK_RC(sqlkeep_set_event_callback(k, record_event, &r), SQLKEEP_STATUS_OK);
    char *json = (char *)&json;

    /* The backup stands; the copy fails as an event. */
    char *id = backup_id(k, NULL, NULL);
    CHECK(id != NULL);
    CHECK(recorder_saw(&r, "offsite_failed"));
    CHECK(!recorder_saw(&r, "offsite_copied"));

    CHECK_RC(sqlkeep_list_remote(k, "nas", &json), SQLKEEP_STATUS_REMOTE);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "remote `nas`"));
    CHECK_RC(sqlkeep_verify_remote(k, "nas", id, 1, &json), SQLKEEP_STATUS_REMOTE);
    CHECK(json == NULL);
    CHECK_RC(sqlkeep_push(k, NULL, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"remote\":\"nas\""));
    CHECK(contains(json, "\"missing\":1"));
    CHECK(!contains(json, "\"error\":null"));
    CHECK(contains(json, "remote `nas`"));
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_scheduler_status(k, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"missing\":1"));
    sqlkeep_string_free(json);

    /* Deleting with the remote copies: the remote refuses, so the local backup stays
     * and the same call succeeds once the remote answers. */
    CHECK_RC(sqlkeep_delete_with(k, id, 1, &json), SQLKEEP_STATUS_REMOTE);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "remote `nas`"));
    CHECK_RC(sqlkeep_list(k, &json), SQLKEEP_STATUS_OK);
    CHECK(lists_id(json, id));
    sqlkeep_string_free(json);
    CHECK(unlink(index) == 0);
    CHECK_RC(sqlkeep_delete_with(k, id, 1, &json), SQLKEEP_STATUS_OK);
    CHECK(lists_id(json, id));
    sqlkeep_string_free(json);
    CHECK_RC(sqlkeep_list(k, &json), SQLKEEP_STATUS_OK);
    CHECK(json != NULL && strcmp(json, "[]") == 0);
    sqlkeep_string_free(json);

    sqlkeep_close(k);
    recorder_destroy(&r);
    free(id);
    free(index);
}

/* A second recorder that must stop receiving events once replaced. */
static void test_event_callbacks(void) {
    begin("event_callbacks");
    sqlkeep *k = open_fresh("events", NULL);
    recorder first, second;
    recorder_init(&first);
    recorder_init(&second);
    char *json = NULL;

    CHECK_RC(sqlkeep_set_event_callback(k, record_event, &first), SQLKEEP_STATUS_OK);
    CHECK_RC(sqlkeep_backup(k, NULL, "with events", &json), SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);
    CHECK(recorder_saw(&first, "backup_started"));
    CHECK(recorder_saw(&first, "backup_succeeded"));
    int first_count = recorder_count(&first);

    /* Replacing: the first recorder hears nothing more and may be freed. */
    CHECK_RC(sqlkeep_set_event_callback(k, record_event, &second), SQLKEEP_STATUS_OK);
    CHECK_RC(sqlkeep_rotate(k, 1, &json), SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);
    CHECK(recorder_count(&first) == first_count);
    CHECK(recorder_saw(&second, "rotation_finished"));
    CHECK(!recorder_saw(&second, "backup_started"));

    /* Verification and restore events. */
    char *id = backup_id(k, NULL, NULL);
    CHECK_RC(sqlkeep_verify(k, id, 1, &json), SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);
    CHECK(recorder_saw(&second, "verify_finished"));
    char *target = scratch_path("events/restored.db");
    CHECK_RC(sqlkeep_restore(k, id, target, &json), SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);
    CHECK(recorder_saw(&second, "restore_finished"));

    /* Removing. */
    CHECK_RC(sqlkeep_set_event_callback(k, NULL, NULL), SQLKEEP_STATUS_OK);
    int second_count = recorder_count(&second);
    CHECK_RC(sqlkeep_backup(k, NULL, NULL, &json), SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);
    CHECK(recorder_count(&second) == second_count);
    /* Removing twice is fine. */
    CHECK_RC(sqlkeep_set_event_callback(k, NULL, NULL), SQLKEEP_STATUS_OK);

    free(target);
    free(id);
    sqlkeep_close(k);
    recorder_destroy(&first);
    recorder_destroy(&second);
}

/* A callback that unregisters itself from inside the call: must not wait for itself. */
typedef struct {
    sqlkeep *k;
    int calls;
    int rc;
} self_removing;

static void remove_myself(const char *event_json, void *user) {
    (void)event_json;
    self_removing *s = user;
    s->calls++;
    s->rc = sqlkeep_set_event_callback(s->k, NULL, NULL);
}

static void test_callback_replaced_from_inside(void) {
    begin("callback_replaced_from_inside");
    sqlkeep *k = open_fresh("reentrant", NULL);
    self_removing s = {k, 0, -100};
    char *json = NULL;
    CHECK_RC(sqlkeep_set_event_callback(k, remove_myself, &s), SQLKEEP_STATUS_OK);
    CHECK_RC(sqlkeep_backup(k, NULL, NULL, &json), SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);
    CHECK(s.calls == 1); /* removed after backup_started */
    CHECK_RC(s.rc, SQLKEEP_STATUS_OK);
    sqlkeep_close(k);
}

/* Cancelling from inside the event callback, as a UI's Cancel button would from its own
 * thread: the backup returns SQLKEEP_STATUS_CANCELLED and leaves no backup. */
typedef struct {
    sqlkeep *k;
    int cancelled;
    int rc;
    int saw_cancelled_event;
} canceller;

static void cancel_on_start(const char *event_json, void *user) {
    canceller *c = user;
    if (contains(event_json, "\"type\":\"backup_started\"")) {
        c->rc = sqlkeep_cancel(c->k, &c->cancelled);
    }
    if (contains(event_json, "\"type\":\"backup_cancelled\"")) {
        c->saw_cancelled_event = 1;
    }
}

static void test_cancel(void) {
    begin("cancel");
    sqlkeep *k = open_fresh("cancel", NULL);
    int was = -1;
    CHECK_RC(sqlkeep_cancel(k, &was), SQLKEEP_STATUS_OK);
    CHECK(was == 0);
    CHECK_RC(sqlkeep_cancel(k, NULL), SQLKEEP_STATUS_OK);
    CHECK_RC(sqlkeep_cancel(NULL, &was), SQLKEEP_STATUS_INVALID_ARGUMENT);
    canceller c = {k, -1, -100, 0};
    char *json = NULL;
    CHECK_RC(sqlkeep_set_event_callback(k, cancel_on_start, &c), SQLKEEP_STATUS_OK);
    CHECK_RC(sqlkeep_backup(k, NULL, NULL, &json), SQLKEEP_STATUS_CANCELLED);
    CHECK(json == NULL);
    CHECK(contains(sqlkeep_last_error(), "cancelled"));
    CHECK_RC(c.rc, SQLKEEP_STATUS_OK);
    CHECK(c.cancelled == 1);
    CHECK(c.saw_cancelled_event);
    CHECK_RC(sqlkeep_set_event_callback(k, NULL, NULL), SQLKEEP_STATUS_OK);
    CHECK_RC(sqlkeep_list(k, &json), SQLKEEP_STATUS_OK);
    CHECK(strcmp(json, "[]") == 0);
    sqlkeep_string_free(json);
    /* The next backup is not affected. */
    CHECK_RC(sqlkeep_backup(k, NULL, NULL, &json), SQLKEEP_STATUS_OK);
    sqlkeep_string_free(json);
    sqlkeep_close(k);
}

static void test_scheduler(void) {
    begin("scheduler");
    /* The daily 02:00 slot has passed today or yesterday and has no backup: catch-up
     * takes one as soon as the scheduler starts. */
    sqlkeep *k = open_fresh("scheduler", "\"schedule\": \"02:00\", \"catch_up\": true");
    recorder r;
    recorder_init(&r);
    char *json = NULL;
    CHECK_RC(sqlkeep_set_event_callback(k, record_event, &r), SQLKEEP_STATUS_OK);

    CHECK_RC(sqlkeep_scheduler_status(k, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"running\":false"));
    CHECK(contains(json, "\"next_run\":\""));
    CHECK(contains(json, "\"last_outcome\":null"));
    sqlkeep_string_free(json);

    CHECK_RC(sqlkeep_scheduler_start(k), SQLKEEP_STATUS_OK);
    CHECK_RC(sqlkeep_scheduler_start(k), SQLKEEP_STATUS_OK); /* already running: no-op */
    CHECK(recorder_saw(&r, "scheduler_started"));
    CHECK_RC(sqlkeep_scheduler_status(k, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"running\":true"));
    sqlkeep_string_free(json);

    CHECK(wait_for_scheduled_backup(&r, 300));
    CHECK_RC(sqlkeep_scheduler_stop(k), SQLKEEP_STATUS_OK);
    CHECK(recorder_saw(&r, "scheduler_stopped"));
    CHECK_RC(sqlkeep_scheduler_stop(k), SQLKEEP_STATUS_OK); /* not running: no-op */

    CHECK_RC(sqlkeep_scheduler_status(k, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"running\":false"));
    CHECK(contains(json, "\"last_outcome\":\"ok\""));
    CHECK(contains(json, "-scheduled\""));
    sqlkeep_string_free(json);

    CHECK_RC(sqlkeep_list(k, &json), SQLKEEP_STATUS_OK);
    CHECK(contains(json, "\"kind\":\"scheduled\""));
    sqlkeep_string_free(json);

    /* Restart, then close while it runs: close stops it (valgrind sees the thread end
     * and every allocation freed). */
    CHECK_RC(sqlkeep_scheduler_start(k), SQLKEEP_STATUS_OK);
    sqlkeep_close(k);
    recorder_destroy(&r);
}

/* ------------------------------------------------------------------ threads -- */

typedef struct {
    sqlkeep *k;
    int index;
    int failures;
    char message[512];
} worker;

static void *work(void *arg) {
    worker *w = arg;
    char label[32];
    snprintf(label, sizeof label, "thread %d", w->index);
    for (int round = 0; round < 2; round++) {
        char *json = NULL;
        int rc = sqlkeep_backup(w->k, NULL, label, &json);
        char *id = json_string_field(json, "id");
        sqlkeep_string_free(json);
        if (rc != SQLKEEP_STATUS_OK || id == NULL) {
            snprintf(w->message, sizeof w->message, "backup: %d %s", rc, sqlkeep_last_error());
            w->failures++;
            free(id);
            continue;
        }
        rc = sqlkeep_verify(w->k, id, round, &json);
        sqlkeep_string_free(json);
        if (rc != SQLKEEP_STATUS_OK) {
            snprintf(w->message, sizeof w->message, "verify: %d %s", rc, sqlkeep_last_error());
            w->failures++;
        }
        free(id);
        rc = sqlkeep_list(w->k, &json);
        sqlkeep_string_free(json);
        if (rc != SQLKEEP_STATUS_OK) w->failures++;
        rc = sqlkeep_stats(w->k, &json);
        sqlkeep_string_free(json);
        if (rc != SQLKEEP_STATUS_OK) w->failures++;
        rc = sqlkeep_configure(w->k, w->index % 2 ? "{\"compression_level\": 5}"
                                                  : "{\"compression_level\": 7}",
                               &json);
        sqlkeep_string_free(json);
        if (rc != SQLKEEP_STATUS_OK) w->failures++;
        /* A failure on this thread leaves its own message, whatever other threads do. */
        rc = sqlkeep_history(w->k, -w->index - 1, 0, &json);
        char expected[64];
        snprintf(expected, sizeof expected, "`limit` is %d", -w->index - 1);
        if (rc != SQLKEEP_STATUS_INVALID_ARGUMENT || !contains(sqlkeep_last_error(), expected)) {
            snprintf(w->message, sizeof w->message, "last error of thread %d: %s", w->index,
                     sqlkeep_last_error());
            w->failures++;
        }
    }
    return NULL;
}

static void test_one_handle_many_threads(void) {
    begin("one_handle_many_threads");
    sqlkeep *k = open_fresh("threads", NULL);
    recorder r;
    recorder_init(&r);
    CHECK_RC(sqlkeep_set_event_callback(k, record_event, &r), SQLKEEP_STATUS_OK);
    enum { THREADS = 3 };
    pthread_t threads[THREADS];
    worker workers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (worker){k, i, 0, ""};
        CHECK(pthread_create(&threads[i], NULL, work, &workers[i]) == 0);
    }
    /* Meanwhile this thread swaps the callback back and forth. */
    for (int i = 0; i < 20; i++) {
        CHECK_RC(sqlkeep_set_event_callback(k, i % 2 ? record_event : NULL, &r),
                 SQLKEEP_STATUS_OK);
    }
    CHECK_RC(sqlkeep_set_event_callback(k, record_event, &r), SQLKEEP_STATUS_OK);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        if (workers[i].failures) fprintf(stderr, "    thread %d: %s\n", i, workers[i].message);
        CHECK(workers[i].failures == 0);
    }
    char *json = NULL;
    CHECK_RC(sqlkeep_list(k, &json), SQLKEEP_STATUS_OK);
    CHECK(count_occurrences(json, "\"format\":1") == 2 * THREADS);
    sqlkeep_string_free(json);
    sqlkeep_close(k);
    recorder_destroy(&r);
}

int main(int argc, char **argv) {
    start_on_sample(argc, argv);

    test_version_and_last_error();
    test_open_arguments();
    test_null_handles();
    test_null_out_params();
    test_bad_arguments();
    test_failures_of_the_environment();
    test_backup_list_verify_restore_rotate();
    test_corrupt_backup();
    test_notify_test();
    test_diff();
    test_restore_table();
    test_configure();
    test_encryption();
    test_offsite();
    test_offsite_unreachable();
    test_event_callbacks();
    test_callback_replaced_from_inside();
    test_cancel();
    test_scheduler();
    test_one_handle_many_threads();

    return finish();
}
