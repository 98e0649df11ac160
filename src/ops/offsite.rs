//! Offsite copies (issue 13): every backup the local folder committed is copied to each
//! remote (`push`), each remote keeps what its own retention keeps, and a backup can be
//! listed, verified and restored from a remote on a machine that has only the
//! configuration and the credentials.
//!
//! A remote never fails a local backup: the copy starts only after the backup is
//! committed and its `backup_succeeded` event is out, and a remote that fails (network,
//! credentials, bucket, quota) becomes an `offsite_failed` event and log line while the
//! local backup stands. Whatever a remote lacks is copied at the next push, so the copies
//! catch up after an outage; `verify --remote` removes a missing or damaged copy from
//! the remote's index so the next push uploads it again (kopia #3492).

use crate::config::{Remote, VerifyLevel};
use crate::context::Ctx;
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::model::backup_id::manifest_name;
use crate::model::events::Event;
use crate::model::manifest::{Manifest, Verification};
use crate::ops::restore::{self, RestoreOptions, RestoreOutcome};
use crate::ops::rotate::{plan, Action, RotationPlan};
use crate::ops::verify::{emit_finished, verification, verify_in};
use crate::storage::local::atomic_file::{create_private_dir, TMP_PREFIX};
use crate::storage::local::lock::{DirLock, LOCK_WAIT};
use crate::storage::local::offsite_state::{Kept, OffsiteState};
use crate::storage::local::store::{Store, REMOTE_DOWNLOAD};
use crate::storage::remote::{scrub, RemoteStore};
use crate::storage::Storage;
use serde::Serialize;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// What a push did on one remote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushReport {
    /// The remote's name.
    pub remote: String,
    /// Backups copied, oldest first.
    pub copied: Vec<String>,
    /// Their bytes.
    pub copied_bytes: u64,
    /// Backups deleted there by its retention policy.
    pub deleted: Vec<String>,
    /// Backups its policy keeps that it still lacks (0 when all went well).
    pub missing: usize,
    /// Why it stopped, when it did.
    pub error: Option<String>,
}

/// The remote named `name`, or an error listing the configured ones.
pub(crate) fn remote<'a>(ctx: &Ctx<'a>, name: &str) -> Result<&'a Remote> {
    ctx.cfg
        .remotes
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = ctx.cfg.remotes.iter().map(|r| r.name.as_str()).collect();
            Error::new(
                ErrorKind::NotFound,
                Operation::Offsite,
                format!(
                    "no remote named {name:?}; {}",
                    if names.is_empty() {
                        "none is configured".to_string()
                    } else {
                        format!("the configured remotes are {}", names.join(", "))
                    }
                ),
            )
            .with_hint("add it to the `remotes` list of the configuration")
        })
}

/// Copies to each remote (or only `only`) the backups it lacks and its retention keeps,
/// and deletes there what that policy no longer keeps. A remote that fails is reported
/// in its [`PushReport`] (and an `offsite_failed` event); the others go on.
pub(crate) fn push(ctx: &Ctx<'_>, only: Option<&str>) -> Result<Vec<PushReport>> {
    push_waiting(ctx, only, LOCK_WAIT)
}

/// The copy after a backup: every remote, skipped when another push holds the offsite
/// lock (it copies this backup too, or the next run does).
pub(crate) fn after_backup(ctx: &Ctx<'_>) {
    if !ctx.cfg.remotes.is_empty() {
        let _ = push_waiting(ctx, None, Duration::ZERO);
    }
}

fn push_waiting(ctx: &Ctx<'_>, only: Option<&str>, wait: Duration) -> Result<Vec<PushReport>> {
    let remotes: Vec<&Remote> = match only {
        Some(name) => vec![remote(ctx, name)?],
        None => ctx.cfg.remotes.iter().collect(),
    };
    if remotes.is_empty() {
        return Ok(Vec::new());
    }
    let _offsite = DirLock::offsite(&ctx.cfg.backup_dir, wait)?;
    let local = {
        let _lock = DirLock::shared(&ctx.cfg.backup_dir, Operation::Offsite)?;
        ctx.store().list()?
    };
    Ok(remotes
        .into_iter()
        .map(|r| push_one(ctx, r, &local))
        .collect())
}

/// The backups of `local` that remote `r`, holding `there`, lacks and its policy keeps
/// (oldest first), and that policy's plan over what it would then hold. A backup that
/// failed its check is not worth an offsite copy; one the policy would delete at once is
/// not uploaded (and so not uploaded again after each prune).
fn lacking<'a>(
    ctx: &Ctx<'_>,
    r: &Remote,
    local: &'a [Manifest],
    there: &[Manifest],
) -> (Vec<&'a Manifest>, RotationPlan) {
    let have: HashSet<&str> = there.iter().map(|m| m.id.as_str()).collect();
    let absent: Vec<&Manifest> = local
        .iter()
        .filter(|m| !have.contains(m.id.as_str()))
        .filter(|m| m.verification.as_ref().is_none_or(|v| v.ok))
        .collect();
    let mut would_hold: Vec<Manifest> = there.to_vec();
    would_hold.extend(absent.iter().map(|m| (*m).clone()));
    let policy = r.retention(&ctx.cfg.retention);
    let planned = plan(&would_hold, &policy, ctx.cfg.timezone, ctx.now());
    let kept: HashSet<&str> = planned.kept.iter().map(String::as_str).collect();
    let mut todo: Vec<&Manifest> = absent
        .into_iter()
        .filter(|m| kept.contains(m.id.as_str()) || !m.kind.is_automatic())
        .collect();
    todo.reverse();
    (todo, planned)
}

fn push_one(ctx: &Ctx<'_>, r: &Remote, local: &[Manifest]) -> PushReport {
    let dir = &ctx.cfg.backup_dir;
    let mut state = OffsiteState::load(dir, &r.name);
    let mut report = PushReport {
        remote: r.name.clone(),
        copied: Vec::new(),
        copied_bytes: 0,
        deleted: Vec::new(),
        // What is missing by the last known list, until the remote answers.
        missing: lacking(ctx, r, local, &state.backups).0.len(),
        error: None,
    };
    let mut current: Option<String> = None;
    let result = (|| -> Result<()> {
        let store = RemoteStore::open(r)?;
        state.backups = store.list()?;
        let (todo, planned) = lacking(ctx, r, local, &state.backups);
        report.missing = todo.len();
        let local_store = ctx.store();
        for m in todo {
            current = Some(m.id.clone());
            let started = Instant::now();
            let m = &{
                // Rotation cannot delete the file while it is read.
                let _lock = DirLock::shared(local_store.dir(), Operation::Offsite)?;
                match &m.incremental {
                    None => {
                        store.put(m, &local_store.data_path(m))?;
                        m.clone()
                    }
                    Some(_) => {
                        let (whole, file) = self_contained_copy(ctx, &local_store, m)?;
                        store.put(&whole, file.file.path())?;
                        whole
                    }
                }
            };
            state.backups.insert(0, m.clone());
            state.last_copy_at = Some(ctx.now());
            report.copied.push(m.id.clone());
            report.copied_bytes += m.size_bytes;
            report.missing -= 1;
            ctx.emit(Event::OffsiteCopied {
                time: ctx.now(),
                remote: r.name.clone(),
                id: m.id.clone(),
                size_bytes: m.size_bytes,
                duration_ms: started.elapsed().as_millis() as u64,
            });
        }
        current = None;
        if r.retention(&ctx.cfg.retention).auto {
            let held: HashSet<String> = state.backups.iter().map(|m| m.id.clone()).collect();
            for e in planned
                .entries
                .iter()
                .filter(|e| e.action == Action::Delete)
            {
                if !held.contains(&e.id) {
                    continue;
                }
                current = Some(e.id.clone());
                store.delete(&e.id, Operation::Offsite)?;
                state.backups.retain(|m| m.id != e.id);
                report.deleted.push(e.id.clone());
                ctx.emit(Event::OffsiteDeleted {
                    time: ctx.now(),
                    remote: r.name.clone(),
                    id: e.id.clone(),
                    size_bytes: e.size_bytes,
                    reason: format!("rotation: {}", e.reason),
                });
            }
        }
        Ok(())
    })();
    state.missing = report.missing;
    match result {
        Ok(()) => {
            state.last_error = None;
            state.last_error_at = None;
        }
        Err(e) => {
            report.error = Some(e.to_string());
            state.last_error = Some(e.to_string());
            state.last_error_at = Some(ctx.now());
            ctx.emit(Event::OffsiteFailed {
                time: ctx.now(),
                remote: r.name.clone(),
                id: current,
                error: e.to_string(),
                error_kind: e.kind(),
                missing: report.missing,
            });
        }
    }
    state.save(dir);
    report
}

/// A remote holds whole backups only: an incremental backup goes there as the full
/// backup of the same moment (same id, same image and `raw_sha256`), compressed and
/// encrypted as this configuration writes new backups, so a remote copy never depends on
/// files the remote does not have. (Uploading page files instead would save bandwidth;
/// the remote would then need the chains and the collection of `storage/local/pieces.rs`.)
fn self_contained_copy(
    ctx: &Ctx<'_>,
    local: &Store,
    m: &Manifest,
) -> Result<(Manifest, crate::ops::export::SelfContained)> {
    let cfg = ctx.cfg;
    let encryptor = cfg
        .encryption
        .as_ref()
        .map(crate::pipeline::encrypt::encryptor)
        .transpose()?;
    let encryption = crate::ops::backup::encryption_facts(cfg);
    let file = crate::model::backup_id::data_name(
        &m.id,
        cfg.compression,
        encryption.is_some(),
        crate::model::backup_id::Content::Sqlite,
    );
    let written = crate::ops::export::self_contained(
        ctx,
        local,
        &m.id,
        Operation::Offsite,
        local.dir(),
        &file,
        cfg.compression,
        encryptor,
    )?;
    let mut whole = m.clone();
    whole.incremental = None;
    whole.requires.retain(|r| {
        r != crate::model::manifest::REQUIRES_INCREMENTAL
            && r != crate::model::manifest::REQUIRES_AGE
    });
    if encryption.is_some() {
        whole
            .requires
            .push(crate::model::manifest::REQUIRES_AGE.to_string());
    }
    whole.encryption = encryption;
    whole.file = file;
    whole.compression = cfg.compression;
    whole.compression_level = match cfg.compression {
        crate::config::Compression::None => 0,
        c => c.default_level(),
    };
    whole.size_bytes = written.compressed.size_bytes;
    whole.sha256 = written.compressed.sha256.clone();
    Ok((whole, written))
}

/// What this machine last knew of each configured remote (no network request).
pub(crate) fn states(ctx: &Ctx<'_>) -> Vec<OffsiteState> {
    ctx.cfg
        .remotes
        .iter()
        .map(|r| OffsiteState::load(&ctx.cfg.backup_dir, &r.name))
        .collect()
}

/// The backups on remote `name`, newest first.
pub(crate) fn list(ctx: &Ctx<'_>, name: &str) -> Result<Vec<Manifest>> {
    RemoteStore::open(remote(ctx, name)?)?.list()
}

/// Checks the copy of `id` on remote `name`: `quick` streams it and checks its size,
/// SHA-256 and stream; `full` also decodes it into a scratch file and runs the source's
/// check. A missing or damaged copy is taken out of the remote's index, so the next push
/// (which still has the local backup) uploads it again.
pub(crate) fn verify(
    ctx: &Ctx<'_>,
    name: &str,
    id: &str,
    level: VerifyLevel,
) -> Result<Verification> {
    let store = RemoteStore::open(remote(ctx, name)?)?;
    let m = store.load(id)?;
    let scratch = ctx.scratch_dir(&m);
    create_private_dir(&scratch)
        .map_err(|e| Error::io(Operation::Verify, "cannot create", &scratch, e))?;
    let verdict = verify_in(&store, &m, level, &ctx.keys(), &scratch)?;
    let mut v = verification(ctx, level, &m, &verdict);
    v.detail = format!("remote {name}: {}", v.detail);
    if !v.ok {
        let _offsite = DirLock::offsite(&ctx.cfg.backup_dir, LOCK_WAIT)?;
        store.forget(id, Operation::Verify)?;
    }
    emit_finished(ctx, id, &v);
    Ok(v)
}

/// Restores backup `id` from remote `name`: downloads it into a private folder beside
/// the local backups, then restores it exactly as a local backup (full check first, the
/// `pre-restore` safety backup when the live database is replaced). The download is
/// removed afterwards; a damaged copy is refused as a damaged local one is.
pub(crate) fn restore(
    ctx: &Ctx<'_>,
    name: &str,
    id: &str,
    to: Option<&Path>,
    options: RestoreOptions,
) -> Result<RestoreOutcome> {
    let op = Operation::Restore;
    let store = RemoteStore::open(remote(ctx, name)?)?;
    let m = store.load(id).map_err(|e| e.during(op))?;
    // A folder per process, under the local backup folder (created on a new machine),
    // used under the shared lock so that a sweep (which removes what a crash left of such
    // folders) never runs while it is in use.
    let _lock = DirLock::shared(&ctx.cfg.backup_dir, op)?;
    let staging = ctx.cfg.backup_dir.join(format!(
        "{TMP_PREFIX}{REMOTE_DOWNLOAD}{}-{}",
        std::process::id(),
        m.id
    ));
    let _ = std::fs::remove_dir_all(&staging);
    create_private_dir(&staging).map_err(|e| Error::io(op, "cannot create", &staging, e))?;
    let result = (|| {
        let local = Store::new(&staging);
        let blob = match store.get(&m)? {
            Ok(blob) => blob,
            Err(damage) => {
                return Err(Error::corrupt(
                    op,
                    format!(
                    "the copy of {id} on remote `{name}` is damaged and was not restored: {damage}"
                ),
                ))
            }
        };
        download(blob.reader, &staging.join(&m.file)).map_err(|e| {
            Error::new(
                ErrorKind::Remote,
                op,
                scrub(&format!(
                    "remote `{name}`: the download of {id} failed: {e}"
                )),
            )
        })?;
        // The manifest beside it makes the folder a store the local restore reads.
        std::fs::write(
            staging.join(manifest_name(&m.id)),
            serde_json::to_vec(&m).expect("manifests serialise"),
        )
        .map_err(|e| Error::io(op, "cannot write", &staging, e))?;
        restore::restore(ctx, &local, id, to, options)
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// Copies a download into `path` in large writes. Not synced: it is a scratch copy that
/// the restore checks in full before anything uses it, and removes afterwards (a sync
/// would cost as much as the check of a large backup).
fn download(mut from: Box<dyn Read + Send>, path: &Path) -> std::io::Result<()> {
    let mut out =
        crate::platform::private(std::fs::OpenOptions::new().write(true).create_new(true))
            .open(path)?;
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n])?;
    }
}

/// Deletes backup `id` from every remote that holds it (a deletion by request with
/// `remote_copies`).
pub(crate) fn delete_everywhere(ctx: &Ctx<'_>, m: &Manifest) -> Result<Vec<String>> {
    let _offsite = DirLock::offsite(&ctx.cfg.backup_dir, LOCK_WAIT)?;
    let mut from = Vec::new();
    for r in &ctx.cfg.remotes {
        let store = RemoteStore::open(r)?;
        if store.list()?.iter().any(|b| b.id == m.id) {
            store.delete(&m.id, Operation::Offsite)?;
            from.push(r.name.clone());
            ctx.emit(Event::OffsiteDeleted {
                time: ctx.now(),
                remote: r.name.clone(),
                id: m.id.clone(),
                size_bytes: m.size_bytes,
                reason: "deleted by request".into(),
            });
        }
    }
    Ok(from)
}
