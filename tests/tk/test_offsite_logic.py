"""The display-free parts of sqlkeep.tk for offsite copies (issue 13): which remotes hold
each row's backup, the offsite line, the picker of "Restore from remote…", the notice of
a failed copy. No window is built; the keepers and their file:// remotes are real."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlkeep
from sqlkeep.tk.format import format_ago
from sqlkeep.tk.notices import REFRESH_EVENTS, notice, with_offsite_failures
from sqlkeep.tk.rows import build_rows, describe_backup, offsite_holders, remote_choices
from sqlkeep.tk.status import offsite_text, offsite_trouble, read_state, remote_names

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def remote(name: str, folder: Path) -> dict[str, Any]:
    return {"name": name, "url": folder.as_uri()}


def entry(name: str, **fields: Any) -> dict[str, Any]:
    """An entry of status()["offsite"] with the fields the view reads."""
    values: dict[str, Any] = {
        "remote": name,
        "backups": [],
        "missing": 0,
        "last_copy_at": None,
        "last_error_at": None,
        "last_error": None,
        "summary": f"summary of {name}",
    }
    return {**values, **fields}


# ------------------------------------------------------------------ history rows


def test_offsite_holders_maps_each_backup_to_the_remotes_holding_it_in_their_order(
    keeper: sqlkeep.Keeper,
) -> None:
    first = keeper.backup(label="first")
    second = keeper.backup(label="second")
    offsite = [entry("nas", backups=[second, first]), entry("usb", backups=[second]), entry("cloud")]
    assert offsite_holders(offsite) == {first.id: ("nas",), second.id: ("nas", "usb")}
    assert offsite_holders([]) == {}


def test_rows_carry_the_remotes_of_a_real_status_a_deleted_backup_included(
    db: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    remotes = [remote("nas", tmp_path / "nas"), remote("broken", blocker)]
    with sqlkeep.Keeper(db, schedule="off", remotes=remotes) as keeper:
        kept = keeper.backup(label="kept")
        gone = keeper.backup(label="gone")
        keeper.delete(gone.id)  # here only: nas keeps its copy
        db.rename(db.with_suffix(".away"))
        with pytest.raises(sqlkeep.Error):
            keeper.backup(label="failed")
        db.with_suffix(".away").rename(db)

        status = keeper.status()
        assert remote_names(status["offsite"]) == ["nas", "broken"]
        rows = build_rows(keeper.timeline(include_deleted=True), keeper.list(), status["offsite"])
        by_status = {r.status: r for r in rows}
        assert by_status["verified"].backup_id == kept.id
        assert by_status["verified"].offsite == ("nas",)
        assert by_status["verified"].offsite_cell == "nas"
        assert by_status["deleted"].offsite == ("nas",), "still on the remote"
        assert by_status["failed"].offsite == () and by_status["failed"].offsite_cell == "—"
        assert len(by_status["verified"].values()) == 6, "the Offsite cell is apart from values()"

        state = read_state(keeper, include_deleted=False)
        assert [(r.backup_id, r.offsite) for r in state.rows if r.backup] == [(kept.id, ("nas",))]
        # Without remotes, the rows are as before.
        assert build_rows(keeper.timeline(), keeper.list())[0].offsite == ()


def test_remote_choices_read_as_describe_and_tell_twins_apart_by_id(keeper: sqlkeep.Keeper) -> None:
    labelled = keeper.backup(label="before import")
    other = keeper.backup()
    size = sqlkeep.format_size
    first = f"{describe_backup(labelled)} · {size(labelled.size_bytes)}"
    assert describe_backup(labelled).endswith("(manual, “before import”)")
    assert remote_choices([labelled]) == [(first, labelled)]
    # Two that read the same (taken in the same minute, of the same size): the ids tell.
    twins = remote_choices([other, other, labelled])
    assert [t for t, _ in twins] == [
        f"{describe_backup(other)} · {size(other.size_bytes)} · {other.id}",
        f"{describe_backup(other)} · {size(other.size_bytes)} · {other.id}",
        first,
    ]
    assert [b for _, b in twins] == [other, other, labelled]
    assert remote_choices([]) == []


# ------------------------------------------------------------------- offsite line


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "just now"), (59, "just now"), (60, "1 min ago"), (3599, "59 min ago"), (3600, "1 h ago"),
     (47 * 3600, "47 h ago"), (48 * 3600, "2 days ago")],
)
def test_format_ago_takes_the_steps_of_the_core_headline(seconds: int, text: str) -> None:
    assert format_ago(NOW - datetime.timedelta(seconds=seconds), NOW) == text


def test_format_ago_of_nothing_is_a_dash() -> None:
    assert format_ago(None, NOW) == "—"


def test_offsite_text_gives_the_last_copy_or_the_cores_summary() -> None:
    healthy = entry("nas", last_copy_at=NOW - datetime.timedelta(minutes=3), summary="nas up to date")
    behind = entry(
        "cloud",
        missing=2,
        last_copy_at=NOW - datetime.timedelta(hours=3),
        last_error="timeout",
        last_error_at=NOW,
        summary="offsite copy to cloud missing for 2 backups, last error: timeout",
    )
    never = entry("usb", summary="offsite copies on usb up to date (0 backups there)")
    assert offsite_text([], NOW) == ""
    assert offsite_text([healthy], NOW) == "offsite nas: last copy 3 min ago"
    assert offsite_text([never], NOW) == never["summary"]
    assert offsite_text([healthy, behind, never], NOW) == (
        "offsite nas: last copy 3 min ago"
        " · offsite copy to cloud missing for 2 backups, last error: timeout"
        " · offsite copies on usb up to date (0 backups there)"
    )
    # The summary already on show among the health reasons: the line keeps to the last copy.
    assert offsite_text([behind], NOW, [behind["summary"]]) == "offsite cloud: last copy 3 h ago"
    failed_first = entry("usb", missing=1, last_error="refused", summary="usb missing 1")
    assert offsite_text([failed_first], NOW, ["usb missing 1"]) == "offsite usb: no copy yet"
    assert [offsite_trouble(e) for e in (healthy, behind, never, failed_first)] == [False, True, False, True]


def test_offsite_text_of_a_real_keeper(db: Path, tmp_path: Path) -> None:
    with sqlkeep.Keeper(db, schedule="off", remotes=[remote("nas", tmp_path / "nas")]) as keeper:
        (fresh,) = keeper.status()["offsite"]
        assert offsite_text([fresh], NOW) == fresh["summary"]
        keeper.backup()
        offsite = keeper.status()["offsite"]
        assert offsite_text(offsite, datetime.datetime.now(UTC)) == "offsite nas: last copy just now"


# ----------------------------------------------------------------- notifications


def test_a_failed_offsite_copy_is_a_notice_at_the_cores_severity(db: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    events: list[dict[str, Any]] = []
    remotes = [remote("nas", tmp_path / "nas"), remote("broken", blocker)]
    with sqlkeep.Keeper(db, schedule="off", remotes=remotes) as keeper:
        keeper.on_event(events.append)
        keeper.backup()
        keeper.backup()
    failed = [e for e in events if e["type"] == "offsite_failed"]
    assert [e["missing"] for e in failed] == [1, 2]
    assert all(e["severity"] == "warning" and e["remote"] == "broken" for e in failed)
    assert notice(failed[1]) == (
        "warning",
        f"Offsite copy to broken failed: {failed[1]['error']} (2 backups missing there).",
    )
    # One backup named, nothing else missing; the level is the event's.
    one = {**failed[0], "id": "app-20260301T020000Z-manual", "missing": 0, "error": "timeout", "severity": "error"}
    assert notice(one) == ("error", "Offsite copy of app-20260301T020000Z-manual to broken failed: timeout.")
    (copied,) = [e for e in events if e["type"] == "offsite_copied"][:1]
    assert copied["remote"] == "nas"
    assert notice(copied) is None, "follows every backup; the Offsite column and line show it"
    assert {"offsite_copied", "offsite_failed", "offsite_deleted"} <= REFRESH_EVENTS


def test_with_offsite_failures_adds_them_to_an_actions_notification() -> None:
    failed = {"type": "offsite_failed", "id": None, "remote": "nas", "error": "refused", "missing": 1,
              "error_kind": "remote", "severity": "warning"}
    copied = {"type": "offsite_copied", "id": "x", "remote": "usb", "size_bytes": 1, "severity": "success"}
    assert with_offsite_failures("success", "Backup succeeded.", []) == ("success", "Backup succeeded.")
    assert with_offsite_failures("success", "Backup succeeded.", [copied]) == ("success", "Backup succeeded.")
    assert with_offsite_failures("success", "Backup succeeded.", [failed, copied]) == (
        "warning",
        "Backup succeeded. Offsite copy to nas failed: refused (1 backup missing there).",
    )
    level, _ = with_offsite_failures("error", "Restore failed: x", [failed])
    assert level == "error", "a worse level stays"
