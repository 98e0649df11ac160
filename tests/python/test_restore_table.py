"""Keeper.restore_table from Python: rows of one table back from a backup, foreign keys
honoured, bad requests refused with nothing written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import sqlkeep


def company(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE departments (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
        CREATE TABLE employees (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
                                department_id INTEGER NOT NULL REFERENCES departments(id));
        INSERT INTO departments VALUES (1, 'Sales'), (2, 'Research'), (3, 'Legal');
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 90)
        INSERT INTO employees SELECT i, 'employee ' || i, 1 + i % 3 FROM n;
        """
    )
    con.commit()
    con.close()
    return path


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_deleted_department_comes_back_with_its_employees(tmp_path: Path) -> None:
    db = company(tmp_path / "company.db")
    with sqlkeep.Keeper(db, schedule="off") as k:
        a = k.backup()
        con = sqlite3.connect(db)
        con.executescript(
            "DELETE FROM employees WHERE department_id = 2; DELETE FROM departments WHERE id = 2;"
            "UPDATE employees SET name = 'renamed' WHERE id = 3;"
        )
        con.close()
        before = rows(db, "SELECT * FROM employees ORDER BY id")

        # The employees alone would refer to a department that is gone: refused.
        with pytest.raises(sqlkeep.ConfigError, match="would refer to rows of `departments`"):
            k.restore_table(a.id, "employees", "department_id = 2")
        assert rows(db, "SELECT * FROM employees ORDER BY id") == before

        out = k.restore_table(a.id, "departments", "id = 2", with_dependents=True)
        assert [t["name"] for t in out["tables"]] == ["departments", "employees"]
        assert out["tables"][1] == {"name": "employees", "replaced": 0, "added": 30, "unchanged": 0, "removed": 0}
        assert out["summary"] == "departments: 0 replaced, 1 added; employees: 0 replaced, 30 added"
        assert isinstance(out["safety_backup"], sqlkeep.Backup)
        assert out["safety_backup"].kind == "pre-restore"
        assert rows(db, "SELECT count(*) FROM employees WHERE department_id = 2") == [(30,)]
        # Today's rename outside the chosen rows stays.
        assert rows(db, "SELECT name FROM employees WHERE id = 3") == [("renamed",)]

        out = k.restore_table(a.id, "employees", replace_table=True)
        assert out["tables"][0]["removed"] == 90 and out["tables"][0]["added"] == 90
        assert rows(db, "SELECT name FROM employees WHERE id = 3") == [("employee 3",)]


def test_bad_requests_raise_and_write_nothing(tmp_path: Path) -> None:
    db = company(tmp_path / "company.db")
    with sqlkeep.Keeper(db, schedule="off") as k:
        a = k.backup()
        before = rows(db, "SELECT * FROM employees ORDER BY id")
        with pytest.raises(sqlkeep.ConfigError, match="cannot be applied to table `employees`"):
            k.restore_table(a.id, "employees", "id = = 1")
        with pytest.raises(sqlkeep.NotFoundError, match="no table `nope`"):
            k.restore_table(a.id, "nope")
        with pytest.raises(sqlkeep.ConfigError, match="takes no condition"):
            k.restore_table(a.id, "employees", "id < 3", replace_table=True)
        with pytest.raises(TypeError):
            k.restore_table(a.id, 7)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            k.restore_table(a.id, "employees", with_dependents="yes")  # type: ignore[arg-type]
        assert rows(db, "SELECT * FROM employees ORDER BY id") == before
        assert [b.kind for b in k.list()] == ["manual"]
