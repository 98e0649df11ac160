//! `Manifest::parse` on arbitrary bytes: never panics; what it accepts serialises and
//! parses back to the same manifest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sqlkeep::Manifest;
use std::path::PathBuf;

fuzz_target!(|data: &[u8]| {
    // Name the file after the id the document claims (when it claims one), so that
    // inputs get past the id check to the checks behind it.
    let stem = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_string))
        .filter(|s| !s.is_empty() && !s.contains('/') && !s.contains('\0'))
        .unwrap_or_else(|| "app-20261123T020000Z-manual".to_string());
    let path = PathBuf::from(format!("/backups/{stem}.json"));
    let Ok(m) = Manifest::parse(data, &path) else {
        return;
    };
    let bytes = m.to_json_bytes();
    let again = Manifest::parse(&bytes, &path).unwrap_or_else(|e| {
        panic!(
            "a parsed manifest does not parse back: {e}\n{}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(again, m, "the manifest changed in a round trip");
    assert_eq!(again.to_json_bytes(), bytes, "serialisation is not stable");
});
