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
from conftest import make_big_db, make_db, read_items

TICK = 0.001
#: The longest a ticking Python thread may be kept waiting while a backup runs on another
#: thread. Were the GIL held, it would wait for the whole backup (at least 10 times this);
#: released, it waits only for a core. Measured on a 2-core machine over 28 backups: 3-5 ms
#: with nothing else running, at most 53 ms with 2 to 4 other busy processes.
MAX_PAUSE = 0.2


class Ticker:
    """A Python thread that wakes about every millisecond and notes the time: it runs
    only when it can take the GIL, so a long gap between two ticks is a long pause."""

    def __init__(self) -> None:
        self.ticks: list[float] = []
        self._ticking = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.ticks.append(time.perf_counter())
            self._ticking.set()
            time.sleep(TICK)

    def __enter__(self) -> Ticker:
        self._thread.start()
        assert self._ticking.wait(10), "the ticker thread ticks within 10 s"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def longest_pause(self, start: float, end: float) -> float:
        """The longest stretch of [start, end] without a tick."""
        points = [start, *(t for t in self.ticks if start < t < end), end]
        return max(b - a for a, b in zip(points, points[1:]))


def test_a_long_backup_releases_the_gil(tmp_path: Path) -> None:
    # Larger than big_db, so that the backup lasts well over 10 * MAX_PAUSE.
    db = make_big_db(tmp_path / "big.db", 256)
    k = sqlkeep.Keeper(db, backup_dir=tmp_path / "b")
    with Ticker() as ticker:
        started = time.perf_counter()
        b = k.backup()
        finished = time.perf_counter()
    elapsed = finished - started
    pause = ticker.longest_pause(started, finished)
    print(
        f"\nGIL: backup of {b.raw_size_bytes / 1e6:.0f} MB took {elapsed:.2f} s; "
        f"the longest pause of a Python thread ticking every {TICK * 1e3:.0f} ms "
        f"was {pause * 1e3:.1f} ms"
    )
    assert elapsed >= 10 * MAX_PAUSE, (
        f"the backup took {elapsed:.2f} s, too short for a pause bound of {MAX_PAUSE} s "
        "to mean something: make the database larger"
    )
    assert pause < MAX_PAUSE, f"a Python thread waited {pause * 1e3:.0f} ms for the GIL"


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
