//! The exception tree, defined once, and the one place where a core error becomes a
//! Python exception.
//!
//! `ConfigError` is also a `ValueError` and `NotFoundError` also a `KeyError`, so the
//! classes are made with `type(name, bases, namespace)` (PyO3's `create_exception!` takes
//! a single base). Every instance carries the core error's `kind`, `operation`, `key`,
//! `hint` and `path` as attributes.

use pyo3::exceptions::{PyException, PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use sqlkeep::{ErrorKind, Operation};

/// An error of a binding call: either from the core or already a Python exception
/// (a failed conversion, a `TypeError` for a wrong argument type).
pub enum Error {
    Core(sqlkeep::Error),
    Python(PyErr),
}

/// Result of a binding call; PyO3 turns the error into an exception through
/// `From<Error> for PyErr`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<sqlkeep::Error> for Error {
    fn from(e: sqlkeep::Error) -> Self {
        Error::Core(e)
    }
}

impl From<PyErr> for Error {
    fn from(e: PyErr) -> Self {
        Error::Python(e)
    }
}

impl<'a, 'py> From<pyo3::CastError<'a, 'py>> for Error {
    fn from(e: pyo3::CastError<'a, 'py>) -> Self {
        Error::Python(e.into())
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::Python(e) => e,
            // Conversions happen at the boundary, where the caller is attached already.
            Error::Core(e) => Python::attach(|py| exception(py, &e).unwrap_or_else(|err| err)),
        }
    }
}

/// The exception classes of `sqlkeep`.
pub struct Classes {
    pub error: Py<PyType>,
    pub config: Py<PyType>,
    pub backup: Py<PyType>,
    pub corrupt: Py<PyType>,
    pub restore: Py<PyType>,
    pub not_found: Py<PyType>,
    pub busy: Py<PyType>,
    pub key: Py<PyType>,
    pub remote: Py<PyType>,
    pub cancelled: Py<PyType>,
    pub postgres: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

/// The exception classes, made on first use.
pub fn classes(py: Python<'_>) -> PyResult<&'static Classes> {
    CLASSES.get_or_try_init(py, || make_classes(py))
}

fn make_class(
    py: Python<'_>,
    name: &str,
    bases: &[&Bound<'_, PyAny>],
    doc: &str,
    namespace: &Bound<'_, PyDict>,
) -> PyResult<Py<PyType>> {
    namespace.set_item("__module__", "sqlkeep")?;
    namespace.set_item("__doc__", doc)?;
    let bases = PyTuple::new(py, bases)?;
    let class = py.get_type::<PyType>().call1((name, bases, namespace))?;
    Ok(class.cast_into::<PyType>()?.unbind())
}

fn make_classes(py: Python<'_>) -> PyResult<Classes> {
    let base = PyDict::new(py);
    // Class-level defaults, so that an `Error` raised by Python code has them too.
    for attr in ["kind", "operation", "key", "hint", "path"] {
        base.set_item(attr, py.None())?;
    }
    let error = make_class(
        py,
        "Error",
        &[py.get_type::<PyException>().as_any()],
        "Base class of every sqlkeep error.\n\n\
         Attributes: `kind` (\"config\", \"io\", \"sqlite\", \"corrupt\", \"not_found\", \
         \"busy\", \"invalid_argument\", \"key\", \"remote\", \"cancelled\", \"postgres\"), \
         `operation` (\"backup\", \"restore\", \"export\", \"offsite\", ...), `key` (the configuration \
         key at fault), `hint` (what to do), `path` (the file involved).",
        &base,
    )?;
    let e = error.bind(py).as_any().clone();
    let sub = |name: &str, extra: Option<&Bound<'_, PyAny>>, doc: &str| -> PyResult<Py<PyType>> {
        let namespace = PyDict::new(py);
        let mut bases = vec![&e];
        if let Some(extra) = extra {
            bases.push(extra);
        }
        make_class(py, name, &bases, doc, &namespace)
    };
    let value_error = py.get_type::<PyValueError>().into_any();
    let key_error = py.get_type::<PyKeyError>().into_any();
    let config = sub(
        "ConfigError",
        Some(&value_error),
        "A configuration value or an argument is invalid; `key` names the key at fault.",
    )?;
    let backup = sub(
        "BackupError",
        None,
        "A backup (or a verification, rotation, deletion or export) failed on the file system or in SQLite.",
    )?;
    let corrupt = sub(
        "CorruptBackupError",
        None,
        "A backup, or the database, failed verification: its file or manifest is damaged.",
    )?;
    let restore = sub(
        "RestoreError",
        None,
        "A restore failed on the file system or in SQLite; the database was left as it was.",
    )?;
    // KeyError.__str__ would quote the message; keep the plain one of every other class.
    let not_found = {
        let namespace = PyDict::new(py);
        let base_str = py.get_type::<PyException>().getattr("__str__")?;
        namespace.set_item("__str__", base_str)?;
        make_class(
            py,
            "NotFoundError",
            &[&e, &key_error],
            "The named backup or database does not exist.",
            &namespace,
        )?
    };
    let busy = sub(
        "BusyError",
        None,
        "Another operation holds a lock this one needs, longer than it waits; retry later.",
    )?;
    let key = sub(
        "EncryptionKeyError",
        None,
        "An encrypted backup cannot be opened, or a new one cannot be encrypted: its key is \
         missing, unreadable, readable by other users, or not one the backup was encrypted to \
         (a wrong identity file or passphrase). `key` names the setting to fix \
         (\"encryption.identity_file\" or \"encryption.passphrase_env\"). The backup is not \
         judged damaged, and nothing was restored.",
    )?;
    let remote = sub(
        "RemoteError",
        None,
        "A remote (an offsite copy's destination) could not be reached or refused the \
         request: network down, wrong credentials, bucket missing, quota. The local backups \
         are not affected; the next push catches up.",
    )?;
    let cancelled = sub(
        "CancelledError",
        None,
        "The backup was cancelled on request (`Keeper.cancel()`): it stopped and removed \
         what it had written. It is logged as cancelled, not as a failure.",
    )?;
    let postgres = sub(
        "PostgresError",
        None,
        "PostgreSQL or one of its programs refused: the server cannot be reached, \
         authentication failed (the password comes only from PGPASSWORD, ~/.pgpass or \
         PGPASSFILE), pg_dump or pg_restore is missing or older than the server, or a \
         statement failed. The backups are not affected. A database that does not exist \
         is a NotFoundError.",
    )?;
    Ok(Classes {
        error,
        config,
        backup,
        corrupt,
        restore,
        not_found,
        busy,
        key,
        remote,
        cancelled,
        postgres,
    })
}

/// The exception for a core error: the class from its kind (and operation), the message
/// with its hint, and the details as attributes.
pub fn exception(py: Python<'_>, e: &sqlkeep::Error) -> PyResult<PyErr> {
    let c = classes(py)?;
    let class = match e.kind() {
        ErrorKind::Config | ErrorKind::InvalidArgument => &c.config,
        ErrorKind::Corrupt => &c.corrupt,
        ErrorKind::NotFound => &c.not_found,
        ErrorKind::Busy => &c.busy,
        ErrorKind::Key => &c.key,
        ErrorKind::Remote => &c.remote,
        ErrorKind::Cancelled => &c.cancelled,
        ErrorKind::Postgres => &c.postgres,
        ErrorKind::Io | ErrorKind::Sqlite if e.operation() == Operation::Restore => &c.restore,
        ErrorKind::Io | ErrorKind::Sqlite => &c.backup,
        _ => &c.error,
    };
    let exc = class.bind(py).call1((e.to_string(),))?;
    exc.setattr("kind", e.kind().as_str())?;
    exc.setattr("operation", e.operation().as_str())?;
    exc.setattr("key", e.key())?;
    exc.setattr("hint", e.hint())?;
    exc.setattr("path", e.path())?;
    Ok(PyErr::from_value(exc))
}

/// Adds the classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let c = classes(m.py())?;
    for class in [
        &c.error,
        &c.config,
        &c.backup,
        &c.corrupt,
        &c.restore,
        &c.not_found,
        &c.busy,
        &c.key,
        &c.remote,
        &c.cancelled,
        &c.postgres,
    ] {
        let class = class.bind(m.py());
        m.add(class.name()?, class)?;
    }
    Ok(())
}
