//! A real PostgreSQL server for one test: Debian's `postgresql` package, `initdb` into a
//! temp folder, started on a free port on 127.0.0.1 with its socket in that folder,
//! stopped and removed when the value drops (also when the test fails).
//!
//! `initdb` and `pg_ctl` refuse to run as root, so as root they run as the `postgres`
//! user (`runuser -u postgres --`) on a folder that user owns. Host connections need a
//! password ([`PASSWORD`], scram-sha-256), which reaches sqlkeep and PostgreSQL's
//! programs only through `PGPASSWORD`, as it would in production.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The superuser's password on every test server: distinctive, so a test can search for
/// it in every file and event sqlkeep wrote.
pub const PASSWORD: &str = "pw-Zq81-never-written";

/// The folder of `initdb`, `pg_ctl` and `postgres`.
pub fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (apt-get install postgresql)")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("a PostgreSQL server version with initdb")
}

fn is_root() -> bool {
    std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false)
}

/// `program` from the server's bin folder, as the `postgres` user when we are root.
fn as_server_user(program: &str) -> Command {
    let path = bin_dir().join(program);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sets `PGPASSWORD` for this test process (every server has the same password, so
/// concurrent tests set the same value).
pub fn set_password_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("PGPASSWORD", PASSWORD));
}

/// A running server.
pub struct PgServer {
    pub port: u16,
    root: PathBuf,
    data: PathBuf,
}

impl PgServer {
    /// Initialises and starts a server in a new folder under `parent`.
    pub fn start(parent: &Path) -> PgServer {
        set_password_env();
        let root = parent.join(format!("pg-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        // The server user must reach its folder through the test's temp folders.
        let mut p = Some(root.as_path());
        while let Some(dir) = p {
            if dir == Path::new("/") || dir == std::env::temp_dir() {
                break;
            }
            let _ = Command::new("chmod").arg("o+x").arg(dir).status();
            p = dir.parent();
        }
        let data = root.join("data");
        let pwfile = root.join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&root)
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let out = as_server_user("initdb")
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .arg("-D")
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40",
            root.display()
        );
        let out = as_server_user("pg_ctl")
            .args(["-D"])
            .arg(&data)
            .args(["-o", &opts, "-l"])
            .arg(root.join("log"))
            .args(["-w", "-t", "60", "start"])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        let server = PgServer { port, root, data };
        assert!(
            out.status.success(),
            "pg_ctl start: {} {}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(server.root.join("log")).unwrap_or_default()
        );
        server
    }

    /// The URI of database `db` as the superuser, without the password.
    pub fn uri(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs `sql` with psql on `db`; its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-w",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.uri(db),
                "-c",
                sql,
            ])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Creates database `db`.
    pub fn create_db(&self, db: &str) {
        self.psql("postgres", &format!("CREATE DATABASE \"{db}\""));
    }

    /// `pgbench -i -s scale` into `db`.
    pub fn pgbench_init(&self, db: &str, scale: u32) {
        let out = Command::new("pgbench")
            .args(["-i", "-q", "-s", &scale.to_string(), &self.uri(db)])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pgbench -i: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts `pgbench -c clients -T seconds` against `db`.
    pub fn pgbench_run(&self, db: &str, clients: u32, seconds: u32) -> std::process::Child {
        Command::new("pgbench")
            // (pgbench's `-d` is --debug: the database is the last argument.)
            .args([
                "-n",
                "-c",
                &clients.to_string(),
                "-T",
                &seconds.to_string(),
                &self.uri(db),
            ])
            .env("PGPASSWORD", PASSWORD)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The TPC-B invariant of a pgbench database: the three balance sums, which must be
    /// equal.
    pub fn balances(&self, db: &str) -> (i64, i64, i64) {
        let row = self.psql(
            db,
            "SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(tbalance) FROM pgbench_tellers), (SELECT sum(bbalance) FROM pgbench_branches)",
        );
        let v: Vec<i64> = row.split('|').map(|x| x.parse().unwrap_or(0)).collect();
        (v[0], v[1], v[2])
    }

    /// The names of the databases on the server.
    pub fn databases(&self) -> Vec<String> {
        self.psql("postgres", "SELECT datname FROM pg_database ORDER BY 1")
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Waits until no backend but ours is connected to `db` (after a killed client).
    pub fn wait_idle(&self, db: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let n = self.psql(
                "postgres",
                &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"),
            );
            if n == "0" {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = as_server_user("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
