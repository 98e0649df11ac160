//! `sqlkeep.Keeper`: the core's `Keeper` for Python.
//!
//! Every call extracts owned arguments, releases the GIL for the core's work (`detach`)
//! and converts the result back. Nothing here decides anything the core decides:
//! configuration is handed to the core as JSON, errors come back through
//! `From<Error> for PyErr`.

use crate::convert::{
    config_value, count, from_json, instant, path_string, serialized_dict, to_json, Instants,
};
use crate::errors::{exception, Result};
use crate::events::{report_callback_error, EventSinks};
use crate::records::{Backup, RotationPlan, Verification};
use chrono::{DateTime, Utc};
use pyo3::exceptions::{PyTypeError, PyUserWarning};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};
use pyo3::{PyTraverseError, PyVisit};
use serde_json::{Map, Value};
use sqlkeep::{BackupRequest, Config, ConfigChange, RetentionChange, TickOutcome, VerifyLevel};
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

/// Keepers whose scheduler was started, so that interpreter exit can stop them (which
/// takes the `backup_on_shutdown` backup and logs `scheduler_stopped`). Weak: dropping
/// the last reference to a keeper still ends its scheduler, as in the core.
static STARTED: Mutex<Vec<Weak<sqlkeep::Keeper>>> = Mutex::new(Vec::new());

/// Stops every scheduler still running; registered with `atexit`.
#[pyfunction]
pub fn stop_running_schedulers(py: Python<'_>) {
    let started = std::mem::take(&mut *STARTED.lock().unwrap_or_else(|e| e.into_inner()));
    // The scheduler thread may be calling into Python: wait for it without the GIL.
    py.detach(|| {
        for keeper in started.iter().filter_map(Weak::upgrade) {
            keeper.stop();
        }
    });
}

/// Backups of one SQLite (or PostgreSQL) database: on demand, on a schedule, verified,
/// rotated, restored.
#[pyclass(frozen, module = "sqlkeep")]
pub struct Keeper {
    core: Arc<sqlkeep::Keeper>,
    sinks: Arc<EventSinks>,
}

impl Keeper {
    /// The keeper of `config`. What the core accepted but changed on the way in (a
    /// password removed from a PostgreSQL URI) is issued as a `UserWarning`, in the core's
    /// words; a filter that turns warnings into errors makes it raise.
    fn open(py: Python<'_>, config: Value) -> Result<Keeper> {
        let config = Config::from_value(&config, None)?;
        let category = py.get_type::<PyUserWarning>();
        for warning in &config.warnings {
            let message = CString::new(warning.replace('\0', "")).expect("NUL bytes were removed");
            PyErr::warn(py, &category, &message, 1)?;
        }
        let core = Arc::new(sqlkeep::Keeper::open(config));
        let sinks = Arc::new(EventSinks::default());
        let deliver = sinks.clone();
        core.subscribe(move |e| deliver.deliver(e));
        Ok(Keeper { core, sinks })
    }

    /// Runs `f` on the core keeper with the GIL released.
    fn detached<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&sqlkeep::Keeper) -> T + Send) -> T {
        let core = self.core.clone();
        py.detach(move || f(&core))
    }

    fn backup_dir(&self) -> PathBuf {
        self.core.config().backup_dir
    }

    fn zone(&self) -> sqlkeep::Zone {
        self.core.config().timezone
    }

    /// The folder of remote `name` when it is a `file://` remote; otherwise empty, so a
    /// backup's `path` there is its object's name under the remote's prefix.
    fn remote_dir(&self, name: &str) -> PathBuf {
        let cfg = self.core.config();
        match cfg
            .remotes
            .iter()
            .find(|r| r.name == name)
            .map(|r| &r.location)
        {
            Some(sqlkeep::Location::Folder(dir)) => dir.clone(),
            _ => PathBuf::new(),
        }
    }

    /// `offsite` of `status()` and `stats()`: each remote's last known state as a dict
    /// (`remote`, `backups` as Backup records, `missing`, `last_copy_at`,
    /// `last_error_at`, `last_error`) with the core's one-line `summary`.
    fn offsite<'py>(
        &self,
        py: Python<'py>,
        states: &[sqlkeep::OffsiteState],
        how: Instants,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        states
            .iter()
            .map(|s| {
                let d = serialized_dict(py, s, &["last_copy_at", "last_error_at"], how)?;
                let dir = self.remote_dir(&s.remote);
                let backups: Vec<Backup> = s.backups.iter().map(|m| Backup::new(m, &dir)).collect();
                d.set_item("backups", backups)?;
                d.set_item("summary", s.describe())?;
                Ok(d)
            })
            .collect()
    }
}

fn verify_level(full: bool) -> VerifyLevel {
    if full {
        VerifyLevel::Full
    } else {
        VerifyLevel::Quick
    }
}

fn check_callable(name: &str, f: &Bound<'_, PyAny>) -> PyResult<()> {
    if f.is_callable() {
        Ok(())
    } else {
        Err(PyTypeError::new_err(format!(
            "{name} must be callable, not {}",
            f.get_type().name()?
        )))
    }
}

#[pymethods]
impl Keeper {
    /// Keeper(database, *, backup_dir=None, schedule="02:00", timezone="local",
    /// catch_up=True, compression="gzip", compression_level=None,
    /// verify_after_backup="full", test_restore_every_days=7, retention=None,
    /// backup_on_shutdown=False, encryption=None, notify=None, remotes=None, server=None)
    ///
    /// A keeper for the SQLite database at `database`, or for the PostgreSQL database a
    /// `"postgresql://user@host:port/dbname"` URI names (its password only from
    /// PGPASSWORD, ~/.pgpass or PGPASSFILE: one written into the URI is removed, with a
    /// UserWarning). Every keyword is a configuration
    /// key of the core with the same default and validation; an argument left out (or
    /// None) takes the core's default. `encryption` is `{"recipients": ["age1..."],
    /// "identity_file": path}` or `{"passphrase_env": "VAR"}` (see ENCRYPTION_FORMS);
    /// `notify` is `{"channels": [...], "stale_after_hours": 36, "repeat_hours": 24,
    /// "timeout_seconds": 10}` or just the list of channels (`{"webhook": url}`,
    /// `{"heartbeat": url}`, `{"email": {...}}`; secrets only by environment variable name).
    /// `remotes` is a list of offsite destinations, each `{"name": "offsite", "url":
    /// "s3://bucket/prefix"}` (also gs://, az://, file:///absolute/folder; optional
    /// `endpoint`, `region`, `allow_http`, `retention`); credentials come only from each
    /// provider's environment variables. Every backup is copied to them. `server` is
    /// `{"listen": "127.0.0.1:8765", "token_env": "VAR"}` for `sqlkeep serve`.
    /// `incremental=True` stores only the pages that changed since the newest backup
    /// (SQLite only); such a backup is rebuilt from the files of its chain on restore.
    /// Raises ConfigError for a bad value, TypeError for a wrong type.
    #[new]
    #[pyo3(signature = (
        database, *, backup_dir=None, schedule=None, timezone=None, catch_up=None,
        compression=None, compression_level=None, verify_after_backup=None,
        test_restore_every_days=None, retention=None, backup_on_shutdown=None,
        incremental=None, encryption=None, notify=None, remotes=None, server=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        database: &Bound<'_, PyAny>,
        backup_dir: Option<&Bound<'_, PyAny>>,
        schedule: Option<&Bound<'_, PyAny>>,
        timezone: Option<&Bound<'_, PyAny>>,
        catch_up: Option<&Bound<'_, PyAny>>,
        compression: Option<&Bound<'_, PyAny>>,
        compression_level: Option<&Bound<'_, PyAny>>,
        verify_after_backup: Option<&Bound<'_, PyAny>>,
        test_restore_every_days: Option<&Bound<'_, PyAny>>,
        retention: Option<&Bound<'_, PyAny>>,
        backup_on_shutdown: Option<&Bound<'_, PyAny>>,
        incremental: Option<&Bound<'_, PyAny>>,
        encryption: Option<&Bound<'_, PyAny>>,
        notify: Option<&Bound<'_, PyAny>>,
        remotes: Option<&Bound<'_, PyAny>>,
        server: Option<&Bound<'_, PyAny>>,
    ) -> Result<Keeper> {
        let mut obj = Map::new();
        obj.insert("database".into(), config_value("database", database)?);
        let given = [
            ("backup_dir", backup_dir),
            ("schedule", schedule),
            ("timezone", timezone),
            ("catch_up", catch_up),
            ("compression", compression),
            ("compression_level", compression_level),
            ("verify_after_backup", verify_after_backup),
            ("test_restore_every_days", test_restore_every_days),
            ("retention", retention),
            ("backup_on_shutdown", backup_on_shutdown),
            ("incremental", incremental),
            ("encryption", encryption),
            ("notify", notify),
            ("remotes", remotes),
            ("server", server),
        ];
        for (key, value) in given {
            if let Some(v) = value {
                obj.insert(key.into(), config_value(key, v)?);
            }
        }
        Keeper::open(database.py(), Value::Object(obj))
    }

    /// A keeper from a configuration dict with the same keys as the core's JSON
    /// configuration (`database` required). Paths may be str or os.PathLike.
    #[staticmethod]
    fn from_config(config: &Bound<'_, PyAny>) -> Result<Keeper> {
        if !config.is_instance_of::<PyDict>() {
            return Err(PyTypeError::new_err(format!(
                "config must be a dict, not {}",
                config.get_type().name()?
            ))
            .into());
        }
        Keeper::open(config.py(), to_json(config, "")?)
    }

    /// The effective configuration as a dict, every key present.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        from_json(py, &self.core.config().to_value())
    }

    /// Changes the configuration at run time: keyword arguments as for Keeper (and
    /// `compression_level=None` for the compression's default, `encryption=None` to write
    /// new backups in the clear). Validated as a whole: on
    /// error nothing changes. A running scheduler picks the change up at once. Returns
    /// the new effective configuration.
    #[pyo3(signature = (**changes))]
    fn configure<'py>(
        &self,
        py: Python<'py>,
        changes: Option<&Bound<'py, PyDict>>,
    ) -> Result<Bound<'py, PyAny>> {
        let mut obj = Map::new();
        if let Some(changes) = changes {
            for (k, v) in changes.iter() {
                let k: String = k.extract()?;
                let value = config_value(&k, &v)?;
                obj.insert(k, value);
            }
        }
        let change = ConfigChange::from_value(&Value::Object(obj), None)?;
        let cfg = self.detached(py, |k| k.configure(&change))?;
        Ok(from_json(py, &cfg.to_value())?)
    }

    /// Takes a backup now. `progress(done_pages, total_pages)` is called from a worker
    /// thread while it runs. With `incremental` on, the backup stores only the pages that
    /// changed since the newest backup; `full=True` makes a self-contained full backup
    /// anyway (the next incremental backups build on it).
    #[pyo3(signature = (*, label=None, progress=None, full=false))]
    fn backup(
        &self,
        py: Python<'_>,
        label: Option<String>,
        progress: Option<Bound<'_, PyAny>>,
        full: bool,
    ) -> Result<Backup> {
        let req = BackupRequest {
            kind: sqlkeep::Kind::Manual,
            label,
            full,
        };
        let manifest = match progress {
            None => self.detached(py, |k| k.backup(&req)),
            Some(progress) => {
                check_callable("progress", &progress)?;
                let progress = progress.unbind();
                let report = |done: u64, total: u64| {
                    let _ = Python::try_attach(|py| {
                        let f = progress.bind(py);
                        if let Err(err) = f.call1((done, total)) {
                            report_callback_error(py, "sqlkeep progress callback", f, err);
                        }
                    });
                };
                self.detached(py, |k| k.backup_with_progress(&req, &report))
            }
        }?;
        Ok(Backup::new(&manifest, &self.backup_dir()))
    }

    /// A context manager that takes a `pre-operation` backup labelled `label` on entry
    /// (and gives it to `as`); exceptions inside the block propagate unchanged.
    fn guard(&self, label: String) -> Guard {
        Guard {
            core: self.core.clone(),
            label,
        }
    }

    /// The readable backups, newest first. With `remote` (a name from `remotes`): the
    /// backups on that remote (one read of its index); their `path` is the file in a
    /// `file://` remote's folder, or the object's name under a bucket's prefix.
    #[pyo3(signature = (remote=None))]
    fn list(&self, py: Python<'_>, remote: Option<String>) -> Result<Vec<Backup>> {
        let (manifests, dir) = match remote {
            None => (self.detached(py, |k| k.list())?, self.backup_dir()),
            Some(name) => {
                let manifests = self.detached(py, |k| k.list_remote(&name))?;
                (manifests, self.remote_dir(&name))
            }
        };
        Ok(manifests.iter().map(|m| Backup::new(m, &dir)).collect())
    }

    /// The backup `id`; NotFoundError if there is none.
    fn get(&self, py: Python<'_>, id: String) -> Result<Backup> {
        let m = self.detached(py, |k| k.get(&id))?;
        Ok(Backup::new(&m, &self.backup_dir()))
    }

    /// Checks backup `id`: `full=True` also opens it with SQLite (integrity_check). A
    /// damaged backup gives `ok=False` with the reason; an unknown id NotFoundError.
    /// With `remote`: checks the copy on that remote instead (`full=False`: size, SHA-256
    /// and stream as it downloads); a damaged or missing copy is taken out of the remote's
    /// index, so the next `push` uploads it again.
    #[pyo3(signature = (id, full=true, remote=None))]
    fn verify(
        &self,
        py: Python<'_>,
        id: String,
        full: bool,
        remote: Option<String>,
    ) -> Result<Verification> {
        let level = verify_level(full);
        let v = match remote {
            None => self.detached(py, |k| k.verify(&id, level)),
            Some(name) => self.detached(py, |k| k.verify_remote(&name, &id, level)),
        }?;
        Ok(Verification::from(&v))
    }

    /// Checks every backup, damaged ones included: `(id, Verification)` newest first.
    #[pyo3(signature = (full=true))]
    fn verify_all(&self, py: Python<'_>, full: bool) -> Result<Vec<(String, Verification)>> {
        let all = self.detached(py, |k| k.verify_all(verify_level(full)))?;
        Ok(all
            .iter()
            .map(|(id, v)| (id.clone(), Verification::from(v)))
            .collect())
    }

    /// Restores backup `id` (fully verified first). Into the live database (`to=None`):
    /// a `pre-restore` safety backup is taken first and returned, and the content is
    /// replaced through SQLite, so connections the application holds open read the
    /// restored data. Into a new file (`to=path`): returns None; an existing file is
    /// replaced only with `overwrite=True`. `paranoid=True` runs `integrity_check` again
    /// even when the backup's recorded image hash proves the restored bytes passed it.
    /// `remote="name"` restores the copy on that remote (a new machine with only the
    /// configuration): downloaded, fully checked, then restored the same way. For a
    /// PostgreSQL source, `to` names a new database on the same server (an existing one is
    /// replaced only with `overwrite=True`), not a file.
    #[pyo3(signature = (id, to=None, *, overwrite=false, paranoid=false, remote=None))]
    fn restore(
        &self,
        py: Python<'_>,
        id: String,
        to: Option<&Bound<'_, PyAny>>,
        overwrite: bool,
        paranoid: bool,
        remote: Option<String>,
    ) -> Result<Option<Backup>> {
        let to = to.map(|p| path_string("to", p)).transpose()?;
        let options = sqlkeep::RestoreOptions {
            overwrite,
            paranoid,
        };
        let outcome = self.detached(py, |k| {
            let to = to.as_deref().map(std::path::Path::new);
            match &remote {
                None => k.restore_with(&id, to, options),
                Some(name) => k.restore_remote(name, &id, to, options),
            }
        })?;
        let dir = self.backup_dir();
        Ok(outcome.safety_backup.map(|m| Backup::new(&m, &dir)))
    }

    /// Brings back rows of one table from backup `id` into the live database: the
    /// backup's rows of `table` for which the SQL condition `where` holds (all when None),
    /// merged by key (primary key, or rowid), after full verification and a `pre-restore`
    /// safety backup, in one transaction. `where` runs only on the backup's copy, in a
    /// read-only connection. `replace_table=True`: the table's content becomes the
    /// backup's. `with_dependents=True`: rows foreign keys tie to the chosen ones come
    /// too. Returns a dict: `tables` (each `name`, `replaced`, `added`, `unchanged`,
    /// `removed`; the
    /// requested table first), `summary`, `safety_backup` (a Backup), `duration_ms`.
    /// ConfigError (a ValueError) for a bad condition, a schema that no longer matches, or rows
    /// that would refer to rows the live database lacks; nothing is written then.
    #[pyo3(signature = (id, table, r#where=None, *, replace_table=false, with_dependents=false))]
    fn restore_table<'py>(
        &self,
        py: Python<'py>,
        id: String,
        table: String,
        r#where: Option<String>,
        replace_table: bool,
        with_dependents: bool,
    ) -> Result<Bound<'py, PyDict>> {
        let mut req = sqlkeep::TableRestore::new(table)
            .replace_table(replace_table)
            .with_dependents(with_dependents);
        if let Some(c) = r#where {
            req = req.condition(c);
        }
        let outcome = self.detached(py, |k| k.restore_table(&id, &req))?;
        let d = serialized_dict(py, &outcome, &[], Instants::Utc)?;
        d.set_item("summary", outcome.summary())?;
        let dir = self.backup_dir();
        let safety = outcome.safety_backup.as_ref().map(|m| Backup::new(m, &dir));
        d.set_item("safety_backup", safety)?;
        Ok(d)
    }

    /// Restores from a backup file copied elsewhere (its `.json` manifest beside it):
    /// `path` is the backup file or its manifest. As `restore` otherwise.
    #[pyo3(signature = (path, to=None, *, overwrite=false, paranoid=false))]
    fn restore_file(
        &self,
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        to: Option<&Bound<'_, PyAny>>,
        overwrite: bool,
        paranoid: bool,
    ) -> Result<Option<Backup>> {
        let path = PathBuf::from(path_string("path", path)?);
        let to = to.map(|p| path_string("to", p)).transpose()?;
        let options = sqlkeep::RestoreOptions {
            overwrite,
            paranoid,
        };
        let outcome = self.detached(py, |k| {
            k.restore_file_with(&path, to.as_deref().map(std::path::Path::new), options)
        })?;
        let dir = self.backup_dir();
        Ok(outcome.safety_backup.map(|m| Backup::new(&m, &dir)))
    }

    /// Writes backup `id` (an incremental one too) as one self-contained file `to` (str or
    /// os.PathLike), compressed as its name says: `.gz` (gzip, so `gunzip` reads it) or
    /// `.zst` (zstd), after the same check a restore makes. Returns a dict: `id`, `path`
    /// (a Path), `compression` ("gzip" or "zstd"), `size_bytes` (the file written),
    /// `raw_size_bytes` (the database inside) and `sha256` (of the file written).
    /// ConfigError for a name ending in neither or a file that exists already (never
    /// overwritten), NotFoundError for an unknown id or a missing folder,
    /// CorruptBackupError for a damaged backup (nothing is written then).
    fn export<'py>(
        &self,
        py: Python<'py>,
        id: String,
        to: &Bound<'py, PyAny>,
    ) -> Result<Bound<'py, PyDict>> {
        let to = PathBuf::from(path_string("to", to)?);
        let outcome = self.detached(py, |k| k.export(&id, &to))?;
        let d = serialized_dict(py, &outcome, &[], Instants::Utc)?;
        d.set_item("path", &outcome.path)?;
        Ok(d)
    }

    /// Deletes backup `id` (any kind); returns what was deleted. `remote_copies=True`
    /// also deletes its copies on every remote (remotes otherwise keep them until their
    /// own retention lets them go).
    #[pyo3(signature = (id, remote_copies=false))]
    fn delete(&self, py: Python<'_>, id: String, remote_copies: bool) -> Result<Backup> {
        let m = self.detached(py, |k| k.delete_with(&id, remote_copies))?;
        Ok(Backup::new(&m, &self.backup_dir()))
    }

    /// Copies to each remote (or only the remote named `remote`) the backups it lacks
    /// that its retention keeps, and deletes there what that policy no longer keeps. A
    /// remote that fails does not raise: its report says why (and an `offsite_failed`
    /// event is sent). Returns one dict per remote: `remote`, `copied` (ids, oldest
    /// first), `copied_bytes`, `deleted` (ids), `missing` (backups it still lacks) and
    /// `error` (None when all went well). NotFoundError for an unknown remote name.
    #[pyo3(signature = (remote=None))]
    fn push<'py>(
        &self,
        py: Python<'py>,
        remote: Option<String>,
    ) -> Result<Vec<Bound<'py, PyDict>>> {
        let reports = self.detached(py, |k| k.push(remote.as_deref()))?;
        Ok(reports
            .iter()
            .map(|r| serialized_dict(py, r, &[], Instants::Utc))
            .collect::<PyResult<_>>()?)
    }

    /// Applies the retention policy to automatic backups; with `dry_run=True` only
    /// returns what it would do.
    #[pyo3(signature = (dry_run=false))]
    fn rotate(&self, py: Python<'_>, dry_run: bool) -> Result<RotationPlan> {
        let plan = self.detached(py, |k| k.rotate(dry_run))?;
        Ok(RotationPlan::new(py, &plan)?)
    }

    /// What rotation would do under `retention` (keys as in the `retention` setting,
    /// merged over the current policy), without changing the configuration or deleting
    /// anything: for settings a user has not saved yet.
    fn preview_rotation(
        &self,
        py: Python<'_>,
        retention: &Bound<'_, PyAny>,
    ) -> Result<RotationPlan> {
        let change = RetentionChange::from_value(&config_value("retention", retention)?)?;
        let plan = self.detached(py, |k| k.preview_rotation(&change))?;
        Ok(RotationPlan::new(py, &plan)?)
    }

    /// Backup runs, newest first, as dicts (`time` an aware datetime, UTC).
    #[pyo3(signature = (limit=50, offset=0))]
    fn history<'py>(
        &self,
        py: Python<'py>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Bound<'py, PyDict>>> {
        let (limit, offset) = (count("limit", limit)?, count("offset", offset)?);
        let entries = self.detached(py, |k| k.history(limit, offset))?;
        Ok(entries
            .iter()
            .map(|e| serialized_dict(py, e, &["time"], Instants::Utc))
            .collect::<PyResult<_>>()?)
    }

    /// Backup runs merged with the backups present, one row per backup, newest first:
    /// at most `limit` runs (runs of deleted backups only with `include_deleted=True`)
    /// plus every backup present whose run is older. Dicts as `history()` returns.
    #[pyo3(signature = (limit=200, include_deleted=false))]
    fn timeline<'py>(
        &self,
        py: Python<'py>,
        limit: i64,
        include_deleted: bool,
    ) -> Result<Vec<Bound<'py, PyDict>>> {
        let limit = count("limit", limit)?;
        let entries = self.detached(py, |k| k.timeline(limit, include_deleted))?;
        Ok(entries
            .iter()
            .map(|e| serialized_dict(py, e, &["time"], Instants::Utc))
            .collect::<PyResult<_>>()?)
    }

    /// Counts, sizes and times over the backups present and the runs logged; `offsite`
    /// lists each remote as `status()` does (instants in UTC). `total_bytes` is what the
    /// backups added (an incremental one: its changed pages), `bytes_on_disk` all the
    /// backup folder holds for them (with the files chains still need), `raw_bytes` the
    /// databases they restore to, `incremental` how many of `count` are incremental.
    fn stats<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let stats = self.detached(py, |k| k.stats())?;
        let d = serialized_dict(
            py,
            &stats,
            &[
                "oldest",
                "newest",
                "last_success",
                "last_failure",
                "last_rotation_failure",
                "last_test_restore_failure",
            ],
            Instants::Utc,
        )?;
        d.set_item("offsite", self.offsite(py, &stats.offsite, Instants::Utc)?)?;
        Ok(d)
    }

    /// The health verdict as a dict: `verdict` ("ok", "warning" or "failing"),
    /// `reasons` (dicts with `level`, `code`, `message`, worst first), `headline`,
    /// `checked_at`, `last_success`, `last_backup`, `last_backup_status`, `next_run`
    /// (instants as aware datetimes, UTC).
    fn health<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let health = self.detached(py, |k| k.health())?;
        Ok(serialized_dict(
            py,
            &health,
            &["checked_at", "last_success", "next_run"],
            Instants::Utc,
        )?)
    }

    /// What differs between backup `from_id` and backup `to` (the live database when
    /// None), as a dict: `from`, `to`, `identical`, `user_version` ({"from", "to"}),
    /// `tables` (each: `name`, `rows` {"from", "to"}, `added`, `removed`, `changed`,
    /// `key`, `table_restore_preview`), `schema` (each: `type`, `name`, `change`) and
    /// `restore_preview`. `removed` rows are only in
    /// the backup (a restore brings them back), `added` only in the newer side. A damaged
    /// backup raises CorruptBackupError and is not compared.
    #[pyo3(signature = (from_id, to=None))]
    fn diff<'py>(
        &self,
        py: Python<'py>,
        from_id: String,
        to: Option<String>,
    ) -> Result<Bound<'py, PyDict>> {
        let d = self.detached(py, |k| k.diff(&from_id, to.as_deref()))?;
        Ok(serialized_dict(py, &d, &[], Instants::Utc)?)
    }

    /// What restoring the backup file at `path` (anywhere, its `.json` manifest beside
    /// it, as for `restore_file`) would change in the live database: the dict of `diff`.
    fn diff_file<'py>(
        &self,
        py: Python<'py>,
        path: &Bound<'_, PyAny>,
    ) -> Result<Bound<'py, PyDict>> {
        let path = path_string("path", path)?;
        let d = self.detached(py, |k| k.diff_file(std::path::Path::new(&path)))?;
        Ok(serialized_dict(py, &d, &[], Instants::Utc)?)
    }

    /// The rows of `table` that differ between backup `from_id` and `to` (the live
    /// database when None): removed ones first, then added, then changed, each in key
    /// order; at most `limit` after skipping `offset`. A list of dicts: `change`, `key`
    /// (`rowid`, or the primary key's columns), `from` and `to` (column → value; None for
    /// an added or a removed row; blobs as `x'…'`). NotFoundError for a table that is not
    /// an ordinary table in both versions.
    #[pyo3(signature = (from_id, table, to=None, limit=50, offset=0))]
    fn diff_rows<'py>(
        &self,
        py: Python<'py>,
        from_id: String,
        table: String,
        to: Option<String>,
        limit: i64,
        offset: i64,
    ) -> Result<Bound<'py, PyAny>> {
        let (limit, offset) = (count("limit", limit)?, count("offset", offset)?);
        let rows = self.detached(py, |k| {
            k.diff_rows(&from_id, to.as_deref(), &table, limit, offset)
        })?;
        let v = serde_json::to_value(&rows)
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        Ok(from_json(py, &v)?)
    }

    /// Sends a test message through every notification channel now (one attempt each)
    /// and returns one dict per channel: `kind`, `channel` (no secrets), `ok`, `error`.
    fn notify_test<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let results = self.detached(py, |k| k.notify_test());
        let v = serde_json::to_value(&results)
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        from_json(py, &v)
    }

    /// Calls `callback(event: dict)` for every event, from the thread that produced it;
    /// the operation waits for it, so it must return promptly and must not wait for the
    /// database (during a restore into the live database, the `pre-restore` backup's
    /// `progress` events arrive while the restore holds the database's write lock: hand
    /// events that lead to reading the database to a thread of your own, as the desktop
    /// view does). Returns an id for `off_event`.
    fn on_event(&self, callback: Bound<'_, PyAny>) -> PyResult<u64> {
        check_callable("callback", &callback)?;
        Ok(self.sinks.add(callback.unbind()))
    }

    /// Unregisters a callback; returns whether it was registered.
    fn off_event(&self, id: u64) -> bool {
        self.sinks.remove(id)
    }

    /// Starts the background scheduler; False if it already runs.
    fn start(&self, py: Python<'_>) -> Result<bool> {
        let started = self.detached(py, |k| k.start())?;
        let mut list = STARTED.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|w| w.strong_count() > 0);
        if !list.iter().any(|w| w.ptr_eq(&Arc::downgrade(&self.core))) {
            list.push(Arc::downgrade(&self.core));
        }
        Ok(started)
    }

    /// Cancels the backups of this keeper running now (a `backup()` on another thread, a
    /// scheduled one): each stops at its next step, removes what it wrote, raises
    /// CancelledError in its caller and is logged as `backup_cancelled` (not a failure).
    /// True if one was running.
    fn cancel(&self) -> bool {
        self.core.cancel()
    }

    /// Stops the scheduler (after a `backup_on_shutdown` backup, if set, and after a
    /// backup in progress); False if it was not running.
    fn stop(&self, py: Python<'_>) -> bool {
        self.detached(py, |k| k.stop())
    }

    /// Whether the background scheduler runs.
    #[getter]
    fn running(&self) -> bool {
        self.core.is_running()
    }

    /// The next scheduled run as an aware datetime in the configured zone's offset, or
    /// None when the schedule is off.
    #[getter]
    fn next_run<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let status = self.detached(py, |k| k.status());
        let zone = self.zone();
        status
            .next_run
            .map(|t| instant(py, t, Instants::In(zone)))
            .transpose()
    }

    /// Scheduler state as a dict: `running`, `next_run`, `retry_at`, `last_run`,
    /// `last_outcome`, `last_backup`, `last_error`, `last_slot`, `offsite` (each
    /// remote as last known, without a network request: `remote`, `backups`, `missing`,
    /// `last_copy_at`, `last_error_at`, `last_error`, `summary`) (instants as aware
    /// datetimes in the configured zone's offset).
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let status = self.detached(py, |k| k.status());
        let how = Instants::In(self.zone());
        let d = serialized_dict(
            py,
            &status,
            &["next_run", "retry_at", "last_run", "last_slot"],
            how,
        )?;
        d.set_item("offsite", self.offsite(py, &status.offsite, how)?)?;
        Ok(d)
    }

    /// Does now, on this thread, what the scheduler would: backs up the due slot if it
    /// has no scheduled backup yet. Returns a dict: `outcome` ("idle", "covered",
    /// "skipped", "backed_up", "failed" or "busy"), `backup` (a Backup or None), `error`
    /// (the exception a failure would raise, or None) and `retry_at`.
    fn run_pending<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let outcome = self.detached(py, |k| k.run_pending());
        let d = PyDict::new(py);
        let name = outcome.as_str();
        let (backup, error, retry_at) = match outcome {
            TickOutcome::BackedUp(m) => (Some(Backup::new(&m, &self.backup_dir())), None, None),
            TickOutcome::Failed(e, retry_at) => (None, Some(e), retry_at),
            _ => (None, None, None),
        };
        d.set_item("outcome", name)?;
        d.set_item("backup", backup)?;
        let error = error
            .map(|e| exception(py, &e).map(|err| err.into_value(py)))
            .transpose()?;
        d.set_item("error", error)?;
        let retry_at = retry_at
            .map(|t| instant(py, t, Instants::In(self.zone())))
            .transpose()?;
        d.set_item("retry_at", retry_at)?;
        Ok(d)
    }

    /// The next `n` scheduled runs after `after` (default: now), as aware datetimes in
    /// the configured zone's offset.
    #[pyo3(signature = (n=3, after=None))]
    fn upcoming_runs<'py>(
        &self,
        py: Python<'py>,
        n: i64,
        after: Option<DateTime<Utc>>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let n = count("n", n)?;
        let from = after.unwrap_or_else(|| self.core.clock().now());
        let zone = self.zone();
        self.core
            .upcoming_runs(from, n)
            .into_iter()
            .map(|t| instant(py, t, Instants::In(zone)))
            .collect()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Stops the scheduler and gives pending notifications up to
    /// `notify.timeout_seconds` to leave (the GIL released meanwhile); exceptions
    /// propagate.
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyType>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.stop(py);
        let wait = std::time::Duration::from_secs(self.core.config().notify.timeout_seconds.into());
        self.detached(py, |k| k.flush_notifications(wait));
        false
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let cfg = self.core.config();
        let repr = |s: String| -> PyResult<String> {
            Ok(pyo3::types::PyString::new(py, &s).repr()?.to_string())
        };
        Ok(format!(
            "Keeper({}, backup_dir={}, schedule={}, running={})",
            repr(cfg.database.display().to_string())?,
            repr(cfg.backup_dir.display().to_string())?,
            repr(cfg.schedule.to_string())?,
            if self.core.is_running() {
                "True"
            } else {
                "False"
            }
        ))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> std::result::Result<(), PyTraverseError> {
        self.sinks.traverse(&visit)
    }

    fn __clear__(&self) {
        self.sinks.clear();
    }
}

/// The context manager of `Keeper.guard(label)`.
#[pyclass(frozen, module = "sqlkeep")]
pub struct Guard {
    core: Arc<sqlkeep::Keeper>,
    /// The label of the pre-operation backup.
    #[pyo3(get)]
    label: String,
}

#[pymethods]
impl Guard {
    /// Takes the `pre-operation` backup; returns it.
    fn __enter__(&self, py: Python<'_>) -> Result<Backup> {
        let core = self.core.clone();
        let label = self.label.clone();
        let m = py.detach(move || core.guard(&label))?;
        Ok(Backup::new(&m, &self.core.config().backup_dir))
    }

    /// Never swallows the exception of the block.
    fn __exit__(
        &self,
        _exc_type: Option<&Bound<'_, PyType>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        false
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Guard(label={})",
            pyo3::types::PyString::new(py, &self.label).repr()?
        ))
    }
}

/// The next `n` runs of `schedule` in `timezone` after `after` (default: now), as aware
/// datetimes in that zone's offset. Raises ConfigError (key "schedule" or "timezone")
/// when either does not parse, with the core's message.
#[pyfunction]
#[pyo3(
    signature = (schedule, timezone="local".to_string(), n=3, after=None),
    text_signature = "(schedule, timezone='local', n=3, after=None)"
)]
pub fn preview_schedule<'py>(
    py: Python<'py>,
    schedule: String,
    timezone: String,
    n: i64,
    after: Option<DateTime<Utc>>,
) -> Result<Vec<Bound<'py, PyAny>>> {
    let n = count("n", n)?;
    let parsed =
        sqlkeep::Schedule::parse(&schedule).map_err(|m| sqlkeep::Error::config("schedule", m))?;
    let zone: sqlkeep::Zone = timezone
        .parse()
        .map_err(|m: String| sqlkeep::Error::config("timezone", m))?;
    let from = after.unwrap_or_else(Utc::now);
    Ok(parsed
        .upcoming(zone, from, n)
        .into_iter()
        .map(|t| instant(py, t, Instants::In(zone)))
        .collect::<PyResult<_>>()?)
}
