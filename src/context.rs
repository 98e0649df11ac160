//! What every operation shares: the configuration, the clock and the event sinks of one
//! keeper ([`Shared`]), and the per-operation view of them ([`Ctx`]), which reads the
//! configuration once at the start so that a reconfiguration never changes an operation
//! half-way.

use crate::clock::Clock;
use crate::config::{Config, ConfigChange};
use crate::error::Result;
use crate::model::events::{Event, Observers};
use crate::model::manifest::Manifest;
use crate::model::timefmt::to_precision;
use crate::pipeline::encrypt::Keys;
use crate::source::postgres::PgSource;
use crate::source::sqlite::SqliteSource;
use crate::source::Source;
use crate::storage::local::log::BackupLog;
use crate::storage::local::store::Store;
use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// The cancel flags of the backups running now, so that `Keeper::cancel` reaches each.
#[derive(Default)]
pub(crate) struct Cancels {
    running: Mutex<Vec<Arc<AtomicBool>>>,
}

/// A running backup's flag; unregistered on drop.
pub(crate) struct CancelToken<'a> {
    cancels: &'a Cancels,
    pub flag: Arc<AtomicBool>,
}

impl Cancels {
    /// A flag for a backup that starts now.
    pub fn register(&self) -> CancelToken<'_> {
        let flag = Arc::new(AtomicBool::new(false));
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(flag.clone());
        CancelToken {
            cancels: self,
            flag,
        }
    }

    /// Sets the flag of every running backup; how many there were.
    pub fn cancel_all(&self) -> usize {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        for f in running.iter() {
            f.store(true, Ordering::SeqCst);
        }
        running.len()
    }
}

impl CancelToken<'_> {
    /// Whether the backup was cancelled.
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

impl Drop for CancelToken<'_> {
    fn drop(&mut self) {
        self.cancels
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|f| !Arc::ptr_eq(f, &self.flag));
    }
}

/// The state one keeper and its scheduler thread share.
pub(crate) struct Shared {
    config: RwLock<Config>,
    clock: Arc<dyn Clock>,
    observers: Observers,
    cancels: Cancels,
}

impl Shared {
    pub fn new(config: Config, clock: Arc<dyn Clock>) -> Shared {
        Shared {
            config: RwLock::new(config),
            clock,
            observers: Observers::default(),
            cancels: Cancels::default(),
        }
    }

    /// The configuration now.
    pub fn config(&self) -> Config {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Applies `change` as a whole, or nothing on error.
    pub fn reconfigure(&self, change: &ConfigChange) -> Result<Config> {
        let mut cfg = self.config.write().unwrap_or_else(|e| e.into_inner());
        let updated = cfg.with_change(change)?;
        *cfg = updated.clone();
        Ok(updated)
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn observers(&self) -> &Observers {
        &self.observers
    }

    /// Cancels the backups running now; how many there were.
    pub fn cancel(&self) -> usize {
        self.cancels.cancel_all()
    }

    /// Runs `f` with a context over a snapshot of the configuration.
    pub fn with_ctx<R>(&self, f: impl FnOnce(&Ctx<'_>) -> R) -> R {
        let cfg = self.config();
        f(&Ctx {
            cfg: &cfg,
            clock: self.clock.as_ref(),
            observers: &self.observers,
            cancels: &self.cancels,
        })
    }
}

/// Everything one operation needs: a snapshot of the configuration, the clock and the
/// event sinks.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a Config,
    pub clock: &'a dyn Clock,
    pub observers: &'a Observers,
    pub cancels: &'a Cancels,
}

impl Ctx<'_> {
    /// The clock's time at the precision manifests and the log keep (milliseconds), so a
    /// value returned to the caller equals the one read back later.
    pub fn now(&self) -> DateTime<Utc> {
        to_precision(self.clock.now())
    }

    /// What is backed up.
    pub fn source(&self) -> Box<dyn Source> {
        match self.cfg.postgres() {
            Some(target) => Box::new(PgSource::new(target)),
            None => Box::new(SqliteSource::new(&self.cfg.database)),
        }
    }

    /// The source a backup was taken from, to check its images: PostgreSQL when the
    /// manifest records its facts, SQLite otherwise.
    pub fn source_of(m: &Manifest) -> Result<Box<dyn Source>> {
        Ok(match m.postgres {
            Some(_) => Box::new(PgSource::of_manifest(m)?),
            None => Box::new(SqliteSource::new(std::path::Path::new(&m.database))),
        })
    }

    /// Where backups live.
    pub fn store(&self) -> Store {
        Store::new(&self.cfg.backup_dir)
    }

    /// The keys for opening encrypted backups.
    pub fn keys(&self) -> Keys<'_> {
        Keys::of(self.cfg.encryption.as_ref())
    }

    /// Where plaintext copies of the database are made while a backup is written
    /// (`encrypted`: the new backup will be) or checked: the backup folder for backups in
    /// the clear; for encrypted ones the database's own folder, which holds that plaintext
    /// anyway, so that no plaintext reaches the backup folder, even as a file a crash
    /// leaves behind.
    ///
    /// A PostgreSQL database has no folder: an encrypted backup's plaintext archive is
    /// checked in the system's temporary folder (the dump itself is streamed and never
    /// written in plaintext).
    pub fn plaintext_dir(&self, encrypted: bool) -> PathBuf {
        if !encrypted {
            return self.cfg.backup_dir.clone();
        }
        if self.cfg.postgres().is_some() {
            return std::env::temp_dir();
        }
        match self.cfg.database.parent() {
            Some(folder) => folder.to_path_buf(),
            None => self.cfg.backup_dir.clone(),
        }
    }

    /// [`Ctx::plaintext_dir`] for checking backup `m`.
    pub fn scratch_dir(&self, m: &Manifest) -> PathBuf {
        self.plaintext_dir(m.is_encrypted())
    }

    /// The backup log beside them.
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
