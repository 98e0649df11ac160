//! The one error type of the core.
//!
//! Every error carries a [`ErrorKind`] (what class of failure, which the C ABI turns into a
//! status code and Python into an exception class), the [`Operation`] it happened in, a
//! message that names the file or key involved, and a hint that tells the user what to do.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Shorthand for results of the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What class of failure an [`Error`] is. Stable: bindings map each kind to a code or class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A configuration value is missing, of the wrong type or out of range.
    Config,
    /// A file system operation failed (permissions, disk full, missing directory...).
    Io,
    /// SQLite reported an error on the source or a restored database.
    Sqlite,
    /// A backup failed verification: its file or manifest is damaged or missing.
    Corrupt,
    /// The named backup or database does not exist.
    NotFound,
    /// Another operation holds a lock that this one needs; try again later.
    Busy,
    /// The caller passed an argument that can never be valid (bad kind, bad id...).
    InvalidArgument,
    /// An encrypted backup cannot be opened: its key (identity file or passphrase) is
    /// missing, unreadable, readable by other users, or not one it was encrypted to. The
    /// backup itself is not judged damaged.
    Key,
    /// A remote (offsite copy) could not be reached or refused the request: network
    /// down, wrong credentials, bucket missing, quota. The local backups are not affected.
    Remote,
    /// The operation was cancelled on request (`Keeper::cancel`); nothing was left behind.
    Cancelled,
    /// PostgreSQL or its programs refused (issue 17): the server cannot be reached,
    /// authentication failed, `pg_dump` is missing or older than the server, a statement
    /// failed. The backups are not affected.
    Postgres,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::Config,
        ErrorKind::Io,
        ErrorKind::Sqlite,
        ErrorKind::Corrupt,
        ErrorKind::NotFound,
        ErrorKind::Busy,
        ErrorKind::InvalidArgument,
        ErrorKind::Key,
        ErrorKind::Remote,
        ErrorKind::Cancelled,
        ErrorKind::Postgres,
    ];

    /// The kind named `s` (see [`ErrorKind::as_str`]).
    pub fn parse(s: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A short, stable, lower-case name (`"config"`, `"io"`, ...), used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Io => "io",
            ErrorKind::Sqlite => "sqlite",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Busy => "busy",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::Key => "key",
            ErrorKind::Remote => "remote",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Postgres => "postgres",
        }
    }
}

impl serde::Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // A kind added by a newer sqlkeep, read from a shared log, is still a failure;
        // reading it as an I/O failure keeps the log line instead of dropping it.
        Ok(ErrorKind::parse(&s).unwrap_or(ErrorKind::Io))
    }
}

/// Which user-visible operation failed. Lets bindings pick, say, `RestoreError` over
/// `BackupError` for an I/O failure during a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    Config,
    Backup,
    Verify,
    Restore,
    Rotate,
    Log,
    Schedule,
    Diff,
    /// Copying backups to a remote, or reading them there.
    Offsite,
    /// Writing a backup out as a self-contained file (`sqlkeep export`).
    Export,
}

impl Operation {
    /// Lower-case name of the operation.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Config => "config",
            Operation::Backup => "backup",
            Operation::Verify => "verify",
            Operation::Restore => "restore",
            Operation::Rotate => "rotate",
            Operation::Log => "log",
            Operation::Schedule => "schedule",
            Operation::Diff => "diff",
            Operation::Offsite => "offsite",
            Operation::Export => "export",
        }
    }
}

/// An error of the sqlkeep core: kind, operation, message, optional path, key and hint.
/// Boxed so that `Result<T, Error>` stays one pointer wide on the happy path.
#[derive(Debug)]
pub struct Error {
    inner: Box<ErrorInner>,
}

#[derive(Debug)]
struct ErrorInner {
    kind: ErrorKind,
    op: Operation,
    message: String,
    key: Option<String>,
    path: Option<PathBuf>,
    hint: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// A new error of `kind` during `op` with `message`.
    pub fn new(kind: ErrorKind, op: Operation, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(ErrorInner {
                kind,
                op,
                message: message.into(),
                key: None,
                path: None,
                hint: None,
                source: None,
            }),
        }
    }

    /// A configuration error that names the offending `key`.
    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        let key = key.into();
        let mut e = Error::new(ErrorKind::Config, Operation::Config, message);
        e.inner.key = Some(key);
        e
    }

    /// A key problem with an encrypted backup; `setting` names the configuration key to
    /// fix (`encryption.identity_file`, `encryption.passphrase_env`).
    pub fn key_problem(op: Operation, setting: &str, message: impl Into<String>) -> Self {
        let mut e = Error::new(ErrorKind::Key, op, message);
        e.inner.key = Some(setting.to_string());
        e
    }

    /// An argument that can never be valid.
    pub fn invalid_argument(op: Operation, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, op, message)
    }

    /// A backup that failed verification.
    pub fn corrupt(op: Operation, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Corrupt, op, message)
    }

    /// Something that does not exist.
    pub fn not_found(op: Operation, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, op, message)
    }

    /// A lock held by another operation.
    pub fn busy(op: Operation, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Busy, op, message)
            .with_hint("another backup, rotation or restore is using this backup directory; try again when it finishes")
    }

    /// An I/O error while doing `action` on `path`. Disk-full and permission errors get a
    /// hint that says what to do about them.
    pub fn io(op: Operation, action: &str, path: &Path, source: io::Error) -> Self {
        let hint = match source.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
                Some("the disk is full: free space or point backup_dir at a larger disk")
            }
            io::ErrorKind::FileTooLarge => {
                Some("the file size limit was reached: raise it or use compression")
            }
            io::ErrorKind::PermissionDenied => {
                Some("check the file permissions of this path for the user running sqlkeep")
            }
            io::ErrorKind::NotFound => Some("check that the path exists"),
            _ => None,
        };
        let kind = if source.kind() == io::ErrorKind::NotFound && op == Operation::Restore {
            ErrorKind::NotFound
        } else {
            ErrorKind::Io
        };
        let mut e = Error::new(kind, op, format!("{action} {}: {source}", path.display()));
        e.inner.path = Some(path.to_path_buf());
        e.inner.hint = hint.map(str::to_string);
        e.inner.source = Some(Box::new(source));
        e
    }

    /// An SQLite error while doing `action` on the database at `path`. `SQLITE_BUSY` and
    /// `SQLITE_LOCKED` become [`ErrorKind::Busy`].
    pub fn sqlite(op: Operation, action: &str, path: &Path, source: rusqlite::Error) -> Self {
        let code = source.sqlite_error_code();
        let kind = match code {
            Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
                ErrorKind::Busy
            }
            Some(rusqlite::ErrorCode::NotADatabase)
            | Some(rusqlite::ErrorCode::DatabaseCorrupt) => ErrorKind::Corrupt,
            _ => ErrorKind::Sqlite,
        };
        let hint = match kind {
            ErrorKind::Busy => Some(
                "another connection holds a lock on the database longer than the busy timeout; \
                 retry, or finish the long transaction",
            ),
            ErrorKind::Corrupt => Some("the file is not a valid SQLite database"),
            _ => match code {
                Some(rusqlite::ErrorCode::DiskFull) => {
                    Some("the disk is full: free space or point backup_dir at a larger disk")
                }
                Some(rusqlite::ErrorCode::CannotOpen) => {
                    Some("check that the file exists and is readable by this user")
                }
                _ => None,
            },
        };
        let mut e = Error::new(kind, op, format!("{action} {}: {source}", path.display()));
        e.inner.path = Some(path.to_path_buf());
        e.inner.hint = hint.map(str::to_string);
        e.inner.source = Some(Box::new(source));
        e
    }

    /// Adds (or replaces) the hint that tells the user what to do.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.inner.hint = Some(hint.into());
        self
    }

    /// Re-labels the operation (an I/O error inside a restore's verification is a restore
    /// failure to the caller).
    pub fn during(mut self, op: Operation) -> Self {
        self.inner.op = op;
        self
    }

    /// The class of failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The operation that failed.
    pub fn operation(&self) -> Operation {
        self.inner.op
    }

    /// The message without the hint.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The configuration key at fault, for [`ErrorKind::Config`].
    pub fn key(&self) -> Option<&str> {
        self.inner.key.as_deref()
    }

    /// The file involved, when there is one.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<&str> {
        self.inner.hint.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.key {
            Some(key) => write!(f, "configuration key `{key}`: {}", self.inner.message)?,
            None => write!(f, "{}", self.inner.message)?,
        }
        if let Some(hint) = &self.inner.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
