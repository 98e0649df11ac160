"""Retention for schedules more frequent than daily (issue 20), through the Python
module: `retention.hourly` and `retention.keep_within` as keywords, in `configure` and in
`preview_rotation`, the core's error for a bad span, and the `retention_warning` the core
gives for a sub-daily schedule that the policy cannot keep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import sqlkeep

from conftest import EventRecorder

HOURLY = "0 * * * *"


def _logged(keeper: sqlkeep.Keeper, type_: str) -> list[dict[str, Any]]:
    """The entries of type `type_` in the backup log (`sqlkeep-log.jsonl`, JSON lines)."""
    log = Path(keeper.config["backup_dir"]) / "sqlkeep-log.jsonl"
    if not log.exists():
        return []
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [e for e in entries if e["type"] == type_]


def test_hourly_and_keep_within_are_keywords_and_in_config(db: Path) -> None:
    with sqlkeep.Keeper(
        db, schedule=HOURLY, timezone="UTC", retention={"hourly": 24, "keep_within": "36h"}
    ) as k:
        retention = k.config["retention"]
        assert retention["hourly"] == 24
        assert retention["keep_within"] == "36h"
        assert retention["daily"] == 30, "the keys not given keep the core's defaults"
        assert _logged(k, "retention_warning") == [], "the policy keeps the hourly backups"

        k.configure(retention={"keep_within": None})
        assert k.config["retention"]["keep_within"] is None
        assert k.config["retention"]["hourly"] == 24


def test_preview_rotation_takes_keep_within(keeper: sqlkeep.Keeper) -> None:
    plan = keeper.preview_rotation({"keep_within": "36h"})
    assert plan.dry_run
    assert plan.deleted == []
    assert keeper.config["retention"]["keep_within"] is None, "a preview changes nothing"


def test_preview_rotation_gives_the_keep_within_reason(db: Path) -> None:
    with sqlkeep.Keeper(db, schedule="off", backup_on_shutdown=True) as k:
        k.start()
        k.stop()
        (made,) = k.list()
        plan = k.preview_rotation({"keep_within": "36h", "daily": 0, "weekly": 0, "monthly": 0})
        (entry,) = plan.entries
        assert (entry["id"], entry["action"], entry["reason"]) == (made.id, "keep", "keep_within 36h")


@pytest.mark.parametrize("bad", ["7 days", "0h", "36", 36])
def test_a_bad_keep_within_is_a_config_error_naming_the_key(db: Path, bad: object) -> None:
    with pytest.raises(sqlkeep.ConfigError) as raised:
        sqlkeep.Keeper(db, retention={"keep_within": bad})
    assert raised.value.key == "retention.keep_within"


def test_a_bad_keep_within_in_configure_changes_nothing(keeper: sqlkeep.Keeper) -> None:
    before = keeper.config
    with pytest.raises(sqlkeep.ConfigError) as raised:
        keeper.configure(retention={"keep_within": "7 days", "hourly": 5})
    assert raised.value.key == "retention.keep_within"
    assert keeper.config == before


def test_an_hourly_schedule_with_the_default_policy_warns_in_the_backup_log(db: Path) -> None:
    with sqlkeep.Keeper(db, schedule=HOURLY, timezone="UTC") as k:
        (warning,) = _logged(k, "retention_warning")
        assert "retention.hourly" in warning["keys"] and "retention.keep_within" in warning["keys"]
        assert warning["message"]


def test_configure_that_drops_the_hourly_rule_warns_subscribers(
    keeper: sqlkeep.Keeper, recorder: EventRecorder
) -> None:
    keeper.configure(schedule=HOURLY, timezone="UTC", retention={"hourly": 24})
    keeper.on_event(recorder)
    assert recorder.types() == []
    keeper.configure(retention={"hourly": 0})
    (warning,) = [e for e, _ in recorder.events if e["type"] == "retention_warning"]
    assert warning["severity"] == "warning"
    assert "retention.hourly" in warning["keys"]
    assert HOURLY in warning["message"]
    assert warning["message"] == _logged(keeper, "retention_warning")[-1]["message"]


def test_a_size_budget_shows_in_the_plan_and_never_deletes_manual_backups(db: Path) -> None:
    with sqlkeep.Keeper(db, schedule="off") as k:
        manual = [k.backup(), k.backup()]
        total = sum(b.size_bytes for b in manual)
        plan = k.preview_rotation({"max_total_bytes": total})
        assert (plan.deleted, plan.total_bytes, plan.max_total_bytes, plan.warning) == ([], total, total, None)
        # Below what the manual backups take: nothing is deleted, and the plan says why.
        tight = k.preview_rotation({"max_total_bytes": 1})
        assert tight.deleted == [] and tight.max_total_bytes == 1
        assert tight.warning is not None and "manual backups alone take" in tight.warning
        assert k.preview_rotation({}).max_total_bytes is None
        with pytest.raises(sqlkeep.ConfigError, match=r"retention\.max_total_percent_of_disk"):
            k.configure(retention={"max_total_percent_of_disk": 0})
        k.configure(retention={"max_total_bytes": 10_000_000})
        assert k.config["retention"]["max_total_bytes"] == 10_000_000
