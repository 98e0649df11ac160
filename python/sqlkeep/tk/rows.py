"""The rows of the history table: the core's timeline (``Keeper.timeline``, runs merged
with the backups present) joined with the backups by id, so a row can be acted on.

Pure: no tkinter, so it imports and is tested without a display.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._sqlkeep import Backup
from .format import format_duration, format_size, format_time

#: How many runs the table shows; backups still present whose runs are older are shown too.
HISTORY_LIMIT = 500


@dataclass(frozen=True)
class HistoryRow:
    """One row of the history table, made from one entry of ``Keeper.timeline()``.

    ``backup`` is set when the backup exists (only then can it be verified, restored or
    deleted); ``time`` and ``status`` are the core's (for a backup that exists: when it
    was taken, and verified, unverified or corrupt). ``iid`` is the table's row id: the
    backup id when the backup exists, else ``run-<n>``.
    """

    iid: str
    backup_id: str | None
    time: _dt.datetime
    kind: str
    label: str | None
    size_bytes: int | None
    duration_ms: int | None
    status: str
    error: str | None
    backup: Backup | None

    @property
    def encrypted(self) -> bool:
        """The backup exists and its file is encrypted (``Backup.encrypted``)."""
        return self.backup is not None and self.backup.encrypted

    def values(self) -> tuple[str, ...]:
        """The table cells: date, kind, label, size, duration, status (with
        ", encrypted" for an encrypted backup)."""
        return (
            format_time(self.time),
            self.kind,
            self.label or "",
            format_size(self.size_bytes),
            format_duration(self.duration_ms),
            f"{self.status}, encrypted" if self.encrypted else self.status,
        )


def build_rows(timeline: Sequence[Mapping[str, Any]], backups: Iterable[Backup]) -> list[HistoryRow]:
    """Rows for the entries of ``Keeper.timeline()``, in its order (newest first), each
    with its ``Backup`` from ``backups`` (``Keeper.list()``) when that is present."""
    present = {b.id: b for b in backups}
    rows: list[HistoryRow] = []
    for n, entry in enumerate(timeline):
        backup_id = entry["id"]
        backup = present.get(backup_id) if backup_id is not None else None
        rows.append(
            HistoryRow(
                iid=backup.id if backup is not None else f"run-{n}",
                backup_id=backup_id,
                time=entry["time"],
                kind=entry["kind"],
                label=entry["label"],
                size_bytes=entry["size_bytes"],
                duration_ms=entry["duration_ms"],
                status=entry["status"],
                error=entry["error"],
                backup=backup,
            )
        )
    return rows


def describe(row: HistoryRow) -> str:
    """``"2026-11-23 11:58 (manual, “before import”)"``: what a user recognizes a backup by."""
    what = row.kind if not row.label else f"{row.kind}, “{row.label}”"
    return f"{format_time(row.time)} ({what})"


def restorable_tables(diff: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The tables a selective restore of the compared backup would change, as
    ``(name, "name: the core's table_restore_preview")``: those with rows to bring back
    or revert (rows added since are kept by such a restore)."""
    return [
        (t["name"], f"{t['name']}: {t['table_restore_preview']}")
        for t in diff["tables"]
        if t["removed"] + t["changed"] > 0
    ]
