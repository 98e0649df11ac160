//! `retention.keep_within`: a span of time such as `"36h"`, `"7d"` or `"2w"`, with borg's
//! units (`--keep-within`): hours, days, weeks, months of 31 days, years of 365 days.

use chrono::Duration;
use std::fmt;

/// The accepted forms, quoted in every error about the setting.
pub const WITHIN_FORMS: &str =
    "a whole number followed by h, d, w, m or y (hours, days, weeks, months of 31 days, years of 365 days), such as \"36h\", \"7d\" or \"2w\"";

/// A span of time for `keep_within`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Within {
    amount: u32,
    unit: char,
}

impl Within {
    /// Parses `"36h"`, `"7d"`, `"2w"`, `"6m"`, `"1y"`; the error says what is accepted.
    pub fn parse(text: &str) -> Result<Within, String> {
        let t = text.trim();
        let bad = || format!("{text:?} is not a span of time; use {WITHIN_FORMS}");
        let unit = t.chars().last().ok_or_else(bad)?;
        let unit = if unit == 'H' { 'h' } else { unit };
        if !"hdwmy".contains(unit) {
            return Err(bad());
        }
        let digits = &t[..t.len() - 1];
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let amount: u32 = digits.parse().map_err(|_| bad())?;
        if amount == 0 {
            return Err(format!(
                "{text:?} keeps nothing; use {WITHIN_FORMS}, or null for no such rule"
            ));
        }
        if amount as i64 * Within::unit_hours(unit) > 100 * 365 * 24 {
            return Err(format!(
                "{text:?} is longer than a century; use {WITHIN_FORMS}"
            ));
        }
        Ok(Within { amount, unit })
    }

    fn unit_hours(unit: char) -> i64 {
        match unit {
            'h' => 1,
            'd' => 24,
            'w' => 7 * 24,
            'm' => 31 * 24,
            _ => 365 * 24,
        }
    }

    /// The span as a duration.
    pub fn duration(self) -> Duration {
        Duration::hours(self.amount as i64 * Within::unit_hours(self.unit))
    }
}

impl fmt::Display for Within {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_and_print_back() {
        for (text, hours) in [
            ("36h", 36),
            ("7d", 168),
            ("2w", 336),
            ("1m", 744),
            ("1y", 8760),
        ] {
            let w = Within::parse(text).unwrap();
            assert_eq!(w.to_string(), text);
            assert_eq!(w.duration(), Duration::hours(hours));
        }
        assert_eq!(Within::parse("12H").unwrap().to_string(), "12h");
        for bad in ["", "h", "7", "7 days", "-1d", "1.5d", "0d", "999999y", "7s"] {
            assert!(Within::parse(bad).is_err(), "{bad}");
        }
    }
}
