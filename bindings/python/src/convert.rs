//! Values across the boundary: Python arguments to the core's JSON configuration, the
//! core's JSON (events, statistics, history) to Python dicts, instants to aware
//! `datetime`s.
//!
//! Types are checked here (a wrong Python type is a `TypeError` naming the argument);
//! values are checked by the core, so its validation and messages are the only ones.

use crate::errors::Result;
use chrono::{DateTime, Utc};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple};
use serde_json::{Map, Value};
use sqlkeep::{ValueType, Zone};

/// `type(v).__name__`, for messages.
fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

/// A `str` or `os.PathLike[str]` argument as a string.
pub fn path_string(name: &str, v: &Bound<'_, PyAny>) -> Result<String> {
    let s = if v.is_instance_of::<PyString>() {
        v.clone()
    } else if v.hasattr("__fspath__")? {
        v.py().import("os")?.call_method1("fspath", (v,))?
    } else {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a str or os.PathLike, not {}",
            type_name(v)
        ))
        .into());
    };
    if !s.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a str path or an os.PathLike giving one, not {}",
            type_name(&s)
        ))
        .into());
    }
    Ok(s.extract::<String>()?)
}

/// An `int` (not a `bool`) as a JSON number. Beyond 64 bits it is a configuration error.
fn int_value(name: &str, v: &Bound<'_, PyAny>) -> Result<Value> {
    if let Ok(i) = v.extract::<i64>() {
        return Ok(Value::from(i));
    }
    if let Ok(u) = v.extract::<u64>() {
        return Ok(Value::from(u));
    }
    Err(sqlkeep::Error::config(name, format!("{v} is too large")).into())
}

fn is_int(v: &Bound<'_, PyAny>) -> bool {
    v.is_instance_of::<PyInt>() && !v.is_instance_of::<PyBool>()
}

/// The value of configuration key `key` given as a keyword argument: the Python type is
/// checked by the core's key table, the value is left to the core. Unknown keys are
/// converted as plain JSON so that the core reports them (with a "did you mean").
pub fn config_value(key: &str, v: &Bound<'_, PyAny>) -> Result<Value> {
    let Some(k) = sqlkeep::CONFIG_KEYS.iter().find(|k| k.name == key) else {
        return to_json(v, key);
    };
    let wrong = || -> Result<Value> {
        Err(PyTypeError::new_err(format!(
            "{key} must be {}, not {}",
            k.value_type.expected(),
            type_name(v)
        ))
        .into())
    };
    match k.value_type {
        ValueType::Path => Ok(Value::String(path_string(key, v)?)),
        ValueType::Text if v.is_instance_of::<PyString>() => Ok(Value::String(v.extract()?)),
        ValueType::Bool => match v.cast::<PyBool>() {
            Ok(b) => Ok(Value::Bool(b.is_true())),
            Err(_) => wrong(),
        },
        ValueType::OptionalCount if v.is_none() => Ok(Value::Null),
        ValueType::Count | ValueType::OptionalCount if is_int(v) => int_value(key, v),
        ValueType::Retention | ValueType::Notify | ValueType::Server
            if v.cast::<PyMapping>().is_ok() =>
        {
            to_json(v, key)
        }
        // The short form of `notify`: the list of channels.
        ValueType::Notify if v.cast::<PyList>().is_ok() || v.cast::<PyTuple>().is_ok() => {
            to_json(v, key)
        }
        // None turns encryption off (in `configure`); the mapping's forms are the core's.
        ValueType::Encryption if v.is_none() || v.cast::<PyMapping>().is_ok() => to_json(v, key),
        // None for no remotes; each remote's keys are the core's.
        ValueType::Remotes
            if v.is_none() || v.cast::<PyList>().is_ok() || v.cast::<PyTuple>().is_ok() =>
        {
            to_json(v, key)
        }
        _ => wrong(),
    }
}

/// Any JSON-like Python value (None, bool, int, float, str, os.PathLike, mappings with
/// str keys, lists and tuples) as JSON; `path` names it in errors.
pub fn to_json(v: &Bound<'_, PyAny>, path: &str) -> Result<Value> {
    if v.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if v.is_instance_of::<PyInt>() {
        return int_value(path, v);
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        let x = f.value();
        return serde_json::Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| sqlkeep::Error::config(path, format!("{x} is not a number")).into());
    }
    if v.is_instance_of::<PyString>() || v.hasattr("__fspath__")? {
        return Ok(Value::String(path_string(path, v)?));
    }
    if let Ok(mapping) = v.cast::<PyMapping>() {
        let mut obj = Map::new();
        for item in mapping.items()?.iter() {
            let (k, val): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
            if !k.is_instance_of::<PyString>() {
                return Err(PyTypeError::new_err(format!(
                    "keys of {} must be str, not {}",
                    if path.is_empty() {
                        "the configuration"
                    } else {
                        path
                    },
                    type_name(&k)
                ))
                .into());
            }
            let k: String = k.extract()?;
            let child = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            obj.insert(k, to_json(&val, &child)?);
        }
        return Ok(Value::Object(obj));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let mut out = Vec::new();
        for (i, item) in v.try_iter()?.enumerate() {
            out.push(to_json(&item?, &format!("{path}[{i}]"))?);
        }
        return Ok(Value::Array(out));
    }
    Err(PyTypeError::new_err(format!(
        "{path} is a {}, which has no JSON form; use str, int, float, bool, None, dict or list",
        type_name(v)
    ))
    .into())
}

/// A JSON value as the Python value: objects become dicts, arrays lists.
pub fn from_json<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(from_json(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(obj) => {
            let dict = PyDict::new(py);
            for (k, item) in obj {
                dict.set_item(k, from_json(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// How instants are shown: recorded instants in UTC, schedule instants with the offset of
/// the configured zone.
#[derive(Clone, Copy)]
pub enum Instants {
    Utc,
    In(Zone),
}

/// An instant as an aware `datetime`.
pub fn instant<'py>(
    py: Python<'py>,
    t: DateTime<Utc>,
    how: Instants,
) -> PyResult<Bound<'py, PyAny>> {
    match how {
        Instants::Utc => Ok(t.into_pyobject(py)?.into_any()),
        Instants::In(zone) => Ok(zone.fixed(t).into_pyobject(py)?.into_any()),
    }
}

/// A serialised core record as a dict whose `time_keys` (RFC 3339 strings in the core's
/// JSON) are aware datetimes.
pub fn record_dict<'py>(
    py: Python<'py>,
    v: &Value,
    time_keys: &[&str],
    how: Instants,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = from_json(py, v)?.cast_into::<PyDict>()?;
    for key in time_keys {
        if let Some(Value::String(s)) = v.get(*key) {
            if let Some(t) = sqlkeep::parse_time(s) {
                dict.set_item(*key, instant(py, t, how)?)?;
            }
        }
    }
    Ok(dict)
}

/// A serde-serialisable core record as a dict (see [`record_dict`]).
pub fn serialized_dict<'py, T: serde::Serialize>(
    py: Python<'py>,
    record: &T,
    time_keys: &[&str],
    how: Instants,
) -> PyResult<Bound<'py, PyDict>> {
    let v = serde_json::to_value(record)
        .map_err(|e| PyValueError::new_err(format!("cannot convert a record: {e}")))?;
    record_dict(py, &v, time_keys, how)
}

/// A non-negative count argument (`limit`, `n`) as `usize`.
pub fn count(name: &str, n: i64) -> PyResult<usize> {
    usize::try_from(n)
        .map_err(|_| PyValueError::new_err(format!("{name} must be 0 or more, not {n}")))
}
