/*
 * backup_demo: sqlkeep from C. Backs up a SQLite database, lists, verifies and restores
 * the backup, plans a rotation and runs the scheduler for a moment, printing each event.
 *
 *     cc backup_demo.c -Iinclude -Ltarget/release -lsqlkeep -o backup_demo
 *     ./backup_demo app.db [restored.db]
 *
 * Backups go to `backups/` beside the database; the restored copy to RESTORED (default:
 * the database's path with ".restored" appended, replaced if it exists).
 *
 * Results come back as JSON text. A real program would read them with a JSON library
 * (cJSON, jansson, ...); to stay dependency-free this demo picks single fields with a
 * tiny helper.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sqlkeep.h"

/* The string value of `"key":"..."` in compact JSON, copied into `out`; "" if absent. */
static const char *field(const char *json, const char *key, char *out, size_t size) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *start = json ? strstr(json, pattern) : NULL;
    out[0] = '\0';
    if (start) {
        start += strlen(pattern);
        const char *end = strchr(start, '"');
        size_t n = end ? (size_t)(end - start) : 0;
        if (n >= size) n = size - 1;
        memcpy(out, start, n);
        out[n] = '\0';
    }
    return out;
}

/* Reports a failed call and ends the demo. */
static void fail(const char *what, int status) {
    fprintf(stderr, "backup_demo: %s failed with status %d: %s\n", what, status,
            sqlkeep_last_error());
    exit(1);
}

/* Events may arrive on sqlkeep's own threads (the scheduler's, a backup's workers), so
 * the callback serialises its output with a mutex. */
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_event(const char *event_json, void *user) {
    const char *prefix = user;
    char type[64], id[160];
    field(event_json, "type", type, sizeof type);
    if (strcmp(type, "progress") == 0) return; /* chatty; fine for a progress bar */
    field(event_json, "id", id, sizeof id);
    pthread_mutex_lock(&print_lock);
    printf("%s %s%s%s\n", prefix, type, id[0] ? " " : "", id);
    fflush(stdout);
    pthread_mutex_unlock(&print_lock);
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s DATABASE [RESTORED]\n", argv[0]);
        return 2;
    }
    const char *database = argv[1];
    char restored[4096];
    if (argc == 3) {
        snprintf(restored, sizeof restored, "%s", argv[2]);
    } else {
        snprintf(restored, sizeof restored, "%s.restored", database);
    }
    unlink(restored); /* restore never overwrites: start from a free path */

    printf("sqlkeep %s\n", sqlkeep_version());

    /* The configuration is JSON with the keys of every sqlkeep interface. Paths must be
     * escaped for JSON; these demo paths are plain. */
    char config[8192];
    snprintf(config, sizeof config,
             "{\"database\": \"%s\", \"schedule\": \"02:00\", \"catch_up\": true, "
             "\"retention\": {\"daily\": 7, \"weekly\": 4, \"monthly\": 6}}",
             database);
    sqlkeep *k = NULL;
    int rc = sqlkeep_open(config, &k);
    if (rc != SQLKEEP_STATUS_OK) fail("sqlkeep_open", rc);

    rc = sqlkeep_set_event_callback(k, on_event, "  event:");
    if (rc != SQLKEEP_STATUS_OK) fail("sqlkeep_set_event_callback", rc);

    /* 1. A backup with a label. */
    char *json = NULL;
    rc = sqlkeep_backup(k, "manual", "backup_demo (C)", &json);
    if (rc != SQLKEEP_STATUS_OK) fail("sqlkeep_backup", rc);
    char id[160], file[200];
    field(json, "id", id, sizeof id);
    field(json, "file", file, sizeof file);
    printf("backed up %s into %s\n", id, file);
    sqlkeep_string_free(json);

    /* 2. The backups, newest first. */
    rc = sqlkeep_list(k, &json);
    if (rc != SQLKEEP_STATUS_OK) fail("sqlkeep_list", rc);
    int count = 0;
    for (const char *p = json; (p = strstr(p, "\"format\":")) != NULL; p++) count++;
    printf("%d backup(s) in the backup directory\n", count);
    sqlkeep_string_free(json);

    /* 3. Full verification: decompress and run PRAGMA integrity_check. A damaged backup
     * returns SQLKEEP_STATUS_CORRUPT together with the result. */
    rc = sqlkeep_verify(k, id, 1, &json);
    char detail[512];
    field(json, "detail", detail, sizeof detail);
    if (rc == SQLKEEP_STATUS_CORRUPT) {
        printf("backup %s is damaged: %s\n", id, detail);
    } else if (rc != SQLKEEP_STATUS_OK) {
        fail("sqlkeep_verify", rc);
    } else {
        printf("verified %s: %s\n", id, detail);
    }
    sqlkeep_string_free(json);

    /* 4. Restore into a new file (NULL would replace the live database, after a
     * pre-restore safety backup). */
    rc = sqlkeep_restore(k, id, restored, &json);
    if (rc != SQLKEEP_STATUS_OK) fail("sqlkeep_restore", rc);
    char target[4096];
    printf("restored %s to %s\n", id, field(json, "target", target, sizeof target));
    sqlkeep_string_free(json);

    /* 5. What rotation would delete under the retention policy. */
    rc = sqlkeep_rotate(k, 1, &json);
    if (rc != SQLKEEP_STATUS_OK) fail("sqlkeep_rotate", rc);
    const char *deleted = strstr(json, "\"deleted\":[");
    printf("rotation plan (dry run): %s\n",
           deleted && strncmp(deleted, "\"deleted\":[]", 12) == 0 ? "nothing to delete"
                                                                  : "some backups would go");
    sqlkeep_string_free(json);

    /* 6. The scheduler: a background thread. Its first look at the schedule catches up
     * on today's 02:00 slot if no scheduled backup covers it yet. Wait for that look
     * (`last_slot` set), then stop. */
    rc = sqlkeep_scheduler_start(k);
    if (rc != SQLKEEP_STATUS_OK) fail("sqlkeep_scheduler_start", rc);
    printf("scheduler started\n");
    char last_slot[64] = "";
    for (int waited = 0; waited < 120000 && last_slot[0] == '\0'; waited += 50) {
        rc = sqlkeep_scheduler_status(k, &json);
        if (rc != SQLKEEP_STATUS_OK) fail("sqlkeep_scheduler_status", rc);
        field(json, "last_slot", last_slot, sizeof last_slot);
        sqlkeep_string_free(json);
        if (last_slot[0] == '\0') sleep_ms(50);
    }
    rc = sqlkeep_scheduler_status(k, &json);
    if (rc != SQLKEEP_STATUS_OK) fail("sqlkeep_scheduler_status", rc);
    char next_run[64];
    printf("scheduler handled the slot of %s; next run %s\n",
           last_slot[0] ? last_slot : "(none yet)", field(json, "next_run", next_run, sizeof next_run));
    sqlkeep_string_free(json);
    rc = sqlkeep_scheduler_stop(k);
    if (rc != SQLKEEP_STATUS_OK) fail("sqlkeep_scheduler_stop", rc);
    printf("scheduler stopped\n");

    /* 7. Done: close stops a running scheduler too, and frees everything. */
    sqlkeep_close(k);
    printf("done\n");
    return 0;
}
