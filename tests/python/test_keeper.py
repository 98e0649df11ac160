"""Every method of `sqlkeep.Keeper` on real SQLite files."""

from __future__ import annotations

import datetime
import gc
import hashlib
import logging
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any

import pytest

import sqlkeep
from conftest import EventRecorder, make_db, read_items

UTC = datetime.timezone.utc


def test_backup_returns_a_complete_verified_backup(keeper: sqlkeep.Keeper, db: Path) -> None:
    before = datetime.datetime.now(UTC)
    b = keeper.backup(label="before import")
    assert isinstance(b, sqlkeep.Backup)
    assert b.kind == "manual"
    assert b.label == "before import"
    assert b.created_at.tzinfo is not None and b.created_at.utcoffset() == datetime.timedelta(0)
    assert before - datetime.timedelta(seconds=2) <= b.created_at <= datetime.datetime.now(UTC)
    assert isinstance(b.path, Path) and b.path.is_file()
    assert b.path.parent == db.parent / "backups"
    assert b.path.name.endswith(".sqlite3.gz")
    assert b.size_bytes == b.path.stat().st_size
    assert b.sha256 == hashlib.sha256(b.path.read_bytes()).hexdigest()
    assert b.raw_size_bytes == db.stat().st_size == b.page_size * b.page_count
    assert b.verified is True
    assert b.verification is not None and b.verification.ok and b.verification.level == "full"
    assert b.database == db
    assert b.user_version == 7
    assert b.compression == "gzip" and b.compression_level == 6
    assert b.sqlite_version == sqlite3.sqlite_version
    assert b.sqlkeep_version == sqlkeep.__version__
    assert b.last_restored_at is None
    assert "before import" in repr(b)


def test_list_is_newest_first_and_get_finds_each(keeper: sqlkeep.Keeper) -> None:
    assert keeper.list() == []
    first = keeper.backup(label="one")
    second = keeper.backup(label="two")
    listed = keeper.list()
    assert [b.id for b in listed] == [second.id, first.id]
    assert listed[0] == second and hash(listed[0]) == hash(second)
    assert keeper.get(first.id) == first
    assert {b.id for b in listed} == {first.id, second.id}


def test_verify_quick_and_full(keeper: sqlkeep.Keeper) -> None:
    b = keeper.backup()
    full = keeper.verify(b.id, full=True)
    assert isinstance(full, sqlkeep.Verification)
    assert (full.ok, full.level) == (True, "full")
    assert "integrity" in full.detail
    assert full.at.tzinfo is not None
    quick = keeper.verify(b.id, full=False)
    assert (quick.ok, quick.level) == (True, "quick")
    stored = keeper.get(b.id).verification
    assert stored is not None
    assert (stored.ok, stored.level, stored.detail) == (quick.ok, quick.level, quick.detail)
    assert abs(stored.at - quick.at) < datetime.timedelta(milliseconds=1)


def test_verify_reports_damage_as_a_result(keeper: sqlkeep.Keeper) -> None:
    b = keeper.backup()
    data = bytearray(b.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    b.path.write_bytes(bytes(data))
    v = keeper.verify(b.id)
    assert v.ok is False
    assert "sha" in v.detail.lower() or "checksum" in v.detail.lower()
    results = dict(keeper.verify_all())
    assert results[b.id].ok is False


def test_verify_all_covers_every_backup(keeper: sqlkeep.Keeper) -> None:
    ids = [keeper.backup().id for _ in range(2)]
    results = keeper.verify_all(full=False)
    assert sorted(i for i, _ in results) == sorted(ids)
    assert all(v.ok and v.level == "quick" for _, v in results)


def test_restore_into_the_live_database_returns_the_safety_backup(
    keeper: sqlkeep.Keeper, db: Path, tmp_path: Path
) -> None:
    b = keeper.backup()
    con = sqlite3.connect(db)
    con.execute("DELETE FROM items WHERE id > 10")
    con.commit()
    con.close()
    safety = keeper.restore(b.id)
    assert isinstance(safety, sqlkeep.Backup)
    assert safety.kind == "pre-restore"
    assert b.id in (safety.label or "")
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM items").fetchone() == (200,)
    con.close()
    assert keeper.get(b.id).last_restored_at is not None
    # The safety copy holds the content that was replaced.
    out = tmp_path / "replaced.db"
    assert keeper.restore(safety.id, to=out) is None
    con = sqlite3.connect(out)
    assert con.execute("SELECT count(*) FROM items").fetchone() == (10,)
    con.close()


def test_restore_to_a_new_path_never_overwrites_unless_asked(
    keeper: sqlkeep.Keeper, tmp_path: Path
) -> None:
    b = keeper.backup()
    out = tmp_path / "copy.db"
    assert keeper.restore(b.id, to=str(out)) is None
    assert out.is_file()
    with pytest.raises(sqlkeep.ConfigError, match="already exists"):
        keeper.restore(b.id, to=out)
    assert keeper.restore(b.id, to=out, overwrite=True) is None
    con = sqlite3.connect(out)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()


def test_restore_rests_on_the_image_hash_unless_paranoid(keeper: sqlkeep.Keeper, tmp_path: Path) -> None:
    b = keeper.backup()
    # The default verifies fully after the backup, so the image's hash is recorded.
    assert b.raw_sha256 is not None and len(b.raw_sha256) == 64
    fast = tmp_path / "fast.db"
    keeper.restore(b.id, to=fast)
    assert hashlib.sha256(fast.read_bytes()).hexdigest() == b.raw_sha256
    detail = keeper.get(b.id).verification.detail
    assert "not repeated" in detail, detail
    keeper.restore(b.id, to=tmp_path / "slow.db", paranoid=True)
    detail = keeper.get(b.id).verification.detail
    assert "integrity_check ok" in detail, detail
    with pytest.raises(TypeError):
        keeper.restore(b.id, to=tmp_path / "x.db", paranoid="yes")  # type: ignore[arg-type]


def test_delete_removes_backup_and_file(keeper: sqlkeep.Keeper) -> None:
    b = keeper.backup()
    gone = keeper.delete(b.id)
    assert gone == b
    assert not b.path.exists()
    assert keeper.list() == []
    with pytest.raises(sqlkeep.NotFoundError):
        keeper.get(b.id)


def shutdown_backups(k: sqlkeep.Keeper, n: int) -> None:
    """Takes `n` automatic (`shutdown`) backups by starting and stopping the scheduler."""
    for _ in range(n):
        assert k.start() is True
        assert k.stop() is True


def test_rotate_plans_then_deletes_automatic_backups(db: Path) -> None:
    policy = {"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0, "yearly": 0, "auto": False}
    with sqlkeep.Keeper(db, schedule="off", backup_on_shutdown=True, retention=policy) as k:
        manual = k.backup()
        shutdown_backups(k, 3)
        automatic = [b for b in k.list() if b.kind == "shutdown"]
        assert len(automatic) == 3
        plan = k.rotate(dry_run=True)
        assert isinstance(plan, sqlkeep.RotationPlan)
        assert plan.dry_run is True
        assert plan.kept == [automatic[0].id, manual.id]
        assert plan.deleted == [b.id for b in automatic[1:]]
        assert plan.freed_bytes == sum(b.size_bytes for b in automatic[1:])
        entry = plan.entries[0]
        assert set(entry) == {"id", "kind", "created_at", "size_bytes", "action", "reason"}
        assert isinstance(entry["created_at"], datetime.datetime)
        assert [e["action"] for e in plan.entries].count("delete") == 2
        assert len(k.list()) == 4, "a dry run deletes nothing"
        done = k.rotate()
        assert done.dry_run is False and done.deleted == plan.deleted
        assert [b.id for b in k.list()] == plan.kept
        assert all(not b.path.exists() for b in automatic[1:])


def test_stats_and_history(keeper: sqlkeep.Keeper) -> None:
    a = keeper.backup(label="a")
    b = keeper.backup(label="b")
    stats = keeper.stats()
    assert stats["count"] == 2
    assert stats["total_bytes"] == a.size_bytes + b.size_bytes
    assert stats["by_kind"] == {"manual": 2}
    assert stats["runs"] == 2 and stats["failures"] == 0 and stats["success_rate"] == 1.0
    assert isinstance(stats["newest"], datetime.datetime)
    assert stats["newest"] == keeper.get(b.id).created_at
    assert stats["last_failure"] is None
    history = keeper.history()
    assert [h["id"] for h in history] == [b.id, a.id]
    assert history[0]["ok"] is True and history[0]["status"] == "verified"
    assert isinstance(history[0]["time"], datetime.datetime)
    assert history[0]["time"].tzinfo is not None
    assert [h["id"] for h in keeper.history(limit=1, offset=1)] == [a.id]
    assert keeper.history(limit=0) == []


def test_health_is_the_cores_verdict_with_reasons(db: Path, tmp_path: Path) -> None:
    k = sqlkeep.Keeper(db, notify={"stale_after_hours": 12})
    assert k.config["notify"] == {
        "channels": [],
        "stale_after_hours": 12,
        "repeat_hours": 24,
        "timeout_seconds": 10,
    }
    h = k.health()
    assert h["verdict"] == "warning"
    assert [r["code"] for r in h["reasons"]] == ["no_backup"]
    assert h["headline"].startswith("No backup yet · next ")
    assert isinstance(h["next_run"], datetime.datetime) and h["next_run"].tzinfo is not None
    b = k.backup()
    h = k.health()
    assert (h["verdict"], h["reasons"]) == ("ok", [])
    assert h["last_backup"] == b.id and h["last_backup_status"] == "verified"
    assert h["headline"].startswith("Last backup just now · verified · next ")
    # The database is replaced by something that is not one: the manual backup fails.
    db.write_bytes(b"\x5a" * 8192)
    with pytest.raises(sqlkeep.Error):
        k.backup()
    h = k.health()
    assert h["verdict"] == "warning"
    assert h["reasons"][0]["code"] == "backup_failed"
    assert h["reasons"][0]["message"].startswith("the last backup failed just now: ")
    with pytest.raises(sqlkeep.ConfigError, match="notify.stale_after_hours"):
        sqlkeep.Keeper(db, notify={"stale_after_hours": 0})
    with pytest.raises(TypeError, match="notify"):
        sqlkeep.Keeper(db, notify=36)  # type: ignore[arg-type]


def test_config_and_configure(keeper: sqlkeep.Keeper, db: Path) -> None:
    cfg = keeper.config
    assert set(cfg) == set(sqlkeep.CONFIG_KEYS)
    assert cfg["database"] == str(db)
    assert cfg["backup_dir"] == str(db.parent / "backups")
    assert cfg["schedule"] == "off"
    new = keeper.configure(schedule="03:15", retention={"daily": 7}, compression_level=None)
    assert new == keeper.config
    assert new["schedule"] == "03:15"
    assert new["retention"]["daily"] == 7 and new["retention"]["weekly"] == 12
    with pytest.raises(sqlkeep.ConfigError) as e:
        keeper.configure(schedule="04:00", timezone="Nowhere/Atlantis")
    assert e.value.key == "timezone"
    assert keeper.config == new, "a rejected change changes nothing"
    with pytest.raises(sqlkeep.ConfigError, match="did you mean `retention`"):
        keeper.configure(retention_days=3)
    assert keeper.configure() == new


def test_configure_changes_the_running_scheduler(db: Path) -> None:
    with sqlkeep.Keeper(db, schedule="02:00", timezone="UTC") as k:
        k.start()
        assert k.next_run is not None and (k.next_run.hour, k.next_run.minute) == (2, 0)
        k.configure(schedule="03:15")
        assert k.next_run is not None and (k.next_run.hour, k.next_run.minute) == (3, 15)
        assert k.running


def test_keyword_defaults_are_the_cores(db: Path) -> None:
    from_kwargs = sqlkeep.Keeper(db).config
    from_core = sqlkeep.Keeper.from_config({"database": str(db)}).config
    assert from_kwargs == from_core
    assert from_core["schedule"] == "02:00"
    assert from_core["retention"] == {
        "keep_within": None, "keep_last": 0, "hourly": 0,
        "daily": 30, "weekly": 12, "monthly": 12, "yearly": 0, "auto": True,
        "max_total_bytes": None, "max_total_percent_of_disk": None,
    }


def test_every_core_key_is_a_keyword(db: Path, tmp_path: Path) -> None:
    k = sqlkeep.Keeper(
        db,
        backup_dir=tmp_path / "elsewhere",
        schedule="30 2 * * 1-5",
        timezone="Europe/Berlin",
        catch_up=False,
        compression="zstd",
        compression_level=19,
        verify_after_backup="quick",
        test_restore_every_days=0,
        retention={"daily": 3, "weekly": 2, "monthly": 1},
        backup_on_shutdown=True,
    )
    cfg = k.config
    assert cfg["backup_dir"] == str(tmp_path / "elsewhere")
    assert cfg["schedule"] == "30 2 * * 1-5"
    assert cfg["timezone"] == "Europe/Berlin"
    assert cfg["catch_up"] is False
    assert (cfg["compression"], cfg["compression_level"]) == ("zstd", 19)
    assert cfg["verify_after_backup"] == "quick"
    assert cfg["test_restore_every_days"] == 0
    assert cfg["retention"]["daily"] == 3 and cfg["retention"]["monthly"] == 1
    assert cfg["backup_on_shutdown"] is True
    b = k.backup()
    assert b.path.name.endswith(".sqlite3.zst") and b.compression_level == 19
    assert b.verification is not None and b.verification.level == "quick"
    assert b.path.parent == tmp_path / "elsewhere"


def test_from_config_takes_the_core_keys_and_path_objects(db: Path, tmp_path: Path) -> None:
    k = sqlkeep.Keeper.from_config(
        {"database": db, "backup_dir": tmp_path / "b", "compression": "none", "retention": {"daily": 1}}
    )
    assert k.config["backup_dir"] == str(tmp_path / "b")
    b = k.backup()
    assert b.path.name.endswith(".sqlite3") and b.compression == "none"
    con = sqlite3.connect(b.path)
    assert con.execute("SELECT count(*) FROM items").fetchone() == (200,)
    con.close()


def test_guard_takes_a_pre_operation_backup_and_lets_exceptions_through(keeper: sqlkeep.Keeper) -> None:
    with keeper.guard("migration 12") as b:
        assert isinstance(b, sqlkeep.Backup)
        assert (b.kind, b.label) == ("pre-operation", "migration 12")
    with pytest.raises(RuntimeError, match="migration failed"):
        with keeper.guard("migration 13"):
            raise RuntimeError("migration failed")
    assert [b.label for b in keeper.list()] == ["migration 13", "migration 12"]
    assert keeper.guard("x").label == "x"


def test_context_manager_stops_the_scheduler(db: Path) -> None:
    with sqlkeep.Keeper(db, schedule="02:00") as k:
        assert k.start() is True
        assert k.start() is False, "already running"
        assert k.running
    assert not k.running
    assert k.stop() is False


def test_context_manager_does_not_swallow_exceptions(db: Path) -> None:
    with pytest.raises(ValueError, match="app bug"):
        with sqlkeep.Keeper(db) as k:
            k.start()
            raise ValueError("app bug")
    assert not k.running


def test_progress_reaches_the_callable(keeper: sqlkeep.Keeper) -> None:
    calls: list[tuple[int, int]] = []
    b = keeper.backup(progress=lambda done, total: calls.append((done, total)))
    assert calls, "progress was reported"
    assert all(isinstance(d, int) and isinstance(t, int) for d, t in calls)
    assert calls[-1] == (b.page_count, b.page_count)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_a_failing_progress_callable_is_logged_and_the_backup_goes_on(
    keeper: sqlkeep.Keeper, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sqlkeep")

    def broken(done: int, total: int) -> None:
        raise ZeroDivisionError("progress bar bug")

    b = keeper.backup(progress=broken)
    assert b.verified
    failures = [r for r in caplog.records if r.levelno == logging.ERROR and "progress" in r.getMessage()]
    assert failures and failures[0].exc_info is not None
    assert isinstance(failures[0].exc_info[1], ZeroDivisionError)


def test_on_event_and_off_event(keeper: sqlkeep.Keeper, recorder: EventRecorder) -> None:
    sub = keeper.on_event(recorder)
    b = keeper.backup(label="evt")
    types = recorder.types()
    assert types[0] == "backup_started" and types[-1] == "backup_succeeded"
    assert "progress" in types
    done, ident = recorder.wait_for("backup_succeeded")
    assert done["id"] == b.id and done["label"] == "evt" and done["verified"] is True
    assert done["size_bytes"] == b.size_bytes
    assert isinstance(done["time"], datetime.datetime) and done["time"].tzinfo is not None
    keeper.verify(b.id)
    assert recorder.types()[-1] == "verify_finished"
    assert keeper.off_event(sub) is True
    assert keeper.off_event(sub) is False
    n = len(recorder.events)
    keeper.backup()
    assert len(recorder.events) == n


def test_events_are_logged_to_the_sqlkeep_logger(
    keeper: sqlkeep.Keeper, db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sqlkeep")
    b = keeper.backup()
    ok = [r for r in caplog.records if r.name == "sqlkeep" and r.getMessage().startswith("backup_succeeded")]
    assert len(ok) == 1 and ok[0].levelno == logging.INFO
    assert b.id in ok[0].getMessage()
    event: dict[str, Any] = ok[0].sqlkeep_event  # type: ignore[attr-defined]
    assert event["type"] == "backup_succeeded" and event["id"] == b.id
    assert not any(r.getMessage().startswith("progress") for r in caplog.records)
    caplog.clear()
    db.unlink()
    with pytest.raises(sqlkeep.NotFoundError):
        keeper.backup()
    failed = [r for r in caplog.records if r.getMessage().startswith("backup_failed")]
    assert len(failed) == 1 and failed[0].levelno == logging.ERROR


def test_a_keeper_held_in_a_cycle_through_its_callback_is_collected(db: Path) -> None:
    class App:
        def __init__(self) -> None:
            self.keeper = sqlkeep.Keeper(db)
            self.keeper.on_event(self.on_event)

        def on_event(self, event: dict[str, Any]) -> None:
            pass

    app = App()
    ref = weakref.ref(app)
    del app
    gc.collect()
    assert ref() is None


def test_backups_from_several_python_threads(keeper: sqlkeep.Keeper) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            keeper.backup(label=f"thread {i}")
        except BaseException as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(b.label or "" for b in keeper.list()) == [f"thread {i}" for i in range(4)]
    assert all(keeper.verify(b.id).ok for b in keeper.list())


def test_restore_of_wal_database_under_the_apps_connection(tmp_path: Path) -> None:
    db = make_db(tmp_path / "wal.db", journal_mode="wal")
    con = sqlite3.connect(db)
    k = sqlkeep.Keeper(db)
    b = k.backup()
    con.execute("UPDATE items SET name = 'edited'")
    con.commit()
    k.restore(b.id)
    assert read_items(con)[0] == (1, "item 0", 0)
    con.close()


def test_preview_rotation_plans_unsaved_settings(db: Path) -> None:
    with sqlkeep.Keeper(db, schedule="off", backup_on_shutdown=True) as k:
        shutdown_backups(k, 3)
        policy = {"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0}
        plan = k.preview_rotation(policy)
        assert plan.dry_run is True and len(plan.kept) == 1 and len(plan.deleted) == 2
        assert k.config["retention"]["daily"] == 30, "the configuration is unchanged"
        assert len(k.list()) == 3, "nothing was deleted"
        assert k.preview_rotation({"keep_last": 5}).deleted == []
        with pytest.raises(sqlkeep.ConfigError) as e:
            k.preview_rotation({"daily": -1})
        assert e.value.key == "retention.daily"
        with pytest.raises(TypeError, match="retention"):
            k.preview_rotation(3)  # type: ignore[arg-type]


def test_restore_file_from_a_copied_backup(keeper: sqlkeep.Keeper, db: Path, tmp_path: Path) -> None:
    b = keeper.backup()
    elsewhere = tmp_path / "usb-stick"
    elsewhere.mkdir()
    for f in (b.path, b.path.with_name(f"{b.id}.json")):
        (elsewhere / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "from-copy.db"
    assert keeper.restore_file(elsewhere / b.path.name, to=out) is None
    con = sqlite3.connect(out)
    assert con.execute("SELECT count(*) FROM items").fetchone() == (200,)
    con.close()
    with pytest.raises(sqlkeep.ConfigError, match="not a sqlkeep backup"):
        keeper.restore_file(tmp_path / "holiday.jpg")


def test_off_event_drops_the_callable_outside_the_registry_lock(keeper: sqlkeep.Keeper) -> None:
    class Callback:
        def __call__(self, event: dict[str, Any]) -> None:
            pass

        def __del__(self) -> None:
            keeper.on_event(lambda event: None)  # would deadlock if dropped under the lock

    sub = keeper.on_event(Callback())
    assert keeper.off_event(sub) is True
