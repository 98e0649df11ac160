"""The backup screen of a CustomTkinter application: ``sqlkeep.tk.BackupView``.

    import customtkinter as ctk
    import sqlkeep
    from sqlkeep.tk import BackupView

    keeper = sqlkeep.Keeper("app.db", backup_on_shutdown=True)
    keeper.start()
    root = ctk.CTk()
    tabs = ctk.CTkTabview(root)
    tabs.pack(fill="both", expand=True)
    BackupView(tabs.add("Backups"), keeper).pack(fill="both", expand=True)
    root.mainloop()
    keeper.stop()

The view is a thin face over the ``Keeper``: every backup, verification, restore and
deletion is the core's, and so is the meaning of what it shows (the merge of runs and
backups, sizes, how much an event matters). Keeper calls run on a worker thread and their
results come back to the Tk thread through a queue polled with ``after()``; events from
the scheduler's thread take the same road, so no widget is ever touched outside the Tk
thread.

The package's modules, each named for what it does:

- ``view``: ``BackupView``, the frame (layout, actions, settings forms); needs CustomTkinter.
- ``bridge``: keeper calls on worker threads, results back to the polling thread.
- ``rows``: ``HistoryRow``, the history table's rows from ``Keeper.timeline()``, with
  the remotes holding each backup and what an incremental backup is rebuilt from.
- ``status``: what is read from the keeper at once, the statistics, scheduler, health
  and offsite texts.
- ``notices``: an event dict -> a notification ``(level, text)``, the level being the
  core's severity.
- ``settings``: the schedule and retention forms' choices, checks and previews, the
  encryption row's texts and setting, and the notice of the Incremental switch.
- ``format``: sizes (the core's formatter), durations, instants.

All but ``view`` are free of tkinter, so they import and are tested without a display;
``BackupView`` is imported on first use.

Installed with ``pip install 'sqlkeep[tk]'`` (customtkinter and pillow).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .format import format_duration, format_size
from .rows import HistoryRow
from .settings import TIMEZONES

if TYPE_CHECKING:
    from .view import BackupView

__all__ = [
    "BackupView",
    "HistoryRow",
    "TIMEZONES",
    "format_duration",
    "format_size",
]


def __getattr__(name: str) -> Any:
    # The view needs CustomTkinter; the pure modules must import without it (and without
    # tkinter), so `from sqlkeep.tk import BackupView` loads it only when asked.
    if name == "BackupView":
        from .view import BackupView

        globals()["BackupView"] = BackupView
        return BackupView
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
