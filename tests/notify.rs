//! Notifications (issue 15) against real receivers on 127.0.0.1, started and stopped by
//! each test: an HTTP server (a small one here, on std's TcpListener) for webhooks and
//! heartbeats, and aiosmtpd (tests/support/smtp_receiver.py) for email. Failures are
//! real: a database file that is not a database, a database whose index is damaged, a
//! receiver that answers 503 or does not listen. Time comes from a ManualClock.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use sqlkeep::{BackupRequest, Clock, Config, Event, Keeper, ManualClock};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration as Wait;

/// Generous: a delivery retries for up to 7.5 s before it is given up.
const FLUSH: Wait = Wait::from_secs(60);

#[derive(Debug, Clone)]
struct Request {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Request {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1.1 server that records every request and answers 200, or 503 for the next
/// `fail_next` requests.
struct HttpReceiver {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    fail_next: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpReceiver {
    fn start() -> HttpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let fail_next = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, f, s) = (requests.clone(), fail_next.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = conn {
                    serve(c, &r, &f);
                }
            }
        });
        HttpReceiver {
            port,
            requests,
            fail_next,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn take(&self) -> Vec<Request> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(c: TcpStream, requests: &Mutex<Vec<Request>>, fail_next: &AtomicUsize) {
    c.set_read_timeout(Some(Wait::from_secs(10))).unwrap();
    let mut reader = BufReader::new(c.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    let failing = fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    requests.lock().unwrap().push(Request {
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let status = if failing {
        "503 Service Unavailable"
    } else {
        "200 OK"
    };
    let mut c = c;
    let _ = write!(
        c,
        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

/// aiosmtpd in a child process; its messages arrive as JSON lines.
struct SmtpReceiver {
    child: Child,
    port: u16,
    messages: mpsc::Receiver<Value>,
}

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("SQLKEEP_TEST_PYTHON") {
        return p.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

impl SmtpReceiver {
    fn start(auth: Option<(&str, &str)>) -> SmtpReceiver {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_receiver.py");
        let mut cmd = Command::new(python());
        cmd.arg("-u").arg(script);
        if let Some((u, p)) = auth {
            cmd.args(["--user", u, "--password", p]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (scripts/test installs it into .venv)");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let port = first
            .strip_prefix("ready ")
            .unwrap_or_else(|| {
                panic!("smtp receiver did not start: {first:?} (pip install aiosmtpd)")
            })
            .trim()
            .parse()
            .unwrap();
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(|l| l.ok()) {
                if let Ok(v) = serde_json::from_str(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        SmtpReceiver {
            child,
            port,
            messages,
        }
    }

    fn next(&self) -> Value {
        self.messages
            .recv_timeout(Wait::from_secs(30))
            .expect("an email arrives")
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A folder for the database and its backups, a receiver, a clock at the start time.
fn bench() -> (tempfile::TempDir, HttpReceiver, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(start_time()));
    (tempfile::tempdir().unwrap(), HttpReceiver::start(), clock)
}

/// A port on 127.0.0.1 where nothing listens.
fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn start_time() -> DateTime<Utc> {
    "2026-03-01T12:00:00Z".parse().unwrap()
}

fn make_db(db: &Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch(
        "PRAGMA journal_mode=DELETE;
         CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         CREATE INDEX t_v ON t(v);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
         INSERT INTO t (v) SELECT printf('value %08d', i * 7919 % 3001) FROM n;",
    )
    .unwrap();
}

fn keeper_at(
    dir: &Path,
    clock: Arc<ManualClock>,
    notify: Value,
) -> (Keeper, Arc<Mutex<Vec<Event>>>) {
    let db = dir.join("employees.db");
    if !db.exists() {
        make_db(&db);
    }
    let cfg = Config::new(&db)
        .unwrap()
        .with_changes(
            &json!({"schedule": "02:00", "timezone": "UTC", "catch_up": false,
                              "test_restore_every_days": 0, "retention": {"auto": false},
                              "notify": notify}),
        )
        .unwrap();
    let k = Keeper::with_clock(cfg, clock);
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    k.subscribe(move |ev: &Event| e.lock().unwrap().push(ev.clone()));
    (k, events)
}

fn backup(k: &Keeper) -> bool {
    let ok = k.backup(&BackupRequest::manual()).is_ok();
    assert!(k.flush_notifications(FLUSH), "notifications still pending");
    ok
}

fn break_db(db: &Path) {
    std::fs::write(
        db,
        b"this is not a database, it is a text file that replaced it",
    )
    .unwrap();
}

fn paths(rs: &[Request]) -> Vec<&str> {
    rs.iter().map(|r| r.path.as_str()).collect()
}

/// The one request the receiver got since the last look, as JSON.
fn only(http: &HttpReceiver) -> Value {
    let rs = http.take();
    assert_eq!(rs.len(), 1, "{rs:?}");
    rs[0].json()
}

/// A message from the verdict: its event, verdict, first reason and a word of its subject.
fn assert_verdict(body: &Value, event: &str, verdict: &str, code: &str, says: &str) {
    assert_eq!(body["event"], event, "{body}");
    assert_eq!(body["health"], verdict, "{body}");
    assert_eq!(body["reasons"][0]["code"], code, "{body}");
    assert!(body["subject"].as_str().unwrap().contains(says), "{body}");
}

/// Moves the clock to the next slot, runs it (a backup must result) and waits for its
/// notifications; the backup's id.
fn next_slot(k: &Keeper, clock: &ManualClock) -> String {
    clock.set(k.upcoming_runs(clock.now(), 1)[0]);
    let id = match k.run_pending() {
        sqlkeep::TickOutcome::BackedUp(m) => m.id,
        other => panic!("{other:?}"),
    };
    assert!(k.flush_notifications(FLUSH));
    id
}

#[test]
fn success_failure_dedup_and_recovery_reach_webhook_and_heartbeat() {
    let (dir, http, clock) = bench();
    let (k, _) = keeper_at(
        dir.path(),
        clock.clone(),
        json!({"channels": [
            {"webhook": http.url("/hook"), "on": ["failure", "warning", "success", "recovery"]},
            {"heartbeat": http.url("/ping/abc")},
        ]}),
    );
    let db = k.config().database;

    // Success: start and success pings, a success message with the backup's facts.
    assert!(backup(&k));
    let rs = http.take();
    assert_eq!(
        paths(&rs),
        ["/ping/abc/start", "/ping/abc", "/hook"],
        "{rs:?}"
    );
    let body = rs[2].json();
    assert_eq!(body["event"], "success");
    assert_eq!(
        body["subject"]
            .as_str()
            .unwrap()
            .split(" — ")
            .next()
            .unwrap(),
        "sqlkeep: backup of employees.db ok"
    );
    let newest = &k.list().unwrap()[0];
    assert_eq!(body["backup"]["id"], newest.id.as_str());
    assert_eq!(body["backup"]["size_bytes"], newest.size_bytes);
    assert_eq!(body["backup"]["verified"], true);
    assert_eq!(body["health"], "ok");
    assert_eq!(rs[2].header("content-type"), Some("application/json"));

    // Failure: the fail ping and a failure message with the error.
    let good = std::fs::read(&db).unwrap();
    break_db(&db);
    clock.advance(Duration::hours(1));
    assert!(!backup(&k));
    let rs = http.take();
    assert_eq!(
        paths(&rs),
        ["/ping/abc/start", "/ping/abc/fail", "/hook"],
        "{rs:?}"
    );
    let body = rs[2].json();
    assert_eq!(body["event"], "failure");
    let subject = body["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("sqlkeep: backup of employees.db FAILED — "),
        "{subject}"
    );
    assert!(
        body["error"].as_str().unwrap().contains("not a database"),
        "{body}"
    );
    // A manual backup failing is a warning; a scheduled one would be failing.
    assert_eq!(body["health"], "warning");

    // The same failure again within repeat_hours: the heartbeat hears it, the webhook not.
    clock.advance(Duration::hours(1));
    assert!(!backup(&k));
    assert_eq!(paths(&http.take()), ["/ping/abc/start", "/ping/abc/fail"]);
    // A day later it is sent again.
    clock.advance(Duration::hours(25));
    assert!(!backup(&k));
    assert_eq!(
        paths(&http.take()),
        ["/ping/abc/start", "/ping/abc/fail", "/hook"]
    );

    // Repaired: the success ping and a recovery message.
    std::fs::write(&db, &good).unwrap();
    clock.advance(Duration::hours(1));
    assert!(backup(&k));
    let rs = http.take();
    assert_eq!(paths(&rs), ["/ping/abc/start", "/ping/abc", "/hook"]);
    assert_eq!(rs[2].json()["event"], "recovery");
    // Remembered in the backup folder: a new process (a new keeper) sends a plain success.
    drop(k);
    let (k, _) = keeper_at(
        dir.path(),
        clock.clone(),
        json!({"channels": [{"webhook": http.url("/hook"), "on": ["success", "recovery"]}]}),
    );
    clock.advance(Duration::hours(1));
    assert!(backup(&k));
    assert_eq!(http.take()[0].json()["event"], "success");
}

/// Damages the first page of the index `t_v` inside the file, so the database opens and
/// copies but fails `PRAGMA integrity_check`.
fn damage_index(db: &Path) {
    let (root, page_size): (i64, i64) = {
        let c = rusqlite::Connection::open(db).unwrap();
        (
            c.query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = 't_v'",
                [],
                |r| r.get(0),
            )
            .unwrap(),
            c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap(),
        )
    };
    let mut bytes = std::fs::read(db).unwrap();
    let at = ((root - 1) * page_size) as usize;
    for b in &mut bytes[at + 200..at + page_size as usize - 8] {
        *b = 0x5a;
    }
    std::fs::write(db, bytes).unwrap();
}

#[test]
fn a_backup_that_fails_verification_pings_fail_never_success() {
    let (dir, http, clock) = bench();
    let (k, _) = keeper_at(
        dir.path(),
        clock,
        json!([{"heartbeat": http.url("/hc/uuid")}, {"webhook": http.url("/hook")}]),
    );
    damage_index(&k.config().database);
    assert!(!backup(&k));
    let rs = http.take();
    assert_eq!(
        paths(&rs),
        ["/hc/uuid/start", "/hc/uuid/fail", "/hook"],
        "{rs:?}"
    );
    assert!(rs[1].body.contains("FAILED"), "{}", rs[1].body);
    assert!(
        rs[2].json()["error"]
            .as_str()
            .unwrap()
            .contains("failed verification"),
        "{}",
        rs[2].body
    );
    assert!(k.list().unwrap().is_empty());
}

#[test]
fn a_week_closed_is_a_stale_failure_at_start_and_the_next_backup_recovers() {
    let (dir, http, clock) = bench();
    let channels = json!([{"webhook": http.url("/hook")}]);
    let (k, _) = keeper_at(dir.path(), clock.clone(), channels.clone());
    next_slot(&k, &clock);
    // Default `on` has no `success`: nothing was sent.
    assert!(http.take().is_empty());
    drop(k);

    // The app was closed for a week; it starts again between two slots (and catch_up is
    // off), so the scheduler itself does not back up now.
    clock.advance(Duration::days(7) + Duration::hours(9));
    let (k, events) = keeper_at(dir.path(), clock.clone(), channels);
    assert!(k.start().unwrap());
    assert!(k.flush_notifications(FLUSH));
    assert_verdict(&only(&http), "failure", "failing", "stale", "FAILING");
    k.stop();
    assert!(k.flush_notifications(FLUSH));
    http.take();
    // A backup now: health is ok again, and that is said once.
    assert!(backup(&k));
    assert_eq!(only(&http)["event"], "recovery");
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .all(|e| e.type_name() != "notification_failed"));
}

#[test]
fn a_receiver_down_then_back_gets_the_message_and_one_that_stays_down_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let http = HttpReceiver::start();
    // Nothing listens on this port.
    let dead = dead_port();
    let clock = Arc::new(ManualClock::new(start_time()));
    let (k, events) = keeper_at(
        dir.path(),
        clock,
        json!([{"webhook": http.url("/hook"), "on": ["success"]},
               {"webhook": format!("http://127.0.0.1:{dead}/token-in-path"), "on": ["success"]}]),
    );
    http.fail_next.store(2, Ordering::SeqCst);
    let started = std::time::Instant::now();
    assert!(k.backup(&BackupRequest::manual()).is_ok());
    // The backup did not wait for any delivery.
    assert!(
        started.elapsed() < Wait::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(k.flush_notifications(FLUSH));
    let rs = http.take();
    assert_eq!(
        paths(&rs),
        ["/hook", "/hook", "/hook"],
        "two 503s, then delivered"
    );
    assert_eq!(rs[0].body, rs[2].body);

    let failed: Vec<Event> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.type_name() == "notification_failed")
        .cloned()
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let v = failed[0].to_value();
    assert_eq!(v["channel"], format!("webhook http://127.0.0.1:{dead}"));
    assert_eq!(v["attempts"], 5);
    assert_eq!(v["notification"], "success");
    assert_eq!(failed[0].severity(), sqlkeep::Severity::Warning);
    // In the backup log too, without the URL's path.
    let log = std::fs::read_to_string(k.config().backup_dir.join("sqlkeep-log.jsonl")).unwrap();
    assert!(log.contains("notification_failed"));
    assert!(!log.contains("token-in-path"));
}

#[test]
fn email_arrives_with_credentials_from_the_environment_and_no_secret_is_written() {
    const USER: &str = "sqlkeep-user";
    const PASSWORD: &str = "pw-5f1c9e-never-written";
    const TOKEN: &str = "Bearer tok-77aa13-never-written";
    std::env::set_var("SQLKEEP_TEST_SMTP_USER", USER);
    std::env::set_var("SQLKEEP_TEST_SMTP_PASSWORD", PASSWORD);
    std::env::set_var("SQLKEEP_TEST_HOOK_TOKEN", TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let http = HttpReceiver::start();
    let smtp = SmtpReceiver::start(Some((USER, PASSWORD)));
    let clock = Arc::new(ManualClock::new(start_time()));
    let (k, events) = keeper_at(
        dir.path(),
        clock.clone(),
        json!({"channels": [
            {"email": {"smtp": format!("smtp://127.0.0.1:{}", smtp.port), "from": "sqlkeep@example.com",
                       "to": ["ops@example.com", "boss@example.com"],
                       "username_env": "SQLKEEP_TEST_SMTP_USER", "password_env": "SQLKEEP_TEST_SMTP_PASSWORD"}},
            {"webhook": http.url("/hook"), "headers_env": {"Authorization": "SQLKEEP_TEST_HOOK_TOKEN"}},
        ]}),
    );
    let db = k.config().database;
    let good = std::fs::read(&db).unwrap();
    break_db(&db);
    assert!(!backup(&k));
    let mail = smtp.next();
    assert_eq!(mail["from"], "sqlkeep@example.com");
    assert_eq!(mail["to"], json!(["ops@example.com", "boss@example.com"]));
    assert_eq!(mail["login"], USER);
    let data = mail["data"].as_str().unwrap();
    assert!(
        data.contains("Subject: sqlkeep: backup of employees.db FAILED"),
        "{data}"
    );
    assert!(data.contains("not a database"), "{data}");
    let hook = http.take();
    assert_eq!(hook.len(), 1);
    assert_eq!(hook[0].header("authorization"), Some(TOKEN));

    std::fs::write(&db, &good).unwrap();
    clock.advance(Duration::hours(1));
    assert!(backup(&k));
    let mail = smtp.next();
    assert!(
        mail["data"].as_str().unwrap().contains("work again"),
        "{mail}"
    );
    assert_eq!(http.take()[0].json()["event"], "recovery");

    // The test message through every channel.
    let results = k.notify_test();
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r.ok), "{results:?}");
    assert!(smtp.next()["data"]
        .as_str()
        .unwrap()
        .contains("test message"));
    assert_eq!(http.take()[0].json()["event"], "test");

    // No secret in anything sqlkeep wrote: files, events, message bodies.
    let mut written = String::new();
    for entry in walk(dir.path()) {
        if entry != db {
            written.push_str(&String::from_utf8_lossy(&std::fs::read(&entry).unwrap()));
        }
    }
    for e in events.lock().unwrap().iter() {
        written.push_str(&e.to_value().to_string());
    }
    written.push_str(&serde_json::to_string(&results).unwrap());
    written.push_str(&k.config().to_value().to_string());
    written.push_str(&hook[0].body);
    written.push_str(data);
    for secret in [PASSWORD, TOKEN, "tok-77aa13", "pw-5f1c9e"] {
        assert!(!written.contains(secret), "{secret} was written somewhere");
    }
    assert!(
        written.contains("SQLKEEP_TEST_SMTP_PASSWORD"),
        "the variable's name is kept"
    );

    // A missing variable is an error that names it, not a crash or a silent drop.
    std::env::remove_var("SQLKEEP_TEST_HOOK_TOKEN");
    let results = k.notify_test();
    assert!(results[0].ok);
    assert!(!results[1].ok);
    assert!(results[1]
        .error
        .as_deref()
        .unwrap()
        .contains("SQLKEEP_TEST_HOOK_TOKEN is not set"));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The CLI is a short-lived process: what `sqlkeep backup` has to say leaves before it
/// exits; `sqlkeep notify --test` reports each channel; a bad channel names its key.
#[test]
fn the_cli_delivers_before_it_exits_and_tests_every_channel() {
    let dir = tempfile::tempdir().unwrap();
    let http = HttpReceiver::start();
    make_db(&dir.path().join("employees.db"));
    let dead = dead_port();
    let config = |notify: Value| {
        std::fs::write(
            dir.path().join("sqlkeep.json"),
            json!({"database": "employees.db", "notify": notify}).to_string(),
        )
        .unwrap();
    };
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sqlkeep"))
            .current_dir(dir.path())
            .args(["--config", "sqlkeep.json"])
            .args(args)
            .output()
            .unwrap()
    };
    config(json!({"channels": [{"heartbeat": http.url("/hc")},
                               {"webhook": http.url("/hook"), "on": ["success"]}]}));
    let o = run(&["backup"]);
    assert!(o.status.success(), "{o:?}");
    // Everything arrived while the process still ran.
    assert_eq!(paths(&http.take()), ["/hc/start", "/hc", "/hook"]);

    config(json!({"channels": [{"webhook": http.url("/hook")},
                               {"webhook": format!("http://127.0.0.1:{dead}/x")}],
                  "timeout_seconds": 2}));
    let o = run(&["--json", "notify", "--test"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let results: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(results[0]["ok"], true);
    assert_eq!(results[1]["ok"], false);
    assert_eq!(
        results[1]["channel"],
        format!("webhook http://127.0.0.1:{dead}")
    );
    assert!(
        results[1]["error"].as_str().unwrap().contains("onnection"),
        "{results}"
    );
    assert_eq!(http.take()[0].json()["event"], "test");

    config(json!({"channels": [{"email": {"smtp": "smtp://h", "from": "a@b.c", "to": ["x"]}}]}));
    let o = run(&["notify"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("notify.channels[0].email.to"), "{err}");
}

/// A warning from the verdict (a real rotation failure after a scheduled backup), sent
/// once, and the recovery when rotation works again.
#[test]
fn a_failed_rotation_is_a_warning_and_the_next_good_rotation_a_recovery() {
    let (dir, http, clock) = bench();
    let (k, _) = keeper_at(
        dir.path(),
        clock.clone(),
        json!({"channels": [{"webhook": http.url("/hook")}], "repeat_hours": 48}),
    );
    k.configure(
        &sqlkeep::ConfigChange::from_value(
            &json!({"retention": {"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0, "auto": true}}),
            None,
        )
        .unwrap(),
    )
    .unwrap();
    let first = next_slot(&k, &clock);
    assert!(http.take().is_empty());
    // Rotation will have to delete `first`: a non-empty folder where one of its possible
    // files would be makes that fail.
    let blocker = k.config().backup_dir.join(format!("{first}.sqlite3.zst"));
    std::fs::create_dir(&blocker).unwrap();
    std::fs::write(blocker.join("keep"), b"x").unwrap();
    next_slot(&k, &clock);
    assert_verdict(
        &only(&http),
        "warning",
        "warning",
        "rotation_failed",
        "need attention",
    );
    // The next night the old warning is not sent again (within repeat_hours), and the
    // rotation, which now has only the second backup to delete, works: recovery.
    next_slot(&k, &clock);
    assert_eq!(only(&http)["event"], "recovery");
}

/// An observer of `notification_failed` that drops the last keeper handle runs on the
/// delivery thread: the drop does not wait for that thread (it would wait for itself
/// until `timeout_seconds`).
#[test]
fn the_last_handle_dropped_on_the_delivery_thread_does_not_wait_for_itself() {
    let (dir, _http, clock) = bench();
    let notify = json!({"channels": [{"webhook": format!("http://127.0.0.1:{}/x", dead_port()),
                                      "on": ["success"]}],
                        "timeout_seconds": 120});
    let (k, _) = keeper_at(dir.path(), clock, notify);
    let held = Arc::new(Mutex::new(Some(k.clone())));
    let (dropped_tx, dropped_rx) = mpsc::channel();
    let h = held.clone();
    k.subscribe(move |e: &Event| {
        if e.type_name() == "notification_failed" {
            let last = h.lock().unwrap().take();
            drop(last);
            let _ = dropped_tx.send(std::thread::current().name().map(String::from));
        }
    });
    k.backup(&BackupRequest::manual()).unwrap();
    drop(k);
    // The retries take 7.5 s; the drop on the delivery thread then returns at once, far
    // from the 120 s it would otherwise wait.
    let thread = dropped_rx
        .recv_timeout(Wait::from_secs(60))
        .expect("dropped in time");
    assert_eq!(thread.as_deref(), Some("sqlkeep-notify"));
}
