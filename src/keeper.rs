//! [`Keeper`]: the one object an application holds, and its whole API. Each method is a
//! short delegation to an operation (`ops/`) or to the scheduler (`scheduler/`).
//! Thread-safe; every method takes `&self`, reads the configuration once at its start
//! (so a reconfiguration never changes an operation half-way) and opens its own SQLite
//! connections where the work happens.

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigChange, RetentionChange, VerifyLevel};
use crate::context::Shared;
use crate::error::Result;
use crate::model::diff::{Diff, RowChange};
use crate::model::events::Event;
use crate::model::health::Health;
use crate::model::history::{HistoryEntry, Stats};
use crate::model::manifest::{Kind, Manifest, Verification};
use crate::model::selective::{TableRestore, TableRestoreOutcome};
use crate::notify::{Notifier, NotifyResult};
use crate::ops::backup::{take_backup, BackupRequest, ProgressFn};
use crate::ops::export::{self, ExportOutcome};
use crate::ops::offsite::{self, PushReport};
use crate::ops::restore::{RestoreOptions, RestoreOutcome};
use crate::ops::rotate::RotationPlan;
use crate::ops::{catalogue, restore, restore_table, rotate, verify};
use crate::scheduler::{Scheduler, SchedulerStatus, TickOutcome};
use crate::storage::Broken;
use crate::storage::Storage;
use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::Arc;

/// Backups of one SQLite database. Cheap to clone (clones share everything); the
/// scheduler thread, if started, ends when the last clone is dropped.
#[derive(Clone)]
pub struct Keeper {
    // Dropped in this order: the scheduler is told to stop, then pending notifications
    // get their time to leave while the shared state still exists.
    scheduler: Arc<Scheduler>,
    notifier: Arc<Notifier>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keeper")
            .field("database", &self.config().database)
            .finish()
    }
}

impl Keeper {
    /// A keeper for `config` on the system clock.
    pub fn open(config: Config) -> Keeper {
        Keeper::with_clock(config, Arc::new(SystemClock))
    }

    /// A keeper whose notion of time comes from `clock` (tests, simulations).
    pub fn with_clock(config: Config, clock: Arc<dyn Clock>) -> Keeper {
        let shared = Arc::new(Shared::new(config, clock));
        let keeper = Keeper {
            scheduler: Arc::default(),
            notifier: Arc::new(Notifier::start(&shared)),
            shared,
        };
        keeper.shared.with_ctx(rotate::warn_if_policy_drops_backups);
        keeper
    }

    /// The effective configuration.
    pub fn config(&self) -> Config {
        self.shared.config()
    }

    /// The clock in use.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        self.shared.clock()
    }

    /// Registers an observer of every event; returns its id.
    ///
    /// The observer runs on the thread that produced the event, and the operation waits
    /// for it: it must return promptly and must not wait for the database. During a
    /// restore into the live database, the `pre-restore` backup's `progress` events
    /// arrive while the restore holds the database's write lock; an observer whose events
    /// lead to reading the database hands them to a thread of its own (as the desktop
    /// view and the HTTP service do).
    pub fn subscribe(&self, f: impl Fn(&Event) + Send + Sync + 'static) -> u64 {
        self.shared.observers().add(Arc::new(f))
    }

    /// Removes an observer. Returns once no other thread is still inside it, so what it
    /// captured may be released then; `false` when `id` was not registered.
    pub fn unsubscribe(&self, id: u64) -> bool {
        self.shared.observers().remove(id)
    }

    /// What differs between backup `from` and backup `to`, or the live database when `to`
    /// is `None`: per table rows added, removed and changed, schema objects, and
    /// `user_version`. Both backups are fully checked first; a damaged one is `Corrupt`.
    pub fn diff(&self, from: &str, to: Option<&str>) -> Result<Diff> {
        self.shared
            .with_ctx(|ctx| crate::ops::diff::diff(ctx, from, to))
    }

    /// What restoring the backup file at `path` (anywhere, its manifest beside it, as
    /// for [`Keeper::restore_file`]) would change in the live database: [`Keeper::diff`]
    /// of that file against it.
    pub fn diff_file(&self, path: &Path) -> Result<Diff> {
        self.shared
            .with_ctx(|ctx| crate::ops::diff::diff_file(ctx, path))
    }

    /// The rows of `table` that differ between backup `from` and `to` (or the live
    /// database): removed ones first, then added, then changed, each in key order, at
    /// most `limit` after skipping `offset`. A table not on both sides is `NotFound`.
    pub fn diff_rows(
        &self,
        from: &str,
        to: Option<&str>,
        table: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<RowChange>> {
        self.shared
            .with_ctx(|ctx| crate::ops::diff::diff_rows(ctx, from, to, table, limit, offset))
    }

    /// Sends a test message through every `notify` channel now (one attempt each) and
    /// says how each went; a heartbeat gets a `/log` ping, which changes no check.
    pub fn notify_test(&self) -> Vec<NotifyResult> {
        self.shared.with_ctx(crate::notify::test)
    }

    /// Waits up to `timeout` for queued notifications to be delivered (or given up on);
    /// `true` when none is pending. Dropping the last handle does this with
    /// `notify.timeout_seconds`; a process that exits without dropping calls it.
    pub fn flush_notifications(&self, timeout: std::time::Duration) -> bool {
        self.notifier.flush(timeout)
    }

    /// Takes a backup now; then copies it to each remote (see [`Keeper::push`]: a
    /// remote that fails is an `offsite_failed` event, never this backup's failure).
    pub fn backup(&self, req: &BackupRequest) -> Result<Manifest> {
        self.shared.with_ctx(|ctx| {
            let m = take_backup(ctx, req, None, None)?;
            offsite::after_backup(ctx);
            Ok(m)
        })
    }

    /// Takes a backup now, reporting `(done_pages, total_pages)` to `progress`.
    pub fn backup_with_progress(
        &self,
        req: &BackupRequest,
        progress: ProgressFn<'_>,
    ) -> Result<Manifest> {
        self.shared.with_ctx(|ctx| {
            let m = take_backup(ctx, req, Some(progress), None)?;
            offsite::after_backup(ctx);
            Ok(m)
        })
    }

    /// Cancels the backups of this keeper running now (a manual one on another thread, a
    /// scheduled one): each stops at its next step, removes what it wrote, and is logged
    /// as `backup_cancelled` (not a failure; the scheduler does not retry it). Returns
    /// whether one was running. A backup that is committing already completes.
    pub fn cancel(&self) -> bool {
        self.shared.cancel() > 0
    }

    /// A `pre-operation` backup before a migration or bulk change.
    pub fn guard(&self, label: &str) -> Result<Manifest> {
        self.backup(&BackupRequest {
            kind: Kind::PreOperation,
            label: Some(label.to_string()),
            full: false,
        })
    }

    /// Readable backups, newest first.
    pub fn list(&self) -> Result<Vec<Manifest>> {
        self.shared.with_ctx(|ctx| ctx.store().list())
    }

    /// Readable backups and broken ones (for `verify --all`).
    pub fn scan(&self) -> Result<(Vec<Manifest>, Vec<Broken>)> {
        self.shared.with_ctx(|ctx| ctx.store().scan())
    }

    /// The manifest of backup `id`.
    pub fn get(&self, id: &str) -> Result<Manifest> {
        self.shared.with_ctx(|ctx| ctx.store().load(id))
    }

    /// Checks backup `id`; a damaged backup (or one without manifest) gives `ok: false`
    /// with the reason, an unknown id gives `NotFound`. The result is written into the
    /// manifest and the log.
    pub fn verify(&self, id: &str, level: VerifyLevel) -> Result<Verification> {
        self.shared.with_ctx(|ctx| verify::verify(ctx, id, level))
    }

    /// Checks every backup, broken ones included; `(id, result)` newest first.
    pub fn verify_all(&self, level: VerifyLevel) -> Result<Vec<(String, Verification)>> {
        self.shared.with_ctx(|ctx| verify::verify_all(ctx, level))
    }

    /// Whether a restore into `to` (the live database when `None`) would replace
    /// something that exists: a file for SQLite, a database on the server for PostgreSQL
    /// (`to` is then a database name).
    pub fn restore_target_exists(&self, to: Option<&Path>) -> Result<bool> {
        self.shared.with_ctx(|ctx| restore::target_exists(ctx, to))
    }

    /// Restores backup `id` into the live database (`to: None`) or a new file (for a
    /// PostgreSQL source, `to` names a new database on the same server).
    pub fn restore(&self, id: &str, to: Option<&Path>, overwrite: bool) -> Result<RestoreOutcome> {
        let options = RestoreOptions {
            overwrite,
            ..RestoreOptions::default()
        };
        self.restore_with(id, to, options)
    }

    /// [`Keeper::restore`] with every option, `paranoid` among them (run
    /// `integrity_check` even when the backup's recorded image hash proves the restored
    /// bytes passed it at backup time).
    pub fn restore_with(
        &self,
        id: &str,
        to: Option<&Path>,
        options: RestoreOptions,
    ) -> Result<RestoreOutcome> {
        self.shared
            .with_ctx(|ctx| restore::restore(ctx, &ctx.store(), id, to, options))
    }

    /// Restores from a backup file anywhere (a copy on a USB stick, another machine's
    /// backup directory): its manifest must lie beside it, and the same full check as
    /// for [`Keeper::restore`] runs first. `path` names the backup file or its manifest.
    pub fn restore_file(
        &self,
        path: &Path,
        to: Option<&Path>,
        overwrite: bool,
    ) -> Result<RestoreOutcome> {
        let options = RestoreOptions {
            overwrite,
            ..RestoreOptions::default()
        };
        self.restore_file_with(path, to, options)
    }

    /// [`Keeper::restore_file`] with every option (see [`Keeper::restore_with`]).
    pub fn restore_file_with(
        &self,
        path: &Path,
        to: Option<&Path>,
        options: RestoreOptions,
    ) -> Result<RestoreOutcome> {
        self.shared
            .with_ctx(|ctx| restore::restore_file(ctx, path, to, options))
    }

    /// Brings back the rows `req` chooses (one table, an optional condition evaluated on
    /// the backup's copy only, optionally the rows foreign keys tie to them) from backup
    /// `id` into the live database: after full verification and a `pre-restore` safety
    /// backup, in one transaction; a restore that would break a foreign key, a bad
    /// condition, an unknown table or a schema that no longer matches changes nothing.
    pub fn restore_table(&self, id: &str, req: &TableRestore) -> Result<TableRestoreOutcome> {
        self.shared
            .with_ctx(|ctx| restore_table::restore_table(ctx, id, req))
    }

    /// The rotation plan the retention `change` would give now, without changing the
    /// configuration or deleting anything: for settings screens that preview what a
    /// policy would delete.
    pub fn preview_rotation(&self, change: &RetentionChange) -> Result<RotationPlan> {
        self.shared.with_ctx(|ctx| rotate::preview(ctx, change))
    }

    /// Deletes backup `id` (any kind: this is an explicit request). Its copies on the
    /// remotes stay; [`Keeper::delete_with`] removes them too.
    pub fn delete(&self, id: &str) -> Result<Manifest> {
        self.delete_with(id, false)
    }

    /// Deletes backup `id`, and with `remote_copies` its copy on every remote as well.
    /// The remote copies go first: an unreachable remote is an error that leaves the
    /// local backup, so the same call can be repeated.
    pub fn delete_with(&self, id: &str, remote_copies: bool) -> Result<Manifest> {
        self.shared.with_ctx(|ctx| {
            if remote_copies {
                offsite::delete_everywhere(ctx, &ctx.store().load(id)?)?;
            }
            rotate::delete(ctx, id)
        })
    }

    /// Writes backup `id` (an incremental one included) as one self-contained file `to`,
    /// compressed as its name says (`.gz` or `.zst`), after the same check a restore
    /// makes. `to` must not exist yet.
    pub fn export(&self, id: &str, to: &Path) -> Result<ExportOutcome> {
        self.shared.with_ctx(|ctx| export::export(ctx, id, to))
    }

    /// Copies to each remote (or only `remote`) the backups it lacks that its retention
    /// keeps, and removes there what that policy no longer keeps. A failing remote is
    /// reported in its [`PushReport`] and as an `offsite_failed` event.
    pub fn push(&self, remote: Option<&str>) -> Result<Vec<PushReport>> {
        self.shared.with_ctx(|ctx| offsite::push(ctx, remote))
    }

    /// The backups on remote `remote`, newest first (one read of its index).
    pub fn list_remote(&self, remote: &str) -> Result<Vec<Manifest>> {
        self.shared.with_ctx(|ctx| offsite::list(ctx, remote))
    }

    /// Checks the copy of backup `id` on remote `remote` (quick: size, SHA-256 and
    /// stream as it downloads; full: decoded and checked as well). A damaged or missing
    /// copy is taken out of the remote's index, so the next push uploads it again.
    pub fn verify_remote(
        &self,
        remote: &str,
        id: &str,
        level: VerifyLevel,
    ) -> Result<Verification> {
        self.shared
            .with_ctx(|ctx| offsite::verify(ctx, remote, id, level))
    }

    /// Restores backup `id` from remote `remote` (a new machine with only the
    /// configuration and credentials): downloaded, fully checked, then restored exactly
    /// as [`Keeper::restore`] does.
    pub fn restore_remote(
        &self,
        remote: &str,
        id: &str,
        to: Option<&Path>,
        options: RestoreOptions,
    ) -> Result<RestoreOutcome> {
        self.shared
            .with_ctx(|ctx| offsite::restore(ctx, remote, id, to, options))
    }

    /// Applies the retention policy: `dry_run` only returns the plan. Deletions remove
    /// manifest and file together and are logged; `rotation_finished` reports the totals.
    pub fn rotate(&self, dry_run: bool) -> Result<RotationPlan> {
        self.shared.with_ctx(|ctx| rotate::rotate(ctx, dry_run))
    }

    /// Backup runs, newest first.
    pub fn history(&self, limit: usize, offset: usize) -> Result<Vec<HistoryEntry>> {
        self.shared
            .with_ctx(|ctx| catalogue::history(ctx, limit, offset))
    }

    /// Backup runs merged with the backups present, one row per backup, newest first: at
    /// most `limit` runs (deleted backups' runs only with `include_deleted`) plus every
    /// backup present whose run is older. For tables that show both.
    pub fn timeline(&self, limit: usize, include_deleted: bool) -> Result<Vec<HistoryEntry>> {
        self.shared
            .with_ctx(|ctx| catalogue::timeline(ctx, limit, include_deleted))
    }

    /// Counts, sizes and times over backups and runs.
    pub fn stats(&self) -> Result<Stats> {
        self.shared.with_ctx(catalogue::stats)
    }

    /// The health verdict: `ok`, `warning` or `failing`, with its reasons and a one-line
    /// headline. Derived from the backup log, the backups present, the schedule and the
    /// clock, so it holds at start after the application was closed for days.
    pub fn health(&self) -> Result<Health> {
        self.shared.with_ctx(catalogue::health)
    }

    /// Validates `change` as a whole and applies it; on error nothing changes. The
    /// scheduler, if running, picks the change up at once.
    pub fn configure(&self, change: &ConfigChange) -> Result<Config> {
        let updated = self.shared.reconfigure(change)?;
        self.scheduler.wake();
        if change.schedule.is_some() || change.retention.is_some() || change.timezone.is_some() {
            self.shared.with_ctx(rotate::warn_if_policy_drops_backups);
        }
        Ok(updated)
    }

    /// Starts the background scheduler. Returns `false` (and changes nothing) when it
    /// already runs.
    pub fn start(&self) -> Result<bool> {
        self.scheduler.start(&self.shared)
    }

    /// Stops the scheduler, taking a `shutdown` backup first when `backup_on_shutdown`
    /// is set. Returns within a second while the scheduler waits; a backup in progress is
    /// finished first. Returns `false` when it was not running.
    pub fn stop(&self) -> bool {
        self.scheduler.stop()
    }

    /// Whether the background scheduler runs.
    pub fn is_running(&self) -> bool {
        self.scheduler.is_running()
    }

    /// Running state, next run, last run and its outcome, and whether the automatic
    /// rotation and test restore work.
    pub fn status(&self) -> SchedulerStatus {
        self.scheduler.status(&self.shared)
    }

    /// Does now, on this thread, what the scheduler would do: back up the due slot if it
    /// has no scheduled backup yet (catch-up included). For cron-driven hosts
    /// (`sqlkeep run --once`) and for tests with a manual clock.
    pub fn run_pending(&self) -> TickOutcome {
        self.scheduler.run_pending(&self.shared)
    }

    /// The next `n` run instants after `from`.
    pub fn upcoming_runs(&self, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let cfg = self.config();
        cfg.schedule.upcoming(cfg.timezone, from, n)
    }
}
