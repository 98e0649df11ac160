//! Sizes for people: one formatter for the CLI, event descriptions, the Python module
//! and the desktop view.

/// `1.5 MB`: decimal units like `ls -h --si`, file managers and disk vendors; one
/// decimal below 100 of a unit, none above.
pub fn format_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    // 999_950 bytes would print as "1000.0 kB": move up a unit where rounding would.
    while v >= 999.95 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else if v < 99.95 {
        format!("{v:.1} {}", UNITS[i])
    } else {
        format!("{v:.0} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::format_size;

    /// How `retention.max_total_bytes` reads a size (config/change.rs), here beside the
    /// formatting it must read back.
    fn parse_size(text: &str) -> Option<u64> {
        parse_size::parse_size(text.trim()).ok()
    }

    #[test]
    fn sizes_read_back_what_format_size_writes() {
        // The configuration reads sizes with the parse-size crate (see config/change.rs).
        assert_eq!(parse_size("2 GB"), Some(2_000_000_000));
        assert_eq!(parse_size(" 1.5GB "), Some(1_500_000_000));
        assert_eq!(parse_size("500 MiB"), Some(500 * 1024 * 1024));
        assert_eq!(parse_size("750 kB"), Some(750_000));
        assert_eq!(parse_size("123"), Some(123));
        for n in [0u64, 999, 1_000, 4_321_000, 2_000_000_000] {
            let back = parse_size(&format_size(n)).unwrap();
            assert!(
                back.abs_diff(n) * 100 <= n.max(1),
                "{n} -> {} -> {back}",
                format_size(n)
            );
        }
        assert_eq!(parse_size("two gigs"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("-5 MB"), None);
    }

    #[test]
    fn sizes_round_like_a_file_manager() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(999), "999 B");
        assert_eq!(format_size(1000), "1.0 kB");
        assert_eq!(format_size(1_234_567), "1.2 MB");
        assert_eq!(format_size(99_940), "99.9 kB");
        assert_eq!(format_size(123_456), "123 kB");
        assert_eq!(format_size(999_960), "1.0 MB");
        assert_eq!(format_size(5_000_000_000_000_000), "5000 TB");
    }
}
