//! The backup log: `backup_dir/sqlkeep-log.jsonl`, one JSON event per line, kept apart
//! from the application's own logs. Each line is written with one `write` on a file
//! opened for appending, so concurrent writers (threads or processes) never interleave
//! inside a line; a torn last line after a crash is skipped when reading.

use crate::error::{Error, Operation, Result};
use crate::model::events::Event;
use crate::storage::local::atomic_file::create_private_dir;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// File name of the log inside `backup_dir`.
pub const LOG_FILE: &str = "sqlkeep-log.jsonl";

/// The log of one backup directory.
#[derive(Debug, Clone)]
pub struct BackupLog {
    path: PathBuf,
}

impl BackupLog {
    /// The log in `backup_dir`.
    pub fn new(backup_dir: &Path) -> BackupLog {
        BackupLog {
            path: backup_dir.join(LOG_FILE),
        }
    }

    /// Path of the log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event as a line.
    pub fn append(&self, e: &Event) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            create_private_dir(dir).map_err(|err| {
                Error::io(Operation::Log, "cannot create backup directory", dir, err)
            })?;
        }
        let mut line = serde_json::to_vec(e).expect("events always serialise");
        line.push(b'\n');
        let mut f = crate::platform::private(OpenOptions::new().create(true).append(true))
            .open(&self.path)
            .map_err(|err| Error::io(Operation::Log, "cannot open backup log", &self.path, err))?;
        f.write_all(&line).map_err(|err| {
            Error::io(
                Operation::Log,
                "cannot append to backup log",
                &self.path,
                err,
            )
        })
    }

    /// Whether any logged event names backup `id` (a cheap byte search, no parsing).
    pub fn mentions_id(&self, id: &str) -> bool {
        let Ok(bytes) = std::fs::read(&self.path) else {
            return false;
        };
        let needle = format!("\"id\":{}", serde_json::Value::String(id.to_string()));
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    /// Every event in the log, oldest first. Lines that do not parse (a torn line after a
    /// crash, an event type from a newer version) are skipped.
    pub fn read(&self) -> Result<Vec<Event>> {
        let f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::io(
                    Operation::Log,
                    "cannot read backup log",
                    &self.path,
                    e,
                ))
            }
        };
        let mut out = Vec::new();
        for line in BufReader::new(f).split(b'\n') {
            let line = line
                .map_err(|e| Error::io(Operation::Log, "cannot read backup log", &self.path, e))?;
            if let Ok(ev) = serde_json::from_slice::<Event>(&line) {
                out.push(ev);
            }
        }
        Ok(out)
    }
}
