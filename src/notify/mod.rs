//! Notifications: someone hears when backups stop working (issue 15).
//!
//! The [`Notifier`] observes a keeper's events like any observer, but only queues them:
//! the decision (which needs the health verdict, so the backup log and the folder) and
//! the delivery (with retries and backoff) run on a thread of their own, so a slow or
//! dead receiver never delays or fails a backup. A delivery that keeps failing becomes a
//! `notification_failed` event (backup log and observers). When the last handle of the
//! keeper goes, pending messages get up to `notify.timeout_seconds` to leave — so the
//! CLI, a C program's `sqlkeep_close` and Python's garbage collection all deliver what a
//! backup just said before the process ends.
//!
//! [`decide`](decide::decide) says what to send (pure), [`message`] what it says,
//! [`send`] how it leaves; the memory of what was sent lives in the backup folder
//! (`.sqlkeep-notify`), so `notify.repeat_hours` and recoveries hold across processes.

mod decide;
mod message;
mod send;

use crate::config::Channel;
use crate::context::{Ctx, Shared};
use crate::model::events::Event;
use crate::model::health::{Health, Level, Reason};
use crate::ops::catalogue;
use crate::storage::local::atomic_file::write_atomic;
use decide::{Facts, State};
use message::{Message, Writer};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// Where what was sent is remembered, in the backup folder.
const STATE_FILE: &str = ".sqlkeep-notify";
/// Attempts per message, and the wait before the second (doubling after).
const ATTEMPTS: u32 = 5;
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// One attempt's limit (connect, send, answer).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The delivery thread's name.
const THREAD_NAME: &str = "sqlkeep-notify";
/// The delivery thread ends after this long without work (and starts again on demand).
const IDLE: Duration = Duration::from_secs(30);

/// The result of `notify --test` for one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NotifyResult {
    /// `webhook`, `heartbeat` or `email`.
    pub kind: String,
    /// The channel without its secrets ("webhook https://hooks.example.com").
    pub channel: String,
    pub ok: bool,
    /// Why it failed (no secret in it).
    pub error: Option<String>,
}

#[derive(Default)]
struct Queue {
    events: VecDeque<Event>,
    /// An event is being handled now.
    busy: bool,
    /// The delivery thread runs.
    worker: bool,
}

#[derive(Default)]
struct Inner {
    queue: Mutex<Queue>,
    changed: Condvar,
}

fn lock(m: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One keeper's notifications.
pub(crate) struct Notifier {
    inner: Arc<Inner>,
    shared: Weak<Shared>,
    observer: u64,
}

impl Notifier {
    /// Starts observing `shared`'s events.
    pub fn start(shared: &Arc<Shared>) -> Notifier {
        let inner = Arc::new(Inner::default());
        let (queue, weak) = (inner.clone(), Arc::downgrade(shared));
        let observer = shared.observers().add(Arc::new(move |e: &Event| {
            if decide::concerns(e) {
                Inner::push(&queue, &weak, e);
            }
        }));
        Notifier {
            inner,
            shared: Arc::downgrade(shared),
            observer,
        }
    }

    /// Waits until every queued message has been delivered or given up on, at most
    /// `timeout`; `true` when nothing is pending.
    pub fn flush(&self, timeout: Duration) -> bool {
        // On the delivery thread itself (an observer of `notification_failed` dropping
        // the last keeper handle) nothing could finish while this waits.
        if std::thread::current().name() == Some(THREAD_NAME) {
            return false;
        }
        let deadline = Instant::now() + timeout;
        let mut q = lock(&self.inner.queue);
        while !q.events.is_empty() || q.busy {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            q = self
                .inner
                .changed
                .wait_timeout(q, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

impl Drop for Notifier {
    /// The keeper's last handle is gone: stop listening, give what is pending up to
    /// `notify.timeout_seconds` to leave.
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.observers().remove(self.observer);
            let wait = shared.config().notify.timeout_seconds;
            self.flush(Duration::from_secs(u64::from(wait)));
        }
    }
}

impl Inner {
    fn push(this: &Arc<Inner>, shared: &Weak<Shared>, e: &Event) {
        // Nothing to do without channels (read now: a reconfiguration may add them).
        let Some(s) = shared.upgrade() else { return };
        if s.config().notify.channels.is_empty() {
            return;
        }
        let mut q = lock(&this.queue);
        q.events.push_back(e.clone());
        if !q.worker {
            let (inner, weak) = (this.clone(), shared.clone());
            let spawned = std::thread::Builder::new()
                .name(THREAD_NAME.into())
                .spawn(move || inner.work(&weak));
            q.worker = spawned.is_ok();
        }
        this.changed.notify_all();
    }

    fn work(&self, shared: &Weak<Shared>) {
        loop {
            let e = {
                let mut q = lock(&self.queue);
                loop {
                    if let Some(e) = q.events.pop_front() {
                        q.busy = true;
                        break e;
                    }
                    let (next, timeout) = self
                        .changed
                        .wait_timeout(q, IDLE)
                        .unwrap_or_else(|e| e.into_inner());
                    q = next;
                    if timeout.timed_out() && q.events.is_empty() {
                        q.worker = false;
                        return;
                    }
                }
            };
            if let Some(s) = shared.upgrade() {
                s.with_ctx(|ctx| handle(ctx, &e));
            }
            lock(&self.queue).busy = false;
            self.changed.notify_all();
        }
    }
}

/// The verdict for a message; if it cannot be computed (the folder unreadable, which is
/// when a message matters most) a `failing` verdict that says why.
fn health_now(ctx: &Ctx<'_>) -> Health {
    catalogue::health(ctx).unwrap_or_else(|e| Health {
        verdict: Level::Failing,
        reasons: vec![Reason {
            level: Level::Failing,
            code: "health_unknown",
            message: format!("the backup folder could not be read: {e}"),
        }],
        headline: "Backup state unknown".into(),
        checked_at: ctx.now(),
        last_success: None,
        last_backup: None,
        last_backup_status: None,
        next_run: None,
    })
}

fn load_state(ctx: &Ctx<'_>) -> State {
    std::fs::read(ctx.cfg.backup_dir.join(STATE_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Decides and delivers the messages for one event.
fn handle(ctx: &Ctx<'_>, e: &Event) {
    let channels = &ctx.cfg.notify.channels;
    if channels.is_empty() {
        return;
    }
    let health = health_now(ctx);
    let database = ctx.cfg.database.to_string_lossy();
    let mut state = load_state(ctx);
    let before = state.clone();
    let plan = decide::decide(
        &Facts {
            event: e,
            health: &health,
            channels,
            writer: Writer {
                database: &database,
                now: ctx.now(),
            },
            repeat: chrono::Duration::hours(i64::from(ctx.cfg.notify.repeat_hours)),
        },
        &mut state,
    );
    if state != before && ctx.cfg.backup_dir.is_dir() {
        if let Ok(bytes) = serde_json::to_vec(&state) {
            let _ = write_atomic(&ctx.cfg.backup_dir, STATE_FILE, &bytes);
        }
    }
    for (i, m) in plan {
        deliver(ctx, &channels[i], &m);
    }
}

/// Sends with retries and backoff; a message that never gets through is logged.
fn deliver(ctx: &Ctx<'_>, c: &Channel, m: &Message) {
    let mut wait = FIRST_RETRY;
    let mut error = String::new();
    for attempt in 1..=ATTEMPTS {
        match send::send(c, m, ATTEMPT_TIMEOUT) {
            Ok(()) => return,
            Err(e) => error = e,
        }
        if attempt < ATTEMPTS {
            std::thread::sleep(wait);
            wait *= 2;
        }
    }
    ctx.emit(Event::NotificationFailed {
        time: ctx.now(),
        channel: c.describe(),
        notification: m.notification.to_string(),
        error,
        attempts: ATTEMPTS,
    });
}

/// `notify --test`: one test message through every channel, now, one attempt each.
pub(crate) fn test(ctx: &Ctx<'_>) -> Vec<NotifyResult> {
    let health = catalogue::health(ctx).ok();
    let database = ctx.cfg.database.to_string_lossy();
    let m = Writer {
        database: &database,
        now: ctx.now(),
    }
    .test(health.as_ref());
    ctx.cfg
        .notify
        .channels
        .iter()
        .map(|c| {
            let r = send::send(c, &m, ATTEMPT_TIMEOUT);
            NotifyResult {
                kind: c.kind().to_string(),
                channel: c.describe(),
                ok: r.is_ok(),
                error: r.err(),
            }
        })
        .collect()
}
