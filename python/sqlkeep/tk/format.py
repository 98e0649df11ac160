"""How the view writes sizes, durations and instants.

Sizes are the core's (``sqlkeep.format_size``, which the CLI uses too); this module only
adds the dash for "no size known". Pure: no tkinter, so it imports without a display.
"""

from __future__ import annotations

import datetime as _dt

from .._sqlkeep import format_ago as _core_format_ago
from .._sqlkeep import format_size as _core_format_size

#: Shown where there is no value (no size, no time, no duration).
NOTHING = "—"


def format_size(n: int | None) -> str:
    """``1234567`` -> ``"1.2 MB"``, as ``sqlkeep.format_size`` writes it; ``None`` -> ``"—"``."""
    return NOTHING if n is None else _core_format_size(n)


def format_duration(ms: int | None) -> str:
    """``850`` -> ``"850 ms"``, ``12340`` -> ``"12.3 s"``, ``125000`` -> ``"2 min 05 s"``."""
    if ms is None:
        return NOTHING
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    seconds = round(ms / 1000)
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def format_time(t: _dt.datetime | None) -> str:
    """A recorded instant (UTC) in the computer's local time: ``"2026-11-23 11:58"``."""
    if t is None:
        return NOTHING
    return t.astimezone().strftime("%Y-%m-%d %H:%M")


def format_ago(t: _dt.datetime | None, now: _dt.datetime) -> str:
    """How long before `now` instant `t` was, in the core's words (``sqlkeep.format_ago``,
    the health headline's):
    ``"just now"``, ``"12 min ago"``, ``"3 h ago"``, ``"2 days ago"``; ``None`` -> ``"—"``."""
    return NOTHING if t is None else _core_format_ago(t, now)


def format_run(t: _dt.datetime, zone: str) -> str:
    """A schedule instant in the wall-clock time of the schedule's zone: ``"Mon 2026-11-23
    02:30"`` for ``"local"``, with the offset (``" UTC+01:00"``, ``" UTC"``) for a named zone."""
    text = f"{t:%a} {t:%Y-%m-%d %H:%M}"
    if zone != "local":
        offset = t.utcoffset() or _dt.timedelta(0)
        if offset:
            sign = "-" if offset < _dt.timedelta(0) else "+"
            minutes = abs(int(offset.total_seconds())) // 60
            text += f" UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
        else:
            text += " UTC"
    return text


def error_text(e: BaseException) -> str:
    """The message of an exception, or its type name when it has none."""
    return str(e) or type(e).__name__
