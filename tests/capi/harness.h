/*
 * The test harness the C ABI test programs in tests/capi share (test_capi.c,
 * test_incremental.c, test_postgres.c, test_system_sqlite.c): the passed/failed counters,
 * CHECK and CHECK_RC, begin() and finish(), paths in the scratch directory, a handle on
 * a fresh copy of the sample database, and small file and string helpers.
 *
 * Each test program is one translation unit that includes this header once, after
 * defining _POSIX_C_SOURCE, so the counters and globals are `static` here and the
 * functions `static inline` (a program that does not use one compiles warning-free under
 * -Wall -Wextra -Werror). Found next to the including file; sqlkeep.h comes from include/.
 */
#ifndef SQLKEEP_TESTS_CAPI_HARNESS_H
#define SQLKEEP_TESTS_CAPI_HARNESS_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sqlkeep.h"

/* ---------------------------------------------------------------- test harness -- */

static int passed;
static int failed;
static const char *current_test = "";

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (cond) {                                                                   \
            passed++;                                                                 \
        } else {                                                                      \
            failed++;                                                                 \
            fprintf(stderr, "FAIL %s (%s:%d): %s\n    last error: %s\n", current_test, \
                    __FILE__, __LINE__, #cond, sqlkeep_last_error());                 \
        }                                                                             \
    } while (0)

/* Checks a status code, and on failure shows both codes and the message. */
#define CHECK_RC(rc, expected)                                                        \
    do {                                                                              \
        int rc_ = (rc);                                                               \
        if (rc_ == (expected)) {                                                      \
            passed++;                                                                 \
        } else {                                                                      \
            failed++;                                                                 \
            fprintf(stderr, "FAIL %s (%s:%d): %s returned %d, expected %s (%d)\n"     \
                            "    last error: %s\n",                                   \
                    current_test, __FILE__, __LINE__, #rc, rc_, #expected,            \
                    (int)(expected), sqlkeep_last_error());                           \
        }                                                                             \
    } while (0)

static inline void begin(const char *name) {
    current_test = name;
    printf("test %s\n", name);
    fflush(stdout);
}

/* Prints the "N passed, N failed" line scripts/test-c reads; returns the exit status
 * for main: 0 only when nothing failed. */
static inline int finish(void) {
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------- files -- */

/* Set by main: the sample database (only copied, never changed) and the scratch
 * directory the test may fill. */
static const char *sample_db;
static const char *scratch;

/* A path inside the scratch directory; the caller frees it. */
static inline char *scratch_path(const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    size_t n = strlen(scratch) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", scratch, name);
    return p;
}

static inline int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb");
    if (!in) return -1;
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return -1;
    }
    char buf[8192];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        if (fwrite(buf, 1, n, out) != n) rc = -1;
    }
    fclose(in);
    if (fclose(out) != 0) rc = -1;
    return rc;
}

static inline int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* A configuration for a copy of the sample database in its own folder `name`. */
static inline char *fresh_config(const char *name, const char *extra) {
    char *dir = scratch_path("%s", name);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s\n", dir);
        exit(2);
    }
    char *db = scratch_path("%s/app.db", name);
    if (copy_file(sample_db, db) != 0) {
        fprintf(stderr, "cannot copy %s to %s\n", sample_db, db);
        exit(2);
    }
    size_t n = strlen(db) + strlen(dir) + (extra ? strlen(extra) : 0) + 128;
    char *json = malloc(n);
    snprintf(json, n,
             "{\"database\": \"%s\", \"backup_dir\": \"%s/backups\", "
             "\"test_restore_every_days\": 0%s%s}",
             db, dir, extra ? ", " : "", extra ? extra : "");
    free(dir);
    free(db);
    return json;
}

/* A handle opened on the configuration `config`, which it frees; exits when
 * sqlkeep_open fails. */
static inline sqlkeep *open_config(char *config) {
    sqlkeep *k = NULL;
    int rc = sqlkeep_open(config, &k);
    if (rc != SQLKEEP_STATUS_OK) {
        fprintf(stderr, "cannot open %s: %d %s\n", config, rc, sqlkeep_last_error());
        exit(2);
    }
    free(config);
    return k;
}

/* A handle on a fresh copy of the sample database (see fresh_config). */
static inline sqlkeep *open_fresh(const char *name, const char *extra) {
    return open_config(fresh_config(name, extra));
}

/* The start of main in the tests on the sample database, run as
 * `PROGRAM SAMPLE_DB SCRATCH_DIR`: sets sample_db and scratch and prints the library's
 * version; exits 2 on another command line. */
static inline void start_on_sample(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SAMPLE_DB SCRATCH_DIR\n", argv[0]);
        exit(2);
    }
    sample_db = argv[1];
    scratch = argv[2];
    printf("sqlkeep %s\n", sqlkeep_version());
}

/* ----------------------------------------------------------------- strings -- */

static inline int contains(const char *haystack, const char *needle) {
    return haystack && strstr(haystack, needle) != NULL;
}

static inline int ends_with(const char *s, const char *suffix) {
    size_t n = s ? strlen(s) : 0, m = strlen(suffix);
    return s != NULL && n >= m && strcmp(s + n - m, suffix) == 0;
}

static inline int count_occurrences(const char *haystack, const char *needle) {
    int n = 0;
    for (const char *p = haystack; p && (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    return n;
}

/* The first JSON string field `key` ("key":"value") of a compact JSON text, as
 * serde_json writes it, copied into a new buffer; NULL when absent. The first
 * occurrence: top-level fields come before nested ones in a manifest. */
static inline char *json_string_field(const char *json, const char *key) {
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *start = json ? strstr(json, pattern) : NULL;
    if (!start) return NULL;
    start += strlen(pattern);
    const char *end = strchr(start, '"');
    if (!end) return NULL;
    char *out = malloc((size_t)(end - start) + 1);
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    return out;
}

#endif /* SQLKEEP_TESTS_CAPI_HARNESS_H */
