"""The settings forms without their widgets: the schedule and retention choices, reading
the retention fields, the texts of the schedule and rotation previews, the texts
and setting of the encryption row and its "Create key…" dialogs, and what the view says
when incremental backups are switched on or off.

Pure: no tkinter, so it imports and is tested without a display.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

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

#: The retention counts of the form, in their order (keys of the ``retention`` setting).
RETENTION_FIELDS = ("hourly", "daily", "weekly", "monthly", "yearly")

#: The form's text field for ``retention.keep_within`` (a span such as "36h"; empty for
#: no such rule).
WITHIN_FIELD = "keep_within"

#: The form's text field for ``retention.max_total_bytes`` (a size such as "2 GB", which
#: the core reads; empty for no budget).
SIZE_FIELD = "max_total_bytes"


class FieldError(ValueError):
    """A form field holds what the form cannot send: ``key`` names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def parse_retention(texts: Mapping[str, str]) -> dict[str, int | str | None]:
    """The retention fields' texts as the ``retention`` value to send: the counts of
    ``RETENTION_FIELDS``, ``keep_within`` (the text of ``WITHIN_FIELD``, stripped; None
    when empty) and ``max_total_bytes`` (the text of ``SIZE_FIELD``, likewise). Raises ``FieldError`` for the first count (in ``RETENTION_FIELDS``
    order) that is not a whole number of 0 or more. The span is the core's to check (a
    ``ConfigError`` with key ``retention.keep_within``), as are the size and the counts'
    limits."""
    values: dict[str, int | str | None] = {}
    for key in RETENTION_FIELDS:
        text = texts[key].strip()
        if not (text.isascii() and text.isdigit()):
            raise FieldError(key, f"{key.capitalize()}: enter a whole number of 0 or more.")
        values[key] = int(text)
    values[WITHIN_FIELD] = texts[WITHIN_FIELD].strip() or None
    values[SIZE_FIELD] = texts[SIZE_FIELD].strip() or None
    return values


def retention_field(error_key: str | None) -> str | None:
    """The form field a ``ConfigError``'s key names (``"retention.keep_within"`` ->
    ``"keep_within"``), or None when it names none of the form's fields."""
    prefix = "retention."
    if error_key is None or not error_key.startswith(prefix):
        return None
    name = error_key[len(prefix) :]
    return name if name in RETENTION_FIELDS or name in (WITHIN_FIELD, SIZE_FIELD) else None


def retention_differs(values: Mapping[str, int | str | None], current: Mapping[str, Any]) -> bool:
    """Whether the form's ``values`` (from ``parse_retention``) differ from the
    configured ``retention``: the size as the field shows the configured one."""
    return any(
        (values[k] or "") != size_field_text(current[k]) if k == SIZE_FIELD else values[k] != current[k]
        for k in values
    )


def size_field_text(max_total_bytes: int | None) -> str:
    """The size field's text for the configured budget: the core's ``format_size``, which
    the core reads back; empty for no budget."""
    return format_size(max_total_bytes) if max_total_bytes else ""


def next_runs_text(schedule: str, zone: str, runs: Sequence[_dt.datetime]) -> str:
    """The "Next runs" preview: one schedule instant a line, or that backups are off."""
    if schedule == "off":
        return "Automatic backups are off."
    return "\n".join(format_run(t, zone) for t in runs)


def rotation_preview_text(plan: RotationPlan) -> str:
    """What the next rotation would delete, from ``Keeper.preview_rotation``'s plan."""
    n = len(plan.deleted)
    # The core's sentence when the size budget cannot be met (manual backups stay).
    warning = f" Note: {plan.warning}." if plan.warning else ""
    if n == 0:
        return f"The next rotation would delete nothing.{warning}"
    doomed = [e for e in plan.entries if e["action"] == "delete"]
    shown = ", ".join(format_time(e["created_at"]) for e in doomed[:3])
    more = f" and {n - 3} more" if n > 3 else ""
    return (
        f"The next rotation would delete {n} backup{'s' if n != 1 else ''} "
        f"({format_size(plan.freed_bytes)}): {shown}{more}.{warning}"
    )


def _keys(n: int) -> str:
    return f"{n} key{'' if n == 1 else 's'}"


def encryption_text(encryption: Mapping[str, Any] | None) -> str:
    """The encryption row: whether new backups are encrypted, and to how many keys, from
    the ``encryption`` value of ``Keeper.config`` (None when off)."""
    if encryption is None:
        return "Off: new backups are not encrypted."
    # One short line: the row sits under the other settings, where height is scarce.
    if "passphrase_env" in encryption:
        return f"On: encrypted with the passphrase in ${encryption['passphrase_env']}."
    keys = _keys(len(encryption["recipients"]))
    if encryption.get("identity_file"):
        return f"On: new backups are encrypted to {keys}."
    return f"On: encrypted to {keys} (no key file here to restore)."


def new_key_text(made: Mapping[str, Any]) -> str:
    """What the view says after ``sqlkeep.keygen`` made a key: where it is, its public key
    and the core's warning (``made`` is keygen's dict)."""
    return (
        f"A new encryption key was written to\n\n{made['path']}\n\n"
        f"Its public key:\n{made['public_key']}\n\n"
        f"Important: {made['warning']}."
    )


def encryption_setting(made: Mapping[str, Any]) -> dict[str, Any]:
    """The ``encryption`` value that encrypts new backups to the key ``keygen`` made, and
    decrypts with its file."""
    return {"recipients": [made["public_key"]], "identity_file": str(made["path"])}


def use_key_question(made: Mapping[str, Any], current: Mapping[str, Any] | None) -> str:
    """The confirmation before new backups are encrypted to the new key; ``current`` is
    the ``encryption`` value in force (None when off)."""
    text = (
        f"Encrypt new backups to the new key?\n\n{made['path']}\n\n"
        "Verifying and restoring them will need this key file."
    )
    if current is not None:
        text += (
            "\n\nThis replaces the current encryption setting. Backups made before stay "
            "encrypted as they are: keep their key (or passphrase) to restore them."
        )
    return text


def incremental_notice(incremental: bool) -> str:
    """What the view says once ``incremental`` is applied."""
    if incremental:
        return (
            "Incremental backups on: new backups store the pages that changed, with a full "
            "one when one is due (or on “Full backup”)."
        )
    return "Incremental backups off: every new backup is a full copy."
