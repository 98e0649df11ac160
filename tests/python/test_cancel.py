"""Cancelling a running backup from Python (issue 16): `Keeper.cancel()` from another
thread (a UI's Cancel button) stops it; the caller gets CancelledError, nothing is kept,
and the run is logged as cancelled, not as a failure."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import sqlkeep
from conftest import make_big_db


def test_cancel_from_another_thread(tmp_path: Path) -> None:
    db = make_big_db(tmp_path / "big.db", 40)
    with sqlkeep.Keeper(db, schedule="off") as k:
        assert k.cancel() is False
        progressed = threading.Event()
        events: list[str] = []
        k.on_event(lambda e: events.append(e["type"]))
        outcome: dict[str, BaseException] = {}

        def run() -> None:
            try:
                k.backup(label="to cancel", progress=lambda done, total: progressed.set())
            except BaseException as e:  # noqa: BLE001 - the test inspects it
                outcome["error"] = e

        t = threading.Thread(target=run)
        t.start()
        assert progressed.wait(60)
        assert k.cancel() is True
        t.join(60)
        assert isinstance(outcome.get("error"), sqlkeep.CancelledError), outcome
        assert outcome["error"].kind == "cancelled"
        assert k.list() == []
        assert "backup_cancelled" in events and "backup_failed" not in events
        assert k.history()[0]["status"] == "cancelled"
        stats = k.stats()
        assert (stats["runs"], stats["failures"], stats["cancelled"]) == (0, 0, 1)
        # The next backup runs as usual.
        assert k.backup().verification.ok
