"""Living inside a Python application: the GIL is released during long work, and
sqlkeep shares one SQLite library (and so its locks) with Python's sqlite3 module."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import sqlkeep
from conftest import make_db, read_items

TICK = 0.001


class Ticker:
    """A Python thread counting ~1 ms sleeps: it advances only while it can take the GIL."""

    def __init__(self) -> None:
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.ticks += 1
            time.sleep(TICK)

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def ticks_during(seconds: float, ticker: Ticker) -> int:
    before = ticker.ticks
    time.sleep(seconds)
    return ticker.ticks - before


def test_a_long_backup_releases_the_gil(big_db: Path, tmp_path: Path) -> None:
    k = sqlkeep.Keeper(big_db, backup_dir=tmp_path / "b")
    with Ticker() as ticker:
        rate = ticks_during(0.5, ticker) / 0.5  # ticks per second with nothing else running
        before = ticker.ticks
        started = time.perf_counter()
        b = k.backup()
        elapsed = time.perf_counter() - started
        during = ticker.ticks - before
    expected = rate * elapsed
    ratio = during / expected
    print(
        f"\nGIL: backup of {b.raw_size_bytes / 1e6:.0f} MB took {elapsed:.2f} s; "
        f"the Python thread ticked {during} times of {expected:.0f} expected ({ratio:.0%})"
    )
    assert elapsed > 0.3, "the database is large enough for the measurement to mean something"
    assert ratio > 0.5


def test_progress_and_events_reach_python_while_the_gil_is_released(big_db: Path, tmp_path: Path) -> None:
    k = sqlkeep.Keeper(big_db, backup_dir=tmp_path / "b", verify_after_backup="off")
    threads: set[int] = set()
    progress: list[tuple[int, int]] = []

    def on_progress(done: int, total: int) -> None:
        threads.add(threading.get_ident())
        progress.append((done, total))

    b = k.backup(progress=on_progress)
    assert len(progress) > 10
    assert progress[-1] == (b.page_count, b.page_count)
    assert threading.get_ident() not in threads, "called from the core's worker thread"


def test_restore_is_seen_by_the_apps_open_connection(tmp_path: Path) -> None:
    """The application's own sqlite3 connection stays open across the restore and reads
    the restored data."""
    db = make_db(tmp_path / "app.db", rows=50)
    con = sqlite3.connect(db)
    original = read_items(con)
    k = sqlkeep.Keeper(db)
    b = k.backup(label="good state")
    con.execute("UPDATE items SET name = 'damaged by a bad import'")
    con.execute("DELETE FROM items WHERE id > 25")
    con.commit()
    assert read_items(con) != original
    safety = k.restore(b.id)
    assert safety is not None and safety.kind == "pre-restore"
    assert read_items(con) == original
    # And the connection goes on working normally.
    con.execute("INSERT INTO items (name, qty) VALUES ('after restore', 1)")
    con.commit()
    assert len(read_items(con)) == 51
    con.close()


def test_sqlkeep_links_the_sqlite_library_python_uses() -> None:
    """Two copies of SQLite in one process do not see each other's POSIX locks; the
    wheel links the shared library that Python's _sqlite3 uses."""
    import _sqlite3

    ldd = shutil.which("ldd")
    if ldd is None or not sys.platform.startswith("linux"):
        pytest.skip("needs ldd (Linux)")

    def libsqlite(module_file: str) -> str | None:
        out = subprocess.run([ldd, module_file], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if "libsqlite3" in line and "=>" in line:
                return os.path.realpath(line.split("=>")[1].split("(")[0].strip())
        return None

    ours = libsqlite(sqlkeep._sqlkeep.__file__)
    pythons = libsqlite(_sqlite3.__file__)
    if pythons is None:
        pytest.skip("this Python's sqlite3 module has SQLite built in")
    assert ours == pythons


def test_backup_reports_the_same_sqlite_version_as_python(keeper: sqlkeep.Keeper) -> None:
    assert keeper.backup().sqlite_version == sqlite3.sqlite_version
