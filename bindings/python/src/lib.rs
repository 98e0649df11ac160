//! `sqlkeep._sqlkeep`: the native module under the `sqlkeep` Python package.
//!
//! A translation layer over the core crate and nothing more: arguments are checked for
//! their Python type and handed to the core, results and errors are converted back. The
//! GIL is released for every call into the core, and core events reach Python callables
//! from whatever thread produced them (see `events`).

mod convert;
mod errors;
mod events;
mod keeper;
mod records;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// `1234567` -> `"1.2 MB"`: the core's one size formatter (decimal units, as file
/// managers show them), the same the CLI prints.
#[pyfunction]
fn format_size(n: u64) -> String {
    sqlkeep::format_size(n)
}

/// How long before `now` the instant `t` was: `"just now"`, `"12 min ago"`, `"3 h ago"`,
/// `"2 days ago"`: the core's wording, the one the health headline uses.
#[pyfunction]
fn format_ago(t: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> String {
    sqlkeep::format_ago(now, t)
}

/// Writes a new encryption key (an age identity, mode 0600) to the new file `path` and
/// returns `{"path": Path, "public_key": "age1...", "warning": KEYGEN_WARNING}`. An
/// existing file is never overwritten (ConfigError). Put the public key into
/// `encryption={"recipients": [...], "identity_file": path}` and show the warning.
#[pyfunction]
fn keygen<'py>(py: Python<'py>, path: &Bound<'py, PyAny>) -> errors::Result<Bound<'py, PyDict>> {
    let path = PathBuf::from(convert::path_string("path", path)?);
    let key = py.detach(|| sqlkeep::keygen(&path))?;
    let made = PyDict::new(py);
    made.set_item("path", key.path)?;
    made.set_item("public_key", key.public_key)?;
    made.set_item("warning", key.warning)?;
    Ok(made)
}

#[pymodule]
fn _sqlkeep(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", sqlkeep::VERSION)?;
    m.add(
        "CONFIG_KEYS",
        pyo3::types::PyTuple::new(py, sqlkeep::CONFIG_KEYS.iter().map(|k| k.name))?,
    )?;
    m.add(
        "BACKUP_FILE_PATTERNS",
        pyo3::types::PyTuple::new(py, sqlkeep::BACKUP_FILE_PATTERNS)?,
    )?;
    m.add("ENCRYPTION_FORMS", sqlkeep::ENCRYPTION_FORMS)?;
    m.add("KEYGEN_WARNING", sqlkeep::KEYGEN_WARNING)?;
    m.add("DASHBOARD_HTML", sqlkeep::DASHBOARD_HTML)?;
    m.add_function(wrap_pyfunction!(format_size, m)?)?;
    m.add_function(wrap_pyfunction!(format_ago, m)?)?;
    m.add_function(wrap_pyfunction!(keygen, m)?)?;
    errors::register(m)?;
    m.add_class::<keeper::Keeper>()?;
    m.add_class::<keeper::Guard>()?;
    m.add_class::<records::Backup>()?;
    m.add_class::<records::Verification>()?;
    m.add_class::<records::RotationPlan>()?;
    m.add_function(wrap_pyfunction!(keeper::preview_schedule, m)?)?;
    // A scheduler still running at interpreter exit is stopped like `stop()` would, so
    // `backup_on_shutdown` holds for applications that simply exit.
    let stop = wrap_pyfunction!(keeper::stop_running_schedulers, m)?;
    py.import("atexit")?.call_method1("register", (stop,))?;
    Ok(())
}
