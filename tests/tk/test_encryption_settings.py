"""The encryption row of sqlkeep.tk.BackupView: "Create key…" driven through its button
with the save dialog, the key message and the confirmation answered by the test, over a
real Keeper, under Xvfb."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import sqlkeep
from sqlkeep.tk import BackupView
from support import Dialogs, Hooks, count_items


def test_create_key_shows_the_key_and_after_a_confirmation_encrypts_new_backups(
    view: BackupView, keeper: sqlkeep.Keeper, dialogs: Dialogs, hooks: Hooks, db: Path, tmp_path: Path
) -> None:
    assert view.encryption == "Off: new backups are not encrypted."
    key = tmp_path / "keys" / "app-key.txt"
    key.parent.mkdir()
    dialogs.save_files.append(str(key))
    dialogs.answers.append(True)

    view.create_key_button.invoke()
    view.wait_idle()

    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    ((title, message),) = dialogs.infos
    assert title == "New encryption key"
    assert str(key) in message
    assert sqlkeep.KEYGEN_WARNING in message
    public_key = next(line for line in message.splitlines() if line.startswith("age1"))
    assert public_key in key.read_text()
    ((question, text),) = dialogs.questions
    assert question == "Encrypt new backups"
    assert str(key) in text

    setting = {"recipients": [public_key], "identity_file": str(key)}
    assert keeper.config["encryption"] == setting
    assert hooks.configured == [{"encryption": setting}]
    assert view.encryption == "On: new backups are encrypted to 1 key."
    assert view.notification[0] == "success"

    # A backup made from the view is an age file, marked in the table, and restores.
    view.backup_button.invoke()
    view.wait_idle()
    (backup,) = keeper.list()
    assert backup.encrypted
    assert backup.path.name.endswith(".sqlite3.gz.age")
    assert view.table.item(backup.id, "values")[5] == "verified, encrypted"
    keeper.restore(backup.id, to=tmp_path / "restored.db")
    assert count_items(tmp_path / "restored.db") == count_items(db)


def test_create_key_leaves_the_setting_alone_when_not_confirmed_or_when_it_fails(
    view: BackupView, keeper: sqlkeep.Keeper, dialogs: Dialogs, hooks: Hooks, tmp_path: Path
) -> None:
    # The save dialog cancelled: nothing happens.
    dialogs.save_files.append(None)
    view.create_key_button.invoke()
    view.wait_idle()
    assert dialogs.infos == [] and dialogs.questions == []

    # The key is made and shown, but not used.
    key = tmp_path / "spare-key.txt"
    dialogs.save_files.append(str(key))
    dialogs.answers.append(False)
    view.create_key_button.invoke()
    view.wait_idle()
    assert key.exists()
    assert len(dialogs.infos) == 1 and len(dialogs.questions) == 1
    assert keeper.config["encryption"] is None
    assert hooks.configured == []
    assert view.notification == ("info", f"Key saved to {key}; the encryption setting is unchanged.")
    assert view.encryption == "Off: new backups are not encrypted."

    # An existing file is never overwritten: the core's error, no key shown.
    dialogs.save_files.append(str(key))
    view.create_key_button.invoke()
    view.wait_idle()
    level, text = view.notification
    assert level == "error"
    assert text.startswith("Could not create the key: ") and "already exists" in text
    assert len(dialogs.infos) == 1
    assert keeper.config["encryption"] is None
    assert not keeper.backup().encrypted
