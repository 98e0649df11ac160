//! The backup reader on arbitrary bytes: the bytes are written as a backup file beside a
//! plausible manifest (right size and SHA-256, so the decoder is reached), then read
//! with the stream check and, when that passes, checked fully. Never panics; a
//! stream accepted by `check_stream` (members decoded in parallel) decodes with one
//! independent stream decoder (`decompress::stream_decoder`) to exactly the
//! size the manifest records.
//!
//! Input: byte 0 picks the compression (gzip, zstd, none), bytes 1..5 the raw size the
//! manifest records (little-endian, at most 4 MiB), the rest is the backup file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlkeep::testing::{check_file, decoder, hex, verify_file};
use sqlkeep::{Compression, Manifest, VerifyLevel};
use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

const ID: &str = "app-20261123T020000Z-manual";
const MAX_RAW: u32 = 4 << 20;

fn dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// Page size, page count and user_version as a manifest would record them for `raw`.
fn header_facts(raw: &[u8]) -> (u32, u64, i64) {
    if raw.len() < 100 {
        return (4096, 0, 0);
    }
    let ps = match u16::from_be_bytes([raw[16], raw[17]]) {
        1 => 65536,
        n => n as u32,
    };
    let uv = i32::from_be_bytes([raw[60], raw[61], raw[62], raw[63]]) as i64;
    (ps, raw.len() as u64 / ps.max(1) as u64, uv)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let compression =
        [Compression::Gzip, Compression::Zstd, Compression::None][data[0] as usize % 3];
    let raw_size = u32::from_le_bytes([data[1], data[2], data[3], data[4]]) % (MAX_RAW + 1);
    let file = &data[5..];
    let name = format!("{ID}{}", compression.extension());
    let dir = dir();
    std::fs::write(dir.join(&name), file).unwrap();
    let manifest = |page_size: u32, page_count: u64, user_version: i64| {
        let doc = json!({
            "format": 1,
            "id": ID,
            "kind": "manual",
            "label": null,
            "created_at": "2026-11-23T02:00:00Z",
            "database": "/srv/app.db",
            "file": name,
            "compression": compression.as_str(),
            "compression_level": compression.default_level(),
            "size_bytes": file.len(),
            "sha256": hex(&Sha256::digest(file)),
            "raw_size_bytes": raw_size,
            "page_size": page_size,
            "page_count": page_count,
            "user_version": user_version,
            "journal_mode": "wal",
            "sqlite_version": "3.50.0",
            "sqlkeep_version": "0.1.0",
            "duration_ms": 1,
            "verification": null,
        });
        Manifest::parse(doc.to_string().as_bytes(), &dir.join(format!("{ID}.json")))
            .expect("the fuzz manifest is valid")
    };
    let m = manifest(4096, 0, 0);
    let verdict = check_file(dir, &m).expect("checking a readable file does not fail");
    if compression == Compression::None {
        assert_eq!(
            verdict.is_ok(),
            file.len() as u64 == raw_size as u64,
            "{verdict:?}"
        );
    }
    if verdict.is_err() {
        return;
    }
    // Accepted: an independent decode gives exactly the recorded size.
    let mut raw = Vec::new();
    decoder(&mut &file[..], compression)
        .and_then(|mut d| d.read_to_end(&mut raw))
        .expect("an accepted stream decodes");
    assert_eq!(
        raw.len() as u64,
        raw_size as u64,
        "accepted stream has another size"
    );
    // And the full check (SQLite on the decoded bytes) never panics either.
    let (ps, pc, uv) = header_facts(&raw);
    let _ = verify_file(dir, &manifest(ps, pc, uv), VerifyLevel::Full).expect("the check runs");
});
