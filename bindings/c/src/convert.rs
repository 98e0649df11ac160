//! C arguments in, C strings out. Every check produces `SQLKEEP_STATUS_INVALID_ARGUMENT`
//! with a message that names the parameter.

use crate::status::Failure;
use serde::Serialize;
use serde_json::Value;
use std::ffi::{c_char, CStr, CString};

/// A required C string as UTF-8.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid and unchanged for
/// `'a` (the duration of the export's call).
pub(crate) unsafe fn required_str<'a>(p: *const c_char, name: &str) -> Result<&'a str, Failure> {
    // SAFETY: forwarded from this function's contract.
    unsafe { optional_str(p, name) }?
        .ok_or_else(|| Failure::invalid_argument(format!("`{name}` is NULL")))
}

/// An optional C string (NULL means "not given") as UTF-8.
///
/// # Safety
/// As [`required_str`].
pub(crate) unsafe fn optional_str<'a>(
    p: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, Failure> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL, and the caller promises a NUL-terminated string valid for 'a.
    let bytes = unsafe { CStr::from_ptr(p) };
    bytes.to_str().map(Some).map_err(|e| {
        Failure::invalid_argument(format!(
            "`{name}` is not valid UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// A required C string holding JSON text. Text that does not parse is an invalid
/// argument; whether the value makes sense is for the core to say.
///
/// # Safety
/// As [`required_str`].
pub(crate) unsafe fn required_json(p: *const c_char, name: &str) -> Result<Value, Failure> {
    // SAFETY: forwarded from this function's contract.
    let text = unsafe { required_str(p, name) }?;
    serde_json::from_str(text)
        .map_err(|e| Failure::invalid_argument(format!("`{name}` is not valid JSON: {e}")))
}

/// A non-negative count from C.
pub(crate) fn count(n: std::ffi::c_int, name: &str) -> Result<usize, Failure> {
    usize::try_from(n).map_err(|_| {
        Failure::invalid_argument(format!("`{name}` is {n}; use 0 or a positive number"))
    })
}

/// An out-parameter, checked and reset to NULL so that it is NULL on every failure.
///
/// # Safety
/// `out` is NULL or valid for writing one pointer for `'a`.
pub(crate) unsafe fn out_param<'a, T>(
    out: *mut *mut T,
    name: &str,
) -> Result<&'a mut *mut T, Failure> {
    if out.is_null() {
        return Err(Failure::invalid_argument(format!("`{name}` is NULL")));
    }
    // SAFETY: non-NULL, and the caller promises it is valid for writes; it may hold
    // garbage, so it is overwritten without being read.
    unsafe { out.write(std::ptr::null_mut()) };
    // SAFETY: non-NULL, valid, and just initialised.
    Ok(unsafe { &mut *out })
}

/// `v` as compact JSON in a new C string for `sqlkeep_string_free`.
pub(crate) fn json_string(v: &impl Serialize) -> Result<*mut c_char, Failure> {
    let text = serde_json::to_string(v)
        .map_err(|e| Failure::new(crate::Status::Other, format!("cannot encode JSON: {e}")))?;
    // JSON escapes control characters, so the text never holds a NUL.
    let c = CString::new(text).map_err(|e| {
        Failure::new(
            crate::Status::Other,
            format!("encoded JSON holds a NUL byte: {e}"),
        )
    })?;
    Ok(c.into_raw())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    // The tests pass only NULL or C string literals, which live for the whole program.
    fn req(s: Option<&'static CStr>) -> Result<&'static str, Failure> {
        // SAFETY: NULL or a 'static C string literal.
        unsafe { required_str(s.map_or(std::ptr::null(), CStr::as_ptr), "kind") }
    }

    fn opt(s: Option<&'static CStr>) -> Result<Option<&'static str>, Failure> {
        // SAFETY: NULL or a 'static C string literal.
        unsafe { optional_str(s.map_or(std::ptr::null(), CStr::as_ptr), "label") }
    }

    #[test]
    fn strings_are_checked() {
        assert_eq!(req(Some(c"manual")).unwrap(), "manual");
        let e = req(None).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        assert_eq!(e.message, "`kind` is NULL");
        assert_eq!(opt(None).unwrap(), None);
        let e = opt(Some(c"ab\xffc")).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        assert!(
            e.message.contains("`label` is not valid UTF-8"),
            "{}",
            e.message
        );
        assert!(e.message.contains("offset 2"), "{}", e.message);
    }

    #[test]
    fn json_and_counts_are_checked() {
        // SAFETY: a 'static C string literal.
        let e = unsafe { required_json(c"{\"database\":".as_ptr(), "config_json") }.unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        assert!(e.message.starts_with("`config_json` is not valid JSON"));
        assert_eq!(count(3, "limit").unwrap(), 3);
        let e = count(-1, "offset").unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        assert!(e.message.contains("`offset` is -1"));
    }

    #[test]
    fn out_params_are_reset_and_null_is_refused() {
        let mut out: *mut c_char = std::ptr::dangling_mut();
        // SAFETY: `out` is a live local, valid for writes.
        let slot = unsafe { out_param(&mut out, "out_json") }.unwrap();
        assert!(slot.is_null());
        // SAFETY: NULL is allowed by the contract and must be refused.
        let e = unsafe { out_param::<c_char>(std::ptr::null_mut(), "out_json") }.unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        assert_eq!(e.message, "`out_json` is NULL");
    }

    #[test]
    fn json_strings_round_trip() {
        let p = json_string(&serde_json::json!({"a": "x\u{0}y"})).unwrap();
        // SAFETY: `p` came from CString::into_raw just above and is freed once here.
        let back = unsafe { CString::from_raw(p) };
        assert_eq!(back.to_str().unwrap(), r#"{"a":"x\u0000y"}"#);
    }
}
