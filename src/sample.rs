//! A realistic sample database, deterministic for a given seed: an employee register with
//! text, numbers, dates, indexes and about 10% of its bytes in blobs (gzip ratio about
//! 3:1). Used by `sqlkeep demo`, the tests and the benchmarks.

use rusqlite::{params, Connection};
use std::path::Path;

const FIRST: &[&str] = &[
    "Anna", "Ben", "Clara", "David", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Karin",
    "Luca", "Maya", "Noah", "Olga", "Paul", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wim",
    "Xenia", "Yusuf", "Zoe",
];
const LAST: &[&str] = &[
    "Adler", "Brandt", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ivanova",
    "Jensen", "Kowalski", "Larsen", "Meyer", "Novak", "Olsen", "Petrov", "Quist", "Rossi",
    "Schmidt", "Tanaka", "Ueda", "Vogel", "Weber",
];
const DEPARTMENTS: &[&str] = &[
    "Accounting",
    "Customer Care",
    "Engineering",
    "Facilities",
    "Legal",
    "Logistics",
    "Marketing",
    "Purchasing",
    "Quality",
    "Research",
    "Sales",
    "Training",
];
const WORDS: &[&str] = &[
    "order",
    "invoice",
    "shipment",
    "customer",
    "meeting",
    "review",
    "budget",
    "quarter",
    "report",
    "update",
    "delivery",
    "contract",
    "supplier",
    "warehouse",
    "schedule",
    "approved",
    "pending",
    "urgent",
    "follow-up",
    "training",
    "safety",
    "inspection",
    "overtime",
    "holiday",
    "request",
    "travel",
    "expense",
    "receipt",
    "the",
    "and",
    "for",
    "with",
    "from",
    "after",
    "before",
    "was",
    "will",
    "be",
    "sent",
    "to",
    "team",
    "new",
    "project",
    "phase",
    "completed",
    "client",
    "feedback",
    "positive",
    "issue",
    "resolved",
    "ticket",
    "call",
];

/// What was generated.
#[derive(Debug, Clone, Copy)]
pub struct SampleInfo {
    /// Rows in `employees`.
    pub employees: u64,
    /// Rows in `documents`.
    pub documents: u64,
    /// Size of the database file.
    pub bytes: u64,
}

fn sentence(rng: &mut fastrand::Rng, words: usize) -> String {
    let mut s = String::with_capacity(words * 8);
    for i in 0..words {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[rng.usize(..WORDS.len())]);
    }
    s
}

/// Creates (or extends) the sample database at `path` until it holds at least
/// `target_bytes`, in `journal_mode` (`"wal"` or `"delete"`).
pub fn create_sample_database(
    path: &Path,
    target_bytes: u64,
    seed: u64,
    journal_mode: &str,
) -> rusqlite::Result<SampleInfo> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", journal_mode)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS departments (
             id   INTEGER PRIMARY KEY,
             name TEXT NOT NULL UNIQUE
         );
         CREATE TABLE IF NOT EXISTS employees (
             id            INTEGER PRIMARY KEY,
             name          TEXT NOT NULL,
             email         TEXT NOT NULL,
             department_id INTEGER NOT NULL REFERENCES departments(id),
             salary_cents  INTEGER NOT NULL,
             hired_on      TEXT NOT NULL,
             notes         TEXT
         );
         CREATE TABLE IF NOT EXISTS documents (
             id          INTEGER PRIMARY KEY,
             employee_id INTEGER NOT NULL REFERENCES employees(id),
             title       TEXT NOT NULL,
             created_at  TEXT NOT NULL,
             body        BLOB
         );
         CREATE INDEX IF NOT EXISTS employees_by_department ON employees(department_id, name);
         CREATE INDEX IF NOT EXISTS employees_by_hire_date ON employees(hired_on);
         CREATE INDEX IF NOT EXISTS documents_by_employee ON documents(employee_id, created_at);",
    )?;
    for (i, d) in DEPARTMENTS.iter().enumerate() {
        conn.execute(
            "INSERT OR IGNORE INTO departments (id, name) VALUES (?1, ?2)",
            params![i as i64 + 1, d],
        )?;
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let page_size: u64 = conn.pragma_query_value(None, "page_size", |r| r.get::<_, i64>(0))? as u64;
    let size = |c: &Connection| -> rusqlite::Result<u64> {
        Ok(c.pragma_query_value(None, "page_count", |r| r.get::<_, i64>(0))? as u64 * page_size)
    };
    let mut next_emp: i64 =
        conn.query_row("SELECT coalesce(max(id), 0) + 1 FROM employees", [], |r| {
            r.get(0)
        })?;
    let mut blob = Vec::new();
    while size(&conn)? < target_bytes {
        let tx = conn.unchecked_transaction()?;
        {
            let mut emp = tx.prepare_cached(
                "INSERT INTO employees (id, name, email, department_id, salary_cents, hired_on, notes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut doc = tx.prepare_cached(
                "INSERT INTO documents (employee_id, title, created_at, body)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for _ in 0..2000 {
                let first = FIRST[rng.usize(..FIRST.len())];
                let last = LAST[rng.usize(..LAST.len())];
                let name = format!("{first} {last}");
                let email = format!(
                    "{}.{}{}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    next_emp
                );
                let hired = format!(
                    "{:04}-{:02}-{:02}",
                    rng.i32(1995..2027),
                    rng.u8(1..13),
                    rng.u8(1..29)
                );
                let words = rng.usize(20..80);
                emp.execute(params![
                    next_emp,
                    name,
                    email,
                    rng.i64(1..=DEPARTMENTS.len() as i64),
                    rng.i64(2_500_000..15_000_000),
                    hired,
                    sentence(&mut rng, words)
                ])?;
                for _ in 0..rng.usize(1..4) {
                    let title = sentence(&mut rng, 4);
                    let created = format!(
                        "{:04}-{:02}-{:02}T{:02}:{:02}:00Z",
                        rng.i32(2015..2027),
                        rng.u8(1..13),
                        rng.u8(1..29),
                        rng.u8(0..24),
                        rng.u8(0..60)
                    );
                    // One document in five carries a binary attachment (a small
                    // incompressible payload, like a scanned signature): about 10% of
                    // the bytes.
                    let body: Option<&[u8]> = if rng.u8(0..5) == 0 {
                        blob.clear();
                        blob.extend((0..rng.usize(64..256)).map(|_| rng.u8(..)));
                        Some(&blob)
                    } else {
                        None
                    };
                    doc.execute(params![next_emp, title, created, body])?;
                }
                next_emp += 1;
            }
        }
        tx.commit()?;
    }
    let employees: i64 = conn.query_row("SELECT count(*) FROM employees", [], |r| r.get(0))?;
    let documents: i64 = conn.query_row("SELECT count(*) FROM documents", [], |r| r.get(0))?;
    let bytes = size(&conn)?;
    Ok(SampleInfo {
        employees: employees as u64,
        documents: documents as u64,
        bytes,
    })
}
