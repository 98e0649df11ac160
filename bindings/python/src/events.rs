//! Core events to Python: to the `logging` logger `"sqlkeep"` and to the callables
//! registered with `Keeper.on_event`.
//!
//! Events come from whatever thread produced them: the caller's (which released the GIL
//! for the operation), a backup's worker thread (progress) or the scheduler's thread. Each
//! delivery attaches to the interpreter for its own duration; a callable that raises is
//! logged and the next one still runs, so a Python bug can never end a Rust thread. During
//! interpreter shutdown events are dropped rather than delivered.

use crate::convert::{record_dict, Instants};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use pyo3::{PyTraverseError, PyVisit};
use sqlkeep::{Event, Severity};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Keys of an event that hold instants.
const EVENT_TIME_KEYS: &[&str] = &["time", "next_run", "retry_at"];

// The numeric levels of the `logging` module.
const INFO: u8 = 20;
const WARNING: u8 = 30;
const ERROR: u8 = 40;

static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `logging.getLogger("sqlkeep")`.
pub fn logger(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    LOGGER
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(
                py.import("logging")?
                    .call_method1("getLogger", ("sqlkeep",))?
                    .unbind(),
            )
        })
        .map(|l| l.bind(py))
}

/// Logs that `callable` (in the role `what`) raised `err`; if even logging fails, the
/// error goes to `sys.unraisablehook`.
pub fn report_callback_error(py: Python<'_>, what: &str, callable: &Bound<'_, PyAny>, err: PyErr) {
    let logged = (|| -> PyResult<()> {
        let kwargs = PyDict::new(py);
        kwargs.set_item("exc_info", err.clone_ref(py).into_value(py))?;
        logger(py)?.call_method(
            "error",
            (
                "%s %r raised an exception; sqlkeep carries on",
                what,
                callable,
            ),
            Some(&kwargs),
        )?;
        Ok(())
    })();
    if logged.is_err() {
        err.write_unraisable(py, Some(callable));
    }
}

/// The event as the dict handed to callbacks: the core's JSON form, instants as aware
/// datetimes (UTC), and the core's `severity` ("info", "success", "warning", "error").
pub fn event_dict<'py>(py: Python<'py>, e: &Event) -> PyResult<Bound<'py, PyDict>> {
    let d = record_dict(py, &e.to_value(), EVENT_TIME_KEYS, Instants::Utc)?;
    d.set_item("severity", e.severity().as_str())?;
    Ok(d)
}

/// The `logging` level of the core's severity.
fn level(e: &Event) -> u8 {
    match e.severity() {
        Severity::Info | Severity::Success => INFO,
        Severity::Warning => WARNING,
        Severity::Error => ERROR,
    }
}

/// `backup_succeeded: backup app-... written: 12.8 MB in 640 ms, verified`: the type, then
/// the core's sentence (the same as `sqlkeep run` prints). The whole event is on the record
/// as `sqlkeep_event`.
fn message(e: &Event) -> String {
    format!("{}: {}", e.type_name(), e.describe())
}

fn log_event(py: Python<'_>, e: &Event, dict: &Bound<'_, PyDict>) -> PyResult<()> {
    let kwargs = PyDict::new(py);
    let extra = PyDict::new(py);
    extra.set_item("sqlkeep_event", dict.copy()?)?;
    kwargs.set_item("extra", extra)?;
    logger(py)?.call_method("log", (level(e), "%s", message(e)), Some(&kwargs))?;
    Ok(())
}

/// The callables of one keeper, and the delivery of its events. The keeper registers
/// [`EventSinks::deliver`] as its one core observer.
#[derive(Default)]
pub struct EventSinks {
    callbacks: Mutex<Vec<(u64, Py<PyAny>)>>,
    next_id: AtomicU64,
}

impl EventSinks {
    fn lock(&self) -> MutexGuard<'_, Vec<(u64, Py<PyAny>)>> {
        self.callbacks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `callback`; returns the id for [`EventSinks::remove`].
    pub fn add(&self, callback: Py<PyAny>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        self.lock().push((id, callback));
        id
    }

    /// Unregisters a callback; returns whether it was registered.
    pub fn remove(&self, id: u64) -> bool {
        let removed = {
            let mut list = self.lock();
            list.iter()
                .position(|(i, _)| *i == id)
                .map(|at| list.remove(at))
        };
        // Dropped outside the lock: the callable's __del__ may register or remove one.
        removed.is_some()
    }

    /// Logs `e` (progress is not logged) and calls every callback with it.
    pub fn deliver(&self, e: &Event) {
        let is_progress = matches!(e, Event::Progress { .. });
        if is_progress && self.lock().is_empty() {
            return; // nothing to do: do not take the GIL ~200 times per backup
        }
        let _ = Python::try_attach(|py| {
            let dict = match event_dict(py, e) {
                Ok(d) => d,
                Err(err) => return err.write_unraisable(py, None),
            };
            if !is_progress {
                if let Err(err) = log_event(py, e, &dict) {
                    err.write_unraisable(py, None);
                }
            }
            // Called outside the lock: a callback may register or remove callbacks.
            let callbacks: Vec<Py<PyAny>> =
                self.lock().iter().map(|(_, c)| c.clone_ref(py)).collect();
            for callback in callbacks {
                let callback = callback.bind(py);
                let result = dict.copy().and_then(|d| callback.call1((d,)));
                if let Err(err) = result {
                    report_callback_error(py, "sqlkeep on_event callback", callback, err);
                }
            }
        });
    }

    /// For the garbage collector: the callbacks held (which may refer back to the keeper).
    pub fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Never block inside a GC traversal; a held lock means a brief add or remove.
        if let Ok(list) = self.callbacks.try_lock() {
            for (_, callback) in list.iter() {
                visit.call(callback)?;
            }
        }
        Ok(())
    }

    /// Drops every callback (breaks reference cycles).
    pub fn clear(&self) {
        let dropped = std::mem::take(&mut *self.lock());
        drop(dropped);
    }
}
