//! include/sqlkeep.h is generated from the Rust source by cbindgen and checked in. This
//! test regenerates it in memory and fails when the checked-in copy differs (rustls-ffi's
//! `ensure-header-updated`), so the header can never drift from the library.
//! `SQLKEEP_BLESS_HEADER=1` rewrites the checked-in header instead.

use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn checked_in_header() -> PathBuf {
    crate_dir().join("../../include/sqlkeep.h")
}

fn generate() -> String {
    let dir = crate_dir();
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml"))
        .expect("bindings/c/cbindgen.toml is a valid cbindgen configuration");
    let bindings = cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

fn first_difference(a: &str, b: &str) -> String {
    for (n, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  checked in: {x}\n  generated:  {y}", n + 1);
        }
    }
    format!(
        "one is a prefix of the other ({} vs {} lines)",
        a.lines().count(),
        b.lines().count()
    )
}

#[test]
fn checked_in_header_matches_a_fresh_generation() {
    let fresh = generate();
    let path = checked_in_header();
    if std::env::var_os("SQLKEEP_BLESS_HEADER").is_some() {
        std::fs::write(&path, &fresh).expect("can write include/sqlkeep.h");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "{} is out of date ({}).\nRegenerate it with:\n  SQLKEEP_BLESS_HEADER=1 cargo test -p sqlkeep-capi --test header",
        Path::new("include/sqlkeep.h").display(),
        first_difference(&current, &fresh)
    );
}

#[test]
fn header_declares_the_whole_surface() {
    let header = generate();
    for name in [
        "sqlkeep_open",
        "sqlkeep_close",
        "sqlkeep_backup",
        "sqlkeep_backup_with",
        "sqlkeep_export",
        "sqlkeep_list",
        "sqlkeep_verify",
        "sqlkeep_restore",
        "sqlkeep_rotate",
        "sqlkeep_stats",
        "sqlkeep_history",
        "sqlkeep_scheduler_start",
        "sqlkeep_scheduler_stop",
        "sqlkeep_scheduler_status",
        "sqlkeep_configure",
        "sqlkeep_set_event_callback",
        "sqlkeep_keygen",
        "sqlkeep_last_error",
        "sqlkeep_string_free",
        "sqlkeep_push",
        "sqlkeep_list_remote",
        "sqlkeep_verify_remote",
        "sqlkeep_restore_remote",
        "sqlkeep_delete_with",
        "sqlkeep_cancel",
        "sqlkeep_version",
    ] {
        // `int sqlkeep_open(` or `const char *sqlkeep_version(`
        let declared =
            header.contains(&format!(" {name}(")) || header.contains(&format!("*{name}("));
        assert!(declared, "{name} is missing from the header");
    }
    for code in [
        "SQLKEEP_STATUS_OK = 0",
        "SQLKEEP_STATUS_INVALID_ARGUMENT = -1",
        "SQLKEEP_STATUS_PANIC = -2",
        "SQLKEEP_STATUS_OTHER = -3",
        "SQLKEEP_STATUS_CONFIG = -10",
        "SQLKEEP_STATUS_IO = -20",
        "SQLKEEP_STATUS_NOT_FOUND = -21",
        "SQLKEEP_STATUS_BUSY = -22",
        "SQLKEEP_STATUS_SQLITE = -30",
        "SQLKEEP_STATUS_CORRUPT = -31",
        "SQLKEEP_STATUS_KEY = -40",
        "SQLKEEP_STATUS_REMOTE = -50",
        "SQLKEEP_STATUS_CANCELLED = -60",
        "SQLKEEP_STATUS_POSTGRES = -70",
    ] {
        assert!(header.contains(code), "{code} is missing from the header");
    }
    for flag in [
        "SQLKEEP_BACKUP_FULL 1",
        "SQLKEEP_RESTORE_OVERWRITE 1",
        "SQLKEEP_RESTORE_PARANOID 2",
    ] {
        assert!(header.contains(flag), "{flag} is missing from the header");
    }
    assert!(header.contains("typedef struct sqlkeep sqlkeep;"));
    assert!(header
        .contains("typedef void (*sqlkeep_event_callback)(const char *event_json, void *user);"));
}
