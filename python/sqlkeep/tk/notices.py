"""What the view says about an event: ``notice(event) -> (level, text)`` or ``None``.

The level is the core's ``severity`` of the event ("info", "success", "warning",
"error"); only the wording is the view's. Pure: no tkinter, so it is tested with event
dicts of a real keeper and without a display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .format import format_duration, format_size

#: The severities the core gives events, which are the notification levels.
LEVELS = ("info", "success", "warning", "error")

#: Event types after which what the view shows (history, statistics, scheduler and
#: health) may have changed.
REFRESH_EVENTS = frozenset(
    {
        "backup_succeeded",
        "backup_failed",
        "backup_cancelled",
        "backup_deleted",
        "verify_finished",
        "restore_finished",
        "rotation_finished",
        "rotation_failed",
        "test_restore_finished",
        "test_restore_failed",
        "scheduler_started",
        "scheduler_stopped",
        "offsite_copied",
        "offsite_failed",
        "offsite_deleted",
    }
)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _text(e: Mapping[str, Any]) -> str | None:
    """The sentence for event `e`, or None when it is not worth a notification."""
    kind = e["type"]
    if kind == "backup_succeeded":
        what = f"{e['kind'].capitalize()} backup" + (f" “{e['label']}”" if e.get("label") else "")
        text = f"{what} succeeded: {format_size(e['size_bytes'])} in {format_duration(e['duration_ms'])}."
        if e.get("verified") is False:
            text += " It failed verification."
        return text
    if kind == "backup_failed":
        retry = ""
        if e.get("retry_at") is not None:
            retry = f" Retrying at {e['retry_at'].astimezone():%H:%M}."
        return f"{e['kind'].capitalize()} backup failed: {e['error']}{retry}"
    if kind == "backup_cancelled":
        return f"{e['kind'].capitalize()} backup cancelled; nothing was kept."
    if kind == "verify_finished":
        # A verification that passed changes a status in the table; only trouble is news.
        if e["severity"] in ("info", "success"):
            return None
        return f"Backup {e['id']} failed verification: {e['detail']}"
    if kind == "test_restore_finished":
        if e["ok"]:
            return f"Test restore of {e['id']} passed."
        return f"Test restore of {e['id']} failed: {e['detail']}"
    if kind == "test_restore_failed":
        which = f" (backup {e['id']})" if e.get("id") else ""
        return f"Test restore failed{which}: {e['error']}"
    if kind == "restore_finished":
        if e["ok"]:
            return f"Database restored from {e['id']}."
        return f"Restore from {e['id']} failed: {e['error']}"
    if kind == "rotation_finished":
        if not e["deleted"] or e["dry_run"]:
            return None
        return f"Rotation deleted {_plural(e['deleted'], 'old backup')} ({format_size(e['freed_bytes'])})."
    if kind == "rotation_failed":
        return f"Automatic rotation failed: {e['error']}"
    if kind == "retention_warning":
        # The core's sentence, which names the settings that would keep the backups.
        return f"Retention: {e['message']}"
    if kind == "offsite_failed":
        # The remote is the core's name for it; its error has no credentials in it.
        which = f" of {e['id']}" if e.get("id") else ""
        text = f"Offsite copy{which} to {e['remote']} failed: {e['error']}"
        if e["missing"]:
            text += f" ({_plural(e['missing'], 'backup')} missing there)"
        return text + "."
    # No notice for "offsite_copied": it follows every backup, whose own notice it would
    # replace, and the Offsite column and line show it (as a passed verification shows
    # in the Status column).
    if kind == "notification_failed":
        # `channel` is the core's secret-free name for it ("webhook https://host").
        return f"Could not send the {e['notification']} notification to {e['channel']}: {e['error']}"
    return None


def notice(e: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(level, text)`` for event `e` (a dict handed to ``Keeper.on_event`` callbacks),
    or None when the view does not notify about it. ``level`` is ``e["severity"]``."""
    text = _text(e)
    if text is None:
        return None
    return str(e["severity"]), text


def with_offsite_failures(level: str, text: str, events: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """An action's notification ``(level, text)`` followed by the notices of the
    ``offsite_failed`` events among `events` (a backup is copied offsite before the call
    that took it returns), at the more severe of the levels."""
    for e in events:
        said = notice(e) if e["type"] == "offsite_failed" else None
        if said is not None:
            text = f"{text} {said[1]}"
            if LEVELS.index(said[0]) > LEVELS.index(level):
                level = said[0]
    return level, text
