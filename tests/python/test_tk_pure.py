"""The parts of ``sqlkeep.tk`` that need no display: formatting, notifications from event
dicts, the history rows, the status texts, the settings forms and the worker-thread
bridge. Run with the rest of tests/python, with or without CustomTkinter installed; the
view itself is tested under Xvfb in tests/tk."""

from __future__ import annotations

import datetime
import functools
import json
import logging
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import sqlkeep
from sqlkeep.tk import TIMEZONES, HistoryRow, format_duration, format_size
from sqlkeep.tk.bridge import WorkerBridge
from sqlkeep.tk.format import format_run, format_time
from sqlkeep.tk.notices import LEVELS, REFRESH_EVENTS, notice
from sqlkeep.tk.rows import (
    build_rows,
    delete_question,
    dependents,
    depends_on_text,
    describe,
    restorable_tables,
)
from sqlkeep.tk.settings import (
    RETENTION_FIELDS,
    SIZE_FIELD,
    WITHIN_FIELD,
    FieldError,
    encryption_setting,
    encryption_text,
    incremental_notice,
    new_key_text,
    next_runs_text,
    parse_retention,
    retention_differs,
    retention_field,
    rotation_preview_text,
    size_field_text,
    use_key_question,
)
from sqlkeep.tk.status import (
    STATS_TILES,
    VERDICT_NAMES,
    backups_failing,
    health_text,
    read_state,
    scheduler_text,
    stats_texts,
)

from conftest import EventRecorder, make_db

UTC = datetime.timezone.utc
PURE_MODULES = ("bridge", "format", "notices", "rows", "settings", "status")


# ------------------------------------------------------------------- the package


def test_the_pure_modules_import_without_tkinter() -> None:
    code = (
        "import json, sys\n"
        "import sqlkeep.tk\n"
        + "".join(f"import sqlkeep.tk.{m}\n" for m in PURE_MODULES)
        + "print(json.dumps(sorted(sys.modules)))\n"
    )
    # Outside the source tree, so `sqlkeep` is the installed package, as for a user.
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd="/", timeout=60
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert not {m for m in loaded if m.split(".")[0] in ("tkinter", "_tkinter", "customtkinter")}
    assert "sqlkeep.tk.view" not in loaded, "the view is imported only when BackupView is asked for"


def test_the_package_exports_what_tk_py_exported() -> None:
    from sqlkeep import tk

    assert sorted(tk.__all__) == ["BackupView", "HistoryRow", "TIMEZONES", "format_duration", "format_size"]
    assert "BackupView" in dir(tk)
    with pytest.raises(AttributeError):
        tk.no_such_name  # noqa: B018


# ------------------------------------------------------------------- formatting


@pytest.mark.parametrize("n", [0, 1, 999, 1000, 1049, 99_949, 99_950, 123_456, 999_949, 999_960, 10**9, 7 * 10**13])
def test_format_size_is_the_core_formatter(n: int) -> None:
    assert format_size(n) == sqlkeep.format_size(n)


def test_format_size_of_no_size_is_a_dash() -> None:
    assert format_size(None) == "—"


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "—"),
        (0, "0 ms"),
        (850, "850 ms"),
        (1000, "1.0 s"),
        (12_340, "12.3 s"),
        (59_949, "59.9 s"),
        (60_000, "1 min 00 s"),
        (125_000, "2 min 05 s"),
        (3_599_400, "59 min 59 s"),
        (3_725_000, "1 h 02 min"),
    ],
)
def test_format_duration(ms: int | None, text: str) -> None:
    assert format_duration(ms) == text


def test_format_time_shows_a_recorded_instant_in_local_time() -> None:
    t = datetime.datetime(2026, 11, 23, 10, 58, 30, tzinfo=UTC)
    assert format_time(t) == t.astimezone().strftime("%Y-%m-%d %H:%M")
    assert format_time(None) == "—"


@pytest.mark.parametrize(
    ("zone", "after", "text"),
    [
        ("UTC", datetime.datetime(2026, 1, 1, tzinfo=UTC), "Thu 2026-01-01 02:00 UTC"),
        ("Asia/Kolkata", datetime.datetime(2026, 1, 1, tzinfo=UTC), "Fri 2026-01-02 02:00 UTC+05:30"),
        ("America/New_York", datetime.datetime(2026, 7, 1, 12, tzinfo=UTC), "Thu 2026-07-02 02:00 UTC-04:00"),
        ("Europe/Berlin", datetime.datetime(2026, 1, 5, tzinfo=UTC), "Mon 2026-01-05 02:00 UTC+01:00"),
    ],
)
def test_format_run_writes_a_schedule_instant_in_its_zone(zone: str, after: datetime.datetime, text: str) -> None:
    (run,) = sqlkeep.preview_schedule("02:00", zone, 1, after=after)
    assert format_run(run, zone) == text


def test_format_run_in_local_time_has_no_offset() -> None:
    (run,) = sqlkeep.preview_schedule("02:00", "local", 1)
    assert format_run(run, "local") == f"{run:%a} {run:%Y-%m-%d} 02:00"


# ------------------------------------------------------------------ notifications


def _events(recorder: EventRecorder, type_: str) -> list[dict[str, Any]]:
    return [e for e, _ in recorder.events if e["type"] == type_]


def test_notices_of_a_real_keepers_events_take_the_core_severity(
    keeper: sqlkeep.Keeper, db: Path, recorder: EventRecorder
) -> None:
    keeper.on_event(recorder)
    good = keeper.backup(label="before import")
    keeper.verify(good.id)
    damaged = keeper.backup()
    data = bytearray(damaged.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.path.write_bytes(bytes(data))
    keeper.verify(damaged.id)
    keeper.delete(damaged.id)
    db.rename(db.with_suffix(".gone"))
    with pytest.raises(sqlkeep.NotFoundError):
        keeper.backup()

    said = {e["type"]: notice(e) for e, _ in recorder.events}
    succeeded = _events(recorder, "backup_succeeded")[0]
    assert notice(succeeded) == (
        "success",
        (
            f"Manual backup “before import” succeeded: {sqlkeep.format_size(succeeded['size_bytes'])}"
            f" in {format_duration(succeeded['duration_ms'])}."
        ),
    )
    level, text = said["backup_failed"]  # type: ignore[misc]
    assert level == "error"
    assert text.startswith("Manual backup failed: ") and str(db) in text
    assert said["backup_started"] is None and said["backup_deleted"] is None
    passed, corrupt = _events(recorder, "verify_finished")
    assert notice(passed) is None, "a verification that passed is no news"
    assert notice(corrupt) == ("error", f"Backup {damaged.id} failed verification: {corrupt['detail']}")
    for e, _ in recorder.events:
        n = notice(e)
        assert n is None or n[0] == e["severity"] in LEVELS


def test_a_rotation_that_deletes_is_an_info_notice(db: Path, recorder: EventRecorder) -> None:
    with sqlkeep.Keeper(db, schedule="off", backup_on_shutdown=True) as keeper:
        for _ in range(2):
            keeper.start()
            keeper.stop()
        keeper.on_event(recorder)
        keeper.configure(retention={"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0, "yearly": 0})
        assert len(keeper.rotate(dry_run=True).deleted) == 1
        plan = keeper.rotate()
    dry, real = _events(recorder, "rotation_finished")
    assert notice(dry) is None
    assert notice(real) == ("info", f"Rotation deleted 1 old backup ({sqlkeep.format_size(plan.freed_bytes)}).")


@pytest.mark.parametrize("severity", ["info", "success", "warning", "error"])
def test_the_level_is_the_events_severity_not_the_views_guess(severity: str) -> None:
    # The same event with each severity the core may give: the level follows it.
    e = {
        "type": "backup_failed",
        "time": datetime.datetime(2026, 3, 1, 2, 0, tzinfo=UTC),
        "id": None,
        "kind": "scheduled",
        "label": None,
        "error": "disk full",
        "error_kind": "storage_full",
        "duration_ms": 5,
        "retry_at": datetime.datetime(2026, 3, 1, 2, 5, tzinfo=UTC),
        "severity": severity,
    }
    level, text = notice(e)  # type: ignore[misc]
    assert level == severity
    retry = e["retry_at"].astimezone().strftime("%H:%M")  # type: ignore[attr-defined]
    assert text == f"Scheduled backup failed: disk full Retrying at {retry}."


def test_a_backup_that_failed_verification_says_so() -> None:
    e = {
        "type": "backup_succeeded",
        "id": "app-20260301T020000Z-scheduled",
        "kind": "scheduled",
        "label": None,
        "size_bytes": 1_234_567,
        "raw_size_bytes": 4_000_000,
        "duration_ms": 850,
        "verified": False,
        "severity": "error",
    }
    assert notice(e) == ("error", "Scheduled backup succeeded: 1.2 MB in 850 ms. It failed verification.")


def test_a_rotation_failure_and_a_test_restore_failure_are_error_notices() -> None:
    at = datetime.datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    rotation = {"type": "rotation_failed", "time": at, "error": "cannot delete x", "error_kind": "io"}
    assert notice({**rotation, "severity": "error"}) == ("error", "Automatic rotation failed: cannot delete x")
    tested = {"type": "test_restore_failed", "time": at, "id": None, "error": "locked", "error_kind": "busy"}
    assert notice({**tested, "severity": "error"}) == ("error", "Test restore failed: locked")
    chosen = {**tested, "id": "app-20260301T020000Z-scheduled", "severity": "error"}
    assert notice(chosen) == ("error", "Test restore failed (backup app-20260301T020000Z-scheduled): locked")
    assert {"rotation_failed", "test_restore_failed"} <= REFRESH_EVENTS


def test_a_retention_warning_is_a_warning_notice_with_the_cores_message(
    keeper: sqlkeep.Keeper, recorder: EventRecorder
) -> None:
    keeper.configure(schedule="0 * * * *", timezone="UTC", retention={"hourly": 24})
    keeper.on_event(recorder)
    keeper.configure(retention={"hourly": 0})
    (e,) = _events(recorder, "retention_warning")
    assert notice(e) == ("warning", f"Retention: {e['message']}")
    assert e["severity"] == "warning"


def _block_deletion(backup: sqlkeep.Backup) -> None:
    """Makes deleting `backup` fail for real, for root too: a non-empty directory where
    each of its other possible files would be."""
    for pattern in sqlkeep.BACKUP_FILE_PATTERNS:
        path = backup.path.parent / pattern.replace("*", backup.id)
        if not path.exists():
            path.mkdir()
            (path / "keep").write_text("x")


def test_a_real_rotation_failure_is_noticed_and_shown_among_the_health_reasons(
    db: Path, recorder: EventRecorder
) -> None:
    retention = {"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0, "yearly": 0}
    with sqlkeep.Keeper(
        db, schedule="off", backup_on_shutdown=True, test_restore_every_days=0, retention=retention
    ) as keeper:
        keeper.start()
        keeper.stop()
        (old,) = keeper.list()
        _block_deletion(old)
        keeper.on_event(recorder)
        # A daily slot that has passed: the scheduler catches it up at start, then rotates.
        keeper.configure(schedule="00:00", timezone="UTC")
        keeper.start()
        failed, _ = recorder.wait_for("rotation_failed")
        level, text = notice(failed)  # type: ignore[misc]
        assert (level, failed["severity"]) == ("error", "error")
        assert text == f"Automatic rotation failed: {failed['error']}"
        assert old.id in failed["error"]
        keeper.stop()
        recorder.wait_for("scheduler_stopped")

        assert keeper.stats()["rotation_failures"] == 1
        # The core's verdict carries it (the view shows no line of its own for it).
        line = health_text(keeper.health())
        assert line.startswith("Needs attention · "), line
        assert "• the last automatic rotation failed " in line and failed["error"] in line, line


def test_the_health_line_is_the_cores_verdict_headline_and_reasons(keeper: sqlkeep.Keeper) -> None:
    health = keeper.health()
    assert health_text(health) == (
        f"Needs attention · {health['headline']}\n• no backup has been made yet"
    )
    keeper.backup()
    health = keeper.health()
    assert health_text(health) == f"Healthy · {health['headline']}"
    assert set(VERDICT_NAMES) == {"ok", "warning", "failing"}


# ------------------------------------------------------------------- history rows


def test_rows_are_the_core_timeline_with_the_backups_attached(keeper: sqlkeep.Keeper, db: Path) -> None:
    first = keeper.backup(label="first")
    second = keeper.backup(label="second")
    keeper.delete(first.id)
    db.rename(db.with_suffix(".gone"))
    with pytest.raises(sqlkeep.Error):
        keeper.backup(label="failed")
    db.with_suffix(".gone").rename(db)

    timeline = keeper.timeline(include_deleted=True)
    rows = build_rows(timeline, keeper.list())
    assert [(r.status, r.backup_id, r.time) for r in rows] == [(t["status"], t["id"], t["time"]) for t in timeline]
    assert [r.status for r in rows] == ["failed", "verified", "deleted"]
    failed, present, deleted = rows
    assert failed.iid == "run-0" and failed.backup is None and failed.error
    assert present.iid == second.id and present.backup == second
    assert present.time == second.created_at
    assert deleted.iid == "run-2" and deleted.backup_id == first.id and deleted.backup is None
    assert len({r.iid for r in rows}) == len(rows), "the table needs unique row ids"
    assert present.values() == (
        second.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
        "manual",
        "second",
        sqlkeep.format_size(second.size_bytes),
        format_duration(second.duration_ms),
        "verified",
    )
    assert failed.values()[3] == "—", "a failed run has no size"
    assert describe(present) == f"{format_time(second.created_at)} (manual, “second”)"


def test_a_backup_older_than_the_window_keeps_its_row(keeper: sqlkeep.Keeper) -> None:
    old = keeper.backup(label="old")
    new = keeper.backup(label="new")
    state = read_state(keeper, include_deleted=False, limit=1)
    assert [(r.iid, r.backup) for r in state.rows] == [(new.id, new), (old.id, old)]
    assert isinstance(state.rows[0], HistoryRow)
    assert state.stats["count"] == 2
    assert state.status["running"] is False


def test_an_encrypted_backup_is_marked_in_its_row(keeper: sqlkeep.Keeper, tmp_path: Path) -> None:
    clear = keeper.backup(label="clear")
    key = sqlkeep.keygen(tmp_path / "key.txt")
    keeper.configure(encryption=encryption_setting(key))
    sealed = keeper.backup(label="sealed")
    rows = {r.backup_id: r for r in read_state(keeper, include_deleted=False).rows}
    assert rows[sealed.id].encrypted and not rows[clear.id].encrypted
    assert rows[sealed.id].values()[5] == "verified, encrypted"
    assert rows[clear.id].values()[5] == "verified"


def _touch(db: Path, n: int) -> None:
    con = sqlite3.connect(db)
    con.execute("UPDATE items SET qty = qty + 1000 WHERE id = ?", (n,))
    con.commit()
    con.close()


def test_an_incremental_backups_row_shows_the_bytes_it_added_and_what_it_builds_on(tmp_path: Path) -> None:
    db = make_db(tmp_path / "app.db", rows=5000)
    with sqlkeep.Keeper(db, schedule="off", incremental=True) as keeper:
        full = keeper.backup(label="base")
        _touch(db, 1)
        first = keeper.backup()
        _touch(db, 2)
        second = keeper.backup(label="second")
        assert second.depends_on == [full.id, first.id]
        rows = {r.backup_id: r for r in read_state(keeper, include_deleted=False).rows}

        top, middle, base = rows[second.id], rows[first.id], rows[full.id]
        assert top.incremental and middle.incremental and not base.incremental
        # The bytes it added (the core's size), and "incremental" in the status.
        assert top.values()[3] == "+" + sqlkeep.format_size(second.size_bytes)
        assert top.values()[5] == "verified, incremental"
        assert base.values()[3] == sqlkeep.format_size(full.size_bytes)
        assert base.values()[5] == "verified"
        assert len(top.values()) == 6
        # What it is rebuilt from, by the backups' times.
        assert top.builds_on == f"the full backup of {format_time(full.created_at)} and 1 incremental backup after it"
        assert middle.builds_on == f"the full backup of {format_time(full.created_at)}"
        assert base.builds_on is None and base.detail == ""
        assert top.detail == (
            f"Incremental backup: adds {sqlkeep.format_size(second.size_bytes)} to {top.builds_on}; "
            f"restores to a database of {sqlkeep.format_size(second.raw_size_bytes)}."
        )

        # The full backup and the first incremental one are needed by the later ones:
        # deleting them keeps their files, and the question says so.
        backups = keeper.list()
        assert dependents(full.id, backups) == [second, first]
        assert dependents(first.id, backups) == [second]
        assert dependents(second.id, backups) == []
        asked = delete_question(base, backups)
        assert asked.startswith(f"Delete the backup taken {describe(base)}?")
        assert "2 incremental backups are rebuilt from its file" in asked and "kept for them" in asked
        assert "1 incremental backup is rebuilt" in delete_question(middle, backups)
        plain = delete_question(top, backups)
        assert f"Its file {second.path.name} ({sqlkeep.format_size(second.size_bytes)}) and manifest are removed" in plain

        # Once the full backup is deleted, the row still says what it builds on.
        keeper.delete(full.id)
        rows = {r.backup_id: r for r in read_state(keeper, include_deleted=False).rows}
        assert rows[second.id].builds_on == (
            "a deleted full backup (its file is kept for this one) and 1 incremental backup after it"
        )
        assert depends_on_text(keeper.get(first.id), {}) == "a deleted full backup (its file is kept for this one)"


def test_an_incremental_row_that_is_also_encrypted_says_both(tmp_path: Path) -> None:
    db = make_db(tmp_path / "app.db", rows=5000)
    key = sqlkeep.keygen(tmp_path / "key.txt")
    with sqlkeep.Keeper(db, schedule="off", incremental=True, encryption=encryption_setting(key)) as keeper:
        keeper.backup()
        _touch(db, 1)
        inc = keeper.backup()
        assert inc.encrypted and inc.depends_on
        (row, _) = read_state(keeper, include_deleted=False).rows
        assert row.values()[5] == "verified, encrypted, incremental"


def test_incremental_notice() -> None:
    assert incremental_notice(True).startswith("Incremental backups on:")
    assert incremental_notice(False) == "Incremental backups off: every new backup is a full copy."


def test_read_state_hides_deleted_runs_unless_asked(keeper: sqlkeep.Keeper) -> None:
    gone = keeper.backup()
    keeper.delete(gone.id)
    assert read_state(keeper, include_deleted=False).rows == []
    (row,) = read_state(keeper, include_deleted=True).rows
    assert (row.status, row.backup_id, row.backup) == ("deleted", gone.id, None)


# ------------------------------------------------------------ statistics, status


def test_stats_texts_and_a_failing_last_backup(keeper: sqlkeep.Keeper, db: Path) -> None:
    empty = stats_texts(keeper.stats())
    assert set(empty) == {key for key, _ in STATS_TILES}
    assert empty == {
        "count": "0",
        "total_bytes": sqlkeep.format_size(0),
        "oldest": "—",
        "newest": "—",
        "last_success": "—",
        "last_failure": "—",
    }
    b = keeper.backup()
    texts = stats_texts(keeper.stats())
    assert texts["count"] == "1"
    assert texts["total_bytes"] == sqlkeep.format_size(b.size_bytes)
    assert texts["newest"] == format_time(b.created_at)
    assert not backups_failing(keeper.stats())
    # Times are recorded to the millisecond: apart, so which came last is known.
    time.sleep(0.01)
    db.rename(db.with_suffix(".gone"))
    with pytest.raises(sqlkeep.Error):
        keeper.backup()
    assert backups_failing(keeper.stats())
    db.with_suffix(".gone").rename(db)
    time.sleep(0.01)
    keeper.backup()
    assert not backups_failing(keeper.stats()), "a success since the failure"


def test_scheduler_text(db: Path) -> None:
    with sqlkeep.Keeper(db, schedule="off") as keeper:
        assert scheduler_text(keeper.status(), "local") == "Scheduler stopped"
        keeper.start()
        try:
            assert scheduler_text(keeper.status(), "local") == "Scheduler running · automatic backups off"
            keeper.configure(schedule="23:59", timezone="UTC")
            status = keeper.status()
            next_run = format_run(status["next_run"], "UTC")
            assert scheduler_text(status, "UTC") == f"Scheduler running · next backup {next_run}"
            retry = datetime.datetime(2026, 3, 1, 2, 5, tzinfo=UTC)
            retrying = scheduler_text({**status, "retry_at": retry}, "UTC")
            assert retrying == "Scheduler running · retry Sun 2026-03-01 02:05 UTC"
        finally:
            keeper.stop()


# ----------------------------------------------------------------- settings forms


def test_parse_retention_reads_whole_numbers_and_the_span() -> None:
    texts = {
        "hourly": "24",
        "daily": " 7 ",
        "weekly": "4",
        "monthly": "0",
        "yearly": "10",
        "keep_within": " 36h ",
        "max_total_bytes": " 2 GB ",
    }
    assert parse_retention(texts) == {
        "hourly": 24,
        "daily": 7,
        "weekly": 4,
        "monthly": 0,
        "yearly": 10,
        "keep_within": "36h",
        "max_total_bytes": "2 GB",
    }
    assert RETENTION_FIELDS == ("hourly", "daily", "weekly", "monthly", "yearly")
    assert WITHIN_FIELD == "keep_within"


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_within_field_is_no_such_rule(empty: str) -> None:
    texts = {"hourly": "0", "daily": "7", "weekly": "4", "monthly": "0", "yearly": "0", "keep_within": empty, "max_total_bytes": empty}
    assert parse_retention(texts)["keep_within"] is None
    assert parse_retention(texts)["max_total_bytes"] is None


def test_the_span_is_the_cores_to_check(keeper: sqlkeep.Keeper) -> None:
    texts = {
        "hourly": "0",
        "daily": "7",
        "weekly": "4",
        "monthly": "0",
        "yearly": "0",
        "keep_within": "7 days",
        "max_total_bytes": "",
    }
    values = parse_retention(texts)
    assert values["keep_within"] == "7 days", "sent as typed"
    with pytest.raises(sqlkeep.ConfigError) as raised:
        keeper.preview_rotation(values)
    assert retention_field(raised.value.key) == "keep_within"
    assert retention_field("retention.daily") == "daily"
    assert retention_field("retention.max_total_bytes") == "max_total_bytes"
    assert retention_field("retention.keep_last") is None, "not a field of the form"
    assert retention_field("schedule") is None and retention_field(None) is None


@pytest.mark.parametrize("bad", ["-1", "", "1.5", "seven", "²", "１"])
def test_parse_retention_names_the_first_bad_field(bad: str) -> None:
    with pytest.raises(FieldError) as raised:
        parse_retention(
            {
                "hourly": "0",
                "daily": "7",
                "weekly": bad,
                "monthly": "x",
                "yearly": "1",
                "keep_within": "x",
                "max_total_bytes": "x",
            }
        )
    assert raised.value.key == "weekly"
    assert str(raised.value) == "Weekly: enter a whole number of 0 or more."


def test_next_runs_text() -> None:
    after = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    runs = sqlkeep.preview_schedule("30 2 * * 1-5", "UTC", 3, after=after)
    assert next_runs_text("30 2 * * 1-5", "UTC", runs) == (
        "Thu 2026-01-01 02:30 UTC\nFri 2026-01-02 02:30 UTC\nMon 2026-01-05 02:30 UTC"
    )
    assert next_runs_text("off", "UTC", []) == "Automatic backups are off."
    assert "UTC" in TIMEZONES and "local" in TIMEZONES


def test_encryption_text_says_whether_and_to_how_many_keys() -> None:
    assert encryption_text(None) == "Off: new backups are not encrypted."
    one = {"recipients": ["age1x"], "identity_file": "/keys/app-key.txt"}
    assert encryption_text(one) == "On: new backups are encrypted to 1 key."
    two = {"recipients": ["age1x", "age1y"]}
    assert encryption_text(two) == "On: encrypted to 2 keys (no key file here to restore)."
    assert encryption_text({"passphrase_env": "APP_PASSPHRASE"}) == (
        "On: encrypted with the passphrase in $APP_PASSPHRASE."
    )


def test_the_texts_and_setting_of_a_new_key_from_a_real_keygen(tmp_path: Path, db: Path) -> None:
    made = sqlkeep.keygen(tmp_path / "key.txt")
    text = new_key_text(made)
    assert str(tmp_path / "key.txt") in text
    assert f"\n{made['public_key']}\n" in text
    assert text.endswith(f"Important: {sqlkeep.KEYGEN_WARNING}.")

    setting = encryption_setting(made)
    assert setting == {"recipients": [made["public_key"]], "identity_file": str(tmp_path / "key.txt")}
    with sqlkeep.Keeper(db, encryption=setting) as keeper:
        assert keeper.config["encryption"] == setting, "the core takes it as it is"
        question = use_key_question(made, keeper.config["encryption"])
    assert question.startswith("Encrypt new backups to the new key?")
    assert "replaces the current encryption setting" in question
    assert "replaces" not in use_key_question(made, None)


def test_rotation_preview_text_from_a_real_plan(db: Path) -> None:
    with sqlkeep.Keeper(db, schedule="off", backup_on_shutdown=True) as keeper:
        for _ in range(5):
            keeper.start()
            keeper.stop()
        keeper.backup(label="manual, never rotated")
        keep_all = keeper.preview_rotation({"keep_last": 10})
        assert rotation_preview_text(keep_all) == "The next rotation would delete nothing."
        plan = keeper.preview_rotation({"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0, "yearly": 0})
        doomed = [e for e in plan.entries if e["action"] == "delete"]
        assert len(doomed) == 4
        shown = ", ".join(format_time(e["created_at"]) for e in doomed[:3])
        assert rotation_preview_text(plan) == (
            f"The next rotation would delete 4 backups ({sqlkeep.format_size(plan.freed_bytes)}): {shown} and 1 more."
        )


# ------------------------------------------------------------------------- bridge


def test_results_come_back_on_the_polling_thread_only_when_it_polls() -> None:
    bridge = WorkerBridge("test")
    seen: list[tuple[str, Any, int]] = []
    worker_threads: list[int] = []

    def work() -> int:
        worker_threads.append(threading.get_ident())
        return 42

    def broken() -> int:
        raise ValueError("no such backup")

    bridge.submit_action(work, lambda r: seen.append(("done", r, threading.get_ident())), lambda e: None)
    bridge.submit_read(broken, lambda r: None, lambda e: seen.append(("failed", e, threading.get_ident())))
    assert bridge.pending == 2 and not bridge.idle
    while bridge.pending:
        assert bridge.run_next(5.0), "the results arrive"
    assert bridge.idle
    assert worker_threads and worker_threads[0] != threading.get_ident()
    assert sorted(s[0] for s in seen) == ["done", "failed"]
    assert all(ident == threading.get_ident() for _, _, ident in seen)
    assert ("done", 42, threading.get_ident()) in seen
    (failure,) = [s[1] for s in seen if s[0] == "failed"]
    assert isinstance(failure, ValueError)
    bridge.close()


def test_actions_run_one_at_a_time_in_order() -> None:
    bridge = WorkerBridge("test")
    order: list[int] = []
    running = threading.Semaphore(1)

    def step(i: int) -> None:
        assert running.acquire(blocking=False), "two actions at once"
        order.append(i)
        running.release()

    def fail(e: BaseException) -> None:
        pytest.fail(str(e))

    for i in range(5):
        bridge.submit_action(functools.partial(step, i), lambda r: None, fail)
    while bridge.pending:
        bridge.run_next(5.0)
    assert order == [0, 1, 2, 3, 4]
    bridge.close()


def test_items_posted_from_other_threads_run_on_the_polling_thread(caplog: pytest.LogCaptureFixture) -> None:
    bridge = WorkerBridge("test")
    ran: list[int] = []

    def failing_handler() -> None:
        raise RuntimeError("bug in a result handler")

    def post_three() -> None:
        bridge.post(lambda: ran.append(threading.get_ident()))
        bridge.post(failing_handler)
        bridge.post(lambda: ran.append(threading.get_ident()))

    poster = threading.Thread(target=post_three)
    poster.start()
    poster.join()
    with caplog.at_level(logging.ERROR, logger="sqlkeep.tk"):
        bridge.run_ready(5.0)
    assert ran == [threading.get_ident()] * 2, "a failing handler does not stop the others"
    assert any("result handler failed" in r.getMessage() for r in caplog.records)
    assert bridge.idle
    bridge.close()


def test_a_closed_bridge_runs_nothing_more() -> None:
    bridge = WorkerBridge("test")
    ran: list[str] = []
    bridge.post(lambda: ran.append("posted"))
    bridge.close()
    bridge.run_ready(1.0)
    bridge.submit_read(lambda: 1, lambda r: ran.append("done"), lambda e: ran.append("failed"))
    assert not bridge.run_next(0.1)
    assert ran == [] and bridge.closed


def test_a_notification_that_cannot_be_delivered_is_a_warning_notice(
    db: Path, recorder: EventRecorder
) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on once this closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    channels = [{"webhook": f"http://127.0.0.1:{port}/token-path", "on": ["success"]}]
    with sqlkeep.Keeper(db, notify=channels) as k:
        k.on_event(recorder)
        k.backup()
    # The `with` block waited for the retries to end.
    (e,) = _events(recorder, "notification_failed")
    assert e["severity"] == "warning" and e["attempts"] == 5
    level, text = notice(e) or ("", "")
    assert level == "warning"
    assert text.startswith(f"Could not send the success notification to webhook http://127.0.0.1:{port}: ")
    assert "token-path" not in text


def test_restorable_tables_are_those_with_rows_to_bring_back_or_revert(tmp_path: Path) -> None:
    """From a real diff: a table with only rows added since is not offered (a selective
    restore keeps them), one with deleted or changed rows is, with the core's words."""
    db = tmp_path / "app.db"
    con = sqlite3.connect(db)
    con.executescript(
        "CREATE TABLE a (id INTEGER PRIMARY KEY, v); CREATE TABLE b (id INTEGER PRIMARY KEY, v);"
        "INSERT INTO a VALUES (1, 1), (2, 2); INSERT INTO b VALUES (1, 1);"
    )
    con.close()
    with sqlkeep.Keeper(db, schedule="off") as k:
        backup = k.backup()
        con = sqlite3.connect(db)
        con.executescript("DELETE FROM a WHERE id = 2; INSERT INTO b VALUES (2, 2);")
        con.close()
        assert restorable_tables(k.diff(backup.id)) == [("a", "a: brings back 1 row")]


def test_the_size_field_is_read_by_the_core_and_shown_as_it_formats(keeper: sqlkeep.Keeper) -> None:
    """"2gb" typed is sent as typed; the core reads it, the field then shows the core's
    "2.0 GB", and the form does not count that as a change; a size the core cannot read
    is its error, naming the field."""
    assert SIZE_FIELD == "max_total_bytes"
    base = {"hourly": "0", "daily": "7", "weekly": "4", "monthly": "0", "yearly": "0", "keep_within": ""}
    values = parse_retention({**base, "max_total_bytes": " 2gb "})
    assert values["max_total_bytes"] == "2gb"
    keeper.configure(retention=values)
    kept = keeper.config["retention"]
    assert kept["max_total_bytes"] == 2_000_000_000
    assert size_field_text(kept["max_total_bytes"]) == "2.0 GB"
    assert not retention_differs(parse_retention({**base, "max_total_bytes": "2.0 GB"}), kept)
    assert retention_differs(parse_retention({**base, "max_total_bytes": "3 GB"}), kept)
    assert retention_differs(parse_retention({**base, "max_total_bytes": ""}), kept)
    assert size_field_text(None) == ""
    with pytest.raises(sqlkeep.ConfigError) as raised:
        keeper.preview_rotation(parse_retention({**base, "max_total_bytes": "lots"}))
    assert retention_field(raised.value.key) == "max_total_bytes"
