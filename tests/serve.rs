//! `sqlkeep serve` (issue 16) over real HTTP on 127.0.0.1: every route, its errors, the
//! token, live events, metrics, the dashboard page, and SIGTERM while a backup runs. The
//! server is the real binary in a child process, stopped by each test.

mod common;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    port: u16,
    token: Option<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// `sqlkeep serve` on `dir/app.db` with `config` (merged into a configuration file).
    fn start(dir: &Path, config: Value, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut cfg = json!({"database": "app.db", "server": {"listen": format!("127.0.0.1:{port}")},
                             "verify_after_backup": "quick", "test_restore_every_days": 0});
        for (k, v) in config.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        cfg["server"]["listen"] = format!("127.0.0.1:{port}").into();
        std::fs::write(dir.join("sqlkeep.json"), cfg.to_string()).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sqlkeep"));
        cmd.current_dir(dir)
            .args(["--config", "sqlkeep.json", "serve"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        assert!(
            first.starts_with("sqlkeep serving http://127.0.0.1:"),
            "{first:?}"
        );
        std::thread::spawn(move || for _ in out.lines() {});
        let token = env
            .iter()
            .find(|(k, _)| *k == "SQLKEEP_TEST_TOKEN")
            .map(|(_, v)| v.to_string());
        Server { child, port, token }
    }

    /// One request; `(status, body as JSON or text)`.
    fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        self.call_with(method, path, body, self.token.as_deref())
    }

    fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let body = body.unwrap_or("");
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8_lossy(&raw).to_string();
        let (head, rest) = text.split_once("\r\n\r\n").unwrap();
        let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        let rest = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(rest)
        } else {
            rest.to_string()
        };
        let v = serde_json::from_str(&rest).unwrap_or(Value::String(rest));
        (status, v)
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    loop {
        let Some((len, rest)) = s.split_once("\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn db(dir: &Path) -> PathBuf {
    common::bank(dir, "wal", 200_000)
}

#[test]
fn every_route_and_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(dir.path());
    let s = Server::start(dir.path(), json!({"schedule": "off"}), &[]);

    let (code, page) = s.call("GET", "/", None);
    assert_eq!(code, 200);
    assert!(page.as_str().unwrap().contains("<title>sqlkeep</title>"));

    let (code, st) = s.call("GET", "/api/status", None);
    assert_eq!(code, 200, "{st}");
    assert_eq!(st["running"], true);
    assert!(st["health"]["verdict"].is_string());

    let (code, m) = s.call(
        "POST",
        "/api/backups?wait=true",
        Some(r#"{"label": "from the api"}"#),
    );
    assert_eq!(code, 201, "{m}");
    assert_eq!(m["label"], "from the api");
    let id = m["id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        assert_eq!(s.call("POST", "/api/backups?wait=true", Some("{}")).0, 201);
    }
    let (code, page) = s.call("GET", "/api/backups?limit=2&offset=1", None);
    assert_eq!(code, 200);
    assert_eq!(page["total"], 3);
    assert_eq!(page["backups"].as_array().unwrap().len(), 2);
    assert_eq!(page["backups"][1]["id"], id.as_str(), "newest first");

    assert_eq!(
        s.call("GET", &format!("/api/backups/{id}"), None).1["id"],
        id.as_str()
    );
    let (code, e) = s.call("GET", "/api/backups/app-20200101T000000Z-manual", None);
    assert_eq!(code, 404, "{e}");
    assert_eq!(e["error"]["kind"], "not_found");
    let (code, e) = s.call("GET", "/api/backups/..%2F..%2Fetc%2Fpasswd", None);
    assert!(code == 400 || code == 404, "{code} {e}");

    let (code, v) = s.call(
        "POST",
        &format!("/api/backups/{id}/verify"),
        Some(r#"{"level": "full"}"#),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["ok"], true);
    let (code, e) = s.call(
        "POST",
        &format!("/api/backups/{id}/verify"),
        Some(r#"{"level": "deep"}"#),
    );
    assert_eq!(
        (code, e["error"]["key"].as_str()),
        (400, Some("level")),
        "{e}"
    );

    let (code, e) = s.call(
        "POST",
        &format!("/api/backups/{id}/restore"),
        Some(r#"{"to": "x.db"}"#),
    );
    assert_eq!(
        (code, e["error"]["key"].as_str()),
        (400, Some("confirm")),
        "{e}"
    );
    assert!(!dir.path().join("x.db").exists());
    let to = dir.path().join("restored.db");
    let body = json!({"confirm": true, "to": to}).to_string();
    let (code, r) = s.call("POST", &format!("/api/backups/{id}/restore"), Some(&body));
    assert_eq!(code, 200, "{r}");
    assert_eq!(common::integrity(&to), "ok");
    assert_eq!(common::total(&to), common::total(&db));
    // A second restore to the same path refuses to overwrite it.
    assert_eq!(
        s.call("POST", &format!("/api/backups/{id}/restore"), Some(&body))
            .0,
        400
    );

    // Configuration: read, change, and a bad value naming its key (nothing changes).
    let (code, c) = s.call("GET", "/api/config", None);
    assert_eq!((code, c["schedule"].as_str()), (200, Some("off")));
    let (code, c) = s.call(
        "PATCH",
        "/api/config",
        Some(r#"{"schedule": "03:30", "retention": {"daily": 3}}"#),
    );
    assert_eq!(code, 200, "{c}");
    assert_eq!(
        (c["schedule"].as_str(), c["retention"]["daily"].as_u64()),
        (Some("03:30"), Some(3))
    );
    let (code, e) = s.call(
        "PATCH",
        "/api/config",
        Some(r#"{"schedule": "25:00", "catch_up": false}"#),
    );
    assert_eq!(
        (code, e["error"]["key"].as_str()),
        (400, Some("schedule")),
        "{e}"
    );
    assert_eq!(s.call("GET", "/api/config", None).1["catch_up"], true);
    assert_eq!(s.call("PATCH", "/api/config", Some("{not json")).0, 400);
    assert_eq!(
        s.call("POST", "/api/backups", Some(r#"{"lable": "typo"}"#))
            .0,
        400
    );
    let big = format!(r#"{{"label": "{}"}}"#, "x".repeat(100_000));
    assert_eq!(s.call("POST", "/api/backups", Some(&big)).0, 413);

    let (code, plan) = s.call("GET", "/api/rotation", None);
    assert_eq!(
        (code, plan["dry_run"].as_bool()),
        (200, Some(true)),
        "{plan}"
    );
    let (code, plan) = s.call("POST", "/api/rotation", None);
    assert_eq!(
        (code, plan["dry_run"].as_bool()),
        (200, Some(false)),
        "{plan}"
    );
    assert!(plan["freed_bytes"].is_u64());

    let (code, h) = s.call("GET", "/api/history?limit=2", None);
    assert_eq!((code, h.as_array().unwrap().len()), (200, 2));
    let (code, st) = s.call("GET", "/api/stats", None);
    assert_eq!((code, st["count"].as_u64()), (200, Some(3)));
    let (code, m) = s.call("GET", "/metrics", None);
    assert_eq!(code, 200);
    let metrics = m.as_str().unwrap();
    assert!(metrics.contains("\nsqlkeep_backups 3\n"), "{metrics}");
    assert!(metrics.contains("\nsqlkeep_scheduler_up 1\n"), "{metrics}");

    assert_eq!(
        s.call("POST", "/api/scheduler/stop", None).1["running"],
        false
    );
    assert_eq!(
        s.call("POST", "/api/scheduler/start", None).1["running"],
        true
    );

    let (code, d) = s.call("DELETE", &format!("/api/backups/{id}"), None);
    assert_eq!((code, d["id"].as_str()), (200, Some(id.as_str())));
    assert_eq!(s.call("DELETE", &format!("/api/backups/{id}"), None).0, 404);
    let (code, e) = s.call("GET", "/nowhere", None);
    assert_eq!(
        (code, e["error"]["kind"].as_str()),
        (404, Some("not_found"))
    );
}

#[test]
fn a_token_guards_the_api_and_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    db(dir.path());
    let s = Server::start(
        dir.path(),
        json!({"schedule": "off", "server": {"token_env": "SQLKEEP_TEST_TOKEN"}}),
        &[("SQLKEEP_TEST_TOKEN", "t0ken-for-the-test")],
    );
    for path in ["/api/status", "/api/backups", "/metrics", "/api/events"] {
        assert_eq!(s.call_with("GET", path, None, None).0, 401, "{path}");
        assert_eq!(
            s.call_with("GET", path, None, Some("wrong")).0,
            401,
            "{path}"
        );
    }
    assert_eq!(
        s.call_with("POST", "/api/backups?wait=true", Some("{}"), None)
            .0,
        401
    );
    let to = dir.path().join("x.sqlite3.gz");
    let body = json!({ "to": to }).to_string();
    assert_eq!(
        s.call_with(
            "POST",
            "/api/backups/app-20200101T000000Z-manual/export",
            Some(&body),
            None
        )
        .0,
        401
    );
    assert!(!to.exists());
    assert_eq!(s.call("GET", "/api/status", None).0, 200);
    assert_eq!(s.call("GET", "/metrics", None).0, 200);
    // The page itself holds no data; it asks for the token.
    assert_eq!(s.call_with("GET", "/", None, None).0, 200);
    let c = s.call("GET", "/api/config", None).1.to_string();
    assert!(!c.contains("t0ken-for-the-test"), "{c}");
}

/// Runs `sqlkeep serve` with `server` as the configuration's `server` object, expecting it
/// to refuse to start: the exit status and what it printed.
fn refused(server: Value) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    db(dir.path());
    std::fs::write(
        dir.path().join("sqlkeep.json"),
        json!({"database": "app.db", "server": server}).to_string(),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_sqlkeep"))
        .current_dir(dir.path())
        .args(["--config", "sqlkeep.json", "serve"])
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn refuses_to_start_open_to_the_network_without_a_token() {
    let (code, err) = refused(json!({"listen": "0.0.0.0:0"}));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("server.listen"), "{err}");
    // A token variable that is not set is refused too.
    let (code, err) =
        refused(json!({"listen": "127.0.0.1:0", "token_env": "SQLKEEP_NOT_SET_ANYWHERE"}));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("server.token_env"), "{err}");
}

/// A backup started with 202 reaches an SSE client as started, progress and succeeded.
#[test]
fn events_arrive_as_server_sent_events() {
    let dir = tempfile::tempdir().unwrap();
    common::bank(dir.path(), "wal", 20 << 20);
    let s = Server::start(dir.path(), json!({"schedule": "off"}), &[]);
    let mut sse = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        sse,
        "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut lines = BufReader::new(sse.try_clone().unwrap());
    let mut line = String::new();
    lines.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    // The stream is open before the backup starts.
    std::thread::sleep(Duration::from_millis(200));
    let (code, accepted) = s.call("POST", "/api/backups", Some(r#"{"label": "live"}"#));
    assert_eq!(code, 202, "{accepted}");
    assert!(accepted["run_id"].is_string());
    let (busy, _) = s.call("POST", "/api/backups", Some("{}"));
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        line.clear();
        if lines.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(kind) = line.strip_prefix("event: ") {
            seen.push(kind.trim().to_string());
            if kind.trim() == "backup_succeeded" {
                break;
            }
        }
    }
    assert!(seen.contains(&"backup_started".to_string()), "{seen:?}");
    assert!(seen.contains(&"progress".to_string()), "{seen:?}");
    assert_eq!(
        seen.last().map(String::as_str),
        Some("backup_succeeded"),
        "{seen:?}"
    );
    // A second backup while the first ran was refused (or came after it finished).
    assert!(busy == 409 || busy == 202, "{busy}");
}

/// SIGTERM while a backup started through the API runs: the backup finishes, the server
/// exits 0, nothing half-written stays.
#[test]
fn sigterm_lets_a_running_backup_finish() {
    let dir = tempfile::tempdir().unwrap();
    common::bank(dir.path(), "wal", 40 << 20);
    let mut s = Server::start(
        dir.path(),
        json!({"schedule": "off", "verify_after_backup": "full"}),
        &[],
    );
    assert_eq!(s.call("POST", "/api/backups", Some("{}")).0, 202);
    std::thread::sleep(Duration::from_millis(100));
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let backups = dir.path().join("backups");
    let names: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("-manual.sqlite3.gz")),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with(".sqlkeep-tmp-")),
        "{names:?}"
    );
    let k = common::keeper(&dir.path().join("app.db"), json!({}));
    let m = &k.list().unwrap()[0];
    assert!(k.verify(&m.id, sqlkeep::VerifyLevel::Full).unwrap().ok);
}

/// `POST /api/cancel` stops a backup started through the API: it is logged as cancelled
/// and leaves nothing behind.
#[test]
fn the_api_cancels_a_running_backup() {
    let dir = tempfile::tempdir().unwrap();
    common::bank(dir.path(), "wal", 80 << 20);
    let s = Server::start(
        dir.path(),
        json!({"schedule": "off", "verify_after_backup": "full"}),
        &[],
    );
    assert_eq!(s.call("POST", "/api/cancel", None).1["cancelled"], false);
    assert_eq!(s.call("POST", "/api/backups", Some("{}")).0, 202);
    let backups = dir.path().join("backups");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let started = std::fs::read_dir(&backups)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".sqlkeep-tmp-"));
        if started {
            break;
        }
        assert!(Instant::now() < deadline, "the backup never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    let (code, c) = s.call("POST", "/api/cancel", None);
    assert_eq!((code, c["cancelled"].as_bool()), (200, Some(true)), "{c}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = s.call("GET", "/api/history?limit=1", None).1;
        if h[0]["status"] == "cancelled" {
            break;
        }
        assert!(Instant::now() < deadline, "{h}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let st = s.call("GET", "/api/stats", None).1;
    assert_eq!(
        (
            st["count"].as_u64(),
            st["failures"].as_u64(),
            st["cancelled"].as_u64()
        ),
        (Some(0), Some(0), Some(1))
    );
    // And a new backup can start (once the cancelled one's thread has returned).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut code = 409;
    while code == 409 && Instant::now() < deadline {
        code = s.call("POST", "/api/backups?wait=true", Some("{}")).0;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(code, 201);
}

/// Moves money between two accounts and adds a note: a few pages change.
fn change(db: &Path, seed: i64) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch(&format!(
        "BEGIN;
         UPDATE accounts SET balance = balance + 5 WHERE id = {a};
         UPDATE accounts SET balance = balance - 5 WHERE id = {b};
         CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT);
         INSERT INTO notes (body) VALUES ('day {seed}');
         COMMIT;",
        a = seed % common::ACCOUNTS,
        b = (seed * 7 + 1) % common::ACCOUNTS,
    ))
    .unwrap();
}

/// Issue 12 through the API: `incremental` switched on with PATCH /api/config, a backup
/// after a change stores only its pages (and says so in its manifest), `"full": true`
/// forces a full one, the stats count both, and an incremental backup exports as one
/// self-contained file that is never written over an existing one.
#[test]
fn incremental_backups_full_on_request_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::bank(dir.path(), "wal", 2 << 20);
    let s = Server::start(dir.path(), json!({"schedule": "off"}), &[]);

    let (code, c) = s.call("PATCH", "/api/config", Some(r#"{"incremental": true}"#));
    assert_eq!((code, c["incremental"].as_bool()), (200, Some(true)), "{c}");
    let (code, e) = s.call("PATCH", "/api/config", Some(r#"{"incremental": "yes"}"#));
    assert_eq!(
        (code, e["error"]["key"].as_str()),
        (400, Some("incremental")),
        "{e}"
    );
    assert_eq!(s.call("GET", "/api/config", None).1["incremental"], true);

    let (code, first) = s.call("POST", "/api/backups?wait=true", Some("{}"));
    assert_eq!(code, 201, "{first}");
    assert!(
        first.get("incremental").is_none(),
        "the first is full: {first}"
    );
    let first_id = first["id"].as_str().unwrap().to_string();

    change(&db, 1);
    let (code, inc) = s.call("POST", "/api/backups?wait=true", Some("{}"));
    assert_eq!(code, 201, "{inc}");
    let moment = common::dump(&db);
    let inc_id = inc["id"].as_str().unwrap().to_string();
    assert_eq!(inc["requires"], json!(["incremental"]), "{inc}");
    assert!(
        inc["file"].as_str().unwrap().ends_with(".pages.zst"),
        "{inc}"
    );
    assert_eq!(inc["incremental"]["parent"], first_id.as_str());
    let chain = inc["incremental"]["chain"].as_array().unwrap();
    assert_eq!(
        chain
            .iter()
            .map(|l| l["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [first_id.as_str(), inc_id.as_str()]
    );
    let (added, raw) = (
        inc["size_bytes"].as_u64().unwrap(),
        inc["raw_size_bytes"].as_u64().unwrap(),
    );
    assert!(
        added * 10 < first["size_bytes"].as_u64().unwrap(),
        "added {added} against a full {first}"
    );
    assert_eq!(raw, std::fs::metadata(&db).unwrap().len());
    // The list and a single backup show the same manifest.
    let page = s.call("GET", "/api/backups", None).1;
    assert_eq!(page["backups"][0], inc);
    assert_eq!(
        s.call("GET", &format!("/api/backups/{inc_id}"), None).1,
        inc
    );

    // A full backup on request, though incremental is on.
    let (code, full) = s.call(
        "POST",
        "/api/backups?wait=true",
        Some(r#"{"full": true, "label": "weekly full"}"#),
    );
    assert_eq!(code, 201, "{full}");
    assert!(full.get("incremental").is_none(), "{full}");
    assert!(full.get("requires").is_none(), "{full}");
    assert_eq!(full["label"], "weekly full");
    let (code, e) = s.call("POST", "/api/backups?wait=true", Some(r#"{"full": "yes"}"#));
    assert_eq!(
        (code, e["error"]["kind"].as_str()),
        (400, Some("invalid_argument")),
        "{e}"
    );

    let st = s.call("GET", "/api/stats", None).1;
    assert_eq!(
        (st["count"].as_u64(), st["incremental"].as_u64()),
        (Some(3), Some(1)),
        "{st}"
    );
    assert!(
        st["bytes_on_disk"].as_u64().unwrap() >= st["total_bytes"].as_u64().unwrap(),
        "{st}"
    );
    let raws: u64 = [&first, &inc, &full]
        .iter()
        .map(|m| m["raw_size_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(st["raw_bytes"].as_u64(), Some(raws), "{st}");

    // Export: the incremental backup as one gzip file that is the database of its moment.
    let url = format!("/api/backups/{inc_id}/export");
    let to = dir.path().join("exported.sqlite3.gz");
    let body = json!({ "to": to }).to_string();
    let (code, o) = s.call("POST", &url, Some(&body));
    assert_eq!(code, 200, "{o}");
    let bytes = std::fs::read(&to).unwrap();
    assert_eq!(o["id"], inc_id.as_str());
    assert_eq!(o["path"], to.to_str().unwrap());
    assert_eq!(o["compression"], "gzip");
    assert_eq!(o["size_bytes"].as_u64(), Some(bytes.len() as u64));
    assert_eq!(o["raw_size_bytes"].as_u64(), Some(raw));
    use sha2::Digest;
    assert_eq!(
        o["sha256"].as_str().unwrap(),
        format!("{:x}", sha2::Sha256::digest(&bytes))
    );
    let plain = dir.path().join("exported.db");
    let mut image = Vec::new();
    // Read as `gunzip` reads it: every gzip member.
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .read_to_end(&mut image)
        .unwrap();
    assert_eq!(image.len() as u64, raw);
    std::fs::write(&plain, &image).unwrap();
    assert_eq!(common::integrity(&plain), "ok");
    assert_eq!(common::dump(&plain), moment);

    // Never over an existing file, a name that says no compression, no `to`: 400s.
    let (code, e) = s.call("POST", &url, Some(&body));
    assert_eq!(
        (code, e["error"]["kind"].as_str()),
        (400, Some("invalid_argument")),
        "{e}"
    );
    assert!(e["error"]["hint"].is_string(), "{e}");
    assert_eq!(
        std::fs::read(&to).unwrap(),
        bytes,
        "the first export is untouched"
    );
    let odd = dir.path().join("exported.sqlite3");
    let (code, e) = s.call("POST", &url, Some(&json!({ "to": odd }).to_string()));
    assert_eq!(code, 400, "{e}");
    assert!(!odd.exists());
    let (code, e) = s.call("POST", &url, Some("{}"));
    assert_eq!((code, e["error"]["key"].as_str()), (400, Some("to")), "{e}");
    let (code, e) = s.call("POST", &url, Some(r#"{"to": "a.gz", "force": true}"#));
    assert_eq!(code, 400, "{e}");
    // An unknown backup, and a folder that does not exist: 404s, nothing written.
    let zst = dir.path().join("other.sqlite3.zst");
    let (code, e) = s.call(
        "POST",
        "/api/backups/app-20200101T000000Z-manual/export",
        Some(&json!({ "to": zst }).to_string()),
    );
    assert_eq!(
        (code, e["error"]["kind"].as_str()),
        (404, Some("not_found")),
        "{e}"
    );
    let nowhere = dir.path().join("no-such-folder").join("x.gz");
    let (code, e) = s.call("POST", &url, Some(&json!({ "to": nowhere }).to_string()));
    assert_eq!(code, 404, "{e}");
    assert!(!zst.exists() && !nowhere.exists());
    // zstd by the name: the full backup this time.
    let (code, o) = s.call(
        "POST",
        &format!("/api/backups/{}/export", full["id"].as_str().unwrap()),
        Some(&json!({ "to": zst }).to_string()),
    );
    assert_eq!(
        (code, o["compression"].as_str()),
        (200, Some("zstd")),
        "{o}"
    );
    assert_eq!(
        o["size_bytes"].as_u64(),
        Some(std::fs::metadata(&zst).unwrap().len())
    );
}
