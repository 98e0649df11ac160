//! The configuration parser on arbitrary text: `Config::from_json`, `Config::from_value`
//! and `Config::with_changes` never panic; an accepted configuration survives its own
//! `to_value()` unchanged; changes never move the database.
//!
//! Input: a configuration document, optionally followed by a NUL byte and a changes
//! document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sqlkeep::Config;
use std::path::Path;

fn round_trip(cfg: &Config) {
    let v = cfg.to_value();
    let back = Config::from_value(&v, None)
        .unwrap_or_else(|e| panic!("to_value() does not load back: {e}\n{v}"));
    assert_eq!(
        back.to_value(),
        v,
        "the configuration changed in a round trip"
    );
}

fuzz_target!(|data: &[u8]| {
    let (doc, changes) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(text) = std::str::from_utf8(doc) else {
        return;
    };
    let parsed = Config::from_json(text);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        // Relative paths against a base folder, as for a configuration file.
        let based = Config::from_value(&v, Some(Path::new("/etc/sqlkeep")));
        assert_eq!(
            based.is_ok(),
            parsed.is_ok(),
            "from_json and from_value disagree on {text}"
        );
    }
    let Ok(cfg) = parsed else {
        return;
    };
    round_trip(&cfg);
    let Some(changes) = changes else {
        return;
    };
    let Ok(changes) = serde_json::from_slice::<serde_json::Value>(changes) else {
        return;
    };
    if let Ok(changed) = cfg.with_changes(&changes) {
        assert_eq!(
            changed.database, cfg.database,
            "with_changes moved the database"
        );
        round_trip(&changed);
        // Applying the same changes twice changes nothing more.
        let twice = changed
            .with_changes(&changes)
            .unwrap_or_else(|e| panic!("changes valid once are invalid twice: {e}"));
        assert_eq!(twice.to_value(), changed.to_value());
    }
});
