//! Backup ids, `<db-stem>-<UTC yyyymmddThhmmssZ>-<kind>[-n]`, and the file names built
//! from them: formatted and parsed here only.

use super::kind::Kind;
use crate::config::Compression;
use chrono::{DateTime, NaiveDateTime, Utc};
use std::fmt;

const STAMP: &str = "%Y%m%dT%H%M%SZ";

/// The file name patterns of backup files and manifests, for file dialogs.
pub const BACKUP_FILE_PATTERNS: &[&str] = &[
    "*.sqlite3.gz",
    "*.sqlite3.zst",
    "*.sqlite3",
    "*.sqlite3.gz.age",
    "*.sqlite3.zst.age",
    "*.sqlite3.age",
    "*.pgdump.gz",
    "*.pgdump.zst",
    "*.pgdump",
    "*.pgdump.gz.age",
    "*.pgdump.zst.age",
    "*.pgdump.age",
    "*.pages.zst",
    "*.pages.gz",
    "*.pages",
    "*.pages.zst.age",
    "*.pages.gz.age",
    "*.pages.age",
    "*.json",
];

/// The extension an encrypted data file adds after its compression's (an age file).
pub const AGE_EXTENSION: &str = ".age";

/// The extension of a manifest.
pub const MANIFEST_EXTENSION: &str = ".json";

/// A backup id whose shape was checked. `Display` gives the id text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackupId {
    text: String,
    /// Where the timestamp part starts and ends in `text`.
    stamp: (usize, usize),
    /// The `-n` suffix of the second and later ids of one second (1 without one).
    n: u32,
}

impl BackupId {
    /// The `n`th id (1-based) for a backup of `db_stem` taken at `at` for `kind`.
    pub fn new(db_stem: &str, at: DateTime<Utc>, kind: Kind, n: u32) -> BackupId {
        let base = format!("{db_stem}-{}-{}", at.format(STAMP), kind.as_str());
        let text = if n <= 1 { base } else { format!("{base}-{n}") };
        BackupId::parse(&text).expect("a formatted id has the id shape")
    }

    /// Checks the shape of `text`; `None` when it is not a backup id.
    pub fn parse(text: &str) -> Option<BackupId> {
        let mut rest = text;
        let mut n = 1;
        if let Some((head, tail)) = rest.rsplit_once('-') {
            if !tail.is_empty() && tail.chars().all(|c| c.is_ascii_digit()) {
                rest = head;
                n = tail.parse().ok()?;
            }
        }
        let head = Kind::ALL.iter().find_map(|k| {
            rest.strip_suffix(k.as_str())
                .and_then(|h| h.strip_suffix('-'))
        })?;
        let (db, ts) = head.rsplit_once('-')?;
        let b = ts.as_bytes();
        let shaped = !db.is_empty()
            && b.len() == 16
            && b[8] == b'T'
            && b[15] == b'Z'
            && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit);
        shaped.then(|| BackupId {
            text: text.to_string(),
            stamp: (db.len() + 1, db.len() + 17),
            n,
        })
    }

    /// The id and what the file is, for a file name in a backup folder: `Some((id,
    /// None))` for a manifest, `Some((id, Some(compression)))` for a data file.
    pub fn of_file_name(name: &str) -> Option<(BackupId, Option<Compression>)> {
        if let Some(stem) = name.strip_suffix(MANIFEST_EXTENSION) {
            return BackupId::parse(stem).map(|id| (id, None));
        }
        let name = name.strip_suffix(AGE_EXTENSION).unwrap_or(name);
        Compression::ALL.iter().find_map(|c| {
            Content::ALL.iter().find_map(|what| {
                name.strip_suffix(&extension(*c, *what))
                    .and_then(BackupId::parse)
                    .map(|id| (id, Some(*c)))
            })
        })
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The whole second the id was stamped with.
    pub fn time(&self) -> DateTime<Utc> {
        let ts = &self.text[self.stamp.0..self.stamp.1];
        NaiveDateTime::parse_from_str(ts, STAMP)
            .expect("a parsed id has a valid stamp")
            .and_utc()
    }

    /// Orders ids of one second: `x`, `x-2`, `x-3`, ...
    pub fn sequence(&self) -> u32 {
        self.n
    }
}

/// The manifest's file name for `id`.
pub fn manifest_name(id: &str) -> String {
    format!("{id}{MANIFEST_EXTENSION}")
}

/// What a data file holds, the first part of its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// A SQLite database (`.sqlite3…`).
    Sqlite,
    /// A PostgreSQL archive (`.pgdump…`).
    Postgres,
    /// The pages an incremental backup stored (`.pages…`, docs/FORMAT.md).
    Pages,
}

impl Content {
    const ALL: [Content; 3] = [Content::Sqlite, Content::Postgres, Content::Pages];
}

/// The data file's name for `id` compressed with `c`, encrypted or not, holding `what`.
pub fn data_name(id: &str, c: Compression, encrypted: bool, what: Content) -> String {
    let age = if encrypted { AGE_EXTENSION } else { "" };
    format!("{id}{}{age}", extension(c, what))
}

/// `.sqlite3.gz`, `.pgdump.zst`, `.pages.zst`, ...: what the file holds, then its
/// compression.
fn extension(c: Compression, what: Content) -> String {
    let sqlite = c.extension();
    let compressed = &sqlite[".sqlite3".len()..];
    match what {
        Content::Sqlite => sqlite.to_string(),
        Content::Postgres => format!(".pgdump{compressed}"),
        Content::Pages => format!(".pages{compressed}"),
    }
}

impl fmt::Display for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Newest-first order of two ids of the same instant: by text without the sequence
/// suffix, then by sequence.
pub fn sequence_order(id: &str) -> (String, u32) {
    match BackupId::parse(id) {
        Some(b) if b.n > 1 => {
            let head = b.text.rsplit_once('-').map_or(b.text.as_str(), |(h, _)| h);
            (head.to_string(), b.n)
        }
        Some(b) => (b.text, 1),
        None => (id.to_string(), 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_formatted_and_parsed_in_one_place() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T02:00:00Z")
            .unwrap()
            .to_utc();
        let id = BackupId::new("my-app", at, Kind::PreRestore, 3);
        assert_eq!(id.as_str(), "my-app-20261123T020000Z-pre-restore-3");
        assert_eq!(id.time(), at);
        assert_eq!(id.sequence(), 3);
        assert_eq!(BackupId::parse(id.as_str()), Some(id.clone()));
        assert!(BackupId::parse("app-20261123T020000Z-scheduled").is_some());
        assert!(BackupId::parse("app").is_none());
        assert!(BackupId::parse("app-2026112T020000Z-manual").is_none());
        assert!(BackupId::parse("-20261123T020000Z-manual").is_none());
        let (f, c) = BackupId::of_file_name("app-20261123T020000Z-manual.sqlite3.zst").unwrap();
        assert_eq!(
            (f.as_str(), c),
            ("app-20261123T020000Z-manual", Some(Compression::Zstd))
        );
        let (f, c) = BackupId::of_file_name("app-20261123T020000Z-manual.sqlite3.gz.age").unwrap();
        assert_eq!(
            (f.as_str(), c),
            ("app-20261123T020000Z-manual", Some(Compression::Gzip))
        );
        assert_eq!(
            data_name(
                "a-20261123T020000Z-manual",
                Compression::Zstd,
                true,
                Content::Sqlite
            ),
            "a-20261123T020000Z-manual.sqlite3.zst.age"
        );
        let (f, c) = BackupId::of_file_name("app-20261123T020000Z-manual.json").unwrap();
        assert_eq!((f.as_str(), c), ("app-20261123T020000Z-manual", None));
        assert!(BackupId::of_file_name("app-20261123T020000Z-manual.txt").is_none());
        assert_eq!(
            sequence_order("a-20261123T020000Z-manual-2"),
            ("a-20261123T020000Z-manual".to_string(), 2)
        );
        for p in BACKUP_FILE_PATTERNS {
            let name = p.replace('*', "app-20261123T020000Z-manual");
            assert!(BackupId::of_file_name(&name).is_some(), "{p}");
        }
    }
}
