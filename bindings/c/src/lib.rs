//! C ABI of sqlkeep: `libsqlkeep.so` / `libsqlkeep.a` and `include/sqlkeep.h`.
//!
//! A translation layer over [`sqlkeep_core::Keeper`] and nothing more: C strings and JSON
//! in, status codes and JSON strings out. Every export runs inside the panic boundary
//! ([`panic`]), reports failures through a status code and the thread's last error
//! ([`status`]), and documents ownership, lifetime and thread-safety in its `///`
//! comment, which cbindgen carries into the header (see `cbindgen.toml`; the test
//! `tests/header.rs` fails when the checked-in header is stale).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

mod convert;
mod handle;
mod panic;
mod status;

use convert::{count, json_string, optional_str, out_param, required_json, required_str};
use handle::{EventCallback, Handle};
use panic::{guard, status};
use sqlkeep_core::{
    BackupRequest, Config, ConfigChange, Keeper, Kind, RestoreOptions, TableRestore, Verification,
    VerifyLevel,
};
use status::Failure;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::path::Path;

pub use status::Status;

/// The handle behind a `sqlkeep *`.
///
/// # Safety
/// `k` is NULL or a handle from `sqlkeep_open` that has not been closed.
unsafe fn handle<'a>(k: *const Handle) -> Result<&'a Handle, Failure> {
    if k.is_null() {
        return Err(Failure::invalid_argument("`k` is NULL"));
    }
    // SAFETY: non-NULL, and the caller promises a live handle from sqlkeep_open; the
    // handle is only ever shared (`&`), so any number of threads may hold this at once.
    Ok(unsafe { &*k })
}

/// The body of an export that answers with one JSON value in `*out_json`: checks the
/// out-parameter (NULL on every failure) and the handle, then runs `answer` inside the
/// panic boundary and hands its value to C.
///
/// # Safety
/// `k` is NULL or an open handle; `out_json` is NULL or valid for writing one pointer.
unsafe fn json_answer<T: serde::Serialize>(
    k: *const Handle,
    out_json: *mut *mut c_char,
    answer: impl FnOnce(&Keeper) -> Result<T, Failure>,
) -> c_int {
    status(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_param(out_json, "out_json") }?;
        // SAFETY: forwarded from this function's contract.
        let k = unsafe { handle(k) }?;
        *out = json_string(&answer(k.keeper())?)?;
        Ok(())
    })
}

/// Opens a keeper for one SQLite database.
///
/// `config_json` is the configuration as a JSON object, the same keys as every sqlkeep
/// interface (the CLI's `--config` file, Python's `Config`); only `database` is required:
/// ```json
/// {"database": "app.db", "backup_dir": "backups", "schedule": "02:00",
///  "timezone": "local", "catch_up": true, "compression": "gzip",
///  "compression_level": 6, "verify_after_backup": "full",
///  "test_restore_every_days": 7, "backup_on_shutdown": false, "incremental": false,
///  "retention": {"keep_within": null, "keep_last": 0, "hourly": 0, "daily": 30,
///                "weekly": 12, "monthly": 12, "yearly": 0, "auto": true,
///                "max_total_bytes": null, "max_total_percent_of_disk": null},
///  "encryption": null}
/// ```
/// `incremental` (default false; SQLite only, `true` with a `postgresql://` database is
/// `SQLKEEP_STATUS_CONFIG`) makes each backup store only the pages that changed since the
/// newest backup, as a `.pages.zst` file that needs the earlier files of its chain (see
/// the manifest at `sqlkeep_backup`). A full backup is still taken when one is due: the
/// first one, one asked for with `SQLKEEP_BACKUP_FULL`, a `pre-restore` safety backup,
/// one after a backup that did not pass its check (so with `verify_after_backup` `"off"`
/// every backup is a full one), and when the chain has grown long or its page files add
/// up to half the full backup it starts with. A quick check reads every file of the
/// chain; a full check, every restore and `sqlkeep_export` rebuild the database from the
/// chain and compare its SHA-256. Deleting a backup keeps the files that later backups
/// of its chain still need.
///
/// `encryption` (default null: backups in the clear) encrypts new backups in the age
/// format, in one of two forms:
/// ```json
/// "encryption": {"recipients": ["age1..."], "identity_file": "key.txt"}
/// "encryption": {"passphrase_env": "SQLKEEP_PASSPHRASE"}
/// ```
/// `notify` says who hears when backups stop working (see the README's Notifications):
/// ```json
/// "notify": {"channels": [{"webhook": "https://...", "headers_env": {"Authorization": "HOOK_AUTH"}},
///                         {"heartbeat": "https://hc-ping.com/..."},
///                         {"email": {"smtp": "smtp://host:587", "starttls": true,
///                                    "from": "...", "to": ["..."],
///                                    "username_env": "SMTP_USER", "password_env": "SMTP_PASSWORD"}}],
///            "stale_after_hours": 36, "repeat_hours": 24, "timeout_seconds": 10}
/// ```
/// `remotes` (default empty) lists where offsite copies of every backup go (see the
/// README's Offsite copies):
/// ```json
/// "remotes": [{"name": "nas", "url": "file:///mnt/nas/backups"},
///             {"name": "offsite", "url": "s3://bucket/prefix", "region": "eu-west-1",
///              "endpoint": null, "allow_http": false, "retention": {"daily": 90}}]
/// ```
/// `url` is `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix` or
/// `file:///absolute/folder`; `retention` changes the local policy key by key for that
/// remote. Credentials never go in the configuration: they come from each provider's
/// environment variables. Errors name `remotes[0].url`, `remotes[1].name`, ...
///
/// `recipients` are age public keys (several allowed; make one with `sqlkeep_keygen`);
/// `identity_file` is the secret key file (mode 0600: a file others can read is
/// refused) that full verification and restore decrypt with; a machine that only makes
/// backups may leave it out. `passphrase_env` names the environment variable holding a
/// passphrase; the passphrase itself never goes in the configuration. Configuration
/// errors name `encryption`, `encryption.recipients`, `encryption.identity_file` or
/// `encryption.passphrase_env`.
///
/// Relative paths are taken against the current directory. Opening touches no file:
/// a missing database is reported by the first operation that needs it.
///
/// On success `*out` receives a new handle: close it with `sqlkeep_close`, exactly once.
/// On failure `*out` is set to NULL.
///
/// Returns `SQLKEEP_STATUS_OK`; `SQLKEEP_STATUS_INVALID_ARGUMENT` when `config_json` or
/// `out` is NULL, not UTF-8 or not JSON; `SQLKEEP_STATUS_CONFIG` when the JSON is not an
/// object or a key is unknown, missing or out of range (the message names the key).
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `out` is NULL or valid for writing
/// one pointer. Any thread may call it.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_open(config_json: *const c_char, out: *mut *mut Handle) -> c_int {
    status(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_param(out, "out") }?;
        // SAFETY: forwarded from this function's contract.
        let doc = unsafe { required_json(config_json, "config_json") }?;
        let config = Config::from_value(&doc, None)?;
        *out = Box::into_raw(Box::new(Handle::new(Keeper::open(config))));
        Ok(())
    })
}

/// Closes a handle: stops its scheduler if it runs (waiting for a backup in progress
/// and, with `backup_on_shutdown`, taking the shutdown backup; its events still reach
/// the callback), gives pending notifications up to `notify.timeout_seconds` to be
/// delivered, removes the event callback and frees everything.
///
/// `k` may be NULL (nothing happens). Call it at most once per handle, when no other
/// call on the handle is running on any thread and none will start; afterwards `k` is
/// dangling. Do not call it from inside the event callback.
///
/// # Safety
/// `k` is NULL or a handle from `sqlkeep_open` that has not been closed.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_close(k: *mut Handle) {
    guard(|| {
        if k.is_null() {
            return;
        }
        // SAFETY: the caller passes a live handle from sqlkeep_open (made by
        // Box::into_raw) and gives up its last use of it here.
        let handle = unsafe { Box::from_raw(k) };
        handle.shut_down();
    })
}

/// Takes a backup now, on the calling thread: a consistent snapshot of the live
/// database, compressed and (with `verify_after_backup`) verified.
///
/// `kind` is why it is taken: `"manual"` (NULL means manual), `"scheduled"`,
/// `"shutdown"`, `"pre-restore"` or `"pre-operation"` (the last two and manual are never
/// deleted by rotation). `label` is free text or NULL.
///
/// On success `*out_json` receives the backup's manifest, a JSON object (times are RFC
/// 3339 UTC with milliseconds, sizes in bytes; readers must ignore unknown fields):
/// ```json
/// {"format": 1, "id": "app-20261123T020000Z-manual", "kind": "manual",
///  "label": "before upgrade", "created_at": "2026-11-23T02:00:00.000Z",
///  "database": "/srv/app.db", "file": "app-20261123T020000Z-manual.sqlite3.gz",
///  "compression": "gzip", "compression_level": 6, "size_bytes": 696,
///  "sha256": "a016...", "raw_size_bytes": 8192, "page_size": 4096, "page_count": 2,
///  "user_version": 0, "journal_mode": "wal", "sqlite_version": "3.50.4",
///  "sqlkeep_version": "0.1.0", "duration_ms": 5,
///  "verification": {"level": "full", "ok": true, "at": "...", "detail": "..."}}
/// ```
/// (`verification` is null when `verify_after_backup` is `"off"`; `last_restored_at`
/// appears once a restore was made from it.) A backup made with `encryption` has a
/// `file` ending `.age` (a standard age file) and also
/// `"requires": ["age"], "encryption": {"format": "age", "recipients": ["age1..."]}`
/// (or `"passphrase_env": "..."` instead of `recipients`): public facts, never a secret.
///
/// An incremental backup (`incremental` on, see `sqlkeep_open`) names `"incremental"` in
/// `requires`, has a `file` ending `.pages.zst` (`.pages.zst.age` when encrypted) that
/// holds only the pages that changed since `parent`, and an `incremental` object; a full
/// backup has no `incremental` key:
/// ```json
/// {"format": 1, "requires": ["incremental"], "id": "app-20261124T020000Z-scheduled",
///  "file": "app-20261124T020000Z-scheduled.pages.zst", "compression": "zstd",
///  "size_bytes": 1830, "sha256": "33c4...", "raw_size_bytes": 8192, ...,
///  "incremental": {
///    "parent": "app-20261123T020000Z-manual",
///    "chain": [{"id": "app-20261123T020000Z-manual",
///               "file": "app-20261123T020000Z-manual.sqlite3.gz", "compression": "gzip",
///               "size_bytes": 696, "sha256": "a016...", "raw_size_bytes": 8192,
///               "pages": 2},
///              {"id": "app-20261124T020000Z-scheduled",
///               "file": "app-20261124T020000Z-scheduled.pages.zst",
///               "compression": "zstd", "size_bytes": 1830, "sha256": "33c4...",
///               "raw_size_bytes": 4100, "pages": 1}],
///    "image_sha256": "15d6..."}, ...}
/// ```
/// `size_bytes` is what this backup added (its own file), `raw_size_bytes` the size of
/// the database it restores to. `chain` lists the files the database is rebuilt from,
/// oldest first: the full backup it starts with, then each later backup's page file,
/// this one's last; a link's `raw_size_bytes` is what that file decodes to, and a link
/// of an encrypted file carries its `encryption` too. `parent` is the backup it was
/// compared with; `image_sha256` is the SHA-256 of the database it restores to. A program
/// that reads the backup folder itself must refuse a backup whose `requires` names
/// something it does not understand (sqlkeep does: "needs a newer sqlkeep").
///
/// Free it with `sqlkeep_string_free`. On failure `*out_json` is NULL and nothing is
/// left behind in the backup directory.
///
/// Returns `SQLKEEP_STATUS_OK`, `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k` or
/// `out_json`, unknown kind, strings not UTF-8), `SQLKEEP_STATUS_NOT_FOUND` (no
/// database), `SQLKEEP_STATUS_IO`, `SQLKEEP_STATUS_SQLITE`, `SQLKEEP_STATUS_CORRUPT`
/// (the source is not a database, or the new backup failed its verification),
/// `SQLKEEP_STATUS_KEY` (the passphrase's environment variable is not set) or
/// `SQLKEEP_STATUS_BUSY`.
///
/// # Safety
/// `k` is NULL or an open handle; `kind` and `label` are NULL or NUL-terminated strings;
/// `out_json` is NULL or valid for writing one pointer. Safe to call from several threads
/// at once on one handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_backup(
    k: *mut Handle,
    kind: *const c_char,
    label: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    // SAFETY: forwarded from this function's contract.
    unsafe { backup_answer(k, kind, label, 0, out_json) }
}

/// Flag of `sqlkeep_backup_with`: take a full, self-contained backup even when
/// `incremental` is on (it then starts a new chain).
pub const SQLKEEP_BACKUP_FULL: c_uint = 1;

/// `sqlkeep_backup` with options: `flags` is 0 (the same as `sqlkeep_backup`) or
/// `SQLKEEP_BACKUP_FULL`. Otherwise as `sqlkeep_backup`, with the same JSON and
/// statuses; an unknown bit in `flags` is `SQLKEEP_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// As `sqlkeep_backup`.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_backup_with(
    k: *mut Handle,
    kind: *const c_char,
    label: *const c_char,
    flags: c_uint,
    out_json: *mut *mut c_char,
) -> c_int {
    // SAFETY: forwarded from this function's contract.
    unsafe { backup_answer(k, kind, label, flags, out_json) }
}

/// The body of `sqlkeep_backup` and `sqlkeep_backup_with`.
///
/// # Safety
/// As `sqlkeep_backup`.
unsafe fn backup_answer(
    k: *mut Handle,
    kind: *const c_char,
    label: *const c_char,
    flags: c_uint,
    out_json: *mut *mut c_char,
) -> c_int {
    let answer = |keeper: &Keeper| {
        // SAFETY: forwarded from this function's contract.
        let kind = unsafe { optional_str(kind, "kind") }?;
        // SAFETY: forwarded from this function's contract.
        let label = unsafe { optional_str(label, "label") }?;
        if flags & !SQLKEEP_BACKUP_FULL != 0 {
            return Err(Failure::invalid_argument(format!(
                "`flags` is {flags}; use 0 or SQLKEEP_BACKUP_FULL"
            )));
        }
        let req = BackupRequest {
            kind: Kind::parse(kind.unwrap_or("manual"))?,
            label: label.map(str::to_string),
            full: flags & SQLKEEP_BACKUP_FULL != 0,
        };
        Ok(keeper.backup(&req)?)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, answer) }
}

/// Lists the readable backups, newest first.
///
/// On success `*out_json` receives a JSON array of manifests (the object described at
/// `sqlkeep_backup`), `[]` when there are none; free it with `sqlkeep_string_free`.
///
/// Returns `SQLKEEP_STATUS_OK`, `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k` or
/// `out_json`) or `SQLKEEP_STATUS_IO`.
///
/// # Safety
/// `k` is NULL or an open handle; `out_json` is NULL or valid for writing one pointer.
/// Safe to call from several threads at once on one handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_list(k: *mut Handle, out_json: *mut *mut c_char) -> c_int {
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, |keeper| Ok(keeper.list()?)) }
}

/// Checks backup `id`: with `full` zero, its checksum, full decompression and size
/// ("quick"); with `full` non-zero, also `PRAGMA integrity_check` and the page size,
/// page count and `user_version` of the database inside ("full"). The result is written
/// into the backup's manifest and the backup log.
///
/// `*out_json` receives the result whenever the check ran, a JSON object (the shape of
/// one element of `sqlkeep verify --json`):
/// ```json
/// {"id": "app-20261123T020000Z-manual", "ok": true, "level": "full",
///  "at": "2026-11-23T02:05:00.000Z",
///  "detail": "sha256 ok, gzip stream ok, integrity_check ok, 2 pages of 4096 bytes, user_version 0"}
/// ```
/// A damaged backup is reported like the CLI reports it (exit status 1): the return
/// value is `SQLKEEP_STATUS_CORRUPT`, `*out_json` holds the result with `"ok": false`
/// and `detail` saying what is wrong, and the last error repeats it. So on both
/// `SQLKEEP_STATUS_OK` and `SQLKEEP_STATUS_CORRUPT` free `*out_json` with
/// `sqlkeep_string_free`; on any other status it is NULL. (Simplest: always free it;
/// freeing NULL does nothing.)
///
/// An encrypted backup is decrypted for a full check, so it needs its key; a quick check
/// on a machine without the key covers the ciphertext (checksum, age header).
///
/// Returns `SQLKEEP_STATUS_OK` (the backup is good), `SQLKEEP_STATUS_CORRUPT`,
/// `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k`, `id` or `out_json`, `id` not UTF-8),
/// `SQLKEEP_STATUS_NOT_FOUND` (no such backup), `SQLKEEP_STATUS_KEY` (an encrypted
/// backup's key is missing, exposed or wrong: the backup is not judged, `*out_json` is
/// NULL), `SQLKEEP_STATUS_IO` (the check could not run, e.g. no space for the temporary
/// copy) or `SQLKEEP_STATUS_BUSY`.
///
/// # Safety
/// `k` is NULL or an open handle; `id` is NULL or a NUL-terminated string; `out_json` is
/// NULL or valid for writing one pointer. Safe to call from several threads at once on
/// one handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_verify(
    k: *mut Handle,
    id: *const c_char,
    full: c_int,
    out_json: *mut *mut c_char,
) -> c_int {
    status(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_param(out_json, "out_json") }?;
        // SAFETY: forwarded from this function's contract.
        let k = unsafe { handle(k) }?;
        // SAFETY: forwarded from this function's contract.
        let id = unsafe { required_str(id, "id") }?;
        let level = verify_level(full);
        let v = k.keeper().verify(id, level)?;
        verification_answer(out, id, level, &v, "")
    })
}

/// The level `full` (of `sqlkeep_verify`, `sqlkeep_verify_remote`) asks for.
fn verify_level(full: c_int) -> VerifyLevel {
    if full != 0 {
        VerifyLevel::Full
    } else {
        VerifyLevel::Quick
    }
}

/// Hands the result of a check that ran to C: the report in `*out` either way, and a
/// damaged backup as `SQLKEEP_STATUS_CORRUPT` with the detail as the last error. `place`
/// says where the checked copy lies (empty for the local backup).
fn verification_answer(
    out: &mut *mut c_char,
    id: &str,
    level: VerifyLevel,
    v: &Verification,
    place: &str,
) -> Result<(), Failure> {
    *out = json_string(&v.report(id))?;
    if v.ok {
        Ok(())
    } else {
        Err(Failure::new(
            Status::Corrupt,
            format!(
                "backup {id}{place} failed {} verification: {}",
                level.as_str(),
                v.detail
            ),
        ))
    }
}

/// Restores backup `id`. Only a backup that passes full verification now is restored.
///
/// With `to_path_or_null` NULL the live database is replaced: first a `pre-restore`
/// safety backup of its current content is taken, then the content is replaced through
/// SQLite in one transaction, so connections the application holds open see the
/// restored data on their next read. With a path, a new database file is written there;
/// a file that already exists there is not overwritten (`SQLKEEP_STATUS_INVALID_ARGUMENT`).
/// For a PostgreSQL `database` (a `postgresql://` URI), `to_path_or_null` names a new
/// database on the same server instead of a path, created and restored in one
/// transaction (dropped again if the restore fails); the live restore runs `pg_restore`
/// in one transaction after the same safety backup.
///
/// On success `*out_json` receives a JSON object:
/// ```json
/// {"id": "app-20261123T020000Z-manual", "target": "/srv/app.db",
///  "safety_backup": { manifest, see sqlkeep_backup } or null, "duration_ms": 12}
/// ```
/// Free it with `sqlkeep_string_free`. On failure `*out_json` is NULL and the target is
/// unchanged.
///
/// Returns `SQLKEEP_STATUS_OK`, `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k`, `id` or
/// `out_json`, strings not UTF-8, target exists), `SQLKEEP_STATUS_NOT_FOUND` (no such
/// backup), `SQLKEEP_STATUS_CORRUPT` (the backup is damaged: pick an older one),
/// `SQLKEEP_STATUS_KEY` (an encrypted backup's key is missing, exposed or wrong),
/// `SQLKEEP_STATUS_IO`, `SQLKEEP_STATUS_SQLITE` or `SQLKEEP_STATUS_BUSY` (the database
/// stayed locked by another connection), `SQLKEEP_STATUS_POSTGRES` (PostgreSQL or its
/// programs refused).
///
/// # Safety
/// `k` is NULL or an open handle; `id` and `to_path_or_null` are NULL or NUL-terminated
/// strings; `out_json` is NULL or valid for writing one pointer. Safe to call from
/// several threads at once on one handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_restore(
    k: *mut Handle,
    id: *const c_char,
    to_path_or_null: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    let answer = |keeper: &Keeper| {
        // SAFETY: forwarded from this function's contract.
        let id = unsafe { required_str(id, "id") }?;
        // SAFETY: forwarded from this function's contract.
        let to = unsafe { optional_str(to_path_or_null, "to_path_or_null") }?;
        Ok(keeper.restore(id, to.map(Path::new), false)?)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, answer) }
}

/// Flag of `sqlkeep_restore_with`, `sqlkeep_restore_file` and `sqlkeep_restore_remote`:
/// replace a file that already exists at the target path (through SQLite, so connections
/// holding it open see the restored data).
pub const SQLKEEP_RESTORE_OVERWRITE: c_uint = 1;
/// Flag of `sqlkeep_restore_with`, `sqlkeep_restore_file` and `sqlkeep_restore_remote`:
/// run the source's full check (`PRAGMA integrity_check`; for PostgreSQL a restore into a
/// scratch database with the row counts compared) on the restored copy even when the backup's recorded
/// image hash (`raw_sha256`) proves it passed at backup time.
pub const SQLKEEP_RESTORE_PARANOID: c_uint = 2;

/// `sqlkeep_restore` with options: `flags` is 0 or a bitwise OR of
/// `SQLKEEP_RESTORE_OVERWRITE` and `SQLKEEP_RESTORE_PARANOID`.
///
/// A backup whose manifest records `raw_sha256` (made with full verification) is restored
/// without running `integrity_check` again: the restored bytes are hashed as they are
/// written, and equal hashes prove they are the image that passed the check when the
/// backup was made; a different hash is `SQLKEEP_STATUS_CORRUPT`. With
/// `SQLKEEP_RESTORE_PARANOID` the check runs anyway. Otherwise as `sqlkeep_restore`,
/// with the same JSON and statuses; an unknown bit in `flags` is
/// `SQLKEEP_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// As `sqlkeep_restore`.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_restore_with(
    k: *mut Handle,
    id: *const c_char,
    to_path_or_null: *const c_char,
    flags: c_uint,
    out_json: *mut *mut c_char,
) -> c_int {
    let answer = |keeper: &Keeper| {
        // SAFETY: forwarded from this function's contract.
        let id = unsafe { required_str(id, "id") }?;
        // SAFETY: forwarded from this function's contract.
        let to = unsafe { optional_str(to_path_or_null, "to_path_or_null") }?;
        let options = restore_options(flags)?;
        Ok(keeper.restore_with(id, to.map(Path::new), options)?)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, answer) }
}

/// The `RestoreOptions` that `flags` (of `sqlkeep_restore_with`) ask for.
fn restore_options(flags: c_uint) -> Result<RestoreOptions, Failure> {
    if flags & !(SQLKEEP_RESTORE_OVERWRITE | SQLKEEP_RESTORE_PARANOID) != 0 {
        return Err(Failure::invalid_argument(format!(
            "`flags` is {flags}; use 0 or SQLKEEP_RESTORE_OVERWRITE | SQLKEEP_RESTORE_PARANOID"
        )));
    }
    Ok(RestoreOptions {
        overwrite: flags & SQLKEEP_RESTORE_OVERWRITE != 0,
        paranoid: flags & SQLKEEP_RESTORE_PARANOID != 0,
    })
}

/// `sqlkeep_restore_with` for a backup file anywhere (a copy on a USB stick, another
/// machine's backup folder): `path` names the backup file or its `.json` manifest, which
/// must lie beside it. The same full verification runs first; `flags` and the JSON are
/// those of `sqlkeep_restore_with`. A name that is not a sqlkeep backup file's is
/// `SQLKEEP_STATUS_INVALID_ARGUMENT`; a missing data file is `SQLKEEP_STATUS_CORRUPT`.
///
/// # Safety
/// As `sqlkeep_restore`; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_restore_file(
    k: *mut Handle,
    path: *const c_char,
    to_path_or_null: *const c_char,
    flags: c_uint,
    out_json: *mut *mut c_char,
) -> c_int {
    let answer = |keeper: &Keeper| {
        // SAFETY: forwarded from this function's contract.
        let path = unsafe { required_str(path, "path") }?;
        // SAFETY: forwarded from this function's contract.
        let to = unsafe { optional_str(to_path_or_null, "to_path_or_null") }?;
        let options = restore_options(flags)?;
        Ok(keeper.restore_file_with(Path::new(path), to.map(Path::new), options)?)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, answer) }
}

/// Writes backup `id` (an incremental one included) as one self-contained file at the
/// new path `to_path`, which needs neither sqlkeep nor the backup folder to be read: the
/// database the backup restores to, checked first exactly as a restore checks it, then
/// compressed as the name says, `.gz` (gzip: `gunzip -c app.sqlite3.gz > app.db`) or
/// `.zst` (zstd), at that compression's default level. An encrypted backup is written
/// decrypted, so it needs its key. The file appears complete or not at all (written
/// beside it, synced, then renamed); a file already at `to_path` is refused, never
/// overwritten.
///
/// On success `*out_json` receives a JSON object:
/// ```json
/// {"id": "app-20261124T020000Z-scheduled", "path": "/srv/export/app.sqlite3.gz",
///  "compression": "gzip", "size_bytes": 712, "raw_size_bytes": 8192, "sha256": "e3b0..."}
/// ```
/// `path` is absolute; `size_bytes` and `sha256` are those of the file written,
/// `raw_size_bytes` the size of the database inside. Free it with
/// `sqlkeep_string_free`. On failure `*out_json` is NULL and no file is left at
/// `to_path`.
///
/// Returns `SQLKEEP_STATUS_OK`, `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k`, `id`,
/// `to_path` or `out_json`, strings not UTF-8, a name that ends neither in `.gz` nor in
/// `.zst`, a file that already exists at `to_path`), `SQLKEEP_STATUS_NOT_FOUND` (no such
/// backup, or the folder of `to_path` does not exist), `SQLKEEP_STATUS_CORRUPT` (the
/// backup, or a file of its chain, is damaged: nothing is written; pick another backup),
/// `SQLKEEP_STATUS_KEY` (an encrypted backup's key is missing, exposed or wrong),
/// `SQLKEEP_STATUS_IO` (e.g. no space for the file or for the checked copy beside the
/// backups) or `SQLKEEP_STATUS_BUSY`.
///
/// # Safety
/// `k` is NULL or an open handle; `id` and `to_path` are NULL or NUL-terminated strings;
/// `out_json` is NULL or valid for writing one pointer. Safe to call from several threads
/// at once on one handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_export(
    k: *mut Handle,
    id: *const c_char,
    to_path: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    let answer = |keeper: &Keeper| {
        // SAFETY: forwarded from this function's contract.
        let id = unsafe { required_str(id, "id") }?;
        // SAFETY: forwarded from this function's contract.
        let to = unsafe { required_str(to_path, "to_path") }?;
        Ok(keeper.export(id, Path::new(to))?)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, answer) }
}

/// `sqlkeep_restore_table` flag: the table's content becomes the backup's (live rows the
/// backup lacks are removed). Not with a condition.
pub const SQLKEEP_RESTORE_REPLACE_TABLE: c_uint = 4;
/// `sqlkeep_restore_table` flag: also bring the rows foreign keys tie to the chosen ones
/// (rows that refer to them, and rows they refer to that the live database lacks).
pub const SQLKEEP_RESTORE_WITH_DEPENDENTS: c_uint = 8;

/// Brings back rows of one table from backup `id` into the live database: the backup's
/// rows of `table` for which the SQL condition `where_or_null` holds (all when NULL),
/// merged by key (primary key, or rowid), after full verification and a `pre-restore`
/// safety backup, in one transaction. The condition is evaluated in a read-only
/// connection to the backup's checked copy, never against the live database. `flags` is
/// 0 or a bitwise OR of `SQLKEEP_RESTORE_REPLACE_TABLE` and
/// `SQLKEEP_RESTORE_WITH_DEPENDENTS`.
///
/// On success `*out_json` receives a JSON object, the requested table first:
/// ```json
/// {"id": "app-...-manual", "target": "/path/app.db",
///  "tables": [{"name": "invoices", "replaced": 0, "added": 11, "unchanged": 0,
///              "removed": 0}],
///  "safety_backup": {"id": "app-...-pre-restore", ...}, "duration_ms": 40}
/// ```
/// Free it with `sqlkeep_string_free`.
///
/// Returns `SQLKEEP_STATUS_OK`; `SQLKEEP_STATUS_INVALID_ARGUMENT` for a NULL `k`, `id`,
/// `table` or `out_json`, strings not UTF-8, an unknown flag bit, a condition that is not
/// valid SQL for the table, a table whose schema no longer matches the backup's, or rows
/// that would refer to rows the live database lacks (nothing is written; pass
/// `SQLKEEP_RESTORE_WITH_DEPENDENTS`); `SQLKEEP_STATUS_NOT_FOUND` for an unknown backup
/// or a table missing on either side; `SQLKEEP_STATUS_CORRUPT` for a damaged backup;
/// otherwise as `sqlkeep_restore`.
///
/// # Safety
/// As `sqlkeep_restore`; `table` and `where_or_null` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_restore_table(
    k: *mut Handle,
    id: *const c_char,
    table: *const c_char,
    where_or_null: *const c_char,
    flags: c_uint,
    out_json: *mut *mut c_char,
) -> c_int {
    let answer = |keeper: &Keeper| {
        // SAFETY: forwarded from this function's contract.
        let id = unsafe { required_str(id, "id") }?;
        // SAFETY: forwarded from this function's contract.
        let table = unsafe { required_str(table, "table") }?;
        // SAFETY: forwarded from this function's contract.
        let condition = unsafe { optional_str(where_or_null, "where_or_null") }?;
        let known = SQLKEEP_RESTORE_REPLACE_TABLE | SQLKEEP_RESTORE_WITH_DEPENDENTS;
        if flags & !known != 0 {
            return Err(Failure::invalid_argument(format!(
                "`flags` is {flags}; use 0 or SQLKEEP_RESTORE_REPLACE_TABLE | SQLKEEP_RESTORE_WITH_DEPENDENTS"
            )));
        }
        let mut req = TableRestore::new(table)
            .replace_table(flags & SQLKEEP_RESTORE_REPLACE_TABLE != 0)
            .with_dependents(flags & SQLKEEP_RESTORE_WITH_DEPENDENTS != 0);
        if let Some(c) = condition {
            req = req.condition(c);
        }
        Ok(keeper.restore_table(id, &req)?)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, answer) }
}

/// What differs between backup `from_id` and backup `to_id_or_null`, or the live
/// database when it is NULL. Both backups are fully checked first.
///
/// On success `*out_json` receives a JSON object:
/// ```json
/// {"from": "app-...-manual", "to": "/path/app.db", "identical": false,
///  "user_version": {"from": 3, "to": 4},
///  "tables": [{"name": "tracks", "rows": {"from": 3000, "to": 2988}, "added": 0,
///              "removed": 12, "changed": 4, "key": ["rowid"],
///              "table_restore_preview": "brings back 12 rows, reverts 4 rows"}],
///  "schema": [{"type": "index", "name": "tracks_album", "change": "added"}]}
/// ```
/// `removed` rows are only in the backup (a restore brings them back), `added` only in
/// the newer side (a restore discards them); rows match by their declared primary key,
/// or by rowid when there is none or it is an `INTEGER PRIMARY KEY`.
/// `table_restore_preview` says what `sqlkeep_restore_table` of that table alone would
/// do. Free it with `sqlkeep_string_free`.
///
/// Returns `SQLKEEP_STATUS_OK`, `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k`, `from_id` or
/// `out_json`, invalid UTF-8), `SQLKEEP_STATUS_NOT_FOUND`, `SQLKEEP_STATUS_CORRUPT` (a
/// damaged backup, not compared), `SQLKEEP_STATUS_KEY`, `SQLKEEP_STATUS_IO` or
/// `SQLKEEP_STATUS_SQLITE`.
///
/// # Safety
/// `k` is NULL or an open handle; `from_id` and `to_id_or_null` are NULL or
/// NUL-terminated strings; `out_json` is NULL or valid for writing one pointer. Safe to
/// call from several threads at once on one handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_diff(
    k: *mut Handle,
    from_id: *const c_char,
    to_id_or_null: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    let answer = |keeper: &Keeper| {
        // SAFETY: forwarded from this function's contract.
        let from = unsafe { required_str(from_id, "from_id") }?;
        // SAFETY: forwarded from this function's contract.
        let to = unsafe { optional_str(to_id_or_null, "to_id_or_null") }?;
        Ok(keeper.diff(from, to)?)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, answer) }
}

/// What restoring the backup file at `path` (anywhere, its `.json` manifest beside it,
/// as for `sqlkeep_restore_file`) would change in the live database: the JSON of
/// `sqlkeep_diff`, its `restore_preview` being the sentence for a confirmation. Returns
/// as `sqlkeep_diff`, and `SQLKEEP_STATUS_INVALID_ARGUMENT` for a name that is not a
/// sqlkeep backup file's.
///
/// # Safety
/// As `sqlkeep_diff`; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_diff_file(
    k: *mut Handle,
    path: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    let answer = |keeper: &Keeper| {
        // SAFETY: forwarded from this function's contract.
        let path = unsafe { required_str(path, "path") }?;
        Ok(keeper.diff_file(Path::new(path))?)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, answer) }
}

/// The rows of `table` that differ between backup `from_id` and backup
/// `to_id_or_null` (the live database when NULL): removed ones first, then added, then
/// changed, each in key order; at most `limit` after skipping `offset`.
///
/// On success `*out_json` receives a JSON array:
/// ```json
/// [{"change": "removed", "key": {"rowid": 2989},
///   "from": {"id": 2989, "name": "track 2989", "cover": "x'9f3a…' (64 bytes)"},
///   "to": null}]
/// ```
/// `key` holds `rowid`, or the declared primary key's columns when that is not the rowid; `from`
/// is null for an added row, `to` for a removed one. Free it with `sqlkeep_string_free`.
///
/// Returns as `sqlkeep_diff`, and `SQLKEEP_STATUS_NOT_FOUND` for a table that is not an
/// ordinary table in both versions, `SQLKEEP_STATUS_INVALID_ARGUMENT` for a NULL `table`
/// or a negative `limit` or `offset`.
///
/// # Safety
/// As `sqlkeep_diff`; `table` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_diff_rows(
    k: *mut Handle,
    from_id: *const c_char,
    to_id_or_null: *const c_char,
    table: *const c_char,
    limit: c_int,
    offset: c_int,
    out_json: *mut *mut c_char,
) -> c_int {
    let answer = |keeper: &Keeper| {
        // SAFETY: forwarded from this function's contract.
        let from = unsafe { required_str(from_id, "from_id") }?;
        // SAFETY: forwarded from this function's contract.
        let to = unsafe { optional_str(to_id_or_null, "to_id_or_null") }?;
        // SAFETY: forwarded from this function's contract.
        let table = unsafe { required_str(table, "table") }?;
        let (limit, offset) = (count(limit, "limit")?, count(offset, "offset")?);
        Ok(keeper.diff_rows(from, to, table, limit, offset)?)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, answer) }
}

/// Applies the retention policy (grandfather-father-son over `scheduled` and `shutdown`
/// backups; other kinds are never deleted, nor the newest verified backup). With
/// `dry_run` non-zero nothing is deleted and the plan is only returned.
///
/// On success `*out_json` receives the plan, a JSON object, entries newest first:
/// ```json
/// {"dry_run": true,
///  "entries": [{"id": "...", "kind": "scheduled", "created_at": "...",
///               "size_bytes": 696, "action": "keep", "reason": "daily #1"}],
///  "kept": ["..."], "deleted": ["..."], "freed_bytes": 0,
///  "total_bytes": 696, "max_total_bytes": null, "warning": null}
/// ```
/// `max_total_bytes` is the size budget in effect (`retention.max_total_bytes` or
/// `retention.max_total_percent_of_disk`); `warning` says why it cannot be met (manual
/// backups are never deleted). Free it with `sqlkeep_string_free`.
///
/// Returns `SQLKEEP_STATUS_OK`, `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k` or
/// `out_json`), `SQLKEEP_STATUS_IO` or `SQLKEEP_STATUS_BUSY` (another operation used the
/// backup directory for longer than 30 s).
///
/// # Safety
/// `k` is NULL or an open handle; `out_json` is NULL or valid for writing one pointer.
/// Safe to call from several threads at once on one handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_rotate(
    k: *mut Handle,
    dry_run: c_int,
    out_json: *mut *mut c_char,
) -> c_int {
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, |keeper| Ok(keeper.rotate(dry_run != 0)?)) }
}

/// Deletes backup `id`, whatever its kind (an explicit request: rotation's rules do not
/// apply), and with `remote_copies` non-zero its copy on every remote of `remotes` as
/// well. With `remote_copies` zero the remote copies stay; each remote's own retention
/// decides about them at later pushes.
///
/// The remote copies go first (an `offsite_deleted` event each), then the local backup
/// (manifest and file together). A remote that cannot be reached is
/// `SQLKEEP_STATUS_REMOTE` and leaves the local backup in place, so the same call can be
/// repeated once the remote answers.
///
/// On success `*out_json` receives the deleted backup's manifest (the object described
/// at `sqlkeep_backup`); free it with `sqlkeep_string_free`. On failure it is NULL.
///
/// Returns `SQLKEEP_STATUS_OK`, `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k`, `id` or
/// `out_json`, `id` not UTF-8), `SQLKEEP_STATUS_NOT_FOUND` (no such backup),
/// `SQLKEEP_STATUS_IO`, `SQLKEEP_STATUS_BUSY` or `SQLKEEP_STATUS_REMOTE`.
///
/// # Safety
/// `k` is NULL or an open handle; `id` is NULL or a NUL-terminated string; `out_json` is
/// NULL or valid for writing one pointer. Safe to call from several threads at once on
/// one handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_delete_with(
    k: *mut Handle,
    id: *const c_char,
    remote_copies: c_int,
    out_json: *mut *mut c_char,
) -> c_int {
    let answer = |keeper: &Keeper| {
        // SAFETY: forwarded from this function's contract.
        let id = unsafe { required_str(id, "id") }?;
        Ok(keeper.delete_with(id, remote_copies != 0)?)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, answer) }
}

/// Copies to each remote of `remotes` (or only to the one named `remote_or_null`) the
/// backups it lacks that its retention keeps, and deletes there what that policy no
/// longer keeps. Every backup is already copied right after it is made; this catches up
/// after a remote was unreachable, and is what a "sync now" button calls.
///
/// A remote that fails (network, credentials, bucket, quota) does not fail the call: its
/// report says why and an `offsite_failed` event is sent; the other remotes go on.
///
/// On success `*out_json` receives a JSON array, one object per remote (`[]` when no
/// remote is configured):
/// ```json
/// [{"remote": "nas", "copied": ["app-20261123T020000Z-manual"], "copied_bytes": 696,
///   "deleted": [], "missing": 0, "error": null}]
/// ```
/// `copied` is oldest first; `deleted` are the backups that remote's retention removed
/// there; `missing` counts the backups it keeps that the remote still lacks (0 when all
/// went well); `error` says why a remote stopped. Free it with `sqlkeep_string_free`.
///
/// Returns `SQLKEEP_STATUS_OK`, `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k` or
/// `out_json`, `remote_or_null` not UTF-8), `SQLKEEP_STATUS_NOT_FOUND` (no remote of
/// that name: the message lists the configured ones), `SQLKEEP_STATUS_IO` (the local
/// backups cannot be read) or `SQLKEEP_STATUS_BUSY` (another push holds the offsite lock
/// for longer than 30 s).
///
/// # Safety
/// `k` is NULL or an open handle; `remote_or_null` is NULL or a NUL-terminated string;
/// `out_json` is NULL or valid for writing one pointer. Safe to call from several
/// threads at once on one handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_push(
    k: *mut Handle,
    remote_or_null: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    let answer = |keeper: &Keeper| {
        // SAFETY: forwarded from this function's contract.
        let remote = unsafe { optional_str(remote_or_null, "remote_or_null") }?;
        Ok(keeper.push(remote)?)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, answer) }
}

/// Lists the backups on remote `remote` (a `name` of `remotes`), newest first, from one
/// read of the remote's index. Works on a machine that has only the configuration and
/// the credentials (no local backups).
///
/// On success `*out_json` receives a JSON array of manifests, the shape of
/// `sqlkeep_list`'s, `[]` when the remote holds none; free it with `sqlkeep_string_free`.
///
/// Returns `SQLKEEP_STATUS_OK`, `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k`, `remote` or
/// `out_json`, `remote` not UTF-8), `SQLKEEP_STATUS_NOT_FOUND` (no remote of that name),
/// `SQLKEEP_STATUS_IO` or `SQLKEEP_STATUS_REMOTE` (the remote cannot be reached or
/// refused the request).
///
/// # Safety
/// `k` is NULL or an open handle; `remote` is NULL or a NUL-terminated string;
/// `out_json` is NULL or valid for writing one pointer. Safe to call from several
/// threads at once on one handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_list_remote(
    k: *mut Handle,
    remote: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    let answer = |keeper: &Keeper| {
        // SAFETY: forwarded from this function's contract.
        let remote = unsafe { required_str(remote, "remote") }?;
        Ok(keeper.list_remote(remote)?)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, answer) }
}

/// Checks the copy of backup `id` on remote `remote`, as `sqlkeep_verify` checks a local
/// backup: with `full` zero its size, SHA-256 and stream as it downloads; with `full`
/// non-zero it is also decoded into a scratch file beside the local backups and checked
/// with `PRAGMA integrity_check`. Nothing is written into the local backups' manifests.
///
/// `*out_json` and the statuses are those of `sqlkeep_verify` (`detail` starts with
/// `remote <name>:`): on `SQLKEEP_STATUS_OK` and `SQLKEEP_STATUS_CORRUPT` free
/// `*out_json` with `sqlkeep_string_free`. A damaged copy is also taken out of the
/// remote's index, so the next `sqlkeep_push` uploads it again from the local backup.
/// Besides: `SQLKEEP_STATUS_NOT_FOUND` for an unknown remote or a backup the remote does
/// not hold, `SQLKEEP_STATUS_REMOTE` when the remote cannot be reached or refused the
/// request, and `SQLKEEP_STATUS_INVALID_ARGUMENT` for a NULL or non-UTF-8 `remote`.
///
/// # Safety
/// As `sqlkeep_verify`; `remote` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_verify_remote(
    k: *mut Handle,
    remote: *const c_char,
    id: *const c_char,
    full: c_int,
    out_json: *mut *mut c_char,
) -> c_int {
    status(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_param(out_json, "out_json") }?;
        // SAFETY: forwarded from this function's contract.
        let k = unsafe { handle(k) }?;
        // SAFETY: forwarded from this function's contract.
        let remote = unsafe { required_str(remote, "remote") }?;
        // SAFETY: forwarded from this function's contract.
        let id = unsafe { required_str(id, "id") }?;
        let level = verify_level(full);
        let v = k.keeper().verify_remote(remote, id, level)?;
        let place = format!(" on remote `{remote}`");
        verification_answer(out, id, level, &v, &place)
    })
}

/// Restores backup `id` from remote `remote`, for a new machine that has only the
/// configuration and the credentials: the copy is downloaded into a private folder
/// beside the local backups (created when missing), fully checked, restored exactly as
/// `sqlkeep_restore_with` restores a local backup (into the new file `to_path_or_null`,
/// or into the live database after a `pre-restore` safety backup when it is NULL), and
/// the download is removed again.
///
/// `flags` is 0 or a bitwise OR of `SQLKEEP_RESTORE_OVERWRITE` and
/// `SQLKEEP_RESTORE_PARANOID`, as for `sqlkeep_restore_with`; the JSON is that of
/// `sqlkeep_restore`. Returns as `sqlkeep_restore_with`, and besides
/// `SQLKEEP_STATUS_NOT_FOUND` for an unknown remote or a backup the remote does not hold,
/// `SQLKEEP_STATUS_CORRUPT` for a damaged copy (nothing is restored; another remote or an
/// older backup may have a good one), `SQLKEEP_STATUS_REMOTE` when the remote cannot be
/// reached or refused the request, and `SQLKEEP_STATUS_INVALID_ARGUMENT` for a NULL or
/// non-UTF-8 `remote`.
///
/// # Safety
/// As `sqlkeep_restore`; `remote` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_restore_remote(
    k: *mut Handle,
    remote: *const c_char,
    id: *const c_char,
    to_path_or_null: *const c_char,
    flags: c_uint,
    out_json: *mut *mut c_char,
) -> c_int {
    let answer = |keeper: &Keeper| {
        // SAFETY: forwarded from this function's contract.
        let remote = unsafe { required_str(remote, "remote") }?;
        // SAFETY: forwarded from this function's contract.
        let id = unsafe { required_str(id, "id") }?;
        // SAFETY: forwarded from this function's contract.
        let to = unsafe { optional_str(to_path_or_null, "to_path_or_null") }?;
        let options = restore_options(flags)?;
        Ok(keeper.restore_remote(remote, id, to.map(Path::new), options)?)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, answer) }
}

/// Counts, sizes and times over the backups present and the runs in the backup log.
///
/// On success `*out_json` receives a JSON object (times null until known):
/// ```json
/// {"count": 3, "total_bytes": 2088, "bytes_on_disk": 2300, "raw_bytes": 24576,
///  "incremental": 2, "oldest": "...", "newest": "...",
///  "last_success": "...", "last_failure": null, "runs": 3, "failures": 0,
///  "success_rate": 1.0, "average_duration_ms": 5,
///  "by_kind": {"manual": 2, "scheduled": 1}, "offsite": [ see sqlkeep_scheduler_status ]}
/// ```
/// `total_bytes` sums what each backup added (`size_bytes`: a full backup's file, an
/// incremental backup's changed pages). `bytes_on_disk` is everything the backup folder
/// holds for them: `total_bytes` plus the files that incremental backups still need
/// after the backup that wrote them was deleted, and the page hashes the next
/// incremental backup compares with. `raw_bytes` sums the databases they restore to
/// (`raw_size_bytes`), to set against `bytes_on_disk`. `incremental` counts the
/// incremental backups (included in `count`).
/// Free it with `sqlkeep_string_free`.
///
/// Returns `SQLKEEP_STATUS_OK`, `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k` or
/// `out_json`) or `SQLKEEP_STATUS_IO`.
///
/// # Safety
/// `k` is NULL or an open handle; `out_json` is NULL or valid for writing one pointer.
/// Safe to call from several threads at once on one handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_stats(k: *mut Handle, out_json: *mut *mut c_char) -> c_int {
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, |keeper| Ok(keeper.stats()?)) }
}

/// The health verdict: are backups working? Derived from the backup log, the backups
/// present, the schedule and the clock (so it holds after the application was closed).
///
/// On success `*out_json` receives a JSON object:
/// ```json
/// {"verdict": "failing",
///  "reasons": [{"level": "failing", "code": "stale",
///               "message": "no successful backup since 7 days ago; ..."}],
///  "headline": "Last backup 7 days ago · verified · next tonight 02:00",
///  "checked_at": "...", "last_success": "...", "last_backup": "app-...-scheduled",
///  "last_backup_status": "verified", "next_run": "..."}
/// ```
/// `verdict` is `ok` (then `reasons` is empty), `warning` or `failing`; reasons come
/// worst first, each with a stable `code`. Free it with `sqlkeep_string_free`.
///
/// Returns `SQLKEEP_STATUS_OK`, `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k` or
/// `out_json`) or `SQLKEEP_STATUS_IO`.
///
/// # Safety
/// `k` is NULL or an open handle; `out_json` is NULL or valid for writing one pointer.
/// Safe to call from several threads at once on one handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_health(k: *mut Handle, out_json: *mut *mut c_char) -> c_int {
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, |keeper| Ok(keeper.health()?)) }
}

/// Sends a test message through every notification channel (`notify.channels`) now,
/// one attempt each; a heartbeat gets a `/log` ping, which changes no check.
///
/// On success `*out_json` receives a JSON array, one object per channel:
/// ```json
/// [{"kind": "webhook", "channel": "webhook https://hooks.example.com", "ok": true,
///   "error": null}]
/// ```
/// `channel` leaves out the URL's path and every secret; `error` says why a channel
/// failed. A channel that fails is not an error of the call. Free it with
/// `sqlkeep_string_free`.
///
/// Returns `SQLKEEP_STATUS_OK` or `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k` or
/// `out_json`).
///
/// # Safety
/// `k` is NULL or an open handle; `out_json` is NULL or valid for writing one pointer.
/// Safe to call from several threads at once on one handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_notify_test(k: *mut Handle, out_json: *mut *mut c_char) -> c_int {
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, |keeper| Ok(keeper.notify_test())) }
}

/// The backup runs, successful or not, newest first: skips `offset` runs and returns at
/// most `limit`.
///
/// On success `*out_json` receives a JSON array of objects:
/// ```json
/// [{"time": "...", "id": "app-...-manual", "kind": "manual", "label": null,
///   "ok": true, "error": null, "size_bytes": 696, "raw_size_bytes": 8192,
///   "duration_ms": 5, "status": "verified"}]
/// ```
/// `status` is `verified`, `unverified`, `corrupt`, `deleted` (rotated away since) or
/// `failed` (then `id` may be null and `error` says why). Free it with
/// `sqlkeep_string_free`.
///
/// Returns `SQLKEEP_STATUS_OK`, `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k` or
/// `out_json`, negative `limit` or `offset`) or `SQLKEEP_STATUS_IO`.
///
/// # Safety
/// `k` is NULL or an open handle; `out_json` is NULL or valid for writing one pointer.
/// Safe to call from several threads at once on one handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_history(
    k: *mut Handle,
    limit: c_int,
    offset: c_int,
    out_json: *mut *mut c_char,
) -> c_int {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        json_answer(k, out_json, |keeper| {
            Ok(keeper.history(count(limit, "limit")?, count(offset, "offset")?)?)
        })
    }
}

/// Backup runs merged with the backups present, one row per backup, newest first, as a
/// JSON array of the objects `sqlkeep_history` returns: at most `limit` runs (runs of
/// deleted backups only when `include_deleted` is non-zero) plus every backup present
/// whose run is older. For tables that show both. Free `*out_json` with
/// `sqlkeep_string_free`.
///
/// Returns `SQLKEEP_STATUS_OK`, `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL pointer, negative
/// `limit`) or `SQLKEEP_STATUS_IO` (the log or backup folder cannot be read).
///
/// # Safety
/// `k` is NULL or an open handle; `out_json` is NULL or valid for writing one pointer.
/// Safe to call from several threads at once on one handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_timeline(
    k: *mut Handle,
    limit: c_int,
    include_deleted: c_int,
    out_json: *mut *mut c_char,
) -> c_int {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        json_answer(k, out_json, |keeper| {
            Ok(keeper.timeline(count(limit, "limit")?, include_deleted != 0)?)
        })
    }
}

/// Starts the background scheduler: a thread of this process that takes `scheduled`
/// backups at the times of `schedule` (catching up on a missed one when `catch_up` is
/// set), retries failures, rotates and test-restores. Its events reach the event
/// callback on that thread.
///
/// Starting a running scheduler does nothing and returns `SQLKEEP_STATUS_OK`; use
/// `sqlkeep_scheduler_status` to know whether it runs.
///
/// Returns `SQLKEEP_STATUS_OK`, `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k`) or
/// `SQLKEEP_STATUS_IO` (the thread could not be started).
///
/// # Safety
/// `k` is NULL or an open handle. Safe to call from several threads at once on one
/// handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_scheduler_start(k: *mut Handle) -> c_int {
    status(|| {
        // SAFETY: forwarded from this function's contract.
        let k = unsafe { handle(k) }?;
        k.keeper().start()?;
        Ok(())
    })
}

/// Cancels the backups of this handle running now (`sqlkeep_backup` on another thread, a
/// scheduled one): each stops at its next step, removes what it wrote, returns
/// `SQLKEEP_STATUS_CANCELLED` to its caller and is logged as `backup_cancelled` (not a
/// failure; the scheduler does not retry it). A backup already committing completes.
///
/// `*out_cancelled` (when not NULL) receives 1 if a backup was running, else 0.
///
/// Returns `SQLKEEP_STATUS_OK` or `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k`).
///
/// # Safety
/// `k` is NULL or an open handle; `out_cancelled` is NULL or valid for writing one int.
/// Safe to call from any thread, the event callback included.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_cancel(k: *mut Handle, out_cancelled: *mut c_int) -> c_int {
    status(|| {
        // SAFETY: forwarded from this function's contract.
        let k = unsafe { handle(k) }?;
        let was = k.keeper().cancel();
        if !out_cancelled.is_null() {
            // SAFETY: the caller passes NULL or a pointer valid for one int.
            unsafe { *out_cancelled = c_int::from(was) };
        }
        Ok(())
    })
}

/// Stops the background scheduler and waits for its thread to end: a backup in progress
/// is finished first and, with `backup_on_shutdown`, a `shutdown` backup is taken. The
/// scheduler's last events (`scheduler_stopped`) reach the callback before it returns.
///
/// Stopping a scheduler that does not run does nothing and returns `SQLKEEP_STATUS_OK`.
/// Do not call it from inside the event callback (the callback may run on the scheduler
/// thread, which cannot wait for itself).
///
/// Returns `SQLKEEP_STATUS_OK` or `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k`).
///
/// # Safety
/// `k` is NULL or an open handle. Safe to call from several threads at once on one
/// handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_scheduler_stop(k: *mut Handle) -> c_int {
    status(|| {
        // SAFETY: forwarded from this function's contract.
        let k = unsafe { handle(k) }?;
        k.keeper().stop();
        Ok(())
    })
}

/// What the scheduler is doing.
///
/// On success `*out_json` receives a JSON object (times null until known):
/// ```json
/// {"running": true, "next_run": "2026-11-24T02:00:00.000Z", "retry_at": null,
///  "last_run": "...", "last_outcome": "ok", "last_backup": "app-...-scheduled",
///  "last_error": null, "last_slot": "...",
///  "offsite": [{"remote": "nas", "backups": [ manifests, see sqlkeep_backup ],
///               "missing": 0, "last_copy_at": "...", "last_error_at": null,
///               "last_error": null}]}
/// ```
/// `next_run` is null when `schedule` is `"off"`; `last_outcome` is `"ok"`, `"failed"`
/// or null before the first scheduled attempt. `offsite` has one object per remote of
/// `remotes`: what this machine last knew of it (no request is made), `missing` counting
/// the backups its retention keeps that it lacked after the last attempt. Free it with
/// `sqlkeep_string_free`.
///
/// Returns `SQLKEEP_STATUS_OK` or `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k` or
/// `out_json`).
///
/// # Safety
/// `k` is NULL or an open handle; `out_json` is NULL or valid for writing one pointer.
/// Safe to call from several threads at once on one handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_scheduler_status(
    k: *mut Handle,
    out_json: *mut *mut c_char,
) -> c_int {
    // SAFETY: forwarded from this function's contract.
    unsafe { json_answer(k, out_json, |keeper| Ok(keeper.status())) }
}

/// Changes the configuration of an open handle. `changes_json` is a JSON object with
/// the keys to change (the keys of `sqlkeep_open`; `retention` merges key by key),
/// e.g. `{"schedule": "03:30", "retention": {"daily": 7}}`. The changes are validated
/// as a whole: on error nothing changes. `database` cannot change (open another handle).
/// A running scheduler picks the change up at once; operations already running finish
/// with the configuration they started with.
///
/// On success `*out_config_json` receives the whole effective configuration, every key
/// present (the object shown at `sqlkeep_open`, paths absolute); free it with
/// `sqlkeep_string_free`. On failure it is NULL.
///
/// Returns `SQLKEEP_STATUS_OK`, `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k`,
/// `changes_json` or `out_config_json`, not UTF-8, not JSON) or `SQLKEEP_STATUS_CONFIG`
/// (not an object, unknown key, bad value: the message names the key).
///
/// # Safety
/// `k` is NULL or an open handle; `changes_json` is NULL or a NUL-terminated string;
/// `out_config_json` is NULL or valid for writing one pointer. Safe to call from several
/// threads at once on one handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_configure(
    k: *mut Handle,
    changes_json: *const c_char,
    out_config_json: *mut *mut c_char,
) -> c_int {
    status(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_param(out_config_json, "out_config_json") }?;
        // SAFETY: forwarded from this function's contract.
        let k = unsafe { handle(k) }?;
        // SAFETY: forwarded from this function's contract.
        let changes = unsafe { required_json(changes_json, "changes_json") }?;
        let change = ConfigChange::from_value(&changes, None)?;
        let config = k.keeper().configure(&change)?;
        *out = json_string(&config.to_value())?;
        Ok(())
    })
}

/// Registers `cb` to receive every event of this handle, replacing the previous
/// callback; `cb` NULL removes it.
///
/// `cb` is called with one event as a JSON object and with `user`. Every event has a
/// `type` and a `time`:
/// ```json
/// {"type": "backup_started", "time": "...", "id": "...", "kind": "manual", "label": null}
/// {"type": "backup_succeeded", "time": "...", "id": "...", "kind": "scheduled",
///  "label": null, "size_bytes": 696, "raw_size_bytes": 8192, "duration_ms": 5,
///  "verified": true}
/// {"type": "backup_failed", "time": "...", "id": null, "kind": "scheduled",
///  "label": null, "error": "...", "error_kind": "io", "duration_ms": 3,
///  "retry_at": "..."}
/// {"type": "verify_finished", "time": "...", "id": "...", "level": "full",
///  "ok": false, "detail": "..."}
/// {"type": "restore_finished", "time": "...", "id": "...", "target": "...",
///  "safety_backup": "..." or null, "ok": true, "error": null, "duration_ms": 9}
/// {"type": "backup_deleted", "time": "...", "id": "...", "kind": "scheduled",
///  "size_bytes": 696, "reason": "rotation: not kept by any rule"}
/// {"type": "rotation_finished", "time": "...", "dry_run": false, "kept": 4,
///  "deleted": 1, "freed_bytes": 696}
/// {"type": "test_restore_finished", "time": "...", "id": "...", "ok": true,
///  "detail": "...", "duration_ms": 20}
/// {"type": "progress", "time": "...", "id": "...", "done_pages": 10, "total_pages": 40}
/// {"type": "scheduler_started", "time": "...", "next_run": "..." or null}
/// {"type": "scheduler_stopped", "time": "..."}
/// {"type": "rotation_failed", "time": "...", "error": "...", "error_kind": "io"}
/// {"type": "test_restore_failed", "time": "...", "id": "..." or null, "error": "...",
///  "error_kind": "key"}
/// {"type": "retention_warning", "time": "...", "message": "...",
///  "keys": ["retention.hourly", "retention.keep_within", "retention.keep_last"]}
/// {"type": "offsite_copied", "time": "...", "remote": "nas", "id": "...",
///  "size_bytes": 696, "duration_ms": 40}
/// {"type": "offsite_failed", "time": "...", "remote": "nas", "id": "..." or null,
///  "error": "...", "error_kind": "remote", "missing": 2}
/// {"type": "offsite_deleted", "time": "...", "remote": "nas", "id": "...",
///  "size_bytes": 696, "reason": "rotation: not kept by any rule"}
/// ```
/// Later versions may add event types and fields: ignore those you do not know.
/// `event_json` is valid only during the call: copy it to keep it, never free it.
///
/// Threads: the callback runs on the thread that produced the event, which may be the
/// thread calling a `sqlkeep_*` function, a worker thread of a running backup
/// (`progress`), or the scheduler's thread. Several calls may run at once. So `cb` and
/// `user` must be thread-safe, and `cb` must return promptly (the operation waits for
/// it), must not throw a C++ exception or `longjmp` out, and must not call
/// `sqlkeep_close` or `sqlkeep_scheduler_stop`; other `sqlkeep_*` calls, this one
/// included, are allowed. Nor may it wait for the database: during a restore into the
/// live database, the `pre-restore` backup's `progress` events arrive while the restore
/// holds the database's write lock (hand them to a thread of your own if they lead to
/// reading the database).
///
/// Lifetime: when this function returns, the previous callback is not running on any
/// other thread and will not be called again, so its `user` data may be freed (called
/// from inside the previous callback, it returns without waiting for that very call).
/// The current callback stays registered until replaced or until `sqlkeep_close`.
///
/// Returns `SQLKEEP_STATUS_OK` or `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `k`).
///
/// # Safety
/// `k` is NULL or an open handle; `cb` is NULL or a function with this signature that
/// may be called with `user` from any thread until it is replaced or `k` is closed.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_set_event_callback(
    k: *mut Handle,
    cb: EventCallback,
    user: *mut c_void,
) -> c_int {
    status(|| {
        // SAFETY: forwarded from this function's contract.
        let k = unsafe { handle(k) }?;
        k.set_event_callback(cb, user);
        Ok(())
    })
}

/// Makes a new encryption key: writes an age identity (the `age-keygen` format, which
/// the `age` command reads too) to the new file `out_path`, readable by its owner only
/// (mode 0600). An existing file is never overwritten. Put the public key into
/// `encryption.recipients` and the file's path into `encryption.identity_file` (see
/// `sqlkeep_open`).
///
/// On success `*out_json` receives a JSON object:
/// ```json
/// {"path": "/srv/keys/key.txt", "public_key": "age1...",
///  "warning": "keep a copy of this key file somewhere other than the backups ..."}
/// ```
/// `path` is absolute; show `warning` to the user: backups encrypted to a lost key
/// cannot be read by anyone. Free it with `sqlkeep_string_free`. On failure it is NULL
/// and no file is left behind.
///
/// Returns `SQLKEEP_STATUS_OK`, `SQLKEEP_STATUS_INVALID_ARGUMENT` (NULL `out_path` or
/// `out_json`, `out_path` not UTF-8, the file already exists) or `SQLKEEP_STATUS_IO`
/// (the file cannot be written, e.g. its folder does not exist).
///
/// # Safety
/// `out_path` is NULL or a NUL-terminated string; `out_json` is NULL or valid for
/// writing one pointer. Any thread may call it; needs no handle.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_keygen(
    out_path: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    status(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_param(out_json, "out_json") }?;
        // SAFETY: forwarded from this function's contract.
        let path = unsafe { required_str(out_path, "out_path") }?;
        *out = json_string(&sqlkeep_core::keygen(Path::new(path))?)?;
        Ok(())
    })
}

/// The message of the last failed `sqlkeep_*` call on this thread: what failed, on
/// which file or configuration key, and a hint on what to do. The empty string when the
/// last status-returning call on this thread succeeded (each one clears it first), never
/// NULL.
///
/// The string belongs to sqlkeep: do not free it. It stays valid until the next
/// status-returning `sqlkeep_*` call on this thread; copy it to keep it. Each thread has
/// its own message.
#[no_mangle]
pub extern "C" fn sqlkeep_last_error() -> *const c_char {
    guard(status::last_error_ptr)
}

/// Frees a string that a `sqlkeep_*` function returned through an out-parameter
/// (`out_json`, `out_config_json`). NULL is fine (nothing happens). Call it at most once
/// per string, from any thread; never pass other memory, and never free these strings
/// with `free()`.
///
/// # Safety
/// `s` is NULL or a string returned by sqlkeep and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn sqlkeep_string_free(s: *mut c_char) {
    guard(|| {
        if !s.is_null() {
            // SAFETY: the caller passes a string sqlkeep made with CString::into_raw and
            // frees it only once.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}

/// The library's version, NUL-terminated at compile time.
const VERSION: &CStr = {
    const LEN: usize = sqlkeep_core::VERSION.len();
    const BYTES: [u8; LEN + 1] = {
        let src = sqlkeep_core::VERSION.as_bytes();
        let mut out = [0u8; LEN + 1];
        let mut i = 0;
        while i < LEN {
            out[i] = src[i];
            i += 1;
        }
        out
    };
    match CStr::from_bytes_with_nul(&BYTES) {
        Ok(s) => s,
        Err(_) => panic!("the version holds a NUL byte"),
    }
};

/// The version of the sqlkeep library, e.g. `"0.1.0"`. A static string: do not free it.
#[no_mangle]
pub extern "C" fn sqlkeep_version() -> *const c_char {
    guard(|| VERSION.as_ptr())
}
