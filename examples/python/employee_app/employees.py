"""The employee register's database: schema, migrations, demo data and queries.

The schema version lives in ``PRAGMA user_version``. Version 1 is the first release
(name, department, email); version 2 adds the salary column. ``migrate`` runs each step
once, inside ``keeper.guard(...)`` so a pre-operation backup exists before the schema
changes.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import sqlkeep

SCHEMA_VERSION = 2

DEPARTMENTS = ("Engineering", "Finance", "Marketing", "Operations", "People", "Sales", "Support")


@dataclass(frozen=True)
class Employee:
    id: int | None
    name: str
    department: str
    email: str
    salary: int


def connect(path: Path) -> sqlite3.Connection:
    """The application's connection, open for the whole session (WAL, so a backup never
    waits for a reader and readers never wait for a backup)."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA foreign_keys=ON")
    return con


def schema_version(con: sqlite3.Connection) -> int:
    return int(con.execute("PRAGMA user_version").fetchone()[0])


def create_v1(con: sqlite3.Connection) -> None:
    """The first release's schema, for a new database."""
    with con:
        con.execute(
            """
            CREATE TABLE IF NOT EXISTS employees (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                department TEXT NOT NULL,
                email TEXT NOT NULL UNIQUE
            )
            """
        )
        con.execute("PRAGMA user_version = 1")


def migrate_to_v2(con: sqlite3.Connection) -> None:
    """Adds the salary column and an index for the department filter."""
    with con:
        con.execute("ALTER TABLE employees ADD COLUMN salary INTEGER NOT NULL DEFAULT 0")
        con.execute("CREATE INDEX IF NOT EXISTS employees_department ON employees (department)")
        con.execute("PRAGMA user_version = 2")


def migrate(con: sqlite3.Connection, keeper: sqlkeep.Keeper) -> list[str]:
    """Brings the schema to ``SCHEMA_VERSION``; returns the steps run (none when the
    database is current). Each step runs after a pre-operation backup."""
    steps = []
    if schema_version(con) == 0:
        create_v1(con)
    if schema_version(con) < 2:
        with keeper.guard("migration to v2"):
            migrate_to_v2(con)
        steps.append("migration to v2")
    return steps


def after_restore(con: sqlite3.Connection, keeper: sqlkeep.Keeper) -> list[str]:
    """Brings a restored database up to date: the backup may be from before a migration.

    The restore replaced the file under `con`. SQLite notices the new schema only when a
    statement runs, and a schema change prepared before that would be checked against
    the old one ("duplicate column name"); one read brings the connection up to date."""
    con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return migrate(con, keeper)


FIRST_NAMES = (
    "Ada", "Alan", "Barbara", "Claude", "Donald", "Edsger", "Frances", "Grace", "Hedy",
    "John", "Katherine", "Ken", "Leslie", "Margaret", "Niklaus", "Radia", "Shafi", "Tim",
)
LAST_NAMES = (
    "Allen", "Backus", "Hamilton", "Hopper", "Johnson", "Knuth", "Lamport", "Liskov",
    "Lovelace", "Perlman", "Ritchie", "Shannon", "Thompson", "Turing", "Wirth",
)


def seed(con: sqlite3.Connection, count: int = 36) -> int:
    """Fills an empty register with `count` made-up employees (the same ones every
    time); returns how many were added."""
    if con.execute("SELECT count(*) FROM employees").fetchone()[0]:
        return 0
    rng = random.Random(6)
    names: set[str] = set()
    while len(names) < count:
        names.add(f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}")
    rows = []
    for name in sorted(names):
        email = name.lower().replace(" ", ".") + "@example.com"
        rows.append((name, rng.choice(DEPARTMENTS), email, rng.randrange(42_000, 125_000, 500)))
    with con:
        con.executemany("INSERT INTO employees (name, department, email, salary) VALUES (?, ?, ?, ?)", rows)
    return len(rows)


def list_employees(con: sqlite3.Connection, search: str = "") -> list[Employee]:
    pattern = f"%{search.strip()}%"
    rows = con.execute(
        """
        SELECT id, name, department, email, salary
        FROM employees
        WHERE name LIKE ?1 OR department LIKE ?1 OR email LIKE ?1
        ORDER BY name
        """,
        (pattern,),
    ).fetchall()
    return [Employee(*row) for row in rows]


def add(con: sqlite3.Connection, e: Employee) -> int:
    with con:
        cur = con.execute(
            "INSERT INTO employees (name, department, email, salary) VALUES (?, ?, ?, ?)",
            (e.name, e.department, e.email, e.salary),
        )
    return int(cur.lastrowid or 0)


def update(con: sqlite3.Connection, e: Employee) -> None:
    with con:
        con.execute(
            """
            UPDATE employees
            SET name = ?, department = ?, email = ?, salary = ?
            WHERE id = ?
            """,
            (e.name, e.department, e.email, e.salary, e.id),
        )


def delete(con: sqlite3.Connection, employee_id: int) -> None:
    with con:
        con.execute("DELETE FROM employees WHERE id = ?", (employee_id,))
