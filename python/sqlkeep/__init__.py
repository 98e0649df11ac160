"""sqlkeep: automatic, verified, compressed backups of a live SQLite database.

    import sqlkeep

    with sqlkeep.Keeper("app.db", schedule="02:00") as keeper:
        keeper.start()                      # scheduled backups in a background thread
        backup = keeper.backup(label="before import")
        assert keeper.verify(backup.id).ok
        with keeper.guard("migration 12"):  # a pre-operation backup first
            migrate()

Everything is implemented by the Rust core in the native module ``sqlkeep._sqlkeep``;
this package re-exports it. Events are logged to the ``logging`` logger ``"sqlkeep"``.
"""

from ._sqlkeep import (
    BACKUP_FILE_PATTERNS,
    CONFIG_KEYS,
    DASHBOARD_HTML,
    ENCRYPTION_FORMS,
    KEYGEN_WARNING,
    Backup,
    BackupError,
    BusyError,
    CancelledError,
    ConfigError,
    CorruptBackupError,
    EncryptionKeyError,
    Error,
    Guard,
    Keeper,
    NotFoundError,
    PostgresError,
    RemoteError,
    RestoreError,
    RotationPlan,
    Verification,
    __version__,
    format_ago,
    format_size,
    keygen,
    preview_schedule,
)

__all__ = [
    "BACKUP_FILE_PATTERNS",
    "CONFIG_KEYS",
    "ENCRYPTION_FORMS",
    "DASHBOARD_HTML",
    "KEYGEN_WARNING",
    "Backup",
    "BackupError",
    "BusyError",
    "CancelledError",
    "ConfigError",
    "CorruptBackupError",
    "EncryptionKeyError",
    "Error",
    "Guard",
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
