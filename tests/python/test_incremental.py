"""Page-level incremental backups (issue 12) from Python: ``Keeper(incremental=True)``,
``backup(full=True)``, ``Backup.incremental`` and ``Backup.depends_on``, ``export`` and
the statistics, over real SQLite files made with Python's sqlite3 module."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import sqlkeep
from conftest import EventRecorder, dump, make_big_db
from test_gil_and_sqlite import MAX_PAUSE, Ticker

#: A zstd file as the core writes it starts with pzstd's skippable frame (magic
#: 0x184D2A50, little-endian) before each frame, which every zstd decoder skips.
ZSTD_SKIPPABLE = b"\x50\x2a\x4d\x18"


def make_app_db(path: Path, rows: int = 4000) -> Path:
    """About 600 kB of rows, so a few changed rows are a small share of its pages."""
    con = sqlite3.connect(path)
    try:
        con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL)")
        con.executemany(
            "INSERT INTO notes (title, body) VALUES (?, ?)",
            [(f"note {i}", f"{i:06d} " + "lorem ipsum dolor sit amet " * 5) for i in range(rows)],
        )
        con.commit()
    finally:
        con.close()
    return path


def change(db: Path, sql: str, *params: object) -> None:
    con = sqlite3.connect(db)
    try:
        con.execute(sql, params)
        con.commit()
    finally:
        con.close()


@pytest.fixture
def app_db(tmp_path: Path) -> Path:
    return make_app_db(tmp_path / "app.db")


@pytest.fixture
def keeper(app_db: Path) -> Iterator[sqlkeep.Keeper]:
    with sqlkeep.Keeper(app_db, incremental=True, schedule="off") as k:
        yield k


def test_incremental_backups_store_the_changed_pages_and_restore_each_moment(
    keeper: sqlkeep.Keeper, app_db: Path, tmp_path: Path
) -> None:
    assert keeper.config["incremental"] is True
    moments: dict[str, list[str]] = {}
    sizes: dict[str, int] = {}

    full = keeper.backup(label="start")
    moments[full.id], sizes[full.id] = dump(app_db), app_db.stat().st_size
    assert full.incremental is None, "the first backup has nothing to build on"
    assert full.depends_on == []

    change(app_db, "UPDATE notes SET body = 'changed' WHERE id = ?", 17)
    first = keeper.backup(label="one row")
    moments[first.id], sizes[first.id] = dump(app_db), app_db.stat().st_size

    change(app_db, "INSERT INTO notes (title, body) VALUES ('new', 'a new note')")
    change(app_db, "DELETE FROM notes WHERE id BETWEEN 100 AND 110")
    second = keeper.backup(label="insert and delete")
    moments[second.id], sizes[second.id] = dump(app_db), app_db.stat().st_size

    # Each incremental backup names its parent and the whole chain, its own file last.
    assert first.incremental is not None and second.incremental is not None
    assert first.incremental["parent"] == full.id
    assert second.incremental["parent"] == first.id
    assert [link["id"] for link in second.incremental["chain"]] == [full.id, first.id, second.id]
    own = second.incremental["chain"][-1]
    assert (own["file"], own["size_bytes"], own["sha256"]) == (second.path.name, second.size_bytes, second.sha256)
    assert own["pages"] < full.page_count
    assert len(second.incremental["image_sha256"]) == 64
    assert first.depends_on == [full.id]
    assert second.depends_on == [full.id, first.id]

    # size_bytes is what the backup added; raw_size_bytes what it restores to.
    for b in (full, first, second):
        assert b.raw_size_bytes == sizes[b.id], b.id
    for inc in (first, second):
        assert inc.size_bytes * 10 < full.size_bytes, (inc.size_bytes, full.size_bytes)

    # The records read back agree with the ones returned.
    listed = {b.id: b for b in keeper.list()}
    assert listed[second.id].incremental == second.incremental
    assert listed[second.id].depends_on == second.depends_on
    assert keeper.get(first.id).depends_on == [full.id]

    # Each backup restores to the database as it was when it was taken.
    for backup_id, expected in moments.items():
        to = tmp_path / f"restored-{backup_id}.db"
        assert keeper.restore(backup_id, to) is None
        assert dump(to) == expected, backup_id
    assert moments[first.id] != moments[second.id]

    for backup_id in moments:
        v = keeper.verify(backup_id, full=True)
        assert v.ok, v.detail


def test_the_dict_is_a_fresh_copy_each_time(keeper: sqlkeep.Keeper, app_db: Path) -> None:
    keeper.backup()
    change(app_db, "UPDATE notes SET title = 'x' WHERE id = 1")
    inc = keeper.backup()
    d = inc.incremental
    assert d is not None
    d["parent"] = "something else"
    inc.depends_on.append("something else")
    assert inc.incremental is not None and inc.incremental["parent"] != "something else"
    assert "something else" not in inc.depends_on


def test_a_full_backup_on_request_starts_a_new_chain(keeper: sqlkeep.Keeper, app_db: Path, tmp_path: Path) -> None:
    keeper.backup()
    change(app_db, "UPDATE notes SET body = 'one' WHERE id = 1")
    keeper.backup()
    change(app_db, "UPDATE notes SET body = 'two' WHERE id = 2")

    progress: list[tuple[int, int]] = []
    full = keeper.backup(full=True, label="whole", progress=lambda done, total: progress.append((done, total)))
    assert full.incremental is None
    assert full.depends_on == []
    assert full.full_because == "a full backup was asked for"
    assert full.label == "whole"
    assert progress and progress[-1][0] == progress[-1][1]

    change(app_db, "UPDATE notes SET body = 'three' WHERE id = 3")
    after = keeper.backup()
    assert after.depends_on == [full.id], "the next incremental backup builds on the full one"
    keeper.restore(after.id, tmp_path / "after.db")
    assert dump(tmp_path / "after.db") == dump(app_db)


def test_full_is_keyword_only_and_a_bool(keeper: sqlkeep.Keeper) -> None:
    with pytest.raises(TypeError):
        keeper.backup(None, None, True)  # type: ignore[misc]
    with pytest.raises(TypeError):
        keeper.backup(full="yes")  # type: ignore[arg-type]


def test_without_incremental_every_backup_is_full(app_db: Path) -> None:
    with sqlkeep.Keeper(app_db, schedule="off") as k:
        assert k.config["incremental"] is False
        k.backup()
        change(app_db, "UPDATE notes SET body = 'x' WHERE id = 1")
        b = k.backup()
        assert b.incremental is None and b.depends_on == []
        assert k.stats()["incremental"] == 0


def test_export_writes_one_self_contained_gzip_file(keeper: sqlkeep.Keeper, app_db: Path, tmp_path: Path) -> None:
    keeper.backup()
    change(app_db, "UPDATE notes SET body = 'exported' WHERE id BETWEEN 10 AND 20")
    inc = keeper.backup()
    expected = dump(app_db)
    # Later changes are not in the export.
    change(app_db, "DELETE FROM notes WHERE id < 50")

    to = tmp_path / "out" / "app.sqlite3.gz"
    to.parent.mkdir()
    out = keeper.export(inc.id, to)

    assert out["id"] == inc.id
    assert out["path"] == to and isinstance(out["path"], Path)
    assert out["compression"] == "gzip"
    assert out["size_bytes"] == to.stat().st_size
    assert out["raw_size_bytes"] == inc.raw_size_bytes
    assert out["sha256"] == hashlib.sha256(to.read_bytes()).hexdigest()
    # Python's gzip module reads it: the database as it was at the backup.
    plain = tmp_path / "from-gzip.db"
    plain.write_bytes(gzip.decompress(to.read_bytes()))
    assert len(plain.read_bytes()) == inc.raw_size_bytes
    assert dump(plain) == expected
    # No temporary file is left beside it.
    assert sorted(p.name for p in to.parent.iterdir()) == ["app.sqlite3.gz"]


def test_export_takes_a_str_path_and_writes_zstd_too(keeper: sqlkeep.Keeper, app_db: Path, tmp_path: Path) -> None:
    b = keeper.backup()
    to = tmp_path / "app.sqlite3.zst"
    out = keeper.export(b.id, str(to))
    assert out["compression"] == "zstd"
    assert out["path"] == to
    assert to.read_bytes()[:4] == ZSTD_SKIPPABLE
    zstd = shutil.which("zstd")
    if zstd is not None:
        subprocess.run([zstd, "-q", "-d", str(to), "-o", str(tmp_path / "from-zstd.db")], check=True)
        assert dump(tmp_path / "from-zstd.db") == dump(app_db)


def test_export_never_overwrites_and_says_so(keeper: sqlkeep.Keeper, tmp_path: Path) -> None:
    b = keeper.backup()
    to = tmp_path / "app.sqlite3.gz"
    to.write_bytes(b"precious")
    with pytest.raises(sqlkeep.ConfigError) as info:
        keeper.export(b.id, to)
    assert "already exists" in str(info.value)
    assert str(to) in str(info.value)
    assert info.value.kind == "invalid_argument"
    assert info.value.operation == "export"
    assert info.value.hint
    assert to.read_bytes() == b"precious"


def test_export_errors(keeper: sqlkeep.Keeper, tmp_path: Path) -> None:
    b = keeper.backup()
    with pytest.raises(sqlkeep.ConfigError) as info:
        keeper.export(b.id, tmp_path / "app.sqlite3")
    assert ".gz or .zst" in str(info.value)
    assert not (tmp_path / "app.sqlite3").exists()
    with pytest.raises(sqlkeep.NotFoundError):
        keeper.export("app-20200101T000000Z-manual", tmp_path / "missing.sqlite3.gz")
    with pytest.raises(sqlkeep.NotFoundError):
        keeper.export(b.id, tmp_path / "no" / "such" / "folder.sqlite3.gz")
    with pytest.raises(TypeError, match="to must be a str or os.PathLike"):
        keeper.export(b.id, 42)  # type: ignore[arg-type]


def test_export_of_a_damaged_chain_writes_nothing(keeper: sqlkeep.Keeper, app_db: Path, tmp_path: Path) -> None:
    full = keeper.backup()
    change(app_db, "UPDATE notes SET body = 'x' WHERE id = 1")
    inc = keeper.backup()
    data = bytearray(full.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    full.path.write_bytes(bytes(data))
    to = tmp_path / "app.sqlite3.gz"
    with pytest.raises(sqlkeep.CorruptBackupError) as info:
        keeper.export(inc.id, to)
    assert info.value.operation == "export"
    assert not to.exists()
    assert list(tmp_path.glob("*.gz")) == []


def test_a_wrong_incremental_value_names_the_key(app_db: Path) -> None:
    with pytest.raises(TypeError, match="incremental must be a bool, not str"):
        sqlkeep.Keeper(app_db, incremental="yes")  # type: ignore[arg-type]
    with pytest.raises(sqlkeep.ConfigError) as info:
        sqlkeep.Keeper.from_config({"database": str(app_db), "incremental": "yes"})
    assert info.value.key == "incremental"
    assert "incremental" in str(info.value)
    with sqlkeep.Keeper(app_db, schedule="off") as k:
        with pytest.raises(TypeError, match="incremental"):
            k.configure(incremental=1)
        assert k.config["incremental"] is False, "nothing changed"


def test_incremental_is_turned_on_at_run_time(app_db: Path) -> None:
    with sqlkeep.Keeper(app_db, schedule="off") as k:
        k.backup()
        assert k.configure(incremental=True)["incremental"] is True
        # A backup taken without `incremental` kept no page hashes to compare with.
        full = k.backup()
        assert full.incremental is None
        change(app_db, "UPDATE notes SET body = 'x' WHERE id = 1")
        inc = k.backup()
        assert inc.depends_on == [full.id]
        k.configure(incremental=False)
        assert k.backup().incremental is None


def test_incremental_is_for_sqlite_only() -> None:
    with pytest.raises(sqlkeep.ConfigError) as info:
        sqlkeep.Keeper("postgresql://app@localhost:5432/app", incremental=True)
    assert info.value.key == "incremental"


def test_stats_count_incremental_backups_and_the_bytes_on_disk(keeper: sqlkeep.Keeper, app_db: Path) -> None:
    empty = keeper.stats()
    assert (empty["incremental"], empty["bytes_on_disk"], empty["raw_bytes"]) == (0, 0, 0)
    full = keeper.backup()
    incs = []
    for i in range(3):
        change(app_db, "UPDATE notes SET body = ? WHERE id = ?", f"v{i}", i + 1)
        incs.append(keeper.backup())
    stats = keeper.stats()
    assert stats["count"] == 4
    assert stats["incremental"] == 3
    assert stats["total_bytes"] == full.size_bytes + sum(b.size_bytes for b in incs)
    assert stats["raw_bytes"] == full.raw_size_bytes + sum(b.raw_size_bytes for b in incs)
    # The page hashes the next backup compares with are on disk too.
    assert stats["bytes_on_disk"] >= stats["total_bytes"]
    assert stats["raw_bytes"] > stats["bytes_on_disk"], "four databases for little more than one"


def test_deleting_the_full_backup_keeps_the_incremental_restorable(
    keeper: sqlkeep.Keeper, app_db: Path, tmp_path: Path, recorder: EventRecorder
) -> None:
    full = keeper.backup()
    change(app_db, "UPDATE notes SET body = 'kept' WHERE id = 5")
    inc = keeper.backup()
    expected = dump(app_db)
    keeper.on_event(recorder)

    deleted = keeper.delete(full.id)
    assert deleted.id == full.id
    recorder.wait_for("backup_deleted", where=lambda e: e["id"] == full.id)
    assert [b.id for b in keeper.list()] == [inc.id]
    assert not full.path.exists(), "the file is kept for the chain, not under its old name"

    # The record still names what it was built from.
    assert keeper.get(inc.id).depends_on == [full.id]
    assert keeper.verify(inc.id, full=True).ok
    to = tmp_path / "restored.db"
    keeper.restore(inc.id, to)
    assert dump(to) == expected
    out = keeper.export(inc.id, tmp_path / "inc.sqlite3.gz")
    assert out["raw_size_bytes"] == inc.raw_size_bytes
    stats = keeper.stats()
    assert stats["count"] == 1 and stats["incremental"] == 1
    assert stats["bytes_on_disk"] > stats["total_bytes"], "the full file is still on disk for the chain"


def test_restore_into_the_live_database_from_an_incremental_backup(keeper: sqlkeep.Keeper, app_db: Path) -> None:
    keeper.backup()
    change(app_db, "UPDATE notes SET body = 'wanted' WHERE id = 9")
    inc = keeper.backup()
    expected = dump(app_db)
    change(app_db, "DELETE FROM notes")

    safety = keeper.restore(inc.id)
    assert safety is not None and safety.kind == "pre-restore"
    assert dump(app_db) == expected


def test_a_long_export_releases_the_gil(tmp_path: Path) -> None:
    # Larger than big_db, so that the export lasts well over 10 * MAX_PAUSE.
    db = make_big_db(tmp_path / "big.db", 256)
    k = sqlkeep.Keeper(db, backup_dir=tmp_path / "b", incremental=True, schedule="off", verify_after_backup="quick")
    k.backup()
    change(db, "UPDATE blobs SET body = 'changed' WHERE id = 7")
    inc = k.backup()
    assert inc.depends_on
    to = tmp_path / "big.sqlite3.gz"
    with Ticker() as ticker:
        started = time.perf_counter()
        k.export(inc.id, os.fspath(to))
        finished = time.perf_counter()
    elapsed = finished - started
    pause = ticker.longest_pause(started, finished)
    print(f"\nGIL: export of {inc.raw_size_bytes / 1e6:.0f} MB took {elapsed:.2f} s; longest pause {pause * 1e3:.1f} ms")
    assert elapsed >= 10 * MAX_PAUSE, f"the export took only {elapsed:.2f} s: make the database larger"
    assert pause < MAX_PAUSE, f"a Python thread waited {pause * 1e3:.0f} ms for the GIL"
