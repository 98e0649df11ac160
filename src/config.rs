//! The one configuration shape shared by Rust, the CLI, the C ABI and Python.
//!
//! It is a JSON object; every key but `database` is optional. Validation happens here, when
//! the configuration is loaded, so that a typo is reported at start-up and not at 2 AM: an
//! unknown key, a wrong type or an out-of-range value is an error that names the key and
//! shows the accepted form.

use crate::error::{Error, Result};
use crate::schedule::{Schedule, SCHEDULE_FORMS};
use crate::zone::Zone;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

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

    fn level_range(self) -> (u32, u32) {
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

/// Grandfather-father-son retention, with borg's prune semantics (see `rotate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Keep this many newest automatic backups regardless of period.
    pub keep_last: u32,
    /// Keep the newest backup of this many local days.
    pub daily: u32,
    /// Keep the newest backup of this many ISO weeks.
    pub weekly: u32,
    /// Keep the newest backup of this many months.
    pub monthly: u32,
    /// Keep the newest backup of this many years.
    pub yearly: u32,
    /// Rotate automatically after each scheduled backup.
    pub auto: bool,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            keep_last: 0,
            daily: 30,
            weekly: 12,
            monthly: 12,
            yearly: 0,
            auto: true,
        }
    }
}

impl Retention {
    fn to_value(self) -> Value {
        json!({
            "keep_last": self.keep_last,
            "daily": self.daily,
            "weekly": self.weekly,
            "monthly": self.monthly,
            "yearly": self.yearly,
            "auto": self.auto,
        })
    }

    /// Applies the keys present in `v` over `self`.
    fn merged(mut self, v: &Value) -> Result<Retention> {
        let obj = v.as_object().ok_or_else(|| {
            Error::config(
                "retention",
                format!(
                    "expected an object such as {{\"daily\": 30, \"weekly\": 12, \"monthly\": 12}}, got {}",
                    type_name(v)
                ),
            )
        })?;
        for (k, val) in obj {
            let key = format!("retention.{k}");
            match k.as_str() {
                "keep_last" => self.keep_last = count(&key, val)?,
                "daily" => self.daily = count(&key, val)?,
                "weekly" => self.weekly = count(&key, val)?,
                "monthly" => self.monthly = count(&key, val)?,
                "yearly" => self.yearly = count(&key, val)?,
                "auto" => self.auto = boolean(&key, val)?,
                other => {
                    return Err(unknown_key(
                        &format!("retention.{other}"),
                        other,
                        RETENTION_KEYS,
                    ))
                }
            }
        }
        Ok(self)
    }
}

const RETENTION_KEYS: &[&str] = &["keep_last", "daily", "weekly", "monthly", "yearly", "auto"];

/// Every top-level key, in documentation order.
pub const KEYS: &[&str] = &[
    "database",
    "backup_dir",
    "schedule",
    "timezone",
    "catch_up",
    "compression",
    "compression_level",
    "verify_after_backup",
    "test_restore_every_days",
    "retention",
    "backup_on_shutdown",
];

/// A validated configuration. Build it with [`Config::new`] or [`Config::from_json`];
/// change it with [`Config::with_changes`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Absolute path of the SQLite database.
    pub database: PathBuf,
    /// Absolute path of the directory holding backups and the backup log.
    pub backup_dir: PathBuf,
    /// When scheduled backups run.
    pub schedule: Schedule,
    /// Zone for the schedule and for rotation periods.
    pub timezone: Zone,
    /// Run a missed scheduled backup when the scheduler starts.
    pub catch_up: bool,
    /// How backups are compressed.
    pub compression: Compression,
    /// Level for `compression`; `None` means that compression's default.
    pub compression_level: Option<u32>,
    /// Verification done right after each backup; `None` is `"off"`.
    pub verify_after_backup: Option<VerifyLevel>,
    /// Days between periodic test restores; 0 turns them off.
    pub test_restore_every_days: u32,
    /// Rotation policy.
    pub retention: Retention,
    /// Take a `shutdown` backup when the scheduler stops.
    pub backup_on_shutdown: bool,
}

impl Config {
    /// The defaults for `database` (made absolute against the current directory).
    pub fn new(database: impl AsRef<Path>) -> Result<Config> {
        let database = absolute("database", database.as_ref(), None)?;
        // `/` or `..` name a directory, not a database, and leave no folder to put the
        // default `backups` beside (found by the config fuzz target).
        let (Some(_), Some(folder)) = (database.file_name(), database.parent()) else {
            return Err(Error::config(
                "database",
                format!(
                    "`{}` names no file; expected the path of the SQLite database file, such as \"app.db\"",
                    database.display()
                ),
            ));
        };
        Ok(Config {
            backup_dir: folder.join("backups"),
            database,
            schedule: Schedule::parse("02:00").expect("the default schedule parses"),
            timezone: Zone::Local,
            catch_up: true,
            compression: Compression::Gzip,
            compression_level: None,
            verify_after_backup: Some(VerifyLevel::Full),
            test_restore_every_days: 7,
            retention: Retention::default(),
            backup_on_shutdown: false,
        })
    }

    /// Parses a JSON text; relative paths are taken against the current directory.
    pub fn from_json(text: &str) -> Result<Config> {
        let v: Value = serde_json::from_str(text).map_err(|e| {
            Error::config("(document)", format!("not valid JSON: {e}"))
                .with_hint("the configuration is a JSON object such as {\"database\": \"app.db\"}")
        })?;
        Config::from_value(&v, None)
    }

    /// Builds from a JSON value; relative paths are taken against `base` (the directory
    /// of a configuration file) or, when `None`, the current directory.
    pub fn from_value(v: &Value, base: Option<&Path>) -> Result<Config> {
        let obj = object(v)?;
        let db = obj.get("database").ok_or_else(|| {
            Error::config(
                "database",
                "is required: the path of the SQLite database to back up",
            )
        })?;
        let db = string("database", db)?;
        if db.is_empty() {
            return Err(Error::config("database", "must not be empty"));
        }
        let mut cfg = Config::new(absolute("database", Path::new(db), base)?)?;
        cfg.apply(obj, base, true)?;
        Ok(cfg)
    }

    /// A new configuration with the keys of `changes` applied, validated whole: on error
    /// nothing changes. `database` cannot change (open another keeper for another
    /// database).
    pub fn with_changes(&self, changes: &Value) -> Result<Config> {
        let obj = object(changes)?;
        let mut cfg = self.clone();
        cfg.apply(obj, None, false)?;
        Ok(cfg)
    }

    fn apply(
        &mut self,
        obj: &Map<String, Value>,
        base: Option<&Path>,
        loading: bool,
    ) -> Result<()> {
        // Unknown keys first, so a typo is reported even when another key is also wrong.
        for k in obj.keys() {
            if !KEYS.contains(&k.as_str()) {
                return Err(unknown_key(k, k, KEYS));
            }
        }
        for (k, v) in obj {
            match k.as_str() {
                "database" => {
                    if !loading {
                        let requested = absolute("database", Path::new(string(k, v)?), base)?;
                        if requested != self.database {
                            return Err(Error::config(
                                "database",
                                "cannot be changed on a running keeper; open a new one for another database",
                            ));
                        }
                    }
                }
                "backup_dir" => {
                    let s = string(k, v)?;
                    if s.is_empty() {
                        return Err(Error::config(k, "must not be empty"));
                    }
                    self.backup_dir = absolute(k, Path::new(s), base)?;
                }
                "schedule" => {
                    self.schedule =
                        Schedule::parse(string(k, v)?).map_err(|m| Error::config(k, m))?
                }
                "timezone" => {
                    self.timezone = string(k, v)?
                        .parse()
                        .map_err(|m: String| Error::config(k, m))?
                }
                "catch_up" => self.catch_up = boolean(k, v)?,
                "compression" => {
                    let s = string(k, v)?;
                    self.compression = Compression::parse(s).ok_or_else(|| {
                        Error::config(
                            k,
                            format!("{s:?} is not supported; use \"gzip\", \"zstd\" or \"none\""),
                        )
                    })?
                }
                "compression_level" => {
                    self.compression_level = if v.is_null() {
                        None
                    } else {
                        Some(count(k, v)?)
                    }
                }
                "verify_after_backup" => {
                    let s = string(k, v)?;
                    self.verify_after_backup = match s {
                        "off" => None,
                        other => Some(VerifyLevel::parse(other).ok_or_else(|| {
                            Error::config(
                                k,
                                format!(
                                    "{other:?} is not a level; use \"full\", \"quick\" or \"off\""
                                ),
                            )
                        })?),
                    }
                }
                "test_restore_every_days" => self.test_restore_every_days = count(k, v)?,
                "retention" => self.retention = self.retention.merged(v)?,
                "backup_on_shutdown" => self.backup_on_shutdown = boolean(k, v)?,
                _ => unreachable!("unknown keys were rejected above"),
            }
        }
        // The level is checked against the (possibly new) compression as a whole.
        if let Some(level) = self.compression_level {
            let (lo, hi) = self.compression.level_range();
            if self.compression == Compression::None {
                self.compression_level = None;
            } else if level < lo || level > hi {
                return Err(Error::config(
                    "compression_level",
                    format!(
                        "{level} is out of range for {}; use {lo} to {hi}",
                        self.compression.as_str()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The compression level in effect.
    pub fn effective_level(&self) -> u32 {
        self.compression_level
            .unwrap_or_else(|| self.compression.default_level())
    }

    /// The effective configuration as JSON, every key present; feeding it back to
    /// [`Config::from_value`] gives the same configuration.
    pub fn to_value(&self) -> Value {
        json!({
            "database": self.database.to_string_lossy(),
            "backup_dir": self.backup_dir.to_string_lossy(),
            "schedule": self.schedule.to_string(),
            "timezone": self.timezone.to_string(),
            "catch_up": self.catch_up,
            "compression": self.compression.as_str(),
            "compression_level": self.effective_level(),
            "verify_after_backup": self.verify_after_backup.map_or("off", VerifyLevel::as_str),
            "test_restore_every_days": self.test_restore_every_days,
            "retention": self.retention.to_value(),
            "backup_on_shutdown": self.backup_on_shutdown,
        })
    }
}

fn absolute(key: &str, p: &Path, base: Option<&Path>) -> Result<PathBuf> {
    let joined = match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p.to_path_buf(),
    };
    std::path::absolute(&joined).map_err(|e| {
        Error::config(
            key,
            format!("cannot make {} absolute: {e}", joined.display()),
        )
    })
}

fn object(v: &Value) -> Result<&Map<String, Value>> {
    v.as_object().ok_or_else(|| {
        Error::config(
            "(document)",
            format!("expected a JSON object, got {}", type_name(v)),
        )
        .with_hint("the configuration is a JSON object such as {\"database\": \"app.db\"}")
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string<'a>(key: &str, v: &'a Value) -> Result<&'a str> {
    v.as_str().ok_or_else(|| {
        let form = match key {
            "schedule" => SCHEDULE_FORMS,
            "timezone" => "\"local\", \"UTC\" or an IANA name such as \"Europe/Berlin\"",
            "compression" => "\"gzip\", \"zstd\" or \"none\"",
            "verify_after_backup" => "\"full\", \"quick\" or \"off\"",
            _ => "a path string",
        };
        Error::config(
            key,
            format!("expected a string ({form}), got {}", type_name(v)),
        )
    })
}

fn boolean(key: &str, v: &Value) -> Result<bool> {
    v.as_bool()
        .ok_or_else(|| Error::config(key, format!("expected true or false, got {}", type_name(v))))
}

fn count(key: &str, v: &Value) -> Result<u32> {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(x) if x <= u32::MAX as u64 => Ok(x as u32),
            Some(_) => Err(Error::config(key, format!("{n} is too large"))),
            None if n.as_i64().is_some() => Err(Error::config(
                key,
                format!("{n} is negative; use a whole number of 0 or more"),
            )),
            None => Err(Error::config(
                key,
                format!("{n} is not a whole number; use 0 or more"),
            )),
        },
        other => Err(Error::config(
            key,
            format!(
                "expected a whole number of 0 or more, got {}",
                type_name(other)
            ),
        )),
    }
}

fn unknown_key(full: &str, k: &str, known: &[&str]) -> Error {
    let best = known
        .iter()
        .map(|c| (strsim::levenshtein(k, c), *c))
        .filter(|(d, c)| *d <= 3 || k.starts_with(c) || c.starts_with(k))
        .min();
    let mut msg = format!("unknown key; known keys are {}", known.join(", "));
    if let Some((_, c)) = best {
        msg = format!(
            "unknown key (did you mean `{c}`?); known keys are {}",
            known.join(", ")
        );
    }
    Error::config(full, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(v: Value) -> Error {
        Config::from_value(&v, None).unwrap_err()
    }

    #[test]
    fn defaults_and_round_trip() {
        let c = Config::from_value(&json!({"database": "/tmp/x/app.db"}), None).unwrap();
        assert_eq!(c.backup_dir, PathBuf::from("/tmp/x/backups"));
        assert_eq!(c.effective_level(), 6);
        let v = c.to_value();
        assert_eq!(v["retention"]["daily"], 30);
        let again = Config::from_value(&v, None).unwrap();
        assert_eq!(again.to_value(), v);
    }

    #[test]
    fn every_bad_value_names_its_key() {
        let cases = [
            (
                json!({"database": "a.db", "retention_day": 3}),
                "retention_day",
                "did you mean `retention`",
            ),
            (
                json!({"database": "a.db", "schedule": "25:00"}),
                "schedule",
                "HH:MM",
            ),
            (
                json!({"database": "a.db", "schedule": "61 * * * *"}),
                "schedule",
                "cron",
            ),
            (
                json!({"database": "a.db", "timezone": "Mars/Olympus"}),
                "timezone",
                "IANA",
            ),
            (
                json!({"database": "a.db", "compression_level": 12}),
                "compression_level",
                "0 to 9",
            ),
            (
                json!({"database": "a.db", "compression": "zstd", "compression_level": 20}),
                "compression_level",
                "1 to 19",
            ),
            (
                json!({"database": "a.db", "retention": {"daily": -1}}),
                "retention.daily",
                "negative",
            ),
            (
                json!({"database": "a.db", "catch_up": "yes"}),
                "catch_up",
                "true or false",
            ),
            (
                json!({"database": "a.db", "schedule": 2}),
                "schedule",
                "expected a string",
            ),
            (
                json!({"database": "a.db", "retention": {"dayly": 1}}),
                "retention.dayly",
                "did you mean `daily`",
            ),
            (json!({"backup_dir": "b"}), "database", "required"),
            (json!({"database": "/"}), "database", "names no file"),
            (json!({"database": "/tmp/.."}), "database", "names no file"),
        ];
        for (v, key, text) in cases {
            let e = err(v.clone());
            assert_eq!(e.key(), Some(key), "{v}: {e}");
            assert!(e.to_string().contains(text), "{v}: {e}");
        }
    }

    #[test]
    fn changes_are_validated_whole() {
        let c = Config::from_value(&json!({"database": "/d/app.db"}), None).unwrap();
        let bad = c.with_changes(&json!({"schedule": "03:15", "timezone": "Nowhere"}));
        assert!(bad.is_err());
        let good = c
            .with_changes(&json!({"schedule": "03:15", "retention": {"daily": 7}}))
            .unwrap();
        assert_eq!(good.schedule.to_string(), "03:15");
        assert_eq!(good.retention.daily, 7);
        assert_eq!(good.retention.weekly, 12, "retention changes merge");
        assert!(c.with_changes(&json!({"database": "/other.db"})).is_err());
    }
}
