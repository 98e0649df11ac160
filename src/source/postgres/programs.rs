//! PostgreSQL's own client programs, run as child processes: `psql` (a session that holds
//! the snapshot and counts rows), `pg_dump` and `pg_restore`. Running them rather than
//! linking a client library gives sqlkeep exactly libpq's connection behaviour (the
//! password from `PGPASSWORD`, `~/.pgpass` or `PGPASSFILE`, `sslmode`, service files),
//! and `pg_dump` is the only program that writes PostgreSQL's archive format anyway.
//!
//! Every program gets `-w` (never prompt for a password) and the URI without a password;
//! whatever a program prints is scrubbed of the `PGPASSWORD` value before it reaches a
//! message.

use crate::error::{Error, ErrorKind, Operation, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

/// The line a session prints after each script, so its reader knows the output is whole.
const MARKER: &str = "__sqlkeep_done__";

/// Finds `name` on `PATH` (Debian's `postgresql-client` puts wrappers in /usr/bin that
/// pick the newest installed version).
pub(crate) fn program(name: &str, op: Operation) -> Result<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Postgres,
                op,
                format!("{name} was not found on PATH; it is needed for a PostgreSQL database"),
            )
            .with_hint("install PostgreSQL's client programs (Debian: apt-get install postgresql-client), as new as the server")
        })
}

/// A command for program `name` with the options every run gets.
pub(crate) fn command(name: &str, op: Operation) -> Result<Command> {
    let mut c = Command::new(program(name, op)?);
    // Messages in a language the error classification below reads.
    c.env("LC_MESSAGES", "C").env("LANG", "C");
    Ok(c)
}

/// The major version in a version text (`pg_dump (PostgreSQL) 15.18 (Debian …)` → 15,
/// `150018` → 15).
pub(crate) fn major_version(text: &str) -> Option<u32> {
    let word = text
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    if word.len() == 6 && word.chars().all(|c| c.is_ascii_digit()) {
        return word.parse::<u32>().ok().map(|n| n / 10000);
    }
    word.split(['.', '-']).next()?.parse().ok()
}

/// The version line of program `name` (`pg_dump (PostgreSQL) 15.18`).
pub(crate) fn version_of(name: &str, op: Operation) -> Result<String> {
    let out = command(name, op)?
        .arg("--version")
        .output()
        .map_err(|e| spawn_error(name, op, e))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

pub(crate) fn spawn_error(name: &str, op: Operation, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Postgres, op, format!("cannot run {name}: {e}"))
}

/// `text` with the password libpq would use from the environment removed.
pub(crate) fn scrub(text: &str) -> String {
    let mut out = text.trim().to_string();
    for var in ["PGPASSWORD", "PGSSLPASSWORD"] {
        if let Ok(secret) = std::env::var(var) {
            if secret.len() >= 3 {
                out = out.replace(&secret, "***");
            }
        }
    }
    out
}

/// The error for what a program printed on failure, its kind read from libpq's and the
/// server's wording: a missing database is `NotFound`, the rest `Postgres`.
pub(crate) fn failure(program: &str, uri: &str, stderr: &str, op: Operation) -> Error {
    let said = scrub(stderr);
    let said = if said.is_empty() {
        "it exited without saying why".to_string()
    } else {
        said.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(6)
            .collect::<Vec<_>>()
            .join("; ")
    };
    let lower = said.to_ascii_lowercase();
    let (kind, hint) = if lower.contains("does not exist") && lower.contains("database") {
        (
            ErrorKind::NotFound,
            "check the database name in the `database` setting",
        )
    } else if lower.contains("password authentication failed")
        || lower.contains("no password supplied")
        || lower.contains("authentication failed")
    {
        (
            ErrorKind::Postgres,
            "the password comes from PGPASSWORD, ~/.pgpass or PGPASSFILE; check it and the user in the URI",
        )
    } else if lower.contains("connection refused")
        || lower.contains("could not connect")
        || lower.contains("could not translate host name")
        || lower.contains("timeout expired")
    {
        (
            ErrorKind::Postgres,
            "is the PostgreSQL server running and reachable at the host and port of the URI?",
        )
    } else if lower.contains("server version mismatch") {
        (
            ErrorKind::Postgres,
            "install a pg_dump at least as new as the server (Debian: the postgresql-client package of that version)",
        )
    } else {
        (
            ErrorKind::Postgres,
            "see the PostgreSQL server's log for more",
        )
    };
    Error::new(kind, op, format!("{program} failed on {uri}: {said}")).with_hint(hint)
}

/// Collects a child's stderr on a thread, so a chatty program never blocks on a full pipe.
pub(crate) struct Stderr(Arc<Mutex<String>>, Option<std::thread::JoinHandle<()>>);

impl Stderr {
    pub fn collect(child: &mut Child) -> Stderr {
        let buf = Arc::new(Mutex::new(String::new()));
        let handle = child.stderr.take().map(|mut err| {
            let buf = buf.clone();
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = err.read_to_end(&mut bytes);
                // Keep the start: the first lines say why.
                bytes.truncate(64 * 1024);
                *buf.lock().unwrap_or_else(|e| e.into_inner()) =
                    String::from_utf8_lossy(&bytes).into_owned();
            })
        });
        Stderr(buf, handle)
    }

    /// What the program printed, once it has closed stderr.
    pub fn text(mut self) -> String {
        if let Some(h) = self.1.take() {
            let _ = h.join();
        }
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One `psql` connection kept open: scripts go in, their output lines come back. It holds
/// the transaction whose snapshot a dump uses.
pub(crate) struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    out: BufReader<ChildStdout>,
    stderr: Option<Stderr>,
    uri: String,
    op: Operation,
}

impl Session {
    /// Connects to `uri` (a URI without a password).
    pub fn open(uri: &str, op: Operation) -> Result<Session> {
        let mut child = command("psql", op)?
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-w",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                uri,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_error("psql", op, e))?;
        let stderr = Stderr::collect(&mut child);
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().expect("stdout was piped"));
        let mut s = Session {
            child,
            stdin,
            out,
            stderr: Some(stderr),
            uri: uri.to_string(),
            op,
        };
        // Connecting happens before the first script runs: an unreachable server or a
        // wrong password shows here.
        s.query("SELECT 1")?;
        Ok(s)
    }

    /// Runs `sql` (one or more statements); the lines it printed.
    pub fn query(&mut self, sql: &str) -> Result<Vec<String>> {
        // A statement left open would swallow the marker's line into its buffer.
        let end = if sql.trim_end().ends_with(';') {
            ""
        } else {
            ";"
        };
        let script = format!("{sql}{end}\n\\echo {MARKER}\n");
        let sent = self
            .stdin
            .as_mut()
            .map(|w| crate::platform::write_all_to_child(w, script.as_bytes()));
        if !matches!(sent, Some(Ok(()))) {
            return Err(self.ended());
        }
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            match self.out.read_line(&mut line) {
                Ok(0) | Err(_) => return Err(self.ended()),
                Ok(_) => {}
            }
            let line = line.trim_end_matches(['\n', '\r']);
            if line == MARKER {
                return Ok(lines);
            }
            lines.push(line.to_string());
        }
    }

    /// The error of a session that ended: what psql printed.
    fn ended(&mut self) -> Error {
        self.stdin = None;
        let _ = self.child.wait();
        let text = self.stderr.take().map(Stderr::text).unwrap_or_default();
        failure("psql", &self.uri, &text, self.op)
    }

    /// Ends the session (its transaction, if any, rolls back).
    pub fn close(mut self) {
        self.stdin = None;
        let _ = self.child.wait();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stdin = None;
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// `text` as an SQL string literal.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `name` as an SQL identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A path as the argument of a program.
pub(crate) fn arg(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_quoting() {
        assert_eq!(
            major_version("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(major_version("150018"), Some(15));
        assert_eq!(major_version("pg_dump (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn failures_are_classified() {
        let e = failure("psql", "postgresql://u@h/x", "psql: error: connection to server at \"h\", port 5432 failed: FATAL:  database \"x\" does not exist", Operation::Backup);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = failure(
            "psql",
            "u",
            "FATAL:  password authentication failed for user \"u\"",
            Operation::Backup,
        );
        assert_eq!(e.kind(), ErrorKind::Postgres);
        assert!(e.hint().unwrap().contains("PGPASSWORD"));
    }
}
