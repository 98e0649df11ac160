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
use crate::model::backup_id::{BackupId, Content};
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

/// The `requires` entry of a PostgreSQL backup: the data is a `pg_dump` custom-format
/// archive, restored with `pg_restore`, not a SQLite file.
pub const REQUIRES_POSTGRES: &str = "postgres";

/// The `requires` entry of an incremental backup (issue 12): its data file holds only
/// the pages that changed, and a database is rebuilt from every file of its `chain`.
pub const REQUIRES_INCREMENTAL: &str = "incremental";

/// The `requires` capabilities this version understands.
pub const UNDERSTOOD_REQUIREMENTS: &[&str] =
    &[REQUIRES_AGE, REQUIRES_POSTGRES, REQUIRES_INCREMENTAL];

/// What an incremental backup is rebuilt from (docs/FORMAT.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incremental {
    /// The backup whose pages this one compared against (it may be deleted since: the
    /// chain keeps what is needed).
    pub parent: String,
    /// The files the database is rebuilt from, oldest first: the full backup the chain
    /// starts with, then the pages each incremental stored, this backup's own file last.
    pub chain: Vec<ChainLink>,
    /// SHA-256 of the database image this backup took, hex: a rebuild must give exactly
    /// these bytes (whether or not the image passed a full check; `raw_sha256` says that).
    pub image_sha256: String,
}

/// One file of an incremental backup's chain, with what proves it intact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    /// The backup that wrote the file.
    pub id: String,
    /// Its name, in the backup folder or, once that backup is deleted, in `pieces/`.
    pub file: String,
    /// How it is compressed.
    pub compression: Compression,
    /// Its size.
    pub size_bytes: u64,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
    /// What it decodes to: the database for the first link, page records for the rest.
    pub raw_size_bytes: u64,
    /// Pages it holds.
    pub pages: u64,
    /// How it is encrypted, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encrypted>,
}

impl Incremental {
    /// The ids this backup depends on (the chain without itself), oldest first.
    pub fn depends_on(&self) -> Vec<String> {
        let n = self.chain.len().saturating_sub(1);
        self.chain[..n].iter().map(|l| l.id.clone()).collect()
    }
}

/// What a PostgreSQL backup recorded inside its snapshot: versions, and the exact row
/// count of every table, which a full check compares after restoring the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgFacts {
    /// The server's version (`server_version`).
    pub server_version: String,
    /// The `pg_dump` that wrote the archive (`pg_dump --version`).
    pub pg_dump_version: String,
    /// The database's name.
    pub database: String,
    /// Every table in the dump, with its row count in the dump's snapshot.
    pub tables: Vec<TableRows>,
}

impl Incremental {
    /// Whether the chain can describe `m`: a full SQLite file first, page files after it,
    /// `m`'s own file last, and no name that leaves the folder.
    fn check(&self, m: &Manifest) -> std::result::Result<(), String> {
        let (Some(first), Some(last)) = (self.chain.first(), self.chain.last()) else {
            return Err("it is empty".into());
        };
        if self.chain.len() < 2 {
            return Err("it has no full backup to start from".into());
        }
        for link in &self.chain {
            let Some((id, Some(_))) = BackupId::of_file_name(&link.file) else {
                return Err(format!("{:?} is not a backup file name", link.file));
            };
            let want = if std::ptr::eq(link, first) {
                Content::Sqlite
            } else {
                Content::Pages
            };
            let expected = crate::model::backup_id::data_name(
                id.as_str(),
                link.compression,
                link.encryption.is_some(),
                want,
            );
            if id.as_str() != link.id || link.file != expected {
                return Err(format!(
                    "link {:?} names file {:?}, expected {expected:?}",
                    link.id, link.file
                ));
            }
        }
        if last.id != m.id || last.file != m.file || last.sha256 != m.sha256 {
            return Err("its last link is not this backup's file".into());
        }
        if m.postgres.is_some() {
            return Err("a PostgreSQL backup is never incremental".into());
        }
        // A rebuild sizes its work by these: they must describe whole pages that a
        // 4-byte page number can name.
        let page_size = u64::from(m.page_size);
        if !crate::pipeline::pages::valid_page_size(m.page_size)
            || m.page_count > u64::from(u32::MAX)
            || m.page_count.checked_mul(page_size) != Some(m.raw_size_bytes)
        {
            return Err(format!(
                "{} pages of {} bytes do not make {} bytes",
                m.page_count, m.page_size, m.raw_size_bytes
            ));
        }
        Ok(())
    }
}

impl Manifest {
    /// The manifest `check_stream` checks one link of an incremental chain against: this
    /// backup's facts with the link's file, size, hashes and encryption.
    pub fn link_probe(&self, link: &ChainLink) -> Manifest {
        let mut probe = self.clone();
        probe.id = link.id.clone();
        probe.file = link.file.clone();
        probe.compression = link.compression;
        probe.size_bytes = link.size_bytes;
        probe.sha256 = link.sha256.clone();
        probe.raw_size_bytes = link.raw_size_bytes;
        probe.raw_sha256 = None;
        probe.encryption = link.encryption.clone();
        probe.incremental = None;
        probe
            .requires
            .retain(|r| r != REQUIRES_INCREMENTAL && r != REQUIRES_AGE);
        if probe.encryption.is_some() {
            probe.requires.push(REQUIRES_AGE.to_string());
        }
        probe
    }

    /// The source's full check, as details name it.
    pub fn full_check_name(&self) -> &'static str {
        match self.postgres {
            Some(_) => "pg_restore into a scratch database with matching row counts",
            None => "integrity_check",
        }
    }

    /// What the image holds, in a few words: pages for SQLite, tables and rows for
    /// PostgreSQL.
    pub fn image_summary(&self) -> String {
        match &self.postgres {
            Some(pg) => format!(
                "{} tables, {} rows",
                pg.tables.len(),
                pg.tables.iter().map(|t| t.rows).sum::<u64>()
            ),
            None => format!(
                "{} pages of {} bytes, user_version {}",
                self.page_count, self.page_size, self.user_version
            ),
        }
    }
}

impl TableRows {
    /// `schema.table`, for messages.
    pub fn name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

/// One table of a PostgreSQL backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRows {
    /// The table's schema (`public`).
    pub schema: String,
    /// The table's name, as the catalogue has it (unquoted).
    pub table: String,
    /// Rows in the snapshot.
    pub rows: u64,
}

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
    /// What an incremental backup is rebuilt from (issue 12); absent for a full backup.
    /// Such a manifest names [`REQUIRES_INCREMENTAL`] in `requires`; its `file` holds
    /// only the pages that changed, and `size_bytes` is what this backup added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<Incremental>,
    /// With `incremental` on, why this backup is a full one ("a full backup was asked
    /// for", "the chain of the newest backup has 30 files", ...); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_because: Option<String>,
    /// A PostgreSQL backup's facts (issue 17); absent for SQLite. Such a manifest names
    /// [`REQUIRES_POSTGRES`] in `requires`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PgFacts>,
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
        if m.requires.iter().any(|r| r == REQUIRES_POSTGRES) != m.postgres.is_some() {
            return Err(Error::corrupt(
                Operation::Verify,
                format!(
                    "manifest {} is inconsistent: `requires` and `postgres` disagree on whether the file is a PostgreSQL archive",
                    path.display()
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
        if m.requires.iter().any(|r| r == REQUIRES_INCREMENTAL) != m.incremental.is_some() {
            return Err(Error::corrupt(
                Operation::Verify,
                format!(
                    "manifest {} is inconsistent: `requires` and `incremental` disagree on whether the backup is incremental",
                    path.display()
                ),
            ));
        }
        if let Some(inc) = &m.incremental {
            inc.check(&m).map_err(|why| {
                Error::corrupt(
                    Operation::Verify,
                    format!("manifest {} has an unusable chain: {why}", path.display()),
                )
            })?;
        }
        let what = match (&m.postgres, &m.incremental) {
            (Some(_), _) => Content::Postgres,
            (None, Some(_)) => Content::Pages,
            (None, None) => Content::Sqlite,
        };
        let expected_file =
            crate::model::backup_id::data_name(&m.id, m.compression, m.encryption.is_some(), what);
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

    fn incremental(change: impl FnOnce(&mut Value)) -> Result<Manifest> {
        let link = |id: &str, file: &str| {
            serde_json::json!({"id": id, "file": file, "compression": "zstd", "size_bytes": 10,
                               "sha256": "ab", "raw_size_bytes": 8200, "pages": 2})
        };
        let mut v = serde_json::json!({
            "format": 1, "requires": ["incremental"], "id": "app-20261202T020000Z-manual",
            "kind": "manual", "label": null, "created_at": "2026-12-02T02:00:00.000Z",
            "database": "/app.db", "file": "app-20261202T020000Z-manual.pages.zst",
            "compression": "zstd", "size_bytes": 10, "sha256": "ab", "raw_size_bytes": 8192,
            "page_size": 4096, "page_count": 2, "sqlkeep_version": "0", "duration_ms": 1,
            "incremental": {"parent": "app-20261201T020000Z-manual", "image_sha256": "cd",
                "chain": [link("app-20261201T020000Z-manual", "app-20261201T020000Z-manual.sqlite3.gz"),
                          link("app-20261202T020000Z-manual", "app-20261202T020000Z-manual.pages.zst")]}
        });
        v["incremental"]["chain"][0]["compression"] = "gzip".into();
        change(&mut v);
        let bytes = serde_json::to_vec(&v).unwrap();
        Manifest::parse(&bytes, Path::new("/b/app-20261202T020000Z-manual.json"))
    }

    /// An incremental manifest parses only when its chain can describe it: `requires`
    /// and the object agree, every link names a backup file in the folder, the last link
    /// is the backup's own file, and its pages make its size.
    #[test]
    fn an_incremental_manifest_is_checked_whole() {
        let m = incremental(|_| {}).unwrap();
        assert_eq!(
            m.incremental.as_ref().unwrap().depends_on(),
            vec!["app-20261201T020000Z-manual"]
        );
        type Change = fn(&mut Value);
        let refused: [(&str, Change); 6] = [
            ("requires", |v| v["requires"] = serde_json::json!([])),
            ("requires", |v| {
                v.as_object_mut()
                    .unwrap()
                    .remove("incremental")
                    .map(drop)
                    .unwrap_or(())
            }),
            ("not a backup file", |v| {
                v["incremental"]["chain"][0]["file"] = "../../etc/passwd".into()
            }),
            ("last link", |v| {
                v["incremental"]["chain"][1]["sha256"] = "ff".into()
            }),
            ("full backup", |v| {
                let own = v["incremental"]["chain"][1].clone();
                v["incremental"]["chain"] = serde_json::json!([own]);
            }),
            ("pages of", |v| v["page_count"] = 3.into()),
        ];
        for (why, change) in refused {
            let e = incremental(change).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Corrupt);
            assert!(e.to_string().contains(why), "{why}: {e}");
        }
    }

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
