"""The exception tree, the mapping of core errors onto it, and bad input."""

from __future__ import annotations

import os
import pathlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import sqlkeep


def test_the_exception_tree() -> None:
    assert issubclass(sqlkeep.Error, Exception)
    for cls in (
        sqlkeep.ConfigError,
        sqlkeep.BackupError,
        sqlkeep.CorruptBackupError,
        sqlkeep.RestoreError,
        sqlkeep.NotFoundError,
        sqlkeep.BusyError,
        sqlkeep.EncryptionKeyError,
        sqlkeep.RemoteError,
        sqlkeep.CancelledError,
        sqlkeep.PostgresError,
    ):
        assert issubclass(cls, sqlkeep.Error), cls
        assert cls.__module__ == "sqlkeep"
        assert cls.__doc__
    assert issubclass(sqlkeep.ConfigError, ValueError)
    assert issubclass(sqlkeep.NotFoundError, KeyError)
    assert not issubclass(sqlkeep.BackupError, ValueError)
    # Raised by Python code, the attributes exist and are None.
    e = sqlkeep.BusyError("by hand")
    assert (e.kind, e.operation, e.key, e.hint, e.path) == (None, None, None, None, None)


def test_config_error_names_the_key(db: Path) -> None:
    with pytest.raises(sqlkeep.ConfigError) as e:
        sqlkeep.Keeper(db, schedule="25:00")
    assert isinstance(e.value, ValueError)
    assert e.value.key == "schedule"
    assert e.value.kind == "config" and e.value.operation == "config"
    assert "HH:MM" in str(e.value) and "schedule" in str(e.value)


@pytest.mark.parametrize(
    ("kwargs", "key", "text"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone", "IANA"),
        ({"compression_level": 12}, "compression_level", "0 to 9"),
        ({"compression": "zstd", "compression_level": 20}, "compression_level", "1 to 19"),
        ({"compression": "lzma"}, "compression", "gzip"),
        ({"verify_after_backup": "always"}, "verify_after_backup", "quick"),
        ({"retention": {"daily": -1}}, "retention.daily", "negative"),
        ({"retention": {"dayly": 1}}, "retention.dayly", "did you mean `daily`"),
        ({"retention": {"daily": "30"}}, "retention.daily", "whole number"),
        ({"test_restore_every_days": -3}, "test_restore_every_days", "negative"),
        ({"compression_level": 10**30}, "compression_level", "too large"),
        ({"schedule": "61 * * * *"}, "schedule", "cron"),
        ({"backup_dir": ""}, "backup_dir", "empty"),
    ],
)
def test_bad_values_are_config_errors_with_the_cores_message(
    db: Path, kwargs: dict[str, Any], key: str, text: str
) -> None:
    with pytest.raises(sqlkeep.ConfigError) as e:
        sqlkeep.Keeper(db, **kwargs)
    assert e.value.key == key
    assert text in str(e.value)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"schedule": 2}, "schedule"),
        ({"timezone": None, "schedule": b"02:00"}, "schedule"),
        ({"catch_up": "yes"}, "catch_up"),
        ({"catch_up": 1}, "catch_up"),
        ({"backup_on_shutdown": None, "compression_level": True}, "compression_level"),
        ({"compression_level": 6.0}, "compression_level"),
        ({"test_restore_every_days": "7"}, "test_restore_every_days"),
        ({"retention": [30, 12]}, "retention"),
        ({"backup_dir": 42}, "backup_dir"),
        ({"verify_after_backup": False}, "verify_after_backup"),
    ],
)
def test_wrong_types_are_type_errors_naming_the_argument(
    db: Path, kwargs: dict[str, Any], name: str
) -> None:
    with pytest.raises(TypeError, match=name):
        sqlkeep.Keeper(db, **kwargs)


def test_wrong_types_elsewhere(keeper: sqlkeep.Keeper) -> None:
    with pytest.raises(TypeError):
        sqlkeep.Keeper(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="config"):
        sqlkeep.Keeper.from_config("app.db")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="keys"):
        sqlkeep.Keeper.from_config({"database": "a.db", "retention": {1: 2}})
    with pytest.raises(TypeError, match="no JSON form"):
        sqlkeep.Keeper.from_config({"database": "a.db", "schedule": {"02:00"}})
    with pytest.raises(TypeError):
        keeper.backup(label=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="progress"):
        keeper.backup(progress=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        keeper.verify(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callback"):
        keeper.on_event("not callable")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="schedule"):
        keeper.configure(schedule=3)
    with pytest.raises(TypeError, match="to"):
        keeper.restore("x", to=3.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        keeper.upcoming_runs(after="tomorrow")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit"):
        keeper.history(limit=-1)


def test_from_config_values_are_validated_by_the_core(tmp_path: Path) -> None:
    with pytest.raises(sqlkeep.ConfigError, match="expected a string") as e:
        sqlkeep.Keeper.from_config({"database": str(tmp_path / "a.db"), "schedule": 2})
    assert e.value.key == "schedule"
    with pytest.raises(sqlkeep.ConfigError, match="required") as e:
        sqlkeep.Keeper.from_config({"backup_dir": "b"})
    assert e.value.key == "database"
    with pytest.raises(sqlkeep.ConfigError, match="did you mean `retention`"):
        sqlkeep.Keeper.from_config({"database": "a.db", "retention_day": 3})


def test_not_found_error_is_a_key_error_with_a_plain_message(keeper: sqlkeep.Keeper) -> None:
    for call in (keeper.get, keeper.verify, keeper.delete, keeper.restore):
        with pytest.raises(sqlkeep.NotFoundError) as e:
            call("app-20200101T000000Z-manual")
        assert isinstance(e.value, KeyError)
        assert e.value.kind == "not_found"
        assert not str(e.value).startswith("'"), "not KeyError's quoted form"
        assert "app-20200101T000000Z-manual" in str(e.value)


def test_backup_of_a_missing_database(tmp_path: Path) -> None:
    k = sqlkeep.Keeper(tmp_path / "missing.db")
    with pytest.raises(sqlkeep.NotFoundError, match="does not exist") as e:
        k.backup()
    assert e.value.hint is not None and "database" in e.value.hint
    assert e.value.operation == "backup"


def test_backup_error_carries_kind_operation_path(db: Path, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("a file where the backup directory should be")
    k = sqlkeep.Keeper(db, backup_dir=not_a_dir)
    with pytest.raises(sqlkeep.BackupError) as e:
        k.backup()
    assert e.value.kind == "io" and e.value.operation == "backup"
    assert isinstance(e.value.path, pathlib.Path)
    assert str(not_a_dir) in str(e.value)


def test_source_that_is_not_a_database_is_corrupt(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"this is not an SQLite database" * 200)
    with pytest.raises(sqlkeep.CorruptBackupError) as e:
        sqlkeep.Keeper(bogus).backup()
    assert e.value.kind == "corrupt"


def test_restore_of_a_damaged_backup_raises_and_leaves_the_database(
    keeper: sqlkeep.Keeper, db: Path
) -> None:
    b = keeper.backup()
    before = db.read_bytes()
    data = bytearray(b.path.read_bytes())
    data[len(data) // 3] ^= 0x55
    b.path.write_bytes(bytes(data))
    with pytest.raises(sqlkeep.CorruptBackupError, match="damaged") as e:
        keeper.restore(b.id)
    assert e.value.operation == "restore"
    assert e.value.hint is not None
    assert db.read_bytes() == before


def test_restore_error(keeper: sqlkeep.Keeper, tmp_path: Path) -> None:
    b = keeper.backup()
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    with pytest.raises(sqlkeep.RestoreError) as e:
        keeper.restore(b.id, to=blocker / "restored.db")
    assert e.value.operation == "restore" and e.value.kind == "io"


def test_invalid_arguments_are_config_errors(keeper: sqlkeep.Keeper) -> None:
    with pytest.raises(sqlkeep.ConfigError, match="label") as e:
        keeper.backup(label="bad\x00label")
    assert e.value.kind == "invalid_argument"
    with pytest.raises(sqlkeep.ConfigError, match="label"):
        keeper.backup(label="x" * 1001)


def test_busy_error_when_the_app_holds_a_write_transaction(keeper: sqlkeep.Keeper, db: Path) -> None:
    """The restore waits for the application's write transaction and gives up with
    BusyError rather than writing under it: sqlkeep and Python's sqlite3 share one SQLite
    library and so see each other's locks within this process."""
    b = keeper.backup()
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    con.execute("INSERT INTO items (name, qty) VALUES ('uncommitted', 1)")
    with pytest.raises(sqlkeep.BusyError) as e:
        keeper.restore(b.id)
    assert e.value.kind == "busy" and e.value.operation == "restore"
    assert e.value.hint
    con.execute("COMMIT")
    assert con.execute("SELECT count(*) FROM items").fetchone() == (201,)
    keeper.restore(b.id)
    assert con.execute("SELECT count(*) FROM items").fetchone() == (200,)
    con.close()


def test_pathlike_arguments(db: Path, tmp_path: Path) -> None:
    class Where(os.PathLike):  # type: ignore[type-arg]
        def __init__(self, p: Path) -> None:
            self.p = p

        def __fspath__(self) -> str:
            return str(self.p)

    k = sqlkeep.Keeper(Where(db), backup_dir=Where(tmp_path / "bk"))
    b = k.backup()
    assert k.restore(b.id, to=Where(tmp_path / "out.db")) is None
    assert (tmp_path / "out.db").is_file()
