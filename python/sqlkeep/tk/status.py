"""What the view reads from the keeper in one go (``KeeperState``), and what it says
about it outside the table: the statistics tiles, the scheduler line, the health line
(the core's verdict, whose reasons include a failing automatic rotation or test restore)
and the offsite line (each remote's last copy, or the core's summary of its trouble).

Pure: no tkinter, so it imports and is tested without a display.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._sqlkeep import Keeper
from .format import format_ago, format_run, format_size, format_time
from .rows import HISTORY_LIMIT, HistoryRow, build_rows

#: The statistics tiles: key of ``stats_texts``, caption.
STATS_TILES = (
    ("count", "Backups"),
    ("total_bytes", "Total size"),
    ("oldest", "Oldest"),
    ("newest", "Newest"),
    ("last_success", "Last success"),
    ("last_failure", "Last failure"),
)


@dataclass(frozen=True)
class KeeperState:
    """The table's rows, ``Keeper.stats()``, ``Keeper.status()`` and ``Keeper.health()``,
    read together."""

    rows: list[HistoryRow]
    stats: dict[str, Any]
    status: dict[str, Any]
    health: dict[str, Any]


def read_state(keeper: Keeper, include_deleted: bool, limit: int = HISTORY_LIMIT) -> KeeperState:
    """Reads what the view shows. Calls the keeper: run it off the Tk thread."""
    timeline = keeper.timeline(limit=limit, include_deleted=include_deleted)
    status = keeper.status()
    return KeeperState(
        rows=build_rows(timeline, keeper.list(), status["offsite"]),
        stats=keeper.stats(),
        status=status,
        health=keeper.health(),
    )


def stats_texts(stats: Mapping[str, Any]) -> dict[str, str]:
    """The text of each statistics tile (keys of ``STATS_TILES``)."""
    return {
        "count": str(stats["count"]),
        "total_bytes": format_size(stats["total_bytes"]),
        "oldest": format_time(stats["oldest"]),
        "newest": format_time(stats["newest"]),
        "last_success": format_time(stats["last_success"]),
        "last_failure": format_time(stats["last_failure"]),
    }


#: How the view names each verdict of ``Keeper.health()``.
VERDICT_NAMES = {"ok": "Healthy", "warning": "Needs attention", "failing": "Failing"}


def health_text(health: Mapping[str, Any]) -> str:
    """The health line: the core's verdict and headline, then each of its reasons (the
    core words them; the view only lays them out)."""
    lines = [f"{VERDICT_NAMES[health['verdict']]} · {health['headline']}"]
    lines += [f"• {r['message']}" for r in health["reasons"]]
    return "\n".join(lines)


def notify_test_notice(results: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """``(level, text)`` for the results of ``Keeper.notify_test()``: each channel as the
    core names it (without secrets), and the core's error for each that failed."""
    if not results:
        return "warning", "No notification channels are set up (the `notify` setting)."
    failed = [r for r in results if not r["ok"]]
    if not failed:
        names = ", ".join(r["channel"] for r in results)
        return "success", f"Test message sent through {len(results)} channel{'' if len(results) == 1 else 's'}: {names}."
    return "error", "Test message failed: " + "; ".join(f"{r['channel']}: {r['error']}" for r in failed)


def backups_failing(stats: Mapping[str, Any]) -> bool:
    """Whether the last backup run failed (a failure and no success since)."""
    failure, success = stats["last_failure"], stats["last_success"]
    return failure is not None and (success is None or failure > success)


def scheduler_text(status: Mapping[str, Any], zone: str) -> str:
    """The scheduler line: stopped, or running with its next backup or retry."""
    if not status["running"]:
        return "Scheduler stopped"
    if status["retry_at"] is not None:
        return f"Scheduler running · retry {format_run(status['retry_at'], zone)}"
    if status["next_run"] is not None:
        return f"Scheduler running · next backup {format_run(status['next_run'], zone)}"
    return "Scheduler running · automatic backups off"


def remote_names(offsite: Sequence[Mapping[str, Any]]) -> list[str]:
    """The remotes set up (``remotes``), in their order, from ``Keeper.status()["offsite"]``."""
    return [r["remote"] for r in offsite]


def offsite_trouble(remote: Mapping[str, Any]) -> bool:
    """Whether an entry of ``status()["offsite"]`` lacks backups or its last attempt
    failed (what the core's health verdict warns about)."""
    return remote["last_error"] is not None or remote["missing"] > 0


def offsite_text(
    offsite: Sequence[Mapping[str, Any]], now: _dt.datetime, shown: Collection[str] = ()
) -> str:
    """The offsite line, a part for each remote of ``status()["offsite"]``: ``"offsite nas:
    last copy 3 min ago"``; the core's ``summary`` as it is when the remote lacks backups or
    failed (or never got a copy), unless that sentence is already in `shown` (the health
    reasons on show: the core makes one of each such summary), where the line keeps to the
    last copy (``"offsite nas: no copy yet"``). ``""`` without remotes."""
    parts = []
    for r in offsite:
        trouble = offsite_trouble(r)
        if (trouble and r["summary"] not in shown) or (not trouble and r["last_copy_at"] is None):
            parts.append(r["summary"])
        elif r["last_copy_at"] is None:
            parts.append(f"offsite {r['remote']}: no copy yet")
        else:
            parts.append(f"offsite {r['remote']}: last copy {format_ago(r['last_copy_at'], now)}")
    return " · ".join(parts)
