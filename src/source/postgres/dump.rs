//! A consistent dump of a live PostgreSQL database, streamed, with facts to check it by.
//!
//! ```text
//! psql session: BEGIN REPEATABLE READ ─ pg_export_snapshot() ─ table list ─ count(*) each ─ COMMIT
//!                                              │
//! pg_dump --snapshot=<that snapshot> -Fc -Z0 ──┴─► stdout ─► sink (the compressor, no file)
//! ```
//! The row counts and `pg_dump` read the same snapshot, so a restored archive must hold
//! exactly those rows: a full check compares them. The counts run in the session while
//! `pg_dump` streams, on the other core. The session's transaction stays open until
//! `pg_dump` has finished, so the snapshot it imported stays valid.

use super::catalog::{count_rows, tables, toc_holds};
use super::programs::{self, Session, Stderr};
use crate::config::PgTarget;
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::model::manifest::{PgFacts, TableRows};
use crate::pipeline::feed::RawFeed;
use crate::source::SnapshotInfo;
use std::io::Read;
use std::process::Stdio;
use std::time::Instant;

/// PostgreSQL's page size, the unit progress is estimated in.
const PAGE: u64 = 8192;

/// Bytes handed to the sink at a time.
const CHUNK: usize = 1 << 20;

/// Streams a consistent custom-format archive of `target` into `sink`, `feed` telling
/// when to stop (a cancel); `started` hears an estimate of the size once the snapshot is
/// taken. Returns the archive's facts.
pub(super) fn dump(
    target: &PgTarget,
    sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    feed: &RawFeed,
    started: &mut dyn FnMut(&SnapshotInfo),
) -> Result<SnapshotInfo> {
    let op = Operation::Backup;
    // A missing pg_dump fails before anything connects.
    let pg_dump_version = programs::version_of("pg_dump", op)?;
    let mut session = Session::open(&target.uri, op)?;
    let begun = Instant::now();
    let head = session.query(
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\n\
         SELECT json_build_array(pg_export_snapshot(), current_setting('server_version'), \
         current_setting('server_version_num'), pg_database_size(current_database())::text);",
    )?;
    let (snapshot, server_version, server_num, db_size): (String, String, String, String) = head
        .iter()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Postgres,
                op,
                format!("unexpected answer to the snapshot export: {head:?}"),
            )
        })?;
    let (dump_major, server_major) = (
        programs::major_version(&pg_dump_version).unwrap_or(0),
        programs::major_version(&server_num).unwrap_or(0),
    );
    if dump_major < server_major {
        return Err(Error::new(
            ErrorKind::Postgres,
            op,
            format!(
                "{pg_dump_version} is older than the server ({server_version}); pg_dump cannot dump a newer server"
            ),
        )
        .with_hint(format!(
            "install pg_dump {server_major} or newer (Debian: postgresql-client-{server_major}) and put it first on PATH"
        )));
    }
    let tables = tables(&mut session)?;
    let estimate = db_size.parse::<u64>().unwrap_or(0);
    started(&SnapshotInfo {
        raw_size: estimate,
        unit_size: PAGE,
        units: estimate / PAGE,
        ..postgres_info(0, 0, None)
    });
    let mut child = programs::command("pg_dump", op)?
        .args([
            "-w",
            "--format=custom",
            "-Z0",
            "--snapshot",
            &snapshot,
            "-d",
            &target.uri,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| programs::spawn_error("pg_dump", op, e))?;
    let stderr = Stderr::collect(&mut child);
    let mut stdout = child.stdout.take().expect("stdout was piped");
    // The archive's table of contents comes first: `pg_restore --list` reads it from the
    // head of the stream as it passes, and stops reading once it has it.
    let mut toc = programs::command("pg_restore", op)?
        .arg("--list")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| programs::spawn_error("pg_restore", op, e))?;
    let toc_err = Stderr::collect(&mut toc);
    let mut toc_in = toc.stdin.take();
    let (streamed, counts) = std::thread::scope(|s| {
        let counter = s.spawn(|| count_rows(&mut session, &tables));
        let mut tee = |chunk: &[u8]| -> Result<()> {
            if let Some(w) = toc_in.as_mut() {
                if crate::platform::write_all_to_child(w, chunk).is_err() {
                    // It has read what it needs (or failed; its status says which).
                    toc_in = None;
                }
            }
            sink(chunk)
        };
        let streamed = pump(&mut stdout, &mut tee, feed);
        if streamed.is_err() {
            // Cancelled, or the compressor failed: pg_dump stops here.
            let _ = child.kill();
        }
        (streamed, counter.join())
    });
    drop(stdout);
    // Every child is waited for on every path: its end of stdin closed, pg_restore ends.
    drop(toc_in);
    let listed = toc.wait_with_output();
    let toc_said = toc_err.text();
    let status = child
        .wait()
        .map_err(|e| programs::spawn_error("pg_dump", op, e))?;
    let said = stderr.text();
    let streamed = streamed?;
    let listed = listed.map_err(|e| programs::spawn_error("pg_restore", op, e))?;
    if !status.success() {
        return Err(programs::failure("pg_dump", &target.uri, &said, op));
    }
    let counts = counts.unwrap_or_else(|_| {
        Err(Error::new(
            ErrorKind::Postgres,
            op,
            "the row counting thread failed",
        ))
    })?;
    if !listed.status.success() {
        return Err(Error::corrupt(
            op,
            format!(
                "pg_restore cannot read the table of contents of pg_dump's archive: {}",
                programs::scrub(&toc_said)
            ),
        ));
    }
    session.query("COMMIT;")?;
    let copy_ms = begun.elapsed().as_millis() as u64;
    session.close();
    let tables: Vec<TableRows> = tables
        .into_iter()
        .zip(counts)
        .map(|((schema, table), rows)| TableRows {
            schema,
            table,
            rows,
        })
        .collect();
    if let Err(damage) = toc_holds(&String::from_utf8_lossy(&listed.stdout), &tables) {
        return Err(Error::corrupt(
            op,
            format!("pg_dump's archive is incomplete: {damage}"),
        ));
    }
    let facts = PgFacts {
        server_version,
        pg_dump_version,
        database: target.dbname.clone(),
        tables,
    };
    Ok(postgres_info(streamed, copy_ms, Some(facts)))
}

/// The snapshot facts of an archive of `raw_size` bytes.
fn postgres_info(raw_size: u64, copy_ms: u64, facts: Option<PgFacts>) -> SnapshotInfo {
    SnapshotInfo {
        raw_size,
        // The manifest's SQLite fields stay empty for PostgreSQL; its facts are `postgres`.
        unit_size: 0,
        units: 0,
        copy_ms,
        schema_version: 0,
        mode: String::new(),
        engine_version: String::new(),
        postgres: facts,
    }
}

/// Copies `from` into `sink` in chunks until it ends; the bytes copied.
fn pump(
    from: &mut impl Read,
    sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    feed: &RawFeed,
) -> Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        feed.check()?;
        let mut filled = 0;
        while filled < buf.len() {
            match from.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::Postgres,
                        Operation::Backup,
                        format!("cannot read pg_dump's output: {e}"),
                    ))
                }
            }
        }
        if filled == 0 {
            return Ok(total);
        }
        sink(&buf[..filled])?;
        total += filled as u64;
    }
}
