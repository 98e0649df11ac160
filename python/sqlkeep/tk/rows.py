"""The rows of the history table: the core's timeline (``Keeper.timeline``, runs merged
with the backups present) joined with the backups by id, so a row can be acted on, and
with the remotes that hold a copy of each (``Keeper.status()["offsite"]``, as last known:
no network request). An incremental backup's row says so, with the bytes it added and
what it is rebuilt from (``Backup.depends_on``, the core's chain).

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
    deleted here may still be there). ``builds_on`` says what an incremental backup is
    rebuilt from (``depends_on_text``); None for a full backup.
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
    builds_on: str | None = None

    @property
    def encrypted(self) -> bool:
        """The backup exists and its file is encrypted (``Backup.encrypted``)."""
        return self.backup is not None and self.backup.encrypted

    @property
    def incremental(self) -> bool:
        """The backup exists and is incremental (``Backup.incremental``): its file holds
        the pages that changed, and it is rebuilt from the files of its chain."""
        return self.backup is not None and self.backup.incremental is not None

    @property
    def postgres(self) -> bool:
        """The backup exists and is of a PostgreSQL database (``Backup.postgres``): the
        comparison and the restore of single tables work on SQLite only."""
        return self.backup is not None and self.backup.postgres is not None

    def values(self) -> tuple[str, ...]:
        """The table cells: date, kind, label, size, duration, status (with
        ", encrypted" for an encrypted backup and ", incremental" for an incremental one,
        whose size is the bytes it added: ``"+390 B"``)."""
        size = format_size(self.size_bytes)
        status = self.status
        if self.encrypted:
            status += ", encrypted"
        if self.incremental:
            size = f"+{size}"
            status += ", incremental"
        return (
            format_time(self.time),
            self.kind,
            self.label or "",
            size,
            format_duration(self.duration_ms),
            status,
        )

    @property
    def detail(self) -> str:
        """What the line under the table says about the row when it is selected: for an
        incremental backup, the bytes it added, what it is rebuilt from and the size of
        the database it restores to; ``""`` for any other row."""
        if self.backup is None or self.builds_on is None:
            return ""
        return (
            f"Incremental backup: adds {format_size(self.backup.size_bytes)} to {self.builds_on}; "
            f"restores to a database of {format_size(self.backup.raw_size_bytes)}."
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


def depends_on_text(backup: Backup, present: Mapping[str, Backup]) -> str | None:
    """What incremental `backup` is rebuilt from (``Backup.depends_on``: its full backup,
    then the incremental backups between), described by the backups of `present` (id ->
    Backup): ``"the full backup of 2026-12-04 15:12 and 2 incremental backups after
    it"``. A deleted backup's file is kept for the chain (the core moves it aside), so
    the chain still holds. None for a full backup."""
    if not backup.depends_on:
        return None
    full_id, *between = backup.depends_on
    full = present.get(full_id)
    if full is not None:
        text = f"the full backup of {format_time(full.created_at)}"
    else:
        text = "a deleted full backup (its file is kept for this one)"
    if between:
        n = len(between)
        text += f" and {n} incremental backup{'' if n == 1 else 's'} after it"
    return text


def dependents(backup_id: str, backups: Iterable[Backup]) -> list[Backup]:
    """The backups of `backups` rebuilt with the file of backup `backup_id` (those whose
    ``depends_on`` names it)."""
    return [b for b in backups if backup_id in b.depends_on]


def delete_question(row: HistoryRow, backups: Iterable[Backup]) -> str:
    """The confirmation before the backup of `row` is deleted; `backups` are the others
    present (``Keeper.list()``). When incremental backups are rebuilt from its file, the
    core keeps that file for them, and the question says so."""
    assert row.backup is not None
    backup = row.backup
    question = f"Delete the backup taken {describe(row)}?\n\n"
    needed_by = dependents(backup.id, backups)
    if not needed_by:
        return (
            question + f"Its file {backup.path.name} ({format_size(backup.size_bytes)}) and manifest are "
            "removed. This cannot be undone."
        )
    n = len(needed_by)
    return (
        question + f"{n} incremental backup{' is' if n == 1 else 's are'} rebuilt from its file "
        f"{backup.path.name} ({format_size(backup.size_bytes)}): the file is kept for them until they "
        "are deleted too, and only this backup's manifest is removed. This cannot be undone."
    )


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
                builds_on=depends_on_text(backup, present) if backup is not None else None,
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
