//! The `sqlkeep` handle: a [`Keeper`] plus the C event callback registered on it.
//!
//! The one thing C needs that Rust closures do not: C owns the callback's `user` data and
//! frees it by hand. So replacing or removing a callback waits until no other thread is
//! still inside the previous one; after that the caller may free its data. (The core's
//! `unsubscribe` only stops future deliveries; an event being delivered on another
//! thread at that moment may still reach the observer.)

use sqlkeep_core::{Event, Keeper};
use std::cell::RefCell;
use std::ffi::{c_char, c_void, CString};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

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
    events: Mutex<Option<Subscription>>,
}

struct Subscription {
    observer: u64,
    registration: Arc<Registration>,
}

/// The caller's `user` pointer.
struct UserData(*mut c_void);

// SAFETY: sqlkeep never dereferences the pointer; it only hands it back to the callback,
// possibly on another thread. The header requires callback and data to be usable from
// any thread (documented on sqlkeep_set_event_callback).
unsafe impl Send for UserData {}
// SAFETY: as for Send: the pointer is only copied, never dereferenced, by sqlkeep.
unsafe impl Sync for UserData {}

struct Registration {
    callback: Callback,
    user: UserData,
    state: Mutex<Delivery>,
    idle: Condvar,
}

struct Delivery {
    /// False once replaced: a delivery that starts afterwards does not call C.
    active: bool,
    /// Calls into C running now, on any thread.
    in_flight: usize,
}

thread_local! {
    /// The registrations whose callback this thread is running now (innermost last), so
    /// that replacing a callback from inside it does not wait for itself.
    static DELIVERING: RefCell<Vec<*const Registration>> = const { RefCell::new(Vec::new()) };
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave their data inconsistent (plain
    // counters and an Option), so a poisoned lock is used as is.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ends the current delivery even if the body unwinds.
struct InFlight<'a>(&'a Registration);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        DELIVERING.with(|d| d.borrow_mut().pop());
        let mut state = lock(&self.0.state);
        state.in_flight -= 1;
        if state.in_flight == 0 {
            self.0.idle.notify_all();
        }
    }
}

impl Registration {
    fn deliver(&self, event: &Event) {
        // Events serialise to JSON, which never holds a NUL byte.
        let Ok(json) = CString::new(event.to_value().to_string()) else {
            return;
        };
        {
            let mut state = lock(&self.state);
            if !state.active {
                return;
            }
            state.in_flight += 1;
        }
        DELIVERING.with(|d| d.borrow_mut().push(self as *const Registration));
        let _in_flight = InFlight(self);
        // SAFETY: the caller registered `callback` with this signature and promised that
        // it may be called from any thread with `user` until it is replaced or the handle
        // is closed; `json` outlives the call.
        unsafe { (self.callback)(json.as_ptr(), self.user.0) };
    }

    /// Stops future deliveries and waits until deliveries running on other threads end.
    fn retire(&self) {
        let own = DELIVERING.with(|d| {
            d.borrow()
                .iter()
                .filter(|r| std::ptr::eq(**r, self))
                .count()
        });
        let mut state = lock(&self.state);
        state.active = false;
        while state.in_flight > own {
            state = self.idle.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
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
            if let Some(p) = &previous {
                self.keeper.unsubscribe(p.observer);
            }
            if let Some(callback) = callback {
                let registration = Arc::new(Registration {
                    callback,
                    user: UserData(user),
                    state: Mutex::new(Delivery {
                        active: true,
                        in_flight: 0,
                    }),
                    idle: Condvar::new(),
                });
                let r = registration.clone();
                let observer = self.keeper.subscribe(move |e| r.deliver(e));
                *slot = Some(Subscription {
                    observer,
                    registration,
                });
            }
            previous
        };
        // Wait outside the slot's lock: a callback running on another thread may itself
        // be replacing the callback.
        if let Some(p) = previous {
            p.registration.retire();
        }
    }

    /// Stops the scheduler (it may deliver its last events) and removes the callback.
    pub(crate) fn shut_down(&self) {
        self.keeper.stop();
        self.set_event_callback(None, std::ptr::null_mut());
    }
}
