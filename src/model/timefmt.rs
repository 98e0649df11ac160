//! One textual form for instants everywhere (manifests, log, events, JSON output):
//! RFC 3339 in UTC with milliseconds, e.g. `2026-11-23T02:00:00.000Z`.
//!
//! Milliseconds are also the precision sqlkeep *keeps*: times are cut to it when taken
//! from the clock and when parsed, so an instant read from a file is the instant that
//! would be written back (a manifest with nanoseconds, written by hand or by another tool,
//! round-trips unchanged after its first read instead of changing on every rewrite).

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// `t` cut to whole milliseconds (towards the past). Works on the nanosecond field
/// rather than on a nanosecond timestamp, so it holds for any year chrono accepts and
/// for a leap second (nanoseconds >= 1e9).
pub fn to_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = t.nanosecond();
    t.with_nanosecond(nanos - nanos % 1_000_000).unwrap_or(t)
}

/// Formats `t` as RFC 3339 UTC with milliseconds.
pub fn format(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses any RFC 3339 instant, kept at millisecond precision.
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| to_precision(t.with_timezone(&Utc)))
}

/// serde `with` module for `DateTime<Utc>` fields.
pub mod rfc3339 {
    use super::*;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {s:?}")))
    }
}

/// serde `with` module for `Option<DateTime<Utc>>` fields.
pub mod rfc3339_opt {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => parse(&s)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {s:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is parsed formats back to text that parses to the same instant; found by
    /// the manifest_parse fuzz target (a created_at with nanoseconds changed when the
    /// manifest was written back).
    #[test]
    fn parse_then_format_is_a_fixed_point() {
        for text in [
            "2026-11-23T11:46:06.421111111Z",
            "2026-11-23T11:46:06.999999999+05:30",
            "2026-11-23T11:46:06Z",
            "2016-12-31T23:59:60.123456Z",
            "9999-12-31T23:59:59.999999999Z",
            "0001-01-01T00:00:00.0000001-00:01",
        ] {
            let t = parse(text).unwrap_or_else(|| panic!("{text} parses"));
            let written = format(&t);
            assert_eq!(parse(&written), Some(t), "{text} -> {written}");
            assert_eq!(format(&parse(&written).unwrap()), written, "{text}");
        }
        assert_eq!(
            format(&parse("2026-11-23T11:46:06.421999Z").unwrap()),
            "2026-11-23T11:46:06.421Z"
        );
    }
}
