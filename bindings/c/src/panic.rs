//! The panic boundary around every export (rustls-ffi `src/panic.rs`, regex-capi
//! `ffi_fn!`). A panic must never unwind into C; it becomes a typed default instead:
//! `SQLKEEP_STATUS_PANIC` for status-returning functions, nothing for `void` ones, the
//! empty string for `const char *` ones. The message goes to the thread's last error.
//!
//! The boundary is a function called inside each export's body, not a macro around the
//! signature, so that cbindgen sees ordinary `extern "C"` functions and their doc comments.

use crate::status::{clear_last_error, set_last_error, Failure, Status};
use std::any::Any;
use std::ffi::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The value an export returns when its body panicked.
pub(crate) trait PanicDefault {
    fn panic_default() -> Self;
}

impl PanicDefault for () {
    fn panic_default() {}
}

impl PanicDefault for *const c_char {
    fn panic_default() -> Self {
        c"".as_ptr()
    }
}

impl PanicDefault for c_int {
    fn panic_default() -> Self {
        Status::Panic.code()
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message");
    format!("sqlkeep panicked (this is a bug; please report it): {what}")
}

/// Runs `body`; a panic records its message as the last error and returns `R`'s default.
pub(crate) fn guard<R: PanicDefault>(body: impl FnOnce() -> R) -> R {
    // AssertUnwindSafe: after a panic the export returns at once and touches none of the
    // state the body was using; shared state (the keeper's locks) recovers from poisoning.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(payload) => {
            set_last_error(&panic_message(payload.as_ref()));
            R::panic_default()
        }
    }
}

/// The body of a status-returning export: clears the last error, runs `body` inside the
/// panic boundary and turns its result into a status code, recording a failure's message.
/// A success clears the message again at the end: an event callback may have made a
/// failing call on this thread meanwhile, and the message must describe this call.
pub(crate) fn status(body: impl FnOnce() -> Result<(), Failure>) -> c_int {
    clear_last_error();
    guard(|| match body() {
        Ok(()) => {
            clear_last_error();
            Status::Ok.code()
        }
        Err(f) => {
            set_last_error(&f.message);
            f.status.code()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::last_error_ptr;
    use std::ffi::CStr;

    fn last_error() -> String {
        // SAFETY: last_error_ptr returns a NUL-terminated string that stays unchanged
        // until the next set or clear on this thread.
        unsafe { CStr::from_ptr(last_error_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    fn quiet_panics() {
        // Keep the test output readable; the message is checked through last_error.
        std::panic::set_hook(Box::new(|_| {}));
    }

    #[test]
    fn a_panic_becomes_the_panic_status_with_its_message() {
        quiet_panics();
        let code = status(|| panic!("index {} out of range", 7));
        assert_eq!(code, Status::Panic.code());
        assert!(
            last_error().contains("index 7 out of range"),
            "{}",
            last_error()
        );
        assert!(last_error().contains("bug"));
    }

    #[test]
    fn other_exports_get_their_typed_default() {
        quiet_panics();
        guard::<()>(|| panic!("in a void export"));
        assert!(last_error().contains("in a void export"));
        let p: *const c_char = guard(|| panic!("static str payload"));
        // SAFETY: the default is a pointer to a static empty C string.
        assert_eq!(unsafe { CStr::from_ptr(p) }.to_bytes(), b"");
    }

    #[test]
    fn the_message_describes_the_outer_call() {
        // An event callback failing inside a successful call.
        let code = status(|| {
            assert_eq!(status(|| Err(Failure::new(Status::Io, "inner"))), -20);
            Ok(())
        });
        assert_eq!(code, 0);
        assert_eq!(last_error(), "");
        // And a success inside a failing one.
        let code = status(|| {
            assert_eq!(status(|| Ok(())), 0);
            Err(Failure::new(Status::NotFound, "outer"))
        });
        assert_eq!(code, Status::NotFound.code());
        assert_eq!(last_error(), "outer");
    }

    #[test]
    fn failures_and_successes_set_and_clear_the_message() {
        let code = status(|| Err(Failure::new(Status::Busy, "locked")));
        assert_eq!(code, Status::Busy.code());
        assert_eq!(last_error(), "locked");
        assert_eq!(status(|| Ok(())), 0);
        assert_eq!(last_error(), "");
    }
}
