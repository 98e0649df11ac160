"""The example employee register (examples/python/employee_app): run as a program for
the screenshot (the test artifact artifacts/employee_app.png), and driven in-process
through its widgets."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import customtkinter as ctk
import pytest
import sqlkeep
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "python" / "employee_app"
ARTIFACT = ROOT / "artifacts" / "employee_app.png"

sys.path.insert(0, str(APP))
import employees  # noqa: E402  (the example's own modules)
from window import EmployeeWindow  # noqa: E402


def run_app(data_dir: Path, png: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(APP), "--data-dir", str(data_dir), "--screenshot", str(png), *extra],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, f"exit status {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def kinds(data_dir: Path) -> dict[str, int]:
    with sqlkeep.Keeper(data_dir / "employees.db", backup_dir=data_dir / "backups", schedule="off") as k:
        by_kind = dict(k.stats()["by_kind"])
    return by_kind


def test_the_app_runs_and_its_screenshot_shows_the_backups_tab(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    png = tmp_path / "employee_app.png"

    first = run_app(data_dir, png, "--tab", "backups", "--appearance", "light")

    assert "migration to v2 done" in first.stdout
    image = Image.open(png)
    assert image.size == (1200, 760)
    colors = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 300, "the window was drawn (text, widgets), not blank"
    ARTIFACT.parent.mkdir(exist_ok=True)
    shutil.copy(png, ARTIFACT)

    db = data_dir / "employees.db"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 2
    assert con.execute("SELECT count(*) FROM employees WHERE salary > 0").fetchone()[0] == 36
    con.close()
    first_kinds = kinds(data_dir)
    # The migration's guard, the first backup after seeding, the scheduler's catch-up
    # (02:00 has passed today or yesterday) and the backup at shutdown.
    assert first_kinds == {"pre-operation": 1, "manual": 1, "scheduled": 1, "shutdown": 1}

    second = run_app(data_dir, tmp_path / "second.png")
    assert "migration" not in second.stdout, "the migration runs once"
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM employees").fetchone()[0] == 36, "seeded once"
    con.close()
    second_kinds = kinds(data_dir)
    assert second_kinds["pre-operation"] == 1 and second_kinds["manual"] == 1
    assert second_kinds["shutdown"] == 2
    assert second_kinds["scheduled"] == 1, "the slot was already covered"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[EmployeeWindow, sqlite3.Connection, sqlkeep.Keeper]]:
    ctk.set_appearance_mode("light")
    db = tmp_path / "employees.db"
    con = employees.connect(db)
    keeper = sqlkeep.Keeper(db, schedule="off", backup_on_shutdown=True)
    employees.migrate(con, keeper)
    employees.seed(con, count=5)
    configured: list[dict[str, object]] = []
    window = EmployeeWindow(
        con, keeper, on_configure=configured.append, after_restore=lambda: employees.after_restore(con, keeper)
    )
    window.geometry("1200x760+0+0")
    window.update()
    window.backups.wait_idle()
    yield window, con, keeper
    if not window.closed:
        for after_id in window.tk.splitlist(window.tk.call("after", "info")):
            window.tk.call("after", "cancel", after_id)
        window.close()
    con.close()


def test_an_employee_deleted_by_mistake_comes_back_with_a_restore(
    app: tuple[EmployeeWindow, sqlite3.Connection, sqlkeep.Keeper]
) -> None:
    window, con, keeper = app
    editor, view = window.editor, window.backups
    assert editor.count_label.cget("text") == "5 employees"

    for key, value in {"name": "Grace Hopper", "department": "Engineering",
                       "email": "grace@example.com", "salary": "99000"}.items():
        editor.fields[key].set(value)
    editor.add_button.invoke()
    assert editor.count_label.cget("text") == "6 employees"

    view.label_entry.insert(0, "with Grace")
    view.backup_button.invoke()
    view.wait_idle()
    safe = view.rows[0]
    assert safe.label == "with Grace"

    editor.confirm = lambda title, message: True
    editor.table.selection_set(str(editor.selected_id))
    editor.update()
    editor.delete_button.invoke()
    assert editor.count_label.cget("text") == "5 employees"

    view.confirm = lambda title, message: True
    view.select(safe.iid)
    view.restore_button.invoke()
    view.wait_idle()

    # The window reloaded the register from the restored database (its own connection).
    assert editor.count_label.cget("text") == "6 employees"
    names = [editor.table.item(i, "values")[0] for i in editor.table.get_children()]
    assert "Grace Hopper" in names
    assert view.rows[0].kind == "pre-restore"


def test_restoring_a_backup_from_before_the_migration_migrates_again(
    app: tuple[EmployeeWindow, sqlite3.Connection, sqlkeep.Keeper]
) -> None:
    window, con, keeper = app
    view = window.backups
    (before_migration,) = [r for r in view.rows if r.kind == "pre-operation"]

    view.confirm = lambda title, message: True
    view.select(before_migration.iid)
    view.restore_button.invoke()
    view.wait_idle()

    assert employees.schema_version(con) == employees.SCHEMA_VERSION
    assert window.editor.count_label.cget("text") == "0 employees", "the register before the demo data"
    assert [r.kind for r in view.rows].count("pre-operation") == 2, "the migration ran under its guard again"


def test_closing_the_window_stops_the_scheduler_with_a_shutdown_backup(
    app: tuple[EmployeeWindow, sqlite3.Connection, sqlkeep.Keeper]
) -> None:
    window, con, keeper = app
    keeper.start()
    window.close()
    assert not keeper.running
    assert [b.kind for b in keeper.list()][0] == "shutdown"
