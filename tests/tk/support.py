"""Helpers for the tests of `sqlkeep.tk`: databases, answered dialogs, waiting for the
Tk loop."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import sqlkeep
from sqlkeep.tk import BackupView


def make_db(path: Path, rows: int = 200) -> Path:
    """An application-like database: `items(id, name, qty)` with `rows` rows."""
    con = sqlite3.connect(path)
    try:
        con.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER)")
        con.executemany("INSERT INTO items (name, qty) VALUES (?, ?)", [(f"item {i}", i) for i in range(rows)])
        con.commit()
    finally:
        con.close()
    return path


def make_big_db(path: Path, megabytes: int) -> Path:
    """About `megabytes` MB of half-compressible text, so a backup takes a while and
    reports progress in many steps."""
    con = sqlite3.connect(path)
    try:
        con.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        con.execute(
            """
            WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)
            INSERT INTO blobs (body)
            SELECT hex(randomblob(500))
            FROM n
            """,
            (megabytes * 1024 * 1024 // 1000,),
        )
        con.commit()
    finally:
        con.close()
    return path


def count_items(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT count(*) FROM items").fetchone()[0])
    finally:
        con.close()


@dataclass
class Dialogs:
    """Answers the view's confirmation and file-chooser hooks, and records the questions
    and the messages shown."""

    answers: list[bool] = field(default_factory=list)
    files: list[str | None] = field(default_factory=list)
    save_files: list[str | None] = field(default_factory=list)
    questions: list[tuple[str, str]] = field(default_factory=list)
    infos: list[tuple[str, str]] = field(default_factory=list)
    file_requests: int = 0
    choices: list[str | None] = field(default_factory=list)
    choice_requests: list[tuple[str, str, list[str]]] = field(default_factory=list)

    def confirm(self, title: str, message: str) -> bool:
        self.questions.append((title, message))
        assert self.answers, f"unexpected confirmation: {title}: {message}"
        return self.answers.pop(0)

    def ask_open_file(self) -> str | None:
        self.file_requests += 1
        assert self.files, "unexpected file chooser"
        return self.files.pop(0)

    def ask_save_file(self) -> str | None:
        assert self.save_files, "unexpected save dialog"
        return self.save_files.pop(0)

    def choose(self, title: str, message: str, options: list[str]) -> str | None:
        self.choice_requests.append((title, message, options))
        assert self.choices, f"unexpected choice: {title}: {options}"
        return self.choices.pop(0)

    def show_info(self, title: str, message: str) -> None:
        self.infos.append((title, message))


@dataclass
class Hooks:
    restored: list[sqlkeep.Backup] = field(default_factory=list)
    configured: list[dict[str, Any]] = field(default_factory=list)


def until(view: BackupView, condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Runs the Tk loop until `condition()` holds (for work started outside the view,
    such as the scheduler's thread); fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        view.wait_idle(timeout)
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def texts(widget: Any) -> str:
    return str(widget.cget("text"))
