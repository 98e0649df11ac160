//! The `timezone` setting: the zone in which daily times, cron expressions and rotation
//! periods (local day, ISO week, month, year) are read.

use chrono::{DateTime, FixedOffset, Local, NaiveDateTime, TimeZone, Utc};
use std::fmt;
use std::str::FromStr;

/// `"local"`, `"UTC"` or an IANA zone name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// The zone of the machine (TZ or /etc/localtime), re-read as the OS reports it.
    Local,
    /// Coordinated Universal Time.
    Utc,
    /// A named IANA zone such as `Europe/Berlin`.
    Named(chrono_tz::Tz),
}

impl Zone {
    /// The wall-clock date and time of `t` in this zone.
    pub fn naive_local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Zone::Local => t.with_timezone(&Local).naive_local(),
            Zone::Utc => t.naive_utc(),
            Zone::Named(tz) => t.with_timezone(tz).naive_local(),
        }
    }

    /// `t` with this zone's offset, for display (RFC 3339 with offset).
    pub fn fixed(&self, t: DateTime<Utc>) -> DateTime<FixedOffset> {
        match self {
            Zone::Local => t.with_timezone(&Local).fixed_offset(),
            Zone::Utc => t.fixed_offset(),
            Zone::Named(tz) => t.with_timezone(tz).fixed_offset(),
        }
    }

    /// Runs `f` with this zone as a concrete chrono [`TimeZone`], so generic code (croner)
    /// can work in it without boxing.
    pub fn with_tz<R>(&self, f: impl ZoneFn<R>) -> R {
        match self {
            Zone::Local => f.call(&Local),
            Zone::Utc => f.call(&Utc),
            Zone::Named(tz) => f.call(tz),
        }
    }
}

/// A computation generic over the zone type; see [`Zone::with_tz`].
pub trait ZoneFn<R> {
    /// Runs with the concrete zone.
    fn call<Tz: TimeZone>(self, tz: &Tz) -> R
    where
        Tz::Offset: Copy;
}

impl FromStr for Zone {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" | "Local" | "LOCAL" => Ok(Zone::Local),
            "UTC" | "utc" | "Z" => Ok(Zone::Utc),
            name => name.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
                format!(
                    "unknown time zone {name:?}; use \"local\", \"UTC\" or an IANA name such as \"Europe/Berlin\""
                )
            }),
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Local => f.write_str("local"),
            Zone::Utc => f.write_str("UTC"),
            Zone::Named(tz) => f.write_str(tz.name()),
        }
    }
}
