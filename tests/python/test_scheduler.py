"""The scheduler from Python: start/stop, next runs, run_pending, and events delivered
from the scheduler's own thread."""

from __future__ import annotations

import datetime
import logging
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import sqlkeep
from conftest import EventRecorder

UTC = datetime.timezone.utc


def test_scheduled_backup_events_come_from_the_scheduler_thread(
    db: Path, recorder: EventRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sqlkeep")
    raised: list[str] = []

    def broken(event: dict[str, object]) -> None:
        raised.append(str(event["type"]))
        raise RuntimeError("bug in the application's callback")

    # Every minute, with catch-up: the due slot is backed up as soon as it starts.
    with sqlkeep.Keeper(db, schedule="* * * * *", catch_up=True) as k:
        k.on_event(broken)
        k.on_event(recorder)
        assert k.start() is True
        event, ident = recorder.wait_for("backup_succeeded", timeout=60)
        assert ident != threading.get_ident(), "delivered on the scheduler's thread"
        assert event["kind"] == "scheduled"
        assert k.running, "a raising callback did not stop the scheduler"
        # Events after the first failing callback were still delivered, to both.
        assert "backup_started" in raised and "backup_succeeded" in raised
        assert [b.kind for b in k.list()] == ["scheduled"]
        # The automatic rotation runs once the scheduler has recorded the backup.
        recorder.wait_for("rotation_finished", timeout=60)
        status = k.status()
        assert status["running"] is True
        assert status["last_outcome"] == "ok"
        assert status["last_backup"] == event["id"]
        assert isinstance(status["last_run"], datetime.datetime)
    assert not k.running
    recorder.wait_for("scheduler_stopped", timeout=10)
    failures = [r for r in caplog.records if r.levelno == logging.ERROR and "callback" in r.getMessage()]
    assert failures, "the callback's exception was logged"
    assert failures[0].exc_info is not None
    assert isinstance(failures[0].exc_info[1], RuntimeError)
    logged = [r.getMessage().split(":")[0] for r in caplog.records if r.name == "sqlkeep"]
    assert "scheduler_started" in logged and "backup_succeeded" in logged


def test_next_run_is_aware_in_the_configured_zone(db: Path) -> None:
    k = sqlkeep.Keeper(db, schedule="02:00", timezone="UTC")
    nxt = k.next_run
    assert nxt is not None and nxt.utcoffset() == datetime.timedelta(0)
    assert (nxt.hour, nxt.minute) == (2, 0)
    now = datetime.datetime.now(UTC)
    assert now < nxt <= now + datetime.timedelta(days=1)
    k.configure(timezone="Asia/Kolkata")
    nxt = k.next_run
    assert nxt is not None and nxt.utcoffset() == datetime.timedelta(hours=5, minutes=30)
    assert (nxt.hour, nxt.minute) == (2, 0)
    k.configure(schedule="off")
    assert k.next_run is None
    assert k.upcoming_runs() == []


def test_upcoming_runs(db: Path) -> None:
    k = sqlkeep.Keeper(db, schedule="30 2 * * *", timezone="UTC")
    start = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    runs = k.upcoming_runs(3, after=start)
    assert runs == [start + datetime.timedelta(days=d, hours=2, minutes=30) for d in range(3)]
    assert len(k.upcoming_runs(5)) == 5
    assert k.upcoming_runs(0) == []


def test_preview_schedule_validates_and_previews() -> None:
    after = datetime.datetime(2025, 3, 29, 12, 0, tzinfo=UTC)
    runs = sqlkeep.preview_schedule("02:30", "Europe/Berlin", 2, after=after)
    # 02:30 does not exist on 2025-03-30 in Berlin: the run is right after the gap.
    assert [r.isoformat() for r in runs] == [
        "2025-03-30T03:00:00+02:00",
        "2025-03-31T02:30:00+02:00",
    ]
    assert len(sqlkeep.preview_schedule("*/15 * * * *")) == 3
    assert sqlkeep.preview_schedule("off") == []
    with pytest.raises(sqlkeep.ConfigError) as e:
        sqlkeep.preview_schedule("25:00")
    assert e.value.key == "schedule" and "HH:MM" in str(e.value)
    with pytest.raises(sqlkeep.ConfigError) as e:
        sqlkeep.preview_schedule("02:00", "Mars/Olympus")
    assert e.value.key == "timezone"
    with pytest.raises(ValueError, match="n must be"):
        sqlkeep.preview_schedule("02:00", "UTC", -1)
    with pytest.raises(TypeError):
        sqlkeep.preview_schedule(200)  # type: ignore[arg-type]


def test_run_pending(db: Path, tmp_path: Path) -> None:
    k = sqlkeep.Keeper(db, schedule="* * * * *")
    first = k.run_pending()
    assert first["outcome"] == "backed_up"
    assert isinstance(first["backup"], sqlkeep.Backup) and first["backup"].kind == "scheduled"
    assert first["error"] is None
    assert k.run_pending()["outcome"] == "idle", "the slot is handled"
    other = sqlkeep.Keeper(db, schedule="* * * * *")
    assert other.run_pending()["outcome"] == "covered", "another keeper took this slot"
    off = sqlkeep.Keeper(db, schedule="off")
    assert off.run_pending()["outcome"] == "idle"


def test_run_pending_failure_carries_the_exception(tmp_path: Path) -> None:
    k = sqlkeep.Keeper(tmp_path / "missing.db", schedule="* * * * *")
    out = k.run_pending()
    assert out["outcome"] == "failed"
    assert isinstance(out["error"], sqlkeep.NotFoundError)
    assert isinstance(out["retry_at"], datetime.datetime)
    assert k.status()["last_outcome"] == "failed"
    with pytest.raises(sqlkeep.NotFoundError):
        raise out["error"]


def test_backup_on_shutdown(db: Path, recorder: EventRecorder) -> None:
    k = sqlkeep.Keeper(db, schedule="off", backup_on_shutdown=True)
    k.on_event(recorder)
    k.start()
    assert k.stop() is True
    assert [b.kind for b in k.list()] == ["shutdown"]
    types = recorder.types()
    assert types.index("backup_succeeded") < types.index("scheduler_stopped")


def test_interpreter_exit_stops_a_running_scheduler(db: Path) -> None:
    """An application that exits without stop() still gets its shutdown backup."""
    script = textwrap.dedent(
        f"""
        import sqlkeep
        k = sqlkeep.Keeper({str(db)!r}, schedule="off", backup_on_shutdown=True)
        k.on_event(lambda e: print(e["type"], flush=True))
        k.start()
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "scheduler_stopped" in out.stdout.split()
    assert [b.kind for b in sqlkeep.Keeper(db).list()] == ["shutdown"]
