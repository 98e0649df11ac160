//! The enumerated options of a configuration: how backups are compressed and how
//! thoroughly they are checked.

/// How backup files are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip (any `gunzip` opens it); written as parallel gzip members.
    Gzip,
    /// zstd (`zstd -d` opens it); much faster to write.
    Zstd,
    /// A plain SQLite file.
    None,
}

impl Compression {
    /// Every compression.
    pub const ALL: [Compression; 3] = [Compression::Gzip, Compression::Zstd, Compression::None];

    /// The name used in configuration and manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        }
    }

    /// Parses a configuration or manifest name.
    pub fn parse(s: &str) -> Option<Compression> {
        match s {
            "gzip" => Some(Compression::Gzip),
            "zstd" => Some(Compression::Zstd),
            "none" => Some(Compression::None),
            _ => None,
        }
    }

    /// File name extension after `.sqlite3`.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Gzip => ".sqlite3.gz",
            Compression::Zstd => ".sqlite3.zst",
            Compression::None => ".sqlite3",
        }
    }

    /// The level used when `compression_level` is not given.
    pub fn default_level(self) -> u32 {
        match self {
            Compression::Gzip => 6,
            Compression::Zstd => 3,
            Compression::None => 0,
        }
    }

    pub(crate) fn level_range(self) -> (u32, u32) {
        match self {
            Compression::Gzip => (0, 9),
            Compression::Zstd => (1, 19),
            Compression::None => (0, 0),
        }
    }
}

/// How thoroughly a backup is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyLevel {
    /// Checksum, full decompression with CRC and size.
    Quick,
    /// Quick, then `PRAGMA integrity_check` and page size/count/user_version.
    Full,
}

impl VerifyLevel {
    /// `"quick"` or `"full"`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyLevel::Quick => "quick",
            VerifyLevel::Full => "full",
        }
    }

    /// Parses `"quick"` or `"full"`.
    pub fn parse(s: &str) -> Option<VerifyLevel> {
        match s {
            "quick" => Some(VerifyLevel::Quick),
            "full" => Some(VerifyLevel::Full),
            _ => None,
        }
    }
}
