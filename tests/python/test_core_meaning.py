"""Meaning decided once in the core and only translated by the Python module: event
severity, the size formatter, the configuration's key types, backup file patterns and
the merge of runs with backups (``Keeper.timeline``)."""

from __future__ import annotations

import fnmatch
import logging
from pathlib import Path

import pytest

import sqlkeep

from conftest import EventRecorder


def test_events_carry_the_core_severity(keeper: sqlkeep.Keeper, recorder: EventRecorder) -> None:
    keeper.on_event(recorder)
    backup = keeper.backup(label="ok")
    with pytest.raises(sqlkeep.Error):
        keeper.backup(label="bad\x00label")
    keeper.delete(backup.id)
    by_type = {e["type"]: e["severity"] for e, _ in recorder.events}
    assert by_type["backup_started"] == "info"
    assert by_type["backup_succeeded"] == "success"
    assert by_type["backup_deleted"] == "info"
    assert set(by_type.values()) <= {"info", "success", "warning", "error"}


def test_the_logger_level_follows_the_severity(
    keeper: sqlkeep.Keeper, db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sqlkeep")
    db.unlink()
    with pytest.raises(sqlkeep.NotFoundError):
        keeper.backup()
    failed = [r for r in caplog.records if getattr(r, "sqlkeep_event", {}).get("type") == "backup_failed"]
    assert failed and failed[0].levelno == logging.ERROR
    assert failed[0].sqlkeep_event["severity"] == "error"


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (1_234_567, "1.2 MB"), (123_456, "123 kB"), (999_960, "1.0 MB")],
)
def test_format_size_is_the_core_formatter(n: int, text: str) -> None:
    assert sqlkeep.format_size(n) == text


def test_format_ago_is_the_core_wording() -> None:
    import datetime as dt

    now = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.timezone.utc)
    steps = [(dt.timedelta(seconds=30), "just now"), (dt.timedelta(minutes=12), "12 min ago"),
             (dt.timedelta(hours=3), "3 h ago"), (dt.timedelta(days=2), "2 days ago")]
    for back, text in steps:
        assert sqlkeep.format_ago(now - back, now) == text
    with pytest.raises(TypeError):
        sqlkeep.format_ago("yesterday", now)  # type: ignore[arg-type]


def test_format_size_rejects_what_is_not_a_size() -> None:
    with pytest.raises((TypeError, OverflowError)):
        sqlkeep.format_size(-1)
    with pytest.raises(TypeError):
        sqlkeep.format_size("12")  # type: ignore[arg-type]


def test_backup_file_patterns_match_real_backup_files(keeper: sqlkeep.Keeper) -> None:
    b = keeper.backup()
    names = [p.name for p in Path(b.path).parent.iterdir() if p.name.startswith(Path(b.path).name.split(".")[0])]
    assert names
    for name in names:
        assert any(fnmatch.fnmatch(name, p) for p in sqlkeep.BACKUP_FILE_PATTERNS), name


def test_configuration_types_come_from_the_core_key_table(db: Path) -> None:
    with pytest.raises(TypeError, match="catch_up must be a bool, not"):
        sqlkeep.Keeper(db, catch_up="yes")
    with pytest.raises(TypeError, match="compression_level must be an int or None"):
        sqlkeep.Keeper(db, compression_level="high")
    with pytest.raises(TypeError, match="schedule must be a str"):
        sqlkeep.Keeper(db, schedule=2)
    with pytest.raises(sqlkeep.ConfigError, match="did you mean"):
        sqlkeep.Keeper(db).configure(schedul="02:00")
    assert "retention" in sqlkeep.CONFIG_KEYS


def test_timeline_merges_runs_with_the_backups_present(keeper: sqlkeep.Keeper, db: Path) -> None:
    first = keeper.backup(label="first")
    second = keeper.backup(label="second")
    keeper.verify(second.id)
    keeper.delete(first.id)
    db.rename(db.with_suffix(".gone"))
    with pytest.raises(sqlkeep.Error):
        keeper.backup()
    db.with_suffix(".gone").rename(db)

    rows = keeper.timeline()
    assert [r["status"] for r in rows] == ["failed", "verified"]
    assert rows[1]["id"] == second.id
    assert rows[1]["time"] == second.created_at, "a present backup shows when it was taken"
    with_deleted = keeper.timeline(include_deleted=True)
    assert [r["status"] for r in with_deleted] == ["failed", "verified", "deleted"]
    # A backup whose run is older than the window still has its row.
    assert [r["id"] for r in keeper.timeline(limit=1)] == [rows[0]["id"], second.id]
    assert set(rows[0]) == set(keeper.history()[0])
