"""sqlkeep.tk.BackupView driven through its widgets (button .invoke(), typing into the
entries) over a real Keeper, under Xvfb."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable

import customtkinter as ctk
import pytest
import sqlkeep
from sqlkeep.tk import BackupView, format_duration
from support import Dialogs, Hooks, count_items, make_big_db, texts, until

# The notification colors (light, dark) of the core's "error" and "warning" severities.
RED = ("#C62828", "#FF6B6B")
AMBER = ("#B26A00", "#FFB74D")


def type_into(entry: Any, text: str) -> None:
    """Replaces the text of an entry as typing would (the view reacts to every change)."""
    entry.delete(0, "end")
    entry.insert(0, text)


def test_the_view_shows_the_existing_backups_newest_first_and_their_statistics(
    make_view: Callable[[sqlkeep.Keeper], BackupView], keeper: sqlkeep.Keeper
) -> None:
    older = keeper.backup(label="older")
    newer = keeper.backup(label="newer")

    view = make_view(keeper)

    assert [r.backup_id for r in view.rows] == [newer.id, older.id]
    assert list(view.table.get_children()) == [newer.id, older.id]
    date, kind, label, size, duration, status, offsite = tuple(view.table.item(newer.id, "values"))
    assert (kind, label, status, offsite) == ("manual", "newer", "verified", "—")
    assert "offsite" not in view.table.cget("displaycolumns"), "no remotes: no Offsite column"
    assert view.restore_remote_button.winfo_manager() == "" and view.offsite_label.winfo_manager() == ""
    assert date == newer.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
    assert size == sqlkeep.format_size(newer.size_bytes)
    assert duration == format_duration(newer.duration_ms)
    assert texts(view.stats_labels["count"]) == "2"
    assert texts(view.stats_labels["total_bytes"]) == sqlkeep.format_size(older.size_bytes + newer.size_bytes)
    assert texts(view.stats_labels["newest"]) == newer.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
    assert texts(view.stats_labels["last_failure"]) == "—"
    assert texts(view.scheduler_label) == "Scheduler stopped"
    # Nothing selected: only the actions that need no backup are available.
    assert view.backup_button.cget("state") == "normal"
    assert view.restore_file_button.cget("state") == "normal"
    for button in (view.verify_button, view.restore_button, view.delete_button):
        assert button.cget("state") == "disabled"


def test_back_up_now_takes_a_labelled_backup_off_the_tk_thread_and_updates_table_and_stats(
    view: BackupView, keeper: sqlkeep.Keeper
) -> None:
    assert texts(view.stats_labels["count"]) == "0"
    # The core's health verdict: no backup yet is a warning, in amber, with its reason.
    assert view.health == "Needs attention · No backup yet · automatic backups off\n• no backup has been made yet"
    assert view.health_label.cget("text_color") == AMBER
    type_into(view.label_entry, "before the import")

    view.backup_button.invoke()
    assert view.busy, "the backup runs on a worker thread; invoke() returns at once"
    assert view.backup_button.cget("state") == "disabled"
    view.wait_idle()

    assert not view.busy
    (backup,) = keeper.list()
    assert backup.label == "before the import"
    top = view.rows[0]
    assert (top.backup_id, top.kind, top.label, top.status) == (backup.id, "manual", "before the import", "verified")
    assert view.table.selection() == (backup.id,)
    assert texts(view.stats_labels["count"]) == "1"
    assert texts(view.stats_labels["total_bytes"]) == sqlkeep.format_size(backup.size_bytes)
    assert texts(view.stats_labels["last_success"]) != "—"
    level, text = view.notification
    assert level == "success"
    assert "“before the import” succeeded" in text
    assert view.label_entry.get() == "", "the label is cleared for the next backup"
    assert view.health == "Healthy · Last backup just now · verified · automatic backups off"

    view.backup_button.invoke()
    view.wait_idle()
    assert texts(view.stats_labels["count"]) == "2"
    assert view.rows[0].label is None


def test_a_failed_backup_is_reported_and_recorded(view: BackupView, keeper: sqlkeep.Keeper, db: Path) -> None:
    db.unlink()

    view.backup_button.invoke()
    view.wait_idle()

    level, text = view.notification
    assert level == "error"
    assert text.startswith("Backup failed: ")
    assert str(db) in text
    assert view.rows[0].status == "failed"
    assert view.rows[0].backup is None
    assert texts(view.stats_labels["last_failure"]) != "—"
    view.table.selection_set(view.rows[0].iid)
    view.update()
    assert view.verify_button.cget("state") == "disabled", "a failed run has no backup to act on"


def test_verify_selected_marks_an_unverified_backup_verified_and_a_damaged_one_corrupt(
    make_view: Callable[[sqlkeep.Keeper], BackupView], db: Path
) -> None:
    with sqlkeep.Keeper(db, schedule="off", verify_after_backup="off") as keeper:
        first = keeper.backup(label="first")
        second = keeper.backup(label="second")
        view = make_view(keeper)
        assert [r.status for r in view.rows] == ["unverified", "unverified"]

        view.select(first.id)
        assert view.verify_button.cget("state") == "normal"
        view.verify_button.invoke()
        view.wait_idle()
        assert {r.backup_id: r.status for r in view.rows} == {second.id: "unverified", first.id: "verified"}
        assert view.notification[0] == "success"
        assert "verified" in view.notification[1]

        data = bytearray(second.path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        second.path.write_bytes(bytes(data))
        view.select(second.id)
        view.verify_button.invoke()
        view.wait_idle()
        assert {r.backup_id: r.status for r in view.rows} == {second.id: "corrupt", first.id: "verified"}
        level, text = view.notification
        assert level == "error"
        assert "corrupt" in text
        assert "corrupt" in view.table.item(second.id, "tags")


def test_restore_selected_asks_first_then_restores_with_a_safety_copy(
    view: BackupView, keeper: sqlkeep.Keeper, db: Path, dialogs: Dialogs, hooks: Hooks
) -> None:
    good = keeper.backup(label="good data")
    app = sqlite3.connect(db)  # the application's connection stays open throughout
    app.execute("DELETE FROM items WHERE id > 10")
    app.commit()
    view.refresh()
    view.wait_idle()

    view.select(good.id)
    dialogs.answers.append(True)
    view.restore_button.invoke()
    assert view.busy
    view.wait_idle()

    ((title, message),) = dialogs.questions
    assert title == "Restore backup"
    assert str(db) in message, "names the database that will be replaced"
    assert good.created_at.astimezone().strftime("%Y-%m-%d %H:%M") in message
    assert "manual" in message and "good data" in message, "names the backup"
    # The core's preview of what the restore changes: the 190 deleted rows come back.
    assert "This restore brings back 190 rows (items 190)." in message
    assert "safety copy" in message
    assert app.execute("SELECT count(*) FROM items").fetchone()[0] == 200
    app.close()
    top = view.rows[0]
    assert top.kind == "pre-restore"
    assert view.table.selection() == (top.iid,)
    assert [b.id for b in hooks.restored] == [top.backup_id]
    assert texts(view.stats_labels["count"]) == "2"
    level, text = view.notification
    assert level == "success"
    assert top.backup_id is not None and top.backup_id in text


def test_re_check_on_restore_runs_the_integrity_check_again(
    view: BackupView, keeper: sqlkeep.Keeper, dialogs: Dialogs
) -> None:
    good = keeper.backup(label="good data")
    view.refresh()
    view.wait_idle()
    for box_on, expected in ((False, "not repeated"), (True, "integrity_check ok")):
        if view.paranoid.get() != box_on:
            view.paranoid_box.toggle()
        assert view.paranoid.get() is box_on
        view.select(good.id)
        dialogs.answers.append(True)
        view.restore_button.invoke()
        view.wait_idle()
        assert view.notification[0] == "success", view.notification
        verification = keeper.get(good.id).verification
        assert verification is not None and expected in verification.detail, verification.detail


def test_restore_selected_answered_no_changes_nothing(
    view: BackupView, keeper: sqlkeep.Keeper, db: Path, dialogs: Dialogs, hooks: Hooks
) -> None:
    good = keeper.backup(label="good data")
    con = sqlite3.connect(db)
    con.execute("DELETE FROM items")
    con.commit()
    con.close()
    view.refresh()
    view.wait_idle()
    rows_before = view.rows

    view.select(good.id)
    dialogs.answers.append(False)
    view.restore_button.invoke()
    view.wait_idle()
    assert not view.busy

    assert len(dialogs.questions) == 1
    assert "brings back 200 rows (items 200)" in dialogs.questions[0][1]
    assert count_items(db) == 0
    assert [b.id for b in keeper.list()] == [good.id]
    assert view.rows == rows_before
    assert hooks.restored == []
    assert view.notification == ("info", "Restore cancelled.")


def test_restore_a_table_offers_the_tables_that_differ_and_merges_by_key(
    view: BackupView, keeper: sqlkeep.Keeper, db: Path, dialogs: Dialogs, hooks: Hooks
) -> None:
    good = keeper.backup(label="good data")
    app = sqlite3.connect(db)
    app.execute("DELETE FROM items WHERE id > 190")
    app.execute("UPDATE items SET qty = -1 WHERE id <= 2")
    app.execute("INSERT INTO items (id, name, qty) VALUES (500, 'added today', 1)")
    app.commit()
    view.refresh()
    view.wait_idle()

    view.select(good.id)
    label = "items: brings back 10 rows, reverts 2 rows; keeps 1 row added since"
    dialogs.choices.append(label)
    dialogs.answers.append(True)
    view.restore_table_button.invoke()
    view.wait_idle()

    ((title, message, options),) = dialogs.choice_requests
    assert title == "Restore a table" and "good data" in message
    assert options == [label], "the core's per-table preview"
    ((_, question),) = dialogs.questions
    assert "Bring back table items" in question
    assert "This brings back 10 rows, reverts 2 rows; keeps 1 row added since." in question
    assert "safety copy" in question
    # Back: the deleted rows and the old quantities; today's new row stays.
    assert app.execute("SELECT count(*) FROM items").fetchone()[0] == 201
    assert app.execute("SELECT count(*) FROM items WHERE qty = -1").fetchone()[0] == 0
    app.close()
    top = view.rows[0]
    assert top.kind == "pre-restore"
    assert [b.id for b in hooks.restored] == [top.backup_id]
    level, text = view.notification
    assert level == "success"
    assert "items: 2 replaced, 10 added, 188 unchanged" in text and str(top.backup_id) in text

    # Nothing left to bring back: said so, no question asked.
    view.select(good.id)
    dialogs.choices.clear()
    con = sqlite3.connect(db)
    con.execute("DELETE FROM items WHERE id = 500")
    con.commit()
    con.close()
    view.restore_table_button.invoke()
    view.wait_idle()
    assert len(dialogs.choice_requests) == 1
    assert view.notification[1].startswith("No table of the backup of")


def test_restore_from_a_file_uses_the_file_chooser_and_asks_first(
    view: BackupView, keeper: sqlkeep.Keeper, db: Path, tmp_path: Path, dialogs: Dialogs, hooks: Hooks
) -> None:
    backup = keeper.backup(label="to take home")
    elsewhere = tmp_path / "usb-stick"
    elsewhere.mkdir()
    copied = elsewhere / backup.path.name
    shutil.copy(backup.path, copied)
    shutil.copy(backup.path.with_name(f"{backup.id}.json"), elsewhere)
    keeper.delete(backup.id)
    con = sqlite3.connect(db)
    con.execute("DELETE FROM items")
    con.commit()
    con.close()

    # Cancelled in the file chooser: nothing is asked, nothing happens.
    dialogs.files.append(None)
    view.restore_file_button.invoke()
    view.wait_idle()
    assert dialogs.file_requests == 1
    assert dialogs.questions == []
    assert count_items(db) == 0

    dialogs.files.append(str(copied))
    dialogs.answers.append(True)
    view.restore_file_button.invoke()
    view.wait_idle()

    ((title, message),) = dialogs.questions
    assert title == "Restore from a file"
    assert str(db) in message and str(copied) in message and "safety copy" in message
    assert "This restore brings back 200 rows (items 200)." in message, "the core's preview"
    assert count_items(db) == 200
    assert [r.kind for r in view.rows if r.backup is not None] == ["pre-restore"]
    assert len(hooks.restored) == 1
    assert view.notification[0] == "success"


def test_restore_from_a_file_without_its_manifest_reports_the_error(
    view: BackupView, keeper: sqlkeep.Keeper, db: Path, tmp_path: Path, dialogs: Dialogs
) -> None:
    backup = keeper.backup()
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    shutil.copy(backup.path, lonely)
    dialogs.files.append(str(lonely / backup.path.name))
    dialogs.answers.append(True)

    view.restore_file_button.invoke()
    view.wait_idle()

    ((_, question),) = dialogs.questions
    assert "What would change cannot be shown" in question
    level, text = view.notification
    assert level == "error"
    assert text.startswith("Restore failed: ")
    assert count_items(db) == 200
    assert not view.busy
    assert view.restore_file_button.cget("state") == "normal"


def test_delete_selected_asks_first(view: BackupView, keeper: sqlkeep.Keeper, dialogs: Dialogs) -> None:
    keep = keeper.backup(label="keep me")
    doomed = keeper.backup(label="delete me")
    view.refresh()
    view.wait_idle()

    view.select(doomed.id)
    dialogs.answers.append(False)
    view.delete_button.invoke()
    view.wait_idle()
    assert doomed.path.exists()
    assert texts(view.stats_labels["count"]) == "2"

    dialogs.answers.append(True)
    view.delete_button.invoke()
    view.wait_idle()

    assert [q[0] for q in dialogs.questions] == ["Delete backup", "Delete backup"]
    assert "delete me" in dialogs.questions[1][1] and "cannot be undone" in dialogs.questions[1][1]
    assert not doomed.path.exists()
    assert [b.id for b in keeper.list()] == [keep.id]
    assert [r.backup_id for r in view.rows] == [keep.id]
    assert texts(view.stats_labels["count"]) == "1"
    assert view.notification[0] == "success"
    assert view.delete_button.cget("state") == "disabled", "the selection went with the row"

    # The core's timeline with deleted runs is read in the background.
    view.show_deleted_box.toggle()
    view.wait_idle()
    assert [(r.backup_id, r.status) for r in view.rows] == [(doomed.id, "deleted"), (keep.id, "verified")]
    view.show_deleted_box.toggle()
    view.wait_idle()
    assert [r.backup_id for r in view.rows] == [keep.id]


def test_an_invalid_schedule_shows_the_core_error_beside_the_field_and_cannot_be_applied(
    view: BackupView, keeper: sqlkeep.Keeper, hooks: Hooks
) -> None:
    view.schedule_switch.select()
    type_into(view.schedule_entry, "25:00")
    view.update()

    with pytest.raises(sqlkeep.ConfigError) as expected:
        sqlkeep.preview_schedule("25:00", "local", 3)
    assert texts(view.schedule_error) == str(expected.value)
    assert view.schedule_error.winfo_manager() == "grid", "the error is shown"
    assert texts(view.next_runs_label) == ""
    assert view.schedule_apply_button.cget("state") == "disabled"
    view.apply_schedule()
    assert keeper.config["schedule"] == "off"
    assert hooks.configured == []

    type_into(view.schedule_entry, "23:59")
    view.update()
    assert texts(view.schedule_error) == ""
    assert view.schedule_error.winfo_manager() == ""
    assert view.schedule_apply_button.cget("state") == "normal"


def test_an_unknown_time_zone_is_reported(view: BackupView) -> None:
    view.schedule_switch.select()
    view.timezone_box.set("Mars/Olympus_Mons")
    view.update()
    assert "unknown time zone" in texts(view.schedule_error)
    assert view.schedule_apply_button.cget("state") == "disabled"


def test_a_cron_expression_shows_the_next_three_runs_as_typed_and_applies(
    view: BackupView, keeper: sqlkeep.Keeper, hooks: Hooks
) -> None:
    view.schedule_switch.select()
    view.timezone_box.set("Europe/Berlin")
    type_into(view.schedule_entry, "30 2 * * 1-5")
    view.update()

    expected = sqlkeep.preview_schedule("30 2 * * 1-5", "Europe/Berlin", 3)
    lines = texts(view.next_runs_label).splitlines()
    assert len(lines) == 3
    for line, run in zip(lines, expected):
        assert f"{run:%Y-%m-%d} 02:30" in line
        assert run.strftime("%a") in line
    assert texts(view.schedule_error) == ""

    view.schedule_apply_button.invoke()
    assert keeper.config["schedule"] == "30 2 * * 1-5"
    assert keeper.config["timezone"] == "Europe/Berlin"
    assert hooks.configured == [{"schedule": "30 2 * * 1-5", "timezone": "Europe/Berlin"}]
    assert view.schedule_apply_button.cget("state") == "disabled", "nothing left to apply"
    assert view.notification[0] == "success"


def test_the_switch_turns_automatic_backups_off(make_view: Callable[[sqlkeep.Keeper], BackupView], db: Path) -> None:
    with sqlkeep.Keeper(db, schedule="04:15") as keeper:
        view = make_view(keeper)
        assert view.schedule_switch.get() is True
        assert view.schedule_entry.get() == "04:15"

        view.schedule_switch.toggle()
        view.update()
        assert texts(view.next_runs_label) == "Automatic backups are off."
        view.schedule_apply_button.invoke()
        assert keeper.config["schedule"] == "off"
        assert keeper.next_run is None

        view.schedule_switch.toggle()
        view.update()
        assert view.schedule_entry.get() == "04:15", "the time is kept for switching back on"
        assert len(texts(view.next_runs_label).splitlines()) == 3


def _shutdown_backups(keeper: sqlkeep.Keeper, n: int) -> None:
    """`n` automatic backups (rotation only touches automatic ones)."""
    for _ in range(n):
        keeper.start()
        keeper.stop()


def test_retention_preview_shows_what_the_next_rotation_would_delete(
    make_view: Callable[[sqlkeep.Keeper], BackupView], db: Path, hooks: Hooks
) -> None:
    with sqlkeep.Keeper(db, schedule="off", backup_on_shutdown=True) as keeper:
        _shutdown_backups(keeper, 3)
        keeper.backup(label="manual, never rotated")
        view = make_view(keeper)

        values = {"hourly": 0, "daily": 1, "weekly": 0, "monthly": 0, "yearly": 0, "keep_within": None}
        for key, value in values.items():
            type_into(view.retention_entries[key], "" if value is None else str(value))
        view.wait_idle()

        plan = keeper.preview_rotation(values)
        n = len(plan.deleted)
        assert n >= 1, "one automatic backup a day is kept (two days if the test ran across midnight)"
        freed = sqlkeep.format_size(plan.freed_bytes)
        assert view.retention_preview.startswith(
            f"The next rotation would delete {n} backup{'s' if n > 1 else ''} ({freed}): "
        )
        assert len(keeper.list()) == 4, "a preview deletes nothing"
        assert view.retention_apply_button.cget("state") == "normal"

        view.retention_apply_button.invoke()
        assert {k: keeper.config["retention"][k] for k in values} == values
        assert hooks.configured == [{"retention": {**values, "max_total_bytes": None}}]
        assert view.retention_apply_button.cget("state") == "disabled"

        # The size budget: typed as people write it, read by the core, shown as it formats.
        type_into(view.retention_entries["max_total_bytes"], "2gb")
        view.wait_idle()
        assert view.retention_apply_button.cget("state") == "normal"
        view.retention_apply_button.invoke()
        view.wait_idle()
        assert keeper.config["retention"]["max_total_bytes"] == 2_000_000_000
        assert view.retention_vars["max_total_bytes"].get() == "2.0 GB"
        assert view.retention_apply_button.cget("state") == "disabled"
        type_into(view.retention_entries["max_total_bytes"], "lots")
        view.wait_idle()
        assert "retention.max_total_bytes" in texts(view.retention_error)
        assert view.retention_entries["max_total_bytes"].cget("border_color") == RED
        assert view.retention_apply_button.cget("state") == "disabled"


def test_retention_fields_accept_only_whole_numbers(view: BackupView, keeper: sqlkeep.Keeper) -> None:
    type_into(view.retention_entries["weekly"], "-1")
    view.wait_idle()
    assert texts(view.retention_error) == "Weekly: enter a whole number of 0 or more."
    assert view.retention_preview == ""
    assert view.retention_apply_button.cget("state") == "disabled"
    view.apply_retention()
    assert keeper.config["retention"]["weekly"] == 12

    type_into(view.retention_entries["weekly"], "4")
    view.wait_idle()
    assert texts(view.retention_error) == ""
    assert view.retention_preview == "The next rotation would delete nothing."


def test_hourly_and_within_are_applied_to_the_keeper(
    view: BackupView, keeper: sqlkeep.Keeper, hooks: Hooks
) -> None:
    assert view.retention_vars["hourly"].get() == "0"
    assert view.retention_vars["keep_within"].get() == "", "no keep_within rule by default"
    type_into(view.retention_entries["hourly"], "24")
    type_into(view.retention_entries["keep_within"], "36h")
    view.wait_idle()
    assert texts(view.retention_error) == ""
    assert view.retention_preview == "The next rotation would delete nothing."
    assert view.retention_apply_button.cget("state") == "normal"

    view.retention_apply_button.invoke()
    retention = keeper.config["retention"]
    assert (retention["hourly"], retention["keep_within"]) == (24, "36h")
    assert retention["daily"] == 30, "the other fields as they were"
    (changes,) = hooks.configured
    assert changes["retention"]["hourly"] == 24 and changes["retention"]["keep_within"] == "36h"
    assert view.retention_apply_button.cget("state") == "disabled"
    assert view.notification == ("success", "Retention saved; the next rotation uses it.")

    # An empty Within is no such rule.
    type_into(view.retention_entries["keep_within"], " ")
    view.wait_idle()
    view.retention_apply_button.invoke()
    assert keeper.config["retention"]["keep_within"] is None
    assert keeper.config["retention"]["hourly"] == 24


def test_a_bad_span_in_within_is_the_cores_error_on_that_field_and_the_form_still_fits(
    view: BackupView, keeper: sqlkeep.Keeper
) -> None:
    normal = view.retention_entries["daily"].cget("border_color")
    type_into(view.retention_entries["keep_within"], "7 days")
    view.wait_idle()
    error = texts(view.retention_error)
    assert "retention.keep_within" in error and "7 days" in error
    assert view.retention_entries["keep_within"].cget("border_color") == RED
    assert view.retention_entries["daily"].cget("border_color") == normal
    assert view.retention_preview == ""
    assert view.retention_apply_button.cget("state") == "disabled"
    view.apply_retention()
    assert keeper.config["retention"]["keep_within"] is None
    # The core's message runs to several lines; the settings column still holds the
    # schedule, retention and encryption cards at the window's 760 px.
    side = view.encryption_label.master.master
    view.update()
    assert side.winfo_reqheight() <= side.winfo_height()

    type_into(view.retention_entries["keep_within"], "2w")
    view.wait_idle()
    assert texts(view.retention_error) == ""
    assert view.retention_entries["keep_within"].cget("border_color") == normal
    assert view.retention_apply_button.cget("state") == "normal"


def test_a_retention_warning_is_a_warning_notification_with_the_cores_message(
    make_view: Callable[[sqlkeep.Keeper], BackupView], db: Path
) -> None:
    with sqlkeep.Keeper(db, schedule="0 * * * *", timezone="UTC", retention={"hourly": 24}) as keeper:
        view = make_view(keeper)
        events: list[dict[str, Any]] = []
        keeper.on_event(events.append)
        type_into(view.retention_entries["hourly"], "0")
        view.wait_idle()
        view.retention_apply_button.invoke()
        view.wait_idle()
        (warning,) = [e for e in events if e["type"] == "retention_warning"]
        assert view.notification == ("warning", f"Retention: {warning['message']}")
        assert view.status_label.cget("text_color") == AMBER


def test_the_progress_bar_follows_a_large_backup_and_the_window_stays_responsive(
    make_view: Callable[[sqlkeep.Keeper], BackupView], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = make_big_db(tmp_path / "big.db", 24)
    with sqlkeep.Keeper(big, schedule="off") as keeper:
        view = make_view(keeper)
        values: list[float] = []
        original_set = view.progress_bar.set

        def record(value: float, **kwargs: Any) -> None:
            values.append(value)
            original_set(value, **kwargs)

        monkeypatch.setattr(view.progress_bar, "set", record)
        assert view.progress_bar.winfo_manager() == "", "hidden while idle"

        ticks: list[bool] = []
        view.backup_button.invoke()
        assert view.progress_bar.winfo_manager() == "grid", "shown during the backup"
        view.after(0, lambda: ticks.append(view.busy))
        view.update()
        assert ticks == [True], "the Tk loop runs while the backup is in progress"
        view.wait_idle()

    assert any(0 < v < 1 for v in values), f"no intermediate progress in {values[:5]}..."
    assert max(values) == 1
    assert values[-1] == 0, "reset when done"
    assert view.progress_bar.winfo_manager() == ""
    assert view.notification[0] == "success"


def test_scheduler_events_arrive_as_notifications_and_refresh_the_view(
    make_view: Callable[[sqlkeep.Keeper], BackupView], db: Path
) -> None:
    # A daily slot that has passed and has no backup: the scheduler catches it up at start.
    with sqlkeep.Keeper(db, schedule="00:00", timezone="UTC") as keeper:
        view = make_view(keeper)
        keeper.start()
        until(view, lambda: any(r.kind == "scheduled" for r in view.rows), "the catch-up backup in the table")
        until(view, lambda: "Scheduled backup succeeded" in view.notification[1], "the notification")
        assert view.notification[0] == "success"
        assert texts(view.stats_labels["count"]) == "1"
        assert texts(view.scheduler_label).startswith("Scheduler running · next backup ")
        keeper.stop()
        until(view, lambda: texts(view.scheduler_label) == "Scheduler stopped", "the scheduler_stopped event")


def test_a_failure_on_another_thread_is_notified(view: BackupView, keeper: sqlkeep.Keeper, db: Path) -> None:
    db.unlink()
    errors: list[BaseException] = []

    def back_up() -> None:
        try:
            keeper.backup(label="from a thread")
        except sqlkeep.Error as e:
            errors.append(e)

    worker = threading.Thread(target=back_up)
    worker.start()
    worker.join()
    assert len(errors) == 1

    until(view, lambda: view.notification[0] == "error", "the failure notification")
    assert view.notification[1].startswith("Manual backup failed: ")
    until(view, lambda: bool(view.rows) and view.rows[0].status == "failed", "the failed run in the table")


def test_a_scheduled_backup_that_will_be_retried_is_a_warning(
    make_view: Callable[[sqlkeep.Keeper], BackupView], db: Path
) -> None:
    # A daily slot that has passed: the catch-up backup fails (the database is gone) and
    # the scheduler will retry it, which the core rates a warning, not an error.
    with sqlkeep.Keeper(db, schedule="00:00", timezone="UTC") as keeper:
        view = make_view(keeper)
        db.unlink()
        keeper.start()
        until(view, lambda: view.notification[0] != "info", "the failure notification")
        level, text = view.notification
        assert level == "warning"
        assert text.startswith("Scheduled backup failed: ") and "Retrying at " in text
        assert view.status_label.cget("text_color") == AMBER
        keeper.stop()


def _block_deletion(backup: sqlkeep.Backup) -> None:
    """Makes deleting `backup` fail for real, for root too: a non-empty directory where
    each of its other possible files would be."""
    for pattern in sqlkeep.BACKUP_FILE_PATTERNS:
        path = backup.path.parent / pattern.replace("*", backup.id)
        if not path.exists():
            path.mkdir()
            (path / "keep").write_text("x")


def test_a_failed_automatic_rotation_is_notified_and_stays_on_show(
    make_view: Callable[[sqlkeep.Keeper], BackupView], db: Path
) -> None:
    retention = {"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0, "yearly": 0}
    with sqlkeep.Keeper(
        db, schedule="off", backup_on_shutdown=True, test_restore_every_days=0, retention=retention
    ) as keeper:
        _shutdown_backups(keeper, 1)
        (old,) = keeper.list()
        _block_deletion(old)
        # A daily slot that has passed: caught up at start, then rotation must delete `old`.
        keeper.configure(schedule="00:00", timezone="UTC")
        view = make_view(keeper)
        assert "rotation" not in view.health

        keeper.start()
        until(view, lambda: view.notification[1].startswith("Automatic rotation failed: "), "the notification")
        assert view.notification[0] == "error"
        assert old.id in view.notification[1], "names what could not be deleted"
        assert view.status_label.cget("text_color") == RED
        until(view, lambda: "the last automatic rotation failed" in view.health, "the health reason")
        assert "cannot delete backup file " in view.health
        assert view.health.startswith("Needs attention · ")
        assert view.stats["rotation_failures"] == 1
        assert any(r.kind == "scheduled" and r.backup is not None for r in view.rows), "the new backup stands"

        keeper.stop()
        until(view, lambda: texts(view.scheduler_label) == "Scheduler stopped", "the scheduler_stopped event")
        assert "the last automatic rotation failed" in view.health, "on show until a rotation works"


def test_destroying_the_view_stops_listening_to_the_keeper(
    root: ctk.CTk, view: BackupView, keeper: sqlkeep.Keeper
) -> None:
    view.destroy()
    keeper.backup(label="after the view is gone")
    root.update()
    assert len(keeper.list()) == 1


def test_the_progress_bar_cancels_a_running_backup(
    make_view: Callable[[sqlkeep.Keeper], BackupView], tmp_path: Path
) -> None:
    big = make_big_db(tmp_path / "big.db", 60)
    with sqlkeep.Keeper(big, schedule="off") as k:
        view = make_view(k)
        assert view.cancel_button.winfo_manager() == "", "no Cancel without a backup"
        view.backup_button.invoke()

        def pump(condition: Callable[[], bool], what: str) -> None:
            # Runs the Tk loop without waiting for the backup (wait_idle would).
            deadline = time.monotonic() + 60
            while not condition():
                assert time.monotonic() < deadline, what
                view.update()
                time.sleep(0.005)

        pump(lambda: view.cancel_button.winfo_manager() != "", "the Cancel button shows")
        pump(lambda: view.progress_bar.get() > 0, "the backup made progress")
        view.cancel_button.invoke()
        view.wait_idle()
        level, text = view.notification
        assert (level, text) == ("info", "Backup cancelled; nothing was kept.")
        assert k.list() == []
        assert view.cancel_button.winfo_manager() == ""
        assert k.history()[0]["status"] == "cancelled"
