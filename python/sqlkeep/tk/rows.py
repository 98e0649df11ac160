"""The rows of the history table: the core's timeline (``Keeper.timeline``, runs merged
with the backups present) joined with the backups by id, so a row can be acted on, and
with the remotes that hold a copy of each (``Keeper.status()["offsite"]``, as last known:
no network request).

Pure: no tkinter, so it imports and is tested without a display.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._sqlkeep import Backup
from .format import NOTHING, format_duration, format_size, format_time

#: How many runs the table shows; backups still present whose runs are older are shown too.
HISTORY_LIMIT = 500


@dataclass(frozen=True)
class HistoryRow:
    """One row of the history table, made from one entry of ``Keeper.timeline()``.

    ``backup`` is set when the backup exists (only then can it be verified, restored or
    deleted); ``time`` and ``status`` are the core's (for a backup that exists: when it
    was taken, and verified, unverified or corrupt). ``iid`` is the table's row id: the
    backup id when the backup exists, else ``run-<n>``. ``offsite`` names the remotes
    holding a copy of the backup, in the order of the ``remotes`` setting (a backup
    deleted here may still be there).
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
    offsite: tuple[str, ...] = ()

    @property
    def encrypted(self) -> bool:
        """The backup exists and its file is encrypted (``Backup.encrypted``)."""
        return self.backup is not None and self.backup.encrypted

    @property
    def postgres(self) -> bool:
        """The backup exists and is of a PostgreSQL database (``Backup.postgres``): the
        comparison and the restore of single tables work on SQLite only."""
        return self.backup is not None and self.backup.postgres is not None

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

    @property
    def offsite_cell(self) -> str:
        """The Offsite column's cell (shown when remotes are set up): the remotes holding
        a copy, ``"nas, offsite"``, or ``"—"``."""
        return ", ".join(self.offsite) or NOTHING


def offsite_holders(offsite: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Backup id -> the remotes holding it, from the entries of ``status()["offsite"]``
    (each remote's ``backups`` as last known), in their order."""
    holders: dict[str, tuple[str, ...]] = {}
    for remote in offsite:
        for b in remote["backups"]:
            holders[b.id] = (*holders.get(b.id, ()), remote["remote"])
    return holders


def build_rows(
    timeline: Sequence[Mapping[str, Any]],
    backups: Iterable[Backup],
    offsite: Iterable[Mapping[str, Any]] = (),
) -> list[HistoryRow]:
    """Rows for the entries of ``Keeper.timeline()``, in its order (newest first), each
    with its ``Backup`` from ``backups`` (``Keeper.list()``) when that is present, and the
    remotes of ``offsite`` (``Keeper.status()["offsite"]``) holding a copy."""
    present = {b.id: b for b in backups}
    holders = offsite_holders(offsite)
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
                offsite=holders.get(backup_id, ()) if backup_id is not None else (),
            )
        )
    return rows


def describe(row: HistoryRow) -> str:
    """``"2026-11-23 11:58 (manual, “before import”)"``: what a user recognizes a backup by."""
    return _describe(row.time, row.kind, row.label)


def describe_backup(b: Backup) -> str:
    """``describe`` for a ``Backup`` (one on a remote, which has no row)."""
    return _describe(b.created_at, b.kind, b.label)


def _describe(time: _dt.datetime, kind: str, label: str | None) -> str:
    what = kind if not label else f"{kind}, “{label}”"
    return f"{format_time(time)} ({what})"


def remote_choices(backups: Sequence[Backup]) -> list[tuple[str, Backup]]:
    """The backups of a remote (``Keeper.list(remote=name)``, newest first) as the options
    of the picker: ``(text, backup)``, the text as ``describe`` writes it and the size, with
    the backup's id added where two would read the same."""
    texts = [f"{describe_backup(b)} · {format_size(b.size_bytes)}" for b in backups]
    return [
        (f"{text} · {b.id}" if texts.count(text) > 1 else text, b) for text, b in zip(texts, backups)
    ]


def restorable_tables(diff: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The tables a selective restore of the compared backup would change, as
    ``(name, "name: the core's table_restore_preview")``: those with rows to bring back
    or revert (rows added since are kept by such a restore)."""
    return [
        (t["name"], f"{t['name']}: {t['table_restore_preview']}")
        for t in diff["tables"]
        if t["removed"] + t["changed"] > 0
    ]
