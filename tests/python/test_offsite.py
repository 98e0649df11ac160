"""Offsite copies (issue 13) through the Python API, against a real `file://` remote in
a temporary folder: push, list, verify, restore and delete on the remote, the
`remotes` setting's errors, and the offsite state in status() and stats()."""

from __future__ import annotations

import contextlib
import datetime
import shutil
import sqlite3
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import sqlkeep
from conftest import EventRecorder, read_items


def remotes_for(nas: Path) -> list[dict[str, Any]]:
    return [{"name": "nas", "url": nas.as_uri()}]


def rows(path: Path) -> list[tuple[int, str, int]]:
    with contextlib.closing(sqlite3.connect(path)) as con:
        return read_items(con)


def ids(backups: list[sqlkeep.Backup]) -> list[str]:
    return [b.id for b in backups]


@pytest.fixture
def nas(tmp_path: Path) -> Path:
    return tmp_path / "nas"


@pytest.fixture
def offsite_keeper(db: Path, nas: Path) -> Iterator[sqlkeep.Keeper]:
    with sqlkeep.Keeper(db, schedule="off", remotes=remotes_for(nas)) as k:
        yield k


def test_a_backup_survives_the_loss_of_the_local_backups(
    db: Path, nas: Path, tmp_path: Path, recorder: EventRecorder
) -> None:
    with sqlkeep.Keeper(db, schedule="off", remotes=remotes_for(nas)) as k:
        assert k.config["remotes"][0]["name"] == "nas"
        k.on_event(recorder)
        b = k.backup(label="offsite")
        copied, _ = recorder.wait_for("offsite_copied")
        assert copied["remote"] == "nas" and copied["id"] == b.id
        assert copied["size_bytes"] == b.size_bytes
        assert copied["severity"] == "success"
        assert isinstance(copied["time"], datetime.datetime)
        # The backup's file, byte for byte, in the remote folder.
        remote_file = nas / b.path.name
        assert remote_file.read_bytes() == b.path.read_bytes()
        listed = k.list(remote="nas")
        assert listed == [b] and isinstance(listed[0], sqlkeep.Backup)
        assert listed[0].path == remote_file
        assert listed[0].label == "offsite"
        assert k.list() == [b]  # without a remote: the local backups, as before
    expected = rows(db)

    # The local backups are lost; a keeper with the same configuration finds the copy.
    shutil.rmtree(tmp_path / "backups")
    with sqlkeep.Keeper(db, schedule="off", remotes=remotes_for(nas)) as k:
        assert k.list() == []
        assert ids(k.list(remote="nas")) == [b.id]
        out = tmp_path / "restored.db"
        assert k.restore(b.id, to=out, remote="nas") is None
        assert rows(out) == expected
        # `overwrite` keeps its meaning with a remote.
        with pytest.raises(sqlkeep.ConfigError):
            k.restore(b.id, to=out, remote="nas")
        assert k.restore(b.id, to=out, overwrite=True, paranoid=True, remote="nas") is None
        assert rows(out) == expected

        # Into the live database: the pre-restore safety backup is returned, as without a
        # remote.
        with contextlib.closing(sqlite3.connect(db)) as con:
            con.execute("DELETE FROM items WHERE id > 10")
            con.commit()
        safety = k.restore(b.id, remote="nas")
        assert isinstance(safety, sqlkeep.Backup) and safety.kind == "pre-restore"
        assert safety.path.exists()
        assert rows(db) == expected


def test_a_damaged_remote_copy_is_found_and_pushed_again(
    offsite_keeper: sqlkeep.Keeper, nas: Path, tmp_path: Path
) -> None:
    k = offsite_keeper
    b = k.backup()
    v = k.verify(b.id, remote="nas")
    assert isinstance(v, sqlkeep.Verification)
    assert v.ok and v.level == "full" and "remote nas" in v.detail
    assert k.verify(b.id, full=False, remote="nas").ok

    remote_file = nas / b.path.name
    data = bytearray(remote_file.read_bytes())
    data[len(data) // 2] ^= 0x55
    remote_file.write_bytes(bytes(data))

    never = tmp_path / "never.db"
    with pytest.raises(sqlkeep.CorruptBackupError):
        k.restore(b.id, to=never, remote="nas")
    assert not never.exists()
    v = k.verify(b.id, remote="nas", full=False)
    assert not v.ok and v.level == "quick"
    assert k.verify(b.id).ok, "the local backup is not affected"
    assert k.list(remote="nas") == [], "the damaged copy is taken out of the index"

    reports = k.push()
    assert reports == [
        {
            "remote": "nas",
            "copied": [b.id],
            "copied_bytes": b.size_bytes,
            "deleted": [],
            "missing": 0,
            "error": None,
        }
    ]
    assert remote_file.read_bytes() == b.path.read_bytes()
    assert k.verify(b.id, remote="nas").ok
    # Nothing missing any more: pushing again (to that remote only) copies nothing.
    assert k.push("nas")[0]["copied"] == []


def test_delete_with_remote_copies(
    offsite_keeper: sqlkeep.Keeper, nas: Path, recorder: EventRecorder
) -> None:
    k = offsite_keeper
    k.on_event(recorder)
    first = k.backup(label="first")
    second = k.backup(label="second")
    assert set(ids(k.list(remote="nas"))) == {first.id, second.id}

    # By default the remote keeps its copy.
    assert k.delete(first.id) == first
    assert not first.path.exists()
    assert (nas / first.path.name).exists()
    assert first.id in ids(k.list(remote="nas"))

    assert k.delete(second.id, remote_copies=True) == second
    assert not second.path.exists()
    assert not (nas / second.path.name).exists()
    assert ids(k.list(remote="nas")) == [first.id]
    deleted, _ = recorder.wait_for("offsite_deleted", where=lambda e: e["id"] == second.id)
    assert deleted["remote"] == "nas" and deleted["reason"] == "deleted by request"


def test_remotes_setting_errors(db: Path, nas: Path, keeper: sqlkeep.Keeper) -> None:
    with pytest.raises(sqlkeep.ConfigError) as e:
        sqlkeep.Keeper(db, remotes=[{"name": "a", "url": "ftp://x"}])
    assert e.value.key == "remotes[0].url"
    assert e.value.kind == "config"
    with pytest.raises(TypeError, match="remotes"):
        sqlkeep.Keeper(db, remotes=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="remotes"):
        sqlkeep.Keeper(db, remotes={"name": "a", "url": nas.as_uri()})  # type: ignore[arg-type]
    with pytest.raises(sqlkeep.ConfigError) as e:
        sqlkeep.Keeper.from_config(
            {"database": db, "remotes": [{"name": "a", "url": "ftp://x"}]}
        )
    assert e.value.key == "remotes[0].url"

    # At run time, validated whole: on error nothing changes.
    with pytest.raises(TypeError, match="remotes"):
        keeper.configure(remotes=5)
    with pytest.raises(sqlkeep.ConfigError) as e:
        keeper.configure(remotes=[{"name": "a", "url": "ftp://x"}])
    assert e.value.key == "remotes[0].url"
    assert keeper.config["remotes"] == []
    # A tuple is a list too; None removes every remote.
    cfg = keeper.configure(remotes=({"name": "nas", "url": nas.as_uri()},))
    assert [r["name"] for r in cfg["remotes"]] == ["nas"]
    assert keeper.configure(remotes=None)["remotes"] == []


def test_an_unknown_remote_is_not_found(offsite_keeper: sqlkeep.Keeper, tmp_path: Path) -> None:
    k = offsite_keeper
    b = k.backup()
    calls: list[Callable[[], object]] = [
        lambda: k.push("nope"),
        lambda: k.list(remote="nope"),
        lambda: k.verify(b.id, remote="nope"),
        lambda: k.restore(b.id, to=tmp_path / "x.db", remote="nope"),
    ]
    for call in calls:
        with pytest.raises(sqlkeep.NotFoundError) as e:
            call()
        assert e.value.kind == "not_found"
        assert "nas" in str(e.value), "the message names the configured remotes"
    # An id the remote does not hold.
    with pytest.raises(sqlkeep.NotFoundError):
        k.verify("app-20000101T000000Z-manual", remote="nas")


def test_no_remotes_push_does_nothing(keeper: sqlkeep.Keeper) -> None:
    keeper.backup()
    assert keeper.push() == []
    assert keeper.status()["offsite"] == []
    assert keeper.stats()["offsite"] == []


def test_status_and_stats_show_the_remote(offsite_keeper: sqlkeep.Keeper) -> None:
    k = offsite_keeper
    b = k.backup()
    [report] = k.push()
    assert report["remote"] == "nas" and report["missing"] == 0 and report["error"] is None
    for d in (k.status(), k.stats()):
        [state] = d["offsite"]
        assert state["remote"] == "nas"
        assert state["missing"] == 0
        assert state["last_error"] is None and state["last_error_at"] is None
        assert isinstance(state["last_copy_at"], datetime.datetime)
        assert state["last_copy_at"].tzinfo is not None
        assert ids(state["backups"]) == [b.id]
        assert all(isinstance(x, sqlkeep.Backup) for x in state["backups"])
        assert "up to date" in state["summary"]


def test_a_remote_that_refuses_raises_remote_error(
    db: Path, nas: Path, recorder: EventRecorder
) -> None:
    # A folder where the remote's index object must go: the store refuses to write it.
    (nas / "sqlkeep-index.json" / "blocker").mkdir(parents=True)
    with sqlkeep.Keeper(db, schedule="off", remotes=remotes_for(nas)) as k:
        k.on_event(recorder)
        b = k.backup()  # the backup itself succeeds
        assert k.verify(b.id).ok
        failed, _ = recorder.wait_for("offsite_failed")
        assert failed["remote"] == "nas" and failed["error_kind"] == "remote"
        assert failed["severity"] == "warning"
        [state] = k.status()["offsite"]
        assert state["last_error"] and isinstance(state["last_error_at"], datetime.datetime)
        assert "nas" in state["summary"]
        with pytest.raises(sqlkeep.RemoteError) as e:
            k.delete(b.id, remote_copies=True)
        assert isinstance(e.value, sqlkeep.Error)
        assert e.value.kind == "remote" and e.value.operation == "offsite"
