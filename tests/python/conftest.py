"""Fixtures for the tests of the installed `sqlkeep` wheel: real SQLite files made with
Python's own sqlite3 module."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import sqlkeep


def make_db(path: Path, rows: int = 200, journal_mode: str = "delete") -> Path:
    """An application-like database: `items(id, name, qty)` with `rows` rows."""
    con = sqlite3.connect(path)
    try:
        con.execute(f"PRAGMA journal_mode={journal_mode}")
        con.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER)")
        con.executemany(
            "INSERT INTO items (name, qty) VALUES (?, ?)",
            [(f"item {i}", i) for i in range(rows)],
        )
        con.execute("PRAGMA user_version = 7")
        con.commit()
    finally:
        con.close()
    return path


def dump(db: Path) -> list[str]:
    """The database as SQL: equal dumps, equal content."""
    con = sqlite3.connect(db)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def make_big_db(path: Path, megabytes: int) -> Path:
    """A database of about `megabytes` MB of half-compressible text (hex of random
    bytes), so compression has real work to do."""
    con = sqlite3.connect(path)
    try:
        con.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        rows = megabytes * 1024 * 1024 // 1000
        con.execute(
            """
            WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)
            INSERT INTO blobs (body)
            SELECT hex(randomblob(500))
            FROM n
            """,
            (rows,),
        )
        con.commit()
    finally:
        con.close()
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_db(tmp_path / "app.db")


@pytest.fixture
def keeper(db: Path) -> Iterator[sqlkeep.Keeper]:
    with sqlkeep.Keeper(db, schedule="off") as k:
        yield k


@pytest.fixture(scope="session")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_big_db(tmp_path_factory.mktemp("big") / "big.db", 80)


class EventRecorder:
    """An `on_event` callback that records events and the thread they came from, and
    lets a test wait (with a timeout) for an event type."""

    def __init__(self) -> None:
        self.events: list[tuple[dict[str, Any], int]] = []
        self._cond = threading.Condition()

    def __call__(self, event: dict[str, Any]) -> None:
        with self._cond:
            self.events.append((event, threading.get_ident()))
            self._cond.notify_all()

    def types(self) -> list[str]:
        with self._cond:
            return [e["type"] for e, _ in self.events]

    def wait_for(
        self, type_: str, timeout: float = 60.0, where: Callable[[dict[str, Any]], bool] = lambda e: True
    ) -> tuple[dict[str, Any], int]:
        def found() -> tuple[dict[str, Any], int] | None:
            for e, ident in self.events:
                if e["type"] == type_ and where(e):
                    return e, ident
            return None

        with self._cond:
            assert self._cond.wait_for(lambda: found() is not None, timeout), (
                f"no {type_} event within {timeout} s; got {self.types()}"
            )
            result = found()
            assert result is not None
            return result


@pytest.fixture
def recorder() -> EventRecorder:
    return EventRecorder()


def read_items(con: sqlite3.Connection) -> list[tuple[int, str, int]]:
    return con.execute("SELECT id, name, qty FROM items ORDER BY id").fetchall()
