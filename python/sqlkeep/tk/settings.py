"""The schedule and retention forms without their widgets: the choices offered, reading
the retention fields, and the texts of the schedule and rotation previews.

Pure: no tkinter, so it imports and is tested without a display.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence

from .._sqlkeep import RotationPlan
from .format import format_run, format_size, format_time

#: Offered in the time zone box; any IANA name can be typed.
TIMEZONES = (
    "local",
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Warsaw",
    "Europe/Helsinki",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)

#: The retention fields of the form, in their order (keys of the ``retention`` setting).
RETENTION_FIELDS = ("daily", "weekly", "monthly", "yearly")


class FieldError(ValueError):
    """A form field holds what the form cannot send: ``key`` names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def parse_retention(texts: Mapping[str, str]) -> dict[str, int]:
    """The retention fields' texts as counts; raises ``FieldError`` for the first field
    (in ``RETENTION_FIELDS`` order) that is not a whole number of 0 or more. The core
    still decides whether the counts are acceptable."""
    values: dict[str, int] = {}
    for key in RETENTION_FIELDS:
        text = texts[key].strip()
        if not (text.isascii() and text.isdigit()):
            raise FieldError(key, f"{key.capitalize()}: enter a whole number of 0 or more.")
        values[key] = int(text)
    return values


def next_runs_text(schedule: str, zone: str, runs: Sequence[_dt.datetime]) -> str:
    """The "Next runs" preview: one schedule instant a line, or that backups are off."""
    if schedule == "off":
        return "Automatic backups are off."
    return "\n".join(format_run(t, zone) for t in runs)


def rotation_preview_text(plan: RotationPlan) -> str:
    """What the next rotation would delete, from ``Keeper.preview_rotation``'s plan."""
    n = len(plan.deleted)
    if n == 0:
        return "The next rotation would delete nothing."
    doomed = [e for e in plan.entries if e["action"] == "delete"]
    shown = ", ".join(format_time(e["created_at"]) for e in doomed[:3])
    more = f" and {n - 3} more" if n > 3 else ""
    return (
        f"The next rotation would delete {n} backup{'s' if n != 1 else ''} "
        f"({format_size(plan.freed_bytes)}): {shown}{more}."
    )
