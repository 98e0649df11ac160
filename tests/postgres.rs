//! The PostgreSQL source (issue 17) against a real PostgreSQL server that each test
//! starts on 127.0.0.1 and stops (tests/common/pg.rs), with `pgbench` as the load no one
//! here wrote.

mod common;

use common::pg::{PgServer, PASSWORD};
use sqlkeep::{BackupRequest, Config, ErrorKind, Event, Keeper, RestoreOptions, VerifyLevel};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn keeper(uri: &str, dir: &Path, changes: serde_json::Value) -> Keeper {
    let mut doc = serde_json::json!({"database": uri, "backup_dir": dir.join("backups")});
    for (k, v) in changes.as_object().unwrap() {
        doc[k] = v.clone();
    }
    Keeper::open(Config::from_value(&doc, None).unwrap())
}

fn sqlkeep_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sqlkeep"))
}

/// Every file under `dir`, as bytes.
fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// What is left in the backup folder apart from the log and the lock.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "sqlkeep-log.jsonl" && n != ".sqlkeep.lock")
        .collect()
}

/// The row counts a manifest recorded, by table name.
fn recorded(m: &sqlkeep::Manifest) -> Vec<(String, u64)> {
    m.postgres
        .as_ref()
        .unwrap()
        .tables
        .iter()
        .map(|t| (t.table.clone(), t.rows))
        .collect()
}

#[test]
fn backups_under_pgbench_load_restore_to_consistent_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = PgServer::start(tmp.path());
    pg.create_db("bank");
    pg.pgbench_init("bank", 2);
    let k = keeper(&pg.uri("bank"), tmp.path(), serde_json::json!({}));
    let load = pg.pgbench_run("bank", 4, 12);
    std::thread::sleep(Duration::from_millis(1500));
    let mut taken = Vec::new();
    let started = Instant::now();
    while taken.len() < 3 && started.elapsed() < Duration::from_secs(60) {
        let m = k.backup(&BackupRequest::manual()).unwrap();
        assert_eq!(m.requires, vec!["postgres".to_string()]);
        assert!(m.file.ends_with(".pgdump.gz"), "{}", m.file);
        let v = m.verification.as_ref().unwrap();
        assert!(
            v.ok && v.detail.contains("scratch database"),
            "{}",
            v.detail
        );
        taken.push(m);
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = load.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "pgbench: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(taken.len(), 3);
    // History rows grow under load: the backups saw different moments.
    let histories: Vec<u64> = taken
        .iter()
        .map(|m| {
            recorded(m)
                .iter()
                .find(|(t, _)| t == "pgbench_history")
                .unwrap()
                .1
        })
        .collect();
    assert!(histories.windows(2).all(|w| w[0] < w[1]), "{histories:?}");
    for (i, m) in taken.iter().enumerate() {
        let name = format!("restored{i}");
        k.restore(&m.id, Some(Path::new(&name)), false).unwrap();
        let (a, t, b) = pg.balances(&name);
        assert!(
            a == t && t == b,
            "TPC-B invariant broken in backup {i}: {a} {t} {b}"
        );
        for (table, rows) in recorded(m) {
            let n: u64 = pg
                .psql(&name, &format!("SELECT count(*) FROM {table}"))
                .parse()
                .unwrap();
            assert_eq!(n, rows, "{table} in backup {i}");
        }
    }
    // No scratch database of a check is left behind.
    let dbs = pg.databases();
    assert!(
        !dbs.iter().any(|d| d.starts_with("sqlkeep_check_")),
        "{dbs:?}"
    );
}

/// A database with what a restore must bring back beyond rows: sequences, indexes,
/// views, functions, a trigger, a non-public schema, and awkward names.
fn rich_schema(pg: &PgServer, db: &str) {
    pg.create_db(db);
    pg.psql(
        db,
        r#"
        CREATE SCHEMA sales;
        CREATE TABLE sales.customers (id serial PRIMARY KEY, name text NOT NULL, joined date, note text);
        CREATE TABLE sales."Order Lines" (id bigserial PRIMARY KEY, customer int REFERENCES sales.customers(id),
            amount numeric(12,2), data jsonb, tags text[]);
        CREATE INDEX lines_by_customer ON sales."Order Lines" (customer, amount);
        CREATE VIEW sales.totals AS SELECT customer, sum(amount) AS total FROM sales."Order Lines" GROUP BY customer;
        CREATE FUNCTION sales.double(x numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$ SELECT x * 2 $$;
        CREATE FUNCTION sales.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := 'touched'; RETURN NEW; END $$;
        CREATE TRIGGER touch BEFORE INSERT ON sales.customers FOR EACH ROW EXECUTE FUNCTION sales.touch();
        INSERT INTO sales.customers (name, joined) SELECT 'customer ' || g, date '2020-01-01' + g FROM generate_series(1, 500) g;
        INSERT INTO sales."Order Lines" (customer, amount, data, tags)
            SELECT 1 + g % 500, g * 1.25, jsonb_build_object('g', g, 'text', repeat('x', g % 50)), ARRAY['a', 'b' || g]
            FROM generate_series(1, 5000) g;
        CREATE TABLE public.empty_table (k int);
        "#,
    );
}

/// Every table's rows as one checksum, and the sequences' values.
fn content(pg: &PgServer, db: &str) -> Vec<String> {
    let tables = pg.psql(
        db,
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog','information_schema') ORDER BY 1",
    );
    let mut out: Vec<String> = tables
        .lines()
        .map(|t| {
            let sum = pg.psql(db, &format!("SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM {t} x"));
            format!("{t} {sum}")
        })
        .collect();
    out.push(pg.psql(db, "SELECT string_agg(schemaname || '.' || sequencename || '=' || coalesce(last_value, 0), ',' ORDER BY schemaname, sequencename) FROM pg_sequences"));
    out
}

/// `pg_dump --schema-only` without its comments and settings lines.
fn schema(pg: &PgServer, db: &str) -> String {
    let out = Command::new("pg_dump")
        .args(["--schema-only", "-w", "-d", &pg.uri(db)])
        .env("PGPASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        // `\restrict KEY` lines carry a random key per dump (PostgreSQL 15.14+).
        .filter(|l| !l.starts_with("--") && !l.starts_with("\\") && !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_restore_brings_back_schema_data_sequences_and_code_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = PgServer::start(tmp.path());
    rich_schema(&pg, "shop");
    let before = (schema(&pg, "shop"), content(&pg, "shop"));
    for compression in ["gzip", "zstd", "none"] {
        let dir = tmp.path().join(compression);
        let k = keeper(
            &pg.uri("shop"),
            &dir,
            serde_json::json!({"compression": compression}),
        );
        let m = k.backup(&BackupRequest::manual()).unwrap();
        let rows: u64 = recorded(&m).iter().map(|(_, n)| n).sum();
        assert_eq!(rows, 5500, "{:?}", recorded(&m));
        let name = format!("copy_{compression}");
        let out = k.restore(&m.id, Some(Path::new(&name)), false).unwrap();
        assert_eq!(out.target, PathBuf::from(&name));
        assert_eq!(
            (schema(&pg, &name), content(&pg, &name)),
            before,
            "{compression}"
        );
        // The copy's trigger and function work.
        pg.psql(&name, "INSERT INTO sales.customers (name) VALUES ('new')");
        assert_eq!(
            pg.psql(&name, "SELECT note FROM sales.customers WHERE name = 'new'"),
            "touched"
        );
        assert_eq!(pg.psql(&name, "SELECT sales.double(21)"), "42");
        // An existing database is not overwritten unless asked.
        let e = k.restore(&m.id, Some(Path::new(&name)), false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.to_string().contains("already exists"), "{e}");
        assert!(k.restore_target_exists(Some(Path::new(&name))).unwrap());
        k.restore(&m.id, Some(Path::new(&name)), true).unwrap();
        assert_eq!(content(&pg, &name), before.1);
    }
}

#[test]
fn restore_into_the_live_database_with_another_connection_open() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = PgServer::start(tmp.path());
    rich_schema(&pg, "shop");
    let k = keeper(
        &pg.uri("shop"),
        tmp.path(),
        serde_json::json!({"compression": "zstd"}),
    );
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    k.subscribe(move |e: &Event| seen.lock().unwrap().push(e.clone()));
    let good = k.backup(&BackupRequest::manual()).unwrap();
    let before = content(&pg, "shop");
    // Damage the data, and keep an idle connection open across the restore.
    pg.psql("shop", "DELETE FROM sales.\"Order Lines\" WHERE id % 2 = 0; UPDATE sales.customers SET name = 'oops'");
    let damaged = content(&pg, "shop");
    let mut idle = Command::new("psql")
        .args(["-X", "-q", "-d", &pg.uri("shop")])
        .env("PGPASSWORD", PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = idle.stdin.as_mut().unwrap();
        writeln!(stdin, "SELECT 1;").unwrap();
        stdin.flush().unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let out = k.restore(&good.id, None, false).unwrap();
    assert_eq!(out.target, PathBuf::from("shop"));
    assert_eq!(content(&pg, "shop"), before);
    // The safety backup holds the damaged state.
    let safety = out.safety_backup.unwrap();
    assert_eq!(safety.kind, sqlkeep::Kind::PreRestore);
    k.restore(&safety.id, Some(Path::new("was_damaged")), false)
        .unwrap();
    assert_eq!(content(&pg, "was_damaged"), damaged);
    drop(idle.stdin.take());
    let _ = idle.wait();
    let finished = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Event::RestoreFinished { ok: true, .. }))
        .count();
    assert_eq!(finished, 2);
    // A SQLite-only capability says so.
    let e = k.diff(&good.id, None).unwrap_err();
    assert!(e.to_string().contains("SQLite"), "{e}");
}

#[test]
fn a_damaged_archive_is_reported_and_never_restored() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = PgServer::start(tmp.path());
    rich_schema(&pg, "shop");
    let k = keeper(
        &pg.uri("shop"),
        tmp.path(),
        serde_json::json!({"compression": "none"}),
    );
    let m = k.backup(&BackupRequest::manual()).unwrap();
    // Change one byte in the middle of the uncompressed archive.
    let path = tmp.path().join("backups").join(&m.file);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();
    let v = k.verify(&m.id, VerifyLevel::Quick).unwrap();
    assert!(!v.ok && v.detail.contains("SHA-256"), "{}", v.detail);
    let e = k
        .restore(&m.id, Some(Path::new("never")), false)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    assert!(!pg.databases().contains(&"never".to_string()));
    // A manifest whose counts disagree with the archive fails the full check, naming the
    // table, and the scratch database is dropped.
    bytes[mid] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();
    let mpath = tmp.path().join("backups").join(format!("{}.json", m.id));
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    doc["postgres"]["tables"][0]["rows"] = serde_json::json!(7);
    doc.as_object_mut().unwrap().remove("raw_sha256");
    std::fs::write(&mpath, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let v = k.verify(&m.id, VerifyLevel::Full).unwrap();
    assert!(
        !v.ok && v.detail.contains("row counts") && v.detail.contains("recorded"),
        "{}",
        v.detail
    );
    assert!(!pg
        .databases()
        .iter()
        .any(|d| d.starts_with("sqlkeep_check_")));
}

#[test]
fn bad_connections_fail_clearly_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = PgServer::start(tmp.path());
    pg.create_db("shop");
    pg.pgbench_init("shop", 1);
    let dir = tmp.path().join("fail");
    // Refused connection.
    let refused = "postgresql://postgres@127.0.0.1:1/shop";
    let e = keeper(refused, &dir, serde_json::json!({}))
        .backup(&BackupRequest::manual())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Postgres);
    assert!(
        e.to_string().contains("127.0.0.1:1/shop") && e.to_string().contains("refused"),
        "{e}"
    );
    // A database that does not exist.
    let e = keeper(&pg.uri("nope"), &dir, serde_json::json!({}))
        .backup(&BackupRequest::manual())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("\"nope\" does not exist"), "{e}");
    assert_eq!(leftovers(&dir.join("backups")), Vec::<String>::new());

    let cli = |env: &[(&str, &str)], args: &[&str]| {
        let mut c = Command::new(sqlkeep_bin());
        c.args(["--db", &pg.uri("shop"), "--dir"])
            .arg(dir.join("backups"))
            .args(args);
        c.env_remove("PGPASSWORD");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    // A wrong password, from the environment as always.
    let out = cli(&[("PGPASSWORD", "wrong-pw-1234")], &["backup"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(
        !err.contains("wrong-pw-1234") && !err.contains(PASSWORD),
        "{err}"
    );
    // No password at all: libpq's conventions are the only source, and -w never prompts.
    let out = cli(&[("PGPASSFILE", "/nonexistent")], &["backup"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no password supplied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // pg_dump missing.
    let out = cli(
        &[("PGPASSWORD", PASSWORD), ("PATH", "/nonexistent")],
        &["backup"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pg_dump was not found on PATH"), "{err}");
    // pg_dump older than the server: a pg_dump that says it is 9.6, beside the real psql.
    let bin = tmp.path().join("oldbin");
    std::fs::create_dir_all(&bin).unwrap();
    for p in ["psql", "pg_restore"] {
        std::os::unix::fs::symlink(which(p), bin.join(p)).unwrap();
    }
    std::fs::write(
        bin.join("pg_dump"),
        "#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n",
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(bin.join("pg_dump"))
        .status()
        .unwrap();
    let out = cli(
        &[("PGPASSWORD", PASSWORD), ("PATH", bin.to_str().unwrap())],
        &["backup"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("9.6.24 is older than the server (15")
            || err.contains("is older than the server"),
        "{err}"
    );
    assert!(err.contains("install pg_dump"), "{err}");
    assert_eq!(leftovers(&dir.join("backups")), Vec::<String>::new());
    // The log records each failure, and no password anywhere.
    for (p, bytes) in all_files(&dir) {
        assert!(
            !contains(&bytes, PASSWORD) && !contains(&bytes, "wrong-pw-1234"),
            "{}",
            p.display()
        );
    }
}

fn which(p: &str) -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {p}")])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

#[test]
fn passwords_never_reach_a_file_event_or_message() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = PgServer::start(tmp.path());
    pg.create_db("shop");
    pg.pgbench_init("shop", 1);
    let in_uri = "uri-secret-Kx9";
    let uri = format!(
        "postgresql://postgres:{in_uri}@127.0.0.1:{}/shop?sslmode=disable",
        pg.port
    );
    let cfg = Config::from_value(
        &serde_json::json!({"database": uri, "backup_dir": tmp.path().join("backups"),
            "encryption": {"passphrase_env": "SQLKEEP_TEST_PG_PASSPHRASE"}}),
        None,
    )
    .unwrap();
    assert_eq!(cfg.warnings.len(), 1);
    assert!(cfg.warnings[0].contains("removed") && !cfg.warnings[0].contains(in_uri));
    assert!(!cfg.to_value().to_string().contains(in_uri));
    std::env::set_var("SQLKEEP_TEST_PG_PASSPHRASE", "passphrase-for-pg-test");
    let k = Keeper::open(cfg);
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    k.subscribe(move |e: &Event| seen.lock().unwrap().push(serde_json::to_string(e).unwrap()));
    let m = k.backup(&BackupRequest::manual()).unwrap();
    assert!(m.file.ends_with(".pgdump.gz.age"), "{}", m.file);
    assert_eq!(m.requires, vec!["age".to_string(), "postgres".to_string()]);
    k.verify(&m.id, VerifyLevel::Full).unwrap();
    k.restore_with(
        &m.id,
        Some(Path::new("copy")),
        RestoreOptions {
            overwrite: false,
            paranoid: true,
        },
    )
    .unwrap();
    assert_eq!(
        pg.psql("copy", "SELECT count(*) FROM pgbench_accounts"),
        "100000"
    );
    let _ = keeper(
        "postgresql://postgres@127.0.0.1:1/x",
        tmp.path(),
        serde_json::json!({}),
    )
    .backup(&BackupRequest::manual());
    for (p, bytes) in all_files(&tmp.path().join("backups")) {
        for secret in [PASSWORD, in_uri, "passphrase-for-pg-test"] {
            assert!(!contains(&bytes, secret), "{secret} in {}", p.display());
        }
    }
    for e in events.lock().unwrap().iter() {
        assert!(!e.contains(PASSWORD) && !e.contains(in_uri), "{e}");
    }
}

/// Kill -9 of the CLI during a backup leaves no backup and nothing the next run does not
/// sweep; during a restore into the live database, the database is the old or the new
/// content, never a mix.
#[test]
fn kill_9_during_backup_and_restore() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = PgServer::start(tmp.path());
    pg.create_db("bank");
    pg.pgbench_init("bank", 8);
    let dir = tmp.path().join("backups");
    let run = |args: &[&str]| {
        Command::new(sqlkeep_bin())
            .args(["--db", &pg.uri("bank"), "--dir"])
            .arg(&dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    for delay_ms in [150u64, 400, 900] {
        let mut child = run(&["backup"]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        pg.wait_idle("bank");
        let k = keeper(&pg.uri("bank"), tmp.path(), serde_json::json!({}));
        for m in k.list().unwrap() {
            assert!(k.verify(&m.id, VerifyLevel::Quick).unwrap().ok, "{}", m.id);
        }
    }
    let k = keeper(&pg.uri("bank"), tmp.path(), serde_json::json!({}));
    let good = k.backup(&BackupRequest::manual()).unwrap();
    let names: Vec<String> = leftovers(&dir);
    let listed: Vec<String> = k.list().unwrap().iter().map(|m| m.id.clone()).collect();
    for n in &names {
        assert!(
            listed.iter().any(|id| n.starts_with(id.as_str())),
            "left behind: {n} ({listed:?})"
        );
    }
    // Change the live data, then kill restores at different moments.
    let counts_good = recorded(&good);
    pg.psql("bank", "DELETE FROM pgbench_history; UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= 1000; UPDATE pgbench_branches SET bbalance = bbalance + 1000 WHERE bid = 1; UPDATE pgbench_tellers SET tbalance = tbalance + 1000 WHERE tid = 1");
    let changed = pg.balances("bank");
    for delay_ms in [300u64, 1500, 3000] {
        let mut child = run(&["restore", &good.id, "--yes"]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // A pg_restore already started finishes or rolls back on its own.
        pg.wait_idle("bank");
        let (a, t, b) = pg.balances("bank");
        assert!(
            a == t && t == b,
            "mixed content after kill at {delay_ms} ms: {a} {t} {b}"
        );
        assert!(
            (a, t, b) == changed || (a, t, b) == (0, 0, 0),
            "{:?} vs {changed:?}",
            (a, t, b)
        );
    }
    // The next full check sweeps scratch databases of killed checks.
    k.verify(&good.id, VerifyLevel::Full).unwrap();
    assert!(
        !pg.databases()
            .iter()
            .any(|d| d.starts_with("sqlkeep_check_")),
        "{:?}",
        pg.databases()
    );
    k.restore(&good.id, None, false).unwrap();
    let n: u64 = pg
        .psql("bank", "SELECT count(*) FROM pgbench_accounts")
        .parse()
        .unwrap();
    assert_eq!(
        n,
        counts_good
            .iter()
            .find(|(t, _)| t == "pgbench_accounts")
            .unwrap()
            .1
    );
}

#[test]
fn the_cli_backs_up_lists_verifies_and_restores_postgres() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = PgServer::start(tmp.path());
    pg.create_db("shop");
    pg.pgbench_init("shop", 1);
    let conf = tmp.path().join("sqlkeep.json");
    std::fs::write(
        &conf,
        serde_json::json!({"database": pg.uri("shop"), "backup_dir": tmp.path().join("b"), "compression": "zstd"}).to_string(),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        let out = Command::new(sqlkeep_bin())
            .arg("--config")
            .arg(&conf)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = cli(&["backup"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("verified (full)"), "{out}");
    let (_, list, _) = cli(&["list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert_eq!(list[0]["postgres"]["tables"].as_array().unwrap().len(), 4);
    let (code, out, _) = cli(&["verify", &id, "--quick"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("pg_restore --list ok"), "{out}");
    let (code, out, err) = cli(&["restore", &id, "--to", "cli_copy"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        pg.psql("cli_copy", "SELECT count(*) FROM pgbench_tellers"),
        "10"
    );
    // An existing database needs a confirmation, which a script gives with --yes.
    let (code, _, err) = cli(&["restore", &id, "--to", "cli_copy"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("--yes"), "{err}");
    let (code, _, _) = cli(&["restore", &id, "--yes"]);
    assert_eq!(code, Some(0));
    let (code, out, _) = cli(&["stats"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("backups:          2"), "{out}");
}
