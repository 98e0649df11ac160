"""Incremental backups in sqlkeep.tk.BackupView: the Incremental switch of the schedule
form applied through the keeper's configuration, "Full backup" beside "Back up now", and
the rows of
incremental backups (the bytes they added, what they are rebuilt from), driven through
the widgets over a real Keeper, under Xvfb, with a screenshot of the result."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Callable

import pytest
import sqlkeep
from PIL import Image, ImageGrab
from sqlkeep.tk import BackupView
from sqlkeep.tk.format import format_time
from support import Dialogs, Hooks, count_items, make_db

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT / "artifacts" / "incremental_view.png"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    # Large enough that a changed row is a small share of the pages.
    return make_db(tmp_path / "app.db", rows=5000)


def touch(db: Path, item_id: int) -> None:
    con = sqlite3.connect(db)
    try:
        con.execute("UPDATE items SET qty = qty + 1000 WHERE id = ?", (item_id,))
        con.commit()
    finally:
        con.close()


def screenshot(view: BackupView, path: Path) -> Image.Image:
    top = view.winfo_toplevel()
    top.update()
    x, y = top.winfo_rootx(), top.winfo_rooty()
    ImageGrab.grab(bbox=(x, y, x + top.winfo_width(), y + top.winfo_height())).save(path)
    return Image.open(path)


def test_the_switch_turns_incremental_on_and_rows_show_what_each_backup_added(
    view: BackupView, keeper: sqlkeep.Keeper, db: Path, hooks: Hooks, dialogs: Dialogs, tmp_path: Path
) -> None:
    # Off, as the core's default: every backup is full, so there is no "Full backup".
    assert keeper.config["incremental"] is False
    assert view.incremental_switch.get() is False
    assert view.full_backup_button.winfo_manager() == ""
    assert view.schedule_apply_button.cget("state") == "disabled"

    # The switch is part of the schedule form: a change to apply, then applied alone.
    view.incremental_switch.toggle()
    view.update()
    assert keeper.config["incremental"] is False, "not before Apply"
    assert view.schedule_apply_button.cget("state") == "normal"
    view.schedule_apply_button.invoke()
    view.wait_idle()

    assert keeper.config["incremental"] is True
    assert hooks.configured == [{"incremental": True}]
    assert view.notification[0] == "success"
    assert view.notification[1].startswith("Incremental backups on:")
    assert view.schedule_apply_button.cget("state") == "disabled", "nothing left to apply"
    assert view.full_backup_button.winfo_manager() == "grid"
    assert view.full_backup_button.cget("state") == "normal"

    # The first backup is full (nothing to compare with), the next ones incremental.
    view.backup_button.invoke()
    view.wait_idle()
    (full,) = keeper.list()
    assert full.incremental is None
    touch(db, 1)
    view.backup_button.invoke()
    view.wait_idle()
    touch(db, 2)
    view.label_entry.insert(0, "after row 2")
    view.backup_button.invoke()
    view.wait_idle()
    second, first, _ = keeper.list()
    assert second.depends_on == [full.id, first.id]
    assert second.size_bytes * 10 < full.size_bytes

    level, text = view.notification
    assert level == "success"
    assert text.startswith(f"Incremental backup “after row 2” succeeded: +{sqlkeep.format_size(second.size_bytes)} in ")

    # The rows: the bytes each added, "incremental" in the status.
    values = view.table.item(second.id, "values")
    assert values[2] == "after row 2"
    assert values[3] == "+" + sqlkeep.format_size(second.size_bytes)
    assert values[5] == "verified, incremental"
    assert view.table.item(first.id, "values")[5] == "verified, incremental"
    assert view.table.item(full.id, "values")[3] == sqlkeep.format_size(full.size_bytes)
    assert view.table.item(full.id, "values")[5] == "verified"

    # The line under the table says what the selected one is rebuilt from.
    assert view.table.selection() == (second.id,)
    assert view.detail_label.winfo_manager() == "grid"
    assert view.detail == (
        f"Incremental backup: adds {sqlkeep.format_size(second.size_bytes)} to the full backup of "
        f"{format_time(full.created_at)} and 1 incremental backup after it; restores to a database of "
        f"{sqlkeep.format_size(second.raw_size_bytes)}."
    )
    view.select(full.id)
    view.update()
    assert view.detail == "" and view.detail_label.winfo_manager() == ""
    view.select(second.id)
    view.update()

    image = screenshot(view, tmp_path / "incremental_view.png")
    colors = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 300, "the window was drawn (text, widgets), not blank"
    ARTIFACT.parent.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "incremental_view.png", ARTIFACT)

    # "Full backup" takes a whole one even while incremental is on.
    touch(db, 3)
    view.full_backup_button.invoke()
    assert view.busy and view.full_backup_button.cget("state") == "disabled"
    view.wait_idle()
    newest = keeper.list()[0]
    assert newest.incremental is None and newest.depends_on == []
    assert view.notification[1].startswith(f"Full backup succeeded: {sqlkeep.format_size(newest.size_bytes)} in ")
    assert view.table.item(newest.id, "values")[5] == "verified"
    assert view.detail == ""


def test_deleting_the_full_backup_keeps_the_incremental_one_restorable(
    make_view: Callable[[sqlkeep.Keeper], BackupView], db: Path, dialogs: Dialogs, tmp_path: Path
) -> None:
    with sqlkeep.Keeper(db, schedule="off", incremental=True) as keeper:
        full = keeper.backup()
        touch(db, 1)
        inc = keeper.backup()
        view = make_view(keeper)
        assert view.incremental_switch.get() is True
        assert view.full_backup_button.winfo_manager() == "grid"

        view.select(full.id)
        dialogs.answers.append(True)
        view.delete_button.invoke()
        view.wait_idle()

        ((title, question),) = dialogs.questions
        assert title == "Delete backup"
        assert "1 incremental backup is rebuilt from its file" in question
        assert "kept for them" in question
        assert [r.backup_id for r in view.rows] == [inc.id]
        view.select(inc.id)
        view.update()
        assert "to a deleted full backup (its file is kept for this one)" in view.detail

        keeper.restore(inc.id, to=tmp_path / "restored.db")
        assert count_items(tmp_path / "restored.db") == count_items(db)


def test_applied_with_a_schedule_and_turned_off_again(view: BackupView, keeper: sqlkeep.Keeper, hooks: Hooks) -> None:
    view.schedule_switch.select()
    view.schedule_text.set("03:30")
    view.timezone_text.set("UTC")
    view.incremental_switch.toggle()
    view.schedule_apply_button.invoke()
    view.wait_idle()
    assert (keeper.config["schedule"], keeper.config["timezone"], keeper.config["incremental"]) == ("03:30", "UTC", True)
    assert hooks.configured == [{"schedule": "03:30", "timezone": "UTC", "incremental": True}]
    level, text = view.notification
    assert level == "success"
    assert text.startswith("Schedule saved. Next backup ") and "Incremental backups on:" in text

    view.incremental_switch.toggle()
    view.schedule_apply_button.invoke()
    view.wait_idle()
    assert keeper.config["incremental"] is False
    assert hooks.configured[-1] == {"incremental": False}
    assert view.notification == ("success", "Incremental backups off: every new backup is a full copy.")
    assert view.full_backup_button.winfo_manager() == ""

    # A change made elsewhere shows after reload_settings.
    keeper.configure(incremental=True)
    view.reload_settings()
    assert view.incremental_switch.get() is True
    assert view.full_backup_button.winfo_manager() == "grid"


def test_a_postgres_keeper_refuses_it_and_the_switch_goes_back(
    make_view: Callable[[sqlkeep.Keeper], BackupView], hooks: Hooks, tmp_path: Path
) -> None:
    # No server needed: the core refuses the value before anything connects.
    uri = "postgresql://app@127.0.0.1:9/shop"
    with sqlkeep.Keeper(uri, backup_dir=tmp_path / "backups", schedule="off") as keeper:
        view = make_view(keeper)
        view.incremental_switch.toggle()
        view.schedule_apply_button.invoke()
        view.wait_idle()
        assert keeper.config["incremental"] is False
        assert view.incremental_switch.get() is False, "the switch goes back"
        assert view.schedule_apply_button.cget("state") == "disabled"
        assert view.full_backup_button.winfo_manager() == ""
        level, text = view.notification
        assert level == "error"
        assert text.startswith("Could not change incremental backups: ") and "SQLite" in text, text
        assert hooks.configured == []
        view.destroy()
