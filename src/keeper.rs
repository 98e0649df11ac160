//! [`Keeper`]: the one object an application holds. Thread-safe; every method takes
//! `&self`, reads the configuration once at its start (so a reconfiguration never changes
//! an operation half-way) and opens its own SQLite connections where the work happens.

use crate::backup::{take_backup, BackupRequest, ProgressFn};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, VerifyLevel};
use crate::error::{Operation, Result};
use crate::events::{Event, Observer, Observers};
use crate::history::{self, HistoryEntry, Stats};
use crate::lock::{DirLock, LOCK_WAIT};
use crate::log::BackupLog;
use crate::manifest::{Kind, Manifest, Verification};
use crate::restore::{self, RestoreOutcome};
use crate::rotate::{self, RotationPlan};
use crate::store::{Broken, Store};
use crate::verify::{self, passed_detail};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, RwLock};

/// Everything one operation needs: a snapshot of the configuration, the clock and the
/// event sinks.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a Config,
    pub clock: &'a dyn Clock,
    pub observers: &'a Observers,
}

impl Ctx<'_> {
    /// The clock's time at the precision manifests and the log keep (milliseconds), so a
    /// value returned to the caller equals the one read back later.
    pub fn now(&self) -> DateTime<Utc> {
        crate::timefmt::to_precision(self.clock.now())
    }

    pub fn store(&self) -> Store {
        Store::new(&self.cfg.backup_dir)
    }

    pub fn log(&self) -> BackupLog {
        BackupLog::new(&self.cfg.backup_dir)
    }

    /// Logs the event (a failure to log must not fail the operation it describes) and
    /// hands it to the observers.
    pub fn emit(&self, e: Event) {
        if e.is_logged() {
            let _ = self.log().append(&e);
        }
        self.observers.emit(&e);
    }
}

pub(crate) struct Inner {
    pub config: RwLock<Config>,
    pub clock: Arc<dyn Clock>,
    pub observers: Observers,
    pub scheduler: crate::scheduler::SchedulerSlot,
}

/// Backups of one SQLite database. Cheap to clone (clones share everything).
#[derive(Clone)]
pub struct Keeper {
    pub(crate) inner: Arc<Inner>,
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
        Keeper {
            inner: Arc::new(Inner {
                config: RwLock::new(config),
                clock,
                observers: Observers::default(),
                scheduler: Default::default(),
            }),
        }
    }

    /// The effective configuration.
    pub fn config(&self) -> Config {
        self.inner
            .config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The clock in use.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub(crate) fn with_ctx<R>(&self, f: impl FnOnce(&Ctx<'_>) -> R) -> R {
        let cfg = self.config();
        let ctx = Ctx {
            cfg: &cfg,
            clock: self.inner.clock.as_ref(),
            observers: &self.inner.observers,
        };
        f(&ctx)
    }

    /// Registers an observer of every event; returns its id.
    pub fn subscribe(&self, f: impl Fn(&Event) + Send + Sync + 'static) -> u64 {
        self.inner.observers.add(Arc::new(f) as Observer)
    }

    /// Removes an observer.
    pub fn unsubscribe(&self, id: u64) -> bool {
        self.inner.observers.remove(id)
    }

    /// Takes a backup now.
    pub fn backup(&self, req: &BackupRequest) -> Result<Manifest> {
        self.with_ctx(|ctx| take_backup(ctx, req, None))
    }

    /// Takes a backup now, reporting `(done_pages, total_pages)` to `progress`.
    pub fn backup_with_progress(
        &self,
        req: &BackupRequest,
        progress: ProgressFn<'_>,
    ) -> Result<Manifest> {
        self.with_ctx(|ctx| take_backup(ctx, req, Some(progress)))
    }

    /// A `pre-operation` backup before a migration or bulk change.
    pub fn guard(&self, label: &str) -> Result<Manifest> {
        self.backup(&BackupRequest {
            kind: Kind::PreOperation,
            label: Some(label.to_string()),
        })
    }

    /// Readable backups, newest first.
    pub fn list(&self) -> Result<Vec<Manifest>> {
        self.with_ctx(|ctx| ctx.store().list())
    }

    /// Readable backups and broken ones (for `verify --all`).
    pub fn scan(&self) -> Result<(Vec<Manifest>, Vec<Broken>)> {
        self.with_ctx(|ctx| ctx.store().scan())
    }

    /// The manifest of backup `id`.
    pub fn get(&self, id: &str) -> Result<Manifest> {
        self.with_ctx(|ctx| ctx.store().load(id))
    }

    /// Checks backup `id`; a damaged backup (or one without manifest) gives `ok: false`
    /// with the reason, an unknown id gives `NotFound`. The result is written into the
    /// manifest and the log.
    pub fn verify(&self, id: &str, level: VerifyLevel) -> Result<Verification> {
        self.with_ctx(|ctx| verify_one(ctx, id, level))
    }

    /// Checks every backup, broken ones included; `(id, result)` newest first.
    pub fn verify_all(&self, level: VerifyLevel) -> Result<Vec<(String, Verification)>> {
        self.with_ctx(|ctx| {
            // Held across listing and checking, so a rotation cannot delete a listed
            // backup half-way (shared locks do not exclude each other: the per-backup
            // lock below is taken as well).
            let _lock = DirLock::shared(&ctx.cfg.backup_dir, Operation::Verify)?;
            let (good, broken) = ctx.store().scan()?;
            let mut out = Vec::new();
            for m in good {
                out.push((m.id.clone(), verify_one(ctx, &m.id, level)?));
            }
            for b in broken {
                out.push((b.id.clone(), verify_one(ctx, &b.id, level)?));
            }
            Ok(out)
        })
    }

    /// Restores backup `id` into the live database (`to: None`) or a new file.
    pub fn restore(&self, id: &str, to: Option<&Path>, overwrite: bool) -> Result<RestoreOutcome> {
        self.with_ctx(|ctx| restore::restore(ctx, &ctx.store(), id, to, overwrite))
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
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let id = [".json", ".sqlite3.gz", ".sqlite3.zst", ".sqlite3"]
            .iter()
            .find_map(|ext| name.strip_suffix(ext))
            .filter(|id| crate::store::has_id_shape(id))
            .ok_or_else(|| {
                crate::Error::invalid_argument(
                    Operation::Restore,
                    format!("{} is not a sqlkeep backup file (<db>-<time>-<kind>.sqlite3.gz or its .json manifest)", path.display()),
                )
            })?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        self.with_ctx(|ctx| restore::restore(ctx, &Store::new(&dir), id, to, overwrite))
    }

    /// The rotation plan the retention `changes` (a partial `retention` object) would
    /// give now, without changing the configuration or deleting anything: for settings
    /// screens that preview what a policy would delete.
    pub fn preview_rotation(&self, changes: &Value) -> Result<RotationPlan> {
        self.with_ctx(|ctx| {
            let cfg = ctx
                .cfg
                .with_changes(&serde_json::json!({ "retention": changes }))?;
            let mut plan = rotate::plan(&ctx.store().list()?, &cfg.retention, cfg.timezone);
            plan.dry_run = true;
            Ok(plan)
        })
    }

    /// Deletes backup `id` (any kind: this is an explicit request).
    pub fn delete(&self, id: &str) -> Result<Manifest> {
        self.with_ctx(|ctx| {
            let store = ctx.store();
            let _lock = DirLock::exclusive(store.dir(), LOCK_WAIT, Operation::Rotate)?;
            let m = store.load(id)?;
            store.delete(id, Operation::Rotate)?;
            ctx.emit(Event::BackupDeleted {
                time: ctx.now(),
                id: m.id.clone(),
                kind: m.kind,
                size_bytes: m.size_bytes,
                reason: "deleted by request".into(),
            });
            Ok(m)
        })
    }

    /// Applies the retention policy: `dry_run` only returns the plan. Deletions remove
    /// manifest and file together and are logged; `rotation_finished` reports the totals.
    pub fn rotate(&self, dry_run: bool) -> Result<RotationPlan> {
        self.with_ctx(|ctx| {
            let store = ctx.store();
            let _lock = DirLock::exclusive(store.dir(), LOCK_WAIT, Operation::Rotate)?;
            let mut plan = rotate::plan(&store.list()?, &ctx.cfg.retention, ctx.cfg.timezone);
            plan.dry_run = dry_run;
            if !dry_run {
                for entry in plan
                    .entries
                    .iter()
                    .filter(|e| e.action == rotate::Action::Delete)
                {
                    store.delete(&entry.id, Operation::Rotate)?;
                    ctx.emit(Event::BackupDeleted {
                        time: ctx.now(),
                        id: entry.id.clone(),
                        kind: entry.kind,
                        size_bytes: entry.size_bytes,
                        reason: format!("rotation: {}", entry.reason),
                    });
                }
            }
            ctx.emit(Event::RotationFinished {
                time: ctx.now(),
                dry_run,
                kept: plan.kept.len(),
                deleted: plan.deleted.len(),
                freed_bytes: plan.freed_bytes,
            });
            Ok(plan)
        })
    }

    /// Backup runs, newest first.
    pub fn history(&self, limit: usize, offset: usize) -> Result<Vec<HistoryEntry>> {
        self.with_ctx(|ctx| {
            let events = ctx.log().read()?;
            let present = ctx.store().list()?;
            Ok(history::history(&events, &present, limit, offset))
        })
    }

    /// Counts, sizes and times over backups and runs.
    pub fn stats(&self) -> Result<Stats> {
        self.with_ctx(|ctx| {
            let events = ctx.log().read()?;
            let present = ctx.store().list()?;
            Ok(history::stats(&events, &present))
        })
    }

    /// Validates `changes` (a partial configuration object) as a whole and applies it;
    /// on error nothing changes. The scheduler, if running, picks the change up at once.
    pub fn configure(&self, changes: &Value) -> Result<Config> {
        let updated = {
            let mut cfg = self.inner.config.write().unwrap_or_else(|e| e.into_inner());
            let updated = cfg.with_changes(changes)?;
            *cfg = updated.clone();
            updated
        };
        self.inner.scheduler.wake();
        Ok(updated)
    }
}

fn verify_one(ctx: &Ctx<'_>, id: &str, level: VerifyLevel) -> Result<Verification> {
    let store = ctx.store();
    let _lock = DirLock::shared(store.dir(), Operation::Verify)?;
    let mut m = match store.load(id) {
        Ok(m) => m,
        Err(e) if e.kind() == crate::ErrorKind::Corrupt => {
            let v = Verification {
                level,
                ok: false,
                at: ctx.now(),
                detail: e.message().to_string(),
            };
            ctx.emit(Event::VerifyFinished {
                time: v.at,
                id: id.to_string(),
                level,
                ok: false,
                detail: v.detail.clone(),
            });
            return Ok(v);
        }
        Err(e) => return Err(e),
    };
    let verdict = verify::verify(store.dir(), &m, level)?;
    let v = Verification {
        level,
        ok: verdict.is_ok(),
        at: ctx.now(),
        detail: match verdict {
            Ok(()) => passed_detail(level, &m),
            Err(reason) => reason,
        },
    };
    m.verification = Some(v.clone());
    // The manifest may have been deleted meanwhile only by a rotation, which our shared
    // lock excludes; a write failure is reported.
    store.save_manifest(&m, Operation::Verify)?;
    ctx.emit(Event::VerifyFinished {
        time: v.at,
        id: id.to_string(),
        level,
        ok: v.ok,
        detail: v.detail.clone(),
    });
    Ok(v)
}
