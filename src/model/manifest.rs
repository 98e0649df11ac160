//! The JSON manifest written beside every backup file.
//!
//! Format 1 and how it grows:
//! - Readers ignore fields they do not know and keep them when they rewrite a manifest
//!   (`extra`), so later versions can add optional fields (remote copies, say) freely.
//! - A capability a reader *must* understand to use the backup (an incremental backup that
//!   needs its parent, an encrypted file) is named in `requires`. A reader that finds a
//!   name it does not know refuses the backup with "needs a newer sqlkeep" instead of
//!   misreading it. Format 1 writers leave `requires` out.
//! - `format` changes only if the meaning of an existing field changes.

use crate::config::{Compression, VerifyLevel};
use crate::error::{Error, Operation, Result};
pub use crate::model::kind::Kind;
use crate::model::timefmt::{rfc3339, rfc3339_opt};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::Path;

/// The manifest format this version writes.
pub const FORMAT: u32 = 1;

/// The `requires` entry of an encrypted backup: the data file is an age file.
pub const REQUIRES_AGE: &str = "age";

/// The `requires` capabilities this version understands.
pub const UNDERSTOOD_REQUIREMENTS: &[&str] = &[REQUIRES_AGE];

/// How a data file is encrypted: public facts only, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encrypted {
    /// The file format, `"age"`.
    pub format: String,
    /// The X25519 public keys it was encrypted to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// For a passphrase: the environment variable it was read from when written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_env: Option<String>,
}

/// The outcome of checking a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// How thoroughly it was checked.
    pub level: VerifyLevel,
    /// Whether every check passed.
    pub ok: bool,
    /// When it was checked.
    #[serde(with = "rfc3339")]
    pub at: DateTime<Utc>,
    /// What was checked, or what was wrong.
    pub detail: String,
}

impl Verification {
    /// The verification as reported for backup `id`: `{"id", "ok", "level", "at",
    /// "detail"}`, the shape of `sqlkeep verify --json` and of the C ABI.
    pub fn report(&self, id: &str) -> serde_json::Value {
        serde_json::json!({
            "id": id,
            "ok": self.ok,
            "level": self.level.as_str(),
            "at": crate::model::timefmt::format(&self.at),
            "detail": self.detail,
        })
    }
}

/// Everything known about one backup. Field names are the contract of format 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format version.
    pub format: u32,
    /// Capabilities a reader must understand (empty in format 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// `<db-stem>-<UTC yyyymmddThhmmssZ>-<kind>[-n]`, also the file stem.
    pub id: String,
    /// Why it was taken.
    pub kind: Kind,
    /// Free-text label.
    pub label: Option<String>,
    /// When the snapshot was taken.
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    /// Absolute path of the source database.
    pub database: String,
    /// File name of the backup, in the same directory as the manifest.
    pub file: String,
    /// `gzip`, `zstd` or `none`.
    pub compression: Compression,
    /// Level used for `compression`.
    #[serde(default)]
    pub compression_level: u32,
    /// Size of the backup file.
    pub size_bytes: u64,
    /// SHA-256 of the backup file, lower-case hex.
    pub sha256: String,
    /// Size of the SQLite database inside.
    pub raw_size_bytes: u64,
    /// SHA-256 of the database image inside, recorded only when that very image passed
    /// the source's full check at backup time: a restore that decodes bytes with this hash
    /// has proof they passed, and need not run the check again. Absent in older manifests
    /// and when the backup was not fully checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_sha256: Option<String>,
    // The source's facts. They keep the SQLite names of format 1; a source without such a
    // fact leaves it at its default (the SQLite source's check compares all of them).
    /// SQLite page size of the database (the unit progress is counted in).
    #[serde(default)]
    pub page_size: u32,
    /// Pages in the database.
    #[serde(default)]
    pub page_count: u64,
    /// `PRAGMA user_version` (the application's schema version).
    #[serde(default)]
    pub user_version: i64,
    /// Journal mode of the source at backup time (`wal`, `delete`, ...).
    #[serde(default)]
    pub journal_mode: String,
    /// SQLite library version that took the backup.
    #[serde(default)]
    pub sqlite_version: String,
    /// sqlkeep version that took the backup.
    pub sqlkeep_version: String,
    /// Wall time of the backup, verification included.
    pub duration_ms: u64,
    /// How long the source's read transaction was open for the raw copy (in rollback
    /// journal modes, how long writers waited at commit).
    #[serde(default)]
    pub copy_ms: u64,
    /// The latest verification, once verified.
    #[serde(default)]
    pub verification: Option<Verification>,
    /// How the data file is encrypted; absent for a file in the clear. Always together
    /// with [`REQUIRES_AGE`] in `requires`, so an older sqlkeep refuses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encrypted>,
    /// When a restore was last made from this backup.
    #[serde(default, with = "rfc3339_opt", skip_serializing_if = "Option::is_none")]
    pub last_restored_at: Option<DateTime<Utc>>,
    /// Fields written by newer versions; kept when the manifest is rewritten.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Manifest {
    /// Parses and checks a manifest read from `path`. Anything unreadable is
    /// [`crate::ErrorKind::Corrupt`] with the reason.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Manifest> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| {
            Error::corrupt(
                Operation::Verify,
                format!("manifest {} is unreadable: {e}", path.display()),
            )
        })?;
        let stem = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
            .unwrap_or("");
        if m.format > FORMAT {
            return Err(Error::corrupt(
                Operation::Verify,
                format!(
                    "manifest {} has format {}, this sqlkeep reads format {FORMAT}",
                    path.display(),
                    m.format
                ),
            )
            .with_hint("upgrade sqlkeep to use this backup"));
        }
        if let Some(r) = m
            .requires
            .iter()
            .find(|r| !UNDERSTOOD_REQUIREMENTS.contains(&r.as_str()))
        {
            return Err(Error::corrupt(
                Operation::Verify,
                format!(
                    "backup {} requires {r:?}, which this sqlkeep does not support",
                    m.id
                ),
            )
            .with_hint("upgrade sqlkeep to use this backup"));
        }
        if m.id != stem {
            return Err(Error::corrupt(
                Operation::Verify,
                format!(
                    "manifest {} describes backup {:?}, not {stem:?} (manifests swapped or renamed)",
                    path.display(),
                    m.id
                ),
            ));
        }
        if m.requires.iter().any(|r| r == REQUIRES_AGE) != m.encryption.is_some() {
            return Err(Error::corrupt(
                Operation::Verify,
                format!(
                    "manifest {} is inconsistent: `requires` and `encryption` disagree on whether the file is encrypted",
                    path.display()
                ),
            ));
        }
        let expected_file =
            crate::model::backup_id::data_name(&m.id, m.compression, m.encryption.is_some());
        if m.file != expected_file {
            return Err(Error::corrupt(
                Operation::Verify,
                format!(
                    "manifest {} names file {:?}, expected {expected_file:?}",
                    path.display(),
                    m.file
                ),
            ));
        }
        Ok(m)
    }

    /// The manifest as pretty JSON with a trailing newline.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a manifest always serialises");
        v.push(b'\n');
        v
    }

    /// Whether the data file is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.encryption.is_some()
    }

    /// Whether the latest verification passed.
    pub fn verified(&self) -> bool {
        self.verification.as_ref().is_some_and(|v| v.ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading a manifest and writing it back reaches a fixed point at once: times are
    /// kept at the millisecond precision they are written with, and numbers in unknown
    /// fields keep their exact value (serde_json's default float parser can land one ulp
    /// off its own output; `float_roundtrip` makes it exact). Both were found by the
    /// manifest_parse fuzz target; the input is its corpus entry
    /// `regression-nanosecond-created-at`.
    #[test]
    fn a_manifest_read_and_written_back_is_unchanged() {
        let input =
            include_bytes!("../../fuzz/corpus/manifest_parse/regression-nanosecond-created-at");
        let path = Path::new("/backups/tiny-20261123T114606Z-manual.json");
        let m = Manifest::parse(input, path).expect("the regression input is a valid manifest");
        assert_eq!(
            crate::model::timefmt::format(&m.created_at),
            "2026-11-23T11:46:06.421Z"
        );
        let weight = &m.extra["remote_copies"][0]["weight"];
        assert_eq!(weight.as_f64(), Some(1.577_777_777_777_000_1));
        let written = m.to_json_bytes();
        let again = Manifest::parse(&written, path).expect("what was written parses");
        assert_eq!(again, m);
        assert_eq!(again.to_json_bytes(), written);
    }
}
