"""Encryption at rest through the Python module: `keygen`, backups encrypted to a key or
with a passphrase, their verification and restore, and what a bad value or a wrong key
raises. The meaning (forms, messages, which key is at fault) is the core's; these tests
check that it reaches Python whole."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

import sqlkeep

from conftest import read_items

PASSPHRASE_ENV = "SQLKEEP_TEST_PASSPHRASE"


def rows(db: Path) -> list[tuple[int, str, int]]:
    con = sqlite3.connect(db)
    try:
        return read_items(con)
    finally:
        con.close()


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def recipients(key: dict[str, Any]) -> dict[str, Any]:
    """The `encryption` value for a key made by `sqlkeep.keygen`."""
    return {"recipients": [key["public_key"]], "identity_file": key["path"]}


def test_the_constants_and_the_exception_are_the_cores() -> None:
    assert "passphrase_env" in sqlkeep.ENCRYPTION_FORMS
    assert "recipients" in sqlkeep.ENCRYPTION_FORMS
    assert "cannot be read" in sqlkeep.KEYGEN_WARNING
    assert issubclass(sqlkeep.EncryptionKeyError, sqlkeep.Error)
    assert not issubclass(sqlkeep.EncryptionKeyError, sqlkeep.CorruptBackupError)
    assert sqlkeep.EncryptionKeyError.__module__ == "sqlkeep"
    assert sqlkeep.EncryptionKeyError.__doc__ and "encryption.identity_file" in sqlkeep.EncryptionKeyError.__doc__


def test_keygen_writes_an_owner_only_key_and_never_overwrites_one(tmp_path: Path) -> None:
    made = sqlkeep.keygen(tmp_path / "key.txt")

    assert set(made) == {"path", "public_key", "warning"}
    assert Path(made["path"]) == tmp_path / "key.txt"
    assert stat.S_IMODE(os.stat(made["path"]).st_mode) == 0o600
    assert made["public_key"].startswith("age1") and len(made["public_key"]) == 62
    assert made["warning"] == sqlkeep.KEYGEN_WARNING
    text = (tmp_path / "key.txt").read_text()
    assert "AGE-SECRET-KEY-1" in text and made["public_key"] in text

    with pytest.raises(sqlkeep.ConfigError, match="already exists") as e:
        sqlkeep.keygen(str(tmp_path / "key.txt"))
    assert e.value.kind == "invalid_argument"
    assert (tmp_path / "key.txt").read_text() == text, "the existing key is untouched"
    assert sqlkeep.keygen(tmp_path / "other.txt")["public_key"] != made["public_key"]

    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        sqlkeep.keygen(5)  # type: ignore[arg-type]
    with pytest.raises(sqlkeep.BackupError):
        sqlkeep.keygen(tmp_path / "no such folder" / "key.txt")


def test_a_backup_encrypted_to_a_key_round_trips_and_leaves_no_plaintext(tmp_path: Path, db: Path) -> None:
    key = sqlkeep.keygen(tmp_path / "key.txt")
    with sqlkeep.Keeper(db, schedule="off", encryption=recipients(key)) as keeper:
        assert keeper.config["encryption"] == {
            "recipients": [key["public_key"]],
            "identity_file": str(key["path"]),
        }
        backup = keeper.backup(label="encrypted")

        assert backup.encrypted
        assert backup.verified
        assert backup.path.name.endswith(".sqlite3.gz.age")
        data = backup.path.read_bytes()
        assert data.startswith(b"age-encryption.org/v1")
        for f in files_under(Path(keeper.config["backup_dir"])):
            assert b"SQLite format 3" not in f.read_bytes(), f
            assert b"AGE-SECRET-KEY" not in f.read_bytes(), f
        assert keeper.get(backup.id).encrypted

        v = keeper.verify(backup.id, full=True)
        assert v.ok, v.detail
        assert "integrity_check ok" in v.detail

        target = tmp_path / "restored.db"
        assert keeper.restore(backup.id, to=target) is None
        assert rows(target) == rows(db)


def test_a_wrong_or_exposed_key_raises_encryption_key_error_and_restores_nothing(tmp_path: Path, db: Path) -> None:
    right = sqlkeep.keygen(tmp_path / "right.txt")
    wrong = sqlkeep.keygen(tmp_path / "wrong.txt")
    with sqlkeep.Keeper(db, schedule="off", encryption=recipients(right)) as keeper:
        backup = keeper.backup()

    target = tmp_path / "restored.db"
    mistaken = {"recipients": [right["public_key"]], "identity_file": wrong["path"]}
    with sqlkeep.Keeper(db, schedule="off", encryption=mistaken) as keeper:
        with pytest.raises(sqlkeep.EncryptionKeyError) as e:
            keeper.restore(backup.id, to=target)
        assert e.value.kind == "key"
        assert e.value.key == "encryption.identity_file"
        assert "encryption.identity_file" in str(e.value)
        assert not target.exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(("restored", ".restored"))]
        with pytest.raises(sqlkeep.EncryptionKeyError):
            keeper.verify(backup.id, full=True)

    # The right key, readable by others: refused before it is used.
    os.chmod(right["path"], 0o644)
    with sqlkeep.Keeper(db, schedule="off", encryption=recipients(right)) as keeper:
        with pytest.raises(sqlkeep.EncryptionKeyError) as e:
            keeper.verify(backup.id, full=True)
        assert e.value.key == "encryption.identity_file"
        os.chmod(right["path"], 0o600)
        assert keeper.verify(backup.id, full=True).ok


def test_a_passphrase_from_the_environment_round_trips_and_is_written_nowhere(
    tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passphrase = "correct horse battery staple 7f3a9c"
    monkeypatch.setenv(PASSPHRASE_ENV, passphrase)
    target = tmp_path / "restored.db"
    with sqlkeep.Keeper(db, schedule="off", encryption={"passphrase_env": PASSPHRASE_ENV}) as keeper:
        backup = keeper.backup()
        assert backup.encrypted
        assert backup.path.name.endswith(".sqlite3.gz.age")
        assert keeper.verify(backup.id, full=True).ok
        keeper.restore(backup.id, to=target)
        assert rows(target) == rows(db)
        folder = Path(keeper.config["backup_dir"])
        assert any(PASSPHRASE_ENV.encode() in f.read_bytes() for f in files_under(folder)), "the manifest names it"
        for f in files_under(folder):
            content = f.read_bytes()
            assert passphrase.encode() not in content, f
            assert b"SQLite format 3" not in content, f

        monkeypatch.delenv(PASSPHRASE_ENV)
        with pytest.raises(sqlkeep.EncryptionKeyError) as e:
            keeper.restore(backup.id, to=tmp_path / "again.db")
        assert e.value.key == "encryption.passphrase_env"
        assert not (tmp_path / "again.db").exists()


def test_configure_turns_encryption_on_and_off_for_new_backups(tmp_path: Path, keeper: sqlkeep.Keeper) -> None:
    assert keeper.config["encryption"] is None
    assert not keeper.backup().encrypted
    key = sqlkeep.keygen(tmp_path / "key.txt")

    config = keeper.configure(encryption=recipients(key))
    assert config["encryption"]["recipients"] == [key["public_key"]]
    assert keeper.backup().path.name.endswith(".age")

    assert keeper.configure(encryption=None)["encryption"] is None
    clear = keeper.backup()
    assert not clear.encrypted and not clear.path.name.endswith(".age")


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ({"recipients": []}, "encryption.recipients"),
        ({"recipients": ["AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"]}, "encryption.recipients"),
        ({}, "encryption"),
        ({"passphrase": "hunter2"}, "encryption.passphrase"),
        ({"passphrase_env": "my secret"}, "encryption.passphrase_env"),
        ({"passphrase_env": "P", "identity_file": "key.txt"}, "encryption.identity_file"),
    ],
)
def test_bad_encryption_values_are_config_errors_naming_the_key(
    db: Path, keeper: sqlkeep.Keeper, value: dict[str, Any], key: str
) -> None:
    with pytest.raises(sqlkeep.ConfigError) as e:
        sqlkeep.Keeper(db, encryption=value)
    assert e.value.key == key
    assert "hunter2" not in str(e.value)
    with pytest.raises(sqlkeep.ConfigError) as e:
        keeper.configure(encryption=value)
    assert e.value.key == key
    assert keeper.config["encryption"] is None, "a refused change changes nothing"


@pytest.mark.parametrize("value", [5, "age1...", ["age1..."], True])
def test_encryption_of_the_wrong_type_is_a_type_error(db: Path, value: object) -> None:
    with pytest.raises(TypeError) as e:
        sqlkeep.Keeper(db, encryption=value)  # type: ignore[arg-type]
    assert str(e.value).startswith("encryption must be a dict such as")
    assert f"not {type(value).__name__}" in str(e.value)
