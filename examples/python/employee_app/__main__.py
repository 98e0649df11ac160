"""Employee register: a small CustomTkinter application on SQLite, its data kept safe by
sqlkeep.

    python examples/python/employee_app [--data-dir DIR] [--tab employees|backups]
                                        [--appearance system|light|dark]
                                        [--screenshot PNG]

The database, its backups (DIR/backups) and the backup settings (DIR/settings.json) live
in DIR, by default ~/.sqlkeep-employee-app. At start the application runs its schema
migration inside ``keeper.guard(...)`` (once: the schema version is PRAGMA user_version),
fills a new register with made-up employees and takes a first backup, then starts the
keeper's scheduler: daily at 02:00 local time, a run missed while the application was
closed caught up at start. Closing the window stops the scheduler, which takes a
shutdown backup. The "Backups" tab is ``sqlkeep.tk.BackupView``; schedule and retention
changes made there are saved to settings.json for the next start.

--screenshot PNG draws the window, waits for the first data (and the scheduler's
catch-up) to show, saves a PNG of the window and exits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import customtkinter as ctk
import employees
import sqlkeep
from window import EmployeeWindow

DEFAULT_DATA_DIR = Path.home() / ".sqlkeep-employee-app"
WINDOW_SIZE = (1200, 760)
SCREENSHOT_TIMEOUT_S = 60.0

DEFAULT_SETTINGS: dict[str, Any] = {
    "schedule": "02:00",
    "timezone": "local",
    "incremental": False,
    "retention": {"daily": 14, "weekly": 8, "monthly": 12, "yearly": 2},
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="employee_app", description="Employee register with sqlkeep backups.")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help=f"where the database, its backups and settings live (default {DEFAULT_DATA_DIR})")
    parser.add_argument("--tab", choices=("employees", "backups"), default="employees", help="the tab shown first")
    parser.add_argument("--appearance", choices=("system", "light", "dark"), default="system")
    parser.add_argument("--screenshot", type=Path, metavar="PNG",
                        help="save a PNG of the window once the data is shown, then exit")
    return parser.parse_args(argv)


def load_settings(path: Path) -> dict[str, Any]:
    settings = json.loads(json.dumps(DEFAULT_SETTINGS))
    if path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        for key in ("schedule", "timezone", "incremental"):
            if key in saved:
                settings[key] = saved[key]
        settings["retention"].update(saved.get("retention", {}))
    return settings


def open_keeper(data_dir: Path, settings: dict[str, Any]) -> sqlkeep.Keeper:
    return sqlkeep.Keeper(
        data_dir / "employees.db",
        backup_dir=data_dir / "backups",
        schedule=settings["schedule"],
        timezone=settings["timezone"],
        incremental=settings["incremental"],
        retention=settings["retention"],
        backup_on_shutdown=True,
    )


class Screenshot:
    """Saves the window to a PNG once the scheduler has handled its first slot and the
    Backups tab shows the result, then closes the window."""

    def __init__(self, window: EmployeeWindow, path: Path) -> None:
        self.window = window
        self.path = path
        self.deadline = time.monotonic() + SCREENSHOT_TIMEOUT_S
        self.refreshed = False
        self.ok = False
        window.after(200, self._check)

    def _scheduler_settled(self) -> bool:
        keeper = self.window.keeper
        if keeper.config["schedule"] == "off":
            return True
        status = keeper.status()
        return status["last_slot"] is not None or status["last_outcome"] is not None

    def _check(self) -> None:
        if time.monotonic() > self.deadline:
            print(f"employee_app: the window did not settle within {SCREENSHOT_TIMEOUT_S} s", file=sys.stderr)
            self.window.close()
            return
        view = self.window.backups
        if not self._scheduler_settled() or not view.idle:
            self.window.after(100, self._check)
            return
        if not self.refreshed:
            # Once more, now that the catch-up backup (if any) is in the log.
            self.refreshed = True
            view.refresh()
            self.window.after(100, self._check)
            return
        if view.rows:
            view.select(view.rows[0].iid)
        self.window.update_idletasks()
        self.window.after(400, self._grab)

    def _grab(self) -> None:
        from PIL import ImageGrab

        w = self.window
        x, y = w.winfo_rootx(), w.winfo_rooty()
        image = ImageGrab.grab(bbox=(x, y, x + w.winfo_width(), y + w.winfo_height()))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        image.save(self.path)
        print(f"employee_app: saved {self.path} ({image.width}x{image.height})")
        self.ok = True
        w.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir: Path = args.data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings_path = data_dir / "settings.json"
    ctk.set_appearance_mode(args.appearance)

    con = employees.connect(data_dir / "employees.db")
    settings = load_settings(settings_path)
    try:
        keeper = open_keeper(data_dir, settings)
    except sqlkeep.ConfigError as e:
        print(f"employee_app: {settings_path}: {e}; using the default backup settings", file=sys.stderr)
        keeper = open_keeper(data_dir, DEFAULT_SETTINGS)

    def save_settings(changes: dict[str, Any]) -> None:
        for key, value in changes.items():
            if key == "retention":
                settings["retention"].update(value)
            else:
                settings[key] = value
        settings_path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")

    def report(steps: list[str]) -> None:
        for step in steps:
            print(f"employee_app: {step} done (a pre-operation backup was taken first)")

    screenshot: Screenshot | None = None
    try:
        report(employees.migrate(con, keeper))
        added = employees.seed(con)
        if added:
            keeper.backup(label=f"{added} demo employees added")

        window = EmployeeWindow(
            con,
            keeper,
            on_configure=save_settings,
            after_restore=lambda: report(employees.after_restore(con, keeper)),
        )
        # Started once the Backups tab listens, so it reports the catch-up backup too.
        keeper.start()
        width, height = WINDOW_SIZE
        window.geometry(f"{width}x{height}+0+0" if args.screenshot else f"{width}x{height}")
        window.tabs.set("Backups" if args.tab == "backups" else "Employees")
        if args.screenshot:
            screenshot = Screenshot(window, args.screenshot)
        window.mainloop()
    finally:
        keeper.stop()
        con.close()
    if screenshot is not None and not screenshot.ok:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
