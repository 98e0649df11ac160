//! Argument parsing, configuration loading and output of the `sqlkeep` command.

mod demo;
mod output;
mod serve;

use clap::{ArgGroup, Parser, Subcommand};
use serde_json::{json, Value};
use sqlkeep::{BackupRequest, Config, Error, ErrorKind, HealthLevel, Keeper, Kind, VerifyLevel};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "sqlkeep",
    version,
    about = "Automatic, verified, compressed backups of a live SQLite database",
    after_help = "Exit status: 0 success, 1 the operation failed (including a failed verification), 2 usage or configuration error."
)]
struct Cli {
    /// Configuration file (JSON, the same keys as every sqlkeep interface).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The SQLite database (overrides `database` of the configuration).
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// The backup directory (overrides `backup_dir`; default: `backups` beside the database).
    #[arg(long, global = true, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Take a backup now.
    Backup {
        /// The database (same as --db).
        db: Option<PathBuf>,
        /// A free-text label.
        #[arg(long)]
        label: Option<String>,
        /// manual, scheduled, shutdown, pre-restore or pre-operation.
        #[arg(long, default_value = "manual")]
        kind: String,
        /// A self-contained backup even when `incremental` is on (the next incremental
        /// backups build on it).
        #[arg(long)]
        full: bool,
    },
    /// Write a backup (an incremental one too) as one self-contained file, checked as a
    /// restore is: FILE ending in .gz (readable with `gunzip`) or .zst.
    Export {
        /// The backup id.
        id: String,
        /// The new file, such as app.sqlite3.gz; it must not exist.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// List backups, newest first (with --remote: those on that remote).
    List {
        /// List the backups on this remote (one read of its index) instead.
        #[arg(long, value_name = "NAME")]
        remote: Option<String>,
    },
    /// Copy to each remote (or only --remote) the backups it lacks and its retention
    /// keeps, and delete there what that policy no longer keeps. Exit status 1 when a
    /// remote failed or still lacks backups.
    Push {
        /// Only this remote.
        #[arg(long, value_name = "NAME")]
        remote: Option<String>,
    },
    /// Check a backup (full by default: decompress and run integrity_check).
    #[command(group(ArgGroup::new("which").required(true).args(["id", "all"])))]
    Verify {
        /// The backup id.
        id: Option<String>,
        /// Check every backup, broken ones included.
        #[arg(long)]
        all: bool,
        /// Only checksum, decompression and size.
        #[arg(long)]
        quick: bool,
        /// Check the copy on this remote (quick: its checksum and stream as it
        /// downloads; full: decoded and checked too). A damaged copy is taken out of the
        /// remote's index, so the next push uploads it again.
        #[arg(long, value_name = "NAME", conflicts_with = "all")]
        remote: Option<String>,
    },
    /// Restore a backup into the database (after a safety backup) or into a new file.
    Restore {
        /// The backup id.
        id: String,
        /// Write a new file instead of replacing the database.
        #[arg(long, value_name = "PATH")]
        to: Option<PathBuf>,
        /// Do not ask for confirmation; allow overwriting an existing --to file.
        #[arg(long)]
        yes: bool,
        /// Run integrity_check on the restored copy even when the backup's recorded image
        /// hash proves it passed at backup time (slower).
        #[arg(long)]
        paranoid: bool,
        /// Bring back only rows of this table, merged into the live database by key
        /// (after a safety backup, in one transaction).
        #[arg(long, value_name = "T", conflicts_with_all = ["to", "paranoid"])]
        table: Option<String>,
        /// With --table: only the backup's rows for which this SQL condition holds
        /// (evaluated on the backup's copy, never on the live database).
        #[arg(long = "where", value_name = "SQL", requires = "table")]
        condition: Option<String>,
        /// With --table: the table's content becomes the backup's (live rows the backup
        /// lacks are removed).
        #[arg(long, requires = "table", conflicts_with = "condition")]
        replace_table: bool,
        /// With --table: also bring the rows foreign keys tie to the chosen ones (rows
        /// that refer to them, and rows they refer to that the database lacks).
        #[arg(long, requires = "table")]
        with_dependents: bool,
        /// Restore the copy on this remote (downloaded and fully checked first): a new
        /// machine needs only the configuration and the credentials.
        #[arg(long, value_name = "NAME", conflicts_with = "table")]
        remote: Option<String>,
    },
    /// Delete one backup.
    Delete {
        /// The backup id.
        id: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Also delete its copies on every remote.
        #[arg(long)]
        remote_copies: bool,
    },
    /// What differs between backup FROM and backup TO (default: the live database):
    /// rows added, removed and changed per table, schema objects, user_version. Exit
    /// status 0 when identical, 1 when they differ.
    Diff {
        /// The backup compared from (the older side).
        from: String,
        /// The backup compared to; the live database when left out.
        to: Option<String>,
        /// With --rows: the table whose differing rows to list.
        #[arg(long, requires = "rows")]
        table: Option<String>,
        /// List the rows of --table that differ (removed, added, changed).
        #[arg(long, requires = "table")]
        rows: bool,
        /// With --rows: at most this many rows.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// With --rows: skip this many rows first.
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
    /// Counts, sizes, last success and failure.
    Stats,
    /// The health verdict (ok, warning or failing) with its reasons. Exit status 0 when
    /// ok, 1 when degraded (warning) or failing.
    Status,
    /// The notification channels (`notify.channels`); with --test, sends a test message
    /// through each and reports each result (exit status 1 when any failed).
    Notify {
        /// Send a test message through every channel now.
        #[arg(long)]
        test: bool,
    },
    /// Backup runs, newest first.
    History {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
    /// Backup runs merged with the backups present, one row per backup, newest first.
    Timeline {
        /// Runs to consider (backups present beyond them are always listed).
        #[arg(long, default_value_t = 200)]
        limit: usize,
        /// Also list runs whose backup was deleted since.
        #[arg(long)]
        include_deleted: bool,
    },
    /// Print the next run instants of the schedule (check a cron expression before trusting it).
    Schedule {
        /// How many instants.
        #[arg(long, default_value_t = 5)]
        next: usize,
        /// Start after this instant (RFC 3339) instead of now.
        #[arg(long, value_name = "RFC3339")]
        from: Option<String>,
        /// A schedule to try instead of the configured one ("HH:MM", cron, "off").
        #[arg(long, value_name = "SCHEDULE")]
        schedule: Option<String>,
        /// A zone to try instead of the configured one.
        #[arg(long, value_name = "ZONE")]
        timezone: Option<String>,
    },
    /// Apply the retention policy (grandfather-father-son) to automatic backups.
    Rotate {
        /// Only show what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run the scheduler and the HTTP service (JSON API under /api/, live events,
    /// /metrics, the dashboard at /) on `server.listen` until SIGINT/SIGTERM.
    Serve {
        /// Listen here instead of `server.listen` (such as 127.0.0.1:8765).
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Run the scheduler in the foreground until SIGINT/SIGTERM (systemd, containers).
    Run {
        /// Do what is due now (catch-up included) and exit: for cron-driven hosts.
        #[arg(long)]
        once: bool,
    },
    /// Make a new encryption key (an age identity file, mode 0600) and print its public key
    /// for `encryption.recipients`.
    Keygen {
        /// The key file to write; an existing file is never overwritten.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Build a sample database, back it up, verify, damage it, restore it.
    Demo {
        /// Folder for the demo's database and backups (created; reused if it holds an
        /// earlier demo).
        #[arg(value_name = "FOLDER", default_value = "sqlkeep-demo")]
        folder: PathBuf,
        /// Size of the sample database in MB.
        #[arg(long, default_value_t = 24)]
        size_mb: u64,
    },
}

/// A failure with its exit status.
struct Failure {
    code: u8,
    error: Error,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let code = match error.kind() {
            ErrorKind::Config | ErrorKind::InvalidArgument => 2,
            // As a shell reports a command stopped by Ctrl-C.
            ErrorKind::Cancelled => 130,
            _ => 1,
        };
        Failure { code, error }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            if json {
                let e = &f.error;
                println!(
                    "{}",
                    json!({"error": {
                        "kind": e.kind().as_str(),
                        "operation": e.operation().as_str(),
                        "message": e.to_string(),
                        "key": e.key(),
                        "hint": e.hint(),
                    }})
                );
            } else {
                eprintln!("sqlkeep: {}", f.error);
            }
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: Cli) -> Result<u8, Failure> {
    let out = output::Output { json: cli.json };
    match &cli.command {
        Command::Demo { folder, size_mb } => {
            return demo::run(folder, *size_mb, &out).map_err(Failure::from)
        }
        Command::Keygen { out: path } => {
            out.new_key(&sqlkeep::keygen(path)?);
            return Ok(0);
        }
        Command::Schedule {
            next,
            from,
            schedule,
            timezone,
        } => {
            return schedule_command(
                &cli,
                *next,
                from.as_deref(),
                schedule.as_deref(),
                timezone.as_deref(),
                &out,
            )
        }
        Command::Backup { db: Some(db), .. }
            if cli.db.is_some() && cli.db.as_deref() != Some(db) =>
        {
            return Err(usage("give the database once: as the argument or as --db"));
        }
        _ => {}
    }
    let db_arg = match &cli.command {
        Command::Backup { db: Some(db), .. } => Some(db.clone()),
        _ => cli.db.clone(),
    };
    let config = load_config(cli.config.as_deref(), db_arg.as_deref(), cli.dir.as_deref())?;
    let keeper = Keeper::open(config);
    match cli.command {
        Command::Backup {
            label, kind, full, ..
        } => {
            let req = BackupRequest {
                kind: Kind::parse(&kind)?,
                label,
                full,
            };
            // Ctrl-C (or SIGTERM) cancels the backup: it stops, removes what it wrote and
            // is logged as cancelled; the command then exits 130.
            // The handler lives as long as the process; the keeper handle it holds is
            // given back after the backup, so that dropping the last one still waits for
            // pending notifications.
            let cancel = std::sync::Arc::new(std::sync::Mutex::new(Some(keeper.clone())));
            let handler = cancel.clone();
            ctrlc::set_handler(move || {
                if let Some(k) = handler.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    k.cancel();
                }
            })
            .map_err(|e| usage(&format!("cannot install the signal handler: {e}")))?;
            let bar = output::progress_bar(!cli.json && std::io::stderr().is_terminal());
            let m = match &bar {
                Some(bar) => {
                    let bar = bar.clone();
                    keeper.backup_with_progress(&req, &move |done, total| {
                        bar.set_length(total);
                        bar.set_position(done);
                    })
                }
                None => keeper.backup(&req),
            };
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            cancel.lock().unwrap_or_else(|e| e.into_inner()).take();
            out.backup(&m?);
            Ok(0)
        }
        Command::List { remote: None } => {
            out.list(&keeper.list()?);
            Ok(0)
        }
        Command::List {
            remote: Some(remote),
        } => {
            out.list(&keeper.list_remote(&remote)?);
            Ok(0)
        }
        Command::Push { remote } => {
            let reports = keeper.push(remote.as_deref())?;
            out.push_reports(&reports);
            Ok(
                if reports.iter().all(|r| r.error.is_none() && r.missing == 0) {
                    0
                } else {
                    1
                },
            )
        }
        Command::Verify {
            id,
            quick,
            remote: Some(remote),
            ..
        } => {
            let level = if quick {
                VerifyLevel::Quick
            } else {
                VerifyLevel::Full
            };
            let id = id.expect("clap requires an id with --remote");
            let v = keeper.verify_remote(&remote, &id, level)?;
            let ok = v.ok;
            out.verifications(&[(id, v)]);
            Ok(if ok { 0 } else { 1 })
        }
        Command::Verify { id, all, quick, .. } => {
            let level = if quick {
                VerifyLevel::Quick
            } else {
                VerifyLevel::Full
            };
            let results = if all {
                keeper.verify_all(level)?
            } else {
                let id = id.expect("clap requires an id or --all");
                vec![(id.clone(), keeper.verify(&id, level)?)]
            };
            out.verifications(&results);
            Ok(if results.iter().all(|(_, v)| v.ok) {
                0
            } else {
                1
            })
        }
        Command::Restore {
            id,
            yes,
            table: Some(table),
            condition,
            replace_table,
            with_dependents,
            ..
        } => {
            let mut req = sqlkeep::TableRestore::new(&table)
                .replace_table(replace_table)
                .with_dependents(with_dependents);
            if let Some(c) = condition {
                req = req.condition(c);
            }
            if !yes {
                // What restoring the whole table would do (the condition narrows it), when
                // someone is there to read it.
                if std::io::stdin().is_terminal() {
                    match keeper.diff(&id, None) {
                        Ok(d) => {
                            if let Some(t) = d.tables.iter().find(|t| t.name == table) {
                                eprintln!(
                                    "Table {table} in backup {id}: {}.",
                                    t.table_restore_preview
                                );
                            }
                        }
                        Err(e) => eprintln!("(what would change cannot be shown: {e})"),
                    }
                }
                let what = match &req.condition {
                    Some(c) => format!("the rows of table {table} where {c}"),
                    None if replace_table => {
                        format!("all of table {table} (rows the backup lacks are removed)")
                    }
                    None => format!("every row of table {table}"),
                };
                let question = format!(
                    "Bring back {what} from backup {id} into {}?{} A safety backup of the current data is taken first. [y/N] ",
                    keeper.config().database.display(),
                    if with_dependents { " Rows tied to them by foreign keys come too." } else { "" }
                );
                if !confirm(&question)? {
                    eprintln!("sqlkeep: nothing restored");
                    return Ok(1);
                }
            }
            let outcome = keeper.restore_table(&id, &req)?;
            out.table_restore(&outcome);
            Ok(0)
        }
        Command::Restore {
            id,
            to,
            yes,
            paranoid,
            remote,
            ..
        } => {
            let target = to.clone().unwrap_or_else(|| keeper.config().database);
            let sqlite = keeper.config().postgres().is_none();
            if !yes && (to.is_none() || keeper.restore_target_exists(to.as_deref())?) {
                // What the live database would lose and regain, before the question (only
                // when someone is there to read it: otherwise confirm() refuses anyway).
                if sqlite && to.is_none() && remote.is_none() && std::io::stdin().is_terminal() {
                    match keeper.diff(&id, None) {
                        Ok(d) => eprintln!("This restore {}.", d.restore_preview),
                        Err(e) => eprintln!("(what would change cannot be shown: {e})"),
                    }
                }
                let question = format!(
                    "Replace {} with backup {id}?{} [y/N] ",
                    target.display(),
                    if to.is_none() {
                        " A safety backup of the current data is taken first."
                    } else {
                        ""
                    }
                );
                if !confirm(&question)? {
                    eprintln!("sqlkeep: nothing restored");
                    return Ok(1);
                }
            }
            let options = sqlkeep::RestoreOptions {
                overwrite: true,
                paranoid,
            };
            let outcome = match &remote {
                Some(remote) => keeper.restore_remote(remote, &id, to.as_deref(), options)?,
                None => keeper.restore_with(&id, to.as_deref(), options)?,
            };
            out.restore(&outcome);
            Ok(0)
        }
        Command::Delete {
            id,
            yes,
            remote_copies,
        } => {
            let question = if remote_copies {
                format!("Delete backup {id} here and on every remote? [y/N] ")
            } else {
                format!("Delete backup {id}? [y/N] ")
            };
            if !yes && !confirm(&question)? {
                eprintln!("sqlkeep: nothing deleted");
                return Ok(1);
            }
            let m = keeper.delete_with(&id, remote_copies)?;
            out.deleted(&m);
            Ok(0)
        }
        Command::Diff {
            from,
            to,
            table: Some(table),
            rows: true,
            limit,
            offset,
        } => {
            let rows = keeper.diff_rows(&from, to.as_deref(), &table, limit, offset)?;
            out.diff_rows(&rows);
            Ok(if rows.is_empty() { 0 } else { 1 })
        }
        Command::Diff { from, to, .. } => {
            let d = keeper.diff(&from, to.as_deref())?;
            out.diff(&d);
            Ok(if d.identical { 0 } else { 1 })
        }
        Command::Stats => {
            out.stats(&keeper.stats()?);
            Ok(0)
        }
        Command::Export { id, to } => {
            out.exported(&keeper.export(&id, &to)?);
            Ok(0)
        }
        Command::Status => {
            let health = keeper.health()?;
            out.health(&health);
            Ok(if health.verdict == HealthLevel::Ok {
                0
            } else {
                1
            })
        }
        Command::Notify { test: false } => {
            out.channels(&keeper.config().notify.channels);
            Ok(0)
        }
        Command::Notify { test: true } => {
            let results = keeper.notify_test();
            out.notify_results(&results);
            Ok(if results.iter().all(|r| r.ok) { 0 } else { 1 })
        }
        Command::Timeline {
            limit,
            include_deleted,
        } => {
            out.history(&keeper.timeline(limit, include_deleted)?);
            Ok(0)
        }
        Command::History { limit, offset } => {
            out.history(&keeper.history(limit, offset)?);
            Ok(0)
        }
        Command::Rotate { dry_run } => {
            out.rotation(&keeper.rotate(dry_run)?);
            Ok(0)
        }
        Command::Run { once } => run_scheduler(&keeper, once, &out),
        Command::Serve { listen } => {
            serve::serve(&keeper, listen)?;
            Ok(0)
        }
        Command::Demo { .. } | Command::Schedule { .. } | Command::Keygen { .. } => {
            unreachable!("handled above")
        }
    }
}

/// `sqlkeep schedule`: needs no database, only a schedule and a zone (from the
/// configuration, from flags, or the defaults).
fn schedule_command(
    cli: &Cli,
    n: usize,
    from: Option<&str>,
    schedule: Option<&str>,
    timezone: Option<&str>,
    out: &output::Output,
) -> Result<u8, Failure> {
    let mut doc = match &cli.config {
        Some(path) => read_config_file(path)?,
        None => json!({}),
    };
    doc["database"] = json!("schedule-check.db");
    if let Some(s) = schedule {
        doc["schedule"] = json!(s);
    }
    if let Some(z) = timezone {
        doc["timezone"] = json!(z);
    }
    let cfg = Config::from_value(&doc, None)?;
    let from = match from {
        Some(text) => sqlkeep::parse_time(text).ok_or_else(|| {
            usage(&format!(
                "--from {text:?} is not an RFC 3339 instant such as 2026-03-29T00:00:00+01:00"
            ))
        })?,
        None => chrono::Utc::now(),
    };
    let runs = cfg.schedule.upcoming(cfg.timezone, from, n);
    out.schedule(&runs, cfg.timezone, &cfg.schedule.to_string());
    Ok(0)
}

/// `sqlkeep run`: the scheduler in the foreground; events are printed as they happen.
fn run_scheduler(keeper: &Keeper, once: bool, out: &output::Output) -> Result<u8, Failure> {
    if once {
        let outcome = keeper.run_pending();
        out.tick(&outcome);
        return Ok(match outcome {
            sqlkeep::TickOutcome::Failed(..) | sqlkeep::TickOutcome::Busy => 1,
            _ => 0,
        });
    }
    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .map_err(|e| usage(&format!("cannot install the signal handler: {e}")))?;
    let json = out.json;
    keeper.subscribe(move |e| {
        if !e.is_logged() {
            return;
        }
        if json {
            println!("{}", e.to_value());
        } else {
            println!("{} {}", sqlkeep::format_time(&e.time()), e.describe());
        }
    });
    keeper.start()?;
    let _ = rx.recv();
    keeper.stop();
    Ok(0)
}

fn usage(message: &str) -> Failure {
    Failure {
        code: 2,
        error: Error::invalid_argument(sqlkeep::Operation::Config, message),
    }
}

/// Asks on the terminal; without a terminal the answer is no and the user is told
/// to pass --yes.
fn confirm(question: &str) -> Result<bool, Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(usage(
            "confirmation needed and stdin is not a terminal: pass --yes",
        ));
    }
    eprint!("{question}");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| usage(&format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// A configuration file as JSON, with its relative paths made relative to its folder.
fn read_config_file(path: &Path) -> Result<Value, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::from(Error::config(
            "(file)",
            format!("cannot read {}: {e}", path.display()),
        ))
    })?;
    let mut v: Value = serde_json::from_str(&text).map_err(|e| {
        Failure::from(Error::config(
            "(file)",
            format!("{} is not valid JSON: {e}", path.display()),
        ))
    })?;
    if !v.is_object() {
        return Err(Error::config(
            "(file)",
            format!("{} must hold a JSON object", path.display()),
        )
        .into());
    }
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = std::path::absolute(&base).unwrap_or(base);
    for key in ["database", "backup_dir"] {
        if let Some(Value::String(s)) = v.get(key) {
            if key == "database" && sqlkeep::PgTarget::is_uri(s) {
                // A PostgreSQL database has no folder: its backups default to one beside
                // the configuration file, as a SQLite file's do beside the database.
                if v.get("backup_dir").is_none() {
                    v["backup_dir"] =
                        Value::String(base.join("backups").to_string_lossy().into_owned());
                }
                continue;
            }
            let p = base.join(s);
            v[key] = Value::String(p.to_string_lossy().into_owned());
        }
    }
    Ok(v)
}

/// The configuration from --config, with --db and --dir applied on top. With only --dir,
/// the database is the one the newest backup there was taken of.
fn load_config(
    file: Option<&Path>,
    db: Option<&Path>,
    dir: Option<&Path>,
) -> Result<Config, Failure> {
    let cwd = std::env::current_dir().ok();
    let mut doc = match file {
        Some(path) => read_config_file(path)?,
        None => json!({}),
    };
    let abs = |p: &Path| -> String {
        let p = match &cwd {
            Some(c) if p.is_relative() => c.join(p),
            _ => p.to_path_buf(),
        };
        p.to_string_lossy().into_owned()
    };
    if let Some(db) = db {
        let text = db.to_string_lossy();
        doc["database"] = Value::String(if sqlkeep::PgTarget::is_uri(&text) {
            text.into_owned()
        } else {
            abs(db)
        });
    }
    if let Some(dir) = dir {
        doc["backup_dir"] = Value::String(abs(dir));
    }
    if doc.get("database").is_none() {
        if let Some(dir) = dir {
            let newest = sqlkeep::backups_in(Path::new(&abs(dir)))?;
            if let Some(m) = newest.first() {
                doc["database"] = Value::String(m.database.clone());
            }
        }
    }
    if doc.get("database").is_none() {
        return Err(usage(
            "no database given: pass --db PATH, a DB argument to `backup`, --config FILE, or --dir of existing backups",
        ));
    }
    let cfg = Config::from_value(&doc, None)?;
    for w in &cfg.warnings {
        eprintln!("sqlkeep: warning: {w}");
    }
    Ok(cfg)
}
