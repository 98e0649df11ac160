# Hand-written stub of the native module, checked against the built module with
# `python -m mypy.stubtest sqlkeep._sqlkeep` (scripts/test-python). Defaults shown are
# the core's: an argument left out (or None) takes them. Inside Keeper, `list` is the
# method, hence `builtins.list`.

import builtins
import datetime
import os
from pathlib import Path
from types import TracebackType
from typing import Literal, Any, Callable, Mapping, Sequence, Union, final

from typing_extensions import Self, TypeAlias

_StrPath: TypeAlias = Union[str, "os.PathLike[str]"]
_Event: TypeAlias = dict[str, Any]
# A (partial) `retention` setting: the counts keep_last, hourly, daily, weekly, monthly
# and yearly (int), keep_within (a span such as "36h", "7d" or "2w"; None: no such rule)
# and auto (bool). Applied in borg's order: keep_within, keep_last, hourly, daily, weekly,
# monthly, yearly.
_Retention: TypeAlias = Mapping[str, int | bool | str | None]
# One offsite destination: name, url ("s3://bucket/prefix", "gs://...", "az://...",
# "file:///absolute/folder") and optionally endpoint, region, allow_http, retention.
_Remote: TypeAlias = Mapping[str, Any]

__all__ = [
    "BACKUP_FILE_PATTERNS",
    "Backup",
    "BackupError",
    "BusyError",
    "CancelledError",
    "CONFIG_KEYS",
    "ConfigError",
    "CorruptBackupError",
    "ENCRYPTION_FORMS",
    "EncryptionKeyError",
    "Error",
    "Guard",
    "DASHBOARD_HTML",
    "KEYGEN_WARNING",
    "Keeper",
    "NotFoundError",
    "PostgresError",
    "RemoteError",
    "RestoreError",
    "RotationPlan",
    "Verification",
    "__version__",
    "format_ago",
    "format_size",
    "keygen",
    "preview_schedule",
]

__version__: str
CONFIG_KEYS: tuple[str, ...]
BACKUP_FILE_PATTERNS: tuple[str, ...]
ENCRYPTION_FORMS: str
KEYGEN_WARNING: str
DASHBOARD_HTML: str

def format_size(n: int) -> str:
    """``1234567`` -> ``"1.2 MB"``: the core's size formatter (decimal units)."""

def format_ago(t: datetime.datetime, now: datetime.datetime) -> str:
    """How long before `now` (aware datetimes) `t` was: ``"just now"``, ``"12 min ago"``,
    ``"3 h ago"``, ``"2 days ago"``: the core's wording, as in the health headline."""

def keygen(path: _StrPath) -> dict[str, Any]:
    """Writes a new encryption key (an age identity, mode 0600) to the new file `path`;
    returns ``{"path": Path, "public_key": "age1...", "warning": KEYGEN_WARNING}``.
    An existing file is never overwritten (ConfigError)."""

class Error(Exception):
    """Base class of every sqlkeep error."""

    kind: str | None
    operation: str | None
    key: str | None
    hint: str | None
    path: Path | None

class ConfigError(Error, ValueError): ...
class BackupError(Error): ...
class CorruptBackupError(Error): ...
class RestoreError(Error): ...
class NotFoundError(Error, KeyError): ...
class BusyError(Error): ...
class EncryptionKeyError(Error): ...
class RemoteError(Error): ...
class CancelledError(Error): ...
class PostgresError(Error): ...

@final
class Verification:
    @property
    def ok(self) -> bool: ...
    @property
    def level(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def at(self) -> datetime.datetime: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class Backup:
    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def label(self) -> str | None: ...
    @property
    def created_at(self) -> datetime.datetime: ...
    @property
    def path(self) -> Path: ...
    @property
    def size_bytes(self) -> int:
        """The bytes this backup added: its file (for an incremental backup, the changed
        pages it stored)."""
    @property
    def raw_size_bytes(self) -> int:
        """The size of the database it restores to."""
    @property
    def sha256(self) -> str: ...
    @property
    def raw_sha256(self) -> str | None: ...
    @property
    def verified(self) -> bool: ...
    @property
    def verification(self) -> Verification | None: ...
    @property
    def database(self) -> Path | str:
        """The SQLite file, or the PostgreSQL URI (password removed) as a str."""
    @property
    def compression(self) -> str: ...
    @property
    def compression_level(self) -> int: ...
    @property
    def page_size(self) -> int: ...
    @property
    def page_count(self) -> int: ...
    @property
    def user_version(self) -> int: ...
    @property
    def journal_mode(self) -> str: ...
    @property
    def sqlite_version(self) -> str: ...
    @property
    def sqlkeep_version(self) -> str: ...
    @property
    def duration_ms(self) -> int: ...
    @property
    def last_restored_at(self) -> datetime.datetime | None: ...
    @property
    def encrypted(self) -> bool: ...
    @property
    def postgres(self) -> dict[str, Any] | None:
        """A PostgreSQL backup's facts: ``server_version``, ``pg_dump_version``,
        ``database`` and ``tables`` (``{"schema", "table", "rows"}`` each); None for SQLite."""
    @property
    def incremental(self) -> dict[str, Any] | None:
        """An incremental backup's manifest object: ``parent``, ``chain`` (the files it is
        rebuilt from, oldest first, each ``{"id", "file", "compression", "size_bytes",
        "sha256", "raw_size_bytes", "pages"}`` and ``"encryption"`` when encrypted) and
        ``image_sha256``; None for a full backup."""
    @property
    def depends_on(self) -> list[str]:
        """The ids of the backups whose files this one is rebuilt from, oldest first (the
        full backup first); empty for a full backup."""
    @property
    def full_because(self) -> str | None:
        """With ``incremental`` on, why this backup is a full one ("a full backup was
        asked for", "the chain of the newest backup has 30 files", ...); None otherwise."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class RotationPlan:
    @property
    def dry_run(self) -> bool: ...
    @property
    def kept(self) -> list[str]: ...
    @property
    def deleted(self) -> list[str]: ...
    @property
    def freed_bytes(self) -> int: ...
    @property
    def total_bytes(self) -> int: ...
    @property
    def max_total_bytes(self) -> int | None: ...
    @property
    def warning(self) -> str | None: ...
    @property
    def entries(self) -> list[dict[str, Any]]: ...

@final
class Guard:
    @property
    def label(self) -> str: ...
    def __enter__(self) -> Backup: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]: ...

@final
class Keeper:
    # Runtime defaults are None ("the core's default"); the stub shows those defaults.
    def __new__(
        cls,
        database: _StrPath,
        *,
        backup_dir: _StrPath | None = None,
        schedule: str = "02:00",
        timezone: str = "local",
        catch_up: bool = True,
        compression: str = "gzip",
        compression_level: int | None = None,
        verify_after_backup: str = "full",
        test_restore_every_days: int = 7,
        retention: _Retention | None = None,
        backup_on_shutdown: bool = False,
        incremental: bool = False,
        encryption: Mapping[str, Any] | None = None,
        notify: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        remotes: Sequence[_Remote] | None = None,
        server: Mapping[str, Any] | None = None,
    ) -> Self: ...
    @staticmethod
    def from_config(config: Mapping[str, Any]) -> Keeper: ...
    @property
    def config(self) -> dict[str, Any]: ...
    def configure(self, **changes: Any) -> dict[str, Any]: ...
    def backup(
        self,
        *,
        label: str | None = None,
        progress: Callable[[int, int], object] | None = None,
        full: bool = False,
    ) -> Backup:
        """Takes a backup now; with ``incremental`` on, only the pages that changed since
        the newest backup, unless ``full=True`` (a self-contained full backup)."""
    def guard(self, label: str) -> Guard: ...
    def cancel(self) -> bool: ...
    def list(self, remote: str | None = None) -> builtins.list[Backup]: ...
    def get(self, id: str) -> Backup: ...
    def verify(self, id: str, full: bool = True, remote: str | None = None) -> Verification: ...
    def verify_all(self, full: bool = True) -> builtins.list[tuple[str, Verification]]: ...
    def restore(
        self,
        id: str,
        to: _StrPath | None = None,
        *,
        overwrite: bool = False,
        paranoid: bool = False,
        remote: str | None = None,
    ) -> Backup | None: ...
    def restore_table(
        self,
        id: str,
        table: str,
        where: str | None = None,
        *,
        replace_table: bool = False,
        with_dependents: bool = False,
    ) -> dict[str, Any]: ...
    def restore_file(
        self,
        path: _StrPath,
        to: _StrPath | None = None,
        *,
        overwrite: bool = False,
        paranoid: bool = False,
    ) -> Backup | None: ...
    def export(self, id: str, to: _StrPath) -> dict[str, Any]:
        """Writes backup `id` (an incremental one too) as one self-contained ``.gz`` or
        ``.zst`` file `to`, never over an existing file; returns ``{"id", "path" (a Path),
        "compression", "size_bytes", "raw_size_bytes", "sha256"}``."""
    def delete(self, id: str, remote_copies: bool = False) -> Backup: ...
    def push(self, remote: str | None = None) -> builtins.list[dict[str, Any]]: ...
    def rotate(self, dry_run: bool = False) -> RotationPlan: ...
    def preview_rotation(self, retention: _Retention) -> RotationPlan: ...
    def history(self, limit: int = 50, offset: int = 0) -> builtins.list[dict[str, Any]]: ...
    def timeline(
        self, limit: int = 200, include_deleted: bool = False
    ) -> builtins.list[dict[str, Any]]: ...
    def stats(self) -> dict[str, Any]: ...
    def health(self) -> dict[str, Any]: ...
    def notify_test(self) -> builtins.list[dict[str, Any]]: ...
    def diff(self, from_id: str, to: str | None = None) -> dict[str, Any]: ...
    def diff_file(self, path: _StrPath) -> dict[str, Any]: ...
    def diff_rows(
        self, from_id: str, table: str, to: str | None = None, limit: int = 50, offset: int = 0
    ) -> builtins.list[dict[str, Any]]: ...
    def on_event(self, callback: Callable[[_Event], object]) -> int: ...
    def off_event(self, id: int) -> bool: ...
    def start(self) -> bool: ...
    def stop(self) -> bool: ...
    @property
    def running(self) -> bool: ...
    @property
    def next_run(self) -> datetime.datetime | None: ...
    def status(self) -> dict[str, Any]: ...
    def run_pending(self) -> dict[str, Any]: ...
    def upcoming_runs(
        self, n: int = 3, after: datetime.datetime | None = None
    ) -> builtins.list[datetime.datetime]: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]: ...

def preview_schedule(
    schedule: str,
    timezone: str = "local",
    n: int = 3,
    after: datetime.datetime | None = None,
) -> list[datetime.datetime]: ...
