"""The installed package: typed, one abi3 module, stubs that agree with the core."""

from __future__ import annotations

import ast
import importlib.resources
import inspect
import logging
from pathlib import Path

import sqlkeep


def test_package_is_typed_and_ships_its_stub() -> None:
    files = importlib.resources.files("sqlkeep")
    assert files.joinpath("py.typed").is_file()
    assert files.joinpath("_sqlkeep.pyi").is_file()


def test_native_module_is_private_and_abi3() -> None:
    native = Path(sqlkeep._sqlkeep.__file__)
    assert native.name.startswith("_sqlkeep.abi3."), native.name
    assert set(sqlkeep.__all__) <= set(dir(sqlkeep._sqlkeep))
    assert sqlkeep.__version__ == sqlkeep._sqlkeep.__version__


def test_public_names() -> None:
    assert sorted(sqlkeep.__all__) == sorted(
        [
            "BACKUP_FILE_PATTERNS", "CONFIG_KEYS", "ENCRYPTION_FORMS", "KEYGEN_WARNING", "Backup", "DASHBOARD_HTML",
            "BackupError", "BusyError", "CancelledError", "ConfigError", "CorruptBackupError", "EncryptionKeyError",
            "Error", "Guard", "Keeper", "NotFoundError", "PostgresError", "RemoteError", "RestoreError", "RotationPlan",
            "Verification", "__version__", "format_ago", "format_size", "keygen", "preview_schedule",
        ]
    )
    assert sqlkeep.CONFIG_KEYS[0] == "database"
    assert logging.getLogger("sqlkeep") is logging.getLogger(sqlkeep.__name__)


def test_stub_defaults_are_the_cores(tmp_path: Path) -> None:
    """The defaults the stub (and so editors and the README) show for Keeper(...) are
    the ones the core applies when an argument is left out."""
    stub = importlib.resources.files("sqlkeep").joinpath("_sqlkeep.pyi").read_text()
    keeper = next(
        n for n in ast.parse(stub).body if isinstance(n, ast.ClassDef) and n.name == "Keeper"
    )
    init = next(n for n in keeper.body if isinstance(n, ast.FunctionDef) and n.name == "__new__")
    runtime = inspect.signature(sqlkeep.Keeper).parameters
    assert [a.arg for a in init.args.args[1:] + init.args.kwonlyargs] == list(runtime)
    assert all(p.default is None for p in runtime.values() if p.name != "database")
    shown = {
        arg.arg: ast.literal_eval(default)
        for arg, default in zip(init.args.kwonlyargs, init.args.kw_defaults)
        if default is not None
    }
    assert set(shown) == set(sqlkeep.CONFIG_KEYS) - {"database"}
    core = sqlkeep.Keeper.from_config({"database": str(tmp_path / "app.db")}).config
    for key, value in shown.items():
        if value is None:  # a computed default: backup_dir, compression_level, retention
            continue
        assert core[key] == value, key
