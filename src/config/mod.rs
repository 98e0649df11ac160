//! The one configuration shape shared by Rust, the CLI, the C ABI and Python.
//!
//! It is a JSON object; every key but `database` is optional. Validation happens here, when
//! the configuration is loaded, so that a typo is reported at start-up and not at 2 AM: an
//! unknown key, a wrong type or an out-of-range value is an error that names the key and
//! shows the accepted form.

pub(crate) mod change;
pub(crate) mod encryption;
pub(crate) mod keys;
pub(crate) mod notify;
pub(crate) mod options;
pub(crate) mod postgres;
pub(crate) mod remotes;
pub(crate) mod schedule;
pub(crate) mod server;
pub(crate) mod within;
pub(crate) mod zone;

pub use change::{ConfigChange, RetentionChange};
pub use encryption::{Encryption, ENCRYPTION_FORMS};
pub use notify::{Channel, Email, Notify, NotifyChange, On, Target, NOTIFY_KEYS};
pub use options::{Compression, VerifyLevel};
pub use postgres::PgTarget;
pub use remotes::{Location, Remote, REMOTE_KEYS, REMOTE_URL_FORMS};
pub use server::{Server, ServerChange, SERVER_KEYS};
pub use within::{Within, WITHIN_FORMS};

use crate::error::{Error, Result};
use change::{absolute, object, string};
use schedule::Schedule;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use zone::Zone;

/// Grandfather-father-son retention, with borg's prune semantics (see `rotate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Keep every automatic backup younger than this (`None`: no such rule).
    pub keep_within: Option<Within>,
    /// Keep this many newest automatic backups regardless of period.
    pub keep_last: u32,
    /// Keep the newest backup of this many local hours.
    pub hourly: u32,
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
    /// A size budget for all backups: beyond it rotation removes the oldest automatic
    /// backups the rules kept (never the newest backup, never a manual one).
    pub max_total_bytes: Option<u64>,
    /// The same budget as a share (1 to 100) of the backup folder's file system; the
    /// smaller of the two applies.
    pub max_total_percent_of_disk: Option<u32>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            keep_within: None,
            keep_last: 0,
            hourly: 0,
            daily: 30,
            weekly: 12,
            monthly: 12,
            yearly: 0,
            auto: true,
            max_total_bytes: None,
            max_total_percent_of_disk: None,
        }
    }
}

impl Retention {
    fn to_value(self) -> Value {
        json!({
            "keep_within": self.keep_within.map(|w| w.to_string()),
            "keep_last": self.keep_last,
            "hourly": self.hourly,
            "daily": self.daily,
            "weekly": self.weekly,
            "monthly": self.monthly,
            "yearly": self.yearly,
            "auto": self.auto,
            "max_total_bytes": self.max_total_bytes,
            "max_total_percent_of_disk": self.max_total_percent_of_disk,
        })
    }

    /// The size budget in bytes, given the size of the backup folder's file system
    /// (`None`: unknown, so only `max_total_bytes` applies).
    pub fn budget(&self, disk_bytes: Option<u64>) -> Option<u64> {
        let share = self
            .max_total_percent_of_disk
            .zip(disk_bytes)
            .map(|(pct, disk)| (u128::from(disk) * u128::from(pct) / 100) as u64);
        match (self.max_total_bytes, share) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// `self` with the fields `change` sets.
    pub fn with_change(mut self, change: &RetentionChange) -> Retention {
        let c = change;
        self.keep_within = c.keep_within.unwrap_or(self.keep_within);
        self.keep_last = c.keep_last.unwrap_or(self.keep_last);
        self.hourly = c.hourly.unwrap_or(self.hourly);
        self.daily = c.daily.unwrap_or(self.daily);
        self.weekly = c.weekly.unwrap_or(self.weekly);
        self.monthly = c.monthly.unwrap_or(self.monthly);
        self.yearly = c.yearly.unwrap_or(self.yearly);
        self.auto = c.auto.unwrap_or(self.auto);
        self.max_total_bytes = c.max_total_bytes.unwrap_or(self.max_total_bytes);
        self.max_total_percent_of_disk = c
            .max_total_percent_of_disk
            .unwrap_or(self.max_total_percent_of_disk);
        self
    }
}

/// A validated configuration. Build it with [`Config::new`] or [`Config::from_json`];
/// change it with [`Config::with_changes`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Absolute path of the SQLite database, or the URI of a PostgreSQL database
    /// (`postgresql://…`, any password removed).
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
    /// Store only the pages that changed since the newest backup (page-level incremental
    /// backups, SQLite only); a full backup is still taken when one is due.
    pub incremental: bool,
    /// Encrypt new backups (age format); `None` writes them in the clear.
    pub encryption: Option<Encryption>,
    /// Health verdict (and notification) settings.
    pub notify: Notify,
    /// Where offsite copies of each backup go.
    pub remotes: Vec<Remote>,
    /// The HTTP service (`sqlkeep serve`).
    pub server: Server,
    /// What was accepted but changed on the way in (a password removed from a
    /// PostgreSQL URI), for each face to show once.
    pub warnings: Vec<String>,
}

impl Config {
    /// The defaults for `database` (made absolute against the current directory).
    pub fn new(database: impl AsRef<Path>) -> Result<Config> {
        Config::new_in(database.as_ref(), None)
    }

    /// [`Config::new`] with relative paths taken against `base`. A PostgreSQL URI keeps
    /// its backups in `backups` under `base` (or the current directory).
    fn new_in(database: &Path, base: Option<&Path>) -> Result<Config> {
        let text = database.to_string_lossy();
        if postgres::is_uri(&text) {
            let (target, warning) = PgTarget::parse("database", &text)?;
            let folder = absolute("backup_dir", Path::new("."), base)?;
            let mut cfg = Config::defaults(PathBuf::from(target.uri), folder.join("backups"));
            cfg.warnings.extend(warning);
            return Ok(cfg);
        }
        let database = absolute("database", database, base)?;
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
        Ok(Config::defaults(database.clone(), folder.join("backups")))
    }

    fn defaults(database: PathBuf, backup_dir: PathBuf) -> Config {
        Config {
            backup_dir,
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
            incremental: false,
            encryption: None,
            notify: Notify::default(),
            remotes: Vec::new(),
            server: Server::default(),
            warnings: Vec::new(),
        }
    }

    /// The PostgreSQL database this configuration backs up, or `None` for a SQLite file.
    pub fn postgres(&self) -> Option<PgTarget> {
        let text = self.database.to_string_lossy();
        postgres::is_uri(&text)
            .then(|| PgTarget::parse("database", &text).ok().map(|(t, _)| t))
            .flatten()
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
        let cfg = Config::new_in(Path::new(db), base)?;
        let mut change = ConfigChange::from_object(obj, base)?;
        change.database = None;
        cfg.with_change(&change)
    }

    /// A new configuration with the keys of `changes` (a partial configuration object)
    /// applied, validated whole: on error nothing changes. `database` cannot change (open
    /// another keeper for another database).
    pub fn with_changes(&self, changes: &Value) -> Result<Config> {
        self.with_change(&ConfigChange::from_value(changes, None)?)
    }

    /// A new configuration with `change` applied, validated whole.
    pub fn with_change(&self, change: &ConfigChange) -> Result<Config> {
        let mut cfg = self.clone();
        if let Some(requested) = &change.database {
            if *requested != self.database {
                return Err(Error::config(
                    "database",
                    "cannot be changed on a running keeper; open a new one for another database",
                ));
            }
        }
        let c = change.clone();
        cfg.backup_dir = c.backup_dir.unwrap_or(cfg.backup_dir);
        cfg.schedule = c.schedule.unwrap_or(cfg.schedule);
        cfg.timezone = c.timezone.unwrap_or(cfg.timezone);
        cfg.catch_up = c.catch_up.unwrap_or(cfg.catch_up);
        cfg.compression = c.compression.unwrap_or(cfg.compression);
        cfg.compression_level = c.compression_level.unwrap_or(cfg.compression_level);
        cfg.verify_after_backup = c.verify_after_backup.unwrap_or(cfg.verify_after_backup);
        cfg.test_restore_every_days = c
            .test_restore_every_days
            .unwrap_or(cfg.test_restore_every_days);
        if let Some(r) = &c.retention {
            cfg.retention = cfg.retention.with_change(r);
        }
        cfg.backup_on_shutdown = c.backup_on_shutdown.unwrap_or(cfg.backup_on_shutdown);
        cfg.incremental = c.incremental.unwrap_or(cfg.incremental);
        if cfg.incremental && postgres::is_uri(&cfg.database.to_string_lossy()) {
            return Err(Error::config(
                "incremental",
                "page-level incremental backups are for SQLite databases; a PostgreSQL backup is always a whole pg_dump archive, so use false",
            ));
        }
        cfg.encryption = c.encryption.unwrap_or(cfg.encryption);
        if let Some(n) = &c.notify {
            cfg.notify = cfg.notify.with_change(n);
        }
        cfg.remotes = c.remotes.unwrap_or(cfg.remotes);
        if let Some(s) = &c.server {
            cfg.server = cfg.server.with_change(s);
        }
        // The level is checked against the (possibly new) compression as a whole.
        if let Some(level) = cfg.compression_level {
            let (lo, hi) = cfg.compression.level_range();
            if cfg.compression == Compression::None {
                cfg.compression_level = None;
            } else if level < lo || level > hi {
                return Err(Error::config(
                    "compression_level",
                    format!(
                        "{level} is out of range for {}; use {lo} to {hi}",
                        cfg.compression.as_str()
                    ),
                ));
            }
        }
        Ok(cfg)
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
            "incremental": self.incremental,
            "encryption": self.encryption.as_ref().map(Encryption::to_value),
            "notify": self.notify.to_value(),
            "remotes": self.remotes.iter().map(Remote::to_value).collect::<Vec<_>>(),
            "server": self.server.to_value(),
        })
    }
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
            (
                json!({"database": "a.db", "retention": {"keep_within": "7 days"}}),
                "retention.keep_within",
                "\"36h\"",
            ),
            (
                json!({"database": "a.db", "retention": {"keep_within": 36}}),
                "retention.keep_within",
                "or null",
            ),
            (
                json!({"database": "a.db", "retention": {"hourly": -2}}),
                "retention.hourly",
                "negative",
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
