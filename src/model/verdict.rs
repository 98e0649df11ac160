//! What a check found wrong with a backup. A damaged backup is a finding, not an error:
//! errors are for not being able to check at all (no space for a temporary copy, say).

use std::fmt;

/// The verdict of a check: `Err(damage)` when the backup is damaged.
pub type Verdict = std::result::Result<(), Damage>;

/// How a backup is damaged. `Display` gives the sentence shown to users and written into
/// the manifest's verification detail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Damage {
    /// The manifest is missing or unreadable.
    Manifest(String),
    /// The data file is gone.
    Missing { file: String },
    /// The data file cannot be read.
    Unreadable {
        file: Option<String>,
        reason: String,
    },
    /// The data file's size differs from the manifest's.
    WrongSize { actual: u64, expected: u64 },
    /// The compressed stream does not decode.
    Stream {
        compression: &'static str,
        after_bytes: u64,
        reason: String,
    },
    /// The data file's SHA-256 differs from the manifest's.
    Checksum { actual: String, expected: String },
    /// The stream decodes to a different number of bytes than recorded.
    RawSize { actual: u64, expected: u64 },
    /// The decoded image's SHA-256 differs from the one recorded when the backup's image
    /// passed its check: these are not the bytes that were checked.
    RawChecksum { actual: String, expected: String },
    /// The restored copy does not open as a database.
    DoesNotOpen(String),
    /// The source's own integrity check failed (SQLite: `PRAGMA integrity_check`).
    Integrity(Vec<String>),
    /// A recorded property of the restored copy differs (page size, page count, ...).
    Mismatch {
        what: &'static str,
        actual: String,
        expected: String,
    },
    /// The restored copy opens but cannot be read through.
    DatabaseUnreadable(String),
    /// A file an incremental backup is rebuilt from (written by backup `id`) is damaged:
    /// every backup whose chain names it reports this, naming the file.
    Link {
        id: String,
        file: String,
        cause: Box<Damage>,
    },
}

impl Damage {
    /// A short stable name of the kind of damage.
    pub fn as_str(&self) -> &'static str {
        match self {
            Damage::Manifest(_) => "manifest",
            Damage::Missing { .. } => "missing",
            Damage::Unreadable { .. } => "unreadable",
            Damage::WrongSize { .. } => "wrong_size",
            Damage::Stream { .. } => "stream",
            Damage::Checksum { .. } => "checksum",
            Damage::RawSize { .. } => "raw_size",
            Damage::RawChecksum { .. } => "raw_checksum",
            Damage::DoesNotOpen(_) => "does_not_open",
            Damage::Integrity(_) => "integrity",
            Damage::Mismatch { .. } => "mismatch",
            Damage::DatabaseUnreadable(_) => "database_unreadable",
            Damage::Link { .. } => "chain",
        }
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::Manifest(reason) => f.write_str(reason),
            Damage::Missing { file } => write!(f, "backup file {file} is missing"),
            Damage::Unreadable { file: Some(file), reason } => {
                write!(f, "backup file {file} cannot be read: {reason}")
            }
            Damage::Unreadable { file: None, reason } => {
                write!(f, "backup file cannot be read: {reason}")
            }
            Damage::WrongSize { actual, expected } => write!(
                f,
                "backup file has {actual} bytes, the manifest says {expected} (truncated or damaged)"
            ),
            Damage::Stream { compression, after_bytes, reason } => {
                write!(f, "{compression} stream is damaged after {after_bytes} bytes: {reason}")
            }
            Damage::Checksum { actual, expected } => write!(
                f,
                "SHA-256 mismatch: file has {actual}, manifest says {expected} (the file changed or is damaged)"
            ),
            Damage::RawSize { actual, expected } => {
                write!(f, "decompressed to {actual} bytes, the manifest says {expected}")
            }
            Damage::RawChecksum { actual, expected } => write!(
                f,
                "SHA-256 of the decompressed database is {actual}, the manifest records {expected} for the image that passed its check"
            ),
            Damage::DoesNotOpen(reason) => write!(f, "the database does not open: {reason}"),
            Damage::Integrity(problems) => write!(f, "integrity_check: {}", problems.join("; ")),
            Damage::Mismatch { what, actual, expected } => {
                write!(f, "{what} is {actual}, the manifest says {expected}")
            }
            Damage::DatabaseUnreadable(reason) => {
                write!(f, "SQLite cannot read the database: {reason}")
            }
            Damage::Link { id, file, cause } => write!(
                f,
                "it is rebuilt from {file} (written by backup {id}), which is damaged: {cause}"
            ),
        }
    }
}
