//! The results of the core as Python classes: `Backup` (a manifest), `Verification` and
//! `RotationPlan`. Frozen snapshots: they do not change when the backup does.

use crate::convert::{serialized_dict, Instants};
use chrono::{DateTime, Utc};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::path::{Path, PathBuf};

/// The outcome of checking a backup.
#[pyclass(frozen, get_all, module = "sqlkeep")]
#[derive(Clone, PartialEq)]
pub struct Verification {
    /// Whether every check passed.
    pub ok: bool,
    /// `"quick"` or `"full"`.
    pub level: String,
    /// What was checked, or what was wrong.
    pub detail: String,
    /// When it was checked (UTC).
    pub at: DateTime<Utc>,
}

impl From<&sqlkeep::Verification> for Verification {
    fn from(v: &sqlkeep::Verification) -> Self {
        Verification {
            ok: v.ok,
            level: v.level.as_str().to_string(),
            detail: v.detail.clone(),
            at: v.at,
        }
    }
}

#[pymethods]
impl Verification {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Verification(ok={}, level={}, detail={})",
            py_bool(self.ok),
            repr(py, &self.level)?,
            repr(py, &self.detail)?
        ))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Verification>()
            .is_ok_and(|o| *o.get() == *self)
    }
}

/// Python's `repr` of a string.
fn repr(py: Python<'_>, s: &str) -> PyResult<String> {
    Ok(PyString::new(py, s).repr()?.to_string())
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// One backup: its manifest, and where its file is.
#[pyclass(frozen, get_all, module = "sqlkeep")]
#[derive(Clone)]
pub struct Backup {
    /// `<db-stem>-<UTC yyyymmddThhmmssZ>-<kind>[-n]`.
    pub id: String,
    /// `"manual"`, `"scheduled"`, `"shutdown"`, `"pre-restore"` or `"pre-operation"`.
    pub kind: String,
    /// Free-text label.
    pub label: Option<String>,
    /// When the snapshot was taken (UTC).
    pub created_at: DateTime<Utc>,
    /// The backup file.
    pub path: PathBuf,
    /// Size of the backup file: the bytes this backup added (for an incremental backup,
    /// its changed pages).
    pub size_bytes: u64,
    /// Size of the database it restores to.
    pub raw_size_bytes: u64,
    /// SHA-256 of the backup file, lower-case hex.
    pub sha256: String,
    /// SHA-256 of the database image inside, recorded when that image passed
    /// `integrity_check` at backup time (a restore that decodes it need not repeat the
    /// check); None for older backups and backups not fully checked.
    pub raw_sha256: Option<String>,
    /// Whether the latest verification passed.
    pub verified: bool,
    /// The latest verification, if any.
    pub verification: Option<Verification>,
    /// The database backed up: the SQLite file, or the PostgreSQL URI (password
    /// removed) as a str.
    pub database: Database,
    /// `"gzip"`, `"zstd"` or `"none"`.
    pub compression: String,
    pub compression_level: u32,
    pub page_size: u32,
    pub page_count: u64,
    /// `PRAGMA user_version` of the database (the application's schema version).
    pub user_version: i64,
    pub journal_mode: String,
    /// SQLite library version that took the backup.
    pub sqlite_version: String,
    pub sqlkeep_version: String,
    /// Wall time of the backup, verification included.
    pub duration_ms: u64,
    /// When a restore was last made from it (UTC).
    pub last_restored_at: Option<DateTime<Utc>>,
    /// Whether the file is encrypted (an age file: full verification and restore need
    /// its key).
    pub encrypted: bool,
    /// A PostgreSQL backup's facts as a dict (`server_version`, `pg_dump_version`,
    /// `database`, `tables`: `schema`, `table`, `rows` each), or None for SQLite.
    pub postgres: Option<PgFacts>,
    /// An incremental backup's manifest object as a dict (`parent`, `chain`: each link's
    /// `id`, `file`, `compression`, `size_bytes`, `sha256`, `raw_size_bytes`, `pages`,
    /// and `encryption` when encrypted; `image_sha256`), or None for a full backup.
    pub incremental: Option<Incremental>,
    /// The ids of the backups whose files this one is rebuilt from, oldest first (the
    /// full backup first); empty for a full backup. A deleted one's file is kept for it.
    pub depends_on: Vec<String>,
    /// With `incremental` on, why this backup is a full one; None otherwise.
    pub full_because: Option<String>,
}

/// The database a backup is of, as Python shows it: a SQLite file as a `pathlib.Path`, a
/// PostgreSQL URI as a `str` (a `Path` would fold its `//`).
#[derive(Clone)]
pub enum Database {
    File(PathBuf),
    Uri(String),
}

impl<'py> IntoPyObject<'py> for &Database {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Database::File(path) => Ok(path.into_pyobject(py)?.into_any()),
            Database::Uri(uri) => Ok(PyString::new(py, uri).into_any()),
        }
    }
}

/// A manifest's `postgres` facts; each read gives a new dict, so the record stays as it
/// was made.
#[derive(Clone)]
pub struct PgFacts(sqlkeep::PgFacts);

impl<'py> IntoPyObject<'py> for &PgFacts {
    type Target = PyDict;
    type Output = Bound<'py, PyDict>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        serialized_dict(py, &self.0, &[], Instants::Utc)
    }
}

/// A manifest's `incremental` object; each read gives a new dict, as for [`PgFacts`].
#[derive(Clone)]
pub struct Incremental(sqlkeep::Incremental);

impl<'py> IntoPyObject<'py> for &Incremental {
    type Target = PyDict;
    type Output = Bound<'py, PyDict>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        serialized_dict(py, &self.0, &[], Instants::Utc)
    }
}

impl Backup {
    /// The backup described by manifest `m` in `backup_dir`.
    pub fn new(m: &sqlkeep::Manifest, backup_dir: &Path) -> Backup {
        Backup {
            id: m.id.clone(),
            kind: m.kind.as_str().to_string(),
            label: m.label.clone(),
            created_at: m.created_at,
            path: backup_dir.join(&m.file),
            size_bytes: m.size_bytes,
            raw_size_bytes: m.raw_size_bytes,
            sha256: m.sha256.clone(),
            raw_sha256: m.raw_sha256.clone(),
            verified: m.verified(),
            verification: m.verification.as_ref().map(Verification::from),
            database: match m.postgres {
                Some(_) => Database::Uri(m.database.clone()),
                None => Database::File(PathBuf::from(&m.database)),
            },
            compression: m.compression.as_str().to_string(),
            compression_level: m.compression_level,
            page_size: m.page_size,
            page_count: m.page_count,
            user_version: m.user_version,
            journal_mode: m.journal_mode.clone(),
            sqlite_version: m.sqlite_version.clone(),
            sqlkeep_version: m.sqlkeep_version.clone(),
            duration_ms: m.duration_ms,
            last_restored_at: m.last_restored_at,
            encrypted: m.is_encrypted(),
            postgres: m.postgres.clone().map(PgFacts),
            incremental: m.incremental.clone().map(Incremental),
            depends_on: m
                .incremental
                .as_ref()
                .map(sqlkeep::Incremental::depends_on)
                .unwrap_or_default(),
            full_because: m.full_because.clone(),
        }
    }
}

#[pymethods]
impl Backup {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Backup(id={}, kind={}, label={}, size_bytes={}, verified={})",
            repr(py, &self.id)?,
            repr(py, &self.kind)?,
            match &self.label {
                Some(l) => repr(py, l)?,
                None => "None".to_string(),
            },
            self.size_bytes,
            py_bool(self.verified)
        ))
    }

    /// The same backup: same id and same file content. Other fields are a snapshot of
    /// when the object was made (a later verification changes them).
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Backup>().is_ok_and(|o| {
            let o = o.get();
            o.id == self.id && o.sha256 == self.sha256
        })
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.id.hash(&mut h);
        h.finish()
    }
}

/// What a rotation kept and deleted (or, in a dry run, would delete).
#[pyclass(frozen, get_all, module = "sqlkeep")]
pub struct RotationPlan {
    /// Nothing was deleted.
    pub dry_run: bool,
    /// Ids kept, newest first.
    pub kept: Vec<String>,
    /// Ids deleted (or to delete), newest first.
    pub deleted: Vec<String>,
    /// Bytes freed by the deletions.
    pub freed_bytes: u64,
    /// Bytes the kept backups take.
    pub total_bytes: u64,
    /// The size budget in effect (`retention.max_total_bytes` or the share of the disk),
    /// or None.
    pub max_total_bytes: Option<u64>,
    /// Why the budget cannot be met (manual backups are never deleted), or None.
    pub warning: Option<String>,
    /// Every backup, newest first: `id`, `kind`, `created_at`, `size_bytes`, `action`
    /// (`"keep"` or `"delete"`) and `reason`.
    pub entries: Vec<Py<PyDict>>,
}

impl RotationPlan {
    pub fn new(py: Python<'_>, plan: &sqlkeep::RotationPlan) -> PyResult<RotationPlan> {
        let entries = plan
            .entries
            .iter()
            .map(|e| Ok(serialized_dict(py, e, &["created_at"], Instants::Utc)?.unbind()))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(RotationPlan {
            dry_run: plan.dry_run,
            kept: plan.kept.clone(),
            deleted: plan.deleted.clone(),
            freed_bytes: plan.freed_bytes,
            total_bytes: plan.total_bytes,
            max_total_bytes: plan.max_total_bytes,
            warning: plan.warning.clone(),
            entries,
        })
    }
}

#[pymethods]
impl RotationPlan {
    fn __repr__(&self) -> String {
        format!(
            "RotationPlan(dry_run={}, kept={}, deleted={}, freed_bytes={})",
            py_bool(self.dry_run),
            self.kept.len(),
            self.deleted.len(),
            self.freed_bytes
        )
    }
}
