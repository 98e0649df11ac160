"""Offsite copies in sqlkeep.tk.BackupView (issue 13): the Offsite column, the offsite
line, "Restore from remote…" and the notice of a failed copy, over a real Keeper whose
remotes are real file:// folders in tmp_path, under Xvfb."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable

import pytest
import sqlkeep
from sqlkeep.tk import BackupView
from support import Dialogs, Hooks, texts, until

# The colors (light, dark) of a warning and of muted text.
AMBER = ("#B26A00", "#FFB74D")
MUTED = ("gray45", "gray60")


def remote(name: str, folder: Path) -> dict[str, Any]:
    return {"name": name, "url": folder.as_uri()}


def items(db: Path) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as con:
        return con.execute("SELECT id, name, qty FROM items ORDER BY id").fetchall()


def offsite_cell(view: BackupView, iid: str) -> str:
    return str(view.table.item(iid, "values")[6])


def shown_columns(view: BackupView) -> list[str]:
    return list(view.tk.splitlist(view.table.cget("displaycolumns")))


def picker_text(b: sqlkeep.Backup) -> str:
    """How the picker of "Restore from remote…" writes a backup (describe, then the size)."""
    what = b.kind if not b.label else f"{b.kind}, “{b.label}”"
    return f"{b.created_at.astimezone():%Y-%m-%d %H:%M} ({what}) · {sqlkeep.format_size(b.size_bytes)}"


@pytest.fixture
def nas(tmp_path: Path) -> Path:
    return tmp_path / "nas"


def test_the_table_says_which_remotes_hold_each_backup_and_the_line_when_each_last_got_one(
    make_view: Callable[[sqlkeep.Keeper], BackupView], db: Path, nas: Path
) -> None:
    with sqlkeep.Keeper(db, schedule="off") as keeper:
        before = keeper.backup(label="before the remote")
        view = make_view(keeper)
        assert "offsite" not in shown_columns(view)
        label_width = view.table.column("label", "width")

        # Remotes set at run time: the column, the line and the button come with them.
        keeper.configure(remotes=[remote("nas", nas)])
        view.refresh()
        view.wait_idle()
        assert shown_columns(view)[-1] == "offsite"
        assert offsite_cell(view, before.id) == "—", "not copied yet"
        (state,) = keeper.status()["offsite"]
        assert view.offsite == state["summary"], "no copy yet: the core's summary, as it is"
        assert view.offsite_label.winfo_manager() == "grid"
        assert view.restore_remote_button.winfo_manager() == "grid"
        assert view.restore_remote_button.cget("state") == "normal"
        assert view.remotes == ["nas"]

        view.backup_button.invoke()
        view.wait_idle()
        new = view.rows[0]
        assert new.backup_id is not None and new.kind == "manual"
        (state,) = keeper.status()["offsite"]
        holders = {b.id for b in state["backups"]}
        assert new.backup_id in holders, "copied offsite right after it was taken"
        for row in view.rows:
            assert offsite_cell(view, row.iid) == ("nas" if row.backup_id in holders else "—")
        assert view.offsite == "offsite nas: last copy just now"
        assert view.offsite_label.cget("text_color") == MUTED
        assert view.notification[0] == "success"
        # The columns stay inside the table, and the settings column still fits at 760 px.
        view.update()
        widths = sum(int(view.table.column(c, "width")) for c in shown_columns(view))
        assert widths <= view.table.winfo_width()
        side = view.encryption_label.master.master
        assert side.winfo_reqheight() <= side.winfo_height()

        keeper.configure(remotes=None)
        view.refresh()
        view.wait_idle()
        assert "offsite" not in shown_columns(view)
        assert view.table.column("label", "width") >= label_width
        assert view.offsite == "" and view.offsite_label.winfo_manager() == ""
        assert view.restore_remote_button.winfo_manager() == ""


def test_restore_from_remote_picks_the_remote_and_the_backup_and_brings_the_database_back(
    make_view: Callable[[sqlkeep.Keeper], BackupView],
    db: Path,
    nas: Path,
    tmp_path: Path,
    dialogs: Dialogs,
    hooks: Hooks,
) -> None:
    usb = tmp_path / "usb"
    with sqlkeep.Keeper(db, schedule="off", remotes=[remote("nas", nas), remote("usb", usb)]) as keeper:
        good = keeper.backup(label="good data")
        expected = items(db)
        keeper.delete(good.id)  # the local backup is gone; both remotes keep their copy
        app = sqlite3.connect(db)  # the application's connection stays open throughout
        app.execute("DELETE FROM items WHERE id > 10")
        app.execute("UPDATE items SET qty = -1")
        app.commit()
        view = make_view(keeper)
        assert good.id not in [r.backup_id for r in view.rows]

        dialogs.choices += ["usb", picker_text(good)]
        dialogs.answers.append(True)
        view.restore_remote_button.invoke()
        assert view.busy, "the remote's backups are read on a worker thread"
        view.wait_idle()

        (_, _, remotes), (_, which, backups) = dialogs.choice_requests
        assert remotes == ["nas", "usb"]
        assert "usb" in which
        assert backups == [picker_text(good)], "the backups on usb (keeper.list(remote='usb'))"
        ((title, message),) = dialogs.questions
        assert title == "Restore from a remote"
        assert str(db) in message and "on remote usb" in message and "good data" in message
        assert "downloaded and fully checked" in message and "safety copy" in message
        assert app.execute("SELECT id, name, qty FROM items ORDER BY id").fetchall() == expected
        app.close()
        assert items(db) == expected
        top = view.rows[0]
        assert top.kind == "pre-restore"
        assert view.table.selection() == (top.iid,)
        assert [b.id for b in hooks.restored] == [top.backup_id]
        level, text = view.notification
        assert level == "success"
        assert "from usb" in text and str(top.backup_id) in text


def test_restore_from_remote_cancelled_changes_nothing(
    make_view: Callable[[sqlkeep.Keeper], BackupView], db: Path, nas: Path, dialogs: Dialogs, hooks: Hooks
) -> None:
    with sqlkeep.Keeper(db, schedule="off", remotes=[remote("nas", nas)]) as keeper:
        good = keeper.backup(label="good data")
        with contextlib.closing(sqlite3.connect(db)) as con:
            con.execute("DELETE FROM items")
            con.commit()
        view = make_view(keeper)

        # One remote: no question which; the backup picker cancelled.
        dialogs.choices.append(None)
        view.restore_remote_button.invoke()
        view.wait_idle()
        ((_, _, options),) = dialogs.choice_requests
        assert options == [picker_text(good)]
        assert view.notification == ("info", "Restore cancelled.")

        # The confirmation answered no.
        dialogs.choices.append(picker_text(good))
        dialogs.answers.append(False)
        view.restore_remote_button.invoke()
        view.wait_idle()
        assert len(dialogs.questions) == 1
        assert view.notification == ("info", "Restore cancelled.")
        assert items(db) == []
        assert [b.id for b in keeper.list()] == [good.id]
        assert hooks.restored == []


def test_an_offsite_copy_that_fails_is_a_warning_notice(
    make_view: Callable[[sqlkeep.Keeper], BackupView], db: Path, nas: Path, tmp_path: Path
) -> None:
    # A remote folder whose path is a file: every copy to it fails.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    with sqlkeep.Keeper(db, schedule="off", remotes=[remote("nas", nas), remote("broken", blocker)]) as keeper:
        view = make_view(keeper)
        events: list[dict[str, Any]] = []
        keeper.on_event(events.append)

        # A backup the application takes on a thread of its own.
        worker = threading.Thread(target=lambda: keeper.backup(label="from a thread"))
        worker.start()
        worker.join()
        until(view, lambda: view.notification[0] == "warning", "the offsite failure's notice")
        (failed,) = [e for e in events if e["type"] == "offsite_failed"]
        assert failed["remote"] == "broken" and failed["severity"] == "warning"
        assert view.notification == (
            "warning",
            f"Offsite copy to broken failed: {failed['error']} (1 backup missing there).",
        )
        assert view.status_label.cget("text_color") == AMBER
        # The core's summary is among the health reasons; the offsite line does not repeat it.
        broken = next(r for r in keeper.status()["offsite"] if r["remote"] == "broken")
        until(view, lambda: f"• {broken['summary']}" in view.health, "the health reason")
        assert view.health.startswith("Needs attention · ")
        assert view.offsite == "offsite nas: last copy just now · offsite broken: no copy yet"
        assert view.offsite_label.cget("text_color") == AMBER
        (row,) = view.rows
        assert offsite_cell(view, row.iid) == "nas"

        # Through the button: the backup's own notice, then the failure, as a warning.
        view.backup_button.invoke()
        view.wait_idle()
        level, text = view.notification
        assert level == "warning"
        assert text.startswith("Backup succeeded: ")
        assert "Offsite copy to broken failed: " in text and "(2 backups missing there)" in text
        assert [offsite_cell(view, r.iid) for r in view.rows] == ["nas", "nas"]
        assert texts(view.stats_labels["count"]) == "2"
