"""Keeper.diff from Python: the core's counts for hand-made changes to a real database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import sqlkeep


def test_diff_counts_rows_and_schema_and_refuses_a_damaged_backup(db: Path) -> None:
    k = sqlkeep.Keeper(db, schedule="off")
    a = k.backup()
    assert k.diff(a.id)["identical"] is True
    con = sqlite3.connect(db)
    con.execute("DELETE FROM items WHERE id IN (1, 2, 3)")
    con.execute("UPDATE items SET qty = -1 WHERE id IN (10, 11)")
    con.execute("INSERT INTO items (name, qty) VALUES ('new', 1)")
    con.execute("CREATE INDEX items_name ON items(name)")
    con.execute("PRAGMA user_version = 8")
    con.commit()
    con.close()
    d = k.diff(a.id)
    assert d["identical"] is False
    assert d["to"] == str(db)
    (items,) = [t for t in d["tables"] if t["name"] == "items"]
    assert (items["added"], items["removed"], items["changed"]) == (1, 3, 2)
    assert items["rows"] == {"from": 200, "to": 198}
    assert d["schema"] == [{"type": "index", "name": "items_name", "change": "added"}]
    assert d["user_version"] == {"from": 7, "to": 8}
    rows = k.diff_rows(a.id, "items")
    assert [(r["change"], r["key"]["rowid"]) for r in rows] == [
        ("removed", 1), ("removed", 2), ("removed", 3), ("added", 201), ("changed", 10), ("changed", 11)
    ]
    assert rows[0]["to"] is None and rows[0]["from"]["name"] == "item 0"
    assert rows[4]["from"]["qty"] == 9 and rows[4]["to"]["qty"] == -1
    assert [r["key"]["rowid"] for r in k.diff_rows(a.id, "items", limit=2, offset=3)] == [201, 10]
    with pytest.raises(sqlkeep.NotFoundError):
        k.diff_rows(a.id, "nope")
    with pytest.raises(ValueError):
        k.diff_rows(a.id, "items", limit=-1)
    b = k.backup()
    assert k.diff(a.id, b.id)["tables"] == d["tables"]
    with pytest.raises(sqlkeep.NotFoundError):
        k.diff("app-20990101T000000Z-manual")
    data = b.path.read_bytes()
    b.path.write_bytes(data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1 :])
    with pytest.raises(sqlkeep.CorruptBackupError, match="was not compared"):
        k.diff(b.id)


def test_diff_file_compares_a_backup_file_anywhere(db: Path, tmp_path: Path) -> None:
    import shutil

    k = sqlkeep.Keeper(db, schedule="off")
    a = k.backup()
    stick = tmp_path / "stick"
    stick.mkdir()
    shutil.copy(a.path, stick / a.path.name)
    shutil.copy(a.path.parent / f"{a.id}.json", stick / f"{a.id}.json")
    con = sqlite3.connect(db)
    con.execute("DELETE FROM items WHERE id <= 5")
    con.commit()
    con.close()
    d = k.diff_file(stick / a.path.name)
    assert d["restore_preview"] == k.diff(a.id)["restore_preview"]
    assert "brings back 5 rows (items 5)" in d["restore_preview"]
    assert k.diff_file(str(stick / f"{a.id}.json"))["tables"] == d["tables"]
    with pytest.raises(sqlkeep.ConfigError, match="is not a sqlkeep backup file"):
        k.diff_file(stick / "notes.txt")
    with pytest.raises(TypeError):
        k.diff_file(42)  # type: ignore[arg-type]
