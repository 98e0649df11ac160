//! Status codes and the thread-local last error: the one channel through which a failure
//! reaches C (rustls-ffi's `rustls_result` for the codes, symbolic-cabi for the message).

use sqlkeep_core::ErrorKind;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};

/// What a `sqlkeep_*` function that returns `int` reports: 0 for success, a negative code
/// for each class of failure. The message of the failure is in `sqlkeep_last_error()`.
///
/// Values are grouped by where the failure comes from and are never reused: a retired
/// code stays listed here as a comment so that no later version gives it a new meaning.
/// A caller that meets a negative value it does not know should treat it as a failure
/// and show the message.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Success.
    Ok = 0,

    // -1 to -9: the call itself.
    /// An argument can never be valid: a NULL pointer where one is required, a string
    /// that is not UTF-8, text that is not JSON, a negative count, an unknown backup kind,
    /// a restore target that already exists.
    InvalidArgument = -1,
    /// sqlkeep panicked (a bug; please report it with the message). The handle stays
    /// usable; the operation may not have finished.
    Panic = -2,
    /// A failure of a class this version of the header does not name yet; the message
    /// says what happened.
    Other = -3,

    // -10 to -19: configuration.
    /// A configuration value is missing, of the wrong type or out of range; the message
    /// names the key (`retention.daily`, ...) and shows the accepted form.
    Config = -10,

    // -20 to -29: the file system and other processes.
    /// A file system operation failed (permissions, disk full, missing directory, ...).
    Io = -20,
    /// The named backup or database does not exist.
    NotFound = -21,
    /// Another operation (in this process or another) holds a lock this one needs, or
    /// the database stayed locked longer than the busy timeout; try again later.
    Busy = -22,

    // -30 to -39: the database and the backups.
    /// SQLite reported an error on the source or on a restored database.
    Sqlite = -30,
    /// A backup failed verification: its file or manifest is damaged or missing.
    Corrupt = -31,

    // -40 to -49: encryption.
    /// An encrypted backup cannot be opened, or a new one cannot be encrypted: its key
    /// (the identity file or the passphrase's environment variable) is missing,
    /// unreadable, readable by other users, or not one the backup was encrypted to. The
    /// message names the setting to fix (`encryption.identity_file`,
    /// `encryption.passphrase_env`). The backup itself is not judged damaged.
    Key = -40,

    // -50 to -59: offsite copies.
    /// A remote (an entry of `remotes`) could not be reached or refused the request:
    /// network down, wrong credentials, bucket missing, quota. The message names the
    /// remote and never holds a credential. The local backups are not affected.
    Remote = -50,

    // -60: on request.
    /// The operation was cancelled (`sqlkeep_cancel`): it stopped and removed what it had
    /// written; it is logged as cancelled, not as a failure.
    Cancelled = -60,

    // -70 to -79: PostgreSQL.
    /// A PostgreSQL database (a `postgresql://` URI in `database`) or one of its client
    /// programs refused: the server cannot be reached, authentication failed (the
    /// password comes from `PGPASSWORD`, `~/.pgpass` or `PGPASSFILE`, never from the
    /// configuration), `psql`, `pg_dump` or `pg_restore` is missing or older than the
    /// server, the user lacks a privilege (`CREATEDB` for a restore into a new database
    /// or a full verification), a statement failed. The message names the program and
    /// the URI (without a password). The backups are not affected. A database that does
    /// not exist is `SQLKEEP_STATUS_NOT_FOUND` instead.
    Postgres = -70,
}

impl Status {
    /// The code as the C functions return it.
    pub(crate) fn code(self) -> c_int {
        self as c_int
    }
}

impl From<ErrorKind> for Status {
    fn from(kind: ErrorKind) -> Status {
        match kind {
            ErrorKind::Config => Status::Config,
            ErrorKind::Io => Status::Io,
            ErrorKind::Sqlite => Status::Sqlite,
            ErrorKind::Corrupt => Status::Corrupt,
            ErrorKind::NotFound => Status::NotFound,
            ErrorKind::Busy => Status::Busy,
            ErrorKind::InvalidArgument => Status::InvalidArgument,
            ErrorKind::Key => Status::Key,
            ErrorKind::Remote => Status::Remote,
            ErrorKind::Cancelled => Status::Cancelled,
            ErrorKind::Postgres => Status::Postgres,
            // ErrorKind is non_exhaustive: a kind added to the core after this mapping
            // still reaches C as a failure with its message.
            _ => Status::Other,
        }
    }
}

/// A failed call: the status to return and the message for `sqlkeep_last_error()`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: Status,
    pub message: String,
}

impl Failure {
    pub fn new(status: Status, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Failure {
        Failure::new(Status::InvalidArgument, message)
    }
}

impl From<sqlkeep_core::Error> for Failure {
    fn from(e: sqlkeep_core::Error) -> Failure {
        // Display carries the key of a configuration error and the hint.
        Failure::new(e.kind().into(), e.to_string())
    }
}

thread_local! {
    /// The message of the last failed call on this thread; `None` after a success.
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Forgets the previous message: every status-returning call starts with this, so the
/// message always describes the latest such call on this thread.
pub(crate) fn clear_last_error() {
    LAST_ERROR.with(|e| e.borrow_mut().take());
}

/// Records `message` as this thread's last error.
pub(crate) fn set_last_error(message: &str) {
    // A C string ends at the first NUL; none can come from C input, but be total.
    let c = CString::new(message.replace('\0', "\u{FFFD}")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = Some(c));
}

/// The last error of this thread, or the empty string; valid until the next
/// status-returning call on this thread (it owns the buffer).
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| match &*e.borrow() {
        Some(c) => c.as_ptr(),
        None => c"".as_ptr(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn every_error_kind_has_its_own_code() {
        let kinds = [
            (ErrorKind::Config, Status::Config),
            (ErrorKind::Io, Status::Io),
            (ErrorKind::Sqlite, Status::Sqlite),
            (ErrorKind::Corrupt, Status::Corrupt),
            (ErrorKind::NotFound, Status::NotFound),
            (ErrorKind::Busy, Status::Busy),
            (ErrorKind::InvalidArgument, Status::InvalidArgument),
            (ErrorKind::Key, Status::Key),
            (ErrorKind::Remote, Status::Remote),
            (ErrorKind::Cancelled, Status::Cancelled),
            (ErrorKind::Postgres, Status::Postgres),
        ];
        // Every kind is listed above, so each one's code is pinned, not only "not Other".
        assert_eq!(kinds.len(), ErrorKind::ALL.len(), "a kind is missing here");
        let mut codes = std::collections::HashSet::new();
        for (kind, status) in kinds {
            assert_eq!(Status::from(kind), status);
            assert!(status.code() < 0);
            assert!(codes.insert(status.code()), "{status:?} reuses a code");
        }
        assert!(!codes.contains(&Status::Panic.code()));
        assert!(!codes.contains(&Status::Other.code()));
        assert_eq!(Status::Ok.code(), 0);
        // A kind the core gains must get a code here, not fall through to `Other`.
        for kind in ErrorKind::ALL {
            assert_ne!(Status::from(kind), Status::Other, "{kind:?} has no code");
        }
    }

    #[test]
    fn codes_keep_their_numbers() {
        // Published in sqlkeep.h: a code never changes its number once released.
        let published = [
            (Status::Ok, 0),
            (Status::InvalidArgument, -1),
            (Status::Panic, -2),
            (Status::Other, -3),
            (Status::Config, -10),
            (Status::Io, -20),
            (Status::NotFound, -21),
            (Status::Busy, -22),
            (Status::Sqlite, -30),
            (Status::Corrupt, -31),
            (Status::Key, -40),
            (Status::Remote, -50),
            (Status::Cancelled, -60),
            (Status::Postgres, -70),
        ];
        for (status, code) in published {
            assert_eq!(status.code(), code, "{status:?}");
        }
    }

    #[test]
    fn a_postgres_error_keeps_its_code_message_and_hint() {
        let e = sqlkeep_core::Error::new(
            ErrorKind::Postgres,
            sqlkeep_core::Operation::Backup,
            "psql failed on postgresql://app@127.0.0.1:1/shop: connection refused",
        )
        .with_hint("is the PostgreSQL server running?");
        let f = Failure::from(e);
        assert_eq!(f.status, Status::Postgres);
        assert_eq!(f.status.code(), -70);
        assert!(f
            .message
            .contains("psql failed on postgresql://app@127.0.0.1:1/shop"));
        assert!(f
            .message
            .contains("(hint: is the PostgreSQL server running?)"));
    }

    fn last_error() -> String {
        // SAFETY: last_error_ptr returns a NUL-terminated string owned by this thread's
        // slot (or a static), unchanged until the next set or clear on this thread.
        unsafe { CStr::from_ptr(last_error_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn last_error_is_per_thread_and_cleared() {
        clear_last_error();
        assert_eq!(last_error(), "");
        set_last_error("disk full\0!");
        assert_eq!(last_error(), "disk full\u{FFFD}!");
        std::thread::spawn(|| assert_eq!(last_error(), ""))
            .join()
            .unwrap();
        assert_eq!(last_error(), "disk full\u{FFFD}!");
        clear_last_error();
        assert_eq!(last_error(), "");
    }
}
