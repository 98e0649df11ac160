// Tests of bindings/cpp/sqlkeep.hpp against the real library. Run by scripts/test-c
// (also under valgrind):
//
//     test_cpp SAMPLE_DB SCRATCH_DIR
//
// Ends with "N passed, N failed"; the exit status is 0 only when nothing failed.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <utility>

#include "sqlkeep.hpp"

namespace {

int passed = 0;
int failed = 0;

void check(bool ok, const char *what, int line) {
    if (ok) {
        passed++;
    } else {
        failed++;
        std::cerr << "FAIL test_cpp.cpp:" << line << ": " << what << "\n";
    }
}
#define CHECK(cond) check((cond), #cond, __LINE__)

std::string sample_db;
std::string scratch;

bool contains(const std::string &s, const std::string &part) {
    return s.find(part) != std::string::npos;
}

std::string field(const std::string &json, const std::string &key) {
    const std::string pattern = "\"" + key + "\":\"";
    auto start = json.find(pattern);
    if (start == std::string::npos) return "";
    start += pattern.size();
    return json.substr(start, json.find('"', start) - start);
}

// A copy of the sample database in its own folder; returns the configuration.
std::string fresh(const std::string &name) {
    const std::string dir = scratch + "/" + name;
    mkdir(dir.c_str(), 0700);
    std::ifstream in(sample_db, std::ios::binary);
    std::ofstream out(dir + "/app.db", std::ios::binary);
    out << in.rdbuf();
    return R"({"database": ")" + dir + R"(/app.db", "test_restore_every_days": 0})";
}

// The status of the exception `f` throws, or 0.
template <typename F>
int status_of(F f) {
    try {
        f();
    } catch (const sqlkeep_cpp::Error &e) {
        return e.code();
    }
    return 0;
}

void test_errors_carry_codes() {
    CHECK(!sqlkeep_cpp::version().empty());
    CHECK(status_of([] { sqlkeep_cpp::Keeper k("{\"database\": "); }) ==
          SQLKEEP_STATUS_INVALID_ARGUMENT);
    try {
        sqlkeep_cpp::Keeper k(R"({"database": "a.db", "compresion": "zstd"})");
        CHECK(false);
    } catch (const sqlkeep_cpp::Error &e) {
        CHECK(e.status() == sqlkeep_cpp::Status::config);
        CHECK(contains(e.what(), "did you mean `compression`"));
    }
    sqlkeep_cpp::Keeper k(fresh("cpp-errors"));
    CHECK(status_of([&] { k.verify("nope"); }) == SQLKEEP_STATUS_NOT_FOUND);
    CHECK(status_of([&] { k.backup("hourly"); }) == SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(status_of([&] { k.history(-1); }) == SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(status_of([&] { k.configure(R"({"schedule": "99:99"})"); }) == SQLKEEP_STATUS_CONFIG);
    CHECK(!k.cancel());  // nothing running
    k.close();
    k.close();  // idempotent
    CHECK(status_of([&] { k.list(); }) == SQLKEEP_STATUS_INVALID_ARGUMENT);
}

void test_results_and_a_damaged_backup() {
    sqlkeep_cpp::Keeper k(fresh("cpp-results"));
    const std::string m = k.backup("manual", std::string("labelled"));
    CHECK(contains(m, R"("label":"labelled")"));
    const std::string id = field(m, "id");
    CHECK(contains(k.list(), id));
    sqlkeep_cpp::Verification v = k.verify(id, false);
    CHECK(v.ok);
    CHECK(contains(v.json, R"("level":"quick")"));
    CHECK(contains(k.stats(), R"("count":1)"));
    CHECK(contains(k.health(), R"("verdict":"ok")"));
    CHECK(k.notify_test() == "[]");
    CHECK(contains(k.diff(id), R"("identical":true)"));
    CHECK(k.diff_rows(id, "notes") == "[]");
    CHECK(contains(k.history(), id));
    CHECK(contains(k.rotate(true), R"("dry_run":true)"));
    CHECK(contains(k.configure(R"({"compression": "none"})"), R"("compression":"none")"));
    const std::string to = scratch + "/cpp-results/copy.db";
    CHECK(contains(k.restore(id, to), "copy.db"));
    CHECK(contains(k.list(), "not repeated"));
    CHECK(contains(k.restore(id, scratch + "/cpp-results/paranoid.db", true), "paranoid.db"));
    CHECK(!contains(k.list(), "not repeated"));
    CHECK(contains(k.restore_table(id, "notes", "id <= 2"), R"("replaced":0,"added":0,"unchanged":2)"));
    CHECK(contains(k.restore_table(id, "notes", "", SQLKEEP_RESTORE_REPLACE_TABLE),
                   R"("added":2000,"unchanged":0,"removed":2000)"));

    // Damage the backup: verify returns a result with ok == false instead of throwing.
    {
        std::fstream f(scratch + "/cpp-results/backups/" + field(m, "file"),
                       std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(100);
        f << "damage!";
    }
    v = k.verify(id, true);
    CHECK(!v.ok);
    CHECK(contains(v.json, R"("ok":false)"));
    CHECK(status_of([&] { k.restore(id, std::nullopt); }) == SQLKEEP_STATUS_CORRUPT);
}

void test_events_survive_moves_and_exceptions() {
    std::atomic<int> events{0};
    sqlkeep_cpp::Keeper a(fresh("cpp-events"));
    a.on_event([&events](const std::string &e) {
        if (contains(e, R"("type":"backup_succeeded")")) events++;
    });
    a.backup();
    CHECK(events == 1);

    // The handler lives on the heap: moving the Keeper keeps it registered and valid.
    sqlkeep_cpp::Keeper b(std::move(a));
    b.backup();
    CHECK(events == 2);
    sqlkeep_cpp::Keeper c(fresh("cpp-events-2"));
    c = std::move(b);
    c.backup();
    CHECK(events == 3);

    // A throwing handler must not take the process down; the backup still succeeds.
    c.on_event([](const std::string &) { throw std::runtime_error("handler failed"); });
    CHECK(contains(c.backup(), R"("ok":true)"));

    c.on_event(nullptr);
    c.backup();
    CHECK(events == 3);

    // Scheduler through the wrapper; the destructor stops it.
    c.on_event([&events](const std::string &e) {
        if (contains(e, "scheduler_")) events++;
    });
    c.start_scheduler();
    CHECK(contains(c.scheduler_status(), R"("running":true)"));
    c.stop_scheduler();
    CHECK(events == 5);  // scheduler_started, scheduler_stopped
    c.start_scheduler();
}

void test_encryption() {
    const std::string key_path = scratch + "/cpp-key.txt";
    std::remove(key_path.c_str());
    const std::string key = sqlkeep_cpp::keygen(key_path);
    const std::string public_key = field(key, "public_key");
    CHECK(public_key.rfind("age1", 0) == 0);
    CHECK(contains(key, "warning"));
    // A key file is never overwritten.
    CHECK(status_of([&] { sqlkeep_cpp::keygen(key_path); }) == SQLKEEP_STATUS_INVALID_ARGUMENT);

    sqlkeep_cpp::Keeper k(fresh("cpp-encrypted"));
    k.configure(R"({"encryption": {"recipients": [")" + public_key +
                R"("], "identity_file": ")" + key_path + R"("}})");
    const std::string m = k.backup();
    CHECK(contains(field(m, "file"), ".sqlite3.gz.age"));
    CHECK(k.verify(field(m, "id"), true).ok);

    // Another key does not open it: a key error, with its own status.
    const std::string other = scratch + "/cpp-other-key.txt";
    std::remove(other.c_str());
    const std::string other_key = sqlkeep_cpp::keygen(other);
    k.configure(R"({"encryption": {"recipients": [")" + field(other_key, "public_key") +
                R"("], "identity_file": ")" + other + R"("}})");
    int status = 0;
    try {
        k.verify(field(m, "id"), true);
    } catch (const sqlkeep_cpp::Error &e) {
        status = e.code();
        CHECK(e.status() == sqlkeep_cpp::Status::key);
        CHECK(contains(e.what(), "encryption.identity_file"));
    }
    CHECK(status == SQLKEEP_STATUS_KEY);
}


bool exists(const std::string &path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

void test_offsite() {
    CHECK(static_cast<int>(sqlkeep_cpp::Status::remote) == SQLKEEP_STATUS_REMOTE);
    CHECK(static_cast<int>(sqlkeep_cpp::Status::cancelled) == SQLKEEP_STATUS_CANCELLED);
    // A bad remote: a configuration error naming its key.
    try {
        sqlkeep_cpp::Keeper bad(R"({"database": "a.db", "remotes": [{"name": "nas", "url": "ftp://x/y"}]})");
        CHECK(false);
    } catch (const sqlkeep_cpp::Error &e) {
        CHECK(e.status() == sqlkeep_cpp::Status::config);
        CHECK(contains(e.what(), "remotes[0].url"));
    }

    const std::string nas = scratch + "/cpp-nas";
    mkdir(nas.c_str(), 0700);
    char *abs = realpath(nas.c_str(), nullptr);
    CHECK(abs != nullptr);
    const std::string url = std::string("file://") + (abs ? abs : "/nonexistent");
    std::free(abs);
    std::string config = fresh("cpp-offsite");
    config.pop_back();  // the closing brace
    sqlkeep_cpp::Keeper k(config + R"(, "remotes": [{"name": "nas", "url": ")" + url + R"("}]})");

    const std::string m = k.backup("manual", std::string("offsite"));
    const std::string id = field(m, "id");
    const std::string copy = nas + "/" + field(m, "file");
    CHECK(exists(copy));
    CHECK(contains(k.list_remote("nas"), id));
    sqlkeep_cpp::Verification v = k.verify_remote("nas", id);
    CHECK(v.ok);
    CHECK(contains(v.json, "remote nas:"));
    CHECK(k.verify_remote("nas", id, false).ok);
    const std::string to = scratch + "/cpp-offsite/from-nas.db";
    CHECK(contains(k.restore_remote("nas", id, to), "from-nas.db"));
    CHECK(exists(to));
    CHECK(status_of([&] { k.restore_remote("nas", id, to); }) == SQLKEEP_STATUS_INVALID_ARGUMENT);
    CHECK(contains(k.restore_remote("nas", id, scratch + "/cpp-offsite/paranoid.db", true),
                   "paranoid.db"));
    CHECK(contains(k.push(), R"("copied":[])"));
    CHECK(contains(k.push(std::string("nas")), R"("error":null)"));
    CHECK(status_of([&] { k.list_remote("usb"); }) == SQLKEEP_STATUS_NOT_FOUND);
    CHECK(status_of([&] { k.push(std::string("usb")); }) == SQLKEEP_STATUS_NOT_FOUND);
    CHECK(status_of([&] { k.verify_remote("nas", "app-20990101T000000Z-manual"); }) ==
          SQLKEEP_STATUS_NOT_FOUND);

    // A damaged copy is a result, not an exception; a push puts it back.
    {
        std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(100);
        f << "damage!";
    }
    v = k.verify_remote("nas", id, false);
    CHECK(!v.ok);
    CHECK(contains(v.json, R"("ok":false)"));
    CHECK(contains(k.push(), id));
    CHECK(k.verify_remote("nas", id).ok);

    CHECK(contains(k.delete_with(id, true), id));
    CHECK(!exists(copy));
    CHECK(k.list_remote("nas") == "[]");
    CHECK(k.list() == "[]");
    CHECK(status_of([&] { k.delete_with(id, true); }) == SQLKEEP_STATUS_NOT_FOUND);
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 3) {
        std::cerr << "usage: " << argv[0] << " SAMPLE_DB SCRATCH_DIR\n";
        return 2;
    }
    sample_db = argv[1];
    scratch = argv[2];
    test_errors_carry_codes();
    test_results_and_a_damaged_backup();
    test_events_survive_moves_and_exceptions();
    test_encryption();
    test_offsite();
    std::cout << passed << " passed, " << failed << " failed" << std::endl;
    return failed == 0 ? 0 : 1;
}
