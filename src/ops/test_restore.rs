//! Periodic test restores: every `test_restore_every_days`, a random backup is fully
//! restored into a temporary file and checked. The clock starts at the oldest backup, so
//! a fresh install does not test its first backup twice. With remotes configured, the
//! drills alternate between the local folder and each remote in turn, so an offsite copy
//! that cannot be restored is found by a drill, not by a disaster.

use crate::config::VerifyLevel;
use crate::context::Ctx;
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::model::events::Event;
use crate::model::manifest::Manifest;
use crate::model::verdict::Verdict;
use crate::ops::verify::{materialize, FullCheck};
use crate::storage::local::atomic_file::create_private_dir;
use crate::storage::local::lock::{DirLock, LOCK_WAIT};
use crate::storage::remote::RemoteStore;
use crate::storage::Storage;
use chrono::{DateTime, Duration, Utc};

/// A test restore that could not run: the error, and the backup chosen if it got that far.
pub(crate) struct Failure {
    pub id: Option<String>,
    pub error: Error,
}

impl Failure {
    /// The `test_restore_failed` event. The caller records the failure in its status
    /// first, so an observer reading the status on this event sees it.
    pub fn event(&self, ctx: &Ctx<'_>) -> Event {
        Event::TestRestoreFailed {
            time: ctx.now(),
            id: self.id.clone(),
            error: self.error.to_string(),
            error_kind: self.error.kind(),
        }
    }
}

/// Runs a test restore if one is due at `now`. `Ok(())` when none was due or it ran (a
/// damaged backup is a `test_restore_finished` with `ok: false`).
pub(crate) fn run_if_due(ctx: &Ctx<'_>, now: DateTime<Utc>) -> std::result::Result<(), Failure> {
    let mut chosen = None;
    run(ctx, now, &mut chosen).map_err(|error| Failure { id: chosen, error })
}

fn run(ctx: &Ctx<'_>, now: DateTime<Utc>, chosen: &mut Option<String>) -> Result<()> {
    let days = ctx.cfg.test_restore_every_days;
    if days == 0 {
        return Ok(());
    }
    let store = ctx.store();
    // A machine that only makes encrypted backups (no identity file) cannot read them:
    // it drills the ones it can read, and the key holder's machine drills the rest.
    let keys = ctx.keys();
    let readable = |list: Vec<Manifest>| -> Vec<Manifest> {
        list.into_iter()
            .filter(|m| !m.is_encrypted() || keys.available())
            .collect()
    };
    let local = readable(store.list()?);
    let Some(oldest) = local.iter().map(|m| m.created_at).min() else {
        return Ok(());
    };
    let drills: Vec<DateTime<Utc>> = ctx
        .log()
        .read()?
        .iter()
        .filter_map(|e| match e {
            Event::TestRestoreFinished { time, .. } | Event::TestRestoreFailed { time, .. } => {
                Some(*time)
            }
            _ => None,
        })
        .collect();
    let last = drills.iter().copied().max().unwrap_or(oldest);
    if now - last < Duration::days(days as i64) {
        return Ok(());
    }
    // Local, then each remote in turn, then local again.
    let turn = drills.len() % (ctx.cfg.remotes.len() + 1);
    if turn > 0 {
        let r = &ctx.cfg.remotes[turn - 1];
        let remote = RemoteStore::open(r)?;
        let backups = readable(remote.list()?);
        if backups.is_empty() {
            return Err(Error::new(
                ErrorKind::Remote,
                Operation::Verify,
                format!("remote `{}` holds no backup to drill", r.name),
            )
            .with_hint("run `sqlkeep push`"));
        }
        let m = backups[fastrand::usize(..backups.len())].clone();
        *chosen = Some(m.id.clone());
        let (verdict, _) = drill(ctx, &remote, &m, &format!(" from remote {}", r.name))?;
        if verdict.is_err() {
            // The next push uploads it again from the local backup, if there is one.
            let _offsite = DirLock::offsite(&ctx.cfg.backup_dir, LOCK_WAIT)?;
            remote.forget(&m.id, Operation::Verify)?;
        }
        return Ok(());
    }
    let mut m = local[fastrand::usize(..local.len())].clone();
    *chosen = Some(m.id.clone());
    let _lock = DirLock::shared(store.dir(), Operation::Verify)?;
    let (verdict, detail) = drill(ctx, &store, &m, "")?;
    m.verification = Some(crate::model::manifest::Verification {
        level: VerifyLevel::Full,
        ok: verdict.is_ok(),
        at: ctx.now(),
        detail,
    });
    store.save_manifest(&m, Operation::Verify)?;
    Ok(())
}

/// Restores `m` from `storage` into a temporary file with the full check and emits
/// `test_restore_finished`; `from` says where from (" from remote nas", or nothing).
fn drill(
    ctx: &Ctx<'_>,
    storage: &dyn Storage,
    m: &Manifest,
    from: &str,
) -> Result<(Verdict, String)> {
    let started = std::time::Instant::now();
    let scratch = ctx.scratch_dir(m);
    create_private_dir(&scratch)
        .map_err(|e| Error::io(Operation::Verify, "cannot create", &scratch, e))?;
    // A drill always runs the source's check: it is what proves restores work.
    let verdict = materialize(
        storage,
        m,
        &scratch,
        VerifyLevel::Full,
        FullCheck::Always,
        &ctx.keys(),
    )?
    .map(drop);
    let detail = match &verdict {
        Ok(()) => format!(
            "restored {}{from} into a temporary file: integrity_check ok, {} pages",
            m.id, m.page_count
        ),
        Err(reason) => format!("restoring {}{from} failed: {reason}", m.id),
    };
    ctx.emit(Event::TestRestoreFinished {
        time: ctx.now(),
        id: m.id.clone(),
        ok: verdict.is_ok(),
        detail: detail.clone(),
        duration_ms: started.elapsed().as_millis() as u64,
    });
    Ok((verdict, detail))
}
