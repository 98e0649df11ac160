//! The `sqlkeep` handle: a [`Keeper`] plus the C event callback registered on it.
//!
//! C owns the callback's `user` data and frees it by hand, so replacing or removing a
//! callback must return only once no other thread is still inside the previous one. The
//! core's `unsubscribe` gives exactly that guarantee; this file only keeps the C
//! function pointer and its data together.

use sqlkeep_core::{Event, Keeper};
use std::ffi::{c_char, c_void, CString};
use std::sync::{Mutex, MutexGuard};

/// The signature of an event callback: `event_json` is one event as a JSON object,
/// borrowed for the duration of the call (do not free it, copy it to keep it); `user` is
/// the pointer given to `sqlkeep_set_event_callback`.
/// NULL (`None`) is allowed where a callback is optional.
pub type EventCallback = Option<unsafe extern "C" fn(event_json: *const c_char, user: *mut c_void)>;

/// A callback that is there.
type Callback = unsafe extern "C" fn(event_json: *const c_char, user: *mut c_void);

/// An open keeper. Opaque to C.
pub struct Handle {
    keeper: Keeper,
    /// The core observer id of the registered callback.
    events: Mutex<Option<u64>>,
}

/// The caller's callback and `user` pointer.
struct Registration {
    callback: Callback,
    user: *mut c_void,
}

// SAFETY: sqlkeep never dereferences the pointer; it only hands it back to the callback,
// possibly on another thread. The header requires callback and data to be usable from
// any thread (documented on sqlkeep_set_event_callback).
unsafe impl Send for Registration {}
// SAFETY: as for Send: the pointer is only copied, never dereferenced, by sqlkeep.
unsafe impl Sync for Registration {}

impl Registration {
    fn deliver(&self, event: &Event) {
        // Events serialise to JSON, which never holds a NUL byte.
        let Ok(json) = CString::new(event.to_value().to_string()) else {
            return;
        };
        // SAFETY: the caller registered `callback` with this signature and promised that
        // it may be called from any thread with `user` until it is replaced or the handle
        // is closed; `json` outlives the call.
        unsafe { (self.callback)(json.as_ptr(), self.user) };
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave an Option<u64> inconsistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Handle {
    pub(crate) fn new(keeper: Keeper) -> Handle {
        Handle {
            keeper,
            events: Mutex::new(None),
        }
    }

    pub(crate) fn keeper(&self) -> &Keeper {
        &self.keeper
    }

    /// Replaces the event callback (`None` removes it). Returns once the previous one is
    /// no longer running on another thread.
    pub(crate) fn set_event_callback(&self, callback: EventCallback, user: *mut c_void) {
        let previous = {
            let mut slot = lock(&self.events);
            let previous = slot.take();
            if let Some(callback) = callback {
                let r = Registration { callback, user };
                *slot = Some(self.keeper.subscribe(move |e| r.deliver(e)));
            }
            previous
        };
        // Removed outside the slot's lock: the core waits for deliveries running on other
        // threads, and such a callback may itself be replacing the callback.
        if let Some(id) = previous {
            self.keeper.unsubscribe(id);
        }
    }

    /// Stops the scheduler (it may deliver its last events) and removes the callback.
    pub(crate) fn shut_down(&self) {
        self.keeper.stop();
        self.set_event_callback(None, std::ptr::null_mut());
    }
}
