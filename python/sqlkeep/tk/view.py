"""``BackupView``: the CustomTkinter frame — its layout, its actions and its settings
forms. What it shows is made by the pure modules beside it (``rows``, ``status``,
``notices``, ``settings``, ``format``); keeper calls go through ``bridge``.
"""

from __future__ import annotations

import datetime as _dt
import time
import tkinter as tk
from pathlib import Path
from tkinter import filedialog, messagebox, ttk
from typing import Any, Callable, Literal

try:
    import customtkinter as ctk
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "sqlkeep.tk needs CustomTkinter; install it with: pip install 'sqlkeep[tk]'"
    ) from e

from .._sqlkeep import (
    BACKUP_FILE_PATTERNS,
    Backup,
    CancelledError,
    ConfigError,
    Keeper,
    RotationPlan,
    Verification,
    keygen,
    preview_schedule,
)
from .bridge import WorkerBridge
from .format import error_text, format_duration, format_run, format_size
from .notices import REFRESH_EVENTS, notice, with_offsite_failures
from .rows import HistoryRow, delete_question, describe, describe_backup, remote_choices, restorable_tables
from .settings import (
    RETENTION_FIELDS,
    TIMEZONES,
    SIZE_FIELD,
    WITHIN_FIELD,
    FieldError,
    encryption_setting,
    encryption_text,
    incremental_notice,
    new_key_text,
    next_runs_text,
    parse_retention,
    retention_differs,
    retention_field,
    size_field_text,
    rotation_preview_text,
    use_key_question,
)
from .status import (
    STATS_TILES,
    KeeperState,
    backups_failing,
    health_text,
    notify_test_notice,
    offsite_text,
    offsite_trouble,
    read_state,
    remote_names,
    scheduler_text,
    stats_texts,
)

_COLUMNS: tuple[tuple[str, str, int, Literal["w", "e"], bool], ...] = (
    # id, heading, width, anchor, stretch
    ("date", "Date", 140, "w", False),
    ("kind", "Kind", 105, "w", False),
    ("label", "Label", 200, "w", True),
    ("size", "Size", 80, "e", False),
    ("duration", "Duration", 80, "e", False),
    ("status", "Status", 150, "w", False),
    # Shown when remotes are set up: which of them hold a copy.
    ("offsite", "Offsite", 100, "w", False),
)

# (light, dark) pairs, like CustomTkinter's theme colors.
_RED = ("#C62828", "#FF6B6B")
_AMBER = ("#B26A00", "#FFB74D")
_GREEN = ("#2E7D32", "#66BB6A")
_MUTED = ("gray45", "gray60")
_DANGER_BUTTON = ("#C0392B", "#A93226")
_DANGER_BUTTON_HOVER = ("#A93226", "#8E2A20")

#: The color of a notification of each level (the core's severities); "info" has the
#: theme's text color.
_LEVEL_COLORS = {"success": _GREEN, "warning": _AMBER, "error": _RED}

_POLL_MS = 40
#: How often the offsite line's "3 min ago" is written again (from what was read last).
_OFFSITE_TICK_MS = 30_000
_PREVIEW_DELAY_MS = 200
_POLL_BUDGET_S = 0.05


def _ask_yes_no(widget: tk.Misc, title: str, message: str) -> bool:
    return bool(messagebox.askyesno(title, message, icon="warning", parent=widget.winfo_toplevel()))


def _ask_backup_file(widget: tk.Misc, initial_dir: str) -> str | None:
    path = filedialog.askopenfilename(
        parent=widget.winfo_toplevel(),
        title="Restore from a backup file",
        initialdir=initial_dir,
        filetypes=[("sqlkeep backups", tuple(BACKUP_FILE_PATTERNS)), ("All files", "*")],
    )
    return path or None


def _ask_key_file(widget: tk.Misc, initial_dir: str) -> str | None:
    # No "replace?" question: keygen never overwrites a file and says so itself.
    path = filedialog.asksaveasfilename(
        parent=widget.winfo_toplevel(),
        title="Save the new encryption key",
        initialdir=initial_dir,
        initialfile="sqlkeep-key.txt",
        confirmoverwrite=False,
        filetypes=[("Key files", "*.txt"), ("All files", "*")],
    )
    return path or None


def _choose(widget: tk.Misc, title: str, message: str, options: list[str]) -> str | None:
    """A modal window with `message`, a drop-down of `options` and OK / Cancel: the
    option picked, or None."""
    window = ctk.CTkToplevel(widget.winfo_toplevel())
    window.title(title)
    window.transient(widget.winfo_toplevel())
    ctk.CTkLabel(window, text=message, justify="left", wraplength=420).pack(padx=16, pady=(16, 8), anchor="w")
    picked = tk.StringVar(window, value=options[0])
    ctk.CTkOptionMenu(window, variable=picked, values=options, width=420).pack(padx=16, pady=8)
    answer: list[str | None] = [None]

    def ok() -> None:
        answer[0] = picked.get()
        window.destroy()

    buttons = ctk.CTkFrame(window, fg_color="transparent")
    buttons.pack(padx=16, pady=(8, 16), anchor="e")
    ctk.CTkButton(buttons, text="Cancel", width=90, command=window.destroy).pack(side="right")
    ctk.CTkButton(buttons, text="OK", width=90, command=ok).pack(side="right", padx=(0, 8))
    window.after(50, window.grab_set)
    window.wait_window()
    return answer[0]


def _is_restore_event(e: dict[str, Any]) -> bool:
    """A restore's own events: its end, and its safety backup's."""
    return e["type"] == "restore_finished" or (
        e.get("kind") == "pre-restore" and e["type"] in ("backup_succeeded", "backup_failed")
    )


def _show_info(widget: tk.Misc, title: str, message: str) -> None:
    messagebox.showinfo(title, message, parent=widget.winfo_toplevel())


class BackupView(ctk.CTkFrame):  # type: ignore[misc]
    """The backup screen over ``keeper``: schedule, retention, encryption, history,
    statistics and the backup, verify, restore and delete actions.

    ``confirm(title, message) -> bool`` asks before a restore, a deletion or encrypting
    to a new key (default: a yes/no message box); ``ask_open_file() -> path or None``
    picks the file for "Restore from a file" (default: a file dialog in the backup
    folder); ``ask_save_file() -> path or None`` picks the new file for "Create key…"
    (default: a save dialog in the database's folder); ``show_info(title, message)`` shows
    the new key and its warning (default: a message box); ``choose(title, message,
    options) -> option or None`` picks the table for "Restore a table…", and the remote
    and its backup for "Restore from remote…" (default: a window with a drop-down).
    ``on_restore(safety)`` is
    called on the Tk thread after a restore replaced the live database, with the
    ``pre-restore`` safety backup, so the application can reload what it shows.
    ``on_configure(changes)`` is called after the user applied schedule (with incremental),
    retention or encryption settings (``changes`` is what was passed to
    ``Keeper.configure``), so the application can save them for its next start. Other keyword arguments go to ``CTkFrame``.

    The view does not own the keeper: it neither starts nor stops its scheduler. Destroying
    the view unregisters its event callback.

    Events become notifications in the status line (``notification``: level and text),
    the level being the core's severity of the event. A failing automatic rotation or
    test restore stays on show among the health line's reasons (``health``) until it
    works again.

    With ``remotes`` set up, the table has an Offsite column (the remotes holding a copy
    of each backup, as last known), the offsite line (``offsite``) says when each remote
    last got a copy (the core's summary of a remote that lacks backups or failed is among
    the health reasons), and "Restore from remote…" restores a backup of a remote. An
    offsite copy that fails during an action (a backup is copied right after it is
    taken) is added to the action's notification.

    With ``incremental`` on (the Incremental switch of the schedule form), "Full backup"
    beside "Back up now" takes a self-contained full backup; an incremental backup's row
    shows the bytes it added ("+390 B") and "incremental" in its status, and the line
    under the table (``detail``) says what the selected one is rebuilt from.

    Widgets are attributes (``backup_button``, ``table``, ``schedule_entry``, ...) so an
    application or a test can drive them; ``wait_idle()`` waits until queued work is done.
    """

    def __init__(
        self,
        master: Any,
        keeper: Keeper,
        *,
        confirm: Callable[[str, str], bool] | None = None,
        ask_open_file: Callable[[], str | None] | None = None,
        ask_save_file: Callable[[], str | None] | None = None,
        show_info: Callable[[str, str], object] | None = None,
        choose: Callable[[str, str, list[str]], str | None] | None = None,
        on_restore: Callable[[Backup], object] | None = None,
        on_configure: Callable[[dict[str, Any]], object] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("fg_color", "transparent")
        super().__init__(master, **kwargs)
        self.keeper = keeper
        self.confirm: Callable[[str, str], bool] = confirm or (
            lambda title, message: _ask_yes_no(self, title, message)
        )
        self.ask_open_file: Callable[[], str | None] = ask_open_file or (
            lambda: _ask_backup_file(self, str(self.keeper.config["backup_dir"]))
        )
        self.ask_save_file: Callable[[], str | None] = ask_save_file or (
            lambda: _ask_key_file(self, str(Path(self.keeper.config["database"]).parent))
        )
        self.show_info: Callable[[str, str], object] = show_info or (
            lambda title, message: _show_info(self, title, message)
        )
        self.choose: Callable[[str, str, list[str]], str | None] = choose or (
            lambda title, message, options: _choose(self, title, message, options)
        )
        self.on_restore = on_restore
        self.on_configure = on_configure

        # Work for the keeper: actions one at a time (the buttons are disabled meanwhile),
        # reads (refresh, rotation preview) on their own thread so they do not wait
        # behind a long backup.
        self._bridge = WorkerBridge()
        self._closed = False
        self._action: str | None = None
        self._own_event: Callable[[dict[str, Any]], bool] = lambda e: False
        # The severity of each of the running action's own events, by type: the action
        # notifies its result at the level the core gave that event.
        self._own_severity: dict[str, str] = {}
        # The offsite copies that failed while the action ran, added to its notification.
        self._own_offsite: list[dict[str, Any]] = []
        self._refreshing = False
        self._refresh_again = False
        self._rows: list[HistoryRow] = []
        self._select_next: str | None = None
        self._stats: dict[str, Any] = {}
        self._offsite: list[dict[str, Any]] = []
        # The health reasons on show: the offsite line does not say them again.
        self._offsite_shown: list[str] = []
        self._offsite_after: str | None = None
        self._retention_seq = 0
        self._retention_after: str | None = None
        self._schedule_valid = False
        self._retention_valid = False
        self._notification: tuple[str, str] = ("info", "")

        self._fonts = {
            "title": ctk.CTkFont(size=15, weight="bold"),
            "caption": ctk.CTkFont(size=12),
            "value": ctk.CTkFont(size=15, weight="bold"),
            "table": ctk.CTkFont(size=13),
            "heading": ctk.CTkFont(size=13, weight="bold"),
        }
        self._build()
        self.reload_settings()

        self._event_id: int | None = keeper.on_event(self._receive_event)
        self._poll_id: str | None = self.after(_POLL_MS, self._poll)
        self.refresh()

    # ----------------------------------------------------------------- layout

    def _build(self) -> None:
        self.grid_columnconfigure(0, weight=1)
        self.grid_columnconfigure(1, weight=0)
        self.grid_rowconfigure(1, weight=1)

        self._build_stats().grid(row=0, column=0, columnspan=2, sticky="ew", pady=(0, 10))
        self._build_history().grid(row=1, column=0, sticky="nsew", padx=(0, 10))
        side = ctk.CTkFrame(self, fg_color="transparent")
        side.grid(row=1, column=1, sticky="ns")
        self._build_schedule(side).pack(fill="x", pady=(0, 10))
        self._build_retention(side).pack(fill="x", pady=(0, 10))
        self._build_encryption(side).pack(fill="x")
        self._build_status_bar().grid(row=2, column=0, columnspan=2, sticky="ew", pady=(10, 0))

    def _card_color(self) -> Any:
        """Cards stand out from what the view is placed on, as nested CTkFrames do."""
        theme = ctk.ThemeManager.theme["CTkFrame"]
        behind = self._apply_appearance_mode(self._bg_color)
        return theme["top_fg_color"] if behind == self._apply_appearance_mode(theme["fg_color"]) else theme["fg_color"]

    def _card(self, master: Any, title: str) -> tuple[ctk.CTkFrame, ctk.CTkFrame]:
        card = ctk.CTkFrame(master, fg_color=self._card_color())
        ctk.CTkLabel(card, text=title, font=self._fonts["title"], anchor="w").pack(
            fill="x", padx=14, pady=(10, 4)
        )
        body = ctk.CTkFrame(card, fg_color="transparent")
        body.pack(fill="both", expand=True, padx=14, pady=(0, 12))
        return card, body

    def _build_stats(self) -> ctk.CTkFrame:
        strip = ctk.CTkFrame(self, fg_color="transparent")
        self.stats_labels: dict[str, ctk.CTkLabel] = {}
        tiles = STATS_TILES
        for i, (key, caption) in enumerate(tiles):
            strip.grid_columnconfigure(i, weight=1, uniform="stats")
            tile = ctk.CTkFrame(strip, fg_color=self._card_color())
            tile.grid(row=0, column=i, sticky="ew", padx=(0 if i == 0 else 5, 0 if i == len(tiles) - 1 else 5))
            ctk.CTkLabel(
                tile, text=caption, font=self._fonts["caption"], text_color=_MUTED, anchor="w", height=18
            ).pack(fill="x", padx=12, pady=(8, 0))
            value = ctk.CTkLabel(tile, text="—", font=self._fonts["value"], anchor="w", height=24)
            value.pack(fill="x", padx=12, pady=(0, 8))
            self.stats_labels[key] = value
        return strip

    def _build_history(self) -> ctk.CTkFrame:
        card, body = self._card(self, "History")
        body.grid_columnconfigure(0, weight=1)
        body.grid_rowconfigure(1, weight=1)

        top = ctk.CTkFrame(body, fg_color="transparent")
        top.grid(row=0, column=0, sticky="ew", pady=(0, 8))
        top.grid_columnconfigure(0, weight=1)
        self.label_entry = ctk.CTkEntry(top, placeholder_text="Label for a new backup (optional)")
        self.label_entry.grid(row=0, column=0, sticky="ew", padx=(0, 8))
        self.label_entry.bind("<Return>", lambda e: self.back_up_now())
        self.backup_button = ctk.CTkButton(top, text="Back up now", width=130, command=self.back_up_now)
        self.backup_button.grid(row=0, column=1)
        # A self-contained backup while `incremental` is on (shown only then: otherwise
        # every backup is one).
        self.full_backup_button = ctk.CTkButton(top, text="Full backup", width=100, command=self.back_up_full)
        self.full_backup_button.grid(row=0, column=2, padx=(8, 0))
        self.full_backup_button.grid_remove()

        frame = ctk.CTkFrame(body, fg_color=ctk.ThemeManager.theme["CTkEntry"]["fg_color"], corner_radius=6)
        frame.grid(row=1, column=0, sticky="nsew")
        frame.grid_columnconfigure(0, weight=1)
        frame.grid_rowconfigure(0, weight=1)
        self._table_style = f"SqlKeep{id(self)}.Treeview"
        self.table = ttk.Treeview(
            frame,
            columns=[c[0] for c in _COLUMNS],
            show="headings",
            selectmode="browse",
            style=self._table_style,
            # The Offsite column comes with remotes (_show_offsite).
            displaycolumns=[c[0] for c in _COLUMNS if c[0] != "offsite"],
        )
        for col, heading, width, anchor, stretch in _COLUMNS:
            self.table.heading(col, text=heading, anchor=anchor)
            self.table.column(col, width=width, minwidth=50, anchor=anchor, stretch=stretch)
        self.table.grid(row=0, column=0, sticky="nsew", padx=(4, 0), pady=4)
        scrollbar = ctk.CTkScrollbar(frame, command=self.table.yview)
        scrollbar.grid(row=0, column=1, sticky="ns", padx=2, pady=4)
        self.table.configure(yscrollcommand=scrollbar.set)
        self.table.bind("<<TreeviewSelect>>", lambda e: self._update_buttons())
        self._style_table()

        # What the selected incremental backup is rebuilt from; takes room only then.
        self.detail_label = ctk.CTkLabel(
            body,
            text="",
            anchor="w",
            justify="left",
            wraplength=760,
            text_color=_MUTED,
            font=self._fonts["caption"],
            height=18,
        )
        self.detail_label.grid(row=2, column=0, sticky="ew", pady=(6, 0))
        self.detail_label.grid_remove()

        bottom = ctk.CTkFrame(body, fg_color="transparent")
        bottom.grid(row=3, column=0, sticky="ew", pady=(8, 0))
        # Short labels: five buttons and two check boxes share one row. The first four act
        # on the selected backup.
        self.verify_button = ctk.CTkButton(bottom, text="Verify", width=70, command=self.verify_selected)
        self.restore_button = ctk.CTkButton(bottom, text="Restore", width=80, command=self.restore_selected)
        self.restore_table_button = ctk.CTkButton(
            bottom, text="Restore a table…", width=120, command=self.restore_table_selected
        )
        self.restore_file_button = ctk.CTkButton(
            bottom, text="From a file…", width=100, command=self.restore_from_file
        )
        self.delete_button = ctk.CTkButton(
            bottom,
            text="Delete",
            width=70,
            fg_color=_DANGER_BUTTON,
            hover_color=_DANGER_BUTTON_HOVER,
            command=self.delete_selected,
        )
        self.show_deleted = tk.BooleanVar(self, value=False)
        self.show_deleted_box = ctk.CTkCheckBox(
            bottom,
            text="Show deleted",
            variable=self.show_deleted,
            command=self.refresh,
            checkbox_width=18,
            checkbox_height=18,
        )
        # Off: a restore rests on the image hash recorded when the backup passed its
        # integrity check (the core's proof); on: the check runs again (slower).
        self.paranoid = tk.BooleanVar(self, value=False)
        self.paranoid_box = ctk.CTkCheckBox(
            bottom,
            text="Re-check on restore",
            variable=self.paranoid,
            checkbox_width=18,
            checkbox_height=18,
        )
        self.verify_button.pack(side="left", padx=(0, 8))
        self.restore_button.pack(side="left", padx=(0, 8))
        self.restore_table_button.pack(side="left", padx=(0, 8))
        self.restore_file_button.pack(side="left", padx=(0, 8))
        self.delete_button.pack(side="left")
        self.show_deleted_box.pack(side="right")
        self.paranoid_box.pack(side="right", padx=(0, 12))
        return card

    def _build_schedule(self, master: Any) -> ctk.CTkFrame:
        card, body = self._card(master, "Schedule")
        body.grid_columnconfigure(1, weight=1)
        self.schedule_enabled = tk.BooleanVar(self)
        self.schedule_text = tk.StringVar(self)
        self.timezone_text = tk.StringVar(self)
        self.schedule_switch = ctk.CTkSwitch(
            body,
            text="Automatic backups",
            variable=self.schedule_enabled,
            onvalue=True,
            offvalue=False,
        )
        self.schedule_switch.grid(row=0, column=0, columnspan=2, sticky="w", pady=(0, 8))
        ctk.CTkLabel(body, text="Time or cron", anchor="w").grid(row=1, column=0, sticky="w", padx=(0, 10))
        self.schedule_entry = ctk.CTkEntry(body, textvariable=self.schedule_text, width=190)
        self.schedule_entry.grid(row=1, column=1, sticky="ew", pady=2)
        ctk.CTkLabel(body, text="Time zone", anchor="w").grid(row=2, column=0, sticky="w", padx=(0, 10))
        self.timezone_box = ctk.CTkComboBox(
            body,
            values=list(TIMEZONES),
            variable=self.timezone_text,
            width=190,
            command=lambda value: self._schedule_changed(),
        )
        self.timezone_box.grid(row=2, column=1, sticky="ew", pady=2)
        self.schedule_error = ctk.CTkLabel(
            body, text="", text_color=_RED, anchor="w", justify="left", wraplength=300, font=self._fonts["caption"]
        )
        self.schedule_error.grid(row=3, column=0, columnspan=2, sticky="ew")
        self.schedule_error.grid_remove()
        ctk.CTkLabel(body, text="Next runs", anchor="w", text_color=_MUTED, font=self._fonts["caption"]).grid(
            row=4, column=0, columnspan=2, sticky="w", pady=(2, 0)
        )
        self.next_runs_label = ctk.CTkLabel(body, text="", anchor="w", justify="left", height=60)
        self.next_runs_label.grid(row=5, column=0, columnspan=2, sticky="ew")
        # Incremental backups, on the Apply button's row: the side column has no height
        # to spare at 760 px (with remotes, the status bar takes a line more).
        self.incremental_enabled = tk.BooleanVar(self, value=False)
        self.incremental_switch = ctk.CTkSwitch(
            body, text="Incremental", variable=self.incremental_enabled, onvalue=True, offvalue=False
        )
        self.incremental_switch.grid(row=6, column=0, columnspan=2, sticky="w", pady=(6, 0))
        self.schedule_apply_button = ctk.CTkButton(body, text="Apply", width=90, command=self.apply_schedule)
        self.schedule_apply_button.grid(row=6, column=1, sticky="e", pady=(6, 0))
        self.incremental_enabled.trace_add("write", lambda *a: self._schedule_changed())
        self.schedule_enabled.trace_add("write", lambda *a: self._schedule_changed())
        self.schedule_text.trace_add("write", lambda *a: self._schedule_changed())
        self.timezone_text.trace_add("write", lambda *a: self._schedule_changed())
        self.schedule_entry.bind("<Return>", lambda e: self.apply_schedule())
        return card

    def _build_retention(self, master: Any) -> ctk.CTkFrame:
        card, body = self._card(master, "Retention")
        self.retention_vars: dict[str, tk.StringVar] = {}
        self.retention_entries: dict[str, ctk.CTkEntry] = {}
        # One row of narrow fields (the counts, then the span): the side column has no
        # height to spare for a second row.
        fields = (*RETENTION_FIELDS, WITHIN_FIELD, SIZE_FIELD)
        titles = {WITHIN_FIELD: "Within", SIZE_FIELD: "Max size"}
        columns = len(fields)
        # Each column as wide as its title or field needs (the counts hold two or three
        # digits, the size "500 MB"): the side column stays narrow.
        widths = {WITHIN_FIELD: 40, SIZE_FIELD: 50}
        for i, key in enumerate(fields):
            body.grid_columnconfigure(i, weight=1)
            title = titles.get(key, key.capitalize())
            ctk.CTkLabel(body, text=title, anchor="w", font=self._fonts["caption"], height=18).grid(
                row=0, column=i, sticky="w", padx=(0, 4)
            )
            var = tk.StringVar(self)
            entry = ctk.CTkEntry(
                body, textvariable=var, width=widths.get(key, 36), justify="left" if key in titles else "right"
            )
            entry.grid(row=1, column=i, sticky="ew", padx=(0, 4))
            var.trace_add("write", lambda *a: self._retention_changed())
            entry.bind("<Return>", lambda e: self.apply_retention())
            self.retention_vars[key] = var
            self.retention_entries[key] = entry
        self.retention_caption = ctk.CTkLabel(
            body,
            # Three lines at most: the side column has no height to spare.
            text="Keep the newest automatic backup of the last N hours, days, weeks, months, "
            "years, all within 36h (Within), at most 2 GB in all (Max size). Manual backups stay.",
            text_color=_MUTED,
            font=self._fonts["caption"],
            anchor="w",
            justify="left",
            wraplength=300,
        )
        self.retention_caption.grid(row=2, column=0, columnspan=columns, sticky="ew", pady=(6, 0))
        self.retention_error = ctk.CTkLabel(
            body, text="", text_color=_RED, anchor="w", justify="left", wraplength=300, font=self._fonts["caption"]
        )
        self.retention_error.grid(row=3, column=0, columnspan=columns, sticky="ew")
        self.retention_error.grid_remove()
        # The preview beside the Apply button, not above it: a row of height saved.
        self.retention_preview_label = ctk.CTkLabel(body, text="", anchor="w", justify="left", wraplength=200)
        self.retention_preview_label.grid(row=4, column=0, columnspan=columns - 2, sticky="ew", pady=(6, 0))
        self.retention_apply_button = ctk.CTkButton(body, text="Apply", width=90, command=self.apply_retention)
        self.retention_apply_button.grid(row=4, column=columns - 2, columnspan=2, sticky="se", pady=(6, 0))
        return card

    def _build_encryption(self, master: Any) -> ctk.CTkFrame:
        # One row of a card (title and button side by side): the side column has little
        # height left under the schedule and retention forms.
        card = ctk.CTkFrame(master, fg_color=self._card_color())
        card.grid_columnconfigure(0, weight=1)
        ctk.CTkLabel(card, text="Encryption", font=self._fonts["title"], anchor="w").grid(
            row=0, column=0, sticky="w", padx=(14, 6), pady=(8, 0)
        )
        self.create_key_button = ctk.CTkButton(
            card, text="Create key…", width=110, height=26, command=self.create_key
        )
        self.create_key_button.grid(row=0, column=1, sticky="e", padx=14, pady=(8, 0))
        self.encryption_label = ctk.CTkLabel(
            card, text="", anchor="w", justify="left", wraplength=300, font=self._fonts["caption"], height=18
        )
        self.encryption_label.grid(row=1, column=0, columnspan=2, sticky="ew", padx=14, pady=(0, 8))
        return card

    def _build_status_bar(self) -> ctk.CTkFrame:
        bar = ctk.CTkFrame(self, height=36, fg_color=self._card_color())
        bar.grid_columnconfigure(1, weight=1)
        # The progress of a backup, and its Cancel button (shown while a backup runs).
        box = ctk.CTkFrame(bar, fg_color="transparent", width=1, height=1)
        box.grid(row=0, column=0, padx=(14, 0), pady=6)
        self.progress_bar = ctk.CTkProgressBar(box, width=220, mode="determinate")
        self.progress_bar.set(0)
        self.progress_bar.grid(row=0, column=0, pady=6)
        self.progress_bar.grid_remove()
        self.cancel_button = ctk.CTkButton(box, text="Cancel", width=64, height=24, command=self.cancel_backup)
        self.cancel_button.grid(row=0, column=1, padx=(8, 0))
        self.cancel_button.grid_remove()
        self.status_label = ctk.CTkLabel(bar, text="", anchor="w")
        self.status_label.grid(row=0, column=1, sticky="ew", padx=14, pady=6)
        self.scheduler_label = ctk.CTkLabel(bar, text="", anchor="e", text_color=_MUTED)
        self.scheduler_label.grid(row=0, column=2, sticky="e", padx=14, pady=6)
        # The core's health verdict, always on show, colored by the verdict; a failing
        # automatic rotation or test restore is among its reasons until it works again.
        self.health_label = ctk.CTkLabel(bar, text="", anchor="w", justify="left", wraplength=760)
        self.health_label.grid(row=2, column=0, columnspan=2, sticky="ew", padx=14, pady=(0, 6))
        # Who hears about it: a test message through every `notify` channel.
        self.notify_test_button = ctk.CTkButton(
            bar, text="Test notifications", width=140, height=26, command=self.test_notifications
        )
        self.notify_test_button.grid(row=2, column=2, sticky="ne", padx=14, pady=(0, 6))
        # Each remote's last copy or trouble, and the restore from a remote (the history's
        # row of buttons is full); on show while remotes are set up.
        self.offsite_label = ctk.CTkLabel(
            bar, text="", anchor="w", justify="left", wraplength=760, text_color=_MUTED
        )
        self.offsite_label.grid(row=3, column=0, columnspan=2, sticky="ew", padx=14, pady=(0, 6))
        self.offsite_label.grid_remove()
        self.restore_remote_button = ctk.CTkButton(
            bar, text="Restore from remote…", width=140, height=26, command=self.restore_from_remote
        )
        self.restore_remote_button.grid(row=3, column=2, sticky="ne", padx=14, pady=(0, 6))
        self.restore_remote_button.grid_remove()
        return bar

    def _style_table(self) -> None:
        """Colors and fonts of the ttk table, from the CustomTkinter theme and mode."""
        theme = ctk.ThemeManager.theme
        color = self._apply_appearance_mode
        scaling = self._get_widget_scaling()
        background = color(theme["CTkEntry"]["fg_color"])
        text = color(theme["CTkLabel"]["text_color"])
        style = ttk.Style(self)
        style.configure(
            self._table_style,
            background=background,
            fieldbackground=background,
            foreground=text,
            borderwidth=0,
            relief="flat",
            rowheight=int(26 * scaling),
            font=self._fonts["table"],
        )
        style.map(
            self._table_style,
            background=[("selected", color(theme["CTkButton"]["fg_color"]))],
            foreground=[("selected", color(theme["CTkButton"]["text_color"]))],
        )
        style.layout(self._table_style, [("Treeview.treearea", {"sticky": "nswe"})])
        style.configure(
            f"{self._table_style}.Heading",
            background=color(theme["CTkFrame"]["top_fg_color"]),
            foreground=text,
            relief="flat",
            borderwidth=0,
            padding=(6, 4),
            font=self._fonts["heading"],
        )
        style.map(
            f"{self._table_style}.Heading",
            background=[("active", color(theme["CTkFrame"]["border_color"]))],
        )
        self.table.tag_configure("failed", foreground=color(_RED))
        self.table.tag_configure("corrupt", foreground=color(_RED))
        self.table.tag_configure("deleted", foreground=color(_MUTED))
        self.table.tag_configure("unverified", foreground=color(_MUTED))

    @staticmethod
    def _show_error(label: ctk.CTkLabel, text: str) -> None:
        """An error label takes room only while it shows an error."""
        label.configure(text=text)
        if text:
            label.grid()
        else:
            label.grid_remove()

    def _set_appearance_mode(self, mode_string: str) -> None:
        super()._set_appearance_mode(mode_string)
        if hasattr(self, "table"):
            self._style_table()

    def _set_scaling(self, new_widget_scaling: float, new_window_scaling: float) -> None:
        super()._set_scaling(new_widget_scaling, new_window_scaling)
        if hasattr(self, "table"):
            self._style_table()

    # ---------------------------------------------------------------- threads

    def _receive_event(self, event: dict[str, Any]) -> None:
        # On whatever thread produced the event (often the scheduler's): only the inbox.
        self._bridge.post(lambda: self._handle_event(event))

    def _poll(self) -> None:
        self._bridge.run_ready(_POLL_BUDGET_S)
        if not self._closed:
            self._poll_id = self.after(_POLL_MS, self._poll)

    @property
    def busy(self) -> bool:
        """An action (backup, verify, restore, delete) is running."""
        return self._action is not None

    @property
    def idle(self) -> bool:
        """No work is queued or running, and no result is waiting for the Tk thread."""
        return self._bridge.idle and self._retention_after is None

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Processes Tk events and results until nothing is queued or running; raises
        ``TimeoutError`` after ``timeout`` seconds. For tests and scripted use: an event
        handler must not call it."""
        deadline = time.monotonic() + timeout
        while True:
            self.update()
            if self._retention_after is not None:
                self.after_cancel(self._retention_after)
                self._retention_after = None
                self._start_retention_preview()
            if self.idle:
                self.update()
                if self.idle:
                    return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"BackupView still busy after {timeout} s ({self._bridge.pending} jobs pending)"
                )
            self._bridge.run_next(min(0.05, remaining))

    def destroy(self) -> None:
        self._closed = True
        if self._event_id is not None:
            self.keeper.off_event(self._event_id)
            self._event_id = None
        for after_id in (self._poll_id, self._retention_after, self._offsite_after):
            if after_id is not None:
                self.after_cancel(after_id)
        self._poll_id = self._retention_after = self._offsite_after = None
        self._bridge.close()
        super().destroy()

    # ---------------------------------------------------------- notifications

    def notify(self, text: str, level: str = "info") -> None:
        """Shows `text` in the status line; `level` is ``"info"``, ``"success"``,
        ``"warning"`` or ``"error"`` (an event's is the core's ``severity``)."""
        self._notification = (level, text)
        stamp = _dt.datetime.now().strftime("%H:%M")
        self.status_label.configure(
            text=f"{stamp}  {text}" if text else "",
            text_color=_LEVEL_COLORS.get(level, ctk.ThemeManager.theme["CTkLabel"]["text_color"]),
        )

    @property
    def notification(self) -> tuple[str, str]:
        """The last notification: ``(level, text)``."""
        return self._notification

    @property
    def health(self) -> str:
        """The health line: the core's verdict, headline and reasons."""
        return str(self.health_label.cget("text"))

    @property
    def offsite(self) -> str:
        """The offsite line: a part for each remote, joined by " · " (empty without
        remotes)."""
        return str(self.offsite_label.cget("text"))

    def _handle_event(self, e: dict[str, Any]) -> None:
        kind = e["type"]
        if kind == "progress":
            if self._action is None:
                self._show_progress(e["done_pages"], e["total_pages"])
            return
        if kind in ("backup_succeeded", "backup_failed", "backup_cancelled") and self._action is None:
            self._hide_progress()
        if kind in REFRESH_EVENTS:
            self.refresh()
        if self._own_event(e):
            # The running action notifies its own result, at this event's level.
            self._own_severity[kind] = e["severity"]
            return
        if kind == "offsite_failed" and self._action is not None:
            # Told with the action's result, which would otherwise replace it at once.
            self._own_offsite.append(e)
            return
        said = notice(e)
        if said is not None:
            level, text = said
            self.notify(text, level)

    # --------------------------------------------------------------- progress

    def _show_progress(self, done: int, total: int) -> None:
        if self.progress_bar.cget("mode") != "determinate":
            self.progress_bar.stop()
            self.progress_bar.configure(mode="determinate")
        self.progress_bar.grid()
        self.progress_bar.set(done / total if total else 0)
        # Determinate progress is a backup's: it can be cancelled.
        self.cancel_button.grid()

    def _hide_progress(self) -> None:
        self.progress_bar.stop()
        self.progress_bar.configure(mode="determinate")
        self.progress_bar.set(0)
        self.progress_bar.grid_remove()
        self.cancel_button.grid_remove()

    def cancel_backup(self) -> None:
        """Cancels the running backup (this one's or the scheduler's): it stops at its next
        step and keeps nothing."""
        if self.keeper.cancel():
            self.notify("Cancelling the backup…")

    # ---------------------------------------------------------------- actions

    def _begin(self, text: str, own_event: Callable[[dict[str, Any]], bool], determinate: bool) -> None:
        self._action = text
        self._own_event = own_event
        self._own_severity = {}
        self._own_offsite = []
        self.progress_bar.grid()
        if determinate:
            self._show_progress(0, 1)
        else:
            self.progress_bar.configure(mode="indeterminate")
            self.progress_bar.start()
        self.notify(text)
        self._update_buttons()

    def _end(self) -> list[dict[str, Any]]:
        """Ends the running action; the offsite failures that came during it."""
        self._action = None
        self._own_event = lambda e: False
        offsite, self._own_offsite = self._own_offsite, []
        self._hide_progress()
        self._update_buttons()
        return offsite

    def _action_call(
        self,
        text: str,
        work: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Callable[[BaseException], None],
        own_event: Callable[[dict[str, Any]], bool] = lambda e: False,
        determinate: bool = False,
    ) -> None:
        self._begin(text, own_event, determinate)

        def finish_ok(result: Any) -> None:
            offsite = self._end()
            done(result)
            self._tell_offsite(offsite)
            self.refresh()

        def finish_failed(error: BaseException) -> None:
            offsite = self._end()
            failed(error)
            self._tell_offsite(offsite)
            self.refresh()

        self._bridge.submit_action(work, finish_ok, finish_failed)

    def _tell_offsite(self, events: list[dict[str, Any]]) -> None:
        """Adds the offsite copies that failed during an action to its notification."""
        if events:
            level, text = with_offsite_failures(*self._notification, events)
            self.notify(text, level)

    def _own_level(self, event_type: str, fallback: str) -> str:
        """The core's severity of the running action's `event_type` event. Its events are
        handled before its result (the keeper emits them on the worker thread before it
        returns), so `fallback` is only for a keeper that emitted none."""
        return self._own_severity.get(event_type, fallback)

    def back_up_now(self, full: bool = False) -> None:
        """Takes a manual backup with the label typed beside the button; with ``full``, a
        self-contained one even while ``incremental`` is on."""
        if self.busy:
            return
        label = self.label_entry.get().strip() or None

        def progress(done: int, total: int) -> None:
            self._bridge.post(lambda: self._show_progress(done, total))

        def done(b: Backup) -> None:
            if self.label_entry.get().strip() == (label or ""):
                self.label_entry.delete(0, "end")
            what = "Incremental backup" if b.incremental is not None else "Full backup" if full else "Backup"
            if label:
                what += f" “{label}”"
            if b.verification is None:
                state = "not verified"
            else:
                state = "verified" if b.verification.ok else "failed verification"
            self.notify(
                f"{what} succeeded: {'+' if b.incremental is not None else ''}{format_size(b.size_bytes)} "
                f"in {format_duration(b.duration_ms)}, {state}.",
                self._own_level("backup_succeeded", "success"),
            )
            self.select(b.id)

        self._action_call(
            "Taking a full backup…" if full else "Backing up…",
            lambda: self.keeper.backup(label=label, progress=progress, full=full),
            done,
            lambda err: self.notify("Backup cancelled; nothing was kept.", "info")
            if isinstance(err, CancelledError)
            else self.notify(f"Backup failed: {error_text(err)}", "error"),
            own_event=lambda e: e.get("kind") == "manual"
            and e["type"] in ("backup_succeeded", "backup_failed", "backup_cancelled"),
            determinate=True,
        )

    def back_up_full(self) -> None:
        """Takes a self-contained full manual backup (the next incremental backups build
        on it), with the label typed beside the buttons."""
        self.back_up_now(full=True)

    def verify_selected(self) -> None:
        """Fully verifies the selected backup (decompression, checksum, integrity check)."""
        row = self.selected_row()
        if self.busy or row is None or row.backup is None:
            return
        backup_id = row.backup.id

        def done(v: Verification) -> None:
            level = self._own_level("verify_finished", "success" if v.ok else "error")
            if v.ok:
                self.notify(f"Backup of {describe(row)} verified: {v.detail}", level)
            else:
                self.notify(f"Backup of {describe(row)} is corrupt: {v.detail}", level)

        self._action_call(
            f"Verifying the backup of {describe(row)}…",
            lambda: self.keeper.verify(backup_id, full=True),
            done,
            lambda err: self.notify(f"Verification failed: {error_text(err)}", "error"),
            own_event=lambda e: e["type"] == "verify_finished" and e["id"] == backup_id,
        )

    def restore_selected(self) -> None:
        """Restores the selected backup into the live database, after confirmation."""
        row = self.selected_row()
        if self.busy or row is None or row.backup is None:
            return
        backup_id = row.backup.id

        def ask(preview: str) -> None:
            if not self._confirm_restore("Restore backup", f"the backup taken {describe(row)}", preview):
                return
            paranoid = self.paranoid.get()
            self._restore(
                f"Restoring the backup of {describe(row)}…",
                lambda: self.keeper.restore(backup_id, paranoid=paranoid),
                f"the backup of {describe(row)}",
            )

        if row.postgres:
            # Nothing to compare: diff works on SQLite only.
            ask("")
            return
        # What the restore would bring back and discard (the core's words), off the Tk
        # thread: the backup is decompressed and compared with the database first.
        self._action_call(
            f"Comparing the backup of {describe(row)} with the database…",
            lambda: self.keeper.diff(backup_id),
            lambda d: ask(f"This restore {d['restore_preview']}."),
            lambda err: ask(f"What would change cannot be shown: {error_text(err)}"),
        )

    def restore_table_selected(self) -> None:
        """Brings back one table of the selected backup into the live database (its rows
        merged by key, with the rows foreign keys tie to them), the table chosen among
        those the backup would change, after confirmation."""
        row = self.selected_row()
        if self.busy or row is None or row.backup is None:
            return
        backup_id = row.backup.id

        def pick(diff: dict[str, Any]) -> None:
            tables = restorable_tables(diff)
            if not tables:
                self.notify(f"No table of the backup of {describe(row)} has rows to bring back.")
                return
            label = self.choose(
                "Restore a table",
                f"Which table should come back from the backup taken {describe(row)}? Its rows "
                "replace those with the same key; rows added since stay.",
                [text for _, text in tables],
            )
            if label is None:
                self.notify("Restore cancelled.")
                return
            name = next(n for n, t in tables if t == label)
            preview = next(t["table_restore_preview"] for t in diff["tables"] if t["name"] == name)
            message = (
                f"Bring back table {name} from the backup taken {describe(row)}?\n\n"
                f"This {preview}. Rows tied to them by foreign keys come too.\n\n"
                "A safety copy of the current database is made first (a “pre-restore” backup), "
                "so this restore can be undone."
            )
            if not self.confirm("Restore a table", message):
                self.notify("Restore cancelled.")
                return

            def done(out: dict[str, Any]) -> None:
                safety: Backup = out["safety_backup"]
                self.notify(
                    f"Restored from the backup of {describe(row)}: {out['summary']}. "
                    f"The replaced data is kept as backup {safety.id}.",
                    self._own_level("restore_finished", "success"),
                )
                self.select(safety.id)
                if self.on_restore is not None:
                    self.on_restore(safety)

            self._action_call(
                f"Restoring table {name} from the backup of {describe(row)}…",
                lambda: self.keeper.restore_table(backup_id, name, with_dependents=True),
                done,
                lambda err: self.notify(f"Restore failed: {error_text(err)}", "error"),
                own_event=_is_restore_event,
            )

        self._action_call(
            f"Comparing the backup of {describe(row)} with the database…",
            lambda: self.keeper.diff(backup_id),
            pick,
            lambda err: self.notify(f"What would change cannot be shown: {error_text(err)}", "error"),
        )

    def restore_from_file(self) -> None:
        """Restores the live database from a backup file chosen by the user (its manifest,
        the ``.json`` file of the same name, must lie beside it), after confirmation."""
        if self.busy:
            return
        path = self.ask_open_file()
        if not path:
            return

        def ask(preview: str) -> None:
            if not self._confirm_restore("Restore from a file", f"the backup file\n\n{path}", preview):
                return
            paranoid = self.paranoid.get()
            self._restore(
                f"Restoring from {path}…", lambda: self.keeper.restore_file(path, paranoid=paranoid), str(path)
            )

        # As for a backup of the list: what the restore would change, in the core's words.
        self._action_call(
            f"Comparing {path} with the database…",
            lambda: self.keeper.diff_file(path),
            lambda d: ask(f"This restore {d['restore_preview']}."),
            lambda err: ask(f"What would change cannot be shown: {error_text(err)}"),
        )

    def restore_from_remote(self) -> None:
        """Restores the live database from a backup on a remote: the remote chosen (when
        there are several), then one of its backups (``Keeper.list(remote=...)``, off the
        Tk thread), after confirmation; the core downloads and fully checks it first."""
        remotes = self.remotes
        if self.busy or not remotes:
            return
        remote = remotes[0]
        if len(remotes) > 1:
            picked = self.choose("Restore from a remote", "Which remote should the backup come from?", remotes)
            if picked is None:
                self.notify("Restore cancelled.")
                return
            remote = picked

        def pick(backups: list[Backup]) -> None:
            choices = remote_choices(backups)
            if not choices:
                self.notify(f"Remote {remote} holds no backups.")
                return
            label = self.choose(
                "Restore from a remote", f"Which backup on {remote} should be restored?", [t for t, _ in choices]
            )
            if label is None:
                self.notify("Restore cancelled.")
                return
            backup = next(b for t, b in choices if t == label)
            what = describe_backup(backup)
            source = f"the backup taken {what} on remote {remote}"
            preview = "It is downloaded and fully checked before anything is replaced."
            if not self._confirm_restore("Restore from a remote", source, preview):
                return
            paranoid = self.paranoid.get()
            self._restore(
                f"Restoring the backup of {what} from {remote}…",
                lambda: self.keeper.restore(backup.id, paranoid=paranoid, remote=remote),
                f"the backup of {what} from {remote}",
            )

        self._action_call(
            f"Reading the backups on {remote}…",
            lambda: self.keeper.list(remote=remote),
            pick,
            lambda err: self.notify(f"Could not read the backups on {remote}: {error_text(err)}", "error"),
        )

    def _confirm_restore(self, title: str, source: str, preview: str = "") -> bool:
        """Asks before the live database is replaced by `source` (with `preview`, what
        that would change, when known); says so when cancelled."""
        database = self.keeper.config["database"]
        message = (
            f"Replace the database\n\n{database}\n\nwith {source}?\n\n"
            + (f"{preview}\n\n" if preview else "")
            + "A safety copy of the current database is made first (a “pre-restore” backup), "
            "so this restore can be undone."
        )
        if self.confirm(title, message):
            return True
        self.notify("Restore cancelled.")
        return False

    def _restore(self, text: str, work: Callable[[], Backup | None], what: str) -> None:
        def done(safety: Backup | None) -> None:
            kept = f" The replaced data is kept as backup {safety.id}." if safety is not None else ""
            self.notify(f"Restored {what}.{kept}", self._own_level("restore_finished", "success"))
            if safety is not None:
                self.select(safety.id)
                if self.on_restore is not None:
                    self.on_restore(safety)

        self._action_call(
            text,
            work,
            done,
            lambda err: self.notify(f"Restore failed: {error_text(err)}", "error"),
            own_event=_is_restore_event,
        )

    def delete_selected(self) -> None:
        """Deletes the selected backup (of any kind), after confirmation."""
        row = self.selected_row()
        if self.busy or row is None or row.backup is None:
            return
        backup = row.backup
        message = delete_question(row, [r.backup for r in self._rows if r.backup is not None])
        if not self.confirm("Delete backup", message):
            self.notify("Delete cancelled.")
            return
        self._action_call(
            f"Deleting the backup of {describe(row)}…",
            lambda: self.keeper.delete(backup.id),
            lambda b: self.notify(f"Deleted the backup of {describe(row)}.", "success"),
            lambda err: self.notify(f"Delete failed: {error_text(err)}", "error"),
            own_event=lambda e: e["type"] == "backup_deleted" and e["id"] == backup.id,
        )

    # -------------------------------------------------------- history, stats

    def refresh(self) -> None:
        """Reloads the history table, the statistics and the scheduler's status (in the
        background)."""
        if self._closed:
            return
        if self._refreshing:
            self._refresh_again = True
            return
        self._refreshing = True
        include_deleted = bool(self.show_deleted.get())

        def done(state: KeeperState) -> None:
            self._refreshing = False
            self._show_state(state)
            self._again_if_asked()

        def failed(error: BaseException) -> None:
            self._refreshing = False
            self.notify(f"Could not read the backups: {error_text(error)}", "error")
            self._again_if_asked()

        self._bridge.submit_read(lambda: read_state(self.keeper, include_deleted), done, failed)

    def _again_if_asked(self) -> None:
        if self._refresh_again:
            self._refresh_again = False
            self.refresh()

    def _show_state(self, state: KeeperState) -> None:
        self._show_offsite(state.status["offsite"], state.health)
        self._render_rows(state.rows)
        self._show_stats(state.stats)
        self._show_scheduler(state.status)
        self._show_health(state.health)
        # The plan depends on the backups present.
        self._retention_changed()

    def _render_rows(self, rows: list[HistoryRow]) -> None:
        selected = self.table.selection()
        self._rows = rows
        self.table.delete(*self.table.get_children())
        for row in rows:
            self.table.insert(
                "", "end", iid=row.iid, values=(*row.values(), row.offsite_cell), tags=(row.status,)
            )
        keep = [iid for iid in selected if self.table.exists(iid)]
        if self._select_next is not None and self.table.exists(self._select_next):
            self.select(self._select_next)
        elif keep:
            self.table.selection_set(keep)
        self._update_buttons()

    def _show_stats(self, stats: dict[str, Any]) -> None:
        self._stats = stats
        for key, text in stats_texts(stats).items():
            self.stats_labels[key].configure(text=text)
        self.stats_labels["last_failure"].configure(
            text_color=_RED if backups_failing(stats) else ctk.ThemeManager.theme["CTkLabel"]["text_color"]
        )

    def _show_health(self, health: dict[str, Any]) -> None:
        colors = {"ok": _GREEN, "warning": _AMBER, "failing": _RED}
        self.health_label.configure(text=health_text(health), text_color=colors[health["verdict"]])

    def _show_offsite(self, offsite: list[dict[str, Any]], health: dict[str, Any]) -> None:
        """The Offsite column, the offsite line and "Restore from remote…", while remotes are
        set up (they can be set at run time)."""
        had = bool(self._offsite)
        self._offsite = offsite
        self._offsite_shown = [r["message"] for r in health["reasons"]]
        if bool(offsite) != had:
            shown = [c[0] for c in _COLUMNS if offsite or c[0] != "offsite"]
            self.table.configure(displaycolumns=shown)
            # The Label column (the one that stretches) makes room for it or takes it back,
            # or the columns would run past the table's right edge.
            room = int(self.table.column("offsite", "width"))
            label = int(self.table.column("label", "width")) + (-room if offsite else room)
            self.table.column("label", width=max(int(self.table.column("label", "minwidth")), label))
            for widget in (self.offsite_label, self.restore_remote_button):
                if offsite:
                    widget.grid()
                else:
                    widget.grid_remove()
        self._tick_offsite()

    def _tick_offsite(self) -> None:
        """Writes the offsite line from what was read last ("3 min ago" grows old), again
        every ``_OFFSITE_TICK_MS`` while remotes are set up."""
        if self._offsite_after is not None:
            self.after_cancel(self._offsite_after)
            self._offsite_after = None
        trouble = any(offsite_trouble(r) for r in self._offsite)
        self.offsite_label.configure(
            text=offsite_text(self._offsite, _dt.datetime.now(_dt.timezone.utc), self._offsite_shown),
            text_color=_AMBER if trouble else _MUTED,
        )
        if self._offsite and not self._closed:
            self._offsite_after = self.after(_OFFSITE_TICK_MS, self._tick_offsite)

    @property
    def remotes(self) -> list[str]:
        """The remotes set up, as at the last refresh."""
        return remote_names(self._offsite)

    def _show_scheduler(self, status: dict[str, Any]) -> None:
        self.scheduler_label.configure(text=scheduler_text(status, self.keeper.config["timezone"]))

    @property
    def rows(self) -> list[HistoryRow]:
        """The rows of the history table, in display order (newest first)."""
        return list(self._rows)

    @property
    def stats(self) -> dict[str, Any]:
        """The statistics shown (``Keeper.stats()`` at the last refresh)."""
        return dict(self._stats)

    def select(self, backup_id: str) -> None:
        """Selects the row of backup `backup_id` and scrolls to it (once it is shown, if
        a refresh is still on its way)."""
        if self.table.exists(backup_id):
            self._select_next = None
            self.table.selection_set(backup_id)
            self.table.see(backup_id)
        else:
            self._select_next = backup_id
        self._update_buttons()

    def selected_row(self) -> HistoryRow | None:
        """The selected row, or None."""
        selection = self.table.selection()
        if not selection:
            return None
        return next((r for r in self._rows if r.iid == selection[0]), None)

    def _update_buttons(self) -> None:
        row = self.selected_row()
        free = "disabled" if self.busy else "normal"
        on_backup = "normal" if not self.busy and row is not None and row.backup is not None else "disabled"
        self.backup_button.configure(state=free)
        self.full_backup_button.configure(state=free)
        self.restore_file_button.configure(state=free)
        self.restore_remote_button.configure(state=free if self._offsite else "disabled")
        self.create_key_button.configure(state=free)
        for button in (self.verify_button, self.restore_button, self.restore_table_button, self.delete_button):
            button.configure(state=on_backup)
        if row is not None and row.postgres:
            self.restore_table_button.configure(state="disabled")
        detail = row.detail if row is not None else ""
        self.detail_label.configure(text=detail)
        if detail:
            self.detail_label.grid()
        else:
            self.detail_label.grid_remove()

    # --------------------------------------------------------------- settings

    def reload_settings(self) -> None:
        """Fills the schedule (with the Incremental switch), retention and encryption rows
        from the keeper's configuration (discarding unsaved edits)."""
        config = self.keeper.config
        schedule = config["schedule"]
        self.schedule_enabled.set(schedule != "off")
        if schedule != "off":
            self.schedule_text.set(schedule)
        elif not self.schedule_text.get():
            self.schedule_text.set("02:00")
        self.timezone_text.set(config["timezone"])
        for key in RETENTION_FIELDS:
            self.retention_vars[key].set(str(config["retention"][key]))
        self.retention_vars[WITHIN_FIELD].set(config["retention"][WITHIN_FIELD] or "")
        self.retention_vars[SIZE_FIELD].set(size_field_text(config["retention"][SIZE_FIELD]))
        self.encryption_label.configure(text=encryption_text(config["encryption"]))
        self.incremental_enabled.set(config["incremental"])
        self._show_full_backup(config["incremental"])
        self._schedule_changed()
        self._retention_changed()

    def _schedule_value(self) -> tuple[str, str]:
        schedule = self.schedule_text.get().strip() if self.schedule_enabled.get() else "off"
        return schedule, self.timezone_text.get().strip()

    def _schedule_changed(self) -> None:
        schedule, zone = self._schedule_value()
        self.schedule_entry.configure(state="normal" if self.schedule_enabled.get() else "disabled")
        normal_border = ctk.ThemeManager.theme["CTkEntry"]["border_color"]
        try:
            runs = preview_schedule(schedule, zone, 3)
        except ConfigError as e:
            self._schedule_valid = False
            self._show_error(self.schedule_error, str(e))
            self.next_runs_label.configure(text="")
            self.schedule_entry.configure(border_color=_RED if e.key == "schedule" else normal_border)
            self.timezone_box.configure(border_color=_RED if e.key == "timezone" else normal_border)
        else:
            self._schedule_valid = True
            self._show_error(self.schedule_error, "")
            self.schedule_entry.configure(border_color=normal_border)
            self.timezone_box.configure(border_color=normal_border)
            self.next_runs_label.configure(text=next_runs_text(schedule, zone, runs))
        config = self.keeper.config
        changed = (schedule, zone, self.incremental_enabled.get()) != (
            config["schedule"],
            config["timezone"],
            config["incremental"],
        )
        self.schedule_apply_button.configure(state="normal" if self._schedule_valid and changed else "disabled")

    def apply_schedule(self) -> None:
        """Saves the schedule fields and the Incremental switch into the keeper (a running
        scheduler follows at once; the next backup follows ``incremental``). The schedule
        and time zone are passed to ``Keeper.configure`` together, and ``incremental`` when
        it changed (alone when only it changed)."""
        self._schedule_changed()
        if not self._schedule_valid:
            return
        schedule, zone = self._schedule_value()
        incremental = bool(self.incremental_enabled.get())
        config = self.keeper.config
        incremental_changed = incremental != config["incremental"]
        changes: dict[str, Any] = {}
        if (schedule, zone) != (config["schedule"], config["timezone"]) or not incremental_changed:
            changes.update(schedule=schedule, timezone=zone)
        if incremental_changed:
            changes["incremental"] = incremental
        try:
            self.keeper.configure(**changes)
        except ConfigError as e:
            if e.key == "incremental":
                # Refused for this database (PostgreSQL has no pages to compare): the
                # switch goes back, and the core says why.
                self.incremental_enabled.set(config["incremental"])
                self.notify(f"Could not change incremental backups: {error_text(e)}", "error")
            else:
                self._show_error(self.schedule_error, str(e))
            return
        self._show_full_backup(self.keeper.config["incremental"])
        self._schedule_changed()
        said = []
        if "schedule" in changes:
            if schedule == "off":
                said.append("Schedule saved: automatic backups are off.")
            else:
                runs = preview_schedule(schedule, zone, 1)
                nxt = f" Next backup {format_run(runs[0], zone)}." if runs else ""
                said.append(f"Schedule saved.{nxt}")
        if "incremental" in changes:
            said.append(incremental_notice(incremental))
        self.notify(" ".join(said), "success")
        if self.on_configure is not None:
            self.on_configure(changes)

    def _retention_value(self) -> dict[str, int | str | None] | None:
        """The fields as the ``retention`` value (counts, and ``keep_within`` or None), or
        None (with the error shown) when a count is not a whole number."""
        try:
            return parse_retention({key: var.get() for key, var in self.retention_vars.items()})
        except FieldError as e:
            self._show_retention_error(str(e))
            self.retention_entries[e.key].configure(border_color=_RED)
            return None

    def _retention_changed(self) -> None:
        normal_border = ctk.ThemeManager.theme["CTkEntry"]["border_color"]
        for entry in self.retention_entries.values():
            entry.configure(border_color=normal_border)
        self._show_retention_error("")
        values = self._retention_value()
        self._retention_valid = values is not None
        self._retention_seq += 1
        if values is None:
            self.retention_preview_label.configure(text="")
            self.retention_apply_button.configure(state="disabled")
            return
        changed = retention_differs(values, self.keeper.config["retention"])
        self.retention_apply_button.configure(state="normal" if changed else "disabled")
        if self._retention_after is not None:
            self.after_cancel(self._retention_after)
        self._retention_after = self.after(_PREVIEW_DELAY_MS, self._start_retention_preview)

    def _start_retention_preview(self) -> None:
        self._retention_after = None
        values = self._retention_value()
        if values is None or self._closed:
            return
        seq = self._retention_seq

        def done(plan: RotationPlan) -> None:
            if seq == self._retention_seq:
                self._show_rotation_plan(plan)

        def failed(error: BaseException) -> None:
            if seq != self._retention_seq:
                return
            self.retention_preview_label.configure(text="")
            self._show_retention_error(error_text(error))
            if isinstance(error, ConfigError):
                self._retention_valid = False
                self.retention_apply_button.configure(state="disabled")
                self._mark_retention_field(error)

        self._bridge.submit_read(lambda: self.keeper.preview_rotation(values), done, failed)

    def _show_retention_error(self, text: str) -> None:
        """An error takes the caption's place: the core's message for a bad span runs to
        several lines, and the side column has no height to spare at 760 px."""
        self._show_error(self.retention_error, text)
        if text:
            self.retention_caption.grid_remove()
        else:
            self.retention_caption.grid()

    def _mark_retention_field(self, error: ConfigError) -> None:
        """Outlines the field the core's error names (``retention.keep_within``, ...)."""
        field = retention_field(error.key)
        if field is not None:
            self.retention_entries[field].configure(border_color=_RED)

    def _show_rotation_plan(self, plan: RotationPlan) -> None:
        self.retention_preview_label.configure(text=rotation_preview_text(plan))

    def apply_retention(self) -> None:
        """Saves the retention fields into the keeper; the next rotation uses them."""
        values = self._retention_value()
        if values is None or not self._retention_valid:
            return
        changes: dict[str, Any] = {"retention": dict(values)}
        try:
            self.keeper.configure(**changes)
        except ConfigError as e:
            self._show_retention_error(str(e))
            self._mark_retention_field(e)
            return
        # The span and the size as the core keeps them (" 36H " is "36h", "2gb" is
        # "2.0 GB"); setting a field runs _retention_changed.
        kept = self.keeper.config["retention"]
        shown = {WITHIN_FIELD: kept[WITHIN_FIELD] or "", SIZE_FIELD: size_field_text(kept[SIZE_FIELD])}
        differ = [key for key, text in shown.items() if self.retention_vars[key].get() != text]
        for key in differ:
            self.retention_vars[key].set(shown[key])
        if not differ:
            self._retention_changed()
        self.notify("Retention saved; the next rotation uses it.", "success")
        if self.on_configure is not None:
            self.on_configure(changes)

    def _show_full_backup(self, incremental: bool) -> None:
        """Shows "Full backup" while ``incremental`` is on (otherwise every backup is a
        full one)."""
        if incremental:
            self.full_backup_button.grid()
        else:
            self.full_backup_button.grid_remove()

    @property
    def detail(self) -> str:
        """The line under the table: what the selected incremental backup is rebuilt
        from (empty for other rows)."""
        return str(self.detail_label.cget("text"))

    @property
    def retention_preview(self) -> str:
        """The text of the rotation preview."""
        return str(self.retention_preview_label.cget("text"))

    @property
    def encryption(self) -> str:
        """The text of the encryption row."""
        return str(self.encryption_label.cget("text"))

    def test_notifications(self) -> None:
        """Sends a test message through every notification channel (off the Tk thread)
        and shows how each went."""
        if self.busy:
            return

        def done(results: list[dict[str, Any]]) -> None:
            level, text = notify_test_notice(results)
            self.notify(text, level)

        self._action_call(
            "Sending a test notification…",
            self.keeper.notify_test,
            done,
            lambda err: self.notify(f"Could not send a test notification: {error_text(err)}", "error"),
        )

    def create_key(self) -> None:
        """Makes a new encryption key in a file the user chooses (``sqlkeep.keygen``, off
        the Tk thread), shows its public key and the warning, and, after a confirmation,
        encrypts new backups to it."""
        if self.busy:
            return
        path = self.ask_save_file()
        if not path:
            return

        def done(made: dict[str, Any]) -> None:
            self.show_info("New encryption key", new_key_text(made))
            if not self.confirm("Encrypt new backups", use_key_question(made, self.keeper.config["encryption"])):
                self.notify(f"Key saved to {made['path']}; the encryption setting is unchanged.")
                return
            changes: dict[str, Any] = {"encryption": encryption_setting(made)}
            try:
                self.keeper.configure(**changes)
            except ConfigError as e:
                self.notify(f"Could not use the new key: {error_text(e)}", "error")
                return
            self.encryption_label.configure(text=encryption_text(self.keeper.config["encryption"]))
            self.notify(f"New backups are encrypted to the key in {made['path']}.", "success")
            if self.on_configure is not None:
                self.on_configure(changes)

        self._action_call(
            "Creating an encryption key…",
            lambda: keygen(path),
            done,
            lambda err: self.notify(f"Could not create the key: {error_text(err)}", "error"),
        )
