// sqlkeep.hpp: a small header-only C++17 wrapper over the C ABI in sqlkeep.h.
//
//     #include "sqlkeep.hpp"   // with -Iinclude -Ibindings/cpp, link -lsqlkeep
//
//     sqlkeep_cpp::Keeper keeper(R"({"database": "app.db"})");
//     std::string manifest = keeper.backup("manual", "before upgrade");
//
// The namespace is sqlkeep_cpp, not sqlkeep, because C++ cannot have a namespace and a
// type of the same name: sqlkeep.h names its handle type `sqlkeep`.
//
// - sqlkeep_cpp::Keeper owns one handle (closed by the destructor; movable, not copyable).
// - Every failure throws sqlkeep_cpp::Error, which carries the status code of sqlkeep.h
//   and the message of sqlkeep_last_error().
// - Results are std::string holding the JSON documented in sqlkeep.h; the C strings are
//   freed by the wrapper.
// - verify() and verify_remote() do not throw for a damaged backup: the check ran and its
//   result says `"ok": false` (the C function returns SQLKEEP_STATUS_CORRUPT with the same
//   JSON).
//
// Threads: like the C handle, one Keeper may be used from several threads at once,
// except that moving, destroying and on_event() must not race with other calls. Event
// callbacks run on sqlkeep's threads too (see sqlkeep_set_event_callback): the function
// given to on_event() must be thread-safe. An exception it throws is caught and dropped,
// since it must not cross into C.
#ifndef SQLKEEP_HPP
#define SQLKEEP_HPP

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "sqlkeep.h"

namespace sqlkeep_cpp {

/// The status codes of sqlkeep.h.
enum class Status : int {
    ok = SQLKEEP_STATUS_OK,
    invalid_argument = SQLKEEP_STATUS_INVALID_ARGUMENT,
    panic = SQLKEEP_STATUS_PANIC,
    other = SQLKEEP_STATUS_OTHER,
    config = SQLKEEP_STATUS_CONFIG,
    io = SQLKEEP_STATUS_IO,
    not_found = SQLKEEP_STATUS_NOT_FOUND,
    busy = SQLKEEP_STATUS_BUSY,
    sqlite = SQLKEEP_STATUS_SQLITE,
    corrupt = SQLKEEP_STATUS_CORRUPT,
    key = SQLKEEP_STATUS_KEY,
    remote = SQLKEEP_STATUS_REMOTE,
    cancelled = SQLKEEP_STATUS_CANCELLED,
    postgres = SQLKEEP_STATUS_POSTGRES,
};

/// A failed sqlkeep call: the status code and the message of sqlkeep_last_error().
class Error : public std::runtime_error {
public:
    Error(int code, const std::string &message) : std::runtime_error(message), code_(code) {}

    /// The raw code (a sqlkeep_status value; a newer library may return codes this
    /// header does not name).
    int code() const noexcept { return code_; }

    /// The code as an enum.
    Status status() const noexcept { return static_cast<Status>(code_); }

private:
    int code_;
};

/// The result of a verification.
struct Verification {
    /// Whether every check passed.
    bool ok;
    /// {"id", "ok", "level", "at", "detail"}, see sqlkeep_verify.
    std::string json;
};

namespace detail {

struct StringFree {
    void operator()(char *s) const noexcept { sqlkeep_string_free(s); }
};

/// Takes ownership of a string returned by sqlkeep.
inline std::string take(char *s) {
    std::unique_ptr<char, StringFree> owned(s);
    return s ? std::string(s) : std::string();
}

inline void check(int rc) {
    if (rc != SQLKEEP_STATUS_OK) throw Error(rc, sqlkeep_last_error());
}

/// A JSON result: frees the string on every path, then throws on failure.
inline std::string json_result(int rc, char *json) {
    std::string out = take(json);
    check(rc);
    return out;
}

inline const char *c_str_or_null(const std::optional<std::string> &s) {
    return s ? s->c_str() : nullptr;
}

/// The result of a check that ran (SQLKEEP_STATUS_CORRUPT with JSON is a damaged backup,
/// not an error); any other failure throws.
inline Verification verification(int rc, char *json) {
    std::string text = take(json);
    if (rc == SQLKEEP_STATUS_CORRUPT && !text.empty()) return Verification{false, text};
    check(rc);
    return Verification{true, text};
}

}  // namespace detail

/// The version of the loaded library.
inline std::string version() { return sqlkeep_version(); }

/// Makes a new encryption key file (see sqlkeep_keygen); returns {"path", "public_key",
/// "warning"} as JSON. Show the warning: a lost key means unreadable backups.
inline std::string keygen(const std::string &out_path) {
    char *json = nullptr;
    int rc = sqlkeep_keygen(out_path.c_str(), &json);
    return detail::json_result(rc, json);
}

/// Backups of one SQLite database: owns a sqlkeep handle.
class Keeper {
public:
    /// A function receiving each event as JSON (see sqlkeep_set_event_callback).
    using EventHandler = std::function<void(const std::string &event_json)>;

    /// Opens a keeper; `config_json` is a JSON object such as {"database": "app.db"}.
    explicit Keeper(const std::string &config_json) {
        sqlkeep *k = nullptr;
        detail::check(sqlkeep_open(config_json.c_str(), &k));
        k_ = k;
    }

    Keeper(const Keeper &) = delete;
    Keeper &operator=(const Keeper &) = delete;

    Keeper(Keeper &&other) noexcept
        : k_(std::exchange(other.k_, nullptr)), handler_(std::move(other.handler_)) {}

    Keeper &operator=(Keeper &&other) noexcept {
        if (this != &other) {
            close();
            k_ = std::exchange(other.k_, nullptr);
            handler_ = std::move(other.handler_);
        }
        return *this;
    }

    /// Stops the scheduler if it runs and closes the handle.
    ~Keeper() { close(); }

    /// Closes now (the destructor then does nothing). Idempotent.
    void close() noexcept {
        sqlkeep_close(std::exchange(k_, nullptr));
        // After sqlkeep_close no callback runs any more: the handler may go.
        handler_.reset();
    }

    /// Takes a backup now; returns its manifest. `kind` is "manual", "scheduled",
    /// "shutdown", "pre-restore" or "pre-operation". With "incremental" on, the backup
    /// stores only the changed pages unless `full` asks for a self-contained one
    /// (SQLKEEP_BACKUP_FULL).
    std::string backup(const std::string &kind = "manual",
                       const std::optional<std::string> &label = std::nullopt,
                       bool full = false) {
        char *json = nullptr;
        int rc = sqlkeep_backup_with(handle(), kind.c_str(), detail::c_str_or_null(label),
                                     full ? SQLKEEP_BACKUP_FULL : 0u, &json);
        return detail::json_result(rc, json);
    }

    /// Writes backup `id` (an incremental one included) as one self-contained file at the
    /// new path `to`, compressed as its name says (.gz or .zst); returns {"id", "path",
    /// "compression", "size_bytes", "raw_size_bytes", "sha256"}. An existing file or
    /// another name throws Status::invalid_argument, a damaged backup Status::corrupt.
    /// (Not `export`, which is a C++ keyword.)
    std::string export_to(const std::string &id, const std::string &to) {
        char *json = nullptr;
        int rc = sqlkeep_export(handle(), id.c_str(), to.c_str(), &json);
        return detail::json_result(rc, json);
    }

    /// The readable backups, newest first: a JSON array of manifests.
    std::string list() {
        char *json = nullptr;
        int rc = sqlkeep_list(handle(), &json);
        return detail::json_result(rc, json);
    }

    /// Checks a backup (full: also integrity_check). A damaged backup is a result with
    /// ok == false, not an exception; a missing one throws (Status::not_found).
    Verification verify(const std::string &id, bool full = true) {
        char *json = nullptr;
        int rc = sqlkeep_verify(handle(), id.c_str(), full ? 1 : 0, &json);
        return detail::verification(rc, json);
    }

    /// Restores backup `id` into a new file `to`, or into the live database when `to`
    /// is empty (after a pre-restore safety backup). `paranoid` runs integrity_check
    /// again even when the backup's recorded image hash proves the restored bytes passed it.
    std::string restore(const std::string &id, const std::optional<std::string> &to,
                        bool paranoid = false) {
        char *json = nullptr;
        int rc = sqlkeep_restore_with(handle(), id.c_str(), detail::c_str_or_null(to),
                                      paranoid ? SQLKEEP_RESTORE_PARANOID : 0u, &json);
        return detail::json_result(rc, json);
    }

    /// Restores from a backup file anywhere (`path`: the file or its .json manifest,
    /// which must lie beside it) into `to`, or into the live database when `to` is empty.
    std::string restore_file(const std::string &path, const std::optional<std::string> &to,
                             bool paranoid = false) {
        char *json = nullptr;
        int rc = sqlkeep_restore_file(handle(), path.c_str(), detail::c_str_or_null(to),
                                      paranoid ? SQLKEEP_RESTORE_PARANOID : 0u, &json);
        return detail::json_result(rc, json);
    }

    /// Brings back rows of `table` from backup `id` into the live database (those for
    /// which the SQL condition `where` holds; all when empty), merged by key, after a
    /// pre-restore safety backup, in one transaction. `flags`: 0 or
    /// SQLKEEP_RESTORE_REPLACE_TABLE | SQLKEEP_RESTORE_WITH_DEPENDENTS. JSON: `tables`
    /// (replaced, added, removed each), `safety_backup`.
    std::string restore_table(const std::string &id, const std::string &table,
                              const std::string &where = std::string(), unsigned flags = 0) {
        char *json = nullptr;
        int rc = sqlkeep_restore_table(handle(), id.c_str(), table.c_str(),
                                       where.empty() ? nullptr : where.c_str(), flags, &json);
        return detail::json_result(rc, json);
    }

    /// Deletes backup `id` (any kind), and with `remote_copies` its copy on every remote
    /// too; returns its manifest.
    std::string delete_with(const std::string &id, bool remote_copies) {
        char *json = nullptr;
        int rc = sqlkeep_delete_with(handle(), id.c_str(), remote_copies ? 1 : 0, &json);
        return detail::json_result(rc, json);
    }

    /// Copies to each remote (or only to `remote`) the backups it lacks and applies its
    /// retention there: a JSON array of {"remote", "copied", "copied_bytes", "deleted",
    /// "missing", "error"}. A failing remote is reported in its object, not thrown.
    std::string push(const std::optional<std::string> &remote = std::nullopt) {
        char *json = nullptr;
        int rc = sqlkeep_push(handle(), detail::c_str_or_null(remote), &json);
        return detail::json_result(rc, json);
    }

    /// The backups on remote `remote`, newest first: a JSON array of manifests.
    std::string list_remote(const std::string &remote) {
        char *json = nullptr;
        int rc = sqlkeep_list_remote(handle(), remote.c_str(), &json);
        return detail::json_result(rc, json);
    }

    /// Checks the copy of backup `id` on remote `remote`, as verify() checks a local one.
    /// A damaged copy is a result with ok == false (and is taken out of the remote's index
    /// so the next push uploads it again); an unknown remote or id throws
    /// (Status::not_found), an unreachable remote too (Status::remote).
    Verification verify_remote(const std::string &remote, const std::string &id,
                               bool full = true) {
        char *json = nullptr;
        int rc = sqlkeep_verify_remote(handle(), remote.c_str(), id.c_str(), full ? 1 : 0, &json);
        return detail::verification(rc, json);
    }

    /// Restores backup `id` from remote `remote` into a new file `to`, or into the live
    /// database when `to` is empty (after a pre-restore safety backup), as restore() does.
    std::string restore_remote(const std::string &remote, const std::string &id,
                               const std::optional<std::string> &to, bool paranoid = false) {
        char *json = nullptr;
        int rc = sqlkeep_restore_remote(handle(), remote.c_str(), id.c_str(),
                                        detail::c_str_or_null(to),
                                        paranoid ? SQLKEEP_RESTORE_PARANOID : 0u, &json);
        return detail::json_result(rc, json);
    }

    /// Applies the retention policy, or only plans it with `dry_run`.
    std::string rotate(bool dry_run) {
        char *json = nullptr;
        int rc = sqlkeep_rotate(handle(), dry_run ? 1 : 0, &json);
        return detail::json_result(rc, json);
    }

    /// Counts, sizes and times.
    std::string stats() {
        char *json = nullptr;
        int rc = sqlkeep_stats(handle(), &json);
        return detail::json_result(rc, json);
    }

    /// The health verdict as JSON: `verdict` (ok, warning, failing), `reasons`, `headline`.
    std::string health() {
        char *json = nullptr;
        int rc = sqlkeep_health(handle(), &json);
        return detail::json_result(rc, json);
    }

    /// What differs between backup `from` and backup `to` (the live database when
    /// empty), as JSON: `identical`, `user_version`, `tables` (added, removed, changed),
    /// `schema`.
    std::string diff(const std::string &from, const std::string &to = std::string()) {
        char *json = nullptr;
        int rc = sqlkeep_diff(handle(), from.c_str(), to.empty() ? nullptr : to.c_str(), &json);
        return detail::json_result(rc, json);
    }

    /// What restoring the backup file at `path` would change in the live database (the
    /// JSON of diff(), with its `restore_preview`).
    std::string diff_file(const std::string &path) {
        char *json = nullptr;
        int rc = sqlkeep_diff_file(handle(), path.c_str(), &json);
        return detail::json_result(rc, json);
    }

    /// The rows of `table` that differ between backup `from` and `to` (the live database
    /// when empty), as a JSON array of `change`, `key`, `from`, `to`.
    std::string diff_rows(const std::string &from, const std::string &table,
                          const std::string &to = std::string(), int limit = 50, int offset = 0) {
        char *json = nullptr;
        int rc = sqlkeep_diff_rows(handle(), from.c_str(), to.empty() ? nullptr : to.c_str(),
                                   table.c_str(), limit, offset, &json);
        return detail::json_result(rc, json);
    }

    /// Sends a test message through every notification channel now; a JSON array with
    /// `kind`, `channel`, `ok` and `error` for each.
    std::string notify_test() {
        char *json = nullptr;
        int rc = sqlkeep_notify_test(handle(), &json);
        return detail::json_result(rc, json);
    }

    /// Backup runs, newest first.
    std::string history(int limit = 50, int offset = 0) {
        char *json = nullptr;
        int rc = sqlkeep_history(handle(), limit, offset, &json);
        return detail::json_result(rc, json);
    }

    /// Starts the background scheduler (no-op when it runs).
    void start_scheduler() { detail::check(sqlkeep_scheduler_start(handle())); }

    /// Cancels the backups of this keeper running now (from any thread): each throws
    /// Error with Status::cancelled in its caller and keeps nothing. True if one ran.
    bool cancel() {
        int was = 0;
        detail::check(sqlkeep_cancel(handle(), &was));
        return was != 0;
    }

    /// Stops the background scheduler and waits for its thread (no-op when stopped).
    void stop_scheduler() { detail::check(sqlkeep_scheduler_stop(handle())); }

    /// What the scheduler is doing.
    std::string scheduler_status() {
        char *json = nullptr;
        int rc = sqlkeep_scheduler_status(handle(), &json);
        return detail::json_result(rc, json);
    }

    /// Applies configuration changes (validated as a whole); returns the whole
    /// effective configuration.
    std::string configure(const std::string &changes_json) {
        char *json = nullptr;
        int rc = sqlkeep_configure(handle(), changes_json.c_str(), &json);
        return detail::json_result(rc, json);
    }

    /// Receives every event from now on, replacing the previous handler; an empty
    /// function removes it. The previous handler is destroyed only after sqlkeep
    /// guarantees it no longer runs.
    void on_event(EventHandler handler) {
        std::unique_ptr<EventHandler> next;
        if (handler) next = std::make_unique<EventHandler>(std::move(handler));
        detail::check(sqlkeep_set_event_callback(handle(), next ? &Keeper::deliver : nullptr,
                                                 next.get()));
        handler_ = std::move(next);
    }

    /// The C handle, for calls the wrapper does not cover.
    sqlkeep *handle() const {
        if (!k_) throw Error(SQLKEEP_STATUS_INVALID_ARGUMENT, "the sqlkeep_cpp::Keeper is closed");
        return k_;
    }

private:
    static void deliver(const char *event_json, void *user) noexcept {
        try {
            (*static_cast<EventHandler *>(user))(event_json);
        } catch (...) {
            // An exception must not unwind into C; the event is dropped.
        }
    }

    sqlkeep *k_ = nullptr;
    // Heap-allocated so its address, handed to C as `user`, survives moves of Keeper.
    std::unique_ptr<EventHandler> handler_;
};

}  // namespace sqlkeep_cpp

#endif  // SQLKEEP_HPP
