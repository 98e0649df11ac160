//! Offsite copies (issue 13) against real stores: a `file://` folder, and a real
//! S3-compatible server (moto's, from pip: `scripts/test` installs it into .venv) started
//! by each test on 127.0.0.1 and stopped after. Covers the copy and its checksum, restore
//! on a machine whose backup folder is gone, a remote's own retention, catch-up after the
//! remote was unreachable for two backups, a missing bucket, a damaged remote copy found
//! by `verify --remote` and repaired by `push`, and credentials in no file or event.

mod common;

use common::{bank, dump, integrity, total, ACCOUNTS, OPENING_BALANCE};
use serde_json::{json, Value};
use sqlkeep::{
    BackupRequest, Config, ErrorKind, Event, Keeper, Kind, ManualClock, RestoreOptions, VerifyLevel,
};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

const KEY_ID: &str = "AKIASQLKEEPTESTKEY01";
const SECRET: &str = "sqlkeep-test-SECRET-d41d8cd98f00b204";

/// The credentials every test of this binary uses (moto accepts any), set once before
/// any remote is opened.
fn credentials() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", KEY_ID);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET);
        std::env::set_var("AWS_REGION", "us-east-1");
    });
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// moto's S3 server in a child process, on 127.0.0.1.
struct S3Server {
    child: Child,
    port: u16,
}

impl S3Server {
    fn start() -> S3Server {
        let bin = std::env::var("SQLKEEP_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server")
            });
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (pip install \"moto[server]\"; scripts/test installs it)",
                    bin.display()
                )
            });
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        S3Server { child, port }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates `bucket` (moto does not check signatures, so a bare PUT does).
    fn create_bucket(&self, bucket: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    /// The bytes of object `key` in `bucket`.
    fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "GET /{bucket}/{key} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        let split = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&answer[..split]);
        head.lines()
            .next()
            .is_some_and(|l| l.contains(" 200 "))
            .then(|| answer[split + 4..].to_vec())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// s3s-fs, a Rust S3 server that keeps objects in a folder and checks request
/// signatures against its one access key (`cargo install s3s-fs --features binary`;
/// scripts/test installs it into target/tools). Restarting it on the same folder keeps
/// what it stored, so it can be killed in the middle of an upload.
struct S3sServer {
    child: Option<Child>,
    port: u16,
    root: PathBuf,
    secret: String,
}

fn s3s_fs() -> PathBuf {
    if let Ok(p) = std::env::var("SQLKEEP_S3S_FS") {
        return p.into();
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/bin/s3s-fs");
    if local.exists() {
        local
    } else {
        "s3s-fs".into()
    }
}

impl S3sServer {
    /// A server on a new folder with bucket `bucket`, accepting `secret` for KEY_ID.
    fn start(root: &Path, bucket: &str, secret: &str) -> S3sServer {
        std::fs::create_dir_all(root.join(bucket)).unwrap();
        let mut s = S3sServer {
            child: None,
            port: free_port(),
            root: root.to_path_buf(),
            secret: secret.to_string(),
        };
        s.restart();
        s
    }

    fn restart(&mut self) {
        let child = Command::new(s3s_fs())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", KEY_ID, "--secret-key", &self.secret])
            .arg(&self.root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("s3s-fs: {e} (cargo install s3s-fs@0.14.1 --features binary; scripts/test installs it)")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Whether a multipart upload has been started (s3s-fs keeps `.upload-<id>.json`).
    fn upload_started(&self) -> bool {
        std::fs::read_dir(&self.root)
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(".upload-"))
            })
            .unwrap_or(false)
    }
}

impl Drop for S3sServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn events(k: &Keeper) -> Arc<Mutex<Vec<Event>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    k.subscribe(move |e| s.lock().unwrap().push(e.clone()));
    seen
}

fn of_type(seen: &Arc<Mutex<Vec<Event>>>, t: &str) -> Vec<Value> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|e| e.type_name() == t)
        .map(Event::to_value)
        .collect()
}

fn keeper_with(db: &Path, remotes: Value) -> Keeper {
    credentials();
    let cfg = Config::new(db)
        .unwrap()
        .with_changes(&json!({"remotes": remotes, "verify_after_backup": "quick"}))
        .unwrap();
    Keeper::open(cfg)
}

/// A keeper on a manual clock (1 Nov 2026, 01:00 UTC; daily at 02:00 UTC) with `changes`.
fn on_manual_clock(db: &Path, changes: Value) -> (Keeper, Arc<ManualClock>) {
    credentials();
    let cfg = Config::new(db)
        .unwrap()
        .with_changes(
            &json!({"verify_after_backup": "quick", "timezone": "UTC", "schedule": "02:00"}),
        )
        .unwrap()
        .with_changes(&changes)
        .unwrap();
    let clock = Arc::new(ManualClock::new("2026-11-01T01:00:00Z".parse().unwrap()));
    (Keeper::with_clock(cfg, clock.clone()), clock)
}

fn manual(k: &Keeper) -> sqlkeep::Manifest {
    k.backup(&BackupRequest {
        kind: Kind::Manual,
        label: None,
        full: false,
    })
    .unwrap()
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A backup lands in a folder remote byte for byte; with the local backup folder gone,
/// a new keeper lists it there and restores it, checked, into a new file and into the
/// live database.
#[test]
fn folder_remote_survives_the_loss_of_the_local_backups() {
    let tmp = tempfile::tempdir().unwrap();
    let db = bank(tmp.path(), "wal", 200_000);
    let nas = tmp.path().join("nas");
    let remotes = json!([{"name": "nas", "url": format!("file://{}", nas.display())}]);
    let k = keeper_with(&db, remotes.clone());
    let seen = events(&k);
    let m = manual(&k);
    let copied = of_type(&seen, "offsite_copied");
    assert_eq!(copied.len(), 1, "{copied:?}");
    assert_eq!(copied[0]["remote"], "nas");
    let local = k.config().backup_dir.join(&m.file);
    assert_eq!(
        std::fs::read(nas.join(&m.file)).unwrap(),
        std::fs::read(&local).unwrap()
    );
    assert_eq!(k.list_remote("nas").unwrap(), vec![m.clone()]);
    let expected = dump(&db);

    // The disk with the database and its backups is lost.
    drop(k);
    std::fs::remove_dir_all(tmp.path().join("backups")).unwrap();
    std::fs::remove_file(&db).unwrap();
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{side}", db.display()));
    }
    let k = keeper_with(&db, remotes);
    assert!(k.list().unwrap().is_empty());
    let listed = k.list_remote("nas").unwrap();
    assert_eq!(listed.len(), 1);
    let to = tmp.path().join("restored.db");
    let out = k
        .restore_remote("nas", &m.id, Some(&to), RestoreOptions::default())
        .unwrap();
    assert_eq!(out.target, to);
    assert_eq!(dump(&to), expected);
    assert_eq!(integrity(&to), "ok");
    // Into the live path (no database there yet: nothing to keep a safety copy of).
    k.restore_remote("nas", &m.id, None, RestoreOptions::default())
        .unwrap();
    assert_eq!(total(&db), ACCOUNTS * OPENING_BALANCE);
    assert_eq!(dump(&db), expected);
    let leftovers: Vec<_> = files(&tmp.path().join("backups"))
        .into_iter()
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".sqlkeep")
        })
        .filter(|p| !p.ends_with("sqlkeep-log.jsonl"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "the download is removed: {leftovers:?}"
    );

    // What a remote restore killed mid-download leaves is swept by the next backup.
    let abandoned = tmp.path().join("backups").join(format!(
        "{}remote-4242-{}",
        sqlkeep::testing::TMP_PREFIX,
        m.id
    ));
    std::fs::create_dir_all(&abandoned).unwrap();
    std::fs::write(abandoned.join(&m.file), b"half a download").unwrap();
    manual(&k);
    assert!(!abandoned.exists());
}

/// A remote copy damaged after upload is found by `verify --remote`, refused by a remote
/// restore, and uploaded again by the next push.
#[test]
fn a_damaged_remote_copy_is_found_and_repaired() {
    let tmp = tempfile::tempdir().unwrap();
    let db = bank(tmp.path(), "wal", 100_000);
    let nas = tmp.path().join("nas");
    let k = keeper_with(
        &db,
        json!([{"name": "nas", "url": format!("file://{}", nas.display())}]),
    );
    let m = manual(&k);
    assert!(
        k.verify_remote("nas", &m.id, VerifyLevel::Quick)
            .unwrap()
            .ok
    );
    assert!(k.verify_remote("nas", &m.id, VerifyLevel::Full).unwrap().ok);
    let remote_file = nas.join(&m.file);
    let mut bytes = std::fs::read(&remote_file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&remote_file, &bytes).unwrap();
    let restore = k.restore_remote(
        "nas",
        &m.id,
        Some(&tmp.path().join("never.db")),
        RestoreOptions::default(),
    );
    assert_eq!(restore.unwrap_err().kind(), ErrorKind::Corrupt);
    assert!(!tmp.path().join("never.db").exists());
    let v = k.verify_remote("nas", &m.id, VerifyLevel::Quick).unwrap();
    assert!(!v.ok, "{v:?}");
    assert!(v.detail.contains("remote nas"), "{}", v.detail);
    assert!(
        k.list_remote("nas").unwrap().is_empty(),
        "the damaged copy is unlisted"
    );
    let pushed = k.push(None).unwrap();
    assert_eq!(pushed[0].copied, vec![m.id.clone()]);
    assert!(k.verify_remote("nas", &m.id, VerifyLevel::Full).unwrap().ok);
    // Nothing is missing any more: a second push copies nothing.
    assert!(k.push(Some("nas")).unwrap()[0].copied.is_empty());
    let e = k.push(Some("elsewhere")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("nas"), "{e}");
}

/// The S3 path end to end on a real S3-compatible server: copy with its checksum, one
/// index object, restore with the local folder gone; then the remote unreachable for two
/// backups (they succeed locally, each an `offsite_failed`), caught up by the next one.
#[test]
fn s3_copy_restore_and_catch_up_after_an_outage() {
    let s3 = S3Server::start();
    s3.create_bucket("sqlkeep-test");
    let tmp = tempfile::tempdir().unwrap();
    let db = bank(tmp.path(), "wal", 2_000_000);
    let remote = |endpoint: String| json!([{"name": "offsite", "url": "s3://sqlkeep-test/apps/app1", "endpoint": endpoint, "allow_http": true}]);
    let k = keeper_with(&db, remote(s3.endpoint()));
    let seen = events(&k);
    let first = manual(&k);
    assert_eq!(of_type(&seen, "offsite_copied").len(), 1);
    let local = std::fs::read(k.config().backup_dir.join(&first.file)).unwrap();
    let there = s3.object("sqlkeep-test", &format!("apps/app1/{}", first.file));
    assert!(there == Some(local), "the object equals the local file");
    // One index object beside the backup's two objects, under the prefix.
    let listing =
        String::from_utf8_lossy(&s3.object("sqlkeep-test", "?list-type=2").unwrap()).to_string();
    assert_eq!(listing.matches("<Key>").count(), 3, "{listing}");
    assert!(
        listing.contains("<Key>apps/app1/sqlkeep-index.json</Key>"),
        "{listing}"
    );
    assert!(
        listing.contains("<ChecksumAlgorithm>SHA256</ChecksumAlgorithm>"),
        "{listing}"
    );

    // The remote is unreachable for two backups.
    let dead = format!("http://127.0.0.1:{}", free_port());
    k.configure(
        &sqlkeep::ConfigChange::from_value(&json!({"remotes": remote(dead)}), None).unwrap(),
    )
    .unwrap();
    let second = manual(&k);
    let third = manual(&k);
    assert_eq!(k.list().unwrap().len(), 3, "local backups are not affected");
    let failed = of_type(&seen, "offsite_failed");
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[1]["missing"], 2);
    assert_eq!(failed[1]["remote"], "offsite");
    assert_eq!(failed[1]["error_kind"], "remote");
    // The verdict says so (a warning, and so a notification), without asking the remote.
    let health = k.health().unwrap();
    let reason = health
        .reasons
        .iter()
        .find(|r| r.code == "offsite_missing")
        .unwrap();
    assert!(
        reason.message.contains("missing for 2 backups"),
        "{}",
        reason.message
    );
    assert_eq!(k.status().offsite[0].missing, 2);

    // Back up: the next backup's copy catches up all three.
    k.configure(
        &sqlkeep::ConfigChange::from_value(&json!({"remotes": remote(s3.endpoint())}), None)
            .unwrap(),
    )
    .unwrap();
    let fourth = manual(&k);
    let ids: Vec<String> = k
        .list_remote("offsite")
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        ids,
        vec![
            fourth.id.clone(),
            third.id.clone(),
            second.id.clone(),
            first.id.clone()
        ]
    );
    assert!(
        k.verify_remote("offsite", &second.id, VerifyLevel::Full)
            .unwrap()
            .ok
    );
    assert!(!k
        .health()
        .unwrap()
        .reasons
        .iter()
        .any(|r| r.code == "offsite_missing"));
    assert_eq!(k.stats().unwrap().offsite[0].missing, 0);

    // A new machine: no local backups, the same configuration and credentials.
    let expected = dump(&db);
    drop(k);
    std::fs::remove_dir_all(tmp.path().join("backups")).unwrap();
    let k = keeper_with(&db, remote(s3.endpoint()));
    let to = tmp.path().join("from-s3.db");
    k.restore_remote("offsite", &fourth.id, Some(&to), RestoreOptions::default())
        .unwrap();
    assert_eq!(dump(&to), expected);
    assert_eq!(integrity(&to), "ok");

    // Credentials appear in no file sqlkeep wrote, no event and no object.
    for f in files(tmp.path()) {
        let bytes = std::fs::read(&f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(SECRET) && !text.contains(KEY_ID),
            "{}",
            f.display()
        );
    }
    let all = format!("{:?}", seen.lock().unwrap());
    assert!(!all.contains(SECRET) && !all.contains(KEY_ID));
    let config = k.config().to_value().to_string();
    assert!(!config.contains(SECRET) && !config.contains(KEY_ID));
}

/// A missing bucket: the backup succeeds locally and the failure names the remote.
#[test]
fn a_missing_bucket_fails_the_copy_not_the_backup() {
    let s3 = S3Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let db = bank(tmp.path(), "wal", 50_000);
    let k = keeper_with(
        &db,
        json!([{"name": "offsite", "url": "s3://no-such-bucket/x", "endpoint": s3.endpoint(), "allow_http": true}]),
    );
    let seen = events(&k);
    let m = manual(&k);
    assert!(k.verify(&m.id, VerifyLevel::Full).unwrap().ok);
    let failed = of_type(&seen, "offsite_failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.contains("remote `offsite`"), "{error}");
    assert!(
        !error.contains(SECRET) && !error.contains(KEY_ID),
        "{error}"
    );
    let report = k.push(None).unwrap();
    assert_eq!(report[0].missing, 1);
    assert!(report[0].error.as_deref().unwrap().contains("offsite"));
    let e = k.list_remote("offsite").unwrap_err();
    assert!(e.to_string().contains("remote `offsite`"), "{e}");
    let log = std::fs::read_to_string(k.config().backup_dir.join("sqlkeep-log.jsonl")).unwrap();
    assert!(log.contains("offsite_failed"));
}

/// Each remote applies its own retention; manual backups are never deleted there.
#[test]
fn a_remote_keeps_what_its_own_retention_keeps() {
    let tmp = tempfile::tempdir().unwrap();
    let db = bank(tmp.path(), "wal", 50_000);
    let nas = tmp.path().join("nas");
    let (k, clock) = on_manual_clock(
        &db,
        json!({"remotes": [{"name": "nas", "url": format!("file://{}", nas.display()),
                            "retention": {"daily": 2, "weekly": 0, "monthly": 0}}]}),
    );
    let kept_manual = manual(&k);
    for _ in 0..5 {
        clock.advance(chrono::Duration::days(1));
        k.run_pending();
    }
    let local = k.list().unwrap();
    assert_eq!(local.len(), 6, "local keeps 30 dailies");
    let remote: Vec<String> = k
        .list_remote("nas")
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    let scheduled: Vec<&String> = remote
        .iter()
        .filter(|id| id.ends_with("scheduled"))
        .collect();
    assert_eq!(scheduled.len(), 2, "{remote:?}");
    assert!(remote.contains(&kept_manual.id));
    // Deleted remote backups are not uploaded again by the next push.
    assert!(k.push(None).unwrap()[0].copied.is_empty());
    // A deletion by hand with its remote copies.
    k.delete_with(&kept_manual.id, true).unwrap();
    assert!(!k
        .list_remote("nas")
        .unwrap()
        .iter()
        .any(|m| m.id == kept_manual.id));
    assert!(!nas.join(&kept_manual.file).exists());
}

/// Periodic test restores alternate between the local folder and the remote, so a remote
/// copy that cannot be restored is found by a drill.
#[test]
fn test_restores_alternate_between_local_and_remote_copies() {
    let tmp = tempfile::tempdir().unwrap();
    let db = bank(tmp.path(), "wal", 50_000);
    let nas = tmp.path().join("nas");
    let (k, clock) = on_manual_clock(
        &db,
        json!({"test_restore_every_days": 1,
               "remotes": [{"name": "nas", "url": format!("file://{}", nas.display())}]}),
    );
    let seen = events(&k);
    for _ in 0..4 {
        clock.advance(chrono::Duration::days(1));
        k.run_pending();
    }
    let drills = of_type(&seen, "test_restore_finished");
    assert!(drills.len() >= 3, "{drills:?}");
    let from_remote: Vec<bool> = drills
        .iter()
        .map(|d| d["detail"].as_str().unwrap().contains("from remote nas"))
        .collect();
    assert!(drills.iter().all(|d| d["ok"] == true), "{drills:?}");
    assert!(
        from_remote.windows(2).all(|w| w[0] != w[1]),
        "{from_remote:?}"
    );

    // Damage every copy on the remote before each day's run: a remote drill finds one
    // (it picks at random among the damaged copies and that day's fresh one).
    let mut failed = Vec::new();
    let mut damaged = std::collections::HashSet::new();
    for _ in 0..12 {
        for f in files(&nas) {
            if f.extension().is_some_and(|e| e == "gz") && damaged.insert(f.clone()) {
                let mut b = std::fs::read(&f).unwrap();
                let mid = b.len() / 2;
                b[mid] ^= 0xff;
                std::fs::write(&f, b).unwrap();
            }
        }
        clock.advance(chrono::Duration::days(1));
        k.run_pending();
        failed = of_type(&seen, "test_restore_finished")
            .into_iter()
            .filter(|d| d["ok"] == false)
            .collect();
        if !failed.is_empty() {
            break;
        }
    }
    assert!(
        !failed.is_empty(),
        "no drill found the damaged remote copies"
    );
    assert!(failed[0]["detail"]
        .as_str()
        .unwrap()
        .contains("from remote nas"));
    // Taken out of the index, so a push uploaded it again, whole.
    let id = failed[0]["id"].as_str().unwrap();
    k.push(None).unwrap();
    assert!(k.verify_remote("nas", id, VerifyLevel::Full).unwrap().ok);
}

/// Wrong credentials: the server refuses every request; the backup stands, the error
/// names the remote and carries no credential.
#[test]
fn wrong_credentials_fail_the_copy_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = S3sServer::start(&tmp.path().join("s3"), "bkt", "not-the-secret-we-have");
    let db = bank(tmp.path(), "wal", 50_000);
    let k = keeper_with(
        &db,
        json!([{"name": "offsite", "url": "s3://bkt/app", "endpoint": s3.endpoint(), "allow_http": true}]),
    );
    let seen = events(&k);
    let m = manual(&k);
    assert!(
        k.verify(&m.id, VerifyLevel::Full).unwrap().ok,
        "the local backup is intact"
    );
    let failed = of_type(&seen, "offsite_failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.contains("remote `offsite`"), "{error}");
    assert!(
        error.contains("403") || error.to_lowercase().contains("signature"),
        "{error}"
    );
    assert!(
        !error.contains(SECRET) && !error.contains(KEY_ID),
        "{error}"
    );
    let e = k.list_remote("offsite").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
    let log = std::fs::read_to_string(k.config().backup_dir.join("sqlkeep-log.jsonl")).unwrap();
    assert!(!log.contains(SECRET) && !log.contains(KEY_ID));
}

/// The server killed in the middle of a multipart upload: the push fails, no half
/// object is listed (or stored) as a backup, and the next push completes the copy.
#[test]
fn the_server_killed_mid_upload_leaves_no_half_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s3 = S3sServer::start(&tmp.path().join("s3"), "bkt", SECRET);
    // Uncompressed, so the upload has several 16 MiB parts.
    let db = bank(tmp.path(), "wal", 80 << 20);
    credentials();
    let cfg = Config::new(&db)
        .unwrap()
        .with_changes(&json!({
            "compression": "none",
            "verify_after_backup": "quick",
            "remotes": [{"name": "offsite", "url": "s3://bkt/app", "endpoint": s3.endpoint(), "allow_http": true}]
        }))
        .unwrap();
    // The backup itself with the remote left out; then a push we interrupt.
    let local_only = Keeper::open(cfg.with_changes(&json!({"remotes": []})).unwrap());
    let m = manual(&local_only);
    drop(local_only);
    let k = Keeper::open(cfg);
    let pusher = {
        let k = k.clone();
        std::thread::spawn(move || k.push(None).unwrap())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !s3.upload_started() {
        assert!(Instant::now() < deadline, "the upload never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    s3.kill();
    let report = pusher.join().unwrap();
    assert!(report[0].error.is_some(), "{report:?}");
    assert_eq!(report[0].missing, 1);
    let object = tmp.path().join("s3/bkt/app").join(&m.file);
    assert!(!object.exists(), "no half object under the backup's name");

    s3.restart();
    assert!(
        k.list_remote("offsite").unwrap().is_empty(),
        "nothing listed"
    );
    let report = k.push(None).unwrap();
    assert_eq!(report[0].copied, vec![m.id.clone()], "{report:?}");
    assert_eq!(
        std::fs::read(&object).unwrap(),
        std::fs::read(k.config().backup_dir.join(&m.file)).unwrap()
    );
    assert!(
        k.verify_remote("offsite", &m.id, VerifyLevel::Full)
            .unwrap()
            .ok
    );
}

/// `sqlkeep push` killed -9 in the middle of its upload: nothing half-copied is listed,
/// the local backup is untouched, and the next push completes the copy.
#[test]
fn a_push_killed_mid_upload_is_completed_by_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = S3sServer::start(&tmp.path().join("s3"), "bkt", SECRET);
    let db = bank(tmp.path(), "wal", 80 << 20);
    credentials();
    let remotes = json!([{"name": "offsite", "url": "s3://bkt/app", "endpoint": s3.endpoint(), "allow_http": true}]);
    let local_only = keeper_with(&db, json!([]));
    local_only
        .configure(
            &sqlkeep::ConfigChange::from_value(&json!({"compression": "none"}), None).unwrap(),
        )
        .unwrap();
    let m = manual(&local_only);
    let local_bytes = std::fs::read(local_only.config().backup_dir.join(&m.file)).unwrap();
    drop(local_only);
    let config = tmp.path().join("sqlkeep.json");
    std::fs::write(
        &config,
        json!({"database": db, "remotes": remotes}).to_string(),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sqlkeep"))
        .arg("--config")
        .arg(&config)
        .arg("push")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !s3.upload_started() {
        assert!(Instant::now() < deadline, "the upload never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let k = keeper_with(&db, remotes);
    assert!(k.list_remote("offsite").unwrap().is_empty());
    let object = tmp.path().join("s3/bkt/app").join(&m.file);
    assert!(!object.exists());
    assert_eq!(
        std::fs::read(k.config().backup_dir.join(&m.file)).unwrap(),
        local_bytes
    );
    assert_eq!(k.push(None).unwrap()[0].copied, vec![m.id.clone()]);
    assert_eq!(std::fs::read(&object).unwrap(), local_bytes);
}
