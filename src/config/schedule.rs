//! The `schedule` setting and the run instants it produces.
//!
//! `"HH:MM"` is daily at that wall-clock time, a 5-field expression means what cron
//! means, `"off"` disables scheduled backups. Both forms go through croner, which resolves
//! DST the way users expect: a time inside a spring-forward gap runs at the first instant
//! after the gap, a time inside a repeated (fall-back) hour runs once, at its first
//! occurrence.

use crate::config::zone::{Zone, ZoneFn};
use chrono::{DateTime, TimeZone, Utc};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use std::fmt;

/// When scheduled backups run.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Daily at `hour:minute` wall-clock time.
    Daily {
        hour: u32,
        minute: u32,
        cron: Box<Cron>,
    },
    /// A 5-field cron expression.
    Cron { expr: String, cron: Box<Cron> },
    /// No scheduled backups.
    Off,
}

/// The accepted forms, quoted in every error about the setting.
pub const SCHEDULE_FORMS: &str =
    "\"HH:MM\" (00:00 to 23:59, daily), a 5-field cron expression such as \"30 2 * * *\", or \"off\"";

fn cron_parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
}

impl Schedule {
    /// Parses the setting; the error text says what was wrong and the accepted forms.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("off") {
            return Ok(Schedule::Off);
        }
        if !t.contains(char::is_whitespace) {
            let (h, m) = parse_hh_mm(t)
                .ok_or_else(|| format!("{text:?} is not a valid time; use {SCHEDULE_FORMS}"))?;
            let cron = cron_parser()
                .parse(&format!("{m} {h} * * *"))
                .map_err(|e| format!("{text:?}: {e}"))?;
            return Ok(Schedule::Daily {
                hour: h,
                minute: m,
                cron: Box::new(cron),
            });
        }
        let fields = t.split_whitespace().count();
        if fields != 5 {
            return Err(format!(
                "{text:?} has {fields} fields; a cron expression has 5 (minute hour day-of-month month day-of-week); use {SCHEDULE_FORMS}"
            ));
        }
        let cron = cron_parser().parse(t).map_err(|e| {
            format!("{text:?} is not a valid cron expression ({e}); use {SCHEDULE_FORMS}")
        })?;
        Ok(Schedule::Cron {
            expr: t.split_whitespace().collect::<Vec<_>>().join(" "),
            cron: Box::new(cron),
        })
    }

    /// Whether scheduled backups are enabled.
    pub fn is_off(&self) -> bool {
        matches!(self, Schedule::Off)
    }

    fn cron(&self) -> Option<&Cron> {
        match self {
            Schedule::Daily { cron, .. } | Schedule::Cron { cron, .. } => Some(cron),
            Schedule::Off => None,
        }
    }

    /// The first run instant strictly after `t`, or `None` when off (or never again).
    pub fn next_after(&self, zone: Zone, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let cron = self.cron()?;
        zone.with_tz(Search {
            cron,
            from: t,
            forward: true,
            inclusive: false,
        })
    }

    /// The latest run instant at or before `t` (the slot that is due at `t`).
    pub fn latest_at_or_before(&self, zone: Zone, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let cron = self.cron()?;
        zone.with_tz(Search {
            cron,
            from: t,
            forward: false,
            inclusive: true,
        })
    }

    /// The next `n` run instants after `t`.
    pub fn upcoming(&self, zone: Zone, t: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut from = t;
        while out.len() < n {
            match self.next_after(zone, from) {
                Some(next) => {
                    out.push(next);
                    from = next;
                }
                None => break,
            }
        }
        out
    }
}

struct Search<'a> {
    cron: &'a Cron,
    from: DateTime<Utc>,
    forward: bool,
    inclusive: bool,
}

impl ZoneFn<Option<DateTime<Utc>>> for Search<'_> {
    fn call<Tz: TimeZone>(self, tz: &Tz) -> Option<DateTime<Utc>>
    where
        Tz::Offset: Copy,
    {
        let start = self.from.with_timezone(tz);
        let found = if self.forward {
            self.cron.find_next_occurrence(&start, self.inclusive)
        } else {
            self.cron.find_previous_occurrence(&start, self.inclusive)
        };
        found.ok().map(|t| t.with_timezone(&Utc))
    }
}

fn parse_hh_mm(t: &str) -> Option<(u32, u32)> {
    let (h, m) = t.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    (h < 24 && m < 60).then_some((h, m))
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Daily { hour, minute, .. } => write!(f, "{hour:02}:{minute:02}"),
            Schedule::Cron { expr, .. } => f.write_str(expr),
            Schedule::Off => f.write_str("off"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms_and_rejects_bad_times() {
        assert_eq!(Schedule::parse("02:00").unwrap().to_string(), "02:00");
        assert_eq!(Schedule::parse("7:05").unwrap().to_string(), "07:05");
        assert_eq!(
            Schedule::parse("30  2 * * 1-5").unwrap().to_string(),
            "30 2 * * 1-5"
        );
        assert!(Schedule::parse("OFF").unwrap().is_off());
        for bad in [
            "25:00",
            "12:60",
            "1200",
            "12:5",
            "",
            "* * * *",
            "0 0 0 * * *",
            "61 * * * *",
        ] {
            let err = Schedule::parse(bad).unwrap_err();
            assert!(err.contains("HH:MM"), "{bad}: {err}");
        }
    }

    #[test]
    fn daily_time_in_a_spring_forward_gap_runs_after_the_gap() {
        let zone: Zone = "Europe/Berlin".parse().unwrap();
        let s = Schedule::parse("02:30").unwrap();
        let from = "2025-03-29T12:00:00Z".parse().unwrap();
        let next = s.next_after(zone, from).unwrap();
        // 2025-03-30 02:00 CET jumps to 03:00 CEST = 01:00Z.
        assert_eq!(next.to_rfc3339(), "2025-03-30T01:00:00+00:00");
    }
}
