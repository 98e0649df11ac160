//! Running out of space: the `sqlkeep` CLI run as a child process whose file size limit
//! (RLIMIT_FSIZE, with SIGXFSZ ignored so that writes fail with EFBIG instead of killing
//! the process) is too small for what it writes. No privileges needed.
//!
//! And a real full disk: a small tmpfs mounted in an unprivileged user and mount
//! namespace (`unshare --user --map-root-user --mount`), reached from outside through
//! `/proc/<pid>/root`, filled with ballast so that the backup directory has exactly the
//! free space a case needs; writes there fail with ENOSPC (SQLite: SQLITE_FULL).
//!
//! A backup, verification or restore that cannot write must exit with status 1 and a
//! message that says why, and leave nothing: no temporary files, no partial backup
//! listed, no half-written restore target, and the earlier backups byte-for-byte
//! untouched and still verifying.

mod common;
mod reliability_common;

use common::bank;
use reliability_common::*;
use serde_json::json;
use sqlkeep::{BackupRequest, Keeper, Manifest, VerifyLevel};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

const DB_BYTES: u64 = 2 << 20;

/// `sqlkeep ARGS...` with the file size limit set to `limit` bytes.
fn limited(args: &[&str], limit: u64) -> Command {
    let mut c = sqlkeep();
    c.args(args);
    // SAFETY: setrlimit and signal are async-signal-safe; nothing else runs between
    // fork and exec.
    unsafe {
        c.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: limit as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c
}

fn run(mut c: Command) -> (Output, String) {
    let out = c.output().expect("the sqlkeep binary starts");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stderr)
}

/// A database and a backup directory holding two good backups.
struct Shelf {
    tmp: tempfile::TempDir,
    db: PathBuf,
    bdir: PathBuf,
    keeper: Keeper,
    raw_size: u64,
}

impl Shelf {
    fn new(mode: &str, compression: &str) -> Shelf {
        let tmp = tempfile::tempdir().unwrap();
        let db = bank(tmp.path(), mode, DB_BYTES);
        let bdir = tmp.path().join("backups");
        let keeper = common::keeper(
            &db,
            json!({"backup_dir": bdir.to_str().unwrap(), "compression": compression}),
        );
        let mut raw_size = 0;
        for _ in 0..2 {
            raw_size = keeper
                .backup(&BackupRequest::manual())
                .unwrap()
                .raw_size_bytes;
        }
        Shelf {
            tmp,
            db,
            bdir,
            keeper,
            raw_size,
        }
    }

    fn args<'a>(&'a self, rest: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec![
            "--db",
            self.db.to_str().unwrap(),
            "--dir",
            self.bdir.to_str().unwrap(),
        ];
        v.extend_from_slice(rest);
        v
    }

    /// Every backup file and manifest with its SHA-256.
    fn files(&self) -> BTreeMap<String, String> {
        std::fs::read_dir(&self.bdir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_str().unwrap();
                n.contains(".sqlite3") || n.ends_with(".json")
            })
            .map(|p| {
                (
                    p.file_name().unwrap().to_str().unwrap().to_string(),
                    file_sha(&p),
                )
            })
            .collect()
    }

    fn ids(&self) -> Vec<String> {
        self.keeper
            .list()
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect()
    }

    /// Runs `args` under `limit` and checks it failed cleanly: status 1, a message about
    /// the size limit or the disk, nothing left, the earlier backups untouched.
    fn fails_cleanly(&self, what: &str, args: &[&str], limit: u64) -> String {
        let before = self.files();
        let ids = self.ids();
        let (out, stderr) = run(limited(&self.args(args), limit));
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what} under a {limit}-byte limit: {}\nstdout: {}\nstderr: {stderr}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
        let lower = stderr.to_lowercase();
        assert!(
            lower.contains("file size limit") || lower.contains("disk"),
            "{what} under a {limit}-byte limit: the message does not say why: {stderr}"
        );
        assert_eq!(
            temp_files(&self.bdir),
            Vec::<String>::new(),
            "{what}: temp files left"
        );
        let (_, broken) = self.keeper.scan().unwrap();
        assert!(broken.is_empty(), "{what}: {broken:?}");
        assert_eq!(self.ids(), ids, "{what}: the list of backups changed");
        let after = self.files();
        assert_eq!(
            after.keys().collect::<Vec<_>>(),
            before.keys().collect::<Vec<_>>(),
            "{what}: files added or removed"
        );
        for (name, sha) in &before {
            if name.ends_with(".json") {
                continue; // a manifest may be rewritten by a check; its data may not
            }
            assert_eq!(&after[name], sha, "{what}: {name} changed");
        }
        for id in &ids {
            let v = self.keeper.verify(id, VerifyLevel::Full).unwrap();
            assert!(v.ok, "{what}: {id} no longer verifies: {}", v.detail);
        }
        println!(
            "{what} under a {limit}-byte limit: exit 1: {}",
            stderr.trim()
        );
        stderr
    }
}

fn backup_limits(raw: u64) -> [u64; 5] {
    [0, 1, 4096, raw / 2, raw - 1]
}

#[test]
fn a_backup_that_runs_out_of_space_fails_cleanly() {
    let mut cases = 0;
    for (mode, compression) in [
        ("delete", "gzip"),
        ("wal", "gzip"),
        ("delete", "zstd"),
        ("wal", "none"),
    ] {
        let shelf = Shelf::new(mode, compression);
        for limit in backup_limits(shelf.raw_size) {
            let what = format!("backup ({mode}, {compression})");
            shelf.fails_cleanly(&what, &["backup"], limit);
            cases += 1;
        }
        // Control: with room for the copy, the same command succeeds.
        let (out, stderr) = run(limited(
            &shelf.args(&["--json", "backup"]),
            shelf.raw_size + (1 << 20),
        ));
        assert!(out.status.success(), "control backup failed: {stderr}");
        let m: Manifest = serde_json::from_slice(&out.stdout).unwrap();
        assert!(shelf.ids().contains(&m.id));
        assert!(shelf.keeper.verify(&m.id, VerifyLevel::Full).unwrap().ok);
        assert!(temp_files(&shelf.bdir).is_empty());
    }
    println!("RELIABILITY disk-full backup: cases={cases} clean_failures={cases}");
}

#[test]
fn a_verification_or_restore_that_runs_out_of_space_fails_cleanly() {
    let shelf = Shelf::new("delete", "gzip");
    let id = shelf.ids()[0].clone();
    let raw = shelf.raw_size;
    let mut cases = 0;
    for limit in [0, 4096, raw / 2, raw - 1] {
        // Full verification decompresses into a temporary file in the backup directory.
        shelf.fails_cleanly("verify --all", &["verify", "--all"], limit);
        shelf.fails_cleanly("verify", &["verify", &id], limit);
        // A restore into a new path writes its copy beside the target.
        let target_dir = shelf.tmp.path().join("restored");
        std::fs::create_dir_all(&target_dir).unwrap();
        let target = target_dir.join("copy.db");
        shelf.fails_cleanly(
            "restore --to",
            &["restore", &id, "--to", target.to_str().unwrap(), "--yes"],
            limit,
        );
        assert!(
            !target.exists(),
            "a failed restore left {}",
            target.display()
        );
        assert!(
            temp_files(&target_dir).is_empty(),
            "{:?}",
            temp_files(&target_dir)
        );
        // A restore into the live database stops before touching it.
        let live = digest(&shelf.db);
        shelf.fails_cleanly("restore", &["restore", &id, "--yes"], limit);
        assert_eq!(
            digest(&shelf.db),
            live,
            "a failed restore changed the live database"
        );
        assert_eq!(integrity(&shelf.db), "ok");
        cases += 4;
    }
    println!("RELIABILITY disk-full verify+restore: cases={cases} clean_failures={cases}");
}

/// A tmpfs of `size` mounted in a user and mount namespace of its own, held by a
/// process (`cat`) that lives until this is dropped. `inside` is the mount point, where
/// commands run with [`TinyDisk::sqlkeep`] (through `nsenter`) see the tmpfs; `outside`
/// is the same folder seen from this process through `/proc/<pid>/root` (plain file
/// operations only: SQLite resolves that magic link and would miss the tmpfs).
struct TinyDisk {
    holder: Child,
    inside: PathBuf,
    outside: PathBuf,
    _mount_point: tempfile::TempDir,
}

impl TinyDisk {
    fn mount(size: &str) -> TinyDisk {
        let mount_point = tempfile::tempdir().unwrap();
        let mut holder = Command::new("unshare")
            .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs -o size={size} tmpfs \"$0\" && echo ready && exec cat"
            ))
            .arg(mount_point.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) runs");
        let mut line = String::new();
        BufReader::new(holder.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.trim() != "ready" {
            let out = holder.wait_with_output().unwrap();
            panic!(
                "cannot mount a tmpfs in an unprivileged user namespace ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let outside = PathBuf::from(format!("/proc/{}/root", holder.id()))
            .join(mount_point.path().strip_prefix("/").unwrap());
        TinyDisk {
            holder,
            inside: mount_point.path().to_path_buf(),
            outside,
            _mount_point: mount_point,
        }
    }

    /// `sqlkeep ARGS...` run inside the namespace, where the tmpfs is mounted.
    fn sqlkeep(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("--target")
            .arg(self.holder.id().to_string())
            .args(["--user", "--mount", "--preserve-credentials", "--"])
            .arg(env!("CARGO_BIN_EXE_sqlkeep"))
            .args(args)
            .stdin(Stdio::null());
        c
    }

    fn free(&self) -> u64 {
        let path = std::ffi::CString::new(self.outside.to_str().unwrap()).unwrap();
        // SAFETY: statvfs fills the zeroed struct from a valid C string path.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut st) }, 0);
        st.f_bavail as u64 * st.f_frsize as u64
    }

    /// Fills the disk with ballast until `free` bytes are left (rounded to pages).
    fn leave_free(&self, free: u64) {
        let ballast = self.outside.join("ballast");
        let _ = std::fs::remove_file(&ballast);
        let mut left = self.free().saturating_sub(free);
        let mut f = std::fs::File::create(&ballast).unwrap();
        let chunk = vec![0xa5u8; 1 << 16];
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            f.write_all(&chunk[..n]).unwrap();
            left -= n as u64;
        }
    }

    fn remove_ballast(&self) {
        std::fs::remove_file(self.outside.join("ballast")).unwrap();
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        drop(self.holder.stdin.take()); // cat ends; the namespace and its tmpfs go
        let _ = self.holder.wait();
    }
}

/// Runs `c`, which must succeed, and parses its JSON output.
fn json_of(c: Command) -> serde_json::Value {
    let (out, stderr) = run(c);
    assert!(out.status.success(), "{}: {stderr}", out.status);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_backup_onto_a_full_disk_fails_cleanly() {
    let mut cases = 0;
    for (mode, compression) in [("delete", "gzip"), ("wal", "zstd"), ("delete", "none")] {
        let disk = TinyDisk::mount("24m");
        let tmp = tempfile::tempdir().unwrap();
        let db = bank(tmp.path(), mode, DB_BYTES);
        let config = tmp.path().join("sqlkeep.json");
        let bdir = disk.inside.join("backups");
        std::fs::write(
            &config,
            json!({"database": db, "backup_dir": bdir, "compression": compression}).to_string(),
        )
        .unwrap();
        let cfg = config.to_str().unwrap();
        let cmd = |args: &[&str]| {
            let mut a = vec!["--config", cfg, "--json"];
            a.extend_from_slice(args);
            disk.sqlkeep(&a)
        };
        let first: Manifest = serde_json::from_value(json_of(cmd(&["backup"]))).unwrap();
        json_of(cmd(&["backup"]));
        let (raw, packed) = (first.raw_size_bytes, first.size_bytes);
        let list = || -> Vec<(String, String)> {
            json_of(cmd(&["list"]))
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    let id = m["id"].as_str().unwrap().to_string();
                    let file = disk
                        .outside
                        .join("backups")
                        .join(m["file"].as_str().unwrap());
                    (id, file_sha(&file))
                })
                .collect()
        };
        let before = list();
        assert_eq!(before.len(), 2);
        // No room at all; room for part of the raw copy; room for the raw copy but not
        // for the compressed file beside it (without compression they are one size, so
        // that case is just "not enough").
        for free in [0, 64 << 10, raw / 2, raw - 4096, raw + packed / 2] {
            let what = format!("backup ({mode}, {compression}) with {free} bytes free");
            disk.leave_free(free);
            let (out, stderr) = run(disk.sqlkeep(&["--config", cfg, "backup"]));
            assert_eq!(
                out.status.code(),
                Some(1),
                "{what}: {}: {}{stderr}",
                out.status,
                String::from_utf8_lossy(&out.stdout)
            );
            assert!(
                stderr.contains("disk is full"),
                "{what}: the message does not say the disk is full: {stderr}"
            );
            let left = temp_files(&disk.outside.join("backups"));
            assert!(left.is_empty(), "{what}: temp files left: {left:?}");
            disk.remove_ballast();
            assert_eq!(list(), before, "{what}: the backups changed");
            let checks = json_of(cmd(&["verify", "--all"]));
            let checks = checks.as_array().unwrap();
            assert_eq!(checks.len(), 2, "{what}: {checks:?}");
            assert!(checks.iter().all(|v| v["ok"] == true), "{what}: {checks:?}");
            println!("{what}: exit 1: {}", stderr.trim());
            cases += 1;
        }
        // With the space back, the next backup works and leaves nothing behind.
        json_of(cmd(&["backup"]));
        assert!(temp_files(&disk.outside.join("backups")).is_empty());
    }
    println!("RELIABILITY disk-full enospc backup: cases={cases} clean_failures={cases}");
}

/// An incremental backup that runs out of space (issue 12) fails like a full one: status
/// 1, a message that says why, nothing left in the folder or in `pieces/`, the earlier
/// backups (a full one and an incremental one) untouched and restorable.
#[test]
fn an_incremental_backup_that_runs_out_of_space_fails_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let db = bank(tmp.path(), "wal", DB_BYTES);
    let bdir = tmp.path().join("backups");
    let doc = json!({"database": db, "backup_dir": bdir, "incremental": true});
    let config = tmp.path().join("sqlkeep.json");
    std::fs::write(&config, doc.to_string()).unwrap();
    let keeper = Keeper::open(sqlkeep::Config::from_json(&doc.to_string()).unwrap());
    let change = |n: i64| {
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute(
                "UPDATE accounts SET balance = balance + ?1 WHERE id = 1",
                [n],
            )
            .unwrap();
    };
    keeper.backup(&BackupRequest::manual()).unwrap();
    change(1);
    let inc = keeper.backup(&BackupRequest::manual()).unwrap();
    assert!(inc.incremental.is_some());
    let listing = || -> BTreeMap<String, String> {
        let mut files = BTreeMap::new();
        for dir in [bdir.clone(), bdir.join("pieces")] {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                let n = p.file_name().unwrap().to_str().unwrap().to_string();
                if p.is_file()
                    && !n.ends_with(".json")
                    && !n.ends_with(".log")
                    && !n.ends_with(".jsonl")
                {
                    files.insert(n, file_sha(&p));
                }
            }
        }
        files
    };
    change(-1);
    let before = listing();
    let ids: Vec<String> = keeper.list().unwrap().into_iter().map(|m| m.id).collect();
    let cfg = config.to_str().unwrap();
    let mut cases = 0;
    for limit in [0, 1, 4096, inc.raw_size_bytes / 2, inc.raw_size_bytes - 1] {
        let (out, stderr) = run(limited(&["--config", cfg, "backup"], limit));
        assert_eq!(out.status.code(), Some(1), "limit {limit}: {stderr}");
        let lower = stderr.to_lowercase();
        assert!(
            lower.contains("file size limit") || lower.contains("disk"),
            "limit {limit}: the message does not say why: {stderr}"
        );
        assert!(
            temp_files(&bdir).is_empty(),
            "limit {limit}: {:?}",
            temp_files(&bdir)
        );
        assert!(temp_files(&bdir.join("pieces")).is_empty());
        let now: Vec<String> = keeper.list().unwrap().into_iter().map(|m| m.id).collect();
        assert_eq!(now, ids, "limit {limit}: the list changed");
        let after = listing();
        for (name, sha) in &before {
            assert_eq!(
                after.get(name),
                Some(sha),
                "limit {limit}: {name} changed or went"
            );
        }
        cases += 1;
    }
    for id in &ids {
        assert!(keeper.verify(id, VerifyLevel::Full).unwrap().ok, "{id}");
    }
    // With room, the same command succeeds and builds on the incremental backup.
    let (out, stderr) = run(limited(&["--config", cfg, "--json", "backup"], 64 << 20));
    assert!(out.status.success(), "{stderr}");
    let m: Manifest = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m.incremental.unwrap().parent, inc.id);
    println!("RELIABILITY disk-full incremental backup: cases={cases} clean_failures={cases}");
}
