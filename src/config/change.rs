//! A typed change to a configuration, parsed (and so validated key by key) from the
//! partial JSON object that every face sends: the CLI's configuration file, the C ABI's
//! `sqlkeep_configure` and Python's keyword arguments.

use super::keys::{self, RETENTION_KEYS};
use super::options::{Compression, VerifyLevel};
use super::schedule::{Schedule, SCHEDULE_FORMS};
use super::zone::Zone;
use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Fields to change; `None` leaves a field as it is. Build one directly in Rust, or with
/// [`ConfigChange::from_value`] from JSON; apply it with [`crate::Keeper::configure`] or
/// [`crate::Config::with_change`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ConfigChange {
    /// Must equal the current database (a keeper backs up one database).
    pub database: Option<PathBuf>,
    pub backup_dir: Option<PathBuf>,
    pub schedule: Option<Schedule>,
    pub timezone: Option<Zone>,
    pub catch_up: Option<bool>,
    pub compression: Option<Compression>,
    /// `Some(None)` returns to the compression's default level.
    pub compression_level: Option<Option<u32>>,
    /// `Some(None)` turns verification after backup off.
    pub verify_after_backup: Option<Option<VerifyLevel>>,
    pub test_restore_every_days: Option<u32>,
    pub retention: Option<RetentionChange>,
    pub backup_on_shutdown: Option<bool>,
    /// Page-level incremental backups (SQLite only).
    pub incremental: Option<bool>,
    /// `Some(None)` turns encryption of new backups off.
    pub encryption: Option<Option<super::Encryption>>,
    pub notify: Option<super::NotifyChange>,
    /// Replaces the whole list of remotes.
    pub remotes: Option<Vec<super::Remote>>,
    pub server: Option<super::ServerChange>,
}

/// Retention counts to change; `None` leaves a count as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionChange {
    /// `Some(None)` removes the `keep_within` rule.
    pub keep_within: Option<Option<super::Within>>,
    pub keep_last: Option<u32>,
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    pub yearly: Option<u32>,
    pub auto: Option<bool>,
    /// `Some(None)` removes the size budget.
    pub max_total_bytes: Option<Option<u64>>,
    /// `Some(None)` removes the share-of-disk budget.
    pub max_total_percent_of_disk: Option<Option<u32>>,
}

impl ConfigChange {
    /// An empty change.
    pub fn new() -> ConfigChange {
        ConfigChange::default()
    }

    /// Parses a partial configuration object; relative paths are taken against `base`
    /// or the current directory. Errors name the key and the accepted form.
    pub fn from_value(v: &Value, base: Option<&Path>) -> Result<ConfigChange> {
        ConfigChange::from_object(object(v)?, base)
    }

    pub(crate) fn from_object(
        obj: &Map<String, Value>,
        base: Option<&Path>,
    ) -> Result<ConfigChange> {
        // Unknown keys first, so a typo is reported even when another key is also wrong.
        let known = keys::names();
        for k in obj.keys() {
            if keys::find(k).is_none() {
                return Err(unknown_key(k, k, &known));
            }
        }
        let mut c = ConfigChange::default();
        for (k, v) in obj {
            match k.as_str() {
                "database" => c.database = Some(database(k, string(k, v)?, base)?),
                "backup_dir" => {
                    let s = string(k, v)?;
                    if s.is_empty() {
                        return Err(Error::config(k, "must not be empty"));
                    }
                    c.backup_dir = Some(absolute(k, Path::new(s), base)?);
                }
                "schedule" => {
                    c.schedule =
                        Some(Schedule::parse(string(k, v)?).map_err(|m| Error::config(k, m))?)
                }
                "timezone" => {
                    c.timezone = Some(
                        string(k, v)?
                            .parse()
                            .map_err(|m: String| Error::config(k, m))?,
                    )
                }
                "catch_up" => c.catch_up = Some(boolean(k, v)?),
                "compression" => {
                    let s = string(k, v)?;
                    c.compression = Some(Compression::parse(s).ok_or_else(|| {
                        Error::config(
                            k,
                            format!("{s:?} is not supported; use \"gzip\", \"zstd\" or \"none\""),
                        )
                    })?)
                }
                "compression_level" => {
                    c.compression_level = Some(if v.is_null() {
                        None
                    } else {
                        Some(count(k, v)?)
                    })
                }
                "verify_after_backup" => {
                    let s = string(k, v)?;
                    c.verify_after_backup = Some(match s {
                        "off" => None,
                        other => Some(VerifyLevel::parse(other).ok_or_else(|| {
                            Error::config(
                                k,
                                format!(
                                    "{other:?} is not a level; use \"full\", \"quick\" or \"off\""
                                ),
                            )
                        })?),
                    })
                }
                "test_restore_every_days" => c.test_restore_every_days = Some(count(k, v)?),
                "retention" => c.retention = Some(RetentionChange::from_value(v)?),
                "backup_on_shutdown" => c.backup_on_shutdown = Some(boolean(k, v)?),
                "incremental" => c.incremental = Some(boolean(k, v)?),
                "encryption" => c.encryption = Some(super::Encryption::from_value(v, base)?),
                "notify" => c.notify = Some(super::NotifyChange::from_value(v)?),
                "remotes" => c.remotes = Some(super::Remote::parse_list(v)?),
                "server" => c.server = Some(super::ServerChange::from_value(v)?),
                _ => unreachable!("unknown keys were rejected above"),
            }
        }
        Ok(c)
    }
}

impl RetentionChange {
    /// The counts it sets, as a partial `retention` object.
    pub(crate) fn to_value(self) -> Value {
        let mut m = Map::new();
        let mut set = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        };
        set(
            "keep_within",
            self.keep_within.map(|w| w.map(|w| w.to_string()).into()),
        );
        set("keep_last", self.keep_last.map(Value::from));
        set("hourly", self.hourly.map(Value::from));
        set("daily", self.daily.map(Value::from));
        set("weekly", self.weekly.map(Value::from));
        set("monthly", self.monthly.map(Value::from));
        set("yearly", self.yearly.map(Value::from));
        set("auto", self.auto.map(Value::from));
        set("max_total_bytes", self.max_total_bytes.map(Value::from));
        set(
            "max_total_percent_of_disk",
            self.max_total_percent_of_disk.map(Value::from),
        );
        Value::Object(m)
    }

    /// Parses a partial `retention` object; errors name `retention.<key>`.
    pub fn from_value(v: &Value) -> Result<RetentionChange> {
        let obj = sub_object(
            "retention",
            v,
            "{\"daily\": 30, \"weekly\": 12, \"monthly\": 12}",
        )?;
        let mut c = RetentionChange::default();
        for (k, val) in obj {
            let key = format!("retention.{k}");
            match k.as_str() {
                "keep_within" => {
                    c.keep_within = Some(match val {
                        Value::Null => None,
                        Value::String(s) => {
                            Some(super::Within::parse(s).map_err(|m| Error::config(&key, m))?)
                        }
                        other => {
                            return Err(Error::config(
                                &key,
                                format!(
                                    "expected a string ({}) or null, got {}",
                                    super::WITHIN_FORMS,
                                    type_name(other)
                                ),
                            ))
                        }
                    })
                }
                "keep_last" => c.keep_last = Some(count(&key, val)?),
                "hourly" => c.hourly = Some(count(&key, val)?),
                "daily" => c.daily = Some(count(&key, val)?),
                "weekly" => c.weekly = Some(count(&key, val)?),
                "monthly" => c.monthly = Some(count(&key, val)?),
                "yearly" => c.yearly = Some(count(&key, val)?),
                "auto" => c.auto = Some(boolean(&key, val)?),
                "max_total_bytes" => {
                    c.max_total_bytes = Some(match val {
                        Value::Null => None,
                        v => Some(positive_bytes(&key, v)?),
                    })
                }
                "max_total_percent_of_disk" => {
                    c.max_total_percent_of_disk = Some(match val {
                        Value::Null => None,
                        v => match count(&key, v)? {
                            pct @ 1..=100 => Some(pct),
                            other => {
                                return Err(Error::config(
                                    &key,
                                    format!("{other} is out of range; use 1 to 100 (percent of the backup folder's disk), or null for no limit"),
                                ))
                            }
                        },
                    })
                }
                other => return Err(unknown_key(&key, other, RETENTION_KEYS)),
            }
        }
        Ok(c)
    }
}

/// A `database` value: an absolute path, or a PostgreSQL URI without its password.
pub(super) fn database(key: &str, text: &str, base: Option<&Path>) -> Result<PathBuf> {
    if super::postgres::is_uri(text) {
        let (target, _) = super::postgres::PgTarget::parse(key, text)?;
        return Ok(PathBuf::from(target.uri));
    }
    absolute(key, Path::new(text), base)
}

pub(super) fn absolute(key: &str, p: &Path, base: Option<&Path>) -> Result<PathBuf> {
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

pub(super) fn object(v: &Value) -> Result<&Map<String, Value>> {
    v.as_object().ok_or_else(|| {
        Error::config(
            "(document)",
            format!("expected a JSON object, got {}", type_name(v)),
        )
        .with_hint("the configuration is a JSON object such as {\"database\": \"app.db\"}")
    })
}

/// The object value of the nested key `key` (`retention`, `notify`), or an error that
/// shows `example`.
pub(super) fn sub_object<'a>(
    key: &str,
    v: &'a Value,
    example: &str,
) -> Result<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| {
        Error::config(
            key,
            format!("expected an object such as {example}, got {}", type_name(v)),
        )
    })
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn string<'a>(key: &str, v: &'a Value) -> Result<&'a str> {
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

pub(super) fn count(key: &str, v: &Value) -> Result<u32> {
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

/// A size in bytes of at least 1 (`null` is handled by the caller: no limit).
fn positive_bytes(key: &str, v: &Value) -> Result<u64> {
    let n = match v {
        // "2 GB" (decimal, as format_size writes sizes), "500 MiB", "1.5GB".
        Value::String(s) => parse_size::parse_size(s.trim()).ok(),
        other => other.as_u64(),
    };
    match n {
        Some(n) if n > 0 => Ok(n),
        _ => Err(Error::config(
            key,
            format!(
                "expected a size of at least 1 byte: a number of bytes (2000000000) or a text such as \"2 GB\", \"500 MB\" or \"1.5 GiB\"; or null for no limit; got {}",
                match v {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => format!("{s:?}"),
                    other => type_name(other).to_string(),
                }
            ),
        )),
    }
}

pub(super) fn unknown_key(full: &str, k: &str, known: &[&str]) -> Error {
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
